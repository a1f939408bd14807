/* ct-eval: evaluate CLIPtrase on a folder of images with ground-truth label PNGs.
 *
 *   ct-eval -m MODEL --images DIR --gt DIR --classes-file FILE [options]
 *   ct-eval --merge STATE... --classes-file FILE [--background-file FILE]
 *
 * Metrics are the reference's (CLIPtrase configs/metric.py) over one confusion matrix of all
 * images: pAcc, mAcc (per-class recall with +0.01 in the denominator, averaged over every
 * class), fwIoU, mIoU (IoU with +0.01 in the denominator, averaged over classes present in the
 * ground truth). Ground-truth pixels outside [0, labels) are ignored.
 *
 * Progress is appended to a state file after every image (one line per image), so an interrupted
 * run resumes where it stopped and shards of a job array (--shard i/N) can be merged.
 * Exit status: 0 ok, 1 usage error, 2 runtime error. */
#include "cliptrase.h"
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define STATE_MAGIC "ct-eval-state 1"

typedef struct {
    int L;           /* labels */
    uint64_t *hist;  /* [L x L] gt x pred */
    char **done;     /* image names already counted */
    int n_done, cap_done;
} state;

static int is_done(const state *s, const char *name) {
    for (int i = 0; i < s->n_done; i++)
        if (!strcmp(s->done[i], name)) return 1;
    return 0;
}

static int mark_done(state *s, const char *name) {
    if (s->n_done == s->cap_done) {
        int nc = s->cap_done ? s->cap_done * 2 : 64;
        char **nd = realloc(s->done, sizeof(char *) * nc);
        if (!nd) return 0;
        s->done = nd;
        s->cap_done = nc;
    }
    return (s->done[s->n_done++] = strdup(name)) != NULL;
}

/* "img\t<name>\t<gt> <pred> <count> ...": an incomplete last line (a crash mid-write) is ignored
 * and that image is evaluated again. Returns 0 on a malformed file. */
static int load_state(state *s, const char *path, int must_exist, long *good_end) {
    FILE *f = fopen(path, "r");
    if (good_end) *good_end = 0;
    if (!f) return !must_exist;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int ok = 1, first = 1;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n == 0 || line[n - 1] != '\n') break; /* torn last line */
        if (good_end) *good_end = ftell(f);
        line[n - 1] = 0;
        if (first) {
            first = 0;
            int L = 0;
            if (sscanf(line, STATE_MAGIC " labels %d", &L) != 1) { ok = 0; break; }
            if (L != s->L) { fprintf(stderr, "%s: '%s' has %d labels, this class list %d\n", tool_name, path, L, s->L); ok = 0; break; }
            continue;
        }
        char *name = line + 4, *tab = strncmp(line, "img\t", 4) ? NULL : strchr(name, '\t');
        if (!tab) { ok = 0; break; }
        *tab = 0;
        if (is_done(s, name)) continue; /* the same image in two states counts once */
        char *p = tab + 1, *e;
        for (;;) {
            long g = strtol(p, &e, 10);
            if (e == p) break;
            long pr = strtol(e, &p, 10);
            unsigned long long c = strtoull(p, &e, 10);
            if (g < 0 || g >= s->L || pr < 0 || pr >= s->L || e == p) { ok = 0; break; }
            s->hist[(size_t)g * s->L + pr] += c;
            p = e;
        }
        if (!ok || !mark_done(s, name)) { ok = 0; break; }
    }
    free(line);
    fclose(f);
    if (!ok) fprintf(stderr, "%s: '%s' is not a ct-eval state file for these classes\n", tool_name, path);
    return ok;
}

static void print_metrics(const state *s, const classes *cl) {
    int L = s->L;
    double total = 0, diag = 0;
    double *row = calloc((size_t)L, sizeof(double)), *col = calloc((size_t)L, sizeof(double));
    if (!row || !col) { free(row); free(col); return; }
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
        printf("%-32.32s %8.2f %8.2f %8.2f\n", cl->class_title[c], 100 * iu, 100 * acc, total > 0 ? 100 * row[c] / total : 0.0);
    }
    printf("images: %d, pixels: %.0f\n", s->n_done, total);
    printf("pAcc: %.2f\nmAcc: %.2f\nfwIoU: %.2f\nmIoU: %.2f\n", total > 0 ? 100 * diag / total : 0.0, 100 * macc / L, 100 * fw,
           nvalid ? 100 * miou / nvalid : 0.0);
    free(row);
    free(col);
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int has_image_ext(const char *n) {
    const char *d = strrchr(n, '.');
    return d && (!strcasecmp(d, ".jpg") || !strcasecmp(d, ".jpeg") || !strcasecmp(d, ".png") || !strcasecmp(d, ".bmp") ||
                 !strcasecmp(d, ".tga") || !strcasecmp(d, ".gif"));
}

