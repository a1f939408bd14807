/* ct-eval: evaluate a head (CLIPtrase by default) on a folder of images with ground-truth label
 * PNGs.
 *
 *   ct-eval -m MODEL --images DIR --gt DIR --classes-file FILE [options]
 *   ct-eval --merge STATE... --classes-file FILE [--background-file FILE]
 *
 * Metrics are the reference's (CLIPtrase configs/metric.py) over one confusion matrix of all
 * images: pAcc, mAcc (per-class recall with +0.01 in the denominator, averaged over every
 * class), fwIoU, mIoU (IoU with +0.01 in the denominator, averaged over classes present in the
 * ground truth). Ground-truth pixels outside [0, labels) are ignored.
 *
 * The state file records every setting that changes the result (model and vocabulary contents,
 * precision, size, crop, class list, background, head and pipeline parameters, directories) and
 * then one line per image, each with its own checksum, appended as the run goes: an interrupted
 * run resumes where it stopped, a run with other settings is refused with the setting named, and
 * shards of a job array (--shard i/N) merge only when their settings agree.
 * Exit status: 0 ok, 1 usage error, 2 runtime error. */
#include "cliptrase.h"
#include "common.h"
#include "common/inputs.h"
#include "common/shard.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define GROUPS (OG_MODEL | OG_CLASSES | OG_IMAGE | OG_SEG | OG_GENERAL)
#define STATE_MAGIC "ct-eval-state 2"
#define STATE_MAX ((size_t)1 << 30)
#define HIST_MAX ((size_t)1 << 30)   /* bytes of the confusion matrix */
#define LINE_MAX_COUNT (1ull << 40)  /* pixels of one image's confusion entry */

/* ------------------------------------------------------------------ settings */

typedef struct {
    char **key, **val;
    int n;
    size_t cap_k, cap_v;
} settings;

static int set_add(settings *s, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_add(settings *s, const char *key, const char *fmt, ...) {
    char v[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    /* values are one token of printable ASCII: paths and names go in as hashes */
    for (char *p = v; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) *p = '_';
    if (!grow(&s->key, &s->cap_k, (size_t)s->n + 1, sizeof *s->key) || !grow(&s->val, &s->cap_v, (size_t)s->n + 1, sizeof *s->val)) return 0;
    s->key[s->n] = xasprintf("%s", key);
    s->val[s->n] = xasprintf("%s", v);
    if (!s->key[s->n] || !s->val[s->n]) { free(s->key[s->n]); free(s->val[s->n]); return 0; }
    s->n++;
    return 1;
}

static void set_free(settings *s) {
    for (int i = 0; i < s->n; i++) { free(s->key[i]); free(s->val[i]); }
    free(s->key); free(s->val);
    memset(s, 0, sizeof *s);
}

static const char *set_get(const settings *s, const char *key) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->key[i], key)) return s->val[i];
    return NULL;
}

/* The first difference between the settings of a state and of this run, as a message; NULL if none. */
static char *set_diff(const settings *state, const settings *run) {
    for (int i = 0; i < run->n; i++) {
        const char *v = set_get(state, run->key[i]);
        if (!v) return xasprintf("%s is not recorded there (%s here)", run->key[i], run->val[i]);
        if (strcmp(v, run->val[i])) return xasprintf("%s is %s there, %s here", run->key[i], v, run->val[i]);
    }
    for (int i = 0; i < state->n; i++)
        if (!set_get(run, state->key[i])) return xasprintf("%s is %s there, not set here", state->key[i], state->val[i]);
    return NULL;
}

static uint64_t path_hash(const char *dir) {
    char *r = realpath(dir, NULL);
    const char *p = r ? r : dir;
    uint64_t h = hash64(p, strlen(p), 0);
    free(r);
    return h;
}

