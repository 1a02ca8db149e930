/* clip-private.h — internal: the tensor table, the model struct and the tower forward passes. */
#pragma once

#include "clip.h"
#include "safetensors.h"

/* The callback convention's two calls, both NULL-safe (CALLBACKS and its members may be NULL). */
gboolean clip_callbacks_aborted (const ClipCallbacks *callbacks);
void     clip_callbacks_progress (const ClipCallbacks *callbacks, const char *what, int64_t done, int64_t total);
/* FALSE, with CLIP_ERROR_ABORTED "Cancelled", when CALLBACKS' abort asks to stop. */
gboolean clip_callbacks_check_abort (const ClipCallbacks *callbacks, GError **error);

/* TEMPLATE with NAME where "{}" or CLIP_benchmark's "{c}" stands (zero-shot.c). */
char *clip_template_fill (const char *template, const char *name);

/* Symbolic dimensions of the tensor table, resolved against a ClipConfig. */
typedef enum {
  DIM_NONE,
  DIM_3,            /* RGB */
  DIM_PATCH,        /* patch size */
  DIM_VPOS,         /* vision positions: patches + class token */
  DIM_VW, DIM_VF,   /* vision width, MLP width */
  DIM_TW, DIM_TF,   /* text width, MLP width */
  DIM_CTX,
  DIM_VOCAB,
  DIM_EMBED,
  DIM_W, DIM_F,     /* width / MLP width of the tower a layer belongs to */
} ClipDim;

/* The tensor tables.  Each row: field, Hugging Face name, OpenAI/open_clip name, the Q/K/V slice of
 * OpenAI's stacked in_proj (-1: the whole tensor), whether OpenAI stores it transposed ([in, out]),
 * and up to four dimensions.  HF names and shapes are canonical: they are what the model struct,
 * our checkpoints, gradients and optimiser state use. */
#define CLIP_GLOBAL_TENSORS(X) \
  X (v_patch,      "vision_model.embeddings.patch_embedding.weight",    "visual.conv1.weight",          -1, 0, DIM_VW, DIM_3, DIM_PATCH, DIM_PATCH) \
  X (v_class,      "vision_model.embeddings.class_embedding",           "visual.class_embedding",       -1, 0, DIM_VW, DIM_NONE, DIM_NONE, DIM_NONE) \
  X (v_pos,        "vision_model.embeddings.position_embedding.weight", "visual.positional_embedding",  -1, 0, DIM_VPOS, DIM_VW, DIM_NONE, DIM_NONE) \
  X (v_ln_pre_w,   "vision_model.pre_layrnorm.weight",                  "visual.ln_pre.weight",         -1, 0, DIM_VW, DIM_NONE, DIM_NONE, DIM_NONE) \
  X (v_ln_pre_b,   "vision_model.pre_layrnorm.bias",                    "visual.ln_pre.bias",           -1, 0, DIM_VW, DIM_NONE, DIM_NONE, DIM_NONE) \
  X (v_ln_post_w,  "vision_model.post_layernorm.weight",                "visual.ln_post.weight",        -1, 0, DIM_VW, DIM_NONE, DIM_NONE, DIM_NONE) \
  X (v_ln_post_b,  "vision_model.post_layernorm.bias",                  "visual.ln_post.bias",          -1, 0, DIM_VW, DIM_NONE, DIM_NONE, DIM_NONE) \
  X (v_proj,       "visual_projection.weight",                          "visual.proj",                  -1, 1, DIM_EMBED, DIM_VW, DIM_NONE, DIM_NONE) \
  X (t_tok,        "text_model.embeddings.token_embedding.weight",      "token_embedding.weight",       -1, 0, DIM_VOCAB, DIM_TW, DIM_NONE, DIM_NONE) \
  X (t_pos,        "text_model.embeddings.position_embedding.weight",   "positional_embedding",         -1, 0, DIM_CTX, DIM_TW, DIM_NONE, DIM_NONE) \
  X (t_ln_final_w, "text_model.final_layer_norm.weight",                "ln_final.weight",              -1, 0, DIM_TW, DIM_NONE, DIM_NONE, DIM_NONE) \
  X (t_ln_final_b, "text_model.final_layer_norm.bias",                  "ln_final.bias",                -1, 0, DIM_TW, DIM_NONE, DIM_NONE, DIM_NONE) \
  X (t_proj,       "text_projection.weight",                            "text_projection",              -1, 1, DIM_EMBED, DIM_TW, DIM_NONE, DIM_NONE) \
  X (logit_scale,  "logit_scale",                                       "logit_scale",                  -1, 0, DIM_NONE, DIM_NONE, DIM_NONE, DIM_NONE)

