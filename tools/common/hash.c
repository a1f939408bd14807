/* XXH64 (the reference algorithm of xxHash, 64-bit variant) and file hashing. */
#include "common/hash.h"
#include "common/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define P1 11400714785074694791ull
#define P2 14029467366897019727ull
#define P3 1609587929392839161ull
#define P4 9650029242287828579ull
#define P5 2870177450012600261ull

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t rd64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static uint64_t round64(uint64_t acc, uint64_t in) { return rotl(acc + in * P2, 31) * P1; }

static uint64_t merge64(uint64_t acc, uint64_t v) { return (acc ^ round64(0, v)) * P1 + P4; }

void hash64_init(hash64_state *s, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->v[0] = seed + P1 + P2;
    s->v[1] = seed + P2;
    s->v[2] = seed;
    s->v[3] = seed - P1;
}

void hash64_update(hash64_state *s, const void *data, size_t n) {
    const unsigned char *p = data;
    s->total += n;
    if (s->nbuf) {
        size_t k = 32 - s->nbuf < n ? 32 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, k);
        s->nbuf += k; p += k; n -= k;
        if (s->nbuf < 32) return;
        for (int i = 0; i < 4; i++) s->v[i] = round64(s->v[i], rd64(s->buf + 8 * i));
        s->nbuf = 0;
    }
    for (; n >= 32; p += 32, n -= 32)
        for (int i = 0; i < 4; i++) s->v[i] = round64(s->v[i], rd64(p + 8 * i));
    memcpy(s->buf, p, n);
    s->nbuf = n;
}

uint64_t hash64_final(const hash64_state *s) {
    uint64_t h;
    if (s->total >= 32) {
        h = rotl(s->v[0], 1) + rotl(s->v[1], 7) + rotl(s->v[2], 12) + rotl(s->v[3], 18);
        for (int i = 0; i < 4; i++) h = merge64(h, s->v[i]);
    } else {
        h = s->seed + P5;
    }
    h += s->total;
    const unsigned char *p = s->buf, *end = s->buf + s->nbuf;
    for (; p + 8 <= end; p += 8) h = rotl(h ^ round64(0, rd64(p)), 27) * P1 + P4;
    if (p + 4 <= end) { h = rotl(h ^ (rd32(p) * P1), 23) * P2 + P3; p += 4; }
    for (; p < end; p++) h = rotl(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
    return h;
}

uint64_t hash64(const void *p, size_t n, uint64_t seed) {
    hash64_state s;
    hash64_init(&s, seed);
    hash64_update(&s, p, n);
    return hash64_final(&s);
}

int hash_file(const char *path, uint64_t *h, ct_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fail_msg(err, CT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) { close(fd); return fail_msg(err, CT_ERR_IO, "'%s' is not a regular file", path); }
    size_t cap = 1u << 20;
    unsigned char *buf = malloc(cap);
    if (!buf) { close(fd); return fail_msg(err, CT_ERR_NOMEM, "out of memory"); }
    hash64_state s;
    hash64_init(&s, 0);
    int ok = 1;
    for (;;) {
        ssize_t r = read(fd, buf, cap);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { ok = fail_msg(err, CT_ERR_IO, "cannot read '%s': %s", path, strerror(errno)); break; }
        if (r == 0) break;
        hash64_update(&s, buf, (size_t)r);
    }
    free(buf);
    close(fd);
    if (ok) *h = hash64_final(&s);
    return ok;
}
