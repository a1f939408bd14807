/* Shared options of the model-running tools, data directories, and the session they set up. */
#include "common/options.h"
#include "common/files.h"
#include "common/hash.h"
#include "common/msg.h"
#include "common/text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    O_PRECISION = 1000, O_NOCACHE, O_CLASSES_FILE, O_CLASSES_FORMAT, O_BG_FILE, O_CROP, O_HEAD, O_SLIDE, O_PAMR, O_DIL,
    O_SCALE, O_PROB, O_AREA, O_STD, O_EPS, O_MINS, O_CLSRW, O_SCLAYERS, O_RESCLS, O_SCBETA, O_NOLIMITS, O_PROXY, O_BETA, O_GAMMA
};

/* which preset fields the flags replace */
enum {
    S_EPS = 1, S_MINS = 2, S_CLSRW = 4, S_SLIDE = 8, S_PAMR = 16, S_DIL = 32, S_SCALE = 64, S_PROB = 128, S_AREA = 256, S_STD = 512,
    S_SCLAYERS = 1024, S_RESCLS = 2048, S_SCBETA = 4096, S_BETA = 8192, S_GAMMA = 16384
};

typedef struct {
    unsigned group;
    struct option opt;
    const char *shorts;
} shared_opt;

static const shared_opt k_opts[] = {
    {OG_MODEL, {"model", required_argument, 0, 'm'}, "m:"},
    {OG_MODEL, {"vocab", required_argument, 0, 'V'}, "V:"},
    {OG_MODEL, {"precision", required_argument, 0, O_PRECISION}, ""},
    {OG_MODEL, {"threads", required_argument, 0, 't'}, "t:"},
    {OG_MODEL, {"no-cache", no_argument, 0, O_NOCACHE}, ""},
    {OG_CLASSES, {"classes", required_argument, 0, 'c'}, "c:"},
    {OG_CLASSES, {"classes-file", required_argument, 0, O_CLASSES_FILE}, ""},
    {OG_CLASSES, {"classes-format", required_argument, 0, O_CLASSES_FORMAT}, ""},
    {OG_CLASSES, {"background", required_argument, 0, 'b'}, "b:"},
    {OG_CLASSES, {"background-file", required_argument, 0, O_BG_FILE}, ""},
    {OG_IMAGE, {"size", required_argument, 0, 's'}, "s:"}, {OG_IMAGE, {"crop", no_argument, 0, O_CROP}, ""},
    /* the head and the pipeline */
    {OG_SEG, {"head", required_argument, 0, O_HEAD}, ""}, {OG_SEG, {"slide", required_argument, 0, O_SLIDE}, ""},
    {OG_SEG, {"pamr", required_argument, 0, O_PAMR}, ""}, {OG_SEG, {"pamr-dilations", required_argument, 0, O_DIL}, ""},
    {OG_SEG, {"logit-scale", required_argument, 0, O_SCALE}, ""},
    {OG_SEG, {"prob-thd", required_argument, 0, O_PROB}, ""}, {OG_SEG, {"area-thd", required_argument, 0, O_AREA}, ""},
    {OG_SEG, {"gaussian-std", required_argument, 0, O_STD}, ""},
    /* SC-CLIP */
    {OG_SEG, {"sc-layers", required_argument, 0, O_SCLAYERS}, ""}, {OG_SEG, {"res-cls", required_argument, 0, O_RESCLS}, ""},
    {OG_SEG, {"sc-beta", required_argument, 0, O_SCBETA}, ""},
    /* ProxyCLIP */
    {OG_SEG, {"proxy-model", required_argument, 0, O_PROXY}, ""}, {OG_SEG, {"proxy-beta", required_argument, 0, O_BETA}, ""},
    {OG_SEG, {"proxy-gamma", required_argument, 0, O_GAMMA}, ""},
    /* the CLIPtrase vote */
    {OG_SEG, {"eps", required_argument, 0, O_EPS}, ""}, {OG_SEG, {"min-samples", required_argument, 0, O_MINS}, ""},
    {OG_SEG, {"cls-reweight", no_argument, 0, O_CLSRW}, ""},
    {OG_SEG, {"no-limits", no_argument, 0, O_NOLIMITS}, ""},
    {OG_GENERAL, {"quiet", no_argument, 0, 'q'}, "q"},
    {OG_GENERAL, {"verbose", no_argument, 0, 'v'}, "v"},
    {OG_GENERAL, {"help", no_argument, 0, 'h'}, "h"},
};
#define N_OPTS ((int)(sizeof k_opts / sizeof *k_opts))

void opts_init(tool_opts *o) {
    memset(o, 0, sizeof *o);
    o->size = CT_DEFAULT_SIZE;
    o->head = CT_HEAD_CLIPTRASE;
    ct_segment_params_default(&o->flags);
}

