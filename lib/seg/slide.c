/* Sliding-window inference of the mmseg-family heads (SCLIP's / NACLIP's forward_slide), exact to
 * their arithmetic: the windows of one image run through the encoder as one batch (every product
 * covers all windows' tokens), in several batches when one would need more than
 * CT_SLIDE_BATCH_BYTES; each window's patch tokens give cosine logits against the names, reshaped
 * to the window's patch grid, bilinearly upsampled (align_corners=False) to the window, added into
 * the image's map in window order, and the sum is divided by the count of windows covering each
 * pixel. The whole image is the grid of one window (crop 0): same code, a division by 1. */
#include "seg/slide.h"

#include "nn/ops.h"
#include "vision/vision.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void ct_slide_grid_make(int H, int W, int crop, int stride, ct_slide_grid *g) {
    memset(g, 0, sizeof *g);
    g->H = H;
    g->W = W;
    if (crop <= 0) {
        g->wh = H; g->ww = W; g->gh = g->gw = 1; g->stride = 1;
    } else {
        /* 64-bit: crop and stride are any ints the checks let through */
        int64_t c = crop, s = stride;
        int64_t dh = (int64_t)H - c + s - 1, dw = (int64_t)W - c + s - 1;
        g->gh = (int)((dh > 0 ? dh : 0) / s + 1);
        g->gw = (int)((dw > 0 ? dw : 0) / s + 1);
        g->wh = crop < H ? crop : H;
        g->ww = crop < W ? crop : W;
        g->stride = stride;
    }
    g->n = g->gh * g->gw;
}

/* y1 = i s; y2 = min(y1 + c, H); y1 = max(y2 - c, 0): with c >= H the window is the whole side,
 * so c can be replaced by the window side wh = min(c, H) */
static int window_start(int i, int s, int side, int img) {
    int64_t y1 = (int64_t)i * s, y2 = y1 + side < img ? y1 + side : img;
    y1 = y2 - side > 0 ? y2 - side : 0;
    return (int)y1;
}

void ct_slide_window(const ct_slide_grid *g, int k, int *y1, int *x1) {
    *y1 = window_start(k / g->gw, g->stride, g->wh, g->H);
    *x1 = window_start(k % g->gw, g->stride, g->ww, g->W);
}

/* the whole image as the only window: its pixels are the batch as they are */
static int whole_image(const ct_slide_grid *g) { return g->n == 1 && g->wh == g->H && g->ww == g->W; }

/* bytes of a batch of B windows: encoder workspace, pixels (unless whole), tokens, logits */
static size_t batch_bytes(const ct_model *m, const ct_slide_grid *g, const ct_segment_params *sp, int n_names, int B) {
    int p = m->cfg.patch;
    size_t T = (size_t)(g->wh / p) * (size_t)(g->ww / p) + 1, E = (size_t)m->cfg.embed_dim;
    ct_vision_out vo = {.p = sp, .tokens = (float *)1};
    size_t ws = ct_vision_workspace(m, B, g->wh, g->ww, ct_model_threads(m), &vo);
    if (!ws) return 0;
    double b = (double)ws + 4.0 * B * ((whole_image(g) ? 0.0 : 3.0 * g->wh * g->ww) + (double)T * E + (double)T * n_names) +
               (double)sizeof(ct_taps) * (g->wh + g->ww);
    return b < (double)(SIZE_MAX / 2) ? (size_t)b : 0;
}

