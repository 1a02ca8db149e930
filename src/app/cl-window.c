/* cl-window.c — the main window. */
#include "cl-window.h"

#include <string.h>

#include <glib/gi18n.h>

#include "cl-adaptive-bin.h"
#include "cl-browse-view.h"
#include "cl-classify-view.h"
#include "cl-cleanup-view.h"
#include "cl-file-chooser.h"
#include "cl-file-launcher.h"
#include "cl-image-cell.h"
#include "cl-image-grid.h"
#include "cl-map-view.h"
#include "cl-model-chooser.h"
#include "cl-search-view.h"
#include "cl-train-view.h"

#define TOAST_SECONDS 4

struct _ClWindow {
  GtkApplicationWindow parent_instance;

  /* Template widgets. */
  GtkMenuButton *folder_button;
  GtkLabel *folder_label;
  GtkButton *model_button;
  GtkLabel *model_label;
  GtkSpinner *model_spinner;
  GtkInfoBar *model_bar;
  GtkLabel *model_bar_label;
  GtkInfoBar *error_bar;
  GtkLabel *error_title;
  GtkLabel *error_detail;
  GtkButton *error_action;
  GtkStack *stack;
  GtkRevealer *toast_revealer;
  GtkLabel *toast_label;
  GtkWidget *toast_open_button;
  GtkWidget *toast_show_button;
  GtkWidget *toast_undo_button;
  GMenu *open_menu;

  ClSession *session;
  GMenu *recent_menu;
  guint toast_timeout;
  GFile *toast_file;             /* the file the toast is about, or NULL */
  ClWindowUndo toast_undo;       /* what the toast's Undo does, or NULL */
  gpointer toast_undo_data;
  GDestroyNotify toast_undo_destroy;
  GFile *dataset_awaiting_root;  /* the CSV chosen while its image folder is asked for */
};

G_DEFINE_FINAL_TYPE (ClWindow, cl_window, GTK_TYPE_APPLICATION_WINDOW)

ClSession *
cl_window_get_session (ClWindow *self)
{
  return self->session;
}

/* ---------------------------------------------------------------- views */

/* Each page is a box that gets its view the first time it is shown or asked for: building every
 * view before the window appears would delay its first frame. */
static GQuark view_new_quark;

void
cl_window_add_view (ClWindow *self, const char *name, const char *title, ClViewNew view_new)
{
  GtkWidget *page = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);

  g_object_set_qdata (G_OBJECT (page), view_new_quark, view_new);
  gtk_stack_add_titled (self->stack, page, name, title);
}

GtkWidget *
cl_window_get_view (ClWindow *self, const char *name)
{
  GtkWidget *page = gtk_stack_get_child_by_name (self->stack, name);

  if (page == NULL)
    return NULL;
  GtkWidget *view = gtk_widget_get_first_child (page);
  if (view == NULL)
    {
      ClViewNew view_new = g_object_get_qdata (G_OBJECT (page), view_new_quark);
      view = view_new (self->session);
      gtk_widget_set_hexpand (view, TRUE);
      gtk_widget_set_vexpand (view, TRUE);
      gtk_box_append (GTK_BOX (page), view);
    }
  return view;
}

static void
on_visible_view (ClWindow *self)
{
  const char *name = gtk_stack_get_visible_child_name (self->stack);

  if (name != NULL && self->session != NULL)
    cl_window_get_view (self, name);
}

void
cl_window_show_view (ClWindow *self, const char *name)
{
  if (gtk_stack_get_child_by_name (self->stack, name) != NULL)
    gtk_stack_set_visible_child_name (self->stack, name);
}

void
cl_window_show_items (ClWindow *self, GPtrArray *items, const char *what)
{
  GtkWidget *view = cl_window_get_view (self, "browse");

  if (view == NULL)
    return;
  cl_browse_view_show_items (CL_BROWSE_VIEW (view), items, what);
  cl_window_show_view (self, "browse");
}

/* ---------------------------------------------------------------- messages */

