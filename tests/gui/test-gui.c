/* test-gui.c — runs the real ClipLab application (under Xvfb: see meson.build) with scripts of steps
 * (the GUI test driver, gui-driver.c) and checks what it shows against the library: the
 * probabilities drawn for the typed classes, whole-folder predictions, data set caption ranking and
 * accuracy, the error shown for a corrupt model, cancelling a long job, the freedesktop thumbnail
 * cache.  Screenshots of every view go to $CLIPLAB_SCREENSHOT_DIR. */
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "clip.h"
#include "gui-app.h"
#include "testutil.h"

#define N_SAMPLE_IMAGES GOLDEN_SAMPLE_IMAGES   /* the folder also holds broken.png */
#define N_MANY_IMAGES   1500     /* for the cancellation test */

static char *sample_dir;         /* golden images + broken.png */
static char *model_dir;          /* the tiny golden model (byte tokenizer) */

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

/* IMAGE's embedding as the app computes it: the file read as its folder's search index reads it (a
 * large JPEG at reduced size), so that stored and live embeddings agree. */
static void
encode_as_app (ClipModel *model, const char *image, float *embed)
{
  const int size = clip_model_get_config (model)->image_size;
  g_autofree float *pixels = g_new (float, (gsize) 3 * size * size);
  g_autoptr (GError) error = NULL;

  clip_index_preprocess_file (model, NULL, image, pixels, &error);
  g_assert_no_error (error);
  clip_model_encode_images (model, pixels, 1, embed, NULL, &error);
  g_assert_no_error (error);
}

/* Zero-shot probabilities of IMAGE for CLASSES with the built-in template set TEMPLATES. */
static float *
expected_probs (const char *image, const char *const *classes, const char *templates_name)
{
  ClipModel *model = tiny_model ();
  const int dim = clip_model_get_config (model)->embed_dim;
  const int n = g_strv_length ((char **) classes);
  int n_templates = 0;
  const char *const *templates = clip_templates_builtin (templates_name, &n_templates);
  g_autofree float *weights = g_new (float, n * dim);
  g_autofree float *embed = g_new (float, dim);
  float *probs = g_new (float, n);
  g_autoptr (GError) error = NULL;

  clip_zero_shot_classifier (model, classes, n, templates, n_templates, weights, NULL, &error);
  g_assert_no_error (error);
  encode_as_app (model, image, embed);
  clip_zero_shot_probs (model, embed, 1, weights, n, probs);
  return probs;
}

static int
argmax (const float *values, int n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    if (values[i] > values[best])
      best = i;
  return best;
}

/* The rows a wait-probs report shows must be CLASSES' probabilities for its image, best first. */
static void
check_probs (JsonObject *report, const char *const *classes, const char *templates_name)
{
  g_assert_null (member_string (report, "hint"));
  const char *image = member_string (report, "image");
  g_autofree float *want = expected_probs (image, classes, templates_name);
  JsonArray *rows = json_object_get_array_member (report, "rows");
  const guint n = g_strv_length ((char **) classes);

  g_assert_cmpuint (json_array_get_length (rows), ==, n);
  double previous = 2;
  for (guint r = 0; r < n; r++)
    {
      JsonObject *row = json_array_get_object_element (rows, r);
      const char *label = member_string (row, "label");
      double value = json_object_get_double_member (row, "value");
      guint c = 0;
      while (c < n && strcmp (classes[c], label) != 0)
        c++;
      g_assert_cmpuint (c, <, n);
      g_assert_cmpfloat_with_epsilon (value, want[c], 1e-5);
      g_assert_cmpfloat (value, <=, previous);
      previous = value;
      g_autofree char *shown = g_strdup_printf ("%.1f %%", 100.0 * want[c]);
      g_assert_cmpstr (member_string (row, "shown"), ==, shown);
    }
}

/* ---------------------------------------------------------------- tests */

