/* cl-file-launcher.c — opening files and showing them in the file manager. */
#include "cl-file-launcher.h"

#define FILE_MANAGER_NAME      "org.freedesktop.FileManager1"
#define FILE_MANAGER_PATH      "/org/freedesktop/FileManager1"
#define FILE_MANAGER_TIMEOUT   5000   /* ms: a file manager started on demand answers within this */

static void
launched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  if (g_app_info_launch_default_for_uri_finish (result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/* Opens URI with its default application; TASK returns the outcome. */
static void
launch_uri (const char *uri, GtkWidget *parent, GTask *task)
{
  g_autoptr (GdkAppLaunchContext) context = gdk_display_get_app_launch_context (gtk_widget_get_display (parent));

  g_app_info_launch_default_for_uri_async (uri, G_APP_LAUNCH_CONTEXT (context), g_task_get_cancellable (task),
                                           launched, task);
}

void
cl_file_launcher_open_async (GFile *file, GtkWidget *parent, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (parent, cancellable, callback, user_data);
  g_autofree char *uri = g_file_get_uri (file);

  g_task_set_source_tag (task, cl_file_launcher_open_async);
  launch_uri (uri, parent, task);
}

/* Where no file manager takes the call: the folder opens instead (the file is not selected, but it
 * is there). */
static void
open_containing_folder (GTask *task)
{
  GFile *file = g_task_get_task_data (task);
  g_autoptr (GFile) folder = g_file_get_parent (file);
  g_autofree char *uri = g_file_get_uri (folder != NULL ? folder : file);

  launch_uri (uri, GTK_WIDGET (g_task_get_source_object (task)), task);
}

static void
shown_in_folder (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, NULL);

  if (reply == NULL)
    {
      open_containing_folder (task);
      return;
    }
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

void
cl_file_launcher_show_items_async (GPtrArray *files, GtkWidget *parent, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (parent, cancellable, callback, user_data);
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, cancellable, NULL);
  g_auto (GStrv) uri_list = g_new0 (char *, files->len + 1);

  g_return_if_fail (files->len > 0);
  for (guint i = 0; i < files->len; i++)
    uri_list[i] = g_file_get_uri (files->pdata[i]);
  g_task_set_source_tag (task, cl_file_launcher_show_items_async);
  g_task_set_task_data (task, g_object_ref (files->pdata[0]), g_object_unref);
  if (bus == NULL)
    {
      open_containing_folder (task);
      return;
    }
  g_dbus_connection_call (bus, FILE_MANAGER_NAME, FILE_MANAGER_PATH, FILE_MANAGER_NAME, "ShowItems",
                          g_variant_new ("(^ass)", uri_list, ""), NULL, G_DBUS_CALL_FLAGS_NONE, FILE_MANAGER_TIMEOUT,
                          cancellable, shown_in_folder, task);
}

void
cl_file_launcher_show_in_folder_async (GFile *file, GtkWidget *parent, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new ();

  g_ptr_array_add (files, file);
  cl_file_launcher_show_items_async (files, parent, cancellable, callback, user_data);
}

gboolean
cl_file_launcher_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
