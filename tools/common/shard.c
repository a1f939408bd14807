/* --shard i/N and --shard auto (a Slurm job array). */
#include "common/shard.h"
#include "common/files.h"
#include "common/text.h"

#include <stdlib.h>
#include <string.h>

/* an integer variable in [lo, hi]; 1 found, 0 absent, -1 malformed (err set) */
static int env_int(const char *name, int lo, int hi, int *out, ct_error *err) {
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    if (parse_int(v, lo, hi, out)) return 1;
    fail_msg(err, CT_ERR_INVALID_ARG, "--shard auto: %s=%s is not a whole number in [%d, %d]", name, v, lo, hi);
    return -1;
}

int shard_parse(const char *arg, int *index, int *count, ct_error *err) {
    if (strcmp(arg, "auto")) {
        const char *slash = strchr(arg, '/');
        char head[32];
        int i, n;
        if (!slash || (size_t)(slash - arg) >= sizeof head)
            return fail_msg(err, CT_ERR_INVALID_ARG, "--shard needs i/N or auto, not '%s'", arg);
        memcpy(head, arg, (size_t)(slash - arg));
        head[slash - arg] = 0;
        if (!parse_int(head, 0, SHARD_MAX - 1, &i) || !parse_int(slash + 1, 1, SHARD_MAX, &n) || i >= n)
            return fail_msg(err, CT_ERR_INVALID_ARG, "--shard needs i/N with 0 <= i < N <= %d, not '%s'", SHARD_MAX, arg);
        *index = i;
        *count = n;
        return 1;
    }
    /* Slurm's indices go up to its MaxArraySize (at most 4000001) */
    const int hi = 1 << 26;
    int id, n, lo = 0, step = 1, max, r;
    if ((r = env_int("SLURM_ARRAY_TASK_ID", 0, hi, &id, err)) <= 0)
        return r ? 0 : fail_msg(err, CT_ERR_INVALID_ARG, "--shard auto: SLURM_ARRAY_TASK_ID is not set (not a task of a Slurm job array: submit with sbatch --array, or give --shard i/N)");
    if ((r = env_int("SLURM_ARRAY_TASK_COUNT", 1, SHARD_MAX, &n, err)) <= 0)
        return r ? 0 : fail_msg(err, CT_ERR_INVALID_ARG, "--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (give --shard i/N)");
    if (env_int("SLURM_ARRAY_TASK_MIN", 0, hi, &lo, err) < 0 || env_int("SLURM_ARRAY_TASK_STEP", 1, hi, &step, err) < 0) return 0;
    if ((r = env_int("SLURM_ARRAY_TASK_MAX", 0, hi, &max, err)) < 0) return 0;
    if (r && (long long)max != (long long)lo + (long long)(n - 1) * step)
        return fail_msg(err, CT_ERR_INVALID_ARG,
                        "--shard auto: the array is not a range of %d tasks (SLURM_ARRAY_TASK_MIN=%d, MAX=%d, STEP=%d, COUNT=%d): submit with --array=0-%d, or give --shard i/N",
                        n, lo, max, step, n, n - 1);
    if (id < lo || (id - lo) % step || (id - lo) / step >= n)
        return fail_msg(err, CT_ERR_INVALID_ARG,
                        "--shard auto: SLURM_ARRAY_TASK_ID=%d is not one of the %d tasks from SLURM_ARRAY_TASK_MIN=%d in steps of %d (SLURM_ARRAY_TASK_COUNT=%d)",
                        id, n, lo, step, n);
    *index = (id - lo) / step;
    *count = n;
    return 1;
}
