/* Loading: map the safetensors file, find the naming scheme, derive the architecture from
 * tensor shapes and bind every weight, widening F16/BF16 to fp32. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ct_model *m;
    ct_error *err;
    ct_status st;
    int check_finite;
} loader;

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: normalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static int keep_owned(ct_model *m, void *p) {
    if (m->n_owned == m->cap_owned) {
        size_t nc = m->cap_owned ? m->cap_owned * 2 : 64;
        void **na = realloc(m->owned, nc * sizeof *na);
        if (!na) return 0;
        m->owned = na;
        m->cap_owned = nc;
    }
    m->owned[m->n_owned++] = p;
    return 1;
}

static void fmt_shape(char *buf, size_t cap, int nd, const int64_t *d) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < nd && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)d[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* Find a tensor; shape entries < 0 are wildcards. Returns NULL and records the error. */
static const ct_st_tensor *lookup(loader *L, const char *name, int nd, const int64_t *shape) {
    if (L->st) return NULL;
    const ct_st_tensor *t = ct_st_find(&L->m->st, name);
    if (!t) {
        L->st = ct_fail(L->err, CT_ERR_MISSING, "missing tensor '%s'", name);
        return NULL;
    }
    int ok = t->ndim == nd;
    for (int i = 0; ok && i < nd; i++) ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (!ok) {
        char want[96], got[96];
        fmt_shape(want, sizeof want, nd, shape);
        fmt_shape(got, sizeof got, t->ndim, t->shape);
        for (char *c = want; *c; c++) if (!strncmp(c, "-1", 2)) { c[0] = ' '; c[1] = '*'; }
        L->st = ct_fail(L->err, CT_ERR_SHAPE, "tensor '%s' has shape %s, expected %s", name, got, want);
        return NULL;
    }
    if (t->dtype != CT_ST_F32 && t->dtype != CT_ST_F16 && t->dtype != CT_ST_BF16) {
        L->st = ct_fail(L->err, CT_ERR_UNSUPPORTED, "tensor '%s' has dtype %s (F32, F16 or BF16 needed)", name, ct_st_dtype_name(t->dtype));
        return NULL;
    }
    return t;
}

static const float *as_f32(loader *L, const ct_st_tensor *t) {
    if (!t || L->st) return NULL;
    const float *out;
    if (t->dtype == CT_ST_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        out = (const float *)t->data;
    } else {
        float *w = ct_alloc(t->numel, sizeof(float));
        if (!w || !keep_owned(L->m, w)) {
            free(w);
            L->st = ct_fail(L->err, CT_ERR_NOMEM, "out of memory widening tensor '%s'", t->name);
            return NULL;
        }
        const uint8_t *s = t->data;
        for (size_t i = 0; i < t->numel; i++) {
            if (t->dtype == CT_ST_F32) memcpy(&w[i], s + 4 * i, 4);
            else {
                uint16_t h = (uint16_t)(s[2 * i] | (s[2 * i + 1] << 8));
                if (t->dtype == CT_ST_F16) w[i] = half_to_float(h);
                else {
                    uint32_t bits = (uint32_t)h << 16;
                    memcpy(&w[i], &bits, 4);
                }
            }
        }
        out = w;
    }
    if (L->check_finite)
        for (size_t i = 0; i < t->numel; i++)
            if (!isfinite(out[i])) {
                L->st = ct_fail(L->err, CT_ERR_NONFINITE, "tensor '%s' has a non-finite value at index %zu", t->name, i);
                return NULL;
            }
    return out;
}

static const float *need(loader *L, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t s[4] = {d0, d1, d2, d3};
    return as_f32(L, lookup(L, name, nd, s));
}

static int has(const ct_model *m, const char *name) { return ct_st_find(&m->st, name) != NULL; }

static int count_layers(const ct_model *m, const char *fmt) {
    char name[256];
    int n = 0;
    for (;;) {
        snprintf(name, sizeof name, fmt, n);
        if (!has(m, name) || n > 4096) return n;
        n++;
    }
}

static int heads_for(int width) {
    int h = width / 64;
    return (h >= 1 && width % h == 0) ? h : 0;
}

