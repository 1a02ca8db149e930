/* The folder index: incremental updates, damaged files, interrupted and killed runs, bad images,
 * fast decoding and search ranking, on the tiny golden model and images made here. */
#include "index-private.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>
#include <xxhash.h>

#define TINY "golden/models/tiny_quickgelu/hf"

static ClipModel *tiny;

static ClipModel *
tiny_model (void)
{
  if (tiny == NULL)
    {
      g_autofree char *path = tu_shared_path (TINY);
      ClipLoadOptions options;
      clip_load_options_init (&options);
      options.tokenizer_path = "bytes";
      GError *error = NULL;
      tiny = clip_model_load (path, &options, &error);
      g_assert_no_error (error);
    }
  return tiny;
}

/* A picture that differs with SEED: two gradients, a rectangle and some noise. */
static void
write_image (const char *path, int width, int height, guint seed, const char *format)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  GRand *rand = g_rand_new_with_seed (seed);
  int a = g_rand_int_range (rand, 1, 7), b = g_rand_int_range (rand, 1, 7), c = g_rand_int_range (rand, 0, 256);
  int x0 = g_rand_int_range (rand, 0, width / 2), y0 = g_rand_int_range (rand, 0, height / 2);
  int x1 = x0 + width / 3, y1 = y0 + height / 3;
  guint8 fill[3] = { g_rand_int_range (rand, 0, 256), g_rand_int_range (rand, 0, 256), g_rand_int_range (rand, 0, 256) };
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        guint8 *p = pixels + (size_t) y * stride + 3 * x;
        gboolean inside = x >= x0 && x < x1 && y >= y0 && y < y1;
        int noise = g_rand_int_range (rand, 0, 24);
        p[0] = inside ? fill[0] : (guint8) ((a * x * 255 / width + c + noise) & 255);
        p[1] = inside ? fill[1] : (guint8) ((b * y * 255 / height + noise) & 255);
        p[2] = inside ? fill[2] : (guint8) (((x + y) * (a + b) + c) & 255);
      }
  g_rand_free (rand);
  GError *error = NULL;
  if (g_str_equal (format, "jpeg"))
    gdk_pixbuf_save (pixbuf, path, "jpeg", &error, "quality", "92", NULL);
  else
    gdk_pixbuf_save (pixbuf, path, format, &error, NULL);
  g_assert_no_error (error);
}

/* Options with a cache folder of the test's own. */
static ClipIndexOptions
test_options (const char *name)
{
  ClipIndexOptions options;
  clip_index_options_init (&options);
  char *cache_dir = g_build_filename (tu_tmpdir (), "cache", name, NULL);
  g_test_queue_free (cache_dir);
  options.cache_dir = cache_dir;
  return options;
}

static ClipIndex *
open_index (const char *folder, const ClipIndexOptions *options)
{
  GError *error = NULL;
  ClipIndex *index = clip_index_open (folder, tiny_model (), options, &error);
  g_assert_no_error (error);
  return index;
}

static void
update (ClipIndex *index, ClipIndexStats *stats)
{
  GError *error = NULL;
  g_assert_true (clip_index_update (index, stats, NULL, &error));
  g_assert_no_error (error);
}

static void
assert_counts (const ClipIndexStats *stats, int added, int updated, int removed, int moved, int skipped, int total)
{
  g_test_message ("added %" G_GINT64_FORMAT " updated %" G_GINT64_FORMAT " removed %" G_GINT64_FORMAT
                  " moved %" G_GINT64_FORMAT " skipped %u total %" G_GINT64_FORMAT, stats->added, stats->updated,
                  stats->removed, stats->moved, stats->skipped->len, stats->total);
  g_assert_cmpint (stats->added, ==, added);
  g_assert_cmpint (stats->updated, ==, updated);
  g_assert_cmpint (stats->removed, ==, removed);
  g_assert_cmpint (stats->moved, ==, moved);
  g_assert_cmpint (stats->skipped->len, ==, skipped);
  g_assert_cmpint (stats->total, ==, total);
}

static int
warning_count (const ClipIndex *index)
{
  int n = 0;
  for (const char *const *w = clip_index_get_warnings (index); *w != NULL; w++, n++)
    g_test_message ("warning: %s", *w);
  return n;
}

static gboolean
warnings_contain (const ClipIndex *index, const char *text)
{
  for (const char *const *w = clip_index_get_warnings (index); *w != NULL; w++)
    if (strstr (*w, text) != NULL)
      return TRUE;
  return FALSE;
}

/* The stored embedding of PATH (relative to the folder), through a query by example. */
static void
stored_embedding (ClipIndex *index, const char *folder, const char *path, float *out)
{
  g_autofree char *full = g_build_filename (folder, path, NULL);
  ClipQueryTerm term = { .image = full, .weight = 1 };
  GError *error = NULL;
  g_assert_true (clip_index_embed_query (index, &term, 1, out, &error));
  g_assert_no_error (error);
}

static void
encode_file (const char *path, float *out)
{
  GError *error = NULL;
  g_assert_true (clip_model_encode_image_files (tiny_model (), (const char *[]) { path }, 1, TRUE, out, NULL, &error));
  g_assert_no_error (error);
}

static void
set_mtime (const char *path, time_t when)
{
  struct utimbuf times = { when, when };
  g_assert_cmpint (utime (path, &times), ==, 0);
}

static void
flip_byte (const char *path, goffset offset)
{
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpint (offset, <, (goffset) len);
  data[offset] ^= 0x5A;
  tu_write_file (path, data, len);
}

/* ---------------------------------------------------------------- the file format */

static int
compare_entry_paths (const void *a, const void *b)
{
  return strcmp (((const ClipIndexEntry *) a)->path, ((const ClipIndexEntry *) b)->path);
}

static void
test_store_roundtrip (void)
{
  g_autofree char *file = g_build_filename (tu_tmpdir (), "store.cliplab-index", NULL);
  const uint8_t key[CLIP_INDEX_KEY_BYTES] = { 1, 2, 3 };
  const float emb[3][4] = { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 } };
  ClipIndexEntry entries[3] = {
    { .path = "a.jpg", .size = 10, .mtime_ns = 1000, .embedding = emb[0] },
    { .path = "sub/b.png", .size = 20, .mtime_ns = -5, .embedding = emb[1] },
    { .path = "c d.gif", .size = 30, .mtime_ns = 3, .embedding = emb[2] },
  };
  entries[1].hash[0] = 0xAB;
  GError *error = NULL;
  g_assert_true (clip_index_store_write (file, "/photos", key, 4, entries, 3, &error));
  g_assert_no_error (error);

  g_autoptr (ClipIndexStore) store = clip_index_store_read (file, "/photos", key, 4, FALSE, &error);
  g_assert_no_error (error);
  g_assert_null (clip_index_store_warnings (store)[0]);
  g_assert_true (clip_index_store_is_compact (store));
  size_t n;
  const ClipIndexEntry *got = clip_index_store_entries (store, &n);
  g_assert_cmpuint (n, ==, 3);
  for (size_t i = 0; i < n; i++)
    {
      g_assert_cmpstr (got[i].path, ==, entries[i].path);
      g_assert_cmpuint (got[i].size, ==, entries[i].size);
      g_assert_cmpint (got[i].mtime_ns, ==, entries[i].mtime_ns);
      g_assert_cmpmem (got[i].hash, 16, entries[i].hash, 16);
      g_assert_cmpmem (got[i].embedding, sizeof emb[i], emb[i], sizeof emb[i]);
      g_assert_cmpuint (got[i].row, ==, i);
    }
  /* The embedding matrix is aligned inside the map for BLAS. */
  g_assert_cmpuint ((uintptr_t) got[0].embedding % 64, ==, 0);
  float query[4] = { 0.5f, 0.25f, 2, 0 }, scores[3];
  clip_index_store_scores (store, query, scores);
  g_assert_cmpfloat (scores[0], ==, 0.5f);
  g_assert_cmpfloat (scores[2], ==, 2.0f);

  /* Another folder, model or dimension: not trusted. */
  g_autoptr (ClipIndexStore) other = clip_index_store_read (file, "/elsewhere", key, 4, FALSE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (clip_index_store_warnings (other)[0]);
  clip_index_store_entries (other, &n);
  g_assert_cmpuint (n, ==, 0);

  /* A journal block supersedes the entry of the same path. */
  uint64_t sequence, end = clip_index_store_end (store, &sequence);
  g_assert_cmpuint (sequence, ==, 1);
  const float newer[4] = { 0, 0, 0, 1 };
  ClipIndexEntry journal[2] = {
    { .path = "sub/b.png", .size = 21, .embedding = newer },
    { .path = "e.jpg", .size = 40, .embedding = newer },
  };
  int fd = g_open (file, O_WRONLY, 0);
  g_assert_cmpint (fd, >=, 0);
  g_assert_true (clip_index_store_append (fd, file, &end, &sequence, 4, journal, 2, &error));
  g_assert_no_error (error);
  close (fd);
  g_autoptr (ClipIndexStore) journaled = clip_index_store_read (file, "/photos", key, 4, FALSE, &error);
  g_assert_null (clip_index_store_warnings (journaled)[0]);
  g_assert_false (clip_index_store_is_compact (journaled));
  got = clip_index_store_entries (journaled, &n);
  g_assert_cmpuint (n, ==, 4);
  g_assert_cmpstr (got[1].path, ==, "sub/b.png");
  g_assert_cmpuint (got[1].size, ==, 21);
  g_assert_cmpfloat (got[1].embedding[3], ==, 1.0f);
  g_assert_cmpstr (got[3].path, ==, "e.jpg");

  /* Damage inside one chunk of a large block loses that chunk's entries only. */
  enum { MANY = 20000 };
  g_autofree float *many_emb = g_new0 (float, MANY * 4);
  g_autofree ClipIndexEntry *many = g_new0 (ClipIndexEntry, MANY);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < MANY; i++)
    {
      many_emb[i * 4 + i % 4] = 1;
      g_ptr_array_add (names, g_strdup_printf ("dir%d/img%05d.jpg", i % 7, i));
      many[i] = (ClipIndexEntry) { .path = names->pdata[i], .size = i, .embedding = many_emb + i * 4 };
    }
  g_assert_true (clip_index_store_write (file, "/photos", key, 4, many, MANY, &error));
  g_autofree char *bytes = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (file, &bytes, &len, NULL));
  const ClipIndexFileHeader *fh = (const ClipIndexFileHeader *) bytes;
  g_assert_cmpuint (fh->block_count, ==, 1);
  /* Header, block header, 3-chunk table padded to 64, then row 10000 (chunk 1). */
  flip_byte (file, fh->header_size + 64 + 64 + (goffset) 10000 * 4 * sizeof (float));
  g_autoptr (ClipIndexStore) partial = clip_index_store_read (file, "/photos", key, 4, FALSE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (clip_index_store_warnings (partial)[0], "entries 8192-16383 are damaged"));
  got = clip_index_store_entries (partial, &n);
  g_assert_cmpuint (n, ==, MANY - 8192);
  g_assert_cmpstr (got[8192].path, ==, "dir4/img16384.jpg");
  g_assert_cmpuint (got[8192].row, ==, 16384);
  g_assert_cmpuint (clip_index_store_n_rows (partial), ==, MANY);
}

