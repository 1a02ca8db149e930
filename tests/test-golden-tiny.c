/* The tiny golden model in every layout reproduces transformers' float64 outputs. */
#include "golden.h"

#define TINY "golden/models/tiny_quickgelu/"
#define TOL_HIDDEN 1e-5   /* relative to the tensor's max magnitude (golden README) */

static ClipSafetensors *reference;

static void
compare (const char *prefix, const char *name, const float *got)
{
  g_autofree char *key = g_strconcat (prefix, name, NULL);
  int64_t n;
  g_autofree float *want = golden_floats (reference, key, &n);
  tu_assert_close_rel (key, got, want, n, TOL_HIDDEN);
}

static ClipModel *
load (const char *rel, gboolean with_config)
{
  g_autofree char *path = tu_shared_path (rel);
  g_autofree char *config = tu_shared_path (TINY "hf/config.json");
  ClipLoadOptions options;
  clip_load_options_init (&options);
  if (with_config)
    options.config_path = config;
  GError *error = NULL;
  ClipModel *model = clip_model_load (path, &options, &error);
  g_assert_no_error (error);
  return model;
}

/* PREFIX selects the reference outputs ("" for F32, "fp16." / "bf16." for the rounded weights);
 * hidden states exist for F32 only. */
static void
check_model (ClipModel *model, const char *prefix)
{
  int64_t n_pix, n_ids;
  g_autofree float *pixels = golden_floats (reference, "input.pixel_values", &n_pix);
  const int32_t *ids = golden_i32 (reference, "input.input_ids", &n_ids);
  GoldenOutputs out;
  golden_run (model, pixels, 4, ids, 4, 16, &out);

  if (*prefix == '\0')
    {
      for (int l = 0; l <= 2; l++)
        {
          g_autofree char *v = g_strdup_printf ("vision_hidden.%d", l);
          g_autofree char *t = g_strdup_printf ("text_hidden.%d", l);
          compare (prefix, v, out.vision_hidden[l]);
          compare (prefix, t, out.text_hidden[l]);
        }
      compare (prefix, "text_last_hidden", out.text_last_hidden);
    }
  compare (prefix, "vision_pooled", out.vision_pooled);
  compare (prefix, "text_pooled", out.text_pooled);
  compare (prefix, "image_features", out.image_features);
  compare (prefix, "text_features", out.text_features);
  compare (prefix, "image_embeds", out.image_embeds);
  compare (prefix, "text_embeds", out.text_embeds);
  compare (prefix, "logits_per_image", out.logits);
  compare (prefix, "loss", &out.loss);
  golden_outputs_clear (&out, model);
}

static void
test_hf_dir_f32 (void)
{
  g_autoptr (ClipModel) model = load (TINY "hf", FALSE);
  g_assert_cmpint (clip_model_get_layout (model), ==, CLIP_LAYOUT_HF_DIR);
  g_assert_cmpint (clip_model_get_dtype (model), ==, CLIP_DTYPE_F32);
  const ClipConfig *c = clip_model_get_config (model);
  g_assert_cmpint (c->vision.heads, ==, 4);
  g_assert_cmpint (c->text.heads, ==, 4);
  g_assert_cmpint (c->embed_dim, ==, 32);
  g_assert_cmpint (c->eot_id, ==, 999);
  check_model (model, "");
}

static void
test_hf_dir_f16 (void)
{
  g_autoptr (ClipModel) model = load (TINY "hf_fp16", FALSE);
  g_assert_cmpint (clip_model_get_dtype (model), ==, CLIP_DTYPE_F16);
  check_model (model, "fp16.");
}

static void
test_bf16_file (void)
{
  g_autoptr (ClipModel) model = load (TINY "hf_bf16.safetensors", TRUE);
  g_assert_cmpint (clip_model_get_layout (model), ==, CLIP_LAYOUT_HF_FILE);
  g_assert_cmpint (clip_model_get_dtype (model), ==, CLIP_DTYPE_BF16);
  check_model (model, "bf16.");
}

static void
test_openai_naming (void)
{
  g_autoptr (ClipModel) model = load (TINY "openai_naming.safetensors", TRUE);
  g_assert_cmpint (clip_model_get_layout (model), ==, CLIP_LAYOUT_OPENAI_FILE);
  check_model (model, "");
}

/* Heads are not in the shapes: overriding them through the options works like a config. */
static void
test_openai_naming_heads_option (void)
{
  g_autofree char *path = tu_shared_path (TINY "openai_naming.safetensors");
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.vision_heads = 4;
  options.text_heads = 4;
  GError *error = NULL;
  g_autoptr (ClipModel) model = clip_model_load (path, &options, &error);
  g_assert_no_error (error);
  int64_t n_pix, n_ids;
  g_autofree float *pixels = golden_floats (reference, "input.pixel_values", &n_pix);
  const int32_t *ids = golden_i32 (reference, "input.input_ids", &n_ids);
  GoldenOutputs out;
  golden_run (model, pixels, 4, ids, 4, 16, &out);
  compare ("", "image_embeds", out.image_embeds);
  compare ("", "text_embeds", out.text_embeds);
  golden_outputs_clear (&out, model);
}

/* The public API (normalised embeddings, positions after EOT skipped) agrees with the traces. */
static void
test_public_encode (void)
{
  g_autoptr (ClipModel) model = load (TINY "hf", FALSE);
  int64_t n_pix, n_ids;
  g_autofree float *pixels = golden_floats (reference, "input.pixel_values", &n_pix);
  const int32_t *ids = golden_i32 (reference, "input.input_ids", &n_ids);
  float image[4 * 32], text[4 * 32];
  GError *error = NULL;
  g_assert_true (clip_model_encode_images (model, pixels, 4, image, NULL, &error));
  g_assert_true (clip_model_encode_token_ids (model, ids, 4, 16, text, NULL, &error));
  g_assert_no_error (error);
  compare ("", "image_embeds", image);
  compare ("", "text_embeds", text);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  reference = golden_open (TINY "reference.safetensors");
  g_test_add_func ("/golden-tiny/hf-dir-f32", test_hf_dir_f32);
  g_test_add_func ("/golden-tiny/hf-dir-f16", test_hf_dir_f16);
  g_test_add_func ("/golden-tiny/bf16-file", test_bf16_file);
  g_test_add_func ("/golden-tiny/openai-naming", test_openai_naming);
  g_test_add_func ("/golden-tiny/openai-naming-heads-option", test_openai_naming_heads_option);
  g_test_add_func ("/golden-tiny/public-encode", test_public_encode);
  int status = g_test_run ();
  clip_safetensors_close (reference);
  return status;
}
