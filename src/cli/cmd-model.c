/* cmd-model.c — `cliplab-cli model download|list`: pretrained models from the Hugging Face hub, in
 * the cache huggingface_hub shares with Python. */
#include "cli-common.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BAR_WIDTH 24

/* "607.0 MB": decimal units, as the hub shows sizes. */
static char *
format_bytes (int64_t bytes)
{
  if (bytes >= 1000000000)
    return g_strdup_printf ("%.2f GB", (double) bytes / 1e9);
  if (bytes >= 1000000)
    return g_strdup_printf ("%.1f MB", (double) bytes / 1e6);
  if (bytes >= 1000)
    return g_strdup_printf ("%.1f kB", (double) bytes / 1e3);
  return g_strdup_printf ("%" G_GINT64_FORMAT " B", bytes);
}

/* ---------------------------------------------------------------- download */

typedef struct {
  const char    *repo_id;
  ClipHubOptions options;
  gboolean       draw;        /* stderr is a terminal */
  ClipHubResult  result;
  GError        *error;
  gboolean       ok;
  GMainLoop     *loop;
} DownloadJob;

/* [#####.......]  45%  273.4 MB/607.0 MB  12.3 MB/s  0:27 left  model.safetensors (4/4) */
static void
on_download_progress (const char *what, int64_t bytes_done, int64_t bytes_total, gpointer user_data)
{
  DownloadJob *job = user_data;
  const ClipHubProgress *p = clip_hub_get_progress ();
  if (!job->draw || p->total <= 0)
    return;
  int filled = (int) (p->done * BAR_WIDTH / p->total);
  char bar[BAR_WIDTH + 1];
  memset (bar, '#', filled);
  memset (bar + filled, '.', BAR_WIDTH - filled);
  bar[BAR_WIDTH] = '\0';
  g_autofree char *done = format_bytes (p->done), *total = format_bytes (p->total);
  g_autofree char *rate = p->rate > 0 ? format_bytes ((int64_t) p->rate) : g_strdup ("…");
  g_autofree char *eta = p->eta >= 0 ? cli_format_duration (p->eta) : g_strdup ("?");
  g_autofree char *line = g_strdup_printf ("[%s] %3d%%  %s/%s  %s/s  %s left  %s (%d/%d)%s", bar,
                                           (int) (p->done * 100 / p->total), done, total, rate, eta,
                                           p->file, p->file_index + 1, p->n_files,
                                           p->retries > 0 ? "  (connection resumed)" : "");
  cli_status_line (line);
}

static gboolean
quit_loop (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gpointer
download_thread (gpointer data)
{
  DownloadJob *job = data;
  ClipCallbacks callbacks = { on_download_progress, NULL, job };
  job->ok = clip_hub_download (job->repo_id, &job->options, &job->result, &callbacks, &job->error);
  /* Through the main context: a quit before g_main_loop_run starts would be lost. */
  g_idle_add (quit_loop, job->loop);
  return NULL;
}

static gboolean
on_interrupt (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_CONTINUE;
}

static void
print_download (const DownloadJob *job, gboolean json)
{
  const ClipHubResult *r = &job->result;
  if (json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "repo");
      json_builder_add_string_value (b, r->repo_id);
      json_builder_set_member_name (b, "revision");
      json_builder_add_string_value (b, r->revision);
      json_builder_set_member_name (b, "commit");
      json_builder_add_string_value (b, r->commit);
      cli_json_add_path (b, "path", r->snapshot_dir);
      json_builder_set_member_name (b, "files");
      json_builder_add_int_value (b, r->n_files);
      json_builder_set_member_name (b, "downloaded_bytes");
      json_builder_add_int_value (b, r->downloaded_bytes);
      json_builder_set_member_name (b, "cached_bytes");
      json_builder_add_int_value (b, r->cached_bytes);
      json_builder_set_member_name (b, "retries");
      json_builder_add_int_value (b, r->retries);
      json_builder_end_object (b);
      cli_json_print_line (b);
      return;
    }
  g_autofree char *received = format_bytes (r->downloaded_bytes), *cached = format_bytes (r->cached_bytes);
  printf ("%s at %s (commit %.12s): %d files, %s downloaded, %s already in the cache", r->repo_id, r->revision,
          r->commit, r->n_files, received, cached);
  if (r->retries > 0)
    printf (", %d dropped connection%s resumed", r->retries, r->retries > 1 ? "s" : "");
  g_autofree char *path = cli_path_for_text (r->snapshot_dir);
  printf ("\n%s\n", path);
}

