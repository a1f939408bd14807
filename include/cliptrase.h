/*
 * cliptrase.h - training-free open-vocabulary semantic segmentation with CLIP, in plain C11:
 * CLIPtrase (ECCV 2024) and the training-free heads of its family (MaskCLIP, SCLIP, ClearCLIP,
 * NACLIP), with the mmseg inference pipeline (sliding windows, PAMR, thresholds).
 *
 * Usage:
 *
 *   ct_error err;
 *   ct_model *m; ct_tokenizer *tok;
 *   if (ct_model_load("weights/clip-vit-base-patch16.safetensors", &m, &err) ||
 *       ct_tokenizer_load("weights/vocab.json", &tok, &err)) {
 *       fprintf(stderr, "%s\n", err.msg); return 1;
 *   }
 *   const ct_config *c = ct_model_config(m);
 *   const char *names[] = {"cat", "dog", "grass"};
 *   float *emb = malloc(3 * sizeof(float) * c->embed_dim);
 *   ct_class_embeddings(m, tok, names, 3, NULL, 0, 0, emb, &err);    // 80 default templates
 *
 *   ct_image *img; float *px; int H, W;                    // 3 x H x W, CLIP-normalised
 *   int size = ct_round_size(CT_DEFAULT_SIZE, c->patch);   // 336 (/16, /14), 352 (B/32)
 *   ct_image_load("cat.jpg", &img, &err);
 *   ct_preprocess(img, size, 0, c->patch, &px, &H, &W, &err);      // short side `size`
 *
 *   ct_segment_params sp; ct_segment_params_default(&sp); // CLIPtrase
 *   int32_t *labels = malloc(sizeof(int32_t) * H * W);
 *   ct_segment(m, px, H, W, emb, 3, NULL, &sp, labels, NULL, &err);
 *   ct_free(px);
 *
 * Conventions
 *   - Every fallible function returns ct_status (CT_OK == 0) and, when `err` is not NULL, fills it
 *     with the status and a one-line human message. Nothing in the library exits, aborts or prints.
 *   - On failure, output arguments are left untouched and nothing is leaked (arrays the caller
 *     passes for results included: a call computes into its own memory and copies out last).
 *   - Thread counts of calls (n_threads arguments and fields) are 0 (all the threads the model
 *     or runtime has) to 256; anything else is CT_ERR_INVALID_ARG.
 *   - Arrays are row-major float32 / int32; shapes are given in comments as [dim0 x dim1 ...].
 *   - Ownership: arrays passed in are the caller's. Objects the library creates have their own
 *     free function (ct_model_free, ct_tokenizer_free, ct_image_free, ct_runtime_free,
 *     ct_intermediates_free); plain buffers it returns (pixels, label maps) are freed with ct_free.
 *   - Output structs (ct_intermediates, ct_segment_info) may be passed uninitialised: the library
 *     only writes them, it never reads or frees what they held before.
 *
 * Threads and state
 *   - There is no global mutable state in the library, but for one process-wide handle: the
 *     OpenBLAS library, which the openblas backend loads on its first use (dlopen, under a lock)
 *     and keeps until the process ends. A loaded ct_model and ct_tokenizer are
 *     immutable from the caller's point of view: any number of threads may use the same instance
 *     at once without locking. Internally a model keeps caches, each updated under a lock: its
 *     worker threads (started at the first call that wants them), its weights repacked into the
 *     matrix kernels' panel layout (from the second use of each weight: a one-shot process never
 *     holds a second copy of the weights), and the largest workspace of its last calls (reused,
 *     so repeated calls do not fault in fresh memory; freed with the model).
 *   - Worker threads belong to a ct_runtime: by default each model owns one (ct_load_params
 *     n_threads, 0 = all cores: ct_cpu_count(), the CPUs this process may run on under its
 *     affinity mask and cgroup quota); a runtime can also be created explicitly and shared by
 *     models. After fork() a model or runtime keeps working in the child, which starts its own
 *     workers at its first parallel call (see ct_runtime_new for the rule).
 *     A call uses min(its n_threads, the runtime's threads) of them (0 = all); the calling thread
 *     is one of them. When two calls share a runtime, its workers serve them in turn.
 *   - Each call takes one workspace up front, sized from the image and the parameters (the
 *     model's kept one when it is large enough); nothing is allocated inside the layer loop.
 *   - Results never depend on the number of threads.
 *   - Numeric precision (fp32, or bf16 where the CPU has AVX512_BF16 or AMX) is a property of the
 *     loaded model, chosen in ct_load_params; the library never reads the environment.
 */
#ifndef CLIPTRASE_H
#define CLIPTRASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CT_BUILDING_LIBRARY) && defined(__GNUC__)
#define CT_API __attribute__((visibility("default")))
#else
#define CT_API
#endif

#define CT_VERSION_MAJOR 0
#define CT_VERSION_MINOR 2
#define CT_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH" of the library that is linked. */
CT_API const char *ct_version(void);
/* One line describing how the linked library was built: version, compiler, sanitizers, matrix
 * kernels compiled in (e.g. "0.2.0; gcc 12.2.0; sanitizers: none; kernels: ..."). Static string;
 * what this CPU runs is in ct_model_describe. */
CT_API const char *ct_build_info(void);

/* ------------------------------------------------------------------ errors and memory */

