/* The GEMM driver (gemm.h): kernel choice, workspace, the packing phase, tiles of C, epilogues,
 * weights packed once, the symmetric product, and the OpenBLAS reference backend. */
#include "nn/gemm.h"

#include "nn/blas.h"
#include "nn/kernels/registry.h"
#include "nn/pack.h"

#include <sys/mman.h>
#include <unistd.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CT_MAX_THREADS_GEMM 64 /* tiles are chosen by simulating the schedule up to this many threads */
#define SERIAL_MACS 4e5 /* below this many multiply-adds a product runs on one thread */

static size_t round64(size_t b) { return (b + 63) & ~(size_t)63; }

size_t ct_gemm_workspace(ct_kernel k, int M, int N, int K, int packed_b) {
    const ct_kernel_desc *d = ct_kernel_get(k);
    if (!d || !d->fn) return 0;
    size_t a = round64(ct_pack_a_units(&d->pack, M, K) * 4);
    return packed_b ? a : a + round64(ct_pack_b_units(&d->pack, N, K) * 4);
}

typedef struct {
    const ct_kernel_desc *d;
    int M, N, K, transA, transB, lda, ldb, ldc;
    const float *A, *B;
    float *C;
    ct_epilogue e;
    void *Ap;       /* packed A */
    void *Bp;       /* packed B (a weight's, or packed in phase 1) */
    int pack_b;     /* phase 1 packs B into Bp */
    int MC, NT, tiles_m, tiles_n;
    int gram;       /* symmetric: only tiles reaching the diagonal, then mirror */
    int64_t n_tiles;
} gemm_job;

static void compute_tile(const gemm_job *g, int i0, int mb, int j0, int nb) {
    const ct_pack_shape *s = &g->d->pack;
    const int MR = s->MR, NR = s->NR, KC = g->d->kc;
    size_t kp = ct_pack_kp(s, g->K), slice = s->bf16 ? (size_t)KC / 2 : (size_t)KC;
    const uint32_t *Ap = g->Ap, *Bp = g->Bp;
    for (int k0 = 0; k0 < g->K; k0 += KC) {
        size_t koff = s->bf16 ? (size_t)k0 / 2 : (size_t)k0;
        int units = (int)(kp - koff < slice ? kp - koff : slice); /* the last slice: to the padded depth */
        ct_tile_epi te = {g->e.alpha, g->e.beta, k0 == 0, k0 + KC >= g->K, NULL, g->e.act, NULL, kp};
        for (int jp = 0; jp < nb; jp += NR) {
            int j = j0 + jp, cols = nb - jp < NR ? nb - jp : NR;
            const uint32_t *b = Bp + ((size_t)(j / NR) * kp + koff) * NR;
            te.bias = g->e.bias ? g->e.bias + j : NULL;
            for (int ip = 0; ip < mb; ip += MR) {
                int i = i0 + ip, rows = mb - ip < MR ? mb - ip : MR;
                const uint32_t *a = s->a_rows ? Ap + (size_t)(i / MR) * kp * MR + koff : Ap + ((size_t)(i / MR) * kp + koff) * MR;
                /* while the first A panel runs, the next B panel of the tile comes into L2 (after
                 * the last one: the first panel's next K slice) */
                te.next_b = NULL;
                if (ip == 0 && jp + NR < nb) te.next_b = b + kp * NR;
                else if (ip == 0 && k0 + KC < g->K) te.next_b = Bp + ((size_t)(j0 / NR) * kp + koff + slice) * NR;
                g->d->fn(units, a, b, g->C + (size_t)i * g->ldc + j, g->ldc, rows, cols, &te);
            }
        }
    }
}

/* lower triangle of C from the upper (bitwise equal: each product is the same sum), rows
 * [r0, r1) with r0 a multiple of 8: strips of 8 rows take the columns left of the diagonal block
 * as one block transpose (rows of the upper triangle read 8 floats at a time, not one) */
static void mirror_rows(const gemm_job *g, int64_t r0, int64_t r1) {
    float *C = g->C;
    size_t ldc = (size_t)g->ldc;
    for (int64_t i0 = r0; i0 < r1; i0 += 8) {
        int64_t h = r1 - i0 < 8 ? r1 - i0 : 8, done = 0;
        if (h == 8 && i0 >= 8) {
            ct_transpose_block(C + i0, ldc, (int)i0, 8, C + (size_t)i0 * ldc, ldc);
            done = i0;
        }
        for (int64_t i = i0; i < i0 + h; i++)
            for (int64_t j = done; j < i; j++) C[(size_t)i * ldc + j] = C[(size_t)j * ldc + i];
    }
}

