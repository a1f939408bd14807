/* Every allocation of a segmentation failing in turn (the header's promise: on failure outputs
 * untouched, nothing leaked). The Makefile links this test with -Wl,--wrap=malloc,... : every
 * allocation of the library comes through the wrappers below, which can fail the k-th one of a
 * call and count what was allocated and freed during it.
 *   - ct_postprocess (the CLIPtrase vote), with and without intermediates, on 1 and 2 threads;
 *   - ct_segment_ex with probabilities, info and intermediates: cliptrase (the vote, then the
 *     probabilities of its raw logits) and sclip with windows, PAMR, area_thd and prob_thd;
 *   for k = 0, 1, ... until a call meets no k-th allocation: the call either succeeds (an
 *   allocation it can do without) or returns CT_ERR_NOMEM with labels, probabilities, info and
 *   intermediates untouched and every block it allocated freed;
 *   - the vote with labels up to 65,535 allocates no more than with labels 0..N-1 beyond a
 *     label map of 65,536 entries (its counts cover the labels used, not every label value).
 * Uses the oracle's tiny fixture (tiny_f32_openai, 64 x 64 pixels, 3 vision blocks). */
#include "alloc_wrap.h"
#include "fixtures.h"

#include <stdatomic.h>


/* while armed: allocations are numbered from 0, the one numbered fail_at returns NULL */
static _Atomic int armed;
static _Atomic long n_calls, fail_at, n_alloc, n_free;
static _Atomic size_t largest;

static int fail_now(void) { return atomic_load(&armed) && atomic_fetch_add(&n_calls, 1) == atomic_load(&fail_at); }

static void got(void *p, size_t n) {
    if (!p || !atomic_load(&armed)) return;
    atomic_fetch_add(&n_alloc, 1);
    size_t l = atomic_load(&largest);
    while (n > l && !atomic_compare_exchange_weak(&largest, &l, n)) {}
}

void *__wrap_malloc(size_t n) {
    if (fail_now()) return NULL;
    void *p = __real_malloc(n);
    got(p, n);
    return p;
}
void *__wrap_calloc(size_t n, size_t s) {
    if (fail_now()) return NULL;
    void *p = __real_calloc(n, s);
    got(p, n * s);
    return p;
}
void *__wrap_aligned_alloc(size_t a, size_t n) {
    if (fail_now()) return NULL;
    void *p = __real_aligned_alloc(a, n);
    got(p, n);
    return p;
}
int __wrap_posix_memalign(void **p, size_t a, size_t n) {
    if (fail_now()) return 12; /* ENOMEM */
    int r = __real_posix_memalign(p, a, n);
    if (!r) got(*p, n);
    return r;
}
void __wrap_free(void *p) {
    if (p && atomic_load(&armed)) atomic_fetch_add(&n_free, 1);
    __real_free(p);
}
void *__wrap_realloc(void *p, size_t n) {
    if (fail_now()) return NULL;
    void *q = __real_realloc(p, n);
    if (q && p && atomic_load(&armed)) atomic_fetch_add(&n_free, 1);
    got(q, n);
    return q;
}

static void arm(long k) {
    atomic_store(&n_calls, 0);
    atomic_store(&n_alloc, 0);
    atomic_store(&n_free, 0);
    atomic_store(&largest, 0);
    atomic_store(&fail_at, k);
    atomic_store(&armed, 1);
}
static void disarm(void) { atomic_store(&armed, 0); }

static int all_bytes(const void *p, size_t n, uint8_t v) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v) return 0;
    return 1;
}

/* the tiny fixture's run: model (optional), pixels, text features, encoder outputs */
typedef struct {
    ct_model *m;
    npy_array px, tf, tok, craw;
    int H, W, n, E, patch, min_samples;
    float eps, scale;
} tiny;

static int open_tiny(tiny *t, int with_model) {
    memset(t, 0, sizeof *t);
    fixture fx[16];
    int nf = find_fixtures(fx, 16), k = -1;
    for (int i = 0; i < nf; i++)
        if (!strcmp(fx[i].name, "tiny_f32_openai")) k = i;
    int ok = 0;
    if (k >= 0) {
        const ct_json *run = ct_json_get(fx[k].meta, "runs");
        run = run && run->n ? &run->items[0] : NULL;
        ok = run && load_npy(fx[k].dir, "crop64", "pixels", &t->px) && load_npy(fx[k].dir, "crop64", "text_features", &t->tf) &&
             load_npy(fx[k].dir, "crop64", "img_tokens", &t->tok) && load_npy(fx[k].dir, "crop64", "corr_raw", &t->craw) &&
             (!with_model || (t->m = load_fixture_model(&fx[k])) != NULL);
        if (ok) {
            t->H = (int)t->px.shape[1];
            t->W = (int)t->px.shape[2];
            t->n = (int)t->tf.shape[0];
            t->E = (int)t->tf.shape[1];
            t->patch = (int)jnum(ct_json_get(fx[k].meta, "config"), "patch", 16);
            t->eps = (float)jnum(run, "eps", 0);
            t->min_samples = (int)jnum(run, "min_samples", 0);
            t->scale = (float)jnum(fx[k].meta, "logit_scale_exp", 100);
        }
    }
    for (int i = 0; i < nf; i++) ct_json_free(fx[i].meta);
    return ok;
}

