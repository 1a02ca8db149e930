/* image-resample.c — Pillow's 8-bit bicubic resize (Resample.c, ImagingResample with BICUBIC) and
 * CLIP's crop and normalisation arithmetic, reproduced bit for bit (clip-reference.md §4.1, §4.3).
 *
 * Pillow's recipe per axis: filter coefficients in double, normalised to sum 1, rounded half away
 * from zero to 22-bit fixed point; each sample = (2²¹ + Σ q·p) >> 22 clamped to 0..255.  The
 * horizontal pass runs first into an 8-bit intermediate, then the vertical pass; a pass whose size
 * does not change is skipped.  We compute only the requested output window, and of the intermediate
 * only the rows and columns that window reads: each output value depends on its own taps alone, so
 * this changes no value. */
#include "image-resample.h"

#include <math.h>
#include <string.h>

enum { PRECISION_BITS = 22 };

/* Keys' cubic with a = −0.5, support 2 (Pillow's bicubic_filter). */
static double
bicubic_kernel (double x)
{
  const double a = -0.5;
  if (x < 0.0)
    x = -x;
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0)
    return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/* The geometry of one axis: input length → output length, of which outputs [first, first + count)
 * are wanted.  Pillow's precompute_coeffs, expression for expression. */
typedef struct {
  int     in_len;
  int64_t out_len;
  int64_t first;
  int     count;
  double  scale;    /* input units per output sample */
  double  support;  /* filter half-width in input units */
  int     ksize;    /* weight slots per output sample */
} Axis;

static Axis
axis_make (int in_len, int64_t out_len, int64_t first, int count)
{
  Axis ax = { in_len, out_len, first, count, 0, 0, 0 };
  /* Pillow passes the source box as C floats: the span is float(in_len). */
  ax.scale = (double) (float) in_len / (double) out_len;
  double filterscale = ax.scale < 1.0 ? 1.0 : ax.scale;
  ax.support = 2.0 * filterscale;
  ax.ksize = (int) ceil (ax.support) * 2 + 1;
  return ax;
}

/* Input taps [*lo, *hi) of output sample I; returns its centre in input coordinates. */
static double
axis_taps (const Axis *ax, int64_t i, int *lo, int *hi)
{
  double center = ((double) i + 0.5) * ax->scale;
  int min = (int) (center - ax->support + 0.5);
  int max = (int) (center + ax->support + 0.5);
  *lo = min < 0 ? 0 : min;
  *hi = max > ax->in_len ? ax->in_len : max;
  return center;
}

/* Fills LO[count], N[count] and the fixed-point weights Q[count × ksize]. */
static void
axis_coefficients (const Axis *ax, int32_t *lo, int32_t *n, int32_t *q, double *w)
{
  double ss = 1.0 / (ax->scale < 1.0 ? 1.0 : ax->scale);
  for (int k = 0; k < ax->count; k++)
    {
      int min, max;
      double center = axis_taps (ax, ax->first + k, &min, &max);
      int taps = max - min;
      double sum = 0.0;
      for (int x = 0; x < taps; x++)
        {
          w[x] = bicubic_kernel (((double) (x + min) - center + 0.5) * ss);
          sum += w[x];
        }
      int32_t *qk = q + (size_t) k * (size_t) ax->ksize;
      for (int x = 0; x < taps; x++)
        {
          double v = sum != 0.0 ? w[x] / sum : w[x];
          v *= (double) (1 << PRECISION_BITS);
          qk[x] = (int32_t) (v < 0 ? v - 0.5 : v + 0.5);
        }
      lo[k] = min;
      n[k] = taps;
    }
}

/* (2²¹ + Σ q·p) >> 22 clamped to a byte.  |Σ q| stays near 2²² (normalised weights, small negative
 * lobes), so the sum fits int32 as in Pillow.  A negative sum clamps to 0 whatever the shift does. */
static inline uint8_t
fixed_to_u8 (int32_t acc)
{
  if (acc < 0)
    return 0;
  acc >>= PRECISION_BITS;
  return acc > 255 ? 255 : (uint8_t) acc;
}

/* Where each piece of the scratch memory goes; shared by the size query and the resampler. */
typedef struct {
  Axis    h, v;
  int     resize_h, resize_v;   /* passes that run */
  int     row_lo, row_hi;       /* input rows the horizontal pass produces */
  size_t  off_h_lo, off_h_n, off_h_q, off_v_lo, off_v_n, off_v_q, off_acc, off_w, off_tmp;
  size_t  total;
} Layout;

