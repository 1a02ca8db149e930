/* cl-search-view.c — ranked search over the open folder's index. */
#include "cl-search-view.h"

#include <string.h>

#include <glib/gi18n.h>

#include "cl-async.h"
#include "cl-chart-math.h"
#include "cl-file-chooser.h"
#include "cl-folder-watch.h"
#include "cl-image-grid.h"
#include "cl-search-index.h"
#include "cl-search-query.h"
#include "cl-status-page.h"
#include "cl-window.h"

#define PAGE_SIZE       120       /* results fetched at a time: more as the user scrolls towards the end */
#define LOAD_AHEAD      1.5       /* screens of results left below the view when the next page is fetched */
#define REFRESH_MS      2000      /* while indexing, results are refreshed at most this often */
#define PREVIEW_MAX_SIZE 512      /* pixels of the selected result's preview */

struct _ClSearchView {
  GtkWidget parent_instance;

  /* Template widgets. */
  GtkStack *stack;
  GtkSearchEntry *entry;
  GtkWidget *similar_box;
  GtkLabel *similar_label;
  GtkLabel *summary_label;
  GtkStack *index_stack;
  GtkProgressBar *index_progress;
  GtkLabel *index_label;
  GtkButton *index_button;
  GtkStack *results_stack;
  ClStatusPage *error_page;
  ClStatusPage *no_results_page;
  GtkBox *grid_box;
  GtkPicture *preview;
  GtkLabel *preview_name;
  GtkLabel *preview_score;
  GtkLabel *preview_folder;
  GtkListBox *folders_list;

  ClSession *session;
  ClImageGrid *grid;
  GListStore *results;            /* ClImageItem of the last search */
  GtkFilterListModel *shown;      /* RESULTS without the images moved to the trash since */
  GHashTable *items;              /* absolute path → ClImageItem: reused across searches */
  GHashTable *collection_items;   /* absolute path → ClImageItem of the open collection; filled
                                   * when first needed (opening a large folder stays cheap) */

  ClSearchIndex *index;           /* of the open folder and the photo folders, NULL without any */
  GPtrArray *watches;             /* ClFolderWatch of each folder of INDEX */
  GCancellable *watch_cancellable;  /* updates of what the watches saw, for INDEX */
  guint index_generation;
  GCancellable *update_cancellable;
  gboolean index_complete;        /* an update finished for INDEX */
  gboolean index_stopped;         /* the user stopped the update: only they start it again */
  gint64 n_indexed;               /* searchable entries, -1 before known */
  gint64 n_embedded;              /* images the last complete update embedded anew */
  ClIndexProgress progress;

  char *similar_path;             /* the image of "find similar", or NULL */
  gboolean text_pending;          /* typed, and the entry's search delay not over yet */
  GCancellable *search_cancellable;
  gint64 n_searched;              /* by the search shown */
  char *results_query;            /* the description of the search shown, NULL without results */
  gint64 last_search_time;
  GCancellable *preview_cancellable;
  guint n_wanted;                 /* results asked for: pages so far */
  gboolean has_more;              /* the last search filled them: the index may hold more */
  guint model_generation;         /* of the model INDEX was made for */

  /* What the properties last reported. */
  gboolean searching;
  gboolean indexing;
  gint64 n_indexed_shown;
  double index_fraction;          /* "index-progress", 0..1 */
};

G_DEFINE_FINAL_TYPE (ClSearchView, cl_search_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_SEARCHING,
  PROP_INDEXING,
  PROP_N_INDEXED,
  PROP_N_EMBEDDED,
  PROP_RESULTS,
  PROP_INDEX_PROGRESS,
  PROP_HAS_MORE,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

static void run_search (ClSearchView *self);
static void start_search (ClSearchView *self);
static void update_state (ClSearchView *self);
static void on_folder_changed (ClFolderWatch *watch, const char *const *paths, gpointer data);

/* Notified even when unchanged: the bound progress bar then leaves the pulsing of the scan. */
static void
set_index_progress (ClSearchView *self, double progress)
{
  self->index_fraction = progress;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_INDEX_PROGRESS]);
}


/* ---------------------------------------------------------------- query */

static GPtrArray *
current_terms (ClSearchView *self)
{
  return cl_search_query_parse (gtk_editable_get_text (GTK_EDITABLE (self->entry)));
}

/* "Looking for “dog beach”, without “people”" from the terms. */
static char *
describe_query (ClSearchView *self, GPtrArray *terms)
{
  GString *plus = g_string_new (NULL), *minus = g_string_new (NULL);

  if (self->similar_path != NULL)
    {
      g_autofree char *name = g_filename_display_basename (self->similar_path);
      /* Translators: part of the search summary: images like this one */
      g_string_append_printf (plus, _("images like “%s”"), name);
    }
  for (guint i = 0; i < terms->len; i++)
    {
      ClSearchTerm *term = terms->pdata[i];
      GString *to = term->weight > 0 ? plus : minus;
      if (to->len > 0)
        g_string_append (to, _(", "));
      g_string_append_printf (to, _("“%s”"), term->text);
    }
  char *text = minus->len > 0
    /* Translators: the search summary, e.g. "Looking for “dog beach”, without “people”" */
    ? g_strdup_printf (_("Looking for %s, without %s"), plus->str, minus->str)
    : g_strdup_printf (_("Looking for %s"), plus->str);
  g_string_free (plus, TRUE);
  g_string_free (minus, TRUE);
  return text;
}

