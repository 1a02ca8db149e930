/* cl-image-grid.c — GtkGridView with recycled ClImageCells and thumbnail requests on bind. */
#include "cl-image-grid.h"

#include <string.h>

#include <glib/gi18n.h>

/* GtkGridView keeps (30 + 2) × max-columns cells alive, and each asks for a thumbnail: max-columns
 * follows the width, so only about as many columns exist as fit. */
#define CELL_MARGIN 12   /* ClImageCell's margins around the thumbnail */
#define GRID_PADDING 12

/* ---------------------------------------------------------------- slots
 *
 * GtkGridView (GTK 4.8) destroys the cell of every item that leaves its model and builds a new one
 * for every item that arrives, even when one takes the other's place in the same change: new
 * search results, a new sort order or a new filter would rebuild hundreds of cells in one frame.
 * So the grid view shows slots, one per position of the model given to the grid; an item that
 * replaces another at a position only changes that slot's item, and its cell follows.  Only
 * changes in length reach the grid view.  Slots are made when the grid view asks for them. */

#define CL_TYPE_GRID_SLOT (cl_grid_slot_get_type ())
G_DECLARE_FINAL_TYPE (ClGridSlot, cl_grid_slot, CL, GRID_SLOT, GObject)

struct _ClGridSlot {
  GObject parent_instance;
  ClImageItem *item;
};

G_DEFINE_FINAL_TYPE (ClGridSlot, cl_grid_slot, G_TYPE_OBJECT)

enum { SLOT_PROP_0, SLOT_PROP_ITEM, SLOT_N_PROPS };
static GParamSpec *slot_properties[SLOT_N_PROPS];

static void
cl_grid_slot_finalize (GObject *object)
{
  g_clear_object (&CL_GRID_SLOT (object)->item);
  G_OBJECT_CLASS (cl_grid_slot_parent_class)->finalize (object);
}

static void
cl_grid_slot_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  switch (prop_id)
    {
    case SLOT_PROP_ITEM:
      g_value_set_object (value, CL_GRID_SLOT (object)->item);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_grid_slot_class_init (ClGridSlotClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = cl_grid_slot_finalize;
  object_class->get_property = cl_grid_slot_get_property;
  slot_properties[SLOT_PROP_ITEM] = g_param_spec_object ("item", NULL, NULL, CL_TYPE_IMAGE_ITEM,
                                                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS
                                                         | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, SLOT_N_PROPS, slot_properties);
}

static void
cl_grid_slot_init (ClGridSlot *self)
{
}

static void
cl_grid_slot_set_item (ClGridSlot *self, ClImageItem *item)
{
  if (g_set_object (&self->item, item))
    g_object_notify_by_pspec (G_OBJECT (self), slot_properties[SLOT_PROP_ITEM]);
}

#define CL_TYPE_SLOT_MODEL (cl_slot_model_get_type ())
G_DECLARE_FINAL_TYPE (ClSlotModel, cl_slot_model, CL, SLOT_MODEL, GObject)

struct _ClSlotModel {
  GObject parent_instance;
  GListModel *source;
  GPtrArray *slots;          /* ClGridSlot *, or NULL until asked for; one per source position */
};

static GType
cl_slot_model_get_item_type (GListModel *model)
{
  return CL_TYPE_GRID_SLOT;
}

static guint
cl_slot_model_get_n_items (GListModel *model)
{
  return CL_SLOT_MODEL (model)->slots->len;
}

static gpointer
cl_slot_model_get_item (GListModel *model, guint position)
{
  ClSlotModel *self = CL_SLOT_MODEL (model);

  if (position >= self->slots->len)
    return NULL;
  if (self->slots->pdata[position] == NULL)
    {
      ClGridSlot *slot = g_object_new (CL_TYPE_GRID_SLOT, NULL);
      slot->item = g_list_model_get_item (self->source, position);
      self->slots->pdata[position] = slot;
    }
  return g_object_ref (self->slots->pdata[position]);
}

static void
cl_slot_model_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = cl_slot_model_get_item_type;
  iface->get_n_items = cl_slot_model_get_n_items;
  iface->get_item = cl_slot_model_get_item;
}