void opts_table(opts_parser *g, unsigned groups, const struct option *extra, const char *extra_short) {
    int n = 0;
    size_t sl = 0, cap = sizeof g->shorts;
    g->shorts[sl++] = ':'; /* getopt reports a missing value as ':' */
    for (int i = 0; i < N_OPTS && n < OPTS_MAX - 1; i++) {
        if (!(k_opts[i].group & groups)) continue;
        g->table[n++] = k_opts[i].opt;
        for (const char *p = k_opts[i].shorts; *p && sl + 1 < cap; p++) g->shorts[sl++] = *p;
    }
    for (int i = 0; extra && extra[i].name && n < OPTS_MAX - 1; i++) g->table[n++] = extra[i];
    for (const char *p = extra_short; p && *p && sl + 1 < cap; p++) g->shorts[sl++] = *p;
    g->shorts[sl] = 0;
    memset(&g->table[n], 0, sizeof g->table[n]);
}

int opts_next(tool_opts *o, const opts_parser *g, int argc, char **argv) {
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, g->shorts, g->table, NULL);
        if (c == -1) return -1;
        if (c == ':' || c == '?') {
            opts_getopt_error(c, argv);
            return OPTS_ERROR;
        }
        int r = opts_parse(o, c, optarg);
        if (r < 0) return OPTS_ERROR;
        if (r == 0) return c;
    }
}

int opts_getopt_error(int code, char **argv) {
    const char *o = argv[optind - 1];
    if (code == ':') return usage_error("option '%s' needs a value", o);
    if (optopt && optopt < 256) return usage_error("unknown option '-%c'", optopt);
    return usage_error("unknown option '%s'", o);
}

static int bad(const char *flag, const char *what, const char *arg) {
    usage_error("%s needs %s, not '%s'", flag, what, arg);
    return -1;
}

int opts_parse(tool_opts *o, int code, const char *arg) {
    ct_segment_params *f = &o->flags;
    switch (code) {
    case 'm': o->model_path = arg; return *arg ? 1 : bad("-m", "a file", arg);
    case 'V': o->vocab_path = arg; return *arg ? 1 : bad("--vocab", "a file", arg);
    case O_PRECISION: {
        ct_precision p;
        if (ct_precision_parse(arg, &p, NULL)) return bad("--precision", "fp32 or bf16", arg);
        o->precision = arg;
        return 1;
    }
    case 't': return parse_int(arg, 1, 256, &o->threads) ? 1 : bad("--threads", "a whole number in [1, 256]", arg);
    case O_NOCACHE: o->no_cache = 1; return 1;
    case 'c': o->class_list = arg; return 1;
    case O_CLASSES_FILE: o->classes_file = arg; return 1;
    case O_CLASSES_FORMAT: return classes_format_parse(arg, &o->classes_fmt) ? 1 : bad("--classes-format", "cliptrase or mmseg", arg);
    case 'b': o->bg_list = arg; return 1;
    case O_BG_FILE: o->bg_file = arg; return 1;
    case 's':
        o->size_given = 1;
        return parse_int(arg, 1, 8192, &o->size) ? 1 : bad("--size", "a whole number in [1, 8192]", arg);
    case O_CROP: o->crop = 1; return 1;
    case O_HEAD: {
        ct_error err;
        if (ct_head_parse(arg, &o->head, &err)) { usage_error("--head: %s", err.msg); return -1; }
        return 1;
    }
    case O_SLIDE: {
        o->set |= S_SLIDE;
        if (!strcmp(arg, "0")) { f->slide_crop = f->slide_stride = 0; return 1; }
        int v[2], n = 0;
        /* the values are checked by the library (ct_segment_memory), with the patch size */
        if (!parse_int_list(arg, -1000000, 1000000, v, 2, &n) || n != 2) return bad("--slide", "CROP,STRIDE in pixels (or 0 for the whole image)", arg);
        f->slide_crop = v[0];
        f->slide_stride = v[1];
        return 1;
    }
    case O_PAMR: o->set |= S_PAMR; return parse_int(arg, -1000000, 1000000, &f->pamr_steps) ? 1 : bad("--pamr", "a number of steps (0: off)", arg);
    case O_DIL:
        o->set |= S_DIL;
        return parse_int_list(arg, -1000000, 1000000, f->pamr_dilations, CT_MAX_DILATIONS, &f->n_pamr_dilations)
                   ? 1 : bad("--pamr-dilations", "1 to 8 whole numbers separated by ','", arg);
    case O_SCALE: o->set |= S_SCALE; return parse_float(arg, -1e30, 1e30, &f->logit_scale) ? 1 : bad("--logit-scale", "a number (0: the model's)", arg);
    case O_PROB: o->set |= S_PROB; return parse_float(arg, -1e30, 1e30, &f->prob_thd) ? 1 : bad("--prob-thd", "a number in [0, 1] (0: off)", arg);
    case O_AREA: o->set |= S_AREA; return parse_float(arg, -1e30, 1e30, &f->area_thd) ? 1 : bad("--area-thd", "a number in [0, 1] (0: off)", arg);
    case O_STD: o->set |= S_STD; return parse_float(arg, CT_MIN_GAUSSIAN_STD, CT_MAX_GAUSSIAN_STD, &f->gaussian_std) ? 1 : bad("--gaussian-std", "a number of patches in [0.01, 10000]", arg);
    case O_SCLAYERS: {
        int n = 0;
        o->set |= S_SCLAYERS;
        /* the ranges depend on the model's depth: the library checks them */
        return parse_int_list(arg, -1000000, 1000000, f->sc_layers, 4, &n) && n == 4 ? 1 : bad("--sc-layers", "PRE,POST,START,END (four block indices)", arg);
    }
    case O_RESCLS: o->set |= S_RESCLS; return parse_float(arg, 0, 1e6, &f->sc_res_cls) ? 1 : bad("--res-cls", "a number >= 0", arg);
    case O_SCBETA: o->set |= S_SCBETA; return parse_float(arg, -1, 1, &f->sc_beta) ? 1 : bad("--sc-beta", "a number in [-1, 1]", arg);
    case O_PROXY: o->proxy_path = arg; return *arg ? 1 : bad("--proxy-model", "a file", arg);
    case O_BETA: o->set |= S_BETA; return parse_float(arg, -1e30, 1e30, &f->proxy_beta) ? 1 : bad("--proxy-beta", "a number", arg);
    case O_GAMMA: o->set |= S_GAMMA; return parse_float(arg, -1e30, 1e30, &f->proxy_gamma) ? 1 : bad("--proxy-gamma", "a number", arg);
    case O_EPS: o->set |= S_EPS; return parse_float(arg, 1e-30, 1e6, &f->eps) ? 1 : bad("--eps", "a positive number", arg);
    case O_MINS: o->set |= S_MINS; return parse_int(arg, 1, 1000000, &f->min_samples) ? 1 : bad("--min-samples", "a whole number >= 1", arg);
    case O_CLSRW: o->set |= S_CLSRW; f->cls_reweight = 1; return 1;
    case O_NOLIMITS: o->no_limits = 1; return 1;
    case 'q': quiet = 1; return 1;
    case 'v': verbose = 1; return 1;
    default: return 0;
    }
}

