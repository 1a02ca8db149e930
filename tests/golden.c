#include "golden.h"

#include <math.h>
#include <string.h>

ClipSafetensors *
golden_open (const char *rel)
{
  g_autofree char *path = tu_shared_path (rel);
  GError *error = NULL;
  ClipSafetensors *st = clip_safetensors_open (path, &error);
  g_assert_no_error (error);
  return st;
}

float *
golden_floats (ClipSafetensors *st, const char *name, int64_t *n)
{
  const ClipStTensor *t = clip_safetensors_find (st, name);
  if (t == NULL)
    g_error ("reference tensor '%s' is missing", name);
  float *out = g_new (float, MAX (t->n_elements, 1));
  clip_convert_to_f32 (t->dtype, t->data, t->n_elements, out);
  if (n != NULL)
    *n = t->n_elements;
  return out;
}

const int32_t *
golden_i32 (ClipSafetensors *st, const char *name, int64_t *n)
{
  const ClipStTensor *t = clip_safetensors_find (st, name);
  g_assert_nonnull (t);
  g_assert_cmpint (t->dtype, ==, CLIP_DTYPE_I32);
  *n = t->n_elements;
  return t->data;
}

void
golden_run (ClipModel *model, const float *pixels, int n_images, const int32_t *ids, int n_texts,
            int row_len, GoldenOutputs *out)
{
  const ClipConfig *c = clip_model_get_config (model);
  int tv = (c->image_size / c->patch_size) * (c->image_size / c->patch_size) + 1;
  GError *error = NULL;
  memset (out, 0, sizeof *out);
  out->n_images = n_images;
  out->n_texts = n_texts;

  out->vision_hidden = g_new0 (float *, c->vision.layers + 1);
  for (int l = 0; l <= c->vision.layers; l++)
    out->vision_hidden[l] = g_new (float, (size_t) n_images * tv * c->vision.width);
  out->vision_pooled = g_new (float, (size_t) n_images * c->vision.width);
  out->image_features = g_new (float, (size_t) n_images * c->embed_dim);
  ClipTowerTrace vt = { out->vision_hidden, NULL, out->vision_pooled };
  g_assert_true (clip_vision_forward (model, pixels, n_images, out->image_features, &vt, NULL, &error));
  g_assert_no_error (error);

  out->text_hidden = g_new0 (float *, c->text.layers + 1);
  for (int l = 0; l <= c->text.layers; l++)
    out->text_hidden[l] = g_new (float, (size_t) n_texts * row_len * c->text.width);
  out->text_last_hidden = g_new (float, (size_t) n_texts * row_len * c->text.width);
  out->text_pooled = g_new (float, (size_t) n_texts * c->text.width);
  out->text_features = g_new (float, (size_t) n_texts * c->embed_dim);
  ClipTowerTrace tt = { out->text_hidden, out->text_last_hidden, out->text_pooled };
  g_assert_true (clip_text_forward (model, ids, n_texts, row_len, out->text_features, &tt, NULL, &error));
  g_assert_no_error (error);

  int d = c->embed_dim;
  out->image_embeds = g_memdup2 (out->image_features, sizeof (float) * n_images * d);
  out->text_embeds = g_memdup2 (out->text_features, sizeof (float) * n_texts * d);
  clip_l2_normalize_rows (out->image_embeds, n_images, d);
  clip_l2_normalize_rows (out->text_embeds, n_texts, d);

  /* logits_per_image and the symmetric cross-entropy, computed here in double. */
  double scale = exp (clip_model_get_logit_scale (model));
  out->logits = g_new (float, (size_t) n_images * n_texts);
  for (int i = 0; i < n_images; i++)
    for (int j = 0; j < n_texts; j++)
      {
        double dot = 0;
        for (int k = 0; k < d; k++)
          dot += (double) out->image_embeds[i * d + k] * out->text_embeds[j * d + k];
        out->logits[i * n_texts + j] = (float) (scale * dot);
      }
  if (n_images == n_texts)
    {
      double loss = 0;
      for (int dir = 0; dir < 2; dir++)
        for (int i = 0; i < n_images; i++)
          {
            double max = -INFINITY, sum = 0;
            for (int j = 0; j < n_texts; j++)
              max = fmax (max, dir ? out->logits[j * n_texts + i] : out->logits[i * n_texts + j]);
            for (int j = 0; j < n_texts; j++)
              sum += exp ((dir ? out->logits[j * n_texts + i] : out->logits[i * n_texts + j]) - max);
            loss += -(out->logits[i * n_texts + i] - max - log (sum));
          }
      out->loss = (float) (loss / (2.0 * n_images));
    }
}

void
golden_outputs_clear (GoldenOutputs *out, const ClipModel *model)
{
  const ClipConfig *c = clip_model_get_config (model);
  for (int l = 0; l <= c->vision.layers; l++)
    g_free (out->vision_hidden[l]);
  for (int l = 0; l <= c->text.layers; l++)
    g_free (out->text_hidden[l]);
  g_free (out->vision_hidden);
  g_free (out->text_hidden);
  g_free (out->vision_pooled);
  g_free (out->text_pooled);
  g_free (out->text_last_hidden);
  g_free (out->image_features);
  g_free (out->text_features);
  g_free (out->image_embeds);
  g_free (out->text_embeds);
  g_free (out->logits);
}
