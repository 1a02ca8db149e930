/* test-tokenizer.c — CLIP's BPE tokenizer against OpenAI's ids (golden/tokenizer) from each
 * vocabulary source: OpenAI's .txt.gz, an HF vocab.json + merges.txt pair and an HF tokenizer.json,
 * both written here from the .txt.gz as HF derives them (clip-reference.md §3.3, §3.9) without the library's
 * code.  Then the spec's examples, truncation, the byte tokenizer, serialisation, the text
 * cleaning steps, threads, long input, and one test per malformed input. */
#include "clip.h"
#include "testutil.h"
#include "tokenizer-private.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#define N_MERGES 48894
#define SOT      49406
#define EOT      49407

typedef struct {
  char   *text;
  GArray *bpe_ids;    /* int32_t */
  GArray *context77;  /* int32_t */
} GoldenCase;

static GPtrArray     *golden;        /* GoldenCase */
static GPtrArray     *merges;        /* "a b" lines 1…48,894 of OpenAI's file, read by the test */
static char          *openai_gz;
static ClipTokenizer *openai;        /* loaded once from openai_gz */

/* ---------------------------------------------------------------- fixtures */

static char *
test_dir (const char *name)
{
  char *dir = g_build_filename (tu_tmpdir (), name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

static GArray *
int_array (JsonArray *array)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (int32_t));
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      int32_t v = (int32_t) json_array_get_int_element (array, i);
      g_array_append_val (out, v);
    }
  return out;
}

static void
load_golden (void)
{
  g_autofree char *strings_path = tu_shared_path ("golden/tokenizer/strings.json");
  g_autofree char *ids_path = tu_shared_path ("golden/tokenizer/openai.json");
  g_autoptr (JsonParser) strings = json_parser_new ();
  g_autoptr (JsonParser) ids = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_file (strings, strings_path, &error);
  g_assert_no_error (error);
  json_parser_load_from_file (ids, ids_path, &error);
  g_assert_no_error (error);
  JsonArray *texts = json_node_get_array (json_parser_get_root (strings));
  JsonArray *cases = json_node_get_array (json_parser_get_root (ids));
  g_assert_cmpuint (json_array_get_length (texts), ==, json_array_get_length (cases));
  golden = g_ptr_array_new ();
  for (guint i = 0; i < json_array_get_length (cases); i++)
    {
      JsonObject *obj = json_array_get_object_element (cases, i);
      GoldenCase *c = g_new0 (GoldenCase, 1);
      c->text = g_strdup (json_object_get_string_member (obj, "text"));
      g_assert_cmpstr (c->text, ==, json_array_get_string_element (texts, i));
      c->bpe_ids = int_array (json_object_get_array_member (obj, "bpe_ids"));
      c->context77 = int_array (json_object_get_array_member (obj, "context77"));
      g_assert_cmpuint (c->context77->len, ==, 77);
      g_ptr_array_add (golden, c);
    }
  g_assert_cmpuint (golden->len, >=, 40);
}

/* Lines 1…48,894 of OpenAI's file through GIO's gunzip, as simple_tokenizer.py slices them. */
static void
read_openai_merges (void)
{
  g_autoptr (GFile) file = g_file_new_for_path (openai_gz);
  g_autoptr (GError) error = NULL;
  g_autoptr (GFileInputStream) raw = g_file_read (file, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GZlibDecompressor) gunzip = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr (GInputStream) text = g_converter_input_stream_new (G_INPUT_STREAM (raw), G_CONVERTER (gunzip));
  g_autoptr (GDataInputStream) lines = g_data_input_stream_new (text);
  merges = g_ptr_array_new_with_free_func (g_free);
  g_free (g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error));  /* the header */
  while (merges->len < N_MERGES)
    {
      char *line = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (line);
      g_ptr_array_add (merges, line);
    }
  g_assert_cmpstr (merges->pdata[0], ==, "i n");
  g_assert_cmpstr (merges->pdata[N_MERGES - 1], ==, "jeky ll</w>");
}

/* clip-reference.md §3.1: the 256 byte symbols in vocabulary order (printable bytes first, then U+0100 + n). */
static GPtrArray *
byte_symbols (void)
{
  GPtrArray *symbols = g_ptr_array_new_with_free_func (g_free);
  int n_other = 0;
  gunichar other[68];
  for (int b = 0; b < 256; b++)
    {
      gboolean printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      if (printable)
        g_ptr_array_add (symbols, g_ucs4_to_utf8 ((gunichar[]) { (gunichar) b }, 1, NULL, NULL, NULL));
      else
        {
          other[n_other] = 0x100 + (gunichar) n_other;
          n_other++;
        }
    }
  g_assert_cmpint (n_other, ==, 68);
  for (int i = 0; i < n_other; i++)
    g_ptr_array_add (symbols, g_ucs4_to_utf8 (&other[i], 1, NULL, NULL, NULL));
  return symbols;
}

/* HF's vocab.json (clip-reference.md §3.3): byte symbols, their </w> forms, one token per merge, SOT, EOT. */
static JsonObject *
build_vocab (const char *sot, const char *eot)
{
  g_autoptr (GPtrArray) symbols = byte_symbols ();
  JsonObject *vocab = json_object_new ();
  for (guint i = 0; i < 256; i++)
    {
      g_autofree char *end = g_strconcat (symbols->pdata[i], "</w>", NULL);
      json_object_set_int_member (vocab, symbols->pdata[i], i);
      json_object_set_int_member (vocab, end, 256 + i);
    }
  for (guint r = 0; r < merges->len; r++)
    {
      g_auto (GStrv) pair = g_strsplit (merges->pdata[r], " ", 2);
      g_autofree char *token = g_strconcat (pair[0], pair[1], NULL);
      json_object_set_int_member (vocab, token, 512 + r);
    }
  json_object_set_int_member (vocab, sot, SOT);
  json_object_set_int_member (vocab, eot, EOT);
  g_assert_cmpuint (json_object_get_size (vocab), ==, 49408);
  return vocab;
}

static void
write_json (const char *path, JsonNode *root)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (GError) error = NULL;
  json_generator_set_root (generator, root);
  json_generator_to_file (generator, path, &error);
  g_assert_no_error (error);
}

