/* explore-map.c — PCA and a UMAP-style 2-D layout of embeddings.
 *
 * The method follows umap-learn (McInnes, Healy and Melville, 2018), as uwot and libscran/umappp
 * describe it:
 *   1. rows projected on their principal axes (PCA to ~50 dimensions), then k nearest neighbours;
 *   2. smooth-kNN: each row's ρ (distance to its nearest neighbour) and σ such that
 *      Σ exp(−(d − ρ)/σ) = log2 (n_neighbors), giving directed memberships, made symmetric by the
 *      fuzzy union a + b − a·b;
 *   3. the layout starts from the first two principal axes, scaled to ±10;
 *   4. each epoch, every edge whose turn has come pulls its two ends together along umap's curve
 *      1 / (1 + a·d^2b) and pushes its head away from negative_rate random rows; edges are sampled in
 *      proportion to their weight, as umap does.
 * Unlike umap-learn's in-place (Hogwild) steps, the gradients of an epoch are summed per row and
 * applied to all rows at once with Adam, as uwot's batch mode does: every row is then handled by one
 * thread from the positions of the previous epoch with random numbers of its own, so the epochs give
 * the same result for a seed whatever the number of threads (the BLAS products of the PCA, and so
 * the starting layout, may differ in the last bits with OpenBLAS's thread count).  Each undirected edge is stored at both ends,
 * so moving only the head of each stored edge moves both ends of every edge. */
#include "clip-testing.h"
#include "explore-private.h"
#include "parallel.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK's symmetric eigensolver, which OpenBLAS exports (Debian ships no LAPACKE header for it). */
extern void ssyevr_ (const char *jobz, const char *range, const char *uplo, const int *n, float *a, const int *lda,
                     const float *vl, const float *vu, const int *il, const int *iu, const float *abstol, int *m,
                     float *w, float *z, const int *ldz, int *isuppz, float *work, const int *lwork, int *iwork,
                     const int *liwork, int *info, size_t jobz_len, size_t range_len, size_t uplo_len);

#define SMOOTH_KNN_STEPS 64
#define SMOOTH_KNN_TOLERANCE 1e-5
#define MIN_SIGMA_SCALE 1e-3          /* σ ≥ this × the mean neighbour distance (umap's MIN_K_DIST_SCALE) */
#define INIT_RANGE 10.0f              /* umap's scaling of the initial layout */
#define GRADIENT_CLIP 4.0f
#define REPULSION_EPSILON 0.001f
#define ADAM_BETA1 0.5                /* uwot's batch-mode settings */
#define ADAM_BETA2 0.9
#define ADAM_EPSILON 1e-7

void
clip_map_options_init (ClipMapOptions *options)
{
  *options = (ClipMapOptions) {
    .n_neighbors = 15,
    .pca_dims = 50,
    .min_dist = 0.1f,
    .spread = 1.0f,
    .negative_rate = 5,
    .knn = CLIP_KNN_AUTO,
  };
}

/* ---------------------------------------------------------------- PCA */

