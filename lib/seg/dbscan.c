/* DBSCAN with scikit-learn's semantics (sklearn.cluster.DBSCAN, metric="euclidean"):
 * neighbours are the points within eps inclusive, the point itself included; a point is core
 * when it has at least min_samples neighbours; clusters are grown from core points taken in index
 * order, so labels are numbered in discovery order and a border point belongs to the first
 * cluster that reaches it; -1 is noise.
 * Distances use the Gram form |a|^2 + |b|^2 - 2 a.b, in tiles on and above the diagonal (the
 * distance is symmetric; the lower half of the neighbour bitset is mirrored afterwards, 64 x 64
 * bit blocks transposed). Pairs whose fp32 distance falls within a rounding margin of eps are
 * recomputed exactly in double, as sklearn compares in double. The neighbourhood graph is a
 * bitset (n^2 bits: 2 MiB for 4,096 points).
 * Threads: one region computes the norms, then takes Gram tiles from a counter (each thread runs
 * its tile's product alone and thresholds it at once, the largest tiles first), then mirrors
 * blocks of rows and counts their neighbours; every bit and count is what one thread would
 * compute. The clusters are then grown
 * on one thread (sklearn's order; a scan of the bitset rows of core points, ~0.1 ms for 3,136
 * points). */
#include "seg/dbscan.h"
#include "seg/stage.h"

#include "core/internal.h"
#include "nn/gemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Gram tiles: TILE_R rows against TILE_C columns (multiples of 64: a tile owns whole words of
 * the bitset rows it writes). */
#define TILE_R 128
#define TILE_C 512
/* the dimensions of one product of a tile: longer points are summed in chunks of this many
 * coordinates, so the product's workspace grows with the points of a tile, never with the
 * dimension (2 points of dimension 2^26 once asked for 350 GB) */
#define CHUNK_K 16384

/* the product workspace of a thread: tiles of at most min(n, TILE) rows and columns */
static size_t tile_ws_bytes(ct_kernel k, int n, int d) {
    int rm = n < TILE_R ? n : TILE_R, cm = n < TILE_C ? n : TILE_C, kc = d < CHUNK_K ? d : CHUNK_K;
    return (ct_gemm_workspace(k, rm, cm, kc, 0) + 63) / 64 * 64;
}

typedef struct {
    int r0, c0;
    int64_t area;
} db_tile;

typedef struct {
    const float *x;
    int n, d;
    double eps2;
    ct_kernel kernel;
    double *norm2;       /* [n] squared norms, in double */
    uint64_t *adj;       /* [n x words] bitset */
    size_t words;
    int32_t *count;      /* [n] neighbour counts */
    const db_tile *tile; /* the tiles on and above the diagonal */
    int64_t n_tiles;
    float *g;            /* per thread: [TILE_R x TILE_C] Gram tile */
    char *ws;            /* per thread: the product's workspace */
    size_t ws_bytes;
    int *bad;            /* [nth]: 1 + index of a point that is not finite, or 0 */
    int *nomem;          /* [nth] */
    double *t;           /* [CT_DB_STAGES] stage times (thread 0's view), or NULL */
} db_job;

/* larger tiles first (then in order): the last tiles taken are the small ones */
static int tile_cmp(const void *pa, const void *pb) {
    const db_tile *a = pa, *b = pb;
    if (a->area != b->area) return a->area > b->area ? -1 : 1;
    if (a->r0 != b->r0) return a->r0 < b->r0 ? -1 : 1;
    return (a->c0 > b->c0) - (a->c0 < b->c0);
}

static double exact_d2(const float *a, const float *b, int d) {
    double s = 0;
    for (int k = 0; k < d; k++) {
        double t = (double)a[k] - (double)b[k];
        s += t * t;
    }
    return s;
}