typedef enum {
    CT_OK = 0,
    CT_ERR_INVALID_ARG,   /* caller error: NULL pointer, bad size, bad parameter */
    CT_ERR_IO,            /* a file could not be opened, read, mapped or written */
    CT_ERR_FORMAT,        /* a file is malformed (bad header, truncated, not JSON, ...) */
    CT_ERR_UNSUPPORTED,   /* well-formed but not supported (dtype, architecture, image type, CPU) */
    CT_ERR_MISSING,       /* a required tensor or entry is absent */
    CT_ERR_SHAPE,         /* a tensor or array has the wrong shape */
    CT_ERR_NOMEM,         /* out of memory, or a size that overflows */
    CT_ERR_TOO_LARGE,     /* input larger than the documented limits */
    CT_ERR_NONFINITE      /* NaN or Inf found where finite numbers are required */
} ct_status;

/* Short, static name of a status ("ok", "invalid argument", ...). Never NULL. */
CT_API const char *ct_status_str(ct_status s);

typedef struct {
    ct_status status;
    char msg[512]; /* NUL-terminated, one line, no trailing newline */
} ct_error;

/* Frees a plain buffer the library allocated and handed over (pixels of ct_preprocess and
 * ct_normalize, label maps of ct_labels_load_png, file contents of ct_read_file). NULL is
 * ignored. */
CT_API void ct_free(void *p);

/* ------------------------------------------------------------------ runtime (worker threads) */

typedef struct ct_runtime ct_runtime;

/* "All cores", wherever a thread count of 0 means it (runtimes, ct_load_params, the tools'
 * defaults): the CPUs this process may run on. That is the count of its CPU affinity mask
 * (sched_getaffinity: taskset, Slurm, numactl), lowered to the CPU quota of its cgroup and every
 * ancestor cgroup when one is set (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us:
 * ceil(quota / period)). At least 1. Read anew at each call (runtimes read it when they start). */
CT_API int ct_cpu_count(void);

/* A set of worker threads, started at once and reused by every call that is given them.
 * n_threads counts the calling thread: n_threads - 1 workers are started (0 = all cores:
 * ct_cpu_count(), at most 256). Free only after every model using it has been freed.
 * After fork(): the child inherits the runtime but none of its threads; the first call in the
 * child that wants more than one thread starts the child's own workers (a pid check), so models
 * and runtimes keep working in the child (multiprocessing's fork start method). Fork only while
 * no call of the library runs in another thread of the parent (a lock held at the fork stays
 * held in the child, as for any threaded library); ct_runtime_free and ct_model_free in the child
 * free the inherited copies without touching the parent's threads. */
CT_API ct_status ct_runtime_new(int n_threads, ct_runtime **out, ct_error *err);
CT_API void ct_runtime_free(ct_runtime *rt);
CT_API int ct_runtime_threads(const ct_runtime *rt);

/* ------------------------------------------------------------------ model */

typedef struct ct_model ct_model;

typedef enum { CT_NAMING_OPENAI = 0, CT_NAMING_HF = 1 } ct_naming;
typedef enum { CT_DTYPE_F32 = 0, CT_DTYPE_F16 = 1, CT_DTYPE_BF16 = 2 } ct_dtype;

/* What a checkpoint holds. CLIP: both towers (everything in this header). DINO (v1) and DINOv2:
 * a vision backbone alone (no text tower, no projection: text_*, context_length, vocab_size and
 * embed_dim are 0), loadable only as the proxy of the ProxyCLIP head (ct_segment_params.proxy);
 * every other call refuses it with CT_ERR_INVALID_ARG. */
typedef enum { CT_ARCH_CLIP = 0, CT_ARCH_DINO = 1, CT_ARCH_DINOV2 = 2 } ct_arch;

/* Numeric precision of the matrix products. fp32 is exact to the references (1e-6); bf16 rounds
 * both operands of every product to bfloat16 (8 significant bits) and accumulates in fp32; needs
 * AVX512_BF16 (or AMX: then on AMX tiles; on Intel without AMX it runs as fp32 FMAs on the
 * rounded operands, faster there than vdpbf16ps). Measured, not promised (docs/performance.md): on
 * the AMD EPYC it was developed on (AVX512_BF16 kernels, no AMX) bf16 took 0.56-0.63x of fp32's
 * time; the kernel chosen for each CPU (ct-info) is meant never to be slower than fp32. Its labels
 * agreed with fp32's on at least 99.9% of pixels on every oracle fixture, but that is no bound for
 * other pictures or weights: a real photo with random weights agreed on 98.8% (ClearCLIP head),
 * where classes score within bf16's rounding of each other. Use fp32 where labels must match the
 * references. */
typedef enum { CT_PRECISION_FP32 = 0, CT_PRECISION_BF16 = 1 } ct_precision;

/* Which code runs the fp32 matrix products: the library's own kernels (AVX-512 where the CPU
 * has it, else AVX2 / portable C), or OpenBLAS's sgemm (a reference; fp32 only). */
typedef enum { CT_BACKEND_NATIVE = 0, CT_BACKEND_OPENBLAS = 1 } ct_backend;

/* The MLP activation of a tower: OpenAI's QuickGELU x * sigmoid(1.702 x), or exact GELU
 * 0.5 x (1 + erf(x / sqrt 2)) (open_clip's LAION, DFN and MetaCLIP models). */
typedef enum { CT_ACTIVATION_QUICKGELU = 0, CT_ACTIVATION_GELU = 1 } ct_activation;

/* Where a field of ct_config that the shapes cannot give came from (docs/formats.md, "Model
 * configuration"): the safetensors header's __metadata__ (cliptrase.* keys), open_clip's
 * open_clip_config.json or Hugging Face's config.json beside the weights, or, with none of them,
 * OpenAI's rule (heads of 64, QuickGELU, eps 1e-5). */
typedef enum {
    CT_SOURCE_OPENAI_RULE = 0,
    CT_SOURCE_METADATA = 1,
    CT_SOURCE_OPENCLIP_CONFIG = 2,
    CT_SOURCE_HF_CONFIG = 3
} ct_config_source;

