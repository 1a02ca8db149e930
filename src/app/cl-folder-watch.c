/* cl-folder-watch.c — one GFileMonitor per folder under the watched one, events gathered by path. */
#include "cl-folder-watch.h"

#include <stdlib.h>
#include <string.h>

#define SETTLE_MS   300     /* quiet time after the last event before reporting */
#define MAX_WAIT_MS 2000    /* a folder that never stops changing is still reported this often */
#define WATCH_BATCH 64      /* monitors set up per main-loop iteration: a deep tree does not block it */

struct _ClFolderWatch {
  GObject parent_instance;

  GFile *root;
  char *folder;
  GHashTable *monitors;         /* relative path ("" = the folder) → GFileMonitor */
  GHashTable *pending;          /* relative paths changed since the last report (a set) */
  GCancellable *cancellable;    /* of the folder listings */
  GQueue to_watch;              /* relative paths listed and not watched yet */
  guint watch_source;
  guint settle_source;
  gint64 first_pending;         /* monotonic time of the oldest unreported event */
};

G_DEFINE_FINAL_TYPE (ClFolderWatch, cl_folder_watch, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void watch_tree (ClFolderWatch *self, const char *path);

/* ---------------------------------------------------------------- reporting */

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static gboolean
report_pending (gpointer data)
{
  ClFolderWatch *self = data;
  guint n = 0;
  g_autofree char **paths = (char **) g_hash_table_get_keys_as_array (self->pending, &n);

  self->settle_source = 0;
  qsort (paths, n, sizeof (char *), compare_strings);
  /* The keys belong to the set: it is emptied only after the signal. */
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0, paths);
  g_hash_table_remove_all (self->pending);
  return G_SOURCE_REMOVE;
}

static gboolean
is_hidden (const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  for (int i = 0; parts[i] != NULL; i++)
    if (parts[i][0] == '.')
      return TRUE;
  return FALSE;
}

static void
add_pending (ClFolderWatch *self, GFile *file)
{
  g_autofree char *path = file != NULL ? g_file_get_relative_path (self->root, file) : NULL;

  if (path == NULL || is_hidden (path))
    return;
  gint64 now = g_get_monotonic_time ();
  if (g_hash_table_size (self->pending) == 0)
    self->first_pending = now;
  g_hash_table_add (self->pending, g_steal_pointer (&path));
  g_clear_handle_id (&self->settle_source, g_source_remove);
  gint64 waited_ms = (now - self->first_pending) / 1000;
  self->settle_source = g_timeout_add (waited_ms + SETTLE_MS > MAX_WAIT_MS ? 0 : SETTLE_MS, report_pending, self);
}

/* ---------------------------------------------------------------- monitors */

/* Folders that appear are watched, with what they hold; folders that go stop being watched. */
static void
follow_folder (ClFolderWatch *self, GFile *file, gboolean appeared)
{
  g_autofree char *path = g_file_get_relative_path (self->root, file);

  if (path == NULL || is_hidden (path))
    return;
  if (appeared)
    {
      if (g_file_query_file_type (file, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL) == G_FILE_TYPE_DIRECTORY)
        watch_tree (self, path);
      return;
    }
  GHashTableIter iter;
  gpointer key;
  size_t len = strlen (path);
  g_hash_table_iter_init (&iter, self->monitors);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (strncmp (key, path, len) == 0 && (((char *) key)[len] == '/' || ((char *) key)[len] == '\0'))
      g_hash_table_iter_remove (&iter);
}

static void
on_monitor_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event, gpointer data)
{
  ClFolderWatch *self = data;

  switch (event)
    {
    case G_FILE_MONITOR_EVENT_CREATED:
    case G_FILE_MONITOR_EVENT_MOVED_IN:
      follow_folder (self, file, TRUE);
      add_pending (self, file);
      break;
    case G_FILE_MONITOR_EVENT_DELETED:
    case G_FILE_MONITOR_EVENT_MOVED_OUT:
      follow_folder (self, file, FALSE);
      add_pending (self, file);
      break;
    case G_FILE_MONITOR_EVENT_RENAMED:
      follow_folder (self, file, FALSE);
      follow_folder (self, other, TRUE);
      add_pending (self, file);
      add_pending (self, other);
      break;
    case G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT:
      add_pending (self, file);
      break;
    default:
      /* CHANGED comes many times while a file is written, then CHANGES_DONE_HINT once. */
      break;
    }
}

