/* Every supported architecture loads and runs: ViT-B/32, B/16, L/14 and L/14-336 checkpoints with
 * random weights (tools/ct-random-weights, both naming schemes, all three dtypes across the set),
 * and open_clip's ViT-H/14 and ViT-bigG/14 widths (heads of 80 and 104, exact GELU, bigG's MLP
 * ratio 4.9231) cut to 2 blocks per tower (--layers: the full models take minutes to write);
 * the config (sizes from the shapes, heads and activation from the header's __metadata__) must
 * match the architecture and a segmentation must run at the native size and at another size.
 * Under the sanitizers only B/32 runs (time). */
#include "harness.h"

#include <sys/wait.h>

static const struct {
    const char *arch, *naming, *dtype;
    int vw, vl, patch, grid, tw, embed;
    int layers, vheads, theads, vmlp, gelu; /* layers: the --layers cap (0: none) */
} k[] = {
    {"B/32", "hf", "F16", 768, 12, 32, 7, 512, 512, 0, 12, 8, 3072, 0},
    {"B/16", "openai", "BF16", 768, 12, 16, 14, 512, 512, 0, 12, 8, 3072, 0},
    {"L/14", "hf", "BF16", 1024, 24, 14, 16, 768, 768, 0, 16, 12, 4096, 0},
    {"L/14-336", "openai", "F16", 1024, 24, 14, 24, 768, 768, 0, 16, 12, 4096, 0},
    {"H/14", "hf", "F16", 1280, 2, 14, 16, 1024, 1024, 2, 16, 16, 5120, 1},
    {"bigG/14", "openai", "BF16", 1664, 2, 14, 16, 1280, 1280, 2, 16, 20, 8192, 1},
};

static void all_architectures(void) {
    if (!tool_exists("ct-random-weights")) SKIP("ct-random-weights not built");
    int n = getenv("CT_SANITIZER") ? 1 : (int)(sizeof k / sizeof k[0]);
    for (int i = 0; i < n; i++) {
        char cmd[4600], path[4200];
        FMT(path, "%s/arch.safetensors", t_tmpdir());
        FMT(cmd, "ct-random-weights --arch %s --naming %s --dtype %s --layers %d -o '%s'", k[i].arch, k[i].naming, k[i].dtype,
            k[i].layers ? k[i].layers : 48, path);
        int st = system(cmd);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: generator failed", k[i].arch);
        ct_model *m = NULL;
        ct_error err;
        if (ct_model_load(path, &m, &err)) { CHECK(0, "%s: %s", k[i].arch, err.msg); continue; }
        const ct_config *c = ct_model_config(m);
        char d[1024];
        ct_config_describe(c, d, sizeof d);
        printf("  %s: %s\n", k[i].arch, d);
        CHECK(c->vision_width == k[i].vw && c->vision_layers == k[i].vl && c->patch == k[i].patch && c->grid == k[i].grid &&
                  c->text_width == k[i].tw && c->embed_dim == k[i].embed && c->vision_heads == k[i].vheads &&
                  c->text_heads == k[i].theads && c->vision_mlp == k[i].vmlp && c->context_length == 77 && c->vocab_size == 49408 &&
                  c->vision_act == (k[i].gelu ? CT_ACTIVATION_GELU : CT_ACTIVATION_QUICKGELU) && c->text_act == c->vision_act &&
                  c->heads_source == CT_SOURCE_METADATA && c->act_source == CT_SOURCE_METADATA && c->vision_ln_eps == 1e-5f,
              "%s: derived config differs", k[i].arch);
        /* native size and a rectangular one of 2 x 3 patches more */
        int sizes[2][2] = {{c->image_size, c->image_size}, {c->image_size - 2 * c->patch, c->image_size + 3 * c->patch}};
        for (int s = 0; s < 2; s++) {
            int H = sizes[s][0], W = sizes[s][1];
            float *px = malloc(sizeof(float) * 3 * H * W), emb[2 * 1280];
            for (int q = 0; q < 3 * H * W; q++) px[q] = (float)(((unsigned)q * 7919u) % 1000u) / 500.f - 1.f;
            for (int q = 0; q < 2 * c->embed_dim; q++) emb[q] = (float)((q * 31) % 17) / 17.f - 0.5f;
            int32_t *lab = malloc(sizeof(int32_t) * H * W);
            CHECK(ct_segment(m, px, H, W, emb, 2, NULL, NULL, lab, NULL, &err) == CT_OK, "%s %dx%d: %s", k[i].arch, H, W, err.msg);
            int ok = 1;
            for (int q = 0; q < H * W; q++) ok &= lab[q] == 0 || lab[q] == 1;
            CHECK(ok, "%s: labels out of range", k[i].arch);
            free(px);
            free(lab);
        }
        ct_model_free(m);
        remove(path);
    }
}

int main(void) {
    RUN(all_architectures);
    DONE();
}
