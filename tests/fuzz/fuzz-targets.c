/* fuzz-targets.c — the bodies of the fuzzing harnesses (see fuzz-targets.h).
 *
 * Readers that only take a path get the bytes through a file in a scratch directory of this
 * process; the model-directory readers get the tiny golden model's weights beside the file under
 * test (a symbolic link into the shared reference folder). */
#include "fuzz-targets.h"

#include "clip.h"
#include "clip-private.h"
#include "index-private.h"
#include "safetensors.h"
#include "testutil.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

const FuzzTarget fuzz_targets[] = {
  { "safetensors", fuzz_safetensors },
  { "model-weights", fuzz_model_weights },
  { "config-hf", fuzz_config_hf },
  { "config-open-clip", fuzz_config_open_clip },
  { "config-preprocessor", fuzz_config_preprocessor },
  { "metadata", fuzz_metadata },
  { "tokenizer-vocab", fuzz_tokenizer_vocab },
  { "tokenizer-merges", fuzz_tokenizer_merges },
  { "tokenizer-json", fuzz_tokenizer_json },
  { "tokenizer-gz", fuzz_tokenizer_gz },
  { "tokenizer-encode", fuzz_tokenizer_encode },
  { "image-preprocess", fuzz_image_preprocess },
  { "image-file", fuzz_image_file },
  { "csv", fuzz_csv },
  { "webdataset", fuzz_webdataset },
  { "coco", fuzz_coco },
  { "karpathy", fuzz_karpathy },
  { "index", fuzz_index },
  { NULL, NULL },
};

/* A model this small in parameters is run once after it loads, to show the weights it maps can be
 * computed with; larger ones only load (the fuzzer would spend its time in matrix products). */
#define EXERCISE_MAX_PARAMS  (4 * 1000 * 1000)
#define EXERCISE_MAX_IMAGE   512

/* Where byte sums go, so that reading every byte is not optimised away. */
static volatile guint sink;

/* ---------------------------------------------------------------- the contract */

/* A broken contract: says which and aborts, which libFuzzer records as a crash. */
static void fuzz_fail (const char *format, ...) G_GNUC_PRINTF (1, 2) G_GNUC_NORETURN;

static void
fuzz_fail (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  fputs ("fuzz harness: ", stderr);
  vfprintf (stderr, format, args);
  fputc ('\n', stderr);
  va_end (args);
  abort ();
}

/* GLib stops on a fatal log message with a breakpoint trap, which libFuzzer does not catch. */
static void
abort_on_trap (int signal_number)
{
  abort ();
}

static void
fuzz_init (void)
{
  static gsize done;
  if (g_once_init_enter (&done))
    {
      /* A critical warning is a broken precondition somewhere below a reader: a finding. */
      g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
      signal (SIGTRAP, abort_on_trap);
      g_once_init_leave (&done, 1);
    }
}

/* OK and ERROR must agree: success without an error, failure with a message in a known domain. */
static void
check_outcome (gboolean ok, const GError *error, const char *what)
{
  if (ok && error != NULL)
    fuzz_fail ("%s succeeded but set an error: %s", what, error->message);
  if (!ok && error == NULL)
    fuzz_fail ("%s failed without an error", what);
  if (!ok && error->domain != CLIP_ERROR && error->domain != G_IO_ERROR)
    fuzz_fail ("%s failed with an error outside CLIP_ERROR: %s", what, error->message);
  if (!ok && (error->message == NULL || error->message[0] == '\0'))
    fuzz_fail ("%s failed with an empty message", what);
}

/* ---------------------------------------------------------------- scratch files */

static char *scratch_root;

static void
remove_scratch (void)
{
  if (scratch_root != NULL)
    tu_remove_tree (scratch_root);
}

/* ROOT/SUB, created on first use (this process's own directory, removed at exit). */
static char *
scratch_dir (const char *sub)
{
  if (scratch_root == NULL)
    {
      GError *error = NULL;
      scratch_root = g_dir_make_tmp ("cliplab-fuzz-XXXXXX", &error);
      if (scratch_root == NULL)
        fuzz_fail ("cannot make a scratch directory: %s", error->message);
      atexit (remove_scratch);
    }
  char *dir = g_build_filename (scratch_root, sub, NULL);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    fuzz_fail ("cannot make %s", dir);
  return dir;
}

/* The bytes as a NUL-terminated string (cut at the first NUL, as a C caller's would be). */
static char *
bytes_to_string (const uint8_t *data, size_t size)
{
  return size == 0 ? g_strdup ("") : g_strndup ((const char *) data, size);
}

static void
write_bytes (const char *path, const void *data, size_t size)
{
  FILE *file = fopen (path, "wb");
  if (file == NULL || (size > 0 && fwrite (data, 1, size, file) != size) || fclose (file) != 0)
    fuzz_fail ("cannot write %s", path);
}

/* DIR/NAME → the shared reference file REL (a symbolic link, made once). */
static void
link_shared (const char *dir, const char *name, const char *rel)
{
  g_autofree char *target = tu_shared_path (rel);
  g_autofree char *link = g_build_filename (dir, name, NULL);
  if (!g_file_test (target, G_FILE_TEST_IS_REGULAR))
    fuzz_fail ("%s is missing: the config harnesses need the shared reference folder (CLIPLAB_SHARED)", target);
  if (!g_file_test (link, G_FILE_TEST_EXISTS) && symlink (target, link) != 0)
    fuzz_fail ("cannot link %s", link);
}

/* ---------------------------------------------------------------- models */

/* Reads every byte of a successfully opened file's tensors, so that a range pointing outside the
 * buffer shows up under AddressSanitizer, and checks the sizes agree. */
