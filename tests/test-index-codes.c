/* The 4-bit first pass of a search (index-codes.c): on a store of 24,000 entries, the candidates it
 * leaves to exact scoring hold every one of the TOP best of these queries, so the ranking (ties by
 * path) is that of scoring every row exactly; and it does leave most rows out.  Duplicated
 * embeddings and queries equal to an entry make ties at the top.  Run on this CPU's kernel and on
 * the portable one (CLIPLAB_KERNEL_ISA=portable), which must agree; and every kernel of the first
 * pass this CPU runs (portable, AVX2, AVX-VNNI, AVX512-VNNI) leaves the same candidates with the same
 * scores as the portable one; a kernel the CPU lacks is reported as a skipped test.
 *
 * The codes in the index file (index-store.c): written with every block, compacted or appended, and
 * read back as written; a file of format version 1 (tests/data/index-v1.cliplab-index, without
 * codes) opens, lacks them, and is rewritten with them; damaged or cut-short codes are reported
 * (naming the file) and made again from the embeddings, and searches rank as before. */
#include "clip-private.h"
#include "index-private.h"
#include "ops-reduced.h"
#include "testutil.h"

#include <cblas.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#define N_ENTRIES 24000
#define DIM 128   /* the codes' block of values (smaller dimensions are scored exactly) */
#define N_QUERIES 40

static void
random_unit (GRand *rng, float *v)
{
  double norm = 0;
  for (int k = 0; k < DIM; k++)
    {
      v[k] = (float) g_rand_double_range (rng, -1, 1);
      norm += (double) v[k] * v[k];
    }
  for (int k = 0; k < DIM; k++)
    v[k] = (float) (v[k] / sqrt (norm));
}

typedef struct {
  float       score;
  const char *path;
} Ranked;

static int
ranked_before (const void *a, const void *b)
{
  const Ranked *x = a, *y = b;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  return strcmp (x->path, y->path);
}

/* The TOP best entries of SCORES [rows] (−∞ left out), in order, into BEST. */
static int
rank (const ClipIndexEntry *entries, size_t n, const float *scores, int top, Ranked *best)
{
  g_autofree Ranked *all = g_new (Ranked, n);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++)
    if (isfinite (scores[entries[i].row]))
      all[kept++] = (Ranked) { scores[entries[i].row], entries[i].path };
  qsort (all, kept, sizeof *all, ranked_before);
  int count = (int) MIN ((size_t) top, kept);
  memcpy (best, all, sizeof *best * count);
  return count;
}

/* N_ENTRIES random unit embeddings (every 7th a copy of an earlier one: ties between two paths),
 * written as a compacted index FILE. */
typedef struct {
  float          *embeds;
  ClipIndexEntry *list;
  GPtrArray      *paths;
  char           *file;
  const char     *folder;
  uint8_t         key[CLIP_INDEX_KEY_BYTES];
} Fixture;

static void
fixture_init (Fixture *f, GRand *rng, const char *name)
{
  f->embeds = g_new (float, (size_t) N_ENTRIES * DIM);
  f->list = g_new0 (ClipIndexEntry, N_ENTRIES);
  f->paths = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < N_ENTRIES; i++)
    {
      float *v = f->embeds + (size_t) i * DIM;
      if (i % 7 == 6)
        memcpy (v, v - 3 * DIM, sizeof (float) * DIM);
      else
        random_unit (rng, v);
      char *path = g_strdup_printf ("%02d/IMG_%06d.jpg", i % 13, i);
      g_ptr_array_add (f->paths, path);
      f->list[i] = (ClipIndexEntry) { .path = path, .size = 1000 + i, .mtime_ns = 1, .embedding = v };
      memcpy (f->list[i].hash, &i, sizeof i);
    }
  f->file = g_build_filename (tu_tmpdir (), name, NULL);
  f->folder = tu_tmpdir ();
  memset (f->key, 0, sizeof f->key);
  f->key[0] = 1;
  GError *error = NULL;
  g_assert_true (clip_index_store_write (f->file, f->folder, f->key, DIM, f->list, N_ENTRIES, &error));
  g_assert_no_error (error);
}

static void
fixture_clear (Fixture *f)
{
  g_free (f->embeds);
  g_free (f->list);
  g_ptr_array_unref (f->paths);
  g_free (f->file);
}

