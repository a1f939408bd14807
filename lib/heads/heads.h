/* The training-free last blocks (ct_head): each head is one row of a table, its attention
 * (ct_attn_spec streams, prior, identity) and whether it keeps the residual and the MLP. The
 * first L-1 blocks are shared code (the unmodified model). */
#ifndef CT_HEADS_H
#define CT_HEADS_H

#include "nn/attention.h"

typedef struct {
    ct_head head;
    const char *name;
    ct_attn_spec attn;  /* the last block's attention (gauss_sigma: set per call) */
    int gaussian;       /* NACLIP's prior */
    int residual, mlp;  /* x + O(A), + MLP(ln_2(.)) */
} ct_head_def;

/* The definition of a head (NULL for an unknown value). */
const ct_head_def *ct_head_get(ct_head h);

#endif
