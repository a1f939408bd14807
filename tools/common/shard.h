/* Shards of a batch (ct-eval, ct-batch): `--shard i/N` takes items i, i+N, i+2N, ... of the list;
 * `--shard auto` reads i and N from a Slurm job array:
 *   N = $SLURM_ARRAY_TASK_COUNT, i = ($SLURM_ARRAY_TASK_ID - $SLURM_ARRAY_TASK_MIN) / step,
 * where $SLURM_ARRAY_TASK_MIN defaults to 0 and step is $SLURM_ARRAY_TASK_STEP (default 1). When
 * $SLURM_ARRAY_TASK_MAX is set it must equal MIN + (N - 1) x step: an array given as a list
 * (--array=0,3,7) has no dense index and is refused, as are absent, malformed or inconsistent
 * variables (a usage error that names the variable). */
#ifndef CT_TOOLS_SHARD_H
#define CT_TOOLS_SHARD_H

#include "cliptrase.h"

/* The most shards. */
#define SHARD_MAX (1 << 20)

/* Parse "i/N" (0 <= i < N <= SHARD_MAX) or "auto" (the environment above). 1, or 0 with err. */
int shard_parse(const char *arg, int *index, int *count, ct_error *err);

#endif
