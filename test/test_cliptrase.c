/* CLIPtrase head against the oracle: each step fed the oracle's own inputs, then end to end.
 *
 * Tolerances. DBSCAN labels, cluster regions and votes are discrete: exact. corr is a difference
 * of oracle values (exact up to one rounding): 1e-6. Logits are logit_scale (~100) times dot
 * products of unit vectors, so fp32 rounding of the GEMM is ~100 x 1e-7: they are compared
 * relative to logit_scale at 1e-5 (an absolute 1e-3). Interpolated maps and median-filtered
 * cluster maps: 1e-5 absolute (they are averages of values in [0, 1]). End to end, the features
 * get the encoder bound 1e-4 and the final labels must agree on >= 99.5% of pixels: a rounding
 * difference can flip an argmax where two logits tie to 1e-6, never a whole region. */
#include "fixtures.h"

/* Loads case c of an oracle folder (dbscan/ or median/): params.json, the input and the
 * expected array. Returns 0 when the case does not exist. */
static int load_case(const char *kind, int c, const char *in_name, const char *out_name, ct_json **params, npy_array *x, npy_array *want) {
    char dir[600], p[700];
    FMT(dir, "%s/%s/case%d", oracle_dir(), kind, c);
    FMT(p, "%s/params.json", dir);
    size_t len;
    char *txt = slurp(p, &len);
    if (!txt) return 0;
    *params = ct_json_parse(txt, len, NULL, 0);
    free(txt);
    ct_error err;
    FMT(p, "%s/%s.npy", dir, in_name);
    CHECK(npy_load(p, x, &err) == CT_OK, "%s", err.msg);
    FMT(p, "%s/%s.npy", dir, out_name);
    CHECK(npy_load(p, want, &err) == CT_OK, "%s", err.msg);
    CHECK(*params != NULL, "%s case%d: bad params.json", kind, c);
    return 1;
}

static void dbscan_oracle_cases(void) {
    int found = 0;
    for (int c = 0; c < 16; c++) {
        ct_json *j = NULL;
        npy_array x = {0}, want = {0};
        ct_error err;
        if (!load_case("dbscan", c, "x", "labels", &j, &x, &want)) continue;
        found++;
        if (!x.data || !want.data || !j) { npy_free(&x); npy_free(&want); ct_json_free(j); continue; }
        int n = (int)x.shape[0], d = (int)x.shape[1];
        int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
        int nc = -1;
        float eps = (float)jnum(j, "eps", 0);
        int ms = (int)jnum(j, "min_samples", 0);
        CHECK(ct_dbscan(x.data, n, d, eps, ms, 0, lab, &nc, &err) == CT_OK, "%s", err.msg);
        int diff = 0;
        for (int i = 0; i < n; i++) diff += lab[i] != ((int32_t *)want.data)[i];
        printf("  dbscan case%d: n=%d d=%d eps=%g min_samples=%d -> %d clusters, %d labels differ\n", c, n, d, eps, ms, nc, diff);
        CHECK(diff == 0, "case%d: %d labels differ", c, diff);
        free(lab);
        npy_free(&x); npy_free(&want);
        ct_json_free(j);
    }
    if (!found) SKIP("no dbscan cases under %s", oracle_dir());
}

static void median_oracle_cases(void) {
    int found = 0;
    for (int c = 0; c < 16; c++) {
        ct_json *j = NULL;
        npy_array x = {0}, want = {0};
        ct_error err;
        if (!load_case("median", c, "x", "y", &j, &x, &want)) continue;
        found++;
        if (!x.data || !want.data || !j) { npy_free(&x); npy_free(&want); ct_json_free(j); continue; }
        int h = (int)x.shape[0], w = (int)x.shape[1], size = (int)jnum(j, "size", 0);
        float *y = malloc(sizeof(float) * x.numel);
        CHECK(ct_median_filter(x.data, h, w, size, y, &err) == CT_OK, "%s", err.msg);
        double d = max_abs_diff(y, want.data, want.numel);
        printf("  median case%d: %dx%d size %d, max|d| %.2e\n", c, h, w, size, d);
        CHECK(d <= 1e-5, "case%d: %g", c, d);
        free(y);
        npy_free(&x); npy_free(&want);
        ct_json_free(j);
    }
    if (!found) SKIP("no median cases under %s", oracle_dir());
}

