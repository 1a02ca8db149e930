/* golden.h — reading reference tensors and running a model's towers against them. */
#pragma once

#include "clip-private.h"
#include "testutil.h"

/* The reference file, opened once per test program. */
ClipSafetensors *golden_open (const char *rel);
/* A copy of tensor NAME as floats; fails the test when absent. */
float *golden_floats (ClipSafetensors *st, const char *name, int64_t *n);
const int32_t *golden_i32 (ClipSafetensors *st, const char *name, int64_t *n);

typedef struct {
  float *image_features, *text_features, *image_embeds, *text_embeds, *logits, loss;
  float *vision_pooled, *text_pooled, *text_last_hidden;
  float **vision_hidden, **text_hidden;
  int n_images, n_texts;
} GoldenOutputs;

/* Runs both towers with traces on PIXELS [n_images, 3, S, S] and IDS [n_texts, row_len]. */
void golden_run (ClipModel *model, const float *pixels, int n_images, const int32_t *ids, int n_texts,
                 int row_len, GoldenOutputs *out);
void golden_outputs_clear (GoldenOutputs *out, const ClipModel *model);