int ct_slide_batch(const ct_model *m, const ct_slide_grid *g, const ct_segment_params *sp) {
    /* the largest B in [1, n] within the budget (the workspace grows with B) */
    int lo = 1, hi = g->n;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        size_t b = batch_bytes(m, g, sp, 0, mid);
        if (b && b <= CT_SLIDE_BATCH_BYTES) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

size_t ct_slide_workspace(const ct_model *m, const ct_slide_grid *g, const ct_segment_params *sp, int n_names) {
    return batch_bytes(m, g, sp, n_names, ct_slide_batch(m, g, sp));
}

size_t ct_slide_encoder_workspace(const ct_model *m, const ct_slide_grid *g, const ct_segment_params *sp) {
    ct_vision_out vo = {.p = sp, .tokens = (float *)1};
    return ct_vision_workspace(m, ct_slide_batch(m, g, sp), g->wh, g->ww, ct_model_threads(m), &vo);
}

typedef struct {
    const ct_slide_grid *g;
    const float *lg;       /* [N x nb*T]: window b's patch logits of name n at n * ld + b*T + 1 */
    size_t ld;
    int k0, nb, T, w;
    const ct_taps *ty, *tx;
    float *seg;            /* [N x H x W] */
} acc_job;

/* rows (name, image row) in [r0, r1): add the batch's windows in window order */
static void accumulate_rows(void *arg, int64_t r0, int64_t r1) {
    acc_job *j = arg;
    const ct_slide_grid *g = j->g;
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / g->H;
        int Y = (int)(r % g->H);
        float *row = j->seg + (size_t)r * g->W;
        for (int b = 0; b < j->nb; b++) {
            int y1, x1;
            ct_slide_window(g, j->k0 + b, &y1, &x1);
            if (Y < y1 || Y >= y1 + g->wh) continue;
            const float *map = j->lg + (size_t)n * j->ld + (size_t)b * j->T + 1;
            const ct_taps *ty = &j->ty[Y - y1];
            float *o = row + x1;
            for (int x = 0; x < g->ww; x++) o[x] += ct_bilinear_at(map, j->w, ty, &j->tx[x]);
        }
    }
}

typedef struct {
    const ct_slide_grid *g;
    const int *cy, *cx;    /* windows covering each row / column */
    float *seg;
} div_job;

static void zero_rows(void *arg, int64_t r0, int64_t r1) {
    div_job *j = arg;
    memset(j->seg + (size_t)r0 * j->g->W, 0, sizeof(float) * (size_t)(r1 - r0) * j->g->W);
}

static void divide_rows(void *arg, int64_t r0, int64_t r1) {
    div_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        int cy = j->cy[r % j->g->H];
        float *row = j->seg + (size_t)r * j->g->W;
        for (int x = 0; x < j->g->W; x++) row[x] /= (float)(cy * j->cx[x]);
    }
}

typedef struct {
    const ct_slide_grid *g;
    const float *pixels; /* [3 x H x W] */
    float *bpx;          /* [nb x 3 x wh x ww] */
    int k0;              /* the batch's first window */
} crop_job;

