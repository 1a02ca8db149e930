/* cl-chart-math.h — the maths of the loss chart, apart from any drawing: axis ranges, nice ticks,
 * linear and logarithmic value-to-fraction mapping, TensorBoard's EMA smoothing, min/max
 * decimation and the nearest point under the pointer.
 *
 * An axis maps values to 0..1 (cl_chart_axis_map); the chart turns fractions into pixels and only
 * draws arrays computed here.  Pure C11 + libm: tests/gui/test-chart-math.c covers every function. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  double min;
  double max;        /* > min; on a logarithmic axis both > 0 */
  bool   log;
} ClChartAxis;

/* The fraction of AXIS at VALUE: 0 at min, 1 at max, outside for values beyond; log10-linear on a
 * logarithmic axis, where a value ≤ 0 or a non-finite one gives NaN. */
double cl_chart_axis_map (const ClChartAxis *axis, double value);
/* The value at FRACTION (the inverse of cl_chart_axis_map). */
double cl_chart_axis_unmap (const ClChartAxis *axis, double fraction);

/* Fits AXIS to the finite VALUES[0..N) (only the positive ones when LOG), widened on each side by
 * PADDING × the span (in log10 units on a logarithmic axis).  A zero span gets one of its own: ±10 %
 * of the value (±1 around 0), or a factor of 2 either side on a logarithmic axis.
 * Returns false, leaving AXIS unchanged, when no value qualifies. */
bool cl_chart_axis_fit (ClChartAxis *axis, const double *values, size_t n, bool log, double padding);

/* The "nice" number near X > 0 (Heckbert): 1, 2, 5 or 10 × a power of ten; rounded to the nearest
 * when ROUND, else the smallest not below X. */
double cl_chart_nice_number (double x, bool round);

/* Linear ticks: the multiples of a nice step inside [MIN, MAX], at most MAX_TICKS (≥ 2) of them,
 * written to TICKS; *STEP receives the step.  Returns the count. */
int cl_chart_nice_ticks (double min, double max, int max_ticks, double *ticks, double *step);

/* Logarithmic ticks inside [MIN, MAX] (both > 0): every power of ten when there are at least two,
 * thinned to at most MAX_TICKS; within a narrower range 1, 2 and 5 × 10^k, and when those are fewer
 * than three (two when MAX_TICKS < 4), linear nice ticks.  Returns the count. */
int cl_chart_log_ticks (double min, double max, int max_ticks, double *ticks);

/* TensorBoard's smoothing: an exponential moving average with WEIGHT in [0, 1) and de-biasing
 * (divided by 1 - WEIGHT^k after k finite values), so the curve starts at the first value rather
 * than at 0.  Non-finite values pass through unsmoothed and do not disturb the average. */
void cl_chart_ema (const double *values, size_t n, double weight, double *smoothed);

/* The running state of cl_chart_ema, to smooth values as they arrive. */
typedef struct {
  double last;
  double weight;
  size_t count;      /* finite values so far */
} ClChartEma;

void   cl_chart_ema_init (ClChartEma *ema, double weight);
double cl_chart_ema_push (ClChartEma *ema, double value);

/* The index of the element of XS[0..N) (sorted ascending) nearest to X; ties go to the lower one.
 * N must be > 0. */
size_t cl_chart_nearest (const double *xs, size_t n, double x);

/* Min/max decimation for a line over COLUMNS pixel columns: the points (FX, FY) (FX fractions in
 * [0, 1], ascending) are bucketed by column, and each bucket keeps its first, lowest, highest and last
 * point in their original order, so spikes survive and the line looks as drawn in full.  Points with
 * a non-finite FY are left out.  OUT_FX / OUT_FY hold at least MIN (N, 4 × COLUMNS) elements.
 * Returns the count. */
size_t cl_chart_decimate (const double *fx, const double *fy, size_t n, int columns,
                          double *out_fx, double *out_fy);

/* A tick label for VALUE on an axis whose ticks are STEP apart: as many decimals as STEP needs, or
 * exponents for steps below 0.001 or values from a million ("1e-04", "2.5e-05", "0").  Written to
 * BUF of SIZE bytes. */
void cl_chart_format_tick (double value, double step, char *buf, size_t size);

/* SECONDS as "M:SS" or "H:MM:SS" (rounded down to whole seconds); "—" when negative or not finite. */
void cl_chart_format_duration (double seconds, char *buf, size_t size);
