/* bench-index-search — how long opening an index and answering a query take at scale: writes a
 * synthetic index of N entries (default 100,000) of 512-d unit vectors for a small random model with
 * a 512-d embedding, then times clip_index_open (map + verify every checksum, the 4-bit codes' too +
 * build the entry table) and clip_index_search (from 20,000 entries a first pass over the codes the
 * file holds, the candidates scored exactly, then top-K), text encoding excluded, the first query
 * apart (it would make the codes of a file that lacks them), and checks each query's results
 * against a brute-force float32 ranking of all the embeddings ("identical_top_k": how many queries
 * gave the same paths in order).  "codes_kernel" names the first pass's kernel; CLIPLAB_KERNEL_ISA
 * (portable, avx2, avx-vnni, avx512) chooses another.
 *
 *   build/tests/bench/bench-index-search [--entries N] [--queries Q] [--top K] [--threads T]
 *
 * The file has just been written, so it is in the page cache: the open figure is a warm one.  CPU
 * times are printed beside the wall times for machines shared with other work.  Prints one JSON line. */
#include "clip-private.h"
#include "index-private.h"

#include <cblas.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The TOP best rows of SCORES [N] (ties by path, as the index orders them) into BEST, in order. */
static void
brute_force_top (const float *scores, int n, GPtrArray *paths, int top, int *best)
{
  int kept = 0;
  for (int i = 0; i < n; i++)
    {
      int at = kept;
      while (at > 0 && (scores[i] > scores[best[at - 1]]
                        || (scores[i] == scores[best[at - 1]]
                            && strcmp (paths->pdata[i], paths->pdata[best[at - 1]]) < 0)))
        at--;
      if (at >= top)
        continue;
      int last = kept < top ? kept++ : top - 1;
      memmove (best + at + 1, best + at, sizeof (int) * (last - at));
      best[at] = i;
    }
}

static double
now_ms (void)
{
  return g_get_monotonic_time () / 1000.0;
}

/* CPU time of the process, all threads: on a machine busy with other work this is the steadier
 * figure (with one BLAS thread it equals the wall time of an idle machine). */
static double
cpu_ms (void)
{
  struct timespec t;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* The 1-minute load average, to say how busy the machine was; -1 when unknown. */
static double
load_average (void)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents ("/proc/loadavg", &text, NULL, NULL))
    return -1;
  return g_ascii_strtod (text, NULL);
}

static void
random_unit (GRand *rand, float *v, int dim)
{
  double norm = 0;
  for (int k = 0; k < dim; k++)
    {
      v[k] = (float) g_rand_double_range (rand, -1, 1);
      norm += (double) v[k] * v[k];
    }
  for (int k = 0; k < dim; k++)
    v[k] = (float) (v[k] / sqrt (norm));
}

