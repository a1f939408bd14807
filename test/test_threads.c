/* Threading contract: one model and one tokenizer shared by 8 threads, each segmenting a different
 * image (and encoding class names); every result equals the single-threaded one bit for bit.
 * No hidden state: an fp32 and a bf16 model of one file, in one process, run at once on two
 * threads (with their own runtimes, then sharing one), each matching its own reference. A call
 * asking for all threads (n_threads 0) enters every thread of the model's runtime, on the text
 * path too; n_threads 1 runs on the caller alone. Also run under ThreadSanitizer (make tsan). */
#include "fixtures.h"
#include "core/runtime.h"
#include "model/model.h"

#include <pthread.h>
#include <signal.h>

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

/* ---------------------------------------------------------------- fork */

/* Issue 18, item 2: a model whose workers have started, used in a child after fork(): the child
 * starts its own workers (entered by more than one thread) and gets the parent's labels. The
 * parent waits at most 60 s and kills a hung child, so a hang fails instead of hanging. */
static int wait_bounded(pid_t pid, int seconds, int *status) {
    for (int i = 0; i < seconds * 20; i++) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return 1;
        if (r < 0) return 0;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    return 0;
}

static void fork_after_parallel_call(void) {
    if (getenv("CT_SANITIZER") && !strcmp(getenv("CT_SANITIZER"), "thread"))
        SKIP("ThreadSanitizer does not support starting threads in the child of a multi-threaded process");
    char p[700], v[700], d[700];
    FMT(p, "%s/small_f16_hf/model.safetensors", oracle_dir());
    FMT(v, "%s/vocab.json", oracle_dir());
    FMT(d, "%s/small_f16_hf", oracle_dir());
    if (!file_exists(p) || !file_exists(v)) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
    ct_load_params lp;
    ct_load_params_default(&lp);
    lp.n_threads = 2; /* more than one thread whatever the machine */
    ct_model *m;
    ct_tokenizer *tok;
    ct_error err;
    if (ct_model_load_ex(p, &lp, &m, &err) || ct_tokenizer_load(v, &tok, &err)) { CHECK(0, "%s", err.msg); return; }
    npy_array px = {0}, tf = {0};
    if (!load_npy(d, "crop224", "pixels", &px) || !load_npy(d, "crop224", "text_features", &tf)) { ct_model_free(m); ct_tokenizer_free(tok); return; }
    int H = (int)px.shape[1], W = (int)px.shape[2];
    const char *names[] = {"cat", "dog", "grass", "sky"};
    ct_segment_params sp;
    ct_segment_params_default(&sp);
    int32_t *ref = malloc(sizeof(int32_t) * H * W), *got = malloc(sizeof(int32_t) * H * W);
    float emb_ref[4 * 96], emb_got[4 * 96];
    CHECK(ct_segment(m, px.data, H, W, tf.data, 4, NULL, &sp, ref, NULL, &err) == CT_OK, "%s", err.msg);
    CHECK(ct_class_embeddings(m, tok, names, 4, NULL, 0, 0, emb_ref, &err) == CT_OK, "%s", err.msg);
    CHECK(ct_model_threads(m) == 2, "the parent runs %d threads, not 2", ct_model_threads(m));
    ct_runtime *spare;
    CHECK(ct_runtime_new(2, &spare, &err) == CT_OK, "%s", err.msg);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        ct_runtime_stats s0, s1;
        ct_runtime_get_stats(ct_model_runtime(m), &s0);
        int bad = 0;
        if (ct_segment(m, px.data, H, W, tf.data, 4, NULL, &sp, got, NULL, NULL) != CT_OK) bad |= 1;
        else if (memcmp(got, ref, sizeof(int32_t) * H * W)) bad |= 2;
        if (ct_class_embeddings(m, tok, names, 4, NULL, 0, 0, emb_got, NULL) != CT_OK) bad |= 4;
        else if (memcmp(emb_got, emb_ref, sizeof emb_ref)) bad |= 8;
        ct_runtime_get_stats(ct_model_runtime(m), &s1);
        if (s1.entered[1] == s0.entered[1]) bad |= 16; /* the child's calls ran on one thread */
        ct_runtime_free(spare); /* inherited, never used here */
        ct_model_free(m);
        _exit(bad);
    }
    CHECK(pid > 0, "fork");
    int status = 0;
    int done = pid > 0 && wait_bounded(pid, 60, &status);
    CHECK(done, "the child hung after fork (killed after 60 s)");
    CHECK(!done || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
          "child: status %d (1 segment failed, 2 labels differ, 4 embeddings failed, 8 differ, 16 one thread)",
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    /* the parent's workers are untouched */
    CHECK(ct_segment(m, px.data, H, W, tf.data, 4, NULL, &sp, got, NULL, &err) == CT_OK && !memcmp(got, ref, sizeof(int32_t) * H * W), "parent after fork: %s", err.msg);
    ct_runtime_free(spare);
    free(ref);
    free(got);
    npy_free(&px);
    npy_free(&tf);
    ct_tokenizer_free(tok);
    ct_model_free(m);
}

