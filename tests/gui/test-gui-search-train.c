/* test-gui-search-train.c — runs the real ClipLab application (under Xvfb: see meson.build) with
 * scripts of steps (the GUI test driver, gui-driver.c) in the Search and Train views, and checks
 * what they show against the library: the ranking of a text query with a subtracted term and of "find similar" against
 * clip_index_search on an index built here independently (the image searched with left out), the
 * first page of the endless list, searching while the index
 * is built and stopping it, a 20-step training run whose chart must hold exactly the library's
 * logged losses, pause / resume / stop with checkpoints, continuing a stopped run, "Use This Model",
 * the chart saved as PNG and SVG, and following a run whose log another process appends to.  Screenshots go to $CLIPLAB_SCREENSHOT_DIR. */
#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "clip.h"
#include "generate.h"
#include "gui-app.h"
#include "testutil.h"

#define N_SAMPLE_IMAGES GOLDEN_SAMPLE_IMAGES   /* the folder also holds broken.png */
#define N_MANY_IMAGES   6000     /* drawn scenes, for searching while indexing and stopping it: enough
                                  * that the index is still being built when the test stops it */
#define RESULTS_PAGE    120      /* results the Search view fetches at a time */
#define TRAIN_STEPS     20
#define STEPS_PER_EPOCH 6        /* 52 training pairs of the 64-scene data set, batches of 8 */

static char *sample_dir;         /* golden images + broken.png */
static char *model_dir;          /* the tiny golden model (byte tokenizer) */
static char *shapes_dir;         /* 64 drawn scenes: train.csv and test.csv */
static char *class_folders_dir;  /* a folder of class folders: 3 classes × 6 pictures */

/* The application on the tiny model (byte tokenizer). */
#define TINY_MODEL_ARGS (const char *const[]) { "--model", model_dir, "--tokenizer", "bytes", NULL }

/* ---------------------------------------------------------------- expected values */

static ClipModel *
tiny_model (void)
{
  static ClipModel *model;
  if (model == NULL)
    {
      g_autoptr (GError) error = NULL;
      ClipLoadOptions options;
      clip_load_options_init (&options);
      options.tokenizer_path = "bytes";
      model = clip_model_load (model_dir, &options, &error);
      g_assert_no_error (error);
    }
  return model;
}

/* The sample folder's index, built here in a cache of the test's own. */
static ClipIndex *
sample_index (void)
{
  static ClipIndex *index;
  if (index == NULL)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *cache = g_build_filename (tu_tmpdir (), "test-index", NULL);
      ClipIndexOptions options;
      clip_index_options_init (&options);
      options.cache_dir = cache;
      index = clip_index_open (sample_dir, tiny_model (), &options, &error);
      g_assert_no_error (error);
      clip_index_update (index, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (clip_index_get_n_entries (index), ==, N_SAMPLE_IMAGES);
    }
  return index;
}

/* The results a search step reports must be the library's: same images, same order, same scores;
 * the image searched with (WITHOUT, or NULL) is left out. */
static void
check_ranking (JsonObject *report, const ClipQueryTerm *terms, int n_terms, const char *without)
{
  ClipIndex *index = sample_index ();
  const int dim = clip_model_get_config (tiny_model ())->embed_dim;
  g_autofree float *query = g_new (float, dim);
  ClipSearchResult found[N_SAMPLE_IMAGES];
  ClipSearchResult want[N_SAMPLE_IMAGES];
  g_autoptr (GError) error = NULL;

  clip_index_embed_query (index, terms, n_terms, query, &error);
  g_assert_no_error (error);
  int n_found = clip_index_search (index, query, G_N_ELEMENTS (found), -1, found);
  int n = 0;
  for (int i = 0; i < n_found; i++)
    {
      g_autofree char *path = g_build_filename (sample_dir, found[i].path, NULL);
      if (g_strcmp0 (path, without) != 0)
        want[n++] = found[i];
    }
  g_assert_cmpint (n, ==, without != NULL ? N_SAMPLE_IMAGES - 1 : N_SAMPLE_IMAGES);

  g_assert_cmpstr (member_string (report, "page"), ==, "results");
  JsonArray *shown = json_object_get_array_member (report, "results");
  g_assert_cmpuint (json_array_get_length (shown), ==, n);
  for (int i = 0; i < n; i++)
    {
      JsonObject *result = json_array_get_object_element (shown, i);
      g_autofree char *path = g_build_filename (sample_dir, want[i].path, NULL);
      g_assert_cmpstr (member_string (result, "path"), ==, path);
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (result, "score"), want[i].score, 1e-6);
      char shown_score[G_ASCII_DTOSTR_BUF_SIZE];
      g_ascii_formatd (shown_score, sizeof shown_score, "%.3f", want[i].score);
      g_assert_cmpstr (member_string (result, "shown"), ==, shown_score);
    }
}

/* ---------------------------------------------------------------- fixtures */