/* Every setting that changes the numbers. */
static int run_settings(settings *st, tool_session *s, const tool_opts *o, const char *img_dir, const char *gt_dir, const char *pred_dir,
                        int gt_bg) {
    const classes *cl = &s->cl;
    int ok = set_add(st, "labels", "%d", cl->n_labels) && set_add(st, "classes", "%016llx", (unsigned long long)classes_hash(cl)) &&
             set_add(st, "gt-background", "%d", gt_bg) && set_add(st, "ground-truth-dir", "%016llx", (unsigned long long)path_hash(gt_dir));
    if (!ok) return runtime_error("out of memory");
    if (pred_dir) {
        ok = set_add(st, "predictions-dir", "%016llx", (unsigned long long)path_hash(pred_dir));
        return ok ? 0 : runtime_error("out of memory");
    }
    uint64_t mh = 0, vh = 0;
    int rc = session_model_hash(s, &mh);
    if (!rc) rc = session_vocab_hash(s, &vh);
    if (rc) return rc;
    const ct_segment_params *p = &s->sp;
    char dil[128] = "";
    for (int i = 0; i < p->n_pamr_dilations; i++) snprintf(dil + strlen(dil), sizeof dil - strlen(dil), "%s%d", i ? "," : "", p->pamr_dilations[i]);
    ok = set_add(st, "images-dir", "%016llx", (unsigned long long)path_hash(img_dir)) &&
         set_add(st, "model", "%016llx", (unsigned long long)mh) && set_add(st, "vocabulary", "%016llx", (unsigned long long)vh) &&
         set_add(st, "templates", "%016llx", (unsigned long long)templates_hash()) &&
         set_add(st, "precision", "%s", ct_precision_name(s->lp.precision)) &&
         set_add(st, "backend", "%s", s->lp.backend == CT_BACKEND_OPENBLAS ? "openblas" : "native") && set_add(st, "size", "%d", s->size) &&
         set_add(st, "crop", "%d", o->crop) && set_add(st, "head", "%s", ct_head_name(p->head)) &&
         set_add(st, "gaussian-std", "%.9g", (double)p->gaussian_std) && set_add(st, "eps", "%.9g", (double)p->eps) &&
         set_add(st, "min-samples", "%d", p->min_samples) && set_add(st, "median-size", "%d", p->median_size) &&
         set_add(st, "upsample-ratio", "%d", p->upsample_ratio) && set_add(st, "cls-reweight", "%d", p->cls_reweight) &&
         set_add(st, "slide", "%d,%d", p->slide_crop, p->slide_stride) && set_add(st, "pamr", "%d", p->pamr_steps) &&
         set_add(st, "pamr-dilations", "%s", dil) && set_add(st, "logit-scale", "%.9g", (double)p->logit_scale) &&
         set_add(st, "prob-thd", "%.9g", (double)p->prob_thd) && set_add(st, "area-thd", "%.9g", (double)p->area_thd);
    /* the backbone in words (the model hash above already pins its contents) */
    const ct_config *c = s->cfg;
    ok = ok && set_add(st, "backbone", "vit-p%d-i%d-w%d-l%d-h%d-mlp%d-%s", c->patch, c->image_size, c->vision_width,
                       c->vision_layers, c->vision_heads, c->vision_mlp, c->vision_act == CT_ACTIVATION_GELU ? "gelu" : "quick_gelu");
    return ok ? 0 : runtime_error("out of memory");
}

/* ------------------------------------------------------------------ state */

typedef struct {
    int L;
    uint64_t *hist;  /* [L x L] gt x pred */
    char **done;     /* image names counted */
    uint64_t *line;  /* their lines' checksums */
    int n_done;
    size_t cap_done, cap_line;
} state;

static int find_done(const state *s, const char *name) {
    for (int i = 0; i < s->n_done; i++)
        if (!strcmp(s->done[i], name)) return i;
    return -1;
}

static int mark_done(state *s, const char *name, uint64_t check) {
    if (!grow(&s->done, &s->cap_done, (size_t)s->n_done + 1, sizeof *s->done) || !grow(&s->line, &s->cap_line, (size_t)s->n_done + 1, sizeof *s->line))
        return 0;
    if (!(s->done[s->n_done] = xasprintf("%s", name))) return 0;
    s->line[s->n_done++] = check;
    return 1;
}

static void free_state(state *s) {
    for (int i = 0; i < s->n_done; i++) free(s->done[i]);
    free(s->done); free(s->line); free(s->hist);
    memset(s, 0, sizeof *s);
}

static int new_state(state *s, int L) {
    memset(s, 0, sizeof *s);
    s->L = L;
    size_t n = (size_t)L * (size_t)L;
    if (n > HIST_MAX / sizeof(uint64_t)) return runtime_error("%d labels: the confusion matrix would exceed %zu bytes", L, HIST_MAX);
    s->hist = calloc(n, sizeof(uint64_t));
    return s->hist ? 0 : runtime_error("out of memory");
}

