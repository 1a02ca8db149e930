/* cl-loss-chart.c — data, layout (cl-chart-math) and Cairo drawing of the training chart. */
#include "cl-loss-chart.h"

#include <math.h>
#include <string.h>

#include <cairo-svg.h>
#include <glib/gi18n.h>

#include "cl-chart-math.h"

#define MARGIN          12.0
#define TICK_LENGTH     4.0
#define LABEL_GAP       6.0
#define PANEL_GAP       10.0
#define MAX_TICKS       16
#define MAX_EPOCH_LINES 60
#define LEGEND_SWATCH   14.0
#define DEFAULT_SMOOTHING 0.6

/* The validation series: recall both ways at 1 and 5, zero-shot top-1. */
enum { SERIES_I2T_1, SERIES_T2I_1, SERIES_I2T_5, SERIES_T2I_5, SERIES_ZERO_SHOT, N_SERIES };

typedef struct {
  double x, y, width, height;
} Rect;

typedef struct {
  double value;
  double pos;                 /* pixel position along its axis */
  char label[32];
} Tick;

typedef struct {
  GArray *x, *y;              /* pixel coordinates */
} Polyline;

typedef enum { COLOR_LOSS, COLOR_LR, COLOR_I2T, COLOR_T2I, COLOR_ZERO_SHOT, COLOR_NAN, COLOR_FG, N_COLORS } ColorId;

typedef struct {
  const char *label;
  ColorId color;
  gboolean dashed;
  gboolean faint;
  double x, y;                /* of the swatch's row, left and top */
} LegendEntry;

/* Everything the drawing needs, computed for one size: the drawing only reads this. */
typedef struct {
  double width, height;
  gboolean empty;
  double text_height;
  Rect loss, val;             /* val.height == 0: no validation panel */
  ClChartAxis x_axis, y_axis, lr_axis, val_axis;
  Tick x_ticks[MAX_TICKS], y_ticks[MAX_TICKS], lr_ticks[MAX_TICKS], val_ticks[6];
  int n_x_ticks, n_y_ticks, n_lr_ticks, n_val_ticks;
  double epoch_x[MAX_EPOCH_LINES];
  int n_epoch_lines;
  Polyline raw, smoothed, lr;
  Polyline series[N_SERIES];
  GArray *nan_x;              /* steps whose loss is not finite */
  LegendEntry legend[8];   /* at most 7 */
  int n_legend;
  gboolean show_lr;
} ChartLayout;

typedef struct {
  GdkRGBA fg;
  GdkRGBA background;         /* alpha 0: not painted */
  GdkRGBA colors[N_COLORS];
} ChartPalette;

struct _ClLossChart {
  GtkWidget parent_instance;

  GArray *points;             /* ClTrainPoint */
  GArray *steps;              /* double, for lookups */
  GArray *losses;             /* double */
  GArray *smoothed;           /* double */
  GArray *evals;              /* ClTrainEval */
  ClChartEma ema;
  gint64 total_steps;
  gint64 steps_per_epoch;
  gboolean expect_validation;

  double smoothing;
  gboolean log_scale;
  gboolean show_lr;

  ChartLayout layout;         /* for the screen */
  gboolean layout_valid;
  gssize hover;               /* index into points, -1 when none */
  double pointer_x, pointer_y;
};

G_DEFINE_FINAL_TYPE (ClLossChart, cl_loss_chart, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_SMOOTHING, PROP_LOG_SCALE, PROP_SHOW_LEARNING_RATE, N_PROPS };
static GParamSpec *properties[N_PROPS];

/* ---------------------------------------------------------------- layout */

static void
polyline_init (Polyline *line)
{
  line->x = g_array_new (FALSE, FALSE, sizeof (double));
  line->y = g_array_new (FALSE, FALSE, sizeof (double));
}

static void
polyline_clear (Polyline *line)
{
  g_clear_pointer (&line->x, g_array_unref);
  g_clear_pointer (&line->y, g_array_unref);
}

static void
chart_layout_init (ChartLayout *l)
{
  memset (l, 0, sizeof *l);
  polyline_init (&l->raw);
  polyline_init (&l->smoothed);
  polyline_init (&l->lr);
  for (int s = 0; s < N_SERIES; s++)
    polyline_init (&l->series[s]);
  l->nan_x = g_array_new (FALSE, FALSE, sizeof (double));
}

static void
chart_layout_clear (ChartLayout *l)
{
  polyline_clear (&l->raw);
  polyline_clear (&l->smoothed);
  polyline_clear (&l->lr);
  for (int s = 0; s < N_SERIES; s++)
    polyline_clear (&l->series[s]);
  g_clear_pointer (&l->nan_x, g_array_unref);
}

static void
text_size (PangoLayout *text, const char *string, double *width, double *height)
{
  int w, h;
  pango_layout_set_text (text, string, -1);
  pango_layout_get_pixel_size (text, &w, &h);
  *width = w;
  *height = h;
}

static double
x_pixel (const ChartLayout *l, double step)
{
  return l->loss.x + cl_chart_axis_map (&l->x_axis, step) * l->loss.width;
}

static double
y_pixel (const Rect *plot, const ClChartAxis *axis, double value)
{
  return plot->y + (1 - cl_chart_axis_map (axis, value)) * plot->height;
}

