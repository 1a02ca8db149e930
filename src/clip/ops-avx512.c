/* ops-avx512.c — the bf16 and int8 products on vector registers: VDPBF16PS (AVX512-BF16), VPDPBUSD
 * (AVX512-VNNI, and AVX-VNNI on 256-bit registers), and for CPUs with AVX2 alone float32 products
 * over widened bf16 and VPMADDUBSW for int8.  Each function is built for its own instruction set and
 * only called when the CPU has it (clip_isa_supported).  Each is the slice kernel of
 * clip_reduced_blocks: a block of rows × one panel of 32 columns summed in registers over a slice of
 * the inputs; the panel's pairs (bf16) or quads (int8) of inputs match one 32-bit lane. */
#include "ops-reduced.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <string.h>

/* Group G of a slice asks for the two lines of the slice to come that are its share (see
 * clip_reduced_blocks). */
static inline __attribute__ ((always_inline)) void
prefetch_share (const char *prefetch, int prefetch_iters, int g)
{
  if (g < prefetch_iters)
    {
      __builtin_prefetch (prefetch + (size_t) g * 128, 0, 2);
      __builtin_prefetch (prefetch + (size_t) g * 128 + 64, 0, 2);
    }
}

/* VPDPBUSD multiplies unsigned by signed bytes: the int8 inputs go in with 128 added (a flip of
 * the top bit), and clip_reduced_blocks takes 128 · Σ w of the column off the sums. */
#define FLIP_SIGNS 0x80808080

/* What the int8 kernels broadcast: the block's quads of inputs, flipped to unsigned (FLIPPED) or
 * as magnitudes, staged once per slice so that each broadcast is a load rather than a vector
 * instruction (broadcast from a general register, it took a port VPDPBUSD needs).  ViT-B/32 on the
 * Sapphire Rapids (2026-12-08, before and after interleaved), capped with CLIPLAB_KERNEL_ISA, a
 * batch of 16, ms per image: avx512-vnni-int8 14.5–14.7 → 12.2–13.4, avx-vnni-int8 26.1–26.2 →
 * 19.0–20.0, avx2-int8 40.8–41.0 → 38.9–39.4. */
__attribute__ ((target ("avx2"))) static inline __attribute__ ((always_inline)) void
stage_quads (int32_t (*staged)[CLIP_SLICE_GROUPS], int rows, const int32_t *a, size_t lda, int groups, int flipped)
{
  const __m256i flip = _mm256_set1_epi32 ((int32_t) FLIP_SIGNS);
  for (int r = 0; r < rows; r++)
    for (int g = 0; g < groups; g += 8)
      {
        __m256i quads = _mm256_loadu_si256 ((const __m256i *) (a + (size_t) r * lda + g));
        quads = flipped ? _mm256_xor_si256 (quads, flip) : _mm256_abs_epi8 (quads);
        _mm256_store_si256 ((__m256i *) &staged[r][g], quads);
      }
}

/* Rows per block: 8 × 2 accumulators, the two panel vectors and a broadcast fit the 32 registers. */
#define AVX512_ROWS 8

__attribute__ ((target ("avx512f,avx512bw,avx512bf16"))) static void
bf16_slice_avx512 (void *totals, int first, const int32_t *a, size_t lda, const char *panel, int groups,
                   const char *prefetch, int prefetch_iters)
{
  __m512 acc[AVX512_ROWS][2];
  for (int r = 0; r < AVX512_ROWS; r++)
    acc[r][0] = acc[r][1] = _mm512_setzero_ps ();
  for (int g = 0; g < groups; g++)
    {
      prefetch_share (prefetch, prefetch_iters, g);
      __m512bh w0 = (__m512bh) _mm512_load_si512 (panel + (size_t) g * 128);
      __m512bh w1 = (__m512bh) _mm512_load_si512 (panel + (size_t) g * 128 + 64);
      for (int r = 0; r < AVX512_ROWS; r++)
        {
          __m512bh pair = (__m512bh) _mm512_set1_epi32 (a[(size_t) r * lda + g]);
          acc[r][0] = _mm512_dpbf16_ps (acc[r][0], pair, w0);
          acc[r][1] = _mm512_dpbf16_ps (acc[r][1], pair, w1);
        }
    }
  float *t = totals;
  for (int r = 0; r < AVX512_ROWS; r++)
    for (int h = 0; h < 2; h++)
      {
        float *at = t + r * CLIP_PANEL + h * 16;
        _mm512_store_ps (at, first ? acc[r][h] : _mm512_add_ps (_mm512_load_ps (at), acc[r][h]));
      }
}

