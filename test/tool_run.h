/* Running the command-line tools from a test: a bash command with its standard output and error
 * captured (the whole command: a chain `a && b` included), its exit status and peak resident
 * size, and fresh directories under the test's private temporary directory. */
#ifndef CT_TEST_TOOL_RUN_H
#define CT_TEST_TOOL_RUN_H

#include "harness.h"
#include "common/files.h"
#include "common/text.h"

#include <sys/resource.h>
#include <sys/wait.h>

/* bash -c cmd, standard input /dev/null; stdout into out, stderr into err (either may be NULL);
 * *maxrss_kb (may be NULL): the command's peak resident size. Returns the exit status (-1 when
 * killed by a signal). */
static inline int tool_run(const char *cmd, char *out, size_t out_cap, char *err, size_t err_cap, long *maxrss_kb) {
    char *of = path_join(t_tmpdir(), "stdout.txt"), *ef = path_join(t_tmpdir(), "stderr.txt");
    char *full = of && ef ? xasprintf("{ %s\n} >'%s' 2>'%s' </dev/null", cmd, of, ef) : NULL;
    pid_t pid = full ? fork() : -1;
    if (pid == 0) {
        execl("/bin/bash", "bash", "-c", full, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    if (pid > 0) wait4(pid, &st, 0, &ru);
    if (maxrss_kb) *maxrss_kb = ru.ru_maxrss;
    char *o = of ? slurp(of, NULL) : NULL, *e = ef ? slurp(ef, NULL) : NULL;
    if (out && out_cap) snprintf(out, out_cap, "%s", o ? o : "");
    if (err && err_cap) snprintf(err, err_cap, "%s", e ? e : "");
    free(o); free(e); free(of); free(ef); free(full);
    return pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* <test's temporary directory>/name, emptied (on the heap) */
static inline char *fresh_dir(const char *name) {
    char *d = path_join(t_tmpdir(), name);
    char *cmd = d ? xasprintf("rm -rf '%s' && mkdir -p '%s'", d, d) : NULL;
    if (!cmd || system(cmd) != 0) CHECK(0, "cannot make %s", d ? d : name);
    free(cmd);
    return d;
}

#endif
