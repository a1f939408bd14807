/* A checkpoint's own configuration (config.h): three readers into one declaration each, then the
 * checks against the shapes and the choice of heads, activations and layer-norm eps. */
#include "model/config.h"

#include "io/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_MAX_BYTES ((size_t)1 << 20)

const char *ct_config_source_label(ct_config_source s) {
    switch (s) {
    case CT_SOURCE_METADATA: return "__metadata__";
    case CT_SOURCE_OPENCLIP_CONFIG: return "open_clip_config.json";
    case CT_SOURCE_HF_CONFIG: return "config.json";
    default: return "OpenAI's rule";
    }
}

static void decl_init(ct_arch_decl *d, ct_config_source s) {
    memset(d, 0, sizeof *d);
    d->source = s;
    d->file = ct_config_source_label(s);
    d->vision_act = d->text_act = -1;
}

/* ------------------------------------------------------------------ field readers */

/* an integer field in [1, 2^20] (absent: *out unchanged) */
static ct_status get_int(const ct_json *o, const char *key, const char *file, const char *path, int *out, ct_error *err) {
    const ct_json *v = o ? ct_json_get(o, key) : NULL;
    if (!v || v->type == CT_JSON_NULL) return CT_OK;
    if (v->type != CT_JSON_NUM || !v->is_int || v->i < 1 || v->i > (1 << 20))
        return ct_fail(err, CT_ERR_FORMAT, "%s: %s%s must be an integer in [1, 1048576]", file, path, key);
    *out = (int)v->i;
    return CT_OK;
}

static ct_status get_num(const ct_json *o, const char *key, const char *file, const char *path, double lo, double hi, double *out,
                         ct_error *err) {
    const ct_json *v = o ? ct_json_get(o, key) : NULL;
    if (!v || v->type == CT_JSON_NULL) return CT_OK;
    if (v->type != CT_JSON_NUM || !(v->num >= lo && v->num <= hi))
        return ct_fail(err, CT_ERR_FORMAT, "%s: %s%s must be a number in [%g, %g]", file, path, key, lo, hi);
    *out = v->num;
    return CT_OK;
}

/* "quick_gelu" or "gelu" (PyTorch's exact GELU) */
static ct_status parse_act(const char *s, const char *file, const char *field, int *out, ct_error *err) {
    if (!strcmp(s, "quick_gelu")) *out = CT_ACTIVATION_QUICKGELU;
    else if (!strcmp(s, "gelu")) *out = CT_ACTIVATION_GELU;
    else return ct_fail(err, CT_ERR_UNSUPPORTED, "%s: %s '%.40s' is not supported (quick_gelu or gelu)", file, field, s);
    return CT_OK;
}

/* open_clip: a field whose non-default value changes the architecture into one not supported */
static ct_status refuse_if(const ct_json *o, const char *key, const char *path, int (*is_default)(const ct_json *), ct_error *err) {
    const ct_json *v = o ? ct_json_get(o, key) : NULL;
    if (v && !is_default(v))
        return ct_fail(err, CT_ERR_UNSUPPORTED, "open_clip_config.json: model_cfg.%s%s: only open_clip's default is supported", path, key);
    return CT_OK;
}
static int is_null(const ct_json *v) { return v->type == CT_JSON_NULL; }
static int is_false(const ct_json *v) { return v->type == CT_JSON_NULL || (v->type == CT_JSON_BOOL && !v->boolean); }
static int is_empty(const ct_json *v) { return v->type == CT_JSON_NULL || ((v->type == CT_JSON_OBJ) && v->n == 0); }
static int is_tok(const ct_json *v) { return v->type == CT_JSON_STR && !strcmp(v->str, "tok"); }
static int is_argmax(const ct_json *v) { return v->type == CT_JSON_STR && !strcmp(v->str, "argmax"); }
static int is_learnable(const ct_json *v) { return v->type == CT_JSON_STR && !strcmp(v->str, "learnable"); }

/* ------------------------------------------------------------------ open_clip_config.json */

/* model_cfg with open_clip's defaults for what it leaves out (CLIPVisionCfg / CLIPTextCfg, v2.24):
 * quick_gelu false (exact GELU), head_width 64, mlp_ratio 4, text heads 8, LayerNorm eps 1e-5 */
