/* cl-image-grid.c — GtkGridView with recycled ClImageCells and thumbnail requests on bind. */
#include "cl-image-grid.h"

#include <glib/gi18n.h>

/* GtkGridView keeps (30 + 2) × max-columns cells alive, and each asks for a thumbnail: max-columns
 * follows the width, so only about as many columns exist as fit. */
#define CELL_MARGIN 12   /* ClImageCell's margins around the thumbnail */
#define GRID_PADDING 12

struct _ClImageGrid {
  GtkWidget parent_instance;

  GtkWidget *scroller;
  GtkGridView *grid_view;
  GtkSingleSelection *selection;
  ClThumbnailer *thumbnailer;
  ClImageCellFlags flags;
  guint columns;
  guint columns_idle;
  GWeakRef wanted;        /* the item to select as soon as the model holds it */
  guint wanted_idle;
};

G_DEFINE_FINAL_TYPE (ClImageGrid, cl_image_grid, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_SELECTED_ITEM, N_PROPS };
static GParamSpec *properties[N_PROPS];

enum { SIGNAL_ACTIVATE, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
factory_setup (GtkSignalListItemFactory *factory, GtkListItem *list_item, ClImageGrid *self)
{
  gtk_list_item_set_child (list_item, cl_image_cell_new (self->thumbnailer, self->flags));
}

static void
factory_bind (GtkSignalListItemFactory *factory, GtkListItem *list_item, ClImageGrid *self)
{
  cl_image_cell_set_item (CL_IMAGE_CELL (gtk_list_item_get_child (list_item)),
                          gtk_list_item_get_item (list_item));
}

static void
factory_unbind (GtkSignalListItemFactory *factory, GtkListItem *list_item, ClImageGrid *self)
{
  cl_image_cell_set_item (CL_IMAGE_CELL (gtk_list_item_get_child (list_item)), NULL);
}

static void
on_selected_changed (GtkSingleSelection *selection, GParamSpec *pspec, ClImageGrid *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED_ITEM]);
}

static guint
find_position (ClImageGrid *self, ClImageItem *item)
{
  GListModel *model = G_LIST_MODEL (self->selection);
  guint n = g_list_model_get_n_items (model);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (ClImageItem) candidate = g_list_model_get_item (model, i);
      if (candidate == item)
        return i;
    }
  return GTK_INVALID_LIST_POSITION;
}

static gboolean
apply_wanted_cb (gpointer data)
{
  ClImageGrid *self = data;
  g_autoptr (ClImageItem) wanted = g_weak_ref_get (&self->wanted);

  self->wanted_idle = 0;
  if (wanted == NULL || cl_image_grid_get_selected_item (self) == wanted)
    return G_SOURCE_REMOVE;
  guint found = find_position (self, wanted);
  if (found != GTK_INVALID_LIST_POSITION)
    cl_image_grid_select_position (self, found);
  return G_SOURCE_REMOVE;
}

/* Models that fill in over several frames (incremental filtering, a new folder) get the wanted
 * selection once the item arrives: right after this emission, as the grid view reacts to it too. */
static void
on_items_changed (GListModel *model, guint position, guint removed, guint added, ClImageGrid *self)
{
  if (self->wanted_idle == 0)
    self->wanted_idle = g_idle_add_full (G_PRIORITY_HIGH_IDLE, apply_wanted_cb, self, NULL);
}

static void
on_activate (GtkGridView *grid_view, guint position, ClImageGrid *self)
{
  g_autoptr (ClImageItem) item = g_list_model_get_item (G_LIST_MODEL (self->selection), position);
  if (item != NULL)
    g_signal_emit (self, signals[SIGNAL_ACTIVATE], 0, item);
}

void
cl_image_grid_set_model (ClImageGrid *self, GListModel *model)
{
  gtk_single_selection_set_model (self->selection, model);
}

GListModel *
cl_image_grid_get_model (ClImageGrid *self)
{
  return gtk_single_selection_get_model (self->selection);
}

ClImageItem *
cl_image_grid_get_selected_item (ClImageGrid *self)
{
  return gtk_single_selection_get_selected_item (self->selection);
}

void
cl_image_grid_select_position (ClImageGrid *self, guint position)
{
  g_autoptr (ClImageItem) item = g_list_model_get_item (G_LIST_MODEL (self->selection), position);

  g_weak_ref_set (&self->wanted, item);
  gtk_single_selection_set_selected (self->selection, position);
  gtk_widget_activate_action (GTK_WIDGET (self->grid_view), "list.scroll-to-item", "u", position);
}

gboolean
cl_image_grid_select_item (ClImageGrid *self, ClImageItem *item)
{
  g_weak_ref_set (&self->wanted, item);
  if (item == NULL)
    return FALSE;
  if (cl_image_grid_get_selected_item (self) == item)
    return TRUE;

  guint position = find_position (self, item);
  if (position == GTK_INVALID_LIST_POSITION)
    return FALSE;
  cl_image_grid_select_position (self, position);
  return TRUE;
}

static guint
columns_for_width (ClImageGrid *self, int width)
{
  int cell = cl_thumbnailer_get_size (self->thumbnailer) + CELL_MARGIN;
  return MAX (1, (width - GRID_PADDING) / cell);
}