static void
set_summary (ClSearchView *self, const char *text)
{
  gtk_label_set_label (self->summary_label, text != NULL ? text : "");
}

/* The summary of the results shown: the images moved to the trash since are not counted. */
static void
show_results_summary (ClSearchView *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->shown));
  GString *summary = g_string_new (self->results_query);

  g_string_append (summary, " — ");
  g_string_append_printf (summary, self->has_more
                                   ? ngettext ("the best %u image, more as you scroll", "the best %u images, more as you scroll", n)
                                   : ngettext ("%u image, best first", "%u images, best first", n),
                          n);
  if (!self->index_complete)
    {
      g_string_append_c (summary, ' ');
      g_string_append_printf (summary, ngettext ("(%lld image indexed so far)",
                                                 "(%lld images indexed so far)", self->n_searched),
                              (long long) self->n_searched);
    }
  set_summary (self, summary->str);
  g_string_free (summary, TRUE);
}

/* ---------------------------------------------------------------- pages */

static void
show_results_page (ClSearchView *self, const char *page)
{
  gtk_stack_set_visible_child_name (self->results_stack, page);
}

/* The photo folders that Search covers besides the open folder. */
static GStrv
library_folders (ClSearchView *self)
{
  return g_settings_get_strv (cl_session_get_settings (self->session), "library-folders");
}

static gboolean
has_something_to_search (ClSearchView *self)
{
  g_auto (GStrv) library = library_folders (self);
  return cl_session_get_collection (self->session) != NULL || library[0] != NULL;
}

/* The page when there is nothing to search with (no folder, no model), else NULL. */
static const char *
unavailable_page (ClSearchView *self)
{
  if (!has_something_to_search (self))
    return "empty";
  if (cl_session_get_model_state (self->session) == CL_MODEL_STATE_NONE)
    return "no-model";
  return NULL;
}

static void
update_stack (ClSearchView *self)
{
  gtk_stack_set_visible_child_name (self->stack, has_something_to_search (self) ? "content" : "empty");
}

/* ---------------------------------------------------------------- index status */

static void
set_index_status (ClSearchView *self, const char *text)
{
  gtk_label_set_label (self->index_label, text);
}

static void
show_stopped_status (ClSearchView *self)
{
  gint64 n = MAX (self->n_indexed, 0);
  g_autofree char *text = g_strdup_printf (ngettext ("Indexing stopped: %lld image is searchable.",
                                                     "Indexing stopped: %lld images are searchable.", n),
                                           (long long) n);
  set_index_status (self, text);
}

static void
update_index_controls (ClSearchView *self)
{
  gboolean running = self->update_cancellable != NULL;

  gtk_stack_set_visible_child_name (self->index_stack, running ? "running" : "idle");
  gtk_widget_set_visible (GTK_WIDGET (self->index_button), !running && self->index != NULL && !self->index_complete);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "search.update-index", !running && self->index != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "search.stop-index", running);
  update_state (self);
}

static void
on_index_progress (const ClIndexProgress *progress, gpointer user_data)
{
  g_autoptr (ClSearchView) self = cl_generation_ref_get (user_data);
  g_autofree char *text = NULL;

  if (self == NULL)
    return;
  self->progress = *progress;
  self->n_indexed = progress->n_searchable;
  update_state (self);
  switch (progress->phase)
    {
    case CLIP_INDEX_PHASE_SCAN:
      text = g_strdup_printf (ngettext ("Looking for images: %lld file found",
                                        "Looking for images: %lld files found", progress->found),
                              (long long) progress->found);
      gtk_progress_bar_pulse (self->index_progress);
      break;
    case CLIP_INDEX_PHASE_EMBED:
      if (progress->total > 0)
        {
          char eta[32];
          cl_chart_format_duration (progress->eta, eta, sizeof eta);
          /* Translators: index progress, e.g. "Indexing 240 of 1500 images, 1:20 left" */
          text = progress->eta >= 0
            ? g_strdup_printf (ngettext ("Indexing %lld of %lld image, %s left",
                                         "Indexing %lld of %lld images, %s left",
                                         progress->total),
                               (long long) progress->done, (long long) progress->total, eta)
            : g_strdup_printf (ngettext ("Indexing %lld of %lld image",
                                         "Indexing %lld of %lld images",
                                         progress->total),
                               (long long) progress->done, (long long) progress->total);
          set_index_progress (self, (double) progress->done / progress->total);
        }
      else
        text = g_strdup (_("Checking for new images…"));
      break;
    case CLIP_INDEX_PHASE_WRITE:
    default:
      text = g_strdup (_("Saving the index…"));
      set_index_progress (self, 1);
      break;
    }
  gtk_progress_bar_set_text (self->index_progress, text);

  /* Searching while indexing: refresh the results now and then as more images become searchable. */
  g_autoptr (GPtrArray) terms = current_terms (self);
  if (self->search_cancellable == NULL && self->n_indexed > self->n_searched
      && (cl_search_query_has_positive (terms) || self->similar_path != NULL)
      && g_get_monotonic_time () - self->last_search_time >= REFRESH_MS * 1000)
    run_search (self);
}

