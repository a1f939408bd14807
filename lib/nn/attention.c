/* ct_attention (the dispatch to the fused kernel or the reference), the unfused reference
 * attention (attention.h) and the causal attention of short packed text
 * sequences. The reference computes 256 query rows of scores at a time through the GEMM, adds
 * the prior, takes the softmax of each stream and sums them, then multiplies by v. */
#include "nn/attention.h"

#include "nn/attention_fused.h"
#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 256

float ct_gauss_prior(const ct_attn_spec *sp, int i, int j) {
    if (i == 0 || j == 0) return 0.f;
    int yi = (i - 1) / sp->grid_w, xi = (i - 1) % sp->grid_w, yj = (j - 1) / sp->grid_w, xj = (j - 1) % sp->grid_w;
    float d2 = (float)((yi - yj) * (yi - yj) + (xi - xj) * (xi - xj));
    return expf(-d2 / (2.f * sp->gauss_sigma * sp->gauss_sigma));
}

static void identity_att(const float *qkv, int B, int T, int W, int q0, int q1, float *att) {
    for (int b = 0; b < B; b++)
        for (int i = q0; i < q1; i++) {
            size_t r = (size_t)b * T + i;
            memcpy(att + r * W, qkv + r * 3 * W + 2 * W, sizeof(float) * (size_t)W);
        }
}

int ct_attention_reference(const ct_nn *nn, const ct_attn_spec *sp, const float *qkv, int B, int T, int W, int heads, int q0,
                           int q1, float *att) {
    if (sp->identity) {
        identity_att(qkv, B, T, W, q0, q1, att);
        return 1;
    }
    int hd = W / heads, ld = 3 * W;
    float scale = 1.f / sqrtf((float)hd);
    /* the call's workspace when it is large enough (it is, inside the encoders): scores of
     * CHUNK rows for two streams, then the products' packing space */
    size_t sbytes = (size_t)2 * CHUNK * T * sizeof(float), need = ct_attention_reference_workspace(nn, T, W, heads);
    float *own = NULL, *S = nn->ws && nn->ws_bytes >= need ? nn->ws : (own = ct_alloc(need, 1));
    if (!S) return 0;
    float *Acc = S + (size_t)CHUNK * T;
    ct_nn nn1 = *nn;
    nn1.ws = (char *)S + sbytes;
    nn1.ws_bytes = need - sbytes;
    int ok = 1;
    for (int b = 0; b < B && ok; b++)
        for (int h = 0; h < heads && ok; h++) {
            const float *base = qkv + (size_t)b * T * ld + (size_t)h * hd;
            const float *V = base + 2 * W;
            for (int c0 = q0; c0 < q1 && ok; c0 += CHUNK) {
                int cn = q1 - c0 < CHUNK ? q1 - c0 : CHUNK;
                int nk = sp->causal ? c0 + cn : T;
                for (int s = 0; s < sp->n_streams && ok; s++) {
                    float *dst = s == 0 ? Acc : S;
                    ct_epilogue e = {scale, 0.f, NULL, CT_ACT_NONE};
                    ok = ct_gemm(&nn1, 0, 1, cn, nk, hd, base + (size_t)sp->x[s] * W + (size_t)c0 * ld, ld, base + (size_t)sp->y[s] * W, ld,
                                 &e, dst, nk);
                    for (int i = 0; i < cn; i++) {
                        float *row = dst + (size_t)i * nk;
                        if (sp->gauss_sigma > 0)
                            for (int j = 0; j < nk; j++) row[j] += ct_gauss_prior(sp, c0 + i, j);
                        if (sp->causal)
                            for (int j = c0 + i + 1; j < nk; j++) row[j] = -INFINITY;
                    }
                    ct_softmax_rows(&nn->ex, cn, nk, dst, nk);
                    if (s) {
                        size_t n = (size_t)cn * nk;
                        for (size_t i = 0; i < n; i++) Acc[i] += S[i];
                    }
                }
                ct_epilogue e1 = {1.f, 0.f, NULL, CT_ACT_NONE};
                if (ok)
                    ok = ct_gemm(&nn1, 0, 0, cn, hd, nk, Acc, nk, V, ld, &e1, att + ((size_t)b * T + c0) * W + (size_t)h * hd, W);
            }
        }
    free(own);
    return ok;
}

