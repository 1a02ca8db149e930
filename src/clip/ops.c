/* ops.c — forward and, beside each, backward passes of the building blocks.
 *
 * Speed: training's matrix products go to OpenBLAS, inference's to the panel kernel below
 * (clip_packed_linear_forward); everything else is written as loops the compiler vectorises (this file is built with -O3 and OpenMP SIMD pragmas, which only allow reductions to be
 * vectorised and need no OpenMP runtime).  CLIP_KERNEL functions are compiled three times, for
 * x86-64-v4 (AVX-512), x86-64-v3 (AVX2, FMA) and the baseline, and the loader picks the best one
 * the CPU runs. */
#include "ops.h"
#include "ops-reduced.h"   /* clip_isa_limit */

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* CLIP_NO_CLONES: one build for the compiler's -march, so that tests can run each instruction set. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && !defined(CLIP_NO_CLONES)
#define CLIP_KERNEL __attribute__ ((target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLIP_KERNEL
#endif

/* Column sums over many rows accumulate in double, this many columns at a time (on the stack). */
#define COLUMN_CHUNK 64
/* Partial sums kept side by side in vectorised loops: a multiple of every SIMD width (4, 8, 16 floats). */
#define LANES 16

/* ------------------------------------------------------------------ linear */

void
clip_matmul_forward (float *out, const float *inp, const float *weight, int n, int in_dim, int out_dim,
                     int accumulate)
{
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, out_dim, in_dim,
               1.0f, inp, in_dim, weight, in_dim, accumulate ? 1.0f : 0.0f, out, out_dim);
}

void
clip_linear_forward (float *out, const float *inp, const float *weight, const float *bias,
                     int n, int in_dim, int out_dim)
{
  if (bias != NULL)
    for (int i = 0; i < n; i++)
      memcpy (out + (int64_t) i * out_dim, bias, sizeof (float) * out_dim);
  clip_matmul_forward (out, inp, weight, n, in_dim, out_dim, bias != NULL);
}

/* ------------------------------------------------------------------ packed products */

/* Vectors of 16, 8 and 4 floats: one AVX-512, AVX2 or SSE register.  Each clone computes with its
 * own width: wider vectors in a narrower clone are split through memory, which made the AVX2
 * clone's products 50 times slower than the AVX-512 one's. */
typedef float Vec16 __attribute__ ((vector_size (64), aligned (4)));
typedef float Vec8 __attribute__ ((vector_size (32), aligned (4)));
typedef float Vec4 __attribute__ ((vector_size (16), aligned (4)));
/* Rows of a register block: 6 rows × 2 vectors of accumulators, plus the two panel vectors and a
 * broadcast, fill 16 registers; a panel's 32 columns then take 2 passes (AVX2) or 4 (SSE).  With
 * AVX-512's 32 registers, 10 rows × 32 columns in one pass: a panel passes over fewer blocks (one
 * image's 50 rows make 5), and each weight vector loaded serves more sums (one image's float32
 * pass: 4 % less CPU time on a Sapphire Rapids). */
#define BLOCK_ROWS 6
#define BLOCK_ROWS_AVX512 10
/* At most this many input rows are processed against all of a thread's panels before the next
 * rows: 64 rows of a 3072-wide input are 786 KB, which stay in cache while the panels stream from
 * memory.  The rows are split evenly (50 rows make one chunk, not 48 and then 2, which would stream
 * the panels a second time for two rows). */
#define ROW_CHUNK 64

int64_t
clip_packed_floats (int in_dim, int out_dim)
{
  return (int64_t) ((out_dim + CLIP_PANEL - 1) / CLIP_PANEL) * CLIP_PANEL * in_dim;
}

void
clip_pack_weight (float *packed, const float *weight, int in_dim, int out_dim, int col0)
{
  for (int c0 = col0 - col0 % CLIP_PANEL; c0 < col0 + out_dim; c0 += CLIP_PANEL)
    {
      float *panel = packed + (int64_t) (c0 / CLIP_PANEL) * in_dim * CLIP_PANEL;
      int first = c0 < col0 ? col0 - c0 : 0;
      int last = col0 + out_dim - c0 < CLIP_PANEL ? col0 + out_dim - c0 : CLIP_PANEL;
      for (int k = 0; k < in_dim; k++)
        for (int lane = first; lane < last; lane++)
          panel[(int64_t) k * CLIP_PANEL + lane] = weight[(int64_t) (c0 + lane - col0) * in_dim + k];
    }
}

void
clip_unpack_weight (float *weight, const float *packed, int in_dim, int out_dim, int col0)
{
  for (int col = 0; col < out_dim; col++)
    {
      int c = col0 + col;
      const float *panel = packed + (int64_t) (c / CLIP_PANEL) * in_dim * CLIP_PANEL;
      for (int k = 0; k < in_dim; k++)
        weight[(int64_t) col * in_dim + k] = panel[(int64_t) k * CLIP_PANEL + c % CLIP_PANEL];
    }
}

/* Partial sums over this many inputs are added to the row totals: summing in blocks keeps the
 * rounding error near OpenBLAS's (one running sum over 3072 products doubled the golden errors). */
#define SUM_BLOCK 128

/* TOTALS [ROWS][CLIP_PANEL] += inp[ROWS, K0 … K1) · panel[K0 … K1), or = when K0 is 0 (zeroing the
 * totals first cost 4 % of a pass): ROWS (a constant) rows, their sums over these inputs in
 * registers, in passes of two vectors of VEC's width over the columns.
 * Meanwhile the first PREFETCH_ITERS iterations each ask for two lines from PREFETCH on: at one image
 * a panel is read from memory once and used by a few blocks, and without asking ahead the products
 * waited for it (one image's float32 pass: 15 % of its time).  Every width adds the same products
 * in the same order. */
