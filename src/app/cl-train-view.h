/* cl-train-view.h — the Train view: training and validation CSVs, a model size preset or a model
 * to fine-tune, the hyper-parameters (remembered in GSettings), Start / Pause / Resume / Stop,
 * continuing an earlier run, the live loss chart with images/s and ETA, saving the chart as PNG or
 * SVG, and "Use This Model" to switch the application to the result. */
#pragma once

#include <gtk/gtk.h>

#include "cl-loss-chart.h"
#include "cl-session.h"

G_BEGIN_DECLS

#define CL_TYPE_TRAIN_VIEW (cl_train_view_get_type ())
G_DECLARE_FINAL_TYPE (ClTrainView, cl_train_view, CL, TRAIN_VIEW, GtkWidget)

GtkWidget *cl_train_view_new (ClSession *session);

/* The buttons' actions. */
void cl_train_view_start (ClTrainView *self);
void cl_train_view_pause (ClTrainView *self);
void cl_train_view_resume (ClTrainView *self);
void cl_train_view_stop (ClTrainView *self);
/* Continues the run whose output folder is DIR. */
void cl_train_view_continue_run (ClTrainView *self, const char *dir);
/* Loads the trained model (or the newest checkpoint of a stopped run) as the application's model. */
void cl_train_view_use_model (ClTrainView *self);

/* For the self-test. */
const char  *cl_train_view_get_state (ClTrainView *self);   /* "idle", "preparing", "running", "pausing",
                                                             * "paused", "stopping", "finished", "stopped",
                                                             * "failed" */
gboolean     cl_train_view_is_busy (ClTrainView *self);     /* a request is on its way */
const char  *cl_train_view_get_out_dir (ClTrainView *self);
const char  *cl_train_view_get_model_path (ClTrainView *self);  /* what "Use This Model" loads, or NULL */
const char  *cl_train_view_get_message (ClTrainView *self);     /* the status line (errors included) */
ClLossChart *cl_train_view_get_chart (ClTrainView *self);

G_END_DECLS
