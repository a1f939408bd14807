/* CLIP byte-level BPE tokenizer (internal view). */
#ifndef CT_TOKENIZER_H
#define CT_TOKENIZER_H

#include "core/internal.h"

#define CT_OPENAI_MERGES 48894 /* merges the reference uses: lines 1 .. 49152-256-2 */

typedef struct {
    uint64_t key;  /* (a << 32) | b, or UINT64_MAX for empty */
    int32_t rank;
    int32_t merged;
} ct_pair_slot;

typedef struct {
    const char *key; /* token string in the byte-to-unicode alphabet; NULL for empty */
    int32_t id;
} ct_str_slot;

struct ct_tokenizer {
    int n_vocab;
    char **tok;             /* [n_vocab] token strings (byte-to-unicode alphabet) */
    uint8_t **raw;          /* [n_vocab] raw bytes of each token ("</w>" removed) */
    size_t *raw_len;        /* [n_vocab] */
    uint8_t *eow;           /* [n_vocab] token ends a word */
    int32_t byte_id[256];   /* single byte, inside a word */
    int32_t byte_eow[256];  /* single byte ending a word */
    int32_t sot, eot;
    ct_str_slot *vmap;      /* vocabulary hash (open addressing) */
    size_t vmap_cap;
    ct_pair_slot *pmap;     /* merge hash */
    size_t pmap_cap;
    int n_merges;
};

/* Build from vocabulary strings (ids = positions) and merges as pairs of strings. */
ct_status ct_tokenizer_build(ct_tokenizer *t, ct_error *err);

/* Remembered BPE results (word -> ids) shared by the prompts of one call: a word (a class name
 * repeated in every template) is merged once. Not thread-safe: one per call. */
typedef struct ct_bpe_memo ct_bpe_memo;
ct_bpe_memo *ct_bpe_memo_new(void);
void ct_bpe_memo_free(ct_bpe_memo *m);
/* ct_tokenize_context with a memo (NULL: none). */
ct_status ct_tokenize_context_memo(const ct_tokenizer *t, ct_bpe_memo *memo, const char *text, int32_t *tokens, int ctx_len,
                                   int *truncated, ct_error *err);

/* UTF-8 text of the byte-to-unicode alphabet for a byte (2 bytes max + NUL). */
void ct_byte_to_unicode(uint8_t b, char out[3]);

#endif
