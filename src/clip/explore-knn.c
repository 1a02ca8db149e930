/* explore-knn.c — k nearest neighbours: exact by blocked matrix products, approximate by NN-descent.
 *
 * Exact: squared distances |a|² + |b|² − 2·a·b, a block of rows against all rows per sgemm, each
 * row's K best kept in a bounded max-heap.
 *
 * Approximate: NN-descent (Dong, Charikar and Li, 2011), started as pynndescent does from the pairs
 * that share a leaf of a few random projection trees, in its "pull" form: every row looks at the
 * neighbours (forward and reverse) of its own neighbours and updates only its own list, reading the
 * graph of the previous round.  Rows never write to each other's lists, so the rounds run on any
 * number of threads without locks and give the same graph for the same seed.  As in the original,
 * a neighbour of a neighbour is looked at only when one of the two links is new since the previous
 * round; rounds stop when fewer than DELTA · n · k links change. */
#include "clip-testing.h"
#include "explore-private.h"
#include "parallel.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define EXACT_BLOCK_ROWS 256
#define DESCENT_MAX_ROUNDS 20
#define DESCENT_DELTA 0.001
#define DESCENT_TREES 4
/* Reverse links kept per row and round: as many as forward ones (pynndescent's choice). */
#define DESCENT_REVERSE_FACTOR 1

void
clip_neighbors_clear (ClipNeighbors *neighbors)
{
  g_clear_pointer (&neighbors->index, g_free);
  g_clear_pointer (&neighbors->distance, g_free);
  neighbors->n = neighbors->k = 0;
}

static void
neighbors_alloc (ClipNeighbors *out, int n, int k)
{
  out->n = n;
  out->k = k;
  out->index = g_new (int32_t, (size_t) n * k);
  out->distance = g_new (float, (size_t) n * k);
}

/* Eight partial sums: the compiler may vectorise them without reassociating one long sum (the
 * library is built without -ffast-math), and the result does not depend on where a row lies. */
static float
squared_distance (const float *a, const float *b, int dim)
{
  float part[8] = { 0 };
  int c = 0;
  for (; c + 8 <= dim; c += 8)
    for (int j = 0; j < 8; j++)
      part[j] += (a[c + j] - b[c + j]) * (a[c + j] - b[c + j]);
  float d = ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
  for (; c < dim; c++)
    d += (a[c] - b[c]) * (a[c] - b[c]);
  return d;
}

/* ---------------------------------------------------------------- bounded heaps */

/* (distance, row) pairs: the larger distance, then the larger row, is worse. */
static gboolean
worse (float da, int32_t ra, float db, int32_t rb)
{
  return da > db || (da == db && ra > rb);
}

/* Puts (D, R) at the root of the heap of COUNT items, whose root it replaces, and sifts it down. */
static void
sift_down (float *dist, int32_t *row, int count, float d, int32_t r)
{
  int i = 0;
  for (;;)
    {
      int child = 2 * i + 1;
      if (child >= count)
        break;
      if (child + 1 < count && worse (dist[child + 1], row[child + 1], dist[child], row[child]))
        child++;
      if (!worse (dist[child], row[child], d, r))
        break;
      dist[i] = dist[child];
      row[i] = row[child];
      i = child;
    }
  dist[i] = d;
  row[i] = r;
}

/* Max-heap of at most K pairs on DIST/ROW; *COUNT held.  Returns whether the pair went in. */
static gboolean
heap_push (float *dist, int32_t *row, int *count, int k, float d, int32_t r)
{
  int i;
  if (*count < k)
    i = (*count)++;
  else if (worse (dist[0], row[0], d, r))
    {
      sift_down (dist, row, k, d, r);
      return TRUE;
    }
  else
    return FALSE;
  while (i > 0 && worse (d, r, dist[(i - 1) / 2], row[(i - 1) / 2]))
    {
      dist[i] = dist[(i - 1) / 2];
      row[i] = row[(i - 1) / 2];
      i = (i - 1) / 2;
    }
  dist[i] = d;
  row[i] = r;
  return TRUE;
}

/* Sorts a full heap ascending in place (heap sort's second half). */
static void
heap_sort (float *dist, int32_t *row, int k)
{
  for (int end = k - 1; end > 0; end--)
    {
      float d = dist[end];
      int32_t r = row[end];
      dist[end] = dist[0];
      row[end] = row[0];
      sift_down (dist, row, end, d, r);
    }
}

