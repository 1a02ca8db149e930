/* cl-confusion-matrix.h — a confusion matrix: rows are true labels, columns predictions. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CL_TYPE_CONFUSION_MATRIX (cl_confusion_matrix_get_type ())
G_DECLARE_FINAL_TYPE (ClConfusionMatrix, cl_confusion_matrix, CL, CONFUSION_MATRIX, GtkWidget)

GtkWidget *cl_confusion_matrix_new (void);

/* COUNTS [n × n], row = true class, column = predicted class. */
void cl_confusion_matrix_set (ClConfusionMatrix *self, const char *const *classes, const int *counts, guint n);

G_END_DECLS
