/* cl-map-canvas.h — the Map view's drawing: the images as points on a 2-D map, coloured by category,
 * with names at places on it (the clusters'), and, zoomed in, the images' thumbnails.
 *
 * Pan by dragging, zoom with the wheel (around the pointer), a touchpad's pinch or two-finger scroll
 * (pan; with Ctrl, zoom) and the keyboard (arrows pan, + and − zoom, 0 fits the whole map).  Hovering
 * a point shows its image and name in a tooltip; a click selects it ("selected"); Shift+drag selects
 * every point in a rectangle, Ctrl+drag every point in a lasso ("n-selected").  A highlight (intensity per point, 0..1) dims the other
 * points.
 *
 * The points are kept in a uniform grid of cells over the map, so that the point under the pointer
 * and the points of a rectangle are found by looking at the cells around them, not at every point.
 *
 * Actions: "canvas.zoom-in", "canvas.zoom-out", "canvas.zoom-fit", "canvas.pan" ((dd): pixels),
 * "canvas.select-rect" ((dddd): x, y, width, height in widget pixels, as a Shift+drag selects),
 * "canvas.select-lasso" (a(dd): the lasso's path in widget pixels, as a Ctrl+drag draws it),
 * "canvas.clear-selection".
 * Properties: "selected" (int, -1: none; read-write), "n-selected" (uint, read-only), "n-points"
 * (uint, read-only), "scale" (double, pixels per map unit, read-only). */
#pragma once

#include <gtk/gtk.h>

#include "cl-thumbnailer.h"

G_BEGIN_DECLS

#define CL_TYPE_MAP_CANVAS (cl_map_canvas_get_type ())
G_DECLARE_FINAL_TYPE (ClMapCanvas, cl_map_canvas, CL, MAP_CANVAS, GtkWidget)

GtkWidget *cl_map_canvas_new (void);
void       cl_map_canvas_set_thumbnailer (ClMapCanvas *self, ClThumbnailer *thumbnailer);

/* The points: XY [n × 2] map coordinates and ITEMS (ClImageItem, n of them; NULL entries allowed),
 * copied and referenced.  Clears the selection, highlight, colours and names, and fits the map. */
void cl_map_canvas_set_points (ClMapCanvas *self, guint n, const float *xy, GPtrArray *items);
/* HIDDEN [n] (or NULL: none) says which points are left out: not drawn, picked, selected or
 * shown as thumbnails; the view (zoom, pan) stays.  Hidden points leave the selection. */
void cl_map_canvas_set_hidden (ClMapCanvas *self, const gboolean *hidden);
/* Each point's category CATEGORY [n] (-1: none, drawn grey), drawn in PALETTE [n_colors] (cycled). */
void cl_map_canvas_set_categories (ClMapCanvas *self, const int *category, const GdkRGBA *palette, guint n_colors);
/* Names drawn at places of the map: XY [n × 2], TEXTS [n]. */
void cl_map_canvas_set_names (ClMapCanvas *self, guint n, const float *xy, const char *const *texts);
/* INTENSITY [n] in 0..1 (0: not highlighted), or NULL for none. */
void cl_map_canvas_set_highlight (ClMapCanvas *self, const float *intensity);

int        cl_map_canvas_get_selected (ClMapCanvas *self);
void       cl_map_canvas_set_selected (ClMapCanvas *self, int point);
/* The points of the last rectangle selection, ascending (new array of guint). */
GArray    *cl_map_canvas_get_selection (ClMapCanvas *self);
/* Selects the points whose centre lies in RECT (widget pixels). */
void       cl_map_canvas_select_rect (ClMapCanvas *self, const graphene_rect_t *rect);
/* Selects the points inside the polygon PATH [n] (widget pixels, closed by its last edge). */
void       cl_map_canvas_select_lasso (ClMapCanvas *self, const graphene_point_t *path, guint n);
/* Where point I is drawn, in widget pixels. */
void       cl_map_canvas_get_point_position (ClMapCanvas *self, guint i, double *x, double *y);
/* The point drawn at (X, Y) in widget pixels, or -1. */
int        cl_map_canvas_point_at (ClMapCanvas *self, double x, double y);

/* The standard colours of categories, N_PALETTE of them. */
#define CL_MAP_PALETTE_SIZE 12
const GdkRGBA *cl_map_canvas_palette (void);

G_END_DECLS
