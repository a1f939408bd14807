/* Class lists: the documented formats of -c, --classes-file (cliptrase / mmseg), -b and
 * --background-file, with their checks. */
#include "common/classes.h"
#include "common/files.h"
#include "common/hash.h"
#include "common/msg.h"
#include "common/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLASS_FILE_MAX ((size_t)256 << 20)

void classes_init(classes *c) {
    memset(c, 0, sizeof *c);
    c->bg_label = -1;
}

int classes_format_parse(const char *s, classes_format *out) {
    if (!strcmp(s, "cliptrase")) *out = CLASSES_CLIPTRASE;
    else if (!strcmp(s, "mmseg")) *out = CLASSES_MMSEG;
    else return 0;
    return 1;
}

int name_ok(const char *name, char *why, size_t cap) {
    size_t n = strlen(name), bad = 0;
    if (!n) return snprintf(why, cap, "an empty name"), 0;
    if (!utf8_valid(name, n, &bad)) return snprintf(why, cap, "not valid UTF-8 (byte %zu; overlong forms and surrogates are refused)", bad), 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return snprintf(why, cap, "a control character (byte %zu)", i), 0;
    return 1;
}

static int add_name(classes *c, const char *name, int32_t label, const char *where, ct_error *err) {
    char why[160];
    if (!name_ok(name, why, sizeof why)) return fail_msg(err, CT_ERR_INVALID_ARG, "%s: %s", where, why);
    if (!grow(&c->names, &c->names_cap, (size_t)c->n_names + 1, sizeof *c->names)) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    if (!grow(&c->label, &c->label_cap, (size_t)c->n_names + 1, sizeof *c->label)) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    if (!grow(&c->where, &c->where_cap, (size_t)c->n_names + 1, sizeof *c->where)) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    if (!(c->where[c->n_names] = xasprintf("%s", where))) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    if (!(c->names[c->n_names] = xasprintf("%s", name))) {
        free(c->where[c->n_names]);
        return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    }
    c->label[c->n_names++] = label;
    return 1;
}

static int add_title(classes *c, const char *t, ct_error *err) {
    if (c->n_labels >= CLASSES_MAX_LABELS) return fail_msg(err, CT_ERR_INVALID_ARG, "more than %d classes", CLASSES_MAX_LABELS);
    if (!grow(&c->title, &c->title_cap, (size_t)c->n_labels + 1, sizeof *c->title)) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    if (!(c->title[c->n_labels] = xasprintf("%s", t))) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    c->n_labels++;
    return 1;
}

/* One class: names separated by `sep` (every piece trimmed and non-empty). */
static int add_class(classes *c, char *spec, char sep, const char *where, ct_error *err) {
    if (c->bg_label >= 0) return fail_msg(err, CT_ERR_INVALID_ARG, "classes must come before background names");
    char *s = trim(spec);
    if (!*s) return fail_msg(err, CT_ERR_INVALID_ARG, "%s: an empty class", where);
    char *whole = xasprintf("%s", s);
    if (!whole) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    int label = c->n_labels, ok = 1;
    for (char *p = s; ok;) {
        char *end = strchr(p, sep);
        if (end) *end = 0;
        char *t = trim(p);
        if (!*t) ok = fail_msg(err, CT_ERR_INVALID_ARG, "%s: an empty name in class '%.200s' (two '%c' in a row, or one at an end)", where, whole, sep);
        else if (c->n_labels == label) ok = add_title(c, t, err);
        if (ok) ok = add_name(c, t, label, where, err);
        if (!end) break;
        p = end + 1;
    }
    free(whole);
    if (ok) c->n_classes = c->n_labels;
    return ok;
}

static int ensure_background(classes *c, ct_error *err) {
    if (c->bg_label >= 0) return 1;
    if (!add_title(c, "background", err)) return 0;
    c->bg_label = c->n_labels - 1;
    return 1;
}

int classes_add_list(classes *c, const char *list, ct_error *err) {
    char *dup = xasprintf("%s", list);
    if (!dup) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    int ok = 1, k = 0;
    for (char *p = dup; ok; k++) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        char where[64];
        snprintf(where, sizeof where, "-c, class %d", k + 1);
        ok = add_class(c, p, ';', where, err);
        if (!comma) break;
        p = comma + 1;
    }
    free(dup);
    return ok;
}

int classes_add_background_list(classes *c, const char *list, ct_error *err) {
    char *dup = xasprintf("%s", list);
    if (!dup) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    int ok = ensure_background(c, err), k = 0;
    for (char *p = dup; ok; k++) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        char where[64];
        snprintf(where, sizeof where, "-b, name %d", k + 1);
        ok = add_name(c, trim(p), c->bg_label, where, err);
        if (!comma) break;
        p = comma + 1;
    }
    free(dup);
    return ok;
}

/* Calls fn on each meaningful line of a file (BOM, blank lines and '#' comments skipped). */
static int each_line(classes *c, const char *path, ct_error *err, int (*fn)(classes *, char *, const char *, void *), void *ctx) {
    char *buf = NULL;
    size_t len = 0;
    if (!read_file(path, CLASS_FILE_MAX, &buf, &len, err)) return 0;
    if (memchr(buf, 0, len)) {
        free(buf);
        return fail_msg(err, CT_ERR_INVALID_ARG, "'%s' holds a NUL byte", path);
    }
    char *p = buf;
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3;
    int ok = 1, lineno = 0;
    while (ok && *p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        lineno++;
        char *t = trim(p);
        if (*t && *t != '#') {
            char where[600];
            snprintf(where, sizeof where, "'%.500s', line %d", path, lineno);
            ok = fn(c, t, where, ctx);
        }
        if (!nl) break;
        p = nl + 1;
    }
    free(buf);
    return ok;
}

