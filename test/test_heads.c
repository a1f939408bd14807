/* The training-free heads and the mmseg pipeline (sliding windows, PAMR, logit scale, synonyms,
 * prob_thd, area_thd) against every fixture under $CT_ORACLE_DIR/heads/ (each directory with a meta.json): each fixture's meta.json
 * names its model (a model fixture of the oracle) and lists its runs with every setting; nothing
 * here assumes the names of runs, the model's shapes, the window sizes, the dilations or the
 * thresholds.
 *
 * Tolerances.
 * - img_tokens: 1e-4 absolute. They are unit vectors after 12 blocks of fp32 arithmetic; our
 *   products sum in another order than PyTorch's (tiled, FMA), which moves each value by a few
 *   ulp per block: the CLIPtrase fixtures measure ~1e-5 for the same encoder.
 * - seg_logits: 1e-4 absolute. Cosines of those tokens (|.| <= 1) with the text features, then
 *   convex combinations (bilinear weights, window averages): the token error bounds them.
 * - pamr_logits: 1e-4 absolute. Each PAMR step is a convex combination of the previous maps (the
 *   affinities are a softmax), so the seg_logits error does not grow; the affinities themselves
 *   differ from the reference by float rounding only (~1e-7 relative).
 * - pred: >= 99.5% of pixels agree. Labels are argmaxes of probabilities that differ by ~1e-4 x
 *   logit_scale in the exponent; a pixel where two classes tie within that flips, and so does one
 *   whose best probability lies within that of prob_thd, never a region.
 * - n_thresholded and the label histogram of meta.json: within the pixels that may flip
 *   (0.5% of the image), for the same reason.
 * Everything the pipeline does after the encoder is also checked exactly on synthetic inputs
 * against direct implementations of the README's formulas (PAMR, classification, windows). */
#include "fixtures.h"
#include "heads/head.h"
#include "seg/classify.h"
#include "seg/pamr.h"
#include "seg/slide.h"


#define MAXFX 16

/* the fixtures of the oracle's directory `sub` (heads, heads_scclip): its directories holding a
 * meta.json */
static int find_head_fixtures(const char *sub, fixture *fx, int cap) {
    char root[600];
    FMT(root, "%s/%s", oracle_dir(), sub);
    return find_fixtures_in(root, fx, cap);
}

static ct_model *load_head_model(const fixture *f) {
    const ct_json *mn = ct_json_get(f->meta, "model"), *mf = ct_json_get(f->meta, "model_file");
    char p[1024];
    if (mf && mf->type == CT_JSON_STR) FMT(p, "%s/%s", f->dir, mf->str); /* the project's own fixtures: the model beside them */
    else if (mn && mn->type == CT_JSON_STR) FMT(p, "%s/%s/model.safetensors", oracle_dir(), mn->str);
    else {
        CHECK(0, "%s: meta.json has no model", f->name);
        return NULL;
    }
    ct_model *m = NULL;
    ct_error err;
    if (ct_model_load(p, &m, &err)) CHECK(0, "%s: %s", f->name, err.msg);
    return m;
}

static int load_opt(const char *dir, const char *run, const char *file, npy_array *a) {
    char p[1024];
    FMT(p, "%s/%s/%s.npy", dir, run, file);
    if (!file_exists(p)) return 0;
    return load_npy(dir, run, file, a);
}

/* The run's settings as meta.json states them; anything absent is off (gaussian_std: 5, the
 * references' value) */
static void run_settings(const ct_json *run, ct_segment_params *sp) {
    ct_segment_params_default(sp);
    const ct_json *hn = ct_json_get(run, "head");
    ct_error err;
    CHECK(hn && hn->type == CT_JSON_STR && ct_head_parse(hn->str, &sp->head, &err) == CT_OK, "run without a known head");
    sp->gaussian_std = (float)jnum(run, "gaussian_std", 5);
    sp->slide_crop = (int)jnum(run, "slide_crop", 0);
    sp->slide_stride = (int)jnum(run, "slide_stride", 0);
    sp->pamr_steps = (int)jnum(run, "pamr_steps", 0);
    const ct_json *dl = ct_json_get(run, "pamr_dilations");
    if (dl && dl->type == CT_JSON_ARR) {
        CHECK(dl->n <= CT_MAX_DILATIONS, "%zu dilations", dl->n);
        sp->n_pamr_dilations = (int)(dl->n < CT_MAX_DILATIONS ? dl->n : CT_MAX_DILATIONS);
        for (int i = 0; i < sp->n_pamr_dilations; i++) sp->pamr_dilations[i] = (int)dl->items[i].num;
    }
    sp->logit_scale = (float)jnum(run, "logit_scale", 0);
    sp->prob_thd = (float)jnum(run, "prob_thd", 0);
    sp->area_thd = (float)jnum(run, "area_thd", 0);
    /* SC-CLIP's (heads_scclip): absent, the preset of the model's depth */
    const ct_json *sl = ct_json_get(run, "sc_layers");
    if (sl && sl->type == CT_JSON_ARR && sl->n == 4)
        for (int i = 0; i < 4; i++) sp->sc_layers[i] = (int)sl->items[i].num;
    sp->sc_res_cls = (float)jnum(run, "res_cls", -1);
    sp->sc_beta = (float)jnum(run, "beta", 0.4);
}

/* name -> label from `classes` (a list of name lists, class 0 first); returns the name count */
static int run_name_labels(const ct_json *run, int32_t *lab, int cap, int *n_classes) {
    const ct_json *cl = ct_json_get(run, "classes");
    int n = 0;
    *n_classes = 0;
    for (size_t c = 0; cl && cl->type == CT_JSON_ARR && c < cl->n; c++) {
        const ct_json *names = &cl->items[c];
        for (size_t i = 0; names->type == CT_JSON_ARR && i < names->n && n < cap; i++) lab[n++] = (int32_t)c;
        *n_classes = (int)c + 1;
    }
    return n;
}

static double agree(const int32_t *a, const int32_t *b, size_t n) {
    size_t s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] == b[i];
    return n ? (double)s / n : 1.0;
}

/* labels from label probabilities [L x HW] (first maximum; below thd: 0) */
static size_t labels_from_probs(const float *probs, int L, size_t HW, float thd, const int32_t *labels) {
    size_t bad = 0;
    for (size_t i = 0; i < HW; i++) {
        float best = probs[i];
        int32_t bl = 0;
        for (int l = 1; l < L; l++)
            if (probs[(size_t)l * HW + i] > best) { best = probs[(size_t)l * HW + i]; bl = l; }
        if (best < thd) bl = 0;
        bad += bl != labels[i];
    }
    return bad;
}