static void
write_vocab (const char *path, JsonObject *vocab)
{
  g_autoptr (JsonNode) root = json_node_init_object (json_node_alloc (), vocab);
  write_json (path, root);
}

/* merges.txt with HF's header and the first N merges. */
static void
write_merges (const char *path, guint n)
{
  g_autoptr (GString) text = g_string_new ("#version: 0.2\n");
  for (guint r = 0; r < n; r++)
    g_string_append_printf (text, "%s\n", (char *) merges->pdata[r]);
  tu_write_file (path, text->str, text->len);
}

/* HF's fast-tokenizer layout; merges as "a b" strings, or as [a, b] pairs with the special tokens
 * only in added_tokens. */
static void
write_tokenizer_json (const char *path, gboolean pairs)
{
  JsonObject *vocab = build_vocab ("<|startoftext|>", "<|endoftext|>");
  if (pairs)
    {
      json_object_remove_member (vocab, "<|startoftext|>");
      json_object_remove_member (vocab, "<|endoftext|>");
    }
  JsonArray *merge_list = json_array_new ();
  for (guint r = 0; r < merges->len; r++)
    if (pairs)
      {
        g_auto (GStrv) pair = g_strsplit (merges->pdata[r], " ", 2);
        JsonArray *two = json_array_new ();
        json_array_add_string_element (two, pair[0]);
        json_array_add_string_element (two, pair[1]);
        json_array_add_array_element (merge_list, two);
      }
    else
      json_array_add_string_element (merge_list, merges->pdata[r]);
  JsonObject *model = json_object_new ();
  json_object_set_string_member (model, "type", "BPE");
  json_object_set_object_member (model, "vocab", vocab);
  json_object_set_array_member (model, "merges", merge_list);
  json_object_set_string_member (model, "end_of_word_suffix", "</w>");
  JsonArray *added = json_array_new ();
  const char *specials[] = { "<|startoftext|>", "<|endoftext|>" };
  for (int i = 0; i < 2; i++)
    {
      JsonObject *token = json_object_new ();
      json_object_set_int_member (token, "id", SOT + i);
      json_object_set_string_member (token, "content", specials[i]);
      json_array_add_object_element (added, token);
    }
  JsonObject *root = json_object_new ();
  json_object_set_object_member (root, "model", model);
  json_object_set_array_member (root, "added_tokens", added);
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), root);
  json_object_unref (root);
  write_json (path, node);
}

static void
write_gzip (const char *path, const void *data, gsize len)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GError) error = NULL;
  g_autoptr (GFileOutputStream) raw = g_file_replace (file, NULL, FALSE, G_FILE_CREATE_NONE, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GZlibCompressor) gzip = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 1);
  g_autoptr (GOutputStream) out = g_converter_output_stream_new (G_OUTPUT_STREAM (raw), G_CONVERTER (gzip));
  g_output_stream_write_all (out, data, len, NULL, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_close (out, NULL, &error);
  g_assert_no_error (error);
}

