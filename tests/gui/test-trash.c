/* test-trash.c — cl-trash: two images moved to the trash come back with the same bytes, and a
 * restore onto a path taken again is refused with an error naming it.
 *
 * HOME and XDG_DATA_HOME point into one temporary folder, so the images (also in it) are on the
 * home's volume and GLib puts them in $XDG_DATA_HOME/Trash. */
#include <string.h>

#include <glib/gstdio.h>

#include "testutil.h"

#include "cl-trash.h"

typedef struct {
  char *root;
  char *pictures;
  char *trash;
} Fixture;

static Fixture fixture;

static GAsyncResult *
wait_for_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

static void
store_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GFile *
write_image (const char *name, const char *bytes)
{
  g_autofree char *path = g_build_filename (fixture.pictures, name, NULL);

  g_assert_true (g_file_set_contents (path, bytes, -1, NULL));
  return g_file_new_for_path (path);
}

static ClTrashRecord *
trash (GPtrArray *files, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  cl_trash_files_async (files, NULL, store_result, &result);
  return cl_trash_files_finish (wait_for_result (&result), error);
}

static gboolean
restore (ClTrashRecord *record, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  cl_trash_restore_async (record, NULL, store_result, &result);
  return cl_trash_restore_finish (wait_for_result (&result), error);
}

static void
assert_contents (GFile *file, const char *want)
{
  g_autofree char *bytes = NULL;
  g_autofree char *path = g_file_get_path (file);

  g_assert_true (g_file_get_contents (path, &bytes, NULL, NULL));
  g_assert_cmpstr (bytes, ==, want);
}

static guint
count_children (const char *folder)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  guint n = 0;

  if (dir == NULL)
    return 0;
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static void
test_trash_and_undo (void)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GError) error = NULL;
  g_autofree char *trash_files = g_build_filename (fixture.trash, "files", NULL);

  g_ptr_array_add (files, write_image ("cat.png", "\x89PNG cat bytes"));
  g_ptr_array_add (files, write_image ("dog image.jpg", "\xff\xd8\xff dog bytes"));
  g_autoptr (ClTrashRecord) record = trash (files, &error);
  g_assert_no_error (error);
  g_assert_nonnull (record);
  g_assert_null (cl_trash_record_get_failure (record));
  g_assert_cmpuint (cl_trash_record_get_files (record)->len, ==, 2);
  for (guint i = 0; i < files->len; i++)
    g_assert_false (g_file_query_exists (files->pdata[i], NULL));
  g_assert_cmpuint (count_children (trash_files), ==, 2);

  g_assert_true (restore (record, &error));
  g_assert_no_error (error);
  assert_contents (files->pdata[0], "\x89PNG cat bytes");
  assert_contents (files->pdata[1], "\xff\xd8\xff dog bytes");
  g_assert_cmpuint (count_children (trash_files), ==, 0);
}

/* A file trashed earlier from the same path stays in the trash; a path taken again is refused. */
static void
test_undo_onto_taken_path (void)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GError) error = NULL;

  g_ptr_array_add (files, write_image ("bird.png", "first bird"));
  g_autoptr (ClTrashRecord) record = trash (files, &error);
  g_assert_no_error (error);
  g_autoptr (GFile) again = write_image ("bird.png", "second bird");

  g_assert_false (restore (record, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_autofree char *path = g_file_get_path (again);
  g_assert_nonnull (strstr (error->message, path));
  assert_contents (again, "second bird");
  g_clear_error (&error);

  /* Gone again, the second bird's restore brings back the second bird, not the first. */
  g_autoptr (GPtrArray) second = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (second, g_object_ref (again));
  g_autoptr (ClTrashRecord) second_record = trash (second, &error);
  g_assert_no_error (error);
  g_assert_true (restore (second_record, &error));
  g_assert_no_error (error);
  assert_contents (again, "second bird");
}

static void
test_trash_missing_file (void)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (fixture.pictures, "never-there.png", NULL);

  g_ptr_array_add (files, g_file_new_for_path (path));
  g_autoptr (ClTrashRecord) record = trash (files, &error);
  g_assert_null (record);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));
}

int
main (int argc, char *argv[])
{
  g_autoptr (GError) error = NULL;

  /* Before GLib reads the XDG folders; GVfs would read its own environment's trash. */
  fixture.root = g_dir_make_tmp ("cliplab-trash-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *data = g_build_filename (fixture.root, "data", NULL);
  fixture.pictures = g_build_filename (fixture.root, "pictures", NULL);
  fixture.trash = g_build_filename (data, "Trash", NULL);
  g_assert_cmpint (g_mkdir_with_parents (data, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (fixture.pictures, 0700), ==, 0);
  g_setenv ("HOME", fixture.root, TRUE);
  g_setenv ("XDG_DATA_HOME", data, TRUE);
  g_setenv ("GIO_USE_VFS", "local", TRUE);

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/trash/trash-and-undo", test_trash_and_undo);
  g_test_add_func ("/trash/undo-onto-taken-path", test_undo_onto_taken_path);
  g_test_add_func ("/trash/missing-file", test_trash_missing_file);
  int status = g_test_run ();

  tu_remove_tree (fixture.root);
  return status;
}