static void
update_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClSearchView) self = cl_generation_ref_get (user_data);
  g_autoptr (GError) error = NULL;
  g_autoptr (ClIndexSummary) summary = NULL;

  if (self == NULL)
    {
      cl_generation_ref_free (user_data);
      return;
    }
  summary = cl_search_index_update_finish (self->index, result, &error);
  cl_generation_ref_free (user_data);
  g_clear_object (&self->update_cancellable);

  if (summary == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          show_stopped_status (self);
        }
      else
        {
          set_index_status (self, error->message);
          cl_session_report_error (self->session, _("Could not index the folder"), error->message, NULL, NULL);
        }
      update_index_controls (self);
      return;
    }

  self->index_complete = TRUE;
  self->n_indexed = summary->n_entries;
  self->n_embedded = summary->n_embedded;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_EMBEDDED]);
  update_state (self);
  GString *text = g_string_new (NULL);
  g_string_append_printf (text, ngettext ("%lld image indexed", "%lld images indexed", summary->n_entries),
                          (long long) summary->n_entries);
  if (summary->skipped->len > 0)
    {
      /* Translators: appended to "N images indexed" */
      g_string_append_printf (text, ngettext ("; %u file skipped", "; %u files skipped", summary->skipped->len),
                              summary->skipped->len);
    }
  set_index_status (self, text->str);
  g_string_free (text, TRUE);
  /* The skipped files, named, as the tooltip. */
  GString *tip = g_string_new (NULL);
  for (guint i = 0; i < MIN (summary->skipped->len, 10); i++)
    g_string_append_printf (tip, "%s%s", i > 0 ? "\n" : "", (const char *) summary->skipped->pdata[i]);
  if (summary->skipped->len > 10)
    g_string_append_printf (tip, "\n%s", _("…"));
  for (char **warning = summary->warnings; warning != NULL && *warning != NULL; warning++)
    g_string_append_printf (tip, "%s%s", tip->len > 0 ? "\n" : "", *warning);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->index_label), tip->len > 0 ? tip->str : NULL);
  g_string_free (tip, TRUE);
  update_index_controls (self);
  run_search (self);
}

void
cl_search_view_update_index (ClSearchView *self)
{
  if (self->index == NULL || self->update_cancellable != NULL
      || cl_session_get_model_state (self->session) != CL_MODEL_STATE_READY)
    return;
  self->index_stopped = FALSE;
  self->update_cancellable = g_cancellable_new ();
  memset (&self->progress, 0, sizeof self->progress);
  set_index_progress (self, 0);
  gtk_progress_bar_set_text (self->index_progress, _("Looking for images…"));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->index_label), NULL);
  cl_search_index_update_async (self->index, on_index_progress, cl_generation_ref_new (self, &self->index_generation), cl_generation_ref_free,
                                self->update_cancellable, update_done, cl_generation_ref_new (self, &self->index_generation));
  update_index_controls (self);
}

void
cl_search_view_stop_index (ClSearchView *self)
{
  if (self->update_cancellable == NULL)
    return;
  cl_cancel_and_clear (&self->update_cancellable);
  self->index_stopped = TRUE;
  show_stopped_status (self);
  update_index_controls (self);
}

/* FOLDER is INSIDE itself or one of its subfolders. */
static gboolean
folder_within (const char *folder, const char *inside)
{
  size_t n = strlen (inside);
  return strncmp (folder, inside, n) == 0 && (folder[n] == '/' || folder[n] == '\0' || (n > 0 && inside[n - 1] == '/'));
}

/* The folders searched: the open folder (a data set's images live under its folder) and the photo
 * folders, leaving out any that lies inside another, whose images would otherwise come twice. */
static GStrv
searched_folders (ClSearchView *self)
{
  ClCollection *collection = cl_session_get_collection (self->session);
  g_autoptr (GPtrArray) candidates = g_ptr_array_new_with_free_func (g_free);

  /* The folder the open collection's images are under (a data set's image root). */
  if (collection != NULL && cl_collection_get_image_folder (collection) != NULL)
    g_ptr_array_add (candidates, g_strdup (cl_collection_get_image_folder (collection)));
  g_auto (GStrv) library = library_folders (self);
  for (char **folder = library; *folder != NULL; folder++)
    g_ptr_array_add (candidates, g_strdup (*folder));

  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  for (guint i = 0; i < candidates->len; i++)
    {
      gboolean covered = FALSE;
      for (guint j = 0; j < candidates->len && !covered; j++)
        /* Of two equal ones, the first is kept. */
        covered = j != i && folder_within (candidates->pdata[i], candidates->pdata[j])
                  && (j < i || !g_str_equal (candidates->pdata[i], candidates->pdata[j]));
      if (!covered)
        g_strv_builder_add (builder, candidates->pdata[i]);
    }
  return g_strv_builder_end (builder);
}

/* A new index for the folders and the model, and watches on the folders; the update starts when
 * the view is on screen. */
