/* cl-window.h — the main window: header bar (folder, view switcher, model, primary menu), message
 * bars, and a GtkStack of views.  Views are separate classes built on the window's ClSession and
 * added with cl_window_add_view (); each is built the first time it is shown or asked for. */
#pragma once

#include <gtk/gtk.h>

#include "cl-session.h"

G_BEGIN_DECLS

#define CL_TYPE_WINDOW (cl_window_get_type ())
G_DECLARE_FINAL_TYPE (ClWindow, cl_window, CL, WINDOW, GtkApplicationWindow)

ClWindow  *cl_window_new (GtkApplication *application, ClSession *session);
ClSession *cl_window_get_session (ClWindow *self);

typedef GtkWidget *(*ClViewNew) (ClSession *session);

/* Adds a page NAME with the switcher label TITLE (header capitalisation, a noun) for the view that
 * VIEW_NEW makes. */
void       cl_window_add_view (ClWindow *self, const char *name, const char *title, ClViewNew view_new);
/* The view of page NAME, built now if it was not yet. */
GtkWidget *cl_window_get_view (ClWindow *self, const char *name);
void       cl_window_show_view (ClWindow *self, const char *name);
/* Browse, showing only ITEMS (ClImageItem of the open collection), WHAT saying which. */
void       cl_window_show_items (ClWindow *self, GPtrArray *items, const char *what);

/* Shows an error the user can act on: TITLE, the DETAIL (naming the file and the problem) and an
 * optional button for ACTION_NAME.  It stays until dismissed or replaced. */
void cl_window_show_error (ClWindow *self, const char *title, const char *detail, const char *action_name,
                           const char *action_label);
void cl_window_show_toast (ClWindow *self, const char *message);
/* The same about FILE (or NULL): the toast's Open and Show in Files buttons act on it. */
void cl_window_show_file_toast (ClWindow *self, const char *message, GFile *file);

typedef void (*ClWindowUndo) (ClWindow *self, gpointer data);
/* A toast with an Undo button, shown for SECONDS: pressing it calls UNDO (SELF, DATA).  DESTROY
 * (DATA) runs once the toast is gone, whether it was undone, closed, replaced or timed out. */
void cl_window_show_undo_toast (ClWindow *self, const char *message, guint seconds, ClWindowUndo undo, gpointer data,
                                GDestroyNotify destroy);


G_END_DECLS