static size_t
layout_take (size_t *cursor, size_t bytes)
{
  size_t at = *cursor;
  *cursor += (bytes + 15) & ~(size_t) 15;
  return at;
}

static Layout
layout_make (int in_w, int in_h, int64_t out_w, int64_t out_h, int64_t win_x, int64_t win_y,
             int win_w, int win_h)
{
  Layout l;
  memset (&l, 0, sizeof l);
  l.resize_h = out_w != in_w;
  l.resize_v = out_h != in_h;
  l.h = axis_make (in_w, out_w, win_x, win_w);
  l.v = axis_make (in_h, out_h, win_y, win_h);
  if (l.resize_v)
    {
      int lo, hi;
      axis_taps (&l.v, win_y, &l.row_lo, &hi);
      axis_taps (&l.v, win_y + win_h - 1, &lo, &l.row_hi);
    }
  else
    {
      l.row_lo = (int) win_y;
      l.row_hi = (int) win_y + win_h;
    }

  size_t cursor = 0;
  size_t max_ksize = 0;
  if (l.resize_h)
    {
      l.off_h_lo = layout_take (&cursor, (size_t) win_w * sizeof (int32_t));
      l.off_h_n = layout_take (&cursor, (size_t) win_w * sizeof (int32_t));
      l.off_h_q = layout_take (&cursor, (size_t) win_w * (size_t) l.h.ksize * sizeof (int32_t));
      max_ksize = (size_t) l.h.ksize;
    }
  if (l.resize_v)
    {
      l.off_v_lo = layout_take (&cursor, (size_t) win_h * sizeof (int32_t));
      l.off_v_n = layout_take (&cursor, (size_t) win_h * sizeof (int32_t));
      l.off_v_q = layout_take (&cursor, (size_t) win_h * (size_t) l.v.ksize * sizeof (int32_t));
      l.off_acc = layout_take (&cursor, (size_t) win_w * 3 * sizeof (int32_t));
      if ((size_t) l.v.ksize > max_ksize)
        max_ksize = (size_t) l.v.ksize;
    }
  l.off_w = layout_take (&cursor, max_ksize * sizeof (double));
  if (l.resize_h && l.resize_v)
    l.off_tmp = layout_take (&cursor, (size_t) (l.row_hi - l.row_lo) * (size_t) win_w * 3);
  l.total = cursor;
  return l;
}

size_t
clip_resample_scratch_size (int in_w, int in_h, int64_t out_w, int64_t out_h,
                            int64_t win_x, int64_t win_y, int win_w, int win_h)
{
  return layout_make (in_w, in_h, out_w, out_h, win_x, win_y, win_w, win_h).total;
}

/* Horizontal pass over input rows [row_lo, row_hi): window columns into DST (stride count × 3). */
static void
resample_rows (const uint8_t *src, int in_w, int row_lo, int row_hi, const Axis *ax,
               const int32_t *lo, const int32_t *n, const int32_t *q, uint8_t *dst)
{
  const int32_t half = 1 << (PRECISION_BITS - 1);
  for (int y = row_lo; y < row_hi; y++)
    {
      const uint8_t *row = src + (size_t) y * (size_t) in_w * 3;
      uint8_t *out = dst + (size_t) (y - row_lo) * (size_t) ax->count * 3;
      for (int k = 0; k < ax->count; k++)
        {
          const uint8_t *p = row + (size_t) lo[k] * 3;
          const int32_t *qk = q + (size_t) k * (size_t) ax->ksize;
          int32_t r = half, g = half, b = half;
          for (int t = 0; t < n[k]; t++)
            {
              r += p[3 * t + 0] * qk[t];
              g += p[3 * t + 1] * qk[t];
              b += p[3 * t + 2] * qk[t];
            }
          out[3 * k + 0] = fixed_to_u8 (r);
          out[3 * k + 1] = fixed_to_u8 (g);
          out[3 * k + 2] = fixed_to_u8 (b);
        }
    }
}

/* Vertical pass: SRC holds rows starting at input row BASE_ROW with STRIDE bytes, WIDTH_BYTES used
 * per row.  Sums whole rows at a time (same order of terms per value as Pillow). */
static void
resample_columns (const uint8_t *src, size_t stride, int base_row, size_t width_bytes, const Axis *ax,
                  const int32_t *lo, const int32_t *n, const int32_t *q, int32_t *acc, uint8_t *dst)
{
  const int32_t half = 1 << (PRECISION_BITS - 1);
  for (int k = 0; k < ax->count; k++)
    {
      const int32_t *qk = q + (size_t) k * (size_t) ax->ksize;
      for (size_t b = 0; b < width_bytes; b++)
        acc[b] = half;
      for (int t = 0; t < n[k]; t++)
        {
          const uint8_t *row = src + (size_t) (lo[k] + t - base_row) * stride;
          int32_t w = qk[t];
          for (size_t b = 0; b < width_bytes; b++)
            acc[b] += row[b] * w;
        }
      uint8_t *out = dst + (size_t) k * width_bytes;
      for (size_t b = 0; b < width_bytes; b++)
        out[b] = fixed_to_u8 (acc[b]);
    }
}

