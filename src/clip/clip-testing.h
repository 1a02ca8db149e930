/* clip-testing.h — helpers for tests, benchmarks and `cliplab-cli bench`; not installed, not part of
 * the library's API (clip.h). */
#pragma once

#include "clip.h"

G_BEGIN_DECLS

/* The deterministic ViT-B/32 weights of the golden references (../shared/golden/README.md): every
 * value follows from its tensor's name and index, so tests and benchmarks share a 600 MB model that
 * nobody ships. */

/* VALUES[0..N) of tensor NAME (a Hugging Face name; "input.pixel_values" gives the test images). */
void     clip_detweights_fill (const char *name, float *values, int64_t n);
/* Writes those weights to PATH as a ViT-B/32 safetensors file with Hugging Face names. */
gboolean clip_detweights_write (const char *path, GError **error);

/* Issues only the matrix products of encoding N images, as cblas_sgemm calls with the same shapes
 * on the weights in their file layout: the time OpenBLAS alone needs for them (encoding itself runs
 * its products on repacked weights, see the README's performance section).  The model's outputs are
 * not computed. */
gboolean clip_model_run_image_gemms (ClipModel *model, int n, GError **error);

/* Quality of the exploration (clip.h's "exploring a data set"), for tests and bench-map. */

/* The share of each row's true K nearest neighbours that NEIGHBORS holds, averaged over N_SAMPLE rows
 * drawn with SEED (found by brute force). */
double   clip_knn_recall (const float *x, int n, int dim, const ClipNeighbors *neighbors, int n_sample,
                          uint64_t seed);

/* Trustworthiness-style quality of a map: the share of each row's K nearest neighbours in EMBEDDINGS
 * that are also among its K nearest on the map XY, averaged over N_SAMPLE rows drawn with SEED. */
double clip_map_neighbor_preservation (const float *embeddings, int n, int dim, const float *xy, int k,
                                       int n_sample, uint64_t seed);

G_END_DECLS
