/* tokenizer.c — CLIP's byte-level BPE (OpenAI's simple_tokenizer.py, clip-reference.md §3) and the byte
 * tokenizer: loading every vocabulary layout, encoding, and a compact serialised form.
 *
 * How many merges are used:
 *  - bpe_simple_vocab_16e6.txt.gz: lines 1…48,894 exactly, as simple_tokenizer.py reads them;
 *  - with a vocabulary of V tokens (vocab.json, tokenizer.json, a serialised vocab): the first
 *    V − 514 merges, CLIP's layout being 256 byte symbols, their 256 end-of-word forms, one token
 *    per merge, SOT and EOT (for V = 49,408 that is HF's merges[1:48895]); fewer is an error
 *    (a truncated file), later ones are ignored;
 *  - a merges.txt alone: all of them (at most 48,894 under OpenAI's header line), with the
 *    vocabulary derived as clip-reference.md §3.3 does.
 *
 * The pre-tokenisation regex (clip-reference.md §3.5) is a hand-written scanner over code points with GLib's
 * Unicode categories rather than GRegex: it reproduces the quirks of Python's `regex` module under
 * IGNORECASE (ſ matches s; U+0345, which case-folds to a letter, matches no alternative) without
 * depending on the Unicode tables of the PCRE2 build, and it is faster. */
#include "tokenizer-private.h"
#include "util-file.h"
#include "util-json.h"

#include <gio/gio.h>
#include <string.h>

#define MAX_FILE_BYTES      (64 * 1024 * 1024)  /* any tokenizer file, after decompression */
#define OPENAI_MERGES       48894               /* 49152 − 256 − 2 */
#define N_BYTE_TOKENS       512                 /* byte symbols and their end-of-word forms */
#define N_SPECIAL_TOKENS    2
#define END_OF_WORD         "</w>"
#define BYTES_SOT           256
#define BYTES_EOT           257
#define CACHE_MAX_WORDS     65536  /* the word cache is emptied when it reaches this size */
#define CACHE_MAX_WORD_LEN  64     /* longer words are rare: not worth caching */
#define SERIAL_LABEL        "serialized tokenizer"

/* OpenAI's spelling, then open_clip's. */
static const char *const sot_names[] = { "<|startoftext|>", "<start_of_text>" };
static const char *const eot_names[] = { "<|endoftext|>", "<end_of_text>" };

typedef struct {
  int32_t left, right, merged;  /* token ids; the rank is the index in the merge table */
} ClipMerge;

struct _ClipTokenizer {
  gatomicrefcount   ref_count;
  ClipTokenizerKind kind;
  int               vocab_size;
  int               sot_id;
  int               eot_id;
  char             *description;

  /* BPE only */
  char            **tokens;           /* id → token string */
  GHashTable       *token_ids;        /* token string (owned by tokens) → id */
  ClipMerge        *merges;
  int               n_merges;
  GHashTable       *merge_index;      /* ClipMerge (left, right) → the entry in merges */
  int32_t           byte_ids[256];    /* the symbol of each byte inside a word */
  int32_t           byte_end_ids[256]; /* … and at its end (with </w>) */

  /* Memoised words.  The tokenizer is otherwise immutable and shared between threads. */
  GMutex            cache_lock;
  GHashTable       *cache;            /* word → int32_t[1 + n]: n, then the ids */
};

/* ---------------------------------------------------------------- construction */

static ClipTokenizer *
tokenizer_new (ClipTokenizerKind kind)
{
  ClipTokenizer *tok = g_new0 (ClipTokenizer, 1);
  g_atomic_ref_count_init (&tok->ref_count);
  tok->kind = kind;
  g_mutex_init (&tok->cache_lock);
  return tok;
}

ClipTokenizer *
clip_tokenizer_new_bytes (void)
{
  ClipTokenizer *tok = tokenizer_new (CLIP_TOKENIZER_BYTES);
  tok->vocab_size = 258;
  tok->sot_id = BYTES_SOT;
  tok->eot_id = BYTES_EOT;
  tok->description = g_strdup ("bytes (258 ids)");
  return tok;
}

ClipTokenizer *
clip_tokenizer_ref (ClipTokenizer *tok)
{
  g_return_val_if_fail (tok != NULL, NULL);
  g_atomic_ref_count_inc (&tok->ref_count);
  return tok;
}

void
clip_tokenizer_unref (ClipTokenizer *tok)
{
  if (tok == NULL || !g_atomic_ref_count_dec (&tok->ref_count))
    return;
  g_clear_pointer (&tok->cache, g_hash_table_unref);
  g_clear_pointer (&tok->merge_index, g_hash_table_unref);
  g_clear_pointer (&tok->token_ids, g_hash_table_unref);
  if (tok->tokens != NULL)
    for (int i = 0; i < tok->vocab_size; i++)
      g_free (tok->tokens[i]);
  g_free (tok->tokens);
  g_free (tok->merges);
  g_free (tok->description);
  g_mutex_clear (&tok->cache_lock);
  g_free (tok);
}

ClipTokenizerKind clip_tokenizer_get_kind (const ClipTokenizer *tok) { return tok->kind; }
int clip_tokenizer_get_vocab_size (const ClipTokenizer *tok) { return tok->vocab_size; }
int clip_tokenizer_get_sot_id (const ClipTokenizer *tok) { return tok->sot_id; }
int clip_tokenizer_get_eot_id (const ClipTokenizer *tok) { return tok->eot_id; }
const char *clip_tokenizer_describe (const ClipTokenizer *tok) { return tok->description; }

/* clip-reference.md §3.1: printable bytes keep their code point, the other 68 get U+0100 + n in byte order.
 * ORDER lists the bytes in the table's insertion order, which is the vocabulary's order. */
