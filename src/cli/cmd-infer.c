/* cmd-infer.c — `cliplab-cli infer`: zero-shot classification of the images of a folder. */
#include "cli-common.h"

#include <stdio.h>
#include <string.h>

#define INFER_DEFAULT_BATCH_SIZE 16
#define INFER_MAX_BATCH_SIZE     1024

typedef struct {
  char      *image_dir;
  char      *classes_text;
  char     **template_args;
  char      *templates_name;
  int        top;
  gboolean   json;
  gboolean   exif;
  int        batch_size;
} InferOptions;

static void
infer_options_clear (InferOptions *options)
{
  g_free (options->image_dir);
  g_free (options->classes_text);
  g_strfreev (options->template_args);
  g_free (options->templates_name);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (InferOptions, infer_options_clear)

/* Class names separated by commas or newlines, trimmed; none may be empty. */
static GStrv
infer_split_classes (const char *text, GError **error)
{
  g_auto (GStrv) classes = g_strsplit_set (text, ",\n", -1);
  for (int i = 0; classes[i] != NULL; i++)
    if (*g_strstrip (classes[i]) == '\0')
      {
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                     "--classes: class %d of %u is empty", i + 1, g_strv_length (classes));
        return NULL;
      }
  return g_steal_pointer (&classes);
}

static int
infer_compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The regular files of DIR (symbolic links followed), sorted by name, as full paths. */
static GPtrArray *
infer_list_files (const char *dir, GError **error)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, error);
  if (handle == NULL)
    return NULL;

  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (handle)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, infer_compare_names);

  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < names->len; i++)
    {
      char *path = g_build_filename (dir, g_ptr_array_index (names, i), NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        g_ptr_array_add (files, path);
      else
        g_free (path);
    }
  return files;
}

/* ---------------------------------------------------------------- output */

typedef struct {
  gboolean json;
  int      top;            /* classes shown per image */
  char   **classes;
  int      n_classes;
  int      image_width;    /* table column widths, in characters */
  int      class_width;
  gboolean header_printed;
  int     *order;          /* scratch: class indices, best first */
} InferPrinter;

static int
infer_compare_probs (gconstpointer a, gconstpointer b, gpointer probs_ptr)
{
  const float *probs = probs_ptr;
  int i = *(const int *) a, j = *(const int *) b;
  if (probs[i] != probs[j])
    return probs[i] > probs[j] ? -1 : 1;
  return i - j;  /* ties keep the order the classes were given in */
}

static void
infer_print_padded (const char *text, int width)
{
  fputs (text, stdout);
  for (long pad = width - g_utf8_strlen (text, -1); pad > 0; pad--)
    fputc (' ', stdout);
}

static void
infer_print_image (InferPrinter *printer, const char *path, const float *probs)
{
  for (int c = 0; c < printer->n_classes; c++)
    printer->order[c] = c;
  g_qsort_with_data (printer->order, printer->n_classes, sizeof (int), infer_compare_probs,
                     (gpointer) probs);

  if (printer->json)
    {
      g_autoptr (JsonBuilder) builder = json_builder_new ();
      json_builder_begin_object (builder);
      cli_json_add_path (builder, "image", path);
      json_builder_set_member_name (builder, "predictions");
      json_builder_begin_array (builder);
      for (int k = 0; k < printer->top; k++)
        {
          int c = printer->order[k];
          json_builder_begin_object (builder);
          cli_json_add_string (builder, "class", printer->classes[c]);
          cli_json_add_double (builder, "prob", probs[c]);
          json_builder_end_object (builder);
        }
      json_builder_end_array (builder);
      json_builder_end_object (builder);
      cli_json_print_line (builder);
      return;
    }

  /* The table names files without the folder, which the user gave. */
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *display = cli_path_for_text (base);
  if (!printer->header_printed)
    {
      infer_print_padded ("IMAGE", printer->image_width + 2);
      infer_print_padded ("CLASS", printer->class_width + 2);
      puts ("  PROB");
      printer->header_printed = TRUE;
    }
  for (int k = 0; k < printer->top; k++)
    {
      int c = printer->order[k];
      infer_print_padded (k == 0 ? display : "", printer->image_width + 2);
      infer_print_padded (printer->classes[c], printer->class_width + 2);
      printf ("%5.1f%%\n", 100.0 * probs[c]);
    }
}

