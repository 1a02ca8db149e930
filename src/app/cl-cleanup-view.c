/* cl-cleanup-view.c — the Clean Up view: duplicates and label issues of the open folder or data set. */
#include "cl-cleanup-view.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "cl-async.h"
#include "cl-cleanup-model.h"
#include "cl-file-chooser.h"
#include "cl-search-index.h"
#include "cl-trash.h"
#include "cl-window.h"

#define CARD_THUMBNAIL  160      /* pixels, a duplicate's picture */
#define ISSUE_THUMBNAIL 64
#define N_OUTLIERS      20
#define UNDO_SECONDS    10
#define MAX_CARDS       24       /* a group's images shown side by side; the rest are counted */

struct _ClCleanupView {
  GtkWidget parent_instance;

  /* Template widgets. */
  GtkDropDown *threshold_dropdown;
  GtkSpinner *spinner;
  GtkLabel *status_label;
  GtkStack *panels;
  GtkListView *groups_view;
  GtkListView *issues_view;

  ClSession *session;
  GListStore *groups;          /* ClDuplicateGroup */
  GListStore *issues;          /* ClLabelIssue */
  GtkFilterListModel *shown_groups;   /* GROUPS with two images or more not moved to the trash */
  GtkFilterListModel *shown_issues;   /* ISSUES of images not moved to the trash */
  double threshold;
  ClSearchIndex *index;        /* of the image folder, for the model of MODEL_GENERATION */
  char *index_folder;
  guint model_generation;
  GCancellable *cancellable;   /* the find running, or NULL */
  guint pending;               /* its parts not finished */
  gboolean stale;              /* the folder or the model changed since the last find */
  char *status;
  char *issues_note;           /* why the label issues could not be looked for, or NULL */
  GHashTable *corrections;     /* CSV line → accepted label (of this collection) */
  char *corrected_target;      /* where the corrected CSV goes: chosen, or NULL for NAME.corrected.csv */
  char *corrected_path;        /* the corrected CSV written, or NULL */
};

G_DEFINE_FINAL_TYPE (ClCleanupView, cl_cleanup_view, GTK_TYPE_WIDGET)

enum {
  PROP_0, PROP_THRESHOLD, PROP_BUSY, PROP_GROUPS, PROP_ISSUES, PROP_CORRECTED_TARGET, PROP_CORRECTED_PATH, PROP_STATUS,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

static void update_actions (ClCleanupView *self);

static void
set_status (ClCleanupView *self, const char *status)
{
  if (g_strcmp0 (status, self->status) == 0)
    return;
  g_free (self->status);
  self->status = g_strdup (status);
  gtk_label_set_label (self->status_label, status != NULL ? status : "");
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS]);
}

static void
set_busy (ClCleanupView *self, guint pending)
{
  gboolean was_busy = self->pending > 0;
  self->pending = pending;
  gtk_spinner_set_spinning (self->spinner, pending > 0);
  if (was_busy != (pending > 0))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static GtkWindow *
view_window (ClCleanupView *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  return CL_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

/* ---------------------------------------------------------------- finding */

static void
report_problem (ClCleanupView *self, const char *title, const GError *error)
{
  set_status (self, title);
  cl_session_report_error (self->session, title, error->message, NULL, NULL);
}

/* What the panels hold, once nothing runs: groups, and label issues when the data set has labels. */
static void
update_counts (ClCleanupView *self)
{
  if (self->pending > 0)
    return;
  ClCollection *collection = cl_session_get_collection (self->session);
  guint n_groups = g_list_model_get_n_items (G_LIST_MODEL (self->shown_groups));
  guint n_issues = 0;   /* label errors, not the outliers listed after them */
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->shown_issues)); i++)
    {
      g_autoptr (ClLabelIssue) issue = g_list_model_get_item (G_LIST_MODEL (self->shown_issues), i);
      n_issues += cl_label_issue_get_suggested (issue) != NULL;
    }
  g_autofree char *groups = n_groups == 0 ? g_strdup (_("No duplicates found"))
                                          : g_strdup_printf (ngettext ("%u group of duplicates",
                                                                       "%u groups of duplicates", n_groups), n_groups);
  if (collection == NULL || !cl_collection_has_labels (collection))
    {
      set_status (self, groups);
      return;
    }
  /* Translators: the duplicates found, then the label issues: "3 groups of duplicates; 12 label issues" */
  g_autofree char *issues = self->issues_note != NULL
                              ? g_strdup (self->issues_note)
                              : g_strdup_printf (ngettext ("%u label issue", "%u label issues", n_issues), n_issues);
  g_autofree char *text = g_strdup_printf (_("%s; %s"), groups, issues);
  set_status (self, text);
}

/* One part of the find (duplicates, label issues) finished. */
static void
part_done (ClCleanupView *self)
{
  set_busy (self, self->pending - 1);
  if (self->pending > 0)
    return;
  g_clear_object (&self->cancellable);
  update_counts (self);
}