static void
watch_folder (ClFolderWatch *self, const char *path)
{
  if (g_hash_table_contains (self->monitors, path))
    return;
  g_autoptr (GFile) file = path[0] != '\0' ? g_file_resolve_relative_path (self->root, path) : g_object_ref (self->root);
  g_autoptr (GError) error = NULL;
  GFileMonitor *monitor = g_file_monitor_directory (file, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
  if (monitor == NULL)
    {
      /* Out of inotify watches, or gone already: that folder is seen by the next full update. */
      g_debug ("cannot watch %s: %s", g_file_peek_path (file), error->message);
      return;
    }
  g_signal_connect (monitor, "changed", G_CALLBACK (on_monitor_changed), self);
  g_hash_table_insert (self->monitors, g_strdup (path), monitor);
}

/* ---------------------------------------------------------------- listing folders (a thread) */

static void
list_folders_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GFile *top = data;
  ClFolderWatch *self = source;
  GPtrArray *found = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) stack = g_ptr_array_new_with_free_func (g_object_unref);

  g_ptr_array_add (stack, g_object_ref (top));
  while (stack->len > 0 && !g_cancellable_is_cancelled (cancellable))
    {
      g_autoptr (GFile) dir = g_ptr_array_steal_index (stack, stack->len - 1);
      char *relative = g_file_get_relative_path (self->root, dir);  /* NULL for the folder itself */
      g_ptr_array_add (found, relative != NULL ? relative : g_strdup (""));
      g_autoptr (GFileEnumerator) children = g_file_enumerate_children (
        dir, G_FILE_ATTRIBUTE_STANDARD_NAME "," G_FILE_ATTRIBUTE_STANDARD_TYPE,
        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, cancellable, NULL);
      GFileInfo *info;
      GFile *child;
      while (children != NULL && g_file_enumerator_iterate (children, &info, &child, cancellable, NULL)
             && info != NULL)
        if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY && g_file_info_get_name (info)[0] != '.')
          g_ptr_array_add (stack, g_object_ref (child));
    }
  g_task_return_pointer (task, found, (GDestroyNotify) g_ptr_array_unref);
}

static gboolean
watch_some (gpointer data)
{
  ClFolderWatch *self = data;

  for (int i = 0; i < WATCH_BATCH && !g_queue_is_empty (&self->to_watch); i++)
    {
      g_autofree char *path = g_queue_pop_head (&self->to_watch);
      watch_folder (self, path);
    }
  if (!g_queue_is_empty (&self->to_watch))
    return G_SOURCE_CONTINUE;
  self->watch_source = 0;
  return G_SOURCE_REMOVE;
}

static void
list_folders_done (GObject *source, GAsyncResult *result, gpointer data)
{
  ClFolderWatch *self = CL_FOLDER_WATCH (source);
  g_autoptr (GPtrArray) found = g_task_propagate_pointer (G_TASK (result), NULL);

  if (found == NULL)
    return;
  for (guint i = 0; i < found->len; i++)
    g_queue_push_tail (&self->to_watch, g_steal_pointer (&found->pdata[i]));
  if (self->watch_source == 0)
    self->watch_source = g_idle_add_full (G_PRIORITY_LOW, watch_some, self, NULL);
}

/* Watches PATH (relative; "" = the folder) and every folder under it. */
static void
watch_tree (ClFolderWatch *self, const char *path)
{
  g_autoptr (GFile) top = path[0] != '\0' ? g_file_resolve_relative_path (self->root, path) : g_object_ref (self->root);
  g_autoptr (GTask) task = g_task_new (self, self->cancellable, list_folders_done, NULL);

  /* The folder itself at once, so that nothing created in it now is missed. */
  watch_folder (self, path);
  g_task_set_task_data (task, g_steal_pointer (&top), g_object_unref);
  g_task_set_priority (task, G_PRIORITY_LOW);
  g_task_run_in_thread (task, list_folders_thread);
}

/* ---------------------------------------------------------------- GObject */

ClFolderWatch *
cl_folder_watch_new (const char *folder)
{
  ClFolderWatch *self = g_object_new (CL_TYPE_FOLDER_WATCH, NULL);

  self->folder = g_strdup (folder);
  self->root = g_file_new_for_path (folder);
  watch_tree (self, "");
  return self;
}

const char *
cl_folder_watch_get_folder (ClFolderWatch *self)
{
  return self->folder;
}

static void
cl_folder_watch_dispose (GObject *object)
{
  ClFolderWatch *self = CL_FOLDER_WATCH (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->settle_source, g_source_remove);
  g_clear_handle_id (&self->watch_source, g_source_remove);
  g_queue_clear_full (&self->to_watch, g_free);
  g_hash_table_remove_all (self->monitors);
  G_OBJECT_CLASS (cl_folder_watch_parent_class)->dispose (object);
}

static void
cl_folder_watch_finalize (GObject *object)
{
  ClFolderWatch *self = CL_FOLDER_WATCH (object);

  g_hash_table_unref (self->monitors);
  g_hash_table_unref (self->pending);
  g_object_unref (self->cancellable);
  g_clear_object (&self->root);
  g_free (self->folder);
  G_OBJECT_CLASS (cl_folder_watch_parent_class)->finalize (object);
}

static void
monitor_free (gpointer data)
{
  GFileMonitor *monitor = data;

  g_signal_handlers_disconnect_matched (monitor, G_SIGNAL_MATCH_FUNC, 0, 0, NULL, on_monitor_changed, NULL);
  g_file_monitor_cancel (monitor);
  g_object_unref (monitor);
}

static void
cl_folder_watch_class_init (ClFolderWatchClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = cl_folder_watch_dispose;
  object_class->finalize = cl_folder_watch_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                          NULL, G_TYPE_NONE, 1, G_TYPE_STRV | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
cl_folder_watch_init (ClFolderWatch *self)
{
  self->monitors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, monitor_free);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->cancellable = g_cancellable_new ();
  g_queue_init (&self->to_watch);
}
