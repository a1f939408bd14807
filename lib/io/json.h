/* Minimal strict JSON (RFC 8259) parser: a DOM for safetensors headers, vocab.json and test
 * fixtures. Strings are decoded to UTF-8 (\u escapes, surrogate pairs); invalid input is an error
 * with a position, never a crash. Nesting is limited to CT_JSON_MAX_DEPTH. */
#ifndef CT_JSON_H
#define CT_JSON_H

#include <stddef.h>
#include <stdint.h>

#define CT_JSON_MAX_DEPTH 64

typedef enum { CT_JSON_NULL, CT_JSON_BOOL, CT_JSON_NUM, CT_JSON_STR, CT_JSON_ARR, CT_JSON_OBJ } ct_json_type;

typedef struct ct_json {
    ct_json_type type;
    int boolean;
    double num;
    int is_int;      /* number written without fraction/exponent and fits in int64 */
    int64_t i;
    char *str;       /* STR: NUL-terminated UTF-8 (may contain NUL; see len) */
    size_t len;
    struct ct_json *items; /* ARR elements or OBJ values, n of them */
    char **keys;           /* OBJ keys (NUL-terminated) */
    size_t *key_lens;
    size_t n;
} ct_json;

/* Parse exactly one JSON value spanning s[0..len) (surrounding whitespace allowed).
 * Returns NULL on error with a message in errbuf. */
ct_json *ct_json_parse(const char *s, size_t len, char *errbuf, size_t errcap);
void ct_json_free(ct_json *j);
/* Value of key in an object (first match), or NULL. */
const ct_json *ct_json_get(const ct_json *obj, const char *key);

#endif
