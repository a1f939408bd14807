/* ProxyCLIP (Lan et al., ECCV 2024): CLIP's last block attends with the affinities of a proxy
 * backbone's patch features (DINO / DINOv2), on the proxy's grid; windows padded to multiples of
 * 56 (docs/heads.md, ../shared/oracle/heads_proxyclip/README.md). */
#ifndef CT_HEADS_PROXYCLIP_H
#define CT_HEADS_PROXYCLIP_H

#include "model/model.h"

/* ProxyCLIP pads every sliding window to a multiple of this many pixels on both sides. */
#define CT_PROXYCLIP_PAD 56

/* What a ProxyCLIP pass returns besides the logits: counts, and with keep set (by the caller) the
 * arrays below (allocated: free() them). */
typedef struct {
    int keep;
    float *tokens;    /* whole image (slide_crop 0): [ph*pw x E] the head's tokens, L2-normalised */
    float *features;  /* [ph*pw x Dp] the proxy's patch features of the whole image or of window 0 (padded) */
    int ph, pw, dim;  /* the proxy grid of `features`, and its width */
    int n_windows;
    double t_encode;  /* seconds in the two towers */
} ct_proxyclip_out;

/* The checks of the head's parameters and input size, before any work: a proxy that is a DINO /
 * DINOv2 model, beta and gamma in range, an image at least one patch of both models. */
ct_status ct_proxyclip_check(const ct_model *clip, const ct_segment_params *p, int H, int W, ct_error *err);

/* Bytes the pass allocates at most for n_names names (0 on overflow). */
size_t ct_proxyclip_bytes(const ct_model *clip, const ct_segment_params *p, int H, int W, int n_names, int with_outputs);

/* seg_logits [N x H x W]: the windows of p (slide_crop 0: the whole image unpadded), each padded
 * to multiples of 56, the head's cosine logits upsampled to the padded window, cropped back,
 * summed and divided by the count of windows at each pixel. out (optional): the tokens and
 * features above. */
ct_status ct_proxyclip_logits(const ct_model *clip, const ct_nn *nn, const float *pixels, int H, int W, const ct_segment_params *p,
                              const float *class_emb, int N, float *seg_logits, ct_proxyclip_out *out, ct_error *err);

#endif