/* Replaces the one path of the one-entry, 4-float index FILE by FORGED (as long) and makes every
 * checksum match again: what a crafted file could hold. */
static void
forge_path (const char *file, const char *path, const char *forged)
{
  g_autofree char *bytes = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (file, &bytes, &len, NULL));
  g_assert_cmpuint (strlen (forged), ==, strlen (path));
  const ClipIndexFileHeader *fh = (const ClipIndexFileHeader *) bytes;
  ClipIndexBlockHeader *block = (ClipIndexBlockHeader *) (bytes + fh->header_size);
  /* The payload: the chunk table padded to 64 bytes, 4 floats padded to 64, the record, the path. */
  uint8_t *payload = (uint8_t *) (block + 1);
  ClipIndexChunk *table = (ClipIndexChunk *) payload;
  char *strings = (char *) payload + 64 + 64 + sizeof (ClipIndexRecord);
  g_assert_cmpstr (strings, ==, path);
  memcpy (strings, forged, strlen (forged));
  XXH3_state_t *state = XXH3_createState ();
  XXH3_64bits_reset (state);
  XXH3_64bits_update (state, payload + 64, 4 * sizeof (float));
  XXH3_64bits_update (state, payload + 128, sizeof (ClipIndexRecord));
  XXH3_64bits_update (state, strings, strlen (forged) + 1);
  table[0].checksum = XXH3_64bits_digest (state);
  XXH3_freeState (state);
  block->table_checksum = XXH3_64bits (table, sizeof *table);
  block->checksum = XXH3_64bits (block, offsetof (ClipIndexBlockHeader, checksum));
  tu_write_file (file, bytes, len);
}

/* The writer refuses, with a clear error and before writing, every path the reader would refuse, so
 * that no index is written that cannot be read back; a crafted file holding one is still refused. */
static void
test_store_paths (void)
{
  g_autofree char *file = g_build_filename (tu_tmpdir (), "paths.cliplab-index", NULL);
  const uint8_t key[CLIP_INDEX_KEY_BYTES] = { 4 };
  const float emb[4] = { 1, 0, 0, 0 };
  g_autofree char *longest = g_strnfill (CLIP_INDEX_MAX_PATH, 'x');
  g_autofree char *too_long = g_strnfill (CLIP_INDEX_MAX_PATH + 1, 'x');
  const struct { const char *path, *problem; } bad[] = {
    { "", "the path is empty" },
    { "/etc/passwd", "the path is absolute" },
    { "sub/../../etc/passwd", "'..' component" },
    { "..", "'..' component" },
    { "./a.jpg", "'.' or" },
    { "a/./b.jpg", "'.' or" },
    { "a//b.jpg", "an empty," },
    { "a/", "an empty," },
    { too_long, "longer than 4096 bytes" },
  };
  GError *error = NULL;
  ClipIndexEntry good = { .path = "a.jpg", .size = 7, .embedding = emb };
  g_assert_true (clip_index_store_write (file, "/photos", key, 4, &good, 1, &error));
  g_assert_no_error (error);
  g_autofree char *before = NULL;
  gsize before_len;
  g_assert_true (g_file_get_contents (file, &before, &before_len, NULL));
  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      /* A valid entry first: the check covers every entry, not just the first. */
      ClipIndexEntry entries[2] = { good, { .path = bad[i].path, .embedding = emb } };
      g_assert_false (clip_index_store_write (file, "/photos", key, 4, entries, 2, &error));
      g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "paths.cliplab-index: cannot store entry 1"));
      g_assert_nonnull (strstr (error->message, bad[i].problem));
      g_clear_error (&error);

      /* An append refuses it too, leaving the file and the offsets alone. */
      uint64_t offset = before_len, sequence = 1;
      int fd = g_open (file, O_WRONLY, 0);
      g_assert_cmpint (fd, >=, 0);
      g_assert_false (clip_index_store_append (fd, file, &offset, &sequence, 4, entries, 2, &error));
      close (fd);
      g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, bad[i].problem));
      g_clear_error (&error);
      g_assert_cmpuint (offset, ==, before_len);
      g_assert_cmpuint (sequence, ==, 1);
      g_autofree char *after = NULL;
      gsize after_len;
      g_assert_true (g_file_get_contents (file, &after, &after_len, NULL));
      g_assert_cmpmem (after, after_len, before, before_len);
    }

  /* A compacted index holds each path once; the longest path allowed reads back. */
  ClipIndexEntry twice[3] = { good, { .path = longest, .embedding = emb }, good };
  g_assert_false (clip_index_store_write (file, "/photos", key, 4, twice, 3, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "cannot store entry 2 ('a.jpg'): the path is given more than once"));
  g_clear_error (&error);
  g_assert_true (clip_index_store_write (file, "/photos", key, 4, twice, 2, &error));
  g_assert_no_error (error);
  g_autoptr (ClipIndexStore) store = clip_index_store_read (file, "/photos", key, 4, FALSE, &error);
  g_assert_no_error (error);
  g_assert_null (clip_index_store_warnings (store)[0]);
  size_t n;
  const ClipIndexEntry *got = clip_index_store_entries (store, &n);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpstr (got[1].path, ==, longest);

  /* Dimensions the reader cannot lay out, and a folder path longer than the header takes. */
  g_assert_false (clip_index_store_write (file, "/photos", key, 0, &good, 1, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "embedding dimension 0 is not within"));
  g_clear_error (&error);
  g_autofree char *deep = g_strconcat ("/", too_long, "/", too_long, NULL);
  g_assert_false (clip_index_store_write (file, deep, key, 4, &good, 1, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT);
  g_assert_nonnull (strstr (error->message, "the folder's path is longer than 8192 bytes"));
  g_clear_error (&error);

  /* A path leading out of the folder in a crafted file is refused even with valid checksums. */
  ClipIndexEntry decoy = { .path = "sub/xx/xx/etc/passwd", .embedding = emb };
  g_assert_true (clip_index_store_write (file, "/photos", key, 4, &decoy, 1, &error));
  g_autoptr (ClipIndexStore) accepted = clip_index_store_read (file, "/photos", key, 4, FALSE, &error);
  g_assert_null (clip_index_store_warnings (accepted)[0]);
  clip_index_store_entries (accepted, &n);
  g_assert_cmpuint (n, ==, 1);
  forge_path (file, decoy.path, "sub/../../etc/passwd");
  g_autoptr (ClipIndexStore) refused = clip_index_store_read (file, "/photos", key, 4, FALSE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (clip_index_store_warnings (refused)[0], "invalid path"));
  clip_index_store_entries (refused, &n);
  g_assert_cmpuint (n, ==, 0);
}

static const ClipIndexEntry *
find_entry (const ClipIndexEntry *entries, size_t n, const char *path)
{
  const ClipIndexEntry *found = NULL;
  for (size_t i = 0; i < n; i++)
    if (g_str_equal (entries[i].path, path))
      {
        g_assert_null (found);  /* each path once */
        found = &entries[i];
      }
  g_assert_nonnull (found);
  return found;
}

/* A path repeated 3 and 4 times in one journal block, around other paths and over an entry of the
 * compacted block: the last entry wins, in the store read back, in its search scores and in the
 * index compacted from it and read again. */
