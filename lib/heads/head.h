/* A head as a module (docs/algorithm.md, "Heads as modules"): one file lib/heads/<name>.c defines
 * one ct_head_desc, and lib/heads/registry.c lists them. The image encoder (vision/) and the
 * segmentation driver (seg/) ask the descriptor and never name a head:
 *   - the encoder runs blocks 1 .. L-1 of the model, keeps the block outputs the head asks for
 *     (keep), the correlation map of block L-1 (needs_corr) and hands them, with the proxy
 *     backbone's patch features (needs_proxy), to the head's last block (last_block);
 *   - the driver checks the head's parameters (check), sizes its workspace (workspace) and runs
 *     the post-processing the head names (post).
 * Adding a head: its file, one registry line, its enum value in include/cliptrase.h, its tests.
 *
 * Layering: heads sit above model/ and nn/, below vision/ and seg/ (docs/algorithm.md). */
#ifndef CT_HEADS_HEAD_H
#define CT_HEADS_HEAD_H

#include "model/model.h"
#include "nn/attention.h"
#include "nn/transformer.h"

/* At most this many block outputs F[i] can be kept (models of at most CT_HEAD_MAX_KEEP + 1
 * blocks for heads with keep()). */
#define CT_HEAD_MAX_KEEP 256

/* The post-processing after the encoder, run by seg/segment.c. */
typedef enum {
    CT_POST_VOTE = 0, /* whole image, the CLIPtrase cluster vote (seg/cliptrase.c) */
    CT_POST_MMSEG,    /* sliding windows or the whole image, window average, PAMR, classification */
    CT_POST_COUNT
} ct_post_kind;

/* Shapes a head is sized or checked for: the model, the call's parameters, B windows (images)
 * of a h x w patch grid each, nth threads. */
typedef struct {
    const ct_model *m;
    const ct_segment_params *p;
    int B, h, w, nth;
} ct_head_shape;

/* One call of a head's last block, for one encoder batch of B windows of T = 1 + h w tokens,
 * width D, `heads` attention heads (L = the model's depth, F[i] = the output of block i+1, i in
 * [0, L-2], residual stream with the CLS row first, as the SC-CLIP README names it). */
typedef struct {
    const ct_model *m;
    const ct_segment_params *p;
    ct_tf *tf;                  /* the block buffers (xn, qkv, att, hid of B*T rows) and tf->nn:
                                   threads, kernel, the call's GEMM workspace */
    int B, T, h, w, D, heads;
    float *x;                   /* [B*T x D] in: F[L-2]; out: the head's rows before ln_post */
    const float *const *layers; /* [L-1]: F[i] [B*T x D] for each i the head's keep() set, else NULL */
    /* tf->qkv holds q | k | v of ln_1(x) of the last block unless the head sets own_qkv */
    const float *proxy;         /* needs_proxy: [B x ph*pw x proxy_dim] the proxy backbone's
                                   patch features of each window (row-major grid), else NULL */
    int proxy_dim, ph, pw;
    void *scratch;              /* the head's workspace(): bytes, 64-byte aligned */
    int32_t *patch_mask;        /* optional [B x h*w]: the head's per-patch flags (mask_name) */
} ct_head_call;

typedef struct {
    ct_head id;
    const char *name;           /* the --head name */
    ct_post_kind post;
    /* what the head needs from the encoder */
    int needs_corr;             /* block L-1's correlation map (the CLIPtrase vote reads it: a head
                                   with post CT_POST_VOTE must set it; ct_heads_registry_ok) */
    int needs_proxy;            /* a proxy backbone's patch features (ct_head_call.proxy) */
    int own_qkv;                /* the head computes its last-block q, k, v itself (tf->qkv is
                                   not filled for it) */
    int tokens_cls;             /* the head's tokens keep the CLS row (img_tokens [(1+h w) x E]);
                                   0: patch rows only (img_tokens [h w x E]; the CLS row of the
                                   encoder's output is unspecified and never read) */
    const char *mask_name;      /* the dump name of patch_mask, or NULL (the head writes none) */
    /* The reference's preset on top of ct_segment_params_default (p->head already set). */
    void (*preset)(ct_segment_params *p);
    /* The head's own parameters, for a model of config c and windows of wh x ww pixels (NULL:
     * nothing to check). Errors are CT_ERR_INVALID_ARG with a message naming the parameter. */
    ct_status (*check)(const ct_segment_params *p, const ct_config *c, int wh, int ww, ct_error *err);
    /* keep[i] = 1 for each F[i] (i in [0, L-2]) the last block reads (NULL: none). keep is zeroed
     * by the caller. Called after check() succeeded. */
    void (*keep)(const ct_segment_params *p, const ct_config *c, unsigned char *keep);
    /* A head whose last block is one attention of the ct_attn_spec family sets attn and no
     * last_block: x = (residual ? x : 0) + out_proj(attention(attn)), then + MLP(ln_2(x)) when
     * mlp. */
    const ct_attn_spec *attn;
    int residual, mlp;
    /* Otherwise: bytes of scratch the last block needs, and *gemm raised to the GEMM / attention
     * workspace bytes it needs (NULL: none). */
    size_t (*workspace)(const ct_head_shape *s, size_t *gemm);
    /* The last block: x (all B*T rows) replaced by the rows ln_post + proj then normalise.
     * Returns 0 when out of memory. */
    int (*last_block)(const ct_head_call *c);
} ct_head_desc;

/* What the encoder calls (either form of a head): its scratch bytes (and *gemm raised), and its
 * last block. */
size_t ct_head_workspace(const ct_head_desc *d, const ct_head_shape *s, size_t *gemm);
int ct_head_run(const ct_head_desc *d, const ct_head_call *c);

/* 1 when every ct_head value has its line in the registry, with the id, name and functions a
 * head must have (the static check covers the table size). */
int ct_heads_registry_ok(void);

/* The descriptor of a head (NULL for an unknown value). */
const ct_head_desc *ct_head_get(ct_head h);

/* ---- shared by the heads whose last block is one attention of the ct_attn_spec family */

/* GEMM workspace of the spec's attention for the shape. */
size_t ct_head_attn_gemm(const ct_head_shape *s, const ct_attn_spec *sp);
/* x = (residual ? x : 0) + out_proj(attention(sp) of tf->qkv), then + MLP(ln_2(x)) when mlp. */
int ct_head_attn_block(const ct_head_call *c, const ct_attn_spec *sp, int residual, int mlp);

#endif
