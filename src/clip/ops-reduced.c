/* ops-reduced.c — bfloat16 and int8 products: packing, rounding the inputs, the loop the vector
 * kernels share (clip_reduced_blocks), the portable kernels and the choice of kernel by the CPU's
 * instruction sets.  The AVX-512, AVX-VNNI and AVX2 kernels are in ops-avx512.c, the AMX ones in
 * ops-amx.c (each function built for its own instruction set, so that every variant is compiled on
 * every x86-64 build and picked at run time). */
#include "ops-reduced.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CLIP_X86_KERNELS 1
#include <cpuid.h>
/* The loops around the kernels (rounding the inputs, writing the results) in AVX-512, AVX2 and
 * baseline builds, as ops.c's CLIP_KERNEL. */
#define CLIP_CLONES __attribute__ ((target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLIP_CLONES
#endif

/* ------------------------------------------------------------------ layout */

static int
k_padded (int in_dim)
{
  return (in_dim + CLIP_REDUCED_K_ALIGN - 1) / CLIP_REDUCED_K_ALIGN * CLIP_REDUCED_K_ALIGN;
}

static size_t
round64 (size_t bytes)
{
  return (bytes + 63) & ~(size_t) 63;
}

static int
n_panels (int out_dim)
{
  return (out_dim + CLIP_PANEL - 1) / CLIP_PANEL;
}

/* bf16 weights take 2 bytes, int8 ones 1 byte plus a scale and a sum per column. */
size_t
clip_reduced_matrix_bytes (ClipReducedFormat format, int in_dim, int out_dim)
{
  size_t columns = (size_t) n_panels (out_dim) * CLIP_PANEL, k = (size_t) k_padded (in_dim);
  if (format == CLIP_REDUCED_BF16)
    return round64 (columns * k * 2);
  return round64 (columns * k) + round64 (columns * sizeof (float)) + round64 (columns * sizeof (int32_t));
}

void
clip_reduced_matrix_init (ClipReducedMatrix *m, ClipReducedFormat format, int in_dim, int out_dim, void *memory)
{
  size_t columns = (size_t) n_panels (out_dim) * CLIP_PANEL;
  *m = (ClipReducedMatrix) { .format = format, .in_dim = in_dim, .out_dim = out_dim, .k_pad = k_padded (in_dim),
                             .panels = memory };
  size_t weight_bytes = columns * m->k_pad * (format == CLIP_REDUCED_BF16 ? 2 : 1);
  if (format == CLIP_REDUCED_INT8)
    {
      m->scales = (float *) ((char *) memory + round64 (weight_bytes));
      m->sums = (int32_t *) ((char *) m->scales + round64 (columns * sizeof (float)));
      memset (m->scales, 0, columns * sizeof (float));
      memset (m->sums, 0, columns * sizeof (int32_t));
    }
  /* The padding columns of the last panel are read by the products: zero them. */
  if (out_dim % CLIP_PANEL != 0)
    memset ((char *) memory + (weight_bytes / columns) * (columns - CLIP_PANEL), 0, weight_bytes / columns * CLIP_PANEL);
}

/* Element (k, column) of a panel holding GROUP inputs per column side by side. */
static size_t
panel_index (const ClipReducedMatrix *m, int k, int column, int group)
{
  int p = column / CLIP_PANEL, lane = column % CLIP_PANEL;
  return ((size_t) p * (m->k_pad / group) + k / group) * CLIP_PANEL * group + (size_t) lane * group + k % group;
}

void
clip_reduced_pack (ClipReducedMatrix *m, const float *weight, int count, int col0)
{
  for (int j = 0; j < count; j++)
    {
      const float *w = weight + (size_t) j * m->in_dim;
      int column = col0 + j;
      if (m->format == CLIP_REDUCED_BF16)
        {
          uint16_t *panels = m->panels;
          for (int k = 0; k < m->k_pad; k++)
            panels[panel_index (m, k, column, 2)] = k < m->in_dim ? clip_bf16_from_float (w[k]) : 0;
          continue;
        }
      float max_abs = 0;
      for (int k = 0; k < m->in_dim; k++)
        max_abs = fmaxf (max_abs, fabsf (w[k]));
      float scale = max_abs > 0 ? max_abs / 127.0f : 0.0f;
      int8_t *panels = m->panels;
      int32_t sum = 0;
      for (int k = 0; k < m->k_pad; k++)
        {
          int q = k < m->in_dim && scale > 0 ? (int) lrintf (w[k] / scale) : 0;
          q = q > 127 ? 127 : q < -127 ? -127 : q;
          panels[panel_index (m, k, column, 4)] = (int8_t) q;
          sum += q;
        }
      m->scales[column] = scale;
      m->sums[column] = sum;
    }
}

