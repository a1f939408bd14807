/* The public API's contracts (include/cliptrase.h, docs/api.md), each as a caller meets it:
 *   - output structs (ct_intermediates, ct_segment_info) may be passed uninitialised (0xAB bytes):
 *     the library only writes them, with the same results as for a zeroed struct (asan: no free
 *     or read of what they held);
 *   - ct_segment_ex fills ct_segment_info (resolved parameters, clusters, kernel, timings)
 *     without intermediates;
 *   - ct_segment_memory checks the parameters as ct_segment does and returns a size that is at
 *     least what the call really allocates at its peak (measured: this binary wraps malloc and
 *     friends, see the Makefile) and not wildly more, growing with H x W;
 *   - names are parsed strictly; bf16 is refused where the CPU cannot run it; every output NULL
 *     is an error; ct_free(NULL) is fine;
 *   - bad parameters are CT_ERR_INVALID_ARG before any work: no thread runs, the pixels are not
 *     read (the buffer given is one float: asan would report a read), outputs stay untouched. */
#include "fixtures.h"
#include "alloc_wrap.h"
#include "core/runtime.h"
#include "model/model.h"
#include "seg/stage.h"

#include <pthread.h>

/* ---------------------------------------------------------------- allocation accounting */

/* The Makefile links this test with -Wl,--wrap=malloc,... : every allocation of the library
 * (linked in from the internal archive) comes through here. While counting, live blocks
 * allocated since counting began are tracked (frees of older blocks are ignored) and the peak of
 * their total is kept. */

#define SLOTS (1 << 16)
static struct {
    pthread_mutex_t mx;
    int counting, overflow, wrapped;
    size_t live, peak, calls;
    void *key[SLOTS];
    size_t size[SLOTS];
} acc = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0, {0}, {0}};

static size_t slot_of(void *p) { return ((uintptr_t)p >> 4) * 2654435761u % SLOTS; }

static void track(void *p, size_t n) {
    if (!p) return;
    pthread_mutex_lock(&acc.mx);
    acc.wrapped = 1;
    if (acc.counting) {
        acc.calls++;
        size_t i = slot_of(p), k = 0;
        while (acc.key[i] && k++ < SLOTS) i = (i + 1) % SLOTS;
        if (acc.key[i]) acc.overflow = 1;
        else {
            acc.key[i] = p;
            acc.size[i] = n;
            acc.live += n;
            if (acc.live > acc.peak) acc.peak = acc.live;
        }
    }
    pthread_mutex_unlock(&acc.mx);
}

static void untrack(void *p) {
    if (!p) return;
    pthread_mutex_lock(&acc.mx);
    if (acc.counting) {
        size_t i = slot_of(p), k = 0;
        while (acc.key[i] != p && k++ < SLOTS) i = (i + 1) % SLOTS;
        if (acc.key[i] == p) { /* remove, keeping the probe sequences of the others intact */
            acc.live -= acc.size[i];
            acc.key[i] = NULL;
            for (size_t j = (i + 1) % SLOTS; acc.key[j]; j = (j + 1) % SLOTS) {
                void *q = acc.key[j];
                size_t s = acc.size[j];
                acc.key[j] = NULL;
                size_t h = slot_of(q);
                while (acc.key[h]) h = (h + 1) % SLOTS;
                acc.key[h] = q;
                acc.size[h] = s;
            }
        }
    }
    pthread_mutex_unlock(&acc.mx);
}

void *__wrap_malloc(size_t n) { void *p = __real_malloc(n); track(p, n); return p; }
void *__wrap_calloc(size_t n, size_t s) { void *p = __real_calloc(n, s); track(p, n * s); return p; }
void *__wrap_aligned_alloc(size_t a, size_t n) { void *p = __real_aligned_alloc(a, n); track(p, n); return p; }
void __wrap_free(void *p) { untrack(p); __real_free(p); }

void *__wrap_realloc(void *p, size_t n) {
    void *q = __real_realloc(p, n);
    if (q || n == 0) { untrack(p); track(q, n); }
    return q;
}

int __wrap_posix_memalign(void **p, size_t a, size_t n) {
    int r = __real_posix_memalign(p, a, n);
    if (!r) track(*p, n);
    return r;
}

static void count_begin(void) {
    pthread_mutex_lock(&acc.mx);
    memset(acc.key, 0, sizeof acc.key);
    acc.live = acc.peak = acc.calls = 0;
    acc.overflow = 0;
    acc.counting = 1;
    pthread_mutex_unlock(&acc.mx);
}

/* peak bytes live since count_begin; *still: bytes still live (outputs the call handed over) */
static size_t count_end(size_t *still) {
    pthread_mutex_lock(&acc.mx);
    acc.counting = 0;
    size_t p = acc.peak;
    if (still) *still = acc.live;
    pthread_mutex_unlock(&acc.mx);
    return p;
}

/* ---------------------------------------------------------------- fixtures */

typedef struct {
    ct_model *m;
    npy_array px, tf, tok, craw;
    int H, W, n, E, patch;
    float scale;
} fx_run;

/* one run of a model fixture: model, pixels, text features, encoder outputs */
static int open_run(const char *name, const char *run, fx_run *r) {
    memset(r, 0, sizeof *r);
    char dir[700], path[800];
    FMT(dir, "%s/%s", oracle_dir(), name);
    FMT(path, "%s/model.safetensors", dir);
    if (!file_exists(path)) return 0;
    ct_error err;
    if (ct_model_load(path, &r->m, &err)) { CHECK(0, "%s: %s", name, err.msg); return 0; }
    if (!load_npy(dir, run, "pixels", &r->px) || !load_npy(dir, run, "text_features", &r->tf) || !load_npy(dir, run, "img_tokens", &r->tok) ||
        !load_npy(dir, run, "corr_raw", &r->craw)) {
        npy_free(&r->px); npy_free(&r->tf); npy_free(&r->tok); npy_free(&r->craw);
        ct_model_free(r->m);
        return 0;
    }
    const ct_config *c = ct_model_config(r->m);
    r->H = (int)r->px.shape[1];
    r->W = (int)r->px.shape[2];
    r->n = (int)r->tf.shape[0];
    r->E = c->embed_dim;
    r->patch = c->patch;
    r->scale = c->logit_scale;
    return 1;
}

