/* ops-avx512.c — the bf16 and int8 products on vector registers: VDPBF16PS (AVX512-BF16), VPDPBUSD
 * (AVX512-VNNI, and AVX-VNNI on 256-bit registers), and for CPUs with AVX2 alone float32 products
 * over widened bf16 and VPMADDUBSW for int8.  Each
 * function is built for its own instruction set and only called when the CPU has it
 * (clip_isa_supported).  A block of rows × one panel of 32 columns is summed in registers over the
 * whole input; the panel's pairs (bf16) or quads (int8) of inputs match one 32-bit lane. */
#include "ops-reduced.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <string.h>

/* Rows per block: 8 × 2 accumulators, the two panel vectors and a broadcast fit the 32 registers;
 * the prepared inputs have a multiple of 16 rows, so blocks never run past them. */
#define AVX512_ROWS 8

__attribute__ ((target ("avx512f,avx512bw,avx512bf16"))) void
clip_bf16_linear_avx512 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                         const float *bias, int add, int activation, int p0, int p1)
{
  int pairs = m->k_pad / 2;
  const int32_t *inputs = in->rows;
  for (int p = p0; p < p1; p++)
    {
      const char *panel = (const char *) m->panels + (size_t) p * pairs * CLIP_PANEL * 4;
      int c0 = p * CLIP_PANEL, cols = m->out_dim - c0 < CLIP_PANEL ? m->out_dim - c0 : CLIP_PANEL;
      for (int i = 0; i < in->n; i += AVX512_ROWS)
        {
          __m512 acc[AVX512_ROWS][2];
          for (int r = 0; r < AVX512_ROWS; r++)
            acc[r][0] = acc[r][1] = _mm512_setzero_ps ();
          const int32_t *a = inputs + (size_t) i * pairs;
          for (int kp = 0; kp < pairs; kp++)
            {
              __m512bh w0 = (__m512bh) _mm512_load_si512 (panel + (size_t) kp * 128);
              __m512bh w1 = (__m512bh) _mm512_load_si512 (panel + (size_t) kp * 128 + 64);
              for (int r = 0; r < AVX512_ROWS; r++)
                {
                  __m512bh pair = (__m512bh) _mm512_set1_epi32 (a[(size_t) r * pairs + kp]);
                  acc[r][0] = _mm512_dpbf16_ps (acc[r][0], pair, w0);
                  acc[r][1] = _mm512_dpbf16_ps (acc[r][1], pair, w1);
                }
            }
          float sums[AVX512_ROWS][CLIP_PANEL];
          for (int r = 0; r < AVX512_ROWS; r++)
            {
              _mm512_storeu_ps (sums[r], acc[r][0]);
              _mm512_storeu_ps (sums[r] + 16, acc[r][1]);
            }
          int rows = in->n - i < AVX512_ROWS ? in->n - i : AVX512_ROWS;
          clip_reduced_store (out, i, c0, &sums[0][0], rows, cols,
                              bias, add, activation);
        }
    }
}

/* VPDPBUSD multiplies unsigned by signed bytes: the int8 inputs go in with 128 added (a flip of
 * the top bit), and 128 · Σ w of the column comes off the sums. */
#define FLIP_SIGNS 0x80808080

__attribute__ ((target ("avx512f,avx512bw,avx512vnni"))) void
clip_int8_linear_avx512 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                         const float *bias, int add, int activation, int p0, int p1)
{
  int quads = m->k_pad / 4;
  const int32_t *inputs = in->rows;
  for (int p = p0; p < p1; p++)
    {
      const char *panel = (const char *) m->panels + (size_t) p * quads * CLIP_PANEL * 4;
      __m512i offset0 = _mm512_slli_epi32 (_mm512_loadu_si512 (m->sums + p * CLIP_PANEL), 7);
      __m512i offset1 = _mm512_slli_epi32 (_mm512_loadu_si512 (m->sums + p * CLIP_PANEL + 16), 7);
      for (int i = 0; i < in->n; i += AVX512_ROWS)
        {
          __m512i acc[AVX512_ROWS][2];
          for (int r = 0; r < AVX512_ROWS; r++)
            acc[r][0] = acc[r][1] = _mm512_setzero_si512 ();
          const int32_t *a = inputs + (size_t) i * quads;
          for (int kq = 0; kq < quads; kq++)
            {
              __m512i w0 = _mm512_load_si512 (panel + (size_t) kq * 128);
              __m512i w1 = _mm512_load_si512 (panel + (size_t) kq * 128 + 64);
              for (int r = 0; r < AVX512_ROWS; r++)
                {
                  __m512i quad = _mm512_set1_epi32 (a[(size_t) r * quads + kq] ^ (int32_t) FLIP_SIGNS);
                  acc[r][0] = _mm512_dpbusd_epi32 (acc[r][0], quad, w0);
                  acc[r][1] = _mm512_dpbusd_epi32 (acc[r][1], quad, w1);
                }
            }
          int32_t totals[AVX512_ROWS][CLIP_PANEL];
          for (int r = 0; r < AVX512_ROWS; r++)
            {
              _mm512_storeu_si512 (totals[r], _mm512_sub_epi32 (acc[r][0], offset0));
              _mm512_storeu_si512 (totals[r] + 16, _mm512_sub_epi32 (acc[r][1], offset1));
            }
          clip_reduced_store_int8 (out, in, m, i, p, &totals[0][0], AVX512_ROWS, bias, add, activation);
        }
    }
}