G_DEFINE_FINAL_TYPE_WITH_CODE (ClSlotModel, cl_slot_model, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, cl_slot_model_list_model_init))

static void
slot_unref (gpointer slot)
{
  if (slot != NULL)
    g_object_unref (slot);
}

/* N empty slots at POSITION. */
static void
slots_insert_empty (GPtrArray *slots, guint position, guint n)
{
  guint old_len = slots->len;

  if (n == 0)
    return;  /* an empty array has no storage to move (memmove of NULL is undefined) */
  g_ptr_array_set_size (slots, old_len + n);
  memmove (&slots->pdata[position + n], &slots->pdata[position], sizeof (gpointer) * (old_len - position));
  memset (&slots->pdata[position], 0, sizeof (gpointer) * n);
}

/* The items at POSITION .. POSITION + ADDED - 1 of the source replaced REMOVED others. */
static void
slots_replace (ClSlotModel *self, guint position, guint removed, guint added)
{
  guint kept = MIN (removed, added);

  for (guint i = position; i < position + kept; i++)
    {
      ClGridSlot *slot = self->slots->pdata[i];
      if (slot != NULL)
        {
          g_autoptr (ClImageItem) item = g_list_model_get_item (self->source, i);
          cl_grid_slot_set_item (slot, item);
        }
    }
  if (removed > kept)
    g_ptr_array_remove_range (self->slots, position + kept, removed - kept);
  if (added > kept)
    slots_insert_empty (self->slots, position + kept, added - kept);
  if (removed != added)
    g_list_model_items_changed (G_LIST_MODEL (self), position + kept, removed - kept, added - kept);
}

static void
on_source_items_changed (GListModel *source, guint position, guint removed, guint added, ClSlotModel *self)
{
  slots_replace (self, position, removed, added);
}

/* Another model (another folder) takes the same slots too. */
static void
cl_slot_model_set_source (ClSlotModel *self, GListModel *source)
{
  if (self->source != NULL)
    g_signal_handlers_disconnect_by_func (self->source, on_source_items_changed, self);
  g_set_object (&self->source, source);
  if (source != NULL)
    g_signal_connect (source, "items-changed", G_CALLBACK (on_source_items_changed), self);
  slots_replace (self, 0, self->slots->len, source != NULL ? g_list_model_get_n_items (source) : 0);
}

static void
cl_slot_model_dispose (GObject *object)
{
  cl_slot_model_set_source (CL_SLOT_MODEL (object), NULL);
  G_OBJECT_CLASS (cl_slot_model_parent_class)->dispose (object);
}

static void
cl_slot_model_finalize (GObject *object)
{
  g_ptr_array_unref (CL_SLOT_MODEL (object)->slots);
  G_OBJECT_CLASS (cl_slot_model_parent_class)->finalize (object);
}

static void
cl_slot_model_class_init (ClSlotModelClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = cl_slot_model_dispose;
  G_OBJECT_CLASS (klass)->finalize = cl_slot_model_finalize;
}

static void
cl_slot_model_init (ClSlotModel *self)
{
  self->slots = g_ptr_array_new_with_free_func (slot_unref);
}

/* ---------------------------------------------------------------- the grid */

struct _ClImageGrid {
  GtkWidget parent_instance;

