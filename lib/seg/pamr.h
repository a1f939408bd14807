/* Pixel-adaptive mask refinement (pamr.c). */
#ifndef CT_SEG_PAMR_H
#define CT_SEG_PAMR_H

#include "core/internal.h"
#include "core/runtime.h"

/* ---- PAMR (pamr.c) */

/* Bytes ct_pamr allocates for n_threads threads (0 on overflow). */
size_t ct_pamr_workspace(int H, int W, int n_dil, const int *dil, int n_threads);
/* Pixel-adaptive mask refinement (NACLIP's pamr.py) of n maps [n x H x W], in place, guided by
 * the image img [3 x H x W]. */
ct_status ct_pamr(const ct_exec *ex, const float *img, int H, int W, const int *dil, int n_dil, int steps, float *maps, int n,
                  ct_error *err);

#endif