static void fixture_runs_at(fixture *fx, int nfx) {
    int nruns = 0;
    for (int f = 0; f < nfx; f++) {
        ct_model *m = load_head_model(&fx[f]);
        const ct_json *runs = ct_json_get(fx[f].meta, "runs");
        CHECK(runs && runs->type == CT_JSON_ARR && runs->n > 0, "%s: no runs", fx[f].name);
        for (size_t r = 0; m && runs && r < runs->n; r++) {
            const ct_json *run = &runs->items[r], *rnj = ct_json_get(run, "name");
            if (!rnj || rnj->type != CT_JSON_STR) { CHECK(0, "%s: run %zu has no name", fx[f].name, r); continue; }
            const char *rn = rnj->str;
            npy_array px = {0}, tf = {0}, seg = {0}, pred = {0}, nlab = {0}, pamr = {0}, tok = {0}, outl = {0};
            if (!load_npy(fx[f].dir, rn, "pixels", &px) || !load_npy(fx[f].dir, rn, "text_features", &tf) ||
                !load_npy(fx[f].dir, rn, "seg_logits", &seg) || !load_npy(fx[f].dir, rn, "pred", &pred)) {
                npy_free(&px); npy_free(&tf); npy_free(&seg); npy_free(&pred);
                continue;
            }
            int has_pamr = load_opt(fx[f].dir, rn, "pamr_logits", &pamr), has_tok = load_opt(fx[f].dir, rn, "img_tokens", &tok);
            int has_outl = load_opt(fx[f].dir, rn, "outliers", &outl);
            int H = (int)px.shape[1], W = (int)px.shape[2], N = (int)tf.shape[0];
            size_t HW = (size_t)H * W;
            ct_segment_params sp;
            run_settings(run, &sp);
            int32_t *lab = malloc(sizeof(int32_t) * (size_t)N);
            int nc = 0, nn = run_name_labels(run, lab, N, &nc);
            CHECK(nn == N, "%s: %d names in classes, %d text features", rn, nn, N);
            if (load_opt(fx[f].dir, rn, "name_label", &nlab))
                CHECK(nlab.numel == (size_t)N && !memcmp(nlab.data, lab, sizeof(int32_t) * (size_t)N), "%s: name_label.npy differs from classes", rn);
            /* the windows meta.json lists are the grid's */
            const ct_json *wins = ct_json_get(run, "windows");
            ct_slide_grid g;
            ct_slide_grid_make(H, W, sp.slide_crop, sp.slide_stride, &g);
            CHECK(wins && (int)wins->n == g.n, "%s: %d windows, meta lists %zu", rn, g.n, wins ? wins->n : 0);
            for (int k = 0; wins && k < g.n && k < (int)wins->n; k++) {
                int y1, x1;
                ct_slide_window(&g, k, &y1, &x1);
                const ct_json *wk = &wins->items[k];
                int ok = wk->n == 4 && (int)wk->items[0].num == y1 && (int)wk->items[1].num == x1 &&
                         (int)wk->items[2].num == y1 + g.wh && (int)wk->items[3].num == x1 + g.ww;
                CHECK(ok, "%s: window %d is (%d, %d, %d, %d)", rn, k, y1, x1, y1 + g.wh, x1 + g.ww);
            }
            int32_t *out = malloc(sizeof(int32_t) * HW);
            float *probs = malloc(sizeof(float) * HW * (size_t)nc);
            ct_intermediates in;
            ct_segment_info info;
            ct_segment_outputs o = {out, probs, &info, &in};
            ct_error err;
            ct_status st = ct_segment_ex(m, px.data, H, W, tf.data, N, lab, &sp, &o, &err);
            CHECK(st == CT_OK, "%s: %s", rn, err.msg);
            if (st == CT_OK) {
                nruns++;
                double ds = max_abs_diff(in.seg_logits, seg.data, seg.numel);
                double dp = has_pamr ? (in.pamr_logits ? max_abs_diff(in.pamr_logits, pamr.data, pamr.numel) : INFINITY) : 0;
                /* img_tokens: [(1+h w) x E], or [h w x E] for a head without the CLS row */
                int tok_rows = ct_head_get(sp.head)->tokens_cls ? 1 + (H / ct_model_config(m)->patch) * (W / ct_model_config(m)->patch)
                                                                : (H / ct_model_config(m)->patch) * (W / ct_model_config(m)->patch);
                double dt = has_tok ? (in.img_tokens && tok.numel == (size_t)tok_rows * ct_model_config(m)->embed_dim
                                           ? max_abs_diff(in.img_tokens, tok.data, tok.numel) : INFINITY) : 0;
                /* outliers (SC-CLIP): every window's mask exactly */
                size_t ob = 0;
                if (has_outl) {
                    if (!in.outliers || outl.numel != (size_t)in.n_windows * in.win_h * in.win_w) ob = outl.numel + 1;
                    else
                        for (size_t i = 0; i < outl.numel; i++) ob += in.outliers[i] != ((const int32_t *)outl.data)[i];
                }
                double a = agree(out, pred.data, HW);
                printf("  %s/%s: %s, %d window(s), seg_logits %.1e", fx[f].name, rn, ct_head_name(sp.head), info.n_windows, ds);
                if (has_pamr) printf(", pamr_logits %.1e", dp);
                if (has_tok) printf(", img_tokens %.1e", dt);
                if (has_outl) printf(", outliers %zu of %zu differ", ob, outl.numel);
                printf(", pred agreement %.5f, thresholded %d\n", a, info.n_thresholded);
                CHECK(ob == 0, "%s: %zu outlier flags differ", rn, ob);
                CHECK(ds <= 1e-4, "%s: seg_logits %g", rn, ds);
                CHECK(dp <= 1e-4, "%s: pamr_logits %g", rn, dp);
                CHECK(dt <= 1e-4, "%s: img_tokens %g", rn, dt);
                CHECK(a >= 0.995, "%s: pred agreement %f", rn, a);
                CHECK((in.pamr_logits != NULL) == (sp.pamr_steps > 0), "%s: pamr_logits present without PAMR or absent with it", rn);
                CHECK(!memcmp(in.pred, out, HW * sizeof(int32_t)), "%s: intermediates' pred differs from labels", rn);
                CHECK(info.n_windows == g.n && info.n_labels == nc && info.n_names == N, "%s: info %d windows, %d labels", rn, info.n_windows,
                      info.n_labels);
                CHECK(info.logit_scale == sp.logit_scale || sp.logit_scale <= 0, "%s: logit scale %g", rn, (double)info.logit_scale);
                CHECK(info.workspace_bytes > 0, "%s: no workspace reported", rn);
                size_t slack = HW / 200;
                int nt_meta = (int)jnum(run, "n_thresholded", -1);
                if (nt_meta >= 0)
                    CHECK((size_t)abs(info.n_thresholded - nt_meta) <= slack, "%s: %d thresholded, meta %d", rn, info.n_thresholded, nt_meta);
                const ct_json *hist = ct_json_get(run, "label_histogram");
                if (hist && hist->type == CT_JSON_ARR) {
                    CHECK((int)hist->n == nc, "%s: histogram of %zu labels, %d classes", rn, hist->n, nc);
                    size_t *h = calloc((size_t)nc, sizeof(size_t));
                    for (size_t i = 0; i < HW; i++)
                        if (out[i] >= 0 && out[i] < nc) h[out[i]]++;
                    for (int l = 0; l < nc && l < (int)hist->n; l++) {
                        size_t want = (size_t)hist->items[l].num, d = h[l] > want ? h[l] - want : want - h[l];
                        CHECK(d <= slack, "%s: label %d covers %zu pixels, meta %zu", rn, l, h[l], want);
                    }
                    free(h);
                }
                /* the probabilities given out are the ones the labels come from */
                size_t bad = labels_from_probs(probs, nc, HW, sp.prob_thd, out);
                CHECK(bad == 0, "%s: %zu labels disagree with the probabilities", rn, bad);
                /* without intermediates nor probabilities, on one thread: the same labels */
                int32_t *out2 = malloc(sizeof(int32_t) * HW);
                ct_segment_params s1 = sp;
                s1.n_threads = 1;
                CHECK(ct_segment(m, px.data, H, W, tf.data, N, lab, &s1, out2, NULL, &err) == CT_OK, "%s: %s", rn, err.msg);
                CHECK(!memcmp(out, out2, HW * sizeof(int32_t)), "%s: labels differ without intermediates on one thread", rn);
                /* a window covering the image (larger than it on at least one side) is the whole image, exactly */
                if (sp.slide_crop == 0) {
                    ct_segment_params sw = sp;
                    int p = ct_model_config(m)->patch, big = H > W ? H : W;
                    sw.slide_crop = (big + p - 1) / p * p;
                    sw.slide_stride = 1;
                    ct_intermediates i2;
                    CHECK(ct_segment(m, px.data, H, W, tf.data, N, lab, &sw, out2, &i2, &err) == CT_OK, "%s: %s", rn, err.msg);
                    CHECK(!memcmp(in.seg_logits, i2.seg_logits, sizeof(float) * HW * (size_t)N) && !memcmp(out, out2, HW * sizeof(int32_t)),
                          "%s: a %d window differs from the whole image", rn, sw.slide_crop);
                    ct_intermediates_free(&i2);
                }
                free(out2);
                ct_intermediates_free(&in);
            }
            free(out); free(probs); free(lab);
            npy_array *all[] = {&px, &tf, &seg, &pred, &nlab, &pamr, &tok, &outl};
            for (size_t k = 0; k < sizeof all / sizeof *all; k++) npy_free(all[k]);
        }
        ct_model_free(m);
    }
    CHECK(nruns > 0, "no run checked");
    for (int f = 0; f < nfx; f++) ct_json_free(fx[f].meta);
}

