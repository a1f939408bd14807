/* The ProxyCLIP head (lib/heads/proxyclip.c) against every run of the oracle's
 * heads_proxyclip (DINO proxy, Hugging Face names) and heads_proxyclip_dinov2 (DINOv2 with
 * registers, DINOv2's names) fixtures, through the API and through the demo (--dump); the same
 * DINO weights under DINO's own names; the parameter checks and refusals.
 *
 * Tolerances (as test_heads.c): seg_logits, img_tokens and proxy_features 1e-4 absolute (fp32
 * through two towers whose products sum in another order than PyTorch's: a few ulp per block);
 * labels >= 99.5% (argmaxes of probabilities within ~1e-4 x logit_scale may flip where two
 * classes tie); the label histogram within those pixels. The mask of the proxy
 * attention cannot flip: the fixtures' smallest |gamma (S - beta mean)| is >= 5e-6 (meta.json). */
#include "fixtures.h"
#include "st_rename.h"
#include "tool_run.h"

#include <sys/stat.h>

#define TOL 1e-4
#define MAXRUNS 8

typedef struct {
    const char *sub;  /* folder under the oracle */
    char dir[600];
    char clip[700], proxy[700];
    ct_json *meta;
} suite;

static int open_suite(suite *s, const char *sub) {
    memset(s, 0, sizeof *s);
    s->sub = sub;
    FMT(s->dir, "%s/%s", oracle_dir(), sub);
    char p[700];
    FMT(p, "%s/meta.json", s->dir);
    size_t len;
    char *txt = slurp(p, &len);
    if (!txt) return 0;
    s->meta = ct_json_parse(txt, len, NULL, 0);
    free(txt);
    if (!s->meta) { CHECK(0, "%s: meta.json does not parse", sub); return 0; }
    FMT(s->clip, "%s/small_f16_hf/model.safetensors", oracle_dir());
    const ct_json *pm = ct_json_get(s->meta, "proxy_model");
    const char *pn = pm && pm->type == CT_JSON_STR ? pm->str : "";
    size_t pl = strlen(pn);
    if (pl > 12 && !strcmp(pn + pl - 12, ".safetensors")) FMT(s->proxy, "%s/%s", s->dir, pn);
    else FMT(s->proxy, "%s/%s/model.safetensors", s->dir, pn);
    return 1;
}

static void close_suite(suite *s) { ct_json_free(s->meta); }

/* A run's names (classes flattened) and labels; returns the name count. */
static int run_names_labels(const ct_json *run, const char **names, int32_t *lab, int cap, int *n_classes) {
    const ct_json *c = ct_json_get(run, "classes");
    int n = 0;
    for (size_t i = 0; c && i < c->n; i++)
        for (size_t k = 0; k < c->items[i].n && n < cap; k++) {
            names[n] = c->items[i].items[k].str;
            lab[n++] = (int32_t)i;
        }
    *n_classes = c ? (int)c->n : 0;
    return n;
}

static void run_params(const ct_json *run, const ct_model *proxy, ct_segment_params *sp) {
    ct_segment_params_preset(sp, CT_HEAD_PROXYCLIP);
    sp->proxy = proxy;
    sp->slide_crop = (int)jnum(run, "slide_crop", 0);
    sp->slide_stride = (int)jnum(run, "slide_stride", 0);
    sp->proxy_beta = (float)jnum(run, "beta", 1.2);
    sp->proxy_gamma = (float)jnum(run, "gamma", 3.0);
    sp->logit_scale = (float)jnum(run, "logit_scale", 40);
    sp->prob_thd = (float)jnum(run, "prob_thd", 0);
}

static double agree(const int32_t *a, const int32_t *b, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += a[i] == b[i];
    return n ? (double)k / (double)n : 1.0;
}