#define DEFINE_BLOCK_SUMS(NAME, Vec)                                                                           \
  static inline __attribute__ ((always_inline)) void                                                           \
  NAME (float *totals, const float *inp, int in_dim, const float *panel, int k0, int k1, const int rows,       \
        const char *prefetch, int prefetch_iters)                                                              \
  {                                                                                                            \
    const int width = (int) (sizeof (Vec) / sizeof (float));                                                   \
    for (int h = 0; h < CLIP_PANEL; h += 2 * width)                                                            \
      {                                                                                                        \
        Vec acc[BLOCK_ROWS_AVX512][2];                                                                         \
        for (int r = 0; r < rows; r++)                                                                         \
          acc[r][0] = acc[r][1] = (Vec) { 0 };                                                                 \
        for (int k = k0; k < k1; k++)                                                                          \
          {                                                                                                    \
            if (h == 0 && k - k0 < prefetch_iters)                                                             \
              {                                                                                                \
                __builtin_prefetch (prefetch + (int64_t) (k - k0) * 128, 0, 2);                                \
                __builtin_prefetch (prefetch + (int64_t) (k - k0) * 128 + 64, 0, 2);                           \
              }                                                                                                \
            Vec w0 = *(const Vec *) (panel + (int64_t) k * CLIP_PANEL + h);                                    \
            Vec w1 = *(const Vec *) (panel + (int64_t) k * CLIP_PANEL + h + width);                            \
            for (int r = 0; r < rows; r++)                                                                     \
              {                                                                                                \
                float a = inp[(int64_t) r * in_dim + k];                                                       \
                acc[r][0] += a * w0;                                                                           \
                acc[r][1] += a * w1;                                                                           \
              }                                                                                                \
          }                                                                                                    \
        for (int r = 0; r < rows; r++)                                                                         \
          for (int j = 0; j < 2; j++)                                                                          \
            {                                                                                                  \
              Vec *total = (Vec *) (totals + r * CLIP_PANEL + h + j * width);                                  \
              *total = k0 == 0 ? acc[r][j] : *total + acc[r][j];                                               \
            }                                                                                                  \
      }                                                                                                        \
  }
DEFINE_BLOCK_SUMS (block_sums_16, Vec16)
DEFINE_BLOCK_SUMS (block_sums_8, Vec8)
DEFINE_BLOCK_SUMS (block_sums_4, Vec4)
#undef DEFINE_BLOCK_SUMS

/* The block sums of WIDTH (a constant: 16, 8 or 4 floats a vector). */
static inline __attribute__ ((always_inline)) void
block_sums (float *totals, const float *inp, int in_dim, const float *panel, int k0, int k1, const int rows,
            const char *prefetch, int prefetch_iters, const int width)
{
  if (width == 16)
    block_sums_16 (totals, inp, in_dim, panel, k0, k1, rows, prefetch, prefetch_iters);
  else if (width == 8)
    block_sums_8 (totals, inp, in_dim, panel, k0, k1, rows, prefetch, prefetch_iters);
  else
    block_sums_4 (totals, inp, in_dim, panel, k0, k1, rows, prefetch, prefetch_iters);
}

/* block_sums for the last ROWS (fewer than a block) of a chunk, each count its own constant so that
 * its sums stay in registers too. */
static inline __attribute__ ((always_inline)) void
rest_sums (float *totals, const float *inp, int in_dim, const float *panel, int k0, int k1, int rows,
           const char *prefetch, int prefetch_iters, const int width)
{
  switch (rows)
    {
#define REST_CASE(R)                                                                                           \
  case R:                                                                                                      \
    block_sums (totals, inp, in_dim, panel, k0, k1, R, prefetch, prefetch_iters, width);                       \
    break;
      REST_CASE (1) REST_CASE (2) REST_CASE (3) REST_CASE (4) REST_CASE (5)
      REST_CASE (6) REST_CASE (7) REST_CASE (8) REST_CASE (9)
#undef REST_CASE
    default:
      break;
    }
}

/* clip_packed_linear_forward with blocks of BLOCK rows and vectors of WIDTH floats (constants).  For
 * each chunk of rows and each panel, the sums run over SUM_BLOCK inputs at a time for every block of
 * the chunk, so that this slice of the panel (16 KB) is read from cache by all but the first block;
 * the slice after it is asked for meanwhile, its lines shared out between the blocks. */
static inline __attribute__ ((always_inline)) void
packed_linear_blocks (float *out, int ldo, const float *inp, const float *packed, const float *bias, int n,
                      int in_dim, int out_dim, int add, int activation, int p0, int p1, const int block,
                      const int width)
{
  float totals[ROW_CHUNK * CLIP_PANEL] __attribute__ ((aligned (64)));
  int n_chunks = (n + ROW_CHUNK - 1) / ROW_CHUNK;
  int chunk = n_chunks > 0 ? (n + n_chunks - 1) / n_chunks : 0;
  /* Whole blocks where the rows allow it: 800 rows make chunks of 60, not of 62 ending in 2. */
  chunk = (chunk + block - 1) / block * block;
  if (chunk > ROW_CHUNK)
    chunk = ROW_CHUNK / block * block;
  const char *panels_end = (const char *) (packed + (int64_t) p1 * in_dim * CLIP_PANEL);
  for (int i0 = 0; i0 < n; i0 += chunk)
    {
      int i1 = n - i0 < chunk ? n : i0 + chunk;
      int n_blocks = (i1 - i0 + block - 1) / block;
      for (int p = p0; p < p1; p++)
        {
          int c0 = p * CLIP_PANEL, cols = out_dim - c0 < CLIP_PANEL ? out_dim - c0 : CLIP_PANEL;
          const float *panel = packed + (int64_t) p * in_dim * CLIP_PANEL;
          for (int k0 = 0; k0 < in_dim; k0 += SUM_BLOCK)
            {
              int k1 = in_dim - k0 < SUM_BLOCK ? in_dim : k0 + SUM_BLOCK;
              /* The panels lie end to end: past this one's last slice comes the next panel's first. */
              const char *next = (const char *) (panel + (int64_t) k1 * CLIP_PANEL);
              int slice_iters = (k1 - k0) * CLIP_PANEL * (int) sizeof (float) / 128;
              int share = next < panels_end ? (slice_iters + n_blocks - 1) / n_blocks : 0;
              int i = i0;
              for (int b = 0; i < i1; i += block, b++)
                {
                  float *block_totals = totals + (i - i0) * CLIP_PANEL;
                  const char *prefetch = next + (int64_t) b * share * 128;
                  if (i1 - i >= block)
                    block_sums (block_totals, inp + (int64_t) i * in_dim, in_dim, panel, k0, k1, block, prefetch,
                                share, width);
                  else
                    rest_sums (block_totals, inp + (int64_t) i * in_dim, in_dim, panel, k0, k1, i1 - i, prefetch,
                               share, width);
                }
            }
          /* The activation inline, as in clip_reduced_store: a call per row of 32 values cost as
           * much as the activation. */
          for (int i = i0; i < i1; i++)
            {
              float *row = out + (int64_t) i * ldo + c0;
              const float *sums = totals + (i - i0) * CLIP_PANEL;
              for (int c = 0; c < cols; c++)
                {
                  float base = add ? row[c] : 0.0f;
                  if (bias != NULL)
                    base += bias[c0 + c];
                  row[c] = base + sums[c];
                }
              if (activation == CLIP_PACKED_QUICK_GELU)
                for (int c = 0; c < cols; c++)
                  row[c] = clip_quick_gelu (row[c]);
              else if (activation == CLIP_PACKED_GELU)
                for (int c = 0; c < cols; c++)
                  row[c] = clip_gelu (row[c]);
            }
        }
    }
}