void
clip_reduced_unpack (const ClipReducedMatrix *m, float *weight, int count, int col0)
{
  for (int j = 0; j < count; j++)
    for (int k = 0; k < m->in_dim; k++)
      {
        int column = col0 + j;
        weight[(size_t) j * m->in_dim + k] =
          m->format == CLIP_REDUCED_BF16
            ? clip_bf16_to_float (((const uint16_t *) m->panels)[panel_index (m, k, column, 2)])
            : ((const int8_t *) m->panels)[panel_index (m, k, column, 4)] * m->scales[column];
      }
}

/* ------------------------------------------------------------------ inputs */

static int
rows_padded (int n)
{
  return (n + CLIP_REDUCED_ROW_ALIGN - 1) / CLIP_REDUCED_ROW_ALIGN * CLIP_REDUCED_ROW_ALIGN;
}

size_t
clip_reduced_input_bytes (ClipReducedFormat format, int n, int in_dim)
{
  size_t elements = (size_t) rows_padded (n) * k_padded (in_dim);
  if (format == CLIP_REDUCED_BF16)
    return round64 (elements * 2);
  return round64 (elements) + round64 ((size_t) rows_padded (n) * sizeof (float));
}

void
clip_reduced_input_init (ClipReducedInput *in, ClipReducedFormat format, int n, int in_dim, void *memory)
{
  *in = (ClipReducedInput) { .format = format, .n = n, .n_pad = rows_padded (n), .k_pad = k_padded (in_dim),
                             .rows = memory };
  size_t element = format == CLIP_REDUCED_BF16 ? 2 : 1, row_bytes = element * in->k_pad;
  memset ((char *) memory + row_bytes * n, 0, row_bytes * (in->n_pad - n));
  /* The columns past IN_DIM, read by the products, whoever writes the rows (clip_reduced_input_fill
   * or a product's clip_reduced_store). */
  for (int r = 0; r < n && in->k_pad > in_dim; r++)
    memset ((char *) memory + row_bytes * r + element * in_dim, 0, element * (in->k_pad - in_dim));
  if (format == CLIP_REDUCED_INT8)
    {
      in->scales = (float *) ((char *) memory + round64 (row_bytes * in->n_pad));
      memset (in->scales, 0, sizeof (float) * in->n_pad);
    }
}

CLIP_CLONES void
clip_reduced_input_fill (ClipReducedInput *in, const float *inp, int in_dim, int r0, int r1)
{
  for (int r = r0; r < r1; r++)
    {
      const float *x = inp + (size_t) r * in_dim;
      if (in->format == CLIP_REDUCED_BF16)
        {
          uint16_t *row = (uint16_t *) in->rows + (size_t) r * in->k_pad;
          for (int k = 0; k < in_dim; k++)
            row[k] = clip_bf16_from_float (x[k]);
          continue;
        }
      int8_t *row = (int8_t *) in->rows + (size_t) r * in->k_pad;
      /* Both loops vectorise: fmaxf and nearbyintf were calls into libm for every input, a quarter
       * of an int8 pass.  A NaN input is passed over by the maximum, as by fmaxf. */
      float max_abs = 0;
#pragma omp simd reduction(max:max_abs)
      for (int k = 0; k < in_dim; k++)
        {
          float magnitude = fabsf (x[k]);
          max_abs = magnitude > max_abs ? magnitude : max_abs;
        }
      float scale = max_abs > 0 ? max_abs / 127.0f : 0.0f, inverse = max_abs > 0 ? 127.0f / max_abs : 0.0f;
      /* |x · inverse| ≤ 127: no clamping needed; rintf rounds to nearest even, as lrintf. */
      for (int k = 0; k < in_dim; k++)
        row[k] = (int8_t) rintf (x[k] * inverse);
      in->scales[r] = scale;
    }
}

