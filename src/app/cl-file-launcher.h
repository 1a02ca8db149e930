/* cl-file-launcher.h — handing a file to the desktop: open it with its default application, or show
 * it selected in the file manager (GtkFileLauncher is GTK 4.10; this is GTK 4.8). */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Opens FILE with the default application for its type; PARENT gives the display and startup
 * notification. */
void     cl_file_launcher_open_async (GFile *file, GtkWidget *parent, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);

/* Shows FILE selected in the file manager (org.freedesktop.FileManager1.ShowItems on the session
 * bus); where no file manager answers, opens its folder with the default application. */
void     cl_file_launcher_show_in_folder_async (GFile *file, GtkWidget *parent, GCancellable *cancellable,
                                                GAsyncReadyCallback callback, gpointer user_data);
/* The same for several FILES (GFile) at once; without a file manager, the first one's folder opens. */
void     cl_file_launcher_show_items_async (GPtrArray *files, GtkWidget *parent, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);

/* The outcome of either. */
gboolean cl_file_launcher_finish (GAsyncResult *result, GError **error);

G_END_DECLS
