/* CLIP, unmodified: x + O(softmax(s qk^T)) + MLP, for every token (docs/heads.md). No reference
 * publishes a preset for the unmodified model: SCLIP's segmentor (logit scale 40, window 224 /
 * stride 112, no PAMR). */
#include "heads/head.h"

static const ct_attn_spec k_spec = {.n_streams = 1, .x = {CT_Q}, .y = {CT_K}};

static void preset(ct_segment_params *p) {
    p->logit_scale = 40.f; p->slide_crop = 224; p->slide_stride = 112;
}

const ct_head_desc ct_head_clip = {
    .id = CT_HEAD_CLIP, .name = "clip", .post = CT_POST_MMSEG, .tokens_cls = 1,
    .preset = preset, .attn = &k_spec, .residual = 1, .mlp = 1,
};
