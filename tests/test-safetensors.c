/* test-safetensors.c — the safetensors reader, conversions and writer: round trips, the golden
 * tiny model, exact F16/BF16 encodings, one test per malformed-file class, writer atomicity. */
#include "safetensors.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

/* ---------------------------------------------------------------- helpers */

/* A fresh directory per test, so listings only show that test's files. */
static char *
test_dir (const char *name)
{
  char *dir = g_build_filename (tu_tmpdir (), name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Names in DIR, sorted and joined by spaces. */
static char *
list_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

/* 8-byte little-endian DECLARED_LEN, HEADER, then DATA_LEN bytes counting up. */
static GByteArray *
make_file (const char *header, guint64 declared_len, size_t data_len)
{
  GByteArray *bytes = g_byte_array_new ();
  guint64 le = GUINT64_TO_LE (declared_len);
  g_byte_array_append (bytes, (const guint8 *) &le, 8);
  g_byte_array_append (bytes, (const guint8 *) header, (guint) strlen (header));
  for (size_t i = 0; i < data_len; i++)
    {
      guint8 b = (guint8) i;
      g_byte_array_append (bytes, &b, 1);
    }
  return bytes;
}

/* Opening the bytes from a file and from memory both fail with CODE, naming the file and the
 * problem (NEEDLE); a successful open fails the test. */
static void
expect_error (const GByteArray *bytes, ClipErrorCode code, const char *needle)
{
  g_autofree char *path = g_build_filename (tu_tmpdir (), "bad.safetensors", NULL);
  tu_write_file (path, bytes->data, bytes->len);

  g_autoptr (GError) error = NULL;
  g_autoptr (ClipSafetensors) st = clip_safetensors_open (path, &error);
  g_assert_null (st);
  g_assert_error (error, CLIP_ERROR, (gint) code);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, path));
  if (strstr (error->message, needle) == NULL)
    g_test_fail_printf ("message \"%s\" does not contain \"%s\"", error->message, needle);

  g_autoptr (GError) mem_error = NULL;
  g_autoptr (ClipSafetensors) mem = clip_safetensors_open_bytes (bytes->data, bytes->len, "buffer", &mem_error);
  g_assert_null (mem);
  g_assert_error (mem_error, CLIP_ERROR, (gint) code);
  g_assert_true (g_str_has_prefix (mem_error->message, "buffer: "));
  g_assert_nonnull (strstr (mem_error->message, needle));
}

static ClipSafetensors *
open_ok (const GByteArray *bytes)
{
  g_autoptr (GError) error = NULL;
  ClipSafetensors *st = clip_safetensors_open_bytes (bytes->data, bytes->len, "buffer", &error);
  g_assert_no_error (error);
  return st;
}

/* ---------------------------------------------------------------- round trip */

typedef struct
{
  const char *name;
  ClipDType   dtype;
  int         n_dims;
  int64_t     shape[3];
  const void *data;
  size_t      n_bytes;
} Sample;