/* The series (STEPS, VALUES) on PLOT, decimated to its pixel columns. */
static void
layout_line (const ChartLayout *l, const Rect *plot, const ClChartAxis *axis, const double *steps,
             const double *values, guint n, Polyline *out)
{
  g_autofree double *fx = g_new (double, MAX (n, 1));
  g_autofree double *fy = g_new (double, MAX (n, 1));
  int columns = MAX (1, (int) plot->width);
  gsize capacity = MIN (n, 4 * (gsize) columns);
  g_autofree double *out_fx = g_new (double, MAX (capacity, 1));
  g_autofree double *out_fy = g_new (double, MAX (capacity, 1));

  for (guint i = 0; i < n; i++)
    {
      fx[i] = CLAMP (cl_chart_axis_map (&l->x_axis, steps[i]), 0, 1);
      fy[i] = cl_chart_axis_map (axis, values[i]);
    }
  gsize kept = cl_chart_decimate (fx, fy, n, columns, out_fx, out_fy);
  g_array_set_size (out->x, kept);
  g_array_set_size (out->y, kept);
  for (gsize i = 0; i < kept; i++)
    {
      g_array_index (out->x, double, i) = plot->x + out_fx[i] * plot->width;
      g_array_index (out->y, double, i) = plot->y + (1 - out_fy[i]) * plot->height;
    }
}

static int
layout_ticks (const ClChartAxis *axis, double length, double spacing, Tick *ticks)
{
  double values[MAX_TICKS], step = 0;
  int max_ticks = CLAMP ((int) (length / spacing), 2, MAX_TICKS);
  int n = axis->log ? cl_chart_log_ticks (axis->min, axis->max, max_ticks, values)
                    : cl_chart_nice_ticks (axis->min, axis->max, max_ticks, values, &step);
  for (int i = 0; i < n; i++)
    {
      ticks[i].value = values[i];
      /* Log ticks label each value with its own precision. */
      cl_chart_format_tick (values[i], axis->log ? values[i] : step, ticks[i].label, sizeof ticks[i].label);
    }
  return n;
}

static double
widest_label (PangoLayout *text, const Tick *ticks, int n)
{
  double widest = 0, w, h;
  for (int i = 0; i < n; i++)
    {
      text_size (text, ticks[i].label, &w, &h);
      widest = MAX (widest, w);
    }
  return widest;
}

static double
eval_value (const ClTrainEval *eval, int series)
{
  switch (series)
    {
    case SERIES_I2T_1: return eval->image_to_text[0];
    case SERIES_T2I_1: return eval->text_to_image[0];
    case SERIES_I2T_5: return eval->image_to_text[1];
    case SERIES_T2I_5: return eval->text_to_image[1];
    case SERIES_ZERO_SHOT: return eval->has_zero_shot ? eval->zero_shot_top1 : NAN;
    default: g_assert_not_reached ();
    }
}

/* The legend's entries in rows from the left edge, wrapped to WIDTH; returns its height. */
static double
layout_legend (ChartLayout *l, PangoLayout *text, double width, gboolean has_val, gboolean has_zero_shot)
{
  const struct { const char *label; ColorId color; gboolean dashed, faint, shown; } entries[] = {
    { _("Loss (smoothed)"), COLOR_LOSS, FALSE, FALSE, TRUE },
    { _("Loss"), COLOR_LOSS, FALSE, TRUE, TRUE },
    { _("Learning rate"), COLOR_LR, TRUE, FALSE, l->show_lr },
    /* Translators: validation recall, image queries finding their captions */
    { _("Image → text"), COLOR_I2T, FALSE, FALSE, has_val },
    /* Translators: validation recall, caption queries finding their images */
    { _("Text → image"), COLOR_T2I, FALSE, FALSE, has_val },
    { _("Zero-shot top-1"), COLOR_ZERO_SHOT, FALSE, FALSE, has_val && has_zero_shot },
    /* Translators: the legend of the dashed validation lines */
    { _("Recall@5"), COLOR_FG, TRUE, TRUE, has_val },
  };
  double x = MARGIN, y = MARGIN, row_height = l->text_height + 4, w, h;

  l->n_legend = 0;
  for (guint i = 0; i < G_N_ELEMENTS (entries); i++)
    {
      if (!entries[i].shown)
        continue;
      text_size (text, entries[i].label, &w, &h);
      double entry_width = LEGEND_SWATCH + LABEL_GAP + w;
      if (x > MARGIN && x + entry_width > width - MARGIN)
        {
          x = MARGIN;
          y += row_height;
        }
      LegendEntry *e = &l->legend[l->n_legend++];
      e->label = entries[i].label;
      e->color = entries[i].color;
      e->dashed = entries[i].dashed;
      e->faint = entries[i].faint;
      e->x = x;
      e->y = y;
      x += entry_width + 3 * LABEL_GAP;
    }
  return y + row_height - MARGIN;
}

/* Phase 1: the axes' ranges from the data. */
static void
layout_axes (ClLossChart *self, ChartLayout *l)
{
  const guint n = self->points->len;
  const double *steps = (const double *) self->steps->data;
  double last_step = n > 0 ? steps[n - 1] : 1;
  double max_lr = 0;

  l->x_axis = (ClChartAxis) { 0, MAX ((double) self->total_steps, MAX (last_step, 1)), FALSE };
  l->y_axis = (ClChartAxis) { 0, 1, self->log_scale };
  if (!cl_chart_axis_fit (&l->y_axis, (const double *) self->losses->data, n, self->log_scale, 0.05))
    l->y_axis = self->log_scale ? (ClChartAxis) { 0.1, 10, TRUE } : (ClChartAxis) { 0, 1, FALSE };
  for (guint i = 0; i < n; i++)
    {
      double lr = g_array_index (self->points, ClTrainPoint, i).lr;
      if (isfinite (lr))
        max_lr = MAX (max_lr, lr);
    }
  l->lr_axis = (ClChartAxis) { 0, max_lr > 0 ? max_lr * 1.05 : 1, FALSE };
  l->val_axis = (ClChartAxis) { 0, 1, FALSE };
}

