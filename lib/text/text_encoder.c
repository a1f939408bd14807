/* CLIP text encoder and the reference's class embeddings (prompt ensembling).
 * A causal model's end-of-text output depends only on the tokens up to it, so each prompt is cut
 * at its end-of-text token and all prompts of a batch are packed back to back: the linear layers
 * then run as a few large products over every real token and no padding is computed. One
 * workspace, sized for the largest batch, serves every batch of a call. */
#include "core/arena.h"
#include "model/model.h"
#include "nn/attention.h"
#include "nn/ops.h"
#include "nn/transformer.h"
#include "text/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CT_TEXT_BATCH_ROWS 8192 /* token rows per forward batch: bounds activation memory */

typedef struct {
    int R, n;               /* largest batch: token rows, sequences */
    size_t x, tf, eot, start, scratch, gemm;
    ct_arena a;
} text_layout;

static void text_lay_out(const ct_model *m, int R, int n, int nth, text_layout *t) {
    const ct_config *c = &m->cfg;
    int D = c->text_width, M = m->text_mlp;
    memset(t, 0, sizeof *t);
    t->R = R;
    t->n = n;
    size_t g = ct_tf_gemm_bytes(m->kernel, R, D, M), g2 = ct_gemm_workspace(m->kernel, n, c->embed_dim, D, 0);
    t->x = ct_arena_add_floats(&t->a, (size_t)R * D);
    t->tf = ct_arena_add_floats(&t->a, ct_tf_floats(R, D, M));
    t->eot = ct_arena_add_floats(&t->a, (size_t)n * D);
    t->start = ct_arena_add(&t->a, sizeof(int) * ((size_t)n + 1));
    t->scratch = ct_arena_add_floats(&t->a, (size_t)nth * (size_t)c->context_length);
    t->gemm = ct_arena_add(&t->a, g > g2 ? g : g2);
}

/* n sequences of tokens [n x ctx] with lengths len[]; out [n x E]. */
static int encode_packed(const ct_model *m, const ct_nn *nn0, void *block, const text_layout *lo, const int32_t *tokens, int n,
                         const int *len, float *out) {
    const ct_config *c = &m->cfg;
    int D = c->text_width, ctx = c->context_length, M = m->text_mlp;
    int *start = CT_AT(block, lo->start, int);
    float *x = CT_AT(block, lo->x, float), *eot = CT_AT(block, lo->eot, float);
    int R = 0;
    for (int i = 0; i < n; i++) { start[i] = R; R += len[i]; }
    ct_nn nn = *nn0;
    nn.ws = CT_AT(block, lo->gemm, char);
    nn.ws_bytes = lo->a.size - lo->gemm;
    for (int i = 0; i < n; i++)
        for (int t = 0; t < len[i]; t++) {
            const float *te = m->tok_emb + (size_t)tokens[(size_t)i * ctx + t] * D, *pe = m->tpos + (size_t)t * D;
            float *dst = x + (size_t)(start[i] + t) * D;
            for (int e = 0; e < D; e++) dst[e] = te[e] + pe[e];
        }
    ct_tf tf;
    ct_tf_bind(&tf, ct_model_linear_fn, m, &nn, R, D, M, CT_AT(block, lo->tf, float));
    ct_tf_tower(&tf, c->text_act, c->text_ln_eps);
    int ok = 1;
    for (int l = 0; l < c->text_layers && ok; l++) {
        const ct_block *b = &m->tblocks[l];
        ok = ct_tf_qkv(&tf, b, x);
        if (!ok) break;
        ct_attention_causal_packed(&nn.ex, tf.qkv, start, len, n, ctx, D, c->text_heads, CT_AT(block, lo->scratch, float), tf.att);
        ok = ct_tf_out(&tf, b, tf.att, R, x, 1) && ct_tf_mlp(&tf, b, x, R);
    }
    if (!ok) return 0;
    for (int i = 0; i < n; i++) memcpy(eot + (size_t)i * D, x + (size_t)(start[i] + len[i] - 1) * D, sizeof(float) * D);
    ct_layernorm_eps(&nn.ex, n, D, eot, D, m->ln_final_w, m->ln_final_b, eot, D, c->text_ln_eps);
    return ct_model_linear(m, &nn, n, eot, D, &m->tproj, NULL, out, c->embed_dim);
}

