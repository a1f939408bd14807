/* CLIP image encoder (vision.h) with a selectable last block (heads/head.h):
 *   patch embedding (a stride-p convolution as one product over flattened patches), class token,
 *   position grid (bicubically resized for other grids, as the reference), ln_pre;
 *   blocks 1 .. L-1 unmodified, keeping the outputs the head asks for; at block L-1 the
 *   CLIPtrase correlation map when asked; block L as the head defines it (its descriptor's last
 *   block); ln_post, projection, L2 normalisation.
 * The plain CLIP image embedding needs only the CLS row of an unmodified last block, which
 * shares its q/k/v with the head's, so it costs one row of attention and MLP.
 * Everything a call needs is allocated in one workspace before the first block. */
#include "vision/vision.h"

#include "core/arena.h"
#include "heads/head.h"
#include "nn/attention.h"
#include "nn/ops.h"
#include "nn/transformer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

ct_status ct_vision_check(int H, int W, int patch, ct_error *err) {
    if (patch <= 0 || H <= 0 || W <= 0 || H % patch || W % patch)
        return ct_fail(err, CT_ERR_INVALID_ARG, "image size %d x %d (width x height) is not a positive multiple of the patch size %d", W, H, patch);
    int64_t np = (int64_t)(H / patch) * (W / patch);
    if (np > CT_MAX_PATCHES)
        return ct_fail(err, CT_ERR_TOO_LARGE, "image %d x %d gives %lld patches; the limit is %d (128 x 128)", W, H, (long long)np,
                       CT_MAX_PATCHES);
    if ((int64_t)H * W > (int64_t)CT_MAX_IMAGE_PIXELS)
        return ct_fail(err, CT_ERR_TOO_LARGE, "image %d x %d has more than CT_MAX_IMAGE_PIXELS (%u) pixels", W, H, CT_MAX_IMAGE_PIXELS);
    return CT_OK;
}

/* The workspace, laid out once: sizes in floats (or bytes for the GEMM part). */
typedef struct {
    int B, T, np, pp, D, M, E, R, n_keep;
    unsigned char keep[CT_HEAD_MAX_KEEP]; /* F[i] kept for the head */
    size_t x, xc, patches, pos, tf, nrm, head_tmp, kept, scratch_bytes, gemm_bytes;
} plan;

static int make_plan(const ct_model *m, int B, int H, int W, int nth, const ct_vision_out *o, plan *pl) {
    const ct_config *c = &m->cfg;
    memset(pl, 0, sizeof *pl);
    ct_segment_params dp;
    const ct_segment_params *sp = o->p ? o->p : (ct_segment_params_default(&dp), &dp);
    const ct_head_desc *hd = ct_head_get(sp->head);
    if (!hd || c->vision_layers - 1 > CT_HEAD_MAX_KEEP) return 0;
    int p = c->patch, h = H / p, w = W / p;
    pl->B = B; pl->np = h * w; pl->T = 1 + pl->np; pl->pp = 3 * p * p;
    pl->D = c->vision_width; pl->M = m->vision_mlp; pl->E = c->embed_dim;
    int64_t R = (int64_t)B * pl->T;
    if (B < 1 || R > INT32_MAX / 8) return 0;
    pl->R = (int)R;
    size_t D = (size_t)pl->D;
    pl->x = (size_t)R * D;
    pl->xc = (size_t)B * D;
    pl->patches = (size_t)B * pl->np * ((size_t)pl->pp > D ? (size_t)pl->pp : D);
    pl->pos = (h != c->grid || w != c->grid) ? (size_t)pl->np * D : 0;
    pl->tf = ct_tf_floats(pl->R, pl->D, pl->M);
    pl->nrm = o->corr_raw ? (size_t)pl->T * 3 * D : 0;
    pl->head_tmp = (size_t)R * D;
    if (hd->keep) hd->keep(sp, c, pl->keep);
    for (int i = 0; i < c->vision_layers - 1; i++) pl->n_keep += pl->keep[i] != 0;
    pl->kept = (size_t)pl->n_keep * (size_t)R * D;
    size_t g = ct_tf_gemm_bytes(m->kernel, pl->R, pl->D, pl->M), t;
    if ((t = ct_gemm_workspace(m->kernel, B * pl->np, pl->D, pl->pp, 0)) > g) g = t;
    if ((t = ct_gemm_workspace(m->kernel, pl->R, pl->E, pl->D, 0)) > g) g = t;
    if (o->corr_raw && (t = ct_gemm_workspace(m->kernel, pl->T, pl->T, 3 * pl->D, 0)) > g) g = t;
    /* the attention runs between products: the same bytes serve it */
    ct_nn nn;
    memset(&nn, 0, sizeof nn);
    nn.kernel = m->kernel;
    nn.ex.nth = nth < 1 ? 1 : nth;
    ct_attn_spec plain = {.n_streams = 1, .x = {CT_Q}, .y = {CT_K}};
    if ((t = ct_attention_workspace(&nn, &plain, B, pl->T, pl->D, c->vision_heads)) > g) g = t;
    ct_head_shape hs = {m, sp, B, h, w, nn.ex.nth};
    pl->scratch_bytes = ct_head_workspace(hd, &hs, &g);
    pl->gemm_bytes = g;
    return 1;
}