void
cl_window_show_error (ClWindow *self, const char *title, const char *detail, const char *action_name,
                      const char *action_label)
{
  gtk_label_set_label (self->error_title, title);
  gtk_label_set_label (self->error_detail, detail);
  gtk_widget_set_visible (GTK_WIDGET (self->error_detail), detail != NULL && *detail != '\0');
  gtk_widget_set_visible (GTK_WIDGET (self->error_action), action_name != NULL);
  if (action_name != NULL)
    {
      gtk_actionable_set_action_name (GTK_ACTIONABLE (self->error_action), action_name);
      gtk_button_set_label (self->error_action, action_label);
    }
  gtk_info_bar_set_revealed (self->error_bar, TRUE);
  gtk_widget_set_visible (GTK_WIDGET (self->error_bar), TRUE);
}

static void
hide_error (ClWindow *self)
{
  gtk_info_bar_set_revealed (self->error_bar, FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->error_bar), FALSE);
}

static void
on_error_response (ClWindow *self, int response)
{
  hide_error (self);
}

static void
on_session_error (ClWindow *self, const char *title, const char *detail, const char *action_name,
                  const char *action_label)
{
  cl_window_show_error (self, title, detail, action_name, action_label);
}

/* The undo the toast offered is no longer offered. */
static void
drop_toast_undo (ClWindow *self)
{
  gpointer data = g_steal_pointer (&self->toast_undo_data);
  GDestroyNotify destroy = g_steal_pointer (&self->toast_undo_destroy);

  self->toast_undo = NULL;
  gtk_widget_set_visible (self->toast_undo_button, FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.undo-toast", FALSE);
  if (destroy != NULL)
    destroy (data);
}

static void
hide_toast (ClWindow *self)
{
  g_clear_handle_id (&self->toast_timeout, g_source_remove);
  gtk_revealer_set_reveal_child (self->toast_revealer, FALSE);
  drop_toast_undo (self);
}

static gboolean
toast_timeout_cb (gpointer data)
{
  ClWindow *self = data;

  self->toast_timeout = 0;
  hide_toast (self);
  return G_SOURCE_REMOVE;
}

/* MESSAGE in the toast for SECONDS, with the buttons already set up. */
static void
reveal_toast (ClWindow *self, const char *message, guint seconds)
{
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->toast_label), message);   /* it may be ellipsized */
  gtk_label_set_label (self->toast_label, message);
  gtk_revealer_set_reveal_child (self->toast_revealer, TRUE);
  g_clear_handle_id (&self->toast_timeout, g_source_remove);
  self->toast_timeout = g_timeout_add_seconds (seconds, toast_timeout_cb, self);
}

void
cl_window_show_toast (ClWindow *self, const char *message)
{
  cl_window_show_file_toast (self, message, NULL);
}

void
cl_window_show_file_toast (ClWindow *self, const char *message, GFile *file)
{
  drop_toast_undo (self);
  g_set_object (&self->toast_file, file);
  gtk_widget_set_visible (self->toast_open_button, file != NULL);
  gtk_widget_set_visible (self->toast_show_button, file != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.open-toast-file", file != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.show-toast-file", file != NULL);
  reveal_toast (self, message, TOAST_SECONDS);
}

void
cl_window_show_undo_toast (ClWindow *self, const char *message, guint seconds, ClWindowUndo undo, gpointer data,
                           GDestroyNotify destroy)
{
  cl_window_show_file_toast (self, message, NULL);
  self->toast_undo = undo;
  self->toast_undo_data = data;
  self->toast_undo_destroy = destroy;
  gtk_widget_set_visible (self->toast_undo_button, TRUE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.undo-toast", TRUE);
  reveal_toast (self, message, seconds);
}

static void
on_toast_close (ClWindow *self)
{
  hide_toast (self);
}

static void
action_undo_toast (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClWindow *self = CL_WINDOW (widget);

  if (self->toast_undo != NULL)
    self->toast_undo (self, self->toast_undo_data);
  hide_toast (self);
}

static void
file_launched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  ClWindow *self = CL_WINDOW (source);

  if (!cl_file_launcher_finish (result, &error))
    cl_window_show_error (self, _("Could not open the file"), error->message, NULL, NULL);
}