/* Architecture: sizes from the tensor shapes, heads / activation / layer-norm eps from the
 * checkpoint's configuration (checked against the shapes) at load time. */
typedef struct {
    int vision_width, vision_layers, vision_heads;
    int patch;          /* patch side in pixels */
    int grid;           /* native position grid side (image_size / patch) */
    int image_size;     /* native input side in pixels */
    int embed_dim;      /* joint embedding dimension */
    int text_width, text_layers, text_heads;
    int context_length; /* text positions (77 for CLIP) */
    int vocab_size;
    float logit_scale;  /* exp(logit_scale) as stored: the multiplier itself, in
                           [CT_MIN_LOGIT_SCALE, CT_MAX_LOGIT_SCALE] (checked at load) */
    ct_naming naming;   /* DINO / DINOv2: CT_NAMING_OPENAI for their own names (cls_token,
                           pos_embed, blocks.N.*), CT_NAMING_HF for Hugging Face's */
    ct_dtype dtype;     /* dtype of the weight tensors in the file */
    /* fields below were added later (earlier fields keep their places) */
    int vision_mlp, text_mlp;               /* MLP hidden widths (width * mlp_ratio) */
    ct_activation vision_act, text_act;     /* MLP activations */
    float vision_ln_eps, text_ln_eps;       /* LayerNorm epsilon of each tower */
    ct_config_source heads_source, act_source, eps_source; /* where heads, activations, eps came from */
    ct_arch arch;
    int registers;      /* DINOv2 register tokens (0 otherwise) */
} ct_config;

/* The model's logit scale exp(logit_scale) a checkpoint may hold (CLIP's trained value is 100,
 * its initial one 14.3): outside, ct_model_load refuses the file with CT_ERR_UNSUPPORTED. The
 * CLIPtrase vote multiplies two scaled logits (cls_reweight): a scale of exp(60) would overflow
 * and one of exp(-100) underflow float32; within these bounds both stay exact. */
#define CT_MIN_LOGIT_SCALE 0.01f
#define CT_MAX_LOGIT_SCALE 10000.f

typedef struct {
    int check_finite;       /* non-zero: refuse weights containing NaN/Inf (CT_ERR_NONFINITE) */
    ct_precision precision; /* default CT_PRECISION_FP32; BF16 on a CPU without AVX512_BF16 or
                               AMX is refused with CT_ERR_UNSUPPORTED */
    ct_backend backend;     /* default CT_BACKEND_NATIVE */
    int n_threads;          /* threads of the model's own runtime; 0 = all cores (ct_cpu_count) */
    ct_runtime *runtime;    /* optional: use these workers instead of starting the model's own */
    const char *kernel;     /* NULL (default): the matrix kernel this CPU's selection table picks
                               (docs/performance.md); else a kernel's id (ct_kernel_id), which
                               must compute `precision` with `backend` and run on this CPU (for
                               tests and comparisons) */
} ct_load_params;

/* Defaults: no finiteness check, fp32, native kernels chosen for this CPU, all cores, own runtime. */
CT_API void ct_load_params_default(ct_load_params *p);

/* Load a CLIP ViT checkpoint (.safetensors, F32/F16/BF16, OpenAI/open_clip or Hugging Face
 * names), or a DINO / DINOv2 backbone for ProxyCLIP (docs/heads.md): DINO's own names
 * (cls_token, pos_embed, blocks.N.*, as facebookresearch/dino and the dinov2 hub checkpoints) or
 * Hugging Face's ViTModel / Dinov2WithRegistersModel names; its architecture from the tensor
 * shapes, and a config.json beside the file when present (heads; else width / 64). Tensors are read from a read-only mmap of the file; do not modify or truncate the file
 * while a model uses it (replace it by writing a new file and renaming it over the old one). */
CT_API ct_status ct_model_load(const char *path, ct_model **out, ct_error *err);
CT_API ct_status ct_model_load_ex(const char *path, const ct_load_params *p, ct_model **out,
                                  ct_error *err);
CT_API void ct_model_free(ct_model *m);
CT_API const ct_config *ct_model_config(const ct_model *m);
/* The string value of `key` in the checkpoint's safetensors __metadata__, or NULL when absent
 * (valid while the model lives). */
CT_API const char *ct_model_metadata(const ct_model *m, const char *key);
/* The key ct-random-weights sets to "1": the weights are random, labels made with them mean
 * nothing (the tools say so on stderr; tools/fetch-weights.sh does not take such a file for the
 * real checkpoint). */
#define CT_META_RANDOM_WEIGHTS "cliptrase.random_weights"
CT_API ct_precision ct_model_precision(const ct_model *m);
/* Threads the model's calls may use (its runtime's). */
CT_API int ct_model_threads(const ct_model *m);
/* One line: architecture, precision, kernel, threads. Always NUL-terminated. */
CT_API void ct_model_describe(const ct_model *m, char *buf, size_t cap);
/* Human-readable one-line description of the config into buf (always NUL-terminated). */
CT_API void ct_config_describe(const ct_config *c, char *buf, size_t cap);

/* "fp32" / "bf16"; ct_precision_parse also accepts "float32", "bfloat16". An unknown name is
 * CT_ERR_INVALID_ARG. */
CT_API const char *ct_precision_name(ct_precision p);
CT_API ct_status ct_precision_parse(const char *name, ct_precision *out, ct_error *err);
/* Non-zero when this CPU can run the precision (bf16 needs AVX512_BF16 or AMX). */
CT_API int ct_precision_available(ct_precision p);
/* The matrix kernels compiled in: for i = 0, 1, ... the id of the i-th (NULL past the last), the
 * precision it computes, whether this CPU runs it, and a note: its label when it runs, else the
 * one-line reason (e.g. "no AMX on this CPU (amx_bf16)"). Outputs may be NULL. Static strings. */
