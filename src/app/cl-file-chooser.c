/* cl-file-chooser.c — the application's one file chooser. */
#include "cl-file-chooser.h"

#include <glib/gi18n.h>

#define CHOICE_ID "choice"

typedef struct {
  GWeakRef owner;
  ClFileChosenFunc chosen;                    /* one of these two */
  ClFileChosenWithChoiceFunc chosen_with_choice;
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
      if (file != NULL && request->chosen != NULL)
        request->chosen (owner, file, request->data);
      else if (file != NULL)
        request->chosen_with_choice (owner, file, gtk_file_chooser_get_choice (GTK_FILE_CHOOSER (dialog), CHOICE_ID),
                                     request->data);
    }
  g_weak_ref_clear (&request->owner);
  g_free (request);
  g_object_unref (dialog);
}

static GtkFileChooserNative *
chooser_new (GtkWidget *owner, const ClFileChooserOptions *options)
{
  GtkRoot *root = gtk_widget_get_root (owner);
  GtkFileChooserNative *dialog = gtk_file_chooser_native_new (options->title, GTK_IS_WINDOW (root) ? GTK_WINDOW (root)
                                                                                                   : NULL,
                                                              options->action, options->accept_label, _("_Cancel"));
  GtkFileChooser *chooser = GTK_FILE_CHOOSER (dialog);

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
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  return dialog;
}

static void
chooser_show (GtkFileChooserNative *dialog, GtkWidget *owner, Request *request)
{
  g_weak_ref_init (&request->owner, owner);
  g_signal_connect (dialog, "response", G_CALLBACK (on_response), request);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

void
cl_file_chooser_show (GtkWidget *owner, const ClFileChooserOptions *options, ClFileChosenFunc chosen, gpointer data)
{
  Request *request = g_new0 (Request, 1);

  request->chosen = chosen;
  request->data = data;
  chooser_show (chooser_new (owner, options), owner, request);
}

void
cl_file_chooser_show_with_choice (GtkWidget *owner, const ClFileChooserOptions *options,
                                  const ClFileChooserChoice *choice, ClFileChosenWithChoiceFunc chosen, gpointer data)
{
  GtkFileChooserNative *dialog = chooser_new (owner, options);
  Request *request = g_new0 (Request, 1);

  gtk_file_chooser_add_choice (GTK_FILE_CHOOSER (dialog), CHOICE_ID, choice->label, (const char **) choice->ids,
                               (const char **) choice->labels);
  gtk_file_chooser_set_choice (GTK_FILE_CHOOSER (dialog), CHOICE_ID, choice->ids[0]);
  request->chosen_with_choice = chosen;
  request->data = data;
  chooser_show (dialog, owner, request);
}

/* ---------------------------------------------------------------- data sets */

ClFileChooserOptions
cl_file_chooser_dataset_options (ClDatasetShape shape, const char *title, GFile *start)
{
  if (shape == CL_DATASET_FOLDER)
    return (ClFileChooserOptions) {
      .title = title, .action = GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, .accept_label = _("_Open"), .folder = start,
    };
  return (ClFileChooserOptions) {
    .title = title,
    .action = GTK_FILE_CHOOSER_ACTION_OPEN,
    .accept_label = _("_Open"),
    .filter_name = _("Data sets (CSV, COCO or Karpathy JSON)"),
    .filter_suffix = "csv",
    .filter_suffix2 = "json",
    .filter_mime_type = "text/csv",
    .folder = start,
  };
}

gboolean
cl_dataset_shape_from_string (const char *text, ClDatasetShape *shape)
{
  if (g_strcmp0 (text, "file") == 0)
    *shape = CL_DATASET_FILE;
  else if (g_strcmp0 (text, "folder") == 0)
    *shape = CL_DATASET_FOLDER;
  else
    return FALSE;
  return TRUE;
}
