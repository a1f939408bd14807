/* The fused attention (attention.h), on the AVX-512 micro-kernels of kernels/attn_avx512.c.
 *
 * Ordinary attention (one stream, any X and Y: q k^T, q q^T, k k^T + G): FlashAttention's scheme
 * in a transposed layout. A block of 48 queries lies along the vector lanes. For each tile of up
 * to 128 keys, S^T = K_tile Q_block^T * scale goes to an L1 buffer, the running max, sum and
 * rescale factor are updated lane by lane, S^T becomes P in place, and O^T = alpha O^T + V^T P.
 * No score matrix exists beyond one tile. Work items are (sequence, head, query block), shared
 * by the threads through a counter after K and V have been packed once per head.
 *
 * Sums of Gram streams (CLIPtrase: softmax(s qq^T) + softmax(s kk^T) + softmax(s vv^T); SCLIP:
 * the first two): each stream's score matrix is symmetric, so both passes visit only the tiles
 * on and above the diagonal and use every tile twice, as computed (queries of block I against
 * keys of block J) and transposed (queries of J against keys of I). Pass 1 gathers each stream's
 * row max and sum (online); pass 2 recomputes the tiles, forms P = sum_s exp(S_s - m_s) / l_s
 * and accumulates P V. The work is that of the unfused 3 q q^T + 1 P V, with no T x T matrix.
 * Each query block receives its contributions in ascending key order, exactly as a row-by-row
 * computation would: results do not depend on the thread count. Work items are (sequence,
 * head); a thread processes a head from start to end in its private scratch. */
#include "nn/attention.h"

#include "core/arena.h"
#include "nn/kernels/attn_kernels.h"
#include "nn/kernels/ukernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KT 128          /* keys per tile of the ordinary attention */
#define NEG (-1e30f)    /* a masked score: exp() of it is 0 to fp32 precision, never NaN */

static int64_t pad_to(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

int ct_attention_fused_ok(const ct_nn *nn, const ct_attn_spec *sp, int W, int heads) {
    if (nn->kernel != CT_KERNEL_AVX512 && nn->kernel != CT_KERNEL_BF16) return 0;
    if (sp->identity || heads <= 0 || W % heads || (W / heads) % CT_AP) return 0;
    if (sp->n_streams == 1) return 1;
    for (int s = 0; s < sp->n_streams; s++)
        if (sp->x[s] != sp->y[s]) return 0; /* sums of non-Gram streams: not used by any head */
    return sp->n_streams <= 3 && !sp->causal;
}

/* ------------------------------------------------------------------ packing */

/* 8-row panels of rows [0, n) of X (row stride ld, hd columns): dst[p][d][r] = X[8p + r][d],
 * zero beyond n; np panels */
static void pack_rows8(const float *X, size_t ld, int n, int hd, int np, float *dst) {
    for (int p = 0; p < np; p++) {
        float *d = dst + (size_t)p * hd * CT_AP;
        int r0 = p * CT_AP, rows = n - r0 < CT_AP ? n - r0 : CT_AP;
        if (rows == CT_AP)
            for (int k = 0; k < hd; k += 8) ct_transpose8(X + (size_t)r0 * ld + k, ld, d + (size_t)k * CT_AP, CT_AP);
        else {
            memset(d, 0, sizeof(float) * (size_t)hd * CT_AP);
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < hd; k++) d[(size_t)k * CT_AP + r] = X[(size_t)(r0 + r) * ld + k];
        }
    }
}

/* 48-row query blocks: dst[b][d][i] = X[48b + i][d], zero beyond n */
static void pack_rows48(const float *X, size_t ld, int n, int hd, int nb, float *dst) {
    for (int b = 0; b < nb; b++) {
        float *d = dst + (size_t)b * hd * CT_AQ;
        int r0 = b * CT_AQ, rows = n - r0 < CT_AQ ? n - r0 : CT_AQ;
        if (rows == CT_AQ)
            for (int g = 0; g < CT_AQ; g += 8)
                for (int k = 0; k < hd; k += 8) ct_transpose8(X + (size_t)(r0 + g) * ld + k, ld, d + (size_t)k * CT_AQ + g, CT_AQ);
        else {
            memset(d, 0, sizeof(float) * (size_t)hd * CT_AQ);
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < hd; k++) d[(size_t)k * CT_AQ + r] = X[(size_t)(r0 + r) * ld + k];
        }
    }
}

