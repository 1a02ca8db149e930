/* cl-adaptive-bin.h — a container whose child has a wide and a narrow layout (a breakpoint, as
 * AdwBreakpointBin does; libadwaita is not in our stack).
 *
 * The narrow layout is the wide one without the panes marked with the style class
 * "collapsible-pane" (never inside a GtkScrolledWindow).  The bin asks for less width than the wide layout needs, so that the window
 * can be made narrow; when it gets less, "narrow" turns TRUE and it hides those panes (the child is
 * given at least its minimum, clipped, for the frame in between).  It turns FALSE and shows them
 * again once the width fits them: the narrow layout's minimum plus their width requests. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CL_TYPE_ADAPTIVE_BIN (cl_adaptive_bin_get_type ())
G_DECLARE_FINAL_TYPE (ClAdaptiveBin, cl_adaptive_bin, CL, ADAPTIVE_BIN, GtkWidget)

/* The least width it asks for while wide: the narrow layout may need less. */
#define CL_ADAPTIVE_BIN_SMALLEST_WIDTH 360

/* Properties: "child" (read-write), "narrow" (read-only, notified when it changes). */
GtkWidget *cl_adaptive_bin_new (void);
void       cl_adaptive_bin_set_child (ClAdaptiveBin *self, GtkWidget *child);
GtkWidget *cl_adaptive_bin_get_child (ClAdaptiveBin *self);
gboolean   cl_adaptive_bin_get_narrow (ClAdaptiveBin *self);

G_END_DECLS
