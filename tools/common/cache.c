/* Class-embedding cache and remembered content hashes of files. */
#include "common/cache.h"
#include "common/files.h"
#include "common/hash.h"
#include "common/msg.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EMB_MAGIC "CTEMB002"
#define FID_MAGIC "CTFID001"
#define MAX_ENTRY ((size_t)64 << 20)

char *cache_default_dir(void) {
    const char *x = getenv("CT_CACHE_DIR");
    if (x && *x) return xasprintf("%s", x);
    x = getenv("XDG_CACHE_HOME");
    if (x && *x) return path_join(x, "cliptrase");
    x = getenv("HOME");
    if (x && *x) return path_join(x, ".cache/cliptrase");
    return NULL;
}

/* ssh's StrictModes for the cache: the directory owned by this user and writable by no one else;
 * each directory above it, up to /, owned by root or this user and writable by no one else unless
 * it has the sticky bit (/tmp: others cannot rename or remove what is not theirs). 1 trusted; 0
 * with the reason in why. */
static int trusted_dir(const char *dir, char *why, size_t cap) {
    char *p = realpath(dir, NULL);
    if (!p) { snprintf(why, cap, "'%s': %s", dir, strerror(errno)); return 0; }
    uid_t me = geteuid();
    int ok = 1;
    for (int leaf = 1; ok; leaf = 0) {
        struct stat sb;
        if (stat(p, &sb) != 0) {
            snprintf(why, cap, "'%s': %s", p, strerror(errno));
            ok = 0;
        } else if (leaf ? sb.st_uid != me : sb.st_uid != me && sb.st_uid != 0) {
            snprintf(why, cap, "'%s' is owned by uid %ld, not by you (uid %ld)%s", p, (long)sb.st_uid, (long)me, leaf ? "" : " or root");
            ok = 0;
        } else if ((sb.st_mode & (S_IWGRP | S_IWOTH)) && (leaf || !(sb.st_mode & S_ISVTX))) {
            snprintf(why, cap, "'%s' is writable by %s (mode %04o)", p, sb.st_mode & S_IWOTH ? "others" : "its group", (unsigned)(sb.st_mode & 07777));
            ok = 0;
        }
        char *slash = strrchr(p, '/');
        if (!slash || !strcmp(p, "/")) break;
        if (slash == p) slash[1] = 0; /* "/x" -> "/" */
        else *slash = 0;
    }
    free(p);
    return ok;
}

/* Stop using the cache (an untrusted entry): one warning. */
static void distrust(tool_cache *c, const char *why) {
    warn("class-embedding cache disabled: %s: not trusted (an entry must be yours and writable by no one else, as ssh wants its files): running without it",
         why);
    free(c->dir);
    c->dir = NULL;
}

void cache_open(tool_cache *c, int disabled) {
    memset(c, 0, sizeof *c);
    if (disabled) return;
    char *dir = cache_default_dir();
    if (!dir) {
        warn("class-embedding cache disabled: no location (set CT_CACHE_DIR, XDG_CACHE_HOME or HOME, or pass --no-cache)");
        return;
    }
    ct_error err;
    struct stat sb;
    int existed = stat(dir, &sb) == 0;
    if (!make_dirs(dir, &err)) {
        warn("class-embedding cache disabled: %s (set CT_CACHE_DIR, or pass --no-cache)", err.msg);
        free(dir);
        return;
    }
    if (!existed) chmod(dir, 0700); /* made here: private whatever the umask */
    if (access(dir, R_OK | W_OK | X_OK) != 0) {
        warn("class-embedding cache disabled: cannot write to '%s': %s (set CT_CACHE_DIR, or pass --no-cache)", dir, strerror(errno));
        free(dir);
        return;
    }
    char why[1024];
    if (!trusted_dir(dir, why, sizeof why)) {
        warn("class-embedding cache disabled: %s: not trusted (the cache directory must be yours and writable by no one else, each one above it "
             "root's or yours and writable by no one else unless sticky, as ssh wants; chmod go-w, or set CT_CACHE_DIR, or pass --no-cache)",
             why);
        free(dir);
        return;
    }
    c->dir = dir;
    if (verbose) progress("class-embedding cache: %s", dir);
}