static void
reset_index (ClSearchView *self)
{
  self->index_generation++;
  cl_cancel_and_clear (&self->update_cancellable);
  cl_cancel_and_clear (&self->search_cancellable);
  cl_cancel_and_clear (&self->preview_cancellable);
  cl_cancel_and_clear (&self->watch_cancellable);
  g_clear_pointer (&self->index, cl_search_index_unref);
  g_ptr_array_set_size (self->watches, 0);
  self->index_complete = FALSE;
  self->index_stopped = FALSE;
  self->n_indexed = -1;
  update_state (self);
  self->n_searched = 0;
  g_list_store_remove_all (self->results);
  g_clear_pointer (&self->results_query, g_free);
  g_hash_table_remove_all (self->items);
  set_index_status (self, NULL);

  self->model_generation = cl_session_get_model_generation (self->session);
  g_auto (GStrv) folders = searched_folders (self);
  if (folders[0] != NULL && cl_session_get_model_state (self->session) == CL_MODEL_STATE_READY)
    {
      self->index = cl_session_get_index (self->session, (const char *const *) folders);
      self->watch_cancellable = g_cancellable_new ();
      for (char **folder = folders; *folder != NULL; folder++)
        {
          ClFolderWatch *watch = cl_folder_watch_new (*folder);
          g_signal_connect (watch, "changed", G_CALLBACK (on_folder_changed), self);
          g_ptr_array_add (self->watches, watch);
        }
    }
  update_index_controls (self);
  if (self->index != NULL && gtk_widget_get_mapped (GTK_WIDGET (self)))
    cl_search_view_update_index (self);
  start_search (self);
}

/* ---------------------------------------------------------------- watched folders */

static gboolean
has_query (ClSearchView *self)
{
  g_autoptr (GPtrArray) terms = current_terms (self);
  return cl_search_query_has_positive (terms) || self->similar_path != NULL;
}

static void
paths_updated (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClSearchView) self = cl_generation_ref_get (user_data);
  g_autoptr (GError) error = NULL;

  if (self == NULL)
    {
      cl_generation_ref_free (user_data);
      return;
    }
  gint64 n = cl_search_index_update_paths_finish (self->index, result, &error);
  cl_generation_ref_free (user_data);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (n < 0)
    {
      set_index_status (self, error->message);
      return;
    }
  if (self->update_cancellable == NULL)
    {
      self->n_indexed = n;
      update_state (self);
      if (self->index_complete)
        {
          g_autofree char *text = g_strdup_printf (ngettext ("%lld image indexed", "%lld images indexed", n),
                                                   (long long) n);
          set_index_status (self, text);
        }
    }
  /* The results follow the folder: a new photo appears, a deleted one leaves. */
  if (has_query (self))
    run_search (self);
}

static void
on_folder_changed (ClFolderWatch *watch, const char *const *paths, gpointer data)
{
  ClSearchView *self = data;

  /* Paused by the user: "Continue Indexing" runs a full update, which finds these changes too. */
  if (self->index == NULL || self->index_stopped)
    return;
  cl_search_index_update_paths_async (self->index, cl_folder_watch_get_folder (watch), paths,
                                      self->watch_cancellable, paths_updated, cl_generation_ref_new (self, &self->index_generation));
}

/* ---------------------------------------------------------------- the photo folders list */

static GtkWidget *
folder_row_new (const char *folder)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  g_autofree char *display = g_filename_display_name (folder);
  g_autofree char *name = g_filename_display_basename (folder);
  GtkWidget *label = gtk_label_new (name);
  GtkWidget *remove = gtk_button_new_from_icon_name ("list-remove-symbolic");

  gtk_widget_set_hexpand (label, TRUE);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_MIDDLE);
  gtk_widget_set_tooltip_text (label, display);
  gtk_widget_set_tooltip_text (remove, _("Stop Searching This Folder"));
  gtk_widget_add_css_class (remove, "flat");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (remove), "search.remove-folder");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (remove), "s", folder);
  gtk_accessible_update_property (GTK_ACCESSIBLE (remove), GTK_ACCESSIBLE_PROPERTY_LABEL, display, -1);
  gtk_box_append (GTK_BOX (box), label);
  gtk_box_append (GTK_BOX (box), remove);
  return box;
}

static void
refresh_folders_list (ClSearchView *self)
{
  GtkWidget *row;
  g_auto (GStrv) folders = library_folders (self);

  while ((row = gtk_widget_get_first_child (GTK_WIDGET (self->folders_list))) != NULL)
    gtk_list_box_remove (self->folders_list, row);
  for (char **folder = folders; *folder != NULL; folder++)
    gtk_list_box_append (self->folders_list, folder_row_new (*folder));
  gtk_widget_set_visible (GTK_WIDGET (self->folders_list), folders[0] != NULL);
}

static void
on_library_folders_changed (ClSearchView *self)
{
  refresh_folders_list (self);
  reset_index (self);
}

void
cl_search_view_add_folder (ClSearchView *self, const char *folder)
{
  GSettings *settings = cl_session_get_settings (self->session);
  g_auto (GStrv) folders = library_folders (self);
  g_autofree char *path = g_canonicalize_filename (folder, NULL);

  if (g_strv_contains ((const char *const *) folders, path))
    return;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_strv_builder_addv (builder, (const char **) folders);
  g_strv_builder_add (builder, path);
  g_auto (GStrv) updated = g_strv_builder_end (builder);
  g_settings_set_strv (settings, "library-folders", (const char *const *) updated);
}

void
cl_search_view_remove_folder (ClSearchView *self, const char *folder)
{
  g_auto (GStrv) folders = library_folders (self);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  for (char **f = folders; *f != NULL; f++)
    if (!g_str_equal (*f, folder))
      g_strv_builder_add (builder, *f);
  g_auto (GStrv) updated = g_strv_builder_end (builder);
  g_settings_set_strv (cl_session_get_settings (self->session), "library-folders", (const char *const *) updated);
}

