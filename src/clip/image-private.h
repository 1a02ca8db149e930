/* image-private.h — internal: wrapping a decoded GdkPixbuf as a ClipImage for decoders other than
 * clip_image_load (the index decodes photos itself, at a reduced size). */
#pragma once

#include "clip.h"

#include <gdk-pixbuf/gdk-pixbuf.h>

/* Packs PIXBUF's rows to 8-bit RGB in place (alpha dropped) and keeps a reference to it; refuses
 * layouts other than 8-bit RGB(A) and sizes over CLIP_MAX_IMAGE_PIXELS.  Errors name PATH. */
ClipImage *clip_image_new_from_pixbuf (const char *path, GdkPixbuf *pixbuf, GError **error);

/* The memory of images being decoded, bounded across all threads (the decode threads of a data set
 * and of the index, the app's): a decoder takes about 4 bytes a pixel before it starts and gives
 * them back once done.  A decode waits while others hold CLIP_DECODE_MEMORY_BYTES; one alone
 * always proceeds, a thread that already holds some never waits (it cannot block itself), and no
 * wait lasts more than a minute (an image kept for long elsewhere cannot stop decoding). */
#define CLIP_DECODE_MEMORY_BYTES ((int64_t) 1 << 30)
void clip_decode_memory_take (int64_t bytes);
void clip_decode_memory_give_back (int64_t bytes);

/* Decodes LEN bytes of an encoded image (any format gdk-pixbuf reads) from memory; errors name NAME.
 * The declared size is checked against CLIP_MAX_IMAGE_PIXELS before the pixels are allocated. */
ClipImage *clip_image_load_bytes (const char *name, const void *data, size_t len,
                                  gboolean apply_exif_orientation, GError **error);