typedef struct {
    size_t x, xc, patches, pos, tf, nrm, tmp, kept, scratch, gemm;
} layout;

static ct_arena lay_out(const plan *pl, layout *o) {
    ct_arena a = {0};
    o->x = ct_arena_add_floats(&a, pl->x);
    o->xc = ct_arena_add_floats(&a, pl->xc);
    o->patches = ct_arena_add_floats(&a, pl->patches);
    o->pos = ct_arena_add_floats(&a, pl->pos);
    o->tf = ct_arena_add_floats(&a, pl->tf);
    o->nrm = ct_arena_add_floats(&a, pl->nrm);
    o->tmp = ct_arena_add_floats(&a, pl->head_tmp);
    o->kept = ct_arena_add_floats(&a, pl->kept);
    o->scratch = ct_arena_add(&a, pl->scratch_bytes);
    o->gemm = ct_arena_add(&a, pl->gemm_bytes);
    return a;
}

size_t ct_vision_workspace(const ct_model *m, int B, int H, int W, int nth, const ct_vision_out *o) {
    plan pl;
    layout lo;
    if (!make_plan(m, B, H, W, nth, o, &pl)) return 0;
    ct_arena a = lay_out(&pl, &lo);
    return a.size == SIZE_MAX ? 0 : a.size;
}

/* x [rows x D] -> ln_post -> projection -> L2-normalised [rows x E] */
static int head_out(const ct_model *m, const ct_nn *nn, int rows, const float *x, float *tmp, float *out) {
    const ct_config *c = &m->cfg;
    ct_layernorm_eps(&nn->ex, rows, c->vision_width, x, c->vision_width, m->ln_post_w, m->ln_post_b, tmp, c->vision_width, c->vision_ln_eps);
    if (!ct_model_linear(m, nn, rows, tmp, c->vision_width, &m->vproj, NULL, out, c->embed_dim)) return 0;
    ct_l2norm_rows(rows, c->embed_dim, out);
    return 1;
}

/* corr [T x T] = sum over heads and q/k/v of cosine similarities / (3 * heads): one symmetric
 * product over the unit-normalised head segments of qkv [T x 3W] */
typedef struct {
    const float *qkv;
    float *nm;
    int W, hd, segs;
} norm_job;

/* unit-normalised head segments of tokens [t0, t1) */
static void normalise_rows(void *arg, int64_t t0, int64_t t1) {
    const norm_job *j = arg;
    for (int64_t t = t0; t < t1; t++)
        for (int s = 0; s < j->segs; s++) {
            const float *src = j->qkv + (size_t)t * 3 * j->W + (size_t)s * j->hd;
            float *dst = j->nm + (size_t)t * 3 * j->W + (size_t)s * j->hd;
            double ss = 0;
            for (int i = 0; i < j->hd; i++) ss += (double)src[i] * src[i];
            /* torch.cosine_similarity clamps each norm at eps = 1e-8 */
            double n = sqrt(ss);
            float inv = (float)(1.0 / (n > 1e-8 ? n : 1e-8));
            for (int i = 0; i < j->hd; i++) dst[i] = src[i] * inv;
        }
}

/* corr [T x T] = sum over heads and q/k/v of cosine similarities / (3 * heads): one symmetric
 * product over the unit-normalised head segments of qkv [T x 3W] */
static int correlation_map(const ct_nn *nn, const float *qkv, int T, int W, int heads, float *nm, float *corr) {
    norm_job j = {qkv, nm, W, W / heads, 3 * heads};
    ct_parallel_for(&nn->ex, T, 16, normalise_rows, &j);
    return ct_gram(nn, T, 3 * W, nm, 3 * W, 1.f / (3.f * (float)heads), corr, T);
}

/* index of the first non-finite value of x [n], or n */
static size_t first_nonfinite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return n;
}

