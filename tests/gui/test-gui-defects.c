/* test-gui-defects.c — runs the real ClipLab application (under Xvfb: see meson.build) on what a new
 * user tries first and at scale (issue 12): training the bundled data set with the default
 * settings, and what the Train view shows after a start that fails and a run that succeeds.
 * Screenshots go to $CLIPLAB_SCREENSHOT_DIR. */
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "gui-app.h"
#include "testutil.h"

static char *model_dir;          /* the tiny golden model (byte tokenizer) */
static const char *source_root;  /* the source tree: data/train.csv and data/samples */

/* The application on the tiny model (byte tokenizer). */
#define TINY_MODEL_ARGS (const char *const[]) { "--model", model_dir, "--tokenizer", "bytes", NULL }

static gboolean
contains (const char *text, const char *part)
{
  return text != NULL && strstr (text, part) != NULL;
}

/* ---------------------------------------------------------------- 1: training as shipped */

/* The bundled data/train.csv (32 pairs) with every default (batch size 64, 10 epochs, the small
 * model) trains: the batch is fitted to the 32 pairs and the user is told.  A start that fails then
 * says why once, in the view, keeps the finished run's curves and no "Preparing…"; the next run
 * that succeeds leaves no failure behind. */
static void
test_train_as_shipped (void)
{
  g_autofree char *bundled = g_build_filename (source_root, "data", "train.csv", NULL);
  g_autofree char *bundled_json = q (bundled);
  g_autofree char *one_dir = g_build_filename (tu_tmpdir (), "one-pair", NULL);
  g_autofree char *one_csv = g_build_filename (one_dir, "one.csv", NULL);
  g_autofree char *one_json = q (one_csv);
  g_autofree char *sample = g_build_filename (source_root, "data", "samples", "shapes-000000.png", NULL);
  g_autofree char *one_image = g_build_filename (one_dir, "a.png", NULL);

  g_assert_cmpint (g_mkdir_with_parents (one_dir, 0755), ==, 0);
  copy_file (sample, one_image);
  tu_write_file (one_csv, "image_path,caption\na.png,a shape\n", 33);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"train\"},"
    "{\"do\": \"train-settings\", \"settings\": {\"train-csv\": %s}},"
    "{\"do\": \"train-start\", \"timeout\": 300},"                                 /* 4 */
    "{\"do\": \"train-settings\", \"settings\": {\"train-csv\": %s}},"
    "{\"do\": \"train-start\", \"timeout\": 60},"                                  /* 6 */
    "{\"do\": \"screenshot\", \"file\": \"train-failed-start.png\"},"
    "{\"do\": \"train-settings\", \"settings\": {\"train-csv\": %s}},"
    "{\"do\": \"train-start\", \"timeout\": 300}",                                 /* 9 */
    bundled_json, one_json, bundled_json);
  g_autoptr (AppRun) run = app_run ("train-as-shipped", TINY_MODEL_ARGS, steps, NULL);

  /* 32 pairs in one batch of 32: 10 epochs of one step, said in the notices and the message. */
  JsonObject *first = step (run, 4);
  g_assert_cmpstr (member_string (first, "state"), ==, "finished");
  g_assert_cmpint (json_object_get_int_member (first, "n_points"), ==, 10);
  g_assert_true (contains (member_string (first, "notices"), "batches of 32, all the usable pairs, instead of 64"));
  g_assert_true (g_str_has_prefix (member_string (first, "message"), "The model is saved as "));
  g_assert_null (member_string (first, "error_bar"));

  /* A start that fails: the reason once (the view's message, no banner), the finished run's ten
   * points still on the chart, no progress bar left saying "Preparing…". */
  JsonObject *failed = step (run, 6);
  g_assert_cmpstr (member_string (failed, "state"), ==, "failed");
  g_assert_cmpstr (member_string (failed, "status_title"), ==, "Failed");
  g_assert_true (contains (member_string (failed, "message"), "1 usable pairs: training needs at least 2"));
  g_assert_null (member_string (failed, "error_bar"));
  g_assert_null (member_string (failed, "progress_text"));
  g_assert_cmpstr (member_string (failed, "chart_page"), ==, "chart");
  g_assert_cmpint (json_object_get_int_member (failed, "n_points"), ==, 10);

  /* The next run succeeds: nothing says "failed" any more. */
  JsonObject *again = step (run, 9);
  g_assert_cmpstr (member_string (again, "state"), ==, "finished");
  g_assert_cmpstr (member_string (again, "status_title"), ==, "Finished");
  g_assert_null (member_string (again, "error_bar"));
  g_assert_cmpint (json_object_get_int_member (again, "n_points"), ==, 10);
  g_assert_false (contains (member_string (again, "message"), "usable pairs"));
}

/* A first start that fails has no earlier curves to keep: the view's empty page, not a chart
 * waiting for a first step that will not come. */
static void
test_train_first_start_fails (void)
{
  g_autofree char *missing = g_build_filename (tu_tmpdir (), "no-such-data", "train.csv", NULL);
  g_autofree char *missing_json = q (missing);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"train\"},"
    "{\"do\": \"train-settings\", \"settings\": {\"train-csv\": %s}},"
    "{\"do\": \"train-start\", \"timeout\": 60}",                                  /* 3 */
    missing_json);
  g_autoptr (AppRun) run = app_run ("train-first-start-fails", TINY_MODEL_ARGS, steps, NULL);

  JsonObject *failed = step (run, 3);
  g_assert_cmpstr (member_string (failed, "state"), ==, "failed");
  g_assert_true (contains (member_string (failed, "message"), "no-such-data"));
  g_assert_null (member_string (failed, "error_bar"));
  g_assert_null (member_string (failed, "progress_text"));
  g_assert_cmpstr (member_string (failed, "chart_page"), ==, "empty");
  g_assert_cmpint (json_object_get_int_member (failed, "n_points"), ==, 0);
}

static void
test_skipped (void)
{
  g_test_skip ("needs CLIPLAB_GUI_DRIVER, CLIPLAB_SCREENSHOT_DIR and an X display (meson runs it under xvfb-run)");
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  source_root = g_getenv ("CLIPLAB_SOURCE_ROOT");
  if (!app_run_setup () || source_root == NULL)
    {
      g_test_add_func ("/gui-defects/skipped", test_skipped);
      return g_test_run ();
    }
  model_dir = tu_shared_path ("golden/models/tiny_quickgelu/hf");

  g_test_add_func ("/gui-defects/train-as-shipped", test_train_as_shipped);
  g_test_add_func ("/gui-defects/train-first-start-fails", test_train_first_start_fails);
  return g_test_run ();
}