/* ---------------------------------------------------------------- classification */

/* Decodes and preprocesses FILES one at a time (so one decoded image is in memory at once), encodes
 * them BATCH_SIZE at a time and prints each image's classes.  Unreadable files are reported and
 * skipped.  Returns the number of images classified, or -1 on a model error. */
static int
infer_classify (ClipModel *model, GPtrArray *files, const float *weights, int batch_size,
                gboolean exif, InferPrinter *printer, GError **error)
{
  const ClipConfig *config = clip_model_get_config (model);
  const ClipPreprocess *preprocess = clip_model_get_preprocess (model);
  const size_t image_floats = (size_t) 3 * preprocess->image_size * preprocess->image_size;
  g_autofree uint8_t *crop = g_malloc ((size_t) 3 * preprocess->image_size * preprocess->image_size);
  g_autofree float *pixels = g_new (float, image_floats * batch_size);
  g_autofree float *embeds = g_new (float, (size_t) config->embed_dim * batch_size);
  g_autofree float *probs = g_new (float, (size_t) printer->n_classes * batch_size);
  const char *batch_paths[INFER_MAX_BATCH_SIZE];
  int n_classified = 0, n = 0;
  CliProgress progress;

  cli_progress_init (&progress, "images", files->len);
  for (guint i = 0; i <= files->len; i++)
    {
      if (i < files->len)
        {
          const char *path = g_ptr_array_index (files, i);
          g_autoptr (GError) image_error = NULL;
          g_autoptr (ClipImage) image = clip_image_load (path, exif, &image_error);
          cli_progress_update (&progress, i + 1);
          if (image == NULL)
            {
              cli_error_name_file (&image_error, path);
              cli_print_error ("skipped: %s", image_error->message);
              continue;
            }
          clip_image_resize_crop (image, preprocess->image_size, crop);
          clip_image_normalize (crop, preprocess, pixels + image_floats * n);
          batch_paths[n++] = path;
          if (n < batch_size)
            continue;
        }
      if (n == 0)
        continue;

      if (!clip_model_encode_images (model, pixels, n, embeds, NULL, error))
        {
          cli_progress_finish (&progress);
          return -1;
        }
      clip_zero_shot_probs (model, embeds, n, weights, printer->n_classes, probs);
      cli_progress_finish (&progress);
      for (int j = 0; j < n; j++)
        infer_print_image (printer, batch_paths[j], probs + (size_t) j * printer->n_classes);
      fflush (stdout);
      n_classified += n;
      n = 0;
      cli_progress_update (&progress, MIN (i + 1, files->len));  /* redrawn below the rows */
    }
  cli_progress_finish (&progress);
  return n_classified;
}

/* The options; FALSE (reported) on a usage error. */
static gboolean
infer_parse (InferOptions *options, CliModelOptions *model_options, int *argc, char ***argv)
{
  const GOptionEntry entries[] = {
    { "image-dir", 'd', 0, G_OPTION_ARG_FILENAME, &options->image_dir,
      "Classify the image files of this folder (required)", "DIR" },
    { "classes", 'c', 0, G_OPTION_ARG_STRING, &options->classes_text,
      "Class names separated by commas or newlines (required)", "\"cat,dog,car\"" },
    { "template", 0, 0, G_OPTION_ARG_STRING_ARRAY, &options->template_args,
      "A prompt template with {} for the class name (repeatable)", "T" },
    { "templates", 0, 0, G_OPTION_ARG_FILENAME, &options->templates_name,
      "A built-in template set (simple = \"a photo of a {}.\", openai7, imagenet80) or a file with "
      "one template per line; default simple unless --template is given", "FILE|SET" },
    { "top", 'k', 0, G_OPTION_ARG_INT, &options->top,
      "Show the K most probable classes per image (default: all)", "K" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &options->json, "Print one JSON object per image", NULL },
    { "exif", 0, 0, G_OPTION_ARG_NONE, &options->exif,
      "Turn images upright by their EXIF orientation (the reference pipelines ignore it)", NULL },
    { "batch-size", 'b', 0, G_OPTION_ARG_INT, &options->batch_size,
      "Images encoded together (default 16)", "N" },
    G_OPTION_ENTRY_NULL
  };

  g_autoptr (GOptionContext) context = cli_option_context_new (
    "infer", "", "Zero-shot classify every image file of a folder, in name order.", entries,
    model_options, NULL);
  if (!cli_option_context_parse (context, "infer", argc, argv))
    return FALSE;
  if (options->image_dir == NULL || options->classes_text == NULL)
    {
      cli_print_error ("infer: --image-dir DIR and --classes LIST are required");
      return FALSE;
    }
  if (options->batch_size < 1 || options->batch_size > INFER_MAX_BATCH_SIZE)
    {
      cli_print_error ("infer: --batch-size %d: expected 1 to %d", options->batch_size,
                       INFER_MAX_BATCH_SIZE);
      return FALSE;
    }
  if (options->top < 0)
    {
      cli_print_error ("infer: --top %d: expected a positive count", options->top);
      return FALSE;
    }
  return TRUE;
}