/* 16 registers: 4 rows × 2 accumulators of 8 columns, half a panel at a time. */
#define AVX_VNNI_ROWS 4

__attribute__ ((target ("avx2,avxvnni"))) void
clip_int8_linear_avx_vnni (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                           const float *bias, int add, int activation, int p0, int p1)
{
  int quads = m->k_pad / 4;
  const int32_t *inputs = in->rows;
  for (int p = p0; p < p1; p++)
    {
      const char *panel = (const char *) m->panels + (size_t) p * quads * CLIP_PANEL * 4;
      for (int i = 0; i < in->n; i += AVX_VNNI_ROWS)
        {
          int32_t totals[AVX_VNNI_ROWS][CLIP_PANEL];
          const int32_t *a = inputs + (size_t) i * quads;
          for (int half = 0; half < 2; half++)
            {
              __m256i acc[AVX_VNNI_ROWS][2];
              for (int r = 0; r < AVX_VNNI_ROWS; r++)
                acc[r][0] = acc[r][1] = _mm256_setzero_si256 ();
              for (int kq = 0; kq < quads; kq++)
                {
                  const char *w = panel + (size_t) kq * 128 + half * 64;
                  __m256i w0 = _mm256_load_si256 ((const __m256i *) w);
                  __m256i w1 = _mm256_load_si256 ((const __m256i *) (w + 32));
                  for (int r = 0; r < AVX_VNNI_ROWS; r++)
                    {
                      __m256i quad = _mm256_set1_epi32 (a[(size_t) r * quads + kq] ^ (int32_t) FLIP_SIGNS);
                      acc[r][0] = _mm256_dpbusd_avx_epi32 (acc[r][0], quad, w0);
                      acc[r][1] = _mm256_dpbusd_avx_epi32 (acc[r][1], quad, w1);
                    }
                }
              const int32_t *sums = m->sums + p * CLIP_PANEL + half * 16;
              __m256i offset0 = _mm256_slli_epi32 (_mm256_loadu_si256 ((const __m256i *) sums), 7);
              __m256i offset1 = _mm256_slli_epi32 (_mm256_loadu_si256 ((const __m256i *) (sums + 8)), 7);
              for (int r = 0; r < AVX_VNNI_ROWS; r++)
                {
                  _mm256_storeu_si256 ((__m256i *) (totals[r] + half * 16), _mm256_sub_epi32 (acc[r][0], offset0));
                  _mm256_storeu_si256 ((__m256i *) (totals[r] + half * 16 + 8), _mm256_sub_epi32 (acc[r][1], offset1));
                }
            }
          clip_reduced_store_int8 (out, in, m, i, p, &totals[0][0], AVX_VNNI_ROWS, bias, add, activation);
        }
    }
}
/* AVX2 (4 rows × 2 accumulators of 8 columns, half a panel at a time, in 16 registers). */
#define AVX2_ROWS 4

/* bf16 without bf16 instructions: each 32-bit lane of the panel holds the pair (k, k + 1) of one
 * column; shifted up 16 bits it is input k's weight as a float, masked input k + 1's.  The pair of
 * inputs is split the same way, so every product is exact and the sums float32, as VDPBF16PS's. */
