/* cmd-evaluate.c — `cliplab-cli evaluate`: retrieval Recall@1/5/10 both ways on a captioned CSV and,
 * when it has a label column, zero-shot accuracy over its labels (clip_evaluate_dataset). */
#include "cli-common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EVALUATE_DEFAULT_BATCH_SIZE   32
#define EVALUATE_MAX_BATCH_SIZE       1024
/* Decoded crops beyond this go to a cache file (--cache-dir). */
#define EVALUATE_MEMORY_LIMIT         ((size_t) 2 << 30)

typedef struct {
  char     *csv_path;
  char     *image_root;
  char    **template_args;
  char     *templates_name;
  char     *cache_dir;
  int       batch_size;
  gboolean  json;
  gboolean  exif;
} EvaluateOptions;

static void
evaluate_options_clear (EvaluateOptions *options)
{
  g_free (options->csv_path);
  g_free (options->image_root);
  g_strfreev (options->template_args);
  g_free (options->templates_name);
  g_free (options->cache_dir);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EvaluateOptions, evaluate_options_clear)

static void
evaluate_progress (int64_t done, int64_t total, gpointer user_data)
{
  CliProgress *progress = user_data;
  if (progress->total != (int) total)
    cli_progress_init (progress, progress->label, (int) total);
  cli_progress_update (progress, (int) done);
}

static void
evaluate_report_issues (const ClipDataset *dataset, guint from, const char *csv_path)
{
  GPtrArray *issues = clip_dataset_get_issues (dataset);
  g_autofree char *csv = g_filename_display_name (csv_path);
  for (guint i = from; i < issues->len; i++)
    {
      const ClipDatasetIssue *issue = g_ptr_array_index (issues, i);
      if (issue->path != NULL)
        cli_print_error ("%s:%d: skipped %s: %s", csv, issue->line, issue->path, issue->reason);
      else
        cli_print_error ("%s:%d: skipped: %s", csv, issue->line, issue->reason);
    }
}

/* ---------------------------------------------------------------- output */

static const char *const evaluate_recall_names[3] = { "R@1", "R@5", "R@10" };

static void
evaluate_json_recalls (JsonBuilder *builder, const char *name, const double recall[3])
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_object (builder);
  for (int k = 0; k < 3; k++)
    {
      json_builder_set_member_name (builder, evaluate_recall_names[k]);
      json_builder_add_double_value (builder, recall[k]);
    }
  json_builder_end_object (builder);
}

static void
evaluate_print_json (const ClipDataset *dataset, const ClipRetrievalMetrics *retrieval,
                     const ClipZeroShotMetrics *zero_shot)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  evaluate_json_recalls (builder, "image_to_text", retrieval->image_to_text);
  evaluate_json_recalls (builder, "text_to_image", retrieval->text_to_image);
  if (zero_shot != NULL)
    {
      const int n = zero_shot->n_classes;
      json_builder_set_member_name (builder, "zero_shot");
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "top1");
      json_builder_add_double_value (builder, zero_shot->top1);
      json_builder_set_member_name (builder, "top5");
      json_builder_add_double_value (builder, zero_shot->top5);
      json_builder_set_member_name (builder, "per_class");
      json_builder_begin_object (builder);
      for (int c = 0; c < n; c++)
        {
          json_builder_set_member_name (builder, clip_dataset_get_label_name (dataset, c));
          if (isnan (zero_shot->per_class[c]))
            json_builder_add_null_value (builder);  /* a label without images */
          else
            json_builder_add_double_value (builder, zero_shot->per_class[c]);
        }
      json_builder_end_object (builder);
      json_builder_set_member_name (builder, "confusion");
      json_builder_begin_array (builder);
      for (int t = 0; t < n; t++)
        {
          json_builder_begin_array (builder);
          for (int p = 0; p < n; p++)
            json_builder_add_int_value (builder, zero_shot->confusion[(size_t) t * n + p]);
          json_builder_end_array (builder);
        }
      json_builder_end_array (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_object (builder);
  cli_json_print_line (builder);
}

static void
evaluate_print_padded (const char *text, int width)
{
  fputs (text, stdout);
  for (long pad = width - g_utf8_strlen (text, -1); pad > 0; pad--)
    fputc (' ', stdout);
}

static void
evaluate_print_report (const ClipDataset *dataset, int n_templates, const ClipRetrievalMetrics *retrieval,
                       const ClipZeroShotMetrics *zero_shot)
{
  const int n = clip_dataset_get_size (dataset);
  printf ("%d image-caption pairs\n\n", n);
  printf ("retrieval          R@1     R@5    R@10\n");
  printf ("image → text   %6.1f%% %6.1f%% %6.1f%%\n", 100 * retrieval->image_to_text[0],
          100 * retrieval->image_to_text[1], 100 * retrieval->image_to_text[2]);
  printf ("text → image   %6.1f%% %6.1f%% %6.1f%%\n", 100 * retrieval->text_to_image[0],
          100 * retrieval->text_to_image[1], 100 * retrieval->text_to_image[2]);
  if (zero_shot == NULL)
    return;

  const int n_classes = zero_shot->n_classes;
  printf ("\nzero-shot over %d labels, %d template%s: top-1 %.1f%%, top-5 %.1f%%\n\n", n_classes, n_templates,
          n_templates == 1 ? "" : "s", 100 * zero_shot->top1, 100 * zero_shot->top5);
  int width = (int) strlen ("LABEL");
  for (int c = 0; c < n_classes; c++)
    width = MAX (width, (int) g_utf8_strlen (clip_dataset_get_label_name (dataset, c), -1));
  printf ("    ");
  evaluate_print_padded ("LABEL", width + 2);
  printf ("IMAGES  ACCURACY  PREDICTED AS (columns numbered like the rows)\n");
  for (int t = 0; t < n_classes; t++)
    {
      int count = 0;
      for (int p = 0; p < n_classes; p++)
        count += zero_shot->confusion[(size_t) t * n_classes + p];
      printf ("%3d ", t + 1);
      evaluate_print_padded (clip_dataset_get_label_name (dataset, t), width + 2);
      printf ("%6d  ", count);
      if (isnan (zero_shot->per_class[t]))
        printf ("       -");
      else
        printf ("  %5.1f%%", 100 * zero_shot->per_class[t]);
      printf (" ");
      for (int p = 0; p < n_classes; p++)
        printf (" %4d", zero_shot->confusion[(size_t) t * n_classes + p]);
      printf ("\n");
    }
}