static void
test_browse_and_thumbnail_cache (void)
{
  g_autofree char *folder = q (sample_dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-open\", \"path\": %s},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"select\", \"index\": 8},"
    "{\"do\": \"wait-thumbnails\"},"
    "{\"do\": \"screenshot\", \"file\": \"browse.png\"},"
    "{\"do\": \"wait-first-frame\"}", folder);
  g_autofree char *cache_home = g_build_filename (tu_tmpdir (), "browse-cache", NULL);
  g_autofree char *cache_env = g_strconcat ("XDG_CACHE_HOME=", cache_home, NULL);
  const char *env[] = { cache_env, NULL };
  const char *args[] = { "--model", model_dir, "--tokenizer", "bytes", sample_dir, NULL };

  /* Started on the folder, as `cliplab FOLDER` would be. */
  g_autoptr (AppRun) first = app_run ("browse-1", args, steps, env);
  g_assert_cmpint (json_object_get_int_member (step (first, 0), "n_items"), ==, N_SAMPLE_IMAGES + 1);
  g_assert_cmpstr (member_string (step (first, 0), "page"), ==, "content");
  g_assert_cmpstr (member_string (step (first, 1), "model_state"), ==, "ready");
  JsonObject *thumbs = step (first, 3);
  g_assert_cmpint (json_object_get_int_member (thumbs, "decoded"), ==, N_SAMPLE_IMAGES);
  g_assert_cmpint (json_object_get_int_member (thumbs, "from_cache"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (thumbs, "failed"), ==, 1);
  g_test_message ("the window's first frame was painted %.0f ms after launch",
                  (json_object_get_int_member (step (first, 5), "first_frame_us") - first->spawn_time) / 1000.0);

  /* Thumbnails of images larger than 128 px went to the shared cache, named and tagged per the
   * Thumbnail Managing Standard. */
  g_autofree char *image = g_build_filename (sample_dir, "scene_640x480.png", NULL);
  g_autofree char *uri = g_filename_to_uri (image, NULL, NULL);
  g_autofree char *md5 = g_compute_checksum_for_string (G_CHECKSUM_MD5, uri, -1);
  g_autofree char *thumb_name = g_strconcat (md5, ".png", NULL);
  g_autofree char *thumb = g_build_filename (cache_home, "thumbnails", "normal", thumb_name, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file (thumb, &error);
  g_assert_no_error (error);
  g_assert_cmpint (MAX (gdk_pixbuf_get_width (pixbuf), gdk_pixbuf_get_height (pixbuf)), ==, 128);
  g_assert_cmpstr (gdk_pixbuf_get_option (pixbuf, "tEXt::Thumb::URI"), ==, uri);
  GStatBuf st;
  g_assert_cmpint (g_stat (image, &st), ==, 0);
  g_autofree char *mtime = g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) st.st_mtime);
  g_assert_cmpstr (gdk_pixbuf_get_option (pixbuf, "tEXt::Thumb::MTime"), ==, mtime);
  g_assert_cmpint (g_stat (thumb, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  /* A second start reads them back: all but small_100x80.png, which is below thumbnail size. */
  g_autoptr (AppRun) second = app_run ("browse-2", args, steps, env);
  thumbs = step (second, 3);
  g_assert_cmpint (json_object_get_int_member (thumbs, "from_cache"), ==, N_SAMPLE_IMAGES - 1);
  g_assert_cmpint (json_object_get_int_member (thumbs, "decoded"), ==, 1);
}

static void
test_classify (void)
{
  g_autofree char *folder = q (sample_dir);
  g_autofree char *export_path = g_build_filename (tu_tmpdir (), "results.csv", NULL);
  g_autofree char *export_json = q (export_path);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"select\", \"view\": \"classify\", \"index\": 8},"
    "{\"do\": \"set-classes\", \"text\": \"noise, gradient,\\nphoto, stripes\"},"   /* 5 */
    "{\"do\": \"wait-probs\"},"
    "{\"do\": \"set-templates\", \"preset\": \"openai7\"},"
    "{\"do\": \"wait-probs\"},"
    "{\"do\": \"set-classes\", \"text\": \"noise, gradient, photo, stripes, cat\"},"
    "{\"do\": \"wait-probs\"},"                                                     /* 10 */
    "{\"do\": \"classify-all\"},"
    "{\"do\": \"wait-thumbnails\"},"
    "{\"do\": \"screenshot\", \"file\": \"classify.png\"},"
    "{\"do\": \"sort\", \"by\": \"confidence\"},"
    "{\"do\": \"filter\", \"class\": \"stripes\"},"                                  /* 15 */
    "{\"do\": \"export\", \"path\": %s}",
    folder, export_json);
  const char *args[] = { "--model", model_dir, "--tokenizer", "bytes", NULL };
  g_autoptr (AppRun) run = app_run ("classify", args, steps, NULL);

  g_assert_cmpint (json_object_get_int_member (step (run, 2), "n_items"), ==, N_SAMPLE_IMAGES + 1);
  const char *four[] = { "noise", "gradient", "photo", "stripes", NULL };
  const char *five[] = { "noise", "gradient", "photo", "stripes", "cat", NULL };
  g_assert_true (g_str_has_suffix (member_string (step (run, 6), "image"), "scene_640x480.png"));
  check_probs (step (run, 6), four, "simple");
  check_probs (step (run, 8), four, "openai7");
  check_probs (step (run, 10), five, "openai7");

  /* Whole folder: every readable image's top class, the unreadable one named in the error bar. */
  JsonObject *all = step (run, 11);
  g_assert_cmpstr (member_string (all, "summary"), ==, "10 images classified; 1 could not be read.");
  JsonObject *bar = json_object_get_object_member (all, "error_bar");
  g_assert_cmpstr (member_string (bar, "title"), ==, "1 image could not be read");
  g_assert_nonnull (strstr (member_string (bar, "detail"), "broken.png"));
  JsonArray *grid = json_object_get_array_member (all, "grid");
  g_assert_cmpuint (json_array_get_length (grid), ==, N_SAMPLE_IMAGES + 1);
  for (guint i = 0; i < json_array_get_length (grid); i++)
    {
      JsonObject *cell = json_array_get_object_element (grid, i);
      const char *path = member_string (cell, "path");
      if (g_str_has_suffix (path, "broken.png"))
        {
          g_assert_null (member_string (cell, "prediction"));
          continue;
        }
      g_autofree float *want = expected_probs (path, five, "openai7");
      int best = argmax (want, 5);
      g_assert_cmpstr (member_string (cell, "prediction"), ==, five[best]);
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (cell, "confidence"), want[best], 1e-5);
    }

  /* Sorted by confidence, then only the images predicted as "stripes" (the tiny model's favourite),
   * still by confidence. */
  guint n_stripes = 0;
  for (guint i = 0; i < json_array_get_length (grid); i++)
    n_stripes += g_strcmp0 (member_string (json_array_get_object_element (grid, i), "prediction"), "stripes") == 0;
  g_assert_cmpuint (n_stripes, >, 0);
  for (int s = 14; s <= 15; s++)
    {
      JsonArray *shown = json_object_get_array_member (step (run, s), "grid");
      g_assert_cmpuint (json_array_get_length (shown), ==, s == 14 ? N_SAMPLE_IMAGES + 1 : n_stripes);
      for (guint i = 1; i < json_array_get_length (shown); i++)
        g_assert_cmpfloat (json_object_get_double_member (json_array_get_object_element (shown, i - 1), "confidence"), >=,
                           json_object_get_double_member (json_array_get_object_element (shown, i), "confidence"));
    }
  grid = json_object_get_array_member (step (run, 15), "grid");
  for (guint i = 0; i < json_array_get_length (grid); i++)
    g_assert_cmpstr (member_string (json_array_get_object_element (grid, i), "prediction"), ==, "stripes");

  /* The export: a header and one row per image the filter shows. */
  g_assert_true (json_object_get_boolean_member (step (run, 16), "ok"));
  g_autofree char *csv = NULL;
  g_assert_true (g_file_get_contents (export_path, &csv, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (csv, "\r\n", -1);
  g_assert_cmpstr (lines[0], ==, "image_path,prediction,confidence,noise,gradient,photo,stripes,cat");
  g_assert_cmpuint (g_strv_length (lines), ==, n_stripes + 2);  /* + header + final empty */
}

/* The grid's confidence of the image at PATH in a poll_folder REPORT (its top class in *PREDICTION). */
static double
grid_confidence (JsonObject *report, const char *path, const char **prediction)
{
  JsonArray *grid = json_object_get_array_member (report, "grid");
  for (guint i = 0; i < json_array_get_length (grid); i++)
    {
      JsonObject *cell = json_array_get_object_element (grid, i);
      if (g_strcmp0 (member_string (cell, "path"), path) != 0)
        continue;
      *prediction = member_string (cell, "prediction");
      return json_object_get_double_member (cell, "confidence");
    }
  g_assert_not_reached ();
}

/* The probability a poll_probs REPORT shows for LABEL. */
static double
live_prob (JsonObject *report, const char *label)
{
  JsonArray *rows = json_object_get_array_member (report, "rows");
  for (guint i = 0; i < json_array_get_length (rows); i++)
    if (g_strcmp0 (member_string (json_array_get_object_element (rows, i), "label"), label) == 0)
      return json_object_get_double_member (json_array_get_object_element (rows, i), "value");
  g_assert_not_reached ();
}

/* What a wait-folder step shows before Classify All: nothing in the first run (STORED_FIRST); in the
 * second (STORED_SECOND) the predictions of the first run's Classify All (ALL_FIRST) for every
 * readable image, with nothing embedded. */
static void
assert_stored_predictions (JsonObject *stored_first, JsonObject *stored_second, JsonObject *all_first)
{
  JsonArray *before_first = json_object_get_array_member (stored_first, "grid");
  JsonArray *before_second = json_object_get_array_member (stored_second, "grid");
  JsonArray *all = json_object_get_array_member (all_first, "grid");
  guint n_shown = 0;

  g_assert_cmpstr (member_string (stored_first, "summary"), ==, "");
  g_assert_cmpstr (member_string (stored_second, "summary"), ==,
                   "10 of 11 images have stored predictions; Classify All Images does the rest.");
  g_assert_cmpint (json_object_get_int_member (stored_second, "n_embedded"), ==, 0);
  g_assert_cmpuint (json_array_get_length (before_second), ==, N_SAMPLE_IMAGES + 1);
  for (guint i = 0; i < json_array_get_length (before_second); i++)
    {
      JsonObject *a = json_array_get_object_element (all, i), *b = json_array_get_object_element (before_second, i);
      g_assert_cmpstr (member_string (json_array_get_object_element (before_first, i), "prediction"), ==, NULL);
      g_assert_cmpstr (member_string (a, "path"), ==, member_string (b, "path"));
      g_assert_cmpstr (member_string (a, "prediction"), ==, member_string (b, "prediction"));
      if (member_string (b, "prediction") == NULL)
        continue;
      n_shown++;
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (a, "confidence"),
                                      json_object_get_double_member (b, "confidence"), 1e-6);
    }
  g_assert_cmpuint (n_shown, ==, N_SAMPLE_IMAGES);
}

/* Classify All on a folder goes through the folder's search index: a second start of the app (same
 * folder, model and cache) shows the same predictions at once, before Classify All and after the
 * class names are edited, and Classify All embeds no image again; Search finds the folder indexed already.  The stored embeddings score
 * as the live path scores the selected image (a JPEG, read at the index's reduced size). */
static void
test_classify_restart (void)
{
  g_autofree char *folder = q (sample_dir);
  g_autofree char *photo = g_build_filename (sample_dir, "photo_512x384.jpg", NULL);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"select\", \"view\": \"classify\", \"index\": 6},"
    "{\"do\": \"set-classes\", \"text\": \"noise, gradient, photo, stripes\"},"   /* 5 */
    "{\"do\": \"wait-probs\"},"
    "{\"do\": \"wait-folder\"},"
    "{\"do\": \"set-classes\", \"text\": \"stripes, photo, gradient, noise\"},"
    "{\"do\": \"wait-folder\"},"
    "{\"do\": \"classify-all\"},"                                                  /* 10 */
    "{\"do\": \"view\", \"name\": \"search\"},"
    "{\"do\": \"wait-index\"}",
    folder);
  g_autofree char *cache_home = g_build_filename (tu_tmpdir (), "restart-cache", NULL);
  g_autofree char *cache_env = g_strconcat ("XDG_CACHE_HOME=", cache_home, NULL);
  const char *env[] = { cache_env, NULL };
  const char *args[] = { "--model", model_dir, "--tokenizer", "bytes", NULL };

  g_autoptr (AppRun) first = app_run ("restart-1", args, steps, env);
  g_autoptr (AppRun) second = app_run ("restart-2", args, steps, env);

  /* Before Classify All: nothing stored in run 1; in run 2 every readable image's stored prediction,
   * and again for the classes reordered (scored anew, to the same probabilities). */
  JsonObject *all_first = step (first, 10), *all_second = step (second, 10);
  for (guint k = 7; k <= 9; k += 2)
    assert_stored_predictions (step (first, k), step (second, k), all_first);

  g_assert_cmpstr (member_string (all_first, "summary"), ==, "10 images classified; 1 could not be read.");
  g_assert_cmpstr (member_string (all_second, "summary"), ==, "10 images classified; 1 could not be read.");
  g_assert_cmpint (json_object_get_int_member (all_first, "n_embedded"), ==, N_SAMPLE_IMAGES);
  g_assert_cmpint (json_object_get_int_member (all_second, "n_embedded"), ==, 0);
  JsonArray *grid_first = json_object_get_array_member (all_first, "grid");
  JsonArray *grid_second = json_object_get_array_member (all_second, "grid");
  g_assert_cmpuint (json_array_get_length (grid_first), ==, N_SAMPLE_IMAGES + 1);
  g_assert_cmpuint (json_array_get_length (grid_second), ==, N_SAMPLE_IMAGES + 1);
  for (guint i = 0; i < json_array_get_length (grid_first); i++)
    {
      JsonObject *a = json_array_get_object_element (grid_first, i), *b = json_array_get_object_element (grid_second, i);
      g_assert_cmpstr (member_string (a, "path"), ==, member_string (b, "path"));
      g_assert_cmpstr (member_string (a, "prediction"), ==, member_string (b, "prediction"));
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (a, "confidence"),
                                      json_object_get_double_member (b, "confidence"), 1e-6);
    }

  /* The live probabilities of the selected JPEG against its stored embedding's, in both runs. */
  for (int r = 0; r < 2; r++)
    {
      AppRun *run = r == 0 ? first : second;
      g_assert_cmpstr (member_string (step (run, 6), "image"), ==, photo);
      const char *prediction = NULL;
      double stored = grid_confidence (step (run, 10), photo, &prediction);
      g_assert_nonnull (prediction);
      g_assert_cmpfloat_with_epsilon (stored, live_prob (step (run, 6), prediction), 1e-5);
    }

  /* Search: the folder indexed by Classify All already, nothing embedded again. */
  for (int r = 0; r < 2; r++)
    {
      JsonObject *indexed = step (r == 0 ? first : second, 12);
      g_assert_cmpint (json_object_get_int_member (indexed, "n_indexed"), ==, N_SAMPLE_IMAGES);
      g_assert_cmpint (json_object_get_int_member (indexed, "n_embedded"), ==, 0);
    }
}