static ct_status encode_tokens_threads(const ct_model *m, const int32_t *tokens, int n, int n_threads, float *out, ct_error *err) {
    if (!m || (!tokens && n > 0) || (!out && n > 0) || n < 0) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_encode_tokens: bad argument");
    if (n == 0) return ct_ok(err);
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
                return ct_fail(err, CT_ERR_INVALID_ARG,
                               "token id %d at sequence %d position %d is outside the model's vocabulary [0, %d): the model and the "
                               "tokenizer's vocabulary disagree",
                               row[t], i, t, c->vocab_size);
            }
            if (row[t] > row[am]) am = t; /* the reference pools at argmax (the end-of-text id) */
        }
        len[i] = am + 1;
    }
    /* batches of whole sequences up to CT_TEXT_BATCH_ROWS rows; the workspace fits the largest */
    int maxR = 0, maxn = 0;
    for (int i0 = 0; i0 < n;) {
        int rows = 0, i1 = i0;
        while (i1 < n && (i1 == i0 || rows + len[i1] <= CT_TEXT_BATCH_ROWS)) rows += len[i1++];
        if (rows > maxR) maxR = rows;
        if (i1 - i0 > maxn) maxn = i1 - i0;
        i0 = i1;
    }
    ct_nn nn = ct_model_nn(m, n_threads);
    text_layout lo;
    text_lay_out(m, maxR, maxn, nn.ex.nth, &lo);
    void *block = lo.a.size == SIZE_MAX ? NULL : ct_model_ws_get(m, lo.a.size);
    if (!block) {
        free(len);
        return ct_fail(err, CT_ERR_NOMEM, "out of memory for %d text rows", maxR);
    }
    int ok = 1;
    for (int i0 = 0; i0 < n && ok;) {
        int rows = 0, i1 = i0;
        while (i1 < n && (i1 == i0 || rows + len[i1] <= CT_TEXT_BATCH_ROWS)) rows += len[i1++];
        ok = encode_packed(m, &nn, block, &lo, tokens + (size_t)i0 * ctx, i1 - i0, len + i0, out + (size_t)i0 * c->embed_dim);
        i0 = i1;
    }
    ct_model_ws_put(m, block, lo.a.size);
    free(len);
    if (!ok) return ct_fail(err, CT_ERR_NOMEM, "out of memory in the text encoder");
    for (size_t i = 0; i < (size_t)n * c->embed_dim; i++)
        if (!isfinite(out[i]))
            return ct_fail(err, CT_ERR_NONFINITE, "the text encoder produced non-finite values: the model's weights hold NaN or Inf "
                                                  "(load with check_finite to find the tensor)");
    return ct_ok(err);
}

ct_status ct_encode_tokens(const ct_model *m, const int32_t *tokens, int n, float *out, ct_error *err) {
    if (!m || n <= 0) return encode_tokens_threads(m, tokens, n, 0, out, err);
    /* encoded aside and copied once checked: a failure (a later batch out of memory, non-finite
     * features) leaves out untouched */
    size_t count = (size_t)n * (size_t)m->cfg.embed_dim;
    float *tmp = ct_alloc(count, sizeof(float));
    if (!tmp) return ct_fail(err, CT_ERR_NOMEM, "out of memory for %d text features", n);
    ct_status st = encode_tokens_threads(m, tokens, n, 0, tmp, err);
    if (!st && out) memcpy(out, tmp, count * sizeof(float));
    free(tmp);
    return st;
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
    ct_status st0 = ct_check_threads(n_threads, err);
    if (st0) return st0;
    if (!templates) templates = ct_default_templates(&n_templates);
    if (n_templates <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_class_embeddings: no templates");
    for (int i = 0; i < n_names; i++)
        if (!names[i]) return ct_fail(err, CT_ERR_INVALID_ARG, "class name %d is NULL", i);
    for (int t = 0; t < n_templates; t++)
        if (!templates[t]) return ct_fail(err, CT_ERR_INVALID_ARG, "template %d is NULL", t);
    const ct_config *c = &m->cfg;
    int ctx = c->context_length, E = c->embed_dim;
    if (ct_tokenizer_vocab_size(tok) > c->vocab_size)
        return ct_fail(err, CT_ERR_INVALID_ARG,
                       "the model and the vocabulary disagree: the tokenizer has %d tokens (ids up to %d), the model's token "
                       "embedding only %d",
                       ct_tokenizer_vocab_size(tok), ct_tokenizer_vocab_size(tok) - 1, c->vocab_size);
    /* names per batch so that a batch holds about 2,048 prompts */
    int per = 2048 / n_templates;
    if (per < 1) per = 1;
    size_t np = (size_t)per * n_templates;
    int32_t *tokens = ct_alloc(np * ctx, sizeof(int32_t)); /* [per*n_templates x ctx] */
    float *feat = ct_alloc(np * E, sizeof(float));          /* [per*n_templates x E] */
    float *res = ct_alloc((size_t)n_names * E, sizeof(float));
    ct_bpe_memo *memo = ct_bpe_memo_new(); /* a name's words are merged once for all templates */
    ct_status st = CT_OK;
    int trunc = 0;
    if (!tokens || !feat || !res || !memo) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
    for (int n0 = 0; n0 < n_names && !st; n0 += per) {
        int nn = n_names - n0 < per ? n_names - n0 : per;
        for (int i = 0; i < nn && !st; i++)
            for (int t = 0; t < n_templates && !st; t++) {
                char *prompt = fill_template(templates[t], names[n0 + i]);
                if (!prompt) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); break; }
                int cut = 0;
                st = ct_tokenize_context_memo(tok, memo, prompt, tokens + ((size_t)i * n_templates + t) * ctx, ctx, &cut, err);
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
    ct_bpe_memo_free(memo);
    free(tokens); free(feat); free(res);
    return st;
}

ct_status ct_class_embeddings(const ct_model *m, const ct_tokenizer *tok, const char *const *names, int n_names,
                              const char *const *templates, int n_templates, int n_threads, float *out, ct_error *err) {
    return ct_class_embeddings_ex(m, tok, names, n_names, templates, n_templates, n_threads, out, NULL, err);
}
