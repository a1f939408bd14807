/* Whole-file reads, all-or-nothing output files, directories, output checks. */
#include "common/files.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int fail_msgv(ct_error *err, ct_status st, const char *fmt, va_list ap) {
    if (err) {
        err->status = st;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return 0;
}

int fail_msg(ct_error *err, ct_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_msgv(err, st, fmt, ap);
    va_end(ap);
    return 0;
}

char *path_join(const char *dir, const char *name) {
    if (!dir || !*dir) return xasprintf("%s", name);
    size_t dl = strlen(dir);
    return xasprintf("%s%s%s", dir, dir[dl - 1] == '/' ? "" : "/", name);
}

char *path_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xasprintf(".");
    if (slash == path) return xasprintf("/");
    return xasprintf("%.*s", (int)(slash - path), path);
}

int read_file(const char *path, size_t max_bytes, char **out, size_t *len, ct_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fail_msg(err, CT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        if (S_ISDIR(sb.st_mode)) return fail_msg(err, CT_ERR_IO, "'%s' is a directory, not a file", path);
        return fail_msg(err, CT_ERR_IO, "'%s' is not a regular file%s%s", path, e ? ": " : "", e ? strerror(e) : "");
    }
    if ((unsigned long long)sb.st_size > max_bytes) {
        close(fd);
        return fail_msg(err, CT_ERR_TOO_LARGE, "'%s' is %lld bytes, above the limit of %zu", path, (long long)sb.st_size, max_bytes);
    }
    size_t n = (size_t)sb.st_size, got = 0;
    char *buf = malloc(n + 1);
    if (!buf) { close(fd); return fail_msg(err, CT_ERR_NOMEM, "out of memory reading '%s'", path); }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            free(buf);
            close(fd);
            return fail_msg(err, CT_ERR_IO, "cannot read '%s': %s", path, e ? strerror(e) : "file shrank while reading");
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 1;
}

int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int make_dirs(const char *dir, ct_error *err) {
    char *tmp = xasprintf("%s", dir);
    if (!tmp) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    int ok = 1;
    for (char *p = tmp + 1; ok && *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) ok = fail_msg(err, CT_ERR_IO, "cannot create directory '%s': %s", tmp, strerror(errno));
        *p = '/';
    }
    if (ok && mkdir(tmp, 0755) != 0 && errno != EEXIST) ok = fail_msg(err, CT_ERR_IO, "cannot create directory '%s': %s", tmp, strerror(errno));
    struct stat sb;
    if (ok && stat(tmp, &sb) != 0) ok = fail_msg(err, CT_ERR_IO, "cannot use directory '%s': %s", tmp, strerror(errno));
    else if (ok && !S_ISDIR(sb.st_mode)) ok = fail_msg(err, CT_ERR_IO, "'%s' is not a directory", tmp);
    free(tmp);
    return ok;
}

int check_output(const char *path, const char *what, ct_error *err) {
    if (!path || !*path) return fail_msg(err, CT_ERR_INVALID_ARG, "%s needs a file name, not an empty string", what);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return fail_msg(err, CT_ERR_INVALID_ARG, "%s '%s' is a directory", what, path);
    size_t n = strlen(path);
    if (path[n - 1] == '/') return fail_msg(err, CT_ERR_INVALID_ARG, "%s '%s' names a directory, not a file", what, path);
    char *dir = path_dir(path);
    if (!dir) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    int ok = 1;
    if (stat(dir, &sb) != 0) ok = fail_msg(err, CT_ERR_IO, "%s '%s': directory '%s': %s", what, path, dir, strerror(errno));
    else if (!S_ISDIR(sb.st_mode)) ok = fail_msg(err, CT_ERR_IO, "%s '%s': '%s' is not a directory", what, path, dir);
    else if (access(dir, W_OK | X_OK) != 0) ok = fail_msg(err, CT_ERR_IO, "%s '%s': directory '%s': %s", what, path, dir, strerror(errno));
    free(dir);
    return ok;
}

