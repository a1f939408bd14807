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

/* The model fixtures: the oracle's directories with a meta.json. */
static inline int find_fixtures(fixture *fx, int cap) { return find_fixtures_in(oracle_dir(), fx, cap); }

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
