/* cl-image-grid.c — GtkGridView with recycled ClImageCells and thumbnail requests on bind. */
#include "cl-image-grid.h"

#include <string.h>

#include <glib/gi18n.h>

#include "cl-async.h"
#include "cl-file-launcher.h"
#include "cl-trash.h"
#include "cl-window.h"

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
  GtkMultiSelection *selection;
  ClThumbnailer *thumbnailer;
  ClImageCellFlags flags;
  guint columns;
  guint layout_idle;      /* applies the columns for the width, then a pending scroll */
  gboolean scroll_pending; /* the selection changed while the grid was hidden or changing columns */
  GWeakRef wanted;        /* the current item (the preview's), selected as soon as the model holds it */
  guint current;          /* its position while it is shown and selected, else GTK_INVALID_LIST_POSITION */
  GHashTable *chosen;     /* ClImageItem * (owned): what the user selected, kept while a filter hides it */
  gboolean applying;      /* the grid itself is changing the selection: not the user */
  GtkRoot *root;          /* whose focus the current item follows */
  GHashTable *bound;      /* ClImageCell * showing a slot */
  GtkWidget *context_menu;
};

G_DEFINE_FINAL_TYPE (ClImageGrid, cl_image_grid, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_SELECTED_ITEM, N_PROPS };
static GParamSpec *properties[N_PROPS];

enum { SIGNAL_ACTIVATE, SIGNAL_SELECTION_CHANGED, N_SIGNALS };
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
  ClImageItem *current = self->current != GTK_INVALID_LIST_POSITION ? g_weak_ref_get (&self->wanted) : NULL;

  /* The model holds it: it stays alive without this reference. */
  if (current != NULL)
    g_object_unref (current);
  return current;
}

/* The item at POSITION of the model, or NULL (a new reference). */
static ClImageItem *
item_at (ClImageGrid *self, guint position)
{
  GListModel *model = self->slots->source;

  return model != NULL && position < g_list_model_get_n_items (model) ? g_list_model_get_item (model, position) : NULL;
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

/* The current item becomes ITEM at POSITION (or none); the views hear of it. */
static void
set_current (ClImageGrid *self, ClImageItem *item, guint position)
{
  g_autoptr (ClImageItem) before = g_weak_ref_get (&self->wanted);
  gboolean shown_before = self->current != GTK_INVALID_LIST_POSITION;

  if (item != NULL)
    g_weak_ref_set (&self->wanted, item);
  self->current = item != NULL ? position : GTK_INVALID_LIST_POSITION;
  if (before != item || shown_before != (item != NULL))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED_ITEM]);
}

/* The item of the focused cell of the grid, or NULL. */
static ClImageItem *
focused_item (ClImageGrid *self)
{
  GtkWidget *focus = self->root != NULL ? gtk_root_get_focus (self->root) : NULL;

  /* The grid view focuses the list item widget that holds the cell. */
  for (GtkWidget *w = focus; w != NULL && w != GTK_WIDGET (self->grid_view); w = gtk_widget_get_parent (w))
    {
      GtkWidget *child = gtk_widget_get_first_child (w);
      if (child != NULL && CL_IS_IMAGE_CELL (child) && g_hash_table_contains (self->bound, child))
        return cl_image_cell_get_item (CL_IMAGE_CELL (child));
    }
  return NULL;
}

/* After the selection changed: the current item is the focused one where it is selected (the
 * user clicked it or moved to it), else stays where it still is, else the first selected. */
