/* cl-search-index.c — index updates and searches as sliced model-worker commands. */
#include "cl-search-index.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#include "cl-progress-sink.h"

#define MIN_SLICE_US         (G_USEC_PER_SEC / 2)   /* an update runs at least this long before yielding */
#define PROGRESS_INTERVAL_US (G_USEC_PER_SEC / 10)
#define FLUSH_INTERVAL       32                     /* images between appends: what a yield makes searchable */

/* One folder's index, shared by every ClSearchIndex that covers the folder (with the same EXIF
 * choice): two ClipIndex handles on one file would encode new images twice and overwrite each
 * other's additions when they save.  Reference counted under FOLDERS_LOCK; the rest is worker
 * thread only, but for PATH and APPLY_EXIF. */
typedef struct {
  gint ref_count;               /* under FOLDERS_LOCK */
  char *key;                    /* in FOLDERS_BY_KEY */
  char *path;
  gboolean apply_exif;
  ClipIndex *index;             /* NULL until opened, or when the folder cannot be read */
  char *open_error;             /* why it could not be opened, or NULL */
  gint64 n_entries;             /* what a search sees */
  gboolean opened;              /* opened for the model of SERIAL */
  guint serial;
} Folder;

static GMutex folders_lock;
static GHashTable *folders_by_key;   /* char *key → Folder *, not referenced */

/* WORKER is part of the key: a folder's index is bound to the model of one worker's thread. */
static Folder *
folder_acquire (ClModelWorker *worker, const char *path, gboolean apply_exif)
{
  g_autofree char *key = g_strdup_printf ("%p:%d:%s", (gpointer) worker, apply_exif ? 1 : 0, path);
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&folders_lock);

  if (folders_by_key == NULL)
    folders_by_key = g_hash_table_new (g_str_hash, g_str_equal);
  Folder *folder = g_hash_table_lookup (folders_by_key, key);
  if (folder != NULL)
    {
      folder->ref_count++;
      return folder;
    }
  folder = g_new0 (Folder, 1);
  folder->ref_count = 1;
  folder->key = g_steal_pointer (&key);
  folder->path = g_strdup (path);
  folder->apply_exif = apply_exif;
  g_hash_table_insert (folders_by_key, folder->key, folder);
  return folder;
}

/* Frees only memory and the mapping: safe on any thread once no command holds it. */
static void
folder_release (Folder *folder)
{
  g_mutex_lock (&folders_lock);
  gboolean last = --folder->ref_count == 0;
  if (last)
    g_hash_table_remove (folders_by_key, folder->key);
  g_mutex_unlock (&folders_lock);
  if (!last)
    return;
  clip_index_free (folder->index);
  g_free (folder->open_error);
  g_free (folder->path);
  g_free (folder->key);
  g_free (folder);
}

struct _ClSearchIndex {
  gatomicrefcount ref_count;
  ClModelWorker *worker;        /* not referenced: its shutdown finishes every command first */
  GMainContext *main_context;
  char **folder_paths;          /* NULL-terminated, as given */
  gboolean apply_exif;
  Folder **folders;
  guint n_folders;
  struct _UpdateRun *running;   /* main thread: the update callers join, or NULL */
};

ClSearchIndex *
cl_search_index_new (ClModelWorker *worker, const char *const *folders, gboolean apply_exif)
{
  g_return_val_if_fail (folders != NULL && folders[0] != NULL, NULL);

  ClSearchIndex *self = g_new0 (ClSearchIndex, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->worker = worker;
  self->main_context = g_main_context_ref_thread_default ();
  self->folder_paths = g_strdupv ((char **) folders);
  self->apply_exif = apply_exif;
  self->n_folders = g_strv_length (self->folder_paths);
  self->folders = g_new0 (Folder *, self->n_folders);
  for (guint i = 0; i < self->n_folders; i++)
    self->folders[i] = folder_acquire (worker, self->folder_paths[i], apply_exif);
  return self;
}

ClSearchIndex *
cl_search_index_ref (ClSearchIndex *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
cl_search_index_unref (ClSearchIndex *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  for (guint i = 0; i < self->n_folders; i++)
    folder_release (self->folders[i]);
  g_free (self->folders);
  g_main_context_unref (self->main_context);
  g_strfreev (self->folder_paths);
  g_free (self);
}

const char *const *
cl_search_index_get_folders (ClSearchIndex *self)
{
  return (const char *const *) self->folder_paths;
}

/* ---------------------------------------------------------------- worker thread: opening */

static gboolean
folder_reopen (Folder *folder, ClipModel *model, GError **error)
{
  ClipIndexOptions options;

  g_clear_pointer (&folder->index, clip_index_free);
  g_clear_pointer (&folder->open_error, g_free);
  clip_index_options_init (&options);
  options.apply_exif_orientation = folder->apply_exif;
  options.flush_interval = FLUSH_INTERVAL;
  folder->index = clip_index_open (folder->path, model, &options, error);
  folder->n_entries = folder->index != NULL ? clip_index_get_n_entries (folder->index) : 0;
  return folder->index != NULL;
}

/* The folders' indexes for MODEL: opened on first use and again after another model was loaded.  A
 * folder that cannot be opened is left out (its error kept for the update's warnings). */
static gboolean
index_ensure_open (ClSearchIndex *self, ClipModel *model, guint serial, GError **error)
{
  if (model == NULL)
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_MISSING, _("No model is loaded"));
      return FALSE;
    }
  for (guint i = 0; i < self->n_folders; i++)
    {
      Folder *folder = self->folders[i];
      if (folder->opened && folder->serial == serial)
        continue;
      GError *open_error = NULL;
      if (!folder_reopen (folder, model, &open_error))
        folder->open_error = g_strdup (open_error->message);
      g_clear_error (&open_error);
      folder->opened = TRUE;
      folder->serial = serial;
    }
  return TRUE;
}