static void
make_fixtures (void)
{
  g_autoptr (GError) error = NULL;

  sample_dir = make_sample_folder ();

  /* What `cliplab-cli dataset shapes --count 64 --image-size 32` writes. */
  shapes_dir = g_build_filename (tu_tmpdir (), "shapes", NULL);
  g_assert_true (cli_generate_shapes (shapes_dir, 64, 0, 32, NULL, &error));
  g_assert_no_error (error);

  /* torchvision's ImageFolder layout: CLASS/NAME.png, a colour per class with a varying stripe. */
  class_folders_dir = g_build_filename (tu_tmpdir (), "class-folders", NULL);
  const char *const classes[] = { "red", "green", "blue" };
  const guint32 colours[] = { 0xd02020ff, 0x20b030ff, 0x2040d0ff };
  for (guint c = 0; c < G_N_ELEMENTS (classes); c++)
    for (int i = 0; i < 6; i++)
      {
        g_autofree char *folder = g_build_filename (class_folders_dir, classes[c], NULL);
        g_autofree char *name = g_strdup_printf ("%s-%d.png", classes[c], i);
        g_autofree char *path = g_build_filename (folder, name, NULL);
        g_autoptr (GdkPixbuf) picture = gdk_pixbuf_new (GDK_COLORSPACE_RGB, TRUE, 8, 32, 32);
        g_autoptr (GdkPixbuf) stripe = gdk_pixbuf_new_subpixbuf (picture, 4 * i, 0, 4, 32);
        g_assert_cmpint (g_mkdir_with_parents (folder, 0755), ==, 0);
        gdk_pixbuf_fill (picture, colours[c]);
        gdk_pixbuf_fill (stripe, 0xf0f0f0ff);
        g_assert_true (gdk_pixbuf_save (picture, path, "png", &error, NULL));
        g_assert_no_error (error);
      }
}

/* ---------------------------------------------------------------- search */

static void
test_search (void)
{
  g_autofree char *folder = q (sample_dir);
  g_autofree char *scene = g_build_filename (sample_dir, "scene_640x480.png", NULL);
  g_autofree char *scene_json = q (scene);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"search\"},"
    "{\"do\": \"wait-index\"},"
    "{\"do\": \"screenshot\", \"file\": \"search-empty.png\"},"                     /* 5 */
    "{\"do\": \"search\", \"text\": \"-people\"},"
    "{\"do\": \"search\", \"text\": \"a colourful palette -noise\"},"
    "{\"do\": \"wait-thumbnails\"},"
    "{\"do\": \"screenshot\", \"file\": \"search.png\"},"
    "{\"do\": \"find-similar\", \"path\": %s},"                                   /* 10 */
    "{\"do\": \"search\", \"text\": \"-noise\"},"
    "{\"do\": \"wait-thumbnails\"},"
    "{\"do\": \"screenshot\", \"file\": \"search-similar.png\"},"
    "{\"do\": \"set-style\", \"style\": \"dark\"},"
    "{\"do\": \"search\", \"text\": \"grey static noise\"},"                    /* 15 */
    "{\"do\": \"wait-thumbnails\"},"
    "{\"do\": \"screenshot\", \"file\": \"search-dark.png\"}",
    folder, scene_json);
  g_autoptr (AppRun) run = app_run ("search", TINY_MODEL_ARGS, steps, NULL);

  /* The index: every image, broken.png skipped and named. */
  JsonObject *indexed = step (run, 4);
  g_assert_cmpint (json_object_get_int_member (indexed, "n_indexed"), ==, N_SAMPLE_IMAGES);
  g_assert_cmpstr (member_string (indexed, "index_status"), ==, "10 images indexed; 1 file skipped");
  g_assert_cmpstr (member_string (indexed, "page"), ==, "prompt");

  /* Only a term to avoid: nothing to look for yet. */
  JsonObject *negative = step (run, 6);
  g_assert_cmpstr (member_string (negative, "page"), ==, "prompt");
  g_assert_nonnull (strstr (member_string (negative, "summary"), "only say what to avoid"));

  /* "a colourful palette -noise": one added and one subtracted text; every image, best first. */
  const ClipQueryTerm palette[] = { { .text = "a colourful palette", .weight = 1 }, { .text = "noise", .weight = -1 } };
  check_ranking (step (run, 7), palette, 2, NULL);
  g_assert_cmpstr (member_string (step (run, 7), "summary"), ==,
                   "Looking for “a colourful palette”, without “noise” — 10 images, best first");

  /* Find similar: the other images, best first (the image itself is no result). */
  const ClipQueryTerm by_image[] = { { .image = scene, .weight = 1 } };
  check_ranking (step (run, 10), by_image, 1, scene);

  /* Words typed after "find similar" refine the image query. */
  const ClipQueryTerm image_not_noise[] = { { .image = scene, .weight = 1 }, { .text = "noise", .weight = -1 } };
  check_ranking (step (run, 11), image_not_noise, 2, scene);
  const ClipQueryTerm image_and_noise[] = { { .image = scene, .weight = 1 }, { .text = "grey static noise", .weight = 1 } };
  check_ranking (step (run, 15), image_and_noise, 2, scene);
}

