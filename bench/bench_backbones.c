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

int main(void) {
    const char *oracle = getenv("CT_ORACLE_DIR"), *bd = getenv("CT_BUILD_DIR");
    if (!oracle || !*oracle) oracle = "../shared/oracle";
    char bin[512], dir[64] = "/tmp/ct-bench-h14-XXXXXX", model[600], cmd[4096];
    snprintf(bin, sizeof bin, "%s/bin", bd && *bd ? bd : "build/release");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    snprintf(model, sizeof model, "%s/h14.safetensors", dir);
    ct_model *m = NULL, *mb = NULL;
    if (!bench_random_model(bin, "H/14", "openai", model, "ViT-H/14 random weights (F32 file, OpenAI / open_clip names)", &m, &mb)) return 1;
    int has_bf16 = mb != NULL;
    int n = 8, E = ct_model_config(m)->embed_dim;
    float *emb = calloc((size_t)n * E, sizeof(float));
    for (int i = 0; i < n; i++) emb[(size_t)i * E + (size_t)i * 7 % E] = 1.f;

    double ort1[2], ort2[2], t32[2], tbf[2] = {0, 0}, tproc[2];
    const int sides[2] = {224, 448};
    bench_ort_anchor("h14", sides, 2, ort1);
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
        bench_write_picture(img, S);
        snprintf(cmd, sizeof cmd, "CT_CACHE_DIR=%s/cache %s/demo -q -m %s -V %s/vocab.json -i %s -s %d -c 'cat,dog,grass,sky,tree,car,road,person' -o %s/out%d.png",
                 dir, bin, model, oracle, img, S, dir, S);
        tproc[k] = bench_median(run_cmd, cmd, 3); /* the warm-up run fills the class cache */
    }
    bench_ort_anchor("h14", sides, 2, ort2);
    bench_ort_table(sides, 2, ort1, ort2, t32, tbf, tproc);
    if (!(ort1[0] > 0)) printf("(set it up for ViT-H/14: sh bench/ort_anchor.sh --setup H/14)\n");
    printf("ViT-H/14 at 448, whole process vs ORT's plain forward: target <= 1.1x\n");
    free(emb);
    bench_finish(m, mb, dir);
    return 0;
}
