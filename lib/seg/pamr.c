/* PAMR, pixel-adaptive mask refinement (Araslanov & Roth 2020, as NACLIP's pamr.py runs it), on
 * the normalised pixels img [3 x H x W]:
 *   neighbours: for each dilation d (in the order given), the 8 offsets d * {-1,0,1}^2 minus the
 *   centre in the reference's kernel order (-d,-d) (-d,0) (-d,d) (0,-d) (0,d) (d,-d) (d,0) (d,d);
 *   coordinates outside the image are clamped (replicate padding);
 *   std_c(p): unbiased standard deviation of channel c over the 3 x 3 neighbourhoods of every
 *   dilation (9 x n_dil values, the centre once per dilation);
 *   a(p, n) = softmax over n of mean over c of -|x_c(p) - x_c(p + off_n)| / (1e-8 + 0.1 std_c(p));
 *   steps times: m(p) = sum over n of a(p, n) m(p + off_n), for every map.
 * Memory: the affinities [8 n_dil x H x W] and, per thread, GROUP ring buffers of 2 D + 1 rows
 * (D the largest dilation, at most the image's rows; rows padded by the clamped horizontal
 * offset): the maps are refined in place, GROUP maps at a time per thread through all the steps
 * (the reference holds 8 n_dil copies of every map: it runs out of memory on large images).
 * Maps are split over the threads; the product runs along x, 16 lanes at a time, and each
 * affinity load serves the GROUP maps. */
#include "seg/pamr.h"

#include "core/arena.h"
#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int k_dy[8] = {-1, -1, -1, 0, 0, 1, 1, 1};
static const int k_dx[8] = {-1, 0, 1, -1, 1, -1, 0, 1};

/* Maps refined together by one thread (each affinity load serves all of them). */
#define GROUP 8
_Static_assert(GROUP == 8, "prop_rows_g has one case for each group size up to GROUP");

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Affinities are stored by rows of 16 pixels: row y, block x / 16, neighbour n, lane x % 16, so
 * that a step reads them as one sequential stream. */
static size_t padded(int W) { return ((size_t)W + 15) / 16 * 16; }
static size_t aff_index(int W, int K, int y, int x, int n) {
    return (((size_t)y * (padded(W) / 16) + (size_t)(x / 16)) * K + n) * 16 + (size_t)(x % 16);
}

/* floats of a ring row: left pad rounded up to 16, the row, right pad, rounded up to 16 */
static size_t ring_stride(int W, int PX) { return padded((int)padded(PX) + W + PX); }

/* the largest horizontal offset that still matters (beyond the image every offset clamps alike) */
static int pad_x(int W, const int *dil, int nd) {
    int D = 0;
    for (int i = 0; i < nd; i++) D = dil[i] > D ? dil[i] : D;
    return D < W - 1 ? D : W - 1;
}

/* ring rows: 2 D + 1 for the largest vertical offset D, at most the image's rows */
static int ring_rows(int H, const int *dil, int nd) {
    int D = 0;
    for (int i = 0; i < nd; i++) D = dil[i] > D ? dil[i] : D;
    return D >= H ? H : 2 * D + 1 < H ? 2 * D + 1 : H;
}

size_t ct_pamr_workspace(int H, int W, int nd, const int *dil, int n_threads) {
    int PX = pad_x(W, dil, nd);
    double b = 4.0 * 8.0 * nd * (double)H * (double)padded(W) +
               4.0 * (n_threads > 0 ? n_threads : 1) * GROUP * (double)ring_rows(H, dil, nd) * (double)ring_stride(W, PX) + 128;
    return b < (double)(SIZE_MAX / 2) ? (size_t)b : 0;
}

typedef struct {
    const float *img;
    int H, W, nd, K;
    const int *dil;
    float *aff; /* [H x W/16 x K x 16] (aff_index) */
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
            for (int n = 0; n < K; n++) j->aff[aff_index(W, K, (int)y, x, n)] = a[n] / sum;
        }
}

