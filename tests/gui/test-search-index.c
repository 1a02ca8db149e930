/* test-search-index.c — the session's shared search index (cl_session_get_index): Search, Map and
 * Clean Up asking for the same folder get the same index; their updates started together are one
 * update that encodes every image once, and a caller that cancels leaves the others' update
 * running; an index over the folder and another one (Search with a photo folder) shares the
 * folder's file, so that after every update the file holds each image once and nothing is
 * encoded again.  Classify All through the index (cl_search_index_classify_async), run beside
 * Search's update, encodes each image once between them and scores the stored embeddings; with the
 * index held by another process it classifies without it.  What the index holds is scored without
 * encoding or writing anything (cl_search_index_classify_stored_async).  No
 * display needed: the tiny golden model on the model worker. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <utime.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>

#include "testutil.h"

#include "cl-config.h"
#include "cl-session.h"

#define N_IMAGES     24
#define N_OTHER      5
#define SIDE         32
#define N_CLASSIFIED 300   /* two windows of the classification (CL_STORED_WINDOW) */

static char *model_dir;

static void
draw_folder (const char *dir, int n, int seed)
{
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  for (int i = 0; i < n; i++)
    {
      g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, SIDE, SIDE);
      /* A colour of its own per image, so that no two files are copies of each other. */
      gdk_pixbuf_fill (pixbuf, ((guint32) (seed * 97 + i * 9) << 24) | ((guint32) (i * 40 % 256) << 16)
                               | ((guint32) (i / 256 * 64) << 8) | 0xff);
      g_autofree char *name = g_strdup_printf ("image-%02d.png", i);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autoptr (GError) error = NULL;
      gdk_pixbuf_save (pixbuf, path, "png", &error, NULL);
      g_assert_no_error (error);
    }
}

/* The paths draw_folder gave its N images, NULL-terminated (for the classify calls). */
static GPtrArray *
folder_paths (const char *dir, int n)
{
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < n; i++)
    g_ptr_array_add (paths, g_strdup_printf ("%s/image-%02d.png", dir, i));
  g_ptr_array_add (paths, NULL);
  return paths;
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

typedef struct {
  guint n_posts;
  guint n_rows;               /* rows posted, in order */
} ClassifyProgress;

static void
count_classify_progress (const ClClassifyProgress *progress, gpointer user_data)
{
  ClassifyProgress *seen = user_data;

  g_assert_cmpuint (progress->first, ==, seen->n_rows);
  seen->n_posts++;
  seen->n_rows += progress->n;
}

static ClClassifyResult *
classify (ClSession *session, ClSearchIndex *index, char **paths, const char *const *classes, ClassifyProgress *seen)
{
  const char *const templates[] = { "a photo of a {}.", NULL };
  const guint n = g_strv_length (paths);
  g_autofree gint64 *mtimes = g_new0 (gint64, n);
  GAsyncResult *result = NULL;
  g_autoptr (GError) error = NULL;

  cl_search_index_classify_async (index, (const char *const *) paths, mtimes, n, classes, templates,
                                  count_classify_progress, seen, NULL, NULL, store_result, &result);
  ClClassifyResult *classified = cl_model_worker_classify_finish (cl_session_get_worker (session), wait_for (&result),
                                                                  &error);
  g_assert_no_error (error);
  g_object_unref (result);
  g_assert_cmpuint (seen->n_rows, ==, n);
  return classified;
}

/* Every row of CLASSIFIED equals the scores of STORED's embedding of the same file (a hard link:
 * of TWIN's), and OUTSIDE's those of COPY_OF's. */
