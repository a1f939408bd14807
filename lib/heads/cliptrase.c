/* CLIPtrase (Shao et al. 2024): x + O(softmax(s qq^T) + softmax(s kk^T) + softmax(s vv^T)) + MLP
 * on the whole image; block L-1's correlation map drives the cluster vote (seg/cliptrase.c,
 * docs/algorithm.md). Its preset is the default parameters. */
#include "heads/head.h"

static const ct_attn_spec k_spec = {.n_streams = 3, .x = {CT_Q, CT_K, CT_V}, .y = {CT_Q, CT_K, CT_V}};

static void preset(ct_segment_params *p) { (void)p; }

const ct_head_desc ct_head_cliptrase = {
    .id = CT_HEAD_CLIPTRASE, .name = "cliptrase", .post = CT_POST_VOTE, .needs_corr = 1, .tokens_cls = 1,
    .preset = preset, .attn = &k_spec, .residual = 1, .mlp = 1,
};