static void bind_blocks(loader *L, ct_block *B, int layers, int W, int *mlp, const char *pre, int hf) {
    char n[320];
    for (int i = 0; i < layers && !L->st; i++) {
        ct_block *b = &B[i];
#define NM(suffix) (snprintf(n, sizeof n, "%s.%d.%s", pre, i, suffix), n)
        if (hf) {
            b->ln1_w = need(L, NM("layer_norm1.weight"), 1, W, 0, 0, 0);
            b->ln1_b = need(L, NM("layer_norm1.bias"), 1, W, 0, 0, 0);
            b->q_w = need(L, NM("self_attn.q_proj.weight"), 2, W, W, 0, 0);
            b->k_w = need(L, NM("self_attn.k_proj.weight"), 2, W, W, 0, 0);
            b->v_w = need(L, NM("self_attn.v_proj.weight"), 2, W, W, 0, 0);
            b->q_b = need(L, NM("self_attn.q_proj.bias"), 1, W, 0, 0, 0);
            b->k_b = need(L, NM("self_attn.k_proj.bias"), 1, W, 0, 0, 0);
            b->v_b = need(L, NM("self_attn.v_proj.bias"), 1, W, 0, 0, 0);
            b->out_w = need(L, NM("self_attn.out_proj.weight"), 2, W, W, 0, 0);
            b->out_b = need(L, NM("self_attn.out_proj.bias"), 1, W, 0, 0, 0);
            b->ln2_w = need(L, NM("layer_norm2.weight"), 1, W, 0, 0, 0);
            b->ln2_b = need(L, NM("layer_norm2.bias"), 1, W, 0, 0, 0);
            if (i == 0 && !L->st) {
                const ct_st_tensor *t = ct_st_find(&L->m->st, NM("mlp.fc1.weight"));
                *mlp = t && t->ndim == 2 ? (int)t->shape[0] : -1;
            }
            b->fc1_w = need(L, NM("mlp.fc1.weight"), 2, *mlp, W, 0, 0);
            b->fc1_b = need(L, NM("mlp.fc1.bias"), 1, *mlp, 0, 0, 0);
            b->fc2_w = need(L, NM("mlp.fc2.weight"), 2, W, *mlp, 0, 0);
            b->fc2_b = need(L, NM("mlp.fc2.bias"), 1, W, 0, 0, 0);
            b->qkv_packed = 0;
        } else {
            b->ln1_w = need(L, NM("ln_1.weight"), 1, W, 0, 0, 0);
            b->ln1_b = need(L, NM("ln_1.bias"), 1, W, 0, 0, 0);
            const float *inw = need(L, NM("attn.in_proj_weight"), 2, 3 * (int64_t)W, W, 0, 0);
            const float *inb = need(L, NM("attn.in_proj_bias"), 1, 3 * (int64_t)W, 0, 0, 0);
            if (!L->st) {
                size_t ww = (size_t)W * W;
                b->q_w = inw; b->k_w = inw + ww; b->v_w = inw + 2 * ww;
                b->q_b = inb; b->k_b = inb + W; b->v_b = inb + 2 * W;
                b->qkv_packed = 1;
            }
            b->out_w = need(L, NM("attn.out_proj.weight"), 2, W, W, 0, 0);
            b->out_b = need(L, NM("attn.out_proj.bias"), 1, W, 0, 0, 0);
            b->ln2_w = need(L, NM("ln_2.weight"), 1, W, 0, 0, 0);
            b->ln2_b = need(L, NM("ln_2.bias"), 1, W, 0, 0, 0);
            if (i == 0 && !L->st) {
                const ct_st_tensor *t = ct_st_find(&L->m->st, NM("mlp.c_fc.weight"));
                *mlp = t && t->ndim == 2 ? (int)t->shape[0] : -1;
            }
            b->fc1_w = need(L, NM("mlp.c_fc.weight"), 2, *mlp, W, 0, 0);
            b->fc1_b = need(L, NM("mlp.c_fc.bias"), 1, *mlp, 0, 0, 0);
            b->fc2_w = need(L, NM("mlp.c_proj.weight"), 2, W, *mlp, 0, 0);
            b->fc2_b = need(L, NM("mlp.c_proj.bias"), 1, W, 0, 0, 0);
        }
#undef NM
    }
}

/* shape dimension of a tensor, or -1 */
static int64_t dim_of(const ct_model *m, const char *name, int nd, int i) {
    const ct_st_tensor *t = ct_st_find(&m->st, name);
    return (t && t->ndim == nd) ? t->shape[i] : -1;
}

