/* clip.h — ClipLab's CLIP library: the one public header.
 *
 * Usage:
 *   ClipModel *model = clip_model_load ("openai-clip-vit-base-patch32/", NULL, &error);
 *   float emb[512];
 *   clip_model_encode_image_files (model, (const char *[]) { "cat.jpg" }, 1, FALSE, emb, &error);
 *   clip_model_encode_texts (model, (const char *[]) { "a photo of a cat" }, 1, emb, &error);
 *
 * Errors are reported through GError in the CLIP_ERROR domain (or G_IO_ERROR from GIO); the library
 * never prints and never exits.
 *
 * Thread safety: a ClipModel is used by one thread at a time (it owns scratch buffers); a
 * ClipTokenizer is immutable once loaded and may be shared between threads.  OpenBLAS keeps one
 * process-wide thread pool, so only one thread should run model code at a time.
 *
 * Long operations (encoding, data set preparation and evaluation, index updates, training runs) take
 * a `const ClipCallbacks *callbacks` (may be NULL) just before the GError: progress and abort are
 * called on the calling thread.
 *
 * Ownership: every function returning a pointer says whether the caller owns it ("free with …") or
 * borrows it ("borrowed": valid as long as the object it came from, unless a shorter life is stated).
 */
#pragma once

#include <glib.h>
#include <gio/gio.h>
#include <stdint.h>
#include <stddef.h>

G_BEGIN_DECLS

#define CLIP_ERROR (clip_error_quark ())
GQuark clip_error_quark (void);

typedef enum {
  CLIP_ERROR_IO,          /* a file cannot be opened, read or written */
  CLIP_ERROR_FORMAT,      /* a file's contents are malformed */
  CLIP_ERROR_SHAPE,       /* a tensor or configuration value does not fit the model */
  CLIP_ERROR_MISSING,     /* a required tensor, key or file is absent */
  CLIP_ERROR_UNSUPPORTED, /* well-formed, but not something this library handles */
  CLIP_ERROR_LIMIT,       /* exceeds one of the documented limits */
  CLIP_ERROR_INVALID,     /* the caller passed an invalid argument */
  CLIP_ERROR_ABORTED,     /* the abort callback asked to stop */
  CLIP_ERROR_RESOURCES,   /* the process ran out of file descriptors or memory: a failure of the whole
                           * job, never a reason to skip one input */
  CLIP_ERROR_NETWORK,     /* a server cannot be reached, or the connection kept failing */
  CLIP_ERROR_DENIED,      /* a server refused access (HTTP 401/403: gated or private, a token is needed) */
} ClipErrorCode;

/* The one callback convention of every long operation.  WHAT names the work in progress
 * ("Decoding images", …); TOTAL is -1 while unknown. */
typedef void     (*ClipProgressFunc) (const char *what, int64_t done, int64_t total, gpointer user_data);
typedef gboolean (*ClipAbortFunc) (gpointer user_data);   /* TRUE stops with CLIP_ERROR_ABORTED */
typedef struct {
  ClipProgressFunc progress;   /* may be NULL */
  ClipAbortFunc    abort;      /* may be NULL; polled often */
  gpointer         user_data;  /* for both */
} ClipCallbacks;

/* Documented limits, enforced with CLIP_ERROR_LIMIT. */
#define CLIP_MAX_HEADER_BYTES   (100 * 1000 * 1000)  /* safetensors JSON header */
#define CLIP_MAX_TENSORS        65536
#define CLIP_MAX_DIMS           8
#define CLIP_MAX_DIM_SIZE       (1 << 24)            /* any single model dimension */
#define CLIP_MAX_IMAGE_PIXELS   (100 * 1000 * 1000)  /* decoded width × height */
#define CLIP_MAX_VOCAB          (1 << 20)
#define CLIP_MAX_JSON_DEPTH     64
#define CLIP_MAX_THREADS        256                  /* compute or decode threads */

/* ---------------------------------------------------------------- dtypes */

typedef enum {
  CLIP_DTYPE_F32,
  CLIP_DTYPE_F16,
  CLIP_DTYPE_BF16,
  CLIP_DTYPE_F64,
  CLIP_DTYPE_I64,
  CLIP_DTYPE_I32,
  CLIP_DTYPE_I16,
  CLIP_DTYPE_I8,
  CLIP_DTYPE_U8,
  CLIP_DTYPE_BOOL,
} ClipDType;

const char *clip_dtype_name (ClipDType dtype);             /* "F32", …: static, borrowed */
gboolean    clip_dtype_from_name (const char *name, ClipDType *dtype);
size_t      clip_dtype_size (ClipDType dtype);             /* bytes per element */

/* ---------------------------------------------------------------- tokenizer */

typedef struct _ClipTokenizer ClipTokenizer;

typedef enum {
  CLIP_TOKENIZER_BPE,    /* CLIP's byte-level BPE (49,408 ids for OpenAI's vocabulary) */
  CLIP_TOKENIZER_BYTES,  /* UTF-8 bytes 0-255, SOT 256, EOT 257 */
} ClipTokenizerKind;

/* Tokenizers are reference-counted: new, load, ref and deserialize return a reference the caller
 * owns (drop it with clip_tokenizer_unref). */
ClipTokenizer *clip_tokenizer_new_bytes (void);
/* PATH is "bytes", a directory holding vocab.json + merges.txt or tokenizer.json, a vocab.json
 * (merges.txt beside it), a merges.txt (vocab.json beside it, or derived), a tokenizer.json,
 * or a bpe_simple_vocab_16e6.txt.gz. */
ClipTokenizer *clip_tokenizer_load (const char *path, GError **error);
ClipTokenizer *clip_tokenizer_ref (ClipTokenizer *tok);
void           clip_tokenizer_unref (ClipTokenizer *tok);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipTokenizer, clip_tokenizer_unref)

ClipTokenizerKind clip_tokenizer_get_kind (const ClipTokenizer *tok);
int  clip_tokenizer_get_vocab_size (const ClipTokenizer *tok);
int  clip_tokenizer_get_sot_id (const ClipTokenizer *tok);
int  clip_tokenizer_get_eot_id (const ClipTokenizer *tok);
const char *clip_tokenizer_describe (const ClipTokenizer *tok); /* e.g. "CLIP BPE, 49408 ids"; borrowed */

/* OpenAI's cleaning: ftfy subset, HTML unescape twice, whitespace collapse, lower-case.  Free with g_free. */
char *clip_tokenizer_clean_text (const char *text);
/* Token ids of TEXT without SOT/EOT; *n_ids receives the count.  Free with g_free. */
int32_t *clip_tokenizer_encode_words (const ClipTokenizer *tok, const char *text, size_t *n_ids);
/* SOT + ids + EOT into IDS[context_length], truncated with EOT last, zero-padded.
 * Returns the number of ids before padding. */
int clip_tokenizer_encode (const ClipTokenizer *tok, const char *text, int context_length, int32_t *ids);

/* A self-contained description of the tokenizer (kind, vocabulary, merges) as a string (free with
 * g_free), for storing inside a checkpoint's metadata, and its inverse. */
char          *clip_tokenizer_serialize (const ClipTokenizer *tok);
ClipTokenizer *clip_tokenizer_deserialize (const char *data, GError **error);

/* ---------------------------------------------------------------- images */

typedef struct {
  int width;
  int height;
  uint8_t *pixels;        /* RGB, 3 bytes per pixel, rows packed (stride 3 × width) */
} ClipImage;

typedef struct {
  int   image_size;       /* square model input */
  float mean[3];
  float std[3];
} ClipPreprocess;

void       clip_preprocess_init_default (ClipPreprocess *pre); /* 224, OpenAI mean/std */

/* Decode any format gdk-pixbuf reads into 8-bit RGB (alpha dropped, grey and palettes expanded).
 * Refuses images over CLIP_MAX_IMAGE_PIXELS before decoding.  Load and new: free with clip_image_free. */
ClipImage *clip_image_load (const char *path, gboolean apply_exif_orientation, GError **error);
ClipImage *clip_image_new (int width, int height);
void       clip_image_free (ClipImage *image);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipImage, clip_image_free)

/* Shorter side to SIZE with Pillow's 8-bit bicubic, then torchvision's centre crop:
 * CROP receives SIZE × SIZE × 3 bytes. */
void clip_image_resize_crop (const ClipImage *image, int size, uint8_t *crop);
/* 8-bit HWC crop → float CHW normalised with the model's mean/std. */
void clip_image_normalize (const uint8_t *crop, const ClipPreprocess *pre, float *chw);

/* ---------------------------------------------------------------- model */

typedef enum {
  CLIP_ACTIVATION_QUICK_GELU,
  CLIP_ACTIVATION_GELU,
} ClipActivation;

typedef struct {
  int   width;
  int   layers;
  int   heads;
  int   mlp_width;
  float ln_eps;
  ClipActivation activation;
} ClipTowerConfig;

typedef struct {
  ClipTowerConfig vision;
  ClipTowerConfig text;
  int image_size;
  int patch_size;
  int context_length;
  int vocab_size;
  int embed_dim;
  int eot_id;            /* text pooling at the first EOT id; -1 pools at the largest id */
} ClipConfig;

