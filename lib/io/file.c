/* Whole-file reads with a size limit, and all-or-nothing writes (temporary file, fsync, rename,
 * fsync of the directory): a process or machine crash at any point leaves the old file or the new
 * one under the final name, never a part. Devices and FIFOs are written as streams; symbolic
 * links are followed (the link stays, its target is replaced). */
#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

ct_status ct_open_regular(const char *path, int *fd_out, size_t *size, ct_error *err) {
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; regular files ignore it */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return ct_fail(err, CT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ct_fail(err, CT_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) { close(fd); return ct_fail(err, CT_ERR_IO, "'%s' is a directory, not a file", path); }
    if (!S_ISREG(sb.st_mode) || sb.st_size < 0) { close(fd); return ct_fail(err, CT_ERR_IO, "'%s' is not a regular file", path); }
    *fd_out = fd;
    *size = (size_t)sb.st_size;
    return CT_OK;
}

ct_status ct_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *len, ct_error *err) {
    if (!path || !out || !len) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_read_file: NULL argument");
    int fd;
    size_t n;
    ct_status st = ct_open_regular(path, &fd, &n, err);
    if (st) return st;
    if (n > max_bytes) {
        close(fd);
        return ct_fail(err, CT_ERR_TOO_LARGE, "'%s' is %zu bytes, above the %zu-byte limit for this kind of file", path, n, max_bytes);
    }
    uint8_t *buf = malloc(n + 1);
    if (!buf) { close(fd); return ct_fail(err, CT_ERR_NOMEM, "out of memory reading '%s' (%zu bytes)", path, n); }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            free(buf);
            close(fd);
            return ct_fail(err, CT_ERR_IO, "short read on '%s'%s%s", path, e ? ": " : " (file changed while reading)", e ? strerror(e) : "");
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return CT_OK;
}

static uint64_t os_random(void *ctx, int attempt) {
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)ctx ^ (uint64_t)attempt;
    return r;
}

/* The file a path finally names: symbolic links followed one by one (relative ones against the
 * directory of the link), at most 40 of them (as the kernel). The last name need not exist (a
 * dangling link names the file to create). *out is allocated; *sb receives the final name's
 * lstat, or st_mode 0 when it does not exist. */
static ct_status resolve_links(const char *path, char **out, struct stat *sb, ct_error *err) {
    char *cur = strdup(path);
    if (!cur) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    for (int hop = 0;; hop++) {
        if (lstat(cur, sb) != 0) {
            int e = errno;
            if (e != ENOENT) { free(cur); return ct_fail(err, CT_ERR_IO, "cannot write '%s': %s", path, strerror(e)); }
            memset(sb, 0, sizeof *sb);
            break;
        }
        if (!S_ISLNK(sb->st_mode)) break;
        if (hop == 40) { free(cur); return ct_fail(err, CT_ERR_IO, "cannot write '%s': %s", path, strerror(ELOOP)); }
        size_t cap = sb->st_size > 0 ? (size_t)sb->st_size + 1 : 4096;
        if (cap > 65536) cap = 65536;
        char *target = malloc(cap);
        ssize_t n = target ? readlink(cur, target, cap) : -1;
        if (n < 0 || (size_t)n >= cap) {
            int e = !target ? ENOMEM : n < 0 ? errno : ENAMETOOLONG;
            free(target); free(cur);
            return ct_fail(err, e == ENOMEM ? CT_ERR_NOMEM : CT_ERR_IO, "cannot follow the link '%s': %s", path, strerror(e));
        }
        target[n] = 0;
        const char *slash = strrchr(cur, '/');
        size_t dl = target[0] == '/' || !slash ? 0 : (size_t)(slash - cur + 1);
        char *next = malloc(dl + (size_t)n + 1);
        if (next) { memcpy(next, cur, dl); memcpy(next + dl, target, (size_t)n + 1); }
        free(target); free(cur);
        if (!next) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
        cur = next;
    }
    *out = cur;
    return CT_OK;
}

static void atomic_clear(ct_atomic_file *a) {
    free(a->dst); free(a->tmp);
    memset(a, 0, sizeof *a);
}