static void
action_open_toast_file (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClWindow *self = CL_WINDOW (widget);

  if (self->toast_file != NULL)
    cl_file_launcher_open_async (self->toast_file, widget, NULL, file_launched, NULL);
  on_toast_close (self);
}

static void
action_show_toast_file (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClWindow *self = CL_WINDOW (widget);

  if (self->toast_file != NULL)
    cl_file_launcher_show_in_folder_async (self->toast_file, widget, NULL, file_launched, NULL);
  on_toast_close (self);
}

/* ---------------------------------------------------------------- panes */

/* Whether WIDGET is one of a view's panes: its sidebar, its image grid or its details. */
static gboolean
is_pane (GtkWidget *widget)
{
  return CL_IS_IMAGE_GRID (widget) || gtk_widget_has_css_class (widget, "sidebar-pane")
         || gtk_widget_has_css_class (widget, "details-pane");
}

/* The panes shown under WIDGET, in the order of the widget tree (left to right). */
static void
collect_panes (GtkWidget *widget, GPtrArray *panes)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      if (!gtk_widget_get_mapped (child))
        continue;
      if (is_pane (child))
        g_ptr_array_add (panes, child);
      else
        collect_panes (child, panes);
    }
}

/* Focuses the first thing PANE holds; a pane with nothing to focus (the details of an image) takes
 * the focus itself, so that it can be scrolled from the keyboard. */
static gboolean
enter_pane (GtkWidget *pane)
{
  if (gtk_widget_child_focus (pane, GTK_DIR_TAB_FORWARD))
    return TRUE;
  gtk_widget_set_focusable (pane, TRUE);
  return gtk_widget_grab_focus (pane);
}

/* F6 and Shift+F6: the focus goes to the next or previous pane of the view, round; from outside
 * every pane to the first or the last. */
static void
focus_next_pane (ClWindow *self, int direction)
{
  GtkWidget *view = gtk_stack_get_visible_child (self->stack);
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (self));
  g_autoptr (GPtrArray) panes = g_ptr_array_new ();
  int current = -1;

  if (view != NULL)
    collect_panes (view, panes);
  const int n = (int) panes->len;
  for (int i = 0; i < n; i++)
    if (focus != NULL && (focus == panes->pdata[i] || gtk_widget_is_ancestor (focus, panes->pdata[i])))
      current = i;
  for (int tried = 0; tried < n; tried++)
    {
      current = current < 0 ? (direction > 0 ? 0 : n - 1) : (current + direction + n) % n;
      if (enter_pane (panes->pdata[current]))
        return;
    }
}

static void
action_next_pane (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  focus_next_pane (CL_WINDOW (widget), +1);
}

static void
action_previous_pane (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  focus_next_pane (CL_WINDOW (widget), -1);
}

/* ---------------------------------------------------------------- header state */

static void
update_folder (ClWindow *self)
{
  ClCollection *collection = cl_session_get_collection (self->session);

  if (collection == NULL)
    {
      gtk_label_set_label (self->folder_label, _("Open"));
      gtk_window_set_title (GTK_WINDOW (self), _("ClipLab"));
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->folder_button), _("Open a folder or a data set"));
      return;
    }
  g_autofree char *path = g_file_get_parse_name (cl_collection_get_file (collection));
  /* Translators: the window title, e.g. "Holiday Photos — ClipLab" */
  g_autofree char *title = g_strdup_printf (_("%s — ClipLab"), cl_collection_get_title (collection));
  gtk_label_set_label (self->folder_label, cl_collection_get_title (collection));
  gtk_window_set_title (GTK_WINDOW (self), title);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->folder_button), path);
  hide_error (self);
}