static gint64
index_n_entries (ClSearchIndex *self)
{
  gint64 n = 0;
  for (guint i = 0; i < self->n_folders; i++)
    n += self->folders[i]->n_entries;
  return n;
}

static Folder *
index_find_folder (ClSearchIndex *self, const char *path)
{
  for (guint i = 0; i < self->n_folders; i++)
    if (g_str_equal (self->folders[i]->path, path))
      return self->folders[i];
  return NULL;
}

/* ---------------------------------------------------------------- progress to the main thread */

typedef struct {
  ClProgressSink *sink;
  ClIndexProgress progress;
} ProgressPost;

static gboolean
progress_post_dispatch (gpointer data)
{
  ProgressPost *post = data;

  if (cl_progress_sink_wants (post->sink))
    ((ClIndexProgressFunc) post->sink->func) (&post->progress, post->sink->data);
  return G_SOURCE_REMOVE;
}

static void
progress_post_free (ProgressPost *post)
{
  cl_progress_sink_release (post->sink);
  g_free (post);
}

/* ---------------------------------------------------------------- updating */

void
cl_index_summary_free (ClIndexSummary *summary)
{
  if (summary == NULL)
    return;
  g_clear_pointer (&summary->skipped, g_ptr_array_unref);
  g_strfreev (summary->warnings);
  g_free (summary);
}

/* One library update on the worker thread, as a slice: it stops when cancelled, and gives way to
 * a command waiting for the worker once it has run MIN_SLICE_US — with MUST_STORE, only once that
 * index has stored something, so that every slice moves on. */
typedef struct {
  ClModelWorker *worker;
  GCancellable *cancellable;
  const ClipIndex *must_store;
  gint64 start;
  gboolean yielded;             /* the slice was stopped for a waiting command */
} Slice;

static void
slice_begin (Slice *slice, ClModelWorker *worker, GCancellable *cancellable, const ClipIndex *must_store)
{
  *slice = (Slice) { worker, cancellable, must_store, g_get_monotonic_time (), FALSE };
}

/* The library's abort over a Slice: whether it stops now. */
static gboolean
slice_abort_cb (gpointer user_data)
{
  Slice *slice = user_data;

  if (g_cancellable_is_cancelled (slice->cancellable))
    return TRUE;
  if (!slice->yielded && g_get_monotonic_time () - slice->start >= MIN_SLICE_US
      && (slice->must_store == NULL || clip_index_get_progress (slice->must_store)->flushed > 0)
      && cl_model_worker_has_waiting (slice->worker))
    slice->yielded = TRUE;
  return slice->yielded;
}

typedef struct {
  ClSearchIndex *index;
  ClProgressSink *sink;
  guint next;                   /* the folder being updated, then the next ones */
  Slice slice;
  gint64 last_post;
  ClipIndexPhase last_phase;
  GCancellable *cancellable;
  ClIndexProgress last;         /* as last posted */
  GPtrArray *skipped;           /* char *: "path: reason" of every folder so far */
  GPtrArray *warnings;          /* char * */
  gint64 n_embedded;            /* new and changed files embedded so far */
  ClIndexSummary *summary;      /* the result, set by the last slice */
} UpdateRequest;

static void
update_request_clear (UpdateRequest *r)
{
  /* The sink's data belongs to the main thread. */
  cl_progress_sink_release_on (r->sink, r->index->main_context);
  cl_search_index_unref (r->index);
  g_clear_object (&r->cancellable);
  g_clear_pointer (&r->skipped, g_ptr_array_unref);
  g_clear_pointer (&r->warnings, g_ptr_array_unref);
  cl_index_summary_free (r->summary);
}

static void
update_request_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, (GDestroyNotify) update_request_clear);
}

static void
update_post (UpdateRequest *r, const ClIndexProgress *progress)
{
  ProgressPost *post = g_new0 (ProgressPost, 1);

  post->sink = cl_progress_sink_acquire (r->sink);
  post->progress = *progress;
  r->last = *progress;
  r->last_post = g_get_monotonic_time ();
  r->last_phase = progress->phase;
  g_main_context_invoke_full (r->index->main_context, G_PRIORITY_DEFAULT, progress_post_dispatch, post,
                              (GDestroyNotify) progress_post_free);
}

static void
update_progress_cb (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  UpdateRequest *r = user_data;
  const ClipIndexProgress *progress = clip_index_get_progress (r->index->folders[r->next]->index);

  if (progress->phase == r->last_phase && progress->done < progress->total
      && g_get_monotonic_time () - r->last_post < PROGRESS_INTERVAL_US)
    return;
  /* What earlier slices, updates and folders indexed counts as done: one bar for all folders. */
  gint64 base = index_n_entries (r->index);
  ClIndexProgress copy = {
    .phase = progress->phase,
    .found = progress->found,
    .done = base + progress->done,
    .total = base + progress->total,
    .n_searchable = base,
    .eta = progress->eta,
  };
  update_post (r, &copy);
}

static gboolean
update_abort_cb (gpointer user_data)
{
  UpdateRequest *r = user_data;
  return slice_abort_cb (&r->slice);
}