typedef enum {
  CLIP_LAYOUT_HF_DIR,        /* config.json + model.safetensors */
  CLIP_LAYOUT_OPEN_CLIP_DIR, /* open_clip_config.json + open_clip_model.safetensors */
  CLIP_LAYOUT_HF_FILE,       /* one .safetensors with HF names */
  CLIP_LAYOUT_OPENAI_FILE,   /* one .safetensors with OpenAI/open_clip names */
  CLIP_LAYOUT_CLIPLAB,       /* our self-contained checkpoint */
} ClipLayout;

const char *clip_layout_name (ClipLayout layout);  /* static, borrowed */

/* The arithmetic of inference's matrix products (training always runs in float32):
 * - F32: float32, the default, exact;
 * - BF16: weights stored once as bfloat16 (half the memory), inputs of each product rounded to
 *   bfloat16, float32 sums; LayerNorm, softmax, residuals and activations stay float32.  Embedding
 *   cosine to F32 ≥ 0.999 on the ViT-B/32 golden weights;
 * - INT8: weights int8 symmetric per output column, inputs int8 per row (scaled dynamically), int32
 *   sums, the rest float32 as BF16.  Cosine to F32 ≥ 0.995 on the same weights;
 * - AUTO: the fastest on this CPU (timed once per machine, cached in $XDG_CACHE_HOME/cliplab) of
 *   F32, BF16 where the CPU multiplies bfloat16 natively (AMX or AVX512-BF16), and INT8 where it has
 *   a vector int8 kernel and the model's int8 embeddings keep a cosine of 0.995 to its F32 ones
 *   (checked on probe images and prompts at the model's first load with AUTO, which loads it twice
 *   more, and cached per model files). */
typedef enum {
  CLIP_PRECISION_F32,
  CLIP_PRECISION_BF16,
  CLIP_PRECISION_INT8,
  CLIP_PRECISION_AUTO,
} ClipPrecision;

const char *clip_precision_name (ClipPrecision precision);   /* "f32", "bf16", "int8", "auto" */
/* The kernel this CPU runs BF16's or INT8's products on, e.g. "amx-bf16", "avx512-vnni-int8",
 * "portable-int8"; for F32 its panel kernel ("f32-panels-avx512"; OpenBLAS may run a pass
 * instead).  AUTO is not resolved: NULL. */
const char *clip_precision_kernel_name (ClipPrecision precision);
gboolean    clip_precision_from_name (const char *name, ClipPrecision *precision);

typedef struct {
  const char *config_path;     /* JSON config for a bare .safetensors file, or NULL */
  const char *tokenizer_path;  /* overrides the model's tokenizer; "bytes" for the byte tokenizer */
  int vision_heads;            /* overrides; 0 = from the config, else width / 64 */
  int text_heads;
  ClipPrecision precision;     /* of inference's products; F32 by default */
} ClipLoadOptions;

void clip_load_options_init (ClipLoadOptions *options);

typedef struct _ClipModel ClipModel;

/* PATH: a model directory, a .safetensors file (or the model.safetensors.index.json of a checkpoint
 * split in shards), or a Hugging Face model id ("openai/clip-vit-base-patch32", "ORG/NAME@REVISION")
 * that is not an existing path, loaded from the hub cache (see clip_hub_resolve; no network).  Free with
 * clip_model_free. */
ClipModel *clip_model_load (const char *path, const ClipLoadOptions *options, GError **error);
void       clip_model_free (ClipModel *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipModel, clip_model_free)

/* The getters' pointers are borrowed from the model. */
const ClipConfig     *clip_model_get_config (const ClipModel *model);
const ClipPreprocess *clip_model_get_preprocess (const ClipModel *model);
/* Borrowed (NULL when the model has none): clip_tokenizer_ref it to keep it beyond the model. */
ClipTokenizer        *clip_model_get_tokenizer (const ClipModel *model);
ClipLayout            clip_model_get_layout (const ClipModel *model);
ClipDType             clip_model_get_dtype (const ClipModel *model);      /* of the weights on disk */
const char           *clip_model_get_path (const ClipModel *model);
ClipPrecision         clip_model_get_precision (const ClipModel *model);  /* as resolved: never AUTO */

/* The families of inference's matrix products, per tower. */
typedef enum {
  CLIP_PRODUCT_PATCH_EMBEDDING,
  CLIP_PRODUCT_VISION_QKV,
  CLIP_PRODUCT_VISION_ATTENTION_OUT,
  CLIP_PRODUCT_VISION_MLP_UP,
  CLIP_PRODUCT_VISION_MLP_DOWN,
  CLIP_PRODUCT_VISION_PROJECTION,
  CLIP_PRODUCT_TEXT_QKV,
  CLIP_PRODUCT_TEXT_ATTENTION_OUT,
  CLIP_PRODUCT_TEXT_MLP_UP,
  CLIP_PRODUCT_TEXT_MLP_DOWN,
  CLIP_PRODUCT_TEXT_PROJECTION,
  CLIP_N_PRODUCTS
} ClipProduct;

const char *clip_product_name (ClipProduct product);   /* "vision_qkv", … */
/* The kernel PRODUCT ran on in the model's last forward pass, e.g. "amx-bf16", "f32-panels-avx512",
 * "openblas" (float32 runs one kernel for a whole pass, chosen per machine for one image or prompt
 * and for a batch, timed at the first pass); NULL before the first pass. */
const char *clip_model_get_kernel (const ClipModel *model, ClipProduct product);
/* The CPU's model name (its brand string), or "unknown". */
const char *clip_cpu_model_name (void);
int64_t               clip_model_get_n_params (const ClipModel *model);
float                 clip_model_get_logit_scale (const ClipModel *model); /* the raw log value */

/* Embeddings are L2-normalised rows of embed_dim floats.  CALLBACKS' abort is polled between layers;
 * progress is not reported. */
gboolean clip_model_encode_images (ClipModel *model, const float *pixels /* [n, 3, S, S] */, int n,
                                   float *embeds, const ClipCallbacks *callbacks, GError **error);
gboolean clip_model_encode_token_ids (ClipModel *model, const int32_t *ids /* [n, row_len] */, int n,
                                      int row_len, float *embeds, const ClipCallbacks *callbacks, GError **error);
gboolean clip_model_encode_texts (ClipModel *model, const char *const *texts, int n,
                                  float *embeds, const ClipCallbacks *callbacks, GError **error);
gboolean clip_model_encode_image_files (ClipModel *model, const char *const *paths, int n,
                                        gboolean apply_exif_orientation, float *embeds,
                                        const ClipCallbacks *callbacks, GError **error);
/* The smallest cosine between row i of A and row i of B [N, DIM], embeddings (unit rows): how far
 * two encodings of the same inputs, at two precisions say, are apart. */
double   clip_embeddings_worst_cosine (const float *a, const float *b, int n, int dim);

/* Write the model as one self-contained .safetensors (architecture, preprocessing and tokenizer in
 * its metadata), atomically. DTYPE is F32, F16 or BF16. */
gboolean clip_model_save (const ClipModel *model, const char *path, ClipDType dtype, GError **error);

/* ---------------------------------------------------------------- zero-shot */

/* Built-in template sets: "simple" (1), "openai7" (7), "imagenet80" (80).  NULL-terminated, static:
 * borrowed. */
const char *const *clip_templates_builtin (const char *name, int *n_templates);
/* One template per non-empty line; each must contain "{}" or CLIP_benchmark's "{c}" where the class
 * name goes.  Free with g_strfreev. */
char **clip_templates_load (const char *path, GError **error);

/* Whether TEMPLATE has a place for the class name: "{}" or CLIP_benchmark's "{c}". */
gboolean clip_template_is_valid (const char *template);
/* Rows of WEIGHTS [n_classes, embed_dim]: mean of the L2-normalised template embeddings, normalised.
 * "{}" and "{c}" in a template both stand for the class name. */
gboolean clip_zero_shot_classifier (ClipModel *model, const char *const *classes, int n_classes,
                                    const char *const *templates, int n_templates,
                                    float *weights, const ClipCallbacks *callbacks, GError **error);
/* PROBS [n_images, n_classes] = softmax(exp(logit_scale) · image · weightᵀ). */
void clip_zero_shot_probs (const ClipModel *model, const float *image_embeds, int n_images,
                           const float *weights, int n_classes, float *probs);

/* ---------------------------------------------------------------- training */

/* A new model with CLIP's initialisation (clip-reference.md §1.6) drawn from SEED; TOKENIZER is
 * referenced.  Free with clip_model_free. */
ClipModel *clip_model_new_random (const ClipConfig *config, const ClipPreprocess *pre,
                                  ClipTokenizer *tokenizer, uint64_t seed, GError **error);

typedef struct {
  double  lr;              /* peak learning rate (1e-4) */
  double  beta1, beta2;    /* 0.9, 0.98 */
  double  eps;             /* 1e-6 */
  double  weight_decay;    /* 0.2, on tensors with ≥ 2 dimensions */
  int64_t warmup_steps;    /* linear warmup, then cosine decay to 0 at total_steps */
  int64_t total_steps;
  double  grad_clip;       /* global norm; 0 turns clipping off (1.0) */
} ClipOptimConfig;

