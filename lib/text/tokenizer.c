/* CLIP tokenizer: vocabulary loading (OpenAI .txt.gz or Hugging Face vocab.json + merges.txt),
 * byte-level BPE by merge rank with "</w>" word ends, context encoding and decoding. */
#include "text/tokenizer.h"

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

static ct_status read_file(const char *path, uint8_t **buf, size_t *len, ct_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ct_fail(err, CT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap + 1);
    while (b) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        if (cap >= CT_MAX_VOCAB_FILE) { free(b); fclose(f); return ct_fail(err, CT_ERR_TOO_LARGE, "'%s' is larger than %u bytes", path, CT_MAX_VOCAB_FILE); }
        cap *= 2;
        uint8_t *nb = realloc(b, cap + 1);
        if (!nb) { free(b); b = NULL; break; }
        b = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b) return ct_fail(err, CT_ERR_NOMEM, "out of memory reading '%s'", path);
    if (bad) { free(b); return ct_fail(err, CT_ERR_IO, "error reading '%s'", path); }
    b[n] = 0;
    *buf = b;
    *len = n;
    return CT_OK;
}

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
    size_t n = 0;
    uint8_t *d = ct_inflate_raw(in + p, len - p - 8, &n);
    if (!d) return ct_fail(err, CT_ERR_FORMAT, "'%s': corrupt or truncated gzip data", path);
    const uint8_t *tr = in + len - 8;
    uint32_t crc = (uint32_t)tr[0] | ((uint32_t)tr[1] << 8) | ((uint32_t)tr[2] << 16) | ((uint32_t)tr[3] << 24);
    uint32_t isz = (uint32_t)tr[4] | ((uint32_t)tr[5] << 8) | ((uint32_t)tr[6] << 16) | ((uint32_t)tr[7] << 24);
    if (ct_crc32(0, d, n) != crc || (uint32_t)n != isz) {
        free(d);
        return ct_fail(err, CT_ERR_FORMAT, "'%s': gzip checksum mismatch (truncated or corrupt file)", path);
    }
    *out = d;
    *out_len = n;
    return CT_OK;
trunc:
    return ct_fail(err, CT_ERR_FORMAT, "'%s': truncated gzip header", path);
}

/* split text into lines (in place); strips '\r'. Returns malloc'd array of pointers. */
static char **split_lines(char *s, size_t len, int *n_out) {
    size_t cap = 1024, n = 0;
    char **v = malloc(cap * sizeof *v);
    if (!v) return NULL;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && s[e] != '\n') e++;
        size_t le = e;
        if (le > i && s[le - 1] == '\r') le--;
        s[le] = 0;
        if (n == cap) {
            cap *= 2;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) { free(v); return NULL; }
            v = nv;
        }
        v[n++] = s + i;
        i = e + 1;
        if (n > (1u << 24)) break;
    }
    *n_out = (int)n;
    return v;
}

static ct_status check_utf8(const char *path, const uint8_t *b, size_t n, ct_error *err) {
    size_t i = 0, line = 1;
    while (i < n) {
        uint8_t c = b[i];
        int k = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        bool ok = k > 0 && i + (size_t)k <= n;
        for (int j = 1; ok && j < k; j++) ok = (b[i + j] & 0xC0) == 0x80;
        if (!ok) return ct_fail(err, CT_ERR_FORMAT, "'%s': invalid UTF-8 at line %zu", path, line);
        if (c == '\n') line++;
        if (c == 0) return ct_fail(err, CT_ERR_FORMAT, "'%s': NUL byte at line %zu", path, line);
        i += (size_t)k;
    }
    return CT_OK;
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
    ct_status st = read_file(vocab_json, &vb, &vl, err);
    if (!st) st = read_file(merges_txt, &mb, &ml, err);
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
    ct_status st = read_file(path, &buf, &len, err);
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

/* Merge a word's symbols: repeatedly the lowest-rank adjacent pair, all its occurrences left to
 * right (the reference's loop). sym has n entries; returns the new count. */
static int bpe_merge(const ct_tokenizer *t, int32_t *sym, int n) {
    while (n > 1) {
        int32_t best = INT32_MAX, merged = -1, a = -1, b = -1;
        for (int i = 0; i + 1 < n; i++) {
            const ct_pair_slot *p = pmap_get(t, sym[i], sym[i + 1]);
            if (p && p->rank < best) { best = p->rank; merged = p->merged; a = sym[i]; b = sym[i + 1]; }
        }
        if (merged < 0) break;
        int o = 0;
        for (int i = 0; i < n;) {
            if (i + 1 < n && sym[i] == a && sym[i + 1] == b) { sym[o++] = merged; i += 2; }
            else sym[o++] = sym[i++];
        }
        n = o;
    }
    return n;
}

typedef struct {
    int32_t *ids;
    size_t n, cap;
    size_t limit; /* stop collecting after this many (0 = no limit) */
} idvec;

static bool idpush(idvec *v, int32_t id) {
    if (v->limit && v->n >= v->limit) { v->n++; return true; } /* count only */
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->ids, nc * sizeof *p);
        if (!p) return false;
        v->ids = p;
        v->cap = nc;
    }
    v->ids[v->n++] = id;
    return true;
}

