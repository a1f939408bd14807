/* CLIP tokenizer: vocabulary loading (OpenAI .txt.gz or Hugging Face vocab.json + merges.txt),
 * byte-level BPE by merge rank with "</w>" word ends, context encoding and decoding. */
#include "text/tokenizer.h"

#include "core/grow.h"
#include "core/utf8.h"
#include "io/file.h"
#include "io/json.h"
#include "io/stb_impl.h"
#include "text/textclean.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_MAX_VOCAB_FILE (256u * 1024u * 1024u)

/* ------------------------------------------------------------- byte alphabet */

/* GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n in order */
static uint32_t byte_cp(uint8_t b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    uint32_t n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174)) n++;
    return 256 + n;
}

void ct_byte_to_unicode(uint8_t b, char out[3]) {
    size_t n = ct_utf8_put(byte_cp(b), out);
    out[n] = 0;
}

/* the reference's vocabulary order of the 256 byte symbols */
static void byte_order(uint8_t order[256]) {
    int k = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) order[k++] = (uint8_t)b;
    for (int b = 0; b < 256; b++)
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) order[k++] = (uint8_t)b;
}

/* ------------------------------------------------------------- hashing */

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}
static uint64_t mix(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}

static int32_t vmap_get(const ct_tokenizer *t, const char *s) {
    size_t m = t->vmap_cap - 1;
    for (size_t i = fnv(s) & m;; i = (i + 1) & m) {
        if (!t->vmap[i].key) return -1;
        if (!strcmp(t->vmap[i].key, s)) return t->vmap[i].id;
    }
}

static const ct_pair_slot *pmap_get(const ct_tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t m = t->pmap_cap - 1;
    for (size_t i = mix(key) & m;; i = (i + 1) & m) {
        if (t->pmap[i].key == UINT64_MAX) return NULL;
        if (t->pmap[i].key == key) return &t->pmap[i];
    }
}

static size_t pow2_above(size_t n) {
    size_t c = 16;
    while (c < n * 2) c *= 2;
    return c;
}

void ct_tokenizer_free(ct_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_vocab; i++) {
        if (t->tok) free(t->tok[i]);
        if (t->raw) free(t->raw[i]);
    }
    free(t->tok); free(t->raw); free(t->raw_len); free(t->eow);
    free(t->vmap); free(t->pmap);
    free(t);
}

int ct_tokenizer_vocab_size(const ct_tokenizer *t) { return t ? t->n_vocab : 0; }

/* decode one token string of the byte alphabet back to bytes; false if a char is not in it */
static bool unmap_token(const char *s, uint8_t **out, size_t *len, uint8_t *eow) {
    size_t sl = strlen(s);
    *eow = sl >= 4 && !strcmp(s + sl - 4, "</w>");
    if (*eow) sl -= 4;
    ct_u32buf cps = {0};
    if (!ct_utf8_decode(s, sl, &cps)) return false;
    uint8_t *r = malloc(cps.n + 1);
    if (!r) { ct_u32_free(&cps); return false; }
    bool ok = true;
    for (size_t i = 0; i < cps.n && ok; i++) {
        uint32_t c = cps.cp[i];
        int found = -1;
        if (c < 256 && byte_cp((uint8_t)c) == c) found = (int)c;
        else if (c >= 256 && c < 256 + 68)
            for (int b = 0; b < 256; b++) if (byte_cp((uint8_t)b) == c) { found = b; break; }
        if (found < 0) ok = false;
        else r[i] = (uint8_t)found;
    }
    *len = cps.n;
    ct_u32_free(&cps);
    if (!ok) { free(r); return false; }
    *out = r;
    return true;
}