static void
update_current (ClImageGrid *self)
{
  g_autoptr (GtkBitset) selected = gtk_selection_model_get_selection (GTK_SELECTION_MODEL (self->selection));
  ClImageItem *focused = focused_item (self);
  g_autoptr (ClImageItem) wanted = g_weak_ref_get (&self->wanted);

  if (gtk_bitset_is_empty (selected))
    {
      set_current (self, NULL, GTK_INVALID_LIST_POSITION);
      return;
    }
  if (focused != NULL && g_hash_table_contains (self->chosen, focused))
    {
      guint position = find_position (self, focused);
      if (position != GTK_INVALID_LIST_POSITION && gtk_bitset_contains (selected, position))
        {
          set_current (self, focused, position);
          return;
        }
    }
  if (wanted != NULL && self->current != GTK_INVALID_LIST_POSITION && gtk_bitset_contains (selected, self->current))
    {
      g_autoptr (ClImageItem) at_current = item_at (self, self->current);
      if (at_current == wanted)
        return;
    }
  guint first = gtk_bitset_get_minimum (selected);
  g_autoptr (ClImageItem) first_item = item_at (self, first);
  set_current (self, first_item, first);
}

/* The user changed the selection (a click, the keyboard, the rubber band, Ctrl+A): it is what the
 * grid keeps from now on. */
static void
on_selection_changed (GtkSelectionModel *selection, guint position, guint n_items, ClImageGrid *self)
{
  if (self->applying)
    return;
  g_autoptr (GtkBitset) selected = gtk_selection_model_get_selection (selection);
  GtkBitsetIter iter;
  guint i;

  g_hash_table_remove_all (self->chosen);
  for (gboolean more = gtk_bitset_iter_init_first (&iter, selected, &i); more; more = gtk_bitset_iter_next (&iter, &i))
    {
      ClImageItem *item = item_at (self, i);
      if (item != NULL)
        g_hash_table_add (self->chosen, item);
    }
  update_current (self);
  g_signal_emit (self, signals[SIGNAL_SELECTION_CHANGED], 0);
}

/* The focus moved to another cell: a selected one becomes the current item (the preview's). */
static void
on_focus_widget (GtkRoot *root, GParamSpec *pspec, ClImageGrid *self)
{
  ClImageItem *focused = focused_item (self);

  if (focused != NULL && g_hash_table_contains (self->chosen, focused))
    update_current (self);
}

/* Selects exactly SELECTED (positions of the model) without taking it for the user's choice. */
static void
apply_selection (ClImageGrid *self, GtkBitset *selected)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->slots));
  g_autoptr (GtkBitset) mask = gtk_bitset_new_range (0, n);

  self->applying = TRUE;
  gtk_selection_model_set_selection (GTK_SELECTION_MODEL (self->selection), selected, mask);
  self->applying = FALSE;
}

static void select_position (ClImageGrid *self, guint position);
static guint columns_for_width (ClImageGrid *self, int width);

/* After the model changed, the selected slots may hold other items: select the chosen ones where
 * they are now, or none while the model does not hold them (a filter hides them, or a folder is
 * still filling in). */
static void
on_model_items_changed (GListModel *model, guint position, guint removed, guint added, ClImageGrid *self)
{
  g_autoptr (ClImageItem) wanted = g_weak_ref_get (&self->wanted);
  g_autoptr (GtkBitset) selected = gtk_bitset_new_empty ();
  guint n = model != NULL ? g_list_model_get_n_items (model) : 0;

  if (g_hash_table_size (self->chosen) <= 1)
    {
      /* One image chosen (the usual case): only it is looked for. */
      if (wanted == NULL)
        return;
      g_autoptr (ClImageItem) at_current = item_at (self, self->current);
      if (at_current == wanted
          && gtk_selection_model_is_selected (GTK_SELECTION_MODEL (self->selection), self->current))
        return;
      guint found = find_position (self, wanted);
      g_hash_table_remove_all (self->chosen);
      g_hash_table_add (self->chosen, g_object_ref (wanted));
      if (found != GTK_INVALID_LIST_POSITION)
        gtk_bitset_add (selected, found);
      apply_selection (self, selected);
      set_current (self, found != GTK_INVALID_LIST_POSITION ? wanted : NULL, found);
      return;
    }
  guint current = GTK_INVALID_LIST_POSITION;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (ClImageItem) item = g_list_model_get_item (model, i);
      if (g_hash_table_contains (self->chosen, item))
        gtk_bitset_add (selected, i);
      if (item == wanted)
        current = i;
    }
  apply_selection (self, selected);
  if (current != GTK_INVALID_LIST_POSITION && gtk_bitset_contains (selected, current))
    set_current (self, wanted, current);
  else
    update_current (self);
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
  guint position = self->current;

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