static void
test_round_trip (void)
{
  static const float f32[6] = { 1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f };
  static const uint16_t f16[4] = { 0x3c00, 0xc100, 0x7bff, 0x0001 };
  static const uint16_t bf16[4] = { 0x3f80, 0xc020, 0x7f80, 0x0001 };
  static const int64_t i64[3] = { -1, 0, G_MAXINT64 };
  static const uint8_t u8[5] = { 0, 1, 127, 128, 255 };
  static const int32_t i32[1] = { -123456 };
  static const float scalar = 2.6592f;
  static const Sample samples[] = {
    { "weights.f32", CLIP_DTYPE_F32, 2, { 2, 3 }, f32, sizeof f32 },
    { "weights.f16", CLIP_DTYPE_F16, 1, { 4 }, f16, sizeof f16 },
    { "weights.bf16", CLIP_DTYPE_BF16, 2, { 2, 2 }, bf16, sizeof bf16 },
    { "ids \"quoted\" ünï", CLIP_DTYPE_I64, 1, { 3 }, i64, sizeof i64 },
    { "bytes", CLIP_DTYPE_U8, 1, { 5 }, u8, sizeof u8 },
    { "empty", CLIP_DTYPE_F32, 2, { 0, 3 }, NULL, 0 },
    { "scalar", CLIP_DTYPE_F32, 0, { 0 }, &scalar, sizeof scalar },
    { "one", CLIP_DTYPE_I32, 3, { 1, 1, 1 }, i32, sizeof i32 },
  };
  g_autofree char *dir = test_dir ("round-trip");
  g_autofree char *path = g_build_filename (dir, "model.safetensors", NULL);

  g_autoptr (ClipStWriter) w = clip_st_writer_new ();
  for (unsigned i = 0; i < G_N_ELEMENTS (samples); i++)
    clip_st_writer_add (w, samples[i].name, samples[i].dtype, samples[i].n_dims, samples[i].shape,
                        samples[i].data);
  clip_st_writer_set_metadata (w, "format", "pt");
  clip_st_writer_set_metadata (w, "note", "line\nbreak \"quotes\" ✓");
  clip_st_writer_set_metadata (w, "format", "cliplab");  /* replaces the first value */
  g_autoptr (GError) error = NULL;
  g_assert_true (clip_st_writer_write (w, path, &error));
  g_assert_no_error (error);

  /* On-disk layout: the header starts with '{' and the data begins at a multiple of 8. */
  g_autofree char *contents = NULL;
  gsize length;
  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  guint64 header_len;
  memcpy (&header_len, contents, 8);
  header_len = GUINT64_FROM_LE (header_len);
  g_assert_cmpint (contents[8], ==, '{');
  g_assert_cmpuint ((8 + header_len) % 8, ==, 0);
  size_t data_len = 0;
  for (unsigned i = 0; i < G_N_ELEMENTS (samples); i++)
    data_len += samples[i].n_bytes;
  g_assert_cmpuint (length, ==, 8 + header_len + data_len);

  g_autoptr (ClipSafetensors) st = clip_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (clip_safetensors_path (st), ==, path);
  g_assert_cmpuint (clip_safetensors_file_size (st), ==, length);
  g_assert_cmpint (clip_safetensors_n_tensors (st), ==, G_N_ELEMENTS (samples));
  for (unsigned i = 0; i < G_N_ELEMENTS (samples); i++)
    {
      const Sample *s = &samples[i];
      /* Writer order = data order; "empty" (0 bytes) shares its offset with "scalar" but keeps its place. */
      const ClipStTensor *t = clip_safetensors_tensor (st, (int) i);
      g_assert_cmpstr (t->name, ==, s->name);
      g_assert_true (clip_safetensors_find (st, s->name) == t);
      g_assert_cmpint (t->dtype, ==, s->dtype);
      g_assert_cmpint (t->n_dims, ==, s->n_dims);
      int64_t n = 1;
      for (int d = 0; d < s->n_dims; d++)
        {
          g_assert_cmpint (t->shape[d], ==, s->shape[d]);
          n *= s->shape[d];
        }
      g_assert_cmpint (t->n_elements, ==, n);
      g_assert_cmpuint (t->n_bytes, ==, s->n_bytes);
      if (s->n_bytes > 0)
        g_assert_cmpmem (t->data, t->n_bytes, s->data, s->n_bytes);
    }
  g_assert_null (clip_safetensors_find (st, "missing"));
  g_assert_null (clip_safetensors_find (st, "__metadata__"));
  g_assert_cmpstr (clip_safetensors_metadata (st, "format"), ==, "cliplab");
  g_assert_cmpstr (clip_safetensors_metadata (st, "note"), ==, "line\nbreak \"quotes\" ✓");
  g_assert_null (clip_safetensors_metadata (st, "absent"));

  const ClipStTensor *scalar_t = clip_safetensors_find (st, "scalar");
  float value;
  clip_convert_to_f32 (scalar_t->dtype, scalar_t->data, scalar_t->n_elements, &value);
  g_assert_cmpfloat (value, ==, 2.6592f);
}

/* A writer with nothing in it still produces a readable file. */
static void
test_round_trip_empty (void)
{
  g_autofree char *dir = test_dir ("round-trip-empty");
  g_autofree char *path = g_build_filename (dir, "empty.safetensors", NULL);
  g_autoptr (ClipStWriter) w = clip_st_writer_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (clip_st_writer_write (w, path, &error));
  g_autoptr (ClipSafetensors) st = clip_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_safetensors_n_tensors (st), ==, 0);
  g_assert_cmpuint (clip_safetensors_file_size (st), ==, 16);  /* 8 + "{}" padded to 8 */
}

/* The reference accepts JSON whitespace before and after the object; JSON key order is irrelevant. */
static void
test_whitespace_and_order (void)
{
  const char *header = " \n\t{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
                       "\"a\":{\"shape\":[2],\"data_offsets\":[0,2],\"dtype\":\"U8\"}}\r\n  ";
  g_autoptr (GByteArray) bytes = make_file (header, strlen (header), 4);  /* data 0 1 2 3 */
  g_autoptr (ClipSafetensors) st = open_ok (bytes);
  g_assert_cmpint (clip_safetensors_n_tensors (st), ==, 2);
  g_assert_cmpstr (clip_safetensors_tensor (st, 0)->name, ==, "a");
  g_assert_cmpstr (clip_safetensors_tensor (st, 1)->name, ==, "b");
  g_assert_cmpint (((const uint8_t *) clip_safetensors_find (st, "b")->data)[0], ==, 2);
}

/* ---------------------------------------------------------------- golden model */