static void
check_safetensors (const ClipSafetensors *st, const uint8_t *data, size_t size)
{
  int n = clip_safetensors_n_tensors (st);
  if (n < 0 || n > CLIP_MAX_TENSORS)
    fuzz_fail ("tensor count %d", n);
  for (int i = 0; i < n; i++)
    {
      const ClipStTensor *t = clip_safetensors_tensor (st, i);
      if (t == NULL || t->name == NULL || clip_safetensors_find (st, t->name) != t)
        fuzz_fail ("tensor %d cannot be found by its name", i);
      if (t->n_dims < 0 || t->n_dims > CLIP_MAX_DIMS)
        fuzz_fail ("tensor '%s' has %d dimensions", t->name, t->n_dims);
      int64_t elements = 1;
      for (int d = 0; d < t->n_dims; d++)
        {
          if (t->shape[d] < 0)
            fuzz_fail ("tensor '%s' has a negative dimension", t->name);
          elements *= t->shape[d];  /* the reader checked it does not overflow */
        }
      if (elements != t->n_elements || (size_t) elements * clip_dtype_size (t->dtype) != t->n_bytes)
        fuzz_fail ("tensor '%s': %" G_GINT64_FORMAT " elements of %zu bytes is not %zu bytes", t->name,
                 t->n_elements, clip_dtype_size (t->dtype), t->n_bytes);
      const uint8_t *bytes = t->data;
      if (t->n_bytes > 0 && (bytes < data || bytes + t->n_bytes > data + size))
        fuzz_fail ("tensor '%s' lies outside the file", t->name);
      guint sum = 0;
      for (size_t k = 0; k < t->n_bytes; k++)
        sum += bytes[k];
      sink += sum;
      if (t->dtype == CLIP_DTYPE_F32 || t->dtype == CLIP_DTYPE_F16 || t->dtype == CLIP_DTYPE_BF16)
        {
          int64_t m = MIN (t->n_elements, 4096);
          g_autofree float *floats = g_new (float, MAX (m, 1));
          clip_convert_to_f32 (t->dtype, t->data, m, floats);
        }
    }
  (void) clip_safetensors_metadata (st, "__metadata__");
  (void) clip_safetensors_metadata (st, "cliplab.config");
}

/* Runs a loaded model once on a text and an image, when it is small enough. */
static void
exercise_model (ClipModel *model)
{
  const ClipConfig *c = clip_model_get_config (model);
  if (clip_model_get_n_params (model) > EXERCISE_MAX_PARAMS || c->image_size > EXERCISE_MAX_IMAGE)
    return;
  g_autofree float *embed = g_new (float, c->embed_dim);
  g_autofree int32_t *ids = g_new0 (int32_t, c->context_length);
  ids[0] = c->vocab_size - 1;
  if (c->context_length > 1)
    ids[1] = c->eot_id >= 0 ? c->eot_id : c->vocab_size - 1;
  GError *error = NULL;
  gboolean ok = clip_model_encode_token_ids (model, ids, 1, c->context_length, embed, NULL, &error);
  check_outcome (ok, error, "clip_model_encode_token_ids");
  g_clear_error (&error);

  size_t n_pixels = (size_t) 3 * c->image_size * c->image_size;
  g_autofree float *pixels = g_new0 (float, n_pixels);
  ok = clip_model_encode_images (model, pixels, 1, embed, NULL, &error);
  check_outcome (ok, error, "clip_model_encode_images");
  g_clear_error (&error);

  if (clip_model_get_tokenizer (model) != NULL)
    {
      const char *texts[] = { "a photo of a cat" };
      ok = clip_model_encode_texts (model, texts, 1, embed, NULL, &error);
      check_outcome (ok, error, "clip_model_encode_texts");
      g_clear_error (&error);
    }
}

/* Loads PATH with OPTIONS (may be NULL) and checks the outcome. */
static void
load_model (const char *path, const ClipLoadOptions *options)
{
  GError *error = NULL;
  ClipModel *model = clip_model_load (path, options, &error);
  check_outcome (model != NULL, error, "clip_model_load");
  g_clear_error (&error);
  if (model == NULL)
    return;
  GError *invalid = NULL;
  if (!clip_config_validate (clip_model_get_config (model), "loaded model", &invalid))
    fuzz_fail ("a loaded model has an invalid configuration: %s", invalid->message);
  exercise_model (model);
  clip_model_free (model);
}

int
fuzz_safetensors (const uint8_t *data, size_t size)
{
  fuzz_init ();
  GError *error = NULL;
  ClipSafetensors *st = clip_safetensors_open_bytes (data, size, "fuzz.safetensors", &error);
  check_outcome (st != NULL, error, "clip_safetensors_open_bytes");
  g_clear_error (&error);
  if (st != NULL)
    {
      check_safetensors (st, data, size);
      clip_safetensors_close (st);
    }
  return 0;
}

int
fuzz_model_weights (const uint8_t *data, size_t size)
{
  fuzz_init ();
  g_autofree char *dir = scratch_dir ("model-weights");
  g_autofree char *path = g_build_filename (dir, "model.safetensors", NULL);
  write_bytes (path, data, size);
  load_model (path, NULL);
  return 0;
}

/* Writes DATA as NAME into the model directory SUB, whose weights (and other files) are links to the
 * tiny golden model, and loads the directory. */
static void
load_model_dir (const char *sub, const char *name, const uint8_t *data, size_t size)
{
  g_autofree char *dir = scratch_dir (sub);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  write_bytes (path, data, size);
  load_model (dir, NULL);
}

int
fuzz_config_hf (const uint8_t *data, size_t size)
{
  fuzz_init ();
  g_autofree char *dir = scratch_dir ("config-hf");
  link_shared (dir, "model.safetensors", "golden/models/tiny_quickgelu/hf/model.safetensors");
  load_model_dir ("config-hf", "config.json", data, size);
  return 0;
}

int
fuzz_config_open_clip (const uint8_t *data, size_t size)
{
  fuzz_init ();
  g_autofree char *dir = scratch_dir ("config-open-clip");
  link_shared (dir, "open_clip_model.safetensors", "golden/models/tiny_quickgelu/openai_naming.safetensors");
  load_model_dir ("config-open-clip", "open_clip_config.json", data, size);
  return 0;
}

int
fuzz_config_preprocessor (const uint8_t *data, size_t size)
{
  fuzz_init ();
  g_autofree char *dir = scratch_dir ("config-preprocessor");
  link_shared (dir, "model.safetensors", "golden/models/tiny_quickgelu/hf/model.safetensors");
  link_shared (dir, "config.json", "golden/models/tiny_quickgelu/hf/config.json");
  load_model_dir ("config-preprocessor", "preprocessor_config.json", data, size);
  return 0;
}