/* The validation panel's ticks: every 25 %, or every 50 % when it is short. */
static void
layout_val_ticks (ChartLayout *l, double val_height, double text_height)
{
  for (int i = 0; i < 5; i++)
    {
      l->val_ticks[i].value = i * 0.25;
      g_snprintf (l->val_ticks[i].label, sizeof l->val_ticks[i].label, "%d %%", i * 25);
    }
  l->n_val_ticks = val_height >= 8 * text_height ? 5 : 3;
  if (l->n_val_ticks == 3)
    {
      l->val_ticks[1] = l->val_ticks[2];
      l->val_ticks[2] = l->val_ticks[4];
    }
}

/* Phase 2: the legend and the ticks' labels decide the margins, and so the panels. */
static void
layout_panels (ChartLayout *l, PangoLayout *text, gboolean has_val, gboolean has_evals, gboolean has_zero_shot)
{
  const double h = l->text_height;
  double legend_height = layout_legend (l, text, l->width, has_val && has_evals, has_zero_shot);
  double top = MARGIN + legend_height + LABEL_GAP + h + LABEL_GAP;   /* the legend, then the loss title */
  double bottom = LABEL_GAP + h + LABEL_GAP + h + MARGIN; /* tick labels, then "Step" */
  double plots_height = MAX (40, l->height - top - bottom);
  double val_height = has_val ? MAX (60, floor (plots_height * 0.3)) : 0;
  double loss_height = has_val ? MAX (40, plots_height - val_height - PANEL_GAP - h - LABEL_GAP) : plots_height;

  l->n_y_ticks = layout_ticks (&l->y_axis, loss_height, 3 * h, l->y_ticks);
  l->n_lr_ticks = l->show_lr ? layout_ticks (&l->lr_axis, loss_height, 3 * h, l->lr_ticks) : 0;
  layout_val_ticks (l, val_height, h);

  double left_labels = MAX (widest_label (text, l->y_ticks, l->n_y_ticks),
                            has_val ? widest_label (text, l->val_ticks, l->n_val_ticks) : 0);
  double right_labels = l->show_lr ? widest_label (text, l->lr_ticks, l->n_lr_ticks) + TICK_LENGTH + LABEL_GAP : 0;
  double left = MARGIN + left_labels + TICK_LENGTH + LABEL_GAP;
  double right = MARGIN + MAX (right_labels, h);   /* room for the last x label */
  double plot_width = MAX (40, l->width - left - right);

  l->loss = (Rect) { left, top, plot_width, loss_height };
  l->val = has_val ? (Rect) { left, top + loss_height + PANEL_GAP + h + LABEL_GAP, plot_width, val_height }
                   : (Rect) { left, top + loss_height, plot_width, 0 };
  l->n_x_ticks = layout_ticks (&l->x_axis, plot_width, 7 * h, l->x_ticks);
}

/* Phase 3: where the ticks and the epoch boundaries fall in the panels. */
static void
layout_tick_positions (ClLossChart *self, ChartLayout *l)
{
  for (int i = 0; i < l->n_x_ticks; i++)
    l->x_ticks[i].pos = x_pixel (l, l->x_ticks[i].value);
  for (int i = 0; i < l->n_y_ticks; i++)
    l->y_ticks[i].pos = y_pixel (&l->loss, &l->y_axis, l->y_ticks[i].value);
  for (int i = 0; i < l->n_lr_ticks; i++)
    l->lr_ticks[i].pos = y_pixel (&l->loss, &l->lr_axis, l->lr_ticks[i].value);
  for (int i = 0; i < l->n_val_ticks; i++)
    l->val_ticks[i].pos = y_pixel (&l->val, &l->val_axis, l->val_ticks[i].value);

  l->n_epoch_lines = 0;
  if (self->steps_per_epoch > 0 && l->x_axis.max / self->steps_per_epoch <= MAX_EPOCH_LINES)
    for (double s = self->steps_per_epoch; s < l->x_axis.max && l->n_epoch_lines < MAX_EPOCH_LINES;
         s += self->steps_per_epoch)
      l->epoch_x[l->n_epoch_lines++] = x_pixel (l, s);
}

/* Phase 4: the series in pixels: the losses, the learning rate, the validation curves. */
static void
layout_series (ClLossChart *self, ChartLayout *l, gboolean has_val)
{
  const guint n = self->points->len;
  const double *steps = (const double *) self->steps->data;

  layout_line (l, &l->loss, &l->y_axis, steps, (const double *) self->losses->data, n, &l->raw);
  layout_line (l, &l->loss, &l->y_axis, steps, (const double *) self->smoothed->data, n, &l->smoothed);
  g_array_set_size (l->nan_x, 0);
  for (guint i = 0; i < n; i++)
    if (!isfinite (g_array_index (self->losses, double, i)))
      {
        double x = x_pixel (l, steps[i]);
        g_array_append_val (l->nan_x, x);
      }
  if (l->show_lr)
    {
      g_autofree double *lrs = g_new (double, MAX (n, 1));
      for (guint i = 0; i < n; i++)
        lrs[i] = g_array_index (self->points, ClTrainPoint, i).lr;
      layout_line (l, &l->loss, &l->lr_axis, steps, lrs, n, &l->lr);
    }
  else
    {
      g_array_set_size (l->lr.x, 0);
      g_array_set_size (l->lr.y, 0);
    }
  for (int s = 0; s < N_SERIES; s++)
    {
      g_array_set_size (l->series[s].x, 0);
      g_array_set_size (l->series[s].y, 0);
      for (guint i = 0; has_val && i < self->evals->len; i++)
        {
          const ClTrainEval *eval = &g_array_index (self->evals, ClTrainEval, i);
          double value = eval_value (eval, s);
          if (!isfinite (value))
            continue;
          double x = x_pixel (l, (double) eval->step), y = y_pixel (&l->val, &l->val_axis, value);
          g_array_append_val (l->series[s].x, x);
          g_array_append_val (l->series[s].y, y);
        }
    }
}

