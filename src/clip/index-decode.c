/* index-decode.c — reading one file for the index: checks, content hash, and decoding with
 * gdk-pixbuf's incremental loader, at a reduced size for large JPEGs.
 *
 * The file is read once into memory: its bytes give the content hash (which lets a moved file keep
 * its embedding without being decoded) and feed the loader.  The loader's "size-prepared" signal
 * comes after the header is parsed and before pixel memory is allocated, which is where images over
 * the pixel limit are refused and where a JPEG is asked for a 1/2, 1/4 or 1/8 size that libjpeg
 * produces directly by DCT scaling.  The size asked is exactly what libjpeg produces, so gdk-pixbuf
 * does no bilinear rescale of its own; the exact bicubic resize and crop follow as for any image.
 *
 * gdk-pixbuf's incremental loaders accept a truncated JPEG or PNG without an error (the missing
 * rows come out grey), so those two formats, and WebP, are checked for their end as well. */
#include "index-private.h"
#include "image-private.h"
#include "util-file.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes fed to the loader before the rest of the file is read: enough for it to recognise the
 * format and, for most files, to parse the header.  A file that is no image costs only this. */
#define SNIFF_BYTES (64 * 1024)

/* ---------------------------------------------------------------- completeness */

/* Walks the JPEG's marker segments and entropy-coded data to the end-of-image marker. */
static gboolean
jpeg_is_complete (const uint8_t *d, size_t n)
{
  size_t pos = 2;  /* after SOI */
  for (;;)
    {
      /* Markers may be preceded by fill bytes; stray bytes between segments are tolerated as
       * libjpeg tolerates them. */
      const uint8_t *ff = pos < n ? memchr (d + pos, 0xFF, n - pos) : NULL;
      if (ff == NULL)
        return FALSE;
      pos = (size_t) (ff - d);
      while (pos < n && d[pos] == 0xFF)
        pos++;
      if (pos >= n)
        return FALSE;
      uint8_t marker = d[pos++];
      if (marker == 0xD9)
        return TRUE;
      if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8))
        continue;  /* no length field */
      if (n - pos < 2)
        return FALSE;
      size_t len = ((size_t) d[pos] << 8) | d[pos + 1];
      if (len < 2 || n - pos < len)
        return FALSE;
      pos += len;
      if (marker != 0xDA)
        continue;
      /* Entropy-coded data after SOS: it ends at the first 0xFF followed by a byte other than a
       * stuffed zero or a restart marker. */
      for (;;)
        {
          ff = pos < n ? memchr (d + pos, 0xFF, n - pos) : NULL;
          if (ff == NULL || (size_t) (ff - d) + 1 >= n)
            return FALSE;
          pos = (size_t) (ff - d);
          uint8_t next = d[pos + 1];
          if (next == 0x00 || (next >= 0xD0 && next <= 0xD7))
            pos += 2;
          else
            break;
        }
    }
}

/* Walks the PNG's chunks to IEND. */
static gboolean
png_is_complete (const uint8_t *d, size_t n)
{
  size_t pos = 8;  /* after the signature */
  while (n - pos >= 12)
    {
      uint32_t len = ((uint32_t) d[pos] << 24) | ((uint32_t) d[pos + 1] << 16) | ((uint32_t) d[pos + 2] << 8) | d[pos + 3];
      if (memcmp (d + pos + 4, "IEND", 4) == 0)
        return TRUE;
      if (len > n - pos - 12)
        return FALSE;
      pos += 12 + (size_t) len;
    }
  return FALSE;
}

/* NULL when the file holds all of its image, else what is missing. */
static const char *
check_complete (const char *format, const uint8_t *d, size_t n)
{
  if (g_str_equal (format, "jpeg") && n >= 4 && d[0] == 0xFF && d[1] == 0xD8)
    return jpeg_is_complete (d, n) ? NULL : "truncated JPEG: the end-of-image marker is missing";
  if (g_str_equal (format, "png") && n >= 8 && memcmp (d, "\x89PNG\r\n\x1a\n", 8) == 0)
    return png_is_complete (d, n) ? NULL : "truncated PNG: the IEND chunk is missing";
  if (g_str_equal (format, "webp") && n >= 12 && memcmp (d, "RIFF", 4) == 0)
    {
      uint64_t declared = 8 + (((uint64_t) d[7] << 24) | ((uint64_t) d[6] << 16) | ((uint64_t) d[5] << 8) | d[4]);
      return n >= declared ? NULL : "truncated WebP: the file is shorter than its header declares";
    }
  return NULL;
}