/* The table's columns fit the longest file name and class name. */
static void
infer_printer_init (InferPrinter *printer, const InferOptions *options, char **classes, GPtrArray *files,
                    int *order)
{
  const int n_classes = (int) g_strv_length (classes);
  *printer = (InferPrinter) {
    .json = options->json,
    .top = options->top > 0 ? MIN (options->top, n_classes) : n_classes,
    .classes = classes,
    .n_classes = n_classes,
    .image_width = (int) strlen ("IMAGE"),
    .class_width = (int) strlen ("CLASS"),
    .order = order,
  };
  for (guint i = 0; i < files->len; i++)
    {
      g_autofree char *base = g_path_get_basename (g_ptr_array_index (files, i));
      g_autofree char *display = cli_path_for_text (base);
      printer->image_width = MAX (printer->image_width, (int) g_utf8_strlen (display, -1));
    }
  for (int c = 0; c < n_classes; c++)
    printer->class_width = MAX (printer->class_width, (int) g_utf8_strlen (classes[c], -1));
}

int
cli_cmd_infer (int argc, char **argv)
{
  g_auto (CliModelOptions) model_options;
  g_auto (InferOptions) options = { .batch_size = INFER_DEFAULT_BATCH_SIZE };
  cli_model_options_init (&model_options);
  if (!infer_parse (&options, &model_options, &argc, &argv))
    return 1;

  GError *error = NULL;
  g_auto (GStrv) classes = infer_split_classes (options.classes_text, &error);
  if (classes == NULL)
    return cli_fail (error);
  g_auto (GStrv) templates = cli_collect_templates (options.template_args, options.templates_name, &error);
  if (templates == NULL)
    return cli_fail (error);
  g_autoptr (GPtrArray) files = infer_list_files (options.image_dir, &error);
  if (files == NULL)
    return cli_fail (error);

  g_autoptr (ClipModel) model = cli_model_load (&model_options, &error);
  if (model == NULL)
    return cli_fail (error);
  if (clip_model_get_tokenizer (model) == NULL)
    {
      cli_print_error ("%s has no tokenizer, which the class prompts need: pass --tokenizer "
                       "bytes|PATH", clip_model_get_path (model));
      return 1;
    }

  const int n_classes = (int) g_strv_length (classes);
  g_autofree float *weights = g_new (float, (size_t) n_classes * clip_model_get_config (model)->embed_dim);
  if (!clip_zero_shot_classifier (model, (const char *const *) classes, n_classes,
                                  (const char *const *) templates, (int) g_strv_length (templates),
                                  weights, NULL, &error))
    return cli_fail (error);

  g_autofree int *order = g_new (int, n_classes);
  InferPrinter printer;
  infer_printer_init (&printer, &options, classes, files, order);
  int n_classified = infer_classify (model, files, weights, options.batch_size, options.exif,
                                     &printer, &error);
  if (n_classified < 0)
    return cli_fail (error);
  if (n_classified == 0)
    {
      g_autofree char *display = g_filename_display_name (options.image_dir);
      cli_print_error ("%s: no readable image (%u files tried)", display, files->len);
      return 1;
    }
  return 0;
}