/* A device or FIFO: written in place, as a stream. */
static ct_status open_stream(ct_atomic_file *a, const char *path, ct_error *err) {
    int fd = open(a->dst, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        atomic_clear(a);
        return ct_fail(err, CT_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    a->f = fdopen(fd, "wb");
    if (!a->f) { close(fd); atomic_clear(a); return ct_fail(err, CT_ERR_NOMEM, "out of memory"); }
    a->stream = 1;
    return CT_OK;
}

ct_status ct_atomic_open_with(ct_atomic_file *a, const char *path, uint64_t (*rnd)(void *ctx, int attempt), void *ctx, ct_error *err) {
    memset(a, 0, sizeof *a);
    if (!path || !*path) return ct_fail(err, CT_ERR_INVALID_ARG, "empty output path");
    if (path[strlen(path) - 1] == '/') return ct_fail(err, CT_ERR_INVALID_ARG, "output path '%s' names a directory", path);
    struct stat sb;
    /* what the path finally names, links followed by the kernel: a device or FIFO (also through
     * /dev/stdout -> /proc/self/fd/1 -> pipe:[...], which names no file) is opened as it is */
    if (stat(path, &sb) == 0 && (S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) || S_ISFIFO(sb.st_mode))) {
        if (!(a->dst = strdup(path))) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
        return open_stream(a, path, err);
    }
    ct_status st = resolve_links(path, &a->dst, &sb, err);
    if (st) return st;
    if (S_ISDIR(sb.st_mode)) { atomic_clear(a); return ct_fail(err, CT_ERR_IO, "cannot write '%s': it is a directory", path); }
    if (S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) || S_ISFIFO(sb.st_mode)) return open_stream(a, path, err);
    if (sb.st_mode && !S_ISREG(sb.st_mode)) { atomic_clear(a); return ct_fail(err, CT_ERR_IO, "cannot write '%s': not a regular file, device or FIFO", path); }
    size_t pl = strlen(a->dst);
    const char *slash = strrchr(a->dst, '/');
    size_t dl = slash ? (size_t)(slash - a->dst + 1) : 0;
    if (dl == pl) { atomic_clear(a); return ct_fail(err, CT_ERR_INVALID_ARG, "output path '%s' names a directory", path); }
    a->tmp = malloc(pl + 32);
    if (!a->tmp) { atomic_clear(a); return ct_fail(err, CT_ERR_NOMEM, "out of memory"); }
    for (int attempt = 0; attempt < 64; attempt++) {
        /* ".<name>.<random>.tmp" beside the destination: same file system, so rename is atomic;
         * O_EXCL | O_NOFOLLOW: a file or link planted at that name is never written through */
        snprintf(a->tmp, pl + 32, "%.*s.%s.%012llx.tmp", (int)dl, a->dst, a->dst + dl, (unsigned long long)(rnd(ctx, attempt) & 0xffffffffffffull));
        int fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
        if (fd < 0 && errno == EEXIST) continue;
        if (fd < 0) {
            int e = errno;
            atomic_clear(a);
            return ct_fail(err, e == ENOMEM ? CT_ERR_NOMEM : CT_ERR_IO, "cannot write '%s': %s", path, strerror(e));
        }
        /* the replaced file's permission bits (a new file: 0666 less the umask) */
        if (sb.st_mode && fchmod(fd, sb.st_mode & 0777) != 0) {
            int e = errno;
            close(fd);
            unlink(a->tmp);
            atomic_clear(a);
            return ct_fail(err, CT_ERR_IO, "cannot write '%s': cannot keep its mode: %s", path, strerror(e));
        }
        a->f = fdopen(fd, "wb");
        if (!a->f) {
            close(fd);
            unlink(a->tmp);
            atomic_clear(a);
            return ct_fail(err, CT_ERR_NOMEM, "out of memory");
        }
        return CT_OK;
    }
    atomic_clear(a);
    return ct_fail(err, CT_ERR_IO, "cannot create a temporary file beside '%s': every name tried exists", path);
}

ct_status ct_atomic_open(ct_atomic_file *a, const char *path, ct_error *err) { return ct_atomic_open_with(a, path, os_random, a, err); }

void ct_atomic_write(ct_atomic_file *a, const void *p, size_t n) {
    if (!a->failed && n && fwrite(p, 1, n, a->f) != n) a->failed = errno ? errno : EIO;
}

void ct_atomic_abort(ct_atomic_file *a) {
    if (a->f) fclose(a->f);
    if (a->tmp) unlink(a->tmp);
    atomic_clear(a);
}

/* fsync of the directory holding path (the rename in it); a file system that cannot sync a
 * directory (EINVAL) is not an error */
static int sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return errno;
    int e = fsync(fd) != 0 && errno != EINVAL && errno != EROFS ? errno : 0;
    close(fd);
    return e;
}

ct_status ct_atomic_commit(ct_atomic_file *a, ct_error *err) {
    int e = a->failed;
    if (!e && fflush(a->f) != 0) e = errno ? errno : EIO;
    /* the data on disk before the name points at it: a crash leaves the old file or the new one */
    if (!e && !a->stream && fsync(fileno(a->f)) != 0) e = errno ? errno : EIO;
    int c = fclose(a->f);
    a->f = NULL;
    if (!e && c != 0) e = errno ? errno : EIO;
    if (!e && !a->stream && rename(a->tmp, a->dst) != 0) e = errno;
    if (!e && !a->stream) e = sync_dir(a->dst);
    if (e) {
        ct_status st = ct_fail(err, CT_ERR_IO, "cannot write '%s': %s", a->dst, strerror(e));
        ct_atomic_abort(a);
        return st;
    }
    atomic_clear(a);
    return CT_OK;
}

ct_status ct_write_file_atomic(const char *path, const void *data, size_t len, ct_error *err) {
    ct_atomic_file a;
    ct_status st = ct_atomic_open(&a, path, err);
    if (st) return st;
    ct_atomic_write(&a, data, len);
    return ct_atomic_commit(&a, err);
}

/* ------------------------------------------------------------------ the public output files */

struct ct_output {
    ct_atomic_file a;
};

ct_status ct_output_open(const char *path, ct_output **out, ct_error *err) {
    if (!out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_output_open: NULL argument");
    ct_output *o = calloc(1, sizeof *o);
    if (!o) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_atomic_open(&o->a, path, err);
    if (st) { free(o); return st; }
    *out = o;
    return ct_ok(err);
}

void ct_output_write(ct_output *o, const void *data, size_t len) {
    if (o && (data || !len)) ct_atomic_write(&o->a, data, len);
    else if (o) o->a.failed = EINVAL;
}

ct_status ct_output_commit(ct_output *o, ct_error *err) {
    if (!o) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_output_commit: NULL argument");
    ct_status st = ct_atomic_commit(&o->a, err);
    free(o);
    return st ? st : ct_ok(err);
}

void ct_output_abort(ct_output *o) {
    if (!o) return;
    ct_atomic_abort(&o->a);
    free(o);
}
