/* The selection table: which registered kernel each precision and backend uses on a CPU, by
 * vendor and features, and why (docs/performance.md, "Which kernel runs where"). The first rule
 * whose vendor and features fit the CPU, and whose kernel the CPU runs, wins.
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
    int vendor;     /* CT_CPU_*, or -1: any */
    unsigned needs; /* CPU features the rule needs beyond its kernel's (CT_FEAT_*) */
    ct_precision precision;
    ct_backend backend;
    const char *kernel; /* registered id */
    const char *why;
} rule;

static const rule rules[] = {
    {-1, 0, CT_PRECISION_FP32, CT_BACKEND_OPENBLAS, "openblas", "the openblas backend was asked for"},
    {-1, 0, CT_PRECISION_BF16, CT_BACKEND_NATIVE, "amx_bf16", "AMX tiles: about 16x the fp32 FMA rate"},
    {CT_CPU_INTEL, CT_FEAT_AVX512BF16, CT_PRECISION_BF16, CT_BACKEND_NATIVE, "avx512_bf16r",
     "Intel without AMX: vdpbf16ps runs at half the fp32 FMA rate, so fp32 FMAs on bf16-rounded operands"},
    {-1, 0, CT_PRECISION_BF16, CT_BACKEND_NATIVE, "avx512_bf16", "vdpbf16ps: two products per lane at the FMA rate (AMD Zen 4)"},
    {-1, 0, CT_PRECISION_FP32, CT_BACKEND_NATIVE, "avx512_f32", "AVX-512 FMA"},
    {-1, 0, CT_PRECISION_FP32, CT_BACKEND_NATIVE, "avx2_f32", "no AVX-512: AVX2 FMA"},
    {-1, 0, CT_PRECISION_FP32, CT_BACKEND_NATIVE, "portable_f32", "no AVX2: plain C"},
};

ct_cpu_facts ct_cpu_facts_here(void) {
    ct_cpu_facts c = {ct_cpu_vendor(), 0};
    if (ct_cpu_has_avx2()) c.features |= CT_FEAT_AVX2;
    if (ct_cpu_has_avx512()) c.features |= CT_FEAT_AVX512;
    if (ct_cpu_has_avx512bf16()) c.features |= CT_FEAT_AVX512BF16;
    if (ct_cpu_has_amx_bf16()) c.features |= CT_FEAT_AMX_BF16;
    return c;
}

ct_kernel ct_kernel_select(const ct_cpu_facts *cpu, ct_precision p, ct_backend b, const char **why) {
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        const rule *r = &rules[i];
        ct_kernel k = ct_kernel_find(r->kernel);
        const ct_kernel_desc *d = ct_kernel_get(k);
        if (!d || r->precision != p || r->backend != b || (r->vendor >= 0 && r->vendor != cpu->vendor)) continue;
        if ((cpu->features & (r->needs | d->needs)) != (r->needs | d->needs)) continue;
        if (why) *why = r->why;
        return k;
    }
    if (why) *why = "no kernel of this CPU computes it";
    return CT_KERNEL_NONE;
}

int ct_fused_attention_used(const ct_cpu_facts *cpu) { return cpu->vendor != CT_CPU_INTEL; }

ct_kernel ct_kernel_choose(ct_precision p, ct_backend b) {
    ct_cpu_facts c = ct_cpu_facts_here();
    return ct_kernel_select(&c, p, b, NULL);
}

const char *ct_kernel_why(ct_precision p, ct_backend b) {
    ct_cpu_facts c = ct_cpu_facts_here();
    const char *why;
    ct_kernel_select(&c, p, b, &why);
    return why;
}

int ct_kernel_attention(ct_kernel k) {
    const ct_kernel_desc *d = ct_kernel_get(k);
    return d ? d->attention : CT_FUSED_NONE;
}

int ct_kernel_fused_attention(ct_kernel k) {
    ct_cpu_facts c = ct_cpu_facts_here();
    return ct_fused_attention_used(&c) ? ct_kernel_attention(k) : CT_FUSED_NONE;
}

const char *ct_kernel_name(ct_kernel k) {
    const ct_kernel_desc *d = ct_kernel_get(k);
    return d ? d->label : "none";
}

/* the first feature the kernel needs that this CPU lacks, as a one-line reason */
const char *ct_kernel_missing(ct_kernel k) {
    const ct_kernel_desc *d = ct_kernel_get(k);
    if (!d) return "no such kernel";
    unsigned lack = d->needs & ~ct_cpu_facts_here().features;
    if (lack & CT_FEAT_AVX2) return "no AVX2 + FMA on this CPU";
    if (lack & CT_FEAT_AVX512) return "no AVX-512 on this CPU (avx512f)";
    if (lack & CT_FEAT_AVX512BF16) return "no AVX512_BF16 on this CPU (avx512_bf16)";
    if (lack & CT_FEAT_AMX_BF16) return ct_cpu_amx_reason();
    return NULL;
}

int ct_kernel_available(ct_kernel k) { return ct_kernel_missing(k) == NULL; }

ct_kernel ct_kernel_fp32(ct_kernel k) {
    const ct_kernel_desc *d = ct_kernel_get(k);
    return d ? ct_kernel_find(d->fp32) : CT_KERNEL_NONE;
}
