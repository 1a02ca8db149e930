/* kernel-choice.h — internal: the float32 product kernel for a weight shape on this machine. */
#pragma once

#include "clip.h"

typedef enum {
  CLIP_F32_PANELS,     /* clip_packed_linear_forward on weights repacked once */
  CLIP_F32_OPENBLAS,   /* cblas_sgemm on the weights as stored */
} ClipF32Kernel;

/* Measured at the first call for a shape (and thread count) on this machine, then cached (see
 * kernel-choice.c); thread-safe. */
ClipF32Kernel clip_f32_kernel_choose (int in_dim, int out_dim);

/* AUTO resolved on this machine: BF16 where the CPU has AMX or AVX512-BF16 and its bf16 kernel
 * multiplies faster than float32's (timed once, cached with the choices above), else F32. */
ClipPrecision clip_auto_precision (void);
