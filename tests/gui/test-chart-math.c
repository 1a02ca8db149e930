/* test-chart-math.c — the loss chart's maths (cl-chart-math.c): axis mapping and fitting, nice and
 * logarithmic ticks, EMA smoothing, nearest-point lookup, min/max decimation and labels. */
#include <glib.h>
#include <math.h>

#include "cl-chart-math.h"

static void
test_axis_map (void)
{
  ClChartAxis linear = { 2, 6, false };
  g_assert_cmpfloat_with_epsilon (cl_chart_axis_map (&linear, 2), 0, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_axis_map (&linear, 6), 1, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_axis_map (&linear, 3), 0.25, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_axis_map (&linear, 10), 2, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_axis_unmap (&linear, 0.25), 3, 1e-12);

  ClChartAxis log = { 1e-3, 10, true };
  g_assert_cmpfloat_with_epsilon (cl_chart_axis_map (&log, 1e-3), 0, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_axis_map (&log, 0.01), 0.25, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_axis_map (&log, 10), 1, 1e-12);
  g_assert_true (isnan (cl_chart_axis_map (&log, 0)));
  g_assert_true (isnan (cl_chart_axis_map (&log, -1)));
  g_assert_true (isnan (cl_chart_axis_map (&log, INFINITY)));
  g_assert_cmpfloat_with_epsilon (cl_chart_axis_unmap (&log, 0.5), 0.1, 1e-12);
  for (double v = 0.002; v < 10; v *= 1.7)
    g_assert_cmpfloat_with_epsilon (cl_chart_axis_unmap (&log, cl_chart_axis_map (&log, v)), v, v * 1e-12);
}

static void
test_axis_fit (void)
{
  ClChartAxis axis = { 0, 1, false };

  const double mixed[] = { 3, NAN, 1, INFINITY, 2, -INFINITY };
  g_assert_true (cl_chart_axis_fit (&axis, mixed, G_N_ELEMENTS (mixed), false, 0.05));
  g_assert_cmpfloat_with_epsilon (axis.min, 0.9, 1e-12);
  g_assert_cmpfloat_with_epsilon (axis.max, 3.1, 1e-12);
  g_assert_false (axis.log);

  /* Log axes ignore values ≤ 0 and pad in decades. */
  const double decades[] = { 0, -1, 0.01, 1, 100 };
  g_assert_true (cl_chart_axis_fit (&axis, decades, G_N_ELEMENTS (decades), true, 0));
  g_assert_true (axis.log);
  g_assert_cmpfloat_with_epsilon (axis.min, 0.01, 1e-12);
  g_assert_cmpfloat_with_epsilon (axis.max, 100, 1e-9);
  g_assert_true (cl_chart_axis_fit (&axis, decades, G_N_ELEMENTS (decades), true, 0.25));
  g_assert_cmpfloat_with_epsilon (axis.min, 0.001, 1e-12);
  g_assert_cmpfloat_with_epsilon (axis.max, 1000, 1e-9);

  /* A single value still makes an axis. */
  const double five = 5, zero = 0, four = 4;
  g_assert_true (cl_chart_axis_fit (&axis, &five, 1, false, 0.05));
  g_assert_cmpfloat_with_epsilon (axis.min, 4.5, 1e-12);
  g_assert_cmpfloat_with_epsilon (axis.max, 5.5, 1e-12);
  g_assert_true (cl_chart_axis_fit (&axis, &zero, 1, false, 0.05));
  g_assert_cmpfloat_with_epsilon (axis.min, -1, 1e-12);
  g_assert_cmpfloat_with_epsilon (axis.max, 1, 1e-12);
  g_assert_true (cl_chart_axis_fit (&axis, &four, 1, true, 0.05));
  g_assert_cmpfloat_with_epsilon (axis.min, 2, 1e-12);
  g_assert_cmpfloat_with_epsilon (axis.max, 8, 1e-12);

  /* Nothing usable: the axis stays as it was. */
  const double nothing[] = { NAN, -2 };
  ClChartAxis kept = { 7, 9, false };
  g_assert_false (cl_chart_axis_fit (&kept, nothing, G_N_ELEMENTS (nothing), true, 0.05));
  g_assert_false (cl_chart_axis_fit (&kept, nothing, 1, false, 0.05));
  g_assert_cmpfloat (kept.min, ==, 7);
  g_assert_cmpfloat (kept.max, ==, 9);
}