static void
test_dataset (void)
{
  g_autofree char *golden = tu_shared_path ("golden/images");
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "dataset", NULL);
  g_autofree char *images = g_build_filename (dir, "images", NULL);
  static const struct { const char *file, *caption, *label; } rows[] = {
    { "exact_224x224.png", "a bright checkerboard with a red disc", "pattern" },
    { "gray_257x129.png", "a grey gradient with a dark circle", "gradient" },
    { "noise_300x500.png", "grey static noise", "noise" },
    { "palette_200x200.png", "a colourful palette with a red disc", "pattern" },
    { "photo_512x384.jpg", "a photo of a checkerboard with a red disc", "pattern" },
    { "wide_1000x150.png", "a wide colourful strip", "pattern" },
  };
  GString *csv = g_string_new ("image_path,caption,label\n");

  g_assert_cmpint (g_mkdir_with_parents (images, 0755), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      g_autofree char *from = g_build_filename (golden, rows[i].file, NULL);
      g_autofree char *to = g_build_filename (images, rows[i].file, NULL);
      copy_file (from, to);
      g_string_append_printf (csv, "images/%s,\"%s\",%s\n", rows[i].file, rows[i].caption, rows[i].label);
    }
  g_string_append (csv, "images/missing.png,this file does not exist,noise\n");   /* line 8: skipped */
  g_autofree char *csv_path = g_build_filename (dir, "data.csv", NULL);
  tu_write_file (csv_path, csv->str, csv->len);
  g_string_free (csv, TRUE);

  g_autofree char *path_json = q (csv_path);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"select\", \"index\": 4},"
    "{\"do\": \"wait-browse\"},"
    "{\"do\": \"wait-thumbnails\"},"                               /* 5 */
    "{\"do\": \"screenshot\", \"file\": \"browse-dataset.png\"},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"set-classes\", \"text\": \"pattern, gradient, noise\"},"
    "{\"do\": \"wait-probs\"},"
    "{\"do\": \"classify-all\"},"                                  /* 10 */
    "{\"do\": \"show-metrics\", \"show\": true},"
    "{\"do\": \"screenshot\", \"file\": \"metrics.png\"}",
    path_json);
  const char *args[] = { "--model", model_dir, "--tokenizer", "bytes", NULL };
  g_autoptr (AppRun) run = app_run ("dataset", args, steps, NULL);

  /* Six usable rows; the missing image is reported with its line. */
  JsonObject *opened = step (run, 2);
  g_assert_cmpint (json_object_get_int_member (opened, "n_items"), ==, G_N_ELEMENTS (rows));
  JsonObject *bar = json_object_get_object_member (opened, "error_bar");
  g_assert_nonnull (bar);
  g_assert_nonnull (strstr (member_string (bar, "detail"), "data.csv:8"));
  g_assert_nonnull (strstr (member_string (bar, "detail"), "missing.png"));

  /* Best-matching captions of the selected image: cosine similarities from the library. */
  ClipModel *model = tiny_model ();
  const int dim = clip_model_get_config (model)->embed_dim;
  JsonObject *browse = step (run, 4);
  const char *image = member_string (browse, "image");
  g_assert_true (g_str_has_suffix (image, rows[4].file));
  g_autofree float *image_embed = g_new (float, dim);
  g_autoptr (GError) error = NULL;
  encode_as_app (model, image, image_embed);
  JsonArray *matches = json_object_get_array_member (browse, "matches");
  g_assert_cmpuint (json_array_get_length (matches), ==, 5);
  double previous = 2;
  for (guint k = 0; k < 5; k++)
    {
      JsonObject *match = json_array_get_object_element (matches, k);
      const char *caption = member_string (match, "caption");
      g_autofree float *text_embed = g_new (float, dim);
      clip_model_encode_texts (model, &caption, 1, text_embed, NULL, &error);
      g_assert_no_error (error);
      double cosine = 0;
      for (int d = 0; d < dim; d++)
        cosine += image_embed[d] * text_embed[d];
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (match, "score"), cosine, 1e-5);
      g_assert_cmpfloat (cosine, <=, previous + 1e-6);
      previous = cosine;
      g_assert_true (json_object_get_boolean_member (match, "own") == (strcmp (caption, rows[4].caption) == 0));
    }

  /* Accuracy against the labels, as the library's evaluation computes it from the probabilities. */
  const char *classes[] = { "pattern", "gradient", "noise", NULL };
  int correct = 0, class_correct[3] = { 0 }, class_count[3] = { 0 };
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      g_autofree char *path = g_build_filename (images, rows[i].file, NULL);
      g_autofree float *probs = expected_probs (path, classes, "simple");
      gboolean hit = strcmp (classes[argmax (probs, 3)], rows[i].label) == 0;
      correct += hit;
      for (int c = 0; c < 3; c++)
        if (strcmp (classes[c], rows[i].label) == 0)
          {
            class_count[c]++;
            class_correct[c] += hit;
          }
    }
  /* Mean per-class recall: the mean over the classes that have images of their share recognised. */
  double recall_sum = 0;
  int n_present = 0;
  for (int c = 0; c < 3; c++)
    if (class_count[c] > 0)
      {
        recall_sum += (double) class_correct[c] / class_count[c];
        n_present++;
      }
  g_autofree char *metrics = g_strdup_printf ("top1=%.6f top5=%.6f mean_per_class_recall=%.6f n=%u unknown=0 "
                                              "unreadable=0", (double) correct / G_N_ELEMENTS (rows), 1.0,
                                              recall_sum / n_present, (guint) G_N_ELEMENTS (rows));
  g_assert_cmpstr (member_string (step (run, 10), "metrics"), ==, metrics);
}

