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

/* Actions (the buttons, enabled only when they can run): "train.start", "train.pause",
 * "train.resume", "train.stop", "train.choose-run" (asks for a run's folder to continue),
 * "train.continue-run" (s: continues the run whose output folder that is), "train.choose-follow" (asks
 * for the folder of a run that another process writes), "train.follow" (s: follows the run whose
 * folder or --log-json file that is: its chart grows as lines are appended), "train.use-model" (loads
 * the trained model, or the newest checkpoint of a stopped run, as the application's model) and
 * "train.save-chart" (s: "png" or "svg", asks where).
 *
 * Properties, read-only: "state" ("idle", "preparing", "running", "pausing", "paused", "stopping",
 * "finished", "stopped", "failed", "following"), "running" (a run is under way: the settings are locked),
 * "busy" (a request to the worker is on its way), "message" (the status line, errors included),
 * "out-dir" (the run's folder), "model-path" (what train.use-model loads, or NULL) and "progress"
 * (0..1, bound to its progress bar).  The chart
 * is the template's ClLossChart. */

G_END_DECLS
