/* cl-collection.h — the open folder or CSV data set: its images as a GListModel of ClImageItem. */
#pragma once

#include <gio/gio.h>

#include "cl-image-item.h"

G_BEGIN_DECLS

typedef enum {
  CL_COLLECTION_FOLDER,
  CL_COLLECTION_DATASET,
} ClCollectionKind;

#define CL_TYPE_COLLECTION (cl_collection_get_type ())
G_DECLARE_FINAL_TYPE (ClCollection, cl_collection, CL, COLLECTION, GObject)

/* Reads FILE in a thread: a folder (its image files, sorted by name as file managers sort) or a CSV
 * data set (image_path,caption[,label]; see clip.h), whose relative paths are relative to IMAGE_ROOT
 * (NULL: the CSV's folder).  The kind follows from the file. */
void          cl_collection_load_async (GFile *file, GFile *image_root, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
ClCollection *cl_collection_load_finish (GAsyncResult *result, GError **error);

GFile            *cl_collection_get_file (ClCollection *self);
ClCollectionKind  cl_collection_get_kind (ClCollection *self);
const char       *cl_collection_get_title (ClCollection *self);   /* folder or file name */
GListModel       *cl_collection_get_items (ClCollection *self);   /* ClImageItem, index = position */
guint             cl_collection_get_n_items (ClCollection *self);
ClImageItem      *cl_collection_get_item (ClCollection *self, guint index);  /* borrowed */

/* Data sets: whether rows carry labels, and the distinct labels, sorted. */
gboolean            cl_collection_has_labels (ClCollection *self);
const char *const  *cl_collection_get_labels (ClCollection *self);

/* Problems found while reading that did not stop it (missing images), as a message for the user,
 * or NULL. */
const char *cl_collection_get_warning (ClCollection *self);

G_END_DECLS