static void
on_duplicates_found (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClCleanupView) self = g_weak_ref_get (user_data);
  g_autoptr (GError) error = NULL;
  g_autoptr (GListStore) groups = cl_duplicates_find_finish (result, &error);

  cl_weak_ref_free (user_data);
  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      || g_error_matches (error, CLIP_ERROR, CLIP_ERROR_ABORTED))
    return;
  if (groups == NULL)
    report_problem (self, _("Could not find duplicates"), error);
  else
    {
      guint n = g_list_model_get_n_items (G_LIST_MODEL (groups));
      g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint i = 0; i < n; i++)
        g_ptr_array_add (items, g_list_model_get_item (G_LIST_MODEL (groups), i));
      g_list_store_splice (self->groups, 0, g_list_model_get_n_items (G_LIST_MODEL (self->groups)), items->pdata, n);
    }
  part_done (self);
}

static void
on_issues_found (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClCleanupView) self = g_weak_ref_get (user_data);
  g_autoptr (GError) error = NULL;
  g_autoptr (GListStore) issues = cl_label_issues_find_finish (result, &error);

  cl_weak_ref_free (user_data);
  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      || g_error_matches (error, CLIP_ERROR, CLIP_ERROR_ABORTED))
    return;
  /* too few labelled images is no failure: the status says so instead of the error bar */
  if (g_error_matches (error, CLIP_ERROR, CLIP_ERROR_INVALID))
    self->issues_note = g_strdup (error->message);
  else if (issues == NULL)
    report_problem (self, _("Could not find label issues"), error);
  else
    {
      guint n = g_list_model_get_n_items (G_LIST_MODEL (issues));
      g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint i = 0; i < n; i++)
        g_ptr_array_add (items, g_list_model_get_item (G_LIST_MODEL (issues), i));
      g_list_store_splice (self->issues, 0, g_list_model_get_n_items (G_LIST_MODEL (self->issues)), items->pdata, n);
    }
  part_done (self);
}

/* The labelled images of the collection, or NULL when it has no labels. */
static ClAuditInput *
audit_input (ClCleanupView *self)
{
  ClCollection *collection = cl_session_get_collection (self->session);
  if (collection == NULL || !cl_collection_has_labels (collection))
    return NULL;
  const char *const *names = cl_collection_get_labels (collection);
  g_autoptr (GHashTable) label_of = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint c = 0; names[c] != NULL; c++)
    g_hash_table_insert (label_of, (gpointer) names[c], GUINT_TO_POINTER (c + 1));
  guint n = cl_collection_get_n_items (collection);
  ClAuditInput *input = g_new0 (ClAuditInput, 1);
  input->paths = g_new0 (char *, n + 1);
  input->items = g_new (guint, MAX (n, 1));
  input->labels = g_new (int, MAX (n, 1));
  input->label_names = g_strdupv ((char **) names);
  for (guint i = 0; i < n; i++)
    {
      ClImageItem *item = cl_collection_get_item (collection, i);
      const char *label = cl_image_item_get_label (item);
      guint id = label != NULL ? GPOINTER_TO_UINT (g_hash_table_lookup (label_of, label)) : 0;
      if (id == 0)
        continue;
      input->paths[input->n] = g_strdup (cl_image_item_get_path (item));
      input->items[input->n] = i;
      input->labels[input->n] = (int) id - 1;
      input->n++;
    }
  return input;
}

static ClIndexSnapshot *
snapshot_copy (const ClIndexSnapshot *s)
{
  ClIndexSnapshot *copy = g_new0 (ClIndexSnapshot, 1);
  copy->n = s->n;
  copy->dim = s->dim;
  copy->paths = g_strdupv (s->paths);
  copy->embeddings = g_memdup2 (s->embeddings, sizeof (float) * (gsize) MAX (s->n, 1) * s->dim);
  copy->hashes = g_memdup2 (s->hashes, (gsize) MAX (s->n, 1) * 16);
  return copy;
}

static void
on_snapshot (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClCleanupView) self = g_weak_ref_get (user_data);
  g_autoptr (GError) error = NULL;
  ClIndexSnapshot *snapshot = cl_search_index_snapshot_finish (NULL, result, &error);

  cl_weak_ref_free (user_data);
  if (self == NULL || snapshot == NULL)
    {
      if (self != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          report_problem (self, _("Could not read the index"), error);
          part_done (self);
        }
      cl_index_snapshot_free (snapshot);
      return;
    }
  set_status (self, _("Comparing images…"));
  ClAuditInput *input = audit_input (self);
  if (input != NULL)
    {
      set_busy (self, self->pending + 1);
      cl_label_issues_find_async (cl_session_get_worker (self->session), snapshot_copy (snapshot), input, N_OUTLIERS,
                                  self->cancellable, on_issues_found, cl_weak_ref_new (self));
    }
  cl_duplicates_find_async (snapshot, (float) self->threshold, self->cancellable, on_duplicates_found,
                            cl_weak_ref_new (self));
}

