/* Loading: map the safetensors file, find the naming scheme, derive the architecture from
 * tensor shapes (every dimension range-checked before it becomes an int), and bind every weight
 * through one table of names for both schemes, widening F16/BF16 to fp32. */
#include "model/config.h"
#include "model/loader.h"
#include "nn/kernels/registry.h"
#include "nn/blas.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_MAX_VOCAB (1 << 24)

/* ------------------------------------------------------------------ names */

enum { OPENAI = 0, HF = 1 };

/* one name per scheme; "%s" in block names is the block prefix and index */
typedef struct {
    const char *n[2];
} names;

static const names N_CONV = {{"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"}};
static const names N_CLS = {{"visual.class_embedding", "vision_model.embeddings.class_embedding"}};
static const names N_VPOS = {{"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"}};
static const names N_LNPRE_W = {{"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight"}};
static const names N_LNPRE_B = {{"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias"}};
static const names N_LNPOST_W = {{"visual.ln_post.weight", "vision_model.post_layernorm.weight"}};
static const names N_LNPOST_B = {{"visual.ln_post.bias", "vision_model.post_layernorm.bias"}};
static const names N_VPROJ = {{"visual.proj", "visual_projection.weight"}};         /* [W x E] / [E x W] */
static const names N_TOK = {{"token_embedding.weight", "text_model.embeddings.token_embedding.weight"}};
static const names N_TPOS = {{"positional_embedding", "text_model.embeddings.position_embedding.weight"}};
static const names N_LNF_W = {{"ln_final.weight", "text_model.final_layer_norm.weight"}};
static const names N_LNF_B = {{"ln_final.bias", "text_model.final_layer_norm.bias"}};
static const names N_TPROJ = {{"text_projection", "text_projection.weight"}};         /* [Wt x E] / [E x Wt] */
static const names N_VBLOCKS = {{"visual.transformer.resblocks", "vision_model.encoder.layers"}};
static const names N_TBLOCKS = {{"transformer.resblocks", "text_model.encoder.layers"}};

/* tensors of a block, after "<prefix>.<i>." */
static const names B_LN1_W = {{"ln_1.weight", "layer_norm1.weight"}};
static const names B_LN1_B = {{"ln_1.bias", "layer_norm1.bias"}};
static const names B_OUT_W = {{"attn.out_proj.weight", "self_attn.out_proj.weight"}};
static const names B_OUT_B = {{"attn.out_proj.bias", "self_attn.out_proj.bias"}};
static const names B_LN2_W = {{"ln_2.weight", "layer_norm2.weight"}};
static const names B_LN2_B = {{"ln_2.bias", "layer_norm2.bias"}};
static const names B_FC1_W = {{"mlp.c_fc.weight", "mlp.fc1.weight"}};
static const names B_FC1_B = {{"mlp.c_fc.bias", "mlp.fc1.bias"}};
static const names B_FC2_W = {{"mlp.c_proj.weight", "mlp.fc2.weight"}};
static const names B_FC2_B = {{"mlp.c_proj.bias", "mlp.fc2.bias"}};
/* q, k, v: one packed tensor (OpenAI) or three (Hugging Face) */
static const char *const OPENAI_QKV_W = "attn.in_proj_weight", *const OPENAI_QKV_B = "attn.in_proj_bias";
static const char *const HF_QKV_W[3] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"};
static const char *const HF_QKV_B[3] = {"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"};

/* ------------------------------------------------------------------ loader */

typedef ct_loader loader;

static const float *vec(loader *L, const char *name, int64_t n) { return ct_ld_need(L, name, 1, n, 0, 0, 0); }

static const ct_st_tensor *find(const loader *L, const char *name) { return ct_st_find(&L->m->st, name); }

static int has(const loader *L, const char *name) { return find(L, name) != NULL; }

