/* The tools' cost limits (issue 18, item 11): before any work on a picture, the segmentation's
 * estimated memory (ct_segment_memory) and work (ct_segment_cost) are compared with the
 * documented bounds, and a run above them is refused with the estimate and the option that
 * lowers it, unless --no-limits is given. */
#ifndef CT_TOOLS_LIMITS_H
#define CT_TOOLS_LIMITS_H

#include "cliptrase.h"

/* Operations (multiply-adds and their equivalents, ct_segment_cost) above which a run is refused:
 * about two minutes or more on a desktop CPU. A ViT-B/16 whole 448 x 448 picture is ~1.6e11. */
#define LIMIT_OPS 1e13

/* The memory this process may still take: MemAvailable of /proc/meminfo (else the free physical
 * pages), 0 when unknown (then memory is not limited). */
size_t available_memory(void);

/* 1 when the H x W segmentation with these settings is within the bounds (or no_limits), else 0
 * with a one-line message in err naming the estimate, the bound and the options that lower it. */
int cost_check(const ct_model *m, int H, int W, int n_names, const ct_segment_params *sp, int with_intermediates, int no_limits,
               ct_error *err);

#endif
