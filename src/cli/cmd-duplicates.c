/* cmd-duplicates.c — `cliplab-cli duplicates`: groups of identical and near-identical images. */
#include "cmd-explore.h"

#include <stdio.h>

static void
print_group (const CliExploreData *data, const int *rows, int n_rows, float max_distance, gboolean exact,
             gboolean json)
{
  if (!json)
    {
      printf ("%d images, largest distance %.4f%s\n", n_rows, max_distance, exact ? ", identical files" : "");
      for (int j = 0; j < n_rows; j++)
        {
          g_autofree char *display = cli_path_for_text (data->paths[rows[j]]);
          printf ("  %s\n", display);
        }
      return;
    }
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "paths");
  json_builder_begin_array (builder);
  for (int j = 0; j < n_rows; j++)
    cli_json_add_path_value (builder, data->paths[rows[j]]);
  json_builder_end_array (builder);
  cli_json_add_double (builder, "max_distance", max_distance);
  json_builder_set_member_name (builder, "exact");
  json_builder_add_boolean_value (builder, exact);
  json_builder_end_object (builder);
  cli_json_print_line (builder);
}

int
cli_cmd_duplicates (int argc, char **argv)
{
  g_auto (CliModelOptions) model_options;
  g_auto (CliIndexArgs) index_args = { 0 };
  g_auto (CliExploreArgs) args = { 0 };
  gboolean json = FALSE, similar = FALSE;
  double threshold = -1;
  gint64 seed = 0;
  int offset = 0, limit = 0;
  cli_model_options_init (&model_options);
  const GOptionEntry entries[] = {
    { "threshold", 't', 0, G_OPTION_ARG_DOUBLE, &threshold, "Largest cosine distance (1 - cosine similarity) "
      "between near-duplicates (default 0.01)", "D" },
    { "similar", 0, 0, G_OPTION_ARG_NONE, &similar, "Group similar images too: --threshold 0.05", NULL },
    { "offset", 0, 0, G_OPTION_ARG_INT, &offset, "Skip the first N groups (paging)", "N" },
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit, "Show at most N groups (default: all)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of the approximate neighbour search (over 20,000 images)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON line per group, largest first: {\"paths\", "
      "\"max_distance\", \"exact\"} (exact: every file has the same bytes)", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = cli_option_context_new (
    "duplicates", NULL, "Find groups of images whose embeddings lie within a cosine distance of each "
    "other (directly or through other members), and files with identical contents.  Embeddings come "
    "from the folder's index, updated first.", entries, &model_options, NULL);
  cli_explore_args_add (context, &args);
  cli_index_args_add (context, &index_args);
  if (!cli_option_context_parse (context, "duplicates", &argc, &argv))
    return 1;
  if (threshold < 0)
    threshold = similar ? CLIP_SIMILAR_DISTANCE : CLIP_DUPLICATE_DISTANCE;
  if (!(threshold >= 0 && threshold <= 2) || offset < 0 || limit < 0)
    {
      cli_print_error ("duplicates: --threshold is a cosine distance in [0, 2]; --offset and --limit are counts");
      return 1;
    }

  GError *error = NULL;
  g_auto (CliExploreData) data = { 0 };
  if (!cli_explore_load (&args, &model_options, &index_args, &data, &error))
    return cli_fail (error);
  CliExploreProgress progress;
  cli_explore_progress_begin (&progress);
  g_autoptr (ClipDuplicates) groups = clip_duplicates_find (data.embeddings, data.n, data.dim, data.hashes,
                                                            (float) threshold, (uint64_t) seed, &progress.callbacks,
                                                            &error);
  cli_explore_progress_end (&progress);
  if (groups == NULL)
    return cli_fail (error);
  int n_groups = clip_duplicates_get_n_groups (groups);
  int end = limit > 0 ? (int) MIN ((gint64) offset + limit, n_groups) : n_groups;
  for (int g = offset; g < end; g++)
    {
      int n_rows;
      float max_distance;
      gboolean exact;
      const int *rows = clip_duplicates_get_group (groups, g, &n_rows, &max_distance, &exact);
      print_group (&data, rows, n_rows, max_distance, exact, json);
    }
  if (!json)
    printf ("%d group%s among %d images\n", n_groups, n_groups == 1 ? "" : "s", data.n);
  return 0;
}
