/* The window driver of the heads whose last block runs on a proxy backbone's grid (needs_proxy:
 * ProxyCLIP, heads/proxyclip.c): sliding windows padded to multiples of 56 (the whole image
 * unpadded), per window the proxy backbone (vision/dino.h) and the CLIP tower up to the last
 * block's v, the head's block, cosine logits upsampled to the padded window and cropped back,
 * averaged over the windows (docs/heads.md, ../shared/oracle/heads_proxyclip/README.md). */
#ifndef CT_SEG_PROXY_H
#define CT_SEG_PROXY_H

#include "model/model.h"

/* ProxyCLIP pads every sliding window to a multiple of this many pixels on both sides. */
#define CT_PROXY_PAD 56

/* What a pass returns besides the logits: counts, and with keep set (by the caller) the arrays
 * below (allocated: free() them). */
typedef struct {
    int keep;
    float *tokens;    /* whole image (slide_crop 0): [ph*pw x E] the head's tokens, L2-normalised */
    float *features;  /* [ph*pw x dim] the proxy's patch features of the whole image or of window 0 (padded) */
    int ph, pw, dim;  /* the proxy grid of `features`, and its width */
    int n_windows;
    double t_encode;  /* seconds in the two towers */
} ct_proxy_out;

/* The image size check of these heads (instead of ct_vision_check: any H x W), before any work:
 * every window (padded) at least one patch of both models, at most CT_MAX_PATCHES patches of
 * either in a window and of CLIP in the image, at most CT_MAX_IMAGE_PIXELS pixels. p->proxy is a
 * DINO / DINOv2 model (the head's check). */
ct_status ct_proxy_check_size(const ct_model *clip, const ct_segment_params *p, int H, int W, ct_error *err);

/* Bytes a pass allocates at most for n_names names (0 on overflow). */
size_t ct_proxy_bytes(const ct_model *clip, const ct_segment_params *p, int H, int W, int n_names, int with_outputs);

/* seg_logits [N x H x W] of head p->head; out (optional): counts, tokens and features. */
ct_status ct_proxy_logits(const ct_model *clip, const ct_nn *nn, const float *pixels, int H, int W, const ct_segment_params *p,
                          const float *class_emb, int N, float *seg_logits, ct_proxy_out *out, ct_error *err);

#endif
