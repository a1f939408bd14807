/* The registry of heads (head.h): one line per head, indexed by its ct_head value; and the public
 * functions that read it (name, parse, default parameters, presets). */
#include "heads/head.h"

#include <math.h>
#include <string.h>

/* the descriptors, one per file lib/heads/<name>.c */
extern const ct_head_desc ct_head_cliptrase, ct_head_clip, ct_head_maskclip, ct_head_sclip, ct_head_clearclip, ct_head_naclip;
extern const ct_head_desc ct_head_scclip, ct_head_proxyclip;

static const ct_head_desc *const k_heads[] = {
    [CT_HEAD_CLIPTRASE] = &ct_head_cliptrase,
    [CT_HEAD_CLIP] = &ct_head_clip,
    [CT_HEAD_MASKCLIP] = &ct_head_maskclip,
    [CT_HEAD_SCLIP] = &ct_head_sclip,
    [CT_HEAD_CLEARCLIP] = &ct_head_clearclip,
    [CT_HEAD_NACLIP] = &ct_head_naclip,
    [CT_HEAD_SCCLIP] = &ct_head_scclip,
    [CT_HEAD_PROXYCLIP] = &ct_head_proxyclip,
};

/* a head value without its line makes the table shorter (the last value) or leaves a NULL in it
 * (ct_heads_registry_ok, tested) */
_Static_assert(sizeof k_heads / sizeof *k_heads == CT_HEAD_COUNT, "lib/heads/registry.c: one line per ct_head value");

const ct_head_desc *ct_head_get(ct_head h) { return (unsigned)h < CT_HEAD_COUNT ? k_heads[h] : NULL; }

int ct_heads_registry_ok(void) {
    for (int i = 0; i < CT_HEAD_COUNT; i++)
        if (!k_heads[i] || k_heads[i]->id != (ct_head)i || !k_heads[i]->name || !k_heads[i]->preset ||
            (k_heads[i]->needs_proxy ? !k_heads[i]->proxy_block || !k_heads[i]->proxy_scratch || k_heads[i]->attn || k_heads[i]->last_block
                                     : !k_heads[i]->attn == !k_heads[i]->last_block) ||
            (unsigned)k_heads[i]->post >= CT_POST_COUNT || (k_heads[i]->post == CT_POST_VOTE && !k_heads[i]->needs_corr))
            return 0;
    return 1;
}

const char *ct_head_name(ct_head h) { return (unsigned)h < CT_HEAD_COUNT ? k_heads[h]->name : "unknown"; }

ct_status ct_head_parse(const char *name, ct_head *out, ct_error *err) {
    if (!name || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_head_parse: NULL argument");
    char list[256] = "";
    size_t n = 0;
    for (int i = 0; i < CT_HEAD_COUNT; i++) {
        if (!strcmp(name, k_heads[i]->name)) {
            *out = (ct_head)i;
            return ct_ok(err);
        }
        size_t l = strlen(k_heads[i]->name);
        if (n + l + 3 < sizeof list) {
            if (n) { memcpy(list + n, ", ", 2); n += 2; }
            memcpy(list + n, k_heads[i]->name, l + 1);
            n += l;
        }
    }
    return ct_fail(err, CT_ERR_INVALID_ARG, "unknown head '%.64s' (%s)", name, list);
}

void ct_segment_params_default(ct_segment_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->head = CT_HEAD_CLIPTRASE;
    p->gaussian_std = 5.f;
    p->n_pamr_dilations = 2;
    p->pamr_dilations[0] = 8;
    p->pamr_dilations[1] = 16;
    p->sc_res_cls = -1.f;
    p->sc_beta = 0.4f;
    p->proxy_beta = 1.2f;
    p->proxy_gamma = 3.f;
}

/* The presets the references publish for ViT-B/16 (their segmentors' defaults and base configs;
 * each head's file, docs/heads.md). prob_thd and area_thd are per dataset: 0 here. */
void ct_segment_params_preset(ct_segment_params *p, ct_head head) {
    if (!p) return;
    ct_segment_params_default(p);
    p->head = head;
    const ct_head_desc *d = ct_head_get(head);
    if (d) d->preset(p);
}

void ct_segment_params_preset_for(ct_segment_params *p, ct_head head, const ct_model *m) {
    ct_segment_params_preset(p, head);
    const ct_config *c = m ? ct_model_config(m) : NULL;
    /* larger native inputs only: a model below 224 (a test model) keeps the references' windows,
     * which then cover its whole (small) input as they do for ViT-B/16 */
    if (!p || !c || p->slide_crop <= 0 || c->image_size <= 224 || c->patch <= 0) return;
    long w = lround((double)p->slide_crop * c->image_size / 224.0 / c->patch) * c->patch;
    if (w < c->patch) w = c->patch;
    if (w > 8192) w = 8192 / c->patch * c->patch;
    p->slide_crop = (int)w;
    p->slide_stride = (int)(w / 2 > 0 ? w / 2 : 1);
}
