/* make bench, part 3: the large backbones (issue 21). ViT-H/14 (open_clip's shapes: width 1280,
 * 32 blocks, heads of 80, exact GELU; random weights from ct-random-weights --arch H/14, F32 so
 * that the process maps them in place) at 224 and 448: in-process CLIPtrase segmentation fp32 and
 * bf16, and the whole demo process (classes from its cache), next to ONNX Runtime's plain forward
 * of the same architecture (bench/vit_onnx.py --arch H/14, bench/ort_anchor.sh 224,448 h14)
 * measured before and after ours in the same run. Without the anchor set up, the ratios are left
 * out and the run says how to set it up. Needs ~8 GB of disk and ~5 GB of memory. */
#include "bench.h"
#include "cliptrase.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const ct_model *m;
    const float *px, *emb;
    int S, n;
} seg_arg;

static void run_seg(void *p) {
    seg_arg *a = p;
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)a->S * a->S);
    ct_segment_params sp;
    ct_segment_params_default(&sp);
    ct_error err;
    if (ct_segment(a->m, a->px, a->S, a->S, a->emb, a->n, NULL, &sp, lab, NULL, &err)) printf("  segment: %s\n", err.msg);
    free(lab);
}

static void run_cmd(void *p) {
    if (system((const char *)p) != 0) printf("  command failed: %s\n", (const char *)p);
}

/* medians of bench/ort_anchor.sh's "ORT S=<side> min/med a/b s" lines for 224 and 448, or 0 */
static void ort_anchor(double med[2]) {
    med[0] = med[1] = 0;
    FILE *f = popen("sh bench/ort_anchor.sh 224,448 h14 2>&1", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int S;
        double mn, md;
        if (sscanf(line, "ORT S=%d min/med %lf/%lfs", &S, &mn, &md) == 3 && (S == 224 || S == 448)) med[S == 448] = md;
        else printf("  ort: %s", line);
    }
    pclose(f);
}

int main(void) {
    const char *oracle = getenv("CT_ORACLE_DIR"), *bd = getenv("CT_BUILD_DIR");
    if (!oracle || !*oracle) oracle = "../shared/oracle";
    char bin[512], dir[64] = "/tmp/ct-bench-h14-XXXXXX", model[600], cmd[4096];
    snprintf(bin, sizeof bin, "%s/bin", bd && *bd ? bd : "build/release");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    snprintf(model, sizeof model, "%s/h14.safetensors", dir);
    snprintf(cmd, sizeof cmd, "%s/ct-random-weights --arch H/14 --naming openai --dtype F32 -o %s", bin, model);
    if (system(cmd) != 0) { printf("cannot make %s\n", model); return 1; }
    ct_error err;
    ct_model *m = NULL, *mb = NULL;
    if (ct_model_load(model, &m, &err)) { printf("%s\n", err.msg); return 1; }
    ct_load_params lp;
    ct_load_params_default(&lp);
    lp.precision = CT_PRECISION_BF16;
    int has_bf16 = ct_model_load_ex(model, &lp, &mb, &err) == CT_OK;
    char desc[1200];
    ct_model_describe(m, desc, sizeof desc);
    printf("== ViT-H/14 random weights (F32 file, OpenAI / open_clip names)\n%s\n", desc);
    int n = 8, E = ct_model_config(m)->embed_dim;
    float *emb = calloc((size_t)n * E, sizeof(float));
    for (int i = 0; i < n; i++) emb[(size_t)i * E + (size_t)i * 7 % E] = 1.f;

    double ort1[2], ort2[2], ort[2], t32[2], tbf[2] = {0, 0}, tproc[2];
    const int sides[2] = {224, 448};
    ort_anchor(ort1);
    for (int k = 0; k < 2; k++) {
        int S = sides[k];
        float *px = malloc(sizeof(float) * 3 * (size_t)S * S);
        for (size_t i = 0; i < 3 * (size_t)S * S; i++) px[i] = (float)((i * 7919) % 1000) / 500.f - 1.f;
        seg_arg a = {m, px, emb, S, n};
        t32[k] = bench_median(run_seg, &a, 3);
        if (has_bf16) {
            a.m = mb;
            tbf[k] = bench_median(run_seg, &a, 3);
        }
        free(px);
        char img[600];
        snprintf(img, sizeof img, "%s/img%d.png", dir, S);
        uint8_t *rgb = malloc((size_t)S * S * 3);
        for (size_t i = 0; i < (size_t)S * S * 3; i++) rgb[i] = (uint8_t)(i * 2654435761u >> 24);
        ct_image im = {S, S, rgb};
        ct_image_save_png(&im, img, NULL);
        free(rgb);
        snprintf(cmd, sizeof cmd, "CT_CACHE_DIR=%s/cache %s/demo -q -m %s -V %s/vocab.json -i %s -s %d -c 'cat,dog,grass,sky,tree,car,road,person' -o %s/out%d.png",
                 dir, bin, model, oracle, img, S, dir, S);
        tproc[k] = bench_median(run_cmd, cmd, 3); /* the warm-up run fills the class cache */
    }
    ort_anchor(ort2);
    for (int k = 0; k < 2; k++) ort[k] = ort1[k] > 0 && ort2[k] > 0 ? (ort1[k] + ort2[k]) / 2 : 0;
    printf("\n%-6s %12s %12s %10s %12s %10s %12s %10s\n", "side", "ORT fwd s", "segment s", "vs ORT", "bf16 s", "vs ORT", "process s", "vs ORT");
    for (int k = 0; k < 2; k++) {
        char r1[16] = "-", r2[16] = "-", r3[16] = "-";
        if (ort[k] > 0) {
            snprintf(r1, sizeof r1, "%.2fx", t32[k] / ort[k]);
            snprintf(r2, sizeof r2, "%.2fx", tbf[k] / ort[k]);
            snprintf(r3, sizeof r3, "%.2fx", tproc[k] / ort[k]);
        }
        printf("%-6d %12.3f %12.3f %10s %12.3f %10s %12.3f %10s\n", sides[k], ort[k], t32[k], r1, tbf[k], r2, tproc[k], r3);
    }
    if (ort[0] == 0) printf("(ONNX Runtime anchor not measured: sh bench/ort_anchor.sh --setup H/14)\n");
    printf("ViT-H/14 at 448, whole process vs ORT's plain forward: target <= 1.1x\n");
    ct_model_free(m);
    ct_model_free(mb);
    free(emb);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("cannot remove %s\n", dir);
    return 0;
}
