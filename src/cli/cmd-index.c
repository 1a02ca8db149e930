/* cmd-index.c — `cliplab-cli index`: bring a folder's index up to date and say what changed. */
#include "cmd-index.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The progress bar is redrawn at most this often. */
#define PROGRESS_INTERVAL_US (G_USEC_PER_SEC / 10)

void
cli_index_args_clear (CliIndexArgs *args)
{
  g_clear_pointer (&args->exclude, g_strfreev);
}

void
cli_index_args_add (GOptionContext *context, CliIndexArgs *args)
{
  const GOptionEntry entries[] = {
    { "exclude", 'x', 0, G_OPTION_ARG_STRING_ARRAY, &args->exclude,
      "Ignore files and folders whose path (relative to DIR) or name matches this glob, e.g. '*.png' or "
      "'raw' (repeatable)", "GLOB" },
    { "follow-symlinks", 0, 0, G_OPTION_ARG_NONE, &args->follow_symlinks,
      "Follow symbolic links (loops are detected); by default they are skipped", NULL },
    { "hidden", 0, 0, G_OPTION_ARG_NONE, &args->hidden,
      "Also index files and folders whose name starts with '.'", NULL },
    { "no-exif", 0, 0, G_OPTION_ARG_NONE, &args->no_exif,
      "Do not turn photos upright by their EXIF orientation (as the reference pipelines do)", NULL },
    { "exact-decode", 0, 0, G_OPTION_ARG_NONE, &args->exact_decode,
      "Decode large JPEGs at full size instead of at a reduced size (slower, the reference pipeline)", NULL },
    { "max-megapixels", 0, 0, G_OPTION_ARG_DOUBLE, &args->max_megapixels,
      "Skip images larger than this, before decoding them (default 100)", "N" },
    { "flush-every", 0, 0, G_OPTION_ARG_INT, &args->flush_every,
      "Write new embeddings to disk at least every N images (default 200)", "N" },
    { "batch-size", 'b', 0, G_OPTION_ARG_INT, &args->batch_size,
      "Images encoded together (default 8)", "N" },
    { "decode-threads", 0, 0, G_OPTION_ARG_INT, &args->decode_threads,
      "Threads decoding images while the model encodes (default: cores - 1)", "N" },
    G_OPTION_ENTRY_NULL
  };
  g_option_group_add_entries (g_option_context_get_main_group (context), entries);
}

gboolean
cli_index_parse (GOptionContext *context, const char *command, int *argc, char ***argv, const char **folder)
{
  if (!cli_option_context_parse_arguments (context, command, argc, argv))
    return FALSE;
  if (*argc != 2)
    {
      cli_print_error ("%s: %s (see '%s %s --help')", command,
                       *argc < 2 ? "give the folder DIR" : "give only one folder", CLI_PROGRAM_NAME, command);
      return FALSE;
    }
  *folder = (*argv)[1];
  return TRUE;
}

static gboolean
index_args_apply (const CliIndexArgs *args, ClipIndexOptions *options, GError **error)
{
  clip_index_options_init (options);
  options->exclude = (const char *const *) args->exclude;
  options->follow_symlinks = args->follow_symlinks;
  options->include_hidden = args->hidden;
  options->apply_exif_orientation = !args->no_exif;
  options->exact_decode = args->exact_decode;
  const struct { const char *name; double value; double min; } checks[] = {
    { "--max-megapixels", args->max_megapixels, 1e-6 },
    { "--flush-every", args->flush_every, 1 },
    { "--batch-size", args->batch_size, 1 },
    { "--decode-threads", args->decode_threads, 1 },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (checks); i++)
    if (checks[i].value != 0 && !(checks[i].value >= checks[i].min))
      {
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s %g: expected a positive number",
                     checks[i].name, checks[i].value);
        return FALSE;
      }
  if (args->decode_threads > CLIP_MAX_THREADS)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "--decode-threads %d: at most %d", args->decode_threads,
                   CLIP_MAX_THREADS);
      return FALSE;
    }
  if (args->max_megapixels > 0)
    options->max_pixels = (int64_t) MAX (1.0, MIN (args->max_megapixels * 1e6, 1e15));
  if (args->flush_every > 0)
    options->flush_interval = args->flush_every;
  if (args->batch_size > 0)
    options->batch_size = args->batch_size;
  options->decode_threads = args->decode_threads;
  return TRUE;
}

ClipModel *
cli_index_load_model (CliModelOptions *model_options, GError **error)
{
  if (model_options->model_path == NULL && g_getenv ("CLIPLAB_MODEL") != NULL)
    model_options->model_path = g_strdup (g_getenv ("CLIPLAB_MODEL"));
  return cli_model_load (model_options, error);
}

ClipIndex *
cli_index_open (const char *folder, CliModelOptions *model_options, const CliIndexArgs *args, ClipModel **model,
                GError **error)
{
  ClipIndexOptions options;
  if (!index_args_apply (args, &options, error))
    return NULL;
  g_autoptr (ClipModel) loaded = cli_index_load_model (model_options, error);
  if (loaded == NULL)
    return NULL;
  ClipIndex *index = clip_index_open (folder, loaded, &options, error);
  if (index == NULL)
    return NULL;
  for (const char *const *w = clip_index_get_warnings (index); *w != NULL; w++)
    cli_print_error ("warning: %s", *w);
  *model = g_steal_pointer (&loaded);
  return index;
}

char *
cli_index_display_path (const char *folder, const char *path)
{
  g_autofree char *joined = g_build_filename (folder, path, NULL);
  return cli_path_for_text (joined);
}

/* ---------------------------------------------------------------- progress and Ctrl-C */

static volatile sig_atomic_t interrupted;

static void
on_interrupt (int signal_number)
{
  interrupted = 1;
}

