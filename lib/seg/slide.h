/* Sliding-window inference of the mmseg-family heads (slide.c). */
#ifndef CT_SEG_SLIDE_H
#define CT_SEG_SLIDE_H

#include "core/internal.h"
#include "model/model.h"
#include "nn/gemm.h"

/* ---- sliding windows (slide.c) */

/* The references' window grid of an H x W image (SCLIP's / NACLIP's forward_slide): with crop c
 * and stride s, gh = max(H - c + s - 1, 0) / s + 1 windows down (gw across); window (i, j):
 * y1 = i s, y2 = min(y1 + c, H), y1 = max(y2 - c, 0) (x likewise). Every window is wh x ww =
 * min(c, H) x min(c, W): a window larger than the image shrinks to its side. crop 0: the whole
 * image as one window. */
typedef struct {
    int H, W, wh, ww, gh, gw, stride;
    int n;                  /* gh * gw */
} ct_slide_grid;

/* The grid (crop, stride already checked: crop a multiple of the patch or 0, stride in [1, crop]). */
void ct_slide_grid_make(int H, int W, int crop, int stride, ct_slide_grid *g);
/* Top-left corner of window k (row-major: k = i * gw + j). */
void ct_slide_window(const ct_slide_grid *g, int k, int *y1, int *x1);

/* Windows per encoder batch: the largest count whose encoder workspace stays within
 * CT_SLIDE_BATCH_BYTES (at least one window). */
#define CT_SLIDE_BATCH_BYTES ((size_t)256 << 20)
int ct_slide_batch(const ct_model *m, const ct_slide_grid *g, const ct_segment_params *sp);

/* Bytes ct_slide_logits allocates (encoder workspace of one batch, the batch's pixels, tokens and
 * logits, the taps); 0 on overflow. */
size_t ct_slide_workspace(const ct_model *m, const ct_slide_grid *g, const ct_segment_params *sp, int n_names);
/* The encoder workspace of those batches: the model keeps it after the windows (for its next
 * call), so it is still allocated while the logits are refined and classified. */
size_t ct_slide_encoder_workspace(const ct_model *m, const ct_slide_grid *g, const ct_segment_params *sp);

typedef struct {
    int n_windows, n_batches;
    double t_encode;        /* seconds in the encoder */
    size_t workspace_bytes; /* the largest of the call's allocations at once */
} ct_slide_stats;

/* seg_logits [N x H x W]: per window, the cosine logits of the head's patch tokens against
 * class_emb [N x E], bilinearly upsampled (align_corners=False) to the window, summed over the
 * windows and divided by the count of windows covering each pixel. The windows run through the
 * encoder in batches of ct_slide_batch windows (max_batch > 0: at most that many; the result
 * does not depend on it). sp: the head (sp->head) and its parameters. img_tokens [(1+h*w) x E]
 * (optional): the head's tokens when the grid is one window covering the whole image. mask
 * (optional) [n x h*w]: each window's patch_mask (heads with a mask_name). */
ct_status ct_slide_logits(const ct_model *m, const ct_nn *nn, const float *pixels, const ct_slide_grid *g, const ct_segment_params *sp,
                          const float *class_emb, int n_names, int max_batch, float *seg_logits, float *img_tokens, int32_t *mask,
                          ct_slide_stats *stats, ct_error *err);

#endif
