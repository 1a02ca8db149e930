/* The full ViT-B/32 shape, with the golden's formula weights, reproduces transformers' outputs. */
#include "golden.h"
#include "clip-testing.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define DET "golden/models/vitb32_detweights/"
#define TOL 1e-5

/* The weights come from the library's generator (clip_detweights_write); the golden's parameter list
 * checks that it writes exactly the tensors, names and shapes the reference was computed with. */
static char *
write_detweights (void)
{
  char *path = g_build_filename (tu_tmpdir (), "vitb32_detweights.safetensors", NULL);
  GError *error = NULL;
  g_assert_true (clip_detweights_write (path, &error));
  g_assert_no_error (error);

  g_autofree char *params = tu_shared_path (DET "parameters.json");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (parser, params, &error));
  JsonArray *list = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "parameters");
  g_autoptr (ClipSafetensors) st = clip_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_safetensors_n_tensors (st), ==, json_array_get_length (list));
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonArray *entry = json_array_get_array_element (list, i);
      const char *name = json_array_get_string_element (entry, 0);
      JsonArray *shape = json_array_get_array_element (entry, 1);
      const ClipStTensor *t = clip_safetensors_find (st, name);
      g_assert_nonnull (t);
      g_assert_cmpint (t->n_dims, ==, json_array_get_length (shape));
      for (int d = 0; d < t->n_dims; d++)
        g_assert_cmpint (t->shape[d], ==, json_array_get_int_element (shape, d));
    }
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
  clip_detweights_fill ("input.pixel_values", pixels, 3 * 3 * 224 * 224);
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
  g_assert_true (clip_text_forward (model, diagram, 1, 4, short_features, NULL, NULL, &error));
  g_assert_no_error (error);
  int64_t n;
  g_autofree float *want = golden_floats (ref, "short.text_features", &n);
  tu_assert_close_rel ("short.text_features", short_features, want, n, TOL);

  /* The public API on two threads: the work between BLAS calls split over a thread pool, the three
   * prompts packed without padding (4, 7 and 9 tokens). */
  int threads = clip_get_threads ();
  clip_set_threads (2);
  g_autofree float *image_embeds = g_new (float, 3 * 512);
  g_autofree float *text_embeds = g_new (float, 3 * 512);
  g_assert_true (clip_model_encode_images (model, pixels, 3, image_embeds, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (clip_model_encode_token_ids (model, ids, 3, 77, text_embeds, NULL, &error));
  g_assert_no_error (error);
  clip_set_threads (threads);
  g_autofree float *want_image = golden_floats (ref, "image_embeds", &n);
  tu_assert_close_rel ("2 threads: image_embeds", image_embeds, want_image, n, TOL);
  g_autofree float *want_text = golden_floats (ref, "text_embeds", &n);
  tu_assert_close_rel ("2 threads, packed: text_embeds", text_embeds, want_text, n, TOL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/golden-vitb32/detweights", test_vitb32);
  return g_test_run ();
}