/* One "img" line's pairs "g p c g p c ..." into hist (all checked first: nothing is added from a
 * damaged line); returns NULL or a reason. */
static const char *add_pairs(state *s, const char *p) {
    size_t mark = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *q = p;
        uint64_t total = 0;
        mark = 0;
        while (*q) {
            char *e;
            errno = 0;
            unsigned long long g = strtoull(q, &e, 10);
            if (e == q || *e != ' ') return "malformed pair";
            q = e + 1;
            unsigned long long pr = strtoull(q, &e, 10);
            if (e == q || *e != ' ') return "malformed pair";
            q = e + 1;
            unsigned long long c = strtoull(q, &e, 10);
            if (e == q || (*e != ' ' && *e) || errno) return "malformed count";
            q = *e ? e + 1 : e;
            if (g >= (unsigned long long)s->L || pr >= (unsigned long long)s->L) return "label outside the class list";
            if (c == 0 || c > LINE_MAX_COUNT || (total += c) > LINE_MAX_COUNT) return "count out of range";
            uint64_t *h = &s->hist[g * (unsigned long long)s->L + pr];
            if (pass == 0 && *h > UINT64_MAX - c) return "the counts overflow";
            if (pass == 1) *h += c;
            mark++;
        }
    }
    return NULL;
}

/* Read and check a state file; st receives its settings. *good_end: bytes up to the last complete
 * line (a torn last line, from an interrupted write, is dropped). Returns 0 or the exit status. */
static int load_state(state *s, const char *path, settings *st, size_t *good_end, size_t *file_len) {
    char *buf = NULL;
    size_t len = 0;
    ct_error err;
    if (!read_file(path, STATE_MAX, &buf, &len, &err)) return runtime_error("state: %s", err.msg);
    int rc = 0, lineno = 0, in_settings = 1;
    hash64_state hs;
    hash64_init(&hs, 0);
    char *p = buf;
    *file_len = len;
    *good_end = 0;
    while (p < buf + len) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        if (!nl) break; /* torn last line */
        *nl = 0;
        lineno++;
        char *line = p;
        size_t line_len = (size_t)(nl - p);
        p = nl + 1;
        if (strlen(line) != line_len) { rc = runtime_error("'%s', line %d: damaged (a NUL byte)", path, lineno); break; }
        if (lineno == 1) {
            if (!strncmp(line, "ct-eval-state 1", 15)) { rc = runtime_error("'%s' was written by an older ct-eval that did not record the settings: start a new state file", path); break; }
            if (strcmp(line, STATE_MAGIC)) { rc = runtime_error("'%s' is not a ct-eval state file", path); break; }
            hash64_update(&hs, line, line_len);
            hash64_update(&hs, "\n", 1);
            continue;
        }
        char *f1 = strchr(line, '\t'), *f2 = f1 ? strchr(f1 + 1, '\t') : NULL;
        if (in_settings) {
            if (!strncmp(line, "settings-end\t", 13)) {
                char want[20];
                snprintf(want, sizeof want, "%016llx", (unsigned long long)hash64_final(&hs));
                if (strcmp(line + 13, want)) { rc = runtime_error("'%s': the settings are damaged (checksum)", path); break; }
                in_settings = 0;
                *good_end = (size_t)(p - buf);
                continue;
            }
            if (strncmp(line, "set\t", 4) || !f2 || strchr(f2 + 1, '\t') || !f2[1]) { rc = runtime_error("'%s', line %d: damaged setting", path, lineno); break; }
            hash64_update(&hs, line, line_len);
            hash64_update(&hs, "\n", 1);
            *f2 = 0;
            if (!set_add(st, f1 + 1, "%s", f2 + 1)) { rc = runtime_error("out of memory"); break; }
            continue;
        }
        /* img <name> <pairs> <checksum of what precedes the last tab> */
        char *last = strrchr(line, '\t');
        if (strncmp(line, "img\t", 4) || !f2 || last == f2 || !last) { rc = runtime_error("'%s', line %d: damaged", path, lineno); break; }
        char want[20];
        snprintf(want, sizeof want, "%016llx", (unsigned long long)hash64(line, (size_t)(last - line), 0));
        if (strcmp(last + 1, want)) { rc = runtime_error("'%s', line %d: damaged (checksum)", path, lineno); break; }
        uint64_t check = hash64(line, line_len, 0);
        *f2 = 0;
        *last = 0;
        const char *name = f1 + 1;
        int prev = find_done(s, name);
        if (prev >= 0) {
            /* the same image in two states (overlapping shards) counts once, if it counted the same */
            if (s->line[prev] != check) { rc = runtime_error("'%s', line %d: image '%s' was already counted with other numbers", path, lineno, name); break; }
            *good_end = (size_t)(p - buf);
            continue;
        }
        const char *why = add_pairs(s, f2 + 1);
        if (why) { rc = runtime_error("'%s', line %d: damaged (%s)", path, lineno, why); break; }
        if (!mark_done(s, name, check)) { rc = runtime_error("out of memory"); break; }
        *good_end = (size_t)(p - buf);
    }
    if (!rc && in_settings) rc = runtime_error("'%s' is not a complete ct-eval state file (no settings)", path);
    free(buf);
    return rc;
}

