/* DBSCAN with scikit-learn's semantics (sklearn.cluster.DBSCAN, metric="euclidean"):
 * neighbours are the points within eps inclusive, the point itself included; a point is core
 * when it has at least min_samples neighbours; clusters are grown from core points taken in index
 * order, so labels are numbered in discovery order and a border point belongs to the first
 * cluster that reaches it; -1 is noise.
 * Distances use the Gram form |a|^2 + |b|^2 - 2 a.b: for each block of rows, one product against
 * the points from the block's first row on (the distance is symmetric, so the upper triangle is
 * enough; the lower half of the neighbour bitset is mirrored afterwards). Pairs whose fp32
 * distance falls within a rounding margin of eps are recomputed exactly in double, as sklearn
 * compares in double. The neighbourhood graph is a bitset (n^2 bits: 2 MiB for 4,096 points). */
#include "seg/seg.h"

#include "core/internal.h"
#include "nn/gemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 256 /* Gram rows per block: bounds scratch to ROWS x n floats */

typedef struct {
    const float *x;
    int n, d;
    double eps2;
    const double *norm2; /* [n] squared norms, in double */
    uint64_t *adj;       /* [n x words] bitset */
    size_t words;
    const float *g;      /* [rows x (n - r0)] Gram block of rows r0.. against points r0.. */
    int r0;
} db_ctx;

/* neighbour bits and counts of rows r0+a for a in [a0, a1): rows are independent */
static double exact_d2(const float *a, const float *b, int d);
static void threshold_rows(void *arg, int64_t a0, int64_t a1) {
    db_ctx *c = arg;
    int n = c->n, nc = n - c->r0;
    for (int64_t a = a0; a < a1; a++) {
        int i = c->r0 + (int)a;
        const float *gr = c->g + (size_t)a * nc;
        uint64_t *row = c->adj + (size_t)i * c->words;
        for (int j = i; j < n; j++) { /* the upper triangle, diagonal included */
            double d2 = c->norm2[i] + c->norm2[j] - 2.0 * gr[j - c->r0];
            /* fp32 dot products carry ~1e-7 relative error of the norms involved */
            double margin = 1e-5 * (c->norm2[i] + c->norm2[j]) + 1e-12;
            int in;
            if (i == j) in = 1;
            else if (d2 < c->eps2 - margin) in = 1;
            else if (d2 > c->eps2 + margin) in = 0;
            else in = exact_d2(c->x + (size_t)i * c->d, c->x + (size_t)j * c->d, c->d) <= c->eps2;
            if (in) row[j >> 6] |= 1ull << (j & 63);
        }
    }
}

/* the lower triangle of the bitset from the upper, then the neighbour counts */
static void mirror_bits(uint64_t *adj, size_t words, int n, int32_t *count) {
    for (int i = 0; i < n; i++) {
        const uint64_t *row = adj + (size_t)i * words;
        size_t wi = (size_t)i >> 6;
        for (size_t w = wi; w < words; w++) {
            uint64_t b = row[w];
            if (w == wi) b = (i & 63) == 63 ? 0 : b & (~0ull << ((i & 63) + 1)); /* j > i only */
            while (b) {
                size_t j = w * 64 + (size_t)__builtin_ctzll(b);
                b &= b - 1;
                adj[j * words + wi] |= 1ull << (i & 63);
            }
        }
    }
    for (int i = 0; i < n; i++) {
        int32_t c = 0;
        for (size_t w = 0; w < words; w++) c += __builtin_popcountll(adj[(size_t)i * words + w]);
        count[i] = c;
    }
}

static double exact_d2(const float *a, const float *b, int d) {
    double s = 0;
    for (int k = 0; k < d; k++) {
        double t = (double)a[k] - (double)b[k];
        s += t * t;
    }
    return s;
}

ct_status ct_dbscan_nn(const ct_nn *nn, const float *x, int n, int d, float eps, int min_samples, int32_t *labels, int *n_clusters,
                       double *t, ct_error *err) {
    double tt[CT_DB_STAGES] = {0}, t0 = ct_seg_cpu_s(), t1;
    if (!x || !labels || n < 0 || d <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_dbscan: bad argument");
    if (!(eps > 0) || !isfinite(eps)) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_dbscan: eps must be a positive number");
    if (min_samples < 1) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_dbscan: min_samples must be >= 1");
    if (n == 0) {
        if (n_clusters) *n_clusters = 0;
        return ct_ok(err);
    }
    size_t words = ((size_t)n + 63) / 64, bits;
    if (!ct_mul_ok(words, (size_t)n, &bits)) return ct_fail(err, CT_ERR_NOMEM, "ct_dbscan: size overflow");
    uint64_t *adj = ct_calloc(bits, sizeof(uint64_t));
    double *norm2 = ct_alloc((size_t)n, sizeof(double));
    float *g = ct_alloc((size_t)ROWS * n, sizeof(float)); /* [ROWS x n] Gram block */
    int32_t *count = ct_calloc((size_t)n, sizeof(int32_t));
    int32_t *stack = ct_alloc((size_t)n, sizeof(int32_t));
    int32_t *lab = ct_alloc((size_t)n, sizeof(int32_t));
    ct_status st = CT_OK;
    if (!adj || !norm2 || !g || !count || !stack || !lab) { st = ct_fail(err, CT_ERR_NOMEM, "ct_dbscan: out of memory for %d points", n); goto done; }
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < d; k++) s += (double)x[(size_t)i * d + k] * x[(size_t)i * d + k];
        if (!isfinite(s)) { st = ct_fail(err, CT_ERR_NONFINITE, "ct_dbscan: point %d is not finite", i); goto done; }
        norm2[i] = s;
    }
    t1 = ct_seg_cpu_s(); tt[CT_DB_NORMS] += t1 - t0; t0 = t1;
    double eps2 = (double)eps * (double)eps;
    for (int r0 = 0; r0 < n; r0 += ROWS) {
        int rn = n - r0 < ROWS ? n - r0 : ROWS, nc = n - r0;
        if (!ct_gemm(nn, 0, 1, rn, nc, d, x + (size_t)r0 * d, d, x + (size_t)r0 * d, d, NULL, g, nc)) {
            st = ct_fail(err, CT_ERR_NOMEM, "ct_dbscan: out of memory");
            goto done;
        }
        t1 = ct_seg_cpu_s(); tt[CT_DB_GRAM] += t1 - t0; t0 = t1;
        db_ctx c = {x, n, d, eps2, norm2, adj, words, g, r0};
        ct_parallel_for(&nn->ex, rn, 1 + 65536 / nc, threshold_rows, &c);
        t1 = ct_seg_cpu_s(); tt[CT_DB_THRESHOLD] += t1 - t0; t0 = t1;
    }
    mirror_bits(adj, words, n, count);
    t1 = ct_seg_cpu_s(); tt[CT_DB_MIRROR] += t1 - t0; t0 = t1;
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
    free(adj); free(norm2); free(g); free(count); free(stack); free(lab);
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
