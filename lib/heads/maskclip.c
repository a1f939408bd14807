/* MaskCLIP (Zhou et al. 2022): O(v), the identity attention; no residual, no MLP (docs/heads.md).
 * Preset: ClearCLIP's segmentor (which runs it), logit scale 50, window 448 / stride 224. */
#include "heads/head.h"

static const ct_attn_spec k_spec = {.identity = 1};

static void preset(ct_segment_params *p) {
    p->logit_scale = 50.f; p->slide_crop = 448; p->slide_stride = 224;
}

const ct_head_desc ct_head_maskclip = {
    .id = CT_HEAD_MASKCLIP, .name = "maskclip", .post = CT_POST_MMSEG, .tokens_cls = 1,
    .preset = preset, .attn = &k_spec,
};