static int count_blocks(loader *L, const char *prefix) {
    char name[256];
    int n = 0;
    for (; n <= 4096; n++) {
        snprintf(name, sizeof name, "%s.%d.%s", prefix, n, B_LN1_W.n[L->scheme]);
        if (!has(L, name)) break;
    }
    return n;
}

static void bind_block(loader *L, ct_block *b, const char *prefix, int i, int W, int M) {
    char n[320];
    const int s = L->scheme;
#define NM(x) (snprintf(n, sizeof n, "%s.%d.%s", prefix, i, (x)), n)
    b->ln1_w = vec(L, NM(B_LN1_W.n[s]), W);
    b->ln1_b = vec(L, NM(B_LN1_B.n[s]), W);
    memset(&b->qkv, 0, sizeof b->qkv);
    b->qkv.N = 3 * W;
    b->qkv.K = W;
    if (s == OPENAI) {
        b->qkv.part[0] = ct_ld_need(L, NM(OPENAI_QKV_W), 2, 3 * (int64_t)W, W, 0, 0);
        b->qkv.part_rows[0] = 3 * W;
        b->qkv.n_parts = 1;
        b->qkv_b = vec(L, NM(OPENAI_QKV_B), 3 * (int64_t)W);
    } else {
        /* three tensors: widened ones go into one contiguous block, mapped F32 ones stay apart */
        float *cat = NULL, *bias = ct_ld_alloc(L, 3 * (size_t)W, sizeof(float));
        int all_f32 = 1;
        for (int k = 0; k < 3; k++) {
            const ct_st_tensor *t = find(L, NM(HF_QKV_W[k]));
            all_f32 &= t && t->dtype == CT_ST_F32 && ((uintptr_t)t->data % sizeof(float)) == 0;
        }
        if (!all_f32) cat = ct_ld_alloc(L, 3 * (size_t)W * (size_t)W, sizeof(float));
        b->qkv.n_parts = all_f32 ? 3 : 1;
        for (int k = 0; k < 3 && !L->st; k++) {
            int64_t sh[2] = {W, W};
            const ct_st_tensor *t = ct_ld_lookup(L, NM(HF_QKV_W[k]), 2, sh);
            const float *p = ct_ld_f32(L, t, cat ? cat + (size_t)k * W * W : NULL);
            if (all_f32) { b->qkv.part[k] = p; b->qkv.part_rows[k] = W; }
            int64_t sb[1] = {W};
            ct_ld_f32(L, ct_ld_lookup(L, NM(HF_QKV_B[k]), 1, sb), bias ? bias + (size_t)k * W : NULL);
        }
        if (!all_f32) { b->qkv.part[0] = cat; b->qkv.part_rows[0] = 3 * W; }
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
#undef NM
}

/* the MLP width of a tower: the rows of its first block's fc1 */
static int mlp_width(loader *L, const char *prefix) {
    char n[320];
    snprintf(n, sizeof n, "%s.0.%s", prefix, B_FC1_W.n[L->scheme]);
    return ct_ld_dim(L, n, 2, 0, 1, CT_MAX_DIM, "MLP width");
}

static void bind_tower(loader *L, ct_block **out, int layers, const char *prefix, int W, int mlp) {
    if (L->st) return;
    ct_block *b = ct_calloc((size_t)layers, sizeof(ct_block));
    if (!b) { L->st = ct_fail(L->err, CT_ERR_NOMEM, "out of memory"); return; }
    *out = b;
    for (int i = 0; i < layers && !L->st; i++) bind_block(L, &b[i], prefix, i, W, mlp);
}

static void derive_and_bind(loader *L) {
    ct_model *m = L->m;
    ct_config *c = &m->cfg;
    if (has(L, N_CONV.n[OPENAI])) L->scheme = OPENAI;
    else if (has(L, N_CONV.n[HF])) L->scheme = HF;
    else if (ct_dino_detect(&m->st)) {
        ct_dino_bind(L);
        return;
    } else {
        L->st = ct_fail(L->err, CT_ERR_MISSING,
                        "not a CLIP ViT checkpoint: neither '%s' (OpenAI/open_clip names) nor '%s' (Hugging Face names) is present, "
                        "nor a DINO / DINOv2 backbone ('cls_token', 'embeddings.cls_token')",
                        N_CONV.n[OPENAI], N_CONV.n[HF]);
        return;
    }
    const int s = L->scheme;
    c->naming = s == HF ? CT_NAMING_HF : CT_NAMING_OPENAI;
    const char *conv = N_CONV.n[s];
    int64_t np1 = ct_ld_stem(L, conv, N_VPOS.n[s], 2, 8);
    if (L->st) return;
    int W = c->vision_width, p = c->patch;
    c->vision_layers = count_blocks(L, N_VBLOCKS.n[s]);
    if (c->vision_layers < 2) {
        L->st = ct_fail(L->err, CT_ERR_MISSING, "the vision tower has %d blocks; CLIPtrase needs at least 2", c->vision_layers);
        return;
    }
    int Wt = c->text_width = ct_ld_dim(L, N_LNF_W.n[s], 1, 0, 8, 65536, "text width");
    c->text_layers = count_blocks(L, N_TBLOCKS.n[s]);
    if (L->st) return;
    if (c->text_layers < 1) {
        L->st = ct_fail(L->err, CT_ERR_MISSING, "the text tower has no blocks");
        return;
    }
    int E = c->embed_dim = s == HF ? ct_ld_dim(L, N_VPROJ.n[s], 2, 0, 1, 65536, "embedding size")
                                   : ct_ld_dim(L, N_VPROJ.n[s], 2, 1, 1, 65536, "embedding size");
    c->context_length = ct_ld_dim(L, N_TPOS.n[s], 2, 0, 2, 65536, "context length");
    c->vocab_size = ct_ld_dim(L, N_TOK.n[s], 2, 0, 1, CT_MAX_VOCAB, "vocabulary size");
    c->vision_mlp = mlp_width(L, N_VBLOCKS.n[s]);
    c->text_mlp = mlp_width(L, N_TBLOCKS.n[s]);
    m->vision_mlp = c->vision_mlp;
    m->text_mlp = c->text_mlp;
    if (L->st) return;
    /* heads, activations, layer-norm eps: from the checkpoint's configuration, checked against
     * the sizes above (model/config.h) */
    ct_arch_decl decl[CT_ARCH_MAX_DECLS];
    int nd = 0;
    L->st = ct_arch_decls_read(L->path, &m->st, decl, &nd, L->err);
    if (!L->st) L->st = ct_arch_resolve(decl, nd, c, L->err);
    if (L->st) return;

    /* vision */
    ct_ld_patch(L, conv, W, p);
    m->class_emb = vec(L, N_CLS.n[s], W);
    m->vpos = ct_ld_need(L, N_VPOS.n[s], 2, np1, W, 0, 0);
    m->ln_pre_w = vec(L, N_LNPRE_W.n[s], W);
    m->ln_pre_b = vec(L, N_LNPRE_B.n[s], W);
    m->ln_post_w = vec(L, N_LNPOST_W.n[s], W);
    m->ln_post_b = vec(L, N_LNPOST_B.n[s], W);
    if (s == HF) ct_ld_weight(L, &m->vproj, N_VPROJ.n[s], E, W, 0);
    else ct_ld_weight(L, &m->vproj, N_VPROJ.n[s], W, E, 1);
    bind_tower(L, &m->vblocks, c->vision_layers, N_VBLOCKS.n[s], W, c->vision_mlp);
    /* text */
    m->tok_emb = ct_ld_need(L, N_TOK.n[s], 2, c->vocab_size, Wt, 0, 0);
    m->tpos = ct_ld_need(L, N_TPOS.n[s], 2, c->context_length, Wt, 0, 0);
    bind_tower(L, &m->tblocks, c->text_layers, N_TBLOCKS.n[s], Wt, c->text_mlp);
    m->ln_final_w = vec(L, N_LNF_W.n[s], Wt);
    m->ln_final_b = vec(L, N_LNF_B.n[s], Wt);
    if (s == HF) ct_ld_weight(L, &m->tproj, N_TPROJ.n[s], E, Wt, 0);
    else ct_ld_weight(L, &m->tproj, N_TPROJ.n[s], Wt, E, 1);
    if (L->st) return;
    const ct_st_tensor *ls = find(L, "logit_scale");
    if (ls) {
        /* the same checks as every other tensor: a float dtype, one value */
        int64_t shape1[1] = {1};
        const ct_st_tensor *t = ls->ndim == 0 ? ct_ld_lookup(L, "logit_scale", 0, shape1) : ct_ld_lookup(L, "logit_scale", 1, shape1);
        float v = 0;
        if (t && ct_ld_f32(L, t, &v)) {
            float e = expf(v);
            if (!isfinite(e) || !(e > 0)) {
                L->st = ct_fail(L->err, CT_ERR_NONFINITE, "tensor 'logit_scale' holds %g: exp() of it is not a usable scale", (double)v);
                return;
            }
            if (!(e >= CT_MIN_LOGIT_SCALE && e <= CT_MAX_LOGIT_SCALE)) {
                L->st = ct_fail(L->err, CT_ERR_UNSUPPORTED,
                                "tensor 'logit_scale' holds %g: the scale exp(%g) = %g is outside the supported [%g, %g] (CLIP's is 100; "
                                "docs/formats.md)", (double)v, (double)v, (double)e, (double)CT_MIN_LOGIT_SCALE, (double)CT_MAX_LOGIT_SCALE);
                return;
            }
            c->logit_scale = e;
        }
    } else {
        c->logit_scale = 100.f; /* CLIP's trained value is at the clamp, exp(4.6052) = 100 */
    }
}

/* ------------------------------------------------------------------ public */

void ct_load_params_default(ct_load_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->precision = CT_PRECISION_FP32;
    p->backend = CT_BACKEND_NATIVE;
}

/* weights whose parts lie in the file mapping: their pages may be released once packed */
static void mark_mapped(ct_model *m, ct_weight *w) {
    const char *b = m->st.map, *e = b + m->st.map_len;
    int in = w->n_parts > 0 && b;
    for (int i = 0; i < w->n_parts; i++) in = in && (const char *)w->part[i] >= b && (const char *)w->part[i] < e;
    w->mapped = in;
}

static void mark_all_mapped(ct_model *m) {
    mark_mapped(m, &m->patch);
    mark_mapped(m, &m->vproj);
    mark_mapped(m, &m->tproj);
    for (int i = 0; i < m->cfg.vision_layers; i++) {
        ct_block *b = &m->vblocks[i];
        mark_mapped(m, &b->qkv); mark_mapped(m, &b->out); mark_mapped(m, &b->fc1); mark_mapped(m, &b->fc2);
    }
    for (int i = 0; i < m->cfg.text_layers; i++) {
        ct_block *b = &m->tblocks[i];
        mark_mapped(m, &b->qkv); mark_mapped(m, &b->out); mark_mapped(m, &b->fc1); mark_mapped(m, &b->fc2);
    }
}

ct_status ct_model_load_ex(const char *path, const ct_load_params *p, ct_model **out, ct_error *err) {
    if (!path || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_model_load: NULL argument");
    ct_load_params dp;
    ct_load_params_default(&dp);
    if (!p) p = &dp;
    if ((unsigned)p->precision > CT_PRECISION_BF16) return ct_fail(err, CT_ERR_INVALID_ARG, "unknown precision %d", (int)p->precision);
    if ((unsigned)p->backend > CT_BACKEND_OPENBLAS) return ct_fail(err, CT_ERR_INVALID_ARG, "unknown backend %d", (int)p->backend);
    ct_status st0 = ct_check_threads(p->n_threads, err);
    if (st0) return st0;
    ct_kernel k = ct_kernel_choose(p->precision, p->backend);
    const char *why = ct_kernel_why(p->precision, p->backend);
    if (p->kernel) { /* an explicit kernel (tests, comparisons): it must compute the precision asked */
        k = ct_kernel_find(p->kernel);
        const ct_kernel_desc *kd = ct_kernel_get(k);
        if (!kd) return ct_fail(err, CT_ERR_INVALID_ARG, "unknown kernel '%.64s' (ct-info lists them)", p->kernel);
        if (kd->precision != p->precision)
            return ct_fail(err, CT_ERR_INVALID_ARG, "kernel %s computes %s, the precision asked is %s", kd->id, ct_precision_name(kd->precision),
                           ct_precision_name(p->precision));
        if ((kd->fn == NULL) != (p->backend == CT_BACKEND_OPENBLAS))
            return ct_fail(err, CT_ERR_INVALID_ARG, "kernel %s does not belong to the %s backend", kd->id,
                           p->backend == CT_BACKEND_OPENBLAS ? "openblas" : "native");
        if (ct_kernel_missing(k)) return ct_fail(err, CT_ERR_UNSUPPORTED, "kernel %s: %s", kd->id, ct_kernel_missing(k));
        why = "asked for by name";
    }
    if (k == CT_KERNEL_NONE) {
        if (p->precision == CT_PRECISION_BF16 && p->backend == CT_BACKEND_OPENBLAS)
            return ct_fail(err, CT_ERR_UNSUPPORTED, "precision bf16 needs the native backend (OpenBLAS is fp32 only)");
        return ct_fail(err, CT_ERR_UNSUPPORTED, "precision %s is not available on this CPU (%s; bf16 needs AVX512_BF16 or AMX)",
                       ct_precision_name(p->precision), ct_cpu_describe());
    }
    if (p->backend == CT_BACKEND_OPENBLAS) {
        const char *no_blas = ct_blas_unavailable(); /* refused here, not at the first product */
        if (no_blas) return ct_fail(err, CT_ERR_UNSUPPORTED, "backend openblas: %s", no_blas);
    }
    ct_model *m = calloc(1, sizeof *m);
    if (!m) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    m->precision = p->precision;
    m->kernel = k;
    m->kernel_why = why;
    m->rt = p->runtime;
    m->own_rt = p->runtime == NULL;
    m->rt_threads = p->n_threads;
    atomic_store(&m->rt_ready, p->runtime != NULL);
    ct_status st = ct_st_open(path, &m->st, err);
    if (st) {
        pthread_mutex_destroy(&m->lock);
        free(m);
        return st;
    }
    loader L = {m, err, CT_OK, p->check_finite, OPENAI, path};
    derive_and_bind(&L);
    if (L.st) {
        char pre[300];
        snprintf(pre, sizeof pre, "'%.296s'", path);
        ct_fail_prefix(err, L.st, pre);
        ct_model_free(m);
        return L.st;
    }
    mark_all_mapped(m);
    *out = m;
    return ct_ok(err);
}

ct_status ct_model_load(const char *path, ct_model **out, ct_error *err) { return ct_model_load_ex(path, NULL, out, err); }

static void release_block(ct_block *b) {
    ct_weight_release(&b->qkv);
    ct_weight_release(&b->out);
    ct_weight_release(&b->fc1);
    ct_weight_release(&b->fc2);
}

void ct_model_free(ct_model *m) {
    if (!m) return;
    if (m->own_rt) ct_runtime_free(m->rt);
    for (int i = 0; m->vblocks && i < m->cfg.vision_layers; i++) release_block(&m->vblocks[i]);
    for (int i = 0; m->tblocks && i < m->cfg.text_layers; i++) release_block(&m->tblocks[i]);
    ct_weight_release(&m->patch);
    ct_weight_release(&m->vproj);
    ct_weight_release(&m->tproj);
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->vblocks);
    free(m->tblocks);
    free(m->ws);
    ct_st_close(&m->st);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

ct_runtime *ct_model_runtime(const ct_model *cm) {
    ct_model *m = (ct_model *)cm; /* the runtime is a cache, filled once under the lock */
    if (atomic_load_explicit(&m->rt_ready, memory_order_acquire)) return m->rt;
    pthread_mutex_lock(&m->lock);
    if (!atomic_load_explicit(&m->rt_ready, memory_order_relaxed)) {
        ct_runtime *rt = NULL;
        if (ct_runtime_new(m->rt_threads, &rt, NULL) == CT_OK) m->rt = rt;
        atomic_store_explicit(&m->rt_ready, 1, memory_order_release);
    }
    pthread_mutex_unlock(&m->lock);
    return m->rt;
}

ct_nn ct_model_nn(const ct_model *m, int n_threads) {
    ct_nn nn;
    memset(&nn, 0, sizeof nn);
    nn.ex = ct_exec_for(n_threads == 1 ? NULL : ct_model_runtime(m), n_threads);
    nn.kernel = m->kernel;
    return nn;
}

void *ct_model_ws_get(const ct_model *cm, size_t bytes) {
    ct_model *m = (ct_model *)cm; /* a cache, taken and returned under the lock */
    void *p = NULL;
    pthread_mutex_lock(&m->lock);
    if (m->ws && m->ws_bytes >= bytes) {
        p = m->ws;
        m->ws = NULL;
    }
    pthread_mutex_unlock(&m->lock);
    if (!p && bytes < SIZE_MAX - 64) p = ct_alloc_large(bytes);
    return p;
}

void ct_model_ws_put(const ct_model *cm, void *p, size_t bytes) {
    ct_model *m = (ct_model *)cm;
    if (!p) return;
    pthread_mutex_lock(&m->lock);
    if (!m->ws || m->ws_bytes < bytes) {
        void *old = m->ws;
        m->ws = p;
        m->ws_bytes = (bytes + 63) & ~(size_t)63;
        p = old;
    }
    pthread_mutex_unlock(&m->lock);
    free(p);
}

int ct_model_linear(const ct_model *m, const ct_nn *nn, int M, const float *x, int ldx, const ct_weight *w, const ct_epilogue *e,
                    float *y, int ldy) {
    return ct_linear(nn, M, x, ldx, (ct_weight *)w, (pthread_mutex_t *)&m->lock, e, y, ldy);
}

int ct_model_linear_fn(const void *m, const ct_nn *nn, int M, const float *x, int ldx, const ct_weight *w, const ct_epilogue *e,
                       float *y, int ldy) {
    return ct_model_linear(m, nn, M, x, ldx, w, e, y, ldy);
}

ct_status ct_model_need_clip(const ct_model *m, const char *what, ct_error *err) {
    if (m->cfg.arch == CT_ARCH_CLIP) return CT_OK;
    return ct_fail(err, CT_ERR_INVALID_ARG, "%s needs a CLIP model; this one is a %s vision backbone (no text tower), usable only as "
                   "the proxy of the proxyclip head", what, m->cfg.arch == CT_ARCH_DINO ? "DINO" : "DINOv2");
}

const ct_config *ct_model_config(const ct_model *m) { return m ? &m->cfg : NULL; }
const char *ct_model_metadata(const ct_model *m, const char *key) { return m ? ct_st_metadata(&m->st, key) : NULL; }
ct_precision ct_model_precision(const ct_model *m) { return m ? m->precision : CT_PRECISION_FP32; }

int ct_model_threads(const ct_model *m) {
    if (!m) return 0;
    ct_runtime *rt = ct_model_runtime(m);
    return rt ? ct_runtime_threads(rt) : 1;
}

void ct_config_describe(const ct_config *c, char *buf, size_t cap) {
    if (!buf || !cap) return;
    if (!c) { buf[0] = 0; return; }
    static const char *const dt[] = {"F32", "F16", "BF16"};
    if (c->arch != CT_ARCH_CLIP) {
        snprintf(buf, cap, "%s backbone (vision only): width %d, layers %d, heads %d, mlp %d, patch %d, grid %d, image %d, registers %d; "
                 "%s names; %s", c->arch == CT_ARCH_DINO ? "DINO" : "DINOv2", c->vision_width, c->vision_layers, c->vision_heads,
                 c->vision_mlp, c->patch, c->grid, c->image_size, c->registers, c->naming == CT_NAMING_HF ? "hf" : "dino",
                 (unsigned)c->dtype < 3 ? dt[c->dtype] : "?");
        return;
    }
    snprintf(buf, cap,
             "vision: width %d, layers %d, heads %d, mlp %d, %s, patch %d, grid %d, image %d; text: width %d, "
             "layers %d, heads %d, mlp %d, %s, context %d, vocab %d; embed %d; layer norm eps %g / %g; logit_scale %.6g; %s names; %s; "
             "heads from %s, activation from %s, eps from %s",
             c->vision_width, c->vision_layers, c->vision_heads, c->vision_mlp, c->vision_act == CT_ACTIVATION_GELU ? "gelu" : "quick_gelu",
             c->patch, c->grid, c->image_size, c->text_width, c->text_layers, c->text_heads, c->text_mlp,
             c->text_act == CT_ACTIVATION_GELU ? "gelu" : "quick_gelu", c->context_length, c->vocab_size, c->embed_dim,
             (double)c->vision_ln_eps, (double)c->text_ln_eps, c->logit_scale, c->naming == CT_NAMING_HF ? "hf" : "openai",
             (unsigned)c->dtype < 3 ? dt[c->dtype] : "?", ct_config_source_label(c->heads_source), ct_config_source_label(c->act_source),
             ct_config_source_label(c->eps_source));
}

void ct_model_describe(const ct_model *m, char *buf, size_t cap) {
    if (!buf || !cap) return;
    if (!m) { buf[0] = 0; return; }
    char cfg[700];
    ct_config_describe(&m->cfg, cfg, sizeof cfg);
    const char *fa = ct_kernel_fused_attention(m->kernel) ? "fused" : "unfused (GEMM + softmax)";
    snprintf(buf, cap, "%s; precision %s; kernel %s (%s); attention %s; %d threads; %s", cfg, ct_precision_name(m->precision),
             ct_kernel_name(m->kernel), m->kernel_why, fa, ct_model_threads(m), ct_cpu_describe());
}

const char *ct_precision_name(ct_precision p) {
    return p == CT_PRECISION_FP32 ? "fp32" : p == CT_PRECISION_BF16 ? "bf16" : "unknown";
}

ct_status ct_precision_parse(const char *name, ct_precision *out, ct_error *err) {
    if (!name || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_precision_parse: NULL argument");
    if (!strcmp(name, "fp32") || !strcmp(name, "float32")) *out = CT_PRECISION_FP32;
    else if (!strcmp(name, "bf16") || !strcmp(name, "bfloat16")) *out = CT_PRECISION_BF16;
    else return ct_fail(err, CT_ERR_INVALID_ARG, "unknown precision '%.64s' (fp32 or bf16)", name);
    return ct_ok(err);
}

int ct_precision_available(ct_precision p) { return ct_kernel_choose(p, CT_BACKEND_NATIVE) != CT_KERNEL_NONE; }

const char *ct_kernel_id(int i, ct_precision *precision, int *runs, const char **note) {
    const ct_kernel_desc *d = ct_kernel_get(i);
    if (!d) return NULL;
    const char *why_not = ct_kernel_missing(i);
    if (precision) *precision = d->precision;
    if (runs) *runs = why_not == NULL;
    if (note) *note = why_not ? why_not : d->label;
    return d->id;
}
