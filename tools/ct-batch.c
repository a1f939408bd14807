/* ct-batch: segment many pictures with one model: the model loaded once, the classes embedded
 * once, then every picture segmented and written to OUTDIR/<stem>.png (the demo's -o) and
 * OUTDIR/<stem>.json (the demo's --json), with the overlay, the label PNG and the .npy
 * intermediates on request.
 *
 *   ct-batch [the demo's model, class, size and head options] -O OUTDIR (IMAGE|DIR ... | --list FILE)
 *
 * Resumable: every file is written all-or-nothing (a temporary file renamed) and <stem>.json last,
 * so a picture whose .json and other asked-for outputs exist is complete and skipped; a run
 * killed at any moment leaves each picture complete or not counted. OUTDIR/.ct-batch-settings
 * records what changes the outputs (model and vocabulary contents, precision, classes, size,
 * head and pipeline parameters): a run with other settings into the same directory is refused.
 * OUTDIR/.ct-batch-written names every output ct-batch wrote there: an existing file it does not
 * name, or an output that is an input, is refused before any work. OUTDIR/.ct-batch-lock: one
 * run per directory (or per shard), one writer per picture.
 * A picture that fails is reported and skipped. Exit status: 0 all pictures done (or already
 * complete), 1 usage error, 2 runtime error or some picture failed. See --help and
 * docs/cluster.md. */
#include "cliptrase.h"
#include "common.h"
#include "common/inputs.h"
#include "common/report.h"
#include "common/shard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define GROUPS (OG_MODEL | OG_CLASSES | OG_IMAGE | OG_SEG | OG_GENERAL)
#define SETTINGS_FILE ".ct-batch-settings"
#define WRITTEN_FILE ".ct-batch-written"
#define LOCK_FILE ".ct-batch-lock"
/* bytes of the lock file: 0 the directory (a run without --shard writes it, shards read it),
 * 1 + i picture i of the list while it is segmented, and one byte per shard i/N */
#define LOCK_PICTURE(idx) (1 + (long long)(idx))
#define LOCK_SHARD(i, n) ((1ll << 40) + (long long)(n) * ((long long)(n) - 1) / 2 + (i))
#define SETTINGS_MAGIC "ct-batch-settings 1"
#define JOBS_MAX 256

/* The outputs of one picture, <stem><suffix> in OUTDIR; the .json last (the completion mark). */
enum { OUT_PNG, OUT_OVERLAY, OUT_LABELS, OUT_DUMP, OUT_JSON, N_OUT };
static const char *const k_suffix[N_OUT] = {".png", ".overlay.png", ".labels.png", ".dump", ".json"};

static void usage(FILE *f) {
    fprintf(f, "usage: %s -c CLASSES -O OUTDIR [options] (IMAGE|DIR ... | --list FILE)\n"
               "Segments every picture with one model and one embedding of the classes.\n"
               "pictures (in this order; a directory gives its .jpg .jpeg .png .bmp .tga .gif files, sorted):\n"
               "  IMAGE, DIR              pictures, and directories of pictures (not their subdirectories)\n"
               "      --list FILE         one picture path a line ('-': standard input); may be repeated\n",
            tool_name);
    opts_help(f, GROUPS);
    fprintf(f, "outputs, in OUTDIR for each picture (stem: its file name without the extension):\n"
               "  -O, --output-dir DIR    created when missing; every file all-or-nothing\n"
               "                          <stem>.png   the colour labels with a legend (the demo's -o)\n"
               "                          <stem>.json  the report (the demo's --json), written last: the mark\n"
               "                                       that the picture is complete\n"
               "      --overlay           <stem>.overlay.png: the labels over the photo (the demo's --overlay)\n"
               "      --labels            <stem>.labels.png: the label values (the demo's --labels)\n"
               "      --dump              <stem>.dump/*.npy: every intermediate (the demo's --dump)\n"
               "  Before any work, refused: two pictures whose outputs would have the same name, an output\n"
               "  that is an input (the same file, symlinks followed), an existing output not named in\n"
               "  OUTDIR/" WRITTEN_FILE " (the names ct-batch wrote there).\n"
               "  A picture whose outputs all exist is skipped (a run resumes where it stopped); a run\n"
               "  with other settings than those recorded in OUTDIR/" SETTINGS_FILE " is refused.\n"
               "  One writer: a run without --shard has OUTDIR to itself, one process per shard, one per\n"
               "  picture (OUTDIR/" LOCK_FILE "; a second run stops at once, naming the first).\n"
               "parallelism and shards:\n"
               "  -j, --jobs N|auto       pictures segmented at once (default auto). -t sets the threads in\n"
               "                          all; each picture gets threads/N of them (at least one). auto: one\n"
               "                          picture per thread when there are at least as many pictures to do\n"
               "                          as threads and that many segmentations fit in half the memory\n"
               "                          (estimated for a 4:3 picture at --size); else one picture at a\n"
               "                          time on all threads (measured: as fast on an idle machine, faster\n"
               "                          when other processes take cores; docs/cluster.md). Jobs of several\n"
               "                          threads each load their own copy of the model. --jobs N passes\n"
               "                          the same memory check (half the memory, or ulimit -v when lower):\n"
               "                          N that do not fit are refused (exit 1) with the estimate.\n"
               "      --shard i/N         pictures i, i+N, i+2N, ... of the list (each picture in one shard)\n"
               "      --shard auto        i and N of this Slurm job array task ($SLURM_ARRAY_TASK_ID minus\n"
               "                          $SLURM_ARRAY_TASK_MIN, $SLURM_ARRAY_TASK_COUNT; docs/cluster.md)\n"
               "On a terminal a progress bar shows the count, the rate and the time left; -q silences it\n"
               "and the summary; -v names each picture done. A picture that fails (unreadable, corrupt, too\n"
               "large) is reported and skipped.\n"
               "Exit status: 0 every picture done or already complete, 1 usage error, 2 runtime error or\n"
               "some picture failed.\n");
}

