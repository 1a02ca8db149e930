/* cli-common.c — options, errors, JSON lines and progress shared by the subcommands. */
#include "cli-common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* --threads was not given: the library keeps its default. */
#define CLI_THREADS_UNSET G_MININT

/* A progress line is on stderr and must be erased before anything else is printed there. */
static gboolean progress_line_drawn;

void
cli_print_error (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  fflush (stdout);
  if (progress_line_drawn)
    fputs ("\r\033[K", stderr);
  progress_line_drawn = FALSE;
  fprintf (stderr, "%s: %s\n", CLI_PROGRAM_NAME, message);
}

int
cli_fail (GError *error)
{
  cli_print_error ("%s", error->message);
  g_error_free (error);
  return 1;
}

/* The reason the first write to stdout failed (0: none failed): stdio itself keeps only a flag. */
static int output_errno;

static ssize_t
output_write (void *cookie, const char *data, size_t len)
{
  size_t done = 0;
  while (done < len)
    {
      ssize_t n = write (STDOUT_FILENO, data + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (output_errno == 0)
            output_errno = n < 0 ? errno : ENOSPC;
          return done > 0 ? (ssize_t) done : -1;
        }
      done += (size_t) n;
    }
  return (ssize_t) done;
}

void
cli_output_init (void)
{
  FILE *checked = fopencookie (NULL, "w", (cookie_io_functions_t) { .write = output_write });
  if (checked == NULL)
    return;  /* the plain stdout still has its error flag */
  /* Buffered as stdio buffers stdout: by lines on a terminal, in blocks otherwise. */
  setvbuf (checked, NULL, isatty (STDOUT_FILENO) ? _IOLBF : _IOFBF, BUFSIZ);
  stdout = checked;
}

int
cli_finish_output (int status)
{
  gboolean failed = fflush (stdout) != 0 || ferror (stdout) != 0;
  int saved = output_errno != 0 ? output_errno : errno;
  if (!failed)
    return status;
  if (saved == EPIPE)  /* the reader went away (SIGPIPE ignored): nothing to tell it */
    return 1;
  cli_print_error ("writing the output failed: %s", g_strerror (saved != 0 ? saved : EIO));
  return 1;
}

/* ---------------------------------------------------------------- options */

void
cli_model_options_init (CliModelOptions *options)
{
  memset (options, 0, sizeof *options);
  options->threads = CLI_THREADS_UNSET;
}

void
cli_model_options_clear (CliModelOptions *options)
{
  g_clear_pointer (&options->model_path, g_free);
  g_clear_pointer (&options->tokenizer, g_free);
  g_clear_pointer (&options->config_path, g_free);
  g_clear_pointer (&options->precision, g_free);
}

GOptionContext *
cli_option_context_new (const char *command, const char *parameter_string, const char *summary,
                        const GOptionEntry *entries, CliModelOptions *model_options,
                        gpointer user_data)
{
  /* --help prints "Usage: cliplab-cli COMMAND [OPTION…]". */
  g_autofree char *prgname = g_strdup_printf ("%s %s", CLI_PROGRAM_NAME, command);
  g_set_prgname (prgname);

  GOptionContext *context = g_option_context_new (parameter_string);
  g_option_context_set_summary (context, summary);

  /* A main group of our own, so that callback options receive USER_DATA. */
  GOptionGroup *group = g_option_group_new (NULL, NULL, NULL, user_data, NULL);
  if (entries != NULL)
    g_option_group_add_entries (group, entries);
  if (model_options != NULL)
    {
      const GOptionEntry model_entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_options->model_path,
          "The model: a Hugging Face or open_clip directory, a .safetensors file, a ClipLab "
          "checkpoint, or a Hugging Face model id in the hub cache (ORG/NAME; see 'model list') (required)",
          "PATH" },
        { "tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &model_options->tokenizer,
          "Use this tokenizer instead of the model's: \"bytes\", or a vocab.json, merges.txt, "
          "tokenizer.json, bpe_simple_vocab_16e6.txt.gz or a directory holding them", "bytes|PATH" },
        { "config", 0, 0, G_OPTION_ARG_FILENAME, &model_options->config_path,
          "The JSON config of a bare .safetensors model file", "FILE" },
        { "threads", 0, 0, G_OPTION_ARG_INT, &model_options->threads,
          "Number of compute threads (0 = all cores)", "N" },
        G_OPTION_ENTRY_NULL
      };
      g_option_group_add_entries (group, model_entries);
    }
  g_option_context_set_main_group (context, group);
  return context;
}

void
cli_option_context_add_precision (GOptionContext *context, CliModelOptions *model_options)
{
  const GOptionEntry entries[] = {
    { "precision", 0, 0, G_OPTION_ARG_STRING, &model_options->precision,
      "Arithmetic of the matrix products: f32 (exact, the default), bf16, int8, or auto (the fastest on "
      "this CPU; int8 only for a model it keeps within 0.995 cosine of f32)", "f32|bf16|int8|auto" },
    G_OPTION_ENTRY_NULL
  };
  g_option_group_add_entries (g_option_context_get_main_group (context), entries);
}

