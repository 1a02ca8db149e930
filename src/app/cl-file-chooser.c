/* cl-file-chooser.c — the application's one file chooser. */
#include "cl-file-chooser.h"

#include <glib/gi18n.h>

typedef struct {
  GWeakRef owner;
  ClFileChosenFunc chosen;
  gpointer data;
} Request;

static void
on_response (GtkNativeDialog *dialog, int response, gpointer user_data)
{
  Request *request = user_data;
  g_autoptr (GtkWidget) owner = g_weak_ref_get (&request->owner);

  if (owner != NULL && response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      if (file != NULL)
        request->chosen (owner, file, request->data);
    }
  g_weak_ref_clear (&request->owner);
  g_free (request);
  g_object_unref (dialog);
}

void
cl_file_chooser_show (GtkWidget *owner, const ClFileChooserOptions *options, ClFileChosenFunc chosen, gpointer data)
{
  GtkRoot *root = gtk_widget_get_root (owner);
  GtkFileChooserNative *dialog = gtk_file_chooser_native_new (options->title, GTK_IS_WINDOW (root) ? GTK_WINDOW (root)
                                                                                                   : NULL,
                                                              options->action, options->accept_label, _("_Cancel"));
  GtkFileChooser *chooser = GTK_FILE_CHOOSER (dialog);
  Request *request = g_new0 (Request, 1);

  if (options->filter_name != NULL)
    {
      g_autoptr (GtkFileFilter) filter = gtk_file_filter_new ();
      gtk_file_filter_set_name (filter, options->filter_name);
      if (options->filter_mime_type != NULL)
        gtk_file_filter_add_mime_type (filter, options->filter_mime_type);
      if (options->filter_suffix != NULL)
        gtk_file_filter_add_suffix (filter, options->filter_suffix);
      if (options->filter_suffix2 != NULL)
        gtk_file_filter_add_suffix (filter, options->filter_suffix2);
      gtk_file_chooser_add_filter (chooser, filter);
    }
  if (options->folder != NULL)
    gtk_file_chooser_set_current_folder (chooser, options->folder, NULL);
  if (options->name != NULL)
    gtk_file_chooser_set_current_name (chooser, options->name);
  g_weak_ref_init (&request->owner, owner);
  request->chosen = chosen;
  request->data = data;
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  g_signal_connect (dialog, "response", G_CALLBACK (on_response), request);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}