/* ------------------------------------------------------------------ the batch */

typedef struct {
    /* what to do */
    const char *outdir;
    int want[N_OUT];
    tool_session *s;
    const tool_opts *o;
    const float *emb;
    int n_cached;
    const input_list *in;
    char **stem;        /* [in->n] */
    const int *todo;    /* indices into in, this run's */
    int n_todo;
    int lock_fd;        /* OUTDIR/.ct-batch-lock: a picture's byte is locked while it is segmented */
    int written_fd;     /* OUTDIR/.ct-batch-written, appended */
    const char *const *written; /* the names it held at the start, sorted */
    size_t n_written;
    const struct tmp_file *tmps; /* temporary files of killed runs, by picture */
    size_t n_tmps;
    atomic_int stop;    /* a write found the disk full: no picture more */
    /* progress, under mx */
    pthread_mutex_t mx;
    atomic_int next;
    int done, failed, bar, drawn, busy, late;
    ct_error full; /* the write that found the disk full */
    double t0, last_draw;
} batch;

typedef struct {
    batch *b;
    const ct_model *model;
    ct_model *own;      /* a model of its own (several threads per job), or NULL */
    ct_segment_params sp;
    pthread_t th;
} worker;

static char *out_path(const batch *b, const char *stem, int k) {
    char *name = xasprintf("%s%s", stem, k_suffix[k]), *p = name ? path_join(b->outdir, name) : NULL;
    free(name);
    return p;
}

/* 1 when every output asked for exists: the picture is complete (the .json is written last) */
static int complete(const batch *b, const char *stem) {
    int ok = 1;
    for (int k = 0; k < N_OUT && ok; k++) {
        if (!b->want[k]) continue;
        char *p = out_path(b, stem, k), *q = p && k == OUT_DUMP ? path_join(p, "pred.npy") : NULL;
        ok = p && (k != OUT_DUMP || q) && is_file(k == OUT_DUMP ? q : p);
        free(p);
        free(q);
    }
    return ok;
}

