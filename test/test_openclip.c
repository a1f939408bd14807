/* open_clip's own models (issue 21): test/data/openclip_h80 (tools/dev/gen_openclip_fixtures.py,
 * README there) is a tiny random model built by open_clip v2.24.0 with heads of 80, exact GELU
 * and an MLP ratio of 3.5, stored in open_clip's layout (open_clip_model.safetensors +
 * open_clip_config.json) and Hugging Face's (model.safetensors + config.json), F16, with the
 * reference outputs of one CLIPtrase run (96 x 128: a grid other than the native 6 x 6) and one
 * whole-image run of every other head. Both layouts load to the same configuration, and every
 * run matches through the API (ct_class_embeddings, ct_segment_ex) and through the demo's --dump.
 * Bounds are the existing parity tests' (test_cliptrase, test_heads, test_model):
 *   features (text_features, image_embedding, img_tokens): 1e-4 absolute (unit vectors through
 *   fp32 blocks summed in another order than PyTorch's; measured ~4e-7);
 *   corr_raw 1e-4; patch_logits 1e-4 x logit_scale; seg_logits 1e-4 (cosines, then convex
 *   combinations); labels (pred, pred_raw) agree on >= 99.5% of pixels.
 * Also: the heads' presets and CLIPtrase's DBSCAN settings follow the model (docs/heads.md);
 * tools/fetch-weights.sh installs a repository by name (open_clip's and transformers' layouts)
 * from a local mirror (file://), validated by loading. */
#include "fixtures.h"
#include "seg/cliptrase.h"
#include "tool_run.h"

#include <sys/stat.h>

static const char *data_dir(void) {
    const char *d = getenv("CT_OPENCLIP_DIR");
    return d && *d ? d : "test/data/openclip_h80";
}

static ct_json *g_meta;

static const char *const k_layouts[2][2] = {{"open_clip", "open_clip/open_clip_model.safetensors"}, {"hf", "hf/model.safetensors"}};

static int load_meta(void) {
    char p[600];
    FMT(p, "%s/meta.json", data_dir());
    size_t len;
    char *txt = slurp(p, &len);
    if (!txt) return 0;
    g_meta = ct_json_parse(txt, len, NULL, 0);
    free(txt);
    return g_meta != NULL;
}

static ct_model *load_layout(int l) {
    char p[700];
    FMT(p, "%s/%s", data_dir(), k_layouts[l][1]);
    ct_model *m = NULL;
    ct_error err;
    if (ct_model_load(p, &m, &err)) CHECK(0, "%s: %s", k_layouts[l][0], err.msg);
    return m;
}

/* the run's names (classes' names in order, then background names) and each name's label */
static int names_of(const ct_json *run, const char **names, int32_t *lab, int cap, int *n_labels) {
    const ct_json *c = ct_json_get(run, "classes"), *b = ct_json_get(run, "background");
    int n = 0, L = 0;
    for (size_t i = 0; c && i < c->n; i++, L++) {
        const ct_json *ci = &c->items[i];
        if (ci->type == CT_JSON_STR) { if (n < cap) { names[n] = ci->str; lab[n++] = L; } }
        else for (size_t k = 0; k < ci->n && n < cap; k++) { names[n] = ci->items[k].str; lab[n++] = L; }
    }
    for (size_t i = 0; b && i < b->n && n < cap; i++) { names[n] = b->items[i].str; lab[n++] = L; }
    *n_labels = L + (b && b->n ? 1 : 0);
    return n;
}

