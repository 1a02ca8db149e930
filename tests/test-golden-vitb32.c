/* The full ViT-B/32 shape, with the golden's formula weights, reproduces transformers' outputs. */
#include "golden.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define DET "golden/models/vitb32_detweights/"
#define TOL 1e-5

static uint64_t
fnv1a64 (const char *s)
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++)
    h = (h ^ (uint8_t) *s) * 0x100000001b3ull;
  return h;
}

/* The golden README's generator: element I of tensor NAME is BASE + k · 2^-E. */
static void
fill_tensor (const char *name, float *out, int64_t n)
{
  double base = 0;
  int e = 20;
  gboolean is_ln = strstr (name, "layer_norm") || strstr (name, "layrnorm") || strstr (name, "layernorm");
  if (g_str_equal (name, "logit_scale"))
    {
      out[0] = 2.5f;
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
      out[i] = (float) (base + (double) k * step);
    }
}

/* Writes the weights listed in parameters.json to a safetensors file with HF names. */
static char *
write_detweights (void)
{
  g_autofree char *params = tu_shared_path (DET "parameters.json");
  g_autoptr (JsonParser) parser = json_parser_new ();
  GError *error = NULL;
  g_assert_true (json_parser_load_from_file (parser, params, &error));
  JsonArray *list = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "parameters");
  g_autoptr (ClipStWriter) writer = clip_st_writer_new ();
  g_autoptr (GPtrArray) buffers = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonArray *entry = json_array_get_array_element (list, i);
      const char *name = json_array_get_string_element (entry, 0);
      JsonArray *shape_json = json_array_get_array_element (entry, 1);
      int64_t shape[4], n = 1;
      int dims = json_array_get_length (shape_json);
      for (int d = 0; d < dims; d++)
        n *= shape[d] = json_array_get_int_element (shape_json, d);
      float *data = g_new (float, n);
      fill_tensor (name, data, n);
      g_ptr_array_add (buffers, data);
      clip_st_writer_add (writer, name, CLIP_DTYPE_F32, dims, shape, data);
    }
  char *path = g_build_filename (tu_tmpdir (), "vitb32_detweights.safetensors", NULL);
  g_assert_true (clip_st_writer_write (writer, path, &error));
  g_assert_no_error (error);
  return path;
}

static void
test_vitb32 (void)
{
  g_autofree char *path = write_detweights ();
  GError *error = NULL;
  g_autoptr (ClipModel) model = clip_model_load (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_model_get_layout (model), ==, CLIP_LAYOUT_HF_FILE);
  const ClipConfig *c = clip_model_get_config (model);
  g_assert_cmpint (c->vision.width, ==, 768);
  g_assert_cmpint (c->vision.heads, ==, 12);
  g_assert_cmpint (c->text.heads, ==, 8);
  g_assert_cmpint (c->image_size, ==, 224);
  g_assert_cmpint (clip_model_get_n_params (model), ==, 151277313);

  g_autoptr (ClipSafetensors) ref = golden_open (DET "reference.safetensors");
  g_autofree float *pixels = g_new (float, 3 * 3 * 224 * 224);
  fill_tensor ("input.pixel_values", pixels, 3 * 3 * 224 * 224);
  int64_t n_ids;
  const int32_t *ids = golden_i32 (ref, "input.input_ids", &n_ids);
  g_assert_cmpint (n_ids, ==, 3 * 77);

  GoldenOutputs out;
  golden_run (model, pixels, 3, ids, 3, 77, &out);
  const struct { const char *name; const float *got; } checks[] = {
    { "vision_pooled", out.vision_pooled }, { "text_pooled", out.text_pooled },
    { "image_features", out.image_features }, { "text_features", out.text_features },
    { "image_embeds", out.image_embeds }, { "text_embeds", out.text_embeds },
    { "logits_per_image", out.logits }, { "loss", &out.loss },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (checks); i++)
    {
      int64_t n;
      g_autofree float *want = golden_floats (ref, checks[i].name, &n);
      tu_assert_close_rel (checks[i].name, checks[i].got, want, n, TOL);
    }
  golden_outputs_clear (&out, model);

  /* "a diagram" with only its 4 tokens, no padding: the causal mask makes it equal. */
  float short_features[512];
  const int32_t *diagram = ids + 77;
  g_assert_cmpint (diagram[3], ==, 49407);
  g_assert_true (clip_text_forward (model, diagram, 1, 4, short_features, NULL, &error));
  g_assert_no_error (error);
  int64_t n;
  g_autofree float *want = golden_floats (ref, "short.text_features", &n);
  tu_assert_close_rel ("short.text_features", short_features, want, n, TOL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/golden-vitb32/detweights", test_vitb32);
  return g_test_run ();
}