static void fmt_time(double s, char *buf, size_t cap) {
    long t = s < 0 ? 0 : s > 359999999 ? 359999999 : (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

/* under mx: the bar, at most every 0.1 s unless forced */
static void draw_bar(batch *b, int force) {
    if (!b->bar) return;
    double t = now();
    if (!force && t - b->last_draw < 0.1) return;
    b->last_draw = t;
    int n = b->done + b->failed, width = 24, fill = b->n_todo ? (int)((long long)width * n / b->n_todo) : width;
    double el = t - b->t0, rate = el > 0 ? n / el : 0;
    char bar[32], eta[32] = "?";
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    if (rate > 0) fmt_time((b->n_todo - n) / rate, eta, sizeof eta);
    fprintf(stderr, "\r%s: [%s] %d/%d  %.2f images/s  ETA %s%s\033[K", tool_name, bar, n, b->n_todo, rate, eta,
            b->failed ? "  (some failed)" : "");
    fflush(stderr);
    b->drawn = 1;
}

/* under mx: one message line, the bar cleared before and drawn again after */
static void say(batch *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(batch *b, const char *fmt, ...) {
    if (b->drawn) fprintf(stderr, "\r\033[K");
    b->drawn = 0;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", tool_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    draw_bar(b, 1);
}

/* The temporary files a killed run left in dir: ".<name>.<12 hex digits>.tmp" (the
 * all-or-nothing writers' names), each given to fn(ctx, name, path). */
static void each_tmp(const char *dir, void (*fn)(void *ctx, const char *name, const char *path), void *ctx) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (n[0] != '.' || len < 1 + 1 + 1 + 12 + 4 || strcmp(n + len - 4, ".tmp")) continue;
        const char *hex = n + len - 4 - 12;
        if (hex[-1] != '.' || strspn(hex, "0123456789abcdef") < 12) continue;
        char *name = xasprintf("%.*s", (int)(hex - 1 - (n + 1)), n + 1), *p = path_join(dir, n);
        if (name && p) fn(ctx, name, p);
        free(name);
        free(p);
    }
    closedir(d);
}

static void unlink_tmp(void *ctx, const char *name, const char *path) {
    (void)ctx; (void)name;
    unlink(path);
}

typedef struct tmp_file {
    int idx;     /* the picture */
    char *path;
} tmp_file;

static int cmp_cstr(const void *a, const void *c) { return strcmp(*(const char *const *)a, *(const char *const *)c); }

static int was_written(const batch *b, const char *name) {
    return b->n_written && bsearch(&name, b->written, b->n_written, sizeof *b->written, cmp_cstr) != NULL;
}

/* Append this picture's output names to OUTDIR/.ct-batch-written (each ended by a NUL byte; one
 * write() call, O_APPEND) before the first of them is written: the record of what ct-batch may
 * replace. Nothing when every name is recorded already. */
static int record_written(batch *b, int idx, ct_error *err) {
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int all = 1;
    for (int k = 0; k < N_OUT; k++) {
        if (!b->want[k]) continue;
        char *name = xasprintf("%s%s", b->stem[idx], k_suffix[k]);
        size_t l = name ? strlen(name) + 1 : 0;
        if (!name || !grow(&buf, &cap, n + l, 1)) { free(name); free(buf); return fail_msg(err, CT_ERR_NOMEM, "out of memory"); }
        all &= was_written(b, name);
        memcpy(buf + n, name, l);
        n += l;
        free(name);
    }
    ssize_t w = all ? (ssize_t)n : write(b->written_fd, buf, n);
    int e = errno;
    free(buf);
    if (w != (ssize_t)n)
        return fail_msg(err, CT_ERR_IO, "cannot write '%s/" WRITTEN_FILE "': %s", b->outdir, w < 0 ? strerror(e) : "a short write");
    return 1;
}

/* Segment one picture and write its outputs; 1, or 0 with err. */
static int segment_one(worker *w, int idx, ct_error *err) {
    batch *b = w->b;
    const tool_session *s = b->s;
    const char *path = b->in->path[idx];
    double t[5] = {now(), 0, 0, 0, 0};
    ct_image *photo = NULL, *resized = NULL;
    float *px = NULL;
    int32_t *lab = NULL, *full = NULL;
    double *share = NULL;
    char *out[N_OUT] = {0};
    ct_intermediates inter;
    memset(&inter, 0, sizeof inter);
    int ok = 0;
    for (int k = 0; k < N_OUT; k++)
        if (b->want[k] && !(out[k] = out_path(b, b->stem[idx], k))) { fail_msg(err, CT_ERR_NOMEM, "out of memory"); goto done; }
    if (ct_image_load(path, &photo, err)) goto done;
    if (ct_resize_for_model(photo, s->size, b->o->crop, s->cfg->patch, &resized, err) || ct_normalize(resized, &px, err)) goto done;
    warn_aspect(path, photo->width, photo->height, resized->width, resized->height);
    int H = resized->height, W = resized->width, OW = photo->width, OH = photo->height;
    if (!cost_check(w->model, H, W, s->cl.n_names, &w->sp, b->want[OUT_DUMP], b->o->no_limits, err)) goto done; /* before any work */
    t[1] = t[2] = now();
    lab = malloc(sizeof(int32_t) * (size_t)H * (size_t)W);
    full = malloc(sizeof(int32_t) * (size_t)OW * (size_t)OH);
    share = malloc(sizeof(double) * (size_t)s->cl.n_labels);
    if (!lab || !full || !share) { fail_msg(err, CT_ERR_NOMEM, "out of memory"); goto done; }
    ct_segment_info info;
    ct_segment_outputs so = {lab, NULL, &info, b->want[OUT_DUMP] ? &inter : NULL};
    if (ct_segment_ex(w->model, px, H, W, b->emb, s->cl.n_names, s->cl.label, &w->sp, &so, err)) goto done;
    t[3] = now();
    if (!record_written(b, idx, err)) goto done;
    if (b->want[OUT_DUMP]) {
        if (!make_dirs(out[OUT_DUMP], err)) goto done;
        each_tmp(out[OUT_DUMP], unlink_tmp, NULL); /* this picture's dump directory (its lock is held): its own leftovers */
        if (!report_dump(out[OUT_DUMP], px, H, W, b->emb, &s->cl, s->cfg->embed_dim, &inter, &info, &w->sp, lab, err)) goto done;
    }
    /* labels back to the original picture, as the demo */
    if (ct_labels_to_image(lab, H, W, OW, OH, s->size, b->o->crop, full, err)) goto done;
    label_shares(full, OW, OH, s->cl.n_labels, share);
    if (!render_colour(out[OUT_PNG], full, OW, OH, s->cl.n_labels, s->cl.bg_label, (const char *const *)s->cl.title, share, err)) goto done;
    if (out[OUT_OVERLAY] && !render_overlay(out[OUT_OVERLAY], photo, full, s->cl.bg_label, err)) goto done;
    if (out[OUT_LABELS] && ct_labels_save_png(full, OW, OH, s->cl.n_labels <= 255 ? 8 : 16, out[OUT_LABELS], err)) goto done;
    t[4] = now();
    ok = report_json(out[OUT_JSON], path, s, b->o, OW, OH, W, H, &info, share, b->n_cached, t, err);
done:
    ct_intermediates_free(&inter);
    ct_free(px);
    ct_image_free(photo);
    ct_image_free(resized);
    free(lab); free(full); free(share);
    for (int k = 0; k < N_OUT; k++) free(out[k]);
    return ok;
}

static int cmp_tmp(const void *a, const void *c) {
    int x = ((const tmp_file *)a)->idx, y = ((const tmp_file *)c)->idx;
    return (x > y) - (x < y);
}

/* the temporary files killed runs left for picture idx, removed (its lock is held: no writer) */
static void remove_tmps(const batch *b, int idx) {
    size_t lo = 0, hi = b->n_tmps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->tmps[mid].idx < idx) lo = mid + 1;
        else hi = mid;
    }
    for (; lo < b->n_tmps && b->tmps[lo].idx == idx; lo++) unlink(b->tmps[lo].path);
}