/* ---------------------------------------------------------------- decoding */

typedef struct
{
  const ClipIndexDecoder *decoder;
  int64_t                 width, height;   /* as declared by the header */
  gboolean                too_large;
  int64_t                 decode_memory;   /* taken from the decoders' budget (clip_decode_memory_take) */
} DecodeSizing;

/* The name of the format the loader recognised ("jpeg", "png", …), or "" before it knows. */
static char *
loader_format_name (GdkPixbufLoader *loader)
{
  GdkPixbufFormat *format = gdk_pixbuf_loader_get_format (loader);
  return format != NULL ? gdk_pixbuf_format_get_name (format) : g_strdup ("");
}

static void
on_size_prepared (GdkPixbufLoader *loader, int width, int height, gpointer user_data)
{
  DecodeSizing *sizing = user_data;
  sizing->width = width;
  sizing->height = height;
  if (width <= 0 || height <= 0 || (int64_t) width * height > sizing->decoder->max_pixels)
    {
      /* Loaders stop with an error before allocating when asked for an empty image. */
      sizing->too_large = width > 0 && height > 0;
      gdk_pixbuf_loader_set_size (loader, 0, 0);
      return;
    }

  g_autofree char *format = loader_format_name (loader);
  int d = 1;
  if (!sizing->decoder->exact_decode && g_str_equal (format, "jpeg"))
    {
      /* The largest DCT scale 1/d that keeps the shorter side at least twice the model input, so
       * the bicubic resize that follows still averages over several source pixels. */
      int64_t shorter = MIN (width, height);
      int64_t target = 2 * (int64_t) sizing->decoder->image_size;
      d = 8;
      while (d > 1 && (shorter + d - 1) / d < target)
        d /= 2;
      if (d > 1)
        gdk_pixbuf_loader_set_size (loader, (int) ((width + d - 1) / d), (int) ((height + d - 1) / d));
    }
  if (sizing->decode_memory == 0)
    {
      sizing->decode_memory = ((width + d - 1) / d) * ((height + d - 1) / d) * 4;
      clip_decode_memory_take (sizing->decode_memory);
    }
}

static char *
describe_unknown (const uint8_t *head, size_t n)
{
  g_autofree char *type = g_content_type_guess (NULL, head, n, NULL);
  g_autofree char *mime = g_content_type_get_mime_type (type);
  const char *what = mime != NULL ? mime : type;
  if (g_str_has_prefix (what, "image/"))
    return g_strdup_printf ("%s images cannot be read: no gdk-pixbuf loader for them is installed", what);
  return g_strdup_printf ("not an image (the content looks like %s)", what);
}

/* One decode in progress: the loader is fed the file's head first, so that a file which is no image
 * is rejected before the rest of it is read. */
typedef struct
{
  DecodeSizing     sizing;
  GdkPixbufLoader *loader;
  size_t           fed;        /* bytes written to the loader */
  gboolean         closed;
} Decoding;

static void
decoding_clear (Decoding *dec)
{
  if (dec->loader != NULL && !dec->closed)
    gdk_pixbuf_loader_close (dec->loader, NULL);  /* abandoned: its complaint is of no interest */
  g_clear_object (&dec->loader);
  if (dec->sizing.decode_memory > 0)
    clip_decode_memory_give_back (dec->sizing.decode_memory);
  dec->sizing.decode_memory = 0;
}