static int
model_download (int argc, char **argv)
{
  char *revision = NULL, *cache_dir = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "revision", 0, 0, G_OPTION_ARG_STRING, &revision, "Branch, tag or commit (default: main)", "REV" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the result as one JSON line", NULL },
    { "cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &cache_dir,
      "The Hugging Face cache (default: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = cli_option_context_new (
    "model download", "REPO[@REV]", "Download a CLIP model from the Hugging Face hub into its cache, resuming an "
    "interrupted download; a checkpoint split in shards comes whole.  HF_ENDPOINT, HF_TOKEN (else the token "
    "file $HF_HOME/token) and HF_HUB_OFFLINE are honoured.", entries, NULL, NULL);
  g_autoptr (GError) parse_error = NULL;
  gboolean parsed = g_option_context_parse (context, &argc, &argv, &parse_error);
  g_autofree char *owned_revision = revision, *owned_cache = cache_dir;
  if (!parsed || argc != 2)
    {
      cli_print_error ("model download: %s (see '%s model download --help')",
                       parse_error != NULL ? parse_error->message
                       : argc < 2 ? "a repository id (ORG/NAME) is required" : "only one repository id is taken",
                       CLI_PROGRAM_NAME);
      return 1;
    }

  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  DownloadJob job = { .repo_id = argv[1], .draw = isatty (STDERR_FILENO) };
  clip_hub_options_init (&job.options);
  job.options.revision = revision;
  job.options.cache_dir = cache_dir;
  job.options.cancellable = cancellable;
  job.loop = g_main_loop_new (NULL, FALSE);
  /* The download runs on a worker; Ctrl-C here cancels its socket reads at once. */
  guint sigint = g_unix_signal_add (SIGINT, on_interrupt, cancellable);
  guint sigterm = g_unix_signal_add (SIGTERM, on_interrupt, cancellable);
  GThread *thread = g_thread_new ("download", download_thread, &job);
  g_main_loop_run (job.loop);
  g_thread_join (thread);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_main_loop_unref (job.loop);
  cli_status_line_clear ();

  if (!job.ok)
    return cli_fail (job.error);
  print_download (&job, json);
  clip_hub_result_clear (&job.result);
  return 0;
}

/* ---------------------------------------------------------------- list */

static const char *
layout_short_name (ClipLayout layout)
{
  return layout == CLIP_LAYOUT_OPEN_CLIP_DIR ? "open_clip" : "hf";
}

static void
print_cached_json (const ClipHubCachedModel *m)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "repo");
  json_builder_add_string_value (b, m->repo_id);
  json_builder_set_member_name (b, "refs");
  json_builder_begin_array (b);
  g_auto (GStrv) refs = g_strsplit (m->refs != NULL ? m->refs : "", ",", -1);
  for (char **r = refs; *r != NULL; r++)
    if (**r != '\0')
      json_builder_add_string_value (b, *r);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "commit");
  json_builder_add_string_value (b, m->commit);
  json_builder_set_member_name (b, "size");
  json_builder_add_int_value (b, m->size);
  json_builder_set_member_name (b, "layout");
  json_builder_add_string_value (b, layout_short_name (m->layout));
  cli_json_add_path (b, "path", m->snapshot_dir);
  json_builder_end_object (b);
  cli_json_print_line (b);
}

static gboolean
is_cached (GPtrArray *cached, const char *repo_id)
{
  for (guint i = 0; i < cached->len; i++)
    if (strcmp (((ClipHubCachedModel *) cached->pdata[i])->repo_id, repo_id) == 0)
      return TRUE;
  return FALSE;
}