static void
byte_table (gunichar unicode[256], guint8 order[256])
{
  int n_printable = 0, n_other = 0;
  for (int b = 0; b < 256; b++)
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
      {
        unicode[b] = (gunichar) b;
        order[n_printable++] = (guint8) b;
      }
  for (int b = 0; b < 256; b++)
    if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE))
      {
        unicode[b] = 0x100 + (gunichar) n_other++;
        order[n_printable + n_other - 1] = (guint8) b;
      }
}

static char *
unichar_to_string (gunichar c)
{
  char utf8[8];
  return g_strndup (utf8, g_unichar_to_utf8 (c, utf8));
}

/* A short, valid-UTF-8 excerpt of LEN bytes at TEXT for error messages. */
static char *
excerpt (const char *text, gsize len)
{
  g_autofree char *copy = g_strndup (text, MIN (len, 200));
  char *valid = g_utf8_make_valid (copy, -1);
  if (g_utf8_strlen (valid, -1) > 40)
    {
      *g_utf8_offset_to_pointer (valid, 40) = '\0';
      char *shortened = g_strconcat (valid, "...", NULL);
      g_free (valid);
      return shortened;
    }
  return valid;
}

static guint
merge_hash (gconstpointer key)
{
  const ClipMerge *m = key;
  return (guint) m->left * 0x9E3779B1u ^ (guint) m->right;
}

static gboolean
merge_equal (gconstpointer a, gconstpointer b)
{
  const ClipMerge *x = a, *y = b;
  return x->left == y->left && x->right == y->right;
}

static gboolean
lookup_token (const ClipTokenizer *tok, const char *text, int32_t *id)
{
  gpointer value;
  if (!g_hash_table_lookup_extended (tok->token_ids, text, NULL, &value))
    return FALSE;
  *id = GPOINTER_TO_INT (value);
  return TRUE;
}

/* Fewer than 514 tokens cannot hold CLIP's layout; otherwise the merges it needs. */
static gboolean
merges_needed (int vocab_size, const char *vocab_label, int *needed, GError **error)
{
  if (vocab_size > CLIP_MAX_VOCAB)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: %d tokens, more than the %d allowed",
                   vocab_label, vocab_size, CLIP_MAX_VOCAB);
      return FALSE;
    }
  if (vocab_size < N_BYTE_TOKENS + N_SPECIAL_TOKENS)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %d tokens, fewer than CLIP's 512 byte symbols, "
                   "SOT and EOT", vocab_label, vocab_size);
      return FALSE;
    }
  *needed = vocab_size - N_BYTE_TOKENS - N_SPECIAL_TOKENS;
  return TRUE;
}

/* The given vocabulary (token → id) as TOK's tokens; *N_MERGES becomes the count it needs. */
static gboolean
bpe_take_vocab (ClipTokenizer *tok, GHashTable *vocab, int *n_merges, const char *merges_label,
                const char *vocab_label, GError **error)
{
  int needed;
  if (!merges_needed ((int) g_hash_table_size (vocab), vocab_label, &needed, error))
    return FALSE;
  if (*n_merges < needed)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %d merges, but the %u tokens of %s need %d "
                   "(is the file truncated?)", merges_label, *n_merges, g_hash_table_size (vocab), vocab_label,
                   needed);
      return FALSE;
    }
  *n_merges = needed;
  tok->vocab_size = (int) g_hash_table_size (vocab);
  tok->tokens = g_new0 (char *, tok->vocab_size);
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, vocab);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      int id = GPOINTER_TO_INT (value);
      if (id >= tok->vocab_size)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: token '%s' has id %d, but %d tokens "
                       "need ids 0..%d", vocab_label, (char *) key, id, tok->vocab_size, tok->vocab_size - 1);
          return FALSE;
        }
      if (tok->tokens[id] != NULL)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: id %d is used by both '%s' and '%s'",
                       vocab_label, id, tok->tokens[id], (char *) key);
          return FALSE;
        }
      tok->tokens[id] = g_strdup (key);
    }
  return TRUE;
}

/* clip-reference.md §3.3's vocabulary derived from N_MERGES merges: the byte symbols, the same with
 * the end-of-word mark, one token per merge, SOT and EOT. */
static gboolean
bpe_derive_vocab (ClipTokenizer *tok, GPtrArray *parts, int n_merges, const gunichar unicode[256],
                  const guint8 order[256], const char *merges_label, GError **error)
{
  if (n_merges == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: no merges", merges_label);
      return FALSE;
    }
  if (n_merges > CLIP_MAX_VOCAB - N_BYTE_TOKENS - N_SPECIAL_TOKENS)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: %d merges make more than the %d tokens allowed",
                   merges_label, n_merges, CLIP_MAX_VOCAB);
      return FALSE;
    }
  tok->vocab_size = N_BYTE_TOKENS + n_merges + N_SPECIAL_TOKENS;
  tok->tokens = g_new0 (char *, tok->vocab_size);
  for (int i = 0; i < 256; i++)
    {
      tok->tokens[i] = unichar_to_string (unicode[order[i]]);
      tok->tokens[256 + i] = g_strconcat (tok->tokens[i], END_OF_WORD, NULL);
    }
  for (int r = 0; r < n_merges; r++)
    tok->tokens[N_BYTE_TOKENS + r] = g_strconcat (parts->pdata[2 * r], parts->pdata[2 * r + 1], NULL);
  tok->tokens[tok->vocab_size - 2] = g_strdup (sot_names[0]);
  tok->tokens[tok->vocab_size - 1] = g_strdup (eot_names[0]);
  return TRUE;
}

