/* cl-classify-view.h — the Classify view: zero-shot classification with live probabilities for
 * the selected image while the user types, whole-folder results (filter, sort, CSV export) and,
 * for labelled data sets, accuracy and a confusion matrix. */
#pragma once

#include <gtk/gtk.h>

#include "cl-prob-bars.h"
#include "cl-session.h"

G_BEGIN_DECLS

#define CL_TYPE_CLASSIFY_VIEW (cl_classify_view_get_type ())
G_DECLARE_FINAL_TYPE (ClClassifyView, cl_classify_view, CL, CLASSIFY_VIEW, GtkWidget)

GtkWidget *cl_classify_view_new (ClSession *session);

/* Classifies every image of the folder (the "Classify All Images" button). */
void cl_classify_view_classify_all (ClClassifyView *self);
/* Stops it (the "Stop" button); the results so far stay. */
void cl_classify_view_cancel_all (ClClassifyView *self);
/* Asks for a file name and saves the whole-folder results as CSV. */
void cl_classify_view_export (ClClassifyView *self);
/* Whether whole-folder results for the current classes are complete (and can be exported). */
gboolean cl_classify_view_has_results (ClClassifyView *self);
gboolean cl_classify_view_export_to_file (ClClassifyView *self, GFile *file, GError **error);

/* For the self-test: the real input widgets and what is displayed. */
GtkTextBuffer *cl_classify_view_get_classes_buffer (ClClassifyView *self);
void           cl_classify_view_set_template_preset (ClClassifyView *self, const char *preset);
ClProbBars    *cl_classify_view_get_prob_bars (ClClassifyView *self);
gboolean       cl_classify_view_is_live_busy (ClClassifyView *self);
gboolean       cl_classify_view_is_folder_busy (ClClassifyView *self);
const char    *cl_classify_view_get_probs_hint (ClClassifyView *self);   /* NULL when bars are shown */
const char    *cl_classify_view_get_folder_summary (ClClassifyView *self);
const char    *cl_classify_view_get_metrics_summary (ClClassifyView *self);
void           cl_classify_view_select_position (ClClassifyView *self, guint position);
void           cl_classify_view_set_filter_class (ClClassifyView *self, const char *class_name);
void           cl_classify_view_set_sort_by_confidence (ClClassifyView *self, gboolean by_confidence);
GListModel    *cl_classify_view_get_grid_model (ClClassifyView *self);
gboolean       cl_classify_view_is_grid_pending (ClClassifyView *self);   /* filtering or sorting */
void           cl_classify_view_show_metrics (ClClassifyView *self, gboolean show);

G_END_DECLS
