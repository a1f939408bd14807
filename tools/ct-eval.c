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
 * precision, size, crop, class list, background, head and pipeline parameters, ProxyCLIP's proxy
 * model and parameters, directories) and
 * then one line per image, each with its own checksum, appended as the run goes: an interrupted
 * run resumes where it stopped, a run with other settings is refused with the setting named, and
 * shards of a job array (--shard i/N) merge only when their settings agree and every shard is
 * given. One writer per state file (an fcntl lock for the run). Every skipped image is reported,
 * recorded ("skip" lines) and listed after the metrics.
 * Exit status: 0 ok, 1 usage error, 2 runtime error or images skipped (without --allow-skips). */
#include "cliptrase.h"
#include "common.h"
#include "common/inputs.h"
#include "common/nameset.h"
#include "common/shard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define GROUPS (OG_MODEL | OG_CLASSES | OG_IMAGE | OG_SEG | OG_GENERAL)
#define STATE_MAGIC "ct-eval-state 3"
#define STATE_MAX ((size_t)1 << 30)
#define HIST_MAX ((size_t)1 << 30)   /* bytes of the confusion matrix */
#define LINE_MAX_COUNT (1ull << 40)  /* pixels of one image's confusion entry */
#define WHY_CAP 600                  /* the reason an image was skipped */

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
static char *set_diff(const settings *state, const settings *run, const char *ignore) {
    for (int i = 0; i < run->n; i++) {
        if (ignore && !strcmp(run->key[i], ignore)) continue;
        const char *v = set_get(state, run->key[i]);
        if (!v) return xasprintf("%s is not recorded there (%s here)", run->key[i], run->val[i]);
        if (strcmp(v, run->val[i])) return xasprintf("%s is %s there, %s here", run->key[i], v, run->val[i]);
    }
    for (int i = 0; i < state->n; i++)
        if ((!ignore || strcmp(state->key[i], ignore)) && !set_get(run, state->key[i])) return xasprintf("%s is %s there, not set here", state->key[i], state->val[i]);
    return NULL;
}

static uint64_t path_hash(const char *dir) {
    char *r = realpath(dir, NULL);
    const char *p = r ? r : dir;
    uint64_t h = hash64(p, strlen(p), 0);
    free(r);
    return h;
}

/* The label PNG of a prediction: ct-batch's <stem>.labels.png (its <stem>.png is the colour
 * map), else <stem>.png (the demo's --labels, other tools). */
static char *prediction_path(const char *dir, const char *stem) {
    char *f = stem ? xasprintf("%s.labels.png", stem) : NULL, *p = f ? path_join(dir, f) : NULL;
    free(f);
    if (p && is_file(p)) return p;
    free(p);
    f = stem ? xasprintf("%s.png", stem) : NULL;
    p = f ? path_join(dir, f) : NULL;
    free(f);
    return p;
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
         set_add(st, "prob-thd", "%.9g", (double)p->prob_thd) && set_add(st, "area-thd", "%.9g", (double)p->area_thd) &&
         set_add(st, "sc-layers", "%d,%d,%d,%d", p->sc_layers[0], p->sc_layers[1], p->sc_layers[2], p->sc_layers[3]) &&
         set_add(st, "res-cls", "%.9g", (double)p->sc_res_cls) && set_add(st, "sc-beta", "%.9g", (double)p->sc_beta);
    if (ok && s->proxy) {
        /* ProxyCLIP: the proxy's contents and parameters (absent for the other heads) */
        uint64_t ph = 0;
        ct_error err;
        if (!file_content_hash(&s->cache, o->proxy_path, &ph, &err)) return runtime_error("%s", err.msg);
        ok = set_add(st, "proxy-model", "%016llx", (unsigned long long)ph) && set_add(st, "proxy-beta", "%.9g", (double)p->proxy_beta) &&
             set_add(st, "proxy-gamma", "%.9g", (double)p->proxy_gamma);
    }
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
    nameset done;    /* image names counted, with their lines' checksums: found in constant time */
    nameset skipped; /* image names skipped (those not counted since), with */
    char **why;      /* [skipped.n] the reasons */
    size_t cap_why;
} state;