/* t->tok[0..n_vocab) must be set. Builds the vocabulary hash and byte tables. */
static ct_status build_vocab(ct_tokenizer *t, ct_error *err) {
    t->vmap_cap = pow2_above((size_t)t->n_vocab);
    t->vmap = ct_calloc(t->vmap_cap, sizeof *t->vmap);
    t->raw = ct_calloc((size_t)t->n_vocab, sizeof *t->raw);
    t->raw_len = ct_calloc((size_t)t->n_vocab, sizeof *t->raw_len);
    t->eow = ct_calloc((size_t)t->n_vocab, 1);
    if (!t->vmap || !t->raw || !t->raw_len || !t->eow) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    size_t m = t->vmap_cap - 1;
    for (int id = 0; id < t->n_vocab; id++) {
        const char *s = t->tok[id];
        size_t i = fnv(s) & m;
        for (; t->vmap[i].key; i = (i + 1) & m)
            if (!strcmp(t->vmap[i].key, s)) return ct_fail(err, CT_ERR_FORMAT, "vocabulary: token '%.40s' appears twice (ids %d and %d)", s, t->vmap[i].id, id);
        t->vmap[i].key = s;
        t->vmap[i].id = id;
        if (!strcmp(s, "<|startoftext|>") || !strcmp(s, "<|endoftext|>")) {
            t->raw[id] = malloc(1);
            if (!t->raw[id]) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
            t->raw_len[id] = 0;
            continue;
        }
        if (!unmap_token(s, &t->raw[id], &t->raw_len[id], &t->eow[id]))
            return ct_fail(err, CT_ERR_FORMAT, "vocabulary: token %d ('%.40s') is not in the byte-level alphabet", id, s);
    }
    for (int b = 0; b < 256; b++) {
        char u[3], w[8];
        ct_byte_to_unicode((uint8_t)b, u);
        snprintf(w, sizeof w, "%s</w>", u);
        t->byte_id[b] = vmap_get(t, u);
        t->byte_eow[b] = vmap_get(t, w);
        if (t->byte_id[b] < 0 || t->byte_eow[b] < 0)
            return ct_fail(err, CT_ERR_FORMAT, "vocabulary lacks the byte symbol for 0x%02x", b);
    }
    t->sot = vmap_get(t, "<|startoftext|>");
    t->eot = vmap_get(t, "<|endoftext|>");
    if (t->sot < 0 || t->eot < 0) return ct_fail(err, CT_ERR_FORMAT, "vocabulary lacks <|startoftext|> or <|endoftext|>");
    return CT_OK;
}

/* merges: lines "a b"; builds the pair hash. line_no0 is the file line of merges[0] (for errors). */
static ct_status build_merges(ct_tokenizer *t, char **lines, int n, int line_no0, ct_error *err) {
    t->pmap_cap = pow2_above((size_t)n);
    t->pmap = ct_alloc(t->pmap_cap, sizeof *t->pmap);
    if (!t->pmap) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < t->pmap_cap; i++) t->pmap[i].key = UINT64_MAX;
    size_t m = t->pmap_cap - 1;
    char buf[512];
    for (int r = 0; r < n; r++) {
        const char *ln = lines[r];
        const char *sp = strchr(ln, ' ');
        if (!sp || sp == ln || !sp[1] || strchr(sp + 1, ' '))
            return ct_fail(err, CT_ERR_FORMAT, "merges line %d is not two space-separated symbols: '%.60s'", line_no0 + r, ln);
        size_t la = (size_t)(sp - ln), lb = strlen(sp + 1);
        if (la + lb + 1 > sizeof buf) return ct_fail(err, CT_ERR_FORMAT, "merges line %d is too long", line_no0 + r);
        memcpy(buf, ln, la);
        buf[la] = 0;
        int32_t a = vmap_get(t, buf);
        int32_t b = vmap_get(t, sp + 1);
        memcpy(buf + la, sp + 1, lb + 1);
        int32_t ab = vmap_get(t, buf);
        if (a < 0 || b < 0 || ab < 0)
            return ct_fail(err, CT_ERR_FORMAT, "merges line %d ('%.60s') uses a symbol missing from the vocabulary", line_no0 + r, ln);
        uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
        size_t i = mix(key) & m;
        for (; t->pmap[i].key != UINT64_MAX; i = (i + 1) & m)
            if (t->pmap[i].key == key) break;
        if (t->pmap[i].key == key) continue; /* a repeated merge keeps its first (lowest) rank */
        t->pmap[i].key = key;
        t->pmap[i].rank = r;
        t->pmap[i].merged = ab;
    }
    t->n_merges = n;
    return CT_OK;
}

/* ------------------------------------------------------------- file reading */