static ClipIndexStore *
fixture_read (const Fixture *f)
{
  GError *error = NULL;
  ClipIndexStore *store = clip_index_store_read (f->file, f->folder, f->key, DIM, FALSE, &error);
  g_assert_no_error (error);
  return store;
}

/* Searches STORE (whose entries are F's) with N_QUERIES queries, half of them entries: the pruned
 * scores are exact where kept, the ranking that of every row scored exactly, and most rows left out. */
static void
assert_same_ranking (ClipIndexStore *store, const Fixture *f, GRand *rng)
{
  size_t n_entries, n_rows = clip_index_store_n_rows (store);
  const ClipIndexEntry *entries = clip_index_store_entries (store, &n_entries);
  g_assert_cmpuint (n_entries, ==, N_ENTRIES);
  const float *embeds = f->embeds;

  g_autofree float *pruned = g_new (float, n_rows), *exact = g_new (float, n_rows);
  float query[DIM];
  size_t most_candidates = 0;
  for (int q = 0; q < N_QUERIES; q++)
    {
      int top = q % 2 ? 10 : 50;
      /* Half the queries are an entry (a duplicated one: a tie at score 1), half random. */
      if (q % 4 == 0)
        memcpy (query, embeds + (size_t) (7 * q + 6) * DIM, sizeof query);
      else
        random_unit (rng, query);
      clip_index_store_scores_top (store, query, top, pruned);
      for (size_t r = 0; r < n_rows; r++)
        exact[r] = cblas_sdot (DIM, clip_index_store_row (store, r), 1, query, 1);
      size_t candidates = 0;
      for (size_t r = 0; r < n_rows; r++)
        if (isfinite (pruned[r]))
          {
            candidates++;
            g_assert_cmpfloat (pruned[r], ==, exact[r]);
          }
      most_candidates = MAX (most_candidates, candidates);
      Ranked want[50], got[50];
      int n_want = rank (entries, n_entries, exact, top, want);
      int n_got = rank (entries, n_entries, pruned, top, got);
      g_assert_cmpint (n_got, ==, n_want);
      for (int i = 0; i < n_want; i++)
        {
          g_assert_cmpstr (got[i].path, ==, want[i].path);
          g_assert_cmpfloat (got[i].score, ==, want[i].score);
        }
    }
  g_test_message ("at most %zu of %d rows scored exactly", most_candidates, N_ENTRIES);
  g_assert_cmpuint (most_candidates, <, N_ENTRIES / 4);
}

static void
test_same_ranking (gconstpointer isa_limit)
{
  if (isa_limit != NULL)
    g_setenv ("CLIPLAB_KERNEL_ISA", isa_limit, TRUE);
  else
    g_unsetenv ("CLIPLAB_KERNEL_ISA");
  GRand *rng = g_rand_new_with_seed (7);
  Fixture f;
  fixture_init (&f, rng, "codes.idx");
  g_autoptr (ClipIndexStore) store = fixture_read (&f);
  g_assert_true (clip_index_store_has_codes (store));
  assert_same_ranking (store, &f, rng);
  fixture_clear (&f);
  g_rand_free (rng);
}

/* Every row of every block of STORE has its codes, and they are those of its embedding. */
static void
assert_codes_of_rows (const ClipIndexStore *store)
{
  guint n_blocks;
  const ClipIndexRowBlock *blocks = clip_index_store_blocks (store, &n_blocks);
  g_assert_cmpuint (n_blocks, >, 0);
  for (guint b = 0; b < n_blocks; b++)
    {
      const ClipIndexRowBlock *block = &blocks[b];
      g_assert_nonnull (block->codes);
      g_assert_nonnull (block->scales);
      g_autofree const float **rows = g_new (const float *, block->n);
      for (size_t r = 0; r < block->n; r++)
        rows[r] = block->embeds + r * DIM;
      g_autofree uint8_t *codes = g_new (uint8_t, block->n * DIM / 2);
      g_autofree float *scales = g_new (float, block->n);
      clip_index_codes_encode (rows, block->n, DIM, codes, scales);
      g_assert_cmpmem (block->codes, block->n * DIM / 2, codes, block->n * DIM / 2);
      g_assert_cmpmem (block->scales, block->n * sizeof (float), scales, block->n * sizeof (float));
    }
}