/* ---------------------------------------------------------------- exact */

typedef struct {
  const float *norms;
  const float *products;    /* [rows of the block, n] */
  int          n, k, first;
  ClipNeighbors *out;
} ExactBlock;

static void
exact_select_rows (int64_t start, int64_t end, gpointer data)
{
  const ExactBlock *b = data;
  for (int64_t r = start; r < end; r++)
    {
      int i = b->first + (int) r;
      const float *dots = b->products + (size_t) r * b->n;
      float *dist = b->out->distance + (size_t) i * b->k;
      int32_t *row = b->out->index + (size_t) i * b->k;
      int count = 0;
      for (int j = 0; j < b->n; j++)
        if (j != i)
          heap_push (dist, row, &count, b->k, b->norms[i] + b->norms[j] - 2 * dots[j], j);
      heap_sort (dist, row, b->k);
      for (int j = 0; j < b->k; j++)
        dist[j] = sqrtf (MAX (dist[j], 0.0f));
    }
}

static gboolean
knn_exact (const float *x, int n, int dim, int k, const ClipCallbacks *callbacks, ClipNeighbors *out,
           GError **error)
{
  g_autofree float *norms = g_new (float, n);
  for (int i = 0; i < n; i++)
    norms[i] = cblas_sdot (dim, x + (size_t) i * dim, 1, x + (size_t) i * dim, 1);
  g_autofree float *products = g_new (float, (size_t) EXACT_BLOCK_ROWS * n);
  neighbors_alloc (out, n, k);
  for (int first = 0; first < n; first += EXACT_BLOCK_ROWS)
    {
      if (explore_aborted (callbacks, "Neighbours", error))
        {
          clip_neighbors_clear (out);
          return FALSE;
        }
      int rows = MIN (EXACT_BLOCK_ROWS, n - first);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, dim, 1.0f, x + (size_t) first * dim, dim,
                   x, dim, 0.0f, products, n);
      ExactBlock block = { norms, products, n, k, first, out };
      clip_parallel_for (rows, 8, exact_select_rows, &block);
      explore_progress (callbacks, "Neighbours", first + rows, n);
    }
  return TRUE;
}

/* ---------------------------------------------------------------- NN-descent */

typedef struct {
  const float *x;
  int          n, dim, k, n_reverse;
  uint64_t     seed;
  /* the graph of the previous round: lists sorted nearest first; squared distances */
  const int32_t *index;
  const float   *dist;
  const uint8_t *is_new;        /* [n, k] the link appeared in the previous round */
  const int32_t *reverse;       /* [n, n_reverse] rows listing this one, −1 padded */
  const uint8_t *reverse_new;
  /* the next round's graph */
  int32_t *next_index;
  float   *next_dist;
  uint8_t *next_new;
  int64_t *changes;             /* [n] links replaced in each row */
} Descent;

/* Row P's heap (COUNT[p] entries) takes R unless it holds it already. */
static void
descent_init_push (Descent *d, int *count, int p, int32_t r)
{
  int32_t *row = d->next_index + (size_t) p * d->k;
  for (int j = 0; j < count[p]; j++)
    if (row[j] == r)
      return;
  heap_push (d->next_dist + (size_t) p * d->k, row, &count[p], d->k,
             squared_distance (d->x + (size_t) p * d->dim, d->x + (size_t) r * d->dim, d->dim), r);
}

typedef struct {
  Descent  *d;
  int      *count;
  const int32_t *rows;       /* the tree's rows, leaf after leaf */
  const int64_t *leaf_start; /* [n_leaves + 1] */
} LeafJob;

/* Every pair of rows sharing a leaf; a row lies in one leaf per tree, so leaves run in parallel. */
static void
descent_leaf_pairs (int64_t start, int64_t end, gpointer data)
{
  LeafJob *job = data;
  for (int64_t leaf = start; leaf < end; leaf++)
    for (int64_t a = job->leaf_start[leaf]; a < job->leaf_start[leaf + 1]; a++)
      for (int64_t b = job->leaf_start[leaf]; b < job->leaf_start[leaf + 1]; b++)
        if (a != b)
          descent_init_push (job->d, job->count, job->rows[a], job->rows[b]);
}

