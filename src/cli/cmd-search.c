/* cmd-search.c — `cliplab-cli search`: rank the images of an indexed folder by similarity to a query
 * of texts and images, added and subtracted (rclip's query algebra). */
#include "cmd-index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEARCH_DEFAULT_TOP 10

typedef struct {
  char *value;              /* the text or the image file */
  gboolean is_image;
  float weight;
} SearchTerm;

static void
search_term_clear (gpointer data)
{
  g_free (((SearchTerm *) data)->value);
}

/* "W:term" gives the term weight W (a decimal number, e.g. "2:beach" or "0.5:photo.jpg"); write
 * "1:10:30" for a term that itself starts with a number and a colon. */
static gboolean
search_add_term (GArray *terms, const char *option, const char *value, gboolean is_image, float sign,
                 GError **error)
{
  float weight = 1;
  const char *colon = strchr (value, ':');
  if (colon != NULL && colon > value)
    {
      g_autofree char *prefix = g_strndup (value, colon - value);
      char *end;
      double w = g_ascii_strtod (prefix, &end);
      if (*end == '\0' && strspn (prefix, "0123456789.+-eE") == strlen (prefix))
        {
          if (!(w > 0) || !isfinite (w))
            {
              g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "%s %s: the weight must be a positive number", option, value);
              return FALSE;
            }
          weight = (float) w;
          value = colon + 1;
        }
    }
  if (*value == '\0')
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s: empty term", option);
      return FALSE;
    }
  SearchTerm term = { g_strdup (value), is_image, sign * weight };
  g_array_append_val (terms, term);
  return TRUE;
}

static gboolean
on_query (const char *option, const char *value, gpointer terms, GError **error)
{
  return search_add_term (terms, option, value, FALSE, 1, error);
}

static gboolean
on_image (const char *option, const char *value, gpointer terms, GError **error)
{
  return search_add_term (terms, option, value, TRUE, 1, error);
}

static gboolean
on_minus (const char *option, const char *value, gpointer terms, GError **error)
{
  return search_add_term (terms, option, value, FALSE, -1, error);
}

static gboolean
on_minus_image (const char *option, const char *value, gpointer terms, GError **error)
{
  return search_add_term (terms, option, value, TRUE, -1, error);
}

typedef struct {
  CliModelOptions model_options;
  CliIndexArgs    args;
  GArray         *terms;     /* SearchTerm */
  gboolean        json, no_index;
  int             top;
  double          margin;    /* NAN: not given */
} SearchCommand;

