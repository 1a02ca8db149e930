/* bench-map — how long the embedding map, its clusters and the near-duplicate groups take, and how
 * good the map and the approximate neighbours are.
 *
 *   build/tests/bench/bench-map --model MODEL --csv FILE --img-root DIR [--limit N] [--png OUT.png]
 *   build/tests/bench/bench-map --synthetic N [--dim D]
 *   common: [--seed S] [--threads T] [--sample S]
 *
 * With --csv the embeddings come from the index of --img-root for --model (indexed first when
 * needed; the index is then reused), and --png draws the map coloured by the CSV's labels.  With
 * --synthetic they are N unit vectors near 20 random 8-dimensional patches.  Prints the phases' wall times, the
 * recall of NN-descent's neighbours against brute force on a sample (on the PCA-reduced rows the map
 * uses), and the share of each sampled row's 10 nearest neighbours kept on the map. */
#include "clip.h"
#include "clip-testing.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  double start, last, last_cpu;
  const char *what;
} Timer;

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

/* CPU time of the process, all threads: on a machine busy with other work this is the steadier
 * figure; on an idle 2-core machine the wall time is about half of it when both cores work. */
static double
cpu_s (void)
{
  struct timespec t;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* Prints the wall time of each phase when the next one starts. */
static void
on_progress (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  Timer *t = user_data;
  if (t->what == NULL || strcmp (t->what, what) != 0)
    {
      double now = now_s (), cpu = cpu_s ();
      if (t->what != NULL)
        printf ("  %-12s %.2f s (CPU %.2f s)\n", t->what, now - t->last, cpu - t->last_cpu);
      t->what = what;
      t->last = now;
      t->last_cpu = cpu;
    }
  (void) done, (void) total;
}

/* N unit rows of DIM near 20 random 8-dimensional patches (a centre plus a random basis), with
 * a little noise in every direction: low intrinsic dimension, as image embeddings have. */
static float *
synthetic_embeddings (int n, int dim, uint64_t seed, int **labels)
{
  enum { CENTRES = 20, PATCH = 8 };
  GRand *rand = g_rand_new_with_seed ((guint32) seed);
  float *centres = g_new (float, CENTRES * dim), *basis = g_new (float, (size_t) CENTRES * PATCH * dim);
  float *x = g_new (float, (size_t) n * dim);
  for (int i = 0; i < CENTRES * dim; i++)
    centres[i] = (float) g_rand_double_range (rand, -1, 1);
  for (size_t i = 0; i < (size_t) CENTRES * PATCH * dim; i++)
    basis[i] = (float) g_rand_double_range (rand, -0.5, 0.5);
  *labels = g_new (int, n);
  for (int i = 0; i < n; i++)
    {
      int c = g_rand_int_range (rand, 0, CENTRES);
      (*labels)[i] = c;
      float *row = x + (size_t) i * dim;
      for (int j = 0; j < dim; j++)
        row[j] = centres[c * dim + j] + (float) g_rand_double_range (rand, -0.05, 0.05);
      for (int p = 0; p < PATCH; p++)
        {
          float z = (float) g_rand_double_range (rand, -1, 1);
          for (int j = 0; j < dim; j++)
            row[j] += z * basis[((size_t) c * PATCH + p) * dim + j];
        }
      double norm = 0;
      for (int j = 0; j < dim; j++)
        norm += row[j] * row[j];
      for (int j = 0; j < dim; j++)
        row[j] /= (float) sqrt (norm);
    }
  g_free (centres);
  g_free (basis);
  g_rand_free (rand);
  return x;
}

/* The CSV's rows that the index of IMG_ROOT holds, in CSV order (at most LIMIT, 0 = all). */
static float *
csv_embeddings (const char *model_path, const char *csv, const char *img_root, int limit, int *n_out, int *dim_out,
                int **labels, GStrv *label_names, GError **error)
{
  g_autoptr (ClipModel) model = clip_model_load (model_path, NULL, error);
  g_autoptr (ClipDataset) dataset = model ? clip_dataset_load_csv (csv, img_root, error) : NULL;
  if (dataset == NULL)
    return NULL;
  ClipIndexOptions options;
  clip_index_options_init (&options);
  g_autoptr (ClipIndex) index = clip_index_open (img_root, model, &options, error);
  if (index == NULL || !clip_index_update (index, NULL, NULL, error))
    return NULL;
  int dim = clip_model_get_config (model)->embed_dim;
  int n = clip_dataset_get_size (dataset);
  if (limit > 0)
    n = MIN (n, limit);
  float *x = g_new (float, (size_t) n * dim);
  *labels = g_new (int, n);
  int m = 0;
  for (int i = 0; i < n; i++)
    {
      ClipIndexItem item;
      if (!clip_index_find_file (index, clip_dataset_get_image_path (dataset, i), &item))
        continue;
      memcpy (x + (size_t) m * dim, item.embedding, sizeof (float) * dim);
      (*labels)[m++] = clip_dataset_get_label (dataset, i);
    }
  *n_out = m;
  *dim_out = dim;
  *label_names = g_new0 (char *, clip_dataset_get_n_labels (dataset) + 1);
  for (int c = 0; c < clip_dataset_get_n_labels (dataset); c++)
    (*label_names)[c] = g_strdup (clip_dataset_get_label_name (dataset, c));
  return x;
}

static void
draw_png (const char *path, const float *xy, const int *labels, int n, char **label_names)
{
  enum { SIZE = 1000, MARGIN = 20 };
  float lo[2] = { INFINITY, INFINITY }, hi[2] = { -INFINITY, -INFINITY };
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 2; c++)
      lo[c] = MIN (lo[c], xy[2 * i + c]), hi[c] = MAX (hi[c], xy[2 * i + c]);
  float scale = (SIZE - 2 * MARGIN) / MAX (hi[0] - lo[0], hi[1] - lo[1]);
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, SIZE, SIZE);
  cairo_t *cr = cairo_create (surface);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  static const double palette[][3] = {
    { 0.12, 0.47, 0.71 }, { 1.00, 0.50, 0.05 }, { 0.17, 0.63, 0.17 }, { 0.84, 0.15, 0.16 }, { 0.58, 0.40, 0.74 },
    { 0.55, 0.34, 0.29 }, { 0.89, 0.47, 0.76 }, { 0.50, 0.50, 0.50 }, { 0.74, 0.74, 0.13 }, { 0.09, 0.75, 0.81 },
  };
  for (int i = 0; i < n; i++)
    {
      const double *rgb = palette[(labels[i] < 0 ? 7 : labels[i]) % G_N_ELEMENTS (palette)];
      cairo_set_source_rgba (cr, rgb[0], rgb[1], rgb[2], 0.6);
      cairo_arc (cr, MARGIN + (xy[2 * i] - lo[0]) * scale, MARGIN + (xy[2 * i + 1] - lo[1]) * scale, 1.5, 0, 2 * G_PI);
      cairo_fill (cr);
    }
  /* the legend, top left */
  cairo_set_font_size (cr, 14);
  for (int c = 0; label_names != NULL && label_names[c] != NULL; c++)
    {
      const double *rgb = palette[c % G_N_ELEMENTS (palette)];
      cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
      cairo_rectangle (cr, 10, 10 + 20 * c, 12, 12);
      cairo_fill (cr);
      cairo_set_source_rgb (cr, 0, 0, 0);
      cairo_move_to (cr, 28, 21 + 20 * c);
      cairo_show_text (cr, label_names[c]);
    }
  cairo_destroy (cr);
  cairo_surface_write_to_png (surface, path);
  cairo_surface_destroy (surface);
}