/* The skipped files of FOLDER, named relative to it when it is the only folder. */
static void
update_add_skipped (UpdateRequest *r, const Folder *folder, const ClipIndexStats *stats)
{
  for (guint i = 0; stats->skipped != NULL && i < stats->skipped->len; i++)
    {
      const ClipIndexSkip *skip = stats->skipped->pdata[i];
      g_autofree char *path = r->index->n_folders > 1 ? g_build_filename (folder->path, skip->path, NULL)
                                                      : g_strdup (skip->path);
      g_autofree char *display = g_filename_display_name (path);
      g_ptr_array_add (r->skipped, g_strdup_printf ("%s: %s", display, skip->reason));
    }
  for (const char *const *warning = clip_index_get_warnings (folder->index); *warning != NULL; warning++)
    g_ptr_array_add (r->warnings, g_strdup (*warning));
}

static ClIndexSummary *
update_summary (UpdateRequest *r)
{
  ClIndexSummary *summary = g_new0 (ClIndexSummary, 1);

  summary->n_entries = index_n_entries (r->index);
  summary->n_embedded = r->n_embedded;
  summary->skipped = g_steal_pointer (&r->skipped);
  g_ptr_array_add (r->warnings, NULL);
  summary->warnings = (char **) g_ptr_array_free (g_steal_pointer (&r->warnings), FALSE);
  return summary;
}

/* Stopped, to yield or for good: what was embedded is in the file, and reopening the index makes
 * it searchable.  FALSE when the update goes on in a later slice. */
static gboolean
update_stopped (UpdateRequest *r, Folder *folder, ClipModel *model, GError *stop_error, GError **error)
{
  GError *reopen_error = NULL;
  if (!folder_reopen (folder, model, &reopen_error))
    {
      g_clear_error (&stop_error);
      g_propagate_error (error, reopen_error);
      return TRUE;
    }
  if (r->slice.yielded && !g_cancellable_is_cancelled (r->cancellable))
    {
      g_clear_error (&stop_error);
      ClIndexProgress progress = r->last;
      progress.n_searchable = index_n_entries (r->index);
      update_post (r, &progress);
      return FALSE;
    }
  g_propagate_error (error, stop_error);
  return TRUE;
}

static gboolean
update_slice (ClipModel *model, guint serial, gpointer data, GCancellable *cancellable, GError **error)
{
  UpdateRequest *r = data;
  ClSearchIndex *self = r->index;

  if (!index_ensure_open (self, model, serial, error))
    return TRUE;

  for (; r->next < self->n_folders; r->next++)
    {
      Folder *folder = self->folders[r->next];
      if (folder->index == NULL)
        {
          g_ptr_array_add (r->warnings, g_strdup (folder->open_error));
          continue;
        }
      slice_begin (&r->slice, self->worker, r->cancellable, NULL);
      const ClipCallbacks callbacks = { update_progress_cb, update_abort_cb, r };
      ClipIndexStats stats;
      GError *local_error = NULL;
      if (!clip_index_update (folder->index, &stats, &callbacks, &local_error))
        {
          if (!g_error_matches (local_error, CLIP_ERROR, CLIP_ERROR_ABORTED))
            {
              g_propagate_error (error, local_error);
              return TRUE;
            }
          /* What this slice embedded and kept; files read but not yet encoded come again. */
          r->n_embedded += clip_index_get_progress (folder->index)->flushed;
          return update_stopped (r, folder, model, local_error, error);
        }
      r->n_embedded += stats.added + stats.updated;
      folder->n_entries = clip_index_get_n_entries (folder->index);
      update_add_skipped (r, folder, &stats);
      clip_index_stats_clear (&stats);
    }
  r->summary = update_summary (r);
  return TRUE;
}

/* ---------------------------------------------------------------- one update, joined by every caller */

/* A caller waiting for the running update: its task, progress and cancellable.  Main thread only. */
typedef struct {
  GTask *task;
  ClProgressSink *sink;
  GCancellable *cancellable;
  gulong cancelled_id;
} UpdateJoiner;

/* The index's running update.  A second caller joins it instead of starting another (which would
 * scan and yield in turns with the first); it stops only when every caller has cancelled.  Main
 * thread only, reference counted: the index's RUNNING, the worker command and its progress sink. */
typedef struct _UpdateRun {
  ClSearchIndex *index;         /* referenced until the update finished */
  GPtrArray *joiners;           /* UpdateJoiner * */
  GCancellable *cancellable;    /* the update's own: cancelled when the last joiner left */
} UpdateRun;

static void
update_run_clear (UpdateRun *run)
{
  g_clear_pointer (&run->index, cl_search_index_unref);
  g_ptr_array_unref (run->joiners);
  g_object_unref (run->cancellable);
}

static void
update_run_release (gpointer run)
{
  g_rc_box_release_full (run, (GDestroyNotify) update_run_clear);
}

static void
update_joiner_free (UpdateJoiner *joiner)
{
  if (joiner->cancelled_id != 0)
    g_cancellable_disconnect (joiner->cancellable, joiner->cancelled_id);
  g_clear_object (&joiner->cancellable);
  g_clear_object (&joiner->task);
  cl_progress_sink_release (joiner->sink);
  g_free (joiner);
}

/* Progress of the update, on the main thread: to every caller still waiting. */
static void
update_run_progress (const ClIndexProgress *progress, gpointer user_data)
{
  UpdateRun *run = user_data;

  for (guint i = 0; i < run->joiners->len; i++)
    {
      UpdateJoiner *joiner = run->joiners->pdata[i];
      if (cl_progress_sink_wants (joiner->sink))
        ((ClIndexProgressFunc) joiner->sink->func) (progress, joiner->sink->data);
    }
}

typedef struct {
  UpdateRun *run;
  UpdateJoiner *joiner;
} JoinerCancel;

/* A caller cancelled: its task returns now; the update goes on for the others, and stops when
 * none is left.  An idle, since a cancellable's handler cannot disconnect itself. */
