/* Pre-LN transformer block pieces shared by the image and text towers, over R rows of width W
 * (MLP width M). Buffers come from the caller's workspace; nothing here allocates. The weights'
 * products go through the caller's linear function (the model's, which packs each weight once:
 * model/model.h), so this layer does not know the model. */
#ifndef CT_NN_TRANSFORMER_H
#define CT_NN_TRANSFORMER_H

#include "nn/gemm.h"

typedef struct {
    const float *ln1_w, *ln1_b;   /* [W] */
    ct_weight qkv;                /* [3W x W]: q, k, v output rows */
    const float *qkv_b;           /* [3W] */
    ct_weight out;                /* [W x W] */
    const float *out_b;           /* [W] */
    const float *ln2_w, *ln2_b;   /* [W] */
    ct_weight fc1;                /* [M x W] (M = MLP width) */
    const float *fc1_b;           /* [M] */
    ct_weight fc2;                /* [W x M] */
    const float *fc2_b;           /* [W] */
} ct_block;

/* y = epilogue(x W^T) for M rows (ctx: the owner of the weights). Returns 0 when out of memory. */
typedef int (*ct_linear_fn)(const void *ctx, const ct_nn *nn, int M, const float *x, int ldx, const ct_weight *w,
                            const ct_epilogue *e, float *y, int ldy);

typedef struct {
    ct_linear_fn linear;
    const void *wctx;   /* the linear function's context */
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
void ct_tf_bind(ct_tf *t, ct_linear_fn linear, const void *wctx, const ct_nn *nn, int R, int W, int M, float *mem);

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