static void gemm_task(void *arg, ct_team *team, int tid, int nth) {
    gemm_job *g = arg;
    const ct_pack_shape *s = &g->d->pack;
    int64_t b, e;
    int npa = (g->M + s->MR - 1) / s->MR, npb = (g->N + s->NR - 1) / s->NR;
    ct_split(npa, tid, nth, &b, &e);
    ct_pack_a(s, g->A, g->lda, g->transA, g->M, g->K, (int)b, (int)e, g->Ap);
    if (g->pack_b) {
        ct_split(npb, tid, nth, &b, &e);
        ct_pack_b(s, g->B, g->ldb, g->transB, g->N, g->K, (int)b, (int)e, g->Bp);
    }
    ct_team_barrier(team);
    if (g->d->thread_begin) g->d->thread_begin();
    for (;;) {
        int64_t t = ct_team_next(team, 0, 1);
        if (t >= g->n_tiles) break;
        int ti = (int)(t / g->tiles_n), tj = (int)(t % g->tiles_n);
        int i0 = ti * g->MC, j0 = tj * g->NT;
        if (g->gram && j0 + g->NT <= i0) continue; /* wholly below the diagonal: mirrored */
        int mb = g->M - i0 < g->MC ? g->M - i0 : g->MC, nb = g->N - j0 < g->NT ? g->N - j0 : g->NT;
        compute_tile(g, i0, mb, j0, nb);
    }
    if (g->d->thread_end) g->d->thread_end();
    if (g->gram) {
        ct_team_barrier(team);
        /* rows weighted by their length: split the triangle into equal areas */
        double n = g->M;
        int64_t r0 = (int64_t)(n * sqrt((double)tid / nth)) & ~(int64_t)7, r1 = (int64_t)(n * sqrt((double)(tid + 1) / nth)) & ~(int64_t)7;
        if (tid == nth - 1) r1 = g->M;
        mirror_rows(g, r0, r1);
    }
}

/* Time of the tiles on nth threads taking them in order from the shared counter, each tile
 * costing its area (padded to whole micro-panels) plus a fixed share for its edges. */
static double makespan(int npa, int npb, int mcp, int ncp, int nth) {
    double load[CT_MAX_THREADS_GEMM] = {0};
    int tm = (npa + mcp - 1) / mcp, tn = (npb + ncp - 1) / ncp;
    for (int ti = 0; ti < tm; ti++)
        for (int tj = 0; tj < tn; tj++) {
            int a = npa - ti * mcp < mcp ? npa - ti * mcp : mcp, b = npb - tj * ncp < ncp ? npb - tj * ncp : ncp;
            /* B panels are reused over a A panels and A over b B panels: small tiles cost more */
            double cost = (double)a * b * (1.0 + 0.5 / a + 0.25 / b);
            int k = 0;
            for (int t = 1; t < nth; t++)
                if (load[t] < load[k]) k = t;
            load[k] += cost;
        }
    double m = 0;
    for (int t = 0; t < nth; t++)
        if (load[t] > m) m = load[t];
    return m;
}

/* Tile sizes: around the defaults (MC_PANELS x NT_PANELS micro-panels), the split of rows and
 * columns into tiles of balanced sizes whose schedule on the threads ends first. */
static void choose_tiles(gemm_job *g, int nth) {
    const int MR = g->d->pack.MR, NR = g->d->pack.NR, MC_PANELS = g->d->mc_panels, NT_PANELS = g->d->nt_panels;
    int npa = (g->M + MR - 1) / MR, npb = (g->N + NR - 1) / NR;
    if (g->gram || nth > CT_MAX_THREADS_GEMM) {
        /* the defaults, shrunk until there are enough tiles for the threads */
        g->MC = MC_PANELS * MR;
        g->NT = NT_PANELS * NR;
        for (;;) {
            g->tiles_m = (g->M + g->MC - 1) / g->MC;
            g->tiles_n = (g->N + g->NT - 1) / g->NT;
            if ((int64_t)g->tiles_m * g->tiles_n >= 3 * (int64_t)nth) break;
            if (g->NT > 2 * NR) g->NT -= NR;
            else if (g->MC > 2 * MR) g->MC -= MR;
            else break;
        }
        return;
    }
    int tm0 = (npa + MC_PANELS - 1) / MC_PANELS, tn0 = (npb + NT_PANELS - 1) / NT_PANELS;
    int best_m = (npa + tm0 - 1) / tm0, best_n = (npb + tn0 - 1) / tn0;
    double best = makespan(npa, npb, best_m, best_n, nth);
    for (int tm = tm0; tm <= tm0 + 2 && tm <= npa; tm++)
        for (int tn = tn0; tn <= tn0 + 4 && tn <= npb; tn++) {
            int mcp = (npa + tm - 1) / tm, ncp = (npb + tn - 1) / tn;
            if (ncp < 2 && npb >= 2) continue;
            double t = makespan(npa, npb, mcp, ncp, nth);
            if (t < best * 0.999) { best = t; best_m = mcp; best_n = ncp; }
        }
    g->MC = best_m * MR;
    g->NT = best_n * NR;
    g->tiles_m = (g->M + g->MC - 1) / g->MC;
    g->tiles_n = (g->N + g->NT - 1) / g->NT;
}

