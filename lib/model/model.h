/* In-memory CLIP model: fp32 weights (in the read-only mapping, or widened copies), each matrix a
 * ct_weight that is packed for the model's kernel at first use; the model's runtime (worker
 * threads), started at first use. Both caches are filled under `lock`. */
#ifndef CT_MODEL_H
#define CT_MODEL_H

#include "core/internal.h"
#include "core/runtime.h"
#include "io/safetensors.h"
#include "nn/gemm.h"
#include "nn/transformer.h"

#include <pthread.h>

struct ct_model {
    ct_config cfg;
    ct_precision precision;
    ct_kernel kernel;
    const char *kernel_why; /* why the selection table chose it (static string) */
    int vision_mlp, text_mlp;            /* MLP hidden widths */
    /* vision tower */
    ct_weight patch;                     /* [W x 3*p*p] (conv weight flattened c, ky, kx) */
    const float *class_emb;              /* [W] */
    const float *vpos;                   /* [(g*g + 1) x W] */
    const float *ln_pre_w, *ln_pre_b, *ln_post_w, *ln_post_b; /* [W] */
    ct_weight vproj;                     /* E outputs from W inputs */
    ct_block *vblocks;                   /* [vision_layers] */
    /* text tower */
    const float *tok_emb;                /* [V x Wt] */
    const float *tpos;                   /* [ctx x Wt] */
    ct_block *tblocks;                   /* [text_layers] */
    const float *ln_final_w, *ln_final_b;/* [Wt] */
    ct_weight tproj;                     /* E outputs from Wt inputs */
    /* storage */
    ct_st_file st;
    void **owned;                        /* widened / concatenated copies */
    size_t n_owned, cap_owned;
    /* caches, filled once under the lock */
    pthread_mutex_t lock;
    ct_runtime *rt;                      /* workers (owned unless given in the load params) */
    int own_rt, rt_threads;              /* rt_threads: threads to start (0 = all cores) */
    _Atomic int rt_ready;
    void *ws;                            /* the last call's workspace, kept for the next one */
    size_t ws_bytes;
};

/* The model's runtime, started on first use (NULL if it could not start: calls then run on the
 * calling thread alone). */
ct_runtime *ct_model_runtime(const ct_model *m);
/* The exec and kernel of a call on the model asking for n_threads (<= 0: all). */
ct_nn ct_model_nn(const ct_model *m, int n_threads);
/* A call's workspace of at least `bytes` (64-byte aligned): the block the previous call returned
 * when it is large enough (its pages are already mapped: no page faults), else a new one. NULL
 * when out of memory. Give it back with ct_model_ws_put (the model keeps the larger block). */
void *ct_model_ws_get(const ct_model *m, size_t bytes);
void ct_model_ws_put(const ct_model *m, void *p, size_t bytes);
/* y = epilogue(x W^T) with the weight packed once for the model. */
int ct_model_linear(const ct_model *m, const ct_nn *nn, int M, const float *x, int ldx, const ct_weight *w, const ct_epilogue *e,
                    float *y, int ldy);
/* The same as a ct_linear_fn (ctx: the model), for the transformer blocks (nn/transformer.h). */
int ct_model_linear_fn(const void *m, const ct_nn *nn, int M, const float *x, int ldx, const ct_weight *w, const ct_epilogue *e,
                       float *y, int ldy);

#endif