static gboolean
update_joiner_cancelled_idle (gpointer data)
{
  JoinerCancel *cancel = data;
  UpdateRun *run = cancel->run;
  guint position;

  if (!g_ptr_array_find (run->joiners, cancel->joiner, &position))
    return G_SOURCE_REMOVE;
  UpdateJoiner *joiner = g_ptr_array_steal_index (run->joiners, position);
  g_task_return_new_error (joiner->task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s", _("Cancelled"));
  update_joiner_free (joiner);
  if (run->joiners->len == 0)
    g_cancellable_cancel (run->cancellable);
  return G_SOURCE_REMOVE;
}

static JoinerCancel *
joiner_cancel_new (UpdateRun *run, UpdateJoiner *joiner)
{
  JoinerCancel *cancel = g_new0 (JoinerCancel, 1);

  cancel->run = g_rc_box_acquire (run);
  cancel->joiner = joiner;
  return cancel;
}

static void
joiner_cancel_free (JoinerCancel *cancel)
{
  update_run_release (cancel->run);
  g_free (cancel);
}

static void
update_joiner_on_cancelled (GCancellable *cancellable, gpointer data)
{
  const JoinerCancel *connected = data;
  JoinerCancel *cancel = joiner_cancel_new (connected->run, connected->joiner);

  /* Always later: invoking it now from the main thread would disconnect inside the emission. */
  GSource *idle = g_idle_source_new ();
  g_source_set_callback (idle, update_joiner_cancelled_idle, cancel, (GDestroyNotify) joiner_cancel_free);
  g_source_attach (idle, cancel->run->index != NULL ? cancel->run->index->main_context : NULL);
  g_source_unref (idle);
}

static void
update_run_add_joiner (UpdateRun *run, GTask *task, ClProgressSink *sink, GCancellable *cancellable)
{
  UpdateJoiner *joiner = g_new0 (UpdateJoiner, 1);

  joiner->task = task;
  joiner->sink = sink;
  g_ptr_array_add (run->joiners, joiner);
  if (cancellable != NULL)
    {
      /* The handler names the joiner, which the idle looks for before it touches it. */
      joiner->cancellable = g_object_ref (cancellable);
      joiner->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (update_joiner_on_cancelled),
                                                    joiner_cancel_new (run, joiner),
                                                    (GDestroyNotify) joiner_cancel_free);
    }
}

static ClIndexSummary *
index_summary_copy (const ClIndexSummary *summary)
{
  ClIndexSummary *copy = g_new0 (ClIndexSummary, 1);

  copy->n_entries = summary->n_entries;
  copy->n_embedded = summary->n_embedded;
  copy->skipped = g_ptr_array_new_full (summary->skipped->len, g_free);
  for (guint i = 0; i < summary->skipped->len; i++)
    g_ptr_array_add (copy->skipped, g_strdup (summary->skipped->pdata[i]));
  copy->warnings = g_strdupv (summary->warnings);
  return copy;
}

static void
update_run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  UpdateRun *run = user_data;
  UpdateRequest *r = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (run->index->running == run)
    run->index->running = NULL;
  gboolean ok = g_task_propagate_boolean (G_TASK (result), &error);
  /* Every caller gets its own copy; the handlers are disconnected before any callback runs. */
  g_autoptr (GPtrArray) joiners = g_ptr_array_new_with_free_func ((GDestroyNotify) update_joiner_free);
  g_ptr_array_extend_and_steal (joiners, g_steal_pointer (&run->joiners));
  run->joiners = g_ptr_array_new ();
  for (guint i = 0; i < joiners->len; i++)
    {
      UpdateJoiner *joiner = joiners->pdata[i];
      g_cancellable_disconnect (joiner->cancellable, joiner->cancelled_id);
      joiner->cancelled_id = 0;
    }
  for (guint i = 0; i < joiners->len; i++)
    {
      GTask *task = ((UpdateJoiner *) joiners->pdata[i])->task;
      if (!ok)
        g_task_return_error (task, g_error_copy (error));
      else
        g_task_return_pointer (task, index_summary_copy (r->summary), (GDestroyNotify) cl_index_summary_free);
    }
  g_clear_error (&error);
  g_clear_pointer (&run->index, cl_search_index_unref);
  update_run_release (run);
}

static void
update_worker_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  if (!cl_model_worker_run_finish (CL_MODEL_WORKER (source), result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/* A new update of SELF, run on the worker in slices; its progress goes to every joiner. */
static UpdateRun *
update_run_start (ClSearchIndex *self)
{
  UpdateRun *run = g_rc_box_new0 (UpdateRun);
  UpdateRequest *r = g_atomic_rc_box_new0 (UpdateRequest);

  run->index = cl_search_index_ref (self);
  run->joiners = g_ptr_array_new ();
  run->cancellable = g_cancellable_new ();
  r->index = cl_search_index_ref (self);
  r->sink = cl_progress_sink_new (G_CALLBACK (update_run_progress), g_rc_box_acquire (run), update_run_release,
                                  run->cancellable);
  r->cancellable = g_object_ref (run->cancellable);
  r->last_phase = -1;
  r->skipped = g_ptr_array_new_with_free_func (g_free);
  r->warnings = g_ptr_array_new_with_free_func (g_free);
  /* The task's callback takes over the first reference; RUNNING holds none. */
  GTask *task = g_task_new (NULL, NULL, update_run_done, run);
  g_task_set_task_data (task, g_atomic_rc_box_acquire (r), update_request_release);
  cl_model_worker_run_async (self->worker, CL_WORKER_PRIORITY_BACKGROUND, update_slice, r, update_request_release,
                             run->cancellable, update_worker_done, task);
  return run;
}

void
cl_search_index_update_async (ClSearchIndex *self, ClIndexProgressFunc progress, gpointer progress_data,
                              GDestroyNotify progress_destroy, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, cl_search_index_update_async);
  if (self->running == NULL || g_cancellable_is_cancelled (self->running->cancellable))
    self->running = update_run_start (self);
  ClProgressSink *sink = cl_progress_sink_new (G_CALLBACK (progress), progress_data, progress_destroy, cancellable);
  update_run_add_joiner (self->running, task, sink, cancellable);
}

ClIndexSummary *
cl_search_index_update_finish (ClSearchIndex *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---------------------------------------------------------------- updating named paths */

typedef struct {
  ClSearchIndex *index;
  char *folder;
  char **paths;
  gint64 n_entries;
} PathsRequest;

static void
paths_request_clear (PathsRequest *r)
{
  cl_search_index_unref (r->index);
  g_free (r->folder);
  g_strfreev (r->paths);
}

static void
paths_request_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, (GDestroyNotify) paths_request_clear);
}