/* Codes are written with the compacted block and with each journal block, and read back as written. */
static void
test_codes_round_trip (void)
{
  g_unsetenv ("CLIPLAB_KERNEL_ISA");
  GRand *rng = g_rand_new_with_seed (11);
  Fixture f;
  fixture_init (&f, rng, "round-trip.idx");
  {
    g_autoptr (ClipIndexStore) store = fixture_read (&f);
    g_assert_true (clip_index_store_is_compact (store));
    g_assert_true (clip_index_store_has_codes (store));
    assert_codes_of_rows (store);
  }
  /* A journal block: the same paths again, with other embeddings. */
  g_autofree float *other = g_new (float, 100 * DIM);
  g_autofree ClipIndexEntry *changed = g_memdup2 (f.list, sizeof *changed * 100);
  for (int i = 0; i < 100; i++)
    {
      random_unit (rng, other + i * DIM);
      changed[i].embedding = other + i * DIM;
    }
  {
    g_autoptr (ClipIndexStore) store = fixture_read (&f);
    uint64_t sequence, end = clip_index_store_end (store, &sequence);
    int fd = g_open (f.file, O_WRONLY, 0);
    g_assert_cmpint (fd, >=, 0);
    GError *error = NULL;
    g_assert_true (clip_index_store_append (fd, f.file, &end, &sequence, DIM, changed, 100, &error));
    g_assert_no_error (error);
    close (fd);
  }
  g_autoptr (ClipIndexStore) store = fixture_read (&f);
  guint n_blocks;
  clip_index_store_blocks (store, &n_blocks);
  g_assert_cmpuint (n_blocks, ==, 2);
  g_assert_null (clip_index_store_warnings (store)[0]);
  g_assert_true (clip_index_store_has_codes (store));
  g_assert_false (clip_index_store_is_compact (store));  /* a journal block, not a lack of codes */
  assert_codes_of_rows (store);
  size_t n;
  const ClipIndexEntry *entries = clip_index_store_entries (store, &n);
  g_assert_cmpuint (n, ==, N_ENTRIES);
  for (size_t i = 0; i < n; i++)
    if (g_str_equal (entries[i].path, f.list[5].path))
      g_assert_cmpmem (entries[i].embedding, sizeof (float) * DIM, other + 5 * DIM, sizeof (float) * DIM);
  fixture_clear (&f);
  g_rand_free (rng);
}

/* The entries of tests/data/make-index-v1.c. */
#define V1_ENTRIES 64
#define V1_FOLDER "/cliplab-test/v1"

static void
v1_embedding (int i, float *v)
{
  double norm = 0;
  for (int k = 0; k < DIM; k++)
    {
      v[k] = (float) sin (i * 0.37 + k * 0.11);
      norm += (double) v[k] * v[k];
    }
  for (int k = 0; k < DIM; k++)
    v[k] = (float) (v[k] / sqrt (norm));
}

/* A version-1 file opens with its entries and without codes, is not compact (so an update rewrites
 * it), and its rewrite is a version-2 file with codes. */