/* ------------------------------------------------------------------ results */

/* Column C of a row's result before the activation: the row's value (ADD) plus the bias plus the sum. */
static inline __attribute__ ((always_inline)) float
stored_sum (const float *row, const float *sums, const float *bias, int add, int c)
{
  float base = add ? row[c] : 0.0f;
  if (bias != NULL)
    base += bias[c];
  return base + sums[c];
}

/* clip_reduced_store for a constant ADD: with ADD a run-time value, GCC read every row through a
 * masked load, and the stores waited on it. */
static inline __attribute__ ((always_inline)) void
store_rows (float *out, int ldo, const float *sums, int rows, int cols, const float *bias, int add, int activation)
{
  /* The activation inline: a call per row of 32 values cost as much as the activation itself. */
  for (int r = 0; r < rows; r++)
    {
      float *row = out + (size_t) r * ldo;
      const float *s = sums + (size_t) r * CLIP_PANEL;
      if (activation == CLIP_PACKED_QUICK_GELU)
        for (int c = 0; c < cols; c++)
          row[c] = clip_quick_gelu (stored_sum (row, s, bias, add, c));
      else if (activation == CLIP_PACKED_GELU)
        for (int c = 0; c < cols; c++)
          row[c] = clip_gelu (stored_sum (row, s, bias, add, c));
      else
        for (int c = 0; c < cols; c++)
          row[c] = stored_sum (row, s, bias, add, c);
    }
}

/* The same into the bf16 rows ROUNDED (at row stride LDR), without a residual. */
static inline __attribute__ ((always_inline)) void
store_rows_rounded (uint16_t *rounded, int ldr, const float *sums, int rows, int cols, const float *bias,
                    int activation)
{
  for (int r = 0; r < rows; r++)
    {
      uint16_t *row = rounded + (size_t) r * ldr;
      const float *s = sums + (size_t) r * CLIP_PANEL;
      if (activation == CLIP_PACKED_QUICK_GELU)
        for (int c = 0; c < cols; c++)
          row[c] = clip_bf16_from_float (clip_quick_gelu (stored_sum (NULL, s, bias, 0, c)));
      else if (activation == CLIP_PACKED_GELU)
        for (int c = 0; c < cols; c++)
          row[c] = clip_bf16_from_float (clip_gelu (stored_sum (NULL, s, bias, 0, c)));
      else
        for (int c = 0; c < cols; c++)
          row[c] = clip_bf16_from_float (stored_sum (NULL, s, bias, 0, c));
    }
}

CLIP_CLONES void
clip_reduced_store (const ClipReducedOutput *out, int i, int c0, const float *sums, int rows, int cols,
                    const float *bias, int add, int activation)
{
  if (bias != NULL)
    bias += c0;
  if (out->rounded != NULL)
    {
      ClipReducedInput *rounded = out->rounded;
      store_rows_rounded ((uint16_t *) rounded->rows + (size_t) i * rounded->k_pad + c0, rounded->k_pad, sums, rows,
                          cols, bias, activation);
      return;
    }
  float *rows_at = out->rows + (size_t) i * out->ld + c0;
  if (add)
    store_rows (rows_at, out->ld, sums, rows, cols, bias, 1, activation);
  else
    store_rows (rows_at, out->ld, sums, rows, cols, bias, 0, activation);
}

CLIP_CLONES void
clip_reduced_store_int8 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m, int i,
                         int p, const int32_t *totals, int block_rows, const float *bias, int add, int activation)
{
  int c0 = p * CLIP_PANEL, cols = m->out_dim - c0 < CLIP_PANEL ? m->out_dim - c0 : CLIP_PANEL;
  int rows = in->n - i < block_rows ? in->n - i : block_rows;
  float sums[16 * CLIP_PANEL];
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < CLIP_PANEL; c++)
      sums[r * CLIP_PANEL + c] = (float) totals[r * CLIP_PANEL + c] * in->scales[i + r] * m->scales[c0 + c];
  clip_reduced_store (out, i, c0, sums, rows, cols, bias, add,
                      activation);
}

