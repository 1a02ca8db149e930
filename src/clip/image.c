/* image.c — decoding any image gdk-pixbuf reads into packed 8-bit RGB, and the public preprocessing
 * entry points (the arithmetic lives in image-resample.c).
 *
 * Decoding follows Hugging Face's convert("RGB") first: alpha is dropped, not blended (the golden
 * rgba_333x222.decoded_rgb keeps the colour of transparent pixels); grey and palettes are expanded
 * by gdk-pixbuf's loaders.  The size is read from the header and checked against
 * CLIP_MAX_IMAGE_PIXELS before any pixel memory is allocated. */
#include "clip.h"
#include "util-file.h"
#include "image-private.h"
#include "image-resample.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
  GdkPixbuf *pixbuf;         /* owns image.pixels, or NULL when image.pixels is ours */
  int64_t    decode_memory;  /* taken from the decoders' budget, given back when freed */
} ClipImageReal;

#define DECODE_WAIT_US (60 * G_TIME_SPAN_SECOND)

static GMutex decode_memory_lock;
static GCond  decode_memory_cond;
static int64_t decode_memory_used;
static GPrivate decode_memory_held_here;  /* bytes this thread took and has not given back */

void
clip_decode_memory_take (int64_t bytes)
{
  gsize held = GPOINTER_TO_SIZE (g_private_get (&decode_memory_held_here));
  g_mutex_lock (&decode_memory_lock);
  gint64 deadline = g_get_monotonic_time () + DECODE_WAIT_US;
  while (held == 0 && decode_memory_used > 0 && decode_memory_used + bytes > CLIP_DECODE_MEMORY_BYTES)
    if (!g_cond_wait_until (&decode_memory_cond, &decode_memory_lock, deadline))
      break;
  decode_memory_used += bytes;
  g_mutex_unlock (&decode_memory_lock);
  g_private_set (&decode_memory_held_here, GSIZE_TO_POINTER (held + (gsize) bytes));
}

void
clip_decode_memory_give_back (int64_t bytes)
{
  g_mutex_lock (&decode_memory_lock);
  decode_memory_used -= bytes;
  g_cond_broadcast (&decode_memory_cond);
  g_mutex_unlock (&decode_memory_lock);
  /* An image freed by another thread than the one that decoded it leaves that one counted as a
   * holder (it then never waits): the bound loosens, nothing blocks. */
  gsize held = GPOINTER_TO_SIZE (g_private_get (&decode_memory_held_here));
  g_private_set (&decode_memory_held_here, GSIZE_TO_POINTER (held > (gsize) bytes ? held - (gsize) bytes : 0));
}

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
  if (real->decode_memory > 0)
    clip_decode_memory_give_back (real->decode_memory);
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

/* gdk-pixbuf recognised no header: explain what the file FD seems to be instead, from its first bytes. */
static void
set_unrecognised_error (const char *path, int fd, GError **error)
{
  guchar head[4096];
  ssize_t n = pread (fd, head, sizeof head, 0);
  if (n < 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", path, g_strerror (saved));
      return;
    }

  g_autofree char *type = g_content_type_guess (NULL, head, (gsize) n, NULL);
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

/* Checks the open file FD (OPENED_PATH names it) and its declared size, so that nothing large is
 * allocated for a hostile header. */
static gboolean
probe_image (const char *path, int fd, const char *opened_path, int *width, int *height, GError **error)
{
  struct stat st;
  if (fstat (fd, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", path, g_strerror (saved));
      return FALSE;
    }
  if (st.st_size == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: empty file, not an image", path);
      return FALSE;
    }

  if (gdk_pixbuf_get_file_info (opened_path, width, height) == NULL)
    {
      /* gdk-pixbuf gives no reason: out of descriptors, it could not even open the file. */
      int probe = dup (fd);
      int saved = errno;
      if (probe >= 0)
        close (probe);
      if ((probe < 0 && clip_error_code_for_errno (saved, CLIP_ERROR_IO) == CLIP_ERROR_RESOURCES)
          || clip_file_descriptors_exhausted ())
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_RESOURCES, "%s: cannot read: %s", path, g_strerror (EMFILE));
      else
        set_unrecognised_error (path, fd, error);
      return FALSE;
    }
  return check_pixel_limit (path, *width, *height, error);
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

  /* Opened once, and checked to be a regular file: gdk-pixbuf then reads that same open file through
   * its /proc/self/fd link, so a file swapped for a named pipe after a folder was listed cannot hang
   * the decoder. */
  int fd = clip_file_open_input (path, CLIP_INPUT_DEFAULT, NULL, error);
  if (fd < 0)
    return NULL;
  g_autofree char *opened_path = g_strdup_printf ("/proc/self/fd/%d", fd);
  GError *local = NULL;
  int width = 0, height = 0;
  if (!probe_image (path, fd, opened_path, &width, &height, error))
    {
      close (fd);
      return NULL;
    }
  int64_t decode_memory = (int64_t) width * height * 4;
  clip_decode_memory_take (decode_memory);
  /* For animations this is the first frame. */
  g_autoptr (GdkPixbuf) decoded = gdk_pixbuf_new_from_file (opened_path, &local);
  close (fd);
  if (local != NULL)
    {
      gboolean resources = g_error_matches (local, GDK_PIXBUF_ERROR, GDK_PIXBUF_ERROR_INSUFFICIENT_MEMORY)
                           || g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_MFILE)
                           || g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NFILE)
                           || g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOMEM);
      int code = resources ? CLIP_ERROR_RESOURCES : local->domain == G_FILE_ERROR ? CLIP_ERROR_IO : CLIP_ERROR_FORMAT;
      /* gdk-pixbuf names the file it opened: give the user's name instead. */
      g_autofree char *display = g_filename_display_name (path);
      g_autoptr (GString) message = g_string_new (local->message);
      g_string_replace (message, opened_path, display, 0);
      g_set_error (error, CLIP_ERROR, code, "%s: %s", path, message->str);
      g_error_free (local);
    }
  g_autoptr (GdkPixbuf) upright = decoded == NULL ? NULL
                                  : apply_exif_orientation ? gdk_pixbuf_apply_embedded_orientation (decoded)
                                                           : g_object_ref (decoded);
  if (decoded != NULL && upright == NULL)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: cannot apply the EXIF orientation", path);
  ClipImage *image = upright != NULL ? clip_image_new_from_pixbuf (path, upright, error) : NULL;
  if (image == NULL)
    clip_decode_memory_give_back (decode_memory);
  else
    ((ClipImageReal *) image)->decode_memory = decode_memory;
  return image;
}

