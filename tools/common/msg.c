/* Messages, exit statuses, progress lines. */
#include "common/msg.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *tool_name = "cliptrase";
int quiet, verbose;

void tool_init(const char *argv0, const char *fallback) {
    tool_name = fallback;
    if (!argv0 || !*argv0) return;
    const char *slash = strrchr(argv0, '/');
    const char *base = slash ? slash + 1 : argv0;
    if (*base) tool_name = base;
}

static void vline(const char *prefix, const char *fmt, va_list ap, const char *suffix) {
    fprintf(stderr, "%s: %s", tool_name, prefix);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "%s\n", suffix);
}

void progress(const char *fmt, ...) {
    if (quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vline("", fmt, ap, "");
    va_end(ap);
}

void warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline("warning: ", fmt, ap, "");
    va_end(ap);
}

int tool_error(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline("", fmt, ap, status == 1 ? " (see --help)" : "");
    va_end(ap);
    return status;
}

double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_start(progress_line *p, const char *what, long total) {
    memset(p, 0, sizeof *p);
    p->t0 = p->last = now();
    p->total = total;
    p->what = what;
    p->tty = isatty(STDERR_FILENO);
}

void progress_step(progress_line *p, long done) {
    if (quiet || p->total <= 0) return;
    double t = now();
    if (t - p->last < (p->tty ? 0.25 : 10.0) && done < p->total) return;
    p->last = t;
    double el = t - p->t0, left = done > 0 ? el * (double)(p->total - done) / (double)done : 0;
    if (p->tty) {
        fprintf(stderr, "\r%s: %s: %ld/%ld (%.0f s, about %.0f s left)\033[K", tool_name, p->what, done, p->total, el, left);
        p->drawn = 1;
    } else if (done < p->total) {
        fprintf(stderr, "%s: %s: %ld/%ld (%.0f s, about %.0f s left)\n", tool_name, p->what, done, p->total, el, left);
    }
    fflush(stderr);
}

void progress_end(progress_line *p) {
    if (p->drawn) fprintf(stderr, "\r\033[K");
    p->drawn = 0;
}

int close_stdout(void) {
    int e = 0;
    if (fflush(stdout) != 0) e = errno ? errno : EIO;
    if (ferror(stdout) && !e) e = EIO;
    if (fclose(stdout) != 0 && !e) e = errno ? errno : EIO;
    if (e) return runtime_error("error writing to standard output: %s", strerror(e));
    return 0;
}