/* ---------------------------------------------------------------- fp32 and bf16 at once */

typedef struct {
    const ct_model *m;
    const float *px, *emb;
    int H, W, n, reps, n_threads;
    float *tokens;   /* [T x E] of the last repetition */
    int32_t *labels; /* [H x W] of the last repetition */
    int stable;      /* every repetition gave the same bits */
    ct_status st;
    char msg[512];
} prec_job;

static void *prec_work(void *p) {
    prec_job *j = p;
    const ct_config *c = ct_model_config(j->m);
    size_t T = (size_t)(j->H / c->patch) * (size_t)(j->W / c->patch) + 1, HW = (size_t)j->H * j->W;
    float *tok = malloc(sizeof(float) * T * c->embed_dim);
    int32_t *lab = malloc(sizeof(int32_t) * HW);
    ct_segment_params sp;
    ct_segment_params_default(&sp);
    sp.n_threads = j->n_threads;
    ct_error err;
    j->stable = 1;
    j->st = CT_OK;
    for (int r = 0; r < j->reps && !j->st; r++) {
        ct_image_features f = {NULL, tok, NULL};
        j->st = ct_encode_image(j->m, j->px, j->H, j->W, j->n_threads, &f, &err);
        if (!j->st) j->st = ct_segment(j->m, j->px, j->H, j->W, j->emb, j->n, NULL, &sp, lab, NULL, &err);
        if (j->st) { snprintf(j->msg, sizeof j->msg, "%s", err.msg); break; }
        if (r > 0) j->stable &= !memcmp(tok, j->tokens, sizeof(float) * T * c->embed_dim) && !memcmp(lab, j->labels, sizeof(int32_t) * HW);
        memcpy(j->tokens, tok, sizeof(float) * T * c->embed_dim);
        memcpy(j->labels, lab, sizeof(int32_t) * HW);
    }
    free(tok);
    free(lab);
    return NULL;
}

static double agreement(const int32_t *a, const int32_t *b, size_t n) {
    size_t s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] == b[i];
    return n ? (double)s / (double)n : 1.0;
}

/* Tolerances. fp32 against the oracle: the encoder bound of test_model (1e-4 on L2-normalised
 * tokens; labels >= 99.5%, in practice all). bf16 against the oracle, loosely: products of
 * operands rounded to 8 significant bits (relative 2^-9 each), through 12 layers: the tokens
 * stay within 0.1 of the reference (measured ~1e-2), most labels agree (>= 90%). bf16 against
 * its own result alone and on one thread: bit for bit (results never depend on the threads). */