/* Selects the item at POSITION alone, as a plain click does (it is where Shift+click extends from). */
static void
select_position (ClImageGrid *self, guint position)
{
  g_autoptr (ClImageItem) item = item_at (self, position);

  g_hash_table_remove_all (self->chosen);
  if (item != NULL)
    g_hash_table_add (self->chosen, g_object_ref (item));
  self->applying = TRUE;
  gtk_widget_activate_action (GTK_WIDGET (self->grid_view), "list.select-item", "(ubb)", position, FALSE, FALSE);
  self->applying = FALSE;
  set_current (self, item, position);
  scroll_to_selected (self);
  g_signal_emit (self, signals[SIGNAL_SELECTION_CHANGED], 0);
}

gboolean
cl_image_grid_select_item (ClImageGrid *self, ClImageItem *item)
{
  /* The current item of a selection of several: the selection stays. */
  if (item != NULL && cl_image_grid_get_selected_item (self) == item)
    return TRUE;
  g_weak_ref_set (&self->wanted, item);
  if (item == NULL)
    return FALSE;

  guint position = find_position (self, item);
  if (position == GTK_INVALID_LIST_POSITION)
    {
      /* Nothing selected while the model does not hold it; selected as soon as it does. */
      g_autoptr (GtkBitset) none = gtk_bitset_new_empty ();
      g_hash_table_remove_all (self->chosen);
      g_hash_table_add (self->chosen, g_object_ref (item));
      apply_selection (self, none);
      set_current (self, NULL, GTK_INVALID_LIST_POSITION);
      return FALSE;
    }
  select_position (self, position);
  return TRUE;
}

/* ---------------------------------------------------------------- the selection as files */

GPtrArray *
cl_image_grid_get_selected_items (ClImageGrid *self)
{
  g_autoptr (GtkBitset) selected = gtk_selection_model_get_selection (GTK_SELECTION_MODEL (self->selection));
  GPtrArray *items = g_ptr_array_new_with_free_func (g_object_unref);
  GtkBitsetIter iter;
  guint i;

  for (gboolean more = gtk_bitset_iter_init_first (&iter, selected, &i); more; more = gtk_bitset_iter_next (&iter, &i))
    {
      ClImageItem *item = item_at (self, i);
      if (item != NULL)
        g_ptr_array_add (items, item);
    }
  return items;
}

/* The files of ITEM, or of the selection when ITEM is NULL or selected.  An image inside a
 * WebDataset shard has no file of its own (its file is the whole shard): it is left out, so that
 * nothing trashes, copies or drags a shard for one member, unless SHARDS asks for where it lies. */
static GPtrArray *
files_for (ClImageGrid *self, ClImageItem *item, gboolean shards)
{
  GPtrArray *files = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) items = NULL;

  if (item != NULL && !g_hash_table_contains (self->chosen, item))
    {
      items = g_ptr_array_new ();
      g_ptr_array_add (items, item);
    }
  else
    items = cl_image_grid_get_selected_items (self);
  for (guint i = 0; i < items->len; i++)
    if (shards || cl_image_item_get_member (items->pdata[i]) == NULL)
      g_ptr_array_add (files, g_object_ref (cl_image_item_get_file (items->pdata[i])));
  return files;
}

GPtrArray *
cl_image_grid_get_files_for (ClImageGrid *self, ClImageItem *item)
{
  return files_for (self, item, FALSE);
}

/* ---------------------------------------------------------------- acting on the selection */

static void
show_error (ClImageGrid *self, const char *title, const char *detail)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  if (CL_IS_WINDOW (root))
    cl_window_show_error (CL_WINDOW (root), title, detail, NULL, NULL);
}