void
clip_resample_bicubic_rgb8 (const uint8_t *src, int in_w, int in_h, int64_t out_w, int64_t out_h,
                            int64_t win_x, int64_t win_y, int win_w, int win_h,
                            void *scratch, uint8_t *dst)
{
  Layout l = layout_make (in_w, in_h, out_w, out_h, win_x, win_y, win_w, win_h);
  char *base = scratch;  /* may be NULL when both passes are skipped (no scratch needed) */
  size_t src_stride = (size_t) in_w * 3;
  size_t win_bytes = (size_t) win_w * 3;

  int32_t *h_lo = NULL, *h_n = NULL, *h_q = NULL;
  if (l.resize_h)
    {
      h_lo = (int32_t *) (base + l.off_h_lo);
      h_n = (int32_t *) (base + l.off_h_n);
      h_q = (int32_t *) (base + l.off_h_q);
      axis_coefficients (&l.h, h_lo, h_n, h_q, (double *) (base + l.off_w));
    }

  if (!l.resize_v)
    {
      if (l.resize_h)
        resample_rows (src, in_w, l.row_lo, l.row_hi, &l.h, h_lo, h_n, h_q, dst);
      else
        for (int y = 0; y < win_h; y++)
          memcpy (dst + (size_t) y * win_bytes,
                  src + (size_t) (win_y + y) * src_stride + (size_t) win_x * 3, win_bytes);
      return;
    }

  int32_t *v_lo = (int32_t *) (base + l.off_v_lo);
  int32_t *v_n = (int32_t *) (base + l.off_v_n);
  int32_t *v_q = (int32_t *) (base + l.off_v_q);
  axis_coefficients (&l.v, v_lo, v_n, v_q, (double *) (base + l.off_w));

  const uint8_t *rows;
  size_t rows_stride;
  if (l.resize_h)
    {
      uint8_t *tmp = (uint8_t *) (base + l.off_tmp);
      resample_rows (src, in_w, l.row_lo, l.row_hi, &l.h, h_lo, h_n, h_q, tmp);
      rows = tmp;
      rows_stride = win_bytes;
    }
  else
    {
      /* No horizontal pass: read the window's columns straight from the source. */
      rows = src + (size_t) l.row_lo * src_stride + (size_t) win_x * 3;
      rows_stride = src_stride;
    }
  resample_columns (rows, rows_stride, l.row_lo, win_bytes, &l.v, v_lo, v_n, v_q,
                    (int32_t *) (base + l.off_acc), dst);
}

void
clip_resize_shorter_side (int in_w, int in_h, int size, int64_t *out_w, int64_t *out_h)
{
  /* Python: int(size * long / short) — exact integer product, true division, truncation. */
  if (in_w <= in_h)
    {
      *out_w = size;
      *out_h = (int64_t) ((double) ((int64_t) size * in_h) / (double) in_w);
    }
  else
    {
      *out_h = size;
      *out_w = (int64_t) ((double) ((int64_t) size * in_w) / (double) in_h);
    }
}

int64_t
clip_center_crop_offset (int64_t in_len, int64_t crop_len)
{
  int64_t diff = in_len - crop_len;
  int64_t half = diff / 2;
  /* An odd difference puts the exact offset at half + 0.5: Python's round() picks the even side. */
  if (diff % 2 != 0 && half % 2 != 0)
    half += diff > 0 ? 1 : -1;
  return half;
}

void
clip_normalize_rgb8_chw (const uint8_t *hwc, size_t n_pixels, const float mean[3], const float std[3],
                         float *chw)
{
  float table[3][256];
  for (int c = 0; c < 3; c++)
    for (int v = 0; v < 256; v++)
      {
        /* Separate float assignments: each step rounds to float32 as torch does. */
        float x = (float) v / 255.0f;
        float centred = x - mean[c];
        table[c][v] = centred / std[c];
      }
  for (int c = 0; c < 3; c++)
    {
      float *plane = chw + (size_t) c * n_pixels;
      for (size_t i = 0; i < n_pixels; i++)
        plane[i] = table[c][hwc[3 * i + c]];
    }
}
