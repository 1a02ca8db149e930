/* cl-model-worker.h — the one thread that owns the ClipModel.
 *
 * The UI sends commands (load, classify, rank texts); the worker runs them one at a time on its own
 * thread and posts results to the main loop as copied snapshots: GAsyncReadyCallbacks and progress
 * callbacks always run on the main thread.  Long jobs run in slices, so an interactive command
 * (priority CL_WORKER_PRIORITY_INTERACTIVE) queued behind a whole-folder job runs after the current
 * slice rather than after the whole job.  Cancelling a command's GCancellable stops it within one
 * image or one layer (the model's abort callback polls it) and suppresses its pending progress.
 *
 * The worker keeps caches of image embeddings (by path and mtime), text embeddings and zero-shot
 * classifier rows (by templates and class name), so retyping classes or re-running a data set is
 * cheap.  They are dropped when another model is loaded.  A folder's images are classified from its
 * search index instead (cl_model_worker_classify_stored_async), which keeps them across runs. */
#pragma once

#include <gio/gio.h>

#include "cl-model-info.h"

G_BEGIN_DECLS

#define CL_TYPE_MODEL_WORKER (cl_model_worker_get_type ())
G_DECLARE_FINAL_TYPE (ClModelWorker, cl_model_worker, CL, MODEL_WORKER, GObject)

enum {
  CL_WORKER_PRIORITY_INTERACTIVE = 0,  /* the user is waiting for it: the selected image */
  CL_WORKER_PRIORITY_BACKGROUND = 10,  /* whole folders and data sets */
};

ClModelWorker *cl_model_worker_new (void);
/* Cancels the queued commands, stops the thread and waits for it. */
void cl_model_worker_shutdown (ClModelWorker *self);

/* Compute threads for the library (0 = all cores); applied on the worker thread. */
void cl_model_worker_set_threads (ClModelWorker *self, int n_threads);