/* label agreement of two int32 maps */
static double agree(const int32_t *a, const int32_t *b, size_t n) {
    size_t s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] == b[i];
    return n ? (double)s / n : 1.0;
}

#define MAXFX 16

/* The CLIPtrase vote (paper Sec. 3.3) written from its definition, independently of the library:
 * every pixel of cluster region c takes the label most frequent among the raw labels of the
 * region's pixels (ties: the smallest label). Without clusters the raw labels stay. */
static int vote(const int32_t *assign, const int32_t *pred_raw, size_t n, int n_clusters, int32_t *pred) {
    if (n_clusters <= 0) {
        memcpy(pred, pred_raw, n * sizeof *pred);
        return 1;
    }
    int32_t L = 0;
    for (size_t i = 0; i < n; i++) {
        if (assign[i] < 0 || assign[i] >= n_clusters || pred_raw[i] < 0 || pred_raw[i] >= 65536) return 0;
        L = pred_raw[i] + 1 > L ? pred_raw[i] + 1 : L;
    }
    size_t *count = calloc((size_t)n_clusters * (size_t)L, sizeof *count);
    int32_t *winner = malloc(sizeof(int32_t) * (size_t)n_clusters);
    for (size_t i = 0; i < n; i++) count[(size_t)assign[i] * L + pred_raw[i]]++;
    for (int c = 0; c < n_clusters; c++) {
        winner[c] = 0;
        for (int32_t l = 1; l < L; l++)
            if (count[(size_t)c * L + l] > count[(size_t)c * L + winner[c]]) winner[c] = l;
    }
    for (size_t i = 0; i < n; i++) pred[i] = winner[assign[i]];
    free(count);
    free(winner);
    return 1;
}

static void run_params(const ct_json *run, ct_segment_params *sp) {
    ct_segment_params_default(sp);
    sp->eps = (float)jnum(run, "eps", 0);
    sp->min_samples = (int)jnum(run, "min_samples", 0);
    const ct_json *cr = ct_json_get(run, "cls_reweight");
    sp->cls_reweight = cr && cr->type == CT_JSON_BOOL && cr->boolean;
}

/* name -> label: classes keep their index, every background name maps to C */
static void name_labels(int n, int nc, int32_t *lab) {
    for (int i = 0; i < n; i++) lab[i] = i < nc ? i : nc;
}