/* Turns the loader's error LOCAL (consumed) into the reason for skipping the file. */
static void
decoding_fail (Decoding *dec, GError *local, const uint8_t *head, size_t head_len, GError **error)
{
  g_autofree char *format = loader_format_name (dec->loader);
  if (dec->sizing.too_large)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT,
                 "%" G_GINT64_FORMAT "×%" G_GINT64_FORMAT " image (%" G_GINT64_FORMAT " pixels), more than "
                 "the limit of %" G_GINT64_FORMAT " pixels", dec->sizing.width, dec->sizing.height,
                 dec->sizing.width * dec->sizing.height, dec->sizing.decoder->max_pixels);
  else if (g_error_matches (local, GDK_PIXBUF_ERROR, GDK_PIXBUF_ERROR_UNKNOWN_TYPE))
    {
      g_autofree char *reason = describe_unknown (head, head_len);
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_FORMAT, reason);
    }
  else
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "damaged %s%simage: %s",
                 format, format[0] != '\0' ? " " : "",
                 local->message);
  g_error_free (local);
}

static gboolean
decoding_start (Decoding *dec, const ClipIndexDecoder *decoder, const uint8_t *head, size_t head_len,
                GError **error)
{
  dec->sizing = (DecodeSizing) { decoder, 0, 0, FALSE, 0 };
  dec->loader = gdk_pixbuf_loader_new ();
  g_signal_connect (dec->loader, "size-prepared", G_CALLBACK (on_size_prepared), &dec->sizing);
  GError *local = NULL;
  dec->fed = head_len;
  if (!gdk_pixbuf_loader_write (dec->loader, head, head_len, &local))
    {
      decoding_fail (dec, local, head, head_len, error);
      return FALSE;
    }
  return TRUE;
}

/* Feeds the rest of DATA (the whole file), closes the loader and checks what came out. */
static ClipImage *
decoding_finish (Decoding *dec, const char *path, const uint8_t *data, size_t len, GError **error)
{
  GError *local = NULL;
  gboolean ok = len == dec->fed || gdk_pixbuf_loader_write (dec->loader, data + dec->fed, len - dec->fed, &local);
  dec->closed = TRUE;
  /* Closing also reports formats recognised only at the end (files under 4 KB) and late damage. */
  if (!gdk_pixbuf_loader_close (dec->loader, ok ? &local : NULL))
    ok = FALSE;
  if (!ok)
    {
      decoding_fail (dec, local, data, MIN (len, (size_t) SNIFF_BYTES), error);
      return NULL;
    }
  g_autofree char *format = loader_format_name (dec->loader);
  const char *incomplete = check_complete (format, data, len);
  if (incomplete != NULL)
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_FORMAT, incomplete);
      return NULL;
    }

  /* For animations this is the first frame. */
  GdkPixbuf *decoded = gdk_pixbuf_loader_get_pixbuf (dec->loader);
  if (decoded == NULL)
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "the image has no pixels");
      return NULL;
    }
  g_autoptr (GdkPixbuf) upright = dec->sizing.decoder->apply_exif_orientation
                                    ? gdk_pixbuf_apply_embedded_orientation (decoded)
                                    : g_object_ref (decoded);
  if (upright == NULL)
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "cannot apply the EXIF orientation");
      return NULL;
    }
  GError *image_error = NULL;
  ClipImage *image = clip_image_new_from_pixbuf (path, upright, &image_error);
  if (image == NULL)
    {
      /* Its message starts with the path, which the caller adds itself. */
      g_autofree char *prefix = g_strconcat (path, ": ", NULL);
      const char *message = image_error->message;
      if (g_str_has_prefix (message, prefix))
        message += strlen (prefix);
      g_set_error_literal (error, CLIP_ERROR, image_error->code, message);
      g_error_free (image_error);
    }
  return image;
}

ClipImage *
clip_index_decode_image (const ClipIndexDecoder *decoder, const char *path, const uint8_t *data, size_t len,
                         GError **error)
{
  Decoding dec = { 0 };
  ClipImage *image = NULL;
  if (decoding_start (&dec, decoder, data, MIN (len, (size_t) SNIFF_BYTES), error))
    image = decoding_finish (&dec, path, data, len, error);
  decoding_clear (&dec);
  return image;
}

/* ---------------------------------------------------------------- reading */