typedef struct {
    const float *aff; /* aff_index: the K affinities of 16 pixels together */
    int H, W, K, PX, XL, PW, R, steps, n; /* ring rows: PW floats, pixel 0 at XL (a multiple of 16) */
    int dy[8 * CT_MAX_DILATIONS], dx[8 * CT_MAX_DILATIONS]; /* offsets, dx clamped to [-PX, PX] */
    float *maps;
    float *rings; /* per thread: GROUP rings of R rows */
} prop_job;

/* 16 floats, loaded and stored unaligned (GCC / Clang vector extension: AVX-512, AVX2 or SSE
 * code per clone) */
typedef float v16f __attribute__((vector_size(64), aligned(4), may_alias));

/* One output row of G maps: o[g][x] = sum_n a[n][x] * src[n][g rs + x] with o[g] = o + g os,
 * accumulated in neighbour order (a multiply, then an add: the same arithmetic in every lane and
 * in the scalar tail, so a value depends neither on its position nor on G). The G maps' rings
 * are rs floats apart, so one pointer per neighbour serves them all. */
static inline __attribute__((always_inline)) void prop_rows(int G, int K, int W, const float *a, const float *const *src, size_t rs,
                                                             float *o, size_t os) {
    int x = 0;
    for (; x + 16 <= W; x += 16) {
        v16f acc[GROUP] = {{0}};
        const float *ax = a + (size_t)(x / 16) * K * 16;
        for (int n = 0; n < K; n++) {
            v16f an = *(const v16f *)(ax + (size_t)n * 16);
            const float *sn = src[n] + x;
            for (int g = 0; g < G; g++) acc[g] += an * *(const v16f *)(sn + g * rs);
        }
        for (int g = 0; g < G; g++) *(v16f *)(o + g * os + x) = acc[g];
    }
    for (; x < W; x++)
        for (int g = 0; g < G; g++) {
            float acc = 0.f;
            for (int n = 0; n < K; n++) acc += a[((size_t)(x / 16) * K + n) * 16 + x % 16] * src[n][g * rs + x];
            o[g * os + x] = acc;
        }
}

/* prop_rows with G a constant in each case (the accumulators stay in registers) */
CT_VECTOR_CLONES static void prop_rows_g(int G, int K, int W, const float *a, const float *const *src, size_t rs, float *o, size_t os) {
    switch (G) {
    case 1: prop_rows(1, K, W, a, src, rs, o, os); break;
    case 2: prop_rows(2, K, W, a, src, rs, o, os); break;
    case 3: prop_rows(3, K, W, a, src, rs, o, os); break;
    case 4: prop_rows(4, K, W, a, src, rs, o, os); break;
    case 5: prop_rows(5, K, W, a, src, rs, o, os); break;
    case 6: prop_rows(6, K, W, a, src, rs, o, os); break;
    case 7: prop_rows(7, K, W, a, src, rs, o, os); break;
    default: prop_rows(GROUP, K, W, a, src, rs, o, os); break;
    }
}

/* row r of map m (before this step) into its ring slot, padded by replicating its ends */
static void ring_put(const prop_job *j, float *ring, const float *m, int r) {
    int W = j->W, PX = j->PX;
    float *d = ring + (size_t)(r % j->R) * j->PW + j->XL;
    const float *s = m + (size_t)r * W;
    for (int x = -PX; x < 0; x++) d[x] = s[0];
    memcpy(d, s, sizeof(float) * W);
    for (int x = 0; x < PX; x++) d[W + x] = s[W - 1];
}

/* G consecutive maps through every step, in place: row y is computed from rows y - D .. y + D
 * of the map before the step (D the largest vertical offset), which the map's ring holds: a row
 * enters it D rows before it is overwritten and leaves when no later row needs it. */