/* Floats per vector of the panel kernel: the width of the clone this CPU runs (every clone holds
 * every width), or a narrower one when CLIPLAB_KERNEL_ISA caps it (the AVX2 kernel timed on an
 * AVX-512 CPU then runs in the AVX-512 clone, with its 6-row blocks). */
static int
panel_width (void)
{
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && !defined(CLIP_NO_CLONES)
  __builtin_cpu_init ();
  ClipIsa limit = clip_isa_limit ();
  if (__builtin_cpu_supports ("x86-64-v4") && limit >= CLIP_ISA_AVX512)
    return 16;
  if (__builtin_cpu_supports ("x86-64-v3") && limit >= CLIP_ISA_AVX2)
    return 8;
  return 4;
#elif defined(__AVX512F__)
  return 16;
#elif defined(__AVX__)
  return 8;
#else
  return 4;
#endif
}

CLIP_KERNEL void
clip_packed_linear_forward (float *out, int ldo, const float *inp, const float *packed, const float *bias,
                            int n, int in_dim, int out_dim, int add, int activation, int p0, int p1)
{
  switch (panel_width ())
    {
    case 16:
      packed_linear_blocks (out, ldo, inp, packed, bias, n, in_dim, out_dim, add, activation, p0, p1,
                            BLOCK_ROWS_AVX512, 16);
      break;
    case 8:
      packed_linear_blocks (out, ldo, inp, packed, bias, n, in_dim, out_dim, add, activation, p0, p1, BLOCK_ROWS, 8);
      break;
    default:
      packed_linear_blocks (out, ldo, inp, packed, bias, n, in_dim, out_dim, add, activation, p0, p1, BLOCK_ROWS, 4);
      break;
    }
}

const char *
clip_packed_kernel_name (void)
{
  switch (panel_width ())
    {
    case 16:
      return "f32-panels-avx512";
    case 8:
      return "f32-panels-avx2";
    default:
      return "f32-panels-baseline";
    }
}

CLIP_KERNEL void
clip_bias_add_forward (float *x, const float *bias, int n, int dim)
{
  for (int i = 0; i < n; i++)
    {
      float *row = x + (int64_t) i * dim;
      for (int j = 0; j < dim; j++)
        row[j] += bias[j];
    }
}

/* Differentiates out = inp · weightᵀ + bias. */
CLIP_KERNEL void
clip_linear_backward (float *dinp /* [n, in] */, float *dweight /* [out, in] */, float *dbias /* [out] */,
                      const float *dout /* [n, out] */, const float *inp /* [n, in] */,
                      const float *weight /* [out, in] */, int n, int in_dim, int out_dim)
{
  if (dinp != NULL)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in_dim, out_dim,
                 1.0f, dout, out_dim, weight, in_dim, 1.0f, dinp, in_dim);
  if (dweight != NULL)
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in_dim, n,
                 1.0f, dout, out_dim, inp, in_dim, 1.0f, dweight, in_dim);
  if (dbias != NULL)
    for (int o0 = 0; o0 < out_dim; o0 += COLUMN_CHUNK)
      {
        int width = out_dim - o0 < COLUMN_CHUNK ? out_dim - o0 : COLUMN_CHUNK;
        double acc[COLUMN_CHUNK] = { 0 };
        for (int i = 0; i < n; i++)
          {
            const float *row = dout + (int64_t) i * out_dim + o0;
            for (int j = 0; j < width; j++)
              acc[j] += row[j];
          }
        for (int j = 0; j < width; j++)
          dbias[o0 + j] += (float) acc[j];
      }
}

/* ------------------------------------------------------------------ layernorm */

CLIP_KERNEL void
clip_layernorm_forward (float *out, float *mean, float *rstd, const float *inp,
                        const float *weight, const float *bias, int n, int dim, float eps)
{
  for (int i = 0; i < n; i++)
    {
      const float *x = inp + (int64_t) i * dim;
      float *y = out + (int64_t) i * dim;
      double sum = 0;
#pragma omp simd reduction(+:sum)
      for (int j = 0; j < dim; j++)
        sum += x[j];
      double m = sum / dim;
      double var = 0;
#pragma omp simd reduction(+:var)
      for (int j = 0; j < dim; j++)
        {
          double c = x[j] - m;
          var += c * c;
        }
      double s = 1.0 / sqrt (var / dim + eps);
      float m_f = (float) m, s_f = (float) s;
      for (int j = 0; j < dim; j++)
        y[j] = (x[j] - m_f) * s_f * weight[j] + bias[j];
      if (mean != NULL)
        mean[i] = m_f;
      if (rstd != NULL)
        rstd[i] = s_f;
    }
}

/* Differentiates y[j] = (x[j] − mean) · rstd · weight[j] + bias[j]: with x̂ = (x − mean)·rstd and
 * g = dout·weight, dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)). */
