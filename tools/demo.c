/* demo: segment an image into classes named on the command line (CLIPtrase and the peer heads).
 * Exit status: 0 success, 1 usage error, 2 runtime error. See --help, README.md and
 * docs/formats.md. */
#include "cliptrase.h"
#include "common.h"
#include "common/report.h"
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
               "                          (-o, --overlay, --labels are PNG files: a name ending in .png, or none)\n"
               "                          below it (the canvas widened when the legend needs it)\n"
               "      --overlay PATH      the labels blended over the photo, at its size (needs -i)\n"
               "      --labels PATH       label map at the picture's size: 8-bit grey PNG, 16-bit from 256 labels\n"
               "      --json PATH         per-class pixel share, parameters and timings ('-': standard output)\n"
               "      --dump DIR          every intermediate as .npy (names and shapes of the oracle)\n"
               "An output that is the same file as an input or as another output (symlinks followed) is\n"
               "refused before any work.\n"
               "Exit status: 0 success, 1 usage error, 2 runtime error.\n");
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
    opts_parser op;
    static const struct option mine[] = {
        {"image", required_argument, 0, 'i'}, {"pixels", required_argument, 0, OPT_PIXELS}, {"output", required_argument, 0, 'o'},
        {"overlay", required_argument, 0, OPT_OVERLAY}, {"labels", required_argument, 0, OPT_LABELS}, {"json", required_argument, 0, OPT_JSON},
        {"dump", required_argument, 0, OPT_DUMP}, {0, 0, 0, 0}};
    opts_table(&op, GROUPS, mine, "i:o:");
    for (int c; (c = opts_next(&o, &op, argc, argv)) != -1;) {
        switch (c) {
        case 'i': image_path = optarg; break;
        case OPT_PIXELS: pixels_path = optarg; break;
        case 'o': out_path = optarg; break;
        case OPT_OVERLAY: overlay = optarg; break;
        case OPT_LABELS: labels_path = optarg; break;
        case OPT_JSON: json_path = optarg; break;
        case OPT_DUMP: dump_dir = optarg; break;
        case OPTS_ERROR: return 1;
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
    for (int k = 0; k < 3; k++) {
        if (outs[k].path && !png_name(outs[k].path))
            return usage_error("%s %s: the file is a PNG; give a name ending in .png (or no extension)", outs[k].flag, outs[k].path);
        if (outs[k].path && !check_output(outs[k].path, outs[k].flag, &err)) return usage_error("%s", err.msg);
    }
    if (json_path && strcmp(json_path, "-") && !check_output(json_path, "--json", &err)) return usage_error("%s", err.msg);
    if (dump_dir && !check_output_dir(dump_dir, "--dump", &err)) return usage_error("%s", err.msg);
    /* no output is an input, or another output (symlinks followed) */
    const char *in[6] = {image_path, pixels_path, o.model_path, o.vocab_path, o.classes_file, o.bg_file};
    const char *in_what[6] = {"-i", "--pixels", "-m", "-V", "--classes-file", "--background-file"};
    const char *out[4] = {out_path, overlay, labels_path, json_path && strcmp(json_path, "-") ? json_path : NULL};
    const char *out_what[4] = {"-o", "--overlay", "--labels", "--json"};
    if (!check_distinct(in, in_what, 6, out, out_what, 4, &err)) return usage_error("%s", err.msg);

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
        warn_aspect(image_path, photo->width, photo->height, W, H);
        ct_image_free(resized);
        resized = NULL;
    } else {
        if ((rc = load_pixels(pixels_path, cfg->patch, &pxn, &H, &W))) goto out;
        px = pxn.data;
    }
    /* what the segmentation will cost, before the class embeddings: refused above the limits */
    size_t bytes = 0;
    if (!cost_check(s.model, H, W, s.cl.n_names, &s.sp, dump_dir != NULL, o.no_limits, &err)) {
        rc = err.status == CT_ERR_TOO_LARGE ? usage_error("%s", err.msg) : runtime_error("%s", err.msg);
        goto out;
    }
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
        if (!report_dump(dump_dir, px, H, W, emb, &s.cl, cfg->embed_dim, &inter, &info, &s.sp, lab, &err)) {
            rc = runtime_error("%s", err.msg);
            goto out;
        }
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
    label_shares(outlab, OW, OH, s.cl.n_labels, share);
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
    if (json_path && !report_json(json_path, image_path ? image_path : pixels_path, &s, &o, OW, OH, W, H, &info, share, n_cached, t, &err)) {
        rc = runtime_error("%s", err.msg);
        goto out;
    }
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