static gboolean
paths_slice (ClipModel *model, guint serial, gpointer data, GCancellable *cancellable, GError **error)
{
  PathsRequest *r = data;
  ClSearchIndex *self = r->index;

  if (!index_ensure_open (self, model, serial, error))
    return TRUE;
  Folder *folder = index_find_folder (self, r->folder);
  if (folder == NULL || folder->index == NULL)
    {
      g_autofree char *display = g_filename_display_name (r->folder);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", display,
                   folder != NULL ? folder->open_error : _("not one of the searched folders"));
      return TRUE;
    }
  const ClipCallbacks callbacks = { NULL, (ClipAbortFunc) g_cancellable_is_cancelled, cancellable };
  if (clip_index_update_paths (folder->index, (const char *const *) r->paths, NULL, &callbacks, error))
    folder->n_entries = clip_index_get_n_entries (folder->index);
  r->n_entries = index_n_entries (self);
  return TRUE;
}

static void
paths_run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  if (!cl_model_worker_run_finish (CL_MODEL_WORKER (source), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  PathsRequest *r = g_task_get_task_data (task);
  g_task_return_int (task, r->n_entries);
}

void
cl_search_index_update_paths_async (ClSearchIndex *self, const char *folder, const char *const *paths,
                                    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  PathsRequest *r = g_atomic_rc_box_new0 (PathsRequest);

  g_task_set_source_tag (task, cl_search_index_update_paths_async);
  r->index = cl_search_index_ref (self);
  r->folder = g_strdup (folder);
  r->paths = g_strdupv ((char **) paths);
  g_task_set_task_data (task, g_atomic_rc_box_acquire (r), paths_request_release);
  cl_model_worker_run_async (self->worker, CL_WORKER_PRIORITY_BACKGROUND, paths_slice, r, paths_request_release,
                             cancellable, paths_run_done, task);
}

gint64
cl_search_index_update_paths_finish (ClSearchIndex *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), -1);
  return g_task_propagate_int (G_TASK (result), error);
}

/* ---------------------------------------------------------------- classifying */

/* PATH relative to FOLDER, or NULL when it is not inside. */
static const char *
path_inside (const char *folder, const char *path)
{
  size_t n = strlen (folder);
  if (n > 0 && folder[n - 1] == '/')
    n--;
  return strncmp (path, folder, n) == 0 && path[n] == '/' ? path + n + 1 : NULL;
}

/* The files a completed update skipped: relative path → the indexed file it is another name of, or "". */
static GHashTable *
skipped_files (const ClipIndexStats *stats)
{
  GHashTable *skipped = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; stats->skipped != NULL && i < stats->skipped->len; i++)
    {
      const ClipIndexSkip *skip = stats->skipped->pdata[i];
      g_hash_table_insert (skipped, skip->path, skip->same_as != NULL ? skip->same_as : "");
    }
  return skipped;
}

/* The stored embedding of FILE (relative to FOLDER) into EMBEDDING: FOUND, else ABSENT when the
 * update is COMPLETE (the index will not hold it), PENDING when it stopped early. */
static ClStoredState
stored_embedding (Folder *folder, const char *file, gboolean complete, int dim, float *embedding)
{
  g_autofree char *path = g_build_filename (folder->path, file, NULL);
  ClipIndexItem item;

  if (!clip_index_find_file (folder->index, path, &item))
    return complete ? CL_STORED_ABSENT : CL_STORED_PENDING;
  memcpy (embedding, item.embedding, sizeof (float) * dim);
  return CL_STORED_FOUND;
}

/* The N_ROWS rows of FOLDER (ROWS into the request's PATHS, FILES relative) brought up to date
 * and read back. */
