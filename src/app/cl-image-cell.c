/* cl-image-cell.c — a recycled grid cell that follows its item's thumbnail and prediction.
 *
 * Grids make a few hundred cells at once (when shown, when their width changes), so a cell is
 * built in code rather than from a template, which costs about twice as much. */
#include "cl-image-cell.h"

#include "cl-image-grid.h"

#include <glib/gi18n.h>

struct _ClImageCell {
  GtkWidget parent_instance;

  GtkWidget *box;
  GtkWidget *frame;
  GtkImage *picture;
  GtkImage *placeholder;
  GtkWidget *badge;              /* the badge: its text, then its number kept whole */
  GtkLabel *badge_text;
  GtkLabel *badge_number;
  GtkInscription *title;
  GtkInscription *subtitle;      /* only with CL_IMAGE_CELL_CAPTION */
  const char *placeholder_icon;

  ClThumbnailer *thumbnailer;
  ClImageCellFlags flags;
  ClImageItem *item;
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
  const char *icon = failed ? "image-missing-symbolic" : "image-x-generic-symbolic";
  if (icon != self->placeholder_icon)
    {
      gtk_image_set_from_icon_name (self->placeholder, icon);
      self->placeholder_icon = icon;
    }
  gtk_widget_set_visible (GTK_WIDGET (self->placeholder), texture == NULL);
}

/* The badge: a predicted class is ellipsized, its probability never is (it is what tells the
 * images apart); a search score is only a number. */
static void
update_badge (ClImageCell *self)
{
  const char *label = self->item != NULL ? cl_image_item_get_label (self->item) : NULL;
  const char *text = NULL;
  g_autofree char *number = NULL;
  gboolean wrong = FALSE;

  if (self->item != NULL && (self->flags & CL_IMAGE_CELL_PREDICTION))
    {
      double confidence = cl_image_item_get_confidence (self->item);
      const char *prediction = cl_image_item_get_prediction (self->item);
      if (prediction != NULL && confidence >= 0)
        {
          text = prediction;
          /* Translators: the probability after the predicted class on a thumbnail: "cat · 87 %" */
          number = g_strdup_printf (_("· %.0f %%"), 100.0 * confidence);
          wrong = label != NULL && g_utf8_collate (label, prediction) != 0
                  && g_ascii_strcasecmp (label, prediction) != 0;
        }
    }
  else if (self->item != NULL && (self->flags & CL_IMAGE_CELL_SCORE))
    number = g_strdup (cl_image_item_get_prediction (self->item));
  else if (self->flags & CL_IMAGE_CELL_CAPTION)
    text = label;

  gtk_label_set_label (self->badge_text, text);
  gtk_widget_set_visible (GTK_WIDGET (self->badge_text), text != NULL);
  gtk_label_set_label (self->badge_number, number);
  gtk_widget_set_visible (GTK_WIDGET (self->badge_number), number != NULL);
  gtk_widget_set_visible (self->badge, text != NULL || number != NULL);
  if (wrong)
    gtk_widget_add_css_class (self->badge, "wrong");
  else
    gtk_widget_remove_css_class (self->badge, "wrong");
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
  if (self->subtitle != NULL)
    {
      gtk_inscription_set_text (self->subtitle, caption);
      gtk_widget_set_visible (GTK_WIDGET (self->subtitle), caption != NULL);
    }
  update_thumbnail (self);
  update_badge (self);
}

ClImageItem *
cl_image_cell_get_item (ClImageCell *self)
{
  return self->item;
}

/* Tooltips are answered on demand: setting one on every bind would query the pointer each time. */
static gboolean
on_query_tooltip (ClImageCell *self, int x, int y, gboolean keyboard, GtkTooltip *tooltip)
{
  if (self->item == NULL)
    return FALSE;
  /* The whole name (the cell may show only its end), and a data set's caption. */
  const char *caption = cl_image_item_get_caption (self->item);
  g_autofree char *text = caption != NULL ? g_strdup_printf ("%s\n%s", cl_image_item_get_name (self->item), caption)
                                          : g_strdup (cl_image_item_get_name (self->item));
  gtk_tooltip_set_text (tooltip, text);
  return TRUE;
}

