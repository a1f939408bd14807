/* scipy.ndimage.median_filter(x, size, mode="reflect") for 2-D float arrays.
 * The window of side s covers offsets -(s/2) .. s-1-s/2 (scipy's origin 0); the result is the
 * element of rank (s*s)/2 in sorted order (the middle one for odd s); "reflect" mirrors about the
 * edge including the edge sample (d c b a | a b c d | d c b a), periodically for any offset.
 *
 * Values are compared as int32 keys that order floats totally (-0 before +0; NaN is refused), so
 * the result is one well-defined input element whatever the algorithm. For s <= NET_MAX_SIDE the
 * filter runs sorting networks on 16 output columns at once: per output row, each column of s
 * values is sorted once (a network shared by the s windows that hold it), then a merge network
 * of the s sorted columns of a window, pruned to the comparators the median depends on, gives
 * the median. Both networks are Batcher's odd-even merge sort on power-of-two wires, the missing
 * wires being constants (+-infinity) resolved when the plan is made. Larger windows select the
 * median per pixel (Hoare's selection on the keys). */
#include "seg/median.h"

#include <stdlib.h>
#include <string.h>

#define NET_MAX_SIDE 16 /* networks up to 16 x 16 windows (256 wires) */
#define LANES 16
#define MAX_SIDE (1 << 30) /* rows and columns of ct_median_filter */

typedef struct {
    uint16_t lo, hi; /* min to slot lo, max to slot hi */
} cmp_op;

struct ct_median_plan {
    int size, n, k;      /* side, values in a window, rank of the median */
    int net;             /* 1: networks, 0: selection per pixel */
    int n_col, n_merge;
    cmp_op *col, *merge; /* column sort (slots 0..s-1), window merge (slot b*s + a: rank a of column b) */
    int col_rank[NET_MAX_SIDE]; /* slot of rank a after the column network */
    int out;             /* slot of the median after the merge network */
};

