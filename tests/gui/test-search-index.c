/* test-search-index.c — the session's shared search index (cl_session_get_index): Search, Map and
 * Clean Up asking for the same folder get the same index; their updates started together are one
 * update that encodes every image once, and a caller that cancels leaves the others' update
 * running; an index over the folder and another one (Search with a photo folder) shares the
 * folder's file, so that after every update the file holds each image once and nothing is
 * encoded again.  No display needed: the tiny golden model on the model worker. */
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>

#include "testutil.h"

#include "cl-config.h"
#include "cl-session.h"

#define N_IMAGES 24
#define N_OTHER  5
#define SIDE     32

static char *model_dir;

static void
draw_folder (const char *dir, int n, int seed)
{
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  for (int i = 0; i < n; i++)
    {
      g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, SIDE, SIDE);
      /* A colour of its own per image, so that no two files are copies of each other. */
      gdk_pixbuf_fill (pixbuf, ((guint32) (seed * 97 + i * 9) << 24) | ((guint32) (i * 40 % 256) << 16) | 0xff);
      g_autofree char *name = g_strdup_printf ("image-%02d.png", i);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autoptr (GError) error = NULL;
      gdk_pixbuf_save (pixbuf, path, "png", &error, NULL);
      g_assert_no_error (error);
    }
}

