/* cl-browse-view.h — the Browse view: thumbnail grid and a large preview with file details; for
 * data sets the caption, label and the best-matching captions of the whole data set. */
#pragma once

#include <gtk/gtk.h>

#include "cl-image-grid.h"
#include "cl-session.h"

G_BEGIN_DECLS

#define CL_TYPE_BROWSE_VIEW (cl_browse_view_get_type ())
G_DECLARE_FINAL_TYPE (ClBrowseView, cl_browse_view, CL, BROWSE_VIEW, GtkWidget)

GtkWidget *cl_browse_view_new (ClSession *session);

/* Property "busy" (read-only): the preview or the caption ranking of the selection is on its way.
 * The page shown is the visible child of the template's "stack" ("empty", "loading", "no-images",
 * "content"). */

/* The captions of the data set that best match the selected image, as the list shows them. */
typedef struct {
  char *caption;
  float score;
  gboolean own;   /* the selected image's own caption */
} ClCaptionMatch;

/* Shows only ITEMS (ClImageItem of the open collection) in the grid, WHAT saying which ("Images
 * selected on the map"); "browse.show-all" (the bar's Show All button) and opening another folder
 * show every image again. */
void cl_browse_view_show_items (ClBrowseView *self, GPtrArray *items, const char *what);

GPtrArray *cl_browse_view_get_caption_matches (ClBrowseView *self);  /* ClCaptionMatch *, new array */

G_END_DECLS