/* RFC 1952 member: header, raw DEFLATE, CRC-32 and size trailer (both checked) */
static ct_status gunzip(const char *path, const uint8_t *in, size_t len, uint8_t **out, size_t *out_len, ct_error *err) {
    if (len < 18 || in[2] != 8) return ct_fail(err, CT_ERR_FORMAT, "'%s': truncated or not a deflate gzip file", path);
    uint8_t flg = in[3];
    size_t p = 10;
    if (flg & 4) {
        if (p + 2 > len) goto trunc;
        size_t xl = in[p] | (in[p + 1] << 8);
        p += 2 + xl;
    }
    if (flg & 8) { while (p < len && in[p]) p++; p++; }
    if (flg & 16) { while (p < len && in[p]) p++; p++; }
    if (flg & 2) p += 2;
    if (p + 8 > len) goto trunc;
    const uint8_t *tr = in + len - 8;
    uint32_t crc = (uint32_t)tr[0] | ((uint32_t)tr[1] << 8) | ((uint32_t)tr[2] << 16) | ((uint32_t)tr[3] << 24);
    uint32_t isz = (uint32_t)tr[4] | ((uint32_t)tr[5] << 8) | ((uint32_t)tr[6] << 16) | ((uint32_t)tr[7] << 24);
    /* the trailer announces the size: inflate into exactly that (a longer stream is refused) */
    if (isz > CT_MAX_VOCAB_FILE)
        return ct_fail(err, CT_ERR_FORMAT, "'%s': corrupt or truncated gzip file (its trailer announces %u bytes, above the %u-byte limit)",
                       path, isz, CT_MAX_VOCAB_FILE);
    uint8_t *d = malloc((size_t)isz + 1);
    if (!d) return ct_fail(err, CT_ERR_NOMEM, "out of memory reading '%s'", path);
    long got = ct_zlib_decode(in + p, len - p - 8, 0, d, isz);
    size_t n = got < 0 ? 0 : (size_t)got;
    if (got < 0 || n != isz || ct_crc32(0, d, n) != crc) {
        free(d);
        return ct_fail(err, CT_ERR_FORMAT, "'%s': corrupt or truncated gzip data (size or checksum mismatch)", path);
    }
    *out = d;
    *out_len = n;
    return CT_OK;
trunc:
    return ct_fail(err, CT_ERR_FORMAT, "'%s': truncated gzip header", path);
}

/* split text into lines (in place); strips '\r'. Returns malloc'd array of pointers. */
static char **split_lines(char *s, size_t len, int *n_out) {
    size_t cap = 0, n = 0;
    char **v = NULL;
    size_t i = 0;
    while (i < len && n < (1u << 24)) {
        size_t e = i;
        while (e < len && s[e] != '\n') e++;
        size_t le = e;
        if (le > i && s[le - 1] == '\r') le--;
        s[le] = 0;
        char **nv = ct_grow(v, &cap, n + 1, sizeof *nv);
        if (!nv) { free(v); return NULL; }
        v = nv;
        v[n++] = s + i;
        i = e + 1;
    }
    if (!v) v = malloc(sizeof *v);
    *n_out = (int)n;
    return v;
}

/* the whole text valid UTF-8 without NUL bytes; the message gives the line of a fault */
static ct_status check_utf8(const char *path, const uint8_t *b, size_t n, ct_error *err) {
    size_t bad = ct_utf8_check(b, n);
    const uint8_t *nul = memchr(b, 0, bad);
    size_t at = nul ? (size_t)(nul - b) : bad;
    if (at == n) return CT_OK;
    size_t line = 1;
    for (size_t i = 0; i < at; i++) line += b[i] == '\n';
    return ct_fail(err, CT_ERR_FORMAT, "'%s': %s at line %zu", path, nul ? "NUL byte" : "invalid UTF-8", line);
}