CT_API const char *ct_kernel_id(int i, ct_precision *precision, int *runs, const char **note);

/* ------------------------------------------------------------------ tokenizer */

typedef struct ct_tokenizer ct_tokenizer;

#define CT_TOKEN_SOT 49406
#define CT_TOKEN_EOT 49407

/* Load OpenAI's bpe_simple_vocab_16e6.txt.gz (gzip or plain text), or Hugging Face vocab.json
 * (merges.txt is then read from the same directory). */
CT_API ct_status ct_tokenizer_load(const char *path, ct_tokenizer **out, ct_error *err);
/* Hugging Face pair with explicit paths. */
CT_API ct_status ct_tokenizer_load_hf(const char *vocab_json, const char *merges_txt,
                                      ct_tokenizer **out, ct_error *err);
CT_API void ct_tokenizer_free(ct_tokenizer *t);
CT_API int ct_tokenizer_vocab_size(const ct_tokenizer *t);

/* Encode UTF-8 text to BPE ids, without start/end tokens, exactly as CLIP's SimpleTokenizer.
 * Invalid UTF-8 sequences are replaced by U+FFFD (as Python's errors="replace" would).
 * Writes at most `cap` ids into `ids` (may be NULL when cap is 0); *n_ids receives the full
 * count, so a caller can size a second call. Cost is near-linear in the text length. */
CT_API ct_status ct_tokenize(const ct_tokenizer *t, const char *text, size_t len, int32_t *ids,
                             size_t cap, size_t *n_ids, ct_error *err);
/* Start token, ids, end token, zero padding to ctx_len. A text that does not fit is cut with the
 * end token last and *truncated (if not NULL) set to 1. */
CT_API ct_status ct_tokenize_context(const ct_tokenizer *t, const char *text, int32_t *tokens,
                                     int ctx_len, int *truncated, ct_error *err);
/* Decode ids to UTF-8 text (</w> becomes a space, special tokens are skipped, trailing space
 * removed). Returns the number of bytes needed (excluding NUL); writes at most cap-1 + NUL. */
CT_API size_t ct_detokenize(const ct_tokenizer *t, const int32_t *ids, size_t n, char *out,
                            size_t cap);

/* ------------------------------------------------------------------ text side */

/* The 80 ImageNet prompt templates of CLIP, each with one "{}" for the class name. */
CT_API const char *const *ct_default_templates(int *n);

/* Encode n sequences of tokens [n x context_length] to projected, un-normalised text features
 * [n x embed_dim] on all of the model's threads. Each sequence stops at its end-of-text token
 * (the first maximum id); ids must be in [0, vocab_size). */
CT_API ct_status ct_encode_tokens(const ct_model *m, const int32_t *tokens, int n, float *out,
                                  ct_error *err);

/* Class embeddings [n_names x embed_dim] as the reference computes them: for each name, every
 * template is filled, encoded, L2-normalised; the mean is L2-normalised. templates == NULL uses
 * the 80 defaults. n_threads 0 means all of the model's threads. Names longer than the
 * context are cut (the count of cut prompts is reported through *n_truncated when not NULL). */
CT_API ct_status ct_class_embeddings(const ct_model *m, const ct_tokenizer *tok,
                                     const char *const *names, int n_names,
                                     const char *const *templates, int n_templates,
                                     int n_threads, float *out, ct_error *err);
CT_API ct_status ct_class_embeddings_ex(const ct_model *m, const ct_tokenizer *tok,
                                        const char *const *names, int n_names,
                                        const char *const *templates, int n_templates,
                                        int n_threads, float *out, int *n_truncated,
                                        ct_error *err);

/* ------------------------------------------------------------------ heads */

/* The last vision block, selectable per call (the first L-1 blocks are the unmodified model).
 * q, k, v are the last block's projections of ln_1(x), per head; s = head_dim^-0.5;
 * O(A) = out_proj(A v); G = NACLIP's Gaussian prior over patch grid positions. */
typedef enum {
    CT_HEAD_CLIPTRASE = 0, /* x + O(softmax(s qq^T) + softmax(s kk^T) + softmax(s vv^T)) + MLP;
                              the second-to-last block's correlation map drives the cluster vote */
    CT_HEAD_CLIP,          /* the unmodified model: x + O(softmax(s qk^T)) + MLP, all tokens */
    CT_HEAD_MASKCLIP,      /* O(v): identity attention, no residual, no MLP */
    CT_HEAD_SCLIP,         /* x + O(softmax(s qq^T) + softmax(s kk^T)) + MLP */
    CT_HEAD_CLEARCLIP,     /* O(softmax(s qq^T)), no residual, no MLP */
    CT_HEAD_NACLIP,        /* O(softmax(s kk^T + G)), no residual, no MLP */
    CT_HEAD_SCCLIP,        /* SC-CLIP: LOF outlier repair of block L-1's patches, similarity
                              calibration (pre, post), ((A_sim + softmax(s kk^T)) / 2) v with the
                              last block's ln_1 and attention only, multi-level fusion; patch
                              tokens only (docs/heads.md) */
    CT_HEAD_PROXYCLIP,     /* O(A v~) on the proxy's grid: A = softmax over rows of gamma (S - beta
                              mean(S)) with negative entries -inf, S the cosine similarities of a
                              DINO proxy's patch features, v~ = v resized to the proxy grid; no
                              residual, no MLP. Needs ct_segment_params.proxy */
    CT_HEAD_COUNT
} ct_head;