static void *ws_take(const ct_nn *nn, size_t bytes, void **owned) {
    *owned = NULL;
    if (nn->ws && bytes <= nn->ws_bytes) return nn->ws;
    void *p = aligned_alloc(64, round64(bytes ? bytes : 64));
    *owned = p;
    return p;
}

static void openblas_epilogue(const ct_epilogue *e, int M, int N, float *C, int ldc) {
    if (!e->bias && e->act == CT_ACT_NONE) return;
    for (int i = 0; i < M; i++) {
        float *r = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++) {
            float v = r[j] + (e->bias ? e->bias[j] : 0.f);
            r[j] = ct_act_scalar(e->act, v);
        }
    }
}

/* The one entry: packs what is not packed, runs the tiles with kernel d (NULL: refused).
 * Bp_packed: B already packed. */
static int gemm_run(const ct_kernel_desc *d, const ct_nn *nn, int transA, int transB, int M, int N, int K, const float *A, int lda, const float *B,
                    int ldb, const void *Bp_packed, const ct_epilogue *e, float *C, int ldc, int gram) {
    ct_epilogue dflt = {1.f, 0.f, NULL, CT_ACT_NONE};
    if (!e) e = &dflt;
    if (M <= 0 || N <= 0) return 1;
    if (K <= 0) { /* an empty sum: C = act(bias) + beta C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float *c = C + (size_t)i * ldc + j;
                float v = (e->bias ? e->bias[j] : 0.f) + (e->beta != 0.f ? e->beta * *c : 0.f);
                *c = ct_act_scalar(e->act, v);
            }
        return 1;
    }
    if (!d) return 0;
    if (!d->fn) { /* nn/blas.c: fails (0) rather than let OpenBLAS spin on short memory */
        if (!ct_blas_sgemm(transA, transB, M, N, K, e->alpha, A, lda, B, ldb, e->beta, C, ldc, NULL)) return 0;
        openblas_epilogue(e, M, N, C, ldc);
        return 1;
    }
    gemm_job g;
    memset(&g, 0, sizeof g);
    g.d = d;
    g.M = M; g.N = N; g.K = K; g.transA = transA; g.transB = transB; g.lda = lda; g.ldb = ldb; g.ldc = ldc;
    g.A = A; g.B = B; g.C = C; g.e = *e; g.gram = gram;
    size_t abytes = round64(ct_pack_a_units(&d->pack, M, K) * 4);
    size_t bbytes = Bp_packed ? 0 : round64(ct_pack_b_units(&d->pack, N, K) * 4);
    void *owned;
    uint8_t *ws = ws_take(nn, abytes + bbytes, &owned);
    if (!ws) return 0;
    g.Ap = ws;
    g.Bp = Bp_packed ? (void *)Bp_packed : (void *)(ws + abytes);
    g.pack_b = !Bp_packed;
    ct_exec ex = nn->ex;
    if ((double)M * N * K < SERIAL_MACS) ex.nth = 1;
    choose_tiles(&g, ex.nth);
    g.n_tiles = (int64_t)g.tiles_m * g.tiles_n;
    ct_run(&ex, gemm_task, &g);
    free(owned);
    return 1;
}

int ct_gemm(const ct_nn *nn, int transA, int transB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
            const ct_epilogue *e, float *C, int ldc) {
    return gemm_run(ct_kernel_get(nn->kernel), nn, transA, transB, M, N, K, A, lda, B, ldb, NULL, e, C, ldc, 0);
}

int ct_gemm_with(const ct_kernel_desc *d, const ct_nn *nn, int transA, int transB, int M, int N, int K, const float *A, int lda,
                 const float *B, int ldb, const ct_epilogue *e, float *C, int ldc, int gram) {
    return gemm_run(d, nn, transA, transB, M, N, K, A, lda, B, ldb, NULL, e, C, ldc, gram && d && d->fn);
}

int ct_gram(const ct_nn *nn, int N, int K, const float *X, int ldx, float alpha, float *C, int ldc) {
    ct_epilogue e = {alpha, 0.f, NULL, CT_ACT_NONE};
    const ct_kernel_desc *d = ct_kernel_get(nn->kernel);
    return gemm_run(d, nn, 0, 1, N, N, K, X, ldx, X, ldx, NULL, &e, C, ldc, d && d->fn);
}