static gboolean
stored_read_folder (ClSearchIndex *self, Folder *folder, ClipModel *model, const char *const *files,
                    const guint *rows, guint n_rows, float *embeddings, ClStoredState *states, gint64 *n_embedded,
                    GCancellable *cancellable, GError **error)
{
  const int dim = clip_model_get_config (model)->embed_dim;
  /* A classification's slice gives way only once it stored something, so that every slice moves on. */
  Slice slice;
  slice_begin (&slice, self->worker, cancellable, folder->index);
  const ClipCallbacks callbacks = { NULL, slice_abort_cb, &slice };
  ClipIndexStats stats;
  GError *local_error = NULL;

  gboolean complete = clip_index_update_paths (folder->index, files, &stats, &callbacks, &local_error);
  /* Stopped early (to yield, cancelled or failed): what it stored is in the file, and reopening the
   * index reads it.  Only an update that ran (then stopped) counts what it stored. */
  if (complete)
    *n_embedded += stats.added + stats.updated;
  else if (g_error_matches (local_error, CLIP_ERROR, CLIP_ERROR_ABORTED))
    *n_embedded += clip_index_get_progress (folder->index)->flushed;
  if (!complete)
    {
      GError *reopen_error = NULL;
      gboolean reopened = folder_reopen (folder, model, &reopen_error);
      if (!slice.yielded || !reopened)
        {
          g_propagate_error (error, slice.yielded ? reopen_error : local_error);
          g_clear_error (slice.yielded ? &local_error : &reopen_error);
          return FALSE;
        }
      g_clear_error (&local_error);
    }
  folder->n_entries = clip_index_get_n_entries (folder->index);
  g_autoptr (GHashTable) skipped = skipped_files (&stats);
  for (guint k = 0; k < n_rows; k++)
    {
      const char *same_as = g_hash_table_lookup (skipped, files[k]);
      float *embedding = embeddings + (gsize) rows[k] * dim;
      if (same_as == NULL)
        states[rows[k]] = stored_embedding (folder, files[k], complete, dim, embedding);
      else if (*same_as != '\0')
        states[rows[k]] = stored_embedding (folder, same_as, TRUE, dim, embedding);
    }
  g_clear_pointer (&skipped, g_hash_table_unref);   /* its strings are the stats' */
  clip_index_stats_clear (&stats);
  return TRUE;
}

/* A classification's use of the index. */
typedef struct {
  ClSearchIndex *index;
  gboolean unusable;            /* an update failed (another process holds the index, the cache
                                 * cannot be written): the worker encodes the rest itself */
} StoredRequest;

static void
stored_request_free (StoredRequest *request)
{
  cl_search_index_unref (request->index);
  g_free (request);
}

/* ClStoredEmbedFunc over the index's folders: a path outside them, or in a folder that cannot be
 * read or updated, stays ABSENT. */
static gboolean
stored_read (ClipModel *model, guint serial, const char *const *paths, guint n, float *embeddings,
             ClStoredState *states, gint64 *n_embedded, gpointer data, GCancellable *cancellable, GError **error)
{
  StoredRequest *request = data;
  ClSearchIndex *self = request->index;

  for (guint k = 0; k < n; k++)
    states[k] = CL_STORED_ABSENT;
  if (request->unusable)
    return TRUE;
  if (!index_ensure_open (self, model, serial, error))
    return FALSE;
  g_autofree const char **files = g_new0 (const char *, n + 1);
  g_autofree guint *rows = g_new (guint, MAX (n, 1));
  for (guint f = 0; f < self->n_folders; f++)
    {
      Folder *folder = self->folders[f];
      guint n_rows = 0;
      for (guint k = 0; folder->index != NULL && k < n; k++)
        {
          const char *file = states[k] == CL_STORED_ABSENT ? path_inside (folder->path, paths[k]) : NULL;
          if (file != NULL)
            {
              files[n_rows] = file;
              rows[n_rows++] = k;
            }
        }
      files[n_rows] = NULL;
      GError *folder_error = NULL;
      if (n_rows == 0 || stored_read_folder (self, folder, model, files, rows, n_rows, embeddings, states, n_embedded,
                                             cancellable, &folder_error))
        continue;
      if (g_cancellable_is_cancelled (cancellable))
        {
          g_propagate_error (error, folder_error);
          return FALSE;
        }
      /* Classifying does not need the index: its rows are encoded as without one. */
      g_clear_error (&folder_error);
      request->unusable = TRUE;
    }
  return TRUE;
}

/* ClStoredEmbedFunc that only reads: the rows whose files the index holds unchanged are FOUND, the
 * others LEFT_OUT.  Nothing is encoded or written. */
static gboolean
stored_lookup (ClipModel *model, guint serial, const char *const *paths, guint n, float *embeddings,
               ClStoredState *states, gint64 *n_embedded, gpointer data, GCancellable *cancellable, GError **error)
{
  StoredRequest *request = data;
  ClSearchIndex *self = request->index;
  const int dim = clip_model_get_config (model)->embed_dim;

  if (!index_ensure_open (self, model, serial, error))
    return FALSE;
  for (guint k = 0; k < n; k++)
    {
      ClipIndexItem item;
      states[k] = CL_STORED_LEFT_OUT;
      for (guint f = 0; f < self->n_folders && states[k] == CL_STORED_LEFT_OUT; f++)
        {
          Folder *folder = self->folders[f];
          if (folder->index != NULL && path_inside (folder->path, paths[k]) != NULL
              && clip_index_find_current_file (folder->index, paths[k], &item))
            {
              memcpy (embeddings + (gsize) k * dim, item.embedding, sizeof (float) * dim);
              states[k] = CL_STORED_FOUND;
            }
        }
    }
  return TRUE;
}

void
cl_search_index_classify_stored_async (ClSearchIndex *self, const char *const *paths, guint n_images,
                                       const char *const *classes, const char *const *templates,
                                       ClClassifyProgressFunc progress, gpointer progress_data,
                                       GDestroyNotify progress_destroy, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
  StoredRequest *request = g_new0 (StoredRequest, 1);
  g_autofree gint64 *mtimes = g_new0 (gint64, MAX (n_images, 1));   /* keys of the worker's cache, unused here */

  request->index = cl_search_index_ref (self);
  cl_model_worker_classify_stored_async (self->worker, paths, mtimes, n_images, classes, templates, self->apply_exif,
                                         stored_lookup, request, (GDestroyNotify) stored_request_free, progress,
                                         progress_data, progress_destroy, cancellable, callback, user_data);
}

