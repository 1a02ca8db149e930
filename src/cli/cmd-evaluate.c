/* cmd-evaluate.c — `cliplab-cli evaluate`: retrieval Recall@K both ways on a data set with captions
 * and, when it has labels, zero-shot accuracy over them (clip_evaluate_dataset); --benchmark-json
 * writes the result as CLIP_benchmark does. */
#include "cli-common.h"
#include "clip-json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EVALUATE_DEFAULT_BATCH_SIZE   32
#define EVALUATE_MAX_BATCH_SIZE       1024
/* Decoded crops beyond this go to a cache file (--cache-dir). */
#define EVALUATE_MEMORY_LIMIT         ((size_t) 2 << 30)

#define EVALUATE_DEFAULT_RECALL_K     "1,5,10"

typedef struct {
  char     *csv_path;
  char     *dataset_path;
  char     *split;
  char     *image_root;
  char    **template_args;
  char     *templates_name;
  char     *cache_dir;
  char     *recall_k;
  char     *benchmark_json;
  char     *task;
  char     *model_name;
  char     *pretrained;
  char     *dataset_name;
  int       batch_size;
  gboolean  json;
  gboolean  exif;
} EvaluateOptions;

static void
evaluate_options_clear (EvaluateOptions *options)
{
  g_free (options->csv_path);
  g_free (options->dataset_path);
  g_free (options->split);
  g_free (options->image_root);
  g_strfreev (options->template_args);
  g_free (options->templates_name);
  g_free (options->cache_dir);
  g_free (options->recall_k);
  g_free (options->benchmark_json);
  g_free (options->task);
  g_free (options->model_name);
  g_free (options->pretrained);
  g_free (options->dataset_name);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EvaluateOptions, evaluate_options_clear)

/* ---------------------------------------------------------------- output */

static void
evaluate_print_json (const ClipDataset *dataset, const ClipRetrievalMetrics *retrieval,
                     const ClipZeroShotMetrics *zero_shot)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  if (retrieval != NULL)
    clip_json_add_retrieval (builder, retrieval);
  if (zero_shot != NULL)
    {
      const int n = zero_shot->n_classes;
      clip_json_begin_zero_shot (builder, zero_shot->top1, zero_shot->top5);
      json_builder_set_member_name (builder, "mean_per_class_recall");
      json_builder_add_double_value (builder, zero_shot->mean_per_class_recall);
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
  printf ("%d images, %d captions (%s)\n", clip_dataset_get_n_images (dataset), clip_dataset_get_size (dataset),
          clip_dataset_get_format_name (dataset));
  if (retrieval != NULL)
    {
      printf ("\nretrieval     ");
      for (int k = 0; k < retrieval->n_k; k++)
        {
          g_autofree char *name = g_strdup_printf ("R@%d", retrieval->k[k]);
          printf (" %7s", name);
        }
      printf ("\nimage → text  ");
      for (int k = 0; k < retrieval->n_k; k++)
        printf (" %6.1f%%", 100 * retrieval->image_to_text[k]);
      printf ("\ntext → image  ");
      for (int k = 0; k < retrieval->n_k; k++)
        printf (" %6.1f%%", 100 * retrieval->text_to_image[k]);
      printf ("\n");
    }
  if (zero_shot == NULL)
    return;

  const int n_classes = zero_shot->n_classes;
  printf ("\nzero-shot over %d labels, %d template%s: top-1 %.1f%%, top-5 %.1f%%, mean per-class recall %.1f%%\n\n",
          n_classes, n_templates, n_templates == 1 ? "" : "s", 100 * zero_shot->top1, 100 * zero_shot->top5,
          100 * zero_shot->mean_per_class_recall);
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

/* ---------------------------------------------------------------- CLIP_benchmark's result file */

typedef struct {
  const char *dataset;
  const char *model;
  const char *pretrained;
  const char *task;       /* "zeroshot_classification" or "zeroshot_retrieval" */
} BenchmarkNames;

static void
benchmark_add_metric (JsonBuilder *builder, const char *name, double value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_double_value (builder, value);
}

/* {"dataset", "model", "pretrained", "task", "metrics", "language"} as CLIP_benchmark writes it. */
static gboolean
evaluate_write_benchmark (const char *path, const BenchmarkNames *names, const ClipRetrievalMetrics *retrieval,
                          const ClipZeroShotMetrics *zero_shot, GError **error)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  const char *keys[] = { "dataset", "model", "pretrained", "task" };
  const char *values[] = { names->dataset, names->model, names->pretrained, names->task };
  for (size_t i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      json_builder_set_member_name (builder, keys[i]);
      json_builder_add_string_value (builder, values[i]);
    }
  json_builder_set_member_name (builder, "metrics");
  json_builder_begin_object (builder);
  if (g_str_equal (names->task, "zeroshot_classification"))
    {
      benchmark_add_metric (builder, "acc1", zero_shot->top1);
      benchmark_add_metric (builder, "acc5", zero_shot->top5);
      benchmark_add_metric (builder, "mean_per_class_recall", zero_shot->mean_per_class_recall);
    }
  else
    for (int k = 0; k < retrieval->n_k; k++)
      {
        g_autofree char *image_key = g_strdup_printf ("image_retrieval_recall@%d", retrieval->k[k]);
        g_autofree char *text_key = g_strdup_printf ("text_retrieval_recall@%d", retrieval->k[k]);
        benchmark_add_metric (builder, image_key, retrieval->text_to_image[k]);
        benchmark_add_metric (builder, text_key, retrieval->image_to_text[k]);
      }
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "language");
  json_builder_add_string_value (builder, "en");
  json_builder_end_object (builder);

  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  g_autofree char *text = json_generator_to_data (generator, NULL);
  g_autofree char *with_newline = g_strconcat (text, "\n", NULL);
  return g_file_set_contents (path, with_newline, -1, error);
}

