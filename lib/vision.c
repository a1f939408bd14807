/* CLIP image encoder with the CLIPtrase changes to its last two blocks (paper Sec. 3):
 *   second-to-last block: ordinary forward, plus the head-averaged (cos qq + cos kk + cos vv)/3
 *   token correlation map; last block: attention softmax(qq^T s) + softmax(kk^T s) +
 *   softmax(vv^T s) applied to v, residual and MLP unchanged.
 * The plain CLIP image embedding needs only the CLS row of an ordinary last block, which shares
 * the q/k/v projection with the modified one, so it costs one row of attention and MLP. */
#include "model.h"
#include "ops.h"
#include "transformer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CT_MAX_TOKENS (1 + 128 * 128) /* corr_raw alone would be >1 GiB beyond this */

/* x [rows x W] -> ln_post -> projection -> L2-normalised [rows x E] */
static void head_out(const ct_model *m, int rows, const float *x, float *tmp, float *out, int n_threads) {
    const ct_config *c = &m->cfg;
    ct_layernorm(rows, c->vision_width, x, m->ln_post_w, m->ln_post_b, tmp, n_threads);
    if (m->vproj_t) ct_gemm(0, 1, rows, c->embed_dim, c->vision_width, 1.f, tmp, c->vision_width, m->vproj, c->vision_width, 0.f, out, c->embed_dim, n_threads);
    else ct_gemm(0, 0, rows, c->embed_dim, c->vision_width, 1.f, tmp, c->vision_width, m->vproj, c->embed_dim, 0.f, out, c->embed_dim, n_threads);
    ct_l2norm_rows(rows, c->embed_dim, out);
}

ct_status ct_encode_image(const ct_model *m, const float *pixels, int H, int W, int n_threads,
                          ct_image_features *out, ct_error *err) {
    if (!m || !pixels || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_encode_image: NULL argument");
    const ct_config *c = &m->cfg;
    int p = c->patch, D = c->vision_width, heads = c->vision_heads, M = m->vision_mlp;
    if (H <= 0 || W <= 0 || H % p || W % p)
        return ct_fail(err, CT_ERR_INVALID_ARG, "image size %d x %d is not a positive multiple of the patch size %d", H, W, p);
    int h = H / p, w = W / p;
    if ((int64_t)h * w + 1 > CT_MAX_TOKENS)
        return ct_fail(err, CT_ERR_TOO_LARGE, "image %d x %d gives %d patches; the limit is %d", H, W, h * w, CT_MAX_TOKENS - 1);
    int T = 1 + h * w, np = h * w, pp = 3 * p * p;
    if (n_threads <= 0) n_threads = ct_default_threads();

    ct_tf_work wk;
    ct_status st = ct_tf_work_alloc(&wk, T, D, M, T, n_threads, err);
    if (st) return st;
    float *x = ct_alloc((size_t)T * D, sizeof(float));      /* [T x D] residual stream */
    float *patches = ct_alloc((size_t)np * pp, sizeof(float)); /* [hw x 3pp] */
    float *pos = NULL;                                       /* [hw x D] resized position grid */
    float *xc = ct_alloc(D, sizeof(float));                  /* [D] CLS row of the plain model */
    float *tmp = ct_alloc((size_t)T * D, sizeof(float));     /* [T x D] */
    if (!x || !patches || !xc || !tmp) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory for a %d x %d image", H, W); goto done; }

    /* patch embedding: a stride-p convolution is a GEMM over flattened (c, ky, kx) patches */
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            float *dst = patches + ((size_t)i * w + j) * pp;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < p; ky++) {
                    const float *src = pixels + ((size_t)ch * H + (size_t)i * p + ky) * W + (size_t)j * p;
                    memcpy(dst + (ch * p + ky) * p, src, sizeof(float) * p);
                }
        }
    ct_gemm(0, 1, np, D, pp, 1.f, patches, pp, m->patch_w, pp, 0.f, x + D, D, n_threads);
    for (int i = 0; i < D; i++) x[i] = m->class_emb[i] + m->vpos[i];
    const float *pgrid = m->vpos + D;
    if (h != c->grid || w != c->grid) {
        /* the reference's interpolate_pos_encoding: scale factors ((h + 0.1)/g, (w + 0.1)/g) */
        pos = ct_alloc((size_t)np * D, sizeof(float));
        if (!pos) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
        ct_bicubic_grid(c->grid, c->grid, D, pgrid, h, w, (h + 0.1) / c->grid, (w + 0.1) / c->grid, pos);
        pgrid = pos;
    }
    for (size_t i = 0; i < (size_t)np * D; i++) x[D + i] += pgrid[i];
    ct_layernorm(T, D, x, m->ln_pre_w, m->ln_pre_b, x, n_threads);

    int L = c->vision_layers;
    for (int l = 0; l < L - 1; l++) {
        const ct_block *b = &m->vblocks[l];
        ct_tf_qkv(b, T, D, x, &wk);
        if (l == L - 2 && out->corr_raw) {
            st = ct_tf_correlation_map(wk.qkv, T, D, heads, out->corr_raw, n_threads, err);
            if (st) goto done;
        }
        ct_tf_attention(D, heads, 0, T, 0, T, 0, &wk);
        ct_tf_finish(b, 0, T, D, M, x, &wk);
    }
    const ct_block *last = &m->vblocks[L - 1];
    ct_tf_qkv(last, T, D, x, &wk);
    if (out->image_embedding) {
        memcpy(xc, x, sizeof(float) * D);
        ct_tf_attention(D, heads, 0, T, 0, 1, 0, &wk);
        ct_tf_finish(last, 0, 1, D, M, xc, &wk);
        head_out(m, 1, xc, tmp, out->image_embedding, n_threads);
    }
    if (out->img_tokens) {
        ct_tf_selfcorr_attention(D, heads, T, &wk);
        ct_tf_finish(last, 0, T, D, M, x, &wk);
        head_out(m, T, x, tmp, out->img_tokens, n_threads);
    }
    st = ct_ok(err);
done:
    free(x); free(patches); free(pos); free(xc); free(tmp);
    ct_tf_work_free(&wk);
    return st;
}
