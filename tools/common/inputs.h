/* The pictures a batch tool reads, in the order given: files named on the command line (kept as
 * they are, whatever their extension), directories (their pictures: the regular entries whose
 * names end in .jpg .jpeg .png .bmp .tga .gif, any case, not starting with '.', not
 * descending into subdirectories, sorted by name in byte order) and list files (one path a line,
 * relative to the current directory; blank lines skipped, a final CR of a line dropped, nothing
 * else trimmed: a path may hold spaces or a '#'; "-" reads standard input). */
#ifndef CT_TOOLS_INPUTS_H
#define CT_TOOLS_INPUTS_H

#include "cliptrase.h"

#include <stddef.h>

/* The most pictures of one run. */
#define INPUTS_MAX (1 << 24)

typedef struct {
    char **path;
    int n;
    size_t cap;
} input_list;

void inputs_init(input_list *l);
void inputs_free(input_list *l);
/* A path: a directory adds its pictures, anything else (also a path that does not exist: its
 * failure is that picture's) is added as it is. 1, or 0 with err. */
int inputs_add(input_list *l, const char *path, ct_error *err);
/* Every path of a list file ("-": standard input). 1, or 0 with err. */
int inputs_add_list(input_list *l, const char *list_path, ct_error *err);

/* Non-zero when a file name ends in one of the picture extensions above. */
int has_image_ext(const char *name);
/* The name of a path without its directory and its last extension ("a/b.c.png" -> "b.c"; a name
 * whose only '.' is its first character is kept whole: ".png" -> ".png"), on the heap. */
char *path_stem(const char *path);

#endif
