/* cl-train-job.c — a ClipTrainRun as a model-worker command, with throttled reports. */
#include "cl-train-job.h"
#include "cl-train-follow.h"

#include <math.h>

#include <json-glib/json-glib.h>

struct _ClTrainJob {
  gatomicrefcount ref_count;
  ClModelWorker *worker;        /* not referenced: its shutdown finishes every command first */
  GMainContext *main_context;
  ClTrainJobCallbacks callbacks;
  gpointer user_data;           /* main thread only */
  GDestroyNotify user_data_destroy;

  ClipTrainRunConfig config;    /* immutable: for a new run */
  char *resume_dir;             /* or the run to continue */
  gint64 start_time;            /* monotonic µs of the job's creation */
  gint pause_requested;         /* atomic */
  gint stop_requested;          /* atomic */

  /* Worker thread only. */
  ClipTrainRun *run;
  gboolean started_posted;      /* for RUN: the schedule is known once its first step is done */
  GCancellable *cancellable;    /* of the running command */

  /* Reports on their way to the main thread. */
  GMutex lock;
  ClTrainStart *pending_start;
  GArray *pending_points;       /* ClTrainPoint */
  GArray *pending_evals;        /* ClTrainEval */
  GPtrArray *pending_notices;   /* char * */
  char *pending_what;           /* latest preparation progress */
  gint64 pending_done, pending_total;
  char *pending_checkpoint;     /* latest checkpoint */
  gint64 pending_checkpoint_step;
  gboolean flush_scheduled;
  gint64 last_flush;
};

static void
train_start_free (ClTrainStart *start)
{
  if (start == NULL)
    return;
  g_free (start->out_dir);
  clip_train_run_config_clear (&start->config);
  g_free (start);
}

static gboolean
destroy_user_data_cb (gpointer data)
{
  ClTrainJob *self = data;

  if (self->user_data_destroy != NULL)
    self->user_data_destroy (self->user_data);
  g_main_context_unref (self->main_context);
  g_free (self);
  return G_SOURCE_REMOVE;
}

