/* cl-browse-view.c — browsing a folder or data set. */
#include "cl-browse-view.h"

#include <glib/gi18n.h>

#include "cl-async.h"
#include "cl-image-grid.h"
#include "cl-status-page.h"

#define PREVIEW_MAX_SIZE 1024
#define TOP_CAPTIONS     5

struct _ClBrowseView {
  GtkWidget parent_instance;

  /* Template widgets. */
  GtkStack *stack;
  ClStatusPage *no_images_page;
  GtkBox *grid_box;
  GtkLabel *count_label;
  GtkWidget *show_all_button;
  GtkPicture *preview;
  GtkSpinner *preview_spinner;
  GtkLabel *preview_error;
  GtkLabel *name_label;
  GtkLabel *dimensions_label;
  GtkLabel *type_label;
  GtkLabel *size_label;
  GtkLabel *modified_label;
  GtkLabel *folder_label;
  GtkWidget *dataset_box;
  GtkLabel *caption_label;
  GtkWidget *label_heading;
  GtkLabel *label_label;
  GtkListBox *matches_list;
  GtkLabel *matches_status;
  GtkSpinner *matches_spinner;

  ClSession *session;
  ClImageGrid *grid;
  GtkFilterListModel *shown;   /* the grid's model: all images or the subset, but those moved to the trash */
  GListStore *subset;          /* the images shown instead of all (cl_browse_view_show_items), or NULL */
  char **captions;             /* of the data set, by item index */
  GCancellable *preview_cancellable;
  GCancellable *rank_cancellable;
  GPtrArray *matches;          /* ClCaptionMatch * of the selection */
  gboolean busy;
};

G_DEFINE_FINAL_TYPE (ClBrowseView, cl_browse_view, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_BUSY, N_PROPS };
static GParamSpec *properties[N_PROPS];

/* "busy": the preview or the caption ranking of the selection is on its way. */
static void
update_busy (ClBrowseView *self)
{
  gboolean busy = self->preview_cancellable != NULL || self->rank_cancellable != NULL;

  if (busy == self->busy)
    return;
  self->busy = busy;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static void
caption_match_free (ClCaptionMatch *match)
{
  g_free (match->caption);
  g_free (match);
}

/* ---------------------------------------------------------------- pages */

static void
update_page (ClBrowseView *self)
{
  ClCollection *collection = cl_session_get_collection (self->session);
  const char *page;

  if (cl_session_get_collection_loading (self->session) && collection == NULL)
    page = "loading";
  else if (collection == NULL)
    page = "empty";
  else if (cl_collection_get_n_items (collection) == 0)
    {
      g_autofree char *description = g_strdup_printf (_("“%s” has no images in a format this computer can read. "
                                                        "Open another folder, or drop one here."),
                                                      cl_collection_get_title (collection));
      cl_status_page_set_description (self->no_images_page, description);
      page = "no-images";
    }
  else
    page = "content";
  gtk_stack_set_visible_child_name (self->stack, page);
}

/* ---------------------------------------------------------------- caption ranking */

static void
show_matches (ClBrowseView *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->matches_list))) != NULL)
    gtk_list_box_remove (self->matches_list, child);

  for (guint i = 0; i < self->matches->len; i++)
    {
      ClCaptionMatch *match = self->matches->pdata[i];
      GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
      g_autofree char *rank = g_strdup_printf ("%u", i + 1);
      g_autofree char *score = g_strdup_printf ("%.3f", match->score);
      GtkWidget *rank_label = gtk_label_new (rank);
      GtkWidget *text = gtk_label_new (match->caption);
      GtkWidget *score_label = gtk_label_new (score);

      gtk_widget_add_css_class (rank_label, "dim-label");
      gtk_widget_add_css_class (score_label, "numeric-label");
      gtk_widget_set_valign (rank_label, GTK_ALIGN_START);
      gtk_widget_set_valign (score_label, GTK_ALIGN_START);
      gtk_label_set_wrap (GTK_LABEL (text), TRUE);
      gtk_label_set_width_chars (GTK_LABEL (text), 10);
      gtk_label_set_wrap_mode (GTK_LABEL (text), PANGO_WRAP_WORD_CHAR);
      gtk_label_set_xalign (GTK_LABEL (text), 0);
      gtk_widget_set_hexpand (text, TRUE);
      gtk_box_append (GTK_BOX (row), rank_label);
      gtk_box_append (GTK_BOX (row), text);
      if (match->own)
        {
          GtkWidget *mark = gtk_image_new_from_icon_name ("emblem-ok-symbolic");
          gtk_widget_set_tooltip_text (mark, _("This image’s own caption"));
          gtk_widget_set_valign (mark, GTK_ALIGN_START);
          gtk_widget_add_css_class (text, "heading");
          gtk_box_append (GTK_BOX (row), mark);
          gtk_accessible_update_property (GTK_ACCESSIBLE (mark), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                          _("This image’s own caption"), -1);
        }
      gtk_box_append (GTK_BOX (row), score_label);
      gtk_widget_set_margin_top (row, 6);
      gtk_widget_set_margin_bottom (row, 6);
      gtk_widget_set_margin_start (row, 6);
      gtk_widget_set_margin_end (row, 6);
      gtk_list_box_append (self->matches_list, row);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->matches_list), self->matches->len > 0);
}