static ct_status load_openai(const char *path, uint8_t *buf, size_t len, ct_tokenizer *t, ct_error *err) {
    uint8_t *text = buf;
    size_t tl = len;
    ct_status st;
    if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        st = gunzip(path, buf, len, &text, &tl, err);
        if (st) return st;
    } else {
        text = malloc(len + 1);
        if (!text) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
        memcpy(text, buf, len);
    }
    st = check_utf8(path, text, tl, err);
    int nl = 0;
    char **lines = st ? NULL : split_lines((char *)text, tl, &nl);
    if (!st && !lines) st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
    if (!st && nl - 1 < CT_OPENAI_MERGES)
        st = ct_fail(err, CT_ERR_FORMAT, "'%s': %d merge lines, the CLIP vocabulary needs %d (truncated file?)", path, nl > 0 ? nl - 1 : 0, CT_OPENAI_MERGES);
    if (!st) {
        /* vocabulary: 256 bytes, 256 bytes + </w>, one token per merge, two special tokens */
        int nv = 512 + CT_OPENAI_MERGES + 2;
        t->tok = ct_calloc((size_t)nv, sizeof(char *));
        if (!t->tok) st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
        else {
            t->n_vocab = nv;
            uint8_t order[256];
            byte_order(order);
            for (int i = 0; i < 256 && !st; i++) {
                char u[3], w[8];
                ct_byte_to_unicode(order[i], u);
                snprintf(w, sizeof w, "%s</w>", u);
                t->tok[i] = strdup(u);
                t->tok[256 + i] = strdup(w);
                if (!t->tok[i] || !t->tok[256 + i]) st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
            }
            for (int r = 0; r < CT_OPENAI_MERGES && !st; r++) {
                const char *ln = lines[1 + r], *sp = strchr(ln, ' ');
                if (!sp || sp == ln || !sp[1] || strchr(sp + 1, ' ')) {
                    st = ct_fail(err, CT_ERR_FORMAT, "'%s': merges line %d is not two space-separated symbols", path, 2 + r);
                    break;
                }
                size_t la = (size_t)(sp - ln), lb = strlen(sp + 1);
                char *s = malloc(la + lb + 1);
                if (!s) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); break; }
                memcpy(s, ln, la);
                memcpy(s + la, sp + 1, lb + 1);
                t->tok[512 + r] = s;
            }
            if (!st) {
                t->tok[nv - 2] = strdup("<|startoftext|>");
                t->tok[nv - 1] = strdup("<|endoftext|>");
                if (!t->tok[nv - 2] || !t->tok[nv - 1]) st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
            }
            if (!st) st = build_vocab(t, err);
            if (!st) st = build_merges(t, lines + 1, CT_OPENAI_MERGES, 2, err);
        }
    }
    free(lines);
    free(text);
    return st;
}