typedef struct {
    ct_pack_shape s;
    const float *w;
    int N, K, trans;
    void *dst;
} wpack_job;

static void wpack_task(void *arg, ct_team *team, int tid, int nth) {
    (void)team;
    wpack_job *j = arg;
    int np = (j->N + j->s.NR - 1) / j->s.NR;
    int64_t b, e;
    ct_split(np, tid, nth, &b, &e);
    ct_pack_b(&j->s, j->w, j->trans ? j->N : j->K, !j->trans, j->N, j->K, (int)b, (int)e, j->dst);
}

/* the whole pages inside each part of a mapped weight: dropped from memory (a private read-only
 * file mapping re-reads them from the file if they are ever touched again) */
static void release_pages(const ct_weight *w) {
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < w->n_parts; i++) {
        size_t n = w->n_parts > 1 ? (size_t)w->part_rows[i] * (size_t)w->K : (size_t)w->N * (size_t)w->K;
        uintptr_t a = (uintptr_t)w->part[i], e = a + n * sizeof(float);
        uintptr_t a0 = (a + pg - 1) & ~(pg - 1), e0 = e & ~(pg - 1);
        if (e0 > a0) madvise((void *)a0, e0 - a0, MADV_DONTNEED);
    }
}

int ct_weight_pack(ct_weight *w, ct_kernel k, const ct_exec *ex, pthread_mutex_t *lock) {
    const ct_kernel_desc *d = ct_kernel_get(k);
    if (atomic_load_explicit(&w->packed, memory_order_acquire) || !d || !d->fn) return 1;
    if (lock) pthread_mutex_lock(lock);
    int ok = 1;
    if (!atomic_load_explicit(&w->packed, memory_order_acquire)) {
        void *p = ct_alloc_large(round64(ct_pack_b_units(&d->pack, w->N, w->K) * 4));
        float *cat = NULL;
        const float *src = w->part[0];
        if (p && w->n_parts > 1) { /* row blocks stored apart: one contiguous copy while packing */
            cat = ct_alloc((size_t)w->N * (size_t)w->K, sizeof(float));
            if (cat) {
                size_t off = 0;
                for (int i = 0; i < w->n_parts; i++) {
                    memcpy(cat + off, w->part[i], sizeof(float) * (size_t)w->part_rows[i] * (size_t)w->K);
                    off += (size_t)w->part_rows[i] * (size_t)w->K;
                }
            }
            src = cat;
        }
        if (!p || !src) ok = 0;
        else {
            wpack_job j = {d->pack, src, w->N, w->K, w->trans, p};
            ct_run(ex, wpack_task, &j);
            atomic_store_explicit(&w->packed, p, memory_order_release);
            p = NULL;
            if (w->mapped) release_pages(w);
        }
        free(cat);
        free(p);
    }
    if (lock) pthread_mutex_unlock(lock);
    return ok;
}

void ct_weight_release(ct_weight *w) {
    free(atomic_load(&w->packed));
    atomic_store(&w->packed, NULL);
}

int ct_linear(const ct_nn *nn, int M, const float *x, int ldx, ct_weight *w, pthread_mutex_t *pack_lock, const ct_epilogue *e,
              float *y, int ldy) {
    void *packed = NULL;
    const ct_kernel_desc *d = ct_kernel_get(nn->kernel);
    if (d && d->fn) {
        packed = atomic_load_explicit(&w->packed, memory_order_acquire);
        if (!packed && pack_lock && atomic_fetch_add(&w->uses, 1) >= 1) { /* a second use: pack for good */
            if (!ct_weight_pack(w, nn->kernel, &nn->ex, pack_lock)) return 0;
            packed = atomic_load_explicit(&w->packed, memory_order_acquire);
        }
    }
    if (packed)
        return gemm_run(d, nn, 0, !w->trans, M, w->N, w->K, x, ldx, NULL, 0, packed, e, y, ldy, 0);
    /* the first use (packed into the call's workspace) and the OpenBLAS reference: one product
     * per row block of the weight, into its columns of y */
    int col = 0, ok = 1;
    for (int i = 0; i < w->n_parts && ok; i++) {
        int n = w->n_parts > 1 ? w->part_rows[i] : w->N;
        ct_epilogue ei = e ? *e : (ct_epilogue){1.f, 0.f, NULL, CT_ACT_NONE};
        if (ei.bias) ei.bias += col;
        ok = gemm_run(d, nn, 0, !w->trans, M, n, w->K, x, ldx, w->part[i], w->trans ? w->N : w->K, NULL, &ei, y + col, ldy, 0);
        col += n;
    }
    return ok;
}
