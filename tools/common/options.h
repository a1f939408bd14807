/* The options the model-running tools share (demo, ct-eval, and ct-batch to come), parsed in one
 * place, and the session they set up: the model (found in the data directories by default, loaded
 * with the precision and backend chosen by --precision / $CT_PRECISION / $CT_KERNEL), the class
 * list, the input size, the segmentation parameters (the head's preset with the flags on top,
 * checked by the library before any heavy work) and the class embeddings (cached, with progress).
 *
 * A tool parses the groups it uses plus its own options:
 *   opts_parser g;
 *   opts_table(&g, OG_MODEL | OG_CLASSES | OG_SEG | OG_GENERAL, mine, "o:");
 *   for (int c; (c = opts_next(&o, &g, argc, argv)) != -1;)
 *       switch (c) {
 *       case OPTS_ERROR: return 1;      // a usage error, reported
 *       case 'o': ...                   // the tool's own options ('h' included)
 *       } */
#ifndef CT_TOOLS_OPTIONS_H
#define CT_TOOLS_OPTIONS_H

#include "cliptrase.h"
#include "common/cache.h"
#include "common/classes.h"

#include <getopt.h>
#include <stdio.h>

enum {
    OG_MODEL = 1,    /* -m -V --precision -t --no-cache */
    OG_CLASSES = 2,  /* -c --classes-file --classes-format -b --background-file */
    OG_IMAGE = 4,    /* -s --crop */
    OG_SEG = 8,      /* --head --slide --pamr ... --eps --min-samples --cls-reweight */
    OG_GENERAL = 16  /* -q -v -h */
};

#define OPTS_MAX 64
/* Option codes of the tools' own long options start here. */
#define OPT_TOOL 256
/* opts_next: a usage error, already reported */
#define OPTS_ERROR (-2)

/* The data directories, in order: $CT_DATA_DIR; $XDG_DATA_HOME/cliptrase (default
 * ~/.local/share/cliptrase); <prefix>/share/cliptrase where <prefix>/bin holds the running
 * program; ./weights. The default model is clip-vit-base-patch16.safetensors in the first of
 * them that has it; the vocabulary is looked for beside the model, then in them. */
#define DEFAULT_MODEL_FILE "clip-vit-base-patch16.safetensors"

typedef struct {
    /* OG_MODEL */
    const char *model_path, *vocab_path, *precision;
    int threads, no_cache;
    /* OG_CLASSES */
    const char *class_list, *classes_file, *bg_list, *bg_file;
    classes_format classes_fmt;
    /* OG_IMAGE */
    int size, size_given, crop;
    /* OG_SEG: the head, and which fields of its preset the flags replace */
    ct_head head;
    unsigned set;
    ct_segment_params flags;
    int no_limits; /* --no-limits: run above the cost limits (common/limits.h) */
} tool_opts;

typedef struct {
    ct_model *model;
    const ct_config *cfg;
    char *model_path, *vocab_path; /* as resolved */
    ct_load_params lp;
    tool_cache cache;
    classes cl;
    ct_segment_params sp;
    int size;                      /* the input size in use (rounded to the patch) */
    uint64_t model_hash;           /* content hash of the model file (0 until asked) */
} tool_session;

typedef struct {
    struct option table[OPTS_MAX];
    char shorts[96];
} opts_parser;

void opts_init(tool_opts *o);
/* The getopt_long table and short-option string of the groups plus `extra` (terminated by a zero
 * entry; may be NULL) and `extra_short`. */
void opts_table(opts_parser *g, unsigned groups, const struct option *extra, const char *extra_short);
/* One warning when the model's file is marked as random weights (CT_META_RANDOM_WEIGHTS). */
void warn_random(const ct_model *m, const char *path);
/* The next option that is the tool's own (its value in optarg), the shared ones being consumed on
 * the way; -1 at the end; OPTS_ERROR after a usage error (reported: bad value, unknown option,
 * missing value). */
int opts_next(tool_opts *o, const opts_parser *g, int argc, char **argv);
/* 1: a shared option, consumed; 0: not a shared option; -1: a usage error (reported). */
int opts_parse(tool_opts *o, int code, const char *arg);
/* The message and exit status (1) for getopt's ':' (missing value) and '?' (unknown option). */
int opts_getopt_error(int code, char **argv);
/* The help text of the groups (each option's one documented format). */
void opts_help(FILE *f, unsigned groups);

/* Each returns 0, or the exit status after printing the message. */
/* Precision and backend: --precision, else $CT_PRECISION (fp32|bf16), else $CT_KERNEL (blas: OpenBLAS
 * fp32; fp32 or avx512: native fp32; bf16: bf16); an unknown value is a usage error. */
int opts_load_params(const tool_opts *o, ct_load_params *lp);
int session_classes(tool_session *s, const tool_opts *o);
/* Load the model (and, with OG_SEG, check the segmentation parameters for n names). */
int session_load(tool_session *s, const tool_opts *o, unsigned groups);
/* The class embeddings [n_names x embed_dim] (malloc'd), from the cache where it has them. */
int session_embeddings(tool_session *s, float **emb, int *n_cached);
/* The model file's content hash (remembered in the cache when on). */
int session_model_hash(tool_session *s, uint64_t *h);
/* Content hash of the vocabulary files the session uses. */
int session_vocab_hash(tool_session *s, uint64_t *h);
void session_free(tool_session *s);

/* Data directories (heap strings, NULL-terminated array; free with free_strings). */
char **data_dirs(void);
void free_strings(char **v);
/* The first data directory holding `file`, joined with it; NULL when none does. */
char *data_find(const char *file);
/* Hash of the default templates. */
uint64_t templates_hash(void);

#endif