/* ---------------------------------------------------------------- tokenizers */

/* Checks a loaded tokenizer: its ids agree with its size, and it encodes and survives a round trip
 * through its serialised form (which our checkpoints store). */
static void
check_tokenizer (ClipTokenizer *tok)
{
  int vocab = clip_tokenizer_get_vocab_size (tok);
  int sot = clip_tokenizer_get_sot_id (tok), eot = clip_tokenizer_get_eot_id (tok);
  if (vocab <= 0 || vocab > CLIP_MAX_VOCAB || sot < 0 || sot >= vocab || eot < 0 || eot >= vocab)
    fuzz_fail ("tokenizer of %d ids with SOT %d and EOT %d", vocab, sot, eot);
  int32_t ids[16];
  int n = clip_tokenizer_encode (tok, "a photo of a cat, the thing", 16, ids);
  if (n < 2 || n > 16 || ids[0] != sot || ids[n - 1] != eot)
    fuzz_fail ("encoding gave %d ids", n);
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= vocab)
      fuzz_fail ("id %d outside the vocabulary of %d", ids[i], vocab);

  g_autofree char *serial = clip_tokenizer_serialize (tok);
  GError *error = NULL;
  ClipTokenizer *back = clip_tokenizer_deserialize (serial, &error);
  if (back == NULL)
    fuzz_fail ("a loaded tokenizer does not survive serialisation: %s", error->message);
  g_autofree char *again = clip_tokenizer_serialize (back);
  if (strcmp (serial, again) != 0 || clip_tokenizer_get_vocab_size (back) != vocab)
    fuzz_fail ("serialising a deserialised tokenizer changes it");
  int32_t back_ids[16];
  if (clip_tokenizer_encode (back, "a photo of a cat, the thing", 16, back_ids) != n
      || memcmp (ids, back_ids, (size_t) n * sizeof (int32_t)) != 0)
    fuzz_fail ("the deserialised tokenizer encodes differently");
  clip_tokenizer_unref (back);
}

static void
load_tokenizer (const char *path)
{
  GError *error = NULL;
  ClipTokenizer *tok = clip_tokenizer_load (path, &error);
  check_outcome (tok != NULL, error, "clip_tokenizer_load");
  g_clear_error (&error);
  if (tok != NULL)
    {
      check_tokenizer (tok);
      clip_tokenizer_unref (tok);
    }
}

/* GPT-2's byte-to-unicode table (clip-reference.md §3): printable Latin-1 bytes stand for themselves, the others
 * for U+0100 onwards in byte order. */
static gunichar
byte_symbol (int b)
{
  int shifted = 0;
  for (int k = 0; k <= b; k++)
    {
      gboolean printable = (k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF);
      if (k == b)
        return printable ? (gunichar) b : (gunichar) (256 + shifted);
      if (!printable)
        shifted++;
    }
  return 0;
}

/* A small valid BPE: these merges, and a vocab.json of the 512 byte symbols, their results and the
 * two special tokens. */
static const char *const small_merges[] = {
  "t h", "i n", "a n", "th e</w>", "e r", "o n", "in g</w>", "a t", "c at</w>", "p h",
};

static char *
small_merges_text (void)
{
  GString *s = g_string_new ("#version: 0.2\n");
  for (size_t i = 0; i < G_N_ELEMENTS (small_merges); i++)
    g_string_append_printf (s, "%s\n", small_merges[i]);
  return g_string_free (s, FALSE);
}

static char *
small_vocab_json (void)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  int id = 0;
  for (int end = 0; end < 2; end++)
    for (int byte = 0; byte < 256; byte++)
      {
        char symbol[16] = { 0 };
        g_unichar_to_utf8 (byte_symbol (byte), symbol);
        g_autofree char *token = g_strconcat (symbol, end ? "</w>" : "", NULL);
        json_builder_set_member_name (b, token);
        json_builder_add_int_value (b, id++);
      }
  for (size_t i = 0; i < G_N_ELEMENTS (small_merges); i++)
    {
      g_auto (GStrv) parts = g_strsplit (small_merges[i], " ", 2);
      g_autofree char *merged = g_strconcat (parts[0], parts[1], NULL);
      json_builder_set_member_name (b, merged);
      json_builder_add_int_value (b, id++);
    }
  json_builder_set_member_name (b, "<|startoftext|>");
  json_builder_add_int_value (b, id++);
  json_builder_set_member_name (b, "<|endoftext|>");
  json_builder_add_int_value (b, id++);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

int
fuzz_tokenizer_vocab (const uint8_t *data, size_t size)
{
  fuzz_init ();
  g_autofree char *dir = scratch_dir ("tokenizer-vocab");
  g_autofree char *merges = g_build_filename (dir, "merges.txt", NULL);
  g_autofree char *vocab = g_build_filename (dir, "vocab.json", NULL);
  if (!g_file_test (merges, G_FILE_TEST_EXISTS))
    {
      g_autofree char *text = small_merges_text ();
      write_bytes (merges, text, strlen (text));
    }
  write_bytes (vocab, data, size);
  load_tokenizer (vocab);
  return 0;
}

/* The first byte chooses: even, merges.txt alone (its vocabulary derived); odd, with a valid
 * vocab.json beside it. */
int
fuzz_tokenizer_merges (const uint8_t *data, size_t size)
{
  fuzz_init ();
  if (size == 0)
    return 0;
  gboolean with_vocab = data[0] & 1;
  g_autofree char *dir = scratch_dir (with_vocab ? "tokenizer-merges-vocab" : "tokenizer-merges");
  g_autofree char *merges = g_build_filename (dir, "merges.txt", NULL);
  if (with_vocab)
    {
      g_autofree char *vocab = g_build_filename (dir, "vocab.json", NULL);
      if (!g_file_test (vocab, G_FILE_TEST_EXISTS))
        {
          g_autofree char *json = small_vocab_json ();
          write_bytes (vocab, json, strlen (json));
        }
    }
  write_bytes (merges, data + 1, size - 1);
  load_tokenizer (merges);
  return 0;
}