static void free_state(state *s) {
    nameset_free(&s->done);
    for (int i = 0; i < s->skipped.n; i++) free(s->why[i]);
    free(s->why);
    nameset_free(&s->skipped);
    free(s->hist);
    memset(s, 0, sizeof *s);
}

/* Remember that `name` was skipped for `why` (the latest reason wins). 0, or -1 out of memory. */
static int note_skip(state *s, const char *name, const char *why) {
    int k = nameset_find(&s->skipped, name);
    char *w = xasprintf("%s", why);
    if (!w) return -1;
    if (k < 0) {
        if (!grow(&s->why, &s->cap_why, (size_t)s->skipped.n + 1, sizeof *s->why) || (k = nameset_add(&s->skipped, name, 0)) < 0) { free(w); return -1; }
    } else {
        free(s->why[k]);
    }
    s->why[k] = w;
    return 0;
}

/* The skipped images not counted since, listed on standard error; their number. */
static int list_skips(state *s) {
    int n = 0;
    for (int k = 0; k < s->skipped.n; k++) {
        if (nameset_find(&s->done, s->skipped.name[k]) >= 0) continue;
        if (!n++) warn("skipped images (not in the metrics):");
        fprintf(stderr, "  %s: %s\n", s->skipped.name[k], s->why[k]);
    }
    return n;
}

/* A name as shown and recorded: a tab, CR, LF or backslash escaped (\t \r \n \\), other
 * control bytes as \xNN. On the heap. */
static char *shown_name(const char *name) {
    size_t n = strlen(name);
    char *o = malloc(4 * n + 1), *q = o;
    if (!o) return NULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p == '\t') q += sprintf(q, "\\t");
        else if (*p == '\r') q += sprintf(q, "\\r");
        else if (*p == '\n') q += sprintf(q, "\\n");
        else if (*p == '\\') q += sprintf(q, "\\\\");
        else if (*p < 0x20 || *p == 0x7f) q += sprintf(q, "\\x%02x", *p);
        else *q++ = (char)*p;
    }
    *q = 0;
    return o;
}

/* Write all of p [n] with one write() call (the file is in O_APPEND mode: a line lands whole or,
 * on a full disk, torn at the end where the next run drops it). */
static int write_line(int fd, const char *path, const void *p, size_t n) {
    ssize_t w;
    do w = write(fd, p, n);
    while (w < 0 && errno == EINTR);
    if (w == (ssize_t)n) return 0;
    return runtime_error("cannot write '%s': %s", path, w < 0 ? strerror(errno) : "a short write (the disk is full?)");
}