/* ------------------------------------------------------------------ the loops around the vector kernels */

/* Rows of a chunk: processed against all of a thread's panels before the next rows. */
#define CHUNK_ROWS 64

/* As clip_packed_linear_forward's loops (ops.c): for each chunk of rows and each panel, a slice of
 * the panel serves every block of the chunk from cache, the next slice is asked for meanwhile (its
 * lines shared out between the blocks), and the sums of the slices add up in TOTALS (the first
 * slice's written over what was there, which spares zeroing them). */
void
clip_reduced_blocks (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                     const float *bias, int add, int activation, int p0, int p1, ClipSliceKernel slice, int block_rows,
                     int flipped)
{
  union {
    float   f[CHUNK_ROWS * CLIP_PANEL];
    int32_t i[CHUNK_ROWS * CLIP_PANEL];
  } totals __attribute__ ((aligned (64)));
  int groups = m->format == CLIP_REDUCED_BF16 ? m->k_pad / 2 : m->k_pad / 4;
  const int32_t *inputs = in->rows;
  const char *panels_end = (const char *) m->panels + (size_t) p1 * groups * 128;
  int n_chunks = (in->n + CHUNK_ROWS - 1) / CHUNK_ROWS;
  int chunk = n_chunks > 0 ? (in->n + n_chunks - 1) / n_chunks : 0;
  /* Whole blocks: the inputs' rows are padded to them. */
  chunk = (chunk + block_rows - 1) / block_rows * block_rows;
  for (int i0 = 0; i0 < in->n; i0 += chunk)
    {
      int rows = in->n - i0 < chunk ? in->n - i0 : chunk;
      int n_blocks = (rows + block_rows - 1) / block_rows;
      for (int p = p0; p < p1; p++)
        {
          const char *panel = (const char *) m->panels + (size_t) p * groups * 128;
          int c0 = p * CLIP_PANEL, cols = m->out_dim - c0 < CLIP_PANEL ? m->out_dim - c0 : CLIP_PANEL;
          for (int g0 = 0; g0 < groups; g0 += CLIP_SLICE_GROUPS)
            {
              int g1 = groups - g0 < CLIP_SLICE_GROUPS ? groups : g0 + CLIP_SLICE_GROUPS;
              /* The panels lie end to end: past this one's last slice comes the next panel's first. */
              const char *next = panel + (size_t) g1 * 128;
              int share = next < panels_end ? (g1 - g0 + n_blocks - 1) / n_blocks : 0;
              for (int b = 0; b < n_blocks; b++)
                slice (totals.i + b * block_rows * CLIP_PANEL, g0 == 0,
                       inputs + (size_t) (i0 + b * block_rows) * groups + g0, groups, panel + (size_t) g0 * 128,
                       g1 - g0, next + (size_t) b * share * 128, share);
            }
          if (m->format == CLIP_REDUCED_BF16)
            {
              clip_reduced_store (out, i0, c0, totals.f, rows, cols, bias, add, activation);
              continue;
            }
          if (flipped)
            for (int r = 0; r < rows; r++)
              for (int c = 0; c < CLIP_PANEL; c++)
                totals.i[r * CLIP_PANEL + c] -= m->sums[c0 + c] * 128;
          for (int r = 0; r < rows; r += 16)
            clip_reduced_store_int8 (out, in, m, i0 + r, p, totals.i + r * CLIP_PANEL, rows - r < 16 ? rows - r : 16,
                                     bias, add, activation);
        }
    }
}

/* ------------------------------------------------------------------ portable kernels
 *
 * Plain C over GCC vector types, for CPUs without AVX2 (ops-avx512.c has the AVX2 ones).  bf16:
 * the weights are widened to float32 on the fly (a pair of inputs per 32-bit lane: the low half is
 * input k, the high half input k + 1).  int8: int32 sums of products, as VPDPBUSD's. */

/* Rows multiplied at a time. */
#define PORTABLE_ROWS 4