static char *settings_text(const settings *st) {
    size_t n = strlen(STATE_MAGIC) + 2;
    for (int i = 0; i < st->n; i++) n += strlen(st->key[i]) + strlen(st->val[i]) + 8;
    char *t = malloc(n + 64);
    if (!t) return NULL;
    size_t o = (size_t)sprintf(t, STATE_MAGIC "\n");
    for (int i = 0; i < st->n; i++) o += (size_t)sprintf(t + o, "set\t%s\t%s\n", st->key[i], st->val[i]);
    sprintf(t + o, "settings-end\t%016llx\n", (unsigned long long)hash64(t, o, 0));
    return t;
}

/* ------------------------------------------------------------------ metrics */

static int print_metrics(const state *s, const classes *cl) {
    int L = s->L;
    double total = 0, diag = 0;
    double *row = calloc((size_t)L, sizeof(double)), *col = calloc((size_t)L, sizeof(double));
    if (!row || !col) { free(row); free(col); return runtime_error("out of memory"); }
    for (int g = 0; g < L; g++)
        for (int p = 0; p < L; p++) {
            double v = (double)s->hist[(size_t)g * L + p];
            row[g] += v;
            col[p] += v;
            total += v;
            if (g == p) diag += v;
        }
    double macc = 0, miou = 0, fw = 0;
    int nvalid = 0;
    printf("%-32s %8s %8s %8s\n", "class", "IoU", "Acc", "GT share");
    for (int c = 0; c < L; c++) {
        double d = (double)s->hist[(size_t)c * L + c];
        double acc = d / (row[c] + 0.01), iu = d / (row[c] + col[c] - d + 0.01);
        macc += acc;
        if (row[c] > 0) { miou += iu; nvalid++; }
        if (total > 0 && row[c] > 0) fw += row[c] / total * iu;
        char t[LEGEND_MAX_GLYPHS * 4];
        legend_text(cl->title[c], t, sizeof t, 32);
        printf("%-32.32s %8.2f %8.2f %8.2f\n", t, 100 * iu, 100 * acc, total > 0 ? 100 * row[c] / total : 0.0);
    }
    printf("images: %d, pixels: %.0f\n", s->n_done, total);
    printf("pAcc: %.2f\nmAcc: %.2f\nfwIoU: %.2f\nmIoU: %.2f\n", total > 0 ? 100 * diag / total : 0.0, 100 * macc / L, 100 * fw,
           nvalid ? 100 * miou / nvalid : 0.0);
    free(row);
    free(col);
    return 0;
}

/* ------------------------------------------------------------------ images and ground truth */

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* sorted image file names of a folder; 0 or the exit status */
static int list_images(const char *dir, char ***out, int *n) {
    DIR *d = opendir(dir);
    if (!d) return runtime_error("cannot list '%s': %s", dir, strerror(errno));
    char **v = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !has_image_ext(e->d_name) || strpbrk(e->d_name, "\t\n\r")) continue;
        if (!grow(&v, &cap, (size_t)*n + 1, sizeof *v) || !(v[*n] = xasprintf("%s", e->d_name))) { rc = runtime_error("out of memory"); break; }
        (*n)++;
    }
    closedir(d);
    if (rc) {
        for (int i = 0; i < *n; i++) free(v[i]);
        free(v);
        *n = 0;
        return rc;
    }
    if (v) qsort(v, (size_t)*n, sizeof *v, cmpstr);
    *out = v;
    return 0;
}