/* neighbour bits of rows r0+a (a < rn) against columns c0 .. c0+cn-1, from the Gram tile g */
static void threshold_tile(const db_job *j, const float *g, int r0, int rn, int c0, int cn) {
    for (int a = 0; a < rn; a++) {
        int i = r0 + a;
        const float *gr = g + (size_t)a * cn - c0;
        uint64_t *row = j->adj + (size_t)i * j->words;
        for (int q = i > c0 ? i : c0; q < c0 + cn; q++) { /* the upper triangle, diagonal included */
            double d2 = j->norm2[i] + j->norm2[q] - 2.0 * gr[q];
            /* fp32 dot products carry ~1e-7 relative error of the norms involved */
            double margin = 1e-5 * (j->norm2[i] + j->norm2[q]) + 1e-12;
            int in;
            if (i == q) in = 1;
            /* an fp32 dot product beyond FLT_MAX (points of norm above ~1e19) is +-inf: d2 is then
             * -inf or +inf whatever the distance, and the exact distance decides (as for NaN) */
            else if (d2 < j->eps2 - margin && d2 > -INFINITY) in = 1;
            else if (d2 > j->eps2 + margin && d2 < INFINITY) in = 0;
            else in = exact_d2(j->x + (size_t)i * j->d, j->x + (size_t)q * j->d, j->d) <= j->eps2;
            if (in) row[q >> 6] |= 1ull << (q & 63);
        }
    }
}

/* 64 x 64 bits: a[r] bit c becomes a[c] bit r */
static void transpose64(uint64_t *a) {
    uint64_t m = 0x00000000FFFFFFFFull;
    for (int j = 32; j != 0; j >>= 1, m ^= m << j)
        for (int k = 0; k < 64; k = ((k | j) + 1) & ~j) {
            uint64_t t = ((a[k] >> j) ^ a[k | j]) & m;
            a[k] ^= t << j;
            a[k | j] ^= t;
        }
}

/* rows of 64-block J, words I <= J: the lower triangle, transposed from the upper one (only
 * rows of block J are written: blocks are independent); then the rows' neighbour counts */
static void mirror_block(const db_job *j, int J) {
    uint64_t a[64];
    int64_t n = j->n;
    for (int64_t I = 0; I <= J; I++) {
        for (int r = 0; r < 64; r++) a[r] = I * 64 + r < n ? j->adj[(size_t)(I * 64 + r) * j->words + J] : 0;
        transpose64(a);
        for (int64_t c = 0; c < 64 && (int64_t)J * 64 + c < n; c++) j->adj[(size_t)((int64_t)J * 64 + c) * j->words + I] |= a[c];
    }
    for (int64_t i = (int64_t)J * 64; i < (int64_t)J * 64 + 64 && i < n; i++) {
        int32_t c = 0;
        for (size_t w = 0; w < j->words; w++) c += __builtin_popcountll(j->adj[(size_t)i * j->words + w]);
        j->count[i] = c;
    }
}

/* One region: norms (static split), Gram tiles and their thresholds (from a counter), the
 * mirror (from a counter), the counts (static split). */