__attribute__ ((target ("avx2,fma"))) void
clip_bf16_linear_avx2 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                       const float *bias, int add, int activation, int p0, int p1)
{
  int pairs = m->k_pad / 2;
  const int32_t *inputs = in->rows;
  const __m256i high = _mm256_set1_epi32 ((int32_t) 0xffff0000);
  for (int p = p0; p < p1; p++)
    {
      const char *panel = (const char *) m->panels + (size_t) p * pairs * CLIP_PANEL * 4;
      int c0 = p * CLIP_PANEL, cols = m->out_dim - c0 < CLIP_PANEL ? m->out_dim - c0 : CLIP_PANEL;
      for (int i = 0; i < in->n; i += AVX2_ROWS)
        {
          float sums[AVX2_ROWS][CLIP_PANEL];
          const int32_t *a = inputs + (size_t) i * pairs;
          for (int half = 0; half < 2; half++)
            {
              __m256 acc[AVX2_ROWS][2];
              for (int r = 0; r < AVX2_ROWS; r++)
                acc[r][0] = acc[r][1] = _mm256_setzero_ps ();
              for (int kp = 0; kp < pairs; kp++)
                {
                  const char *w = panel + (size_t) kp * 128 + half * 64;
                  __m256i w0 = _mm256_load_si256 ((const __m256i *) w);
                  __m256i w1 = _mm256_load_si256 ((const __m256i *) (w + 32));
                  __m256 even0 = _mm256_castsi256_ps (_mm256_slli_epi32 (w0, 16));
                  __m256 odd0 = _mm256_castsi256_ps (_mm256_and_si256 (w0, high));
                  __m256 even1 = _mm256_castsi256_ps (_mm256_slli_epi32 (w1, 16));
                  __m256 odd1 = _mm256_castsi256_ps (_mm256_and_si256 (w1, high));
                  for (int r = 0; r < AVX2_ROWS; r++)
                    {
                      __m256i pair = _mm256_set1_epi32 (a[(size_t) r * pairs + kp]);
                      __m256 a0 = _mm256_castsi256_ps (_mm256_slli_epi32 (pair, 16));
                      __m256 a1 = _mm256_castsi256_ps (_mm256_and_si256 (pair, high));
                      acc[r][0] = _mm256_fmadd_ps (a1, odd0, _mm256_fmadd_ps (a0, even0, acc[r][0]));
                      acc[r][1] = _mm256_fmadd_ps (a1, odd1, _mm256_fmadd_ps (a0, even1, acc[r][1]));
                    }
                }
              for (int r = 0; r < AVX2_ROWS; r++)
                {
                  _mm256_storeu_ps (sums[r] + half * 16, acc[r][0]);
                  _mm256_storeu_ps (sums[r] + half * 16 + 8, acc[r][1]);
                }
            }
          int rows = in->n - i < AVX2_ROWS ? in->n - i : AVX2_ROWS;
          clip_reduced_store (out, i, c0, &sums[0][0], rows, cols,
                              bias, add, activation);
        }
    }
}

/* int8 without VNNI: VPMADDUBSW multiplies unsigned by signed bytes into saturating 16-bit pairs,
 * so the input goes in as |a| and its sign moves onto the weight (|a| · ±w ≤ 2 · 127 · 127 per pair,
 * no saturation); VPMADDWD by ones sums the pairs into the int32 sums of each quad. */
__attribute__ ((target ("avx2"))) void
clip_int8_linear_avx2 (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                       const float *bias, int add, int activation, int p0, int p1)
{
  int quads = m->k_pad / 4;
  const int32_t *inputs = in->rows;
  const __m256i ones = _mm256_set1_epi16 (1);
  for (int p = p0; p < p1; p++)
    {
      const char *panel = (const char *) m->panels + (size_t) p * quads * CLIP_PANEL * 4;
      for (int i = 0; i < in->n; i += AVX2_ROWS)
        {
          int32_t totals[AVX2_ROWS][CLIP_PANEL];
          const int32_t *a = inputs + (size_t) i * quads;
          for (int half = 0; half < 2; half++)
            {
              __m256i acc[AVX2_ROWS][2];
              for (int r = 0; r < AVX2_ROWS; r++)
                acc[r][0] = acc[r][1] = _mm256_setzero_si256 ();
              for (int kq = 0; kq < quads; kq++)
                {
                  const char *w = panel + (size_t) kq * 128 + half * 64;
                  __m256i w0 = _mm256_load_si256 ((const __m256i *) w);
                  __m256i w1 = _mm256_load_si256 ((const __m256i *) (w + 32));
                  for (int r = 0; r < AVX2_ROWS; r++)
                    {
                      __m256i quad = _mm256_set1_epi32 (a[(size_t) r * quads + kq]);
                      __m256i magnitude = _mm256_abs_epi8 (quad);
                      __m256i pairs0 = _mm256_maddubs_epi16 (magnitude, _mm256_sign_epi8 (w0, quad));
                      __m256i pairs1 = _mm256_maddubs_epi16 (magnitude, _mm256_sign_epi8 (w1, quad));
                      acc[r][0] = _mm256_add_epi32 (acc[r][0], _mm256_madd_epi16 (pairs0, ones));
                      acc[r][1] = _mm256_add_epi32 (acc[r][1], _mm256_madd_epi16 (pairs1, ones));
                    }
                }
              for (int r = 0; r < AVX2_ROWS; r++)
                {
                  _mm256_storeu_si256 ((__m256i *) (totals[r] + half * 16), acc[r][0]);
                  _mm256_storeu_si256 ((__m256i *) (totals[r] + half * 16 + 8), acc[r][1]);
                }
            }
          clip_reduced_store_int8 (out, in, m, i, p, &totals[0][0], AVX2_ROWS, bias, add, activation);
        }
    }
}
#endif
