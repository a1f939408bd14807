/* The fused attention (attention.h), on the AVX-512 micro-kernels of kernels/x86_avx512/attn.c.
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
 * head); a thread processes a head from start to end in its private scratch. With more than two
 * threads per (sequence, head), a row-by-row variant of the same arithmetic takes over (below). */
#include "nn/attention_fused.h"

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
    int fa = ct_kernel_attention(nn->kernel);
    if (fa == CT_FUSED_NONE) return 0;
    if (sp->identity || heads <= 0 || W % heads || (W / heads) % CT_AP) return 0;
    /* the bf16 packing converts 16 (K, Q) and 32 (pairs) head dimensions at a time (masked at
     * the end: heads of 80, 104), at most 512 */
    if (fa == CT_FUSED_BF16 && W / heads > 512) return 0;
    if (sp->n_streams == 1) return 1;
    for (int s = 0; s < sp->n_streams; s++)
        if (sp->x[s] != sp->y[s]) return 0; /* sums of non-Gram streams: not used by any head */
    return sp->n_streams <= 3 && !sp->causal;
}

/* ------------------------------------------------------------------ packing */

/* Packed operands keep the fp32 layout's strides in both precisions: a bf16 panel holds pairs
 * along the summed dimension (d, d+1 for K and Q; k, k+1 for V) in the first half of its slot. */

/* Blocks of P rows (P = 8: K panels; P = 48: query blocks) of rows [0, n) of X (row stride ld, hd
 * columns): dst[b][d][r] = X[P b + r][d], zero beyond n; nblk blocks (bf16: dst[b][d/2][r] pairs) */
static void pack_rows(int bf16, int P, const float *X, size_t ld, int n, int hd, int nblk, float *dst) {
    uint32_t tmp[CT_AQ * 256];
    for (int b = 0; b < nblk; b++) {
        float *d = dst + (size_t)b * hd * P;
        int r0 = b * P, rows = n - r0 < P ? n - r0 : P;
        if (rows < P) memset(d, 0, sizeof(float) * (size_t)hd * P);
        const float *src = X + (size_t)r0 * ld;
        size_t lds = ld;
        int cols = hd;
        if (bf16) { /* each row to pairs along d, then the block transposed as 32-bit units */
            memset(tmp, 0, sizeof(uint32_t) * (size_t)P * (size_t)(hd / 2));
            ct_attn_cols_to_bf16_pairs(src, ld, rows, hd, tmp);
            src = (const float *)tmp;
            lds = (size_t)(hd / 2);
            cols = hd / 2;
        }
        if (rows == P || bf16) {
            /* 8 x 8 blocks; bf16 pairs of a head of 104 leave 4 columns (52 = 6 x 8 + 4) */
            int c8 = cols / 8 * 8;
            ct_transpose_block(src, lds, P, c8, d, (size_t)P);
            for (int r = 0; r < P; r++)
                for (int k = c8; k < cols; k++) d[(size_t)k * P + r] = src[(size_t)r * lds + k];
        } else {
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < cols; k++) d[(size_t)k * P + r] = src[(size_t)r * lds + k];
        }
    }
}

/* V as 8-dimension panels over all keys: dst[q][j][c] = V[j][8q + c], zero for j >= n (bf16:
 * dst[q][j/2][c] pairs of keys j, j+1) */
static void pack_v(int bf16, const float *V, size_t ld, int n, int npad, int hd, float *dst) {
    if (bf16) {
        uint32_t row[512];
        for (int k = 0; k < npad; k += 2) {
            if (k < n) ct_attn_rows_to_bf16_pairs(V + (size_t)k * ld, ld, k + 1 < n ? 2 : 1, hd, row);
            else memset(row, 0, sizeof(uint32_t) * (size_t)hd);
            for (int q = 0; q < hd / CT_AP; q++)
                memcpy(dst + ((size_t)q * npad + (size_t)k / 2) * CT_AP, row + (size_t)q * CT_AP, sizeof(uint32_t) * CT_AP);
        }
        return;
    }
    for (int q = 0; q < hd / CT_AP; q++) {
        float *d = dst + (size_t)q * npad * CT_AP;
        for (int j = 0; j < n; j++) memcpy(d + (size_t)j * CT_AP, V + (size_t)j * ld + (size_t)q * CT_AP, sizeof(float) * CT_AP);
        memset(d + (size_t)n * CT_AP, 0, sizeof(float) * (size_t)(npad - n) * CT_AP);
    }
}

/* panel q of V from key k0 on (k0 even) */
static inline const float *v_at(int bf16, const float *Vp, int npad, int q, int k0) {
    return Vp + ((size_t)q * npad + (size_t)(bf16 ? k0 / 2 : k0)) * CT_AP;
}