static void
set_matches_status (ClBrowseView *self, const char *text, gboolean busy)
{
  gtk_label_set_label (self->matches_status, text);
  gtk_widget_set_visible (GTK_WIDGET (self->matches_status), text != NULL);
  gtk_spinner_set_spinning (self->matches_spinner, busy);
  gtk_widget_set_visible (GTK_WIDGET (self->matches_spinner), busy);
}

static void
rank_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ClRankResult) ranking = cl_model_worker_rank_texts_finish (CL_MODEL_WORKER (source), result, &error);
  GWeakRef *ref = user_data;
  g_autoptr (ClBrowseView) self = g_weak_ref_get (ref);

  cl_weak_ref_free (ref);
  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->rank_cancellable);
  update_busy (self);
  if (ranking == NULL)
    {
      set_matches_status (self, error->message, FALSE);
      return;
    }

  ClImageItem *item = cl_session_get_selected_item (self->session);
  g_ptr_array_set_size (self->matches, 0);
  for (guint k = 0; k < ranking->n; k++)
    {
      ClCaptionMatch *match = g_new0 (ClCaptionMatch, 1);
      guint index = ranking->indices[k];
      match->caption = g_strdup (self->captions[index]);
      match->score = ranking->scores[k];
      /* Identical captions belong to this image too (CLIP_benchmark's grouping). */
      match->own = item != NULL && (index == cl_image_item_get_index (item)
                                    || g_strcmp0 (match->caption, cl_image_item_get_caption (item)) == 0);
      g_ptr_array_add (self->matches, match);
    }
  set_matches_status (self, NULL, FALSE);
  show_matches (self);
}

static void
update_matches (ClBrowseView *self)
{
  ClCollection *collection = cl_session_get_collection (self->session);
  ClImageItem *item = cl_session_get_selected_item (self->session);

  cl_cancel_and_clear (&self->rank_cancellable);
  update_busy (self);
  g_ptr_array_set_size (self->matches, 0);
  show_matches (self);
  if (collection == NULL || cl_collection_get_kind (collection) != CL_COLLECTION_DATASET || item == NULL)
    return;
  if (!cl_image_item_get_exists (item))
    {
      set_matches_status (self, _("The image file does not exist."), FALSE);
      return;
    }
  if (cl_session_get_model_state (self->session) == CL_MODEL_STATE_LOADING)
    {
      set_matches_status (self, _("Loading the model…"), TRUE);
      return;
    }
  if (cl_session_get_model_info (self->session) == NULL)
    {
      set_matches_status (self, _("Load a model to see which captions of the data set match this image best."), FALSE);
      return;
    }

  GWeakRef *ref = cl_weak_ref_new (self);
  self->rank_cancellable = g_cancellable_new ();
  update_busy (self);
  set_matches_status (self, _("Comparing with every caption…"), TRUE);
  cl_model_worker_rank_texts_async (cl_session_get_worker (self->session), cl_image_item_get_path (item),
                                    cl_image_item_get_member (item), cl_image_item_get_mtime (item), cl_session_get_apply_exif (self->session),
                                    (const char *const *) self->captions, g_strv_length (self->captions),
                                    TOP_CAPTIONS, self->rank_cancellable, rank_done, ref);
}

/* ---------------------------------------------------------------- preview and details */

