/* cl-collection.h — the open folder or data set: its images as a GListModel of ClImageItem. */
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

/* Reads FILE in a thread: a folder (its image files, sorted by name as file managers sort) or a data
 * set the library reads (a CSV, a folder of class folders, WebDataset shards, a COCO or Karpathy
 * JSON; one item per image, with its first caption; a shard's images stay inside it), whose relative image paths start from IMAGE_ROOT (NULL: where its
 * format puts them, e.g. the CSV's folder).  The kind follows from the file. */
void          cl_collection_load_async (GFile *file, GFile *image_root, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
ClCollection *cl_collection_load_finish (GAsyncResult *result, GError **error);

GFile            *cl_collection_get_file (ClCollection *self);
ClCollectionKind  cl_collection_get_kind (ClCollection *self);
const char       *cl_collection_get_title (ClCollection *self);   /* folder or file name */
GListModel       *cl_collection_get_items (ClCollection *self);   /* ClImageItem, index = position */
guint             cl_collection_get_n_items (ClCollection *self);
ClImageItem      *cl_collection_get_item (ClCollection *self, guint index);  /* borrowed */

/* Data sets: whether images carry labels, and the labels in the data set's order. */
gboolean            cl_collection_has_labels (ClCollection *self);
const char *const  *cl_collection_get_labels (ClCollection *self);
/* The data set's own zero-shot templates ("{}" or "{c}" for the class; WebDataset's
 * zeroshot_classification_templates.txt), or NULL. */
const char *const  *cl_collection_get_templates (ClCollection *self);

/* The folder the images are under: the opened folder, or a data set's image root (a CSV's folder,
 * ../NAME beside a COCO annotations folder); NULL when not local. */
const char *cl_collection_get_image_folder (ClCollection *self);

/* Problems found while reading that did not stop it (missing images), as a message for the user,
 * or NULL. */
const char *cl_collection_get_warning (ClCollection *self);

G_END_DECLS