int
fuzz_tokenizer_json (const uint8_t *data, size_t size)
{
  fuzz_init ();
  g_autofree char *dir = scratch_dir ("tokenizer-json");
  g_autofree char *path = g_build_filename (dir, "tokenizer.json", NULL);
  write_bytes (path, data, size);
  load_tokenizer (path);
  return 0;
}

/* The first byte chooses: even, the rest is the .gz file as it is (the gzip layer); odd, the rest
 * is the text, compressed here (the merges reader behind it). */
int
fuzz_tokenizer_gz (const uint8_t *data, size_t size)
{
  fuzz_init ();
  if (size == 0)
    return 0;
  g_autofree char *dir = scratch_dir ("tokenizer-gz");
  g_autofree char *path = g_build_filename (dir, "bpe_simple_vocab_16e6.txt.gz", NULL);
  if (data[0] & 1)
    {
      g_autoptr (GZlibCompressor) gzip = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 1);
      g_autoptr (GOutputStream) memory = g_memory_output_stream_new_resizable ();
      g_autoptr (GOutputStream) out = g_converter_output_stream_new (memory, G_CONVERTER (gzip));
      gsize written;
      if (!g_output_stream_write_all (out, data + 1, size - 1, &written, NULL, NULL)
          || !g_output_stream_close (out, NULL, NULL))
        fuzz_fail ("cannot compress");
      write_bytes (path, g_memory_output_stream_get_data (G_MEMORY_OUTPUT_STREAM (memory)),
                   g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (memory)));
    }
  else
    write_bytes (path, data + 1, size - 1);
  load_tokenizer (path);
  return 0;
}

/* OpenAI's vocabulary from the shared folder, or the small one when it is not there. */
static ClipTokenizer *
encode_tokenizer (void)
{
  static ClipTokenizer *tok;
  if (tok == NULL)
    {
      g_autofree char *gz = tu_shared_path ("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz");
      GError *error = NULL;
      if (g_file_test (gz, G_FILE_TEST_IS_REGULAR))
        tok = clip_tokenizer_load (gz, &error);
      else
        {
          g_autofree char *text = small_merges_text ();
          g_autofree char *dir = scratch_dir ("tokenizer-encode");
          g_autofree char *merges = g_build_filename (dir, "merges.txt", NULL);
          write_bytes (merges, text, strlen (text));
          tok = clip_tokenizer_load (merges, &error);
        }
      if (tok == NULL)
        fuzz_fail ("cannot load the tokenizer: %s", error->message);
    }
  return tok;
}

/* Encodes TEXT both ways and checks the layout: SOT, the words' ids (a prefix of what
 * clip_tokenizer_encode_words gives), EOT, zeros. */
static void
check_encoding (const ClipTokenizer *tok, const char *text, int context_length)
{
  int vocab = clip_tokenizer_get_vocab_size (tok);
  size_t n_words = 0;
  g_autofree int32_t *words = clip_tokenizer_encode_words (tok, text, &n_words);
  for (size_t i = 0; i < n_words; i++)
    if (words[i] < 0 || words[i] >= vocab)
      fuzz_fail ("word id %d outside the vocabulary of %d", words[i], vocab);
  g_autofree int32_t *ids = g_new (int32_t, context_length);
  int n = clip_tokenizer_encode (tok, text, context_length, ids);
  size_t expected = MIN (n_words, (size_t) context_length - 2) + 2;
  if (n < 2 || (size_t) n != expected)
    fuzz_fail ("%d ids in a context of %d for %zu words", n, context_length, n_words);
  if (ids[0] != clip_tokenizer_get_sot_id (tok) || ids[n - 1] != clip_tokenizer_get_eot_id (tok))
    fuzz_fail ("the ids do not start with SOT and end with EOT");
  if (memcmp (ids + 1, words, (size_t) (n - 2) * sizeof (int32_t)) != 0)
    fuzz_fail ("the context's ids are not the words' ids");
  for (int i = n; i < context_length; i++)
    if (ids[i] != 0)
      fuzz_fail ("padding id %d is %d", i, ids[i]);
  g_autofree char *clean = clip_tokenizer_clean_text (text);
  if (!g_utf8_validate (clean, -1, NULL))
    fuzz_fail ("the cleaned text is not UTF-8");
}

/* The first byte picks the context length (2 … 129); the rest, up to a NUL, is the text. */
int
fuzz_tokenizer_encode (const uint8_t *data, size_t size)
{
  fuzz_init ();
  if (size == 0)
    return 0;
  int context_length = 2 + data[0] % 128;
  g_autofree char *text = bytes_to_string (data + 1, size - 1);
  check_encoding (encode_tokenizer (), text, context_length);
  g_autoptr (ClipTokenizer) bytes = clip_tokenizer_new_bytes ();
  check_encoding (bytes, text, context_length);
  return 0;
}

/* Our checkpoints' metadata: the model configuration (cliplab.config) and the tokenizer
 * (cliplab.tokenizer), both read from the same bytes. */
int
fuzz_metadata (const uint8_t *data, size_t size)
{
  fuzz_init ();
  g_autofree char *text = bytes_to_string (data, size);
  ClipConfig config;
  ClipPreprocess pre;
  clip_config_init_vit_b32 (&config);
  clip_preprocess_init_default (&pre);
  GError *error = NULL;
  gboolean ok = clip_config_from_json (text, &config, &pre, "fuzz metadata", &error);
  check_outcome (ok, error, "clip_config_from_json");
  g_clear_error (&error);
  if (ok)
    {
      ok = clip_config_validate (&config, "fuzz metadata", &error);
      check_outcome (ok, error, "clip_config_validate");
      g_clear_error (&error);
    }
  if (ok)
    {
      /* What we read, we must write back the same. */
      g_autofree char *json = clip_config_to_json (&config, &pre);
      ClipConfig again;
      ClipPreprocess pre_again;
      if (!clip_config_from_json (json, &again, &pre_again, "fuzz metadata", &error))
        fuzz_fail ("a configuration does not survive its own JSON: %s", error->message);
      if (memcmp (&again, &config, sizeof config) != 0)
        fuzz_fail ("a configuration changes through its own JSON");
    }

  ClipTokenizer *tok = clip_tokenizer_deserialize (text, &error);
  check_outcome (tok != NULL, error, "clip_tokenizer_deserialize");
  g_clear_error (&error);
  if (tok != NULL)
    {
      check_tokenizer (tok);
      clip_tokenizer_unref (tok);
    }
  return 0;
}