static void
test_search_while_indexing (void)
{
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "many", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (cli_generate_shapes (dir, N_MANY_IMAGES, 1, 64, NULL, &error));
  g_assert_no_error (error);

  g_autofree char *folder = q (dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"search\"},"                                 /* indexing starts */
    "{\"do\": \"search\", \"text\": \"a red circle\"},"
    "{\"do\": \"screenshot\", \"file\": \"search-indexing.png\", \"delay\": 0},"  /* 5 */
    "{\"do\": \"cancel-index\"},"
    "{\"do\": \"search\", \"text\": \"a small blue square\", \"timeout\": 10},"
    "{\"do\": \"index\"},"
    "{\"do\": \"search\", \"text\": \"a small blue circle\"}",
    folder);
  g_autoptr (AppRun) run = app_run ("search-while-indexing", TINY_MODEL_ARGS, steps, NULL);

  /* Results while the index is being built: what is indexed so far, said so. */
  JsonObject *partial = step (run, 4);
  gint64 n_partial = json_object_get_int_member (partial, "n_indexed");
  g_test_message ("searched %" G_GINT64_FORMAT " of %d images while indexing", n_partial, N_MANY_IMAGES);
  g_assert_cmpint (n_partial, <, N_MANY_IMAGES);
  if (n_partial > 0)
    {
      g_assert_cmpstr (member_string (partial, "page"), ==, "results");
      g_assert_nonnull (strstr (member_string (partial, "summary"), "indexed so far)"));
    }

  /* Stopping: at once, and the searchable part stays searchable. */
  JsonObject *cancel = step (run, 6);
  g_assert_true (json_object_get_boolean_member (cancel, "was_running"));
  g_assert_cmpfloat (json_object_get_double_member (cancel, "cancel_ms"), <, 50);
  g_assert_true (g_str_has_prefix (member_string (cancel, "index_status"), "Indexing stopped: "));
  JsonObject *after = step (run, 7);
  gint64 n_after = json_object_get_int_member (after, "n_indexed");
  g_assert_cmpint (n_after, <, N_MANY_IMAGES);
  g_assert_cmpint (n_after, >=, n_partial);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (after, "results")), ==, MIN (n_after, RESULTS_PAGE));

  /* Continuing finishes it, and every image is searchable (the CSV and text files are named as
   * skipped). */
  JsonObject *done = step (run, 8);
  assert_responsive (done, "indexing");
  g_autofree char *status = g_strdup_printf ("%d images indexed; 3 files skipped", N_MANY_IMAGES);
  g_assert_cmpint (json_object_get_int_member (done, "n_indexed"), ==, N_MANY_IMAGES);
  g_assert_cmpstr (member_string (done, "index_status"), ==, status);
  /* The first page of results, and more to come as the user scrolls. */
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (step (run, 9), "results")), ==, RESULTS_PAGE);
  g_assert_true (json_object_get_boolean_member (step (run, 9), "has_more"));
}

/* The precision preference: changing it loads the model again at that precision (the session's
 * model info says which), and the photo index is kept per precision: indexing the folder again at
 * int8, then at bf16, makes an index file for each beside float32's instead of mixing embeddings in
 * one. */
