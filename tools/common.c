/* Pieces shared by the command-line tools (demo, ct-eval): messages, class lists with synonyms
 * and background names, and class embeddings with an on-disk cache. */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *tool_name = "cliptrase";
int quiet, verbose;

void progress(const char *fmt, ...) {
    if (quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", tool_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One-line message on stderr; returns the exit status (1: usage error, 2: runtime error). */
static int vfail(int rc, const char *fmt, va_list ap) {
    fprintf(stderr, "%s: ", tool_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, rc == 1 ? " (see --help)\n" : "\n");
    return rc;
}

int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(1, fmt, ap);
    va_end(ap);
    return rc;
}

int runtime_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(2, fmt, ap);
    va_end(ap);
    return rc;
}

/* ------------------------------------------------------------- class lists */



static int valid_utf8(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        int n = *u < 0x80 ? 1 : (*u >= 0xC2 && *u <= 0xDF) ? 2 : (*u >= 0xE0 && *u <= 0xEF) ? 3 : (*u >= 0xF0 && *u <= 0xF4) ? 4 : 0;
        if (!n) return 0;
        for (int k = 1; k < n; k++)
            if ((u[k] & 0xC0) != 0x80) return 0;
        u += n;
    }
    return 1;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

static int add_name(classes *c, const char *name, int32_t label) {
    if (c->n_names == c->n_names_cap) {
        int nc = c->n_names_cap ? c->n_names_cap * 2 : 16;
        char **nn = realloc(c->names, sizeof(char *) * nc);
        if (!nn) return 0;
        c->names = nn;
        int32_t *nl = realloc(c->label, sizeof(int32_t) * nc);
        if (!nl) return 0;
        c->label = nl;
        c->n_names_cap = nc;
    }
    c->names[c->n_names] = strdup(name);
    c->label[c->n_names] = label;
    return c->names[c->n_names++] != NULL;
}

static int add_title(classes *c, const char *t) {
    char **nt = realloc(c->class_title, sizeof(char *) * (c->n_labels + 1));
    if (!nt) return 0;
    c->class_title = nt;
    c->class_title[c->n_labels] = strdup(t);
    return c->class_title[c->n_labels++] != NULL;
}

/* one class spec "a;b;c": returns 1 ok, 0 usage error (message printed) */
static int add_class(classes *c, char *spec) {
    char *s = trim(spec);
    if (!*s) return usage_error("empty class name in the class list"), 0;
    if (!valid_utf8(s)) return usage_error("class '%s' is not valid UTF-8", s), 0;
    int label = c->n_labels, first = 1;
    for (char *save = NULL, *syn = strtok_r(s, ";", &save); syn; syn = strtok_r(NULL, ";", &save)) {
        char *t = trim(syn);
        if (!*t) return usage_error("empty synonym in class '%s'", s), 0;
        if (first && !add_title(c, t)) return usage_error("out of memory"), 0;
        first = 0;
        if (!add_name(c, t, label)) return usage_error("out of memory"), 0;
    }
    if (first) return usage_error("empty class name in the class list"), 0;
    return 1;
}

int parse_list(classes *c, const char *list, int background) {
    char *dup = strdup(list);
    if (!dup) return 0;
    int ok = 1;
    if (!background) {
        /* commas separate classes (a name containing a comma needs --classes-file) */
        char *p = dup;
        for (;;) {
            char *comma = strchr(p, ',');
            if (comma) *comma = 0;
            if (!add_class(c, p)) { ok = 0; break; }
            if (!comma) break;
            p = comma + 1;
        }
    } else {
        char *p = dup;
        int label = c->n_labels;
        if (!add_title(c, "background")) ok = 0;
        for (; ok;) {
            char *comma = strchr(p, ',');
            if (comma) *comma = 0;
            char *t = trim(p);
            if (!*t) { usage_error("empty background name"); ok = 0; break; }
            if (!valid_utf8(t)) { usage_error("background name '%s' is not valid UTF-8", t); ok = 0; break; }
            if (!add_name(c, t, label)) ok = 0;
            if (!comma) break;
            p = comma + 1;
        }
    }
    free(dup);
    return ok;
}