static void fp32_and_bf16_at_once(void) {
    char path[700], dir[700];
    FMT(dir, "%s/small_f16_hf", oracle_dir());
    FMT(path, "%s/model.safetensors", dir);
    if (!file_exists(path)) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
    int bf16 = ct_precision_available(CT_PRECISION_BF16);
    if (!bf16) printf("  this CPU lacks AVX512_BF16: the bf16 half is skipped, fp32 runs alone against its references\n");
    npy_array px = {0}, tf = {0}, otok = {0}, opred = {0};
    if (!load_npy(dir, "crop224", "pixels", &px) || !load_npy(dir, "crop224", "text_features", &tf) ||
        !load_npy(dir, "crop224", "img_tokens", &otok) || !load_npy(dir, "crop224", "pred", &opred)) {
        npy_free(&px); npy_free(&tf); npy_free(&otok); npy_free(&opred);
        return;
    }
    int H = (int)px.shape[1], W = (int)px.shape[2], n = (int)tf.shape[0];
    size_t HW = (size_t)H * W;
    ct_load_params lp[2];
    ct_model *m[2] = {NULL, NULL};
    ct_error err;
    for (int k = 0; k < 1 + bf16; k++) {
        ct_load_params_default(&lp[k]);
        lp[k].precision = k ? CT_PRECISION_BF16 : CT_PRECISION_FP32;
        if (ct_model_load_ex(path, &lp[k], &m[k], &err)) CHECK(0, "%s: %s", k ? "bf16" : "fp32", err.msg);
    }
    if (!m[0] || (bf16 && !m[1])) goto out;
    CHECK(ct_model_precision(m[0]) == CT_PRECISION_FP32 && (!bf16 || ct_model_precision(m[1]) == CT_PRECISION_BF16), "precisions");
    int reps = getenv("CT_SANITIZER") ? 1 : 3;
    prec_job ref[2], run[2];
    for (int k = 0; k < 1 + bf16; k++) { /* references: alone, on one thread */
        ref[k] = (prec_job){m[k], px.data, tf.data, H, W, n, 1, 1, malloc(otok.numel * sizeof(float)), malloc(HW * sizeof(int32_t)), 1, CT_OK, ""};
        prec_work(&ref[k]);
        CHECK(ref[k].st == CT_OK, "%s reference: %s", k ? "bf16" : "fp32", ref[k].msg);
    }
    double d32 = max_abs_diff(ref[0].tokens, otok.data, otok.numel), a32 = agreement(ref[0].labels, opred.data, HW);
    printf("  fp32 alone: tokens %.1e from the oracle, labels %.4f\n", d32, a32);
    CHECK(d32 <= 1e-4 && a32 >= 0.995, "fp32 alone against the oracle: tokens %g, labels %f", d32, a32);
    if (bf16) {
        double d16 = max_abs_diff(ref[1].tokens, otok.data, otok.numel), a16 = agreement(ref[1].labels, opred.data, HW);
        printf("  bf16 alone: tokens %.1e from the oracle, labels %.4f\n", d16, a16);
        CHECK(d16 <= 0.1 && a16 >= 0.9, "bf16 alone against the oracle, loosely: tokens %g, labels %f", d16, a16);
        CHECK(d16 > 1e-6, "the bf16 model computes exactly the fp32 results: is it bf16?");
    }
    /* at once, with their own runtimes (all threads each), then sharing one runtime */
    ct_runtime *shared = NULL;
    for (int phase = 0; phase < 2; phase++) {
        if (phase == 1) {
            for (int k = 0; k < 2; k++) ct_model_free(m[k]), m[k] = NULL;
            if (ct_runtime_new(0, &shared, &err)) { CHECK(0, "%s", err.msg); break; }
            for (int k = 0; k < 1 + bf16; k++) {
                lp[k].runtime = shared;
                if (ct_model_load_ex(path, &lp[k], &m[k], &err)) CHECK(0, "%s", err.msg);
            }
            if (!m[0] || (bf16 && !m[1])) break;
        }
        pthread_t th[2];
        for (int k = 0; k < 1 + bf16; k++) {
            run[k] = ref[k];
            run[k].m = m[k];
            run[k].reps = reps;
            run[k].n_threads = 0;
            run[k].tokens = malloc(otok.numel * sizeof(float));
            run[k].labels = malloc(HW * sizeof(int32_t));
            CHECK(pthread_create(&th[k], NULL, prec_work, &run[k]) == 0, "pthread_create");
        }
        for (int k = 0; k < 1 + bf16; k++) pthread_join(th[k], NULL);
        const char *how = phase ? "sharing a runtime" : "own runtimes";
        for (int k = 0; k < 1 + bf16; k++) {
            const char *pn = k ? "bf16" : "fp32";
            CHECK(run[k].st == CT_OK, "%s (%s): %s", pn, how, run[k].msg);
            CHECK(run[k].stable, "%s (%s): repetitions differ", pn, how);
            int same = !memcmp(run[k].tokens, ref[k].tokens, otok.numel * sizeof(float)) && !memcmp(run[k].labels, ref[k].labels, HW * sizeof(int32_t));
            printf("  %s at once (%s, %d threads): %s its result alone on one thread\n", pn, how, ct_model_threads(m[k]), same ? "bit for bit" : "DIFFERS from");
            CHECK(same, "%s (%s): differs from its result alone", pn, how);
            free(run[k].tokens);
            free(run[k].labels);
        }
    }
    for (int k = 0; k < 1 + bf16; k++) free(ref[k].tokens), free(ref[k].labels);
    for (int k = 0; k < 2; k++) ct_model_free(m[k]), m[k] = NULL;
    ct_runtime_free(shared);
out:
    for (int k = 0; k < 2; k++) ct_model_free(m[k]);
    npy_free(&px); npy_free(&tf); npy_free(&otok); npy_free(&opred);
    if (!bf16) SKIP("bf16 half: this CPU lacks AVX512_BF16 (the fp32 half ran and passed)");
}

