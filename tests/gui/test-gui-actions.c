/* test-gui-actions.c — runs the real ClipLab application (under Xvfb: see meson.build) with scripts of
 * steps (the GUI test driver, gui-driver.c) for issue 12's defects 6–12: data sets with absolute
 * paths and a chosen image folder; Export's folder, rows and toast (with a CSV handler and a
 * FileManager1 service of the test's own); what grid cells show of names and probabilities;
 * Search's endless ranked list; the grid as one Tab stop and F6 between panes; a 600 px window;
 * and the smaller things (the model dialog's focus, sorting and filtering the Classify grid, the
 * Search preview, one suggested action in Train, one-line toasts, no warning when the window
 * closes); and acting on an image (its context menu, the clipboard, dragging it out).
 * Screenshots go to $CLIPLAB_SCREENSHOT_DIR. */
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "generate.h"
#include "gui-app.h"
#include "testutil.h"

static char *sample_dir;         /* golden images + broken.png */
static char *model_dir;          /* the tiny golden model (byte tokenizer) */

#define TINY_MODEL_ARGS (const char *const[]) { "--model", model_dir, "--tokenizer", "bytes", NULL }

/* ---------------------------------------------------------------- 6: image paths of data sets */

/* A CSV listing the sample images by absolute path, and others relative to an image folder chosen in
 * the Open dialog (not the CSV's folder): every row is used, a relative path that climbs out of
 * that folder is still refused, and the folder is used again when the data set is reopened. */
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
  g_autofree char *csv_dir_json = q (csv_dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s, \"root\": %s},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"open\", \"path\": %s, \"root\": %s},"
    "{\"do\": \"open\", \"path\": %s}",
    csv_json, root_json, csv_json, csv_json, csv_dir_json, csv_json);
  g_autoptr (AppRun) run = app_run ("dataset-paths", TINY_MODEL_ARGS, steps, NULL);

  /* With the chosen folder: the absolute row and the relative one; the climbing one is reported. */
  JsonObject *chosen = step (run, 1);
  g_assert_cmpint (json_object_get_int_member (chosen, "n_items"), ==, 2);
  JsonObject *bar = json_object_get_object_member (chosen, "error_bar");
  g_assert_nonnull (bar);
  g_assert_nonnull (strstr (member_string (bar, "detail"), "data.csv:4"));
  g_assert_nonnull (strstr (member_string (bar, "detail"), "outside the image root"));

  /* Opened again as Recent does, with the folder chosen last time; with the CSV's own folder chosen,
   * only the absolute row is found, and that choice is remembered in turn. */
  g_assert_cmpint (json_object_get_int_member (step (run, 2), "n_items"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (step (run, 3), "n_items"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (step (run, 4), "n_items"), ==, 1);
}

/* ---------------------------------------------------------------- 7: export */

/* A file manager on the session bus (org.freedesktop.FileManager1), in a thread of its own: it
 * records the URIs it is asked to show. */
typedef struct {
  GMutex lock;
  GPtrArray *shown_uris;
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;
  guint owner_id;
  guint object_id;
  gboolean owned;
} FakeFileManager;

static const char file_manager_xml[] =
  "<node><interface name='org.freedesktop.FileManager1'>"
  "<method name='ShowItems'><arg type='as' name='uris' direction='in'/>"
  "<arg type='s' name='startup_id' direction='in'/></method>"
  "</interface></node>";

static void
file_manager_call (GDBusConnection *connection, const char *sender, const char *path, const char *interface,
                   const char *method, GVariant *parameters, GDBusMethodInvocation *invocation, gpointer data)
{
  FakeFileManager *fm = data;
  g_autofree const char **uris = NULL;
  const char *startup_id = NULL;

  g_variant_get (parameters, "(^a&s&s)", &uris, &startup_id);
  g_mutex_lock (&fm->lock);
  for (const char **uri = uris; *uri != NULL; uri++)
    g_ptr_array_add (fm->shown_uris, g_strdup (*uri));
  g_mutex_unlock (&fm->lock);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
file_manager_name_acquired (GDBusConnection *connection, const char *name, gpointer data)
{
  FakeFileManager *fm = data;
  g_mutex_lock (&fm->lock);
  fm->owned = TRUE;
  g_mutex_unlock (&fm->lock);
}

static gpointer
file_manager_thread (gpointer data)
{
  FakeFileManager *fm = data;
  static const GDBusInterfaceVTable vtable = { file_manager_call, NULL, NULL, { 0 } };
  g_autoptr (GError) error = NULL;

  g_main_context_push_thread_default (fm->context);
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GDBusNodeInfo) node = g_dbus_node_info_new_for_xml (file_manager_xml, &error);
  g_assert_no_error (error);
  fm->object_id = g_dbus_connection_register_object (bus, "/org/freedesktop/FileManager1", node->interfaces[0],
                                                     &vtable, fm, NULL, &error);
  g_assert_no_error (error);
  fm->owner_id = g_bus_own_name_on_connection (bus, "org.freedesktop.FileManager1", G_BUS_NAME_OWNER_FLAGS_NONE,
                                               file_manager_name_acquired, NULL, fm, NULL);
  g_main_loop_run (fm->loop);
  g_bus_unown_name (fm->owner_id);
  g_dbus_connection_unregister_object (bus, fm->object_id);
  g_main_context_pop_thread_default (fm->context);
  return NULL;
}

static FakeFileManager *
fake_file_manager_start (void)
{
  FakeFileManager *fm = g_new0 (FakeFileManager, 1);

  g_mutex_init (&fm->lock);
  fm->shown_uris = g_ptr_array_new_with_free_func (g_free);
  fm->context = g_main_context_new ();
  fm->loop = g_main_loop_new (fm->context, FALSE);
  fm->thread = g_thread_new ("file-manager", file_manager_thread, fm);
  for (int waited = 0;; waited += 10)
    {
      g_mutex_lock (&fm->lock);
      gboolean owned = fm->owned;
      g_mutex_unlock (&fm->lock);
      if (owned)
        break;
      g_assert_cmpint (waited, <, 10000);
      g_usleep (10 * 1000);
    }
  return fm;
}

static void
fake_file_manager_stop (FakeFileManager *fm)
{
  g_main_loop_quit (fm->loop);
  g_thread_join (fm->thread);
  g_main_loop_unref (fm->loop);
  g_main_context_unref (fm->context);
  g_ptr_array_unref (fm->shown_uris);
  g_mutex_clear (&fm->lock);
  g_free (fm);
}

/* Makes the default application for CSV files, in the run's data and configuration folders, a
 * script that writes what it was given to OUTPUT. */
static void
install_csv_opener (const char *home, const char *output)
{
  g_autofree char *applications = g_build_filename (home, "data", "applications", NULL);
  g_autofree char *config = g_build_filename (home, "config", NULL);
  g_autofree char *script = g_build_filename (home, "open-csv.sh", NULL);
  g_autofree char *script_text = g_strdup_printf ("#!/bin/sh\nprintf '%%s' \"$1\" > '%s.part' && mv '%s.part' '%s'\n",
                                                  output, output, output);
  g_autofree char *desktop = g_strdup_printf ("[Desktop Entry]\nType=Application\nName=Open CSV\n"
                                              "Exec=%s %%u\nMimeType=text/csv;\n", script);
  g_autofree char *desktop_path = g_build_filename (applications, "cliplab-test-open-csv.desktop", NULL);
  g_autofree char *mimeapps = g_build_filename (config, "mimeapps.list", NULL);
  const char *defaults = "[Default Applications]\ntext/csv=cliplab-test-open-csv.desktop\n";

  g_assert_cmpint (g_mkdir_with_parents (applications, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (config, 0700), ==, 0);
  tu_write_file (script, script_text, strlen (script_text));
  g_assert_cmpint (g_chmod (script, 0755), ==, 0);
  tu_write_file (desktop_path, desktop, strlen (desktop));
  tu_write_file (mimeapps, defaults, strlen (defaults));
}

/* The contents of PATH once it exists (it is written by another process), within 10 s. */
static char *
wait_for_file (const char *path)
{
  char *contents = NULL;
  for (int waited = 0; !g_file_get_contents (path, &contents, NULL, NULL); waited += 50)
    {
      g_assert_cmpint (waited, <, 10000);
      g_usleep (50 * 1000);
    }
  return contents;
}

/* Export starts in Documents, saves the rows the filter shows and says so, and its toast opens the
 * file with its application and shows it in the file manager. */
static void
test_export (void)
{
  g_autofree char *home = g_build_filename (tu_tmpdir (), "export.home", NULL);
  g_autofree char *documents = g_build_filename (tu_tmpdir (), "export-documents", NULL);
  g_autofree char *config = g_build_filename (home, "config", NULL);
  g_autofree char *user_dirs_path = g_build_filename (config, "user-dirs.dirs", NULL);
  g_autofree char *user_dirs = g_strdup_printf ("XDG_DOCUMENTS_DIR=\"%s\"\n", documents);
  g_autofree char *opened = g_build_filename (tu_tmpdir (), "export-opened.txt", NULL);
  g_autofree char *saved = g_build_filename (documents, "stripes.csv", NULL);
  g_autofree char *folder_json = q (sample_dir);
  g_autofree char *saved_json = q (saved);

  g_assert_cmpint (g_mkdir_with_parents (documents, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (config, 0700), ==, 0);
  tu_write_file (user_dirs_path, user_dirs, strlen (user_dirs));
  install_csv_opener (home, opened);
  FakeFileManager *fm = fake_file_manager_start ();

  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"set-classes\", \"text\": \"noise, gradient, photo, stripes\"},"
    "{\"do\": \"classify-all\"},"                                               /* 5 */
    "{\"do\": \"filter\", \"class\": \"stripes\"},"
    "{\"do\": \"export-save\", \"path\": %s},"
    "{\"do\": \"screenshot\", \"file\": \"export-toast.png\"},"
    "{\"do\": \"toast-action\", \"action\": \"show-toast-file\"},"
    "{\"do\": \"export-save\", \"path\": %s},"                                  /* 10 */
    "{\"do\": \"toast-action\", \"action\": \"open-toast-file\"}",
    folder_json, saved_json, saved_json);
  g_autoptr (AppRun) run = app_run ("export", TINY_MODEL_ARGS, steps, NULL);

  /* The dialog: Documents, and a title that says only the shown rows are saved. */
  guint n_shown = json_array_get_length (json_object_get_array_member (step (run, 6), "grid"));
  guint n_all = json_array_get_length (json_object_get_array_member (step (run, 5), "grid"));
  g_assert_cmpuint (n_shown, >, 0);
  g_assert_cmpuint (n_shown, <, n_all);
  JsonObject *export = step (run, 7);
  g_assert_cmpstr (member_string (export, "dialog_folder"), ==, documents);
  g_autofree char *title = g_strdup_printf (n_shown == 1 ? "Save the %u Result Shown (stripes)"
                                                         : "Save the %u Results Shown (stripes)", n_shown);
  g_assert_cmpstr (member_string (export, "dialog_title"), ==, title);
  g_assert_cmpstr (member_string (export, "dialog_name"), ==, "Sample Images-stripes.csv");

  /* The file: the header and the shown rows, all of them "stripes". */
  g_autofree char *csv = NULL;
  g_assert_true (g_file_get_contents (saved, &csv, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (csv, "\r\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, n_shown + 2);   /* + header + final empty */
  for (guint i = 1; i <= n_shown; i++)
    g_assert_nonnull (strstr (lines[i], ",stripes,"));

  /* The toast names the file and offers to open it and to show it. */
  g_assert_cmpstr (member_string (export, "toast"), ==, "Results saved to stripes.csv");
  g_assert_false (json_object_get_boolean_member (export, "toast_ellipsized"));
  JsonArray *buttons = json_object_get_array_member (export, "toast_buttons");
  g_assert_cmpuint (json_array_get_length (buttons), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (buttons, 0), ==, "_Open");
  g_assert_cmpstr (json_array_get_string_element (buttons, 1), ==, "Show in _Files");
  /* (The error bar keeps saying that broken.png could not be read.) */
  for (int s = 9; s <= 11; s += 2)
    g_assert_cmpstr (member_string (json_object_get_object_member (step (run, s), "error_bar"), "title"), ==,
                     "1 image could not be read");

  g_autoptr (GFile) saved_file = g_file_new_for_path (saved);
  g_autofree char *saved_uri = g_file_get_uri (saved_file);
  g_autofree char *opened_file = wait_for_file (opened);
  g_assert_cmpstr (opened_file, ==, saved);   /* GIO hands a local file to %u as its path */
  g_mutex_lock (&fm->lock);
  g_assert_cmpuint (fm->shown_uris->len, ==, 1);
  g_assert_cmpstr (fm->shown_uris->pdata[0], ==, saved_uri);
  g_mutex_unlock (&fm->lock);
  fake_file_manager_stop (fm);
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

/* ---------------------------------------------------------------- 9: search's endless list */

#define N_SEARCHED   300
#define RESULTS_PAGE 120         /* results the Search view fetches at a time */

/* "Find similar" in a folder of N_SEARCHED images: the first page, then more each time the user
 * scrolls to the end, past the old cap of 200, until every other image is there, best first; the
 * image searched with is never among them. */
static void
test_search_endless (void)
{
  g_autofree char *golden = tu_shared_path ("golden/images");
  g_autofree char *folder = g_build_filename (tu_tmpdir (), "many-searched", NULL);
  static const char *const sources[] = { "small_100x80.png", "palette_200x200.png", "gray_257x129.png" };

  g_assert_cmpint (g_mkdir_with_parents (folder, 0755), ==, 0);
  for (int i = 0; i < N_SEARCHED; i++)
    {
      g_autofree char *from = g_build_filename (golden, sources[i % 3], NULL);
      g_autofree char *name = g_strdup_printf ("picture-%03d.png", i);
      g_autofree char *to = g_build_filename (folder, name, NULL);
      copy_file (from, to);
    }
  g_autofree char *query = g_build_filename (folder, "picture-007.png", NULL);
  g_autofree char *folder_json = q (folder);
  g_autofree char *query_json = q (query);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"search\"},"
    "{\"do\": \"wait-index\", \"timeout\": 300},"
    "{\"do\": \"find-similar\", \"path\": %s},"                               /* 5 */
    "{\"do\": \"search-scroll-end\"},"
    "{\"do\": \"search-scroll-end\"},"
    "{\"do\": \"search-scroll-end\"},"
    "{\"do\": \"wait-thumbnails\"},"
    "{\"do\": \"screenshot\", \"file\": \"search-endless.png\"}",             /* 10 */
    folder_json, query_json);
  g_autoptr (AppRun) run = app_run ("search-endless", TINY_MODEL_ARGS, steps, NULL);

  g_assert_cmpint (json_object_get_int_member (step (run, 4), "n_indexed"), ==, N_SEARCHED);
  const struct { int step; guint n; gboolean more; } pages[] = {
    { 5, RESULTS_PAGE, TRUE }, { 6, 2 * RESULTS_PAGE, TRUE }, { 7, N_SEARCHED - 1, FALSE }, { 8, N_SEARCHED - 1, FALSE },
  };
  for (guint p = 0; p < G_N_ELEMENTS (pages); p++)
    {
      JsonObject *report = step (run, pages[p].step);
      JsonArray *results = json_object_get_array_member (report, "results");
      g_assert_cmpuint (json_array_get_length (results), ==, pages[p].n);
      g_assert_true (json_object_get_boolean_member (report, "has_more") == pages[p].more);
      double previous = 2;
      for (guint i = 0; i < pages[p].n; i++)
        {
          JsonObject *result = json_array_get_object_element (results, i);
          double score = json_object_get_double_member (result, "score");
          g_assert_cmpstr (member_string (result, "path"), !=, query);
          g_assert_cmpfloat (score, <=, previous);
          previous = score;
          /* The score is shown on the result. */
          char shown[G_ASCII_DTOSTR_BUF_SIZE];
          g_assert_cmpstr (member_string (result, "shown"), ==, g_ascii_formatd (shown, sizeof shown, "%.3f", score));
        }
    }
  g_assert_true (g_str_has_suffix (member_string (step (run, 5), "summary"), "the best 120 images, more as you scroll"));
  g_assert_true (g_str_has_suffix (member_string (step (run, 7), "summary"), "299 images, best first"));
}

/* ---------------------------------------------------------------- 10: keyboard */

/* The grid is one Tab stop (the arrows move inside it, Tab and Shift+Tab leave it), and F6 and
 * Shift+F6 go round the panes of the view. */
static void
test_keyboard_panes (void)
{
  g_autofree char *folder = q (sample_dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"select\", \"index\": 3},"
    "{\"do\": \"focus-grid\"},"
    "{\"do\": \"press-keys\", \"keys\": \"Right\"},"                              /* 5 */
    "{\"do\": \"press-keys\", \"keys\": \"Tab\"},"
    "{\"do\": \"focus-grid\"},"
    "{\"do\": \"press-keys\", \"keys\": \"<Shift>Tab\"},"
    "{\"do\": \"focus-grid\"},"
    "{\"do\": \"press-keys\", \"keys\": \"F6\"},"                                 /* 10 */
    "{\"do\": \"press-keys\", \"keys\": \"F6\"},"
    "{\"do\": \"press-keys\", \"keys\": \"<Shift>F6\"},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"select\", \"view\": \"classify\", \"index\": 2},"
    "{\"do\": \"focus-grid\", \"view\": \"classify\"},"                          /* 15 */
    "{\"do\": \"press-keys\", \"keys\": \"F6\"},"
    "{\"do\": \"press-keys\", \"keys\": \"F6\"},"
    "{\"do\": \"press-keys\", \"keys\": \"F6\"},"
    "{\"do\": \"press-keys\", \"keys\": \"<Shift>F6\"}",
    folder);
  g_autoptr (AppRun) run = app_run ("keyboard-panes", TINY_MODEL_ARGS, steps, NULL);

  const struct { int step; const char *pane; } expected[] = {
    { 5, "grid" },                   /* the arrows stay in the grid */
    { 10, "details" }, { 11, "grid" }, { 12, "details" },
    { 16, "details" }, { 17, "sidebar" }, { 18, "grid" }, { 19, "sidebar" },
  };
  for (int s = 4; s <= 15; s += 11)
    g_assert_true (json_object_get_boolean_member (step (run, s), "focused"));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      JsonObject *report = step (run, expected[i].step);
      g_test_message ("step %d: focus on %s in %s", expected[i].step, member_string (report, "focus_widget"),
                      member_string (report, "focus_pane"));
      g_assert_true (json_object_get_boolean_member (report, "handled"));
      g_assert_cmpstr (member_string (report, "focus_pane"), ==, expected[i].pane);
    }
  /* Tab and Shift+Tab leave the grid, for something that takes the focus (not nowhere). */
  for (int s = 6; s <= 8; s += 2)
    {
      JsonObject *report = step (run, s);
      g_test_message ("step %d: focus on %s in %s", s, member_string (report, "focus_widget"),
                      member_string (report, "focus_pane"));
      g_assert_true (json_object_get_boolean_member (report, "handled"));
      g_assert_cmpstr (member_string (report, "focus_pane"), !=, "grid");
      g_assert_nonnull (member_string (report, "focus_widget"));
    }
}

/* ---------------------------------------------------------------- 11: small windows */

/* Every pane of LAYOUT (a "layout" report) lies inside the window; the probability bars, when
 * shown, at their full width. */
static void
check_inside_window (JsonObject *layout, const char *what)
{
  double window_width = json_object_get_int_member (layout, "window_width");
  JsonObject *panes = json_object_get_object_member (layout, "panes");
  g_autoptr (GList) names = json_object_get_members (panes);
  JsonNode *bars = json_object_get_member (layout, "prob_bars");

  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (panes, l->data);
      if (JSON_NODE_HOLDS_NULL (node))
        continue;
      JsonObject *pane = json_node_get_object (node);
      double right = json_object_get_double_member (pane, "x") + json_object_get_double_member (pane, "width");
      g_test_message ("%s: %s ends at %.0f of %.0f", what, (const char *) l->data, right, window_width);
      g_assert_cmpfloat (right, <=, window_width);
    }
  if (!JSON_NODE_HOLDS_NULL (bars))
    {
      JsonObject *b = json_node_get_object (bars);
      g_assert_cmpfloat (json_object_get_double_member (b, "x") + json_object_get_double_member (b, "width"), <=,
                         window_width);
      g_assert_cmpfloat (json_object_get_double_member (b, "width"), >=, json_object_get_int_member (b, "min_width"));
    }
}

static gboolean
pane_shown (JsonObject *layout, const char *name)
{
  JsonObject *panes = json_object_get_object_member (layout, "panes");
  return json_object_has_member (panes, name) && !JSON_NODE_HOLDS_NULL (json_object_get_member (panes, name));
}

/* At 600 px the window fits: Browse keeps its two panes, Classify collapses its image grid and keeps
 * the class names and the probabilities whole; wide again, every pane is back. */
static void
test_small_window (void)
{
  g_autofree char *folder = q (sample_dir);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 600, \"height\": 600},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"select\", \"index\": 3},"
    "{\"do\": \"layout\"},"
    "{\"do\": \"view\", \"name\": \"classify\"},"                                 /* 5 */
    "{\"do\": \"set-classes\", \"text\": \"noise, gradient, a colourful palette\"},"
    "{\"do\": \"wait-probs\"},"
    "{\"do\": \"layout\"},"
    "{\"do\": \"screenshot\", \"file\": \"classify-600.png\"},"
    "{\"do\": \"view\", \"name\": \"train\"},"                                    /* 10 */
    "{\"do\": \"layout\"},"
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"layout\"}",
    folder);
  g_autoptr (AppRun) run = app_run ("small-window", TINY_MODEL_ARGS, steps, NULL);

  JsonObject *browse = step (run, 4), *classify = step (run, 8), *train = step (run, 11), *wide = step (run, 14);
  g_assert_cmpint (json_object_get_int_member (browse, "window_min_width"), <=, 600);
  g_assert_cmpint (json_object_get_int_member (browse, "window_width"), <=, 640);
  check_inside_window (browse, "Browse");
  g_assert_true (pane_shown (browse, "grid"));
  g_assert_true (pane_shown (browse, "details"));
  check_inside_window (classify, "Classify");
  g_assert_true (pane_shown (classify, "sidebar"));
  g_assert_true (pane_shown (classify, "details"));
  g_assert_false (pane_shown (classify, "grid"));
  g_assert_false (JSON_NODE_HOLDS_NULL (json_object_get_member (classify, "prob_bars")));
  check_inside_window (train, "Train");
  check_inside_window (wide, "Classify, wide");
  g_assert_true (pane_shown (wide, "grid"));
}

/* ---------------------------------------------------------------- 12: smaller things */

/* Path of each item of a grid report. */
static gboolean
grid_holds (JsonObject *report, const char *path)
{
  JsonArray *grid = json_object_get_array_member (report, "grid");
  for (guint i = 0; i < json_array_get_length (grid); i++)
    if (g_strcmp0 (member_string (json_array_get_object_element (grid, i), "path"), path) == 0)
      return TRUE;
  return FALSE;
}

/* The model dialog opens on a button, not on a selected value; sorting by confidence shows the top
 * of the grid; an image the filter hides leaves the preview; Search has a preview pane; closing the
 * window leaves no GTK warning (app_run fails on any). */
static void
test_smaller_things (void)
{
  g_autofree char *folder = make_series_folder ("series-60", 60);
  g_autofree char *folder_json = q (folder);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open-dialog\", \"name\": \"model\"},"
    "{\"do\": \"close-dialogs\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"classify\"},"                                 /* 5 */
    "{\"do\": \"set-classes\", \"text\": \"circle, square\"},"
    "{\"do\": \"classify-all\"},"
    "{\"do\": \"select\", \"view\": \"classify\", \"index\": 59},"
    "{\"do\": \"sort\", \"by\": \"confidence\"},"
    "{\"do\": \"filter\", \"class\": \"circle\"},"                                 /* 10 */
    "{\"do\": \"filter\", \"class\": \"square\"},"
    "{\"do\": \"view\", \"name\": \"search\"},"
    "{\"do\": \"wait-index\"},"
    "{\"do\": \"search\", \"text\": \"a circle\"},"
    "{\"do\": \"select\", \"view\": \"search\", \"index\": 0},"                     /* 15 */
    "{\"do\": \"search-preview\"},"
    "{\"do\": \"screenshot\", \"file\": \"search-preview.png\"},"
    "{\"do\": \"close-window\"}",
    folder_json);
  g_autoptr (AppRun) run = app_run ("smaller-things", TINY_MODEL_ARGS, steps, NULL);

  JsonObject *dialog = step (run, 2);
  g_assert_cmpstr (member_string (dialog, "dialog"), ==, "ClModelChooser");
  g_assert_cmpstr (member_string (dialog, "dialog_focus"), ==, "GtkButton");
  g_assert_false (json_object_get_boolean_member (dialog, "dialog_focus_selected"));

  /* The last image was selected (the grid scrolled down to it); the new order shows its top. */
  g_assert_cmpfloat (json_object_get_double_member (step (run, 9), "scrolled"), ==, 0);

  /* Each image is predicted as one of the two classes, so one of the filters hides the selected
   * image: the selection then moves to an image shown, or to none. */
  for (int s = 10; s <= 11; s++)
    {
      JsonObject *filtered = step (run, s);
      const char *selected = member_string (filtered, "selected");
      g_test_message ("step %d: %u shown, selected %s", s,
                      json_array_get_length (json_object_get_array_member (filtered, "grid")), selected);
      g_assert_true (selected == NULL || grid_holds (filtered, selected));
    }

  JsonObject *preview = step (run, 16);
  JsonObject *top = json_array_get_object_element (json_object_get_array_member (preview, "results"), 0);
  g_autofree char *name = g_path_get_basename (member_string (top, "path"));
  g_autofree char *score = g_strdup_printf ("Score %s", member_string (top, "shown"));
  g_assert_true (json_object_get_boolean_member (preview, "preview_shown"));
  g_assert_cmpstr (member_string (preview, "preview_name"), ==, name);
  g_assert_cmpstr (member_string (preview, "preview_score"), ==, score);
}

/* Train shows one suggested (blue) action at a time, and in a narrow window the toast of "Use This
 * Model" keeps to one line. */
static void
test_train_actions (void)
{
  g_autofree char *shapes = g_build_filename (tu_tmpdir (), "train-shapes", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (cli_generate_shapes (shapes, 64, 0, 32, NULL, &error));
  g_assert_no_error (error);
  g_autofree char *train = g_build_filename (shapes, "train.csv", NULL);
  g_autofree char *train_json = q (train);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"train\"},"
    "{\"do\": \"train-settings\", \"settings\": {\"train-csv\": %s, \"train-val-csv\": \"\", "
    "\"train-model\": \"small\", \"train-batch-size\": 8, \"train-max-steps\": 3, \"train-save-every\": 0}},"
    "{\"do\": \"train-wait\"},"
    "{\"do\": \"train-start\", \"timeout\": 120},"                                   /* 5 */
    "{\"do\": \"resize\", \"width\": 600, \"height\": 600},"
    "{\"do\": \"train-use-model\"},"
    "{\"do\": \"wait-toast\"},"
    "{\"do\": \"screenshot\", \"file\": \"train-toast-600.png\"}",
    train_json);
  g_autoptr (AppRun) run = app_run ("train-actions", TINY_MODEL_ARGS, steps, NULL);

  JsonArray *ready = json_object_get_array_member (step (run, 4), "suggested");
  g_assert_cmpuint (json_array_get_length (ready), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (ready, 0), ==, "_Start Training");
  JsonObject *finished = step (run, 5);
  g_assert_cmpstr (member_string (finished, "state"), ==, "finished");
  JsonArray *after = json_object_get_array_member (finished, "suggested");
  g_assert_cmpuint (json_array_get_length (after), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (after, 0), ==, "_Use This Model");

  JsonObject *toast = step (run, 8);
  g_test_message ("toast: %s", member_string (toast, "toast"));
  g_assert_cmpint (json_object_get_int_member (toast, "toast_lines"), ==, 1);
}

/* ---------------------------------------------------------------- 13: acting on images */

/* The context menu of an image: Find Similar, Open With… (the application chooser), Show in Files
 * (the file manager's ShowItems), Copy (the file on the clipboard), Move to Trash (test-gui-grid.c
 * tries it); dragging the image out of the grid carries its file. */
static void
test_image_actions (void)
{
  g_autofree char *folder = q (sample_dir);
  g_autofree char *scene = g_build_filename (sample_dir, "scene_640x480.png", NULL);
  FakeFileManager *fm = fake_file_manager_start ();
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"select\", \"index\": 8},"
    "{\"do\": \"focus-grid\"},"
    "{\"do\": \"press-keys\", \"keys\": \"Menu\"},"                                /* 5 */
    "{\"do\": \"activate-menu-item\", \"index\": 3},"
    "{\"do\": \"clipboard\"},"
    "{\"do\": \"drag-content\"},"
    "{\"do\": \"press-keys\", \"keys\": \"Menu\"},"
    "{\"do\": \"activate-menu-item\", \"index\": 2},"                              /* 10 */
    "{\"do\": \"press-keys\", \"keys\": \"Menu\"},"
    "{\"do\": \"activate-menu-item\", \"index\": 1},"
    "{\"do\": \"wait-dialog\"},"
    "{\"do\": \"screenshot\", \"window\": \"dialog\", \"file\": \"open-with.png\"},"
    "{\"do\": \"close-dialogs\"}",                                                 /* 15 */
    folder);
  g_autoptr (AppRun) run = app_run ("image-actions", TINY_MODEL_ARGS, steps, NULL);

  /* Find Similar names the image; the others act on the selection (this image alone here). */
  static const char *const actions[] = { "win.find-similar", "grid.open-with", "grid.show-in-files", "grid.copy",
                                         "grid.trash" };
  JsonArray *menu = json_object_get_array_member (step (run, 5), "menu");
  g_assert_cmpuint (json_array_get_length (menu), ==, G_N_ELEMENTS (actions));
  for (guint i = 0; i < G_N_ELEMENTS (actions); i++)
    {
      JsonObject *item = json_array_get_object_element (menu, i);
      g_assert_cmpstr (member_string (item, "action"), ==, actions[i]);
      g_assert_cmpstr (member_string (item, "target"), ==, i == 0 ? scene : NULL);
    }
  static const int chosen[] = { 6, 10, 12 };   /* Copy, Show in Files, Open With… */
  for (guint i = 0; i < G_N_ELEMENTS (chosen); i++)
    g_assert_true (json_object_get_boolean_member (step (run, chosen[i]), "activated"));

  for (int s = 7; s <= 8; s++)
    {
      JsonObject *content = step (run, s);
      JsonArray *files = json_object_get_array_member (content, "files");
      g_test_message ("step %d offers %s", s, member_string (content, "formats"));
      g_assert_cmpuint (json_array_get_length (files), ==, 1);
      g_assert_cmpstr (json_array_get_string_element (files, 0), ==, scene);
      g_assert_nonnull (strstr (member_string (content, "formats"), "text/uri-list"));
    }
  g_assert_cmpstr (member_string (step (run, 13), "dialog"), ==, "GtkAppChooserDialog");

  g_autoptr (GFile) scene_file = g_file_new_for_path (scene);
  g_autofree char *scene_uri = g_file_get_uri (scene_file);
  g_mutex_lock (&fm->lock);
  g_assert_cmpuint (fm->shown_uris->len, ==, 1);
  g_assert_cmpstr (fm->shown_uris->pdata[0], ==, scene_uri);
  g_mutex_unlock (&fm->lock);
  fake_file_manager_stop (fm);
}

/* ---------------------------------------------------------------- main */

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  if (!app_run_setup ())
    {
      app_run_add_skipped ("/gui-actions");
      return g_test_run ();
    }
  model_dir = tu_shared_path ("golden/models/tiny_quickgelu/hf");
  sample_dir = make_sample_folder ();

  g_test_add_func ("/gui-actions/dataset-paths", test_dataset_paths);
  g_test_add_func ("/gui-actions/export", test_export);
  g_test_add_func ("/gui-actions/labels", test_labels);
  g_test_add_func ("/gui-actions/search-endless", test_search_endless);
  g_test_add_func ("/gui-actions/keyboard-panes", test_keyboard_panes);
  g_test_add_func ("/gui-actions/small-window", test_small_window);
  g_test_add_func ("/gui-actions/smaller-things", test_smaller_things);
  g_test_add_func ("/gui-actions/train-actions", test_train_actions);
  g_test_add_func ("/gui-actions/image-actions", test_image_actions);
  return g_test_run ();
}
