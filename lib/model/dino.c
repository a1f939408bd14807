/* DINO (v1) and DINOv2 backbones for ProxyCLIP: the tensor names of the three schemes (DINO's
 * own, as facebookresearch/dino and the dinov2 hub checkpoints; Hugging Face's ViTModel, as
 * facebook/dino-vitb8; Hugging Face's Dinov2WithRegistersModel), the architecture from the
 * tensor shapes and a config.json beside the weights, and the binding into a vision-only
 * ct_model (cfg.arch DINO / DINOV2). */
#include "io/json.h"
#include "model/loader.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { OWN = 0, HF_VIT = 1, HF_DINOV2 = 2, N_SCHEMES = 3 };

typedef struct {
    const char *n[N_SCHEMES];
} names;

static const names N_CLS = {{"cls_token", "embeddings.cls_token", "embeddings.cls_token"}};
static const names N_POS = {{"pos_embed", "embeddings.position_embeddings", "embeddings.position_embeddings"}};
static const names N_REG = {{"register_tokens", "", "embeddings.register_tokens"}};
static const names N_CONV_W = {{"patch_embed.proj.weight", "embeddings.patch_embeddings.projection.weight",
                                "embeddings.patch_embeddings.projection.weight"}};
static const names N_CONV_B = {{"patch_embed.proj.bias", "embeddings.patch_embeddings.projection.bias",
                                "embeddings.patch_embeddings.projection.bias"}};
static const names N_NORM_W = {{"norm.weight", "layernorm.weight", "layernorm.weight"}};
static const names N_NORM_B = {{"norm.bias", "layernorm.bias", "layernorm.bias"}};
static const names N_BLOCKS = {{"blocks", "encoder.layer", "encoder.layer"}};
/* after "<blocks>.<i>." */
static const names B_LN1_W = {{"norm1.weight", "layernorm_before.weight", "norm1.weight"}};
static const names B_LN1_B = {{"norm1.bias", "layernorm_before.bias", "norm1.bias"}};
static const names B_OUT_W = {{"attn.proj.weight", "attention.output.dense.weight", "attention.output.dense.weight"}};
static const names B_OUT_B = {{"attn.proj.bias", "attention.output.dense.bias", "attention.output.dense.bias"}};
static const names B_LN2_W = {{"norm2.weight", "layernorm_after.weight", "norm2.weight"}};
static const names B_LN2_B = {{"norm2.bias", "layernorm_after.bias", "norm2.bias"}};
static const names B_FC1_W = {{"mlp.fc1.weight", "intermediate.dense.weight", "mlp.fc1.weight"}};
static const names B_FC1_B = {{"mlp.fc1.bias", "intermediate.dense.bias", "mlp.fc1.bias"}};
static const names B_FC2_W = {{"mlp.fc2.weight", "output.dense.weight", "mlp.fc2.weight"}};
static const names B_FC2_B = {{"mlp.fc2.bias", "output.dense.bias", "mlp.fc2.bias"}};
static const names B_LS1 = {{"ls1.gamma", "", "layer_scale1.lambda1"}};
static const names B_LS2 = {{"ls2.gamma", "", "layer_scale2.lambda1"}};
/* q, k, v: one tensor (own names) or three (Hugging Face) */
static const char *const QKV_W = "attn.qkv.weight", *const QKV_B = "attn.qkv.bias";
static const char *const HF_QKV[3] = {"attention.attention.query", "attention.attention.key", "attention.attention.value"};

static int scheme_of(const ct_st_file *st) {
    if (ct_st_find(st, N_CLS.n[OWN]) && ct_st_find(st, N_CONV_W.n[OWN])) return OWN;
    if (ct_st_find(st, N_CLS.n[HF_VIT]) && ct_st_find(st, N_CONV_W.n[HF_VIT]))
        return ct_st_find(st, "encoder.layer.0.norm1.weight") ? HF_DINOV2 : HF_VIT;
    return -1;
}

int ct_dino_detect(const ct_st_file *st) { return scheme_of(st) >= 0; }

/* The settings a config.json beside the weights may give (0 / -1: absent). */
typedef struct {
    int heads, registers, antialias;
} dino_cfg;

static int json_int(const ct_json *o, const char *k, int *v) {
    const ct_json *j = ct_json_get(o, k);
    if (!j) return 0;
    if (j->type != CT_JSON_NUM || !j->is_int || j->i < 1 || j->i > 65536) return -1;
    *v = (int)j->i;
    return 1;
}