static void
update_model (ClWindow *self)
{
  ClModelState state = cl_session_get_model_state (self->session);
  const ClModelInfo *info = cl_session_get_model_info (self->session);

  gtk_spinner_set_spinning (self->model_spinner, state == CL_MODEL_STATE_LOADING);
  gtk_widget_set_visible (GTK_WIDGET (self->model_spinner), state == CL_MODEL_STATE_LOADING);
  if (state == CL_MODEL_STATE_LOADING)
    gtk_label_set_label (self->model_label, _("Loading Model…"));
  else if (info != NULL)
    {
      g_autofree char *builtin = cl_session_find_builtin_model ();
      gboolean is_builtin = builtin != NULL && g_strcmp0 (builtin, info->path) == 0;
      gtk_label_set_label (self->model_label, is_builtin ? _("Built-in Model") : info->name);
    }
  else
    gtk_label_set_label (self->model_label, _("No Model"));

  if (info != NULL)
    {
      g_autofree char *path = g_filename_display_name (info->path);
      /* Translators: tooltip of the model button, e.g. "Model: /path/to/model — choose another" */
      g_autofree char *tip = g_strdup_printf (_("Model: %s\nClick to choose another model"), path);
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->model_button), tip);
    }
  else
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->model_button), _("Choose a model"));

  gboolean no_model = state == CL_MODEL_STATE_NONE;
  if (no_model)
    {
      const char *problem = cl_session_get_model_problem (self->session);
      g_autofree char *text = g_strdup_printf ("%s %s", _("No model is loaded: images cannot be classified."),
                                               problem != NULL ? problem : "");
      gtk_label_set_label (self->model_bar_label, g_strstrip (text));
    }
  gtk_info_bar_set_revealed (self->model_bar, no_model);
  gtk_widget_set_visible (GTK_WIDGET (self->model_bar), no_model);
}

/* ---------------------------------------------------------------- recent folders */

static void
update_recent (ClWindow *self)
{
  GSettings *settings = cl_session_get_settings (self->session);
  g_auto (GStrv) recent = g_settings_get_strv (settings, "recent-folders");
  const char *home = g_get_home_dir ();

  g_menu_remove_all (self->recent_menu);
  for (char **path = recent; *path != NULL; path++)
    {
      g_autofree char *base = g_filename_display_basename (*path);
      g_autofree char *dir = g_path_get_dirname (*path);
      g_autofree char *dir_display = g_filename_display_name (dir);
      g_autofree char *short_dir = g_str_has_prefix (dir_display, home)
        ? g_strconcat ("~", dir_display + strlen (home), NULL) : g_strdup (dir_display);
      /* Translators: a recent folder in the Open menu: "photos  (~/Pictures)" */
      g_autofree char *label = g_strdup_printf (_("%s  (%s)"), base, short_dir);
      g_autoptr (GMenuItem) item = g_menu_item_new (label, NULL);
      g_menu_item_set_action_and_target_value (item, "win.open-recent", g_variant_new_string (*path));
      g_menu_append_item (self->recent_menu, item);
    }
}

/* ---------------------------------------------------------------- opening */

static void
open_chosen (gpointer owner, GFile *file, gpointer data)
{
  cl_session_open (CL_WINDOW (owner)->session, file);
}

/* The data set's relative image paths are relative to the folder chosen here. */
static void
image_root_chosen (gpointer owner, GFile *root, gpointer data)
{
  ClWindow *self = CL_WINDOW (owner);

  cl_session_open_with_image_root (self->session, self->dataset_awaiting_root, root);
  g_clear_object (&self->dataset_awaiting_root);
}

static void
dataset_chosen (gpointer owner, GFile *csv, const char *choice, gpointer data)
{
  ClWindow *self = CL_WINDOW (owner);

  g_autoptr (GFile) csv_folder = g_file_get_parent (csv);
  if (g_strcmp0 (choice, "other") != 0)
    {
      /* The folder the format says: the CSV's or Karpathy JSON's, ../NAME for COCO captions. */
      cl_session_open_with_default_root (self->session, csv);
      return;
    }
  ClFileChooserOptions options = {
    .title = _("Choose the Folder the Image Paths Start From"),
    .action = GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
    .accept_label = _("_Open"),
    .folder = csv_folder,
  };
  g_set_object (&self->dataset_awaiting_root, csv);
  cl_file_chooser_show (GTK_WIDGET (self), &options, image_root_chosen, NULL);
}

