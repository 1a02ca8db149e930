/* model.c — the tensor table, the two towers' forward passes and the encoding API. */
#include "clip-private.h"
#include "clip-testing.h"
#include "ops.h"
#include "ops-reduced.h"
#include "kernel-choice.h"
#include "parallel.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define ENCODE_CHUNK 16          /* images per forward pass: bounds scratch memory */
#define TEXT_CHUNK_TOKENS 1024   /* prompt tokens per forward pass, likewise */
#define TEXT_CACHE_MAX 20000

/* ------------------------------------------------------------------ the tensor table */

static int64_t
dim_value (ClipDim dim, const ClipConfig *c, const ClipTowerConfig *tower)
{
  int grid = c->image_size / c->patch_size;
  switch (dim)
    {
    case DIM_NONE:  return 0;
    case DIM_3:     return 3;
    case DIM_PATCH: return c->patch_size;
    case DIM_VPOS:  return (int64_t) grid * grid + 1;
    case DIM_VW:    return c->vision.width;
    case DIM_VF:    return c->vision.mlp_width;
    case DIM_TW:    return c->text.width;
    case DIM_TF:    return c->text.mlp_width;
    case DIM_CTX:   return c->context_length;
    case DIM_VOCAB: return c->vocab_size;
    case DIM_EMBED: return c->embed_dim;
    case DIM_W:     return tower->width;
    case DIM_F:     return tower->mlp_width;
    }
  return 0;
}

static void
fill_info (ClipTensorInfo *info, const ClipConfig *c, const ClipTowerConfig *tower,
           char *hf_name, char *openai_name, int qkv_slice, gboolean transposed,
           const ClipDim *dims, int n_dims, float **slot)
{
  info->hf_name = hf_name;
  info->openai_name = openai_name;
  info->qkv_slice = qkv_slice;
  info->openai_transposed = transposed;
  info->slot = slot;
  info->n_dims = 0;
  info->n_elements = 1;
  for (int i = 0; i < n_dims && dims[i] != DIM_NONE; i++)
    {
      info->shape[info->n_dims++] = dim_value (dims[i], c, tower);
      info->n_elements *= info->shape[info->n_dims - 1];
    }
}

static int
count_tensors (const ClipConfig *c)
{
#define COUNT(...) +1
  int globals = 0 CLIP_GLOBAL_TENSORS (COUNT);
  int per_layer = 0 CLIP_LAYER_TENSORS (COUNT);
#undef COUNT
  return globals + per_layer * (c->vision.layers + c->text.layers);
}

ClipTensorInfo *
clip_tensor_table_new (const ClipConfig *c, ClipWeights *w, int *n_tensors)
{
  int n = count_tensors (c), i = 0;
  ClipTensorInfo *table = g_new0 (ClipTensorInfo, n);

#define GLOBAL(field, hf, oai, slice, tr, d0, d1, d2, d3) \
  fill_info (&table[i++], c, NULL, g_strdup (hf), g_strdup (oai), slice, tr, \
             (const ClipDim[]) { d0, d1, d2, d3 }, 4, &w->field);
  CLIP_GLOBAL_TENSORS (GLOBAL)
#undef GLOBAL

  const struct {
    const ClipTowerConfig *tower;
    ClipLayerWeights *layers;
    const char *hf_prefix, *openai_prefix;
  } towers[2] = {
    { &c->vision, w->vision_layers, CLIP_HF_VISION_LAYER_PREFIX, CLIP_OPENAI_VISION_LAYER_PREFIX },
    { &c->text, w->text_layers, CLIP_HF_TEXT_LAYER_PREFIX, CLIP_OPENAI_TEXT_LAYER_PREFIX },
  };
  for (int t = 0; t < 2; t++)
    for (int l = 0; l < towers[t].tower->layers; l++)
      {
        ClipLayerWeights *lw = &towers[t].layers[l];
#define LAYER(field, hf, oai, slice, tr, d0, d1) \
        fill_info (&table[i++], c, towers[t].tower, \
                   g_strdup_printf ("%s%d.%s", towers[t].hf_prefix, l, hf), \
                   g_strdup_printf ("%s%d.%s", towers[t].openai_prefix, l, oai), slice, tr, \
                   (const ClipDim[]) { d0, d1 }, 2, &lw->field);
        CLIP_LAYER_TENSORS (LAYER)
#undef LAYER
      }
  *n_tensors = n;
  return table;
}

void
clip_tensor_table_free (ClipTensorInfo *table, int n_tensors)
{
  for (int i = 0; i < n_tensors; i++)
    {
      g_free (table[i].hf_name);
      g_free (table[i].openai_name);
    }
  g_free (table);
}

void
clip_weights_init (ClipWeights *w, const ClipConfig *c)
{
  memset (w, 0, sizeof *w);
  w->vision_layers = g_new0 (ClipLayerWeights, c->vision.layers);
  w->text_layers = g_new0 (ClipLayerWeights, c->text.layers);
}

void
clip_weights_clear (ClipWeights *w)
{
  g_clear_pointer (&w->vision_layers, g_free);
  g_clear_pointer (&w->text_layers, g_free);
}

int64_t
clip_weights_n_floats (const ClipConfig *c)
{
  ClipWeights w;
  int n;
  clip_weights_init (&w, c);
  ClipTensorInfo *table = clip_tensor_table_new (c, &w, &n);
  int64_t total = 0;
  for (int i = 0; i < n; i++)
    total += table[i].n_elements;
  clip_tensor_table_free (table, n);
  clip_weights_clear (&w);
  return total;
}

void
clip_weights_carve (ClipWeights *w, const ClipConfig *c, float *block)
{
  int n;
  ClipTensorInfo *table = clip_tensor_table_new (c, w, &n);
  for (int i = 0; i < n; i++)
    {
      *table[i].slot = block;
      block += table[i].n_elements;
    }
  clip_tensor_table_free (table, n);
}

/* ------------------------------------------------------------------ configuration */

void
clip_config_init_vit_b32 (ClipConfig *c)
{
  *c = (ClipConfig) {
    .vision = { .width = 768, .layers = 12, .heads = 12, .mlp_width = 3072, .ln_eps = 1e-5f,
                .activation = CLIP_ACTIVATION_QUICK_GELU },
    .text = { .width = 512, .layers = 12, .heads = 8, .mlp_width = 2048, .ln_eps = 1e-5f,
              .activation = CLIP_ACTIVATION_QUICK_GELU },
    .image_size = 224, .patch_size = 32, .context_length = 77, .vocab_size = 49408,
    .embed_dim = 512, .eot_id = -1,
  };
}

static gboolean
check_size (const char *label, const char *what, int value, GError **error)
{
  if (value <= 0 || value > CLIP_MAX_DIM_SIZE)
    {
      g_set_error (error, CLIP_ERROR, value <= 0 ? CLIP_ERROR_SHAPE : CLIP_ERROR_LIMIT,
                   "%s: %s is %d; it must be between 1 and %d", label, what, value, CLIP_MAX_DIM_SIZE);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_tower (const char *label, const char *name, const ClipTowerConfig *t, GError **error)
{
  g_autofree char *w = g_strdup_printf ("%s width", name);
  g_autofree char *l = g_strdup_printf ("%s layers", name);
  g_autofree char *h = g_strdup_printf ("%s heads", name);
  g_autofree char *m = g_strdup_printf ("%s MLP width", name);
  if (!check_size (label, w, t->width, error) || !check_size (label, l, t->layers, error)
      || !check_size (label, h, t->heads, error) || !check_size (label, m, t->mlp_width, error))
    return FALSE;
  if (t->layers > 1024)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: %s is %d (at most 1024)", label, l, t->layers);
      return FALSE;
    }
  if (t->width % t->heads != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_SHAPE, "%s: %s %d is not divisible by %d heads",
                   label, w, t->width, t->heads);
      return FALSE;
    }
  if (!(t->ln_eps > 0 && t->ln_eps < 1))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_SHAPE, "%s: %s LayerNorm eps %g is not in (0, 1)",
                   label, name, t->ln_eps);
      return FALSE;
    }
  return TRUE;
}

gboolean
clip_config_validate (const ClipConfig *c, const char *label, GError **error)
{
  if (!check_tower (label, "vision", &c->vision, error) || !check_tower (label, "text", &c->text, error)
      || !check_size (label, "image size", c->image_size, error)
      || !check_size (label, "patch size", c->patch_size, error)
      || !check_size (label, "context length", c->context_length, error)
      || !check_size (label, "vocabulary size", c->vocab_size, error)
      || !check_size (label, "embedding size", c->embed_dim, error))
    return FALSE;
  if (c->image_size % c->patch_size != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_SHAPE, "%s: image size %d is not a multiple of patch size %d",
                   label, c->image_size, c->patch_size);
      return FALSE;
    }
  if (c->vocab_size > CLIP_MAX_VOCAB || c->image_size > 4096 || c->context_length > 4096)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT,
                   "%s: vocabulary %d, image size %d or context %d exceeds the limits (%d, 4096, 4096)",
                   label, c->vocab_size, c->image_size, c->context_length, CLIP_MAX_VOCAB);
      return FALSE;
    }
  if (c->eot_id >= c->vocab_size)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_SHAPE, "%s: end-of-text id %d is outside the vocabulary of %d",
                   label, c->eot_id, c->vocab_size);
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------ precision */

