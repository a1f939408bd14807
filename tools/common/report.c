/* The JSON report, the .npy intermediates and the label shares of a segmentation. */
#include "common/report.h"
#include "common/files.h"
#include "common/text.h"
#include "npy.h"

#include <stdlib.h>
#include <string.h>

void label_shares(const int32_t *labels, int OW, int OH, int n_labels, double *share) {
    memset(share, 0, sizeof(double) * (size_t)n_labels);
    for (size_t i = 0; i < (size_t)OW * (size_t)OH; i++) share[labels[i]] += 1.0 / ((double)OW * OH);
}

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

int report_json(const char *path, const char *input, const tool_session *s, const tool_opts *o, int OW, int OH, int W, int H,
                const ct_segment_info *info, const double *share, int n_cached, const double t[5], ct_error *err) {
    out_file f;
    if (!out_open(&f, path, 1, err)) return 0;
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
    out_printf(&f, "             \"eps\": %g, \"min_samples\": %d, \"cls_reweight\": %s,\n", (double)info->eps, info->min_samples,
               sp->cls_reweight ? "true" : "false");
    out_printf(&f, "             \"sc_layers\": [%d, %d, %d, %d], \"res_cls\": %g, \"sc_beta\": %g, \"threads\": %d},\n", sp->sc_layers[0],
               sp->sc_layers[1], sp->sc_layers[2], sp->sc_layers[3], (double)sp->sc_res_cls, (double)sp->sc_beta, info->n_threads);
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
    return out_commit(&f, err);
}

typedef struct {
    const char *dir;
    int ok;
    ct_error *err;
} dumper;

/* <dir>/<name>.npy of a float (or int32) array of up to three dimensions (0: unused) */
static void dump(dumper *d, const char *name, const void *data, int is_int, int nd, int64_t d0, int64_t d1, int64_t d2) {
    if (!d->ok || !data) return;
    char *file = xasprintf("%s.npy", name), *p = file ? path_join(d->dir, file) : NULL;
    int64_t sh[3] = {d0, d1, d2};
    if (!p) d->ok = fail_msg(d->err, CT_ERR_NOMEM, "out of memory");
    else if (npy_save(p, data, is_int, nd, sh, d->err)) d->ok = 0;
    free(file);
    free(p);
}

int report_dump(const char *dir, const float *px, int H, int W, const float *emb, const classes *cl, int E, const ct_intermediates *x,
                const ct_segment_info *info, const ct_segment_params *sp, const int32_t *lab, ct_error *err) {
    dumper d = {dir, 1, err};
    int n = cl->n_names, h = info->h, w = info->w, T = 1 + h * w, r = info->upsample_ratio > 0 ? info->upsample_ratio : 4;
    dump(&d, "pixels", px, 0, 3, 3, H, W);
    dump(&d, "text_features", emb, 0, 2, n, E, 0);
    dump(&d, "name_label", cl->label, 1, 1, n, 0, 0);
    dump(&d, "image_embedding", x->image_embedding, 0, 1, E, 0, 0);
    if (!sp->slide_crop) dump(&d, "img_tokens", x->img_tokens, 0, 2, x->img_tokens_rows ? x->img_tokens_rows : T, E, 0);
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
    dump(&d, "outliers", x->outliers, 1, 3, x->n_windows, x->win_h, x->win_w);
    dump(&d, "pred", lab, 1, 2, H, W, 0);
    return d.ok;
}