static void
on_index_progress (const ClIndexProgress *progress, gpointer user_data)
{
  g_autoptr (ClCleanupView) self = g_weak_ref_get (user_data);
  g_autofree char *text = NULL;

  if (self == NULL)
    return;
  if (progress->phase == CLIP_INDEX_PHASE_EMBED && progress->total > 0)
    /* Translators: e.g. "Indexing 240 of 1500 images" */
    text = g_strdup_printf (_("Indexing %lld of %lld images"), (long long) progress->done, (long long) progress->total);
  else
    text = g_strdup (_("Looking for images…"));
  set_status (self, text);
}

static void
on_index_updated (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClCleanupView) self = g_weak_ref_get (user_data);
  g_autoptr (GError) error = NULL;
  g_autoptr (ClIndexSummary) summary = NULL;

  cl_weak_ref_free (user_data);
  if (self == NULL || self->index == NULL)
    return;
  summary = cl_search_index_update_finish (self->index, result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || g_error_matches (error, CLIP_ERROR, CLIP_ERROR_ABORTED))
    return;
  if (summary == NULL)
    {
      report_problem (self, _("Could not index the folder"), error);
      part_done (self);
      return;
    }
  cl_search_index_snapshot_async (self->index, self->cancellable, on_snapshot, cl_weak_ref_new (self));
}

static void
cl_cleanup_view_find (ClCleanupView *self)
{
  ClCollection *collection = cl_session_get_collection (self->session);
  const char *folder = collection != NULL ? cl_collection_get_image_folder (collection) : NULL;

  cl_cancel_and_clear (&self->cancellable);
  set_busy (self, 0);
  self->stale = FALSE;
  g_list_store_remove_all (self->groups);
  g_list_store_remove_all (self->issues);
  g_clear_pointer (&self->issues_note, g_free);
  if (folder == NULL || cl_session_get_model_state (self->session) != CL_MODEL_STATE_READY)
    {
      set_status (self, folder == NULL ? _("Open a folder or a data set to look for duplicates")
                                       : _("Load a model to look for duplicates"));
      return;
    }
  guint generation = cl_session_get_model_generation (self->session);
  if (self->index == NULL || g_strcmp0 (self->index_folder, folder) != 0 || self->model_generation != generation)
    {
      g_clear_pointer (&self->index, cl_search_index_unref);
      self->index = cl_session_get_index (self->session, (const char *const[]) { folder, NULL });
      g_free (self->index_folder);
      self->index_folder = g_strdup (folder);
      self->model_generation = generation;
    }
  self->cancellable = g_cancellable_new ();
  set_busy (self, 1);
  set_status (self, _("Looking for images…"));
  cl_search_index_update_async (self->index, on_index_progress, cl_weak_ref_new (self),
                                (GDestroyNotify) cl_weak_ref_free, self->cancellable, on_index_updated,
                                cl_weak_ref_new (self));
}

static void
on_source_changed (ClCleanupView *self)
{
  cl_cancel_and_clear (&self->cancellable);
  set_busy (self, 0);
  g_hash_table_remove_all (self->corrections);
  g_clear_pointer (&self->corrected_target, g_free);
  g_clear_pointer (&self->corrected_path, g_free);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CORRECTED_TARGET]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CORRECTED_PATH]);
  update_actions (self);
  self->stale = TRUE;
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    cl_cleanup_view_find (self);
}

static void
on_map (ClCleanupView *self)
{
  if (self->stale)
    cl_cleanup_view_find (self);
}

/* ---------------------------------------------------------------- keeping one of a group */

static void
on_kept (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ClTrashRecord) record = cl_trash_files_finish (result, &error);
  g_autoptr (ClCleanupView) self = g_weak_ref_get (user_data);
  GtkWindow *window = self != NULL ? view_window (self) : NULL;

  cl_weak_ref_free (user_data);
  if (window == NULL)
    return;
  if (record == NULL)
    cl_session_report_error (self->session, _("Could not move the images to the trash"), error->message, NULL, NULL);
  else
    cl_trash_show_undo_toast (CL_WINDOW (window), g_steal_pointer (&record));
}

static void
action_keep (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClCleanupView *self = CL_CLEANUP_VIEW (widget);
  const char *keep = g_variant_get_string (parameter, NULL);

  for (guint g = 0; g < g_list_model_get_n_items (G_LIST_MODEL (self->groups)); g++)
    {
      g_autoptr (ClDuplicateGroup) group = g_list_model_get_item (G_LIST_MODEL (self->groups), g);
      if (cl_duplicate_group_find (group, keep) < 0)
        continue;
      g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint m = 0; m < cl_duplicate_group_get_n_members (group); m++)
        {
          const char *path = cl_duplicate_group_get_member (group, m)->path;
          if (!g_str_equal (path, keep) && !cl_session_is_trashed (self->session, path))
            g_ptr_array_add (files, g_file_new_for_path (path));
        }
      /* The session hides them in every view, and shows them again on Undo. */
      cl_trash_files_async (files, NULL, on_kept, cl_weak_ref_new (self));
      return;
    }
}

/* ---------------------------------------------------------------- accepting a label */

