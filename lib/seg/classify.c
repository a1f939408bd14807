/* Classification of the mmseg-family heads (SCLIP's / NACLIP's postprocess_result):
 *   probs = softmax over names of scale * logits; a label's probability is the maximum over its
 *   names (0 for a label without names, as the references' one-hot product gives);
 *   area_thd > 0: labels 1.. whose area in the argmax of these probabilities is at most
 *   area_thd times the summed area of labels 1.. get probability 0 (SCLIP: `area_pred >
 *   area_thd * area_pred.sum()` keeps a label, in float32); label 0 is never dropped;
 *   pred = argmax over labels (the first maximum); pixels whose best probability is below
 *   prob_thd get label 0.
 * Pixels are processed in chunks of XCHUNK along the flattened image: the names' exponentials of a
 * chunk stay in a per-thread scratch, and every loop runs along the pixels (vectorised). Nothing
 * of size labels x H x W is stored unless the caller asks for the probabilities; when area_thd
 * drops a label, the chunks holding its pixels are recomputed. */
#include "seg/classify.h"

#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XCHUNK 64

typedef struct {
    const float *logits; /* [N x HW] */
    int N;
    size_t HW;
    const ct_classify_params *cp;
    const uint8_t *drop; /* [L] labels set to 0 (pass 2), or NULL (pass 1) */
    int32_t *labels;     /* [HW] argmax */
    float *maxp;         /* [HW] best probability */
    float *probs;        /* [L x HW] or NULL */
    float *scratch;      /* per thread: [(N + L + 2) x XCHUNK] */
    size_t scratch_floats;
} cls_job;

/* Label probabilities P [L x XCHUNK] of pixels [p0, p0 + np). e: [N x XCHUNK], mx, sum: [XCHUNK]. */
CT_VECTOR_CLONES static void chunk_probs(const cls_job *j, size_t p0, int np, float *e, float *mx, float *sum, float *P) {
    const float s = j->cp->scale;
    const int N = j->N, L = j->cp->n_labels;
    const int32_t *nl = j->cp->name_label;
    for (int x = 0; x < np; x++) {
        mx[x] = -INFINITY;
        sum[x] = 0.f;
    }
    for (int n = 0; n < N; n++) {
        const float *restrict l = j->logits + (size_t)n * j->HW + p0;
        for (int x = 0; x < np; x++) {
            float v = s * l[x];
            mx[x] = v > mx[x] ? v : mx[x];
        }
    }
    for (int n = 0; n < N; n++) {
        const float *restrict l = j->logits + (size_t)n * j->HW + p0;
        float *restrict en = e + (size_t)n * XCHUNK;
        for (int x = 0; x < np; x++) {
            en[x] = ct_expf(s * l[x] - mx[x]);
            sum[x] += en[x];
        }
    }
    memset(P, 0, sizeof(float) * (size_t)L * XCHUNK);
    for (int n = 0; n < N; n++) {
        const float *restrict en = e + (size_t)n * XCHUNK;
        float *restrict pl = P + (size_t)(nl ? nl[n] : n) * XCHUNK;
        for (int x = 0; x < np; x++) {
            float pr = en[x] / sum[x];
            pl[x] = pr > pl[x] ? pr : pl[x];
        }
    }
}

