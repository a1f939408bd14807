/* The median filter (median.c): ct_median_filter's rows, for callers that split the work. */
#ifndef CT_SEG_MEDIAN_H
#define CT_SEG_MEDIAN_H

#include "core/internal.h"

/* ---- median filter (median.c): ct_median_filter's rows, for callers that split the work */

typedef struct ct_median_plan ct_median_plan;
/* The networks of a size x size filter (size in [1, 255]); NULL when out of memory or out of range. */
ct_median_plan *ct_median_plan_new(int size);
void ct_median_plan_free(ct_median_plan *p);
/* int32 scratch of a call filtering `rows` rows of width w. */
size_t ct_median_scratch(const ct_median_plan *p, int w, int rows);
/* Rows [r0, r1) of the median filter of x [h x w] into the same rows of y (y must not overlap x).
 * Returns nonzero when a value read was NaN (the rows are then unspecified). */
int ct_median_rows(const ct_median_plan *p, const float *x, int h, int w, int r0, int r1, float *y, int32_t *scratch);

#endif