static ClLabelIssue *
find_issue (ClCleanupView *self, const char *path, guint *position)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->issues)); i++)
    {
      g_autoptr (ClLabelIssue) issue = g_list_model_get_item (G_LIST_MODEL (self->issues), i);
      if (g_str_equal (cl_label_issue_get_path (issue), path))
        {
          *position = i;
          return issue;   /* the list holds it */
        }
    }
  return NULL;
}

/* NAME.corrected.csv beside the CSV NAME.csv. */
static char *
corrected_path_for (GFile *csv)
{
  g_autofree char *path = g_file_get_path (csv);
  g_autofree char *stem = g_str_has_suffix (path, ".csv") ? g_strndup (path, strlen (path) - 4) : g_strdup (path);
  return g_strconcat (stem, ".corrected.csv", NULL);
}

/* The CSV with every label accepted so far, at the chosen path or NAME.corrected.csv. */
static gboolean
write_corrected (ClCleanupView *self, ClCollection *collection, GError **error)
{
  g_autofree char *source = g_file_get_path (cl_collection_get_file (collection));
  g_autofree char *target = self->corrected_target != NULL ? g_strdup (self->corrected_target)
                                                           : corrected_path_for (cl_collection_get_file (collection));
  if (!cl_csv_write_corrected (source, target, self->corrections, error))
    return FALSE;
  g_autofree char *name = g_path_get_basename (target);
  g_autofree char *message = g_strdup_printf (_("Saved the corrected labels in %s"), name);
  g_autoptr (GFile) file = g_file_new_for_path (target);
  cl_session_show_file_toast (self->session, message, file);
  g_free (self->corrected_path);
  self->corrected_path = g_steal_pointer (&target);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CORRECTED_PATH]);
  return TRUE;
}

static gboolean
accept_in_csv (ClCleanupView *self, ClCollection *collection, ClLabelIssue *issue, GError **error)
{
  ClImageItem *item = cl_collection_get_item (collection, cl_label_issue_get_item (issue));
  g_hash_table_insert (self->corrections, GUINT_TO_POINTER (cl_image_item_get_line (item)),
                       g_strdup (cl_label_issue_get_suggested (issue)));
  return write_corrected (self, collection, error);
}

/* Later corrections go to TARGET (the file chooser asked before replacing a file there); those
 * accepted already are written there now. */
static void
set_corrected_target (ClCleanupView *self, const char *target)
{
  ClCollection *collection = cl_session_get_collection (self->session);
  g_autoptr (GError) error = NULL;

  g_free (self->corrected_target);
  self->corrected_target = g_strdup (target);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CORRECTED_TARGET]);
  if (collection != NULL && g_hash_table_size (self->corrections) > 0 && !write_corrected (self, collection, &error))
    cl_session_report_error (self->session, _("Could not save the corrected labels"), error->message, NULL, NULL);
}

static void
corrected_target_chosen (gpointer owner, GFile *file, gpointer data)
{
  g_autofree char *path = g_file_get_path (file);
  if (path != NULL)
    set_corrected_target (CL_CLEANUP_VIEW (owner), path);
}

static void
action_save_corrected_as (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClCleanupView *self = CL_CLEANUP_VIEW (widget);
  ClCollection *collection = cl_session_get_collection (self->session);

  if (collection == NULL)
    return;
  g_autofree char *proposed = corrected_path_for (cl_collection_get_file (collection));
  g_autofree char *name = g_path_get_basename (proposed);
  g_autoptr (GFile) folder = g_file_get_parent (cl_collection_get_file (collection));
  ClFileChooserOptions options = {
    .title = _("Save the Corrected Labels"), .action = GTK_FILE_CHOOSER_ACTION_SAVE, .accept_label = _("_Save"),
    .name = name, .folder = folder, .filter_name = _("CSV files"), .filter_suffix = "csv",
  };
  cl_file_chooser_show (GTK_WIDGET (self), &options, corrected_target_chosen, NULL);
}

/* Save Corrected Copy As… applies to a data set CSV with labels. */
static void
update_actions (ClCleanupView *self)
{
  ClCollection *collection = cl_session_get_collection (self->session);
  gboolean csv = collection != NULL && cl_collection_has_labels (collection)
                 && g_file_query_file_type (cl_collection_get_file (collection), G_FILE_QUERY_INFO_NONE, NULL)
                    == G_FILE_TYPE_REGULAR;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "cleanup.save-corrected-as", csv);
}

typedef struct {
  GFile *from, *to;
} MoveBack;

static void
move_back_free (MoveBack *move)
{
  g_object_unref (move->from);
  g_object_unref (move->to);
  g_free (move);
}

/* The toast's Undo: the file back into the class folder it came from. */
static void
undo_move (ClWindow *window, gpointer data)
{
  MoveBack *move = data;
  g_autoptr (GError) error = NULL;

  if (!g_file_move (move->to, move->from, G_FILE_COPY_NOFOLLOW_SYMLINKS, NULL, NULL, NULL, &error))
    cl_window_show_error (window, _("Could not move the image back"), error->message, NULL, NULL);
}

