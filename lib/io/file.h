/* Files: whole-file reading with limits, and writing that is all-or-nothing. */
#ifndef CT_IO_FILE_H
#define CT_IO_FILE_H

#include "core/internal.h"

#include <stdio.h>

/* Open a regular file for reading (not a directory, FIFO or device; a FIFO never blocks the open):
 * *fd and its size, or CT_ERR_IO with a message that says what the path is. */
ct_status ct_open_regular(const char *path, int *fd, size_t *size, ct_error *err);
/* ct_read_file is public (cliptrase.h). */

/* A file written all-or-nothing: under a temporary name in the destination's directory (created
 * with O_EXCL, never through a symlink, with the replaced file's permission bits), fsync'ed,
 * renamed over the destination only when every write, the flush, the sync and the close
 * succeeded, then the directory fsync'ed. A destination that is a symbolic link is followed
 * (chains and relative links too; a dangling link: its target is created) and the link kept. A
 * character or block device or a FIFO is written in place as a stream (no temporary file, no
 * rename); a failed write is still reported by the commit. */
typedef struct {
    FILE *f;
    char *tmp, *dst; /* dst: the destination after following links; tmp NULL for a stream */
    int failed;      /* set by a failed write; commit then refuses */
    int stream;      /* a device or FIFO, written in place */
} ct_atomic_file;

ct_status ct_atomic_open(ct_atomic_file *a, const char *path, ct_error *err);
/* The same with the temporary names' random part from rnd (tests plant files at known names). */
ct_status ct_atomic_open_with(ct_atomic_file *a, const char *path, uint64_t (*rnd)(void *ctx, int attempt), void *ctx, ct_error *err);
/* fwrite that records failure */
void ct_atomic_write(ct_atomic_file *a, const void *p, size_t n);
/* flush, sync, close, rename, sync the directory; on any failure the temporary file is removed
 * and dst is untouched (a stream: flush and close, the failure reported) */
ct_status ct_atomic_commit(ct_atomic_file *a, ct_error *err);
/* give up: remove the temporary file */
void ct_atomic_abort(ct_atomic_file *a);
/* The whole buffer as one atomic file. */
ct_status ct_write_file_atomic(const char *path, const void *data, size_t len, ct_error *err);

#endif
