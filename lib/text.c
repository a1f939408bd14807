/* CLIP text encoder and the reference's class embeddings (prompt ensembling).
 * A causal model's end-of-text output depends only on the tokens up to it, so each prompt is cut
 * at its end-of-text token and all prompts of a batch are packed back to back: the linear layers
 * then run as a few large GEMMs over every real token and no padding is computed. */
#include "model.h"
#include "ops.h"
#include "tokenizer.h"
#include "transformer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CT_TEXT_BATCH_ROWS 8192 /* token rows per forward batch: bounds activation memory */

typedef struct {
    const int *start, *len;
    const float *qkv;
    float *att;
    int W, heads, maxlen;
} text_attn_job;

/* causal attention of whole short sequences, written for the compiler (no BLAS inside threads) */
static void text_attn_range(void *arg, int64_t s0, int64_t s1) {
    text_attn_job *j = arg;
    int W = j->W, hd = W / j->heads, ld = 3 * W;
    float scale = 1.f / sqrtf((float)hd);
    float *p = malloc(sizeof(float) * (size_t)j->maxlen);
    if (!p) return; /* cannot happen for maxlen <= context; caller pre-checks memory */
    for (int64_t s = s0; s < s1; s++) {
        const float *base = j->qkv + (size_t)j->start[s] * ld;
        float *ob = j->att + (size_t)j->start[s] * W;
        for (int h = 0; h < j->heads; h++)
            for (int i = 0; i < j->len[s]; i++) {
                const float *q = base + (size_t)i * ld + h * hd;
                float mx = -INFINITY;
                for (int t = 0; t <= i; t++) {
                    const float *k = base + (size_t)t * ld + W + h * hd;
                    float d = 0.f;
                    for (int e = 0; e < hd; e++) d += q[e] * k[e];
                    p[t] = d * scale;
                    mx = p[t] > mx ? p[t] : mx;
                }
                float sum = 0.f;
                for (int t = 0; t <= i; t++) { p[t] = ct_expf(p[t] - mx); sum += p[t]; }
                float inv = 1.f / sum;
                float *o = ob + (size_t)i * W + h * hd;
                for (int e = 0; e < hd; e++) o[e] = 0.f;
                for (int t = 0; t <= i; t++) {
                    const float *v = base + (size_t)t * ld + 2 * W + h * hd;
                    float wt = p[t] * inv;
                    for (int e = 0; e < hd; e++) o[e] += wt * v[e];
                }
            }
    }
    free(p);
}

/* n sequences whose lengths are len[]; tokens [n x ctx]; out [n x E]. */
static ct_status encode_packed(const ct_model *m, const int32_t *tokens, int n, const int *len, int n_threads,
                               float *out, ct_error *err) {
    const ct_config *c = &m->cfg;
    int D = c->text_width, ctx = c->context_length, M = m->text_mlp;
    int *start = ct_alloc((size_t)n + 1, sizeof(int));
    if (!start) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    int R = 0;
    for (int i = 0; i < n; i++) { start[i] = R; R += len[i]; }
    ct_tf_work wk;
    ct_status st = ct_tf_work_alloc(&wk, R, D, M, 1, n_threads, err);
    float *x = ct_alloc((size_t)R * D, sizeof(float));       /* [R x D] */
    float *eot = ct_alloc((size_t)n * D, sizeof(float));     /* [n x D] */
    if (st || !x || !eot) {
        if (!st) st = ct_fail(err, CT_ERR_NOMEM, "out of memory for %d text rows", R);
        goto done;
    }
    for (int i = 0; i < n; i++)
        for (int t = 0; t < len[i]; t++) {
            const float *te = m->tok_emb + (size_t)tokens[(size_t)i * ctx + t] * D, *pe = m->tpos + (size_t)t * D;
            float *dst = x + (size_t)(start[i] + t) * D;
            for (int e = 0; e < D; e++) dst[e] = te[e] + pe[e];
        }
    text_attn_job job = {start, len, wk.qkv, wk.att, D, c->text_heads, ctx};
    for (int l = 0; l < c->text_layers; l++) {
        const ct_block *b = &m->tblocks[l];
        ct_tf_qkv(b, R, D, x, &wk);
        ct_parallel_for(n_threads, n, text_attn_range, &job);
        ct_tf_finish(b, 0, R, D, M, x, &wk);
    }
    for (int i = 0; i < n; i++) memcpy(eot + (size_t)i * D, x + (size_t)(start[i] + len[i] - 1) * D, sizeof(float) * D);
    ct_layernorm(n, D, eot, m->ln_final_w, m->ln_final_b, eot, n_threads);
    if (m->tproj_t) ct_gemm(0, 1, n, c->embed_dim, D, 1.f, eot, D, m->tproj, D, 0.f, out, c->embed_dim, n_threads);
    else ct_gemm(0, 0, n, c->embed_dim, D, 1.f, eot, D, m->tproj, c->embed_dim, 0.f, out, c->embed_dim, n_threads);
    st = ct_ok(err);
done:
    free(start); free(x); free(eot);
    ct_tf_work_free(&wk);
    return st;
}

