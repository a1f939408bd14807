/* Class lists of the tools. A class has one or more names (synonyms: the class scores as the best
 * of its names); background names all share one extra label, "background", after the classes.
 *
 * One format per source (documented in --help, README and docs/formats.md):
 *   -c LIST               classes separated by ',', the names of a class by ';'
 *                         ("background;sky;wall,cat,dog;puppy": class 0 has three names)
 *   --classes-file FILE   one class a line; the format is chosen by --classes-format:
 *       cliptrase (default)  the names of a class separated by ';' (a ',' is part of a name,
 *                            as in "beach, hill")
 *       mmseg                the names of a class separated by ',' (the mmseg-family peers'
 *                            files: "sky, wall, tree")
 *   -b LIST               background names separated by ','
 *   --background-file F   one background name a line (a ',' is part of the name)
 * In files: a UTF-8 byte-order mark at the start is skipped, blank lines are skipped, and a line
 * whose first non-blank character is '#' is a comment. Names are trimmed of spaces at both ends.
 * Refused (a usage error naming the file and line): an empty name or class, a NUL byte, a name
 * that is not strict UTF-8 (overlong forms, surrogates) or holds a control character, and a name
 * given for two labels (names equal up to ASCII case and runs of spaces are the same name to
 * CLIP): the message names both places. A name given twice for one label changes nothing and is
 * kept with a note naming both places (the reference's VOC21 background file has "bed" twice:
 * kept, so the embeddings are the reference's). A line of a cliptrase-format class file holding
 * two or more commas and no ';' gets a note: an mmseg file needs --classes-format mmseg. */
#ifndef CT_TOOLS_CLASSES_H
#define CT_TOOLS_CLASSES_H

#include "cliptrase.h"

#include <stddef.h>
#include <stdint.h>

#define CLASSES_MAX_LABELS 65535

typedef enum { CLASSES_CLIPTRASE = 0, CLASSES_MMSEG = 1 } classes_format;

typedef struct {
    char **names;       /* [n_names] every name: the classes' first, then background names */
    int32_t *label;     /* [n_names] label of each name */
    char **where;       /* [n_names] where each name was given ("'FILE', line 3", "-c, class 2") */
    int n_names;
    size_t names_cap, label_cap, where_cap;
    char **title;       /* [n_labels] display name of each label (its first name; "background") */
    int n_labels;
    size_t title_cap;
    int n_classes;      /* labels before the background label */
    int bg_label;       /* -1 without background names */
} classes;

/* An empty list (no class, no background). */
void classes_init(classes *c);

/* Parse a --classes-format value; 0 when unknown. */
int classes_format_parse(const char *s, classes_format *out);

/* Each returns 1, or 0 with err->msg set (a usage error). */
int classes_add_list(classes *c, const char *list, ct_error *err);
int classes_add_file(classes *c, const char *path, classes_format fmt, ct_error *err);
/* Background names; call after the classes. */
int classes_add_background_list(classes *c, const char *list, ct_error *err);
int classes_add_background_file(classes *c, const char *path, ct_error *err);
/* Checks of the whole list: at least one class, no name twice, at most CLASSES_MAX_LABELS. */
int classes_finish(classes *c, ct_error *err);
void classes_free(classes *c);

/* Hash of the list as segmentation sees it: every name, in order, with its label. */
uint64_t classes_hash(const classes *c);

/* Check one name: strict UTF-8, no control character, not empty; 0 with a reason in why[]. */
int name_ok(const char *name, char *why, size_t cap);

#endif