static void both_layouts_configured(void) {
    if (!g_meta) SKIP("no fixture under %s (tools/dev/gen_openclip_fixtures.py)", data_dir());
    const ct_json *c = ct_json_get(g_meta, "config");
    for (int l = 0; l < 2; l++) {
        ct_model *m = load_layout(l);
        if (!m) continue;
        const ct_config *g = ct_model_config(m);
        char d[1024];
        ct_config_describe(g, d, sizeof d);
        printf("  %s: %s\n", k_layouts[l][0], d);
        CHECK(g->vision_width == (int)jnum(c, "vision_width", 0) && g->vision_heads == (int)jnum(c, "vision_heads", 0) &&
                  g->vision_width / g->vision_heads == 80 && g->vision_mlp == (int)jnum(c, "vision_mlp", 0) &&
                  g->text_heads == (int)jnum(c, "text_heads", 0) && g->text_mlp == (int)jnum(c, "text_mlp", 0) &&
                  g->vision_act == CT_ACTIVATION_GELU && g->text_act == CT_ACTIVATION_GELU && g->vision_ln_eps == 1e-5f &&
                  g->image_size == (int)jnum(c, "image_size", 0) && g->embed_dim == (int)jnum(c, "embed_dim", 0),
              "%s: configuration differs from meta.json", k_layouts[l][0]);
        ct_config_source want = l == 0 ? CT_SOURCE_OPENCLIP_CONFIG : CT_SOURCE_HF_CONFIG;
        CHECK(g->heads_source == want && g->act_source == want, "%s: heads and activation from source %d/%d", k_layouts[l][0], g->heads_source,
              g->act_source);
        CHECK(g->naming == (l == 0 ? CT_NAMING_OPENAI : CT_NAMING_HF), "%s: naming %d", k_layouts[l][0], g->naming);
        ct_model_free(m);
    }
}

/* the run's settings: its head, the whole image, its logit scale and DBSCAN settings */
static void run_params(const ct_json *run, ct_segment_params *sp) {
    ct_head h = CT_HEAD_CLIPTRASE;
    const ct_json *hn = ct_json_get(run, "head");
    ct_error err;
    CHECK(hn && ct_head_parse(hn->str, &h, &err) == CT_OK, "run without a known head");
    ct_segment_params_preset(sp, h);
    sp->slide_crop = 0;
    sp->pamr_steps = 0;
    sp->prob_thd = 0;
    sp->area_thd = 0;
    sp->logit_scale = (float)jnum(run, "logit_scale", 0);
    sp->eps = (float)jnum(run, "eps", 0);
    sp->min_samples = (int)jnum(run, "min_samples", 0);
}

typedef struct {
    double text, emb, tok, corr, pl, seg, pred, pred_raw;
} diffs;

/* the differences of one run (from the API's intermediates or the demo's dump) against the bounds */
static void compare(const char *what, const char *rn, const diffs *d, double scale) {
    printf("  %s %s: text %.1e, img_tokens %.1e", what, rn, d->text, d->tok);
    if (d->emb >= 0) printf(", image_embedding %.1e, corr_raw %.1e, patch_logits %.1e, pred_raw %.4f", d->emb, d->corr, d->pl, d->pred_raw);
    if (d->seg >= 0) printf(", seg_logits %.1e", d->seg);
    printf(", pred %.4f\n", d->pred);
    CHECK(d->text <= 1e-4 && d->tok <= 1e-4, "%s %s: text %g, img_tokens %g", what, rn, d->text, d->tok);
    if (d->emb >= 0)
        CHECK(d->emb <= 1e-4 && d->corr <= 1e-4 && d->pl <= 1e-4 * scale && d->pred_raw >= 0.995, "%s %s: image_embedding %g corr_raw %g "
              "patch_logits %g pred_raw %f", what, rn, d->emb, d->corr, d->pl, d->pred_raw);
    if (d->seg >= 0) CHECK(d->seg <= 1e-4, "%s %s: seg_logits %g", what, rn, d->seg);
    CHECK(d->pred >= 0.995, "%s %s: pred agreement %f", what, rn, d->pred);
}

static double npy_diff(const char *ref_dir, const char *run, const char *name, const npy_array *got_or_null, const float *got, size_t n) {
    npy_array a = {0};
    if (!load_npy(ref_dir, run, name, &a)) return INFINITY;
    const float *g = got_or_null ? (const float *)got_or_null->data : got;
    size_t gn = got_or_null ? got_or_null->numel : n;
    double d = g && gn == a.numel ? max_abs_diff(g, a.data, a.numel) : INFINITY;
    npy_free(&a);
    return d;
}

