/* cl-file-chooser.h — asking the user for a file or folder: one GtkFileChooserNative, modal over
 * the owner's window, with one lifetime policy for every caller: the dialog holds a weak reference
 * to its owner, and the answer is delivered only when the user accepted and the owner still
 * exists. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef struct {
  const char *title;
  GtkFileChooserAction action;
  const char *accept_label;      /* "_Open", "_Save", … */
  const char *filter_name;       /* a filter the dialog offers, or NULL */
  const char *filter_suffix;     /* its file name suffix ("csv"), or NULL */
  const char *filter_suffix2;    /* a second suffix it accepts ("json"), or NULL */
  const char *filter_mime_type;  /* its MIME type, or NULL */
  GFile *folder;                 /* the folder shown first, or NULL */
  const char *name;              /* for saving: the name proposed, or NULL */
} ClFileChooserOptions;

/* OWNER is the widget that asked (alive); FILE the chosen file or folder. */
typedef void (*ClFileChosenFunc) (gpointer owner, GFile *file, gpointer data);

void cl_file_chooser_show (GtkWidget *owner, const ClFileChooserOptions *options, ClFileChosenFunc chosen,
                           gpointer data);

/* A question the dialog asks beside the file (gtk_file_chooser_add_choice): one of IDS, shown with
 * LABELS; the first is preselected. */
typedef struct {
  const char *label;
  const char *const *ids;
  const char *const *labels;
} ClFileChooserChoice;

/* CHOICE is the id of the option the user left selected. */
typedef void (*ClFileChosenWithChoiceFunc) (gpointer owner, GFile *file, const char *choice, gpointer data);

void cl_file_chooser_show_with_choice (GtkWidget *owner, const ClFileChooserOptions *options,
                                       const ClFileChooserChoice *choice, ClFileChosenWithChoiceFunc chosen,
                                       gpointer data);

/* ---------------------------------------------------------------- data sets */

/* What a data set is on disk: a file (CSV, COCO or Karpathy JSON) or a folder (of class folders, or
 * WebDataset shards).  A file chooser picks one or the other, so callers offer both. */
typedef enum {
  CL_DATASET_FILE,
  CL_DATASET_FOLDER,
} ClDatasetShape;

/* The options of the one data set chooser (Open, Train, validation): SHAPE's action and filter,
 * TITLE, starting in START (may be NULL). */
ClFileChooserOptions cl_file_chooser_dataset_options (ClDatasetShape shape, const char *title, GFile *start);
/* "file" or "folder" (an action's target) as a shape; FALSE for anything else. */
gboolean cl_dataset_shape_from_string (const char *text, ClDatasetShape *shape);

G_END_DECLS
