/* cl-trash.c — moving images to the trash and restoring them.
 *
 * GLib trashes local files itself (the freedesktop.org trash: files/NAME and info/NAME.trashinfo
 * holding Path= and DeletionDate=); reading the trash back is GVfs's trash:/// backend.  Where GVfs
 * is not running (a bare session, the tests), trash:/// is not supported and the home trash's info
 * files are read directly: the same Path= and DeletionDate= the backend reports. */
#include "cl-trash.h"

#include <string.h>

#include <glib/gi18n.h>

#define TRASH_ATTRIBUTES G_FILE_ATTRIBUTE_STANDARD_NAME "," G_FILE_ATTRIBUTE_TRASH_ORIG_PATH "," \
                         G_FILE_ATTRIBUTE_TRASH_DELETION_DATE
#define UNDO_TOAST_SECONDS 10   /* longer than a plain toast: undoing needs a reaction */

struct _ClTrashRecord {
  GPtrArray *files;        /* GFile at its original path, each trashed */
  GArray *inodes;          /* guint64 for each: the trash keeps the inode (0 where unknown) */
  GDateTime *started;      /* before the first file was trashed */
  GDateTime *finished;     /* after the last */
  GError *failure;         /* why the next file was not trashed, or NULL */
};

static ClTrashRecord *
trash_record_new (void)
{
  ClTrashRecord *record = g_new0 (ClTrashRecord, 1);

  record->files = g_ptr_array_new_with_free_func (g_object_unref);
  record->inodes = g_array_new (FALSE, FALSE, sizeof (guint64));
  record->started = g_date_time_new_now_local ();
  return record;
}

void
cl_trash_record_free (ClTrashRecord *record)
{
  if (record == NULL)
    return;
  g_ptr_array_unref (record->files);
  g_array_unref (record->inodes);
  g_clear_pointer (&record->started, g_date_time_unref);
  g_clear_pointer (&record->finished, g_date_time_unref);
  g_clear_error (&record->failure);
  g_free (record);
}

GPtrArray *
cl_trash_record_get_files (ClTrashRecord *record)
{
  return record->files;
}

const GError *
cl_trash_record_get_failure (ClTrashRecord *record)
{
  return record->failure;
}

/* ---------------------------------------------------------------- trashing */

/* FILE's inode, or 0: it tells apart two files trashed from one path within the same second. */
static guint64
query_inode (GFile *file, GCancellable *cancellable)
{
  g_autoptr (GFileInfo) info = g_file_query_info (file, G_FILE_ATTRIBUTE_UNIX_INODE, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS,
                                                  cancellable, NULL);

  return info != NULL ? g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_UNIX_INODE) : 0;
}

static void
trash_in_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GPtrArray *files = task_data;
  ClTrashRecord *record = trash_record_new ();

  for (guint i = 0; i < files->len && record->failure == NULL; i++)
    {
      GFile *file = files->pdata[i];
      g_autoptr (GError) error = NULL;
      guint64 inode = query_inode (file, cancellable);

      if (g_file_trash (file, cancellable, &error))
        {
          g_ptr_array_add (record->files, g_object_ref (file));
          g_array_append_val (record->inodes, inode);
        }
      else
        {
          g_autofree char *name = g_file_get_parse_name (file);
          record->failure = g_error_new (error->domain, error->code, _("Could not move “%s” to the trash: %s"),
                                         name, error->message);
        }
    }
  record->finished = g_date_time_new_now_local ();
  if (record->files->len == 0 && record->failure != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&record->failure));
      cl_trash_record_free (record);
      return;
    }
  g_task_return_pointer (task, record, (GDestroyNotify) cl_trash_record_free);
}

void
cl_trash_files_async (GPtrArray *files, GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  GPtrArray *copy = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < files->len; i++)
    g_ptr_array_add (copy, g_object_ref (files->pdata[i]));
  g_task_set_source_tag (task, cl_trash_files_async);
  g_task_set_task_data (task, copy, (GDestroyNotify) g_ptr_array_unref);
  g_task_run_in_thread (task, trash_in_thread);
}

ClTrashRecord *
cl_trash_files_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---------------------------------------------------------------- finding them in the trash */

/* One item of the trash: where it is now, where it came from, when it was trashed. */
typedef struct {
  GFile *in_trash;
  char *orig_path;
  GDateTime *deleted;
  GFile *info_file;   /* the .trashinfo to remove after restoring it by hand; NULL through GVfs */
} TrashEntry;

static void
trash_entry_free (TrashEntry *entry)
{
  g_clear_object (&entry->in_trash);
  g_free (entry->orig_path);
  g_clear_pointer (&entry->deleted, g_date_time_unref);
  g_clear_object (&entry->info_file);
  g_free (entry);
}

/* The trash's dates are local time without a zone ("2026-12-07T19:50:02"). */
static GDateTime *
parse_deletion_date (const char *text)
{
  g_autoptr (GTimeZone) local = g_time_zone_new_local ();

  return text != NULL ? g_date_time_new_from_iso8601 (text, local) : NULL;
}