static void
chart_layout_compute (ClLossChart *self, PangoLayout *text, double width, double height, ChartLayout *l)
{
  const guint n = self->points->len;
  const guint n_evals = self->evals->len;
  gboolean has_val = n_evals > 0 || self->expect_validation;
  gboolean has_zero_shot = FALSE;
  double w, h;

  l->width = width;
  l->height = height;
  l->empty = n == 0;
  text_size (text, "0123456789", &w, &h);
  l->text_height = h;
  l->show_lr = self->show_lr && n > 0;
  for (guint i = 0; i < n_evals; i++)
    has_zero_shot |= g_array_index (self->evals, ClTrainEval, i).has_zero_shot;

  layout_axes (self, l);
  layout_panels (l, text, has_val, n_evals > 0, has_zero_shot);
  layout_tick_positions (self, l);
  layout_series (self, l, has_val);
}

/* ---------------------------------------------------------------- drawing */

static void
set_color (cairo_t *cr, const GdkRGBA *color, double alpha)
{
  cairo_set_source_rgba (cr, color->red, color->green, color->blue, color->alpha * alpha);
}

/* TEXT at (X, Y), aligned by XALIGN / YALIGN (0 = left/top, 1 = right/bottom). */
static void
draw_text (cairo_t *cr, PangoLayout *text, const char *string, double x, double y, double xalign, double yalign)
{
  int w, h;
  pango_layout_set_text (text, string, -1);
  pango_layout_get_pixel_size (text, &w, &h);
  cairo_move_to (cr, round (x - xalign * w), round (y - yalign * h));
  pango_cairo_show_layout (cr, text);
}

static void
stroke_polyline (cairo_t *cr, const Polyline *line)
{
  for (guint i = 0; i < line->x->len; i++)
    {
      double x = g_array_index (line->x, double, i), y = g_array_index (line->y, double, i);
      if (i == 0)
        cairo_move_to (cr, x, y);
      else
        cairo_line_to (cr, x, y);
    }
  cairo_stroke (cr);
}

static void
draw_grid (cairo_t *cr, const ChartLayout *l, const Rect *plot, const Tick *ticks, int n, const ChartPalette *p,
           PangoLayout *text, gboolean labels_left)
{
  cairo_set_line_width (cr, 1);
  for (int i = 0; i < n; i++)
    {
      double y = round (ticks[i].pos) + 0.5;
      set_color (cr, &p->fg, 0.1);
      cairo_move_to (cr, plot->x, y);
      cairo_line_to (cr, plot->x + plot->width, y);
      cairo_stroke (cr);
      if (labels_left)
        {
          set_color (cr, &p->fg, 0.65);
          draw_text (cr, text, ticks[i].label, plot->x - TICK_LENGTH - LABEL_GAP, ticks[i].pos, 1, 0.5);
        }
    }
}

static void
draw_plot_frame (cairo_t *cr, const Rect *plot, const ChartPalette *p)
{
  set_color (cr, &p->fg, 0.35);
  cairo_set_line_width (cr, 1);
  cairo_move_to (cr, round (plot->x) + 0.5, plot->y);
  cairo_line_to (cr, round (plot->x) + 0.5, plot->y + plot->height);
  cairo_line_to (cr, plot->x + plot->width, round (plot->y + plot->height) - 0.5);
  cairo_stroke (cr);
}

static void
draw_x_axis (cairo_t *cr, const ChartLayout *l, const Rect *plot, const ChartPalette *p, PangoLayout *text,
             gboolean labels)
{
  for (int i = 0; i < l->n_x_ticks; i++)
    {
      double x = round (l->x_ticks[i].pos) + 0.5;
      set_color (cr, &p->fg, 0.1);
      cairo_move_to (cr, x, plot->y);
      cairo_line_to (cr, x, plot->y + plot->height);
      cairo_stroke (cr);
      if (labels)
        {
          set_color (cr, &p->fg, 0.65);
          draw_text (cr, text, l->x_ticks[i].label, l->x_ticks[i].pos, plot->y + plot->height + LABEL_GAP, 0.5, 0);
        }
    }
}

static void
draw_legend (cairo_t *cr, const ChartLayout *l, const ChartPalette *p, PangoLayout *text)
{
  static const double dash[] = { 4, 3 };
  for (int i = 0; i < l->n_legend; i++)
    {
      const LegendEntry *e = &l->legend[i];
      double mid = e->y + l->text_height / 2;
      set_color (cr, &p->colors[e->color], e->faint ? 0.45 : 1);
      cairo_set_line_width (cr, e->faint ? 1.5 : 2.5);
      cairo_set_dash (cr, dash, e->dashed ? 2 : 0, 0);
      cairo_move_to (cr, e->x, mid);
      cairo_line_to (cr, e->x + LEGEND_SWATCH, mid);
      cairo_stroke (cr);
      cairo_set_dash (cr, NULL, 0, 0);
      set_color (cr, &p->fg, 0.8);
      draw_text (cr, text, e->label, e->x + LEGEND_SWATCH + LABEL_GAP, mid, 0, 0.5);
    }
}

/* The hover lines for point INDEX: "Step 120 · epoch 2", loss, smoothed, learning rate, time. */
static GPtrArray *
hover_lines (ClLossChart *self, guint index)
{
  const ClTrainPoint *point = &g_array_index (self->points, ClTrainPoint, index);
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  char duration[32];

  /* Translators: hover text of the training chart */
  g_ptr_array_add (lines, g_strdup_printf (_("Step %lld · epoch %lld"),
                                           (long long) point->step, (long long) point->epoch));
  g_ptr_array_add (lines, g_strdup_printf (_("Loss %.4f"), point->loss));
  g_ptr_array_add (lines, g_strdup_printf (_("Smoothed %.4f"), g_array_index (self->smoothed, double, index)));
  g_ptr_array_add (lines, g_strdup_printf (_("Learning rate %.3g"), point->lr));
  if (isfinite (point->time_s))
    {
      cl_chart_format_duration (point->time_s, duration, sizeof duration);
      g_ptr_array_add (lines, g_strdup_printf (_("Time %s"), duration));
    }
  return lines;
}