static void
folder_chosen (gpointer owner, GFile *file, gpointer data)
{
  g_autofree char *path = g_file_get_path (file);

  if (path != NULL)
    cl_search_view_add_folder (CL_SEARCH_VIEW (owner), path);
}

static void
action_choose_folder (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClFileChooserOptions options = {
    .title = _("Add a Photo Folder"),
    .action = GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
    .accept_label = _("_Add"),
  };
  cl_file_chooser_show (widget, &options, folder_chosen, NULL);
}

static void
action_add_folder (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  cl_search_view_add_folder (CL_SEARCH_VIEW (widget), g_variant_get_string (parameter, NULL));
}

static void
action_remove_folder (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  cl_search_view_remove_folder (CL_SEARCH_VIEW (widget), g_variant_get_string (parameter, NULL));
}

/* ---------------------------------------------------------------- search */

static ClImageItem *
result_item (ClSearchView *self, const char *path, gint64 size, gint64 mtime)
{
  ClImageItem *item = g_hash_table_lookup (self->items, path);

  if (item != NULL && cl_image_item_get_mtime (item) == mtime && cl_image_item_get_size (item) == size)
    return item;
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autofree char *name = g_filename_display_basename (path);
  g_autofree char *type = g_content_type_guess (path, NULL, 0, NULL);
  item = cl_image_item_new (file, name, type, size, mtime);
  g_hash_table_replace (self->items, g_strdup (path), item);
  return item;
}

/* Puts ITEMS in the results.  A longer list that begins with the results shown (the next page)
 * only adds its tail, so the grid keeps its cells and its scroll position. */
static void
show_results (ClSearchView *self, GPtrArray *items)
{
  GListModel *shown = G_LIST_MODEL (self->results);
  guint n_shown = g_list_model_get_n_items (shown);
  guint same = 0;

  while (same < MIN (n_shown, items->len))
    {
      g_autoptr (ClImageItem) item = g_list_model_get_item (shown, same);
      if (item != items->pdata[same])
        break;
      same++;
    }
  if (same == n_shown)
    g_list_store_splice (self->results, n_shown, 0, items->pdata + n_shown, items->len - n_shown);
  else
    g_list_store_splice (self->results, 0, n_shown, items->pdata, items->len);
}

static void
search_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClSearchView) self = cl_generation_ref_get (user_data);
  g_autoptr (GError) error = NULL;
  g_autoptr (ClSearchResults) found = NULL;

  if (self == NULL)
    {
      cl_generation_ref_free (user_data);
      return;
    }
  found = cl_search_index_search_finish (self->index, result, &error);
  cl_generation_ref_free (user_data);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->search_cancellable);
  update_state (self);
  self->last_search_time = g_get_monotonic_time ();

  if (found == NULL)
    {
      g_list_store_remove_all (self->results);
      cl_status_page_set_description (self->error_page, error->message);
      g_clear_pointer (&self->results_query, g_free);
      set_summary (self, NULL);
      show_results_page (self, "error");
      return;
    }

  self->n_searched = found->n_searched;
  if (!self->index_complete && found->n_searched > self->n_indexed)
    {
      self->n_indexed = found->n_searched;
      update_state (self);
      if (self->update_cancellable == NULL)
        show_stopped_status (self);
    }
  /* A search asks for one more than wanted: the image searched with is not a result. */
  self->has_more = found->n > self->n_wanted;
  g_autoptr (GPtrArray) items = g_ptr_array_new ();
  for (guint i = 0; i < found->n && items->len < self->n_wanted; i++)
    {
      if (self->similar_path != NULL && g_str_equal (found->paths[i], self->similar_path))
        continue;
      ClImageItem *item = result_item (self, found->paths[i], found->sizes[i], found->mtimes[i]);
      char score[G_ASCII_DTOSTR_BUF_SIZE];
      g_ascii_formatd (score, sizeof score, "%.3f", found->scores[i]);
      cl_image_item_set_prediction (item, score, found->scores[i]);
      g_ptr_array_add (items, item);
    }
  show_results (self, items);

  g_autoptr (GPtrArray) terms = current_terms (self);
  g_free (self->results_query);
  self->results_query = describe_query (self, terms);
  show_results_summary (self);

  if (items->len > 0)
    show_results_page (self, "results");
  else if (!self->index_complete && found->n_searched == 0)
    show_results_page (self, "indexing");
  else
    {
      cl_status_page_set_description (self->no_results_page, found->n_searched == 0
        ? _("Nothing in this folder could be indexed. The index status above says which files were skipped and why.")
        : _("The image searched with is the only one indexed."));
      show_results_page (self, "no-results");
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_MORE]);
}

