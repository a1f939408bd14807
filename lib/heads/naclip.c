/* NACLIP (Hajimiri et al. 2025): O(softmax(s kk^T + G)), G[i,j] = exp(-|pos_i - pos_j|^2 /
 * (2 sigma^2)) over patch grid positions, 0 in the CLS row and column; no residual, no MLP
 * (docs/heads.md). Preset: NACLIP's, logit scale 40, window 224 / stride 112 (its VOC configs
 * use the whole image), PAMR 10 steps with dilations 8 and 16, sigma 5. */
#include "heads/head.h"

static ct_attn_spec spec(float sigma, int h, int w) {
    ct_attn_spec sp = {.n_streams = 1, .x = {CT_K}, .y = {CT_K}, .gauss_sigma = sigma, .grid_h = h, .grid_w = w};
    return sp;
}

static void preset(ct_segment_params *p) {
    p->logit_scale = 40.f; p->slide_crop = 224; p->slide_stride = 112; p->pamr_steps = 10;
}

static ct_status check(const ct_segment_params *p, const ct_config *c, int wh, int ww, ct_error *err) {
    (void)c; (void)wh; (void)ww;
    if (!(p->gaussian_std >= CT_MIN_GAUSSIAN_STD && p->gaussian_std <= CT_MAX_GAUSSIAN_STD))
        return ct_fail(err, CT_ERR_INVALID_ARG, "NACLIP's gaussian std %g must be in [%g, %g] patches", (double)p->gaussian_std,
                       (double)CT_MIN_GAUSSIAN_STD, (double)CT_MAX_GAUSSIAN_STD);
    return CT_OK;
}

static size_t workspace(const ct_head_shape *s, size_t *gemm) {
    ct_attn_spec sp = spec(s->p ? s->p->gaussian_std : 5.f, s->h, s->w);
    size_t g = ct_head_attn_gemm(s, &sp);
    if (g > *gemm) *gemm = g;
    return 0;
}

static int last_block(const ct_head_call *c) {
    ct_attn_spec sp = spec(c->p->gaussian_std, c->h, c->w);
    return ct_head_attn_block(c, &sp, 0, 0);
}

const ct_head_desc ct_head_naclip = {
    .id = CT_HEAD_NACLIP, .name = "naclip", .post = CT_POST_MMSEG, .tokens_cls = 1,
    .preset = preset, .check = check, .workspace = workspace, .last_block = last_block,
};