/* a label PNG (grey or palette) as uint16 (values above 65535 become 65535: ignored) */
static uint16_t *load_labels(const char *path, int *w, int *h, ct_error *err) {
    int32_t *lab = NULL;
    if (ct_labels_load_png(path, &lab, w, h, err)) return NULL;
    size_t n = (size_t)*w * (size_t)*h;
    uint16_t *g = malloc(n * sizeof *g + 1);
    if (!g) { ct_free(lab); fail_msg(err, CT_ERR_NOMEM, "out of memory"); return NULL; }
    for (size_t i = 0; i < n; i++) g[i] = (uint16_t)(lab[i] < 0 ? 65535 : lab[i] > 65535 ? 65535 : lab[i]);
    ct_free(lab);
    return g;
}

/* Labels of one image by the model, compared where the ground truth is: pred and gt [*n] on
 * return (the ground truth resized and cropped like the picture with --crop). 0: evaluated;
 * 1: skipped (reported); 2: fatal (reported). */
static int predict(tool_session *s, const tool_opts *o, const float *emb, const char *path, const char *name, uint16_t **gt, int gw, int gh,
                   int32_t **pred, size_t *n) {
    ct_error err;
    ct_image *img = NULL;
    float *px = NULL;
    int32_t *lab = NULL;
    int H = 0, W = 0, rc = 1;
    ct_geometry g;
    if (ct_image_load(path, &img, &err)) { warn("skipping %s: %s", name, err.msg); return 1; }
    /* the ground truth must be the picture's, with or without --crop */
    if (img->width != gw || img->height != gh) {
        warn("skipping %s: the ground truth is %d x %d, the picture %d x %d", name, gw, gh, img->width, img->height);
        goto done;
    }
    /* the library's geometry, checked here first: extreme aspect ratios are refused before any work */
    if (ct_resize_geometry(img->width, img->height, s->size, o->crop, s->cfg->patch, &g, &err)) { warn("skipping %s: %s", name, err.msg); goto done; }
    if (ct_preprocess(img, s->size, o->crop, s->cfg->patch, &px, &H, &W, &err)) { warn("skipping %s: %s", name, err.msg); goto done; }
    if (H != g.height || W != g.width) { rc = runtime_error("%s: the model input is %d x %d, the geometry says %d x %d", name, W, H, g.width, g.height); goto done; }
    lab = malloc(sizeof(int32_t) * (size_t)H * (size_t)W);
    if (!lab) { rc = runtime_error("out of memory"); goto done; }
    if (ct_segment(s->model, px, H, W, emb, s->cl.n_names, s->cl.label, &s->sp, lab, NULL, &err)) {
        /* a picture too large is skipped; what would fail for every picture stops the run */
        if (err.status == CT_ERR_TOO_LARGE || err.status == CT_ERR_NONFINITE) warn("skipping %s: %s", name, err.msg);
        else rc = runtime_error("%s: %s", name, err.msg);
        goto done;
    }
    if (o->crop) {
        /* the paper's protocol: compared on the crop, the ground truth resized (nearest) and cropped */
        uint16_t *g2 = malloc(sizeof(uint16_t) * (size_t)g.width * (size_t)g.height);
        if (!g2) { rc = runtime_error("out of memory"); goto done; }
        labels_resize_crop(*gt, gw, gh, &g, g2);
        free(*gt);
        *gt = g2;
        *pred = lab;
        lab = NULL;
        *n = (size_t)g.width * (size_t)g.height;
    } else {
        int32_t *full = malloc(sizeof(int32_t) * (size_t)gw * (size_t)gh);
        if (!full) { rc = runtime_error("out of memory"); goto done; }
        if (ct_labels_to_image(lab, H, W, gw, gh, s->size, 0, full, &err)) { free(full); rc = runtime_error("%s: %s", name, err.msg); goto done; }
        *pred = full;
        *n = (size_t)gw * (size_t)gh;
    }
    rc = 0;
done:
    ct_image_free(img);
    ct_free(px);
    free(lab);
    return rc;
}

