/* Tests' safetensors rewriter: a new file whose tensors are renamed, concatenated along the first
 * dimension or cut into row blocks from an existing file's (the bytes are copied as they are), to
 * test one checkpoint under another naming scheme (DINO's own names vs Hugging Face's). */
#ifndef CT_TEST_ST_RENAME_H
#define CT_TEST_ST_RENAME_H

#include "harness.h"
#include "io/safetensors.h"

/* One output tensor: `name` made of up to three sources (each its row block [row0, row0 + rows),
 * rows 0: all), concatenated along the first dimension. */
typedef struct {
    char name[160];
    char src[3][160];
    int n_src;
    int64_t row0, rows;
} st_out;

/* Writes path from f's tensors as outs[] says; 1 on success. */
static inline int st_rewrite(const ct_st_file *f, const st_out *outs, int n, const char *path) {
    size_t cap = 1 << 20, hl = 0;
    char *hdr = malloc(cap);
    size_t total = 0;
    hl += (size_t)snprintf(hdr + hl, cap - hl, "{");
    for (int i = 0; i < n; i++) {
        const st_out *o = &outs[i];
        const ct_st_tensor *t0 = ct_st_find(f, o->src[0]);
        if (!t0) { free(hdr); CHECK(0, "st_rewrite: no tensor %s", o->src[0]); return 0; }
        size_t esz = ct_st_dtype_size(t0->dtype), row = t0->numel / (size_t)t0->shape[0] * esz;
        int64_t d0 = 0;
        for (int k = 0; k < o->n_src; k++) d0 += o->rows ? o->rows : ct_st_find(f, o->src[k])->shape[0];
        size_t bytes = (size_t)d0 * row;
        hl += (size_t)snprintf(hdr + hl, cap - hl, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld", i ? "," : "", o->name,
                               ct_st_dtype_name(t0->dtype), (long long)d0);
        for (int d = 1; d < t0->ndim; d++) hl += (size_t)snprintf(hdr + hl, cap - hl, ",%lld", (long long)t0->shape[d]);
        hl += (size_t)snprintf(hdr + hl, cap - hl, "],\"data_offsets\":[%zu,%zu]}", total, total + bytes);
        total += bytes;
    }
    hl += (size_t)snprintf(hdr + hl, cap - hl, "}");
    while (hl % 8) hdr[hl++] = ' ';
    FILE *fp = fopen(path, "wb");
    if (!fp) { free(hdr); CHECK(0, "cannot write %s", path); return 0; }
    uint64_t n8 = hl;
    fwrite(&n8, 8, 1, fp);
    fwrite(hdr, 1, hl, fp);
    for (int i = 0; i < n; i++) {
        const st_out *o = &outs[i];
        for (int k = 0; k < o->n_src; k++) {
            const ct_st_tensor *t = ct_st_find(f, o->src[k]);
            size_t row = t->numel / (size_t)t->shape[0] * ct_st_dtype_size(t->dtype);
            size_t off = (size_t)o->row0 * row, len = o->rows ? (size_t)o->rows * row : (size_t)t->shape[0] * row;
            fwrite(t->data + off, 1, len, fp);
        }
    }
    int ok = fclose(fp) == 0;
    free(hdr);
    CHECK(ok, "write %s", path);
    return ok;
}

static inline void st_out1(st_out *o, const char *name, const char *src) {
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    snprintf(o->src[0], sizeof o->src[0], "%s", src);
    o->n_src = 1;
}

/* Writes text into path; 1 on success. */
static inline int write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    int ok = fp && fputs(text, fp) >= 0;
    if (fp) ok = fclose(fp) == 0 && ok;
    CHECK(ok, "write %s", path);
    return ok;
}

#endif
