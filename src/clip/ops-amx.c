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
#include <stdlib.h>
#include <sys/mman.h>
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

/* The sums run over the inputs in chunks of this many tile steps (256 bf16 or 512 int8): for one
 * chunk, the thread's panels and all input rows take about 1 MB, which stays in L2 while every
 * block of rows meets every panel, so the tiles load from L2 or L1 instead of from L3 (a whole
 * 3072-input panel is 192 KB, and the inputs of fc2 5 MB).  Between chunks each block's partial
 * sums wait in a buffer of the thread's own; this cut the products' time by about a quarter on a
 * Sapphire Rapids core. */
#define CHUNK_STEPS 8
/* … when the inputs have more rows than this: a few blocks of rows (one image's 50) read each panel
 * only a few times, and streaming the panels in one piece each was faster. */
#define CHUNK_MIN_ROWS 64

/* The thread's buffer of partial sums (4 bytes each), freed when the thread ends. */
typedef struct {
  size_t bytes;
  void  *data;
} PartialSums;

static pthread_key_t partial_key;
static int partial_key_made;
static pthread_once_t partial_once = PTHREAD_ONCE_INIT;

static void
partial_free (void *data)
{
  PartialSums *partial = data;
  free (partial->data);
  free (partial);
}

static void
partial_key_make (void)
{
  partial_key_made = pthread_key_create (&partial_key, partial_free) == 0;
}

/* BYTES of this thread's buffer, or NULL when there is no memory for it (the sums then run over
 * the whole input in one chunk). */
static void *
partial_get (size_t bytes)
{
  pthread_once (&partial_once, partial_key_make);
  if (!partial_key_made)
    return NULL;
  PartialSums *partial = pthread_getspecific (partial_key);
  if (partial == NULL)
    {
      partial = calloc (1, sizeof *partial);
      if (partial == NULL || pthread_setspecific (partial_key, partial) != 0)
        {
          free (partial);
          return NULL;
        }
    }
  if (partial->bytes < bytes)
    {
      /* On huge pages where the kernel gives them: the rows of partial sums lie far apart. */
      size_t huge = (size_t) 2 << 20, rounded = (bytes + huge - 1) / huge * huge;
      free (partial->data);
      partial->data = aligned_alloc (huge, rounded);
      partial->bytes = partial->data != NULL ? rounded : 0;
#ifdef MADV_HUGEPAGE
      if (partial->data != NULL)
        madvise (partial->data, rounded, MADV_HUGEPAGE);
#endif
    }
  return partial->data;
}

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
 * Sums tile steps S0 … S1 − 1 of rows I … I + 31 (I … I + 15 without TWO_BLOCKS) and panel P into
 * the accumulators, starting from zero (FIRST) or from the partial sums at SAVED (row stride
 * SAVED_STRIDE bytes), and leaves them at TARGET (row stride TARGET_STRIDE).  K_STEP inputs per
 * tile row; GROUP inputs per 32-bit lane of the weights. */
#define AMX_CHUNK(DOT, K_STEP, GROUP, ELEMENT)                                                          \
  do                                                                                                    \
    {                                                                                                   \
      size_t in_stride = (size_t) in->k_pad * (ELEMENT);                                                \
      if (first)                                                                                        \
        {                                                                                               \
          _tile_zero (0);                                                                               \
          _tile_zero (1);                                                                               \
          _tile_zero (2);                                                                               \
          _tile_zero (3);                                                                               \
        }                                                                                               \
      else                                                                                              \
        {                                                                                               \
          _tile_loadd (0, saved, saved_stride);                                                         \
          _tile_loadd (1, saved + 64, saved_stride);                                                    \
          if (two_blocks)                                                                               \
            {                                                                                           \
              _tile_loadd (2, saved + 16 * saved_stride, saved_stride);                                 \
              _tile_loadd (3, saved + 16 * saved_stride + 64, saved_stride);                            \
            }                                                                                           \
        }                                                                                               \
      for (int s = s0; s < s1; s++)                                                                     \
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
      _tile_stored (0, target, target_stride);                                                          \
      _tile_stored (1, target + 64, target_stride);                                                     \
      if (two_blocks)                                                                                   \
        {                                                                                               \
          _tile_stored (2, target + 16 * target_stride, target_stride);                                 \
          _tile_stored (3, target + 16 * target_stride + 64, target_stride);                            \
        }                                                                                               \
    }                                                                                                   \
  while (0)

/* The loops around AMX_CHUNK: chunks of the input outermost, then, in chunks, blocks of 32 rows
 * and within them panels (a chunk of every panel stays in L2 while the rows pass), or, in one piece,
 * panels and within them blocks of rows (each panel streams from memory once).  The last chunk's
 * sums go to RESULTS and STORE writes them out.  PANEL_BYTES is one panel's size. */
#define AMX_PRODUCT(DOT, K_STEP, GROUP, ELEMENT, PANEL_BYTES, STORE)                                    \
  do                                                                                                    \
    {                                                                                                   \
      int steps = in->k_pad / (K_STEP), chunk = CHUNK_STEPS;                                            \
      int row_blocks = (in->n + 31) / 32, n_panels = p1 - p0;                                           \
      size_t saved_stride = (size_t) n_panels * CLIP_PANEL * 4;                                         \
      char *partial = NULL;                                                                             \
      if (steps > chunk && n_panels > 0 && in->n > CHUNK_MIN_ROWS)                                      \
        partial = partial_get (saved_stride * in->n_pad);                                               \
      if (partial == NULL)                                                                              \
        chunk = steps;                                                                                  \
      for (int s0 = 0; s0 < steps; s0 += chunk)                                                         \
        {                                                                                               \
          int s1 = s0 + chunk < steps ? s0 + chunk : steps, first = s0 == 0, last = s1 == steps;        \
          for (int b = 0; b < row_blocks * n_panels; b++)                                               \
            {                                                                                           \
              int i = 32 * (partial != NULL ? b / n_panels : b % row_blocks);                           \
              int p = p0 + (partial != NULL ? b % n_panels : b / row_blocks);                           \
              int two_blocks = in->n - i > 16;                                                          \
              const char *panel = (const char *) m->panels + (size_t) p * (PANEL_BYTES);                \
              char *saved = partial + (size_t) i * saved_stride + (size_t) (p - p0) * CLIP_PANEL * 4;   \
              char *target = last ? (char *) results : saved;                                           \
              size_t target_stride = last ? CLIP_PANEL * 4 : saved_stride;                              \
              AMX_CHUNK (DOT, K_STEP, GROUP, ELEMENT);                                                  \
              if (last)                                                                                 \
                STORE;                                                                                  \
            }                                                                                           \
        }                                                                                               \
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