CLIP_KERNEL void
clip_layernorm_backward (float *dinp /* [n, dim] */, float *dweight /* [dim] */, float *dbias /* [dim] */,
                         const float *dout /* [n, dim] */, const float *inp /* [n, dim] */,
                         const float *weight /* [dim] */, const float *mean /* [n] */,
                         const float *rstd /* [n] */, int n, int dim)
{
  if (dinp != NULL)
    for (int i = 0; i < n; i++)
      {
        const float *x = inp + (int64_t) i * dim, *dy = dout + (int64_t) i * dim;
        float *dx = dinp + (int64_t) i * dim;
        double m = mean[i], s = rstd[i], g_mean = 0, gx_mean = 0;
#pragma omp simd reduction(+:g_mean, gx_mean)
        for (int j = 0; j < dim; j++)
          {
            double g = (double) dy[j] * weight[j];
            g_mean += g;
            gx_mean += g * (x[j] - m) * s;
          }
        g_mean /= dim;
        gx_mean /= dim;
        for (int j = 0; j < dim; j++)
          {
            double g = (double) dy[j] * weight[j];
            dx[j] += (float) (s * (g - g_mean - (x[j] - m) * s * gx_mean));
          }
      }
  for (int j0 = 0; j0 < dim; j0 += COLUMN_CHUNK)
    {
      int width = dim - j0 < COLUMN_CHUNK ? dim - j0 : COLUMN_CHUNK;
      double acc_w[COLUMN_CHUNK] = { 0 }, acc_b[COLUMN_CHUNK] = { 0 };
      for (int i = 0; i < n; i++)
        {
          const float *x = inp + (int64_t) i * dim + j0, *dy = dout + (int64_t) i * dim + j0;
          double m = mean[i], s = rstd[i];
          for (int j = 0; j < width; j++)
            {
              acc_w[j] += (x[j] - m) * s * dy[j];
              acc_b[j] += dy[j];
            }
        }
      for (int j = 0; j < width; j++)
        {
          if (dweight != NULL)
            dweight[j0 + j] += (float) acc_w[j];
          if (dbias != NULL)
            dbias[j0 + j] += (float) acc_b[j];
        }
    }
}

/* ------------------------------------------------------------------ activations */

CLIP_KERNEL void
clip_activation_forward (float *out, const float *inp, int64_t n, int quick)
{
  if (quick)
    for (int64_t i = 0; i < n; i++)
      out[i] = clip_quick_gelu (inp[i]);
  else
    for (int64_t i = 0; i < n; i++)
      out[i] = clip_gelu (inp[i]);
}

/* Differentiates out[i] = inp[i] / (1 + clip_exp_fast (-1.702 · inp[i]))  → σ + 1.702·x·σ·(1 − σ)
 *             or out[i] = 0.5 · inp[i] · (1 + erff (inp[i] / √2))   → Φ(x) + x·φ(x). */
CLIP_KERNEL void
clip_activation_backward (float *dinp /* [n] */, const float *dout /* [n] */, const float *inp /* [n] */,
                          int64_t n, int quick)
{
  if (quick)
    for (int64_t i = 0; i < n; i++)
      {
        float x = inp[i], s = 1.0f / (1.0f + clip_exp_fast (-1.702f * x));
        dinp[i] += dout[i] * (s + 1.702f * x * s * (1.0f - s));
      }
  else
    {
      const float inv_sqrt_2pi = (float) (0.5 * M_2_SQRTPI * M_SQRT1_2);
      for (int64_t i = 0; i < n; i++)
        {
          float x = inp[i];
          float cdf = 0.5f * (1.0f + erff (x * (float) M_SQRT1_2));
          float pdf = inv_sqrt_2pi * expf (-0.5f * x * x);
          dinp[i] += dout[i] * (cdf + x * pdf);
        }
    }
}

/* ------------------------------------------------------------------ attention */

/* Softmax of P[0..N) in place. */
static inline void
softmax_row (float *p, int n)
{
  float mx = p[0];
#pragma omp simd reduction(max:mx)
  for (int j = 1; j < n; j++)
    mx = p[j] > mx ? p[j] : mx;
  float sum = 0;
#pragma omp simd reduction(+:sum)
  for (int j = 0; j < n; j++)
    {
      p[j] = clip_exp_fast (p[j] - mx);
      sum += p[j];
    }
  float inv = 1.0f / sum;
  for (int j = 0; j < n; j++)
    p[j] *= inv;
}

/* Query rows, and blocks of output dimensions, handled together: independent sums keep the
 * floating-point units busy instead of waiting on one chain of additions. */
#define CHAINS 4

/* P[r][j] = Σ_c Q[r][c] · KT[c][j] for the CHAINS query rows Q[r] and J < VALID:
 * the attention scores of CHAINS queries (KT holds scale · kᵀ, zero-padded to a multiple of LANES).
 * The four accumulators are written out one by one so that the compiler keeps each in a register. */
static inline void
attention_scores (float *const p[CHAINS], const float *const q[CHAINS], const float *kt, int kpad, int hd,
                  int valid)
{
  const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
  for (int j0 = 0; j0 < valid; j0 += LANES)
    {
      float a0[LANES] = { 0 }, a1[LANES] = { 0 }, a2[LANES] = { 0 }, a3[LANES] = { 0 };
      for (int c = 0; c < hd; c++)
        {
          const float *ktc = kt + (int64_t) c * kpad + j0;
          float b0 = q0[c], b1 = q1[c], b2 = q2[c], b3 = q3[c];
          for (int l = 0; l < LANES; l++)
            {
              a0[l] += b0 * ktc[l];
              a1[l] += b1 * ktc[l];
              a2[l] += b2 * ktc[l];
              a3[l] += b3 * ktc[l];
            }
        }
      int m = valid - j0 < LANES ? valid - j0 : LANES;
      for (int l = 0; l < m; l++)
        {
          p[0][j0 + l] = a0[l];
          p[1][j0 + l] = a1[l];
          p[2][j0 + l] = a2[l];
          p[3][j0 + l] = a3[l];
        }
    }
}