static void
preview_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ClImagePreview) preview = cl_thumbnailer_load_preview_finish (CL_THUMBNAILER (source), result, &error);
  GWeakRef *ref = user_data;
  g_autoptr (ClBrowseView) self = g_weak_ref_get (ref);

  cl_weak_ref_free (ref);
  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->preview_cancellable);
  update_busy (self);
  gtk_spinner_set_spinning (self->preview_spinner, FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->preview_spinner), FALSE);
  if (preview == NULL)
    {
      g_autofree char *text = g_strdup_printf (_("This image cannot be shown: %s"), error->message);
      gtk_label_set_label (self->preview_error, text);
      gtk_widget_set_visible (GTK_WIDGET (self->preview_error), TRUE);
      gtk_label_set_label (self->dimensions_label, "—");
      return;
    }
  gtk_picture_set_paintable (self->preview, GDK_PAINTABLE (preview->texture));
  /* Translators: image dimensions, e.g. "640 × 480 pixels" */
  g_autofree char *dimensions = g_strdup_printf (_("%d × %d pixels"), preview->width, preview->height);
  gtk_label_set_label (self->dimensions_label, dimensions);
}

static void
update_details (ClBrowseView *self)
{
  ClImageItem *item = cl_session_get_selected_item (self->session);
  ClCollection *collection = cl_session_get_collection (self->session);

  cl_cancel_and_clear (&self->preview_cancellable);
  update_busy (self);
  gtk_picture_set_paintable (self->preview, NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->preview_error), FALSE);
  if (item == NULL)
    return;

  gtk_label_set_label (self->name_label, cl_image_item_get_name (item));
  g_autofree char *description = g_content_type_get_description (cl_image_item_get_content_type (item));
  gtk_label_set_label (self->type_label, description);
  gtk_label_set_label (self->dimensions_label, "…");
  /* A member of a WebDataset shard is "in" the shard. */
  const char *member = cl_image_item_get_member (item);
  g_autofree char *folder = member != NULL ? g_strdup (cl_image_item_get_path (item))
                                           : g_path_get_dirname (cl_image_item_get_path (item));
  g_autofree char *folder_display = g_filename_display_name (folder);
  gtk_label_set_label (self->folder_label, folder_display);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->folder_label), folder_display);

  if (cl_image_item_get_exists (item))
    {
      g_autofree char *size = member != NULL ? g_strdup ("—") : g_format_size (cl_image_item_get_size (item));
      g_autoptr (GDateTime) modified = g_date_time_new_from_unix_local (cl_image_item_get_mtime (item));
      /* The date as the locale writes it (LC_TIME, which may differ from the language). */
      g_autofree char *when = modified != NULL ? g_date_time_format (modified, "%x %R") : g_strdup ("—");
      gtk_label_set_label (self->size_label, size);
      gtk_label_set_label (self->modified_label, when);

      GWeakRef *ref = cl_weak_ref_new (self);
      self->preview_cancellable = g_cancellable_new ();
      update_busy (self);
      gtk_widget_set_visible (GTK_WIDGET (self->preview_spinner), TRUE);
      gtk_spinner_set_spinning (self->preview_spinner, TRUE);
      cl_thumbnailer_load_preview_async (cl_session_get_thumbnailer (self->session), cl_image_item_get_file (item),
                                         cl_image_item_get_member (item),
                                         PREVIEW_MAX_SIZE, self->preview_cancellable, preview_done, ref);
    }
  else
    {
      g_autofree char *text = g_strdup_printf (_("The file does not exist (line %u of the data set)."),
                                               cl_image_item_get_line (item));
      gtk_label_set_label (self->size_label, "—");
      gtk_label_set_label (self->modified_label, "—");
      gtk_label_set_label (self->dimensions_label, "—");
      gtk_label_set_label (self->preview_error, text);
      gtk_widget_set_visible (GTK_WIDGET (self->preview_error), TRUE);
      gtk_widget_set_visible (GTK_WIDGET (self->preview_spinner), FALSE);
    }

  gboolean dataset = collection != NULL && cl_collection_get_kind (collection) == CL_COLLECTION_DATASET;
  gtk_widget_set_visible (self->dataset_box, dataset);
  if (dataset)
    {
      const char *label = cl_image_item_get_label (item);
      gtk_label_set_label (self->caption_label, cl_image_item_get_caption (item));
      gtk_label_set_label (self->label_label, label);
      gtk_widget_set_visible (self->label_heading, label != NULL);
      gtk_widget_set_visible (GTK_WIDGET (self->label_label), label != NULL);
    }
  update_matches (self);
}