ClTrainJob *
cl_train_job_new (ClModelWorker *worker, const ClipTrainRunConfig *config, const char *resume_dir,
                  const ClTrainJobCallbacks *callbacks, gpointer user_data, GDestroyNotify user_data_destroy)
{
  ClTrainJob *self = g_new0 (ClTrainJob, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->worker = worker;
  self->main_context = g_main_context_ref_thread_default ();
  self->callbacks = *callbacks;
  self->user_data = user_data;
  self->user_data_destroy = user_data_destroy;
  if (config != NULL)
    clip_train_run_config_copy (config, &self->config);
  else
    clip_train_run_config_init (&self->config);
  self->resume_dir = g_strdup (resume_dir);
  self->start_time = g_get_monotonic_time ();
  g_mutex_init (&self->lock);
  self->pending_points = g_array_new (FALSE, FALSE, sizeof (ClTrainPoint));
  self->pending_evals = g_array_new (FALSE, FALSE, sizeof (ClTrainEval));
  self->pending_notices = g_ptr_array_new_with_free_func (g_free);
  return self;
}

ClTrainJob *
cl_train_job_ref (ClTrainJob *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
cl_train_job_unref (ClTrainJob *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  /* No command runs the run any more: freeing it (memory and its folder's lock) is safe here. */
  g_clear_pointer (&self->run, clip_train_run_free);
  clip_train_run_config_clear (&self->config);
  g_free (self->resume_dir);
  g_mutex_clear (&self->lock);
  train_start_free (self->pending_start);
  g_array_unref (self->pending_points);
  g_array_unref (self->pending_evals);
  g_ptr_array_unref (self->pending_notices);
  g_free (self->pending_what);
  g_free (self->pending_checkpoint);
  /* The user data belongs to the main thread. */
  g_main_context_invoke (self->main_context, destroy_user_data_cb, self);
}

void
cl_train_job_request_pause (ClTrainJob *self)
{
  g_atomic_int_set (&self->pause_requested, TRUE);
}

void
cl_train_job_request_stop (ClTrainJob *self)
{
  g_atomic_int_set (&self->stop_requested, TRUE);
}

/* ---------------------------------------------------------------- reports to the main thread */

void
cl_train_job_flush (ClTrainJob *self)
{
  g_mutex_lock (&self->lock);
  ClTrainStart *start = g_steal_pointer (&self->pending_start);
  g_autoptr (GArray) points = self->pending_points;
  g_autoptr (GArray) evals = self->pending_evals;
  g_autoptr (GPtrArray) notices = self->pending_notices;
  g_autofree char *what = g_steal_pointer (&self->pending_what);
  gint64 done = self->pending_done, total = self->pending_total;
  g_autofree char *checkpoint = g_steal_pointer (&self->pending_checkpoint);
  gint64 checkpoint_step = self->pending_checkpoint_step;
  self->pending_points = g_array_new (FALSE, FALSE, sizeof (ClTrainPoint));
  self->pending_evals = g_array_new (FALSE, FALSE, sizeof (ClTrainEval));
  self->pending_notices = g_ptr_array_new_with_free_func (g_free);
  self->flush_scheduled = FALSE;
  self->last_flush = g_get_monotonic_time ();
  g_mutex_unlock (&self->lock);

  const ClTrainJobCallbacks *c = &self->callbacks;
  if (start != NULL && c->started != NULL)
    c->started (start, self->user_data);
  train_start_free (start);
  if (what != NULL && c->progress != NULL)
    c->progress (what, done, total, self->user_data);
  if (points->len > 0 && c->steps != NULL)
    c->steps ((const ClTrainPoint *) points->data, points->len, self->user_data);
  if (evals->len > 0 && c->validation != NULL)
    c->validation ((const ClTrainEval *) evals->data, evals->len, self->user_data);
  for (guint i = 0; c->notice != NULL && i < notices->len; i++)
    c->notice (notices->pdata[i], self->user_data);
  if (checkpoint != NULL && c->checkpoint != NULL)
    c->checkpoint (checkpoint, checkpoint_step, self->user_data);
}

static gboolean
flush_cb (gpointer data)
{
  cl_train_job_flush (data);
  return G_SOURCE_REMOVE;
}

/* Under the lock: a flush on the main thread, no sooner than CL_TRAIN_JOB_FLUSH_MS after the last. */
static void
schedule_flush_locked (ClTrainJob *self)
{
  if (self->flush_scheduled)
    return;
  self->flush_scheduled = TRUE;
  gint64 wait_us = self->last_flush + CL_TRAIN_JOB_FLUSH_MS * 1000 - g_get_monotonic_time ();
  GSource *source = g_timeout_source_new ((guint) (MAX (wait_us, 0) / 1000));
  g_source_set_callback (source, flush_cb, cl_train_job_ref (self), (GDestroyNotify) cl_train_job_unref);
  g_source_attach (source, self->main_context);
  g_source_unref (source);
}

/* ---------------------------------------------------------------- library callbacks (worker thread) */

static void
on_notice (const char *message, gpointer user_data)
{
  ClTrainJob *self = user_data;

  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->pending_notices, g_strdup (message));
  schedule_flush_locked (self);
  g_mutex_unlock (&self->lock);
}

static void
on_progress (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  ClTrainJob *self = user_data;

  g_mutex_lock (&self->lock);
  g_free (self->pending_what);
  self->pending_what = g_strdup (what);
  self->pending_done = done;
  self->pending_total = total;
  schedule_flush_locked (self);
  g_mutex_unlock (&self->lock);
}

static void
add_point_locked (ClTrainJob *self, const ClTrainPoint *point)
{
  g_array_append_val (self->pending_points, *point);
  schedule_flush_locked (self);
}

/* Under the lock: the run's schedule, known once it has decoded its data (at its first step). */
static void
post_start_locked (ClTrainJob *self, gint64 step)
{
  ClTrainStart *start = g_new0 (ClTrainStart, 1);

  start->step = step;
  start->total_steps = clip_train_run_get_total_steps (self->run);
  start->steps_per_epoch = clip_train_run_get_steps_per_epoch (self->run);
  start->n_train = clip_train_run_get_n_train (self->run);
  clip_train_run_config_copy (clip_train_run_get_config (self->run), &start->config);
  start->out_dir = g_strdup (start->config.out_dir);
  train_start_free (self->pending_start);
  self->pending_start = start;
  self->started_posted = TRUE;
  schedule_flush_locked (self);
}

static void
on_step (const ClipTrainStepReport *report, gpointer user_data)
{
  ClTrainJob *self = user_data;
  ClTrainPoint point = {
    .step = report->stats.step,
    .epoch = report->epoch,
    .loss = report->stats.loss,
    .lr = report->stats.lr,
    .grad_norm = report->stats.grad_norm,
    .logit_scale = report->stats.logit_scale,
    .images_per_s = report->images_per_s,
    .eta_s = report->eta_s,
    .time_s = (g_get_monotonic_time () - self->start_time) / (double) G_USEC_PER_SEC,
  };

  g_mutex_lock (&self->lock);
  if (!self->started_posted)
    post_start_locked (self, report->stats.step - 1);
  add_point_locked (self, &point);
  g_mutex_unlock (&self->lock);
}

static void
add_eval_locked (ClTrainJob *self, const ClTrainEval *eval)
{
  g_array_append_val (self->pending_evals, *eval);
  schedule_flush_locked (self);
}

static void
on_validation (const ClipTrainValidation *validation, gpointer user_data)
{
  ClTrainJob *self = user_data;
  ClTrainEval eval = {
    .step = validation->step,
    .epoch = validation->epoch,
    .has_zero_shot = validation->has_zero_shot,
    .zero_shot_top1 = validation->zero_shot_top1,
    .zero_shot_top5 = validation->zero_shot_top5,
  };

  for (int k = 0; k < 3; k++)
    {
      eval.image_to_text[k] = validation->retrieval.image_to_text[k];
      eval.text_to_image[k] = validation->retrieval.text_to_image[k];
    }
  g_mutex_lock (&self->lock);
  add_eval_locked (self, &eval);
  g_mutex_unlock (&self->lock);
}

static void
on_checkpoint (const char *path, int64_t step, gpointer user_data)
{
  ClTrainJob *self = user_data;

  g_mutex_lock (&self->lock);
  g_free (self->pending_checkpoint);
  self->pending_checkpoint = g_strdup (path);
  self->pending_checkpoint_step = step;
  schedule_flush_locked (self);
  g_mutex_unlock (&self->lock);
}

static gboolean
abort_cb (gpointer user_data)
{
  ClTrainJob *self = user_data;

  return g_atomic_int_get (&self->pause_requested) || g_atomic_int_get (&self->stop_requested)
         || (self->cancellable != NULL && g_cancellable_is_cancelled (self->cancellable));
}

/* ---------------------------------------------------------------- continuing a run: its history */

/* The steps and validations of the run's JSON-lines log (the library has cut it at the checkpoint
 * it continues from), so the chart shows the whole run.  A log that cannot be read only loses the
 * history. */
static void
post_log_history (ClTrainJob *self, const char *log_path)
{
  g_autofree char *text = NULL;

  if (log_path == NULL || !g_file_get_contents (log_path, &text, NULL, NULL))
    return;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_mutex_lock (&self->lock);
  for (char **line = lines; *line != NULL; line++)
    {
      ClTrainPoint point;
      ClTrainEval eval;
      switch (cl_train_log_parse_line (parser, *line, -1, &point, &eval))
        {
        case CL_TRAIN_LOG_STEP:
          add_point_locked (self, &point);
          break;
        case CL_TRAIN_LOG_VALIDATION:
          add_eval_locked (self, &eval);
          break;
        case CL_TRAIN_LOG_OTHER:
          break;
        }
    }
  g_mutex_unlock (&self->lock);
}

/* ---------------------------------------------------------------- the command */

typedef struct {
  ClTrainJob *job;
  ClTrainOutcome outcome;
} RunRequest;

static void
run_request_clear (RunRequest *r)
{
  cl_train_job_unref (r->job);
}

static void
run_request_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, (GDestroyNotify) run_request_clear);
}

