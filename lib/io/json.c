/* Strict JSON parser (see json.h). Recursive descent with a depth limit. */
#include "io/json.h"

#include "core/grow.h"
#include "core/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errcap;
    int failed;
} jp;

static void jfail(jp *p, const char *what) {
    if (!p->failed && p->err && p->errcap)
        snprintf(p->err, p->errcap, "JSON: %s at byte %zu", what, p->pos);
    p->failed = 1;
}

static void skip_ws(jp *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') p->pos++;
        else break;
    }
}

static void json_free_inner(ct_json *j) {
    if (!j) return;
    free(j->str);
    for (size_t i = 0; i < j->n; i++) {
        json_free_inner(&j->items[i]);
        if (j->keys) free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->key_lens);
}

void ct_json_free(ct_json *j) {
    json_free_inner(j);
    free(j);
}

static int hex4(jp *p, unsigned *out) {
    if (p->len - p->pos < 4) return 0;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->pos + k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    p->pos += 4;
    *out = v;
    return 1;
}

/* Parses a string starting at the opening quote. Output is never longer than the input. */
static char *parse_string(jp *p, size_t *out_len) {
    p->pos++; /* opening quote */
    size_t start = p->pos, end = start;
    while (end < p->len && p->s[end] != '"') {
        if (p->s[end] == '\\') end++;
        end++;
    }
    if (end >= p->len) { jfail(p, "unterminated string"); return NULL; }
    char *d = malloc(end - start + 1);
    if (!d) { jfail(p, "out of memory"); return NULL; }
    size_t n = 0;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) { jfail(p, "control character in string"); free(d); return NULL; }
        if (c >= 0x80) { /* JSON text is UTF-8 (RFC 8259, 8.1) */
            uint32_t cp;
            size_t bad, k = ct_utf8_next((const uint8_t *)p->s + p->pos, end - p->pos, &cp, &bad);
            if (!k) { jfail(p, "invalid UTF-8 in string"); free(d); return NULL; }
            memcpy(d + n, p->s + p->pos, k);
            n += k;
            p->pos += k;
            continue;
        }
        if (c != '\\') { d[n++] = (char)c; p->pos++; continue; }
        p->pos++;
        char e = p->s[p->pos++];
        switch (e) {
        case '"': d[n++] = '"'; break;
        case '\\': d[n++] = '\\'; break;
        case '/': d[n++] = '/'; break;
        case 'b': d[n++] = '\b'; break;
        case 'f': d[n++] = '\f'; break;
        case 'n': d[n++] = '\n'; break;
        case 'r': d[n++] = '\r'; break;
        case 't': d[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!hex4(p, &cp)) { jfail(p, "bad \\u escape"); free(d); return NULL; }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->pos + 2 <= end && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
                    p->pos += 2;
                    if (!hex4(p, &lo)) { jfail(p, "bad \\u escape"); free(d); return NULL; }
                    if (lo >= 0xDC00 && lo <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    else { n += ct_utf8_put(0xFFFD, d + n); cp = lo; }
                } else cp = 0xFFFD; /* lone surrogate */
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
            n += ct_utf8_put(cp, d + n); /* "\uXXXX" is 6 bytes, its UTF-8 at most 4 */
            break;
        }
        default: jfail(p, "bad escape"); free(d); return NULL;
        }
    }
    p->pos = end + 1;
    d[n] = 0;
    *out_len = n;
    return d;
}

static int parse_value(jp *p, ct_json *v, int depth);

static int parse_number(jp *p, ct_json *v) {
    size_t st = p->pos;
    int is_int = 1;
    if (p->pos < p->len && p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->len) { jfail(p, "bad number"); return 0; }
    if (p->s[p->pos] == '0') p->pos++;
    else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9')
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    else { jfail(p, "bad number"); return 0; }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        is_int = 0; p->pos++;
        size_t d0 = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
        if (p->pos == d0) { jfail(p, "bad number"); return 0; }
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        is_int = 0; p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        size_t d0 = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
        if (p->pos == d0) { jfail(p, "bad number"); return 0; }
    }
    char buf[64];
    size_t n = p->pos - st;
    if (n >= sizeof buf) {
        if (is_int) { jfail(p, "integer too long"); return 0; }
        n = sizeof buf - 1; /* long fractions: precision beyond double is irrelevant */
    }
    memcpy(buf, p->s + st, n);
    buf[n] = 0;
    v->type = CT_JSON_NUM;
    v->num = strtod(buf, NULL);
    if (is_int) {
        errno = 0;
        long long ll = strtoll(buf, NULL, 10);
        if (errno == 0) { v->is_int = 1; v->i = ll; }
    }
    return 1;
}