int
main (int argc, char **argv)
{
  g_autofree char *model = NULL, *csv = NULL, *img_root = NULL, *png = NULL;
  int synthetic = 0, dim = 512, limit = 0, threads = 0, sample = 500, seed = 1;
  const GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model, "Model", "M" },
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &csv, "CSV data set", "FILE" },
    { "img-root", 0, 0, G_OPTION_ARG_FILENAME, &img_root, "Folder of the CSV's images", "DIR" },
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit, "First N rows of the CSV", "N" },
    { "png", 0, 0, G_OPTION_ARG_FILENAME, &png, "Draw the map coloured by label", "FILE" },
    { "synthetic", 0, 0, G_OPTION_ARG_INT, &synthetic, "N synthetic embeddings", "N" },
    { "dim", 0, 0, G_OPTION_ARG_INT, &dim, "Their dimension (512)", "D" },
    { "seed", 0, 0, G_OPTION_ARG_INT, &seed, "Seed (1)", "S" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (0 = all cores)", "T" },
    { "sample", 0, 0, G_OPTION_ARG_INT, &sample, "Rows sampled for recall and preservation (500)", "S" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- time the embedding map");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "bench-map: %s\n", error->message);
      return 1;
    }
  clip_set_threads (threads);
  int n = 0;
  g_autofree int *labels = NULL;
  g_auto (GStrv) label_names = NULL;
  g_autofree float *x = NULL;
  if (synthetic > 0)
    x = synthetic_embeddings (n = synthetic, dim, (uint64_t) seed, &labels);
  else if (model != NULL && csv != NULL && img_root != NULL)
    x = csv_embeddings (model, csv, img_root, limit, &n, &dim, &labels, &label_names, &error);
  else
    error = g_error_new (CLIP_ERROR, CLIP_ERROR_INVALID, "give --synthetic N or --model, --csv and --img-root");
  if (x == NULL)
    {
      fprintf (stderr, "bench-map: %s\n", error->message);
      return 1;
    }
  printf ("%d rows of %d dimensions, %d threads\n", n, dim, clip_get_threads ());

  ClipMapOptions options;
  clip_map_options_init (&options);
  options.seed = (uint64_t) seed;
  g_autofree float *xy = g_new (float, 2 * (size_t) n);
  double cpu_start = cpu_s ();
  Timer timer = { now_s (), 0, cpu_start, "PCA" };
  ClipCallbacks callbacks = { on_progress, NULL, &timer };
  timer.last = timer.start;
  if (!clip_map_compute (x, n, dim, &options, &callbacks, xy, &error))
    {
      fprintf (stderr, "bench-map: %s\n", error->message);
      return 1;
    }
  double end = now_s ();
  printf ("  %-12s %.2f s (CPU %.2f s)\nmap          %.2f s (CPU %.2f s)\n", timer.what, end - timer.last,
          cpu_s () - timer.last_cpu, end - timer.start, cpu_s () - cpu_start);

  g_autofree int *cluster = g_new (int, n);
  double t0 = now_s (), c0 = cpu_s ();
  int n_clusters = clip_map_cluster (xy, n, NULL, cluster);
  printf ("clusters     %d in %.2f s\n", n_clusters, now_s () - t0);

  t0 = now_s (), c0 = cpu_s ();
  g_autoptr (ClipDuplicates) duplicates = clip_duplicates_find (x, n, dim, NULL, CLIP_DUPLICATE_DISTANCE,
                                                                (uint64_t) seed, NULL, &error);
  g_assert_no_error (error);
  printf ("duplicates   %d groups in %.2f s (CPU %.2f s)\n", clip_duplicates_get_n_groups (duplicates),
          now_s () - t0, cpu_s () - c0);

  /* the neighbours the map used: on the PCA-reduced rows */
  int pca_dim = MIN (dim, options.pca_dims);
  g_autofree float *reduced = g_new (float, (size_t) n * pca_dim);
  if (!clip_pca (x, n, dim, pca_dim, reduced, &error))
    g_error ("%s", error->message);
  g_auto (ClipNeighbors) approx = { 0 };
  t0 = now_s (), c0 = cpu_s ();
  if (!clip_knn_compute (reduced, n, pca_dim, options.n_neighbors - 1, CLIP_KNN_APPROXIMATE, (uint64_t) seed, NULL,
                         &approx, &error))
    g_error ("%s", error->message);
  printf ("NN-descent   %.2f s (CPU %.2f s), recall %.4f on %d rows\n", now_s () - t0, cpu_s () - c0,
          clip_knn_recall (reduced, n, pca_dim, &approx, sample, 7), MIN (sample, n));
  printf ("preservation %.4f (10 nearest neighbours kept on the map, %d rows)\n",
          clip_map_neighbor_preservation (x, n, dim, xy, 10, sample, 7), MIN (sample, n));
  if (png != NULL)
    draw_png (png, xy, labels, n, label_names);
  return 0;
}
