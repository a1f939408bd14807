/* What the encoder calls of a head, and the last block of the heads built from one attention of the ct_attn_spec family (head.h):
 * x = (residual ? x : 0) + out_proj(A v), then + MLP(ln_2(x)). */
#include "heads/head.h"

size_t ct_head_attn_gemm(const ct_head_shape *s, const ct_attn_spec *sp) {
    ct_nn nn = {0};
    nn.kernel = s->m->kernel;
    nn.ex.nth = s->nth < 1 ? 1 : s->nth;
    const ct_config *c = &s->m->cfg;
    return ct_attention_workspace(&nn, sp, s->B, 1 + s->h * s->w, c->vision_width, c->vision_heads);
}

int ct_head_attn_block(const ct_head_call *c, const ct_attn_spec *sp, int residual, int mlp) {
    ct_tf *tf = c->tf;
    int R = c->B * c->T;
    return ct_attention(&tf->nn, sp, tf->qkv, c->B, c->T, c->D, c->heads, 0, c->T, tf->att) &&
           ct_tf_out(tf, &c->m->vblocks[c->m->cfg.vision_layers - 1], tf->att, R, c->x, residual) &&
           (!mlp || ct_tf_mlp(tf, &c->m->vblocks[c->m->cfg.vision_layers - 1], c->x, R));
}

size_t ct_head_workspace(const ct_head_desc *d, const ct_head_shape *s, size_t *gemm) {
    if (d->attn) {
        size_t g = ct_head_attn_gemm(s, d->attn);
        if (g > *gemm) *gemm = g;
    }
    return d->workspace ? d->workspace(s, gemm) : 0;
}

int ct_head_run(const ct_head_desc *d, const ct_head_call *c) {
    return d->last_block ? d->last_block(c) : ct_head_attn_block(c, d->attn, d->residual, d->mlp);
}
