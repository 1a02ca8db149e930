/* parallel.h — internal: a fork-join loop that spreads the work between BLAS calls (LayerNorm,
 * attention, activations) over the cores. */
#pragma once

#include <glib.h>
#include <stdint.h>

/* Processes items START .. END − 1 of a loop; called once per chunk, on any thread. */
typedef void (*ClipRangeFunc) (int64_t start, int64_t end, gpointer data);

/* Runs FUNC over [0, N) in chunks of at least GRAIN items on clip_get_threads () threads (the
 * caller's included) and returns when all are done.  Every item is processed by exactly one call, so
 * results do not depend on the thread count as long as FUNC treats items independently. */
void clip_parallel_for (int64_t n, int64_t grain, ClipRangeFunc func, gpointer data);
