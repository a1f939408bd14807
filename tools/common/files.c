/* Whole-file reads, all-or-nothing output files, directories, output checks. */
#include "common/files.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
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
    uint8_t *buf = NULL;
    if (ct_read_file(path, max_bytes, &buf, len, err)) return 0;
    *out = (char *)buf;
    return 1;
}

int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea || eb) return ea && eb && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    /* neither exists yet: the same name in the same directory */
    char *da = path_dir(a), *db = path_dir(b);
    const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
    ba = ba ? ba + 1 : a;
    bb = bb ? bb + 1 : b;
    int same = da && db && !strcmp(ba, bb) && stat(da, &sa) == 0 && stat(db, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    free(da);
    free(db);
    return same;
}

int check_distinct(const char *const *in, const char *const *in_what, int n_in, const char *const *out, const char *const *out_what, int n_out,
                   ct_error *err) {
    for (int k = 0; k < n_out; k++) {
        if (!out[k]) continue;
        for (int i = 0; i < n_in; i++)
            if (in[i] && same_file(out[k], in[i]))
                return fail_msg(err, CT_ERR_INVALID_ARG, "%s '%s' is the same file as %s '%s': it would be overwritten", out_what[k], out[k],
                                in_what[i], in[i]);
        for (int j = 0; j < k; j++)
            if (out[j] && same_file(out[k], out[j]))
                return fail_msg(err, CT_ERR_INVALID_ARG, "%s '%s' and %s '%s' are the same file: give each output its own name", out_what[j], out[j],
                                out_what[k], out[k]);
    }
    return 1;
}

int lock_range(int fd, int type, long long start, long long len, long *holder) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = (short)type;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)start;
    fl.l_len = (off_t)len;
    if (holder) *holder = 0;
    if (fcntl(fd, F_SETLK, &fl) == 0) return 1;
    if (errno != EAGAIN && errno != EACCES) return -1;
    fl.l_type = (short)type;
    if (holder && fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) *holder = (long)fl.l_pid;
    return 0;
}

int io_full(const ct_error *err) {
    static const int full[3] = {ENOSPC, EDQUOT, EFBIG};
    if (err->status != CT_ERR_IO) return 0;
    for (int k = 0; k < 3; k++)
        if (strstr(err->msg, strerror(full[k]))) return 1;
    return 0;
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

int out_open(out_file *o, const char *path, int allow_stdout, ct_error *err) {
    memset(o, 0, sizeof *o);
    if (!path || !*path) return fail_msg(err, CT_ERR_INVALID_ARG, "empty output path");
    if (allow_stdout && !strcmp(path, "-")) return 1;
    return ct_output_open(path, &o->o, err) == CT_OK;
}

void out_write(out_file *o, const void *p, size_t n) {
    if (o->o) {
        ct_output_write(o->o, p, n);
        return;
    }
    if (o->failed || !n) return;
    errno = 0;
    if (fwrite(p, 1, n, stdout) != n) o->failed = errno ? errno : EIO;
}

void out_printf(out_file *o, const char *fmt, ...) {
    char small[512], *buf = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof small && (buf = malloc((size_t)n + 1))) {
        va_start(ap, fmt);
        vsnprintf(buf, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    if (n < 0 || !buf) { /* a formatting error or no memory: the commit reports it */
        if (o->o) ct_output_write(o->o, NULL, 1);
        else if (!o->failed) o->failed = n < 0 ? EINVAL : ENOMEM;
    } else {
        out_write(o, buf, (size_t)n);
    }
    if (buf != small) free(buf);
}

void out_abort(out_file *o) {
    ct_output_abort(o->o);
    memset(o, 0, sizeof *o);
}

int out_commit(out_file *o, ct_error *err) {
    if (o->o) {
        ct_status st = ct_output_commit(o->o, err);
        memset(o, 0, sizeof *o);
        return st == CT_OK;
    }
    int e = o->failed;
    if (!e && fflush(stdout) != 0) e = errno ? errno : EIO;
    if (!e && ferror(stdout)) e = EIO;
    memset(o, 0, sizeof *o);
    if (e) return fail_msg(err, CT_ERR_IO, "cannot write to standard output: %s", strerror(e));
    return 1;
}

int write_file(const char *path, const void *data, size_t len, ct_error *err) {
    out_file o;
    if (!out_open(&o, path, 0, err)) return 0;
    out_write(&o, data, len);
    return out_commit(&o, err);
}