ct_status ct_tokenizer_load_hf(const char *vocab_json, const char *merges_txt, ct_tokenizer **out, ct_error *err) {
    if (!vocab_json || !merges_txt || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_tokenizer_load_hf: NULL argument");
    ct_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    uint8_t *vb = NULL, *mb = NULL;
    size_t vl = 0, ml = 0;
    char **lines = NULL;
    ct_json *j = NULL;
    ct_status st = ct_read_file(vocab_json, CT_MAX_VOCAB_FILE, &vb, &vl, err);
    if (!st) st = ct_read_file(merges_txt, CT_MAX_VOCAB_FILE, &mb, &ml, err);
    if (!st) st = check_utf8(merges_txt, mb, ml, err);
    if (!st) {
        char jerr[160];
        j = ct_json_parse((const char *)vb, vl, jerr, sizeof jerr);
        if (!j) st = ct_fail(err, CT_ERR_FORMAT, "'%s': %s", vocab_json, jerr);
        else if (j->type != CT_JSON_OBJ || j->n == 0) st = ct_fail(err, CT_ERR_FORMAT, "'%s': not a JSON object of token ids", vocab_json);
    }
    if (!st) {
        int nv = (int)(j->n > (1u << 22) ? (1u << 22) : j->n);
        t->tok = ct_calloc((size_t)nv, sizeof(char *));
        if (!t->tok) st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
        else t->n_vocab = nv;
        for (size_t i = 0; i < j->n && !st; i++) {
            const ct_json *v = &j->items[i];
            if (v->type != CT_JSON_NUM || !v->is_int || v->i < 0 || v->i >= nv)
                st = ct_fail(err, CT_ERR_FORMAT, "'%s': id of '%.40s' is not an integer in [0, %d)", vocab_json, j->keys[i], nv);
            else if (t->tok[v->i])
                st = ct_fail(err, CT_ERR_FORMAT, "'%s': id %lld is used twice", vocab_json, (long long)v->i);
            else if (strlen(j->keys[i]) != j->key_lens[i] || j->key_lens[i] == 0)
                st = ct_fail(err, CT_ERR_FORMAT, "'%s': empty or NUL-containing token", vocab_json);
            else {
                t->tok[v->i] = strdup(j->keys[i]);
                if (!t->tok[v->i]) st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
            }
        }
    }
    if (!st) st = build_vocab(t, err);
    if (!st) {
        int nl = 0;
        lines = split_lines((char *)mb, ml, &nl);
        if (!lines) st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
        else {
            int first = (nl > 0 && !strncmp(lines[0], "#version", 8)) ? 1 : 0;
            int n = nl - first;
            while (n > 0 && lines[first + n - 1][0] == 0) n--; /* trailing empty lines */
            if (n <= 0) st = ct_fail(err, CT_ERR_FORMAT, "'%s': no merges", merges_txt);
            else st = build_merges(t, lines + first, n, first + 1, err);
        }
    }
    if (st) ct_fail_prefix(err, st, "tokenizer");
    free(lines);
    free(vb);
    free(mb);
    ct_json_free(j);
    if (st) { ct_tokenizer_free(t); return st; }
    *out = t;
    return ct_ok(err);
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

ct_status ct_tokenizer_load(const char *path, ct_tokenizer **out, ct_error *err) {
    if (!path || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_tokenizer_load: NULL argument");
    if (ends_with(path, ".json")) {
        /* merges.txt beside vocab.json */
        const char *slash = strrchr(path, '/');
        size_t dir = slash ? (size_t)(slash - path + 1) : 0;
        char *mp = malloc(dir + 16);
        if (!mp) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
        memcpy(mp, path, dir);
        strcpy(mp + dir, "merges.txt");
        ct_status st = ct_tokenizer_load_hf(path, mp, out, err);
        free(mp);
        return st;
    }
    ct_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    uint8_t *buf = NULL;
    size_t len = 0;
    ct_status st = ct_read_file(path, CT_MAX_VOCAB_FILE, &buf, &len, err);
    if (!st) st = load_openai(path, buf, len, t, err);
    free(buf);
    if (st) {
        if (err && strncmp(err->msg, "tokenizer", 9)) ct_fail_prefix(err, st, "tokenizer");
        ct_tokenizer_free(t);
        return st;
    }
    *out = t;
    return ct_ok(err);
}

/* ------------------------------------------------------------- BPE */

/* The reference (CLIP's SimpleTokenizer.bpe) merges a word in passes: it takes the adjacent pair
 * of the lowest merge rank, merges all its occurrences left to right (an occurrence overlapping
 * one just merged is skipped), and starts again with the pairs of the new word. Rescanning the
 * word each pass is quadratic. Here the symbols form a linked list and the candidate pairs sit in
 * a min-heap keyed by (rank, position); one pass takes every entry of the lowest rank off the
 * heap, in position order, merges those still present, and pushes the pairs the merges create.
 *   - A created pair never has the rank of its pass (one of its symbols is the merged one, which
 *     differs from both halves), so a pass sees exactly the occurrences present when it began.
 *   - An entry is stale when the pair at its position has changed since; the pair at a position
 *     never returns to an earlier value (its symbols only grow), so comparing the rank of the
 *     current pair with the entry's rank recognises it.
 * So the merges are the reference's, in O(n log n) for a word of n bytes. */

typedef struct {
    int32_t *sym, *next, *prev; /* [cap]: symbol (-1 once merged away), neighbours (-1: none) */
    int32_t *batch;             /* [cap] positions of one pass */
    size_t cap;
    uint64_t *heap;             /* (rank << 32) | position */
    size_t nh, hcap;
} bpe_buf;

static void bpe_buf_free(bpe_buf *b) {
    free(b->sym); free(b->next); free(b->prev); free(b->batch); free(b->heap);
    memset(b, 0, sizeof *b);
}

static bool bpe_reserve(bpe_buf *b, size_t n) {
    if (n <= b->cap) return true;
    size_t c = b->cap, c1 = b->cap, c2 = b->cap, c3 = b->cap;
    int32_t *p;
    if (!(p = ct_grow(b->sym, &c, n, sizeof *p))) return false;
    b->sym = p;
    if (!(p = ct_grow(b->next, &c1, n, sizeof *p))) return false;
    b->next = p;
    if (!(p = ct_grow(b->prev, &c2, n, sizeof *p))) return false;
    b->prev = p;
    if (!(p = ct_grow(b->batch, &c3, n, sizeof *p))) return false;
    b->batch = p;
    b->cap = c < c1 ? c : c1;
    if (c2 < b->cap) b->cap = c2;
    if (c3 < b->cap) b->cap = c3;
    return true;
}

static bool heap_push(bpe_buf *b, int32_t rank, int32_t pos) {
    uint64_t *h = ct_grow(b->heap, &b->hcap, b->nh + 1, sizeof *h);
    if (!h) return false;
    b->heap = h;
    uint64_t v = ((uint64_t)(uint32_t)rank << 32) | (uint32_t)pos;
    size_t i = b->nh++;
    while (i) {
        size_t up = (i - 1) / 2;
        if (h[up] <= v) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = v;
    return true;
}

static uint64_t heap_pop(bpe_buf *b) {
    uint64_t *h = b->heap, top = h[0], v = h[--b->nh];
    size_t i = 0, n = b->nh;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = v;
    return top;
}

/* rank of the pair (a, b) and its merged symbol; -1 when the pair is not a merge */
static int32_t pair_rank(const ct_tokenizer *t, int32_t a, int32_t b, int32_t *merged) {
    const ct_pair_slot *p = pmap_get(t, a, b);
    if (!p) return -1;
    if (merged) *merged = p->merged;
    return p->rank;
}

static bool push_pair(const ct_tokenizer *t, bpe_buf *b, int32_t i, int32_t j) {
    int32_t r = pair_rank(t, b->sym[i], b->sym[j], NULL);
    return r < 0 || heap_push(b, r, i);
}

/* b->sym[0..n) are a word's byte symbols; on return b->sym[0..*n_out) are its BPE tokens. */
static bool bpe_word(const ct_tokenizer *t, bpe_buf *b, int32_t n, int32_t *n_out) {
    int32_t *sym = b->sym, *next = b->next, *prev = b->prev;
    b->nh = 0;
    for (int32_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? i + 1 : -1;
        prev[i] = i - 1;
    }
    for (int32_t i = 0; i + 1 < n; i++)
        if (!push_pair(t, b, i, i + 1)) return false;
    while (b->nh) {
        uint32_t rank = (uint32_t)(b->heap[0] >> 32);
        int32_t nb = 0;
        while (b->nh && (uint32_t)(b->heap[0] >> 32) == rank) b->batch[nb++] = (int32_t)(uint32_t)heap_pop(b);
        for (int32_t k = 0; k < nb; k++) {
            int32_t p = b->batch[k], q = next[p], merged = -1;
            if (sym[p] < 0 || q < 0 || pair_rank(t, sym[p], sym[q], &merged) != (int32_t)rank) continue; /* gone or stale */
            sym[p] = merged;
            sym[q] = -1;
            next[p] = next[q];
            if (next[q] >= 0) prev[next[q]] = p;
            if ((prev[p] >= 0 && !push_pair(t, b, prev[p], p)) || (next[p] >= 0 && !push_pair(t, b, p, next[p]))) return false;
        }
    }
    int32_t o = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) sym[o++] = sym[i]; /* node 0 is never merged away */
    *n_out = o;
    return true;
}

/* ------------------------------------------------------------- memo of words */

/* word bytes -> BPE ids, for the prompts of one call (they share most of their words) */
typedef struct {
    uint64_t hash;
    size_t boff, blen, ioff, ilen;
} memo_slot;

struct ct_bpe_memo {
    uint8_t *bytes;
    size_t nbytes, capbytes;
    int32_t *ids;
    size_t nids, capids;
    memo_slot *slot; /* open addressing; blen == 0 marks an empty slot (words are never empty) */
    size_t cap, used;
};

ct_bpe_memo *ct_bpe_memo_new(void) { return calloc(1, sizeof(ct_bpe_memo)); }

void ct_bpe_memo_free(ct_bpe_memo *m) {
    if (!m) return;
    free(m->bytes); free(m->ids); free(m->slot);
    free(m);
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static const memo_slot *memo_find(const ct_bpe_memo *m, const uint8_t *w, size_t n, uint64_t h) {
    if (!m->cap) return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const memo_slot *s = &m->slot[i];
        if (!s->blen) return NULL;
        if (s->hash == h && s->blen == n && !memcmp(m->bytes + s->boff, w, n)) return s;
    }
}

static bool memo_add(ct_bpe_memo *m, const uint8_t *w, size_t n, uint64_t h, const int32_t *ids, size_t k) {
    if (2 * (m->used + 1) > m->cap) { /* rehash into twice the slots */
        size_t nc = m->cap ? 2 * m->cap : 64;
        memo_slot *ns = ct_calloc(nc, sizeof *ns);
        if (!ns) return false;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slot[i].blen) continue;
            size_t j = m->slot[i].hash & (nc - 1);
            while (ns[j].blen) j = (j + 1) & (nc - 1);
            ns[j] = m->slot[i];
        }
        free(m->slot);
        m->slot = ns;
        m->cap = nc;
    }
    uint8_t *nb = ct_grow(m->bytes, &m->capbytes, m->nbytes + n, 1);
    if (!nb) return false;
    m->bytes = nb;
    int32_t *ni = ct_grow(m->ids, &m->capids, m->nids + k, sizeof *ni);
    if (!ni) return false;
    m->ids = ni;
    memcpy(m->bytes + m->nbytes, w, n);
    memcpy(m->ids + m->nids, ids, k * sizeof *ids);
    size_t j = h & (m->cap - 1);
    while (m->slot[j].blen) j = (j + 1) & (m->cap - 1);
    m->slot[j] = (memo_slot){h, m->nbytes, n, m->nids, k};
    m->nbytes += n;
    m->nids += k;
    m->used++;
    return true;
}

/* ------------------------------------------------------------- encoding */

typedef struct {
    int32_t *ids;
    size_t n, cap;
    size_t limit; /* stop collecting after this many (0 = no limit); n keeps counting */
} idvec;

static bool idpush(idvec *v, const int32_t *ids, size_t k) {
    size_t keep = k;
    if (v->limit) keep = v->n >= v->limit ? 0 : v->limit - v->n < k ? v->limit - v->n : k;
    if (keep) {
        int32_t *p = ct_grow(v->ids, &v->cap, v->n + keep, sizeof *p);
        if (!p) return false;
        v->ids = p;
        memcpy(v->ids + v->n, ids, keep * sizeof *ids);
    }
    v->n += k;
    return true;
}

static ct_status encode_all(const ct_tokenizer *t, ct_bpe_memo *memo, const char *text, size_t len, idvec *v, ct_error *err) {
    ct_u32buf cp = {0};
    if (!ct_clean_text(text, len, &cp)) return ct_fail(err, CT_ERR_NOMEM, "out of memory cleaning text");
    ct_status st = CT_OK;
    bpe_buf b = {0};
    uint8_t *word = NULL;
    size_t wcap = 0, pos = 0, tb, te;
    int special;
    while (!st && ct_pretok_next(cp.cp, cp.n, &pos, &tb, &te, &special)) {
        if (special) {
            int32_t id = special == 1 ? t->sot : t->eot;
            if (!idpush(v, &id, 1)) st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
            continue;
        }
        /* the token's UTF-8 bytes: one symbol each, the last carrying </w> */
        size_t nb = 0;
        if ((te - tb) > (SIZE_MAX - 4) / 4) { st = ct_fail(err, CT_ERR_TOO_LARGE, "word too long"); break; }
        uint8_t *w = ct_grow(word, &wcap, (te - tb) * 4, 1);
        if (!w) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); break; }
        word = w;
        for (size_t i = tb; i < te; i++) nb += ct_utf8_put(cp.cp[i], (char *)word + nb);
        if (nb > (size_t)INT32_MAX) { st = ct_fail(err, CT_ERR_TOO_LARGE, "word of %zu bytes too long", nb); break; }
        uint64_t h = hash_bytes(word, nb);
        const memo_slot *hit = memo ? memo_find(memo, word, nb, h) : NULL;
        if (hit) {
            if (!idpush(v, memo->ids + hit->ioff, hit->ilen)) st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
            continue;
        }
        if (!bpe_reserve(&b, nb)) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory for a word of %zu bytes", nb); break; }
        for (size_t i = 0; i < nb; i++) b.sym[i] = t->byte_id[word[i]];
        b.sym[nb - 1] = t->byte_eow[word[nb - 1]];
        int32_t n = 0;
        if (!bpe_word(t, &b, (int32_t)nb, &n) || !idpush(v, b.sym, (size_t)n) || (memo && !memo_add(memo, word, nb, h, b.sym, (size_t)n)))
            st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
    }
    bpe_buf_free(&b);
    free(word);
    ct_u32_free(&cp);
    return st;
}

