/* cl-train-follow.h — following a training run that another process writes (`mpirun … cliplab-cli
 * train` on this machine, or a run on a cluster whose folder is mounted): its JSON-lines log, read
 * as it grows, turned into the chart's points.  A GFileMonitor reports appends at once; a poll every
 * CL_TRAIN_FOLLOW_POLL_MS catches those a monitor does not see (network file systems), so a line
 * appended is shown within a second.  A log cut back (the run resumed from an older checkpoint) is
 * read again from its start. */
#pragma once

#include <json-glib/json-glib.h>

#include "cl-train-job.h"

G_BEGIN_DECLS

#define CL_TRAIN_FOLLOW_POLL_MS 250

/* Called on the main thread; any may be NULL. */
typedef struct {
  void (*reset) (gpointer user_data);   /* the log was cut back: the points follow again */
  void (*steps) (const ClTrainPoint *points, guint n, gpointer user_data);
  void (*validation) (const ClTrainEval *evals, guint n, gpointer user_data);
} ClTrainFollowCallbacks;

typedef struct _ClTrainFollow ClTrainFollow;

/* Follows PATH: a run's folder (its log.jsonl, the --log-json file its checkpoints name, or the one
 * *.jsonl file in it) or a log file (whose folder is taken as the run's).  What the log holds already is reported from the main loop. */
ClTrainFollow *cl_train_follow_new (const char *path, const ClTrainFollowCallbacks *callbacks, gpointer user_data,
                                    GError **error);
void           cl_train_follow_free (ClTrainFollow *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClTrainFollow, cl_train_follow_free)

const char *cl_train_follow_get_log_path (ClTrainFollow *self);
const char *cl_train_follow_get_run_dir (ClTrainFollow *self);
/* The run's model.safetensors once written, else its newest checkpoint; NULL when it has neither. */
char       *cl_train_follow_find_model (ClTrainFollow *self);

typedef enum { CL_TRAIN_LOG_OTHER, CL_TRAIN_LOG_STEP, CL_TRAIN_LOG_VALIDATION } ClTrainLogLine;

/* One line of a run's log (the library's --log-json format) into POINT or EVAL. */
ClTrainLogLine cl_train_log_parse_line (JsonParser *parser, const char *line, gssize length, ClTrainPoint *point,
                                        ClTrainEval *eval);

G_END_DECLS
