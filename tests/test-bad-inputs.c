/* test-bad-inputs.c — the bad-input corpus: every hostile or broken input the reliability issue
 * lists, each with its expected outcome asserted, run through the public API (clip.h).
 *
 * One table names the cases; each builds its input in a scratch folder (or takes it from
 * bad-inputs/images.h), feeds it to the library and checks what comes back: the error code and the
 * reason in its message, or what a tolerated input decodes to.  The component tests go deeper on
 * each reader; this is the end-to-end list.  Two cases kill a child process (this program run with
 * --child-train or --child-index) with SIGKILL and check the work resumes. */
#include "testutil.h"
#include "bad-inputs/images.h"

#include "clip.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static char *self_path;  /* this program, for the cases that run it as a child */

static char *
case_dir (const char *name)
{
  char *dir = g_build_filename (tu_tmpdir (), name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

static char *
write_in (const char *dir, const char *name, const void *data, size_t len)
{
  char *path = g_build_filename (dir, name, NULL);
  tu_write_file (path, data, len);
  return path;
}

static char *
write_text (const char *dir, const char *name, const char *text)
{
  return write_in (dir, name, text, strlen (text));
}

/* *ERROR must be CLIP_ERROR CODE with FRAGMENT in its message (which is shown in the log); cleared. */
static void
expect_error (GError **error, ClipErrorCode code, const char *fragment)
{
  g_assert_nonnull (*error);
  g_test_message ("error: %s", (*error)->message);
  g_assert_error (*error, CLIP_ERROR, (int) code);
  if (strstr ((*error)->message, fragment) == NULL)
    g_test_fail_printf ("the message \"%s\" does not say \"%s\"", (*error)->message, fragment);
  g_clear_error (error);
}

/* A safetensors file: the 8-byte length, HEADER, then DATA. */
static char *
write_safetensors_raw (const char *dir, const char *name, guint64 header_len, const char *header,
                       const void *data, size_t data_len)
{
  GByteArray *bytes = g_byte_array_new ();
  guint64 le = GUINT64_TO_LE (header_len);
  g_byte_array_append (bytes, (const guint8 *) &le, 8);
  g_byte_array_append (bytes, (const guint8 *) header, (guint) strlen (header));
  if (data_len > 0)
    g_byte_array_append (bytes, data, (guint) data_len);
  char *path = write_in (dir, name, bytes->data, bytes->len);
  g_byte_array_unref (bytes);
  return path;
}

static char *
write_safetensors (const char *dir, const char *name, const char *header, size_t data_len)
{
  g_autofree guint8 *data = g_malloc0 (MAX (data_len, 1));
  return write_safetensors_raw (dir, name, strlen (header), header, data, data_len);
}

static void
expect_model_error (const char *path, ClipErrorCode code, const char *fragment)
{
  GError *error = NULL;
  ClipModel *model = clip_model_load (path, NULL, &error);
  g_assert_null (model);
  expect_error (&error, code, fragment);
}

/* ---------------------------------------------------------------- a micro model
 *
 * A complete CLIP with Hugging Face names, small enough to build here: vision 8 wide, patch 2 on
 * 4 × 4 images, text 8 wide, context 4, vocabulary 8, embeddings of 4, MLPs of 16. */

typedef struct {
  char   *name;
  int     n_dims;
  int64_t shape[4];
} Spec;

static void
spec_add (GPtrArray *specs, const char *name, int n_dims, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
  Spec *s = g_new0 (Spec, 1);
  s->name = g_strdup (name);
  s->n_dims = n_dims;
  int64_t dims[4] = { d0, d1, d2, d3 };
  memcpy (s->shape, dims, sizeof dims);
  g_ptr_array_add (specs, s);
}

static void
spec_free (gpointer data)
{
  Spec *s = data;
  g_free (s->name);
  g_free (s);
}

static GPtrArray *
micro_specs (int vision_layers)
{
  GPtrArray *specs = g_ptr_array_new_with_free_func (spec_free);
  const int w = 8, f = 16;
  spec_add (specs, "logit_scale", 0, 0, 0, 0, 0);
  spec_add (specs, "text_model.embeddings.position_embedding.weight", 2, 4, w, 0, 0);
  spec_add (specs, "text_model.embeddings.token_embedding.weight", 2, 8, w, 0, 0);
  spec_add (specs, "text_model.final_layer_norm.bias", 1, w, 0, 0, 0);
  spec_add (specs, "text_model.final_layer_norm.weight", 1, w, 0, 0, 0);
  spec_add (specs, "text_projection.weight", 2, 4, w, 0, 0);
  spec_add (specs, "vision_model.embeddings.class_embedding", 1, w, 0, 0, 0);
  spec_add (specs, "vision_model.embeddings.patch_embedding.weight", 4, w, 3, 2, 2);
  spec_add (specs, "vision_model.embeddings.position_embedding.weight", 2, 5, w, 0, 0);
  spec_add (specs, "vision_model.post_layernorm.bias", 1, w, 0, 0, 0);
  spec_add (specs, "vision_model.post_layernorm.weight", 1, w, 0, 0, 0);
  spec_add (specs, "vision_model.pre_layrnorm.bias", 1, w, 0, 0, 0);
  spec_add (specs, "vision_model.pre_layrnorm.weight", 1, w, 0, 0, 0);
  spec_add (specs, "visual_projection.weight", 2, 4, w, 0, 0);
  for (int tower = 0; tower < 2; tower++)
    for (int l = 0; l < (tower == 0 ? 1 : vision_layers); l++)
      {
        g_autofree char *p = g_strdup_printf ("%s.encoder.layers.%d.", tower == 0 ? "text_model" : "vision_model", l);
        const char *vectors[] = { "layer_norm1.bias", "layer_norm1.weight", "layer_norm2.bias", "layer_norm2.weight",
                                  "mlp.fc2.bias", "self_attn.q_proj.bias", "self_attn.k_proj.bias",
                                  "self_attn.v_proj.bias", "self_attn.out_proj.bias" };
        for (size_t i = 0; i < G_N_ELEMENTS (vectors); i++)
          {
            g_autofree char *n = g_strconcat (p, vectors[i], NULL);
            spec_add (specs, n, 1, w, 0, 0, 0);
          }
        const char *squares[] = { "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                                  "self_attn.out_proj.weight" };
        for (size_t i = 0; i < G_N_ELEMENTS (squares); i++)
          {
            g_autofree char *n = g_strconcat (p, squares[i], NULL);
            spec_add (specs, n, 2, w, w, 0, 0);
          }
        g_autofree char *fc1_b = g_strconcat (p, "mlp.fc1.bias", NULL);
        g_autofree char *fc1_w = g_strconcat (p, "mlp.fc1.weight", NULL);
        g_autofree char *fc2_w = g_strconcat (p, "mlp.fc2.weight", NULL);
        spec_add (specs, fc1_b, 1, f, 0, 0, 0);
        spec_add (specs, fc1_w, 2, f, w, 0, 0);
        spec_add (specs, fc2_w, 2, w, f, 0, 0);
      }
  return specs;
}

/* Writes SPECS as an F32 safetensors file, leaving out the tensors whose name contains SKIP. */
static char *
write_micro_weights (const char *dir, const char *name, GPtrArray *specs, const char *skip)
{
  g_autoptr (GString) header = g_string_new ("{");
  g_autoptr (GArray) data = g_array_new (FALSE, FALSE, sizeof (float));
  for (guint i = 0; i < specs->len; i++)
    {
      const Spec *s = specs->pdata[i];
      if (skip != NULL && strstr (s->name, skip) != NULL)
        continue;
      int64_t n = 1;
      g_autoptr (GString) shape = g_string_new ("[");
      for (int d = 0; d < s->n_dims; d++)
        {
          n *= s->shape[d];
          g_string_append_printf (shape, "%s%" G_GINT64_FORMAT, d ? "," : "", s->shape[d]);
        }
      g_string_append_c (shape, ']');
      guint begin = data->len * sizeof (float);
      for (int64_t k = 0; k < n; k++)
        {
          float v = (float) ((int) ((i * 7 + k * 3) % 17) - 8) / 16.0f;
          g_array_append_val (data, v);
        }
      g_string_append_printf (header, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[%u,%u]}",
                              header->len > 1 ? "," : "", s->name, shape->str, begin,
                              (guint) (data->len * sizeof (float)));
    }
  g_string_append_c (header, '}');
  return write_safetensors_raw (dir, name, header->len, header->str, data->data, data->len * sizeof (float));
}

/* The micro model's config.json, with TOWER's ("text_config" or "vision_config") KEY set to VALUE
 * when TOWER is not NULL. */
static char *
micro_config (const char *tower, const char *key, gint64 value)
{
  static const char base[] =
    "{\"projection_dim\": 4,"
    " \"text_config\": {\"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
    " \"intermediate_size\": 16, \"max_position_embeddings\": 4, \"vocab_size\": 8, \"eos_token_id\": 7,"
    " \"hidden_act\": \"quick_gelu\"},"
    " \"vision_config\": {\"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
    " \"intermediate_size\": 16, \"image_size\": 4, \"patch_size\": 2, \"hidden_act\": \"quick_gelu\"}}";
  g_autoptr (JsonNode) root = json_from_string (base, NULL);
  g_assert_nonnull (root);
  if (tower != NULL)
    json_object_set_int_member (json_object_get_object_member (json_node_get_object (root), tower), key, value);
  return json_to_string (root, TRUE);
}

/* A Hugging Face model folder NAME: the micro weights and their config.json, changed as
 * micro_config says. */
static char *
micro_model_dir (const char *name, const char *tower, const char *key, gint64 value)
{
  char *dir = case_dir (name);
  g_autoptr (GPtrArray) specs = micro_specs (1);
  g_free (write_micro_weights (dir, "model.safetensors", specs, NULL));
  g_autofree char *config = micro_config (tower, key, value);
  g_free (write_text (dir, "config.json", config));
  return dir;
}

static ClipModel *
tiny_model (void)
{
  g_autofree char *path = tu_shared_path ("golden/models/tiny_quickgelu/hf");
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.tokenizer_path = "bytes";
  GError *error = NULL;
  ClipModel *model = clip_model_load (path, &options, &error);
  g_assert_no_error (error);
  return model;
}

/* ---------------------------------------------------------------- safetensors */

static void
case_st_header_past_end (void)
{
  g_autofree char *dir = case_dir ("st-past-end");
  g_autofree char *path = write_safetensors_raw (dir, "m.safetensors", 1000, "{}", NULL, 0);
  expect_model_error (path, CLIP_ERROR_FORMAT, "exceeds the file size");
}

static void
case_st_header_zero (void)
{
  g_autofree char *dir = case_dir ("st-zero");
  g_autofree char *path = write_safetensors_raw (dir, "m.safetensors", 0, "{}", NULL, 0);
  expect_model_error (path, CLIP_ERROR_FORMAT, "header length is 0");
}

static void
case_st_header_2_63 (void)
{
  g_autofree char *dir = case_dir ("st-2-63");
  g_autofree char *path = write_safetensors_raw (dir, "m.safetensors", G_GUINT64_CONSTANT (1) << 63, "{}", NULL, 0);
  expect_model_error (path, CLIP_ERROR_LIMIT, "exceeds the limit");
}

static void
case_st_header_invalid_utf8 (void)
{
  g_autofree char *dir = case_dir ("st-utf8");
  g_autofree char *path = write_safetensors (dir, "m.safetensors", "{\"a\xff\xfe\":{}}", 0);
  expect_model_error (path, CLIP_ERROR_FORMAT, "UTF-8");
}

static void
case_st_header_depth_bomb (void)
{
  g_autofree char *dir = case_dir ("st-depth");
  g_autoptr (GString) header = g_string_new ("{\"a\":");
  for (int i = 0; i < 100000; i++)
    g_string_append_c (header, '[');
  for (int i = 0; i < 100000; i++)
    g_string_append_c (header, ']');
  g_string_append_c (header, '}');
  g_autofree char *path = write_safetensors (dir, "m.safetensors", header->str, 0);
  expect_model_error (path, CLIP_ERROR_LIMIT, "deep");
}

static void
case_st_duplicate_names (void)
{
  g_autofree char *dir = case_dir ("st-duplicate");
  g_autofree char *path = write_safetensors (dir, "m.safetensors",
    "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16);
  expect_model_error (path, CLIP_ERROR_FORMAT, "duplicate tensor name 'w'");
}

static void
case_st_overlapping (void)
{
  g_autofree char *dir = case_dir ("st-overlap");
  g_autofree char *path = write_safetensors (dir, "m.safetensors",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
    "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24);
  expect_model_error (path, CLIP_ERROR_FORMAT, "overlap");
}

static void
case_st_gapped (void)
{
  g_autofree char *dir = case_dir ("st-gap");
  g_autofree char *path = write_safetensors (dir, "m.safetensors",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20);
  expect_model_error (path, CLIP_ERROR_FORMAT, "gap");
}

static void
case_st_out_of_file (void)
{
  g_autofree char *dir = case_dir ("st-out");
  g_autofree char *path = write_safetensors (dir, "m.safetensors",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1024],\"data_offsets\":[0,4096]}}", 16);
  expect_model_error (path, CLIP_ERROR_FORMAT, "'a'");
}

static void
case_st_dtype_shape_mismatch (void)
{
  g_autofree char *dir = case_dir ("st-mismatch");
  g_autofree char *path = write_safetensors (dir, "m.safetensors",
    "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16);
  expect_model_error (path, CLIP_ERROR_FORMAT, "'a'");
}

static void
case_st_shape_overflow (void)
{
  g_autofree char *dir = case_dir ("st-overflow");
  g_autofree char *path = write_safetensors (dir, "m.safetensors",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,9223372036854775807],\"data_offsets\":[0,8]}}", 8);
  expect_model_error (path, CLIP_ERROR_FORMAT, "overflow");
}

static void
case_limit_tensor_count (void)
{
  g_autofree char *dir = case_dir ("limit-tensors");
  g_autoptr (GString) header = g_string_new ("{");
  for (int i = 0; i <= CLIP_MAX_TENSORS; i++)
    g_string_append_printf (header, "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                            i ? "," : "", i, i, i + 1);
  g_string_append_c (header, '}');
  g_autofree char *path = write_safetensors (dir, "m.safetensors", header->str, CLIP_MAX_TENSORS + 1);
  expect_model_error (path, CLIP_ERROR_LIMIT, "65536");
}

static void
case_limit_dims (void)
{
  g_autofree char *dir = case_dir ("limit-dims");
  g_autofree char *path = write_safetensors (dir, "m.safetensors",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4);
  expect_model_error (path, CLIP_ERROR_LIMIT, "dimensions");
}

/* ---------------------------------------------------------------- models and configs */

static void
case_model_valid_control (void)
{
  g_autofree char *dir = micro_model_dir ("model-control", NULL, NULL, 0);
  GError *error = NULL;
  g_autoptr (ClipModel) model = clip_model_load (dir, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_model_get_config (model)->vision.heads, ==, 2);
  float embed[4];
  int32_t ids[4] = { 6, 1, 7, 0 };
  g_assert_true (clip_model_encode_token_ids (model, ids, 1, 4, embed, NULL, &error));
  g_assert_no_error (error);
}

static void
case_model_missing_layer (void)
{
  g_autofree char *dir = case_dir ("model-missing-layer");
  g_autoptr (GPtrArray) specs = micro_specs (3);
  g_free (write_micro_weights (dir, "model.safetensors", specs, "vision_model.encoder.layers.1."));
  g_autofree char *config = micro_config ("vision_config", "num_hidden_layers", 3);
  g_free (write_text (dir, "config.json", config));
  expect_model_error (dir, CLIP_ERROR_MISSING, "vision_model.encoder.layers.1.");
}

static void
case_config_zero_size (void)
{
  g_autofree char *dir = micro_model_dir ("config-zero", "text_config", "hidden_size", 0);
  expect_model_error (dir, CLIP_ERROR_SHAPE, "0");
}

static void
case_config_negative_size (void)
{
  g_autofree char *dir = micro_model_dir ("config-negative", "vision_config", "num_hidden_layers", -1);
  expect_model_error (dir, CLIP_ERROR_SHAPE, "-1");
}

static void
case_config_heads_not_dividing (void)
{
  g_autofree char *dir = micro_model_dir ("config-heads", "text_config", "num_attention_heads", 3);
  expect_model_error (dir, CLIP_ERROR_SHAPE, "not divisible by 3 heads");
}

static void
case_config_absurd_size (void)
{
  g_autofree char *dir = micro_model_dir ("config-absurd", "vision_config", "num_hidden_layers", 1000000000);
  expect_model_error (dir, CLIP_ERROR_LIMIT, "1000000000");
}

static void
case_config_absurd_width (void)
{
  g_autofree char *dir = micro_model_dir ("config-absurd-width", "vision_config", "hidden_size", 2147483647);
  expect_model_error (dir, CLIP_ERROR_LIMIT, "2147483647");
}

/* ---------------------------------------------------------------- tokenizer files */

static const char *const small_merges[] = { "t h", "i n", "a n", "th e</w>", "e r", "o n", "in g</w>", "a t" };

/* GPT-2's byte-to-unicode symbol of byte B (clip-reference.md §3). */
static void
byte_symbol (int b, char out[8])
{
  int shifted = 0;
  for (int k = 0; k < b; k++)
    if (!((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF)))
      shifted++;
  gboolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  memset (out, 0, 8);
  g_unichar_to_utf8 (printable ? (gunichar) b : (gunichar) (256 + shifted), out);
}

/* vocab.json for small_merges: 512 byte symbols, the merges' results and, unless WITHOUT_SPECIAL,
 * the start and end tokens. */
static char *
small_vocab (gboolean without_special)
{
  g_autoptr (GString) s = g_string_new ("{");
  int id = 0;
  for (int end = 0; end < 2; end++)
    for (int b = 0; b < 256; b++)
      {
        char symbol[8];
        byte_symbol (b, symbol);
        g_autofree char *escaped = g_strescape (symbol, "\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f"
                                                        "\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f"
                                                        "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf"
                                                        "\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf"
                                                        "\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf"
                                                        "\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf"
                                                        "\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef"
                                                        "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff");
        g_string_append_printf (s, "%s\"%s%s\": %d", id ? ", " : "", escaped, end ? "</w>" : "", id);
        id++;
      }
  for (size_t i = 0; i < G_N_ELEMENTS (small_merges); i++)
    {
      g_auto (GStrv) parts = g_strsplit (small_merges[i], " ", 2);
      g_string_append_printf (s, ", \"%s%s\": %d", parts[0], parts[1], id++);
    }
  if (!without_special)
    g_string_append_printf (s, ", \"<|startoftext|>\": %d, \"<|endoftext|>\": %d", id, id + 1);
  g_string_append_c (s, '}');
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static char *
merges_text (int n)
{
  GString *s = g_string_new ("#version: 0.2\n");
  for (int i = 0; i < n; i++)
    g_string_append_printf (s, "%s\n", small_merges[i]);
  return g_string_free (s, FALSE);
}

static void
expect_tokenizer_error (const char *path, ClipErrorCode code, const char *fragment)
{
  GError *error = NULL;
  ClipTokenizer *tok = clip_tokenizer_load (path, &error);
  g_assert_null (tok);
  expect_error (&error, code, fragment);
}

static void
case_tok_valid_control (void)
{
  g_autofree char *dir = case_dir ("tok-control");
  g_autofree char *vocab = small_vocab (FALSE);
  g_autofree char *merges = merges_text (G_N_ELEMENTS (small_merges));
  g_free (write_text (dir, "vocab.json", vocab));
  g_free (write_text (dir, "merges.txt", merges));
  GError *error = NULL;
  g_autoptr (ClipTokenizer) tok = clip_tokenizer_load (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_tokenizer_get_vocab_size (tok), ==, 512 + G_N_ELEMENTS (small_merges) + 2);
}

static void
case_tok_empty_merges (void)
{
  g_autofree char *dir = case_dir ("tok-empty");
  g_autofree char *path = write_text (dir, "merges.txt", "");
  expect_tokenizer_error (path, CLIP_ERROR_FORMAT, "no merges");
}

static void
case_tok_truncated_merges (void)
{
  g_autofree char *dir = case_dir ("tok-truncated");
  g_autofree char *vocab = small_vocab (FALSE);
  g_autofree char *merges = merges_text (5);
  g_free (write_text (dir, "vocab.json", vocab));
  g_free (write_text (dir, "merges.txt", merges));
  expect_tokenizer_error (dir, CLIP_ERROR_FORMAT, "truncated");
}

static void
case_tok_vocab_without_special (void)
{
  g_autofree char *dir = case_dir ("tok-special");
  g_autofree char *vocab = small_vocab (TRUE);
  g_autofree char *merges = merges_text (G_N_ELEMENTS (small_merges));
  g_free (write_text (dir, "vocab.json", vocab));
  g_free (write_text (dir, "merges.txt", merges));
  expect_tokenizer_error (dir, CLIP_ERROR_MISSING, "<|startoftext|>");
}

static void
case_limit_vocab (void)
{
  g_autofree char *dir = case_dir ("limit-vocab");
  g_autoptr (GString) s = g_string_new ("{");
  for (int i = 0; i <= CLIP_MAX_VOCAB; i++)
    g_string_append_printf (s, "%s\"t%d\":%d", i ? "," : "", i, i);
  g_string_append_c (s, '}');
  g_free (write_text (dir, "merges.txt", "#version: 0.2\nt h\n"));
  g_autofree char *path = write_text (dir, "vocab.json", s->str);
  expect_tokenizer_error (path, CLIP_ERROR_LIMIT, "1048576");
}

/* ---------------------------------------------------------------- images */

static void
expect_image_error (const char *path, ClipErrorCode code, const char *fragment)
{
  GError *error = NULL;
  ClipImage *image = clip_image_load (path, FALSE, &error);
  g_assert_null (image);
  expect_error (&error, code, fragment);
}

static void
case_img_zero_bytes (void)
{
  g_autofree char *dir = case_dir ("img-zero");
  g_autofree char *path = write_in (dir, "empty.jpg", "", 0);
  expect_image_error (path, CLIP_ERROR_FORMAT, "empty");
}

static void
case_img_truncated (void)
{
  g_autofree char *source = tu_shared_path ("golden/images/small_100x80.png");
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (source, &contents, &len, NULL));
  g_autofree char *dir = case_dir ("img-truncated");
  g_autofree char *path = write_in (dir, "half.png", contents, len / 2);
  expect_image_error (path, CLIP_ERROR_FORMAT, "half.png");
}

static void
case_img_text_as_jpg (void)
{
  g_autofree char *dir = case_dir ("img-text");
  g_autofree char *path = write_text (dir, "notes.jpg", "These are my holiday notes, not a photo.\n");
  expect_image_error (path, CLIP_ERROR_FORMAT, "not an image");
}

/* SVG is a document format, not a photo: whatever the name says, it is not decoded. */
static void
case_img_svg_as_png (void)
{
  g_autofree char *dir = case_dir ("img-svg");
  g_autofree char *path = write_text (dir, "drawing.png",
    "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"20000\" height=\"20000\">"
    "<rect width=\"20000\" height=\"20000\" fill=\"red\"/></svg>\n");
  GError *error = NULL;
  ClipImage *image = clip_image_load (path, FALSE, &error);
  if (image != NULL)
    {
      /* Decoding it at all would be acceptable only within the pixel limit. */
      g_assert_cmpint ((int64_t) image->width * image->height, <=, CLIP_MAX_IMAGE_PIXELS);
      clip_image_free (image);
      return;
    }
  g_assert_nonnull (error);
  g_test_message ("error: %s", error->message);
  g_assert_true (error->domain == CLIP_ERROR);
  g_assert_true (error->code == CLIP_ERROR_FORMAT || error->code == CLIP_ERROR_UNSUPPORTED
                 || error->code == CLIP_ERROR_LIMIT);
  g_assert_nonnull (strstr (error->message, "drawing.png"));
  g_error_free (error);
}

static void
case_img_png_30000 (void)
{
  g_autofree char *dir = case_dir ("img-huge");
  g_autofree char *path = write_in (dir, "huge.png", image_png_30000, sizeof image_png_30000);
  /* Refused from the header: a 2.7 GB allocation would show in the RSS and take seconds. */
  gint64 start = g_get_monotonic_time ();
  expect_image_error (path, CLIP_ERROR_LIMIT, "30000×30000");
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
}

static void
case_img_gif_animation (void)
{
  g_autofree char *dir = case_dir ("img-gif");
  g_autofree char *path = write_in (dir, "anim.gif", image_gif_animation, sizeof image_gif_animation);
  GError *error = NULL;
  g_autoptr (ClipImage) image = clip_image_load (path, FALSE, &error);
  g_assert_no_error (error);
  /* The first frame: red. */
  g_assert_cmpint (image->width, ==, 6);
  g_assert_cmpint (image->height, ==, 4);
  g_assert_cmpint (image->pixels[0], ==, 255);
  g_assert_cmpint (image->pixels[1], ==, 0);
  g_assert_cmpint (image->pixels[2], ==, 0);
}

static void
case_img_cmyk_jpeg (void)
{
  g_autofree char *dir = case_dir ("img-cmyk");
  g_autofree char *path = write_in (dir, "cmyk.jpg", image_jpeg_cmyk, sizeof image_jpeg_cmyk);
  GError *error = NULL;
  g_autoptr (ClipImage) image = clip_image_load (path, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->width, ==, 8);
  g_assert_cmpint (image->height, ==, 8);
  g_test_message ("CMYK (0, 255, 255, 0) decoded as RGB (%d, %d, %d)", image->pixels[0], image->pixels[1],
                  image->pixels[2]);
  /* Red on paper: a strong red, little green and blue. */
  g_assert_cmpint (image->pixels[0], >, 200);
  g_assert_cmpint (image->pixels[1], <, 60);
  g_assert_cmpint (image->pixels[2], <, 60);
}

static void
case_img_png_16bit (void)
{
  g_autofree char *dir = case_dir ("img-16bit");
  g_autofree char *path = write_in (dir, "deep.png", image_png_rgb16, sizeof image_png_rgb16);
  GError *error = NULL;
  g_autoptr (ClipImage) image = clip_image_load (path, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->width, ==, 4);
  g_assert_cmpint (image->height, ==, 2);
  /* Row 0 red; row 1 grey 0x8000, which is 128 in 8 bits. */
  g_assert_cmpint (image->pixels[0], ==, 255);
  g_assert_cmpint (image->pixels[1], ==, 0);
  const uint8_t *row1 = image->pixels + 3 * 4;
  g_assert_cmpint (row1[0], ==, 128);
  g_assert_cmpint (row1[1], ==, 128);
  g_assert_cmpint (row1[2], ==, 128);
}

/* ---------------------------------------------------------------- CSV data sets */

/* A data set folder with two images (one in a subfolder) and a file outside the root. */
static char *
csv_root (const char *name)
{
  char *dir = case_dir (name);
  g_autofree char *source = tu_shared_path ("golden/images/small_100x80.png");
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (source, &contents, &len, NULL));
  g_autofree char *images = g_build_filename (dir, "images", "sub", NULL);
  g_assert_cmpint (g_mkdir_with_parents (images, 0755), ==, 0);
  g_autofree char *root = g_build_filename (dir, "images", NULL);
  g_free (write_in (root, "cat.png", contents, len));
  g_free (write_in (images, "dog.png", contents, len));
  g_free (write_in (dir, "outside.png", contents, len));
  return dir;
}

static ClipDataset *
load_csv (const char *dir, const char *csv, GError **error)
{
  g_autofree char *path = write_text (dir, "data.csv", csv);
  g_autofree char *root = g_build_filename (dir, "images", NULL);
  return clip_dataset_load_csv (path, root, error);
}

/* The issue of line LINE says FRAGMENT. */
static void
expect_issue (const ClipDataset *dataset, int line, const char *fragment)
{
  GPtrArray *issues = clip_dataset_get_issues (dataset);
  for (guint i = 0; i < issues->len; i++)
    {
      const ClipDatasetIssue *issue = issues->pdata[i];
      if (issue->line == line)
        {
          g_test_message ("line %d: %s", line, issue->reason);
          if (strstr (issue->reason, fragment) == NULL)
            g_test_fail_printf ("line %d: \"%s\" does not say \"%s\"", line, issue->reason, fragment);
          return;
        }
    }
  g_test_fail_printf ("no issue reported for line %d", line);
}

static void
case_csv_missing_column (void)
{
  g_autofree char *dir = csv_root ("csv-missing-column");
  GError *error = NULL;
  ClipDataset *dataset = load_csv (dir, "image_path\ncat.png\n", &error);
  g_assert_null (dataset);
  expect_error (&error, CLIP_ERROR_MISSING, "caption");
}

static void
case_csv_row_missing_field (void)
{
  g_autofree char *dir = csv_root ("csv-short-row");
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load_csv (dir, "image_path,caption\ncat.png\nsub/dog.png,a dog\n", &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 1);
  expect_issue (dataset, 2, "fields");
}

static void
case_csv_bom (void)
{
  g_autofree char *dir = csv_root ("csv-bom");
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load_csv (dir, "\xef\xbb\xbfimage_path,caption\r\ncat.png,a cat\r\n", &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 1);
  g_assert_cmpstr (clip_dataset_get_caption (dataset, 0), ==, "a cat");
}

static void
case_csv_quoted (void)
{
  g_autofree char *dir = csv_root ("csv-quoted");
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load_csv (dir,
    "image_path,caption\n\"cat.png\",\"a cat, \"\"sitting\"\",\non two lines\"\nsub/dog.png,a dog\n", &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 2);
  g_assert_cmpstr (clip_dataset_get_caption (dataset, 0), ==, "a cat, \"sitting\",\non two lines");
  /* The quoted newline counts: the next row starts on line 4. */
  g_assert_cmpint (clip_dataset_get_line (dataset, 1), ==, 4);
}

static void
case_csv_escaping_root (void)
{
  g_autofree char *dir = csv_root ("csv-escape");
  g_autofree char *outside = g_build_filename (dir, "outside.png", NULL);
  g_autofree char *csv = g_strdup_printf ("image_path,caption\n../outside.png,up\n%s,absolute\n"
                                          "sub/../../outside.png,dotted\ncat.png,a cat\n", outside);
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load_csv (dir, csv, &error);
  g_assert_no_error (error);
  /* The absolute path is used (other tools export data sets that way); relative ones that climb out are not. */
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 2);
  g_assert_cmpint (clip_dataset_get_line (dataset, 0), ==, 3);
  expect_issue (dataset, 2, "relative path leads outside the image root");
  expect_issue (dataset, 4, "relative path leads outside the image root");
}

static void
case_csv_missing_file (void)
{
  g_autofree char *dir = csv_root ("csv-missing-file");
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load_csv (dir, "image_path,caption\nnothere.png,a ghost\ncat.png,a cat\n", &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 1);
  expect_issue (dataset, 2, "no such file");
}

static void
case_csv_empty_caption (void)
{
  g_autofree char *dir = csv_root ("csv-empty-caption");
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load_csv (dir, "image_path,caption\ncat.png,\nsub/dog.png,\"\"\ncat.png,ok\n",
                                              &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 1);
  expect_issue (dataset, 2, "empty caption");
  expect_issue (dataset, 3, "empty caption");
}

static void
case_limit_csv_record (void)
{
  g_autofree char *dir = csv_root ("limit-csv-record");
  g_autoptr (GString) csv = g_string_new ("image_path,caption\ncat.png,");
  for (int i = 0; i < CLIP_MAX_CSV_RECORD_BYTES; i++)
    g_string_append_c (csv, 'x');
  g_string_append (csv, "\nsub/dog.png,a dog\n");
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load_csv (dir, csv->str, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 1);
  g_assert_cmpstr (clip_dataset_get_caption (dataset, 0), ==, "a dog");
  expect_issue (dataset, 2, "limit");
}

/* ---------------------------------------------------------------- folders (the index) */

static ClipIndex *
open_index (const char *folder, ClipModel *model, const char *cache, gboolean follow_symlinks)
{
  ClipIndexOptions options;
  clip_index_options_init (&options);
  options.cache_dir = cache;
  options.follow_symlinks = follow_symlinks;
  options.flush_interval = 2;
  options.batch_size = 2;
  options.decode_threads = 1;
  GError *error = NULL;
  ClipIndex *index = clip_index_open (folder, model, &options, &error);
  g_assert_no_error (error);
  return index;
}

/* The reason the update gave for skipping PATH, or NULL. */
static const char *
skip_reason (const ClipIndexStats *stats, const char *path)
{
  for (guint i = 0; i < stats->skipped->len; i++)
    {
      const ClipIndexSkip *skip = stats->skipped->pdata[i];
      g_test_message ("skipped %s: %s", skip->path, skip->reason);
      if (g_str_equal (skip->path, path))
        return skip->reason;
    }
  return NULL;
}

static void
copy_image (const char *name, const char *dir, const char *as)
{
  g_autofree char *source = tu_shared_path (name);
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (source, &contents, &len, NULL));
  g_free (write_in (dir, as, contents, len));
}

static void
case_dir_symlink_loop (void)
{
  g_autofree char *dir = case_dir ("dir-loop/photos/sub");
  g_autofree char *photos = g_path_get_dirname (dir);
  g_autofree char *cache = case_dir ("dir-loop/cache");
  copy_image ("golden/images/small_100x80.png", dir, "a.png");
  g_autofree char *loop = g_build_filename (dir, "back", NULL);
  g_assert_cmpint (symlink ("..", loop), ==, 0);
  g_autofree char *self = g_build_filename (photos, "self", NULL);
  g_assert_cmpint (symlink (".", self), ==, 0);

  g_autoptr (ClipModel) model = tiny_model ();
  g_autoptr (ClipIndex) index = open_index (photos, model, cache, TRUE);
  ClipIndexStats stats;
  GError *error = NULL;
  g_assert_true (clip_index_update (index, &stats, NULL, &error));
  g_assert_no_error (error);
  /* The one real image, once; both links reported as loops. */
  g_assert_cmpint (stats.total, ==, 1);
  const char *reason = skip_reason (&stats, "sub/back");
  g_assert_nonnull (reason);
  g_assert_nonnull (strstr (reason, "loop"));
  reason = skip_reason (&stats, "self");
  g_assert_nonnull (reason);
  g_assert_nonnull (strstr (reason, "loop"));
  clip_index_stats_clear (&stats);
}

/* Drops root's privileges in the child, so that permissions bite. */
static void
become_nobody (gpointer data)
{
  if (geteuid () == 0 && (setgid (65534) != 0 || setuid (65534) != 0))
    _exit (3);
}

/* A scratch folder the unprivileged child can reach (tu_tmpdir is private to its owner). */
static char *
public_dir (const char *name)
{
  g_assert_cmpint (g_chmod (tu_tmpdir (), 0711), ==, 0);
  return case_dir (name);
}

/* --child-unreadable DIR, run as "nobody": DIR/photos holds open.png, an unreadable locked.png and an
 * unreadable folder closed/.  Exits 0 when the library copes as it should. */
static int
child_unreadable (const char *dir)
{
  g_autofree char *locked = g_build_filename (dir, "photos", "locked.png", NULL);
  GError *error = NULL;
  ClipImage *image = clip_image_load (locked, FALSE, &error);
  if (image != NULL || !g_error_matches (error, CLIP_ERROR, CLIP_ERROR_IO) || strstr (error->message, "locked.png") == NULL)
    {
      fprintf (stderr, "child: loading an unreadable file gave %s\n", error ? error->message : "an image");
      return 1;
    }
  g_clear_error (&error);

  g_autofree char *photos = g_build_filename (dir, "photos", NULL);
  g_autofree char *cache = g_build_filename (dir, "cache", NULL);
  g_autoptr (ClipModel) model = tiny_model ();
  g_autoptr (ClipIndex) index = open_index (photos, model, cache, FALSE);
  ClipIndexStats stats;
  if (!clip_index_update (index, &stats, NULL, &error))
    {
      fprintf (stderr, "child: the update failed: %s\n", error->message);
      return 1;
    }
  int status = 0;
  if (stats.total != 1)
    status = fprintf (stderr, "child: %" G_GINT64_FORMAT " entries indexed, expected 1\n", stats.total) > 0;
  for (guint i = 0; i < stats.skipped->len; i++)
    {
      const ClipIndexSkip *skip = stats.skipped->pdata[i];
      printf ("skipped %s: %s\n", skip->path, skip->reason);
    }
  const char *wanted[] = { "locked.png", "closed" };
  for (size_t w = 0; w < G_N_ELEMENTS (wanted); w++)
    {
      gboolean found = FALSE;
      for (guint i = 0; i < stats.skipped->len; i++)
        found |= g_str_equal (((const ClipIndexSkip *) stats.skipped->pdata[i])->path, wanted[w]);
      if (!found)
        status = fprintf (stderr, "child: %s is not reported as skipped\n", wanted[w]) > 0;
    }
  clip_index_stats_clear (&stats);
  return status;
}

static void
case_dir_unreadable (void)
{
  g_autofree char *base = public_dir ("unreadable");
  g_autofree char *photos = g_build_filename (base, "photos", NULL);
  g_autofree char *closed = g_build_filename (photos, "closed", NULL);
  g_autofree char *cache = g_build_filename (base, "cache", NULL);
  g_assert_cmpint (g_mkdir_with_parents (closed, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (cache, 0777), ==, 0);
  g_assert_cmpint (g_chmod (cache, 0777), ==, 0);
  copy_image ("golden/images/small_100x80.png", photos, "open.png");
  copy_image ("golden/images/small_100x80.png", photos, "locked.png");
  copy_image ("golden/images/small_100x80.png", closed, "inside.png");
  g_autofree char *locked = g_build_filename (photos, "locked.png", NULL);
  g_assert_cmpint (g_chmod (locked, 0), ==, 0);
  g_assert_cmpint (g_chmod (closed, 0), ==, 0);
  const char *argv[] = { self_path, "--child-unreadable", base, NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status;
  GError *error = NULL;
  gboolean spawned = g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, become_nobody, NULL, &out, &err,
                                   &status, &error);
  if (!spawned || (WIFEXITED (status) && WEXITSTATUS (status) == 3))
    {
      /* This build's folder is closed to "nobody" (or the user cannot be changed): as root, the
       * permissions would not bite, so there is nothing to test. */
      g_test_skip_printf ("cannot run this program as \"nobody\": %s", error != NULL ? error->message : "setuid failed");
      g_clear_error (&error);
    }
  else
    {
      g_test_message ("child output:\n%s%s", out, err);
      g_assert_true (g_spawn_check_wait_status (status, &error));
      g_assert_no_error (error);
    }
  g_chmod (closed, 0755);
  g_chmod (locked, 0644);
}

static void
case_index_corrupted (void)
{
  g_autofree char *photos = case_dir ("index-corrupt/photos");
  g_autofree char *cache = case_dir ("index-corrupt/cache");
  const char *names[] = { "small_100x80.png", "gray_257x129.png", "palette_200x200.png", "odd_225x301.png" };
  for (size_t i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *rel = g_build_filename ("golden/images", names[i], NULL);
      copy_image (rel, photos, names[i]);
    }
  g_autoptr (ClipModel) model = tiny_model ();
  GError *error = NULL;
  g_autofree char *file = NULL;
  {
    g_autoptr (ClipIndex) index = open_index (photos, model, cache, FALSE);
    g_assert_true (clip_index_update (index, NULL, NULL, &error));
    g_assert_no_error (error);
    g_assert_cmpint (clip_index_get_n_entries (index), ==, 4);
    file = g_strdup (clip_index_get_file (index));
  }
  /* Flip bytes in the middle of the file: inside the embeddings of the only block. */
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (file, &contents, &len, NULL));
  for (gsize i = len / 2; i < len / 2 + 8; i++)
    contents[i] ^= 0x5A;
  tu_write_file (file, contents, len);

  {
    g_autoptr (ClipIndex) index = open_index (photos, model, cache, FALSE);
    const char *const *warnings = clip_index_get_warnings (index);
    g_assert_nonnull (warnings[0]);
    g_test_message ("warning: %s", warnings[0]);
    g_assert_cmpint (clip_index_get_n_entries (index), <, 4);
    ClipIndexStats stats;
    g_assert_true (clip_index_update (index, &stats, NULL, &error));
    g_assert_no_error (error);
    g_assert_cmpint (stats.total, ==, 4);
    g_assert_cmpint (stats.added + stats.updated, >, 0);
    clip_index_stats_clear (&stats);
  }
  {
    g_autoptr (ClipIndex) index = open_index (photos, model, cache, FALSE);
    g_assert_null (clip_index_get_warnings (index)[0]);
    g_assert_cmpint (clip_index_get_n_entries (index), ==, 4);
  }
}

/* ---------------------------------------------------------------- durability */

static void
case_ckpt_disk_full (void)
{
  g_autofree char *dir = case_dir ("ckpt-full");
  g_autofree char *path = g_build_filename (dir, "trainer.safetensors", NULL);
  g_autoptr (ClipModel) model = tiny_model ();
  ClipOptimConfig optim;
  clip_optim_config_init (&optim);
  optim.total_steps = 10;
  optim.warmup_steps = 1;
  GError *error = NULL;
  g_autoptr (ClipTrainer) trainer = clip_trainer_new (model, &optim, &error);
  g_assert_no_error (error);
  g_assert_true (clip_trainer_save (trainer, path, NULL, &error));
  g_assert_no_error (error);
  g_autofree char *before = NULL;
  gsize before_len;
  g_assert_true (g_file_get_contents (path, &before, &before_len, NULL));

  /* The file-size limit stands in for a full disk: writes past it fail (EFBIG) as they would with
   * ENOSPC, whatever the file system. */
  struct rlimit saved, small;
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  small = saved;
  small.rlim_cur = before_len / 3;
  void (*old_handler) (int) = signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &small), ==, 0);
  gboolean ok = clip_trainer_save (trainer, path, NULL, &error);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  signal (SIGXFSZ, old_handler);
  g_assert_false (ok);
  expect_error (&error, CLIP_ERROR_IO, "trainer.safetensors");

  /* The previous checkpoint is untouched and loads; no temporary file is left beside it. */
  g_autofree char *after = NULL;
  gsize after_len;
  g_assert_true (g_file_get_contents (path, &after, &after_len, NULL));
  g_assert_cmpuint (after_len, ==, before_len);
  g_assert_true (memcmp (before, after, before_len) == 0);
  g_autoptr (ClipTrainer) back = clip_trainer_load (path, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GDir) listing = g_dir_open (dir, 0, NULL);
  const char *name;
  int n_files = 0;
  while ((name = g_dir_read_name (listing)) != NULL)
    {
      g_test_message ("left in the folder: %s", name);
      n_files++;
    }
  g_assert_cmpint (n_files, ==, 1);
}