/* Class folders: the file moves into the suggested class's folder (never over another file). */
static gboolean
accept_in_folders (ClCleanupView *self, ClCollection *collection, ClLabelIssue *issue, GError **error)
{
  g_autoptr (GFile) from = g_file_new_for_path (cl_label_issue_get_path (issue));
  g_autoptr (GFile) class_folder = g_file_get_child (cl_collection_get_file (collection),
                                                     cl_label_issue_get_suggested (issue));
  g_autofree char *name = g_file_get_basename (from);
  g_autoptr (GFile) to = g_file_get_child (class_folder, name);
  if (!g_file_move (from, to, G_FILE_COPY_NOFOLLOW_SYMLINKS, NULL, NULL, NULL, error))
    return FALSE;
  g_autofree char *message = g_strdup_printf (_("Moved %s to %s"), name, cl_label_issue_get_suggested (issue));
  GtkWindow *window = view_window (self);
  MoveBack *move = g_new0 (MoveBack, 1);
  move->from = g_object_ref (from);
  move->to = g_object_ref (to);
  if (window != NULL)
    cl_window_show_undo_toast (CL_WINDOW (window), message, UNDO_SECONDS, undo_move, move,
                               (GDestroyNotify) move_back_free);
  else
    move_back_free (move);
  return TRUE;
}

static void
action_accept (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClCleanupView *self = CL_CLEANUP_VIEW (widget);
  ClCollection *collection = cl_session_get_collection (self->session);
  guint position;
  ClLabelIssue *issue = find_issue (self, g_variant_get_string (parameter, NULL), &position);

  if (issue == NULL || collection == NULL || cl_label_issue_get_suggested (issue) == NULL)
    return;
  g_autoptr (GError) error = NULL;
  gboolean folders = g_file_query_file_type (cl_collection_get_file (collection), G_FILE_QUERY_INFO_NONE, NULL)
                     == G_FILE_TYPE_DIRECTORY;
  if (!(folders ? accept_in_folders (self, collection, issue, &error)
                : accept_in_csv (self, collection, issue, &error)))
    {
      cl_session_report_error (self->session, _("Could not correct the label"), error->message, NULL, NULL);
      return;
    }
  g_list_store_remove (self->issues, position);
  update_counts (self);
}

static void
action_dismiss (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClCleanupView *self = CL_CLEANUP_VIEW (widget);
  guint position;

  if (find_issue (self, g_variant_get_string (parameter, NULL), &position) == NULL)
    return;
  g_list_store_remove (self->issues, position);
  update_counts (self);
}

static void
action_find (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  cl_cleanup_view_find (CL_CLEANUP_VIEW (widget));
}

/* ---------------------------------------------------------------- rows */

static void
cancel_and_unref (gpointer cancellable)
{
  g_cancellable_cancel (cancellable);
  g_object_unref (cancellable);
}

/* A picture of the image at PATH, decoded in a thread; its load is cancelled with the widget. */
static GtkWidget *
thumbnail_new (ClCleanupView *self, const char *path, int size)
{
  GtkWidget *picture = gtk_picture_new ();
  GCancellable *cancellable = g_cancellable_new ();
  g_autoptr (GFile) file = g_file_new_for_path (path);

  gtk_widget_set_size_request (picture, size, size);
  gtk_picture_set_can_shrink (GTK_PICTURE (picture), TRUE);
  g_object_set_data_full (G_OBJECT (picture), "cl-cancellable", cancellable, cancel_and_unref);
  cl_thumbnailer_load_into_picture (cl_session_get_thumbnailer (self->session), file, NULL, size,
                                    GTK_PICTURE (picture), cancellable);
  return picture;
}

static GtkWidget *
member_card_new (ClCleanupView *self, const ClDuplicateMember *member)
{
  GtkWidget *card = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  g_autofree char *name = g_filename_display_basename (member->path);
  g_autofree char *size = member->size >= 0 ? g_format_size (member->size) : g_strdup (_("missing"));
  g_autoptr (GDateTime) date = g_date_time_new_from_unix_local (member->mtime);
  g_autofree char *day = date != NULL ? g_date_time_format (date, "%x") : g_strdup ("");
  g_autofree char *details = member->width > 0 ? g_strdup_printf ("%s · %s · %d×%d", size, day, member->width,
                                                                  member->height)
                                               : g_strdup_printf ("%s · %s", size, day);
  GtkWidget *name_label = gtk_label_new (name);
  GtkWidget *details_label = gtk_label_new (details);
  GtkWidget *keep = gtk_button_new_with_mnemonic (_("_Keep This One"));

  gtk_widget_add_css_class (card, "card");
  gtk_label_set_ellipsize (GTK_LABEL (name_label), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_max_width_chars (GTK_LABEL (name_label), 20);
  gtk_widget_set_tooltip_text (name_label, member->path);
  gtk_widget_add_css_class (details_label, "dim-label");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (keep), "cleanup.keep");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (keep), "s", member->path);
  gtk_widget_set_tooltip_text (keep, _("Move the other images of this group to the trash"));
  gtk_box_append (GTK_BOX (card), thumbnail_new (self, member->path, CARD_THUMBNAIL));
  gtk_box_append (GTK_BOX (card), name_label);
  gtk_box_append (GTK_BOX (card), details_label);
  gtk_box_append (GTK_BOX (card), keep);
  return card;
}

