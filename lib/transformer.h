/* Pre-LN transformer block pieces shared by the image and text encoders. */
#ifndef CT_TRANSFORMER_H
#define CT_TRANSFORMER_H

#include "model.h"

#define CT_ATTN_CHUNK 256 /* query rows per score block: bounds scores to CHUNK x T floats */

/* Activations for R rows of width W, MLP width M, sequences up to maxlen tokens. */
typedef struct {
    int R, W, M, maxlen, n_threads; /* n_threads: for the row loops (softmax, norms, GELU) */
    float *xn;     /* [R x W]   layer-norm output */
    float *qkv;    /* [R x 3W]  q | k | v, heads contiguous inside each */
    float *att;    /* [R x W]   attention output before out_proj */
    float *hid;    /* [R x max(M, W)] MLP hidden / out_proj result */
    float *scores; /* [2 x CHUNK x maxlen]: scores and the CLIPtrase sum */
} ct_tf_work;

ct_status ct_tf_work_alloc(ct_tf_work *w, int R, int W, int M, int maxlen, int n_threads, ct_error *err);
void ct_tf_work_free(ct_tf_work *w);

/* w->qkv = LN1(x) @ [Wq; Wk; Wv]^T + b for R rows. */
void ct_tf_qkv(const ct_block *b, int R, int W, const float *x, ct_tf_work *w);
/* Ordinary multi-head attention of one sequence (rows [row0, row0+L) of w->qkv) into w->att,
 * for query rows [q0, q1) only. causal: position i sees keys 0..i. */
void ct_tf_attention(int W, int heads, int row0, int L, int q0, int q1, int causal, ct_tf_work *w);
/* CLIPtrase attention: softmax(qq^T s) + softmax(kk^T s) + softmax(vv^T s), applied to v. */
void ct_tf_selfcorr_attention(int W, int heads, int L, ct_tf_work *w);
/* x += out_proj(att); x += MLP(LN2(x)), for rows [r0, r0+n) (att rows r0.. are used). */
void ct_tf_finish(const ct_block *b, int r0, int n, int W, int M, float *x, ct_tf_work *w);

/* corr [L x L] = mean over heads of (cos(q,q) + cos(k,k) + cos(v,v)) / 3 for one sequence of
 * qkv [L x 3W]: one GEMM over the unit-normalised head segments. */
ct_status ct_tf_correlation_map(const float *qkv, int L, int W, int heads, float *corr, int n_threads, ct_error *err);

#endif