void
cl_search_index_classify_async (ClSearchIndex *self, const char *const *paths, const gint64 *mtimes, guint n_images,
                                const char *const *classes, const char *const *templates,
                                ClClassifyProgressFunc progress, gpointer progress_data,
                                GDestroyNotify progress_destroy, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  StoredRequest *request = g_new0 (StoredRequest, 1);

  request->index = cl_search_index_ref (self);
  cl_model_worker_classify_stored_async (self->worker, paths, mtimes, n_images, classes, templates, self->apply_exif,
                                         stored_read, request, (GDestroyNotify) stored_request_free, progress,
                                         progress_data, progress_destroy, cancellable, callback, user_data);
}

/* ---------------------------------------------------------------- snapshots */

void
cl_index_snapshot_free (ClIndexSnapshot *snapshot)
{
  if (snapshot == NULL)
    return;
  g_strfreev (snapshot->paths);
  g_free (snapshot->embeddings);
  g_free (snapshot->hashes);
  g_free (snapshot);
}

typedef struct {
  ClSearchIndex *index;
  ClIndexSnapshot *snapshot;
} SnapshotRequest;

static void
snapshot_request_clear (SnapshotRequest *r)
{
  cl_index_snapshot_free (r->snapshot);
  cl_search_index_unref (r->index);
}

static void
snapshot_request_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, (GDestroyNotify) snapshot_request_clear);
}

static gboolean
snapshot_slice (ClipModel *model, guint serial, gpointer data, GCancellable *cancellable, GError **error)
{
  SnapshotRequest *r = data;
  ClSearchIndex *self = r->index;

  if (!index_ensure_open (self, model, serial, error))
    return TRUE;
  ClIndexSnapshot *snapshot = g_new0 (ClIndexSnapshot, 1);
  gint64 n = index_n_entries (self);
  snapshot->dim = clip_model_get_config (model)->embed_dim;
  snapshot->paths = g_new0 (char *, n + 1);
  snapshot->embeddings = g_new (float, (gsize) MAX (n, 1) * snapshot->dim);
  snapshot->hashes = g_new (guint8, (gsize) MAX (n, 1) * 16);
  for (guint f = 0; f < self->n_folders; f++)
    {
      Folder *folder = self->folders[f];
      for (gint64 i = 0; folder->index != NULL && i < folder->n_entries; i++)
        {
          ClipIndexItem item;
          clip_index_get_item (folder->index, i, &item);
          guint row = snapshot->n++;
          snapshot->paths[row] = g_build_filename (clip_index_get_folder (folder->index), item.path, NULL);
          memcpy (snapshot->embeddings + (gsize) row * snapshot->dim, item.embedding, sizeof (float) * snapshot->dim);
          memcpy (snapshot->hashes + (gsize) row * 16, item.content_hash, 16);
        }
    }
  r->snapshot = snapshot;
  return TRUE;
}

static void
snapshot_run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  if (!cl_model_worker_run_finish (CL_MODEL_WORKER (source), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  SnapshotRequest *r = g_task_get_task_data (task);
  g_task_return_pointer (task, g_steal_pointer (&r->snapshot), (GDestroyNotify) cl_index_snapshot_free);
}

void
cl_search_index_snapshot_async (ClSearchIndex *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  SnapshotRequest *r = g_atomic_rc_box_new0 (SnapshotRequest);

  g_task_set_source_tag (task, cl_search_index_snapshot_async);
  r->index = cl_search_index_ref (self);
  g_task_set_task_data (task, g_atomic_rc_box_acquire (r), snapshot_request_release);
  cl_model_worker_run_async (self->worker, CL_WORKER_PRIORITY_BACKGROUND, snapshot_slice, r, snapshot_request_release,
                             cancellable, snapshot_run_done, task);
}

ClIndexSnapshot *
cl_search_index_snapshot_finish (ClSearchIndex *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---------------------------------------------------------------- searching */

void
cl_search_results_free (ClSearchResults *results)
{
  if (results == NULL)
    return;
  g_strfreev (results->paths);
  g_free (results->scores);
  g_free (results->sizes);
  g_free (results->mtimes);
  g_free (results);
}

typedef struct {
  ClSearchIndex *index;
  ClQueryTerm *terms;
  guint n_terms;
  int top_k;
  ClSearchResults *results;
} SearchRequest;

static void
search_request_clear (SearchRequest *r)
{
  for (guint i = 0; i < r->n_terms; i++)
    {
      g_free (r->terms[i].text);
      g_free (r->terms[i].image);
    }
  g_free (r->terms);
  cl_search_results_free (r->results);
  cl_search_index_unref (r->index);
}

static void
search_request_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, (GDestroyNotify) search_request_clear);
}

/* The folder whose stored embeddings a query uses: the one holding its first image, so that
 * "find similar" reads the image's embedding rather than decoding it again; else the first open. */
static Folder *
search_query_folder (ClSearchIndex *self, const SearchRequest *r)
{
  Folder *first = NULL;
  for (guint i = 0; i < self->n_folders; i++)
    {
      Folder *folder = self->folders[i];
      if (folder->index == NULL)
        continue;
      if (first == NULL)
        first = folder;
      for (guint t = 0; t < r->n_terms; t++)
        if (r->terms[t].image != NULL && clip_index_find_file (folder->index, r->terms[t].image, &(ClipIndexItem) { 0 }))
          return folder;
    }
  return first;
}

typedef struct {
  const Folder *folder;
  ClipSearchResult hit;
} Hit;

static int
compare_hits (gconstpointer a, gconstpointer b)
{
  const Hit *x = a, *y = b;
  if (x->hit.score != y->hit.score)
    return x->hit.score > y->hit.score ? -1 : 1;
  int by_folder = strcmp (x->folder->path, y->folder->path);
  return by_folder != 0 ? by_folder : strcmp (x->hit.path, y->hit.path);
}

