/* cl-search-index.h — the search index of one or more folders (one ClipIndex each), run on the
 * model worker's thread; a search covers every folder, its results merged by score, and Classify
 * All on a folder reads its images' embeddings from it.
 *
 * The index borrows the worker's model, so everything that touches it runs as worker commands
 * (cl_model_worker_run_async): it is opened on first use for the model loaded there and reopened
 * when another model is loaded.  An update runs in slices: when another command waits (a search
 * typed meanwhile), it stops after at least MIN_SLICE, keeps what it embedded (clip_index_update
 * appends new embeddings every few images), reopens the index so searches see them, and goes on
 * after that command.  Progress and results reach the main thread as copies. */
#pragma once

#include <gio/gio.h>

#include "cl-model-worker.h"

G_BEGIN_DECLS

typedef struct _ClSearchIndex ClSearchIndex;

/* FOLDERS (NULL-terminated, absolute, at least one) are searched recursively; APPLY_EXIF as the
 * index decodes images (part of its identity).  A folder that cannot be read is left out of
 * searches and named in the update's warnings. */
ClSearchIndex *cl_search_index_new (ClModelWorker *worker, const char *const *folders, gboolean apply_exif);
ClSearchIndex *cl_search_index_ref (ClSearchIndex *self);
void           cl_search_index_unref (ClSearchIndex *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClSearchIndex, cl_search_index_unref)

const char *const *cl_search_index_get_folders (ClSearchIndex *self);

/* ---------------------------------------------------------------- updating */

typedef struct {
  ClipIndexPhase phase;
  gint64 found;              /* files found by the scan so far */
  gint64 done;               /* images indexed so far, counting those indexed before … */
  gint64 total;              /* … of this many (valid in the embed phase) */
  gint64 n_searchable;       /* entries a search sees right now */
  double eta;                /* seconds left, or -1 */
} ClIndexProgress;

/* Runs on the main thread, at most every 100 ms, only while the update's cancellable is not
 * cancelled. */
typedef void (*ClIndexProgressFunc) (const ClIndexProgress *progress, gpointer user_data);

typedef struct {
  gint64 n_entries;          /* images in the index afterwards */
  gint64 n_embedded;         /* new and changed images this update embedded (not those it found indexed) */
  GPtrArray *skipped;        /* char *: "path: reason" of the files not indexed */
  char **warnings;           /* what was wrong with the index file, NULL-terminated */
} ClIndexSummary;

void cl_index_summary_free (ClIndexSummary *summary);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClIndexSummary, cl_index_summary_free)

/* Brings every folder's index up to date, one after the other.  PROGRESS_DESTROY frees
 * PROGRESS_DATA on the main thread.  While an update of SELF runs, another call joins it (its
 * progress and its summary) rather than starting a second; cancelling CANCELLABLE ends this call
 * at once, and the update itself when no other caller waits for it.  Every index that covers a
 * folder shares the folder's one ClipIndex (per worker and EXIF choice), so two indexes never
 * encode an image twice or overwrite each other's additions. */
void            cl_search_index_update_async (ClSearchIndex *self, ClIndexProgressFunc progress,
                                              gpointer progress_data, GDestroyNotify progress_destroy,
                                              GCancellable *cancellable, GAsyncReadyCallback callback,
                                              gpointer user_data);
ClIndexSummary *cl_search_index_update_finish (ClSearchIndex *self, GAsyncResult *result, GError **error);

/* Brings only PATHS (relative to FOLDER, one of the index's folders) up to date: what a file
 * monitor saw added, changed, removed or renamed (clip_index_update_paths).  Returns the number of
 * searchable images afterwards, -1 on error. */
void   cl_search_index_update_paths_async (ClSearchIndex *self, const char *folder, const char *const *paths,
                                           GCancellable *cancellable, GAsyncReadyCallback callback,
                                           gpointer user_data);
gint64 cl_search_index_update_paths_finish (ClSearchIndex *self, GAsyncResult *result, GError **error);

/* ---------------------------------------------------------------- classifying */

