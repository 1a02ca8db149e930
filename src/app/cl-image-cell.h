/* cl-image-cell.h — one grid cell: thumbnail, name, and optionally caption or prediction badge. */
#pragma once

#include <gtk/gtk.h>

#include "cl-image-item.h"
#include "cl-thumbnailer.h"

G_BEGIN_DECLS

typedef enum {
  CL_IMAGE_CELL_PLAIN = 0,
  CL_IMAGE_CELL_CAPTION = 1 << 0,     /* data set caption under the name, label as the badge */
  CL_IMAGE_CELL_PREDICTION = 1 << 1,  /* top class and confidence as the badge */
  CL_IMAGE_CELL_SCORE = 1 << 2,       /* the prediction text alone as the badge (search scores) */
} ClImageCellFlags;

#define CL_TYPE_IMAGE_CELL (cl_image_cell_get_type ())
G_DECLARE_FINAL_TYPE (ClImageCell, cl_image_cell, CL, IMAGE_CELL, GtkWidget)

GtkWidget *cl_image_cell_new (ClThumbnailer *thumbnailer, ClImageCellFlags flags);
/* A cell dragged out of the grid by its thumbnail carries its file, or the grid's selection when
 * it is selected (cl_image_grid_get_files_for). */
/* Shows ITEM (requests its thumbnail), or nothing (releases the previous one). */
void         cl_image_cell_set_item (ClImageCell *self, ClImageItem *item);
ClImageItem *cl_image_cell_get_item (ClImageCell *self);
/* FILES (GFile) as the clipboard and drag and drop carry them: a GdkFileList, offered as
 * text/uri-list too. */
GdkContentProvider *cl_image_cell_content_for_files (GPtrArray *files);

G_END_DECLS