static void
test_version_1 (void)
{
  g_autofree char *file = g_build_filename (tu_tmpdir (), "v1.idx", NULL);
  g_autofree char *contents = NULL;
  size_t len;
  g_assert_true (g_file_get_contents (CLIPLAB_INDEX_V1, &contents, &len, NULL));
  tu_write_file (file, contents, len);
  uint8_t key[CLIP_INDEX_KEY_BYTES] = { 1, 2, 3 };
  GError *error = NULL;
  g_autoptr (ClipIndexStore) old = clip_index_store_read (file, V1_FOLDER, key, DIM, FALSE, &error);
  g_assert_no_error (error);
  g_assert_null (clip_index_store_warnings (old)[0]);
  g_assert_false (clip_index_store_has_codes (old));
  g_assert_false (clip_index_store_is_compact (old));
  size_t n;
  const ClipIndexEntry *entries = clip_index_store_entries (old, &n);
  g_assert_cmpuint (n, ==, V1_ENTRIES);
  float want[DIM];
  for (size_t i = 0; i < n; i++)
    {
      g_autofree char *path = g_strdup_printf ("v1/IMG_%04zu.jpg", i);
      g_assert_cmpstr (entries[i].path, ==, path);
      g_assert_cmpuint (entries[i].size, ==, 1000 + i);
      v1_embedding ((int) i, want);
      g_assert_cmpmem (entries[i].embedding, sizeof want, want, sizeof want);
    }

  /* The rewrite an update does (index.c's index_compact). */
  g_assert_true (clip_index_store_write (file, V1_FOLDER, key, DIM, entries, n, &error));
  g_assert_no_error (error);
  g_autoptr (ClipIndexStore) store = clip_index_store_read (file, V1_FOLDER, key, DIM, FALSE, &error);
  g_assert_no_error (error);
  g_assert_null (clip_index_store_warnings (store)[0]);
  g_assert_true (clip_index_store_has_codes (store));
  g_assert_true (clip_index_store_is_compact (store));
  assert_codes_of_rows (store);
  const ClipIndexEntry *rewritten = clip_index_store_entries (store, &n);
  g_assert_cmpuint (n, ==, V1_ENTRIES);
  for (size_t i = 0; i < n; i++)
    {
      v1_embedding ((int) i, want);
      g_assert_cmpmem (rewritten[i].embedding, sizeof want, want, sizeof want);
    }
  g_autofree char *bytes = NULL;
  g_assert_true (g_file_get_contents (file, &bytes, &len, NULL));
  g_assert_cmpuint (((const ClipIndexFileHeader *) bytes)->version, ==, CLIP_INDEX_FILE_VERSION);
}

/* Where the codes header after the first block of FILE starts. */
static uint64_t
first_codes_offset (const char *file)
{
  g_autofree char *bytes = NULL;
  size_t len;
  g_assert_true (g_file_get_contents (file, &bytes, &len, NULL));
  const ClipIndexFileHeader *h = (const ClipIndexFileHeader *) bytes;
  const ClipIndexBlockHeader *block = (const ClipIndexBlockHeader *) (bytes + h->header_size);
  uint64_t offset = h->header_size + sizeof *block + block->payload_size;
  g_assert_cmpmem (bytes + offset, 8, "CLIPCOD\n", 8);
  return offset;
}

/* The warnings of STORE hold one that names FILE and says WHAT. */
static void
assert_warned (const ClipIndexStore *store, const char *file, const char *what)
{
  const char *const *warnings = clip_index_store_warnings (store);
  g_assert_nonnull (warnings[0]);
  g_test_message ("%s", warnings[0]);
  g_assert_true (g_str_has_prefix (warnings[0], file));
  g_assert_nonnull (strstr (warnings[0], what));
  g_assert_null (warnings[1]);
}

/* A flipped byte in the codes, or codes cut short by the end of the file: reported, the entries
 * kept, the codes made again from the embeddings (the ranking as before); the next rewrite is due,
 * and an append after cut-short codes is read back. */
static void
test_damaged_codes (void)
{
  g_unsetenv ("CLIPLAB_KERNEL_ISA");
  GRand *rng = g_rand_new_with_seed (13);
  Fixture f;
  fixture_init (&f, rng, "damaged.idx");
  uint64_t codes = first_codes_offset (f.file);
  {
    g_autofree char *bytes = NULL;
    size_t len;
    g_assert_true (g_file_get_contents (f.file, &bytes, &len, NULL));
    bytes[codes + sizeof (ClipIndexCodesHeader) + 1000] ^= 0x10;
    tu_write_file (f.file, bytes, len);
    g_autoptr (ClipIndexStore) store = fixture_read (&f);
    assert_warned (store, f.file, "codes of block 0 at offset");
    g_assert_false (clip_index_store_has_codes (store));
    g_assert_false (clip_index_store_is_compact (store));
    assert_same_ranking (store, &f, rng);
  }
  g_assert_cmpint (truncate (f.file, (off_t) (codes + sizeof (ClipIndexCodesHeader) + 5000)), ==, 0);
  {
    g_autoptr (ClipIndexStore) store = fixture_read (&f);
    assert_warned (store, f.file, "end with the file");
    g_assert_false (clip_index_store_has_codes (store));
    assert_same_ranking (store, &f, rng);
    uint64_t sequence, end = clip_index_store_end (store, &sequence);
    g_assert_cmpuint (end, ==, codes);
    int fd = g_open (f.file, O_WRONLY, 0);
    GError *error = NULL;
    g_assert_true (clip_index_store_append (fd, f.file, &end, &sequence, DIM, f.list, 10, &error));
    g_assert_no_error (error);
    close (fd);
  }
  g_autoptr (ClipIndexStore) store = fixture_read (&f);
  guint n_blocks;
  const ClipIndexRowBlock *blocks = clip_index_store_blocks (store, &n_blocks);
  g_assert_cmpuint (n_blocks, ==, 2);
  g_assert_null (blocks[0].codes);
  g_assert_nonnull (blocks[1].codes);
  g_assert_null (clip_index_store_warnings (store)[0]);
  assert_same_ranking (store, &f, rng);
  fixture_clear (&f);
  g_rand_free (rng);
}

