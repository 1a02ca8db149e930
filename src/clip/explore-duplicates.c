/* explore-duplicates.c — groups of near-duplicate and identical images.
 *
 * Candidate pairs are each row's nearest neighbours (exact or NN-descent, see explore-knn.c), found
 * on the rows projected on their first principal axes when the embeddings are long: two rows within
 * a cosine distance of 0.05 are close in any projection, and the search is then several times
 * cheaper.  Every candidate pair is checked on the full embeddings; pairs within the threshold, and
 * rows with the same content hash, are joined by union-find, so a group also holds rows linked
 * through others. */
#include "explore-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CANDIDATES 10            /* neighbours of each row checked against the threshold */
#define SEARCH_DIMS 64           /* longer embeddings are searched on this many principal axes */
#define EXACT_SPREAD_ROWS 512    /* larger groups measure their spread on their first this many rows */

struct _ClipDuplicates
{
  int    n_groups;
  int   *start;                  /* [n_groups + 1] into ROWS */
  int   *rows;
  float *max_distance;           /* [n_groups] */
  gboolean *exact;               /* [n_groups] */
};

void
clip_duplicates_free (ClipDuplicates *duplicates)
{
  if (duplicates == NULL)
    return;
  g_free (duplicates->start);
  g_free (duplicates->rows);
  g_free (duplicates->max_distance);
  g_free (duplicates->exact);
  g_free (duplicates);
}

int
clip_duplicates_get_n_groups (const ClipDuplicates *duplicates)
{
  return duplicates->n_groups;
}

const int *
clip_duplicates_get_group (const ClipDuplicates *duplicates, int i, int *n_rows, float *max_distance,
                           gboolean *exact)
{
  g_return_val_if_fail (i >= 0 && i < duplicates->n_groups, NULL);
  *n_rows = duplicates->start[i + 1] - duplicates->start[i];
  if (max_distance != NULL)
    *max_distance = duplicates->max_distance[i];
  if (exact != NULL)
    *exact = duplicates->exact[i];
  return duplicates->rows + duplicates->start[i];
}

static float
cosine_distance (const float *a, const float *b, int dim)
{
  float dot = 0;
  for (int c = 0; c < dim; c++)
    dot += a[c] * b[c];
  return MAX (0.0f, 1.0f - dot);
}

static int
compare_rows_by_hash (gconstpointer a, gconstpointer b, gpointer hashes)
{
  int x = *(const int *) a, y = *(const int *) b;
  int c = memcmp ((const uint8_t *) hashes + 16 * (size_t) x, (const uint8_t *) hashes + 16 * (size_t) y, 16);
  return c != 0 ? c : (x > y) - (x < y);
}

static void
join_equal_hashes (const uint8_t *hashes, int n, int *parent)
{
  g_autofree int *order = g_new (int, n);
  for (int i = 0; i < n; i++)
    order[i] = i;
  g_qsort_with_data (order, n, sizeof *order, compare_rows_by_hash, (gpointer) hashes);
  for (int i = 1; i < n; i++)
    if (memcmp (hashes + 16 * (size_t) order[i - 1], hashes + 16 * (size_t) order[i], 16) == 0)
      explore_union (parent, order[i - 1], order[i]);
}

/* Joins rows whose neighbours (on a projection, when long) lie within MAX_DISTANCE on the full rows. */
static gboolean
join_near_rows (const float *x, int n, int dim, float max_distance, uint64_t seed,
                const ClipCallbacks *callbacks, int *parent, GError **error)
{
  const float *search = x;
  int search_dim = dim;
  g_autofree float *projected = NULL;
  if (dim > SEARCH_DIMS && n > SEARCH_DIMS)
    {
      projected = g_new (float, (size_t) n * SEARCH_DIMS);
      if (!clip_pca (x, n, dim, SEARCH_DIMS, projected, error))
        return FALSE;
      search = projected, search_dim = SEARCH_DIMS;
    }
  g_auto (ClipNeighbors) nb = { 0 };
  if (!clip_knn_compute (search, n, search_dim, MIN (CANDIDATES, n - 1), CLIP_KNN_AUTO, seed, callbacks, &nb, error))
    return FALSE;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < nb.k; j++)
      {
        int t = nb.index[(size_t) i * nb.k + j];
        if (cosine_distance (x + (size_t) i * dim, x + (size_t) t * dim, dim) <= max_distance)
          explore_union (parent, i, t);
      }
  return TRUE;
}