static void usage(FILE *f) {
    fprintf(f, "usage: %s -m MODEL --images DIR --gt DIR --classes-file FILE [options]\n"
               "       %s --merge STATE... --classes-file FILE [--background-file FILE]\n"
               "data:\n"
               "      --images DIR          pictures (jpg, png, bmp, tga, gif)\n"
               "      --gt DIR              ground truth: <image stem>.png, grey label values or palette indices\n"
               "                            (VOC's SegmentationClass); values outside the labels are ignored\n"
               "      --predictions DIR     evaluate existing label PNGs (<stem>.png) instead of running a model\n"
               "      --gt-background V     ground-truth value that means the background label (needs -b or\n"
               "                            --background-file; e.g. 255 for the reference's VOC21)\n"
               "      --state FILE          progress and settings (default ct-eval.state): resumes, merges\n"
               "      --shard i/N           evaluate images i, i+N, i+2N, ... of the sorted list\n"
               "      --shard auto          i and N of this Slurm job array task ($SLURM_ARRAY_TASK_ID minus\n"
               "                            $SLURM_ARRAY_TASK_MIN, $SLURM_ARRAY_TASK_COUNT; docs/cluster.md)\n"
               "      --merge STATE...      add up state files made with the same settings and print the metrics\n",
            tool_name, tool_name);
    opts_help(f, GROUPS);
    fprintf(f, "Exit status: 0 ok, 1 usage error, 2 runtime error (also when no image could be evaluated).\n");
}

enum { O_IMAGES = OPT_TOOL, O_GT, O_PRED, O_GTBG, O_STATE, O_SHARD, O_MERGE };

static int merge_states(char **files, int n, const classes *cl) {
    state s;
    int rc = new_state(&s, cl->n_labels);
    settings first = {0};
    for (int i = 0; !rc && i < n; i++) {
        settings st = {0};
        size_t good = 0, len = 0;
        rc = load_state(&s, files[i], &st, &good, &len);
        if (!rc) {
            char buf[40];
            snprintf(buf, sizeof buf, "%016llx", (unsigned long long)classes_hash(cl));
            const char *c = set_get(&st, "classes"), *l = set_get(&st, "labels");
            if (!c || strcmp(c, buf) || !l || atoi(l) != cl->n_labels)
                rc = usage_error("'%s' was made with another class list (names, order or background names differ from these)", files[i]);
        }
        if (!rc && i == 0) { first = st; continue; }
        char *d = rc ? NULL : set_diff(&first, &st);
        if (d) rc = usage_error("'%s' and '%s' were made with different settings: %s", files[0], files[i], d);
        free(d);
        set_free(&st);
    }
    set_free(&first);
    if (!rc && !s.n_done) rc = runtime_error("the state files hold no evaluated image");
    if (!rc) rc = print_metrics(&s, cl);
    free_state(&s);
    return rc;
}

