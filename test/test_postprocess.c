/* The CLIPtrase post-processing at a realistic size (a 448 x 448 image: 784 patches, 21 names, a
 * dozen regions of synthetic features), and its fast kernels against plain references:
 *   - every intermediate is bit for bit the same with 1, 2 and 4 threads;
 *   - every step after DBSCAN is recomputed from the intermediates the plain way (the bilinear
 *     value of each pixel, the first maximum, the cluster means in double, ct_bilinear, a median
 *     by sorting, the majority vote) and must match bit for bit;
 *   - the median filter against sorting every window (ties, -0/+0, infinities, every side up to
 *     past the networks' limit, in place);
 *   - DBSCAN against the textbook algorithm in double (sizes around the 64-bit words and the
 *     Gram tiles, points at exactly eps), on 1 and 3 threads;
 *   - sparse labels (up to 65,535) give the same vote; hostile inputs (NaN, parameters the vote
 *     cannot use, sizes whose counts overflow an int, points beyond fp32's squared range) are
 *     refused or computed exactly, and a failure leaves the outputs untouched.
 * No tolerance anywhere: every value compared is a selection or the same arithmetic. */
#include "harness.h"
#include "nn/ops.h"
#include "seg/dbscan.h"

#include <limits.h>
#include <stdint.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}
static double grand(void) { return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }
static void normalise(double *v, int d) {
    double s = 0;
    for (int k = 0; k < d; k++) s += v[k] * v[k];
    s = sqrt(s);
    for (int k = 0; k < d; k++) v[k] /= s;
}

/* ------------------------------------------------------------------ median filter */

/* scipy's "reflect" (d c b a | a b c d | d c b a), by mirroring until inside */
static int reflect(int i, int n) {
    while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - 1 - i;
    return i;
}

/* total order: -0 before +0 */
static int cmp_total(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    if (x < y) return -1;
    if (x > y) return 1;
    return !!signbit(y) - !!signbit(x);
}

/* max count of windows whose median differs from sorting (bitwise) */
static int median_check(int h, int w, int s, int kind) {
    size_t n = (size_t)h * w;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *win = malloc(sizeof(float) * (size_t)s * s);
    for (size_t i = 0; i < n; i++) {
        int r = (int)(urand() * 7);
        x[i] = kind == 0 ? (float)urand() : kind == 1 ? (float)(r - 3) : kind == 2 ? (r & 1 ? 0.f : -0.f) : (float)(r - 3) * 1e30f;
        if (kind == 3 && urand() < 0.1) x[i] = urand() < 0.5 ? INFINITY : -INFINITY;
    }
    ct_error err;
    int bad = 0;
    CHECK(ct_median_filter(x, h, w, s, y, &err) == CT_OK, "%s", err.msg);
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            int m = 0;
            for (int a = 0; a < s; a++)
                for (int b = 0; b < s; b++) win[m++] = x[(size_t)reflect(r - s / 2 + a, h) * w + reflect(c - s / 2 + b, w)];
            qsort(win, (size_t)m, sizeof(float), cmp_total);
            bad += memcmp(&win[m / 2], &y[(size_t)r * w + c], sizeof(float)) != 0;
        }
    /* in place */
    CHECK(ct_median_filter(x, h, w, s, x, &err) == CT_OK, "%s", err.msg);
    bad += memcmp(x, y, sizeof(float) * n) != 0;
    free(x); free(y); free(win);
    return bad;
}

static void median_against_sorting(void) {
    int bad = 0, runs = 0;
    for (int s = 1; s <= 18; s++) /* networks up to 16, selection above */
        for (int k = 0; k < 4; k++) {
            int h = 1 + (int)(urand() * 23), w = 1 + (int)(urand() * 40);
            int b = median_check(h, w, s, k);
            if (b) printf("  size %d kind %d on %d x %d: %d windows differ\n", s, k, h, w, b);
            bad += b;
            runs++;
        }
    bad += median_check(112, 112, 7, 0); /* the cluster maps of a 448 x 448 image */
    bad += median_check(33, 17, 7, 1);
    printf("  %d maps, %d windows differ\n", runs + 2, bad);
    CHECK(bad == 0, "%d windows differ from sorting", bad);
}

/* ------------------------------------------------------------------ DBSCAN */

/* the textbook algorithm, distances in double: clusters grown breadth-first from the core points
 * in index order (a border point joins the first cluster that reaches it, as in sklearn, whose
 * depth-first growth finds the same members) */