static void
show_open_dialog (ClWindow *self, gboolean dataset)
{
  g_autofree char *last = g_settings_get_string (cl_session_get_settings (self->session), "last-folder");
  g_autoptr (GFile) last_folder = *last != '\0' ? g_file_new_for_path (last) : NULL;
  /* A data set is a file: its chooser starts beside the last one. */
  g_autoptr (GFile) folder = dataset && last_folder != NULL ? g_file_get_parent (last_folder) : NULL;
  /* An image folder opens as it is, a folder of class folders or of WebDataset shards as a data set. */
  ClFileChooserOptions options = cl_file_chooser_dataset_options (dataset ? CL_DATASET_FILE : CL_DATASET_FOLDER,
                                                                  dataset ? _("Open Data Set") : _("Open Folder"),
                                                                  folder != NULL ? folder : last_folder);

  if (!dataset)
    {
      cl_file_chooser_show (GTK_WIDGET (self), &options, open_chosen, NULL);
      return;
    }
  static const char *const root_ids[] = { "csv-folder", "other", NULL };
  const char *const root_labels[] = { _("The data set’s folder"), _("Another folder…"), NULL };
  ClFileChooserChoice root_choice = {
    /* Translators: a choice in the Open Data Set dialog: relative paths in the CSV start from … */
    .label = _("Relative image paths start from"),
    .ids = root_ids,
    .labels = root_labels,
  };
  cl_file_chooser_show_with_choice (GTK_WIDGET (self), &options, &root_choice, dataset_chosen, NULL);
}

static void
action_open_folder (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  show_open_dialog (CL_WINDOW (widget), FALSE);
}

static void
action_open_dataset (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  show_open_dialog (CL_WINDOW (widget), TRUE);
}

static void
action_open_recent (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClWindow *self = CL_WINDOW (widget);
  g_autoptr (GFile) file = g_file_new_for_path (g_variant_get_string (parameter, NULL));

  cl_session_open (self->session, file);
}

static void
action_choose_model (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClWindow *self = CL_WINDOW (widget);
  gtk_window_present (cl_model_chooser_new (GTK_WINDOW (self), self->session));
}

static void
action_show_view (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  cl_window_show_view (CL_WINDOW (widget), g_variant_get_string (parameter, NULL));
}

static void
action_export_results (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClWindow *self = CL_WINDOW (widget);
  GtkWidget *view = cl_window_get_view (self, "classify");

  if (view == NULL)
    return;
  cl_window_show_view (self, "classify");
  if (!cl_classify_view_has_results (CL_CLASSIFY_VIEW (view)))
    cl_window_show_toast (self, _("Classify all images first, then export the results"));
  else
    cl_classify_view_export (CL_CLASSIFY_VIEW (view));
}

/* "Find Similar Images" from any image: the path of the image to search with. */
static void
action_find_similar (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClWindow *self = CL_WINDOW (widget);
  GtkWidget *view = cl_window_get_view (self, "search");

  if (view == NULL)
    return;
  cl_window_show_view (self, "search");
  cl_search_view_find_similar (CL_SEARCH_VIEW (view), g_variant_get_string (parameter, NULL));
}

/* ---------------------------------------------------------------- acting on an image */

/* Ctrl+F: the Search view, its entry focused with the last query selected. */
static void
action_search (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClWindow *self = CL_WINDOW (widget);
  GtkWidget *view = cl_window_get_view (self, "search");

  if (view == NULL)
    return;
  cl_window_show_view (self, "search");
  cl_search_view_focus_entry (CL_SEARCH_VIEW (view));
}

