/* ClearCLIP (Lan et al. 2024): O(softmax(s qq^T)); no residual, no MLP (docs/heads.md).
 * Preset: ClearCLIPSegmentation, logit scale 50, window 448 / stride 224, no PAMR. */
#include "heads/head.h"

static const ct_attn_spec k_spec = {.n_streams = 1, .x = {CT_Q}, .y = {CT_Q}};

static void preset(ct_segment_params *p) {
    p->logit_scale = 50.f; p->slide_crop = 448; p->slide_stride = 224;
}

const ct_head_desc ct_head_clearclip = {
    .id = CT_HEAD_CLEARCLIP, .name = "clearclip", .post = CT_POST_MMSEG, .tokens_cls = 1,
    .preset = preset, .attn = &k_spec,
};