__attribute__ ((target ("avx512f,avx512bw,avx512bf16"))) void
clip_bf16_linear_avx512 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                         const float *bias, int add, int activation, int p0, int p1)
{
  clip_reduced_blocks (out, in, m, bias, add, activation, p0, p1, bf16_slice_avx512, AVX512_ROWS, 0);
}

__attribute__ ((target ("avx512f,avx512bw,avx512vnni"))) static void
int8_slice_avx512 (void *totals, int first, const int32_t *a, size_t lda, const char *panel, int groups,
                   const char *prefetch, int prefetch_iters)
{
  int32_t flipped[AVX512_ROWS][CLIP_SLICE_GROUPS] __attribute__ ((aligned (32)));
  stage_quads (flipped, AVX512_ROWS, a, lda, groups, 1);
  __m512i acc[AVX512_ROWS][2];
  for (int r = 0; r < AVX512_ROWS; r++)
    acc[r][0] = acc[r][1] = _mm512_setzero_si512 ();
  for (int g = 0; g < groups; g++)
    {
      prefetch_share (prefetch, prefetch_iters, g);
      __m512i w0 = _mm512_load_si512 (panel + (size_t) g * 128);
      __m512i w1 = _mm512_load_si512 (panel + (size_t) g * 128 + 64);
      for (int r = 0; r < AVX512_ROWS; r++)
        {
          __m512i quad = _mm512_set1_epi32 (flipped[r][g]);
          acc[r][0] = _mm512_dpbusd_epi32 (acc[r][0], quad, w0);
          acc[r][1] = _mm512_dpbusd_epi32 (acc[r][1], quad, w1);
        }
    }
  int32_t *t = totals;
  for (int r = 0; r < AVX512_ROWS; r++)
    for (int h = 0; h < 2; h++)
      {
        __m512i *at = (__m512i *) (t + r * CLIP_PANEL + h * 16);
        _mm512_store_si512 (at, first ? acc[r][h] : _mm512_add_epi32 (_mm512_load_si512 (at), acc[r][h]));
      }
}

__attribute__ ((target ("avx512f,avx512bw,avx512vnni"))) void
clip_int8_linear_avx512 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                         const float *bias, int add, int activation, int p0, int p1)
{
  clip_reduced_blocks (out, in, m, bias, add, activation, p0, p1, int8_slice_avx512, AVX512_ROWS, 1);
}

/* The 256-bit kernels: 16 registers hold 4 rows × 2 accumulators of 8 columns, half a panel at a
 * time; the slice is read twice, from cache the second time. */
#define HALF_ROWS 4

/* T [HALF_ROWS][CLIP_PANEL] += (or, FIRST, =) the accumulators of half H of a panel. */
__attribute__ ((target ("avx2"))) static inline void
add_half_epi32 (int32_t *t, int first, int h, __m256i acc[HALF_ROWS][2])
{
  for (int r = 0; r < HALF_ROWS; r++)
    for (int j = 0; j < 2; j++)
      {
        __m256i *at = (__m256i *) (t + r * CLIP_PANEL + h * 16 + j * 8);
        _mm256_store_si256 (at, first ? acc[r][j] : _mm256_add_epi32 (_mm256_load_si256 (at), acc[r][j]));
      }
}