static double npy_agree(const char *ref_dir, const char *run, const char *name, const int32_t *got, size_t n) {
    npy_array a = {0};
    if (!load_npy(ref_dir, run, name, &a)) return 0;
    double r = got && a.numel == n ? label_agreement(got, a.data, n) : 0;
    npy_free(&a);
    return r;
}

/* Every run through the API, on both layouts: text features from the run's names, then
 * ct_segment_ex with the head's settings. */
static void api_parity(void) {
    if (!g_meta) SKIP("no fixture under %s (tools/dev/gen_openclip_fixtures.py)", data_dir());
    char vocab[600];
    FMT(vocab, "%s/vocab.json", oracle_dir());
    ct_tokenizer *tok = NULL;
    ct_error err;
    if (ct_tokenizer_load(vocab, &tok, &err)) SKIP("no vocabulary (%s): %s", vocab, err.msg);
    const ct_json *runs = ct_json_get(g_meta, "runs");
    double scale = jnum(g_meta, "logit_scale_exp", 100);
    int nruns = 0;
    for (int l = 0; l < 2; l++) {
        ct_model *m = load_layout(l);
        for (size_t r = 0; m && runs && r < runs->n; r++) {
            const ct_json *run = &runs->items[r];
            const char *rn = ct_json_get(run, "name")->str;
            const char *names[16];
            int32_t lab[16];
            int nl = 0, n = names_of(run, names, lab, 16, &nl);
            int E = ct_model_config(m)->embed_dim;
            float *tf = malloc(sizeof(float) * (size_t)n * E);
            CHECK(ct_class_embeddings(m, tok, names, n, NULL, 0, 0, tf, &err) == CT_OK, "%s: %s", rn, err.msg);
            npy_array px = {0};
            if (!load_npy(data_dir(), rn, "pixels", &px)) { free(tf); continue; }
            int H = (int)px.shape[1], W = (int)px.shape[2];
            ct_segment_params sp;
            run_params(run, &sp);
            int32_t *out = malloc(sizeof(int32_t) * (size_t)H * W);
            ct_intermediates in;
            ct_segment_outputs o = {out, NULL, NULL, &in};
            if (ct_segment_ex(m, px.data, H, W, tf, n, lab, &sp, &o, &err) != CT_OK) {
                CHECK(0, "%s %s: %s", k_layouts[l][0], rn, err.msg);
            } else {
                size_t HW = (size_t)H * W, T = (size_t)(1 + in.h * in.w);
                diffs d = {npy_diff(data_dir(), rn, "text_features", NULL, tf, (size_t)n * E), -1,
                           npy_diff(data_dir(), rn, "img_tokens", NULL, in.img_tokens, T * E), -1, -1, -1,
                           npy_agree(data_dir(), rn, "pred", out, HW), 0};
                if (sp.head == CT_HEAD_CLIPTRASE) {
                    d.emb = npy_diff(data_dir(), rn, "image_embedding", NULL, in.image_embedding, (size_t)E);
                    d.corr = npy_diff(data_dir(), rn, "corr_raw", NULL, in.corr_raw, T * T);
                    d.pl = npy_diff(data_dir(), rn, "patch_logits", NULL, in.patch_logits, (size_t)n * (T - 1));
                    d.pred_raw = npy_agree(data_dir(), rn, "pred_raw", in.pred_raw, HW);
                } else {
                    d.seg = npy_diff(data_dir(), rn, "seg_logits", NULL, in.seg_logits, (size_t)n * HW);
                }
                char what[64];
                FMT(what, "api %s", k_layouts[l][0]);
                compare(what, rn, &d, scale);
                ct_intermediates_free(&in);
                nruns++;
            }
            free(out);
            free(tf);
            npy_free(&px);
        }
        ct_model_free(m);
    }
    ct_tokenizer_free(tok);
    CHECK(nruns == 12, "%d runs checked (6 runs x 2 layouts expected)", nruns);
}