static int parse_value(jp *p, ct_json *v, int depth) {
    memset(v, 0, sizeof *v);
    if (depth > CT_JSON_MAX_DEPTH) { jfail(p, "nesting too deep"); return 0; }
    skip_ws(p);
    if (p->pos >= p->len) { jfail(p, "unexpected end"); return 0; }
    char c = p->s[p->pos];
    if (c == '"') {
        v->type = CT_JSON_STR;
        v->str = parse_string(p, &v->len);
        return v->str != NULL;
    }
    if (c == '{' || c == '[') {
        int obj = c == '{';
        v->type = obj ? CT_JSON_OBJ : CT_JSON_ARR;
        p->pos++;
        size_t cap = 0, kcap = 0, lcap = 0;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == (obj ? '}' : ']')) { p->pos++; return 1; }
        for (;;) {
            skip_ws(p);
            ct_json *items = ct_grow(v->items, &cap, v->n + 1, sizeof *items);
            if (!items) { jfail(p, "out of memory"); return 0; }
            v->items = items;
            if (obj) {
                char **keys = ct_grow(v->keys, &kcap, v->n + 1, sizeof *keys);
                if (keys) v->keys = keys;
                size_t *lens = keys ? ct_grow(v->key_lens, &lcap, v->n + 1, sizeof *lens) : NULL;
                if (lens) v->key_lens = lens;
                if (!keys || !lens) { jfail(p, "out of memory"); return 0; }
                if (p->pos >= p->len || p->s[p->pos] != '"') { jfail(p, "expected key"); return 0; }
                size_t kl;
                char *k = parse_string(p, &kl);
                if (!k) return 0;
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != ':') { free(k); jfail(p, "expected ':'"); return 0; }
                p->pos++;
                v->keys[v->n] = k;
                v->key_lens[v->n] = kl;
            }
            int ok = parse_value(p, &v->items[v->n], depth + 1);
            v->n++; /* count it even on failure so that free() releases it */
            if (!ok) return 0;
            skip_ws(p);
            if (p->pos >= p->len) { jfail(p, "unexpected end"); return 0; }
            char d = p->s[p->pos++];
            if (d == ',') continue;
            if (d == (obj ? '}' : ']')) return 1;
            p->pos--;
            jfail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            return 0;
        }
    }
    if (c == 't' && p->len - p->pos >= 4 && !memcmp(p->s + p->pos, "true", 4)) {
        v->type = CT_JSON_BOOL; v->boolean = 1; p->pos += 4; return 1;
    }
    if (c == 'f' && p->len - p->pos >= 5 && !memcmp(p->s + p->pos, "false", 5)) {
        v->type = CT_JSON_BOOL; p->pos += 5; return 1;
    }
    if (c == 'n' && p->len - p->pos >= 4 && !memcmp(p->s + p->pos, "null", 4)) {
        v->type = CT_JSON_NULL; p->pos += 4; return 1;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
    jfail(p, "unexpected character");
    return 0;
}

ct_json *ct_json_parse(const char *s, size_t len, char *errbuf, size_t errcap) {
    jp p = {s, len, 0, errbuf, errcap, 0};
    ct_json *v = calloc(1, sizeof *v);
    if (!v) {
        if (errbuf && errcap) snprintf(errbuf, errcap, "JSON: out of memory");
        return NULL;
    }
    if (!parse_value(&p, v, 0)) { ct_json_free(v); return NULL; }
    skip_ws(&p);
    if (p.pos != p.len) { jfail(&p, "trailing characters"); ct_json_free(v); return NULL; }
    return v;
}

const ct_json *ct_json_get(const ct_json *obj, const char *key) {
    if (!obj || obj->type != CT_JSON_OBJ) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < obj->n; i++)
        if (obj->key_lens[i] == kl && !memcmp(obj->keys[i], key, kl)) return &obj->items[i];
    return NULL;
}
