/* ct-random-weights: write a CLIP ViT checkpoint with random weights of a named architecture, so
 * benchmarks and tests run real shapes without a download.
 *   ct-random-weights --arch B/16 [--naming hf|openai] [--dtype F32|F16|BF16] [--seed N] -o FILE
 * Architectures: B/32, B/16, L/14, L/14-336 (OpenAI CLIP), tiny (a 2-block model for tests).
 * Exit status: 0 ok, 1 usage error, 2 runtime error. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int vw, vl, patch, grid, tw, tl, embed;
} arch;

static const arch k_archs[] = {
    {"B/32", 768, 12, 32, 7, 512, 12, 512},   {"B/16", 768, 12, 16, 14, 512, 12, 512},
    {"L/14", 1024, 24, 14, 16, 768, 12, 768}, {"L/14-336", 1024, 24, 14, 24, 768, 12, 768},
    {"tiny", 64, 2, 16, 4, 64, 1, 32},
};

#define VOCAB 49408
#define CTX 77

typedef struct {
    char name[128];
    int nd;
    int64_t shape[4];
    int kind; /* 0 random, 1 ones (layer-norm gain), 2 zeros (biases), 3 logit scale, 4 position ids */
    int is_i64;
} tensor;

static tensor *T;
static int nT, capT;

