/* explore-private.h — internal: what the exploration modules (explore-*.c) share: progress and
 * abort through ClipCallbacks, a seeded generator whose streams do not depend on the thread
 * count, brute-force neighbour search for samples, and union-find. */
#pragma once

#include "clip.h"

#include <stdint.h>

/* Reports WHAT at DONE of TOTAL when a progress function is set. */
void     explore_progress (const ClipCallbacks *callbacks, const char *what, int64_t done, int64_t total);
/* TRUE (with CLIP_ERROR_ABORTED in ERROR, naming WHAT) when the abort function asks to stop. */
gboolean explore_aborted (const ClipCallbacks *callbacks, const char *what, GError **error);

/* splitmix64: one independent stream per (seed, stream id), so work split over threads draws the
 * same numbers whatever the split. */
typedef struct {
  uint64_t state;
} ExploreRng;

void     explore_rng_init (ExploreRng *rng, uint64_t seed, uint64_t stream);
uint64_t explore_rng_next (ExploreRng *rng);
/* Uniform in [0, BOUND), BOUND > 0. */
uint32_t explore_rng_below (ExploreRng *rng, uint32_t bound);
/* Uniform in [0, 1). */
double   explore_rng_uniform (ExploreRng *rng);

/* N_SAMPLE distinct rows of [0, N) drawn with SEED, ascending; N_SAMPLE ≤ N.  Free with g_free. */
int *explore_sample_rows (int n, int n_sample, uint64_t seed);

/* The K nearest rows of X [n, dim] to row Q by squared Euclidean distance (Q itself left out), nearest
 * first, into NEAREST [k]; by brute force, for measuring approximate results on a sample. */
void explore_brute_nearest (const float *x, int n, int dim, int q, int k, int32_t *nearest);

/* Union-find over [0, n) with path halving; the smaller root wins, so roots are deterministic. */
int  explore_find (int *parent, int i);
void explore_union (int *parent, int a, int b);
