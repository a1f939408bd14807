/* Discovery of the oracle's model fixtures (directories holding meta.json) for the tests. */
#ifndef CT_TEST_FIXTURES_H
#define CT_TEST_FIXTURES_H

#include "harness.h"
#include "io/json.h"
#include "npy.h"

#include <dirent.h>

typedef struct {
    char dir[512];
    char name[128];
    ct_json *meta;
} fixture;

static int fixture_cmp(const void *a, const void *b) { return strcmp(((const fixture *)a)->name, ((const fixture *)b)->name); }

/* Fills up to cap fixtures of the directories under root that hold a meta.json, sorted by name;
 * returns the count (0 when root is absent). */
static inline int find_fixtures_in(const char *root, fixture *fx, int cap) {
    DIR *d = opendir(root);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        if (e->d_name[0] == '.') continue;
        char p[1024];
        FMT(p, "%s/%s/meta.json", root, e->d_name);
        size_t len;
        char *txt = slurp(p, &len);
        if (!txt) continue;
        fx[n].meta = ct_json_parse(txt, len, NULL, 0);
        free(txt);
        if (!fx[n].meta) continue;
        FMT(fx[n].dir, "%s/%s", root, e->d_name);
        FMT(fx[n].name, "%s", e->d_name);
        n++;
    }
    closedir(d);
    qsort(fx, (size_t)n, sizeof *fx, fixture_cmp);
    return n;
}

/* The model fixtures: the oracle's directories with a meta.json and a model.safetensors (the
 * heads' folders hold a meta.json naming their models instead). */
static inline int find_fixtures(fixture *fx, int cap) {
    int n = find_fixtures_in(oracle_dir(), fx, cap), k = 0;
    for (int i = 0; i < n; i++) {
        char p[700];
        FMT(p, "%s/model.safetensors", fx[i].dir);
        if (file_exists(p)) fx[k++] = fx[i];
        else ct_json_free(fx[i].meta);
    }
    return k;
}

static inline double jnum(const ct_json *o, const char *k, double dflt) {
    const ct_json *v = ct_json_get(o, k);
    return v && v->type == CT_JSON_NUM ? v->num : dflt;
}

/* Loads <dir>/<run>/<file>.npy; returns 0 on failure (and reports it). */
static inline int load_npy(const char *dir, const char *run, const char *file, npy_array *a) {
    char p[1024];
    FMT(p, "%s/%s/%s.npy", dir, run, file);
    ct_error err;
    if (npy_load(p, a, &err)) {
        CHECK(0, "%s", err.msg);
        return 0;
    }
    return 1;
}

/* <dump>/<file>.npy (a tool's --dump) against the fixture's <fxdir>/<run>/<file>.npy: the same
 * shape and dtype, values within tol, or (labels) >= 99.5% equal. */
static inline void compare_dump(const char *dump, const char *fxdir, const char *run, const char *file, double tol, int labels) {
    char p[1200];
    FMT(p, "%s/%s.npy", dump, file);
    npy_array got = {0}, want = {0};
    ct_error err;
    if (npy_load(p, &got, &err)) { CHECK(0, "%s", err.msg); return; }
    if (!load_npy(fxdir, run, file, &want)) { npy_free(&got); return; }
    int same_shape = got.ndim == want.ndim && got.numel == want.numel;
    for (int i = 0; same_shape && i < got.ndim; i++) same_shape = got.shape[i] == want.shape[i];
    CHECK(same_shape, "%s/%s: shape differs", run, file);
    CHECK(got.is_int == want.is_int, "%s/%s: dtype differs", run, file);
    if (same_shape && got.is_int == want.is_int) {
        if (labels) {
            size_t same = 0;
            for (size_t i = 0; i < got.numel; i++) same += ((int32_t *)got.data)[i] == ((int32_t *)want.data)[i];
            CHECK((double)same / got.numel >= 0.995, "%s/%s agreement %f", run, file, (double)same / got.numel);
        } else {
            double d = max_abs_diff(got.data, want.data, got.numel);
            CHECK(d <= tol, "%s/%s: max|d| %g > %g", run, file, d, tol);
        }
    }
    npy_free(&got);
    npy_free(&want);
}

/* Loads a fixture's model.safetensors; NULL (with a failed check naming the fixture) on error. */
static inline ct_model *load_fixture_model(const fixture *f) {
    char p[700];
    FMT(p, "%s/model.safetensors", f->dir);
    ct_model *m = NULL;
    ct_error err;
    if (ct_model_load(p, &m, &err)) CHECK(0, "%s: %s", f->name, err.msg);
    return m;
}

/* the share of equal labels of two int32 maps (1 for empty maps) */
static inline double label_agreement(const int32_t *a, const int32_t *b, size_t n) {
    size_t s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] == b[i];
    return n ? (double)s / (double)n : 1.0;
}

/* names of a run: classes then background (pointers into the JSON) */
static inline int run_names(const ct_json *run, const char **names, int cap, int *n_classes) {
    int n = 0;
    const ct_json *c = ct_json_get(run, "classes"), *b = ct_json_get(run, "background");
    for (size_t i = 0; c && i < c->n && n < cap; i++) names[n++] = c->items[i].str;
    *n_classes = n;
    for (size_t i = 0; b && i < b->n && n < cap; i++) names[n++] = b->items[i].str;
    return n;
}

#endif