static void
draw_hover (ClLossChart *self, cairo_t *cr, const ChartLayout *l, const ChartPalette *p, PangoLayout *text)
{
  if (self->hover < 0 || (guint) self->hover >= self->points->len)
    return;
  const ClTrainPoint *point = &g_array_index (self->points, ClTrainPoint, self->hover);
  double x = x_pixel (l, (double) point->step);
  double bottom = l->val.height > 0 ? l->val.y + l->val.height : l->loss.y + l->loss.height;

  set_color (cr, &p->fg, 0.45);
  cairo_set_line_width (cr, 1);
  cairo_move_to (cr, round (x) + 0.5, l->loss.y);
  cairo_line_to (cr, round (x) + 0.5, bottom);
  cairo_stroke (cr);

  const double values[] = { point->loss, g_array_index (self->smoothed, double, self->hover) };
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      double y = y_pixel (&l->loss, &l->y_axis, values[i]);
      if (!isfinite (y))
        continue;
      set_color (cr, &p->colors[COLOR_LOSS], i == 0 ? 0.5 : 1);
      cairo_arc (cr, x, y, i == 0 ? 3 : 4, 0, 2 * G_PI);
      cairo_fill (cr);
    }

  /* The box, right of the line unless it would leave the plot. */
  g_autoptr (GPtrArray) lines = hover_lines (self, self->hover);
  double box_w = 0, w, h;
  for (guint i = 0; i < lines->len; i++)
    {
      text_size (text, lines->pdata[i], &w, &h);
      box_w = MAX (box_w, w);
    }
  box_w += 2 * LABEL_GAP;
  double box_h = lines->len * l->text_height + 2 * LABEL_GAP;
  double bx = x + 10 + box_w <= l->loss.x + l->loss.width ? x + 10 : x - 10 - box_w;
  double by = l->loss.y + 6;
  /* Dark like GTK's tooltips, in both styles. */
  cairo_rectangle (cr, bx, by, box_w, box_h);
  cairo_set_source_rgba (cr, 0.12, 0.12, 0.14, 0.9);
  cairo_fill (cr);
  cairo_set_source_rgb (cr, 1, 1, 1);
  for (guint i = 0; i < lines->len; i++)
    draw_text (cr, text, lines->pdata[i], bx + LABEL_GAP, by + LABEL_GAP + i * l->text_height, 0, 0);
}

static const double series_dash[] = { 5, 4 };

/* The loss panel's frame: grid, axes, epoch boundaries, titles and the learning rate's labels. */
static void
draw_loss_panel (cairo_t *cr, PangoLayout *text, const ChartLayout *l, const ChartPalette *p)
{
  draw_grid (cr, l, &l->loss, l->y_ticks, l->n_y_ticks, p, text, TRUE);
  draw_x_axis (cr, l, &l->loss, p, text, l->val.height == 0);
  set_color (cr, &p->fg, 0.18);
  cairo_set_dash (cr, (const double[]) { 2, 3 }, 2, 0);
  for (int i = 0; i < l->n_epoch_lines; i++)
    {
      cairo_move_to (cr, round (l->epoch_x[i]) + 0.5, l->loss.y);
      cairo_line_to (cr, round (l->epoch_x[i]) + 0.5, l->loss.y + l->loss.height);
    }
  cairo_stroke (cr);
  cairo_set_dash (cr, NULL, 0, 0);
  draw_plot_frame (cr, &l->loss, p);
  set_color (cr, &p->fg, 0.8);
  draw_text (cr, text, l->y_axis.log ? _("Loss (log scale)") : _("Loss"), l->loss.x, l->loss.y - LABEL_GAP, 0, 1);
  if (l->show_lr)
    {
      set_color (cr, &p->colors[COLOR_LR], 1);
      draw_text (cr, text, _("Learning rate"), l->loss.x + l->loss.width, l->loss.y - LABEL_GAP, 1, 1);
      for (int i = 0; i < l->n_lr_ticks; i++)
        draw_text (cr, text, l->lr_ticks[i].label, l->loss.x + l->loss.width + TICK_LENGTH + LABEL_GAP,
                   l->lr_ticks[i].pos, 0, 0.5);
    }
}

/* The loss series, clipped to their panel: learning rate, raw and smoothed loss, marks for NaN. */
static void
draw_loss_series (cairo_t *cr, const ChartLayout *l, const ChartPalette *p)
{
  cairo_save (cr);
  cairo_rectangle (cr, l->loss.x, l->loss.y - 2, l->loss.width + 2, l->loss.height + 4);
  cairo_clip (cr);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  if (l->show_lr)
    {
      set_color (cr, &p->colors[COLOR_LR], 0.9);
      cairo_set_line_width (cr, 1.5);
      cairo_set_dash (cr, series_dash, 2, 0);
      stroke_polyline (cr, &l->lr);
      cairo_set_dash (cr, NULL, 0, 0);
    }
  set_color (cr, &p->colors[COLOR_LOSS], 0.3);
  cairo_set_line_width (cr, 1);
  stroke_polyline (cr, &l->raw);
  set_color (cr, &p->colors[COLOR_LOSS], 1);
  cairo_set_line_width (cr, 2.25);
  stroke_polyline (cr, &l->smoothed);
  /* Steps whose loss is not a number: red marks along the top. */
  set_color (cr, &p->colors[COLOR_NAN], 1);
  cairo_set_line_width (cr, 2);
  for (guint i = 0; i < l->nan_x->len; i++)
    {
      double x = g_array_index (l->nan_x, double, i);
      cairo_move_to (cr, x - 3, l->loss.y + 1);
      cairo_line_to (cr, x + 3, l->loss.y + 7);
      cairo_move_to (cr, x + 3, l->loss.y + 1);
      cairo_line_to (cr, x - 3, l->loss.y + 7);
    }
  cairo_stroke (cr);
  cairo_restore (cr);
}

