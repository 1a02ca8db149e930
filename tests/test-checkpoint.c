/* Checkpoint layouts, conversion to our format, and the errors bad checkpoints produce. */
#include "golden.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define TINY "golden/models/tiny_quickgelu/"

static ClipSafetensors *reference;

static ClipModel *
load_ok (const char *path, const ClipLoadOptions *options)
{
  GError *error = NULL;
  ClipModel *model = clip_model_load (path, options, &error);
  g_assert_no_error (error);
  return model;
}

static void
embed_reference_inputs (ClipModel *model, float *image, float *text)
{
  int64_t n;
  g_autofree float *pixels = golden_floats (reference, "input.pixel_values", &n);
  const int32_t *ids = golden_i32 (reference, "input.input_ids", &n);
  GError *error = NULL;
  g_assert_true (clip_model_encode_images (model, pixels, 4, image, NULL, &error));
  g_assert_true (clip_model_encode_token_ids (model, ids, 4, 16, text, NULL, &error));
  g_assert_no_error (error);
}

static void
check_embeds (ClipModel *model, const char *prefix, double tol)
{
  float image[4 * 32], text[4 * 32];
  embed_reference_inputs (model, image, text);
  g_autofree char *ki = g_strconcat (prefix, "image_embeds", NULL);
  g_autofree char *kt = g_strconcat (prefix, "text_embeds", NULL);
  g_autofree float *wi = golden_floats (reference, ki, NULL);
  g_autofree float *wt = golden_floats (reference, kt, NULL);
  tu_assert_close_rel (ki, image, wi, 4 * 32, tol);
  tu_assert_close_rel (kt, text, wt, 4 * 32, tol);
}

static char *
tmp_path (const char *name)
{
  return g_build_filename (tu_tmpdir (), name, NULL);
}

static void
test_open_clip_dir (void)
{
  g_autofree char *dir = tmp_path ("open_clip_tiny");
  g_mkdir_with_parents (dir, 0755);
  g_autofree char *config = g_build_filename (dir, "open_clip_config.json", NULL);
  const char *json =
    "{\"model_cfg\": {\"embed_dim\": 32, \"quick_gelu\": true,"
    " \"vision_cfg\": {\"image_size\": 64, \"layers\": 2, \"width\": 64, \"patch_size\": 16, \"head_width\": 16},"
    " \"text_cfg\": {\"context_length\": 16, \"vocab_size\": 1000, \"width\": 48, \"heads\": 4, \"layers\": 2}},"
    " \"preprocess_cfg\": {\"mean\": [0.5, 0.5, 0.5], \"std\": [0.25, 0.25, 0.25]}}";
  tu_write_file (config, json, strlen (json));
  g_autofree char *weights = g_build_filename (dir, "open_clip_model.safetensors", NULL);
  g_autofree char *source = tu_shared_path (TINY "openai_naming.safetensors");
  g_assert_cmpint (symlink (source, weights), ==, 0);

  g_autoptr (ClipModel) model = load_ok (dir, NULL);
  g_assert_cmpint (clip_model_get_layout (model), ==, CLIP_LAYOUT_OPEN_CLIP_DIR);
  g_assert_cmpint (clip_model_get_config (model)->vision.heads, ==, 4);
  g_assert_cmpfloat (clip_model_get_preprocess (model)->std[1], ==, 0.25f);
  check_embeds (model, "", 1e-5);
}

/* Our own checkpoint: F32 round-trips bit for bit; F16/BF16 equal the golden rounded weights. */
static void
test_convert (void)
{
  g_autofree char *hf = tu_shared_path (TINY "hf");
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.tokenizer_path = "bytes";
  g_autoptr (ClipModel) model = load_ok (hf, &options);
  float image[4 * 32], text[4 * 32];
  embed_reference_inputs (model, image, text);

  const struct { ClipDType dtype; const char *prefix; } cases[] = {
    { CLIP_DTYPE_F32, "" }, { CLIP_DTYPE_F16, "fp16." }, { CLIP_DTYPE_BF16, "bf16." },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("tiny-%s.safetensors", clip_dtype_name (cases[i].dtype));
      g_autofree char *path = tmp_path (name);
      GError *error = NULL;
      g_assert_true (clip_model_save (model, path, cases[i].dtype, &error));
      g_assert_no_error (error);

      g_autoptr (ClipModel) loaded = load_ok (path, NULL);
      g_assert_cmpint (clip_model_get_layout (loaded), ==, CLIP_LAYOUT_CLIPLAB);
      g_assert_cmpint (clip_model_get_dtype (loaded), ==, cases[i].dtype);
      g_assert_true (memcmp (clip_model_get_config (loaded), clip_model_get_config (model), sizeof (ClipConfig)) == 0);
      g_assert_true (memcmp (clip_model_get_preprocess (loaded), clip_model_get_preprocess (model),
                             sizeof (ClipPreprocess)) == 0);
      ClipTokenizer *tok = clip_model_get_tokenizer (loaded);
      g_assert_nonnull (tok);
      g_assert_cmpint (clip_tokenizer_get_kind (tok), ==, CLIP_TOKENIZER_BYTES);
      if (cases[i].dtype == CLIP_DTYPE_F32)
        {
          float image2[4 * 32], text2[4 * 32];
          embed_reference_inputs (loaded, image2, text2);
          g_assert_true (memcmp (image, image2, sizeof image) == 0);
          g_assert_true (memcmp (text, text2, sizeof text) == 0);
        }
      else
        check_embeds (loaded, cases[i].prefix, 1e-5);
    }
}