static void
test_golden_tiny (void)
{
  g_autofree char *path = tu_shared_path ("golden/models/tiny_quickgelu/hf/model.safetensors");
  g_autoptr (GError) error = NULL;
  g_autoptr (ClipSafetensors) st = clip_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_safetensors_n_tensors (st), ==, 78);
  g_assert_cmpstr (clip_safetensors_metadata (st, "format"), ==, "pt");

  const ClipStTensor *emb = clip_safetensors_find (st, "text_model.embeddings.token_embedding.weight");
  g_assert_nonnull (emb);
  g_assert_cmpint (emb->dtype, ==, CLIP_DTYPE_F32);
  g_assert_cmpint (emb->n_dims, ==, 2);
  g_assert_cmpint (emb->shape[0], ==, 1000);
  g_assert_cmpint (emb->shape[1], ==, 48);
  g_assert_cmpuint (emb->n_bytes, ==, 1000 * 48 * 4);

  const ClipStTensor *scale = clip_safetensors_find (st, "logit_scale");
  g_assert_nonnull (scale);
  g_assert_cmpint (scale->n_dims, ==, 0);
  g_assert_cmpint (scale->n_elements, ==, 1);
  g_assert_true (clip_safetensors_tensor (st, 0) == scale);  /* data offset 0 */

  /* File order: each tensor's data follows the previous one, and together they fill the file
   * after its 8584-byte header. */
  size_t total = scale->n_bytes;
  for (int i = 1; i < clip_safetensors_n_tensors (st); i++)
    {
      const ClipStTensor *prev = clip_safetensors_tensor (st, i - 1);
      const ClipStTensor *t = clip_safetensors_tensor (st, i);
      g_assert_true ((const uint8_t *) t->data == (const uint8_t *) prev->data + prev->n_bytes);
      total += t->n_bytes;
    }
  g_assert_cmpuint (total, ==, clip_safetensors_file_size (st) - 8 - 8584);
}

/* ---------------------------------------------------------------- conversions */

static uint16_t
to_f16 (float f)
{
  uint16_t h;
  clip_convert_from_f32 (CLIP_DTYPE_F16, &f, 1, &h);
  return h;
}

static float
from_f16 (uint16_t h)
{
  float f;
  clip_convert_to_f32 (CLIP_DTYPE_F16, &h, 1, &f);
  return f;
}

static uint16_t
to_bf16 (float f)
{
  uint16_t h;
  clip_convert_from_f32 (CLIP_DTYPE_BF16, &f, 1, &h);
  return h;
}

static float
from_bf16 (uint16_t h)
{
  float f;
  clip_convert_to_f32 (CLIP_DTYPE_BF16, &h, 1, &f);
  return f;
}

static float
float_from_bits (uint32_t bits)
{
  float f;
  memcpy (&f, &bits, 4);
  return f;
}

