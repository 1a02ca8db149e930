/* ops-amx.c — the bf16 and int8 products on AMX tiles (TDPBF16PS, TDPBSSD).
 *
 * Linux hands out the tile registers' state (8 KB per thread) only to a process that asks for it
 * (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA, kernel 5.16 and later): clip_amx_enable asks
 * once; when refused, clip_isa_supported reports no AMX and the AVX-512 kernels run.  Each thread
 * loads the tile configuration once, at its first product.
 *
 * All eight tiles are 16 rows × 64 bytes: four accumulators (2 blocks of 16 rows × 2 halves of a
 * panel, 16 float32 or int32 columns each), two A tiles (16 input rows × 32 bf16 or 64 int8) and two
 * B tiles (16 pairs or quads of inputs × 16 columns, read from the panel with a stride of 128
 * bytes, the width of a panel's row).  A block of 16 rows (the inputs are padded to them) uses
 * half of the accumulators. */
#include "ops-reduced.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int amx_granted;

static void
amx_request (void)
{
  unsigned long features = 0;
  if (syscall (SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
    return;
  amx_granted = syscall (SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &features) == 0
                && (features & (1ul << XFEATURE_XTILEDATA)) != 0;
}

int
clip_amx_enable (void)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once (&once, amx_request);
  return amx_granted;
}

/* The 64-byte tile configuration (palette 1). */
typedef struct {
  uint8_t  palette;
  uint8_t  start_row;
  uint8_t  reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t  rows[16];
} __attribute__ ((packed, aligned (64))) TileConfig;

static __thread int tiles_configured;

__attribute__ ((target ("amx-tile"))) static void
tiles_configure (void)
{
  if (tiles_configured)
    return;
  TileConfig config = { .palette = 1 };
  for (int t = 0; t < 8; t++)
    {
      config.bytes_per_row[t] = 64;
      config.rows[t] = 16;
    }
  _tile_loadconfig (&config);
  tiles_configured = 1;
}

/* Panel row: 32 columns × 4 bytes (a pair of bf16 or a quad of int8 per column). */
#define PANEL_ROW_BYTES 128

/* Rows are taken in chunks whose inputs fill at most this much of L2 (2 MB a core on a Sapphire
 * Rapids): each panel then meets every block of the chunk from L2, the inputs stay there while the
 * panels pass, and each block's sums stay in the tiles over the whole input.  Before, the sums ran
 * over chunks of the inputs for all rows, and each block's partial sums went to a buffer of 2 MB or
 * more per thread and back between chunks: ViT-B/32 on 16 images, bf16 7.20–7.31 → 6.81–6.94 ms per
 * image, int8 4.90–5.01 → 4.47–4.87 (Sapphire Rapids, 2 threads). */
#define CHUNK_INPUT_BYTES (512 << 10)

/* The results of rows I … I + 31 and panel P, written out with bias, residual and activation. */
static void
bf16_store (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m, int i, int p,
            const float *results, const float *bias, int add, int activation)
{
  int c0 = p * CLIP_PANEL, cols = m->out_dim - c0 < CLIP_PANEL ? m->out_dim - c0 : CLIP_PANEL;
  int rows = in->n - i < 32 ? in->n - i : 32;
  clip_reduced_store (out, i, c0, results, rows, cols, bias, add,
                      activation);
}

static void
int8_store (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m, int i, int p,
            const int32_t *results, const float *bias, int add, int activation)
{
  clip_reduced_store_int8 (out, in, m, i, p, results, 16, bias, add, activation);
  if (in->n - i > 16)
    clip_reduced_store_int8 (out, in, m, i + 16, p, results + 16 * CLIP_PANEL, 16, bias, add, activation);
}

/* Tiles: 0–3 accumulators (rows 0–15 | 16–31) × (columns 0–15 | 16–31), 4–5 inputs, 6–7 weights.
 * Sums the whole input of rows I … I + 31 (I … I + 15 without TWO_BLOCKS) and panel P, starting from
 * zero, and leaves them at RESULTS.  K_STEP inputs per tile row; GROUP inputs per 32-bit lane of the
 * weights. */
#define AMX_BLOCK(DOT, K_STEP, GROUP, ELEMENT)                                                          \
  do                                                                                                    \
    {                                                                                                   \
      size_t in_stride = (size_t) in->k_pad * (ELEMENT);                                                \
      _tile_zero (0);                                                                                   \
      _tile_zero (1);                                                                                   \
      _tile_zero (2);                                                                                   \
      _tile_zero (3);                                                                                   \
      for (int s = 0; s < steps; s++)                                                                   \
        {                                                                                               \
          const char *w = panel + (size_t) s * ((K_STEP) / (GROUP)) * PANEL_ROW_BYTES;                  \
          const char *a = (const char *) in->rows + (size_t) i * in_stride + (size_t) s * (K_STEP) * (ELEMENT); \
          _tile_loadd (6, w, PANEL_ROW_BYTES);                                                          \
          _tile_loadd (7, w + 64, PANEL_ROW_BYTES);                                                     \
          _tile_loadd (4, a, in_stride);                                                                \
          DOT (0, 4, 6);                                                                                \
          DOT (1, 4, 7);                                                                                \
          if (two_blocks)                                                                               \
            {                                                                                           \
              _tile_loadd (5, a + 16 * in_stride, in_stride);                                           \
              DOT (2, 5, 6);                                                                            \
              DOT (3, 5, 7);                                                                            \
            }                                                                                           \
        }                                                                                               \
      _tile_stored (0, results, CLIP_PANEL * 4);                                                        \
      _tile_stored (1, (char *) results + 64, CLIP_PANEL * 4);                                          \
      if (two_blocks)                                                                                   \
        {                                                                                               \
          _tile_stored (2, (char *) results + 16 * CLIP_PANEL * 4, CLIP_PANEL * 4);                     \
          _tile_stored (3, (char *) results + 16 * CLIP_PANEL * 4 + 64, CLIP_PANEL * 4);                \
        }                                                                                               \
    }                                                                                                   \
  while (0)

/* The loops around AMX_BLOCK: chunks of rows (CHUNK_INPUT_BYTES of inputs), then panels, then
 * blocks of 32 rows; STORE writes each block's sums out from RESULTS.  PANEL_BYTES is one panel's
 * size. */
#define AMX_PRODUCT(DOT, K_STEP, GROUP, ELEMENT, PANEL_BYTES, STORE)                                    \
  do                                                                                                    \
    {                                                                                                   \
      int steps = in->k_pad / (K_STEP);                                                                 \
      size_t row_bytes = (size_t) in->k_pad * (ELEMENT);                                                \
      int chunk = (int) (CHUNK_INPUT_BYTES / row_bytes) / 32 * 32;                                      \
      if (chunk < 32)                                                                                   \
        chunk = 32;                                                                                     \
      for (int i0 = 0; i0 < in->n; i0 += chunk)                                                         \
        for (int p = p0; p < p1; p++)                                                                   \
          {                                                                                             \
            const char *panel = (const char *) m->panels + (size_t) p * (PANEL_BYTES);                  \
            for (int i = i0; i < in->n && i < i0 + chunk; i += 32)                                      \
              {                                                                                         \
                int two_blocks = in->n - i > 16;                                                        \
                AMX_BLOCK (DOT, K_STEP, GROUP, ELEMENT);                                                \
                STORE;                                                                                  \
              }                                                                                         \
          }                                                                                             \
    }                                                                                                   \
  while (0)

__attribute__ ((target ("amx-tile,amx-bf16,avx512f"))) void
clip_bf16_linear_amx (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                      const float *bias, int add, int activation, int p0, int p1)
{
  tiles_configure ();
  float results[32][CLIP_PANEL] __attribute__ ((aligned (64)));
  AMX_PRODUCT (_tile_dpbf16ps, 32, 2, 2, (size_t) (m->k_pad / 2) * PANEL_ROW_BYTES,
               bf16_store (out, in, m, i, p, &results[0][0], bias, add, activation));
}

__attribute__ ((target ("amx-tile,amx-int8,avx512f"))) void
clip_int8_linear_amx (const ClipReducedOutput *out, const ClipReducedInput *in, const ClipReducedMatrix *m,
                      const float *bias, int add, int activation, int p0, int p1)
{
  tiles_configure ();
  int32_t results[32][CLIP_PANEL] __attribute__ ((aligned (64)));
  AMX_PRODUCT (_tile_dpbssd, 64, 4, 1, (size_t) (m->k_pad / 4) * PANEL_ROW_BYTES,
               int8_store (out, in, m, i, p, &results[0][0], bias, add, activation));
}
#endif