/* sorted image file names of a folder; NULL on error */
static char **list_images(const char *dir, int *n) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    int cap = 256;
    char **v = malloc(sizeof(char *) * cap);
    *n = 0;
    struct dirent *e;
    int ok = v != NULL;
    while (ok && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !has_image_ext(e->d_name) || strpbrk(e->d_name, "\t\n")) continue;
        if (*n == cap) {
            char **nv = realloc(v, sizeof(char *) * (cap *= 2));
            if (!nv) { ok = 0; break; }
            v = nv;
        }
        if (!(v[*n] = strdup(e->d_name))) { ok = 0; break; }
        (*n)++;
    }
    closedir(d);
    if (!ok) { /* out of memory: nothing half-built is returned */
        for (int i = 0; v && i < *n; i++) free(v[i]);
        free(v);
        errno = ENOMEM;
        return NULL;
    }
    if (v) qsort(v, (size_t)*n, sizeof(char *), cmpstr);
    return v;
}

static uint16_t *load_gt(const char *path, int *w, int *h, const char **why) {
    static char msg[sizeof(((ct_error *)0)->msg)];
    ct_error err;
    int32_t *lab = NULL;
    if (ct_labels_load_png(path, &lab, w, h, &err)) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        *why = msg;
        return NULL;
    }
    size_t n = (size_t)*w * (size_t)*h;
    uint16_t *g = malloc(n * sizeof *g);
    if (!g) { ct_free(lab); *why = "out of memory"; return NULL; }
    for (size_t i = 0; i < n; i++) g[i] = (uint16_t)(lab[i] < 0 ? 0 : lab[i] > 65535 ? 65535 : lab[i]);
    ct_free(lab);
    return g;
}

/* the reference's ground truth for --crop: PIL nearest resize of the short side to `size`, then
 * the same center crop as the image; out [size x size] */
static void gt_resize_crop(const uint16_t *g, int w, int h, int size, uint16_t *out) {
    int shrt = w < h ? w : h, lng = w < h ? h : w, nl = (int)((double)size * lng / shrt);
    int rw = w <= h ? size : nl, rh = w <= h ? nl : size;
    int dt = rh - size, dl = rw - size;
    int top = dt / 2 + ((dt % 2) && (dt / 2) % 2), left = dl / 2 + ((dl % 2) && (dl / 2) % 2); /* Python round */
    for (int y = 0; y < size; y++) {
        int sy = (int)(((double)(y + top) + 0.5) * h / rh);
        for (int x = 0; x < size; x++) {
            int sx = (int)(((double)(x + left) + 0.5) * w / rw);
            out[(size_t)y * size + x] = g[(size_t)(sy < h ? sy : h - 1) * w + (sx < w ? sx : w - 1)];
        }
    }
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: ct-eval -m MODEL --images DIR --gt DIR --classes-file FILE [options]\n"
            "       ct-eval --merge STATE... --classes-file FILE [--background-file FILE]\n"
            "  -m, --model PATH          safetensors weights\n"
            "  -V, --vocab PATH          vocabulary (default: beside the model)\n"
            "      --images DIR          pictures (jpg, png, bmp, tga, gif)\n"
            "      --gt DIR              ground truth: <image stem>.png, grey label indices\n"
            "      --predictions DIR     evaluate existing label PNGs (<stem>.png) instead of running a model\n"
            "      --classes-file FILE   one class a line, ';' between synonyms; labels in file order\n"
            "      --background-file FILE  background names (one a line): they form label C = number of classes\n"
            "      --gt-background V     ground-truth value that means background (e.g. 255 for VOC21)\n"
            "  -s, --size N              short side (default 336)   --crop   the paper's protocol\n"
            "      --eps E  --min-samples K  --cls-reweight   as in demo\n"
            "      --state FILE          progress file (default ct-eval.state): resumes, merges\n"
            "      --shard i/N           evaluate images i, i+N, i+2N, ... of the sorted list\n"
            "      --merge STATE...      add up state files and print the metrics\n"
            "      --no-cache  -t N  -q  -h\n");
}