static void
test_precision (void)
{
  g_autofree char *folder = q (sample_dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"search\"},"
    "{\"do\": \"wait-index\"},"
    "{\"do\": \"settings\", \"settings\": {\"precision\": \"int8\"}},"
    "{\"do\": \"wait-model\"},"                                               /* 5 */
    "{\"do\": \"index\"},"
    "{\"do\": \"settings\", \"settings\": {\"precision\": \"bf16\"}},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"index\"},"
    "{\"do\": \"model-details\"},"                                            /* 10 */
    "{\"do\": \"close-dialogs\"},"
    "{\"do\": \"settings\", \"settings\": {\"precision\": \"auto\"}},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"model-details\"},"                                            /* 14 */
    "{\"do\": \"close-dialogs\"},"
    "{\"do\": \"settings\", \"settings\": {\"precision\": \"f32\"}},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"model-details\"}",                                            /* 18 */
    folder);
  g_autoptr (AppRun) run = app_run ("precision", TINY_MODEL_ARGS, steps, NULL);

  g_assert_cmpstr (member_string (step (run, 0), "model_precision"), ==, "f32");
  g_assert_cmpint (json_object_get_int_member (step (run, 3), "n_indexed"), ==, N_SAMPLE_IMAGES);
  g_assert_cmpstr (member_string (step (run, 5), "model_precision"), ==, "int8");
  g_assert_cmpint (json_object_get_int_member (step (run, 6), "n_indexed"), ==, N_SAMPLE_IMAGES);
  g_assert_cmpstr (member_string (step (run, 8), "model_precision"), ==, "bf16");
  g_assert_cmpint (json_object_get_int_member (step (run, 9), "n_indexed"), ==, N_SAMPLE_IMAGES);

  /* The model dialog says what runs the products, and when Automatic chose it. */
  g_autofree char *bf16 = g_strdup_printf ("BFloat16 (%s kernels)", clip_precision_kernel_name (CLIP_PRECISION_BF16));
  g_assert_cmpstr (member_string (step (run, 10), "arithmetic"), ==, bf16);
  const char *chosen = member_string (step (run, 13), "model_precision");
  ClipPrecision automatic;
  g_assert_true (clip_precision_from_name (chosen, &automatic));
  g_autofree char *shown = automatic == CLIP_PRECISION_F32
                           ? g_strdup ("Float32 (exact)")
                           : g_strdup_printf ("%s (%s kernels)", automatic == CLIP_PRECISION_BF16 ? "BFloat16" : "Int8",
                                              clip_precision_kernel_name (automatic));
  g_autofree char *by_automatic = g_strdup_printf ("%s, chosen by Automatic", shown);
  g_assert_cmpstr (member_string (step (run, 14), "arithmetic"), ==, by_automatic);
  g_assert_cmpstr (member_string (step (run, 18), "arithmetic"), ==, "Float32 (exact)");

  /* Three index files of the folder: float32's, int8's and bf16's. */
  g_autofree char *index_dir = g_build_filename (tu_tmpdir (), "precision.home", "cache", "cliplab", "index", NULL);
  g_autoptr (GDir) dir = g_dir_open (index_dir, 0, NULL);
  g_assert_nonnull (dir);
  int n_indexes = 0;
  for (const char *name; (name = g_dir_read_name (dir)) != NULL;)
    n_indexes += !g_str_has_suffix (name, ".lock");
  g_assert_cmpint (n_indexes, ==, 3);
}

/* ---------------------------------------------------------------- training */

static char *
train_settings (int max_steps)
{
  g_autofree char *train = g_build_filename (shapes_dir, "train.csv", NULL);
  g_autofree char *val = g_build_filename (shapes_dir, "test.csv", NULL);
  g_autofree char *train_json = q (train);
  g_autofree char *val_json = q (val);
  return g_strdup_printf ("{\"do\": \"train-settings\", \"settings\": {\"train-csv\": %s, \"train-val-csv\": %s, "
                          "\"train-model\": \"small\", \"train-batch-size\": 8, \"train-max-steps\": %d, "
                          "\"train-save-every\": 0}}",
                          train_json, val_json, max_steps);
}