/* Per residual block; names are relative to the tower's layer prefix. */
#define CLIP_LAYER_TENSORS(X) \
  X (ln1_w, "layer_norm1.weight",       "ln_1.weight",          -1, 0, DIM_W, DIM_NONE) \
  X (ln1_b, "layer_norm1.bias",         "ln_1.bias",            -1, 0, DIM_W, DIM_NONE) \
  X (q_w,   "self_attn.q_proj.weight",  "attn.in_proj_weight",   0, 0, DIM_W, DIM_W) \
  X (q_b,   "self_attn.q_proj.bias",    "attn.in_proj_bias",     0, 0, DIM_W, DIM_NONE) \
  X (k_w,   "self_attn.k_proj.weight",  "attn.in_proj_weight",   1, 0, DIM_W, DIM_W) \
  X (k_b,   "self_attn.k_proj.bias",    "attn.in_proj_bias",     1, 0, DIM_W, DIM_NONE) \
  X (v_w,   "self_attn.v_proj.weight",  "attn.in_proj_weight",   2, 0, DIM_W, DIM_W) \
  X (v_b,   "self_attn.v_proj.bias",    "attn.in_proj_bias",     2, 0, DIM_W, DIM_NONE) \
  X (o_w,   "self_attn.out_proj.weight", "attn.out_proj.weight", -1, 0, DIM_W, DIM_W) \
  X (o_b,   "self_attn.out_proj.bias",  "attn.out_proj.bias",   -1, 0, DIM_W, DIM_NONE) \
  X (ln2_w, "layer_norm2.weight",       "ln_2.weight",          -1, 0, DIM_W, DIM_NONE) \
  X (ln2_b, "layer_norm2.bias",         "ln_2.bias",            -1, 0, DIM_W, DIM_NONE) \
  X (fc1_w, "mlp.fc1.weight",           "mlp.c_fc.weight",      -1, 0, DIM_F, DIM_W) \
  X (fc1_b, "mlp.fc1.bias",             "mlp.c_fc.bias",        -1, 0, DIM_F, DIM_NONE) \
  X (fc2_w, "mlp.fc2.weight",           "mlp.c_proj.weight",    -1, 0, DIM_W, DIM_F) \
  X (fc2_b, "mlp.fc2.bias",             "mlp.c_proj.bias",      -1, 0, DIM_W, DIM_NONE)

#define CLIP_HF_VISION_LAYER_PREFIX   "vision_model.encoder.layers."
#define CLIP_HF_TEXT_LAYER_PREFIX     "text_model.encoder.layers."
#define CLIP_OPENAI_VISION_LAYER_PREFIX "visual.transformer.resblocks."
#define CLIP_OPENAI_TEXT_LAYER_PREFIX "transformer.resblocks."

#define CLIP_FIELD(field, ...) float *field;
typedef struct {
  CLIP_LAYER_TENSORS (CLIP_FIELD)
} ClipLayerWeights;

typedef struct {
  CLIP_GLOBAL_TENSORS (CLIP_FIELD)
  ClipLayerWeights *vision_layers;   /* [config.vision.layers] */
  ClipLayerWeights *text_layers;     /* [config.text.layers] */
} ClipWeights;
#undef CLIP_FIELD

/* One row of the flattened table: every tensor of a model, in canonical order. */
typedef struct {
  char       *hf_name;        /* full canonical name */
  char       *openai_name;    /* full OpenAI name (of the stacked tensor for Q/K/V) */
  int         qkv_slice;      /* -1, or 0/1/2 within OpenAI's in_proj */
  gboolean    openai_transposed;
  int         n_dims;
  int64_t     shape[4];
  int64_t     n_elements;
  float     **slot;           /* where the pointer lives in a ClipWeights */
} ClipTensorInfo;