void clip_optim_config_init (ClipOptimConfig *optim);
/* The rate used for the update of STEP (0-based): clip-reference.md §5. */
double clip_optim_lr_at (const ClipOptimConfig *optim, int64_t step);

typedef struct {
  int64_t step;            /* optimizer steps taken, after this one */
  double  loss;            /* of the batch, before the update */
  double  lr;              /* used for the update */
  double  grad_norm;       /* before clipping */
  double  logit_scale;     /* after the update and the clamp */
} ClipStepStats;

typedef struct _ClipTrainer ClipTrainer;

/* Copies MODEL's weights (and config, preprocessing, tokenizer) into one parameter block with
 * gradients and AdamW moments beside it.  Free with clip_trainer_free. */
ClipTrainer *clip_trainer_new (const ClipModel *model, const ClipOptimConfig *optim, GError **error);
void         clip_trainer_free (ClipTrainer *trainer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipTrainer, clip_trainer_free)

/* Forward, symmetric contrastive loss, backward, clip, AdamW, logit_scale clamp to [0, ln 100].
 * PIXELS [batch, 3, S, S], IDS [batch, context_length]; row i of each is a matching pair. */
/* CALLBACKS' abort is polled between layers, forward and backward; an aborted step changes nothing. */
gboolean clip_trainer_step (ClipTrainer *trainer, const float *pixels, const int32_t *ids, int batch,
                            ClipStepStats *stats, const ClipCallbacks *callbacks, GError **error);
/* The model as trained so far, borrowed: valid until the next step; use it for evaluation or saving. */
ClipModel *clip_trainer_get_model (ClipTrainer *trainer);
int64_t    clip_trainer_get_step (const ClipTrainer *trainer);

/* The whole optimiser state (weights, moments, step) plus caller metadata (string pairs, e.g. the
 * epoch, position and RNG state of the data loader and the run's configuration), written
 * atomically and durably; and back.  The file is also a loadable ClipLab model.  Load returns an
 * owned trainer and, in *METADATA, an owned table (g_hash_table_unref). */
gboolean     clip_trainer_save (ClipTrainer *trainer, const char *path, GHashTable *metadata, GError **error);
ClipTrainer *clip_trainer_load (const char *path, GHashTable **metadata, GError **error);

/* ---------------------------------------------------------------- data-parallel training
 *
 * The collectives a data-parallel run needs, provided by the caller (cliplab-cli implements them
 * over MPI) so that the library carries no transport.  Every rank makes the same calls in the same
 * order; a call that fails returns FALSE with ERROR set (the run then cannot continue). */
typedef struct {
  int      rank, size;
  /* RECV [size × BYTES] receives every rank's BYTES bytes of SEND, in rank order. */
  gboolean (*allgather) (const void *send, void *recv, size_t bytes, gpointer user_data, GError **error);
  /* SEND [size × COUNT] is summed over the ranks; block r of the sum lands in rank r's RECV [COUNT]. */
  gboolean (*reduce_scatter_sum) (const float *send, float *recv, size_t count, gpointer user_data,
                                  GError **error);
  /* DATA [COUNT] becomes its sum over the ranks, the same on every rank. */
  gboolean (*allreduce_sum) (float *data, size_t count, gpointer user_data, GError **error);
  gpointer user_data;
} ClipCommunicator;

/* From now on clip_trainer_step takes this rank's share of a global batch: with BATCH pairs per
 * rank, rank r passes pairs r·BATCH … (r + 1)·BATCH − 1 of the global batch of size × BATCH.  The
 * image and text features are gathered, each rank computes the loss rows of its images and the
 * columns of its texts, the feature gradients are reduce-scattered back to their owners and the
 * parameter gradients summed, so every rank takes the step a single process would take on the
 * global batch (within float rounding), and the stats are the global batch's.  COMM is copied and
 * must outlive the trainer; NULL returns to single-process training.  clip_trainer_step then polls
 * the callbacks' abort once, before the step, and all ranks agree on it: they stop together. */
void clip_trainer_set_communicator (ClipTrainer *trainer, const ClipCommunicator *comm);
/* The check every rank makes where one may have failed alone, before a collective that would
 * otherwise wait for it: each passes its own failure (NULL when it is fine) and all fail together
 * with the first failing rank's error, "rank R of N: …" (an abort stays CLIP_ERROR_ABORTED). */
gboolean clip_communicator_agree (const ClipCommunicator *comm, const GError *local_failure, GError **error);

/* ---------------------------------------------------------------- evaluation */

/* Recall@K for up to CLIP_MAX_RECALL_K values of K; 1, 5 and 10 unless chosen, so that
 * image_to_text[0..2] are R@1, R@5 and R@10 then. */
#define CLIP_MAX_RECALL_K 8

typedef struct {
  double image_to_text[CLIP_MAX_RECALL_K];   /* CLIP_benchmark's text_retrieval_recall@k[i] */
  double text_to_image[CLIP_MAX_RECALL_K];   /* CLIP_benchmark's image_retrieval_recall@k[i] */
  int    n_k;
  int    k[CLIP_MAX_RECALL_K];
} ClipRetrievalMetrics;

/* IMAGE [n, dim] and TEXT [n, dim] embeddings, row i of each a pair.  Captions with identical text
 * form one group (GROUP[i] = group id of caption i; NULL makes each row its own group) and are
 * ranked once: see clip_evaluate_retrieval_captions.  Recall at 1, 5 and 10. */
void clip_evaluate_retrieval (const float *image, const float *text, int n, int dim, const int *group,
                              ClipRetrievalMetrics *metrics);

/* CLIP_benchmark's retrieval with several captions per image and each distinct caption text ranked
 * once.  IMAGE [n_images, dim], TEXT [n_texts, dim] (distinct texts); caption c describes image
 * CAPTION_IMAGE[c] with text CAPTION_TEXT[c].  Text → image: every caption is a query, a hit when an
 * image with that caption text is among the K best images.  Image → text: every image with a caption
 * is a query over the distinct texts, a hit when one of its texts is among the K best.  Candidates
 * tied with the best correct one (within 1e-6) are ordered at random and the hit counts with its
 * probability, so equal embeddings score K / n, not 1.  KS [n_k] (NULL: 1, 5, 10), each ≥ 1. */
void clip_evaluate_retrieval_captions (const float *image, int n_images, const float *text, int n_texts,
                                       int dim, const int *caption_image, const int *caption_text,
                                       int n_captions, const int *ks, int n_k, ClipRetrievalMetrics *metrics);

typedef struct {
  double top1, top5;
  double mean_per_class_recall;  /* balanced accuracy: the mean of per_class over classes with images */
  int    n_classes;
  double *per_class;         /* [n_classes] accuracy */
  int    *confusion;         /* [n_classes × n_classes], row = true label, column = prediction */
} ClipZeroShotMetrics;

/* PROBS [n, n_classes] from clip_zero_shot_probs, LABELS [n] in 0..n_classes-1.  The prediction is
 * the first most probable class; per_class is NaN for a class without images.  METRICS' arrays are
 * the caller's: free them with clip_zero_shot_metrics_clear. */
void clip_evaluate_zero_shot (const float *probs, const int *labels, int n, int n_classes,
                              ClipZeroShotMetrics *metrics);
void clip_zero_shot_metrics_clear (ClipZeroShotMetrics *metrics);

/* ---------------------------------------------------------------- datasets */

/* An image data set in one of the shapes people keep them in, recognised from what PATH is:
 *   csv         a CSV file with header image_path,caption[,label] (RFC 4180 quoting, a UTF-8 BOM
 *               allowed), paths relative to the image root (default: the CSV's folder) or absolute;
 *   folder      a folder with one subfolder per class (torchvision's ImageFolder: classes sorted by
 *               name, images found recursively);
 *   webdataset  CLIP_benchmark's layout: SPLIT/nshards.txt, SPLIT/0.tar … SPLIT/N-1.tar holding
 *               KEY.jpg|png|webp with KEY.cls (class index) or KEY.txt (captions, one a line), and
 *               beside them classnames.txt and zeroshot_classification_templates.txt; read streaming
 *               from the tars, never unpacked; shards may be compressed (N.tar.gz, .tgz, .tar.xz,
 *               .tar.zst, .tar.bz2), and PATH may name them with a brace pattern instead
 *               (ROOT/SPLIT/{0..N-1}.tar.gz, zero-padded as in shard-{000..099}.tar);
 *   coco        a COCO captions JSON (images + annotations; images under the image root, by default
 *               ../NAME for annotations/captions_NAME.json when that folder exists);
 *   karpathy    a Karpathy split JSON (images[].{filename, split, sentences[].raw}, e.g.
 *               dataset_flickr30k.json) restricted to one split.
 * Images and captions are separate lists: an image may have several captions (one retrieval item
 * with several positives), and a row of this API is one caption with its image (a training pair).
 * Classification-only data (folder, WebDataset .cls) get one caption per image from templates.
 * A relative image path never leads out of the image root; an absolute one names its file wherever
 * it is (other tools export data sets that way).
 * Bad entries (missing file, relative path outside the root, empty caption, wrong column count, a truncated
 * tar, a missing class index, an annotation naming an unknown image) are skipped and reported as
 * issues naming the file and the entry; undecodable images are found by clip_dataset_prepare_images. */