static double dump_diff(const char *dump, const char *run, const char *name) {
    npy_array g = {0};
    char p[1200];
    FMT(p, "%s/%s.npy", dump, name);
    ct_error err;
    if (npy_load(p, &g, &err)) { CHECK(0, "%s", err.msg); return INFINITY; }
    double d = npy_diff(data_dir(), run, name, &g, NULL, 0);
    npy_free(&g);
    return d;
}

static double dump_agree(const char *dump, const char *run, const char *name) {
    npy_array g = {0};
    char p[1200];
    FMT(p, "%s/%s.npy", dump, name);
    ct_error err;
    if (npy_load(p, &g, &err)) { CHECK(0, "%s", err.msg); return 0; }
    double a = npy_agree(data_dir(), run, name, g.data, g.numel);
    npy_free(&g);
    return a;
}

/* Every run through the demo (--pixels, the run's classes and settings as flags, --dump). */
static void cli_parity(void) {
    if (!g_meta) SKIP("no fixture under %s (tools/dev/gen_openclip_fixtures.py)", data_dir());
    if (!tool_exists("demo")) SKIP("demo not built");
    char vocab[600];
    FMT(vocab, "%s/vocab.json", oracle_dir());
    struct stat st;
    if (stat(vocab, &st)) SKIP("no vocabulary (%s)", vocab);
    const ct_json *runs = ct_json_get(g_meta, "runs");
    double scale = jnum(g_meta, "logit_scale_exp", 100);
    int nruns = 0;
    for (int l = 0; l < 2; l++)
        for (size_t r = 0; runs && r < runs->n; r++) {
            const ct_json *run = &runs->items[r];
            const char *rn = ct_json_get(run, "name")->str, *head = ct_json_get(run, "head")->str;
            const char *names[16];
            int32_t lab[16];
            int nl = 0, n = names_of(run, names, lab, 16, &nl);
            /* classes: labels separated by ',', a label's names by ';'; background names after -b */
            char cls[600] = "", bg[200] = "";
            size_t cl = 0, bl = 0;
            int nclass = (int)ct_json_get(run, "classes")->n;
            for (int i = 0; i < n; i++) {
                if (lab[i] >= nclass) bl += (size_t)snprintf(bg + bl, sizeof bg - bl, "%s%s", bl ? "," : "", names[i]);
                else cl += (size_t)snprintf(cls + cl, sizeof cls - cl, "%s%s", i == 0 ? "" : lab[i] == lab[i - 1] ? ";" : ",", names[i]);
            }
            char *dump = fresh_dir("dump");
            char cmd[4000], opts[300];
            if (!strcmp(head, "cliptrase"))
                FMT(opts, "--eps %g --min-samples %d", jnum(run, "eps", 0), (int)jnum(run, "min_samples", 0));
            else
                FMT(opts, "--head %s --slide 0 --pamr 0 --prob-thd 0 --area-thd 0 --logit-scale %g", head, jnum(run, "logit_scale", 0));
            FMT(cmd, "demo -q --no-cache -t 2 --pixels '%s/%s/pixels.npy' -m '%s/%s' -V '%s' -c '%s' %s%s%s %s --dump '%s/d'", data_dir(), rn,
                data_dir(), k_layouts[l][1], vocab, cls, bl ? "-b '" : "", bg, bl ? "'" : "", opts, dump);
            char err[2000];
            int rc = tool_run(cmd, NULL, 0, err, sizeof err, NULL);
            CHECK(rc == 0, "%s: exit %d: %s", cmd, rc, err);
            if (rc == 0) {
                char d[1200];
                FMT(d, "%s/d", dump);
                diffs df = {dump_diff(d, rn, "text_features"), -1, dump_diff(d, rn, "img_tokens"), -1, -1, -1, dump_agree(d, rn, "pred"), 0};
                if (!strcmp(head, "cliptrase")) {
                    df.emb = dump_diff(d, rn, "image_embedding");
                    df.corr = dump_diff(d, rn, "corr_raw");
                    df.pl = dump_diff(d, rn, "patch_logits");
                    df.pred_raw = dump_agree(d, rn, "pred_raw");
                } else {
                    df.seg = dump_diff(d, rn, "seg_logits");
                }
                char what[64];
                FMT(what, "cli %s", k_layouts[l][0]);
                compare(what, rn, &df, scale);
                nruns++;
            }
            free(dump);
        }
    CHECK(nruns == 12, "%d runs checked (6 runs x 2 layouts expected)", nruns);
}