/* Zero-shot classification of PATHS (N_IMAGES absolute files under the index's folders) from the
 * index: each slice brings CL_STORED_WINDOW of them up to date in their folder's index
 * (clip_index_update_paths: a new or changed image is encoded and stored, a stored one only looked
 * at) and scores their stored embeddings, so a second run, or Search, encodes nothing again.
 * Another command waiting (an update of Search, a click) runs between slices.  What the index does
 * not hold (a symbolic link, a file it skips) is encoded by the worker, and so is the rest when the
 * index cannot be updated (another process updating it, a cache that cannot be written).  Progress and the result as
 * cl_model_worker_classify_async's: finish with cl_model_worker_classify_finish on the worker (the
 * callback's source object). */
void cl_search_index_classify_async (ClSearchIndex *self, const char *const *paths, const gint64 *mtimes,
                                     guint n_images, const char *const *classes, const char *const *templates,
                                     ClClassifyProgressFunc progress, gpointer progress_data,
                                     GDestroyNotify progress_destroy, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);

/* The same classification of what the index already holds, without encoding or storing anything:
 * the images whose files are unchanged since they were indexed (clip_index_find_current_file) are
 * scored from their stored embeddings, a slice of CL_STORED_WINDOW at a time; the others stay
 * unscored and not readable, with no problem reported.  For showing stored predictions at once. */
void cl_search_index_classify_stored_async (ClSearchIndex *self, const char *const *paths, guint n_images,
                                            const char *const *classes, const char *const *templates,
                                            ClClassifyProgressFunc progress, gpointer progress_data,
                                            GDestroyNotify progress_destroy, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);

/* ---------------------------------------------------------------- snapshots */

/* A copy of every folder's entries for the loaded model, as indexed so far: for the exploration
 * views, which must not encode the images a second time. */
typedef struct {
  guint   n;
  int     dim;
  char  **paths;             /* absolute, NULL-terminated */
  float  *embeddings;        /* [n × dim], unit rows */
  guint8 *hashes;            /* [n × 16], the content hashes of the files */
} ClIndexSnapshot;

void cl_index_snapshot_free (ClIndexSnapshot *snapshot);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClIndexSnapshot, cl_index_snapshot_free)

void             cl_search_index_snapshot_async (ClSearchIndex *self, GCancellable *cancellable,
                                                 GAsyncReadyCallback callback, gpointer user_data);
ClIndexSnapshot *cl_search_index_snapshot_finish (ClSearchIndex *self, GAsyncResult *result, GError **error);

/* ---------------------------------------------------------------- searching */

typedef struct {
  char  *text;               /* a text … */
  char  *image;              /* … or an image file */
  double weight;
} ClQueryTerm;

typedef struct {
  guint   n;
  char  **paths;             /* absolute, best first */
  float  *scores;            /* cosine similarities */
  gint64 *sizes;             /* bytes, -1 when the file is gone */
  gint64 *mtimes;            /* seconds since the epoch */
  gint64  n_searched;        /* entries the search looked at */
} ClSearchResults;

void cl_search_results_free (ClSearchResults *results);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClSearchResults, cl_search_results_free)

/* The TOP_K images of all folders most similar to the combination of TERMS (clip_index_embed_query),
 * best first.  Searches what is indexed so far. */
void             cl_search_index_search_async (ClSearchIndex *self, const ClQueryTerm *terms, guint n_terms,
                                               int top_k, GCancellable *cancellable,
                                               GAsyncReadyCallback callback, gpointer user_data);
ClSearchResults *cl_search_index_search_finish (ClSearchIndex *self, GAsyncResult *result, GError **error);

/* ---------------------------------------------------------------- other commands on the index */

/* A command of another view that reads the index (the Map view's layout), run on the worker thread
 * with the model and each folder's opened index (INDEXES[i] NULL for a folder that cannot be read),
 * borrowed for the call.  Return TRUE on success, FALSE with ERROR set. */
typedef gboolean (*ClIndexFunc) (ClipModel *model, ClipIndex *const *indexes, guint n_indexes, gpointer data,
                                 GCancellable *cancellable, GError **error);

/* Runs FUNC once on the worker (CL_WORKER_PRIORITY_*); DATA_DESTROY (may be NULL) frees DATA afterwards,
 * on any thread. */
void     cl_search_index_run_async (ClSearchIndex *self, int priority, ClIndexFunc func, gpointer data,
                                    GDestroyNotify data_destroy, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
gboolean cl_search_index_run_finish (ClSearchIndex *self, GAsyncResult *result, GError **error);

G_END_DECLS