/* ---------------------------------------------------------------- images */

/* Bytes 0-2: width and height (1 … 4096 each, at most 2¹⁶ pixels: the arithmetic is what is tested,
 * extreme aspect ratios included, not the speed); byte 3: crop size 1 … 256 and, in its high bit, a constant image, whose crop must
 * be that constant; the rest fills the pixels, repeated. */
int
fuzz_image_preprocess (const uint8_t *data, size_t size)
{
  fuzz_init ();
  if (size < 4)
    return 0;
  int width = 1 + (((data[0] << 4) | (data[2] >> 4)) & 0xFFF);
  int height = 1 + (((data[1] << 4) | (data[2] & 0xF)) & 0xFFF);
  while ((int64_t) width * height > (1 << 16))
    {
      if (width > height)
        width /= 2;
      else
        height /= 2;
    }
  int crop_size = 1 + (data[3] & 0x7F) * 2;
  gboolean constant = (data[3] & 0x80) != 0;
  const uint8_t *fill = data + 4;
  size_t n_fill = size - 4;

  g_autoptr (ClipImage) image = clip_image_new (width, height);
  size_t n_bytes = (size_t) width * height * 3;
  for (size_t i = 0; i < n_bytes; i++)
    image->pixels[i] = n_fill == 0 ? 0 : constant ? fill[0] : fill[i % n_fill];

  g_autofree uint8_t *crop = g_malloc ((size_t) crop_size * crop_size * 3);
  clip_image_resize_crop (image, crop_size, crop);
  if (constant)
    for (size_t i = 0; i < (size_t) crop_size * crop_size * 3; i++)
      if (crop[i] != image->pixels[0])
        fuzz_fail ("%d×%d image of constant %d resized to %d: byte %zu is %d", width, height,
                 image->pixels[0], crop_size, i, crop[i]);

  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  pre.image_size = crop_size;
  g_autofree float *chw = g_new (float, (size_t) 3 * crop_size * crop_size);
  clip_image_normalize (crop, &pre, chw);
  for (size_t i = 0; i < (size_t) 3 * crop_size * crop_size; i++)
    if (!isfinite (chw[i]))
      fuzz_fail ("normalised value %zu is not finite", i);
  return 0;
}

/* The bytes as an image file; the first byte's low bit asks for EXIF orientation. */
int
fuzz_image_file (const uint8_t *data, size_t size)
{
  fuzz_init ();
  if (size == 0)
    return 0;
  g_autofree char *dir = scratch_dir ("image-file");
  g_autofree char *path = g_build_filename (dir, "image", NULL);
  write_bytes (path, data + 1, size - 1);
  GError *error = NULL;
  ClipImage *image = clip_image_load (path, data[0] & 1, &error);
  check_outcome (image != NULL, error, "clip_image_load");
  g_clear_error (&error);
  if (image == NULL)
    return 0;
  if (image->width <= 0 || image->height <= 0 || (int64_t) image->width * image->height > CLIP_MAX_IMAGE_PIXELS)
    fuzz_fail ("decoded a %d×%d image", image->width, image->height);
  /* Read every pixel (AddressSanitizer checks the buffer holds them) through the crop. */
  int crop_size = MAX (image->width, image->height) <= 64 ? 64 : 8;
  g_autofree uint8_t *crop = g_malloc ((size_t) crop_size * crop_size * 3);
  guint sum = 0;
  for (size_t i = 0; i < (size_t) image->width * image->height * 3; i++)
    sum += image->pixels[i];
  sink += sum;
  clip_image_resize_crop (image, crop_size, crop);
  clip_image_free (image);
  return 0;
}

/* ---------------------------------------------------------------- data sets */

/* An image root holding two decodable images, one in a subfolder, a text file named .png and a
 * symbolic link out of the root; the CSV is written beside it. */
static char *
csv_root (void)
{
  g_autofree char *dir = scratch_dir ("csv/images/sub");
  char *root = g_path_get_dirname (dir);
  g_autofree char *cat = g_build_filename (root, "cat.png", NULL);
  if (!g_file_test (cat, G_FILE_TEST_EXISTS))
    {
      g_autofree char *source = tu_shared_path ("golden/images/small_100x80.png");
      g_autofree char *contents = NULL;
      gsize len;
      if (!g_file_get_contents (source, &contents, &len, NULL))
        fuzz_fail ("%s is missing: the CSV harness needs the shared reference folder", source);
      g_autofree char *dog = g_build_filename (dir, "dog.png", NULL);
      g_autofree char *text = g_build_filename (root, "text.png", NULL);
      g_autofree char *escape = g_build_filename (root, "escape.png", NULL);
      write_bytes (cat, contents, len);
      write_bytes (dog, contents, len);
      write_bytes (text, "not an image\n", 13);
      if (symlink (source, escape) != 0)
        fuzz_fail ("cannot link %s", escape);
    }
  return root;
}

/* The bytes as a data set's CSV (image_path,caption[,label]); what loads must hold together: paths
 * inside the root, captions non-empty UTF-8, labels in range, issues with line numbers. */
