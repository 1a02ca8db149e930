/* cl-application.h — the GtkApplication: options, actions, shortcuts, style, the shared worker. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CL_TYPE_APPLICATION (cl_application_get_type ())
G_DECLARE_FINAL_TYPE (ClApplication, cl_application, CL, APPLICATION, GtkApplication)

ClApplication *cl_application_new (void);

G_END_DECLS
