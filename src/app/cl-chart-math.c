/* cl-chart-math.c — axis, tick, smoothing and decimation maths of the loss chart. */
#include "cl-chart-math.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- axes */

double
cl_chart_axis_map (const ClChartAxis *axis, double value)
{
  if (axis->log)
    {
      if (!(value > 0) || !isfinite (value))
        return NAN;
      double lo = log10 (axis->min), hi = log10 (axis->max);
      return (log10 (value) - lo) / (hi - lo);
    }
  return (value - axis->min) / (axis->max - axis->min);
}

double
cl_chart_axis_unmap (const ClChartAxis *axis, double fraction)
{
  if (axis->log)
    {
      double lo = log10 (axis->min), hi = log10 (axis->max);
      return pow (10, lo + fraction * (hi - lo));
    }
  return axis->min + fraction * (axis->max - axis->min);
}

bool
cl_chart_axis_fit (ClChartAxis *axis, const double *values, size_t n, bool log, double padding)
{
  double lo = INFINITY, hi = -INFINITY;

  for (size_t i = 0; i < n; i++)
    {
      double v = values[i];
      if (!isfinite (v) || (log && !(v > 0)))
        continue;
      double t = log ? log10 (v) : v;
      lo = fmin (lo, t);
      hi = fmax (hi, t);
    }
  if (lo > hi)
    return false;

  if (hi - lo <= 0)
    {
      /* One value (or all equal): a span around it that keeps its label readable. */
      double half = log ? log10 (2.0) : (lo != 0 ? fabs (lo) * 0.1 : 1.0);
      lo -= half;
      hi += half;
    }
  else
    {
      double pad = (hi - lo) * padding;
      lo -= pad;
      hi += pad;
    }
  axis->log = log;
  axis->min = log ? pow (10, lo) : lo;
  axis->max = log ? pow (10, hi) : hi;
  return true;
}

/* ---------------------------------------------------------------- ticks */

double
cl_chart_nice_number (double x, bool round)
{
  double exponent = floor (log10 (x));
  double base = pow (10, exponent);
  double fraction = x / base;
  double nice;

  if (round)
    nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  else
    nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * base;
}

/* The next nice number above and below the nice number S (…, 0.5, 1, 2, 5, 10, …). */
static double
nice_above (double s)
{
  return cl_chart_nice_number (s * 1.01, false);
}

static double
nice_below (double s)
{
  double base = pow (10, floor (log10 (s) + 1e-9));
  double mantissa = round (s / base);
  return mantissa >= 5 ? 2 * base : mantissa >= 2 ? base : 0.5 * base;
}

/* How many multiples of STEP lie in [MIN, MAX] (with a little tolerance for rounding). */
static double
ticks_in_range (double min, double max, double step)
{
  return floor (max / step + 1e-9) - ceil (min / step - 1e-9) + 1;
}

int
cl_chart_nice_ticks (double min, double max, int max_ticks, double *ticks, double *step)
{
  if (!(max > min) || max_ticks < 2)
    {
      *step = 0;
      return 0;
    }
  /* The smallest nice step giving at most MAX_TICKS ticks: from an estimate, up while there are
   * too many, then down while the next smaller step still fits. */
  double s = cl_chart_nice_number ((max - min) / (max_ticks - 1), false);
  while (ticks_in_range (min, max, s) > max_ticks)
    s = nice_above (s);
  while (ticks_in_range (min, max, nice_below (s)) <= max_ticks)
    s = nice_below (s);

  int n = 0;
  for (double k = ceil (min / s - 1e-9); n < max_ticks; k++)
    {
      double t = k * s;
      if (t > max + s * 1e-9)
        break;
      /* Exactly 0 rather than -0 or 1e-17 from rounding. */
      ticks[n++] = fabs (t) < s * 1e-9 ? 0 : t;
    }
  *step = s;
  return n;
}

int
cl_chart_log_ticks (double min, double max, int max_ticks, double *ticks)
{
  if (!(min > 0) || !(max > min) || max_ticks < 2)
    return 0;

  int lo = (int) ceil (log10 (min) - 1e-9), hi = (int) floor (log10 (max) + 1e-9);
  int decades = hi - lo + 1;
  if (decades >= 2)
    {
      /* Every STRIDE-th power of ten. */
      int stride = (decades + max_ticks - 1) / max_ticks;
      int n = 0;
      for (int e = lo; e <= hi && n < max_ticks; e++)
        if ((e - lo) % stride == 0)
          ticks[n++] = pow (10, e);
      return n;
    }

  static const double mantissas[] = { 1, 2, 5 };
  int n = 0;
  for (int e = (int) floor (log10 (min)); e <= (int) ceil (log10 (max)) && n < max_ticks; e++)
    for (size_t m = 0; m < sizeof mantissas / sizeof mantissas[0] && n < max_ticks; m++)
      {
        double t = mantissas[m] * pow (10, e);
        if (t >= min * (1 - 1e-9) && t <= max * (1 + 1e-9))
          ticks[n++] = t;
      }
  if (n >= 3 || (n == 2 && max_ticks < 4))
    return n;
  double step;
  return cl_chart_nice_ticks (min, max, max_ticks, ticks, &step);
}