static void
test_f16 (void)
{
  static const struct { uint16_t h; float f; } exact[] = {
    { 0x3c00, 1.0f }, { 0xc100, -2.5f }, { 0x7bff, 65504.0f }, { 0x0001, 0x1p-24f },
    { 0x03ff, 1023 * 0x1p-24f }, { 0x0400, 0x1p-14f }, { 0x8000, -0.0f }, { 0x0000, 0.0f },
    { 0x3555, 0.333251953125f }, { 0xfbff, -65504.0f },
  };
  for (unsigned i = 0; i < G_N_ELEMENTS (exact); i++)
    {
      g_assert_cmpfloat (from_f16 (exact[i].h), ==, exact[i].f);
      g_assert_cmphex (to_f16 (exact[i].f), ==, exact[i].h);
    }
  g_assert_true (signbit (from_f16 (0x8000)));
  g_assert_true (isinf (from_f16 (0x7c00)) && from_f16 (0x7c00) > 0);
  g_assert_true (isinf (from_f16 (0xfc00)) && from_f16 (0xfc00) < 0);
  g_assert_true (isnan (from_f16 (0x7e00)));
  g_assert_true (isnan (from_f16 (0x7c01)));
  g_assert_cmphex (to_f16 (INFINITY), ==, 0x7c00);
  g_assert_cmphex (to_f16 (-INFINITY), ==, 0xfc00);
  uint16_t nan_h = to_f16 (NAN);
  g_assert_cmphex (nan_h & 0x7c00, ==, 0x7c00);
  g_assert_cmphex (nan_h & 0x03ff, !=, 0);

  /* Round to nearest, ties to even. */
  g_assert_cmphex (to_f16 (1.0f + 0x1p-11f), ==, 0x3c00);      /* tie, 0x3c00 is even */
  g_assert_cmphex (to_f16 (1.0f + 3 * 0x1p-11f), ==, 0x3c02);  /* tie, 0x3c02 is even */
  g_assert_cmphex (to_f16 (1.0f + 0x1p-11f + 0x1p-20f), ==, 0x3c01);
  g_assert_cmphex (to_f16 (65519.0f), ==, 0x7bff);
  g_assert_cmphex (to_f16 (65520.0f), ==, 0x7c00);              /* tie above the max rounds to inf */
  g_assert_cmphex (to_f16 (1e6f), ==, 0x7c00);
  g_assert_cmphex (to_f16 (0x1p-25f), ==, 0x0000);              /* subnormal tie to even 0 */
  g_assert_cmphex (to_f16 (3 * 0x1p-25f), ==, 0x0002);          /* subnormal tie to even 2 */
  g_assert_cmphex (to_f16 (-0x1p-25f - 0x1p-40f), ==, 0x8001);
  g_assert_cmphex (to_f16 (1e-10f), ==, 0x0000);
  g_assert_cmphex (to_f16 (2047 * 0x1p-25f), ==, 0x0400);        /* rounds up into the normals */

  /* Every half value survives f16 → f32 → f16 (NaNs stay NaNs). */
  for (uint32_t h = 0; h < 0x10000; h++)
    {
      float f = from_f16 ((uint16_t) h);
      uint16_t back = to_f16 (f);
      if (isnan (f))
        g_assert_true ((back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0);
      else if (back != h)
        g_test_fail_printf ("f16 0x%04x → %g → 0x%04x", h, f, back);
    }

#ifdef __FLT16_MAX__
  /* Against the compiler's own conversion on random bit patterns. */
  GRand *rand = g_rand_new_with_seed (42);
  for (int i = 0; i < 1000000; i++)
    {
      float f = float_from_bits (g_rand_int (rand));
      if (isnan (f))
        continue;
      _Float16 ref = (_Float16) f;
      uint16_t ref_bits;
      memcpy (&ref_bits, &ref, 2);
      uint16_t got = to_f16 (f);
      if (got != ref_bits)
        {
          g_test_fail_printf ("f16 of %a: got 0x%04x, want 0x%04x", f, got, ref_bits);
          break;
        }
    }
  g_rand_free (rand);
#endif
}

static void
test_bf16 (void)
{
  g_assert_cmpfloat (from_bf16 (0x3f80), ==, 1.0f);
  g_assert_cmpfloat (from_bf16 (0xc020), ==, -2.5f);
  g_assert_cmphex (to_bf16 (1.0f), ==, 0x3f80);
  g_assert_cmphex (to_bf16 (-2.5f), ==, 0xc020);
  g_assert_cmphex (to_bf16 (65504.0f), ==, 0x4780);              /* 65504 rounds up to 65536 */
  g_assert_cmphex (to_bf16 (float_from_bits (0x3f808000)), ==, 0x3f80);  /* tie to even */
  g_assert_cmphex (to_bf16 (float_from_bits (0x3f818000)), ==, 0x3f82);  /* tie to even */
  g_assert_cmphex (to_bf16 (float_from_bits (0x3f808001)), ==, 0x3f81);
  g_assert_cmphex (to_bf16 (float_from_bits (0x00018000)), ==, 0x0002);  /* subnormal tie */
  g_assert_cmphex (to_bf16 (float_from_bits (0x00008000)), ==, 0x0000);
  g_assert_cmphex (to_bf16 (float_from_bits (0x7f7fffff)), ==, 0x7f80);  /* FLT_MAX rounds to inf */
  g_assert_cmphex (to_bf16 (INFINITY), ==, 0x7f80);
  g_assert_cmphex (to_bf16 (-INFINITY), ==, 0xff80);
  g_assert_cmphex (to_bf16 (-0.0f), ==, 0x8000);
  uint16_t nan_b = to_bf16 (float_from_bits (0x7f800001));       /* NaN whose payload is in the low bits */
  g_assert_true (isnan (from_bf16 (nan_b)));
  g_assert_true (isnan (from_bf16 (to_bf16 (-NAN))));
  g_assert_true (isinf (from_bf16 (0xff80)) && from_bf16 (0xff80) < 0);
  for (uint32_t h = 0; h < 0x10000; h++)
    {
      float f = from_bf16 ((uint16_t) h);
      if (!isnan (f) && to_bf16 (f) != h)
        g_test_fail_printf ("bf16 0x%04x → %g → 0x%04x", h, f, to_bf16 (f));
    }
}

static void
test_convert_other (void)
{
  float out[4];
  /* Unaligned sources: one byte in, as a mixed-dtype file may place them. */
  uint8_t buf[1 + 4 * 8];
  const double f64[4] = { 0.5, -1e300, 3.0, 1e-3 };
  memcpy (buf + 1, f64, sizeof f64);
  clip_convert_to_f32 (CLIP_DTYPE_F64, buf + 1, 4, out);
  g_assert_cmpfloat (out[0], ==, 0.5f);
  g_assert_true (isinf (out[1]) && out[1] < 0);
  g_assert_cmpfloat (out[3], ==, 1e-3f);

  const int64_t i64[3] = { -5, 1 << 24, 49407 };
  memcpy (buf + 1, i64, sizeof i64);
  clip_convert_to_f32 (CLIP_DTYPE_I64, buf + 1, 3, out);
  g_assert_cmpfloat (out[0], ==, -5.0f);
  g_assert_cmpfloat (out[1], ==, 16777216.0f);
  g_assert_cmpfloat (out[2], ==, 49407.0f);

  const int32_t i32[2] = { -7, 100000 };
  memcpy (buf + 1, i32, sizeof i32);
  clip_convert_to_f32 (CLIP_DTYPE_I32, buf + 1, 2, out);
  g_assert_cmpfloat (out[0], ==, -7.0f);
  g_assert_cmpfloat (out[1], ==, 100000.0f);

  const int16_t i16[2] = { -32768, 32767 };
  memcpy (buf + 1, i16, sizeof i16);
  clip_convert_to_f32 (CLIP_DTYPE_I16, buf + 1, 2, out);
  g_assert_cmpfloat (out[0], ==, -32768.0f);
  g_assert_cmpfloat (out[1], ==, 32767.0f);

  const int8_t i8[2] = { -128, 127 };
  clip_convert_to_f32 (CLIP_DTYPE_I8, i8, 2, out);
  g_assert_cmpfloat (out[0], ==, -128.0f);
  g_assert_cmpfloat (out[1], ==, 127.0f);

  const uint8_t u8[2] = { 0, 255 };
  clip_convert_to_f32 (CLIP_DTYPE_U8, u8, 2, out);
  g_assert_cmpfloat (out[1], ==, 255.0f);

  const uint8_t flags[3] = { 0, 1, 7 };
  clip_convert_to_f32 (CLIP_DTYPE_BOOL, flags, 3, out);
  g_assert_cmpfloat (out[0], ==, 0.0f);
  g_assert_cmpfloat (out[1], ==, 1.0f);
  g_assert_cmpfloat (out[2], ==, 1.0f);

  const float f32[2] = { 1.25f, -3.5f };
  float f32_back[2];
  clip_convert_from_f32 (CLIP_DTYPE_F32, f32, 2, f32_back);
  clip_convert_to_f32 (CLIP_DTYPE_F32, f32_back, 2, out);
  g_assert_cmpmem (out, 8, f32, 8);
}

/* ---------------------------------------------------------------- malformed files */

typedef struct
{
  const char   *test_name;
  const char   *header;
  guint64       declared_len;  /* G_MAXUINT64: the header's real length */
  size_t        data_len;
  ClipErrorCode code;
  const char   *needle;
} BadCase;

#define F32_A "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"
#define REAL G_MAXUINT64

static const BadCase bad_cases[] = {
  { "header-past-end", "{}", 100, 0, CLIP_ERROR_FORMAT, "header length 100 exceeds the file size 10" },
  { "header-zero", "", 0, 0, CLIP_ERROR_FORMAT, "header length is 0" },
  { "header-2p63", "{}", G_GUINT64_CONSTANT (1) << 63, 0, CLIP_ERROR_LIMIT,
    "header length 9223372036854775808 exceeds the limit of 100000000 bytes" },
  { "header-over-limit", "{}", 100000001, 0, CLIP_ERROR_LIMIT, "header length 100000001 exceeds the limit" },
  { "utf8", "{\"a\xff\": 1}", REAL, 0, CLIP_ERROR_FORMAT, "header is not valid UTF-8 (byte 3" },
  { "json", "{\"a\": }", REAL, 0, CLIP_ERROR_FORMAT, "header is not valid JSON" },
  { "json-trailing-garbage", "{} x", REAL, 0, CLIP_ERROR_FORMAT, "header is not valid JSON" },
  { "json-empty", "    ", REAL, 0, CLIP_ERROR_FORMAT, "header holds no JSON value" },
  { "not-object", "[1, 2]", REAL, 0, CLIP_ERROR_FORMAT, "header JSON is an array, not an object" },
  { "escaped-nul", "{\"a\\u0000b\": 1}", REAL, 0, CLIP_ERROR_FORMAT, "escaped NUL character" },
  { "duplicate-name", "{" F32_A ",\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", REAL, 8,
    CLIP_ERROR_FORMAT, "duplicate tensor name 'a'" },
  { "duplicate-field", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,4]}}", REAL, 4,
    CLIP_ERROR_FORMAT, "tensor 'a': duplicate field 'dtype'" },
  { "duplicate-metadata-key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", REAL, 0, CLIP_ERROR_FORMAT,
    "duplicate __metadata__ key 'k'" },
  { "overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", REAL, 12, CLIP_ERROR_FORMAT,
    "tensor 'b' [4, 12] overlaps tensor 'a' [0, 8]" },
  { "same-range", "{" F32_A ",\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", REAL, 4,
    CLIP_ERROR_FORMAT, "tensor 'b' [0, 4] overlaps tensor 'a' [0, 4]" },
  { "gap", "{" F32_A ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", REAL, 12,
    CLIP_ERROR_FORMAT, "gap before tensor 'b': it begins at 8 but tensor 'a' ends at 4" },
  { "first-not-zero", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", REAL, 8,
    CLIP_ERROR_FORMAT, "tensor 'a': data begins at 4, not 0" },
  { "truncated", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", REAL, 8,
    CLIP_ERROR_FORMAT, "tensor 'a' ends at data byte 16, past the end of the file, which holds 8 bytes of data (truncated?)" },
  { "trailing", "{" F32_A "}", REAL, 9, CLIP_ERROR_FORMAT, "5 trailing bytes after the data" },
  { "trailing-no-tensors", "{}", REAL, 3, CLIP_ERROR_FORMAT, "3 trailing bytes after the data" },
  { "unknown-dtype", "{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", REAL, 4,
    CLIP_ERROR_FORMAT, "tensor 'a': unknown dtype 'Q7'" },
  { "unsupported-dtype", "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", REAL, 4,
    CLIP_ERROR_UNSUPPORTED, "tensor 'a': dtype F8_E4M3 is not supported" },
  { "dtype-not-string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", REAL, 4,
    CLIP_ERROR_FORMAT, "tensor 'a': dtype is 4, not a string" },
  { "negative-dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1,2],\"data_offsets\":[0,4]}}", REAL, 4,
    CLIP_ERROR_FORMAT, "tensor 'a': shape[0] is -1, not a non-negative integer" },
  { "float-dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", REAL, 4,
    CLIP_ERROR_FORMAT, "tensor 'a': shape[0] is 1.0, not a non-negative integer" },
  { "huge-dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551614],\"data_offsets\":[0,4]}}", REAL, 4,
    CLIP_ERROR_FORMAT, "tensor 'a': shape[0] is -2, not a non-negative integer" },
  { "negative-offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", REAL, 4,
    CLIP_ERROR_FORMAT, "tensor 'a': data_offsets[0] is -4, not a non-negative integer" },
  { "offsets-reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", REAL, 8,
    CLIP_ERROR_FORMAT, "tensor 'a': data_offsets [8, 4] end before they begin" },
  { "offsets-not-pair", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", REAL, 4,
    CLIP_ERROR_FORMAT, "tensor 'a': data_offsets is not an array [begin, end]" },
  { "shape-overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,9223372036854775807],\"data_offsets\":[0,0]}}",
    REAL, 0, CLIP_ERROR_FORMAT, "tensor 'a': shape [2, 9223372036854775807] has too many elements (64-bit overflow)" },
  { "bytes-overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}",
    REAL, 0, CLIP_ERROR_FORMAT, "tensor 'a': F32 [4611686018427387904] is too many bytes (overflow)" },
  { "size-mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", REAL, 12,
    CLIP_ERROR_FORMAT, "tensor 'a': data_offsets [0, 12] hold 12 bytes but F32 [2, 2] needs 16" },
  { "missing-field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", REAL, 0, CLIP_ERROR_FORMAT,
    "tensor 'a': missing field 'data_offsets'" },
  { "extra-field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"name\":\"x\"}}", REAL, 4,
    CLIP_ERROR_FORMAT, "tensor 'a': unexpected field 'name'" },
  { "entry-not-object", "{\"a\":3}", REAL, 0, CLIP_ERROR_FORMAT, "tensor 'a': entry is 3, not an object" },
  { "too-many-dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", REAL, 4,
    CLIP_ERROR_LIMIT, "tensor 'a': shape has 9 dimensions, more than 8" },
  { "metadata-non-string", "{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3}}", REAL, 0, CLIP_ERROR_FORMAT,
    "__metadata__ value of 'epoch' is 3, not a string" },
  { "metadata-not-object", "{\"__metadata__\":[\"pt\"]," F32_A "}", REAL, 4, CLIP_ERROR_FORMAT,
    "__metadata__ is an array, not an object of strings" },
};