static TrashEntry *
trash_entry_new (GFile *in_trash, const char *orig_path, const char *deletion_date, GFile *info_file)
{
  TrashEntry *entry = g_new0 (TrashEntry, 1);

  entry->in_trash = in_trash;
  entry->orig_path = g_strdup (orig_path);
  entry->deleted = parse_deletion_date (deletion_date);
  entry->info_file = info_file;
  return entry;
}

/* The trash as GVfs shows it: every trash folder (the home one and those of other volumes). */
static gboolean
list_trash_vfs (GPtrArray *entries, GCancellable *cancellable, GError **error)
{
  g_autoptr (GFile) trash = g_file_new_for_uri ("trash:///");
  g_autoptr (GFileEnumerator) children = g_file_enumerate_children (trash, TRASH_ATTRIBUTES, G_FILE_QUERY_INFO_NONE,
                                                                    cancellable, error);
  if (children == NULL)
    return FALSE;
  GFileInfo *info;
  GFile *child;
  while (g_file_enumerator_iterate (children, &info, &child, cancellable, error) && info != NULL)
    {
      const char *orig_path = g_file_info_get_attribute_byte_string (info, G_FILE_ATTRIBUTE_TRASH_ORIG_PATH);
      const char *date = g_file_info_get_attribute_string (info, G_FILE_ATTRIBUTE_TRASH_DELETION_DATE);
      if (orig_path != NULL)
        g_ptr_array_add (entries, trash_entry_new (g_object_ref (child), orig_path, date, NULL));
    }
  return error == NULL || *error == NULL;
}

/* The home trash read directly (without GVfs): info/NAME.trashinfo describes files/NAME. */
static gboolean
list_home_trash (GPtrArray *entries, GCancellable *cancellable, GError **error)
{
  g_autofree char *trash_path = g_build_filename (g_get_user_data_dir (), "Trash", NULL);
  g_autofree char *info_path = g_build_filename (trash_path, "info", NULL);
  g_autoptr (GFile) info_folder = g_file_new_for_path (info_path);
  g_autoptr (GFileEnumerator) children = g_file_enumerate_children (info_folder, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                                                    G_FILE_QUERY_INFO_NONE, cancellable, error);
  if (children == NULL)
    return FALSE;
  GFileInfo *info;
  GFile *child;
  while (g_file_enumerator_iterate (children, &info, &child, cancellable, error) && info != NULL)
    {
      const char *name = g_file_info_get_name (info);
      g_autoptr (GKeyFile) keys = g_key_file_new ();
      g_autofree char *path = g_file_get_path (child);
      if (!g_str_has_suffix (name, ".trashinfo") || !g_key_file_load_from_file (keys, path, G_KEY_FILE_NONE, NULL))
        continue;
      g_autofree char *escaped = g_key_file_get_string (keys, "Trash Info", "Path", NULL);
      g_autofree char *date = g_key_file_get_string (keys, "Trash Info", "DeletionDate", NULL);
      g_autofree char *orig_path = escaped != NULL ? g_uri_unescape_string (escaped, NULL) : NULL;
      g_autofree char *stem = g_strndup (name, strlen (name) - strlen (".trashinfo"));
      g_autofree char *in_trash = g_build_filename (trash_path, "files", stem, NULL);
      if (orig_path != NULL && g_path_is_absolute (orig_path))
        g_ptr_array_add (entries, trash_entry_new (g_file_new_for_path (in_trash), orig_path, date,
                                                   g_object_ref (child)));
    }
  return error == NULL || *error == NULL;
}