/* ---------------------------------------------------------------- smoothing */

void
cl_chart_ema_init (ClChartEma *ema, double weight)
{
  ema->last = 0;
  ema->weight = weight;
  ema->count = 0;
}

double
cl_chart_ema_push (ClChartEma *ema, double value)
{
  if (!isfinite (value))
    return value;
  ema->count++;
  ema->last = ema->last * ema->weight + (1 - ema->weight) * value;
  double debias = 1 - pow (ema->weight, (double) ema->count);
  return debias > 0 ? ema->last / debias : value;
}

void
cl_chart_ema (const double *values, size_t n, double weight, double *smoothed)
{
  ClChartEma ema;

  cl_chart_ema_init (&ema, weight);
  for (size_t i = 0; i < n; i++)
    smoothed[i] = cl_chart_ema_push (&ema, values[i]);
}

/* ---------------------------------------------------------------- lookup and decimation */

size_t
cl_chart_nearest (const double *xs, size_t n, double x)
{
  /* The first element ≥ x, then whichever neighbour is closer. */
  size_t lo = 0, hi = n;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (xs[mid] < x)
        lo = mid + 1;
      else
        hi = mid;
    }
  if (lo == n)
    return n - 1;
  if (lo > 0 && x - xs[lo - 1] <= xs[lo] - x)
    return lo - 1;
  return lo;
}

size_t
cl_chart_decimate (const double *fx, const double *fy, size_t n, int columns, double *out_fx, double *out_fy)
{
  size_t out = 0;
  size_t i = 0;

  if (columns < 1)
    columns = 1;
  while (i < n)
    {
      if (!isfinite (fy[i]))
        {
          i++;
          continue;
        }
      /* The bucket of point I: every following point in the same column. */
      long column = lround (floor (fx[i] * columns));
      size_t first = i, last = i, low = i, high = i;
      size_t j = i + 1;
      for (; j < n && lround (floor (fx[j] * columns)) == column; j++)
        {
          if (!isfinite (fy[j]))
            continue;
          last = j;
          if (fy[j] < fy[low])
            low = j;
          if (fy[j] > fy[high])
            high = j;
        }
      /* Keep first, low, high, last in index order, without repeats. */
      size_t keep[4] = { first, low, high, last };
      for (int a = 1; a < 4; a++)
        for (int b = a; b > 0 && keep[b] < keep[b - 1]; b--)
          {
            size_t t = keep[b];
            keep[b] = keep[b - 1];
            keep[b - 1] = t;
          }
      for (int k = 0; k < 4; k++)
        if (k == 0 || keep[k] != keep[k - 1])
          {
            out_fx[out] = fx[keep[k]];
            out_fy[out] = fy[keep[k]];
            out++;
          }
      i = j;
    }
  return out;
}

/* ---------------------------------------------------------------- labels */

void
cl_chart_format_tick (double value, double step, char *buf, size_t size)
{
  double magnitude = fmax (fabs (value), step);
  if (step > 0 && (step < 1e-3 || magnitude >= 1e6))
    {
      /* Exponent form throughout the axis: "1e-04", "2.5e-05" (one decimal only when needed). */
      if (value == 0)
        snprintf (buf, size, "0");
      else
        {
          snprintf (buf, size, "%.1e", value);
          char *dot = strstr (buf, ".0e");
          if (dot != NULL)
            memmove (dot, dot + 2, strlen (dot + 2) + 1);
        }
      return;
    }
  int decimals = step > 0 ? (int) fmax (0, -floor (log10 (step) + 1e-9)) : 0;
  /* A step of 2.5 or 0.25 needs one more digit than its power of ten. */
  double scaled = step * pow (10, decimals);
  if (step > 0 && fabs (scaled - round (scaled)) > 1e-6)
    decimals++;
  snprintf (buf, size, "%.*f", decimals, fabs (value) < step * 1e-9 ? 0.0 : value);
}

void
cl_chart_format_duration (double seconds, char *buf, size_t size)
{
  if (!isfinite (seconds) || seconds < 0)
    {
      snprintf (buf, size, "—");
      return;
    }
  long long total = (long long) floor (seconds);
  long long h = total / 3600, m = total / 60 % 60, s = total % 60;
  if (h > 0)
    snprintf (buf, size, "%lld:%02lld:%02lld", h, m, s);
  else
    snprintf (buf, size, "%lld:%02lld", m, s);
}
