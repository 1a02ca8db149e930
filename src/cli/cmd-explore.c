/* cmd-explore.c — the data set input and progress that `map`, `duplicates` and `audit` share. */
#include "cmd-explore.h"

#include <signal.h>
#include <string.h>

#define PROGRESS_INTERVAL_US (G_USEC_PER_SEC / 10)
/* WebDataset images: decoded crops kept in memory up to this size (as evaluate does), then in a
 * temporary file; encoded this many at a time unless --batch-size says otherwise. */
#define EXPLORE_MEMORY_LIMIT ((size_t) 2 << 30)
#define EXPLORE_BATCH_SIZE   8

void
cli_explore_args_clear (CliExploreArgs *args)
{
  g_clear_pointer (&args->image_dir, g_free);
  g_clear_pointer (&args->csv, g_free);
  g_clear_pointer (&args->img_root, g_free);
  g_clear_pointer (&args->dataset, g_free);
  g_clear_pointer (&args->split, g_free);
}

void
cli_explore_args_add (GOptionContext *context, CliExploreArgs *args)
{
  const GOptionEntry entries[] = {
    { "image-dir", 0, 0, G_OPTION_ARG_FILENAME, &args->image_dir,
      "The images under DIR (recursively); with one subfolder per class, the subfolders are the labels", "DIR" },
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &args->csv,
      "A CSV data set (image_path,caption[,label]) whose paths are relative to --img-root", "FILE" },
    { "dataset", 0, 0, G_OPTION_ARG_FILENAME, &args->dataset,
      "A data set: a CSV, an image folder (a subfolder per class), WebDataset shards (decoded from the "
      "tars and encoded on each run), a COCO captions or Karpathy split JSON", "PATH" },
    { "split", 0, 0, G_OPTION_ARG_STRING, &args->split,
      "The part of a WebDataset or Karpathy --dataset (default: test)", "NAME" },
    { "img-root", 0, 0, G_OPTION_ARG_FILENAME, &args->img_root,
      "The folder of the --csv images (with --dataset: where its image paths start)", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  g_option_group_add_entries (g_option_context_get_main_group (context), entries);
}

void
cli_explore_data_clear (CliExploreData *data)
{
  g_clear_pointer (&data->model, clip_model_free);
  g_clear_pointer (&data->embeddings, g_free);
  g_clear_pointer (&data->hashes, g_free);
  if (data->paths != NULL)
    for (int i = 0; i < data->n; i++)
      g_free (data->paths[i]);
  g_clear_pointer (&data->paths, g_free);
  g_clear_pointer (&data->labels, g_free);
  g_clear_pointer (&data->label_names, g_strfreev);
  g_clear_pointer (&data->captions, g_strfreev);
  data->n = 0;
}

static void
data_alloc (CliExploreData *data, int n, int dim)
{
  data->n = n;
  data->dim = dim;
  data->embeddings = g_new (float, (size_t) MAX (n, 1) * dim);
  data->hashes = g_new (uint8_t, 16 * (size_t) MAX (n, 1));
  data->paths = g_new0 (char *, MAX (n, 1));
}

static void
data_set_row (CliExploreData *data, int row, const char *folder, const ClipIndexItem *item)
{
  memcpy (data->embeddings + (size_t) row * data->dim, item->embedding, sizeof (float) * data->dim);
  memcpy (data->hashes + 16 * (size_t) row, item->content_hash, 16);
  data->paths[row] = g_build_filename (folder, item->path, NULL);
}

static int
compare_strings (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Labels from the first component of each path, when every image sits in a subfolder. */
static void
folder_labels (ClipIndex *index, const int64_t *order, CliExploreData *data)
{
  if (data->n == 0)
    return;
  g_autoptr (GPtrArray) classes = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char **first = g_new0 (char *, MAX (data->n, 1));
  for (int i = 0; i < data->n; i++)
    {
      ClipIndexItem item;
      clip_index_get_item (index, order[i], &item);
      const char *slash = strchr (item.path, '/');
      if (slash == NULL)
        {
          for (int j = 0; j < i; j++)
            g_free (first[j]);
          return;
        }
      first[i] = g_strndup (item.path, slash - item.path);
      if (g_hash_table_add (seen, first[i]))
        g_ptr_array_add (classes, g_strdup (first[i]));
    }
  qsort (classes->pdata, classes->len, sizeof (char *), compare_strings);
  g_autoptr (GHashTable) id = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint c = 0; c < classes->len; c++)
    g_hash_table_insert (id, g_ptr_array_index (classes, c), GINT_TO_POINTER (c));
  data->labels = g_new (int, MAX (data->n, 1));
  for (int i = 0; i < data->n; i++)
    {
      data->labels[i] = GPOINTER_TO_INT (g_hash_table_lookup (id, first[i]));
      g_free (first[i]);
    }
  data->n_labels = (int) classes->len;
  g_ptr_array_add (classes, NULL);
  data->label_names = (char **) g_ptr_array_steal (classes, NULL);
}

static void
load_folder (ClipIndex *index, const char *folder, CliExploreData *data)
{
  int64_t n = clip_index_get_n_entries (index);
  g_autofree int64_t *order = g_new (int64_t, MAX (n, 1));
  g_autofree const char **paths = g_new (const char *, MAX (n, 1));
  for (int64_t i = 0; i < n; i++)
    {
      ClipIndexItem item;
      clip_index_get_item (index, i, &item);
      paths[i] = item.path;
    }
  /* path order: sort the paths' addresses, then find each one's entry through a table */
  g_autoptr (GHashTable) entry_of = g_hash_table_new (g_direct_hash, g_direct_equal);
  for (int64_t i = 0; i < n; i++)
    g_hash_table_insert (entry_of, (gpointer) paths[i], GINT_TO_POINTER ((int) i));
  qsort (paths, n, sizeof *paths, compare_strings);
  for (int64_t i = 0; i < n; i++)
    order[i] = GPOINTER_TO_INT (g_hash_table_lookup (entry_of, paths[i]));
  data_alloc (data, (int) n, data->dim);
  for (int i = 0; i < data->n; i++)
    {
      ClipIndexItem item;
      clip_index_get_item (index, order[i], &item);
      data_set_row (data, i, folder, &item);
    }
  folder_labels (index, order, data);
}

/* The data set's label names, when it has labels. */
static void
dataset_labels (const ClipDataset *dataset, CliExploreData *data)
{
  data->n_labels = clip_dataset_get_n_labels (dataset);
  data->label_names = g_new0 (char *, data->n_labels + 1);
  for (int c = 0; c < data->n_labels; c++)
    data->label_names[c] = g_strdup (clip_dataset_get_label_name (dataset, c));
}

/* A CSV's rows in order; for the other formats each image once (a COCO image has several
 * captions: its first one is kept). */
static void
load_dataset (ClipIndex *index, const ClipDataset *dataset, const char *folder, CliExploreData *data)
{
  int size = clip_dataset_get_size (dataset);
  gboolean per_row = g_str_equal (clip_dataset_get_format_name (dataset), "csv");
  g_autofree gboolean *taken = g_new0 (gboolean, MAX (clip_dataset_get_n_images (dataset), 1));
  data_alloc (data, size, data->dim);
  gboolean labelled = clip_dataset_get_n_labels (dataset) > 0;
  if (labelled)
    data->labels = g_new (int, MAX (size, 1));
  data->captions = g_new0 (char *, size + 1);
  int m = 0;
  for (int i = 0; i < size; i++)
    {
      int image = clip_dataset_get_row_image (dataset, i);
      if (!per_row && taken[image])
        continue;
      taken[image] = TRUE;
      ClipIndexItem item;
      if (!clip_index_find_file (index, clip_dataset_get_image_path (dataset, i), &item))
        {
          g_autofree char *place = clip_dataset_get_line (dataset, i) > 0
                                     ? g_strdup_printf ("%s:%d", clip_dataset_get_path (dataset),
                                                        clip_dataset_get_line (dataset, i))
                                     : g_strdup_printf ("%s: %s", clip_dataset_get_path (dataset),
                                                        clip_dataset_get_image_entry (dataset, image));
          cli_print_error ("%s: skipped: the image is not indexed (see '%s index')", place, CLI_PROGRAM_NAME);
          continue;
        }
      data_set_row (data, m, folder, &item);
      data->captions[m] = g_strdup (clip_dataset_get_caption (dataset, i));
      if (labelled)
        data->labels[m] = clip_dataset_get_label (dataset, i);
      m++;
    }
  data->n = m;
  if (labelled)
    dataset_labels (dataset, data);
}

/* Each image of WebDataset shards once, decoded from the tar stream and encoded here (the shards
 * have no files for a folder index to hold), named SHARD/MEMBER. */
static gboolean
encode_dataset_images (ClipDataset *dataset, const CliIndexArgs *index_args, CliExploreData *data,
                       CliExploreProgress *progress, GError **error)
{
  const ClipPreprocess *pre = clip_model_get_preprocess (data->model);
  if (!clip_dataset_prepare_images (dataset, pre->image_size, !index_args->no_exif, EXPLORE_MEMORY_LIMIT, NULL,
                                    &progress->callbacks, error))
    return FALSE;
  cli_dataset_report_issues (dataset, 0);
  const int n = clip_dataset_get_n_images (dataset);
  const int batch = index_args->batch_size > 0 ? index_args->batch_size : EXPLORE_BATCH_SIZE;
  const size_t image_floats = (size_t) 3 * pre->image_size * pre->image_size;
  g_autofree float *pixels = g_new (float, image_floats * MIN (batch, MAX (n, 1)));
  data_alloc (data, n, data->dim);
  for (int start = 0; start < n; start += batch)
    {
      int count = MIN (batch, n - start);
      for (int i = 0; i < count; i++)
        clip_image_normalize (clip_dataset_get_image_crop (dataset, start + i), pre, pixels + image_floats * i);
      if (!clip_model_encode_images (data->model, pixels, count, data->embeddings + (size_t) start * data->dim,
                                     &progress->callbacks, error))
        return FALSE;
      progress->callbacks.progress ("Encoding images", start + count, n, progress);
    }
  for (int i = 0; i < n; i++)
    {
      const uint8_t *hash = clip_dataset_get_image_content_hash (dataset, i);
      memcpy (data->hashes + 16 * (size_t) i, hash, 16);
      data->paths[i] = g_build_filename (clip_dataset_get_image_shard (dataset, i),
                                         clip_dataset_get_image_entry (dataset, i), NULL);
    }
  return TRUE;
}

/* A WebDataset's images with their labels (class index) or first caption. */
static gboolean
load_webdataset (ClipDataset *dataset, CliModelOptions *model_options, const CliIndexArgs *index_args,
                 CliExploreData *data, GError **error)
{
  if (index_args->batch_size < 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "--batch-size %d: expected a positive number",
                   index_args->batch_size);
      return FALSE;
    }
  data->model = cli_index_load_model (model_options, error);
  if (data->model == NULL)
    return FALSE;
  data->dim = clip_model_get_config (data->model)->embed_dim;
  CliExploreProgress progress;
  cli_explore_progress_begin (&progress);
  gboolean ok = encode_dataset_images (dataset, index_args, data, &progress, error);
  cli_explore_progress_end (&progress);
  if (!ok)
    return FALSE;
  if (clip_dataset_get_n_labels (dataset) > 0)
    {
      data->labels = g_new (int, MAX (data->n, 1));
      for (int i = 0; i < data->n; i++)
        data->labels[i] = clip_dataset_get_image_label (dataset, i);
      dataset_labels (dataset, data);
    }
  /* each image's first caption */
  data->captions = g_new0 (char *, data->n + 1);
  for (int row = clip_dataset_get_size (dataset) - 1; row >= 0; row--)
    {
      int image = clip_dataset_get_row_image (dataset, row);
      g_free (data->captions[image]);
      data->captions[image] = g_strdup (clip_dataset_get_caption (dataset, row));
    }
  return TRUE;
}