int parse_file(classes *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return usage_error("cannot open classes file '%s': %s", path, strerror(errno)), 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int ok = 1;
    while (ok && (n = getline(&line, &cap, f)) >= 0) {
        if ((size_t)n != strlen(line)) { usage_error("NUL byte in '%s'", path); ok = 0; break; }
        if (!*trim(line)) continue; /* blank lines are allowed */
        ok = add_class(c, line);
    }
    free(line);
    fclose(f);
    return ok;
}

int parse_background_file(classes *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return usage_error("cannot open background file '%s': %s", path, strerror(errno)), 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int ok = add_title(c, "background"), label = c->n_labels - 1, names = 0;
    while (ok && (n = getline(&line, &cap, f)) >= 0) {
        int has_nul = (size_t)n != strlen(line);
        char *t = trim(line);
        if (!*t && !has_nul) continue;
        if (has_nul || !valid_utf8(t)) { usage_error("bad background name in '%s' (NUL or invalid UTF-8)", path); ok = 0; break; }
        ok = add_name(c, t, label);
        names++;
    }
    free(line);
    fclose(f);
    if (ok && !names) { usage_error("'%s' holds no background name", path); ok = 0; }
    return ok;
}

void free_classes(classes *c) {
    for (int i = 0; i < c->n_names; i++) free(c->names[i]);
    for (int i = 0; i < c->n_labels; i++) free(c->class_title[i]);
    free(c->names); free(c->label); free(c->class_title);
}

/* ------------------------------------------------------------- embedding cache */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t model_identity(const char *model) {
    struct stat sb;
    uint64_t h = 1469598103934665603ull;
    if (stat(model, &sb) == 0) {
        h = fnv1a(h, &sb.st_dev, sizeof sb.st_dev);
        h = fnv1a(h, &sb.st_ino, sizeof sb.st_ino);
        h = fnv1a(h, &sb.st_size, sizeof sb.st_size);
        h = fnv1a(h, &sb.st_mtime, sizeof sb.st_mtime);
    }
    h = fnv1a(h, model, strlen(model));
    int n;
    const char *const *t = ct_default_templates(&n);
    for (int i = 0; i < n; i++) h = fnv1a(h, t[i], strlen(t[i]) + 1);
    return h;
}

static void cache_dir(char *buf, size_t cap) {
    const char *x = getenv("CT_CACHE_DIR");
    if (x && *x) { snprintf(buf, cap, "%s", x); return; }
    x = getenv("XDG_CACHE_HOME");
    if (x && *x) { snprintf(buf, cap, "%s/cliptrase", x); return; }
    x = getenv("HOME");
    if (x && *x) { snprintf(buf, cap, "%s/.cache/cliptrase", x); return; }
    snprintf(buf, cap, ".ct-cache");
}

static void cache_path(char *buf, size_t cap, const char *dir, uint64_t model_key, const char *name, int E) {
    uint64_t h = fnv1a(model_key, name, strlen(name));
    snprintf(buf, cap, "%s/%016llx-%d.f32", dir, (unsigned long long)h, E);
}

static int cache_load(const char *path, const char *name, float *out, int E) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    /* file: name length, name, E floats: the name guards against hash collisions */
    uint32_t nl = 0;
    int ok = fread(&nl, 4, 1, f) == 1 && nl == strlen(name) && nl < 65536;
    char *buf = ok ? malloc(nl + 1) : NULL;
    ok = ok && buf && fread(buf, 1, nl, f) == nl && !memcmp(buf, name, nl);
    ok = ok && fread(out, sizeof(float), (size_t)E, f) == (size_t)E && fgetc(f) == EOF;
    free(buf);
    fclose(f);
    return ok;
}

void mkdirs(const char *dir) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(tmp, 0755); *p = '/'; }
    mkdir(tmp, 0755);
}

