/* image.c — decoding any image gdk-pixbuf reads into packed 8-bit RGB, and the public preprocessing
 * entry points (the arithmetic lives in image-resample.c).
 *
 * Decoding follows Hugging Face's convert("RGB") first: alpha is dropped, not blended (the golden
 * rgba_333x222.decoded_rgb keeps the colour of transparent pixels); grey and palettes are expanded
 * by gdk-pixbuf's loaders.  The size is read from the header and checked against
 * CLIP_MAX_IMAGE_PIXELS before any pixel memory is allocated. */
#include "clip.h"
#include "image-private.h"
#include "image-resample.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

void
clip_preprocess_init_default (ClipPreprocess *pre)
{
  g_return_if_fail (pre != NULL);
  /* OpenAI CLIP (and HF CLIPImageProcessor) statistics. */
  *pre = (ClipPreprocess) {
    .image_size = 224,
    .mean = { 0.48145466f, 0.4578275f, 0.40821073f },
    .std = { 0.26862954f, 0.26130258f, 0.27577711f },
  };
}

/* A decoded image keeps gdk-pixbuf's buffer (repacked in place) instead of copying it: for a
 * 12-megapixel photo that saves a 36 MB allocation and copy per image. */
typedef struct {
  ClipImage  image;
  GdkPixbuf *pixbuf;  /* owns image.pixels, or NULL when image.pixels is ours */
} ClipImageReal;

ClipImage *
clip_image_new (int width, int height)
{
  g_return_val_if_fail (width > 0 && height > 0, NULL);
  ClipImageReal *real = g_new0 (ClipImageReal, 1);
  real->image.width = width;
  real->image.height = height;
  real->image.pixels = g_malloc0_n ((gsize) height, (gsize) width * 3);
  return &real->image;
}

void
clip_image_free (ClipImage *image)
{
  if (image == NULL)
    return;
  ClipImageReal *real = (ClipImageReal *) image;
  if (real->pixbuf != NULL)
    g_object_unref (real->pixbuf);
  else
    g_free (image->pixels);
  g_free (real);
}

static gboolean
check_pixel_limit (const char *path, int width, int height, GError **error)
{
  if (width <= 0 || height <= 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: image declares an empty size %d×%d",
                   path, width, height);
      return FALSE;
    }
  gint64 pixels = (gint64) width * height;
  if (pixels > CLIP_MAX_IMAGE_PIXELS)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT,
                   "%s: image is %d×%d (%" G_GINT64_FORMAT " pixels), more than the limit of %d pixels",
                   path, width, height, pixels, CLIP_MAX_IMAGE_PIXELS);
      return FALSE;
    }
  return TRUE;
}

static gboolean
loader_handles_mime_type (const char *mime)
{
  gboolean found = FALSE;
  GSList *formats = gdk_pixbuf_get_formats ();
  for (GSList *l = formats; l != NULL && !found; l = l->next)
    {
      g_auto (GStrv) types = gdk_pixbuf_format_get_mime_types (l->data);
      found = types != NULL && g_strv_contains ((const char *const *) types, mime);
    }
  g_slist_free (formats);
  return found;
}

/* gdk-pixbuf recognised no header: explain what the file seems to be instead. */
static void
set_unrecognised_error (const char *path, GError **error)
{
  guchar head[4096];
  FILE *file = g_fopen (path, "rb");
  if (file == NULL)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", path, g_strerror (saved));
      return;
    }
  size_t n = fread (head, 1, sizeof head, file);
  fclose (file);

  g_autofree char *type = g_content_type_guess (NULL, head, n, NULL);
  g_autofree char *mime = g_content_type_get_mime_type (type);
  const char *what = mime != NULL ? mime : type;
  if (!g_str_has_prefix (what, "image/"))
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: not an image (the content looks like %s)",
                 path, what);
  else if (!loader_handles_mime_type (what))
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                 "%s: %s images cannot be read: no gdk-pixbuf loader for them is installed", path, what);
  else
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: damaged %s header", path, what);
}

/* Checks the file and its declared size, so that nothing large is allocated for a hostile header. */
static gboolean
probe_image (const char *path, GError **error)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", path, g_strerror (saved));
      return FALSE;
    }
  /* A FIFO or device would block or never end. */
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: not a regular file", path);
      return FALSE;
    }
  if (st.st_size == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: empty file, not an image", path);
      return FALSE;
    }

  int width = 0, height = 0;
  if (gdk_pixbuf_get_file_info (path, &width, &height) == NULL)
    {
      set_unrecognised_error (path, error);
      return FALSE;
    }
  return check_pixel_limit (path, width, height, error);
}