static gboolean
explore_args_valid (const CliExploreArgs *args, GError **error)
{
  int sources = (args->image_dir != NULL) + (args->csv != NULL) + (args->dataset != NULL);
  if (sources != 1 || (args->csv != NULL && args->img_root == NULL)
      || (args->image_dir != NULL && args->img_root != NULL) || (args->split != NULL && args->dataset == NULL))
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "give --image-dir DIR, or --csv FILE with --img-root DIR, or --dataset PATH "
                           "[--split NAME] [--img-root DIR]");
      return FALSE;
    }
  return TRUE;
}

gboolean
cli_explore_load (const CliExploreArgs *args, CliModelOptions *model_options, const CliIndexArgs *index_args,
                  CliExploreData *data, GError **error)
{
  if (!explore_args_valid (args, error))
    return FALSE;
  g_autoptr (ClipDataset) dataset = NULL;
  if (args->image_dir == NULL
      && (dataset = cli_dataset_open ("dataset", args->csv, args->dataset, args->split, args->img_root, error)) == NULL)
    return FALSE;
  if (dataset != NULL && clip_dataset_get_image_root (dataset) == NULL)
    return load_webdataset (dataset, model_options, index_args, data, error);
  /* the CSV's paths print under --img-root as given; the other formats' under their image root */
  const char *folder = args->image_dir != NULL ? args->image_dir
                       : args->csv != NULL     ? args->img_root
                                               : clip_dataset_get_image_root (dataset);
  g_autoptr (ClipIndex) index = cli_index_open (folder, model_options, index_args, &data->model, error);
  ClipIndexStats stats;
  if (index == NULL || !cli_index_update (index, &stats, error))
    return FALSE;
  for (guint i = 0; i < stats.skipped->len && args->image_dir != NULL; i++)
    {
      const ClipIndexSkip *skip = g_ptr_array_index (stats.skipped, i);
      g_autofree char *display = cli_index_display_path (folder, skip->path);
      cli_print_error ("skipped %s: %s", display, skip->reason);
    }
  clip_index_stats_clear (&stats);
  data->dim = clip_model_get_config (data->model)->embed_dim;
  if (args->image_dir != NULL)
    load_folder (index, folder, data);
  else
    load_dataset (index, dataset, folder, data);
  return TRUE;
}

