/* Text and numbers for the tools: strict UTF-8, trimming, number and list arguments, formatted
 * strings on the heap, growable arrays. */
#ifndef CT_TOOLS_TEXT_H
#define CT_TOOLS_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Decode one code point of strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF) from [*s, end); advance *s. Returns 1, or 0 on an invalid sequence (then *s
 * advances by one byte and *cp is U+FFFD). */
int utf8_decode(const char **s, const char *end, uint32_t *cp);
/* Non-zero when all n bytes are strict UTF-8; *bad (may be NULL) receives the offset of the
 * first invalid byte. */
int utf8_valid(const char *s, size_t n, size_t *bad);

/* Strip spaces, tabs, CR and LF at both ends, in place. */
char *trim(char *s);

/* A whole number in [lo, hi] (decimal, nothing else around it); 0 when s is not one. */
int parse_int(const char *s, int lo, int hi, int *out);
/* A finite number in [lo, hi]; 0 when s is not one. */
int parse_float(const char *s, double lo, double hi, float *out);
/* "A,B,C": 1 to cap whole numbers in [lo, hi]; 0 on anything else. */
int parse_int_list(const char *s, int lo, int hi, int *out, int cap, int *n);

/* printf into a new heap string (free it); NULL when out of memory */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Make room for `need` elements of `elem` bytes in the array *pp of capacity *cap (doubling);
 * 1 on success, 0 when out of memory or the size overflows (the array is then unchanged). */
int grow(void *pp, size_t *cap, size_t need, size_t elem);

#endif
