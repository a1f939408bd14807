/* Class lists at the edges: 10,000 classes, names longer than the context (cut, and counted),
 * invalid UTF-8 (replaced, never a crash), empty lists refused. */
#include "fixtures.h"

static ct_model *m;
static ct_tokenizer *tok;

static void setup(void) {
    char p[700], v[700];
    FMT(p, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(v, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    if (!file_exists(p) || !file_exists(v)) SKIP("tiny fixture or vocabulary not found under %s", oracle_dir());
    ct_error err;
    CHECK(ct_model_load(p, &m, &err) == CT_OK, "%s", err.msg);
    CHECK(ct_tokenizer_load(v, &tok, &err) == CT_OK, "%s", err.msg);
}

static void ten_thousand_classes(void) {
    if (!m || !tok) SKIP("no model");
    enum { N = 10000 };
    int E = ct_model_config(m)->embed_dim;
    char **names = malloc(sizeof(char *) * N);
    for (int i = 0; i < N; i++) {
        names[i] = malloc(32);
        snprintf(names[i], 32, "thing number %d", i);
    }
    float *emb = malloc(sizeof(float) * (size_t)N * E);
    const char *tpl[] = {"a photo of a {}."};
    ct_error err;
    CHECK(ct_class_embeddings(m, tok, (const char *const *)names, N, tpl, 1, 0, emb, &err) == CT_OK, "%s", err.msg);
    int unit = 1;
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int e = 0; e < E; e++) s += (double)emb[(size_t)i * E + e] * emb[(size_t)i * E + e];
        unit &= fabs(s - 1) < 1e-4;
    }
    CHECK(unit, "embeddings not unit-norm");
    char d[700];
    FMT(d, "%s/tiny_f32_openai", oracle_dir());
    npy_array px = {0};
    if (load_npy(d, "crop64", "pixels", &px)) {
        int32_t *lab = malloc(sizeof(int32_t) * 64 * 64);
        CHECK(ct_segment(m, px.data, 64, 64, emb, N, NULL, NULL, lab, NULL, &err) == CT_OK, "%s", err.msg);
        int ok = 1;
        for (int i = 0; i < 64 * 64; i++) ok &= lab[i] >= 0 && lab[i] < N;
        CHECK(ok, "labels out of range");
        free(lab);
        npy_free(&px);
    }
    for (int i = 0; i < N; i++) free(names[i]);
    free(names);
    free(emb);
}

static void long_and_broken_names(void) {
    if (!m || !tok) SKIP("no model");
    int E = ct_model_config(m)->embed_dim;
    char lng[2000] = "";
    for (int i = 0; i < 100; i++) strcat(lng, "word ");
    const char *names[] = {lng, "caf\xc3\x28 \xff dog", "", "cat"};
    float *emb = malloc(sizeof(float) * 4 * E);
    int cut = -1;
    ct_error err;
    CHECK(ct_class_embeddings_ex(m, tok, names, 4, NULL, 0, 0, emb, &cut, &err) == CT_OK, "%s", err.msg);
    CHECK(cut == 80, "%d prompts reported cut, want the 80 of the long name", cut);
    int finite = 1;
    for (int i = 0; i < 4 * E; i++) finite &= isfinite(emb[i]);
    CHECK(finite, "non-finite embedding");
    int32_t ctx[77];
    CHECK(ct_tokenize_context(tok, lng, ctx, 77, &cut, &err) == CT_OK && cut == 1 && ctx[76] == CT_TOKEN_EOT, "context cut");
    CHECK(ct_class_embeddings(m, tok, names, 0, NULL, 0, 0, emb, &err) == CT_ERR_INVALID_ARG, "empty list accepted");
    printf("  empty list: %s\n", err.msg);
    const char *nul[] = {"cat", NULL};
    CHECK(ct_class_embeddings(m, tok, nul, 2, NULL, 0, 0, emb, &err) == CT_ERR_INVALID_ARG, "NULL name accepted");
    CHECK(ct_class_embeddings(m, tok, names, 1, NULL, 0, -1, emb, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "thread count"),
          "-1 threads accepted: %s", err.msg);
    CHECK(ct_class_embeddings(m, tok, names, 1, NULL, 0, 257, emb, &err) == CT_ERR_INVALID_ARG, "257 threads accepted");
    free(emb);
}

int main(void) {
    RUN(setup);
    RUN(ten_thousand_classes);
    RUN(long_and_broken_names);
    ct_model_free(m);
    ct_tokenizer_free(tok);
    DONE();
}