/* The token → id table, then the ids of SOT, EOT and every byte symbol, which must all exist. */
static gboolean
bpe_find_special_ids (ClipTokenizer *tok, const gunichar unicode[256], const char *vocab_label, GError **error)
{
  /* A derived vocabulary may repeat a string; like Python's dict, the last id wins. */
  tok->token_ids = g_hash_table_new (g_str_hash, g_str_equal);
  for (int id = 0; id < tok->vocab_size; id++)
    g_hash_table_insert (tok->token_ids, tok->tokens[id], GINT_TO_POINTER (id));

  int32_t id;
  tok->sot_id = tok->eot_id = -1;
  for (size_t i = 0; i < G_N_ELEMENTS (sot_names); i++)
    {
      if (tok->sot_id < 0 && lookup_token (tok, sot_names[i], &id))
        tok->sot_id = id;
      if (tok->eot_id < 0 && lookup_token (tok, eot_names[i], &id))
        tok->eot_id = id;
    }
  if (tok->sot_id < 0 || tok->eot_id < 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: special token '%s' is missing", vocab_label,
                   tok->sot_id < 0 ? sot_names[0] : eot_names[0]);
      return FALSE;
    }

  for (int b = 0; b < 256; b++)
    {
      g_autofree char *symbol = unichar_to_string (unicode[b]);
      g_autofree char *end_symbol = g_strconcat (symbol, END_OF_WORD, NULL);
      if (!lookup_token (tok, symbol, &tok->byte_ids[b]) || !lookup_token (tok, end_symbol, &tok->byte_end_ids[b]))
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: byte symbol '%s' (byte 0x%02X) is missing",
                       vocab_label, lookup_token (tok, symbol, &id) ? end_symbol : symbol, (unsigned) b);
          return FALSE;
        }
    }
  return TRUE;
}

/* The first N_MERGES merges as ids, ranked in file order, each of its parts and its result a token
 * and no merge given twice. */
static gboolean
bpe_index_merges (ClipTokenizer *tok, GPtrArray *parts, int n_merges, const char *merges_label,
                  const char *vocab_label, GError **error)
{
  tok->n_merges = n_merges;
  tok->merges = g_new (ClipMerge, MAX (n_merges, 1));
  tok->merge_index = g_hash_table_new (merge_hash, merge_equal);
  for (int r = 0; r < n_merges; r++)
    {
      const char *left = parts->pdata[2 * r], *right = parts->pdata[2 * r + 1];
      g_autofree char *merged = g_strconcat (left, right, NULL);
      ClipMerge *m = &tok->merges[r];
      const char *missing = !lookup_token (tok, left, &m->left) ? left
                            : !lookup_token (tok, right, &m->right) ? right
                            : !lookup_token (tok, merged, &m->merged) ? merged : NULL;
      if (missing != NULL)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: token '%s' of merge %d ('%s %s' in %s) is missing",
                       vocab_label, missing, r + 1, left, right, merges_label);
          return FALSE;
        }
      ClipMerge *earlier = g_hash_table_lookup (tok->merge_index, m);
      if (earlier != NULL)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: merge %d ('%s %s') repeats merge %d", merges_label,
                       r + 1, left, right, (int) (earlier - tok->merges) + 1);
          return FALSE;
        }
      g_hash_table_add (tok->merge_index, m);
    }
  return TRUE;
}

/* Builds a BPE tokenizer from merges (PARTS holds left, right, left, right, …) and a vocabulary
 * (token → id; NULL derives clip-reference.md §3.3's from the merges), validating that every byte
 * symbol, special token, merge part and merge result is a token and that ids are 0 … V−1, each used
 * once. */
static ClipTokenizer *
bpe_new (GPtrArray *parts, GHashTable *vocab, const char *merges_label, const char *vocab_label, GError **error)
{
  g_autoptr (ClipTokenizer) tok = tokenizer_new (CLIP_TOKENIZER_BPE);
  int n_merges = (int) (parts->len / 2);
  gunichar unicode[256];
  guint8 order[256];
  byte_table (unicode, order);

  gboolean ok = vocab != NULL ? bpe_take_vocab (tok, vocab, &n_merges, merges_label, vocab_label, error)
                              : bpe_derive_vocab (tok, parts, n_merges, unicode, order, merges_label, error);
  if (!ok || !bpe_find_special_ids (tok, unicode, vocab_label, error)
      || !bpe_index_merges (tok, parts, n_merges, merges_label, vocab_label, error))
    return NULL;

  tok->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  tok->description = g_strdup_printf ("CLIP BPE (%d ids, %d merges)", tok->vocab_size, tok->n_merges);
  return g_steal_pointer (&tok);
}

/* ---------------------------------------------------------------- reading files */

/* Reads PATH whole (gunzipped with GIO when GUNZIP), refusing more than MAX_FILE_BYTES (compressed or not).
 * The result is NUL-terminated. */
static char *
read_file (const char *path, gboolean gunzip, gsize *len, GError **error)
{
  char *raw = NULL;
  size_t raw_len = 0;
  if (!clip_file_read_contents (path, CLIP_INPUT_MISSING_CODE, MAX_FILE_BYTES, &raw, &raw_len, error))
    return NULL;
  if (!gunzip)
    {
      *len = raw_len;
      return raw;
    }
  g_autoptr (GInputStream) compressed = g_memory_input_stream_new_from_data (raw, (gssize) raw_len, g_free);
  g_autoptr (GZlibDecompressor) gzip = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr (GInputStream) stream = g_converter_input_stream_new (compressed, G_CONVERTER (gzip));
  g_autoptr (GError) local = NULL;

  g_autoptr (GByteArray) data = g_byte_array_new ();
  g_autofree guint8 *chunk = g_malloc (1 << 16);
  for (;;)
    {
      gssize n = g_input_stream_read (stream, chunk, 1 << 16, NULL, &local);
      if (n < 0)
        {
          if (local->domain == G_IO_ERROR
              && (local->code == G_IO_ERROR_INVALID_DATA || local->code == G_IO_ERROR_PARTIAL_INPUT))
            g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: not a valid gzip file: %s", path, local->message);
          else
            g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot read: %s", path, local->message);
          return NULL;
        }
      if (n == 0)
        break;
      if ((gsize) n > MAX_FILE_BYTES - data->len)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: more than %d MiB uncompressed, the most a tokenizer "
                       "file may hold", path, MAX_FILE_BYTES >> 20);
          return NULL;
        }
      g_byte_array_append (data, chunk, (guint) n);
    }
  *len = data->len;
  g_byte_array_append (data, (const guint8 *) "", 1);
  return (char *) g_byte_array_free (g_steal_pointer (&data), FALSE);
}