void cache_close(tool_cache *c) {
    if (c->n_damaged) warn("%d damaged class-embedding cache entr%s recomputed and rewritten", c->n_damaged, c->n_damaged == 1 ? "y was" : "ies were");
    free(c->dir);
    memset(c, 0, sizeof *c);
}

/* A whole cache entry of exactly `want` bytes (0: any size up to MAX_ENTRY): regular files only,
 * never through a symlink, never blocking, only when it is this user's and writable by no one
 * else. Returns the bytes read, or -1 (absent), -2 (not a regular file or wrong size: damaged),
 * -3 (another user's, or writable by others: untrusted; why filled). */
static long long read_entry(const char *path, unsigned char **out, size_t want, char *why, size_t cap) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? -1 : -2;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (want && (size_t)sb.st_size != want) || (size_t)sb.st_size > MAX_ENTRY) {
        close(fd);
        return -2;
    }
    if (sb.st_uid != geteuid() || (sb.st_mode & (S_IWGRP | S_IWOTH))) {
        if (sb.st_uid != geteuid()) snprintf(why, cap, "'%s' is owned by uid %ld, not by you (uid %ld)", path, (long)sb.st_uid, (long)geteuid());
        else snprintf(why, cap, "'%s' is writable by %s (mode %04o)", path, sb.st_mode & S_IWOTH ? "others" : "its group", (unsigned)(sb.st_mode & 07777));
        close(fd);
        return -3;
    }
    size_t n = (size_t)sb.st_size, got = 0;
    unsigned char *b = malloc(n ? n : 1);
    while (b && got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!b || got != n) { free(b); return -2; }
    *out = b;
    return (long long)n;
}

static void store(tool_cache *c, const char *path, const void *data, size_t len) {
    if (!c->dir) return;
    ct_error err;
    /* the cache's own entries are plain files: anything else under an entry's name (a FIFO, a
     * device, a link) is removed, never written through as the output rules would (docs/formats.md) */
    struct stat sb;
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) unlink(path);
    if (write_file(path, data, len, &err)) {
        chmod(path, 0644); /* writable by no one else whatever the umask: trusted when read */
        return;
    }
    if (!c->warned_store) warn("cannot write to the class-embedding cache: %s", err.msg);
    c->warned_store = 1;
}

/* ------------------------------------------------------------------ file content hashes */

typedef struct {
    char magic[8];
    uint64_t dev, ino, size, mtime_s, mtime_ns, ctime_s, ctime_ns, content, check;
} file_id;

static void fill_id(file_id *f, const struct stat *sb) {
    memset(f, 0, sizeof *f);
    memcpy(f->magic, FID_MAGIC, 8);
    f->dev = (uint64_t)sb->st_dev;
    f->ino = (uint64_t)sb->st_ino;
    f->size = (uint64_t)sb->st_size;
    f->mtime_s = (uint64_t)sb->st_mtim.tv_sec;
    f->mtime_ns = (uint64_t)sb->st_mtim.tv_nsec;
    f->ctime_s = (uint64_t)sb->st_ctim.tv_sec;
    f->ctime_ns = (uint64_t)sb->st_ctim.tv_nsec;
}

