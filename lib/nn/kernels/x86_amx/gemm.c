/* AMX bf16 micro-kernel: a 32 x 32 fp32 tile of C held in four AMX accumulator tiles (2 x 2
 * blocking: two A tiles of 16 rows x 32 bf16, two B tiles of 16 pair-rows x 16 columns, each A
 * and B tile used twice per step). Per 32 values of k: 4 tile loads, 4 TDPBF16PS.
 *
 * Operands (pack.h, kalign 16): A panels row-major, each row kp pairs (bf16 of k, k+1) apart by
 * e->lda units (4 bytes); B panels [kp][32] pairs, which is the B tile layout of TDPBF16PS (row kk
 * of the tile holds, for each of 16 columns, the pair (B[2kk][n], B[2kk+1][n])). kp is a multiple
 * of 16, padded with zeros, so every tile is full.
 *
 * TDPBF16PS tC, tA, tB: for m < 16, n < 16, kk < 16: C[m][n] += A[m][2kk] B[2kk][n] + A[m][2kk+1]
 * B[2kk+1][n] (fp32 accumulation; denormal bf16 inputs are read as zero), Intel SDM vol. 2 / the
 * AMX chapter of the Intel optimization manual.
 *
 * The tile configuration (palette 1, eight tiles of 16 rows x 64 bytes) is per thread state:
 * ct_amx_thread_begin loads it in each worker before its first tile (the GEMM driver calls it
 * through the kernel's descriptor), ct_amx_thread_end releases the tiles. The process's tile
 * permission was asked by ct_cpu_has_amx_bf16 (core/cpu.c), which the registry's CPU test calls
 * before any product can choose this kernel.
 *
 * This machine class (AMD EPYC) has no AMX: the kernel is compiled everywhere and run only where
 * CPUID, XCR0 and the permission say yes (test_gemm runs it there against the fp32 reference). */
#include "nn/kernels/ukernel.h"

#include <string.h>

#if defined(CT_AMX_EMULATE) /* test_amx: this file's code on an emulated tile unit (the test
                                defines _tile_* and renames the functions) */
#define AMX_TARGET
#elif defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bf16")))
#endif

#ifdef AMX_TARGET

/* LDTILECFG's 64-byte operand (palette 1) */
typedef struct {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16]; /* bytes per row of tile t */
    uint8_t rows[16];   /* rows of tile t */
} __attribute__((aligned(64))) tilecfg;

AMX_TARGET void ct_amx_thread_begin(void) {
    tilecfg c;
    memset(&c, 0, sizeof c);
    c.palette_id = 1;
    for (int t = 0; t < 8; t++) { /* 0-3: C (16 x 16 fp32), 4-5: A (16 x 32 bf16), 6-7: B (16 x 16 pairs) */
        c.rows[t] = 16;
        c.colsb[t] = 64;
    }
    _tile_loadconfig(&c);
}

AMX_TARGET void ct_amx_thread_end(void) { _tile_release(); }

AMX_TARGET void ct_uk_amx_bf16(int kp, const void *Ap_, const void *Bp_, float *C, int ldc, int rows, int cols, const ct_tile_epi *e) {
    const uint32_t *Ap = Ap_, *Bp = Bp_;
    const size_t sa = e->lda * 4, sb = 32 * 4; /* bytes between rows of an A / B tile */
    float acc[32][32] __attribute__((aligned(64)));
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int kk = 0; kk < kp; kk += 16) {
        const uint32_t *a = Ap + kk, *b = Bp + (size_t)kk * 32;
        _tile_loadd(4, a, sa);
        _tile_loadd(5, a + 16 * e->lda, sa);
        _tile_loadd(6, b, sb);
        _tile_loadd(7, b + 16, sb);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, &acc[0][0], 128);
    _tile_stored(1, &acc[0][16], 128);
    _tile_stored(2, &acc[16][0], 128);
    _tile_stored(3, &acc[16][16], 128);
    ct_store_rows_avx512(&acc[0][0], 32, C, ldc, rows, cols, e);
}

#else

void ct_amx_thread_begin(void) {}
void ct_amx_thread_end(void) {}
void ct_uk_amx_bf16(int kp, const void *Ap, const void *Bp, float *C, int ldc, int rows, int cols, const ct_tile_epi *e) {
    (void)kp; (void)Ap; (void)Bp; (void)C; (void)ldc; (void)rows; (void)cols; (void)e;
}

#endif