static const char *const precision_names[] = {
  [CLIP_PRECISION_F32] = "f32", [CLIP_PRECISION_BF16] = "bf16", [CLIP_PRECISION_INT8] = "int8",
  [CLIP_PRECISION_AUTO] = "auto",
};

const char *
clip_precision_name (ClipPrecision precision)
{
  return precision <= CLIP_PRECISION_AUTO ? precision_names[precision] : "unknown";
}

gboolean
clip_precision_from_name (const char *name, ClipPrecision *precision)
{
  for (guint i = 0; i < G_N_ELEMENTS (precision_names); i++)
    if (g_ascii_strcasecmp (name, precision_names[i]) == 0)
      {
        *precision = i;
        return TRUE;
      }
  return FALSE;
}

const char *
clip_precision_kernel_name (ClipPrecision precision)
{
  if (precision == CLIP_PRECISION_F32)
    return clip_packed_kernel_name ();
  if (precision != CLIP_PRECISION_BF16 && precision != CLIP_PRECISION_INT8)
    return NULL;
  ClipReducedFormat format = precision == CLIP_PRECISION_BF16 ? CLIP_REDUCED_BF16 : CLIP_REDUCED_INT8;
  return clip_isa_kernel_name (format, clip_isa_best (format));
}

/* ------------------------------------------------------------------ panel weights
 *
 * Inference runs its products on copies of the weights in the panel layout of
 * clip_packed_linear_forward (float32) or of ops-reduced.h (bf16, int8: the model's precision),
 * made at the first forward pass of a model loaded from a file (whose weights never change; a
 * trainer's model is a view on changing parameters and keeps OpenBLAS).  Q, K and V share one
 * matrix, so one product yields all three.  The pages that held the originals (the file's contents,
 * read into private memory, or their float32 conversion) are given back to the kernel, so memory
 * stays at one copy of the weights, in the chosen precision; clip_model_restore_originals brings
 * them back for the rare readers of the original layout. */

/* Which of a context's two input buffers: that of most products, and that of the MLP's down
 * projection, which the up projection writes while it reads the first. */
enum { INPUT_MOST, INPUT_MLP_DOWN, N_INPUTS };

/* What the reduced products of one model share: the kernel and the inputs rounded for a product. */
typedef struct {
  ClipReducedFormat format;
  ClipIsa           isa;
  void             *input[N_INPUTS];
  size_t            input_bytes[N_INPUTS];
} ReducedContext;

/* One weight matrix: reduced panels (REDUCED, with CONTEXT), or for float32, panels (FLOATS) and/or,
 * where OpenBLAS runs a pass on this machine (kernel-choice.c), the weights as stored (BLAS: up to
 * three side by side, Q, K and V); with both, the pass under way (PASS_KERNEL) picks one. */
typedef struct {
  float            *floats;
  ClipReducedMatrix reduced;
  ReducedContext   *context;
  const ClipF32Kernel *pass_kernel;
  const float      *blas[3];
  int               blas_count;
  uint64_t          hashes[3];   /* reduced: of each weight packed, to check it when read again */
  int               n_packed;
} PanelMatrix;

typedef struct {
  PanelMatrix qkv, o, fc1, fc2;
  float      *qkv_bias;
} PanelLayer;

struct _ClipPanels {
  void          *block;
  PanelMatrix    v_patch, v_proj, t_proj;
  PanelLayer    *vision, *text;
  ReducedContext context;
  /* Float32: the kernel of each regime, which copies the passes need, the kernel of the pass under
   * way, whether the kernels are still to be timed (by the next pass: a timing stopped by the
   * caller's abort leaves it so) and, while they are timed, the layers a pass runs (0: all). */
  ClipF32Kernel  kernels[CLIP_N_PASS_REGIMES];
  gboolean       with_floats, with_blas;
  ClipF32Kernel  pass_kernel;
  gboolean       timing_due;
  int            timed_layers;
};

#define PANEL_BLOCK_ALIGNMENT (2 << 20)

/* Bytes rounded up to whole 64-byte lines, so that every panel matrix starts aligned. */
static size_t
panel_bytes_aligned (size_t bytes)
{
  return (bytes + 63) & ~(size_t) 63;
}

static size_t
panel_matrix_bytes (ClipPrecision precision, gboolean with_floats, int in_dim, int out_dim)
{
  if (precision == CLIP_PRECISION_F32)
    return with_floats ? panel_bytes_aligned (sizeof (float) * clip_packed_floats (in_dim, out_dim)) : 0;
  return clip_reduced_matrix_bytes (precision == CLIP_PRECISION_BF16 ? CLIP_REDUCED_BF16 : CLIP_REDUCED_INT8,
                                    in_dim, out_dim);
}

static size_t
panel_layer_bytes (ClipPrecision precision, gboolean with_floats, const ClipTowerConfig *tc)
{
  int d = tc->width, f = tc->mlp_width;
  return panel_matrix_bytes (precision, with_floats, d, 3 * d) + panel_bytes_aligned (sizeof (float) * 3 * d)
         + panel_matrix_bytes (precision, with_floats, d, d) + panel_matrix_bytes (precision, with_floats, d, f)
         + panel_matrix_bytes (precision, with_floats, f, d);
}

static void *
panel_take (char **next, size_t bytes)
{
  void *taken = *next;
  *next += panel_bytes_aligned (bytes);
  return taken;
}

/* Lays out matrix M [OUT, IN] at *NEXT.  The block is not zeroed (that doubled the time of the
 * first pass): only a last, partial panel has lanes that packing does not write, and the products
 * read them. */
static void
panel_matrix_take (PanelMatrix *m, ClipPanels *panels, ClipPrecision precision, char **next, int in_dim, int out_dim)
{
  size_t bytes = panel_matrix_bytes (precision, panels->with_floats, in_dim, out_dim);
  void *memory = panel_take (next, bytes);
  if (precision != CLIP_PRECISION_F32)
    {
      m->context = &panels->context;
      clip_reduced_matrix_init (&m->reduced, panels->context.format, in_dim, out_dim, memory);
      return;
    }
  m->pass_kernel = &panels->pass_kernel;
  if (bytes == 0)
    return;
  m->floats = memory;
  if (out_dim % CLIP_PANEL != 0)
    memset (m->floats + (int64_t) (out_dim / CLIP_PANEL) * in_dim * CLIP_PANEL, 0,
            sizeof (float) * in_dim * CLIP_PANEL);
}

/* Gives the whole pages within BYTES at AT back to the kernel (they read as zeros afterwards). */
static gboolean
pages_release (const void *at, size_t bytes)
{
  uintptr_t page = (uintptr_t) sysconf (_SC_PAGESIZE);
  uintptr_t start = ((uintptr_t) at + page - 1) & ~(page - 1), end = ((uintptr_t) at + bytes) & ~(page - 1);
  return end > start && madvise ((void *) start, end - start, MADV_DONTNEED) == 0;
}

/* Gives the pages of WEIGHT back to the kernel, in the file's contents or in the owned block of
 * converted weights; clip_model_restore_originals brings them back. */
static void
panel_release (ClipModel *model, const float *weight, size_t bytes)
{
  gboolean released = clip_safetensors_release (model->file, weight, bytes);
  for (int i = 0; i < model->n_converted && !released; i++)
    if (model->converted[i].dest == weight)
      released = pages_release (weight, bytes);
  if (released)
    model->originals_released = TRUE;
}

/* Packs WEIGHT [COUNT, IN] as columns COL0 … of M, and keeps it as it is for OpenBLAS's passes
 * (columns in order) or else releases its pages (for reduced panels, which cannot give it back
 * exactly, after a hash of it). */
static void
panel_matrix_pack (ClipModel *model, PanelMatrix *m, const float *weight, int in_dim, int count, int col0)
{
  size_t bytes = (size_t) count * in_dim * sizeof (float);
  gboolean keep = m->context == NULL && model->panels->with_blas;
  if (keep)
    m->blas[m->blas_count++] = weight;
  if (m->floats != NULL)
    clip_pack_weight (m->floats, weight, in_dim, count, col0);
  else if (m->context != NULL)
    {
      clip_reduced_pack (&m->reduced, weight, count, col0);
      m->hashes[m->n_packed++] = XXH3_64bits (weight, bytes);
    }
  if (!keep)
    panel_release (model, weight, bytes);
}

/* Whether the pass under way multiplies by M on OpenBLAS. */
static gboolean
panel_matrix_uses_blas (const PanelMatrix *m)
{
  return m->blas_count > 0 && (m->floats == NULL || *m->pass_kernel == CLIP_F32_OPENBLAS);
}

static const char *
panel_matrix_kernel (const PanelMatrix *m)
{
  if (m->context != NULL)
    return clip_isa_kernel_name (m->context->format, m->context->isa);
  return panel_matrix_uses_blas (m) ? "openblas" : clip_packed_kernel_name ();
}

typedef struct {
  ClipModel *model;
  int        vision_layers;
} PanelJob;