void opts_help(FILE *f, unsigned groups) {
    if (groups & OG_MODEL)
        fprintf(f, "model:\n"
                   "  -m, --model PATH        safetensors weights (default: " DEFAULT_MODEL_FILE " in the first data\n"
                   "                          directory that has it: $CT_DATA_DIR, $XDG_DATA_HOME/cliptrase,\n"
                   "                          <prefix>/share/cliptrase, ./weights)\n"
                   "  -V, --vocab PATH        bpe_simple_vocab_16e6.txt.gz, or vocab.json with merges.txt beside it\n"
                   "                          (default: beside the model, then the data directories)\n"
                   "      --precision P       fp32 (default) or bf16 (needs AVX512_BF16); overrides $CT_PRECISION\n"
                   "                          and $CT_KERNEL (blas: OpenBLAS fp32, fp32/avx512: native fp32, bf16,\n"
                   "                          or a kernel id that ct-info lists, e.g. avx512_bf16r)\n"
                   "  -t, --threads N         threads (default: the cores this process may use: its\n"
                   "                          affinity mask, within its cgroup CPU quota)\n"
                   "      --no-cache          neither read nor write the class-embedding cache ($CT_CACHE_DIR,\n"
                   "                          else $XDG_CACHE_HOME/cliptrase, else ~/.cache/cliptrase); it is used\n"
                   "                          only when yours and writable by no one else (docs/formats.md)\n");
    if (groups & OG_CLASSES)
        fprintf(f, "classes (label 0 is the first class; background names share one label after the classes):\n"
                   "  -c, --classes LIST      classes separated by ',', the names of one class by ';':\n"
                   "                          \"background;sky;wall,cat,dog;puppy\" is three classes, the first with\n"
                   "                          three names (a class scores as the best of its names)\n"
                   "      --classes-file PATH one class a line; blank lines and lines starting with '#' are skipped\n"
                   "      --classes-format F  the file's format: cliptrase (default: names of a class separated\n"
                   "                          by ';', a ',' belongs to the name) or mmseg (names separated by ',',\n"
                   "                          as the SCLIP/ClearCLIP/NACLIP class files)\n"
                   "  -b, --background LIST   background names separated by ','\n"
                   "      --background-file PATH  background names, one a line (a ',' belongs to the name)\n"
                   "                          No name may be given twice (up to case and spaces).\n");
    if (groups & OG_IMAGE)
        fprintf(f, "input:\n"
                   "  -s, --size N            short side (default: 336 rounded to the model's patch: 336 for\n"
                   "                          patch 14 or 16, 352 for 32); any N is rounded to the nearest\n"
                   "                          multiple of the patch, halves up, with a note\n"
                   "      --crop              the paper's protocol: short side N, then an N x N centre crop\n");
    if (groups & OG_SEG)
        fprintf(f, "segmentation (the head's preset, then these flags on top; docs/api.md; a flag the chosen head\n"
                   "does not use is a usage error: --eps, --min-samples, --cls-reweight are cliptrase's; --slide,\n"
                   "--pamr, --pamr-dilations, --logit-scale, --prob-thd, --area-thd the other heads'; --gaussian-std naclip's;\n"
                   "--sc-layers, --res-cls, --sc-beta scclip's; --proxy-model, --proxy-beta, --proxy-gamma proxyclip's):\n"
                   "      --head NAME         cliptrase (default), clip, maskclip, sclip, clearclip, naclip, scclip,\n"
                   "                          proxyclip (needs --proxy-model)\n"
                   "      --slide CROP,STRIDE sliding windows in pixels (CROP a multiple of the patch, STRIDE in\n"
                   "                          [1, CROP]; proxyclip: any CROP, each window padded to multiples\n"
                   "                          of 56); 0: the whole image\n"
                   "      --pamr STEPS        PAMR refinement steps (0: off)\n"
                   "      --pamr-dilations D1,D2,...  PAMR dilations (1 to 8 of them, default 8,16)\n"
                   "      --logit-scale S     softmax temperature (0: the model's)\n"
                   "      --prob-thd T        pixels whose best probability is below T get label 0 (0: off)\n"
                   "      --area-thd A        labels 1.. covering at most A of the labelled area are dropped (0: off)\n"
                   "      --gaussian-std S    NACLIP's neighbourhood sigma in patches, in [0.01, 10000] (default 5)\n"
                   "      --sc-layers PRE,POST,START,END  SC-CLIP's layers (0-based block outputs; default by\n"
                   "                          the model's depth: 8,3,3,10 for 12 blocks, 16,6,8,19 for 24)\n"
                   "      --res-cls R         SC-CLIP's CLS weight (default 0.3 for 12 blocks, 0.1 for 24)\n"
                   "      --sc-beta B         SC-CLIP's similarity cut (default 0.4)\n"
                   "      --proxy-model PATH  proxyclip: the proxy backbone, a DINO or DINOv2 .safetensors (DINO's or\n"
                   "                          Hugging Face names; a config.json beside it gives the heads)\n"
                   "      --proxy-beta B      proxyclip: mask threshold factor (default 1.2)\n"
                   "      --proxy-gamma G     proxyclip: similarity sharpness (default 3.0)\n"
                   "      --eps E             cliptrase: DBSCAN radius (default 0.7 if the short side is at most\n"
                   "                          14 patches, as 224 with patch 16, else 1.1)\n"
                   "      --min-samples K     cliptrase: DBSCAN core size (default 3 if the short side is at most\n"
                   "                          14 patches, else 7)\n"
                   "      --cls-reweight      cliptrase: multiply logits by the CLS logits (the paper's VOC20)\n"
                   "      --no-limits         run a segmentation whose estimated memory exceeds the available\n"
                   "                          memory or whose work exceeds 1e13 operations (minutes); without\n"
                   "                          it such a run is refused before any work, with the estimate\n");
    if (groups & OG_GENERAL)
        fprintf(f, "  -q, --quiet             no progress on stderr\n"
                   "  -v, --verbose           more detail (model, precision, kernel, cache location)\n"
                   "  -h, --help              this text\n");
}