/* Splits merges text into PARTS (none is not an error here: see bpe_new).  The first line is skipped when it is a header ("#version: 0.2"
 * in HF's merges.txt, "\"bpe_simple_vocab_16e6.txt#version: 0.2" in OpenAI's file, which also caps
 * the merges at 48,894), or always when ALWAYS_SKIP_FIRST (simple_tokenizer.py does).  At most
 * MAX_MERGES lines are read (-1: all); blank lines may only end the file. */
static gboolean
parse_merges (const char *text, gsize len, const char *label, gboolean always_skip_first, int max_merges,
              GPtrArray *parts, GError **error)
{
  const char *bad;
  if (!g_utf8_validate_len (text, len, &bad))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: not UTF-8 text (byte %" G_GSIZE_FORMAT ")", label,
                   (gsize) (bad - text));
      return FALSE;
    }
  const char *p = text, *end = text + len;
  const char *eol = memchr (p, '\n', (gsize) (end - p));
  eol = eol != NULL ? eol : end;
  int line = 1;
  if (always_skip_first || g_strstr_len (p, eol - p, "#version") != NULL)
    {
      if (g_strstr_len (p, eol - p, "bpe_simple_vocab_16e6.txt#version") != NULL)
        max_merges = max_merges < 0 ? OPENAI_MERGES : MIN (max_merges, OPENAI_MERGES);
      p = eol < end ? eol + 1 : end;
      line++;
    }
  for (; p < end && (max_merges < 0 || (int) (parts->len / 2) < max_merges); line++)
    {
      eol = memchr (p, '\n', (gsize) (end - p));
      eol = eol != NULL ? eol : end;
      if (eol == p)
        {
          while (p < end && *p == '\n')
            p++;
          if (p == end)
            break;
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: line %d is empty", label, line);
          return FALSE;
        }
      const char *space = memchr (p, ' ', (gsize) (eol - p));
      if (memchr (p, '\r', (gsize) (eol - p)) != NULL)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: line %d holds a carriage return "
                       "(CRLF line endings are not supported)", label, line);
          return FALSE;
        }
      if (space == NULL || space == p || space == eol - 1 || memchr (space + 1, ' ', (gsize) (eol - space - 1)) != NULL)
        {
          g_autofree char *shown = excerpt (p, (gsize) (eol - p));
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: line %d (\"%s\") is not two symbols separated by "
                       "one space", label, line, shown);
          return FALSE;
        }
      if (parts->len / 2 >= CLIP_MAX_VOCAB)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: more than %d merges", label, CLIP_MAX_VOCAB);
          return FALSE;
        }
      g_ptr_array_add (parts, g_strndup (p, (gsize) (space - p)));
      g_ptr_array_add (parts, g_strndup (space + 1, (gsize) (eol - space - 1)));
      p = eol < end ? eol + 1 : end;
    }
  return TRUE;
}

static gboolean
parse_merges_file (const char *path, gboolean gunzip, int max_merges, GPtrArray *parts, GError **error)
{
  gsize len;
  g_autofree char *text = read_file (path, gunzip, &len, error);
  return text != NULL && parse_merges (text, len, path, gunzip, max_merges, parts, error);
}

/* token → id from a JSON object whose values are integers. */
static GHashTable *
vocab_from_json (JsonObject *obj, const char *label, GError **error)
{
  if (json_object_get_size (obj) > CLIP_MAX_VOCAB)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: %u tokens, more than the %d allowed", label,
                   json_object_get_size (obj), CLIP_MAX_VOCAB);
      return NULL;
    }
  g_autoptr (GHashTable) vocab = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  JsonObjectIter iter;
  const char *token;
  JsonNode *node;
  json_object_iter_init (&iter, obj);
  while (json_object_iter_next (&iter, &token, &node))
    {
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: the id of token '%s' is not an integer", label, token);
          return NULL;
        }
      gint64 id = json_node_get_int (node);
      if (id < 0 || id >= CLIP_MAX_VOCAB)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: token '%s' has id %" G_GINT64_FORMAT
                       ", outside 0..%d", label, token, id, CLIP_MAX_VOCAB - 1);
          return NULL;
        }
      g_hash_table_insert (vocab, g_strdup (token), GINT_TO_POINTER ((int) id));
    }
  return g_steal_pointer (&vocab);
}

/* Merges as "a b" strings, or (newer HF files) as [a, b] pairs. */
static gboolean
merges_from_json (JsonArray *array, const char *label, GPtrArray *parts, GError **error)
{
  guint n = json_array_get_length (array);
  if (n > CLIP_MAX_VOCAB)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: %u merges, more than %d", label, n, CLIP_MAX_VOCAB);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      const char *pair[2] = { NULL, NULL };
      g_auto (GStrv) split = NULL;
      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        {
          split = g_strsplit (json_node_get_string (node), " ", -1);
          if (g_strv_length (split) == 2)
            pair[0] = split[0], pair[1] = split[1];
        }
      else if (JSON_NODE_HOLDS_ARRAY (node) && json_array_get_length (json_node_get_array (node)) == 2)
        for (int k = 0; k < 2; k++)
          {
            JsonNode *part = json_array_get_element (json_node_get_array (node), (guint) k);
            if (JSON_NODE_HOLDS_VALUE (part) && json_node_get_value_type (part) == G_TYPE_STRING
                && strchr (json_node_get_string (part), ' ') == NULL)
              pair[k] = json_node_get_string (part);
          }
      if (pair[0] == NULL || pair[1] == NULL || pair[0][0] == '\0' || pair[1][0] == '\0')
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: merge %u is not two symbols (\"a b\" or "
                       "[\"a\", \"b\"] without spaces)", label, i + 1);
          return FALSE;
        }
      g_ptr_array_add (parts, g_strdup (pair[0]));
      g_ptr_array_add (parts, g_strdup (pair[1]));
    }
  return TRUE;
}

