/* cl-model-worker.c — the model thread: a sorted GAsyncQueue of jobs, each run in slices. */
#include "cl-model-worker.h"

#include <string.h>

#include <glib/gi18n.h>

#include "cl-class-parser.h"
#include "cl-progress-sink.h"
#include "cl-thread-priority.h"

#define CLASSIFY_BATCH        4       /* images encoded per slice: one slice is well under a second */
#define CLASSIFY_SLICE_CACHED 4096    /* cached images handled per slice */
#define TEXT_BATCH            32
#define MAX_CACHED_EMBEDDINGS 200000  /* per cache; beyond it the cache starts again */
#define DELIVER_SLICE_USEC    (4 * 1000) /* main-loop time spent handing over progress at a time */

typedef enum {
  JOB_QUIT,
  JOB_SET_THREADS,
  JOB_LOAD,
  JOB_CLASSIFY,
  JOB_RANK,
  JOB_RUN,
} JobKind;


typedef struct {
  JobKind kind;
  int priority;
  guint64 seq;
  GTask *task;
  GCancellable *cancellable;

  int n_threads;                /* SET_THREADS */
  char *path;                   /* LOAD: the model; RANK: the image */
  char *member;                 /* RANK: NULL, or the image's member in the shard PATH */
  char *tokenizer;
  char *config;
  ClipPrecision precision;

  char **paths;                 /* CLASSIFY */
  char **members;               /* [n_images]: NULL, or the image's member in the shard paths[i] */
  gint64 *mtimes;
  guint n_images;
  char **classes;
  char **templates;
  gboolean exif;
  ClProgressSink *sink;
  guint next;
  float *weights;               /* [n_classes × dim], built in the first slice … */
  guint weights_serial;         /* … for the model of this serial */
  ClClassifyResult *result;
  ClStoredEmbedFunc embed;      /* CLASSIFY from a store, or NULL */
  gpointer embed_data;
  GDestroyNotify embed_destroy;
  guint8 *row_state;            /* [n_images] RowState, with EMBED */

  gint64 mtime;                 /* RANK */
  char **texts;
  guint n_texts;
  guint top_k;
  float *image_embed;

  ClWorkerFunc func;            /* RUN */
  gpointer func_data;
  GDestroyNotify func_destroy;
} Job;

/* A row of a classification from a store, from the first slice that asked the store about it. */
typedef enum {
  ROW_WAITING,                  /* not asked yet, or not stored yet */
  ROW_DONE,                     /* scored, or found unreadable */
  ROW_TO_ENCODE,                /* not in the store: encoded by the worker */
} RowState;

struct _ClModelWorker {
  GObject parent_instance;

  GThread *thread;
  ClipCallbacks model_callbacks; /* every model call polls worker_abort_cb */
  GAsyncQueue *queue;            /* Job *, sorted by priority then sequence */
  GMainContext *main_context;
  guint64 next_seq;              /* under the queue's lock */

  /* Progress on its way to the main thread: one idle source hands over whatever has arrived, so
   * a fast job costs the main loop one dispatch per frame rather than one per slice. */
  GMutex mailbox_lock;
  GQueue mailbox;                /* ProgressPost *, oldest first */
  GSource *mailbox_source;       /* under mailbox_lock; NULL when none is pending */

  /* Worker thread only. */
  ClipModel *model;
  GHashTable *image_embeds;      /* "path\x1fmtime" → float[dim] */
  GHashTable *text_embeds;       /* text → float[dim] */
  GHashTable *class_rows;        /* "templates\x1eclass" → float[dim] */
  GCancellable *current;         /* the running job's, polled by the abort callback */
  guint model_serial;            /* changes with every model loaded */
};

G_DEFINE_FINAL_TYPE (ClModelWorker, cl_model_worker, G_TYPE_OBJECT)

/* ---------------------------------------------------------------- results */

void
cl_classify_result_free (ClClassifyResult *result)
{
  if (result == NULL)
    return;
  g_free (result->probs);
  g_free (result->readable);
  g_clear_pointer (&result->problems, g_ptr_array_unref);
  g_free (result);
}

void
cl_rank_result_free (ClRankResult *result)
{
  if (result == NULL)
    return;
  g_free (result->indices);
  g_free (result->scores);
  g_free (result);
}

typedef struct {
  ClProgressSink *sink;
  ClClassifyProgress progress;
  float *probs;
  gboolean *readable;
} ProgressPost;

static void
progress_post_free (ProgressPost *post)
{
  cl_progress_sink_release (post->sink);
  g_free (post->probs);
  g_free (post->readable);
  g_free (post);
}