static ct_status encode_tokens_threads(const ct_model *m, const int32_t *tokens, int n, int n_threads, float *out, ct_error *err) {
    if (!m || (!tokens && n > 0) || (!out && n > 0) || n < 0) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_encode_tokens: bad argument");
    const ct_config *c = &m->cfg;
    int ctx = c->context_length;
    int *len = ct_alloc((size_t)n + 1, sizeof(int));
    if (!len) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const int32_t *row = tokens + (size_t)i * ctx;
        int am = 0;
        for (int t = 0; t < ctx; t++) {
            if (row[t] < 0 || row[t] >= c->vocab_size) {
                free(len);
                return ct_fail(err, CT_ERR_INVALID_ARG, "token id %d at sequence %d position %d is outside the vocabulary [0, %d)", row[t], i, t, c->vocab_size);
            }
            if (row[t] > row[am]) am = t; /* the reference pools at argmax (the end-of-text id) */
        }
        len[i] = am + 1;
    }
    ct_status st = CT_OK;
    for (int i0 = 0; i0 < n && !st;) {
        int rows = 0, i1 = i0;
        while (i1 < n && (i1 == i0 || rows + len[i1] <= CT_TEXT_BATCH_ROWS)) rows += len[i1++];
        st = encode_packed(m, tokens + (size_t)i0 * ctx, i1 - i0, len + i0, n_threads, out + (size_t)i0 * c->embed_dim, err);
        i0 = i1;
    }
    free(len);
    return st ? st : ct_ok(err);
}

ct_status ct_encode_tokens(const ct_model *m, const int32_t *tokens, int n, float *out, ct_error *err) {
    return encode_tokens_threads(m, tokens, n, 0, out, err);
}

/* "{}" in the template is replaced by name (every occurrence). Returns malloc'd string. */
static char *fill_template(const char *tpl, const char *name) {
    size_t nl = strlen(name), cnt = 0;
    for (const char *s = tpl; (s = strstr(s, "{}")); s += 2) cnt++;
    size_t tl = strlen(tpl), need;
    if (!ct_mul_ok(cnt, nl, &need) || !ct_add_ok(need, tl + 1, &need)) return NULL;
    char *o = malloc(need), *d = o;
    if (!o) return NULL;
    for (const char *s = tpl; *s;) {
        if (s[0] == '{' && s[1] == '}') { memcpy(d, name, nl); d += nl; s += 2; }
        else *d++ = *s++;
    }
    *d = 0;
    return o;
}

ct_status ct_class_embeddings_ex(const ct_model *m, const ct_tokenizer *tok, const char *const *names, int n_names,
                                 const char *const *templates, int n_templates, int n_threads, float *out,
                                 int *n_truncated, ct_error *err) {
    if (!m || !tok || !out || (!names && n_names > 0)) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_class_embeddings: NULL argument");
    if (n_names <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_class_embeddings: no class names");
    if (!templates) templates = ct_default_templates(&n_templates);
    if (n_templates <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_class_embeddings: no templates");
    for (int i = 0; i < n_names; i++)
        if (!names[i]) return ct_fail(err, CT_ERR_INVALID_ARG, "class name %d is NULL", i);
    for (int t = 0; t < n_templates; t++)
        if (!templates[t]) return ct_fail(err, CT_ERR_INVALID_ARG, "template %d is NULL", t);
    const ct_config *c = &m->cfg;
    int ctx = c->context_length, E = c->embed_dim;
    /* names per batch so that a batch holds about 2,048 prompts */
    int per = 2048 / n_templates;
    if (per < 1) per = 1;
    size_t np = (size_t)per * n_templates;
    int32_t *tokens = ct_alloc(np * ctx, sizeof(int32_t)); /* [per*n_templates x ctx] */
    float *feat = ct_alloc(np * E, sizeof(float));          /* [per*n_templates x E] */
    float *res = ct_alloc((size_t)n_names * E, sizeof(float));
    ct_status st = CT_OK;
    int trunc = 0;
    if (!tokens || !feat || !res) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
    for (int n0 = 0; n0 < n_names && !st; n0 += per) {
        int nn = n_names - n0 < per ? n_names - n0 : per;
        for (int i = 0; i < nn && !st; i++)
            for (int t = 0; t < n_templates && !st; t++) {
                char *prompt = fill_template(templates[t], names[n0 + i]);
                if (!prompt) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); break; }
                int cut = 0;
                st = ct_tokenize_context(tok, prompt, tokens + ((size_t)i * n_templates + t) * ctx, ctx, &cut, err);
                trunc += cut;
                free(prompt);
            }
        if (st) break;
        st = encode_tokens_threads(m, tokens, nn * n_templates, n_threads, feat, err);
        if (st) break;
        ct_l2norm_rows(nn * n_templates, E, feat);
        for (int i = 0; i < nn; i++) {
            float *dst = res + (size_t)(n0 + i) * E;
            for (int e = 0; e < E; e++) {
                double s = 0;
                for (int t = 0; t < n_templates; t++) s += feat[((size_t)i * n_templates + t) * E + e];
                dst[e] = (float)(s / n_templates);
            }
            ct_l2norm_rows(1, E, dst);
        }
    }
    if (!st) {
        memcpy(out, res, sizeof(float) * (size_t)n_names * E);
        if (n_truncated) *n_truncated = trunc;
        st = ct_ok(err);
    }
done:
    free(tokens); free(feat); free(res);
    return st;
}

ct_status ct_class_embeddings(const ct_model *m, const ct_tokenizer *tok, const char *const *names, int n_names,
                              const char *const *templates, int n_templates, int n_threads, float *out, ct_error *err) {
    return ct_class_embeddings_ex(m, tok, names, n_names, templates, n_templates, n_threads, out, NULL, err);
}