/* "cliptrase", "clip", "maskclip", "sclip", "clearclip", "naclip", "scclip", "proxyclip". */
CT_API const char *ct_head_name(ct_head h);
CT_API ct_status ct_head_parse(const char *name, ct_head *out, ct_error *err);

/* ------------------------------------------------------------------ image side */

/* At most this many patches (h * w = (H / patch) * (W / patch); 128 x 128), and at most
 * CT_MAX_IMAGE_PIXELS pixels, in the whole H x W image given to ct_encode_image, ct_segment,
 * ct_segment_ex, ct_segment_memory or ct_postprocess (CT_ERR_TOO_LARGE): the limit applies to
 * the whole image for every head, also when sliding windows (slide_crop) would encode it in
 * smaller crops. The CLIPtrase correlation map alone is (1 + h*w)^2 floats. */
#define CT_MAX_PATCHES (128 * 128)

/* Outputs of the image encoder for one image of H x W pixels (h = H/patch, w = W/patch,
 * T = 1 + h*w tokens). The caller allocates the arrays it wants and sets the others to NULL. */
typedef struct {
    float *image_embedding; /* [embed_dim] plain CLIP embedding (unmodified model), L2-normalised */
    float *img_tokens;      /* [T x embed_dim] CLIPtrase tokens after ln_post+proj, L2-normalised */
    float *corr_raw;        /* [T x T] second-to-last block: head mean of (cos qq+kk+vv)/3 */
} ct_image_features;

/* Run the encoder with the CLIPtrase head. pixels: [3 x H x W], CLIP-normalised; H and W
 * multiples of the patch size. At least one output must be requested (CT_ERR_INVALID_ARG). */
CT_API ct_status ct_encode_image(const ct_model *m, const float *pixels, int H, int W,
                                 int n_threads, ct_image_features *out, ct_error *err);

/* ------------------------------------------------------------------ segmentation */

#define CT_MAX_DILATIONS 8

typedef struct {
    /* the last block */
    ct_head head;        /* default CT_HEAD_CLIPTRASE */
    float gaussian_std;  /* NACLIP's sigma in patches, in [CT_MIN_GAUSSIAN_STD, CT_MAX_GAUSSIAN_STD];
                            default 5 (below 0.01 the prior is already the identity; near 1e-23
                            2 sigma^2 underflows and the prior would be NaN) */
    /* CLIPtrase cluster vote (head cliptrase only; <= 0: the paper's value) */
    float eps;           /* DBSCAN radius; <= 0: 0.7 if min(H,W) <= 14 patches (224 with patch
                            16: the paper's rule in patches) else 1.1 */
    int min_samples;     /* DBSCAN core size incl. the point; <= 0: 3 if min(H,W) <= 14 patches
                            else 7 */
    int median_size;     /* median filter side; <= 0: 2*upsample_ratio - 1 (7) */
    int upsample_ratio;  /* cluster map upsampling; <= 0: 4 */
    int cls_reweight;    /* non-zero: multiply logits by the CLS logits (the paper's VOC20) */
    /* the mmseg pipeline (every head but cliptrase, whose cluster vote replaces it) */
    int slide_crop;      /* window side in pixels (a multiple of the patch); 0: whole image */
    int slide_stride;    /* window stride in pixels, in [1, slide_crop] */
    int pamr_steps;      /* PAMR iterations; 0: off */
    int pamr_dilations[CT_MAX_DILATIONS]; /* > 0 each */
    int n_pamr_dilations;                 /* default 2: {8, 16} */
    float logit_scale;   /* softmax temperature of the class probabilities; <= 0: the model's */
    float prob_thd;      /* pixels whose best class probability is below it get label 0; 0: off */
    float area_thd;      /* labels 1.. covering at most this share of the labelled area (of
                            labels 1..) are dropped (probability 0); 0: off */
    int n_threads;       /* 0: all of the model's threads */
    /* SC-CLIP (head scclip; docs/heads.md) */
    int sc_layers[4];    /* pre, post, start, end: the reference's pre_adjust_idx, post_adjust_idx,
                            multi_start_idx, multi_end_idx (0-based block outputs: 0 <= pre, post
                            <= L-2, 0 <= start < end <= L-1); all 0: the preset of the model's
                            depth (12 blocks: 8,3,3,10; 24 blocks: 16,6,8,19; other depths must
                            give them) */
    float sc_res_cls;    /* weight of the CLS row added after the last attention; < 0 (default):
                            the preset of the depth (12 blocks: 0.3; 24 blocks: 0.1) */
    float sc_beta;       /* similarity cut of the calibrations, in [-1, 1]; default 0.4 */
    /* ProxyCLIP (head proxyclip only; any other head refuses a proxy) */
    const ct_model *proxy; /* a DINO / DINOv2 model from ct_model_load (not a CLIP one), shared
                              like any model; its precision and threads are its own */
    float proxy_beta;    /* mask threshold factor; default 1.2 */
    float proxy_gamma;   /* similarity sharpness; default 3.0 */
} ct_segment_params;

#define CT_MIN_GAUSSIAN_STD 0.01f
#define CT_MAX_GAUSSIAN_STD 10000.f

/* CLIPtrase as the paper runs it (head cliptrase, whole image, the paper's cluster vote). */
CT_API void ct_segment_params_default(ct_segment_params *p);
/* The preset a head's reference publishes for ViT-B/16 (docs/heads.md): logit scale, window,
 * PAMR, sigma; prob_thd and area_thd 0 (they are per dataset). cliptrase: the default above. */