static gboolean
apply_columns_cb (gpointer data)
{
  ClImageGrid *self = data;

  self->columns_idle = 0;
  self->columns = columns_for_width (self, gtk_widget_get_width (GTK_WIDGET (self)));
  gtk_grid_view_set_max_columns (self->grid_view, self->columns);
  return G_SOURCE_REMOVE;
}

static void
cl_image_grid_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum, int *natural,
                       int *minimum_baseline, int *natural_baseline)
{
  gtk_widget_measure (CL_IMAGE_GRID (widget)->scroller, orientation, for_size, minimum, natural,
                      minimum_baseline, natural_baseline);
}

static void
cl_image_grid_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  ClImageGrid *self = CL_IMAGE_GRID (widget);

  gtk_widget_allocate (self->scroller, width, height, baseline, NULL);
  /* Changing the grid during allocation would queue another one: do it right after. */
  if (columns_for_width (self, width) != self->columns && self->columns_idle == 0)
    self->columns_idle = g_idle_add_full (G_PRIORITY_HIGH_IDLE, apply_columns_cb, self, NULL);
}

static void
on_thumbnail_size_changed (ClImageGrid *self)
{
  gtk_widget_queue_allocate (GTK_WIDGET (self));
}

static void
cl_image_grid_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClImageGrid *self = CL_IMAGE_GRID (object);

  switch (prop_id)
    {
    case PROP_SELECTED_ITEM:
      g_value_set_object (value, cl_image_grid_get_selected_item (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_image_grid_dispose (GObject *object)
{
  ClImageGrid *self = CL_IMAGE_GRID (object);

  g_clear_handle_id (&self->columns_idle, g_source_remove);
  g_clear_handle_id (&self->wanted_idle, g_source_remove);
  g_weak_ref_set (&self->wanted, NULL);
  g_clear_pointer (&self->scroller, gtk_widget_unparent);
  if (self->thumbnailer != NULL)
    g_signal_handlers_disconnect_by_data (self->thumbnailer, self);
  g_clear_object (&self->thumbnailer);
  G_OBJECT_CLASS (cl_image_grid_parent_class)->dispose (object);
}

static void
cl_image_grid_finalize (GObject *object)
{
  g_weak_ref_clear (&CL_IMAGE_GRID (object)->wanted);
  G_OBJECT_CLASS (cl_image_grid_parent_class)->finalize (object);
}

static void
cl_image_grid_class_init (ClImageGridClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = cl_image_grid_get_property;
  object_class->dispose = cl_image_grid_dispose;
  object_class->finalize = cl_image_grid_finalize;

  properties[PROP_SELECTED_ITEM] = g_param_spec_object ("selected-item", NULL, NULL, CL_TYPE_IMAGE_ITEM,
                                                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* Enter or double click on an item. */
  signals[SIGNAL_ACTIVATE] = g_signal_new ("activate", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                           NULL, NULL, NULL, G_TYPE_NONE, 1, CL_TYPE_IMAGE_ITEM);

  widget_class->size_allocate = cl_image_grid_size_allocate;
  widget_class->measure = cl_image_grid_measure;
  gtk_widget_class_set_css_name (widget_class, "imagegrid");
}

static void
cl_image_grid_init (ClImageGrid *self)
{
  /* No autoselect: the selection is the session's, which the grid follows. */
  self->selection = gtk_single_selection_new (NULL);
  gtk_single_selection_set_autoselect (self->selection, FALSE);
  gtk_single_selection_set_can_unselect (self->selection, FALSE);
  g_weak_ref_init (&self->wanted, NULL);
  g_signal_connect (self->selection, "notify::selected-item", G_CALLBACK (on_selected_changed), self);
  g_signal_connect (self->selection, "items-changed", G_CALLBACK (on_items_changed), self);
}

GtkWidget *
cl_image_grid_new (ClThumbnailer *thumbnailer, ClImageCellFlags flags)
{
  ClImageGrid *self = g_object_new (CL_TYPE_IMAGE_GRID, NULL);
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();

  self->thumbnailer = g_object_ref (thumbnailer);
  self->flags = flags;
  g_signal_connect (factory, "setup", G_CALLBACK (factory_setup), self);
  g_signal_connect (factory, "bind", G_CALLBACK (factory_bind), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (factory_unbind), self);

  self->grid_view = GTK_GRID_VIEW (gtk_grid_view_new (GTK_SELECTION_MODEL (self->selection), factory));
  self->columns = 1;
  gtk_grid_view_set_max_columns (self->grid_view, self->columns);
  gtk_grid_view_set_min_columns (self->grid_view, 1);
  g_signal_connect_swapped (thumbnailer, "notify::size", G_CALLBACK (on_thumbnail_size_changed), self);
  gtk_widget_add_css_class (GTK_WIDGET (self->grid_view), "image-grid");
  g_signal_connect (self->grid_view, "activate", G_CALLBACK (on_activate), self);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->grid_view), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Images"), -1);

  self->scroller = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (self->scroller), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (self->scroller), GTK_WIDGET (self->grid_view));
  gtk_widget_set_parent (self->scroller, GTK_WIDGET (self));
  gtk_widget_set_hexpand (GTK_WIDGET (self), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self), TRUE);
  return GTK_WIDGET (self);
}
