/* cl-image-cell.c — a recycled grid cell that follows its item's thumbnail and prediction. */
#include "cl-image-cell.h"

#include <glib/gi18n.h>

struct _ClImageCell {
  GtkWidget parent_instance;

  GtkWidget *box;
  GtkWidget *frame;
  GtkImage *picture;
  GtkImage *placeholder;
  GtkLabel *badge;
  GtkInscription *title;
  GtkInscription *subtitle;

  ClThumbnailer *thumbnailer;
  ClImageCellFlags flags;
  ClImageItem *item;
  GtkWidget *context_menu;
};

G_DEFINE_FINAL_TYPE (ClImageCell, cl_image_cell, GTK_TYPE_WIDGET)

static void
update_size (ClImageCell *self)
{
  int size = cl_thumbnailer_get_size (self->thumbnailer);
  /* A GtkImage measures exactly its pixel size, so every cell has the same size whatever the
   * aspect ratio of its image (the texture is drawn fitted inside). */
  gtk_image_set_pixel_size (self->picture, size);
  gtk_widget_set_size_request (self->frame, size, size);
  gtk_inscription_set_min_chars (self->title, MAX (4, size / 10));
  gtk_inscription_set_nat_chars (self->title, MAX (8, size / 8));
}

static void
update_thumbnail (ClImageCell *self)
{
  GdkTexture *texture = self->item != NULL ? cl_image_item_get_thumbnail (self->item) : NULL;
  gboolean failed = self->item != NULL && cl_image_item_get_thumbnail_failed (self->item);

  if (texture != NULL)
    gtk_image_set_from_paintable (self->picture, GDK_PAINTABLE (texture));
  else
    gtk_image_clear (self->picture);
  gtk_image_set_from_icon_name (self->placeholder, failed ? "image-missing-symbolic" : "image-x-generic-symbolic");
  gtk_widget_set_visible (GTK_WIDGET (self->placeholder), texture == NULL);
}

static void
update_badge (ClImageCell *self)
{
  const char *label = self->item != NULL ? cl_image_item_get_label (self->item) : NULL;
  g_autofree char *text = NULL;
  gboolean wrong = FALSE;

  if (self->item != NULL && (self->flags & CL_IMAGE_CELL_PREDICTION))
    {
      double confidence = cl_image_item_get_confidence (self->item);
      const char *prediction = cl_image_item_get_prediction (self->item);
      if (prediction != NULL && confidence >= 0)
        {
          /* Translators: a predicted class and its probability on a thumbnail, e.g. "cat · 87 %" */
          text = g_strdup_printf (_("%s · %.0f %%"), prediction, 100.0 * confidence);
          wrong = label != NULL && g_utf8_collate (label, prediction) != 0
                  && g_ascii_strcasecmp (label, prediction) != 0;
        }
    }
  else if (self->item != NULL && (self->flags & CL_IMAGE_CELL_SCORE))
    text = g_strdup (cl_image_item_get_prediction (self->item));
  else if (self->flags & CL_IMAGE_CELL_CAPTION)
    text = g_strdup (label);

  gtk_label_set_label (self->badge, text);
  gtk_widget_set_visible (GTK_WIDGET (self->badge), text != NULL);
  if (wrong)
    gtk_widget_add_css_class (GTK_WIDGET (self->badge), "wrong");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->badge), "wrong");
}

static void
on_item_notify (ClImageItem *item, GParamSpec *pspec, ClImageCell *self)
{
  const char *name = g_param_spec_get_name (pspec);

  if (g_str_equal (name, "prediction"))
    update_badge (self);
  else
    update_thumbnail (self);
}

void
cl_image_cell_set_item (ClImageCell *self, ClImageItem *item)
{
  if (self->item == item)
    return;
  if (self->item != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->item, self);
      cl_thumbnailer_release (self->thumbnailer, self->item);
      g_clear_object (&self->item);
    }
  if (item != NULL)
    {
      self->item = g_object_ref (item);
      g_signal_connect (item, "notify::thumbnail", G_CALLBACK (on_item_notify), self);
      g_signal_connect (item, "notify::thumbnail-failed", G_CALLBACK (on_item_notify), self);
      g_signal_connect (item, "notify::prediction", G_CALLBACK (on_item_notify), self);
      cl_thumbnailer_request (self->thumbnailer, item);
    }

  const char *name = item != NULL ? cl_image_item_get_name (item) : NULL;
  const char *caption = item != NULL ? cl_image_item_get_caption (item) : NULL;
  gtk_inscription_set_text (self->title, name);
  gtk_inscription_set_text (self->subtitle, caption);
  gtk_widget_set_visible (GTK_WIDGET (self->subtitle), (self->flags & CL_IMAGE_CELL_CAPTION) && caption != NULL);
  update_thumbnail (self);
  update_badge (self);
}

