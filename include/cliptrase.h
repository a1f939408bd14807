/*
 * cliptrase.h - training-free open-vocabulary semantic segmentation with CLIP
 * (CLIPtrase, ECCV 2024), in plain C11.
 *
 * Usage:
 *
 *   ct_error err;
 *   ct_model *m; ct_tokenizer *tok;
 *   if (ct_model_load("weights/clip-vit-base-patch16.safetensors", &m, &err) ||
 *       ct_tokenizer_load("weights/vocab.json", &tok, &err)) {
 *       fprintf(stderr, "%s\n", err.msg); return 1;
 *   }
 *   const char *names[] = {"cat", "dog", "grass"};
 *   float *emb = malloc(3 * sizeof(float) * ct_model_config(m)->embed_dim);
 *   ct_class_embeddings(m, tok, names, 3, NULL, 0, 0, emb, &err);   // 80 default templates
 *
 *   ct_image *img; float *px; int H, W;                    // 3 x H x W, CLIP-normalised
 *   ct_image_load("cat.jpg", &img, &err);
 *   ct_preprocess(img, 336, 0, ct_model_config(m)->patch, &px, &H, &W, &err);
 *
 *   ct_segment_params sp; ct_segment_params_default(&sp);
 *   int32_t *labels = malloc(sizeof(int32_t) * H * W);
 *   ct_segment(m, px, H, W, emb, 3, NULL, &sp, labels, NULL, &err);
 *
 * Conventions
 *   - Every fallible function returns ct_status (CT_OK == 0) and, when `err` is not NULL, fills it
 *     with the status and a one-line human message. Nothing in the library exits, aborts or prints.
 *   - On failure, output arguments are left untouched and nothing is leaked.
 *   - Arrays are row-major float32 / int32; shapes are given in comments as [dim0 x dim1 ...].
 *
 * Threading contract
 *   - A loaded ct_model and ct_tokenizer are immutable: any number of threads may use the same
 *     instance at once without locking. Free them only after every user is done.
 *   - Every call allocates its own scratch memory (freed before it returns); there is no global
 *     mutable state in the library, so calls on different threads never interact. Results do not
 *     depend on the number of threads.
 *   - Heavy matrix products go through OpenBLAS, whose own thread pool is shared by the process.
 */
#ifndef CLIPTRASE_H
#define CLIPTRASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CT_VERSION_MAJOR 0
#define CT_VERSION_MINOR 1
#define CT_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH" of the library that is linked. */
const char *ct_version(void);

/* ------------------------------------------------------------------ errors */

typedef enum {
    CT_OK = 0,
    CT_ERR_INVALID_ARG,   /* caller error: NULL pointer, bad size, bad parameter */
    CT_ERR_IO,            /* a file could not be opened, read, mapped or written */
    CT_ERR_FORMAT,        /* a file is malformed (bad header, truncated, not JSON, ...) */
    CT_ERR_UNSUPPORTED,   /* well-formed but not supported (dtype, architecture, image type) */
    CT_ERR_MISSING,       /* a required tensor or entry is absent */
    CT_ERR_SHAPE,         /* a tensor or array has the wrong shape */
    CT_ERR_NOMEM,         /* out of memory, or a size that overflows */
    CT_ERR_TOO_LARGE,     /* input larger than the documented limits */
    CT_ERR_NONFINITE      /* NaN or Inf found where finite numbers are required */
} ct_status;

/* Short, static name of a status ("ok", "invalid argument", ...). Never NULL. */
const char *ct_status_str(ct_status s);

typedef struct {
    ct_status status;
    char msg[512]; /* NUL-terminated, one line, no trailing newline */
} ct_error;

/* ------------------------------------------------------------------ model */

typedef struct ct_model ct_model;

typedef enum { CT_NAMING_OPENAI = 0, CT_NAMING_HF = 1 } ct_naming;
typedef enum { CT_DTYPE_F32 = 0, CT_DTYPE_F16 = 1, CT_DTYPE_BF16 = 2 } ct_dtype;

/* Architecture derived from tensor shapes at load time. */
typedef struct {
    int vision_width, vision_layers, vision_heads;
    int patch;          /* patch side in pixels */
    int grid;           /* native position grid side (image_size / patch) */
    int image_size;     /* native input side in pixels */
    int embed_dim;      /* joint embedding dimension */
    int text_width, text_layers, text_heads;
    int context_length; /* text positions (77 for CLIP) */
    int vocab_size;
    float logit_scale;  /* exp(logit_scale) as stored: the multiplier itself */
    ct_naming naming;
    ct_dtype dtype;     /* dtype of the weight tensors in the file */
} ct_config;

typedef struct {
    int check_finite;   /* non-zero: refuse weights containing NaN/Inf (CT_ERR_NONFINITE) */
} ct_load_params;

/* Load a CLIP ViT checkpoint (.safetensors, F32/F16/BF16, OpenAI/open_clip or Hugging Face
 * names). F32 tensors are used in place from a read-only mmap; F16/BF16 are widened to F32. */