/* A first-pass kernel: the CLIPLAB_KERNEL_ISA value that selects it, and its name. */
typedef struct {
  const char *limit;
  ClipIsa     isa;
  const char *kernel;
} Variant;

static const Variant variants[] = {
  { "avx2", CLIP_ISA_AVX2, "avx2" },
  { "avx-vnni", CLIP_ISA_AVX_VNNI, "avx-vnni" },
  { "avx512", CLIP_ISA_AVX512, "avx512-vnni" },
};

/* The scores of N_QUERIES queries on STORE by the kernel CLIPLAB_KERNEL_ISA = LIMIT selects (KERNEL). */
static float *
scores_by (ClipIndexStore *store, const float *queries, const char *limit, const char *kernel)
{
  g_setenv ("CLIPLAB_KERNEL_ISA", limit, TRUE);
  g_assert_cmpstr (clip_index_codes_kernel_name (), ==, kernel);
  size_t n_rows = clip_index_store_n_rows (store);
  float *scores = g_new (float, n_rows * N_QUERIES);
  for (int q = 0; q < N_QUERIES; q++)
    clip_index_store_scores_top (store, queries + q * DIM, 10, scores + q * n_rows);
  g_unsetenv ("CLIPLAB_KERNEL_ISA");
  return scores;
}

static void
test_kernel_variant (gconstpointer data)
{
  const Variant *v = data;
  if (!clip_isa_supported (CLIP_REDUCED_INT8, v->isa))
    {
      g_autofree char *why = g_strdup_printf ("this CPU does not run the %s kernel", v->kernel);
      g_test_skip (why);
      return;
    }
  GRand *rng = g_rand_new_with_seed (17);
  Fixture f;
  fixture_init (&f, rng, "variants.idx");
  g_autoptr (ClipIndexStore) store = fixture_read (&f);
  g_autofree float *queries = g_new (float, N_QUERIES * DIM);
  for (int q = 0; q < N_QUERIES; q++)
    random_unit (rng, queries + q * DIM);
  g_autofree float *want = scores_by (store, queries, "portable", "portable");
  g_autofree float *got = scores_by (store, queries, v->limit, v->kernel);
  size_t n_rows = clip_index_store_n_rows (store), kept = 0;
  for (size_t i = 0; i < n_rows * N_QUERIES; i++)
    {
      g_assert_cmpint (isfinite (got[i]), ==, isfinite (want[i]));
      if (isfinite (want[i]))
        {
          g_assert_cmpfloat (got[i], ==, want[i]);
          kept++;
        }
    }
  g_test_message ("%s: the same %zu candidates over %d queries as the portable kernel", v->kernel, kept, N_QUERIES);
  fixture_clear (&f);
  g_rand_free (rng);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/index-codes/same-ranking", NULL, test_same_ranking);
  g_test_add_data_func ("/index-codes/same-ranking-portable", "portable", test_same_ranking);
  g_test_add_func ("/index-codes/round-trip", test_codes_round_trip);
  g_test_add_func ("/index-codes/version-1", test_version_1);
  g_test_add_func ("/index-codes/damaged", test_damaged_codes);
  for (size_t i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      g_autofree char *name = g_strdup_printf ("/index-codes/kernel/%s", variants[i].kernel);
      g_test_add_data_func (name, &variants[i], test_kernel_variant);
    }
  return g_test_run ();
}
