/* precision-auto.c — AUTO for one model: the fastest precision on this CPU (kernel-choice.c), with
 * int8 only when the model's int8 embeddings stay within int8's bound of its float32 ones.
 *
 * bf16 rounds every model within its bound, but int8's accuracy is the model's own: trained
 * checkpoints can have outlier channels (LLM.int8(), SmoothQuant) that per-row int8 inputs handle
 * badly.  So where int8 is the fastest, the model is loaded once at float32 and once at int8 at its
 * first load with AUTO, probe images (and prompts, when it has a tokenizer) are embedded by both,
 * and the worst cosine is cached under the identity of the model's files and options; int8 is
 * chosen when it reaches INT8_MIN_COSINE, else the fastest of the rest. */
#include "clip-private.h"
#include "kernel-choice.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* int8's bound (see ClipPrecision): the golden ViT-B/32 weights reach 0.9997. */
#define INT8_MIN_COSINE 0.995

#define PROBE_IMAGES 4

static const char *const probe_prompts[] = {
  "a photo of a dog",
  "a diagram of an electric circuit",
  "two people walking on a beach at sunset",
  "a close-up of a red flower",
};

/* Smooth patterns of several frequencies with noise, in normalised units (about ±2), so that the
 * probe reaches the activations a photo would without any image file. */
static void
probe_pixels (float *pixels, int size)
{
  GRand *rng = g_rand_new_with_seed (7);
  for (int i = 0; i < PROBE_IMAGES; i++)
    for (int c = 0; c < 3; c++)
      for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
          {
            double u = (double) x / size, v = (double) y / size;
            double wave = sin (2 * G_PI * ((i + 1) * u + (2 * i + 1) * v) + c) * cos (2 * G_PI * (i + 2) * u * v);
            pixels[(((size_t) i * 3 + c) * size + y) * size + x] = (float) (1.5 * wave
                                                                            + 0.3 * g_rand_double_range (rng, -1, 1));
          }
  g_rand_free (rng);
}

/* The embeddings of the probe at PRECISION: *IMAGES [PROBE_IMAGES, dim] and, when the model has a
 * tokenizer, *TEXTS [probe_prompts, dim] (else NULL). */
static gboolean
probe_embeddings (const char *path, const ClipLoadOptions *options, ClipPrecision precision, float **images,
                  float **texts, int *dim, GError **error)
{
  ClipLoadOptions at = *options;
  at.precision = precision;
  g_autoptr (ClipModel) model = clip_model_load (path, &at, error);
  if (model == NULL)
    return FALSE;
  const ClipConfig *config = clip_model_get_config (model);
  *dim = config->embed_dim;
  g_autofree float *pixels = g_new (float, (size_t) PROBE_IMAGES * 3 * config->image_size * config->image_size);
  probe_pixels (pixels, config->image_size);
  *images = g_new (float, (size_t) PROBE_IMAGES * *dim);
  *texts = NULL;
  if (!clip_model_encode_images (model, pixels, PROBE_IMAGES, *images, NULL, error))
    return FALSE;
  if (clip_model_get_tokenizer (model) == NULL)
    return TRUE;
  *texts = g_new (float, G_N_ELEMENTS (probe_prompts) * *dim);
  return clip_model_encode_texts (model, probe_prompts, G_N_ELEMENTS (probe_prompts), *texts, NULL, error);
}

/* The worst cosine of the probe's int8 embeddings to its float32 ones. */
static gboolean
int8_worst_cosine (const char *path, const ClipLoadOptions *options, double *worst, GError **error)
{
  g_autofree float *f32_images = NULL, *f32_texts = NULL, *int8_images = NULL, *int8_texts = NULL;
  int dim;
  if (!probe_embeddings (path, options, CLIP_PRECISION_F32, &f32_images, &f32_texts, &dim, error)
      || !probe_embeddings (path, options, CLIP_PRECISION_INT8, &int8_images, &int8_texts, &dim, error))
    return FALSE;
  *worst = clip_embeddings_worst_cosine (f32_images, int8_images, PROBE_IMAGES, dim);
  if (f32_texts != NULL && int8_texts != NULL)
    *worst = MIN (*worst, clip_embeddings_worst_cosine (f32_texts, int8_texts, G_N_ELEMENTS (probe_prompts), dim));
  return TRUE;
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
append_file_identity (GString *identity, const char *file)
{
  GStatBuf st;
  if (file != NULL && g_stat (file, &st) == 0)
    g_string_append_printf (identity, "%s|%lld|%lld|", file, (long long) st.st_size, (long long) st.st_mtime);
  else
    g_string_append_printf (identity, "%s||", file != NULL ? file : "");
}

char *
clip_int8_cosine_key (const char *weights, const char *config, const ClipLoadOptions *options)
{
  g_autoptr (GString) identity = g_string_new (NULL);
  const char *files[] = { weights, config, options->config_path, options->tokenizer_path };
  for (size_t i = 0; i < G_N_ELEMENTS (files); i++)
    append_file_identity (identity, files[i]);
  if (g_str_has_suffix (weights, ".index.json"))
    {
      g_autofree char *dir_path = g_path_get_dirname (weights);
      g_autoptr (GPtrArray) shards = g_ptr_array_new_with_free_func (g_free);
      GDir *dir = g_dir_open (dir_path, 0, NULL);
      for (const char *name; dir != NULL && (name = g_dir_read_name (dir)) != NULL;)
        if (g_str_has_suffix (name, ".safetensors"))
          g_ptr_array_add (shards, g_build_filename (dir_path, name, NULL));
      if (dir != NULL)
        g_dir_close (dir);
      g_ptr_array_sort (shards, compare_paths);
      for (guint i = 0; i < shards->len; i++)
        append_file_identity (identity, shards->pdata[i]);
    }
  g_string_append_printf (identity, "%d|%d", options->vision_heads, options->text_heads);
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, identity->str, -1);
  return g_strdup_printf ("int8-cosine-%.16s", digest);
}

gboolean
clip_auto_precision_for_model (const char *path, const ClipLoadOptions *options, const char *weights,
                               const char *config, ClipPrecision *precision, GError **error)
{
  *precision = clip_auto_precision (TRUE);
  if (*precision != CLIP_PRECISION_INT8)
    return TRUE;
  g_autofree char *key = clip_int8_cosine_key (weights, config, options);
  g_autofree char *cached = clip_choice_lookup (key);
  char *end = NULL;
  double worst = cached != NULL ? g_ascii_strtod (cached, &end) : 0;
  if (cached == NULL || end == cached || *end != '\0')
    {
      if (!int8_worst_cosine (path, options, &worst, error))
        return FALSE;
      char text[G_ASCII_DTOSTR_BUF_SIZE];
      clip_choice_store (key, g_ascii_formatd (text, sizeof text, "%.6f", worst));
    }
  if (worst < INT8_MIN_COSINE)
    *precision = clip_auto_precision (FALSE);
  return TRUE;
}