/* Every proxyclip run of a suite through the API with this proxy file; returns the runs checked. */
static int api_runs(suite *s, const char *proxy_path) {
    ct_model *m = NULL, *px = NULL;
    ct_error err;
    if (ct_model_load(s->clip, &m, &err) || ct_model_load(proxy_path, &px, &err)) {
        CHECK(0, "%s", err.msg);
        ct_model_free(m);
        return 0;
    }
    const ct_json *runs = ct_json_get(s->meta, "runs");
    int checked = 0;
    for (size_t r = 0; runs && r < runs->n; r++) {
        const ct_json *run = &runs->items[r], *kind = ct_json_get(run, "kind");
        const char *rn = ct_json_get(run, "name")->str;
        int tower = kind && kind->type == CT_JSON_STR && !strcmp(kind->str, "tower");
        npy_array px_a = {0}, tf = {0}, seg = {0}, pred = {0}, feat = {0}, tok = {0};
        if (!load_npy(s->dir, rn, "pixels", &px_a) || !load_npy(s->dir, rn, "proxy_features", &feat)) continue;
        int H = (int)px_a.shape[1], W = (int)px_a.shape[2];
        size_t HW = (size_t)H * W;
        ct_segment_params sp;
        run_params(run, px, &sp);
        const char *names[64];
        int32_t lab[64];
        int nc = 0, N = run_names_labels(run, names, lab, 64, &nc);
        if (tower) {
            /* the tower run: the whole-image head on its pixels, the proxy features only */
            float *emb = calloc((size_t)N * ct_model_config(m)->embed_dim, sizeof(float));
            for (int i = 0; i < N; i++) emb[(size_t)i * ct_model_config(m)->embed_dim + (size_t)i % 8] = 1.f;
            int32_t *out = malloc(sizeof(int32_t) * HW);
            ct_intermediates in;
            ct_status st = ct_segment(m, px_a.data, H, W, emb, N, lab, &sp, out, &in, &err);
            CHECK(st == CT_OK, "%s: %s", rn, err.msg);
            if (!st) {
                double d = in.proxy_features && (size_t)in.proxy_h * in.proxy_w * in.proxy_dim == feat.numel
                               ? max_abs_diff(in.proxy_features, feat.data, feat.numel) : INFINITY;
                printf("  %s/%s: proxy_features %.1e\n", s->sub, rn, d);
                CHECK(d <= TOL, "%s: proxy_features %g", rn, d);
                ct_intermediates_free(&in);
                checked++;
            }
            free(out); free(emb);
            npy_free(&px_a); npy_free(&feat);
            continue;
        }
        if (!load_npy(s->dir, rn, "text_features", &tf) || !load_npy(s->dir, rn, "seg_logits", &seg) ||
            !load_npy(s->dir, rn, "pred", &pred)) {
            npy_free(&px_a); npy_free(&feat); npy_free(&tf); npy_free(&seg);
            continue;
        }
        int has_tok = sp.slide_crop == 0 && load_npy(s->dir, rn, "img_tokens", &tok);
        CHECK((int)tf.shape[0] == N, "%s: %d names, %d text features", rn, N, (int)tf.shape[0]);
        int32_t *out = malloc(sizeof(int32_t) * HW);
        ct_intermediates in;
        ct_segment_info info;
        ct_segment_outputs o = {out, NULL, &info, &in};
        ct_status st = ct_segment_ex(m, px_a.data, H, W, tf.data, N, lab, &sp, &o, &err);
        CHECK(st == CT_OK, "%s: %s", rn, err.msg);
        if (!st) {
            double ds = max_abs_diff(in.seg_logits, seg.data, seg.numel);
            double df = in.proxy_features && (size_t)in.proxy_h * in.proxy_w * in.proxy_dim == feat.numel
                            ? max_abs_diff(in.proxy_features, feat.data, feat.numel) : INFINITY;
            double dt = has_tok ? (in.img_tokens ? max_abs_diff(in.img_tokens, tok.data, tok.numel) : INFINITY) : 0;
            double a = agree(out, pred.data, HW);
            const ct_json *wins = ct_json_get(run, "windows");
            printf("  %s/%s: %d window(s), seg_logits %.1e, proxy_features %.1e", s->sub, rn, info.n_windows, ds, df);
            if (has_tok) printf(", img_tokens %.1e", dt);
            printf(", pred agreement %.5f, thresholded %d\n", a, info.n_thresholded);
            CHECK(ds <= TOL, "%s: seg_logits %g", rn, ds);
            CHECK(df <= TOL, "%s: proxy_features %g", rn, df);
            CHECK(dt <= TOL, "%s: img_tokens %g", rn, dt);
            CHECK(a >= 0.995, "%s: pred agreement %f", rn, a);
            CHECK(wins && (int)wins->n == info.n_windows, "%s: %d windows, meta lists %zu", rn, info.n_windows, wins ? wins->n : 0);
            size_t slack = HW / 200;
            /* (meta's n_thresholded is not compared: heads_proxyclip counts every label-0 pixel there) */
            const ct_json *hist = ct_json_get(run, "label_histogram");
            for (size_t l = 0; hist && l < hist->n; l++) {
                size_t h = 0, want = (size_t)hist->items[l].num;
                for (size_t i = 0; i < HW; i++) h += out[i] == (int32_t)l;
                CHECK((h > want ? h - want : want - h) <= slack, "%s: label %zu covers %zu pixels, meta %zu", rn, l, h, want);
            }
            ct_intermediates_free(&in);
            /* one thread, no intermediates: the same labels */
            int32_t *out2 = malloc(sizeof(int32_t) * HW);
            ct_segment_params s1 = sp;
            s1.n_threads = 1;
            CHECK(ct_segment(m, px_a.data, H, W, tf.data, N, lab, &s1, out2, NULL, &err) == CT_OK, "%s: %s", rn, err.msg);
            CHECK(!memcmp(out, out2, sizeof(int32_t) * HW), "%s: labels differ on one thread without intermediates", rn);
            free(out2);
            checked++;
        }
        free(out);
        npy_array *all[] = {&px_a, &tf, &seg, &pred, &feat, &tok};
        for (size_t k = 0; k < sizeof all / sizeof *all; k++) npy_free(all[k]);
    }
    ct_model_free(px);
    ct_model_free(m);
    return checked;
}