/* The name without folders and without its last extension: "ViT-B-32" for models/ViT-B-32.safetensors. */
static char *
evaluate_stem (const char *path)
{
  g_autofree char *trimmed = g_strdup (path);
  while (strlen (trimmed) > 1 && g_str_has_suffix (trimmed, G_DIR_SEPARATOR_S))
    trimmed[strlen (trimmed) - 1] = '\0';
  char *base = g_path_get_basename (trimmed);
  char *dot = strrchr (base, '.');
  if (dot != NULL && dot != base)
    *dot = '\0';
  return base;
}

/* --recall-k "1,5,10" into KS; FALSE (reported) when malformed. */
static gboolean
evaluate_parse_recall_k (const char *text, int *ks, int *n_ks)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  *n_ks = 0;
  for (char **part = parts; *part != NULL; part++)
    {
      char *end;
      gint64 k = g_ascii_strtoll (g_strstrip (*part), &end, 10);
      if (**part == '\0' || *end != '\0' || k < 1 || k > G_MAXINT || *n_ks == CLIP_MAX_RECALL_K)
        {
          cli_print_error ("evaluate: --recall-k %s: expected up to %d positive whole numbers separated by commas",
                           text, CLIP_MAX_RECALL_K);
          return FALSE;
        }
      ks[(*n_ks)++] = (int) k;
    }
  return TRUE;
}

/* Which CLIP_benchmark task the data set is: classification when it has labels, else retrieval. */
static const char *
evaluate_choose_task (const EvaluateOptions *options, const ClipDataset *dataset, gboolean has_labels)
{
  const char *task = options->task != NULL && !g_str_equal (options->task, "auto") ? options->task
                     : has_labels ? "zeroshot_classification" : "zeroshot_retrieval";
  if (g_str_equal (task, "zeroshot_classification") && !has_labels)
    {
      cli_print_error ("evaluate: %s has no labels to classify by", clip_dataset_get_path (dataset));
      return NULL;
    }
  if (g_str_equal (task, "zeroshot_retrieval") && !clip_dataset_has_captions (dataset))
    {
      cli_print_error ("evaluate: %s has no captions to retrieve (only class labels)", clip_dataset_get_path (dataset));
      return NULL;
    }
  return task;
}

/* ---------------------------------------------------------------- the command */

/* Decodes the data set's images at the model's size, reporting the entries dropped. */
static gboolean
evaluate_prepare (ClipDataset *dataset, ClipModel *model, const EvaluateOptions *options, GError **error)
{
  guint n_load_issues = clip_dataset_get_issues (dataset)->len;
  CliProgress progress;
  const ClipCallbacks callbacks = { .progress = cli_progress_callback, .user_data = &progress };
  cli_progress_init (&progress, "images decoded", clip_dataset_get_n_images (dataset));
  gboolean ok = clip_dataset_prepare_images (dataset, clip_model_get_preprocess (model)->image_size, options->exif,
                                             EVALUATE_MEMORY_LIMIT, options->cache_dir, &callbacks, error);
  cli_progress_finish (&progress);
  cli_dataset_report_issues (dataset, n_load_issues);
  return ok;
}