/* The losses logged in LOG for each step. */
static GHashTable *
logged_losses_in (const char *log)
{
  g_autofree char *text = NULL;
  GHashTable *losses = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);

  g_assert_true (g_file_get_contents (log, &text, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    {
      if (**line == '\0')
        continue;
      g_autoptr (JsonNode) node = json_from_string (*line, NULL);
      JsonObject *object = json_node_get_object (node);
      if (!json_object_has_member (object, "loss"))
        continue;
      gint64 step_number = json_object_get_int_member (object, "step");
      double loss = json_object_get_double_member (object, "loss");
      g_hash_table_insert (losses, g_memdup2 (&step_number, sizeof step_number), g_memdup2 (&loss, sizeof loss));
    }
  return losses;
}

/* The losses the library logged for each step of the run in OUT_DIR (log.jsonl). */
static GHashTable *
logged_losses (const char *out_dir)
{
  g_autofree char *log = g_build_filename (out_dir, "log.jsonl", NULL);
  return logged_losses_in (log);
}

/* Training on a folder of class folders (the Train view's data chooser takes folders): captions
 * from the templates, a few steps, a model at the end. */
static void
test_train_class_folders (void)
{
  g_autofree char *folder = q (class_folders_dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"train\"},"
    "{\"do\": \"train-settings\", \"settings\": {\"train-csv\": %s, \"train-val-csv\": \"\", "
    "\"train-model\": \"small\", \"train-batch-size\": 6, \"train-max-steps\": 4, \"train-save-every\": 0}},"
    "{\"do\": \"train-start\", \"timeout\": 120}",
    folder);
  g_autoptr (AppRun) run = app_run ("train-class-folders", TINY_MODEL_ARGS, steps, NULL);

  JsonObject *trained = step (run, 3);
  g_assert_cmpstr (member_string (trained, "state"), ==, "finished");
  g_assert_cmpint (json_object_get_int_member (trained, "n_points"), ==, 4);
  const char *out_dir = member_string (trained, "out_dir");
  g_autofree char *model_path = g_build_filename (out_dir, "model.safetensors", NULL);
  g_assert_true (g_file_test (model_path, G_FILE_TEST_IS_REGULAR));
  g_autoptr (GHashTable) losses = logged_losses (out_dir);
  g_assert_cmpuint (g_hash_table_size (losses), ==, 4);
}

static void
test_train (void)
{
  g_autofree char *settings = train_settings (TRAIN_STEPS);
  g_autofree char *png = g_build_filename (app_run_screenshot_dir (), "chart.png", NULL);
  g_autofree char *svg = g_build_filename (app_run_screenshot_dir (), "chart.svg", NULL);
  g_autofree char *png_json = q (png);
  g_autofree char *svg_json = q (svg);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"train\"},"
    "{\"do\": \"screenshot\", \"file\": \"train-empty.png\"},"
    "%s,"
    "{\"do\": \"train-start\", \"timeout\": 120},"                                 /* 5 */
    "{\"do\": \"chart-hover\", \"step\": 12.3},"
    "{\"do\": \"screenshot\", \"file\": \"train.png\"},"
    "{\"do\": \"save-chart\", \"path\": %s, \"width\": 900, \"height\": 540},"
    "{\"do\": \"save-chart\", \"path\": %s, \"width\": 900, \"height\": 540},"
    "{\"do\": \"train-use-model\"},"                                               /* 10 */
    "{\"do\": \"set-style\", \"style\": \"dark\"},"
    "{\"do\": \"screenshot\", \"file\": \"train-dark.png\"}",
    settings, png_json, svg_json);
  g_autoptr (AppRun) run = app_run ("train", TINY_MODEL_ARGS, steps, NULL);

  JsonObject *trained = step (run, 5);
  g_assert_cmpstr (member_string (trained, "state"), ==, "finished");
  assert_responsive (trained, "training");
  const char *out_dir = member_string (trained, "out_dir");
  g_autofree char *model_path = g_build_filename (out_dir, "model.safetensors", NULL);
  g_assert_cmpstr (member_string (trained, "model_path"), ==, model_path);

  /* Every step reached the chart, in order, with the library's own losses; the smoothed curve is
   * TensorBoard's de-biased EMA (weight 0.6) of them. */
  JsonArray *points = json_object_get_array_member (trained, "points");
  g_assert_cmpint (json_object_get_int_member (trained, "n_points"), ==, TRAIN_STEPS);
  g_assert_cmpuint (json_array_get_length (points), ==, TRAIN_STEPS);
  g_autoptr (GHashTable) losses = logged_losses (out_dir);
  g_assert_cmpuint (g_hash_table_size (losses), ==, TRAIN_STEPS);
  double ema = 0, weight = 0.6;
  for (guint i = 0; i < TRAIN_STEPS; i++)
    {
      JsonObject *point = json_array_get_object_element (points, i);
      gint64 step_number = json_object_get_int_member (point, "step");
      g_assert_cmpint (step_number, ==, i + 1);
      g_assert_cmpint (json_object_get_int_member (point, "epoch"), ==, i / STEPS_PER_EPOCH + 1);
      double loss = json_object_get_double_member (point, "loss");
      double *logged = g_hash_table_lookup (losses, &step_number);
      g_assert_nonnull (logged);
      g_assert_cmpfloat_with_epsilon (loss, *logged, 1e-12 * fabs (*logged));
      g_assert_true (isfinite (loss) && loss > 0);
      ema = ema * weight + (1 - weight) * loss;
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (point, "smoothed"),
                                      ema / (1 - pow (weight, i + 1)), 1e-12);
    }
  /* The learning rate decays to 0 on the cosine schedule. */
  double first_lr = json_object_get_double_member (json_array_get_object_element (points, 0), "lr");
  double last_lr = json_object_get_double_member (json_array_get_object_element (points, TRAIN_STEPS - 1), "lr");
  g_assert_cmpfloat (first_lr, >, last_lr);

  /* Validation after each epoch and at the last step: 6, 12, 18, 20. */
  JsonArray *evals = json_object_get_array_member (trained, "evals");
  const int eval_steps[] = { 6, 12, 18, 20 };
  g_assert_cmpuint (json_array_get_length (evals), ==, G_N_ELEMENTS (eval_steps));
  for (guint i = 0; i < G_N_ELEMENTS (eval_steps); i++)
    {
      JsonObject *eval = json_array_get_object_element (evals, i);
      g_assert_cmpint (json_object_get_int_member (eval, "step"), ==, eval_steps[i]);
      double r1 = json_object_get_double_member (eval, "image_to_text_r1");
      double zero_shot = json_object_get_double_member (eval, "zero_shot_top1");
      g_assert_cmpfloat (r1, >=, 0);
      g_assert_cmpfloat (r1, <=, 1);
      g_assert_cmpfloat (zero_shot, >=, 0);   /* the shapes' test.csv has labels */
    }

  /* Hovering at 12.3 shows the nearest step, 12. */
  const char *hover = member_string (step (run, 6), "hover");
  g_assert_nonnull (hover);
  g_assert_true (g_str_has_prefix (hover, "Step 12 · epoch 2\nLoss "));

  /* The chart as files: a 900 × 540 PNG and an SVG document. */
  g_assert_true (json_object_get_boolean_member (step (run, 8), "ok"));
  g_assert_true (json_object_get_boolean_member (step (run, 9), "ok"));
  g_autoptr (GError) error = NULL;
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file (png, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_pixbuf_get_width (pixbuf), ==, 900);
  g_assert_cmpint (gdk_pixbuf_get_height (pixbuf), ==, 540);
  g_autofree char *svg_text = NULL;
  g_assert_true (g_file_get_contents (svg, &svg_text, NULL, NULL));
  g_assert_true (g_str_has_prefix (svg_text, "<?xml"));
  g_assert_nonnull (strstr (svg_text, "<svg"));
  g_assert_nonnull (strstr (svg_text, "width=\"900pt\""));

  /* "Use This Model" loads the trained model, which the library loads too. */
  JsonObject *used = step (run, 10);
  g_assert_cmpstr (member_string (used, "model_state"), ==, "ready");
  g_assert_cmpstr (member_string (used, "model_path"), ==, model_path);
  g_autoptr (ClipModel) model = clip_model_load (model_path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_model_get_config (model)->image_size, ==, 32);
}