int file_content_hash(tool_cache *c, const char *path, uint64_t *h, ct_error *err) {
    struct stat before, after;
    if (stat(path, &before) != 0) return fail_msg(err, CT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (!S_ISREG(before.st_mode)) return fail_msg(err, CT_ERR_IO, "'%s' is not a regular file", path);
    file_id want;
    fill_id(&want, &before);
    char *id_path = NULL;
    if (c && c->dir) {
        uint64_t k = hash64(&want.dev, 7 * sizeof(uint64_t), 0x66696c652d6964ull);
        char name[40];
        snprintf(name, sizeof name, "%016llx.id", (unsigned long long)k);
        id_path = path_join(c->dir, name);
        unsigned char *b = NULL;
        char why[1400];
        long long n = id_path ? read_entry(id_path, &b, sizeof(file_id), why, sizeof why) : -1;
        if (n == -3) {
            distrust(c, why);
            free(id_path);
            id_path = NULL;
        }
        if (n == (long long)sizeof(file_id)) {
            file_id got;
            memcpy(&got, b, sizeof got);
            if (!memcmp(got.magic, FID_MAGIC, 8) && !memcmp(&got.dev, &want.dev, 7 * sizeof(uint64_t)) &&
                got.check == hash64(&got, offsetof(file_id, check), 0)) {
                free(b);
                free(id_path);
                *h = got.content;
                return 1;
            }
        }
        free(b);
    }
    if (!hash_file(path, h, err)) { free(id_path); return 0; }
    if (id_path && stat(path, &after) == 0) {
        file_id now_id;
        fill_id(&now_id, &after);
        time_t t = time(NULL);
        long long newest = (long long)(after.st_mtim.tv_sec > after.st_ctim.tv_sec ? after.st_mtim.tv_sec : after.st_ctim.tv_sec);
        /* remembered only when the file did not change while hashed and is not "racy" */
        if (!memcmp(&now_id.dev, &want.dev, 7 * sizeof(uint64_t)) && (long long)t - newest > 2) {
            want.content = *h;
            want.check = hash64(&want, offsetof(file_id, check), 0);
            store(c, id_path, &want, sizeof want);
        }
    }
    free(id_path);
    return 1;
}

/* ------------------------------------------------------------------ class embeddings */

static char *key_material(const emb_key *k, const char *name, size_t *len) {
    char *s = xasprintf("model=%016llx vocab=%016llx templates=%016llx precision=%s backend=%d embed_dim=%d name=%s",
                        (unsigned long long)k->model, (unsigned long long)k->vocab, (unsigned long long)k->templates,
                        ct_precision_name(k->precision), (int)k->backend, k->embed_dim, name);
    if (s) *len = strlen(s);
    return s;
}

char *cache_entry_path(const tool_cache *c, const emb_key *k, const char *name) {
    size_t len;
    char *km = key_material(k, name, &len);
    if (!km || !c->dir) { free(km); return NULL; }
    char file[48];
    snprintf(file, sizeof file, "%016llx%016llx.emb", (unsigned long long)hash64(km, len, 1), (unsigned long long)hash64(km, len, 2));
    free(km);
    return path_join(c->dir, file);
}

int cache_get(tool_cache *c, const emb_key *k, const char *name, float *out) {
    if (!c->dir) return 0;
    size_t kl = 0;
    char *km = key_material(k, name, &kl);
    char *path = cache_entry_path(c, k, name);
    size_t want = 8 + 4 + kl + 4 + sizeof(float) * (size_t)k->embed_dim + 8;
    unsigned char *b = NULL;
    char why[1400];
    long long n = km && path ? read_entry(path, &b, 0, why, sizeof why) : -1;
    if (n == -3) {
        distrust(c, why);
        free(km); free(path);
        return 0;
    }
    int r = n == -1 ? 0 : -1;
    if (n >= 0 && (size_t)n == want) {
        uint32_t l, e;
        uint64_t check;
        memcpy(&l, b + 8, 4);
        memcpy(&e, b + 12 + kl, 4);
        memcpy(&check, b + want - 8, 8);
        if (!memcmp(b, EMB_MAGIC, 8) && l == kl && !memcmp(b + 12, km, kl) && e == (uint32_t)k->embed_dim &&
            check == hash64(b, want - 8, 0)) {
            memcpy(out, b + 16 + kl, sizeof(float) * (size_t)k->embed_dim);
            r = 1;
        }
    }
    if (r < 0) c->n_damaged++;
    free(b); free(km); free(path);
    return r;
}

void cache_put(tool_cache *c, const emb_key *k, const char *name, const float *emb) {
    if (!c->dir || c->warned_store) return;
    size_t kl = 0;
    char *km = key_material(k, name, &kl);
    char *path = cache_entry_path(c, k, name);
    size_t len = 8 + 4 + kl + 4 + sizeof(float) * (size_t)k->embed_dim + 8;
    unsigned char *b = km && path ? malloc(len) : NULL;
    if (b) {
        uint32_t l = (uint32_t)kl, e = (uint32_t)k->embed_dim;
        memcpy(b, EMB_MAGIC, 8);
        memcpy(b + 8, &l, 4);
        memcpy(b + 12, km, kl);
        memcpy(b + 12 + kl, &e, 4);
        memcpy(b + 16 + kl, emb, sizeof(float) * (size_t)k->embed_dim);
        uint64_t check = hash64(b, len - 8, 0);
        memcpy(b + len - 8, &check, 8);
        store(c, path, b, len);
    }
    free(b); free(km); free(path);
}