static void
test_store_repeats (void)
{
  enum { DIM = 4 };
  g_autofree char *file = g_build_filename (tu_tmpdir (), "repeats.cliplab-index", NULL);
  const uint8_t key[CLIP_INDEX_KEY_BYTES] = { 7 };
  float emb[10][DIM] = { { 0 } };
  for (int i = 0; i < 10; i++)
    emb[i][i % DIM] = (float) (i + 1);
  ClipIndexEntry base[2] = {
    { .path = "p.jpg", .size = 100, .embedding = emb[0] },
    { .path = "q.jpg", .size = 101, .embedding = emb[1] },
  };
  /* size = which write it is: p.jpg's last is 3, n.jpg's last is 4. */
  ClipIndexEntry journal[8] = {
    { .path = "p.jpg", .size = 1, .embedding = emb[2] },
    { .path = "n.jpg", .size = 1, .embedding = emb[3] },
    { .path = "p.jpg", .size = 2, .embedding = emb[4] },
    { .path = "n.jpg", .size = 2, .embedding = emb[5] },
    { .path = "n.jpg", .size = 3, .embedding = emb[6] },
    { .path = "o.jpg", .size = 1, .embedding = emb[7] },
    { .path = "p.jpg", .size = 3, .embedding = emb[8] },
    { .path = "n.jpg", .size = 4, .embedding = emb[9] },
  };
  for (int i = 0; i < 8; i++)
    journal[i].mtime_ns = i;
  GError *error = NULL;
  g_assert_true (clip_index_store_write (file, "/r", key, DIM, base, 2, &error));
  g_autoptr (ClipIndexStore) compact = clip_index_store_read (file, "/r", key, DIM, FALSE, &error);
  g_assert_no_error (error);
  uint64_t sequence, end = clip_index_store_end (compact, &sequence);
  int fd = g_open (file, O_WRONLY, 0);
  g_assert_cmpint (fd, >=, 0);
  g_assert_true (clip_index_store_append (fd, file, &end, &sequence, DIM, journal, 8, &error));
  g_assert_no_error (error);
  close (fd);

  struct { const char *path; uint64_t size; int64_t mtime_ns; const float *embedding; } want[] = {
    { "p.jpg", 3, 6, emb[8] }, { "q.jpg", 101, 0, emb[1] }, { "n.jpg", 4, 7, emb[9] }, { "o.jpg", 1, 5, emb[7] },
  };
  const float query[DIM] = { 1, 10, 100, 1000 };
  for (int round = 0; round < 2; round++)
    {
      /* Round 0: the journaled file; round 1: that store compacted (sorted, as an update does) and
       * read again. */
      g_autoptr (ClipIndexStore) store = clip_index_store_read (file, "/r", key, DIM, FALSE, &error);
      g_assert_no_error (error);
      g_assert_null (clip_index_store_warnings (store)[0]);
      g_assert_true (clip_index_store_is_compact (store) == (round == 1));
      size_t n;
      const ClipIndexEntry *got = clip_index_store_entries (store, &n);
      g_assert_cmpuint (n, ==, G_N_ELEMENTS (want));
      g_assert_cmpuint (clip_index_store_n_rows (store), ==, round == 0 ? 10 : 4);
      g_autofree float *scores = g_new (float, clip_index_store_n_rows (store));
      clip_index_store_scores (store, query, scores);
      for (size_t i = 0; i < G_N_ELEMENTS (want); i++)
        {
          const ClipIndexEntry *e = find_entry (got, n, want[i].path);
          g_assert_cmpuint (e->size, ==, want[i].size);
          g_assert_cmpint (e->mtime_ns, ==, want[i].mtime_ns);
          g_assert_cmpmem (e->embedding, sizeof (float) * DIM, want[i].embedding, sizeof (float) * DIM);
          float dot = 0;
          for (int k = 0; k < DIM; k++)
            dot += query[k] * want[i].embedding[k];
          g_assert_cmpfloat (scores[e->row], ==, dot);
        }
      if (round == 0)
        {
          g_autofree ClipIndexEntry *sorted = g_memdup2 (got, sizeof *got * n);
          qsort (sorted, n, sizeof *sorted, compare_entry_paths);
          g_assert_true (clip_index_store_write (file, "/r", key, DIM, sorted, n, &error));
          g_assert_no_error (error);
        }
    }
}

/* Every entry of GOT is one of WANT's, unchanged. */
static void
assert_subset (const ClipIndexEntry *got, size_t n_got, const ClipIndexEntry *want, size_t n_want, int dim)
{
  for (size_t i = 0; i < n_got; i++)
    {
      const ClipIndexEntry *match = NULL;
      for (size_t j = 0; j < n_want && match == NULL; j++)
        if (g_str_equal (got[i].path, want[j].path))
          match = &want[j];
      g_assert_nonnull (match);
      g_assert_cmpuint (got[i].size, ==, match->size);
      g_assert_cmpint (got[i].mtime_ns, ==, match->mtime_ns);
      g_assert_cmpmem (got[i].hash, 16, match->hash, 16);
      g_assert_cmpmem (got[i].embedding, sizeof (float) * dim, match->embedding, sizeof (float) * dim);
    }
}

/* Random byte changes and truncations of a valid file (base block + journal block): reading never
 * crashes, and what it returns is either reported as damaged or exactly what was written. */
static void
test_store_mutations (void)
{
  enum { N = 40, DIM = 8 };
  g_autofree char *file = g_build_filename (tu_tmpdir (), "mutate.cliplab-index", NULL);
  const uint8_t key[CLIP_INDEX_KEY_BYTES] = { 9 };
  float emb[N][DIM];
  ClipIndexEntry entries[N];
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GRand *rand = g_rand_new_with_seed (5);
  for (int i = 0; i < N; i++)
    {
      for (int k = 0; k < DIM; k++)
        emb[i][k] = (float) g_rand_double (rand);
      g_ptr_array_add (names, g_strdup_printf ("album %d/photo-%d.jpg", i % 3, i));
      entries[i] = (ClipIndexEntry) { .path = names->pdata[i], .size = 1000 + i, .mtime_ns = i, .embedding = emb[i] };
      entries[i].hash[i % 16] = (uint8_t) i;
    }
  GError *error = NULL;
  g_assert_true (clip_index_store_write (file, "/p", key, DIM, entries, N - 10, &error));
  g_autoptr (ClipIndexStore) base = clip_index_store_read (file, "/p", key, DIM, FALSE, &error);
  uint64_t sequence, end = clip_index_store_end (base, &sequence);
  int fd = g_open (file, O_WRONLY, 0);
  g_assert_true (clip_index_store_append (fd, file, &end, &sequence, DIM, entries + N - 10, 10, &error));
  g_assert_no_error (error);
  close (fd);
  g_autofree char *original = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (file, &original, &len, NULL));
  g_autofree char *mutated = g_malloc (len);

  int damaged = 0, intact = 0;
  for (int round = 0; round < 2000; round++)
    {
      memcpy (mutated, original, len);
      gsize cut = len;
      if (round % 4 == 3)
        cut = g_rand_int_range (rand, 0, len);
      else
        mutated[g_rand_int_range (rand, 0, len)] ^= (char) g_rand_int_range (rand, 1, 256);
      /* Without the fsync of tu_write_file: thousands of rounds. */
      FILE *out = fopen (file, "wb");
      g_assert_nonnull (out);
      g_assert_cmpuint (fwrite (mutated, 1, cut, out), ==, cut);
      g_assert_cmpint (fclose (out), ==, 0);
      g_autoptr (ClipIndexStore) store = clip_index_store_read (file, "/p", key, DIM, FALSE, &error);
      g_assert_no_error (error);
      size_t n;
      const ClipIndexEntry *got = clip_index_store_entries (store, &n);
      assert_subset (got, n, entries, N, DIM);
      if (clip_index_store_warnings (store)[0] != NULL)
        damaged++;
      else
        {
          /* Only padding was hit: nothing is missing. */
          g_assert_cmpuint (n, ==, N);
          intact++;
        }
    }
  g_test_message ("%d mutations detected, %d hit only padding", damaged, intact);
  g_assert_cmpint (damaged, >, 1700);
  g_rand_free (rand);
}

/* ---------------------------------------------------------------- incremental updates */