static void *work(void *arg) {
    worker *w = arg;
    batch *b = w->b;
    for (;;) {
        if (atomic_load(&b->stop)) break;
        int k = atomic_fetch_add(&b->next, 1);
        if (k >= b->n_todo) break;
        int idx = b->todo[k];
        const char *path = b->in->path[idx];
        ct_error err;
        memset(&err, 0, sizeof err);
        double t0 = now();
        /* one writer per picture: another run (an overlapping shard) may hold it */
        long holder = 0;
        int locked = lock_range(b->lock_fd, F_WRLCK, LOCK_PICTURE(idx), 1, &holder);
        if (locked == 0 || (locked > 0 && complete(b, b->stem[idx]))) {
            pthread_mutex_lock(&b->mx);
            if (locked) b->late++;
            else {
                b->busy++;
                say(b, "not segmented: %s is being segmented by another ct-batch (pid %ld)", path, holder);
            }
            pthread_mutex_unlock(&b->mx);
            if (locked) lock_range(b->lock_fd, F_UNLCK, LOCK_PICTURE(idx), 1, NULL);
            continue;
        }
        int ok = 0;
        if (locked < 0) fail_msg(&err, CT_ERR_IO, "cannot lock '%s/" LOCK_FILE "': %s", b->outdir, strerror(errno));
        else {
            remove_tmps(b, idx);
            ok = segment_one(w, idx, &err);
            lock_range(b->lock_fd, F_UNLCK, LOCK_PICTURE(idx), 1, NULL);
        }
        int full = !ok && io_full(&err);
        pthread_mutex_lock(&b->mx);
        if (full && !atomic_exchange(&b->stop, 1)) b->full = err;
        if (ok) {
            b->done++;
            if (verbose) say(b, "segmented %s in %.2f s", path, now() - t0);
        } else {
            b->failed++;
            /* the library's messages name the file already */
            if (strstr(err.msg, path)) say(b, "failed: %s", err.msg);
            else say(b, "failed: %s: %s", path, err.msg);
        }
        draw_bar(b, 0);
        pthread_mutex_unlock(&b->mx);
    }
    return NULL;
}

/* ------------------------------------------------------------------ names, settings */

typedef struct {
    char *name;
    int idx;
} out_name;

static int cmp_out_name(const void *a, const void *c) { return strcmp(((const out_name *)a)->name, ((const out_name *)c)->name); }

typedef struct {
    const out_name *v;
    size_t n;
    const unsigned char *redo; /* [inputs]: this run segments it */
    tmp_file *tmps;
    size_t n_tmps, cap;
    int nomem;
} stale_ctx;

/* a temporary file of an output this run writes: kept for the picture's worker to remove once it
 * holds the picture's lock (a live writer of another run holds it) */
static void collect_tmp(void *ctx, const char *name, const char *path) {
    stale_ctx *c = ctx;
    out_name key = {(char *)name, 0};
    const out_name *f = bsearch(&key, c->v, c->n, sizeof *c->v, cmp_out_name);
    if (!f || !c->redo[f->idx]) return;
    char *p = xasprintf("%s", path);
    if (!p || !grow(&c->tmps, &c->cap, c->n_tmps + 1, sizeof *c->tmps)) { free(p); c->nomem = 1; return; }
    c->tmps[c->n_tmps].idx = f->idx;
    c->tmps[c->n_tmps++].path = p;
}

/* The settings that change the outputs, one "key value" a line after the magic line. */
static char *settings_text(tool_session *s, const tool_opts *o, int *rc) {
    uint64_t mh = 0, vh = 0;
    if ((*rc = session_model_hash(s, &mh)) || (*rc = session_vocab_hash(s, &vh))) return NULL;
    const ct_segment_params *p = &s->sp;
    char dil[128] = "";
    for (int i = 0; i < p->n_pamr_dilations; i++) snprintf(dil + strlen(dil), sizeof dil - strlen(dil), "%s%d", i ? "," : "", p->pamr_dilations[i]);
    char *t = xasprintf(SETTINGS_MAGIC "\nmodel %016llx\nvocabulary %016llx\ntemplates %016llx\nprecision %s\nbackend %s\n"
                        "classes %016llx\nlabels %d\nsize %d\ncrop %d\nhead %s\nslide %d,%d\npamr %d\npamr-dilations %s\n"
                        "logit-scale %.9g\nprob-thd %.9g\narea-thd %.9g\ngaussian-std %.9g\neps %.9g\nmin-samples %d\n"
                        "median-size %d\nupsample-ratio %d\ncls-reweight %d\nsc-layers %d,%d,%d,%d\nres-cls %.9g\nsc-beta %.9g\n",
                        (unsigned long long)mh, (unsigned long long)vh, (unsigned long long)templates_hash(), ct_precision_name(s->lp.precision),
                        s->lp.backend == CT_BACKEND_OPENBLAS ? "openblas" : "native", (unsigned long long)classes_hash(&s->cl), s->cl.n_labels,
                        s->size, o->crop, ct_head_name(p->head), p->slide_crop, p->slide_stride, p->pamr_steps, dil, (double)p->logit_scale,
                        (double)p->prob_thd, (double)p->area_thd, (double)p->gaussian_std, (double)p->eps, p->min_samples, p->median_size,
                        p->upsample_ratio, p->cls_reweight, p->sc_layers[0], p->sc_layers[1], p->sc_layers[2], p->sc_layers[3],
                        (double)p->sc_res_cls, (double)p->sc_beta);
    if (!t) *rc = runtime_error("out of memory");
    return t;
}

/* the first line of `have` that differs from `want`, as "KEY is A there, B here" */
static void settings_diff(const char *have, const char *want, char *out, size_t cap) {
    snprintf(out, cap, "the file differs");
    while (*have || *want) {
        size_t a = strcspn(have, "\n"), c = strcspn(want, "\n");
        if (a != c || memcmp(have, want, a)) {
            size_t ka = strcspn(have, " \n"), kc = strcspn(want, " \n");
            if (ka < a && ka == kc && !memcmp(have, want, ka))
                snprintf(out, cap, "%.*s is %.*s there, %.*s here", (int)ka, have, (int)(a - ka - 1), have + ka + 1, (int)(c - kc - 1), want + kc + 1);
            else snprintf(out, cap, "'%.*s' there, '%.*s' here", (int)(a > 80 ? 80 : a), have, (int)(c > 80 ? 80 : c), want);
            return;
        }
        have += a + (have[a] == '\n');
        want += c + (want[c] == '\n');
    }
}

