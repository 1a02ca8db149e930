/* cl-thumbnailer.h — thumbnails decoded off the main thread, with the freedesktop cache.
 *
 * Grid cells call cl_thumbnailer_request () when they show an item and cl_thumbnailer_release ()
 * when they stop; a small GThreadPool decodes the newest requests first (what is on screen now)
 * and skips requests released before they started.  Thumbnails come from the shared freedesktop
 * cache ($XDG_CACHE_HOME/thumbnails/{normal,large}/MD5(uri).png) when a valid one exists
 * (Thumb::URI and Thumb::MTime match); otherwise the image is decoded at thumbnail size and the
 * result is written to that cache.  Textures are handed to the main thread and set on the item;
 * a byte budget bounds how many stay in memory (least recently shown are dropped first). */
#pragma once

#include <gtk/gtk.h>

#include "cl-image-item.h"

G_BEGIN_DECLS

#define CL_TYPE_THUMBNAILER (cl_thumbnailer_get_type ())
G_DECLARE_FINAL_TYPE (ClThumbnailer, cl_thumbnailer, CL, THUMBNAILER, GObject)

ClThumbnailer *cl_thumbnailer_new (void);

/* Displayed size in pixels (property "size"); thumbnails are decoded at 128 or 256. */
int      cl_thumbnailer_get_size (ClThumbnailer *self);
void     cl_thumbnailer_set_size (ClThumbnailer *self, int size);
gboolean cl_thumbnailer_get_apply_exif (ClThumbnailer *self);
void     cl_thumbnailer_set_apply_exif (ClThumbnailer *self, gboolean apply);

void cl_thumbnailer_request (ClThumbnailer *self, ClImageItem *item);
void cl_thumbnailer_release (ClThumbnailer *self, ClImageItem *item);
/* Forgets every texture and pending request (a new folder was opened). */
void cl_thumbnailer_clear (ClThumbnailer *self);

/* Property "budget-mb": the thumbnails' pixels kept in memory, in MiB (96); the least recently shown
 * that no cell shows are dropped beyond it.
 * Properties, read-only: "n-pending" (requests not finished yet), and where the finished ones came
 * from: "n-from-cache", "n-decoded", "n-failed". */

/* ---------------------------------------------------------------- previews */

typedef struct {
  GdkTexture *texture;
  int width;              /* of the image file, before scaling and orientation */
  int height;
  char *format;           /* e.g. "PNG" */
} ClImagePreview;

void cl_image_preview_free (ClImagePreview *preview);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClImagePreview, cl_image_preview_free)

/* Decodes FILE (or, when MEMBER is not NULL, that member of the WebDataset shard FILE, from the tar
 * stream) scaled to fit MAX_SIZE × MAX_SIZE, in a thread. */
void            cl_thumbnailer_load_preview_async (ClThumbnailer *self, GFile *file, const char *member,
                                                   int max_size,
                                                   GCancellable *cancellable,
                                                   GAsyncReadyCallback callback, gpointer user_data);
ClImagePreview *cl_thumbnailer_load_preview_finish (ClThumbnailer *self, GAsyncResult *result,
                                                    GError **error);

/* Loads FILE (or its MEMBER when FILE is a WebDataset shard) at MAX_SIZE into PICTURE, held weakly:
 * a picture gone before the result is simply not drawn. */
void            cl_thumbnailer_load_into_picture (ClThumbnailer *self, GFile *file, const char *member,
                                                  int max_size, GtkPicture *picture, GCancellable *cancellable);

/* A preview pane's picture: clears PICTURE and loads ITEM's preview into it (NULL only clears),
 * cancelling the load *CANCELLABLE tracks and tracking the new one there.  The picture is held
 * weakly: a pane gone before the result is simply not drawn. */
void            cl_thumbnailer_show_preview (ClThumbnailer *self, ClImageItem *item, int max_size,
                                             GtkPicture *picture, GCancellable **cancellable);

G_END_DECLS