/* V as 8-dimension panels over all keys: dst[q][j][c] = V[j][8q + c], zero for j >= n */
static void pack_v(const float *V, size_t ld, int n, int npad, int hd, float *dst) {
    for (int q = 0; q < hd / CT_AP; q++) {
        float *d = dst + (size_t)q * npad * CT_AP;
        for (int j = 0; j < n; j++) memcpy(d + (size_t)j * CT_AP, V + (size_t)j * ld + (size_t)q * CT_AP, sizeof(float) * CT_AP);
        memset(d + (size_t)n * CT_AP, 0, sizeof(float) * (size_t)(npad - n) * CT_AP);
    }
}

/* O^T [hd][48] of queries [q0, q0 + nq) -> att rows (stride W), divided by l when given */
static void write_out(const float *OT, const float *l, int hd, int nq, float *att, size_t W) {
    for (int i = 0; i < nq; i++) {
        float inv = l ? 1.f / l[i] : 1.f;
        float *o = att + (size_t)i * W;
        for (int d = 0; d < hd; d++) o[d] = OT[(size_t)d * CT_AQ + i] * inv;
    }
}

/* ------------------------------------------------------------------ ordinary attention */

typedef struct {
    const ct_attn_spec *sp;
    const float *qkv;
    float *att;
    int B, T, W, heads, hd, q0, q1;
    int Tp;             /* keys padded to a multiple of 8 */
    float scale;
    float *kpack, *vpack; /* per (sequence, head): [Tp/8][hd][8] and [hd/8][Tp][8] */
    float *scratch;     /* per thread */
    size_t per_thread;  /* floats */
    const float *gauss; /* [grid_h * grid_w]: exp(-(dy^2 + dx^2) / (2 sigma^2)) by offset, or NULL */
    int nqb;            /* query blocks per sequence */
} flash_job;

static size_t flash_thread_floats(int hd) { return (size_t)hd * CT_AQ * 2 + (size_t)KT * CT_AQ + 4 * CT_AQ; }

static void flash_item(const flash_job *j, int b, int h, int qb, float *scr) {
    const int hd = j->hd, T = j->T, ld = 3 * j->W;
    float *Qp = scr, *OT = Qp + (size_t)hd * CT_AQ, *S = OT + (size_t)hd * CT_AQ;
    float *m = S + (size_t)KT * CT_AQ, *l = m + CT_AQ, *alpha = l + CT_AQ;
    int qs = j->q0 + qb * CT_AQ, nq = j->q1 - qs < CT_AQ ? j->q1 - qs : CT_AQ;
    const float *base = j->qkv + (size_t)b * T * ld + (size_t)h * hd;
    pack_rows48(base + (size_t)j->sp->x[0] * j->W + (size_t)qs * ld, (size_t)ld, nq, hd, 1, Qp);
    for (int i = 0; i < CT_AQ; i++) { m[i] = NEG; l[i] = 0.f; }
    memset(OT, 0, sizeof(float) * (size_t)hd * CT_AQ);
    size_t bh = (size_t)b * j->heads + h;
    const float *Kp = j->kpack + bh * (size_t)j->Tp * hd, *Vp = j->vpack + bh * (size_t)j->Tp * hd;
    int kend = j->sp->causal ? qs + nq : T;
    for (int k0 = 0; k0 < kend; k0 += KT) {
        int kb = kend - k0 < KT ? kend - k0 : KT, kb8 = (int)pad_to(kb, CT_AP);
        for (int p = 0; p < kb8; p += CT_AP)
            ct_attn_qk_8x48(hd, Kp + (size_t)(k0 + p) * hd, Qp, j->scale, S + (size_t)p * CT_AQ);
        for (int r = kb; r < kb8; r++)
            for (int i = 0; i < CT_AQ; i++) S[(size_t)r * CT_AQ + i] = NEG;
        if (j->gauss) ct_attn_add_prior(kb, k0, qs, nq, j->sp->grid_w, j->gauss, S); /* NACLIP's prior */
        if (j->sp->causal)
            for (int r = 0; r < kb; r++)
                for (int i = 0; i < nq; i++)
                    if (k0 + r > qs + i) S[(size_t)r * CT_AQ + i] = NEG;
        ct_attn_online(kb8, S, m, l, alpha);
        for (int q = 0; q < hd / CT_AP; q++)
            ct_attn_pv_8x48(kb8, Vp + ((size_t)q * j->Tp + k0) * CT_AP, S, alpha, OT + (size_t)q * CT_AP * CT_AQ);
    }
    write_out(OT, l, hd, nq, j->att + ((size_t)b * T + qs) * j->W + (size_t)h * hd, (size_t)j->W);
}

