/* Transformer block pieces. Matrix products go through ct_gemm; attention is processed in
 * blocks of CT_ATTN_CHUNK query rows so that no T x T matrix is ever held per head. */
#include "transformer.h"

#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

ct_status ct_tf_work_alloc(ct_tf_work *w, int R, int W, int M, int maxlen, int n_threads, ct_error *err) {
    memset(w, 0, sizeof *w);
    w->R = R; w->W = W; w->M = M; w->maxlen = maxlen;
    w->n_threads = n_threads < 1 ? 1 : n_threads;
    size_t hidw = (size_t)(M > W ? M : W);
    size_t ns;
    if (!ct_size3(1, 2 * CT_ATTN_CHUNK, (size_t)maxlen, 1, &ns))
        return ct_fail(err, CT_ERR_NOMEM, "attention scratch size overflows");
    w->xn = ct_alloc((size_t)R * W, sizeof(float));
    w->qkv = ct_alloc((size_t)R * 3 * W, sizeof(float));
    w->att = ct_alloc((size_t)R * W, sizeof(float));
    w->hid = ct_alloc((size_t)R * hidw, sizeof(float));
    w->scores = ct_alloc(ns, sizeof(float));
    if (!w->xn || !w->qkv || !w->att || !w->hid || !w->scores) {
        ct_tf_work_free(w);
        return ct_fail(err, CT_ERR_NOMEM, "out of memory for activations (%d rows x %d)", R, W);
    }
    return CT_OK;
}

void ct_tf_work_free(ct_tf_work *w) {
    free(w->xn); free(w->qkv); free(w->att); free(w->hid); free(w->scores);
    memset(w, 0, sizeof *w);
}

void ct_tf_qkv(const ct_block *b, int R, int W, const float *x, ct_tf_work *w) {
    ct_layernorm(R, W, x, b->ln1_w, b->ln1_b, w->xn, w->n_threads);
    if (b->qkv_packed) {
        ct_linear(R, 3 * W, W, w->xn, W, b->q_w, W, b->q_b, w->qkv, 3 * W, w->n_threads);
    } else {
        ct_linear(R, W, W, w->xn, W, b->q_w, W, b->q_b, w->qkv, 3 * W, w->n_threads);
        ct_linear(R, W, W, w->xn, W, b->k_w, W, b->k_b, w->qkv + W, 3 * W, w->n_threads);
        ct_linear(R, W, W, w->xn, W, b->v_w, W, b->v_b, w->qkv + 2 * W, 3 * W, w->n_threads);
    }
}

void ct_tf_attention(int W, int heads, int row0, int L, int q0, int q1, int causal, ct_tf_work *w) {
    int hd = W / heads, ld = 3 * W;
    float scale = 1.f / sqrtf((float)hd);
    float *S = w->scores; /* [CHUNK x L] */
    const float *base = w->qkv + (size_t)row0 * ld;
    for (int h = 0; h < heads; h++) {
        const float *Q = base + h * hd, *K = base + W + h * hd, *V = base + 2 * W + h * hd;
        for (int c0 = q0; c0 < q1; c0 += CT_ATTN_CHUNK) {
            int cn = q1 - c0 < CT_ATTN_CHUNK ? q1 - c0 : CT_ATTN_CHUNK;
            /* causal rows only need keys up to their own position */
            int nk = causal ? c0 + cn : L;
            ct_gemm(0, 1, cn, nk, hd, scale, Q + (size_t)c0 * ld, ld, K, ld, 0.f, S, nk, w->n_threads);
            if (causal)
                for (int i = 0; i < cn; i++)
                    for (int j = c0 + i + 1; j < nk; j++) S[(size_t)i * nk + j] = -INFINITY;
            ct_softmax_rows(cn, nk, S, nk, w->n_threads);
            ct_gemm(0, 0, cn, hd, nk, 1.f, S, nk, V, ld, 0.f, w->att + (size_t)(row0 + c0) * W + h * hd, W, w->n_threads);
        }
    }
}

