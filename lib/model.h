/* In-memory CLIP model: pointers to fp32 weights (in the mmap or widened copies). */
#ifndef CT_MODEL_H
#define CT_MODEL_H

#include "internal.h"
#include "safetensors.h"

typedef struct {
    const float *ln1_w, *ln1_b;          /* [W] */
    const float *q_w, *k_w, *v_w;        /* [W x W] each (rows = output features) */
    const float *q_b, *k_b, *v_b;        /* [W] each */
    int qkv_packed;                      /* q/k/v weights and biases contiguous: one [3W x W] GEMM */
    const float *out_w, *out_b;          /* [W x W], [W] */
    const float *ln2_w, *ln2_b;          /* [W] */
    const float *fc1_w, *fc1_b;          /* [M x W], [M] (M = MLP width) */
    const float *fc2_w, *fc2_b;          /* [W x M], [W] */
} ct_block;

struct ct_model {
    ct_config cfg;
    int vision_mlp, text_mlp;            /* MLP hidden widths */
    /* vision tower */
    const float *patch_w;                /* [W x 3*p*p] (conv weight flattened c, ky, kx) */
    const float *class_emb;              /* [W] */
    const float *vpos;                   /* [(g*g + 1) x W] */
    const float *ln_pre_w, *ln_pre_b, *ln_post_w, *ln_post_b; /* [W] */
    const float *vproj;                  /* OpenAI: [W x E] (x @ proj); HF: [E x W] */
    int vproj_t;                         /* 1 when vproj is [E x W] */
    ct_block *vblocks;                   /* [vision_layers] */
    /* text tower */
    const float *tok_emb;                /* [V x Wt] */
    const float *tpos;                   /* [ctx x Wt] */
    ct_block *tblocks;                   /* [text_layers] */
    const float *ln_final_w, *ln_final_b;/* [Wt] */
    const float *tproj;                  /* OpenAI: [Wt x E]; HF: [E x Wt] */
    int tproj_t;
    /* storage */
    ct_st_file st;
    void **owned;                        /* widened / realigned copies */
    size_t n_owned, cap_owned;
};

#endif