/* ---------------------------------------------------------------- session */

/* Every image of the collection in the grid, and their count. */
static void
show_all (ClBrowseView *self)
{
  ClCollection *collection = cl_session_get_collection (self->session);

  g_clear_object (&self->subset);
  gtk_widget_set_visible (self->show_all_button, FALSE);
  if (collection != NULL)
    {
      guint n = cl_collection_get_n_items (collection);
      g_autofree char *count = g_strdup_printf (ngettext ("%u image", "%u images", n), n);
      gtk_label_set_label (self->count_label, count);
    }
  gtk_filter_list_model_set_model (self->shown, collection != NULL ? cl_collection_get_items (collection) : NULL);
  cl_image_grid_select_item (self->grid, cl_session_get_selected_item (self->session));
}

void
cl_browse_view_show_items (ClBrowseView *self, GPtrArray *items, const char *what)
{
  ClCollection *collection = cl_session_get_collection (self->session);

  if (collection == NULL)
    return;
  g_clear_object (&self->subset);
  self->subset = g_list_store_new (CL_TYPE_IMAGE_ITEM);
  g_list_store_splice (self->subset, 0, 0, items->pdata, items->len);
  /* Translators: Browse's count when it shows some images only: "12 of 500 images: Images selected on the map" */
  g_autofree char *count = g_strdup_printf (ngettext ("%u of %u image: %s", "%u of %u images: %s",
                                                      cl_collection_get_n_items (collection)),
                                            items->len, cl_collection_get_n_items (collection), what);
  gtk_label_set_label (self->count_label, count);
  gtk_widget_set_visible (self->show_all_button, TRUE);
  gtk_filter_list_model_set_model (self->shown, G_LIST_MODEL (self->subset));
  cl_image_grid_scroll_to_start (self->grid);
  cl_image_grid_select_item (self->grid, cl_session_get_selected_item (self->session));
}

static void
action_show_all (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  show_all (CL_BROWSE_VIEW (widget));
}

static void
on_collection_changed (ClBrowseView *self)
{
  ClCollection *collection = cl_session_get_collection (self->session);

  g_clear_pointer (&self->captions, g_strfreev);
  if (collection != NULL)
    {
      guint n = cl_collection_get_n_items (collection);
      self->captions = g_new0 (char *, n + 1);
      for (guint i = 0; i < n; i++)
        {
          const char *caption = cl_image_item_get_caption (cl_collection_get_item (collection, i));
          self->captions[i] = g_strdup (caption != NULL ? caption : "");
        }
    }
  /* Until an image goes to the trash, nothing is filtered: a folder of any size costs nothing. */
  gtk_filter_list_model_set_filter (self->shown, NULL);
  show_all (self);
  update_page (self);
}

static void
on_selected_item_changed (ClBrowseView *self)
{
  cl_image_grid_select_item (self->grid, cl_session_get_selected_item (self->session));
  update_details (self);
}

static void
on_grid_selection (ClBrowseView *self)
{
  ClImageItem *item = cl_image_grid_get_selected_item (self->grid);
  /* Only the grid the user sees chooses the selection; hidden ones follow it. */
  if (item != NULL && gtk_widget_get_mapped (GTK_WIDGET (self->grid)))
    cl_session_set_selected_item (self->session, item);
}

static void
on_grid_activate (ClBrowseView *self, ClImageItem *item)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  gtk_show_uri (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, cl_image_item_get_uri (item), GDK_CURRENT_TIME);
}

/* ---------------------------------------------------------------- what the view shows */

GPtrArray *
cl_browse_view_get_caption_matches (ClBrowseView *self)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func ((GDestroyNotify) caption_match_free);

  for (guint i = 0; i < self->matches->len; i++)
    {
      ClCaptionMatch *match = self->matches->pdata[i];
      ClCaptionMatch *dup = g_memdup2 (match, sizeof *match);
      dup->caption = g_strdup (match->caption);
      g_ptr_array_add (copy, dup);
    }
  return copy;
}