static void
test_bad_case (gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr (GByteArray) bytes = make_file (c->header, c->declared_len == REAL ? strlen (c->header) : c->declared_len,
                                            c->data_len);
  expect_error (bytes, c->code, c->needle);
}

static void
test_bad_short (void)
{
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  g_byte_array_append (bytes, (const guint8 *) "\x02\0\0", 3);
  expect_error (bytes, CLIP_ERROR_FORMAT, "file is 3 bytes, too short for the 8-byte header length");
  g_byte_array_set_size (bytes, 0);
  expect_error (bytes, CLIP_ERROR_FORMAT, "file is 0 bytes");
}

/* json-glib 1.6 would recurse 100000 deep on this; the pre-scan refuses it first. */
static void
test_bad_depth_bomb (void)
{
  g_autofree char *bomb = g_strnfill (100000, '[');
  g_autoptr (GByteArray) bytes = make_file (bomb, strlen (bomb), 0);
  expect_error (bytes, CLIP_ERROR_LIMIT, "JSON nests deeper than 64 levels (at byte 64)");

  /* Brackets inside strings do not count; 64 real levels are allowed. */
  g_autoptr (GString) deep = g_string_new ("{\"__metadata__\":{\"[[[[{{{{\":\"]]}}{{{{{{{{{{{{{{{{{{{{\"},\"x\":");
  for (int i = 0; i < 62; i++)
    g_string_append_c (deep, '[');
  for (int i = 0; i < 62; i++)
    g_string_append_c (deep, ']');
  g_string_append_c (deep, '}');
  g_autoptr (GByteArray) ok = make_file (deep->str, deep->len, 0);
  expect_error (ok, CLIP_ERROR_FORMAT, "tensor 'x': entry is an array, not an object");
}