/* one 8-key panel of scores against G lane groups of a packed query block */
static inline void qk8(int bf16, int G, int hd, const float *A, const float *Q, float scale, float *S) {
    if (bf16) ct_attn_qk_8x48_bf16(G, hd / 2, (const uint32_t *)A, (const uint32_t *)Q, scale, S);
    else ct_attn_qk_8x48(G, hd, A, Q, scale, S);
}

/* lane groups of 16 holding n queries (n <= 48) */
static inline int groups_for(int n) { return (n + 15) / 16; }

/* O^T (hd rows) = alpha O^T + V^T P over kb keys (kb even); Pb: scratch for P's bf16 pairs */
static inline void pv_all(int bf16, int G, int hd, int kb, const float *Vp, int npad, int k0, const float *P, uint32_t *Pb,
                          const float *alpha, float *OT) {
    if (bf16) ct_attn_p_to_bf16(G, kb, P, Pb);
    for (int q = 0; q < hd / CT_AP; q++) {
        const float *v = v_at(bf16, Vp, npad, q, k0);
        float *o = OT + (size_t)q * CT_AP * CT_AQ;
        if (bf16) ct_attn_pv_8x48_bf16(G, kb / 2, (const uint32_t *)v, Pb, alpha, o);
        else ct_attn_pv_8x48(G, kb, v, P, alpha, o);
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
    int bf16;           /* products on bfloat16 pairs (the bf16 precision) */
} flash_job;

static size_t flash_thread_floats(int hd) { return (size_t)hd * CT_AQ * 2 + (size_t)KT * CT_AQ * 3 / 2 + 4 * CT_AQ; }

static void flash_item(const flash_job *j, int b, int h, int qb, float *scr) {
    const int hd = j->hd, T = j->T, ld = 3 * j->W;
    float *Qp = scr, *OT = Qp + (size_t)hd * CT_AQ, *S = OT + (size_t)hd * CT_AQ;
    float *m = S + (size_t)KT * CT_AQ, *l = m + CT_AQ, *alpha = l + CT_AQ;
    uint32_t *Pb = (uint32_t *)(alpha + CT_AQ); /* [KT/2][48] */
    int qs = j->q0 + qb * CT_AQ, nq = j->q1 - qs < CT_AQ ? j->q1 - qs : CT_AQ, G = groups_for(nq);
    const float *base = j->qkv + (size_t)b * T * ld + (size_t)h * hd;
    pack_rows(j->bf16, CT_AQ, base + (size_t)j->sp->x[0] * j->W + (size_t)qs * ld, (size_t)ld, nq, hd, 1, Qp);
    for (int i = 0; i < CT_AQ; i++) { m[i] = NEG; l[i] = 0.f; }
    memset(OT, 0, sizeof(float) * (size_t)hd * CT_AQ);
    size_t bh = (size_t)b * j->heads + h;
    const float *Kp = j->kpack + bh * (size_t)j->Tp * hd, *Vp = j->vpack + bh * (size_t)j->Tp * hd;
    int kend = j->sp->causal ? qs + nq : T;
    for (int k0 = 0; k0 < kend; k0 += KT) {
        int kb = kend - k0 < KT ? kend - k0 : KT, kb8 = (int)pad_to(kb, CT_AP);
        for (int p = 0; p < kb8; p += CT_AP)
            qk8(j->bf16, G, hd, Kp + (size_t)(k0 + p) * hd, Qp, j->scale, S + (size_t)p * CT_AQ);
        for (int r = kb; r < kb8; r++)
            for (int i = 0; i < CT_AQ; i++) S[(size_t)r * CT_AQ + i] = NEG;
        if (j->gauss) ct_attn_add_prior(kb, k0, qs, nq, j->sp->grid_w, j->gauss, S); /* NACLIP's prior */
        if (j->sp->causal)
            for (int r = 0; r < kb; r++)
                for (int i = 0; i < nq; i++)
                    if (k0 + r > qs + i) S[(size_t)r * CT_AQ + i] = NEG;
        ct_attn_online(G, kb8, S, m, l, alpha);
        pv_all(j->bf16, G, hd, kb8, Vp, j->Tp, k0, S, Pb, alpha, OT);
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
        pack_rows(j->bf16, CT_AP, base + (size_t)j->sp->y[0] * j->W, (size_t)ld, j->T, hd, j->Tp / CT_AP, j->kpack + (size_t)bh * j->Tp * hd);
        pack_v(j->bf16, base + 2 * (size_t)j->W, (size_t)ld, j->T, j->Tp, hd, j->vpack + (size_t)bh * j->Tp * hd);
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
    int bf16;
} gram_job;

static size_t gram_thread_floats(int Tp, int hd, int ns) {
    return (size_t)Tp * hd * (2 * (size_t)ns + 2) + 2 * (size_t)ns * Tp + 4 * (size_t)CT_AQ * CT_AQ + (size_t)CT_AQ * CT_AQ / 2;
}

/* keys of block J padded to the 8-key panel, and lane groups of block I's queries */
static inline int rows_of(const gram_job *j, int J) { return (int)pad_to(j->T - J * CT_AQ < CT_AQ ? j->T - J * CT_AQ : CT_AQ, CT_AP); }
static inline int lanes_of(const gram_job *j, int I) { return groups_for(j->T - I * CT_AQ < CT_AQ ? j->T - I * CT_AQ : CT_AQ); }

/* S = scores of the keys of block J (rows_of(J) rows, the keys beyond T masked) against the
 * queries of block I (lanes_of(I) groups) for one stream; the rest of a last block's 48 rows is
 * masked too, so that its transpose holds no stale values */
static void gram_tile(const gram_job *j, const float *Xa, const float *Xb, int I, int J, float *S) {
    const int hd = j->hd, rows = rows_of(j, J), G = lanes_of(j, I);
    for (int p = 0; p < rows; p += CT_AP)
        qk8(j->bf16, G, hd, Xa + ((size_t)J * CT_AQ + p) * hd, Xb + (size_t)I * hd * CT_AQ, j->scale, S + (size_t)p * CT_AQ);
    for (int r = j->T - J * CT_AQ; r < CT_AQ; r++)
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
    uint32_t *Pb = (uint32_t *)(PB + CT_AQ * CT_AQ); /* [24][48] */
    for (int s = 0; s < ns; s++) {
        const float *X = base + (size_t)j->sp->x[s] * j->W;
        pack_rows(j->bf16, CT_AP, X, (size_t)ld, T, hd, Tp / CT_AP, Xa + (size_t)s * Tp * hd);
        pack_rows(j->bf16, CT_AQ, X, (size_t)ld, T, hd, nb, Xb + (size_t)s * Tp * hd);
    }
    pack_v(j->bf16, base + 2 * (size_t)j->W, (size_t)ld, T, Tp, hd, Vp);
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
                    ct_attn_online(lanes_of(j, J), CT_AQ, S2, ms + (size_t)J * CT_AQ, ls + (size_t)J * CT_AQ, NULL);
                }
                ct_attn_online(lanes_of(j, I), rows_of(j, J), S1, ms + (size_t)I * CT_AQ, ls + (size_t)I * CT_AQ, NULL);
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
                    ct_attn_prob(lanes_of(j, J), CT_AQ, S2, ms + (size_t)J * CT_AQ, ils + (size_t)J * CT_AQ, PB, s == 0);
                }
                ct_attn_prob(lanes_of(j, I), rows_of(j, J), S1, ms + (size_t)I * CT_AQ, ils + (size_t)I * CT_AQ, PA, s == 0);
            }
            pv_all(j->bf16, lanes_of(j, I), hd, rows_of(j, J), Vp, Tp, J * CT_AQ, PA, Pb, NULL, OT + (size_t)I * hd * CT_AQ);
            if (J != I) pv_all(j->bf16, lanes_of(j, J), hd, CT_AQ, Vp, Tp, I * CT_AQ, PB, Pb, NULL, OT + (size_t)J * hd * CT_AQ);
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