/* O[c] = Σ_{j < VALID} P[j] · V[j][c] for c < HD (V at row stride LD). */
static inline void
attention_mix (float *o, const float *p, const float *v, int ld, int hd, int valid)
{
  int c0 = 0;
  for (; c0 + CHAINS * LANES <= hd; c0 += CHAINS * LANES)
    {
      float a0[LANES] = { 0 }, a1[LANES] = { 0 }, a2[LANES] = { 0 }, a3[LANES] = { 0 };
      for (int j = 0; j < valid; j++)
        {
          float pj = p[j];
          const float *vj = v + (int64_t) j * ld + c0;
          for (int l = 0; l < LANES; l++)
            {
              a0[l] += pj * vj[l];
              a1[l] += pj * vj[LANES + l];
              a2[l] += pj * vj[2 * LANES + l];
              a3[l] += pj * vj[3 * LANES + l];
            }
        }
      for (int l = 0; l < LANES; l++)
        {
          o[c0 + l] = a0[l];
          o[c0 + LANES + l] = a1[l];
          o[c0 + 2 * LANES + l] = a2[l];
          o[c0 + 3 * LANES + l] = a3[l];
        }
    }
  for (; c0 + LANES <= hd; c0 += LANES)
    {
      float a0[LANES] = { 0 };
      for (int j = 0; j < valid; j++)
        {
          float pj = p[j];
          const float *vj = v + (int64_t) j * ld + c0;
          for (int l = 0; l < LANES; l++)
            a0[l] += pj * vj[l];
        }
      for (int l = 0; l < LANES; l++)
        o[c0 + l] = a0[l];
    }
  for (int c = c0; c < hd; c++)
    {
      float acc = 0.0f;
      for (int j = 0; j < valid; j++)
        acc += p[j] * v[(int64_t) j * ld + c];
      o[c] = acc;
    }
}

/* O[r][c] = Σ_{j < VALID} P[r][j] · V[j][c] for the CHAINS rows R and c < HD (a multiple of
 * 2 · LANES), V at row stride LD: every row of V read serves all four queries. */
static inline void
attention_mix_rows (float *const o[CHAINS], const float *const p[CHAINS], const float *v, int ld, int hd,
                    int valid)
{
  for (int c0 = 0; c0 < hd; c0 += 2 * LANES)
    {
      float a00[LANES] = { 0 }, a01[LANES] = { 0 }, a10[LANES] = { 0 }, a11[LANES] = { 0 };
      float a20[LANES] = { 0 }, a21[LANES] = { 0 }, a30[LANES] = { 0 }, a31[LANES] = { 0 };
      for (int j = 0; j < valid; j++)
        {
          const float *vj = v + (int64_t) j * ld + c0;
          float p0 = p[0][j], p1 = p[1][j], p2 = p[2][j], p3 = p[3][j];
          for (int l = 0; l < LANES; l++)
            {
              a00[l] += p0 * vj[l], a01[l] += p0 * vj[LANES + l];
              a10[l] += p1 * vj[l], a11[l] += p1 * vj[LANES + l];
              a20[l] += p2 * vj[l], a21[l] += p2 * vj[LANES + l];
              a30[l] += p3 * vj[l], a31[l] += p3 * vj[LANES + l];
            }
        }
      for (int l = 0; l < LANES; l++)
        {
          o[0][c0 + l] = a00[l], o[0][c0 + LANES + l] = a01[l];
          o[1][c0 + l] = a10[l], o[1][c0 + LANES + l] = a11[l];
          o[2][c0 + l] = a20[l], o[2][c0 + LANES + l] = a21[l];
          o[3][c0 + l] = a30[l], o[3][c0 + LANES + l] = a31[l];
        }
    }
}

/* One head of one sequence: OUT [ROWS, HD] (row stride D) = softmax (scale · q · kᵀ + mask) · v for
 * Q, K, V [·, HD] at row stride LD, over KEYS keys; PROBS [ROWS, T] keeps the softmax (zero-padded
 * to T) when not NULL.  Work space: KT [HD, KPAD] (scale · kᵀ, its KPAD − KEYS extra columns zero)
 * and SCORES [CHAINS, KPAD], KPAD = KEYS rounded up to LANES: with kᵀ, every inner loop runs along
 * contiguous memory and keeps its sums in registers. */
CLIP_KERNEL static void
attention_head_forward (float *out, float *probs, const float *q, const float *k, const float *v,
                        int rows, int keys, int t, int hd, int d, int ld, int causal, float scale,
                        float *kt, float *scores)
{
  int kpad = (keys + LANES - 1) / LANES * LANES;
  for (int c = 0; c < hd; c++)
    {
      float *ktc = kt + (int64_t) c * kpad;
      for (int j = 0; j < keys; j++)
        ktc[j] = k[(int64_t) j * ld + c] * scale;
      for (int j = keys; j < kpad; j++)
        ktc[j] = 0.0f;
    }
  for (int i0 = 0; i0 < rows; i0 += CHAINS)
    {
      /* A last, incomplete block repeats its last row rather than reading past the sequence. */
      int n = rows - i0 < CHAINS ? rows - i0 : CHAINS;
      float *p[CHAINS];
      const float *qr[CHAINS];
      for (int r = 0; r < CHAINS; r++)
        {
          qr[r] = q + (int64_t) (i0 + (r < n ? r : n - 1)) * ld;
          p[r] = probs != NULL && r < n ? probs + (int64_t) (i0 + r) * t : scores + (int64_t) r * kpad;
        }
      attention_scores (p, qr, kt, kpad, hd, causal ? i0 + n : keys);
      for (int r = 0; r < n; r++)
        {
          int valid = causal ? i0 + r + 1 : keys;
          softmax_row (p[r], valid);
          if (probs != NULL)
            for (int j = valid; j < t; j++)
              p[r][j] = 0.0f;
        }
      /* Without the causal mask the four rows see the same keys and share one pass over v. */
      if (!causal && n == CHAINS && hd % (2 * LANES) == 0)
        {
          float *o[CHAINS];
          for (int r = 0; r < CHAINS; r++)
            o[r] = out + (int64_t) (i0 + r) * d;
          attention_mix_rows (o, (const float *const *) p, v, ld, hd, keys);
        }
      else
        for (int r = 0; r < n; r++)
          attention_mix (out + (int64_t) (i0 + r) * d, p[r], v, ld, hd, causal ? i0 + r + 1 : keys);
    }
}

/* Sequence S's first row and the query rows and keys its attention covers. */
static void
seq_extent (const ClipSeqLayout *seqs, int s, int causal, int64_t *first, int *rows, int *keys)
{
  *first = seqs->start != NULL ? seqs->start[s] : (int64_t) s * seqs->t;
  *rows = seqs->len != NULL ? seqs->len[s] : seqs->t;
  /* Causal rows need keys 0..rows-1 only; full attention sees the whole sequence. */
  *keys = causal || seqs->start != NULL ? *rows : seqs->t;
}

