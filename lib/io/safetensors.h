/* Read-only safetensors reader: mmap the file, validate the header, expose tensors in place. */
#ifndef CT_SAFETENSORS_H
#define CT_SAFETENSORS_H

#include "core/internal.h"

#define CT_ST_MAX_HEADER (100u * 1024u * 1024u) /* refuse absurd headers before reading them */
#define CT_ST_MAX_DIMS 8

typedef enum {
    CT_ST_F32, CT_ST_F16, CT_ST_BF16, CT_ST_F64, CT_ST_I64, CT_ST_I32, CT_ST_I16, CT_ST_I8,
    CT_ST_U8, CT_ST_U16, CT_ST_U32, CT_ST_U64, CT_ST_BOOL, CT_ST_F8_E4M3, CT_ST_F8_E5M2
} ct_st_dtype;

typedef struct {
    char *name;
    ct_st_dtype dtype;
    int ndim;
    int64_t shape[CT_ST_MAX_DIMS];
    size_t numel;
    size_t begin, end;   /* byte range inside the data section */
    const uint8_t *data; /* points into the mapping */
} ct_st_tensor;

typedef struct {
    void *map;
    size_t map_len;
    ct_st_tensor *t; /* sorted by name */
    size_t n;
    char **meta_key, **meta_val; /* the string entries of __metadata__, in file order */
    size_t n_meta;
} ct_st_file;

ct_status ct_st_open(const char *path, ct_st_file *f, ct_error *err);
/* Parse from memory (the buffer must outlive f; f->map stays NULL). Used by fuzzing and tests. */
ct_status ct_st_parse(const uint8_t *buf, size_t len, ct_st_file *f, ct_error *err);
void ct_st_close(ct_st_file *f);
const ct_st_tensor *ct_st_find(const ct_st_file *f, const char *name);
/* The string value of `key` in the file's __metadata__, or NULL. */
const char *ct_st_metadata(const ct_st_file *f, const char *key);
const char *ct_st_dtype_name(ct_st_dtype d);
size_t ct_st_dtype_size(ct_st_dtype d);

#endif