static void
run_search (ClSearchView *self)
{
  g_autoptr (GPtrArray) terms = current_terms (self);
  const char *unavailable = unavailable_page (self);

  self->text_pending = FALSE;
  cl_cancel_and_clear (&self->search_cancellable);
  update_state (self);
  update_stack (self);
  if (unavailable != NULL)
    {
      /* Without a folder the whole view is a status page; without a model, the results area. */
      g_clear_pointer (&self->results_query, g_free);
      set_summary (self, NULL);
      if (!g_str_equal (unavailable, "empty"))
        show_results_page (self, unavailable);
      return;
    }
  if (!cl_search_query_has_positive (terms) && self->similar_path == NULL)
    {
      /* The last results stay behind the prompt: the next ones replace them in place, and the grid
       * keeps its cells (an entry being cleared, as when a new query is typed over the old one,
       * says so at once). */
      g_clear_pointer (&self->results_query, g_free);
      set_summary (self, terms->len > 0 ? _("Add something to look for: the terms with − only say what to avoid.")
                                        : NULL);
      show_results_page (self, "prompt");
      return;
    }
  if (self->index == NULL)
    {
      /* The model is still loading: the search runs once it is there. */
      set_summary (self, _("Loading the model…"));
      return;
    }
  if (!self->index_complete && !self->index_stopped && self->update_cancellable == NULL)
    cl_search_view_update_index (self);

  g_autoptr (GArray) query = g_array_new (FALSE, TRUE, sizeof (ClQueryTerm));
  if (self->similar_path != NULL)
    {
      ClQueryTerm term = { NULL, self->similar_path, 1 };
      g_array_append_val (query, term);
    }
  for (guint i = 0; i < terms->len; i++)
    {
      ClSearchTerm *t = terms->pdata[i];
      ClQueryTerm term = { t->text, NULL, t->weight };
      g_array_append_val (query, term);
    }
  self->search_cancellable = g_cancellable_new ();
  update_state (self);
  /* One more than wanted: whether there are more to fetch, or the image searched with to leave out. */
  cl_search_index_search_async (self->index, (const ClQueryTerm *) query->data, query->len, (int) self->n_wanted + 1,
                                self->search_cancellable, search_done, cl_generation_ref_new (self, &self->index_generation));
}

/* A new query: its first page. */
static void
start_search (ClSearchView *self)
{
  self->n_wanted = PAGE_SIZE;
  run_search (self);
}

/* The next page once the user has scrolled to within LOAD_AHEAD screens of the end of the results
 * (Immich's endless list: no threshold to guess, no cap). */
static void
load_more_if_near_end (ClSearchView *self)
{
  GtkAdjustment *scroll = cl_image_grid_get_vadjustment (self->grid);
  double below = gtk_adjustment_get_upper (scroll) - gtk_adjustment_get_value (scroll)
                 - gtk_adjustment_get_page_size (scroll);

  if (!self->has_more || self->search_cancellable != NULL || !gtk_widget_get_mapped (GTK_WIDGET (self->grid))
      || below > LOAD_AHEAD * gtk_adjustment_get_page_size (scroll))
    return;
  self->n_wanted += PAGE_SIZE;
  run_search (self);
}

void
cl_search_view_focus_entry (ClSearchView *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self->entry));
  /* What is typed next replaces the last query. */
  gtk_editable_select_region (GTK_EDITABLE (self->entry), 0, -1);
}

void
cl_search_view_find_similar (ClSearchView *self, const char *path)
{
  g_free (self->similar_path);
  self->similar_path = g_strdup (path);
  g_autofree char *name = g_filename_display_basename (path);
  gtk_label_set_label (self->similar_label, name);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->similar_label), name);
  gtk_widget_set_visible (self->similar_box, TRUE);
  /* The image is the query; words typed next refine it. */
  gtk_editable_set_text (GTK_EDITABLE (self->entry), "");
  start_search (self);
}

static void
on_text_changed (ClSearchView *self)
{
  self->text_pending = TRUE;
  update_state (self);
}

static void
on_clear_similar (ClSearchView *self)
{
  g_clear_pointer (&self->similar_path, g_free);
  gtk_widget_set_visible (self->similar_box, FALSE);
  start_search (self);
}

/* ---------------------------------------------------------------- results grid */

static ClImageItem *
collection_item (ClSearchView *self, ClImageItem *result)
{
  ClCollection *collection = cl_session_get_collection (self->session);

  if (result == NULL || collection == NULL)
    return NULL;
  if (g_hash_table_size (self->collection_items) == 0)
    for (guint i = 0; i < cl_collection_get_n_items (collection); i++)
      {
        ClImageItem *item = cl_collection_get_item (collection, i);
        g_hash_table_insert (self->collection_items, g_strdup (cl_image_item_get_path (item)), item);
      }
  return g_hash_table_lookup (self->collection_items, cl_image_item_get_path (result));
}

/* The preview pane: the selected result, its score and folder. */
static void
show_preview (ClSearchView *self, ClImageItem *result)
{
  cl_thumbnailer_show_preview (cl_session_get_thumbnailer (self->session),
                               result != NULL && cl_image_item_get_exists (result) ? result : NULL, PREVIEW_MAX_SIZE,
                               self->preview, &self->preview_cancellable);
  gtk_label_set_label (self->preview_name, result != NULL ? cl_image_item_get_name (result) : NULL);
  g_autofree char *score = result != NULL
    /* Translators: the similarity of the selected search result to the query */
    ? g_strdup_printf (_("Score %s"), cl_image_item_get_prediction (result)) : NULL;
  gtk_label_set_label (self->preview_score, score);
  g_autofree char *folder = result != NULL ? g_path_get_dirname (cl_image_item_get_path (result)) : NULL;
  g_autofree char *folder_display = folder != NULL ? g_filename_display_name (folder) : NULL;
  gtk_label_set_label (self->preview_folder, folder_display);
}

