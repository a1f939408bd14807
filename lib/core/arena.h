/* A call's workspace: sizes are added up first (each part 64-byte aligned), then one block is
 * allocated and the parts are found at their offsets. Overflow makes the total SIZE_MAX, which
 * no allocation satisfies. */
#ifndef CT_CORE_ARENA_H
#define CT_CORE_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
    size_t size;
} ct_arena;

/* Reserve `bytes`; returns the part's offset. */
static inline size_t ct_arena_add(ct_arena *a, size_t bytes) {
    size_t off = a->size;
    size_t end;
    if (a->size == SIZE_MAX || __builtin_add_overflow(off, bytes, &end) || end > SIZE_MAX - 64) {
        a->size = SIZE_MAX;
        return 0;
    }
    a->size = (end + 63) & ~(size_t)63;
    return off;
}

static inline size_t ct_arena_add_floats(ct_arena *a, size_t n) {
    size_t b;
    if (__builtin_mul_overflow(n, sizeof(float), &b)) {
        a->size = SIZE_MAX;
        return 0;
    }
    return ct_arena_add(a, b);
}

/* The block (NULL when the size overflowed or memory is short); free() it. */
static inline void *ct_arena_alloc(const ct_arena *a) {
    if (a->size == SIZE_MAX) return NULL;
    return aligned_alloc(64, a->size ? a->size : 64);
}

#define CT_AT(base, off, type) ((type *)(void *)((char *)(base) + (off)))

#endif
