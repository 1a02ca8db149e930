/* cl-prob-bars.c — a snapshot-drawn list of bars: label and percentage above, bar below. */
#include "cl-prob-bars.h"

#include <glib/gi18n.h>

#define ROW_GAP     12
#define BAR_HEIGHT  8
#define TEXT_TO_BAR 4

typedef struct {
  char *label;
  float value;
} Row;

struct _ClProbBars {
  GtkWidget parent_instance;

  GArray *rows;          /* Row, best first */
  char *marked;
  guint n_hidden;        /* rows beyond CL_PROB_BARS_MAX_ROWS */
  float hidden_sum;
};

G_DEFINE_FINAL_TYPE (ClProbBars, cl_prob_bars, GTK_TYPE_WIDGET)

static void
row_clear (Row *row)
{
  g_free (row->label);
}

char *
cl_prob_bars_format_value (float value)
{
  /* Translators: a probability as a percentage, e.g. "71.2 %" */
  return g_strdup_printf (_("%.1f %%"), 100.0 * value);
}

static int
row_compare (gconstpointer a, gconstpointer b)
{
  const Row *x = a, *y = b;
  if (x->value != y->value)
    return x->value > y->value ? -1 : 1;
  return 0;
}

static void
update_accessible (ClProbBars *self)
{
  GString *summary = g_string_new (NULL);

  for (guint i = 0; i < self->rows->len; i++)
    {
      Row *row = &g_array_index (self->rows, Row, i);
      g_autofree char *value = cl_prob_bars_format_value (row->value);
      g_string_append_printf (summary, "%s%s %s", i > 0 ? ", " : "", row->label, value);
    }
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  summary->str, -1);
  g_string_free (summary, TRUE);
}

void
cl_prob_bars_set_values (ClProbBars *self, const char *const *labels, const float *values, guint n)
{
  g_autoptr (GArray) all = g_array_sized_new (FALSE, FALSE, sizeof (Row), n);

  for (guint i = 0; i < n; i++)
    {
      Row row = { (char *) labels[i], values[i] };
      g_array_append_val (all, row);
    }
  g_array_sort (all, row_compare);

  g_array_set_size (self->rows, 0);
  self->n_hidden = 0;
  self->hidden_sum = 0;
  for (guint i = 0; i < n; i++)
    {
      Row *row = &g_array_index (all, Row, i);
      if (i < CL_PROB_BARS_MAX_ROWS)
        {
          Row copy = { g_strdup (row->label), row->value };
          g_array_append_val (self->rows, copy);
        }
      else
        {
          self->n_hidden++;
          self->hidden_sum += row->value;
        }
    }
  update_accessible (self);
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

void
cl_prob_bars_clear (ClProbBars *self)
{
  cl_prob_bars_set_values (self, NULL, NULL, 0);
}

void
cl_prob_bars_set_marked_label (ClProbBars *self, const char *label)
{
  g_free (self->marked);
  self->marked = g_strdup (label);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

guint
cl_prob_bars_get_n_rows (ClProbBars *self)
{
  return self->rows->len;
}

const char *
cl_prob_bars_get_row_label (ClProbBars *self, guint row)
{
  g_return_val_if_fail (row < self->rows->len, NULL);
  return g_array_index (self->rows, Row, row).label;
}

float
cl_prob_bars_get_row_value (ClProbBars *self, guint row)
{
  g_return_val_if_fail (row < self->rows->len, 0);
  return g_array_index (self->rows, Row, row).value;
}

/* ---------------------------------------------------------------- drawing */

static int
text_height (ClProbBars *self)
{
  g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), "Ag");
  int h = 0;
  pango_layout_get_pixel_size (layout, NULL, &h);
  return h;
}

static guint
n_lines (ClProbBars *self)
{
  return self->rows->len + (self->n_hidden > 0 ? 1 : 0);
}

static void
cl_prob_bars_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum,
                      int *natural, int *minimum_baseline, int *natural_baseline)
{
  ClProbBars *self = CL_PROB_BARS (widget);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = 160;
      *natural = 320;
      return;
    }
  guint lines = n_lines (self);
  int row = text_height (self) + TEXT_TO_BAR + BAR_HEIGHT;
  *minimum = *natural = lines == 0 ? 0 : (int) lines * row + (int) (lines - 1) * ROW_GAP;
}

static void
append_text (GtkSnapshot *snapshot, PangoLayout *layout, float x, float y, const GdkRGBA *color)
{
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (x, y));
  gtk_snapshot_append_layout (snapshot, layout, color);
  gtk_snapshot_restore (snapshot);
}