static int dbscan_ref(const float *x, int n, int d, double eps, int ms, int32_t *lab) {
    uint8_t *nb = calloc((size_t)n * n, 1);
    int *cnt = calloc((size_t)n, sizeof(int)), *stack = malloc(sizeof(int) * (size_t)n * (n + 1));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < d; k++) {
                double t = (double)x[(size_t)i * d + k] - x[(size_t)j * d + k];
                s += t * t;
            }
            nb[(size_t)i * n + j] = s <= eps * eps;
            cnt[i] += nb[(size_t)i * n + j];
        }
    memset(lab, 0xff, sizeof(int32_t) * (size_t)n); /* -1: noise until a cluster takes it */
    int nc = 0;
    for (int seed = 0; seed < n; seed++) {
        if (cnt[seed] < ms || lab[seed] >= 0) continue;
        int head = 0, tail = 0; /* a FIFO queue in `stack` */
        stack[tail++] = seed;
        lab[seed] = nc;
        for (; head < tail; head++) {
            int p = stack[head];
            for (int j = 0; cnt[p] >= ms && j < n; j++)
                if (nb[(size_t)p * n + j] && lab[j] < 0) lab[stack[tail++] = j] = nc;
        }
        nc += 1;
    }
    free(nb); free(cnt); free(stack);
    return nc;
}

static void dbscan_against_reference(void) {
    const int sizes[] = {5, 63, 64, 65, 129, 700};
    for (int t = 0; t < 12; t++) {
        int n = sizes[t / 2], grid = t % 2; /* grid: integer points, many pairs at exactly eps */
        int d = grid ? 3 : 8;
        float *x = malloc(sizeof(float) * (size_t)n * d);
        double centre[8][8];
        for (int c = 0; c < 8; c++)
            for (int k = 0; k < d; k++) centre[c][k] = grid ? (int)(20 * urand()) : 6 * grand();
        for (int i = 0; i < n; i++) {
            int c = (int)(urand() * 8);
            for (int k = 0; k < d; k++)
                x[(size_t)i * d + k] = grid ? (float)(centre[c][k] + (int)(3 * urand())) : (float)(centre[c][k] + (urand() < 0.1 ? 4 : 0.5) * grand());
        }
        float eps = grid ? 1.f : 2.5f;
        int32_t *want = malloc(sizeof(int32_t) * (size_t)n), *got = malloc(sizeof(int32_t) * (size_t)n);
        int nw = dbscan_ref(x, n, d, eps, 4, want), noise = 0;
        for (int i = 0; i < n; i++) noise += want[i] < 0;
        for (int th = 1; th <= 3; th += 2) {
            int ng = -1;
            ct_error err;
            CHECK(ct_dbscan(x, n, d, eps, 4, th, got, &ng, &err) == CT_OK, "%s", err.msg);
            int diff = 0;
            for (int i = 0; i < n; i++) diff += got[i] != want[i];
            printf("  n=%d%s threads %d: %d clusters (%d noise), %d labels differ\n", n, grid ? " (grid)" : "", th, ng, noise, diff);
            CHECK(ng == nw && diff == 0, "n=%d threads %d: %d clusters (want %d), %d labels differ", n, th, ng, nw, diff);
        }
        free(x); free(want); free(got);
    }
}

/* ------------------------------------------------------------------ the whole vote */

#define S 448
#define PATCH 16
#define E 512
#define NN 21
#define NREG 12

typedef struct {
    float *tok, *craw, *emb;
    int32_t name_label[NN];
} vote_input;

/* tokens: one prototype per region plus noise; corr_raw: cosines of 64-d region features plus
 * noise (what the correlation block gives, in shape); names: the first 20 near a region's
 * prototype, the last one a background name of label 20 */
static void make_input(vote_input *in) {
    int h = S / PATCH, hw = h * h, T = hw + 1, G = 64;
    int reg[(S / PATCH) * (S / PATCH)];
    double sy[NREG], sx[NREG];
    for (int r = 0; r < NREG; r++) { sy[r] = urand() * h; sx[r] = urand() * h; }
    for (int i = 0; i < hw; i++) {
        double best = 1e30;
        for (int r = 0; r < NREG; r++) {
            double dy = i / h - sy[r], dx = i % h - sx[r], dd = dy * dy + dx * dx * (1 + 0.5 * (r % 3));
            if (dd < best) { best = dd; reg[i] = r; }
        }
    }
    double *pe = malloc(sizeof(double) * NREG * E), *pg = malloc(sizeof(double) * NREG * G), v[E];
    double *g = malloc(sizeof(double) * (size_t)T * G);
    for (int i = 0; i < NREG * E; i++) pe[i] = grand();
    for (int i = 0; i < NREG * G; i++) pg[i] = grand();
    in->tok = malloc(sizeof(float) * (size_t)T * E);
    in->emb = malloc(sizeof(float) * NN * E);
    in->craw = malloc(sizeof(float) * (size_t)T * T);
    for (int i = 0; i < T; i++) {
        for (int k = 0; k < E; k++) v[k] = (i ? pe[reg[i - 1] * E + k] : 0) + 0.8 * grand();
        normalise(v, E);
        for (int k = 0; k < E; k++) in->tok[(size_t)i * E + k] = (float)v[k];
    }
    for (int n = 0; n < NN; n++) {
        for (int k = 0; k < E; k++) v[k] = pe[(n % NREG) * E + k] * (n < NREG ? 1 : 0.2) + grand();
        normalise(v, E);
        for (int k = 0; k < E; k++) in->emb[(size_t)n * E + k] = (float)v[k];
        in->name_label[n] = n < 20 ? n : 20;
    }
    for (int i = 1; i < T; i++) {
        int outlier = urand() < 0.03; /* a few patches like no region: DBSCAN's noise */
        for (int k = 0; k < G; k++) g[(size_t)i * G + k] = (outlier ? 0 : pg[reg[i - 1] * G + k]) + 0.6 * grand();
        normalise(g + (size_t)i * G, G);
    }
    for (int k = 0; k < G; k++) {
        double s = 0;
        for (int i = 1; i < T; i++) s += g[(size_t)i * G + k];
        g[k] = s;
    }
    normalise(g, G);
    for (int a = 0; a < T; a++)
        for (int b = 0; b < T; b++) {
            double s = 0;
            for (int k = 0; k < G; k++) s += g[(size_t)a * G + k] * g[(size_t)b * G + k];
            in->craw[(size_t)a * T + b] = (float)s;
        }
    free(pe); free(pg); free(g);
}