gboolean
cli_option_context_parse_arguments (GOptionContext *context, const char *command, int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    {
      cli_print_error ("%s: %s (see '%s %s --help')", command, error->message, CLI_PROGRAM_NAME,
                       command);
      return FALSE;
    }
  /* GLib stops at "--" but leaves it among the arguments (unless it was the last): the first "--"
   * left is that separator, and what follows it are arguments even when they start with '-'. */
  for (int i = 1; i < *argc; i++)
    if (strcmp ((*argv)[i], "--") == 0)
      {
        memmove (*argv + i, *argv + i + 1, sizeof (char *) * (size_t) (*argc - i));
        (*argc)--;
        break;
      }
  return TRUE;
}

gboolean
cli_option_context_parse (GOptionContext *context, const char *command, int *argc, char ***argv)
{
  if (!cli_option_context_parse_arguments (context, command, argc, argv))
    return FALSE;
  if (*argc > 1)
    {
      cli_print_error ("%s: unexpected argument '%s' (see '%s %s --help')", command, (*argv)[1],
                       CLI_PROGRAM_NAME, command);
      return FALSE;
    }
  return TRUE;
}

void
cli_error_name_file (GError **error, const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *display = g_filename_display_name (path);
  g_autofree char *display_base = g_filename_display_name (base);
  if (strstr ((*error)->message, display_base) == NULL)
    g_prefix_error (error, "%s: ", display);
}

ClipModel *
cli_model_load (const CliModelOptions *options, GError **error)
{
  if (options->model_path == NULL)
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_INVALID, "--model PATH is required");
      return NULL;
    }
  if (options->threads != CLI_THREADS_UNSET)
    {
      if (options->threads < 0 || options->threads > CLIP_MAX_THREADS)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                       "--threads %d: expected 0 (all cores) or a positive count of at most %d", options->threads,
                       CLIP_MAX_THREADS);
          return NULL;
        }
      clip_set_threads (options->threads);
    }

  ClipLoadOptions load_options;
  clip_load_options_init (&load_options);
  load_options.config_path = options->config_path;
  load_options.tokenizer_path = options->tokenizer;
  if (options->precision != NULL && !clip_precision_from_name (options->precision, &load_options.precision))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "--precision %s: expected f32, bf16, int8 or auto",
                   options->precision);
      return NULL;
    }

  GError *local_error = NULL;
  ClipModel *model = clip_model_load (options->model_path, &load_options, &local_error);
  if (model == NULL)
    {
      /* The library names the file it failed on, which may be one inside the model directory. */
      cli_error_name_file (&local_error, options->model_path);
      g_propagate_error (error, local_error);
    }
  return model;
}

/* ---------------------------------------------------------------- data sets */

void
cli_dataset_report_issues (const ClipDataset *dataset, guint from)
{
  GPtrArray *issues = clip_dataset_get_issues (dataset);
  for (guint i = from; i < issues->len; i++)
    {
      g_autofree char *text = clip_dataset_issue_describe (g_ptr_array_index (issues, i));
      cli_print_error ("%s", text);
    }
}

ClipDataset *
cli_dataset_open (const char *command, const char *csv_path, const char *dataset_path, const char *split,
                  const char *image_root, GError **error)
{
  if ((csv_path == NULL) == (dataset_path == NULL))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: %s", command,
                   csv_path == NULL ? "--dataset PATH (or --csv FILE) is required"
                                    : "--csv and --dataset both name the data: give one");
      return NULL;
    }
  ClipDatasetOptions options;
  clip_dataset_options_init (&options);
  options.format = csv_path != NULL ? CLIP_DATASET_FORMAT_CSV : CLIP_DATASET_FORMAT_AUTO;
  options.image_root = image_root;
  options.split = split;
  ClipDataset *dataset = clip_dataset_open (csv_path != NULL ? csv_path : dataset_path, &options, NULL, error);
  if (dataset != NULL)
    cli_dataset_report_issues (dataset, 0);
  return dataset;
}

/* ---------------------------------------------------------------- JSON lines */

void
cli_json_add_int (JsonBuilder *builder, const char *name, gint64 value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, value);
}

void
cli_json_add_double (JsonBuilder *builder, const char *name, double value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_double_value (builder, value);
}

void
cli_json_add_path_value (JsonBuilder *builder, const char *path)
{
  if (g_utf8_validate (path, -1, NULL))
    {
      json_builder_add_string_value (builder, path);
      return;
    }
  g_autofree char *encoded = g_base64_encode ((const guchar *) path, strlen (path));
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "bytes");
  json_builder_add_string_value (builder, encoded);
  json_builder_end_object (builder);
}

