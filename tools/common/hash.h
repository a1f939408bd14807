/* Content hashes for the tools (caches, state files): XXH64 (Yann Collet's xxHash, 64-bit),
 * streaming, and the hash of a file's bytes. Not cryptographic: it detects damage and tells
 * contents apart; it does not resist a forger. */
#ifndef CT_TOOLS_HASH_H
#define CT_TOOLS_HASH_H

#include "cliptrase.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t total, v[4], seed;
    unsigned char buf[32];
    size_t nbuf;
} hash64_state;

void hash64_init(hash64_state *s, uint64_t seed);
void hash64_update(hash64_state *s, const void *p, size_t n);
uint64_t hash64_final(const hash64_state *s);
uint64_t hash64(const void *p, size_t n, uint64_t seed);

/* XXH64 (seed 0) of a regular file's bytes. */
int hash_file(const char *path, uint64_t *h, ct_error *err);

#endif