int
fuzz_csv (const uint8_t *data, size_t size)
{
  fuzz_init ();
  g_autofree char *root = csv_root ();
  g_autofree char *csv_dir = scratch_dir ("csv");
  g_autofree char *csv = g_build_filename (csv_dir, "data.csv", NULL);
  write_bytes (csv, data, size);
  GError *error = NULL;
  ClipDataset *dataset = clip_dataset_load_csv (csv, root, &error);
  check_outcome (dataset != NULL, error, "clip_dataset_load_csv");
  g_clear_error (&error);
  if (dataset == NULL)
    return 0;
  g_autofree char *resolved = realpath (root, NULL);
  g_autofree char *prefix = g_strconcat (resolved, "/", NULL);
  int n = clip_dataset_get_size (dataset), n_labels = clip_dataset_get_n_labels (dataset);
  const int *groups = clip_dataset_get_caption_groups (dataset);
  if (n <= 0)
    fuzz_fail ("a data set loaded with %d rows", n);
  for (int i = 0; i < n; i++)
    {
      const char *path = clip_dataset_get_image_path (dataset, i);
      const char *caption = clip_dataset_get_caption (dataset, i);
      int label = clip_dataset_get_label (dataset, i);
      if (!g_str_has_prefix (path, prefix) || !g_file_test (path, G_FILE_TEST_IS_REGULAR))
        fuzz_fail ("row %d: image path %s is not a file inside %s", i, path, prefix);
      if (caption == NULL || caption[0] == '\0' || !g_utf8_validate (caption, -1, NULL))
        fuzz_fail ("row %d: empty or invalid caption", i);
      if (label < -1 || label >= n_labels || (n_labels > 0 && label < 0))
        fuzz_fail ("row %d: label %d of %d", i, label, n_labels);
      if (label >= 0 && clip_dataset_get_label_name (dataset, label) == NULL)
        fuzz_fail ("label %d has no name", label);
      if (clip_dataset_get_line (dataset, i) < 2)
        fuzz_fail ("row %d: line %d", i, clip_dataset_get_line (dataset, i));
      if (groups[i] < 0 || groups[i] >= n)
        fuzz_fail ("row %d: caption group %d", i, groups[i]);
    }
  GPtrArray *issues = clip_dataset_get_issues (dataset);
  for (guint i = 0; i < issues->len; i++)
    {
      const ClipDatasetIssue *issue = issues->pdata[i];
      if (issue->line < 1 || issue->reason == NULL || issue->reason[0] == '\0')
        fuzz_fail ("issue %u: line %d without a reason", i, issue->line);
    }
  clip_dataset_free (dataset);
  return 0;
}

/* ---------------------------------------------------------------- the other data set formats */

/* What any data set that opened must hold together: rows name images in range, captions are non-empty
 * UTF-8, labels are in range, files (when the images have them) are inside the root, and every issue
 * names its file and gives a reason.  Then the images are decoded, which must keep all that true. */
static void
check_dataset (ClipDataset *dataset, const char *what)
{
  const int n = clip_dataset_get_size (dataset), n_images = clip_dataset_get_n_images (dataset);
  const int n_labels = clip_dataset_get_n_labels (dataset);
  const char *root = clip_dataset_get_image_root (dataset);
  if (n <= 0 || n_images <= 0 || n_images > n)
    fuzz_fail ("%s: %d rows of %d images", what, n, n_images);
  for (int i = 0; i < n; i++)
    {
      int image = clip_dataset_get_row_image (dataset, i);
      const char *caption = clip_dataset_get_caption (dataset, i);
      const char *path = clip_dataset_get_image_path (dataset, i);
      if (image < 0 || image >= n_images)
        fuzz_fail ("%s: row %d names image %d of %d", what, i, image, n_images);
      if (caption == NULL || caption[0] == '\0' || !g_utf8_validate (caption, -1, NULL))
        fuzz_fail ("%s: row %d: empty or invalid caption", what, i);
      if (path != NULL && (root == NULL || !g_file_test (path, G_FILE_TEST_IS_REGULAR)))
        fuzz_fail ("%s: row %d: %s is not a file under the root", what, i, path);
      int label = clip_dataset_get_image_label (dataset, image);
      if (label < -1 || label >= n_labels)
        fuzz_fail ("%s: image %d: label %d of %d", what, image, label, n_labels);
    }
  GPtrArray *issues = clip_dataset_get_issues (dataset);
  for (guint i = 0; i < issues->len; i++)
    {
      const ClipDatasetIssue *issue = issues->pdata[i];
      if (issue->file == NULL || issue->reason == NULL || issue->reason[0] == '\0')
        fuzz_fail ("%s: issue %u without its file or a reason", what, i);
    }
  GError *error = NULL;
  gboolean ok = clip_dataset_prepare_images (dataset, 8, FALSE, 1 << 20, NULL, NULL, &error);
  check_outcome (ok, error, "clip_dataset_prepare_images");
  g_clear_error (&error);
  for (int i = 0; ok && i < clip_dataset_get_n_images (dataset); i++)
    sink += clip_dataset_get_image_crop (dataset, i)[8 * 8 * 3 - 1];
}

static void
open_and_check (const char *path, ClipDatasetFormat format, const char *what)
{
  ClipDatasetOptions options;
  clip_dataset_options_init (&options);
  options.format = format;
  GError *error = NULL;
  ClipDataset *dataset = clip_dataset_open (path, &options, NULL, &error);
  check_outcome (dataset != NULL, error, what);
  g_clear_error (&error);
  if (dataset != NULL)
    check_dataset (dataset, what);
  clip_dataset_free (dataset);
}

/* The bytes as shard 0 of a WebDataset folder whose classnames.txt names three classes. */
int
fuzz_webdataset (const uint8_t *data, size_t size)
{
  fuzz_init ();
  g_autofree char *root = scratch_dir ("wds");
  g_autofree char *split = scratch_dir ("wds/test");
  g_autofree char *classnames = g_build_filename (root, "classnames.txt", NULL);
  g_autofree char *nshards = g_build_filename (split, "nshards.txt", NULL);
  g_autofree char *shard = g_build_filename (split, "0.tar", NULL);
  write_bytes (classnames, "cat\ndog\nbird\n", 13);
  write_bytes (nshards, "1\n", 2);
  write_bytes (shard, data, size);
  open_and_check (root, CLIP_DATASET_FORMAT_WEBDATASET, "a WebDataset shard");
  return 0;
}

