/* Every head's last-block math, next to the others (docs/heads.md; the exact definitions are
 * the references', as ../shared/oracle/heads/README.md states them). q, k, v are the last
 * block's projections of ln_1(x) per head, s = head_dim^-0.5, O(A) = out_proj(A v). */
#include "heads/heads.h"

#include <math.h>
#include <string.h>

static const ct_head_def k_heads[CT_HEAD_COUNT] = {
    /* CLIPtrase: x + O(softmax(s qq^T) + softmax(s kk^T) + softmax(s vv^T)) + MLP */
    {.head = CT_HEAD_CLIPTRASE, .name = "cliptrase", .attn = {.n_streams = 3, .x = {CT_Q, CT_K, CT_V}, .y = {CT_Q, CT_K, CT_V}},
     .residual = 1, .mlp = 1},
    /* CLIP, unmodified: x + O(softmax(s qk^T)) + MLP */
    {.head = CT_HEAD_CLIP, .name = "clip", .attn = {.n_streams = 1, .x = {CT_Q}, .y = {CT_K}}, .residual = 1, .mlp = 1},
    /* MaskCLIP: O(v), the identity attention; no residual, no MLP */
    {.head = CT_HEAD_MASKCLIP, .name = "maskclip", .attn = {.identity = 1}},
    /* SCLIP: x + O(softmax(s qq^T) + softmax(s kk^T)) + MLP */
    {.head = CT_HEAD_SCLIP, .name = "sclip", .attn = {.n_streams = 2, .x = {CT_Q, CT_K}, .y = {CT_Q, CT_K}}, .residual = 1, .mlp = 1},
    /* ClearCLIP: O(softmax(s qq^T)); no residual, no MLP */
    {.head = CT_HEAD_CLEARCLIP, .name = "clearclip", .attn = {.n_streams = 1, .x = {CT_Q}, .y = {CT_Q}}},
    /* NACLIP: O(softmax(s kk^T + G)), G[i,j] = exp(-|pos_i - pos_j|^2 / (2 sigma^2)) over patch grid
     * positions, 0 in the CLS row and column; no residual, no MLP */
    {.head = CT_HEAD_NACLIP, .name = "naclip", .attn = {.n_streams = 1, .x = {CT_K}, .y = {CT_K}}, .gaussian = 1},
};

const ct_head_def *ct_head_get(ct_head h) { return (unsigned)h < CT_HEAD_COUNT ? &k_heads[h] : NULL; }

const char *ct_head_name(ct_head h) { return (unsigned)h < CT_HEAD_COUNT ? k_heads[h].name : "unknown"; }

ct_status ct_head_parse(const char *name, ct_head *out, ct_error *err) {
    if (!name || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_head_parse: NULL argument");
    for (int i = 0; i < CT_HEAD_COUNT; i++)
        if (!strcmp(name, k_heads[i].name)) {
            *out = (ct_head)i;
            return ct_ok(err);
        }
    return ct_fail(err, CT_ERR_INVALID_ARG, "unknown head '%.64s' (cliptrase, clip, maskclip, sclip, clearclip, naclip)", name);
}

void ct_segment_params_default(ct_segment_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->head = CT_HEAD_CLIPTRASE;
    p->gaussian_std = 5.f;
    p->n_pamr_dilations = 2;
    p->pamr_dilations[0] = 8;
    p->pamr_dilations[1] = 16;
}

/* The presets the references publish for ViT-B/16 (their segmentors' defaults and base configs;
 * ../shared/oracle/classes_mmseg/README.md, docs/heads.md):
 *   sclip: SCLIP's CLIPForSegmentation, logit scale 40, window 224 / stride 112, no PAMR;
 *   clip: the same segmentor (no reference publishes a preset for the unmodified model);
 *   clearclip, maskclip (which ClearCLIP's code runs): ClearCLIPSegmentation, logit scale 50,
 *   window 448 / stride 224, no PAMR;
 *   naclip: NACLIP, logit scale 40, window 224 / stride 112 (its VOC configs use the whole image),
 *   PAMR 10 steps with dilations 8 and 16, sigma 5.
 * prob_thd and area_thd are per dataset (docs/heads.md has the peers' table): 0 here. */
void ct_segment_params_preset_for(ct_segment_params *p, ct_head head, const ct_model *m) {
    ct_segment_params_preset(p, head);
    const ct_config *c = m ? ct_model_config(m) : NULL;
    if (!p || !c || p->slide_crop <= 0 || c->image_size == 224 || c->patch <= 0) return;
    long w = lround((double)p->slide_crop * c->image_size / 224.0 / c->patch) * c->patch;
    if (w < c->patch) w = c->patch;
    if (w > 8192) w = 8192 / c->patch * c->patch;
    p->slide_crop = (int)w;
    p->slide_stride = (int)(w / 2 > 0 ? w / 2 : 1);
}

void ct_segment_params_preset(ct_segment_params *p, ct_head head) {
    if (!p) return;
    ct_segment_params_default(p);
    p->head = head;
    switch (head) {
    case CT_HEAD_CLIP: case CT_HEAD_SCLIP:
        p->logit_scale = 40.f; p->slide_crop = 224; p->slide_stride = 112;
        break;
    case CT_HEAD_MASKCLIP: case CT_HEAD_CLEARCLIP:
        p->logit_scale = 50.f; p->slide_crop = 448; p->slide_stride = 224;
        break;
    case CT_HEAD_NACLIP:
        p->logit_scale = 40.f; p->slide_crop = 224; p->slide_stride = 112; p->pamr_steps = 10;
        break;
    default:
        break;
    }
}
