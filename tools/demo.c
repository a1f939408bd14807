/* demo: segment an image into classes named on the command line (CLIPtrase and the peer heads).
 * Exit status: 0 success, 1 usage error, 2 runtime error. See --help, README.md and
 * docs/formats.md. */
#include "cliptrase.h"
#include "common.h"
#include "npy.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUPS (OG_MODEL | OG_CLASSES | OG_IMAGE | OG_SEG | OG_GENERAL)

static void usage(FILE *f) {
    fprintf(f, "usage: %s -c CLASSES (-i IMAGE | --pixels FILE.npy) [options]\n"
               "Labels every pixel of the picture with one of the classes.\n"
               "input:\n"
               "  -i, --image PATH        the picture (JPEG, PNG, BMP, TGA, GIF)\n"
               "      --pixels PATH       a 3 x H x W float32 .npy, already normalised: used as is\n",
            tool_name);
    opts_help(f, GROUPS);
    fprintf(f, "outputs (docs/formats.md; without any of them: -o out.png):\n"
               "  -o, --output PATH       the colour label map at the picture's size with a legend strip\n"
               "                          below it (the canvas widened when the legend needs it)\n"
               "      --overlay PATH      the labels blended over the photo, at its size (needs -i)\n"
               "      --labels PATH       label map at the picture's size: 8-bit grey PNG, 16-bit from 256 labels\n"
               "      --json PATH         per-class pixel share, parameters and timings ('-': standard output)\n"
               "      --dump DIR          every intermediate as .npy (names and shapes of the oracle)\n"
               "Exit status: 0 success, 1 usage error, 2 runtime error.\n");
}

/* ------------------------------------------------------------- outputs */

/* a JSON string: UTF-8 kept, invalid bytes (paths need not be UTF-8) as U+FFFD */
static void json_str(out_file *f, const char *s) {
    out_write(f, "\"", 1);
    const char *p = s, *end = s + strlen(s);
    while (p < end) {
        const char *at = p;
        uint32_t cp;
        if (!utf8_decode(&p, end, &cp)) { out_printf(f, "\\ufffd"); continue; }
        if (cp == '"' || cp == '\\') out_printf(f, "\\%c", (char)cp);
        else if (cp < 0x20 || cp == 0x7f) out_printf(f, "\\u%04x", (unsigned)cp);
        else out_write(f, at, (size_t)(p - at));
    }
    out_write(f, "\"", 1);
}

typedef struct {
    const char *dir;
    int ok;
    ct_error err;
} dumper;

/* <dir>/<name>.npy of a float (or int32) array of up to three dimensions (0: unused) */
static void dump(dumper *d, const char *name, const void *data, int is_int, int nd, int64_t d0, int64_t d1, int64_t d2) {
    if (!d->ok || !data) return;
    char *file = xasprintf("%s.npy", name), *p = file ? path_join(d->dir, file) : NULL;
    int64_t sh[3] = {d0, d1, d2};
    if (!p) d->ok = fail_msg(&d->err, CT_ERR_NOMEM, "out of memory");
    else if (npy_save(p, data, is_int, nd, sh, &d->err)) d->ok = 0;
    free(file);
    free(p);
}

static int dump_all(const char *dir, const float *px, int H, int W, const float *emb, const classes *cl, int E,
                    const ct_intermediates *x, const ct_segment_info *info, const ct_segment_params *sp, const int32_t *lab) {
    dumper d = {dir, 1, {0}};
    int n = cl->n_names, h = info->h, w = info->w, T = 1 + h * w, r = info->upsample_ratio > 0 ? info->upsample_ratio : 4;
    dump(&d, "pixels", px, 0, 3, 3, H, W);
    dump(&d, "text_features", emb, 0, 2, n, E, 0);
    dump(&d, "name_label", cl->label, 1, 1, n, 0, 0);
    dump(&d, "image_embedding", x->image_embedding, 0, 1, E, 0, 0);
    if (!sp->slide_crop) dump(&d, "img_tokens", x->img_tokens, 0, 2, T, E, 0);
    dump(&d, "corr_raw", x->corr_raw, 0, 2, T, T, 0);
    dump(&d, "corr", x->corr, 0, 2, h * w, h * w, 0);
    dump(&d, "patch_logits", x->patch_logits, 0, 3, n, h, w);
    dump(&d, "logits_up", x->logits_up, 0, 3, n, H, W);
    dump(&d, "pred_raw", x->pred_raw, 1, 2, H, W, 0);
    dump(&d, "dbscan_labels", x->dbscan_labels, 1, 1, h * w, 0, 0);
    if (x->dbscan_labels) /* the cliptrase head: cluster maps even when there is no cluster (0 x 4h x 4w) */
        dump(&d, "cluster_maps", x->cluster_maps ? (const void *)x->cluster_maps : (const void *)"", 0, 3, x->n_clusters, r * h, r * w);
    dump(&d, "cluster_assign", x->cluster_assign, 1, 2, H, W, 0);
    dump(&d, "seg_logits", x->seg_logits, 0, 3, n, H, W);
    dump(&d, "pamr_logits", x->pamr_logits, 0, 3, n, H, W);
    dump(&d, "pred", lab, 1, 2, H, W, 0);
    if (!d.ok) return runtime_error("%s", d.err.msg);
    return 0;
}

