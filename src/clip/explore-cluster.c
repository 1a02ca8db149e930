/* explore-cluster.c — density clusters on the map and their names.
 *
 * Clusters: as Apple's embedding-atlas does, a Gaussian kernel density estimate on a grid (points
 * binned bilinearly, then a separable blur), whose local maxima seed the clusters.  Cells are taken
 * from the densest down (a watershed); a cell touching two clusters merges them when the density
 * there, the saddle between them, is at least `persistence` of the lower peak (persistence-based
 * clustering, ToMATo).  Points take the cluster of their cell; thin cells and small clusters are noise.
 *
 * The names are chosen in explore-names.c. */
#include "explore-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCOTT_FACTOR 0.5      /* Scott's rule oversmooths maps made of many clusters */
#define DENSITY_FLOOR 1e-3    /* cells under this share of the densest one are empty */

void
clip_cluster_options_init (ClipClusterOptions *options)
{
  *options = (ClipClusterOptions) {
    .grid = 256,
    .persistence = 0.5f,
    .noise_level = 0.1f,
  };
}

typedef struct {
  int    w, h;
  double x0, y0, cell;
  float *density;     /* [h, w] */
} Grid;

/* The grid covering XY with a margin of three bandwidths; the density binned and blurred. */
static void
grid_estimate (const float *xy, int n, const ClipClusterOptions *o, Grid *g)
{
  double lo[2] = { INFINITY, INFINITY }, hi[2] = { -INFINITY, -INFINITY }, mean[2] = { 0 }, var[2] = { 0 };
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 2; c++)
      {
        double v = xy[2 * (size_t) i + c];
        lo[c] = MIN (lo[c], v), hi[c] = MAX (hi[c], v), mean[c] += v;
      }
  for (int c = 0; c < 2; c++)
    mean[c] /= n;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 2; c++)
      var[c] += (xy[2 * (size_t) i + c] - mean[c]) * (xy[2 * (size_t) i + c] - mean[c]);
  double sd = (sqrt (var[0] / n) + sqrt (var[1] / n)) / 2;
  double h = o->bandwidth > 0 ? o->bandwidth : SCOTT_FACTOR * sd * pow (n, -1.0 / 6);
  if (!(h > 0))
    h = 1;
  double extent = MAX (hi[0] - lo[0], hi[1] - lo[1]) + 6 * h;
  g->cell = extent / o->grid;
  g->w = MIN (o->grid, (int) ceil ((hi[0] - lo[0] + 6 * h) / g->cell) + 1);
  g->h = MIN (o->grid, (int) ceil ((hi[1] - lo[1] + 6 * h) / g->cell) + 1);
  g->x0 = lo[0] - 3 * h;
  g->y0 = lo[1] - 3 * h;
  g->density = g_new0 (float, (size_t) g->w * g->h);
  for (int i = 0; i < n; i++)
    {
      double fx = (xy[2 * (size_t) i] - g->x0) / g->cell - 0.5, fy = (xy[2 * (size_t) i + 1] - g->y0) / g->cell - 0.5;
      int cx = (int) floor (fx), cy = (int) floor (fy);
      double ax = fx - cx, ay = fy - cy;
      for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++)
          {
            int x = CLAMP (cx + dx, 0, g->w - 1), y = CLAMP (cy + dy, 0, g->h - 1);
            g->density[(size_t) y * g->w + x] += (float) ((dx ? ax : 1 - ax) * (dy ? ay : 1 - ay));
          }
    }
  /* separable Gaussian blur, σ in cells */
  double sigma = h / g->cell;
  int radius = (int) ceil (3 * sigma);
  g_autofree float *kernel = g_new (float, 2 * radius + 1);
  for (int r = -radius; r <= radius; r++)
    kernel[r + radius] = (float) exp (-0.5 * r * r / (sigma * sigma));
  g_autofree float *tmp = g_new0 (float, (size_t) g->w * g->h);
  for (int y = 0; y < g->h; y++)
    for (int x = 0; x < g->w; x++)
      {
        float s = 0;
        for (int r = MAX (-radius, -x); r <= radius && x + r < g->w; r++)
          s += kernel[r + radius] * g->density[(size_t) y * g->w + x + r];
        tmp[(size_t) y * g->w + x] = s;
      }
  for (int y = 0; y < g->h; y++)
    for (int x = 0; x < g->w; x++)
      {
        float s = 0;
        for (int r = MAX (-radius, -y); r <= radius && y + r < g->h; r++)
          s += kernel[r + radius] * tmp[(size_t) (y + r) * g->w + x];
        g->density[(size_t) y * g->w + x] = s;
      }
}

