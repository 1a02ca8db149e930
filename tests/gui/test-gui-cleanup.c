/* test-gui-cleanup.c — the Clean Up view of the real application (under Xvfb, driven by gui-driver.c)
 * with the built-in model: a folder of drawn scenes with planted duplicates (a byte copy, a JPEG
 * re-encoding and a resized copy) shows exactly the planted groups; "Keep This One" moves the
 * others into the run's own trash ($XDG_DATA_HOME/Trash, on the folder's volume) and the toast's
 * Undo brings them back; Fashion-MNIST test images with flipped labels (skipped without Debian's
 * dataset-fashion-mnist) list the flipped ones first, and accepting a suggestion writes
 * NAME.corrected.csv with the suggested label, leaving the original CSV as it was. */
#include <stdlib.h>
#include <string.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "clip.h"
#include "generate.h"
#include "gui-app.h"
#include "testutil.h"

#define FASHION_DIR   "/usr/share/datasets/fashion-mnist"
#define N_FASHION     300
#define N_FLIPPED     6          /* the labels of the first rows, moved to another class */
#define TOP_ISSUES    12         /* the flipped ones must be among the first issues */
#define MIN_FLIPPED_FOUND 5      /* `cliplab-cli audit` finds as many on these images (tests/cli) */

static const char *source_root;

static char *
builtin_model (void)
{
  return g_build_filename (source_root, "data", "builtin", "model.safetensors", NULL);
}

static const char *
base_name (const char *path)
{
  const char *slash = strrchr (path, '/');
  return slash != NULL ? slash + 1 : path;
}

/* ---------------------------------------------------------------- duplicates */

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Whether NAME is one of the planted images: the two originals and their copies. */
static gboolean
is_planted (const char *name)
{
  return g_str_equal (name, "000000.png") || g_str_equal (name, "000001.png") || g_str_has_prefix (name, "copy-");
}

/* The members' file names of each reported group that holds a planted image, sorted, groups
 * sorted: "a,b;c,d".  Groups of drawn scenes only are left out: whether two drawn scenes (two
 * yellow stars, say) are near-duplicates is the model's call, not the test's. */
static char *
group_names (JsonObject *report)
{
  JsonArray *groups = json_object_get_array_member (report, "groups");
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  for (guint g = 0; g < json_array_get_length (groups); g++)
    {
      JsonArray *members = json_object_get_array_member (json_array_get_object_element (groups, g), "members");
      g_autoptr (GPtrArray) names = g_ptr_array_new ();
      gboolean planted = FALSE;
      for (guint m = 0; m < json_array_get_length (members); m++)
        {
          const char *name = base_name (member_string (json_array_get_object_element (members, m), "path"));
          planted |= is_planted (name);
          g_ptr_array_add (names, (gpointer) name);
        }
      if (!planted)
        continue;
      g_ptr_array_sort (names, compare_names);
      g_ptr_array_add (names, NULL);
      g_ptr_array_add (texts, g_strjoinv (",", (char **) names->pdata));
    }
  g_ptr_array_sort (texts, compare_names);
  g_ptr_array_add (texts, NULL);
  return g_strjoinv (";", (char **) texts->pdata);
}

/* FOLDER: 32 drawn scenes, and copies of two of them: 000000.png byte for byte and as a JPEG,
 * 000001.png at 80 % of its size. */
static char *
make_duplicates_folder (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *shapes = g_build_filename (tu_tmpdir (), "shapes", NULL);
  g_assert_true (cli_generate_shapes (shapes, 40, 2, 64, NULL, &error));
  g_assert_no_error (error);
  char *folder = g_build_filename (shapes, "train", NULL);
  g_autofree char *first = g_build_filename (folder, "000000.png", NULL);
  g_autofree char *second = g_build_filename (folder, "000001.png", NULL);
  g_autofree char *exact = g_build_filename (folder, "copy-exact.png", NULL);
  g_autofree char *jpeg = g_build_filename (folder, "copy-jpeg.jpg", NULL);
  g_autofree char *small = g_build_filename (folder, "copy-small.png", NULL);
  copy_file (first, exact);
  g_autoptr (GdkPixbuf) image = gdk_pixbuf_new_from_file (first, &error);
  g_assert_no_error (error);
  g_assert_true (gdk_pixbuf_save (image, jpeg, "jpeg", &error, "quality", "90", NULL));
  g_autoptr (GdkPixbuf) other = gdk_pixbuf_new_from_file (second, &error);
  g_assert_no_error (error);
  g_autoptr (GdkPixbuf) resized = gdk_pixbuf_scale_simple (other, 51, 51, GDK_INTERP_BILINEAR);
  g_assert_true (gdk_pixbuf_save (resized, small, "png", &error, NULL));
  return folder;
}