/* Tooltips are answered on demand: setting one on every bind would query the pointer each time. */
static gboolean
on_query_tooltip (ClImageCell *self, int x, int y, gboolean keyboard, GtkTooltip *tooltip)
{
  if (self->item == NULL)
    return FALSE;
  const char *caption = cl_image_item_get_caption (self->item);
  gtk_tooltip_set_text (tooltip, caption != NULL ? caption : cl_image_item_get_name (self->item));
  return TRUE;
}

static void
on_context_click (GtkGestureClick *gesture, int n_press, double x, double y, ClImageCell *self)
{
  if (self->item == NULL)
    return;
  g_autoptr (GMenu) menu = g_menu_new ();
  g_autoptr (GMenuItem) similar = g_menu_item_new (_("Find _Similar Images"), NULL);
  g_menu_item_set_action_and_target_value (similar, "win.find-similar",
                                           g_variant_new_string (cl_image_item_get_path (self->item)));
  g_menu_append_item (menu, similar);
  if (self->context_menu == NULL)
    {
      self->context_menu = gtk_popover_menu_new_from_model (NULL);
      gtk_popover_set_has_arrow (GTK_POPOVER (self->context_menu), FALSE);
      gtk_widget_set_halign (self->context_menu, GTK_ALIGN_START);
      gtk_widget_set_parent (self->context_menu, GTK_WIDGET (self));
    }
  gtk_popover_menu_set_menu_model (GTK_POPOVER_MENU (self->context_menu), G_MENU_MODEL (menu));
  gtk_popover_set_pointing_to (GTK_POPOVER (self->context_menu), &(GdkRectangle) { (int) x, (int) y, 1, 1 });
  gtk_popover_popup (GTK_POPOVER (self->context_menu));
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
}

static void
cl_image_cell_dispose (GObject *object)
{
  ClImageCell *self = CL_IMAGE_CELL (object);

  g_clear_pointer (&self->context_menu, gtk_widget_unparent);
  cl_image_cell_set_item (self, NULL);
  if (self->thumbnailer != NULL)
    g_signal_handlers_disconnect_by_data (self->thumbnailer, self);
  g_clear_object (&self->thumbnailer);
  gtk_widget_dispose_template (GTK_WIDGET (self), CL_TYPE_IMAGE_CELL);
  G_OBJECT_CLASS (cl_image_cell_parent_class)->dispose (object);
}

static void
cl_image_cell_class_init (ClImageCellClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = cl_image_cell_dispose;
  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-image-cell.ui");
  gtk_widget_class_bind_template_child (widget_class, ClImageCell, box);
  gtk_widget_class_bind_template_child (widget_class, ClImageCell, frame);
  gtk_widget_class_bind_template_child (widget_class, ClImageCell, picture);
  gtk_widget_class_bind_template_child (widget_class, ClImageCell, placeholder);
  gtk_widget_class_bind_template_child (widget_class, ClImageCell, badge);
  gtk_widget_class_bind_template_child (widget_class, ClImageCell, title);
  gtk_widget_class_bind_template_child (widget_class, ClImageCell, subtitle);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "imagecell");
}

static void
cl_image_cell_init (ClImageCell *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  g_signal_connect (self, "query-tooltip", G_CALLBACK (on_query_tooltip), NULL);

  GtkGesture *context = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (context), GDK_BUTTON_SECONDARY);
  g_signal_connect (context, "pressed", G_CALLBACK (on_context_click), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (context));
}

GtkWidget *
cl_image_cell_new (ClThumbnailer *thumbnailer, ClImageCellFlags flags)
{
  ClImageCell *self = g_object_new (CL_TYPE_IMAGE_CELL, NULL);

  self->thumbnailer = g_object_ref (thumbnailer);
  self->flags = flags;
  g_signal_connect_swapped (thumbnailer, "notify::size", G_CALLBACK (update_size), self);
  update_size (self);
  return GTK_WIDGET (self);
}