static ct_status read_openclip(const ct_json *root, ct_arch_decl *d, ct_error *err) {
    const char *F = "open_clip_config.json";
    const ct_json *mc = ct_json_get(root, "model_cfg");
    if (!mc || mc->type != CT_JSON_OBJ) return ct_fail(err, CT_ERR_FORMAT, "%s: no model_cfg object", F);
    const ct_json *vc = ct_json_get(mc, "vision_cfg"), *tc = ct_json_get(mc, "text_cfg");
    if (!vc || vc->type != CT_JSON_OBJ || !tc || tc->type != CT_JSON_OBJ)
        return ct_fail(err, CT_ERR_FORMAT, "%s: model_cfg needs vision_cfg and text_cfg objects", F);
    static const struct {
        const char *key;
        int (*ok)(const ct_json *);
        int text;
    } k_refuse[] = {
        {"timm_model_name", is_null, 0}, {"ls_init_value", is_null, 0}, {"attentional_pool", is_false, 0},
        {"no_ln_pre", is_false, 0},      {"final_ln_after_pool", is_false, 0}, {"pool_type", is_tok, 0},
        {"pos_embed_type", is_learnable, 0}, {"act_kwargs", is_empty, 0},
        {"hf_model_name", is_null, 1},   {"ls_init_value", is_null, 1}, {"embed_cls", is_false, 1},
        {"no_causal_mask", is_false, 1}, {"final_ln_after_pool", is_false, 1}, {"pool_type", is_argmax, 1},
        {"proj_bias", is_false, 1},      {"act_kwargs", is_empty, 1},
    };
    /* CustomTextCLIP keeps its text tower under text.*: not the names the loader binds */
    ct_status st = refuse_if(mc, "custom_text", "", is_false, err);
    for (size_t i = 0; i < sizeof k_refuse / sizeof k_refuse[0] && !st; i++)
        st = refuse_if(k_refuse[i].text ? tc : vc, k_refuse[i].key, k_refuse[i].text ? "text_cfg." : "vision_cfg.", k_refuse[i].ok, err);
    if (st) return st;
    const ct_json *layers = ct_json_get(vc, "layers");
    if (layers && layers->type == CT_JSON_ARR) return ct_fail(err, CT_ERR_UNSUPPORTED, "%s: model_cfg.vision_cfg.layers is a list (a ResNet): only ViTs are supported", F);
    int vw = 768, vl = 12, hw = 64, ps = 16, is = 224, tw = 512, th = 8, tl = 12, ctx = 77, voc = 49408, E = 0;
    double vr = 4.0, tr = 4.0, veps = 1e-5, teps = 1e-5;
    const ct_json *isz = ct_json_get(vc, "image_size");
    if (isz && isz->type == CT_JSON_ARR) {
        if (isz->n != 2 || isz->items[0].type != CT_JSON_NUM || isz->items[1].type != CT_JSON_NUM || isz->items[0].i != isz->items[1].i || !isz->items[0].is_int)
            return ct_fail(err, CT_ERR_UNSUPPORTED, "%s: model_cfg.vision_cfg.image_size must be square", F);
        if (isz->items[0].i < 1 || isz->items[0].i > 65536) return ct_fail(err, CT_ERR_FORMAT, "%s: model_cfg.vision_cfg.image_size out of range", F);
        is = (int)isz->items[0].i;
    } else if ((st = get_int(vc, "image_size", F, "model_cfg.vision_cfg.", &is, err))) return st;
    const ct_json *nk[2] = {ct_json_get(vc, "norm_kwargs"), ct_json_get(tc, "norm_kwargs")};
    if ((st = get_int(mc, "embed_dim", F, "model_cfg.", &E, err)) || (st = get_int(vc, "width", F, "model_cfg.vision_cfg.", &vw, err)) ||
        (st = get_int(vc, "layers", F, "model_cfg.vision_cfg.", &vl, err)) || (st = get_int(vc, "head_width", F, "model_cfg.vision_cfg.", &hw, err)) ||
        (st = get_int(vc, "patch_size", F, "model_cfg.vision_cfg.", &ps, err)) ||
        (st = get_num(vc, "mlp_ratio", F, "model_cfg.vision_cfg.", 1e-3, 1e3, &vr, err)) ||
        (st = get_int(tc, "width", F, "model_cfg.text_cfg.", &tw, err)) || (st = get_int(tc, "heads", F, "model_cfg.text_cfg.", &th, err)) ||
        (st = get_int(tc, "layers", F, "model_cfg.text_cfg.", &tl, err)) ||
        (st = get_int(tc, "context_length", F, "model_cfg.text_cfg.", &ctx, err)) ||
        (st = get_int(tc, "vocab_size", F, "model_cfg.text_cfg.", &voc, err)) ||
        (st = get_num(tc, "mlp_ratio", F, "model_cfg.text_cfg.", 1e-3, 1e3, &tr, err)) ||
        (st = get_num(nk[0] && nk[0]->type == CT_JSON_OBJ ? nk[0] : NULL, "eps", F, "model_cfg.vision_cfg.norm_kwargs.", 1e-12, 1, &veps, err)) ||
        (st = get_num(nk[1] && nk[1]->type == CT_JSON_OBJ ? nk[1] : NULL, "eps", F, "model_cfg.text_cfg.norm_kwargs.", 1e-12, 1, &teps, err)))
        return st;
    const ct_json *qg = ct_json_get(mc, "quick_gelu");
    if (qg && qg->type != CT_JSON_BOOL && qg->type != CT_JSON_NULL) return ct_fail(err, CT_ERR_FORMAT, "%s: model_cfg.quick_gelu must be true or false", F);
    int act = qg && qg->type == CT_JSON_BOOL && qg->boolean ? CT_ACTIVATION_QUICKGELU : CT_ACTIVATION_GELU;
    if (vw % hw) return ct_fail(err, CT_ERR_SHAPE, "%s: model_cfg.vision_cfg.head_width %d does not divide the width %d", F, hw, vw);
    d->vision_width = vw; d->vision_layers = vl; d->vision_heads = vw / hw; d->patch = ps; d->image_size = is;
    d->vision_mlp = (int)(vw * vr); /* open_clip: int(width * mlp_ratio) */
    d->text_width = tw; d->text_layers = tl; d->text_heads = th; d->context_length = ctx; d->vocab_size = voc;
    d->text_mlp = (int)(tw * tr);
    d->embed_dim = E;
    d->vision_act = d->text_act = act;
    d->vision_eps = veps; d->text_eps = teps;
    return CT_OK;
}

