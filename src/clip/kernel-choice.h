/* kernel-choice.h — internal: the float32 product kernel of a whole forward pass on this machine. */
#pragma once

#include "clip.h"

typedef enum {
  CLIP_F32_PANELS,     /* clip_packed_linear_forward on weights repacked once */
  CLIP_F32_OPENBLAS,   /* cblas_sgemm on the weights as stored */
} ClipF32Kernel;

/* The two regimes a kernel is chosen for: one image (or prompt) per pass, and a batch. */
typedef enum {
  CLIP_PASS_ONE,
  CLIP_PASS_BATCH,
  CLIP_N_PASS_REGIMES
} ClipPassRegime;

/* A value cached on this machine under KEY (NULL when none), and caching one (best effort, as
 * every choice here). */
char *clip_choice_lookup (const char *key);
void  clip_choice_store (const char *key, const char *value);

/* "panels" or "openblas". */
const char *clip_f32_kernel_name (ClipF32Kernel kernel);

/* The kernels of a model whose shape SHAPE names (its widths, so that models of different sizes
 * are timed apart), one per regime, when they need no timing: forced by CLIPLAB_F32_KERNEL,
 * OpenBLAS without room for its buffers, or cached by an earlier measurement on this machine
 * (CPU model, OpenBLAS build, library version and thread count).  FALSE when they must be timed. */
gboolean clip_f32_pass_kernels_known (const char *shape, ClipF32Kernel kernels[CLIP_N_PASS_REGIMES]);

/* Seconds per image (*SECONDS) of a short real forward pass with every product on KERNEL, in REGIME;
 * FALSE when the pass was stopped (the caller's abort). */
typedef gboolean (*ClipPassTimer) (ClipF32Kernel kernel, ClipPassRegime regime, gpointer data, double *seconds);

/* Times both kernels with TIMER (runs interleaved, the fastest of each kept), writes the faster per
 * regime into KERNELS and caches it under SHAPE; thread-safe.  FALSE, with nothing written or cached,
 * as soon as TIMER is stopped.  When the regimes prefer different
 * kernels (so the model keeps both copies of its weights) but one kernel costs either regime less
 * than 10 % of its time, that kernel runs both. */
gboolean clip_f32_pass_kernels_measure (const char *shape, ClipPassTimer timer, gpointer data,
                                        ClipF32Kernel kernels[CLIP_N_PASS_REGIMES]);

/* The fastest precision on this machine among F32, BF16 where the CPU has AMX or AVX512-BF16, and
 * (WITH_INT8) INT8 where it has a vector int8 kernel: timed once on one product, cached with the
 * choices above. */
ClipPrecision clip_auto_precision (gboolean with_int8);
