/* cl-application.h — the GtkApplication: options, actions, shortcuts, style, the shared worker. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CL_TYPE_APPLICATION (cl_application_get_type ())
G_DECLARE_FINAL_TYPE (ClApplication, cl_application, CL, APPLICATION, GtkApplication)

ClApplication *cl_application_new (void);

/* Binds the message catalogs: the installed ones, or the build tree's own when the running program
 * is in the build tree (uninstalled, as `setup.sh run` and the tests start it).  Call once, after
 * setlocale (). */
void cl_application_bind_translations (void);

G_END_DECLS