ct_status ct_tokenize(const ct_tokenizer *t, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n_ids,
                      ct_error *err) {
    if (!t || (!text && len) || (!ids && cap) || !n_ids) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_tokenize: bad argument");
    idvec v = {0};
    v.limit = cap ? cap : 1; /* ids past the caller's room are only counted */
    ct_status st = encode_all(t, NULL, text ? text : "", len, &v, err);
    if (st) { free(v.ids); return st; }
    size_t n = v.n < cap ? v.n : cap;
    if (n) memcpy(ids, v.ids, n * sizeof(int32_t));
    *n_ids = v.n;
    free(v.ids);
    return ct_ok(err);
}

ct_status ct_tokenize_context_memo(const ct_tokenizer *t, ct_bpe_memo *memo, const char *text, int32_t *tokens, int ctx_len,
                                   int *truncated, ct_error *err) {
    if (!t || !text || !tokens) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_tokenize_context: NULL argument");
    if (ctx_len < 2) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_tokenize_context: context length %d < 2", ctx_len);
    idvec v = {0};
    v.limit = (size_t)ctx_len; /* what fits, and a count of the rest */
    ct_status st = encode_all(t, memo, text, strlen(text), &v, err);
    if (st) { free(v.ids); return st; }
    int cut = v.n + 2 > (size_t)ctx_len;
    size_t n = cut ? (size_t)ctx_len - 2 : v.n;
    tokens[0] = t->sot;
    if (n) memcpy(tokens + 1, v.ids, n * sizeof(int32_t));
    /* the reference cuts [sot] + ids + [eot] to ctx_len and puts the end token last */
    tokens[1 + n] = t->eot;
    for (size_t i = n + 2; i < (size_t)ctx_len; i++) tokens[i] = 0;
    free(v.ids);
    if (truncated) *truncated = cut;
    return ct_ok(err);
}