/* The chosen application opens the files. */
static void
on_app_chosen (GtkDialog *dialog, int response, ClImageGrid *self)
{
  g_autoptr (GAppInfo) app = response == GTK_RESPONSE_OK ? gtk_app_chooser_get_app_info (GTK_APP_CHOOSER (dialog)) : NULL;
  GPtrArray *files = g_object_get_data (G_OBJECT (dialog), "files");
  g_autoptr (GError) error = NULL;
  g_autoptr (GList) list = NULL;

  for (guint i = files->len; i-- > 0;)
    list = g_list_prepend (list, files->pdata[i]);
  if (app != NULL)
    {
      g_autoptr (GdkAppLaunchContext) context = gdk_display_get_app_launch_context (gtk_widget_get_display (GTK_WIDGET (dialog)));
      if (!g_app_info_launch (app, list, G_APP_LAUNCH_CONTEXT (context), &error))
        show_error (self, _("Could not open the file"), error->message);
    }
  gtk_window_destroy (GTK_WINDOW (dialog));
}

/* The application chooser for the first file's type; the choice opens them all. */
static void
action_open_with (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClImageGrid *self = CL_IMAGE_GRID (widget);
  GPtrArray *files = cl_image_grid_get_files_for (self, NULL);
  GtkRoot *root = gtk_widget_get_root (widget);

  if (files->len == 0 || !GTK_IS_WINDOW (root))
    {
      g_ptr_array_unref (files);
      return;
    }
  GtkWidget *dialog = gtk_app_chooser_dialog_new (GTK_WINDOW (root), GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                                  files->pdata[0]);
  g_object_set_data_full (G_OBJECT (dialog), "files", files, (GDestroyNotify) g_ptr_array_unref);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_app_chosen), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
files_shown (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!cl_file_launcher_finish (result, &error))
    show_error (CL_IMAGE_GRID (source), _("Could not open the file"), error->message);
}

static void
action_show_in_files (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  g_autoptr (GPtrArray) files = files_for (CL_IMAGE_GRID (widget), NULL, TRUE);

  if (files->len > 0)
    cl_file_launcher_show_items_async (files, widget, NULL, files_shown, NULL);
}

/* The files on the clipboard: a file manager pastes copies, an editor the pictures' files. */
static void
action_copy (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  g_autoptr (GPtrArray) files = cl_image_grid_get_files_for (CL_IMAGE_GRID (widget), NULL);
  g_autoptr (GdkContentProvider) content = files->len > 0 ? cl_image_cell_content_for_files (files) : NULL;

  if (content != NULL)
    gdk_clipboard_set_content (gtk_widget_get_clipboard (widget), content);
}

static void
trashed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ClTrashRecord) record = cl_trash_files_finish (result, &error);
  g_autoptr (ClImageGrid) self = g_weak_ref_get (user_data);
  GtkRoot *root = self != NULL ? gtk_widget_get_root (GTK_WIDGET (self)) : NULL;

  cl_weak_ref_free (user_data);
  if (!CL_IS_WINDOW (root))
    return;
  if (record == NULL)
    cl_window_show_error (CL_WINDOW (root), _("Could not move the images to the trash"), error->message, NULL, NULL);
  else
    cl_trash_show_undo_toast (CL_WINDOW (root), g_steal_pointer (&record));
}

static void
action_trash (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  g_autoptr (GPtrArray) files = cl_image_grid_get_files_for (CL_IMAGE_GRID (widget), NULL);

  if (files->len > 0)
    cl_trash_files_async (files, NULL, trashed, cl_weak_ref_new (widget));
}

/* ---------------------------------------------------------------- the context menu */

/* The bound cell at (X, Y) of the grid view, or NULL. */
static ClImageCell *
cell_at (ClImageGrid *self, double x, double y)
{
  for (GtkWidget *w = gtk_widget_pick (GTK_WIDGET (self->grid_view), x, y, GTK_PICK_DEFAULT);
       w != NULL && w != GTK_WIDGET (self->grid_view); w = gtk_widget_get_parent (w))
    if (CL_IS_IMAGE_CELL (w) && g_hash_table_contains (self->bound, w))
      return CL_IMAGE_CELL (w);
  return NULL;
}