/* The body of the 256-bit int8 slice kernels: the block's quads staged (FLIPPED, or as magnitudes)
 * in STAGED, then half a panel at a time and group by group, ROW (r, g, w0, w1) adds row r's
 * products with the weights W0, W1 of group g (16 columns) to acc[r][0] and acc[r][1]. */
#define INT8_HALF_PANELS(FLIPPED, ROW)                                                                \
  do                                                                                                  \
    {                                                                                                 \
      int32_t staged[HALF_ROWS][CLIP_SLICE_GROUPS] __attribute__ ((aligned (32)));                    \
      stage_quads (staged, HALF_ROWS, a, lda, groups, FLIPPED);                                       \
      for (int h = 0; h < 2; h++)                                                                     \
        {                                                                                             \
          __m256i acc[HALF_ROWS][2];                                                                  \
          for (int r = 0; r < HALF_ROWS; r++)                                                         \
            acc[r][0] = acc[r][1] = _mm256_setzero_si256 ();                                          \
          for (int g = 0; g < groups; g++)                                                            \
            {                                                                                         \
              prefetch_share (prefetch, h == 0 ? prefetch_iters : 0, g);                              \
              const char *w = panel + (size_t) g * 128 + h * 64;                                      \
              __m256i w0 = _mm256_load_si256 ((const __m256i *) w);                                   \
              __m256i w1 = _mm256_load_si256 ((const __m256i *) (w + 32));                            \
              for (int r = 0; r < HALF_ROWS; r++)                                                     \
                ROW (r, g, w0, w1);                                                                   \
            }                                                                                         \
          add_half_epi32 (totals, first, h, acc);                                                     \
        }                                                                                             \
    }                                                                                                 \
  while (0)

/* VPDPBUSD on the flipped quad. */
#define VNNI_ROW(r, g, w0, w1)                                                                        \
  do                                                                                                  \
    {                                                                                                 \
      __m256i quad = _mm256_set1_epi32 (staged[r][g]);                                                \
      acc[r][0] = _mm256_dpbusd_avx_epi32 (acc[r][0], quad, w0);                                      \
      acc[r][1] = _mm256_dpbusd_avx_epi32 (acc[r][1], quad, w1);                                      \
    }                                                                                                 \
  while (0)

__attribute__ ((target ("avx2,avxvnni"))) static void
int8_slice_avx_vnni (void *totals, int first, const int32_t *a, size_t lda, const char *panel, int groups,
                     const char *prefetch, int prefetch_iters)
{
  INT8_HALF_PANELS (1, VNNI_ROW);
}

__attribute__ ((target ("avx2,avxvnni"))) void
clip_int8_linear_avx_vnni (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                           const float *bias, int add, int activation, int p0, int p1)
{
  clip_reduced_blocks (out, in, m, bias, add, activation, p0, p1, int8_slice_avx_vnni, HALF_ROWS, 1);
}

/* bf16 without bf16 instructions: each 32-bit lane of the panel holds the pair (k, k + 1) of one
 * column; shifted up 16 bits it is input k's weight as a float, masked input k + 1's.  The pair of
 * inputs is split the same way, so every product is exact and the sums float32, as VDPBF16PS's. */
