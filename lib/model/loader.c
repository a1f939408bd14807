/* The checkpoint loader's pieces (loader.h): tensors by name with their dtype and shape checked,
 * F16 / BF16 widened to fp32 into copies the model owns, dimensions range-checked. */
#include "model/loader.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef ct_loader loader;

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: normalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static int keep_owned(ct_model *m, void *p) {
    if (m->n_owned == m->cap_owned) {
        size_t nc = m->cap_owned ? m->cap_owned * 2 : 64;
        void **na = realloc(m->owned, nc * sizeof *na);
        if (!na) return 0;
        m->owned = na;
        m->cap_owned = nc;
    }
    m->owned[m->n_owned++] = p;
    return 1;
}

void *ct_ld_alloc(loader *L, size_t n, size_t elem) {
    void *p = ct_alloc(n, elem);
    if (!p || !keep_owned(L->m, p)) {
        free(p);
        if (!L->st) L->st = ct_fail(L->err, CT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return p;
}

static void fmt_shape(char *buf, size_t cap, int nd, const int64_t *d) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < nd && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)d[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static const ct_st_tensor *find(const loader *L, const char *name) { return ct_st_find(&L->m->st, name); }

/* A float tensor of exactly this shape (every entry given); records the error otherwise. */
const ct_st_tensor *ct_ld_lookup(loader *L, const char *name, int nd, const int64_t *shape) {
    if (L->st) return NULL;
    const ct_st_tensor *t = find(L, name);
    if (!t) {
        L->st = ct_fail(L->err, CT_ERR_MISSING, "missing tensor '%s'", name);
        return NULL;
    }
    if (t->dtype != CT_ST_F32 && t->dtype != CT_ST_F16 && t->dtype != CT_ST_BF16) {
        L->st = ct_fail(L->err, CT_ERR_UNSUPPORTED, "tensor '%s' has dtype %s (F32, F16 or BF16 needed)", name, ct_st_dtype_name(t->dtype));
        return NULL;
    }
    int ok = t->ndim == nd;
    for (int i = 0; ok && i < nd; i++) ok = shape[i] == t->shape[i];
    if (!ok) {
        char want[96], got[96];
        fmt_shape(want, sizeof want, nd, shape);
        fmt_shape(got, sizeof got, t->ndim, t->shape);
        L->st = ct_fail(L->err, CT_ERR_SHAPE, "tensor '%s' has shape %s, expected %s", name, got, want);
        return NULL;
    }
    return t;
}

/* Widen (or realign) t into dst [numel] fp32. */
static void widen(const ct_st_tensor *t, float *dst) {
    const uint8_t *s = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        if (t->dtype == CT_ST_F32) memcpy(&dst[i], s + 4 * i, 4);
        else {
            uint16_t h = (uint16_t)(s[2 * i] | (s[2 * i + 1] << 8));
            if (t->dtype == CT_ST_F16) dst[i] = half_to_float(h);
            else {
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&dst[i], &bits, 4);
            }
        }
    }
}

static int check_finite(loader *L, const ct_st_tensor *t, const float *v) {
    if (!L->check_finite) return 1;
    for (size_t i = 0; i < t->numel; i++)
        if (!isfinite(v[i])) {
            L->st = ct_fail(L->err, CT_ERR_NONFINITE, "tensor '%s' has a non-finite value at index %zu", t->name, i);
            return 0;
        }
    return 1;
}

/* fp32 view of t: in place for aligned F32, else a widened copy (into dst when given) */
const float *ct_ld_f32(loader *L, const ct_st_tensor *t, float *dst) {
    if (!t || L->st) return NULL;
    const float *out;
    if (!dst && t->dtype == CT_ST_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        out = (const float *)t->data;
    } else {
        float *w = dst ? dst : ct_ld_alloc(L, t->numel, sizeof(float));
        if (!w) return NULL;
        widen(t, w);
        out = w;
    }
    return check_finite(L, t, out) ? out : NULL;
}

