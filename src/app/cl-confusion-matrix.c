/* cl-confusion-matrix.c — a heat map of counts, shaded by each row's share, with each true class's
 * recall (its row's diagonal share) beside its row. */
#include "cl-confusion-matrix.h"

#include <glib/gi18n.h>

#define MAX_CELL      48
#define MIN_CELL      10
#define MIN_NUMBERED  22   /* smaller cells show colour only */
#define LABEL_MAX     120  /* pixels for class names on each axis */
#define GAP           6

struct _ClConfusionMatrix {
  GtkWidget parent_instance;

  char **classes;
  int *counts;
  guint n;
};

G_DEFINE_FINAL_TYPE (ClConfusionMatrix, cl_confusion_matrix, GTK_TYPE_WIDGET)

static int
label_width (ClConfusionMatrix *self)
{
  int widest = 0;

  for (guint i = 0; i < self->n; i++)
    {
      g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), self->classes[i]);
      int w = 0;
      pango_layout_get_pixel_size (layout, &w, NULL);
      widest = MAX (widest, w);
    }
  return MIN (widest, LABEL_MAX);
}

static int
axis_title_height (ClConfusionMatrix *self)
{
  g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), "Ag");
  int h = 0;
  pango_layout_get_pixel_size (layout, NULL, &h);
  return h;
}

/* The recall column: as wide as its title or "100 %", whichever is wider. */
static int
recall_width (ClConfusionMatrix *self)
{
  g_autoptr (PangoLayout) title = gtk_widget_create_pango_layout (GTK_WIDGET (self), _("Recall"));
  g_autoptr (PangoLayout) widest = gtk_widget_create_pango_layout (GTK_WIDGET (self), "100 %");
  int tw = 0, ww = 0;
  pango_layout_get_pixel_size (title, &tw, NULL);
  pango_layout_get_pixel_size (widest, &ww, NULL);
  return MAX (tw, ww);
}

static void
cl_confusion_matrix_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum,
                             int *natural, int *minimum_baseline, int *natural_baseline)
{
  ClConfusionMatrix *self = CL_CONFUSION_MATRIX (widget);

  if (self->n == 0)
    {
      *minimum = *natural = 0;
      return;
    }
  int margin = axis_title_height (self) + GAP + label_width (self) + GAP;
  int beside = orientation == GTK_ORIENTATION_HORIZONTAL ? GAP + recall_width (self) : 0;
  *minimum = margin + (int) self->n * MIN_CELL + beside;
  *natural = margin + (int) self->n * MAX_CELL + beside;
}

static void
append_layout (GtkSnapshot *snapshot, PangoLayout *layout, float x, float y, float angle, const GdkRGBA *color)
{
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (x, y));
  if (angle != 0)
    gtk_snapshot_rotate (snapshot, angle);
  gtk_snapshot_append_layout (snapshot, layout, color);
  gtk_snapshot_restore (snapshot);
}

static PangoLayout *
name_layout (GtkWidget *widget, const char *text, int max_width)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (widget, text);
  pango_layout_set_width (layout, max_width * PANGO_SCALE);
  pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_END);
  return layout;
}