typedef struct _ClipDataset ClipDataset;

/* Enforced with CLIP_ERROR_LIMIT: more data rows fail the load; a longer row (quoted newlines
 * included) is skipped. */
#define CLIP_MAX_DATASET_ROWS     (10 * 1000 * 1000)
#define CLIP_MAX_CSV_RECORD_BYTES (1 << 20)

typedef struct {
  int   line;         /* 1-based line in FILE, or 0 where lines mean nothing (tars, JSON) */
  char *path;         /* the entry as the source names it (CSV path, tar member, annotation), or NULL */
  char *reason;
  char *file;         /* the file the entry is in: the CSV, the shard, the JSON, the class folder */
} ClipDatasetIssue;

/* "FILE:LINE: skipped ENTRY: REASON" (LINE and ENTRY left out when unknown). */
char *clip_dataset_issue_describe (const ClipDatasetIssue *issue);

typedef enum {
  CLIP_DATASET_FORMAT_AUTO,
  CLIP_DATASET_FORMAT_CSV,
  CLIP_DATASET_FORMAT_FOLDER,
  CLIP_DATASET_FORMAT_WEBDATASET,
  CLIP_DATASET_FORMAT_COCO,
  CLIP_DATASET_FORMAT_KARPATHY,
} ClipDatasetFormat;

typedef struct {
  ClipDatasetFormat  format;        /* AUTO: from what the path is */
  const char        *image_root;    /* CSV, COCO, Karpathy: where image paths start (NULL: default) */
  const char        *split;         /* WebDataset, Karpathy: the part to read (NULL: "test"); Karpathy
                                     * splits join with "+" ("train+restval") */
  const char *const *templates;     /* captions of classification-only data: NULL = the data set's */
  int                n_templates;   /*   template file, or "a photo of a {}." */
} ClipDatasetOptions;

void         clip_dataset_options_init (ClipDatasetOptions *options);
/* Reads the data set at PATH (CALLBACKS' abort is polled while WebDataset shards are indexed). */
ClipDataset *clip_dataset_open (const char *path, const ClipDatasetOptions *options,
                                const ClipCallbacks *callbacks, GError **error);
/* Whether PATH is a WebDataset folder (SPLIT/nshards.txt inside, or PATH is the split folder) or a
 * brace pattern of shard names in an existing folder, whose
 * images have no files of their own (clip_dataset_get_image_path is NULL for them). */
gboolean     clip_dataset_is_webdataset (const char *path);
/* The CSV reader alone: clip_dataset_open with format CSV.  Free with clip_dataset_free; the
 * getters' pointers are borrowed from the data set. */
ClipDataset *clip_dataset_load_csv (const char *csv_path, const char *image_root, GError **error);
void         clip_dataset_free (ClipDataset *dataset);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipDataset, clip_dataset_free)

const char *clip_dataset_get_format_name (const ClipDataset *dataset);  /* "csv", "folder", … */
const char *clip_dataset_get_path (const ClipDataset *dataset);         /* as opened */
/* The folder the image paths are relative to, absolute; NULL for WebDataset shards. */
const char *clip_dataset_get_image_root (const ClipDataset *dataset);
/* Rows: one caption with its image each. */
int         clip_dataset_get_size (const ClipDataset *dataset);
/* Absolute file of the row's image, or NULL when the image is inside a WebDataset shard. */
const char *clip_dataset_get_image_path (const ClipDataset *dataset, int index);
/* The bytes of the cache file holding the prepared crops; 0 when they are in memory. */
uint64_t    clip_dataset_get_cache_bytes (const ClipDataset *dataset);
const char *clip_dataset_get_caption (const ClipDataset *dataset, int index);
int         clip_dataset_get_line (const ClipDataset *dataset, int index);   /* CSV line, or 0 */
int         clip_dataset_get_label (const ClipDataset *dataset, int index);  /* -1 without labels */
int         clip_dataset_get_n_labels (const ClipDataset *dataset);          /* class names */
const char *clip_dataset_get_label_name (const ClipDataset *dataset, int label);
/* Images: the row's image index, and per image its label and its name in the source. */
int         clip_dataset_get_row_image (const ClipDataset *dataset, int index);
int         clip_dataset_get_n_images (const ClipDataset *dataset);
int         clip_dataset_get_image_label (const ClipDataset *dataset, int image);
const char *clip_dataset_get_image_entry (const ClipDataset *dataset, int image);
/* The WebDataset shard holding the image (its entry is the member's name), or NULL for a file. */
const char *clip_dataset_get_image_shard (const ClipDataset *dataset, int image);
/* The bytes of the member MEMBER of the WebDataset shard SHARD_PATH (a tar, compressed or not),
 * streamed up to it (a plain tar skips the other members by seeking) and read whole, up to the
 * image member limit; errors name the shard and the member.  For viewers: one member at a time. */
GBytes     *clip_dataset_read_shard_member (const char *shard_path, const char *member, GError **error);
/* That member decoded as clip_image_load decodes a file. */
ClipImage  *clip_image_load_shard_member (const char *shard_path, const char *member,
                                          gboolean apply_exif_orientation, GError **error);
/* Whether the captions come from the data (retrieval) rather than from templates (classification). */
gboolean    clip_dataset_has_captions (const ClipDataset *dataset);
/* The data set's own zero-shot templates ("{}" or "{c}" for the class), NULL-terminated, or NULL. */
const char *const *clip_dataset_get_templates (const ClipDataset *dataset, int *n_templates);
/* Entries skipped so far: ClipDatasetIssue pointers owned by the data set. */
GPtrArray  *clip_dataset_get_issues (const ClipDataset *dataset);
/* Caption groups for clip_evaluate_retrieval: equal caption texts share an id.  [size] ints. */
const int  *clip_dataset_get_caption_groups (const ClipDataset *dataset);

/* Decodes every image once into SIZE × SIZE 8-bit RGB crops (clip-reference.md's preprocessing;
 * kept in memory, or in a cache file in CACHE_DIR when they would exceed MEMORY_LIMIT bytes),
 * dropping and reporting the images that cannot be decoded, with their captions.  Fails only when
 * no image remains.  The captions of one image share its crop; files decode on
 * g_get_num_processors() threads and WebDataset shards one per thread, each streamed once; progress
 * and abort on the calling thread.  CACHE_DIR NULL is the temporary folder; the cache file is
 * unlinked at once. */
gboolean       clip_dataset_prepare_images (ClipDataset *dataset, int size, gboolean apply_exif_orientation,
                                            size_t memory_limit, const char *cache_dir,
                                            const ClipCallbacks *callbacks, GError **error);
const uint8_t *clip_dataset_get_crop (ClipDataset *dataset, int index);  /* after prepare; borrowed */
const uint8_t *clip_dataset_get_image_crop (ClipDataset *dataset, int image);  /* after prepare; borrowed */
int            clip_dataset_get_crop_size (const ClipDataset *dataset);  /* 0 before prepare */
/* After prepare, the 16-byte content hash (XXH3-128, as the folder index hashes files) of a shard
 * member's bytes; NULL for an image that is a file (the folder index hashes those). */
const uint8_t *clip_dataset_get_image_content_hash (const ClipDataset *dataset, int image);

/* Evaluates MODEL on DATASET, whose images must be prepared at the model's image size: retrieval
 * Recall@K both ways (clip_evaluate_retrieval_captions over the images and the distinct captions;
 * KS [n_ks], NULL for 1, 5, 10) into RETRIEVAL (may be NULL) and, when ZERO_SHOT is not NULL,
 * zero-shot classification of the images over the data set's labels with TEMPLATES (NULL = the data
 * set's own, else the "simple" set), which needs labels.  Encodes BATCH_SIZE images or texts at a
 * time; CALLBACKS' progress counts them.  Free ZERO_SHOT's arrays with clip_zero_shot_metrics_clear. */
gboolean clip_evaluate_dataset (ClipModel *model, ClipDataset *dataset, const char *const *templates,
                                int n_templates, const int *ks, int n_ks, int batch_size,
                                ClipRetrievalMetrics *retrieval, ClipZeroShotMetrics *zero_shot,
                                const ClipCallbacks *callbacks, GError **error);