/* ------------------------------------------------------------------ config.json (Hugging Face) */

/* a CLIPConfig's vision_config / text_config: what it states (transformers' defaults for what it
 * leaves out are OpenAI's: quick_gelu, eps 1e-5) */
static ct_status read_hf_tower(const ct_json *t, const char *path, int text, ct_arch_decl *d, ct_error *err) {
    const char *F = "config.json";
    ct_status st;
    int *w = text ? &d->text_width : &d->vision_width, *l = text ? &d->text_layers : &d->vision_layers;
    int *h = text ? &d->text_heads : &d->vision_heads, *m = text ? &d->text_mlp : &d->vision_mlp;
    if ((st = get_int(t, "hidden_size", F, path, w, err)) || (st = get_int(t, "num_hidden_layers", F, path, l, err)) ||
        (st = get_int(t, "num_attention_heads", F, path, h, err)) || (st = get_int(t, "intermediate_size", F, path, m, err)) ||
        (st = get_num(t, "layer_norm_eps", F, path, 1e-12, 1, text ? &d->text_eps : &d->vision_eps, err)))
        return st;
    if (text) {
        if ((st = get_int(t, "max_position_embeddings", F, path, &d->context_length, err)) ||
            (st = get_int(t, "vocab_size", F, path, &d->vocab_size, err)))
            return st;
    } else if ((st = get_int(t, "patch_size", F, path, &d->patch, err)) || (st = get_int(t, "image_size", F, path, &d->image_size, err))) {
        return st;
    }
    const ct_json *a = ct_json_get(t, "hidden_act");
    if (a && a->type != CT_JSON_NULL) {
        char field[64];
        snprintf(field, sizeof field, "%shidden_act", path);
        if (a->type != CT_JSON_STR) return ct_fail(err, CT_ERR_FORMAT, "%s: %s must be a string", F, field);
        if ((st = parse_act(a->str, F, field, text ? &d->text_act : &d->vision_act, err))) return st;
    }
    return CT_OK;
}