static void
test_incremental (void)
{
  g_autofree char *folder = tu_make_dir ("incremental");
  for (int i = 0; i < 6; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s/img%d.png", folder, i);
      write_image (name, 80 + i, 72, 10 + i, "png");
      set_mtime (name, 1600000000);
    }
  ClipIndexOptions options = test_options ("incremental");
  g_autoptr (ClipIndex) index = open_index (folder, &options);
  g_assert_cmpint (clip_index_get_n_entries (index), ==, 0);
  g_assert_false (g_file_test (clip_index_get_file (index), G_FILE_TEST_EXISTS));  /* opening writes nothing */

  ClipIndexStats stats;
  update (index, &stats);
  assert_counts (&stats, 6, 0, 0, 0, 0, 6);
  clip_index_stats_clear (&stats);

  /* Nothing changed: nothing is read, the file is not rewritten. */
  GStatBuf before, after;
  g_assert_cmpint (g_stat (clip_index_get_file (index), &before), ==, 0);
  update (index, &stats);
  assert_counts (&stats, 0, 0, 0, 0, 0, 6);
  clip_index_stats_clear (&stats);
  g_assert_cmpint (g_stat (clip_index_get_file (index), &after), ==, 0);
  g_assert_cmpuint (before.st_ino, ==, after.st_ino);

  int dim = clip_model_get_config (tiny_model ())->embed_dim;
  g_autofree float *moved_before = g_new (float, dim);
  g_autofree float *touched_before = g_new (float, dim);
  stored_embedding (index, folder, "img3.png", moved_before);
  stored_embedding (index, folder, "img5.png", touched_before);

  /* Add one, copy one, change one, touch one, delete one, move one into a subfolder. */
  g_autofree char *added = g_build_filename (folder, "new.png", NULL);
  g_autofree char *changed = g_build_filename (folder, "img1.png", NULL);
  g_autofree char *copy = g_build_filename (folder, "copy-of-img4.png", NULL);
  g_autofree char *original = g_build_filename (folder, "img4.png", NULL);
  g_autofree char *touched = g_build_filename (folder, "img5.png", NULL);
  g_autofree char *sub = tu_make_dir ("incremental/sub");
  g_autofree char *moved_from = g_build_filename (folder, "img3.png", NULL);
  g_autofree char *moved_to = g_build_filename (sub, "renamed.png", NULL);
  g_autofree char *deleted = g_build_filename (folder, "img2.png", NULL);
  write_image (added, 90, 70, 100, "png");
  write_image (changed, 81, 72, 200, "png");
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (original, &data, &len, NULL));
  tu_write_file (copy, data, len);
  set_mtime (touched, 1700000000);
  g_assert_cmpint (g_rename (moved_from, moved_to), ==, 0);
  g_assert_cmpint (g_unlink (deleted), ==, 0);

  update (index, &stats);
  assert_counts (&stats, 2, 2, 1, 1, 0, 7);
  clip_index_stats_clear (&stats);

  /* The moved and touched files kept their embeddings; the changed one has its new content's. */
  g_autofree float *got = g_new (float, dim);
  g_autofree float *want = g_new (float, dim);
  stored_embedding (index, folder, "sub/renamed.png", got);
  g_assert_cmpmem (got, sizeof (float) * dim, moved_before, sizeof (float) * dim);
  stored_embedding (index, folder, "img5.png", got);
  g_assert_cmpmem (got, sizeof (float) * dim, touched_before, sizeof (float) * dim);
  stored_embedding (index, folder, "img1.png", got);
  encode_file (changed, want);
  tu_assert_close_abs ("changed file re-embedded", got, want, dim, 1e-5);
  stored_embedding (index, folder, "copy-of-img4.png", got);
  encode_file (original, want);
  tu_assert_close_abs ("copy reuses the embedding", got, want, dim, 1e-5);

  /* A fresh open of the compacted file sees the same. */
  g_autoptr (ClipIndex) reopened = open_index (folder, &options);
  g_assert_cmpint (clip_index_get_n_entries (reopened), ==, 7);
  g_assert_cmpint (warning_count (reopened), ==, 0);
}

static void
update_paths (ClipIndex *index, const char *const *paths, ClipIndexStats *stats)
{
  GError *error = NULL;
  g_assert_true (clip_index_update_paths (index, paths, stats, NULL, &error));
  g_assert_no_error (error);
}

/* Only the named paths are looked at: a change elsewhere in the folder waits for a full update. */
static void
test_update_paths (void)
{
  g_autofree char *folder = tu_make_dir ("paths");
  g_autofree char *sub = tu_make_dir ("paths/sub");
  const char *names[] = { "a.png", "b.png", "sub/c.png", "sub/d.png" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (folder, names[i], NULL);
      write_image (path, 70 + i, 64, 300 + i, "png");
    }
  ClipIndexOptions options = test_options ("paths");
  g_autoptr (ClipIndex) index = open_index (folder, &options);
  ClipIndexStats stats;
  update (index, &stats);
  assert_counts (&stats, 4, 0, 0, 0, 0, 4);
  clip_index_stats_clear (&stats);

  int dim = clip_model_get_config (tiny_model ())->embed_dim;
  g_autofree float *b_before = g_new (float, dim);
  stored_embedding (index, folder, "b.png", b_before);

  /* A photo added alone goes to the journal: the file grows and is not rewritten, and a fresh open
   * reads it back. */
  GStatBuf before, after;
  g_assert_cmpint (g_stat (clip_index_get_file (index), &before), ==, 0);
  g_autofree char *first = g_build_filename (folder, "first.png", NULL);
  write_image (first, 75, 60, 399, "png");
  update_paths (index, (const char *[]) { "first.png", NULL }, &stats);
  assert_counts (&stats, 1, 0, 0, 0, 0, 5);
  clip_index_stats_clear (&stats);
  g_assert_cmpint (g_stat (clip_index_get_file (index), &after), ==, 0);
  g_assert_cmpuint (after.st_ino, ==, before.st_ino);
  g_assert_cmpint (after.st_size, >, before.st_size);
  ClipIndexItem item, current;
  g_assert_true (clip_index_find_file (index, first, &item));
  g_assert_true (clip_index_find_current_file (index, first, &current));
  g_assert_true (current.embedding == item.embedding);
  {
    g_autoptr (ClipIndex) journal = open_index (folder, &options);
    g_assert_cmpint (clip_index_get_n_entries (journal), ==, 5);
    g_assert_cmpint (warning_count (journal), ==, 0);
  }

  /* A new photo, a rename, and a change the caller does not name. */
  g_autofree char *added = g_build_filename (folder, "new.png", NULL);
  g_autofree char *b_old = g_build_filename (folder, "b.png", NULL);
  g_autofree char *b_new = g_build_filename (sub, "b-renamed.png", NULL);
  g_autofree char *unnamed = g_build_filename (folder, "unnamed.png", NULL);
  write_image (added, 77, 66, 400, "png");
  write_image (unnamed, 78, 66, 401, "png");
  g_assert_cmpint (g_rename (b_old, b_new), ==, 0);
  update_paths (index, (const char *[]) { "new.png", "b.png", "sub/b-renamed.png", NULL }, &stats);
  assert_counts (&stats, 1, 0, 0, 1, 0, 6);
  clip_index_stats_clear (&stats);
  /* An entry went: only then is the file rewritten, compacted. */
  g_assert_cmpint (g_stat (clip_index_get_file (index), &after), ==, 0);
  g_assert_cmpuint (after.st_ino, !=, before.st_ino);
  g_assert_true (clip_index_find_file (index, added, &item));
  g_assert_false (clip_index_find_file (index, unnamed, &item));
  g_assert_false (clip_index_find_file (index, b_old, &item));
  g_autofree float *got = g_new (float, dim);
  stored_embedding (index, folder, "sub/b-renamed.png", got);
  g_assert_cmpmem (got, sizeof (float) * dim, b_before, sizeof (float) * dim);
  g_autofree float *want = g_new (float, dim);
  stored_embedding (index, folder, "new.png", got);
  encode_file (added, want);
  tu_assert_close_abs ("the new photo is embedded", got, want, dim, 1e-5);

  /* A folder named once covers what is inside it (gone here), a name given twice counts once, and
   * a named path that never existed changes nothing. */
  g_autofree char *c = g_build_filename (sub, "c.png", NULL);
  g_autofree char *d = g_build_filename (sub, "d.png", NULL);
  g_assert_cmpint (g_unlink (c), ==, 0);
  update_paths (index, (const char *[]) { "sub/", "sub/c.png", "sub", "never-there.png", NULL }, &stats);
  assert_counts (&stats, 0, 0, 1, 0, 0, 5);
  clip_index_stats_clear (&stats);
  g_assert_false (clip_index_find_file (index, c, &item));
  g_assert_true (clip_index_find_file (index, d, &item));
  g_assert_true (clip_index_find_file (index, b_new, &item));

  /* Hidden names stay out, as in a full update; bad paths are refused before anything is read. */
  g_autofree char *hidden = g_build_filename (folder, ".hidden.png", NULL);
  write_image (hidden, 60, 60, 402, "png");
  update_paths (index, (const char *[]) { ".hidden.png", NULL }, &stats);
  assert_counts (&stats, 0, 0, 0, 0, 0, 5);
  clip_index_stats_clear (&stats);
  const char *bad[][2] = { { "/etc/passwd", NULL }, { "../x.png", NULL }, { "sub/./d.png", NULL }, { "", NULL } };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      GError *error = NULL;
      g_assert_false (clip_index_update_paths (index, bad[i], NULL, NULL, &error));
      g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
      g_clear_error (&error);
    }

  /* The full update then finds only the file nobody named. */
  update (index, &stats);
  assert_counts (&stats, 1, 0, 0, 0, 0, 6);
  clip_index_stats_clear (&stats);
  g_autoptr (ClipIndex) reopened = open_index (folder, &options);
  g_assert_cmpint (clip_index_get_n_entries (reopened), ==, 6);

  /* A file changed since it was indexed is still found, but its embedding is no longer current. */
  write_image (first, 76, 61, 403, "png");
  g_assert_true (clip_index_find_file (reopened, first, &item));
  g_assert_false (clip_index_find_current_file (reopened, first, &current));
  g_assert_false (clip_index_find_current_file (reopened, hidden, &current));
}

/* The index's cache inside the folder: named paths there (a watcher sees the index being written)
 * are never read as photos. */