static void
cl_confusion_matrix_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  ClConfusionMatrix *self = CL_CONFUSION_MATRIX (widget);

  if (self->n == 0)
    return;

  GtkStyleContext *style = gtk_widget_get_style_context (widget);
  GdkRGBA fg, accent, error, white = { 1, 1, 1, 1 }, grid;
  gtk_style_context_get_color (style, &fg);
  if (!gtk_style_context_lookup_color (style, "theme_selected_bg_color", &accent))
    gdk_rgba_parse (&accent, "#3584e4");
  if (!gtk_style_context_lookup_color (style, "error_color", &error))
    gdk_rgba_parse (&error, "#e01b24");
  grid = fg;
  grid.alpha *= 0.08f;

  const int title_h = axis_title_height (self);
  const int names = label_width (self);
  const int margin = title_h + GAP + names + GAP;
  const int recall_w = recall_width (self);
  const int avail = MIN (gtk_widget_get_width (widget) - GAP - recall_w, gtk_widget_get_height (widget)) - margin;
  const float cell = CLAMP ((float) avail / self->n, MIN_CELL, MAX_CELL);
  const float x0 = margin, y0 = margin;

  /* Axis titles: "Predicted" across the top, "True label" up the left side. */
  g_autoptr (PangoLayout) predicted = gtk_widget_create_pango_layout (widget, _("Predicted"));
  g_autoptr (PangoLayout) truth = gtk_widget_create_pango_layout (widget, _("True label"));
  int pw = 0, tw = 0;
  pango_layout_get_pixel_size (predicted, &pw, NULL);
  pango_layout_get_pixel_size (truth, &tw, NULL);
  append_layout (snapshot, predicted, x0 + (cell * self->n - pw) / 2, 0, 0, &fg);
  append_layout (snapshot, truth, 0, y0 + (cell * self->n + tw) / 2, -90, &fg);

  for (guint i = 0; i < self->n; i++)
    {
      /* Row names right-aligned left of the grid; column names rotated above it. */
      g_autoptr (PangoLayout) row_name = name_layout (widget, self->classes[i], names);
      int rw = 0, rh = 0;
      pango_layout_get_pixel_size (row_name, &rw, &rh);
      append_layout (snapshot, row_name, x0 - GAP - rw, y0 + i * cell + (cell - rh) / 2, 0, &fg);
      g_autoptr (PangoLayout) column_name = name_layout (widget, self->classes[i], names);
      append_layout (snapshot, column_name, x0 + i * cell + (cell - rh) / 2, y0 - GAP, -90, &fg);
    }

  /* Each row's recall to its right, under its title. */
  const float recall_x = x0 + cell * self->n + GAP;
  g_autoptr (PangoLayout) recall_title = gtk_widget_create_pango_layout (widget, _("Recall"));
  append_layout (snapshot, recall_title, recall_x, y0 - GAP - title_h, 0, &fg);

  for (guint r = 0; r < self->n; r++)
    {
      int row_total = 0;
      for (guint c = 0; c < self->n; c++)
        row_total += self->counts[r * self->n + c];
      if (row_total > 0)
        {
          g_autofree char *recall = g_strdup_printf ("%.0f %%", 100.0 * self->counts[r * self->n + r] / row_total);
          g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (widget, recall);
          int h = 0;
          pango_layout_get_pixel_size (layout, NULL, &h);
          append_layout (snapshot, layout, recall_x, y0 + r * cell + (cell - h) / 2, 0, &fg);
        }
      for (guint c = 0; c < self->n; c++)
        {
          int count = self->counts[r * self->n + c];
          graphene_rect_t rect = GRAPHENE_RECT_INIT (x0 + c * cell + 1, y0 + r * cell + 1, cell - 2, cell - 2);
          /* Correct predictions in the accent colour, mistakes in the error colour. */
          GdkRGBA fill = r == c ? accent : error;
          float share = row_total > 0 ? (float) count / row_total : 0;
          fill.alpha = 0.15f + 0.85f * share;
          gtk_snapshot_append_color (snapshot, &grid, &rect);
          if (count > 0)
            gtk_snapshot_append_color (snapshot, &fill, &rect);
          if (cell >= MIN_NUMBERED && count > 0)
            {
              g_autofree char *text = g_strdup_printf ("%d", count);
              g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (widget, text);
              int w = 0, h = 0;
              pango_layout_get_pixel_size (layout, &w, &h);
              append_layout (snapshot, layout, rect.origin.x + (rect.size.width - w) / 2,
                             rect.origin.y + (rect.size.height - h) / 2, 0, share > 0.5f ? &white : &fg);
            }
        }
    }
}

static void
cl_confusion_matrix_finalize (GObject *object)
{
  ClConfusionMatrix *self = CL_CONFUSION_MATRIX (object);

  g_strfreev (self->classes);
  g_free (self->counts);
  G_OBJECT_CLASS (cl_confusion_matrix_parent_class)->finalize (object);
}

static void
cl_confusion_matrix_class_init (ClConfusionMatrixClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = cl_confusion_matrix_finalize;
  widget_class->measure = cl_confusion_matrix_measure;
  widget_class->snapshot = cl_confusion_matrix_snapshot;
  gtk_widget_class_set_css_name (widget_class, "confusionmatrix");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
cl_confusion_matrix_init (ClConfusionMatrix *self)
{
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Confusion matrix"), -1);
}

GtkWidget *
cl_confusion_matrix_new (void)
{
  return g_object_new (CL_TYPE_CONFUSION_MATRIX, NULL);
}

void
cl_confusion_matrix_set (ClConfusionMatrix *self, const char *const *classes, const int *counts, guint n)
{
  g_strfreev (self->classes);
  g_free (self->counts);
  self->classes = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    self->classes[i] = g_strdup (classes[i]);
  self->counts = g_memdup2 (counts, sizeof (int) * n * n);
  self->n = n;

  GString *summary = g_string_new (NULL);
  for (guint r = 0; r < n; r++)
    for (guint c = 0; c < n; c++)
      if (counts[r * n + c] > 0)
        g_string_append_printf (summary, "%s%s → %s: %d", summary->len > 0 ? "; " : "", classes[r], classes[c],
                                counts[r * n + c]);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, summary->str, -1);
  g_string_free (summary, TRUE);
  gtk_widget_queue_resize (GTK_WIDGET (self));
}