void
clip_attention_forward_range (float *out, float *probs, const float *q, const float *k, const float *v,
                              const ClipSeqLayout *seqs, int d, int ld, int heads, int causal,
                              int64_t first, int64_t last)
{
  int hd = d / heads, t = seqs->t, kpad = (t + LANES - 1) / LANES * LANES;
  float scale = 1.0f / sqrtf ((float) hd);
  float *work = malloc (sizeof (float) * ((size_t) kpad * hd + CHAINS * kpad));
  for (int64_t unit = first; unit < last; unit++)
    {
      int s = (int) (unit / heads), h = (int) (unit % heads), rows, keys;
      int64_t row0;
      seq_extent (seqs, s, causal, &row0, &rows, &keys);
      int64_t base = row0 * ld + h * hd;
      attention_head_forward (out + row0 * d + h * hd,
                              probs != NULL ? probs + ((int64_t) s * heads + h) * t * t : NULL,
                              q + base, k + base, v + base, rows, keys, t, hd, d, ld, causal, scale,
                              work, work + (size_t) kpad * hd);
    }
  free (work);
}

void
clip_attention_forward (float *out, float *probs, const float *q, const float *k, const float *v,
                        int b, int t, int d, int ld, int heads, int causal, const int *lengths)
{
  ClipSeqLayout seqs = { .b = b, .t = t, .len = lengths };
  clip_attention_forward_range (out, probs, q, k, v, &seqs, d, ld, heads, causal, 0, (int64_t) b * heads);
}

/* Differentiates, per sequence and head, what attention_head_forward computes:
 *   p   = softmax (scale · q_h · k_hᵀ + mask)   (attention_scores and softmax_row)
 *   out = p · v_h                              (attention_mix)
 * dp = dout · v_hᵀ, dv_h += pᵀ · dout; the softmax gives ds = p ⊙ (dp − Σ_j p·dp) (masked entries
 * have p = 0); dq_h += scale · ds · k_h, dk_h += scale · dsᵀ · q_h. */
void
clip_attention_backward (float *dq /* [b, t, ld] */, float *dk /* [b, t, ld] */, float *dv /* [b, t, ld] */,
                         const float *dout /* [b, t, d] */, const float *probs /* [b, heads, t, t] */,
                         const float *q, const float *k, const float *v,
                         int b, int t, int d, int ld, int heads, int causal, const int *lengths)
{
  int hd = d / heads;
  float scale = 1.0f / sqrtf ((float) hd);
  float *ds = malloc (sizeof (float) * t * t);

  for (int s = 0; s < b; s++)
    {
      int rows = lengths != NULL ? lengths[s] : t;
      int keys = causal ? rows : t;
      int64_t base = (int64_t) s * t * ld;
      const float *dout_s = dout + (int64_t) s * t * d;
      for (int h = 0; h < heads; h++)
        {
          const float *p = probs + ((int64_t) s * heads + h) * t * t;
          const float *qh = q + base + h * hd, *kh = k + base + h * hd, *vh = v + base + h * hd;
          float *dqh = dq + base + h * hd, *dkh = dk + base + h * hd, *dvh = dv + base + h * hd;
          const float *doh = dout_s + h * hd;

          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, hd,
                       1.0f, doh, d, vh, ld, 0.0f, ds, t);
          cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, keys, hd, rows,
                       1.0f, p, t, doh, d, 1.0f, dvh, ld);
          for (int i = 0; i < rows; i++)
            {
              const float *prow = p + (int64_t) i * t;
              float *drow = ds + (int64_t) i * t;
              double dot = 0;
              for (int j = 0; j < keys; j++)
                dot += (double) prow[j] * drow[j];
              for (int j = 0; j < keys; j++)
                drow[j] = prow[j] * (drow[j] - (float) dot);
            }
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, keys,
                       scale, ds, t, kh, ld, 1.0f, dqh, ld);
          cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, keys, hd, rows,
                       scale, ds, t, qh, ld, 1.0f, dkh, ld);
        }
    }
  free (ds);
}

/* ------------------------------------------------------------------ residual */

CLIP_KERNEL void
clip_add_inplace (float *x, const float *y, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    x[i] += y[i];
}

/* Differentiates x[i] += y[i]. */
CLIP_KERNEL void
clip_add_inplace_backward (float *dy /* [n] */, const float *dx /* [n] */, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    dy[i] += dx[i];
}

/* ------------------------------------------------------------------ embeddings and pooling */

void
clip_embedding_forward (float *out, const int32_t *ids, const float *token, const float *position,
                        int b, int t, int stride, int d)
{
  for (int s = 0; s < b; s++)
    for (int pos = 0; pos < t; pos++)
      {
        const float *tok = token + (int64_t) ids[(int64_t) s * stride + pos] * d;
        const float *pe = position + (int64_t) pos * d;
        float *dst = out + ((int64_t) s * t + pos) * d;
        for (int j = 0; j < d; j++)
          dst[j] = tok[j] + pe[j];
      }
}

/* Differentiates dst[j] = tok[j] + pe[j]. */
void
clip_embedding_backward (float *dtoken /* [vocab, d] */, float *dposition /* [≥ t, d] */,
                         const float *dout /* [b, t, d] */, const int32_t *ids /* [b, stride] */,
                         int b, int t, int stride, int d)
{
  for (int s = 0; s < b; s++)
    for (int pos = 0; pos < t; pos++)
      {
        float *dtok = dtoken + (int64_t) ids[(int64_t) s * stride + pos] * d;
        float *dpe = dposition + (int64_t) pos * d;
        const float *src = dout + ((int64_t) s * t + pos) * d;
        for (int j = 0; j < d; j++)
          {
            dtok[j] += src[j];
            dpe[j] += src[j];
          }
      }
}

void
clip_class_embedding_forward (float *out, const float *patches, const float *class_emb,
                              const float *position, int b, int t, int d)
{
  for (int s = 0; s < b; s++)
    {
      float *xs = out + (int64_t) s * t * d;
      for (int j = 0; j < d; j++)
        xs[j] = class_emb[j] + position[j];
      for (int tok = 1; tok < t; tok++)
        for (int j = 0; j < d; j++)
          xs[(int64_t) tok * d + j] = patches[((int64_t) s * (t - 1) + tok - 1) * d + j]
                                      + position[(int64_t) tok * d + j];
    }
}