/* ---------------------------------------------------------------- training runs
 *
 * A whole training run around ClipTrainer: a CSV data set decoded once, seeded shuffling and
 * augmentation, the schedule, a JSON-lines log, validation at each epoch end, and checkpoints
 * from which a run continues bit for bit.
 *
 *   ClipTrainRunConfig config;
 *   clip_train_run_config_init (&config);
 *   config.csv_path = g_strdup ("train.csv"); config.image_root = g_strdup ("images");
 *   config.out_dir = g_strdup ("run");
 *   g_autoptr (ClipTrainRun) run = clip_train_run_new (&config, &events, &error);
 *   clip_train_run_run (run, &error);          // later: clip_train_run_resume ("run", …)
 *   clip_train_run_config_clear (&config);
 *
 * The output folder holds checkpoint-NNNNNN.safetensors (the trainer state after step N: weights,
 * AdamW moments, the run's configuration and data position; each also a loadable model) and, once
 * the run ends, model.safetensors (the final model).  Shuffling and augmentation use generators
 * seeded from (seed, epoch) and (seed, step), so the step count restores them exactly; a resumed
 * run's losses equal an uninterrupted run's when it uses the same build and thread count. */

typedef struct {
  /* data: any format clip_dataset_open reads (the name is the CSV's, which came first) */
  char    *csv_path;
  char    *image_root;       /* CSV, COCO, Karpathy: where image paths start; NULL = the format's default */
  char    *split;            /* WebDataset, Karpathy: the part trained on; NULL = "train" */
  char    *val_csv_path;     /* NULL: no validation; its paths are relative to image_root too */
  char    *val_split;        /* its part; NULL = "test" */
  char    *val_templates;    /* zero-shot templates for validation with labels: a built-in set or a
                              * file (clip_templates_load); NULL = "simple" */
  char    *out_dir;
  char    *log_json_path;    /* NULL: no log */
  /* schedule */
  int      epochs;           /* 10 */
  int      batch_size;       /* 64; the last incomplete batch of an epoch is dropped */
  gboolean fit_batch_size;   /* FALSE; TRUE: when fewer usable pairs than batch_size (but at least 2)
                              * remain, the batch is all of them, with a notice (a default that
                              * fits any data set; an explicit batch size stays an error).  Resolved
                              * when the run prepares its data, so checkpoints hold the batch used */
  double   lr;               /* 1e-4 peak */
  int64_t  warmup_steps;     /* -1 = 5 % of the total steps */
  double   weight_decay;     /* 0.2 */
  double   grad_clip;        /* 1.0; 0 turns clipping off */
  int64_t  max_steps;        /* 0 = steps per epoch × epochs; else the run and the schedule end
                              * after this many steps, whatever the epochs */
  uint64_t seed;             /* 0; initialisation, shuffling and augmentation */
  gboolean shuffle;          /* TRUE; FALSE keeps the CSV order */
  gboolean augment;          /* FALSE; TRUE: a random square crop of 90-100 % of the prepared
                              * crop's area, resized back with the preprocessing's bicubic */
  gboolean augment_flip;     /* FALSE; TRUE: each image mirrored left-right with probability 1/2
                              * (for data whose captions hold for the mirror image) */
  /* model: from init_model (its architecture and tokenizer), else a new one of these sizes */
  char    *init_model;       /* NULL: from scratch */
  char    *tokenizer;        /* "bytes" or a path; NULL = the init model's, else the byte tokenizer */
  int      vision_width;     /* 768 */
  int      vision_layers;    /* 12 */
  int      vision_heads;     /* 0 = max (1, vision_width / 64) */
  int      patch_size;       /* 32 */
  int      image_size;       /* 224 */
  int      text_width;       /* 512 */
  int      text_layers;      /* 12 */
  int      text_heads;       /* 8 */
  int      context_length;   /* 77 */
  int      embed_dim;        /* 512 */
  ClipActivation activation; /* quick_gelu; MLP widths are 4 × width */
  /* checkpoints */
  int64_t  save_every;       /* 500 steps; 0 = only when the run ends or stops */
  int      keep;             /* 3: older checkpoint files are deleted */
} ClipTrainRunConfig;

void clip_train_run_config_init (ClipTrainRunConfig *config);   /* the defaults above */
void clip_train_run_config_clear (ClipTrainRunConfig *config);  /* frees the strings */
void clip_train_run_config_copy (const ClipTrainRunConfig *src, ClipTrainRunConfig *dst);

typedef struct {
  ClipStepStats stats;       /* stats.step counts from 1 */
  int64_t epoch;             /* of the step's batch, from 1 */
  int64_t total_steps;
  double  images_per_s;      /* of this step, batch assembly included */
  double  eta_s;             /* remaining steps at the recent rate */
} ClipTrainStepReport;

typedef struct {
  int64_t step, epoch;
  ClipRetrievalMetrics retrieval;
  gboolean has_zero_shot;    /* the validation CSV has labels */
  double  zero_shot_top1, zero_shot_top5;
} ClipTrainValidation;

/* ClipCallbacks extended with the events only a training run has.  A run reports to the same
 * receiver from its creation (notices about skipped rows or a damaged checkpoint) to its last step,
 * across pauses, so it takes them once, at creation, rather than on each clip_train_run_run.  Called
 * on the thread running the run's functions; any may be NULL; callbacks.user_data is passed to all. */
typedef struct {
  /* progress: long preparations, WHAT ("Decoding the training images", "Validating") at DONE of
   * TOTAL.  abort: polled between and within steps; when it asks to stop, the run saves a checkpoint and
   * clip_train_run_run fails with CLIP_ERROR_ABORTED; calling clip_train_run_run again continues
   * (pause/resume), or the caller frees the run (stop; clip_train_run_resume continues it later). */
  ClipCallbacks callbacks;
  /* Something the user should know: skipped CSV rows (with their line numbers), a damaged
   * checkpoint passed over on resume, a thread count that differs from the run's. */
  void (*notice) (const char *message, gpointer user_data);
  void (*step) (const ClipTrainStepReport *report, gpointer user_data);
  void (*validation) (const ClipTrainValidation *validation, gpointer user_data);
  void (*checkpoint) (const char *path, int64_t step, gpointer user_data);
} ClipTrainEvents;

typedef struct _ClipTrainRun ClipTrainRun;

/* A new run into CONFIG->out_dir, which must not hold a run yet; checks the configuration, loads
 * the CSVs and builds or loads the model.  EVENTS (may be NULL) is copied.  Free with
 * clip_train_run_free. */
ClipTrainRun *clip_train_run_new (const ClipTrainRunConfig *config, const ClipTrainEvents *events,
                                  GError **error);
/* Continues the run in DIR from its newest checkpoint that loads (older ones are tried when the
 * newest is damaged); the configuration is the checkpoint's, with out_dir = DIR.  The log loses the
 * lines written after that checkpoint. */
ClipTrainRun *clip_train_run_resume (const char *dir, const ClipTrainEvents *events, GError **error);
void          clip_train_run_free (ClipTrainRun *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipTrainRun, clip_train_run_free)

/* The configuration stored in the newest readable checkpoint of the run in DIR (where its log is,
 * its schedule…), without loading its weights; e.g. to follow a run that another process writes.
 * Clear CONFIG with clip_train_run_config_clear. */
gboolean clip_train_run_read_config (const char *dir, ClipTrainRunConfig *config, GError **error);

/* The same on every rank of a data-parallel run (see ClipCommunicator): all ranks call them with the
 * same arguments.  config.batch_size is the global batch, a multiple of the ranks; each rank takes
 * its share of every batch from the same seeded order and augmentation and decodes only its own
 * images (an image that cannot be decoded then ends the run); rank 0 alone writes the folder, the
 * log and the checkpoints and validates.  Every rank reads the checkpoint on resume, whatever the
 * number of ranks that wrote it.  A failure of one rank ends the run on all of them, rank 0's error
 * naming the rank.  COMM is copied and must outlive the run. */
ClipTrainRun *clip_train_run_new_distributed (const ClipTrainRunConfig *config, const ClipTrainEvents *events,
                                              const ClipCommunicator *comm, GError **error);
ClipTrainRun *clip_train_run_resume_distributed (const char *dir, const ClipTrainEvents *events,
                                                 const ClipCommunicator *comm, GError **error);

/* Decodes the images (once), then trains until the last step, saving checkpoints every save_every
 * steps, validating at each epoch end and at the last step, and writing model.safetensors at the
 * end.  A failed checkpoint write (disk full…) stops the run with the error; the previous
 * checkpoint stays intact. */
gboolean clip_train_run_run (ClipTrainRun *run, GError **error);

const ClipTrainRunConfig *clip_train_run_get_config (const ClipTrainRun *run);  /* resolved; borrowed */
int64_t    clip_train_run_get_step (const ClipTrainRun *run);
/* The step of the run's newest checkpoint on disk; 0 when it has none yet (a new run stopped before
 * its first checkpoint). */
int64_t    clip_train_run_get_saved_step (const ClipTrainRun *run);
int64_t    clip_train_run_get_total_steps (const ClipTrainRun *run);
int64_t    clip_train_run_get_steps_per_epoch (const ClipTrainRun *run);
int        clip_train_run_get_n_train (const ClipTrainRun *run);   /* usable training pairs */
/* The model as trained so far, borrowed (valid until the next step). */
ClipModel *clip_train_run_get_model (ClipTrainRun *run);
/* OUT_DIR/checkpoint-NNNNNN.safetensors and OUT_DIR/model.safetensors: free with g_free. */
char      *clip_train_run_checkpoint_path (const char *out_dir, int64_t step);
char      *clip_train_run_model_path (const char *out_dir);

