/* cl-preferences-dialog.h — Preferences: compute threads, precision, EXIF orientation, thumbnail
 * size, style. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CL_TYPE_PREFERENCES_DIALOG (cl_preferences_dialog_get_type ())
G_DECLARE_FINAL_TYPE (ClPreferencesDialog, cl_preferences_dialog, CL, PREFERENCES_DIALOG, GtkWindow)

GtkWindow *cl_preferences_dialog_new (GtkWindow *parent, GSettings *settings);

G_END_DECLS