static void add(int kind, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void add(int kind, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3, const char *fmt, ...) {
    if (nT == capT) {
        capT = capT ? capT * 2 : 256;
        T = realloc(T, sizeof *T * capT);
        if (!T) { fprintf(stderr, "ct-random-weights: out of memory\n"); exit(2); }
    }
    tensor *t = &T[nT++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->nd = nd;
    int64_t d[4] = {d0, d1, d2, d3};
    memcpy(t->shape, d, sizeof d);
    t->kind = kind;
}

static void blocks(const char *pre, int layers, int W, int hf) {
    for (int i = 0; i < layers; i++) {
        if (hf) {
            add(1, 1, W, 0, 0, 0, "%s.%d.layer_norm1.weight", pre, i);
            add(2, 1, W, 0, 0, 0, "%s.%d.layer_norm1.bias", pre, i);
            const char *qkv[3] = {"q", "k", "v"};
            for (int k = 0; k < 3; k++) {
                add(0, 2, W, W, 0, 0, "%s.%d.self_attn.%s_proj.weight", pre, i, qkv[k]);
                add(2, 1, W, 0, 0, 0, "%s.%d.self_attn.%s_proj.bias", pre, i, qkv[k]);
            }
            add(0, 2, W, W, 0, 0, "%s.%d.self_attn.out_proj.weight", pre, i);
            add(2, 1, W, 0, 0, 0, "%s.%d.self_attn.out_proj.bias", pre, i);
            add(1, 1, W, 0, 0, 0, "%s.%d.layer_norm2.weight", pre, i);
            add(2, 1, W, 0, 0, 0, "%s.%d.layer_norm2.bias", pre, i);
            add(0, 2, 4 * W, W, 0, 0, "%s.%d.mlp.fc1.weight", pre, i);
            add(2, 1, 4 * W, 0, 0, 0, "%s.%d.mlp.fc1.bias", pre, i);
            add(0, 2, W, 4 * W, 0, 0, "%s.%d.mlp.fc2.weight", pre, i);
            add(2, 1, W, 0, 0, 0, "%s.%d.mlp.fc2.bias", pre, i);
        } else {
            add(1, 1, W, 0, 0, 0, "%s.%d.ln_1.weight", pre, i);
            add(2, 1, W, 0, 0, 0, "%s.%d.ln_1.bias", pre, i);
            add(0, 2, 3 * W, W, 0, 0, "%s.%d.attn.in_proj_weight", pre, i);
            add(2, 1, 3 * W, 0, 0, 0, "%s.%d.attn.in_proj_bias", pre, i);
            add(0, 2, W, W, 0, 0, "%s.%d.attn.out_proj.weight", pre, i);
            add(2, 1, W, 0, 0, 0, "%s.%d.attn.out_proj.bias", pre, i);
            add(1, 1, W, 0, 0, 0, "%s.%d.ln_2.weight", pre, i);
            add(2, 1, W, 0, 0, 0, "%s.%d.ln_2.bias", pre, i);
            add(0, 2, 4 * W, W, 0, 0, "%s.%d.mlp.c_fc.weight", pre, i);
            add(2, 1, 4 * W, 0, 0, 0, "%s.%d.mlp.c_fc.bias", pre, i);
            add(0, 2, W, 4 * W, 0, 0, "%s.%d.mlp.c_proj.weight", pre, i);
            add(2, 1, W, 0, 0, 0, "%s.%d.mlp.c_proj.bias", pre, i);
        }
    }
}

static void build(const arch *a, int hf) {
    int W = a->vw, P = a->patch, G = a->grid, Wt = a->tw, E = a->embed;
    if (hf) {
        add(0, 1, W, 0, 0, 0, "vision_model.embeddings.class_embedding");
        add(0, 4, W, 3, P, P, "vision_model.embeddings.patch_embedding.weight");
        add(0, 2, (int64_t)G * G + 1, W, 0, 0, "vision_model.embeddings.position_embedding.weight");
        add(4, 2, 1, (int64_t)G * G + 1, 0, 0, "vision_model.embeddings.position_ids");
        add(1, 1, W, 0, 0, 0, "vision_model.pre_layrnorm.weight");
        add(2, 1, W, 0, 0, 0, "vision_model.pre_layrnorm.bias");
        blocks("vision_model.encoder.layers", a->vl, W, 1);
        add(1, 1, W, 0, 0, 0, "vision_model.post_layernorm.weight");
        add(2, 1, W, 0, 0, 0, "vision_model.post_layernorm.bias");
        add(0, 2, E, W, 0, 0, "visual_projection.weight");
        add(0, 2, VOCAB, Wt, 0, 0, "text_model.embeddings.token_embedding.weight");
        add(0, 2, CTX, Wt, 0, 0, "text_model.embeddings.position_embedding.weight");
        add(4, 2, 1, CTX, 0, 0, "text_model.embeddings.position_ids");
        blocks("text_model.encoder.layers", a->tl, Wt, 1);
        add(1, 1, Wt, 0, 0, 0, "text_model.final_layer_norm.weight");
        add(2, 1, Wt, 0, 0, 0, "text_model.final_layer_norm.bias");
        add(0, 2, E, Wt, 0, 0, "text_projection.weight");
    } else {
        add(0, 1, W, 0, 0, 0, "visual.class_embedding");
        add(0, 4, W, 3, P, P, "visual.conv1.weight");
        add(0, 2, (int64_t)G * G + 1, W, 0, 0, "visual.positional_embedding");
        add(1, 1, W, 0, 0, 0, "visual.ln_pre.weight");
        add(2, 1, W, 0, 0, 0, "visual.ln_pre.bias");
        blocks("visual.transformer.resblocks", a->vl, W, 0);
        add(1, 1, W, 0, 0, 0, "visual.ln_post.weight");
        add(2, 1, W, 0, 0, 0, "visual.ln_post.bias");
        add(0, 2, W, E, 0, 0, "visual.proj");
        add(0, 2, VOCAB, Wt, 0, 0, "token_embedding.weight");
        add(0, 2, CTX, Wt, 0, 0, "positional_embedding");
        blocks("transformer.resblocks", a->tl, Wt, 0);
        add(1, 1, Wt, 0, 0, 0, "ln_final.weight");
        add(2, 1, Wt, 0, 0, 0, "ln_final.bias");
        add(0, 2, Wt, E, 0, 0, "text_projection");
    }
    add(3, 0, 0, 0, 0, 0, "logit_scale");
    for (int i = 0; i < nT; i++) T[i].is_i64 = T[i].kind == 4;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float uniform(void) { /* xorshift64*, in [-1, 1) */
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (float)((rng * 2685821657736338717ull) >> 40) / (float)(1 << 23) - 1.f;
}

static uint16_t to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
    int ne = (int)e - 127 + 15;
    if (e == 0 || ne <= 0) return (uint16_t)sign; /* tiny values flush to zero: fine for random weights */
    if (ne >= 31) return (uint16_t)(sign | 0x7c00);
    uint32_t r = sign | ((uint32_t)ne << 10) | (m >> 13);
    if ((m & 0x1fff) > 0x1000 || ((m & 0x1fff) == 0x1000 && (r & 1))) r++; /* round to nearest even */
    return (uint16_t)r;
}

static uint16_t to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

int main(int argc, char **argv) {
    const char *arch_name = NULL, *out = NULL, *naming = "hf", *dtype = "F32";
    static const struct option opts[] = {{"arch", required_argument, 0, 'a'}, {"naming", required_argument, 0, 'n'},
                                         {"dtype", required_argument, 0, 'd'}, {"seed", required_argument, 0, 's'},
                                         {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "a:n:d:s:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': arch_name = optarg; break;
        case 'n': naming = optarg; break;
        case 'd': dtype = optarg; break;
        case 's': rng ^= strtoull(optarg, NULL, 10) * 0xD1B54A32D192ED03ull; if (!rng) rng = 1; break;
        case 'o': out = optarg; break;
        case 'h': printf("usage: ct-random-weights --arch B/32|B/16|L/14|L/14-336|tiny [--naming hf|openai] [--dtype F32|F16|BF16] [--seed N] -o FILE\n"); return 0;
        default: return 1;
        }
    }
    const arch *a = NULL;
    for (size_t i = 0; arch_name && i < sizeof k_archs / sizeof *k_archs; i++)
        if (!strcmp(arch_name, k_archs[i].name)) a = &k_archs[i];
    if (!a || !out) { fprintf(stderr, "ct-random-weights: give --arch (B/32, B/16, L/14, L/14-336, tiny) and -o FILE\n"); return 1; }
    int hf = !strcmp(naming, "hf");
    if (!hf && strcmp(naming, "openai")) { fprintf(stderr, "ct-random-weights: --naming is hf or openai\n"); return 1; }
    int es = !strcmp(dtype, "F32") ? 4 : (!strcmp(dtype, "F16") || !strcmp(dtype, "BF16")) ? 2 : 0;
    if (!es) { fprintf(stderr, "ct-random-weights: --dtype is F32, F16 or BF16\n"); return 1; }
    build(a, hf);
    /* header: every tensor with its byte range, padded with spaces to a multiple of 8 */
    size_t hcap = 64 + (size_t)nT * 256, hl = 0, off = 0;
    char *hdr = malloc(hcap);
    if (!hdr) return 2;
    hl += (size_t)snprintf(hdr + hl, hcap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < nT; i++) {
        size_t n = 1;
        for (int d = 0; d < T[i].nd; d++) n *= (size_t)T[i].shape[d];
        size_t bytes = n * (T[i].is_i64 ? 8 : (size_t)es);
        hl += (size_t)snprintf(hdr + hl, hcap - hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", T[i].name, T[i].is_i64 ? "I64" : dtype);
        for (int d = 0; d < T[i].nd; d++) hl += (size_t)snprintf(hdr + hl, hcap - hl, d ? ",%lld" : "%lld", (long long)T[i].shape[d]);
        hl += (size_t)snprintf(hdr + hl, hcap - hl, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    hl += (size_t)snprintf(hdr + hl, hcap - hl, "}");
    while (hl % 8) hdr[hl++] = ' ';
    FILE *f = fopen(out, "wb");
    if (!f) { fprintf(stderr, "ct-random-weights: cannot write '%s': %s\n", out, strerror(errno)); return 2; }
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    int ok = fwrite(le, 1, 8, f) == 8 && fwrite(hdr, 1, hl, f) == hl;
    enum { CHUNK = 1 << 16 };
    static uint8_t buf[CHUNK * 8];
    for (int i = 0; ok && i < nT; i++) {
        size_t n = 1;
        for (int d = 0; d < T[i].nd; d++) n *= (size_t)T[i].shape[d];
        /* scale like CLIP's init: std ~ width^-1/2 keeps activations in range through the blocks */
        size_t fan = T[i].nd >= 2 && T[i].shape[0] ? n / (size_t)T[i].shape[0] : 1; /* inputs per output */
        float scale = T[i].nd >= 2 ? 1.7f / sqrtf((float)fan) : 0.02f;
        for (size_t done = 0; ok && done < n;) {
            size_t k = n - done < CHUNK ? n - done : CHUNK;
            for (size_t j = 0; j < k; j++) {
                float v = T[i].kind == 0 ? uniform() * scale : T[i].kind == 1 ? 1.f : T[i].kind == 3 ? logf(100.f) : 0.f;
                if (T[i].is_i64) {
                    int64_t id = (int64_t)(done + j);
                    memcpy(buf + 8 * j, &id, 8);
                } else if (es == 4) memcpy(buf + 4 * j, &v, 4);
                else {
                    uint16_t h = !strcmp(dtype, "F16") ? to_f16(v) : to_bf16(v);
                    buf[2 * j] = (uint8_t)h;
                    buf[2 * j + 1] = (uint8_t)(h >> 8);
                }
            }
            size_t bytes = k * (T[i].is_i64 ? 8 : (size_t)es);
            ok = fwrite(buf, 1, bytes, f) == bytes;
            done += k;
        }
    }
    ok = (fclose(f) == 0) && ok;
    free(hdr);
    free(T);
    if (!ok) { fprintf(stderr, "ct-random-weights: error writing '%s'\n", out); return 2; }
    return 0;
}