typedef struct {
  ClipIndex  *index;
  CliProgress bar;
  gboolean    started;
  gint64      last_draw;
  char        label[96];
} IndexProgress;

static void
on_index_progress (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  IndexProgress *p = user_data;
  const ClipIndexProgress *progress = clip_index_get_progress (p->index);
  if (progress->phase != CLIP_INDEX_PHASE_EMBED || progress->total <= 0)
    return;
  if (!p->started)
    {
      cli_progress_init (&p->bar, "images", (int) MIN (progress->total, G_MAXINT));
      p->started = TRUE;
    }
  gint64 now = g_get_monotonic_time ();
  if (now - p->last_draw < PROGRESS_INTERVAL_US && progress->done < progress->total)
    return;
  p->last_draw = now;
  g_autofree char *eta = progress->eta >= 0 ? cli_format_duration (progress->eta) : g_strdup ("?");
  g_snprintf (p->label, sizeof p->label, "images  %.1f/s  ETA %s", progress->rate, eta);
  p->bar.label = p->label;
  cli_progress_update (&p->bar, (int) MIN (progress->done, G_MAXINT));
}

static gboolean
on_index_abort (gpointer user_data)
{
  return interrupted != 0;
}

gboolean
cli_index_update (ClipIndex *index, ClipIndexStats *stats, GError **error)
{
  IndexProgress progress = { .index = index };
  const ClipCallbacks callbacks = { on_index_progress, on_index_abort, &progress };
  /* SIGTERM (a logout, `kill`, a service stopping) is a request to stop too: the embeddings since
   * the last flush are written before the process ends. */
  struct sigaction action = { 0 }, previous_int, previous_term;
  action.sa_handler = on_interrupt;
  sigemptyset (&action.sa_mask);
  sigaction (SIGINT, &action, &previous_int);
  sigaction (SIGTERM, &action, &previous_term);

  gboolean ok = clip_index_update (index, stats, &callbacks, error);

  sigaction (SIGINT, &previous_int, NULL);
  sigaction (SIGTERM, &previous_term, NULL);
  if (progress.started)
    cli_progress_finish (&progress.bar);
  if (!ok && interrupted && g_error_matches (*error, CLIP_ERROR, CLIP_ERROR_ABORTED))
    {
      g_clear_error (error);
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_ABORTED,
                           "interrupted; the images embedded so far are kept: run the command again to resume");
    }
  return ok;
}

/* ---------------------------------------------------------------- the command */

static void
print_stats_json (const char *folder, const ClipIndexStats *stats)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  const struct { const char *name; int64_t value; } counts[] = {
    { "added", stats->added }, { "updated", stats->updated }, { "removed", stats->removed },
    { "moved", stats->moved },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (counts); i++)
    {
      cli_json_add_int (builder, counts[i].name, counts[i].value);
    }
  json_builder_set_member_name (builder, "skipped");
  json_builder_begin_array (builder);
  for (guint i = 0; i < stats->skipped->len; i++)
    {
      const ClipIndexSkip *skip = g_ptr_array_index (stats->skipped, i);
      g_autofree char *full_path = g_build_filename (folder, skip->path, NULL);
      json_builder_begin_object (builder);
      cli_json_add_path (builder, "path", full_path);
      cli_json_add_string (builder, "reason", skip->reason);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  cli_json_add_int (builder, "total", stats->total);
  json_builder_end_object (builder);
  cli_json_print_line (builder);
}

static void
print_stats_text (const char *folder, const ClipIndexStats *stats)
{
  for (guint i = 0; i < stats->skipped->len; i++)
    {
      const ClipIndexSkip *skip = g_ptr_array_index (stats->skipped, i);
      g_autofree char *display = cli_index_display_path (folder, skip->path);
      printf ("skipped  %s: %s\n", display, skip->reason);
    }
  printf ("%" G_GINT64_FORMAT " added, %" G_GINT64_FORMAT " updated, %" G_GINT64_FORMAT " removed, %"
          G_GINT64_FORMAT " moved, %u skipped; %" G_GINT64_FORMAT " image%s in the index\n",
          stats->added, stats->updated, stats->removed, stats->moved, stats->skipped->len, stats->total,
          stats->total == 1 ? "" : "s");
}

int
cli_cmd_index (int argc, char **argv)
{
  g_auto (CliModelOptions) model_options;
  g_auto (CliIndexArgs) args = { 0 };
  gboolean json = FALSE;
  cli_model_options_init (&model_options);

  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      "Print one JSON object: {\"added\", \"updated\", \"removed\", \"moved\", \"skipped\": [{\"path\", "
      "\"reason\"}], \"total\"}", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = cli_option_context_new (
    "index", "DIR", "Embed every image under DIR (recursively) into its index for the model, so that "
    "'search' can rank them.  A second run embeds only new and changed files, drops deleted ones and "
    "recognises moved ones by their content.  The index lives in $XDG_CACHE_HOME/cliplab/index/; the "
    "model is --model, or $CLIPLAB_MODEL when that is not given.",
    entries, &model_options, NULL);
  cli_index_args_add (context, &args);
  const char *folder;
  cli_option_context_add_precision (context, &model_options);
  if (!cli_index_parse (context, "index", &argc, &argv, &folder))
    return 1;

  GError *error = NULL;
  g_autoptr (ClipModel) model = NULL;
  g_autoptr (ClipIndex) index = cli_index_open (folder, &model_options, &args, &model, &error);
  if (index == NULL)
    return cli_fail (error);
  ClipIndexStats stats;
  if (!cli_index_update (index, &stats, &error))
    return cli_fail (error);
  if (json)
    print_stats_json (folder, &stats);
  else
    print_stats_text (folder, &stats);
  clip_index_stats_clear (&stats);
  return 0;
}
