/* cl-image-grid.h — a scrolling GtkGridView of ClImageItems with single selection.
 *
 * The selection follows its item when the model changes (sorted, filtered, replaced), and items
 * that take another's place reuse its cell.  The Menu key and Shift+F10 open the context menu of
 * the focused item; the arrow keys move between items, Tab and Shift+Tab out of the grid. */
#pragma once

#include <gtk/gtk.h>

#include "cl-image-cell.h"

G_BEGIN_DECLS

#define CL_TYPE_IMAGE_GRID (cl_image_grid_get_type ())
G_DECLARE_FINAL_TYPE (ClImageGrid, cl_image_grid, CL, IMAGE_GRID, GtkWidget)

GtkWidget   *cl_image_grid_new (ClThumbnailer *thumbnailer, ClImageCellFlags flags);

/* MODEL holds ClImageItems (may be NULL). */
void         cl_image_grid_set_model (ClImageGrid *self, GListModel *model);
GListModel  *cl_image_grid_get_model (ClImageGrid *self);
/* The vertical scrolling of the grid (to follow how far the user has scrolled). */
GtkAdjustment *cl_image_grid_get_vadjustment (ClImageGrid *self);
/* Shows the first items (the selection stays where it is). */
void           cl_image_grid_scroll_to_start (ClImageGrid *self);

/* Property "selected-item". */
ClImageItem *cl_image_grid_get_selected_item (ClImageGrid *self);
/* Selects ITEM and scrolls to it; FALSE when the model does not hold it. */
gboolean     cl_image_grid_select_item (ClImageGrid *self, ClImageItem *item);

G_END_DECLS