static void
test_pause_stop_continue (void)
{
  g_autofree char *settings = train_settings (2000);
  g_autofree char *folder = q (sample_dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"train\"},"
    "%s,"
    "{\"do\": \"train-start\", \"wait\": false},"                                  /* 5 */
    "{\"do\": \"train-wait-steps\", \"steps\": 3, \"timeout\": 120},"
    "{\"do\": \"screenshot\", \"file\": \"train-running.png\", \"delay\": 0},"
    "{\"do\": \"train-pause\"},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"select\", \"view\": \"classify\", \"index\": 8},"              /* 10 */
    "{\"do\": \"set-classes\", \"text\": \"red, blue\"},"
    "{\"do\": \"wait-probs\", \"timeout\": 20},"
    "{\"do\": \"view\", \"name\": \"train\"},"
    "{\"do\": \"train-resume\", \"wait\": false},"
    "{\"do\": \"train-wait-steps\", \"steps\": 12, \"timeout\": 120},"          /* 15 */
    "{\"do\": \"train-stop\"},"
    "{\"do\": \"screenshot\", \"file\": \"train-stopped.png\"}",
    folder, settings);
  g_autoptr (AppRun) run = app_run ("pause-stop", TINY_MODEL_ARGS, steps, NULL);

  /* Paused: a checkpoint of the step reached, offered as the model to use. */
  JsonObject *paused = step (run, 8);
  g_assert_cmpstr (member_string (paused, "state"), ==, "paused");
  gint64 n_paused = json_object_get_int_member (paused, "n_points");
  g_assert_cmpint (n_paused, >=, 3);
  const char *out_dir = member_string (paused, "out_dir");
  g_autofree char *checkpoint = clip_train_run_checkpoint_path (out_dir, n_paused);
  g_assert_cmpstr (member_string (paused, "model_path"), ==, checkpoint);
  g_assert_true (g_file_test (checkpoint, G_FILE_TEST_IS_REGULAR));

  /* While paused, the model worker answers the Classify view again. */
  g_assert_null (member_string (step (run, 12), "hint"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (step (run, 12), "rows")), ==, 2);

  /* Stopped: later than the pause, with its own checkpoint, and no final model. */
  JsonObject *stopped = step (run, 16);
  g_assert_cmpstr (member_string (stopped, "was"), ==, "running");
  g_assert_cmpstr (member_string (stopped, "state"), ==, "stopped");
  gint64 n_stopped = json_object_get_int_member (stopped, "n_points");
  g_assert_cmpint (n_stopped, >=, 12);
  g_assert_cmpint (n_stopped, <, 2000);
  g_autofree char *last_checkpoint = clip_train_run_checkpoint_path (out_dir, n_stopped);
  g_assert_true (g_file_test (last_checkpoint, G_FILE_TEST_IS_REGULAR));
  g_autofree char *final_model = clip_train_run_model_path (out_dir);
  g_assert_false (g_file_test (final_model, G_FILE_TEST_EXISTS));

  /* Continuing the stopped run from its folder: the chart shows its history from the log, then new
   * steps, and the logged losses of the continuation match the chart. */
  g_autofree char *dir_json = q (out_dir);
  g_autofree char *steps2 = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"train\"},"
    "{\"do\": \"train-continue\", \"path\": %s, \"wait\": false},"
    "{\"do\": \"train-wait-steps\", \"steps\": %" G_GINT64_FORMAT ", \"timeout\": 120},"
    "{\"do\": \"train-stop\"}",
    dir_json, n_stopped + 4);
  g_autoptr (AppRun) run2 = app_run ("continue", TINY_MODEL_ARGS, steps2, NULL);
  JsonObject *continued = step (run2, 4);
  g_assert_cmpstr (member_string (continued, "state"), ==, "stopped");
  JsonArray *points = json_object_get_array_member (continued, "points");
  guint n = json_array_get_length (points);
  g_assert_cmpuint (n, >=, n_stopped + 4);
  g_autoptr (GHashTable) losses = logged_losses (out_dir);
  for (guint i = 0; i < n; i++)
    {
      JsonObject *point = json_array_get_object_element (points, i);
      gint64 step_number = json_object_get_int_member (point, "step");
      g_assert_cmpint (step_number, ==, i + 1);
      double *logged = g_hash_table_lookup (losses, &step_number);
      g_assert_nonnull (logged);
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (point, "loss"), *logged, 1e-12 * fabs (*logged));
    }
}

