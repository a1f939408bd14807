/* Attention micro-kernels (kernels/x86_avx512/attn.c), in the "transposed" layout of the fused
 * attention: a block of CT_AQ = 48 queries lies along the vector lanes (3 x 16), keys and head
 * dimensions along rows. Every per-query quantity (running max, sum, rescale factor) is then a
 * vector and no step needs a horizontal reduction.
 *   S^T [keys x 48]    scores of 8-key panels of K against the block's queries
 *   P   [keys x 48]    probabilities, already in the layout the P V product reads
 *   O^T [hd x 48]      the output block, rescaled lane by lane */
#ifndef CT_NN_ATTN_KERNELS_H
#define CT_NN_ATTN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define CT_AQ 48 /* queries per block */
#define CT_AP 8  /* keys per K panel, head dimensions per V panel */

/* Every kernel works on `groups` (1..3) groups of 16 query lanes: lanes beyond 16 * groups are
 * neither read nor written (a block's last, partial, lanes). */

/* S[r * 48 + i] = scale * sum_d A[d * 8 + r] * Q[d * 48 + i], r < 8: one 8-key panel
 * (A: [hd][8]) against the packed queries (Q: [hd][48]). */
void ct_attn_qk_8x48(int groups, int hd, const float *A, const float *Q, float scale, float *S);
/* O[r * 48 + i] = O[r * 48 + i] * alpha[i] + sum_k V[k * 8 + r] * P[k * 48 + i], r < 8: one
 * 8-dimension panel of V (V: [kb][8]) times P ([kb][48]). alpha NULL: plain accumulate. */
void ct_attn_pv_8x48(int groups, int kb, const float *V, const float *P, const float *alpha, float *O);
/* Online softmax over kb rows of S [kb][48] for each lane: m_new = max(m, max_rows S);
 * alpha = exp(m - m_new); S = exp(S - m_new) in place; l = l * alpha + sum_rows S; m = m_new. */
void ct_attn_online(int groups, int kb, float *S, float *m, float *l, float *alpha);
/* P (+)= exp(S - m) * inv_l lane by lane over kb rows (first: P = ...). */
void ct_attn_prob(int groups, int kb, const float *S, const float *m, const float *inv_l, float *P, int first);
/* NACLIP's prior: S[r * 48 + i] += table[|qy - ky| * gw + |qx - kx|] for keys k0 + r (r < kb) and
 * queries qs + i (i < nq), where a token t >= 1 sits at grid position ((t-1) / gw, (t-1) % gw);
 * the CLS token (0) gets no prior. */
void ct_attn_add_prior(int kb, int k0, int qs, int nq, int gw, const float *table, float *S);
/* bf16 variants (AVX512_BF16; the bf16 precision): operands are 32-bit pairs of bfloat16 along
 * the summed dimension (head dimensions d, d+1 for the scores; keys k, k+1 for P V), products
 * summed in fp32. A: [hd/2][8] pairs, Q: [hd/2][48] pairs; V: [kb/2][8] pairs, P: [kb/2][48] pairs. */
void ct_attn_qk_8x48_bf16(int groups, int hd2, const uint32_t *A, const uint32_t *Q, float scale, float *S);
void ct_attn_pv_8x48_bf16(int groups, int kb2, const uint32_t *V, const uint32_t *P, const float *alpha, float *O);
/* P [kb][48] fp32 -> Pb [kb/2][48] pairs (rows 2k, 2k+1), kb even */
void ct_attn_p_to_bf16(int groups, int kb, const float *P, uint32_t *Pb);
/* rows 2k, 2k+1 of X (n x hd fp32, stride ld) as pairs [n/2][hd] (pair c = (X[2k][c], X[2k+1][c]));
 * a missing odd row is 0 */
void ct_attn_rows_to_bf16_pairs(const float *X, size_t ld, int n, int hd, uint32_t *dst);
/* each row of X (n x hd) as hd/2 pairs along d: dst[r * hd/2 + dd] */
void ct_attn_cols_to_bf16_pairs(const float *X, size_t ld, int n, int hd, uint32_t *dst);
/* dst[c * 48 + r] = src[r * 48 + c] for a 48 x 48 block. */
void ct_attn_transpose48(const float *src, float *dst);

#endif