static void read_config(ct_loader *L, dino_cfg *dc) {
    dc->heads = 0;
    dc->registers = -1;
    dc->antialias = -1;
    char p[4096];
    const char *slash = strrchr(L->path, '/');
    int dl = slash ? (int)(slash - L->path) + 1 : 0;
    if (snprintf(p, sizeof p, "%.*sconfig.json", dl, L->path) >= (int)sizeof p) return;
    uint8_t *txt = NULL;
    size_t len = 0;
    ct_error e;
    if (ct_read_file(p, 1 << 20, &txt, &len, &e)) return; /* no config: the shapes and width / 64 */
    char jerr[160];
    ct_json *j = ct_json_parse((const char *)txt, len, jerr, sizeof jerr);
    ct_free(txt);
    if (!j || j->type != CT_JSON_OBJ) {
        L->st = ct_fail(L->err, CT_ERR_FORMAT, "'%s' beside the weights is not a JSON object%s%s", p, j ? "" : ": ", j ? "" : jerr);
        ct_json_free(j);
        return;
    }
    int r = json_int(j, "num_attention_heads", &dc->heads);
    if (r == 0) r = json_int(j, "num_heads", &dc->heads);
    int rr = 0;
    const ct_json *nr = ct_json_get(j, "num_register_tokens");
    if (nr) {
        if (nr->type == CT_JSON_NUM && nr->is_int && nr->i >= 0 && nr->i <= 4096) dc->registers = (int)nr->i;
        else rr = -1;
    }
    const ct_json *aa = ct_json_get(j, "interpolate_antialias");
    if (aa && aa->type == CT_JSON_BOOL) dc->antialias = aa->boolean;
    if (r < 0 || rr < 0)
        L->st = ct_fail(L->err, CT_ERR_FORMAT, "'%s': %s is not a count", p, r < 0 ? "the head count" : "num_register_tokens");
    ct_json_free(j);
}

static const float *vec(ct_loader *L, const char *name, int64_t n) { return ct_ld_need(L, name, 1, n, 0, 0, 0); }

static void bind_block(ct_loader *L, ct_block *b, int i, int W, int M, int layerscale) {
    const int s = L->scheme;
    char n[320];
#define NM(x) (snprintf(n, sizeof n, "%s.%d.%s", N_BLOCKS.n[s], i, (x)), n)
    b->ln1_w = vec(L, NM(B_LN1_W.n[s]), W);
    b->ln1_b = vec(L, NM(B_LN1_B.n[s]), W);
    if (s == OWN) {
        ct_ld_weight(L, &b->qkv, NM(QKV_W), 3 * (int64_t)W, W, 0);
        b->qkv_b = vec(L, NM(QKV_B), 3 * (int64_t)W);
    } else {
        /* three tensors widened into one block [3W x W] and one bias [3W] */
        float *cat = ct_ld_alloc(L, 3 * (size_t)W * (size_t)W, sizeof(float)), *bias = ct_ld_alloc(L, 3 * (size_t)W, sizeof(float));
        for (int k = 0; k < 3 && !L->st; k++) {
            char q[96];
            int64_t sw[2] = {W, W}, sb[1] = {W};
            snprintf(q, sizeof q, "%s.weight", HF_QKV[k]);
            ct_ld_f32(L, ct_ld_lookup(L, NM(q), 2, sw), cat + (size_t)k * W * W);
            snprintf(q, sizeof q, "%s.bias", HF_QKV[k]);
            ct_ld_f32(L, ct_ld_lookup(L, NM(q), 1, sb), bias + (size_t)k * W);
        }
        memset(&b->qkv, 0, sizeof b->qkv);
        b->qkv.part[0] = cat;
        b->qkv.part_rows[0] = 3 * W;
        b->qkv.n_parts = 1;
        b->qkv.N = 3 * W;
        b->qkv.K = W;
        b->qkv_b = bias;
    }
    ct_ld_weight(L, &b->out, NM(B_OUT_W.n[s]), W, W, 0);
    b->out_b = vec(L, NM(B_OUT_B.n[s]), W);
    b->ln2_w = vec(L, NM(B_LN2_W.n[s]), W);
    b->ln2_b = vec(L, NM(B_LN2_B.n[s]), W);
    ct_ld_weight(L, &b->fc1, NM(B_FC1_W.n[s]), M, W, 0);
    b->fc1_b = vec(L, NM(B_FC1_B.n[s]), M);
    ct_ld_weight(L, &b->fc2, NM(B_FC2_W.n[s]), W, M, 0);
    b->fc2_b = vec(L, NM(B_FC2_B.n[s]), W);
    if (layerscale) {
        b->ls1 = vec(L, NM(B_LS1.n[s]), W);
        b->ls2 = vec(L, NM(B_LS2.n[s]), W);
    }
#undef NM
}