static void flash_task(void *arg, ct_team *team, int tid, int nth) {
    flash_job *j = arg;
    const int hd = j->hd, ld = 3 * j->W;
    int64_t nbh = (int64_t)j->B * j->heads, b0, b1;
    ct_split(nbh, tid, nth, &b0, &b1);
    for (int64_t bh = b0; bh < b1; bh++) {
        int b = (int)(bh / j->heads), h = (int)(bh % j->heads);
        const float *base = j->qkv + (size_t)b * j->T * ld + (size_t)h * hd;
        pack_rows8(base + (size_t)j->sp->y[0] * j->W, (size_t)ld, j->T, hd, j->Tp / CT_AP, j->kpack + (size_t)bh * j->Tp * hd);
        pack_v(base + 2 * (size_t)j->W, (size_t)ld, j->T, j->Tp, hd, j->vpack + (size_t)bh * j->Tp * hd);
    }
    ct_team_barrier(team);
    float *scr = j->scratch + (size_t)tid * j->per_thread;
    int64_t items = nbh * j->nqb;
    for (;;) {
        int64_t it = ct_team_next(team, 0, 1);
        if (it >= items) break;
        int64_t bh = it / j->nqb;
        flash_item(j, (int)(bh / j->heads), (int)(bh % j->heads), (int)(it % j->nqb), scr);
    }
}

/* ------------------------------------------------------------------ sums of Gram streams */

typedef struct {
    const ct_attn_spec *sp;
    const float *qkv;
    float *att;
    int B, T, W, heads, hd, ns;
    int nb;             /* 48-query blocks per sequence */
    int Tp;             /* nb * 48 */
    float scale;
    float *scratch;
    size_t per_thread;
} gram_job;

static size_t gram_thread_floats(int Tp, int hd, int ns) {
    return (size_t)Tp * hd * (2 * (size_t)ns + 2) + 2 * (size_t)ns * Tp + 4 * (size_t)CT_AQ * CT_AQ;
}

/* S = scores of the keys of block J (rows) against the queries of block I (lanes) for stream s,
 * with the keys beyond T masked */
static void gram_tile(const gram_job *j, const float *Xa, const float *Xb, int I, int J, float *S) {
    const int hd = j->hd;
    for (int p = 0; p < CT_AQ; p += CT_AP)
        ct_attn_qk_8x48(hd, Xa + ((size_t)J * CT_AQ + p) * hd, Xb + (size_t)I * hd * CT_AQ, j->scale, S + (size_t)p * CT_AQ);
    for (int r = j->T - J * CT_AQ; r < CT_AQ; r++)
        if (r >= 0)
            for (int i = 0; i < CT_AQ; i++) S[(size_t)r * CT_AQ + i] = NEG;
}