CT_API void ct_segment_params_preset(ct_segment_params *p, ct_head head);
/* The same preset for model m: the references' windows are for ViT-B/16's native 224 x 224
 * input; for a model whose native input is larger they scale with it (window = preset *
 * image_size / 224, rounded to a multiple of the patch; stride half of it): 336 / 168 for
 * L/14-336, 378 / 189 for DFN's H/14-378; every model of 224 or less (B/32, B/16, L/14, H/14,
 * bigG/14) keeps 224 / 112 (docs/heads.md). m NULL: ct_segment_params_preset. */
CT_API void ct_segment_params_preset_for(ct_segment_params *p, ct_head head, const ct_model *m);

/* Cheap results of one segmentation: the parameters as resolved, counts, timings. */
typedef struct {
    ct_head head;
    int H, W, h, w;         /* input pixels and patch grid of the whole image */
    int n_names, n_labels;
    int n_windows;          /* encoder passes (1 for the whole image) */
    int n_clusters;         /* CLIPtrase: DBSCAN clusters (0 for other heads) */
    float eps;              /* resolved CLIPtrase parameters */
    int min_samples, median_size, upsample_ratio;
    float logit_scale;      /* resolved */
    int n_thresholded;      /* pixels set to label 0 by prob_thd */
    int n_threads;          /* threads used */
    ct_precision precision;
    const char *kernel;     /* static name of the matrix kernel */
    double t_encode, t_post, t_total; /* seconds: encoder passes, everything after, the call */
    size_t workspace_bytes; /* the call's workspace */
} ct_segment_info;

/* Every intermediate of one segmentation (docs/formats.md). Arrays not produced by the head are
 * NULL. Allocated by the library; free with ct_intermediates_free. */
typedef struct {
    int H, W, h, w, n_names, embed_dim, n_clusters;
    float eps;
    int min_samples;
    int median_size, upsample_ratio; /* cliptrase, resolved: cluster_maps is [n_clusters x
                                        upsample_ratio*h x upsample_ratio*w] */
    float *image_embedding; /* [embed_dim] (cliptrase) */
    float *img_tokens;      /* [(1+h*w) x embed_dim] the head's tokens (whole-image runs); scclip:
                               [h*w x embed_dim] (the reference's patch tokens, no CLS row) */
    float *corr_raw;        /* [(1+h*w) x (1+h*w)] (cliptrase) */
    float *corr;            /* [h*w x h*w] (cliptrase) */
    float *patch_logits;    /* [n_names x h x w] (cliptrase) */
    float *logits_up;       /* [n_names x H x W] (cliptrase) */
    int32_t *pred_raw;      /* [H x W] (cliptrase) */
    int32_t *dbscan_labels; /* [h*w] (cliptrase) */
    float *cluster_maps;    /* [n_clusters x ratio*h x ratio*w] (cliptrase) */
    int32_t *cluster_assign;/* [H x W] (cliptrase; all 0 when there is no cluster) */
    int32_t *pred;          /* [H x W] */
    float *seg_logits;      /* [n_names x H x W] cosine logits, window average, before PAMR */
    float *pamr_logits;     /* [n_names x H x W] after PAMR (when it runs) */
    int32_t *outliers;      /* [n_windows x win_h x win_w] (scclip): 1 for the outlier patches of
                               each window (windows in row-major order), else NULL */
    int n_windows, win_h, win_w; /* the windows and their patch grid (every head but cliptrase) */
    int img_tokens_rows;    /* rows of img_tokens: 1+h*w, or h*w (scclip); 0 without img_tokens */
    /* proxyclip: the proxy's patch features (final norm, before the L2 normalisation), rows =
     * patches row-major, of the whole image (whole-image runs) or of the first window after its
     * padding; img_tokens is then [proxy_h*proxy_w x embed_dim] on the proxy's grid, no CLS */
    float *proxy_features;  /* [proxy_h*proxy_w x proxy_dim] */
    int proxy_h, proxy_w, proxy_dim;
} ct_intermediates;

/* Frees the arrays of a struct ct_segment or ct_postprocess filled (or one zeroed with memset);
 * leaves it zeroed. */
CT_API void ct_intermediates_free(ct_intermediates *x);

/* Segment one preprocessed image.
 *   pixels     [3 x H x W] CLIP-normalised, H and W multiples of the patch size
 *   class_emb  [n_names x embed_dim] L2-normalised embeddings (ct_class_embeddings); a NaN or Inf
 *              in them is CT_ERR_NONFINITE before any work, for every head
 *   name_label [n_names] label of each name, or NULL for the identity: several names may share a
 *              label (synonyms: the label scores as the best of its names; background names)
 *   labels     [H x W] output
 *   inter      optional: receives every intermediate (caller frees with ct_intermediates_free) */
CT_API ct_status ct_segment(const ct_model *m, const float *pixels, int H, int W,
                            const float *class_emb, int n_names, const int32_t *name_label,
                            const ct_segment_params *p, int32_t *labels, ct_intermediates *inter,
                            ct_error *err);

/* What a segmentation can produce besides labels; every pointer but labels may be NULL. */
typedef struct {
    int32_t *labels;         /* [H x W] required, caller-allocated */
    float *probs;            /* [n_labels x H x W] caller-allocated: per-label probability (softmax
                                over names of logit_scale * logits, a label's best name), after
                                PAMR and area_thd; for cliptrase, of the raw logits before the vote */
    ct_segment_info *info;   /* filled on success */
    ct_intermediates *inter; /* allocated by the library on success */
} ct_segment_outputs;