static void
test_update_paths_own_cache (void)
{
  g_autofree char *folder = tu_make_dir ("own-cache");
  g_autofree char *photo = g_build_filename (folder, "a.png", NULL);
  write_image (photo, 64, 64, 500, "png");
  ClipIndexOptions options;
  clip_index_options_init (&options);
  g_autofree char *cache_dir = g_build_filename (folder, "cache", NULL);
  options.cache_dir = cache_dir;
  g_autoptr (ClipIndex) index = open_index (folder, &options);
  ClipIndexStats stats;
  update (index, &stats);
  assert_counts (&stats, 1, 0, 0, 0, 0, 1);
  clip_index_stats_clear (&stats);

  g_autofree char *base = g_path_get_basename (clip_index_get_file (index));
  g_autofree char *index_file = g_build_filename ("cache", base, NULL);
  update_paths (index, (const char *[]) { index_file, NULL }, &stats);
  assert_counts (&stats, 0, 0, 0, 0, 0, 1);
  clip_index_stats_clear (&stats);
  update_paths (index, (const char *[]) { "cache", NULL }, &stats);
  assert_counts (&stats, 0, 0, 0, 0, 0, 1);
  clip_index_stats_clear (&stats);
}

static void
test_exclude_hidden (void)
{
  g_autofree char *folder = tu_make_dir ("exclude");
  g_free (tu_make_dir ("exclude/.thumbnails"));
  g_free (tu_make_dir ("exclude/raw"));
  const char *files[] = { "a.png", ".thumbnails/b.png", "raw/c.png", "d.tiff.png", ".e.png" };
  for (size_t i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (folder, files[i], NULL);
      write_image (path, 40, 40, 300 + i, "png");
    }
  ClipIndexOptions options = test_options ("exclude");
  const char *exclude[] = { "raw", "*.tiff.*", NULL };
  options.exclude = exclude;
  g_autoptr (ClipIndex) index = open_index (folder, &options);
  ClipIndexStats stats;
  update (index, &stats);
  assert_counts (&stats, 1, 0, 0, 0, 0, 1);  /* ignored names are not "skipped" */
  clip_index_stats_clear (&stats);

  options.include_hidden = TRUE;
  g_autoptr (ClipIndex) with_hidden = open_index (folder, &options);
  update (with_hidden, &stats);
  assert_counts (&stats, 2, 0, 0, 0, 0, 3);
  clip_index_stats_clear (&stats);
}

/* ---------------------------------------------------------------- bad files */

static const ClipIndexSkip *
find_skip (const ClipIndexStats *stats, const char *path)
{
  for (guint i = 0; i < stats->skipped->len; i++)
    {
      const ClipIndexSkip *skip = g_ptr_array_index (stats->skipped, i);
      if (g_str_equal (skip->path, path))
        return skip;
    }
  g_test_fail_printf ("%s was not reported as skipped", path);
  return NULL;
}

static const char *
skip_reason (const ClipIndexStats *stats, const char *path)
{
  const ClipIndexSkip *skip = find_skip (stats, path);
  return skip != NULL ? skip->reason : "";
}

/* The indexed file a skipped PATH is another name of, or NULL. */
static const char *
skip_same_as (const ClipIndexStats *stats, const char *path)
{
  const ClipIndexSkip *skip = find_skip (stats, path);
  return skip != NULL ? skip->same_as : NULL;
}

static void
assert_skipped (const ClipIndexStats *stats, const char *path, const char *reason_part)
{
  const char *reason = skip_reason (stats, path);
  g_test_message ("skipped %s: %s", path, reason);
  if (strstr (reason, reason_part) == NULL)
    g_test_fail_printf ("%s: reason \"%s\" does not mention \"%s\"", path, reason, reason_part);
}

static void
write_truncated (const char *from, const char *to)
{
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (from, &data, &len, NULL));
  tu_write_file (to, data, len / 2);
}

static void
test_bad_files (void)
{
  g_autofree char *folder = tu_make_dir ("bad");
  g_autofree char *good_jpeg = g_build_filename (folder, "good.jpg", NULL);
  g_autofree char *good_png = g_build_filename (folder, "good.png", NULL);
  write_image (good_jpeg, 200, 150, 1, "jpeg");
  write_image (good_png, 120, 90, 2, "png");
  const struct { const char *name; const char *content; gsize len; } raw[] = {
    { "empty.jpg", "", 0 },
    { "notes.jpg", "just some text, not a photo\n", 28 },
    { "garbage.png", "\x89PNG\r\n\x1a\nthis is not a PNG stream at all, only its signature", 56 },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (raw); i++)
    {
      g_autofree char *path = g_build_filename (folder, raw[i].name, NULL);
      tu_write_file (path, raw[i].content, raw[i].len);
    }
  g_autofree char *truncated_jpeg = g_build_filename (folder, "cut.jpg", NULL);
  g_autofree char *truncated_png = g_build_filename (folder, "cut.png", NULL);
  write_truncated (good_jpeg, truncated_jpeg);
  write_truncated (good_png, truncated_png);
  g_autofree char *huge = g_build_filename (folder, "huge.png", NULL);
  write_image (huge, 400, 300, 3, "png");
  g_autofree char *fifo = g_build_filename (folder, "pipe.jpg", NULL);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_autofree char *sub = tu_make_dir ("bad/sub");
  g_autofree char *loop = g_build_filename (sub, "loop", NULL);
  g_autofree char *dangling = g_build_filename (folder, "dangling.jpg", NULL);
  g_autofree char *alias = g_build_filename (folder, "alias.jpg", NULL);
  g_assert_cmpint (symlink ("..", loop), ==, 0);
  g_assert_cmpint (symlink ("missing.jpg", dangling), ==, 0);
  g_assert_cmpint (symlink ("good.jpg", alias), ==, 0);
  g_autofree char *twin = g_build_filename (folder, "twin.jpg", NULL);
  g_assert_cmpint (link (good_jpeg, twin), ==, 0);

  ClipIndexOptions options = test_options ("bad");
  options.max_pixels = 100000;  /* huge.png has 120,000 */
  g_autoptr (ClipIndex) index = open_index (folder, &options);
  ClipIndexStats stats;
  update (index, &stats);
  g_assert_cmpint (stats.total, ==, 2);
  assert_skipped (&stats, "empty.jpg", "empty file");
  assert_skipped (&stats, "notes.jpg", "not an image (the content looks like text/plain)");
  assert_skipped (&stats, "garbage.png", "damaged png image");
  assert_skipped (&stats, "cut.jpg", "truncated JPEG");
  assert_skipped (&stats, "cut.png", "truncated PNG");
  assert_skipped (&stats, "huge.png", "400×300 image (120000 pixels), more than the limit of 100000 pixels");
  assert_skipped (&stats, "pipe.jpg", "named pipe");
  assert_skipped (&stats, "sub/loop", "symbolic link, not followed");
  assert_skipped (&stats, "alias.jpg", "symbolic link, not followed");
  /* A hard link names the file it is another name of, for callers that want its embedding. */
  assert_skipped (&stats, "twin.jpg", "the same file as 'good.jpg' (hard link)");
  g_assert_cmpstr (skip_same_as (&stats, "twin.jpg"), ==, "good.jpg");
  g_assert_null (skip_same_as (&stats, "alias.jpg"));
  g_assert_null (skip_same_as (&stats, "notes.jpg"));
  g_assert_cmpint (stats.skipped->len, ==, 11);
  clip_index_stats_clear (&stats);

  /* Following links: the loop and the alias are recognised, the dangling link reported. */
  options.follow_symlinks = TRUE;
  g_autoptr (ClipIndex) following = open_index (folder, &options);
  update (following, &stats);
  g_assert_cmpint (stats.total, ==, 2);
  assert_skipped (&stats, "sub/loop", "symbolic link loop: leads back to '.'");
  assert_skipped (&stats, "dangling.jpg", "broken symbolic link");
  assert_skipped (&stats, "alias.jpg", "the same file as 'good.jpg'");
  g_assert_cmpstr (skip_same_as (&stats, "alias.jpg"), ==, "good.jpg");
  clip_index_stats_clear (&stats);

  /* Unreadable files (root reads everything, so only as another user). */
  if (geteuid () != 0)
    {
      g_autofree char *locked = g_build_filename (folder, "locked.png", NULL);
      write_image (locked, 30, 30, 4, "png");
      g_assert_cmpint (g_chmod (locked, 0), ==, 0);
      update (following, &stats);
      assert_skipped (&stats, "locked.png", "Permission denied");
      clip_index_stats_clear (&stats);
    }
}

/* ---------------------------------------------------------------- damage and interruption */

static void
count_progress (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  *(int64_t *) user_data = done;
}

/* Stops once 8 files were handled: two batches of 3 are encoded and flushed by then. */
static gboolean
abort_after_8 (gpointer user_data)
{
  return *(int64_t *) user_data >= 8;
}