/* ---------------------------------------------------------------- progress and Ctrl-C */

static volatile sig_atomic_t interrupted;
static struct sigaction previous_action;

static void
on_interrupt (int signal_number)
{
  interrupted = 1;
}

static gboolean
on_abort (gpointer user_data)
{
  return interrupted != 0;
}

static void
on_progress (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  CliExploreProgress *p = user_data;
  if (p->what == NULL || strcmp (p->what, what) != 0)
    {
      if (p->what != NULL)
        cli_progress_finish (&p->bar);
      p->what = what;
      cli_progress_init (&p->bar, what, (int) MIN (total, G_MAXINT));
      p->last_draw = 0;
    }
  gint64 now = g_get_monotonic_time ();
  if (now - p->last_draw < PROGRESS_INTERVAL_US && done < total)
    return;
  p->last_draw = now;
  cli_progress_update (&p->bar, (int) MIN (done, G_MAXINT));
}

void
cli_explore_progress_begin (CliExploreProgress *progress)
{
  *progress = (CliExploreProgress) { { on_progress, on_abort, progress } };
  struct sigaction action = { 0 };
  action.sa_handler = on_interrupt;
  sigemptyset (&action.sa_mask);
  sigaction (SIGINT, &action, &previous_action);
}

void
cli_explore_progress_end (CliExploreProgress *progress)
{
  sigaction (SIGINT, &previous_action, NULL);
  if (progress->what != NULL)
    cli_progress_finish (&progress->bar);
}