static void fixture_runs_in(const char *sub) {
    fixture fx[MAXFX];
    int nfx = find_head_fixtures(sub, fx, MAXFX);
    if (!nfx) SKIP("no fixtures under %s/%s", oracle_dir(), sub);
    fixture_runs_at(fx, nfx);
}

static void fixture_runs(void) { fixture_runs_in("heads"); }

/* SC-CLIP against $CT_ORACLE_DIR/heads_scclip: seg_logits, img_tokens (patch rows only), the
 * outlier masks (exact: the README's margins keep every LOF decision 5e-6 away from its cut),
 * pred; the same tolerances as the other heads */
static void scclip_fixture_runs(void) { fixture_runs_in("heads_scclip"); }

/* SC-CLIP on the project's own fixtures (test/data/scclip_depth24, tools/dev/gen_scclip_depth24.py:
 * the authors' code on a 24-block, width 64, patch 14 random CLIP): the depth's preset (layers
 * 16,6,8,19, res_cls 0.1) chosen by the depth alone, the same tolerances */
static void scclip_depth24_runs(void) {
    fixture fx[8]; /* test/data holds other fixtures too (openclip_h80: test_openclip) */
    int n = find_fixtures_in("test/data", fx, 8), k = 0;
    while (k < n && strcmp(fx[k].name, "scclip_depth24")) k++;
    CHECK(k < n, "test/data/scclip_depth24 not found (run from the repository root)");
    if (k < n) fixture_runs_at(&fx[k], 1);
    for (int i = 0; i < n; i++)
        if (i != k) ct_json_free(fx[i].meta);
}

/* ---------------------------------------------------------------- synthetic checks */

static uint32_t rng_state = 12345u;
static float frand(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 16777216.f;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* PAMR as the README states it, directly (double where it does not matter) */
static void pamr_direct(const float *img, int H, int W, const int *dil, int nd, int steps, float *maps, int n) {
    static const int ky[8] = {-1, -1, -1, 0, 0, 1, 1, 1}, kx[8] = {-1, 0, 1, -1, 1, -1, 0, 1};
    size_t HW = (size_t)H * W;
    int K = 8 * nd;
    float *aff = malloc(sizeof(float) * HW * K), *tmp = malloc(sizeof(float) * HW);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double a[64] = {0};
            for (int c = 0; c < 3; c++) {
                const float *im = img + c * HW;
                double v[9 * CT_MAX_DILATIONS], mean = 0, var = 0;
                int nv = 0;
                for (int i = 0; i < nd; i++)
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++)
                            v[nv++] = im[clampi(y + dy * dil[i], 0, H - 1) * W + clampi(x + dx * dil[i], 0, W - 1)];
                for (int i = 0; i < nv; i++) mean += v[i] / nv;
                for (int i = 0; i < nv; i++) var += (v[i] - mean) * (v[i] - mean) / (nv - 1);
                for (int i = 0; i < nd; i++)
                    for (int k = 0; k < 8; k++)
                        a[i * 8 + k] += -fabs(im[y * W + x] - im[clampi(y + ky[k] * dil[i], 0, H - 1) * W + clampi(x + kx[k] * dil[i], 0, W - 1)]) /
                                        (1e-8 + 0.1 * sqrt(var)) / 3;
            }
            double mx = -1e300, s = 0;
            for (int k = 0; k < K; k++) mx = a[k] > mx ? a[k] : mx;
            for (int k = 0; k < K; k++) s += exp(a[k] - mx);
            for (int k = 0; k < K; k++) aff[k * HW + y * W + x] = (float)(exp(a[k] - mx) / s);
        }
    for (int c = 0; c < n; c++)
        for (int s = 0; s < steps; s++) {
            float *m = maps + c * HW;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    double acc = 0;
                    for (int i = 0; i < nd; i++)
                        for (int k = 0; k < 8; k++)
                            acc += aff[(i * 8 + k) * HW + y * W + x] * m[clampi(y + ky[k] * dil[i], 0, H - 1) * W + clampi(x + kx[k] * dil[i], 0, W - 1)];
                    tmp[y * W + x] = (float)acc;
                }
            memcpy(m, tmp, sizeof(float) * HW);
        }
    free(aff);
    free(tmp);
}