static float
group_spread (const float *x, int dim, const int *rows, int m)
{
  float spread = 0;
  int checked = MIN (m, EXACT_SPREAD_ROWS);
  for (int a = 0; a < checked; a++)
    for (int b = a + 1; b < checked; b++)
      spread = MAX (spread, cosine_distance (x + (size_t) rows[a] * dim, x + (size_t) rows[b] * dim, dim));
  return spread;
}

typedef struct {
  int root, size, first;
} GroupKey;

static int
compare_groups (const void *a, const void *b)
{
  const GroupKey *x = a, *y = b;
  if (x->size != y->size)
    return x->size > y->size ? -1 : 1;
  return (x->first > y->first) - (x->first < y->first);
}

/* Groups of two or more rows by root, largest first, rows ascending. */
static ClipDuplicates *
collect_groups (const float *x, int n, int dim, const uint8_t *hashes, int *parent)
{
  g_autofree int *size = g_new0 (int, n), *first = g_new (int, n), *slot = g_new (int, n);
  for (int i = n - 1; i >= 0; i--)
    {
      int r = explore_find (parent, i);
      size[r]++;
      first[r] = i;
    }
  g_autoptr (GArray) keys = g_array_new (FALSE, FALSE, sizeof (GroupKey));
  for (int r = 0; r < n; r++)
    if (parent[r] == r && size[r] >= 2)
      g_array_append_val (keys, ((GroupKey) { r, size[r], first[r] }));
  g_array_sort (keys, compare_groups);
  ClipDuplicates *d = g_new0 (ClipDuplicates, 1);
  d->n_groups = (int) keys->len;
  d->start = g_new (int, d->n_groups + 1);
  d->start[0] = 0;
  for (int gi = 0; gi < d->n_groups; gi++)
    {
      const GroupKey *key = &g_array_index (keys, GroupKey, gi);
      slot[key->root] = d->start[gi];
      d->start[gi + 1] = d->start[gi] + key->size;
    }
  d->rows = g_new (int, MAX (d->start[d->n_groups], 1));
  for (int i = 0; i < n; i++)
    {
      int r = explore_find (parent, i);
      if (size[r] >= 2)
        d->rows[slot[r]++] = i;
    }
  d->max_distance = g_new (float, MAX (d->n_groups, 1));
  d->exact = g_new (gboolean, MAX (d->n_groups, 1));
  for (int gi = 0; gi < d->n_groups; gi++)
    {
      const int *rows = d->rows + d->start[gi];
      int m = d->start[gi + 1] - d->start[gi];
      d->max_distance[gi] = group_spread (x, dim, rows, m);
      gboolean exact = hashes != NULL;
      for (int j = 1; j < m && exact; j++)
        exact = memcmp (hashes + 16 * (size_t) rows[0], hashes + 16 * (size_t) rows[j], 16) == 0;
      d->exact[gi] = exact;
    }
  return d;
}

ClipDuplicates *
clip_duplicates_find (const float *embeddings, int n, int dim, const uint8_t *content_hashes, float max_distance,
                      uint64_t seed, const ClipCallbacks *callbacks, GError **error)
{
  if (n < 0 || dim < 1 || !(max_distance >= 0))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "duplicates: %d rows of %d dimensions, threshold %g", n,
                   dim, max_distance);
      return NULL;
    }
  g_autofree int *parent = g_new (int, MAX (n, 1));
  for (int i = 0; i < n; i++)
    parent[i] = i;
  if (content_hashes != NULL)
    join_equal_hashes (content_hashes, n, parent);
  if (n >= 2 && !join_near_rows (embeddings, n, dim, max_distance, seed, callbacks, parent, error))
    return NULL;
  return collect_groups (embeddings, n, dim, content_hashes, parent);
}