/* Gram sums, row by row: the variant for many threads (more than two per sequence and head).
 * Query blocks are the work items; each visits every key block in ascending order and computes
 * each tile directly instead of taking the transposed one from the symmetric pass: 7/4 of the
 * products, all threads busy, and every value bit for bit the symmetric variant's (a fused
 * multiply-add is commutative in its two factors, and both visit the key blocks in the same order
 * with the same per-tile arithmetic). */
typedef struct {
    gram_job g;
    float *packs;       /* per (sequence, head): Xa [ns][Tp/8][hd][8], Xb [ns][nb][hd][48], Vp [hd/8][Tp][8] */
    size_t per_head;    /* floats of one head's packs */
} rows_job;

static size_t rows_thread_floats(int hd, int ns) { return 2 * (size_t)ns * CT_AQ + 5 * (size_t)CT_AQ * CT_AQ / 2 + (size_t)hd * CT_AQ; }

static void rows_task(void *arg, ct_team *team, int tid, int nth) {
    rows_job *r = arg;
    const gram_job *j = &r->g;
    const int hd = j->hd, ns = j->ns, nb = j->nb, Tp = j->Tp, T = j->T, ld = 3 * j->W;
    int64_t nbh = (int64_t)j->B * j->heads, b0, b1;
    ct_split(nbh, tid, nth, &b0, &b1);
    for (int64_t bh = b0; bh < b1; bh++) {
        int b = (int)(bh / j->heads), h = (int)(bh % j->heads);
        const float *base = j->qkv + (size_t)b * T * ld + (size_t)h * hd;
        float *Xa = r->packs + (size_t)bh * r->per_head, *Xb = Xa + (size_t)ns * Tp * hd, *Vp = Xb + (size_t)ns * Tp * hd;
        for (int s = 0; s < ns; s++) {
            const float *X = base + (size_t)j->sp->x[s] * j->W;
            pack_rows(j->bf16, CT_AP, X, (size_t)ld, T, hd, Tp / CT_AP, Xa + (size_t)s * Tp * hd);
            pack_rows(j->bf16, CT_AQ, X, (size_t)ld, T, hd, nb, Xb + (size_t)s * Tp * hd);
        }
        pack_v(j->bf16, base + 2 * (size_t)j->W, (size_t)ld, T, Tp, hd, Vp);
    }
    ct_team_barrier(team);
    float *m = j->scratch + (size_t)tid * j->per_thread, *l = m + (size_t)ns * CT_AQ, *S = l + (size_t)ns * CT_AQ, *P = S + CT_AQ * CT_AQ;
    float *OT = P + CT_AQ * CT_AQ;
    uint32_t *Pb = (uint32_t *)(OT + (size_t)hd * CT_AQ);
    for (;;) {
        int64_t it = ct_team_next(team, 0, 1);
        if (it >= nbh * nb) break;
        int64_t bh = it / nb;
        int Q = (int)(it % nb), b = (int)(bh / j->heads), h = (int)(bh % j->heads);
        const float *Xa = r->packs + (size_t)bh * r->per_head, *Xb = Xa + (size_t)ns * Tp * hd, *Vp = Xb + (size_t)ns * Tp * hd;
        for (int i = 0; i < ns * CT_AQ; i++) { m[i] = NEG; l[i] = 0.f; }
        for (int K = 0; K < nb; K++)
            for (int s = 0; s < ns; s++) {
                gram_tile(j, Xa + (size_t)s * Tp * hd, Xb + (size_t)s * Tp * hd, Q, K, S);
                ct_attn_online(lanes_of(j, Q), rows_of(j, K), S, m + (size_t)s * CT_AQ, l + (size_t)s * CT_AQ, NULL);
            }
        for (int i = 0; i < ns * CT_AQ; i++) l[i] = 1.f / l[i];
        memset(OT, 0, sizeof(float) * (size_t)hd * CT_AQ);
        for (int K = 0; K < nb; K++) {
            for (int s = 0; s < ns; s++) {
                gram_tile(j, Xa + (size_t)s * Tp * hd, Xb + (size_t)s * Tp * hd, Q, K, S);
                ct_attn_prob(lanes_of(j, Q), rows_of(j, K), S, m + (size_t)s * CT_AQ, l + (size_t)s * CT_AQ, P, s == 0);
            }
            pv_all(j->bf16, lanes_of(j, Q), hd, rows_of(j, K), Vp, Tp, K * CT_AQ, P, Pb, NULL, OT);
        }
        int nq = T - Q * CT_AQ < CT_AQ ? T - Q * CT_AQ : CT_AQ;
        write_out(OT, NULL, hd, nq, j->att + ((size_t)b * T + (size_t)Q * CT_AQ) * j->W + (size_t)h * hd, (size_t)j->W);
    }
}