/* ---------------------------------------------------------------- every thread, every path */

/* Entries of each runtime thread during f(arg), as deltas; returns the regions run. */
static uint64_t entries_during(ct_runtime *rt, void (*f)(void *), void *arg, uint64_t *entered, int nt) {
    ct_runtime_stats a, b;
    ct_runtime_get_stats(rt, &a);
    f(arg);
    ct_runtime_get_stats(rt, &b);
    for (int t = 0; t < nt; t++) entered[t] = b.entered[t] - a.entered[t];
    return b.regions - a.regions;
}

typedef struct {
    ct_model *m;
    const ct_tokenizer *tok;
    int n_threads;
    ct_status st;
    float out[4 * 1024];
    int32_t tokens[4 * 77];
    float *x, *y;
    int rows;
} text_call;

static void call_class_embeddings(void *p) {
    text_call *c = p;
    const char *names[] = {"cat", "dog"};
    c->st = ct_class_embeddings(c->m, c->tok, names, 2, NULL, 0, c->n_threads, c->out, NULL);
}

static void call_encode_tokens(void *p) {
    text_call *c = p;
    c->st = ct_encode_tokens(c->m, c->tokens, 4, c->out, NULL);
}

/* the text encoder's first MLP product on the exec of a call asking for n_threads */
static void call_text_gemm(void *p) {
    text_call *c = p;
    ct_nn nn = ct_model_nn(c->m, c->n_threads);
    c->st = ct_model_linear(c->m, &nn, c->rows, c->x, c->m->cfg.text_width, &c->m->tblocks[0].fc1, NULL, c->y, c->m->text_mlp) ? CT_OK : CT_ERR_NOMEM;
}