static int same(const void *a, const void *b, size_t bytes) { return a && b && !memcmp(a, b, bytes); }

/* the taps of upsampling [ih x iw] to [H x W] (PyTorch's bilinear, align_corners=False) */
typedef struct {
    ct_taps *y, *x;
} taps2;
static taps2 taps_make(int ih, int iw, int H, int W) {
    taps2 t = {malloc(sizeof(ct_taps) * (size_t)H), malloc(sizeof(ct_taps) * (size_t)W)};
    ct_bilinear_taps(ih, H, t.y);
    ct_bilinear_taps(iw, W, t.x);
    return t;
}

/* every step after DBSCAN the plain way, from the intermediates */
static void check_against_plain(const ct_intermediates *in, const int32_t *name_label) {
    int H = in->H, W = in->W, h = in->h, w = in->w, hw = h * w, nc = in->n_clusters, ch = 4 * h, cw = 4 * w;
    size_t HW = (size_t)H * W;
    /* upsampled logits, raw labels: a pixel every 7 rows and columns */
    int bad_up = 0, bad_raw = 0;
    taps2 tl = taps_make(h, w, H, W), tc = taps_make(ch, cw, H, W);
    for (int y = 0; y < H; y += 7)
        for (int x = 0; x < W; x += 7) {
            float best = 0;
            int bi = 0;
            for (int n = 0; n < in->n_names; n++) {
                float v = ct_bilinear_at(in->patch_logits + (size_t)n * hw, w, &tl.y[y], &tl.x[x]);
                bad_up += memcmp(&v, &in->logits_up[(size_t)n * HW + (size_t)y * W + x], 4) != 0;
                if (n == 0 || v > best) { best = v; bi = n; }
            }
            bad_raw += in->pred_raw[(size_t)y * W + x] != name_label[bi];
        }
    CHECK(bad_up == 0 && bad_raw == 0, "logits_up: %d values differ, pred_raw: %d labels differ", bad_up, bad_raw);
    /* cluster maps: mean rows in double, ct_bilinear x4, median 7 */
    double *acc = calloc((size_t)nc * hw, sizeof(double));
    int *cnt = calloc((size_t)nc, sizeof(int));
    float *mean = malloc(sizeof(float) * (size_t)nc * hw), *up = malloc(sizeof(float) * (size_t)nc * ch * cw);
    float *med = malloc(sizeof(float) * (size_t)ch * cw);
    for (int i = 0; i < hw; i++) {
        int c = in->dbscan_labels[i];
        if (c < 0) continue;
        cnt[c]++;
        for (int k = 0; k < hw; k++) acc[(size_t)c * hw + k] += in->corr[(size_t)i * hw + k];
    }
    for (size_t i = 0; i < (size_t)nc * hw; i++) mean[i] = (float)(acc[i] / cnt[i / hw]);
    ct_exec one = ct_exec_serial();
    CHECK(ct_bilinear(&one, nc, h, w, mean, ch, cw, up), "ct_bilinear");
    int bad_maps = 0;
    for (int c = 0; c < nc; c++) {
        ct_error err;
        CHECK(ct_median_filter(up + (size_t)c * ch * cw, ch, cw, 7, med, &err) == CT_OK, "%s", err.msg);
        bad_maps += !same(med, in->cluster_maps + (size_t)c * ch * cw, sizeof(float) * (size_t)ch * cw);
    }
    CHECK(bad_maps == 0, "%d cluster maps differ", bad_maps);
    /* regions (every 5th pixel) and the vote (every pixel) */
    int bad_assign = 0;
    for (int y = 0; y < H; y += 5)
        for (int x = 0; x < W; x += 5) {
            float best = 0;
            int bi = 0;
            for (int c = 0; c < nc; c++) {
                float v = ct_bilinear_at(in->cluster_maps + (size_t)c * ch * cw, cw, &tc.y[y], &tc.x[x]);
                if (c == 0 || v > best) { best = v; bi = c; }
            }
            bad_assign += in->cluster_assign[(size_t)y * W + x] != bi;
        }
    CHECK(bad_assign == 0, "cluster_assign: %d pixels differ", bad_assign);
    int L = 21, *hist = calloc((size_t)nc * L, sizeof(int)), bad_pred = 0;
    for (size_t i = 0; i < HW; i++) hist[in->cluster_assign[i] * L + in->pred_raw[i]]++;
    for (size_t i = 0; i < HW; i++) {
        int c = in->cluster_assign[i], bl = 0;
        for (int l = 1; l < L; l++)
            if (hist[c * L + l] > hist[c * L + bl]) bl = l;
        bad_pred += in->pred[i] != bl;
    }
    CHECK(bad_pred == 0, "pred: %d pixels differ from the majority vote", bad_pred);
    free(acc); free(cnt); free(mean); free(up); free(med); free(hist);
    free(tl.y); free(tl.x); free(tc.y); free(tc.x);
}