/* The references' windows scale with the model's native size above 224 (an L/14-336 cut to 2
 * blocks: 224 -> 336, 448 -> 672, stride half), a model of 224 or less keeps them (the fixture,
 * 96); the paper's DBSCAN rule counts patches (14 a side: 224 pixels with patch 16). */
static void presets_follow_the_model(void) {
    static const struct { int H, W, patch, small; } g[] = {
        {224, 224, 16, 1}, {240, 512, 16, 0}, {336, 336, 16, 0}, {196, 300, 14, 1}, {224, 224, 14, 0}, {448, 448, 32, 1}, {480, 480, 32, 0},
    };
    for (size_t i = 0; i < sizeof g / sizeof *g; i++)
        CHECK(ct_cliptrase_small_grid(g[i].H, g[i].W, g[i].patch) == g[i].small, "%dx%d patch %d: small grid %d", g[i].H, g[i].W, g[i].patch,
              !g[i].small);
    ct_model *m[2] = {NULL, NULL};
    if (g_meta) m[0] = load_layout(0);
    char p[700], cmd[1600];
    FMT(p, "%s/l14-336.safetensors", t_tmpdir());
    FMT(cmd, "%s/bin/ct-random-weights --arch L/14-336 --layers 2 --dtype F16 -o '%s'", build_dir(), p);
    if (tool_exists("ct-random-weights") && system(cmd) == 0) CHECK(ct_model_load(p, &m[1], NULL) == CT_OK, "L/14-336 does not load");
    else printf("  (no ct-random-weights: the 336 case is not checked)\n");
    for (int k = 0; k < 2; k++) {
        if (!m[k]) continue;
        for (int h = 0; h < CT_HEAD_COUNT; h++) {
            ct_segment_params a, b;
            ct_segment_params_preset_for(&a, (ct_head)h, m[k]);
            ct_segment_params_preset(&b, (ct_head)h);
            if (k == 0 || b.slide_crop == 0) {
                CHECK(!memcmp(&a, &b, sizeof a), "%s: the %s model's preset differs", ct_head_name((ct_head)h), k ? "336" : "96");
            } else {
                int want = b.slide_crop * 336 / 224;
                CHECK(a.slide_crop == want && a.slide_stride == want / 2 && a.logit_scale == b.logit_scale && a.pamr_steps == b.pamr_steps,
                      "%s: window %d/%d on the 336 model, want %d/%d", ct_head_name((ct_head)h), a.slide_crop, a.slide_stride, want, want / 2);
            }
            ct_segment_params_preset_for(&a, (ct_head)h, NULL);
            CHECK(!memcmp(&a, &b, sizeof a), "%s: no model, not the plain preset", ct_head_name((ct_head)h));
        }
        ct_model_free(m[k]);
    }
}

