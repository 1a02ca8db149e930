/* ops-reduced.h — internal: inference products in bfloat16 and int8 (pure C11, no GLib).
 *
 * The weights are packed once, in panels of CLIP_PANEL output columns like the float32 panels of
 * ops.h, but with the inputs of each column interleaved in the groups one instruction multiplies:
 * pairs for bf16 ([IN/2][32][2], what VDPBF16PS and AMX's TDPBF16PS read) and quads for int8
 * ([IN/4][32][4], for VPDPBUSD and TDPBSSD).  One layout serves every instruction set, so the
 * kernel is chosen per call.  The inputs of a product are rounded once per call into a
 * ClipReducedInput (bf16, or int8 with a scale per row); sums accumulate in float32 (bf16) or
 * int32 (int8); bias, residual and activation are applied in float32 as the results are written.
 *
 * bf16: products of two bf16 values are exact in float32, so every kernel computes the same sums
 * up to the order of the float32 additions.  int8: weights symmetric per output column
 * (scale = max |w| / 127), inputs symmetric per row; the int32 sums are exact, so every kernel
 * gives bit-identical results. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ops.h"   /* CLIP_PANEL, CLIP_PACKED_* */

typedef enum {
  CLIP_REDUCED_BF16,
  CLIP_REDUCED_INT8,
} ClipReducedFormat;

/* The instruction sets a reduced product has a kernel for, slowest first. */
typedef enum {
  CLIP_ISA_PORTABLE,   /* plain C, any CPU (bf16: float32 products over weights widened on the fly) */
  CLIP_ISA_AVX2,       /* the same C built for AVX2 + FMA */
  CLIP_ISA_AVX_VNNI,   /* int8 only: VPDPBUSD on 256-bit registers (AVX-VNNI) */
  CLIP_ISA_AVX512,     /* VDPBF16PS (AVX512-BF16) or VPDPBUSD (AVX512-VNNI) */
  CLIP_ISA_AMX,        /* tiles: TDPBF16PS (AMX-BF16) or TDPBSSD (AMX-INT8) */
  CLIP_ISA_COUNT
} ClipIsa;

/* Inputs are padded with zeros to a multiple of this (one AMX tile row: 32 bf16 or 64 int8)… */
#define CLIP_REDUCED_K_ALIGN 64
/* … and the rows of a prepared input to a multiple of this (AMX multiplies 16 rows at a time). */
#define CLIP_REDUCED_ROW_ALIGN 16

typedef struct {
  ClipReducedFormat format;
  int               in_dim, out_dim, k_pad;
  void             *panels;   /* bf16: uint16_t [panels][k_pad/2][32][2]; int8: int8_t [panels][k_pad/4][32][4] */
  float            *scales;   /* int8: [panels · 32] per output column (0 for the padding) */
  int32_t          *sums;     /* int8: [panels · 32] sums of each column's int8 weights */
} ClipReducedMatrix;

/* Bytes of memory a matrix needs (a multiple of 64), and its layout in MEMORY (64-byte aligned). */
size_t clip_reduced_matrix_bytes (ClipReducedFormat format, int in_dim, int out_dim);
void clip_reduced_matrix_init (ClipReducedMatrix *m, ClipReducedFormat format, int in_dim, int out_dim,
                               void *memory);
/* Writes WEIGHT [COUNT, IN] as the columns COL0 … COL0 + COUNT − 1 (several weights can share a
 * matrix: Q, K and V).  Every column must be written once; the padding columns are zeroed here. */
void clip_reduced_pack (ClipReducedMatrix *m, const float *weight, int count, int col0);

/* The inverse, as far as rounding allows: WEIGHT [COUNT, IN] from the columns COL0 … of M. */
void clip_reduced_unpack (const ClipReducedMatrix *m, float *weight, int count, int col0);

typedef struct {
  ClipReducedFormat format;
  int               n, n_pad, k_pad;
  void             *rows;     /* bf16: uint16_t [n_pad][k_pad]; int8: int8_t [n_pad][k_pad] */
  float            *scales;   /* int8: [n_pad] per row */
} ClipReducedInput;

size_t clip_reduced_input_bytes (ClipReducedFormat format, int n, int in_dim);
/* Lays out an input of N rows in MEMORY (64-byte aligned) and zeroes its padding rows and columns. */
void clip_reduced_input_init (ClipReducedInput *in, ClipReducedFormat format, int n, int in_dim, void *memory);
/* Rounds rows R0 … R1 − 1 of INP [N, IN] into IN. */
void clip_reduced_input_fill (ClipReducedInput *in, const float *inp, int in_dim, int r0, int r1);

/* Where a product writes its results: float32 rows ROWS [N, ·] at row stride LD, or, with ROUNDED,
 * rounded to bf16 straight into the bf16 input of the product that takes them next (column c of
 * the results is its input c; ROWS is then unused), which spares writing them in float32 and
 * reading them back. */
typedef struct {
  float            *rows;
  int               ld;
  ClipReducedInput *rounded;
} ClipReducedOutput;

/* For the output columns of panels P0 … P1 − 1: out[N, ·] = ACTIVATION ((out if ADD, else 0) +
 * bias + in · mᵀ), as clip_packed_linear_forward, with the kernel for ISA, which the CPU must
 * support (clip_isa_supported).  ADD needs float32 rows. */