/* 1: a CLIP configuration read; 0: not one (ignored) */
static int read_hf(const ct_json *root, ct_arch_decl *d, ct_status *st, ct_error *err) {
    const ct_json *vc = ct_json_get(root, "vision_config"), *tc = ct_json_get(root, "text_config");
    if (!vc || vc->type != CT_JSON_OBJ || !tc || tc->type != CT_JSON_OBJ) return 0;
    if ((*st = read_hf_tower(vc, "vision_config.", 0, d, err)) || (*st = read_hf_tower(tc, "text_config.", 1, d, err))) return 1;
    *st = get_int(root, "projection_dim", "config.json", "", &d->embed_dim, err);
    return 1;
}

/* ------------------------------------------------------------------ __metadata__ */

/* cliptrase.vision_heads, cliptrase.text_heads, cliptrase.activation (both towers) or
 * cliptrase.vision_activation / cliptrase.text_activation, cliptrase.layer_norm_eps: string values
 * (safetensors keeps only strings there). Other keys belong to other uses (format,
 * cliptrase.random_weights) and are left alone. */
static ct_status read_metadata(const ct_st_file *st, ct_arch_decl *d, int *found, ct_error *err) {
    const char *F = "__metadata__";
    *found = 0;
    for (size_t i = 0; i < st->n_meta; i++) {
        const char *k = st->meta_key[i], *v = st->meta_val[i];
        if (strncmp(k, "cliptrase.", 10)) continue;
        const char *f = k + 10;
        char *end;
        ct_status s = CT_OK;
        if (!strcmp(f, "vision_heads") || !strcmp(f, "text_heads")) {
            long h = strtol(v, &end, 10);
            if (end == v || *end || h < 1 || h > 65536) return ct_fail(err, CT_ERR_FORMAT, "%s: %s '%.32s' is not a head count", F, k, v);
            *(f[0] == 'v' ? &d->vision_heads : &d->text_heads) = (int)h;
        } else if (!strcmp(f, "activation")) {
            if (!(s = parse_act(v, F, k, &d->vision_act, err))) d->text_act = d->vision_act;
        } else if (!strcmp(f, "vision_activation") || !strcmp(f, "text_activation")) {
            s = parse_act(v, F, k, f[0] == 'v' ? &d->vision_act : &d->text_act, err);
        } else if (!strcmp(f, "layer_norm_eps")) {
            double e = strtod(v, &end);
            if (end == v || *end || !(e > 0 && e <= 1)) return ct_fail(err, CT_ERR_FORMAT, "%s: %s '%.32s' is not in (0, 1]", F, k, v);
            d->vision_eps = d->text_eps = e;
        } else {
            continue;
        }
        if (s) return s;
        *found = 1;
    }
    return CT_OK;
}

/* ------------------------------------------------------------------ reading */

static ct_status parse_file(const char *path, const char *name, ct_json **out, int *absent, ct_error *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    *out = NULL;
    *absent = 0;
    if (access(path, F_OK) != 0) { *absent = 1; return CT_OK; }
    ct_status st = ct_read_file(path, CONFIG_MAX_BYTES, &buf, &len, err);
    if (st) return st;
    char jerr[160];
    *out = ct_json_parse((const char *)buf, len, jerr, sizeof jerr);
    free(buf);
    if (!*out) return ct_fail(err, CT_ERR_FORMAT, "%s: %s", name, jerr);
    if ((*out)->type != CT_JSON_OBJ) {
        ct_json_free(*out);
        *out = NULL;
        return ct_fail(err, CT_ERR_FORMAT, "%s: not a JSON object", name);
    }
    return CT_OK;
}

