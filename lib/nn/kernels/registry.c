/* The kernel registry (registry.h): one line per kernel. Order is the listing order only; which
 * kernel a CPU uses is the selection table's business (select.c). */
#include "nn/kernels/registry.h"

#include <string.h>

#define F512 CT_FEAT_AVX512
#define BF16 (CT_FEAT_AVX512 | CT_FEAT_AVX512BF16)
#define AMX (CT_FEAT_AVX512 | CT_FEAT_AVX512BF16 | CT_FEAT_AMX_BF16)

/* clang-format off */
static const ct_kernel_desc registry[] = {
    /* id             label                                               precision          {MR, NR, bf16, round, a_rows, kalign} MC  KC   NT  micro-kernel        needs         fp32 kernel     fused attention  per-thread hooks */
    {"avx512_f32",   "fp32 avx512 (14x32)",                              CT_PRECISION_FP32, {14, 32, 0, 0, 0, 0},  12, 256, 8, ct_uk_avx512_f32,   F512,         "avx512_f32",   CT_FUSED_F32,  NULL, NULL},
    {"avx512_bf16",  "bf16 avx512-bf16 (14x32)",                         CT_PRECISION_BF16, {14, 32, 1, 0, 0, 0},  12, 256, 8, ct_uk_avx512_bf16,  BF16,         "avx512_f32",   CT_FUSED_BF16, NULL, NULL},
    {"avx512_bf16r", "bf16 as fp32 FMA on bf16-rounded operands (14x32)", CT_PRECISION_BF16, {14, 32, 0, 1, 0, 0},  12, 256, 8, ct_uk_avx512_f32,   F512,         "avx512_f32",   CT_FUSED_BF16, NULL, NULL},
    {"amx_bf16",     "bf16 amx (32x32, 2x2 tiles)",                      CT_PRECISION_BF16, {32, 32, 1, 0, 1, 16}, 6,  512, 8, ct_uk_amx_bf16,     AMX,          "avx512_f32",   CT_FUSED_BF16, ct_amx_thread_begin, ct_amx_thread_end},
    {"avx2_f32",     "fp32 avx2 (6x16)",                                 CT_PRECISION_FP32, {6, 16, 0, 0, 0, 0},   12, 256, 8, ct_uk_avx2_f32,     CT_FEAT_AVX2, "avx2_f32",     CT_FUSED_NONE, NULL, NULL},
    {"portable_f32", "fp32 portable (4x16)",                             CT_PRECISION_FP32, {4, 16, 0, 0, 0, 0},   12, 256, 8, ct_uk_portable_f32, 0,            "portable_f32", CT_FUSED_NONE, NULL, NULL},
    {"openblas",     "fp32 openblas sgemm",                              CT_PRECISION_FP32, {4, 16, 0, 0, 0, 0},   12, 256, 8, NULL,               0,            "openblas",     CT_FUSED_NONE, NULL, NULL},
};
/* clang-format on */

int ct_kernel_count(void) { return (int)(sizeof registry / sizeof registry[0]); }

const ct_kernel_desc *ct_kernel_get(ct_kernel k) { return k >= 0 && k < ct_kernel_count() ? &registry[k] : NULL; }

ct_kernel ct_kernel_find(const char *id) {
    for (int k = 0; id && k < ct_kernel_count(); k++)
        if (!strcmp(registry[k].id, id)) return k;
    return CT_KERNEL_NONE;
}