/* Differentiates xs[j] = class_emb[j] + position[j] and
 *                xs[tok·d + j] = patches[(s·(t − 1) + tok − 1)·d + j] + position[tok·d + j]. */
void
clip_class_embedding_backward (float *dpatches /* [b, t - 1, d] */, float *dclass_emb /* [d] */,
                               float *dposition /* [t, d] */, const float *dout /* [b, t, d] */,
                               int b, int t, int d)
{
  for (int s = 0; s < b; s++)
    {
      const float *dxs = dout + (int64_t) s * t * d;
      for (int j = 0; j < d; j++)
        {
          dclass_emb[j] += dxs[j];
          dposition[j] += dxs[j];
        }
      for (int tok = 1; tok < t; tok++)
        for (int j = 0; j < d; j++)
          {
            float g = dxs[(int64_t) tok * d + j];
            if (dpatches != NULL)
              dpatches[((int64_t) s * (t - 1) + tok - 1) * d + j] += g;
            dposition[(int64_t) tok * d + j] += g;
          }
    }
}

void
clip_patch_gather (float *patches, const float *pixels, int b, int size, int patch)
{
  int grid = size / patch, patch_len = 3 * patch * patch;
  for (int img = 0; img < b; img++)
    for (int py = 0; py < grid; py++)
      for (int px = 0; px < grid; px++)
        {
          float *dst = patches + ((int64_t) (img * grid + py) * grid + px) * patch_len;
          for (int ch = 0; ch < 3; ch++)
            for (int r = 0; r < patch; r++)
              memcpy (dst + (ch * patch + r) * patch,
                      pixels + (((int64_t) img * 3 + ch) * size + py * patch + r) * size + px * patch,
                      sizeof (float) * patch);
        }
}

void
clip_patch_embed_forward (float *out, float *patches, const float *pixels, const float *weight,
                          int b, int size, int patch, int d)
{
  int grid = size / patch;
  clip_patch_gather (patches, pixels, b, size, patch);
  clip_linear_forward (out, patches, weight, NULL, b * grid * grid, 3 * patch * patch, d);
}

/* Differentiates clip_linear_forward (out, patches, weight, NULL, b·grid², patch_len, d). */
void
clip_patch_embed_backward (float *dweight /* [d, 3·patch²] */, const float *dout /* [b·grid², d] */,
                           const float *patches /* [b·grid², 3·patch²] */, int b, int size, int patch, int d)
{
  int grid = size / patch;
  clip_linear_backward (NULL, dweight, NULL, dout, patches, NULL, b * grid * grid, 3 * patch * patch, d);
}

void
clip_pool_forward (float *out, const float *inp, const int *pos, int b, int t, int d)
{
  for (int s = 0; s < b; s++)
    memcpy (out + (int64_t) s * d, inp + ((int64_t) s * t + (pos != NULL ? pos[s] : 0)) * d,
            sizeof (float) * d);
}

/* Differentiates the row copy out[s] = inp[s, pos[s]]. */
void
clip_pool_backward (float *dinp /* [b, t, d] */, const float *dout /* [b, d] */, const int *pos /* [b] */,
                    int b, int t, int d)
{
  for (int s = 0; s < b; s++)
    {
      float *dst = dinp + ((int64_t) s * t + (pos != NULL ? pos[s] : 0)) * d;
      const float *src = dout + (int64_t) s * d;
      for (int j = 0; j < d; j++)
        dst[j] += src[j];
    }
}

/* ------------------------------------------------------------------ normalisation and loss */

void
clip_l2norm_forward (float *out, const float *inp, int n, int d)
{
  for (int i = 0; i < n; i++)
    {
      const float *x = inp + (int64_t) i * d;
      float *y = out + (int64_t) i * d;
      double ss = 0;
      for (int j = 0; j < d; j++)
        ss += (double) x[j] * x[j];
      double inv = 1.0 / fmax (sqrt (ss), 1e-12);
      for (int j = 0; j < d; j++)
        y[j] = (float) (x[j] * inv);
    }
}

/* Differentiates y = x / max(‖x‖, 1e-12): dx = (dy − y·⟨y, dy⟩) / ‖x‖, or dy / 1e-12 where the
 * floor applies (it is then a constant). */
void
clip_l2norm_backward (float *dinp /* [n, d] */, const float *dout /* [n, d] */, const float *inp /* [n, d] */,
                      int n, int d)
{
  for (int i = 0; i < n; i++)
    {
      const float *x = inp + (int64_t) i * d, *dy = dout + (int64_t) i * d;
      float *dx = dinp + (int64_t) i * d;
      double ss = 0;
      for (int j = 0; j < d; j++)
        ss += (double) x[j] * x[j];
      double norm = sqrt (ss);
      if (norm <= 1e-12)
        {
          for (int j = 0; j < d; j++)
            dx[j] += (float) (dy[j] * 1e12);
          continue;
        }
      double inv = 1.0 / norm, dot = 0;
      for (int j = 0; j < d; j++)
        dot += x[j] * inv * dy[j];
      for (int j = 0; j < d; j++)
        dx[j] += (float) ((dy[j] - x[j] * inv * dot) * inv);
    }
}

/* logits[i, j] = exp(logit_scale) · ⟨img_i, txt_j⟩ in double. */
CLIP_KERNEL static void
contrastive_logits (double *logits, const float *img, const float *txt, float logit_scale, int b, int e)
{
  double scale = exp ((double) logit_scale);
  for (int i = 0; i < b; i++)
    for (int j = 0; j < b; j++)
      {
        double dot = 0;
#pragma omp simd reduction(+:dot)
        for (int k = 0; k < e; k++)
          dot += (double) img[(int64_t) i * e + k] * txt[(int64_t) j * e + k];
        logits[(int64_t) i * b + j] = scale * dot;
      }
}

/* Softmax of the N values X[0], X[STRIDE], …, into P (contiguous); returns −log P[label]. */
static double
softmax_nll (double *p, const double *x, int n, int64_t stride, int label)
{
  double mx = x[0];
  for (int j = 1; j < n; j++)
    mx = fmax (mx, x[j * stride]);
  double sum = 0;
  for (int j = 0; j < n; j++)
    sum += p[j] = exp (x[j * stride] - mx);
  for (int j = 0; j < n; j++)
    p[j] /= sum;
  return log (sum) - (x[label * stride] - mx);
}

