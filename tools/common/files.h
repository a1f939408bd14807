/* Files for the tools: whole-file reads (regular files only, never blocking on a FIFO), output
 * files that appear complete or not at all (the library's ct_output: a temporary file renamed
 * over the destination once every write, the flush and the close succeeded) or standard output,
 * directories, and checks of output paths made before any work. Errors are reported in a
 * ct_error (status and one-line message). */
#ifndef CT_TOOLS_FILES_H
#define CT_TOOLS_FILES_H

#include "cliptrase.h"

#include <stdarg.h>
#include <stdio.h>

/* Fill err (may be NULL) and return 0. */
int fail_msg(ct_error *err, ct_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int fail_msgv(ct_error *err, ct_status st, const char *fmt, va_list ap);

/* "dir/name" on the heap (dir "" or NULL: name alone); NULL when out of memory */
char *path_join(const char *dir, const char *name);
/* The directory part of path ("." when there is none), on the heap. */
char *path_dir(const char *path);

/* Read a whole regular file of at most max_bytes (NUL added after the data). */
int read_file(const char *path, size_t max_bytes, char **out, size_t *len, ct_error *err);
/* Non-zero when path names an existing regular file. */
int is_file(const char *path);

/* Non-zero when a and b name the same file: the same device and inode when either exists
 * (symlinks followed), else the same name in the same directory. */
int same_file(const char *a, const char *b);
/* No output (out[k], NULL entries ignored) is the same file as an input or as another output;
 * the messages name the options (in_what, out_what). */
int check_distinct(const char *const *in, const char *const *in_what, int n_in, const char *const *out, const char *const *out_what, int n_out,
                   ct_error *err);
/* A lock (fcntl: F_WRLCK, F_RDLCK, or F_UNLCK to release) on bytes [start, start + len) of fd's
 * file (len 0: to the end), held until released or until the process closes any descriptor of
 * the file or exits; fcntl locks also work on NFS. 1: done; 0: another process holds a
 * conflicting lock (*holder, may be NULL: its pid, 0 when unknown); -1: an error (errno). */
int lock_range(int fd, int type, long long start, long long len, long *holder);
/* Non-zero when err is a write that failed because the disk, a quota or the file-size limit is
 * full (ENOSPC, EDQUOT, EFBIG in the message): the next writes would fail too. */
int io_full(const ct_error *err);

/* mkdir -p (mode 0755); 1 when the directory exists afterwards. */
int make_dirs(const char *dir, ct_error *err);
/* An output file can be created at `path`: not empty, not a directory, its directory exists and
 * is writable. `what` names the option in messages ("-o"). */
int check_output(const char *path, const char *what, ct_error *err);
/* A directory that exists or can be created, and is writable. */
int check_output_dir(const char *dir, const char *what, ct_error *err);

typedef struct {
    ct_output *o;    /* a file (the library's all-or-nothing output), or NULL for standard output */
    int failed;      /* standard output: errno of the first failed write */
} out_file;

/* Open an output; path "-" is standard output when allow_stdout. */
int out_open(out_file *o, const char *path, int allow_stdout, ct_error *err);
void out_write(out_file *o, const void *p, size_t n);
void out_printf(out_file *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Flush, close, rename; on any failure the temporary file is removed, the destination is
 * untouched and 0 is returned. */
int out_commit(out_file *o, ct_error *err);
/* Give up: remove the temporary file. */
void out_abort(out_file *o);
/* A whole buffer as one output file. */
int write_file(const char *path, const void *data, size_t len, ct_error *err);

#endif