static void db_task(void *arg, ct_team *team, int tid, int nth) {
    db_job *j = arg;
    int n = j->n, d = j->d;
    double t0 = tid == 0 && j->t ? ct_seg_cpu_s() : 0, t1;
    int64_t b, e;
    ct_split(n, tid, nth, &b, &e);
    for (int64_t i = b; i < e; i++) {
        const float *xi = j->x + (size_t)i * d;
        double s = 0;
        for (int k = 0; k < d; k++) s += (double)xi[k] * xi[k];
        if (!isfinite(s) && !j->bad[tid]) j->bad[tid] = (int)i + 1;
        j->norm2[i] = s;
    }
    ct_team_barrier(team);
    for (int t = 0; t < nth; t++)
        if (j->bad[t]) return;
    if (tid == 0 && j->t) { t1 = ct_seg_cpu_s(); j->t[CT_DB_NORMS] += t1 - t0; t0 = t1; }
    ct_nn one = {ct_exec_serial(), j->kernel, j->ws ? j->ws + (size_t)tid * j->ws_bytes : NULL, j->ws_bytes};
    float *g = j->g + (size_t)tid * TILE_R * TILE_C;
    for (int64_t t; (t = ct_team_next(team, 0, 1)) < j->n_tiles;) {
        int r0 = j->tile[t].r0, c0 = j->tile[t].c0;
        int rn = n - r0 < TILE_R ? n - r0 : TILE_R, cn = n - c0 < TILE_C ? n - c0 : TILE_C;
        int ok = 1;
        for (int k0 = 0; ok && k0 < d; k0 += CHUNK_K) { /* g = sum over chunks of the partial products */
            int kc = d - k0 < CHUNK_K ? d - k0 : CHUNK_K;
            ct_epilogue acc = {1.f, k0 ? 1.f : 0.f, NULL, CT_ACT_NONE};
            ok = ct_gemm(&one, 0, 1, rn, cn, kc, j->x + (size_t)r0 * d + k0, d, j->x + (size_t)c0 * d + k0, d, k0 ? &acc : NULL, g, cn);
        }
        if (!ok) j->nomem[tid] = 1;
        else threshold_tile(j, g, r0, rn, c0, cn);
    }
    ct_team_barrier(team);
    if (tid == 0 && j->t) { t1 = ct_seg_cpu_s(); j->t[CT_DB_GRAM] += t1 - t0; t0 = t1; }
    int nb = (int)(((int64_t)n + 63) / 64);
    for (int64_t t; (t = ct_team_next(team, 1, 1)) < nb;) mirror_block(j, nb - 1 - (int)t); /* the longest first */
    if (tid == 0 && j->t) j->t[CT_DB_MIRROR] += ct_seg_cpu_s() - t0;
}

size_t ct_dbscan_bytes(ct_kernel k, int n, int d, int n_threads) {
    int nth = n_threads > 0 ? n_threads : 1;
    double words = ((double)n + 63) / 64;
    double b = 8.0 * words * n + 8.0 * n + 4.0 * nth * TILE_R * TILE_C + (double)nth * (double)tile_ws_bytes(k, n, d) +
               16.0 * ((double)n / TILE_R + 1) * ((double)n / TILE_C + 1) + 8.0 * nth + 12.0 * n;
    return b < (double)(SIZE_MAX / 2) ? (size_t)b : 0;
}