  GtkWidget *scroller;
  GtkGridView *grid_view;
  ClSlotModel *slots;
  GtkSingleSelection *selection;
  ClThumbnailer *thumbnailer;
  ClImageCellFlags flags;
  guint columns;
  guint layout_idle;      /* applies the columns for the width, then a pending scroll */
  gboolean scroll_pending; /* the selection changed while the grid was hidden or changing columns */
  GWeakRef wanted;        /* the item the selection follows, selected as soon as the model holds it */
  GHashTable *bound;      /* ClImageCell * showing a slot */
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
on_slot_item (ClGridSlot *slot, GParamSpec *pspec, ClImageCell *cell)
{
  cl_image_cell_set_item (cell, slot->item);
}

static void
factory_bind (GtkSignalListItemFactory *factory, GtkListItem *list_item, ClImageGrid *self)
{
  GtkWidget *cell = gtk_list_item_get_child (list_item);
  ClGridSlot *slot = gtk_list_item_get_item (list_item);

  cl_image_cell_set_item (CL_IMAGE_CELL (cell), slot->item);
  g_signal_connect_object (slot, "notify::item", G_CALLBACK (on_slot_item), cell, 0);
  g_hash_table_add (self->bound, cell);
}

static void
factory_unbind (GtkSignalListItemFactory *factory, GtkListItem *list_item, ClImageGrid *self)
{
  GtkWidget *cell = gtk_list_item_get_child (list_item);
  ClGridSlot *slot = gtk_list_item_get_item (list_item);

  g_signal_handlers_disconnect_by_func (slot, on_slot_item, cell);
  cl_image_cell_set_item (CL_IMAGE_CELL (cell), NULL);
  g_hash_table_remove (self->bound, cell);
}

ClImageItem *
cl_image_grid_get_selected_item (ClImageGrid *self)
{
  ClGridSlot *slot = gtk_single_selection_get_selected_item (self->selection);
  return slot != NULL ? slot->item : NULL;
}

/* The user or the code chose an item: the selection follows it from now on. */
static void
on_selected_changed (GtkSingleSelection *selection, GParamSpec *pspec, ClImageGrid *self)
{
  ClImageItem *item = cl_image_grid_get_selected_item (self);

  if (item != NULL)
    g_weak_ref_set (&self->wanted, item);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED_ITEM]);
}

static guint
find_position (ClImageGrid *self, ClImageItem *item)
{
  GListModel *model = self->slots->source;
  guint n = model != NULL ? g_list_model_get_n_items (model) : 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (ClImageItem) candidate = g_list_model_get_item (model, i);
      if (candidate == item)
        return i;
    }
  return GTK_INVALID_LIST_POSITION;
}

static void select_position (ClImageGrid *self, guint position);
static guint columns_for_width (ClImageGrid *self, int width);

/* After the model changed, the selected slot may hold another item: select the wanted one where
 * it is now, or nothing while the model does not hold it (a filter hides it, or a folder is still
 * filling in). */
static void
on_model_items_changed (GListModel *model, guint position, guint removed, guint added, ClImageGrid *self)
{
  g_autoptr (ClImageItem) wanted = g_weak_ref_get (&self->wanted);

  if (wanted == NULL || cl_image_grid_get_selected_item (self) == wanted)
    return;
  guint found = find_position (self, wanted);
  if (found != GTK_INVALID_LIST_POSITION)
    select_position (self, found);
  else if (gtk_single_selection_get_selected (self->selection) != GTK_INVALID_LIST_POSITION)
    gtk_single_selection_set_selected (self->selection, GTK_INVALID_LIST_POSITION);
}

static void
on_activate (GtkGridView *grid_view, guint position, ClImageGrid *self)
{
  g_autoptr (ClGridSlot) slot = g_list_model_get_item (G_LIST_MODEL (self->slots), position);
  if (slot != NULL && slot->item != NULL)
    g_signal_emit (self, signals[SIGNAL_ACTIVATE], 0, slot->item);
}

void
cl_image_grid_set_model (ClImageGrid *self, GListModel *model)
{
  if (self->slots->source != NULL)
    g_signal_handlers_disconnect_by_func (self->slots->source, on_model_items_changed, self);
  /* The slots follow the model first, then the selection follows the wanted item. */
  cl_slot_model_set_source (self->slots, model);
  if (model != NULL)
    g_signal_connect (model, "items-changed", G_CALLBACK (on_model_items_changed), self);
  on_model_items_changed (model, 0, 0, 0, self);
}

GListModel *
cl_image_grid_get_model (ClImageGrid *self)
{
  return self->slots->source;
}

GtkAdjustment *
cl_image_grid_get_vadjustment (ClImageGrid *self)
{
  return gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (self->scroller));
}