static void gram_head(const gram_job *j, int b, int h, float *scr) {
    const int hd = j->hd, ns = j->ns, nb = j->nb, Tp = j->Tp, T = j->T, ld = 3 * j->W;
    const float *base = j->qkv + (size_t)b * T * ld + (size_t)h * hd;
    float *Xa = scr;                                  /* [ns][Tp/8][hd][8] */
    float *Xb = Xa + (size_t)ns * Tp * hd;            /* [ns][nb][hd][48] */
    float *Vp = Xb + (size_t)ns * Tp * hd;            /* [hd/8][Tp][8] */
    float *OT = Vp + (size_t)Tp * hd;                 /* [nb][hd][48] */
    float *m = OT + (size_t)Tp * hd, *l = m + (size_t)ns * Tp; /* [ns][Tp] each; l becomes 1/l */
    float *S1 = l + (size_t)ns * Tp, *S2 = S1 + CT_AQ * CT_AQ, *PA = S2 + CT_AQ * CT_AQ, *PB = PA + CT_AQ * CT_AQ;
    for (int s = 0; s < ns; s++) {
        const float *X = base + (size_t)j->sp->x[s] * j->W;
        pack_rows8(X, (size_t)ld, T, hd, Tp / CT_AP, Xa + (size_t)s * Tp * hd);
        pack_rows48(X, (size_t)ld, T, hd, nb, Xb + (size_t)s * Tp * hd);
    }
    pack_v(base + 2 * (size_t)j->W, (size_t)ld, T, Tp, hd, Vp);
    for (size_t i = 0; i < (size_t)ns * Tp; i++) { m[i] = NEG; l[i] = 0.f; }
    memset(OT, 0, sizeof(float) * (size_t)Tp * hd);
    /* pass 1: each stream's max and sum for every query, in ascending key-block order */
    for (int I = 0; I < nb; I++)
        for (int J = I; J < nb; J++)
            for (int s = 0; s < ns; s++) {
                const float *Xas = Xa + (size_t)s * Tp * hd, *Xbs = Xb + (size_t)s * Tp * hd;
                float *ms = m + (size_t)s * Tp, *ls = l + (size_t)s * Tp;
                gram_tile(j, Xas, Xbs, I, J, S1);
                if (J != I) {
                    ct_attn_transpose48(S1, S2); /* keys of I (all valid: I < J) against queries of J */
                    ct_attn_online(CT_AQ, S2, ms + (size_t)J * CT_AQ, ls + (size_t)J * CT_AQ, NULL);
                }
                ct_attn_online(CT_AQ, S1, ms + (size_t)I * CT_AQ, ls + (size_t)I * CT_AQ, NULL);
            }
    for (size_t i = 0; i < (size_t)ns * Tp; i++) l[i] = 1.f / l[i];
    /* pass 2: probabilities summed over the streams, times V */
    for (int I = 0; I < nb; I++)
        for (int J = I; J < nb; J++) {
            for (int s = 0; s < ns; s++) {
                const float *Xas = Xa + (size_t)s * Tp * hd, *Xbs = Xb + (size_t)s * Tp * hd;
                const float *ms = m + (size_t)s * Tp, *ils = l + (size_t)s * Tp;
                gram_tile(j, Xas, Xbs, I, J, S1);
                if (J != I) {
                    ct_attn_transpose48(S1, S2);
                    ct_attn_prob(CT_AQ, S2, ms + (size_t)J * CT_AQ, ils + (size_t)J * CT_AQ, PB, s == 0);
                }
                ct_attn_prob(CT_AQ, S1, ms + (size_t)I * CT_AQ, ils + (size_t)I * CT_AQ, PA, s == 0);
            }
            for (int q = 0; q < hd / CT_AP; q++) {
                ct_attn_pv_8x48(CT_AQ, Vp + ((size_t)q * Tp + (size_t)J * CT_AQ) * CT_AP, PA, NULL,
                                OT + ((size_t)I * hd + (size_t)q * CT_AP) * CT_AQ);
                if (J != I)
                    ct_attn_pv_8x48(CT_AQ, Vp + ((size_t)q * Tp + (size_t)I * CT_AQ) * CT_AP, PB, NULL,
                                    OT + ((size_t)J * hd + (size_t)q * CT_AP) * CT_AQ);
            }
        }
    for (int I = 0; I < nb; I++) {
        int nq = T - I * CT_AQ < CT_AQ ? T - I * CT_AQ : CT_AQ;
        write_out(OT + (size_t)I * hd * CT_AQ, NULL, hd, nq, j->att + ((size_t)b * T + (size_t)I * CT_AQ) * j->W + (size_t)h * hd,
                  (size_t)j->W);
    }
}