/* Items are layers, vision first, then text. */
static void
panel_layers (int64_t start, int64_t end, gpointer data)
{
  const PanelJob *j = data;
  ClipModel *model = j->model;
  for (int64_t i = start; i < end; i++)
    {
      gboolean vision = i < j->vision_layers;
      int l = (int) (vision ? i : i - j->vision_layers);
      const ClipTowerConfig *tc = vision ? &model->config.vision : &model->config.text;
      const ClipLayerWeights *lw = vision ? &model->w.vision_layers[l] : &model->w.text_layers[l];
      PanelLayer *pl = vision ? &model->panels->vision[l] : &model->panels->text[l];
      int d = tc->width, f = tc->mlp_width;
      panel_matrix_pack (model, &pl->qkv, lw->q_w, d, d, 0);
      panel_matrix_pack (model, &pl->qkv, lw->k_w, d, d, d);
      panel_matrix_pack (model, &pl->qkv, lw->v_w, d, d, 2 * d);
      memcpy (pl->qkv_bias, lw->q_b, sizeof (float) * d);
      memcpy (pl->qkv_bias + d, lw->k_b, sizeof (float) * d);
      memcpy (pl->qkv_bias + 2 * d, lw->v_b, sizeof (float) * d);
      panel_matrix_pack (model, &pl->o, lw->o_w, d, d, 0);
      panel_matrix_pack (model, &pl->fc1, lw->fc1_w, d, f, 0);
      panel_matrix_pack (model, &pl->fc2, lw->fc2_w, f, d, 0);
    }
}

static void
panels_free (ClipPanels *panels)
{
  free (panels->block);
  for (int i = 0; i < N_INPUTS; i++)
    g_free (panels->context.input[i]);
  g_free (panels->vision);
  g_free (panels->text);
  g_free (panels);
}

/* The layers' matrices laid out in the block after the global ones. */
static void
panels_take_layers (ClipPanels *panels, const ClipConfig *c, ClipPrecision precision, char **next)
{
  for (int tower = 0; tower < 2; tower++)
    {
      const ClipTowerConfig *tc = tower == 0 ? &c->vision : &c->text;
      PanelLayer *layers = tower == 0 ? panels->vision : panels->text;
      int d = tc->width, f = tc->mlp_width;
      for (int l = 0; l < tc->layers; l++)
        {
          panel_matrix_take (&layers[l].qkv, panels, precision, next, d, 3 * d);
          layers[l].qkv_bias = panel_take (next, sizeof (float) * 3 * d);
          panel_matrix_take (&layers[l].o, panels, precision, next, d, d);
          panel_matrix_take (&layers[l].fc1, panels, precision, next, d, f);
          panel_matrix_take (&layers[l].fc2, panels, precision, next, f, d);
        }
    }
}

/* Below this many weights in the vision MLP's matrices (a 512 × 512 one), the panels run every
 * pass, untimed: OpenBLAS repacking the weights on every call does not pay, and its work buffers
 * (tens of MB, allocated at its first product) are not worth having. */
#define MIN_TIMED_WEIGHTS (512 * 512)

/* The float32 kernels of each regime, known already or to be timed (TIMED), and so which copies of
 * the weights the panels keep. */
static void
panels_choose_f32 (ClipPanels *panels, const ClipConfig *c, char *shape, gboolean *timed)
{
  *timed = FALSE;
  if ((int64_t) c->vision.width * c->vision.mlp_width < MIN_TIMED_WEIGHTS)
    panels->kernels[CLIP_PASS_ONE] = panels->kernels[CLIP_PASS_BATCH] = CLIP_F32_PANELS;
  else
    *timed = !clip_f32_pass_kernels_known (shape, panels->kernels);
  for (int r = 0; r < CLIP_N_PASS_REGIMES; r++)
    {
      panels->with_floats |= *timed || panels->kernels[r] == CLIP_F32_PANELS;
      panels->with_blas |= *timed || panels->kernels[r] == CLIP_F32_OPENBLAS;
    }
}

/* The widths that key the cached kernel choice of a model (kernel-choice.c). */
static char *
model_shape (const ClipConfig *c)
{
  return g_strdup_printf ("%dx%dx%d-%dx%dx%d", c->vision.width, c->vision.mlp_width, c->vision.layers,
                          c->text.width, c->text.mlp_width, c->text.layers);
}

/* The panels of MODEL; its float32 kernels are timed later, by panels_get. */
static const ClipPanels *
panels_make (ClipModel *model)
{
  const ClipConfig *c = &model->config;
  ClipPrecision precision = model->precision;
  ClipPanels *panels = g_new0 (ClipPanels, 1);
  panels->context.format = precision == CLIP_PRECISION_INT8 ? CLIP_REDUCED_INT8 : CLIP_REDUCED_BF16;
  panels->context.isa = clip_isa_best (panels->context.format);
  g_autofree char *shape = model_shape (c);
  if (precision == CLIP_PRECISION_F32)
    panels_choose_f32 (panels, c, shape, &panels->timing_due);
  int patch_len = 3 * c->patch_size * c->patch_size;
  const struct {
    PanelMatrix *slot;
    const float *weight;
    int          in_dim, out_dim;
  } globals[] = {
    { &panels->v_patch, model->w.v_patch, patch_len, c->vision.width },
    { &panels->v_proj, model->w.v_proj, c->vision.width, c->embed_dim },
    { &panels->t_proj, model->w.t_proj, c->text.width, c->embed_dim },
  };
  size_t bytes = c->vision.layers * panel_layer_bytes (precision, panels->with_floats, &c->vision)
                 + c->text.layers * panel_layer_bytes (precision, panels->with_floats, &c->text);
  for (guint i = 0; i < G_N_ELEMENTS (globals); i++)
    bytes += panel_matrix_bytes (precision, panels->with_floats, globals[i].in_dim, globals[i].out_dim);
  /* Without the memory for the copy, inference keeps OpenBLAS on the file's weights.  Huge pages:
   * faulting in 600 MB page by page took seconds on a virtual machine. */
  void *block = NULL;
  if (posix_memalign (&block, PANEL_BLOCK_ALIGNMENT, bytes) != 0)
    {
      g_free (panels);
      return NULL;
    }
  panels->block = block;
#ifdef MADV_HUGEPAGE
  madvise (panels->block, bytes, MADV_HUGEPAGE);
#endif
  panels->vision = g_new0 (PanelLayer, c->vision.layers);
  panels->text = g_new0 (PanelLayer, c->text.layers);
  model->panels = panels;
  char *next = panels->block;
  for (guint i = 0; i < G_N_ELEMENTS (globals); i++)
    {
      int in_dim = globals[i].in_dim, out_dim = globals[i].out_dim;
      panel_matrix_take (globals[i].slot, panels, precision, &next, in_dim, out_dim);
      panel_matrix_pack (model, globals[i].slot, globals[i].weight, in_dim, out_dim, 0);
    }
  panels_take_layers (panels, c, precision, &next);
  PanelJob job = { model, c->vision.layers };
  clip_parallel_for (c->vision.layers + c->text.layers, 1, panel_layers, &job);
  return panels;
}

/* Where each weight copied into panels went: columns COL0 … COL0 + OUT − 1 of M, the PART-th
 * weight packed into it. */
typedef struct {
  float            **slot;
  const PanelMatrix *m;
  int                in_dim, out_dim, col0, part;
} PanelSource;

/* The panels' sources: 3 global matrices, then 6 per layer; free with g_free. */
static PanelSource *
panel_sources (const ClipModel *model, int *n_sources)
{
  const ClipConfig *c = &model->config;
  const ClipPanels *p = model->panels;
  ClipWeights *w = (ClipWeights *) &model->w;
  PanelSource *sources = g_new (PanelSource, 3 + 6 * (c->vision.layers + c->text.layers));
  int n = 0;
  sources[n++] = (PanelSource) { &w->v_patch, &p->v_patch, 3 * c->patch_size * c->patch_size, c->vision.width, 0, 0 };
  sources[n++] = (PanelSource) { &w->v_proj, &p->v_proj, c->vision.width, c->embed_dim, 0, 0 };
  sources[n++] = (PanelSource) { &w->t_proj, &p->t_proj, c->text.width, c->embed_dim, 0, 0 };
  for (int tower = 0; tower < 2; tower++)
    {
      const ClipTowerConfig *tc = tower == 0 ? &c->vision : &c->text;
      ClipLayerWeights *layers = tower == 0 ? w->vision_layers : w->text_layers;
      const PanelLayer *panel_layers = tower == 0 ? p->vision : p->text;
      int d = tc->width, f = tc->mlp_width;
      for (int l = 0; l < tc->layers; l++)
        {
          ClipLayerWeights *lw = &layers[l];
          const PanelLayer *pl = &panel_layers[l];
          sources[n++] = (PanelSource) { &lw->q_w, &pl->qkv, d, d, 0, 0 };
          sources[n++] = (PanelSource) { &lw->k_w, &pl->qkv, d, d, d, 1 };
          sources[n++] = (PanelSource) { &lw->v_w, &pl->qkv, d, d, 2 * d, 2 };
          sources[n++] = (PanelSource) { &lw->o_w, &pl->o, d, d, 0, 0 };
          sources[n++] = (PanelSource) { &lw->fc1_w, &pl->fc1, d, f, 0, 0 };
          sources[n++] = (PanelSource) { &lw->fc2_w, &pl->fc2, f, d, 0, 0 };
        }
    }
  *n_sources = n;
  return sources;
}