/* ---------------------------------------------------------------- loaders */

static ClipTokenizer *
load_openai_gz (const char *path, GError **error)
{
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  if (!parse_merges_file (path, TRUE, OPENAI_MERGES, parts, error))
    return NULL;
  if (parts->len / 2 < OPENAI_MERGES)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %u merges, but OpenAI's vocabulary needs %d "
                   "(is the file truncated?)", path, parts->len / 2, OPENAI_MERGES);
      return NULL;
    }
  return bpe_new (parts, NULL, path, path, error);
}

static ClipTokenizer *
load_vocab_merges (JsonNode *vocab_root, const char *vocab_path, const char *merges_path, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (vocab_root))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: expected a JSON object mapping tokens to ids",
                   vocab_path);
      return NULL;
    }
  g_autoptr (GHashTable) vocab = vocab_from_json (json_node_get_object (vocab_root), vocab_path, error);
  int needed;
  if (vocab == NULL || !merges_needed ((int) g_hash_table_size (vocab), vocab_path, &needed, error))
    return NULL;
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  if (!parse_merges_file (merges_path, FALSE, needed, parts, error))
    return NULL;
  return bpe_new (parts, vocab, merges_path, vocab_path, error);
}

/* HF's fast-tokenizer file: model.vocab, model.merges, and added_tokens for the special tokens. */
static ClipTokenizer *
load_tokenizer_json (JsonObject *root, const char *path, GError **error)
{
  JsonObject *model, *vocab_obj;
  const char *type, *suffix, *prefix;
  if (!clip_json_get_object (root, "model", &model, path, error)
      || (model != NULL && (!clip_json_get_string (model, "type", &type, path, error)
                            || !clip_json_get_string (model, "end_of_word_suffix", &suffix, path, error)
                            || !clip_json_get_string (model, "continuing_subword_prefix", &prefix, path, error)
                            || !clip_json_get_object (model, "vocab", &vocab_obj, path, error))))
    return NULL;
  if (model == NULL || vocab_obj == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: \"%s\" is missing", path,
                   model == NULL ? "model" : "model.vocab");
      return NULL;
    }
  if ((type != NULL && strcmp (type, "BPE") != 0) || (suffix != NULL && strcmp (suffix, END_OF_WORD) != 0)
      || (prefix != NULL && prefix[0] != '\0'))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED, "%s: not CLIP's BPE (model type \"%s\", "
                   "end_of_word_suffix \"%s\", continuing_subword_prefix \"%s\")", path, type ? type : "",
                   suffix ? suffix : "", prefix ? prefix : "");
      return NULL;
    }
  JsonNode *merges_node = json_object_get_member (model, "merges");
  if (merges_node == NULL || !JSON_NODE_HOLDS_ARRAY (merges_node))
    {
      g_set_error (error, CLIP_ERROR, merges_node == NULL ? CLIP_ERROR_MISSING : CLIP_ERROR_FORMAT,
                   "%s: \"model.merges\" is %s", path, merges_node == NULL ? "missing" : "not an array");
      return NULL;
    }

  g_autoptr (GHashTable) vocab = vocab_from_json (vocab_obj, path, error);
  if (vocab == NULL)
    return NULL;
  JsonNode *added = json_object_get_member (root, "added_tokens");
  if (added != NULL && JSON_NODE_HOLDS_ARRAY (added))
    {
      JsonArray *array = json_node_get_array (added);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *node = json_array_get_element (array, i);
          JsonObject *obj = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
          const char *content = NULL;
          int id = -1;
          if (obj == NULL || !clip_json_get_string (obj, "content", &content, path, error)
              || !clip_json_get_int (obj, "id", 0, CLIP_MAX_VOCAB - 1, &id, path, error))
            return NULL;
          if (content == NULL || id < 0)
            {
              g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: added token %u needs \"id\" and \"content\"",
                           path, i + 1);
              return NULL;
            }
          gpointer existing;
          if (g_hash_table_lookup_extended (vocab, content, NULL, &existing) && GPOINTER_TO_INT (existing) != id)
            {
              g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: added token '%s' has id %d, but model.vocab "
                           "gives it %d", path, content, id, GPOINTER_TO_INT (existing));
              return NULL;
            }
          g_hash_table_insert (vocab, g_strdup (content), GINT_TO_POINTER (id));
        }
    }
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  if (!merges_from_json (json_node_get_array (merges_node), path, parts, error))
    return NULL;
  return bpe_new (parts, vocab, path, path, error);
}

static char *
sibling (const char *path, const char *name)
{
  g_autofree char *dir = g_path_get_dirname (path);
  return g_build_filename (dir, name, NULL);
}