static void
store_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_for (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

/* A session on WORKER, which the caller holds and shuts down, as the application does. */
static ClSession *
session_with_model (ClModelWorker *worker)
{
  g_autoptr (GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autoptr (ClThumbnailer) thumbnailer = cl_thumbnailer_new ();
  ClSession *session = cl_session_new (settings, worker, thumbnailer);
  GAsyncResult *result = NULL;
  g_autoptr (GError) error = NULL;

  cl_session_load_model (session, model_dir, "bytes", NULL, FALSE, store_result, &result);
  gboolean loaded = cl_session_load_model_finish (session, wait_for (&result), &error);
  g_assert_no_error (error);
  g_assert_true (loaded);
  g_object_unref (result);
  return session;
}

static ClIndexSummary *
update_finish (ClSearchIndex *index, GAsyncResult **slot, GError **error)
{
  ClIndexSummary *summary = cl_search_index_update_finish (index, wait_for (slot), error);
  g_clear_object (slot);
  return summary;
}

static ClIndexSnapshot *
snapshot (ClSearchIndex *index)
{
  GAsyncResult *result = NULL;
  g_autoptr (GError) error = NULL;

  cl_search_index_snapshot_async (index, NULL, store_result, &result);
  ClIndexSnapshot *snapshot = cl_search_index_snapshot_finish (index, wait_for (&result), &error);
  g_assert_no_error (error);
  g_object_unref (result);
  return snapshot;
}

/* Each path of SNAPSHOT once, and N of them. */
static void
assert_each_once (const ClIndexSnapshot *snapshot, guint n)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  g_assert_cmpuint (snapshot->n, ==, n);
  for (guint i = 0; i < snapshot->n; i++)
    g_assert_true (g_hash_table_add (seen, snapshot->paths[i]));
}

static void
test_shared (void)
{
  g_autofree char *folder = g_build_filename (tu_tmpdir (), "Shared", NULL);
  g_autofree char *other = g_build_filename (tu_tmpdir (), "Other", NULL);
  draw_folder (folder, N_IMAGES, 1);
  draw_folder (other, N_OTHER, 2);
  g_autoptr (ClModelWorker) worker = cl_model_worker_new ();
  g_autoptr (ClSession) session = session_with_model (worker);
  const char *const just_folder[] = { folder, NULL };
  const char *const with_other[] = { folder, other, NULL };

  /* Search, Map and Clean Up ask for the folder: one index. */
  g_autoptr (ClSearchIndex) search = cl_session_get_index (session, just_folder);
  g_autoptr (ClSearchIndex) map = cl_session_get_index (session, just_folder);
  g_autoptr (ClSearchIndex) cleanup = cl_session_get_index (session, just_folder);
  g_assert_true (search == map && map == cleanup);

  /* All three update at once; Clean Up gives up at once: the others' update is one, encoding
   * every image once. */
  g_autoptr (GCancellable) cleanup_cancellable = g_cancellable_new ();
  GAsyncResult *search_result = NULL, *map_result = NULL, *cleanup_result = NULL;
  cl_search_index_update_async (search, NULL, NULL, NULL, NULL, store_result, &search_result);
  cl_search_index_update_async (map, NULL, NULL, NULL, NULL, store_result, &map_result);
  cl_search_index_update_async (cleanup, NULL, NULL, NULL, cleanup_cancellable, store_result, &cleanup_result);
  g_cancellable_cancel (cleanup_cancellable);
  g_autoptr (GError) error = NULL;
  g_autoptr (ClIndexSummary) cleanup_summary = update_finish (cleanup, &cleanup_result, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (cleanup_summary);
  g_clear_error (&error);
  g_autoptr (ClIndexSummary) search_summary = update_finish (search, &search_result, &error);
  g_assert_no_error (error);
  g_autoptr (ClIndexSummary) map_summary = update_finish (map, &map_result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (search_summary->n_entries, ==, N_IMAGES);
  g_assert_cmpint (search_summary->n_embedded, ==, N_IMAGES);
  g_assert_cmpint (map_summary->n_entries, ==, N_IMAGES);
  g_assert_cmpint (map_summary->n_embedded, ==, N_IMAGES);

  /* Search over the folder and a photo folder shares the folder's file with the others: only the
   * photo folder's images are new. */
  g_autoptr (ClSearchIndex) library = cl_session_get_index (session, with_other);
  g_assert_true (library != search);
  GAsyncResult *library_result = NULL;
  cl_search_index_update_async (library, NULL, NULL, NULL, NULL, store_result, &library_result);
  cl_search_index_update_async (cleanup, NULL, NULL, NULL, NULL, store_result, &cleanup_result);
  g_autoptr (ClIndexSummary) library_summary = update_finish (library, &library_result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (library_summary->n_entries, ==, N_IMAGES + N_OTHER);
  g_assert_cmpint (library_summary->n_embedded, ==, N_OTHER);
  g_clear_pointer (&cleanup_summary, cl_index_summary_free);
  cleanup_summary = update_finish (cleanup, &cleanup_result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (cleanup_summary->n_embedded, ==, 0);
  g_autoptr (ClIndexSnapshot) library_snapshot = snapshot (library);
  assert_each_once (library_snapshot, N_IMAGES + N_OTHER);

  /* Every handle gone, the file read afresh holds each image once, and nothing is new. */
  g_clear_pointer (&search, cl_search_index_unref);
  g_clear_pointer (&map, cl_search_index_unref);
  g_clear_pointer (&cleanup, cl_search_index_unref);
  g_clear_pointer (&library, cl_search_index_unref);
  g_clear_object (&session);
  /* As the application does: the thread stops before the last reference goes, which a job ending
   * on the thread could otherwise drop there. */
  cl_model_worker_shutdown (worker);
  g_clear_object (&worker);
  g_autoptr (ClModelWorker) restarted_worker = cl_model_worker_new ();
  g_autoptr (ClSession) restarted = session_with_model (restarted_worker);
  g_autoptr (ClSearchIndex) again = cl_session_get_index (restarted, just_folder);
  g_autoptr (ClIndexSnapshot) stored = snapshot (again);
  assert_each_once (stored, N_IMAGES);
  GAsyncResult *again_result = NULL;
  cl_search_index_update_async (again, NULL, NULL, NULL, NULL, store_result, &again_result);
  g_autoptr (ClIndexSummary) again_summary = update_finish (again, &again_result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (again_summary->n_entries, ==, N_IMAGES);
  g_assert_cmpint (again_summary->n_embedded, ==, 0);
  g_clear_pointer (&again, cl_search_index_unref);
  g_clear_object (&restarted);
  cl_model_worker_shutdown (restarted_worker);
}

int
main (int argc, char **argv)
{
  /* Settings in memory, indexes and kernel choices in the test's own folders. */
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  g_setenv ("XDG_CACHE_HOME", tu_tmpdir (), TRUE);
  g_setenv ("XDG_DATA_HOME", tu_tmpdir (), TRUE);
  g_test_init (&argc, &argv, NULL);
  model_dir = tu_shared_path ("golden/models/tiny_quickgelu/hf");
  g_test_add_func ("/search-index/shared", test_shared);
  return g_test_run ();
}