/* ---------------------------------------------------------------- GObject */

static void
cl_browse_view_dispose (GObject *object)
{
  ClBrowseView *self = CL_BROWSE_VIEW (object);

  cl_cancel_and_clear (&self->preview_cancellable);
  cl_cancel_and_clear (&self->rank_cancellable);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->session);
  g_clear_object (&self->subset);
  gtk_widget_dispose_template (GTK_WIDGET (object), CL_TYPE_BROWSE_VIEW);
  G_OBJECT_CLASS (cl_browse_view_parent_class)->dispose (object);
}

static void
cl_browse_view_finalize (GObject *object)
{
  ClBrowseView *self = CL_BROWSE_VIEW (object);

  g_strfreev (self->captions);
  g_ptr_array_unref (self->matches);
  g_object_unref (self->shown);
  G_OBJECT_CLASS (cl_browse_view_parent_class)->finalize (object);
}

static void
cl_browse_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClBrowseView *self = CL_BROWSE_VIEW (object);

  switch (prop_id)
    {
    case PROP_BUSY:
      g_value_set_boolean (value, self->busy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_browse_view_class_init (ClBrowseViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cl_browse_view_dispose;
  object_class->finalize = cl_browse_view_finalize;
  object_class->get_property = cl_browse_view_get_property;
  properties[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                                                G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (CL_TYPE_STATUS_PAGE);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-browse-view.ui");
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, stack);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, no_images_page);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, grid_box);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, count_label);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, show_all_button);
  gtk_widget_class_install_action (widget_class, "browse.show-all", NULL, action_show_all);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, preview);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, preview_spinner);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, preview_error);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, name_label);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, dimensions_label);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, type_label);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, size_label);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, modified_label);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, folder_label);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, dataset_box);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, caption_label);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, label_heading);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, label_label);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, matches_list);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, matches_status);
  gtk_widget_class_bind_template_child (widget_class, ClBrowseView, matches_spinner);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static gboolean
is_not_trashed (gpointer item, gpointer user_data)
{
  return !cl_image_item_get_trashed (item);
}

static void
on_trashed_changed (ClBrowseView *self)
{
  GtkFilter *filter = gtk_filter_list_model_get_filter (self->shown);

  if (filter == NULL)
    {
      g_autoptr (GtkCustomFilter) not_trashed = gtk_custom_filter_new (is_not_trashed, NULL, NULL);
      gtk_filter_list_model_set_filter (self->shown, GTK_FILTER (not_trashed));
    }
  else
    gtk_filter_changed (filter, GTK_FILTER_CHANGE_DIFFERENT);
}

static void
cl_browse_view_init (ClBrowseView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->matches = g_ptr_array_new_with_free_func ((GDestroyNotify) caption_match_free);
}

GtkWidget *
cl_browse_view_new (ClSession *session)
{
  ClBrowseView *self = g_object_new (CL_TYPE_BROWSE_VIEW, NULL);

  self->session = g_object_ref (session);
  self->grid = CL_IMAGE_GRID (cl_image_grid_new (cl_session_get_thumbnailer (session), CL_IMAGE_CELL_CAPTION));
  gtk_box_prepend (self->grid_box, GTK_WIDGET (self->grid));
  self->shown = gtk_filter_list_model_new (NULL, NULL);
  cl_image_grid_set_model (self->grid, G_LIST_MODEL (self->shown));
  g_signal_connect_swapped (self->grid, "notify::selected-item", G_CALLBACK (on_grid_selection), self);
  g_signal_connect_swapped (self->grid, "activate", G_CALLBACK (on_grid_activate), self);

  g_signal_connect_swapped (session, "notify::collection", G_CALLBACK (on_collection_changed), self);
  g_signal_connect_swapped (session, "notify::collection-loading", G_CALLBACK (update_page), self);
  g_signal_connect_swapped (session, "trashed-changed", G_CALLBACK (on_trashed_changed), self);
  g_signal_connect_swapped (session, "notify::selected-item", G_CALLBACK (on_selected_item_changed), self);
  g_signal_connect_swapped (session, "notify::model-info", G_CALLBACK (update_matches), self);
  g_signal_connect_swapped (session, "notify::model-state", G_CALLBACK (update_matches), self);
  on_collection_changed (self);
  update_details (self);
  return GTK_WIDGET (self);
}