/* ------------------------------------------------------------------ bad checkpoints */

typedef struct {
  const char *drop;          /* tensor left out */
  const char *reshape;       /* tensor whose first dimension shrinks by one element's worth */
  const char *extra;         /* tensor added */
  const char *as_int;        /* tensor stored as I32 */
} Damage;

/* A copy of the tiny HF weights with one kind of damage, in directory DIR beside the real config. */
static char *
write_damaged (const char *dir_name, const Damage *damage)
{
  g_autofree char *src = tu_shared_path (TINY "hf/model.safetensors");
  GError *error = NULL;
  g_autoptr (ClipSafetensors) st = clip_safetensors_open (src, &error);
  g_assert_no_error (error);
  char *dir = tmp_path (dir_name);
  g_mkdir_with_parents (dir, 0755);
  g_autoptr (ClipStWriter) w = clip_st_writer_new ();
  static const float extra[2] = { 1, 2 };
  for (int i = 0; i < clip_safetensors_n_tensors (st); i++)
    {
      const ClipStTensor *t = clip_safetensors_tensor (st, i);
      int64_t shape[CLIP_MAX_DIMS];
      memcpy (shape, t->shape, sizeof shape);
      if (g_strcmp0 (t->name, damage->drop) == 0)
        continue;
      if (g_strcmp0 (t->name, damage->reshape) == 0)
        shape[0] -= 1;
      clip_st_writer_add (w, t->name, g_strcmp0 (t->name, damage->as_int) == 0 ? CLIP_DTYPE_I32 : t->dtype,
                          t->n_dims, shape, t->data);
    }
  if (damage->extra != NULL)
    clip_st_writer_add (w, damage->extra, CLIP_DTYPE_F32, 1, (int64_t[]) { 2 }, extra);
  g_autofree char *out = g_build_filename (dir, "model.safetensors", NULL);
  g_assert_true (clip_st_writer_write (w, out, &error));
  g_assert_no_error (error);
  g_autofree char *config_src = tu_shared_path (TINY "hf/config.json");
  g_autofree char *config = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (config_src, &config, &len, NULL));
  g_autofree char *config_dst = g_build_filename (dir, "config.json", NULL);
  tu_write_file (config_dst, config, len);
  return dir;
}

static void
expect_error (const char *path, const ClipLoadOptions *options, int code, const char *needle)
{
  GError *error = NULL;
  ClipModel *model = clip_model_load (path, options, &error);
  g_assert_null (model);
  g_assert_error (error, CLIP_ERROR, code);
  g_test_message ("%s", error->message);
  if (strstr (error->message, needle) == NULL)
    g_test_fail_printf ("error \"%s\" does not mention \"%s\"", error->message, needle);
  g_error_free (error);
}

static void
test_missing_layer_tensor (void)
{
  Damage d = { .drop = "text_model.encoder.layers.1.mlp.fc2.bias" };
  g_autofree char *dir = write_damaged ("missing", &d);
  expect_error (dir, NULL, CLIP_ERROR_MISSING, "'text_model.encoder.layers.1.mlp.fc2.bias' is missing");
}

static void
test_wrong_shape (void)
{
  Damage d = { .reshape = "visual_projection.weight" };
  g_autofree char *dir = write_damaged ("shape", &d);
  expect_error (dir, NULL, CLIP_ERROR_SHAPE, "'visual_projection.weight' has shape [31, 64], expected [32, 64]");
}

static void
test_extra_tensor (void)
{
  Damage d = { .extra = "vision_model.encoder.layers.7.mlp.fc1.weight" };
  g_autofree char *dir = write_damaged ("extra", &d);
  expect_error (dir, NULL, CLIP_ERROR_FORMAT, "unexpected tensor 'vision_model.encoder.layers.7.mlp.fc1.weight'");
}

static void
test_integer_weights (void)
{
  Damage d = { .as_int = "logit_scale" };
  g_autofree char *dir = write_damaged ("int", &d);
  expect_error (dir, NULL, CLIP_ERROR_UNSUPPORTED, "'logit_scale' has dtype I32");
}