static void cache_store(const char *dir, const char *path, const char *name, const float *emb, int E) {
    mkdirs(dir);
    char tmp[1300];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp) return;
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    uint32_t nl = (uint32_t)strlen(name);
    int ok = fwrite(&nl, 4, 1, f) == 1 && fwrite(name, 1, nl, f) == nl && fwrite(emb, sizeof(float), (size_t)E, f) == (size_t)E;
    ok = (fclose(f) == 0) && ok;
    if (ok) rename(tmp, path); /* atomic: concurrent runs never see half a file */
    else remove(tmp);
}

int parse_int(const char *s, int lo, int hi, int *out) {
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}


int class_embeddings_cached(const ct_model *m, const char *model_path, const char *vocab, const classes *cl, int threads,
                            int no_cache, float *emb, int *n_cached, ct_error *err) {
    const ct_config *cfg = ct_model_config(m);
    int E = cfg->embed_dim, n_todo = 0, rc = 0;
    char cdir[900];
    cache_dir(cdir, sizeof cdir);
    uint64_t mkey = model_identity(model_path);
    int *todo = malloc(sizeof(int) * (size_t)cl->n_names);
    const char **names = malloc(sizeof(char *) * (size_t)cl->n_names);
    float *fresh = malloc(sizeof(float) * (size_t)cl->n_names * E);
    ct_tokenizer *tok = NULL;
    *n_cached = 0;
    if (!todo || !names || !fresh) { snprintf(err->msg, sizeof err->msg, "out of memory"); rc = 1; goto done; }
    for (int i = 0; i < cl->n_names; i++) {
        char cp[1200];
        cache_path(cp, sizeof cp, cdir, mkey, cl->names[i], E);
        if (!no_cache && cache_load(cp, cl->names[i], emb + (size_t)i * E, E)) (*n_cached)++;
        else todo[n_todo++] = i;
    }
    if (!n_todo) {
        progress("all %d class embeddings from the cache", cl->n_names);
        goto done;
    }
    char vp[1200];
    if (!vocab) {
        /* beside the model: vocab.json (+ merges.txt) or bpe_simple_vocab_16e6.txt.gz */
        const char *slash = strrchr(model_path, '/');
        int dl = slash ? (int)(slash - model_path + 1) : 0;
        snprintf(vp, sizeof vp, "%.*svocab.json", dl, model_path);
        FILE *f = fopen(vp, "rb");
        if (f) fclose(f);
        else snprintf(vp, sizeof vp, "%.*sbpe_simple_vocab_16e6.txt.gz", dl, model_path);
        vocab = vp;
    }
    if (ct_tokenizer_load(vocab, &tok, err)) {
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof err->msg - l, " (pass --vocab PATH)");
        rc = 1;
        goto done;
    }
    int nt, cut = 0;
    ct_default_templates(&nt);
    progress("encoding %d prompts (%d names x %d templates)%s", n_todo * nt, n_todo, nt, *n_cached ? ", the rest from the cache" : "");
    for (int k = 0; k < n_todo; k++) names[k] = cl->names[todo[k]];
    if (ct_class_embeddings_ex(m, tok, names, n_todo, NULL, 0, threads, fresh, &cut, err)) { rc = 1; goto done; }
    for (int k = 0; k < n_todo; k++) {
        memcpy(emb + (size_t)todo[k] * E, fresh + (size_t)k * E, sizeof(float) * E);
        if (!no_cache) {
            char cp[1200];
            cache_path(cp, sizeof cp, cdir, mkey, names[k], E);
            cache_store(cdir, cp, names[k], fresh + (size_t)k * E, E);
        }
    }
    if (cut) fprintf(stderr, "%s: warning: %d prompts were longer than the %d-token context and were cut\n", tool_name, cut, cfg->context_length);
done:
    free(todo); free(names); free(fresh);
    ct_tokenizer_free(tok);
    return rc;
}