/* ---------------------------------------------------------------- following another process's run */

#define FOLLOW_FIRST 6      /* steps the run has logged when the view starts following it */
#define FOLLOW_LAST  16     /* the writer appends the steps after it, one every 100 ms */

/* A run of FOLLOW_FIRST steps written into DIR by the library, as `cliplab-cli train --log-json LOG`
 * would write it, still going: its final model removed, so the newest checkpoint is what "Use This
 * Model" loads. */
static void
make_run_to_follow (const char *dir, const char *log)
{
  GError *error = NULL;
  ClipTrainRunConfig config;
  clip_train_run_config_init (&config);
  config.csv_path = g_build_filename (shapes_dir, "train.csv", NULL);
  config.image_root = g_strdup (shapes_dir);
  config.out_dir = g_strdup (dir);
  config.log_json_path = g_strdup (log);
  config.tokenizer = g_strdup ("bytes");
  config.image_size = 32;
  config.patch_size = 8;
  config.vision_width = config.text_width = config.embed_dim = 32;
  config.vision_layers = config.text_layers = 1;
  config.vision_heads = config.text_heads = 2;
  config.context_length = 24;
  config.batch_size = 8;
  config.max_steps = FOLLOW_FIRST;
  config.warmup_steps = 0;
  config.save_every = 3;
  g_autoptr (ClipTrainRun) run = clip_train_run_new (&config, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (clip_train_run_run (run, &error));
  g_assert_no_error (error);
  clip_train_run_config_clear (&config);
  g_autofree char *model = clip_train_run_model_path (dir);
  g_assert_cmpint (g_unlink (model), ==, 0);
}

/* Another process appending steps (and a validation after step 12) to the log once MARKER exists
 * (the view follows by then); it writes the real time just before its last append, in µs, to STAMP. */
static GPid
spawn_log_writer (const char *marker, const char *log, const char *stamp)
{
  const char *script =
    "n=0; while [ ! -e \"$1\" ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done\n"
    "i=$4; while [ $i -le $5 ]; do\n"
    "  [ $i -eq $5 ] && date +%s%6N > \"$3\"\n"
    "  printf '{\"step\":%d,\"epoch\":2,\"loss\":%s,\"lr\":0.001,\"logit_scale\":2.6,\"grad_norm\":0.5,"
    "\"images_per_s\":100}\\n' $i \"1.$i\" >> \"$2\"\n"
    "  [ $i -eq 12 ] && printf '{\"step\":12,\"epoch\":2,\"validation\":{\"n\":12,\"image_to_text\":{\"R@1\":0.25,"
    "\"R@5\":0.5,\"R@10\":1},\"text_to_image\":{\"R@1\":0.125,\"R@5\":0.5,\"R@10\":1},"
    "\"zero_shot\":{\"top1\":0.75,\"top5\":1}}}\\n' >> \"$2\"\n"
    "  sleep 0.1; i=$((i + 1))\n"
    "done\n";
  g_autofree char *first = g_strdup_printf ("%d", FOLLOW_FIRST + 1);
  g_autofree char *last = g_strdup_printf ("%d", FOLLOW_LAST);
  const char *argv[] = { "/bin/sh", "-c", script, "writer", marker, log, stamp, first, last, NULL };
  GPid pid;
  GError *error = NULL;
  g_assert_true (g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error));
  g_assert_no_error (error);
  return pid;
}

