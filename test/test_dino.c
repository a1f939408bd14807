/* The DINO (v1) and DINOv2-with-registers backbones (lib/model/dino.c, lib/vision/dino_encoder.c)
 * against the oracle (../shared/oracle/heads_proxyclip and heads_proxyclip_dinov2, read from
 * $CT_ORACLE_DIR): the towers' tokens and patch features within 1e-4, under every naming scheme
 * (the fixtures' own, and the other one written by renaming their tensors), the architecture
 * read from shapes and config.json, and the refusals. */
#include "fixtures.h"
#include "st_rename.h"
#include "vision/dino.h"

#include <sys/stat.h>

#define TOL 1e-4

static char g_v1[600], g_v2[600];

static int have_oracle(void) {
    FMT(g_v1, "%s/heads_proxyclip", oracle_dir());
    FMT(g_v2, "%s/heads_proxyclip_dinov2", oracle_dir());
    char p[700];
    FMT(p, "%s/dino_small_p8_hf/model.safetensors", g_v1);
    if (!file_exists(p)) return 0;
    FMT(p, "%s/dinov2_reg4_w96_d4/model.safetensors", g_v2);
    return file_exists(p);
}

/* The backbone on a run's CLIP-normalised pixels; tokens and features (either may be NULL). */
static int run_tower(const ct_model *m, const npy_array *px, float **tokens, float **feat, int *np, int *T) {
    int H = (int)px->shape[1], W = (int)px->shape[2], h = 0, w = 0;
    ct_error err;
    if (ct_dino_grid(m, H, W, &h, &w, &err)) { CHECK(0, "%s", err.msg); return 0; }
    *np = h * w;
    *T = 1 + m->cfg.registers + *np;
    float *in = malloc(sizeof(float) * px->numel);
    *tokens = malloc(sizeof(float) * (size_t)*T * m->cfg.vision_width);
    *feat = malloc(sizeof(float) * (size_t)*np * m->cfg.vision_width);
    ct_dino_input(px->data, (size_t)H * W, in);
    ct_nn nn = ct_model_nn(m, 0);
    ct_status st = ct_dino_encode(m, &nn, in, H, W, *tokens, *feat, &err);
    free(in);
    CHECK(!st, "ct_dino_encode: %s", err.msg);
    return !st;
}

/* DINOv2 with registers on the 112 x 560 tower run (grid 8 x 40 from the 37 x 37 positions). */
static void check_dinov2_tower(const char *model_path) {
    ct_model *m = NULL;
    ct_error err;
    if (ct_model_load(model_path, &m, &err)) { CHECK(0, "%s", err.msg); return; }
    const ct_config *c = ct_model_config(m);
    CHECK(c->arch == CT_ARCH_DINOV2 && c->registers == 4 && c->patch == 14 && c->grid == 37 && c->vision_width == 96 &&
              c->vision_layers == 4 && c->vision_heads == 3 && c->text_layers == 0 && c->embed_dim == 0,
          "config: arch %d, registers %d, patch %d, grid %d, width %d, layers %d, heads %d", (int)c->arch, c->registers, c->patch,
          c->grid, c->vision_width, c->vision_layers, c->vision_heads);
    npy_array px, tok, feat;
    if (load_npy(g_v2, "tower_112x560", "pixels", &px)) {
        if (load_npy(g_v2, "tower_112x560", "dinov2_tokens", &tok)) {
            if (load_npy(g_v2, "tower_112x560", "proxy_features", &feat)) {
                float *t = NULL, *f = NULL;
                int np = 0, T = 0;
                if (run_tower(m, &px, &t, &f, &np, &T)) {
                    CHECK(np == 320 && (size_t)T * 96 == tok.numel && (size_t)np * 96 == feat.numel, "shapes: %d patches", np);
                    if ((size_t)T * 96 == tok.numel) {
                        double d = max_abs_diff(t, tok.data, tok.numel);
                        CHECK(d <= TOL, "dinov2 tokens: max |diff| %g", d);
                        printf("  dinov2 tower tokens max |diff| %.3g\n", d);
                    }
                    if ((size_t)np * 96 == feat.numel) {
                        double d = max_abs_diff(f, feat.data, feat.numel);
                        CHECK(d <= TOL, "dinov2 features: max |diff| %g", d);
                    }
                }
                free(t);
                free(f);
                npy_free(&feat);
            }
            npy_free(&tok);
        }
        npy_free(&px);
    }
    ct_model_free(m);
}

static void dinov2_tower_own_names(void) {
    if (!have_oracle()) SKIP("no proxyclip oracle under %s", oracle_dir());
    char p[700];
    FMT(p, "%s/dinov2_reg4_w96_d4/model.safetensors", g_v2);
    check_dinov2_tower(p);
}

