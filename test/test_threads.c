/* Threading contract: one model and one tokenizer shared by 8 threads, each segmenting a different
 * image (and encoding class names); every result equals the single-threaded one bit for bit. */
#include "fixtures.h"

#include <pthread.h>

#define NT 8

typedef struct {
    const ct_model *m;
    const ct_tokenizer *tok;
    const float *px;
    int H, W, n;
    const float *emb;
    int32_t *labels;
    float *emb_out;
    const char **names;
    ct_status st;
} job;

static void *work(void *p) {
    job *j = p;
    ct_segment_params sp;
    ct_segment_params_default(&sp);
    sp.n_threads = 1;
    j->st = ct_segment(j->m, j->px, j->H, j->W, j->emb, j->n, NULL, &sp, j->labels, NULL, NULL);
    if (!j->st) j->st = ct_class_embeddings(j->m, j->tok, j->names, j->n, NULL, 0, 1, j->emb_out, NULL);
    return NULL;
}

static void shared_model_eight_threads(void) {
    char p[700], v[700];
    FMT(p, "%s/small_f16_hf/model.safetensors", oracle_dir());
    FMT(v, "%s/vocab.json", oracle_dir());
    if (!file_exists(p) || !file_exists(v)) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
    ct_model *m;
    ct_tokenizer *tok;
    ct_error err;
    if (ct_model_load(p, &m, &err) || ct_tokenizer_load(v, &tok, &err)) { CHECK(0, "%s", err.msg); return; }
    const char *runs[] = {"crop224", "crop336", "rect224x320"};
    const char *names[] = {"cat", "dog", "grass", "sky"};
    npy_array px[3] = {{0}}, tf[3] = {{0}};
    for (int r = 0; r < 3; r++) {
        char d[700];
        FMT(d, "%s/small_f16_hf", oracle_dir());
        if (!load_npy(d, runs[r], "pixels", &px[r]) || !load_npy(d, runs[r], "text_features", &tf[r])) return;
    }
    job ref[3], jobs[NT];
    for (int r = 0; r < 3; r++) {
        ref[r] = (job){m, tok, px[r].data, (int)px[r].shape[1], (int)px[r].shape[2], 4, tf[r].data,
                       malloc(4 * px[r].numel / 3), malloc(sizeof(float) * 4 * 96), names, CT_OK};
        work(&ref[r]);
        CHECK(ref[r].st == CT_OK, "reference run %d", r);
    }
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) {
        int r = t % 3;
        jobs[t] = ref[r];
        jobs[t].labels = malloc(4 * px[r].numel / 3);
        jobs[t].emb_out = malloc(sizeof(float) * 4 * 96);
        pthread_create(&th[t], NULL, work, &jobs[t]);
    }
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        int r = t % 3;
        CHECK(jobs[t].st == CT_OK, "thread %d failed", t);
        CHECK(!memcmp(jobs[t].labels, ref[r].labels, 4 * px[r].numel / 3), "thread %d labels differ", t);
        CHECK(!memcmp(jobs[t].emb_out, ref[r].emb_out, sizeof(float) * 4 * 96), "thread %d embeddings differ", t);
        free(jobs[t].labels);
        free(jobs[t].emb_out);
    }
    /* the thread count of the library's own loops does not change results */
    for (int r = 0; r < 3; r++) {
        int32_t *l4 = malloc(4 * px[r].numel / 3);
        ct_segment_params sp;
        ct_segment_params_default(&sp);
        sp.n_threads = 4;
        CHECK(ct_segment(m, px[r].data, ref[r].H, ref[r].W, tf[r].data, 4, NULL, &sp, l4, NULL, &err) == CT_OK, "%s", err.msg);
        CHECK(!memcmp(l4, ref[r].labels, 4 * px[r].numel / 3), "n_threads 4 differs from 1");
        free(l4);
        free(ref[r].labels);
        free(ref[r].emb_out);
        npy_free(&px[r]);
        npy_free(&tf[r]);
    }
    ct_tokenizer_free(tok);
    ct_model_free(m);
}

static void api_misuse(void) {
    ct_error err;
    ct_model *m = NULL;
    CHECK(ct_model_load(NULL, &m, &err) == CT_ERR_INVALID_ARG, "NULL path");
    CHECK(ct_encode_image(NULL, NULL, 224, 224, 0, NULL, &err) == CT_ERR_INVALID_ARG, "NULL model");
    CHECK(ct_segment(NULL, NULL, 0, 0, NULL, 0, NULL, NULL, NULL, NULL, &err) == CT_ERR_INVALID_ARG, "NULL segment");
    CHECK(ct_median_filter(NULL, 1, 1, 3, NULL, &err) == CT_ERR_INVALID_ARG, "NULL median");
    float x[4] = {0}, tok[5 * 2] = {0}, corr[25] = {0}, emb[2] = {1, 0};
    int32_t lab[4];
    CHECK(ct_postprocess(tok, corr, 30, 32, 16, 2, 100, emb, 1, NULL, NULL, lab, NULL, &err) == CT_ERR_INVALID_ARG, "size not a patch multiple");
    CHECK(strstr(err.msg, "multiple") != NULL, "message: %s", err.msg);
    CHECK(ct_median_filter(x, 2, 2, 0, x, &err) == CT_ERR_INVALID_ARG, "median size 0");
    CHECK(strcmp(ct_status_str(CT_ERR_NOMEM), "out of memory") == 0, "status string");
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", CT_VERSION_MAJOR, CT_VERSION_MINOR, CT_VERSION_PATCH);
    CHECK(strcmp(ct_version(), v) == 0, "version %s, header %s", ct_version(), v);
}

int main(void) {
    RUN(shared_model_eight_threads);
    RUN(api_misuse);
    DONE();
}