void ct_tf_selfcorr_attention(int W, int heads, int L, ct_tf_work *w) {
    int hd = W / heads, ld = 3 * W;
    float scale = 1.f / sqrtf((float)hd);
    float *S = w->scores, *Acc = w->scores + (size_t)CT_ATTN_CHUNK * L; /* [CHUNK x L] each */
    for (int h = 0; h < heads; h++) {
        const float *V = w->qkv + 2 * W + h * hd;
        for (int c0 = 0; c0 < L; c0 += CT_ATTN_CHUNK) {
            int cn = L - c0 < CT_ATTN_CHUNK ? L - c0 : CT_ATTN_CHUNK;
            for (int which = 0; which < 3; which++) {
                const float *X = w->qkv + which * W + h * hd; /* q, k or v of this head */
                float *dst = which == 0 ? Acc : S;
                ct_gemm(0, 1, cn, L, hd, scale, X + (size_t)c0 * ld, ld, X, ld, 0.f, dst, L, w->n_threads);
                ct_softmax_rows(cn, L, dst, L, w->n_threads);
                if (which) {
                    size_t n = (size_t)cn * L;
                    for (size_t i = 0; i < n; i++) Acc[i] += S[i];
                }
            }
            ct_gemm(0, 0, cn, hd, L, 1.f, Acc, L, V, ld, 0.f, w->att + (size_t)c0 * W + h * hd, W, w->n_threads);
        }
    }
}

void ct_tf_finish(const ct_block *b, int r0, int n, int W, int M, float *x, ct_tf_work *w) {
    float *xr = x + (size_t)r0 * W;
    float *tmp = w->hid + (size_t)r0 * (M > W ? M : W);
    ct_linear(n, W, W, w->att + (size_t)r0 * W, W, b->out_w, W, b->out_b, tmp, W, w->n_threads);
    size_t nw = (size_t)n * W;
    for (size_t i = 0; i < nw; i++) xr[i] += tmp[i];
    float *xn = w->xn + (size_t)r0 * W;
    ct_layernorm(n, W, xr, b->ln2_w, b->ln2_b, xn, w->n_threads);
    ct_linear(n, M, W, xn, W, b->fc1_w, W, b->fc1_b, tmp, M, w->n_threads);
    ct_quick_gelu((size_t)n * M, tmp, w->n_threads);
    /* the second MLP product accumulates straight into the residual stream */
    ct_gemm(0, 1, n, W, M, 1.f, tmp, M, b->fc2_w, M, 1.f, xr, W, w->n_threads);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < W; j++) xr[(size_t)i * W + j] += b->fc2_b[j];
}

/* corr [T x T] = sum over heads and q/k/v of cosine similarities / (3 * heads). */
ct_status ct_tf_correlation_map(const float *qkv, int T, int W, int heads, float *corr, int n_threads, ct_error *err) {
    int hd = W / heads;
    float *nm = ct_alloc((size_t)T * 3 * W, sizeof(float)); /* [T x 3W] unit-norm head segments */
    if (!nm) return ct_fail(err, CT_ERR_NOMEM, "out of memory for the correlation map");
    for (int t = 0; t < T; t++)
        for (int s = 0; s < 3 * heads; s++) {
            const float *src = qkv + (size_t)t * 3 * W + (size_t)s * hd;
            float *dst = nm + (size_t)t * 3 * W + (size_t)s * hd;
            double ss = 0;
            for (int i = 0; i < hd; i++) ss += (double)src[i] * src[i];
            /* torch.cosine_similarity clamps each norm at eps = 1e-8 */
            double n = sqrt(ss);
            float inv = (float)(1.0 / (n > 1e-8 ? n : 1e-8));
            for (int i = 0; i < hd; i++) dst[i] = src[i] * inv;
        }
    ct_gemm(0, 1, T, T, 3 * W, 1.f / (3.f * (float)heads), nm, 3 * W, nm, 3 * W, 0.f, corr, T, n_threads);
    free(nm);
    return CT_OK;
}

