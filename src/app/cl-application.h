/* cl-application.h — the GtkApplication: options, actions, shortcuts, style, the shared worker. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CL_TYPE_APPLICATION (cl_application_get_type ())
G_DECLARE_FINAL_TYPE (ClApplication, cl_application, CL, APPLICATION, GtkApplication)

ClApplication *cl_application_new (void);

/* Makes the C library give large freed buffers back to the system at once.  Call first in main ().
 *
 * Paging through a folder churns large buffers: decoded images, and with GTK's GL renderer on Mesa's
 * llvmpipe, texture storage of 1 MB and more for every atlas and image it uploads.  glibc serves
 * such buffers with mmap () and, each time one is freed, raises that threshold to its size: from then
 * on they come from the heap, which fragments and never shrinks (measured: 318 → 415 MB over ten
 * passes through 1,000 thumbnails with the GL renderer; 247–274 MB with the threshold fixed). */
void cl_application_tune_allocator (void);

/* Binds the message catalogs: the installed ones, or the build tree's own when the running program
 * is in the build tree (uninstalled, as `setup.sh run` and the tests start it).  Call once, after
 * setlocale (). */
void cl_application_bind_translations (void);

G_END_DECLS
