/* SCLIP (Wang et al. 2023): x + O(softmax(s qq^T) + softmax(s kk^T)) + MLP (docs/heads.md).
 * Preset: SCLIP's CLIPForSegmentation, logit scale 40, window 224 / stride 112, no PAMR. */
#include "heads/head.h"

static const ct_attn_spec k_spec = {.n_streams = 2, .x = {CT_Q, CT_K}, .y = {CT_Q, CT_K}};

static void preset(ct_segment_params *p) {
    p->logit_scale = 40.f; p->slide_crop = 224; p->slide_stride = 112;
}

const ct_head_desc ct_head_sclip = {
    .id = CT_HEAD_SCLIP, .name = "sclip", .post = CT_POST_MMSEG, .tokens_cls = 1,
    .preset = preset, .attn = &k_spec, .residual = 1, .mlp = 1,
};