static void
test_follow (void)
{
  /* The log outside the run's folder, which holds another *.jsonl file: the view finds the log
   * through the run's checkpoints. */
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "followed-run", NULL);
  g_autofree char *log = g_build_filename (tu_tmpdir (), "followed-run.jsonl", NULL);
  make_run_to_follow (dir, log);
  g_autofree char *decoy = g_build_filename (dir, "notes.jsonl", NULL);
  tu_write_file (decoy, "{}\n", 3);
  g_autoptr (GHashTable) first_losses = logged_losses_in (log);
  g_assert_cmpint (g_hash_table_size (first_losses), ==, FOLLOW_FIRST);
  g_autofree char *stamp = g_build_filename (tu_tmpdir (), "follow-stamp", NULL);
  g_autofree char *marker = g_build_filename (app_run_screenshot_dir (), "train-following.png", NULL);
  g_unlink (marker);
  GPid writer = spawn_log_writer (marker, log, stamp);

  g_autofree char *dir_json = q (dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"train\"},"
    "{\"do\": \"train-follow\", \"path\": %s, \"steps\": %d},"                    /* 3 */
    "{\"do\": \"screenshot\", \"file\": \"train-following.png\"},"
    "{\"do\": \"train-wait-points\", \"steps\": %d, \"timeout\": 60},"             /* 5 */
    "{\"do\": \"train-use-model\"}",                                               /* 6 */
    dir_json, FOLLOW_FIRST, FOLLOW_LAST);
  g_autoptr (AppRun) run = app_run ("follow", TINY_MODEL_ARGS, steps, NULL);
  int status;
  g_assert_cmpint (waitpid (writer, &status, 0), ==, writer);
  g_spawn_close_pid (writer);

  /* What the run had logged, drawn as logged. */
  JsonObject *following = step (run, 3);
  g_assert_cmpstr (member_string (following, "state"), ==, "following");
  g_assert_cmpstr (member_string (following, "out_dir"), ==, dir);
  JsonArray *points = json_object_get_array_member (following, "points");
  g_assert_cmpint (json_array_get_length (points), >=, FOLLOW_FIRST);
  for (guint i = 0; i < FOLLOW_FIRST; i++)
    {
      JsonObject *point = json_array_get_object_element (points, i);
      gint64 step_number = json_object_get_int_member (point, "step");
      double *want = g_hash_table_lookup (first_losses, &step_number);
      g_assert_nonnull (want);
      g_assert_cmpfloat (json_object_get_double_member (point, "loss"), ==, *want);
    }

  /* The lines appended while it followed, each drawn within a second. */
  JsonObject *grown = step (run, 5);
  g_assert_cmpint (json_object_get_int_member (grown, "n_points"), ==, FOLLOW_LAST);
  JsonArray *all = json_object_get_array_member (grown, "points");
  JsonObject *last = json_array_get_object_element (all, FOLLOW_LAST - 1);
  g_assert_cmpint (json_object_get_int_member (last, "step"), ==, FOLLOW_LAST);
  g_assert_cmpfloat (fabs (json_object_get_double_member (last, "loss") - 1.16), <, 1e-12);
  g_autofree char *stamp_text = NULL;
  g_assert_true (g_file_get_contents (stamp, &stamp_text, NULL, NULL));
  gint64 appended_us = g_ascii_strtoll (stamp_text, NULL, 10);
  gint64 drawn_us = json_object_get_int_member (grown, "wall_us");
  g_test_message ("the last line was drawn %.0f ms after it was appended", (drawn_us - appended_us) / 1e3);
  /* Sanitizer builds run several times slower: build-aux/sanitize.sh widens the bound. */
  const char *scale_text = g_getenv ("CLIPLAB_TEST_TIME_SCALE");
  double scale = scale_text != NULL ? MAX (g_ascii_strtod (scale_text, NULL), 1.0) : 1.0;
  g_assert_cmpfloat (drawn_us - appended_us, <=, G_USEC_PER_SEC * scale);
  JsonArray *evals = json_object_get_array_member (grown, "evals");
  g_assert_cmpint (json_array_get_length (evals), ==, 1);
  JsonObject *eval = json_array_get_object_element (evals, 0);
  g_assert_cmpint (json_object_get_int_member (eval, "step"), ==, 12);
  g_assert_cmpfloat (json_object_get_double_member (eval, "image_to_text_r1"), ==, 0.25);
  g_assert_cmpfloat (json_object_get_double_member (eval, "text_to_image_r1"), ==, 0.125);
  g_assert_cmpfloat (json_object_get_double_member (eval, "zero_shot_top1"), ==, 0.75);

  /* "Use This Model" loads the run's newest checkpoint. */
  g_autofree char *checkpoint = clip_train_run_checkpoint_path (dir, FOLLOW_FIRST);
  g_assert_cmpstr (member_string (grown, "model_path"), ==, checkpoint);
  JsonObject *used = step (run, 6);
  g_assert_cmpstr (member_string (used, "model_state"), ==, "ready");
  g_assert_cmpstr (member_string (used, "model_path"), ==, checkpoint);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  if (!app_run_setup ())
    {
      app_run_add_skipped ("/gui-search-train");
      return g_test_run ();
    }
  model_dir = tu_shared_path ("golden/models/tiny_quickgelu/hf");
  make_fixtures ();

  g_test_add_func ("/gui-search-train/search", test_search);
  g_test_add_func ("/gui-search-train/search-while-indexing", test_search_while_indexing);
  g_test_add_func ("/gui-search-train/precision", test_precision);
  g_test_add_func ("/gui-search-train/train", test_train);
  g_test_add_func ("/gui-search-train/train-class-folders", test_train_class_folders);
  g_test_add_func ("/gui-search-train/pause-stop-continue", test_pause_stop_continue);
  g_test_add_func ("/gui-search-train/follow", test_follow);
  return g_test_run ();
}
