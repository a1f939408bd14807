/* The DINO (v1) and DINOv2 (with registers, LayerScale) image towers, the proxy backbones of
 * ProxyCLIP (heads/proxyclip.c): patch embedding with bias, CLS (+ registers), the position grid
 * resampled by the backbone's own rule, pre-norm blocks with exact GELU and LayerNorm eps 1e-6,
 * the final norm. One image at a time; everything on the model's kernels, workspace and threads. */
#ifndef CT_VISION_DINO_H
#define CT_VISION_DINO_H

#include "model/model.h"

/* CLIP-normalised pixels [3 x plane] to ImageNet-normalised ones (DINO's input), per channel:
 * ((x std_clip + mean_clip) - mean_in) / std_in. */
void ct_dino_input(const float *clip_pixels, size_t plane, float *out);

/* The patch grid of an H x W input: floor(H / patch) x floor(W / patch) (the convolution drops
 * the remaining rows and columns). CT_ERR_INVALID_ARG when empty, CT_ERR_TOO_LARGE above
 * CT_MAX_PATCHES patches. */
ct_status ct_dino_grid(const ct_model *m, int H, int W, int *h, int *w, ct_error *err);

/* Bytes of the workspace ct_dino_encode takes for an H x W input on nth threads (0: overflow). */
size_t ct_dino_workspace(const ct_model *m, int H, int W, int nth);

/* pixels [3 x H x W] ImageNet-normalised. tokens (or NULL): [(1 + R + h*w) x D] every token after
 * the final norm (CLS, R registers, patches row-major); features (or NULL): [h*w x D] the patch
 * rows alone. */
ct_status ct_dino_encode(const ct_model *m, const ct_nn *nn, const float *pixels, int H, int W, float *tokens, float *features,
                         ct_error *err);

#endif
