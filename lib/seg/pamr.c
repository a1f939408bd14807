/* PAMR, pixel-adaptive mask refinement (Araslanov & Roth 2020, as NACLIP's pamr.py runs it), on
 * the normalised pixels img [3 x H x W]:
 *   neighbours: for each dilation d (in the order given), the 8 offsets d * {-1,0,1}^2 minus the
 *   centre in the reference's kernel order (-d,-d) (-d,0) (-d,d) (0,-d) (0,d) (d,-d) (d,0) (d,d);
 *   coordinates outside the image are clamped (replicate padding);
 *   std_c(p): unbiased standard deviation of channel c over the 3 x 3 neighbourhoods of every
 *   dilation (9 x n_dil values, the centre once per dilation);
 *   a(p, n) = softmax over n of mean over c of -|x_c(p) - x_c(p + off_n)| / (1e-8 + 0.1 std_c(p));
 *   steps times: m(p) = sum over n of a(p, n) m(p + off_n), for every map.
 * Memory: the affinities [8 n_dil x H x W] and, per thread, one copy of the map it is refining
 * (rows padded by the clamped horizontal offset); the maps are refined in place, one map at a time
 * per thread through all the steps (the reference holds 8 n_dil copies of every map: it runs out
 * of memory on large images). Maps are split over the threads; inside a step the product runs
 * along x over contiguous rows (vectorised). */
#include "seg/seg.h"

#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int k_dy[8] = {-1, -1, -1, 0, 0, 1, 1, 1};
static const int k_dx[8] = {-1, 0, 1, -1, 1, -1, 0, 1};

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* the largest horizontal offset that still matters (beyond the image every offset clamps alike) */
static int pad_x(int W, const int *dil, int nd) {
    int D = 0;
    for (int i = 0; i < nd; i++) D = dil[i] > D ? dil[i] : D;
    return D < W - 1 ? D : W - 1;
}

size_t ct_pamr_workspace(int H, int W, int nd, const int *dil, int n_threads) {
    size_t HW = (size_t)H * W, PW = (size_t)W + 2 * (size_t)pad_x(W, dil, nd);
    double b = 4.0 * 8.0 * nd * (double)HW + 4.0 * (n_threads > 0 ? n_threads : 1) * (double)H * (double)PW + 64.0 * nd;
    return b < (double)(SIZE_MAX / 2) ? (size_t)b : 0;
}

typedef struct {
    const float *img;
    int H, W, nd, K;
    const int *dil;
    float *aff; /* [K x H x W] */
} aff_job;

static void affinity_rows(void *arg, int64_t y0, int64_t y1) {
    aff_job *j = arg;
    int H = j->H, W = j->W, nd = j->nd, K = j->K;
    size_t HW = (size_t)H * W;
    float a[8 * CT_MAX_DILATIONS];
    for (int64_t y = y0; y < y1; y++)
        for (int x = 0; x < W; x++) {
            for (int n = 0; n < K; n++) a[n] = 0.f;
            for (int c = 0; c < 3; c++) {
                const float *im = j->img + (size_t)c * HW;
                float xc = im[(size_t)y * W + x];
                /* the 9 values of each dilation's neighbourhood, in double (two passes) */
                double s = 0, ss = 0;
                for (int i = 0; i < nd; i++)
                    for (int ky = -1; ky <= 1; ky++)
                        for (int kx = -1; kx <= 1; kx++)
                            s += im[(size_t)clampi((int)y + ky * j->dil[i], 0, H - 1) * W + clampi(x + kx * j->dil[i], 0, W - 1)];
                double mean = s / (9.0 * nd);
                for (int i = 0; i < nd; i++)
                    for (int ky = -1; ky <= 1; ky++)
                        for (int kx = -1; kx <= 1; kx++) {
                            double d = im[(size_t)clampi((int)y + ky * j->dil[i], 0, H - 1) * W + clampi(x + kx * j->dil[i], 0, W - 1)] - mean;
                            ss += d * d;
                        }
                float den = 1e-8f + 0.1f * (float)sqrt(ss / (9.0 * nd - 1.0));
                for (int i = 0; i < nd; i++)
                    for (int k = 0; k < 8; k++) {
                        float nb = im[(size_t)clampi((int)y + k_dy[k] * j->dil[i], 0, H - 1) * W + clampi(x + k_dx[k] * j->dil[i], 0, W - 1)];
                        a[i * 8 + k] += -fabsf(xc - nb) / den;
                    }
            }
            /* mean over the channels, softmax over the neighbours */
            float mx = -INFINITY;
            for (int n = 0; n < K; n++) {
                a[n] /= 3.f;
                mx = a[n] > mx ? a[n] : mx;
            }
            float sum = 0.f;
            for (int n = 0; n < K; n++) {
                a[n] = expf(a[n] - mx);
                sum += a[n];
            }
            for (int n = 0; n < K; n++) j->aff[(size_t)n * HW + (size_t)y * W + x] = a[n] / sum;
        }
}