/* ---------------------------------------------------------------- the command */

int
cli_cmd_evaluate (int argc, char **argv)
{
  g_auto (CliModelOptions) model_options;
  g_auto (EvaluateOptions) options = { .batch_size = EVALUATE_DEFAULT_BATCH_SIZE };
  cli_model_options_init (&model_options);

  const GOptionEntry entries[] = {
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &options.csv_path,
      "The pairs: a CSV with header image_path,caption and optionally label (required)", "FILE" },
    { "img-root", 0, 0, G_OPTION_ARG_FILENAME, &options.image_root,
      "The folder the CSV's image paths are relative to (default: the CSV's folder)", "DIR" },
    { "templates", 0, 0, G_OPTION_ARG_FILENAME, &options.templates_name,
      "Zero-shot templates: a built-in set (simple, openai7, imagenet80) or a file with one template per "
      "line; default simple unless --template is given", "SET|FILE" },
    { "template", 0, 0, G_OPTION_ARG_STRING_ARRAY, &options.template_args,
      "A zero-shot template with {} for the label (repeatable)", "T" },
    { "batch-size", 'b', 0, G_OPTION_ARG_INT, &options.batch_size,
      "Images or captions encoded together (default 32)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &options.json, "Print the metrics as one JSON object", NULL },
    { "exif", 0, 0, G_OPTION_ARG_NONE, &options.exif,
      "Turn images upright by their EXIF orientation (the reference pipelines ignore it)", NULL },
    { "cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &options.cache_dir,
      "Where decoded images go when they exceed 2 GiB (default: the temporary folder)", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = cli_option_context_new (
    "evaluate", "",
    "Measure retrieval Recall@1/5/10 (image → text and text → image; identical captions count as one "
    "group) and, when the CSV has a label column, zero-shot accuracy over its labels.",
    entries, &model_options, NULL);
  if (!cli_option_context_parse (context, "evaluate", &argc, &argv))
    return 1;
  if (options.csv_path == NULL)
    {
      cli_print_error ("evaluate: --csv FILE is required");
      return 1;
    }
  if (options.batch_size < 1 || options.batch_size > EVALUATE_MAX_BATCH_SIZE)
    {
      cli_print_error ("evaluate: --batch-size %d: expected 1 to %d", options.batch_size,
                       EVALUATE_MAX_BATCH_SIZE);
      return 1;
    }

  GError *error = NULL;
  g_auto (GStrv) templates = cli_collect_templates (options.template_args, options.templates_name, &error);
  if (templates == NULL)
    return cli_fail (error);
  g_autoptr (ClipModel) model = cli_model_load (&model_options, &error);
  if (model == NULL)
    return cli_fail (error);
  if (clip_model_get_tokenizer (model) == NULL)
    {
      cli_print_error ("%s has no tokenizer, which the captions need: pass --tokenizer bytes|PATH",
                       clip_model_get_path (model));
      return 1;
    }

  g_autoptr (ClipDataset) dataset = clip_dataset_load_csv (options.csv_path, options.image_root, &error);
  if (dataset == NULL)
    return cli_fail (error);
  evaluate_report_issues (dataset, 0, options.csv_path);
  guint n_load_issues = clip_dataset_get_issues (dataset)->len;

  CliProgress progress;
  cli_progress_init (&progress, "images decoded", clip_dataset_get_size (dataset));
  gboolean ok = clip_dataset_prepare_images (dataset, clip_model_get_preprocess (model)->image_size, options.exif,
                                             EVALUATE_MEMORY_LIMIT, options.cache_dir, evaluate_progress, NULL,
                                             &progress, &error);
  cli_progress_finish (&progress);
  evaluate_report_issues (dataset, n_load_issues, options.csv_path);
  if (!ok)
    return cli_fail (error);

  const gboolean has_labels = clip_dataset_get_n_labels (dataset) > 0;
  const int n_templates = (int) g_strv_length (templates);
  ClipRetrievalMetrics retrieval;
  ClipZeroShotMetrics zero_shot = { 0 };
  cli_progress_init (&progress, "encoded", 0);
  ok = clip_evaluate_dataset (model, dataset, (const char *const *) templates, n_templates, NULL, 0, options.batch_size,
                              &retrieval, has_labels ? &zero_shot : NULL, evaluate_progress, NULL, &progress,
                              &error);
  cli_progress_finish (&progress);
  if (!ok)
    return cli_fail (error);

  if (options.json)
    evaluate_print_json (dataset, &retrieval, has_labels ? &zero_shot : NULL);
  else
    evaluate_print_report (dataset, n_templates, &retrieval, has_labels ? &zero_shot : NULL);
  clip_zeroshot_metrics_clear (&zero_shot);
  return 0;
}