enum { O_IMAGES = 256, O_GT, O_PRED, O_CLASSES, O_BG, O_GTBG, O_CROP, O_EPS, O_MINS, O_CLSRW, O_STATE, O_SHARD, O_MERGE, O_NOCACHE };

int main(int argc, char **argv) {
    tool_name = "ct-eval";
    const char *model_path = NULL, *vocab = NULL, *img_dir = NULL, *gt_dir = NULL, *pred_dir = NULL, *classes_file = NULL,
               *bg_file = NULL, *state_path = "ct-eval.state";
    int size = 336, crop = 0, min_samples = 0, cls_rw = 0, threads = 0, no_cache = 0, merge = 0, shard_i = 0, shard_n = 1, gt_bg = -1;
    float eps = 0;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"vocab", required_argument, 0, 'V'}, {"images", required_argument, 0, O_IMAGES},
        {"gt", required_argument, 0, O_GT}, {"predictions", required_argument, 0, O_PRED},
        {"classes-file", required_argument, 0, O_CLASSES}, {"background-file", required_argument, 0, O_BG},
        {"gt-background", required_argument, 0, O_GTBG}, {"size", required_argument, 0, 's'}, {"crop", no_argument, 0, O_CROP},
        {"eps", required_argument, 0, O_EPS}, {"min-samples", required_argument, 0, O_MINS},
        {"cls-reweight", no_argument, 0, O_CLSRW}, {"state", required_argument, 0, O_STATE},
        {"shard", required_argument, 0, O_SHARD}, {"merge", no_argument, 0, O_MERGE}, {"no-cache", no_argument, 0, O_NOCACHE},
        {"threads", required_argument, 0, 't'}, {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int o;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":m:V:s:t:qh", opts, NULL)) != -1) {
        switch (o) {
        case 'm': model_path = optarg; break;
        case 'V': vocab = optarg; break;
        case O_IMAGES: img_dir = optarg; break;
        case O_GT: gt_dir = optarg; break;
        case O_PRED: pred_dir = optarg; break;
        case O_CLASSES: classes_file = optarg; break;
        case O_BG: bg_file = optarg; break;
        case O_GTBG: if (!parse_int(optarg, 0, 65535, &gt_bg)) return usage_error("--gt-background needs a value in [0, 65535]"); break;
        case 's': if (!parse_int(optarg, 1, 8192, &size)) return usage_error("--size needs a whole number in [1, 8192], not '%s'", optarg); break;
        case O_CROP: crop = 1; break;
        case O_EPS: {
            char *e;
            eps = strtof(optarg, &e);
            if (e == optarg || *e || !(eps > 0)) return usage_error("--eps needs a positive number, not '%s'", optarg);
            break;
        }
        case O_MINS: if (!parse_int(optarg, 1, 1000000, &min_samples)) return usage_error("--min-samples needs a whole number >= 1"); break;
        case O_CLSRW: cls_rw = 1; break;
        case O_STATE: state_path = optarg; break;
        case O_SHARD: {
            char *slash = strchr(optarg, '/');
            if (!slash) return usage_error("--shard needs i/N, not '%s'", optarg);
            *slash = 0;
            if (!parse_int(optarg, 0, 1 << 20, &shard_i) || !parse_int(slash + 1, 1, 1 << 20, &shard_n) || shard_i >= shard_n)
                return usage_error("--shard needs i/N with 0 <= i < N");
            break;
        }
        case O_MERGE: merge = 1; break;
        case O_NOCACHE: no_cache = 1; break;
        case 't': if (!parse_int(optarg, 1, 256, &threads)) return usage_error("--threads needs a whole number in [1, 256]"); break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!classes_file) return usage_error("--classes-file is required");
    classes cl = {0};
    if (!parse_file(&cl, classes_file)) { free_classes(&cl); return 1; }
    int n_classes = cl.n_labels;
    if (!n_classes) { free_classes(&cl); return usage_error("'%s' holds no class", classes_file); }
    if (bg_file && !parse_background_file(&cl, bg_file)) { free_classes(&cl); return 1; }
    state s = {cl.n_labels, calloc((size_t)cl.n_labels * cl.n_labels, sizeof(uint64_t)), NULL, 0, 0};
    int rc = 0;
    if (!s.hist) { free_classes(&cl); return runtime_error("out of memory"); }

    if (merge) {
        if (optind >= argc) { rc = usage_error("--merge needs state files"); goto out; }
        for (int i = optind; i < argc; i++)
            if (!load_state(&s, argv[i], 1, NULL)) { rc = 2; goto out; }
        print_metrics(&s, &cl);
        goto out;
    }
    if (optind < argc) { rc = usage_error("unexpected argument '%s'", argv[optind]); goto out; }
    if (!img_dir || !gt_dir) { rc = usage_error("--images and --gt are required"); goto out; }
    if (!pred_dir && !model_path) { rc = usage_error("give -m MODEL (or --predictions DIR)"); goto out; }
    long good_end = 0;
    if (!load_state(&s, state_path, 0, &good_end)) { rc = 2; goto out; }
    /* drop a line torn by an interrupted run before appending after it */
    FILE *chk = fopen(state_path, "r");
    if (chk) {
        fseek(chk, 0, SEEK_END);
        long end = ftell(chk);
        fclose(chk);
        if (end > good_end && truncate(state_path, good_end) != 0) { rc = runtime_error("cannot repair '%s'", state_path); goto out; }
    }
    int n_img = 0;
    char **images = list_images(img_dir, &n_img);
    if (!images) { rc = runtime_error("cannot list '%s': %s", img_dir, strerror(errno)); goto out; }

    ct_error err;
    ct_model *m = NULL;
    float *emb = NULL;
    FILE *sf = NULL;
    if (!pred_dir) {
        progress("loading %s", model_path);
        if (ct_model_load(model_path, &m, &err)) { rc = runtime_error("%s", err.msg); goto done; }
        if (size % ct_model_config(m)->patch) { rc = usage_error("--size %d is not a multiple of the patch size", size); goto done; }
        emb = malloc(sizeof(float) * (size_t)cl.n_names * ct_model_config(m)->embed_dim);
        int n_cached = 0;
        if (!emb) { rc = runtime_error("out of memory"); goto done; }
        if (class_embeddings_cached(m, model_path, vocab, &cl, threads, no_cache, emb, &n_cached, &err)) { rc = runtime_error("%s", err.msg); goto done; }
    }
    sf = fopen(state_path, "a");
    if (!sf) { rc = runtime_error("cannot write '%s': %s", state_path, strerror(errno)); goto done; }
    fseek(sf, 0, SEEK_END);
    if (ftell(sf) == 0) fprintf(sf, STATE_MAGIC " labels %d\n", s.L);
    int mine = 0, skipped = 0, counted = 0;
    for (int i = shard_i; i < n_img; i += shard_n) mine++;
    if (s.n_done) progress("resuming: %d images already in '%s'", s.n_done, state_path);
    double t0 = now();
    for (int i = shard_i, k = 0; i < n_img; i += shard_n, k++) {
        const char *name = images[i];
        if (is_done(&s, name)) continue;
        char stem[1024], p[2048];
        snprintf(stem, sizeof stem, "%s", name);
        *strrchr(stem, '.') = 0;
        int gw, gh;
        const char *why = "";
        snprintf(p, sizeof p, "%s/%s.png", gt_dir, stem);
        uint16_t *gt = load_gt(p, &gw, &gh, &why);
        if (!gt) { fprintf(stderr, "%s: skipping %s: ground truth '%s': %s\n", tool_name, name, p, why); skipped++; continue; }
        int32_t *pred = NULL;
        int pw = gw, ph = gh;
        if (pred_dir) {
            snprintf(p, sizeof p, "%s/%s.png", pred_dir, stem);
            uint16_t *pp = load_gt(p, &pw, &ph, &why);
            if (pp && (pw != gw || ph != gh)) why = "size differs from the ground truth";
            if (!pp || pw != gw || ph != gh) { fprintf(stderr, "%s: skipping %s: prediction '%s': %s\n", tool_name, name, p, why); free(pp); free(gt); skipped++; continue; }
            pred = malloc(sizeof(int32_t) * (size_t)pw * ph);
            for (size_t q = 0; pred && q < (size_t)pw * ph; q++) pred[q] = pp[q];
            free(pp);
        } else {
            ct_image *img = NULL;
            float *px = NULL;
            int H, W;
            snprintf(p, sizeof p, "%s/%s", img_dir, name);
            if (ct_image_load(p, &img, &err) || ct_preprocess(img, size, crop, ct_model_config(m)->patch, &px, &H, &W, &err)) {
                fprintf(stderr, "%s: skipping %s: %s\n", tool_name, name, err.msg);
                ct_image_free(img); free(gt); skipped++;
                continue;
            }
            if (!crop && (img->width != gw || img->height != gh)) {
                fprintf(stderr, "%s: skipping %s: ground truth is %dx%d, the picture %dx%d\n", tool_name, name, gw, gh, img->width, img->height);
                ct_image_free(img); free(px); free(gt); skipped++;
                continue;
            }
            int32_t *lab = malloc(sizeof(int32_t) * (size_t)H * W);
            ct_segment_params sp;
            ct_segment_params_default(&sp);
            sp.eps = eps; sp.min_samples = min_samples; sp.cls_reweight = cls_rw; sp.n_threads = threads;
            if (!lab || ct_segment(m, px, H, W, emb, cl.n_names, cl.label, &sp, lab, NULL, &err)) {
                fprintf(stderr, "%s: skipping %s: %s\n", tool_name, name, lab ? err.msg : "out of memory");
                ct_image_free(img); free(px); free(gt); free(lab); skipped++;
                continue;
            }
            if (crop) {
                /* the paper's protocol: compare on the crop, with the ground truth resized and cropped */
                uint16_t *g2 = malloc(sizeof(uint16_t) * (size_t)size * size);
                if (g2) gt_resize_crop(gt, gw, gh, size, g2);
                free(gt);
                gt = g2;
                pw = gw = size; ph = gh = size;
                pred = lab;
            } else {
                pred = malloc(sizeof(int32_t) * (size_t)gw * gh);
                if (pred && ct_labels_to_image(lab, H, W, gw, gh, size, 0, pred, &err)) { free(pred); pred = NULL; }
                free(lab);
            }
            ct_image_free(img);
            free(px);
        }
        if (!pred || !gt) { free(pred); free(gt); rc = runtime_error("out of memory"); goto done; }
        /* this image's confusion entries, then one appended line */
        uint64_t *h1 = calloc((size_t)s.L * s.L, sizeof(uint64_t));
        if (!h1) { free(pred); free(gt); rc = runtime_error("out of memory"); goto done; }
        for (size_t q = 0; q < (size_t)gw * gh; q++) {
            int g = gt[q];
            if (gt_bg >= 0 && g == gt_bg && bg_file) g = n_classes;
            if (g < 0 || g >= s.L || pred[q] < 0 || pred[q] >= s.L) continue;
            h1[(size_t)g * s.L + pred[q]]++;
        }
        fprintf(sf, "img\t%s\t", name);
        for (size_t q = 0; q < (size_t)s.L * s.L; q++)
            if (h1[q]) {
                fprintf(sf, "%zu %zu %llu ", q / s.L, q % s.L, (unsigned long long)h1[q]);
                s.hist[q] += h1[q];
            }
        fprintf(sf, "\n");
        fflush(sf);
        free(h1); free(pred); free(gt);
        mark_done(&s, name);
        counted++;
        progress("[%d/%d] %s (%.2f s/image)", k + 1, mine, name, (now() - t0) / counted);
    }
    progress("%d images evaluated now, %d skipped, %d in total", counted, skipped, s.n_done);
    print_metrics(&s, &cl);
done:
    if (sf && fclose(sf) != 0 && !rc) rc = runtime_error("error writing '%s'", state_path);
    for (int i = 0; i < n_img; i++) free(images[i]);
    free(images);
    free(emb);
    ct_model_free(m);
out:
    for (int i = 0; i < s.n_done; i++) free(s.done[i]);
    free(s.done);
    free(s.hist);
    free_classes(&cl);
    return rc;
}
