/* bench-index-throughput — indexing speed for a folder of 12-megapixel JPEGs with the ViT-B/32
 * architecture (decode + preprocess + encode, as `cliplab-cli index` does it), and how close the
 * fast path (JPEG DCT scaling, then the exact resize) comes to the exact path (full decode, then
 * the same resize) in embeddings and in the 224×224 crops.
 *
 *   build/tests/bench/bench-index-throughput [--photos N] [--width W] [--height H]
 *       [--decode-threads T] [--batch-size B] [--threads T] [--exact] [--dir DIR]
 *       [--model FILE] [--precision f32|bf16|int8|auto]
 *
 * The photos are generated (smooth shading, edges and sensor-like noise; each one different) and
 * the weights are CLIP's random initialisation with a fixed seed (or --model's, e.g. the golden
 * deterministic ViT-B/32 of `cliplab-cli bench --detweights`, needed for --precision): speed does not depend on the
 * weights, but the cosine figures come from an untrained network, so the cosine between
 * *different* photos is printed beside them as the baseline they must be read against.
 * Prints one JSON line. */
#include "clip-private.h"
#include "index-private.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static double
now_s (void)
{
  return g_get_monotonic_time () / (double) G_USEC_PER_SEC;
}

/* A photo-like picture: low-frequency shading from separable tables, a few hard-edged regions,
 * and per-pixel noise; SEED changes all of it. */
static void
write_photo (const char *path, int width, int height, guint seed)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  GRand *rand = g_rand_new_with_seed (seed);
  g_autofree float *cx = g_new (float, (size_t) 3 * width);
  g_autofree float *cy = g_new (float, (size_t) 3 * height);
  for (int c = 0; c < 3; c++)
    {
      double fx = g_rand_double_range (rand, 0.5, 4), fy = g_rand_double_range (rand, 0.5, 4);
      double px = g_rand_double_range (rand, 0, 6.28), py = g_rand_double_range (rand, 0, 6.28);
      double ax = g_rand_double_range (rand, 30, 80), ay = g_rand_double_range (rand, 30, 80);
      for (int x = 0; x < width; x++)
        cx[c * width + x] = (float) (ax * sin (fx * 6.28 * x / width + px));
      for (int y = 0; y < height; y++)
        cy[c * height + y] = (float) (ay * cos (fy * 6.28 * y / height + py) + 120.0 * y / height);
    }
  int rx0 = g_rand_int_range (rand, 0, width / 2), ry0 = g_rand_int_range (rand, 0, height / 2);
  int rx1 = rx0 + g_rand_int_range (rand, width / 8, width / 2), ry1 = ry0 + g_rand_int_range (rand, height / 8, height / 2);
  float shift[3] = { g_rand_double_range (rand, -90, 90), g_rand_double_range (rand, -90, 90),
                     g_rand_double_range (rand, -90, 90) };
  guint32 state = seed * 2654435761u + 1;
  for (int y = 0; y < height; y++)
    {
      guint8 *row = pixels + (size_t) y * stride;
      gboolean band = y >= ry0 && y < ry1;
      for (int x = 0; x < width; x++)
        {
          state = state * 1664525u + 1013904223u;
          float noise = (float) ((state >> 24) & 15) - 7.5f;
          gboolean inside = band && x >= rx0 && x < rx1;
          for (int c = 0; c < 3; c++)
            {
              float v = 70 + cx[c * width + x] + cy[c * height + y] + noise + (inside ? shift[c] : 0);
              row[3 * x + c] = (guint8) CLAMP (v, 0, 255);
            }
        }
    }
  g_rand_free (rand);
  GError *error = NULL;
  if (!gdk_pixbuf_save (pixbuf, path, "jpeg", &error, "quality", "90", NULL))
    g_error ("%s", error->message);
}

/* CPU seconds this process has used, all threads: on a machine shared with other work, CPU time per
 * photo is the figure that does not depend on the others. */
