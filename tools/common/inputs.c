/* Picture lists of the batch tools: files, directories, list files. */
#include "common/inputs.h"
#include "common/files.h"
#include "common/text.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void inputs_init(input_list *l) { memset(l, 0, sizeof *l); }

void inputs_free(input_list *l) {
    for (int i = 0; i < l->n; i++) free(l->path[i]);
    free(l->path);
    memset(l, 0, sizeof *l);
}

/* take ownership of p (NULL: out of memory) */
static int push(input_list *l, char *p, ct_error *err) {
    if (!p) return fail_msg(err, CT_ERR_NOMEM, "out of memory");
    if (l->n >= INPUTS_MAX) { free(p); return fail_msg(err, CT_ERR_TOO_LARGE, "more than %d pictures in one run: split the list", INPUTS_MAX); }
    if (!grow(&l->path, &l->cap, (size_t)l->n + 1, sizeof *l->path)) { free(p); return fail_msg(err, CT_ERR_NOMEM, "out of memory"); }
    l->path[l->n++] = p;
    return 1;
}

int has_image_ext(const char *n) {
    const char *d = strrchr(n, '.');
    return d && (!strcasecmp(d, ".jpg") || !strcasecmp(d, ".jpeg") || !strcasecmp(d, ".png") || !strcasecmp(d, ".bmp") ||
                 !strcasecmp(d, ".tga") || !strcasecmp(d, ".gif"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int add_dir(input_list *l, const char *dir, ct_error *err) {
    DIR *d = opendir(dir);
    if (!d) return fail_msg(err, CT_ERR_IO, "cannot list '%s': %s", dir, strerror(errno));
    int first = l->n, ok = 1;
    struct dirent *e;
    errno = 0;
    while (ok && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !has_image_ext(e->d_name)) continue;
        char *p = path_join(dir, e->d_name);
        struct stat sb;
        if (p && (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode))) { free(p); continue; } /* a subdirectory named x.png */
        ok = push(l, p, err);
        errno = 0;
    }
    if (ok && errno) ok = fail_msg(err, CT_ERR_IO, "cannot list '%s': %s", dir, strerror(errno));
    closedir(d);
    if (ok) qsort(l->path + first, (size_t)(l->n - first), sizeof *l->path, cmp_str);
    return ok;
}

int inputs_add(input_list *l, const char *path, ct_error *err) {
    if (!*path) return fail_msg(err, CT_ERR_INVALID_ARG, "an empty picture path");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return add_dir(l, path, err);
    return push(l, xasprintf("%s", path), err);
}

int inputs_add_list(input_list *l, const char *list_path, ct_error *err) {
    int from_stdin = !strcmp(list_path, "-");
    FILE *f = from_stdin ? stdin : fopen(list_path, "rb");
    if (!f) return fail_msg(err, CT_ERR_IO, "--list: cannot open '%s': %s", list_path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int ok = 1, lineno = 0;
    while (ok && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n') line[--n] = 0;
        if (n > 0 && line[n - 1] == '\r') line[--n] = 0;
        if (!n) continue;
        if (strlen(line) != (size_t)n) ok = fail_msg(err, CT_ERR_FORMAT, "--list '%s', line %d: a NUL byte", list_path, lineno);
        else ok = push(l, xasprintf("%s", line), err);
    }
    if (ok && ferror(f)) ok = fail_msg(err, CT_ERR_IO, "--list: cannot read '%s'", list_path);
    free(line);
    if (!from_stdin) fclose(f);
    return ok;
}

char *path_stem(const char *path) {
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path, *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return xasprintf("%.*s", (int)n, base);
}