/* The validation panel, when there is one: its frame and the recall and zero-shot curves. */
static void
draw_validation_panel (cairo_t *cr, PangoLayout *text, const ChartLayout *l, const ChartPalette *p)
{
  static const ColorId colors[N_SERIES] = { COLOR_I2T, COLOR_T2I, COLOR_I2T, COLOR_T2I, COLOR_ZERO_SHOT };

  if (l->val.height <= 0)
    return;
  set_color (cr, &p->fg, 0.8);
  draw_text (cr, text, _("Validation"), l->val.x, l->val.y - LABEL_GAP, 0, 1);
  draw_grid (cr, l, &l->val, l->val_ticks, l->n_val_ticks, p, text, TRUE);
  draw_x_axis (cr, l, &l->val, p, text, TRUE);
  draw_plot_frame (cr, &l->val, p);
  for (int s = 0; s < N_SERIES; s++)
    {
      const Polyline *line = &l->series[s];
      gboolean at_5 = s == SERIES_I2T_5 || s == SERIES_T2I_5;
      set_color (cr, &p->colors[colors[s]], at_5 ? 0.7 : 1);
      cairo_set_line_width (cr, at_5 ? 1.5 : 2);
      cairo_set_dash (cr, series_dash, at_5 ? 2 : 0, 0);
      stroke_polyline (cr, line);
      cairo_set_dash (cr, NULL, 0, 0);
      for (guint i = 0; i < line->x->len; i++)
        {
          cairo_arc (cr, g_array_index (line->x, double, i), g_array_index (line->y, double, i), at_5 ? 2.5 : 3.5,
                     0, 2 * G_PI);
          cairo_fill (cr);
        }
    }
}

static void
chart_render (ClLossChart *self, cairo_t *cr, PangoLayout *text, const ChartLayout *l, const ChartPalette *p,
              gboolean with_hover)
{
  if (p->background.alpha > 0)
    {
      gdk_cairo_set_source_rgba (cr, &p->background);
      cairo_paint (cr);
    }
  draw_loss_panel (cr, text, l, p);
  draw_loss_series (cr, l, p);
  draw_validation_panel (cr, text, l, p);

  set_color (cr, &p->fg, 0.65);
  draw_text (cr, text, _("Step"), l->loss.x + l->loss.width / 2, l->height - MARGIN, 0.5, 1);
  draw_legend (cr, l, p, text);
  if (l->empty)
    {
      set_color (cr, &p->fg, 0.55);
      draw_text (cr, text, _("Waiting for the first step…"), l->loss.x + l->loss.width / 2,
                 l->loss.y + l->loss.height / 2, 0.5, 0.5);
    }
  if (with_hover)
    draw_hover (self, cr, l, p, text);
}

static void
palette_init (ChartPalette *p, const GdkRGBA *fg, const GdkRGBA *background)
{
  static const char *const colors[N_COLORS] = {
    [COLOR_LOSS] = "#3584e4", [COLOR_LR] = "#e66100", [COLOR_I2T] = "#2ec27e",
    [COLOR_T2I] = "#9141ac", [COLOR_ZERO_SHOT] = "#d39b00", [COLOR_NAN] = "#e01b24",
  };
  p->fg = *fg;
  p->background = *background;
  for (int i = 0; i < N_COLORS; i++)
    if (colors[i] != NULL)
      gdk_rgba_parse (&p->colors[i], colors[i]);
  p->colors[COLOR_FG] = *fg;
}

/* ---------------------------------------------------------------- widget */

static void
invalidate (ClLossChart *self)
{
  self->layout_valid = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
cl_loss_chart_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  ClLossChart *self = CL_LOSS_CHART (widget);
  double width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  g_autoptr (PangoLayout) text = gtk_widget_create_pango_layout (widget, NULL);

  if (!self->layout_valid || self->layout.width != width || self->layout.height != height)
    {
      chart_layout_compute (self, text, width, height, &self->layout);
      self->layout_valid = TRUE;
    }

  GdkRGBA fg, none = { 0, 0, 0, 0 };
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  G_GNUC_END_IGNORE_DEPRECATIONS
  ChartPalette palette;
  palette_init (&palette, &fg, &none);

  cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  chart_render (self, cr, text, &self->layout, &palette, TRUE);
  cairo_destroy (cr);
}

static void
cl_loss_chart_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum, int *natural,
                       int *minimum_baseline, int *natural_baseline)
{
  *minimum = orientation == GTK_ORIENTATION_HORIZONTAL ? 320 : 240;
  *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? 640 : 400;
}

