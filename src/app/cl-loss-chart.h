/* cl-loss-chart.h — the live training chart, drawn with Cairo.
 *
 * Top panel: the raw loss (faint) and its smoothed curve (TensorBoard's EMA), on a linear or
 * logarithmic axis, with the learning rate on a right-hand axis; bottom panel: validation Recall@1
 * and @5 both ways and zero-shot accuracy per epoch, in percent.  Hovering shows a crosshair and
 * the step, loss, smoothed loss, learning rate and time of the nearest step.
 *
 * Data, axes and drawing are apart: points are stored as they come; a layout pass (cl-chart-math)
 * fits the axes, picks ticks and turns the series into decimated pixel arrays, once per change and
 * size; the drawing only strokes those arrays.  The same layout and drawing code renders the screen
 * and the PNG or SVG files of cl_loss_chart_save (). */
#pragma once

#include <gtk/gtk.h>

#include "cl-train-job.h"

G_BEGIN_DECLS

#define CL_TYPE_LOSS_CHART (cl_loss_chart_get_type ())
G_DECLARE_FINAL_TYPE (ClLossChart, cl_loss_chart, CL, LOSS_CHART, GtkWidget)

GtkWidget *cl_loss_chart_new (void);

/* Forgets every point: a new run. */
void cl_loss_chart_clear (ClLossChart *self);
/* The x axis spans 0 .. TOTAL_STEPS; epoch boundaries are marked every STEPS_PER_EPOCH steps. */
void cl_loss_chart_set_schedule (ClLossChart *self, gint64 total_steps, gint64 steps_per_epoch);
/* Whether to keep room for the validation panel before its first point arrives. */
void cl_loss_chart_set_expect_validation (ClLossChart *self, gboolean expect);
/* POINTS in step order, after those already shown (earlier steps are dropped: a run continued from
 * an older checkpoint replaces what came after it). */
void cl_loss_chart_add_points (ClLossChart *self, const ClTrainPoint *points, guint n);
void cl_loss_chart_add_evals (ClLossChart *self, const ClTrainEval *evals, guint n);

/* Properties "smoothing" (0 ..< 1, default 0.6), "log-scale" and "show-learning-rate". */
void     cl_loss_chart_set_smoothing (ClLossChart *self, double smoothing);
double   cl_loss_chart_get_smoothing (ClLossChart *self);
void     cl_loss_chart_set_log_scale (ClLossChart *self, gboolean log_scale);
gboolean cl_loss_chart_get_log_scale (ClLossChart *self);
void     cl_loss_chart_set_show_learning_rate (ClLossChart *self, gboolean show);
gboolean cl_loss_chart_get_show_learning_rate (ClLossChart *self);

guint              cl_loss_chart_get_n_points (ClLossChart *self);
const ClTrainPoint *cl_loss_chart_get_point (ClLossChart *self, guint index);
double             cl_loss_chart_get_smoothed (ClLossChart *self, guint index);
guint              cl_loss_chart_get_n_evals (ClLossChart *self);
const ClTrainEval  *cl_loss_chart_get_eval (ClLossChart *self, guint index);

/* Hovers the step nearest to STEP, as the pointer would (-1: none); the hover text, NULL when none. */
void        cl_loss_chart_hover_step (ClLossChart *self, double step);
char       *cl_loss_chart_get_hover_text (ClLossChart *self);

/* Writes the chart, WIDTH × HEIGHT at SCALE, as PNG or SVG (by PATH's extension), on white. */
gboolean cl_loss_chart_save (ClLossChart *self, const char *path, int width, int height, double scale,
                             GError **error);

G_END_DECLS