gboolean
clip_pca (const float *x, int n, int dim, int n_components, float *out, GError **error)
{
  if (n < 2 || n_components < 1 || n_components > dim)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "PCA: %d components of %d rows of %d dimensions",
                   n_components, n, dim);
      return FALSE;
    }
  /* covariance = XᵀX / n − μμᵀ, without a centred copy of X */
  g_autofree double *mean = g_new0 (double, dim);
  for (int i = 0; i < n; i++)
    for (int c = 0; c < dim; c++)
      mean[c] += x[(size_t) i * dim + c];
  g_autofree float *meanf = g_new (float, dim);
  for (int c = 0; c < dim; c++)
    meanf[c] = (float) (mean[c] /= n);
  g_autofree float *cov = g_new (float, (size_t) dim * dim);
  cblas_ssyrk (CblasRowMajor, CblasUpper, CblasTrans, dim, n, 1.0f / n, x, dim, 0.0f, cov, dim);
  for (int a = 0; a < dim; a++)
    for (int b = a; b < dim; b++)
      cov[(size_t) a * dim + b] -= (float) (mean[a] * mean[b]);

  /* row-major upper = column-major lower; the largest N_COMPONENTS eigenpairs */
  int il = dim - n_components + 1, iu = dim, m = 0, info = 0, lwork = -1, liwork = -1, iwork_query;
  float vl = 0, vu = 0, abstol = 0, work_query;
  g_autofree float *values = g_new (float, dim);
  g_autofree float *vectors = g_new (float, (size_t) dim * n_components);
  g_autofree int *support = g_new (int, 2 * (size_t) n_components);
  ssyevr_ ("V", "I", "L", &dim, cov, &dim, &vl, &vu, &il, &iu, &abstol, &m, values, vectors, &dim, support,
           &work_query, &lwork, &iwork_query, &liwork, &info, 1, 1, 1);
  lwork = (int) work_query;
  liwork = iwork_query;
  g_autofree float *work = g_new (float, MAX (lwork, 1));
  g_autofree int *iwork = g_new (int, MAX (liwork, 1));
  ssyevr_ ("V", "I", "L", &dim, cov, &dim, &vl, &vu, &il, &iu, &abstol, &m, values, vectors, &dim, support,
           work, &lwork, iwork, &liwork, &info, 1, 1, 1);
  if (info != 0 || m != n_components)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "PCA: the eigensolver failed (info %d)", info);
      return FALSE;
    }

  /* AXES [dim, n_components] row-major, largest variance first, signs fixed */
  g_autofree float *axes = g_new (float, (size_t) dim * n_components);
  for (int j = 0; j < n_components; j++)
    {
      const float *v = vectors + (size_t) (n_components - 1 - j) * dim;
      int largest = 0;
      for (int c = 1; c < dim; c++)
        if (fabsf (v[c]) > fabsf (v[largest]))
          largest = c;
      float sign = v[largest] < 0 ? -1.0f : 1.0f;
      for (int c = 0; c < dim; c++)
        axes[(size_t) c * n_components + j] = sign * v[c];
    }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n_components, dim, 1.0f, x, dim, axes,
               n_components, 0.0f, out, n_components);
  g_autofree float *offset = g_new (float, n_components);
  cblas_sgemv (CblasRowMajor, CblasTrans, dim, n_components, 1.0f, axes, n_components, meanf, 1, 0.0f, offset, 1);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n_components; j++)
      out[(size_t) i * n_components + j] -= offset[j];
  return TRUE;
}

/* ---------------------------------------------------------------- fuzzy graph */

/* Undirected weighted graph, each edge stored at both ends (CSR by head). */
typedef struct {
  int     n;
  int64_t *start;     /* [n + 1] */
  int32_t *tail;      /* [start[n]] */
  float   *weight;
} FuzzyGraph;

static void
fuzzy_graph_clear (FuzzyGraph *g)
{
  g_free (g->start);
  g_free (g->tail);
  g_free (g->weight);
}

/* σ of one row by bisection (umap's smooth_knn_dist); DIST [k] ascending, RHO its nearest non-zero. */
static float
smooth_knn_sigma (const float *dist, int k, float rho, double target, double mean_all)
{
  double lo = 0, hi = INFINITY, mid = 1;
  for (int step = 0; step < SMOOTH_KNN_STEPS; step++)
    {
      double sum = 0;
      for (int j = 0; j < k; j++)
        sum += exp (-MAX (0.0, dist[j] - rho) / mid);
      if (fabs (sum - target) < SMOOTH_KNN_TOLERANCE)
        break;
      if (sum > target)
        hi = mid, mid = (lo + hi) / 2;
      else
        lo = mid, mid = isinf (hi) ? mid * 2 : (lo + hi) / 2;
    }
  double mean_row = 0;
  for (int j = 0; j < k; j++)
    mean_row += dist[j];
  mean_row /= k;
  double floor = MIN_SIGMA_SCALE * (rho > 0 ? mean_row : mean_all);
  return (float) MAX (mid, floor);
}

typedef struct {
  int64_t key;        /* lo · n + hi */
  float   weight;
} DirectedEdge;

static int
compare_directed (gconstpointer a, gconstpointer b)
{
  const DirectedEdge *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return (x->weight > y->weight) - (x->weight < y->weight);
}