static void vote_plain_and_thread_independent(void) {
    vote_input vi;
    make_input(&vi);
    int h = S / PATCH, hw = h * h;
    size_t HW = (size_t)S * S;
    for (int reweight = 0; reweight <= 1; reweight++) {
        ct_intermediates ref = {0};
        int32_t *lab_ref = malloc(sizeof(int32_t) * HW), *lab = malloc(sizeof(int32_t) * HW);
        const int threads[] = {1, 2, 4};
        for (int t = 0; t < 3; t++) {
            ct_segment_params p;
            ct_segment_params_default(&p);
            p.n_threads = threads[t];
            p.cls_reweight = reweight;
            ct_intermediates in = {0};
            ct_error err;
            CHECK(ct_postprocess(vi.tok, vi.craw, S, S, PATCH, E, 100.f, vi.emb, NN, vi.name_label, &p, t ? lab : lab_ref, t ? &in : &ref,
                                 &err) == CT_OK,
                  "%s", err.msg);
            if (!t) {
                int noise = 0;
                for (int i = 0; i < hw; i++) noise += ref.dbscan_labels[i] < 0;
                printf("  cls_reweight %d: %d clusters, %d noise patches\n", reweight, ref.n_clusters, noise);
                CHECK(ref.n_clusters >= 4, "a realistic input has several clusters: %d", ref.n_clusters);
                CHECK(same(lab_ref, ref.pred, HW * 4), "labels differ from pred");
                if (!reweight) check_against_plain(&ref, vi.name_label);
                continue;
            }
            int nc = ref.n_clusters;
            size_t cm = (size_t)nc * 16 * hw;
            CHECK(in.n_clusters == nc, "threads %d: %d clusters, 1 thread %d", threads[t], in.n_clusters, nc);
            CHECK(same(in.corr, ref.corr, (size_t)hw * hw * 4) && same(in.patch_logits, ref.patch_logits, (size_t)NN * hw * 4) &&
                      same(in.logits_up, ref.logits_up, (size_t)NN * HW * 4) && same(in.pred_raw, ref.pred_raw, HW * 4),
                  "threads %d: logits differ from 1 thread", threads[t]);
            CHECK(same(in.dbscan_labels, ref.dbscan_labels, (size_t)hw * 4), "threads %d: DBSCAN labels differ", threads[t]);
            CHECK(in.n_clusters == nc && same(in.cluster_maps, ref.cluster_maps, cm * 4) && same(in.cluster_assign, ref.cluster_assign, HW * 4),
                  "threads %d: cluster maps or regions differ", threads[t]);
            CHECK(same(in.pred, ref.pred, HW * 4) && same(lab, lab_ref, HW * 4), "threads %d: labels differ", threads[t]);
            /* without intermediates (the raw labels then live in the output) */
            memset(lab, 0xff, HW * 4);
            CHECK(ct_postprocess(vi.tok, vi.craw, S, S, PATCH, E, 100.f, vi.emb, NN, vi.name_label, &p, lab, NULL, &err) == CT_OK, "%s",
                  err.msg);
            CHECK(same(lab, lab_ref, HW * 4), "threads %d: labels without intermediates differ", threads[t]);
            ct_intermediates_free(&in);
        }
        ct_intermediates_free(&ref);
        free(lab_ref); free(lab);
    }
    free(vi.tok); free(vi.craw); free(vi.emb);
}

/* Labels are names' labels shifted to sparse values (the largest 65,535): the vote counts only
 * the labels used, in ascending order, so the result is the same labels shifted. */