static ct_status encode_all(const ct_tokenizer *t, const char *text, size_t len, idvec *v, ct_error *err) {
    ct_u32buf cp = {0};
    if (!ct_clean_text(text, len, &cp)) return ct_fail(err, CT_ERR_NOMEM, "out of memory cleaning text");
    ct_status st = CT_OK;
    int32_t *sym = NULL;
    size_t symcap = 0;
    size_t pos = 0, tb, te;
    int special;
    while (!st && ct_pretok_next(cp.cp, cp.n, &pos, &tb, &te, &special)) {
        if (special) {
            if (!idpush(v, special == 1 ? t->sot : t->eot)) st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
            continue;
        }
        /* token -> UTF-8 bytes -> one symbol per byte, the last carrying </w> */
        size_t nb = 0;
        char tmp[4];
        for (size_t i = tb; i < te; i++) nb += ct_utf8_put(cp.cp[i], tmp);
        if (nb > symcap) {
            free(sym);
            symcap = nb * 2;
            sym = ct_alloc(symcap, sizeof *sym);
            if (!sym) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); break; }
        }
        size_t k = 0;
        for (size_t i = tb; i < te; i++) {
            size_t m = ct_utf8_put(cp.cp[i], tmp);
            for (size_t j = 0; j < m; j++) sym[k++] = t->byte_id[(uint8_t)tmp[j]];
        }
        uint8_t lastb = 0;
        {
            size_t m = ct_utf8_put(cp.cp[te - 1], tmp);
            lastb = (uint8_t)tmp[m - 1];
        }
        sym[k - 1] = t->byte_eow[lastb];
        if (k > (size_t)INT32_MAX) { st = ct_fail(err, CT_ERR_TOO_LARGE, "word too long"); break; }
        int n = bpe_merge(t, sym, (int)k);
        for (int i = 0; i < n && !st; i++)
            if (!idpush(v, sym[i])) st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
    }
    free(sym);
    ct_u32_free(&cp);
    return st;
}

ct_status ct_tokenize(const ct_tokenizer *t, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n_ids,
                      ct_error *err) {
    if (!t || (!text && len) || (!ids && cap) || !n_ids) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_tokenize: bad argument");
    idvec v = {0};
    ct_status st = encode_all(t, text ? text : "", len, &v, err);
    if (st) { free(v.ids); return st; }
    size_t n = v.n < cap ? v.n : cap;
    if (n) memcpy(ids, v.ids, n * sizeof(int32_t));
    *n_ids = v.n;
    free(v.ids);
    return ct_ok(err);
}

ct_status ct_tokenize_context(const ct_tokenizer *t, const char *text, int32_t *tokens, int ctx_len, int *truncated,
                              ct_error *err) {
    if (!t || !text || !tokens) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_tokenize_context: NULL argument");
    if (ctx_len < 2) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_tokenize_context: context length %d < 2", ctx_len);
    idvec v = {0};
    ct_status st = encode_all(t, text, strlen(text), &v, err);
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