ct_status ct_tokenize_context(const ct_tokenizer *t, const char *text, int32_t *tokens, int ctx_len, int *truncated,
                              ct_error *err) {
    return ct_tokenize_context_memo(t, NULL, text, tokens, ctx_len, truncated, err);
}

static bool skip_id(const ct_tokenizer *t, int32_t id) {
    return id < 0 || id >= t->n_vocab || id == t->sot || id == t->eot;
}

size_t ct_detokenize(const ct_tokenizer *t, const int32_t *ids, size_t n, char *out, size_t cap) {
    if (out && cap) out[0] = 0;
    if (!t || (!ids && n)) return 0;
    /* bytes of each token, a space at each word end; the final word end adds nothing */
    int32_t last = -1;
    for (size_t i = 0; i < n; i++)
        if (!skip_id(t, ids[i])) last = (int32_t)i;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (skip_id(t, id)) continue;
        for (size_t k = 0; k < t->raw_len[id]; k++, len++)
            if (out && len + 1 < cap) out[len] = (char)t->raw[id][k];
        if (t->eow[id] && (int32_t)i != last) {
            if (out && len + 1 < cap) out[len] = ' ';
            len++;
        }
    }
    if (out && cap) out[len < cap ? len : cap - 1] = 0;
    return len;
}