/* ---------------------------------------------------------------- files */

/* Opens PATH for reading as the library opens every file it reads: once, without blocking (a named
 * pipe or a device where a file is expected cannot hang the reader), and checked to be a regular
 * file, or an error naming the file and what it is.  Returns a descriptor in blocking mode with
 * close-on-exec, or -1. */
int clip_open_input_file (const char *path, GError **error);
/* ---------------------------------------------------------------- exploring a data set
 *
 * A 2-D map of N embeddings (PCA, a k-nearest-neighbour graph, a UMAP-style layout), density
 * clusters on the map named by the model's text tower, near-duplicate groups, label errors and
 * outliers.  Every call is deterministic for its seed and clip_get_threads (); the long ones take
 * ClipCallbacks (progress WHAT: "Neighbours", "Layout").  clip-testing.h has the measures of their
 * quality (neighbour recall, neighbours kept on the map).
 *
 *   ClipMapOptions options;
 *   clip_map_options_init (&options);
 *   float *xy = g_new (float, 2 * n);
 *   clip_map_compute (embeddings, n, dim, &options, NULL, xy, &error);
 *   int *cluster = g_new (int, n);
 *   int n_clusters = clip_map_cluster (xy, n, NULL, cluster);
 *   char **names = clip_cluster_names (model, embeddings, n, cluster, n_clusters, vocabulary, -1, &error);
 */

typedef enum {
  CLIP_KNN_AUTO,         /* exact up to CLIP_KNN_EXACT_MAX rows, else approximate */
  CLIP_KNN_EXACT,        /* blocked matrix products: O(n²·dim) */
  CLIP_KNN_APPROXIMATE,  /* NN-descent from a seeded random graph */
} ClipKnnMethod;

#define CLIP_KNN_EXACT_MAX 20000

typedef struct {
  int      n, k;
  int32_t *index;        /* [n, k] the neighbours of each row, nearest first, never the row itself */
  float   *distance;     /* [n, k] their Euclidean distances */
} ClipNeighbors;

/* The K nearest rows (Euclidean; for unit rows, the cosine order) of every row of X [n, dim],
 * 1 ≤ K < N.  OUT is cleared with clip_neighbors_clear. */
gboolean clip_knn_compute (const float *x, int n, int dim, int k, ClipKnnMethod method, uint64_t seed,
                           const ClipCallbacks *callbacks, ClipNeighbors *out, GError **error);
void     clip_neighbors_clear (ClipNeighbors *neighbors);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ClipNeighbors, clip_neighbors_clear)
/* OUT [n, n_components]: X [n, dim] centred and projected on its N_COMPONENTS principal axes (largest
 * variance first; each axis's sign makes its largest coefficient positive).  N_COMPONENTS ≤ DIM. */
gboolean clip_pca (const float *x, int n, int dim, int n_components, float *out, GError **error);

typedef struct {
  int      n_neighbors;  /* 15: size of the neighbourhood graph */
  int      pca_dims;     /* 50: rows are projected on this many principal axes first (when longer) */
  int      n_epochs;     /* 0: 500 up to 10,000 rows, else 200 */
  float    min_dist;     /* 0.1: how tightly points pack on the map */
  float    spread;       /* 1.0 */
  int      negative_rate;/* 5: repulsive samples per attractive one */
  ClipKnnMethod knn;     /* CLIP_KNN_AUTO */
  uint64_t seed;         /* 0 */
} ClipMapOptions;

void clip_map_options_init (ClipMapOptions *options);

/* XY [n, 2]: a UMAP-style layout of EMBEDDINGS [n, dim] (N ≥ 3): fuzzy simplicial set of the
 * neighbour graph (smooth-kNN bandwidths), PCA initialisation, then epochs of negative-sampling
 * gradient steps on umap's 1 / (1 + a·d^2b) curve, each applied to all points at once (Adam). */
gboolean clip_map_compute (const float *embeddings, int n, int dim, const ClipMapOptions *options,
                           const ClipCallbacks *callbacks, float *xy, GError **error);

typedef struct {
  int   grid;            /* 256: cells of the density grid along each side */
  float bandwidth;       /* 0: Scott's rule; else the kernel's standard deviation in map units */
  float persistence;     /* 0.5: two density peaks stay apart when the density on the way between them
                          * falls below this share of the lower peak; else they merge */
  float noise_level;     /* 0.1: points where the density is below this share of their peak are noise */
  int   min_size;        /* 0: max (5, n / 500); smaller clusters become noise */
} ClipClusterOptions;

void clip_cluster_options_init (ClipClusterOptions *options);

/* Density clusters on the map XY [n, 2]: a Gaussian KDE on a grid, its local maxima merged by
 * persistence.  CLUSTER [n] receives ids 0 … count − 1 by decreasing size, or −1 for noise.
 * OPTIONS NULL takes the defaults.  Returns the count. */
int clip_map_cluster (const float *xy, int n, const ClipClusterOptions *options, int *cluster);

/* About 200 common English nouns, NULL-terminated, static: the vocabulary of data sets without labels. */
const char *const *clip_vocabulary_builtin (void);
/* The MAX_WORDS most frequent words (lower-case, letters only, stop words left out) of TEXTS,
 * most frequent first, NULL-terminated.  Free with g_strfreev. */
char **clip_vocabulary_from_texts (const char *const *texts, int n_texts, int max_words);

/* A name for each cluster: the word of VOCABULARY (N_VOCAB words; −1 = NULL-terminated) that the
 * mean embedding of the cluster's rows of EMBEDDINGS [n, embed_dim] classifies as, zero-shot with
 * "a photo of a WORD.", or the two best joined by " / " when the second is at least half as
 * probable.  NULL-terminated, free with g_strfreev. */
char **clip_cluster_names (ClipModel *model, const float *embeddings, int n, const int *cluster,
                           int n_clusters, const char *const *vocabulary, int n_vocab, GError **error);

/* Near-duplicates: cosine distances (1 − cosine similarity) between unit embeddings. */
#define CLIP_DUPLICATE_DISTANCE 0.01f  /* Immich's setting for ViT-B/32 */
#define CLIP_SIMILAR_DISTANCE   0.05f

typedef struct _ClipDuplicates ClipDuplicates;

/* Groups the rows of EMBEDDINGS [n, dim] (unit rows) linked by a cosine distance ≤ MAX_DISTANCE
 * (through approximate neighbours above CLIP_KNN_EXACT_MAX rows, seeded by SEED) or by equal
 * CONTENT_HASHES (n × 16 bytes, may be NULL), directly or through other members.  Groups of two or
 * more, largest first.  Free with clip_duplicates_free. */
ClipDuplicates *clip_duplicates_find (const float *embeddings, int n, int dim, const uint8_t *content_hashes,
                                      float max_distance, uint64_t seed, const ClipCallbacks *callbacks,
                                      GError **error);
void            clip_duplicates_free (ClipDuplicates *duplicates);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipDuplicates, clip_duplicates_free)

int        clip_duplicates_get_n_groups (const ClipDuplicates *duplicates);
/* Group I's rows (ascending; *N_ROWS of them; borrowed), the largest cosine distance between two of
 * them (among the first 512 of a larger group), and whether all have the same content hash.  Any
 * group can be read in any order: callers page. */
const int *clip_duplicates_get_group (const ClipDuplicates *duplicates, int i, int *n_rows, float *max_distance,
                                      gboolean *exact);

typedef struct {
  int   row;
  int   label;           /* as given */
  int   suggested;       /* the label the model and the neighbours agree on */
  float confidence;      /* its probability */
  float label_prob;      /* the given label's probability */
} ClipLabelIssue;

/* Suspected label errors of labelled unit EMBEDDINGS [n, dim] (LABELS [n] in 0 … n_classes − 1):
 * each row's class probabilities are the mean of zero-shot (softmax of LOGIT_SCALE_EXP · cosine to
 * CLASS_WEIGHTS [n_classes, dim]) and its NEIGHBORS' labels; a row is suspect when another class
 * reaches that class's confident-learning threshold (its mean probability over the rows labelled
 * with it) and beats the given label.  *N_ISSUES of them, most confident disagreement first (by
 * confidence − label_prob).  Free with g_free. */
ClipLabelIssue *clip_audit_labels (const float *embeddings, int n, int dim, const int *labels, int n_classes,
                                   const float *class_weights, float logit_scale_exp,
                                   const ClipNeighbors *neighbors, int *n_issues);

typedef struct {
  int   row;
  float score;           /* mean distance to its neighbours ÷ the median of that over all rows */
} ClipOutlier;

/* Every row by decreasing outlier score (ties by row), from its neighbour distances: low neighbour
 * density ranks first.  [neighbors->n], free with g_free. */
ClipOutlier *clip_audit_outliers (const ClipNeighbors *neighbors);

/* ---------------------------------------------------------------- threads */

void clip_set_threads (int n_threads);  /* 0 = all cores; more than CLIP_MAX_THREADS are taken as that */
int  clip_get_threads (void);