/* The bytes as a COCO captions file, with images under ../val2017 (the CSV harness's images). */
int
fuzz_coco (const uint8_t *data, size_t size)
{
  fuzz_init ();
  g_autofree char *images = csv_root ();
  g_autofree char *dir = scratch_dir ("coco/annotations");
  g_autofree char *parent = g_path_get_dirname (dir);
  g_autofree char *val2017 = g_build_filename (parent, "val2017", NULL);
  if (!g_file_test (val2017, G_FILE_TEST_EXISTS) && symlink (images, val2017) != 0)
    fuzz_fail ("cannot link %s", val2017);
  g_autofree char *path = g_build_filename (dir, "captions_val2017.json", NULL);
  write_bytes (path, data, size);
  open_and_check (path, CLIP_DATASET_FORMAT_COCO, "a COCO captions file");
  return 0;
}

/* The bytes as a Karpathy split JSON beside the CSV harness's images (its test split). */
int
fuzz_karpathy (const uint8_t *data, size_t size)
{
  fuzz_init ();
  g_autofree char *images = csv_root ();
  g_autofree char *path = g_build_filename (images, "dataset_fuzz.json", NULL);
  write_bytes (path, data, size);
  open_and_check (path, CLIP_DATASET_FORMAT_KARPATHY, "a Karpathy split");
  return 0;
}

/* ---------------------------------------------------------------- the index */

#define INDEX_FOLDER "/fuzz/photos"
/* A dimension that takes codes (index-store.c), so that they are written and read too. */
#define INDEX_DIM    CLIP_INDEX_CODES_BLOCK
#define INDEX_MAX_ENTRIES 64

/* What the reader accepts as a stored path: relative, no empty, "." or ".." component. */
static gboolean
index_path_is_clean (const char *p)
{
  if (p[0] == '\0' || p[0] == '/' || strlen (p) > CLIP_INDEX_MAX_PATH)
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (p, "/", -1);
  for (char **part = parts; *part != NULL; part++)
    if (**part == '\0' || strcmp (*part, ".") == 0 || strcmp (*part, "..") == 0)
      return FALSE;
  return TRUE;
}

typedef struct {
  GArray    *entries;   /* ClipIndexEntry */
  GPtrArray *paths;     /* owns the paths */
  gboolean   clean;     /* every path is one the reader accepts */
} IndexBatch;

static void
index_batch_init (IndexBatch *b)
{
  b->entries = g_array_new (FALSE, TRUE, sizeof (ClipIndexEntry));
  b->paths = g_ptr_array_new_with_free_func (g_free);
  b->clean = TRUE;
}

static void
index_batch_clear (IndexBatch *b)
{
  g_array_unref (b->entries);
  g_ptr_array_unref (b->paths);
}

static void
index_batch_add (IndexBatch *b, char *path, uint64_t size, const float *embedding)
{
  ClipIndexEntry e = { .path = path, .size = size, .mtime_ns = (int64_t) size * 1000, .embedding = embedding };
  memset (e.hash, (int) size, sizeof e.hash);
  g_ptr_array_add (b->paths, path);
  g_array_append_val (b->entries, e);
  b->clean &= index_path_is_clean (path);
}

/* A unit vector of INDEX_DIM equal values. */
static const float *
index_unit (void)
{
  static float unit[INDEX_DIM];
  for (int k = 0; k < INDEX_DIM; k++)
    unit[k] = 1.0f / sqrtf (INDEX_DIM);
  return unit;
}

/* Reads every code and scale the store took from the file (for the sanitizers); when WRITTEN (the
 * file as the writer left it), they must be there, those of the embeddings. */
static void
index_check_codes (ClipIndexStore *store, gboolean written)
{
  guint n_blocks;
  const ClipIndexRowBlock *blocks = clip_index_store_blocks (store, &n_blocks);
  if (written && !clip_index_store_has_codes (store))
    fuzz_fail ("a file as written lacks codes");
  for (guint b = 0; b < n_blocks; b++)
    {
      const ClipIndexRowBlock *block = &blocks[b];
      if (block->codes == NULL)
        continue;
      guint sum = 0;
      for (size_t i = 0; i < block->n * INDEX_DIM / 2; i++)
        sum += block->codes[i];
      for (size_t r = 0; r < block->n; r++)
        sum += (guint) isfinite (block->scales[r]);
      sink += sum;
      for (size_t r = 0; written && r < block->n; r++)
        {
          const float *row = block->embeds + r * INDEX_DIM;
          uint8_t codes[INDEX_DIM / 2];
          float scale;
          clip_index_codes_encode (&row, 1, INDEX_DIM, codes, &scale);
          if (memcmp (codes, block->codes + r * INDEX_DIM / 2, sizeof codes) != 0 || scale != block->scales[r])
            fuzz_fail ("block %u, row %zu: the codes read are not those of the embedding", b, r);
        }
    }
}

/* Checks a store read back: clean unique paths, readable rows and codes; and when EXPECTED (path →
 * size) is given, exactly those entries, without a warning when ALL_CLEAN (no path was one the
 * reader refuses). */
static void
index_check_store (ClipIndexStore *store, size_t file_size, GHashTable *expected, gboolean all_clean)
{
  size_t n;
  const ClipIndexEntry *entries = clip_index_store_entries (store, &n);
  size_t n_rows = clip_index_store_n_rows (store);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (size_t i = 0; i < n; i++)
    {
      const char *p = entries[i].path;
      if (!index_path_is_clean (p))
        fuzz_fail ("entry %zu: path '%s' is not a clean relative path", i, p);
      if (!g_hash_table_add (seen, (gpointer) p))
        fuzz_fail ("entry %zu: path '%s' appears twice", i, p);
      if (entries[i].row >= n_rows)
        fuzz_fail ("entry %zu: row %" G_GUINT64_FORMAT " of %zu", i, entries[i].row, n_rows);
      float sum = 0;
      for (int k = 0; k < INDEX_DIM; k++)
        sum += entries[i].embedding[k];
      sink += (guint) isfinite (sum);
      gpointer want;
      if (expected != NULL && (!g_hash_table_lookup_extended (expected, p, NULL, &want)
                               || GPOINTER_TO_UINT (want) != entries[i].size))
        fuzz_fail ("entry '%s' (size %" G_GUINT64_FORMAT ") was not written so", p, entries[i].size);
    }
  if (expected != NULL && n != g_hash_table_size (expected))
    fuzz_fail ("%zu entries read back, %u written", n, g_hash_table_size (expected));
  g_autofree float *scores = g_new (float, MAX (n_rows, 1));
  clip_index_store_scores (store, index_unit (), scores);
  index_check_codes (store, expected != NULL && all_clean);
  for (const char *const *w = clip_index_store_warnings (store); *w != NULL; w++)
    if ((*w)[0] == '\0')
      fuzz_fail ("an empty warning");
  if (expected != NULL && all_clean && clip_index_store_warnings (store)[0] != NULL)
    fuzz_fail ("an undamaged file gave the warning: %s", clip_index_store_warnings (store)[0]);
  uint64_t next_sequence;
  if (clip_index_store_end (store, &next_sequence) > MAX (file_size, 1))
    fuzz_fail ("the next block would go past the end of the file");
}