static void
append_bar (GtkSnapshot *snapshot, float x, float y, float width, const GdkRGBA *color)
{
  GskRoundedRect rect;
  graphene_rect_t bounds = GRAPHENE_RECT_INIT (x, y, MAX (width, BAR_HEIGHT), BAR_HEIGHT);

  gsk_rounded_rect_init_from_rect (&rect, &bounds, BAR_HEIGHT / 2.0f);
  gtk_snapshot_push_rounded_clip (snapshot, &rect);
  gtk_snapshot_append_color (snapshot, color, &bounds);
  gtk_snapshot_pop (snapshot);
}

static void
cl_prob_bars_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  ClProbBars *self = CL_PROB_BARS (widget);
  GtkStyleContext *style = gtk_widget_get_style_context (widget);
  GdkRGBA fg, accent, track, dim;
  const int width = gtk_widget_get_width (widget);
  const int line_h = text_height (self);
  const int row_h = line_h + TEXT_TO_BAR + BAR_HEIGHT + ROW_GAP;

  gtk_style_context_get_color (style, &fg);
  if (!gtk_style_context_lookup_color (style, "theme_selected_bg_color", &accent))
    gdk_rgba_parse (&accent, "#3584e4");
  track = fg;
  track.alpha *= 0.12f;
  dim = fg;
  dim.alpha *= 0.6f;

  for (guint i = 0; i < self->rows->len; i++)
    {
      Row *row = &g_array_index (self->rows, Row, i);
      const float y = (float) i * row_h;
      g_autofree char *value = cl_prob_bars_format_value (row->value);
      g_autoptr (PangoLayout) value_layout = gtk_widget_create_pango_layout (widget, value);
      int value_w = 0;
      pango_layout_get_pixel_size (value_layout, &value_w, NULL);

      gboolean marked = self->marked != NULL && g_strcmp0 (self->marked, row->label) == 0;
      g_autofree char *label = marked ? g_strdup_printf ("%s ✓", row->label) : g_strdup (row->label);
      g_autoptr (PangoLayout) label_layout = gtk_widget_create_pango_layout (widget, label);
      pango_layout_set_width (label_layout, MAX (1, width - value_w - 12) * PANGO_SCALE);
      pango_layout_set_ellipsize (label_layout, PANGO_ELLIPSIZE_END);
      if (i == 0)
        {
          PangoAttrList *attrs = pango_attr_list_new ();
          pango_attr_list_insert (attrs, pango_attr_weight_new (PANGO_WEIGHT_BOLD));
          pango_layout_set_attributes (label_layout, attrs);
          pango_attr_list_unref (attrs);
        }

      append_text (snapshot, label_layout, 0, y, &fg);
      append_text (snapshot, value_layout, width - value_w, y, i == 0 ? &fg : &dim);
      append_bar (snapshot, 0, y + line_h + TEXT_TO_BAR, width, &track);
      GdkRGBA fill = accent;
      if (i > 0)
        fill.alpha *= 0.55f;
      if (row->value > 0)
        append_bar (snapshot, 0, y + line_h + TEXT_TO_BAR, (float) (width * CLAMP (row->value, 0.0f, 1.0f)), &fill);
    }

  if (self->n_hidden > 0)
    {
      g_autofree char *value = cl_prob_bars_format_value (self->hidden_sum);
      g_autofree char *text = g_strdup_printf (ngettext ("%u more class: %s", "%u more classes: %s",
                                                            self->n_hidden),
                                               self->n_hidden, value);
      g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (widget, text);
      append_text (snapshot, layout, 0, (float) self->rows->len * row_h, &dim);
    }
}

static void
cl_prob_bars_finalize (GObject *object)
{
  ClProbBars *self = CL_PROB_BARS (object);

  g_array_unref (self->rows);
  g_free (self->marked);
  G_OBJECT_CLASS (cl_prob_bars_parent_class)->finalize (object);
}

static void
cl_prob_bars_class_init (ClProbBarsClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = cl_prob_bars_finalize;
  widget_class->measure = cl_prob_bars_measure;
  widget_class->snapshot = cl_prob_bars_snapshot;
  gtk_widget_class_set_css_name (widget_class, "probbars");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
cl_prob_bars_init (ClProbBars *self)
{
  self->rows = g_array_new (FALSE, FALSE, sizeof (Row));
  g_array_set_clear_func (self->rows, (GDestroyNotify) row_clear);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Class probabilities"), -1);
}

GtkWidget *
cl_prob_bars_new (void)
{
  return g_object_new (CL_TYPE_PROB_BARS, NULL);
}