/* The members of GROUP not moved to the trash (const ClDuplicateMember *). */
static GPtrArray *
members_left (ClCleanupView *self, ClDuplicateGroup *group)
{
  GPtrArray *left = g_ptr_array_new ();

  for (guint m = 0; m < cl_duplicate_group_get_n_members (group); m++)
    {
      const ClDuplicateMember *member = cl_duplicate_group_get_member (group, m);
      if (self->session == NULL || !cl_session_is_trashed (self->session, member->path))
        g_ptr_array_add (left, (gpointer) member);
    }
  return left;
}

/* A group is listed while two of its images or more are not in the trash. */
static gboolean
group_left (gpointer item, gpointer user_data)
{
  g_autoptr (GPtrArray) left = members_left (user_data, item);
  return left->len >= 2;
}

static gboolean
issue_left (gpointer item, gpointer user_data)
{
  ClCleanupView *self = user_data;
  return self->session == NULL || !cl_session_is_trashed (self->session, cl_label_issue_get_path (item));
}

/* Images went to the trash or came back: every group and issue is filtered and bound again (a
 * group shows the images it has left). */
static void
on_trashed_changed (ClCleanupView *self)
{
  GListStore *stores[] = { self->groups, self->issues };

  for (guint s = 0; s < G_N_ELEMENTS (stores); s++)
    {
      guint n = g_list_model_get_n_items (G_LIST_MODEL (stores[s]));
      g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint i = 0; i < n; i++)
        g_ptr_array_add (items, g_list_model_get_item (G_LIST_MODEL (stores[s]), i));
      g_list_store_splice (stores[s], 0, n, items->pdata, n);
    }
  update_counts (self);
}

static void
setup_group_row (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  GtkWidget *heading = gtk_label_new (NULL);
  GtkWidget *scroller = gtk_scrolled_window_new ();
  GtkWidget *members = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);

  gtk_widget_set_margin_start (row, 12);
  gtk_widget_set_margin_end (row, 12);
  gtk_widget_set_margin_top (row, 6);
  gtk_widget_set_margin_bottom (row, 6);
  gtk_label_set_xalign (GTK_LABEL (heading), 0);
  gtk_widget_add_css_class (heading, "heading");
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scroller), GTK_POLICY_AUTOMATIC, GTK_POLICY_NEVER);
  gtk_scrolled_window_set_propagate_natural_height (GTK_SCROLLED_WINDOW (scroller), TRUE);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), members);
  gtk_box_append (GTK_BOX (row), heading);
  gtk_box_append (GTK_BOX (row), scroller);
  g_object_set_data (G_OBJECT (row), "heading", heading);
  g_object_set_data (G_OBJECT (row), "members", members);
  gtk_list_item_set_child (list_item, row);
  gtk_list_item_set_activatable (list_item, FALSE);
}

static void
bind_group_row (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  ClCleanupView *self = user_data;
  ClDuplicateGroup *group = gtk_list_item_get_item (list_item);
  GtkWidget *row = gtk_list_item_get_child (list_item);
  GtkWidget *members = g_object_get_data (G_OBJECT (row), "members");
  g_autoptr (GPtrArray) left = members_left (self, group);
  guint n = left->len;
  g_autofree char *heading = cl_duplicate_group_get_exact (group)
    ? g_strdup_printf (ngettext ("%u identical file", "%u identical files", n), n)
    /* Translators: e.g. "3 images, largest distance 0.004" */
    : g_strdup_printf (ngettext ("%u image, largest distance %.3f", "%u images, largest distance %.3f", n), n,
                       cl_duplicate_group_get_max_distance (group));

  gtk_label_set_label (GTK_LABEL (g_object_get_data (G_OBJECT (row), "heading")), heading);
  for (GtkWidget *child; (child = gtk_widget_get_first_child (members)) != NULL;)
    gtk_box_remove (GTK_BOX (members), child);
  for (guint m = 0; m < MIN (n, MAX_CARDS); m++)
    gtk_box_append (GTK_BOX (members), member_card_new (self, left->pdata[m]));
  if (n > MAX_CARDS)
    {
      /* Translators: after the first images of a large group of duplicates */
      g_autofree char *more = g_strdup_printf (ngettext ("and %u more, which Keep This One also moves to the trash",
                                                         "and %u more, which Keep This One also moves to the trash",
                                                         n - MAX_CARDS), n - MAX_CARDS);
      GtkWidget *label = gtk_label_new (more);
      gtk_label_set_wrap (GTK_LABEL (label), TRUE);
      gtk_label_set_max_width_chars (GTK_LABEL (label), 24);
      gtk_box_append (GTK_BOX (members), label);
    }
}