/* rows (window b, channel, row) in [r0, r1) of the batch's pixels */
static void crop_rows(void *arg, int64_t r0, int64_t r1) {
    const crop_job *j = arg;
    const ct_slide_grid *g = j->g;
    for (int64_t r = r0; r < r1; r++) {
        int b = (int)(r / (3 * g->wh)), ch = (int)(r / g->wh % 3), y = (int)(r % g->wh), y1, x1;
        ct_slide_window(g, j->k0 + b, &y1, &x1);
        memcpy(j->bpx + (size_t)r * g->ww, j->pixels + ((size_t)ch * g->H + y1 + y) * g->W + x1, sizeof(float) * g->ww);
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

ct_status ct_slide_logits(const ct_model *m, const ct_nn *nn, const float *pixels, const ct_slide_grid *g, const ct_segment_params *sp,
                          const float *class_emb, int N, int max_batch, float *seg, float *img_tokens, int32_t *mask,
                          ct_slide_stats *stats, ct_error *err) {
    const ct_config *c = &m->cfg;
    int p = c->patch, h = g->wh / p, w = g->ww / p, T = h * w + 1, E = c->embed_dim, H = g->H, W = g->W;
    int B = ct_slide_batch(m, g, sp), whole = whole_image(g);
    if (max_batch > 0 && max_batch < B) B = max_batch;
    size_t wpx = (size_t)3 * g->wh * g->ww;
    float *bpx = whole ? NULL : ct_alloc((size_t)B * wpx, sizeof(float)); /* [B x 3 x wh x ww] */
    float *tok = ct_alloc((size_t)B * T * E, sizeof(float));               /* [B x T x E] */
    float *lg = ct_alloc((size_t)B * T * N, sizeof(float));                /* [N x B*T] */
    ct_taps *ty = ct_alloc((size_t)g->wh, sizeof(ct_taps)), *tx = ct_alloc((size_t)g->ww, sizeof(ct_taps));
    int *cy = ct_calloc((size_t)H, sizeof(int)), *cx = ct_calloc((size_t)W, sizeof(int));
    ct_status st = CT_OK;
    double t_enc = 0;
    if ((!whole && !bpx) || !tok || !lg || !ty || !tx || !cy || !cx) {
        st = ct_fail(err, CT_ERR_NOMEM, "out of memory for %d windows of %d x %d", B, g->ww, g->wh);
        goto done;
    }
    ct_bilinear_taps(h, g->wh, ty);
    ct_bilinear_taps(w, g->ww, tx);
    for (int k = 0; k < g->n; k++) {
        int y1, x1;
        ct_slide_window(g, k, &y1, &x1);
        if (k % g->gw == 0)
            for (int y = 0; y < g->wh; y++) cy[y1 + y]++;
        if (k < g->gw)
            for (int x = 0; x < g->ww; x++) cx[x1 + x]++;
    }
    div_job dj = {g, cy, cx, seg};
    ct_parallel_for(&nn->ex, (int64_t)N * H, 32, zero_rows, &dj); /* N x H x W: the threads touch it first */
    /* logits in fp32 whatever the encoder's precision (a product of N x E by E x B*T: small) */
    ct_nn nl = *nn;
    nl.ws = NULL;
    nl.ws_bytes = 0;
    nl.kernel = ct_kernel_fp32(nl.kernel);
    for (int k0 = 0; k0 < g->n && !st; k0 += B) {
        int nb = g->n - k0 < B ? g->n - k0 : B;
        if (!whole) {
            crop_job cj = {g, pixels, bpx, k0};
            ct_parallel_for(&nn->ex, (int64_t)nb * 3 * g->wh, 64, crop_rows, &cj);
        }
        ct_vision_out vo = {.p = sp, .tokens = tok, .patch_mask = mask ? mask + (size_t)k0 * h * w : NULL};
        double t0 = now_s();
        st = ct_vision_encode(m, nn, whole ? pixels : bpx, nb, g->wh, g->ww, &vo, err);
        t_enc += now_s() - t0;
        if (st) break;
        /* cosine logits: names x every token of the batch (the CLS columns are not read) */
        size_t ld = (size_t)nb * T;
        if (!ct_gemm(&nl, 0, 1, N, (int)ld, E, class_emb, E, tok, E, NULL, lg, (int)ld)) {
            st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
            break;
        }
        acc_job aj = {g, lg, ld, k0, nb, T, w, ty, tx, seg};
        ct_parallel_for(&nn->ex, (int64_t)N * H, 8, accumulate_rows, &aj);
    }
    if (!st) {
        ct_parallel_for(&nn->ex, (int64_t)N * H, 32, divide_rows, &dj);
        if (whole && img_tokens) memcpy(img_tokens, tok, sizeof(float) * (size_t)T * E);
        if (stats) {
            stats->n_windows = g->n;
            stats->n_batches = (g->n + B - 1) / B;
            stats->t_encode = t_enc;
            stats->workspace_bytes = batch_bytes(m, g, sp, N, B);
        }
        st = ct_ok(err);
    }
done:
    free(bpx); free(tok); free(lg); free(ty); free(tx); free(cy); free(cx);
    return st;
}