static void api_dino(void) {
    suite s;
    if (!open_suite(&s, "heads_proxyclip")) SKIP("no heads_proxyclip fixtures under %s", oracle_dir());
    CHECK(api_runs(&s, s.proxy) == 3, "not every run checked");
    close_suite(&s);
}

static void api_dinov2(void) {
    suite s;
    if (!open_suite(&s, "heads_proxyclip_dinov2")) SKIP("no heads_proxyclip_dinov2 fixtures under %s", oracle_dir());
    CHECK(api_runs(&s, s.proxy) == 3, "not every run checked");
    close_suite(&s);
}

static int cli_runs(suite *s, const char *proxy_path);

/* The DINO proxy under DINO's own names (cls_token, pos_embed, blocks.N.attn.qkv, ...), with a
 * config.json for its 4 heads of 32: the same results. */
static void api_dino_own_names(void) {
    suite s;
    if (!open_suite(&s, "heads_proxyclip")) SKIP("no heads_proxyclip fixtures under %s", oracle_dir());
    char *dir = fresh_dir("dino_own"), p[700], cfg[700];
    FMT(p, "%s/model.safetensors", dir);
    FMT(cfg, "%s/config.json", dir);
    if (write_dino_own(s.dir, dir) && write_text(cfg, "{\"num_heads\": 4}")) {
        CHECK(api_runs(&s, p) == 3, "not every run checked");
        if (tool_exists("demo")) CHECK(cli_runs(&s, p) == 3, "not every run checked through the demo");
    }
    free(dir);
    close_suite(&s);
}

/* Parameter checks before any work: no proxy, a CLIP model as proxy, a proxy given to another
 * head, beta and gamma out of range, a window smaller than a patch. */
