/* test-preprocess.c — image decoding, Pillow bicubic resize, centre crop and normalisation against
 * clip-reference.md §4.4 vectors and golden/preprocess.safetensors, plus hostile and broken files. */
#include "clip.h"
#include "image-resample.h"
#include "safetensors.h"
#include "testutil.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gio.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ helpers */

static ClipSafetensors *golden;

static const ClipStTensor *
golden_tensor (const char *image, const char *what, ClipDType dtype)
{
  g_autofree char *name = g_strdup_printf ("%s.%s", image, what);
  const ClipStTensor *t = clip_safetensors_find (golden, name);
  if (t == NULL)
    g_error ("preprocess.safetensors has no tensor %s", name);
  g_assert_cmpint (t->dtype, ==, dtype);
  return t;
}

static char *
sha256_hex (const uint8_t *data, size_t len)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
}

static int
max_byte_diff (const uint8_t *a, const uint8_t *b, size_t n)
{
  int worst = 0;
  for (size_t i = 0; i < n; i++)
    worst = MAX (worst, abs ((int) a[i] - (int) b[i]));
  return worst;
}

/* The full resize of IMAGE to OUT_W × OUT_H (window = everything). */
static uint8_t *
resize_full (const ClipImage *image, int out_w, int out_h)
{
  size_t scratch_size = clip_resample_scratch_size (image->width, image->height, out_w, out_h, 0, 0,
                                                    out_w, out_h);
  g_autofree void *scratch = g_malloc (scratch_size);
  uint8_t *out = g_malloc ((size_t) out_w * out_h * 3);
  clip_resample_bicubic_rgb8 (image->pixels, image->width, image->height, out_w, out_h, 0, 0, out_w,
                              out_h, scratch, out);
  return out;
}

