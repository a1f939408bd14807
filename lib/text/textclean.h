/* Text cleaning exactly as CLIP's SimpleTokenizer does it before BPE:
 *   ftfy.fix_text (the parts listed in docs/algorithm.md), html.unescape twice, strip,
 *   whitespace collapse, str.lower(); then the pre-tokenising regular expression. */
#ifndef CT_TEXTCLEAN_H
#define CT_TEXTCLEAN_H

#include "core/internal.h"
#include "core/utf8.h"

typedef struct {
    const char *name;  /* without the leading '&' */
    const char *value; /* UTF-8 */
} ct_entity;
typedef struct {
    uint32_t from, to;
} ct_charref_fix;

extern const ct_entity ct_html5_entities[];
extern const int ct_n_html5_entities;
extern const ct_entity ct_ftfy_entities[];
extern const int ct_n_ftfy_entities;
extern const ct_charref_fix ct_invalid_charrefs[];
extern const int ct_n_invalid_charrefs;
extern const uint32_t ct_invalid_codepoints[];
extern const int ct_n_invalid_codepoints;
extern const uint16_t ct_c1_cp1252[32];
extern const char *const ct_width_map[0xFFF0 - 0xFF01];

/* A growable array of code points. */
typedef struct {
    uint32_t *cp;
    size_t n, cap;
} ct_u32buf;

/* Decode UTF-8 as Python's errors="replace" does: each maximal ill-formed subpart becomes one
 * U+FFFD. */
bool ct_utf8_decode(const char *s, size_t len, ct_u32buf *out);

/* Full cleaning pipeline; out receives lower-cased, whitespace-collapsed code points. */
bool ct_clean_text(const char *s, size_t len, ct_u32buf *out);

/* Pre-tokeniser: from position *pos in cp[0..n), find the next token. Returns false at the end.
 * *special is set for <|startoftext|> (1) and <|endoftext|> (2). */
bool ct_pretok_next(const uint32_t *cp, size_t n, size_t *pos, size_t *tb, size_t *te, int *special);

void ct_u32_free(ct_u32buf *b);

#endif