static void
test_bad_too_many_tensors (void)
{
  g_autoptr (GString) header = g_string_new ("{");
  for (int i = 0; i <= CLIP_MAX_TENSORS; i++)
    g_string_append_printf (header, "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
                            i > 0 ? "," : "", i);
  g_string_append_c (header, '}');
  g_autoptr (GByteArray) bytes = make_file (header->str, header->len, 0);
  expect_error (bytes, CLIP_ERROR_LIMIT, "65537 tensors exceed the limit of 65536");
}

static void
test_bad_missing_file (void)
{
  g_autofree char *path = g_build_filename (tu_tmpdir (), "does-not-exist.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_null (clip_safetensors_open (path, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_assert_nonnull (strstr (error->message, "No such file"));

  g_autoptr (GError) dir_error = NULL;
  g_assert_null (clip_safetensors_open (tu_tmpdir (), &dir_error));
  g_assert_error (dir_error, CLIP_ERROR, CLIP_ERROR_IO);
  g_assert_nonnull (strstr (dir_error->message, "not a regular file"));
}

/* ---------------------------------------------------------------- writer */

static void
write_one (const char *path, const char *name, const float *values, int64_t n)
{
  g_autoptr (ClipStWriter) w = clip_st_writer_new ();
  clip_st_writer_add (w, name, CLIP_DTYPE_F32, 1, &n, values);
  g_autoptr (GError) error = NULL;
  g_assert_true (clip_st_writer_write (w, path, &error));
  g_assert_no_error (error);
}

static void
assert_holds (const char *path, const char *name, const float *values, int64_t n)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ClipSafetensors) st = clip_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_safetensors_n_tensors (st), ==, 1);
  const ClipStTensor *t = clip_safetensors_find (st, name);
  g_assert_nonnull (t);
  g_assert_cmpmem (t->data, t->n_bytes, values, (size_t) n * sizeof (float));
}