static void
assert_load_fails (const char *path, ClipErrorCode code, const char *fragment)
{
  GError *error = NULL;
  ClipImage *image = clip_image_load (path, FALSE, &error);
  g_assert_null (image);
  g_assert_error (error, CLIP_ERROR, (int) code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  if (fragment != NULL)
    g_assert_nonnull (strstr (error->message, fragment));
  g_error_free (error);
}

/* PNG chunk: length, type, data, CRC-32 of type + data (the PNG/zlib polynomial, bitwise). */
static void
png_append_chunk (GByteArray *png, const char *type, const guint8 *data, guint32 len)
{
  guint8 be_len[4] = { len >> 24, len >> 16, len >> 8, len };
  g_byte_array_append (png, be_len, 4);
  gsize start = png->len;
  g_byte_array_append (png, (const guint8 *) type, 4);
  if (len > 0)
    g_byte_array_append (png, data, len);
  guint32 crc = 0xffffffffu;
  for (gsize i = start; i < png->len; i++)
    {
      crc ^= png->data[i];
      for (int k = 0; k < 8; k++)
        crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
  crc ^= 0xffffffffu;
  guint8 be_crc[4] = { crc >> 24, crc >> 16, crc >> 8, crc };
  g_byte_array_append (png, be_crc, 4);
}

static GByteArray *
png_start (guint32 width, guint32 height, guint8 bit_depth, guint8 colour_type)
{
  static const guint8 signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  GByteArray *png = g_byte_array_new ();
  g_byte_array_append (png, signature, 8);
  guint8 ihdr[13] = {
    width >> 24, width >> 16, width >> 8, width,
    height >> 24, height >> 16, height >> 8, height,
    bit_depth, colour_type, 0, 0, 0,
  };
  png_append_chunk (png, "IHDR", ihdr, sizeof ihdr);
  return png;
}

/* IDAT holding RAW (filtered scanlines) compressed by zlib. */
static void
png_append_idat (GByteArray *png, const guint8 *raw, gsize len)
{
  g_autoptr (GZlibCompressor) zlib = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB, -1);
  guint8 idat[4096];
  gsize read = 0, written = 0;
  GError *error = NULL;
  GConverterResult r = g_converter_convert (G_CONVERTER (zlib), raw, len, idat, sizeof idat,
                                            G_CONVERTER_INPUT_AT_END, &read, &written, &error);
  g_assert_no_error (error);
  g_assert_cmpint (r, ==, G_CONVERTER_FINISHED);
  png_append_chunk (png, "IDAT", idat, (guint32) written);
}

static char *
tmp_path (const char *name)
{
  return g_build_filename (tu_tmpdir (), name, NULL);
}

/* ------------------------------------------------------------------ geometry */

static void
test_geometry (void)
{
  int64_t w, h;
  clip_resize_shorter_side (320, 240, 224, &w, &h);
  g_assert_cmpint (w, ==, 298);
  g_assert_cmpint (h, ==, 224);
  clip_resize_shorter_side (225, 301, 224, &w, &h); /* 224 · 301 / 225 = 299.66 → 299 */
  g_assert_cmpint (w, ==, 224);
  g_assert_cmpint (h, ==, 299);
  clip_resize_shorter_side (1000, 150, 224, &w, &h); /* 1493.33 → 1493 */
  g_assert_cmpint (w, ==, 1493);
  g_assert_cmpint (h, ==, 224);
  clip_resize_shorter_side (200, 200, 224, &w, &h);
  g_assert_cmpint (w, ==, 224);
  g_assert_cmpint (h, ==, 224);
  clip_resize_shorter_side (100000000, 1, 224, &w, &h); /* beyond INT_MAX */
  g_assert_cmpint (w, ==, G_GINT64_CONSTANT (22400000000));

  /* torchvision rounds (in − crop) / 2 half to even; HF floors (differs at 227 and 231). */
  g_assert_cmpint (clip_center_crop_offset (224, 224), ==, 0);
  g_assert_cmpint (clip_center_crop_offset (225, 224), ==, 0);
  g_assert_cmpint (clip_center_crop_offset (226, 224), ==, 1);
  g_assert_cmpint (clip_center_crop_offset (227, 224), ==, 2);
  g_assert_cmpint (clip_center_crop_offset (229, 224), ==, 2);
  g_assert_cmpint (clip_center_crop_offset (231, 224), ==, 4);
  g_assert_cmpint (clip_center_crop_offset (298, 224), ==, 37);
}

/* ------------------------------------------------------------------ clip-reference.md §4.4 vectors */

static void
test_tiny_vector (void)
{
  g_autoptr (ClipImage) image = clip_image_new (8, 6);
  for (int y = 0; y < 6; y++)
    for (int x = 0; x < 8; x++)
      for (int c = 0; c < 3; c++)
        image->pixels[(y * 8 + x) * 3 + c] = (uint8_t) ((15 * (8 * y + x) + 5 * c) % 256);

  g_autofree uint8_t *out = resize_full (image, 3, 4);
  static const uint8_t red[4][3] = { { 52, 99, 139 }, { 163, 94, 137 }, { 166, 110, 133 }, { 152, 110, 131 } };
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 3; x++)
      g_assert_cmpint (out[(y * 3 + x) * 3], ==, red[y][x]);
}

static void
test_pipeline_vector (void)
{
  g_autoptr (ClipImage) image = clip_image_new (320, 240);
  for (int y = 0; y < 240; y++)
    for (int x = 0; x < 320; x++)
      {
        uint8_t *p = image->pixels + (y * 320 + x) * 3;
        p[0] = (uint8_t) ((7 * x + 3 * y) & 255);
        p[1] = (uint8_t) ((x * y) & 255);
        p[2] = (uint8_t) ((x ^ y) & 255);
      }

  g_autofree uint8_t *resized = resize_full (image, 298, 224);
  g_autofree char *resized_sha = sha256_hex (resized, 298 * 224 * 3);
  g_assert_cmpstr (resized_sha, ==, "9b1267073c8be77ea9e9a0bf9c46072966a06cd1d35d4a0a33432843d2573063");

  uint8_t crop[224 * 224 * 3];
  clip_image_resize_crop (image, 224, crop);
  g_autofree char *crop_sha = sha256_hex (crop, sizeof crop);
  g_assert_cmpstr (crop_sha, ==, "a763458b9e190f3e73cdc8375f342604be8757b32c25fd16db601ae3a5fab840");
  /* The windowed resize equals the same region of the full one (top 0, left 37). */
  for (int y = 0; y < 224; y++)
    g_assert_cmpmem (crop + y * 224 * 3, 224 * 3, resized + (y * 298 + 37) * 3, 224 * 3);

  static const struct { int row, col; uint8_t rgb[3]; } pixels[] = {
    { 0, 0, { 22, 2, 40 } }, { 100, 50, { 208, 148, 53 } }, { 223, 223, { 112, 116, 248 } },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (pixels); i++)
    g_assert_cmpmem (crop + (pixels[i].row * 224 + pixels[i].col) * 3, 3, pixels[i].rgb, 3);

  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  g_assert_cmpint (pre.image_size, ==, 224);
  g_autofree float *chw = g_new (float, 3 * 224 * 224);
  clip_image_normalize (crop, &pre, chw);
  g_assert_cmpfloat_with_epsilon (chw[0], -1.47109711, 1e-6);
  g_assert_cmpfloat_with_epsilon (chw[1 * 224 * 224 + 100 * 224 + 50], 0.46905264, 1e-6);
  g_assert_cmpfloat_with_epsilon (chw[2 * 224 * 224 + 223 * 224 + 223], 2.04635668, 1e-6);
  static const double sums[3] = { 3656.0935444, 6546.7201688, 16996.4329627 };
  for (int c = 0; c < 3; c++)
    {
      double sum = 0;
      for (int i = 0; i < 224 * 224; i++)
        sum += chw[c * 224 * 224 + i];
      g_assert_cmpfloat_with_epsilon (sum, sums[c], 1e-6);
    }
}

