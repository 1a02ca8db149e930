/* cmd-dataset.c — `cliplab-cli dataset KIND`: writes a data set to train and evaluate on (train.csv,
 * test.csv, classes.txt and the PNGs they name): Fashion-MNIST from its IDX files, or procedurally
 * drawn shapes. */
#include "cli-common.h"
#include "generate.h"

#include <stdio.h>
#include <string.h>

#define DATASET_FASHION_DEFAULT_FROM "/usr/share/datasets/fashion-mnist"
#define DATASET_SHAPES_DEFAULT_SIZE  64
#define DATASET_DEFAULT_SEED         1

/* Counts the data rows of a CSV the generator just wrote (no quoted newlines in them). */
static int
dataset_count_rows (const char *out_dir, const char *name)
{
  g_autofree char *path = g_build_filename (out_dir, name, NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  int lines = 0;
  for (const char *p = text; *p != '\0'; p++)
    lines += *p == '\n';
  return lines - 1;  /* the header */
}

static int
dataset_report (const char *out_dir)
{
  g_autofree char *display = cli_path_for_text (out_dir);
  printf ("%s: train.csv (%d images), test.csv (%d images), classes.txt\n", display,
          dataset_count_rows (out_dir, "train.csv"), dataset_count_rows (out_dir, "test.csv"));
  return 0;
}

static gboolean
dataset_check_seed (const char *command, gint64 seed)
{
  if (seed < 0)
    {
      cli_print_error ("%s: --seed %" G_GINT64_FORMAT ": expected 0 or more", command, seed);
      return FALSE;
    }
  return TRUE;
}

static int
dataset_fashion_mnist (int argc, char **argv)
{
  g_autofree char *from = NULL;
  g_autofree char *out = NULL;
  int limit_train = 0, limit_test = 0;
  gint64 seed = DATASET_DEFAULT_SEED;
  const GOptionEntry entries[] = {
    { "from", 0, 0, G_OPTION_ARG_FILENAME, &from,
      "The folder of the IDX files (default " DATASET_FASHION_DEFAULT_FROM ", from Debian's "
      "dataset-fashion-mnist package)", "DIR" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Write the data set into this folder (required)", "DIR" },
    { "limit-train", 0, 0, G_OPTION_ARG_INT, &limit_train, "Keep the first N training images (default: all 60,000)", "N" },
    { "limit-test", 0, 0, G_OPTION_ARG_INT, &limit_test, "Keep the first N test images (default: all 10,000)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of the caption templates' choice (default 1)", "S" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = cli_option_context_new (
    "dataset fashion-mnist", "",
    "Convert Fashion-MNIST into 28×28 PNGs with captions drawn from varied templates and a label column.",
    entries, NULL, NULL);
  if (!cli_option_context_parse (context, "dataset fashion-mnist", &argc, &argv))
    return 1;
  if (out == NULL)
    {
      cli_print_error ("dataset fashion-mnist: --out DIR is required");
      return 1;
    }
  if (limit_train < 0 || limit_test < 0)
    {
      cli_print_error ("dataset fashion-mnist: --limit-%s %d: expected a positive count",
                       limit_train < 0 ? "train" : "test", limit_train < 0 ? limit_train : limit_test);
      return 1;
    }
  if (!dataset_check_seed ("dataset fashion-mnist", seed))
    return 1;

  CliProgress progress;
  cli_progress_init (&progress, "images", 0);
  GError *error = NULL;
  const ClipCallbacks callbacks = { .progress = cli_progress_callback, .user_data = &progress };
  gboolean ok = cli_generate_fashion_mnist (from != NULL ? from : DATASET_FASHION_DEFAULT_FROM, out, limit_train,
                                            limit_test, (uint64_t) seed, &callbacks, &error);
  cli_progress_finish (&progress);
  if (!ok)
    return cli_fail (error);
  return dataset_report (out);
}

static int
dataset_shapes (int argc, char **argv)
{
  g_autofree char *out = NULL;
  int count = 0, image_size = DATASET_SHAPES_DEFAULT_SIZE;
  gint64 seed = DATASET_DEFAULT_SEED;
  const GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Write the data set into this folder (required)", "DIR" },
    { "count", 'n', 0, G_OPTION_ARG_INT, &count, "Scenes in all, a fifth of them for testing (required)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of the drawing (default 1)", "S" },
    { "image-size", 0, 0, G_OPTION_ARG_INT, &image_size, "Side of the square images in pixels (default 64)", "PX" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = cli_option_context_new (
    "dataset shapes", "",
    "Draw captioned scenes of coloured shapes; some colour × shape pairs appear only in test.csv, so "
    "zero-shot generalisation can be measured (classes.txt lists them).",
    entries, NULL, NULL);
  if (!cli_option_context_parse (context, "dataset shapes", &argc, &argv))
    return 1;
  if (out == NULL || count == 0)
    {
      cli_print_error ("dataset shapes: --out DIR and --count N are required");
      return 1;
    }
  if (!dataset_check_seed ("dataset shapes", seed))
    return 1;

  CliProgress progress;
  cli_progress_init (&progress, "images", count);
  GError *error = NULL;
  const ClipCallbacks callbacks = { .progress = cli_progress_callback, .user_data = &progress };
  gboolean ok = cli_generate_shapes (out, count, (uint64_t) seed, image_size, &callbacks, &error);
  cli_progress_finish (&progress);
  if (!ok)
    return cli_fail (error);
  return dataset_report (out);
}

static const struct {
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
} dataset_kinds[] = {
  { "fashion-mnist", "Fashion-MNIST's clothing images with templated captions", dataset_fashion_mnist },
  { "shapes",        "Drawn scenes of coloured shapes with held-out combinations", dataset_shapes },
};

static void
dataset_print_usage (FILE *stream)
{
  fprintf (stream, "Usage:\n  %s dataset KIND [OPTION…]\n\nWrite a data set (train.csv, test.csv, "
                   "classes.txt and PNG images) to train and evaluate on.\n\nKinds:\n", CLI_PROGRAM_NAME);
  for (size_t i = 0; i < G_N_ELEMENTS (dataset_kinds); i++)
    fprintf (stream, "  %-14s %s\n", dataset_kinds[i].name, dataset_kinds[i].summary);
  fprintf (stream, "\nRun '%s dataset KIND --help' for the options of a kind.\n", CLI_PROGRAM_NAME);
}

int
cli_cmd_dataset (int argc, char **argv)
{
  if (argc >= 2 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0))
    {
      dataset_print_usage (stdout);
      return 0;
    }
  if (argc < 2)
    {
      cli_print_error ("dataset: no kind given (see '%s dataset --help')", CLI_PROGRAM_NAME);
      return 1;
    }
  for (size_t i = 0; i < G_N_ELEMENTS (dataset_kinds); i++)
    if (strcmp (argv[1], dataset_kinds[i].name) == 0)
      return dataset_kinds[i].run (argc - 1, argv + 1);
  cli_print_error ("dataset: unknown kind '%s' (see '%s dataset --help')", argv[1], CLI_PROGRAM_NAME);
  return 1;
}