static void api_refusals(void) {
    suite s;
    if (!open_suite(&s, "heads_proxyclip")) SKIP("no heads_proxyclip fixtures under %s", oracle_dir());
    ct_model *m = NULL, *px = NULL;
    ct_error err;
    if (ct_model_load(s.clip, &m, &err) || ct_model_load(s.proxy, &px, &err)) {
        CHECK(0, "%s", err.msg);
        ct_model_free(m);
        close_suite(&s);
        return;
    }
    int E = ct_model_config(m)->embed_dim;
    float *px_img = calloc(3 * 112 * 112, sizeof(float)), *emb = calloc((size_t)E, sizeof(float));
    int32_t *lab = malloc(sizeof(int32_t) * 112 * 112);
    emb[0] = 1.f;
    ct_segment_params sp;
    size_t bytes;
    ct_segment_params_preset(&sp, CT_HEAD_PROXYCLIP);
    CHECK(sp.proxy_beta == 1.2f && sp.proxy_gamma == 3.f && sp.slide_crop == 336 && sp.slide_stride == 112 && sp.logit_scale == 40.f &&
              sp.pamr_steps == 0 && !sp.proxy,
          "preset");
    CHECK(ct_segment(m, px_img, 112, 112, emb, 1, NULL, &sp, lab, NULL, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "proxy"),
          "no proxy: %s", err.msg);
    sp.proxy = m;
    CHECK(ct_segment(m, px_img, 112, 112, emb, 1, NULL, &sp, lab, NULL, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "CLIP"),
          "CLIP as proxy: %s", err.msg);
    CHECK(ct_segment_memory(m, 112, 112, 1, &sp, 0, &bytes, &err) == CT_ERR_INVALID_ARG, "CLIP as proxy (memory): %s", err.msg);
    sp.proxy = px;
    CHECK(ct_segment_memory(m, 112, 112, 1, &sp, 1, &bytes, &err) == CT_OK && bytes > 0, "memory: %s", err.msg);
    sp.proxy_beta = -1.f;
    CHECK(ct_segment(m, px_img, 112, 112, emb, 1, NULL, &sp, lab, NULL, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "beta"), "beta: %s", err.msg);
    sp.proxy_beta = NAN;
    CHECK(ct_segment(m, px_img, 112, 112, emb, 1, NULL, &sp, lab, NULL, &err) == CT_ERR_INVALID_ARG, "beta NaN: %s", err.msg);
    sp.proxy_beta = 1.2f;
    sp.proxy_gamma = 0.f;
    CHECK(ct_segment(m, px_img, 112, 112, emb, 1, NULL, &sp, lab, NULL, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "gamma"), "gamma: %s", err.msg);
    sp.proxy_gamma = 3.f;
    sp.slide_crop = 0;
    CHECK(ct_segment(m, px_img, 8, 112, emb, 1, NULL, &sp, lab, NULL, &err) == CT_ERR_INVALID_ARG, "8 rows: %s", err.msg);
    /* sliding windows of 8 rows are padded to 56: they run */
    sp.slide_crop = 112;
    sp.slide_stride = 56;
    CHECK(ct_segment(m, px_img, 8, 112, emb, 1, NULL, &sp, lab, NULL, &err) == CT_OK, "8 rows, sliding: %s", err.msg);
    ct_segment_params other;
    ct_segment_params_preset(&other, CT_HEAD_SCLIP);
    other.proxy = px;
    CHECK(ct_segment(m, px_img, 112, 112, emb, 1, NULL, &other, lab, NULL, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "proxy"),
          "proxy for sclip: %s", err.msg);
    ct_head h;
    CHECK(ct_head_parse("proxyclip", &h, &err) == CT_OK && h == CT_HEAD_PROXYCLIP && !strcmp(ct_head_name(h), "proxyclip"), "name");
    free(px_img); free(emb); free(lab);
    ct_model_free(px);
    ct_model_free(m);
    close_suite(&s);
}