static void
read_fail (ClipIndexRead *out, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
read_fail (ClipIndexRead *out, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_free (out->reason);
  out->reason = g_strdup_vprintf (format, args);
  va_end (args);
}

/* Reads LEN bytes into DATA; FALSE with a reason on failure. */
static gboolean
read_exactly (int fd, uint8_t *data, size_t len, ClipIndexRead *out)
{
  size_t done = 0;
  while (done < len)
    {
      ssize_t n = read (fd, data + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          read_fail (out, "cannot read: %s", g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        {
          read_fail (out, "the file shrank while it was read");
          return FALSE;
        }
      done += (size_t) n;
    }
  return TRUE;
}

/* Opens PATH without blocking (a file replaced by a FIFO since the scan cannot hang the reader) and
 * checks that it is a non-empty regular file within the size limit; -1 with a reason otherwise. */
static int
open_checked (const ClipIndexDecoder *decoder, const char *path, ClipIndexRead *out)
{
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (decoder->follow_symlinks ? 0 : O_NOFOLLOW);
  int fd = g_open (path, flags, 0);
  if (fd < 0)
    {
      int saved = errno;
      read_fail (out, "%s", saved == ELOOP ? "symbolic link, not followed" : g_strerror (saved));
      out->out_of_resources = clip_error_code_for_errno (saved, CLIP_ERROR_IO) == CLIP_ERROR_RESOURCES;
      return -1;
    }
  struct stat st;
  if (fstat (fd, &st) != 0)
    {
      int saved = errno;
      close (fd);
      read_fail (out, "%s", g_strerror (saved));
      return -1;
    }
  out->size = (uint64_t) st.st_size;
  out->mtime_ns = (int64_t) st.st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_mtim.tv_nsec;
  if (!S_ISREG (st.st_mode))
    read_fail (out, "not a regular file");
  else if (st.st_size == 0)
    read_fail (out, "empty file, not an image");
  else if (st.st_size > decoder->max_file_bytes)
    read_fail (out, "%.1f MB, larger than the limit of %.1f MB for an image file", st.st_size / 1e6,
               decoder->max_file_bytes / 1e6);
  else
    return fd;
  close (fd);
  return -1;
}

void
clip_index_read_file (const ClipIndexDecoder *decoder, const char *path, GHashTable *known, ClipIndexRead *out)
{
  memset (out, 0, sizeof *out);
  int fd = open_checked (decoder, path, out);
  if (fd < 0)
    return;

  size_t len = (size_t) out->size;
  size_t head = MIN (len, (size_t) SNIFF_BYTES);
  g_autofree uint8_t *data = g_try_malloc (len);
  Decoding dec = { 0 };
  GError *error = NULL;
  gboolean ok = data != NULL;
  if (!ok)
    {
      read_fail (out, "cannot allocate %zu bytes to read it", len);
      out->out_of_resources = TRUE;
    }
  ok = ok && read_exactly (fd, data, head, out);
  if (ok && !decoding_start (&dec, decoder, data, head, &error))
    ok = FALSE;
  ok = ok && read_exactly (fd, data + head, len - head, out);

  if (ok)
    {
      clip_index_hash_content (data, len, out->hash);
      out->known = known != NULL && g_hash_table_contains (known, out->hash);
    }
  if (ok && !out->known)
    {
      g_autoptr (ClipImage) image = decoding_finish (&dec, path, data, len, &error);
      g_clear_pointer (&data, g_free);  /* the compressed bytes are no longer needed */
      if (image != NULL)
        {
          int s = decoder->image_size;
          g_autofree uint8_t *crop = g_malloc ((size_t) s * s * 3);
          clip_image_resize_crop (image, s, crop);
          out->pixels = g_new (float, (size_t) 3 * s * s);
          clip_image_normalize (crop, decoder->preprocess, out->pixels);
        }
    }
  if (error != NULL)
    {
      /* Checked while this file is still open, so that the probe needs a descriptor more. */
      out->out_of_resources = clip_file_descriptors_exhausted ();
      read_fail (out, "%s", out->out_of_resources ? g_strerror (EMFILE) : error->message);
      g_error_free (error);
    }
  close (fd);
  decoding_clear (&dec);
}

void
clip_index_read_clear (ClipIndexRead *read)
{
  g_clear_pointer (&read->reason, g_free);
  g_clear_pointer (&read->pixels, g_free);
}