/* A weight packed into reduced panels, read again from the file (through its conversion for an
 * F16 or BF16 checkpoint): TRUE when it is, as a hash of it taken at packing confirms. */
static gboolean
reload_original (const ClipModel *model, const PanelSource *s)
{
  float *w = *s->slot;
  size_t n = (size_t) s->in_dim * s->out_dim;
  gboolean read = FALSE, converted = FALSE;
  for (int i = 0; i < model->n_converted && !converted; i++)
    if (model->converted[i].dest == w)
      {
        const struct ClipConverted *c = &model->converted[i];
        size_t bytes = (size_t) c->n * clip_dtype_size (c->dtype);
        g_autofree void *src = g_malloc (bytes);
        converted = TRUE;
        read = clip_safetensors_read_back (model->file, c->src, bytes, src);
        if (read)
          clip_converted_fill (c, src);
      }
  if (!converted)
    read = clip_safetensors_read_back (model->file, w, n * sizeof (float), w);
  return read && XXH3_64bits (w, n * sizeof (float)) == s->m->hashes[s->part];
}

void
clip_model_restore_originals (ClipModel *model)
{
  if (!model->originals_released)
    return;
  int n;
  g_autofree PanelSource *sources = panel_sources (model, &n);
  for (int i = 0; i < n; i++)
    {
      const PanelSource *s = &sources[i];
      if (s->m->floats != NULL)
        clip_unpack_weight (*s->slot, s->m->floats, s->in_dim, s->out_dim, s->col0);
      else if (s->m->context != NULL && !reload_original (model, s))
        clip_reduced_unpack (&s->m->reduced, *s->slot, s->out_dim, s->col0);
    }
  model->originals_released = FALSE;
}

const float *
clip_model_original_data (const ClipModel *model, float *const *slot, int64_t n_elements, float **scratch)
{
  if (!model->originals_released)
    return *slot;
  int n;
  g_autofree PanelSource *sources = panel_sources (model, &n);
  for (int i = 0; i < n; i++)
    if (sources[i].slot == slot && sources[i].m->floats != NULL)
      {
        *scratch = g_renew (float, *scratch, n_elements);
        clip_unpack_weight (*scratch, sources[i].m->floats, sources[i].in_dim, sources[i].out_dim, sources[i].col0);
        return *scratch;
      }
    else if (sources[i].slot == slot && sources[i].m->context != NULL)
      {
        /* Reduced panels cannot give it back: all the weights come back from the file. */
        clip_model_restore_originals ((ClipModel *) model);
        return *slot;
      }
  return *slot;
}

/* ------------------------------------------------------------------ timing the float32 kernels */

static gboolean vision_forward (ClipModel *model, const float *pixels, int n, float *features,
                                ClipTowerTrace *trace, ClipTowerActs *acts, gboolean gemms_only,
                                const ClipCallbacks *callbacks, GError **error);

/* A timed pass: the patch embedding and the first TIMED_LAYERS layers of the vision tower, on one
 * image or on TIMED_BATCH (as many as a batch's forward pass takes). */
#define TIMED_LAYERS 4
#define TIMED_BATCH ENCODE_CHUNK

typedef struct {
  ClipModel           *model;
  float               *pixels, *features;
  const ClipCallbacks *callbacks;
  GError             **error;
} PassTiming;

/* A timed pass, which the caller's abort stops (between layers) like any other. */
static gboolean
pass_seconds (ClipF32Kernel kernel, ClipPassRegime regime, gpointer data, double *seconds)
{
  const PassTiming *t = data;
  int n = regime == CLIP_PASS_ONE ? 1 : TIMED_BATCH;
  t->model->panels->kernels[regime] = kernel;
  gint64 start = g_get_monotonic_time ();
  if (!vision_forward (t->model, t->pixels, n, t->features, NULL, NULL, FALSE, t->callbacks, t->error))
    return FALSE;
  *seconds = (g_get_monotonic_time () - start) / 1e6 / n;
  return TRUE;
}

/* Gives back the copy of the weights that neither regime's kernel reads: the panels' pages (the
 * block stays, holding the rest) or the weights as stored. */
static void
panels_drop_unused_f32 (ClipModel *model)
{
  ClipPanels *p = model->panels;
  gboolean floats = FALSE, blas = FALSE;
  for (int r = 0; r < CLIP_N_PASS_REGIMES; r++)
    {
      floats |= p->kernels[r] == CLIP_F32_PANELS;
      blas |= p->kernels[r] == CLIP_F32_OPENBLAS;
    }
  int n;
  g_autofree PanelSource *sources = panel_sources (model, &n);
  for (int i = 0; i < n; i++)
    {
      PanelMatrix *m = (PanelMatrix *) sources[i].m;
      size_t bytes = sizeof (float) * sources[i].in_dim * sources[i].out_dim;
      if (!blas && m->blas_count > 0)
        panel_release (model, *sources[i].slot, bytes);
      if (!floats && m->floats != NULL)
        {
          /* The panels holding this weight's columns. */
          int in_dim = sources[i].in_dim, col0 = sources[i].col0, p0 = col0 / CLIP_PANEL;
          int p1 = (col0 + sources[i].out_dim + CLIP_PANEL - 1) / CLIP_PANEL;
          pages_release (m->floats + (size_t) p0 * in_dim * CLIP_PANEL,
                         sizeof (float) * (size_t) (p1 - p0) * in_dim * CLIP_PANEL);
        }
    }
  for (int i = 0; i < n; i++)
    {
      PanelMatrix *m = (PanelMatrix *) sources[i].m;
      if (!blas)
        m->blas_count = 0;
      if (!floats)
        m->floats = NULL;
    }
  p->with_floats = floats;
  p->with_blas = blas;
}

/* Times a short pass on each kernel (the panels and the weights as stored both kept meanwhile),
 * keeps the faster per regime and gives back the copy that is no longer read.  Stopped by the
 * CALLBACKS' abort: FALSE, nothing chosen or cached, both copies kept for the next pass to time. */
static gboolean
panels_time_f32 (ClipModel *model, const ClipCallbacks *callbacks, GError **error)
{
  const ClipConfig *c = &model->config;
  PassTiming timing = { model, g_new0 (float, (size_t) TIMED_BATCH * 3 * c->image_size * c->image_size),
                        g_new (float, (size_t) TIMED_BATCH * c->embed_dim), callbacks, error };
  g_autofree char *shape = model_shape (c);
  ClipF32Kernel kernels[CLIP_N_PASS_REGIMES];
  model->panels->timed_layers = MIN (TIMED_LAYERS, c->vision.layers);
  gboolean measured = clip_f32_pass_kernels_measure (shape, pass_seconds, &timing, kernels);
  model->panels->timed_layers = 0;
  g_free (timing.pixels);
  g_free (timing.features);
  if (!measured)
    return FALSE;
  memcpy (model->panels->kernels, kernels, sizeof kernels);
  model->panels->timing_due = FALSE;
  panels_drop_unused_f32 (model);
  return TRUE;
}

/* The model's panels, made at its first pass (*PANELS NULL without them: the weights as stored on
 * OpenBLAS), its kernels timed unless known, set for a pass in REGIME.  FALSE when the CALLBACKS'
 * abort stopped the timing. */
static gboolean
panels_get (ClipModel *model, ClipPassRegime regime, const ClipCallbacks *callbacks, const ClipPanels **panels,
            GError **error)
{
  if (model->panels == NULL && model->file != NULL)
    panels_make (model);
  /* The timed passes come here too: they run on the kernel set for them. */
  if (model->panels != NULL && model->panels->timing_due && model->panels->timed_layers == 0
      && !panels_time_f32 (model, callbacks, error))
    return FALSE;
  if (model->panels != NULL)
    model->panels->pass_kernel = model->panels->kernels[regime];
  *panels = model->panels;
  return TRUE;
}

/* ------------------------------------------------------------------ forward passes */

/* BYTES zeroed, on huge pages where the kernel gives them (THP "madvise"): the activations of a
 * batch take tens of MB, read and written in full by every layer, and with 4 KB pages the
 * products' and attention's strided rows missed the TLB. */
static void *
huge_alloc0 (size_t bytes)
{
  void *memory = NULL;
  if (posix_memalign (&memory, PANEL_BLOCK_ALIGNMENT, bytes) != 0)
    return g_malloc0 (bytes);
#ifdef MADV_HUGEPAGE
  madvise (memory, bytes, MADV_HUGEPAGE);
#endif
  memset (memory, 0, bytes);
  return memory;
}

static float *
scratch_get (ClipModel *model, size_t floats)
{
  if (model->scratch_floats < floats)
    {
      g_free (model->scratch);
      model->scratch = huge_alloc0 (floats * sizeof (float));
      model->scratch_floats = floats;
    }
  return model->scratch;
}

static size_t
block_scratch_floats (const ClipTowerConfig *tc, int n_rows)
{
  return (size_t) n_rows * (5 * (size_t) tc->width + tc->mlp_width);
}

