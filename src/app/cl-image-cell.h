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
/* Right-clicking a cell offers the window's actions on its image: Find Similar Images, Open With…,
 * Show in Files, Copy (win.find-similar, win.open-with, win.show-in-files, win.copy-image).  A cell
 * dragged out of the grid carries its file (cl_image_cell_content_for_file). */
/* Shows ITEM (requests its thumbnail), or nothing (releases the previous one). */
void         cl_image_cell_set_item (ClImageCell *self, ClImageItem *item);
ClImageItem *cl_image_cell_get_item (ClImageCell *self);
/* FILE as the clipboard and drag and drop carry it: a GdkFileList, offered as text/uri-list too. */
GdkContentProvider *cl_image_cell_content_for_file (GFile *file);
/* Opens the context menu as the Menu key or Shift+F10 do (the grid sends them to its focused cell). */
void         cl_image_cell_popup_menu (ClImageCell *self);

G_END_DECLS
