/* The 4-bit first pass of a search (index-codes.c): on a store of 24,000 entries, the candidates it
 * leaves to exact scoring hold every one of the TOP best of these queries, so the ranking (ties by
 * path) is that of scoring every row exactly; and it does leave most rows out.  Duplicated
 * embeddings and queries equal to an entry make ties at the top.  Run on this CPU's kernel and on
 * the portable one (CLIPLAB_KERNEL_ISA=portable), which must agree. */
#include "clip-private.h"
#include "index-private.h"
#include "testutil.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

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

static void
test_same_ranking (gconstpointer isa_limit)
{
  if (isa_limit != NULL)
    g_setenv ("CLIPLAB_KERNEL_ISA", isa_limit, TRUE);
  else
    g_unsetenv ("CLIPLAB_KERNEL_ISA");
  GRand *rng = g_rand_new_with_seed (7);
  g_autofree float *embeds = g_new (float, (size_t) N_ENTRIES * DIM);
  g_autofree ClipIndexEntry *list = g_new0 (ClipIndexEntry, N_ENTRIES);
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < N_ENTRIES; i++)
    {
      float *v = embeds + (size_t) i * DIM;
      if (i % 7 == 6)
        memcpy (v, v - 3 * DIM, sizeof (float) * DIM);   /* a duplicate: a tie between two paths */
      else
        random_unit (rng, v);
      char *path = g_strdup_printf ("%02d/IMG_%06d.jpg", i % 13, i);
      g_ptr_array_add (paths, path);
      list[i] = (ClipIndexEntry) { .path = path, .size = 1000 + i, .mtime_ns = 1, .embedding = v };
      memcpy (list[i].hash, &i, sizeof i);
    }
  g_autofree char *file = g_build_filename (tu_tmpdir (), "codes.idx", NULL);
  const char *folder = tu_tmpdir ();
  uint8_t key[CLIP_INDEX_KEY_BYTES] = { 1 };
  GError *error = NULL;
  g_assert_true (clip_index_store_write (file, folder, key, DIM, list, N_ENTRIES, &error));
  g_assert_no_error (error);
  g_autoptr (ClipIndexStore) store = clip_index_store_read (file, folder, key, DIM, FALSE, &error);
  g_assert_no_error (error);
  size_t n_entries, n_rows = clip_index_store_n_rows (store);
  const ClipIndexEntry *entries = clip_index_store_entries (store, &n_entries);
  g_assert_cmpuint (n_entries, ==, N_ENTRIES);

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
  g_rand_free (rng);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/index-codes/same-ranking", NULL, test_same_ranking);
  g_test_add_data_func ("/index-codes/same-ranking-portable", "portable", test_same_ranking);
  return g_test_run ();
}