/* Report and record a skipped image: a "skip" line appended to the state. 0 or the exit status. */
static int record_skip(state *s, int fd, const char *path, const char *name, char *why) {
    for (char *p = why; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
    char *shown = shown_name(name), *line = shown ? xasprintf("skip\t%s\t%s", shown, why) : NULL, *whole = NULL;
    if (line) whole = xasprintf("%s\t%016llx\n", line, (unsigned long long)hash64(line, strlen(line), 0));
    int rc = whole ? 0 : runtime_error("out of memory");
    if (!rc) warn("skipping %s: %s", shown, why);
    if (!rc) rc = write_line(fd, path, whole, strlen(whole));
    if (!rc && note_skip(s, shown, why)) rc = runtime_error("out of memory");
    free(shown); free(line); free(whole);
    return rc;
}

/* After the metrics: the skipped images listed; exit status 2 when there are any, unless allowed. */
static int skips_verdict(state *s, int allow) {
    int n = list_skips(s);
    if (!n) return 0;
    if (allow) {
        warn("%d image%s skipped: the metrics cover the %d others (--allow-skips)", n, n == 1 ? " was" : "s were", s->done.n);
        return 0;
    }
    warn("%d image%s skipped (listed above): the metrics cover the %d others only; exit status 2 (--allow-skips accepts this)", n,
         n == 1 ? " was" : "s were", s->done.n);
    return 2;
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

/* Check the state file `path` whose bytes are buf [len] (NUL after them; modified); st receives
 * its settings. *good_end: bytes up to the last complete line (a torn last line, from an
 * interrupted write, is dropped). Returns 0 or the exit status. */
static int load_state_buf(state *s, const char *path, char *buf, size_t len, settings *st, size_t *good_end, size_t *file_len) {
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
            if (!strcmp(line, "ct-eval-state 2")) { rc = runtime_error("'%s' was written by an older ct-eval that did not record its shard and its skipped images: start a new state file", path); break; }
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
        /* img <name> <pairs> <checksum of what precedes the last tab>; skip <name> <reason> <checksum> */
        char *last = strrchr(line, '\t');
        if (!strncmp(line, "skip\t", 5)) {
            char want[20];
            if (!f2 || !last || last == f2) { rc = runtime_error("'%s', line %d: damaged", path, lineno); break; }
            snprintf(want, sizeof want, "%016llx", (unsigned long long)hash64(line, (size_t)(last - line), 0));
            if (strcmp(last + 1, want)) { rc = runtime_error("'%s', line %d: damaged (checksum)", path, lineno); break; }
            *f2 = 0;
            *last = 0;
            if (note_skip(s, f1 + 1, f2 + 1)) { rc = runtime_error("out of memory"); break; }
            *good_end = (size_t)(p - buf);
            continue;
        }
        if (strncmp(line, "img\t", 4) || !f2 || last == f2 || !last) { rc = runtime_error("'%s', line %d: damaged", path, lineno); break; }
        char want[20];
        snprintf(want, sizeof want, "%016llx", (unsigned long long)hash64(line, (size_t)(last - line), 0));
        if (strcmp(last + 1, want)) { rc = runtime_error("'%s', line %d: damaged (checksum)", path, lineno); break; }
        uint64_t check = hash64(line, line_len, 0);
        *f2 = 0;
        *last = 0;
        const char *name = f1 + 1;
        int prev = nameset_find(&s->done, name);
        if (prev >= 0) {
            /* the same image in two states (overlapping shards) counts once, if it counted the same */
            if (s->done.val[prev] != check) { rc = runtime_error("'%s', line %d: image '%s' was already counted with other numbers", path, lineno, name); break; }
            *good_end = (size_t)(p - buf);
            continue;
        }
        const char *why = add_pairs(s, f2 + 1);
        if (why) { rc = runtime_error("'%s', line %d: damaged (%s)", path, lineno, why); break; }
        if (nameset_add(&s->done, name, check) < 0) { rc = runtime_error("out of memory"); break; }
        *good_end = (size_t)(p - buf);
    }
    if (!rc && in_settings) rc = runtime_error("'%s' is not a complete ct-eval state file (no settings)", path);
    return rc;
}

static int load_state(state *s, const char *path, settings *st, size_t *good_end, size_t *file_len) {
    char *buf = NULL;
    size_t len = 0;
    ct_error err;
    if (!read_file(path, STATE_MAX, &buf, &len, &err)) return runtime_error("state: %s", err.msg);
    int rc = load_state_buf(s, path, buf, len, st, good_end, file_len);
    free(buf);
    return rc;
}

/* The whole of fd (a regular file of at most STATE_MAX bytes), NUL after it. 0 or the exit status. */
static int read_fd(int fd, const char *path, char **out, size_t *len) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) return runtime_error("cannot read '%s': %s", path, strerror(errno));
    if ((unsigned long long)sb.st_size > STATE_MAX) return runtime_error("'%s' is %lld bytes, above the %zu-byte limit of a state file", path, (long long)sb.st_size, STATE_MAX);
    size_t n = (size_t)sb.st_size, got = 0;
    char *b = malloc(n + 1);
    if (!b) return runtime_error("out of memory");
    while (got < n) {
        ssize_t r = pread(fd, b + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { free(b); return runtime_error("cannot read '%s': %s", path, r < 0 ? strerror(errno) : "it shrank while read"); }
        got += (size_t)r;
    }
    b[n] = 0;
    *out = b;
    *len = n;
    return 0;
}

/* Open (created when missing; through a symlink, whose target is used) and lock the state file
 * for the run: one writer per state file. *fd, or the exit status. */