static void vote_sparse_labels(void) {
    vote_input vi;
    make_input(&vi);
    size_t HW = (size_t)S * S;
    int32_t sparse[NN];
    for (int n = 0; n < NN; n++) sparse[n] = 65535 - 3000 * (20 - vi.name_label[n]); /* ascending with the label */
    int32_t *lab = malloc(sizeof(int32_t) * HW), *lab_s = malloc(sizeof(int32_t) * HW);
    ct_segment_params p;
    ct_segment_params_default(&p);
    p.n_threads = 2;
    ct_intermediates in = {0}, in_s = {0};
    ct_error err;
    CHECK(ct_postprocess(vi.tok, vi.craw, S, S, PATCH, E, 100.f, vi.emb, NN, vi.name_label, &p, lab, &in, &err) == CT_OK, "%s", err.msg);
    CHECK(ct_postprocess(vi.tok, vi.craw, S, S, PATCH, E, 100.f, vi.emb, NN, sparse, &p, lab_s, &in_s, &err) == CT_OK, "%s", err.msg);
    int bad = 0, bad_raw = 0;
    for (size_t i = 0; i < HW; i++) {
        bad += lab_s[i] != 65535 - 3000 * (20 - lab[i]);
        bad_raw += in_s.pred_raw[i] != 65535 - 3000 * (20 - in.pred_raw[i]);
    }
    printf("  %d clusters; labels up to 65535: %d labels, %d raw labels differ\n", in_s.n_clusters, bad, bad_raw);
    CHECK(in.n_clusters >= 4 && in_s.n_clusters == in.n_clusters, "%d clusters, %d with sparse labels", in.n_clusters, in_s.n_clusters);
    CHECK(bad == 0 && bad_raw == 0, "sparse labels: %d labels, %d raw labels differ", bad, bad_raw);
    ct_intermediates_free(&in);
    ct_intermediates_free(&in_s);
    free(lab); free(lab_s); free(vi.tok); free(vi.craw); free(vi.emb);
}

/* ------------------------------------------------------------------ hostile inputs */

/* An impossible allocation returns NULL under the sanitizers too (instead of aborting the test):
 * ct_dbscan of INT_MAX points must answer out of memory. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "allocator_may_return_null=1"; }

static int all_equal(const int32_t *a, size_t n, int32_t v) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != v) return 0;
    return 1;
}

/* Refusals and failures of ct_postprocess leave labels and intermediates untouched; sizes whose
 * patch or pixel count would overflow an int are refused before anything is read. */