const float *ct_ld_need(loader *L, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t s[4] = {d0, d1, d2, d3};
    return ct_ld_f32(L, ct_ld_lookup(L, name, nd, s), NULL);
}


/* a weight [rows x cols] as one row block */
void ct_ld_weight(loader *L, ct_weight *w, const char *name, int64_t rows, int64_t cols, int trans) {
    const float *p = ct_ld_need(L, name, 2, rows, cols, 0, 0);
    memset(w, 0, sizeof *w);
    w->part[0] = p;
    w->part_rows[0] = (int)(trans ? cols : rows);
    w->n_parts = 1;
    w->N = (int)(trans ? cols : rows);
    w->K = (int)(trans ? rows : cols);
    w->trans = trans;
}

void ct_ld_patch(loader *L, const char *name, int W, int p) {
    const float *pw = ct_ld_need(L, name, 4, W, 3, p, p);
    ct_weight *w = &L->m->patch;
    memset(w, 0, sizeof *w);
    w->part[0] = pw;
    w->part_rows[0] = W;
    w->n_parts = 1;
    w->N = W;
    w->K = 3 * p * p;
}

/* dimension i of a tensor of nd dimensions, or -1 when absent / of another rank */
static int64_t dim_of(const loader *L, const char *name, int nd, int i) {
    const ct_st_tensor *t = find(L, name);
    return (t && t->ndim == nd) ? t->shape[i] : -1;
}

/* a dimension read from the file, range-checked before it becomes an int */
int ct_ld_dim(loader *L, const char *name, int nd, int i, int64_t lo, int64_t hi, const char *what) {
    if (L->st) return 0;
    int64_t v = dim_of(L, name, nd, i);
    if (v < 0) {
        const ct_st_tensor *t = find(L, name);
        L->st = t ? ct_fail(L->err, CT_ERR_SHAPE, "tensor '%s' has %d dimensions, expected %d", name, t->ndim, nd)
                  : ct_fail(L->err, CT_ERR_MISSING, "missing tensor '%s'", name);
        return 0;
    }
    if (v < lo || v > hi) {
        L->st = ct_fail(L->err, CT_ERR_UNSUPPORTED, "tensor '%s': %s %lld outside [%lld, %lld]", name, what, (long long)v, (long long)lo,
                        (long long)hi);
        return 0;
    }
    return (int)v;
}


int64_t ct_ld_stem(loader *L, const char *conv, const char *pos, int pos_nd, int min_width) {
    ct_config *c = &L->m->cfg;
    const ct_st_tensor *cw = find(L, conv);
    if (!cw || cw->ndim != 4 || cw->shape[1] != 3 || cw->shape[2] != cw->shape[3]) {
        L->st = ct_fail(L->err, CT_ERR_SHAPE, "tensor '%s' must have shape [width, 3, p, p]", conv);
        return 0;
    }
    c->dtype = cw->dtype == CT_ST_F16 ? CT_DTYPE_F16 : cw->dtype == CT_ST_BF16 ? CT_DTYPE_BF16 : CT_DTYPE_F32;
    int W = c->vision_width = ct_ld_dim(L, conv, 4, 0, min_width, 65536, "vision width");
    int p = c->patch = ct_ld_dim(L, conv, 4, 2, 1, 1024, "patch size");
    int64_t np1 = ct_ld_dim(L, pos, pos_nd, pos_nd - 2, 2, CT_MAX_DIM, "position count");
    if (L->st) return 0;
    int g = (int)llround(sqrt((double)(np1 - 1)));
    if ((int64_t)g * g + 1 != np1 || (int64_t)g * p > 65536) {
        L->st = ct_fail(L->err, CT_ERR_SHAPE, "tensor '%s' must have shape [%sg*g + 1, %d] for a square grid g", pos, pos_nd == 3 ? "1, " : "", W);
        return 0;
    }
    c->grid = g;
    c->image_size = g * p;
    return np1;
}