/* ------------------------------------------------------------------ the work between matrix products
 *
 * LayerNorm, attention, activations and bias rows are spread over the cores with clip_parallel_for,
 * between the BLAS calls (which use OpenBLAS's threads); each chunk is a range of rows or of
 * (sequence, head) pairs, so results do not depend on the thread count. */

/* Items per chunk: enough work (about 32k floats) to be worth waking a thread for. */
#define GRAIN_FLOATS 32768

typedef struct {
  float *out, *mean, *rstd;
  const float *inp, *weight, *bias;
  int dim;
  float eps;
  ClipReducedInput *rounded;   /* or NULL: receives OUT's rows rounded for a reduced product */
} LayerNormJob;

static void
layernorm_rows (int64_t start, int64_t end, gpointer data)
{
  const LayerNormJob *j = data;
  clip_layernorm_forward (j->out + start * j->dim, j->mean != NULL ? j->mean + start : NULL,
                          j->rstd != NULL ? j->rstd + start : NULL, j->inp + start * j->dim,
                          j->weight, j->bias, (int) (end - start), j->dim, j->eps);
  if (j->rounded != NULL)
    clip_reduced_input_fill (j->rounded, j->out, j->dim, (int) start, (int) end);
}

static void
layernorm (float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
           int n, int dim, float eps)
{
  LayerNormJob job = { out, mean, rstd, inp, weight, bias, dim, eps, NULL };
  clip_parallel_for (n, GRAIN_FLOATS / dim + 1, layernorm_rows, &job);
}

typedef struct {
  float *x;
  const float *bias;
  int dim;
  gboolean add;
} BiasJob;

static void
bias_rows (int64_t start, int64_t end, gpointer data)
{
  const BiasJob *j = data;
  float *x = j->x + start * j->dim;
  if (j->add)
    clip_bias_add_forward (x, j->bias, (int) (end - start), j->dim);
  else
    for (int64_t i = start; i < end; i++, x += j->dim)
      memcpy (x, j->bias, sizeof (float) * j->dim);
}

/* out[n, out_dim] = inp · weightᵀ + bias, or x += … for a residual branch (ADD): the bias rows
 * first, then the matrix product accumulates onto them.  With GEMMS_ONLY, the product alone. */
static void
linear (float *out, const float *inp, const float *weight, const float *bias, int n, int in_dim, int out_dim,
        gboolean add, gboolean gemms_only)
{
  if (!gemms_only && bias != NULL)
    {
      BiasJob job = { out, bias, out_dim, add };
      clip_parallel_for (n, GRAIN_FLOATS / out_dim + 1, bias_rows, &job);
    }
  clip_matmul_forward (out, inp, weight, n, in_dim, out_dim, add || bias != NULL);
}

typedef struct {
  float *out;
  const float *inp;
  int quick;
} ActivationJob;

static void
activation_range (int64_t start, int64_t end, gpointer data)
{
  const ActivationJob *j = data;
  clip_activation_forward (j->out + start, j->inp + start, end - start, j->quick);
}

typedef struct {
  float             *out;
  const float       *inp;
  const PanelMatrix *m;
  int                n, in_dim, out_dim, part_dim, parts;
  float              beta;
} BlasJob;

/* Columns per share of a product on OpenBLAS: a multiple of its register block. */
#define BLAS_COLUMN_BLOCK 16

static void
blas_parts (int64_t start, int64_t end, gpointer data)
{
  const BlasJob *j = data;
  for (int64_t part = start; part < end; part++)
    {
      int c0 = (int) (j->part_dim * part / j->parts) / BLAS_COLUMN_BLOCK * BLAS_COLUMN_BLOCK;
      int c1 = part + 1 == j->parts ? j->part_dim
                                    : (int) (j->part_dim * (part + 1) / j->parts) / BLAS_COLUMN_BLOCK * BLAS_COLUMN_BLOCK;
      for (int i = 0; i < j->m->blas_count && c1 > c0; i++)
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, j->n, c1 - c0, j->in_dim, 1.0f, j->inp, j->in_dim,
                     j->m->blas[i] + (size_t) c0 * j->in_dim, j->in_dim, j->beta, j->out + i * j->part_dim + c0,
                     j->out_dim);
    }
}

/* The product on OpenBLAS (LDO = OUT_DIM): the bias rows first, the products accumulate onto them,
 * then the activation.  Our threads take shares of the output columns, each an OpenBLAS product on
 * one thread, so that one pool runs the whole pass. */
static void
blas_linear (float *out, const float *inp, const PanelMatrix *m, const float *bias, int n, int in_dim, int out_dim,
             gboolean add, int activation)
{
  if (bias != NULL)
    {
      BiasJob bias_job = { out, bias, out_dim, add };
      clip_parallel_for (n, GRAIN_FLOATS / out_dim + 1, bias_rows, &bias_job);
    }
  int part_dim = out_dim / m->blas_count;
  BlasJob job = { out, inp, m, n, in_dim, out_dim, part_dim, MAX (1, MIN (clip_get_threads (), part_dim / 64)),
                  add || bias != NULL ? 1.0f : 0.0f };
  clip_blas_single_begin ();
  clip_parallel_for (job.parts, 1, blas_parts, &job);
  clip_blas_single_end ();
  if (activation != CLIP_PACKED_LINEAR)
    {
      ActivationJob activation_job = { out, out, activation == CLIP_PACKED_QUICK_GELU };
      clip_parallel_for ((int64_t) n * out_dim, GRAIN_FLOATS, activation_range, &activation_job);
    }
}

typedef struct {
  float                  *out;
  const float            *inp;
  const PanelMatrix      *m;
  const ClipReducedInput *reduced_inp;  /* the inputs rounded, for a reduced matrix */
  ClipReducedInput       *out_rounded;  /* or NULL: receives the results rounded, instead of OUT */
  const float            *bias;
  int                     ldo, n, in_dim, out_dim, add, activation, n_panels, parts;
} PanelProductJob;

static void
panel_product_parts (int64_t start, int64_t end, gpointer data)
{
  const PanelProductJob *j = data;
  for (int64_t part = start; part < end; part++)
    {
      int p0 = (int) (j->n_panels * part / j->parts), p1 = (int) (j->n_panels * (part + 1) / j->parts);
      if (j->m->floats != NULL)
        clip_packed_linear_forward (j->out, j->ldo, j->inp, j->m->floats, j->bias, j->n, j->in_dim, j->out_dim,
                                    j->add, j->activation, p0, p1);
      else
        clip_reduced_linear_forward (j->m->context->isa, &(ClipReducedOutput) { j->out, j->ldo, j->out_rounded },
                                     j->reduced_inp, &j->m->reduced, j->bias, j->add, j->activation, p0, p1);
    }
}

typedef struct {
  ClipReducedInput *in;
  const float      *inp;
  int               in_dim;
} ReducedInputJob;

static void
reduced_input_rows (int64_t start, int64_t end, gpointer data)
{
  const ReducedInputJob *j = data;
  clip_reduced_input_fill (j->in, j->inp, j->in_dim, (int) start, (int) end);
}

/* The context's buffer WHICH laid out for N rounded rows of IN inputs. */
static void
reduced_input_layout (ClipReducedInput *in, ReducedContext *context, int which, int n, int in_dim)
{
  size_t bytes = clip_reduced_input_bytes (context->format, n, in_dim);
  if (context->input_bytes[which] < bytes)
    {
      g_free (context->input[which]);
      context->input[which] = huge_alloc0 (bytes);
      context->input_bytes[which] = bytes;
    }
  clip_reduced_input_init (in, context->format, n, in_dim, context->input[which]);
}

/* INP [N, IN] rounded for a product with a reduced matrix, in the context's buffer. */
static void
reduced_input_prepare (ClipReducedInput *in, ReducedContext *context, const float *inp, int n, int in_dim)
{
  reduced_input_layout (in, context, INPUT_MOST, n, in_dim);
  ReducedInputJob job = { in, inp, in_dim };
  clip_parallel_for (n, GRAIN_FLOATS / in_dim + 1, reduced_input_rows, &job);
}

/* layernorm (without statistics) whose output M multiplies next: for a reduced matrix, each chunk
 * of rows is rounded into ROUNDED in the same loop, while it is in cache, and ROUNDED is returned
 * for panel_linear; NULL for a float32 one. */
static const ClipReducedInput *
layernorm_for_product (ClipReducedInput *rounded, const PanelMatrix *m, float *out, const float *inp,
                       const float *weight, const float *bias, int n, int dim, float eps)
{
  if (m->context == NULL)
    {
      layernorm (out, NULL, NULL, inp, weight, bias, n, dim, eps);
      return NULL;
    }
  reduced_input_layout (rounded, m->context, INPUT_MOST, n, dim);
  LayerNormJob job = { out, NULL, NULL, inp, weight, bias, dim, eps, rounded };
  clip_parallel_for (n, GRAIN_FLOATS / dim + 1, layernorm_rows, &job);
  return rounded;
}

/* linear on panel weights: out[n, out_dim] (row stride LDO) = inp · weightᵀ + bias, or += with ADD,
 * then ACTIVATION (CLIP_PACKED_*).  ROUNDED, when not NULL, holds INP already rounded for a reduced
 * matrix; OUT_ROUNDED, when not NULL (a bf16 matrix, no ADD), receives the results rounded to bf16
 * instead of OUT.  The threads take ranges of panels (two per thread, for a late starter to even
 * out). */