/* The files FILES [n] from FOLDER as a WebDataset shard at PATH (compressed with COMPRESSION unless
 * NULL): members sNNNN.png with sNNNN.cls holding LABELS[i], written with libarchive. */
static void
write_shard (const char *path, const char *compression, const char *folder, const char *const *files,
             const int *labels, int first, int n)
{
  struct archive *archive = archive_write_new ();
  archive_write_set_format_ustar (archive);
  if (compression != NULL)
    g_assert_cmpint (archive_write_add_filter_by_name (archive, compression), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open_filename (archive, path), ==, ARCHIVE_OK);
  for (int i = first; i < first + n; i++)
    {
      g_autofree char *image_path = g_build_filename (folder, files[i], NULL);
      g_autofree char *image = NULL, *label = g_strdup_printf ("%d", labels[i]);
      gsize image_size = 0;
      g_assert_true (g_file_get_contents (image_path, &image, &image_size, NULL));
      const struct { const char *extension; const char *data; gsize size; } members[] = {
        { "png", image, image_size }, { "cls", label, strlen (label) },
      };
      for (guint m = 0; m < G_N_ELEMENTS (members); m++)
        {
          g_autofree char *name = g_strdup_printf ("s%04d.%s", i, members[m].extension);
          struct archive_entry *entry = archive_entry_new ();
          archive_entry_set_pathname (entry, name);
          archive_entry_set_size (entry, (la_int64_t) members[m].size);
          archive_entry_set_filetype (entry, AE_IFREG);
          archive_entry_set_perm (entry, 0644);
          g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
          g_assert_cmpint (archive_write_data (archive, members[m].data, members[m].size), ==,
                           (la_ssize_t) members[m].size);
          archive_entry_free (entry);
        }
    }
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
}

