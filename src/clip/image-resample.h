/* image-resample.h — internal: Pillow's 8-bit bicubic resize and CLIP's crop/normalise arithmetic.
 *
 * Pure C11 + libm.  Output sizes and window offsets are int64_t because resizing the short side of
 * a 1 × 10⁸ strip to 224 gives a long side beyond INT_MAX; only the requested window is computed. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Output size when the shorter side of IN_W × IN_H becomes SIZE and the longer one keeps the aspect
 * (torchvision Resize(int) on a PIL image: long = int(SIZE · long / short), truncated). */
void clip_resize_shorter_side (int in_w, int in_h, int size, int64_t *out_w, int64_t *out_h);

/* torchvision CenterCrop offset: round((in_len − crop_len) / 2.0), ties to even. */
int64_t clip_center_crop_offset (int64_t in_len, int64_t crop_len);

/* Bytes of scratch memory clip_resample_bicubic_rgb8 needs for the same arguments. */
size_t clip_resample_scratch_size (int in_w, int in_h, int64_t out_w, int64_t out_h,
                                   int64_t win_x, int64_t win_y, int win_w, int win_h);

/* Resizes packed RGB SRC (IN_W × IN_H) to OUT_W × OUT_H exactly as Pillow's Image.resize with
 * BICUBIC does for mode "RGB", but writes only the window [WIN_X, WIN_X + WIN_W) × [WIN_Y, WIN_Y + WIN_H)
 * of the result into DST (packed RGB, WIN_W × WIN_H).  Every output pixel depends only on its own
 * filter taps, so the window equals the same region of the full resize.  SCRATCH holds
 * clip_resample_scratch_size() bytes, aligned as malloc aligns (NULL when that size is 0).
 * The window must be non-empty and lie inside the output. */
void clip_resample_bicubic_rgb8 (const uint8_t *src, int in_w, int in_h, int64_t out_w, int64_t out_h,
                                 int64_t win_x, int64_t win_y, int win_w, int win_h,
                                 void *scratch, uint8_t *dst);

/* HWC RGB bytes → CHW floats: (float (v) / 255 − mean[c]) / std[c], all in float32 (torchvision
 * ToTensor + Normalize). */
void clip_normalize_rgb8_chw (const uint8_t *hwc, size_t n_pixels, const float mean[3],
                              const float std[3], float *chw);