GdkContentProvider *
cl_image_cell_content_for_files (GPtrArray *files)
{
  /* GDK offers a file list as text/uri-list too, for programs that take that. */
  GdkFileList *list = gdk_file_list_new_from_array ((GFile **) files->pdata, files->len);
  GdkContentProvider *content = gdk_content_provider_new_typed (GDK_TYPE_FILE_LIST, list);
  g_boxed_free (GDK_TYPE_FILE_LIST, list);
  return content;
}

/* A drag carries the grid's selection when it starts on a selected image, else this image. */
static GdkContentProvider *
on_drag_prepare (GtkDragSource *source, double x, double y, ClImageCell *self)
{
  GtkWidget *grid = gtk_widget_get_ancestor (GTK_WIDGET (self), CL_TYPE_IMAGE_GRID);
  g_autoptr (GPtrArray) files = NULL;

  /* An image inside a WebDataset shard has no file of its own to hand over. */
  if (self->item == NULL || cl_image_item_get_member (self->item) != NULL)
    return NULL;
  if (grid != NULL)
    files = cl_image_grid_get_files_for (CL_IMAGE_GRID (grid), self->item);
  else
    {
      files = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (files, g_object_ref (cl_image_item_get_file (self->item)));
    }
  GdkTexture *thumbnail = cl_image_item_get_thumbnail (self->item);
  if (thumbnail != NULL)
    gtk_drag_source_set_icon (source, GDK_PAINTABLE (thumbnail), 0, 0);
  return cl_image_cell_content_for_files (files);
}

static void
cl_image_cell_dispose (GObject *object)
{
  ClImageCell *self = CL_IMAGE_CELL (object);

  cl_image_cell_set_item (self, NULL);
  if (self->thumbnailer != NULL)
    g_signal_handlers_disconnect_by_data (self->thumbnailer, self);
  g_clear_object (&self->thumbnailer);
  g_clear_pointer (&self->box, gtk_widget_unparent);
  G_OBJECT_CLASS (cl_image_cell_parent_class)->dispose (object);
}

static void
cl_image_cell_class_init (ClImageCellClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = cl_image_cell_dispose;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "imagecell");
}

static void
set_margins (GtkWidget *widget, int top, int bottom, int start, int end)
{
  gtk_widget_set_margin_top (widget, top);
  gtk_widget_set_margin_bottom (widget, bottom);
  gtk_widget_set_margin_start (widget, start);
  gtk_widget_set_margin_end (widget, end);
}