static void postprocess_failures_leave_outputs(void) {
    enum { H = 64, W = 64, P = 16, T = (H / P) * (W / P) + 1, D = 8, N = 3 };
    float *tok = malloc(sizeof(float) * T * D), *craw = malloc(sizeof(float) * T * T), emb[N * D];
    for (int i = 0; i < T * D; i++) tok[i] = (float)grand();
    for (int i = 0; i < T * T; i++) craw[i] = (float)urand();
    for (int i = 0; i < N * D; i++) emb[i] = (float)grand();
    static int32_t lab[H * W];
    ct_intermediates in, unset; /* unset: what an untouched struct holds */
    memset(&unset, 0xAB, sizeof unset);
    ct_error err;
    ct_segment_params p;
    ct_segment_params_default(&p);
    p.eps = 0.5f;
    p.min_samples = 2;
    CHECK(ct_postprocess(tok, craw, H, W, P, D, 100.f, emb, N, NULL, &p, lab, NULL, &err) == CT_OK, "the input itself: %s", err.msg);
    /* NaN in a patch row of corr_raw: DBSCAN refuses it after the raw labels were computed */
    craw[5 * T + 3] = NAN;
    for (int with_inter = 0; with_inter <= 1; with_inter++) {
        for (int i = 0; i < H * W; i++) lab[i] = -7;
        memset(&in, 0xAB, sizeof in);
        ct_status st = ct_postprocess(tok, craw, H, W, P, D, 100.f, emb, N, NULL, &p, lab, with_inter ? &in : NULL, &err);
        printf("  NaN in corr_raw%s -> %s: %s\n", with_inter ? " (intermediates)" : "", ct_status_str(st), err.msg);
        CHECK(st == CT_ERR_NONFINITE, "NaN in corr_raw: %s", ct_status_str(st));
        CHECK(all_equal(lab, (size_t)H * W, -7) && !memcmp(&in, &unset, sizeof in), "NaN in corr_raw: outputs written");
    }
    craw[5 * T + 3] = 0.5f;
    /* a NaN or Inf in the class embeddings or the tokens (issue 18, item 7): CT_ERR_NONFINITE */
    float *arrs[2] = {emb, tok};
    const char *anames[2] = {"class embeddings", "img_tokens"};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            float keep = arrs[a][D + 1];
            arrs[a][D + 1] = b ? INFINITY : NAN;
            for (int i = 0; i < H * W; i++) lab[i] = -7;
            ct_status st = ct_postprocess(tok, craw, H, W, P, D, 100.f, emb, N, NULL, &p, lab, NULL, &err);
            CHECK(st == CT_ERR_NONFINITE && strstr(err.msg, anames[a]), "%s in %s: %s (%s)", b ? "Inf" : "NaN", anames[a], ct_status_str(st), err.msg);
            CHECK(all_equal(lab, (size_t)H * W, -7), "%s: labels written", anames[a]);
            arrs[a][D + 1] = keep;
        }
    /* parameters the vote cannot use */
    struct {
        const char *what;
        float eps, scale;
        int median, ratio;
        ct_status want;
    } bad[] = {
        {"median side 256", 0, 100, 256, 0, CT_ERR_INVALID_ARG},   {"upsample ratio 65", 0, 100, 0, 65, CT_ERR_INVALID_ARG},
        {"eps infinite", INFINITY, 100, 0, 0, CT_ERR_INVALID_ARG}, {"eps NaN", NAN, 100, 0, 0, CT_ERR_INVALID_ARG},
        {"logit scale NaN", 0, NAN, 0, 0, CT_ERR_INVALID_ARG},     {"logit scale infinite", 0, INFINITY, 0, 0, CT_ERR_INVALID_ARG},
        {"logit scale exp(60)", 0, 1.1420074e26f, 0, 0, CT_ERR_INVALID_ARG}, {"logit scale exp(-60)", 0, 8.7565107e-27f, 0, 0, CT_ERR_INVALID_ARG},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        ct_segment_params q = p;
        q.eps = bad[k].eps;
        q.median_size = bad[k].median;
        q.upsample_ratio = bad[k].ratio;
        for (int i = 0; i < H * W; i++) lab[i] = -7;
        memset(&in, 0xAB, sizeof in);
        ct_status st = ct_postprocess(tok, craw, H, W, P, D, bad[k].scale, emb, N, NULL, &q, lab, &in, &err);
        printf("  %-22s -> %s: %s\n", bad[k].what, ct_status_str(st), err.msg);
        CHECK(st == bad[k].want, "%s: %s", bad[k].what, ct_status_str(st));
        CHECK(all_equal(lab, (size_t)H * W, -7) && !memcmp(&in, &unset, sizeof in), "%s: outputs written", bad[k].what);
    }
    /* sizes: 65,537^2 patches (h * w overflows an int), 2^32 pixels of 256 patches; the buffers
     * given are one float and one label: nothing may be read or written */
    struct {
        int H, W, patch;
    } big[] = {{16 * 65537, 16 * 65537, 16}, {65536, 65536, 4096}, {46341, 46341, 1}};
    float one = 0.f;
    for (size_t k = 0; k < sizeof big / sizeof *big; k++) {
        int32_t l1 = -7;
        ct_status st = ct_postprocess(&one, &one, big[k].H, big[k].W, big[k].patch, 1, 100.f, &one, 1, NULL, NULL, &l1, NULL, &err);
        printf("  %d x %d, patch %d -> %s: %s\n", big[k].H, big[k].W, big[k].patch, ct_status_str(st), err.msg);
        CHECK(st == CT_ERR_TOO_LARGE && l1 == -7, "%d x %d, patch %d: %s", big[k].H, big[k].W, big[k].patch, ct_status_str(st));
    }
    free(tok); free(craw);
}

/* DBSCAN: points whose fp32 dot products overflow (+-inf) compared exactly; a point count near
 * INT_MAX counted in 64 bits, then out of memory before anything is read or written. */
/* Issue 18, item 11: DBSCAN's scratch grows with the point count, not the dimension: 2 points of
 * dimension 2^26 once asked for 350 GB. The estimate for them is below 16 MiB and the same as for
 * dimension 2^20, and 2 points of
 * dimension 2^22 (16 MiB of data, the products in chunks) give sklearn's labels. */
static void dbscan_long_points(void) {
    ct_kernel k = ct_kernel_choose(CT_PRECISION_FP32, CT_BACKEND_NATIVE);
    size_t b = ct_dbscan_bytes(k, 2, 1 << 26, 2);
    printf("  2 points of dimension 2^26: %zu bytes of scratch\n", b);
    CHECK(b > 0 && b < ((size_t)16 << 20) && b == ct_dbscan_bytes(k, 2, 1 << 20, 2), "2 points of dimension 2^26: %zu bytes of scratch", b);
    CHECK(ct_dbscan_bytes(k, 4096, 1 << 26, 2) < ct_dbscan_bytes(k, 4096, 64, 2) + ((size_t)256 << 20), "4,096 long points: scratch grows with the dimension");
    const int d = 1 << 22;
    float *x = calloc((size_t)2 * d, sizeof(float));
    CHECK(x != NULL, "calloc");
    if (!x) return;
    for (int i = 0; i < d; i++) { x[i] = 1e-3f; x[(size_t)d + i] = i % 2 ? 1e-3f : 2e-3f; } /* distance 1e-3 * 2^10.5 = 1.45 */
    for (int e = 0; e < 2; e++) {
        float eps = e ? 1.5f : 1.4f;
        int32_t lab[2] = {9, 9};
        int nc = -1;
        ct_error err;
        CHECK(ct_dbscan(x, 2, d, eps, 2, 2, lab, &nc, &err) == CT_OK, "%s", err.msg);
        CHECK(e ? (nc == 1 && lab[0] == 0 && lab[1] == 0) : (nc == 0 && lab[0] == -1 && lab[1] == -1), "eps %g: %d clusters, labels %d %d", (double)eps, nc,
              lab[0], lab[1]);
    }
    free(x);
}

