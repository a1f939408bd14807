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

/* Writes the DINO fixture of v1 (the heads_proxyclip folder) under DINO's own names (query, key,
 * value rows concatenated into qkv) into dir/model.safetensors. */
static inline int write_dino_own(const char *v1, const char *dir) {
    char src[700], dst[700];
    FMT(src, "%s/dino_small_p8_hf/model.safetensors", v1);
    FMT(dst, "%s/model.safetensors", dir);
    ct_st_file f;
    ct_error err;
    if (ct_st_open(src, &f, &err)) { CHECK(0, "%s", err.msg); return 0; }
    st_out o[128];
    int n = 0;
    st_out1(&o[n++], "cls_token", "embeddings.cls_token");
    st_out1(&o[n++], "pos_embed", "embeddings.position_embeddings");
    st_out1(&o[n++], "patch_embed.proj.weight", "embeddings.patch_embeddings.projection.weight");
    st_out1(&o[n++], "patch_embed.proj.bias", "embeddings.patch_embeddings.projection.bias");
    st_out1(&o[n++], "norm.weight", "layernorm.weight");
    st_out1(&o[n++], "norm.bias", "layernorm.bias");
    static const char *const map[][2] = {{"norm1", "layernorm_before"}, {"norm2", "layernorm_after"}, {"attn.proj", "attention.output.dense"},
                                         {"mlp.fc1", "intermediate.dense"}, {"mlp.fc2", "output.dense"}};
    static const char *const wb[] = {"weight", "bias"};
    for (int b = 0; b < 4; b++) {
        char s[160], d[160];
        for (int k = 0; k < 5; k++)
            for (int e = 0; e < 2; e++) {
                snprintf(s, sizeof s, "encoder.layer.%d.%s.%s", b, map[k][1], wb[e]);
                snprintf(d, sizeof d, "blocks.%d.%s.%s", b, map[k][0], wb[e]);
                st_out1(&o[n++], d, s);
            }
        for (int e = 0; e < 2; e++) {
            snprintf(d, sizeof d, "blocks.%d.attn.qkv.%s", b, wb[e]);
            st_out1(&o[n], d, "");
            snprintf(o[n].src[0], sizeof o[n].src[0], "encoder.layer.%d.attention.attention.query.%s", b, wb[e]);
            snprintf(o[n].src[1], sizeof o[n].src[1], "encoder.layer.%d.attention.attention.key.%s", b, wb[e]);
            snprintf(o[n].src[2], sizeof o[n].src[2], "encoder.layer.%d.attention.attention.value.%s", b, wb[e]);
            o[n++].n_src = 3;
        }
    }
    int ok = st_rewrite(&f, o, n, dst);
    ct_st_close(&f);
    return ok;
}

#endif
