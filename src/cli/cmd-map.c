/* cmd-map.c — `cliplab-cli map`: 2-D coordinates of a data set's images, density clusters on the
 * map and names for them chosen by the model's text tower. */
#include "cmd-explore.h"

#include <stdio.h>

#define CAPTION_WORDS 200   /* the naming vocabulary of a CSV without labels */

/* The data set's label names, else its most frequent caption words, else the built-in nouns: label
 * names are the words its makers chose, while captions also bring their templates' filler words. */
static GStrv
map_vocabulary (const CliExploreData *data)
{
  if (data->label_names != NULL)
    return g_strdupv (data->label_names);
  if (data->captions != NULL)
    {
      GStrv words = clip_vocabulary_from_texts ((const char *const *) data->captions, data->n, CAPTION_WORDS);
      if (words[0] != NULL)
        return words;
      g_strfreev (words);
    }
  return g_strdupv ((char **) clip_vocabulary_builtin ());
}

static void
print_point (const CliExploreData *data, int i, const float *xy, const int *cluster, gboolean json)
{
  if (!json)
    {
      g_autofree char *display = cli_path_for_text (data->paths[i]);
      printf ("%10.4f %10.4f %4d  %s\n", xy[2 * i], xy[2 * i + 1], cluster[i], display);
      return;
    }
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  cli_json_add_path (builder, "path", data->paths[i]);
  cli_json_add_double (builder, "x", xy[2 * i]);
  cli_json_add_double (builder, "y", xy[2 * i + 1]);
  cli_json_add_int (builder, "cluster", cluster[i]);
  if (data->labels != NULL)
    cli_json_add_string (builder, "label", data->label_names[data->labels[i]]);
  json_builder_end_object (builder);
  cli_json_print_line (builder);
}

static void
print_clusters (char **names, const int *size, int n_clusters, gboolean json)
{
  if (!json)
    {
      for (int c = 0; c < n_clusters; c++)
        printf ("cluster %d: %s (%d images)\n", c, names[c], size[c]);
      return;
    }
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "clusters");
  json_builder_begin_array (builder);
  for (int c = 0; c < n_clusters; c++)
    {
      json_builder_begin_object (builder);
      cli_json_add_int (builder, "id", c);
      cli_json_add_string (builder, "name", names[c]);
      cli_json_add_int (builder, "size", size[c]);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  cli_json_print_line (builder);
}

int
cli_cmd_map (int argc, char **argv)
{
  g_auto (CliModelOptions) model_options;
  g_auto (CliIndexArgs) index_args = { 0 };
  g_auto (CliExploreArgs) args = { 0 };
  gboolean json = FALSE;
  ClipMapOptions options;
  clip_map_options_init (&options);
  gint64 seed = 0;
  double min_dist = options.min_dist;
  cli_model_options_init (&model_options);
  const GOptionEntry entries[] = {
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of the layout (default 0): the same seed and --threads give "
      "the same map", "N" },
    { "neighbors", 0, 0, G_OPTION_ARG_INT, &options.n_neighbors, "Neighbourhood size (default 15): larger keeps "
      "more of the global structure", "K" },
    { "min-dist", 0, 0, G_OPTION_ARG_DOUBLE, &min_dist, "How tightly points pack on the map (default 0.1)", "D" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON line per image {\"path\", \"x\", \"y\", \"cluster\" (-1: "
      "none), \"label\" (when known)}, then {\"clusters\": [{\"id\", \"name\", \"size\"}]}", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = cli_option_context_new (
    "map", NULL, "Lay the images out on a 2-D map (PCA, neighbour graph, UMAP-style layout), find the "
    "dense clusters on it and name them with the model's text tower (after the data set's labels, else "
    "a CSV's caption words, else common nouns).  Embeddings come from the folder's index, updated first.",
    entries, &model_options, NULL);
  cli_explore_args_add (context, &args);
  cli_index_args_add (context, &index_args);
  if (!cli_option_context_parse (context, "map", &argc, &argv))
    return 1;
  options.seed = (uint64_t) seed;
  options.min_dist = (float) min_dist;

  GError *error = NULL;
  g_auto (CliExploreData) data = { 0 };
  if (!cli_explore_load (&args, &model_options, &index_args, &data, &error))
    return cli_fail (error);
  if (data.n < 3)
    {
      cli_print_error ("map: %d image%s, a map needs at least 3", data.n, data.n == 1 ? "" : "s");
      return 1;
    }
  g_autofree float *xy = g_new (float, 2 * (size_t) data.n);
  CliExploreProgress progress;
  cli_explore_progress_begin (&progress);
  gboolean ok = clip_map_compute (data.embeddings, data.n, data.dim, &options, &progress.callbacks, xy, &error);
  cli_explore_progress_end (&progress);
  if (!ok)
    return cli_fail (error);

  g_autofree int *cluster = g_new (int, data.n);
  int n_clusters = clip_map_cluster (xy, data.n, NULL, cluster);
  g_auto (GStrv) vocabulary = map_vocabulary (&data);
  g_auto (GStrv) names = n_clusters > 0 ? clip_cluster_names (data.model, data.embeddings, data.n, cluster, n_clusters,
                                                              (const char *const *) vocabulary, -1, &error)
                                        : g_new0 (char *, 1);
  if (names == NULL)
    return cli_fail (error);
  g_autofree int *size = g_new0 (int, MAX (n_clusters, 1));
  for (int i = 0; i < data.n; i++)
    {
      if (cluster[i] >= 0)
        size[cluster[i]]++;
      print_point (&data, i, xy, cluster, json);
    }
  print_clusters (names, size, n_clusters, json);
  return 0;
}