static void dbscan_hostile_inputs(void) {
    const float x[] = {1e20f, 2e20f, -1e20f, 1e20f};
    const float eps[] = {1.f, 2.5e20f};
    for (int k = 0; k < 2; k++) {
        int32_t want[4], got[4] = {9, 9, 9, 9};
        int nw = dbscan_ref(x, 4, 1, eps[k], 2, want), ng = -1;
        ct_error err;
        CHECK(ct_dbscan(x, 4, 1, eps[k], 2, 1, got, &ng, &err) == CT_OK, "%s", err.msg);
        printf("  eps %g: labels %d %d %d %d (want %d %d %d %d)\n", (double)eps[k], got[0], got[1], got[2], got[3], want[0], want[1], want[2],
               want[3]);
        CHECK(ng == nw && !memcmp(got, want, sizeof want), "eps %g: %d clusters (want %d)", (double)eps[k], ng, nw);
    }
    float one = 0.f;
    int32_t l[4] = {9, 9, 9, 9};
    int nc = -5;
    ct_error err;
    ct_status st = ct_dbscan(&one, INT_MAX, 1, 1.f, 1, 1, l, &nc, &err);
    printf("  %d points -> %s: %s\n", INT_MAX, ct_status_str(st), err.msg);
    CHECK(st == CT_ERR_NOMEM && l[0] == 9 && nc == -5, "INT_MAX points: %s", ct_status_str(st));
}

/* A median filter side above 2^30 is refused before the array is read. */
static void median_hostile_sizes(void) {
    float x = 0.f, y = 7.f;
    ct_error err;
    ct_status st = ct_median_filter(&x, 1, (1 << 30) + 1, 3, &y, &err);
    CHECK(st == CT_ERR_TOO_LARGE && y == 7.f, "1 x 2^30+1: %s", ct_status_str(st));
    st = ct_median_filter(&x, INT_MAX, 1, 3, &y, &err);
    CHECK(st == CT_ERR_TOO_LARGE && y == 7.f, "INT_MAX x 1: %s", ct_status_str(st));
}

/* a tensor of the header: name, shape; its bytes follow the previous tensor's */
typedef struct {
    char *h;
    size_t hl, off;
} st_header;