/* What the loader declared, and the decoders' memory taken for it. */
typedef struct {
  int     width, height;
  int64_t decode_memory;
} DeclaredSize;

/* Shrinks the decode to 1×1 when the header declares too many pixels, so that nothing large is
 * allocated (the caller then reports the declared size); else takes the decode's memory from the
 * decoders' budget before the loader allocates it. */
static void
on_size_prepared (GdkPixbufLoader *loader, int width, int height, gpointer user_data)
{
  DeclaredSize *declared = user_data;
  declared->width = width;
  declared->height = height;
  if (width <= 0 || height <= 0 || (gint64) width * height > CLIP_MAX_IMAGE_PIXELS)
    {
      gdk_pixbuf_loader_set_size (loader, 1, 1);
      return;
    }
  if (declared->decode_memory == 0)
    {
      declared->decode_memory = (int64_t) width * height * 4;
      clip_decode_memory_take (declared->decode_memory);
    }
}

/* Decodes DATA with a loader into an upright pixbuf; NULL with ERROR naming NAME. */
static GdkPixbuf *
decode_bytes (const char *name, const void *data, size_t len, gboolean apply_exif_orientation,
              DeclaredSize *declared, GError **error)
{
  g_autoptr (GdkPixbufLoader) loader = gdk_pixbuf_loader_new ();
  g_signal_connect (loader, "size-prepared", G_CALLBACK (on_size_prepared), declared);
  GError *local = NULL;
  gboolean written = gdk_pixbuf_loader_write (loader, data, len, &local);
  /* Closing is needed in any case; its error matters only when writing went well. */
  gboolean closed = gdk_pixbuf_loader_close (loader, written ? &local : NULL);
  if (!written || !closed)
    {
      gboolean resources = g_error_matches (local, GDK_PIXBUF_ERROR, GDK_PIXBUF_ERROR_INSUFFICIENT_MEMORY);
      g_set_error (error, CLIP_ERROR, resources ? CLIP_ERROR_RESOURCES : CLIP_ERROR_FORMAT, "%s: %s", name,
                   local != NULL ? local->message : "cannot be decoded");
      g_clear_error (&local);
      return NULL;
    }
  if (!check_pixel_limit (name, declared->width, declared->height, error))
    return NULL;
  GdkPixbuf *decoded = gdk_pixbuf_loader_get_pixbuf (loader);
  if (decoded == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: not an image gdk-pixbuf can read", name);
      return NULL;
    }
  GdkPixbuf *upright = apply_exif_orientation ? gdk_pixbuf_apply_embedded_orientation (decoded)
                                              : g_object_ref (decoded);
  if (upright == NULL)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: cannot apply the EXIF orientation", name);
  return upright;
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
  DeclaredSize declared = { 0 };
  g_autoptr (GdkPixbuf) upright = decode_bytes (name, data, len, apply_exif_orientation, &declared, error);
  ClipImage *image = upright != NULL ? clip_image_new_from_pixbuf (name, upright, error) : NULL;
  if (image == NULL && declared.decode_memory > 0)
    clip_decode_memory_give_back (declared.decode_memory);
  else if (image != NULL)
    ((ClipImageReal *) image)->decode_memory = declared.decode_memory;
  return image;
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
