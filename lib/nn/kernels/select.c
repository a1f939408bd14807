/* The selection table: which registered kernel each precision and backend uses on the running
 * CPU, by vendor and features, and why (docs/performance.md, "Which kernel runs where"). The
 * first rule whose vendor, condition and kernel fit the CPU wins.
 *
 * The facts behind the rules (measured, 2 threads; the issue of matrix engines has the numbers):
 *   - Intel with AMX: AMX bf16 peaks at 15.6x the fp32 FMA rate; vdpbf16ps runs at half the fp32
 *     FMA rate, so the AVX512_BF16 kernel was slower than fp32 there.
 *   - AMD Zen 4 (AVX512_BF16, no AMX): vdpbf16ps does two products per lane at the FMA rate, the
 *     bf16 kernel is the faster one.
 *   - Intel: the fused attention kernels (tuned on AMD) lost against the unfused path (GEMM +
 *     softmax) at 197 tokens (0.63x CLIPtrase, 0.49x SCLIP) and 785 (SCLIP 0.90x); on Intel the
 *     unfused path runs, on the best GEMM kernel (AMX where present). */
#include "nn/kernels/registry.h"

#include "core/internal.h"


typedef struct {
    int vendor;           /* CT_CPU_*, or -1: any */
    ct_precision precision;
    ct_backend backend;
    int (*when)(void);    /* further condition, or NULL */
    const char *kernel;   /* registered id */
    const char *why;
} rule;


static const rule rules[] = {
    {-1, CT_PRECISION_FP32, CT_BACKEND_OPENBLAS, NULL, "openblas", "the openblas backend was asked for"},
    {-1, CT_PRECISION_BF16, CT_BACKEND_NATIVE, NULL, "amx_bf16", "AMX tiles: about 16x the fp32 FMA rate"},
    {CT_CPU_INTEL, CT_PRECISION_BF16, CT_BACKEND_NATIVE, ct_cpu_has_avx512bf16, "avx512_bf16r",
     "Intel without AMX: vdpbf16ps runs at half the fp32 FMA rate, so fp32 FMAs on bf16-rounded operands"},
    {-1, CT_PRECISION_BF16, CT_BACKEND_NATIVE, NULL, "avx512_bf16", "vdpbf16ps: two products per lane at the FMA rate (AMD Zen 4)"},
    {-1, CT_PRECISION_FP32, CT_BACKEND_NATIVE, NULL, "avx512_f32", "AVX-512 FMA"},
    {-1, CT_PRECISION_FP32, CT_BACKEND_NATIVE, NULL, "avx2_f32", "no AVX-512: AVX2 FMA"},
    {-1, CT_PRECISION_FP32, CT_BACKEND_NATIVE, NULL, "portable_f32", "no AVX2: plain C"},
};

static const rule *choose(ct_precision p, ct_backend b) {
    int v = ct_cpu_vendor();
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        const rule *r = &rules[i];
        if (r->precision != p || r->backend != b || (r->vendor >= 0 && r->vendor != v) || (r->when && !r->when())) continue;
        if (ct_kernel_available(ct_kernel_find(r->kernel))) return r;
    }
    return NULL;
}

ct_kernel ct_kernel_choose(ct_precision p, ct_backend b) {
    const rule *r = choose(p, b);
    return r ? ct_kernel_find(r->kernel) : CT_KERNEL_NONE;
}

const char *ct_kernel_why(ct_precision p, ct_backend b) {
    const rule *r = choose(p, b);
    return r ? r->why : "no kernel of this CPU computes it";
}

int ct_kernel_attention(ct_kernel k) {
    const ct_kernel_desc *d = ct_kernel_get(k);
    return d ? d->attention : CT_FUSED_NONE;
}

int ct_kernel_fused_attention(ct_kernel k) {
    if (ct_cpu_vendor() == CT_CPU_INTEL) return CT_FUSED_NONE; /* Intel: the unfused path was faster */
    return ct_kernel_attention(k);
}

const char *ct_kernel_name(ct_kernel k) {
    const ct_kernel_desc *d = ct_kernel_get(k);
    return d ? d->label : "none";
}

const char *ct_kernel_missing(ct_kernel k) {
    const ct_kernel_desc *d = ct_kernel_get(k);
    return d ? d->missing() : "no such kernel";
}

int ct_kernel_available(ct_kernel k) { return ct_kernel_missing(k) == NULL; }

ct_kernel ct_kernel_fp32(ct_kernel k) {
    const ct_kernel_desc *d = ct_kernel_get(k);
    return d ? ct_kernel_find(d->fp32) : CT_KERNEL_NONE;
}
