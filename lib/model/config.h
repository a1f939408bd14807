/* A checkpoint's own configuration (docs/formats.md, "Model configuration"): what the safetensors
 * header's __metadata__ (cliptrase.* keys), open_clip's open_clip_config.json and Hugging Face's
 * config.json beside the weights declare, and how it is checked against the tensor shapes. */
#ifndef CT_MODEL_CONFIG_H
#define CT_MODEL_CONFIG_H

#include "core/internal.h"
#include "io/safetensors.h"

/* What one configuration declares; 0 (sizes, eps) or -1 (activations) where it says nothing. */
typedef struct {
    ct_config_source source;
    const char *file; /* its name in messages */
    int vision_width, vision_layers, vision_heads, vision_mlp, patch, image_size;
    int text_width, text_layers, text_heads, text_mlp, context_length, vocab_size, embed_dim;
    int vision_act, text_act;     /* ct_activation or -1 */
    double vision_eps, text_eps;
} ct_arch_decl;

#define CT_ARCH_MAX_DECLS 3

/* The configurations of the checkpoint at path: its header's __metadata__ (file: the opened
 * checkpoint), then open_clip_config.json and config.json in the directory of path (a
 * config.json without vision_config / text_config is not a CLIP configuration and is ignored).
 * *n (<= CT_ARCH_MAX_DECLS) of them into d; an unreadable, malformed or unsupported one is an
 * error naming the file and the field. */
ct_status ct_arch_decls_read(const char *path, const ct_st_file *file, ct_arch_decl *d, int *n, ct_error *err);

/* Check every declaration against the shape-derived sizes in c (and against each other) and fill
 * c's heads, MLP activations, layer-norm eps and their sources; with no declaration, OpenAI's rule
 * (heads of 64, QuickGELU, eps 1e-5). A contradiction, or a head count that does not divide the
 * width, is CT_ERR_SHAPE naming the field and the file. */
ct_status ct_arch_resolve(const ct_arch_decl *d, int n, ct_config *c, ct_error *err);

/* "config.json", "open_clip_config.json", "__metadata__" or "OpenAI's rule" */
const char *ct_config_source_label(ct_config_source s);

#endif