/* The thumbnail (with a placeholder icon until it is there, and the badge over it) above the name. */
static void
cl_image_cell_init (ClImageCell *self)
{
  self->box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  set_margins (self->box, 6, 6, 6, 6);
  gtk_widget_set_parent (self->box, GTK_WIDGET (self));

  self->frame = gtk_overlay_new ();
  gtk_widget_set_halign (self->frame, GTK_ALIGN_CENTER);
  gtk_widget_set_overflow (self->frame, GTK_OVERFLOW_HIDDEN);
  gtk_widget_add_css_class (self->frame, "thumbnail");
  gtk_box_append (GTK_BOX (self->box), self->frame);

  self->picture = GTK_IMAGE (gtk_image_new ());
  gtk_widget_set_halign (GTK_WIDGET (self->picture), GTK_ALIGN_CENTER);
  gtk_widget_set_valign (GTK_WIDGET (self->picture), GTK_ALIGN_CENTER);
  gtk_overlay_set_child (GTK_OVERLAY (self->frame), GTK_WIDGET (self->picture));

  self->placeholder = GTK_IMAGE (gtk_image_new ());
  gtk_image_set_pixel_size (self->placeholder, 32);
  gtk_widget_set_halign (GTK_WIDGET (self->placeholder), GTK_ALIGN_CENTER);
  gtk_widget_set_valign (GTK_WIDGET (self->placeholder), GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (GTK_WIDGET (self->placeholder), "dim-label");
  gtk_overlay_add_overlay (GTK_OVERLAY (self->frame), GTK_WIDGET (self->placeholder));

  self->badge = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 4);
  gtk_widget_set_visible (self->badge, FALSE);
  gtk_widget_set_halign (self->badge, GTK_ALIGN_START);
  gtk_widget_set_valign (self->badge, GTK_ALIGN_END);
  set_margins (self->badge, 0, 4, 4, 4);
  gtk_widget_add_css_class (self->badge, "badge");
  gtk_overlay_add_overlay (GTK_OVERLAY (self->frame), self->badge);
  self->badge_text = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_ellipsize (self->badge_text, PANGO_ELLIPSIZE_END);
  gtk_label_set_max_width_chars (self->badge_text, 12);
  gtk_label_set_width_chars (self->badge_text, 3);
  gtk_label_set_xalign (self->badge_text, 0);
  gtk_box_append (GTK_BOX (self->badge), GTK_WIDGET (self->badge_text));
  self->badge_number = GTK_LABEL (gtk_label_new (NULL));
  gtk_box_append (GTK_BOX (self->badge), GTK_WIDGET (self->badge_number));

  /* Names of a series differ near their end ("img-00042-circle.png"): that is what stays visible. */
  self->title = GTK_INSCRIPTION (gtk_inscription_new (NULL));
  gtk_inscription_set_xalign (self->title, 0.5);
  gtk_inscription_set_text_overflow (self->title, GTK_INSCRIPTION_OVERFLOW_ELLIPSIZE_START);
  gtk_box_append (GTK_BOX (self->box), GTK_WIDGET (self->title));

  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  g_signal_connect (self, "query-tooltip", G_CALLBACK (on_query_tooltip), NULL);

  /* Dragged out of the grid, the image is its file (a file manager copies it, an editor opens it).
   * Only from the thumbnail: a drag from the name or the margins draws the grid's rubber band. */
  GtkDragSource *drag = gtk_drag_source_new ();
  gtk_drag_source_set_actions (drag, GDK_ACTION_COPY);
  g_signal_connect (drag, "prepare", G_CALLBACK (on_drag_prepare), self);
  gtk_widget_add_controller (self->frame, GTK_EVENT_CONTROLLER (drag));
}

/* A data set's caption, two lines under the name. */
static void
add_subtitle (ClImageCell *self)
{
  self->subtitle = GTK_INSCRIPTION (gtk_inscription_new (NULL));
  gtk_widget_set_visible (GTK_WIDGET (self->subtitle), FALSE);
  gtk_inscription_set_xalign (self->subtitle, 0.5);
  gtk_inscription_set_min_lines (self->subtitle, 2);
  gtk_inscription_set_nat_lines (self->subtitle, 2);
  gtk_inscription_set_wrap_mode (self->subtitle, PANGO_WRAP_WORD_CHAR);
  gtk_inscription_set_text_overflow (self->subtitle, GTK_INSCRIPTION_OVERFLOW_ELLIPSIZE_END);
  gtk_widget_add_css_class (GTK_WIDGET (self->subtitle), "caption");
  gtk_widget_add_css_class (GTK_WIDGET (self->subtitle), "dim-label");
  gtk_box_append (GTK_BOX (self->box), GTK_WIDGET (self->subtitle));
}

GtkWidget *
cl_image_cell_new (ClThumbnailer *thumbnailer, ClImageCellFlags flags)
{
  ClImageCell *self = g_object_new (CL_TYPE_IMAGE_CELL, NULL);

  self->thumbnailer = g_object_ref (thumbnailer);
  self->flags = flags;
  if (flags & CL_IMAGE_CELL_CAPTION)
    add_subtitle (self);
  g_signal_connect_swapped (thumbnailer, "notify::size", G_CALLBACK (update_size), self);
  update_size (self);
  update_thumbnail (self);
  return GTK_WIDGET (self);
}