/* ---------------------------------------------------------------- index and search
 *
 * A persistent, incremental index of the images under a folder (recursively) for one model, and
 * ranked search over it.  Each folder and model has one index file in $XDG_CACHE_HOME/cliplab/index/,
 * memory-mapped when opened; the model is identified by a hash of its weights, configuration,
 * preprocessing and the decode settings, so embeddings of different models are never mixed.
 *
 *   ClipIndexOptions options;
 *   clip_index_options_init (&options);
 *   g_autoptr (ClipIndex) index = clip_index_open ("Photos", model, &options, &error);
 *   ClipIndexStats stats;
 *   clip_index_update (index, &stats, NULL, &error);   // embeds new and changed files only
 *   clip_index_stats_clear (&stats);
 *   ClipQueryTerm terms[] = { { .text = "a dog on a beach", .weight = 1 }, { .text = "night", .weight = -1 } };
 *   float query[512];
 *   clip_index_embed_query (index, terms, 2, query, &error);
 *   ClipSearchResult results[10];
 *   int n = clip_index_search (index, query, 10, -1, results);
 *
 * An index borrows its model, which must outlive it.  Like the model, an index is used by one thread
 * at a time; clip_index_update decodes on worker threads of its own but runs the model only on the
 * calling thread.  Several processes may search an index while one updates it (a lock file keeps a
 * second updater out). */

typedef struct _ClipIndex ClipIndex;

typedef struct {
  const char *const *exclude;      /* NULL-terminated GPatternSpec globs ('*', '?'), matched against each
                                    * file's or folder's path relative to the folder and against its
                                    * name; matching folders are not entered.  NULL = none */
  gboolean follow_symlinks;        /* FALSE: symbolic links are skipped (and reported) */
  gboolean include_hidden;         /* FALSE: names starting with '.' are ignored */
  gboolean apply_exif_orientation; /* TRUE: photos are turned upright first (the project's choice) */
  gboolean exact_decode;           /* FALSE: JPEGs much larger than the model input are decoded at
                                    * 1/2, 1/4 or 1/8 size (DCT scaling), still at least twice the input
                                    * on the shorter side, then resized exactly as the reference does */
  int64_t  max_pixels;             /* images with more pixels are refused before decoding */
  int64_t  max_file_bytes;         /* larger files are skipped without being read */
  int      flush_interval;         /* new embeddings are made durable at least every this many images */
  int      batch_size;             /* images encoded together */
  int      decode_threads;         /* worker threads decoding ahead of the encoder; 0 = automatic */
  const char *cache_dir;           /* where index files live; NULL = $XDG_CACHE_HOME/cliplab/index */
} ClipIndexOptions;

/* Defaults: no excludes, symbolic links and hidden names skipped, EXIF applied, fast decode,
 * CLIP_MAX_IMAGE_PIXELS, 512 MiB files, flush every 200 images, batches of 8, automatic threads. */
void clip_index_options_init (ClipIndexOptions *options);

/* Opens the index of FOLDER for MODEL (empty when there is none yet; nothing is written).  A damaged
 * or foreign file is never trusted: what cannot be verified is left out and reported by
 * clip_index_get_warnings, and the next update rebuilds it.  Fails only when FOLDER or the index file
 * cannot be read. */
ClipIndex *clip_index_open (const char *folder, ClipModel *model, const ClipIndexOptions *options,
                            GError **error);  /* free with clip_index_free */
void       clip_index_free (ClipIndex *index);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipIndex, clip_index_free)

/* The getters' pointers are borrowed from the index. */
const char *clip_index_get_folder (const ClipIndex *index);   /* absolute, symbolic links resolved */
const char *clip_index_get_file (const ClipIndex *index);     /* the index file */
int64_t     clip_index_get_n_entries (const ClipIndex *index);
/* What was found wrong with the index file when it was last read (damaged blocks dropped, an
 * interrupted write's tail, a foreign or corrupt header): NULL-terminated, empty when all was well. */
const char *const *clip_index_get_warnings (const ClipIndex *index);

typedef enum {
  CLIP_INDEX_PHASE_SCAN,    /* listing the folder */
  CLIP_INDEX_PHASE_EMBED,   /* reading, decoding and encoding new and changed files */
  CLIP_INDEX_PHASE_WRITE,   /* writing the compacted index */
} ClipIndexPhase;

/* The full state of a running update.  Its progress callback gets WHAT = the phase's name
 * (clip_index_phase_name), DONE and TOTAL (the found count and -1 while scanning); the rest is read
 * with clip_index_get_progress from inside the callback. */
typedef struct {
  ClipIndexPhase phase;
  int64_t found;            /* files found by the scan so far */
  int64_t done;             /* new and changed files handled so far … */
  int64_t total;            /* … of this many */
  int64_t flushed;          /* entries of this run already durable on disk */
  double  rate;             /* files handled per second during the embed phase */
  double  eta;              /* seconds left in the embed phase, or -1 when unknown */
} ClipIndexProgress;

const char *clip_index_phase_name (ClipIndexPhase phase);   /* "Scanning the folder", …: static */
/* Borrowed: the state of the running (or last) update, rewritten as it goes. */
const ClipIndexProgress *clip_index_get_progress (const ClipIndex *index);

typedef struct {
  char *path;               /* relative to the folder */
  char *reason;             /* e.g. "not an image (the content looks like text/plain)" */
  char *same_as;            /* for a second name of an indexed file (a hard link, or a followed symbolic
                             * link): that file's path, relative; else NULL */
} ClipIndexSkip;

typedef struct {
  int64_t    added;         /* new files embedded (or copies of indexed files, which reuse their embedding) */
  int64_t    updated;       /* files whose size or modification time changed */
  int64_t    removed;       /* entries whose file is gone */
  int64_t    moved;         /* files renamed or moved inside the folder: recognised by content, not re-embedded */
  int64_t    total;         /* entries in the index afterwards */
  GPtrArray *skipped;       /* ClipIndexSkip *, in path order: files that are not (or no longer) indexed */
} ClipIndexStats;

/* Scans the folder and brings the index up to date: embeds new and changed files (by path, size and
 * modification time), drops deleted ones, recognises moved ones by a hash of their content.  New
 * embeddings are appended to the file at least every flush_interval images, so an interrupted or
 * killed run keeps them and the next run resumes; at the end the file is rewritten compacted,
 * atomically.  STATS (may be NULL) receives the counts; clear it with clip_index_stats_clear. */
/* CALLBACKS: progress after every file; abort polled between files and inside the model, stopping
 * the update with CLIP_ERROR_ABORTED and keeping everything embedded so far. */
gboolean clip_index_update (ClipIndex *index, ClipIndexStats *stats, const ClipCallbacks *callbacks,
                            GError **error);
/* Brings only PATHS (NULL-terminated, relative to the folder: files or folders, existing or gone)
 * up to date, as clip_index_update would, without scanning the rest of the folder: for a file
 * watcher's events.  A path renamed is given with its old and its new name; its content is
 * recognised and not embedded again.  New and changed files are appended to the file's journal;
 * only a file gone or renamed makes it rewrite the whole index (the next full update compacts the
 * journal).  Fails with CLIP_ERROR_INVALID on an absolute path or one with '.' or '..' components,
 * before touching anything. */
gboolean clip_index_update_paths (ClipIndex *index, const char *const *paths, ClipIndexStats *stats,
                                  const ClipCallbacks *callbacks, GError **error);
void     clip_index_stats_clear (ClipIndexStats *stats);

typedef struct {
  const char *text;         /* a text … */
  const char *image;        /* … or an image file: exactly one of the two */
  float       weight;       /* > 0 adds the term, < 0 subtracts it */
} ClipQueryTerm;

/* QUERY [embed_dim] = Σ weight · (normalised embedding of the term), normalised: rclip's combination,
 * scaled so that search scores are cosine similarities.  An image inside the indexed folder uses its
 * stored embedding; other images are decoded as the index decodes. */
gboolean clip_index_embed_query (ClipIndex *index, const ClipQueryTerm *terms, int n_terms, float *query,
                                 GError **error);

typedef struct {
  const char *path;         /* relative to the folder; valid until the index is updated or freed */
  float       score;        /* cosine similarity to the query */
} ClipSearchResult;

/* The TOP_K entries most similar to QUERY (a unit vector), best first, ties in path order; with
 * MARGIN ≥ 0 only those scoring within MARGIN of the best.  RESULTS holds TOP_K; returns the count. */
int clip_index_search (ClipIndex *index, const float *query, int top_k, float margin, ClipSearchResult *results);

typedef struct {
  const char    *path;          /* relative to the folder */
  const float   *embedding;     /* [embed_dim], unit length */
  const uint8_t *content_hash;  /* 16 bytes: XXH3-128 of the file's bytes */
} ClipIndexItem;

/* Entry I of the index (0 ≤ I < clip_index_get_n_entries); valid until the index is updated or freed. */
void     clip_index_get_item (ClipIndex *index, int64_t i, ClipIndexItem *item);
/* The entry of FILE (a path to a file inside the folder, as the caller names it); FALSE when none. */
gboolean clip_index_find_file (ClipIndex *index, const char *file, ClipIndexItem *item);
/* The same, only while FILE is unchanged since it was indexed (the same size and modification time,
 * as clip_index_update checks): its stored embedding is current.  Reads nothing but the file's
 * status. */