static gboolean
run_create (ClTrainJob *self, GError **error)
{
  const ClipTrainEvents events = { { on_progress, abort_cb, self }, on_notice, on_step, on_validation, on_checkpoint };

  self->run = self->resume_dir != NULL ? clip_train_run_resume (self->resume_dir, &events, error)
                                       : clip_train_run_new (&self->config, &events, error);
  if (self->run == NULL)
    return FALSE;
  if (self->resume_dir != NULL)
    post_log_history (self, clip_train_run_get_config (self->run)->log_json_path);
  return TRUE;
}

static gboolean
run_slice (ClipModel *model, guint serial, gpointer data, GCancellable *cancellable, GError **error)
{
  RunRequest *r = data;
  ClTrainJob *self = r->job;
  GError *local_error = NULL;

  r->outcome = CL_TRAIN_OUTCOME_STOPPED;
  if (g_atomic_int_get (&self->stop_requested))
    {
      /* Stopped while paused (its checkpoint is saved), or before it began. */
      g_clear_pointer (&self->run, clip_train_run_free);
      return TRUE;
    }
  if (self->run == NULL && !run_create (self, error))
    return TRUE;

  self->cancellable = cancellable;
  gboolean ok = clip_train_run_run (self->run, &local_error);
  self->cancellable = NULL;
  if (ok)
    {
      r->outcome = CL_TRAIN_OUTCOME_FINISHED;
      g_clear_pointer (&self->run, clip_train_run_free);
      return TRUE;
    }
  gboolean aborted = g_error_matches (local_error, CLIP_ERROR, CLIP_ERROR_ABORTED);
  if (aborted && g_atomic_int_get (&self->pause_requested) && !g_atomic_int_get (&self->stop_requested)
      && !g_cancellable_is_cancelled (cancellable))
    {
      g_clear_error (&local_error);
      r->outcome = CL_TRAIN_OUTCOME_PAUSED;
      return TRUE;
    }
  /* Stopped, cancelled or failed: the run is over (a stop saved its checkpoint). */
  g_clear_pointer (&self->run, clip_train_run_free);
  if (aborted && !g_cancellable_is_cancelled (cancellable))
    {
      g_clear_error (&local_error);
      return TRUE;
    }
  g_propagate_error (error, local_error);
  return TRUE;
}

static void
run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  if (!cl_model_worker_run_finish (CL_MODEL_WORKER (source), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  RunRequest *r = g_task_get_task_data (task);
  g_task_return_int (task, r->outcome);
}

void
cl_train_job_run_async (ClTrainJob *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  RunRequest *r = g_atomic_rc_box_new0 (RunRequest);

  g_task_set_source_tag (task, cl_train_job_run_async);
  r->job = cl_train_job_ref (self);
  g_atomic_int_set (&self->pause_requested, FALSE);
  g_task_set_task_data (task, g_atomic_rc_box_acquire (r), run_request_release);
  cl_model_worker_run_async (self->worker, CL_WORKER_PRIORITY_BACKGROUND, run_slice, r, run_request_release,
                             cancellable, run_done, task);
}

gboolean
cl_train_job_run_finish (ClTrainJob *self, GAsyncResult *result, ClTrainOutcome *outcome, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  GError *local_error = NULL;
  gssize value = g_task_propagate_int (G_TASK (result), &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  *outcome = (ClTrainOutcome) value;
  return TRUE;
}
