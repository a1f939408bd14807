/* Names with values, hashed (see nameset.h). */
#include "common/nameset.h"
#include "common/hash.h"
#include "common/text.h"

#include <stdlib.h>
#include <string.h>

static size_t home(const nameset *s, const char *name) { return (size_t)hash64(name, strlen(name), 0x6e616d65ull) & (s->n_slots - 1); }

int nameset_find(nameset *s, const char *name) {
    if (!s->n_slots) return -1;
    for (size_t i = home(s, name);; i = (i + 1) & (s->n_slots - 1)) {
        int k = s->slot[i];
        if (!k) return -1;
        s->compares++;
        if (!strcmp(s->name[k - 1], name)) return k - 1;
    }
}

static int rehash(nameset *s, size_t n_slots) {
    int *slot = calloc(n_slots, sizeof *slot);
    if (!slot) return 0;
    free(s->slot);
    s->slot = slot;
    s->n_slots = n_slots;
    for (int k = 0; k < s->n; k++) {
        size_t i = home(s, s->name[k]);
        while (slot[i]) i = (i + 1) & (n_slots - 1);
        slot[i] = k + 1;
    }
    return 1;
}

int nameset_add(nameset *s, const char *name, uint64_t val) {
    if (s->n >= (1 << 30)) return -1;
    if ((size_t)s->n + 1 > s->n_slots / 2 && !rehash(s, s->n_slots ? s->n_slots * 2 : 64)) return -1;
    if (!grow(&s->name, &s->cap_name, (size_t)s->n + 1, sizeof *s->name) || !grow(&s->val, &s->cap_val, (size_t)s->n + 1, sizeof *s->val)) return -1;
    if (!(s->name[s->n] = xasprintf("%s", name))) return -1;
    s->val[s->n] = val;
    size_t i = home(s, name);
    while (s->slot[i]) i = (i + 1) & (s->n_slots - 1);
    s->slot[i] = ++s->n;
    return s->n - 1;
}

void nameset_free(nameset *s) {
    for (int k = 0; k < s->n; k++) free(s->name[k]);
    free(s->name);
    free(s->val);
    free(s->slot);
    memset(s, 0, sizeof *s);
}