/* A random projection tree (as pynndescent starts): ROWS split recursively by the hyperplane halfway
 * between two random rows of the node until at most LEAF_SIZE remain; LEAF_START receives the
 * leaves' bounds in ROWS.  Returns the number of leaves. */
static int64_t
descent_build_tree (const Descent *d, ExploreRng *rng, int leaf_size, int32_t *rows, int64_t *leaf_start)
{
  g_autoptr (GArray) stack = g_array_new (FALSE, FALSE, sizeof (int64_t));
  int64_t n_leaves = 0, bounds[2] = { 0, d->n };
  g_array_append_vals (stack, bounds, 2);
  g_autofree float *normal = g_new (float, d->dim);
  while (stack->len > 0)
    {
      int64_t hi = g_array_index (stack, int64_t, stack->len - 1), lo = g_array_index (stack, int64_t, stack->len - 2);
      g_array_set_size (stack, stack->len - 2);
      if (hi - lo <= leaf_size)
        {
          leaf_start[n_leaves++] = lo;
          continue;
        }
      const float *xa = d->x + (size_t) rows[lo + explore_rng_below (rng, (uint32_t) (hi - lo))] * d->dim;
      const float *xb = d->x + (size_t) rows[lo + explore_rng_below (rng, (uint32_t) (hi - lo))] * d->dim;
      float offset = 0;
      for (int c = 0; c < d->dim; c++)
        {
          normal[c] = xa[c] - xb[c];
          offset += normal[c] * (xa[c] + xb[c]) / 2;
        }
      /* partition: rows on the positive side first; equal rows (or a = b) go either way at random */
      int64_t i = lo, j = hi - 1;
      while (i <= j)
        {
          float side = -offset;
          const float *xi = d->x + (size_t) rows[i] * d->dim;
          for (int c = 0; c < d->dim; c++)
            side += normal[c] * xi[c];
          if (side > 0 || (side == 0 && (explore_rng_next (rng) & 1)))
            i++;
          else
            {
              int32_t t = rows[i];
              rows[i] = rows[j];
              rows[j--] = t;
            }
        }
      int64_t mid = (i == lo || i == hi) ? lo + (hi - lo) / 2 : i;
      /* the right half below the left on the stack: leaves come out in the order of ROWS */
      int64_t halves[4] = { mid, hi, lo, mid };
      g_array_append_vals (stack, halves, 4);
    }
  leaf_start[n_leaves] = d->n;
  return n_leaves;
}

/* The first graph: pairs sharing a leaf of DESCENT_TREES random projection trees, topped up with
 * random rows; every link new. */
static void
descent_init (Descent *d)
{
  g_autofree int *count = g_new0 (int, d->n);
  g_autofree int32_t *rows = g_new (int32_t, d->n);
  g_autofree int64_t *leaf_start = g_new (int64_t, d->n + 1);
  int leaf_size = MAX (2 * d->k, 16);
  for (int t = 0; t < DESCENT_TREES; t++)
    {
      ExploreRng rng;
      explore_rng_init (&rng, d->seed, G_GUINT64_CONSTANT (1) << 40 | (uint64_t) t);
      for (int i = 0; i < d->n; i++)
        rows[i] = i;
      int64_t n_leaves = descent_build_tree (d, &rng, leaf_size, rows, leaf_start);
      LeafJob job = { d, count, rows, leaf_start };
      clip_parallel_for (n_leaves, 16, descent_leaf_pairs, &job);
    }
  for (int p = 0; p < d->n; p++)
    {
      ExploreRng rng;
      explore_rng_init (&rng, d->seed, (uint64_t) p);
      while (count[p] < d->k)
        {
          int32_t r = (int32_t) explore_rng_below (&rng, (uint32_t) d->n);
          if (r != p)
            descent_init_push (d, count, p, r);
        }
      heap_sort (d->next_dist + (size_t) p * d->k, d->next_index + (size_t) p * d->k, d->k);
    }
  memset (d->next_new, 1, (size_t) d->n * d->k);
}

