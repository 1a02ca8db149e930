/* cl-image-item.h — one image of the open folder or data set, as the list models hold it. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CL_TYPE_IMAGE_ITEM (cl_image_item_get_type ())
G_DECLARE_FINAL_TYPE (ClImageItem, cl_image_item, CL, IMAGE_ITEM, GObject)

/* Created off the main thread by the collection loader; afterwards used on the main thread only. */
ClImageItem *cl_image_item_new (GFile *file, const char *display_name, const char *content_type,
                                gint64 size, gint64 mtime);

/* An image inside a WebDataset shard: FILE and PATH are the shard's, MEMBER the image's name in it
 * (NULL for an image file); decoders read it with clip_dataset_read_shard_member. */
void        cl_image_item_set_member (ClImageItem *self, const char *member);
const char *cl_image_item_get_member (ClImageItem *self);

GFile      *cl_image_item_get_file (ClImageItem *self);
const char *cl_image_item_get_path (ClImageItem *self);
const char *cl_image_item_get_uri (ClImageItem *self);
const char *cl_image_item_get_name (ClImageItem *self);
const char *cl_image_item_get_content_type (ClImageItem *self);
const char *cl_image_item_get_sort_key (ClImageItem *self);
gint64      cl_image_item_get_size (ClImageItem *self);   /* bytes, -1 when the file is missing */
gint64      cl_image_item_get_mtime (ClImageItem *self);  /* seconds since the epoch */
gboolean    cl_image_item_get_exists (ClImageItem *self);
/* Moved to the trash from the application: the views hide it (until Undo brings it back). */
gboolean    cl_image_item_get_trashed (ClImageItem *self);
void        cl_image_item_set_trashed (ClImageItem *self, gboolean trashed);

/* Position in the collection (stable while the collection is open). */
guint       cl_image_item_get_index (ClImageItem *self);
void        cl_image_item_set_index (ClImageItem *self, guint index);

/* Data sets: the caption, the label (NULL when none) and the CSV line. */
const char *cl_image_item_get_caption (ClImageItem *self);
const char *cl_image_item_get_label (ClImageItem *self);
guint       cl_image_item_get_line (ClImageItem *self);
void        cl_image_item_set_dataset_row (ClImageItem *self, const char *caption, const char *label,
                                           guint line);

/* The thumbnail, set by the thumbnailer (NULL until decoded or after eviction). */
GdkTexture *cl_image_item_get_thumbnail (ClImageItem *self);
void        cl_image_item_set_thumbnail (ClImageItem *self, GdkTexture *texture);
gboolean    cl_image_item_get_thumbnail_failed (ClImageItem *self);
void        cl_image_item_set_thumbnail_failed (ClImageItem *self, gboolean failed);

/* The top class of the last whole-folder classification and its probability (-1 when none). */
const char *cl_image_item_get_prediction (ClImageItem *self);
double      cl_image_item_get_confidence (ClImageItem *self);
void        cl_image_item_set_prediction (ClImageItem *self, const char *prediction, double confidence);

G_END_DECLS