static void close_run(fx_run *r) {
    npy_free(&r->px); npy_free(&r->tf); npy_free(&r->tok); npy_free(&r->craw);
    ct_model_free(r->m);
}

/* the two structs hold the same arrays (same shapes, same bits) */
static int same_intermediates(const ct_intermediates *a, const ct_intermediates *b) {
    if (a->H != b->H || a->W != b->W || a->h != b->h || a->w != b->w || a->n_names != b->n_names || a->embed_dim != b->embed_dim ||
        a->n_clusters != b->n_clusters || a->eps != b->eps || a->min_samples != b->min_samples)
        return 0;
    size_t HW = (size_t)a->H * a->W, hw = (size_t)a->h * a->w, T = hw + 1, E = (size_t)a->embed_dim, N = (size_t)a->n_names;
    struct { const void *x, *y; size_t bytes; } arr[] = {
        {a->image_embedding, b->image_embedding, 4 * E},
        {a->img_tokens, b->img_tokens, 4 * T * E},
        {a->corr_raw, b->corr_raw, 4 * T * T},
        {a->corr, b->corr, 4 * hw * hw},
        {a->patch_logits, b->patch_logits, 4 * N * hw},
        {a->logits_up, b->logits_up, 4 * N * HW},
        {a->pred_raw, b->pred_raw, 4 * HW},
        {a->dbscan_labels, b->dbscan_labels, 4 * hw},
        {a->cluster_maps, b->cluster_maps, 4 * (size_t)a->n_clusters * 16 * hw},
        {a->cluster_assign, b->cluster_assign, 4 * HW},
        {a->pred, b->pred, 4 * HW},
        {a->seg_logits, b->seg_logits, 4 * N * HW},
        {a->pamr_logits, b->pamr_logits, 4 * N * HW},
    };
    for (size_t k = 0; k < sizeof arr / sizeof *arr; k++) {
        if (!arr[k].x != !arr[k].y) return 0;
        if (arr[k].x && memcmp(arr[k].x, arr[k].y, arr[k].bytes)) return 0;
    }
    return 1;
}

static int all_bytes(const void *p, size_t n, unsigned char v) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v) return 0;
    return 1;
}

/* ---------------------------------------------------------------- output structs */

static void uninitialised_intermediates(void) {
    fx_run r;
    if (!open_run("tiny_f32_openai", "crop64", &r)) SKIP("tiny_f32_openai fixture not found under %s", oracle_dir());
    size_t HW = (size_t)r.H * r.W;
    int32_t *la = malloc(4 * HW), *lb = malloc(4 * HW);
    ct_segment_params sp;
    ct_segment_params_default(&sp);
    ct_error err;
    for (int path = 0; path < 2; path++) { /* ct_segment, then ct_postprocess */
        ct_intermediates garbage, zero;
        memset(&garbage, 0xAB, sizeof garbage);
        memset(&zero, 0, sizeof zero);
        ct_status sa, sb;
        if (path == 0) {
            sa = ct_segment(r.m, r.px.data, r.H, r.W, r.tf.data, r.n, NULL, &sp, la, &garbage, &err);
            sb = ct_segment(r.m, r.px.data, r.H, r.W, r.tf.data, r.n, NULL, &sp, lb, &zero, &err);
        } else {
            sa = ct_postprocess(r.tok.data, r.craw.data, r.H, r.W, r.patch, r.E, r.scale, r.tf.data, r.n, NULL, &sp, la, &garbage, &err);
            sb = ct_postprocess(r.tok.data, r.craw.data, r.H, r.W, r.patch, r.E, r.scale, r.tf.data, r.n, NULL, &sp, lb, &zero, &err);
        }
        const char *fn = path ? "ct_postprocess" : "ct_segment";
        CHECK(sa == CT_OK && sb == CT_OK, "%s: %s", fn, err.msg);
        if (sa || sb) continue;
        CHECK(!memcmp(la, lb, 4 * HW), "%s: labels differ between a 0xAB and a zeroed struct", fn);
        CHECK(same_intermediates(&garbage, &zero), "%s: intermediates differ between a 0xAB and a zeroed struct", fn);
        CHECK(garbage.pred && garbage.corr && garbage.cluster_assign, "%s: intermediates missing", fn);
        ct_intermediates_free(&garbage);
        ct_intermediates_free(&zero);
        CHECK(all_bytes(&garbage, sizeof garbage, 0), "ct_intermediates_free leaves the struct zeroed");
    }
    free(la);
    free(lb);
    close_run(&r);
}

/* "On failure, output arguments are left untouched": labels and an uninitialised struct keep
 * their bytes when the parameters are refused. */
static void outputs_untouched_on_failure(void) {
    fx_run r;
    if (!open_run("tiny_f32_openai", "crop64", &r)) SKIP("tiny_f32_openai fixture not found under %s", oracle_dir());
    size_t HW = (size_t)r.H * r.W;
    int32_t *lab = malloc(4 * HW);
    ct_segment_params sp;
    ct_segment_params_default(&sp);
    sp.prob_thd = 2; /* outside [0, 1] */
    ct_intermediates in;
    ct_segment_info info;
    ct_error err;
    memset(lab, 0xAB, 4 * HW);
    memset(&in, 0xAB, sizeof in);
    memset(&info, 0xAB, sizeof info);
    ct_segment_outputs o = {lab, NULL, &info, &in};
    CHECK(ct_segment_ex(r.m, r.px.data, r.H, r.W, r.tf.data, r.n, NULL, &sp, &o, &err) == CT_ERR_INVALID_ARG, "bad prob_thd accepted");
    CHECK(all_bytes(lab, 4 * HW, 0xAB) && all_bytes(&in, sizeof in, 0xAB) && all_bytes(&info, sizeof info, 0xAB), "ct_segment_ex: outputs written on failure");
    /* a failure found during the work (a NaN pixel, CT_ERR_NONFINITE) leaves them untouched too:
     * a struct still holding an earlier call's arrays must not lose them */
    sp.prob_thd = 0;
    float *px = malloc(r.px.numel * sizeof(float));
    memcpy(px, r.px.data, r.px.numel * sizeof(float));
    px[r.px.numel / 2] = NAN;
    ct_status st = ct_segment_ex(r.m, px, r.H, r.W, r.tf.data, r.n, NULL, &sp, &o, &err);
    CHECK(st == CT_ERR_NONFINITE, "NaN pixel: status %s", ct_status_str(st));
    CHECK(all_bytes(lab, 4 * HW, 0xAB) && all_bytes(&info, sizeof info, 0xAB), "ct_segment_ex: labels or info written on a failure during the work");
    CHECK(all_bytes(&in, sizeof in, 0xAB), "ct_segment_ex: the intermediates struct was written on a failure during the work (header: outputs untouched)");
    free(px);
    memset(&in, 0xAB, sizeof in);
    /* ct_postprocess with an image size that is not a patch multiple */
    CHECK(ct_postprocess(r.tok.data, r.craw.data, r.H - 1, r.W, r.patch, r.E, r.scale, r.tf.data, r.n, NULL, NULL, lab, &in, &err) ==
              CT_ERR_INVALID_ARG,
          "ct_postprocess: bad size accepted");
    CHECK(all_bytes(lab, 4 * HW, 0xAB), "ct_postprocess: labels written on failure");
    CHECK(all_bytes(&in, sizeof in, 0xAB), "ct_postprocess: the intermediates struct was written on failure (header: outputs untouched)");
    free(lab);
    close_run(&r);
}