/* Offers candidate C to row P's heap unless already seen this round (STAMP[c] == P + 1). */
static void
descent_offer (Descent *d, int p, int32_t c, int *stamp, float *dist, int32_t *row, int *count)
{
  if (c < 0 || c == p || stamp[c] == p + 1)
    return;
  stamp[c] = p + 1;
  heap_push (dist, row, count, d->k, squared_distance (d->x + (size_t) p * d->dim, d->x + (size_t) c * d->dim,
                                                       d->dim), c);
}

/* Row P looks at the forward and reverse lists of Q; ALL when the link P–Q is new, else only at
 * Q's new links. */
static void
descent_visit (Descent *d, int p, int q, gboolean all, int *stamp, float *dist, int32_t *row, int *count)
{
  const int32_t *fwd = d->index + (size_t) q * d->k;
  const uint8_t *fwd_new = d->is_new + (size_t) q * d->k;
  for (int j = 0; j < d->k; j++)
    if (all || fwd_new[j])
      descent_offer (d, p, fwd[j], stamp, dist, row, count);
  const int32_t *rev = d->reverse + (size_t) q * d->n_reverse;
  const uint8_t *rev_new = d->reverse_new + (size_t) q * d->n_reverse;
  for (int j = 0; j < d->n_reverse && rev[j] >= 0; j++)
    if (all || rev_new[j])
      descent_offer (d, p, rev[j], stamp, dist, row, count);
}

static void
descent_rows (int64_t start, int64_t end, gpointer data)
{
  Descent *d = data;
  g_autofree int *stamp = g_new0 (int, d->n);
  g_autofree int32_t *old_rows = g_new (int32_t, d->k);
  for (int64_t pp = start; pp < end; pp++)
    {
      int p = (int) pp;
      float *dist = d->next_dist + (size_t) p * d->k;
      int32_t *row = d->next_index + (size_t) p * d->k;
      const int32_t *cur = d->index + (size_t) p * d->k;
      /* the heap starts as the current list */
      int count = 0;
      for (int j = 0; j < d->k; j++)
        {
          stamp[cur[j]] = p + 1;
          heap_push (dist, row, &count, d->k, d->dist[(size_t) p * d->k + j], cur[j]);
        }
      memcpy (old_rows, cur, sizeof (int32_t) * d->k);
      const uint8_t *cur_new = d->is_new + (size_t) p * d->k;
      for (int j = 0; j < d->k; j++)
        descent_visit (d, p, cur[j], cur_new[j], stamp, dist, row, &count);
      const int32_t *rev = d->reverse + (size_t) p * d->n_reverse;
      const uint8_t *rev_new = d->reverse_new + (size_t) p * d->n_reverse;
      for (int j = 0; j < d->n_reverse && rev[j] >= 0; j++)
        descent_visit (d, p, rev[j], rev_new[j], stamp, dist, row, &count);
      heap_sort (dist, row, d->k);
      /* a link is new when the row was not in the list before this round */
      int64_t changes = 0;
      uint8_t *is_new = d->next_new + (size_t) p * d->k;
      for (int j = 0; j < d->k; j++)
        {
          gboolean was = FALSE;
          for (int i = 0; i < d->k && !was; i++)
            was = old_rows[i] == row[j];
          is_new[j] = !was;
          changes += !was;
        }
      d->changes[p] = changes;
    }
}

/* Each row's reverse links (rows whose list holds it), at most N_REVERSE, chosen by a seeded
 * reservoir sample so that hubs do not flood the next round. */
static void
descent_build_reverse (Descent *d, int round, int32_t *reverse, uint8_t *reverse_new, int *seen)
{
  memset (seen, 0, sizeof (int) * d->n);
  for (size_t i = 0; i < (size_t) d->n * d->n_reverse; i++)
    reverse[i] = -1;
  ExploreRng rng;
  explore_rng_init (&rng, d->seed, (uint64_t) d->n + (uint64_t) round);
  for (int p = 0; p < d->n; p++)
    for (int j = 0; j < d->k; j++)
      {
        int q = d->index[(size_t) p * d->k + j];
        int slot = seen[q] < d->n_reverse ? seen[q] : (int) explore_rng_below (&rng, (uint32_t) seen[q] + 1);
        seen[q]++;
        if (slot < d->n_reverse)
          {
            reverse[(size_t) q * d->n_reverse + slot] = p;
            reverse_new[(size_t) q * d->n_reverse + slot] = d->is_new[(size_t) p * d->k + j];
          }
      }
}