/* Loads a model (TOKENIZER and CONFIG may be NULL).  On failure the previous model stays loaded. */
/* PRECISION: of the model's products (ClipLoadOptions.precision). */
void         cl_model_worker_load_async (ClModelWorker *self, const char *path, const char *tokenizer,
                                         const char *config, ClipPrecision precision, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
ClModelInfo *cl_model_worker_load_finish (ClModelWorker *self, GAsyncResult *result, GError **error);

/* ---------------------------------------------------------------- zero-shot classification */

typedef struct {
  guint first;               /* rows FIRST .. FIRST + N - 1 of the request */
  guint n;
  guint n_classes;
  const float *probs;        /* [n × n_classes] */
  const gboolean *readable;  /* [n] */
} ClClassifyProgress;

/* Runs on the main thread, only while the command's cancellable is not cancelled.  Slices that
 * finish between two frames arrive together, in order, below redrawing priority; all of them have
 * arrived when cl_model_worker_classify_finish () returns. */
typedef void (*ClClassifyProgressFunc) (const ClClassifyProgress *progress, gpointer user_data);

typedef struct {
  guint n_images;
  guint n_classes;
  float *probs;              /* [n_images × n_classes]; rows of unreadable images are zero */
  gboolean *readable;        /* [n_images] */
  GPtrArray *problems;       /* char *: "<file>: <problem>" for each unreadable image */
  gint64 n_embedded;         /* images embedded anew for the request (not found in a cache or a store) */
} ClClassifyResult;

void cl_classify_result_free (ClClassifyResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClClassifyResult, cl_classify_result_free)

/* Probabilities of CLASSES (each expanded with TEMPLATES) for N_IMAGES images: the files PATHS, or
 * where MEMBERS (may be NULL) names one, that member of the WebDataset shard PATHS[i].  MTIMES key
 * the embedding cache.  PROGRESS (may be NULL) receives each slice; PROGRESS_DESTROY frees
 * PROGRESS_DATA on the main thread after the last call. */
void cl_model_worker_classify_async (ClModelWorker *self,
                                     const char *const *paths, const char *const *members,
                                     const gint64 *mtimes, guint n_images,
                                     const char *const *classes, const char *const *templates,
                                     gboolean apply_exif, int priority,
                                     ClClassifyProgressFunc progress, gpointer progress_data,
                                     GDestroyNotify progress_destroy,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
ClClassifyResult *cl_model_worker_classify_finish (ClModelWorker *self, GAsyncResult *result,
                                                   GError **error);

/* What a store of embeddings (a folder's search index) says of an image of a classification. */
typedef enum {
  CL_STORED_PENDING,         /* not stored yet: asked again in a later slice */
  CL_STORED_FOUND,           /* stored: its embedding was copied */
  CL_STORED_ABSENT,          /* the store does not hold it (a symbolic link, a file gone): the worker encodes it */
  CL_STORED_LEFT_OUT,        /* not held, and not to be encoded (a lookup of what is stored): left unscored,
                              * not readable, with no problem reported */
} ClStoredState;

#define CL_STORED_WINDOW 256  /* images a store is asked about at a time */

/* Runs on the worker thread, inside a slice: brings the store up to date for PATHS (N absolute
 * paths, at most CL_STORED_WINDOW) and copies their embeddings into EMBEDDINGS [n × embed_dim],
 * setting STATES [n]; adds the images it embedded anew to *N_EMBEDDED.  It may stop early for a
 * waiting command (rows left CL_STORED_PENDING) once it stored something.  FALSE with ERROR set on
 * failure. */
typedef gboolean (*ClStoredEmbedFunc) (ClipModel *model, guint model_serial, const char *const *paths, guint n,
                                       float *embeddings, ClStoredState *states, gint64 *n_embedded,
                                       gpointer data, GCancellable *cancellable, GError **error);

/* The same classification (at background priority) with the images' embeddings from a store:
 * EMBED, with EMBED_DATA (freed with EMBED_DESTROY, on any thread), is asked about CL_STORED_WINDOW
 * images a slice; what it does not hold is encoded here as cl_model_worker_classify_async does.
 * Finish with cl_model_worker_classify_finish. */
void cl_model_worker_classify_stored_async (ClModelWorker *self, const char *const *paths, const gint64 *mtimes,
                                            guint n_images, const char *const *classes,
                                            const char *const *templates, gboolean apply_exif,
                                            ClStoredEmbedFunc embed, gpointer embed_data,
                                            GDestroyNotify embed_destroy,
                                            ClClassifyProgressFunc progress, gpointer progress_data,
                                            GDestroyNotify progress_destroy,
                                            GCancellable *cancellable, GAsyncReadyCallback callback,
                                            gpointer user_data);

/* ---------------------------------------------------------------- image → text retrieval */

typedef struct {
  guint n;                   /* min (top_k, n_texts) */
  guint *indices;            /* into the request's texts, best first */
  float *scores;             /* cosine similarities */
} ClRankResult;

void cl_rank_result_free (ClRankResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClRankResult, cl_rank_result_free)

/* The TOP_K texts most similar to the image at PATH (or its MEMBER, when PATH is a WebDataset shard). */
void cl_model_worker_rank_texts_async (ClModelWorker *self, const char *path, const char *member, gint64 mtime,
                                       gboolean apply_exif, const char *const *texts, guint n_texts,
                                       guint top_k, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
ClRankResult *cl_model_worker_rank_texts_finish (ClModelWorker *self, GAsyncResult *result,
                                                 GError **error);

/* ---------------------------------------------------------------- commands of other views */

/* One slice of a command that another part of the application runs on the worker thread (the
 * search index, training).  MODEL is the loaded model (NULL when none); MODEL_SERIAL changes with
 * every model loaded, so a command can tell that what it built on an earlier model (an index that
 * borrows it) is stale.  The model's abort callback polls CANCELLABLE.  Return TRUE when finished
 * (with ERROR set on failure), FALSE to be called again once the commands waiting now have run. */
typedef gboolean (*ClWorkerFunc) (ClipModel *model, guint model_serial, gpointer data,
                                  GCancellable *cancellable, GError **error);

/* Runs FUNC slice by slice until it finishes; DATA_DESTROY (may be NULL) frees DATA afterwards. */
void     cl_model_worker_run_async (ClModelWorker *self, int priority, ClWorkerFunc func, gpointer data,
                                    GDestroyNotify data_destroy, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
gboolean cl_model_worker_run_finish (ClModelWorker *self, GAsyncResult *result, GError **error);
/* Inside a ClWorkerFunc: whether other commands are waiting, so a long one should end its slice. */
gboolean cl_model_worker_has_waiting (ClModelWorker *self);

G_END_DECLS