/* ---- keys: a float's bits, negative values with their magnitude bits flipped */
static inline int32_t key_of(float f) {
    int32_t b;
    memcpy(&b, &f, 4);
    return b ^ (int32_t)((uint32_t)(b >> 31) >> 1);
}
static inline float float_of(int32_t k) {
    int32_t b = k ^ (int32_t)((uint32_t)(k >> 31) >> 1);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* ---- plans */

enum { PAD_LO = -1, PAD_HI = -2 };

static int pow2_at_least(int x) {
    int p = 1;
    while (p < x) p *= 2;
    return p;
}

/* Batcher's odd-even merge sort on nw wires, from merge width pmin on (the blocks of pmin wires
 * already sorted). state[w]: the slot on wire w or a constant (PAD_LO, PAD_HI); comparators with
 * a constant are resolved here (by moving slots between wires). Writes the comparators of slots
 * to ops (NULL: only counts) and returns their count; state ends as the output wires. */
static int batcher(int nw, int pmin, int *state, cmp_op *ops) {
    int m = 0;
    for (int p = 1; p < nw; p *= 2)
        for (int k = p; k >= 1; k /= 2)
            for (int j = k % p; j + k < nw; j += 2 * k)
                for (int i = 0; i < k && i < nw - j - k; i++) {
                    int a = i + j, b = i + j + k;
                    if (p < pmin || (a / (2 * p)) != (b / (2 * p))) continue;
                    int sa = state[a], sb = state[b];
                    if (sa == PAD_LO || sb == PAD_HI) continue;             /* already in order */
                    if (sa == PAD_HI || sb == PAD_LO) { state[a] = sb; state[b] = sa; continue; } /* swapped */
                    if (ops) ops[m] = (cmp_op){(uint16_t)sa, (uint16_t)sb};
                    m++;
                }
    return m;
}

/* Keep the comparators the slots marked in need (in: outputs, clobbered) depend on. */
static int prune(cmp_op *ops, int m, uint8_t *need) {
    int kept = 0;
    for (int i = m - 1; i >= 0; i--) {
        if (!need[ops[i].lo] && !need[ops[i].hi]) continue;
        need[ops[i].lo] = need[ops[i].hi] = 1;
        ops[m - 1 - kept++] = ops[i];
    }
    memmove(ops, ops + m - kept, sizeof *ops * (size_t)kept);
    return kept;
}

/* The merge network of the s sorted columns of a window with `lo_groups` all-PAD_LO groups:
 * state (nw wires) initialised, returns the wire of the median. */
static int merge_state(int s, int lo_groups, int *state) {
    int G = pow2_at_least(s), nw = G * G, n_lo = 0;
    for (int w = 0; w < nw; w++) {
        int b = w / G, a = w % G;
        if (b < s) state[w] = a < s ? b * s + a : PAD_HI;
        else if (b - s < lo_groups) { state[w] = PAD_LO; n_lo++; }
        else state[w] = PAD_HI;
    }
    return (s * s) / 2 + n_lo;
}

ct_median_plan *ct_median_plan_new(int size) {
    if (size < 1 || size > 255) return NULL;
    ct_median_plan *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->size = size;
    p->n = size * size;
    p->k = p->n / 2;
    p->net = size <= NET_MAX_SIDE;
    if (!p->net) return p;
    int G = pow2_at_least(size), nw = G * G;
    int state[NET_MAX_SIDE * NET_MAX_SIDE];
    uint8_t need[NET_MAX_SIDE * NET_MAX_SIDE];
    /* columns: sort s values (wires s.. are +inf) */
    for (int w = 0; w < G; w++) state[w] = w < size ? w : PAD_HI;
    int nc = batcher(G, 1, state, NULL);
    p->col = ct_alloc((size_t)nc, sizeof(cmp_op));
    /* merge: the count of all-(-inf) groups that leaves the fewest comparators */
    int best = -1, best_m = 0;
    for (int lo = 0; lo <= G - size; lo++) {
        int wire = merge_state(size, lo, state);
        int m = batcher(nw, G, state, NULL);
        cmp_op *ops = ct_alloc((size_t)m, sizeof(cmp_op));
        if (!ops) { best = -1; break; }
        merge_state(size, lo, state);
        batcher(nw, G, state, ops);
        memset(need, 0, sizeof need);
        need[state[wire]] = 1;
        int kept = prune(ops, m, need);
        free(ops);
        if (best < 0 || kept < best_m) { best = lo; best_m = kept; }
    }
    p->merge = best >= 0 ? ct_alloc((size_t)best_m + 1, sizeof(cmp_op)) : NULL;
    if (!p->col || !p->merge) { ct_median_plan_free(p); return NULL; }
    for (int w = 0; w < G; w++) state[w] = w < size ? w : PAD_HI;
    p->n_col = batcher(G, 1, state, p->col);
    for (int a = 0; a < size; a++) p->col_rank[a] = state[a];
    int wire = merge_state(size, best, state);
    int m = batcher(nw, G, state, NULL);
    cmp_op *ops = ct_alloc((size_t)m, sizeof(cmp_op));
    if (!ops) { ct_median_plan_free(p); return NULL; }
    merge_state(size, best, state);
    batcher(nw, G, state, ops);
    p->out = state[wire];
    memset(need, 0, sizeof need);
    need[p->out] = 1;
    p->n_merge = prune(ops, m, need);
    memcpy(p->merge, ops, sizeof *ops * (size_t)p->n_merge);
    free(ops);
    return p;
}

void ct_median_plan_free(ct_median_plan *p) {
    if (!p) return;
    free(p->col);
    free(p->merge);
    free(p);
}

/* ---- rows */

static int reflect(int i, int n) {
    if (n == 1) return 0;
    int p = 2 * n;
    i %= p;
    if (i < 0) i += p;
    return i < n ? i : p - 1 - i;
}

/* padded row length: room for a 16-lane block at any output column, plus the window */
static size_t padded_width(int w, int s) { return ((size_t)(w > LANES ? w : LANES) + (size_t)s - 1 + LANES - 1) / LANES * LANES; }

size_t ct_median_scratch(const ct_median_plan *p, int w, int rows) {
    size_t pw = padded_width(w, p->size);
    /* padded key rows, the sorted columns, the network's slots (or one window) */
    return ((size_t)rows + (size_t)p->size - 1) * pw + (size_t)p->size * pw + (size_t)p->n * LANES + LANES;
}

typedef int32_t v16i __attribute__((vector_size(64), aligned(4), may_alias));

/* the comparators on 16 lanes of each slot */
CT_VECTOR_CLONES static void run_net(v16i *v, const cmp_op *ops, int m) {
    for (int i = 0; i < m; i++) {
        v16i a = v[ops[i].lo], b = v[ops[i].hi], mn, mx;
        for (int l = 0; l < LANES; l++) {
            mn[l] = a[l] < b[l] ? a[l] : b[l];
            mx[l] = a[l] < b[l] ? b[l] : a[l];
        }
        v[ops[i].lo] = mn;
        v[ops[i].hi] = mx;
    }
}

/* k-th smallest of v[0..n) (Hoare's selection; reorders v) */
static int32_t select_k(int32_t *v, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t piv = v[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < piv) i++;
            while (v[j] > piv) j--;
            if (i <= j) { int32_t t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return v[k];
    }
    return v[k];
}

int ct_median_rows(const ct_median_plan *p, const float *x, int h, int w, int r0, int r1, float *y, int32_t *scratch) {
    int s = p->size, half = s / 2, nan = 0;
    size_t pw = padded_width(w, s);
    int32_t *pad = scratch;                                    /* [(r1 - r0 + s - 1) x pw] */
    int32_t *col = pad + ((size_t)(r1 - r0) + s - 1) * pw;      /* [s x pw] */
    int32_t *slots = col + (size_t)s * pw;                      /* [n x 16] */
    slots = (int32_t *)(((uintptr_t)slots + 63) & ~(uintptr_t)63);
    /* the rows the windows of rows r0..r1-1 read, reflected both ways, as keys */
    for (int v = 0; v < r1 - r0 + s - 1; v++) {
        const float *src = x + (size_t)reflect(r0 - half + v, h) * w;
        int32_t *d = pad + (size_t)v * pw;
        for (int c = 0; c < w; c++) {
            nan |= src[c] != src[c];
            d[half + c] = key_of(src[c]);
        }
        for (int c = 0; c < half; c++) d[c] = key_of(src[reflect(c - half, w)]);
        for (int c = w + half; c < w + s - 1; c++) d[c] = key_of(src[reflect(c - half, w)]);
        for (size_t c = (size_t)w + s - 1; c < pw; c++) d[c] = 0;
    }
    v16i *v = (v16i *)slots;
    for (int r = r0; r < r1; r++) {
        const int32_t *win = pad + (size_t)(r - r0) * pw; /* row a of the window: win + a pw */
        float *out = y + (size_t)r * w;
        if (!p->net) {
            for (int c = 0; c < w; c++) {
                int m = 0;
                for (int a = 0; a < s; a++)
                    for (int b = 0; b < s; b++) slots[m++] = win[(size_t)a * pw + c + b];
                out[c] = float_of(select_k(slots, p->n, p->k));
            }
            continue;
        }
        /* every padded column sorted once */
        for (size_t c0 = 0; c0 < pw; c0 += LANES) {
            for (int a = 0; a < s; a++) v[a] = *(const v16i *)(win + (size_t)a * pw + c0);
            run_net(v, p->col, p->n_col);
            for (int a = 0; a < s; a++) *(v16i *)(col + (size_t)a * pw + c0) = v[p->col_rank[a]];
        }
        /* 16 windows at a time: the s sorted columns of each, merged down to the median */
        for (int c0 = 0; c0 < w; c0 += LANES) {
            int x0 = c0 + LANES <= w ? c0 : w >= LANES ? w - LANES : 0; /* the last block overlaps */
            for (int b = 0; b < s; b++)
                for (int a = 0; a < s; a++) v[b * s + a] = *(const v16i *)(col + (size_t)a * pw + x0 + b);
            run_net(v, p->merge, p->n_merge);
            int nl = w - x0 < LANES ? w - x0 : LANES;
            for (int l = 0; l < nl; l++) out[x0 + l] = float_of(v[p->out][l]);
        }
    }
    return nan;
}

ct_status ct_median_filter(const float *x, int h, int w, int size, float *y, ct_error *err) {
    if (!x || !y || h <= 0 || w <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_median_filter: bad argument");
    if (size < 1 || size > 255) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_median_filter: size %d outside [1, 255]", size);
    /* reflect() doubles a side and the padded rows add the window and a block of lanes to w: with
     * sides up to 2^30 every such index fits an int */
    if (h > MAX_SIDE || w > MAX_SIDE) return ct_fail(err, CT_ERR_TOO_LARGE, "ct_median_filter: %d x %d array (width x height), sides above 2^30", w, h);
    size_t hw = (size_t)h * w;
    for (size_t i = 0; i < hw; i++)
        if (x[i] != x[i]) return ct_fail(err, CT_ERR_NONFINITE, "ct_median_filter: NaN in input");
    ct_median_plan *p = ct_median_plan_new(size);
    int32_t *scratch = p ? ct_alloc(ct_median_scratch(p, w, h), sizeof(int32_t)) : NULL;
    int alias = y < x + hw && x < y + hw;
    float *out = alias ? ct_alloc(hw, sizeof(float)) : y;
    ct_status st = CT_OK;
    if (!p || !scratch || !out) st = ct_fail(err, CT_ERR_NOMEM, "ct_median_filter: out of memory");
    else {
        ct_median_rows(p, x, h, w, 0, h, out, scratch);
        if (alias) memcpy(y, out, hw * sizeof(float));
        st = ct_ok(err);
    }
    if (alias) free(out);
    free(scratch);
    ct_median_plan_free(p);
    return st;
}