static void
on_grid_selection (ClSearchView *self)
{
  ClImageItem *result = cl_image_grid_get_selected_item (self->grid);
  ClImageItem *item = collection_item (self, result);

  show_preview (self, result);
  if (item != NULL)
    cl_session_set_selected_item (self->session, item);
}

static void
on_grid_activate (ClSearchView *self, ClImageItem *result)
{
  ClImageItem *item = collection_item (self, result);
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  if (item == NULL || !CL_IS_WINDOW (root))
    {
      gtk_show_uri (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, cl_image_item_get_uri (result), GDK_CURRENT_TIME);
      return;
    }
  cl_session_set_selected_item (self->session, item);
  cl_window_show_view (CL_WINDOW (root), "browse");
}

/* ---------------------------------------------------------------- session */

static gboolean
is_not_trashed (gpointer item, gpointer user_data)
{
  ClSearchView *self = user_data;
  return self->session == NULL || !cl_session_is_trashed (self->session, cl_image_item_get_path (item));
}

/* An image moved to the trash leaves the results at once (the index forgets it once the folder
 * watch reports it gone), and is back as soon as it is restored. */
static void
on_trashed_changed (ClSearchView *self)
{
  gtk_filter_changed (gtk_filter_list_model_get_filter (self->shown), GTK_FILTER_CHANGE_DIFFERENT);
  if (self->results_query != NULL)
    show_results_summary (self);
}

static void
on_collection_changed (ClSearchView *self)
{
  g_hash_table_remove_all (self->collection_items);
  g_clear_pointer (&self->similar_path, g_free);
  gtk_widget_set_visible (self->similar_box, FALSE);
  reset_index (self);
}

static void
on_model_changed (ClSearchView *self)
{
  ClModelState state = cl_session_get_model_state (self->session);
  guint generation = cl_session_get_model_generation (self->session);

  update_state (self);
  /* A loading model keeps the old index until the new one is there. */
  if (state == CL_MODEL_STATE_LOADING
      || (state == CL_MODEL_STATE_READY && self->index != NULL && generation == self->model_generation))
    return;
  reset_index (self);
}

static void
on_map (ClSearchView *self)
{
  if (self->index != NULL && !self->index_complete && !self->index_stopped && self->update_cancellable == NULL)
    cl_search_view_update_index (self);
  gtk_widget_grab_focus (GTK_WIDGET (self->entry));
}

/* ---------------------------------------------------------------- properties */

static gboolean
is_searching (ClSearchView *self)
{
  /* A typed query waits for the entry's search delay, then for the worker. */
  g_autoptr (GPtrArray) terms = current_terms (self);
  return self->text_pending || self->search_cancellable != NULL
         || cl_session_get_model_state (self->session) == CL_MODEL_STATE_LOADING
         || ((cl_search_query_has_positive (terms) || self->similar_path != NULL) && self->index == NULL
             && unavailable_page (self) == NULL);
}

/* The properties follow the jobs, the timers and the count: called wherever one of them changes. */
static void
update_state (ClSearchView *self)
{
  gboolean searching = self->session != NULL && is_searching (self);
  gboolean indexing = self->update_cancellable != NULL;

  if (searching != self->searching)
    {
      self->searching = searching;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SEARCHING]);
    }
  if (indexing != self->indexing)
    {
      self->indexing = indexing;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_INDEXING]);
    }
  if (self->n_indexed != self->n_indexed_shown)
    {
      self->n_indexed_shown = self->n_indexed;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_INDEXED]);
    }
}

static void
action_update_index (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  cl_search_view_update_index (CL_SEARCH_VIEW (widget));
}

static void
action_stop_index (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  cl_search_view_stop_index (CL_SEARCH_VIEW (widget));
}

static void
cl_search_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClSearchView *self = CL_SEARCH_VIEW (object);

  switch (prop_id)
    {
    case PROP_SEARCHING:
      g_value_set_boolean (value, self->searching);
      break;
    case PROP_INDEXING:
      g_value_set_boolean (value, self->indexing);
      break;
    case PROP_N_INDEXED:
      g_value_set_int64 (value, self->n_indexed);
      break;
    case PROP_N_EMBEDDED:
      g_value_set_int64 (value, self->n_embedded);
      break;
    case PROP_RESULTS:
      g_value_set_object (value, self->shown);
      break;
    case PROP_INDEX_PROGRESS:
      g_value_set_double (value, self->index_fraction);
      break;
    case PROP_HAS_MORE:
      g_value_set_boolean (value, self->has_more);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* ---------------------------------------------------------------- GObject */

static void
cl_search_view_dispose (GObject *object)
{
  ClSearchView *self = CL_SEARCH_VIEW (object);

  cl_cancel_and_clear (&self->update_cancellable);
  cl_cancel_and_clear (&self->search_cancellable);
  cl_cancel_and_clear (&self->watch_cancellable);
  g_clear_pointer (&self->index, cl_search_index_unref);
  g_clear_pointer (&self->watches, g_ptr_array_unref);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->session);
  g_clear_object (&self->shown);
  g_clear_object (&self->results);
  gtk_widget_dispose_template (GTK_WIDGET (object), CL_TYPE_SEARCH_VIEW);
  G_OBJECT_CLASS (cl_search_view_parent_class)->dispose (object);
}