/* The fuzzy union of the directed memberships exp (−(d − ρ)/σ), as a symmetric CSR graph. */
static void
fuzzy_graph_build (const ClipNeighbors *nb, int n_neighbors, FuzzyGraph *g)
{
  int n = nb->n, k = nb->k;
  double mean_all = 0;
  for (size_t i = 0; i < (size_t) n * k; i++)
    mean_all += nb->distance[i];
  mean_all /= (double) n * k;
  g_autofree DirectedEdge *edges = g_new (DirectedEdge, (size_t) n * k);
  size_t m = 0;
  for (int i = 0; i < n; i++)
    {
      const float *dist = nb->distance + (size_t) i * k;
      float rho = 0;
      for (int j = 0; j < k && rho == 0; j++)
        rho = dist[j];
      float sigma = smooth_knn_sigma (dist, k, rho, log2 (n_neighbors), mean_all);
      for (int j = 0; j < k; j++)
        {
          int t = nb->index[(size_t) i * k + j];
          float w = expf (-MAX (0.0f, dist[j] - rho) / sigma);
          int lo = MIN (i, t), hi = MAX (i, t);
          edges[m++] = (DirectedEdge) { (int64_t) lo * n + hi, w };
        }
    }
  qsort (edges, m, sizeof *edges, compare_directed);
  /* merge the two directions of each pair: a + b − a·b */
  size_t u = 0;
  for (size_t e = 0; e < m; u++)
    {
      float w = edges[e].weight;
      int64_t key = edges[e].key;
      e++;
      if (e < m && edges[e].key == key)
        {
          w = w + edges[e].weight - w * edges[e].weight;
          e++;
        }
      edges[u] = (DirectedEdge) { key, w };
    }
  g->n = n;
  g->start = g_new0 (int64_t, n + 1);
  for (size_t e = 0; e < u; e++)
    {
      g->start[edges[e].key / n + 1]++;
      g->start[edges[e].key % n + 1]++;
    }
  for (int i = 0; i < n; i++)
    g->start[i + 1] += g->start[i];
  g->tail = g_new (int32_t, MAX (g->start[n], 1));
  g->weight = g_new (float, MAX (g->start[n], 1));
  g_autofree int64_t *fill = g_memdup2 (g->start, sizeof (int64_t) * n);
  for (size_t e = 0; e < u; e++)
    {
      int lo = (int) (edges[e].key / n), hi = (int) (edges[e].key % n);
      g->tail[fill[lo]] = hi, g->weight[fill[lo]++] = edges[e].weight;
      g->tail[fill[hi]] = lo, g->weight[fill[hi]++] = edges[e].weight;
    }
}

/* ---------------------------------------------------------------- curve */

static double
curve_loss (const double *x, const double *y, int points, double a, double b)
{
  double loss = 0;
  for (int i = 0; i < points; i++)
    {
      double r = 1 / (1 + a * pow (x[i], 2 * b)) - y[i];
      loss += r * r;
    }
  return loss;
}

/* a and b of 1 / (1 + a·x^2b) fitted by least squares to umap's target curve (1 below MIN_DIST, then
 * exp (−(x − min_dist)/spread)) on 300 points of [0, 3·spread]: a grid over log a and b, refined
 * around its best point five times (two parameters do not need more). */
static void
fit_curve (float min_dist, float spread, double *a_out, double *b_out)
{
  enum { POINTS = 300, GRID = 21, ROUNDS = 6 };
  double x[POINTS], y[POINTS];
  for (int i = 0; i < POINTS; i++)
    {
      x[i] = 3.0 * spread * (i + 1) / POINTS;
      y[i] = x[i] < min_dist ? 1.0 : exp (-(x[i] - min_dist) / spread);
    }
  double log_a = 0, b = 1.5, half_log_a = 5, half_b = 1.4;
  for (int round = 0; round < ROUNDS; round++)
    {
      double best = INFINITY, best_log_a = log_a, best_b = b;
      for (int i = 0; i < GRID; i++)
        for (int j = 0; j < GRID; j++)
          {
            double la = log_a + half_log_a * (2.0 * i / (GRID - 1) - 1);
            double bb = b + half_b * (2.0 * j / (GRID - 1) - 1);
            double loss = bb > 0 ? curve_loss (x, y, POINTS, exp (la), bb) : INFINITY;
            if (loss < best)
              best = loss, best_log_a = la, best_b = bb;
          }
      log_a = best_log_a, b = best_b;
      half_log_a *= 0.25, half_b *= 0.25;
    }
  *a_out = exp (log_a);
  *b_out = b;
}

/* ---------------------------------------------------------------- layout */

typedef struct {
  const FuzzyGraph *graph;
  int      n, n_epochs, negative_rate, epoch;
  float    a, b;                     /* umap's curve 1 / (1 + a·d^2b) */
  double   alpha, bias1, bias2;
  uint64_t seed;
  const float *epochs_per_sample;   /* [edges] */
  float   *next_sample;             /* [edges] epoch at which each edge is sampled next */
  float   *next_negative;           /* [edges] … and draws its next negative samples */
  const float *y;                   /* [n, 2] positions at the start of the epoch */
  float   *y_next;
  float   *m, *v;                   /* [n, 2] Adam moments */
} Layout;

static float
clip_gradient (float g)
{
  return CLAMP (g, -GRADIENT_CLIP, GRADIENT_CLIP);
}

/* The summed gradient of row I for this epoch: attraction along its sampled edges, repulsion from
 * the negative samples they draw. */
