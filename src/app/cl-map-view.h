/* cl-map-view.h — the Map view: the open folder's images laid out on a 2-D map by their embeddings
 * (the folder's index for the loaded model), with density clusters named by the model, coloured by
 * cluster, label or predicted class with a legend.  The layout runs on the model worker with
 * progress and Stop and is cached beside the index (cl-map-layout.h), so that reopening a folder
 * shows its map at once.  A click selects an image (the session's selection, shown in the preview);
 * Shift+drag selects a rectangle of images and Ctrl+drag a lasso, which "Show in Grid" lists in
 * Browse; a text query or "Find Similar" lights up the best matches (top 50, brighter the higher
 * they score).
 *
 * Actions: "map.compute" (lay the map out again, e.g. after Stop), "map.stop", "map.show-in-grid",
 * "map.find-similar" (images like the selected one), "map.clear-highlight", and "map.color-by"
 * (the "color-by" property: "cluster", "label" or "prediction").
 * Properties, read-only: "computing", "progress" (0..1), "n-points", "n-clusters", "cluster-names"
 * (GStrv), "from-cache" (the map shown was read from the cache), "n-highlighted", "n-selected".
 * The template's "canvas" is the ClMapCanvas; its "stack" shows "empty", "computing", "error" or
 * "content". */
#pragma once

#include <gtk/gtk.h>

#include "cl-session.h"

G_BEGIN_DECLS

#define CL_TYPE_MAP_VIEW (cl_map_view_get_type ())
G_DECLARE_FINAL_TYPE (ClMapView, cl_map_view, CL, MAP_VIEW, GtkWidget)

GtkWidget *cl_map_view_new (ClSession *session);

/* Lays the map out again (from the cache when it holds it). */
void cl_map_view_compute (ClMapView *self);
/* Lights up the images most like the image at PATH. */
void cl_map_view_find_similar (ClMapView *self, const char *path);

G_END_DECLS