/* The cell of the focused grid item, else of the current one. */
static ClImageCell *
focused_cell (ClImageGrid *self)
{
  ClImageItem *item = focused_item (self);
  GHashTableIter iter;
  gpointer cell;

  if (item == NULL)
    item = cl_image_grid_get_selected_item (self);
  g_hash_table_iter_init (&iter, self->bound);
  while (item != NULL && g_hash_table_iter_next (&iter, &cell, NULL))
    if (cl_image_cell_get_item (cell) == item)
      return cell;
  return NULL;
}

/* The keyboard goes on where it was: the grid's focused image (the popover would leave the focus
 * to a pane around the grid). */
static void
on_menu_closed (ClImageGrid *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self->grid_view));
}

/* The menu for CELL's image, pointing at (X, Y) of CELL.  An image outside the selection becomes
 * the selection first, as in file managers: the menu acts on what is selected. */
static void
show_context_menu (ClImageGrid *self, ClImageCell *cell, double x, double y)
{
  static const struct { const char *label, *action; } items[] = {
    { N_("Open _With…"), "grid.open-with" },
    { N_("Show in _Files"), "grid.show-in-files" },
    { N_("_Copy"), "grid.copy" },
    { N_("Move to _Trash"), "grid.trash" },
  };
  ClImageItem *item = cl_image_cell_get_item (cell);
  g_autoptr (GMenu) menu = g_menu_new ();
  g_autoptr (GMenuItem) similar = g_menu_item_new (_("Find _Similar Images"), NULL);
  graphene_point_t at;

  /* An image outside the selection is selected, as a click selects it: the preview follows. */
  if (!g_hash_table_contains (self->chosen, item))
    select_position (self, find_position (self, item));
  g_menu_item_set_action_and_target_value (similar, "win.find-similar",
                                           g_variant_new_string (cl_image_item_get_path (item)));
  g_menu_append_item (menu, similar);
  /* An image inside a WebDataset shard: only its shard can be shown; the others act on files. */
  gboolean member = cl_image_item_get_member (item) != NULL;
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    if (!member || g_str_equal (items[i].action, "grid.show-in-files"))
      g_menu_append (menu, _(items[i].label), items[i].action);
  if (self->context_menu == NULL)
    {
      self->context_menu = gtk_popover_menu_new_from_model (NULL);
      gtk_popover_set_has_arrow (GTK_POPOVER (self->context_menu), FALSE);
      gtk_widget_set_halign (self->context_menu, GTK_ALIGN_START);
      gtk_widget_set_parent (self->context_menu, GTK_WIDGET (self));
      g_signal_connect_swapped (self->context_menu, "closed", G_CALLBACK (on_menu_closed), self);
    }
  if (!gtk_widget_compute_point (GTK_WIDGET (cell), GTK_WIDGET (self), &GRAPHENE_POINT_INIT (x, y), &at))
    graphene_point_init (&at, 0, 0);
  gtk_popover_menu_set_menu_model (GTK_POPOVER_MENU (self->context_menu), G_MENU_MODEL (menu));
  gtk_popover_set_pointing_to (GTK_POPOVER (self->context_menu), &(GdkRectangle) { (int) at.x, (int) at.y, 1, 1 });
  gtk_popover_popup (GTK_POPOVER (self->context_menu));
}

/* A right click or a long press on an image. */
static void
on_context_pressed (GtkGesture *gesture, double x, double y, ClImageGrid *self)
{
  ClImageCell *cell = cell_at (self, x, y);
  graphene_point_t in_cell;

  if (cell == NULL || !gtk_widget_compute_point (GTK_WIDGET (self->grid_view), GTK_WIDGET (cell),
                                                 &GRAPHENE_POINT_INIT (x, y), &in_cell))
    return;
  gtk_gesture_set_state (gesture, GTK_EVENT_SEQUENCE_CLAIMED);
  show_context_menu (self, cell, in_cell.x, in_cell.y);
}

static void
on_right_click (GtkGestureClick *gesture, int n_press, double x, double y, ClImageGrid *self)
{
  on_context_pressed (GTK_GESTURE (gesture), x, y, self);
}