ct_status ct_vision_encode(const ct_model *m, const ct_nn *nn0, const float *pixels, int B, int H, int W, const ct_vision_out *o,
                           ct_error *err) {
    if (!m || !nn0 || !pixels || !o) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_vision_encode: NULL argument");
    ct_status st = ct_vision_check(H, W, m->cfg.patch, err);
    if (st) return st;
    size_t npx = (size_t)B * 3 * (size_t)H * (size_t)W, bad = first_nonfinite(pixels, npx);
    if (bad < npx) {
        size_t plane = (size_t)H * W;
        return ct_fail(err, CT_ERR_NONFINITE, "pixel value %g at image %zu, channel %zu, row %zu, column %zu is not finite",
                       (double)pixels[bad], bad / (3 * plane), bad / plane % 3, bad % plane / (size_t)W, bad % (size_t)W);
    }
    ct_segment_params dp;
    const ct_segment_params *sp = o->p ? o->p : (ct_segment_params_default(&dp), &dp);
    const ct_head_desc *hdef = ct_head_get(sp->head);
    if (!hdef) return ct_fail(err, CT_ERR_INVALID_ARG, "unknown head %d", (int)sp->head);
    if (hdef->needs_proxy && o->tokens && !o->proxy)
        return ct_fail(err, CT_ERR_INVALID_ARG, "head %s needs a proxy backbone's features", hdef->name);
    if (o->corr_raw && B != 1) return ct_fail(err, CT_ERR_INVALID_ARG, "the correlation map is computed for one image at a time");
    const ct_config *c = &m->cfg;
    int p = c->patch, h = H / p, w = W / p, heads = c->vision_heads;
    plan pl;
    if (!make_plan(m, B, H, W, nn0->ex.nth, o, &pl)) return ct_fail(err, CT_ERR_TOO_LARGE, "batch of %d images of %d x %d is too large", B, W, H);
    int T = pl.T, np = pl.np, pp = pl.pp, D = pl.D, R = pl.R;

    layout lo;
    ct_arena a = lay_out(&pl, &lo);
    void *block = a.size == SIZE_MAX ? NULL : ct_model_ws_get(m, a.size);
    if (!block)
        return ct_fail(err, CT_ERR_NOMEM, "out of memory for %d image(s) of %d x %d (%zu MiB of activations)", B, W, H, a.size >> 20);
    float *x = CT_AT(block, lo.x, float), *xc = CT_AT(block, lo.xc, float), *patches = CT_AT(block, lo.patches, float);
    float *pos = CT_AT(block, lo.pos, float), *tfm = CT_AT(block, lo.tf, float), *nrm = CT_AT(block, lo.nrm, float);
    float *tmp = CT_AT(block, lo.tmp, float), *kept = CT_AT(block, lo.kept, float);
    const float *layers[CT_HEAD_MAX_KEEP] = {0};
    void *gws = CT_AT(block, lo.gemm, char);
    ct_nn nn = *nn0;
    nn.ws = gws;
    nn.ws_bytes = pl.gemm_bytes;
    int ok = 1;

    /* patch embedding: flattened (c, ky, kx) patches of every image, one product */
    for (int b = 0; b < B; b++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                float *dst = patches + (((size_t)b * h + i) * w + j) * pp;
                for (int ch = 0; ch < 3; ch++)
                    for (int ky = 0; ky < p; ky++) {
                        const float *src = pixels + (((size_t)b * 3 + ch) * H + (size_t)i * p + ky) * W + (size_t)j * p;
                        memcpy(dst + (ch * p + ky) * p, src, sizeof(float) * p);
                    }
            }
    /* the products' output goes after the inputs: reuse the start of tmp */
    ok = ct_model_linear(m, &nn, B * np, patches, pp, &m->patch, NULL, tmp, D);
    const float *pgrid = m->vpos + D;
    if (pl.pos) {
        /* the reference's interpolate_pos_encoding: scale factors ((h + 0.1)/g, (w + 0.1)/g) */
        ct_bicubic_grid(&nn.ex, c->grid, c->grid, D, pgrid, h, w, (h + 0.1) / c->grid, (w + 0.1) / c->grid, pos);
        pgrid = pos;
    }
    for (int b = 0; b < B; b++) {
        float *xb = x + (size_t)b * T * D;
        for (int i = 0; i < D; i++) xb[i] = m->class_emb[i] + m->vpos[i];
        const float *pe = tmp + (size_t)b * np * D;
        for (size_t i = 0; i < (size_t)np * D; i++) xb[D + i] = pe[i] + pgrid[i];
    }
    ct_layernorm_eps(&nn.ex, R, D, x, D, m->ln_pre_w, m->ln_pre_b, x, D, c->vision_ln_eps);

    ct_tf tf;
    ct_tf_bind(&tf, ct_model_linear_fn, m, &nn, R, D, pl.M, tfm);
    ct_tf_tower(&tf, c->vision_act, c->vision_ln_eps);
    ct_attn_spec plain = {.n_streams = 1, .x = {CT_Q}, .y = {CT_K}};
    int L = c->vision_layers;
    for (int l = 0; l < L - 1 && ok; l++) {
        const ct_block *bl = &m->vblocks[l];
        ok = ct_tf_qkv(&tf, bl, x);
        if (ok && l == L - 2 && o->corr_raw) ok = correlation_map(&nn, tf.qkv, T, D, heads, nrm, o->corr_raw);
        ok = ok && ct_attention(&nn, &plain, tf.qkv, B, T, D, heads, 0, T, tf.att);
        ok = ok && ct_tf_out(&tf, bl, tf.att, R, x, 1);
        ok = ok && ct_tf_mlp(&tf, bl, x, R);
        if (ok && pl.keep[l]) { /* F[l] for the head */
            memcpy(kept, x, sizeof(float) * (size_t)R * D);
            layers[l] = kept;
            kept += (size_t)R * D;
        }
    }
    const ct_block *last = &m->vblocks[L - 1];
    if (!hdef->own_qkv || o->image_embedding) ok = ok && ct_tf_qkv(&tf, last, x);
    if (ok && o->image_embedding) {
        /* the unmodified last block for the CLS rows only */
        ok = ct_attention(&nn, &plain, tf.qkv, B, T, D, heads, 0, 1, tf.att);
        for (int b = 0; b < B && ok; b++) {
            memcpy(xc + (size_t)b * D, x + (size_t)b * T * D, sizeof(float) * D);
            memcpy(tmp + (size_t)b * D, tf.att + (size_t)b * T * D, sizeof(float) * D);
        }
        ok = ok && ct_tf_out(&tf, last, tmp, B, xc, 1) && ct_tf_mlp(&tf, last, xc, B) &&
             head_out(m, &nn, B, xc, tmp, o->image_embedding);
    }
    if (ok && o->tokens) {
        ct_head_call hc = {m, sp, &tf, B, T, h, w, D, heads, x, layers, o->proxy, o->proxy_dim, o->ph, o->pw,
                           CT_AT(block, lo.scratch, char), o->patch_mask};
        ok = ct_head_run(hdef, &hc) && head_out(m, &nn, R, x, tmp, o->tokens);
    }
    ct_model_ws_put(m, block, a.size);
    if (!ok) return ct_fail(err, CT_ERR_NOMEM, "out of memory in the image encoder");
    /* finite inputs give finite outputs unless the weights are not: say so instead of labelling */
    if ((o->tokens && first_nonfinite(o->tokens, (size_t)R * pl.E) < (size_t)R * pl.E) ||
        (o->image_embedding && first_nonfinite(o->image_embedding, (size_t)B * pl.E) < (size_t)B * pl.E) ||
        (o->corr_raw && first_nonfinite(o->corr_raw, (size_t)T * T) < (size_t)T * T))
        return ct_fail(err, CT_ERR_NONFINITE, "the image encoder produced non-finite values: the model's weights hold NaN or Inf "
                                              "(load with check_finite to find the tensor)");
    return ct_ok(err);
}