/* A .json file: tokenizer.json when it has a "model" object, else a vocab.json with merges.txt beside it. */
static ClipTokenizer *
load_json_path (const char *path, GError **error)
{
  g_autoptr (JsonNode) root = clip_json_parse_file (path, MAX_FILE_BYTES, error);
  if (root == NULL)
    return NULL;
  JsonNode *model = JSON_NODE_HOLDS_OBJECT (root) ? json_object_get_member (json_node_get_object (root), "model") : NULL;
  if (model != NULL && JSON_NODE_HOLDS_OBJECT (model))
    return load_tokenizer_json (json_node_get_object (root), path, error);
  g_autofree char *merges = sibling (path, "merges.txt");
  if (!g_file_test (merges, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: merges.txt is missing beside it", path);
      return NULL;
    }
  return load_vocab_merges (root, path, merges, error);
}

/* A merges.txt: with the vocab.json beside it if there is one, else the vocabulary derived from it. */
static ClipTokenizer *
load_merges_path (const char *path, GError **error)
{
  g_autofree char *vocab_path = sibling (path, "vocab.json");
  if (g_file_test (vocab_path, G_FILE_TEST_IS_REGULAR))
    {
      g_autoptr (JsonNode) root = clip_json_parse_file (vocab_path, MAX_FILE_BYTES, error);
      return root != NULL ? load_vocab_merges (root, vocab_path, path, error) : NULL;
    }
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  if (!parse_merges_file (path, FALSE, -1, parts, error))
    return NULL;
  return bpe_new (parts, NULL, path, path, error);
}

static ClipTokenizer *
load_directory (const char *dir, GError **error)
{
  g_autofree char *vocab = g_build_filename (dir, "vocab.json", NULL);
  g_autofree char *merges = g_build_filename (dir, "merges.txt", NULL);
  g_autofree char *tokenizer = g_build_filename (dir, "tokenizer.json", NULL);
  g_autofree char *openai = g_build_filename (dir, "bpe_simple_vocab_16e6.txt.gz", NULL);
  gboolean has_vocab = g_file_test (vocab, G_FILE_TEST_IS_REGULAR);
  gboolean has_merges = g_file_test (merges, G_FILE_TEST_IS_REGULAR);
  if (has_vocab && has_merges)
    return load_merges_path (merges, error);
  if (g_file_test (tokenizer, G_FILE_TEST_IS_REGULAR))
    return load_json_path (tokenizer, error);
  if (g_file_test (openai, G_FILE_TEST_IS_REGULAR))
    return load_openai_gz (openai, error);
  if (has_merges)
    return load_merges_path (merges, error);
  if (has_vocab)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: merges.txt is missing beside vocab.json", dir);
  else
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: no tokenizer files (vocab.json + merges.txt, "
                 "tokenizer.json or bpe_simple_vocab_16e6.txt.gz)", dir);
  return NULL;
}

ClipTokenizer *
clip_tokenizer_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  if (strcmp (path, "bytes") == 0)
    return clip_tokenizer_new_bytes ();
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    return load_directory (path, error);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: no such file or directory", path);
      return NULL;
    }
  if (g_str_has_suffix (path, ".gz"))
    return load_openai_gz (path, error);
  if (g_str_has_suffix (path, ".json"))
    return load_json_path (path, error);
  return load_merges_path (path, error);
}

/* ---------------------------------------------------------------- BPE */

typedef struct {
  int32_t rank;
  int32_t pos;   /* index of the pair's left symbol */
} RankedPair;