static void
panel_linear (float *out, int ldo, const float *inp, const ClipReducedInput *rounded, ClipReducedInput *out_rounded,
              const PanelMatrix *m, const float *bias, int n, int in_dim, int out_dim, gboolean add, int activation)
{
  if (panel_matrix_uses_blas (m))
    {
      g_assert (ldo == out_dim);
      blas_linear (out, inp, m, bias, n, in_dim, out_dim, add, activation);
      return;
    }
  int n_panels = (out_dim + CLIP_PANEL - 1) / CLIP_PANEL;
  ClipReducedInput reduced_inp;
  if (m->floats == NULL && rounded == NULL)
    {
      reduced_input_prepare (&reduced_inp, m->context, inp, n, in_dim);
      rounded = &reduced_inp;
    }
  PanelProductJob job = { out, inp, m, rounded, out_rounded, bias, ldo, n, in_dim, out_dim, add, activation, n_panels,
                          MIN (n_panels, 2 * clip_get_threads ()) };
  clip_parallel_for (job.parts, 1, panel_product_parts, &job);
}

/* Where the MLP's up projection FC1 [N, F] puts its results: when it and the down projection FC2
 * are bf16, rounded straight into FC2's input NEXT (the context's second buffer, laid out here),
 * sparing the float32 rows' writing and reading back; NEXT is then returned, else NULL. */
static ClipReducedInput *
mlp_hidden_rounded (ClipReducedInput *next, const PanelMatrix *fc1, const PanelMatrix *fc2, int n, int f)
{
  if (fc1->context == NULL || fc2->context == NULL || fc2->context->format != CLIP_REDUCED_BF16)
    return NULL;
  reduced_input_layout (next, fc2->context, INPUT_MLP_DOWN, n, f);
  return next;
}

typedef struct {
  float *out, *probs;
  const float *q, *k, *v;
  const ClipSeqLayout *seqs;
  int d, ld, heads, causal;
} AttentionJob;

static void
attention_units (int64_t start, int64_t end, gpointer data)
{
  const AttentionJob *j = data;
  clip_attention_forward_range (j->out, j->probs, j->q, j->k, j->v, j->seqs, j->d, j->ld, j->heads, j->causal,
                                start, end);
}

/* One pre-norm residual block on the N token rows of X [N, width] (sequences as SEQS lays them out),
 * in place.  Inference reuses SCRATCH for every intermediate; training keeps in ACTS what the
 * backward pass reads.  GEMMS_ONLY issues the matrix products alone (clip_model_run_image_gemms). */
static void
block_forward (float *x, const ClipLayerWeights *lw, const PanelLayer *pl, const ClipTowerConfig *tc,
               const ClipSeqLayout *seqs, int n, int causal, float *scratch, ClipBlockActs *acts, gboolean gemms_only)
{
  int d = tc->width, f = tc->mlp_width;
  size_t nd = (size_t) n * d;
  float *ln = scratch, *q = ln + nd, *k = q + nd, *v = k + nd, *a = v + nd, *fc = a + nd;
  float *ln1 = ln, *ln2 = ln, *act = fc, *probs = NULL;
  float *ln1_mean = NULL, *ln1_rstd = NULL, *ln2_mean = NULL, *ln2_rstd = NULL;
  if (acts != NULL)
    {
      memcpy (acts->x_in, x, nd * sizeof (float));
      ln1 = acts->ln1, ln1_mean = acts->ln1_mean, ln1_rstd = acts->ln1_rstd;
      q = acts->q, k = acts->k, v = acts->v, probs = acts->probs, a = acts->attn;
      ln2 = acts->ln2, ln2_mean = acts->ln2_mean, ln2_rstd = acts->ln2_rstd;
      fc = acts->fc1, act = acts->act;
    }

  if (pl != NULL)
    {
      /* Q, K and V side by side in the rows of q, k and v's space: [n, 3d]. */
      ClipReducedInput rounded;
      const ClipReducedInput *ln1_rounded =
        layernorm_for_product (&rounded, &pl->qkv, ln1, x, lw->ln1_w, lw->ln1_b, n, d, tc->ln_eps);
      panel_linear (q, 3 * d, ln1, ln1_rounded, NULL, &pl->qkv, pl->qkv_bias, n, d, 3 * d, FALSE,
                    CLIP_PACKED_LINEAR);
      AttentionJob job = { a, NULL, q, q + d, q + 2 * d, seqs, d, 3 * d, tc->heads, causal };
      clip_parallel_for ((int64_t) seqs->b * tc->heads, 2, attention_units, &job);
      panel_linear (x, d, a, NULL, NULL, &pl->o, lw->o_b, n, d, d, TRUE, CLIP_PACKED_LINEAR);
      const ClipReducedInput *ln2_rounded =
        layernorm_for_product (&rounded, &pl->fc1, ln2, x, lw->ln2_w, lw->ln2_b, n, d, tc->ln_eps);
      ClipReducedInput hidden;
      ClipReducedInput *hidden_rounded = mlp_hidden_rounded (&hidden, &pl->fc1, &pl->fc2, n, f);
      panel_linear (act, f, ln2, ln2_rounded, hidden_rounded, &pl->fc1, lw->fc1_b, n, d, f, FALSE,
                    tc->activation == CLIP_ACTIVATION_QUICK_GELU ? CLIP_PACKED_QUICK_GELU : CLIP_PACKED_GELU);
      panel_linear (x, d, act, hidden_rounded, NULL, &pl->fc2, lw->fc2_b, n, f, d, TRUE, CLIP_PACKED_LINEAR);
      return;
    }

  if (!gemms_only)
    layernorm (ln1, ln1_mean, ln1_rstd, x, lw->ln1_w, lw->ln1_b, n, d, tc->ln_eps);
  linear (q, ln1, lw->q_w, lw->q_b, n, d, d, FALSE, gemms_only);
  linear (k, ln1, lw->k_w, lw->k_b, n, d, d, FALSE, gemms_only);
  linear (v, ln1, lw->v_w, lw->v_b, n, d, d, FALSE, gemms_only);
  if (!gemms_only)
    {
      AttentionJob job = { a, probs, q, k, v, seqs, d, d, tc->heads, causal };
      clip_parallel_for ((int64_t) seqs->b * tc->heads, 2, attention_units, &job);
    }
  linear (x, a, lw->o_w, lw->o_b, n, d, d, TRUE, gemms_only);
  if (acts != NULL)
    memcpy (acts->x_mid, x, nd * sizeof (float));

  if (!gemms_only)
    layernorm (ln2, ln2_mean, ln2_rstd, x, lw->ln2_w, lw->ln2_b, n, d, tc->ln_eps);
  linear (fc, ln2, lw->fc1_w, lw->fc1_b, n, d, f, FALSE, gemms_only);
  if (!gemms_only)
    {
      ActivationJob job = { act, fc, tc->activation == CLIP_ACTIVATION_QUICK_GELU };
      clip_parallel_for ((int64_t) n * f, GRAIN_FLOATS, activation_range, &job);
    }
  linear (x, act, lw->fc2_w, lw->fc2_b, n, f, d, TRUE, gemms_only);
}

static void
trace_hidden (ClipTowerTrace *trace, int index, const float *x, size_t floats)
{
  if (trace != NULL && trace->hidden != NULL && trace->hidden[index] != NULL)
    memcpy (trace->hidden[index], x, floats * sizeof (float));
}

/* The last step of both towers: LN (ln_post / ln_final) on the pooled rows of X (row s·T + POS[s]
 * for sequence s, or row s·T with POS NULL), then the projection (on PROJ_PANELS when not NULL).
 * WORK holds 2·n·width floats. */
static void
pool_project (const float *x, const int *pos, int n, int t, int d, const float *ln_w, const float *ln_b,
              float eps, const float *proj, const PanelMatrix *proj_panels, int embed_dim, float *features,
              ClipTowerTrace *trace, ClipTowerActs *acts, float *work, gboolean gemms_only)
{
  float *pool_in = acts != NULL ? acts->pool_in : work;
  float *pooled = acts != NULL ? acts->pooled : work + (size_t) n * d;
  if (!gemms_only)
    {
      clip_pool_forward (pool_in, x, pos, n, t, d);
      clip_layernorm_forward (pooled, acts != NULL ? acts->pool_mean : NULL,
                              acts != NULL ? acts->pool_rstd : NULL, pool_in, ln_w, ln_b, n, d, eps);
      if (trace != NULL && trace->pooled != NULL)
        memcpy (trace->pooled, pooled, sizeof (float) * n * d);
    }
  if (proj_panels != NULL)
    panel_linear (features, embed_dim, pooled, NULL, NULL, proj_panels, NULL, n, d, embed_dim, FALSE,
                  CLIP_PACKED_LINEAR);
  else
    clip_matmul_forward (features, pooled, proj, n, d, embed_dim, FALSE);
}