ct_status ct_arch_decls_read(const char *path, const ct_st_file *file, ct_arch_decl *d, int *n, ct_error *err) {
    *n = 0;
    /* the header's __metadata__ */
    int found = 0;
    decl_init(&d[0], CT_SOURCE_METADATA);
    ct_status st = read_metadata(file, &d[0], &found, err);
    if (st) return st;
    *n += found;
    /* the files beside the weights */
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path + 1) : 0;
    static const struct { const char *name; ct_config_source src; } k_files[] = {
        {"open_clip_config.json", CT_SOURCE_OPENCLIP_CONFIG}, {"config.json", CT_SOURCE_HF_CONFIG}};
    for (size_t i = 0; i < 2 && !st; i++) {
        size_t nl = strlen(k_files[i].name);
        char *fp = malloc(dl + nl + 1);
        if (!fp) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
        memcpy(fp, path, dl);
        memcpy(fp + dl, k_files[i].name, nl + 1);
        ct_json *j;
        int absent;
        st = parse_file(fp, k_files[i].name, &j, &absent, err);
        free(fp);
        if (st || absent) continue;
        decl_init(&d[*n], k_files[i].src);
        if (k_files[i].src == CT_SOURCE_OPENCLIP_CONFIG) {
            st = read_openclip(j, &d[*n], err);
            *n += !st;
        } else if (read_hf(j, &d[*n], &st, err)) {
            *n += !st;
        }
        ct_json_free(j);
    }
    return st;
}

/* ------------------------------------------------------------------ resolving */

static ct_status check_size(const ct_arch_decl *d, const char *field, int declared, int actual, const char *what, ct_error *err) {
    if (declared && declared != actual)
        return ct_fail(err, CT_ERR_SHAPE, "%s: %s is %d but the tensors give %s %d", d->file, field, declared, what, actual);
    return CT_OK;
}

static const char *act_name(int a) { return a == CT_ACTIVATION_GELU ? "gelu" : "quick_gelu"; }