static double
cpu_s (void)
{
  struct rusage usage;
  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
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

int
main (int argc, char **argv)
{
  int n_photos = 32, width = 4000, height = 3000, decode_threads = 0, batch = 8, threads = 0;
  gboolean exact = FALSE;
  g_autofree char *photo_dir = NULL, *model_path = NULL, *precision_name = NULL;
  const GOptionEntry entries[] = {
    { "photos", 'n', 0, G_OPTION_ARG_INT, &n_photos, "Photos to generate and index (32)", "N" },
    { "width", 0, 0, G_OPTION_ARG_INT, &width, "Photo width (4000)", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &height, "Photo height (3000)", "H" },
    { "decode-threads", 0, 0, G_OPTION_ARG_INT, &decode_threads, "Decoding threads (0 = automatic)", "T" },
    { "batch-size", 'b', 0, G_OPTION_ARG_INT, &batch, "Images encoded together (8)", "B" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "BLAS threads (0 = all cores)", "T" },
    { "exact", 0, 0, G_OPTION_ARG_NONE, &exact, "Time the exact decode path instead of the fast one", NULL },
    { "dir", 0, 0, G_OPTION_ARG_FILENAME, &photo_dir,
      "Keep the photos in DIR, a folder of their own (made there when missing), instead of a temporary "
      "folder", "DIR" },
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "Load this ViT-B/32 model instead of random weights", "FILE" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &precision_name, "Arithmetic of the products with --model (f32)", "P" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("");
  g_option_context_add_main_entries (context, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || n_photos < 2 || width < 1 || height < 1)
    {
      fprintf (stderr, "bench-index-throughput: %s\n", error != NULL ? error->message : "bad sizes");
      return 1;
    }
  clip_set_threads (threads);

  g_autofree char *root = g_dir_make_tmp ("cliplab-bench-XXXXXX", &error);
  g_autofree char *folder = photo_dir != NULL ? g_strdup (photo_dir) : g_build_filename (root, "photos", NULL);
  g_autofree char *cache = g_build_filename (root, "cache", NULL);
  g_mkdir_with_parents (folder, 0755);
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  double t0 = now_s ();
  gint64 bytes = 0;
  for (int i = 0; i < n_photos; i++)
    {
      char *path = g_strdup_printf ("%s/IMG_%04d.jpg", folder, i);
      if (photo_dir == NULL || !g_file_test (path, G_FILE_TEST_EXISTS))
        write_photo (path, width, height, 1000 + i);
      GStatBuf st;
      g_stat (path, &st);
      bytes += st.st_size;
      g_ptr_array_add (paths, path);
    }
  double generate_s = now_s () - t0;

  ClipConfig config;
  clip_config_init_vit_b32 (&config);
  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  ClipLoadOptions load;
  clip_load_options_init (&load);
  if (precision_name != NULL && !clip_precision_from_name (precision_name, &load.precision))
    {
      fprintf (stderr, "bench-index-throughput: no precision %s\n", precision_name);
      return 1;
    }
  g_autoptr (ClipModel) model = model_path != NULL ? clip_model_load (model_path, &load, &error)
                                                   : clip_model_new_random (&config, &pre, NULL, 7, &error);
  if (model == NULL)
    {
      fprintf (stderr, "bench-index-throughput: %s\n", error->message);
      return 1;
    }
  config = *clip_model_get_config (model);
  pre = *clip_model_get_preprocess (model);
  const int dim = config.embed_dim, s = config.image_size;

  ClipIndexOptions options;
  clip_index_options_init (&options);
  options.cache_dir = cache;
  options.exact_decode = exact;
  options.decode_threads = decode_threads;
  options.batch_size = batch;
  t0 = now_s ();
  g_autoptr (ClipIndex) index = clip_index_open (folder, model, &options, &error);
  double open_s = now_s () - t0;  /* mostly hashing the 151 M weights for the model key */
  if (index == NULL)
    {
      fprintf (stderr, "bench-index-throughput: %s\n", error->message);
      return 1;
    }
  ClipIndexStats stats;
  t0 = now_s ();
  double cpu0 = cpu_s ();
  if (!clip_index_update (index, &stats, NULL, &error))
    {
      fprintf (stderr, "bench-index-throughput: %s\n", error->message);
      return 1;
    }
  double update_s = now_s () - t0, update_cpu_s = cpu_s () - cpu0;
  if (stats.added != n_photos)
    {
      fprintf (stderr, "bench-index-throughput: %" G_GINT64_FORMAT " of %d photos indexed\n", stats.added, n_photos);
      return 1;
    }
  clip_index_stats_clear (&stats);

  /* Fast (stored) against exact embeddings, photo by photo, and different photos as the baseline. */
  g_autofree float *stored = g_new (float, (size_t) n_photos * dim);
  g_autofree float *reference = g_new (float, (size_t) n_photos * dim);
  for (int i = 0; i < n_photos; i++)
    {
      ClipQueryTerm term = { .image = g_ptr_array_index (paths, i), .weight = 1 };
      if (!clip_index_embed_query (index, &term, 1, stored + (size_t) i * dim, &error)
          || !clip_model_encode_image_files (model, (const char *const *) &paths->pdata[i], 1, TRUE,
                                             reference + (size_t) i * dim, NULL, &error))
        {
          fprintf (stderr, "bench-index-throughput: %s\n", error->message);
          return 1;
        }
    }
  double cos_sum = 0, cos_min = 1, other_sum = 0;
  for (int i = 0; i < n_photos; i++)
    {
      double c = cosine (stored + (size_t) i * dim, reference + (size_t) i * dim, dim);
      cos_sum += c;
      cos_min = MIN (cos_min, c);
      other_sum += cosine (reference + (size_t) i * dim, reference + (size_t) ((i + 1) % n_photos) * dim, dim);
    }

  /* The crops themselves, model-independent. */
  ClipIndexDecoder decoder = {
    .image_size = s, .preprocess = &pre, .apply_exif_orientation = TRUE,
    .max_pixels = CLIP_MAX_IMAGE_PIXELS, .max_file_bytes = G_MAXINT64,
  };
  g_autofree uint8_t *crop_fast = g_malloc ((size_t) s * s * 3);
  g_autofree uint8_t *crop_exact = g_malloc ((size_t) s * s * 3);
  double abs_sum = 0, sq_sum = 0;
  int fast_width = 0;
  for (int i = 0; i < n_photos; i++)
    {
      g_autofree char *data = NULL;
      gsize len;
      g_file_get_contents (g_ptr_array_index (paths, i), &data, &len, NULL);
      g_autoptr (ClipImage) fast = clip_index_decode_image (&decoder, g_ptr_array_index (paths, i),
                                                            (const uint8_t *) data, len, &error);
      g_autoptr (ClipImage) full = clip_image_load (g_ptr_array_index (paths, i), TRUE, &error);
      if (fast == NULL || full == NULL)
        {
          fprintf (stderr, "bench-index-throughput: %s\n", error->message);
          return 1;
        }
      fast_width = fast->width;
      clip_image_resize_crop (fast, s, crop_fast);
      clip_image_resize_crop (full, s, crop_exact);
      for (int k = 0; k < s * s * 3; k++)
        {
          double d = (double) crop_fast[k] - crop_exact[k];
          abs_sum += fabs (d);
          sq_sum += d * d;
        }
    }
  double mse = sq_sum / ((double) n_photos * s * s * 3);

  printf ("{\"precision\": \"%s\", \"photos\": %d, \"size\": \"%dx%d\", \"mean_jpeg_mb\": %.2f, \"generate_s\": %.1f, "
          "\"decode\": \"%s\", \"fast_decode_width\": %d, \"blas_threads\": %d, \"decode_threads\": %d, "
          "\"batch\": %d, \"open_s\": %.2f, \"update_s\": %.2f, \"photos_per_s\": %.2f, "
          "\"update_cpu_s\": %.2f, \"cpu_ms_per_photo\": %.1f, \"cores\": %d, \"load_average\": %.2f, "
          "\"fast_vs_exact_cosine_mean\": %.6f, \"fast_vs_exact_cosine_min\": %.6f, "
          "\"different_photos_cosine_mean\": %.6f, \"crop_mean_abs_diff\": %.3f, \"crop_psnr_db\": %.2f}\n",
          clip_precision_name (clip_model_get_precision (model)), n_photos, width, height, bytes / 1e6 / n_photos, generate_s, exact ? "exact" : "fast", fast_width,
          clip_get_threads (), decode_threads > 0 ? decode_threads : MAX (1, (int) g_get_num_processors ()),
          batch, open_s, update_s, n_photos / update_s, update_cpu_s, 1000 * update_cpu_s / n_photos,
          (int) g_get_num_processors (), load_average (), cos_sum / n_photos, cos_min, other_sum / n_photos,
          abs_sum / ((double) n_photos * s * s * 3), 10 * log10 (255.0 * 255.0 / fmax (mse, 1e-12)));

  for (guint i = 0; i < paths->len && photo_dir == NULL; i++)
    g_unlink (g_ptr_array_index (paths, i));
  g_autofree char *file = g_strdup (clip_index_get_file (index));
  g_autofree char *lock = g_strconcat (file, ".lock", NULL);
  g_clear_pointer (&index, clip_index_free);
  g_unlink (file);
  g_unlink (lock);
  g_rmdir (cache);
  if (photo_dir == NULL)
    g_rmdir (folder);
  g_rmdir (root);
  return 0;
}