/* The table resolved for CONFIG with slots pointing into W (which must have its layer arrays
 * allocated).  Free with clip_tensor_table_free. */
ClipTensorInfo *clip_tensor_table_new (const ClipConfig *config, ClipWeights *w, int *n_tensors);
void            clip_tensor_table_free (ClipTensorInfo *table, int n_tensors);
int64_t         clip_weights_n_floats (const ClipConfig *config);
/* Allocates the layer arrays of W (pointers unset). */
void            clip_weights_init (ClipWeights *w, const ClipConfig *config);
void            clip_weights_clear (ClipWeights *w);
/* Points every tensor of W into BLOCK, in table order. */
void            clip_weights_carve (ClipWeights *w, const ClipConfig *config, float *block);

/* The weights that panels replaced, if their memory was given back: written back from float32
 * panels (bit for bit), or read again from the file for bf16 and int8 panels (checked against a
 * hash taken when they were packed; if the file changed since, the panels' rounded values come
 * back instead).  For the readers of the original layout (a traced or GEMM-only pass, saving, a
 * trainer).  The model is used by one thread at a time, so this needs no lock. */
void clip_model_restore_originals (ClipModel *model);

/* Before the matrix products go to OpenBLAS: under an address-space limit (ulimit -v), checks
 * there is room for its work buffers (fewer threads when there is room for fewer), or fails with
 * CLIP_ERROR_LIMIT, instead of OpenBLAS retrying its allocation forever. */
gboolean clip_blas_check_room (GError **error);
/* Between these, OpenBLAS runs each product on the calling thread alone, so that our pool's threads
 * can issue products side by side (one level of parallelism: OpenBLAS's threads and ours would
 * otherwise take turns and spin against each other on the same cores).  Process-wide: a product
 * another thread issues meanwhile also runs on one thread. */
void clip_blas_single_begin (void);
void clip_blas_single_end (void);
/* The data of the tensor in SLOT as loaded: *SLOT itself, or, for a weight whose memory the panels
 * took over, a copy unpacked into *SCRATCH (grown as needed; g_free it). */
const float *clip_model_original_data (const ClipModel *model, float *const *slot, int64_t n_elements,
                                       float **scratch);

/* Validates a configuration (positive sizes, heads dividing widths, limits). */
gboolean clip_config_validate (const ClipConfig *config, const char *label, GError **error);
/* AUTO resolved for the model at PATH, whose WEIGHTS and CONFIG files (CONFIG may be NULL) are
 * located (precision-auto.c): the fastest precision on this CPU, INT8 only when the model's int8
 * embeddings stay within int8's bound (checked once per model files and OPTIONS, then cached). */
gboolean clip_auto_precision_for_model (const char *path, const ClipLoadOptions *options, const char *weights,
                                        const char *config, ClipPrecision *precision, GError **error);
/* The cache key of a model's int8 check: its WEIGHTS (every shard of a sharded checkpoint) and
 * CONFIG files as they are now (path, size and modification time) and the OPTIONS that change what
 * is loaded. */
char    *clip_int8_cosine_key (const char *weights, const char *config, const ClipLoadOptions *options);
void     clip_config_init_vit_b32 (ClipConfig *config);

/* Intermediate tensors for tests: hidden[l] is [n, T, width] after block l (0 = input to block 0);
 * NULL entries are skipped. */
typedef struct {
  float **hidden;       /* [layers + 1] */
  float  *last_hidden;  /* text: after ln_final, [n, T, width] */
  float  *pooled;       /* [n, width] */
} ClipTowerTrace;

/* A tensor of a model's owned block: DEST [N] converted from SRC (DTYPE, transposed from
 * [COLS, ROWS] when TRANSPOSE). */
struct ClipConverted {
  float      *dest;
  const void *src;
  ClipDType   dtype;
  int64_t     n, rows, cols;
  gboolean    transpose;
};

/* Writes C's tensor into its place in the owned block from SRC, the file's bytes of it. */
void clip_converted_fill (const struct ClipConverted *c, const void *src);