static void
test_writer_refuses (void)
{
  g_autofree char *dir = test_dir ("writer-refuses");
  g_autofree char *path = g_build_filename (dir, "out.safetensors", NULL);
  const float v[2] = { 1, 2 };
  const int64_t shape[1] = { 2 };
  static const struct { const char *first, *second, *needle; } cases[] = {
    { "w", "__metadata__", "tensor '__metadata__': the name is reserved for the metadata" },
    { "w", "w", "duplicate tensor name 'w'" },
  };
  for (unsigned i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (ClipStWriter) w = clip_st_writer_new ();
      clip_st_writer_add (w, cases[i].first, CLIP_DTYPE_F32, 1, shape, v);
      clip_st_writer_add (w, cases[i].second, CLIP_DTYPE_F32, 1, shape, v);
      g_autoptr (GError) error = NULL;
      g_assert_false (clip_st_writer_write (w, path, &error));
      g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
      g_assert_true (g_str_has_prefix (error->message, path));
      g_assert_nonnull (strstr (error->message, cases[i].needle));
    }
  const int64_t negative[1] = { -2 };
  g_autoptr (ClipStWriter) w = clip_st_writer_new ();
  clip_st_writer_add (w, "n", CLIP_DTYPE_F32, 1, negative, v);
  g_autoptr (GError) error = NULL;
  g_assert_false (clip_st_writer_write (w, path, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "tensor 'n': negative dimension -2"));

  g_autofree char *listing = list_dir (dir);
  g_assert_cmpstr (listing, ==, "");  /* nothing written, no temporary left */
}

static void
test_writer_overwrite (void)
{
  g_autofree char *dir = test_dir ("writer-overwrite");
  g_autofree char *path = g_build_filename (dir, "model.safetensors", NULL);
  const float old_values[3] = { 1, 2, 3 };
  const float new_values[5] = { -1, -2, -3, -4, -5 };
  write_one (path, "old", old_values, 3);
  assert_holds (path, "old", old_values, 3);
  write_one (path, "new", new_values, 5);
  assert_holds (path, "new", new_values, 5);
  g_autofree char *listing = list_dir (dir);
  g_assert_cmpstr (listing, ==, "model.safetensors");
}

