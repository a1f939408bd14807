/* Strict UTF-8, trimming, number arguments, heap strings, growable arrays. */
#include "common/text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int utf8_decode(const char **s, const char *end, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)*s, *e = (const unsigned char *)end;
    *cp = 0xFFFD;
    if (u >= e) return 0;
    unsigned c = u[0];
    int n;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; *s += 1; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { n = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; v = c & 0x07; min = 0x10000; }
    else { *s += 1; return 0; }
    if (e - u < n) { *s += 1; return 0; }
    for (int k = 1; k < n; k++) {
        if ((u[k] & 0xC0) != 0x80) { *s += 1; return 0; }
        v = (v << 6) | (u[k] & 0x3F);
    }
    /* overlong forms, UTF-16 surrogates, beyond Unicode */
    if (v < min || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) { *s += 1; return 0; }
    *cp = v;
    *s += n;
    return 1;
}

int utf8_valid(const char *s, size_t n, size_t *bad) {
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *at = p;
        uint32_t cp;
        if (!utf8_decode(&p, end, &cp)) {
            if (bad) *bad = (size_t)(at - s);
            return 0;
        }
    }
    return 1;
}

static int blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char *trim(char *s) {
    while (blank(*s)) s++;
    size_t n = strlen(s);
    while (n && blank(s[n - 1])) s[--n] = 0;
    return s;
}

int parse_int(const char *s, int lo, int hi, int *out) {
    if (!s || !*s || blank(*s)) return 0;
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

int parse_float(const char *s, double lo, double hi, float *out) {
    if (!s || !*s || blank(*s)) return 0;
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !isfinite(v) || v < lo || v > hi) return 0;
    *out = (float)v;
    return 1;
}

int parse_int_list(const char *s, int lo, int hi, int *out, int cap, int *n) {
    *n = 0;
    if (!s || !*s) return 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        if (len == 0 || len >= sizeof item || *n >= cap) return 0;
        memcpy(item, p, len);
        item[len] = 0;
        if (!parse_int(item, lo, hi, &out[*n])) return 0;
        (*n)++;
        if (!comma) return 1;
        p = comma + 1;
    }
}

char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int grow(void *pp, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return 0;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem) return 0;
    void *p = realloc(*(void **)pp, nc * elem);
    if (!p) return 0;
    *(void **)pp = p;
    *cap = nc;
    return 1;
}
