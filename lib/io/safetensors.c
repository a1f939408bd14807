/* safetensors: 8-byte little-endian header length N, N bytes of JSON, then the data section.
 * Every tensor's byte range must lie inside the data section, match shape x dtype exactly and
 * not overlap another; names must be unique. */
#include "io/safetensors.h"

#include "io/file.h"
#include "io/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    ct_st_dtype d;
    size_t size;
} k_dtypes[] = {
    {"F32", CT_ST_F32, 4},   {"F16", CT_ST_F16, 2},   {"BF16", CT_ST_BF16, 2},
    {"F64", CT_ST_F64, 8},   {"I64", CT_ST_I64, 8},   {"I32", CT_ST_I32, 4},
    {"I16", CT_ST_I16, 2},   {"I8", CT_ST_I8, 1},     {"U8", CT_ST_U8, 1},
    {"U16", CT_ST_U16, 2},   {"U32", CT_ST_U32, 4},   {"U64", CT_ST_U64, 8},
    {"BOOL", CT_ST_BOOL, 1}, {"F8_E4M3", CT_ST_F8_E4M3, 1}, {"F8_E5M2", CT_ST_F8_E5M2, 1},
};

const char *ct_st_dtype_name(ct_st_dtype d) {
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (k_dtypes[i].d == d) return k_dtypes[i].name;
    return "?";
}

size_t ct_st_dtype_size(ct_st_dtype d) {
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (k_dtypes[i].d == d) return k_dtypes[i].size;
    return 0;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const ct_st_tensor *)a)->name, ((const ct_st_tensor *)b)->name);
}