/* the row-by-row variant pays off with more than two threads per (sequence, head) */
static int gram_by_rows(const ct_attn_spec *sp, int B, int heads, int nth) {
    if (sp->gram_variant) return sp->gram_variant == 2;
    return nth > 2 * B * heads;
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
    if (gram_by_rows(sp, B, heads, nth))
        return (size_t)B * heads * (size_t)Tp * hd * (2 * (size_t)sp->n_streams + 1) + (size_t)nth * rows_thread_floats(hd, sp->n_streams);
    return (size_t)nth * gram_thread_floats((int)Tp, hd, sp->n_streams);
}

size_t ct_attention_fused_workspace(const ct_nn *nn, const ct_attn_spec *sp, int B, int T, int W, int heads) {
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
        j.bf16 = ct_kernel_attention(nn->kernel) == CT_FUSED_BF16;
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
        j.bf16 = ct_kernel_attention(nn->kernel) == CT_FUSED_BF16;
        if (gram_by_rows(sp, B, heads, ex.nth)) {
            rows_job r;
            r.g = j;
            r.per_head = (size_t)j.Tp * hd * (2 * (size_t)j.ns + 1);
            r.packs = mem;
            r.g.scratch = mem + (size_t)B * heads * r.per_head;
            r.g.per_thread = rows_thread_floats(hd, j.ns);
            ct_run(&ex, rows_task, &r);
        } else {
            j.scratch = mem;
            j.per_thread = gram_thread_floats(j.Tp, hd, j.ns);
            if (ex.nth > B * heads) ex.nth = B * heads;
            ct_run(&ex, gram_task, &j);
        }
        (void)q0;
        (void)q1;
    }
    free(own);
    return 1;
}
