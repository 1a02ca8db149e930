/* test-gui-defects.c — runs the real ClipLab application (under Xvfb: see meson.build) on what a new
 * user tries first and at scale (issue 12): training the bundled data set with the default
 * settings, and what the Train view shows after a start that fails and a run that succeeds;
 * Korean when started in a Korean locale from the build tree.
 * Screenshots go to $CLIPLAB_SCREENSHOT_DIR. */
#include <string.h>
#include <utime.h>

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

/* ---------------------------------------------------------------- 5: Korean as the README starts it */

#define KO_MTIME 1796630400   /* 2026-12-07 08:00 UTC */

/* A ko_KR.UTF-8 locale of the test's own (localedef from Debian's locales data: no root needed); NULL
 * when it cannot be made. */
static char *
make_korean_locale (void)
{
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "locales", NULL);
  g_autofree char *out = g_build_filename (dir, "ko_KR.UTF-8", NULL);
  const char *argv[] = { "localedef", "-i", "ko_KR", "-f", "UTF-8", out, NULL };
  int status = 0;

  g_mkdir_with_parents (dir, 0755);
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL
                     | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, NULL)
      || !g_spawn_check_wait_status (status, NULL))
    return NULL;
  return g_steal_pointer (&dir);
}

/* Run from the build tree in a Korean locale, the application speaks Korean: its own catalog is found
 * there, the model's format and tokenizer are translated, and a file's date is written as the
 * locale writes dates.  Without a ko_KR locale (localedef failed), the same path with LANGUAGE=ko:
 * Korean texts, the C locale's date. */
static void
test_korean (void)
{
  g_autofree char *locales = make_korean_locale ();
  g_autofree char *folder = g_build_filename (tu_tmpdir (), "ko-folder", NULL);
  g_autofree char *image = g_build_filename (folder, "shape.png", NULL);
  g_autofree char *sample = g_build_filename (source_root, "data", "samples", "shapes-000000.png", NULL);
  g_autofree char *folder_json = q (folder);
  g_autofree char *locpath = g_strconcat ("LOCPATH=", locales, NULL);
  const char *const korean_env[] = { "LC_ALL=ko_KR.UTF-8", "LANGUAGE=", "TZ=UTC", locpath, NULL };
  const char *const fallback_env[] = { "LANGUAGE=ko", "TZ=UTC", NULL };
  struct utimbuf times = { KO_MTIME, KO_MTIME };

  g_assert_cmpint (g_mkdir_with_parents (folder, 0755), ==, 0);
  copy_file (sample, image);
  g_assert_cmpint (g_utime (image, &times), ==, 0);
  if (locales == NULL)
    g_test_message ("no ko_KR.UTF-8 locale could be made: LANGUAGE=ko in the C.UTF-8 locale instead");
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"wait-open\", \"path\": %s},"
    "{\"do\": \"select\", \"index\": 0},"
    "{\"do\": \"browse-details\"},"                                              /* 3 */
    "{\"do\": \"model-details\"},"
    "{\"do\": \"screenshot\", \"file\": \"model-ko.png\", \"window\": \"dialog\"},"
    "{\"do\": \"close-dialogs\"},"
    "{\"do\": \"view\", \"name\": \"train\"},"
    "{\"do\": \"train-wait\"},"                                                  /* 8 */
    "{\"do\": \"screenshot\", \"file\": \"train-ko.png\"}",
    folder_json);
  /* The built-in model (a ClipLab checkpoint with the byte tokenizer), as `setup.sh run` starts it. */
  const char *const args[] = { folder, NULL };
  g_autoptr (AppRun) run = app_run ("korean", args, steps, locales != NULL ? korean_env : fallback_env);

  g_assert_cmpstr (member_string (step (run, 3), "modified"), ==,
                   locales != NULL ? "2026년 12월 07일 08:00" : "12/07/26 08:00");
  JsonObject *model = step (run, 4);
  g_assert_cmpstr (member_string (model, "title"), ==, "모델");
  g_assert_cmpstr (member_string (model, "format"), ==, "ClipLab 체크포인트");
  g_assert_cmpstr (member_string (model, "tokenizer"), ==, "바이트 (ID 258개)");
  g_assert_cmpstr (member_string (step (run, 8), "status_title"), ==, "학습 준비 완료");
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
  g_test_add_func ("/gui-defects/korean", test_korean);
  return g_test_run ();
}