/* The same weights under Hugging Face's Dinov2WithRegistersModel names (qkv cut into query, key,
 * value), with HF's config.json. */
static void dinov2_tower_hf_names(void) {
    if (!have_oracle()) SKIP("no proxyclip oracle under %s", oracle_dir());
    char src[700], dir[600], dst[700];
    FMT(src, "%s/dinov2_reg4_w96_d4/model.safetensors", g_v2);
    FMT(dir, "%s/dinov2_hf", t_tmpdir());
    mkdir(dir, 0700);
    FMT(dst, "%s/model.safetensors", dir);
    ct_st_file f;
    ct_error err;
    if (ct_st_open(src, &f, &err)) { CHECK(0, "%s", err.msg); return; }
    st_out o[128];
    int n = 0;
    st_out1(&o[n++], "embeddings.cls_token", "cls_token");
    st_out1(&o[n++], "embeddings.register_tokens", "register_tokens");
    st_out1(&o[n++], "embeddings.mask_token", "mask_token");
    st_out1(&o[n++], "embeddings.position_embeddings", "pos_embed");
    st_out1(&o[n++], "embeddings.patch_embeddings.projection.weight", "patch_embed.proj.weight");
    st_out1(&o[n++], "embeddings.patch_embeddings.projection.bias", "patch_embed.proj.bias");
    st_out1(&o[n++], "layernorm.weight", "norm.weight");
    st_out1(&o[n++], "layernorm.bias", "norm.bias");
    static const char *const same[] = {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
                                       "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"};
    static const char *const qkv[] = {"query", "key", "value"};
    for (int b = 0; b < 4; b++) {
        char s[160], d[160];
        for (int k = 0; k < 8; k++) {
            snprintf(s, sizeof s, "blocks.%d.%s", b, same[k]);
            snprintf(d, sizeof d, "encoder.layer.%d.%s", b, same[k]);
            st_out1(&o[n++], d, s);
        }
        for (int k = 0; k < 6; k++) {
            snprintf(s, sizeof s, "blocks.%d.attn.qkv.%s", b, k < 3 ? "weight" : "bias");
            snprintf(d, sizeof d, "encoder.layer.%d.attention.attention.%s.%s", b, qkv[k % 3], k < 3 ? "weight" : "bias");
            st_out1(&o[n], d, s);
            o[n].row0 = (k % 3) * 96;
            o[n++].rows = 96;
        }
        snprintf(s, sizeof s, "blocks.%d.attn.proj.weight", b);
        snprintf(d, sizeof d, "encoder.layer.%d.attention.output.dense.weight", b);
        st_out1(&o[n++], d, s);
        snprintf(s, sizeof s, "blocks.%d.attn.proj.bias", b);
        snprintf(d, sizeof d, "encoder.layer.%d.attention.output.dense.bias", b);
        st_out1(&o[n++], d, s);
        snprintf(s, sizeof s, "blocks.%d.ls1.gamma", b);
        snprintf(d, sizeof d, "encoder.layer.%d.layer_scale1.lambda1", b);
        st_out1(&o[n++], d, s);
        snprintf(s, sizeof s, "blocks.%d.ls2.gamma", b);
        snprintf(d, sizeof d, "encoder.layer.%d.layer_scale2.lambda1", b);
        st_out1(&o[n++], d, s);
    }
    int ok = st_rewrite(&f, o, n, dst);
    ct_st_close(&f);
    char cfg[700];
    FMT(cfg, "%s/config.json", dir);
    ok = ok && write_text(cfg, "{\"model_type\": \"dinov2_with_registers\", \"hidden_size\": 96, \"num_attention_heads\": 3, "
                               "\"num_hidden_layers\": 4, \"num_register_tokens\": 4, \"patch_size\": 14, \"image_size\": 518, "
                               "\"layer_norm_eps\": 1e-06}");
    if (ok) check_dinov2_tower(dst);
}

/* DINO (v1) with Hugging Face ViTModel names: the whole-image run's proxy features (21 x 29 grid
 * from the 28 x 28 positions, 168 x 232 pixels: no padding). */
