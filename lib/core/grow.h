/* The library's one growable array: capacity doubling with overflow checks. */
#ifndef CT_CORE_GROW_H
#define CT_CORE_GROW_H

#include <stdint.h>
#include <stdlib.h>

/* Room for at least `need` elements of `elem` bytes in the array p of capacity *cap: returns the
 * array (moved or not, *cap updated), or NULL when memory is short or the size overflows, in
 * which case p is still valid and unchanged. */
static inline void *ct_grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return NULL;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem) return NULL;
    void *q = realloc(p, nc * elem);
    if (!q) return NULL;
    *cap = nc;
    return q;
}

#endif