static void
test_corrupt (void)
{
  const int n = 10;
  g_autofree char *folder = tu_make_dir ("corrupt");
  for (int i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s/p%02d.png", folder, i);
      write_image (name, 64, 64, 500 + i, "png");
    }
  ClipIndexOptions options = test_options ("corrupt");
  options.flush_interval = 3;
  options.batch_size = 3;
  ClipIndexStats stats;

  /* An interrupted run leaves journal blocks of 3 entries. */
  g_autoptr (ClipIndex) index = open_index (folder, &options);
  int64_t done = 0;
  const ClipCallbacks callbacks = { count_progress, abort_after_8, &done };
  GError *error = NULL;
  g_assert_false (clip_index_update (index, &stats, &callbacks, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED);
  g_clear_error (&error);
  g_autoptr (ClipIndex) interrupted = open_index (folder, &options);
  int64_t kept = clip_index_get_n_entries (interrupted);
  g_test_message ("an aborted run kept %" G_GINT64_FORMAT " entries", kept);
  g_assert_cmpint (kept, ==, 6);
  g_assert_cmpint (warning_count (interrupted), ==, 0);

  /* Damage the second block's embeddings: that block alone is dropped. */
  const char *file = clip_index_get_file (index);
  g_autofree char *bytes = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (file, &bytes, &len, NULL));
  const ClipIndexFileHeader *header = (const ClipIndexFileHeader *) bytes;
  const ClipIndexBlockHeader *block0 = (const ClipIndexBlockHeader *) (bytes + header->header_size);
  goffset block1 = header->header_size + sizeof *block0 + block0->payload_size;
  g_assert_cmpuint (block0->n_entries, ==, 3);
  flip_byte (file, block1 + sizeof (ClipIndexBlockHeader) + 64 + 5);  /* an embedding, after the chunk table */
  g_autoptr (ClipIndex) damaged = open_index (folder, &options);
  g_assert_true (warnings_contain (damaged, "block 1 at offset"));
  g_assert_cmpint (clip_index_get_n_entries (damaged), ==, kept - 3);
  update (damaged, &stats);
  assert_counts (&stats, n - (kept - 3), 0, 0, 0, 0, n);
  clip_index_stats_clear (&stats);
  g_autoptr (ClipIndex) repaired = open_index (folder, &options);
  g_assert_cmpint (warning_count (repaired), ==, 0);
  g_assert_cmpint (clip_index_get_n_entries (repaired), ==, n);

  /* A damaged header: nothing is trusted, everything is embedded again. */
  flip_byte (file, sizeof (ClipIndexFileHeader) + 1);  /* inside the folder path */
  g_autoptr (ClipIndex) bad_header = open_index (folder, &options);
  g_assert_true (warnings_contain (bad_header, "header is damaged"));
  g_assert_cmpint (clip_index_get_n_entries (bad_header), ==, 0);
  update (bad_header, &stats);
  assert_counts (&stats, n, 0, 0, 0, 0, n);
  clip_index_stats_clear (&stats);

  /* Cut inside the only block. */
  g_clear_pointer (&bytes, g_free);
  g_assert_true (g_file_get_contents (file, &bytes, &len, NULL));
  tu_write_file (file, bytes, len - 100);
  g_autoptr (ClipIndex) cut = open_index (folder, &options);
  g_assert_true (warnings_contain (cut, "not a complete block"));
  g_assert_cmpint (clip_index_get_n_entries (cut), ==, 0);
  update (cut, &stats);
  assert_counts (&stats, n, 0, 0, 0, 0, n);
  clip_index_stats_clear (&stats);

  /* Garbage after the last block: reported and dropped, the entries kept. */
  g_clear_pointer (&bytes, g_free);
  g_assert_true (g_file_get_contents (file, &bytes, &len, NULL));
  g_autofree char *longer = g_malloc (len + 300);
  memcpy (longer, bytes, len);
  memset (longer + len, 0x42, 300);
  tu_write_file (file, longer, len + 300);
  g_autoptr (ClipIndex) tail = open_index (folder, &options);
  g_assert_true (warnings_contain (tail, "300 bytes at offset"));
  g_assert_cmpint (clip_index_get_n_entries (tail), ==, n);
  update (tail, &stats);
  assert_counts (&stats, 0, 0, 0, 0, 0, n);
  clip_index_stats_clear (&stats);
  g_autoptr (ClipIndex) clean = open_index (folder, &options);
  g_assert_cmpint (warning_count (clean), ==, 0);

  /* Not an index at all; and a temporary file left by a run killed while compacting. */
  tu_write_file (file, "hello", 5);
  g_autofree char *stale = g_strconcat (file, ".Ab12Cd", NULL);
  tu_write_file (stale, "partial", 7);
  g_autoptr (ClipIndex) foreign = open_index (folder, &options);
  g_assert_true (warnings_contain (foreign, "not a ClipLab index"));
  update (foreign, &stats);
  assert_counts (&stats, n, 0, 0, 0, 0, n);
  clip_index_stats_clear (&stats);
  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));
}

