/* .npy files: magic, version, header length, a Python dict literal, then raw data. */
#include "npy.h"
#include "common/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ct_status fail(ct_error *err, ct_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static ct_status fail(ct_error *err, ct_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_msgv(err, s, fmt, ap);
    va_end(ap);
    return s;
}

static ct_status succeed(ct_error *err) {
    if (err) { err->status = CT_OK; err->msg[0] = 0; }
    return CT_OK;
}

void npy_free(npy_array *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

ct_status npy_load(const char *path, npy_array *out, ct_error *err) {
    if (!path || !out) return fail(err, CT_ERR_INVALID_ARG, "npy_load: NULL argument");
    /* a regular file only: a FIFO must not block, a directory is no array */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return fail(err, CT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) { close(fd); return fail(err, CT_ERR_IO, "'%s' is not a regular file", path); }
    FILE *f = fdopen(fd, "rb");
    if (!f) { close(fd); return fail(err, CT_ERR_NOMEM, "out of memory"); }
    uint8_t pre[12];
    ct_status st = CT_OK;
    char *hdr = NULL;
    npy_array a;
    memset(&a, 0, sizeof a);
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) { st = fail(err, CT_ERR_FORMAT, "'%s' is not a .npy file", path); goto done; }
    size_t hl;
    if (pre[6] == 1) hl = pre[8] | (pre[9] << 8);
    else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) { st = fail(err, CT_ERR_FORMAT, "'%s': truncated header", path); goto done; }
        hl = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)pre[10] << 16) | ((size_t)pre[11] << 24);
        if (hl > (1u << 20)) { st = fail(err, CT_ERR_FORMAT, "'%s': header too long", path); goto done; }
    } else { st = fail(err, CT_ERR_UNSUPPORTED, "'%s': .npy version %d", path, pre[6]); goto done; }
    hdr = malloc(hl + 1);
    if (!hdr || fread(hdr, 1, hl, f) != hl) { st = fail(err, CT_ERR_FORMAT, "'%s': truncated header", path); goto done; }
    hdr[hl] = 0;
    if (strstr(hdr, "'<f4'")) a.is_int = 0;
    else if (strstr(hdr, "'<i4'")) a.is_int = 1;
    else { st = fail(err, CT_ERR_UNSUPPORTED, "'%s': only <f4 and <i4 arrays are supported", path); goto done; }
    if (strstr(hdr, "'fortran_order': True")) { st = fail(err, CT_ERR_UNSUPPORTED, "'%s': Fortran order", path); goto done; }
    char *sh = strstr(hdr, "'shape':");
    char *lp = sh ? strchr(sh, '(') : NULL, *rp = lp ? strchr(lp, ')') : NULL;
    if (!rp) { st = fail(err, CT_ERR_FORMAT, "'%s': no shape in header", path); goto done; }
    a.numel = 1;
    for (char *p = lp + 1; p < rp;) {
        while (p < rp && (*p == ' ' || *p == ',')) p++;
        if (p >= rp) break;
        char *e;
        long long v = strtoll(p, &e, 10);
        if (e == p || v < 0 || a.ndim >= NPY_MAX_DIMS) { st = fail(err, CT_ERR_FORMAT, "'%s': bad shape", path); goto done; }
        a.shape[a.ndim++] = v;
        if (__builtin_mul_overflow(a.numel, (size_t)v, &a.numel)) { st = fail(err, CT_ERR_FORMAT, "'%s': shape overflows", path); goto done; }
        p = e;
    }
    size_t nbytes;
    long here = ftell(f);
    if (__builtin_mul_overflow(a.numel, (size_t)4, &nbytes) || here < 0 || (uint64_t)sb.st_size - (uint64_t)here != nbytes) {
        st = fail(err, CT_ERR_FORMAT, "'%s': the data is %lld bytes, the shape needs %zu x 4", path, (long long)sb.st_size - here, a.numel);
        goto done;
    }
    a.data = malloc(nbytes ? nbytes : 1);
    if (!a.data) { st = fail(err, CT_ERR_NOMEM, "'%s': out of memory", path); goto done; }
    if (fread(a.data, 4, a.numel, f) != a.numel) { st = fail(err, CT_ERR_FORMAT, "'%s': truncated data", path); goto done; }
done:
    fclose(f);
    free(hdr);
    if (st) { free(a.data); return st; }
    *out = a;
    return succeed(err);
}

ct_status npy_save(const char *path, const void *data, int is_int, int ndim, const int64_t *shape, ct_error *err) {
    if (!path || (!data && ndim) || ndim < 0 || ndim > NPY_MAX_DIMS) return fail(err, CT_ERR_INVALID_ARG, "npy_save: bad argument");
    char dict[256];
    int o = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", is_int ? "<i4" : "<f4");
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(numel, (size_t)shape[i], &numel) || numel > SIZE_MAX / 4)
            return fail(err, CT_ERR_INVALID_ARG, "npy_save: bad shape");
        o += snprintf(dict + o, sizeof dict - (size_t)o, "%lld,%s", (long long)shape[i], (ndim > 1 && i < ndim - 1) ? " " : "");
    }
    o += snprintf(dict + o, sizeof dict - (size_t)o, "), }");
    /* pad so that magic + header is a multiple of 64, ending in '\n' */
    int total = 10 + o + 1;
    int pad = (64 - total % 64) % 64;
    uint16_t hl = (uint16_t)(o + pad + 1);
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)hl, (uint8_t)(hl >> 8)};
    char spaces[64];
    memset(spaces, ' ', sizeof spaces);
    out_file of;
    ct_error e2;
    if (!out_open(&of, path, 0, &e2)) return fail(err, e2.status, "%s", e2.msg);
    out_write(&of, pre, 10);
    out_write(&of, dict, (size_t)o);
    out_write(&of, spaces, (size_t)pad);
    out_write(&of, "\n", 1);
    out_write(&of, data, numel * 4);
    if (!out_commit(&of, &e2)) return fail(err, e2.status, "%s", e2.msg);
    return succeed(err);
}