/* ct_pamr against the direct form, dilations smaller and larger than the image, 1 and 2 threads;
 * 19 maps: groups of maps refined together and single maps, on one thread and on two */
static void pamr_matches_direct(void) {
    const int H = 21, W = 34, n = 19;
    const int dils[][3] = {{1, 0, 0}, {2, 5, 0}, {3, 40, 17}};
    const int nds[] = {1, 2, 3};
    size_t HW = (size_t)H * W;
    float *img = malloc(sizeof(float) * 3 * HW), *m0 = malloc(sizeof(float) * n * HW), *a = malloc(sizeof(float) * n * HW),
          *b = malloc(sizeof(float) * n * HW), *c = malloc(sizeof(float) * n * HW);
    for (size_t i = 0; i < 3 * HW; i++) img[i] = 2.f * frand() - 1.f;
    for (int y = 0; y < H; y++) /* a flat region: std 0 there */
        for (int x = 0; x < 6; x++)
            for (int ch = 0; ch < 3; ch++) img[ch * HW + y * W + x] = 0.25f;
    for (size_t i = 0; i < n * HW; i++) m0[i] = 2.f * frand() - 1.f;
    ct_runtime *rt = NULL;
    CHECK(ct_runtime_new(2, &rt, NULL) == CT_OK, "runtime");
    ct_exec one = ct_exec_serial(), two = ct_exec_for(rt, 2);
    for (int t = 0; t < 3; t++) {
        memcpy(a, m0, sizeof(float) * n * HW);
        memcpy(b, m0, sizeof(float) * n * HW);
        memcpy(c, m0, sizeof(float) * n * HW);
        pamr_direct(img, H, W, dils[t], nds[t], 4, a, n);
        ct_error err;
        CHECK(ct_pamr(&one, img, H, W, dils[t], nds[t], 4, b, n, &err) == CT_OK, "%s", err.msg);
        CHECK(ct_pamr(&two, img, H, W, dils[t], nds[t], 4, c, n, &err) == CT_OK, "%s", err.msg);
        double d = max_abs_diff(a, b, n * HW);
        printf("  PAMR, dilations %d %d %d (the first %d) on %dx%d: max|d| %.1e\n", dils[t][0], dils[t][1], dils[t][2], nds[t], H, W, d);
        /* float against double through 4 convex combinations of values in [-1, 1] */
        CHECK(d <= 1e-5, "PAMR differs from the direct form by %g", d);
        CHECK(!memcmp(b, c, sizeof(float) * n * HW), "PAMR depends on the thread count");
    }
    ct_runtime_free(rt);
    free(img); free(m0); free(a); free(b); free(c);
}

/* classification: synonyms, a label without names, area_thd, prob_thd, counts, probabilities */
static void classification_rules(void) {
    /* 4 names -> labels {0, 1, 1, 3}: label 2 has no name */
    enum { N = 4, L = 4, HW = 10 };
    const int32_t nl[N] = {0, 1, 1, 3};
    float lg[N * HW];
    for (int i = 0; i < N * HW; i++) lg[i] = frand();
    /* pixel 0: name 2 wins clearly -> label 1 */
    lg[0 * HW] = 0; lg[1 * HW] = 0; lg[2 * HW] = 1; lg[3 * HW] = 0;
    /* pixel 1: name 3 wins -> label 3; the only pixel of label 3 */
    for (int k = 0; k < N; k++) lg[k * HW + 1] = k == 3 ? 1.f : 0.f;
    for (int i = 2; i < HW; i++) { lg[0 * HW + i] = 0; lg[1 * HW + i] = 0.8f; lg[2 * HW + i] = 0.1f; lg[3 * HW + i] = 0; }
    ct_classify_params cp = {nl, L, 10.f, 0.f, 0.f};
    int32_t lab[HW];
    float pr[L * HW];
    int nt = -1;
    ct_error err;
    CHECK(ct_classify(NULL, lg, N, HW, &cp, lab, pr, &nt, &err) == CT_OK, "%s", err.msg);
    CHECK(lab[0] == 1 && lab[1] == 3 && lab[5] == 1 && nt == 0, "labels %d %d %d, %d thresholded", lab[0], lab[1], lab[5], nt);
    /* the probabilities: softmax over names, a label's best name, 0 for the nameless label */
    for (int i = 0; i < HW; i++) {
        double e[N], s = 0;
        for (int k = 0; k < N; k++) s += e[k] = exp(10.0 * lg[k * HW + i]);
        double want[L] = {e[0] / s, fmax(e[1], e[2]) / s, 0, e[3] / s};
        for (int l = 0; l < L; l++) CHECK(fabs(pr[l * HW + i] - want[l]) <= 1e-6, "pixel %d label %d: %g, want %g", i, l, pr[l * HW + i], want[l]);
    }
    /* area_thd: label 3 covers 1 of the 10 labelled pixels: dropped at 0.1 (at most), kept below;
     * pixel 1 then ties labels 0 and 1: the first wins */
    cp.area_thd = 0.1f;
    CHECK(ct_classify(NULL, lg, N, HW, &cp, lab, pr, &nt, &err) == CT_OK, "%s", err.msg);
    CHECK(lab[1] == 0 && lab[0] == 1 && pr[3 * HW + 1] == 0.f && pr[3 * HW + 0] == 0.f, "area_thd 0.1: label %d, prob %g", lab[1],
          pr[3 * HW + 1]);
    cp.area_thd = 0.09f;
    CHECK(ct_classify(NULL, lg, N, HW, &cp, lab, pr, &nt, &err) == CT_OK && lab[1] == 3, "area_thd 0.09 drops label 3");
    /* prob_thd: the pixels below it get label 0 and are counted */
    cp.area_thd = 0.f;
    cp.prob_thd = 0.999f; /* pixels 2.. have 0.998, pixels 0 and 1 0.9998 */
    CHECK(ct_classify(NULL, lg, N, HW, &cp, lab, NULL, &nt, &err) == CT_OK, "%s", err.msg);
    int zeros = 0;
    for (int i = 0; i < HW; i++) zeros += lab[i] == 0;
    CHECK(nt == 8 && zeros == 8 && lab[0] == 1 && lab[1] == 3, "prob_thd 0.999: %d thresholded, %d zeros", nt, zeros);
    /* a probability equal to prob_thd is kept: two synonyms of label 1 with equal logits give it
     * exactly 0.5 (label 0 has no name: probability 0) */
    const int32_t both[2] = {1, 1};
    const float eq[2] = {0.3f, 0.3f};
    ct_classify_params half = {both, 2, 40.f, 0.f, 0.5f};
    float pr2[2];
    CHECK(ct_classify(NULL, eq, 2, 1, &half, lab, pr2, &nt, &err) == CT_OK && lab[0] == 1 && nt == 0 && pr2[1] == 0.5f && pr2[0] == 0.f,
          "prob_thd equal to the probability: label %d, %d thresholded, p %g", lab[0], nt, pr2[1]);
}