static void derive_and_bind(loader *L) {
    ct_model *m = L->m;
    ct_config *c = &m->cfg;
    int hf;
    if (has(m, "visual.conv1.weight")) hf = 0;
    else if (has(m, "vision_model.embeddings.patch_embedding.weight")) hf = 1;
    else {
        L->st = ct_fail(L->err, CT_ERR_MISSING,
                        "not a CLIP ViT checkpoint: neither 'visual.conv1.weight' (OpenAI/open_clip names) "
                        "nor 'vision_model.embeddings.patch_embedding.weight' (Hugging Face names) is present");
        return;
    }
    c->naming = hf ? CT_NAMING_HF : CT_NAMING_OPENAI;
    const char *conv = hf ? "vision_model.embeddings.patch_embedding.weight" : "visual.conv1.weight";
    const char *vpos = hf ? "vision_model.embeddings.position_embedding.weight" : "visual.positional_embedding";
    const char *tokn = hf ? "text_model.embeddings.token_embedding.weight" : "token_embedding.weight";
    const char *tpos = hf ? "text_model.embeddings.position_embedding.weight" : "positional_embedding";
    const char *lnf = hf ? "text_model.final_layer_norm.weight" : "ln_final.weight";

    const ct_st_tensor *cw = ct_st_find(&m->st, conv);
    if (!cw || cw->ndim != 4 || cw->shape[1] != 3 || cw->shape[2] != cw->shape[3] || cw->shape[0] < 1 ||
        cw->shape[2] < 1 || cw->shape[0] > 65536 || cw->shape[2] > 1024) {
        L->st = ct_fail(L->err, CT_ERR_SHAPE, "tensor '%s' must have shape [width, 3, p, p]", conv);
        return;
    }
    c->dtype = cw->dtype == CT_ST_F16 ? CT_DTYPE_F16 : cw->dtype == CT_ST_BF16 ? CT_DTYPE_BF16 : CT_DTYPE_F32;
    int W = c->vision_width = (int)cw->shape[0];
    int p = c->patch = (int)cw->shape[2];
    int64_t np1 = dim_of(m, vpos, 2, 0);
    int g = 0;
    if (np1 >= 2) {
        g = (int)llround(sqrt((double)(np1 - 1)));
        if ((int64_t)g * g + 1 != np1) g = 0;
    }
    if (g < 1) {
        L->st = ct_fail(L->err, CT_ERR_SHAPE, "tensor '%s' must have shape [g*g + 1, %d] for a square grid g", vpos, W);
        return;
    }
    c->grid = g;
    c->image_size = g * p;
    c->vision_layers = count_layers(m, hf ? "vision_model.encoder.layers.%d.layer_norm1.weight"
                                           : "visual.transformer.resblocks.%d.ln_1.weight");
    if (c->vision_layers < 2) {
        L->st = ct_fail(L->err, CT_ERR_MISSING, "the vision tower has %d blocks; CLIPtrase needs at least 2", c->vision_layers);
        return;
    }
    c->vision_heads = heads_for(W);
    int64_t Wt = dim_of(m, lnf, 1, 0);
    if (Wt < 1 || Wt > 65536) {
        L->st = ct_fail(L->err, CT_ERR_MISSING, "missing or bad tensor '%s'", lnf);
        return;
    }
    c->text_width = (int)Wt;
    c->text_heads = heads_for(c->text_width);
    if (!c->vision_heads || !c->text_heads) {
        L->st = ct_fail(L->err, CT_ERR_UNSUPPORTED, "cannot derive heads (width / 64) for vision width %d / text width %d", W, c->text_width);
        return;
    }
    c->text_layers = count_layers(m, hf ? "text_model.encoder.layers.%d.layer_norm1.weight"
                                         : "transformer.resblocks.%d.ln_1.weight");
    if (c->text_layers < 1) {
        L->st = ct_fail(L->err, CT_ERR_MISSING, "the text tower has no blocks");
        return;
    }
    int64_t E = hf ? dim_of(m, "visual_projection.weight", 2, 0) : dim_of(m, "visual.proj", 2, 1);
    if (E < 1 || E > 65536) {
        L->st = ct_fail(L->err, CT_ERR_MISSING, "missing or bad visual projection '%s'", hf ? "visual_projection.weight" : "visual.proj");
        return;
    }
    c->embed_dim = (int)E;
    int64_t ctx = dim_of(m, tpos, 2, 0), V = dim_of(m, tokn, 2, 0);
    if (ctx < 2 || ctx > 65536 || V < 1 || V > (1 << 24)) {
        L->st = ct_fail(L->err, CT_ERR_SHAPE, "missing or bad text embeddings '%s' / '%s'", tpos, tokn);
        return;
    }
    c->context_length = (int)ctx;
    c->vocab_size = (int)V;

    /* vision */
    m->patch_w = need(L, conv, 4, W, 3, p, p);
    m->class_emb = need(L, hf ? "vision_model.embeddings.class_embedding" : "visual.class_embedding", 1, W, 0, 0, 0);
    m->vpos = need(L, vpos, 2, np1, W, 0, 0);
    m->ln_pre_w = need(L, hf ? "vision_model.pre_layrnorm.weight" : "visual.ln_pre.weight", 1, W, 0, 0, 0);
    m->ln_pre_b = need(L, hf ? "vision_model.pre_layrnorm.bias" : "visual.ln_pre.bias", 1, W, 0, 0, 0);
    m->ln_post_w = need(L, hf ? "vision_model.post_layernorm.weight" : "visual.ln_post.weight", 1, W, 0, 0, 0);
    m->ln_post_b = need(L, hf ? "vision_model.post_layernorm.bias" : "visual.ln_post.bias", 1, W, 0, 0, 0);
    if (hf) m->vproj = need(L, "visual_projection.weight", 2, E, W, 0, 0);
    else m->vproj = need(L, "visual.proj", 2, W, E, 0, 0);
    m->vproj_t = hf;
    if (L->st) return;
    m->vblocks = ct_calloc((size_t)c->vision_layers, sizeof(ct_block));
    m->tblocks = ct_calloc((size_t)c->text_layers, sizeof(ct_block));
    if (!m->vblocks || !m->tblocks) {
        L->st = ct_fail(L->err, CT_ERR_NOMEM, "out of memory");
        return;
    }
    bind_blocks(L, m->vblocks, c->vision_layers, W, &m->vision_mlp,
                hf ? "vision_model.encoder.layers" : "visual.transformer.resblocks", hf);
    /* text */
    int T = c->text_width;
    m->tok_emb = need(L, tokn, 2, V, T, 0, 0);
    m->tpos = need(L, tpos, 2, ctx, T, 0, 0);
    bind_blocks(L, m->tblocks, c->text_layers, T, &m->text_mlp,
                hf ? "text_model.encoder.layers" : "transformer.resblocks", hf);
    m->ln_final_w = need(L, lnf, 1, T, 0, 0, 0);
    m->ln_final_b = need(L, hf ? "text_model.final_layer_norm.bias" : "ln_final.bias", 1, T, 0, 0, 0);
    if (hf) m->tproj = need(L, "text_projection.weight", 2, E, T, 0, 0);
    else m->tproj = need(L, "text_projection", 2, T, E, 0, 0);
    m->tproj_t = hf;
    const ct_st_tensor *ls = ct_st_find(&m->st, "logit_scale");
    if (ls) {
        if (ls->numel != 1) {
            L->st = ct_fail(L->err, CT_ERR_SHAPE, "tensor 'logit_scale' must hold one value");
            return;
        }
        const float *v = as_f32(L, ls);
        if (v) c->logit_scale = expf(v[0]);
    } else {
        c->logit_scale = 100.f; /* CLIP's trained value is at the clamp, exp(4.6052) = 100 */
    }
}