/* ------------------------------------------------------------------ precision */

int opts_load_params(const tool_opts *o, ct_load_params *lp) {
    ct_load_params_default(lp);
    lp->n_threads = o->threads;
    const char *kern = getenv("CT_KERNEL"), *prec = getenv("CT_PRECISION");
    int kset = 0;
    ct_precision kp = CT_PRECISION_FP32;
    if (kern && *kern) {
        if (!strcmp(kern, "blas")) lp->backend = CT_BACKEND_OPENBLAS;
        else if (!strcmp(kern, "fp32") || !strcmp(kern, "avx512")) kp = CT_PRECISION_FP32;
        else if (!strcmp(kern, "bf16")) kp = CT_PRECISION_BF16;
        else { /* a registered kernel by id (ct-info lists them): its precision and backend */
            const char *id;
            int i = 0;
            while ((id = ct_kernel_id(i, &kp, NULL, NULL)) && strcmp(id, kern)) i++;
            if (!id) return usage_error("CT_KERNEL=%s: unknown (blas, fp32, avx512, bf16 or a kernel id that ct-info lists)", kern);
            lp->kernel = id;
            if (!strcmp(id, "openblas")) lp->backend = CT_BACKEND_OPENBLAS;
        }
        kset = 1;
        lp->precision = kp;
    }
    if (prec && *prec) {
        ct_precision p;
        if (ct_precision_parse(prec, &p, NULL)) return usage_error("CT_PRECISION=%s: unknown (fp32 or bf16)", prec);
        if (kset && p != kp && !o->precision)
            return usage_error("CT_PRECISION=%s and CT_KERNEL=%s disagree", prec, kern);
        lp->precision = p;
    }
    if (o->precision) ct_precision_parse(o->precision, &lp->precision, NULL);
    return 0;
}