/* The same images as a folder of class folders, a COCO captions file and WebDataset shards (one
 * .tar, one .tar.gz): each opens as a data set with one item per image (labels from the folders,
 * the first caption of each COCO image, the shards' class indices); the shards' images are decoded
 * from the tar stream for thumbnails and the preview, and classifying them with the data set's own
 * class names and template ("a photo of a {c}.", the "simple" preset's) gives the class folders'
 * numbers. */
static void
test_dataset_formats (void)
{
  g_autofree char *golden = tu_shared_path ("golden/images");
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "dataset-formats", NULL);
  static const struct { const char *file, *label; } images[] = {
    { "exact_224x224.png", "pattern" }, { "gray_257x129.png", "gradient" }, { "noise_300x500.png", "noise" },
    { "palette_200x200.png", "pattern" },
  };
  GString *coco = g_string_new ("{\"images\": [");
  GString *annotations = g_string_new ("], \"annotations\": [");
  for (guint i = 0; i < G_N_ELEMENTS (images); i++)
    {
      g_autofree char *from = g_build_filename (golden, images[i].file, NULL);
      g_autofree char *class_dir = g_build_filename (dir, "classes", images[i].label, NULL);
      g_autofree char *to = g_build_filename (class_dir, images[i].file, NULL);
      g_autofree char *coco_copy = g_build_filename (dir, "val2017", images[i].file, NULL);
      g_assert_cmpint (g_mkdir_with_parents (class_dir, 0755), ==, 0);
      g_autofree char *coco_dir = g_path_get_dirname (coco_copy);
      g_assert_cmpint (g_mkdir_with_parents (coco_dir, 0755), ==, 0);
      copy_file (from, to);
      copy_file (from, coco_copy);
      g_string_append_printf (coco, "%s{\"id\": %u, \"file_name\": \"%s\"}", i > 0 ? ", " : "", i + 1, images[i].file);
      /* Two captions each. */
      g_string_append_printf (annotations, "%s{\"id\": %u, \"image_id\": %u, \"caption\": \"a %s\"}, "
                              "{\"id\": %u, \"image_id\": %u, \"caption\": \"another %s\"}", i > 0 ? ", " : "",
                              10 * i + 1, i + 1, images[i].label, 10 * i + 2, i + 1, images[i].label);
    }
  g_string_append (coco, annotations->str);
  g_string_append (coco, "]}");
  g_autofree char *annotations_dir = g_build_filename (dir, "annotations", NULL);
  g_assert_cmpint (g_mkdir_with_parents (annotations_dir, 0755), ==, 0);
  g_autofree char *coco_path = g_build_filename (annotations_dir, "captions_val2017.json", NULL);
  tu_write_file (coco_path, coco->str, coco->len);
  g_string_free (coco, TRUE);
  g_string_free (annotations, TRUE);
  g_autofree char *shards = g_build_filename (dir, "wds", "test", NULL);
  g_assert_cmpint (g_mkdir_with_parents (shards, 0755), ==, 0);
  g_autofree char *nshards = g_build_filename (shards, "nshards.txt", NULL);
  tu_write_file (nshards, "2\n", 2);
  g_autofree char *classnames = g_build_filename (dir, "wds", "classnames.txt", NULL);
  tu_write_file (classnames, "gradient\nnoise\npattern\n", strlen ("gradient\nnoise\npattern\n"));
  g_autofree char *templates = g_build_filename (dir, "wds", "zeroshot_classification_templates.txt", NULL);
  tu_write_file (templates, "a photo of a {c}.\n", strlen ("a photo of a {c}.\n"));
  const char *files[G_N_ELEMENTS (images)];
  int labels[G_N_ELEMENTS (images)];
  for (guint i = 0; i < G_N_ELEMENTS (images); i++)
    {
      files[i] = images[i].file;
      labels[i] = strcmp (images[i].label, "gradient") == 0 ? 0 : strcmp (images[i].label, "noise") == 0 ? 1 : 2;
    }
  g_autofree char *shard0 = g_build_filename (shards, "0.tar", NULL);
  g_autofree char *shard1 = g_build_filename (shards, "1.tar.gz", NULL);
  write_shard (shard0, NULL, golden, files, labels, 0, 2);
  write_shard (shard1, "gzip", golden, files, labels, 2, 2);

  g_autofree char *classes_path = g_build_filename (dir, "classes", NULL);
  g_autofree char *wds_path = g_build_filename (dir, "wds", NULL);
  g_autofree char *classes_json = q (classes_path), *coco_json = q (coco_path), *wds_json = q (wds_path);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"set-classes\", \"text\": \"gradient, noise, pattern\"},"
    "{\"do\": \"wait-probs\"},"
    "{\"do\": \"classify-all\"},"                                  /* 5 */
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"browse\"},"
    "{\"do\": \"select\", \"index\": 1},"
    "{\"do\": \"browse-details\"},"                                /* 10 */
    "{\"do\": \"drag-content\"},"
    "{\"do\": \"wait-thumbnails\"},"
    "{\"do\": \"screenshot\", \"file\": \"browse-webdataset.png\"},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"set-classes\", \"text\": \"\"},"               /* 15 */
    "{\"do\": \"use-labels\"},"
    "{\"do\": \"wait-probs\"},"
    "{\"do\": \"classify-all\"}",
    classes_json, coco_json, wds_json);
  const char *args[] = { "--model", model_dir, "--tokenizer", "bytes", NULL };
  g_autoptr (AppRun) run = app_run ("dataset-formats", args, steps, NULL);

  JsonObject *folder = step (run, 1);
  g_assert_cmpint (json_object_get_int_member (folder, "n_items"), ==, G_N_ELEMENTS (images));
  g_assert_true (json_object_get_null_member (folder, "error_bar"));
  /* The folder names are the labels: the accuracy is measured against them. */
  const char *metrics = member_string (step (run, 5), "metrics");
  g_assert_true (g_str_has_prefix (metrics, "top1="));
  g_assert_nonnull (strstr (metrics, "mean_per_class_recall="));
  g_assert_nonnull (strstr (metrics, "n=4 unknown=0 unreadable=0"));

  g_assert_cmpint (json_object_get_int_member (step (run, 6), "n_items"), ==, G_N_ELEMENTS (images));
  JsonObject *wds = step (run, 7);
  g_assert_cmpint (json_object_get_int_member (wds, "n_items"), ==, G_N_ELEMENTS (images));
  g_assert_true (json_object_get_null_member (wds, "error_bar"));
  /* The selected member, gray_257x129.png inside 0.tar, previewed from the tar stream. */
  JsonObject *details = step (run, 10);
  g_assert_cmpstr (member_string (details, "dimensions"), ==, "257 × 129 pixels");
  g_assert_cmpstr (member_string (details, "folder"), ==, shard0);
  /* A member has no file of its own to drag out (the shard is not the image). */
  g_assert_true (json_object_get_null_member (step (run, 11), "formats"));
  g_assert_cmpint (json_object_get_int_member (step (run, 12), "failed"), ==, 0);
  JsonObject *labelled = step (run, 16);
  g_assert_cmpstr (member_string (labelled, "classes"), ==, "gradient, noise, pattern");
  g_assert_cmpstr (member_string (labelled, "template_preset"), ==, "custom");
  g_assert_cmpstr (member_string (step (run, 18), "metrics"), ==, metrics);
}