/* "Find Similar Images" for the selected image, from the keyboard. */
static void
action_find_similar_selected (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClWindow *self = CL_WINDOW (widget);
  ClImageItem *item = cl_session_get_selected_item (self->session);
  GtkWidget *view = cl_window_get_view (self, "search");

  if (view == NULL)
    return;
  if (item == NULL)
    {
      cl_window_show_toast (self, _("Select an image to find images similar to it"));
      return;
    }
  if (cl_image_item_get_member (item) != NULL)
    {
      cl_window_show_toast (self, _("Images inside WebDataset shards are not in the search index"));
      return;
    }
  cl_window_show_view (self, "search");
  cl_search_view_find_similar (CL_SEARCH_VIEW (view), cl_image_item_get_path (item));
}

/* The window's commands: menus, buttons and the application's accelerators name them "win.…". */
static void
install_actions (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "win.open-folder", NULL, action_open_folder);
  gtk_widget_class_install_action (widget_class, "win.open-dataset", NULL, action_open_dataset);
  gtk_widget_class_install_action (widget_class, "win.open-recent", "s", action_open_recent);
  gtk_widget_class_install_action (widget_class, "win.choose-model", NULL, action_choose_model);
  gtk_widget_class_install_action (widget_class, "win.show-view", "s", action_show_view);
  gtk_widget_class_install_action (widget_class, "win.export-results", NULL, action_export_results);
  gtk_widget_class_install_action (widget_class, "win.find-similar", "s", action_find_similar);
  gtk_widget_class_install_action (widget_class, "win.find-similar-selected", NULL, action_find_similar_selected);
  gtk_widget_class_install_action (widget_class, "win.search", NULL, action_search);
  gtk_widget_class_install_action (widget_class, "win.next-pane", NULL, action_next_pane);
  gtk_widget_class_install_action (widget_class, "win.previous-pane", NULL, action_previous_pane);
  gtk_widget_class_install_action (widget_class, "win.open-toast-file", NULL, action_open_toast_file);
  gtk_widget_class_install_action (widget_class, "win.show-toast-file", NULL, action_show_toast_file);
  gtk_widget_class_install_action (widget_class, "win.undo-toast", NULL, action_undo_toast);
}

/* ---------------------------------------------------------------- drag and drop */

/* A folder holding a model's files (rather than images). */
static gboolean
is_model_folder (GFile *folder)
{
  static const char *const markers[] = { "config.json", "open_clip_config.json", "model.safetensors",
                                         "open_clip_model.safetensors" };
  for (guint i = 0; i < G_N_ELEMENTS (markers); i++)
    {
      g_autoptr (GFile) child = g_file_get_child (folder, markers[i]);
      if (g_file_query_exists (child, NULL))
        return TRUE;
    }
  return FALSE;
}

static gboolean
on_drop (GtkDropTarget *target, const GValue *value, double x, double y, ClWindow *self)
{
  GSList *files = g_value_get_boxed (value);

  if (files == NULL)
    return FALSE;
  GFile *file = files->data;
  g_autofree char *path = g_file_get_path (file);
  GFileType type = g_file_query_file_type (file, G_FILE_QUERY_INFO_NONE, NULL);

  if (path != NULL && ((type == G_FILE_TYPE_DIRECTORY && is_model_folder (file))
                       || (type == G_FILE_TYPE_REGULAR && g_str_has_suffix (path, ".safetensors"))))
    {
      GSettings *settings = cl_session_get_settings (self->session);
      g_autofree char *tokenizer = g_settings_get_string (settings, "tokenizer-path");
      cl_session_load_model (self->session, path, tokenizer, NULL, TRUE, NULL, NULL);
      return TRUE;
    }
  cl_session_open (self->session, file);
  return TRUE;
}

/* ---------------------------------------------------------------- GObject */

