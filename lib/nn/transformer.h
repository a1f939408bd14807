/* Pre-LN transformer block pieces shared by the image and text towers, over R rows of width W
 * (MLP width M). Buffers come from the caller's workspace; nothing here allocates. */
#ifndef CT_NN_TRANSFORMER_H
#define CT_NN_TRANSFORMER_H

#include "model/model.h"

typedef struct {
    const ct_model *m;
    ct_nn nn;       /* threads, kernel, GEMM workspace */
    int R, W, M;
    int act;        /* CT_ACT_* after fc1 (ct_tf_bind: QuickGELU; ct_tf_tower sets the tower's) */
    float eps;      /* LayerNorm epsilon (ct_tf_bind: 1e-5) */
    float *xn;      /* [R x W]  layer-norm output */
    float *qkv;     /* [R x 3W] q | k | v, heads contiguous inside each */
    float *att;     /* [R x W]  attention output before out_proj */
    float *hid;     /* [R x M]  MLP hidden */
} ct_tf;

/* Floats of the four activation buffers, and bytes of the GEMM workspace the block needs. */
size_t ct_tf_floats(int R, int W, int M);
size_t ct_tf_gemm_bytes(ct_kernel k, int R, int W, int M);
/* Carve the activation buffers from mem (ct_tf_floats floats). */
void ct_tf_bind(ct_tf *t, const ct_model *m, const ct_nn *nn, int R, int W, int M, float *mem);

/* The tower's MLP activation and LayerNorm epsilon (from the model's configuration). */
void ct_tf_tower(ct_tf *t, ct_activation act, float eps);

/* qkv = LN1(x) [Wq; Wk; Wv]^T + b for all R rows. */
int ct_tf_qkv(ct_tf *t, const ct_block *b, const float *x);
/* n rows: x = (residual ? x : 0) + out_proj(att). */
int ct_tf_out(ct_tf *t, const ct_block *b, const float *att, int n, float *x, int residual);
/* n rows (n <= R): x += fc2(act(fc1(LN2(x)))), with the first n rows of xn and hid as
 * scratch. */
int ct_tf_mlp(ct_tf *t, const ct_block *b, float *x, int n);

#endif