size_t ct_attention_reference_workspace(const ct_nn *nn, int T, int W, int heads) {
    int hd = W / heads, rows = T < CHUNK ? T : CHUNK;
    size_t g1 = ct_gemm_workspace(nn->kernel, rows, T, hd, 0), g2 = ct_gemm_workspace(nn->kernel, rows, hd, T, 0);
    return (size_t)2 * CHUNK * T * sizeof(float) + ((g1 > g2 ? g1 : g2) + 63) / 64 * 64;
}

typedef struct {
    const int *start, *len;
    const float *qkv;
    float *att, *scratch; /* scratch: maxlen floats per thread */
    int W, heads, n, maxlen;
} causal_job;

/* whole short sequences, one at a time: one row of probabilities, no score matrix */
static void causal_task(void *arg, ct_team *team, int tid, int nth) {
    (void)team;
    causal_job *j = arg;
    int W = j->W, hd = W / j->heads, ld = 3 * W;
    float scale = 1.f / sqrtf((float)hd);
    float *p = j->scratch + (size_t)tid * j->maxlen;
    int64_t s0, s1;
    ct_split(j->n, tid, nth, &s0, &s1);
    for (int64_t s = s0; s < s1; s++) {
        const float *base = j->qkv + (size_t)j->start[s] * ld;
        float *ob = j->att + (size_t)j->start[s] * W;
        int L = j->len[s];
        for (int h = 0; h < j->heads; h++)
            for (int i = 0; i < L; i++) {
                const float *q = base + (size_t)i * ld + h * hd;
                float mx = -INFINITY;
                for (int t = 0; t <= i; t++) {
                    const float *k = base + (size_t)t * ld + W + h * hd;
                    float d = 0.f;
                    for (int e = 0; e < hd; e++) d += q[e] * k[e];
                    p[t] = d * scale;
                    mx = p[t] > mx ? p[t] : mx;
                }
                float sum = 0.f;
                for (int t = 0; t <= i; t++) { p[t] = ct_expf(p[t] - mx); sum += p[t]; }
                float inv = 1.f / sum;
                float *o = ob + (size_t)i * W + h * hd;
                for (int e = 0; e < hd; e++) o[e] = 0.f;
                for (int t = 0; t <= i; t++) {
                    const float *v = base + (size_t)t * ld + 2 * W + h * hd;
                    float wt = p[t] * inv;
                    for (int e = 0; e < hd; e++) o[e] += wt * v[e];
                }
            }
    }
}

void ct_attention_causal_packed(const ct_exec *ex, const float *qkv, const int *start, const int *len, int n, int maxlen, int W,
                                int heads, float *scratch, float *att) {
    causal_job j = {start, len, qkv, att, scratch, W, heads, n, maxlen};
    ct_exec e = *ex;
    if (e.nth > n) e.nth = n > 0 ? n : 1;
    ct_run(&e, causal_task, &j);
}

int ct_attention(const ct_nn *nn, const ct_attn_spec *sp, const float *qkv, int B, int T, int W, int heads, int q0, int q1,
                 float *att) {
    /* the fused kernel wherever it applies (Gram sums compute every query row) and this CPU's
     * selection table prefers it */
    if (ct_kernel_fused_attention(nn->kernel) && ct_attention_fused_ok(nn, sp, W, heads) && (sp->n_streams == 1 || (q0 == 0 && q1 == T)))
        return ct_attention_fused(nn, sp, qkv, B, T, W, heads, q0, q1, att);
    return ct_attention_reference(nn, sp, qkv, B, T, W, heads, q0, q1, att);
}

size_t ct_attention_workspace(const ct_nn *nn, const ct_attn_spec *sp, int B, int T, int W, int heads) {
    if (sp->identity) return 0;
    size_t ref = ct_attention_reference_workspace(nn, T, W, heads);
    if (!ct_kernel_fused_attention(nn->kernel) || !ct_attention_fused_ok(nn, sp, W, heads)) return ref; /* as ct_attention */
    size_t fused = ct_attention_fused_workspace(nn, sp, B, T, W, heads);
    /* sums of streams over part of the query rows take the reference (ct_attention) */
    return sp->n_streams > 1 && fused < ref ? ref : fused;
}
