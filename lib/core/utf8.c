/* UTF-8 decoding and encoding (utf8.h), following the Unicode standard's table of well-formed
 * byte sequences (3.9, table 3-7). */
#include "core/utf8.h"

size_t ct_utf8_next(const uint8_t *s, size_t n, uint32_t *cp, size_t *bad) {
    uint32_t c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t len = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (!len) { *bad = 1; return 0; }
    /* the second byte's range excludes overlong forms, surrogates and code points > U+10FFFF */
    uint8_t lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    uint8_t hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    uint32_t v = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    size_t k = 1;
    for (; k < len && k < n; k++) {
        uint8_t b = s[k];
        if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) break;
        v = (v << 6) | (b & 0x3F);
    }
    if (k < len) { *bad = k; return 0; }
    *cp = v;
    return len;
}

size_t ct_utf8_check(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t bad, k = ct_utf8_next(s + i, n - i, &cp, &bad);
        if (!k) return i;
        i += k;
    }
    return n;
}

size_t ct_utf8_put(uint32_t cp, char *d) {
    if (cp < 0x80) { d[0] = (char)cp; return 1; }
    if (cp < 0x800) { d[0] = (char)(0xC0 | (cp >> 6)); d[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12)); d[1] = (char)(0x80 | ((cp >> 6) & 63)); d[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18)); d[1] = (char)(0x80 | ((cp >> 12) & 63)); d[2] = (char)(0x80 | ((cp >> 6) & 63));
    d[3] = (char)(0x80 | (cp & 63));
    return 4;
}