/* A pass whose size does not change is skipped: a 224-wide image resized to 224 × 100 is a pure
 * vertical resize, and the window of a skipped-horizontal resize reads source columns directly. */
static void
test_skipped_pass (void)
{
  g_autoptr (ClipImage) image = clip_image_new (224, 300);
  for (int i = 0; i < 224 * 300 * 3; i++)
    image->pixels[i] = (uint8_t) ((i * 37) ^ (i >> 7));

  uint8_t crop[224 * 224 * 3];
  clip_image_resize_crop (image, 224, crop);
  /* out 224 × 300: no resize at all, crop top = round(76 / 2) = 38. */
  g_assert_cmpmem (crop, sizeof crop, image->pixels + 38 * 224 * 3, sizeof crop);

  g_autofree uint8_t *full = resize_full (image, 224, 100);
  size_t scratch_size = clip_resample_scratch_size (224, 300, 224, 100, 50, 20, 100, 60);
  g_autofree void *scratch = g_malloc (scratch_size);
  uint8_t window[100 * 60 * 3];
  clip_resample_bicubic_rgb8 (image->pixels, 224, 300, 224, 100, 50, 20, 100, 60, scratch, window);
  for (int y = 0; y < 60; y++)
    g_assert_cmpmem (window + y * 100 * 3, 100 * 3, full + ((20 + y) * 224 + 50) * 3, 100 * 3);
}

/* Any window of a resize equals the same region of the full resize: random sizes (up- and
 * down-scaling, unchanged axes) and random windows. */
static void
test_random_windows (void)
{
  for (int round = 0; round < 60; round++)
    {
      int in_w = g_test_rand_int_range (1, 160), in_h = g_test_rand_int_range (1, 160);
      int out_w = round % 5 == 0 ? in_w : g_test_rand_int_range (1, 200);
      int out_h = round % 7 == 0 ? in_h : g_test_rand_int_range (1, 200);
      g_autoptr (ClipImage) image = clip_image_new (in_w, in_h);
      for (int i = 0; i < in_w * in_h * 3; i++)
        image->pixels[i] = (uint8_t) g_test_rand_int_range (0, 256);
      g_autofree uint8_t *full = resize_full (image, out_w, out_h);

      int x = g_test_rand_int_range (0, out_w), y = g_test_rand_int_range (0, out_h);
      int w = g_test_rand_int_range (1, out_w - x + 1), h = g_test_rand_int_range (1, out_h - y + 1);
      g_autofree void *scratch = g_malloc (clip_resample_scratch_size (in_w, in_h, out_w, out_h, x, y, w, h));
      g_autofree uint8_t *window = g_malloc ((size_t) w * h * 3);
      clip_resample_bicubic_rgb8 (image->pixels, in_w, in_h, out_w, out_h, x, y, w, h, scratch, window);
      for (int r = 0; r < h; r++)
        g_assert_cmpmem (window + (size_t) r * w * 3, (size_t) w * 3,
                         full + ((size_t) (y + r) * out_w + x) * 3, (size_t) w * 3);
    }
}