void ct_dino_bind(ct_loader *L) {
    ct_model *m = L->m;
    ct_config *c = &m->cfg;
    const int s = L->scheme = scheme_of(&m->st);
    c->naming = s == OWN ? CT_NAMING_OPENAI : CT_NAMING_HF;
    const char *conv = N_CONV_W.n[s];
    int64_t np1 = ct_ld_stem(L, conv, N_POS.n[s], 3, 8);
    if (L->st) return;
    int W = c->vision_width, p = c->patch;
    char n[320];
    int layers = 0;
    for (; layers <= 4096; layers++) {
        snprintf(n, sizeof n, "%s.%d.%s", N_BLOCKS.n[s], layers, B_LN1_W.n[s]);
        if (!ct_st_find(&m->st, n)) break;
    }
    if (layers < 1 || layers > 4096) {
        L->st = ct_fail(L->err, CT_ERR_MISSING, "the backbone has no blocks ('%s.0.%s' is missing)", N_BLOCKS.n[s], B_LN1_W.n[s]);
        return;
    }
    c->vision_layers = layers;
    snprintf(n, sizeof n, "%s.0.%s", N_BLOCKS.n[s], B_LS1.n[s]);
    int layerscale = s != HF_VIT && ct_st_find(&m->st, n) != NULL;
    c->registers = s != HF_VIT && ct_st_find(&m->st, N_REG.n[s]) ? ct_ld_dim(L, N_REG.n[s], 3, 1, 0, 4096, "register count") : 0;
    c->arch = layerscale || c->registers ? CT_ARCH_DINOV2 : CT_ARCH_DINO;
    dino_cfg dc;
    read_config(L, &dc);
    if (L->st) return;
    if (dc.registers >= 0 && dc.registers != c->registers) {
        L->st = ct_fail(L->err, CT_ERR_SHAPE, "config.json says %d register tokens, the weights hold %d", dc.registers, c->registers);
        return;
    }
    /* heads: the config's, else width / 64 (every published DINO / DINOv2 checkpoint) */
    int heads = dc.heads ? dc.heads : W / 64;
    if (heads < 1 || W % heads) {
        L->st = ct_fail(L->err, CT_ERR_UNSUPPORTED, "cannot split width %d into %d heads%s", W, heads,
                        dc.heads ? " (config.json)" : " (width / 64; give a config.json with num_attention_heads)");
        return;
    }
    c->vision_heads = heads;
    /* DINOv2 with registers resamples its grid with antialias (the hub's *_reg settings) */
    m->pos_antialias = dc.antialias >= 0 ? dc.antialias : c->registers > 0;
    /* DINO's and DINOv2's code: eps 1e-6 (the Hub's converted ViT configs say 1e-12), exact GELU */
    c->vision_ln_eps = 1e-6f;
    c->vision_act = CT_ACTIVATION_GELU;
    c->heads_source = dc.heads ? CT_SOURCE_HF_CONFIG : CT_SOURCE_OPENAI_RULE;
    snprintf(n, sizeof n, "%s.0.%s", N_BLOCKS.n[s], B_FC1_W.n[s]);
    int M = m->vision_mlp = c->vision_mlp = ct_ld_dim(L, n, 2, 0, 1, CT_MAX_DIM, "MLP width");
    if (L->st) return;

    ct_ld_patch(L, conv, W, p);
    m->patch_b = vec(L, N_CONV_B.n[s], W);
    m->class_emb = ct_ld_need(L, N_CLS.n[s], 3, 1, 1, W, 0);
    m->vpos = ct_ld_need(L, N_POS.n[s], 3, 1, np1, W, 0);
    if (c->registers) m->reg_tokens = ct_ld_need(L, N_REG.n[s], 3, 1, c->registers, W, 0);
    m->ln_post_w = vec(L, N_NORM_W.n[s], W);
    m->ln_post_b = vec(L, N_NORM_B.n[s], W);
    if (L->st) return;
    ct_block *b = ct_calloc((size_t)layers, sizeof(ct_block));
    if (!b) {
        L->st = ct_fail(L->err, CT_ERR_NOMEM, "out of memory");
        return;
    }
    m->vblocks = b;
    for (int i = 0; i < layers && !L->st; i++) bind_block(L, &b[i], i, W, M, layerscale);
}