ct_status ct_encode_image(const ct_model *m, const float *pixels, int H, int W, int n_threads, ct_image_features *out, ct_error *err) {
    if (!m || !pixels || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_encode_image: NULL argument");
    if (!out->image_embedding && !out->img_tokens && !out->corr_raw)
        return ct_fail(err, CT_ERR_INVALID_ARG, "ct_encode_image: no output requested (every pointer of the features is NULL)");
    ct_status st = ct_check_threads(n_threads, err);
    if (!st) st = ct_vision_check(H, W, m->cfg.patch, err);
    if (st) return st;
    ct_nn nn = ct_model_nn(m, n_threads);
    /* computed into buffers of the library and copied once the call succeeded (finite values
     * included): a failure leaves the caller's arrays untouched */
    const ct_config *c = &m->cfg;
    size_t T = (size_t)(H / c->patch) * (size_t)(W / c->patch) + 1;
    size_t n_tok = out->img_tokens ? T * (size_t)c->embed_dim : 0, n_corr = out->corr_raw ? T * T : 0;
    size_t n_emb = out->image_embedding ? (size_t)c->embed_dim : 0;
    float *buf = ct_alloc(n_tok + n_corr + n_emb, sizeof(float));
    if (!buf) return ct_fail(err, CT_ERR_NOMEM, "out of memory for the encoder's outputs (%zu MiB)", (n_tok + n_corr + n_emb) * 4 >> 20);
    float *tok = out->img_tokens ? buf : NULL, *corr = out->corr_raw ? buf + n_tok : NULL;
    float *emb = out->image_embedding ? buf + n_tok + n_corr : NULL;
    ct_vision_out o = {.tokens = tok, .corr_raw = corr, .image_embedding = emb}; /* the default head: cliptrase */
    st = ct_vision_encode(m, &nn, pixels, 1, H, W, &o, err);
    if (!st) {
        if (tok) memcpy(out->img_tokens, tok, n_tok * sizeof(float));
        if (corr) memcpy(out->corr_raw, corr, n_corr * sizeof(float));
        if (emb) memcpy(out->image_embedding, emb, n_emb * sizeof(float));
    }
    free(buf);
    return st;
}
