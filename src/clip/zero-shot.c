/* zero-shot.c — prompt templates and zero-shot classifiers (clip-reference.md §6). */
#include "clip-private.h"
#include "util-file.h"

#include <math.h>
#include <string.h>

/* A templates file holds a few hundred short lines at most. */
#define TEMPLATES_MAX_BYTES (16 << 20)

static const char *const simple_templates[] = { "a photo of a {}.", NULL };

/* OpenAI's sequential-forward-selection subset, in selection order. */
static const char *const openai7_templates[] = {
  "itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
  "a {} in a video game.", "art of the {}.", "a photo of the small {}.", NULL,
};

static const char *const imagenet80_templates[] = {
  "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
  "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
  "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
  "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
  "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
  "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
  "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
  "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
  "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
  "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
  "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
  "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
  "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
  "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
  "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
  "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
  "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
  "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
  "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
  "a photo of a small {}.", "a tattoo of the {}.", NULL,
};

const char *const *
clip_templates_builtin (const char *name, int *n_templates)
{
  const char *const *set = NULL;
  if (g_strcmp0 (name, "simple") == 0)
    set = simple_templates;
  else if (g_strcmp0 (name, "openai7") == 0)
    set = openai7_templates;
  else if (g_strcmp0 (name, "imagenet80") == 0)
    set = imagenet80_templates;
  if (set != NULL && n_templates != NULL)
    *n_templates = (int) g_strv_length ((char **) set);
  return set;
}

gboolean
clip_template_is_valid (const char *template)
{
  return strstr (template, "{}") != NULL || strstr (template, "{c}") != NULL;
}

/* Python's str.format with one positional field, as CLIP_benchmark's {c} too. */
char *
clip_template_fill (const char *template, const char *name)
{
  g_auto (GStrv) parts = g_strsplit (template, "{c}", -1);
  g_autofree char *joined = g_strjoinv ("{}", parts);
  g_auto (GStrv) pieces = g_strsplit (joined, "{}", -1);
  return g_strjoinv (name, pieces);
}

char **
clip_templates_load (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;
  if (!clip_file_read_contents (path, CLIP_INPUT_DEFAULT, TEMPLATES_MAX_BYTES, &text, &len, error))
    return NULL;
  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: not UTF-8 text", path);
      return NULL;
    }
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      if (*line == '\0')
        continue;
      if (!clip_template_is_valid (line))
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                       "%s: line %d (\"%s\") has no {} or {c} where the class name goes", path, i + 1, line);
          return NULL;
        }
      g_ptr_array_add (out, g_strdup (line));
    }
  if (out->len == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: no templates in the file", path);
      return NULL;
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

gboolean
clip_zero_shot_classifier (ClipModel *model, const char *const *classes, int n_classes,
                           const char *const *templates, int n_templates, float *weights,
                           const ClipCallbacks *callbacks, GError **error)
{
  int dim = model->config.embed_dim;
  if (n_classes < 1 || n_templates < 1)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "zero-shot needs at least one class and one template");
      return FALSE;
    }
  g_autoptr (GPtrArray) prompts = g_ptr_array_new_with_free_func (g_free);
  for (int c = 0; c < n_classes; c++)
    for (int t = 0; t < n_templates; t++)
      g_ptr_array_add (prompts, clip_template_fill (templates[t], classes[c]));
  g_autofree float *embeds = g_new (float, (size_t) prompts->len * dim);
  if (!clip_model_encode_texts (model, (const char *const *) prompts->pdata, prompts->len, embeds, callbacks, error))
    return FALSE;
  for (int c = 0; c < n_classes; c++)
    {
      float *w = weights + (size_t) c * dim;
      for (int j = 0; j < dim; j++)
        {
          double sum = 0;
          for (int t = 0; t < n_templates; t++)
            sum += embeds[((size_t) c * n_templates + t) * dim + j];
          w[j] = (float) (sum / n_templates);
        }
    }
  clip_l2_normalize_rows (weights, n_classes, dim);
  return TRUE;
}

void
clip_zero_shot_probs (const ClipModel *model, const float *image_embeds, int n_images,
                      const float *weights, int n_classes, float *probs)
{
  int dim = model->config.embed_dim;
  double scale = exp (clip_model_get_logit_scale (model));
  for (int i = 0; i < n_images; i++)
    {
      float *p = probs + (size_t) i * n_classes;
      double max = -INFINITY;
      for (int c = 0; c < n_classes; c++)
        {
          double dot = 0;
          for (int j = 0; j < dim; j++)
            dot += (double) image_embeds[(size_t) i * dim + j] * weights[(size_t) c * dim + j];
          p[c] = (float) (scale * dot);
          max = fmax (max, p[c]);
        }
      double sum = 0;
      for (int c = 0; c < n_classes; c++)
        sum += exp (p[c] - max);
      for (int c = 0; c < n_classes; c++)
        p[c] = (float) (exp (p[c] - max) / sum);
    }
}

double
clip_embeddings_worst_cosine (const float *a, const float *b, int n, int dim)
{
  double worst = 1;
  for (int i = 0; i < n; i++)
    {
      double dot = 0;
      for (int j = 0; j < dim; j++)
        dot += (double) a[(size_t) i * dim + j] * b[(size_t) i * dim + j];
      worst = MIN (worst, dot);
    }
  return worst;
}
