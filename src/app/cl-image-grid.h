/* cl-image-grid.h — a scrolling GtkGridView of ClImageItems with multiple selection.
 *
 * Click, Shift+click, Ctrl+click, the rubber band (dragged from an image's name or margins) and
 * Ctrl+A select; the current item ("selected-item", the one the preview shows) is the focused one
 * of the selection.  The selection follows its items when the model changes (sorted, filtered,
 * replaced), and items that take another's place reuse its cell.  A right click, a long press, the
 * Menu key or Shift+F10 open the context menu: Find Similar Images (the image clicked), then Open
 * With…, Show in Files, Copy and Move to Trash on every selected image (the grid's actions
 * grid.open-with, grid.show-in-files, grid.copy, grid.trash; Delete moves to the trash too).  The
 * arrow keys move between items, Tab and Shift+Tab out of the grid. */
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

/* Property "selected-item": the current item of the selection, NULL when nothing is selected. */
ClImageItem *cl_image_grid_get_selected_item (ClImageGrid *self);
/* Selects ITEM alone and scrolls to it (when ITEM is the current item already, the selection
 * stays); FALSE when the model does not hold it. */
gboolean     cl_image_grid_select_item (ClImageGrid *self, ClImageItem *item);
/* The selected items (new references), in the grid's order.  Signal "selection-changed" tells
 * when they change. */
GPtrArray   *cl_image_grid_get_selected_items (ClImageGrid *self);
/* What an action on ITEM acts on (GFile, new references): every selected image when ITEM is one
 * of them, else ITEM alone. */
GPtrArray   *cl_image_grid_get_files_for (ClImageGrid *self, ClImageItem *item);

G_END_DECLS