/* Create `path` with `text` only if it does not exist: the whole file written beside it first
 * (".NAME.<pid>.new"), then linked to its name (link(2) fails when the name exists: of two runs
 * starting at once one creates it, the other compares with it). 1 created, 0 exists, -1 error. */
static int create_exclusive(const char *path, const char *text, ct_error *err) {
    char *dir = path_dir(path), *tmpname = NULL, *tmp = NULL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (dir) tmpname = xasprintf(".%s.%ld.new", base, (long)getpid());
    if (tmpname) tmp = path_join(dir, tmpname);
    int r = -1;
    if (!tmp) fail_msg(err, CT_ERR_NOMEM, "out of memory");
    else {
        unlink(tmp); /* a leftover of a killed run that had this process id */
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        size_t n = strlen(text);
        if (fd < 0) fail_msg(err, CT_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        else if (write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
            fail_msg(err, CT_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno ? errno : EIO));
            close(fd);
        } else if (close(fd) != 0) fail_msg(err, CT_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        else if (link(tmp, path) == 0) r = 1;
        else if (errno == EEXIST) r = 0;
        else fail_msg(err, CT_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
        if (fd >= 0) unlink(tmp);
    }
    free(dir); free(tmpname); free(tmp);
    return r;
}

/* OUTDIR's settings: recorded by the first run (created exclusively), equal to this run's
 * afterwards. */
static int check_settings(const char *outdir, const char *text) {
    char *p = path_join(outdir, SETTINGS_FILE), *have = NULL;
    size_t len = 0;
    ct_error err;
    int rc = 0, made = 0;
    if (!p) return runtime_error("out of memory");
    if ((made = create_exclusive(p, text, &err)) < 0) {
        rc = runtime_error("%s", err.msg);
    } else if (made) {
    } else if (!read_file(p, 1 << 16, &have, &len, &err)) {
        rc = runtime_error("%s", err.msg);
    } else if (strncmp(have, SETTINGS_MAGIC "\n", strlen(SETTINGS_MAGIC) + 1)) {
        rc = runtime_error("'%s' is not a ct-batch settings file", p);
    } else if (strcmp(have, text)) {
        char d[512];
        settings_diff(have, text, d, sizeof d);
        rc = usage_error("'%s' holds outputs made with other settings: %s (use another -O directory, or the same settings)", outdir, d);
    }
    free(have);
    free(p);
    return rc;
}

/* ------------------------------------------------------------------ one writer */

/* OUTDIR/.ct-batch-lock: byte 0 written by a run without --shard (it has the directory to
 * itself), read by shards (they share it); the shard's own byte (a shard runs once at a time).
 * Held until the process ends. 0 or the exit status. */
static int lock_outdir(batch *b, const char *outdir, int shard_i, int shard_n) {
    char *p = path_join(outdir, LOCK_FILE);
    if (!p) return runtime_error("out of memory");
    int rc = 0;
    long holder = 0;
    b->lock_fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    int r = b->lock_fd < 0 ? -1 : lock_range(b->lock_fd, shard_n > 1 ? F_RDLCK : F_WRLCK, 0, 1, &holder);
    if (r > 0 && shard_n > 1) {
        r = lock_range(b->lock_fd, F_WRLCK, LOCK_SHARD(shard_i, shard_n), 1, &holder);
        if (!r) rc = runtime_error("shard %d/%d of '%s' is being run by another ct-batch (pid %ld): one process per shard", shard_i, shard_n, outdir, holder);
    } else if (!r) {
        rc = runtime_error("'%s' is in use by another ct-batch (pid %ld): one run at a time into a directory (or the shards of one, --shard)", outdir,
                           holder);
    }
    if (r < 0) rc = runtime_error("cannot lock '%s': %s", p, strerror(errno));
    free(p);
    return rc;
}

/* OUTDIR/.ct-batch-written: the output names ct-batch wrote there, each ended by a NUL byte (an
 * unended last one, from a killed write, is dropped); sorted into *names (pointing into *buf). */
static int load_written(const char *outdir, char **buf, const char ***names, size_t *n) {
    char *p = path_join(outdir, WRITTEN_FILE);
    size_t len = 0;
    ct_error err;
    int rc = 0;
    *n = 0;
    if (!p) return runtime_error("out of memory");
    struct stat sb;
    if (lstat(p, &sb) != 0) { free(p); return 0; }
    if (!read_file(p, (size_t)1 << 36, buf, &len, &err)) rc = runtime_error("%s", err.msg);
    size_t cnt = 0;
    for (size_t i = 0; !rc && i < len; i++) cnt += !(*buf)[i];
    if (!rc && cnt && !(*names = malloc(sizeof **names * cnt))) rc = runtime_error("out of memory");
    for (size_t i = 0, start = 0; !rc && i < len; i++)
        if (!(*buf)[i]) {
            if (i > start) (*names)[(*n)++] = *buf + start;
            start = i + 1;
        }
    if (*n) qsort(*names, *n, sizeof **names, cmp_cstr);
    free(p);
    return rc;
}

typedef struct {
    dev_t dev;
    ino_t ino;
    int idx; /* >= 0: a picture; -1 .. -4: vocabulary, classes file, background file, model; below: a list */
} file_key;

static int cmp_key(const void *a, const void *c) {
    const file_key *x = a, *y = c;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    return (x->ino > y->ino) - (x->ino < y->ino);
}

/* ------------------------------------------------------------------ parallelism */

/* Bytes of one segmentation of a 4:3 picture at the session's size (0 when unknown). */
static size_t picture_bytes(const tool_session *s, const tool_opts *o, int dump) {
    int p = s->cfg->patch, H = s->size, W = o->crop ? s->size : ct_round_size(s->size * 4 / 3, p);
    size_t bytes = 0;
    if (ct_segment_memory(s->model, H, W, s->cl.n_names, &s->sp, dump, &bytes, NULL)) return 0;
    return bytes;
}

/* The rule of --jobs auto (--help, docs/cluster.md): pictures in parallel, one thread each, when
 * there are at least as many pictures to do as threads and that many segmentations fit in half
 * the memory; else one picture at a time on every thread. Measured on 2 cores (ViT-B/16 random
 * weights, 16 pictures of 336 x 448): idle, 1 job x 2 threads 3.22-3.25 pictures/s, 2 jobs x 1
 * thread 3.18 (a tie; one thread alone 1.69); with other processes taking a core, 1.34-1.85
 * (mean 1.61) against 1.65-2.10 (mean 1.88): a parallel region waits for its slowest thread, a
 * job only for itself. A picture's serial part (about 4%) is what pictures in parallel avoid on
 * more cores (Amdahl: 1.13x at 4 threads, 1.31x at 8, 1.66x at 16). The cost: one workspace per
 * job (+50 MiB at 336 x 448). */
/* The memory the pictures segmented at once may take: half the physical memory, or the
 * address-space limit (ulimit -v) when it is lower; 0 when unknown. */
static double memory_budget(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double budget = pages > 0 && page > 0 ? (double)pages * (double)page / 2 : 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (budget <= 0 || (double)rl.rlim_cur < budget)) budget = (double)rl.rlim_cur;
    return budget;
}

static int auto_jobs(const tool_session *s, const tool_opts *o, int dump, int threads, int n_todo) {
    if (threads <= 1 || n_todo < threads) return 1;
    size_t per = picture_bytes(s, o, dump);
    double budget = memory_budget();
    if (per && budget > 0 && (double)per * threads > budget) return 1;
    return threads;
}

/* --jobs N: the check of auto, refused (exit 1) when N segmentations at once do not fit. */
static int check_jobs(const tool_session *s, const tool_opts *o, int dump, int jobs) {
    size_t per = picture_bytes(s, o, dump);
    double budget = memory_budget(), need = (double)per * jobs, mib = 1 << 20;
    if (jobs <= 1 || !per || budget <= 0 || need <= budget) return 0;
    return usage_error("--jobs %d: %d pictures at once need about %.0f MiB (%.0f MiB each at --size %d), more than the %.0f MiB they may take "
                       "(half the memory, or ulimit -v): give --jobs %d or fewer, or --jobs auto",
                       jobs, jobs, need / mib, per / mib, s->size, budget / mib, (int)(budget / (double)per) > 1 ? (int)(budget / (double)per) : 1);
}

/* ------------------------------------------------------------------ main */

enum { O_LIST = OPT_TOOL, O_OVERLAY, O_LABELS, O_DUMP, O_SHARD };

int main(int argc, char **argv) {
    tool_init(argv[0], "ct-batch");
    tool_opts o;
    opts_init(&o);
    const char *outdir = NULL;
    int want[N_OUT] = {1, 0, 0, 0, 1}, shard_i = 0, shard_n = 1, jobs = 0;
    const char **lists = calloc((size_t)argc + 1, sizeof *lists);
    int n_lists = 0;
    if (!lists) return runtime_error("out of memory");
    static const struct option mine[] = {
        {"output-dir", required_argument, 0, 'O'}, {"list", required_argument, 0, O_LIST}, {"overlay", no_argument, 0, O_OVERLAY},
        {"labels", no_argument, 0, O_LABELS}, {"dump", no_argument, 0, O_DUMP}, {"jobs", required_argument, 0, 'j'},
        {"shard", required_argument, 0, O_SHARD}, {0, 0, 0, 0}};
    opts_parser op;
    opts_table(&op, GROUPS, mine, "O:j:");
    ct_error err;
    for (int c; (c = opts_next(&o, &op, argc, argv)) != -1;) {
        switch (c) {
        case OPTS_ERROR: free(lists); return 1;
        case 'O': outdir = optarg; break;
        case O_LIST: lists[n_lists++] = optarg; break;
        case O_OVERLAY: want[OUT_OVERLAY] = 1; break;
        case O_LABELS: want[OUT_LABELS] = 1; break;
        case O_DUMP: want[OUT_DUMP] = 1; break;
        case 'j':
            jobs = 0;
            if (strcmp(optarg, "auto") && !parse_int(optarg, 1, JOBS_MAX, &jobs)) {
                free(lists);
                return usage_error("--jobs needs auto or a whole number in [1, %d], not '%s'", JOBS_MAX, optarg);
            }
            break;
        case O_SHARD:
            if (!shard_parse(optarg, &shard_i, &shard_n, &err)) { free(lists); return usage_error("%s", err.msg); }
            break;
        case 'h': free(lists); usage(stdout); return close_stdout();
        }
    }
    /* every usage error before any work */
    int rc = 0;
    if (!outdir) rc = usage_error("no output directory: give -O OUTDIR");
    else if (optind >= argc && !n_lists) rc = usage_error("no pictures: give IMAGE or DIR arguments, or --list FILE");
    else if (!o.class_list && !o.classes_file) rc = usage_error("no classes: use -c LIST or --classes-file PATH");
    else if (!check_output_dir(outdir, "-O", &err)) rc = usage_error("%s", err.msg);
    if (rc) { free(lists); return rc; }

    tool_session s;
    memset(&s, 0, sizeof s);
    input_list in;
    inputs_init(&in);
    out_name *names = NULL;
    size_t n_names = 0;
    char **stem = NULL;
    int *todo = NULL;
    unsigned char *redo = NULL;
    float *emb = NULL;
    worker *ws = NULL;
    int n_workers = 0, n_mine = 0, n_todo = 0;
    batch b;
    memset(&b, 0, sizeof b);
    pthread_mutex_init(&b.mx, NULL);
    b.lock_fd = b.written_fd = -1;
    char *written_buf = NULL;
    const char **written = NULL;
    size_t n_written = 0;
    stale_ctx sc;
    memset(&sc, 0, sizeof sc);
    file_key *keys = NULL;
    /* one writer per directory, per shard and per picture (docs/cluster.md), before any work */
    if ((rc = lock_outdir(&b, outdir, shard_i, shard_n))) goto out;
    if ((rc = session_classes(&s, &o))) goto out;
    for (int i = optind; i < argc && !rc; i++)
        if (!inputs_add(&in, argv[i], &err)) rc = runtime_error("%s", err.msg);
    for (int i = 0; i < n_lists && !rc; i++)
        if (!inputs_add_list(&in, lists[i], &err)) rc = runtime_error("%s", err.msg);
    if (rc) goto out;
    if (!in.n) { rc = usage_error("no pictures in the arguments and lists given"); goto out; }

    /* the outputs of every picture (of every shard): no name twice, no input overwritten */
    int n_out = 0;
    for (int k = 0; k < N_OUT; k++) n_out += want[k];
    stem = calloc((size_t)in.n, sizeof *stem);
    names = calloc((size_t)in.n * (size_t)n_out, sizeof *names);
    redo = calloc((size_t)in.n, 1);
    todo = malloc(sizeof *todo * (size_t)in.n);
    if (!stem || !names || !redo || !todo) { rc = runtime_error("out of memory"); goto out; }
    for (int i = 0; i < in.n; i++) {
        if (!(stem[i] = path_stem(in.path[i]))) { rc = runtime_error("out of memory"); goto out; }
        if (!stem[i][0]) { rc = usage_error("'%s' has no file name", in.path[i]); goto out; }
        for (int k = 0; k < N_OUT; k++) {
            if (!want[k]) continue;
            names[n_names].idx = i;
            if (!(names[n_names++].name = xasprintf("%s%s", stem[i], k_suffix[k]))) { rc = runtime_error("out of memory"); goto out; }
        }
    }
    qsort(names, n_names, sizeof *names, cmp_out_name);
    for (size_t k = 1; k < n_names; k++)
        if (!strcmp(names[k - 1].name, names[k].name)) {
            int a = names[k - 1].idx, c = names[k].idx;
            if (a > c) { int x = a; a = c; c = x; }
            rc = usage_error("'%s' and '%s' would both write %s/%s: rename one, or segment them into different -O directories", in.path[a],
                             in.path[c], outdir, names[k].name);
            goto out;
        }
    /* no output is an input (the same file: symlinks followed), nor a file this directory's runs
     * did not write */
    const char *others[4] = {o.vocab_path, o.classes_file, o.bg_file, o.model_path};
    size_t n_keys = 0;
    keys = malloc(sizeof *keys * ((size_t)in.n + 4 + (size_t)n_lists));
    if (!keys) { rc = runtime_error("out of memory"); goto out; }
    for (int i = -4 - n_lists; i < in.n; i++) {
        const char *p = i >= 0 ? in.path[i] : i >= -4 ? others[-1 - i] : lists[-5 - i];
        struct stat sb;
        if (!p || stat(p, &sb) != 0) continue;
        keys[n_keys++] = (file_key){sb.st_dev, sb.st_ino, i};
    }
    qsort(keys, n_keys, sizeof *keys, cmp_key);
    if ((rc = load_written(outdir, &written_buf, &written, &n_written))) goto out;
    b.written = written;
    b.n_written = n_written;
    for (int i = 0; i < in.n; i++)
        for (int k = 0; k < N_OUT; k++) {
            if (!want[k]) continue;
            char *name = xasprintf("%s%s", stem[i], k_suffix[k]), *p = name ? path_join(outdir, name) : NULL;
            struct stat sb;
            file_key *f = NULL;
            if (p && stat(p, &sb) == 0) {
                file_key key = {sb.st_dev, sb.st_ino, 0};
                f = bsearch(&key, keys, n_keys, sizeof *keys, cmp_key);
            }
            if (!p) rc = runtime_error("out of memory");
            else if (f && f->idx >= 0) rc = usage_error("'%s' would be overwritten by an output (%s): give another -O directory", in.path[f->idx], p);
            else if (f) rc = usage_error("'%s' would be overwritten by an output (%s): give another -O directory", f->idx >= -4 ? others[-1 - f->idx] : lists[-5 - f->idx], p);
            else if (i % shard_n == shard_i && lstat(p, &sb) == 0 && !was_written(&b, name))
                rc = usage_error("'%s' exists and was not written by ct-batch into '%s' (it is not in its " WRITTEN_FILE "): it would be replaced; "
                                 "move it away, or give another -O directory", p, outdir);
            free(name);
            free(p);
            if (rc) goto out;
        }

    /* this shard's pictures; those complete already are skipped */
    b.outdir = outdir;
    memcpy(b.want, want, sizeof want);
    for (int i = shard_i; i < in.n; i += shard_n) {
        n_mine++;
        if (!complete(&b, stem[i])) { todo[n_todo++] = i; redo[i] = 1; }
    }
    if (shard_n > 1) progress("shard %d/%d: %d of the %d pictures", shard_i, shard_n, n_mine, in.n);

    if ((rc = session_load(&s, &o, GROUPS))) goto out;
    char *text = settings_text(&s, &o, &rc);
    if (text) rc = check_settings(outdir, text);
    free(text);
    if (rc) goto out;
    char *wp = path_join(outdir, WRITTEN_FILE);
    b.written_fd = wp ? open(wp, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644) : -1;
    if (b.written_fd < 0) rc = wp ? runtime_error("cannot open '%s': %s", wp, strerror(errno)) : runtime_error("out of memory");
    free(wp);
    if (rc) goto out;
    int threads = ct_model_threads(s.model);
    if (!n_todo) {
        if (!quiet) progress("done 0, skipped %d, failed 0 in 0.0 s: every picture is complete already", n_mine);
        goto out;
    }
    sc.v = names;
    sc.n = n_names;
    sc.redo = redo;
    each_tmp(outdir, collect_tmp, &sc);
    if (sc.nomem) { rc = runtime_error("out of memory"); goto out; }
    if (sc.n_tmps) qsort(sc.tmps, sc.n_tmps, sizeof *sc.tmps, cmp_tmp);
    b.tmps = sc.tmps;
    b.n_tmps = sc.n_tmps;

    if ((rc = session_embeddings(&s, &emb, &b.n_cached))) goto out;
    if (jobs > n_todo) jobs = n_todo;
    if (!jobs) jobs = auto_jobs(&s, &o, want[OUT_DUMP], threads, n_todo);
    else if ((rc = check_jobs(&s, &o, want[OUT_DUMP], jobs))) goto out;
    int per = threads / jobs > 1 ? threads / jobs : 1;
    ws = calloc((size_t)jobs, sizeof *ws);
    if (!ws) { rc = runtime_error("out of memory"); goto out; }
    for (int j = 0; j < jobs; j++) {
        worker *w = &ws[j];
        w->b = &b;
        w->model = s.model;
        w->sp = s.sp;
        w->sp.n_threads = per;
        if (j > 0 && per > 1) { /* its own runtime of `per` threads: a shared one would serve the jobs in turn */
            ct_load_params lp = s.lp;
            lp.n_threads = per;
            lp.runtime = NULL;
            if (ct_model_load_ex(s.model_path, &lp, &w->own, &err)) { rc = runtime_error("%s", err.msg); goto out; }
            w->model = w->own;
        }
        n_workers++;
    }
    progress("%d pictures to segment, %d complete already; %d job%s x %d thread%s", n_todo, n_mine - n_todo, jobs, jobs == 1 ? "" : "s", per,
             per == 1 ? "" : "s");
    b.s = &s;
    b.o = &o;
    b.emb = emb;
    b.in = &in;
    b.stem = stem;
    b.todo = todo;
    b.n_todo = n_todo;
    b.bar = !quiet && isatty(STDERR_FILENO);
    b.t0 = now();
    atomic_init(&b.next, 0);
    int started = 1;
    for (int j = 1; j < jobs; j++) {
        if (pthread_create(&ws[j].th, NULL, work, &ws[j]) != 0) {
            warn("could not start job %d: running %d", j + 1, started);
            break;
        }
        started++;
    }
    work(&ws[0]);
    for (int j = 1; j < started; j++) pthread_join(ws[j].th, NULL);
    double el = now() - b.t0;
    pthread_mutex_lock(&b.mx);
    if (b.drawn) { draw_bar(&b, 1); fprintf(stderr, "\n"); }
    pthread_mutex_unlock(&b.mx);
    if (!quiet)
        progress("done %d, skipped %d, failed %d in %.1f s (%.2f images/s; %d job%s x %d thread%s)", b.done, n_mine - n_todo + b.late, b.failed, el,
                 el > 0 ? b.done / el : 0.0, started, started == 1 ? "" : "s", per, per == 1 ? "" : "s");
    if (b.failed) {
        warn("%d picture%s failed (see above)", b.failed, b.failed == 1 ? "" : "s");
        rc = 2;
    }
    if (b.busy) {
        warn("%d picture%s being segmented by another ct-batch (an overlapping shard): run again once it ends", b.busy,
             b.busy == 1 ? " was" : "s were");
        rc = 2;
    }
    if (atomic_load(&b.stop)) {
        int left = n_todo - b.done - b.failed - b.busy - b.late;
        rc = runtime_error("stopped: %s: the disk (or the quota, or the file-size limit) is full; %d picture%s not attempted: make room and run again",
                           b.full.msg, left, left == 1 ? "" : "s");
    }
out:
    if (b.lock_fd >= 0) close(b.lock_fd);
    if (b.written_fd >= 0) close(b.written_fd);
    for (size_t k = 0; k < sc.n_tmps; k++) free(sc.tmps[k].path);
    free(sc.tmps);
    free(keys);
    free(written);
    free(written_buf);
    for (int j = 0; j < n_workers; j++) ct_model_free(ws[j].own);
    free(ws);
    free(emb);
    for (size_t k = 0; k < n_names; k++) free(names[k].name);
    free(names);
    for (int i = 0; stem && i < in.n; i++) free(stem[i]);
    free(stem);
    free(todo);
    free(redo);
    inputs_free(&in);
    session_free(&s);
    pthread_mutex_destroy(&b.mx);
    free(lists);
    return rc;
}