void
cli_json_add_path (JsonBuilder *builder, const char *name, const char *path)
{
  json_builder_set_member_name (builder, name);
  cli_json_add_path_value (builder, path);
}

char *
cli_path_for_text (const char *path)
{
  size_t len = strlen (path);
  const char *p = path, *end = path + len;
  GString *text = g_string_sized_new (len);
  while (p < end)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_printf (text, "\\x%02x", (guchar) *p++);
          continue;
        }
      const char *next = g_utf8_next_char (p);
      if (c == '\n')
        g_string_append (text, "\\n");
      else if (c == '\t')
        g_string_append (text, "\\t");
      else if (c == '\r')
        g_string_append (text, "\\r");
      else if (g_unichar_iscntrl (c))
        g_string_append_printf (text, "\\u{%04x}", c);
      else
        g_string_append_len (text, p, next - p);
      p = next;
    }
  return g_string_free (text, FALSE);
}

void
cli_json_add_string (JsonBuilder *builder, const char *name, const char *value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

void
cli_json_add_float_array (JsonBuilder *builder, const char *name, const float *values, size_t n)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  for (size_t i = 0; i < n; i++)
    json_builder_add_double_value (builder, values[i]);
  json_builder_end_array (builder);
}

void
cli_json_add_int_array (JsonBuilder *builder, const char *name, const int32_t *values, size_t n)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  for (size_t i = 0; i < n; i++)
    json_builder_add_int_value (builder, values[i]);
  json_builder_end_array (builder);
}

void
cli_json_print_line (JsonBuilder *builder)
{
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  json_generator_set_root (generator, root);
  g_autofree char *line = json_generator_to_data (generator, NULL);
  fputs (line, stdout);
  fputc ('\n', stdout);
}

/* ---------------------------------------------------------------- progress */

#define CLI_PROGRESS_BAR_WIDTH 30

void
cli_progress_init (CliProgress *progress, const char *label, int total)
{
  progress->label = label;
  progress->total = total;
  progress->enabled = total > 1 && isatty (STDERR_FILENO);
  cli_progress_update (progress, 0);
}

void
cli_progress_update (CliProgress *progress, int done)
{
  if (!progress->enabled)
    return;
  int filled = (int) ((int64_t) done * CLI_PROGRESS_BAR_WIDTH / progress->total);
  char bar[CLI_PROGRESS_BAR_WIDTH + 1];
  memset (bar, '#', filled);
  memset (bar + filled, '.', CLI_PROGRESS_BAR_WIDTH - filled);
  bar[CLI_PROGRESS_BAR_WIDTH] = '\0';
  fprintf (stderr, "\r[%s] %d/%d %s", bar, done, progress->total, progress->label);
  fflush (stderr);
  progress_line_drawn = TRUE;
}

void
cli_progress_finish (CliProgress *progress)
{
  if (!progress_line_drawn)
    return;
  /* Return to the start of the line and erase it, so the table starts clean. */
  fputs ("\r\033[K", stderr);
  fflush (stderr);
  progress_line_drawn = FALSE;
}

void
cli_status_line (const char *text)
{
  if (!isatty (STDERR_FILENO))
    return;
  fprintf (stderr, "\r%s\033[K", text);
  fflush (stderr);
  progress_line_drawn = TRUE;
}

void
cli_status_line_clear (void)
{
  cli_progress_finish (NULL);
}

char *
cli_format_duration (double seconds)
{
  int64_t s = (int64_t) (seconds + 0.5);
  if (s >= 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT ":%02d:%02d", s / 3600, (int) (s / 60 % 60), (int) (s % 60));
  return g_strdup_printf ("%d:%02d", (int) (s / 60), (int) (s % 60));
}

void
cli_progress_callback (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  CliProgress *progress = user_data;
  if (progress->total != (int) total)
    cli_progress_init (progress, progress->label, (int) total);
  cli_progress_update (progress, (int) done);
}

/* The --template strings, then the --templates set (a built-in name or a file); "simple" when
 * neither is given. */
GStrv
cli_collect_templates (char **template_args, const char *templates_name, GError **error)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  gboolean any = FALSE;

  for (char **t = template_args; t != NULL && *t != NULL; t++)
    {
      if (!clip_template_is_valid (*t))
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                       "--template \"%s\": a template must contain {} or {c} where the class name goes", *t);
          return NULL;
        }
      g_strv_builder_add (builder, *t);
      any = TRUE;
    }

  const char *set = templates_name;
  if (set == NULL && !any)
    set = "simple";
  if (set != NULL)
    {
      const char *const *builtin = clip_templates_builtin (set, NULL);
      if (builtin != NULL)
        g_strv_builder_addv (builder, (const char **) builtin);
      else
        {
          g_auto (GStrv) loaded = clip_templates_load (set, error);
          if (loaded == NULL)
            {
              cli_error_name_file (error, set);
              return NULL;
            }
          g_strv_builder_addv (builder, (const char **) loaded);
        }
    }
  return g_strv_builder_end (builder);
}