static void gram_task(void *arg, ct_team *team, int tid, int nth) {
    (void)nth;
    gram_job *j = arg;
    float *scr = j->scratch + (size_t)tid * j->per_thread;
    int64_t items = (int64_t)j->B * j->heads;
    for (;;) {
        int64_t it = ct_team_next(team, 0, 1);
        if (it >= items) break;
        gram_head(j, (int)(it / j->heads), (int)(it % j->heads), scr);
    }
}

/* ------------------------------------------------------------------ entry */

static size_t fused_floats(const ct_attn_spec *sp, int B, int T, int W, int heads, int nth) {
    int hd = W / heads;
    if (sp->n_streams == 1) {
        int64_t Tp = pad_to(T, CT_AP);
        return (size_t)B * heads * (size_t)Tp * hd * 2 + (size_t)nth * flash_thread_floats(hd) +
               (sp->gauss_sigma > 0 ? (size_t)sp->grid_h * sp->grid_w : 0);
    }
    int64_t Tp = pad_to(T, CT_AQ);
    return (size_t)nth * gram_thread_floats((int)Tp, hd, sp->n_streams);
}

size_t ct_attention_workspace(const ct_nn *nn, const ct_attn_spec *sp, int B, int T, int W, int heads) {
    if (!ct_attention_fused_ok(nn, sp, W, heads)) return 0;
    return fused_floats(sp, B, T, W, heads, nn->ex.nth) * sizeof(float);
}

int ct_attention_fused(const ct_nn *nn, const ct_attn_spec *sp, const float *qkv, int B, int T, int W, int heads, int q0, int q1,
                       float *att) {
    int hd = W / heads;
    ct_exec ex = nn->ex;
    size_t need = fused_floats(sp, B, T, W, heads, ex.nth) * sizeof(float);
    /* the call's workspace when it is large enough (it is, inside the encoders) */
    float *own = NULL, *mem = nn->ws && nn->ws_bytes >= need ? nn->ws : (own = aligned_alloc(64, (need + 63) & ~(size_t)63));
    if (!mem) return 0;
    float scale = 1.f / sqrtf((float)hd);
    if (sp->n_streams == 1) {
        flash_job j;
        memset(&j, 0, sizeof j);
        j.sp = sp; j.qkv = qkv; j.att = att; j.B = B; j.T = T; j.W = W; j.heads = heads; j.hd = hd; j.q0 = q0; j.q1 = q1;
        j.Tp = (int)pad_to(T, CT_AP);
        j.scale = scale;
        j.kpack = mem;
        j.vpack = mem + (size_t)B * heads * j.Tp * hd;
        j.scratch = j.vpack + (size_t)B * heads * j.Tp * hd;
        j.per_thread = flash_thread_floats(hd);
        j.nqb = (q1 - q0 + CT_AQ - 1) / CT_AQ;
        if (sp->gauss_sigma > 0) {
            float *g = j.scratch + (size_t)ex.nth * j.per_thread;
            for (int dy = 0; dy < sp->grid_h; dy++)
                for (int dx = 0; dx < sp->grid_w; dx++)
                    g[dy * sp->grid_w + dx] = expf(-(float)(dy * dy + dx * dx) / (2.f * sp->gauss_sigma * sp->gauss_sigma));
            j.gauss = g;
        }
        ct_run(&ex, flash_task, &j);
    } else {
        gram_job j;
        memset(&j, 0, sizeof j);
        j.sp = sp; j.qkv = qkv; j.att = att; j.B = B; j.T = T; j.W = W; j.heads = heads; j.hd = hd; j.ns = sp->n_streams;
        j.nb = (T + CT_AQ - 1) / CT_AQ;
        j.Tp = j.nb * CT_AQ;
        j.scale = scale;
        j.scratch = mem;
        j.per_thread = gram_thread_floats(j.Tp, hd, j.ns);
        if (ex.nth > B * heads) ex.nth = B * heads;
        ct_run(&ex, gram_task, &j);
        (void)q0;
        (void)q1;
    }
    free(own);
    return 1;
}