static int sh(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* fetch-weights.sh OWNER/REPO against a file:// mirror: open_clip's layout (weights, its config,
 * the repository's vocabulary), transformers' layout without a vocabulary (OpenAI's is fetched),
 * and a mirror whose configuration contradicts the weights: refused, nothing installed. */
static void fetch_by_repository(void) {
    if (!g_meta) SKIP("no fixture under %s (tools/dev/gen_openclip_fixtures.py)", data_dir());
    if (sh("command -v curl >/dev/null || command -v wget >/dev/null") != 0) SKIP("neither curl nor wget");
    char vocab[600];
    FMT(vocab, "%s/vocab.json", oracle_dir());
    struct stat st;
    if (stat(vocab, &st)) SKIP("no vocabulary (%s)", vocab);
    char d[4200], cmd[16000];
    FMT(d, "%s/fetch", t_tmpdir());
    const char *D = data_dir(), *O = oracle_dir();
    FMT(cmd, "set -e; m='%s/mirror'; mkdir -p $m/laion/oc/resolve/main $m/meta/hf/resolve/main $m/openai/clip-vit-base-patch16/resolve/main "
             "$m/bad/oc/resolve/main; cp '%s'/open_clip/* $m/laion/oc/resolve/main/; cp '%s'/vocab.json '%s'/merges.txt $m/laion/oc/resolve/main/; "
             "cp '%s'/hf/* $m/meta/hf/resolve/main/; cp '%s'/vocab.json '%s'/merges.txt $m/openai/clip-vit-base-patch16/resolve/main/; "
             "cp $m/laion/oc/resolve/main/* $m/bad/oc/resolve/main/; sed -i 's/\"layers\": 2/\"layers\": 3/' $m/bad/oc/resolve/main/open_clip_config.json",
        d, D, O, O, D, O, O);
    CHECK(sh(cmd) == 0, "mirror setup");
    static const struct { const char *repo, *dir, *file; } ok[] = {
        {"laion/oc", "laion--oc", "open_clip_model.safetensors"}, {"meta/hf", "meta--hf", "model.safetensors"}};
    for (int k = 0; k < 2; k++) {
        FMT(cmd, "WEIGHTS_DIR='%s/w' HF_ENDPOINT='file://%s/mirror' tools/fetch-weights.sh %s >'%s/log' 2>&1", d, d, ok[k].repo, d);
        int rc = sh(cmd);
        FMT(cmd, "cat '%s/log'", d);
        if (rc) sh(cmd);
        CHECK(rc == 0, "%s: download and validate", ok[k].repo);
        FMT(cmd, "grep -q '^ok: .*%s/%s' '%s/log' && test -s '%s/w/%s/%s' && test -s '%s/w/%s/vocab.json' && test -s '%s/w/%s/merges.txt' && "
                 "test ! -e '%s/w/.partial-%s' && grep -q 'heads from %s' '%s/log'",
            ok[k].dir, ok[k].file, d, d, ok[k].dir, ok[k].file, d, ok[k].dir, d, ok[k].dir, d, ok[k].dir, k ? "config.json" : "open_clip_config.json", d);
        CHECK(sh(cmd) == 0, "%s: installed in w/%s with its configuration and vocabulary", ok[k].repo, ok[k].dir);
    }
    FMT(cmd, "WEIGHTS_DIR='%s/w' HF_ENDPOINT='file://%s/mirror' tools/fetch-weights.sh bad/oc >'%s/log' 2>&1", d, d, d);
    CHECK(sh(cmd) == 2, "a configuration contradicting the weights is installed");
    FMT(cmd, "grep -q 'model_cfg.vision_cfg.layers' '%s/log' && grep -q 'nothing was installed' '%s/log' && test ! -e '%s/w/bad--oc' && "
             "test ! -e '%s/w/.partial-bad--oc'", d, d, d, d);
    CHECK(sh(cmd) == 0, "the refusal names the field and installs nothing");
    CHECK(sh("tools/fetch-weights.sh a/b/c >/dev/null 2>&1") == 1, "a malformed repository name exits 1");
}

int main(void) {
    load_meta();
    RUN(both_layouts_configured);
    RUN(api_parity);
    RUN(cli_parity);
    RUN(presets_follow_the_model);
    RUN(fetch_by_repository);
    ct_json_free(g_meta);
    DONE();
}