/* Every item of the trash, through GVfs where it runs. */
static GPtrArray *
list_trash (GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) trash_entry_free);
  g_autoptr (GError) vfs_error = NULL;

  if (list_trash_vfs (entries, cancellable, &vfs_error))
    return g_steal_pointer (&entries);
  if (!g_error_matches (vfs_error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
    {
      g_propagate_error (error, g_steal_pointer (&vfs_error));
      return NULL;
    }
  g_ptr_array_set_size (entries, 0);
  if (!list_home_trash (entries, cancellable, error))
    return NULL;
  return g_steal_pointer (&entries);
}

/* The item of ENTRIES that came from PATH between STARTED and FINISHED (the trash stores whole
 * seconds) and, when INODE is known, is that inode; or NULL. */
static TrashEntry *
find_entry (GPtrArray *entries, const char *path, guint64 inode, GDateTime *started, GDateTime *finished,
            GCancellable *cancellable)
{
  for (guint i = 0; i < entries->len; i++)
    {
      TrashEntry *entry = entries->pdata[i];
      if (g_strcmp0 (entry->orig_path, path) != 0 || entry->deleted == NULL)
        continue;
      gint64 when = g_date_time_to_unix (entry->deleted);
      if (when < g_date_time_to_unix (started) || when > g_date_time_to_unix (finished))
        continue;
      if (inode == 0 || query_inode (entry->in_trash, cancellable) == inode)
        return entry;
    }
  return NULL;
}

/* ---------------------------------------------------------------- restoring */

/* What a restore needs, copied from the record: the caller may free it before the worker ends. */
typedef struct {
  GPtrArray *files;
  GArray *inodes;
  GDateTime *started;
  GDateTime *finished;
} RestoreJob;

static void
restore_job_free (RestoreJob *job)
{
  g_ptr_array_unref (job->files);
  g_array_unref (job->inodes);
  g_date_time_unref (job->started);
  g_date_time_unref (job->finished);
  g_free (job);
}

/* Moves FILE back from ENTRIES; ERROR names FILE when it cannot be. */
static gboolean
restore_one (GPtrArray *entries, RestoreJob *job, guint index, GCancellable *cancellable, GError **error)
{
  GFile *file = job->files->pdata[index];
  g_autofree char *path = g_file_get_path (file);
  g_autofree char *name = g_file_get_parse_name (file);
  TrashEntry *entry = find_entry (entries, path, g_array_index (job->inodes, guint64, index), job->started,
                                  job->finished, cancellable);
  g_autoptr (GError) move_error = NULL;

  if (entry == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("Could not restore “%s”: it is no longer in the trash"),
                   name);
      return FALSE;
    }
  if (!g_file_move (entry->in_trash, file, G_FILE_COPY_NOFOLLOW_SYMLINKS, cancellable, NULL, NULL, &move_error))
    {
      if (g_error_matches (move_error, G_IO_ERROR, G_IO_ERROR_EXISTS))
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                     _("Could not restore “%s”: another file has that name now; it stays in the trash"), name);
      else
        g_set_error (error, move_error->domain, move_error->code, _("Could not restore “%s”: %s"), name,
                     move_error->message);
      return FALSE;
    }
  if (entry->info_file != NULL)
    g_file_delete (entry->info_file, NULL, NULL);
  return TRUE;
}

static void
restore_in_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  RestoreJob *job = task_data;
  GError *error = NULL;
  g_autoptr (GPtrArray) entries = list_trash (cancellable, &error);

  if (entries == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  for (guint i = 0; i < job->files->len; i++)
    {
      g_autoptr (GError) file_error = NULL;
      if (!restore_one (entries, job, i, cancellable, &file_error) && error == NULL)
        error = g_steal_pointer (&file_error);
    }
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

void
cl_trash_restore_async (ClTrashRecord *record, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  RestoreJob *job = g_new0 (RestoreJob, 1);

  job->files = g_ptr_array_ref (record->files);
  job->inodes = g_array_ref (record->inodes);
  job->started = g_date_time_ref (record->started);
  job->finished = g_date_time_ref (record->finished);
  g_task_set_source_tag (task, cl_trash_restore_async);
  g_task_set_task_data (task, job, (GDestroyNotify) restore_job_free);
  g_task_run_in_thread (task, restore_in_thread);
}

gboolean
cl_trash_restore_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---------------------------------------------------------------- the toast */

/* An undo on its way: the window to tell, and the files it puts back. */
typedef struct {
  GWeakRef window;
  GPtrArray *files;
} Undo;

static void
undo_free (Undo *undo)
{
  g_weak_ref_clear (&undo->window);
  g_ptr_array_unref (undo->files);
  g_free (undo);
}

/* The files that are back at their paths show again, even when others could not be restored. */
static void
restored (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Undo *undo = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (ClWindow) window = g_weak_ref_get (&undo->window);
  gboolean ok = cl_trash_restore_finish (result, &error);
  g_autoptr (GPtrArray) back = g_ptr_array_new ();

  for (guint i = 0; i < undo->files->len; i++)
    if (g_file_query_exists (undo->files->pdata[i], NULL))
      g_ptr_array_add (back, undo->files->pdata[i]);
  if (window != NULL)
    {
      cl_session_set_trashed (cl_window_get_session (window), back, FALSE);
      if (!ok)
        cl_window_show_error (window, _("Could not take the images out of the trash"), error->message, NULL, NULL);
    }
  undo_free (undo);
}

static void
undo_trash (ClWindow *window, gpointer data)
{
  ClTrashRecord *record = data;
  Undo *undo = g_new0 (Undo, 1);

  g_weak_ref_init (&undo->window, window);
  undo->files = g_ptr_array_ref (record->files);
  cl_trash_restore_async (record, NULL, restored, undo);
}

void
cl_trash_show_undo_toast (ClWindow *window, ClTrashRecord *record)
{
  guint n = record->files->len;
  /* Translators: the toast after Move to Trash; it has an Undo button */
  g_autofree char *message = g_strdup_printf (ngettext ("Moved %u item to Trash", "Moved %u items to Trash", n), n);

  cl_session_set_trashed (cl_window_get_session (window), record->files, TRUE);
  if (record->failure != NULL)
    cl_window_show_error (window, _("Some images were not moved to the trash"), record->failure->message, NULL, NULL);
  cl_window_show_undo_toast (window, message, UNDO_TOAST_SECONDS, undo_trash, record,
                             (GDestroyNotify) cl_trash_record_free);
}