int check_output_dir(const char *dir, const char *what, ct_error *err) {
    if (!dir || !*dir) return fail_msg(err, CT_ERR_INVALID_ARG, "%s needs a directory name, not an empty string", what);
    ct_error e2;
    if (!make_dirs(dir, &e2)) return fail_msg(err, CT_ERR_IO, "%s: %s", what, e2.msg);
    if (access(dir, W_OK | X_OK) != 0) return fail_msg(err, CT_ERR_IO, "%s '%s': %s", what, dir, strerror(errno));
    return 1;
}

static unsigned long long os_random(void) {
    unsigned long long r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = ((unsigned long long)getpid() << 32) ^ (unsigned long long)clock();
    return r;
}

unsigned long long (*out_random)(void) = os_random;

/* the temporary file: created exclusively, never through a symlink; -1 with errno on failure */
static int create_tmp(out_file *o, const char *dir_part, int dir_len, const char *base) {
    for (int attempt = 0; attempt < 64; attempt++) {
        /* ".<name>.<random>.tmp" beside the destination: the same file system, so rename is atomic;
         * O_EXCL | O_NOFOLLOW: a file or symlink planted at that name is never written through */
        free(o->tmp);
        o->tmp = xasprintf("%.*s.%s.%012llx.tmp", dir_len, dir_part, base, out_random() & 0xffffffffffffull);
        if (!o->tmp) { errno = ENOMEM; return -1; }
        int fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

int out_open(out_file *o, const char *path, int allow_stdout, ct_error *err) {
    memset(o, 0, sizeof *o);
    if (!path || !*path) return fail_msg(err, CT_ERR_INVALID_ARG, "empty output path");
    if (allow_stdout && !strcmp(path, "-")) {
        o->f = stdout;
        return 1;
    }
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    if (!*base) return fail_msg(err, CT_ERR_INVALID_ARG, "output path '%s' names a directory", path);
    int fd = (o->dst = xasprintf("%s", path)) ? create_tmp(o, path, (int)(base - path), base) : (errno = ENOMEM, -1);
    if (fd >= 0 && !(o->f = fdopen(fd, "wb"))) {
        close(fd);
        unlink(o->tmp);
        fd = -1;
        errno = ENOMEM;
    }
    if (fd >= 0) return 1;
    int e = errno;
    free(o->tmp); free(o->dst);
    memset(o, 0, sizeof *o);
    if (e == EEXIST) return fail_msg(err, CT_ERR_IO, "cannot create a temporary file beside '%s': every name tried exists", path);
    return fail_msg(err, e == ENOMEM ? CT_ERR_NOMEM : CT_ERR_IO, "cannot write '%s': %s", path, strerror(e));
}

void out_write(out_file *o, const void *p, size_t n) {
    if (o->failed || !n) return;
    errno = 0;
    if (fwrite(p, 1, n, o->f) != n) o->failed = errno ? errno : EIO;
}

void out_printf(out_file *o, const char *fmt, ...) {
    if (o->failed) return;
    va_list ap;
    va_start(ap, fmt);
    errno = 0;
    if (vfprintf(o->f, fmt, ap) < 0) o->failed = errno ? errno : EIO;
    va_end(ap);
}

void out_abort(out_file *o) {
    if (o->f && o->f != stdout) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp); free(o->dst);
    memset(o, 0, sizeof *o);
}

int out_commit(out_file *o, ct_error *err) {
    int e = o->failed;
    if (!e && fflush(o->f) != 0) e = errno ? errno : EIO;
    if (!e && ferror(o->f)) e = EIO;
    if (o->f == stdout) {
        memset(o, 0, sizeof *o);
        if (e) return fail_msg(err, CT_ERR_IO, "cannot write to standard output: %s", strerror(e));
        return 1;
    }
    int c = fclose(o->f);
    o->f = NULL;
    if (!e && c != 0) e = errno ? errno : EIO;
    if (!e && rename(o->tmp, o->dst) != 0) e = errno;
    if (e) {
        fail_msg(err, CT_ERR_IO, "cannot write '%s': %s", o->dst, strerror(e));
        out_abort(o);
        return 0;
    }
    free(o->tmp); free(o->dst);
    memset(o, 0, sizeof *o);
    return 1;
}

int write_file(const char *path, const void *data, size_t len, ct_error *err) {
    out_file o;
    if (!out_open(&o, path, 0, err)) return 0;
    out_write(&o, data, len);
    return out_commit(&o, err);
}
