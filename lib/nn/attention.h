/* Attention of the vision and text towers.
 *
 * A spec sums softmax streams: att = sum_s softmax(scale * X_s Y_s^T + G) V per head, where X_s
 * and Y_s are among q, k, v of the block (q k: ordinary attention; q q, k k, v v: the
 * training-free heads), G is NACLIP's Gaussian prior over the patch grid (0 for the CLS token),
 * and `causal` lets position i see keys 0..i. identity: att = v (MaskCLIP).
 *
 * Two implementations: the fused kernel (attention_fused.c: tiles of queries against tiles of
 * keys, online softmax, no score matrix beyond a tile; for Gram streams X = Y two passes over
 * the upper triangle of tiles only) and the unfused reference (attention.c: scores of 256 query
 * rows through the GEMM and a softmax pass), kept for tests and the benchmark. The fused kernel
 * has its own header (attention_fused.h): attention.c dispatches to it, it never calls back. */
#ifndef CT_NN_ATTENTION_H
#define CT_NN_ATTENTION_H

#include "nn/gemm.h"

enum { CT_Q = 0, CT_K = 1, CT_V = 2 };

typedef struct {
    int n_streams;
    int x[3], y[3];     /* CT_Q / CT_K / CT_V */
    int identity;       /* att = v */
    int causal;
    float gauss_sigma;  /* > 0: NACLIP prior over a grid_h x grid_w patch grid after the CLS token */
    int grid_h, grid_w;
    int gram_variant;   /* Gram sums in the fused kernel: 0 by thread count, 1 symmetric, 2 row by row (tests) */
} ct_attn_spec;

/* att [B*T x W] of B sequences of T tokens, qkv [B*T x 3W] (q | k | v, heads of W/heads
 * columns), for the query rows [q0, q1) of every sequence (rows outside are not written). */
int ct_attention(const ct_nn *nn, const ct_attn_spec *sp, const float *qkv, int B, int T, int W, int heads, int q0, int q1,
                 float *att);
/* The unfused reference of the same, and its workspace bytes (it uses nn->ws when that is large
 * enough, else allocates). */
int ct_attention_reference(const ct_nn *nn, const ct_attn_spec *sp, const float *qkv, int B, int T, int W, int heads, int q0,
                           int q1, float *att);
size_t ct_attention_reference_workspace(const ct_nn *nn, int T, int W, int heads);

/* Causal attention of n packed sequences (sequence i: rows start[i] .. start[i]+len[i] of qkv,
 * len[i] <= maxlen); scratch: maxlen floats per thread of ex. */
void ct_attention_causal_packed(const ct_exec *ex, const float *qkv, const int *start, const int *len, int n, int maxlen, int W,
                                int heads, float *scratch, float *att);

/* Workspace bytes ct_attention needs for B sequences of T tokens (it uses nn->ws when that is
 * large enough, else allocates). */
size_t ct_attention_workspace(const ct_nn *nn, const ct_attn_spec *sp, int B, int T, int W, int heads);

/* NACLIP's prior between tokens i and j of a sequence with a CLS token then an h x w grid. */
float ct_gauss_prior(const ct_attn_spec *sp, int i, int j);

#endif