__attribute__ ((target ("avx2,fma"))) static void
bf16_slice_avx2 (void *totals, int first, const int32_t *a, size_t lda, const char *panel, int groups,
                 const char *prefetch, int prefetch_iters)
{
  const __m256i high = _mm256_set1_epi32 ((int32_t) 0xffff0000);
  float *t = totals;
  for (int h = 0; h < 2; h++)
    {
      __m256 acc[HALF_ROWS][2];
      for (int r = 0; r < HALF_ROWS; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_ps ();
      for (int g = 0; g < groups; g++)
        {
          prefetch_share (prefetch, h == 0 ? prefetch_iters : 0, g);
          const char *w = panel + (size_t) g * 128 + h * 64;
          __m256i w0 = _mm256_load_si256 ((const __m256i *) w);
          __m256i w1 = _mm256_load_si256 ((const __m256i *) (w + 32));
          __m256 even0 = _mm256_castsi256_ps (_mm256_slli_epi32 (w0, 16));
          __m256 odd0 = _mm256_castsi256_ps (_mm256_and_si256 (w0, high));
          __m256 even1 = _mm256_castsi256_ps (_mm256_slli_epi32 (w1, 16));
          __m256 odd1 = _mm256_castsi256_ps (_mm256_and_si256 (w1, high));
          for (int r = 0; r < HALF_ROWS; r++)
            {
              __m256i pair = _mm256_set1_epi32 (a[(size_t) r * lda + g]);
              __m256 a0 = _mm256_castsi256_ps (_mm256_slli_epi32 (pair, 16));
              __m256 a1 = _mm256_castsi256_ps (_mm256_and_si256 (pair, high));
              acc[r][0] = _mm256_fmadd_ps (a1, odd0, _mm256_fmadd_ps (a0, even0, acc[r][0]));
              acc[r][1] = _mm256_fmadd_ps (a1, odd1, _mm256_fmadd_ps (a0, even1, acc[r][1]));
            }
        }
      for (int r = 0; r < HALF_ROWS; r++)
        for (int j = 0; j < 2; j++)
          {
            float *at = t + r * CLIP_PANEL + h * 16 + j * 8;
            _mm256_store_ps (at, first ? acc[r][j] : _mm256_add_ps (_mm256_load_ps (at), acc[r][j]));
          }
    }
}

__attribute__ ((target ("avx2,fma"))) void
clip_bf16_linear_avx2 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                       const float *bias, int add, int activation, int p0, int p1)
{
  clip_reduced_blocks (out, in, m, bias, add, activation, p0, p1, bf16_slice_avx2, HALF_ROWS, 0);
}

/* int8 without VNNI: VPMADDUBSW multiplies unsigned by signed bytes into saturating 16-bit pairs,
 * so the input goes in as |a| (staged) and its sign moves onto the weight (|a| · ±w ≤ 2 · 127 · 127
 * per pair, no saturation); VPMADDWD by ones sums the pairs into the int32 sums of each quad. */
#define MADDUBS_ROW(r, g, w0, w1)                                                                     \
  do                                                                                                  \
    {                                                                                                 \
      const __m256i ones = _mm256_set1_epi16 (1);                                                     \
      __m256i quad = _mm256_set1_epi32 (a[(size_t) (r) * lda + (g)]);                                 \
      __m256i magnitude = _mm256_set1_epi32 (staged[r][g]);                                           \
      __m256i pairs0 = _mm256_maddubs_epi16 (magnitude, _mm256_sign_epi8 (w0, quad));                 \
      __m256i pairs1 = _mm256_maddubs_epi16 (magnitude, _mm256_sign_epi8 (w1, quad));                 \
      acc[r][0] = _mm256_add_epi32 (acc[r][0], _mm256_madd_epi16 (pairs0, ones));                     \
      acc[r][1] = _mm256_add_epi32 (acc[r][1], _mm256_madd_epi16 (pairs1, ones));                     \
    }                                                                                                 \
  while (0)

__attribute__ ((target ("avx2"))) static void
int8_slice_avx2 (void *totals, int first, const int32_t *a, size_t lda, const char *panel, int groups,
                 const char *prefetch, int prefetch_iters)
{
  INT8_HALF_PANELS (0, MADDUBS_ROW);
}

__attribute__ ((target ("avx2"))) void
clip_int8_linear_avx2 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                       const float *bias, int add, int activation, int p0, int p1)
{
  clip_reduced_blocks (out, in, m, bias, add, activation, p0, p1, int8_slice_avx2, HALF_ROWS, 0);
}
#endif