ct_status ct_arch_resolve(const ct_arch_decl *d, int n, ct_config *c, ct_error *err) {
    c->heads_source = c->act_source = c->eps_source = CT_SOURCE_OPENAI_RULE;
    int vh = 0, th = 0, va = -1, ta = -1;
    double ve = 0, te = 0;
    const ct_arch_decl *vh_from = NULL, *th_from = NULL, *va_from = NULL, *ve_from = NULL;
    for (int i = 0; i < n; i++) {
        const ct_arch_decl *x = &d[i];
        int open = x->source == CT_SOURCE_OPENCLIP_CONFIG;
        ct_status st;
        if ((st = check_size(x, open ? "model_cfg.vision_cfg.width" : "vision_config.hidden_size", x->vision_width, c->vision_width, "a vision width of", err)) ||
            (st = check_size(x, open ? "model_cfg.vision_cfg.layers" : "vision_config.num_hidden_layers", x->vision_layers, c->vision_layers, "vision blocks:", err)) ||
            (st = check_size(x, open ? "model_cfg.vision_cfg.patch_size" : "vision_config.patch_size", x->patch, c->patch, "a patch of", err)) ||
            (st = check_size(x, open ? "model_cfg.vision_cfg.image_size" : "vision_config.image_size", x->image_size, c->image_size, "an image size of", err)) ||
            (st = check_size(x, open ? "model_cfg.vision_cfg.mlp_ratio (MLP width)" : "vision_config.intermediate_size", x->vision_mlp, c->vision_mlp, "a vision MLP width of", err)) ||
            (st = check_size(x, open ? "model_cfg.text_cfg.width" : "text_config.hidden_size", x->text_width, c->text_width, "a text width of", err)) ||
            (st = check_size(x, open ? "model_cfg.text_cfg.layers" : "text_config.num_hidden_layers", x->text_layers, c->text_layers, "text blocks:", err)) ||
            (st = check_size(x, open ? "model_cfg.text_cfg.mlp_ratio (MLP width)" : "text_config.intermediate_size", x->text_mlp, c->text_mlp, "a text MLP width of", err)) ||
            (st = check_size(x, open ? "model_cfg.text_cfg.context_length" : "text_config.max_position_embeddings", x->context_length, c->context_length, "a context length of", err)) ||
            (st = check_size(x, open ? "model_cfg.text_cfg.vocab_size" : "text_config.vocab_size", x->vocab_size, c->vocab_size, "a vocabulary of", err)) ||
            (st = check_size(x, open ? "model_cfg.embed_dim" : "projection_dim", x->embed_dim, c->embed_dim, "an embedding size of", err)))
            return st;
        const char *fvh = open ? "model_cfg.vision_cfg.head_width" : x->source == CT_SOURCE_HF_CONFIG ? "vision_config.num_attention_heads" : "cliptrase.vision_heads";
        const char *fth = open ? "model_cfg.text_cfg.heads" : x->source == CT_SOURCE_HF_CONFIG ? "text_config.num_attention_heads" : "cliptrase.text_heads";
        if (x->vision_heads && c->vision_width % x->vision_heads)
            return ct_fail(err, CT_ERR_SHAPE, "%s: %s: %d heads do not divide the vision width %d", x->file, fvh, x->vision_heads, c->vision_width);
        if (x->text_heads && c->text_width % x->text_heads)
            return ct_fail(err, CT_ERR_SHAPE, "%s: %s: %d heads do not divide the text width %d", x->file, fth, x->text_heads, c->text_width);
        /* fields two configurations both declare must agree */
        if (x->vision_heads) {
            if (vh && vh != x->vision_heads)
                return ct_fail(err, CT_ERR_SHAPE, "%s: %s gives %d vision heads, %s gives %d", x->file, fvh, x->vision_heads, vh_from->file, vh);
            if (!vh) vh_from = x;
            vh = x->vision_heads;
        }
        if (x->text_heads) {
            if (th && th != x->text_heads)
                return ct_fail(err, CT_ERR_SHAPE, "%s: %s gives %d text heads, %s gives %d", x->file, fth, x->text_heads, th_from->file, th);
            if (!th) th_from = x;
            th = x->text_heads;
        }
        if (x->vision_act >= 0 || x->text_act >= 0) {
            if ((va >= 0 && x->vision_act >= 0 && va != x->vision_act) || (ta >= 0 && x->text_act >= 0 && ta != x->text_act))
                return ct_fail(err, CT_ERR_SHAPE, "%s: the activation (%s) contradicts %s's (%s)", x->file,
                               act_name(x->vision_act >= 0 ? x->vision_act : x->text_act), va_from->file, act_name(va >= 0 ? va : ta));
            if (!va_from) va_from = x;
            if (x->vision_act >= 0) va = x->vision_act;
            if (x->text_act >= 0) ta = x->text_act;
        }
        if (x->vision_eps > 0 || x->text_eps > 0) {
            if ((ve > 0 && x->vision_eps > 0 && ve != x->vision_eps) || (te > 0 && x->text_eps > 0 && te != x->text_eps))
                return ct_fail(err, CT_ERR_SHAPE, "%s: the layer norm eps contradicts %s's", x->file, ve_from->file);
            if (!ve_from) ve_from = x;
            if (x->vision_eps > 0) ve = x->vision_eps;
            if (x->text_eps > 0) te = x->text_eps;
        }
    }
    if (vh_from || th_from) c->heads_source = (vh_from ? vh_from : th_from)->source;
    if (va_from) c->act_source = va_from->source;
    if (ve_from) c->eps_source = ve_from->source;
    /* OpenAI's rule for what nothing declares: heads of 64 */
    if (!vh) {
        if (c->vision_width % 64)
            return ct_fail(err, CT_ERR_UNSUPPORTED, "no configuration gives the vision heads, and OpenAI's rule (heads of 64) does not divide the width %d: "
                                                    "put the model's config.json or open_clip_config.json beside it", c->vision_width);
        if (c->vision_width == 1280 || c->vision_width == 1664)
            return ct_fail(err, CT_ERR_UNSUPPORTED, "vision width %d without a configuration: open_clip's ViT-H/14 and ViT-bigG/14 have heads of 80 and 104, "
                                                    "not OpenAI's 64; put the model's open_clip_config.json or config.json beside it", c->vision_width);
        vh = c->vision_width / 64;
    }
    if (!th) {
        if (c->text_width % 64)
            return ct_fail(err, CT_ERR_UNSUPPORTED, "no configuration gives the text heads, and OpenAI's rule (heads of 64) does not divide the width %d: "
                                                    "put the model's config.json or open_clip_config.json beside it", c->text_width);
        th = c->text_width / 64;
    }
    c->vision_heads = vh;
    c->text_heads = th;
    /* a tower nothing speaks for: OpenAI's (and transformers' default) QuickGELU, eps 1e-5 */
    c->vision_act = va >= 0 ? (ct_activation)va : CT_ACTIVATION_QUICKGELU;
    c->text_act = ta >= 0 ? (ct_activation)ta : CT_ACTIVATION_QUICKGELU;
    c->vision_ln_eps = (float)(ve > 0 ? ve : 1e-5);
    c->text_ln_eps = (float)(te > 0 ? te : 1e-5);
    return CT_OK;
}