static void cls_task(void *arg, ct_team *team, int tid, int nth) {
    (void)team;
    cls_job *j = arg;
    const int L = j->cp->n_labels;
    float *e = j->scratch + (size_t)tid * j->scratch_floats;
    float *P = e + (size_t)j->N * XCHUNK, *mx = P + (size_t)L * XCHUNK, *sum = mx + XCHUNK;
    int64_t nch = (int64_t)((j->HW + XCHUNK - 1) / XCHUNK), c0, c1;
    ct_split(nch, tid, nth, &c0, &c1);
    for (int64_t c = c0; c < c1; c++) {
        size_t p0 = (size_t)c * XCHUNK;
        int np = j->HW - p0 < XCHUNK ? (int)(j->HW - p0) : XCHUNK;
        if (j->drop) {
            /* pass 2: only chunks with a pixel whose label was dropped change */
            int any = 0;
            for (int x = 0; x < np && !any; x++) any = j->drop[j->labels[p0 + x]];
            if (!any) continue;
        }
        chunk_probs(j, p0, np, e, mx, sum, P);
        if (j->drop)
            for (int l = 1; l < L; l++)
                if (j->drop[l]) memset(P + (size_t)l * XCHUNK, 0, sizeof(float) * XCHUNK);
        for (int x = 0; x < np; x++) {
            float best = P[x];
            int32_t bl = 0;
            for (int l = 1; l < L; l++)
                if (P[(size_t)l * XCHUNK + x] > best) {
                    best = P[(size_t)l * XCHUNK + x];
                    bl = l;
                }
            j->labels[p0 + x] = bl;
            j->maxp[p0 + x] = best;
        }
        if (j->probs && !j->drop)
            for (int l = 0; l < L; l++) memcpy(j->probs + (size_t)l * j->HW + p0, P + (size_t)l * XCHUNK, sizeof(float) * (size_t)np);
    }
}

static size_t scratch_floats(int N, int L) { return ((size_t)N + (size_t)L + 2) * XCHUNK; }

size_t ct_classify_workspace(size_t HW, int N, int L, int n_threads) {
    double b = 4.0 * (double)HW + 4.0 * (n_threads > 0 ? n_threads : 1) * (double)scratch_floats(N, L) + 9.0 * L; /* drop, areas */
    return b < (double)(SIZE_MAX / 2) ? (size_t)b : 0;
}

ct_status ct_classify(const ct_exec *ex, const float *logits, int N, size_t HW, const ct_classify_params *cp, int32_t *labels,
                      float *probs, int *n_thresholded, ct_error *err) {
    int L = cp->n_labels;
    ct_exec e1 = ex ? *ex : ct_exec_serial();
    int64_t nch = (int64_t)((HW + XCHUNK - 1) / XCHUNK);
    if (e1.nth > nch) e1.nth = (int)nch;
    if (e1.nth < 1) e1.nth = 1;
    size_t sf = scratch_floats(N, L);
    float *maxp = ct_alloc(HW, sizeof(float));
    float *scratch = ct_alloc((size_t)e1.nth * sf, sizeof(float));
    uint8_t *drop = ct_calloc((size_t)L, 1);
    int areas = cp->area_thd > 0 && L > 1;
    size_t *area = areas ? ct_calloc((size_t)L, sizeof(size_t)) : NULL;
    /* everything is allocated before labels and probs are written: a failure leaves them untouched */
    if (!maxp || !scratch || !drop || (areas && !area)) {
        free(maxp); free(scratch); free(drop); free(area);
        return ct_fail(err, CT_ERR_NOMEM, "out of memory for the class probabilities");
    }
    cls_job j = {logits, N, HW, cp, NULL, labels, maxp, probs, scratch, sf};
    ct_run(&e1, cls_task, &j);
    if (areas) {
        for (size_t i = 0; i < HW; i++) area[labels[i]]++;
        /* float32, as the reference: area > area_thd * sum of the areas of labels 1.. */
        float total = 0.f;
        for (int l = 1; l < L; l++) total += (float)area[l];
        float thr = cp->area_thd * total;
        int any = 0;
        for (int l = 1; l < L; l++) {
            drop[l] = !((float)area[l] > thr);
            any |= drop[l] && area[l] > 0;
        }
        if (probs)
            for (int l = 1; l < L; l++)
                if (drop[l]) memset(probs + (size_t)l * HW, 0, sizeof(float) * HW);
        if (any) {
            j.drop = drop;
            ct_run(&e1, cls_task, &j);
        }
    }
    int nt = 0;
    for (size_t i = 0; i < HW; i++)
        if (maxp[i] < cp->prob_thd) {
            labels[i] = 0;
            nt++;
        }
    if (n_thresholded) *n_thresholded = nt;
    free(maxp); free(scratch); free(drop); free(area);
    return ct_ok(err);
}