ct_status ct_model_load(const char *path, ct_model **out, ct_error *err);
ct_status ct_model_load_ex(const char *path, const ct_load_params *p, ct_model **out,
                           ct_error *err);
void ct_model_free(ct_model *m);
const ct_config *ct_model_config(const ct_model *m);
/* Human-readable one-line description of the config into buf (always NUL-terminated). */
void ct_config_describe(const ct_config *c, char *buf, size_t cap);

/* ------------------------------------------------------------------ tokenizer */

typedef struct ct_tokenizer ct_tokenizer;

#define CT_TOKEN_SOT 49406
#define CT_TOKEN_EOT 49407

/* Load OpenAI's bpe_simple_vocab_16e6.txt.gz (gzip or plain text), or Hugging Face vocab.json
 * (merges.txt is then read from the same directory). */
ct_status ct_tokenizer_load(const char *path, ct_tokenizer **out, ct_error *err);
/* Hugging Face pair with explicit paths. */
ct_status ct_tokenizer_load_hf(const char *vocab_json, const char *merges_txt,
                               ct_tokenizer **out, ct_error *err);
void ct_tokenizer_free(ct_tokenizer *t);
int ct_tokenizer_vocab_size(const ct_tokenizer *t);

/* Encode UTF-8 text to BPE ids, without start/end tokens, exactly as CLIP's SimpleTokenizer.
 * Invalid UTF-8 sequences are replaced by U+FFFD (as Python's errors="replace" would).
 * Writes at most `cap` ids into `ids` (may be NULL when cap is 0); *n_ids receives the full
 * count, so a caller can size a second call. */
ct_status ct_tokenize(const ct_tokenizer *t, const char *text, size_t len, int32_t *ids,
                      size_t cap, size_t *n_ids, ct_error *err);
/* Start token, ids, end token, zero padding to ctx_len. A text that does not fit is cut with the
 * end token last and *truncated (if not NULL) set to 1. */
ct_status ct_tokenize_context(const ct_tokenizer *t, const char *text, int32_t *tokens,
                              int ctx_len, int *truncated, ct_error *err);
/* Decode ids to UTF-8 text (</w> becomes a space, special tokens are skipped, trailing space
 * removed). Returns the number of bytes needed (excluding NUL); writes at most cap-1 + NUL. */
size_t ct_detokenize(const ct_tokenizer *t, const int32_t *ids, size_t n, char *out, size_t cap);

/* ------------------------------------------------------------------ text side */

/* The 80 ImageNet prompt templates of CLIP, each with one "{}" for the class name. */
const char *const *ct_default_templates(int *n);

/* Encode n sequences of tokens [n x context_length] to projected, un-normalised text features
 * [n x embed_dim]. Each sequence stops at its end-of-text token (the first maximum id). */
ct_status ct_encode_tokens(const ct_model *m, const int32_t *tokens, int n, float *out,
                           ct_error *err);

/* Class embeddings [n_names x embed_dim] as the reference computes them: for each name, every
 * template is filled, encoded, L2-normalised; the mean is L2-normalised. templates == NULL uses
 * the 80 defaults. n_threads <= 0 means all cores. Names longer than the context are cut (the
 * count of cut prompts is reported through *n_truncated when not NULL). */
ct_status ct_class_embeddings(const ct_model *m, const ct_tokenizer *tok,
                              const char *const *names, int n_names,
                              const char *const *templates, int n_templates, int n_threads,
                              float *out, ct_error *err);
ct_status ct_class_embeddings_ex(const ct_model *m, const ct_tokenizer *tok,
                                 const char *const *names, int n_names,
                                 const char *const *templates, int n_templates, int n_threads,
                                 float *out, int *n_truncated, ct_error *err);

/* ------------------------------------------------------------------ image side */

/* Outputs of the image encoder for one image of H x W pixels (h = H/patch, w = W/patch,
 * T = 1 + h*w tokens). */
typedef struct {
    float *image_embedding; /* [embed_dim] plain CLIP embedding (unmodified model), L2-normalised */
    float *img_tokens;      /* [T x embed_dim] CLIPtrase tokens after ln_post+proj, L2-normalised */
    float *corr_raw;        /* [T x T] second-to-last block: head mean of (cos qq+kk+vv)/3 */
} ct_image_features;

/* Run the encoder. Any pointer in `out` may be NULL to skip that output (corr_raw costs T*T).
 * pixels: [3 x H x W], CLIP-normalised; H and W multiples of the patch size. */
ct_status ct_encode_image(const ct_model *m, const float *pixels, int H, int W, int n_threads,
                          ct_image_features *out, ct_error *err);

/* ------------------------------------------------------------------ segmentation */

typedef struct {
    float eps;           /* DBSCAN radius; <= 0: 0.7 if min(H,W) <= 224 else 1.1 (the paper) */
    int min_samples;     /* DBSCAN core size incl. the point; <= 0: 3 if short side <= 224 else 7 */
    int median_size;     /* median filter side; <= 0: 2*upsample_ratio - 1 (7) */
    int upsample_ratio;  /* cluster map upsampling; <= 0: 4 */
    int cls_reweight;    /* non-zero: multiply logits by the CLS logits (the paper's VOC20) */
    int n_threads;       /* <= 0: all cores */
} ct_segment_params;

