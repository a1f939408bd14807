/* The image tower: patch embedding, position grid, the first L-1 blocks (unmodified), what the
 * selected head asks for (the correlation map of block L-1, block outputs kept), and the head's
 * last block (heads/head.h). A batch of B
 * images of the same size (the windows of one picture) runs as one: every product covers the
 * tokens of all of them. */
#ifndef CT_VISION_H
#define CT_VISION_H

#include "model/model.h"

typedef struct {
    const ct_segment_params *p; /* the head (p->head) and its parameters; NULL: the defaults (cliptrase) */
    float *tokens;          /* [B x T x E] the head's tokens after ln_post + proj, L2-normalised, or NULL
                               (a head without tokens_cls leaves row 0 of each image unspecified) */
    float *corr_raw;        /* [T x T] block L-1: head mean of (cos qq + cos kk + cos vv) / 3 (B == 1), or NULL */
    float *image_embedding; /* [B x E] plain CLIP embedding (CLS of the unmodified model), or NULL */
    /* heads with needs_proxy: the proxy backbone's patch features of the B images, [B x ph*pw x
     * proxy_dim] (heads/head.h) */
    const float *proxy;
    int proxy_dim, ph, pw;
    int32_t *patch_mask;    /* [B x h*w] the head's per-patch flags (its mask_name), or NULL */
} ct_vision_out;

/* Bytes of the workspace ct_vision_encode allocates for these shapes on nth threads (0 when
 * they overflow). */
size_t ct_vision_workspace(const ct_model *m, int B, int H, int W, int nth, const ct_vision_out *o);
/* pixels [B x 3 x H x W]; H, W multiples of the patch, at most CT_MAX_PATCHES patches each. */
ct_status ct_vision_encode(const ct_model *m, const ct_nn *nn, const float *pixels, int B, int H, int W, const ct_vision_out *o,
                           ct_error *err);
/* The size check of every image entry point, alone (for callers that validate before heavy
 * work): H x W a positive multiple of the patch, at most CT_MAX_PATCHES patches and
 * CT_MAX_IMAGE_PIXELS pixels (every count of pixels and patches after this fits an int). */
ct_status ct_vision_check(int H, int W, int patch, ct_error *err);

#endif