/* ---------------------------------------------------------------- ct_segment_info */

static void segment_info_without_intermediates(void) {
    char dir[700];
    FMT(dir, "%s/small_f16_hf", oracle_dir());
    fx_run r[2];
    const char *runs[2] = {"crop224", "crop336"};
    const float eps[2] = {0.7f, 1.1f};      /* the paper's values for short sides <= 224 and above */
    const int min_samples[2] = {3, 7};
    const int clusters[2] = {7, 5};         /* meta.json n_clusters of these runs */
    for (int k = 0; k < 2; k++) {
        if (!open_run("small_f16_hf", runs[k], &r[k])) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
        size_t HW = (size_t)r[k].H * r[k].W;
        int32_t *lab = malloc(4 * HW), *lab2 = malloc(4 * HW), name_label[64];
        int nc = k ? 8 : r[k].n; /* crop336: 8 classes then background names, all label 8 */
        for (int i = 0; i < r[k].n; i++) name_label[i] = i < nc ? i : nc;
        for (int threads = 0; threads <= 1; threads++) {
            ct_segment_params sp;
            ct_segment_params_default(&sp); /* eps, min_samples, median, ratio: <= 0, resolved by the call */
            sp.n_threads = threads;
            ct_segment_info info;
            memset(&info, 0xAB, sizeof info);
            ct_segment_outputs o = {lab, NULL, &info, NULL};
            ct_error err;
            CHECK(ct_segment_ex(r[k].m, r[k].px.data, r[k].H, r[k].W, r[k].tf.data, r[k].n, name_label, &sp, &o, &err) == CT_OK, "%s", err.msg);
            printf("  %s n_threads %d: %d clusters, eps %g, min_samples %d, median %d, ratio %d, %d threads, %s/%s, encode %.3f s, post %.3f s, "
                   "total %.3f s, workspace %zu B\n",
                   runs[k], threads, info.n_clusters, (double)info.eps, info.min_samples, info.median_size, info.upsample_ratio, info.n_threads,
                   ct_precision_name(info.precision), info.kernel ? info.kernel : "(null)", info.t_encode, info.t_post, info.t_total,
                   info.workspace_bytes);
            CHECK(info.head == CT_HEAD_CLIPTRASE && info.H == r[k].H && info.W == r[k].W && info.h == r[k].H / 16 && info.w == r[k].W / 16,
                  "geometry");
            CHECK(info.n_names == r[k].n && info.n_labels == nc + (nc < r[k].n), "names %d, labels %d", info.n_names, info.n_labels);
            CHECK(info.n_windows == 1 && info.n_thresholded == 0, "windows %d, thresholded %d", info.n_windows, info.n_thresholded);
            CHECK(info.n_clusters == clusters[k], "%d clusters, the oracle found %d", info.n_clusters, clusters[k]);
            CHECK(info.eps == eps[k] && info.min_samples == min_samples[k] && info.median_size == 7 && info.upsample_ratio == 4,
                  "resolved parameters: eps %g, min_samples %d, median %d, ratio %d", (double)info.eps, info.min_samples, info.median_size,
                  info.upsample_ratio);
            CHECK(info.logit_scale == r[k].scale, "logit scale %g, model %g", (double)info.logit_scale, (double)r[k].scale);
            CHECK(info.n_threads == (threads ? 1 : ct_model_threads(r[k].m)), "threads used %d", info.n_threads);
            CHECK(info.precision == CT_PRECISION_FP32 && info.kernel && info.kernel[0] && strlen(info.kernel) < 64, "precision, kernel");
            CHECK(info.t_encode > 0 && info.t_post > 0 && info.t_total >= info.t_encode + info.t_post && info.t_total < 600, "timings %g %g %g",
                  info.t_encode, info.t_post, info.t_total);
            CHECK(info.workspace_bytes > 0, "workspace %zu", info.workspace_bytes);
            /* the same labels as ct_segment */
            CHECK(ct_segment(r[k].m, r[k].px.data, r[k].H, r[k].W, r[k].tf.data, r[k].n, name_label, &sp, lab2, NULL, &err) == CT_OK, "%s", err.msg);
            CHECK(!memcmp(lab, lab2, 4 * HW), "labels differ from ct_segment's");
        }
        free(lab);
        free(lab2);
        close_run(&r[k]);
    }
}

/* ---------------------------------------------------------------- ct_segment_memory */