typedef struct {
    char sep;
    ct_error *err;
} line_ctx;

/* A class line of the cliptrase format holding two or more commas is most likely a line of an
 * mmseg file (names separated by ','), read as one long name: a hint, the line is kept. */
static void mmseg_hint(const char *line, const char *where) {
    int commas = 0;
    for (const char *p = line; *p; p++) commas += *p == ',';
    if (commas >= 2)
        progress("note: %s: '%.40s...' is one name of %zu characters with %d commas; an mmseg class file (names separated by "
                 "',') needs --classes-format mmseg", where, line, strlen(line), commas);
}

static int class_line(classes *c, char *line, const char *where, void *ctx) {
    line_ctx *l = ctx;
    if (l->sep == ';' && !strchr(line, ';')) mmseg_hint(line, where);
    return add_class(c, line, l->sep, where, l->err);
}

static int background_line(classes *c, char *line, const char *where, void *ctx) {
    line_ctx *l = ctx;
    return add_name(c, line, c->bg_label, where, l->err);
}

int classes_add_file(classes *c, const char *path, classes_format fmt, ct_error *err) {
    line_ctx l = {fmt == CLASSES_MMSEG ? ',' : ';', err};
    int before = c->n_labels;
    if (!each_line(c, path, err, class_line, &l)) return 0;
    if (c->n_labels == before) return fail_msg(err, CT_ERR_INVALID_ARG, "'%s' holds no class", path);
    return 1;
}

int classes_add_background_file(classes *c, const char *path, ct_error *err) {
    line_ctx l = {0, err};
    if (!ensure_background(c, err)) return 0;
    int before = c->n_names;
    if (!each_line(c, path, err, background_line, &l)) return 0;
    if (c->n_names == before) return fail_msg(err, CT_ERR_INVALID_ARG, "'%s' holds no background name", path);
    return 1;
}

/* The name as CLIP sees it for equality: ASCII lower case, runs of blanks as one space. */
static char *fold(const char *s) {
    char *f = malloc(strlen(s) + 1), *o = f;
    if (!f) return NULL;
    int space = 0;
    for (; *s; s++) {
        char ch = *s;
        if (ch == ' ' || ch == '\t') { space = 1; continue; }
        if (space && o > f) *o++ = ' ';
        space = 0;
        *o++ = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    *o = 0;
    return f;
}

typedef struct {
    char *key;
    int index;
} folded;

static int cmp_folded(const void *a, const void *b) {
    const folded *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    return r ? r : (x->index > y->index) - (x->index < y->index);
}

/* "class 3" or "the background" */
static void label_name(const classes *c, int label, char *out, size_t cap) {
    if (label == c->bg_label) snprintf(out, cap, "the background");
    else snprintf(out, cap, "class %d", label);
}

int classes_finish(classes *c, ct_error *err) {
    if (c->n_classes == 0) return fail_msg(err, CT_ERR_INVALID_ARG, "no class given (use -c LIST or --classes-file FILE)");
    folded *f = calloc((size_t)c->n_names, sizeof *f);
    if (!f) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    int ok = 1;
    for (int i = 0; ok && i < c->n_names; i++) {
        f[i].index = i;
        if (!(f[i].key = fold(c->names[i]))) ok = fail_msg(err, CT_ERR_NOMEM, "out of memory");
    }
    if (ok) qsort(f, (size_t)c->n_names, sizeof *f, cmp_folded);
    /* sorted by name, then by position: each name's later copies follow its first */
    for (int i = 1, first = 0; ok && i < c->n_names; i++) {
        if (strcmp(f[first].key, f[i].key)) { first = i; continue; }
        int a = f[first].index, b = f[i].index;
        char la[64], lb[64];
        label_name(c, c->label[a], la, sizeof la);
        label_name(c, c->label[b], lb, sizeof lb);
        if (c->label[a] == c->label[b]) /* the same label twice: changes nothing (the reference's VOC21 background has "bed" twice) */
            progress("note: the name '%.150s' is given twice in %s (%s and %s): kept, it changes nothing", c->names[b], la, c->where[a], c->where[b]);
        else
            ok = fail_msg(err, CT_ERR_INVALID_ARG, "the name '%.150s' is given twice, for %s (%.200s) and %s (%.200s): a label whose names all "
                          "appear elsewhere can never win", c->names[b], la, c->where[a], lb, c->where[b]);
    }
    for (int i = 0; i < c->n_names; i++) free(f[i].key);
    free(f);
    return ok;
}

void classes_free(classes *c) {
    for (int i = 0; i < c->n_names; i++) free(c->names[i]), free(c->where[i]);
    for (int i = 0; i < c->n_labels; i++) free(c->title[i]);
    free(c->names); free(c->label); free(c->title); free(c->where);
    classes_init(c);
}

uint64_t classes_hash(const classes *c) {
    hash64_state s;
    hash64_init(&s, 0x636c6173736573ull);
    for (int i = 0; i < c->n_names; i++) {
        int32_t l = c->label[i];
        hash64_update(&s, &l, sizeof l);
        hash64_update(&s, c->names[i], strlen(c->names[i]) + 1);
    }
    int32_t bg = c->bg_label;
    hash64_update(&s, &bg, sizeof bg);
    return hash64_final(&s);
}
