/* Pieces shared by the command-line tools (not part of the library). */
#ifndef CT_TOOLS_COMMON_H
#define CT_TOOLS_COMMON_H

#include "cliptrase.h"

#include <stdint.h>

extern const char *tool_name; /* prefix of every message */
extern int quiet, verbose;

/* "<tool>: message" on stderr unless quiet */
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double now(void);
/* one-line message on stderr; return the exit status: 1 (usage error) / 2 (runtime error) */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int runtime_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* whole number in [lo, hi]; 0 when s is not one */
int parse_int(const char *s, int lo, int hi, int *out);
void mkdirs(const char *dir);

/* Classes: "a;b" is one class with two names; background names all share one extra label. */
typedef struct {
    char **names;       /* every name: class synonyms first, then background names */
    int32_t *label;     /* [n_names] label of each name */
    int n_names, n_names_cap;
    char **class_title; /* [n_labels] display name of each label (first synonym; "background") */
    int n_labels;
} classes;

/* comma-separated list (background: all names share one new "background" label); 0 on a usage
 * error, already reported */
int parse_list(classes *c, const char *list, int background);
/* one class per line, blank lines skipped */
int parse_file(classes *c, const char *path);
/* background names, one per line (a line is one name, commas included), all mapped to one new
 * "background" label; 0 on a usage error, already reported */
int parse_background_file(classes *c, const char *path);
void free_classes(classes *c);

/* emb [n_names x E]: class embeddings, read from / written to the on-disk cache unless no_cache;
 * vocab NULL: beside the model. Returns 0, or 1 with err->msg set. */
int class_embeddings_cached(const ct_model *m, const char *model_path, const char *vocab, const classes *cl, int threads,
                            int no_cache, float *emb, int *n_cached, ct_error *err);

#endif