static void segment_memory(void) {
    fx_run r;
    if (!open_run("small_f16_hf", "crop224", &r)) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
    void *probe = malloc(1); /* the accounting is live (the Makefile links this test with --wrap) */
    free(probe);
    CHECK(acc.wrapped, "allocations are not wrapped: link test_api with -Wl,--wrap=malloc,... (TEST_LDFLAGS in the Makefile)");
    const int sizes[][2] = {{64, 64}, {128, 96}, {224, 224}, {224, 320}, {336, 336}};
    size_t prev = 0;
    int n = r.n;
    ct_error err;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int H = sizes[k][0], W = sizes[k][1];
        size_t est = 0, est_inter = 0, peak, peak_inter, kept, kept_inter;
        ct_segment_params sp;
        ct_segment_params_default(&sp);
        CHECK(ct_segment_memory(r.m, H, W, n, &sp, 0, &est, &err) == CT_OK, "%s", err.msg);
        CHECK(ct_segment_memory(r.m, H, W, n, &sp, 1, &est_inter, &err) == CT_OK, "%s", err.msg);
        float *px = malloc(sizeof(float) * 3 * H * W);
        for (int i = 0; i < 3 * H * W; i++) px[i] = (float)(((unsigned)i * 7919u) % 1000u) / 500.f - 1.f;
        int32_t *lab = malloc(sizeof(int32_t) * H * W);
        ct_segment_info info;
        ct_segment_outputs o = {lab, NULL, &info, NULL};
        /* two calls first: the weights are packed at first use into the call's workspace and
         * for good at the second (model-lifetime caches, not the call's memory) */
        for (int w = 0; w < 2; w++) CHECK(ct_segment_ex(r.m, px, H, W, r.tf.data, n, NULL, &sp, &o, &err) == CT_OK, "%s", err.msg);
        count_begin();
        CHECK(ct_segment(r.m, px, H, W, r.tf.data, n, NULL, &sp, lab, NULL, &err) == CT_OK, "%s", err.msg);
        peak = count_end(&kept);
        ct_intermediates in;
        count_begin();
        CHECK(ct_segment(r.m, px, H, W, r.tf.data, n, NULL, &sp, lab, &in, &err) == CT_OK, "%s", err.msg);
        peak_inter = count_end(&kept_inter);
        ct_intermediates_free(&in);
        /* the model keeps its last workspace for the next call: the measured calls reuse it, so
         * it is in use during the call but not allocated by it */
        peak += info.workspace_bytes;
        peak_inter += info.workspace_bytes;
        CHECK(!acc.overflow, "accounting table full");
        printf("  %3dx%-3d estimate %9zu B (with intermediates %9zu), measured peak %9zu (%9zu, handed over %9zu), workspace %9zu: "
               "estimate / peak %.2f (%.2f)\n", H, W, est, est_inter, peak, peak_inter, kept_inter, info.workspace_bytes, (double)est / (double)peak,
               (double)est_inter / (double)peak_inter);
        CHECK(kept == 0, "%zu bytes still allocated after a call without intermediates", kept);
        CHECK(est >= info.workspace_bytes, "estimate %zu below the workspace %zu", est, info.workspace_bytes);
        CHECK(est >= peak, "%dx%d: estimate %zu below the measured peak %zu", H, W, est, peak);
        CHECK(est_inter >= peak_inter, "%dx%d with intermediates: estimate %zu below the measured peak %zu", H, W, est_inter, peak_inter);
        /* plausible: not more than twice what is really used (with intermediates, the call's peak
         * plus the arrays it hands over, which may be allocated after the peak) */
        CHECK(est <= 2 * peak, "%dx%d: estimate %zu, peak %zu", H, W, est, peak);
        CHECK(est_inter <= 2 * (peak + kept_inter), "%dx%d: estimate %zu, peak %zu, handed over %zu", H, W, est_inter, peak, kept_inter);
        CHECK(est_inter > est, "intermediates cost nothing?");
        CHECK(est > prev, "%dx%d: estimate %zu not above the smaller image's %zu", H, W, est, prev);
        prev = est;
        free(px);
        free(lab);
    }
    /* the parameters are checked as ct_segment checks them */
    size_t b = 12345;
    ct_segment_params sp;
    ct_segment_params_default(&sp);
    CHECK(ct_segment_memory(r.m, 224, 225, n, &sp, 0, &b, &err) == CT_ERR_INVALID_ARG && b == 12345, "size not a patch multiple");
    CHECK(ct_segment_memory(r.m, 16 * 129, 16 * 128, n, &sp, 0, &b, &err) == CT_ERR_TOO_LARGE && b == 12345, "above CT_MAX_PATCHES");
    CHECK(ct_segment_memory(r.m, 224, 224, 0, &sp, 0, &b, &err) == CT_ERR_INVALID_ARG && b == 12345, "no names");
    CHECK(ct_segment_memory(NULL, 224, 224, n, &sp, 0, &b, &err) == CT_ERR_INVALID_ARG, "NULL model");
    CHECK(ct_segment_memory(r.m, 224, 224, n, &sp, 0, NULL, &err) == CT_ERR_INVALID_ARG, "NULL bytes");
    close_run(&r);
}

/* Issue 18, item 11: ct_segment_memory within 10% of the real peak for every head and option
 * (whole image, windows, PAMR, intermediates). The model's kept workspace is dropped before each
 * measured call, so the call allocates (and the counter sees) all it uses. */
static void drop_kept_workspace(ct_model *m) {
    free(m->ws);
    m->ws = NULL;
    m->ws_bytes = 0;
}