static void
assert_scores (const ClClassifyResult *classified, char **paths, const ClIndexSnapshot *stored,
               const char *const *classes, const char *twin, const char *link, const char *outside,
               const char *copy_of)
{
  g_autoptr (GError) error = NULL;
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.tokenizer_path = "bytes";
  g_autoptr (ClipModel) model = clip_model_load (model_dir, &options, &error);
  g_assert_no_error (error);
  const int n_classes = g_strv_length ((char **) classes), dim = stored->dim;
  const char *const templates[] = { "a photo of a {}.", NULL };
  g_autofree float *weights = g_new (float, (gsize) n_classes * dim);
  clip_zero_shot_classifier (model, classes, n_classes, templates, 1, weights, NULL, &error);
  g_assert_no_error (error);

  g_autoptr (GHashTable) row_of = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < stored->n; i++)
    g_hash_table_insert (row_of, stored->paths[i], GUINT_TO_POINTER (i + 1));
  g_autofree float *want = g_new (float, n_classes);
  for (guint i = 0; paths[i] != NULL; i++)
    {
      const char *file = g_str_equal (paths[i], link) ? twin : g_str_equal (paths[i], outside) ? copy_of : paths[i];
      g_autofree char *canonical = realpath (file, NULL);
      guint row = GPOINTER_TO_UINT (g_hash_table_lookup (row_of, canonical));
      g_assert_cmpuint (row, >, 0);
      clip_zero_shot_probs (model, stored->embeddings + (gsize) (row - 1) * dim, 1, weights, n_classes, want);
      g_assert_true (classified->readable[i]);
      for (int c = 0; c < n_classes; c++)
        g_assert_cmpfloat_with_epsilon (classified->probs[(gsize) i * n_classes + c], want[c], 1e-5);
    }
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Classify All and Search's update at once on one folder: between them every image is encoded once
 * (a hard link's name is scored from the file it names; a symbolic link, which the index does not
 * follow, is encoded by the worker); classifying again, with other classes, encodes nothing. */
static void
test_classify (void)
{
  g_autofree char *folder = g_build_filename (tu_tmpdir (), "Classified", NULL);
  g_autofree char *elsewhere = g_build_filename (tu_tmpdir (), "Elsewhere", NULL);
  draw_folder (folder, N_CLASSIFIED, 3);
  draw_folder (elsewhere, 1, 3);   /* image-00.png: the same pixels as the folder's image-00.png */
  g_autofree char *twin = g_build_filename (folder, "image-05-twin.png", NULL);
  g_autofree char *link_name = g_build_filename (folder, "image-05.png", NULL);
  g_autofree char *outside = g_build_filename (folder, "outside.png", NULL);
  g_autofree char *outside_target = g_build_filename (elsewhere, "image-00.png", NULL);
  g_autofree char *copy_of = g_build_filename (folder, "image-00.png", NULL);
  g_assert_cmpint (link (link_name, twin), ==, 0);
  g_assert_cmpint (symlink (outside_target, outside), ==, 0);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  for (const char *name; (name = g_dir_read_name (dir)) != NULL;)
    g_ptr_array_add (names, g_build_filename (folder, name, NULL));
  g_ptr_array_sort (names, compare_paths);
  g_ptr_array_add (names, NULL);
  char **paths = (char **) names->pdata;
  g_assert_cmpuint (names->len - 1, ==, N_CLASSIFIED + 2);

  g_autoptr (ClModelWorker) worker = cl_model_worker_new ();
  g_autoptr (ClSession) session = session_with_model (worker);
  g_autoptr (ClSearchIndex) index = cl_session_get_index (session, (const char *const[]) { folder, NULL });
  GAsyncResult *update_result = NULL;
  g_autoptr (GError) error = NULL;
  cl_search_index_update_async (index, NULL, NULL, NULL, NULL, store_result, &update_result);
  const char *const classes[] = { "red", "green", "blue", NULL };
  ClassifyProgress seen = { 0 };
  g_autoptr (ClClassifyResult) classified = classify (session, index, paths, classes, &seen);
  g_autoptr (ClIndexSummary) summary = update_finish (index, &update_result, &error);
  g_assert_no_error (error);
  g_test_message ("Search's update embedded %" G_GINT64_FORMAT ", Classify All %" G_GINT64_FORMAT " in %u posts",
                  summary->n_embedded, classified->n_embedded, seen.n_posts);
  /* The twin pair is one file; the symbolic link's target is encoded by the worker. */
  g_assert_cmpint (summary->n_embedded + classified->n_embedded, ==, N_CLASSIFIED + 1);
  g_assert_cmpuint (seen.n_posts, <, N_CLASSIFIED / 10);   /* a post a window, not an image */
  g_autoptr (ClIndexSnapshot) stored = snapshot (index);
  assert_each_once (stored, N_CLASSIFIED);
  assert_scores (classified, paths, stored, classes, twin, link_name, outside, copy_of);

  /* Other classes: scored from what is stored, nothing embedded but the symbolic link (the
   * worker's cache has it). */
  const char *const others[] = { "circle", "square", NULL };
  ClassifyProgress seen_again = { 0 };
  g_autoptr (ClClassifyResult) again = classify (session, index, paths, others, &seen_again);
  g_assert_cmpint (again->n_embedded, ==, 0);
  assert_scores (again, paths, stored, others, twin, link_name, outside, copy_of);

  g_clear_pointer (&index, cl_search_index_unref);
  g_clear_object (&session);
  cl_model_worker_shutdown (worker);
}