static void
test_nice_number (void)
{
  g_assert_cmpfloat_with_epsilon (cl_chart_nice_number (1.4, true), 1, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_nice_number (1.6, true), 2, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_nice_number (3.2, true), 5, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_nice_number (7.5, true), 10, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_nice_number (1.01, false), 2, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_nice_number (2.0, false), 2, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_nice_number (2.01, false), 5, 1e-12);
  g_assert_cmpfloat_with_epsilon (cl_chart_nice_number (0.0042, false), 0.005, 1e-15);
  g_assert_cmpfloat_with_epsilon (cl_chart_nice_number (730, false), 1000, 1e-9);
}

static void
assert_ticks (double min, double max, int max_ticks, const double *want, int n_want, double want_step)
{
  double ticks[64], step;
  int n = cl_chart_nice_ticks (min, max, max_ticks, ticks, &step);

  g_assert_cmpint (n, ==, n_want);
  g_assert_cmpfloat_with_epsilon (step, want_step, want_step * 1e-12);
  for (int i = 0; i < n; i++)
    g_assert_cmpfloat_with_epsilon (ticks[i], want[i], want_step * 1e-9);
}

static void
test_nice_ticks (void)
{
  assert_ticks (0, 10, 6, (const double[]) { 0, 2, 4, 6, 8, 10 }, 6, 2);
  assert_ticks (0.13, 0.87, 5, (const double[]) { 0.2, 0.4, 0.6, 0.8 }, 4, 0.2);
  assert_ticks (-1, 1, 5, (const double[]) { -1, -0.5, 0, 0.5, 1 }, 5, 0.5);
  assert_ticks (0, 1000, 3, (const double[]) { 0, 500, 1000 }, 3, 500);
  assert_ticks (2.31, 4.17, 8, (const double[]) { 2.5, 3, 3.5, 4 }, 4, 0.5);

  /* Zero is exactly +0 (its label must not read "-0.0"). */
  double ticks[64], step;
  int n = cl_chart_nice_ticks (-0.3, 0.3, 7, ticks, &step);
  gboolean found_zero = FALSE;
  for (int i = 0; i < n; i++)
    if (ticks[i] == 0)
      {
        found_zero = TRUE;
        g_assert_false (signbit (ticks[i]));
      }
  g_assert_true (found_zero);

  /* An empty range has no ticks. */
  g_assert_cmpint (cl_chart_nice_ticks (3, 3, 5, ticks, &step), ==, 0);

  /* Over many ranges: never more than asked, always inside, evenly spaced by a 1-2-5 step. */
  for (int a = -20; a < 20; a++)
    for (int b = 1; b < 40; b += 3)
      for (int max_ticks = 2; max_ticks < 12; max_ticks++)
        {
          double min = a * 0.37, max = min + b * b * 0.011;
          n = cl_chart_nice_ticks (min, max, max_ticks, ticks, &step);
          g_assert_cmpint (n, <=, max_ticks);
          g_assert_cmpint (n, >=, 1);
          double mantissa = step / pow (10, floor (log10 (step)));
          g_assert_true (fabs (mantissa - 1) < 1e-9 || fabs (mantissa - 2) < 1e-9 || fabs (mantissa - 5) < 1e-9);
          for (int i = 0; i < n; i++)
            {
              g_assert_cmpfloat (ticks[i], >=, min - step * 1e-6);
              g_assert_cmpfloat (ticks[i], <=, max + step * 1e-6);
              if (i > 0)
                g_assert_cmpfloat_with_epsilon (ticks[i] - ticks[i - 1], step, step * 1e-6);
            }
        }
}