static void segment_memory_every_head(void) {
    fx_run r;
    if (!open_run("small_f16_hf", "crop224", &r)) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
    const int H = 224, W = 320;
    int n = r.n;
    float *px = malloc(sizeof(float) * 3 * H * W);
    for (int i = 0; i < 3 * H * W; i++) px[i] = (float)(((unsigned)i * 7919u) % 1000u) / 500.f - 1.f;
    int32_t *lab = malloc(sizeof(int32_t) * H * W);
    ct_error err;
    double worst = 1;
    for (int h = 0; h < CT_HEAD_COUNT; h++) {
        for (int v = 0; v < (h == CT_HEAD_CLIPTRASE ? 1 : 4); v++) {
            ct_segment_params sp;
            ct_segment_params_preset(&sp, (ct_head)h);
            const char *what = "whole image";
            if (h != CT_HEAD_CLIPTRASE) {
                sp.slide_crop = v & 1 ? 160 : 0;
                sp.slide_stride = 96;
                sp.pamr_steps = v & 2 ? 10 : 0;
                if (sp.n_pamr_dilations == 0) { sp.n_pamr_dilations = 2; sp.pamr_dilations[0] = 8; sp.pamr_dilations[1] = 16; }
                const char *names[4] = {"whole image", "windows", "whole image + PAMR", "windows + PAMR"};
                what = names[v];
            }
            for (int wi = 0; wi < 2; wi++) {
                size_t est = 0, bound = 0, peak, kept;
                CHECK(ct_segment_memory(r.m, H, W, n, &sp, wi, &bound, &err) == CT_OK, "%s", err.msg);
                /* cliptrase: the public estimate assumes hw / min_samples clusters (an upper
                 * bound for typical pictures); the formula is checked with the run's own count */
                ct_segment_info info;
                ct_segment_outputs so = {lab, NULL, &info, NULL};
                CHECK(ct_segment_ex(r.m, px, H, W, r.tf.data, n, NULL, &sp, &so, &err) == CT_OK, "%s", err.msg);
                CHECK(ct_segment_memory_clusters(r.m, H, W, n, &sp, wi, h == CT_HEAD_CLIPTRASE ? info.n_clusters : -1, &est, &err) == CT_OK, "%s",
                      err.msg);
                ct_intermediates in;
                for (int w = 0; w < 2; w++) { /* weights packed for good by the second use */
                    CHECK(ct_segment(r.m, px, H, W, r.tf.data, n, NULL, &sp, lab, wi ? &in : NULL, &err) == CT_OK, "%s", err.msg);
                    if (wi) ct_intermediates_free(&in);
                }
                drop_kept_workspace(r.m);
                count_begin();
                CHECK(ct_segment(r.m, px, H, W, r.tf.data, n, NULL, &sp, lab, wi ? &in : NULL, &err) == CT_OK, "%s", err.msg);
                peak = count_end(&kept);
                if (wi) ct_intermediates_free(&in);
                double ratio = (double)est / (double)peak;
                CHECK(bound >= est, "the public estimate %zu is below the one with the real cluster count %zu", bound, est);
                printf("  %-9s %-20s %-18s estimate %10zu B, peak %10zu B: %.3f\n", ct_head_name((ct_head)h), what, wi ? "intermediates" : "",
                       est, peak, ratio);
                CHECK(ratio >= 0.9 && ratio <= 1.1, "%s, %s%s: estimate %zu B, allocated at the peak %zu B (%.2f)", ct_head_name((ct_head)h), what,
                      wi ? ", intermediates" : "", est, peak, ratio);
                if (fabs(ratio - 1) > fabs(worst - 1)) worst = ratio;
            }
        }
    }
    printf("  worst estimate / peak: %.3f\n", worst);
    CHECK(!acc.overflow, "accounting table full");
    free(px);
    free(lab);
    close_run(&r);
}

/* Issue 18, item 11: the work of a segmentation before it runs (ct_segment_cost): the encoder
 * passes of sliding windows, the clusters' median filters; the trials' cost bombs stand out. */
static void segment_cost(void) {
    fx_run r;
    if (!open_run("small_f16_hf", "crop224", &r)) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
    ct_segment_cost_info c0, c1, c2, c3;
    ct_segment_params sp;
    ct_error err;
    ct_segment_params_default(&sp);
    CHECK(ct_segment_cost(r.m, 224, 224, 3, &sp, 0, &c0, &err) == CT_OK, "%s", err.msg);
    size_t bytes = 0;
    CHECK(ct_segment_memory(r.m, 224, 224, 3, &sp, 0, &bytes, &err) == CT_OK && c0.bytes == bytes, "bytes %zu, ct_segment_memory %zu", c0.bytes, bytes);
    CHECK(c0.n_windows == 1 && c0.n_clusters == 65 /* 196 patches / 3 */ && c0.total_ops > 1e8 && c0.total_ops < 1e12 &&
          c0.total_ops == c0.encoder_ops + c0.post_ops, "cliptrase 224: %d windows, %d clusters, %g ops", c0.n_windows, c0.n_clusters, c0.total_ops);
    ct_segment_params_preset(&sp, CT_HEAD_SCLIP);
    sp.slide_crop = 224;
    sp.slide_stride = 1;
    CHECK(ct_segment_cost(r.m, 448, 448, 3, &sp, 0, &c1, &err) == CT_OK, "%s", err.msg);
    printf("  sclip --slide 224,1 at 448 x 448: %d windows, %.3g operations\n", c1.n_windows, c1.total_ops);
    CHECK(c1.n_windows == 225 * 225 && c1.total_ops > 1e13, "%d windows, %g ops", c1.n_windows, c1.total_ops);
    sp.slide_stride = 112;
    CHECK(ct_segment_cost(r.m, 448, 448, 3, &sp, 0, &c2, &err) == CT_OK && c2.n_windows == 9 && c2.total_ops * 5000 < c1.total_ops, "stride 112: %d windows",
          c2.n_windows);
    ct_segment_params_default(&sp);
    sp.upsample_ratio = 64;
    sp.median_size = 255;
    CHECK(ct_segment_cost(r.m, 208, 160, 3, &sp, 0, &c3, &err) == CT_OK, "%s", err.msg);
    printf("  cliptrase upsample 64, median 255 at 160 x 208: %.3g operations\n", c3.total_ops);
    CHECK(c3.total_ops > 1e13, "upsample 64, median 255: %g ops", c3.total_ops);
    sp.median_size = 256;
    CHECK(ct_segment_cost(r.m, 208, 160, 3, &sp, 0, &c3, &err) == CT_ERR_INVALID_ARG, "median 256 accepted");
    CHECK(ct_segment_cost(r.m, 208, 160, 3, NULL, 0, NULL, &err) == CT_ERR_INVALID_ARG, "NULL cost accepted");
    close_run(&r);
}

/* ---------------------------------------------------------------- names, precision, outputs */