static void
test_writer_missing_dir (void)
{
  g_autofree char *path = g_build_filename (tu_tmpdir (), "no-such-dir", "model.safetensors", NULL);
  const float v[1] = { 1 };
  const int64_t n = 1;
  g_autoptr (ClipStWriter) w = clip_st_writer_new ();
  clip_st_writer_add (w, "v", CLIP_DTYPE_F32, 1, &n, v);
  g_autoptr (GError) error = NULL;
  g_assert_false (clip_st_writer_write (w, path, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_IO);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_assert_nonnull (strstr (error->message, "No such file or directory"));
}

/* The rename fails (the target is a non-empty directory) after the temporary file was written:
 * it must be removed. */
static void
test_writer_rename_fails (void)
{
  g_autofree char *dir = test_dir ("writer-rename-fails");
  g_autofree char *target = g_build_filename (dir, "target", NULL);
  g_autofree char *inside = g_build_filename (target, "keep", NULL);
  g_assert_cmpint (g_mkdir (target, 0755), ==, 0);
  tu_write_file (inside, "x", 1);
  const float v[1] = { 1 };
  const int64_t n = 1;
  g_autoptr (ClipStWriter) w = clip_st_writer_new ();
  clip_st_writer_add (w, "v", CLIP_DTYPE_F32, 1, &n, v);
  g_autoptr (GError) error = NULL;
  g_assert_false (clip_st_writer_write (w, target, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_IO);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "cannot replace"));
  g_autofree char *listing = list_dir (dir);
  g_assert_cmpstr (listing, ==, "target");
}

/* A write that fails halfway (the file-size limit stands in for a full disk) leaves the old file
 * intact and no temporary behind. */
static void
test_writer_fails_midway (void)
{
  g_autofree char *dir = test_dir ("writer-fails-midway");
  g_autofree char *path = g_build_filename (dir, "model.safetensors", NULL);
  const float old_values[2] = { 7, 8 };
  write_one (path, "old", old_values, 2);

  enum { N_BIG = 64 * 1024 };
  g_autofree float *big = g_new0 (float, N_BIG);
  struct rlimit saved, limit;
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  limit = saved;
  limit.rlim_cur = 64 * 1024;  /* a quarter of the new file */
  void (*old_handler) (int) = signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limit), ==, 0);

  g_autoptr (ClipStWriter) w = clip_st_writer_new ();
  int64_t n = N_BIG;
  clip_st_writer_add (w, "big", CLIP_DTYPE_F32, 1, &n, big);
  g_autoptr (GError) error = NULL;
  gboolean ok = clip_st_writer_write (w, path, &error);

  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  signal (SIGXFSZ, old_handler);

  g_assert_false (ok);
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_IO);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_assert_nonnull (strstr (error->message, g_strerror (EFBIG)));
  assert_holds (path, "old", old_values, 2);
  g_autofree char *listing = list_dir (dir);
  g_assert_cmpstr (listing, ==, "model.safetensors");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/safetensors/round-trip", test_round_trip);
  g_test_add_func ("/safetensors/round-trip-empty", test_round_trip_empty);
  g_test_add_func ("/safetensors/whitespace-and-order", test_whitespace_and_order);
  g_test_add_func ("/safetensors/golden-tiny", test_golden_tiny);
  g_test_add_func ("/safetensors/convert/f16", test_f16);
  g_test_add_func ("/safetensors/convert/bf16", test_bf16);
  g_test_add_func ("/safetensors/convert/other", test_convert_other);
  g_test_add_func ("/safetensors/bad/short", test_bad_short);
  g_test_add_func ("/safetensors/bad/depth-bomb", test_bad_depth_bomb);
  g_test_add_func ("/safetensors/bad/too-many-tensors", test_bad_too_many_tensors);
  g_test_add_func ("/safetensors/bad/missing-file", test_bad_missing_file);
  for (unsigned i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *name = g_strconcat ("/safetensors/bad/", bad_cases[i].test_name, NULL);
      g_test_add_data_func (name, &bad_cases[i], test_bad_case);
    }
  g_test_add_func ("/safetensors/writer/refuses", test_writer_refuses);
  g_test_add_func ("/safetensors/writer/overwrite", test_writer_overwrite);
  g_test_add_func ("/safetensors/writer/missing-dir", test_writer_missing_dir);
  g_test_add_func ("/safetensors/writer/rename-fails", test_writer_rename_fails);
  g_test_add_func ("/safetensors/writer/fails-midway", test_writer_fails_midway);
  return g_test_run ();
}