ct_status ct_model_load_ex(const char *path, const ct_load_params *p, ct_model **out, ct_error *err) {
    if (!path || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_model_load: NULL argument");
    ct_model *m = calloc(1, sizeof *m);
    if (!m) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_st_open(path, &m->st, err);
    if (st) {
        free(m);
        return st;
    }
    loader L = {m, err, CT_OK, p ? p->check_finite : 0};
    derive_and_bind(&L);
    if (L.st) {
        char pre[300];
        snprintf(pre, sizeof pre, "'%.296s'", path);
        ct_fail_prefix(err, L.st, pre);
        ct_model_free(m);
        return L.st;
    }
    *out = m;
    return ct_ok(err);
}

ct_status ct_model_load(const char *path, ct_model **out, ct_error *err) {
    return ct_model_load_ex(path, NULL, out, err);
}

void ct_model_free(ct_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->vblocks);
    free(m->tblocks);
    ct_st_close(&m->st);
    free(m);
}

const ct_config *ct_model_config(const ct_model *m) { return m ? &m->cfg : NULL; }

void ct_config_describe(const ct_config *c, char *buf, size_t cap) {
    if (!buf || !cap) return;
    if (!c) { buf[0] = 0; return; }
    static const char *dt[] = {"F32", "F16", "BF16"};
    snprintf(buf, cap,
             "vision: width %d, layers %d, heads %d, patch %d, grid %d, image %d; text: width %d, "
             "layers %d, heads %d, context %d, vocab %d; embed %d; logit_scale %.6g; %s names; %s",
             c->vision_width, c->vision_layers, c->vision_heads, c->patch, c->grid, c->image_size,
             c->text_width, c->text_layers, c->text_heads, c->context_length, c->vocab_size,
             c->embed_dim, c->logit_scale, c->naming == CT_NAMING_HF ? "hf" : "openai", dt[c->dtype]);
}