static void close_tiny(tiny *t) {
    ct_model_free(t->m);
    npy_free(&t->px); npy_free(&t->tf); npy_free(&t->tok); npy_free(&t->craw);
}

/* one configuration of a call, run with every allocation failing in turn */
typedef struct {
    const char *what;
    const tiny *t;
    int segment;             /* 0: ct_postprocess, 1: ct_segment_ex */
    ct_segment_params p;
    int with_inter, with_probs, with_info;
    const int32_t *name_label;
} fault_case;

static ct_status run_case(const fault_case *c, int32_t *lab, float *probs, ct_segment_info *info, ct_intermediates *in, ct_error *err) {
    const tiny *t = c->t;
    if (!c->segment)
        return ct_postprocess(t->tok.data, t->craw.data, t->H, t->W, t->patch, t->E, t->scale, t->tf.data, t->n, c->name_label, &c->p, lab,
                              c->with_inter ? in : NULL, err);
    ct_segment_outputs o = {lab, c->with_probs ? probs : NULL, c->with_info ? info : NULL, c->with_inter ? in : NULL};
    return ct_segment_ex(t->m, t->px.data, t->H, t->W, t->tf.data, t->n, c->name_label, &c->p, &o, err);
}

static void every_allocation_fails(const fault_case *c) {
    const tiny *t = c->t;
    size_t HW = (size_t)t->H * t->W;
    int32_t *lab = malloc(sizeof(int32_t) * HW);
    float *probs = malloc(sizeof(float) * HW * (size_t)t->n);
    ct_segment_info info;
    ct_intermediates in;
    ct_error err;
    /* warm the model's caches (threads, packed weights, the kept workspace): later calls allocate
     * only what they free */
    for (int r = 0; r < 3; r++) {
        ct_status st = run_case(c, lab, probs, &info, &in, &err);
        CHECK(st == CT_OK, "%s: %s", c->what, err.msg);
        if (c->with_inter) ct_intermediates_free(&in);
    }
    int n_nomem = 0, n_ok = 0, written = 0, leaked = 0, other = 0;
    long k;
    for (k = 0;; k++) {
        memset(lab, 0xAB, sizeof(int32_t) * HW);
        memset(probs, 0xAB, sizeof(float) * HW * (size_t)t->n);
        memset(&info, 0xAB, sizeof info);
        memset(&in, 0xAB, sizeof in);
        arm(k);
        ct_status st = run_case(c, lab, probs, &info, &in, &err);
        disarm();
        long calls = atomic_load(&n_calls), na = atomic_load(&n_alloc), nf = atomic_load(&n_free);
        if (st == CT_OK) {
            n_ok++;
            if (c->with_inter) ct_intermediates_free(&in);
        } else {
            n_nomem += st == CT_ERR_NOMEM;
            if (st != CT_ERR_NOMEM && !other++) printf("  %s: allocation %ld failing gives %s: %s\n", c->what, k, ct_status_str(st), err.msg);
            int untouched = all_bytes(lab, sizeof(int32_t) * HW, 0xAB) && all_bytes(probs, sizeof(float) * HW * (size_t)t->n, 0xAB) &&
                            all_bytes(&info, sizeof info, 0xAB) && all_bytes(&in, sizeof in, 0xAB);
            if (!untouched && !written++) printf("  %s: allocation %ld failing (%s) leaves outputs written\n", c->what, k, err.msg);
            if (na != nf && !leaked++) printf("  %s: allocation %ld failing (%s): %ld blocks allocated, %ld freed\n", c->what, k, err.msg, na, nf);
        }
        if (calls <= k) break; /* no k-th allocation: the call ran whole */
    }
    printf("  %-44s %3ld allocations: %d refused with out of memory, %d done without\n", c->what, k, n_nomem, n_ok - 1);
    CHECK(n_nomem > 0 && other == 0, "%s: %d calls out of memory, %d other errors", c->what, n_nomem, other);
    CHECK(written == 0, "%s: %d failing calls left outputs written", c->what, written);
    CHECK(leaked == 0, "%s: %d failing calls leaked", c->what, leaked);
    free(lab); free(probs);
}