static ClSearchResults *
search_results_new (GArray *hits, gint64 n_searched)
{
  ClSearchResults *results = g_new0 (ClSearchResults, 1);
  guint n = hits->len;

  results->n = n;
  results->paths = g_new0 (char *, n + 1);
  results->scores = g_new (float, MAX (n, 1));
  results->sizes = g_new (gint64, MAX (n, 1));
  results->mtimes = g_new (gint64, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      const Hit *hit = &g_array_index (hits, Hit, i);
      /* The file's details for the grid, read here rather than on the main thread. */
      GStatBuf st;
      results->paths[i] = g_build_filename (clip_index_get_folder (hit->folder->index), hit->hit.path, NULL);
      results->scores[i] = hit->hit.score;
      gboolean exists = g_stat (results->paths[i], &st) == 0;
      results->sizes[i] = exists ? (gint64) st.st_size : -1;
      results->mtimes[i] = exists ? (gint64) st.st_mtime : 0;
    }
  results->n_searched = n_searched;
  return results;
}

static gboolean
search_slice (ClipModel *model, guint serial, gpointer data, GCancellable *cancellable, GError **error)
{
  SearchRequest *r = data;
  ClSearchIndex *self = r->index;

  if (!index_ensure_open (self, model, serial, error))
    return TRUE;
  g_autoptr (GArray) hits = g_array_new (FALSE, FALSE, sizeof (Hit));
  Folder *query_folder = search_query_folder (self, r);
  if (query_folder == NULL)
    {
      r->results = search_results_new (hits, 0);
      return TRUE;
    }

  const int dim = clip_model_get_config (model)->embed_dim;
  g_autofree ClipQueryTerm *terms = g_new0 (ClipQueryTerm, MAX (r->n_terms, 1));
  g_autofree float *query = g_new (float, dim);
  for (guint i = 0; i < r->n_terms; i++)
    terms[i] = (ClipQueryTerm) { r->terms[i].text, r->terms[i].image, (float) r->terms[i].weight };
  if (!clip_index_embed_query (query_folder->index, terms, (int) r->n_terms, query, error))
    return TRUE;

  /* Each folder's best, then the best of them. */
  g_autofree ClipSearchResult *found = g_new (ClipSearchResult, MAX (r->top_k, 1));
  for (guint i = 0; i < self->n_folders; i++)
    {
      Folder *folder = self->folders[i];
      int n = folder->index != NULL ? clip_index_search (folder->index, query, r->top_k, -1, found) : 0;
      for (int k = 0; k < n; k++)
        g_array_append_val (hits, ((Hit) { folder, found[k] }));
    }
  g_array_sort (hits, compare_hits);
  g_array_set_size (hits, MIN (hits->len, (guint) MAX (r->top_k, 0)));
  r->results = search_results_new (hits, index_n_entries (self));
  return TRUE;
}

static void
search_run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  if (!cl_model_worker_run_finish (CL_MODEL_WORKER (source), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  SearchRequest *r = g_task_get_task_data (task);
  g_task_return_pointer (task, g_steal_pointer (&r->results), (GDestroyNotify) cl_search_results_free);
}

void
cl_search_index_search_async (ClSearchIndex *self, const ClQueryTerm *terms, guint n_terms, int top_k,
                              GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  SearchRequest *r = g_atomic_rc_box_new0 (SearchRequest);

  g_task_set_source_tag (task, cl_search_index_search_async);
  r->index = cl_search_index_ref (self);
  r->terms = g_new0 (ClQueryTerm, MAX (n_terms, 1));
  for (guint i = 0; i < n_terms; i++)
    r->terms[i] = (ClQueryTerm) { g_strdup (terms[i].text), g_strdup (terms[i].image), terms[i].weight };
  r->n_terms = n_terms;
  r->top_k = top_k;
  g_task_set_task_data (task, g_atomic_rc_box_acquire (r), search_request_release);
  cl_model_worker_run_async (self->worker, CL_WORKER_PRIORITY_INTERACTIVE, search_slice, r, search_request_release,
                             cancellable, search_run_done, task);
}

ClSearchResults *
cl_search_index_search_finish (ClSearchIndex *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---------------------------------------------------------------- other commands on the index */

typedef struct {
  ClSearchIndex *index;
  ClIndexFunc func;
  gpointer data;
  GDestroyNotify data_destroy;
} RunRequest;

static void
run_request_free (gpointer data)
{
  RunRequest *r = data;

  if (r->data_destroy != NULL)
    r->data_destroy (r->data);
  cl_search_index_unref (r->index);
  g_free (r);
}

static gboolean
run_slice (ClipModel *model, guint serial, gpointer data, GCancellable *cancellable, GError **error)
{
  RunRequest *r = data;
  ClSearchIndex *self = r->index;

  if (!index_ensure_open (self, model, serial, error))
    return TRUE;
  g_autofree ClipIndex **indexes = g_new0 (ClipIndex *, MAX (self->n_folders, 1));
  for (guint i = 0; i < self->n_folders; i++)
    indexes[i] = self->folders[i]->index;
  r->func (model, indexes, self->n_folders, r->data, cancellable, error);
  return TRUE;
}

void
cl_search_index_run_async (ClSearchIndex *self, int priority, ClIndexFunc func, gpointer data,
                           GDestroyNotify data_destroy, GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  RunRequest *r = g_new0 (RunRequest, 1);

  r->index = cl_search_index_ref (self);
  r->func = func;
  r->data = data;
  r->data_destroy = data_destroy;
  cl_model_worker_run_async (self->worker, priority, run_slice, r, run_request_free, cancellable, callback,
                             user_data);
}

gboolean
cl_search_index_run_finish (ClSearchIndex *self, GAsyncResult *result, GError **error)
{
  return cl_model_worker_run_finish (self->worker, result, error);
}