static void steps_from_oracle_inputs(void) {
    fixture fx[MAXFX];
    int nfx = find_fixtures(fx, MAXFX);
    if (!nfx) SKIP("no model fixtures under %s", oracle_dir());
    for (int f = 0; f < nfx; f++) {
        const ct_json *runs = ct_json_get(fx[f].meta, "runs");
        float scale = (float)jnum(fx[f].meta, "logit_scale_exp", 100);
        const ct_json *cfg = ct_json_get(fx[f].meta, "config");
        int patch = (int)jnum(cfg, "patch", 16), E = (int)jnum(cfg, "embed_dim", 0);
        for (size_t r = 0; runs && r < runs->n; r++) {
            const ct_json *run = &runs->items[r];
            const char *rn = ct_json_get(run, "name")->str;
            npy_array tok = {0}, craw = {0}, tf = {0}, px = {0}, corr = {0}, pl = {0}, lu = {0}, praw = {0}, dbl = {0}, cm = {0}, ca = {0}, pred = {0};
            if (!load_npy(fx[f].dir, rn, "img_tokens", &tok) || !load_npy(fx[f].dir, rn, "corr_raw", &craw) ||
                !load_npy(fx[f].dir, rn, "text_features", &tf) || !load_npy(fx[f].dir, rn, "pixels", &px) ||
                !load_npy(fx[f].dir, rn, "corr", &corr) || !load_npy(fx[f].dir, rn, "patch_logits", &pl) ||
                !load_npy(fx[f].dir, rn, "logits_up", &lu) || !load_npy(fx[f].dir, rn, "pred_raw", &praw) ||
                !load_npy(fx[f].dir, rn, "dbscan_labels", &dbl) || !load_npy(fx[f].dir, rn, "cluster_maps", &cm) ||
                !load_npy(fx[f].dir, rn, "cluster_assign", &ca) || !load_npy(fx[f].dir, rn, "pred", &pred))
                continue;
            int H = (int)px.shape[1], W = (int)px.shape[2], n = (int)tf.shape[0];
            const char *names[64];
            int nc;
            run_names(run, names, 64, &nc);
            int32_t lab[64];
            name_labels(n, nc, lab);
            ct_segment_params sp;
            run_params(run, &sp);
            ct_intermediates in = {0};
            ct_error err;
            int32_t *out = malloc(sizeof(int32_t) * (size_t)H * W);
            CHECK(ct_postprocess(tok.data, craw.data, H, W, patch, E, scale, tf.data, n, lab, &sp, out, &in, &err) == CT_OK, "%s", err.msg);
            if (!in.pred) { free(out); continue; }
            size_t HW = (size_t)H * W;
            double dcorr = max_abs_diff(in.corr, corr.data, corr.numel);
            double dpl = max_abs_diff(in.patch_logits, pl.data, pl.numel) / scale;
            double dlu = max_abs_diff(in.logits_up, lu.data, lu.numel) / scale;
            double araw = agree(in.pred_raw, praw.data, HW);
            int ddb = 0;
            for (size_t i = 0; i < dbl.numel; i++) ddb += in.dbscan_labels[i] != ((int32_t *)dbl.data)[i];
            CHECK(in.n_clusters == (int)cm.shape[0], "%d clusters, oracle %lld", in.n_clusters, (long long)cm.shape[0]);
            double dcm = in.n_clusters == (int)cm.shape[0] ? max_abs_diff(in.cluster_maps, cm.data, cm.numel) : INFINITY;
            double aca = agree(in.cluster_assign, ca.data, HW), apred = agree(in.pred, pred.data, HW);
            printf("  %s/%s: corr %.1e, logits %.1e (rel), up %.1e (rel), pred_raw %.4f, dbscan %d differ, %d clusters, maps %.1e, assign %.4f, pred %.4f\n",
                   fx[f].name, rn, dcorr, dpl, dlu, araw, ddb, in.n_clusters, dcm, aca, apred);
            CHECK(dcorr <= 1e-6, "corr %g", dcorr);
            CHECK(dpl <= 1e-5, "patch_logits %g", dpl);
            CHECK(dlu <= 1e-5, "logits_up %g", dlu);
            CHECK(araw == 1.0, "pred_raw agreement %f", araw);
            CHECK(ddb == 0, "dbscan labels differ: %d", ddb);
            CHECK(dcm <= 1e-5, "cluster_maps %g", dcm);
            CHECK(aca == 1.0, "cluster_assign agreement %f", aca);
            CHECK(apred == 1.0, "pred agreement %f", apred);
            CHECK(!memcmp(out, in.pred, HW * 4), "labels output differs from intermediates");
            /* the vote step alone: the oracle's regions and raw labels give the oracle's prediction,
             * and the library's own regions and raw labels give the library's */
            int nco = (int)cm.shape[0];
            int32_t *voted = malloc(sizeof(int32_t) * HW);
            CHECK(vote(ca.data, praw.data, HW, nco, voted), "oracle cluster_assign or pred_raw out of range");
            double avo = agree(voted, pred.data, HW), changed = 1.0 - agree(praw.data, pred.data, HW);
            CHECK(vote(in.cluster_assign, in.pred_raw, HW, in.n_clusters, voted), "library cluster_assign or pred_raw out of range");
            double avl = agree(voted, in.pred, HW);
            printf("  %s/%s: vote of the oracle's regions %.4f, of the library's %.4f (the vote changes %.1f%% of the raw labels)\n",
                   fx[f].name, rn, avo, avl, 100 * changed);
            CHECK(avo == 1.0, "vote from the oracle's cluster_assign and pred_raw: agreement %f with its pred", avo);
            CHECK(avl == 1.0, "vote from the library's cluster_assign and pred_raw: agreement %f with its pred", avl);
            /* the fixtures exercise the vote: without it the prediction would differ */
            CHECK(changed > 0.01, "the vote changes only %f of the raw labels: the fixture does not test it", changed);
            free(voted);
            ct_intermediates_free(&in);
            free(out);
            npy_array *all[] = {&tok, &craw, &tf, &px, &corr, &pl, &lu, &praw, &dbl, &cm, &ca, &pred};
            for (size_t k = 0; k < sizeof all / sizeof *all; k++) npy_free(all[k]);
        }
    }
    for (int f = 0; f < nfx; f++) ct_json_free(fx[f].meta);
}