static void
search_command_clear (SearchCommand *cmd)
{
  cli_model_options_clear (&cmd->model_options);
  cli_index_args_clear (&cmd->args);
  g_clear_pointer (&cmd->terms, g_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SearchCommand, search_command_clear)

/* The options and the folder; FALSE (reported) on a usage error. */
static gboolean
search_parse (SearchCommand *cmd, int *argc, char ***argv, const char **folder)
{
  const GOptionEntry entries[] = {
    { "query", 'q', 0, G_OPTION_ARG_CALLBACK, on_query,
      "Find images like this text; \"W:text\" weighs it W (repeatable)", "TEXT" },
    { "image", 'i', G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, on_image,
      "Find images like this image; alone, \"find similar\" (repeatable, \"W:FILE\" too)", "FILE" },
    { "minus", 0, 0, G_OPTION_ARG_CALLBACK, on_minus,
      "Subtract this text from the query (repeatable)", "TEXT" },
    { "minus-image", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, on_minus_image,
      "Subtract this image from the query (repeatable)", "FILE" },
    { "top", 'k', 0, G_OPTION_ARG_INT, &cmd->top, "Show the K best results (default 10; 0 = all)", "K" },
    { "margin", 0, 0, G_OPTION_ARG_DOUBLE, &cmd->margin,
      "Show only results whose score is within M of the best one", "M" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &cmd->json,
      "Print one JSON object per result, best first: {\"path\", \"score\"} (cosine similarity)", NULL },
    { "no-index", 'n', 0, G_OPTION_ARG_NONE, &cmd->no_index,
      "Search the index as it is, without looking for new or changed files first", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = cli_option_context_new (
    "search", "DIR", "Rank the images under DIR by cosine similarity to the query: the sum of the "
    "normalised embeddings of the --query texts and --image files minus those of the --minus terms.  "
    "DIR is indexed first when it has new or changed files (see 'index').  A term \"W:TERM\" is weighed "
    "W (\"2:beach\"); write \"1:10:30\" for a text that starts with a number and a colon.", entries,
    &cmd->model_options, cmd->terms);
  cli_index_args_add (context, &cmd->args);
  if (!cli_index_parse (context, "search", argc, argv, folder))
    return FALSE;
  if (cmd->terms->len == 0)
    {
      cli_print_error ("search: give a --query TEXT or an --image FILE");
      return FALSE;
    }
  if (!isnan (cmd->margin) && !(cmd->margin >= 0))
    {
      cli_print_error ("search: --margin %g: expected a score difference of 0 or more", cmd->margin);
      return FALSE;
    }
  if (cmd->top < 0)
    {
      cli_print_error ("search: --top %d: expected 0 (all) or a positive count", cmd->top);
      return FALSE;
    }
  return TRUE;
}

/* Indexes new and changed files first, saying what changed. */
static gboolean
search_refresh_index (ClipIndex *index, GError **error)
{
  ClipIndexStats stats;
  if (!cli_index_update (index, &stats, error))
    return FALSE;
  if (stats.added + stats.updated + stats.removed + stats.moved > 0)
    cli_print_error ("indexed: %" G_GINT64_FORMAT " added, %" G_GINT64_FORMAT " updated, %" G_GINT64_FORMAT
                     " removed, %" G_GINT64_FORMAT " moved, %u skipped (see '%s index')", stats.added,
                     stats.updated, stats.removed, stats.moved, stats.skipped->len, CLI_PROGRAM_NAME);
  clip_index_stats_clear (&stats);
  return TRUE;
}

/* QUERY [embed_dim]: the weighed sum of the terms' embeddings. */
static gboolean
search_embed_query (ClipIndex *index, GArray *terms, float *query, GError **error)
{
  g_autofree ClipQueryTerm *query_terms = g_new0 (ClipQueryTerm, terms->len);
  for (guint i = 0; i < terms->len; i++)
    {
      const SearchTerm *t = &g_array_index (terms, SearchTerm, i);
      query_terms[i] = (ClipQueryTerm) {
        .text = t->is_image ? NULL : t->value,
        .image = t->is_image ? t->value : NULL,
        .weight = t->weight,
      };
    }
  return clip_index_embed_query (index, query_terms, (int) terms->len, query, error);
}

static void
search_print_result (const char *folder, const ClipSearchResult *result, gboolean json)
{
  if (!json)
    {
      g_autofree char *display = cli_index_display_path (folder, result->path);
      printf ("%.4f  %s\n", result->score, display);
      return;
    }
  g_autofree char *full_path = g_build_filename (folder, result->path, NULL);
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  cli_json_add_path (builder, "path", full_path);
  cli_json_add_double (builder, "score", result->score);
  json_builder_end_object (builder);
  cli_json_print_line (builder);
}

int
cli_cmd_search (int argc, char **argv)
{
  g_auto (SearchCommand) cmd = { .terms = g_array_new (FALSE, FALSE, sizeof (SearchTerm)),
                                 .top = SEARCH_DEFAULT_TOP, .margin = NAN };
  g_array_set_clear_func (cmd.terms, search_term_clear);
  cli_model_options_init (&cmd.model_options);
  const char *folder;
  if (!search_parse (&cmd, &argc, &argv, &folder))
    return 1;

  GError *error = NULL;
  g_autoptr (ClipModel) model = NULL;
  g_autoptr (ClipIndex) index = cli_index_open (folder, &cmd.model_options, &cmd.args, &model, &error);
  if (index == NULL || (!cmd.no_index && !search_refresh_index (index, &error)))
    return cli_fail (error);
  int64_t n_entries = clip_index_get_n_entries (index);
  if (n_entries == 0)
    {
      g_autofree char *display = g_filename_display_name (folder);
      cli_print_error ("%s: no image is indexed, nothing to rank", display);
      return 0;
    }
  g_autofree float *query = g_new (float, clip_model_get_config (model)->embed_dim);
  if (!search_embed_query (index, cmd.terms, query, &error))
    return cli_fail (error);

  int k = cmd.top > 0 ? (int) MIN (cmd.top, n_entries) : (int) MIN (n_entries, G_MAXINT);
  g_autofree ClipSearchResult *results = g_new (ClipSearchResult, k);
  int n = clip_index_search (index, query, k, isnan (cmd.margin) ? -1.0f : (float) cmd.margin, results);
  for (int i = 0; i < n; i++)
    search_print_result (folder, &results[i], cmd.json);
  return 0;
}