static void
test_log_ticks (void)
{
  double ticks[64];

  int n = cl_chart_log_ticks (1e-4, 10, 10, ticks);
  g_assert_cmpint (n, ==, 6);
  for (int i = 0; i < n; i++)
    g_assert_cmpfloat_with_epsilon (ticks[i], pow (10, i - 4), pow (10, i - 4) * 1e-12);

  /* 21 decades thinned to 5 ticks. */
  n = cl_chart_log_ticks (1e-10, 1e10, 5, ticks);
  g_assert_cmpint (n, ==, 5);
  const double thinned[] = { 1e-10, 1e-5, 1, 1e5, 1e10 };
  for (int i = 0; i < n; i++)
    g_assert_cmpfloat_with_epsilon (ticks[i], thinned[i], thinned[i] * 1e-12);

  /* Less than two decades: 1, 2 and 5 times powers of ten. */
  n = cl_chart_log_ticks (0.3, 4, 8, ticks);
  g_assert_cmpint (n, ==, 3);
  g_assert_cmpfloat_with_epsilon (ticks[0], 0.5, 1e-12);
  g_assert_cmpfloat_with_epsilon (ticks[1], 1, 1e-12);
  g_assert_cmpfloat_with_epsilon (ticks[2], 2, 1e-12);

  /* Narrower still: linear ticks, also when 1-2-5 would give only two. */
  n = cl_chart_log_ticks (2.1, 2.9, 5, ticks);
  g_assert_cmpint (n, ==, 4);
  g_assert_cmpfloat_with_epsilon (ticks[0], 2.2, 1e-12);
  g_assert_cmpfloat_with_epsilon (ticks[3], 2.8, 1e-12);
  n = cl_chart_log_ticks (0.9, 2.2, 8, ticks);
  g_assert_cmpint (n, ==, 7);
  g_assert_cmpfloat_with_epsilon (ticks[0], 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (ticks[6], 2.2, 1e-12);
  n = cl_chart_log_ticks (0.9, 2.2, 3, ticks);
  g_assert_cmpint (n, ==, 2);
  g_assert_cmpfloat_with_epsilon (ticks[1], 2, 1e-12);

  g_assert_cmpint (cl_chart_log_ticks (0, 10, 5, ticks), ==, 0);
}

static void
test_ema (void)
{
  double out[8];

  /* De-biased: a constant stays constant from the first point on. */
  const double constant[] = { 1, 1, 1 };
  cl_chart_ema (constant, 3, 0.9, out);
  for (int i = 0; i < 3; i++)
    g_assert_cmpfloat_with_epsilon (out[i], 1, 1e-12);

  const double step[] = { 0, 10 };
  cl_chart_ema (step, 2, 0.5, out);
  g_assert_cmpfloat_with_epsilon (out[0], 0, 1e-12);
  g_assert_cmpfloat_with_epsilon (out[1], 5 / 0.75, 1e-12);

  /* NaN passes through and leaves the average alone. */
  const double gap[] = { 2, NAN, 4 };
  cl_chart_ema (gap, 3, 0.6, out);
  g_assert_cmpfloat_with_epsilon (out[0], 2, 1e-12);
  g_assert_true (isnan (out[1]));
  g_assert_cmpfloat_with_epsilon (out[2], (0.4 * 2 * 0.6 + 0.4 * 4) / (1 - 0.36), 1e-12);

  /* Weight 0 is no smoothing. */
  const double raw[] = { 3, -1, 7, 2 };
  cl_chart_ema (raw, 4, 0, out);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat (out[i], ==, raw[i]);

  /* Pushing one at a time gives the same curve. */
  const double noisy[] = { 4.1, 3.9, 4.4, 2.2, 3.3, 1.9, 2.5, 1.1 };
  ClChartEma ema;
  cl_chart_ema (noisy, 8, 0.6, out);
  cl_chart_ema_init (&ema, 0.6);
  for (int i = 0; i < 8; i++)
    g_assert_cmpfloat (cl_chart_ema_push (&ema, noisy[i]), ==, out[i]);
}

static void
test_nearest (void)
{
  const double xs[] = { 1, 2, 4, 8 };

  g_assert_cmpuint (cl_chart_nearest (xs, 4, 0), ==, 0);
  g_assert_cmpuint (cl_chart_nearest (xs, 4, 1), ==, 0);
  g_assert_cmpuint (cl_chart_nearest (xs, 4, 2.9), ==, 1);
  g_assert_cmpuint (cl_chart_nearest (xs, 4, 3), ==, 1);     /* a tie goes to the lower */
  g_assert_cmpuint (cl_chart_nearest (xs, 4, 3.1), ==, 2);
  g_assert_cmpuint (cl_chart_nearest (xs, 4, 6.5), ==, 3);
  g_assert_cmpuint (cl_chart_nearest (xs, 4, 100), ==, 3);
  g_assert_cmpuint (cl_chart_nearest (xs, 1, 100), ==, 0);

  /* Against a linear scan. */
  double many[200];
  for (int i = 0; i < 200; i++)
    many[i] = i * i * 0.5;
  for (double x = -3; x < 20000; x += 7.3)
    {
      size_t best = 0;
      for (size_t i = 1; i < 200; i++)
        if (fabs (many[i] - x) < fabs (many[best] - x))
          best = i;
      g_assert_cmpuint (cl_chart_nearest (many, 200, x), ==, best);
    }
}

static void
test_decimate (void)
{
  enum { N = 1000, COLUMNS = 10 };
  static double fx[N], fy[N], out_x[N], out_y[N];

  for (int i = 0; i < N; i++)
    {
      fx[i] = i / (double) N;
      fy[i] = sin (i * 0.05);
    }
  fy[503] = 100;    /* a spike */
  fy[777] = NAN;    /* a gap */
  fy[778] = -50;

  size_t n = cl_chart_decimate (fx, fy, N, COLUMNS, out_x, out_y);
  g_assert_cmpuint (n, <=, 4 * COLUMNS);
  g_assert_cmpuint (n, >=, 2 * COLUMNS);
  gboolean spike = FALSE, dip = FALSE;
  for (size_t i = 0; i < n; i++)
    {
      g_assert_false (isnan (out_y[i]));
      if (i > 0)
        g_assert_cmpfloat (out_x[i], >, out_x[i - 1]);
      spike |= out_y[i] == 100;
      dip |= out_y[i] == -50;
    }
  g_assert_true (spike);
  g_assert_true (dip);
  g_assert_cmpfloat (out_x[0], ==, fx[0]);
  g_assert_cmpfloat (out_x[n - 1], ==, fx[N - 1]);

  /* Each column keeps its extremes. */
  for (int c = 0; c < COLUMNS; c++)
    {
      double lo = INFINITY, hi = -INFINITY, kept_lo = INFINITY, kept_hi = -INFINITY;
      for (int i = c * N / COLUMNS; i < (c + 1) * N / COLUMNS; i++)
        if (!isnan (fy[i]))
          {
            lo = fmin (lo, fy[i]);
            hi = fmax (hi, fy[i]);
          }
      for (size_t i = 0; i < n; i++)
        if ((int) floor (out_x[i] * COLUMNS) == c)
          {
            kept_lo = fmin (kept_lo, out_y[i]);
            kept_hi = fmax (kept_hi, out_y[i]);
          }
      g_assert_cmpfloat (kept_lo, ==, lo);
      g_assert_cmpfloat (kept_hi, ==, hi);
    }

  /* Fewer points than columns: all kept. */
  const double few_x[] = { 0, 0.5, 1 }, few_y[] = { 3, 1, 2 };
  g_assert_cmpuint (cl_chart_decimate (few_x, few_y, 3, 100, out_x, out_y), ==, 3);
  g_assert_cmpfloat (out_y[1], ==, 1);
}

static void
test_labels (void)
{
  char buf[64];
  static const struct { double value, step; const char *want; } ticks[] = {
    { 0.5, 0.5, "0.5" }, { 2, 1, "2" }, { 0.25, 0.25, "0.25" }, { 0.75, 0.25, "0.75" },
    { 2.5, 2.5, "2.5" }, { 1500, 500, "1500" }, { -0.0, 0.1, "0.0" }, { 1e-4, 5e-5, "1e-04" },
    { 5e-5, 5e-5, "5e-05" }, { 2.5e-5, 2.5e-5, "2.5e-05" }, { 0, 5e-5, "0" }, { 3.0, 0.2, "3.0" },
    { 2e6, 1e6, "2e+06" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (ticks); i++)
    {
      cl_chart_format_tick (ticks[i].value, ticks[i].step, buf, sizeof buf);
      g_assert_cmpstr (buf, ==, ticks[i].want);
    }

  static const struct { double seconds; const char *want; } durations[] = {
    { 0, "0:00" }, { 59.9, "0:59" }, { 61, "1:01" }, { 3723, "1:02:03" }, { 360000, "100:00:00" },
    { -1, "—" }, { NAN, "—" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (durations); i++)
    {
      cl_chart_format_duration (durations[i].seconds, buf, sizeof buf);
      g_assert_cmpstr (buf, ==, durations[i].want);
    }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/chart/axis-map", test_axis_map);
  g_test_add_func ("/chart/axis-fit", test_axis_fit);
  g_test_add_func ("/chart/nice-number", test_nice_number);
  g_test_add_func ("/chart/nice-ticks", test_nice_ticks);
  g_test_add_func ("/chart/log-ticks", test_log_ticks);
  g_test_add_func ("/chart/ema", test_ema);
  g_test_add_func ("/chart/nearest", test_nearest);
  g_test_add_func ("/chart/decimate", test_decimate);
  g_test_add_func ("/chart/labels", test_labels);
  return g_test_run ();
}