static int write_json(const char *path, const char *input, const tool_session *s, const tool_opts *o, int OW, int OH, int W, int H,
                      const ct_segment_info *info, const double *share, int n_cached, const double t[5]) {
    out_file f;
    ct_error err;
    if (!out_open(&f, path, 1, &err)) return runtime_error("%s", err.msg);
    const ct_segment_params *sp = &s->sp;
    const classes *cl = &s->cl;
    out_printf(&f, "{\n  \"image\": ");
    json_str(&f, input);
    out_printf(&f, ",\n  \"model\": ");
    json_str(&f, s->model_path);
    out_printf(&f, ",\n  \"width\": %d, \"height\": %d, \"model_width\": %d, \"model_height\": %d,\n", OW, OH, W, H);
    out_printf(&f, "  \"params\": {\"head\": \"%s\", \"size\": %d, \"crop\": %s, \"precision\": \"%s\", \"kernel\": ", ct_head_name(sp->head),
               s->size, o->crop ? "true" : "false", ct_precision_name(info->precision));
    json_str(&f, info->kernel ? info->kernel : "");
    out_printf(&f, ",\n             \"slide_crop\": %d, \"slide_stride\": %d, \"pamr_steps\": %d, \"pamr_dilations\": [", sp->slide_crop,
               sp->slide_stride, sp->pamr_steps);
    for (int i = 0; i < sp->n_pamr_dilations; i++) out_printf(&f, "%s%d", i ? ", " : "", sp->pamr_dilations[i]);
    out_printf(&f, "], \"logit_scale\": %g, \"prob_thd\": %g, \"area_thd\": %g, \"gaussian_std\": %g,\n", (double)info->logit_scale,
               (double)sp->prob_thd, (double)sp->area_thd, (double)sp->gaussian_std);
    out_printf(&f, "             \"eps\": %g, \"min_samples\": %d, \"cls_reweight\": %s, \"threads\": %d},\n", (double)info->eps,
               info->min_samples, sp->cls_reweight ? "true" : "false", info->n_threads);
    out_printf(&f, "  \"n_clusters\": %d, \"n_windows\": %d, \"n_thresholded\": %d,\n  \"classes\": [\n", info->n_clusters, info->n_windows,
               info->n_thresholded);
    for (int l = 0; l < cl->n_labels; l++) {
        out_printf(&f, "    {\"label\": %d, \"name\": ", l);
        json_str(&f, cl->title[l]);
        out_printf(&f, ", \"names\": [");
        for (int i = 0, k = 0; i < cl->n_names; i++)
            if (cl->label[i] == l) {
                if (k++) out_printf(&f, ", ");
                json_str(&f, cl->names[i]);
            }
        out_printf(&f, "], \"share\": %.6f}%s\n", share[l], l + 1 < cl->n_labels ? "," : "");
    }
    out_printf(&f, "  ],\n  \"timings_s\": {\"load\": %.4f, \"text\": %.4f, \"segment\": %.4f, \"write\": %.4f, \"total\": %.4f},\n", t[1] - t[0],
               t[2] - t[1], t[3] - t[2], t[4] - t[3], t[4] - t[0]);
    out_printf(&f, "  \"cached_names\": %d\n}\n", n_cached);
    if (!out_commit(&f, &err)) return runtime_error("%s", err.msg);
    return 0;
}