static void
setup_issue_row (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  gtk_widget_set_margin_start (row, 12);
  gtk_widget_set_margin_end (row, 12);
  gtk_widget_set_margin_top (row, 4);
  gtk_widget_set_margin_bottom (row, 4);
  gtk_list_item_set_child (list_item, row);
  gtk_list_item_set_activatable (list_item, FALSE);
}

static void
bind_issue_row (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  ClCleanupView *self = user_data;
  ClLabelIssue *issue = gtk_list_item_get_item (list_item);
  GtkWidget *row = gtk_list_item_get_child (list_item);
  const char *suggested = cl_label_issue_get_suggested (issue);
  g_autofree char *name = g_filename_display_basename (cl_label_issue_get_path (issue));
  g_autofree char *verdict = suggested != NULL
    /* Translators: a label error, e.g. "trouser → bag (87 %)" */
    ? g_strdup_printf (_("%s → %s (%.0f %%)"), cl_label_issue_get_label (issue), suggested,
                       100 * cl_label_issue_get_score (issue))
    /* Translators: an image far from the others, e.g. "outlier of bag, score 2.31" */
    : g_strdup_printf (_("outlier of %s, score %.2f"), cl_label_issue_get_label (issue), cl_label_issue_get_score (issue));
  GtkWidget *texts = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *name_label = gtk_label_new (name);
  GtkWidget *verdict_label = gtk_label_new (verdict);

  for (GtkWidget *child; (child = gtk_widget_get_first_child (row)) != NULL;)
    gtk_box_remove (GTK_BOX (row), child);
  gtk_widget_set_hexpand (texts, TRUE);
  gtk_label_set_xalign (GTK_LABEL (name_label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (name_label), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_xalign (GTK_LABEL (verdict_label), 0);
  gtk_box_append (GTK_BOX (texts), name_label);
  gtk_box_append (GTK_BOX (texts), verdict_label);
  gtk_box_append (GTK_BOX (row), thumbnail_new (self, cl_label_issue_get_path (issue), ISSUE_THUMBNAIL));
  gtk_box_append (GTK_BOX (row), texts);
  if (suggested != NULL)
    {
      GtkWidget *accept = gtk_button_new_with_mnemonic (_("_Accept"));
      gtk_actionable_set_action_name (GTK_ACTIONABLE (accept), "cleanup.accept");
      gtk_actionable_set_action_target (GTK_ACTIONABLE (accept), "s", cl_label_issue_get_path (issue));
      gtk_widget_set_valign (accept, GTK_ALIGN_CENTER);
      gtk_box_append (GTK_BOX (row), accept);
    }
  GtkWidget *dismiss = gtk_button_new_with_mnemonic (_("_Dismiss"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (dismiss), "cleanup.dismiss");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (dismiss), "s", cl_label_issue_get_path (issue));
  gtk_widget_set_valign (dismiss, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (row), dismiss);
}

static void
set_up_list (ClCleanupView *self, GtkListView *view, GtkFilterListModel *model, GCallback setup, GCallback bind)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", setup, self);
  g_signal_connect (factory, "bind", bind, self);
  gtk_list_view_set_factory (view, factory);
  g_object_unref (factory);
  gtk_list_view_set_model (view, GTK_SELECTION_MODEL (gtk_no_selection_new (g_object_ref (G_LIST_MODEL (model)))));
}

/* ---------------------------------------------------------------- GObject */

static void
on_threshold_selected (ClCleanupView *self)
{
  double threshold = gtk_drop_down_get_selected (self->threshold_dropdown) == 1 ? CLIP_SIMILAR_DISTANCE
                                                                                 : CLIP_DUPLICATE_DISTANCE;
  if (threshold == self->threshold)
    return;
  self->threshold = threshold;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THRESHOLD]);
  if (self->index != NULL)
    cl_cleanup_view_find (self);
}