/* ------------------------------------------------------------------ goldens */

static void
test_golden_image (gconstpointer data)
{
  const char *file = data;
  g_autofree char *path = tu_shared_path (file);
  g_autofree char *base = g_path_get_basename (file);
  char *dot = strrchr (base, '.');
  gboolean is_png = g_str_equal (dot, ".png");
  *dot = '\0';

  const ClipStTensor *decoded = golden_tensor (base, "decoded_rgb", CLIP_DTYPE_U8);
  const ClipStTensor *crop_u8 = golden_tensor (base, "crop_u8", CLIP_DTYPE_U8);
  const ClipStTensor *values = golden_tensor (base, "pixel_values", CLIP_DTYPE_F32);
  g_assert_cmpint (decoded->n_dims, ==, 3);
  int height = (int) decoded->shape[0], width = (int) decoded->shape[1];
  g_assert_cmpint (crop_u8->n_bytes, ==, 224 * 224 * 3);
  g_assert_cmpint (values->n_elements, ==, 3 * 224 * 224);

  /* Our decoder against Pillow's. */
  GError *error = NULL;
  g_autoptr (ClipImage) ours = clip_image_load (path, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ours->width, ==, width);
  g_assert_cmpint (ours->height, ==, height);
  int decode_diff = max_byte_diff (ours->pixels, decoded->data, decoded->n_bytes);
  g_test_message ("%s: decode max |diff| = %d", base, decode_diff);
  g_assert_cmpint (decode_diff, <=, is_png ? 0 : 2);

  /* The resampler alone, from the golden decoded bytes: byte-exact for every image. */
  g_autoptr (ClipImage) reference = clip_image_new (width, height);
  memcpy (reference->pixels, decoded->data, decoded->n_bytes);
  uint8_t crop[224 * 224 * 3];
  clip_image_resize_crop (reference, 224, crop);
  g_assert_cmpmem (crop, sizeof crop, crop_u8->data, crop_u8->n_bytes);

  /* The whole pipeline from our own decode. */
  uint8_t own_crop[224 * 224 * 3];
  clip_image_resize_crop (ours, 224, own_crop);
  int crop_diff = max_byte_diff (own_crop, crop_u8->data, sizeof own_crop);
  g_test_message ("%s: crop from our decode max |diff| = %d", base, crop_diff);
  if (is_png)
    g_assert_cmpint (crop_diff, ==, 0);

  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  g_autofree float *chw = g_new (float, 3 * 224 * 224);
  g_autofree float *want = g_new (float, 3 * 224 * 224);
  memcpy (want, values->data, values->n_bytes); /* the mapped tensor need not be float-aligned */
  clip_image_normalize (crop, &pre, chw);
  g_autofree char *what = g_strdup_printf ("%s.pixel_values", base);
  tu_assert_close_abs (what, chw, want, 3 * 224 * 224, 1e-6);
}

/* ------------------------------------------------------------------ decoding details */

/* A JPEG with an EXIF orientation of 6 (rotate 90° clockwise to display). */
static void
test_exif_orientation (void)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 48, 32);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  for (int y = 0; y < 32; y++)
    for (int x = 0; x < 48; x++)
      for (int c = 0; c < 3; c++)
        pixels[y * stride + x * 3 + c] = (guint8) (x * 5 + c * 80);
  gchar *jpeg = NULL;
  gsize jpeg_len = 0;
  GError *error = NULL;
  gdk_pixbuf_save_to_buffer (pixbuf, &jpeg, &jpeg_len, "jpeg", &error, "quality", "95", NULL);
  g_assert_no_error (error);

  static const guint8 app1[] = {
    0xff, 0xe1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
    'M', 'M', 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08,                   /* big-endian TIFF, IFD at 8 */
    0x00, 0x01,                                                      /* one entry */
    0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00, /* Orientation = 6 */
    0x00, 0x00, 0x00, 0x00,                                          /* no next IFD */
  };
  GByteArray *file = g_byte_array_new ();
  g_byte_array_append (file, (const guint8 *) jpeg, 2); /* SOI */
  g_byte_array_append (file, app1, sizeof app1);
  g_byte_array_append (file, (const guint8 *) jpeg + 2, (guint) jpeg_len - 2);
  g_autofree char *path = tmp_path ("rotated.jpg");
  tu_write_file (path, file->data, file->len);
  g_byte_array_unref (file);
  g_free (jpeg);

  g_autoptr (ClipImage) stored = clip_image_load (path, FALSE, &error);
  g_assert_no_error (error);
  g_autoptr (ClipImage) upright = clip_image_load (path, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (stored->width, ==, 48);
  g_assert_cmpint (stored->height, ==, 32);
  g_assert_cmpint (upright->width, ==, 32);
  g_assert_cmpint (upright->height, ==, 48);
  /* Clockwise: upright (x, y) = stored (y, H − 1 − x). */
  for (int y = 0; y < 48; y++)
    for (int x = 0; x < 32; x++)
      g_assert_cmpmem (upright->pixels + (y * 32 + x) * 3, 3, stored->pixels + ((31 - x) * 48 + y) * 3, 3);
}

