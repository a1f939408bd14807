/* ct-random-weights: write a CLIP ViT checkpoint with random weights of a named architecture, so
 * benchmarks and tests run real shapes without a download.
 *   ct-random-weights --arch B/16 [--naming hf|openai] [--dtype F32|F16|BF16] [--layers N] [--seed N] -o FILE
 * Architectures: B/32, B/16, L/14, L/14-336 (OpenAI CLIP: QuickGELU, heads of 64), H/14 (open_clip's
 * ViT-H-14: exact GELU, heads of 80), bigG/14 (ViT-bigG-14: GELU, heads of 104, MLP ratio 4.9231),
 * tiny (a 2-block model for tests); dino-S/8, dino-S/16, dino-B/8, dino-B/16 (DINO) and
 * dinov2-S/14-reg, dinov2-B/14-reg (DINOv2 with 4 registers): vision-only proxy backbones of the
 * ProxyCLIP head, under DINO's own names. --layers N caps both towers' depth (tests of big widths).
 * The header's __metadata__ states the heads and the activation (cliptrase.vision_heads,
 * cliptrase.text_heads, cliptrase.activation: docs/formats.md), so the checkpoint loads without a configuration file.
 * FILE appears complete or not at all: it is written under a temporary name in its directory and
 * renamed over FILE when every byte is written (a model in use keeps its own copy: see
 * weights/README.md). Exit status: 0 ok, 1 usage error, 2 runtime error. */
#include "cliptrase.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int vw, vl, patch, grid, tw, tl, embed;
    int vheads, theads, vmlp, tmlp, gelu;
    int dino; /* 0 CLIP; 1 DINO (v1); 2 DINOv2 with 4 registers and LayerScale: vision only, DINO's own names */
} arch;

/* open_clip's model_configs: ViT-H-14 (head_width 80), ViT-bigG-14 (head_width 104, mlp_ratio
 * 4.9231: int(1664 * 4.9231) = 8192); OpenAI's: heads of 64, MLP 4W, QuickGELU */