static void
cancel_at_first_post (const ClClassifyProgress *progress, gpointer user_data)
{
  g_cancellable_cancel (user_data);
}

/* Stop (the classification's cancellable) keeps what was stored: classifying again encodes only
 * the rest. */
static void
test_classify_stop_resume (void)
{
  const int n = 3 * CL_STORED_WINDOW;
  g_autofree char *folder = g_build_filename (tu_tmpdir (), "Stopped", NULL);
  draw_folder (folder, n, 5);
  g_autoptr (GPtrArray) names = folder_paths (folder, n);
  g_autoptr (ClModelWorker) worker = cl_model_worker_new ();
  g_autoptr (ClSession) session = session_with_model (worker);
  g_autoptr (ClSearchIndex) index = cl_session_get_index (session, (const char *const[]) { folder, NULL });
  const char *const classes[] = { "red", "green", "blue", NULL };
  const char *const templates[] = { "a photo of a {}.", NULL };
  g_autofree gint64 *mtimes = g_new0 (gint64, n);
  g_autoptr (GCancellable) stop = g_cancellable_new ();
  GAsyncResult *result = NULL;
  g_autoptr (GError) error = NULL;

  cl_search_index_classify_async (index, (const char *const *) names->pdata, mtimes, n, classes, templates,
                                  cancel_at_first_post, stop, NULL, stop, store_result, &result);
  g_autoptr (ClClassifyResult) stopped = cl_model_worker_classify_finish (cl_session_get_worker (session),
                                                                          wait_for (&result), &error);
  g_clear_object (&result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (stopped);
  g_autoptr (ClIndexSnapshot) kept = snapshot (index);
  g_test_message ("stopped with %u of %d images stored", kept->n, n);
  g_assert_cmpuint (kept->n, >=, CL_STORED_WINDOW);

  ClassifyProgress seen = { 0 };
  g_autoptr (ClClassifyResult) resumed = classify (session, index, (char **) names->pdata, classes, &seen);
  g_assert_cmpint (resumed->n_embedded, ==, n - (gint64) kept->n);

  g_clear_pointer (&index, cl_search_index_unref);
  g_clear_object (&session);
  cl_model_worker_shutdown (worker);
}

/* Another process updating the folder's index (its lock held): Classify All classifies without the
 * index, the worker encoding every image, to the same scores. */
static void
test_classify_locked (void)
{
  g_autofree char *folder = g_build_filename (tu_tmpdir (), "Locked", NULL);
  draw_folder (folder, N_IMAGES, 4);
  g_autoptr (GPtrArray) names = folder_paths (folder, N_IMAGES);
  char **paths = (char **) names->pdata;
  g_autoptr (ClModelWorker) worker = cl_model_worker_new ();
  g_autoptr (ClSession) session = session_with_model (worker);
  g_autoptr (ClSearchIndex) index = cl_session_get_index (session, (const char *const[]) { folder, NULL });
  const char *const classes[] = { "red", "green", "blue", NULL };
  ClassifyProgress seen = { 0 };
  g_autoptr (ClClassifyResult) stored = classify (session, index, paths, classes, &seen);
  g_assert_cmpint (stored->n_embedded, ==, N_IMAGES);

  /* The lock file of the folder's index, as the library names it. */
  g_autoptr (GError) error = NULL;
  ClipLoadOptions load;
  clip_load_options_init (&load);
  load.tokenizer_path = "bytes";
  g_autoptr (ClipModel) model = clip_model_load (model_dir, &load, &error);
  g_assert_no_error (error);
  g_autoptr (ClipIndex) same = clip_index_open (folder, model, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *lock_path = g_strconcat (clip_index_get_file (same), ".lock", NULL);
  int lock = g_open (lock_path, O_RDWR | O_CLOEXEC, 0);
  g_assert_cmpint (lock, >=, 0);
  g_assert_cmpint (flock (lock, LOCK_EX), ==, 0);

  ClassifyProgress seen_locked = { 0 };
  g_autoptr (ClClassifyResult) encoded = classify (session, index, paths, classes, &seen_locked);
  close (lock);
  g_assert_cmpint (encoded->n_embedded, ==, N_IMAGES);
  g_assert_cmpuint (encoded->problems->len, ==, 0);
  for (guint i = 0; i < N_IMAGES * 3; i++)
    g_assert_cmpfloat_with_epsilon (encoded->probs[i], stored->probs[i], 1e-5);

  g_clear_pointer (&index, cl_search_index_unref);
  g_clear_object (&session);
  cl_model_worker_shutdown (worker);
}

/* The stored predictions alone: the images unchanged since Classify All stored them score as
 * Classify All scored them; a changed image and one added since are left out (not readable, no
 * problem); nothing is encoded or added to the index. */
static void
test_classify_stored (void)
{
  g_autofree char *folder = g_build_filename (tu_tmpdir (), "Stored", NULL);
  g_autofree char *elsewhere = g_build_filename (tu_tmpdir (), "Late", NULL);
  draw_folder (folder, N_IMAGES, 6);
  g_autoptr (GPtrArray) names = folder_paths (folder, N_IMAGES);
  g_autoptr (ClModelWorker) worker = cl_model_worker_new ();
  g_autoptr (ClSession) session = session_with_model (worker);
  g_autoptr (ClSearchIndex) index = cl_session_get_index (session, (const char *const[]) { folder, NULL });
  const char *const classes[] = { "red", "green", "blue", NULL };
  const char *const templates[] = { "a photo of a {}.", NULL };
  ClassifyProgress seen = { 0 };
  g_autoptr (ClClassifyResult) all = classify (session, index, (char **) names->pdata, classes, &seen);

  /* image-00 changed (another colour, an old modification time); late.png added. */
  draw_folder (folder, 1, 7);
  g_assert_cmpint (g_utime (names->pdata[0], &(struct utimbuf) { 1000000000, 1000000000 }), ==, 0);
  draw_folder (elsewhere, 1, 8);
  g_autofree char *late_source = g_build_filename (elsewhere, "image-00.png", NULL);
  g_autofree char *late = g_build_filename (folder, "late.png", NULL);
  g_assert_cmpint (g_rename (late_source, late), ==, 0);
  names->pdata[N_IMAGES] = g_steal_pointer (&late);
  g_ptr_array_add (names, NULL);

  const guint n = N_IMAGES + 1;
  ClassifyProgress seen_stored = { 0 };
  GAsyncResult *result = NULL;
  g_autoptr (GError) error = NULL;
  cl_search_index_classify_stored_async (index, (const char *const *) names->pdata, n, classes, templates,
                                         count_classify_progress, &seen_stored, NULL, NULL, store_result, &result);
  g_autoptr (ClClassifyResult) stored = cl_model_worker_classify_finish (cl_session_get_worker (session),
                                                                         wait_for (&result), &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpuint (seen_stored.n_rows, ==, n);
  g_assert_cmpint (stored->n_embedded, ==, 0);
  g_assert_cmpuint (stored->problems->len, ==, 0);
  for (guint i = 0; i < n; i++)
    {
      gboolean current = i > 0 && i < N_IMAGES;
      g_assert_cmpint (stored->readable[i], ==, current);
      for (guint c = 0; c < 3; c++)
        g_assert_cmpfloat_with_epsilon (stored->probs[i * 3 + c], current ? all->probs[i * 3 + c] : 0, 1e-6);
    }
  g_autoptr (ClIndexSnapshot) kept = snapshot (index);
  g_assert_cmpuint (kept->n, ==, N_IMAGES);

  g_clear_pointer (&index, cl_search_index_unref);
  g_clear_object (&session);
  cl_model_worker_shutdown (worker);
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
  g_test_add_func ("/search-index/classify", test_classify);
  g_test_add_func ("/search-index/classify-stop-resume", test_classify_stop_resume);
  g_test_add_func ("/search-index/classify-locked", test_classify_locked);
  g_test_add_func ("/search-index/classify-stored", test_classify_stored);
  return g_test_run ();
}