static void
bf16_slice_portable (void *totals, int first, const int32_t *a, size_t lda, const char *panel, int groups,
                     const char *prefetch, int prefetch_iters)
{
  (void) prefetch;
  (void) prefetch_iters;
  float sums[PORTABLE_ROWS][CLIP_PANEL] = { { 0 } };
  for (int g = 0; g < groups; g++)
    {
      const uint32_t *w = (const uint32_t *) (panel + (size_t) g * 128);
      float even[CLIP_PANEL], odd[CLIP_PANEL];
      for (int c = 0; c < CLIP_PANEL; c++)
        {
          uint32_t low = w[c] << 16, high = w[c] & 0xffff0000u;
          memcpy (&even[c], &low, sizeof low);
          memcpy (&odd[c], &high, sizeof high);
        }
      for (int r = 0; r < PORTABLE_ROWS; r++)
        {
          uint32_t pair = (uint32_t) a[(size_t) r * lda + g];
          float a0 = clip_bf16_to_float ((uint16_t) pair), a1 = clip_bf16_to_float ((uint16_t) (pair >> 16));
          for (int c = 0; c < CLIP_PANEL; c++)
            sums[r][c] += a0 * even[c] + a1 * odd[c];
        }
    }
  float *t = totals;
  for (int r = 0; r < PORTABLE_ROWS; r++)
    for (int c = 0; c < CLIP_PANEL; c++)
      t[r * CLIP_PANEL + c] = first ? sums[r][c] : t[r * CLIP_PANEL + c] + sums[r][c];
}

static void
int8_slice_portable (void *totals, int first, const int32_t *a, size_t lda, const char *panel, int groups,
                     const char *prefetch, int prefetch_iters)
{
  (void) prefetch;
  (void) prefetch_iters;
  int32_t *t = totals;
  if (first)
    memset (t, 0, sizeof (int32_t) * PORTABLE_ROWS * CLIP_PANEL);
  for (int g = 0; g < groups; g++)
    {
      /* The quad's four weights of each column side by side, so that the loops over columns
       * vectorise. */
      const int8_t *w = (const int8_t *) panel + (size_t) g * 128;
      int16_t split[4][CLIP_PANEL];
      for (int c = 0; c < CLIP_PANEL; c++)
        for (int b = 0; b < 4; b++)
          split[b][c] = w[4 * c + b];
      for (int r = 0; r < PORTABLE_ROWS; r++)
        {
          const int8_t *q = (const int8_t *) (a + (size_t) r * lda + g);
          for (int c = 0; c < CLIP_PANEL; c++)
            t[r * CLIP_PANEL + c] += q[0] * split[0][c] + q[1] * split[1][c] + q[2] * split[2][c] + q[3] * split[3][c];
        }
    }
}

void
clip_bf16_linear_portable (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                           const float *bias, int add, int activation, int p0, int p1)
{
  clip_reduced_blocks (out, in, m, bias, add, activation, p0, p1, bf16_slice_portable, PORTABLE_ROWS, 0);
}

void
clip_int8_linear_portable (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                           const float *bias, int add, int activation, int p0, int p1)
{
  clip_reduced_blocks (out, in, m, bias, add, activation, p0, p1, int8_slice_portable, PORTABLE_ROWS, 0);
}

/* ------------------------------------------------------------------ choice of kernel */

static const struct {
  const char       *name;
  ClipReducedKernel kernel;
} kernels[2][CLIP_ISA_COUNT] = {
  [CLIP_REDUCED_BF16] = {
    [CLIP_ISA_PORTABLE] = { "portable-bf16-widened", clip_bf16_linear_portable },
#ifdef CLIP_X86_KERNELS
    [CLIP_ISA_AVX2] = { "avx2-bf16-widened", clip_bf16_linear_avx2 },
    [CLIP_ISA_AVX512] = { "avx512-bf16", clip_bf16_linear_avx512 },
    [CLIP_ISA_AMX] = { "amx-bf16", clip_bf16_linear_amx },
#endif
  },
  [CLIP_REDUCED_INT8] = {
    [CLIP_ISA_PORTABLE] = { "portable-int8", clip_int8_linear_portable },
#ifdef CLIP_X86_KERNELS
    [CLIP_ISA_AVX2] = { "avx2-int8", clip_int8_linear_avx2 },
    [CLIP_ISA_AVX_VNNI] = { "avx-vnni-int8", clip_int8_linear_avx_vnni },
    [CLIP_ISA_AVX512] = { "avx512-vnni-int8", clip_int8_linear_avx512 },
    [CLIP_ISA_AMX] = { "amx-int8", clip_int8_linear_amx },
#endif
  },
};