int
main (int argc, char **argv)
{
  int n_entries = 100000, n_queries = 50, top = 10, threads = 0;
  const GOptionEntry entries[] = {
    { "entries", 'n', 0, G_OPTION_ARG_INT, &n_entries, "Entries in the synthetic index (100000)", "N" },
    { "queries", 'q', 0, G_OPTION_ARG_INT, &n_queries, "Queries timed (50)", "Q" },
    { "top", 'k', 0, G_OPTION_ARG_INT, &top, "Results per query (10)", "K" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "BLAS threads (0 = all cores)", "T" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("");
  g_option_context_add_main_entries (context, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || n_entries < 1 || n_queries < 1 || top < 1)
    {
      fprintf (stderr, "bench-index-search: %s\n", error != NULL ? error->message : "counts must be positive");
      return 1;
    }
  clip_set_threads (threads);

  /* A small random model with CLIP's 512-d joint space: only its embedding size matters here. */
  ClipConfig config = {
    .vision = { 64, 1, 2, 128, 1e-5f, CLIP_ACTIVATION_QUICK_GELU },
    .text = { 64, 1, 2, 128, 1e-5f, CLIP_ACTIVATION_QUICK_GELU },
    .image_size = 32, .patch_size = 16, .context_length = 8, .vocab_size = 300, .embed_dim = 512,
    .eot_id = -1,
  };
  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  g_autoptr (ClipModel) model = clip_model_new_random (&config, &pre, NULL, 1, &error);
  if (model == NULL)
    {
      fprintf (stderr, "bench-index-search: %s\n", error->message);
      return 1;
    }
  const int dim = config.embed_dim;

  g_autofree char *root = g_dir_make_tmp ("cliplab-bench-XXXXXX", &error);
  g_autofree char *folder = g_build_filename (root, "photos", NULL);
  g_autofree char *cache = g_build_filename (root, "cache", NULL);
  g_mkdir_with_parents (folder, 0755);
  g_mkdir_with_parents (cache, 0755);
  g_autofree char *canonical = realpath (folder, NULL);
  ClipIndexOptions options;
  clip_index_options_init (&options);
  options.cache_dir = cache;
  uint8_t key[CLIP_INDEX_KEY_BYTES];
  clip_index_model_key (model, options.apply_exif_orientation, options.exact_decode, key);
  g_autofree char *file = clip_index_file_name (cache, canonical, key);

  GRand *rand = g_rand_new_with_seed (42);
  g_autofree float *embeds = g_new (float, (size_t) n_entries * dim);
  g_autofree ClipIndexEntry *list = g_new0 (ClipIndexEntry, n_entries);
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < n_entries; i++)
    {
      random_unit (rand, embeds + (size_t) i * dim, dim);
      char *path = g_strdup_printf ("%04d/%02d/IMG_%07d.jpg", 2000 + i % 25, 1 + i % 12, i);
      g_ptr_array_add (paths, path);
      list[i] = (ClipIndexEntry) { .path = path, .size = 3000000 + i, .mtime_ns = 1600000000000000000 + i,
                                   .embedding = embeds + (size_t) i * dim };
      memcpy (list[i].hash, &i, sizeof i);
    }
  double t0 = now_ms ();
  if (!clip_index_store_write (file, canonical, key, dim, list, n_entries, &error))
    {
      fprintf (stderr, "bench-index-search: %s\n", error->message);
      return 1;
    }
  double write_ms = now_ms () - t0;
  GStatBuf st;
  g_stat (file, &st);

  /* Open several times: the median is the figure. */
  enum { OPENS = 5 };
  double open_ms[OPENS], open_cpu[OPENS];
  ClipIndex *index = NULL;
  for (int r = 0; r < OPENS; r++)
    {
      g_clear_pointer (&index, clip_index_free);
      t0 = now_ms ();
      double c0 = cpu_ms ();
      index = clip_index_open (folder, model, &options, &error);
      open_ms[r] = now_ms () - t0;
      open_cpu[r] = cpu_ms () - c0;
      if (index == NULL || clip_index_get_n_entries (index) != n_entries)
        {
          fprintf (stderr, "bench-index-search: %s\n", error != NULL ? error->message : "wrong entry count");
          return 1;
        }
    }
  qsort (open_ms, OPENS, sizeof (double), compare_doubles);
  qsort (open_cpu, OPENS, sizeof (double), compare_doubles);

  g_autofree double *query_ms = g_new (double, n_queries);
  g_autofree double *query_cpu = g_new (double, n_queries);
  g_autofree float *query = g_new (float, dim);
  g_autofree ClipSearchResult *results = g_new (ClipSearchResult, top);
  int found = 0, identical = 0;
  double first_query_ms = 0, first_query_cpu = 0;
  g_autofree float *all_scores = g_new (float, n_entries);
  g_autofree int *best = g_new (int, top);
  for (int q = 0; q < n_queries; q++)
    {
      random_unit (rand, query, dim);
      t0 = now_ms ();
      double c0 = cpu_ms ();
      found = clip_index_search (index, query, top, -1, results);
      query_ms[q] = now_ms () - t0;
      query_cpu[q] = cpu_ms () - c0;
      cblas_sgemv (CblasRowMajor, CblasNoTrans, n_entries, dim, 1.0f, embeds, dim, query, 1, 0.0f, all_scores, 1);
      brute_force_top (all_scores, n_entries, paths, top, best);
      gboolean same = found == MIN (top, n_entries);
      for (int i = 0; i < found && same; i++)
        same = strcmp (results[i].path, paths->pdata[best[i]]) == 0;
      identical += same;
      if (q == 0)
        {
          first_query_ms = query_ms[0];
          first_query_cpu = query_cpu[0];
        }
    }
  qsort (query_ms, n_queries, sizeof (double), compare_doubles);
  qsort (query_cpu, n_queries, sizeof (double), compare_doubles);

  printf ("{\"entries\": %d, \"dim\": %d, \"file_mb\": %.1f, \"write_ms\": %.1f, \"open_ms_median\": %.2f, "
          "\"open_ms_max\": %.2f, \"query_ms_median\": %.3f, \"query_ms_max\": %.3f, \"first_query_ms\": %.3f, "
          "\"first_query_cpu_ms\": %.3f, "
          "\"open_cpu_ms_median\": %.2f, \"query_cpu_ms_median\": %.3f, \"results\": %d, \"blas_threads\": %d, "
          "\"load_average\": %.2f, \"identical_top_k\": %d, \"queries\": %d, \"codes_kernel\": \"%s\"}\n",
          n_entries, dim, st.st_size / 1e6, write_ms, open_ms[OPENS / 2], open_ms[OPENS - 1],
          query_ms[n_queries / 2], query_ms[n_queries - 1], first_query_ms, first_query_cpu, open_cpu[OPENS / 2],
          query_cpu[n_queries / 2], found, clip_get_threads (), load_average (), identical, n_queries,
          clip_index_codes_kernel_name ());

  clip_index_free (index);
  g_unlink (file);
  g_rmdir (cache);
  g_rmdir (folder);
  g_rmdir (root);
  g_ptr_array_unref (paths);
  g_rand_free (rand);
  return 0;
}
