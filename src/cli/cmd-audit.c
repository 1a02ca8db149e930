/* cmd-audit.c — `cliplab-cli audit`: suspected label errors and outliers of a labelled data set. */
#include "cmd-explore.h"

#include <math.h>
#include <stdio.h>

#define AUDIT_NEIGHBORS 10
#define AUDIT_DEFAULT_OUTLIERS 20

static void
print_issue (const CliExploreData *data, const ClipLabelIssue *issue, gboolean json)
{
  const char *label = data->label_names[issue->label], *suggested = data->label_names[issue->suggested];
  if (!json)
    {
      g_autofree char *display = cli_path_for_text (data->paths[issue->row]);
      printf ("%-20s → %-20s %5.1f %%  %s\n", label, suggested, 100 * issue->confidence, display);
      return;
    }
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  cli_json_add_path (builder, "path", data->paths[issue->row]);
  cli_json_add_string (builder, "label", label);
  cli_json_add_string (builder, "suggested", suggested);
  cli_json_add_double (builder, "confidence", issue->confidence);
  json_builder_end_object (builder);
  cli_json_print_line (builder);
}

static void
print_outlier (const CliExploreData *data, const ClipOutlier *outlier, gboolean json)
{
  if (!json)
    {
      g_autofree char *display = cli_path_for_text (data->paths[outlier->row]);
      printf ("outlier %6.3f  %s\n", outlier->score, display);
      return;
    }
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  cli_json_add_path (builder, "path", data->paths[outlier->row]);
  cli_json_add_double (builder, "outlier_score", outlier->score);
  json_builder_end_object (builder);
  cli_json_print_line (builder);
}

int
cli_cmd_audit (int argc, char **argv)
{
  g_auto (CliModelOptions) model_options;
  g_auto (CliIndexArgs) index_args = { 0 };
  g_auto (CliExploreArgs) args = { 0 };
  g_auto (GStrv) template_args = NULL;
  g_autofree char *templates_name = NULL;
  gboolean json = FALSE;
  int n_outliers = AUDIT_DEFAULT_OUTLIERS;
  gint64 seed = 0;
  cli_model_options_init (&model_options);
  const GOptionEntry entries[] = {
    { "template", 0, 0, G_OPTION_ARG_STRING_ARRAY, &template_args,
      "A prompt with {} where the class name goes (repeatable)", "T" },
    { "templates", 0, 0, G_OPTION_ARG_STRING, &templates_name,
      "A built-in template set (simple, openai7, imagenet80) or a file with one template per line", "SET|FILE" },
    { "outliers", 0, 0, G_OPTION_ARG_INT, &n_outliers, "Show the N strongest outliers (default 20)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of the approximate neighbour search (over 20,000 images)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON line per suspected label error, most confident first: "
      "{\"path\", \"label\", \"suggested\", \"confidence\"}; then one per outlier: {\"path\", \"outlier_score\"}",
      NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = cli_option_context_new (
    "audit", NULL, "Find images whose label the model and their nearest neighbours disagree with "
    "(confident learning), with the label they suggest, and images far from all others.  Labels come "
    "from the CSV's label column, or from one subfolder per class of --image-dir.", entries, &model_options,
    NULL);
  cli_explore_args_add (context, &args);
  cli_index_args_add (context, &index_args);
  if (!cli_option_context_parse (context, "audit", &argc, &argv))
    return 1;
  if (n_outliers < 0)
    {
      cli_print_error ("audit: --outliers %d: expected a count", n_outliers);
      return 1;
    }

  GError *error = NULL;
  g_auto (GStrv) templates = cli_collect_templates (template_args, templates_name, &error);
  if (templates == NULL)
    return cli_fail (error);
  g_auto (CliExploreData) data = { 0 };
  if (!cli_explore_load (&args, &model_options, &index_args, &data, &error))
    return cli_fail (error);
  if (data.labels == NULL || data.n_labels < 2 || data.n <= AUDIT_NEIGHBORS)
    {
      cli_print_error ("audit: needs labels of at least two classes (a CSV label column, or one subfolder per "
                       "class) and more than %d images", AUDIT_NEIGHBORS);
      return 1;
    }
  g_autofree float *weights = g_new (float, (size_t) data.n_labels * data.dim);
  if (!clip_zero_shot_classifier (data.model, (const char *const *) data.label_names, data.n_labels,
                                  (const char *const *) templates, (int) g_strv_length (templates), weights, NULL,
                                  &error))
    return cli_fail (error);
  CliExploreProgress progress;
  cli_explore_progress_begin (&progress);
  g_auto (ClipNeighbors) neighbors = { 0 };
  gboolean ok = clip_knn_compute (data.embeddings, data.n, data.dim, AUDIT_NEIGHBORS, CLIP_KNN_AUTO, (uint64_t) seed,
                                  &progress.callbacks, &neighbors, &error);
  cli_explore_progress_end (&progress);
  if (!ok)
    return cli_fail (error);

  int n_issues;
  g_autofree ClipLabelIssue *issues = clip_audit_labels (data.embeddings, data.n, data.dim, data.labels,
                                                         data.n_labels, weights,
                                                         expf (clip_model_get_logit_scale (data.model)), &neighbors,
                                                         &n_issues);
  for (int i = 0; i < n_issues; i++)
    print_issue (&data, &issues[i], json);
  g_autofree ClipOutlier *outliers = clip_audit_outliers (&neighbors);
  for (int i = 0; i < MIN (n_outliers, data.n); i++)
    print_outlier (&data, &outliers[i], json);
  return 0;
}
