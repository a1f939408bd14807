/* Model loading and encoder parity with the reference, tensor by tensor, for every fixture.
 *
 * Tolerances. Features are unit-norm vectors; the reference computes in fp32 with PyTorch, we in
 * fp32 with OpenBLAS and a different summation order. Over 12 blocks the rounding differences
 * stay around 1e-6..1e-5 relative, so max |error| <= 1e-4 on unit-norm features leaves a margin of
 * ~10x while any real mistake (a wrong layer norm, a missing bias, a mis-ordered head) moves
 * values by 1e-2 or more. corr_raw entries are cosine averages in [-1, 1]: the same bound holds.
 * F16/BF16 fixtures are compared after exact widening to fp32, so the bound does not change. */
#include "fixtures.h"

#define MAXFX 16
static fixture fx[MAXFX];
static int nfx;

static void fixtures_present(void) {
    nfx = find_fixtures(fx, MAXFX);
    if (!nfx) SKIP("no model fixtures under %s (set CT_ORACLE_DIR): parity tests skipped", oracle_dir());
    printf("  %d fixtures\n", nfx);
}

static void config_matches_meta(void) {
    if (!nfx) SKIP("no fixtures");
    for (int i = 0; i < nfx; i++) {
        ct_model *m = load_fixture_model(&fx[i]);
        if (!m) continue;
        const ct_config *c = ct_model_config(m);
        char desc[512];
        ct_config_describe(c, desc, sizeof desc);
        printf("  %s: %s\n", fx[i].name, desc);
        const ct_json *cf = ct_json_get(fx[i].meta, "config");
        CHECK(c->embed_dim == (int)jnum(cf, "embed_dim", -1), "embed_dim");
        CHECK(c->image_size == (int)jnum(cf, "image_resolution", -1), "image_resolution");
        CHECK(c->vision_layers == (int)jnum(cf, "vision_layers", -1), "vision_layers");
        CHECK(c->vision_width == (int)jnum(cf, "vision_width", -1), "vision_width");
        CHECK(c->patch == (int)jnum(cf, "patch", -1), "patch");
        CHECK(c->text_width == (int)jnum(cf, "text_width", -1), "text_width");
        CHECK(c->text_layers == (int)jnum(cf, "text_layers", -1), "text_layers");
        CHECK(c->vision_heads == (int)jnum(fx[i].meta, "vision_heads", -1), "vision_heads");
        CHECK(c->text_heads == (int)jnum(fx[i].meta, "text_heads", -1), "text_heads");
        CHECK(fabs(c->logit_scale - jnum(fx[i].meta, "logit_scale_exp", -1)) < 1e-3 * c->logit_scale, "logit scale %g", c->logit_scale);
        const ct_json *dt = ct_json_get(fx[i].meta, "dtype"), *nm = ct_json_get(fx[i].meta, "naming");
        static const char *dts[] = {"F32", "F16", "BF16"};
        CHECK(dt && !strcmp(dt->str, dts[c->dtype]), "dtype %s", dts[c->dtype]);
        CHECK(nm && !strcmp(nm->str, c->naming == CT_NAMING_HF ? "hf" : "openai"), "naming");
        CHECK(c->context_length == 77 && c->vocab_size == 49408, "context %d vocab %d", c->context_length, c->vocab_size);
        ct_model_free(m);
    }
}

static void image_parity(void) {
    if (!nfx) SKIP("no fixtures");
    for (int i = 0; i < nfx; i++) {
        ct_model *m = load_fixture_model(&fx[i]);
        if (!m) continue;
        ct_error err;
        const ct_json *runs = ct_json_get(fx[i].meta, "runs");
        for (size_t r = 0; runs && r < runs->n; r++) {
            const char *rn = ct_json_get(&runs->items[r], "name")->str;
            npy_array px = {0}, emb = {0}, tok = {0}, corr = {0};
            if (!load_npy(fx[i].dir, rn, "pixels", &px) || !load_npy(fx[i].dir, rn, "image_embedding", &emb) ||
                !load_npy(fx[i].dir, rn, "img_tokens", &tok) || !load_npy(fx[i].dir, rn, "corr_raw", &corr)) continue;
            int H = (int)px.shape[1], W = (int)px.shape[2];
            float *e = malloc(sizeof(float) * emb.numel), *t = malloc(sizeof(float) * tok.numel), *c = malloc(sizeof(float) * corr.numel);
            ct_image_features f = {e, t, c};
            CHECK(ct_encode_image(m, px.data, H, W, 0, &f, &err) == CT_OK, "%s/%s: %s", fx[i].name, rn, err.msg);
            double de = max_abs_diff(e, emb.data, emb.numel), dt = max_abs_diff(t, tok.data, tok.numel), dc = max_abs_diff(c, corr.data, corr.numel);
            printf("  %s/%s (%dx%d): max|d| image_embedding %.2e img_tokens %.2e corr_raw %.2e\n", fx[i].name, rn, H, W, de, dt, dc);
            CHECK(de <= 1e-4, "image_embedding %g", de);
            CHECK(dt <= 1e-4, "img_tokens %g", dt);
            CHECK(dc <= 1e-4, "corr_raw %g", dc);
            free(e); free(t); free(c);
            npy_free(&px); npy_free(&emb); npy_free(&tok); npy_free(&corr);
        }
        ct_model_free(m);
    }
}

static void text_parity(void) {
    if (!nfx) SKIP("no fixtures");
    char vp[600];
    FMT(vp, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    ct_tokenizer *tok = NULL;
    ct_error err;
    if (ct_tokenizer_load(vp, &tok, &err)) SKIP("vocabulary: %s", err.msg);
    for (int i = 0; i < nfx; i++) {
        ct_model *m = load_fixture_model(&fx[i]);
        if (!m) continue;
        const ct_json *runs = ct_json_get(fx[i].meta, "runs");
        for (size_t r = 0; runs && r < runs->n; r++) {
            const char *rn = ct_json_get(&runs->items[r], "name")->str;
            npy_array tf = {0};
            if (!load_npy(fx[i].dir, rn, "text_features", &tf)) continue;
            const char *names[64];
            int nc;
            int n = run_names(&runs->items[r], names, 64, &nc);
            int E = ct_model_config(m)->embed_dim;
            CHECK(tf.shape[0] == n && tf.shape[1] == E, "text_features shape");
            float *out = malloc(sizeof(float) * (size_t)n * E);
            CHECK(ct_class_embeddings(m, tok, names, n, NULL, 0, 0, out, &err) == CT_OK, "%s", err.msg);
            double d = max_abs_diff(out, tf.data, tf.numel);
            printf("  %s/%s: %d names x 80 templates, max|d| text_features %.2e\n", fx[i].name, rn, n, d);
            CHECK(d <= 1e-4, "text_features %g", d);
            free(out);
            npy_free(&tf);
        }
        ct_model_free(m);
    }
    ct_tokenizer_free(tok);
}

int main(void) {
    RUN(fixtures_present);
    RUN(config_matches_meta);
    RUN(image_parity);
    RUN(text_parity);
    for (int i = 0; i < nfx; i++) ct_json_free(fx[i].meta);
    DONE();
}
