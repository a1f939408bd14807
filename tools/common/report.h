/* What the model-running tools write about one segmentation (docs/formats.md): the JSON report of
 * demo --json (and of each ct-batch image), the .npy intermediates of demo --dump, and the share
 * of the picture's pixels each label covers. Written once here, so that a tool's outputs are the
 * demo's byte for byte (the timings aside). Each returns 1, or 0 with err set; every file is
 * written all-or-nothing (common/files.h). */
#ifndef CT_TOOLS_REPORT_H
#define CT_TOOLS_REPORT_H

#include "cliptrase.h"
#include "common/classes.h"
#include "common/options.h"

#include <stddef.h>
#include <stdint.h>

/* share[l] = fraction of the OW x OH labels equal to l (n_labels entries, zeroed here). */
void label_shares(const int32_t *labels, int OW, int OH, int n_labels, double *share);

/* The JSON report: `input` as given, the picture OW x OH, the model input W x H, the call's info,
 * the shares, how many names came from the cache, and the times t[0..4] (start, loaded, classes
 * embedded, segmented, written). path "-": standard output. */
int report_json(const char *path, const char *input, const tool_session *s, const tool_opts *o, int OW, int OH, int W, int H,
                const ct_segment_info *info, const double *share, int n_cached, const double t[5], ct_error *err);

/* Every intermediate as <dir>/<name>.npy (the oracle's names and shapes): pixels [3 x H x W], the
 * class embeddings [n_names x E], the intermediates and the final labels of the model input. */
int report_dump(const char *dir, const float *px, int H, int W, const float *emb, const classes *cl, int E, const ct_intermediates *x,
                const ct_segment_info *info, const ct_segment_params *sp, const int32_t *lab, ct_error *err);

#endif