static void
test_duplicates (void)
{
  g_autofree char *folder = make_duplicates_folder ();
  g_autofree char *model = builtin_model ();
  g_autofree char *keep = g_build_filename (folder, "000000.png", NULL);
  g_autofree char *folder_json = q (folder);
  g_autofree char *keep_json = q (keep);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"cleanup\"},"
    "{\"do\": \"cleanup-find\"},"
    "{\"do\": \"screenshot\", \"file\": \"cleanup-duplicates.png\"},"                     /* 5 */
    "{\"do\": \"cleanup-action\", \"action\": \"keep\", \"path\": %s},"
    "{\"do\": \"wait-toast\"},"
    "{\"do\": \"cleanup-state\"},"
    "{\"do\": \"toast-action\", \"action\": \"undo-toast\"},"
    "{\"do\": \"cleanup-state\", \"delay\": 500},"                                          /* 10 */
    "{\"do\": \"cleanup-find\", \"threshold\": 0.05}",
    folder_json, keep_json);
  g_autoptr (AppRun) run = app_run ("cleanup-duplicates", (const char *const[]) { "--model", model, NULL }, steps, NULL);

  /* Exactly the planted groups: the copy and the re-encoding with their original, the resized copy
   * with its own, and no drawn scene with them; the byte copy alone would be "exact", the group
   * with the JPEG is not. */
  JsonObject *found = step (run, 4);
  g_autofree char *names = group_names (found);
  g_assert_cmpstr (names, ==, "000000.png,copy-exact.png,copy-jpeg.jpg;000001.png,copy-small.png");
  JsonArray *groups = json_object_get_array_member (found, "groups");
  JsonObject *small_group = NULL;
  for (guint g = 0; g < json_array_get_length (groups); g++)
    {
      JsonArray *members = json_object_get_array_member (json_array_get_object_element (groups, g), "members");
      for (guint m = 0; m < json_array_get_length (members); m++)
        if (g_str_equal (base_name (member_string (json_array_get_object_element (members, m), "path")), "copy-small.png"))
          small_group = json_array_get_object_element (groups, g);
    }
  g_assert_nonnull (small_group);
  g_assert_false (json_object_get_boolean_member (small_group, "exact"));
  JsonArray *pair = json_object_get_array_member (small_group, "members");
  for (guint m = 0; m < 2; m++)
    {
      JsonObject *member = json_array_get_object_element (pair, m);
      gint64 side = g_str_equal (base_name (member_string (member, "path")), "copy-small.png") ? 51 : 64;
      g_assert_cmpint (json_object_get_int_member (member, "width"), ==, side);
      g_assert_cmpint (json_object_get_int_member (member, "height"), ==, side);
      g_assert_cmpint (json_object_get_int_member (member, "size"), >, 0);
    }

  /* Keep 000000.png: its two copies are in the run's trash, the group is gone, Undo is offered. */
  g_assert_nonnull (strstr (member_string (step (run, 7), "toast"), "2"));
  JsonObject *kept = step (run, 8);
  g_autofree char *left = group_names (kept);
  g_assert_cmpstr (left, ==, "000001.png,copy-small.png");
  g_autofree char *trash = g_build_filename (tu_tmpdir (), "cleanup-duplicates.home", "data", "Trash", "files", NULL);
  g_autofree char *trashed_exact = g_build_filename (trash, "copy-exact.png", NULL);
  g_autofree char *trashed_jpeg = g_build_filename (trash, "copy-jpeg.jpg", NULL);
  JsonArray *in_trash = json_object_get_array_member (kept, "trash_files");
  g_assert_cmpuint (json_array_get_length (in_trash), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (in_trash, 0), ==, "copy-exact.png");
  g_assert_cmpstr (json_array_get_string_element (in_trash, 1), ==, "copy-jpeg.jpg");

  /* Undo: both back in the folder with their bytes, the trash empty, the group listed again. */
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (step (run, 10), "trash_files")), ==, 0);
  g_autofree char *restored = group_names (step (run, 10));
  g_assert_cmpstr (restored, ==, names);
  g_autofree char *exact = g_build_filename (folder, "copy-exact.png", NULL);
  g_autofree char *jpeg = g_build_filename (folder, "copy-jpeg.jpg", NULL);
  g_assert_true (g_file_test (exact, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (jpeg, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (trashed_exact, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (trashed_jpeg, G_FILE_TEST_EXISTS));
  g_autofree char *original_bytes = NULL, *copy_bytes = NULL;
  gsize original_length, copy_length;
  g_assert_true (g_file_get_contents (keep, &original_bytes, &original_length, NULL));
  g_assert_true (g_file_get_contents (exact, &copy_bytes, &copy_length, NULL));
  g_assert_cmpmem (original_bytes, original_length, copy_bytes, copy_length);

  /* "Similar Images" (0.05) keeps each planted copy with its original, in groups as large or larger. */
  JsonObject *similar = step (run, 11);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (similar, "threshold"), 0.05, 1e-6);
  JsonArray *similar_groups = json_object_get_array_member (similar, "groups");
  const char *const planted[][2] = { { "000000.png", "copy-jpeg.jpg" }, { "000001.png", "copy-small.png" } };
  for (guint p = 0; p < G_N_ELEMENTS (planted); p++)
    {
      int together = 0;
      for (guint g = 0; g < json_array_get_length (similar_groups); g++)
        {
          JsonArray *members = json_object_get_array_member (json_array_get_object_element (similar_groups, g), "members");
          int hits = 0;
          for (guint m = 0; m < json_array_get_length (members); m++)
            {
              const char *name = base_name (member_string (json_array_get_object_element (members, m), "path"));
              hits += g_str_equal (name, planted[p][0]) || g_str_equal (name, planted[p][1]);
            }
          together += hits == 2;
        }
      g_assert_cmpint (together, ==, 1);
    }
}

/* ---------------------------------------------------------------- label issues */

/* CSV with the labels of its first N_FLIPPED data rows moved: trouser ↔ bag, else → trouser. */
static void
write_flipped_csv (const char *csv, const char *flipped)
{
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (csv, &text, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (int i = 1; i <= N_FLIPPED && lines[i] != NULL; i++)
    {
      char *comma = strrchr (lines[i], ',');
      g_assert_nonnull (comma);
      const char *moved = g_str_equal (comma + 1, "trouser") ? "bag" : "trouser";
      *comma = '\0';
      /* a quoted caption with a comma and a quote in it, which the corrected copy must keep */
      char *caption = strchr (lines[i], ',');
      g_assert_nonnull (caption);
      *caption = '\0';
      char *row = g_strconcat (lines[i], ",\"", caption + 1, ", said \"\"someone\"\"\",", moved, NULL);
      g_free (lines[i]);
      lines[i] = row;
    }
  g_autofree char *joined = g_strjoinv ("\n", lines);
  g_assert_true (g_file_set_contents (flipped, joined, -1, NULL));
}

/* The first N_FASHION Fashion-MNIST test images as PNGs with test.csv (written once), or NULL
 * (the test skipped) without Debian's dataset-fashion-mnist. */
static const char *
fashion_dir (void)
{
  static char *dir;
  if (!g_file_test (FASHION_DIR, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("Debian's dataset-fashion-mnist is not installed (bash build-aux/setup.sh deps)");
      return NULL;
    }
  if (dir == NULL)
    {
      g_autoptr (GError) error = NULL;
      dir = g_build_filename (tu_tmpdir (), "fm", NULL);
      g_assert_true (cli_generate_fashion_mnist (FASHION_DIR, dir, 1, N_FASHION, 0, NULL, &error));
      g_assert_no_error (error);
    }
  return dir;
}

static void
test_label_issues (void)
{
  const char *dir = fashion_dir ();
  if (dir == NULL)
    return;
  g_autofree char *csv = g_build_filename (dir, "test.csv", NULL);
  g_autofree char *flipped = g_build_filename (dir, "flipped.csv", NULL);
  write_flipped_csv (csv, flipped);
  g_autofree char *original = NULL;
  g_assert_true (g_file_get_contents (flipped, &original, NULL, NULL));

  g_autofree char *model = builtin_model ();
  g_autofree char *flipped_json = q (flipped);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"cleanup\"},"
    "{\"do\": \"cleanup-find\"},"
    "{\"do\": \"cleanup-panel\", \"name\": \"labels\"},"                                 /* 5 */
    "{\"do\": \"screenshot\", \"file\": \"cleanup-labels.png\"}",
    flipped_json);
  g_autoptr (AppRun) run = app_run ("cleanup-labels", (const char *const[]) { "--model", model, NULL }, steps, NULL);

  /* The flipped rows (000000 … 000005) first. */
  JsonArray *issues = json_object_get_array_member (step (run, 4), "issues");
  int found = 0;
  const char *first_path = NULL, *first_suggested = NULL;
  for (guint i = 0; i < MIN (json_array_get_length (issues), TOP_ISSUES); i++)
    {
      JsonObject *issue = json_array_get_object_element (issues, i);
      if (json_object_get_null_member (issue, "suggested"))
        continue;
      int number = atoi (base_name (member_string (issue, "path")));
      found += number < N_FLIPPED;
      if (first_path == NULL)
        {
          first_path = member_string (issue, "path");
          first_suggested = member_string (issue, "suggested");
          g_assert_cmpint (number, <, N_FLIPPED);
        }
    }
  g_test_message ("%d of the %d flipped labels among the first %d issues", found, N_FLIPPED, TOP_ISSUES);
  g_assert_cmpint (found, >=, MIN_FLIPPED_FOUND);

  /* Accept the first: a corrected copy beside the CSV with its label, the original untouched. */
  g_autofree char *first_json = q (first_path);
  g_autofree char *chosen = g_build_filename (dir, "chosen.csv", NULL);
  g_autofree char *chosen_json = q (chosen);
  g_autofree char *accept_steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"cleanup\"},"
    "{\"do\": \"cleanup-find\"},"
    "{\"do\": \"cleanup-action\", \"action\": \"accept\", \"path\": %s},"                 /* 5 */
    "{\"do\": \"wait-toast\"},"
    "{\"do\": \"cleanup-find\", \"corrected_target\": %s}",
    flipped_json, first_json, chosen_json);
  g_autoptr (AppRun) accepted = app_run ("cleanup-accept", (const char *const[]) { "--model", model, NULL },
                                         accept_steps, NULL);
  JsonObject *after = step (accepted, 5);
  g_autofree char *corrected = g_build_filename (dir, "flipped.corrected.csv", NULL);
  g_assert_cmpstr (member_string (after, "corrected_path"), ==, corrected);
  for (guint i = 0; i < json_array_get_length (json_object_get_array_member (after, "issues")); i++)
    g_assert_cmpstr (member_string (json_array_get_object_element (json_object_get_array_member (after, "issues"), i),
                                    "path"), !=, first_path);
  g_assert_nonnull (strstr (member_string (step (accepted, 6), "toast"), "flipped.corrected.csv"));

  g_autofree char *now = NULL, *written = NULL;
  g_assert_true (g_file_get_contents (flipped, &now, NULL, NULL));
  g_assert_cmpstr (now, ==, original);
  g_assert_true (g_file_get_contents (corrected, &written, NULL, NULL));
  g_auto (GStrv) before_lines = g_strsplit (original, "\n", -1);
  g_auto (GStrv) after_lines = g_strsplit (written, "\n", -1);
  g_assert_cmpuint (g_strv_length (after_lines), ==, g_strv_length (before_lines));
  int changed = 0;
  for (guint i = 0; before_lines[i] != NULL; i++)
    {
      if (g_str_equal (before_lines[i], after_lines[i]))
        continue;
      changed++;
      /* the accepted image's row: the same up to its label, which is the suggestion now */
      g_autofree char *entry = g_strndup (after_lines[i], strcspn (after_lines[i], ","));
      g_autofree char *label_after = g_strconcat (",", first_suggested, NULL);
      g_assert_true (g_str_has_suffix (first_path, entry));
      g_assert_true (g_str_has_suffix (after_lines[i], label_after));
      g_assert_cmpint (strrchr (before_lines[i], ',') - before_lines[i], ==, strrchr (after_lines[i], ',') - after_lines[i]);
      g_assert_cmpint (strncmp (before_lines[i], after_lines[i], strrchr (after_lines[i], ',') - after_lines[i]), ==, 0);
    }
  g_assert_cmpint (changed, ==, 1);

  /* A path chosen afterwards (Save Corrected Copy As…) gets the corrections accepted so far. */
  g_assert_cmpstr (member_string (step (accepted, 7), "corrected_path"), ==, chosen);
  g_autofree char *at_chosen = NULL;
  g_assert_true (g_file_get_contents (chosen, &at_chosen, NULL, NULL));
  g_assert_cmpstr (at_chosen, ==, written);
}

/* Class folders trouser/ and bag/ (20 images each) with one bag filed among the trousers. */
static char *
make_class_folders (const char *fashion, char **misfiled)
{
  g_autofree char *csv = g_build_filename (fashion, "test.csv", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (csv, &text, NULL, NULL));
  char *root = g_build_filename (tu_tmpdir (), "classes", NULL);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  const char *classes[] = { "trouser", "bag" };
  const int wanted[] = { 20, 21 };   /* the first bag is the misfiled one */
  int count[2] = { 0, 0 };
  for (guint i = 1; lines[i] != NULL; i++)
    for (int c = 0; c < 2; c++)
      {
        g_autofree char *suffix = g_strconcat (",", classes[c], NULL);
        if (!g_str_has_suffix (lines[i], suffix) || count[c] == wanted[c])
          continue;
        g_autofree char *entry = g_strndup (lines[i], strcspn (lines[i], ","));
        g_autofree char *from = g_build_filename (fashion, entry, NULL);
        /* the first bag goes with the trousers */
        gboolean misplaced = c == 1 && count[1] == 0;
        g_autofree char *folder = g_build_filename (root, misplaced ? "trouser" : classes[c], NULL);
        g_autofree char *to = g_build_filename (folder, misplaced ? "misfiled.png" : base_name (entry), NULL);
        g_assert_cmpint (g_mkdir_with_parents (folder, 0755), ==, 0);
        copy_file (from, to);
        if (misplaced)
          *misfiled = g_strdup (to);
        count[c]++;
      }
  return root;
}

static void
test_class_folders (void)
{
  const char *fashion = fashion_dir ();
  if (fashion == NULL)
    return;
  g_autofree char *misfiled = NULL;
  g_autofree char *root = make_class_folders (fashion, &misfiled);
  g_autofree char *model = builtin_model ();
  g_autofree char *root_json = q (root);
  g_autofree char *misfiled_json = q (misfiled);
  g_autofree char *moved = g_build_filename (root, "bag", "misfiled.png", NULL);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"cleanup\"},"
    "{\"do\": \"cleanup-find\"},"
    "{\"do\": \"cleanup-action\", \"action\": \"accept\", \"path\": %s},"
    "{\"do\": \"wait-toast\"}",                                                        /* 5 */
    root_json, misfiled_json);

  /* The misfiled bag first, suggested as a bag; accepting moves it into bag/. */
  g_autoptr (AppRun) run = app_run ("cleanup-folders", (const char *const[]) { "--model", model, NULL }, steps, NULL);
  JsonObject *first = json_array_get_object_element (json_object_get_array_member (step (run, 3), "issues"), 0);
  g_assert_cmpstr (member_string (first, "path"), ==, misfiled);
  g_assert_cmpstr (member_string (first, "label"), ==, "trouser");
  g_assert_cmpstr (member_string (first, "suggested"), ==, "bag");
  g_assert_cmpstr (member_string (step (run, 5), "toast"), ==, "Moved misfiled.png to bag");
  g_assert_false (g_file_test (misfiled, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (moved, G_FILE_TEST_IS_REGULAR));

  /* The same again from where it was, then Undo: back among the trousers. */
  g_assert_cmpint (g_rename (moved, misfiled), ==, 0);
  g_autofree char *undo_steps = g_strconcat (steps, ",{\"do\": \"toast-action\", \"action\": \"undo-toast\"}", NULL);
  g_autoptr (AppRun) undone = app_run ("cleanup-folders-undo", (const char *const[]) { "--model", model, NULL },
                                       undo_steps, NULL);
  g_assert_cmpstr (member_string (step (undone, 5), "toast"), ==, "Moved misfiled.png to bag");
  g_assert_true (json_object_get_null_member (step (undone, 6), "error_bar"));
  g_assert_true (g_file_test (misfiled, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (moved, G_FILE_TEST_EXISTS));
}

/* The 8 labelled test scenes of the duplicates' folder: too few to audit, said in the status, with
 * no error bar. */
static void
test_too_few_labels (void)
{
  g_autofree char *folder = make_duplicates_folder ();
  g_autofree char *csv = g_build_filename (tu_tmpdir (), "shapes", "test.csv", NULL);
  g_autofree char *csv_json = q (csv);
  g_autofree char *model = builtin_model ();
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"cleanup\"},"
    "{\"do\": \"cleanup-find\"}",
    csv_json);
  g_autoptr (AppRun) run = app_run ("cleanup-few", (const char *const[]) { "--model", model, NULL }, steps, NULL);
  JsonObject *found = step (run, 3);
  g_assert_nonnull (strstr (member_string (found, "status"), "more than 10 indexed images with labels"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (found, "issues")), ==, 0);
  g_assert_true (json_object_get_null_member (found, "error_bar"));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  source_root = g_getenv ("CLIPLAB_SOURCE_ROOT");
  if (!app_run_setup () || source_root == NULL)
    {
      app_run_add_skipped ("/gui-cleanup");
      return g_test_run ();
    }
  g_test_add_func ("/gui-cleanup/duplicates", test_duplicates);
  g_test_add_func ("/gui-cleanup/label-issues", test_label_issues);
  g_test_add_func ("/gui-cleanup/class-folders", test_class_folders);
  g_test_add_func ("/gui-cleanup/too-few-labels", test_too_few_labels);
  return g_test_run ();
}
