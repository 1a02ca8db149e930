/* cl-adaptive-bin.c — one child, a wide and a narrow layout chosen by the width allocated. */
#include "cl-adaptive-bin.h"

struct _ClAdaptiveBin {
  GtkWidget parent_instance;

  GtkWidget *child;
  gboolean narrow;
  guint switch_source;           /* the layout changes after the allocation, never during it */
};

G_DEFINE_FINAL_TYPE (ClAdaptiveBin, cl_adaptive_bin, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_CHILD, PROP_NARROW, N_PROPS };
static GParamSpec *properties[N_PROPS];

static int
child_min_width (ClAdaptiveBin *self)
{
  int minimum = 0;
  gtk_widget_measure (self->child, GTK_ORIENTATION_HORIZONTAL, -1, &minimum, NULL, NULL, NULL);
  return minimum;
}

/* Whether the walks below go into CHILD: a pane is never hidden or inside a scrolled window (which
 * may hold a grid of thousands of widgets, and is allocated with the window as a job's progress
 * changes a label), nor in a page that is not shown. */
static gboolean
may_hold_panes (GtkWidget *child)
{
  return gtk_widget_get_child_visible (child) && gtk_widget_get_visible (child) && !GTK_IS_SCROLLED_WINDOW (child);
}

/* Shows or hides the collapsible panes under WIDGET that are shown. */
static void
apply_layout (GtkWidget *widget, gboolean narrow)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      if (gtk_widget_has_css_class (child, "collapsible-pane"))
        gtk_widget_set_visible (child, !narrow);
      else if (may_hold_panes (child))
        apply_layout (child, narrow);
    }
}

/* The width the collapsed panes under WIDGET asked for (their width requests). */
static int
collapsed_width (GtkWidget *widget)
{
  int width = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      if (gtk_widget_has_css_class (child, "collapsible-pane"))
        {
          int request = 0;
          gtk_widget_get_size_request (child, &request, NULL);
          width += MAX (request, 0);
        }
      else if (may_hold_panes (child))
        width += collapsed_width (child);
    }
  return width;
}

static gboolean
switch_layout (gpointer data)
{
  ClAdaptiveBin *self = data;

  self->switch_source = 0;
  self->narrow = !self->narrow;
  apply_layout (self->child, self->narrow);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NARROW]);
  gtk_widget_queue_resize (GTK_WIDGET (self));
  return G_SOURCE_REMOVE;
}

static void
cl_adaptive_bin_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum, int *natural,
                         int *minimum_baseline, int *natural_baseline)
{
  ClAdaptiveBin *self = CL_ADAPTIVE_BIN (widget);

  if (self->child == NULL || !gtk_widget_get_visible (self->child))
    return;
  if (orientation == GTK_ORIENTATION_VERTICAL && for_size >= 0)
    for_size = MAX (for_size, child_min_width (self));
  gtk_widget_measure (self->child, orientation, for_size, minimum, natural, NULL, NULL);
  /* While wide, the window may be made narrower than the wide layout: the narrow one then takes over. */
  if (orientation == GTK_ORIENTATION_HORIZONTAL && !self->narrow)
    *minimum = MIN (*minimum, CL_ADAPTIVE_BIN_SMALLEST_WIDTH);
}

static void
cl_adaptive_bin_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  ClAdaptiveBin *self = CL_ADAPTIVE_BIN (widget);

  if (self->child == NULL || !gtk_widget_get_visible (self->child))
    return;
  int needed = child_min_width (self);
  gboolean want_narrow = self->narrow ? width < needed + collapsed_width (self->child) : width < needed;
  if (want_narrow != self->narrow && self->switch_source == 0)
    self->switch_source = g_idle_add_full (G_PRIORITY_HIGH_IDLE, switch_layout, self, NULL);
  else if (want_narrow == self->narrow)
    g_clear_handle_id (&self->switch_source, g_source_remove);
  /* What is shown now (a view shown for the first time or again) takes the current layout. */
  apply_layout (self->child, self->narrow);
  gtk_widget_allocate (self->child, MAX (width, needed), height, baseline, NULL);
}

void
cl_adaptive_bin_set_child (ClAdaptiveBin *self, GtkWidget *child)
{
  if (self->child == child)
    return;
  g_clear_pointer (&self->child, gtk_widget_unparent);
  if (child != NULL)
    {
      self->child = child;
      gtk_widget_set_parent (child, GTK_WIDGET (self));
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CHILD]);
}

GtkWidget *
cl_adaptive_bin_get_child (ClAdaptiveBin *self)
{
  return self->child;
}

gboolean
cl_adaptive_bin_get_narrow (ClAdaptiveBin *self)
{
  return self->narrow;
}

static void
cl_adaptive_bin_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClAdaptiveBin *self = CL_ADAPTIVE_BIN (object);

  switch (prop_id)
    {
    case PROP_CHILD:
      g_value_set_object (value, self->child);
      break;
    case PROP_NARROW:
      g_value_set_boolean (value, self->narrow);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_adaptive_bin_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_CHILD:
      cl_adaptive_bin_set_child (CL_ADAPTIVE_BIN (object), g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_adaptive_bin_dispose (GObject *object)
{
  ClAdaptiveBin *self = CL_ADAPTIVE_BIN (object);

  g_clear_handle_id (&self->switch_source, g_source_remove);
  g_clear_pointer (&self->child, gtk_widget_unparent);
  G_OBJECT_CLASS (cl_adaptive_bin_parent_class)->dispose (object);
}

static void
cl_adaptive_bin_class_init (ClAdaptiveBinClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = cl_adaptive_bin_get_property;
  object_class->set_property = cl_adaptive_bin_set_property;
  object_class->dispose = cl_adaptive_bin_dispose;
  properties[PROP_CHILD] = g_param_spec_object ("child", NULL, NULL, GTK_TYPE_WIDGET,
                                                G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_NARROW] = g_param_spec_boolean ("narrow", NULL, NULL, FALSE,
                                                  G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  widget_class->measure = cl_adaptive_bin_measure;
  widget_class->size_allocate = cl_adaptive_bin_size_allocate;
}

static void
cl_adaptive_bin_init (ClAdaptiveBin *self)
{
  /* The child may be wider than the bin for a frame, until it has taken its narrow layout. */
  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);
}

GtkWidget *
cl_adaptive_bin_new (void)
{
  return g_object_new (CL_TYPE_ADAPTIVE_BIN, NULL);
}