static void
progress_post_deliver (ProgressPost *post)
{
  if (cl_progress_sink_wants (post->sink))
    ((ClClassifyProgressFunc) post->sink->func) (&post->progress, post->sink->data);
  progress_post_free (post);
}

/* Hands over the progress that has arrived, for at most DEADLINE (monotonic µs; 0: all of it).
 * TRUE when posts are left. */
static gboolean
mailbox_deliver (ClModelWorker *self, gint64 deadline)
{
  for (;;)
    {
      g_mutex_lock (&self->mailbox_lock);
      ProgressPost *post = g_queue_pop_head (&self->mailbox);
      g_mutex_unlock (&self->mailbox_lock);
      if (post == NULL)
        return FALSE;
      progress_post_deliver (post);
      if (deadline != 0 && g_get_monotonic_time () > deadline)
        return TRUE;
    }
}

static gboolean
mailbox_dispatch (gpointer data)
{
  ClModelWorker *self = data;

  if (mailbox_deliver (self, g_get_monotonic_time () + DELIVER_SLICE_USEC))
    return G_SOURCE_CONTINUE;
  g_mutex_lock (&self->mailbox_lock);
  /* A post may have arrived since the queue was found empty: it is delivered by this source. */
  gboolean more = self->mailbox.length > 0;
  if (!more)
    g_clear_pointer (&self->mailbox_source, g_source_unref);
  g_mutex_unlock (&self->mailbox_lock);
  return more ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Worker thread.  Below redrawing, so frames keep coming while results stream in. */
static void
mailbox_post (ClModelWorker *self, ProgressPost *post)
{
  g_mutex_lock (&self->mailbox_lock);
  g_queue_push_tail (&self->mailbox, post);
  if (self->mailbox_source == NULL)
    {
      self->mailbox_source = g_idle_source_new ();
      g_source_set_priority (self->mailbox_source, G_PRIORITY_DEFAULT_IDLE);
      g_source_set_callback (self->mailbox_source, mailbox_dispatch, self, NULL);
      g_source_set_static_name (self->mailbox_source, "[cliplab] worker progress");
      g_source_attach (self->mailbox_source, self->main_context);
    }
  g_mutex_unlock (&self->mailbox_lock);
}

/* ---------------------------------------------------------------- jobs */

static int
job_compare (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const Job *x = a, *y = b;

  if (x->priority != y->priority)
    return x->priority < y->priority ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
job_free (ClModelWorker *self, Job *job)
{
  g_clear_object (&job->task);
  g_clear_object (&job->cancellable);
  g_free (job->path);
  g_free (job->tokenizer);
  g_free (job->config);
  for (guint i = 0; job->members != NULL && i < job->n_images; i++)
    g_free (job->members[i]);
  g_free (job->members);
  g_free (job->member);
  g_strfreev (job->paths);
  g_free (job->mtimes);
  g_strfreev (job->classes);
  g_strfreev (job->templates);
  if (job->sink != NULL)
    cl_progress_sink_release_on (job->sink, self->main_context);
  g_free (job->weights);
  cl_classify_result_free (job->result);
  if (job->embed_destroy != NULL)
    job->embed_destroy (job->embed_data);
  g_free (job->row_state);
  g_strfreev (job->texts);
  g_free (job->image_embed);
  if (job->func_destroy != NULL)
    job->func_destroy (job->func_data);
  g_free (job);
}

static Job *
job_new (ClModelWorker *self, JobKind kind, int priority, GCancellable *cancellable,
         GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
  Job *job = g_new0 (Job, 1);

  job->kind = kind;
  job->priority = priority;
  if (callback != NULL)
    {
      job->task = g_task_new (self, cancellable, callback, user_data);
      g_task_set_source_tag (job->task, source_tag);
    }
  if (cancellable != NULL)
    job->cancellable = g_object_ref (cancellable);
  return job;
}

/* Queues JOB behind the jobs of its priority.  A long job requeued after a slice goes behind too,
 * so jobs of one priority take turns a slice at a time. */
static void
job_push (ClModelWorker *self, Job *job)
{
  g_async_queue_lock (self->queue);
  job->seq = self->next_seq++;
  g_async_queue_push_sorted_unlocked (self->queue, job, job_compare, NULL);
  g_async_queue_unlock (self->queue);
}

/* ---------------------------------------------------------------- worker-thread helpers */

static gboolean
worker_abort_cb (gpointer data)
{
  ClModelWorker *self = data;

  return self->current != NULL && g_cancellable_is_cancelled (self->current);
}

/* The library reports an abort as CLIP_ERROR_ABORTED; callers expect G_IO_ERROR_CANCELLED. */
static void
worker_return_error (Job *job, GError *error)
{
  if (g_error_matches (error, CLIP_ERROR, CLIP_ERROR_ABORTED))
    {
      g_clear_error (&error);
      g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Cancelled"));
    }
  g_task_return_error (job->task, error);
}

static gboolean
worker_require_model (ClModelWorker *self, Job *job)
{
  if (self->model != NULL)
    return TRUE;
  g_task_return_new_error (job->task, CLIP_ERROR, CLIP_ERROR_MISSING, _("No model is loaded"));
  return FALSE;
}

static int
worker_embed_dim (ClModelWorker *self)
{
  return clip_model_get_config (self->model)->embed_dim;
}

static void
worker_cache_insert (GHashTable *cache, char *key, const float *embed, int dim)
{
  if (g_hash_table_size (cache) >= MAX_CACHED_EMBEDDINGS)
    g_hash_table_remove_all (cache);
  g_hash_table_replace (cache, key, g_memdup2 (embed, sizeof (float) * dim));
}

static char *
image_cache_key (const char *path, const char *member, gint64 mtime)
{
  return g_strdup_printf ("%s\x1f%s\x1f%" G_GINT64_FORMAT, path, member != NULL ? member : "", mtime);
}

/* Decodes and preprocesses the image at PATH (or its MEMBER when PATH is a WebDataset shard) into
 * CHW (image_size² × 3 floats).  A file is read as the folder's search index reads it (a large JPEG
 * at reduced size), so that its embedding here equals the stored one. */
static gboolean
worker_preprocess_image (ClModelWorker *self, const char *path, const char *member, gboolean exif, float *chw,
                         GError **error)
{
  if (member == NULL)
    {
      ClipIndexOptions options;
      clip_index_options_init (&options);
      options.apply_exif_orientation = exif;
      return clip_index_preprocess_file (self->model, &options, path, chw, error);
    }

  const ClipPreprocess *pre = clip_model_get_preprocess (self->model);
  g_autoptr (ClipImage) image = clip_image_load_shard_member (path, member, exif, error);
  if (image == NULL)
    return FALSE;
  g_autofree uint8_t *crop = g_malloc ((size_t) 3 * pre->image_size * pre->image_size);
  clip_image_resize_crop (image, pre->image_size, crop);
  clip_image_normalize (crop, pre, chw);
  return TRUE;
}

/* Messages from the library do not always name the file; the user needs to know which one. */
static char *
problem_for_file (const char *path, const char *member, const GError *error)
{
  g_autofree char *base = member != NULL ? g_strdup (member) : g_path_get_basename (path);
  g_autofree char *display = g_filename_display_name (base);

  if (strstr (error->message, display) != NULL)
    return g_strdup (error->message);
  return g_strdup_printf ("%s: %s", display, error->message);
}

/* ---------------------------------------------------------------- LOAD */

static void
worker_run_load (ClModelWorker *self, Job *job)
{
  ClipLoadOptions options;
  GError *error = NULL;

  clip_load_options_init (&options);
  options.tokenizer_path = job->tokenizer;
  options.config_path = job->config;
  options.precision = job->precision;
  ClipModel *model = clip_model_load (job->path, &options, &error);
  if (model == NULL)
    {
      g_autofree char *base = g_path_get_basename (job->path);
      g_autofree char *display = g_filename_display_name (base);
      if (strstr (error->message, display) == NULL)
        g_prefix_error (&error, "%s: ", display);
      g_task_return_error (job->task, error);
      return;
    }

  g_clear_pointer (&self->model, clip_model_free);
  self->model = model;
  self->model_serial++;
  g_hash_table_remove_all (self->image_embeds);
  g_hash_table_remove_all (self->text_embeds);
  g_hash_table_remove_all (self->class_rows);
  g_task_return_pointer (job->task, cl_model_info_new (model), (GDestroyNotify) cl_model_info_free);
}

/* ---------------------------------------------------------------- CLASSIFY */

static gboolean
worker_build_classifier (ClModelWorker *self, Job *job, GError **error)
{
  const int dim = worker_embed_dim (self);
  const guint n_classes = g_strv_length (job->classes);
  const int n_templates = g_strv_length (job->templates);
  g_autofree char *templates_key = cl_templates_key ((const char *const *) job->templates);
  g_autofree float *weights = g_new (float, (gsize) n_classes * dim);

  for (guint c = 0; c < n_classes; c++)
    {
      g_autofree char *key = g_strconcat (templates_key, "\x1e", job->classes[c], NULL);
      const float *row = g_hash_table_lookup (self->class_rows, key);
      if (row == NULL)
        {
          g_autofree float *fresh = g_new (float, dim);
          if (!clip_zero_shot_classifier (self->model, (const char *const *) &job->classes[c], 1,
                                          (const char *const *) job->templates, n_templates, fresh,
                                          &self->model_callbacks, error))
            return FALSE;
          worker_cache_insert (self->class_rows, g_steal_pointer (&key), fresh, dim);
          row = fresh;
          memcpy (weights + (gsize) c * dim, row, sizeof (float) * dim);
          continue;
        }
      memcpy (weights + (gsize) c * dim, row, sizeof (float) * dim);
    }
  job->weights = g_steal_pointer (&weights);
  return TRUE;
}

static void
worker_post_progress (ClModelWorker *self, Job *job, guint first, guint n)
{
  if (job->sink == NULL || n == 0)
    return;

  const guint n_classes = job->result->n_classes;
  ProgressPost *post = g_new0 (ProgressPost, 1);
  post->sink = cl_progress_sink_acquire (job->sink);
  post->probs = g_memdup2 (job->result->probs + (gsize) first * n_classes,
                           sizeof (float) * n * n_classes);
  post->readable = g_memdup2 (job->result->readable + first, sizeof (gboolean) * n);
  post->progress = (ClClassifyProgress) { first, n, n_classes, post->probs, post->readable };
  mailbox_post (self, post);
}

/* The classifier and the result, in the first slice.  FALSE when the task returned an error. */
static gboolean
worker_classify_begin (ClModelWorker *self, Job *job)
{
  GError *error = NULL;

  /* Another model loaded between two slices: the classifier's rows do not fit its embeddings. */
  if (job->weights != NULL && job->weights_serial != self->model_serial)
    {
      g_task_return_new_error (job->task, CLIP_ERROR, CLIP_ERROR_INVALID, "%s",
                               _("Another model was loaded while the images were classified"));
      return FALSE;
    }
  if (job->weights != NULL)
    return TRUE;
  job->weights_serial = self->model_serial;
  if (!worker_build_classifier (self, job, &error))
    {
      worker_return_error (job, error);
      return FALSE;
    }
  ClClassifyResult *result = g_new0 (ClClassifyResult, 1);
  result->n_images = job->n_images;
  result->n_classes = g_strv_length (job->classes);
  result->probs = g_new0 (float, (gsize) job->n_images * result->n_classes);
  result->readable = g_new0 (gboolean, MAX (job->n_images, 1));
  result->problems = g_ptr_array_new_with_free_func (g_free);
  job->result = result;
  return TRUE;
}

static void
worker_score (ClModelWorker *self, Job *job, guint row, const float *embed)
{
  ClClassifyResult *result = job->result;

  clip_zero_shot_probs (self->model, embed, 1, job->weights, result->n_classes,
                        result->probs + (gsize) row * result->n_classes);
  result->readable[row] = TRUE;
}

/* Rows FIRST .. END - 1 from the image cache or encoded, until CLASSIFY_BATCH were encoded (or
 * CLASSIFY_SLICE_CACHED handled): *NEXT is the row after the last one handled.  FALSE when the task
 * returned an error. */
static gboolean
worker_classify_rows (ClModelWorker *self, Job *job, guint first, guint end, guint *next)
{
  ClClassifyResult *result = job->result;
  const int dim = worker_embed_dim (self);
  const int size = clip_model_get_preprocess (self->model)->image_size;
  const gsize image_floats = (gsize) 3 * size * size;
  g_autofree float *pixels = g_new (float, image_floats * CLASSIFY_BATCH);
  g_autofree float *embeds = g_new (float, (gsize) dim * CLASSIFY_BATCH);
  guint pending[CLASSIFY_BATCH];
  guint n_pending = 0;
  guint i = first;

  for (; i < end && n_pending < CLASSIFY_BATCH && i - first < CLASSIFY_SLICE_CACHED; i++)
    {
      g_autofree char *key = image_cache_key (job->paths[i], job->members[i], job->mtimes[i]);
      const float *embed = g_hash_table_lookup (self->image_embeds, key);
      if (embed != NULL)
        {
          worker_score (self, job, i, embed);
          continue;
        }
      g_autoptr (GError) image_error = NULL;
      if (!worker_preprocess_image (self, job->paths[i], job->members[i], job->exif,
                                    pixels + image_floats * n_pending, &image_error))
        {
          g_ptr_array_add (result->problems, problem_for_file (job->paths[i], job->members[i], image_error));
          continue;
        }
      pending[n_pending++] = i;
    }

  GError *error = NULL;
  if (n_pending > 0 && !clip_model_encode_images (self->model, pixels, n_pending, embeds, &self->model_callbacks, &error))
    {
      worker_return_error (job, error);
      return FALSE;
    }
  for (guint k = 0; k < n_pending; k++)
    {
      guint row = pending[k];
      const float *embed = embeds + (gsize) k * dim;
      worker_cache_insert (self->image_embeds, image_cache_key (job->paths[row], job->members[row], job->mtimes[row]),
                           embed, dim);
      worker_score (self, job, row, embed);
    }
  result->n_embedded += n_pending;
  *next = i;
  return TRUE;
}

/* After a slice that handled rows FIRST .. job->next - 1: their progress; the result once every row
 * is handled.  TRUE when the job is finished. */
static gboolean
worker_classify_slice_done (ClModelWorker *self, Job *job, guint first)
{
  worker_post_progress (self, job, first, job->next - first);
  if (job->next < job->n_images)
    return FALSE;
  g_task_return_pointer (job->task, g_steal_pointer (&job->result), (GDestroyNotify) cl_classify_result_free);
  return TRUE;
}

/* Asks the store about the window from job->next: stored rows are scored, the others marked to be
 * encoded or left waiting.  FALSE when the task returned an error. */
static gboolean
worker_read_stored (ClModelWorker *self, Job *job)
{
  const guint first = job->next;
  const guint n = MIN (CL_STORED_WINDOW, job->n_images - first);
  const int dim = worker_embed_dim (self);
  g_autofree float *embeds = g_new (float, (gsize) n * dim);
  g_autofree ClStoredState *states = g_new0 (ClStoredState, n);
  GError *error = NULL;

  if (!job->embed (self->model, self->model_serial, (const char *const *) job->paths + first, n, embeds, states,
                   &job->result->n_embedded, job->embed_data, job->cancellable, &error))
    {
      worker_return_error (job, error);
      return FALSE;
    }
  for (guint k = 0; k < n; k++)
    {
      guint8 *state = &job->row_state[first + k];
      if (*state != ROW_WAITING || states[k] == CL_STORED_PENDING)
        continue;
      if (states[k] == CL_STORED_FOUND)
        worker_score (self, job, first + k, embeds + (gsize) k * dim);
      *state = states[k] == CL_STORED_ABSENT ? ROW_TO_ENCODE : ROW_DONE;
    }
  return TRUE;
}

/* One slice from a store: the store is asked about the window when its first row waits; rows it
 * does not hold are encoded here (one batch a slice); the rows handled from the window's start on
 * are posted. */
static gboolean
worker_run_classify_stored (ClModelWorker *self, Job *job)
{
  const guint first = job->next;

  if (first < job->n_images && job->row_state[first] == ROW_WAITING && !worker_read_stored (self, job))
    return TRUE;
  guint i = first;
  while (i < job->n_images && job->row_state[i] != ROW_WAITING)
    {
      if (job->row_state[i] == ROW_DONE)
        {
          i++;
          continue;
        }
      guint end = i, next;
      while (end < job->n_images && job->row_state[end] == ROW_TO_ENCODE)
        end++;
      gint64 embedded = job->result->n_embedded;
      if (!worker_classify_rows (self, job, i, end, &next))
        return TRUE;
      memset (job->row_state + i, ROW_DONE, next - i);
      i = next;
      if (i < end || job->result->n_embedded > embedded)
        break;
    }
  job->next = i;
  return worker_classify_slice_done (self, job, first);
}

/* One slice: up to CLASSIFY_BATCH images encoded (any number of cached ones), or one from a store.
 * TRUE when done. */
static gboolean
worker_run_classify (ClModelWorker *self, Job *job)
{
  if (!worker_require_model (self, job) || !worker_classify_begin (self, job))
    return TRUE;
  if (job->embed != NULL)
    return worker_run_classify_stored (self, job);

  const guint first = job->next;
  if (!worker_classify_rows (self, job, first, job->n_images, &job->next))
    return TRUE;
  return worker_classify_slice_done (self, job, first);
}

/* ---------------------------------------------------------------- RANK */

typedef struct {
  guint index;
  float score;
} Scored;

static int
scored_compare (gconstpointer a, gconstpointer b)
{
  const Scored *x = a, *y = b;

  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* One slice: the image, then up to TEXT_BATCH uncached texts; the ranking at the end. */
static gboolean
worker_run_rank (ClModelWorker *self, Job *job)
{
  GError *error = NULL;

  if (!worker_require_model (self, job))
    return TRUE;
  const int dim = worker_embed_dim (self);

  if (job->image_embed == NULL)
    {
      g_autofree char *key = image_cache_key (job->path, job->member, job->mtime);
      const float *cached = g_hash_table_lookup (self->image_embeds, key);
      if (cached != NULL)
        job->image_embed = g_memdup2 (cached, sizeof (float) * dim);
      else
        {
          const int size = clip_model_get_preprocess (self->model)->image_size;
          g_autofree float *pixels = g_new (float, (gsize) 3 * size * size);
          g_autofree float *embed = g_new (float, dim);
          if (!worker_preprocess_image (self, job->path, job->member, job->exif, pixels, &error))
            {
              g_autofree char *message = problem_for_file (job->path, job->member, error);
              g_clear_error (&error);
              g_task_return_new_error (job->task, CLIP_ERROR, CLIP_ERROR_IO, "%s", message);
              return TRUE;
            }
          if (!clip_model_encode_images (self->model, pixels, 1, embed, &self->model_callbacks, &error))
            {
              worker_return_error (job, error);
              return TRUE;
            }
          worker_cache_insert (self->image_embeds, g_steal_pointer (&key), embed, dim);
          job->image_embed = g_steal_pointer (&embed);
        }
      return FALSE;
    }

  /* Encode the next batch of texts that are not cached yet. */
  const char *batch[TEXT_BATCH];
  int n_batch = 0;
  for (; job->next < job->n_texts && n_batch < TEXT_BATCH; job->next++)
    {
      const char *text = job->texts[job->next];
      gboolean queued = FALSE;
      for (int k = 0; k < n_batch && !queued; k++)
        queued = strcmp (batch[k], text) == 0;
      if (!queued && !g_hash_table_contains (self->text_embeds, text))
        batch[n_batch++] = text;
    }
  if (n_batch > 0)
    {
      g_autofree float *embeds = g_new (float, (gsize) dim * n_batch);
      if (!clip_model_encode_texts (self->model, batch, n_batch, embeds, &self->model_callbacks, &error))
        {
          worker_return_error (job, error);
          return TRUE;
        }
      for (int k = 0; k < n_batch; k++)
        worker_cache_insert (self->text_embeds, g_strdup (batch[k]), embeds + (gsize) k * dim, dim);
    }
  if (job->next < job->n_texts)
    return FALSE;

  /* Every text is cached now (the cache restarts only beyond MAX_CACHED_EMBEDDINGS entries, more
   * than a request may hold). */
  g_autofree Scored *scored = g_new (Scored, MAX (job->n_texts, 1));
  for (guint t = 0; t < job->n_texts; t++)
    {
      const float *text = g_hash_table_lookup (self->text_embeds, job->texts[t]);
      float dot = 0;
      for (int d = 0; text != NULL && d < dim; d++)
        dot += job->image_embed[d] * text[d];
      scored[t] = (Scored) { t, text != NULL ? dot : -2.0f };
    }
  qsort (scored, job->n_texts, sizeof (Scored), scored_compare);

  ClRankResult *result = g_new0 (ClRankResult, 1);
  result->n = MIN (job->top_k, job->n_texts);
  result->indices = g_new (guint, MAX (result->n, 1));
  result->scores = g_new (float, MAX (result->n, 1));
  for (guint k = 0; k < result->n; k++)
    {
      result->indices[k] = scored[k].index;
      result->scores[k] = scored[k].score;
    }
  g_task_return_pointer (job->task, result, (GDestroyNotify) cl_rank_result_free);
  return TRUE;
}

/* ---------------------------------------------------------------- RUN */

static gboolean
worker_run_func (ClModelWorker *self, Job *job)
{
  GError *error = NULL;

  if (!job->func (self->model, self->model_serial, job->func_data, job->cancellable, &error))
    return FALSE;
  if (error != NULL)
    worker_return_error (job, error);
  else
    g_task_return_boolean (job->task, TRUE);
  return TRUE;
}

/* ---------------------------------------------------------------- the thread */

/* Runs one slice of JOB; TRUE when the job is finished (its task returned). */
static gboolean
worker_run_slice (ClModelWorker *self, Job *job)
{
  if (job->task != NULL && g_task_return_error_if_cancelled (job->task))
    return TRUE;

  switch (job->kind)
    {
    case JOB_SET_THREADS:
      clip_set_threads (job->n_threads);
      return TRUE;
    case JOB_LOAD:
      worker_run_load (self, job);
      return TRUE;
    case JOB_CLASSIFY:
      return worker_run_classify (self, job);
    case JOB_RANK:
      return worker_run_rank (self, job);
    case JOB_RUN:
      return worker_run_func (self, job);
    case JOB_QUIT:
    default:
      g_assert_not_reached ();
    }
}

static gpointer
worker_thread_main (gpointer data)
{
  ClModelWorker *self = data;

  cl_thread_lower_priority (10);
  for (;;)
    {
      Job *job = g_async_queue_pop (self->queue);
      if (job->kind == JOB_QUIT)
        {
          job_free (self, job);
          break;
        }
      self->current = job->cancellable;
      gboolean done = worker_run_slice (self, job);
      self->current = NULL;
      if (done)
        job_free (self, job);
      else
        job_push (self, job);
    }
  g_clear_pointer (&self->model, clip_model_free);
  return NULL;
}

/* ---------------------------------------------------------------- GObject */

static void
cl_model_worker_finalize (GObject *object)
{
  ClModelWorker *self = CL_MODEL_WORKER (object);

  cl_model_worker_shutdown (self);
  if (self->mailbox_source != NULL)
    {
      g_source_destroy (self->mailbox_source);
      g_source_unref (self->mailbox_source);
    }
  g_queue_clear_full (&self->mailbox, (GDestroyNotify) progress_post_free);
  g_mutex_clear (&self->mailbox_lock);
  g_async_queue_unref (self->queue);
  g_hash_table_unref (self->image_embeds);
  g_hash_table_unref (self->text_embeds);
  g_hash_table_unref (self->class_rows);
  g_main_context_unref (self->main_context);

  G_OBJECT_CLASS (cl_model_worker_parent_class)->finalize (object);
}

static void
cl_model_worker_class_init (ClModelWorkerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = cl_model_worker_finalize;
}

static void
cl_model_worker_init (ClModelWorker *self)
{
  self->queue = g_async_queue_new ();
  self->model_callbacks = (ClipCallbacks) { .abort = worker_abort_cb, .user_data = self };
  g_mutex_init (&self->mailbox_lock);
  g_queue_init (&self->mailbox);
  self->main_context = g_main_context_ref_thread_default ();
  self->image_embeds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->text_embeds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->class_rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->thread = g_thread_new ("cl-model-worker", worker_thread_main, self);
}

ClModelWorker *
cl_model_worker_new (void)
{
  return g_object_new (CL_TYPE_MODEL_WORKER, NULL);
}

void
cl_model_worker_shutdown (ClModelWorker *self)
{
  if (self->thread == NULL)
    return;

  /* Cancel what is queued so the thread reaches the quit command quickly; the running job stops
   * at its next abort poll. */
  g_async_queue_lock (self->queue);
  Job *job;
  GPtrArray *drained = g_ptr_array_new ();
  while ((job = g_async_queue_try_pop_unlocked (self->queue)) != NULL)
    g_ptr_array_add (drained, job);
  g_async_queue_unlock (self->queue);
  for (guint i = 0; i < drained->len; i++)
    {
      job = drained->pdata[i];
      if (job->task != NULL)
        g_task_return_new_error (job->task, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Cancelled"));
      job_free (self, job);
    }
  g_ptr_array_unref (drained);

  job_push (self, job_new (self, JOB_QUIT, G_MININT, NULL, NULL, NULL, NULL));
  g_thread_join (self->thread);
  self->thread = NULL;
}

void
cl_model_worker_set_threads (ClModelWorker *self, int n_threads)
{
  Job *job = job_new (self, JOB_SET_THREADS, CL_WORKER_PRIORITY_INTERACTIVE, NULL, NULL, NULL, NULL);

  job->n_threads = n_threads;
  job_push (self, job);
}

void
cl_model_worker_load_async (ClModelWorker *self, const char *path, const char *tokenizer,
                            const char *config, ClipPrecision precision, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = job_new (self, JOB_LOAD, CL_WORKER_PRIORITY_INTERACTIVE, cancellable, callback,
                      user_data, cl_model_worker_load_async);

  job->path = g_strdup (path);
  job->tokenizer = (tokenizer != NULL && *tokenizer != '\0') ? g_strdup (tokenizer) : NULL;
  job->config = (config != NULL && *config != '\0') ? g_strdup (config) : NULL;
  job->precision = precision;
  job_push (self, job);
}

ClModelInfo *
cl_model_worker_load_finish (ClModelWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static Job *
classify_job_new (ClModelWorker *self, const char *const *paths, const char *const *members, const gint64 *mtimes,
                  guint n_images, const char *const *classes, const char *const *templates, gboolean apply_exif,
                  int priority, ClClassifyProgressFunc progress, gpointer progress_data, GDestroyNotify progress_destroy,
                  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = job_new (self, JOB_CLASSIFY, priority, cancellable, callback, user_data,
                      cl_model_worker_classify_async);

  job->paths = g_new0 (char *, n_images + 1);
  job->members = g_new0 (char *, MAX (n_images, 1));
  for (guint i = 0; i < n_images; i++)
    {
      job->paths[i] = g_strdup (paths[i]);
      job->members[i] = members != NULL ? g_strdup (members[i]) : NULL;
    }
  job->mtimes = g_memdup2 (mtimes, sizeof (gint64) * MAX (n_images, 1));
  job->n_images = n_images;
  job->classes = g_strdupv ((char **) classes);
  job->templates = g_strdupv ((char **) templates);
  job->exif = apply_exif;
  if (progress != NULL)
    job->sink = cl_progress_sink_new (G_CALLBACK (progress), progress_data, progress_destroy, cancellable);
  else if (progress_destroy != NULL)
    progress_destroy (progress_data);
  return job;
}

void
cl_model_worker_classify_async (ClModelWorker *self,
                                const char *const *paths, const char *const *members, const gint64 *mtimes,
                                guint n_images,
                                const char *const *classes, const char *const *templates,
                                gboolean apply_exif, int priority,
                                ClClassifyProgressFunc progress, gpointer progress_data,
                                GDestroyNotify progress_destroy,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  job_push (self, classify_job_new (self, paths, members, mtimes, n_images, classes, templates, apply_exif, priority,
                                    progress, progress_data, progress_destroy, cancellable, callback, user_data));
}

void
cl_model_worker_classify_stored_async (ClModelWorker *self, const char *const *paths, const gint64 *mtimes,
                                       guint n_images, const char *const *classes, const char *const *templates,
                                       gboolean apply_exif, ClStoredEmbedFunc embed, gpointer embed_data,
                                       GDestroyNotify embed_destroy, ClClassifyProgressFunc progress,
                                       gpointer progress_data, GDestroyNotify progress_destroy,
                                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = classify_job_new (self, paths, NULL, mtimes, n_images, classes, templates, apply_exif,
                               CL_WORKER_PRIORITY_BACKGROUND, progress, progress_data, progress_destroy, cancellable,
                               callback, user_data);

  job->embed = embed;
  job->embed_data = embed_data;
  job->embed_destroy = embed_destroy;
  job->row_state = g_new0 (guint8, MAX (n_images, 1));
  job_push (self, job);
}

ClClassifyResult *
cl_model_worker_classify_finish (ClModelWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  /* The job's last progress reports come before its result. */
  mailbox_deliver (self, 0);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
cl_model_worker_rank_texts_async (ClModelWorker *self, const char *path, const char *member, gint64 mtime,
                                  gboolean apply_exif, const char *const *texts, guint n_texts,
                                  guint top_k, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = job_new (self, JOB_RANK, CL_WORKER_PRIORITY_INTERACTIVE, cancellable, callback,
                      user_data, cl_model_worker_rank_texts_async);

  job->path = g_strdup (path);
  job->member = g_strdup (member);
  job->mtime = mtime;
  job->exif = apply_exif;
  job->texts = g_new0 (char *, n_texts + 1);
  for (guint i = 0; i < n_texts; i++)
    job->texts[i] = g_strdup (texts[i]);
  job->n_texts = n_texts;
  job->top_k = top_k;
  job_push (self, job);
}

ClRankResult *
cl_model_worker_rank_texts_finish (ClModelWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
cl_model_worker_run_async (ClModelWorker *self, int priority, ClWorkerFunc func, gpointer data,
                           GDestroyNotify data_destroy, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = job_new (self, JOB_RUN, priority, cancellable, NULL, NULL, NULL);

  /* A task even without a callback: the slices report through it. */
  job->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (job->task, cl_model_worker_run_async);
  job->func = func;
  job->func_data = data;
  job->func_destroy = data_destroy;
  job_push (self, job);
}

gboolean
cl_model_worker_run_finish (ClModelWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
cl_model_worker_has_waiting (ClModelWorker *self)
{
  return g_async_queue_length (self->queue) > 0;
}