gboolean clip_index_find_current_file (ClipIndex *index, const char *file, ClipIndexItem *item);

/* The image file PATH decoded and preprocessed into PIXELS ([3, S, S], S the model's image size)
 * exactly as an index opened with OPTIONS (NULL: the defaults) for MODEL reads it: a large JPEG at
 * reduced size unless OPTIONS->exact_decode, EXIF as set.  An image's embedding from these pixels
 * equals the one the index stores, which clip_image_load's full-size decode does not guarantee. */
gboolean clip_index_preprocess_file (const ClipModel *model, const ClipIndexOptions *options, const char *path,
                                     float *pixels, GError **error);
/* ---------------------------------------------------------------- Hugging Face hub
 *
 * Pretrained models from the Hugging Face hub, kept in huggingface_hub's own cache so that ClipLab
 * and Python (transformers, open_clip) share them both ways:
 *
 *   $HF_HUB_CACHE (else $HF_HOME/hub, else ~/.cache/huggingface/hub)/models--ORG--NAME/
 *     blobs/ETAG                 each file once, named by the hub's ETag (SHA-256 for LFS files)
 *     blobs/ETAG.incomplete      a download in progress or interrupted: the next one resumes it
 *     snapshots/COMMIT/FILE      relative symbolic links to ../../blobs/ETAG
 *     refs/REVISION              the commit a branch or tag named when it was downloaded
 *
 * The environment is read as huggingface_hub reads it: HF_ENDPOINT (another server or a mirror),
 * HF_TOKEN or else the token file $HF_HOME/token (sent as "Authorization: Bearer", never to another
 * host), HF_HUB_OFFLINE=1 (no network: the cache only).  clip_model_load accepts a repository id
 * ("openai/clip-vit-base-patch32", or "ORG/NAME@REVISION" for a branch, tag or commit) that is not an
 * existing path and loads it from the cache.  A checkpoint split in several safetensors files
 * (model.safetensors.index.json and its shards) is downloaded whole and loads as one.
 *
 *   ClipHubOptions options;
 *   clip_hub_options_init (&options);
 *   ClipHubResult result = { 0 };
 *   if (clip_hub_download ("openai/clip-vit-base-patch32", &options, &result, NULL, &error))
 *     model = clip_model_load (result.snapshot_dir, NULL, &error);
 *   clip_hub_result_clear (&result);
 *
 * The calls are synchronous and run on the caller's thread (an application runs them on a worker).
 */

typedef struct {
  const char   *revision;     /* branch, tag or commit; NULL = "main" */
  const char   *cache_dir;    /* NULL = from the environment, as above */
  const char   *endpoint;     /* NULL = $HF_ENDPOINT, else https://huggingface.co */
  const char   *token;        /* NULL = $HF_TOKEN, else the token file (either may be missing); "" = none */
  gboolean      offline;      /* TRUE (or $HF_HUB_OFFLINE=1): resolve from the cache, no network */
  int           max_retries;  /* dropped connections resumed per file before giving up (5) */
  double        retry_delay;  /* seconds before the first retry, doubled at each one (1.0) */
  GCancellable *cancellable;  /* may be NULL; cancelling it stops the download like the abort callback */
} ClipHubOptions;

void clip_hub_options_init (ClipHubOptions *options);

typedef struct {
  const char *file;           /* repository path of the file being fetched */
  int         file_index;     /* 0-based, of n_files */
  int         n_files;
  int64_t     file_done;      /* bytes of this file on disk so far … */
  int64_t     file_size;      /* … of this many */
  int64_t     done;           /* bytes of all the model's files so far (cached ones included) … */
  int64_t     total;          /* … of this many */
  double      rate;           /* bytes per second received in this call; 0 before the first second */
  double      eta;            /* seconds left at that rate, or -1 when unknown */
  int         retries;        /* dropped connections resumed so far */
} ClipHubProgress;

/* Borrowed: inside a progress callback of clip_hub_download, the download's full state (rate, time
 * left, the file, retries); NULL on a thread that is not running a download. */
const ClipHubProgress *clip_hub_get_progress (void);

typedef struct {
  char   *repo_id;
  char   *revision;           /* as asked ("main" by default) */
  char   *commit;             /* the commit the snapshot holds */
  char   *snapshot_dir;       /* loadable with clip_model_load */
  int     n_files;
  int64_t downloaded_bytes;   /* received in this call */
  int64_t cached_bytes;       /* of files that were already in the cache */
  int     retries;            /* dropped connections resumed */
} ClipHubResult;

void clip_hub_result_clear (ClipHubResult *result);

/* TRUE for "ORG/NAME" (letters, digits, '-', '_', '.'; no "--" or ".."), the form of a model id. */
gboolean clip_hub_is_repo_id (const char *string);
/* Splits a model reference "ORG/NAME" or "ORG/NAME@REVISION" (a branch, tag or commit) into *REPO_ID
 * and *REVISION (NULL without "@"); either may be NULL.  FALSE when STRING is neither.  Free with
 * g_free. */
gboolean clip_hub_parse_model_ref (const char *string, char **repo_id, char **revision);
/* Where the hub token is kept when HF_TOKEN is unset ($HF_TOKEN_PATH, else $HF_HOME/token, else
 * ~/.cache/huggingface/token: `huggingface-cli login` writes it).  Free with g_free. */
char *clip_hub_token_path (void);

/* The hub cache folder the environment names (CACHE_DIR when not NULL).  Free with g_free. */
char *clip_hub_cache_dir (const char *cache_dir);

/* Downloads the files a CLIP model needs from REPO_ID ("ORG/NAME", or "ORG/NAME@REVISION" when
 * OPTIONS gives no other revision): config.json (or open_clip_config.json),
 * preprocessor_config.json, vocab.json + merges.txt or tokenizer.json, and safetensors weights: one
 * file, or the index of a sharded checkpoint and every shard it names (PyTorch .bin files are never
 * fetched).  Files already in the cache are not fetched again; an
 * interrupted file resumes with a Range request; every file is checked against its ETag (SHA-256
 * for LFS files, the git blob hash for others) before it is renamed into blobs/ and linked into the
 * snapshot, and the ref is written last, so the snapshot never holds a partial file.  Each file is
 * written under huggingface_hub's lock (.locks/models--ORG--NAME/ETAG.lock), so a download running
 * in another process (Python's included) is waited for, never raced.  Offline, it
 * succeeds only when the cache already holds the model.  Errors: CLIP_ERROR_DENIED (401/403),
 * CLIP_ERROR_MISSING (no such repository, revision or file; nothing loadable in it),
 * CLIP_ERROR_NETWORK, CLIP_ERROR_FORMAT (a file does not match its hash: it is deleted),
 * CLIP_ERROR_IO (the disk), CLIP_ERROR_ABORTED.  RESULT (may be NULL) is filled on success.
 * CALLBACKS: progress with WHAT = the file being fetched and DONE of TOTAL bytes of all the model's
 * files (cached ones included), at most ~10 times a second (clip_hub_get_progress has the rest);
 * abort polled between chunks and during retry waits, stopping with CLIP_ERROR_ABORTED and keeping
 * blobs/ETAG.incomplete for the next download to resume. */
gboolean clip_hub_download (const char *repo_id, const ClipHubOptions *options, ClipHubResult *result,
                            const ClipCallbacks *callbacks, GError **error);

/* The snapshot folder of REPO_ID at REVISION (NULL = "main") in the cache, without the network:
 * refs/REVISION or a commit's own snapshot, which must hold a loadable model.  Free with g_free. */
char *clip_hub_resolve (const char *repo_id, const char *revision, const char *cache_dir, GError **error);

typedef struct {
  char      *repo_id;
  char      *commit;
  char      *refs;            /* the refs naming this commit, comma-separated ("main"), or NULL */
  char      *snapshot_dir;
  int64_t    size;            /* bytes of the files the snapshot links to */
  ClipLayout layout;          /* CLIP_LAYOUT_HF_DIR or CLIP_LAYOUT_OPEN_CLIP_DIR */
} ClipHubCachedModel;

void clip_hub_cached_model_free (ClipHubCachedModel *model);

/* Every CLIP snapshot in the cache that clip_model_load can read (a Hugging Face config.json with
 * "model_type": "clip", or open_clip's files), by repository id then commit:
 * ClipHubCachedModel *, owned by the array (free with g_ptr_array_unref).  A missing cache folder is
 * an empty list. */
GPtrArray *clip_hub_list_cached (const char *cache_dir, GError **error);

typedef struct {
  const char *repo_id;
  const char *architecture;   /* "ViT-B/32", … */
  int64_t     download_bytes; /* what clip_hub_download fetches, approximately */
  const char *description;    /* what it is good for, one English sentence (po/ has its translations) */
} ClipHubCatalogEntry;

/* CLIP checkpoints on the hub that ClipLab loads, fastest first.  Static (borrowed). */
const ClipHubCatalogEntry *clip_hub_catalog (int *n_entries);

G_END_DECLS