static void
cl_cleanup_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClCleanupView *self = CL_CLEANUP_VIEW (object);

  switch (prop_id)
    {
    case PROP_THRESHOLD: g_value_set_double (value, self->threshold); break;
    case PROP_BUSY: g_value_set_boolean (value, self->pending > 0); break;
    case PROP_GROUPS: g_value_set_object (value, self->shown_groups); break;
    case PROP_ISSUES: g_value_set_object (value, self->shown_issues); break;
    case PROP_CORRECTED_TARGET: g_value_set_string (value, self->corrected_target); break;
    case PROP_CORRECTED_PATH: g_value_set_string (value, self->corrected_path); break;
    case PROP_STATUS: g_value_set_string (value, self->status); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_cleanup_view_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  ClCleanupView *self = CL_CLEANUP_VIEW (object);

  switch (prop_id)
    {
    case PROP_THRESHOLD:
      gtk_drop_down_set_selected (self->threshold_dropdown, g_value_get_double (value) > CLIP_DUPLICATE_DISTANCE);
      break;
    case PROP_CORRECTED_TARGET:
      set_corrected_target (self, g_value_get_string (value));
      break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_cleanup_view_dispose (GObject *object)
{
  ClCleanupView *self = CL_CLEANUP_VIEW (object);

  cl_cancel_and_clear (&self->cancellable);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->session);
  g_clear_pointer (&self->index, cl_search_index_unref);
  gtk_widget_dispose_template (GTK_WIDGET (object), CL_TYPE_CLEANUP_VIEW);
  G_OBJECT_CLASS (cl_cleanup_view_parent_class)->dispose (object);
}

static void
cl_cleanup_view_finalize (GObject *object)
{
  ClCleanupView *self = CL_CLEANUP_VIEW (object);

  g_clear_object (&self->shown_groups);
  g_clear_object (&self->shown_issues);
  g_clear_object (&self->groups);
  g_clear_object (&self->issues);
  g_free (self->index_folder);
  g_free (self->status);
  g_free (self->issues_note);
  g_free (self->corrected_target);
  g_free (self->corrected_path);
  g_hash_table_unref (self->corrections);
  G_OBJECT_CLASS (cl_cleanup_view_parent_class)->finalize (object);
}

static void
cl_cleanup_view_class_init (ClCleanupViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = cl_cleanup_view_get_property;
  object_class->set_property = cl_cleanup_view_set_property;
  object_class->dispose = cl_cleanup_view_dispose;
  object_class->finalize = cl_cleanup_view_finalize;
  properties[PROP_THRESHOLD] = g_param_spec_double ("threshold", NULL, NULL, 0, 2, CLIP_DUPLICATE_DISTANCE,
                                                    G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_GROUPS] = g_param_spec_object ("groups", NULL, NULL, G_TYPE_LIST_MODEL,
                                                 G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_ISSUES] = g_param_spec_object ("issues", NULL, NULL, G_TYPE_LIST_MODEL,
                                                 G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_CORRECTED_TARGET] = g_param_spec_string ("corrected-target", NULL, NULL, NULL,
                                                           G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY
                                                           | G_PARAM_STATIC_STRINGS);
  properties[PROP_CORRECTED_PATH] = g_param_spec_string ("corrected-path", NULL, NULL, NULL,
                                                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATUS] = g_param_spec_string ("status", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_install_action (widget_class, "cleanup.find", NULL, action_find);
  gtk_widget_class_install_action (widget_class, "cleanup.keep", "s", action_keep);
  gtk_widget_class_install_action (widget_class, "cleanup.accept", "s", action_accept);
  gtk_widget_class_install_action (widget_class, "cleanup.dismiss", "s", action_dismiss);
  gtk_widget_class_install_action (widget_class, "cleanup.save-corrected-as", NULL, action_save_corrected_as);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-cleanup-view.ui");
  gtk_widget_class_bind_template_child (widget_class, ClCleanupView, threshold_dropdown);
  gtk_widget_class_bind_template_child (widget_class, ClCleanupView, spinner);
  gtk_widget_class_bind_template_child (widget_class, ClCleanupView, status_label);
  gtk_widget_class_bind_template_child (widget_class, ClCleanupView, panels);
  gtk_widget_class_bind_template_child (widget_class, ClCleanupView, groups_view);
  gtk_widget_class_bind_template_child (widget_class, ClCleanupView, issues_view);
}

static void
cl_cleanup_view_init (ClCleanupView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->threshold = CLIP_DUPLICATE_DISTANCE;
  self->groups = g_list_store_new (CL_TYPE_DUPLICATE_GROUP);
  self->issues = g_list_store_new (CL_TYPE_LABEL_ISSUE);
  self->corrections = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  self->stale = TRUE;
  self->shown_groups = gtk_filter_list_model_new (G_LIST_MODEL (g_object_ref (self->groups)),
                                                  GTK_FILTER (gtk_custom_filter_new (group_left, self, NULL)));
  self->shown_issues = gtk_filter_list_model_new (G_LIST_MODEL (g_object_ref (self->issues)),
                                                  GTK_FILTER (gtk_custom_filter_new (issue_left, self, NULL)));
  set_up_list (self, self->groups_view, self->shown_groups, G_CALLBACK (setup_group_row), G_CALLBACK (bind_group_row));
  set_up_list (self, self->issues_view, self->shown_issues, G_CALLBACK (setup_issue_row), G_CALLBACK (bind_issue_row));
  g_signal_connect_swapped (self->threshold_dropdown, "notify::selected", G_CALLBACK (on_threshold_selected), self);
  g_signal_connect_swapped (self, "map", G_CALLBACK (on_map), self);
}

GtkWidget *
cl_cleanup_view_new (ClSession *session)
{
  ClCleanupView *self = g_object_new (CL_TYPE_CLEANUP_VIEW, NULL);

  self->session = g_object_ref (session);
  g_signal_connect_swapped (session, "notify::collection", G_CALLBACK (on_source_changed), self);
  g_signal_connect_swapped (session, "notify::model-info", G_CALLBACK (on_source_changed), self);
  g_signal_connect_swapped (session, "trashed-changed", G_CALLBACK (on_trashed_changed), self);
  update_actions (self);
  return GTK_WIDGET (self);
}