typedef struct {
    const float *aff;
    int H, W, K, PX, steps, n;
    int dy[8 * CT_MAX_DILATIONS], dx[8 * CT_MAX_DILATIONS]; /* offsets, dx clamped to [-PX, PX] */
    float *maps, *scratch; /* scratch: [threads x H x (W + 2 PX)] */
} prop_job;

#define XCHUNK 64

/* one output row: o[x] = sum_n a_n[x] * src_n[x], accumulated in neighbour order */
CT_VECTOR_CLONES static void prop_row(int K, int W, const float *const *a, const float *const *src, float *restrict o) {
    for (int x0 = 0; x0 < W; x0 += XCHUNK) {
        int nx = W - x0 < XCHUNK ? W - x0 : XCHUNK;
        float acc[XCHUNK];
        for (int x = 0; x < nx; x++) acc[x] = 0.f;
        for (int n = 0; n < K; n++) {
            const float *restrict an = a[n] + x0, *restrict sn = src[n] + x0;
            for (int x = 0; x < nx; x++) acc[x] += an[x] * sn[x];
        }
        memcpy(o + x0, acc, sizeof(float) * (size_t)nx);
    }
}

static void prop_task(void *arg, ct_team *team, int tid, int nth) {
    (void)team;
    prop_job *j = arg;
    int H = j->H, W = j->W, K = j->K, PX = j->PX, PW = W + 2 * PX;
    size_t HW = (size_t)H * W;
    float *old = j->scratch + (size_t)tid * H * PW;
    int64_t c0, c1;
    ct_split(j->n, tid, nth, &c0, &c1);
    const float *a[8 * CT_MAX_DILATIONS], *src[8 * CT_MAX_DILATIONS];
    for (int64_t c = c0; c < c1; c++) {
        float *m = j->maps + (size_t)c * HW;
        for (int s = 0; s < j->steps; s++) {
            /* the map before this step, rows padded by replicating their ends */
            for (int y = 0; y < H; y++) {
                float *r = old + (size_t)y * PW;
                const float *mr = m + (size_t)y * W;
                for (int x = 0; x < PX; x++) r[x] = mr[0];
                memcpy(r + PX, mr, sizeof(float) * W);
                for (int x = 0; x < PX; x++) r[PX + W + x] = mr[W - 1];
            }
            for (int y = 0; y < H; y++) {
                for (int n = 0; n < K; n++) {
                    a[n] = j->aff + (size_t)n * HW + (size_t)y * W;
                    src[n] = old + (size_t)clampi(y + j->dy[n], 0, H - 1) * PW + PX + j->dx[n];
                }
                prop_row(K, W, a, src, m + (size_t)y * W);
            }
        }
    }
}

ct_status ct_pamr(const ct_exec *ex, const float *img, int H, int W, const int *dil, int nd, int steps, float *maps, int n,
                  ct_error *err) {
    if (!img || !dil || !maps || H <= 0 || W <= 0 || n <= 0 || nd < 1 || nd > CT_MAX_DILATIONS || steps < 0)
        return ct_fail(err, CT_ERR_INVALID_ARG, "ct_pamr: bad arguments");
    for (int i = 0; i < nd; i++)
        if (dil[i] <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "PAMR dilation %d is not positive", dil[i]);
    if (steps == 0) return ct_ok(err);
    int K = 8 * nd, PX = pad_x(W, dil, nd), nth = ex ? ex->nth : 1;
    if (nth > n) nth = n;
    size_t HW = (size_t)H * W;
    float *aff = ct_alloc(HW * (size_t)K, sizeof(float));
    float *scratch = ct_alloc((size_t)nth * H * ((size_t)W + 2 * (size_t)PX), sizeof(float));
    if (!aff || !scratch) {
        free(aff); free(scratch);
        return ct_fail(err, CT_ERR_NOMEM, "out of memory for PAMR of a %d x %d image", H, W);
    }
    aff_job aj = {img, H, W, nd, K, dil, aff};
    ct_parallel_for(ex, H, 4, affinity_rows, &aj);
    prop_job pj = {.aff = aff, .H = H, .W = W, .K = K, .PX = PX, .steps = steps, .n = n, .maps = maps, .scratch = scratch};
    for (int i = 0; i < nd; i++)
        for (int k = 0; k < 8; k++) {
            /* offsets beyond the image side clamp like the side itself */
            pj.dy[i * 8 + k] = clampi(k_dy[k] * dil[i], -H, H);
            pj.dx[i * 8 + k] = clampi(k_dx[k] * dil[i], -PX, PX);
        }
    ct_exec e = ex ? *ex : ct_exec_serial();
    e.nth = nth;
    ct_run(&e, prop_task, &pj);
    free(aff);
    free(scratch);
    return ct_ok(err);
}