/* ---------------------------------------------------------------- kill -9 and resume */

/* Spawns this program with ARGS and returns its pid. */
static GPid
spawn_child (const char *mode, const char *arg)
{
  const char *argv[] = { self_path, mode, arg, NULL };
  GPid pid;
  GError *error = NULL;
  g_assert_true (g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error));
  g_assert_no_error (error);
  return pid;
}

/* Waits (up to 60 s) until PREDICATE holds, then kills PID with SIGKILL and reaps it. */
static void
kill_when (GPid pid, gboolean (*predicate) (const char *), const char *arg)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (!predicate (arg))
    {
      int status;
      if (waitpid (pid, &status, WNOHANG) == pid)
        g_error ("the child ended (status %d) before it could be killed", status);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20 * 1000);
    }
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  g_spawn_close_pid (pid);
}

#define TRAIN_STEPS 30
#define TRAIN_SAVE_EVERY 4

static void
train_config (ClipTrainRunConfig *config, const char *dir)
{
  clip_train_run_config_init (config);
  g_autofree char *images = tu_shared_path ("golden/images");
  g_autoptr (GString) csv = g_string_new ("image_path,caption\n");
  const char *names[] = { "small_100x80.png", "gray_257x129.png", "palette_200x200.png", "odd_225x301.png",
                          "exact_224x224.png", "wide_1000x150.png" };
  for (size_t i = 0; i < G_N_ELEMENTS (names); i++)
    g_string_append_printf (csv, "%s,picture number %zu\n", names[i], i);
  config->csv_path = write_text (dir, "train.csv", csv->str);
  config->image_root = g_strdup (images);
  config->out_dir = g_build_filename (dir, "run", NULL);
  config->tokenizer = g_strdup ("bytes");
  config->epochs = 100;
  config->batch_size = 2;
  config->max_steps = TRAIN_STEPS;
  config->save_every = TRAIN_SAVE_EVERY;
  config->keep = 100;
  config->vision_width = 16;
  config->vision_layers = 1;
  config->patch_size = 8;
  config->image_size = 16;
  config->text_width = 16;
  config->text_layers = 1;
  config->text_heads = 1;
  config->context_length = 8;
  config->embed_dim = 8;
}