/* 16-bit RGB PNG: gdk-pixbuf keeps the high byte of each sample, as Pillow does for "RGB". */
static void
test_png_16bit (void)
{
  g_autoptr (GByteArray) png = png_start (3, 2, 16, 2);
  guint8 raw[2 * (1 + 3 * 6)];
  for (int y = 0; y < 2; y++)
    {
      guint8 *row = raw + y * 19;
      row[0] = 0; /* filter: none */
      for (int i = 0; i < 9; i++)
        {
          guint16 v = (guint16) (0x0d00 * (y * 9 + i) + 0x00f0); /* low byte 0xf0: rounding would differ */
          row[1 + 2 * i] = v >> 8;
          row[2 + 2 * i] = v & 0xff;
        }
    }
  png_append_idat (png, raw, sizeof raw);
  png_append_chunk (png, "IEND", NULL, 0);
  g_autofree char *path = tmp_path ("deep.png");
  tu_write_file (path, png->data, png->len);

  GError *error = NULL;
  g_autoptr (ClipImage) image = clip_image_load (path, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->width, ==, 3);
  g_assert_cmpint (image->height, ==, 2);
  for (int i = 0; i < 18; i++)
    g_assert_cmpint (image->pixels[i], ==, 0x0d * i);
}

/* An animated GIF decodes to its first frame: two 1 × 1 frames, red then blue. */
static void
test_gif_first_frame (void)
{
  static const guint8 gif[] = {
    'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0,   /* 1 × 1, global palette of 2 */
    0xff, 0x00, 0x00, 0x00, 0x00, 0xff,                     /* red, blue */
    0x21, 0xf9, 4, 0x00, 10, 0, 0, 0,                       /* frame 1: 0.1 s */
    0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0,                        /* image descriptor */
    2, 2, 0x44, 0x01, 0,                                    /* LZW: clear, 0, end */
    0x21, 0xf9, 4, 0x00, 10, 0, 0, 0,                       /* frame 2 */
    0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0,
    2, 2, 0x4c, 0x01, 0,                                    /* LZW: clear, 1, end */
    0x3b,
  };
  g_autofree char *path = tmp_path ("two-frames.gif");
  tu_write_file (path, gif, sizeof gif);
  GError *error = NULL;
  g_autoptr (ClipImage) image = clip_image_load (path, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->width, ==, 1);
  g_assert_cmpint (image->height, ==, 1);
  static const guint8 red[3] = { 0xff, 0, 0 };
  g_assert_cmpmem (image->pixels, 3, red, 3);
}

/* SVG decodes when librsvg's loader is installed; otherwise the error says why. */
static void
test_svg (void)
{
  const char *svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" height=\"30\">"
                    "<rect width=\"40\" height=\"30\" fill=\"#00ff00\"/></svg>\n";
  g_autofree char *path = tmp_path ("drawing.svg");
  tu_write_file (path, svg, strlen (svg));
  GError *error = NULL;
  g_autoptr (ClipImage) image = clip_image_load (path, FALSE, &error);
  if (image == NULL)
    {
      g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
      g_assert_nonnull (strstr (error->message, "image/svg+xml"));
      g_test_message ("no SVG loader: %s", error->message);
      g_error_free (error);
      return;
    }
  g_assert_cmpint (image->width, ==, 40);
  g_assert_cmpint (image->height, ==, 30);
  static const guint8 green[3] = { 0, 0xff, 0 };
  g_assert_cmpmem (image->pixels + (15 * 40 + 20) * 3, 3, green, 3);
}