const char *
clip_isa_kernel_name (ClipReducedFormat format, ClipIsa isa)
{
  return kernels[format][isa].name;
}

int
clip_isa_supported (ClipReducedFormat format, ClipIsa isa)
{
  if (kernels[format][isa].kernel == NULL)
    return 0;
#ifdef CLIP_X86_KERNELS
  __builtin_cpu_init ();
  int bf16 = format == CLIP_REDUCED_BF16;
  switch (isa)
    {
    case CLIP_ISA_PORTABLE:
      return 1;
    case CLIP_ISA_AVX2:
      return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
    case CLIP_ISA_AVX_VNNI:
      return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("avxvnni");
    case CLIP_ISA_AVX512:
      return __builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512bw")
             && (bf16 ? __builtin_cpu_supports ("avx512bf16") : __builtin_cpu_supports ("avx512vnni"));
    case CLIP_ISA_AMX:
      return __builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512bw")
             && __builtin_cpu_supports ("amx-tile")
             && (bf16 ? __builtin_cpu_supports ("amx-bf16") : __builtin_cpu_supports ("amx-int8"))
             && clip_amx_enable ();
    case CLIP_ISA_COUNT:
      break;
    }
  return 0;
#else
  return isa == CLIP_ISA_PORTABLE;
#endif
}

static char cpu_name[49] = "unknown";

/* The brand string of CPUID leaves 0x80000002–4, without its padding. */
static void
cpu_name_read (void)
{
#ifdef CLIP_X86_KERNELS
  unsigned int regs[12];
  if (__get_cpuid_max (0x80000000, NULL) < 0x80000004)
    return;
  for (unsigned int leaf = 0; leaf < 3; leaf++)
    __get_cpuid (0x80000002 + leaf, &regs[4 * leaf], &regs[4 * leaf + 1], &regs[4 * leaf + 2], &regs[4 * leaf + 3]);
  char brand[49] = { 0 };
  memcpy (brand, regs, 48);
  const char *start = brand;
  while (*start == ' ')
    start++;
  size_t len = strlen (start);
  while (len > 0 && start[len - 1] == ' ')
    len--;
  if (len > 0)
    {
      memcpy (cpu_name, start, len);
      cpu_name[len] = 0;
    }
#endif
}

/* Declared in clip.h. */
const char *clip_cpu_model_name (void);

const char *
clip_cpu_model_name (void)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once (&once, cpu_name_read);
  return cpu_name;
}

/* CLIPLAB_KERNEL_ISA (portable, avx2, avx-vnni, avx512, amx) caps the choice: to compare the
 * kernels on one machine, or to run a CPU's without its best instruction set. */
ClipIsa
clip_isa_limit (void)
{
  static const char *const names[CLIP_ISA_COUNT] = { "portable", "avx2", "avx-vnni", "avx512", "amx" };
  const char *limit = getenv ("CLIPLAB_KERNEL_ISA");
  for (int isa = 0; limit != NULL && isa < CLIP_ISA_COUNT; isa++)
    if (strcmp (limit, names[isa]) == 0)
      return isa;
  return CLIP_ISA_COUNT - 1;
}

ClipIsa
clip_isa_best (ClipReducedFormat format)
{
  for (int isa = clip_isa_limit (); isa > CLIP_ISA_PORTABLE; isa--)
    if (clip_isa_supported (format, isa))
      return isa;
  return CLIP_ISA_PORTABLE;
}

void
clip_reduced_linear_forward (ClipIsa isa, const ClipReducedOutput *out, const ClipReducedInput *in,
                             const ClipReducedMatrix *m, const float *bias, int add, int activation, int p0, int p1)
{
  kernels[m->format][isa].kernel (out, in, m, bias, add, activation, p0, p1);
}