static int open_state(const char *path, int *fd) {
    *fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0644);
    if (*fd < 0) return runtime_error("cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    long holder = 0;
    int r;
    if (fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return runtime_error("'%s' is not a regular file: a state file must be one", path);
    if ((r = lock_range(*fd, F_WRLCK, 0, 0, &holder)) == 0)
        return runtime_error("'%s' is in use by another ct-eval (pid %ld): one run per state file (give each shard its own --state)", path, holder);
    if (r < 0) return runtime_error("cannot lock '%s': %s", path, strerror(errno));
    return 0;
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
    printf("images: %d, pixels: %.0f\n", s->done.n, total);
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
        if (e->d_name[0] == '.' || !has_image_ext(e->d_name)) continue; /* a name with a tab, CR or LF: listed, then skipped */
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
                   int32_t **pred, size_t *n, char *why) {
    ct_error err;
    ct_image *img = NULL;
    float *px = NULL;
    int32_t *lab = NULL;
    int H = 0, W = 0, rc = 1;
    ct_geometry g;
    if (ct_image_load(path, &img, &err)) { snprintf(why, WHY_CAP, "%s", err.msg); return 1; }
    /* the ground truth must be the picture's, with or without --crop */
    if (img->width != gw || img->height != gh) {
        snprintf(why, WHY_CAP, "the ground truth is %d x %d, the picture %d x %d", gw, gh, img->width, img->height);
        goto done;
    }
    /* the library's geometry, checked here first: extreme aspect ratios are refused before any work */
    if (ct_resize_geometry(img->width, img->height, s->size, o->crop, s->cfg->patch, &g, &err)) { snprintf(why, WHY_CAP, "%s", err.msg); goto done; }
    if (!cost_check(s->model, g.height, g.width, s->cl.n_names, &s->sp, 0, o->no_limits, &err)) { snprintf(why, WHY_CAP, "%s", err.msg); goto done; }
    if (ct_preprocess(img, s->size, o->crop, s->cfg->patch, &px, &H, &W, &err)) { snprintf(why, WHY_CAP, "%s", err.msg); goto done; }
    if (H != g.height || W != g.width) { rc = runtime_error("%s: the model input is %d x %d, the geometry says %d x %d", name, W, H, g.width, g.height); goto done; }
    lab = malloc(sizeof(int32_t) * (size_t)H * (size_t)W);
    if (!lab) { rc = runtime_error("out of memory"); goto done; }
    if (ct_segment(s->model, px, H, W, emb, s->cl.n_names, s->cl.label, &s->sp, lab, NULL, &err)) {
        /* a picture too large is skipped; what would fail for every picture stops the run */
        if (err.status == CT_ERR_TOO_LARGE || err.status == CT_ERR_NONFINITE) snprintf(why, WHY_CAP, "%s", err.msg);
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
               "      --predictions DIR     evaluate existing label PNGs instead of running a model: <stem>.labels.png\n"
               "                            (ct-batch --labels), else <stem>.png\n"
               "      --gt-background V     ground-truth value that means the background label (needs -b or\n"
               "                            --background-file; e.g. 255 for the reference's VOC21)\n"
               "      --state FILE          progress and settings: resumes, merges (default ct-eval.state;\n"
               "                            with --shard i/N: ct-eval.i-of-N.state). One run per state\n"
               "                            file: it is locked for the run (a second run stops at once)\n"
               "      --shard i/N           evaluate images i, i+N, i+2N, ... of the sorted list\n"
               "      --shard auto          i and N of this Slurm job array task ($SLURM_ARRAY_TASK_ID minus\n"
               "                            $SLURM_ARRAY_TASK_MIN, $SLURM_ARRAY_TASK_COUNT; docs/cluster.md)\n"
               "      --merge STATE...      add up the states of every shard of one run (same settings) and\n"
               "                            print the metrics; a shard missing or given twice is refused\n"
               "      --allow-skips         exit 0 although images were skipped (else 2)\n"
               "Every image skipped (no or unreadable ground truth or picture, other sizes, a name with a\n"
               "tab, CR or LF, a second picture of one ground truth: a.jpg and a.png) is reported, recorded\n"
               "in the state and listed after the metrics; the metrics then cover the others only.\n",
            tool_name, tool_name);
    opts_help(f, GROUPS);
    fprintf(f, "Exit status: 0 ok, 1 usage error, 2 runtime error, or images skipped (without --allow-skips), or none\n"
               "could be evaluated.\n");
}

enum { O_IMAGES = OPT_TOOL, O_GT, O_PRED, O_GTBG, O_STATE, O_SHARD, O_MERGE, O_ALLOW_SKIPS };

/* Add up the states of every shard of one run (a shard missing, given twice, or of another count
 * of shards is refused) and print the metrics. */
static int merge_states(char **files, int n, const classes *cl, int allow_skips) {
    state s;
    int rc = new_state(&s, cl->n_labels), n_shards = 0;
    int *by = NULL; /* [n_shards]: the file of each shard, -1 while none */
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
        int si = -1, sn = 0;
        const char *sh = rc ? NULL : set_get(&st, "shard");
        if (!rc && (!sh || sscanf(sh, "%d/%d", &si, &sn) != 2 || sn < 1 || sn > SHARD_MAX || si < 0 || si >= sn))
            rc = runtime_error("'%s': its shard is not recorded (damaged?)", files[i]);
        if (!rc && !n_shards) {
            n_shards = sn;
            if (!(by = malloc(sizeof *by * (size_t)sn))) rc = runtime_error("out of memory");
            for (int k = 0; !rc && k < sn; k++) by[k] = -1;
        }
        if (!rc && sn != n_shards)
            rc = usage_error("'%s' is shard %d of %d, '%s' one of %d: merge the shards of one run", files[i], si, sn, files[0], n_shards);
        else if (!rc && by[si] >= 0) rc = usage_error("'%s' and '%s' are both shard %d/%d", files[by[si]], files[i], si, sn);
        if (!rc) by[si] = i;
        if (!rc && i == 0) { first = st; continue; }
        char *d = rc ? NULL : set_diff(&first, &st, "shard");
        if (d) rc = usage_error("'%s' and '%s' were made with different settings: %s", files[0], files[i], d);
        free(d);
        set_free(&st);
    }
    /* every shard, or a refusal naming the missing ones */
    int missing = 0;
    char list[512] = "";
    for (int k = 0; !rc && k < n_shards; k++)
        if (by[k] < 0 && missing++ < 20) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d/%d", missing > 1 ? ", " : "", k, n_shards);
    if (missing)
        rc = usage_error("%d of the %d shards %s missing: %s%s (give the state of every shard)", missing, n_shards, missing == 1 ? "is" : "are", list,
                         missing > 20 ? ", ..." : "");
    set_free(&first);
    free(by);
    if (!rc && !s.done.n) {
        list_skips(&s);
        rc = runtime_error("the state files hold no evaluated image");
    }
    if (!rc) rc = print_metrics(&s, cl);
    if (!rc) rc = close_stdout();
    if (!rc) rc = skips_verdict(&s, allow_skips);
    free_state(&s);
    return rc;
}