static void
layout_row_gradient (Layout *l, int i, ExploreRng *rng, float grad[2])
{
  const float *yi = l->y + 2 * (size_t) i;
  for (int64_t e = l->graph->start[i]; e < l->graph->start[i + 1]; e++)
    {
      if (l->next_sample[e] > l->epoch)
        continue;
      const float *yj = l->y + 2 * (size_t) l->graph->tail[e];
      float dx = yi[0] - yj[0], dy = yi[1] - yj[1], d2 = dx * dx + dy * dy;
      if (d2 > 0)
        {
          /* d^(2b−2) = d^2b / d²: one power per sample, the costliest step of the layout */
          float p = powf (d2, l->b);
          float c = -2.0f * l->a * l->b * (p / d2) / (l->a * p + 1.0f);
          grad[0] += clip_gradient (c * dx);
          grad[1] += clip_gradient (c * dy);
        }
      l->next_sample[e] += l->epochs_per_sample[e];
      float per_negative = l->epochs_per_sample[e] / l->negative_rate;
      int n_negative = (int) ((l->epoch - l->next_negative[e]) / per_negative);
      for (int s = 0; s < n_negative; s++)
        {
          int k = (int) explore_rng_below (rng, (uint32_t) l->n);
          if (k == i)
            continue;
          const float *yk = l->y + 2 * (size_t) k;
          float ex = yi[0] - yk[0], ey = yi[1] - yk[1], e2 = ex * ex + ey * ey;
          if (e2 <= 0)
            continue;
          float c = 2.0f * l->b / ((REPULSION_EPSILON + e2) * (l->a * powf (e2, l->b) + 1.0f));
          grad[0] += clip_gradient (c * ex);
          grad[1] += clip_gradient (c * ey);
        }
      l->next_negative[e] += n_negative * per_negative;
    }
}

static void
layout_rows (int64_t start, int64_t end, gpointer data)
{
  Layout *l = data;
  for (int64_t r = start; r < end; r++)
    {
      int i = (int) r;
      ExploreRng rng;
      explore_rng_init (&rng, l->seed, (uint64_t) l->epoch * (uint64_t) l->n + (uint64_t) i);
      float grad[2] = { 0, 0 };
      layout_row_gradient (l, i, &rng, grad);
      /* the gradient points uphill in the objective umap maximises: Adam ascends it */
      for (int c = 0; c < 2; c++)
        {
          size_t at = 2 * (size_t) i + c;
          l->m[at] = (float) (ADAM_BETA1 * l->m[at] + (1 - ADAM_BETA1) * grad[c]);
          l->v[at] = (float) (ADAM_BETA2 * l->v[at] + (1 - ADAM_BETA2) * grad[c] * grad[c]);
          double m_hat = l->m[at] / l->bias1, v_hat = l->v[at] / l->bias2;
          l->y_next[at] = (float) (l->y[at] + l->alpha * m_hat / (sqrt (v_hat) + ADAM_EPSILON));
        }
    }
}

/* The first two principal axes of X [n, dim], scaled so the largest coordinate is INIT_RANGE, with
 * a little seeded noise so that equal rows do not start on the same spot. */
static gboolean
layout_init (const float *x, int n, int dim, uint64_t seed, float *y, GError **error)
{
  if (dim == 1)
    for (int i = 0; i < n; i++)
      y[2 * (size_t) i] = x[i], y[2 * (size_t) i + 1] = 0;
  else if (!clip_pca (x, n, dim, 2, y, error))
    return FALSE;
  float largest = 0;
  for (size_t i = 0; i < 2 * (size_t) n; i++)
    largest = MAX (largest, fabsf (y[i]));
  float scale = largest > 0 ? INIT_RANGE / largest : 1;
  ExploreRng rng;
  explore_rng_init (&rng, seed, 0x1417);
  for (size_t i = 0; i < 2 * (size_t) n; i++)
    y[i] = y[i] * scale + (float) (1e-4 * (explore_rng_uniform (&rng) - 0.5));
  return TRUE;
}