/* the window rule: the references' grid, shrinking windows, coverage */
static void window_grid(void) {
    ct_slide_grid g;
    ct_slide_grid_make(336, 448, 224, 112, &g);
    CHECK(g.gh == 2 && g.gw == 3 && g.wh == 224 && g.ww == 224 && g.n == 6, "336x448 224/112: %dx%d", g.gh, g.gw);
    int y1, x1;
    ct_slide_window(&g, 5, &y1, &x1);
    CHECK(y1 == 112 && x1 == 224, "window 5 at %d,%d", y1, x1);
    /* the last window moves back to end at the border */
    ct_slide_grid_make(240, 400, 224, 112, &g);
    ct_slide_window(&g, g.n - 1, &y1, &x1);
    CHECK(g.gh == 2 && g.gw == 3 && y1 == 16 && x1 == 176, "240x400: %dx%d, last at %d,%d", g.gh, g.gw, y1, x1);
    /* larger than the image: one window, the image */
    ct_slide_grid_make(64, 96, 448, 224, &g);
    ct_slide_window(&g, 0, &y1, &x1);
    CHECK(g.n == 1 && g.wh == 64 && g.ww == 96 && y1 == 0 && x1 == 0, "448 window on 64x96: %d windows of %dx%d", g.n, g.wh, g.ww);
    /* larger on one side only */
    ct_slide_grid_make(64, 512, 128, 128, &g);
    CHECK(g.gh == 1 && g.gw == 4 && g.wh == 64 && g.ww == 128, "128 on 64x512: %dx%d of %dx%d", g.gh, g.gw, g.wh, g.ww);
    /* every pixel is covered, for strides up to the window */
    for (int s = 16; s <= 224; s += 16) {
        ct_slide_grid_make(336, 448, 224, s, &g);
        static unsigned char cov[336 * 448];
        memset(cov, 0, sizeof cov);
        for (int k = 0; k < g.n; k++) {
            ct_slide_window(&g, k, &y1, &x1);
            CHECK(y1 >= 0 && x1 >= 0 && y1 + g.wh <= 336 && x1 + g.ww <= 448, "stride %d window %d outside", s, k);
            for (int y = y1; y < y1 + g.wh; y++) memset(cov + y * 448 + x1, 1, (size_t)g.ww);
        }
        size_t un = 0;
        for (size_t i = 0; i < sizeof cov; i++) un += !cov[i];
        CHECK(un == 0, "stride %d leaves %zu pixels uncovered", s, un);
    }
}

/* The windows of a fixture run with several windows, encoded in batches of 1, 2 and all of them:
 * the same seg_logits, bit for bit (every row of the encoder's products is summed in the same
 * order whatever the rows around it). */
static void window_batches(void) {
    fixture fx[MAXFX];
    int nfx = find_head_fixtures("heads", fx, MAXFX), done = 0;
    if (!nfx) SKIP("no heads fixtures under %s/heads", oracle_dir());
    for (int f = 0; f < nfx && !done; f++) {
        const ct_json *runs = ct_json_get(fx[f].meta, "runs");
        for (size_t r = 0; runs && r < runs->n && !done; r++) {
            const ct_json *run = &runs->items[r];
            ct_segment_params sp;
            run_settings(run, &sp);
            const ct_json *wins = ct_json_get(run, "windows");
            if (!wins || wins->n < 3) continue;
            ct_model *m = load_head_model(&fx[f]);
            npy_array px = {0}, tf = {0};
            const char *rn = ct_json_get(run, "name")->str;
            if (m && load_npy(fx[f].dir, rn, "pixels", &px) && load_npy(fx[f].dir, rn, "text_features", &tf)) {
                int H = (int)px.shape[1], W = (int)px.shape[2], N = (int)tf.shape[0];
                size_t n = (size_t)N * H * W;
                ct_slide_grid g;
                ct_slide_grid_make(H, W, sp.slide_crop, sp.slide_stride, &g);
                ct_nn nn = ct_model_nn(m, 0);
                float *all = malloc(sizeof(float) * n), *part = malloc(sizeof(float) * n);
                ct_slide_stats ss;
                ct_error err;
                CHECK(ct_slide_logits(m, &nn, px.data, &g, &sp, tf.data, N, 0, all, NULL, NULL, &ss, &err) == CT_OK, "%s", err.msg);
                CHECK(ss.n_batches == 1 && ss.n_windows == g.n, "%d windows in %d batches", ss.n_windows, ss.n_batches);
                for (int b = 1; b <= 2; b++) {
                    CHECK(ct_slide_logits(m, &nn, px.data, &g, &sp, tf.data, N, b, part, NULL, NULL, &ss, &err) == CT_OK, "%s",
                          err.msg);
                    printf("  %s/%s: %d windows in %d batches: max|d| %.1e\n", fx[f].name, rn, g.n, ss.n_batches, max_abs_diff(all, part, n));
                    CHECK(ss.n_batches == (g.n + b - 1) / b, "%d batches of %d", ss.n_batches, b);
                    CHECK(!memcmp(all, part, sizeof(float) * n), "batches of %d windows change seg_logits", b);
                }
                free(all); free(part);
                done = 1;
            }
            npy_free(&px); npy_free(&tf);
            ct_model_free(m);
        }
    }
    for (int f = 0; f < nfx; f++) ct_json_free(fx[f].meta);
    if (!done) SKIP("no fixture run with 3 windows or more");
}

/* The model of the first heads fixture (NULL with a failed check when it does not load);
 * *found: whether there is a fixture at all. */
static ct_model *first_head_model(int *found) {
    fixture fx[MAXFX];
    int nfx = find_head_fixtures("heads", fx, MAXFX);
    *found = nfx > 0;
    ct_model *m = nfx ? load_head_model(&fx[0]) : NULL;
    for (int f = 0; f < nfx; f++) ct_json_free(fx[f].meta);
    return m;
}