CLIP_KERNEL double
clip_contrastive_loss_forward (float *logits, const float *img, const float *txt, float logit_scale,
                               int b, int e)
{
  double *l = malloc (sizeof (double) * ((size_t) b * b + b));
  double *p = l + (size_t) b * b;
  contrastive_logits (l, img, txt, logit_scale, b, e);
  double loss = 0;
  for (int i = 0; i < b; i++)
    loss += softmax_nll (p, l + (int64_t) i * b, b, 1, i)   /* image i against every text */
            + softmax_nll (p, l + i, b, b, i);              /* text i against every image */
  if (logits != NULL)
    for (int64_t i = 0; i < (int64_t) b * b; i++)
      logits[i] = (float) l[i];
  free (l);
  return loss / (2.0 * b);
}

/* Differentiates loss = Σ_i (nll(row i) + nll(column i)) / 2B with logits = exp(logit_scale)·img·txtᵀ:
 * dlogits[i, j] = (softmax_row_i[j] − δ_ij + softmax_col_j[i] − δ_ij) / 2B, then
 * dimg = s·dlogits·txt, dtxt = s·dlogitsᵀ·img, dlogit_scale = Σ dlogits ⊙ logits. */
CLIP_KERNEL void
clip_contrastive_loss_backward (float *dimg /* [b, e] */, float *dtxt /* [b, e] */, float *dlogit_scale /* [1] */,
                                double dloss, const float *img, const float *txt, float logit_scale, int b, int e)
{
  size_t bb = (size_t) b * b;
  double *l = malloc (sizeof (double) * (2 * bb + b + e));
  double *dl = l + bb, *p = dl + bb, *g = p + b;
  contrastive_logits (l, img, txt, logit_scale, b, e);
  double w = dloss / (2.0 * b), scale = exp ((double) logit_scale);
  for (int i = 0; i < b; i++)
    {
      softmax_nll (p, l + (int64_t) i * b, b, 1, i);
      for (int j = 0; j < b; j++)
        dl[(int64_t) i * b + j] = w * (p[j] - (i == j));
    }
  for (int j = 0; j < b; j++)
    {
      softmax_nll (p, l + j, b, b, j);
      for (int i = 0; i < b; i++)
        dl[(int64_t) i * b + j] += w * (p[i] - (i == j));
    }
  double ds = 0;
  for (size_t i = 0; i < bb; i++)
    ds += dl[i] * l[i];
  if (dlogit_scale != NULL)
    *dlogit_scale += (float) ds;
  /* Row i of dimg sums the rows of txt weighted by row i of dlogits, row i of dtxt the rows of img
   * weighted by column i: sums over j of whole rows, which vectorise along k. */
  for (int side = 0; side < 2; side++)
    {
      float *grad = side == 0 ? dimg : dtxt;
      const float *other = side == 0 ? txt : img;
      if (grad == NULL)
        continue;
      for (int i = 0; i < b; i++)
        {
          for (int k = 0; k < e; k++)
            g[k] = 0;
          for (int j = 0; j < b; j++)
            {
              double dlij = side == 0 ? dl[(int64_t) i * b + j] : dl[(int64_t) j * b + i];
              const float *row = other + (int64_t) j * e;
              for (int k = 0; k < e; k++)
                g[k] += dlij * row[k];
            }
          for (int k = 0; k < e; k++)
            grad[(int64_t) i * e + k] += (float) (scale * g[k]);
        }
    }
  free (l);
}

/* One direction of clip_contrastive_loss_shard: queries FIRST … FIRST + COUNT − 1 of QUERIES [N, E]
 * (images for the rows, texts for the columns) against every row of KEYS, as double GEMMs.  Adds the
 * gradients to DQUERIES and DKEYS [N, E] and Σ dlogits ⊙ logits to *DS; returns Σ −log p(label).
 * LOGITS holds COUNT × N doubles, P N. */
static double
shard_direction (double *dqueries, double *dkeys, double *ds, const double *queries, const double *keys,
                 double scale, double w, int n, int first, int count, int e, double *logits, double *p)
{
  const double *own = queries + (int64_t) first * e;
  cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasTrans, count, n, e, scale, own, e, keys, e, 0.0, logits, n);
  double nll = 0;
  for (int i = 0; i < count; i++)
    {
      double *row = logits + (int64_t) i * n;
      nll += softmax_nll (p, row, n, 1, first + i);
      for (int j = 0; j < n; j++)
        {
          double dl = w * (p[j] - (j == first + i));
          *ds += dl * row[j];
          row[j] = dl;   /* the row now holds dlogits */
        }
    }
  /* dqueries = s · dlogits · keys, dkeys = s · dlogitsᵀ · queries */
  cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, count, e, n, scale, logits, n, keys, e, 1.0,
               dqueries + (int64_t) first * e, e);
  cblas_dgemm (CblasRowMajor, CblasTrans, CblasNoTrans, n, e, count, scale, logits, n, own, e, 1.0, dkeys, e);
  return nll;
}

double
clip_contrastive_loss_shard (float *dimg_all, float *dtxt_all, float *dlogit_scale, const float *img_all,
                             const float *txt_all, float logit_scale, int n, int first, int count, int e)
{
  size_t ne = (size_t) n * e;
  double *img = calloc (4 * ne + (size_t) count * n + n, sizeof (double));
  double *txt = img + ne, *dimg = txt + ne, *dtxt = dimg + ne, *logits = dtxt + ne, *p = logits + (size_t) count * n;
  for (size_t i = 0; i < ne; i++)
    {
      img[i] = img_all[i];
      txt[i] = txt_all[i];
    }
  double scale = exp ((double) logit_scale), w = 1.0 / (2.0 * n), ds = 0;
  double nll = shard_direction (dimg, dtxt, &ds, img, txt, scale, w, n, first, count, e, logits, p)
               + shard_direction (dtxt, dimg, &ds, txt, img, scale, w, n, first, count, e, logits, p);
  for (size_t i = 0; i < ne; i++)
    {
      dimg_all[i] += (float) dimg[i];
      dtxt_all[i] += (float) dtxt[i];
    }
  if (dlogit_scale != NULL)
    *dlogit_scale += (float) ds;
  free (img);
  return nll / (2.0 * n);
}