static void
test_corrupt_model (void)
{
  g_autofree char *good = g_build_filename (model_dir, "model.safetensors", NULL);
  g_autofree char *bytes = NULL;
  gsize length = 0;
  g_assert_true (g_file_get_contents (good, &bytes, &length, NULL));
  g_autofree char *corrupt = g_build_filename (tu_tmpdir (), "corrupt.safetensors", NULL);
  tu_write_file (corrupt, bytes, length / 2);   /* a download cut in half */

  g_autofree char *folder = q (sample_dir);
  g_autofree char *corrupt_json = q (corrupt);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"select\", \"index\": 8},"
    "{\"do\": \"load-model\", \"path\": %s, \"tokenizer\": \"bytes\"},"
    "{\"do\": \"screenshot\", \"file\": \"model-error-dialog.png\", \"window\": \"dialog\"},"
    "{\"do\": \"close-dialogs\"},"                                       /* 5 */
    "{\"do\": \"screenshot\", \"file\": \"model-error.png\"},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"set-classes\", \"text\": \"noise, photo\"},"
    "{\"do\": \"wait-probs\"}",
    folder, corrupt_json);
  const char *args[] = { "--model", model_dir, "--tokenizer", "bytes", NULL };
  g_autoptr (AppRun) run = app_run ("corrupt-model", args, steps, NULL);

  JsonObject *load = step (run, 3);
  const char *chooser_error = member_string (load, "chooser_error");
  g_assert_nonnull (chooser_error);
  g_assert_nonnull (strstr (chooser_error, "corrupt.safetensors"));
  JsonObject *bar = json_object_get_object_member (load, "error_bar");
  g_assert_nonnull (bar);
  g_assert_cmpstr (member_string (bar, "title"), ==, "Could not load the model");
  g_assert_nonnull (strstr (member_string (bar, "detail"), "corrupt.safetensors"));
  /* The previous model is still loaded and still classifies. */
  g_assert_cmpstr (member_string (load, "model_state"), ==, "ready");
  g_assert_cmpstr (member_string (load, "model_path"), ==, model_dir);
  const char *two[] = { "noise", "photo", NULL };
  check_probs (step (run, 9), two, "simple");
}

static void
test_no_model (void)
{
  g_autofree char *steps = g_strdup (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"screenshot\", \"file\": \"empty.png\"}");
  g_autofree char *missing = g_build_filename (tu_tmpdir (), "no-such-model.safetensors", NULL);
  g_autofree char *env_builtin = g_strconcat ("CLIPLAB_BUILTIN_MODEL=", missing, NULL);
  const char *env[] = { env_builtin, NULL };
  g_autoptr (AppRun) run = app_run ("no-model", NULL, steps, env);

  JsonObject *model = step (run, 1);
  g_assert_cmpstr (member_string (model, "model_state"), ==, "none");
  g_assert_cmpstr (member_string (model, "model_label"), ==, "No Model");
  const char *notice = member_string (model, "model_notice");
  g_assert_nonnull (notice);
  g_assert_nonnull (strstr (notice, "No model is loaded"));
  g_assert_nonnull (strstr (notice, "built-in model is not installed"));

  /* With a folder open, the Classify view says so too and offers the model chooser. */
  g_autofree char *folder = q (sample_dir);
  g_autofree char *steps2 = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"select\", \"view\": \"classify\", \"index\": 8},"
    "{\"do\": \"wait-probs\"},"
    "{\"do\": \"screenshot\", \"file\": \"no-model.png\"}",
    folder);
  g_autoptr (AppRun) run2 = app_run ("no-model-folder", NULL, steps2, env);
  const char *hint = member_string (step (run2, 4), "hint");
  g_assert_nonnull (hint);
  g_assert_nonnull (strstr (hint, "No model is loaded"));
}