static void vote_allocation_failures(void) {
    tiny t;
    if (!open_tiny(&t, 0)) SKIP("no tiny_f32_openai fixture under %s", oracle_dir());
    for (int th = 1; th <= 2; th++)
        for (int inter = 0; inter <= 1; inter++) {
            fault_case c = {th == 1 ? (inter ? "ct_postprocess, 1 thread, intermediates" : "ct_postprocess, 1 thread")
                                    : (inter ? "ct_postprocess, 2 threads, intermediates" : "ct_postprocess, 2 threads"),
                            &t, 0, {0}, inter, 0, 0, NULL};
            ct_segment_params_default(&c.p);
            c.p.eps = t.eps;
            c.p.min_samples = t.min_samples;
            c.p.n_threads = th;
            every_allocation_fails(&c);
        }
    close_tiny(&t);
}

static void segment_allocation_failures(void) {
    tiny t;
    if (!open_tiny(&t, 1)) SKIP("no tiny_f32_openai fixture under %s", oracle_dir());
    int32_t nl[64];
    for (int i = 0; i < t.n && i < 64; i++) nl[i] = i == t.n - 1 ? 0 : i + 1; /* the last name: background 0 */
    for (int k = 0; k < 4; k++) {
        fault_case c = {NULL, &t, 1, {0}, k % 2 == 0, 1, 1, nl};
        if (k < 2) {
            c.what = k == 0 ? "cliptrase: probs, info, intermediates" : "cliptrase: probs";
            ct_segment_params_default(&c.p);
            c.p.eps = t.eps;
            c.p.min_samples = t.min_samples;
        } else {
            c.what = k == 2 ? "sclip windows, PAMR, thresholds: all outputs" : "sclip windows, PAMR, thresholds: probs";
            ct_segment_params_preset(&c.p, CT_HEAD_SCLIP);
            c.p.slide_crop = 2 * t.patch;
            c.p.slide_stride = t.patch;
            c.p.pamr_steps = 2;
            c.p.n_pamr_dilations = 2;
            c.p.pamr_dilations[0] = 1;
            c.p.pamr_dilations[1] = 2;
            c.p.area_thd = 0.05f;
            c.p.prob_thd = 0.2f;
        }
        every_allocation_fails(&c);
    }
    close_tiny(&t);
}

/* labels up to 65,535: the vote's counts cover the labels used */
static void vote_sparse_labels_memory(void) {
    tiny t;
    if (!open_tiny(&t, 0)) SKIP("no tiny_f32_openai fixture under %s", oracle_dir());
    int32_t dense[64], sparse[64];
    for (int i = 0; i < t.n && i < 64; i++) {
        dense[i] = i;
        sparse[i] = 65535 - (t.n - 1 - i);
    }
    size_t big[2];
    int nc[2];
    for (int s = 0; s < 2; s++) {
        fault_case c = {"sparse", &t, 0, {0}, 1, 0, 0, s ? sparse : dense};
        ct_segment_params_default(&c.p);
        c.p.eps = t.eps;
        c.p.min_samples = t.min_samples;
        c.p.n_threads = 2;
        int32_t *lab = malloc(sizeof(int32_t) * (size_t)t.H * t.W);
        ct_intermediates in;
        ct_error err;
        arm(-1);
        ct_status st = run_case(&c, lab, NULL, NULL, &in, &err);
        disarm();
        big[s] = atomic_load(&largest);
        CHECK(st == CT_OK, "%s", err.msg);
        nc[s] = st ? -1 : in.n_clusters;
        if (!st) ct_intermediates_free(&in);
        free(lab);
    }
    printf("  %d clusters; largest allocation: %zu bytes with labels 0..%d, %zu with labels up to 65535\n", nc[0], big[0], t.n - 1, big[1]);
    /* the map from label values to the labels used: 65,536 int32 */
    CHECK(nc[0] > 0 && nc[1] == nc[0], "%d / %d clusters", nc[0], nc[1]);
    CHECK(big[1] <= big[0] + 4 * 65536, "labels up to 65535: an allocation of %zu bytes (%zu with labels 0..%d)", big[1], big[0], t.n - 1);
    close_tiny(&t);
}

int main(void) {
    RUN(vote_allocation_failures);
    RUN(segment_allocation_failures);
    RUN(vote_sparse_labels_memory);
    DONE();
}
