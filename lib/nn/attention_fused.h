/* The fused attention kernel (attention_fused.c; attention.h describes the math): whether it
 * applies to a spec, its workspace and the call. ct_attention (attention.c) dispatches here; the
 * kernel itself uses only the spec type and the micro-kernels. */
#ifndef CT_NN_ATTENTION_FUSED_H
#define CT_NN_ATTENTION_FUSED_H

#include "nn/attention.h"

int ct_attention_fused_ok(const ct_nn *nn, const ct_attn_spec *sp, int W, int heads);
/* Bytes of the fused kernel's workspace (sp applicable: ct_attention_fused_ok). */
size_t ct_attention_fused_workspace(const ct_nn *nn, const ct_attn_spec *sp, int B, int T, int W, int heads);
int ct_attention_fused(const ct_nn *nn, const ct_attn_spec *sp, const float *qkv, int B, int T, int W, int heads, int q0, int q1,
                       float *att);

#endif
