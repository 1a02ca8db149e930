/* cl-search-index.c — index updates and searches as sliced model-worker commands. */
#include "cl-search-index.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "cl-progress-sink.h"

#define MIN_SLICE_US         (G_USEC_PER_SEC / 2)   /* an update runs at least this long before yielding */
#define PROGRESS_INTERVAL_US (G_USEC_PER_SEC / 10)
#define FLUSH_INTERVAL       32                     /* images between appends: what a yield makes searchable */

struct _ClSearchIndex {
  gatomicrefcount ref_count;
  ClModelWorker *worker;        /* not referenced: its shutdown finishes every command first */
  GMainContext *main_context;
  char *folder;
  gboolean apply_exif;

  /* Worker thread only. */
  ClipIndex *index;             /* NULL until first used */
  guint serial;                 /* of the model INDEX borrows */
  gint64 n_entries;             /* what a search sees */
};

ClSearchIndex *
cl_search_index_new (ClModelWorker *worker, const char *folder, gboolean apply_exif)
{
  ClSearchIndex *self = g_new0 (ClSearchIndex, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->worker = worker;
  self->main_context = g_main_context_ref_thread_default ();
  self->folder = g_strdup (folder);
  self->apply_exif = apply_exif;
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
  /* Frees only memory and the mapping: safe on any thread once no command holds it. */
  clip_index_free (self->index);
  g_main_context_unref (self->main_context);
  g_free (self->folder);
  g_free (self);
}

const char *
cl_search_index_get_folder (ClSearchIndex *self)
{
  return self->folder;
}

/* ---------------------------------------------------------------- worker thread: opening */

static gboolean
index_reopen (ClSearchIndex *self, ClipModel *model, guint serial, GError **error)
{
  ClipIndexOptions options;

  g_clear_pointer (&self->index, clip_index_free);
  clip_index_options_init (&options);
  options.apply_exif_orientation = self->apply_exif;
  options.flush_interval = FLUSH_INTERVAL;
  self->index = clip_index_open (self->folder, model, &options, error);
  self->serial = serial;
  self->n_entries = self->index != NULL ? clip_index_get_n_entries (self->index) : 0;
  return self->index != NULL;
}

/* The index for MODEL: opened on first use and again after another model was loaded. */
static gboolean
index_ensure_open (ClSearchIndex *self, ClipModel *model, guint serial, GError **error)
{
  if (model == NULL)
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_MISSING, _("No model is loaded"));
      return FALSE;
    }
  if (self->index != NULL && self->serial == serial)
    return TRUE;
  return index_reopen (self, model, serial, error);
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

typedef struct {
  ClSearchIndex *index;
  ClProgressSink *sink;
  gint64 slice_start;
  gint64 last_post;
  ClipIndexPhase last_phase;
  gboolean yielded;             /* the abort asked to stop this slice for a waiting command */
  GCancellable *cancellable;
  ClIndexProgress last;         /* as last posted */
  ClIndexSummary *summary;      /* the result, set by the last slice */
} UpdateRequest;

static void
update_request_clear (UpdateRequest *r)
{
  /* The sink's data belongs to the main thread. */
  cl_progress_sink_release_on (r->sink, r->index->main_context);
  cl_search_index_unref (r->index);
  g_clear_object (&r->cancellable);
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
  const ClipIndexProgress *progress = clip_index_get_progress (r->index->index);

  if (progress->phase == r->last_phase && progress->done < progress->total
      && g_get_monotonic_time () - r->last_post < PROGRESS_INTERVAL_US)
    return;
  /* What earlier slices (and earlier updates) indexed counts as done: one bar for the whole folder. */
  gint64 base = r->index->n_entries;
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

  if (g_cancellable_is_cancelled (r->cancellable))
    return TRUE;
  if (!r->yielded && g_get_monotonic_time () - r->slice_start >= MIN_SLICE_US
      && cl_model_worker_has_waiting (r->index->worker))
    r->yielded = TRUE;
  return r->yielded;
}

static ClIndexSummary *
summary_new (ClipIndex *index, ClipIndexStats *stats)
{
  ClIndexSummary *summary = g_new0 (ClIndexSummary, 1);

  summary->n_entries = clip_index_get_n_entries (index);
  summary->skipped = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; stats->skipped != NULL && i < stats->skipped->len; i++)
    {
      const ClipIndexSkip *skip = stats->skipped->pdata[i];
      g_autofree char *display = g_filename_display_name (skip->path);
      g_ptr_array_add (summary->skipped, g_strdup_printf ("%s: %s", display, skip->reason));
    }
  summary->warnings = g_strdupv ((char **) clip_index_get_warnings (index));
  return summary;
}