/* Inference copies of the weights in the layout of clip_packed_linear_forward (model.c). */
typedef struct _ClipPanels ClipPanels;

struct _ClipModel {
  ClipConfig       config;
  ClipPreprocess   preprocess;
  ClipWeights      w;
  ClipLayout       layout;
  ClipDType        dtype;
  ClipPrecision    precision;  /* of inference's products, resolved (never AUTO) */
  char            *path;
  ClipTokenizer   *tokenizer;
  ClipSafetensors *file;     /* the file's contents, which F32 weights point into */
  float           *owned;    /* converted or transposed weights */
  /* Where each tensor in OWNED came from, so that the matrices packed for inference can leave it
   * (an F16 or BF16 checkpoint keeps one copy of its weights) and come back from the file. */
  struct ClipConverted *converted;
  int              n_converted;
  ClipPanels      *panels;   /* made at the first inference pass of a model loaded from a file */
  gboolean         originals_released;  /* the file's copies of the panels' weights were given back */
  GHashTable      *text_cache;  /* cleaned text → float[embed_dim] */
  /* scratch reused between calls */
  float           *scratch;
  size_t           scratch_floats;
};

/* What the training forward pass keeps of one residual block for the backward pass; N = B·T rows. */
typedef struct {
  float *x_in;                  /* [N, D] the block's input */
  float *ln1, *ln1_mean, *ln1_rstd;   /* [N, D], [N], [N] */
  float *q, *k, *v;             /* [N, D] */
  float *probs;                 /* [B, heads, T, T] */
  float *attn;                  /* [N, D] heads concatenated, before out_proj */
  float *x_mid;                 /* [N, D] after the attention residual */
  float *ln2, *ln2_mean, *ln2_rstd;
  float *fc1;                   /* [N, F] before the activation */
  float *act;                   /* [N, F] after it */
} ClipBlockActs;

/* The same for a whole tower, sized by its owner for a batch; the forward pass records N and T. */
typedef struct {
  ClipBlockActs *blocks;        /* [layers] */
  float *patches;               /* vision: [B·G², 3·P·P] im2col input of the patch embedding */
  float *tokens;                /* vision: [B, T, D] before ln_pre */
  float *ln_pre_mean, *ln_pre_rstd;  /* vision: [B·T] */
  int   *pool;                  /* text: [B] pooled position */
  float *pool_in;               /* [B, D] pooled rows of the last block's output */
  float *pool_mean, *pool_rstd; /* [B] */
  float *pooled;                /* [B, D] after ln_post / ln_final: the projection's input */
  int    n, t;                  /* batch and tokens per sequence of the last forward pass */
} ClipTowerActs;

/* Unnormalised features [n, embed_dim].  The forward passes poll CALLBACKS' abort between layers. */
gboolean clip_vision_forward (ClipModel *model, const float *pixels, int n, float *features,
                              ClipTowerTrace *trace, const ClipCallbacks *callbacks, GError **error);
/* IDS is [n, row_len]; positions after each row's EOT are not computed unless a trace asks. */
gboolean clip_text_forward (ClipModel *model, const int32_t *ids, int n, int row_len, float *features,
                            ClipTowerTrace *trace, const ClipCallbacks *callbacks, GError **error);

/* The training variants keep what the backward pass needs in ACTS (sized for at least N);
 * text rows are computed up to the longest prompt's pooled position, all of them. */
gboolean clip_vision_forward_train (ClipModel *model, const float *pixels, int n, float *features,
                                    ClipTowerActs *acts, const ClipCallbacks *callbacks, GError **error);
gboolean clip_text_forward_train (ClipModel *model, const int32_t *ids, int n, int row_len, float *features,
                                  ClipTowerActs *acts, const ClipCallbacks *callbacks, GError **error);

void clip_l2_normalize_rows (float *x, int n, int dim);

/* A model (layout ClipLab, dtype F32) whose weights are BLOCK laid out by clip_weights_carve; it
 * frees BLOCK when TAKE_BLOCK, else BLOCK must outlive it.  TOKENIZER (may be NULL) is referenced. */