/* Runs the command-line tool; its JSON output on success. */
static JsonObject *
run_cli (char **argv, char **envp, JsonParser *parser)
{
  g_autofree char *out = NULL, *err = NULL;
  int status;
  GError *error = NULL;
  g_assert_true (g_spawn_sync (NULL, argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_test_fail_printf ("%s failed: %s", argv[0], err);
  g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
  return json_node_get_object (json_parser_get_root (parser));
}

static char *
cli_path (void)
{
  const char *env = g_getenv ("CLIPLAB_CLI");
  return env != NULL ? g_strdup (env) : g_test_build_filename (G_TEST_BUILT, "..", "src", "cli", "cliplab-cli", NULL);
}

static void
test_kill_resume (void)
{
  g_autofree char *cli = cli_path ();
  if (!g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("cliplab-cli is not built");
      return;
    }
  const int n = 400, kill_at = 20;
  g_autofree char *folder = tu_make_dir ("kill");
  for (int i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s/k%03d.png", folder, i);
      write_image (name, 48, 40, 1000 + i, "png");
    }
  g_autofree char *cache_home = tu_make_dir ("kill-cache");
  g_autofree char *model = tu_shared_path (TINY);
  char **envp = g_environ_setenv (g_get_environ (), "XDG_CACHE_HOME", cache_home, TRUE);
  char *argv[] = { cli, "index", folder, "--model", model, "--tokenizer", "bytes", "--flush-every", "5",
                   "--json", NULL };
  GPid pid;
  GError *error = NULL;
  g_assert_true (g_spawn_async (NULL, argv, envp, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                                NULL, NULL, &pid, &error));
  g_assert_no_error (error);

  /* The library reads the index the tool is writing; the tool is stopped while it looks. */
  ClipIndexOptions options = test_options ("unused");
  g_autofree char *cache_dir = g_build_filename (cache_home, "cliplab", "index", NULL);
  options.cache_dir = cache_dir;
  int64_t seen = 0;
  gboolean exited = FALSE;
  while (!exited)
    {
      kill (pid, SIGSTOP);
      g_autoptr (ClipIndex) index = open_index (folder, &options);
      seen = clip_index_get_n_entries (index);
      if (seen >= kill_at)
        break;
      kill (pid, SIGCONT);
      int status;
      exited = waitpid (pid, &status, WNOHANG) == pid;
      g_usleep (1000);
    }
  g_assert_false (exited);  /* it must not have finished before it could be killed */
  kill (pid, SIGKILL);
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  g_spawn_close_pid (pid);

  g_autoptr (ClipIndex) after = open_index (folder, &options);
  int64_t kept = clip_index_get_n_entries (after);
  g_test_message ("killed after %" G_GINT64_FORMAT " flushed entries were seen; %" G_GINT64_FORMAT " kept",
                  seen, kept);
  g_assert_cmpint (kept, >=, seen);
  g_assert_cmpint (kept, <, n);

  /* The next run embeds only the rest. */
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *result = run_cli (argv, envp, parser);
  g_assert_cmpint (json_object_get_int_member (result, "added"), ==, n - kept);
  g_assert_cmpint (json_object_get_int_member (result, "removed"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (result, "total"), ==, n);
  g_assert_cmpint (json_array_get_length (json_object_get_array_member (result, "skipped")), ==, 0);
  g_strfreev (envp);
}

/* ---------------------------------------------------------------- decoding */

static double
cosine (const float *a, const float *b, int n)
{
  double dot = 0, na = 0, nb = 0;
  for (int i = 0; i < n; i++)
    {
      dot += (double) a[i] * b[i];
      na += (double) a[i] * a[i];
      nb += (double) b[i] * b[i];
    }
  return dot / sqrt (na * nb);
}

static void
test_fast_decode (void)
{
  g_autofree char *dir = tu_make_dir ("decode");
  g_autofree char *jpeg = g_build_filename (dir, "large.jpg", NULL);
  g_autofree char *png = g_build_filename (dir, "large.png", NULL);
  write_image (jpeg, 1601, 1203, 7, "jpeg");
  write_image (png, 700, 500, 7, "png");
  ClipModel *model = tiny_model ();
  ClipIndexDecoder decoder = {
    .image_size = clip_model_get_config (model)->image_size,  /* 64: the shorter side stays ≥ 128 */
    .preprocess = clip_model_get_preprocess (model),
    .apply_exif_orientation = TRUE,
    .max_pixels = CLIP_MAX_IMAGE_PIXELS,
    .max_file_bytes = 1 << 30,
  };
  g_assert_cmpint (decoder.image_size, ==, 64);

  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (jpeg, &data, &len, NULL));
  GError *error = NULL;
  g_autoptr (ClipImage) fast = clip_index_decode_image (&decoder, jpeg, (const uint8_t *) data, len, &error);
  g_assert_no_error (error);
  /* 1/8 scale, exactly as libjpeg produces it (ceil), so gdk-pixbuf did not rescale. */
  g_assert_cmpint (fast->width, ==, 201);
  g_assert_cmpint (fast->height, ==, 151);
  decoder.exact_decode = TRUE;
  g_autoptr (ClipImage) exact = clip_index_decode_image (&decoder, jpeg, (const uint8_t *) data, len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (exact->width, ==, 1601);
  g_assert_cmpint (exact->height, ==, 1203);

  /* The exact path equals clip_image_load; the fast one stays close. */
  g_autoptr (ClipImage) loaded = clip_image_load (jpeg, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (exact->pixels, (size_t) 1601 * 1203 * 3, loaded->pixels, (size_t) 1601 * 1203 * 3);
  int s = decoder.image_size, dim = clip_model_get_config (model)->embed_dim;
  g_autofree uint8_t *crop_fast = g_malloc ((size_t) s * s * 3);
  g_autofree uint8_t *crop_exact = g_malloc ((size_t) s * s * 3);
  clip_image_resize_crop (fast, s, crop_fast);
  clip_image_resize_crop (exact, s, crop_exact);
  double diff = 0;
  for (int i = 0; i < s * s * 3; i++)
    diff += abs ((int) crop_fast[i] - (int) crop_exact[i]);
  diff /= s * s * 3;
  g_autofree float *pixels = g_new (float, (size_t) 2 * 3 * s * s);
  g_autofree float *emb = g_new (float, (size_t) 2 * dim);
  clip_image_normalize (crop_fast, decoder.preprocess, pixels);
  clip_image_normalize (crop_exact, decoder.preprocess, pixels + 3 * s * s);
  g_assert_true (clip_model_encode_images (model, pixels, 2, emb, NULL, &error));
  double cos = cosine (emb, emb + dim, dim);
  g_test_message ("fast vs exact decode: mean |crop difference| %.3f levels, embedding cosine %.6f", diff, cos);
  g_assert_cmpfloat (diff, <, 6.0);  /* a wrong scale, crop or orientation gives tens of levels */
  g_assert_cmpfloat (cos, >=, 0.995);

  /* Other formats are decoded at full size. */
  decoder.exact_decode = FALSE;
  g_clear_pointer (&data, g_free);
  g_assert_true (g_file_get_contents (png, &data, &len, NULL));
  g_autoptr (ClipImage) full = clip_index_decode_image (&decoder, png, (const uint8_t *) data, len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (full->width, ==, 700);
}

/* clip_index_preprocess_file reads a file as the index does, so an image's embedding from it equals
 * the stored one (the app's single-image path and its folder store agree); a full-size decode of a
 * large JPEG does not. */
static void
test_preprocess_file (void)
{
  g_autofree char *dir = tu_make_dir ("preprocess-file");
  g_autofree char *jpeg = g_build_filename (dir, "large.jpg", NULL);
  g_autofree char *png = g_build_filename (dir, "small.png", NULL);
  write_image (jpeg, 1601, 1203, 11, "jpeg");
  write_image (png, 90, 70, 12, "png");
  ClipIndexOptions options = test_options ("preprocess-file");
  ClipIndex *index = open_index (dir, &options);
  ClipIndexStats stats;
  update (index, &stats);
  clip_index_stats_clear (&stats);

  ClipModel *model = tiny_model ();
  int s = clip_model_get_config (model)->image_size, dim = clip_model_get_config (model)->embed_dim;
  g_autofree float *pixels = g_new (float, (size_t) 3 * s * s);
  g_autofree float *embedding = g_new (float, dim);
  GError *error = NULL;
  const char *files[] = { jpeg, png };
  for (guint f = 0; f < G_N_ELEMENTS (files); f++)
    {
      ClipIndexItem item;
      g_assert_true (clip_index_find_file (index, files[f], &item));
      g_assert_true (clip_index_preprocess_file (model, &options, files[f], pixels, &error));
      g_assert_no_error (error);
      g_assert_true (clip_model_encode_images (model, pixels, 1, embedding, NULL, &error));
      g_assert_no_error (error);
      for (int d = 0; d < dim; d++)
        g_assert_cmpfloat_with_epsilon (embedding[d], item.embedding[d], 1e-5);
    }

  /* The full-size decode of the large JPEG gives another embedding: what the function avoids. */
  g_autoptr (ClipImage) full = clip_image_load (jpeg, TRUE, &error);
  g_assert_no_error (error);
  g_autofree uint8_t *crop = g_malloc ((size_t) 3 * s * s);
  clip_image_resize_crop (full, s, crop);
  clip_image_normalize (crop, clip_model_get_preprocess (model), pixels);
  g_assert_true (clip_model_encode_images (model, pixels, 1, embedding, NULL, &error));
  ClipIndexItem item;
  g_assert_true (clip_index_find_file (index, jpeg, &item));
  double largest = 0;
  for (int d = 0; d < dim; d++)
    largest = MAX (largest, fabs (embedding[d] - item.embedding[d]));
  g_test_message ("full-size decode vs stored embedding: largest difference %.2e", largest);
  g_assert_cmpfloat (largest, >, 1e-4);

  g_autofree char *missing = g_build_filename (dir, "missing.png", NULL);
  g_assert_false (clip_index_preprocess_file (model, NULL, missing, pixels, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "missing.png"));
  g_clear_error (&error);
  clip_index_free (index);
}

/* ---------------------------------------------------------------- search */

typedef struct {
  char  *path;
  double score;
} Expected;

static int
compare_expected (gconstpointer a, gconstpointer b)
{
  const Expected *x = a, *y = b;
  return x->score > y->score ? -1 : x->score < y->score ? 1 : strcmp (x->path, y->path);
}

/* The search results for QUERY must be the files ranked by QUERY · their directly encoded
 * embeddings. */
static void
assert_ranking (ClipIndex *index, const float *query, char **names, const float *embeds, int n, int dim)
{
  g_autofree Expected *want = g_new (Expected, n);
  for (int i = 0; i < n; i++)
    {
      double dot = 0;
      for (int k = 0; k < dim; k++)
        dot += (double) query[k] * embeds[(size_t) i * dim + k];
      want[i] = (Expected) { names[i], dot };
    }
  qsort (want, n, sizeof *want, compare_expected);
  g_autofree ClipSearchResult *got = g_new (ClipSearchResult, n);
  g_assert_cmpint (clip_index_search (index, query, n, -1, got), ==, n);
  for (int i = 0; i < n; i++)
    {
      g_test_message ("%d: %s %.6f (want %s %.6f)", i, got[i].path, got[i].score, want[i].path, want[i].score);
      g_assert_cmpstr (got[i].path, ==, want[i].path);
      g_assert_cmpfloat_with_epsilon (got[i].score, want[i].score, 1e-5);
    }
}

static void
test_search_ranking (void)
{
  const int n = 9;
  g_autofree char *folder = tu_make_dir ("search");
  char *names[9];
  g_autofree char **paths = g_new0 (char *, n + 1);
  for (int i = 0; i < n; i++)
    {
      names[i] = g_strdup_printf ("s%d.%s", i, i % 3 == 0 ? "jpg" : "png");
      paths[i] = g_build_filename (folder, names[i], NULL);
      write_image (paths[i], 90 + 7 * i, 100 - 3 * i, 40 + i, i % 3 == 0 ? "jpeg" : "png");
    }
  ClipIndexOptions options = test_options ("search");
  g_autoptr (ClipIndex) index = open_index (folder, &options);
  ClipIndexStats stats;
  update (index, &stats);
  assert_counts (&stats, n, 0, 0, 0, 0, n);
  clip_index_stats_clear (&stats);

  /* The expected order comes from the model itself, image by image. */
  ClipModel *model = tiny_model ();
  int dim = clip_model_get_config (model)->embed_dim;
  g_autofree float *embeds = g_new (float, (size_t) n * dim);
  GError *error = NULL;
  g_assert_true (clip_model_encode_image_files (model, (const char *const *) paths, n, TRUE, embeds, NULL, &error));
  g_assert_no_error (error);

  /* Find similar: the image itself first, with score 1. */
  g_autofree float *query = g_new (float, dim);
  ClipQueryTerm by_example = { .image = paths[4], .weight = 1 };
  g_assert_true (clip_index_embed_query (index, &by_example, 1, query, &error));
  assert_ranking (index, query, names, embeds, n, dim);
  ClipSearchResult best[2];
  g_assert_cmpint (clip_index_search (index, query, 2, -1, best), ==, 2);
  g_assert_cmpstr (best[0].path, ==, names[4]);
  g_assert_cmpfloat_with_epsilon (best[0].score, 1.0, 1e-5);

  /* The same image from outside the folder is decoded as the index decodes. */
  g_autofree char *outside = g_build_filename (tu_tmpdir (), "outside.png", NULL);
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (paths[4], &data, &len, NULL));
  tu_write_file (outside, data, len);
  ClipQueryTerm from_outside = { .image = outside, .weight = 1 };
  g_autofree float *query2 = g_new (float, dim);
  g_assert_true (clip_index_embed_query (index, &from_outside, 1, query2, &error));
  tu_assert_close_abs ("query by an image outside the folder", query2, query, dim, 1e-6);

  /* Text, and text minus an image: Σ w · normalised embeddings, normalised. */
  ClipQueryTerm text = { .text = "a red square", .weight = 1 };
  g_assert_true (clip_index_embed_query (index, &text, 1, query, &error));
  assert_ranking (index, query, names, embeds, n, dim);
  g_autofree float *text_emb = g_new (float, dim);
  g_assert_true (clip_model_encode_texts (model, (const char *[]) { "a red square" }, 1, text_emb, NULL, &error));
  tu_assert_close_abs ("text query", query, text_emb, dim, 1e-6);

  ClipQueryTerm combined[] = {
    { .text = "a red square", .weight = 2 },
    { .image = paths[1], .weight = -1 },
  };
  g_assert_true (clip_index_embed_query (index, combined, 2, query, &error));
  g_autofree float *want = g_new (float, dim);
  double norm = 0;
  for (int k = 0; k < dim; k++)
    {
      want[k] = 2 * text_emb[k] - embeds[(size_t) dim + k];
      norm += (double) want[k] * want[k];
    }
  for (int k = 0; k < dim; k++)
    want[k] = (float) (want[k] / sqrt (norm));
  tu_assert_close_abs ("text minus image", query, want, dim, 1e-5);
  assert_ranking (index, query, names, embeds, n, dim);

  /* Top K and the relative threshold. */
  g_autofree ClipSearchResult *all = g_new (ClipSearchResult, n);
  g_assert_cmpint (clip_index_search (index, query, n, -1, all), ==, n);
  ClipSearchResult top3[3];
  g_assert_cmpint (clip_index_search (index, query, 3, -1, top3), ==, 3);
  for (int i = 0; i < 3; i++)
    g_assert_cmpstr (top3[i].path, ==, all[i].path);
  float margin = (all[0].score - all[n - 1].score) / 2;
  g_autofree ClipSearchResult *close = g_new (ClipSearchResult, n);
  int kept = clip_index_search (index, query, n, margin, close);
  g_assert_cmpint (kept, >, 0);
  g_assert_cmpint (kept, <, n);
  g_assert_cmpfloat (close[kept - 1].score, >=, all[0].score - margin);
  g_assert_cmpfloat (all[kept].score, <, all[0].score - margin);

  /* The command line: indexes first, then prints one JSON object per result, best first. */
  g_autofree char *cli = cli_path ();
  if (g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_autofree char *cache_home = tu_make_dir ("search-cache");
      g_autofree char *model_path = tu_shared_path (TINY);
      char **envp = g_environ_setenv (g_get_environ (), "XDG_CACHE_HOME", cache_home, TRUE);
      char *argv[] = { cli, "search", folder, "--model", model_path, "--tokenizer", "bytes", "--image", paths[4],
                       "--top", "3", "--json", NULL };
      g_autofree char *out = NULL, *err = NULL;
      int status;
      g_assert_true (g_spawn_sync (NULL, argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error));
      g_assert_no_error (error);
      g_assert_true (g_spawn_check_wait_status (status, NULL));
      g_strfreev (envp);
      g_auto (GStrv) lines = g_strsplit (g_strchomp (out), "\n", -1);
      g_assert_cmpuint (g_strv_length (lines), ==, 3);
      ClipQueryTerm example = { .image = paths[4], .weight = 1 };
      g_assert_true (clip_index_embed_query (index, &example, 1, query, &error));
      ClipSearchResult want_top[3];
      g_assert_cmpint (clip_index_search (index, query, 3, -1, want_top), ==, 3);
      for (int i = 0; i < 3; i++)
        {
          g_autoptr (JsonParser) parser = json_parser_new ();
          g_assert_true (json_parser_load_from_data (parser, lines[i], -1, &error));
          JsonObject *object = json_node_get_object (json_parser_get_root (parser));
          g_autofree char *want_path = g_build_filename (folder, want_top[i].path, NULL);
          g_assert_cmpstr (json_object_get_string_member (object, "path"), ==, want_path);
          g_assert_cmpfloat_with_epsilon (json_object_get_double_member (object, "score"), want_top[i].score, 1e-6);
        }
    }

  /* Terms that cancel out are refused. */
  ClipQueryTerm cancel[] = { { .text = "x", .weight = 1 }, { .text = "x", .weight = -1 } };
  g_assert_false (clip_index_embed_query (index, cancel, 2, query, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_clear_error (&error);
  for (int i = 0; i < n; i++)
    g_free (names[i]);
  g_strfreev (g_steal_pointer (&paths));
}

/* ---------------------------------------------------------------- codes and older files */

/* Rewrites the index FILE as format version 1 wrote it: the same blocks without the codes after
 * each, the header's version 1. */
static void
downgrade_to_version_1 (const char *file)
{
  g_autofree char *bytes = NULL;
  size_t len;
  g_assert_true (g_file_get_contents (file, &bytes, &len, NULL));
  const ClipIndexFileHeader *h = (const ClipIndexFileHeader *) bytes;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_byte_array_append (out, (const guint8 *) bytes, h->header_size);
  int dropped = 0;
  for (size_t offset = h->header_size; offset < len;)
    {
      /* Both kinds of block have a 64-byte header with the payload's size at byte 24 (codes: 32). */
      gboolean codes = memcmp (bytes + offset, "CLIPCOD\n", 8) == 0;
      size_t size = sizeof (ClipIndexBlockHeader)
                    + (codes ? ((const ClipIndexCodesHeader *) (bytes + offset))->payload_size
                             : ((const ClipIndexBlockHeader *) (bytes + offset))->payload_size);
      if (codes)
        dropped++;
      else
        g_byte_array_append (out, (const guint8 *) bytes + offset, size);
      offset += size;
    }
  g_assert_cmpint (dropped, >, 0);
  ClipIndexFileHeader *v1 = (ClipIndexFileHeader *) out->data;
  v1->version = 1;
  v1->checksum = 0;
  v1->checksum = XXH3_64bits (out->data, v1->header_size);
  tu_write_file (file, out->data, out->len);
}

/* Whether the index file of INDEX holds the codes of every block, as read with MODEL's key. */
static gboolean
file_has_codes (ClipIndex *index, ClipModel *model, const ClipIndexOptions *options, const char *folder)
{
  uint8_t key[CLIP_INDEX_KEY_BYTES];
  clip_index_model_key (model, options->apply_exif_orientation, options->exact_decode, key);
  g_autofree char *canonical = realpath (folder, NULL);
  GError *error = NULL;
  g_autoptr (ClipIndexStore) store = clip_index_store_read (clip_index_get_file (index), canonical, key,
                                                            clip_model_get_config (model)->embed_dim, FALSE, &error);
  g_assert_no_error (error);
  g_assert_null (clip_index_store_warnings (store)[0]);
  return clip_index_store_has_codes (store);
}

/* With a 128-d embedding, the file holds codes; a version-1 file (without) opens without a warning
 * and the next update rewrites it with them, whether it updates the folder or some paths only,
 * though nothing in the folder changed. */
static void
test_upgrade_codes (void)
{
  ClipConfig config = {
    .vision = { 32, 1, 2, 64, 1e-5f, CLIP_ACTIVATION_QUICK_GELU },
    .text = { 32, 1, 2, 64, 1e-5f, CLIP_ACTIVATION_QUICK_GELU },
    .image_size = 32, .patch_size = 16, .context_length = 8, .vocab_size = 300, .embed_dim = 128, .eot_id = -1,
  };
  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  pre.image_size = 32;
  GError *error = NULL;
  g_autoptr (ClipModel) model = clip_model_new_random (&config, &pre, NULL, 1, &error);
  g_assert_no_error (error);
  g_autofree char *folder = tu_make_dir ("upgrade");
  for (int i = 0; i < 4; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s/img%d.png", folder, i);
      write_image (name, 40, 40, 30 + i, "png");
    }
  ClipIndexOptions options = test_options ("upgrade");
  g_autoptr (ClipIndex) index = clip_index_open (folder, model, &options, &error);
  g_assert_no_error (error);
  ClipIndexStats stats;
  g_assert_true (clip_index_update (index, &stats, NULL, &error));
  g_assert_no_error (error);
  assert_counts (&stats, 4, 0, 0, 0, 0, 4);
  clip_index_stats_clear (&stats);
  g_assert_true (file_has_codes (index, model, &options, folder));

  const char *const only[] = { "img2.png", NULL };
  for (int partial = 0; partial < 2; partial++)
    {
      downgrade_to_version_1 (clip_index_get_file (index));
      g_assert_false (file_has_codes (index, model, &options, folder));
      g_autoptr (ClipIndex) old = clip_index_open (folder, model, &options, &error);
      g_assert_no_error (error);
      g_assert_cmpint (warning_count (old), ==, 0);
      g_assert_cmpint (clip_index_get_n_entries (old), ==, 4);
      gboolean ok = partial ? clip_index_update_paths (old, only, &stats, NULL, &error)
                            : clip_index_update (old, &stats, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpint (stats.added + stats.updated + stats.removed + stats.moved, ==, 0);
      clip_index_stats_clear (&stats);
      g_assert_true (file_has_codes (old, model, &options, folder));
      g_assert_cmpint (clip_index_get_n_entries (old), ==, 4);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/index/store-roundtrip", test_store_roundtrip);
  g_test_add_func ("/index/store-paths", test_store_paths);
  g_test_add_func ("/index/store-repeats", test_store_repeats);
  g_test_add_func ("/index/store-mutations", test_store_mutations);
  g_test_add_func ("/index/incremental", test_incremental);
  g_test_add_func ("/index/update-paths", test_update_paths);
  g_test_add_func ("/index/update-paths-own-cache", test_update_paths_own_cache);
  g_test_add_func ("/index/exclude-hidden", test_exclude_hidden);
  g_test_add_func ("/index/bad-files", test_bad_files);
  g_test_add_func ("/index/corrupt", test_corrupt);
  g_test_add_func ("/index/kill-resume", test_kill_resume);
  g_test_add_func ("/index/fast-decode", test_fast_decode);
  g_test_add_func ("/index/preprocess-file", test_preprocess_file);
  g_test_add_func ("/index/search-ranking", test_search_ranking);
  g_test_add_func ("/index/upgrade-codes", test_upgrade_codes);
  int status = g_test_run ();
  g_clear_pointer (&tiny, clip_model_free);
  return status;
}
