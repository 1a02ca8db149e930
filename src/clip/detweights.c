/* detweights.c — the deterministic ViT-B/32 weights of the golden references, shared by the golden
 * test and the benchmark (cliplab-cli bench --detweights). */
#include "clip-private.h"
#include "clip-testing.h"

#include <math.h>
#include <string.h>

static uint64_t
fnv1a64 (const char *s)
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++)
    h = (h ^ (uint8_t) *s) * 0x100000001b3ull;
  return h;
}

/* The golden README's generator: element I of tensor NAME is BASE + k · 2^-E, k from splitmix64. */
void
clip_detweights_fill (const char *name, float *values, int64_t n)
{
  double base = 0;
  int e = 20;
  gboolean is_ln = strstr (name, "layer_norm") || strstr (name, "layrnorm") || strstr (name, "layernorm");
  if (g_str_equal (name, "logit_scale"))
    {
      for (int64_t i = 0; i < n; i++)
        values[i] = 2.5f;
      return;
    }
  if (is_ln && g_str_has_suffix (name, "weight"))
    base = 1, e = 19;
  else if (g_str_has_suffix (name, "bias"))
    e = 21;
  else if (g_str_equal (name, "input.pixel_values"))
    e = 14;
  uint64_t seed = fnv1a64 (name);
  double step = ldexp (1.0, -e);
  for (int64_t i = 0; i < n; i++)
    {
      uint64_t z = seed + (uint64_t) i + 0x9E3779B97F4A7C15ull;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z = z ^ (z >> 31);
      int64_t k = (int64_t) (z >> 48) - 32768;
      values[i] = (float) (base + (double) k * step);
    }
}

gboolean
clip_detweights_write (const char *path, GError **error)
{
  ClipConfig config;
  clip_config_init_vit_b32 (&config);
  int64_t n_floats = clip_weights_n_floats (&config);
  g_autofree float *block = g_try_new (float, n_floats);
  if (block == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: cannot allocate %" G_GINT64_FORMAT " MB for the weights",
                   path, n_floats * 4 / 1000000);
      return FALSE;
    }
  ClipWeights w;
  int n;
  clip_weights_init (&w, &config);
  ClipTensorInfo *table = clip_tensor_table_new (&config, &w, &n);
  clip_weights_carve (&w, &config, block);
  g_autoptr (ClipStWriter) writer = clip_st_writer_new ();
  for (int i = 0; i < n; i++)
    {
      clip_detweights_fill (table[i].hf_name, *table[i].slot, table[i].n_elements);
      clip_st_writer_add (writer, table[i].hf_name, CLIP_DTYPE_F32, table[i].n_dims, table[i].shape,
                          *table[i].slot);
    }
  gboolean ok = clip_st_writer_write (writer, path, error);
  clip_tensor_table_free (table, n);
  clip_weights_clear (&w);
  return ok;
}