/* --pixels: a finite 3 x H x W float32 array */
static int load_pixels(const char *path, int patch, npy_array *a, int *H, int *W) {
    ct_error err;
    if (npy_load(path, a, &err)) return runtime_error("%s", err.msg);
    if (a->is_int || a->ndim != 3 || a->shape[0] != 3) return runtime_error("'%s' must be a 3 x H x W float32 array", path);
    if (a->shape[1] <= 0 || a->shape[2] <= 0 || a->shape[1] > 65536 || a->shape[2] > 65536 || a->shape[1] % patch || a->shape[2] % patch)
        return runtime_error("'%s' is %lld x %lld: not a positive multiple of the patch size %d (at most 65536)", path, (long long)a->shape[1],
                             (long long)a->shape[2], patch);
    *H = (int)a->shape[1];
    *W = (int)a->shape[2];
    const float *v = a->data;
    for (size_t i = 0; i < a->numel; i++)
        if (!isfinite(v[i])) return runtime_error("'%s' holds a non-finite value (NaN or Inf) at element %zu", path, i);
    return 0;
}

/* ------------------------------------------------------------- main */

enum { OPT_PIXELS = OPT_TOOL, OPT_OVERLAY, OPT_LABELS, OPT_JSON, OPT_DUMP };

int main(int argc, char **argv) {
    tool_init(argv[0], "demo");
    tool_opts o;
    opts_init(&o);
    const char *image_path = NULL, *pixels_path = NULL, *out_path = NULL, *overlay = NULL, *labels_path = NULL, *json_path = NULL, *dump_dir = NULL;
    static const struct option mine[] = {
        {"image", required_argument, 0, 'i'}, {"pixels", required_argument, 0, OPT_PIXELS}, {"output", required_argument, 0, 'o'},
        {"overlay", required_argument, 0, OPT_OVERLAY}, {"labels", required_argument, 0, OPT_LABELS}, {"json", required_argument, 0, OPT_JSON},
        {"dump", required_argument, 0, OPT_DUMP}, {0, 0, 0, 0}};
    opts_parser op;
    opts_table(&op, GROUPS, mine, "i:o:");
    for (int c; (c = opts_next(&o, &op, argc, argv)) != -1;) {
        switch (c) {
        case OPTS_ERROR: return 1;
        case 'i': image_path = optarg; break;
        case OPT_PIXELS: pixels_path = optarg; break;
        case 'o': out_path = optarg; break;
        case OPT_OVERLAY: overlay = optarg; break;
        case OPT_LABELS: labels_path = optarg; break;
        case OPT_JSON: json_path = optarg; break;
        case OPT_DUMP: dump_dir = optarg; break;
        case 'h': usage(stdout); return close_stdout();
        }
    }
    /* every usage error before any work */
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (!image_path == !pixels_path) return usage_error("give exactly one of -i IMAGE or --pixels FILE.npy");
    if (!o.class_list && !o.classes_file) return usage_error("no classes: use -c LIST or --classes-file PATH");
    if (pixels_path && overlay) return usage_error("--overlay needs -i IMAGE: with --pixels there is no photo to draw over");
    if (pixels_path && (o.crop || o.size_given)) return usage_error("--size and --crop apply to -i IMAGE; --pixels is used as it is");
    if (!out_path && !overlay && !labels_path && !json_path && !dump_dir) out_path = "out.png";
    ct_error err;
    struct { const char *path, *flag; } outs[3] = {{out_path, "-o"}, {overlay, "--overlay"}, {labels_path, "--labels"}};
    for (int k = 0; k < 3; k++)
        if (outs[k].path && !check_output(outs[k].path, outs[k].flag, &err)) return usage_error("%s", err.msg);
    if (json_path && strcmp(json_path, "-") && !check_output(json_path, "--json", &err)) return usage_error("%s", err.msg);
    if (dump_dir && !check_output_dir(dump_dir, "--dump", &err)) return usage_error("%s", err.msg);

    tool_session s;
    memset(&s, 0, sizeof s);
    int rc = session_classes(&s, &o);
    if (rc) { session_free(&s); return rc; }
    double t[5] = {now(), 0, 0, 0, 0};
    ct_image *photo = NULL, *resized = NULL;
    float *px_lib = NULL, *emb = NULL; /* px_lib: ct_normalize's, freed with ct_free */
    const float *px = NULL;
    int32_t *lab = NULL, *full = NULL;
    double *share = NULL;
    ct_intermediates inter;
    memset(&inter, 0, sizeof inter);
    npy_array pxn;
    memset(&pxn, 0, sizeof pxn);
    int H = 0, W = 0, n_cached = 0;
    if ((rc = session_load(&s, &o, GROUPS))) goto out;
    const ct_config *cfg = s.cfg;
    t[1] = now();

    /* the picture */
    if (image_path) {
        if (ct_image_load(image_path, &photo, &err)) { rc = runtime_error("%s", err.msg); goto out; }
        if (ct_resize_for_model(photo, s.size, o.crop, cfg->patch, &resized, &err) || ct_normalize(resized, &px_lib, &err)) {
            rc = runtime_error("'%s': %s", image_path, err.msg);
            goto out;
        }
        px = px_lib;
        H = resized->height;
        W = resized->width;
        ct_image_free(resized);
        resized = NULL;
    } else {
        if ((rc = load_pixels(pixels_path, cfg->patch, &pxn, &H, &W))) goto out;
        px = pxn.data;
    }
    /* what the segmentation will cost, before the class embeddings */
    size_t bytes = 0;
    if (ct_segment_memory(s.model, H, W, s.cl.n_names, &s.sp, dump_dir != NULL, &bytes, &err)) { rc = runtime_error("%s", err.msg); goto out; }
    if (verbose) progress("segmentation of %d x %d will use about %.0f MiB", W, H, (double)bytes / (1 << 20));

    if ((rc = session_embeddings(&s, &emb, &n_cached))) goto out;
    t[2] = now();

    /* segmentation: the intermediates only when --dump asks for them */
    progress("segmenting %d x %d (%d patches, %d names, head %s)", W, H, (H / cfg->patch) * (W / cfg->patch), s.cl.n_names, ct_head_name(s.sp.head));
    lab = malloc(sizeof(int32_t) * (size_t)H * (size_t)W);
    if (!lab) { rc = runtime_error("out of memory"); goto out; }
    ct_segment_info info;
    ct_segment_outputs so = {lab, NULL, &info, dump_dir ? &inter : NULL};
    if (ct_segment_ex(s.model, px, H, W, emb, s.cl.n_names, s.cl.label, &s.sp, &so, &err)) { rc = runtime_error("%s", err.msg); goto out; }
    t[3] = now();
    if (s.sp.head == CT_HEAD_CLIPTRASE) progress("%d clusters (eps %g, min_samples %d)", info.n_clusters, (double)info.eps, info.min_samples);
    else progress("%d window%s", info.n_windows, info.n_windows == 1 ? "" : "s");

    if (dump_dir) {
        if ((rc = dump_all(dump_dir, px, H, W, emb, &s.cl, cfg->embed_dim, &inter, &info, &s.sp, lab))) goto out;
        progress("intermediates written to %s/", dump_dir);
    }

    /* labels back to the original picture: nearest neighbour through the resize (and crop) */
    int OW = W, OH = H;
    const int32_t *outlab = lab;
    if (photo) {
        OW = photo->width;
        OH = photo->height;
        full = malloc(sizeof(int32_t) * (size_t)OW * (size_t)OH);
        if (!full) { rc = runtime_error("out of memory"); goto out; }
        if (ct_labels_to_image(lab, H, W, OW, OH, s.size, o.crop, full, &err)) { rc = runtime_error("%s", err.msg); goto out; }
        outlab = full;
    }
    share = calloc((size_t)s.cl.n_labels, sizeof(double));
    if (!share) { rc = runtime_error("out of memory"); goto out; }
    for (size_t i = 0; i < (size_t)OW * (size_t)OH; i++) share[outlab[i]] += 1.0 / ((double)OW * OH);
    if (out_path &&
        !render_colour(out_path, outlab, OW, OH, s.cl.n_labels, s.cl.bg_label, (const char *const *)s.cl.title, share, &err)) {
        rc = runtime_error("-o: %s", err.msg);
        goto out;
    }
    if (overlay && !render_overlay(overlay, photo, outlab, s.cl.bg_label, &err)) { rc = runtime_error("--overlay: %s", err.msg); goto out; }
    /* the CLI contract: 16-bit when there are more than 255 labels */
    if (labels_path && ct_labels_save_png(outlab, OW, OH, s.cl.n_labels <= 255 ? 8 : 16, labels_path, &err)) {
        rc = runtime_error("--labels: %s", err.msg);
        goto out;
    }
    t[4] = now();
    if (json_path && (rc = write_json(json_path, image_path ? image_path : pixels_path, &s, &o, OW, OH, W, H, &info, share, n_cached, t)))
        goto out;
    progress("done in %.2f s (load %.2f, text %.2f, segment %.2f)", t[4] - t[0], t[1] - t[0], t[2] - t[1], t[3] - t[2]);
out:
    ct_intermediates_free(&inter);
    npy_free(&pxn);
    ct_free(px_lib);
    free(emb); free(lab); free(full); free(share);
    ct_image_free(photo);
    ct_image_free(resized);
    session_free(&s);
    if (json_path && !strcmp(json_path, "-") && !rc) rc = close_stdout();
    return rc;
}