static void
cl_search_view_finalize (GObject *object)
{
  ClSearchView *self = CL_SEARCH_VIEW (object);

  g_hash_table_unref (self->items);
  g_hash_table_unref (self->collection_items);
  g_free (self->similar_path);
  g_free (self->results_query);
  G_OBJECT_CLASS (cl_search_view_parent_class)->finalize (object);
}

static void
cl_search_view_class_init (ClSearchViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cl_search_view_dispose;
  object_class->finalize = cl_search_view_finalize;
  object_class->get_property = cl_search_view_get_property;
  const GParamFlags read_only = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  properties[PROP_SEARCHING] = g_param_spec_boolean ("searching", NULL, NULL, FALSE, read_only);
  properties[PROP_INDEXING] = g_param_spec_boolean ("indexing", NULL, NULL, FALSE, read_only);
  properties[PROP_N_INDEXED] = g_param_spec_int64 ("n-indexed", NULL, NULL, -1, G_MAXINT64, -1, read_only);
  properties[PROP_N_EMBEDDED] = g_param_spec_int64 ("n-embedded", NULL, NULL, 0, G_MAXINT64, 0, read_only);
  properties[PROP_RESULTS] = g_param_spec_object ("results", NULL, NULL, G_TYPE_LIST_MODEL, read_only);
  properties[PROP_INDEX_PROGRESS] = g_param_spec_double ("index-progress", NULL, NULL, 0, 1, 0, read_only);
  properties[PROP_HAS_MORE] = g_param_spec_boolean ("has-more", NULL, NULL, FALSE, read_only);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_install_action (widget_class, "search.update-index", NULL, action_update_index);
  gtk_widget_class_install_action (widget_class, "search.stop-index", NULL, action_stop_index);
  gtk_widget_class_install_action (widget_class, "search.choose-folder", NULL, action_choose_folder);
  gtk_widget_class_install_action (widget_class, "search.add-folder", "s", action_add_folder);
  gtk_widget_class_install_action (widget_class, "search.remove-folder", "s", action_remove_folder);

  g_type_ensure (CL_TYPE_STATUS_PAGE);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-search-view.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, ClSearchView, name)
  BIND (stack);
  BIND (entry);
  BIND (similar_box);
  BIND (similar_label);
  BIND (summary_label);
  BIND (index_stack);
  BIND (index_progress);
  BIND (index_label);
  BIND (index_button);
  BIND (results_stack);
  BIND (error_page);
  BIND (no_results_page);
  BIND (grid_box);
  BIND (preview);
  BIND (preview_name);
  BIND (preview_score);
  BIND (preview_folder);
  BIND (folders_list);
#undef BIND
  gtk_widget_class_bind_template_callback (widget_class, start_search);
  gtk_widget_class_bind_template_callback (widget_class, on_clear_similar);
  gtk_widget_class_bind_template_callback (widget_class, on_text_changed);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
cl_search_view_init (ClSearchView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->n_wanted = PAGE_SIZE;
  self->results = g_list_store_new (CL_TYPE_IMAGE_ITEM);
  self->items = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->collection_items = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->watches = g_ptr_array_new_with_free_func (g_object_unref);
  self->n_indexed = self->n_indexed_shown = -1;
}

GtkWidget *
cl_search_view_new (ClSession *session)
{
  ClSearchView *self = g_object_new (CL_TYPE_SEARCH_VIEW, NULL);
  GSettings *settings = cl_session_get_settings (session);

  self->session = g_object_ref (session);
  self->shown = gtk_filter_list_model_new (G_LIST_MODEL (g_object_ref (self->results)),
                                           GTK_FILTER (gtk_custom_filter_new (is_not_trashed, self, NULL)));
  self->grid = CL_IMAGE_GRID (cl_image_grid_new (cl_session_get_thumbnailer (session), CL_IMAGE_CELL_SCORE));
  cl_image_grid_set_model (self->grid, G_LIST_MODEL (self->shown));
  gtk_box_append (self->grid_box, GTK_WIDGET (self->grid));
  g_signal_connect_swapped (self->grid, "notify::selected-item", G_CALLBACK (on_grid_selection), self);
  g_signal_connect_swapped (self->grid, "activate", G_CALLBACK (on_grid_activate), self);

  /* Scrolled, or laid out again (a page that does not fill the view calls for the next). */
  g_signal_connect_swapped (cl_image_grid_get_vadjustment (self->grid), "value-changed",
                            G_CALLBACK (load_more_if_near_end), self);
  g_signal_connect_swapped (cl_image_grid_get_vadjustment (self->grid), "changed",
                            G_CALLBACK (load_more_if_near_end), self);
  g_signal_connect_swapped (self, "map", G_CALLBACK (on_map), self);
  g_signal_connect_swapped (session, "notify::collection", G_CALLBACK (on_collection_changed), self);
  g_signal_connect_swapped (session, "notify::model-info", G_CALLBACK (on_model_changed), self);
  g_signal_connect_swapped (session, "notify::model-state", G_CALLBACK (on_model_changed), self);
  g_signal_connect_swapped (session, "trashed-changed", G_CALLBACK (on_trashed_changed), self);
  g_signal_connect_swapped (settings, "changed::library-folders", G_CALLBACK (on_library_folders_changed), self);
  refresh_folders_list (self);
  on_collection_changed (self);
  return GTK_WIDGET (self);
}