void ct_segment_params_default(ct_segment_params *p);

/* Every intermediate of one segmentation (see docs/formats.md). Filled by ct_segment when a
 * pointer is passed; free with ct_intermediates_free. */
typedef struct {
    int H, W, h, w, n_names, embed_dim, n_clusters;
    float eps;
    int min_samples;
    float *image_embedding; /* [embed_dim] */
    float *img_tokens;      /* [(1+h*w) x embed_dim] */
    float *corr_raw;        /* [(1+h*w) x (1+h*w)] */
    float *corr;            /* [h*w x h*w] */
    float *patch_logits;    /* [n_names x h x w] */
    float *logits_up;       /* [n_names x H x W] */
    int32_t *pred_raw;      /* [H x W] */
    int32_t *dbscan_labels; /* [h*w] */
    float *cluster_maps;    /* [n_clusters x ratio*h x ratio*w] */
    int32_t *cluster_assign;/* [H x W] (all 0 when there is no cluster) */
    int32_t *pred;          /* [H x W] */
} ct_intermediates;

void ct_intermediates_free(ct_intermediates *x);

/* Segment one preprocessed image.
 *   pixels     [3 x H x W] CLIP-normalised, H and W multiples of the patch size
 *   class_emb  [n_names x embed_dim] L2-normalised embeddings (ct_class_embeddings)
 *   name_label [n_names] label of each name, or NULL for the identity: several names may share a
 *              label (synonyms: the label scores as the best of its names; background names)
 *   labels     [H x W] output
 *   inter      optional: receives every intermediate (caller frees with ct_intermediates_free) */
ct_status ct_segment(const ct_model *m, const float *pixels, int H, int W,
                     const float *class_emb, int n_names, const int32_t *name_label,
                     const ct_segment_params *p, int32_t *labels, ct_intermediates *inter,
                     ct_error *err);

/* The post-processing alone, from the encoder's outputs: img_tokens [(1+h*w) x E] and corr_raw
 * [(1+h*w) x (1+h*w)] of an H x W image with patch side `patch`. */
ct_status ct_postprocess(const float *img_tokens, const float *corr_raw, int H, int W, int patch,
                         int embed_dim, float logit_scale, const float *class_emb, int n_names,
                         const int32_t *name_label, const ct_segment_params *p, int32_t *labels,
                         ct_intermediates *inter, ct_error *err);

/* DBSCAN with scikit-learn's semantics: Euclidean distance, neighbours within eps inclusive, a
 * point counts itself, clusters numbered in discovery order, -1 for noise.
 * x [n x d]; labels [n]. *n_clusters (may be NULL) receives the cluster count. */
ct_status ct_dbscan(const float *x, int n, int d, float eps, int min_samples, int n_threads,
                    int32_t *labels, int *n_clusters, ct_error *err);

/* scipy.ndimage.median_filter(x, size, mode="reflect") on a 2-D [h x w] array. */
ct_status ct_median_filter(const float *x, int h, int w, int size, float *y, ct_error *err);

/* ------------------------------------------------------------------ images */

typedef struct {
    int width, height;  /* pixels */
    uint8_t *rgb;       /* [height x width x 3] */
} ct_image;

/* Load JPEG/PNG/BMP/TGA/GIF (first frame) as 8-bit RGB. Images above CT_MAX_IMAGE_PIXELS
 * are refused with CT_ERR_TOO_LARGE. */
#define CT_MAX_IMAGE_PIXELS (64u * 1024u * 1024u)
ct_status ct_image_load(const char *path, ct_image **out, ct_error *err);
ct_status ct_image_from_rgb(const uint8_t *rgb, int width, int height, ct_image **out,
                            ct_error *err);
void ct_image_free(ct_image *img);

/* Resize (PIL bicubic with antialiasing, 8-bit rounding) and normalise with CLIP mean/std.
 * crop != 0: short side to `size`, then size x size center crop (the paper's protocol).
 * crop == 0: short side to `size`, long side to the nearest multiple of `patch` keeping the
 * aspect ratio. *pixels [3 x H x W] is malloc'd; free() it. */
ct_status ct_preprocess(const ct_image *img, int size, int crop, int patch, float **pixels,
                        int *H, int *W, ct_error *err);
/* The same, returning the resized 8-bit RGB image [H x W x 3] before normalisation. */
ct_status ct_resize_for_model(const ct_image *img, int size, int crop, int patch, ct_image **out,
                              ct_error *err);
/* Labels [H x W] of a model input made by ct_resize_for_model(img, size, crop, ...) back to the
 * picture's width x height (out [height x width]): nearest neighbour through the resize; with a
 * crop, picture pixels outside it take the label of the nearest crop edge. */
ct_status ct_labels_to_image(const int32_t *labels, int H, int W, int width, int height, int size, int crop,
                             int32_t *out, ct_error *err);
/* Normalise 8-bit RGB to CLIP input [3 x H x W]. */
ct_status ct_normalize(const ct_image *img, float **pixels, ct_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CLIPTRASE_H */