static int cmp_begin(const void *a, const void *b) {
    const ct_st_tensor *x = *(const ct_st_tensor *const *)a, *y = *(const ct_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static void free_tensors(ct_st_tensor *t, size_t n) {
    for (size_t i = 0; i < n; i++) free(t[i].name);
    free(t);
}

static void free_meta(ct_st_file *f) {
    for (size_t i = 0; i < f->n_meta; i++) { free(f->meta_key[i]); free(f->meta_val[i]); }
    free(f->meta_key);
    free(f->meta_val);
    f->meta_key = f->meta_val = NULL;
    f->n_meta = 0;
}

/* The string entries of __metadata__ (the format's values are strings; others are skipped, as
 * are keys or values holding a NUL byte). */
static ct_status keep_meta(const ct_json *v, ct_st_file *f, ct_error *err) {
    if (!v->n) return CT_OK;
    f->meta_key = ct_calloc(v->n, sizeof *f->meta_key);
    f->meta_val = ct_calloc(v->n, sizeof *f->meta_val);
    if (!f->meta_key || !f->meta_val) return ct_fail(err, CT_ERR_NOMEM, "safetensors: out of memory");
    for (size_t i = 0; i < v->n; i++) {
        const ct_json *e = &v->items[i];
        if (e->type != CT_JSON_STR || strlen(e->str) != e->len || strlen(v->keys[i]) != v->key_lens[i]) continue;
        f->meta_key[f->n_meta] = strdup(v->keys[i]);
        f->meta_val[f->n_meta] = strdup(e->str);
        if (!f->meta_key[f->n_meta] || !f->meta_val[f->n_meta]) {
            free(f->meta_key[f->n_meta]);
            free(f->meta_val[f->n_meta]);
            return ct_fail(err, CT_ERR_NOMEM, "safetensors: out of memory");
        }
        f->n_meta++;
    }
    return CT_OK;
}

/* what a file that is not safetensors looks like, from its first bytes (for the message) */
static const char *looks_like(const uint8_t *b, size_t n) {
    static const struct { const char *magic; size_t n; const char *what; } k[] = {
        {"\x89PNG\r\n\x1a\n", 8, "a PNG image"}, {"\xff\xd8\xff", 3, "a JPEG image"}, {"GIF8", 4, "a GIF image"},
        {"\x1f\x8b", 2, "a gzip file"}, {"PK\x03\x04", 4, "a zip archive (a PyTorch .pt/.bin checkpoint?)"},
        {"\x80\x02", 2, "a Python pickle"}, {"\x80\x04", 2, "a Python pickle"}, {"\x80\x05", 2, "a Python pickle"},
        {"GGUF", 4, "a GGUF model"}, {"\x93NUMPY", 6, "a NumPy array"}, {"{", 1, "a text or JSON file"}, {"<", 1, "a text or HTML file"},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (n >= k[i].n && !memcmp(b, k[i].magic, k[i].n)) return k[i].what;
    return NULL;
}

ct_status ct_st_parse(const uint8_t *buf, size_t len, ct_st_file *f, ct_error *err) {
    if (!buf || !f) return ct_fail(err, CT_ERR_INVALID_ARG, "safetensors: NULL argument");
    f->meta_key = f->meta_val = NULL;
    f->n_meta = 0;
    const char *like = looks_like(buf, len);
    if (len < 8)
        return ct_fail(err, CT_ERR_FORMAT, "not a safetensors file: %zu bytes, too short for the 8-byte header length", len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | buf[i];
    /* the first 8 bytes of a safetensors file are the length of its JSON header */
    if (hl > CT_ST_MAX_HEADER || hl > len - 8)
        return ct_fail(err, CT_ERR_FORMAT, "not a safetensors file%s%s%s: its first 8 bytes, read as the header length, give %llu bytes, %s",
                       like ? " (it looks like " : "", like ? like : "", like ? ")" : "", (unsigned long long)hl,
                       hl > CT_ST_MAX_HEADER ? "above the header size limit" : "which runs past the end of the file");
    if (hl < 2 || buf[8] != '{')
        return ct_fail(err, CT_ERR_FORMAT, "not a safetensors file: the %llu-byte header is not a JSON object", (unsigned long long)hl);
    char jerr[160];
    ct_json *j = ct_json_parse((const char *)buf + 8, (size_t)hl, jerr, sizeof jerr);
    if (!j) return ct_fail(err, CT_ERR_FORMAT, "safetensors header: %s", jerr);
    if (j->type != CT_JSON_OBJ) {
        ct_json_free(j);
        return ct_fail(err, CT_ERR_FORMAT, "safetensors: header is not a JSON object");
    }
    const uint8_t *data = buf + 8 + hl;
    size_t data_len = len - 8 - (size_t)hl;
    ct_st_tensor *t = ct_calloc(j->n, sizeof *t);
    if (!t) { ct_json_free(j); return ct_fail(err, CT_ERR_NOMEM, "safetensors: out of memory"); }
    size_t n = 0;
    ct_status st = CT_OK;
    for (size_t i = 0; i < j->n && st == CT_OK; i++) {
        const char *name = j->keys[i];
        const ct_json *v = &j->items[i];
        if (!strcmp(name, "__metadata__")) {
            if (v->type != CT_JSON_OBJ) st = ct_fail(err, CT_ERR_FORMAT, "safetensors: __metadata__ is not an object");
            else if (!f->meta_key) st = keep_meta(v, f, err);
            continue;
        }
        if (strlen(name) != j->key_lens[i]) { st = ct_fail(err, CT_ERR_FORMAT, "safetensors: tensor name contains NUL"); break; }
        if (v->type != CT_JSON_OBJ) { st = ct_fail(err, CT_ERR_FORMAT, "safetensors: entry '%s' is not an object", name); break; }
        const ct_json *dt = ct_json_get(v, "dtype"), *sh = ct_json_get(v, "shape"), *off = ct_json_get(v, "data_offsets");
        if (!dt || dt->type != CT_JSON_STR || !sh || sh->type != CT_JSON_ARR || !off || off->type != CT_JSON_ARR) {
            st = ct_fail(err, CT_ERR_FORMAT, "safetensors: tensor '%s' lacks dtype, shape or data_offsets", name);
            break;
        }
        ct_st_tensor *x = &t[n];
        size_t k;
        for (k = 0; k < sizeof k_dtypes / sizeof k_dtypes[0]; k++)
            if (!strcmp(dt->str, k_dtypes[k].name)) break;
        if (k == sizeof k_dtypes / sizeof k_dtypes[0]) {
            st = ct_fail(err, CT_ERR_UNSUPPORTED, "safetensors: tensor '%s' has unknown dtype '%.32s'", name, dt->str);
            break;
        }
        x->dtype = k_dtypes[k].d;
        if (sh->n > CT_ST_MAX_DIMS) { st = ct_fail(err, CT_ERR_FORMAT, "safetensors: tensor '%s' has %zu dimensions (max %d)", name, sh->n, CT_ST_MAX_DIMS); break; }
        x->ndim = (int)sh->n;
        size_t numel = 1;
        for (size_t d = 0; d < sh->n; d++) {
            const ct_json *e = &sh->items[d];
            if (e->type != CT_JSON_NUM || !e->is_int || e->i < 0) { st = ct_fail(err, CT_ERR_FORMAT, "safetensors: tensor '%s' has a bad shape entry", name); break; }
            x->shape[d] = e->i;
            if (!ct_mul_ok(numel, (size_t)e->i, &numel)) { st = ct_fail(err, CT_ERR_FORMAT, "safetensors: tensor '%s' shape product overflows", name); break; }
        }
        if (st) break;
        size_t nbytes;
        if (!ct_mul_ok(numel, k_dtypes[k].size, &nbytes)) { st = ct_fail(err, CT_ERR_FORMAT, "safetensors: tensor '%s' byte size overflows", name); break; }
        if (off->n != 2 || off->items[0].type != CT_JSON_NUM || !off->items[0].is_int || off->items[1].type != CT_JSON_NUM || !off->items[1].is_int ||
            off->items[0].i < 0 || off->items[1].i < off->items[0].i) {
            st = ct_fail(err, CT_ERR_FORMAT, "safetensors: tensor '%s' has bad data_offsets", name);
            break;
        }
        x->begin = (size_t)off->items[0].i;
        x->end = (size_t)off->items[1].i;
        if ((uint64_t)off->items[1].i > data_len) { st = ct_fail(err, CT_ERR_FORMAT, "safetensors: tensor '%s' data [%zu, %zu) lies outside the %zu-byte data section", name, x->begin, x->end, data_len); break; }
        if (x->end - x->begin != nbytes) { st = ct_fail(err, CT_ERR_FORMAT, "safetensors: tensor '%s' holds %zu bytes but its shape and dtype need %zu", name, x->end - x->begin, nbytes); break; }
        x->numel = numel;
        x->data = data + x->begin;
        x->name = strdup(name);
        if (!x->name) { st = ct_fail(err, CT_ERR_NOMEM, "safetensors: out of memory"); break; }
        n++;
    }
    ct_json_free(j);
    if (st == CT_OK && n > 1) {
        qsort(t, n, sizeof *t, cmp_name);
        for (size_t i = 1; i < n; i++)
            if (!strcmp(t[i - 1].name, t[i].name)) { st = ct_fail(err, CT_ERR_FORMAT, "safetensors: duplicate tensor name '%s'", t[i].name); break; }
        if (st == CT_OK) {
            const ct_st_tensor **by = ct_alloc(n, sizeof *by);
            if (!by) st = ct_fail(err, CT_ERR_NOMEM, "safetensors: out of memory");
            else {
                for (size_t i = 0; i < n; i++) by[i] = &t[i];
                qsort(by, n, sizeof *by, cmp_begin);
                /* compare each non-empty range with the furthest-reaching one before it */
                const ct_st_tensor *reach = NULL;
                for (size_t i = 0; i < n && st == CT_OK; i++) {
                    if (by[i]->end == by[i]->begin) continue;
                    if (reach && by[i]->begin < reach->end)
                        st = ct_fail(err, CT_ERR_FORMAT, "safetensors: tensors '%s' and '%s' overlap", reach->name, by[i]->name);
                    if (!reach || by[i]->end > reach->end) reach = by[i];
                }
                free(by);
            }
        }
    }
    if (st) { free_tensors(t, n); free_meta(f); return st; }
    f->t = t;
    f->n = n;
    return ct_ok(err);
}

ct_status ct_st_open(const char *path, ct_st_file *f, ct_error *err) {
    if (!path || !f) return ct_fail(err, CT_ERR_INVALID_ARG, "safetensors: NULL argument");
    memset(f, 0, sizeof *f);
    int fd;
    size_t len;
    ct_status st0 = ct_open_regular(path, &fd, &len, err);
    if (st0) return st0;
    if (len < 8) {
        close(fd);
        return ct_fail(err, CT_ERR_FORMAT, "'%s' is not a safetensors file: %zu bytes, too short for the 8-byte header length", path, len);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) return ct_fail(err, CT_ERR_IO, "cannot mmap '%s': %s", path, strerror(errno));
    ct_status st = ct_st_parse(map, len, f, err);
    if (st) {
        munmap(map, len);
        char pre[300];
        snprintf(pre, sizeof pre, "'%.296s'", path);
        ct_fail_prefix(err, st, pre);
        return st;
    }
    f->map = map;
    f->map_len = len;
    return CT_OK;
}

void ct_st_close(ct_st_file *f) {
    if (!f) return;
    free_tensors(f->t, f->n);
    free_meta(f);
    if (f->map) munmap(f->map, f->map_len);
    memset(f, 0, sizeof *f);
}

const char *ct_st_metadata(const ct_st_file *f, const char *key) {
    for (size_t i = 0; f && key && i < f->n_meta; i++)
        if (!strcmp(f->meta_key[i], key)) return f->meta_val[i];
    return NULL;
}

const ct_st_tensor *ct_st_find(const ct_st_file *f, const char *name) {
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->t[mid].name, name);
        if (c == 0) return &f->t[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