static void check_dino_v1(const char *model_path, int want_naming) {
    ct_model *m = NULL;
    ct_error err;
    if (ct_model_load(model_path, &m, &err)) { CHECK(0, "%s", err.msg); return; }
    const ct_config *c = ct_model_config(m);
    CHECK(c->arch == CT_ARCH_DINO && c->registers == 0 && c->patch == 8 && c->grid == 28 && c->vision_width == 128 &&
              c->vision_layers == 4 && c->vision_heads == 4 && (int)c->naming == want_naming,
          "config: arch %d, patch %d, grid %d, width %d, layers %d, heads %d, naming %d", (int)c->arch, c->patch, c->grid,
          c->vision_width, c->vision_layers, c->vision_heads, (int)c->naming);
    npy_array px, feat;
    if (load_npy(g_v1, "whole_168x232", "pixels", &px)) {
        if (load_npy(g_v1, "whole_168x232", "proxy_features", &feat)) {
            float *t = NULL, *f = NULL;
            int np = 0, T = 0;
            if (run_tower(m, &px, &t, &f, &np, &T)) {
                CHECK(np == 21 * 29 && (size_t)np * 128 == feat.numel, "%d patches", np);
                if ((size_t)np * 128 == feat.numel) {
                    double d = max_abs_diff(f, feat.data, feat.numel);
                    CHECK(d <= TOL, "dino features: max |diff| %g", d);
                    printf("  dino v1 features max |diff| %.3g\n", d);
                }
            }
            free(t);
            free(f);
            npy_free(&feat);
        }
        npy_free(&px);
    }
    ct_model_free(m);
}

static void dino_hf_names(void) {
    if (!have_oracle()) SKIP("no proxyclip oracle under %s", oracle_dir());
    char p[700];
    FMT(p, "%s/dino_small_p8_hf/model.safetensors", g_v1);
    check_dino_v1(p, CT_NAMING_HF);
}

/* DINO's own names, with a config.json giving the heads (4 of 32: not width / 64), then without
 * it: heads = width / 64, the rule for DINO's published checkpoints. */
static void dino_own_names(void) {
    if (!have_oracle()) SKIP("no proxyclip oracle under %s", oracle_dir());
    char dir[600], p[700], cfg[700];
    FMT(dir, "%s/dino_own", t_tmpdir());
    mkdir(dir, 0700);
    if (!write_dino_own(g_v1, dir)) return;
    FMT(p, "%s/model.safetensors", dir);
    FMT(cfg, "%s/config.json", dir);
    if (!write_text(cfg, "{\"num_heads\": 4}")) return;
    check_dino_v1(p, CT_NAMING_OPENAI);
    unlink(cfg);
    ct_model *m = NULL;
    ct_error err;
    CHECK(ct_model_load(p, &m, &err) == CT_OK, "%s", err.msg);
    if (m) CHECK(ct_model_config(m)->vision_heads == 2, "heads without config: %d", ct_model_config(m)->vision_heads);
    ct_model_free(m);
    /* a config that cannot be read is an error, not a silent default */
    write_text(cfg, "{\"num_attention_heads\": 3");
    m = NULL;
    CHECK(ct_model_load(p, &m, &err) == CT_ERR_FORMAT && !m, "malformed config.json: %s", err.msg);
    write_text(cfg, "{\"num_attention_heads\": 3}");
    CHECK(ct_model_load(p, &m, &err) == CT_ERR_UNSUPPORTED && !m && strstr(err.msg, "heads"), "3 heads of width 128: %s", err.msg);
    unlink(cfg);
}

/* A vision-only backbone is refused by every call that needs CLIP, with a message saying so. */
static void dino_refused_as_clip(void) {
    if (!have_oracle()) SKIP("no proxyclip oracle under %s", oracle_dir());
    char p[700];
    FMT(p, "%s/dino_small_p8_hf/model.safetensors", g_v1);
    ct_model *m = NULL;
    ct_error err;
    if (ct_model_load(p, &m, &err)) { CHECK(0, "%s", err.msg); return; }
    float px[3 * 32 * 32] = {0}, emb[4] = {0}, out[16];
    int32_t labels[32 * 32], tok[77] = {0};
    ct_segment_params sp;
    ct_segment_params_preset(&sp, CT_HEAD_CLIP);
    CHECK(ct_segment(m, px, 32, 32, emb, 1, NULL, &sp, labels, NULL, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "CLIP"),
          "segment: %s", err.msg);
    size_t bytes;
    CHECK(ct_segment_memory(m, 32, 32, 1, &sp, 0, &bytes, &err) == CT_ERR_INVALID_ARG, "segment_memory: %s", err.msg);
    ct_image_features f = {.image_embedding = out};
    CHECK(ct_encode_image(m, px, 32, 32, 0, &f, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "CLIP"), "encode_image: %s", err.msg);
    CHECK(ct_encode_tokens(m, tok, 1, out, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "CLIP"), "encode_tokens: %s", err.msg);
    char d[600];
    ct_model_describe(m, d, sizeof d);
    CHECK(strstr(d, "DINO") != NULL, "describe: %s", d);
    ct_model_free(m);
}

int main(void) {
    RUN(dinov2_tower_own_names);
    RUN(dinov2_tower_hf_names);
    RUN(dino_hf_names);
    RUN(dino_own_names);
    RUN(dino_refused_as_clip);
    DONE();
}
