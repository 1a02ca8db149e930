/* cl-prob-bars.h — class probabilities drawn as labelled bars with percentages, best first. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CL_TYPE_PROB_BARS (cl_prob_bars_get_type ())
G_DECLARE_FINAL_TYPE (ClProbBars, cl_prob_bars, CL, PROB_BARS, GtkWidget)

#define CL_PROB_BARS_MAX_ROWS 12   /* the rest is summed up in one line */

GtkWidget *cl_prob_bars_new (void);

/* Shows N LABELS with their VALUES (probabilities 0..1), sorted best first. */
void cl_prob_bars_set_values (ClProbBars *self, const char *const *labels, const float *values, guint n);
void cl_prob_bars_clear (ClProbBars *self);
/* A label marked as the true one (data sets), or NULL. */
void cl_prob_bars_set_marked_label (ClProbBars *self, const char *label);

/* What is shown, in display order: for tests and accessibility. */
guint       cl_prob_bars_get_n_rows (ClProbBars *self);
const char *cl_prob_bars_get_row_label (ClProbBars *self, guint row);
float       cl_prob_bars_get_row_value (ClProbBars *self, guint row);
char       *cl_prob_bars_format_value (float value);   /* "71.2 %" as drawn */

G_END_DECLS