/* Issue 18, item 7: a NaN or Inf in one name's embedding is CT_ERR_NONFINITE for every head
 * (whole image and windows, ct_segment and ct_segment_ex with probabilities), outputs untouched */
static void nonfinite_embeddings(void) {
    int found = 0;
    ct_model *m = first_head_model(&found);
    if (!found) SKIP("no heads fixtures under %s/heads", oracle_dir());
    if (!m) return;
    const ct_config *c = ct_model_config(m);
    int p = c->patch, H = 6 * p, W = 8 * p, N = 3, E = c->embed_dim; /* windows of 36 patches: SC-CLIP needs 31 */
    float *px = calloc((size_t)3 * H * W, sizeof(float)), *emb = calloc((size_t)N * E, sizeof(float));
    float *probs = malloc(sizeof(float) * (size_t)N * H * W);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)H * W);
    for (int i = 0; i < N; i++) emb[(size_t)i * E + i] = 1.f;
    const float bad[2] = {NAN, INFINITY};
    ct_error err;
    for (int h = 0; h < CT_HEAD_COUNT; h++) {
        if (h == CT_HEAD_PROXYCLIP) continue; /* needs a proxy backbone: test_proxyclip */
        for (int win = 0; win < (h == CT_HEAD_CLIPTRASE ? 1 : 2); win++) {
            ct_segment_params sp;
            ct_segment_params_preset(&sp, (ct_head)h);
            sp.slide_crop = win ? 6 * p : 0;
            sp.slide_stride = 2 * p;
            sp.pamr_steps = 0;
            CHECK(ct_segment(m, px, H, W, emb, N, NULL, &sp, lab, NULL, &err) == CT_OK, "%s: finite embeddings: %s", ct_head_name((ct_head)h), err.msg);
            for (int b = 0; b < 2; b++) {
                emb[(size_t)1 * E + 2] = bad[b];
                for (int i = 0; i < H * W; i++) lab[i] = -7;
                ct_status st = ct_segment(m, px, H, W, emb, N, NULL, &sp, lab, NULL, &err);
                CHECK(st == CT_ERR_NONFINITE && strstr(err.msg, "class embeddings") && strstr(err.msg, "row 1"),
                      "%s%s, %s in one embedding: %s (%s)", ct_head_name((ct_head)h), win ? " with windows" : "", b ? "Inf" : "NaN", ct_status_str(st), err.msg);
                ct_segment_outputs o = {lab, probs, NULL, NULL};
                st = ct_segment_ex(m, px, H, W, emb, N, NULL, &sp, &o, &err);
                CHECK(st == CT_ERR_NONFINITE, "ct_segment_ex, %s: %s", ct_head_name((ct_head)h), ct_status_str(st));
                int untouched = 1;
                for (int i = 0; i < H * W; i++) untouched &= lab[i] == -7;
                CHECK(untouched, "%s: labels written on a refusal", ct_head_name((ct_head)h));
                emb[(size_t)1 * E + 2] = 0.f;
            }
        }
    }
    free(px); free(emb); free(probs); free(lab);
    ct_model_free(m);
}

/* every parameter error is reported before any work: the pixels hold a NaN, which the encoder
 * would report as CT_ERR_NONFINITE */
static void parameter_errors(void) {
    int found = 0;
    ct_model *m = first_head_model(&found);
    if (!found) SKIP("no heads fixtures under %s/heads", oracle_dir());
    if (!m) return;
    const ct_config *c = ct_model_config(m);
    int p = c->patch, H = 2 * p, W = 3 * p, N = 2, E = c->embed_dim;
    float *px = calloc((size_t)3 * H * W, sizeof(float)), *emb = calloc((size_t)N * E, sizeof(float));
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)H * W);
    px[5] = NAN;
    emb[0] = emb[E + 1] = 1.f;
    ct_segment_params base;
    ct_segment_params_preset(&base, CT_HEAD_NACLIP);
    ct_error err;
    /* the base is valid: the encoder runs and meets the NaN */
    CHECK(ct_segment(m, px, H, W, emb, N, NULL, &base, lab, NULL, &err) == CT_ERR_NONFINITE, "valid parameters: %s", err.msg);
    struct { const char *what; ct_segment_params sp; } cases[40];
    int nc = 0;
#define CASE(desc, stmt) do { cases[nc].what = desc; cases[nc].sp = base; { ct_segment_params *q = &cases[nc].sp; stmt; } nc++; } while (0)
    CASE("unknown head", q->head = (ct_head)99);
    CASE("negative head", q->head = (ct_head)-1);
    CASE("window not a multiple of the patch", q->slide_crop = p + 1);
    CASE("negative window", q->slide_crop = -p);
    CASE("stride 0", q->slide_stride = 0);
    CASE("negative stride", q->slide_stride = -16);
    CASE("stride larger than the window", q->slide_stride = q->slide_crop + 1);
    CASE("prob_thd below 0", q->prob_thd = -0.01f);
    CASE("prob_thd above 1", q->prob_thd = 1.01f);
    CASE("prob_thd NaN", q->prob_thd = NAN);
    CASE("area_thd below 0", q->area_thd = -0.5f);
    CASE("area_thd above 1", q->area_thd = 2.f);
    CASE("dilation 0", q->pamr_dilations[1] = 0);
    CASE("negative dilation", q->pamr_dilations[0] = -8);
    CASE("negative dilation with PAMR off", (q->pamr_steps = 0, q->pamr_dilations[0] = -8));
    CASE("too many dilations", q->n_pamr_dilations = CT_MAX_DILATIONS + 1);
    CASE("PAMR without dilations", q->n_pamr_dilations = 0);
    CASE("negative steps", q->pamr_steps = -1);
    CASE("negative logit scale", q->logit_scale = -1.f);
    CASE("gaussian std 0", q->gaussian_std = 0.f);
    CASE("gaussian std 1e-23 (2 sigma^2 underflows)", q->gaussian_std = 1e-23f);
    CASE("gaussian std below the bound", q->gaussian_std = 0.0099f);
    CASE("gaussian std above the bound", q->gaussian_std = 10001.f);
    CASE("cliptrase with windows", (q->head = CT_HEAD_CLIPTRASE, q->pamr_steps = 0));
    CASE("cliptrase with PAMR", (q->head = CT_HEAD_CLIPTRASE, q->slide_crop = 0));
    CASE("cliptrase with prob_thd", (q->head = CT_HEAD_CLIPTRASE, q->slide_crop = 0, q->pamr_steps = 0, q->prob_thd = 0.5f));
    CASE("cls_reweight with another head", q->cls_reweight = 1);
    CASE("cliptrase with area_thd", (q->head = CT_HEAD_CLIPTRASE, q->slide_crop = 0, q->pamr_steps = 0, q->area_thd = 0.5f));