static void
test_cancel_long_job (void)
{
  g_autofree char *golden = tu_shared_path ("golden/images");
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "many", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  for (int i = 0; i < N_MANY_IMAGES; i++)
    {
      g_autofree char *target = g_build_filename (golden, golden_sample_images[i % N_SAMPLE_IMAGES], NULL);
      g_autofree char *name = g_strdup_printf ("%05d-%s", i, golden_sample_images[i % N_SAMPLE_IMAGES]);
      g_autofree char *link = g_build_filename (dir, name, NULL);
      g_assert_cmpint (symlink (target, link), ==, 0);
    }

  g_autofree char *folder = q (dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"set-classes\", \"text\": \"noise, photo\"},"
    "{\"do\": \"wait-probs\"},"
    "{\"do\": \"classify-all\", \"wait\": false},"                         /* 5 */
    "{\"do\": \"wait\", \"ms\": 1500},"
    "{\"do\": \"screenshot\", \"file\": \"classify-running.png\", \"delay\": 0},"
    "{\"do\": \"cancel-folder\"},"
    "{\"do\": \"set-classes\", \"text\": \"noise, photo, gradient\"},"
    "{\"do\": \"wait-probs\", \"timeout\": 10}",                           /* 10 */
    folder);
  const char *args[] = { "--model", model_dir, "--tokenizer", "bytes", NULL };
  g_autoptr (AppRun) run = app_run ("cancel", args, steps, NULL);

  g_assert_cmpint (json_object_get_int_member (step (run, 1), "n_items"), ==, N_MANY_IMAGES);
  g_autofree char *what = g_strdup_printf ("classifying %d images", N_MANY_IMAGES);
  assert_responsive (step (run, 6), what);
  JsonObject *cancel = step (run, 8);
  g_assert_true (json_object_get_boolean_member (cancel, "was_running"));
  const char *summary = member_string (cancel, "summary");
  g_assert_true (g_str_has_prefix (summary, "Stopped after "));
  g_autofree char *total = g_strdup_printf (" of %d images.", N_MANY_IMAGES);
  g_assert_true (g_str_has_suffix (summary, total));
  /* The worker is free again: the next request is answered within its 10 s. */
  const char *three[] = { "noise", "photo", "gradient", NULL };
  check_probs (step (run, 10), three, "simple");
}

static void
test_dialogs_and_dark_style (void)
{
  g_autofree char *folder = q (sample_dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"open-dialog\", \"name\": \"preferences\"},"
    "{\"do\": \"screenshot\", \"file\": \"preferences.png\", \"window\": \"dialog\"},"
    "{\"do\": \"close-dialogs\"},"                                          /* 5 */
    "{\"do\": \"open-dialog\", \"name\": \"model\"},"
    "{\"do\": \"screenshot\", \"file\": \"model-chooser.png\", \"window\": \"dialog\"},"
    "{\"do\": \"close-dialogs\"},"
    "{\"do\": \"open-dialog\", \"name\": \"shortcuts\"},"
    "{\"do\": \"screenshot\", \"file\": \"shortcuts.png\", \"window\": \"dialog\"},"   /* 10 */
    "{\"do\": \"close-dialogs\"},"
    "{\"do\": \"open-dialog\", \"name\": \"about\"},"
    "{\"do\": \"screenshot\", \"file\": \"about.png\", \"window\": \"dialog\"},"
    "{\"do\": \"close-dialogs\"},"
    "{\"do\": \"set-style\", \"style\": \"dark\"},"                            /* 15 */
    "{\"do\": \"select\", \"index\": 8},"
    "{\"do\": \"wait-thumbnails\"},"
    "{\"do\": \"screenshot\", \"file\": \"browse-dark.png\"},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"set-classes\", \"text\": \"noise, gradient, photo, stripes\"},"  /* 20 */
    "{\"do\": \"wait-probs\"},"
    "{\"do\": \"screenshot\", \"file\": \"classify-dark.png\"}",
    folder);
  const char *args[] = { "--model", model_dir, "--tokenizer", "bytes", NULL };
  g_autoptr (AppRun) run = app_run ("dialogs", args, steps, NULL);

  for (int i = 4; i <= 13; i += 3)
    {
      JsonObject *shot = step (run, i);
      g_assert_false (json_object_has_member (shot, "error"));
      g_assert_cmpint (json_object_get_int_member (shot, "width"), >, 100);
    }
  g_assert_false (json_object_has_member (step (run, 22), "error"));
}

/* The menu a key opened on the Browse grid: one item, "Find Similar Images" for PATH. */
static void
check_find_similar_menu (JsonObject *report, const char *path)
{
  JsonArray *menu = json_object_get_array_member (report, "menu");
  g_assert_true (json_object_get_boolean_member (report, "handled"));
  g_assert_cmpuint (json_array_get_length (menu), >=, 1);
  JsonObject *item = json_array_get_object_element (menu, 0);
  g_assert_cmpstr (member_string (item, "label"), ==, "Find _Similar Images");
  g_assert_cmpstr (member_string (item, "action"), ==, "win.find-similar");
  g_assert_cmpstr (member_string (item, "target"), ==, path);
}

/* A similar-image search for PATH: every other image, best first (the image itself is no result). */
static void
check_similar_results (JsonObject *report, const char *path)
{
  g_autofree char *name = g_path_get_basename (path);
  g_autofree char *like = g_strdup_printf ("images like “%s”", name);
  JsonArray *results = json_object_get_array_member (report, "results");

  if (json_object_has_member (report, "view"))
    g_assert_cmpstr (member_string (report, "view"), ==, "search");
  g_assert_nonnull (strstr (member_string (report, "summary"), like));
  g_assert_cmpuint (json_array_get_length (results), ==, N_SAMPLE_IMAGES - 1);
  for (guint i = 0; i < json_array_get_length (results); i++)
    g_assert_cmpstr (member_string (json_array_get_object_element (results, i), "path"), !=, path);
}

static gboolean
shortcut_shown (JsonArray *shown, const char *accelerator)
{
  for (guint i = 0; i < json_array_get_length (shown); i++)
    {
      JsonArray *accelerators = json_object_get_array_member (json_array_get_object_element (shown, i), "accelerators");
      for (guint k = 0; k < json_array_get_length (accelerators); k++)
        if (g_strcmp0 (json_array_get_string_element (accelerators, k), accelerator) == 0)
          return TRUE;
    }
  return FALSE;
}