ct_status ct_dbscan_nn(const ct_nn *nn, const float *x, int n, int d, float eps, int min_samples, int32_t *labels, int *n_clusters,
                       double *t, ct_error *err) {
    if (!x || !labels || n < 0 || d <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_dbscan: bad argument");
    if (!(eps > 0) || !isfinite(eps)) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_dbscan: eps must be a positive number");
    if (min_samples < 1) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_dbscan: min_samples must be >= 1");
    if (n == 0) {
        if (n_clusters) *n_clusters = 0;
        return ct_ok(err);
    }
    double tt[CT_DB_STAGES] = {0};
    size_t words = ((size_t)n + 63) / 64, bits;
    if (!ct_mul_ok(words, (size_t)n, &bits)) return ct_fail(err, CT_ERR_NOMEM, "ct_dbscan: size overflow");
    /* 64-bit counts: with n near INT_MAX, r0 + TILE_R and the tile count overflow an int (the
     * allocations then fail) */
    int nth = nn->ex.nth > 0 ? nn->ex.nth : 1;
    int64_t n_tiles = 0;
    for (int64_t r0 = 0; r0 < n; r0 += TILE_R) n_tiles += (n - r0 + TILE_C - 1) / TILE_C;
    size_t ws_bytes = tile_ws_bytes(nn->kernel, n, d);
    uint64_t *adj = ct_calloc(bits, sizeof(uint64_t));
    double *norm2 = ct_alloc((size_t)n, sizeof(double));
    float *g = ct_alloc((size_t)nth * TILE_R * TILE_C, sizeof(float));
    char *ws = ws_bytes ? aligned_alloc(64, (size_t)nth * ws_bytes) : NULL;
    db_tile *tile = ct_alloc((size_t)n_tiles, sizeof(db_tile));
    int *flags = ct_calloc(2 * (size_t)nth, sizeof(int));
    int32_t *count = ct_calloc((size_t)n, sizeof(int32_t));
    int32_t *stack = ct_alloc((size_t)n, sizeof(int32_t));
    int32_t *lab = ct_alloc((size_t)n, sizeof(int32_t));
    ct_status st = CT_OK;
    if (!adj || !norm2 || !g || (ws_bytes && !ws) || !tile || !flags || !count || !stack || !lab) {
        st = ct_fail(err, CT_ERR_NOMEM, "ct_dbscan: out of memory for %d points", n);
        goto done;
    }
    n_tiles = 0;
    for (int64_t r0 = 0; r0 < n; r0 += TILE_R)
        for (int64_t c0 = r0; c0 < n; c0 += TILE_C)
            tile[n_tiles++] = (db_tile){(int)r0, (int)c0, (n - r0 < TILE_R ? n - r0 : TILE_R) * (n - c0 < TILE_C ? n - c0 : TILE_C)};
    qsort(tile, (size_t)n_tiles, sizeof *tile, tile_cmp);
    db_job job = {x, n, d, (double)eps * (double)eps, nn->kernel, norm2, adj, words, count, tile, n_tiles, g, ws, ws_bytes,
                  flags, flags + nth, t ? tt : NULL};
    ct_run(&nn->ex, db_task, &job);
    for (int k = 0; k < nth; k++)
        if (flags[k]) { st = ct_fail(err, CT_ERR_NONFINITE, "ct_dbscan: point %d is not finite", flags[k] - 1); goto done; }
    for (int k = 0; k < nth; k++)
        if (flags[nth + k]) { st = ct_fail(err, CT_ERR_NOMEM, "ct_dbscan: out of memory"); goto done; }
    double t0 = ct_seg_cpu_s();
    for (int i = 0; i < n; i++) lab[i] = -1;
    int nclu = 0;
    for (int i = 0; i < n; i++) {
        if (lab[i] != -1 || count[i] < min_samples) continue;
        /* grow a new cluster from core point i (depth-first, as sklearn's dbscan_inner) */
        int sp = 0;
        lab[i] = nclu;
        stack[sp++] = i;
        while (sp) {
            int p = stack[--sp];
            if (count[p] < min_samples) continue; /* border points do not expand */
            const uint64_t *row = adj + (size_t)p * words;
            for (size_t w = 0; w < words; w++) {
                uint64_t bitsw = row[w];
                while (bitsw) {
                    int j = (int)(w * 64 + (size_t)__builtin_ctzll(bitsw));
                    bitsw &= bitsw - 1;
                    if (lab[j] == -1) { lab[j] = nclu; stack[sp++] = j; }
                }
            }
        }
        nclu++;
    }
    memcpy(labels, lab, sizeof(int32_t) * (size_t)n);
    if (n_clusters) *n_clusters = nclu;
    tt[CT_DB_GROW] += ct_seg_cpu_s() - t0;
    if (t) memcpy(t, tt, sizeof tt);
    st = ct_ok(err);
done:
    free(adj); free(norm2); free(g); free(ws); free(tile); free(flags); free(count); free(stack); free(lab);
    return st;
}

ct_status ct_dbscan(const float *x, int n, int d, float eps, int min_samples, int n_threads, int32_t *labels, int *n_clusters,
                    ct_error *err) {
    ct_nn nn;
    ct_status st = ct_seg_nn_transient(n_threads, &nn, err);
    if (st) return st;
    st = ct_dbscan_nn(&nn, x, n, d, eps, min_samples, labels, n_clusters, NULL, err);
    ct_runtime_free(nn.ex.rt);
    return st;
}
