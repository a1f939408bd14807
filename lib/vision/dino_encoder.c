/* DINO / DINOv2 forward pass (dino.h), exact to facebookresearch/dino's and dinov2's
 * vision_transformer.py (../shared/oracle/heads_proxyclip and heads_proxyclip_dinov2, README.md):
 *   tokens = [cls + pos_0; registers; patch_i + pos_i], the grid resampled unless the patch count
 *   is the native one and the input is square (DINO, DINOv2 without registers: bicubic with
 *   scale factor (n + 0.1) / g; DINOv2 with registers: antialiased bicubic to the size);
 *   blocks x += ls1 * proj(MHA(norm1 x)), x += ls2 * fc2(GELU(fc1(norm2 x))) (ls = 1 for DINO; the
 *   exact GELU as the fc1 product's epilogue);
 *   the final norm. */
#include "vision/dino.h"

#include "core/arena.h"
#include "nn/attention.h"
#include "nn/ops.h"

#include <math.h>
#include <string.h>

void ct_dino_input(const float *px, size_t plane, float *out) {
    static const float cm[3] = {0.48145466f, 0.4578275f, 0.40821073f}, cs[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    static const float im[3] = {0.485f, 0.456f, 0.406f}, is[3] = {0.229f, 0.224f, 0.225f};
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++) out[c * plane + i] = ((px[c * plane + i] * cs[c] + cm[c]) - im[c]) / is[c];
}

ct_status ct_dino_grid(const ct_model *m, int H, int W, int *h, int *w, ct_error *err) {
    int q = m->cfg.patch;
    if (H < q || W < q)
        return ct_fail(err, CT_ERR_INVALID_ARG, "a %d x %d input is smaller than the backbone's %d-pixel patch", H, W, q);
    if ((int64_t)(H / q) * (W / q) > CT_MAX_PATCHES)
        return ct_fail(err, CT_ERR_TOO_LARGE, "a %d x %d input gives %lld patches of %d pixels; the limit is %d", H, W,
                       (long long)(H / q) * (W / q), q, CT_MAX_PATCHES);
    *h = H / q;
    *w = W / q;
    return CT_OK;
}

typedef struct {
    int h, w, np, T, D, M, pp, resample;
    size_t x, xn, qkv, att, hid, tmp, patches, pos, aa, gemm;
    size_t gemm_bytes, total;
} plan;

static int make_plan(const ct_model *m, int H, int W, int nth, plan *pl) {
    const ct_config *c = &m->cfg;
    memset(pl, 0, sizeof *pl);
    int q = c->patch, g = c->grid;
    pl->h = H / q;
    pl->w = W / q;
    pl->np = pl->h * pl->w;
    pl->T = 1 + c->registers + pl->np;
    pl->D = c->vision_width;
    pl->M = m->vision_mlp;
    pl->pp = 3 * q * q;
    pl->resample = !(pl->np == g * g && H == W);
    size_t T = (size_t)pl->T, D = (size_t)pl->D, M = (size_t)pl->M;
    ct_kernel k = m->kernel;
    size_t gb = ct_gemm_workspace(k, pl->np, pl->D, pl->pp, 0), t;
    if ((t = ct_gemm_workspace(k, pl->T, 3 * pl->D, pl->D, 0)) > gb) gb = t;
    if ((t = ct_gemm_workspace(k, pl->T, pl->M, pl->D, 0)) > gb) gb = t;
    if ((t = ct_gemm_workspace(k, pl->T, pl->D, pl->M, 0)) > gb) gb = t;
    ct_nn nn;
    memset(&nn, 0, sizeof nn);
    nn.kernel = k;
    nn.ex.nth = nth < 1 ? 1 : nth;
    ct_attn_spec plain = {.n_streams = 1, .x = {CT_Q}, .y = {CT_K}};
    if ((t = ct_attention_workspace(&nn, &plain, 1, pl->T, pl->D, c->vision_heads)) > gb) gb = t;
    pl->gemm_bytes = gb;
    ct_arena a = {0};
    pl->x = ct_arena_add_floats(&a, T * D);
    pl->xn = ct_arena_add_floats(&a, T * D);
    pl->qkv = ct_arena_add_floats(&a, T * 3 * D);
    pl->att = ct_arena_add_floats(&a, T * D);
    pl->hid = ct_arena_add_floats(&a, T * M);
    pl->tmp = ct_arena_add_floats(&a, T * D);
    pl->patches = ct_arena_add_floats(&a, (size_t)pl->np * (size_t)pl->pp);
    pl->pos = ct_arena_add_floats(&a, pl->resample ? (size_t)pl->np * D : 0);
    pl->aa = ct_arena_add_floats(&a, pl->resample && m->pos_antialias ? (size_t)g * pl->w * D : 0);
    pl->gemm = ct_arena_add(&a, gb);
    pl->total = a.size;
    return a.size != SIZE_MAX;
}

size_t ct_dino_workspace(const ct_model *m, int H, int W, int nth) {
    plan pl;
    return make_plan(m, H, W, nth, &pl) ? pl.total : 0;
}

/* x [n x D] += s * y (s per column, NULL: 1) */
static void add_scaled(int n, int D, const float *s, const float *y, float *x) {
    for (size_t i = 0; i < (size_t)n; i++)
        for (int j = 0; j < D; j++) x[i * D + j] += (s ? s[j] : 1.f) * y[i * D + j];
}