int main(int argc, char **argv) {
    tool_init(argv[0], "ct-eval");
    tool_opts o;
    opts_init(&o);
    const char *img_dir = NULL, *gt_dir = NULL, *pred_dir = NULL, *state_path = "ct-eval.state";
    int merge = 0, shard_i = 0, shard_n = 1, gt_bg = -1;
    static const struct option mine[] = {
        {"images", required_argument, 0, O_IMAGES}, {"gt", required_argument, 0, O_GT}, {"predictions", required_argument, 0, O_PRED},
        {"gt-background", required_argument, 0, O_GTBG}, {"state", required_argument, 0, O_STATE}, {"shard", required_argument, 0, O_SHARD},
        {"merge", no_argument, 0, O_MERGE}, {0, 0, 0, 0}};
    opts_parser op;
    opts_table(&op, GROUPS, mine, "");
    for (int c; (c = opts_next(&o, &op, argc, argv)) != -1;) {
        switch (c) {
        case OPTS_ERROR: return 1;
        case O_IMAGES: img_dir = optarg; break;
        case O_GT: gt_dir = optarg; break;
        case O_PRED: pred_dir = optarg; break;
        case O_GTBG: if (!parse_int(optarg, 0, 65535, &gt_bg)) return usage_error("--gt-background needs a value in [0, 65535], not '%s'", optarg); break;
        case O_STATE: state_path = optarg; break;
        case O_SHARD: {
            ct_error e;
            if (!shard_parse(optarg, &shard_i, &shard_n, &e)) return usage_error("%s", e.msg);
            break;
        }
        case O_MERGE: merge = 1; break;
        case 'h': usage(stdout); return close_stdout();
        }
    }
    if (!o.classes_file && !o.class_list) return usage_error("no classes: give --classes-file FILE (or -c LIST)");
    if (gt_bg >= 0 && !o.bg_file && !o.bg_list) return usage_error("--gt-background needs background names (--background-file or -b): without them there is no background label");
    tool_session s;
    memset(&s, 0, sizeof s);
    int rc = session_classes(&s, &o);
    if (rc) { session_free(&s); return rc; }
    if (merge) {
        if (optind >= argc) rc = usage_error("--merge needs state files");
        else rc = merge_states(argv + optind, argc - optind, &s.cl);
        session_free(&s);
        int r2 = close_stdout();
        return rc ? rc : r2;
    }
    ct_error err;
    if (optind < argc) rc = usage_error("unexpected argument '%s'", argv[optind]);
    else if (!img_dir || !gt_dir) rc = usage_error("--images and --gt are required");
    else if (!check_output(state_path, "--state", &err)) rc = usage_error("%s", err.msg);
    if (rc) { session_free(&s); return rc; }

    state st;
    settings run = {0}, old = {0};
    char **images = NULL;
    int n_img = 0;
    float *emb = NULL;
    FILE *sf = NULL;
    uint64_t *h1 = NULL;
    size_t *touched = NULL;
    int32_t *pred = NULL;
    uint16_t *gt = NULL;
    char *text = NULL;
    memset(&st, 0, sizeof st);
    if (!pred_dir) {
        if ((rc = session_load(&s, &o, GROUPS))) goto done;
    } else {
        if ((rc = opts_load_params(&o, &s.lp))) goto done;
        s.size = o.size;
    }
    if ((rc = run_settings(&run, &s, &o, img_dir, gt_dir, pred_dir, gt_bg)) || (rc = new_state(&st, s.cl.n_labels))) goto done;

    /* an existing state: its settings must be this run's; every line is checked */
    size_t good_end = 0, file_len = 0;
    if (access(state_path, F_OK) == 0) {
        if ((rc = load_state(&st, state_path, &old, &good_end, &file_len))) goto done;
        char *d = set_diff(&old, &run);
        if (d) {
            rc = usage_error("'%s' was made with other settings: %s (use another --state file, or the same settings)", state_path, d);
            free(d);
            goto done;
        }
        if (good_end < file_len) { /* a line torn by an interrupted run: the valid part, rewritten whole */
            char *buf = NULL;
            size_t len = 0;
            if (!read_file(state_path, STATE_MAX, &buf, &len, &err) || !write_file(state_path, buf, good_end < len ? good_end : len, &err)) {
                free(buf);
                rc = runtime_error("cannot repair '%s': %s", state_path, err.msg);
                goto done;
            }
            free(buf);
            progress("'%s': an incomplete last line (an interrupted run) was dropped", state_path);
        }
    } else {
        text = settings_text(&run);
        if (!text) { rc = runtime_error("out of memory"); goto done; }
        if (!write_file(state_path, text, strlen(text), &err)) { rc = runtime_error("%s", err.msg); goto done; }
    }
    if ((rc = list_images(img_dir, &images, &n_img))) goto done;
    if (!pred_dir) {
        int n_cached = 0;
        if ((rc = session_embeddings(&s, &emb, &n_cached))) goto done;
    }
    sf = fopen(state_path, "a");
    if (!sf) { rc = runtime_error("cannot write '%s': %s", state_path, strerror(errno)); goto done; }
    size_t LL = (size_t)st.L * (size_t)st.L;
    h1 = calloc(LL, sizeof *h1);
    touched = malloc(sizeof *touched * LL);
    if (!h1 || !touched) { rc = runtime_error("out of memory"); goto done; }
    int mine_n = 0, skipped = 0, counted = 0;
    for (int i = shard_i; i < n_img; i += shard_n) mine_n++;
    if (st.n_done) progress("resuming: %d images already in '%s'", st.n_done, state_path);
    double t0 = now();
    for (int i = shard_i, k = 0; i < n_img; i += shard_n, k++) {
        const char *name = images[i];
        if (find_done(&st, name) >= 0) continue;
        char *stem = xasprintf("%.*s", (int)(strrchr(name, '.') - name), name), *gfile = stem ? xasprintf("%s.png", stem) : NULL;
        char *gpath = gfile ? path_join(gt_dir, gfile) : NULL, *ipath = path_join(pred_dir ? pred_dir : img_dir, pred_dir ? gfile : name);
        free(stem);
        if (!gpath || !ipath) { free(gfile); free(gpath); free(ipath); rc = runtime_error("out of memory"); goto done; }
        int gw = 0, gh = 0, r = 1;
        size_t n = 0;
        gt = load_labels(gpath, &gw, &gh, &err);
        if (!gt) warn("skipping %s: ground truth: %s", name, err.msg);
        else if (pred_dir) {
            int pw = 0, ph = 0;
            uint16_t *pp = load_labels(ipath, &pw, &ph, &err);
            if (!pp) warn("skipping %s: prediction: %s", name, err.msg);
            else if (pw != gw || ph != gh) warn("skipping %s: the prediction is %d x %d, the ground truth %d x %d", name, pw, ph, gw, gh);
            else if (!(pred = malloc(sizeof(int32_t) * (size_t)pw * (size_t)ph))) r = runtime_error("out of memory");
            else {
                n = (size_t)pw * (size_t)ph;
                for (size_t q = 0; q < n; q++) pred[q] = pp[q];
                r = 0;
            }
            free(pp);
        } else {
            r = predict(&s, &o, emb, ipath, name, &gt, gw, gh, &pred, &n);
        }
        free(gfile); free(gpath); free(ipath);
        if (r == 2) { rc = 2; goto done; }
        if (r) { skipped++; free(gt); gt = NULL; free(pred); pred = NULL; continue; }
        /* this image's confusion entries, checked, then one appended line with its checksum */
        size_t nt = 0;
        for (size_t q = 0; q < n; q++) {
            int g = gt[q];
            if (gt_bg >= 0 && g == gt_bg) g = s.cl.bg_label;
            if (g < 0 || g >= st.L || pred[q] < 0 || pred[q] >= st.L) continue;
            size_t idx = (size_t)g * (size_t)st.L + (size_t)pred[q];
            if (!h1[idx]++) touched[nt++] = idx; /* at most L x L distinct entries */
        }
        qsort(touched, nt, sizeof *touched, cmp_size);
        free(gt); gt = NULL;
        free(pred); pred = NULL;
        size_t cap = 64 + strlen(name) + nt * 64, o2 = 0;
        char *line = malloc(cap);
        if (!line) { rc = runtime_error("out of memory"); goto done; }
        o2 += (size_t)snprintf(line + o2, cap - o2, "img\t%s\t", name);
        for (size_t t = 0; t < nt; t++) {
            size_t q = touched[t];
            o2 += (size_t)snprintf(line + o2, cap - o2, "%s%zu %zu %llu", t ? " " : "", q / (size_t)st.L, q % (size_t)st.L, (unsigned long long)h1[q]);
        }
        uint64_t check = hash64(line, o2, 0);
        o2 += (size_t)snprintf(line + o2, cap - o2, "\t%016llx", (unsigned long long)check);
        uint64_t whole = hash64(line, o2, 0);
        line[o2++] = '\n';
        errno = 0;
        if (fwrite(line, 1, o2, sf) != o2 || fflush(sf) != 0) {
            free(line);
            rc = runtime_error("cannot write '%s': %s", state_path, strerror(errno ? errno : EIO));
            goto done;
        }
        free(line);
        for (size_t t = 0; t < nt; t++) {
            uint64_t *hh = &st.hist[touched[t]];
            if (*hh > UINT64_MAX - h1[touched[t]]) { rc = runtime_error("the confusion counts overflow"); goto done; }
            *hh += h1[touched[t]];
            h1[touched[t]] = 0;
        }
        if (!mark_done(&st, name, whole)) { rc = runtime_error("out of memory"); goto done; }
        counted++;
        progress("[%d/%d] %s (%.2f s/image)", k + 1, mine_n, name, (now() - t0) / counted);
    }
    progress("%d images evaluated now, %d skipped, %d in total", counted, skipped, st.n_done);
    if (fclose(sf) != 0) { sf = NULL; rc = runtime_error("cannot write '%s': %s", state_path, strerror(errno)); goto done; }
    sf = NULL;
    if (!st.n_done) { rc = runtime_error("no image was evaluated (%d skipped, %d listed in '%s'%s)", skipped, n_img, img_dir, shard_n > 1 ? " for this shard" : ""); goto done; }
    if (skipped) warn("%d image%s skipped (see above)", skipped, skipped == 1 ? " was" : "s were");
    rc = print_metrics(&st, &s.cl);
    if (!rc) rc = close_stdout();
done:
    if (sf) fclose(sf);
    free(text);
    free(gt); free(pred); free(h1); free(touched);
    for (int i = 0; i < n_img; i++) free(images[i]);
    free(images);
    free(emb);
    set_free(&run);
    set_free(&old);
    free_state(&st);
    session_free(&s);
    return rc;
}
