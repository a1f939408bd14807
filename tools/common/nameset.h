/* A set of names (file names of ct-eval's state), each with a 64-bit value: insertion, lookup in
 * expected constant time (open addressing on a 64-bit hash, the table kept at most half full), so
 * loading a state of n lines costs O(n), not the O(n^2) of a list searched line by line. */
#ifndef CT_TOOLS_NAMESET_H
#define CT_TOOLS_NAMESET_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char **name;      /* [n], in insertion order (owned) */
    uint64_t *val;    /* [n] */
    int n;
    size_t cap_name, cap_val;
    int *slot;        /* [n_slots]: index + 1, 0 empty */
    size_t n_slots;
    unsigned long long compares; /* name comparisons made so far (tests bound them) */
} nameset;

/* The index of name, or -1. */
int nameset_find(nameset *s, const char *name);
/* Add name (not present) with val: its index, or -1 when out of memory. */
int nameset_add(nameset *s, const char *name, uint64_t val);
void nameset_free(nameset *s);

#endif