ct_status ct_dino_encode(const ct_model *m, const ct_nn *nn0, const float *pixels, int H, int W, float *tokens, float *features,
                         ct_error *err) {
    const ct_config *c = &m->cfg;
    if (c->arch == CT_ARCH_CLIP) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_dino_encode: a CLIP model is not a DINO backbone");
    int gh, gw;
    ct_status st = ct_dino_grid(m, H, W, &gh, &gw, err);
    if (st) return st;
    plan pl;
    if (!make_plan(m, H, W, nn0->ex.nth, &pl)) return ct_fail(err, CT_ERR_TOO_LARGE, "a %d x %d input is too large", H, W);
    void *block = ct_model_ws_get(m, pl.total);
    if (!block) return ct_fail(err, CT_ERR_NOMEM, "out of memory for the proxy backbone on %d x %d (%zu MiB)", H, W, pl.total >> 20);
    float *x = CT_AT(block, pl.x, float), *xn = CT_AT(block, pl.xn, float), *qkv = CT_AT(block, pl.qkv, float);
    float *att = CT_AT(block, pl.att, float), *hid = CT_AT(block, pl.hid, float), *tmp = CT_AT(block, pl.tmp, float);
    float *patches = CT_AT(block, pl.patches, float), *pos = CT_AT(block, pl.pos, float), *aa = CT_AT(block, pl.aa, float);
    ct_nn nn = *nn0;
    nn.ws = CT_AT(block, pl.gemm, char);
    nn.ws_bytes = pl.gemm_bytes;
    const int q = c->patch, h = pl.h, w = pl.w, np = pl.np, T = pl.T, D = pl.D, M = pl.M, R = c->registers, g = c->grid;
    const float eps = c->vision_ln_eps;

    /* patch embedding: the flattened (c, ky, kx) patches, one product with the bias */
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            float *dst = patches + ((size_t)i * w + j) * pl.pp;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < q; ky++)
                    memcpy(dst + (ch * q + ky) * q, pixels + ((size_t)ch * H + (size_t)i * q + ky) * W + (size_t)j * q, sizeof(float) * q);
        }
    ct_epilogue eb = {1.f, 0.f, m->patch_b, CT_ACT_NONE};
    float *pe = x + (size_t)(1 + R) * D; /* patch rows of x */
    int ok = ct_model_linear(m, &nn, np, patches, pl.pp, &m->patch, &eb, pe, D);
    const float *pgrid = m->vpos + D;
    if (pl.resample) {
        if (m->pos_antialias) ct_bicubic_aa_grid(&nn.ex, g, g, D, pgrid, h, w, aa, pos);
        else ct_bicubic_grid(&nn.ex, g, g, D, pgrid, h, w, (h + 0.1) / g, (w + 0.1) / g, pos);
        pgrid = pos;
    }
    for (size_t i = 0; i < (size_t)np * D; i++) pe[i] += pgrid[i];
    for (int i = 0; i < D; i++) x[i] = m->class_emb[i] + m->vpos[i];
    if (R) memcpy(x + D, m->reg_tokens, sizeof(float) * (size_t)R * D);

    ct_attn_spec plain = {.n_streams = 1, .x = {CT_Q}, .y = {CT_K}};
    for (int l = 0; l < c->vision_layers && ok; l++) {
        const ct_block *b = &m->vblocks[l];
        ct_layernorm_eps(&nn.ex, T, D, x, D, b->ln1_w, b->ln1_b, xn, D, eps);
        ct_epilogue eq = {1.f, 0.f, b->qkv_b, CT_ACT_NONE};
        ok = ct_model_linear(m, &nn, T, xn, D, &b->qkv, &eq, qkv, 3 * D);
        ok = ok && ct_attention(&nn, &plain, qkv, 1, T, D, c->vision_heads, 0, T, att);
        /* without LayerScale the residual is accumulated by the product itself */
        ct_epilogue eo = {1.f, b->ls1 ? 0.f : 1.f, b->out_b, CT_ACT_NONE};
        ok = ok && ct_model_linear(m, &nn, T, att, D, &b->out, &eo, b->ls1 ? tmp : x, D);
        if (ok && b->ls1) add_scaled(T, D, b->ls1, tmp, x);
        ct_layernorm_eps(&nn.ex, T, D, x, D, b->ln2_w, b->ln2_b, xn, D, eps);
        ct_epilogue e1 = {1.f, 0.f, b->fc1_b, CT_ACT_GELU};
        ok = ok && ct_model_linear(m, &nn, T, xn, D, &b->fc1, &e1, hid, M);
        ct_epilogue e2 = {1.f, b->ls2 ? 0.f : 1.f, b->fc2_b, CT_ACT_NONE};
        ok = ok && ct_model_linear(m, &nn, T, hid, M, &b->fc2, &e2, b->ls2 ? tmp : x, D);
        if (ok && b->ls2) add_scaled(T, D, b->ls2, tmp, x);
    }
    if (ok) {
        ct_layernorm_eps(&nn.ex, T, D, x, D, m->ln_post_w, m->ln_post_b, xn, D, eps);
        if (tokens) memcpy(tokens, xn, sizeof(float) * (size_t)T * D);
        if (features) memcpy(features, xn + (size_t)(1 + R) * D, sizeof(float) * (size_t)np * D);
    }
    ct_model_ws_put(m, block, pl.total);
    return ok ? CT_OK : ct_fail(err, CT_ERR_NOMEM, "out of memory in the proxy backbone");
}