static gboolean
ranked_before (const RankedPair *a, const RankedPair *b)
{
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void
heap_push (RankedPair *heap, int *n, RankedPair item)
{
  int i = (*n)++;
  while (i > 0 && ranked_before (&item, &heap[(i - 1) / 2]))
    {
      heap[i] = heap[(i - 1) / 2];
      i = (i - 1) / 2;
    }
  heap[i] = item;
}

static RankedPair
heap_pop (RankedPair *heap, int *n)
{
  RankedPair top = heap[0], last = heap[--(*n)];
  int i = 0;
  for (int child; (child = 2 * i + 1) < *n; i = child)
    {
      if (child + 1 < *n && ranked_before (&heap[child + 1], &heap[child]))
        child++;
      if (!ranked_before (&heap[child], &last))
        break;
      heap[i] = heap[child];
    }
  heap[i] = last;
  return top;
}

/* Queues the pair starting at symbol POS if the merge table ranks it. */
static void
push_pair (const ClipTokenizer *tok, const int32_t *symbols, const int *next, int pos, RankedPair *heap, int *n_heap)
{
  if (pos < 0 || next[pos] < 0)
    return;
  ClipMerge key = { symbols[pos], symbols[next[pos]], 0 };
  const ClipMerge *m = g_hash_table_lookup (tok->merge_index, &key);
  if (m != NULL)
    heap_push (heap, n_heap, (RankedPair) { (int32_t) (m - tok->merges), pos });
}

/* clip-reference.md §3.6 on one word of N bytes: while some adjacent pair is ranked, merge every occurrence of the
 * lowest-ranked one, left to right without overlap.  A heap of (rank, position) finds that pair
 * without rescanning the word, so long words cost O(n log n), not O(n²).  Pairs created by a
 * round are queued after it, as simple_tokenizer.py only looks for them on its next pass. */
static void
bpe_word (const ClipTokenizer *tok, const guint8 *bytes, int n, GArray *out)
{
  int32_t *symbols = g_new (int32_t, n);  /* token ids; -1 once merged into the left neighbour */
  int *prev = g_new (int, n), *next = g_new (int, n), *merged = g_new (int, n);
  RankedPair *heap = g_new (RankedPair, 3 * (gsize) n);  /* n − 1 pairs, then at most 2 per merge */
  int n_heap = 0;
  for (int i = 0; i < n; i++)
    {
      symbols[i] = i == n - 1 ? tok->byte_end_ids[bytes[i]] : tok->byte_ids[bytes[i]];
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
  for (int i = 0; i + 1 < n; i++)
    push_pair (tok, symbols, next, i, heap, &n_heap);

  while (n_heap > 0)
    {
      const ClipMerge *m = &tok->merges[heap[0].rank];
      int32_t rank = heap[0].rank;
      int n_merged = 0;
      while (n_heap > 0 && heap[0].rank == rank)
        {
          int pos = heap_pop (heap, &n_heap).pos;
          int right = next[pos];
          if (symbols[pos] != m->left || right < 0 || symbols[right] != m->right)
            continue;  /* stale: a neighbour merged since this pair was queued */
          symbols[pos] = m->merged;
          symbols[right] = -1;
          next[pos] = next[right];
          if (next[right] >= 0)
            prev[next[right]] = pos;
          merged[n_merged++] = pos;
        }
      for (int k = 0; k < n_merged; k++)
        {
          push_pair (tok, symbols, next, prev[merged[k]], heap, &n_heap);
          push_pair (tok, symbols, next, merged[k], heap, &n_heap);
        }
    }
  for (int i = 0; i >= 0; i = next[i])
    g_array_append_val (out, symbols[i]);
  g_free (symbols);
  g_free (prev);
  g_free (next);
  g_free (merged);
  g_free (heap);
}

/* bpe_word through the shared cache. */
static void
bpe_word_cached (const ClipTokenizer *tok, const char *word, int len, GArray *out)
{
  GMutex *lock = (GMutex *) &tok->cache_lock;
  char key[CACHE_MAX_WORD_LEN + 1];
  gboolean cacheable = len <= CACHE_MAX_WORD_LEN;
  if (cacheable)
    {
      memcpy (key, word, (size_t) len);
      key[len] = '\0';
      g_mutex_lock (lock);
      const int32_t *ids = g_hash_table_lookup (tok->cache, key);
      if (ids != NULL)
        g_array_append_vals (out, ids + 1, (guint) ids[0]);
      g_mutex_unlock (lock);
      if (ids != NULL)
        return;
    }
  guint start = out->len;
  bpe_word (tok, (const guint8 *) word, len, out);
  if (!cacheable)
    return;
  guint n = out->len - start;
  int32_t *ids = g_new (int32_t, n + 1);
  ids[0] = (int32_t) n;
  memcpy (ids + 1, &g_array_index (out, int32_t, start), n * sizeof (int32_t));
  g_mutex_lock (lock);
  if (g_hash_table_size (tok->cache) >= CACHE_MAX_WORDS)
    g_hash_table_remove_all (tok->cache);
  g_hash_table_replace (tok->cache, g_strdup (key), ids);
  g_mutex_unlock (lock);
}

/* ---------------------------------------------------------------- pre-tokenisation (clip-reference.md §3.5) */

/* Equality under the regex module's IGNORECASE for the characters of CLIP's patterns: ASCII
 * letters also match their other case, and s, k, i the characters that fold to them. */
static gboolean
chars_equal_ignorecase (gunichar c, gunichar want)
{
  if (c == want)
    return TRUE;
  if (want >= 0x80 || !g_ascii_isalpha ((char) want))
    return FALSE;
  char lower = g_ascii_tolower ((char) want);
  return c == (gunichar) lower || c == (gunichar) g_ascii_toupper (lower) || (lower == 's' && c == 0x017F)
         || (lower == 'k' && c == 0x212A) || (lower == 'i' && c == 0x0130);
}

/* The end of PATTERN matched at P, or NULL. */
static const char *
match_ignorecase (const char *p, const char *pattern)
{
  for (const char *q = pattern; *q != '\0'; q = g_utf8_next_char (q), p = g_utf8_next_char (p))
    if (*p == '\0' || !chars_equal_ignorecase (g_utf8_get_char (p), g_utf8_get_char (q)))
      return NULL;
  return p;
}

static gboolean
is_letter (gunichar c)
{
  return g_unichar_isalpha (c);
}

static gboolean
is_number (gunichar c)
{
  GUnicodeType type = g_unichar_type (c);
  return type == G_UNICODE_DECIMAL_NUMBER || type == G_UNICODE_LETTER_NUMBER || type == G_UNICODE_OTHER_NUMBER;
}

/* [^\s\p{L}\p{N}] under IGNORECASE, which also excludes U+0345 (it folds to the letter ι). */
static gboolean
is_other (gunichar c)
{
  return !clip_unichar_is_regex_space (c) && !is_letter (c) && !is_number (c) && c != 0x0345;
}

static const char *
skip_while (const char *p, gboolean (*in_class) (gunichar))
{
  while (*p != '\0' && in_class (g_utf8_get_char (p)))
    p = g_utf8_next_char (p);
  return p;
}

/* Appends the ids of cleaned TEXT to IDS, stopping once IDS holds LIMIT or more. */
static void
bpe_encode (const ClipTokenizer *tok, const char *text, guint limit, GArray *ids)
{
  static const char *const contractions[] = { "'s", "'t", "'re", "'ve", "'m", "'ll", "'d" };
  const char *sot = tok->tokens[tok->sot_id], *eot = tok->tokens[tok->eot_id];
  const char *p = text;
  while (*p != '\0' && ids->len < limit)
    {
      const char *end;
      int32_t special = -1;
      if ((end = match_ignorecase (p, sot)) != NULL)
        special = tok->sot_id;
      else if ((end = match_ignorecase (p, eot)) != NULL)
        special = tok->eot_id;
      if (special >= 0)
        {
          g_array_append_val (ids, special);
          p = end;
          continue;
        }
      gunichar c = g_utf8_get_char (p);
      end = NULL;
      for (size_t i = 0; c == '\'' && end == NULL && i < G_N_ELEMENTS (contractions); i++)
        end = match_ignorecase (p, contractions[i]);
      if (end == NULL)
        {
          if (is_letter (c))
            end = skip_while (p, is_letter);
          else if (is_number (c))
            end = g_utf8_next_char (p);  /* one digit per word */
          else if (is_other (c))
            end = skip_while (p, is_other);
          else
            {
              p = g_utf8_next_char (p);  /* whitespace (and U+0345) belongs to no word */
              continue;
            }
        }
      bpe_word_cached (tok, p, (int) (end - p), ids);
      p = end;
    }
}

static void
encode_clean (const ClipTokenizer *tok, const char *clean, guint limit, GArray *ids)
{
  if (tok->kind == CLIP_TOKENIZER_BPE)
    bpe_encode (tok, clean, limit, ids);
  else
    for (const guint8 *p = (const guint8 *) clean; *p != '\0' && ids->len < limit; p++)
      {
        int32_t id = *p;
        g_array_append_val (ids, id);
      }
}

int32_t *
clip_tokenizer_encode_words (const ClipTokenizer *tok, const char *text, size_t *n_ids)
{
  g_return_val_if_fail (tok != NULL && text != NULL, NULL);
  g_autofree char *clean = clip_tokenizer_clean_text (text);
  GArray *ids = g_array_sized_new (FALSE, FALSE, sizeof (int32_t), 16);
  encode_clean (tok, clean, G_MAXUINT, ids);
  if (n_ids != NULL)
    *n_ids = ids->len;
  return (int32_t *) (void *) g_array_free (ids, FALSE);
}

int
clip_tokenizer_encode (const ClipTokenizer *tok, const char *text, int context_length, int32_t *ids)
{
  g_return_val_if_fail (tok != NULL && text != NULL && ids != NULL && context_length >= 2, 0);
  g_autofree char *clean = clip_tokenizer_clean_text (text);
  guint limit = (guint) context_length - 2;
  g_autoptr (GArray) words = g_array_sized_new (FALSE, FALSE, sizeof (int32_t), MIN (limit, 1024) + 16);
  encode_clean (tok, clean, limit, words);
  guint n = MIN (words->len, limit);
  ids[0] = tok->sot_id;
  memcpy (ids + 1, words->data, n * sizeof (int32_t));
  ids[n + 1] = tok->eot_id;
  memset (ids + n + 2, 0, ((gsize) context_length - n - 2) * sizeof (int32_t));
  return (int) n + 2;
}

/* ---------------------------------------------------------------- serialisation */

/* Whether the vocabulary is the one bpe_new derives from the merges (clip-reference.md §3.3). */
static gboolean
vocab_is_derived (const ClipTokenizer *tok)
{
  if (tok->vocab_size != N_BYTE_TOKENS + tok->n_merges + N_SPECIAL_TOKENS
      || tok->sot_id != tok->vocab_size - 2 || tok->eot_id != tok->vocab_size - 1
      || strcmp (tok->tokens[tok->sot_id], sot_names[0]) != 0 || strcmp (tok->tokens[tok->eot_id], eot_names[0]) != 0)
    return FALSE;
  gunichar unicode[256];
  guint8 order[256];
  byte_table (unicode, order);
  for (int i = 0; i < 256; i++)
    {
      g_autofree char *symbol = unichar_to_string (unicode[order[i]]);
      if (strcmp (tok->tokens[i], symbol) != 0 || !g_str_has_prefix (tok->tokens[256 + i], symbol)
          || strcmp (tok->tokens[256 + i] + strlen (symbol), END_OF_WORD) != 0)
        return FALSE;
    }
  for (int r = 0; r < tok->n_merges; r++)
    {
      const char *left = tok->tokens[tok->merges[r].left], *merged = tok->tokens[N_BYTE_TOKENS + r];
      if (!g_str_has_prefix (merged, left) || strcmp (merged + strlen (left), tok->tokens[tok->merges[r].right]) != 0)
        return FALSE;
    }
  return TRUE;
}

/* {"kind": "bytes"} or {"kind": "bpe", "merges": ["a b", …], "vocab": {token: id, …}}, the
 * vocabulary only when it is not the one derived from the merges. */
char *
clip_tokenizer_serialize (const ClipTokenizer *tok)
{
  g_return_val_if_fail (tok != NULL, NULL);
  g_autoptr (JsonBuilder) builder = json_builder_new_immutable ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "kind");
  json_builder_add_string_value (builder, tok->kind == CLIP_TOKENIZER_BPE ? "bpe" : "bytes");
  if (tok->kind == CLIP_TOKENIZER_BPE)
    {
      json_builder_set_member_name (builder, "merges");
      json_builder_begin_array (builder);
      for (int r = 0; r < tok->n_merges; r++)
        {
          g_autofree char *merge = g_strconcat (tok->tokens[tok->merges[r].left], " ",
                                                tok->tokens[tok->merges[r].right], NULL);
          json_builder_add_string_value (builder, merge);
        }
      json_builder_end_array (builder);
      if (!vocab_is_derived (tok))
        {
          json_builder_set_member_name (builder, "vocab");
          json_builder_begin_object (builder);
          for (int id = 0; id < tok->vocab_size; id++)
            {
              json_builder_set_member_name (builder, tok->tokens[id]);
              json_builder_add_int_value (builder, id);
            }
          json_builder_end_object (builder);
        }
    }
  json_builder_end_object (builder);
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

ClipTokenizer *
clip_tokenizer_deserialize (const char *data, GError **error)
{
  g_return_val_if_fail (data != NULL, NULL);
  gsize len = strlen (data);
  if (len > MAX_FILE_BYTES)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, SERIAL_LABEL ": more than %d MiB", MAX_FILE_BYTES >> 20);
      return NULL;
    }
  g_autoptr (JsonNode) root = clip_json_parse (data, len, SERIAL_LABEL, TRUE, error);
  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, SERIAL_LABEL ": expected a JSON object");
      return NULL;
    }
  JsonObject *obj = json_node_get_object (root), *vocab_obj;
  const char *kind;
  if (!clip_json_get_string (obj, "kind", &kind, SERIAL_LABEL, error)
      || !clip_json_get_object (obj, "vocab", &vocab_obj, SERIAL_LABEL, error))
    return NULL;
  if (kind == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, SERIAL_LABEL ": \"kind\" is missing");
      return NULL;
    }
  if (strcmp (kind, "bytes") == 0)
    return clip_tokenizer_new_bytes ();
  if (strcmp (kind, "bpe") != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED, SERIAL_LABEL ": unknown kind \"%s\"", kind);
      return NULL;
    }
  JsonNode *merges = json_object_get_member (obj, "merges");
  if (merges == NULL || !JSON_NODE_HOLDS_ARRAY (merges))
    {
      g_set_error (error, CLIP_ERROR, merges == NULL ? CLIP_ERROR_MISSING : CLIP_ERROR_FORMAT,
                   SERIAL_LABEL ": \"merges\" is %s", merges == NULL ? "missing" : "not an array");
      return NULL;
    }
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  if (!merges_from_json (json_node_get_array (merges), SERIAL_LABEL, parts, error))
    return NULL;
  g_autoptr (GHashTable) vocab = NULL;
  if (vocab_obj != NULL && (vocab = vocab_from_json (vocab_obj, SERIAL_LABEL, error)) == NULL)
    return NULL;
  return bpe_new (parts, vocab, SERIAL_LABEL, SERIAL_LABEL, error);
}