CT_API ct_status ct_segment_ex(const ct_model *m, const float *pixels, int H, int W,
                               const float *class_emb, int n_names, const int32_t *name_label,
                               const ct_segment_params *p, const ct_segment_outputs *out,
                               ct_error *err);

/* Bytes a ct_segment / ct_segment_ex of an H x W image will allocate (workspace and outputs
 * the library allocates; with_intermediates: also ct_intermediates), before running it: within
 * 10% of the measured peak for every head and option. The parameters are checked as ct_segment
 * checks them; the estimate assumes one label per name, so n_names is at most 65,536 here
 * (ct_segment takes more names when they share labels). For cliptrase the cluster count is
 * known only after DBSCAN: the estimate assumes hw / min_samples clusters (each 4 (3 + 2 ratio^2)
 * hw bytes), which typical pictures stay under; a cluster per patch costs more. */
CT_API ct_status ct_segment_memory(const ct_model *m, int H, int W, int n_names,
                                   const ct_segment_params *p, int with_intermediates,
                                   size_t *bytes, ct_error *err);

/* The work of a segmentation, estimated before it runs (the tools refuse, before any work, a run
 * whose work or memory exceeds their documented bounds unless given --no-limits). Operation
 * counts are multiply-adds or comparisons, a rough measure of time (a ViT-B/16 whole 448 x 448
 * image: about 1.6e11 in the encoder; a desktop core does some 1e10 to 1e11 a second):
 *   - the encoder: per window, the vision tower's products (12 T D^2 + 2 T^2 D per block for T
 *     tokens of width D); sliding windows multiply it by their count (crop 224, stride 1 on a
 *     448 x 448 image: 50,625 windows);
 *   - cliptrase: DBSCAN (hw^3 / 2 for hw patches), and per cluster (hw / min_samples of them
 *     assumed, as in ct_segment_memory) its map of ratio^2 hw pixels, each median-filtered at
 *     up to median_size^2 comparisons, each counted as 8 operations (upsample_ratio 64,
 *     median_size 255: 2.7e8 comparisons per patch of every cluster), then upsampled to H x W;
 *   - the other heads: the windows' logits, PAMR (pamr_steps x names x pixels x 16 per dilation),
 *     the classification.
 * The parameters are checked as ct_segment checks them. */
typedef struct {
    int n_windows;        /* encoder passes */
    int n_clusters;       /* cliptrase: the clusters assumed (hw / min_samples); 0 for the others */
    double encoder_ops;   /* all the encoder passes */
    double post_ops;      /* everything after them */
    double total_ops;
    size_t bytes;         /* ct_segment_memory's estimate */
} ct_segment_cost_info;
CT_API ct_status ct_segment_cost(const ct_model *m, int H, int W, int n_names,
                                 const ct_segment_params *p, int with_intermediates,
                                 ct_segment_cost_info *cost, ct_error *err);

/* The CLIPtrase post-processing alone, from the encoder's outputs: img_tokens [(1+h*w) x E] and
 * corr_raw [(1+h*w) x (1+h*w)] of an H x W image with patch side `patch`. The parameters are
 * checked before any work (CT_ERR_INVALID_ARG): finite eps, logit_scale in [CT_MIN_LOGIT_SCALE,
 * CT_MAX_LOGIT_SCALE], median_size at most
 * 255, upsample_ratio at most 64; a NaN or Inf in the inputs (img_tokens, corr_raw, class_emb) is
 * CT_ERR_NONFINITE. */
CT_API ct_status ct_postprocess(const float *img_tokens, const float *corr_raw, int H, int W,
                                int patch, int embed_dim, float logit_scale,
                                const float *class_emb, int n_names, const int32_t *name_label,
                                const ct_segment_params *p, int32_t *labels,
                                ct_intermediates *inter, ct_error *err);

/* DBSCAN with scikit-learn's semantics: Euclidean distance, neighbours within eps inclusive, a
 * point counts itself, clusters numbered in discovery order, -1 for noise.
 * x [n x d]; labels [n]. *n_clusters (may be NULL) receives the cluster count. A NaN or Inf
 * coordinate is CT_ERR_NONFINITE. */
CT_API ct_status ct_dbscan(const float *x, int n, int d, float eps, int min_samples,
                           int n_threads, int32_t *labels, int *n_clusters, ct_error *err);

/* scipy.ndimage.median_filter(x, size, mode="reflect") on a 2-D [h x w] array; size in
 * [1, 255], sides up to 2^30 (above: CT_ERR_TOO_LARGE); a NaN in x is CT_ERR_NONFINITE. */
CT_API ct_status ct_median_filter(const float *x, int h, int w, int size, float *y,
                                  ct_error *err);

/* ------------------------------------------------------------------ images */

typedef struct {
    int width, height;  /* pixels */
    uint8_t *rgb;       /* [height x width x 3] */
} ct_image;

/* Load JPEG/PNG/BMP/TGA/GIF (first frame) as 8-bit RGB. An image whose header announces more
 * than CT_MAX_IMAGE_PIXELS is refused with CT_ERR_TOO_LARGE before any pixel is decoded; a
 * 16-bit PNG, a GIF (its canvas) and a progressive JPEG count each pixel twice (what their
 * decoders keep per pixel). */
#define CT_MAX_IMAGE_PIXELS (64u * 1024u * 1024u)
CT_API ct_status ct_image_load(const char *path, ct_image **out, ct_error *err);
CT_API ct_status ct_image_from_rgb(const uint8_t *rgb, int width, int height, ct_image **out,
                                   ct_error *err);
CT_API void ct_image_free(ct_image *img);

/* Write an 8-bit RGB PNG as ct_output_* writes (below): a regular file appears complete or not
 * at all, a device or FIFO is written as a stream, a link is followed; every write is checked. */