/* A config that disagrees with the tensors: every mismatching tensor is named. */
static void
write_config (const char *dir, const char *json)
{
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  tu_write_file (path, json, strlen (json));
}

static void
test_bad_configs (void)
{
  Damage none = { 0 };
  g_autofree char *dir = write_damaged ("config", &none);
  const struct { const char *json; ClipErrorCode code; const char *needle; } cases[] = {
    { "{\"vision_config\": {\"num_attention_heads\": 5}}", CLIP_ERROR_SHAPE, "not divisible by 5 heads" },
    { "{\"vision_config\": {\"hidden_size\": 0}}", CLIP_ERROR_SHAPE, "vision width is 0" },
    { "{\"text_config\": {\"num_hidden_layers\": -2}}", CLIP_ERROR_SHAPE, "text layers is -2" },
    { "{\"text_config\": {\"hidden_size\": 1000000000}}", CLIP_ERROR_LIMIT, "text width is 1000000000" },
    { "{\"text_config\": {\"num_hidden_layers\": 3}}", CLIP_ERROR_MISSING, "text_model.encoder.layers.2." },
    { "{\"projection_dim\": 31}", CLIP_ERROR_SHAPE, "expected [31, 64]" },
    { "{\"vision_config\": {\"hidden_act\": \"relu\"}}", CLIP_ERROR_UNSUPPORTED, "\"relu\"" },
    { "{\"vision_config\": {\"hidden_size\": \"wide\"}}", CLIP_ERROR_FORMAT, "\"hidden_size\" must be an integer" },
    { "{\"vision_config\": [1, 2]}", CLIP_ERROR_FORMAT, "\"vision_config\" must be an object" },
    { "{\"vision_config\": {", CLIP_ERROR_FORMAT, "invalid JSON" },
    { "{\"a\": 1, \"a\": 2, \"vision_config\": {}}", CLIP_ERROR_FORMAT, "\"a\" appears twice" },
    { "\xff\xfe{}", CLIP_ERROR_FORMAT, "invalid UTF-8" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      write_config (dir, cases[i].json);
      expect_error (dir, NULL, cases[i].code, cases[i].needle);
    }
  GString *bomb = g_string_new ("{\"vision_config\": ");
  for (int i = 0; i < 100000; i++)
    g_string_append_c (bomb, '[');
  write_config (dir, bomb->str);
  g_string_free (bomb, TRUE);
  expect_error (dir, NULL, CLIP_ERROR_LIMIT, "nests deeper");
}

static void
test_bad_paths (void)
{
  expect_error ("/nonexistent/model", NULL, CLIP_ERROR_IO, "/nonexistent/model");
  g_autofree char *empty = tmp_path ("empty-dir");
  g_mkdir_with_parents (empty, 0755);
  expect_error (empty, NULL, CLIP_ERROR_MISSING, "not a model directory");

  g_autofree char *garbage = tmp_path ("garbage.safetensors");
  tu_write_file (garbage, "\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13);
  GError *error = NULL;
  g_assert_null (clip_model_load (garbage, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_true (strstr (error->message, "garbage.safetensors") != NULL);
  g_clear_error (&error);

  /* A bare OpenAI-named file whose widths are not multiples of 64 needs its heads. */
  g_autofree char *tiny = tu_shared_path (TINY "openai_naming.safetensors");
  g_autoptr (ClipModel) guessed = load_ok (tiny, NULL);
  g_assert_cmpint (clip_model_get_config (guessed)->vision.heads, ==, 1);
}

static void
test_tokenizer_vocab_mismatch (void)
{
  /* CLIP's BPE yields ids up to 49407; the tiny model has 1000. */
  g_autofree char *hf = tu_shared_path (TINY "hf");
  g_autofree char *bpe = tu_shared_path ("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz");
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.tokenizer_path = bpe;
  expect_error (hf, &options, CLIP_ERROR_SHAPE, "vocabulary has 1000");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  reference = golden_open (TINY "reference.safetensors");
  g_test_add_func ("/checkpoint/open-clip-dir", test_open_clip_dir);
  g_test_add_func ("/checkpoint/convert", test_convert);
  g_test_add_func ("/checkpoint/missing-layer-tensor", test_missing_layer_tensor);
  g_test_add_func ("/checkpoint/wrong-shape", test_wrong_shape);
  g_test_add_func ("/checkpoint/extra-tensor", test_extra_tensor);
  g_test_add_func ("/checkpoint/integer-weights", test_integer_weights);
  g_test_add_func ("/checkpoint/bad-configs", test_bad_configs);
  g_test_add_func ("/checkpoint/bad-paths", test_bad_paths);
  g_test_add_func ("/checkpoint/tokenizer-vocab-mismatch", test_tokenizer_vocab_mismatch);
  int status = g_test_run ();
  clip_safetensors_close (reference);
  return status;
}
