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

/* Actions (the buttons): "classify.classify-all" classifies every image of the folder,
 * "classify.stop" stops it (the results so far stay), "classify.export" is cl_classify_view_export ();
 * each is enabled only when it can run.
 *
 * Properties, read-only: "live-busy" (the probabilities of the selected image are being computed,
 * or wait for a typing pause or the model), "folder-busy" (whole-folder classification waits or
 * runs), "grid-pending" (the grid is being filtered or sorted, or scrolled to the top of a new
 * order), "shown-items" (the GListModel of
 * ClImageItems the grid shows, filtered and sorted), "metrics-summary" (the accuracy against a data
 * set's labels, "top1=… top5=… mean_per_class_recall=… n=… unknown=… unreadable=…", or
 * "no-matching-labels"; NULL without results), "progress" (of whole-folder classification, 0..1,
 * bound to its progress bar), and what the Save dialog of Export shows: "export-folder" (the GFile
 * it starts in: Documents or home), "export-title" (it says which rows are saved), "export-name"
 * (the file name proposed), "n-embedded" (images the last complete whole-folder classification
 * embedded anew: a folder's images come from its search index, so a second run embeds none).
 * Read-write, as their drop-downs: "template-preset" ("simple",
 * "openai7", "imagenet80", "custom"), "filter-class" (NULL: all), "sort-by-confidence"; as the
 * filter's popover: "min-confidence" and "max-confidence" (percent, 0 and 100: every image) and
 * "only-disagreeing" (only labelled images predicted as another class). */

/* Asks for a file name and saves the results of the images the grid shows (filtered, in its
 * order) as CSV. */
void cl_classify_view_export (ClClassifyView *self);
/* What choosing FILE in that dialog does: saves in the background, then a toast offers to open
 * the file or show it in the file manager. */
void cl_classify_view_export_to (ClClassifyView *self, GFile *file);
/* Whether whole-folder results for the current classes are complete (and can be exported). */
gboolean cl_classify_view_has_results (ClClassifyView *self);
/* How many images the filter's drop-down counts for CLASS_NAME (NULL: all images), as it shows
 * beside it. */
guint    cl_classify_view_get_class_count (ClClassifyView *self, const char *class_name);
gboolean cl_classify_view_export_to_file (ClClassifyView *self, GFile *file, GError **error);

G_END_DECLS