/* The tools' usage errors (exit 1, before any work) and load errors (exit 2), with their messages. */
static void cli_refusals(void) {
    suite s;
    if (!open_suite(&s, "heads_proxyclip")) SKIP("no heads_proxyclip fixtures under %s", oracle_dir());
    if (!tool_exists("demo")) { close_suite(&s); SKIP("demo not built"); }
    char vocab[700], base[2400], cmd[4096], err[4096], notmodel[700];
    FMT(vocab, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    FMT(notmodel, "%s/meta.json", s.dir);
    FMT(base, "demo -q --no-cache -V '%s' --pixels '%s/whole_168x232/pixels.npy' -c cat,dog --dump '%s'", vocab, s.dir, t_tmpdir());
    struct { const char *args, *want; int rc; } cases[] = {
        {"-m '%s' --head sclip --proxy-model '%s'", "--proxy-model belongs to --head proxyclip", 1},
        {"-m '%s' --head naclip --proxy-beta 1 #%s", "--proxy-beta applies to the proxyclip head", 1},
        {"-m '%s' --head proxyclip #%s", "needs a proxy", 1},
        {"-m '%s' --head proxyclip --proxy-model '%s' --proxy-gamma -1", "gamma", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char a[1600];
        FMT(a, cases[i].args, s.clip, s.proxy);
        FMT(cmd, "%s %s", base, a);
        int rc = tool_run(cmd, NULL, 0, err, sizeof err, NULL);
        CHECK(rc == cases[i].rc && strstr(err, cases[i].want), "%s: exit %d: %s", a, rc, err);
    }
    /* a CLIP file as proxy; a file that is no model; a DINO file as the CLIP model */
    FMT(cmd, "%s -m '%s' --head proxyclip --proxy-model '%s'", base, s.clip, s.clip);
    int rc = tool_run(cmd, NULL, 0, err, sizeof err, NULL);
    CHECK(rc == 1 && strstr(err, "CLIP model") && strstr(err, "DINO"), "CLIP as proxy: exit %d: %s", rc, err);
    FMT(cmd, "%s -m '%s' --head proxyclip --proxy-model '%s'", base, s.clip, notmodel);
    rc = tool_run(cmd, NULL, 0, err, sizeof err, NULL);
    CHECK(rc == 2 && strstr(err, "--proxy-model"), "not a model as proxy: exit %d: %s", rc, err);
    FMT(cmd, "%s -m '%s' --head proxyclip --proxy-model '%s'", base, s.proxy, s.proxy);
    rc = tool_run(cmd, NULL, 0, err, sizeof err, NULL);
    CHECK(rc == 1 && strstr(err, "DINO backbone") && strstr(err, "--proxy-model"), "DINO as -m: exit %d: %s", rc, err);
    close_suite(&s);
}

/* ct-batch and ct-eval run the head (the shared options), ct-eval records the proxy in its
 * settings (a resume with another proxy parameter is refused), and both refuse --proxy-model for
 * another head. */
static void batch_and_eval(void) {
    suite s;
    if (!open_suite(&s, "heads_proxyclip")) SKIP("no heads_proxyclip fixtures under %s", oracle_dir());
    if (!tool_exists("ct-batch") || !tool_exists("ct-eval")) { close_suite(&s); SKIP("ct-batch / ct-eval not built"); }
    char *d = fresh_dir("tools"), p[800], vocab[700], common[3000], cmd[6000], err[4096];
    FMT(vocab, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    FMT(cmd, "mkdir -p '%s/img' '%s/gt' '%s/out'", d, d, d);
    CHECK(tool_run(cmd, NULL, 0, err, sizeof err, NULL) == 0, "%s", err);
    enum { IW = 120, IH = 90 };
    uint8_t *rgb = malloc(IW * IH * 3);
    int32_t *gt = malloc(sizeof(int32_t) * IW * IH);
    for (int i = 0; i < IW * IH; i++) {
        int x = i % IW, y = i / IW;
        rgb[3 * i] = (uint8_t)(x * 2), rgb[3 * i + 1] = (uint8_t)(y * 2), rgb[3 * i + 2] = (uint8_t)(x < IW / 2 ? 200 : 30);
        gt[i] = x < IW / 2;
    }
    ct_image *img = NULL;
    ct_error e;
    CHECK(ct_image_from_rgb(rgb, IW, IH, &img, &e) == CT_OK, "%s", e.msg);
    FMT(p, "%s/img/a.png", d);
    CHECK(img && ct_image_save_png(img, p, &e) == CT_OK, "%s", e.msg);
    FMT(p, "%s/gt/a.png", d);
    CHECK(ct_labels_save_png(gt, IW, IH, 8, p, &e) == CT_OK, "%s", e.msg);
    FMT(p, "%s/classes.txt", d);
    write_text(p, "cat\ndog\n");
    ct_image_free(img);
    free(rgb);
    free(gt);
    FMT(common, "CT_CACHE_DIR='%s/cache' %%s -q -m '%s' -V '%s' -s 112 --head proxyclip --proxy-model '%s'", d, s.clip, vocab, s.proxy);
    char batch[3100], eval[3100];
    FMT(batch, common, "ct-batch");
    FMT(eval, common, "ct-eval");
    FMT(cmd, "%s --classes-file '%s/classes.txt' -O '%s/out' '%s/img/a.png'", batch, d, d, d);
    int rc = tool_run(cmd, NULL, 0, err, sizeof err, NULL);
    CHECK(rc == 0, "ct-batch: exit %d: %s", rc, err);
    FMT(p, "%s/out/a.json", d);
    CHECK(file_exists(p), "ct-batch wrote no %s", p);
    FMT(cmd, "%s --images '%s/img' --gt '%s/gt' --classes-file '%s/classes.txt' --state '%s/e.state'", eval, d, d, d, d);
    char out[8192];
    rc = tool_run(cmd, out, sizeof out, err, sizeof err, NULL);
    CHECK(rc == 0 && strstr(out, "mIoU"), "ct-eval: exit %d: %s%s", rc, out, err);
    FMT(cmd, "%s --proxy-beta 1.0 --images '%s/img' --gt '%s/gt' --classes-file '%s/classes.txt' --state '%s/e.state'", eval, d, d, d, d);
    rc = tool_run(cmd, out, sizeof out, err, sizeof err, NULL);
    CHECK(rc == 1 && strstr(err, "proxy-beta"), "ct-eval resumed with another beta: exit %d: %s", rc, err);
    FMT(cmd, "CT_CACHE_DIR='%s/cache' ct-batch -q -m '%s' -V '%s' --head clearclip --proxy-model '%s' -c cat,dog -O '%s/out' '%s/img/a.png'", d, s.clip,
        vocab, s.proxy, d, d);
    rc = tool_run(cmd, NULL, 0, err, sizeof err, NULL);
    CHECK(rc == 1 && strstr(err, "--proxy-model belongs"), "ct-batch, proxy for clearclip: exit %d: %s", rc, err);
    free(d);
    close_suite(&s);
}

/* The demo contract of the README: every run through `demo --pixels ... --head proxyclip
 * --proxy-model ... --dump DIR`, the dumps against the fixture. Returns the runs checked. */
static int cli_runs(suite *s, const char *proxy_path) {
    char vocab[700];
    FMT(vocab, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    const ct_json *runs = ct_json_get(s->meta, "runs");
    char *dump = fresh_dir("dump");
    int checked = 0;
    for (size_t r = 0; runs && r < runs->n; r++) {
        const ct_json *run = &runs->items[r], *kind = ct_json_get(run, "kind");
        if (kind && kind->type == CT_JSON_STR && strcmp(kind->str, "proxyclip")) continue;
        const char *rn = ct_json_get(run, "name")->str;
        char cls[4096] = "", slide[64], cmd[8192], err[4096];
        const ct_json *cl = ct_json_get(run, "classes");
        for (size_t c = 0; cl && c < cl->n; c++) {
            for (size_t k = 0; k < cl->items[c].n; k++)
                snprintf(cls + strlen(cls), sizeof cls - strlen(cls), "%s%s", k ? ";" : "", cl->items[c].items[k].str);
            if (c + 1 < cl->n) strncat(cls, ",", sizeof cls - strlen(cls) - 1);
        }
        int crop = (int)jnum(run, "slide_crop", 0), stride = (int)jnum(run, "slide_stride", 0);
        if (crop) FMT(slide, "%d,%d", crop, stride);
        else FMT(slide, "0");
        FMT(cmd, "rm -rf '%s'/* && CT_CACHE_DIR='%s/cache' demo -q -m '%s' -V '%s' --pixels '%s/%s/pixels.npy' -c '%s' --head proxyclip "
                 "--proxy-model '%s' --proxy-beta %g --proxy-gamma %g --slide %s --logit-scale %g --prob-thd %g --pamr 0 --area-thd 0 "
                 "--dump '%s'",
            dump, t_tmpdir(), s->clip, vocab, s->dir, rn, cls, proxy_path, jnum(run, "beta", 1.2), jnum(run, "gamma", 3.0), slide,
            jnum(run, "logit_scale", 40), jnum(run, "prob_thd", 0), dump);
        int rc = tool_run(cmd, NULL, 0, err, sizeof err, NULL);
        CHECK(rc == 0, "%s: demo exited %d: %s", rn, rc, err);
        if (rc) continue;
        compare_dump(dump, s->dir, rn, "text_features", TOL, 0);
        compare_dump(dump, s->dir, rn, "seg_logits", TOL, 0);
        compare_dump(dump, s->dir, rn, "proxy_features", TOL, 0);
        if (!crop) compare_dump(dump, s->dir, rn, "img_tokens", TOL, 0);
        compare_dump(dump, s->dir, rn, "pred", 0, 1);
        checked++;
    }
    free(dump);
    return checked;
}

static void cli_dino(void) {
    suite s;
    if (!open_suite(&s, "heads_proxyclip")) SKIP("no heads_proxyclip fixtures under %s", oracle_dir());
    if (!tool_exists("demo")) { close_suite(&s); SKIP("demo not built"); }
    CHECK(cli_runs(&s, s.proxy) == 3, "not every run checked");
    close_suite(&s);
}

static void cli_dinov2(void) {
    suite s;
    if (!open_suite(&s, "heads_proxyclip_dinov2")) SKIP("no heads_proxyclip_dinov2 fixtures under %s", oracle_dir());
    if (!tool_exists("demo")) { close_suite(&s); SKIP("demo not built"); }
    CHECK(cli_runs(&s, s.proxy) == 2, "not every run checked");
    close_suite(&s);
}

int main(void) {
    RUN(api_dino);
    RUN(api_dinov2);
    RUN(cli_dino);
    RUN(cli_dinov2);
    RUN(api_dino_own_names);
    RUN(api_refusals);
    RUN(cli_refusals);
    RUN(batch_and_eval);
    DONE();
}