static gboolean
layout_optimize (const FuzzyGraph *g, const ClipMapOptions *options, int n_epochs,
                 const ClipCallbacks *callbacks, float *y, GError **error)
{
  int n = g->n;
  int64_t n_edges = g->start[n];
  float max_w = 0;
  for (int64_t e = 0; e < n_edges; e++)
    max_w = MAX (max_w, g->weight[e]);
  g_autofree float *epochs_per_sample = g_new (float, MAX (n_edges, 1));
  g_autofree float *next_sample = g_new (float, MAX (n_edges, 1));
  g_autofree float *next_negative = g_new (float, MAX (n_edges, 1));
  for (int64_t e = 0; e < n_edges; e++)
    {
      /* edges too weak to be sampled once in the run never are (umap drops them) */
      epochs_per_sample[e] = g->weight[e] >= max_w / n_epochs ? max_w / g->weight[e] : INFINITY;
      next_sample[e] = epochs_per_sample[e];
      next_negative[e] = epochs_per_sample[e] / options->negative_rate;
    }
  g_autofree float *y_next = g_new (float, 2 * (size_t) n);
  g_autofree float *m = g_new0 (float, 2 * (size_t) n), *v = g_new0 (float, 2 * (size_t) n);
  Layout l = { g, n, n_epochs, options->negative_rate, 0, 0, 0, 0, 0, 0, options->seed, epochs_per_sample,
               next_sample, next_negative, y, y_next, m, v };
  double a, b;
  fit_curve (options->min_dist, options->spread, &a, &b);
  l.a = (float) a;
  l.b = (float) b;
  for (int epoch = 0; epoch < n_epochs; epoch++)
    {
      if (explore_aborted (callbacks, "Layout", error))
        return FALSE;
      l.epoch = epoch;
      l.alpha = 1.0 - (double) epoch / n_epochs;
      l.bias1 = 1 - pow (ADAM_BETA1, epoch + 1);
      l.bias2 = 1 - pow (ADAM_BETA2, epoch + 1);
      l.y = y;
      l.y_next = y_next;
      clip_parallel_for (n, 256, layout_rows, &l);
      memcpy (y, y_next, sizeof (float) * 2 * (size_t) n);
      if (epoch % 10 == 0 || epoch + 1 == n_epochs)
        explore_progress (callbacks, "Layout", epoch + 1, n_epochs);
    }
  return TRUE;
}

gboolean
clip_map_compute (const float *embeddings, int n, int dim, const ClipMapOptions *options,
                  const ClipCallbacks *callbacks, float *xy, GError **error)
{
  ClipMapOptions defaults;
  if (options == NULL)
    clip_map_options_init (&defaults), options = &defaults;
  if (n < 3 || dim < 1 || options->n_neighbors < 2 || options->negative_rate < 0 || !(options->spread > 0)
      || !(options->min_dist >= 0))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                   "map: %d rows of %d dimensions, %d neighbours (at least 3 rows and 2 neighbours)", n, dim,
                   options->n_neighbors);
      return FALSE;
    }
  /* umap counts the row itself among its n_neighbors */
  int k = MIN (options->n_neighbors - 1, n - 1);
  const float *x = embeddings;
  g_autofree float *reduced = NULL;
  int reduced_dim = dim;
  if (options->pca_dims > 0 && dim > options->pca_dims)
    {
      reduced_dim = MIN (options->pca_dims, n);
      reduced = g_new (float, (size_t) n * reduced_dim);
      if (!clip_pca (embeddings, n, dim, reduced_dim, reduced, error))
        return FALSE;
      x = reduced;
    }
  g_auto (ClipNeighbors) neighbors = { 0 };
  if (!clip_knn_compute (x, n, reduced_dim, k, options->knn, options->seed, callbacks, &neighbors, error))
    return FALSE;
  FuzzyGraph graph = { 0 };
  fuzzy_graph_build (&neighbors, options->n_neighbors, &graph);
  int n_epochs = options->n_epochs > 0 ? options->n_epochs : n <= 10000 ? 500 : 200;
  gboolean ok = layout_init (x, n, reduced_dim, options->seed, xy, error)
                && layout_optimize (&graph, options, n_epochs, callbacks, xy, error);
  fuzzy_graph_clear (&graph);
  return ok;
}

/* ---------------------------------------------------------------- quality */

double
clip_map_neighbor_preservation (const float *embeddings, int n, int dim, const float *xy, int k, int n_sample,
                                uint64_t seed)
{
  g_return_val_if_fail (k >= 1 && k < n, NAN);
  n_sample = MIN (n_sample, n);
  g_autofree int *rows = explore_sample_rows (n, n_sample, seed);
  g_autofree int32_t *high = g_new (int32_t, k), *low = g_new (int32_t, k);
  int64_t kept = 0;
  for (int s = 0; s < n_sample; s++)
    {
      explore_brute_nearest (embeddings, n, dim, rows[s], k, high);
      explore_brute_nearest (xy, n, 2, rows[s], k, low);
      for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++)
          if (high[a] == low[b])
            {
              kept++;
              break;
            }
    }
  return n_sample > 0 ? (double) kept / ((double) n_sample * k) : NAN;
}