void clip_reduced_linear_forward (ClipIsa isa, const ClipReducedOutput *out, const ClipReducedInput *in,
                                  const ClipReducedMatrix *m, const float *bias, int add, int activation,
                                  int p0, int p1);

/* Whether this CPU (and, for AMX, the operating system) runs FORMAT's kernel for ISA. */
int clip_isa_supported (ClipReducedFormat format, ClipIsa isa);
/* The instruction set named by the environment variable CLIPLAB_KERNEL_ISA (portable, avx2,
 * avx-vnni, avx512, amx), which caps every kernel's choice (to compare kernels on one machine);
 * CLIP_ISA_AMX when unset. */
ClipIsa clip_isa_limit (void);
/* The fastest kernel this CPU runs for FORMAT, up to clip_isa_limit. */
ClipIsa clip_isa_best (ClipReducedFormat format);
/* "amx-bf16", "avx512-bf16", "avx2-bf16-widened", … ; NULL when FORMAT has no kernel for ISA. */
const char *clip_isa_kernel_name (ClipReducedFormat format, ClipIsa isa);

/* float ↔ bfloat16, rounding to nearest even (NaN stays NaN). */
static inline uint16_t
clip_bf16_from_float (float x)
{
  union { float f; uint32_t u; } v = { x };
  if ((v.u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((v.u >> 16) | 0x40);
  return (uint16_t) ((v.u + 0x7fffu + ((v.u >> 16) & 1)) >> 16);
}

static inline float
clip_bf16_to_float (uint16_t h)
{
  union { uint32_t u; float f; } v = { (uint32_t) h << 16 };
  return v.f;
}

/* Internal to the kernel files: the results of ROWS rows from I and COLS columns from C0, SUMS
 * [rows][CLIP_PANEL] floats, written to OUT with base, bias and activation (see
 * clip_reduced_linear_forward). */
void clip_reduced_store (const ClipReducedOutput *out, int i, int c0, const float *sums, int rows, int cols,
                         const float *bias, int add, int activation);
/* The same for int8: TOTALS [BLOCK_ROWS][CLIP_PANEL] are the int32 sums of rows I … of panel P, scaled
 * back by the row and column scales (BLOCK_ROWS ≤ 16). */
void clip_reduced_store_int8 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                              int i, int p, const int32_t *totals, int block_rows, const float *bias, int add,
                              int activation);
/* Groups of a slice: 16 KB of a panel, summed for every block of a chunk before the next slice. */
#define CLIP_SLICE_GROUPS 128

/* The inner part of the vector kernels (ops-avx512.c and the portable ones): TOTALS [BLOCK_ROWS]
 * [CLIP_PANEL] (float32 sums for bf16, int32 for int8) += (or, for the FIRST slice of a panel, =)
 * the kernel's block of input rows from A (LDA groups apart) times GROUPS groups of PANEL (a group
 * is a pair or quad of inputs, one 32-bit lane; 128 bytes of the panel).  GROUPS is at most
 * CLIP_SLICE_GROUPS and a multiple of 16 (the inputs are padded to CLIP_REDUCED_K_ALIGN).
 * Meanwhile the first PREFETCH_ITERS groups each ask for two lines from PREFETCH on. */
typedef void (*ClipSliceKernel) (void *totals, int first, const int32_t *a, size_t lda, const char *panel,
                                 int groups, const char *prefetch, int prefetch_iters);
/* clip_reduced_linear_forward with SLICE for blocks of BLOCK_ROWS rows (a divisor of
 * CLIP_REDUCED_ROW_ALIGN).  FLIPPED: the kernel added 128 to each int8 input (VPDPBUSD multiplies
 * unsigned bytes), so 128 · Σ w of each column comes off the sums. */
void clip_reduced_blocks (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                          const float *bias, int add, int activation, int p0, int p1, ClipSliceKernel slice,
                          int block_rows, int flipped);
/* The kernels of each instruction set, for the panels P0 … P1 − 1. */
typedef void (*ClipReducedKernel) (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                                   const float *bias, int add, int activation, int p0, int p1);
void clip_bf16_linear_portable (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                                const float *bias, int add, int activation, int p0, int p1);
void clip_bf16_linear_avx2 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                            const float *bias, int add, int activation, int p0, int p1);
void clip_bf16_linear_avx512 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                              const float *bias, int add, int activation, int p0, int p1);
void clip_bf16_linear_amx (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                           const float *bias, int add, int activation, int p0, int p1);
void clip_int8_linear_portable (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                                const float *bias, int add, int activation, int p0, int p1);
void clip_int8_linear_avx2 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                            const float *bias, int add, int activation, int p0, int p1);
void clip_int8_linear_avx_vnni (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                                const float *bias, int add, int activation, int p0, int p1);
void clip_int8_linear_avx512 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                              const float *bias, int add, int activation, int p0, int p1);
void clip_int8_linear_amx (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                           const float *bias, int add, int activation, int p0, int p1);
/* Asks Linux for the AMX tile state once per process; nonzero when granted. */
int clip_amx_enable (void);
