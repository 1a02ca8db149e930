/* test-gui-actions.c — runs the real ClipLab application (under Xvfb: see meson.build) with scripts of
 * steps (the GUI test driver, gui-driver.c) for issue 12's defects 6–12: data sets with absolute
 * paths and a chosen image folder, Export, labels that keep what tells images apart, Search's
 * ranked list, the keyboard, small windows and the smaller things.  Screenshots go to
 * $CLIPLAB_SCREENSHOT_DIR. */
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "gui-app.h"
#include "testutil.h"

static char *sample_dir;         /* golden images + broken.png */
static char *model_dir;          /* the tiny golden model (byte tokenizer) */

#define TINY_MODEL_ARGS (const char *const[]) { "--model", model_dir, "--tokenizer", "bytes", NULL }

/* ---------------------------------------------------------------- 6: image paths of data sets */

/* A CSV listing the sample images by absolute path, and others relative to an image folder chosen in
 * the Open dialog (not the CSV's folder): every row is used, and a relative path that climbs out of
 * that folder is still refused. */
static void
test_dataset_paths (void)
{
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "dataset-paths", NULL);
  g_autofree char *csv_dir = g_build_filename (dir, "lists", NULL);
  g_autofree char *root = g_build_filename (dir, "pictures", NULL);
  g_autofree char *golden = tu_shared_path ("golden/images");
  g_autofree char *absolute = g_build_filename (sample_dir, "scene_640x480.png", NULL);
  g_autofree char *from = g_build_filename (golden, "wide_1000x150.png", NULL);
  g_autofree char *relative = g_build_filename (root, "wide_1000x150.png", NULL);
  g_autofree char *outside = g_build_filename (dir, "outside.png", NULL);

  g_assert_cmpint (g_mkdir_with_parents (csv_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (root, 0755), ==, 0);
  copy_file (from, relative);
  copy_file (from, outside);
  g_autofree char *csv = g_strdup_printf ("image_path,caption\n"
                                          "%s,a scene by its absolute path\n"
                                          "wide_1000x150.png,a strip relative to the chosen folder\n"
                                          "../outside.png,a relative path that climbs out\n", absolute);
  g_autofree char *csv_path = g_build_filename (csv_dir, "data.csv", NULL);
  tu_write_file (csv_path, csv, strlen (csv));

  g_autofree char *csv_json = q (csv_path);
  g_autofree char *root_json = q (root);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s, \"root\": %s},"
    "{\"do\": \"open\", \"path\": %s}",
    csv_json, root_json, csv_json);
  g_autoptr (AppRun) run = app_run ("dataset-paths", TINY_MODEL_ARGS, steps, NULL);

  /* With the chosen folder: the absolute row and the relative one; the climbing one is reported. */
  JsonObject *chosen = step (run, 1);
  g_assert_cmpint (json_object_get_int_member (chosen, "n_items"), ==, 2);
  JsonObject *bar = json_object_get_object_member (chosen, "error_bar");
  g_assert_nonnull (bar);
  g_assert_nonnull (strstr (member_string (bar, "detail"), "line 4"));
  g_assert_nonnull (strstr (member_string (bar, "detail"), "outside the image root"));

  /* By default relative paths start from the CSV's folder: only the absolute row is found there. */
  g_assert_cmpint (json_object_get_int_member (step (run, 2), "n_items"), ==, 1);
}

/* ---------------------------------------------------------------- 8: labels */

#define N_SERIES 12

/* A folder of images named as a camera or an exporter names them: "img-00001-circle.png"… */
static char *
make_series_folder (const char *name, int n)
{
  g_autofree char *golden = tu_shared_path ("golden/images");
  g_autofree char *from = g_build_filename (golden, "small_100x80.png", NULL);
  char *folder = g_build_filename (tu_tmpdir (), name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (folder, 0755), ==, 0);
  for (int i = 1; i <= n; i++)
    {
      g_autofree char *file = g_strdup_printf ("img-%05d-%s.png", i, i % 2 ? "circle" : "square");
      g_autofree char *to = g_build_filename (folder, file, NULL);
      copy_file (from, to);
    }
  return folder;
}

/* Each cell shows the digits that tell its name from its neighbours', and the badge of a long class
 * name still shows its probability. */
static void
test_labels (void)
{
  g_autofree char *folder = make_series_folder ("series", N_SERIES);
  g_autofree char *folder_json = q (folder);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"cell-labels\", \"view\": \"browse\"},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"set-classes\", \"text\": \"a very blue square with rounded corners, a small red circle on white\"},"
    "{\"do\": \"classify-all\"},"
    "{\"do\": \"cell-labels\", \"view\": \"classify\"},"
    "{\"do\": \"screenshot\", \"file\": \"classify-labels.png\"}",
    folder_json);
  g_autoptr (AppRun) run = app_run ("labels", TINY_MODEL_ARGS, steps, NULL);
  g_autoptr (GRegex) percent = g_regex_new ("· [0-9]+ %$", 0, 0, NULL);

  for (int s = 3; s <= 7; s += 4)
    {
      JsonArray *cells = json_object_get_array_member (step (run, s), "cells");
      g_assert_cmpuint (json_array_get_length (cells), ==, N_SERIES);
      for (guint i = 0; i < json_array_get_length (cells); i++)
        {
          JsonObject *cell = json_array_get_object_element (cells, i);
          const char *name = member_string (cell, "name");
          const char *title = member_string (cell, "title_shown");
          /* "img-00012-square.png": "012-" tells it from "img-00011-circle.png". */
          g_autofree char *digits = g_strndup (name + strlen ("img-00"), 4);
          if (strstr (title, digits) == NULL)
            g_error ("the cell of %s shows “%s”, without “%s”", name, title, digits);
          const char *badge = member_string (cell, "badge_shown");
          if (s == 7 && !g_regex_match (percent, badge, 0, NULL))
            g_error ("the badge of %s shows “%s”, without its probability", name, badge);
        }
    }
}

/* ---------------------------------------------------------------- main */

static void
test_skipped (void)
{
  g_test_skip ("needs CLIPLAB_GUI_DRIVER, CLIPLAB_SCREENSHOT_DIR and an X display (meson runs it under xvfb-run)");
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  if (!app_run_setup ())
    {
      g_test_add_func ("/gui-actions/skipped", test_skipped);
      return g_test_run ();
    }
  model_dir = tu_shared_path ("golden/models/tiny_quickgelu/hf");
  sample_dir = make_sample_folder ();

  g_test_add_func ("/gui-actions/dataset-paths", test_dataset_paths);
  g_test_add_func ("/gui-actions/labels", test_labels);
  return g_test_run ();
}