static const arch k_archs[] = {
    {"B/32", 768, 12, 32, 7, 512, 12, 512, 12, 8, 3072, 2048, 0, 0},
    {"B/16", 768, 12, 16, 14, 512, 12, 512, 12, 8, 3072, 2048, 0, 0},
    {"L/14", 1024, 24, 14, 16, 768, 12, 768, 16, 12, 4096, 3072, 0, 0},
    {"L/14-336", 1024, 24, 14, 24, 768, 12, 768, 16, 12, 4096, 3072, 0, 0},
    {"H/14", 1280, 32, 14, 16, 1024, 24, 1024, 16, 16, 5120, 4096, 1, 0},
    {"bigG/14", 1664, 48, 14, 16, 1280, 32, 1280, 16, 20, 8192, 5120, 1, 0},
    {"tiny", 64, 2, 16, 4, 64, 1, 32, 1, 1, 256, 256, 0, 0},
    /* DINO's ViT-S/B with patches of 8 or 16 (native 224: grid 28 / 14) and DINOv2-with-registers
     * ViT-S/B/14 (native 518: grid 37): heads of 64, MLP 4W, exact GELU */
    {"dino-S/8", 384, 12, 8, 28, 0, 0, 0, 6, 0, 1536, 0, 1, 1},
    {"dino-S/16", 384, 12, 16, 14, 0, 0, 0, 6, 0, 1536, 0, 1, 1},
    {"dino-B/8", 768, 12, 8, 28, 0, 0, 0, 12, 0, 3072, 0, 1, 1},
    {"dino-B/16", 768, 12, 16, 14, 0, 0, 0, 12, 0, 3072, 0, 1, 1},
    {"dinov2-S/14-reg", 384, 12, 14, 37, 0, 0, 0, 6, 0, 1536, 0, 1, 2},
    {"dinov2-B/14-reg", 768, 12, 14, 37, 0, 0, 0, 12, 0, 3072, 0, 1, 2},
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
        int nc = capT ? capT * 2 : 256;
        tensor *nt = realloc(T, sizeof *T * (size_t)nc);
        if (!nt) { fprintf(stderr, "ct-random-weights: out of memory\n"); exit(2); }
        T = nt;
        capT = nc;
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

/* the tensors of a block, in both naming schemes; rows and cols in units of the width W (4: the
 * MLP's width instead); q, k, v are three tensors (Hugging Face) or one packed one (OpenAI) */
typedef struct {
    const char *hf, *openai;
    int kind, rows, cols; /* cols 0: a vector */
} block_tensor;

static const block_tensor k_block[] = {
    {"layer_norm1.weight", "ln_1.weight", 1, 1, 0},       {"layer_norm1.bias", "ln_1.bias", 2, 1, 0},
    {"self_attn.q_proj.weight", "attn.in_proj_weight", 0, 1, 1}, {"self_attn.q_proj.bias", "attn.in_proj_bias", 2, 1, 0},
    {"self_attn.k_proj.weight", NULL, 0, 1, 1},           {"self_attn.k_proj.bias", NULL, 2, 1, 0},
    {"self_attn.v_proj.weight", NULL, 0, 1, 1},           {"self_attn.v_proj.bias", NULL, 2, 1, 0},
    {"self_attn.out_proj.weight", "attn.out_proj.weight", 0, 1, 1}, {"self_attn.out_proj.bias", "attn.out_proj.bias", 2, 1, 0},
    {"layer_norm2.weight", "ln_2.weight", 1, 1, 0},       {"layer_norm2.bias", "ln_2.bias", 2, 1, 0},
    {"mlp.fc1.weight", "mlp.c_fc.weight", 0, 4, 1},       {"mlp.fc1.bias", "mlp.c_fc.bias", 2, 4, 0},
    {"mlp.fc2.weight", "mlp.c_proj.weight", 0, 1, 4},     {"mlp.fc2.bias", "mlp.c_proj.bias", 2, 1, 0},
};

static void blocks(const char *pre, int layers, int W, int M, int hf) {
    for (int i = 0; i < layers; i++)
        for (size_t k = 0; k < sizeof k_block / sizeof k_block[0]; k++) {
            const block_tensor *b = &k_block[k];
            const char *name = hf ? b->hf : b->openai;
            if (!name) continue;
            /* OpenAI packs q, k, v in one tensor of 3W rows */
            int64_t rows = (b->rows == 4 ? M : (int64_t)W) * (!hf && strstr(name, "in_proj") ? 3 : 1), cols = b->cols == 4 ? M : (int64_t)W;
            add(b->kind, b->cols ? 2 : 1, rows, b->cols ? cols : 0, 0, 0, "%s.%d.%s", pre, i, name);
        }
}

/* the model's other tensors in order, in both schemes (NULL: absent from that scheme); a
 * block tower in its place (tower 1 vision, 2 text). Dimensions are symbolic: */
enum { D_0, D_1, D_3, D_W, D_P, D_G2, D_WT, D_E, D_V, D_CTX }; /* G2 = grid^2 + 1 */

typedef struct {
    const char *hf, *openai;
    int kind, tower;
    int hf_dims[4], openai_dims[4]; /* up to the first D_0 */
} top_tensor;

static const top_tensor k_top[] = {
    {"vision_model.embeddings.class_embedding", "visual.class_embedding", 0, 0, {D_W}, {D_W}},
    {"vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight", 0, 0, {D_W, D_3, D_P, D_P}, {D_W, D_3, D_P, D_P}},
    {"vision_model.embeddings.position_embedding.weight", "visual.positional_embedding", 0, 0, {D_G2, D_W}, {D_G2, D_W}},
    {"vision_model.embeddings.position_ids", NULL, 4, 0, {D_1, D_G2}, {0}},
    {"vision_model.pre_layrnorm.weight", "visual.ln_pre.weight", 1, 0, {D_W}, {D_W}},
    {"vision_model.pre_layrnorm.bias", "visual.ln_pre.bias", 2, 0, {D_W}, {D_W}},
    {"vision_model.encoder.layers", "visual.transformer.resblocks", 0, 1, {0}, {0}},
    {"vision_model.post_layernorm.weight", "visual.ln_post.weight", 1, 0, {D_W}, {D_W}},
    {"vision_model.post_layernorm.bias", "visual.ln_post.bias", 2, 0, {D_W}, {D_W}},
    {"visual_projection.weight", "visual.proj", 0, 0, {D_E, D_W}, {D_W, D_E}},
    {"text_model.embeddings.token_embedding.weight", "token_embedding.weight", 0, 0, {D_V, D_WT}, {D_V, D_WT}},
    {"text_model.embeddings.position_embedding.weight", "positional_embedding", 0, 0, {D_CTX, D_WT}, {D_CTX, D_WT}},
    {"text_model.embeddings.position_ids", NULL, 4, 0, {D_1, D_CTX}, {0}},
    {"text_model.encoder.layers", "transformer.resblocks", 0, 2, {0}, {0}},
    {"text_model.final_layer_norm.weight", "ln_final.weight", 1, 0, {D_WT}, {D_WT}},
    {"text_model.final_layer_norm.bias", "ln_final.bias", 2, 0, {D_WT}, {D_WT}},
    {"text_projection.weight", "text_projection", 0, 0, {D_E, D_WT}, {D_WT, D_E}},
    {"logit_scale", "logit_scale", 3, 0, {0}, {0}},
};

static void build(const arch *a, int hf) {
    const int64_t val[] = {0, 1, 3, a->vw, a->patch, (int64_t)a->grid * a->grid + 1, a->tw, a->embed, VOCAB, CTX};
    for (size_t k = 0; k < sizeof k_top / sizeof k_top[0]; k++) {
        const top_tensor *t = &k_top[k];
        const char *name = hf ? t->hf : t->openai;
        if (!name) continue;
        if (t->tower) {
            blocks(name, t->tower == 1 ? a->vl : a->tl, t->tower == 1 ? a->vw : a->tw, t->tower == 1 ? a->vmlp : a->tmlp, hf);
            continue;
        }
        const int *d = hf ? t->hf_dims : t->openai_dims;
        int nd = 0;
        while (nd < 4 && d[nd]) nd++;
        add(t->kind, nd, nd > 0 ? val[d[0]] : 0, nd > 1 ? val[d[1]] : 0, nd > 2 ? val[d[2]] : 0, nd > 3 ? val[d[3]] : 0, "%s", name);
    }
    for (int i = 0; i < nT; i++) T[i].is_i64 = T[i].kind == 4;
}

/* a DINO / DINOv2 backbone under DINO's own names (facebookresearch/dino, the dinov2 hub) */
static void build_dino(const arch *a) {
    const int64_t W = a->vw, M = a->vmlp, p = a->patch, G2 = (int64_t)a->grid * a->grid + 1;
    add(0, 3, 1, 1, W, 0, "cls_token");
    if (a->dino == 2) {
        add(0, 3, 1, 4, W, 0, "register_tokens");
        add(2, 2, 1, W, 0, 0, "mask_token");
    }
    add(0, 3, 1, G2, W, 0, "pos_embed");
    add(0, 4, W, 3, p, p, "patch_embed.proj.weight");
    add(2, 1, W, 0, 0, 0, "patch_embed.proj.bias");
    for (int i = 0; i < a->vl; i++) {
        add(1, 1, W, 0, 0, 0, "blocks.%d.norm1.weight", i);
        add(2, 1, W, 0, 0, 0, "blocks.%d.norm1.bias", i);
        add(0, 2, 3 * W, W, 0, 0, "blocks.%d.attn.qkv.weight", i);
        add(2, 1, 3 * W, 0, 0, 0, "blocks.%d.attn.qkv.bias", i);
        add(0, 2, W, W, 0, 0, "blocks.%d.attn.proj.weight", i);
        add(2, 1, W, 0, 0, 0, "blocks.%d.attn.proj.bias", i);
        if (a->dino == 2) add(1, 1, W, 0, 0, 0, "blocks.%d.ls1.gamma", i);
        add(1, 1, W, 0, 0, 0, "blocks.%d.norm2.weight", i);
        add(2, 1, W, 0, 0, 0, "blocks.%d.norm2.bias", i);
        add(0, 2, M, W, 0, 0, "blocks.%d.mlp.fc1.weight", i);
        add(2, 1, M, 0, 0, 0, "blocks.%d.mlp.fc1.bias", i);
        add(0, 2, W, M, 0, 0, "blocks.%d.mlp.fc2.weight", i);
        add(2, 1, W, 0, 0, 0, "blocks.%d.mlp.fc2.bias", i);
        if (a->dino == 2) add(1, 1, W, 0, 0, 0, "blocks.%d.ls2.gamma", i);
    }
    add(1, 1, W, 0, 0, 0, "norm.weight");
    add(2, 1, W, 0, 0, 0, "norm.bias");
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
                                         {"layers", required_argument, 0, 'l'},
                                         {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    long layers = 0;
    while ((c = getopt_long(argc, argv, "a:n:d:s:o:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': arch_name = optarg; break;
        case 'n': naming = optarg; break;
        case 'd': dtype = optarg; break;
        case 's': rng ^= strtoull(optarg, NULL, 10) * 0xD1B54A32D192ED03ull; if (!rng) rng = 1; break;
        case 'o': out = optarg; break;
        case 'l': {
            char *end;
            layers = strtol(optarg, &end, 10);
            if (end == optarg || *end || layers < 2 || layers > 48) { fprintf(stderr, "ct-random-weights: --layers is 2 to 48\n"); return 1; }
            break;
        }
        case 'h': printf("usage: ct-random-weights --arch B/32|B/16|L/14|L/14-336|H/14|bigG/14|tiny [--naming hf|openai] [--dtype F32|F16|BF16] "
                          "[--layers N] [--seed N] -o FILE\n"
                          "       ct-random-weights --arch dino-S/8|dino-S/16|dino-B/8|dino-B/16|dinov2-S/14-reg|dinov2-B/14-reg ... -o FILE\n"
                          "  --layers N  at most N blocks in each tower (2 to 48)\n"
                          "  the dino archs: a proxy backbone for --head proxyclip, DINO's own names (--naming does not apply)\n"
                          "The file is marked \"" CT_META_RANDOM_WEIGHTS "\": \"1\" in its __metadata__: the tools that load it warn that\n"
                          "the labels mean nothing, and tools/fetch-weights.sh downloads the real checkpoint over it. The\n"
                          "metadata also states the heads and the activation (cliptrase.vision_heads, cliptrase.text_heads,\n"
                          "cliptrase.activation: docs/formats.md).\n"); return 0;
        default: return 1;
        }
    }
    signal(SIGXFSZ, SIG_IGN); /* past a file size limit a write fails (and is cleaned up) instead of killing us */
    const arch *a = NULL;
    for (size_t i = 0; arch_name && i < sizeof k_archs / sizeof *k_archs; i++)
        if (!strcmp(arch_name, k_archs[i].name)) a = &k_archs[i];
    if (!a || !out) { fprintf(stderr, "ct-random-weights: give --arch (B/32, B/16, L/14, L/14-336, H/14, bigG/14, tiny, dino-S/8, dino-S/16, dino-B/8, dino-B/16, dinov2-S/14-reg, dinov2-B/14-reg) and -o FILE\n"); return 1; }
    arch al = *a;
    if (layers && layers < al.vl) al.vl = (int)layers;
    if (layers && layers < al.tl) al.tl = (int)layers;
    a = &al;
    int hf = !strcmp(naming, "hf");
    if (!hf && strcmp(naming, "openai")) { fprintf(stderr, "ct-random-weights: --naming is hf or openai\n"); return 1; }
    int es = !strcmp(dtype, "F32") ? 4 : (!strcmp(dtype, "F16") || !strcmp(dtype, "BF16")) ? 2 : 0;
    if (!es) { fprintf(stderr, "ct-random-weights: --dtype is F32, F16 or BF16\n"); return 1; }
    if (a->dino) build_dino(a);
    else build(a, hf);
    /* header: every tensor with its byte range, padded with spaces to a multiple of 8 */
    size_t hcap = 128 + (size_t)nT * 256, hl = 0, off = 0;
    char *hdr = malloc(hcap);
    if (!hdr) { free(T); return 2; }
    /* marked: every tool that loads it says the weights are random (CT_META_RANDOM_WEIGHTS); the
     * heads and the activation, which the shapes cannot give (docs/formats.md) */
    hl += (size_t)snprintf(hdr + hl, hcap - hl,
                           "{\"__metadata__\":{\"format\":\"pt\",\"" CT_META_RANDOM_WEIGHTS "\":\"1\",\"cliptrase.vision_heads\":\"%d\","
                           "\"cliptrase.text_heads\":\"%d\",\"cliptrase.activation\":\"%s\"}",
                           a->vheads, a->theads, a->gelu ? "gelu" : "quick_gelu");
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
    /* the output appears complete or not at all: written under a temporary name beside it (same
     * file system), every write checked, then renamed over it; on any failure it is removed */
    const char *slash = strrchr(out, '/');
    size_t dl = slash ? (size_t)(slash - out + 1) : 0, ol = strlen(out);
    char *tmp = dl == ol ? NULL : malloc(ol + 16);
    int fd = -1, err = 0; /* errno of the first failure */
    FILE *f = NULL;
    if (tmp) {
        snprintf(tmp, ol + 16, "%.*s.%s.XXXXXX", (int)dl, out, out + dl);
        fd = mkstemp(tmp);
        if (fd < 0) err = errno;
        mode_t um = umask(0);
        umask(um);
        if (fd >= 0 && (fchmod(fd, 0666 & ~um) != 0 || !(f = fdopen(fd, "wb")))) {
            err = errno;
            close(fd);
            unlink(tmp);
        }
    }
    if (!f) {
        if (dl == ol) fprintf(stderr, "ct-random-weights: -o '%s' names a directory, not a file\n", out);
        else fprintf(stderr, "ct-random-weights: cannot write '%s': %s\n", out, strerror(tmp ? err : ENOMEM));
        free(tmp);
        free(hdr);
        free(T);
        return dl == ol ? 1 : 2;
    }
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    if (fwrite(le, 1, 8, f) != 8 || fwrite(hdr, 1, hl, f) != hl) err = errno ? errno : EIO;
    enum { CHUNK = 1 << 16 };
    static uint8_t buf[CHUNK * 8];
    for (int i = 0; !err && i < nT; i++) {
        size_t n = 1;
        for (int d = 0; d < T[i].nd; d++) n *= (size_t)T[i].shape[d];
        /* scale like CLIP's init: std ~ width^-1/2 keeps activations in range through the blocks */
        size_t fan = T[i].nd >= 2 && T[i].shape[0] ? n / (size_t)T[i].shape[0] : 1; /* inputs per output */
        float scale = T[i].nd >= 2 ? 1.7f / sqrtf((float)fan) : 0.02f;
        for (size_t done = 0; !err && done < n;) {
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
            if (fwrite(buf, 1, bytes, f) != bytes) err = errno ? errno : EIO;
            done += k;
        }
    }
    if (!err && fflush(f) != 0) err = errno ? errno : EIO;
    if (fclose(f) != 0 && !err) err = errno ? errno : EIO;
    if (!err && rename(tmp, out) != 0) err = errno;
    if (err) unlink(tmp);
    free(tmp);
    free(hdr);
    free(T);
    if (err) { fprintf(stderr, "ct-random-weights: cannot write '%s': %s\n", out, strerror(err)); return 2; }
    return 0;
}