void
cl_image_grid_scroll_to_start (ClImageGrid *self)
{
  /* Through the grid view's own scrolling, which also replaces a scroll to the selection that it
   * has not carried out yet. */
  if (g_list_model_get_n_items (G_LIST_MODEL (self->slots)) > 0)
    gtk_widget_activate_action (GTK_WIDGET (self->grid_view), "list.scroll-to-item", "u", 0);
}

/* GtkGridView (GTK 4.8) scrolled to an item while it is hidden, or before it has its columns, keeps
 * an anchor that its next allocation does not honour: it shows the first image alone at the top
 * until the user scrolls.  So the scroll waits until the grid is shown at its width. */
static void
scroll_to_selected (ClImageGrid *self)
{
  guint position = gtk_single_selection_get_selected (self->selection);

  if (!gtk_widget_get_mapped (GTK_WIDGET (self)) || self->layout_idle != 0
      || columns_for_width (self, gtk_widget_get_width (GTK_WIDGET (self))) != self->columns)
    {
      self->scroll_pending = TRUE;
      return;
    }
  self->scroll_pending = FALSE;
  if (position != GTK_INVALID_LIST_POSITION)
    gtk_widget_activate_action (GTK_WIDGET (self->grid_view), "list.scroll-to-item", "u", position);
}

static void
select_position (ClImageGrid *self, guint position)
{
  g_autoptr (ClGridSlot) slot = g_list_model_get_item (G_LIST_MODEL (self->slots), position);

  g_weak_ref_set (&self->wanted, slot != NULL ? slot->item : NULL);
  gtk_single_selection_set_selected (self->selection, position);
  scroll_to_selected (self);
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
  select_position (self, position);
  return TRUE;
}

/* ---------------------------------------------------------------- the context menu by keyboard */

/* The cell of the focused grid item, else of the selected one. */
static ClImageCell *
focused_cell (ClImageGrid *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWidget *focus = root != NULL ? gtk_root_get_focus (root) : NULL;

  /* The grid view focuses the list item widget that holds the cell. */
  for (GtkWidget *w = focus; w != NULL && w != GTK_WIDGET (self->grid_view); w = gtk_widget_get_parent (w))
    {
      if (CL_IS_IMAGE_CELL (w))
        return CL_IMAGE_CELL (w);
      GtkWidget *child = gtk_widget_get_first_child (w);
      if (child != NULL && CL_IS_IMAGE_CELL (child) && g_hash_table_contains (self->bound, child))
        return CL_IMAGE_CELL (child);
    }

  ClImageItem *selected = cl_image_grid_get_selected_item (self);
  GHashTableIter iter;
  gpointer cell;
  g_hash_table_iter_init (&iter, self->bound);
  while (selected != NULL && g_hash_table_iter_next (&iter, &cell, NULL))
    if (cl_image_cell_get_item (cell) == selected)
      return cell;
  return NULL;
}

/* Tab and Shift+Tab leave the grid: it is one stop in the focus chain, however many images it
 * holds (GtkGridView would move through them one by one); the arrow keys move inside it.  With the
 * grid unfocusable for a moment, the window moves the focus to the widget after (or before) it. */
static gboolean
leave_grid_binding (GtkWidget *widget, GVariant *args, gpointer data)
{
  GtkWidget *root = GTK_WIDGET (gtk_widget_get_root (widget));
  gboolean moved;

  gtk_widget_set_can_focus (widget, FALSE);
  moved = gtk_widget_child_focus (root, (GtkDirectionType) g_variant_get_int32 (args));
  gtk_widget_set_can_focus (widget, TRUE);
  return moved;
}

static gboolean
popup_menu_binding (GtkWidget *widget, GVariant *args, gpointer user_data)
{
  ClImageCell *cell = focused_cell (CL_IMAGE_GRID (widget));

  if (cell == NULL)
    return FALSE;
  cl_image_cell_popup_menu (cell);
  return TRUE;
}

/* ---------------------------------------------------------------- size */

static guint
columns_for_width (ClImageGrid *self, int width)
{
  int cell = cl_thumbnailer_get_size (self->thumbnailer) + CELL_MARGIN;
  return MAX (1, (width - GRID_PADDING) / cell);
}