static void st_tensor(st_header *sh, const char *name, int nd, long long d0, long long d1, long long d2, long long d3) {
    long long d[4] = {d0, d1, d2, d3}, count = 1;
    sh->hl += (size_t)sprintf(sh->h + sh->hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", sh->off ? "," : "", name);
    for (int q = 0; q < nd; q++) {
        sh->hl += (size_t)sprintf(sh->h + sh->hl, q ? ",%lld" : "%lld", d[q]);
        count *= d[q];
    }
    sh->hl += (size_t)sprintf(sh->h + sh->hl, "],\"data_offsets\":[%zu,%zu]}", sh->off, sh->off + 4 * (size_t)count);
    sh->off += 4 * (size_t)count;
}

/* An all-zero F32 checkpoint (OpenAI names) with a patch of `patch` pixels, written sparse: the
 * data section is a hole (ftruncate), so a large patch costs no disk and no memory. */
static int sparse_model(const char *path, int patch) {
    const int Wv = 64, Wt = 64, mlp = 256, emb = 32;
    st_header sh = {malloc(1 << 16), 0, 0};
    sh.hl += (size_t)sprintf(sh.h, "{");
    st_tensor(&sh, "visual.conv1.weight", 4, Wv, 3, patch, patch);
    st_tensor(&sh, "visual.class_embedding", 1, Wv, 0, 0, 0);
    st_tensor(&sh, "visual.positional_embedding", 2, 2, Wv, 0, 0); /* a 1 x 1 native grid */
    st_tensor(&sh, "visual.ln_pre.weight", 1, Wv, 0, 0, 0);
    st_tensor(&sh, "visual.ln_pre.bias", 1, Wv, 0, 0, 0);
    st_tensor(&sh, "visual.ln_post.weight", 1, Wv, 0, 0, 0);
    st_tensor(&sh, "visual.ln_post.bias", 1, Wv, 0, 0, 0);
    st_tensor(&sh, "visual.proj", 2, Wv, emb, 0, 0);
    st_tensor(&sh, "token_embedding.weight", 2, 1, Wt, 0, 0); /* a vocabulary of one token */
    st_tensor(&sh, "positional_embedding", 2, 2, Wt, 0, 0);
    st_tensor(&sh, "ln_final.weight", 1, Wt, 0, 0, 0);
    st_tensor(&sh, "ln_final.bias", 1, Wt, 0, 0, 0);
    st_tensor(&sh, "text_projection", 2, Wt, emb, 0, 0);
    for (int b = 0; b < 3; b++) { /* two vision blocks, one text block */
        const char *pre = b < 2 ? "visual.transformer.resblocks" : "transformer.resblocks";
        int w = b < 2 ? Wv : Wt;
        char nm[12][128];
        const char *part[12] = {"ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
                                "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight",     "mlp.c_fc.bias",     "mlp.c_proj.weight",    "mlp.c_proj.bias"};
        const long long rows[12] = {w, w, 3 * w, 3 * w, w, w, w, w, mlp, mlp, w, w}, cols[12] = {0, 0, w, 0, w, 0, 0, 0, w, 0, mlp, 0};
        for (int q = 0; q < 12; q++) {
            snprintf(nm[q], sizeof nm[q], "%s.%d.%s", pre, b < 2 ? b : 0, part[q]);
            st_tensor(&sh, nm[q], cols[q] ? 2 : 1, rows[q], cols[q], 0, 0);
        }
    }
    sh.hl += (size_t)sprintf(sh.h + sh.hl, "}");
    while ((8 + sh.hl) % 64) sh.h[sh.hl++] = ' '; /* the data section 64-byte aligned: weights used in place */
    FILE *f = fopen(path, "wb");
    uint64_t hl64 = sh.hl;
    int ok = f && fwrite(&hl64, 8, 1, f) == 1 && fwrite(sh.h, 1, sh.hl, f) == sh.hl && fflush(f) == 0 &&
             ftruncate(fileno(f), (off_t)(8 + sh.hl + sh.off)) == 0;
    if (f) ok = fclose(f) == 0 && ok;
    free(sh.h);
    return ok;
}

/* A model whose patch is 512 pixels: 128 x 128 patches are 2^32 pixels, beyond
 * CT_MAX_IMAGE_PIXELS (counts of pixels and windows would overflow an int: 130,561^2 windows of
 * one patch at stride 1). ct_segment_memory and ct_segment refuse the size before any work. */
static void segment_pixel_limit(void) {
    char path[4200];
    FMT(path, "%s/patch512.safetensors", t_tmpdir());
    CHECK(sparse_model(path, 512), "cannot write %s", path);
    ct_model *m = NULL;
    ct_error err;
    if (ct_model_load(path, &m, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    CHECK(ct_model_config(m)->patch == 512, "patch %d", ct_model_config(m)->patch);
    const int side = 512 * 128;
    float one = 0.f, emb[2 * 32] = {0};
    for (int k = 0; k < 2; k++) {
        ct_segment_params p;
        ct_segment_params_preset(&p, k ? CT_HEAD_SCLIP : CT_HEAD_CLIPTRASE);
        if (k) { p.slide_crop = 512; p.slide_stride = 1; }
        size_t bytes = 777;
        ct_status st = ct_segment_memory(m, side, side, 2, &p, 1, &bytes, &err);
        printf("  %s, %d x %d: ct_segment_memory -> %s: %s\n", ct_head_name(p.head), side, side, ct_status_str(st), err.msg);
        CHECK(st == CT_ERR_TOO_LARGE && bytes == 777, "%s: ct_segment_memory says %s", ct_head_name(p.head), ct_status_str(st));
        int32_t l1 = -7;
        st = ct_segment(m, &one, side, side, emb, 2, NULL, &p, &l1, NULL, &err);
        CHECK(st == CT_ERR_TOO_LARGE && l1 == -7, "%s: ct_segment says %s", ct_head_name(p.head), ct_status_str(st));
    }
    /* the largest image within the limit is fine to ask about: 16 x 16 patches of 512 */
    size_t bytes = 0;
    ct_segment_params p;
    ct_segment_params_default(&p);
    CHECK(ct_segment_memory(m, 8192, 8192, 2, &p, 0, &bytes, &err) == CT_OK && bytes > 0, "8192 x 8192: %s", err.msg);
    ct_model_free(m);
}

int main(void) {
    RUN(median_against_sorting);
    RUN(dbscan_against_reference);
    RUN(vote_plain_and_thread_independent);
    RUN(vote_sparse_labels);
    RUN(postprocess_failures_leave_outputs);
    RUN(dbscan_hostile_inputs);
    RUN(dbscan_long_points);
    RUN(median_hostile_sizes);
    RUN(segment_pixel_limit);
    DONE();
}