ClipModel *clip_model_new_from_block (const ClipConfig *config, const ClipPreprocess *pre,
                                      ClipTokenizer *tokenizer, float *block, gboolean take_block,
                                      const char *path);
/* Adds MODEL's tensors (canonical names, converted to DTYPE) and the metadata that makes the file a
 * loadable ClipLab model to WRITER; conversion buffers go to KEEP, which must outlive the write. */
void clip_model_add_to_writer (const ClipModel *model, ClipStWriter *writer, ClipDType dtype, GPtrArray *keep);

/* ------------------------------------------------------------------ training internals */

/* A trainer checkpoint is a ClipLab model plus this metadata key and "optim.m.<name>",
 * "optim.v.<name>" tensors, which clip_model_load skips. */
#define CLIP_TRAINER_METADATA_KEY "cliplab.trainer"
#define CLIP_TRAINER_TENSOR_PREFIX "optim."

/* AdamW's weight decay applies to tensors with two or more dimensions (spec, project decisions). */
gboolean clip_tensor_decays (const ClipTensorInfo *info);

/* Forward, loss and backward without an update: *LOSS and the gradients, which
 * clip_trainer_get_gradient returns per canonical tensor name (NULL when unknown). */
gboolean     clip_trainer_compute_gradients (ClipTrainer *trainer, const float *pixels, const int32_t *ids,
                                             int batch, double *loss, const ClipCallbacks *callbacks,
                                             GError **error);
const float *clip_trainer_get_gradient (const ClipTrainer *trainer, const char *name);

/* Data-parallel helpers over a ClipCommunicator (train-dist.c). */
/* Σ over the ranks of VALUE, added in rank order so that every rank holds the same double. */
gboolean clip_dist_sum_double (const ClipCommunicator *comm, double value, double *sum, GError **error);
/* Sums GRADS [N] over the ranks in buckets (each one collective of CLIP_DIST_BUCKET_FLOATS at most). */
#define CLIP_DIST_BUCKET_FLOATS ((size_t) 1 << 20)
gboolean clip_dist_sum_gradients (const ClipCommunicator *comm, float *grads, size_t n, GError **error);
/* Rank 0 working alone (validation) while the others wait: rank 0 calls this with BUSY TRUE now and
 * then while it works and once with FALSE when done; the others call it (BUSY FALSE) until
 * *ROOT_BUSY comes back FALSE.  Each call is one small collective, so a waiting rank never waits in
 * one much longer than rank 0 takes between two calls (the transport's watchdog keeps its bound). */
gboolean clip_dist_heartbeat (const ClipCommunicator *comm, gboolean busy, gboolean *root_busy, GError **error);
/* Fails unless every rank passes the same VALUE; WHAT names it in the message. */
gboolean clip_dist_check_same (const ClipCommunicator *comm, int64_t value, const char *what, GError **error);

/* The crops of a data-parallel rank, decoded when first used (a rank decodes only the images of its
 * shares) and kept up to MEMORY_LIMIT bytes.  An image that cannot be decoded is an error. */
typedef struct _ClipCropCache ClipCropCache;
ClipCropCache *clip_crop_cache_new (ClipDataset *dataset, int size, size_t memory_limit);
void           clip_crop_cache_free (ClipCropCache *cache);
const uint8_t *clip_crop_cache_get (ClipCropCache *cache, int index, GError **error);

/* The configuration and preprocessing as the JSON stored in our checkpoints, and back. */
char    *clip_config_to_json (const ClipConfig *config, const ClipPreprocess *pre);
gboolean clip_config_from_json (const char *json, ClipConfig *config, ClipPreprocess *pre,
                                const char *label, GError **error);

/* The weight files an open_clip directory may hold, in the order they are looked for; NULL-terminated. */
extern const char *const clip_open_clip_weight_files[];
/* Hugging Face's index of a checkpoint split in several safetensors files (its "weight_map"). */
#define CLIP_SHARDED_INDEX_NAME "model.safetensors.index.json"

/* The layout of model directory DIR and its config and weight files, as clip_model_load reads it
 * (open_clip_config.json first, then config.json); FALSE when DIR holds no loadable model. */
gboolean clip_model_dir_files (const char *dir, ClipLayout *layout, char **config, char **weights);
