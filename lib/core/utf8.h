/* UTF-8: the library's one decoder of a code point (strict: no overlong forms, no surrogates,
 * nothing above U+10FFFF) and its encoder. Every validator and decoder in the library uses them. */
#ifndef CT_CORE_UTF8_H
#define CT_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The code point at the start of s[0..n) (n >= 1): returns its length (1..4) and sets *cp.
 * Returns 0 when s does not start with a well-formed sequence; *bad then receives the length
 * of the maximal ill-formed subpart (the lead byte and the continuation bytes that were still
 * valid, at least 1): what Python's errors="replace" turns into one U+FFFD. */
size_t ct_utf8_next(const uint8_t *s, size_t n, uint32_t *cp, size_t *bad);
/* Offset of the first ill-formed sequence in s[0..n), or n when all of it is well-formed. */
size_t ct_utf8_check(const uint8_t *s, size_t n);
/* Encode one code point (<= U+10FFFF) into dst; returns the bytes written (1..4). */
size_t ct_utf8_put(uint32_t cp, char *dst);

#endif