static void parsing_is_strict(void) {
    ct_error err;
    ct_precision p = (ct_precision)77;
    const char *good[] = {"fp32", "float32", "bf16", "bfloat16"};
    for (int i = 0; i < 4; i++) {
        CHECK(ct_precision_parse(good[i], &p, &err) == CT_OK && p == (i < 2 ? CT_PRECISION_FP32 : CT_PRECISION_BF16), "%s", good[i]);
        CHECK(!strcmp(ct_precision_name(p), i < 2 ? "fp32" : "bf16"), "name of %s", good[i]);
    }
    const char *bad[] = {"", "fp16", "f32", "fp32 ", " bf16", "bf16x", "float", "int8", "FP32x", "auto"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = (ct_precision)77;
        CHECK(ct_precision_parse(bad[i], &p, &err) == CT_ERR_INVALID_ARG && p == (ct_precision)77, "precision \"%s\" accepted", bad[i]);
        CHECK(err.status == CT_ERR_INVALID_ARG && err.msg[0], "no message for \"%s\"", bad[i]);
    }
    CHECK(ct_precision_parse(NULL, &p, &err) == CT_ERR_INVALID_ARG, "NULL name");
    CHECK(ct_precision_parse("fp32", NULL, &err) == CT_ERR_INVALID_ARG, "NULL out");
    const char *heads[] = {"cliptrase", "clip", "maskclip", "sclip", "clearclip", "naclip", "scclip"};
    _Static_assert(sizeof heads / sizeof *heads == CT_HEAD_COUNT, "test_api: one name per head");
    for (int h = 0; h < CT_HEAD_COUNT; h++) {
        ct_head out = CT_HEAD_COUNT;
        CHECK(!strcmp(ct_head_name((ct_head)h), heads[h]), "head %d is \"%s\"", h, ct_head_name((ct_head)h));
        CHECK(ct_head_parse(heads[h], &out, &err) == CT_OK && out == (ct_head)h, "%s", heads[h]);
    }
    const char *bad_heads[] = {"", "CLIPtrase2", "cliptrase ", "mask", "sclip2", "nac", "none", "clip-vit"};
    for (size_t i = 0; i < sizeof bad_heads / sizeof *bad_heads; i++) {
        ct_head out = CT_HEAD_COUNT;
        CHECK(ct_head_parse(bad_heads[i], &out, &err) == CT_ERR_INVALID_ARG && out == CT_HEAD_COUNT, "head \"%s\" accepted", bad_heads[i]);
    }
    ct_head out;
    CHECK(ct_head_parse(NULL, &out, &err) == CT_ERR_INVALID_ARG, "NULL head name");
}