static gboolean
update_slice (ClipModel *model, guint serial, gpointer data, GCancellable *cancellable, GError **error)
{
  UpdateRequest *r = data;
  ClSearchIndex *self = r->index;
  GError *local_error = NULL;

  if (!index_ensure_open (self, model, serial, error))
    return TRUE;

  r->slice_start = g_get_monotonic_time ();
  r->yielded = FALSE;
  const ClipCallbacks callbacks = { update_progress_cb, update_abort_cb, r };
  ClipIndexStats stats;
  if (clip_index_update (self->index, &stats, &callbacks, &local_error))
    {
      self->n_entries = clip_index_get_n_entries (self->index);
      r->summary = summary_new (self->index, &stats);
      clip_index_stats_clear (&stats);
      return TRUE;
    }

  if (!g_error_matches (local_error, CLIP_ERROR, CLIP_ERROR_ABORTED))
    {
      g_propagate_error (error, local_error);
      return TRUE;
    }

  /* Stopped, to yield or for good: what was embedded is in the file, and reopening the index makes
   * it searchable. */
  GError *reopen_error = NULL;
  if (!index_reopen (self, model, serial, &reopen_error))
    {
      g_clear_error (&local_error);
      g_propagate_error (error, reopen_error);
      return TRUE;
    }
  if (r->yielded && !g_cancellable_is_cancelled (cancellable))
    {
      g_clear_error (&local_error);
      ClIndexProgress progress = r->last;
      progress.n_searchable = self->n_entries;
      update_post (r, &progress);
      return FALSE;
    }
  g_propagate_error (error, local_error);
  return TRUE;
}

static void
update_run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  if (!cl_model_worker_run_finish (CL_MODEL_WORKER (source), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  UpdateRequest *r = g_task_get_task_data (task);
  g_task_return_pointer (task, g_steal_pointer (&r->summary), (GDestroyNotify) cl_index_summary_free);
}

void
cl_search_index_update_async (ClSearchIndex *self, ClIndexProgressFunc progress, gpointer progress_data,
                              GDestroyNotify progress_destroy, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  UpdateRequest *r = g_atomic_rc_box_new0 (UpdateRequest);

  g_task_set_source_tag (task, cl_search_index_update_async);
  r->index = cl_search_index_ref (self);
  r->sink = cl_progress_sink_new (G_CALLBACK (progress), progress_data, progress_destroy, cancellable);
  r->cancellable = cancellable != NULL ? g_object_ref (cancellable) : g_cancellable_new ();
  r->last_phase = -1;
  g_task_set_task_data (task, g_atomic_rc_box_acquire (r), update_request_release);
  cl_model_worker_run_async (self->worker, CL_WORKER_PRIORITY_BACKGROUND, update_slice, r, update_request_release,
                             cancellable, update_run_done, task);
}

ClIndexSummary *
cl_search_index_update_finish (ClSearchIndex *self, GAsyncResult *result, GError **error)
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

static gboolean
search_slice (ClipModel *model, guint serial, gpointer data, GCancellable *cancellable, GError **error)
{
  SearchRequest *r = data;
  ClSearchIndex *self = r->index;

  if (!index_ensure_open (self, model, serial, error))
    return TRUE;

  const int dim = clip_model_get_config (model)->embed_dim;
  g_autofree ClipQueryTerm *terms = g_new0 (ClipQueryTerm, MAX (r->n_terms, 1));
  g_autofree float *query = g_new (float, dim);
  for (guint i = 0; i < r->n_terms; i++)
    terms[i] = (ClipQueryTerm) { r->terms[i].text, r->terms[i].image, (float) r->terms[i].weight };
  if (!clip_index_embed_query (self->index, terms, (int) r->n_terms, query, error))
    return TRUE;

  g_autofree ClipSearchResult *hits = g_new (ClipSearchResult, MAX (r->top_k, 1));
  int n = clip_index_search (self->index, query, r->top_k, -1, hits);
  ClSearchResults *results = g_new0 (ClSearchResults, 1);
  results->n = n;
  results->paths = g_new0 (char *, n + 1);
  results->scores = g_new (float, MAX (n, 1));
  results->sizes = g_new (gint64, MAX (n, 1));
  results->mtimes = g_new (gint64, MAX (n, 1));
  for (int i = 0; i < n; i++)
    {
      /* The file's details for the grid, read here rather than on the main thread. */
      GStatBuf st;
      results->paths[i] = g_build_filename (clip_index_get_folder (self->index), hits[i].path, NULL);
      results->scores[i] = hits[i].score;
      gboolean exists = g_stat (results->paths[i], &st) == 0;
      results->sizes[i] = exists ? (gint64) st.st_size : -1;
      results->mtimes[i] = exists ? (gint64) st.st_mtime : 0;
    }
  results->n_searched = clip_index_get_n_entries (self->index);
  r->results = results;
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
