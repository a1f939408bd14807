/* Tools-side (not part of the library): NumPy .npy (format 1.0/2.0/3.0) reader and writer for float32 and int32 little-endian arrays. */
#ifndef CT_TOOLS_NPY_H
#define CT_TOOLS_NPY_H

#include "cliptrase.h"

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 8

typedef struct {
    int is_int;      /* 0: <f4, 1: <i4 */
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    size_t numel;
    void *data;      /* float* or int32_t*, malloc'd */
} npy_array;

ct_status npy_load(const char *path, npy_array *out, ct_error *err);
void npy_free(npy_array *a);
/* Write a C-order array; is_int selects <i4, else <f4. */
ct_status npy_save(const char *path, const void *data, int is_int, int ndim, const int64_t *shape, ct_error *err);

#endif