/* The zero-shot templates: --template / --templates when given, else the data set's own, else simple. */
static gboolean
evaluate_templates (const EvaluateOptions *options, const ClipDataset *dataset, GStrv *templates, GError **error)
{
  if (options->template_args == NULL && options->templates_name == NULL)
    {
      int n = 0;
      const char *const *own = clip_dataset_get_templates (dataset, &n);
      *templates = g_strdupv ((char **) (own != NULL ? own : clip_templates_builtin ("simple", NULL)));
      return TRUE;
    }
  *templates = cli_collect_templates (options->template_args, options->templates_name, error);
  return *templates != NULL;
}

static int
evaluate_output (const EvaluateOptions *options, const ClipDataset *dataset, const ClipModel *model,
                 int n_templates, const ClipRetrievalMetrics *retrieval, const ClipZeroShotMetrics *zero_shot,
                 const char *task)
{
  if (options->benchmark_json != NULL)
    {
      g_autofree char *model_stem = evaluate_stem (clip_model_get_path (model));
      g_autofree char *dataset_stem = evaluate_stem (clip_dataset_get_path (dataset));
      BenchmarkNames names = {
        .dataset = options->dataset_name != NULL ? options->dataset_name : dataset_stem,
        .model = options->model_name != NULL ? options->model_name : model_stem,
        .pretrained = options->pretrained != NULL ? options->pretrained : clip_model_get_path (model),
        .task = task,
      };
      GError *error = NULL;
      if (!evaluate_write_benchmark (options->benchmark_json, &names, retrieval, zero_shot, &error))
        return cli_fail (error);
    }
  if (options->json)
    evaluate_print_json (dataset, retrieval, zero_shot);
  else
    evaluate_print_report (dataset, n_templates, retrieval, zero_shot);
  return 0;
}

static int
evaluate_run (const EvaluateOptions *options, ClipModel *model, const int *ks, int n_ks)
{
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = cli_dataset_open ("evaluate", options->csv_path, options->dataset_path,
                                                      options->split, options->image_root, &error);
  if (dataset == NULL || !evaluate_prepare (dataset, model, options, &error))
    return cli_fail (error);
  g_auto (GStrv) templates = NULL;
  if (!evaluate_templates (options, dataset, &templates, &error))
    return cli_fail (error);

  const gboolean has_labels = clip_dataset_get_n_labels (dataset) > 0;
  const gboolean has_captions = clip_dataset_has_captions (dataset);
  const char *task = evaluate_choose_task (options, dataset, has_labels);
  if (task == NULL)
    return 1;
  const int n_templates = (int) g_strv_length (templates);
  ClipRetrievalMetrics retrieval;
  ClipZeroShotMetrics zero_shot = { 0 };
  CliProgress progress;
  const ClipCallbacks callbacks = { .progress = cli_progress_callback, .user_data = &progress };
  cli_progress_init (&progress, "encoded", 0);
  gboolean ok = clip_evaluate_dataset (model, dataset, (const char *const *) templates, n_templates, ks, n_ks,
                                       options->batch_size, has_captions ? &retrieval : NULL,
                                       has_labels ? &zero_shot : NULL, &callbacks, &error);
  cli_progress_finish (&progress);
  if (!ok)
    return cli_fail (error);
  int status = evaluate_output (options, dataset, model, n_templates, has_captions ? &retrieval : NULL,
                                has_labels ? &zero_shot : NULL, task);
  clip_zero_shot_metrics_clear (&zero_shot);
  return status;
}