static void
test_keyboard (void)
{
  g_autofree char *folder = q (sample_dir);
  g_autofree char *scene = g_build_filename (sample_dir, "scene_640x480.png", NULL);
  g_autofree char *gray = g_build_filename (sample_dir, "gray_257x129.png", NULL);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"select\", \"index\": 8},"
    "{\"do\": \"focus-grid\"},"
    "{\"do\": \"press-keys\", \"keys\": \"<Shift>F10\"},"                  /* 5 */
    "{\"do\": \"activate-menu-item\", \"index\": 0},"
    "{\"do\": \"wait-index\"},"
    "{\"do\": \"press-keys\", \"keys\": \"<Alt>1\"},"
    "{\"do\": \"select\", \"index\": 2},"
    "{\"do\": \"focus-grid\"},"                                            /* 10 */
    "{\"do\": \"press-keys\", \"keys\": \"Menu\"},"
    "{\"do\": \"press-keys\", \"keys\": \"<Control><Shift>f\"},"
    "{\"do\": \"press-keys\", \"keys\": \"<Alt>2\"},"
    "{\"do\": \"press-keys\", \"keys\": \"<Alt>4\"},"
    "{\"do\": \"press-keys\", \"keys\": \"<Alt>3\"},"                      /* 15 */
    "{\"do\": \"press-keys\", \"keys\": \"<Alt>1\"},"
    "{\"do\": \"press-keys\", \"keys\": \"<Control>f\"},"
    "{\"do\": \"shortcuts\"}",
    folder);
  const char *args[] = { "--model", model_dir, "--tokenizer", "bytes", NULL };
  g_autoptr (AppRun) run = app_run ("keyboard", args, steps, NULL);

  /* Shift+F10 on the focused image opens its menu; its item searches for similar images. */
  g_assert_true (json_object_get_boolean_member (step (run, 4), "focused"));
  check_find_similar_menu (step (run, 5), scene);
  g_assert_true (json_object_get_boolean_member (step (run, 6), "activated"));
  g_assert_cmpstr (member_string (step (run, 6), "view"), ==, "search");
  check_similar_results (step (run, 7), scene);

  /* The Menu key does the same for another image; Ctrl+Shift+F searches with the selected one. */
  g_assert_cmpstr (member_string (step (run, 8), "view"), ==, "browse");
  check_find_similar_menu (step (run, 11), gray);
  check_similar_results (step (run, 12), gray);

  /* Alt+1…4 switch the views; Ctrl+F goes to the search entry. */
  const struct { int step; const char *view; } views[] = {
    { 13, "classify" }, { 14, "train" }, { 15, "search" }, { 16, "browse" }, { 17, "search" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (views); i++)
    {
      JsonObject *report = step (run, views[i].step);
      g_assert_true (json_object_get_boolean_member (report, "handled"));
      g_assert_cmpstr (member_string (report, "view"), ==, views[i].view);
    }
  g_assert_false (json_object_get_boolean_member (step (run, 16), "focus_in_search_entry"));
  g_assert_true (json_object_get_boolean_member (step (run, 17), "focus_in_search_entry"));

  /* The shortcuts window shows every accelerator, and the context-menu keys. */
  JsonObject *shortcuts = step (run, 18);
  JsonArray *accels = json_object_get_array_member (shortcuts, "accels");
  JsonArray *shown = json_object_get_array_member (shortcuts, "shown");
  g_assert_cmpuint (json_array_get_length (accels), >=, 14);
  for (guint i = 0; i < json_array_get_length (accels); i++)
    {
      const char *accelerator = member_string (json_array_get_object_element (accels, i), "accelerator");
      if (!shortcut_shown (shown, accelerator))
        g_error ("%s is not in the shortcuts window", accelerator);
    }
  g_assert_true (shortcut_shown (shown, "Menu"));
  g_assert_true (shortcut_shown (shown, "<Shift>F10"));
}

/* The model file is overwritten in place (truncated, then rewritten with zeros) while the
 * application uses it: it goes on classifying with the weights it loaded, without a fault. */
static void
test_model_overwritten (void)
{
  g_autofree char *copy = g_build_filename (tu_tmpdir (), "overwritten-model", NULL);
  g_assert_cmpint (g_mkdir_with_parents (copy, 0755), ==, 0);
  const char *names[] = { "config.json", "model.safetensors" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *from = g_build_filename (model_dir, names[i], NULL);
      g_autofree char *to = g_build_filename (copy, names[i], NULL);
      copy_file (from, to);
    }
  g_autofree char *weights = g_build_filename (copy, "model.safetensors", NULL);
  g_autofree char *weights_json = q (weights);
  g_autofree char *folder = q (sample_dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"select\", \"view\": \"classify\", \"index\": 8},"
    "{\"do\": \"set-classes\", \"text\": \"noise, photo\"},"
    "{\"do\": \"wait-probs\"},"                                                   /* 5 */
    "{\"do\": \"overwrite-file\", \"path\": %s},"
    "{\"do\": \"set-classes\", \"text\": \"noise, gradient, photo, stripes\"},"
    "{\"do\": \"wait-probs\"},"
    "{\"do\": \"classify-all\"}",
    folder, weights_json);
  const char *args[] = { "--model", copy, "--tokenizer", "bytes", NULL };
  g_autoptr (AppRun) run = app_run ("model-overwritten", args, steps, NULL);

  const char *two[] = { "noise", "photo", NULL };
  const char *four[] = { "noise", "gradient", "photo", "stripes", NULL };
  check_probs (step (run, 5), two, "simple");
  g_assert_true (json_object_get_boolean_member (step (run, 6), "overwritten"));
  check_probs (step (run, 8), four, "simple");
  g_assert_cmpstr (member_string (step (run, 9), "summary"), ==, "10 images classified; 1 could not be read.");
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  if (!app_run_setup ())
    {
      app_run_add_skipped ("/gui");
      return g_test_run ();
    }
  model_dir = tu_shared_path ("golden/models/tiny_quickgelu/hf");
  sample_dir = make_sample_folder ();

  g_test_add_func ("/gui/browse-and-thumbnail-cache", test_browse_and_thumbnail_cache);
  g_test_add_func ("/gui/classify", test_classify);
  g_test_add_func ("/gui/classify-restart", test_classify_restart);
  g_test_add_func ("/gui/dataset", test_dataset);
  g_test_add_func ("/gui/dataset-formats", test_dataset_formats);
  g_test_add_func ("/gui/corrupt-model", test_corrupt_model);
  g_test_add_func ("/gui/no-model", test_no_model);
  g_test_add_func ("/gui/cancel-long-job", test_cancel_long_job);
  g_test_add_func ("/gui/dialogs-and-dark-style", test_dialogs_and_dark_style);
  g_test_add_func ("/gui/keyboard", test_keyboard);
  g_test_add_func ("/gui/model-overwritten", test_model_overwritten);
  return g_test_run ();
}