static int
compare_cells_by_density (gconstpointer a, gconstpointer b, gpointer density)
{
  int x = *(const int *) a, y = *(const int *) b;
  float dx = ((const float *) density)[x], dy = ((const float *) density)[y];
  if (dx != dy)
    return dx > dy ? -1 : 1;
  return (x > y) - (x < y);
}

/* ROOT [cells]: each cell's cluster (a peak cell, by union-find over PARENT) or −1. */
static void
grid_watershed (const Grid *g, const ClipClusterOptions *o, int *parent, int *root)
{
  size_t cells = (size_t) g->w * g->h;
  float top = 0;
  for (size_t c = 0; c < cells; c++)
    top = MAX (top, g->density[c]);
  g_autofree int *order = g_new (int, cells);
  int m = 0;
  for (size_t c = 0; c < cells; c++)
    {
      parent[c] = -1;
      if (g->density[c] > DENSITY_FLOOR * top)
        order[m++] = (int) c;
    }
  g_qsort_with_data (order, m, sizeof *order, compare_cells_by_density, g->density);
  const float *f = g->density;
  for (int s = 0; s < m; s++)
    {
      int c = order[s], cx = c % g->w, cy = c / g->w;
      parent[c] = c;
      int best = -1;
      int roots[8], n_roots = 0;
      for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++)
          {
            int x = cx + dx, y = cy + dy;
            if ((dx == 0 && dy == 0) || x < 0 || y < 0 || x >= g->w || y >= g->h || parent[y * g->w + x] < 0)
              continue;
            int r = explore_find (parent, y * g->w + x);
            roots[n_roots++] = r;
            if (best < 0 || f[r] > f[best] || (f[r] == f[best] && r < best))
              best = r;
          }
      if (best < 0)
        continue;               /* a new peak */
      parent[c] = best;
      for (int j = 0; j < n_roots; j++)
        {
          int r = explore_find (parent, roots[j]);
          if (r != best && f[c] >= o->persistence * f[r])
            parent[r] = best;   /* a shallow valley: the lower peak joins the higher */
        }
    }
  for (size_t c = 0; c < cells; c++)
    {
      root[c] = parent[c] < 0 ? -1 : explore_find (parent, (int) c);
      if (root[c] >= 0 && f[c] < o->noise_level * f[root[c]])
        root[c] = -1;
    }
}

typedef struct {
  int root, size;
} ClusterSize;

static int
compare_sizes (const void *a, const void *b)
{
  const ClusterSize *x = a, *y = b;
  if (x->size != y->size)
    return x->size > y->size ? -1 : 1;
  return (x->root > y->root) - (x->root < y->root);
}

int
clip_map_cluster (const float *xy, int n, const ClipClusterOptions *options, int *cluster)
{
  ClipClusterOptions o;
  if (options == NULL)
    clip_cluster_options_init (&o);
  else
    o = *options;
  if (o.grid < 8)
    o.grid = 8;
  if (n <= 0)
    return 0;
  Grid g = { 0 };
  grid_estimate (xy, n, &o, &g);
  size_t cells = (size_t) g.w * g.h;
  g_autofree int *parent = g_new (int, cells), *root = g_new (int, cells);
  grid_watershed (&g, &o, parent, root);
  g_autofree int *count = g_new0 (int, cells);
  for (int i = 0; i < n; i++)
    {
      int x = CLAMP ((int) ((xy[2 * (size_t) i] - g.x0) / g.cell), 0, g.w - 1);
      int y = CLAMP ((int) ((xy[2 * (size_t) i + 1] - g.y0) / g.cell), 0, g.h - 1);
      cluster[i] = root[(size_t) y * g.w + x];
      if (cluster[i] >= 0)
        count[cluster[i]]++;
    }
  int min_size = o.min_size > 0 ? o.min_size : MAX (5, n / 500);
  g_autoptr (GArray) sizes = g_array_new (FALSE, FALSE, sizeof (ClusterSize));
  for (size_t c = 0; c < cells; c++)
    if (count[c] >= min_size)
      g_array_append_val (sizes, ((ClusterSize) { (int) c, count[c] }));
  g_array_sort (sizes, compare_sizes);
  /* COUNT becomes the cell → id table: −1 for noise and small clusters */
  for (size_t c = 0; c < cells; c++)
    count[c] = -1;
  for (guint j = 0; j < sizes->len; j++)
    count[g_array_index (sizes, ClusterSize, j).root] = (int) j;
  for (int i = 0; i < n; i++)
    if (cluster[i] >= 0)
      cluster[i] = count[cluster[i]];
  g_free (g.density);
  return (int) sizes->len;
}