/* The vote on a hand-made 2 x 2 image (patch 1): four patches with equal correlation rows form one
 * cluster covering the image; their raw labels are the names their tokens equal. A 2:2 tie between
 * labels 2 and 1 (label 2 seen first) goes to the smaller label; a 3:1 majority wins. */
static void vote_ties_and_majority(void) {
    const float emb[3 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    float corr_raw[5 * 5];
    for (int i = 0; i < 25; i++) corr_raw[i] = i < 5 || i % 5 == 0 ? 0.f : 1.f; /* CLS row and column 0 */
    const int cases[2][4] = {{2, 1, 2, 1}, {2, 1, 2, 2}}, want[2] = {1, 2};
    for (int k = 0; k < 2; k++) {
        float tok[5 * 3] = {1, 0, 0};
        for (int i = 0; i < 4; i++) tok[3 * (1 + i) + cases[k][i]] = 1.f;
        ct_segment_params sp;
        ct_segment_params_default(&sp);
        sp.eps = 0.5f;
        sp.min_samples = 1;
        int32_t lab[4] = {-1, -1, -1, -1};
        ct_intermediates in;
        ct_error err;
        CHECK(ct_postprocess(tok, corr_raw, 2, 2, 1, 3, 100.f, emb, 3, NULL, &sp, lab, &in, &err) == CT_OK, "%s", err.msg);
        if (!in.pred) continue;
        CHECK(in.n_clusters == 1, "%d clusters", in.n_clusters);
        int raw_ok = 1;
        for (int i = 0; i < 4; i++) raw_ok &= in.pred_raw[i] == cases[k][i] && in.cluster_assign[i] == 0;
        CHECK(raw_ok, "raw labels or regions differ from the construction");
        for (int i = 0; i < 4; i++) CHECK(lab[i] == want[k], "case %d pixel %d: label %d, want %d", k, i, lab[i], want[k]);
        ct_intermediates_free(&in);
    }
}

static void end_to_end_from_pixels(void) {
    fixture fx[MAXFX];
    int nfx = find_fixtures(fx, MAXFX);
    if (!nfx) SKIP("no model fixtures under %s", oracle_dir());
    for (int f = 0; f < nfx; f++) {
        ct_model *m = load_fixture_model(&fx[f]);
        if (!m) continue;
        ct_error err;
        const ct_json *runs = ct_json_get(fx[f].meta, "runs");
        for (size_t r = 0; runs && r < runs->n; r++) {
            const ct_json *run = &runs->items[r];
            const char *rn = ct_json_get(run, "name")->str;
            npy_array px = {0}, tf = {0}, tok = {0}, pred = {0};
            if (!load_npy(fx[f].dir, rn, "pixels", &px) || !load_npy(fx[f].dir, rn, "text_features", &tf) ||
                !load_npy(fx[f].dir, rn, "img_tokens", &tok) || !load_npy(fx[f].dir, rn, "pred", &pred)) continue;
            int H = (int)px.shape[1], W = (int)px.shape[2], n = (int)tf.shape[0];
            const char *names[64];
            int nc;
            run_names(run, names, 64, &nc);
            int32_t lab[64];
            name_labels(n, nc, lab);
            ct_segment_params sp;
            run_params(run, &sp);
            int32_t *out = malloc(sizeof(int32_t) * (size_t)H * W);
            ct_intermediates in = {0};
            CHECK(ct_segment(m, px.data, H, W, tf.data, n, lab, &sp, out, &in, &err) == CT_OK, "%s", err.msg);
            if (in.img_tokens) {
                double dt = max_abs_diff(in.img_tokens, tok.data, tok.numel);
                double a = agree(out, pred.data, (size_t)H * W);
                printf("  %s/%s: img_tokens %.1e, pred agreement %.4f\n", fx[f].name, rn, dt, a);
                CHECK(dt <= 1e-4, "img_tokens %g", dt);
                CHECK(a >= 0.995, "pred agreement %f", a);
            }
            /* without intermediates the same labels come out */
            int32_t *out2 = malloc(sizeof(int32_t) * (size_t)H * W);
            CHECK(ct_segment(m, px.data, H, W, tf.data, n, lab, &sp, out2, NULL, &err) == CT_OK, "%s", err.msg);
            CHECK(!memcmp(out, out2, sizeof(int32_t) * (size_t)H * W), "labels differ without intermediates");
            free(out); free(out2);
            ct_intermediates_free(&in);
            npy_free(&px); npy_free(&tf); npy_free(&tok); npy_free(&pred);
        }
        ct_model_free(m);
    }
    for (int f = 0; f < nfx; f++) ct_json_free(fx[f].meta);
}

static void dbscan_edge_cases(void) {
    ct_error err;
    int32_t lab[4] = {9, 9, 9, 9};
    int nc = -1;
    float x[8] = {0, 0, 0, 0.5f, 10, 10, 10, 10.5f};
    CHECK(ct_dbscan(x, 4, 2, 0.5f, 2, 1, lab, &nc, &err) == CT_OK, "%s", err.msg);
    CHECK(nc == 2 && lab[0] == 0 && lab[1] == 0 && lab[2] == 1 && lab[3] == 1, "eps inclusive: %d %d %d %d", lab[0], lab[1], lab[2], lab[3]);
    CHECK(ct_dbscan(x, 4, 2, 0.49f, 2, 1, lab, &nc, &err) == CT_OK && nc == 0 && lab[0] == -1, "all noise");
    CHECK(ct_dbscan(x, 4, 2, 0.49f, 1, 1, lab, &nc, &err) == CT_OK && nc == 4, "min_samples 1: every point its own cluster");
    CHECK(ct_dbscan(x, 4, 2, -1.f, 2, 1, lab, &nc, &err) == CT_ERR_INVALID_ARG, "negative eps");
    CHECK(ct_dbscan(x, 4, 2, 1.f, 0, 1, lab, &nc, &err) == CT_ERR_INVALID_ARG, "min_samples 0");
    CHECK(ct_dbscan(NULL, 4, 2, 1.f, 2, 1, lab, &nc, &err) == CT_ERR_INVALID_ARG, "NULL");
}

int main(void) {
    RUN(dbscan_oracle_cases);
    RUN(median_oracle_cases);
    RUN(dbscan_edge_cases);
    RUN(steps_from_oracle_inputs);
    RUN(vote_ties_and_majority);
    RUN(end_to_end_from_pixels);
    DONE();
}