static void
set_hover (ClLossChart *self, gssize hover)
{
  if (self->hover == hover)
    return;
  self->hover = hover;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* The point nearest to X (widget coordinates) when X is over the plots. */
static gssize
hover_at (ClLossChart *self, double x, double y)
{
  const ChartLayout *l = &self->layout;
  double bottom = l->val.height > 0 ? l->val.y + l->val.height : l->loss.y + l->loss.height;

  if (!self->layout_valid || self->points->len == 0 || x < l->loss.x - 4 || x > l->loss.x + l->loss.width + 4
      || y < l->loss.y || y > bottom)
    return -1;
  double step = cl_chart_axis_unmap (&l->x_axis, (x - l->loss.x) / l->loss.width);
  return (gssize) cl_chart_nearest ((const double *) self->steps->data, self->steps->len, step);
}

static void
on_motion (GtkEventControllerMotion *motion, double x, double y, ClLossChart *self)
{
  set_hover (self, hover_at (self, x, y));
}

static void
on_leave (GtkEventControllerMotion *motion, ClLossChart *self)
{
  set_hover (self, -1);
}

static void
update_accessible (ClLossChart *self)
{
  guint n = self->points->len;
  g_autofree char *description = NULL;

  if (n == 0)
    description = g_strdup (_("No training steps yet"));
  else
    {
      const ClTrainPoint *last = &g_array_index (self->points, ClTrainPoint, n - 1);
      description = g_strdup_printf (_("Step %lld, loss %.4f, smoothed %.4f"), (long long) last->step,
                                     last->loss, g_array_index (self->smoothed, double, n - 1));
    }
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, description, -1);
}

/* ---------------------------------------------------------------- data */

void
cl_loss_chart_clear (ClLossChart *self)
{
  g_array_set_size (self->points, 0);
  g_array_set_size (self->steps, 0);
  g_array_set_size (self->losses, 0);
  g_array_set_size (self->smoothed, 0);
  g_array_set_size (self->evals, 0);
  cl_chart_ema_init (&self->ema, self->smoothing);
  self->total_steps = 0;
  self->steps_per_epoch = 0;
  self->hover = -1;
  update_accessible (self);
  invalidate (self);
}

void
cl_loss_chart_set_schedule (ClLossChart *self, gint64 total_steps, gint64 steps_per_epoch)
{
  self->total_steps = total_steps;
  self->steps_per_epoch = steps_per_epoch;
  invalidate (self);
}

void
cl_loss_chart_set_expect_validation (ClLossChart *self, gboolean expect)
{
  self->expect_validation = expect;
  invalidate (self);
}

static void
recompute_smoothed (ClLossChart *self)
{
  g_array_set_size (self->smoothed, self->losses->len);
  cl_chart_ema_init (&self->ema, self->smoothing);
  for (guint i = 0; i < self->losses->len; i++)
    g_array_index (self->smoothed, double, i) = cl_chart_ema_push (&self->ema, g_array_index (self->losses, double, i));
}

/* Drops the points and evaluations from STEP on. */
static void
truncate_from (ClLossChart *self, gint64 step)
{
  guint keep = 0;
  while (keep < self->points->len && g_array_index (self->points, ClTrainPoint, keep).step < step)
    keep++;
  if (keep < self->points->len)
    {
      g_array_set_size (self->points, keep);
      g_array_set_size (self->steps, keep);
      g_array_set_size (self->losses, keep);
      recompute_smoothed (self);
      self->hover = -1;
    }
  guint keep_evals = 0;
  while (keep_evals < self->evals->len && g_array_index (self->evals, ClTrainEval, keep_evals).step < step)
    keep_evals++;
  g_array_set_size (self->evals, keep_evals);
}

void
cl_loss_chart_add_points (ClLossChart *self, const ClTrainPoint *points, guint n)
{
  if (n == 0)
    return;
  truncate_from (self, points[0].step);
  for (guint i = 0; i < n; i++)
    {
      double step = (double) points[i].step, loss = points[i].loss;
      double smoothed = cl_chart_ema_push (&self->ema, loss);
      g_array_append_val (self->points, points[i]);
      g_array_append_val (self->steps, step);
      g_array_append_val (self->losses, loss);
      g_array_append_val (self->smoothed, smoothed);
    }
  update_accessible (self);
  invalidate (self);
}

void
cl_loss_chart_add_evals (ClLossChart *self, const ClTrainEval *evals, guint n)
{
  g_array_append_vals (self->evals, evals, n);
  invalidate (self);
}

guint cl_loss_chart_get_n_points (ClLossChart *self) { return self->points->len; }
guint cl_loss_chart_get_n_evals (ClLossChart *self) { return self->evals->len; }

const ClTrainPoint *
cl_loss_chart_get_point (ClLossChart *self, guint index)
{
  g_return_val_if_fail (index < self->points->len, NULL);
  return &g_array_index (self->points, ClTrainPoint, index);
}

double
cl_loss_chart_get_smoothed (ClLossChart *self, guint index)
{
  g_return_val_if_fail (index < self->smoothed->len, NAN);
  return g_array_index (self->smoothed, double, index);
}

const ClTrainEval *
cl_loss_chart_get_eval (ClLossChart *self, guint index)
{
  g_return_val_if_fail (index < self->evals->len, NULL);
  return &g_array_index (self->evals, ClTrainEval, index);
}

void
cl_loss_chart_set_smoothing (ClLossChart *self, double smoothing)
{
  smoothing = CLAMP (smoothing, 0, 0.999);
  if (self->smoothing == smoothing)
    return;
  self->smoothing = smoothing;
  recompute_smoothed (self);
  update_accessible (self);
  invalidate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SMOOTHING]);
}

double cl_loss_chart_get_smoothing (ClLossChart *self) { return self->smoothing; }

void
cl_loss_chart_set_log_scale (ClLossChart *self, gboolean log_scale)
{
  if (self->log_scale == !!log_scale)
    return;
  self->log_scale = !!log_scale;
  invalidate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOG_SCALE]);
}

gboolean cl_loss_chart_get_log_scale (ClLossChart *self) { return self->log_scale; }

void
cl_loss_chart_set_show_learning_rate (ClLossChart *self, gboolean show)
{
  if (self->show_lr == !!show)
    return;
  self->show_lr = !!show;
  invalidate (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOW_LEARNING_RATE]);
}