static gboolean
knn_descent (const float *x, int n, int dim, int k, uint64_t seed, const ClipCallbacks *callbacks,
             ClipNeighbors *out, GError **error)
{
  size_t nk = (size_t) n * k;
  int n_reverse = k * DESCENT_REVERSE_FACTOR;
  g_autofree int32_t *index = g_new (int32_t, nk), *next_index = g_new (int32_t, nk);
  g_autofree float *dist = g_new (float, nk), *next_dist = g_new (float, nk);
  g_autofree uint8_t *is_new = g_new (uint8_t, nk), *next_new = g_new (uint8_t, nk);
  g_autofree int32_t *reverse = g_new (int32_t, (size_t) n * n_reverse);
  g_autofree uint8_t *reverse_new = g_new0 (uint8_t, (size_t) n * n_reverse);
  g_autofree int *seen = g_new (int, n);
  g_autofree int64_t *changes = g_new0 (int64_t, n);
  Descent d = { x, n, dim, k, n_reverse, seed, index, dist, is_new, reverse, reverse_new,
                next_index, next_dist, next_new, changes };
  descent_init (&d);
  for (int round = 0; round < DESCENT_MAX_ROUNDS; round++)
    {
      memcpy (index, next_index, sizeof (int32_t) * nk);
      memcpy (dist, next_dist, sizeof (float) * nk);
      memcpy (is_new, next_new, nk);
      if (explore_aborted (callbacks, "Neighbours", error))
        return FALSE;
      explore_progress (callbacks, "Neighbours", round, DESCENT_MAX_ROUNDS);
      descent_build_reverse (&d, round, reverse, reverse_new, seen);
      clip_parallel_for (n, 64, descent_rows, &d);
      int64_t total = 0;
      for (int p = 0; p < n; p++)
        total += changes[p];
      if (total < DESCENT_DELTA * (double) nk)
        break;
    }
  explore_progress (callbacks, "Neighbours", DESCENT_MAX_ROUNDS, DESCENT_MAX_ROUNDS);
  neighbors_alloc (out, n, k);
  memcpy (out->index, next_index, sizeof (int32_t) * nk);
  for (size_t i = 0; i < nk; i++)
    out->distance[i] = sqrtf (MAX (next_dist[i], 0.0f));
  return TRUE;
}

/* ---------------------------------------------------------------- public */

gboolean
clip_knn_compute (const float *x, int n, int dim, int k, ClipKnnMethod method, uint64_t seed,
                  const ClipCallbacks *callbacks, ClipNeighbors *out, GError **error)
{
  g_return_val_if_fail (x != NULL && out != NULL && dim > 0, FALSE);
  *out = (ClipNeighbors) { 0 };
  if (k < 1 || k >= n)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                   "nearest neighbours: %d neighbours asked of %d rows (1 ≤ k < rows)", k, n);
      return FALSE;
    }
  gboolean exact = method == CLIP_KNN_EXACT || (method == CLIP_KNN_AUTO && n <= CLIP_KNN_EXACT_MAX);
  /* NN-descent needs a few times k rows to have anything to descend through */
  if (exact || n <= 4 * k)
    return knn_exact (x, n, dim, k, callbacks, out, error);
  return knn_descent (x, n, dim, k, seed, callbacks, out, error);
}

double
clip_knn_recall (const float *x, int n, int dim, const ClipNeighbors *neighbors, int n_sample, uint64_t seed)
{
  g_return_val_if_fail (neighbors != NULL && neighbors->n == n, NAN);
  int k = neighbors->k;
  n_sample = MIN (n_sample, n);
  g_autofree int *rows = explore_sample_rows (n, n_sample, seed);
  g_autofree int32_t *truth = g_new (int32_t, k);
  int64_t hits = 0;
  for (int s = 0; s < n_sample; s++)
    {
      int q = rows[s];
      explore_brute_nearest (x, n, dim, q, k, truth);
      const int32_t *found = neighbors->index + (size_t) q * k;
      for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++)
          if (truth[a] == found[b])
            {
              hits++;
              break;
            }
    }
  return n_sample > 0 ? (double) hits / ((double) n_sample * k) : NAN;
}