static gboolean
apply_layout_cb (gpointer data)
{
  ClImageGrid *self = data;
  guint columns = columns_for_width (self, gtk_widget_get_width (GTK_WIDGET (self)));

  self->layout_idle = 0;
  if (columns != self->columns)
    {
      self->columns = columns;
      gtk_grid_view_set_max_columns (self->grid_view, self->columns);
    }
  if (self->scroll_pending)
    scroll_to_selected (self);
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
  if ((columns_for_width (self, width) != self->columns || self->scroll_pending) && self->layout_idle == 0)
    self->layout_idle = g_idle_add_full (G_PRIORITY_HIGH_IDLE, apply_layout_cb, self, NULL);
}

/* Shown again at the size it had, the grid might not be allocated again, and a scroll waiting for
 * its allocation would wait on. */
static void
cl_image_grid_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (cl_image_grid_parent_class)->map (widget);
  if (CL_IMAGE_GRID (widget)->scroll_pending)
    gtk_widget_queue_allocate (widget);
}

static void
on_thumbnail_size_changed (ClImageGrid *self)
{
  gtk_widget_queue_allocate (GTK_WIDGET (self));
}

/* ---------------------------------------------------------------- GObject */

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

  g_clear_handle_id (&self->layout_idle, g_source_remove);
  g_weak_ref_set (&self->wanted, NULL);
  g_clear_pointer (&self->scroller, gtk_widget_unparent);
  g_hash_table_remove_all (self->bound);
  if (self->slots->source != NULL)
    g_signal_handlers_disconnect_by_func (self->slots->source, on_model_items_changed, self);
  cl_slot_model_set_source (self->slots, NULL);
  if (self->thumbnailer != NULL)
    g_signal_handlers_disconnect_by_data (self->thumbnailer, self);
  g_clear_object (&self->thumbnailer);
  G_OBJECT_CLASS (cl_image_grid_parent_class)->dispose (object);
}

static void
cl_image_grid_finalize (GObject *object)
{
  ClImageGrid *self = CL_IMAGE_GRID (object);

  g_weak_ref_clear (&self->wanted);
  g_hash_table_unref (self->bound);
  g_object_unref (self->selection);
  g_object_unref (self->slots);
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

  /* The keys that open a context menu, for the focused image. */
  gtk_widget_class_add_binding (widget_class, GDK_KEY_F10, GDK_SHIFT_MASK, popup_menu_binding, NULL);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_Menu, 0, popup_menu_binding, NULL);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_Tab, 0, leave_grid_binding, "i", GTK_DIR_TAB_FORWARD);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_KP_Tab, 0, leave_grid_binding, "i", GTK_DIR_TAB_FORWARD);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_ISO_Left_Tab, GDK_SHIFT_MASK, leave_grid_binding, "i",
                                GTK_DIR_TAB_BACKWARD);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_Tab, GDK_SHIFT_MASK, leave_grid_binding, "i",
                                GTK_DIR_TAB_BACKWARD);

  widget_class->size_allocate = cl_image_grid_size_allocate;
  widget_class->map = cl_image_grid_map;
  widget_class->measure = cl_image_grid_measure;
  gtk_widget_class_set_css_name (widget_class, "imagegrid");
}

static void
cl_image_grid_init (ClImageGrid *self)
{
  /* No autoselect: the selection is the session's, which the grid follows. */
  self->slots = g_object_new (CL_TYPE_SLOT_MODEL, NULL);
  self->selection = gtk_single_selection_new (G_LIST_MODEL (g_object_ref (self->slots)));
  gtk_single_selection_set_autoselect (self->selection, FALSE);
  gtk_single_selection_set_can_unselect (self->selection, FALSE);
  g_weak_ref_init (&self->wanted, NULL);
  self->bound = g_hash_table_new (NULL, NULL);
  g_signal_connect (self->selection, "notify::selected-item", G_CALLBACK (on_selected_changed), self);
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

  self->grid_view = GTK_GRID_VIEW (gtk_grid_view_new (GTK_SELECTION_MODEL (g_object_ref (self->selection)), factory));
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
