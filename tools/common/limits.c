/* The cost limits of the tools (see limits.h). */
#include "common/limits.h"
#include "common/files.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

size_t available_memory(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    if (kb) return (size_t)kb * 1024;
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
}

int cost_check(const ct_model *m, int H, int W, int n_names, const ct_segment_params *sp, int with_intermediates, int no_limits,
               ct_error *err) {
    ct_segment_cost_info c;
    if (ct_segment_cost(m, H, W, n_names, sp, with_intermediates, &c, err)) return 0;
    if (no_limits) return 1;
    int cliptrase = sp->head == CT_HEAD_CLIPTRASE;
    const char *lower = cliptrase ? "a larger --eps or --min-samples (fewer clusters) or a smaller --size"
                        : sp->slide_crop ? "a larger window stride (--slide CROP,STRIDE), --slide 0 or a smaller --size"
                                         : "a smaller --size or fewer --pamr steps";
    size_t avail = available_memory();
    if (avail && c.bytes > avail)
        return fail_msg(err, CT_ERR_TOO_LARGE,
                        "segmenting %d x %d (width x height) would take about %.1f GB of memory and %.1f GB is available: use %s, or "
                        "--no-limits to run it anyway",
                        W, H, (double)c.bytes / 1e9, (double)avail / 1e9, lower);
    if (c.total_ops > LIMIT_OPS)
        return fail_msg(err, CT_ERR_TOO_LARGE,
                        "segmenting %d x %d (width x height) is about %.2g operations (%d encoder pass%s%s), above the limit of %.0g "
                        "(minutes of work): use %s, or --no-limits to run it anyway",
                        W, H, c.total_ops, c.n_windows, c.n_windows == 1 ? "" : "es", cliptrase ? ", the clusters' maps and median filters" : "",
                        LIMIT_OPS, lower);
    return 1;
}