/* ------------------------------------------------------------------ data directories */

void free_strings(char **v) {
    for (size_t i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

/* <prefix>/share/cliptrase where the running program is <prefix>/bin/<tool> */
static char *prefix_share(void) {
    size_t cap = 256;
    for (int tries = 0; tries < 8; tries++, cap *= 4) {
        char *b = malloc(cap);
        if (!b) return NULL;
        ssize_t n = readlink("/proc/self/exe", b, cap);
        if (n < 0) { free(b); return NULL; }
        if ((size_t)n < cap) {
            b[n] = 0;
            char *s = strrchr(b, '/');
            if (s) *s = 0;                   /* <prefix>/bin */
            s = strrchr(b, '/');
            if (s) *s = 0;                   /* <prefix> */
            char *r = s ? path_join(*b ? b : "/", "share/cliptrase") : NULL;
            free(b);
            return r;
        }
        free(b);
    }
    return NULL;
}

char **data_dirs(void) {
    char **v = calloc(5, sizeof *v);
    if (!v) return NULL;
    int n = 0;
    const char *x = getenv("CT_DATA_DIR");
    if (x && *x) v[n++] = xasprintf("%s", x);
    x = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (x && *x) v[n++] = path_join(x, "cliptrase");
    else if (home && *home) v[n++] = path_join(home, ".local/share/cliptrase");
    char *p = prefix_share();
    if (p) v[n++] = p;
    v[n++] = xasprintf("weights");
    for (int i = 0; i < n; i++)
        if (!v[i]) { free_strings(v); return NULL; }
    return v;
}

char *data_find(const char *file) {
    char **d = data_dirs();
    char *found = NULL;
    for (int i = 0; d && d[i] && !found; i++) {
        char *p = path_join(d[i], file);
        if (p && is_file(p)) found = p;
        else free(p);
    }
    free_strings(d);
    return found;
}

static char *searched_list(void) {
    char **d = data_dirs();
    size_t len = 1;
    for (int i = 0; d && d[i]; i++) len += strlen(d[i]) + 2;
    char *s = malloc(len);
    if (s) {
        s[0] = 0;
        for (int i = 0; d && d[i]; i++) {
            if (i) strcat(s, ", ");
            strcat(s, d[i]);
        }
    }
    free_strings(d);
    return s;
}

/* ------------------------------------------------------------------ the session */

int session_classes(tool_session *s, const tool_opts *o) {
    classes_init(&s->cl);
    ct_error err;
    int ok = 1;
    if (ok && o->class_list) ok = classes_add_list(&s->cl, o->class_list, &err);
    if (ok && o->classes_file) ok = classes_add_file(&s->cl, o->classes_file, o->classes_fmt, &err);
    if (ok && o->bg_list) ok = classes_add_background_list(&s->cl, o->bg_list, &err);
    if (ok && o->bg_file) ok = classes_add_background_file(&s->cl, o->bg_file, &err);
    if (ok) ok = classes_finish(&s->cl, &err);
    if (!ok) return err.status == CT_ERR_NOMEM ? runtime_error("%s", err.msg) : usage_error("%s", err.msg);
    return 0;
}

/* One rule for every head-specific option: given with a head that does not use it, it is a usage
 * error naming the option and the heads that use it (before any work), whatever its value. */
static int head_options_check(const tool_opts *o) {
    enum { CLIPTRASE, OTHERS, NACLIP, SCCLIP, PROXYCLIP };
    static const struct { unsigned bit; const char *flag; int who; } k_only[] = {
        {S_EPS, "--eps", CLIPTRASE}, {S_MINS, "--min-samples", CLIPTRASE}, {S_CLSRW, "--cls-reweight", CLIPTRASE},
        {S_SLIDE, "--slide", OTHERS}, {S_PAMR, "--pamr", OTHERS}, {S_DIL, "--pamr-dilations", OTHERS},
        {S_SCALE, "--logit-scale", OTHERS}, {S_PROB, "--prob-thd", OTHERS}, {S_AREA, "--area-thd", OTHERS},
        {S_STD, "--gaussian-std", NACLIP},
        {S_SCLAYERS, "--sc-layers", SCCLIP}, {S_RESCLS, "--res-cls", SCCLIP}, {S_SCBETA, "--sc-beta", SCCLIP},
        {S_BETA, "--proxy-beta", PROXYCLIP}, {S_GAMMA, "--proxy-gamma", PROXYCLIP},
    };
    static const char *const k_users[] = {"the cliptrase head (its cluster vote)",
                                          "the heads of the mmseg pipeline (clip, maskclip, sclip, clearclip, naclip, scclip, proxyclip)",
                                          "the naclip head (its Gaussian prior)", "the scclip head (its layers and calibration)",
                                          "the proxyclip head (its proxy attention)"};
    int cliptrase = o->head == CT_HEAD_CLIPTRASE, naclip = o->head == CT_HEAD_NACLIP, scclip = o->head == CT_HEAD_SCCLIP;
    int proxyclip = o->head == CT_HEAD_PROXYCLIP;
    for (size_t i = 0; i < sizeof k_only / sizeof *k_only; i++) {
        int w = k_only[i].who,
            used = w == CLIPTRASE ? cliptrase : w == OTHERS ? !cliptrase : w == NACLIP ? naclip : w == SCCLIP ? scclip : proxyclip;
        if ((o->set & k_only[i].bit) && !used)
            return usage_error("%s applies to %s, not to --head %s: drop it, or choose such a head", k_only[i].flag, k_users[w], ct_head_name(o->head));
    }
    return 0;
}

static void segment_params(const tool_opts *o, const ct_model *m, ct_segment_params *sp) {
    const ct_segment_params *f = &o->flags;
    ct_segment_params_preset_for(sp, o->head, m); /* the windows follow the model's native size */
    if (o->set & S_EPS) sp->eps = f->eps;
    if (o->set & S_MINS) sp->min_samples = f->min_samples;
    if (o->set & S_CLSRW) sp->cls_reweight = f->cls_reweight;
    if (o->set & S_SLIDE) { sp->slide_crop = f->slide_crop; sp->slide_stride = f->slide_stride; }
    if (o->set & S_PAMR) sp->pamr_steps = f->pamr_steps;
    if (o->set & S_DIL) {
        sp->n_pamr_dilations = f->n_pamr_dilations;
        memcpy(sp->pamr_dilations, f->pamr_dilations, sizeof sp->pamr_dilations);
    }
    if (o->set & S_SCALE) sp->logit_scale = f->logit_scale;
    if (o->set & S_PROB) sp->prob_thd = f->prob_thd;
    if (o->set & S_AREA) sp->area_thd = f->area_thd;
    if (o->set & S_STD) sp->gaussian_std = f->gaussian_std;
    if (o->set & S_SCLAYERS) memcpy(sp->sc_layers, f->sc_layers, sizeof sp->sc_layers);
    if (o->set & S_RESCLS) sp->sc_res_cls = f->sc_res_cls;
    if (o->set & S_SCBETA) sp->sc_beta = f->sc_beta;
    if (o->set & S_BETA) sp->proxy_beta = f->proxy_beta;
    if (o->set & S_GAMMA) sp->proxy_gamma = f->proxy_gamma;
    sp->n_threads = o->threads;
}

/* The vocabulary: --vocab, else beside the model, else the data directories. */
static int resolve_vocab(tool_session *s, const tool_opts *o) {
    if (s->vocab_path) return 0;
    if (o->vocab_path) { s->vocab_path = xasprintf("%s", o->vocab_path); return s->vocab_path ? 0 : runtime_error("out of memory"); }
    static const char *const names[2] = {"vocab.json", "bpe_simple_vocab_16e6.txt.gz"};
    char *dir = path_dir(s->model_path);
    for (int i = 0; dir && i < 2 && !s->vocab_path; i++) {
        char *p = path_join(dir, names[i]);
        if (p && is_file(p)) s->vocab_path = p;
        else free(p);
    }
    for (int i = 1; i >= 0 && !s->vocab_path; i--) s->vocab_path = data_find(names[i]);
    if (!s->vocab_path) {
        char *where = searched_list();
        int rc = runtime_error("no vocabulary (vocab.json with merges.txt, or bpe_simple_vocab_16e6.txt.gz) beside the model in %s, nor in the data "
                               "directories (%s): pass --vocab PATH, or fetch it with tools/fetch-weights.sh",
                               dir && *dir ? dir : ".", where ? where : "?");
        free(where);
        free(dir);
        return rc;
    }
    free(dir);
    return 0;
}

/* --proxy-model: the proxy backbone of head proxyclip (refused for any other head), loaded with
 * the model's precision and threads; the library refuses a CLIP file as proxy (ct_segment_memory) */
static int load_proxy(tool_session *s, const tool_opts *o) {
    if (!o->proxy_path) return 0;
    progress("loading the proxy %s", o->proxy_path);
    ct_error err;
    if (ct_model_load_ex(o->proxy_path, &s->lp, &s->proxy, &err)) return runtime_error("--proxy-model: %s", err.msg);
    if (verbose) {
        char d[1024];
        ct_model_describe(s->proxy, d, sizeof d);
        progress("proxy: %s", d);
    }
    return 0;
}

void warn_random(const ct_model *m, const char *path) {
    const char *r = ct_model_metadata(m, CT_META_RANDOM_WEIGHTS);
    if (r && !strcmp(r, "1"))
        warn("'%s' holds random weights (made by ct-random-weights): the labels mean nothing; tools/fetch-weights.sh fetches a real checkpoint", path);
}

int session_load(tool_session *s, const tool_opts *o, unsigned groups) {
    if ((groups & OG_SEG) && o->head != CT_HEAD_PROXYCLIP && o->proxy_path)
        return usage_error("--proxy-model belongs to --head proxyclip (the head is %s)", ct_head_name(o->head));
    int rc = opts_load_params(o, &s->lp);
    if (rc) return rc;
    if ((groups & OG_SEG) && (rc = head_options_check(o))) return rc;
    if (o->model_path) s->model_path = xasprintf("%s", o->model_path);
    else if (!(s->model_path = data_find(DEFAULT_MODEL_FILE))) {
        char *where = searched_list();
        rc = runtime_error("no model given and no " DEFAULT_MODEL_FILE " in the data directories (%s): pass -m PATH, set CT_DATA_DIR, or fetch it with tools/fetch-weights.sh",
                           where ? where : "?");
        free(where);
        return rc;
    }
    if (!s->model_path) return runtime_error("out of memory");
    progress("loading %s", s->model_path);
    ct_error err;
    if (ct_model_load_ex(s->model_path, &s->lp, &s->model, &err)) return runtime_error("%s", err.msg);
    s->cfg = ct_model_config(s->model);
    warn_random(s->model, s->model_path);
    if (verbose) {
        char d[1024];
        ct_model_describe(s->model, d, sizeof d);
        progress("model: %s", d);
    }
    if (s->cfg->arch != CT_ARCH_CLIP)
        return usage_error("'%s' is a %s backbone (vision only): -m needs a CLIP model; a DINO model is the proxy of --head proxyclip "
                           "(--proxy-model)", s->model_path, s->cfg->arch == CT_ARCH_DINO ? "DINO" : "DINOv2");
    if ((rc = load_proxy(s, o))) return rc;
    if (groups & OG_CLASSES) {
        cache_open(&s->cache, o->no_cache);
        if ((rc = resolve_vocab(s, o))) return rc;
        if (verbose) progress("vocabulary: %s", s->vocab_path);
    }
    int patch = s->cfg->patch;
    if (groups & OG_IMAGE) {
        int r = ct_round_size(o->size, patch);
        if (o->size_given && r != o->size) progress("note: --size %d is not a multiple of the patch size %d: using %d", o->size, patch, r);
        else if (!o->size_given && verbose) progress("size %d (%d rounded to the patch size %d)", r, CT_DEFAULT_SIZE, patch);
        s->size = r;
    }
    if (groups & OG_SEG) {
        segment_params(o, s->model, &s->sp);
        s->sp.proxy = s->proxy;
        size_t bytes;
        /* the library's own checks of the parameters, on an image of 8 x 8 patches (of both models; enough
         * for every head's minimum window: SC-CLIP's outlier detection needs 31 patches): before any heavy work */
        int side = 8 * (s->proxy && ct_model_config(s->proxy)->patch > patch ? ct_model_config(s->proxy)->patch : patch);
        if (ct_segment_memory(s->model, side, side, s->cl.n_names > 0 ? s->cl.n_names : 1, &s->sp, 0, &bytes, &err))
            return usage_error("%s", err.msg);
    }
    return 0;
}

uint64_t templates_hash(void) {
    int n = 0;
    const char *const *t = ct_default_templates(&n);
    hash64_state st;
    hash64_init(&st, 0x74656d706c617465ull);
    for (int i = 0; i < n; i++) hash64_update(&st, t[i], strlen(t[i]) + 1);
    return hash64_final(&st);
}

int session_vocab_hash(tool_session *s, uint64_t *h) {
    ct_error err;
    uint64_t a = 0, b = 0;
    if (!hash_file(s->vocab_path, &a, &err)) return runtime_error("%s (pass --vocab PATH)", err.msg);
    size_t n = strlen(s->vocab_path);
    if (n >= 5 && !strcmp(s->vocab_path + n - 5, ".json")) {
        char *dir = path_dir(s->vocab_path), *m = dir ? path_join(dir, "merges.txt") : NULL;
        int ok = m && hash_file(m, &b, &err);
        free(dir); free(m);
        if (!ok) return runtime_error("%s", err.msg);
    }
    *h = a ^ (b * 0x9E3779B97F4A7C15ull);
    return 0;
}

int session_model_hash(tool_session *s, uint64_t *h) {
    if (!s->model_hash) {
        ct_error err;
        if (!file_content_hash(&s->cache, s->model_path, &s->model_hash, &err)) return runtime_error("%s", err.msg);
    }
    *h = s->model_hash;
    return 0;
}

int session_embeddings(tool_session *s, float **out, int *n_cached) {
    int n = s->cl.n_names, E = s->cfg->embed_dim, rc = 0;
    *n_cached = 0;
    float *emb = malloc(sizeof(float) * (size_t)n * (size_t)E);
    int *todo = malloc(sizeof(int) * (size_t)n);
    const char **names = malloc(sizeof(char *) * (size_t)n);
    float *fresh = NULL;
    ct_tokenizer *tok = NULL;
    if (!emb || !todo || !names) { rc = runtime_error("out of memory"); goto done; }
    emb_key key = {0, 0, templates_hash(), ct_model_precision(s->model), s->lp.backend, E};
    if (s->cache.dir) {
        if ((rc = session_model_hash(s, &key.model)) || (rc = session_vocab_hash(s, &key.vocab))) goto done;
    }
    int n_todo = 0;
    for (int i = 0; i < n; i++) {
        if (cache_get(&s->cache, &key, s->cl.names[i], emb + (size_t)i * E) == 1) (*n_cached)++;
        else todo[n_todo++] = i;
    }
    if (!n_todo) {
        progress("all %d class embeddings from the cache", n);
        goto done;
    }
    ct_error err;
    if (ct_tokenizer_load(s->vocab_path, &tok, &err)) { rc = runtime_error("%s (pass --vocab PATH)", err.msg); goto done; }
    int nt = 0, cut_total = 0;
    ct_default_templates(&nt);
    progress("encoding %d class name%s (%d prompts)%s", n_todo, n_todo == 1 ? "" : "s", n_todo * nt, *n_cached ? ", the rest from the cache" : "");
    /* in batches, each stored as soon as it is done: progress, and an interrupted run keeps them */
    int batch = n_todo / 25 < 1 ? 1 : n_todo / 25 > 32 ? 32 : n_todo / 25;
    fresh = malloc(sizeof(float) * (size_t)batch * (size_t)E);
    if (!fresh) { rc = runtime_error("out of memory"); goto done; }
    progress_line pl;
    progress_start(&pl, "class names", n_todo);
    double t0 = now();
    for (int k0 = 0; k0 < n_todo; k0 += batch) {
        int k1 = k0 + batch < n_todo ? k0 + batch : n_todo, cut = 0;
        for (int k = k0; k < k1; k++) names[k - k0] = s->cl.names[todo[k]];
        if (ct_class_embeddings_ex(s->model, tok, names, k1 - k0, NULL, 0, s->lp.n_threads, fresh, &cut, &err)) {
            progress_end(&pl);
            rc = runtime_error("%s", err.msg);
            goto done;
        }
        cut_total += cut;
        for (int k = k0; k < k1; k++) {
            memcpy(emb + (size_t)todo[k] * E, fresh + (size_t)(k - k0) * E, sizeof(float) * (size_t)E);
            cache_put(&s->cache, &key, s->cl.names[todo[k]], fresh + (size_t)(k - k0) * E);
        }
        progress_step(&pl, k1);
    }
    progress_end(&pl);
    if (n_todo > 1) progress("encoded %d class names in %.1f s", n_todo, now() - t0);
    if (cut_total) warn("%d prompts were longer than the %d-token context and were cut", cut_total, s->cfg->context_length);
done:
    if (rc) { free(emb); emb = NULL; }
    *out = emb;
    free(todo); free(names); free(fresh);
    ct_tokenizer_free(tok);
    return rc;
}

void session_free(tool_session *s) {
    cache_close(&s->cache);
    classes_free(&s->cl);
    ct_model_free(s->model);
    ct_model_free(s->proxy);
    free(s->model_path);
    free(s->vocab_path);
    memset(s, 0, sizeof *s);
}
