/* The checkpoint loader's pieces (model.c), shared by the CLIP binding (model.c) and the DINO /
 * DINOv2 one (dino.c): tensors looked up by name with their dtype and shape checked, widened to
 * fp32 where needed (copies owned by the model), dimensions range-checked before they become
 * ints. The first failure is kept in the loader; every later call is then a no-op. */
#ifndef CT_MODEL_LOADER_H
#define CT_MODEL_LOADER_H

#include "model/model.h"

typedef struct {
    ct_model *m;
    ct_error *err;
    ct_status st;
    int check_finite;
    int scheme;
    const char *path; /* the checkpoint (for a config.json beside it) */
} ct_loader;

#define CT_MAX_DIM (1 << 20) /* any width, length or count read from a file */

/* A float tensor of exactly this shape (nd entries), or NULL with the error recorded. */
const ct_st_tensor *ct_ld_lookup(ct_loader *L, const char *name, int nd, const int64_t *shape);
/* fp32 view of t: in place for aligned F32, else a widened copy (into dst when given). */
const float *ct_ld_f32(ct_loader *L, const ct_st_tensor *t, float *dst);
/* ct_ld_f32 of ct_ld_lookup with the shape given as up to four dimensions. */
const float *ct_ld_need(ct_loader *L, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* n floats owned by the model (freed with it), or NULL with the error recorded. */
void *ct_ld_alloc(ct_loader *L, size_t n, size_t elem);
/* A weight [rows x cols] as one row block (trans: used as [cols x rows]). */
void ct_ld_weight(ct_loader *L, ct_weight *w, const char *name, int64_t rows, int64_t cols, int trans);
/* The patch convolution [W x 3 x p x p] as the model's patch weight [W x 3 p p] (c, ky, kx). */
void ct_ld_patch(ct_loader *L, const char *name, int W, int p);
/* Dimension i of a tensor of nd dimensions within [lo, hi], or 0 with the error recorded. */
int ct_ld_dim(ct_loader *L, const char *name, int nd, int i, int64_t lo, int64_t hi, const char *what);

/* The vision stem: the patch convolution `conv` [W x 3 x p x p] (W >= min_width) and the
 * position table `pos` ([g*g + 1 x W], or [1 x g*g + 1 x W] with pos_nd 3) give cfg's dtype,
 * vision_width, patch, grid and image_size; returns g*g + 1, or 0 with the error recorded. */
int64_t ct_ld_stem(ct_loader *L, const char *conv, const char *pos, int pos_nd, int min_width);

/* DINO / DINOv2 (dino.c): non-zero when the file holds one (by its tensor names); the binding. */
int ct_dino_detect(const ct_st_file *st);
void ct_dino_bind(ct_loader *L);

#endif