/* With GEMMS_ONLY, PIXELS may be NULL and FEATURES receives no meaningful values. */
static gboolean
vision_forward (ClipModel *model, const float *pixels, int n, float *features, ClipTowerTrace *trace,
                ClipTowerActs *acts, gboolean gemms_only, const ClipCallbacks *callbacks, GError **error)
{
  const ClipConfig *c = &model->config;
  const ClipTowerConfig *tc = &c->vision;
  const ClipWeights *w = &model->w;
  int p = c->patch_size, s = c->image_size, grid = s / p, t = grid * grid + 1, d = tc->width;
  int patch_len = 3 * p * p, n_patches = n * grid * grid;
  size_t nd = (size_t) n * t * d;

  /* Before the scratch is taken: the first pass times the kernels on passes of its own. */
  if (acts != NULL || gemms_only)
    clip_model_restore_originals (model);
  const ClipPanels *panels = NULL;
  if (acts == NULL && !gemms_only
      && !panels_get (model, n == 1 ? CLIP_PASS_ONE : CLIP_PASS_BATCH, callbacks, &panels, error))
    return FALSE;
  if (panels == NULL && !clip_blas_check_room (error))
    return FALSE;
  int layers = panels != NULL && panels->timed_layers > 0 ? panels->timed_layers : tc->layers;

  float *x = scratch_get (model, nd + MAX (block_scratch_floats (tc, n * t),
                                            (size_t) n_patches * (patch_len + d)));
  float *work = x + nd;
  float *patches = acts != NULL ? acts->patches : work;
  float *embedded = work + (acts != NULL ? 0 : (size_t) n_patches * patch_len);
  float *tokens = acts != NULL ? acts->tokens : x;
  if (gemms_only)
    clip_matmul_forward (embedded, patches, w->v_patch, n_patches, patch_len, d, FALSE);
  else
    {
      if (panels != NULL)
        {
          clip_patch_gather (patches, pixels, n, s, p);
          panel_linear (embedded, d, patches, NULL, NULL, &panels->v_patch, NULL, n_patches, patch_len, d, FALSE,
                        CLIP_PACKED_LINEAR);
        }
      else
        clip_patch_embed_forward (embedded, patches, pixels, w->v_patch, n, s, p, d);
      clip_class_embedding_forward (tokens, embedded, w->v_class, w->v_pos, n, t, d);
      layernorm (x, acts != NULL ? acts->ln_pre_mean : NULL, acts != NULL ? acts->ln_pre_rstd : NULL,
                 tokens, w->v_ln_pre_w, w->v_ln_pre_b, n * t, d, tc->ln_eps);
    }
  trace_hidden (trace, 0, x, nd);

  ClipSeqLayout seqs = { .b = n, .t = t };
  for (int l = 0; l < layers; l++)
    {
      if (!clip_callbacks_check_abort (callbacks, error))
        return FALSE;
      block_forward (x, &w->vision_layers[l], panels != NULL ? &panels->vision[l] : NULL, tc, &seqs, n * t, FALSE, work,
                     acts != NULL ? &acts->blocks[l] : NULL, gemms_only);
      trace_hidden (trace, l + 1, x, nd);
    }

  pool_project (x, NULL, n, t, d, w->v_ln_post_w, w->v_ln_post_b, tc->ln_eps, w->v_proj,
                panels != NULL ? &panels->v_proj : NULL, c->embed_dim, features, trace, acts, work, gemms_only);
  if (acts != NULL)
    acts->n = n, acts->t = t;
  return TRUE;
}

gboolean
clip_vision_forward (ClipModel *model, const float *pixels, int n, float *features,
                     ClipTowerTrace *trace, const ClipCallbacks *callbacks, GError **error)
{
  return vision_forward (model, pixels, n, features, trace, NULL, FALSE, callbacks, error);
}

gboolean
clip_vision_forward_train (ClipModel *model, const float *pixels, int n, float *features,
                           ClipTowerActs *acts, const ClipCallbacks *callbacks, GError **error)
{
  return vision_forward (model, pixels, n, features, NULL, acts, FALSE, callbacks, error);
}

gboolean
clip_model_run_image_gemms (ClipModel *model, int n, GError **error)
{
  if (n < 1)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%d images: there must be at least one", n);
      return FALSE;
    }
  g_autofree float *features = g_new (float, (size_t) MIN (n, ENCODE_CHUNK) * model->config.embed_dim);
  for (int start = 0; start < n; start += ENCODE_CHUNK)
    if (!vision_forward (model, NULL, MIN (ENCODE_CHUNK, n - start), features, NULL, NULL, TRUE, NULL, error))
      return FALSE;
  return TRUE;
}

/* The row whose output is pooled: the first EOT when the model names one, else the largest id. */
static int
pool_position (const int32_t *row, int len, int eot_id)
{
  int best = 0;
  for (int i = 0; i < len; i++)
    {
      if (eot_id >= 0 && row[i] == eot_id)
        return i;
      if (row[i] > row[best])
        best = i;
    }
  return best;
}

/* Inference packs the prompts, each cut after its pooled position, one after the other (with the
 * causal mask, later positions cannot change the pooled one), so that the linear layers see only
 * real tokens; attention stays within each prompt.  Training and traces keep the padded layout
 * [n, T, width]: training computes every row up to the longest prompt's pooled position so that
 * every row the backward pass reads is defined, a trace all ROW_LEN positions. */
static gboolean
text_forward (ClipModel *model, const int32_t *ids, int n, int row_len, float *features,
              ClipTowerTrace *trace, ClipTowerActs *acts, const ClipCallbacks *callbacks, GError **error)
{
  const ClipConfig *c = &model->config;
  const ClipTowerConfig *tc = &c->text;
  const ClipWeights *w = &model->w;
  int d = tc->width;

  if (row_len < 1 || row_len > c->context_length)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                   "%d tokens per prompt do not fit the model's context of %d", row_len, c->context_length);
      return FALSE;
    }
  for (int i = 0; i < n * row_len; i++)
    if (ids[i] < 0 || ids[i] >= c->vocab_size)
      {
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                     "token id %d (prompt %d, position %d) is outside the vocabulary of %d",
                     ids[i], i / row_len + 1, i % row_len, c->vocab_size);
        return FALSE;
      }

  gboolean packed = acts == NULL && trace == NULL;
  if (acts != NULL)
    clip_model_restore_originals (model);
  const ClipPanels *panels = NULL;
  if (acts == NULL && !panels_get (model, n == 1 ? CLIP_PASS_ONE : CLIP_PASS_BATCH, callbacks, &panels, error))
    return FALSE;
  if (panels == NULL && !clip_blas_check_room (error))
    return FALSE;
  g_autofree int *own_pool = acts != NULL ? NULL : g_new (int, n);
  int *pool = acts != NULL ? acts->pool : own_pool;
  g_autofree int *start = packed ? g_new (int, n) : NULL;
  g_autofree int *len = packed ? g_new (int, n) : NULL;
  int t = trace != NULL ? row_len : 1, rows = 0;
  for (int i = 0; i < n; i++)
    {
      pool[i] = pool_position (ids + (size_t) i * row_len, row_len, c->eot_id);
      t = MAX (t, pool[i] + 1);
      if (packed)
        {
          start[i] = rows;
          len[i] = pool[i] + 1;
          rows += len[i];
        }
    }
  if (!packed)
    rows = n * t;
  ClipSeqLayout seqs = { .b = n, .t = t, .start = start, .len = len };

  size_t nd = (size_t) rows * d;
  float *x = scratch_get (model, nd + block_scratch_floats (tc, rows));
  float *work = x + nd;
  if (packed)
    for (int i = 0; i < n; i++)
      clip_embedding_forward (x + (size_t) start[i] * d, ids + (size_t) i * row_len, w->t_tok, w->t_pos,
                              1, len[i], row_len, d);
  else
    clip_embedding_forward (x, ids, w->t_tok, w->t_pos, n, t, row_len, d);
  trace_hidden (trace, 0, x, nd);

  for (int l = 0; l < tc->layers; l++)
    {
      if (!clip_callbacks_check_abort (callbacks, error))
        return FALSE;
      block_forward (x, &w->text_layers[l], panels != NULL ? &panels->text[l] : NULL, tc, &seqs, rows, TRUE, work,
                     acts != NULL ? &acts->blocks[l] : NULL, FALSE);
      trace_hidden (trace, l + 1, x, nd);
    }

  if (trace != NULL && trace->last_hidden != NULL)
    clip_layernorm_forward (trace->last_hidden, NULL, NULL, x, w->t_ln_final_w, w->t_ln_final_b,
                            rows, d, tc->ln_eps);
  /* Packed, prompt i's pooled row is start + pool: rows counted from the top (T = 0). */
  if (packed)
    for (int i = 0; i < n; i++)
      pool[i] += start[i];
  pool_project (x, pool, n, packed ? 0 : t, d, w->t_ln_final_w, w->t_ln_final_b, tc->ln_eps, w->t_proj,
                panels != NULL ? &panels->t_proj : NULL, c->embed_dim, features, trace, acts, work, FALSE);
  if (acts != NULL)
    acts->n = n, acts->t = t;
  return TRUE;
}

gboolean
clip_text_forward (ClipModel *model, const int32_t *ids, int n, int row_len, float *features,
                   ClipTowerTrace *trace, const ClipCallbacks *callbacks, GError **error)
{
  return text_forward (model, ids, n, row_len, features, trace, NULL, callbacks, error);
}