static void
print_catalog (GPtrArray *cached, gboolean json)
{
  int n;
  const ClipHubCatalogEntry *catalog = clip_hub_catalog (&n);
  if (!json)
    printf ("%-40s %-9s %-10s %-8s\n", "REPOSITORY", "MODEL", "DOWNLOAD", "CACHED");
  for (int i = 0; i < n; i++)
    {
      const ClipHubCatalogEntry *e = &catalog[i];
      gboolean have = is_cached (cached, e->repo_id);
      if (json)
        {
          g_autoptr (JsonBuilder) b = json_builder_new ();
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "repo");
          json_builder_add_string_value (b, e->repo_id);
          json_builder_set_member_name (b, "architecture");
          json_builder_add_string_value (b, e->architecture);
          json_builder_set_member_name (b, "download_bytes");
          json_builder_add_int_value (b, e->download_bytes);
          json_builder_set_member_name (b, "description");
          json_builder_add_string_value (b, e->description);
          json_builder_set_member_name (b, "cached");
          json_builder_add_boolean_value (b, have);
          json_builder_end_object (b);
          cli_json_print_line (b);
          continue;
        }
      g_autofree char *size = format_bytes (e->download_bytes);
      g_autofree char *approx = g_strconcat ("~", size, NULL);
      printf ("%-40s %-9s %-10s %-8s\n    %s\n", e->repo_id, e->architecture, approx, have ? "yes" : "no",
              e->description);
    }
}

static int
model_list (int argc, char **argv)
{
  char *cache_dir = NULL;
  gboolean json = FALSE, available = FALSE;
  const GOptionEntry entries[] = {
    { "available", 0, 0, G_OPTION_ARG_NONE, &available,
      "List the built-in catalogue of CLIP models on the hub instead, with their sizes and uses", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON object per line", NULL },
    { "cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &cache_dir,
      "The Hugging Face cache (default: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = cli_option_context_new (
    "model list", NULL, "The models in the Hugging Face cache that ClipLab loads (downloaded by ClipLab, "
    "transformers or open_clip); any is usable as --model ORG/NAME.", entries, NULL, NULL);
  gboolean parsed = cli_option_context_parse (context, "model list", &argc, &argv);
  g_autofree char *owned_cache = cache_dir;
  if (!parsed)
    return 1;

  GError *error = NULL;
  g_autoptr (GPtrArray) cached = clip_hub_list_cached (cache_dir, &error);
  if (cached == NULL)
    return cli_fail (error);
  if (available)
    {
      print_catalog (cached, json);
      return 0;
    }
  if (!json && cached->len == 0)
    {
      g_autofree char *dir = clip_hub_cache_dir (cache_dir);
      g_autofree char *shown = cli_path_for_text (dir);
      printf ("no model ClipLab loads in %s (see '%s model list --available')\n", shown, CLI_PROGRAM_NAME);
      return 0;
    }
  if (!json)
    printf ("%-40s %-10s %-12s %-10s %-9s\n", "REPOSITORY", "REVISION", "COMMIT", "SIZE", "LAYOUT");
  for (guint i = 0; i < cached->len; i++)
    {
      const ClipHubCachedModel *m = cached->pdata[i];
      if (json)
        {
          print_cached_json (m);
          continue;
        }
      g_autofree char *size = format_bytes (m->size);
      printf ("%-40s %-10s %-12.12s %-10s %-9s\n", m->repo_id, m->refs != NULL ? m->refs : "-", m->commit, size,
              layout_short_name (m->layout));
    }
  return 0;
}

int
cli_cmd_model (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "download") == 0)
    return model_download (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "list") == 0)
    return model_list (argc - 1, argv + 1);
  if (argc >= 2 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0))
    {
      printf ("Usage:\n  %s model download REPO[@REV] [--revision REV] [--json]\n  %s model list [--available] [--json]\n\n"
              "Pretrained CLIP models from the Hugging Face hub, kept in its cache (shared with Python).\n"
              "Run '%s model download --help' or '%s model list --help' for the options.\n",
              CLI_PROGRAM_NAME, CLI_PROGRAM_NAME, CLI_PROGRAM_NAME, CLI_PROGRAM_NAME);
      return 0;
    }
  if (argc < 2)
    cli_print_error ("model: no subcommand given (expected 'download' or 'list'; see '%s model --help')",
                     CLI_PROGRAM_NAME);
  else
    cli_print_error ("model: unknown subcommand '%s' (expected 'download' or 'list'; see '%s model --help')",
                     argv[1], CLI_PROGRAM_NAME);
  return 1;
}