static void precision_at_load(void) {
    char path[700];
    FMT(path, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    if (!file_exists(path)) SKIP("tiny fixture not found under %s", oracle_dir());
    ct_load_params lp;
    ct_load_params_default(&lp);
    CHECK(lp.precision == CT_PRECISION_FP32 && lp.backend == CT_BACKEND_NATIVE && lp.n_threads == 0 && !lp.runtime && !lp.check_finite, "defaults");
    ct_model *m = (ct_model *)&m;
    ct_error err;
    lp.precision = CT_PRECISION_BF16;
    ct_status st = ct_model_load_ex(path, &lp, &m, &err);
    if (ct_precision_available(CT_PRECISION_BF16)) {
        printf("  this CPU has AVX512_BF16: bf16 loads\n");
        CHECK(st == CT_OK && ct_model_precision(m) == CT_PRECISION_BF16, "bf16 load: %s", err.msg);
        char d[1024];
        if (!st) {
            ct_model_describe(m, d, sizeof d);
            CHECK(strstr(d, "bf16") != NULL, "describe: %s", d);
            ct_model_free(m);
        }
    } else {
        printf("  this CPU lacks AVX512_BF16: bf16 is refused\n");
        CHECK(st == CT_ERR_UNSUPPORTED && m == (ct_model *)&m, "bf16 without AVX512_BF16: status %d", st);
        CHECK(strstr(err.msg, "AVX512_BF16") != NULL, "message: %s", err.msg);
    }
    m = (ct_model *)&m;
    lp.backend = CT_BACKEND_OPENBLAS; /* OpenBLAS is fp32 only, on every CPU */
    CHECK(ct_model_load_ex(path, &lp, &m, &err) == CT_ERR_UNSUPPORTED && m == (ct_model *)&m, "bf16 with OpenBLAS accepted");
    ct_load_params_default(&lp);
    lp.precision = (ct_precision)9;
    CHECK(ct_model_load_ex(path, &lp, &m, &err) == CT_ERR_INVALID_ARG && m == (ct_model *)&m, "unknown precision accepted");
    ct_load_params_default(&lp);
    lp.n_threads = -1;
    CHECK(ct_model_load_ex(path, &lp, &m, &err) == CT_ERR_INVALID_ARG && m == (ct_model *)&m, "negative thread count accepted");
    ct_load_params_default(&lp);
    CHECK(ct_model_load_ex(path, &lp, &m, &err) == CT_OK && ct_model_precision(m) == CT_PRECISION_FP32, "fp32: %s", err.msg);
    if (m != (ct_model *)&m) ct_model_free(m);
}

static void encode_image_outputs(void) {
    fx_run r;
    if (!open_run("tiny_f32_openai", "crop64", &r)) SKIP("tiny_f32_openai fixture not found under %s", oracle_dir());
    ct_error err;
    ct_image_features none = {NULL, NULL, NULL};
    CHECK(ct_encode_image(r.m, r.px.data, r.H, r.W, 0, &none, &err) == CT_ERR_INVALID_ARG, "every output NULL accepted");
    CHECK(strstr(err.msg, "no output") != NULL, "message: %s", err.msg);
    CHECK(ct_encode_image(r.m, r.px.data, r.H, r.W, 0, NULL, &err) == CT_ERR_INVALID_ARG, "NULL features accepted");
    /* sizes in messages are width x height, as every tool prints them (H 48, W 40: not multiples of 16) */
    ct_image_features f1 = {NULL, NULL, NULL};
    float *one = malloc(sizeof(float)), *e1 = malloc(sizeof(float) * r.E);
    f1.image_embedding = e1;
    CHECK(ct_encode_image(r.m, one, 48, 40, 0, &f1, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "image size 40 x 48 (width x height)"),
          "the size in the message: %s", err.msg);
    CHECK(ct_encode_image(r.m, one, 16 * 20000, 16, 0, &f1, &err) == CT_ERR_TOO_LARGE && strstr(err.msg, "image 16 x 320000 gives 20000 patches"),
          "a tall input's message: %s", err.msg);
    free(one);
    free(e1);
    /* one output at a time is enough, and each equals the oracle's (encoder bound 1e-4) */
    size_t T = r.tok.shape[0];
    float *tok = malloc(sizeof(float) * T * r.E), *corr = malloc(sizeof(float) * T * T), *emb = malloc(sizeof(float) * r.E);
    ct_image_features a = {NULL, tok, NULL}, b = {NULL, NULL, corr}, c = {emb, NULL, NULL};
    CHECK(ct_encode_image(r.m, r.px.data, r.H, r.W, 0, &a, &err) == CT_OK, "%s", err.msg);
    CHECK(ct_encode_image(r.m, r.px.data, r.H, r.W, 1, &b, &err) == CT_OK, "%s", err.msg);
    CHECK(ct_encode_image(r.m, r.px.data, r.H, r.W, 0, &c, &err) == CT_OK, "%s", err.msg);
    CHECK(max_abs_diff(tok, r.tok.data, r.tok.numel) <= 1e-4, "img_tokens");
    CHECK(max_abs_diff(corr, r.craw.data, r.craw.numel) <= 1e-4, "corr_raw");
    double n2 = 0;
    for (int i = 0; i < r.E; i++) n2 += (double)emb[i] * emb[i];
    CHECK(fabs(n2 - 1) <= 1e-5, "image embedding not L2-normalised: %g", n2);
    free(tok); free(corr); free(emb);
    close_run(&r);
}

/* Nothing is allocated inside the layer loops (header): a warm call allocates as many blocks
 * for a 12-block model as for a 3-block one, with every backend and precision this CPU runs
 * (the reference attention of the OpenBLAS backend used to allocate once per block). */
static size_t warm_allocations(const char *fx, ct_backend be, ct_precision pr, int text) {
    char path[800];
    FMT(path, "%s/%s/model.safetensors", oracle_dir(), fx);
    ct_load_params lp;
    ct_load_params_default(&lp);
    lp.backend = be;
    lp.precision = pr;
    ct_model *m = NULL;
    ct_error err;
    if (ct_model_load_ex(path, &lp, &m, &err)) { CHECK(0, "%s: %s", fx, err.msg); return 0; }
    const ct_config *c = ct_model_config(m);
    int H = 4 * c->patch, W = 5 * c->patch, T = 21;
    float *px = calloc((size_t)3 * H * W, sizeof(float)), *tok = malloc(sizeof(float) * T * c->embed_dim);
    float *corr = malloc(sizeof(float) * T * T), *emb = malloc(sizeof(float) * c->embed_dim);
    int32_t ids[2 * 77] = {0};
    for (int i = 0; i < 2; i++) { ids[i * 77] = CT_TOKEN_SOT; ids[i * 77 + 1] = 320 + i; ids[i * 77 + 2] = CT_TOKEN_EOT; }
    for (int i = 0; i < 3 * H * W; i++) px[i] = (float)(i % 7) * 0.1f;
    ct_image_features f = {emb, tok, corr};
    size_t calls = 0;
    for (int rep = 0; rep < 3; rep++) { /* weights are packed at their second use: the third is warm */
        if (rep == 2) count_begin();
        ct_status st = text ? ct_encode_tokens(m, ids, 2, tok, &err) : ct_encode_image(m, px, H, W, 0, &f, &err);
        if (rep == 2) { count_end(NULL); calls = acc.calls; }
        CHECK(st == CT_OK, "%s: %s", fx, err.msg);
    }
    free(px); free(tok); free(corr); free(emb);
    ct_model_free(m);
    return calls;
}

static void no_allocation_per_layer(void) {
    char path[800];
    FMT(path, "%s/small_f16_hf/model.safetensors", oracle_dir());
    if (!file_exists(path)) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
    static const struct { ct_backend be; ct_precision pr; const char *name; } cfg[] = {
        {CT_BACKEND_NATIVE, CT_PRECISION_FP32, "native fp32"}, {CT_BACKEND_OPENBLAS, CT_PRECISION_FP32, "openblas"},
        {CT_BACKEND_NATIVE, CT_PRECISION_BF16, "native bf16"}};
    for (size_t i = 0; i < sizeof cfg / sizeof *cfg; i++) {
        if (!ct_precision_available(cfg[i].pr)) { printf("  %s: not available on this CPU\n", cfg[i].name); continue; }
        for (int text = 0; text < 2; text++) {
            size_t a = warm_allocations("tiny_f32_openai", cfg[i].be, cfg[i].pr, text);
            size_t b = warm_allocations("small_f16_hf", cfg[i].be, cfg[i].pr, text);
            printf("  %s %s: %zu allocations (3 blocks), %zu (12 blocks)\n", cfg[i].name, text ? "text" : "image", a, b);
            CHECK(a == b, "%s %s: a warm call allocates %zu blocks for 3 layers, %zu for 12: something allocates per layer",
                  cfg[i].name, text ? "text" : "image", a, b);
        }
    }
}

static void free_functions(void) {
    ct_free(NULL);
    ct_intermediates_free(NULL);
    ct_model_free(NULL);
    ct_tokenizer_free(NULL);
    ct_image_free(NULL);
    ct_runtime_free(NULL);
    /* buffers the library hands over go back through ct_free (asan checks the pairing) */
    uint8_t rgb[4 * 4 * 3];
    for (int i = 0; i < 48; i++) rgb[i] = (uint8_t)(i * 5);
    ct_image *img;
    ct_error err;
    float *px = NULL;
    int H, W;
    CHECK(ct_image_from_rgb(rgb, 4, 4, &img, &err) == CT_OK, "%s", err.msg);
    CHECK(ct_normalize(img, &px, &err) == CT_OK && px, "%s", err.msg);
    ct_free(px);
    px = NULL;
    CHECK(ct_preprocess(img, 32, 1, 16, &px, &H, &W, &err) == CT_OK && px && H == 32 && W == 32, "%s", err.msg);
    ct_free(px);
    char path[4200];
    FMT(path, "%s/labels.png", t_tmpdir());
    int32_t lab[6] = {0, 1, 2, 3, 4, 5}, *back = NULL;
    int w = 0, h = 0;
    CHECK(ct_labels_save_png(lab, 3, 2, 8, path, &err) == CT_OK, "%s", err.msg);
    CHECK(ct_labels_load_png(path, &back, &w, &h, &err) == CT_OK && w == 3 && h == 2 && back && !memcmp(back, lab, sizeof lab), "%s", err.msg);
    ct_free(back);
    ct_image_free(img);
}

/* ---------------------------------------------------------------- bad parameters */

static void bad_params_before_any_work(void) {
    fx_run r;
    if (!open_run("small_f16_hf", "crop224", &r)) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
    ct_runtime *rt = ct_model_runtime(r.m);
    int H = 224, W = 224, n = r.n;
    float one_float = 0.f; /* the "image": a read of pixel 2 would be reported by asan */
    int32_t *lab = malloc(sizeof(int32_t) * H * W);
    struct {
        const char *what;
        ct_head head;
        int threads, crop, stride, pamr;
        float prob, area;
        int n_names, height;
    } bad[] = {
        {"negative thread count", CT_HEAD_CLIPTRASE, -1, 0, 0, 0, 0, 0, n, H},
        {"thread count above the maximum", CT_HEAD_CLIPTRASE, CT_MAX_THREADS + 1, 0, 0, 0, 0, 0, n, H},
        {"prob_thd below 0", CT_HEAD_SCLIP, 0, 0, 0, 0, -0.1f, 0, n, H},
        {"prob_thd above 1", CT_HEAD_SCLIP, 0, 0, 0, 0, 1.5f, 0, n, H},
        {"prob_thd NaN", CT_HEAD_SCLIP, 0, 0, 0, 0, NAN, 0, n, H},
        {"area_thd below 0", CT_HEAD_SCLIP, 0, 0, 0, 0, 0, -0.5f, n, H},
        {"area_thd above 1", CT_HEAD_SCLIP, 0, 0, 0, 0, 0, 1.01f, n, H},
        {"window not a patch multiple", CT_HEAD_SCLIP, 0, 100, 50, 0, 0, 0, n, H},
        {"stride above the window", CT_HEAD_SCLIP, 0, 224, 225, 0, 0, 0, n, H},
        {"stride 0", CT_HEAD_SCLIP, 0, 224, 0, 0, 0, 0, n, H},
        {"negative window", CT_HEAD_SCLIP, 0, -224, 112, 0, 0, 0, n, H},
        {"unknown head", CT_HEAD_COUNT, 0, 0, 0, 0, 0, 0, n, H},
        {"negative head", (ct_head)-1, 0, 0, 0, 0, 0, 0, n, H},
        {"cliptrase with a sliding window", CT_HEAD_CLIPTRASE, 0, 224, 112, 0, 0, 0, n, H},
        {"cliptrase with PAMR", CT_HEAD_CLIPTRASE, 0, 0, 0, 10, 0, 0, n, H},
        {"cliptrase with prob_thd", CT_HEAD_CLIPTRASE, 0, 0, 0, 0, 0.5f, 0, n, H},
        {"no class names", CT_HEAD_CLIPTRASE, 0, 0, 0, 0, 0, 0, 0, H},
        {"height not a patch multiple", CT_HEAD_CLIPTRASE, 0, 0, 0, 0, 0, 0, n, H + 8},
    };
    ct_runtime_stats s0, s1;
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        ct_segment_params sp;
        ct_segment_params_preset(&sp, bad[k].head < CT_HEAD_COUNT && bad[k].head >= 0 ? bad[k].head : CT_HEAD_CLIPTRASE);
        sp.head = bad[k].head;
        sp.n_threads = bad[k].threads;
        sp.slide_crop = bad[k].crop;
        sp.slide_stride = bad[k].stride;
        sp.pamr_steps = bad[k].pamr;
        sp.prob_thd = bad[k].prob;
        sp.area_thd = bad[k].area;
        ct_intermediates in;
        ct_segment_info info;
        memset(lab, 0xAB, sizeof(int32_t) * H * W);
        memset(&in, 0xAB, sizeof in);
        memset(&info, 0xAB, sizeof info);
        ct_segment_outputs o = {lab, NULL, &info, &in};
        ct_error err = {CT_OK, ""};
        ct_runtime_get_stats(rt, &s0);
        ct_status st = ct_segment_ex(r.m, &one_float, bad[k].height, W, r.tf.data, bad[k].n_names, NULL, &sp, &o, &err);
        ct_runtime_get_stats(rt, &s1);
        size_t bytes = 777;
        ct_status sm = ct_segment_memory(r.m, bad[k].height, W, bad[k].n_names, &sp, 1, &bytes, NULL);
        printf("  %-34s -> %s: %s\n", bad[k].what, ct_status_str(st), err.msg);
        CHECK(st == CT_ERR_INVALID_ARG, "%s: status %s", bad[k].what, ct_status_str(st));
        CHECK(err.status == st && err.msg[0] && !strchr(err.msg, '\n'), "%s: error message", bad[k].what);
        CHECK(s1.regions == s0.regions, "%s: %llu parallel regions ran before the refusal", bad[k].what, (unsigned long long)(s1.regions - s0.regions));
        CHECK(all_bytes(lab, sizeof(int32_t) * H * W, 0xAB) && all_bytes(&in, sizeof in, 0xAB) && all_bytes(&info, sizeof info, 0xAB),
              "%s: outputs written", bad[k].what);
        CHECK(sm == st && bytes == 777, "%s: ct_segment_memory says %s", bad[k].what, ct_status_str(sm));
    }
    /* name labels out of range */
    int32_t nl[64];
    for (int i = 0; i < n; i++) nl[i] = i;
    nl[1] = -1;
    ct_segment_params sp;
    ct_segment_params_default(&sp);
    ct_error err;
    CHECK(ct_segment(r.m, &one_float, H, W, r.tf.data, n, nl, &sp, lab, NULL, &err) == CT_ERR_INVALID_ARG, "negative name label accepted");
    nl[1] = 65536;
    CHECK(ct_segment(r.m, &one_float, H, W, r.tf.data, n, nl, &sp, lab, NULL, &err) == CT_ERR_INVALID_ARG, "name label 65536 accepted");
    /* the thread counts of the other calls follow the same rule: 0 to 256 */
    float feat[8] = {0};
    ct_image_features f = {NULL, NULL, feat};
    int32_t dl[4];
    for (int t = -1; t <= CT_MAX_THREADS + 1; t += CT_MAX_THREADS + 2) {
        CHECK(ct_encode_image(r.m, &one_float, H, W, t, &f, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "thread count"),
              "ct_encode_image with %d threads: %s", t, err.msg);
        CHECK(ct_dbscan(feat, 2, 4, 1.f, 1, t, dl, NULL, &err) == CT_ERR_INVALID_ARG, "ct_dbscan with %d threads", t);
        ct_runtime *rt2 = NULL;
        CHECK(ct_runtime_new(t, &rt2, &err) == CT_ERR_INVALID_ARG && !rt2, "ct_runtime_new with %d threads", t);
    }
    free(lab);
    close_run(&r);
}

int main(void) {
    RUN(uninitialised_intermediates);
    RUN(outputs_untouched_on_failure);
    RUN(segment_info_without_intermediates);
    RUN(segment_memory);
    RUN(segment_memory_every_head);
    RUN(segment_cost);
    RUN(parsing_is_strict);
    RUN(precision_at_load);
    RUN(encode_image_outputs);
    RUN(no_allocation_per_layer);
    RUN(free_functions);
    RUN(bad_params_before_any_work);
    DONE();
}