gboolean
clip_text_forward_train (ClipModel *model, const int32_t *ids, int n, int row_len, float *features,
                         ClipTowerActs *acts, const ClipCallbacks *callbacks, GError **error)
{
  return text_forward (model, ids, n, row_len, features, NULL, acts, callbacks, error);
}

void
clip_l2_normalize_rows (float *x, int n, int dim)
{
  clip_l2norm_forward (x, x, n, dim);
}

/* ------------------------------------------------------------------ public encoding API */

gboolean
clip_model_encode_images (ClipModel *model, const float *pixels, int n, float *embeds,
                          const ClipCallbacks *callbacks, GError **error)
{
  const ClipConfig *c = &model->config;
  size_t image_floats = (size_t) 3 * c->image_size * c->image_size;
  for (int start = 0; start < n; start += ENCODE_CHUNK)
    {
      int count = MIN (ENCODE_CHUNK, n - start);
      float *out = embeds + (size_t) start * c->embed_dim;
      if (!clip_vision_forward (model, pixels + start * image_floats, count, out, NULL, callbacks, error))
        return FALSE;
      clip_l2_normalize_rows (out, count, c->embed_dim);
    }
  return TRUE;
}

gboolean
clip_model_encode_token_ids (ClipModel *model, const int32_t *ids, int n, int row_len,
                             float *embeds, const ClipCallbacks *callbacks, GError **error)
{
  const ClipConfig *c = &model->config;
  /* Prompts up to about TEXT_CHUNK_TOKENS real tokens at a time: text_forward packs them. */
  for (int start = 0, count; start < n; start += count)
    {
      int64_t tokens = 0;
      for (count = 0; start + count < n; count++)
        {
          int len = pool_position (ids + (size_t) (start + count) * row_len, row_len, c->eot_id) + 1;
          if (count > 0 && tokens + len > TEXT_CHUNK_TOKENS)
            break;
          tokens += len;
        }
      float *out = embeds + (size_t) start * c->embed_dim;
      if (!clip_text_forward (model, ids + (size_t) start * row_len, count, row_len, out, NULL, callbacks, error))
        return FALSE;
      clip_l2_normalize_rows (out, count, c->embed_dim);
    }
  return TRUE;
}

gboolean
clip_model_encode_texts (ClipModel *model, const char *const *texts, int n, float *embeds,
                         const ClipCallbacks *callbacks, GError **error)
{
  const ClipConfig *c = &model->config;
  if (model->tokenizer == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING,
                   "%s: the model has no tokenizer; give one with --tokenizer (a vocab.json, tokenizer.json, "
                   "bpe_simple_vocab_16e6.txt.gz or \"bytes\")", model->path);
      return FALSE;
    }
  if (model->text_cache == NULL)
    model->text_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  /* Encode the prompts not seen before in one batch (each distinct text once), then copy. */
  g_autoptr (GHashTable) fresh = g_hash_table_new (g_str_hash, g_str_equal);  /* text → row + 1 */
  g_autoptr (GPtrArray) todo = g_ptr_array_new ();
  for (int i = 0; i < n; i++)
    if (!g_hash_table_contains (model->text_cache, texts[i]) && !g_hash_table_contains (fresh, texts[i]))
      {
        g_ptr_array_add (todo, (gpointer) texts[i]);
        g_hash_table_insert (fresh, (gpointer) texts[i], GINT_TO_POINTER (todo->len));
      }
  int ctx = c->context_length;
  g_autofree int32_t *ids = g_new0 (int32_t, (size_t) todo->len * ctx);
  g_autofree float *out = g_new (float, (size_t) todo->len * c->embed_dim);
  for (guint i = 0; i < todo->len; i++)
    clip_tokenizer_encode (model->tokenizer, todo->pdata[i], ctx, ids + (size_t) i * ctx);
  if (todo->len > 0 && !clip_model_encode_token_ids (model, ids, todo->len, ctx, out, callbacks, error))
    return FALSE;

  size_t row_bytes = sizeof (float) * c->embed_dim;
  for (int i = 0; i < n; i++)
    {
      int row = GPOINTER_TO_INT (g_hash_table_lookup (fresh, texts[i])) - 1;
      const float *e = row >= 0 ? out + (size_t) row * c->embed_dim
                                : g_hash_table_lookup (model->text_cache, texts[i]);
      memcpy (embeds + (size_t) i * c->embed_dim, e, row_bytes);
    }
  if (g_hash_table_size (model->text_cache) + todo->len > TEXT_CACHE_MAX)
    g_hash_table_remove_all (model->text_cache);
  for (guint i = 0; i < todo->len; i++)
    g_hash_table_insert (model->text_cache, g_strdup (todo->pdata[i]),
                         g_memdup2 (out + (size_t) i * c->embed_dim, row_bytes));
  return TRUE;
}

gboolean
clip_model_encode_image_files (ClipModel *model, const char *const *paths, int n,
                               gboolean apply_exif_orientation, float *embeds, const ClipCallbacks *callbacks,
                               GError **error)
{
  const ClipConfig *c = &model->config;
  int s = c->image_size;
  size_t image_floats = (size_t) 3 * s * s;
  g_autofree float *pixels = g_new (float, image_floats * MIN (n, ENCODE_CHUNK));
  g_autofree uint8_t *crop = g_new (uint8_t, (size_t) s * s * 3);
  for (int start = 0; start < n; start += ENCODE_CHUNK)
    {
      int count = MIN (ENCODE_CHUNK, n - start);
      for (int i = 0; i < count; i++)
        {
          g_autoptr (ClipImage) image = clip_image_load (paths[start + i], apply_exif_orientation, error);
          if (image == NULL)
            return FALSE;
          clip_image_resize_crop (image, s, crop);
          clip_image_normalize (crop, &model->preprocess, pixels + i * image_floats);
        }
      if (!clip_model_encode_images (model, pixels, count, embeds + (size_t) start * c->embed_dim, callbacks, error))
        return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------ accessors */

const ClipConfig *clip_model_get_config (const ClipModel *model) { return &model->config; }
const ClipPreprocess *clip_model_get_preprocess (const ClipModel *model) { return &model->preprocess; }
ClipTokenizer *clip_model_get_tokenizer (const ClipModel *model) { return model->tokenizer; }
ClipLayout clip_model_get_layout (const ClipModel *model) { return model->layout; }
ClipDType clip_model_get_dtype (const ClipModel *model) { return model->dtype; }
ClipPrecision clip_model_get_precision (const ClipModel *model) { return model->precision; }

const char *clip_model_get_path (const ClipModel *model) { return model->path; }
float clip_model_get_logit_scale (const ClipModel *model) { return model->w.logit_scale[0]; }

static const char *const product_names[CLIP_N_PRODUCTS] = {
  "patch_embedding", "vision_qkv", "vision_attention_out", "vision_mlp_up", "vision_mlp_down", "vision_projection",
  "text_qkv", "text_attention_out", "text_mlp_up", "text_mlp_down", "text_projection",
};

const char *
clip_product_name (ClipProduct product)
{
  return product < CLIP_N_PRODUCTS ? product_names[product] : "unknown";
}

const char *
clip_model_get_kernel (const ClipModel *model, ClipProduct product)
{
  const ClipPanels *p = model->panels;
  if (model->file == NULL)
    return "openblas";
  if (p == NULL)
    return NULL;
  const PanelMatrix *matrices[CLIP_N_PRODUCTS] = {
    &p->v_patch, &p->vision[0].qkv, &p->vision[0].o, &p->vision[0].fc1, &p->vision[0].fc2, &p->v_proj,
    &p->text[0].qkv, &p->text[0].o, &p->text[0].fc1, &p->text[0].fc2, &p->t_proj,
  };
  return product < CLIP_N_PRODUCTS ? panel_matrix_kernel (matrices[product]) : NULL;
}

int64_t
clip_model_get_n_params (const ClipModel *model)
{
  return clip_weights_n_floats (&model->config);
}

ClipModel *
clip_model_new_from_block (const ClipConfig *config, const ClipPreprocess *pre, ClipTokenizer *tokenizer,
                           float *block, gboolean take_block, const char *path)
{
  ClipModel *model = g_new0 (ClipModel, 1);
  model->config = *config;
  model->preprocess = *pre;
  model->layout = CLIP_LAYOUT_CLIPLAB;
  model->dtype = CLIP_DTYPE_F32;
  model->path = g_strdup (path);
  model->tokenizer = tokenizer != NULL ? clip_tokenizer_ref (tokenizer) : NULL;
  model->owned = take_block ? block : NULL;
  clip_weights_init (&model->w, config);
  clip_weights_carve (&model->w, config, block);
  return model;
}

void
clip_model_free (ClipModel *model)
{
  if (model == NULL)
    return;
  clip_weights_clear (&model->w);
  g_clear_pointer (&model->panels, panels_free);
  g_clear_pointer (&model->tokenizer, clip_tokenizer_unref);
  g_clear_pointer (&model->file, clip_safetensors_close);
  g_clear_pointer (&model->text_cache, g_hash_table_unref);
  g_free (model->owned);
  g_free (model->converted);
  g_free (model->scratch);
  g_free (model->path);
  g_free (model);
}