/* The bytes as an index file.  Byte 0: bit 0, the rest is the file as it is; else it describes one:
 * entries as [path length][path][selector] (even selector: the compacted block, written with
 * clip_index_store_write; odd: a journal block appended with clip_index_store_append) up to a 0xFF,
 * then damage as [offset hi][offset lo][byte] (a zero byte truncates there, others are XORed in).
 * Bit 1 reads the file as one another process is appending to.  What the reader keeps must be sane;
 * an undamaged file must read back exactly as written. */
int
fuzz_index (const uint8_t *data, size_t size)
{
  fuzz_init ();
  if (size == 0)
    return 0;
  g_autofree char *dir = scratch_dir ("index");
  g_autofree char *path = g_build_filename (dir, "photos.cliplab-index", NULL);
  static const uint8_t key[CLIP_INDEX_KEY_BYTES] = { 0 };
  const float *unit = index_unit ();
  const uint8_t *p = data + 1, *end = data + size;
  g_autoptr (GHashTable) expected = NULL;
  gboolean all_clean = TRUE;
  GError *error = NULL;
  g_unlink (path);

  if (data[0] & 1)
    write_bytes (path, p, (size_t) (end - p));
  else
    {
      IndexBatch batches[2];
      index_batch_init (&batches[0]);
      index_batch_init (&batches[1]);
      /* Paths are unique within each block: clip_index_store_write requires it, and which of two
       * entries of one block wins is not specified (later blocks win). */
      g_autoptr (GHashTable) in_compacted = g_hash_table_new (g_str_hash, g_str_equal);
      g_autoptr (GHashTable) in_journal = g_hash_table_new (g_str_hash, g_str_equal);
      GHashTable *in_block[2] = { in_compacted, in_journal };
      for (int i = 0; p < end && *p != 0xFF && i < INDEX_MAX_ENTRIES; i++)
        {
          size_t len = *p++ % 48;
          if ((size_t) (end - p) < len + 1)
            break;
          char *entry_path = g_strndup ((const char *) p, len);
          p += len;
          int which = *p++ & 1;
          if (g_hash_table_contains (in_block[which], entry_path))
            {
              g_free (entry_path);
              continue;
            }
          g_hash_table_add (in_block[which], entry_path);
          index_batch_add (&batches[which], entry_path, (uint64_t) (which + 1) * 1000 + (uint64_t) i, unit);
        }
      if (p < end && *p == 0xFF)
        p++;
      gboolean ok = clip_index_store_write (path, INDEX_FOLDER, key, INDEX_DIM,
                                            (const ClipIndexEntry *) (void *) batches[0].entries->data,
                                            batches[0].entries->len, &error);
      check_outcome (ok, error, "clip_index_store_write");
      g_clear_error (&error);
      if (ok && batches[1].entries->len > 0)
        {
          ClipIndexStore *store = clip_index_store_read (path, INDEX_FOLDER, key, INDEX_DIM, FALSE, &error);
          check_outcome (store != NULL, error, "clip_index_store_read");
          uint64_t sequence, offset = clip_index_store_end (store, &sequence);
          clip_index_store_free (store);
          int fd = open (path, O_RDWR);
          if (fd < 0)
            fuzz_fail ("cannot open %s", path);
          ok = clip_index_store_append (fd, path, &offset, &sequence, INDEX_DIM,
                                        (const ClipIndexEntry *) (void *) batches[1].entries->data,
                                        batches[1].entries->len, &error);
          check_outcome (ok, error, "clip_index_store_append");
          g_clear_error (&error);
          close (fd);
        }
      if (ok && p == end)
        {
          /* Undamaged: later blocks win; a block holding a path the reader refuses is dropped. */
          expected = g_hash_table_new (g_str_hash, g_str_equal);
          all_clean = batches[0].clean && batches[1].clean;
          for (int b = 0; b < 2; b++)
            for (guint i = 0; batches[b].clean && i < batches[b].entries->len; i++)
              {
                const ClipIndexEntry *e = &g_array_index (batches[b].entries, ClipIndexEntry, i);
                g_hash_table_insert (expected, (gpointer) g_intern_string (e->path), GUINT_TO_POINTER ((guint) e->size));
              }
        }
      index_batch_clear (&batches[0]);
      index_batch_clear (&batches[1]);
      if (!ok)
        return 0;

      g_autofree char *contents = NULL;
      gsize len;
      if (!g_file_get_contents (path, &contents, &len, NULL))
        fuzz_fail ("cannot read back %s", path);
      for (; end - p >= 3 && len > 0; p += 3)
        {
          gsize at = (((gsize) p[0] << 8) | p[1]) % len;
          if (p[2] == 0)
            len = at;
          else
            contents[at] ^= (char) p[2];
        }
      write_bytes (path, contents, len);
    }

  gsize file_size = 0;
  g_autofree char *bytes = NULL;
  g_file_get_contents (path, &bytes, &file_size, NULL);
  ClipIndexStore *store = clip_index_store_read (path, INDEX_FOLDER, key, INDEX_DIM, (data[0] & 2) != 0, &error);
  check_outcome (store != NULL, error, "clip_index_store_read");
  g_clear_error (&error);
  if (store == NULL)
    return 0;
  index_check_store (store, file_size, expected, all_clean);
  clip_index_store_free (store);
  return 0;
}