static ClipTokenizer *
load_ok (const char *path)
{
  g_autoptr (GError) error = NULL;
  ClipTokenizer *tok = clip_tokenizer_load (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (tok);
  return tok;
}

static void
assert_ids (const int32_t *got, size_t n_got, const int32_t *want, size_t n_want, const char *what)
{
  if (n_got == n_want && (n_want == 0 || memcmp (got, want, n_want * sizeof (int32_t)) == 0))
    return;
  g_autoptr (GString) msg = g_string_new (NULL);
  g_string_append_printf (msg, "%s: got %zu ids:", what, n_got);
  for (size_t i = 0; i < n_got; i++)
    g_string_append_printf (msg, " %d", got[i]);
  g_string_append_printf (msg, "; want %zu:", n_want);
  for (size_t i = 0; i < n_want; i++)
    g_string_append_printf (msg, " %d", want[i]);
  g_test_fail_printf ("%s", msg->str);
}

static void
assert_encodes (const ClipTokenizer *tok, const char *text, const int32_t *want, size_t n_want)
{
  size_t n;
  g_autofree int32_t *ids = clip_tokenizer_encode_words (tok, text, &n);
  assert_ids (ids, n, want, n_want, text);
}

/* Every golden string gives OpenAI's bpe_ids and context77. */
static void
check_golden (const ClipTokenizer *tok)
{
  g_assert_cmpint (clip_tokenizer_get_kind (tok), ==, CLIP_TOKENIZER_BPE);
  g_assert_cmpint (clip_tokenizer_get_vocab_size (tok), ==, 49408);
  g_assert_cmpint (clip_tokenizer_get_sot_id (tok), ==, SOT);
  g_assert_cmpint (clip_tokenizer_get_eot_id (tok), ==, EOT);
  g_assert_cmpstr (clip_tokenizer_describe (tok), ==, "CLIP BPE (49408 ids, 48894 merges)");
  for (guint i = 0; i < golden->len; i++)
    {
      const GoldenCase *c = golden->pdata[i];
      size_t n;
      g_autofree int32_t *ids = clip_tokenizer_encode_words (tok, c->text, &n);
      assert_ids (ids, n, (int32_t *) c->bpe_ids->data, c->bpe_ids->len, c->text);
      int32_t row[77];
      int used = clip_tokenizer_encode (tok, c->text, 77, row);
      assert_ids (row, 77, (int32_t *) c->context77->data, 77, c->text);
      g_assert_cmpint (used, ==, MIN ((int) c->bpe_ids->len + 2, 77));
    }
}

/* ---------------------------------------------------------------- golden ids from each source */

static void
test_golden_openai_gz (void)
{
  check_golden (openai);
}

static void
test_golden_vocab_merges (void)
{
  g_autofree char *dir = test_dir ("hf");
  g_autofree char *vocab = g_build_filename (dir, "vocab.json", NULL);
  g_autofree char *merges_txt = g_build_filename (dir, "merges.txt", NULL);
  write_vocab (vocab, build_vocab ("<|startoftext|>", "<|endoftext|>"));
  write_merges (merges_txt, N_MERGES);
  const char *paths[] = { dir, vocab, merges_txt };
  for (size_t i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_test_message ("loading %s", paths[i]);
      g_autoptr (ClipTokenizer) tok = load_ok (paths[i]);
      check_golden (tok);
      /* HF's vocabulary is the derived one: the same compact serialised form */
      g_autofree char *data = clip_tokenizer_serialize (tok);
      g_autofree char *want = clip_tokenizer_serialize (openai);
      g_assert_cmpstr (data, ==, want);
    }
}

static void
test_golden_tokenizer_json (void)
{
  g_autofree char *dir = test_dir ("fast");
  g_autofree char *path = g_build_filename (dir, "tokenizer.json", NULL);
  write_tokenizer_json (path, FALSE);
  g_autoptr (ClipTokenizer) from_file = load_ok (path);
  check_golden (from_file);
  g_autoptr (ClipTokenizer) from_dir = load_ok (dir);
  check_golden (from_dir);
}

static void
test_golden_tokenizer_json_pairs (void)
{
  g_autofree char *dir = test_dir ("fast-pairs");
  g_autofree char *path = g_build_filename (dir, "tokenizer.json", NULL);
  write_tokenizer_json (path, TRUE);
  g_autoptr (ClipTokenizer) tok = load_ok (path);
  check_golden (tok);
}

/* merges.txt alone: the vocabulary derived as clip-reference.md §3.3 is HF's vocab.json.  Under OpenAI's header
 * line only the first 48,894 merges count, as in simple_tokenizer.py. */
static void
test_golden_merges_only (void)
{
  g_autofree char *dir = test_dir ("merges-only");
  g_autofree char *path = g_build_filename (dir, "merges.txt", NULL);
  write_merges (path, N_MERGES);
  g_autoptr (ClipTokenizer) tok = load_ok (path);
  check_golden (tok);

  g_autofree char *openai_dir = test_dir ("merges-openai-header");
  g_autofree char *openai_txt = g_build_filename (openai_dir, "merges.txt", NULL);
  g_autoptr (GString) text = g_string_new ("\"bpe_simple_vocab_16e6.txt#version: 0.2\n");
  for (guint r = 0; r < merges->len; r++)
    g_string_append_printf (text, "%s\n", (char *) merges->pdata[r]);
  g_string_append (text, "ha bib</w>\nfre ya</w>\n");  /* lines 48,895 and on: not used */
  tu_write_file (openai_txt, text->str, text->len);
  g_autoptr (ClipTokenizer) capped = load_ok (openai_txt);
  check_golden (capped);
}

/* ---------------------------------------------------------------- behaviour */

static void
test_spec_examples (void)
{
  assert_encodes (openai, "hello world", (int32_t[]) { 3306, 1002 }, 2);
  assert_encodes (openai, "a photo of a cat", (int32_t[]) { 320, 1125, 539, 320, 2368 }, 5);
  assert_encodes (openai, "a photo of a dog", (int32_t[]) { 320, 1125, 539, 320, 1929 }, 5);
  assert_encodes (openai, "a diagram", (int32_t[]) { 320, 22697 }, 2);
  assert_encodes (openai, "itap of a goldfish.", (int32_t[]) { 529, 2728, 539, 320, 40293, 269 }, 6);
  assert_encodes (openai, "Hello, World!! It's 2021 &amp; I'm   here.",
                  (int32_t[]) { 3306, 267, 1002, 748, 585, 568, 273, 271, 273, 272, 261, 328, 880, 763, 269 }, 15);
  assert_encodes (openai, " ", NULL, 0);

  int32_t row[77];
  g_assert_cmpint (clip_tokenizer_encode (openai, "<|endoftext|>", 77, row), ==, 3);
  assert_ids (row, 4, (int32_t[]) { SOT, EOT, EOT, 0 }, 4, "<|endoftext|>");

  g_autoptr (GString) words = g_string_new (NULL);
  for (int i = 0; i < 100; i++)
    g_string_append (words, "word ");
  size_t n;
  g_autofree int32_t *ids = clip_tokenizer_encode_words (openai, words->str, &n);
  g_assert_cmpuint (n + 2, ==, 102);
  g_assert_cmpint (clip_tokenizer_encode (openai, words->str, 77, row), ==, 77);
  g_assert_cmpint (row[0], ==, SOT);
  for (int i = 1; i < 76; i++)
    g_assert_cmpint (row[i], ==, ids[0]);
  g_assert_cmpint (row[76], ==, EOT);
}

static void
test_context_lengths (void)
{
  int32_t row[8];
  memset (row, 0x55, sizeof row);
  g_assert_cmpint (clip_tokenizer_encode (openai, "a photo of a cat", 5, row), ==, 5);
  assert_ids (row, 5, (int32_t[]) { SOT, 320, 1125, 539, EOT }, 5, "context 5");
  g_assert_cmpint (row[5], ==, 0x55555555);  /* nothing written past the context */
  g_assert_cmpint (clip_tokenizer_encode (openai, "a photo of a cat", 2, row), ==, 2);
  assert_ids (row, 2, (int32_t[]) { SOT, EOT }, 2, "context 2");
  g_assert_cmpint (clip_tokenizer_encode (openai, "cat", 8, row), ==, 3);
  assert_ids (row, 8, (int32_t[]) { SOT, 2368, EOT, 0, 0, 0, 0, 0 }, 8, "padded");
}

/* The regex's quirks: special-token literals (matched case-insensitively) are SOT/EOT unless a run
 * of punctuation swallows their '<' first; IGNORECASE case folding. */
static void
test_special_literals (void)
{
  assert_encodes (openai, "<|startoftext|>cat<|ENDOFTEXT|>", (int32_t[]) { SOT, 2368, EOT }, 3);
  size_t n;
  g_autofree int32_t *ids = clip_tokenizer_encode_words (openai, "!<|endoftext|>", &n);
  for (size_t i = 0; i < n; i++)
    g_assert_cmpint (ids[i], !=, EOT);
  /* U+017F long s folds to s: "'ſ" is a contraction, one word */
  g_autofree int32_t *contraction = clip_tokenizer_encode_words (openai, "'\xc5\xbf", &n);
  g_autofree int32_t *apart = clip_tokenizer_encode_words (openai, "' \xc5\xbf", &n);
  g_assert_cmpint (contraction[0], !=, apart[0]);
  /* U+0345 folds to a letter, so under IGNORECASE it is neither letter nor "other": it splits
   * words and vanishes like whitespace */
  g_autofree int32_t *split = clip_tokenizer_encode_words (openai, "cat\xcd\x85" "dog", &n);
  assert_ids (split, n, (int32_t[]) { 2368, 1929 }, 2, "cat U+0345 dog");
}

static void
test_bytes (void)
{
  g_autoptr (ClipTokenizer) tok = clip_tokenizer_new_bytes ();
  g_autoptr (ClipTokenizer) named = load_ok ("bytes");
  g_assert_cmpint (clip_tokenizer_get_kind (named), ==, CLIP_TOKENIZER_BYTES);
  g_assert_cmpint (clip_tokenizer_get_kind (tok), ==, CLIP_TOKENIZER_BYTES);
  g_assert_cmpint (clip_tokenizer_get_vocab_size (tok), ==, 258);
  g_assert_cmpint (clip_tokenizer_get_sot_id (tok), ==, 256);
  g_assert_cmpint (clip_tokenizer_get_eot_id (tok), ==, 257);
  g_assert_cmpstr (clip_tokenizer_describe (tok), ==, "bytes (258 ids)");

  /* the same cleaning: lower-case, collapsed whitespace, &amp; decoded */
  assert_encodes (tok, "  Hi\t&amp; yo! ", (int32_t[]) { 'h', 'i', ' ', '&', ' ', 'y', 'o', '!' }, 8);
  assert_encodes (tok, "Café ☕", (int32_t[]) { 'c', 'a', 'f', 0xC3, 0xA9, ' ', 0xE2, 0x98, 0x95 }, 9);

  int32_t row[6];
  g_assert_cmpint (clip_tokenizer_encode (tok, "abcdefgh", 6, row), ==, 6);
  assert_ids (row, 6, (int32_t[]) { 256, 'a', 'b', 'c', 'd', 257 }, 6, "bytes truncated");
  g_assert_cmpint (clip_tokenizer_encode (tok, "ab", 6, row), ==, 4);
  assert_ids (row, 6, (int32_t[]) { 256, 'a', 'b', 257, 0, 0 }, 6, "bytes padded");
}

static void
assert_same_ids (const ClipTokenizer *a, const ClipTokenizer *b)
{
  for (guint i = 0; i < golden->len; i++)
    {
      const GoldenCase *c = golden->pdata[i];
      int32_t x[77], y[77];
      g_assert_cmpint (clip_tokenizer_encode (a, c->text, 77, x), ==, clip_tokenizer_encode (b, c->text, 77, y));
      assert_ids (x, 77, y, 77, c->text);
    }
}

static void
test_serialize (void)
{
  g_autofree char *data = clip_tokenizer_serialize (openai);
  g_test_message ("OpenAI's tokenizer serialises to %zu bytes", strlen (data));
  g_assert_cmpuint (strlen (data), <, 1000 * 1000);
  g_assert_null (strstr (data, "\"vocab\""));  /* derived from the merges */
  g_autoptr (GError) error = NULL;
  g_autoptr (ClipTokenizer) back = clip_tokenizer_deserialize (data, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (clip_tokenizer_describe (back), ==, clip_tokenizer_describe (openai));
  check_golden (back);
  g_autofree char *again = clip_tokenizer_serialize (back);
  g_assert_cmpstr (again, ==, data);

  g_autoptr (ClipTokenizer) bytes = clip_tokenizer_new_bytes ();
  g_autofree char *bytes_data = clip_tokenizer_serialize (bytes);
  g_autoptr (ClipTokenizer) bytes_back = clip_tokenizer_deserialize (bytes_data, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_tokenizer_get_kind (bytes_back), ==, CLIP_TOKENIZER_BYTES);
  assert_same_ids (bytes, bytes_back);
}

/* open_clip spells the special tokens <start_of_text>/<end_of_text>: same ids, the literal in the
 * text is EOT, and the serialised form must carry the vocabulary. */
static void
test_open_clip_specials (void)
{
  g_autofree char *dir = test_dir ("open-clip");
  g_autofree char *vocab = g_build_filename (dir, "vocab.json", NULL);
  g_autofree char *merges_txt = g_build_filename (dir, "merges.txt", NULL);
  write_vocab (vocab, build_vocab ("<start_of_text>", "<end_of_text>"));
  write_merges (merges_txt, N_MERGES);
  g_autoptr (ClipTokenizer) tok = load_ok (dir);
  check_golden (tok);
  assert_encodes (tok, "cat<end_of_text>", (int32_t[]) { 2368, EOT }, 2);

  g_autofree char *data = clip_tokenizer_serialize (tok);
  g_assert_nonnull (strstr (data, "\"vocab\""));
  g_autoptr (GError) error = NULL;
  g_autoptr (ClipTokenizer) back = clip_tokenizer_deserialize (data, &error);
  g_assert_no_error (error);
  check_golden (back);
  assert_encodes (back, "cat<end_of_text>", (int32_t[]) { 2368, EOT }, 2);
}

typedef struct {
  const char *input;
  const char *want;
} TextCase;

static void
check_text_cases (char *(*fn) (const char *), const TextCase *cases, size_t n, const char *what)
{
  for (size_t i = 0; i < n; i++)
    {
      g_autofree char *got = fn (cases[i].input);
      if (g_strcmp0 (got, cases[i].want) != 0)
        g_test_fail_printf ("%s(\"%s\") = \"%s\", want \"%s\"", what, cases[i].input, got, cases[i].want);
    }
}

static void
test_clean_text (void)
{
  static const TextCase cases[] = {
    { "A Photo Of A CAT", "a photo of a cat" },
    { "  a   photo\tof\na cat  ", "a photo of a cat" },
    { "\xe2\x80\x9c" "curly quotes\xe2\x80\x9d and \xe2\x80\x98single\xe2\x80\x99", "\"curly quotes\" and 'single'" },
    { "don\xe2\x80\x99t", "don't" },
    { "\xef\xac\x81ne \xef\xac\x82oor \xef\xac\x83x", "fine floor ffix" },                 /* ﬁ ﬂ ﬃ */
    { "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3 fullwidth\xe3\x80\x80space", "abc fullwidth space" },  /* ＡＢＣ, U+3000 */
    { "tom &amp;amp; jerry", "tom & jerry" },
    { "&lt;3 &#x41;&#66;", "<3 ab" },
    { "<b>&amp;amp;</b>", "<b>&</b>" },              /* ftfy leaves HTML alone; html.unescape twice */
    { "a\x01" "b\x7f" "c\xe2\x80\x8b" "d\xef\xbb\xbf" "e", "abc\xe2\x80\x8b" "de" },  /* controls, BOM; U+200B stays */
    { "mixed\xc2\xa0nbsp and\xe2\x80\x83" "em", "mixed nbsp and em" },
    { "line1\r\nline2\rline3\xe2\x80\xa8line4", "line1 line2 line3 line4" },
    { "\033[31mred\033[0m", "red" },
    { "it\xc2\x92s \xc2\x85", "it's \xe2\x80\xa6" },          /* C1 controls read as Windows-1252 */
    { "cafe\xcc\x81", "caf\xc3\xa9" },                          /* NFC */
    { "\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xcf\x83" },  /* ΟΔΟΣ Σ → οδος σ */
    { "\xc4\xb0stanbul", "i\xcc\x87stanbul" },                 /* İ → i + U+0307 */
    { "\xe2\x85\xab \xe2\x92\xb6", "\xe2\x85\xbb \xe2\x93\x90" },  /* Ⅻ Ⓐ → ⅻ ⓐ */
    { "caf\xff", "caf\xef\xbf\xbd" },                            /* invalid UTF-8 → U+FFFD */
    { "", "" },
  };
  check_text_cases (clip_tokenizer_clean_text, cases, G_N_ELEMENTS (cases), "clean_text");
}

/* Python's html.unescape, case by case. */
static void
test_html_unescape (void)
{
  static const TextCase cases[] = {
    { "&amp; &amp &AMP; &ampx; &notit; &notin;", "& & & &x; \xc2\xacit; \xe2\x88\x89" },
    { "&#65;&#x42;&#X43&#0068;", "ABCD" },
    { "&#0; &#128; &#x80; &#150;", "\xef\xbf\xbd \xe2\x82\xac \xe2\x82\xac \xe2\x80\x93" },
    { "&#1;&#x0B;&#xFFFF;&#127;|", "|" },
    { "&#xD800; &#x110000; &#99999999999999999999;", "\xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd" },
    { "&#13;", "\r" },
    { "&bogus; &; & &# &#x; &#xZ;", "&bogus; &; & &# &#x; &#xZ;" },
    { "&lang;&rang;&apos;", "\xe2\x9f\xa8\xe2\x9f\xa9'" },
    { "&EACUTE; &eacute &eacutex", "&EACUTE; \xc3\xa9 \xc3\xa9x" },
    { "&amp;amp;", "&amp;" },
  };
  check_text_cases (clip_text_html_unescape, cases, G_N_ELEMENTS (cases), "html_unescape");
}

/* ftfy's fix_text subset, step by step. */
static void
test_fix_text (void)
{
  static const TextCase cases[] = {
    { "&EACUTE;&SZLIG;&Eacute;", "\xc3\x89SS\xc3\x89" },          /* all-caps spellings of lower-case names */
    { "&amp;amp;lt;", "<" },                                       /* repeated until nothing changes */
    { "&#x92;&#59;", "'&#59;" },                                   /* a decoded ';' is left encoded */
    { "a &amp;\nb < c\n&amp;", "a &\nb < c\n&amp;" },              /* no entities from the first '<' on */
    { "\xc5\x89 \xc4\xb3 \xc7\x85", "'n ij D\xc5\xbe" },           /* ŉ ĳ ǅ */
    { "\xef\xbd\xb1\xef\xbe\x9e", "\xe3\x82\xa2\xe3\x82\x99" },    /* halfwidth ｱﾞ → ア + U+3099 (NFKC), not composed */
    { "a\xe2\x80\xa9" "b\xc2\x85" "c", "a\nb\xe2\x80\xa6" "c" },   /* U+0085 is a C1 control first */
    { "\033[1;31;mA\033[xB\033[ C", "AB[ C" },                     /* a lone ESC is a control character */
    { "\xe2\x81\xaa" "a\xef\xbf\xb9" "b\t\x0c", "ab\t\x0c" },
  };
  check_text_cases (clip_text_fix, cases, G_N_ELEMENTS (cases), "fix_text");
}

static void
test_whitespace_and_case (void)
{
  static const TextCase collapse[] = {
    { " \t a \x0b\x0c\r\n b \xc2\x85\xe1\x9a\x80\xe3\x80\x80 c \xe2\x80\x8b ", "a b c \xe2\x80\x8b" },
    { "   ", "" },
  };
  check_text_cases (clip_text_collapse_whitespace, collapse, G_N_ELEMENTS (collapse), "collapse_whitespace");
  static const TextCase lower[] = {
    { "\xce\xa3", "\xcf\x83" },                                          /* Σ alone */
    { "A\xce\xa3", "a\xcf\x82" },                                        /* final */
    { "A\xce\xa3" "B", "a\xcf\x83" "b" },                                /* medial */
    { "A\xce\xa3'.", "a\xcf\x82'." },                                    /* case-ignorable after */
    { "A'\xce\xa3", "a'\xcf\x82" },                                      /* case-ignorable before */
    { "\xc7\x85 \xe1\xbe\x88", "\xc7\x86 \xe1\xbe\x80" },                /* titlecase ǅ ᾈ */
  };
  check_text_cases (clip_text_lower, lower, G_N_ELEMENTS (lower), "lower");
  g_assert_true (clip_unichar_is_regex_space (0x0B));
  g_assert_true (clip_unichar_is_regex_space (0x85));
  g_assert_true (clip_unichar_is_regex_space (0x202F));
  g_assert_false (clip_unichar_is_regex_space (0x200B));
  g_assert_false (clip_unichar_is_regex_space (0x1C));
}

typedef struct {
  const ClipTokenizer *tok;
  gboolean             ok;
} ThreadWork;

static gpointer
encode_all (gpointer data)
{
  ThreadWork *work = data;
  work->ok = TRUE;
  for (int round = 0; round < 20; round++)
    for (guint i = 0; i < golden->len; i++)
      {
        const GoldenCase *c = golden->pdata[i];
        int32_t row[77];
        clip_tokenizer_encode (work->tok, c->text, 77, row);
        if (memcmp (row, c->context77->data, sizeof row) != 0)
          work->ok = FALSE;
      }
  return NULL;
}

/* One tokenizer (fresh, so the threads race to fill its word cache) shared by four threads. */
static void
test_threads (void)
{
  g_autoptr (ClipTokenizer) tok = load_ok (openai_gz);
  ThreadWork work[4];
  GThread *threads[4];
  for (int i = 0; i < 4; i++)
    {
      work[i].tok = tok;
      threads[i] = g_thread_new ("encode", encode_all, &work[i]);
    }
  for (int i = 0; i < 4; i++)
    {
      g_thread_join (threads[i]);
      g_assert_true (work[i].ok);
    }
}

/* Long input stays linear-ish and exact: one 100,000-letter word (BPE by heap), a long line of
 * composed letters (NFC in pieces), and truncation of a long caption. */
static void
test_long_input (void)
{
  g_autoptr (GString) word = g_string_new (NULL);
  for (int i = 0; i < 100000; i++)
    g_string_append_c (word, 'x');
  size_t n;
  g_autofree int32_t *ids = clip_tokenizer_encode_words (openai, word->str, &n);
  g_assert_cmpuint (n, >, 1000);
  g_assert_cmpuint (n, <, 100000);
  /* the golden 300 x's agree, so the prefix pattern of this word must too */
  const GoldenCase *xs = NULL;
  for (guint i = 0; i < golden->len; i++)
    if (((GoldenCase *) golden->pdata[i])->text[0] == 'x')
      xs = golden->pdata[i];
  g_assert_nonnull (xs);
  g_assert_cmpint (ids[0], ==, g_array_index (xs->bpe_ids, int32_t, 0));

  g_autoptr (GString) accents = g_string_new ("\xce\x91 ");  /* Α then 50,000 × é, as e + U+0301 */
  for (int i = 0; i < 50000; i++)
    g_string_append (accents, "e\xcc\x81");
  g_autofree char *clean = clip_tokenizer_clean_text (accents->str);
  g_assert_cmpuint (strlen (clean), ==, 2 + 1 + 50000 * 2);
  g_assert_cmpstr (clean + 3 + 2 * 49999, ==, "\xc3\xa9");

  g_autoptr (GString) caption = g_string_new (NULL);
  for (int i = 0; i < 100000; i++)
    g_string_append (caption, "a cat ");
  int32_t row[77];
  g_assert_cmpint (clip_tokenizer_encode (openai, caption->str, 77, row), ==, 77);
  for (int i = 1; i < 76; i++)
    g_assert_cmpint (row[i], ==, i % 2 == 1 ? 320 : 2368);  /* a cat a cat … */
  g_assert_cmpint (row[76], ==, EOT);
}

/* ---------------------------------------------------------------- malformed input */

/* TOK and ERROR are the results of one call: call first, then assert (argument order is unspecified). */
static void
assert_fails (ClipTokenizer *tok, const GError *error, int code, const char *name, const char *needle)
{
  g_assert_null (tok);
  g_assert_error (error, CLIP_ERROR, code);
  g_test_message ("%s", error->message);
  if (name != NULL && strstr (error->message, name) == NULL)
    g_test_fail_printf ("\"%s\" does not name %s", error->message, name);
  if (strstr (error->message, needle) == NULL)
    g_test_fail_printf ("\"%s\" does not say \"%s\"", error->message, needle);
}

static void
assert_load_fails (const char *path, int code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = g_path_get_basename (path);
  ClipTokenizer *tok = clip_tokenizer_load (path, &error);
  assert_fails (tok, error, code, name, needle);
}

/* A directory NAME holding the full vocab.json (after EDIT) and merges.txt with N merges. */
static char *
hf_pair (const char *name, void (*edit) (JsonObject *), guint n)
{
  g_autofree char *dir = test_dir (name);
  char *vocab = g_build_filename (dir, "vocab.json", NULL);
  g_autofree char *merges_txt = g_build_filename (dir, "merges.txt", NULL);
  JsonObject *obj = build_vocab ("<|startoftext|>", "<|endoftext|>");
  if (edit != NULL)
    edit (obj);
  write_vocab (vocab, obj);
  write_merges (merges_txt, n);
  return vocab;
}

static char *
file_in (const char *dir_name, const char *file, const char *contents)
{
  g_autofree char *dir = test_dir (dir_name);
  char *path = g_build_filename (dir, file, NULL);
  tu_write_file (path, contents, strlen (contents));
  return path;
}

static void
test_bad_merges (void)
{
  g_autofree char *empty = file_in ("bad-empty", "merges.txt", "");
  assert_load_fails (empty, CLIP_ERROR_FORMAT, "no merges");
  g_autofree char *header = file_in ("bad-header-only", "merges.txt", "#version: 0.2\n");
  assert_load_fails (header, CLIP_ERROR_FORMAT, "no merges");
  g_autofree char *cut = file_in ("bad-cut", "merges.txt", "#version: 0.2\ni n\nt h\nth");
  assert_load_fails (cut, CLIP_ERROR_FORMAT, "line 4");
  g_autofree char *spaces = file_in ("bad-spaces", "merges.txt", "#version: 0.2\ni n\na b c\n");
  assert_load_fails (spaces, CLIP_ERROR_FORMAT, "line 3");
  g_autofree char *crlf = file_in ("bad-crlf", "merges.txt", "#version: 0.2\r\ni n\r\n");
  assert_load_fails (crlf, CLIP_ERROR_FORMAT, "carriage return");
  g_autofree char *blank = file_in ("bad-blank", "merges.txt", "#version: 0.2\ni n\n\nt h\n");
  assert_load_fails (blank, CLIP_ERROR_FORMAT, "line 3 is empty");
  g_autofree char *unknown = file_in ("bad-unknown", "merges.txt", "#version: 0.2\ni n\nzz q\n");
  assert_load_fails (unknown, CLIP_ERROR_MISSING, "'zz'");
  g_autofree char *twice = file_in ("bad-twice", "merges.txt", "#version: 0.2\ni n\nt h\ni n\n");
  assert_load_fails (twice, CLIP_ERROR_FORMAT, "repeats merge 1");
  g_autofree char *binary = file_in ("bad-binary", "merges.txt", "#version: 0.2\ni n\n\xff\xfe\n");
  assert_load_fails (binary, CLIP_ERROR_FORMAT, "not UTF-8");
}

static void
drop_eot (JsonObject *vocab)
{
  json_object_remove_member (vocab, "<|endoftext|>");
}

static void
rename_merged_token (JsonObject *vocab)
{
  json_object_remove_member (vocab, "jekyll</w>");
  json_object_set_int_member (vocab, "jekyllX</w>", 49405);
}

static void
rename_byte_symbol (JsonObject *vocab)
{
  json_object_remove_member (vocab, "!");
  json_object_set_int_member (vocab, "!!!zz", 0);
}

static void
duplicate_id (JsonObject *vocab)
{
  json_object_set_int_member (vocab, "a", 0);
}

static void
string_id (JsonObject *vocab)
{
  json_object_set_string_member (vocab, "a", "320");
}

static void
fractional_id (JsonObject *vocab)
{
  json_object_set_double_member (vocab, "a", 320.5);
}

static void
test_bad_vocab (void)
{
  g_autofree char *no_eot = hf_pair ("bad-no-eot", drop_eot, N_MERGES);
  assert_load_fails (no_eot, CLIP_ERROR_MISSING, "special token '<|endoftext|>' is missing");
  g_autofree char *merged = hf_pair ("bad-merged", rename_merged_token, N_MERGES);
  assert_load_fails (merged, CLIP_ERROR_MISSING, "'jekyll</w>' of merge 48894");
  g_autofree char *byte = hf_pair ("bad-byte", rename_byte_symbol, N_MERGES);
  assert_load_fails (byte, CLIP_ERROR_MISSING, "byte symbol '!'");
  g_autofree char *dup = hf_pair ("bad-dup", duplicate_id, N_MERGES);
  assert_load_fails (dup, CLIP_ERROR_FORMAT, "id 0 is used by both");
  g_autofree char *str = hf_pair ("bad-string-id", string_id, N_MERGES);
  assert_load_fails (str, CLIP_ERROR_FORMAT, "not an integer");
  g_autofree char *frac = hf_pair ("bad-fraction-id", fractional_id, N_MERGES);
  assert_load_fails (frac, CLIP_ERROR_FORMAT, "not an integer");
  g_autofree char *short_merges = hf_pair ("bad-short-merges", NULL, 1000);
  g_autofree char *merges_txt = g_build_filename (tu_tmpdir (), "bad-short-merges", "merges.txt", NULL);
  assert_load_fails (short_merges, CLIP_ERROR_FORMAT, "truncated");
  assert_load_fails (merges_txt, CLIP_ERROR_FORMAT, "1000 merges");

  g_autofree char *invalid = file_in ("bad-json", "vocab.json", "{\"a\": 1,");
  assert_load_fails (invalid, CLIP_ERROR_FORMAT, "invalid JSON");
  g_autofree char *lonely = file_in ("bad-lonely", "vocab.json", "{\"a\": 0}");
  assert_load_fails (lonely, CLIP_ERROR_MISSING, "merges.txt is missing");
  g_autofree char *array = file_in ("bad-array", "vocab.json", "[1, 2]");
  g_autofree char *beside = g_build_filename (tu_tmpdir (), "bad-array", "merges.txt", NULL);
  tu_write_file (beside, "#version: 0.2\ni n\n", 18);
  assert_load_fails (array, CLIP_ERROR_FORMAT, "expected a JSON object");
}

static void
test_bad_tokenizer_json (void)
{
  g_autofree char *no_vocab = file_in ("bad-fast", "tokenizer.json",
                                       "{\"model\": {\"type\": \"BPE\", \"merges\": [\"i n\"]}}");
  assert_load_fails (no_vocab, CLIP_ERROR_MISSING, "model.vocab");
  g_autofree char *no_model = file_in ("bad-fast-model", "tokenizer.json", "{\"model\": {}}");
  assert_load_fails (no_model, CLIP_ERROR_MISSING, "model.vocab");
  g_autofree char *wordpiece = file_in ("bad-fast-type", "tokenizer.json",
                                        "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}, \"merges\": []}}");
  assert_load_fails (wordpiece, CLIP_ERROR_UNSUPPORTED, "WordPiece");
  g_autofree char *bad_merge = file_in ("bad-fast-merge", "tokenizer.json",
                                        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [[\"a\", \"b\", \"c\"]]}}");
  assert_load_fails (bad_merge, CLIP_ERROR_FORMAT, "merge 1");

  g_autoptr (GString) bomb = g_string_new (NULL);
  for (int i = 0; i < 100000; i++)
    g_string_append_c (bomb, '[');
  g_autofree char *deep = file_in ("bad-deep", "tokenizer.json", bomb->str);
  assert_load_fails (deep, CLIP_ERROR_LIMIT, "deeper");
  g_autofree char *deep_vocab = file_in ("bad-deep-vocab", "vocab.json", bomb->str);
  assert_load_fails (deep_vocab, CLIP_ERROR_LIMIT, "deeper");
  g_autoptr (GError) error = NULL;
  ClipTokenizer *tok = clip_tokenizer_deserialize (bomb->str, &error);
  assert_fails (tok, error, CLIP_ERROR_LIMIT, NULL, "deeper");
}

static void
test_bad_gzip (void)
{
  g_autofree char *plain = file_in ("bad-gz", "bpe_simple_vocab_16e6.txt.gz", "i n\nt h\n");
  assert_load_fails (plain, CLIP_ERROR_FORMAT, "not a valid gzip file");

  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (openai_gz, &data, &len, NULL));
  g_autofree char *dir = test_dir ("bad-gz-cut");
  g_autofree char *cut = g_build_filename (dir, "bpe_simple_vocab_16e6.txt.gz", NULL);
  tu_write_file (cut, data, len / 2);
  assert_load_fails (cut, CLIP_ERROR_FORMAT, "not a valid gzip file");

  g_autoptr (GString) few = g_string_new ("\"bpe_simple_vocab_16e6.txt#version: 0.2\n");
  for (int r = 0; r < 1000; r++)
    g_string_append_printf (few, "%s\n", (char *) merges->pdata[r]);
  g_autofree char *short_gz = g_build_filename (dir, "short.txt.gz", NULL);
  write_gzip (short_gz, few->str, few->len);
  assert_load_fails (short_gz, CLIP_ERROR_FORMAT, "1000 merges");

  /* 65 MiB of zeros packs into ~65 KB: the decompressed size is capped */
  gsize bomb_len = 65u << 20;
  g_autofree char *zeros = g_malloc0 (bomb_len);
  g_autofree char *bomb = g_build_filename (dir, "bomb.txt.gz", NULL);
  write_gzip (bomb, zeros, bomb_len);
  assert_load_fails (bomb, CLIP_ERROR_LIMIT, "MiB");
}

static void
test_bad_paths (void)
{
  g_autofree char *missing = g_build_filename (tu_tmpdir (), "no-such-tokenizer.json", NULL);
  assert_load_fails (missing, CLIP_ERROR_MISSING, "no such file");
  g_autofree char *empty_dir = test_dir ("bad-empty-dir");
  assert_load_fails (empty_dir, CLIP_ERROR_MISSING, "no tokenizer files");

  /* a sparse 65 MiB merges.txt: refused without reading it all */
  g_autofree char *huge = file_in ("bad-huge", "merges.txt", "");
  FILE *f = fopen (huge, "w");
  g_assert_nonnull (f);
  g_assert_cmpint (fseek (f, (65L << 20) - 1, SEEK_SET), ==, 0);
  fputc ('\n', f);
  fclose (f);
  assert_load_fails (huge, CLIP_ERROR_LIMIT, "MiB");

  /* more merges than CLIP_MAX_VOCAB leaves room for */
  g_autoptr (GString) many = g_string_new (NULL);
  for (int r = 0; r < CLIP_MAX_VOCAB - 500; r++)
    g_string_append (many, "a b\n");
  g_autofree char *too_many = file_in ("bad-many", "merges.txt", many->str);
  assert_load_fails (too_many, CLIP_ERROR_LIMIT, "allowed");
}

static void
test_bad_serialized (void)
{
  static const struct {
    const char *data;
    int         code;
    const char *needle;
  } cases[] = {
    { "not json", CLIP_ERROR_FORMAT, "invalid JSON" },
    { "[]", CLIP_ERROR_FORMAT, "expected a JSON object" },
    { "{}", CLIP_ERROR_MISSING, "\"kind\" is missing" },
    { "{\"kind\": \"wordpiece\"}", CLIP_ERROR_UNSUPPORTED, "wordpiece" },
    { "{\"kind\": \"bpe\"}", CLIP_ERROR_MISSING, "\"merges\" is missing" },
    { "{\"kind\": \"bpe\", \"merges\": []}", CLIP_ERROR_FORMAT, "no merges" },
    { "{\"kind\": \"bpe\", \"merges\": [\"i  n\"]}", CLIP_ERROR_FORMAT, "merge 1" },
    { "{\"kind\": \"bpe\", \"merges\": [\"i n\"], \"vocab\": {\"i\": -1}}", CLIP_ERROR_FORMAT, "outside" },
    { "{\"kind\": \"bpe\", \"kind\": \"bytes\"}", CLIP_ERROR_FORMAT, "twice" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      ClipTokenizer *tok = clip_tokenizer_deserialize (cases[i].data, &error);
      assert_fails (tok, error, cases[i].code, "serialized tokenizer", cases[i].needle);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  openai_gz = tu_shared_path ("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz");
  load_golden ();
  read_openai_merges ();
  openai = load_ok (openai_gz);

  g_test_add_func ("/tokenizer/golden/openai-gz", test_golden_openai_gz);
  g_test_add_func ("/tokenizer/golden/vocab-merges", test_golden_vocab_merges);
  g_test_add_func ("/tokenizer/golden/tokenizer-json", test_golden_tokenizer_json);
  g_test_add_func ("/tokenizer/golden/tokenizer-json-pairs", test_golden_tokenizer_json_pairs);
  g_test_add_func ("/tokenizer/golden/merges-only", test_golden_merges_only);
  g_test_add_func ("/tokenizer/spec-examples", test_spec_examples);
  g_test_add_func ("/tokenizer/context-lengths", test_context_lengths);
  g_test_add_func ("/tokenizer/special-literals", test_special_literals);
  g_test_add_func ("/tokenizer/bytes", test_bytes);
  g_test_add_func ("/tokenizer/serialize", test_serialize);
  g_test_add_func ("/tokenizer/open-clip-specials", test_open_clip_specials);
  g_test_add_func ("/tokenizer/clean/text", test_clean_text);
  g_test_add_func ("/tokenizer/clean/html-unescape", test_html_unescape);
  g_test_add_func ("/tokenizer/clean/fix-text", test_fix_text);
  g_test_add_func ("/tokenizer/clean/whitespace-and-case", test_whitespace_and_case);
  g_test_add_func ("/tokenizer/threads", test_threads);
  g_test_add_func ("/tokenizer/long-input", test_long_input);
  g_test_add_func ("/tokenizer/bad/merges", test_bad_merges);
  g_test_add_func ("/tokenizer/bad/vocab", test_bad_vocab);
  g_test_add_func ("/tokenizer/bad/tokenizer-json", test_bad_tokenizer_json);
  g_test_add_func ("/tokenizer/bad/gzip", test_bad_gzip);
  g_test_add_func ("/tokenizer/bad/paths", test_bad_paths);
  g_test_add_func ("/tokenizer/bad/serialized", test_bad_serialized);
  int status = g_test_run ();
  clip_tokenizer_unref (openai);
  return status;
}
