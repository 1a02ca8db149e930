/* explore-common.c — the helpers of explore-private.h. */
#include "explore-private.h"

#include <stdlib.h>
#include <string.h>

void
explore_progress (const ClipCallbacks *callbacks, const char *what, int64_t done, int64_t total)
{
  if (callbacks != NULL && callbacks->progress != NULL)
    callbacks->progress (what, done, total, callbacks->user_data);
}

gboolean
explore_aborted (const ClipCallbacks *callbacks, const char *what, GError **error)
{
  if (callbacks == NULL || callbacks->abort == NULL || !callbacks->abort (callbacks->user_data))
    return FALSE;
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED, "%s: stopped", what);
  return TRUE;
}

void
explore_rng_init (ExploreRng *rng, uint64_t seed, uint64_t stream)
{
  rng->state = seed * 0x9E3779B97F4A7C15ull ^ (stream + 1) * 0xD1B54A32D192ED03ull;
  explore_rng_next (rng);
}

uint64_t
explore_rng_next (ExploreRng *rng)
{
  uint64_t z = (rng->state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint32_t
explore_rng_below (ExploreRng *rng, uint32_t bound)
{
  /* Lemire's multiply-shift: the bias is below 2^-32 · bound, far under what a layout notices. */
  return (uint32_t) (((explore_rng_next (rng) >> 32) * (uint64_t) bound) >> 32);
}

double
explore_rng_uniform (ExploreRng *rng)
{
  return (double) (explore_rng_next (rng) >> 11) * 0x1.0p-53;
}

static int
compare_ints (gconstpointer a, gconstpointer b)
{
  int x = *(const int *) a, y = *(const int *) b;
  return (x > y) - (x < y);
}

int *
explore_sample_rows (int n, int n_sample, uint64_t seed)
{
  g_return_val_if_fail (n_sample <= n, NULL);
  /* Floyd's algorithm: N_SAMPLE distinct draws without a permutation of all N rows. */
  g_autoptr (GHashTable) taken = g_hash_table_new (g_direct_hash, g_direct_equal);
  int *rows = g_new (int, MAX (n_sample, 1));
  ExploreRng rng;
  explore_rng_init (&rng, seed, 0x5A3B1E);
  int count = 0;
  for (int j = n - n_sample; j < n; j++)
    {
      int t = (int) explore_rng_below (&rng, (uint32_t) j + 1);
      int pick = g_hash_table_contains (taken, GINT_TO_POINTER (t + 1)) ? j : t;
      g_hash_table_add (taken, GINT_TO_POINTER (pick + 1));
      rows[count++] = pick;
    }
  qsort (rows, count, sizeof *rows, compare_ints);
  return rows;
}

typedef struct {
  float   distance;
  int32_t row;
} Candidate;

static int
compare_candidates (gconstpointer a, gconstpointer b)
{
  const Candidate *x = a, *y = b;
  if (x->distance != y->distance)
    return x->distance < y->distance ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row);
}

void
explore_brute_nearest (const float *x, int n, int dim, int q, int k, int32_t *nearest)
{
  g_autofree Candidate *all = g_new (Candidate, n);
  const float *xq = x + (size_t) q * dim;
  int m = 0;
  for (int i = 0; i < n; i++)
    {
      if (i == q)
        continue;
      const float *xi = x + (size_t) i * dim;
      float d = 0;
      for (int c = 0; c < dim; c++)
        d += (xi[c] - xq[c]) * (xi[c] - xq[c]);
      all[m++] = (Candidate) { d, i };
    }
  qsort (all, m, sizeof *all, compare_candidates);
  for (int j = 0; j < k && j < m; j++)
    nearest[j] = all[j].row;
}

int
explore_find (int *parent, int i)
{
  while (parent[i] != i)
    {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
  return i;
}

void
explore_union (int *parent, int a, int b)
{
  a = explore_find (parent, a);
  b = explore_find (parent, b);
  if (a < b)
    parent[b] = a;
  else if (b < a)
    parent[a] = b;
}
