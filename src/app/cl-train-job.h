/* cl-train-job.h — one training run (ClipTrainRun) driven from the GUI.
 *
 * The run executes as a model-worker command (cl_model_worker_run_async), so the worker's thread
 * is the only one issuing BLAS calls: classification and search commands wait while it trains and
 * run when it is paused or done.  (Training saturates the cores anyway; running both at once would
 * only split OpenBLAS's one pool between them.)  Pausing and stopping are requests that the run's
 * abort callback sees within one step; either way the library saves a checkpoint first.
 *
 * The library reports steps, validations and notices on the worker thread; they are copied into
 * pending arrays and handed to the main thread at most every CL_TRAIN_JOB_FLUSH_MS, so a fast run
 * never floods the main loop. */
#pragma once

#include <gio/gio.h>

#include "cl-model-worker.h"

G_BEGIN_DECLS

#define CL_TRAIN_JOB_FLUSH_MS 50   /* at most 20 updates per second */

typedef struct {
  gint64 step;               /* from 1 */
  gint64 epoch;              /* from 1 */
  double loss;
  double lr;
  double grad_norm;
  double logit_scale;
  double images_per_s;
  double eta_s;
  double time_s;             /* since Start in this session; NaN for steps read from an earlier log */
} ClTrainPoint;

typedef struct {
  gint64 step;
  gint64 epoch;
  double image_to_text[3];   /* Recall@1, @5, @10 */
  double text_to_image[3];
  gboolean has_zero_shot;
  double zero_shot_top1;
  double zero_shot_top5;
} ClTrainEval;

/* The run's schedule, known once it has decoded its data: with its first step. */
typedef struct {
  gint64 step;               /* where the run (re)starts */
  gint64 total_steps;
  gint64 steps_per_epoch;
  int n_train;
  char *out_dir;
  ClipTrainRunConfig config; /* as resolved by the library */
} ClTrainStart;

/* Called on the main thread; any may be NULL. */
typedef struct {
  void (*started) (const ClTrainStart *start, gpointer user_data);
  void (*progress) (const char *what, gint64 done, gint64 total, gpointer user_data);
  void (*steps) (const ClTrainPoint *points, guint n, gpointer user_data);
  void (*validation) (const ClTrainEval *evals, guint n, gpointer user_data);
  void (*notice) (const char *message, gpointer user_data);
  void (*checkpoint) (const char *path, gint64 step, gpointer user_data);
} ClTrainJobCallbacks;

typedef enum {
  CL_TRAIN_OUTCOME_FINISHED,  /* model.safetensors is written */
  CL_TRAIN_OUTCOME_PAUSED,    /* checkpoint saved; cl_train_job_run_async continues */
  CL_TRAIN_OUTCOME_STOPPED,   /* checkpoint saved; the run is closed */
} ClTrainOutcome;

typedef struct _ClTrainJob ClTrainJob;

/* A new run with CONFIG (copied), or the continuation of the run in RESUME_DIR (CONFIG NULL).
 * USER_DATA_DESTROY runs on the main thread when the job goes. */
ClTrainJob *cl_train_job_new (ClModelWorker *worker, const ClipTrainRunConfig *config, const char *resume_dir,
                              const ClTrainJobCallbacks *callbacks, gpointer user_data,
                              GDestroyNotify user_data_destroy);
ClTrainJob *cl_train_job_ref (ClTrainJob *self);
void        cl_train_job_unref (ClTrainJob *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClTrainJob, cl_train_job_unref)

/* Creates the run on first call (loading the CSVs, decoding the images), then trains until the run
 * ends or a pause or stop is requested; after a pause, calling it again continues.  Cancelling
 * CANCELLABLE stops like cl_train_job_request_stop. */
void     cl_train_job_run_async (ClTrainJob *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean cl_train_job_run_finish (ClTrainJob *self, GAsyncResult *result, ClTrainOutcome *outcome,
                                  GError **error);

/* Thread-safe requests, seen by the running step.  A stop while paused takes effect with the next
 * cl_train_job_run_async, which then only closes the run. */
void cl_train_job_request_pause (ClTrainJob *self);
void cl_train_job_request_stop (ClTrainJob *self);

/* Delivers what is pending now (the run's last steps before it reports its outcome). */
void cl_train_job_flush (ClTrainJob *self);

G_END_DECLS