ClipImage *
clip_image_new_from_pixbuf (const char *path, GdkPixbuf *pixbuf, GError **error)
{
  int width = gdk_pixbuf_get_width (pixbuf);
  int height = gdk_pixbuf_get_height (pixbuf);
  int channels = gdk_pixbuf_get_n_channels (pixbuf);
  if (gdk_pixbuf_get_colorspace (pixbuf) != GDK_COLORSPACE_RGB
      || gdk_pixbuf_get_bits_per_sample (pixbuf) != 8 || (channels != 3 && channels != 4))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED,
                   "%s: decoded to an unsupported pixel layout (%d channels, %d bits)", path, channels,
                   gdk_pixbuf_get_bits_per_sample (pixbuf));
      return NULL;
    }
  /* The file may have changed since it was probed. */
  if (!check_pixel_limit (path, width, height, error))
    return NULL;

  /* Repack rows to 3 bytes per pixel inside the pixbuf's own buffer: every byte moves to an
   * address at or before its source, so a forward pass never overwrites unread data. */
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  size_t stride = (size_t) gdk_pixbuf_get_rowstride (pixbuf);
  size_t packed = (size_t) width * 3;
  if (channels == 3)
    {
      if (stride != packed)
        for (int y = 1; y < height; y++)
          memmove (pixels + (size_t) y * packed, pixels + (size_t) y * stride, packed);
    }
  else
    for (int y = 0; y < height; y++)
      {
        const guint8 *in = pixels + (size_t) y * stride;
        guint8 *out = pixels + (size_t) y * packed;
        for (int x = 0; x < width; x++)
          memmove (out + 3 * x, in + 4 * x, 3);  /* alpha dropped, not blended */
      }

  ClipImageReal *real = g_new0 (ClipImageReal, 1);
  real->image.width = width;
  real->image.height = height;
  real->image.pixels = pixels;
  real->pixbuf = g_object_ref (pixbuf);
  return &real->image;
}

ClipImage *
clip_image_load (const char *path, gboolean apply_exif_orientation, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!probe_image (path, error))
    return NULL;

  GError *local = NULL;
  /* For animations this is the first frame. */
  g_autoptr (GdkPixbuf) decoded = gdk_pixbuf_new_from_file (path, &local);
  if (decoded == NULL)
    {
      int code = local->domain == G_FILE_ERROR ? CLIP_ERROR_IO : CLIP_ERROR_FORMAT;
      g_set_error (error, CLIP_ERROR, code, "%s: %s", path, local->message);
      g_error_free (local);
      return NULL;
    }

  g_autoptr (GdkPixbuf) upright = apply_exif_orientation
                                    ? gdk_pixbuf_apply_embedded_orientation (decoded)
                                    : g_object_ref (decoded);
  if (upright == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: cannot apply the EXIF orientation", path);
      return NULL;
    }
  return clip_image_new_from_pixbuf (path, upright, error);
}

/* Shrinks the decode to 1×1 when the header declares too many pixels, so that nothing large is
 * allocated; the caller then reports the declared size. */
static void
on_size_prepared (GdkPixbufLoader *loader, int width, int height, gpointer user_data)
{
  int *declared = user_data;
  declared[0] = width;
  declared[1] = height;
  if (width <= 0 || height <= 0 || (gint64) width * height > CLIP_MAX_IMAGE_PIXELS)
    gdk_pixbuf_loader_set_size (loader, 1, 1);
}

ClipImage *
clip_image_load_bytes (const char *name, const void *data, size_t len, gboolean apply_exif_orientation,
                       GError **error)
{
  g_return_val_if_fail (name != NULL && (data != NULL || len == 0), NULL);
  if (len == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: empty, not an image", name);
      return NULL;
    }
  g_autoptr (GdkPixbufLoader) loader = gdk_pixbuf_loader_new ();
  int declared[2] = { 0, 0 };
  g_signal_connect (loader, "size-prepared", G_CALLBACK (on_size_prepared), declared);
  GError *local = NULL;
  gboolean written = gdk_pixbuf_loader_write (loader, data, len, &local);
  /* Closing is needed in any case; its error matters only when writing went well. */
  gboolean closed = gdk_pixbuf_loader_close (loader, written ? &local : NULL);
  if (!written || !closed)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %s", name,
                   local != NULL ? local->message : "cannot be decoded");
      g_clear_error (&local);
      return NULL;
    }
  if (!check_pixel_limit (name, declared[0], declared[1], error))
    return NULL;
  GdkPixbuf *decoded = gdk_pixbuf_loader_get_pixbuf (loader);
  if (decoded == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: not an image gdk-pixbuf can read", name);
      return NULL;
    }
  g_autoptr (GdkPixbuf) upright = apply_exif_orientation ? gdk_pixbuf_apply_embedded_orientation (decoded)
                                                         : g_object_ref (decoded);
  if (upright == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: cannot apply the EXIF orientation", name);
      return NULL;
    }
  return clip_image_new_from_pixbuf (name, upright, error);
}

void
clip_image_resize_crop (const ClipImage *image, int size, uint8_t *crop)
{
  g_return_if_fail (image != NULL && image->pixels != NULL && image->width > 0 && image->height > 0);
  g_return_if_fail (size > 0 && crop != NULL);

  int64_t out_w, out_h;
  clip_resize_shorter_side (image->width, image->height, size, &out_w, &out_h);
  int64_t left = clip_center_crop_offset (out_w, size);
  int64_t top = clip_center_crop_offset (out_h, size);
  size_t scratch_size = clip_resample_scratch_size (image->width, image->height, out_w, out_h, left,
                                                    top, size, size);
  g_autofree void *scratch = g_malloc (scratch_size);
  clip_resample_bicubic_rgb8 (image->pixels, image->width, image->height, out_w, out_h, left, top,
                              size, size, scratch, crop);
}

void
clip_image_normalize (const uint8_t *crop, const ClipPreprocess *pre, float *chw)
{
  g_return_if_fail (crop != NULL && pre != NULL && chw != NULL && pre->image_size > 0);
  size_t n_pixels = (size_t) pre->image_size * (size_t) pre->image_size;
  clip_normalize_rgb8_chw (crop, n_pixels, pre->mean, pre->std, chw);
}