static void
slow_step (const ClipTrainStepReport *report, gpointer user_data)
{
  g_usleep (100 * 1000);
}

/* --child-train DIR: a run that sleeps at every step, to be killed. */
static int
child_train (const char *dir)
{
  ClipTrainRunConfig config;
  train_config (&config, dir);
  const ClipTrainEvents events = { .step = slow_step };
  GError *error = NULL;
  g_autoptr (ClipTrainRun) run = clip_train_run_new (&config, &events, &error);
  if (run == NULL || !clip_train_run_run (run, &error))
    {
      fprintf (stderr, "child: %s\n", error->message);
      return 1;
    }
  clip_train_run_config_clear (&config);
  return 0;
}

static gboolean
has_second_checkpoint (const char *dir)
{
  g_autofree char *run = g_build_filename (dir, "run", NULL);
  g_autofree char *path = clip_train_run_checkpoint_path (run, 2 * TRAIN_SAVE_EVERY);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* The newest checkpoint step written in DIR. */
static int64_t
newest_checkpoint (const char *dir)
{
  int64_t newest = 0;
  for (int64_t step = TRAIN_SAVE_EVERY; step <= TRAIN_STEPS; step += TRAIN_SAVE_EVERY)
    {
      g_autofree char *path = clip_train_run_checkpoint_path (dir, step);
      if (g_file_test (path, G_FILE_TEST_EXISTS))
        newest = step;
    }
  return newest;
}

static void
case_train_kill9_resume (void)
{
  g_autofree char *dir = case_dir ("train-kill9");
  GPid pid = spawn_child ("--child-train", dir);
  kill_when (pid, has_second_checkpoint, dir);

  g_autofree char *run_dir = g_build_filename (dir, "run", NULL);
  int64_t saved = newest_checkpoint (run_dir);
  g_test_message ("killed after the checkpoint of step %" G_GINT64_FORMAT, saved);
  g_assert_cmpint (saved, >=, 2 * TRAIN_SAVE_EVERY);
  GError *error = NULL;
  g_autoptr (ClipTrainRun) run = clip_train_run_resume (run_dir, NULL, &error);
  g_assert_no_error (error);
  /* No step lost beyond the last save, and the run finishes. */
  g_assert_cmpint (clip_train_run_get_step (run), ==, saved);
  g_assert_true (clip_train_run_run (run, &error));
  g_assert_no_error (error);
  g_assert_cmpint (clip_train_run_get_step (run), ==, TRAIN_STEPS);
  g_autofree char *model = clip_train_run_model_path (run_dir);
  g_assert_true (g_file_test (model, G_FILE_TEST_IS_REGULAR));
}

#define INDEX_FILES 24

static void
index_photos (const char *dir)
{
  const char *names[] = { "small_100x80.png", "gray_257x129.png", "palette_200x200.png", "odd_225x301.png",
                          "exact_224x224.png", "wide_1000x150.png" };
  g_autofree char *photos = g_build_filename (dir, "photos", NULL);
  g_assert_cmpint (g_mkdir_with_parents (photos, 0755), ==, 0);
  for (int i = 0; i < INDEX_FILES; i++)
    {
      g_autofree char *rel = g_build_filename ("golden/images", names[i % G_N_ELEMENTS (names)], NULL);
      g_autofree char *source = tu_shared_path (rel);
      g_autofree char *contents = NULL;
      gsize len;
      g_assert_true (g_file_get_contents (source, &contents, &len, NULL));
      /* Distinct contents, so that no file is recognised as a copy of another. */
      g_autofree char *name = g_strdup_printf ("photo-%02d.png", i);
      GByteArray *bytes = g_byte_array_new ();
      g_byte_array_append (bytes, (guint8 *) contents, (guint) len);
      g_byte_array_append (bytes, (guint8 *) name, (guint) strlen (name));
      g_free (write_in (photos, name, bytes->data, bytes->len));
      g_byte_array_unref (bytes);
    }
}

typedef struct {
  ClipIndex  *index;
  const char *flushed_file;
} SlowIndex;

static void
slow_progress (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  const SlowIndex *slow = user_data;
  const ClipIndexProgress *progress = clip_index_get_progress (slow->index);
  if (progress->phase == CLIP_INDEX_PHASE_EMBED)
    {
      /* Tell the parent how far the durable part has got, then dawdle. */
      g_autofree char *text = g_strdup_printf ("%" G_GINT64_FORMAT, progress->flushed);
      g_file_set_contents (slow->flushed_file, text, -1, NULL);
      g_usleep (100 * 1000);
    }
}

/* --child-index DIR: indexes DIR/photos slowly, to be killed. */
static int
child_index (const char *dir)
{
  g_autofree char *photos = g_build_filename (dir, "photos", NULL);
  g_autofree char *cache = g_build_filename (dir, "cache", NULL);
  g_autofree char *flushed = g_build_filename (dir, "flushed", NULL);
  g_autoptr (ClipModel) model = tiny_model ();
  g_autoptr (ClipIndex) index = open_index (photos, model, cache, FALSE);
  SlowIndex slow = { index, flushed };
  const ClipCallbacks callbacks = { .progress = slow_progress, .user_data = &slow };
  GError *error = NULL;
  if (!clip_index_update (index, NULL, &callbacks, &error))
    {
      fprintf (stderr, "child: %s\n", error->message);
      return 1;
    }
  return 0;
}

static gboolean
has_flushed_some (const char *dir)
{
  g_autofree char *flushed = g_build_filename (dir, "flushed", NULL);
  g_autofree char *text = NULL;
  return g_file_get_contents (flushed, &text, NULL, NULL) && g_ascii_strtoll (text, NULL, 10) >= 6;
}

static void
case_index_kill9_resume (void)
{
  g_autofree char *dir = case_dir ("index-kill9");
  index_photos (dir);
  GPid pid = spawn_child ("--child-index", dir);
  kill_when (pid, has_flushed_some, dir);

  g_autofree char *photos = g_build_filename (dir, "photos", NULL);
  g_autofree char *cache = g_build_filename (dir, "cache", NULL);
  g_autoptr (ClipModel) model = tiny_model ();
  g_autoptr (ClipIndex) index = open_index (photos, model, cache, FALSE);
  int64_t kept = clip_index_get_n_entries (index);
  g_test_message ("%" G_GINT64_FORMAT " of %d files were durable when the indexer was killed", kept, INDEX_FILES);
  g_assert_cmpint (kept, >=, 6);
  g_assert_cmpint (kept, <, INDEX_FILES);
  ClipIndexStats stats;
  GError *error = NULL;
  g_assert_true (clip_index_update (index, &stats, NULL, &error));
  g_assert_no_error (error);
  /* The re-run embeds only what was not kept. */
  g_assert_cmpint (stats.total, ==, INDEX_FILES);
  g_assert_cmpint (stats.added, ==, INDEX_FILES - kept);
  clip_index_stats_clear (&stats);
}

/* ---------------------------------------------------------------- the environment (issue 13) */

/* Embeds the golden photo and a short token sequence with MODEL into OUT [2, dim]. */
static void
embed_image_and_tokens (ClipModel *model, float *out)
{
  g_autofree char *photo = tu_shared_path ("golden/images/photo_512x384.jpg");
  int dim = clip_model_get_config (model)->embed_dim;
  GError *error = NULL;
  g_assert_true (clip_model_encode_image_files (model, (const char *[]) { photo }, 1, FALSE, out, NULL, &error));
  g_assert_no_error (error);
  const int32_t ids[] = { 256, 99, 97, 116, 257 };
  g_assert_true (clip_model_encode_token_ids (model, ids, 1, G_N_ELEMENTS (ids), out + dim, NULL, &error));
  g_assert_no_error (error);
}

/* `cp other.safetensors model.safetensors` over a model in use truncates the file and rewrites it
 * in place: a model reading the file's pages would fault (SIGBUS) or compute with the new bytes. */
static void
case_model_rewritten_in_place (void)
{
  g_autofree char *dir = case_dir ("model-rewritten");
  g_autofree char *source = tu_shared_path ("golden/models/tiny_quickgelu/hf");
  const char *names[] = { "config.json", "model.safetensors" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *from = g_build_filename (source, names[i], NULL);
      g_autofree char *data = NULL;
      gsize len;
      g_assert_true (g_file_get_contents (from, &data, &len, NULL));
      g_autofree char *to = write_in (dir, names[i], data, len);
    }
  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.tokenizer_path = "bytes";
  GError *error = NULL;
  g_autoptr (ClipModel) used = clip_model_load (dir, &options, &error);    /* encodes before the rewrite */
  g_assert_no_error (error);
  g_autoptr (ClipModel) idle = clip_model_load (dir, &options, &error);    /* only after it */
  g_assert_no_error (error);
  int dim = clip_model_get_config (used)->embed_dim;
  g_autofree float *before = g_new (float, 2 * dim);
  g_autofree float *after = g_new (float, 2 * dim);
  embed_image_and_tokens (used, before);

  struct stat st;
  g_assert_cmpint (g_stat (weights, &st), ==, 0);
  g_assert_cmpint (truncate (weights, 0), ==, 0);
  embed_image_and_tokens (used, after);
  g_assert_cmpmem (before, sizeof (float) * 2 * dim, after, sizeof (float) * 2 * dim);
  /* The same size again, other bytes: what a model still reading the file would see. */
  g_autofree char *zeros = g_malloc0 (st.st_size);
  FILE *file = g_fopen (weights, "r+b");
  g_assert_nonnull (file);
  g_assert_cmpuint (fwrite (zeros, 1, st.st_size, file), ==, (size_t) st.st_size);
  g_assert_cmpint (fclose (file), ==, 0);
  embed_image_and_tokens (used, after);
  g_assert_cmpmem (before, sizeof (float) * 2 * dim, after, sizeof (float) * 2 * dim);
  embed_image_and_tokens (idle, after);
  g_assert_cmpmem (before, sizeof (float) * 2 * dim, after, sizeof (float) * 2 * dim);

  /* The weights the panels took over come back bit for bit for a reader of the original layout. */
  g_autofree char *saved = g_build_filename (dir, "saved.safetensors", NULL);
  g_assert_true (clip_model_save (used, saved, CLIP_DTYPE_F32, &error));
  g_assert_no_error (error);
  g_autoptr (ClipModel) reloaded = clip_model_load (saved, &options, &error);
  g_assert_no_error (error);
  embed_image_and_tokens (reloaded, after);
  g_assert_cmpmem (before, sizeof (float) * 2 * dim, after, sizeof (float) * 2 * dim);
  g_test_message ("embeddings unchanged after the file was truncated and overwritten with zeros");
}

/* A named pipe where a file is read blocks an open() forever; each reader must refuse it at once. */
static void
case_fifo_everywhere (void)
{
  g_autofree char *dir = case_dir ("fifo");
  g_autofree char *fifo = g_build_filename (dir, "pipe", NULL);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  GError *error = NULL;
  g_assert_null (clip_model_load (fifo, NULL, &error));
  expect_error (&error, CLIP_ERROR_IO, "not a regular file but a named pipe");

  g_autofree char *weights = tu_shared_path ("golden/models/tiny_quickgelu/hf/model.safetensors");
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.config_path = fifo;
  g_assert_null (clip_model_load (weights, &options, &error));
  expect_error (&error, CLIP_ERROR_IO, "named pipe");

  g_assert_null (clip_tokenizer_load (fifo, &error));
  expect_error (&error, CLIP_ERROR_IO, "named pipe");
  g_assert_null (clip_templates_load (fifo, &error));
  expect_error (&error, CLIP_ERROR_IO, "named pipe");
  g_assert_null (clip_image_load (fifo, FALSE, &error));
  expect_error (&error, CLIP_ERROR_IO, "named pipe");
  g_assert_null (clip_dataset_load_csv (fifo, dir, &error));
  expect_error (&error, CLIP_ERROR_IO, "named pipe");
}

/* ---------------------------------------------------------------- the table */

typedef struct {
  const char *path;       /* g_test path under /bad-inputs/ */
  const char *expected;   /* the outcome, as the issue and README state it */
  void      (*run) (void);
} BadInput;

static const BadInput cases[] = {
  { "safetensors/header-length-past-end", "FORMAT: header length exceeds the file size", case_st_header_past_end },
  { "safetensors/header-length-zero", "FORMAT: header length is 0", case_st_header_zero },
  { "safetensors/header-length-2^63", "LIMIT: over CLIP_MAX_HEADER_BYTES, nothing allocated", case_st_header_2_63 },
  { "safetensors/header-invalid-utf8", "FORMAT: not valid UTF-8", case_st_header_invalid_utf8 },
  { "safetensors/header-depth-bomb", "LIMIT: nests deeper than CLIP_MAX_JSON_DEPTH, before json-glib", case_st_header_depth_bomb },
  { "safetensors/duplicate-tensor-names", "FORMAT: duplicate tensor name", case_st_duplicate_names },
  { "safetensors/overlapping-ranges", "FORMAT: ranges overlap", case_st_overlapping },
  { "safetensors/gapped-ranges", "FORMAT: a gap between ranges", case_st_gapped },
  { "safetensors/range-out-of-file", "FORMAT: the range ends past the file", case_st_out_of_file },
  { "safetensors/dtype-shape-mismatch", "FORMAT: shape × dtype size ≠ range", case_st_dtype_shape_mismatch },
  { "safetensors/shape-product-overflow", "FORMAT: overflow", case_st_shape_overflow },
  { "limits/tensor-count", "LIMIT: more than CLIP_MAX_TENSORS", case_limit_tensor_count },
  { "limits/dimensions", "LIMIT: more than CLIP_MAX_DIMS", case_limit_dims },
  { "model/valid-control", "loads and encodes (the base the next cases break)", case_model_valid_control },
  { "model/missing-layer", "MISSING: names the absent tensor of layer 1", case_model_missing_layer },
  { "config/zero-size", "SHAPE: a zero width", case_config_zero_size },
  { "config/negative-size", "SHAPE: -1 layers", case_config_negative_size },
  { "config/heads-not-dividing-width", "SHAPE: not divisible by the heads", case_config_heads_not_dividing },
  { "config/absurd-layers", "LIMIT: 10^9 layers, before any allocation", case_config_absurd_size },
  { "config/absurd-width", "LIMIT: width 2^31-1 over CLIP_MAX_DIM_SIZE", case_config_absurd_width },
  { "tokenizer/valid-control", "loads (the base the next cases break)", case_tok_valid_control },
  { "tokenizer/empty-merges", "FORMAT: no merges", case_tok_empty_merges },
  { "tokenizer/truncated-merges", "FORMAT: fewer merges than the vocabulary needs (truncated?)", case_tok_truncated_merges },
  { "tokenizer/vocab-without-special-tokens", "MISSING: special token", case_tok_vocab_without_special },
  { "limits/vocabulary", "LIMIT: more than CLIP_MAX_VOCAB tokens", case_limit_vocab },
  { "image/zero-bytes", "FORMAT: empty file", case_img_zero_bytes },
  { "image/truncated", "FORMAT: names the file", case_img_truncated },
  { "image/text-named-jpg", "FORMAT: not an image (text)", case_img_text_as_jpg },
  { "image/svg-named-png", "not decoded beyond the pixel limit; else a clean error", case_img_svg_as_png },
  { "image/png-30000x30000", "LIMIT: refused from the header, in under a second", case_img_png_30000 },
  { "image/gif-animation", "decoded: the first frame", case_img_gif_animation },
  { "image/cmyk-jpeg", "decoded to RGB: red stays red", case_img_cmyk_jpeg },
  { "image/png-16-bit", "decoded to 8-bit RGB", case_img_png_16bit },
  { "csv/missing-column", "MISSING: no caption column", case_csv_missing_column },
  { "csv/row-missing-field", "row skipped, reported with its line", case_csv_row_missing_field },
  { "csv/bom", "loads: the BOM is not part of the header", case_csv_bom },
  { "csv/quoted-commas-newlines", "loads: RFC 4180 quoting, lines counted", case_csv_quoted },
  { "csv/path-escaping-root", "rows skipped: relative paths out of the image root (../, sub/../..); an absolute path is used", case_csv_escaping_root },
  { "csv/missing-file", "row skipped: no such file", case_csv_missing_file },
  { "csv/empty-caption", "rows skipped: empty caption", case_csv_empty_caption },
  { "limits/csv-record-length", "row over CLIP_MAX_CSV_RECORD_BYTES skipped", case_limit_csv_record },
  { "folder/symlink-loop", "indexing ends; each loop reported once", case_dir_symlink_loop },
  { "folder/unreadable-file-and-directory", "IO error for the file; the index skips and reports both", case_dir_unreadable },
  { "index/corrupted-file", "damage reported, entries dropped, the update rebuilds them", case_index_corrupted },
  { "checkpoint/disk-full", "IO error; the previous checkpoint intact and loadable, no temporary left", case_ckpt_disk_full },
  { "train/kill-9-then-resume", "resumes at the last saved step and finishes", case_train_kill9_resume },
  { "index/kill-9-then-rerun", "flushed entries kept; the re-run embeds only the rest", case_index_kill9_resume },
  { "environment/model-rewritten-in-place", "no fault; embeddings unchanged; saving restores the weights", case_model_rewritten_in_place },
  { "environment/fifo-everywhere", "IO: \"not a regular file but a named pipe\", at once", case_fifo_everywhere },
};

static void
run_case (gconstpointer data)
{
  const BadInput *c = data;
  g_test_message ("expected: %s", c->expected);
  c->run ();
}

int
main (int argc, char **argv)
{
  g_setenv ("OPENBLAS_NUM_THREADS", "1", FALSE);
  self_path = g_file_read_link ("/proc/self/exe", NULL);
  if (argc == 3 && strcmp (argv[1], "--child-train") == 0)
    return child_train (argv[2]);
  if (argc == 3 && strcmp (argv[1], "--child-index") == 0)
    return child_index (argv[2]);
  if (argc == 3 && strcmp (argv[1], "--child-unreadable") == 0)
    return child_unreadable (argv[2]);

  g_test_init (&argc, &argv, NULL);
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strconcat ("/bad-inputs/", cases[i].path, NULL);
      g_test_add_data_func (path, &cases[i], run_case);
    }
  return g_test_run ();
}