static void
cl_window_dispose (GObject *object)
{
  ClWindow *self = CL_WINDOW (object);

  g_clear_handle_id (&self->toast_timeout, g_source_remove);
  drop_toast_undo (self);
  if (self->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);
      g_signal_handlers_disconnect_by_data (cl_session_get_settings (self->session), self);
    }
  g_clear_object (&self->session);
  g_clear_object (&self->recent_menu);
  g_clear_object (&self->dataset_awaiting_root);
  g_clear_object (&self->toast_file);
  gtk_widget_dispose_template (GTK_WIDGET (object), CL_TYPE_WINDOW);
  G_OBJECT_CLASS (cl_window_parent_class)->dispose (object);
}

static void
cl_window_class_init (ClWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = cl_window_dispose;
  install_actions (widget_class);
  view_new_quark = g_quark_from_static_string ("cl-window-view-new");
  g_type_ensure (CL_TYPE_ADAPTIVE_BIN);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-window.ui");
  gtk_widget_class_bind_template_child (widget_class, ClWindow, folder_button);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, folder_label);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, model_button);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, model_label);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, model_spinner);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, model_bar);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, model_bar_label);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, error_bar);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, error_title);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, error_detail);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, error_action);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, toast_revealer);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, toast_label);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, toast_open_button);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, toast_show_button);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, toast_undo_button);
  gtk_widget_class_bind_template_child (widget_class, ClWindow, open_menu);
  gtk_widget_class_bind_template_callback (widget_class, on_error_response);
  gtk_widget_class_bind_template_callback (widget_class, on_toast_close);
}

static void
cl_window_init (ClWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  g_signal_connect_swapped (self->stack, "notify::visible-child", G_CALLBACK (on_visible_view), self);

  self->recent_menu = g_menu_new ();
  g_menu_append_section (self->open_menu, _("Recent"), G_MENU_MODEL (self->recent_menu));

  GtkDropTarget *drop = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect (drop, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));
}

ClWindow *
cl_window_new (GtkApplication *application, ClSession *session)
{
  ClWindow *self = g_object_new (CL_TYPE_WINDOW, "application", application, NULL);
  GSettings *settings = cl_session_get_settings (session);

  self->session = g_object_ref (session);
  /* The toast's Open and Show in Files act on a file only a file toast names. */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.open-toast-file", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.show-toast-file", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.undo-toast", FALSE);

  /* The views, in switcher order (Alt+1 … Alt+6). */
  cl_window_add_view (self, "browse", _("Browse"), cl_browse_view_new);
  cl_window_add_view (self, "classify", _("Classify"), cl_classify_view_new);
  cl_window_add_view (self, "search", _("Search"), cl_search_view_new);
  cl_window_add_view (self, "train", _("Train"), cl_train_view_new);
  cl_window_add_view (self, "map", _("Map"), cl_map_view_new);
  cl_window_add_view (self, "cleanup", _("Clean Up"), cl_cleanup_view_new);
  /* Map and Clean Up are shown as icons, their titles the tooltips: the header's switcher must still
   * fit a 600-pixel window. */
  gtk_stack_page_set_icon_name (gtk_stack_get_page (self->stack, gtk_stack_get_child_by_name (self->stack, "map")),
                                "find-location-symbolic");
  gtk_stack_page_set_icon_name (gtk_stack_get_page (self->stack, gtk_stack_get_child_by_name (self->stack, "cleanup")),
                                "edit-clear-all-symbolic");
  on_visible_view (self);

  g_settings_bind (settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "window-height", self, "default-height", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);

  g_signal_connect_swapped (session, "error", G_CALLBACK (on_session_error), self);
  g_signal_connect_swapped (session, "toast", G_CALLBACK (cl_window_show_file_toast), self);
  g_signal_connect_swapped (session, "notify::collection", G_CALLBACK (update_folder), self);
  g_signal_connect_swapped (session, "notify::model-state", G_CALLBACK (update_model), self);
  g_signal_connect_swapped (session, "notify::model-info", G_CALLBACK (update_model), self);
  g_signal_connect_swapped (settings, "changed::recent-folders", G_CALLBACK (update_recent), self);
  update_folder (self);
  update_model (self);
  update_recent (self);
  return self;
}
