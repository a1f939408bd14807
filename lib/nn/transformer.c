/* Transformer block pieces (transformer.h): layer norms, and the four products with their
 * epilogues (bias; QuickGELU or exact GELU after fc1; the residual added by accumulating into x). */
#include "nn/transformer.h"

#include "nn/ops.h"

size_t ct_tf_floats(int R, int W, int M) { return (size_t)R * ((size_t)W * 5 + (size_t)M); }

size_t ct_tf_gemm_bytes(ct_kernel k, int R, int W, int M) {
    /* B packed in the workspace: a weight's first use packs it there (gemm.h) */
    size_t a = ct_gemm_workspace(k, R, 3 * W, W, 0), b = ct_gemm_workspace(k, R, W, M, 0), c = ct_gemm_workspace(k, R, M, W, 0);
    if (c > a) a = c;
    return a > b ? a : b;
}

void ct_tf_bind(ct_tf *t, ct_linear_fn linear, const void *wctx, const ct_nn *nn, int R, int W, int M, float *mem) {
    t->linear = linear;
    t->wctx = wctx;
    t->nn = *nn;
    t->R = R;
    t->W = W;
    t->M = M;
    t->act = CT_ACT_QUICKGELU;
    t->eps = 1e-5f;
    t->xn = mem;
    t->qkv = t->xn + (size_t)R * W;
    t->att = t->qkv + (size_t)R * 3 * W;
    t->hid = t->att + (size_t)R * W;
}

void ct_tf_tower(ct_tf *t, ct_activation act, float eps) {
    t->act = act == CT_ACTIVATION_GELU ? CT_ACT_GELU : CT_ACT_QUICKGELU;
    t->eps = eps;
}

int ct_tf_qkv(ct_tf *t, const ct_block *b, const float *x) {
    ct_layernorm_eps(&t->nn.ex, t->R, t->W, x, t->W, b->ln1_w, b->ln1_b, t->xn, t->W, t->eps);
    ct_epilogue e = {1.f, 0.f, b->qkv_b, CT_ACT_NONE};
    return t->linear(t->wctx, &t->nn, t->R, t->xn, t->W, &b->qkv, &e, t->qkv, 3 * t->W);
}

int ct_tf_out(ct_tf *t, const ct_block *b, const float *att, int n, float *x, int residual) {
    ct_epilogue e = {1.f, residual ? 1.f : 0.f, b->out_b, CT_ACT_NONE};
    return t->linear(t->wctx, &t->nn, n, att, t->W, &b->out, &e, x, t->W);
}

int ct_tf_mlp(ct_tf *t, const ct_block *b, float *x, int n) {
    int W = t->W, M = t->M;
    ct_layernorm_eps(&t->nn.ex, n, W, x, W, b->ln2_w, b->ln2_b, t->xn, W, t->eps);
    ct_epilogue e1 = {1.f, 0.f, b->fc1_b, t->act};
    ct_epilogue e2 = {1.f, 1.f, b->fc2_b, CT_ACT_NONE};
    return t->linear(t->wctx, &t->nn, n, t->xn, W, &b->fc1, &e1, t->hid, M) &&
           t->linear(t->wctx, &t->nn, n, t->hid, M, &b->fc2, &e2, x, W);
}
