/* Messages of the command-line tools: the tool's name (from argv[0]), progress, warnings, the
 * one-line usage / runtime errors and their exit statuses, and a progress line for long loops. */
#ifndef CT_TOOLS_MSG_H
#define CT_TOOLS_MSG_H

#include <stdio.h>

extern const char *tool_name; /* prefix of every message: basename of argv[0] */
extern int quiet, verbose;

/* tool_name = basename(argv0), or `fallback` when argv0 is NULL or empty */
void tool_init(const char *argv0, const char *fallback);

/* "<tool>: message" on stderr unless quiet */
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<tool>: warning: message" on stderr (also when quiet) */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line on stderr and the exit status: 1 (a usage error, the line says "see --help") or 2. */
int tool_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define usage_error(...) tool_error(1, __VA_ARGS__)
#define runtime_error(...) tool_error(2, __VA_ARGS__)
double now(void);

/* A progress line for a loop of `total` steps: on a terminal one line rewritten in place with
 * the count and the time left; elsewhere a line at most every 10 s. Silent when quiet. */
typedef struct {
    double t0, last;
    long total;
    int tty, drawn;
    const char *what;
} progress_line;

void progress_start(progress_line *p, const char *what, long total);
void progress_step(progress_line *p, long done);
void progress_end(progress_line *p);

/* Flush and close stdout; on a write error (a full disk, a closed pipe) print it and return 2,
 * else 0. Call last in main for tools whose output is stdout. */
int close_stdout(void);

#endif
