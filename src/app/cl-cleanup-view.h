/* cl-cleanup-view.h — the Clean Up view: two panels over the open folder (or a data set's image
 * folder), computed from the folder index's embeddings for the loaded model (the index is brought
 * up to date first; nothing is encoded twice):
 *
 *   Duplicates    groups of identical files and near-duplicates (cosine distance 0.01, or 0.05 for
 *                 "similar"), a GtkListView of groups, each group's images side by side with their
 *                 size, date and dimensions; "Keep This One" moves the others to the trash
 *                 (cl-trash.h), undoable from the window's toast.
 *   Label Issues  for data sets with labels (a CSV label column, or class folders): images whose
 *                 label the model and their neighbours disagree with, most confident first, then
 *                 outliers.  Accepting a suggestion writes a corrected copy of the CSV beside it
 *                 (NAME.corrected.csv; the original is never written), or for class folders moves
 *                 the file into the suggested class's folder (undoable); dismissing hides the row.
 *
 * Actions: "cleanup.find" (recomputes both panels; runs by itself when the view is shown with a new
 * folder or model), "cleanup.keep" (the path of the image to keep, "s"), "cleanup.accept" and
 * "cleanup.dismiss" (the path of an issue's image, "s"), "cleanup.save-corrected-as" (asks where
 * the corrected CSV goes; enabled for a labelled CSV).
 *
 * Properties: "threshold" (the largest cosine distance of a group: CLIP_DUPLICATE_DISTANCE or
 * CLIP_SIMILAR_DISTANCE, bound to the drop-down), "corrected-target" (where the corrected CSV goes,
 * NULL for NAME.corrected.csv; setting it writes the corrections accepted so far there), read-only
 * "busy", "groups" and "issues" (the GListModels of ClDuplicateGroup and ClLabelIssue shown),
 * "corrected-path" (the corrected CSV written, or NULL) and "status" (the sentence beside the
 * buttons).
 *
 * The view keeps its own ClSearchIndex of the folder: the index file on disk is shared with the
 * Search view's, so what one indexed the other reads, but two updates running at the same time
 * may each encode the same new images. */
#pragma once

#include <gtk/gtk.h>

#include "cl-session.h"

G_BEGIN_DECLS

#define CL_TYPE_CLEANUP_VIEW (cl_cleanup_view_get_type ())
G_DECLARE_FINAL_TYPE (ClCleanupView, cl_cleanup_view, CL, CLEANUP_VIEW, GtkWidget)

GtkWidget *cl_cleanup_view_new (ClSession *session);

G_END_DECLS