#undef CASE
    for (int i = 0; i < nc; i++) {
        ct_status st = ct_segment(m, px, H, W, emb, N, NULL, &cases[i].sp, lab, NULL, &err);
        CHECK(st == CT_ERR_INVALID_ARG, "%s: %s (%s)", cases[i].what, ct_status_str(st), err.msg);
        size_t bytes = 0;
        st = ct_segment_memory(m, H, W, N, &cases[i].sp, 0, &bytes, &err);
        CHECK(st == CT_ERR_INVALID_ARG, "ct_segment_memory, %s: %s", cases[i].what, ct_status_str(st));
    }
    /* not errors: a window larger than the image, stride equal to the window */
    ct_segment_params ok = base;
    ok.slide_crop = 40 * p;
    ok.slide_stride = 40 * p;
    CHECK(ct_segment(m, px, H, W, emb, N, NULL, &ok, lab, NULL, &err) == CT_ERR_NONFINITE, "window larger than the image: %s", err.msg);
    /* the memory estimate covers the peers' path and grows with PAMR and intermediates */
    size_t b0 = 0, b1 = 0, b2 = 0;
    ok.pamr_steps = 0;
    CHECK(ct_segment_memory(m, 448, 448, 150, &ok, 0, &b0, &err) == CT_OK, "%s", err.msg);
    ok.pamr_steps = 10;
    CHECK(ct_segment_memory(m, 448, 448, 150, &ok, 0, &b1, &err) == CT_OK, "%s", err.msg);
    CHECK(ct_segment_memory(m, 448, 448, 150, &ok, 1, &b2, &err) == CT_OK, "%s", err.msg);
    CHECK(b0 >= (size_t)150 * 448 * 448 * 4 && b1 > b0 && b2 >= b1 + (size_t)150 * 448 * 448 * 4, "memory %zu %zu %zu", b0, b1, b2);
    free(px); free(emb); free(lab);
    ct_model_free(m);
}

/* cliptrase keeps its vote; its probabilities are the raw logits' */
static void cliptrase_probs(void) {
    int found = 0;
    ct_model *m = first_head_model(&found);
    if (!found) SKIP("no heads fixtures under %s/heads", oracle_dir());
    if (!m) return;
    const ct_config *c = ct_model_config(m);
    int p = c->patch, H = 4 * p, W = 5 * p, N = 3, E = c->embed_dim;
    size_t HW = (size_t)H * W;
    float *px = malloc(sizeof(float) * 3 * HW), *emb = malloc(sizeof(float) * (size_t)N * E), *pr = malloc(sizeof(float) * 2 * HW);
    for (size_t i = 0; i < 3 * HW; i++) px[i] = 2.f * frand() - 1.f;
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int k = 0; k < E; k++) {
            emb[n * E + k] = frand() - 0.5f;
            s += (double)emb[n * E + k] * emb[n * E + k];
        }
        for (int k = 0; k < E; k++) emb[n * E + k] /= (float)sqrt(s);
    }
    const int32_t nl[3] = {0, 1, 1};
    int32_t *a = malloc(sizeof(int32_t) * HW), *b = malloc(sizeof(int32_t) * HW);
    ct_segment_params sp;
    ct_segment_params_default(&sp);
    ct_intermediates in;
    ct_error err;
    CHECK(ct_segment(m, px, H, W, emb, N, nl, &sp, a, &in, &err) == CT_OK, "%s", err.msg);
    ct_segment_info info;
    ct_segment_outputs o = {b, pr, &info, NULL};
    CHECK(ct_segment_ex(m, px, H, W, emb, N, nl, &sp, &o, &err) == CT_OK, "%s", err.msg);
    CHECK(!memcmp(a, b, sizeof(int32_t) * HW), "probabilities change the cliptrase labels");
    CHECK(info.logit_scale == c->logit_scale, "resolved scale %g", (double)info.logit_scale);
    double d = 0;
    for (size_t i = 0; in.logits_up && i < HW; i++) {
        double l0 = in.logits_up[i], l1 = in.logits_up[HW + i], l2 = in.logits_up[2 * HW + i], mx = fmax(l0, fmax(l1, l2));
        double s = exp(l0 - mx) + exp(l1 - mx) + exp(l2 - mx);
        d = fmax(d, fabs(pr[i] - exp(l0 - mx) / s));
        d = fmax(d, fabs(pr[HW + i] - fmax(exp(l1 - mx), exp(l2 - mx)) / s));
    }
    CHECK(in.logits_up && d <= 1e-6, "cliptrase probabilities differ from the raw logits' softmax by %g", d);
    ct_intermediates_free(&in);
    free(px); free(emb); free(pr); free(a); free(b);
    ct_model_free(m);
}

/* every head's preset runs (and is what docs/heads.md states) */
static void presets(void) {
    ct_segment_params p;
    ct_segment_params_preset(&p, CT_HEAD_NACLIP);
    CHECK(p.head == CT_HEAD_NACLIP && p.logit_scale == 40.f && p.slide_crop == 224 && p.slide_stride == 112 && p.pamr_steps == 10 &&
              p.n_pamr_dilations == 2 && p.pamr_dilations[0] == 8 && p.pamr_dilations[1] == 16 && p.gaussian_std == 5.f,
          "naclip preset");
    ct_segment_params_preset(&p, CT_HEAD_SCLIP);
    CHECK(p.logit_scale == 40.f && p.slide_crop == 224 && p.slide_stride == 112 && p.pamr_steps == 0, "sclip preset");
    ct_segment_params_preset(&p, CT_HEAD_CLEARCLIP);
    CHECK(p.logit_scale == 50.f && p.slide_crop == 448 && p.slide_stride == 224 && p.pamr_steps == 0, "clearclip preset");
    ct_segment_params_preset(&p, CT_HEAD_CLIPTRASE);
    ct_segment_params d;
    ct_segment_params_default(&d);
    CHECK(!memcmp(&p, &d, sizeof p), "cliptrase preset is the default");
    for (int h = 0; h < CT_HEAD_COUNT; h++) {
        ct_segment_params_preset(&p, (ct_head)h);
        CHECK(p.head == (ct_head)h && p.prob_thd == 0.f && p.area_thd == 0.f, "%s preset: thresholds", ct_head_name((ct_head)h));
    }
}

/* the registry has one complete line per head value, and every name parses back to its value */
static void registry(void) {
    CHECK(ct_heads_registry_ok(), "lib/heads/registry.c: a head value without its line, or a line without id, name, preset or last block");
    for (int h = 0; h < CT_HEAD_COUNT; h++) {
        const ct_head_desc *d = ct_head_get((ct_head)h);
        ct_head back = CT_HEAD_COUNT;
        ct_error err;
        CHECK(d && ct_head_parse(ct_head_name((ct_head)h), &back, &err) == CT_OK && back == (ct_head)h, "head %d: name round trip", h);
    }
    CHECK(!ct_head_get(CT_HEAD_COUNT) && !ct_head_get((ct_head)-1), "descriptor of an unknown head");
}