static void every_thread_on_the_text_path(void) {
    char path[700], vocab[700];
    FMT(path, "%s/small_f16_hf/model.safetensors", oracle_dir());
    FMT(vocab, "%s/vocab.json", oracle_dir());
    if (!file_exists(path) || !file_exists(vocab)) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
    ct_tokenizer *tok;
    ct_error err;
    if (ct_tokenizer_load(vocab, &tok, &err)) { CHECK(0, "%s", err.msg); return; }
    /* 0 = every core of this machine; 4 = more threads than this machine may have */
    const int asked[] = {0, 4};
    for (int a = 0; a < 2; a++) {
        ct_load_params lp;
        ct_load_params_default(&lp);
        lp.n_threads = asked[a];
        ct_model *m;
        if (ct_model_load_ex(path, &lp, &m, &err)) { CHECK(0, "%s", err.msg); continue; }
        int nt = ct_model_threads(m);
        CHECK(nt == (asked[a] ? asked[a] : ct_default_threads()), "load n_threads %d: the model has %d threads", asked[a], nt);
        ct_runtime *rt = ct_model_runtime(m);
        text_call *c = calloc(1, sizeof *c);
        c->m = m;
        c->tok = tok;
        for (int i = 0; i < 4; i++)
            CHECK(ct_tokenize_context(tok, i % 2 ? "a photo of a dog ." : "a bad photo of the cat .", c->tokens + i * 77, 77, NULL, &err) == CT_OK, "%s", err.msg);
        c->rows = 400; /* about the rows of one class's 80 prompts */
        c->x = malloc(sizeof(float) * c->rows * m->cfg.text_width);
        c->y = malloc(sizeof(float) * c->rows * m->text_mlp);
        for (int i = 0; i < c->rows * m->cfg.text_width; i++) c->x[i] = (float)(i % 13) / 13.f - 0.5f;
        /* warm up: the runtime has started and the weights are packed before counting */
        call_class_embeddings(c);
        call_text_gemm(c);
        struct { const char *what; void (*f)(void *); int n_threads; } calls[] = {
            {"ct_class_embeddings n_threads 0", call_class_embeddings, 0},
            {"ct_encode_tokens", call_encode_tokens, 0},
            {"text GEMM (ct_model_nn n_threads 0)", call_text_gemm, 0},
            {"ct_class_embeddings n_threads 1", call_class_embeddings, 1},
            {"text GEMM (ct_model_nn n_threads 1)", call_text_gemm, 1},
        };
        for (size_t k = 0; k < sizeof calls / sizeof *calls; k++) {
            uint64_t entered[64] = {0};
            c->n_threads = calls[k].n_threads;
            uint64_t regions = entries_during(rt, calls[k].f, c, entered, nt);
            CHECK(c->st == CT_OK, "%s failed", calls[k].what);
            int all = 1, none = 1;
            for (int t = 0; t < nt; t++) { all &= entered[t] > 0; none &= entered[t] == 0; }
            printf("  %d threads, %-38s %5llu regions; entries of thread 0..%d:", nt, calls[k].what, (unsigned long long)regions, nt - 1);
            for (int t = 0; t < nt; t++) printf(" %llu", (unsigned long long)entered[t]);
            printf("\n");
            if (calls[k].n_threads == 1)
                CHECK(regions == 0 && none, "%s: the runtime was used (%llu regions); one thread is the caller alone", calls[k].what, (unsigned long long)regions);
            else if (nt > 1) {
                int every = 1; /* every region of the call ran on every thread */
                for (int t = 0; t < nt; t++) every &= entered[t] == regions;
                CHECK(all && every, "%s: not every region entered every one of the model's %d threads", calls[k].what, nt);
            }
            /* the text encoder's four products per layer (qkv, out, fc1, fc2) each make a region
             * on every thread: fewer regions would mean products on the caller alone */
            if (calls[k].f == call_encode_tokens)
                CHECK(regions >= 4 * (uint64_t)m->cfg.text_layers, "ct_encode_tokens: %llu regions for %d layers", (unsigned long long)regions,
                      m->cfg.text_layers);
        }
        free(c->x);
        free(c->y);
        free(c);
        ct_model_free(m);
    }
    ct_tokenizer_free(tok);
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
    RUN(fp32_and_bf16_at_once);
    RUN(every_thread_on_the_text_path);
    RUN(fork_after_parallel_call);
    RUN(api_misuse);
    DONE();
}