/* The options; FALSE (reported) on a usage error.  KS [CLIP_MAX_RECALL_K] and N_KS get --recall-k. */
static gboolean
evaluate_parse (EvaluateOptions *options, CliModelOptions *model_options, int *ks, int *n_ks, int *argc,
                char ***argv)
{
  const GOptionEntry entries[] = {
    { "dataset", 0, 0, G_OPTION_ARG_FILENAME, &options->dataset_path,
      "The data set: a CSV, an image folder (a subfolder per class), a WebDataset folder (CLIP_benchmark's "
      "layout), a COCO captions or Karpathy split JSON", "PATH" },
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &options->csv_path,
      "The pairs: a CSV with header image_path,caption and optionally label (instead of --dataset)", "FILE" },
    { "split", 0, 0, G_OPTION_ARG_STRING, &options->split,
      "The part of a WebDataset or Karpathy data set (default: test)", "NAME" },
    { "img-root", 0, 0, G_OPTION_ARG_FILENAME, &options->image_root,
      "The folder image paths are relative to (default: the CSV's or JSON's folder; COCO: ../NAME beside "
      "annotations/captions_NAME.json)", "DIR" },
    { "templates", 0, 0, G_OPTION_ARG_FILENAME, &options->templates_name,
      "Zero-shot templates: a built-in set (simple, openai7, imagenet80) or a file with one template per "
      "line ({} or {c} for the class); default: the data set's own, else simple", "SET|FILE" },
    { "template", 0, 0, G_OPTION_ARG_STRING_ARRAY, &options->template_args,
      "A zero-shot template with {} or {c} for the label (repeatable)", "T" },
    { "recall-k", 0, 0, G_OPTION_ARG_STRING, &options->recall_k,
      "The K of retrieval Recall@K (default: 1,5,10)", "K,K,…" },
    { "batch-size", 'b', 0, G_OPTION_ARG_INT, &options->batch_size,
      "Images or captions encoded together (default 32)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &options->json, "Print the metrics as one JSON object", NULL },
    { "benchmark-json", 0, 0, G_OPTION_ARG_FILENAME, &options->benchmark_json,
      "Write CLIP_benchmark's result object (dataset, model, pretrained, task, metrics, language) to FILE", "FILE" },
    { "task", 0, 0, G_OPTION_ARG_STRING, &options->task,
      "The result file's task: zeroshot_classification, zeroshot_retrieval or auto (classification when the "
      "data set has labels)", "TASK" },
    { "model-name", 0, 0, G_OPTION_ARG_STRING, &options->model_name,
      "The result file's \"model\" (default: the model file's name)", "NAME" },
    { "pretrained", 0, 0, G_OPTION_ARG_STRING, &options->pretrained,
      "The result file's \"pretrained\" (default: the model path)", "NAME" },
    { "dataset-name", 0, 0, G_OPTION_ARG_STRING, &options->dataset_name,
      "The result file's \"dataset\" (default: the data set's file or folder name)", "NAME" },
    { "exif", 0, 0, G_OPTION_ARG_NONE, &options->exif,
      "Turn images upright by their EXIF orientation (the reference pipelines ignore it)", NULL },
    { "cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &options->cache_dir,
      "Where decoded images go when they exceed 2 GiB (default: the temporary folder)", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = cli_option_context_new (
    "evaluate", "",
    "Measure retrieval Recall@K (image → text and text → image; several captions of an image are one item, "
    "each distinct caption is ranked once) on a data set with captions and, when it has labels, zero-shot "
    "top-1, top-5 and mean per-class recall, as CLIP_benchmark does.",
    entries, model_options, NULL);
  if (!cli_option_context_parse (context, "evaluate", argc, argv))
    return FALSE;
  if (options->batch_size < 1 || options->batch_size > EVALUATE_MAX_BATCH_SIZE)
    {
      cli_print_error ("evaluate: --batch-size %d: expected 1 to %d", options->batch_size,
                       EVALUATE_MAX_BATCH_SIZE);
      return FALSE;
    }
  if ((options->csv_path == NULL) == (options->dataset_path == NULL))
    {
      cli_print_error ("evaluate: %s", options->csv_path == NULL ? "--dataset PATH (or --csv FILE) is required"
                                                                 : "--csv and --dataset both name the data: give one");
      return FALSE;
    }
  static const char *const tasks[] = { "auto", "zeroshot_classification", "zeroshot_retrieval", NULL };
  if (options->task != NULL && !g_strv_contains (tasks, options->task))
    {
      cli_print_error ("evaluate: --task %s: expected auto, zeroshot_classification or zeroshot_retrieval",
                       options->task);
      return FALSE;
    }
  return evaluate_parse_recall_k (options->recall_k != NULL ? options->recall_k : EVALUATE_DEFAULT_RECALL_K, ks,
                                  n_ks);
}

int
cli_cmd_evaluate (int argc, char **argv)
{
  g_auto (CliModelOptions) model_options;
  g_auto (EvaluateOptions) options = { .batch_size = EVALUATE_DEFAULT_BATCH_SIZE };
  cli_model_options_init (&model_options);
  int ks[CLIP_MAX_RECALL_K], n_ks;
  if (!evaluate_parse (&options, &model_options, ks, &n_ks, &argc, &argv))
    return 1;

  GError *error = NULL;
  g_autoptr (ClipModel) model = cli_model_load (&model_options, &error);
  if (model == NULL)
    return cli_fail (error);
  if (clip_model_get_tokenizer (model) == NULL)
    {
      cli_print_error ("%s has no tokenizer, which the captions need: pass --tokenizer bytes|PATH",
                       clip_model_get_path (model));
      return 1;
    }
  return evaluate_run (&options, model, ks, n_ks);
}