/* SC-CLIP's parameters: the presets by depth (through the descriptor, on configs of 12, 24 and
 * other depths), every range refused before any work (NaN pixels would give CT_ERR_NONFINITE),
 * the minimum window, explicit layers on a depth without a preset */
static void scclip_parameters(void) {
    ct_segment_params p;
    ct_segment_params_preset(&p, CT_HEAD_SCCLIP);
    CHECK(p.head == CT_HEAD_SCCLIP && p.logit_scale == 40.f && p.slide_crop == 224 && p.slide_stride == 112 && p.pamr_steps == 0 &&
              !p.sc_layers[0] && !p.sc_layers[1] && !p.sc_layers[2] && !p.sc_layers[3] && p.sc_res_cls < 0 && p.sc_beta == 0.4f,
          "scclip preset");
    const ct_head_desc *d = ct_head_get(CT_HEAD_SCCLIP);
    ct_config c12 = {.vision_layers = 12, .patch = 16}, c24 = {.vision_layers = 24, .patch = 14}, c13 = {.vision_layers = 13, .patch = 16};
    ct_error err;
    /* the depth's preset: which block outputs the head keeps */
    unsigned char k[CT_HEAD_MAX_KEEP];
    memset(k, 0, sizeof k);
    d->keep(&p, &c12, k);
    int want12[] = {3, 4, 5, 6, 7, 8, 9}, n = 0; /* pre 8, post 3, start..end-1 3..9 */
    for (int i = 0; i < 11; i++) n += k[i];
    CHECK(n == 7 && k[8] && k[3] && k[9] && !k[10] && !k[2], "12 blocks: kept %d outputs", n);
    for (size_t i = 0; i < sizeof want12 / sizeof *want12; i++) CHECK(k[want12[i]], "12 blocks: F[%d] not kept", want12[i]);
    memset(k, 0, sizeof k);
    d->keep(&p, &c24, k);
    n = 0;
    for (int i = 0; i < 23; i++) n += k[i];
    CHECK(n == 12 && k[16] && k[6] && k[8] && k[18] && !k[19] && !k[7], "24 blocks: kept %d outputs (16, 6, 8..18)", n);
    CHECK(d->check(&p, &c12, 224, 224, &err) == CT_OK && d->check(&p, &c24, 224, 224, &err) == CT_OK, "preset depths: %s", err.msg);
    CHECK(d->check(&p, &c13, 224, 224, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "--sc-layers"), "13 blocks without layers: %s", err.msg);
    ct_segment_params q = p;
    q.sc_layers[0] = 9; q.sc_layers[1] = 2; q.sc_layers[2] = 4; q.sc_layers[3] = 12;
    CHECK(d->check(&q, &c13, 224, 224, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "res_cls"), "13 blocks, layers without res_cls: %s", err.msg);
    q.sc_res_cls = 0.2f;
    CHECK(d->check(&q, &c13, 224, 224, &err) == CT_OK, "13 blocks, layers and res_cls given: %s", err.msg);
    /* ranges, against the 12-block tower */
    struct { const char *what; int lay[4]; float res, beta; int wh, ww; } bad[] = {
        {"pre above L-2", {11, 3, 3, 10}, 0.3f, 0.4f, 224, 224},   {"negative post", {8, -1, 3, 10}, 0.3f, 0.4f, 224, 224},
        {"start = end", {8, 3, 5, 5}, 0.3f, 0.4f, 224, 224},       {"end above L-1", {8, 3, 3, 12}, 0.3f, 0.4f, 224, 224},
        {"negative start", {8, 3, -1, 10}, 0.3f, 0.4f, 224, 224}, {"beta above 1", {8, 3, 3, 10}, 0.3f, 1.5f, 224, 224},
        {"beta NaN", {8, 3, 3, 10}, 0.3f, NAN, 224, 224},          {"res_cls NaN", {8, 3, 3, 10}, NAN, 0.4f, 224, 224},
        {"a window of 30 patches", {8, 3, 3, 10}, 0.3f, 0.4f, 80, 96},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        q = p;
        memcpy(q.sc_layers, bad[i].lay, sizeof q.sc_layers);
        q.sc_res_cls = bad[i].res;
        q.sc_beta = bad[i].beta;
        CHECK(d->check(&q, &c12, bad[i].wh, bad[i].ww, &err) == CT_ERR_INVALID_ARG, "%s accepted", bad[i].what);
    }
    q = p;
    CHECK(d->check(&q, &c12, 96, 96, &err) == CT_OK, "a window of 36 patches: %s", err.msg);
    /* through ct_segment, before any work: NaN pixels, bad layers -> CT_ERR_INVALID_ARG */
    int found = 0;
    ct_model *m = first_head_model(&found);
    if (!found) SKIP("no heads fixtures under %s/heads", oracle_dir());
    if (!m) return;
    int H = 96, W = 112, N = 2, E = ct_model_config(m)->embed_dim;
    float *px = calloc((size_t)3 * H * W, sizeof(float)), *emb = calloc((size_t)N * E, sizeof(float));
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)H * W);
    px[7] = NAN;
    emb[0] = emb[E + 1] = 1.f;
    q = p;
    q.slide_crop = 0;
    CHECK(ct_segment(m, px, H, W, emb, N, NULL, &q, lab, NULL, &err) == CT_ERR_NONFINITE, "valid parameters: %s", err.msg);
    q.sc_layers[0] = 11; q.sc_layers[1] = 3; q.sc_layers[2] = 3; q.sc_layers[3] = 10;
    CHECK(ct_segment(m, px, H, W, emb, N, NULL, &q, lab, NULL, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "PRE"), "pre 11: %s", err.msg);
    q = p;
    q.slide_crop = 64;
    q.slide_stride = 32;
    CHECK(ct_segment(m, px, H, W, emb, N, NULL, &q, lab, NULL, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "31 patches"), "64 windows: %s",
          err.msg);
    free(px); free(emb); free(lab);
    ct_model_free(m);
}

int main(void) {
    RUN(registry);
    RUN(scclip_parameters);
    RUN(window_grid);
    RUN(classification_rules);
    RUN(pamr_matches_direct);
    RUN(presets);
    RUN(parameter_errors);
    RUN(nonfinite_embeddings);
    RUN(cliptrase_probs);
    RUN(window_batches);
    RUN(fixture_runs);
    RUN(scclip_fixture_runs);
    RUN(scclip_depth24_runs);
    DONE();
}