/* ------------------------------------------------------------------ bad inputs */

static void
test_bad_files (void)
{
  g_autofree char *missing = tmp_path ("does-not-exist.png");
  assert_load_fails (missing, CLIP_ERROR_IO, NULL);

  assert_load_fails (tu_tmpdir (), CLIP_ERROR_IO, "not a regular file");

  g_autofree char *empty = tmp_path ("empty.jpg");
  tu_write_file (empty, "", 0);
  assert_load_fails (empty, CLIP_ERROR_FORMAT, "empty");

  g_autofree char *text = tmp_path ("notes.jpg");
  const char *words = "This is a plain text file that merely calls itself a JPEG.\n";
  tu_write_file (text, words, strlen (words));
  assert_load_fails (text, CLIP_ERROR_FORMAT, "not an image");

  /* The first half of a real PNG: the header parses, the pixel data ends early. */
  g_autofree char *source = tu_shared_path ("golden/images/scene_640x480.png");
  g_autofree char *contents = NULL;
  gsize len = 0;
  GError *error = NULL;
  g_file_get_contents (source, &contents, &len, &error);
  g_assert_no_error (error);
  g_autofree char *truncated = tmp_path ("truncated.png");
  tu_write_file (truncated, contents, len / 2);
  assert_load_fails (truncated, CLIP_ERROR_FORMAT, NULL);
}

/* A PNG claiming 30000 × 30000 (9·10⁸ pixels) with the first rows of zeros is refused from its
 * header: decoding would allocate 2.7 GB. */
static void
test_pixel_limit (void)
{
  g_autoptr (GByteArray) png = png_start (30000, 30000, 8, 2);
  g_autofree guint8 *rows = g_malloc0 (4 * (1 + 30000 * 3));
  png_append_idat (png, rows, 4 * (1 + 30000 * 3));
  png_append_chunk (png, "IEND", NULL, 0);
  g_autofree char *path = tmp_path ("bomb.png");
  tu_write_file (path, png->data, png->len);
  assert_load_fails (path, CLIP_ERROR_LIMIT, "30000×30000");
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  GError *error = NULL;
  g_autofree char *golden_path = tu_shared_path ("golden/preprocess.safetensors");
  golden = clip_safetensors_open (golden_path, &error);
  g_assert_no_error (error);

  g_test_add_func ("/preprocess/geometry", test_geometry);
  g_test_add_func ("/preprocess/tiny-vector", test_tiny_vector);
  g_test_add_func ("/preprocess/pipeline-vector", test_pipeline_vector);
  g_test_add_func ("/preprocess/skipped-pass", test_skipped_pass);
  g_test_add_func ("/preprocess/random-windows", test_random_windows);

  g_autofree char *images_dir = tu_shared_path ("golden/images");
  GDir *dir = g_dir_open (images_dir, 0, &error);
  g_assert_no_error (error);
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (files, g_strdup (name));
  g_dir_close (dir);
  g_ptr_array_sort (files, compare_names);
  g_assert_cmpuint (files->len, ==, 10);
  GPtrArray *test_files = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < files->len; i++)
    {
      const char *file = g_ptr_array_index (files, i);
      g_autofree char *test_name = g_strdup_printf ("/preprocess/golden/%s", file);
      char *rel = g_build_filename ("golden", "images", file, NULL);
      g_ptr_array_add (test_files, rel);
      g_test_add_data_func (test_name, rel, test_golden_image);
    }
  g_ptr_array_unref (files);

  g_test_add_func ("/preprocess/exif-orientation", test_exif_orientation);
  g_test_add_func ("/preprocess/png-16bit", test_png_16bit);
  g_test_add_func ("/preprocess/gif-first-frame", test_gif_first_frame);
  g_test_add_func ("/preprocess/svg", test_svg);
  g_test_add_func ("/preprocess/bad-files", test_bad_files);
  g_test_add_func ("/preprocess/pixel-limit", test_pixel_limit);

  int status = g_test_run ();
  g_ptr_array_unref (test_files);
  clip_safetensors_close (golden);
  return status;
}