gboolean cl_loss_chart_get_show_learning_rate (ClLossChart *self) { return self->show_lr; }

void
cl_loss_chart_hover_step (ClLossChart *self, double step)
{
  if (step < 0 || self->points->len == 0)
    set_hover (self, -1);
  else
    set_hover (self, (gssize) cl_chart_nearest ((const double *) self->steps->data, self->steps->len, step));
}

char *
cl_loss_chart_get_hover_text (ClLossChart *self)
{
  if (self->hover < 0 || (guint) self->hover >= self->points->len)
    return NULL;
  g_autoptr (GPtrArray) lines = hover_lines (self, self->hover);
  g_ptr_array_add (lines, NULL);
  return g_strjoinv ("\n", (char **) lines->pdata);
}

/* ---------------------------------------------------------------- files */

gboolean
cl_loss_chart_save (ClLossChart *self, const char *path, int width, int height, double scale, GError **error)
{
  gboolean svg = g_str_has_suffix (path, ".svg") || g_str_has_suffix (path, ".SVG");
  g_autofree char *display = g_filename_display_name (path);
  cairo_surface_t *surface = svg ? cairo_svg_surface_create (path, width, height)
                                 : cairo_image_surface_create (CAIRO_FORMAT_ARGB32, (int) ceil (width * scale),
                                                               (int) ceil (height * scale));
  cairo_t *cr = cairo_create (surface);
  if (!svg)
    cairo_scale (cr, scale, scale);

  /* The widget's font, dark text on white: a figure for documents. */
  PangoLayout *text = pango_cairo_create_layout (cr);
  const PangoFontDescription *font = pango_context_get_font_description (gtk_widget_get_pango_context (GTK_WIDGET (self)));
  pango_layout_set_font_description (text, font);
  GdkRGBA fg = { 0.14, 0.12, 0.19, 1 }, white = { 1, 1, 1, 1 };
  ChartPalette palette;
  palette_init (&palette, &fg, &white);
  ChartLayout layout;
  chart_layout_init (&layout);
  chart_layout_compute (self, text, width, height, &layout);
  chart_render (self, cr, text, &layout, &palette, FALSE);
  chart_layout_clear (&layout);
  g_object_unref (text);

  cairo_status_t status = cairo_status (cr);
  cairo_destroy (cr);
  if (status == CAIRO_STATUS_SUCCESS && !svg)
    status = cairo_surface_write_to_png (surface, path);
  cairo_surface_finish (surface);
  if (status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_status (surface);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", display,
                   status == CAIRO_STATUS_WRITE_ERROR ? _("the file cannot be written") : cairo_status_to_string (status));
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------- GObject */

static void
cl_loss_chart_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClLossChart *self = CL_LOSS_CHART (object);

  switch (prop_id)
    {
    case PROP_SMOOTHING:
      g_value_set_double (value, self->smoothing);
      break;
    case PROP_LOG_SCALE:
      g_value_set_boolean (value, self->log_scale);
      break;
    case PROP_SHOW_LEARNING_RATE:
      g_value_set_boolean (value, self->show_lr);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_loss_chart_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  ClLossChart *self = CL_LOSS_CHART (object);

  switch (prop_id)
    {
    case PROP_SMOOTHING:
      cl_loss_chart_set_smoothing (self, g_value_get_double (value));
      break;
    case PROP_LOG_SCALE:
      cl_loss_chart_set_log_scale (self, g_value_get_boolean (value));
      break;
    case PROP_SHOW_LEARNING_RATE:
      cl_loss_chart_set_show_learning_rate (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_loss_chart_finalize (GObject *object)
{
  ClLossChart *self = CL_LOSS_CHART (object);

  g_array_unref (self->points);
  g_array_unref (self->steps);
  g_array_unref (self->losses);
  g_array_unref (self->smoothed);
  g_array_unref (self->evals);
  chart_layout_clear (&self->layout);
  G_OBJECT_CLASS (cl_loss_chart_parent_class)->finalize (object);
}

static void
cl_loss_chart_class_init (ClLossChartClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = cl_loss_chart_get_property;
  object_class->set_property = cl_loss_chart_set_property;
  object_class->finalize = cl_loss_chart_finalize;
  widget_class->snapshot = cl_loss_chart_snapshot;
  widget_class->measure = cl_loss_chart_measure;

  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  properties[PROP_SMOOTHING] = g_param_spec_double ("smoothing", NULL, NULL, 0, 0.999, DEFAULT_SMOOTHING, rw);
  properties[PROP_LOG_SCALE] = g_param_spec_boolean ("log-scale", NULL, NULL, FALSE, rw);
  properties[PROP_SHOW_LEARNING_RATE] = g_param_spec_boolean ("show-learning-rate", NULL, NULL, TRUE, rw);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "losschart");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
cl_loss_chart_init (ClLossChart *self)
{
  self->points = g_array_new (FALSE, FALSE, sizeof (ClTrainPoint));
  self->steps = g_array_new (FALSE, FALSE, sizeof (double));
  self->losses = g_array_new (FALSE, FALSE, sizeof (double));
  self->smoothed = g_array_new (FALSE, FALSE, sizeof (double));
  self->evals = g_array_new (FALSE, FALSE, sizeof (ClTrainEval));
  self->smoothing = DEFAULT_SMOOTHING;
  self->show_lr = TRUE;
  self->hover = -1;
  cl_chart_ema_init (&self->ema, self->smoothing);
  chart_layout_init (&self->layout);

  GtkEventController *motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Training chart"), -1);
  update_accessible (self);
}

GtkWidget *
cl_loss_chart_new (void)
{
  return g_object_new (CL_TYPE_LOSS_CHART, NULL);
}