/* The Menu key and Shift+F10: the menu of the focused image, at its middle. */
static gboolean
popup_menu_binding (GtkWidget *widget, GVariant *args, gpointer user_data)
{
  ClImageGrid *self = CL_IMAGE_GRID (widget);
  ClImageCell *cell = focused_cell (self);

  if (cell == NULL)
    return FALSE;
  show_context_menu (self, cell, gtk_widget_get_width (GTK_WIDGET (cell)) / 2.0,
                     gtk_widget_get_height (GTK_WIDGET (cell)) / 2.0);
  return TRUE;
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

/* The current item follows the focus of the window the grid is in. */
static void
cl_image_grid_root (GtkWidget *widget)
{
  ClImageGrid *self = CL_IMAGE_GRID (widget);

  GTK_WIDGET_CLASS (cl_image_grid_parent_class)->root (widget);
  self->root = gtk_widget_get_root (widget);
  g_signal_connect (self->root, "notify::focus-widget", G_CALLBACK (on_focus_widget), self);
}

static void
cl_image_grid_unroot (GtkWidget *widget)
{
  ClImageGrid *self = CL_IMAGE_GRID (widget);

  g_signal_handlers_disconnect_by_func (self->root, on_focus_widget, self);
  self->root = NULL;
  GTK_WIDGET_CLASS (cl_image_grid_parent_class)->unroot (widget);
}

static void
cl_image_grid_dispose (GObject *object)
{
  ClImageGrid *self = CL_IMAGE_GRID (object);

  g_clear_pointer (&self->context_menu, gtk_widget_unparent);

  g_clear_handle_id (&self->layout_idle, g_source_remove);
  g_weak_ref_set (&self->wanted, NULL);
  g_hash_table_remove_all (self->chosen);
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
  g_hash_table_unref (self->chosen);
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
  signals[SIGNAL_SELECTION_CHANGED] = g_signal_new ("selection-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                    0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_install_action (widget_class, "grid.open-with", NULL, action_open_with);
  gtk_widget_class_install_action (widget_class, "grid.show-in-files", NULL, action_show_in_files);
  gtk_widget_class_install_action (widget_class, "grid.copy", NULL, action_copy);
  gtk_widget_class_install_action (widget_class, "grid.trash", NULL, action_trash);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Delete, 0, "grid.trash", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Delete, 0, "grid.trash", NULL);

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
  widget_class->root = cl_image_grid_root;
  widget_class->unroot = cl_image_grid_unroot;
  widget_class->measure = cl_image_grid_measure;
  gtk_widget_class_set_css_name (widget_class, "imagegrid");
}

static void
cl_image_grid_init (ClImageGrid *self)
{
  /* Nothing selected at first: the current item is the session's, which the grid follows. */
  self->slots = g_object_new (CL_TYPE_SLOT_MODEL, NULL);
  self->selection = gtk_multi_selection_new (G_LIST_MODEL (g_object_ref (self->slots)));
  g_weak_ref_init (&self->wanted, NULL);
  self->current = GTK_INVALID_LIST_POSITION;
  self->chosen = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  self->bound = g_hash_table_new (NULL, NULL);
  g_signal_connect (self->selection, "selection-changed", G_CALLBACK (on_selection_changed), self);
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
  gtk_grid_view_set_enable_rubberband (self->grid_view, TRUE);

  GtkGesture *right_click = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (right_click), GDK_BUTTON_SECONDARY);
  g_signal_connect (right_click, "pressed", G_CALLBACK (on_right_click), self);
  gtk_widget_add_controller (GTK_WIDGET (self->grid_view), GTK_EVENT_CONTROLLER (right_click));
  GtkGesture *long_press = gtk_gesture_long_press_new ();
  gtk_gesture_single_set_touch_only (GTK_GESTURE_SINGLE (long_press), TRUE);
  g_signal_connect (long_press, "pressed", G_CALLBACK (on_context_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self->grid_view), GTK_EVENT_CONTROLLER (long_press));
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