CT_API ct_status ct_image_save_png(const ct_image *img, const char *path, ct_error *err);
/* Write a label map [height x width] as a grey PNG of bit_depth 8 (labels in [0, 255]) or 16
 * (labels in [0, 65535]); same guarantees as ct_image_save_png. */
CT_API ct_status ct_labels_save_png(const int32_t *labels, int width, int height, int bit_depth,
                                    const char *path, ct_error *err);
/* The colour programs draw label `label` in (the demo's colour maps, legends and overlays, the
 * Python binding's colorize): black for background_label (pass -1 for none) and for a negative
 * label; labels 0..255 from a table of colours chosen far apart in CIELAB (the first 20 at least
 * 33 units apart), larger labels along the golden angle of hue. Depends on the label alone. */
CT_API void ct_label_color(int label, int background_label, uint8_t rgb[3]);
/* Read a label map: a grey PNG of any depth (1 to 16 bits: the raw value is the label, not
 * rescaled) or a palette PNG (the palette index is the label, as VOC's SegmentationClass); a
 * colour or grey + alpha PNG is CT_ERR_UNSUPPORTED. *labels [height x width] is allocated; free
 * it with ct_free. */
CT_API ct_status ct_labels_load_png(const char *path, int32_t **labels, int *width, int *height,
                                    ct_error *err);

/* ------------------------------------------------------------------ files */

/* Read a whole regular file of at most max_bytes (a directory, FIFO or device is CT_ERR_IO and
 * a FIFO never blocks; larger is CT_ERR_TOO_LARGE) into *data, with one NUL byte after the
 * len bytes; free it with ct_free. */
CT_API ct_status ct_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                              ct_error *err);

/* An output file, as the library's PNG writers write theirs (docs/formats.md, "Output paths"):
 *   - a regular file (or a new one) appears complete or not at all: the data goes to a temporary
 *     file beside `path` (created with O_EXCL | O_NOFOLLOW under a random name: never through a
 *     planted file or link), is fsync'ed and renamed over `path` by ct_output_commit once every
 *     write, the flush, the sync and the close succeeded, then the directory is fsync'ed; a crash
 *     of the process or the machine leaves the old file or the new one. A replaced file keeps its
 *     permission bits; a new one gets 0666 less the umask.
 *   - a symbolic link is followed (chains and relative links too; a dangling link: its target is
 *     created) and its target replaced as above; the link is kept.
 *   - a character or block device or a FIFO is written in place as a stream: no temporary file,
 *     no rename (a FIFO open blocks until a reader comes); a failed write is still an error.
 *   - a directory or socket is CT_ERR_IO.
 * ct_output_write remembers a failure for the commit to report. Commit and abort free the handle;
 * abort removes the temporary file. */
typedef struct ct_output ct_output;
CT_API ct_status ct_output_open(const char *path, ct_output **out, ct_error *err);
CT_API void ct_output_write(ct_output *o, const void *data, size_t len);
CT_API ct_status ct_output_commit(ct_output *o, ct_error *err);
CT_API void ct_output_abort(ct_output *o);

/* The short side the tools and the Python binding use for a requested `size`: size rounded to the
 * nearest multiple of `patch` (halves up), at least one patch, at most the largest multiple of
 * patch not above 8192 (CT_DEFAULT_SIZE, the paper's 336, gives 336 for patch 16 and 14, 352 for
 * ViT-B/32). 0 when patch is outside [1, 8192]. ct_preprocess takes only multiples of the patch. */
#define CT_DEFAULT_SIZE 336
CT_API int ct_round_size(int size, int patch);

/* Resize (PIL bicubic with antialiasing, 8-bit rounding) and normalise with CLIP mean/std.
 * crop != 0: short side to `size`, then size x size center crop (the paper's protocol).
 * crop == 0: short side to `size`, long side to the nearest multiple of `patch` keeping the
 * aspect ratio. *pixels [3 x H x W] is allocated; free it with ct_free. */
CT_API ct_status ct_preprocess(const ct_image *img, int size, int crop, int patch,
                               float **pixels, int *H, int *W, ct_error *err);
/* The geometry of that resize, without any pixel: the picture resized to resized_width x
 * resized_height, then (crop) the model input taken at (crop_left, crop_top); width x height
 * is the model input. For programs that follow the picture through it (ground truth to the
 * model input). Same checks as ct_preprocess: size and patch in [1, 8192], size a multiple of
 * patch, an aspect ratio whose resized long side exceeds 65,536 pixels is CT_ERR_TOO_LARGE. */
typedef struct {
    int resized_width, resized_height;
    int crop_left, crop_top;
    int width, height;
} ct_geometry;
CT_API ct_status ct_resize_geometry(int width, int height, int size, int crop, int patch,
                                    ct_geometry *g, ct_error *err);
/* The same, returning the resized 8-bit RGB image [H x W x 3] before normalisation. */
CT_API ct_status ct_resize_for_model(const ct_image *img, int size, int crop, int patch,
                                     ct_image **out, ct_error *err);
/* Labels [H x W] of a model input made by ct_resize_for_model(img, size, crop, ...) back to the
 * picture's width x height (out [height x width]): nearest neighbour through the resize; with a
 * crop, picture pixels outside it take the label of the nearest crop edge. */
CT_API ct_status ct_labels_to_image(const int32_t *labels, int H, int W, int width, int height,
                                    int size, int crop, int32_t *out, ct_error *err);
/* Normalise 8-bit RGB to CLIP input [3 x H x W]; free *pixels with ct_free. */
CT_API ct_status ct_normalize(const ct_image *img, float **pixels, ct_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CLIPTRASE_H */