int main(int argc, char **argv) {
    tool_init(argv[0], "ct-eval");
    tool_opts o;
    opts_init(&o);
    const char *img_dir = NULL, *gt_dir = NULL, *pred_dir = NULL, *state_path = NULL;
    char default_state[64];
    int merge = 0, shard_i = 0, shard_n = 1, gt_bg = -1, allow_skips = 0;
    static const struct option mine[] = {
        {"images", required_argument, 0, O_IMAGES}, {"gt", required_argument, 0, O_GT}, {"predictions", required_argument, 0, O_PRED},
        {"gt-background", required_argument, 0, O_GTBG}, {"state", required_argument, 0, O_STATE}, {"shard", required_argument, 0, O_SHARD},
        {"merge", no_argument, 0, O_MERGE}, {"allow-skips", no_argument, 0, O_ALLOW_SKIPS}, {0, 0, 0, 0}};
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
        case O_ALLOW_SKIPS: allow_skips = 1; break;
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
        else rc = merge_states(argv + optind, argc - optind, &s.cl, allow_skips);
        session_free(&s);
        return rc;
    }
    ct_error err;
    /* a shard's default state is its own: the tasks of a job array never share one */
    if (!state_path) {
        if (shard_n > 1) snprintf(default_state, sizeof default_state, "ct-eval.%d-of-%d.state", shard_i, shard_n);
        else snprintf(default_state, sizeof default_state, "ct-eval.state");
        state_path = default_state;
    }
    if (optind < argc) rc = usage_error("unexpected argument '%s'", argv[optind]);
    else if (!img_dir || !gt_dir) rc = usage_error("--images and --gt are required");
    else if (!check_output(state_path, "--state", &err)) rc = usage_error("%s", err.msg);
    if (rc) { session_free(&s); return rc; }

    state st;
    settings run = {0}, old = {0};
    char **images = NULL;
    int n_img = 0;
    float *emb = NULL;
    int sfd = -1;
    uint64_t *h1 = NULL;
    size_t *touched = NULL;
    int32_t *pred = NULL;
    uint16_t *gt = NULL;
    char *text = NULL, why[WHY_CAP];
    int *first_of = NULL;
    nameset stems;
    memset(&stems, 0, sizeof stems);
    memset(&st, 0, sizeof st);
    if ((rc = open_state(state_path, &sfd))) goto done;
    if (!pred_dir) {
        if ((rc = session_load(&s, &o, GROUPS))) goto done;
    } else {
        if ((rc = opts_load_params(&o, &s.lp))) goto done;
        s.size = o.size;
    }
    if ((rc = run_settings(&run, &s, &o, img_dir, gt_dir, pred_dir, gt_bg)) || (rc = new_state(&st, s.cl.n_labels))) goto done;
    if (!set_add(&run, "shard", "%d/%d", shard_i, shard_n)) { rc = runtime_error("out of memory"); goto done; }

    /* an existing state: its settings must be this run's; every line is checked */
    size_t good_end = 0, file_len = 0;
    char *sbuf = NULL;
    if ((rc = read_fd(sfd, state_path, &sbuf, &file_len))) goto done;
    if (file_len) {
        rc = load_state_buf(&st, state_path, sbuf, file_len, &old, &good_end, &file_len);
        free(sbuf);
        if (rc) goto done;
        char *d = set_diff(&old, &run, NULL);
        if (d) {
            rc = usage_error("'%s' was made with other settings: %s (use another --state file, or the same settings)", state_path, d);
            free(d);
            goto done;
        }
        if (good_end < file_len) { /* a line torn by an interrupted run: cut off in place (the file, its links and its lock stay) */
            if (ftruncate(sfd, (off_t)good_end) != 0) { rc = runtime_error("cannot repair '%s': %s", state_path, strerror(errno)); goto done; }
            progress("'%s': an incomplete last line (an interrupted run) was dropped", state_path);
        }
    } else {
        free(sbuf);
        text = settings_text(&run);
        if (!text) { rc = runtime_error("out of memory"); goto done; }
        if ((rc = write_line(sfd, state_path, text, strlen(text)))) goto done;
    }
    if ((rc = list_images(img_dir, &images, &n_img))) goto done;
    if (!pred_dir) {
        int n_cached = 0;
        if ((rc = session_embeddings(&s, &emb, &n_cached))) goto done;
    }
    size_t LL = (size_t)st.L * (size_t)st.L;
    h1 = calloc(LL, sizeof *h1);
    touched = malloc(sizeof *touched * LL);
    if (!h1 || !touched) { rc = runtime_error("out of memory"); goto done; }
    int mine_n = 0, skipped = 0, counted = 0;
    for (int i = shard_i; i < n_img; i += shard_n) mine_n++;
    /* images that share a ground truth (a.jpg and a.png): the first of the sorted list counts */
    first_of = malloc(sizeof *first_of * ((size_t)n_img + 1));
    if (!first_of) { rc = runtime_error("out of memory"); goto done; }
    for (int i = 0; i < n_img; i++) {
        char *stem = xasprintf("%.*s", (int)(strrchr(images[i], '.') - images[i]), images[i]);
        int f = stem ? nameset_find(&stems, stem) : -1;
        first_of[i] = f >= 0 ? (int)stems.val[f] : -1;
        int added = !stem || f >= 0 || nameset_add(&stems, stem, (uint64_t)i) >= 0;
        free(stem);
        if (!stem || !added) { rc = runtime_error("out of memory"); goto done; }
    }
    if (st.done.n) progress("resuming: %d images already in '%s'", st.done.n, state_path);
    double t0 = now();
    for (int i = shard_i, k = 0; i < n_img; i += shard_n, k++) {
        const char *name = images[i];
        if (nameset_find(&st.done, name) >= 0) continue;
        char *stem = xasprintf("%.*s", (int)(strrchr(name, '.') - name), name), *gfile = stem ? xasprintf("%s.png", stem) : NULL;
        char *gpath = gfile ? path_join(gt_dir, gfile) : NULL, *ipath = pred_dir ? prediction_path(pred_dir, stem) : path_join(img_dir, name);
        free(stem);
        if (!gpath || !ipath) { free(gfile); free(gpath); free(ipath); rc = runtime_error("out of memory"); goto done; }
        int gw = 0, gh = 0, r = 1;
        size_t n = 0;
        if (strpbrk(name, "\t\n\r")) snprintf(why, WHY_CAP, "its name holds a tab, CR or LF, which a state file cannot record: rename it");
        else if (first_of[i] >= 0)
            snprintf(why, WHY_CAP, "it shares the ground truth %s with %s, which counts it once: rename one (or move it away)", gfile, images[first_of[i]]);
        else if (!(gt = load_labels(gpath, &gw, &gh, &err))) snprintf(why, WHY_CAP, "ground truth: %s", err.msg);
        else if (pred_dir) {
            int pw = 0, ph = 0;
            uint16_t *pp = load_labels(ipath, &pw, &ph, &err);
            if (!pp) snprintf(why, WHY_CAP, "prediction: %s", err.msg);
            else if (pw != gw || ph != gh) snprintf(why, WHY_CAP, "the prediction is %d x %d, the ground truth %d x %d", pw, ph, gw, gh);
            else if (!(pred = malloc(sizeof(int32_t) * (size_t)pw * (size_t)ph))) r = runtime_error("out of memory");
            else {
                n = (size_t)pw * (size_t)ph;
                for (size_t q = 0; q < n; q++) pred[q] = pp[q];
                r = 0;
            }
            free(pp);
        } else {
            r = predict(&s, &o, emb, ipath, name, &gt, gw, gh, &pred, &n, why);
        }
        free(gfile); free(gpath); free(ipath);
        if (r == 2) { rc = 2; goto done; }
        if (r) {
            free(gt); gt = NULL;
            free(pred); pred = NULL;
            if ((rc = record_skip(&st, sfd, state_path, name, why))) goto done;
            skipped++;
            continue;
        }
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
        rc = write_line(sfd, state_path, line, o2);
        free(line);
        if (rc) goto done;
        for (size_t t = 0; t < nt; t++) {
            uint64_t *hh = &st.hist[touched[t]];
            if (*hh > UINT64_MAX - h1[touched[t]]) { rc = runtime_error("the confusion counts overflow"); goto done; }
            *hh += h1[touched[t]];
            h1[touched[t]] = 0;
        }
        if (nameset_add(&st.done, name, whole) < 0) { rc = runtime_error("out of memory"); goto done; }
        counted++;
        progress("[%d/%d] %s (%.2f s/image)", k + 1, mine_n, name, (now() - t0) / counted);
    }
    progress("%d images evaluated now, %d skipped, %d in total", counted, skipped, st.done.n);
    int e = close(sfd) != 0 ? errno : 0;
    sfd = -1;
    if (e) { rc = runtime_error("cannot write '%s': %s", state_path, strerror(e)); goto done; }
    if (!st.done.n) {
        list_skips(&st);
        rc = runtime_error("no image was evaluated (%d skipped, %d listed in '%s'%s)", skipped, n_img, img_dir, shard_n > 1 ? " for this shard" : "");
        goto done;
    }
    rc = print_metrics(&st, &s.cl);
    if (!rc) rc = close_stdout();
    if (!rc) rc = skips_verdict(&st, allow_skips);
done:
    if (sfd >= 0) close(sfd);
    free(text);
    free(gt); free(pred); free(h1); free(touched); free(first_of);
    nameset_free(&stems);
    for (int i = 0; i < n_img; i++) free(images[i]);
    free(images);
    free(emb);
    set_free(&run);
    set_free(&old);
    free_state(&st);
    session_free(&s);
    return rc;
}
