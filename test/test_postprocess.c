/* The CLIPtrase post-processing at a realistic size (a 448 x 448 image: 784 patches, 21 names, a
 * dozen regions of synthetic features), and its fast kernels against plain references:
 *   - every intermediate is bit for bit the same with 1, 2 and 4 threads;
 *   - every step after DBSCAN is recomputed from the intermediates the plain way (the bilinear
 *     value of each pixel, the first maximum, the cluster means in double, ct_bilinear, a median
 *     by sorting, the majority vote) and must match bit for bit;
 *   - the median filter against sorting every window (ties, -0/+0, infinities, every side up to
 *     past the networks' limit, in place);
 *   - DBSCAN against the textbook algorithm in double (sizes around the 64-bit words and the
 *     Gram tiles, points at exactly eps), on 1 and 3 threads.
 * No tolerance anywhere: every value compared is a selection or the same arithmetic. */
#include "harness.h"
#include "nn/ops.h"

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

/* the textbook algorithm with sklearn's order, distances in double */
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
    for (int i = 0; i < n; i++) lab[i] = -1;
    int nc = 0;
    for (int i = 0; i < n; i++) {
        if (lab[i] != -1 || cnt[i] < ms) continue;
        int sp = 0;
        lab[i] = nc;
        stack[sp++] = i;
        while (sp) {
            int p = stack[--sp];
            if (cnt[p] < ms) continue;
            for (int j = 0; j < n; j++)
                if (nb[(size_t)p * n + j] && lab[j] == -1) { lab[j] = nc; stack[sp++] = j; }
        }
        nc++;
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

int main(void) {
    RUN(median_against_sorting);
    RUN(dbscan_against_reference);
    RUN(vote_plain_and_thread_independent);
    DONE();
}