static void refine_group(const prop_job *j, float *rings, float *maps, int G) {
    int H = j->H, W = j->W, K = j->K, PW = j->PW, D = (j->R - 1) / 2;
    if (j->R >= H) D = H - 1; /* every row has its own slot */
    size_t rs = (size_t)j->R * PW, HW = (size_t)H * W;
    const float *src[8 * CT_MAX_DILATIONS];
    for (int s = 0; s < j->steps; s++) {
        for (int g = 0; g < G; g++)
            for (int r = 0; r <= D && r < H; r++) ring_put(j, rings + g * rs, maps + g * HW, r);
        for (int y = 0; y < H; y++) {
            if (y > 0 && y + D < H)
                for (int g = 0; g < G; g++) ring_put(j, rings + g * rs, maps + g * HW, y + D);
            for (int n = 0; n < K; n++) src[n] = rings + (size_t)(clampi(y + j->dy[n], 0, H - 1) % j->R) * PW + j->XL + j->dx[n];
            const float *a = j->aff + aff_index(W, K, y, 0, 0);
            float *o = maps + (size_t)y * W;
            prop_rows_g(G, K, W, a, src, rs, o, HW);
        }
    }
}

static void prop_task(void *arg, ct_team *team, int tid, int nth) {
    (void)team;
    prop_job *j = arg;
    size_t HW = (size_t)j->H * j->W;
    float *rings = j->rings + (size_t)tid * GROUP * j->R * j->PW;
    int64_t c0, c1;
    ct_split(j->n, tid, nth, &c0, &c1);
    for (int64_t c = c0; c < c1; c += GROUP) {
        int G = c1 - c < GROUP ? (int)(c1 - c) : GROUP;
        refine_group(j, rings, j->maps + (size_t)c * HW, G);
    }
}

ct_status ct_pamr(const ct_exec *ex, const float *img, int H, int W, const int *dil, int nd, int steps, float *maps, int n,
                  ct_error *err) {
    if (!img || !dil || !maps || H <= 0 || W <= 0 || n <= 0 || nd < 1 || nd > CT_MAX_DILATIONS || steps < 0)
        return ct_fail(err, CT_ERR_INVALID_ARG, "ct_pamr: bad arguments");
    for (int i = 0; i < nd; i++)
        if (dil[i] <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "PAMR dilation %d is not positive", dil[i]);
    if (steps == 0) return ct_ok(err);
    int K = 8 * nd, PX = pad_x(W, dil, nd), R = ring_rows(H, dil, nd), nth = ex ? ex->nth : 1;
    if (nth > n) nth = n;
    /* one 64-byte aligned block: affinities, then the rings (rows aligned too) */
    ct_arena ar = {0};
    size_t o_aff = ct_arena_add_floats(&ar, (size_t)H * padded(W) * (size_t)K);
    size_t o_rings = ct_arena_add_floats(&ar, (size_t)nth * GROUP * R * ring_stride(W, PX));
    void *block = ct_arena_alloc(&ar);
    if (!block) return ct_fail(err, CT_ERR_NOMEM, "out of memory for PAMR of a %d x %d image", W, H);
    float *aff = CT_AT(block, o_aff, float), *rings = CT_AT(block, o_rings, float);
    aff_job aj = {img, H, W, nd, K, dil, aff};
    ct_parallel_for(ex, H, 4, affinity_rows, &aj);
    prop_job pj = {.aff = aff, .H = H, .W = W, .K = K, .PX = PX, .XL = (int)padded(PX), .PW = (int)ring_stride(W, PX), .R = R,
                   .steps = steps, .n = n, .maps = maps, .rings = rings};
    for (int i = 0; i < nd; i++)
        for (int k = 0; k < 8; k++) {
            /* offsets beyond the image side clamp like the side itself */
            pj.dy[i * 8 + k] = clampi(k_dy[k] * dil[i], -H, H);
            pj.dx[i * 8 + k] = clampi(k_dx[k] * dil[i], -PX, PX);
        }
    ct_exec e = ex ? *ex : ct_exec_serial();
    e.nth = nth;
    ct_run(&e, prop_task, &pj);
    free(block);
    return ct_ok(err);
}
