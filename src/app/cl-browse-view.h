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

/* For the self-test. */
typedef struct {
  char *caption;
  float score;
  gboolean own;   /* the selected image's own caption */
} ClCaptionMatch;

gboolean   cl_browse_view_is_busy (ClBrowseView *self);   /* preview or caption ranking pending */
GPtrArray *cl_browse_view_get_caption_matches (ClBrowseView *self);  /* ClCaptionMatch *, new array */
void       cl_browse_view_select_position (ClBrowseView *self, guint position);
const char *cl_browse_view_get_page (ClBrowseView *self);  /* "empty", "loading", "no-images", "content" */
ClImageGrid *cl_browse_view_get_grid (ClBrowseView *self);

G_END_DECLS
