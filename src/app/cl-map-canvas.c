/* cl-map-canvas.c — see cl-map-canvas.h. */
#include "cl-map-canvas.h"

#include <math.h>
#include <string.h>

#include "cl-image-item.h"

#define POINT_RADIUS    2.5      /* pixels: half the side of a point's square */
#define HIT_RADIUS      6.0      /* pixels around a point that count as pointing at it */
#define FIT_MARGIN      32.0     /* pixels between the fitted map and the widget's edges */
#define ZOOM_STEP       1.25     /* one key press or wheel click */
#define PAN_STEP        48.0     /* pixels of one arrow key press */
#define MAX_ZOOM        400.0    /* times the fitted scale */
#define THUMB_MAX       160      /* visible points up to which thumbnails are drawn */
#define THUMB_MIN_PX    24.0     /* the side of a thumbnail when THUMB_MAX points are visible … */
#define THUMB_MAX_PX    96.0     /* … and at most */
#define DIMMED_ALPHA    0.18     /* points outside a highlight */
#define GRID_MAX        256      /* cells along each side of the point grid */

typedef enum {
  DRAG_PAN,
  DRAG_RECT,                     /* Shift+drag */
  DRAG_LASSO,                    /* Ctrl+drag */
} DragMode;

struct _ClMapCanvas {
  GtkWidget parent_instance;

  ClThumbnailer *thumbnailer;
  guint n;
  float *xy;                     /* [n × 2] */
  ClImageItem **items;           /* [n], referenced; NULL entries allowed */
  int *category;                 /* [n], -1: none */
  guint *draw_order;             /* [n] points grouped by category */
  GdkRGBA *palette;
  guint n_colors;
  float *highlight;              /* [n] or NULL */
  gboolean *hidden;              /* [n] or NULL: not drawn, picked or selected */

  /* The point grid: cell (cx, cy) holds cell_points[cell_start[c] … cell_start[c + 1] − 1]. */
  float min_x, min_y, cell_w, cell_h;
  guint grid;
  guint *cell_start;             /* [grid² + 1] */
  guint *cell_points;            /* [n] */

  /* The names drawn on the map. */
  guint n_names;
  float *name_xy;
  PangoLayout **name_layouts;

  /* The view: widget = (map − centre) × scale + size / 2. */
  double center_x, center_y, scale, fit_scale;
  gboolean needs_fit;

  int selected;                  /* the clicked point, -1 */
  int hovered;
  GArray *selection;             /* guint: the rectangle's points */
  gboolean *in_selection;        /* [n] */

  /* Gestures. */
  DragMode drag_mode;
  GArray *lasso;                 /* graphene_point_t: a lasso drag's path, widget pixels */
  double drag_center_x, drag_center_y;
  double drag_x, drag_y, drag_dx, drag_dy;
  double zoom_begin_scale;
  double pointer_x, pointer_y;

  GHashTable *thumbs;            /* ClImageItem → itself: thumbnails requested while visible */
};

G_DEFINE_FINAL_TYPE (ClMapCanvas, cl_map_canvas, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_SELECTED, PROP_N_SELECTED, PROP_N_POINTS, PROP_SCALE, N_PROPS };
static GParamSpec *properties[N_PROPS];

const GdkRGBA *
cl_map_canvas_palette (void)
{
  /* Tableau's 10 and two more: distinct for most kinds of colour vision, on light and dark. */
  static const GdkRGBA palette[CL_MAP_PALETTE_SIZE] = {
    { 0.306, 0.475, 0.655, 1 }, { 0.949, 0.557, 0.169, 1 }, { 0.882, 0.341, 0.349, 1 },
    { 0.463, 0.718, 0.698, 1 }, { 0.349, 0.631, 0.310, 1 }, { 0.929, 0.788, 0.282, 1 },
    { 0.690, 0.478, 0.631, 1 }, { 1.000, 0.616, 0.655, 1 }, { 0.612, 0.459, 0.373, 1 },
    { 0.729, 0.690, 0.675, 1 }, { 0.200, 0.200, 0.600, 1 }, { 0.400, 0.650, 0.120, 1 },
  };
  return palette;
}

/* ---------------------------------------------------------------- coordinates */

static double
to_widget_x (ClMapCanvas *self, double map_x)
{
  return (map_x - self->center_x) * self->scale + gtk_widget_get_width (GTK_WIDGET (self)) / 2.0;
}

static double
to_widget_y (ClMapCanvas *self, double map_y)
{
  return (map_y - self->center_y) * self->scale + gtk_widget_get_height (GTK_WIDGET (self)) / 2.0;
}

static double
to_map_x (ClMapCanvas *self, double x)
{
  return (x - gtk_widget_get_width (GTK_WIDGET (self)) / 2.0) / self->scale + self->center_x;
}

static double
to_map_y (ClMapCanvas *self, double y)
{
  return (y - gtk_widget_get_height (GTK_WIDGET (self)) / 2.0) / self->scale + self->center_y;
}

void
cl_map_canvas_get_point_position (ClMapCanvas *self, guint i, double *x, double *y)
{
  g_return_if_fail (i < self->n);
  *x = to_widget_x (self, self->xy[2 * i]);
  *y = to_widget_y (self, self->xy[2 * i + 1]);
}

static void
notify_scale (ClMapCanvas *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SCALE]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
zoom_fit (ClMapCanvas *self)
{
  int width = gtk_widget_get_width (GTK_WIDGET (self)), height = gtk_widget_get_height (GTK_WIDGET (self));
  double map_w = self->grid > 0 ? self->cell_w * self->grid : 1, map_h = self->grid > 0 ? self->cell_h * self->grid : 1;

  if (width <= 0 || height <= 0)
    {
      self->needs_fit = TRUE;
      return;
    }
  self->needs_fit = FALSE;
  self->center_x = self->min_x + map_w / 2;
  self->center_y = self->min_y + map_h / 2;
  self->fit_scale = MAX (MIN ((width - 2 * FIT_MARGIN) / map_w, (height - 2 * FIT_MARGIN) / map_h), 1e-6);
  self->scale = self->fit_scale;
  notify_scale (self);
}

/* Zooms by FACTOR keeping the map point under (X, Y) in widget pixels where it is. */
static void
zoom_at (ClMapCanvas *self, double factor, double x, double y)
{
  double map_x = to_map_x (self, x), map_y = to_map_y (self, y);
  double scale = CLAMP (self->scale * factor, self->fit_scale / 4, self->fit_scale * MAX_ZOOM);

  if (self->n == 0)
    return;
  self->scale = scale;
  self->center_x = map_x - (x - gtk_widget_get_width (GTK_WIDGET (self)) / 2.0) / scale;
  self->center_y = map_y - (y - gtk_widget_get_height (GTK_WIDGET (self)) / 2.0) / scale;
  notify_scale (self);
}

static void
pan_by (ClMapCanvas *self, double dx, double dy)
{
  self->center_x -= dx / self->scale;
  self->center_y -= dy / self->scale;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* ---------------------------------------------------------------- the point grid */

static gboolean
is_hidden (ClMapCanvas *self, guint i)
{
  return self->hidden != NULL && self->hidden[i];
}

static void
grid_cell_of (ClMapCanvas *self, double map_x, double map_y, int *cx, int *cy)
{
  *cx = (int) CLAMP (floor ((map_x - self->min_x) / self->cell_w), 0, self->grid - 1);
  *cy = (int) CLAMP (floor ((map_y - self->min_y) / self->cell_h), 0, self->grid - 1);
}

/* Cells about twice as many as points, at most GRID_MAX² (a counting sort of the points by cell).
 * The hidden points keep their place in the map's extent but are in no cell. */
static void
grid_build (ClMapCanvas *self)
{
  float max_x = -G_MAXFLOAT, max_y = -G_MAXFLOAT;

  self->min_x = self->min_y = G_MAXFLOAT;
  for (guint i = 0; i < self->n; i++)
    {
      self->min_x = MIN (self->min_x, self->xy[2 * i]);
      self->min_y = MIN (self->min_y, self->xy[2 * i + 1]);
      max_x = MAX (max_x, self->xy[2 * i]);
      max_y = MAX (max_y, self->xy[2 * i + 1]);
    }
  self->grid = self->n > 0 ? (guint) CLAMP (ceil (sqrt (self->n / 2.0)), 1, GRID_MAX) : 0;
  if (self->n == 0)
    {
      self->min_x = self->min_y = 0;
      self->cell_w = self->cell_h = 1;
      return;
    }
  /* A single point, or points on a line, still make cells of some size. */
  self->cell_w = MAX (max_x - self->min_x, 1e-3f) / self->grid;
  self->cell_h = MAX (max_y - self->min_y, 1e-3f) / self->grid;
  guint n_cells = self->grid * self->grid;
  g_autofree guint *cell = g_new (guint, self->n);
  self->cell_start = g_new0 (guint, n_cells + 1);
  self->cell_points = g_new (guint, self->n);
  for (guint i = 0; i < self->n; i++)
    {
      int cx, cy;
      if (is_hidden (self, i))
        continue;
      grid_cell_of (self, self->xy[2 * i], self->xy[2 * i + 1], &cx, &cy);
      cell[i] = (guint) cy * self->grid + (guint) cx;
      self->cell_start[cell[i] + 1]++;
    }
  for (guint c = 0; c < n_cells; c++)
    self->cell_start[c + 1] += self->cell_start[c];
  g_autofree guint *fill = g_memdup2 (self->cell_start, sizeof (guint) * n_cells);
  for (guint i = 0; i < self->n; i++)
    if (!is_hidden (self, i))
      self->cell_points[fill[cell[i]]++] = i;
}

/* Calls FUNC (point, data) for every point in the map rectangle [X0, X1] × [Y0, Y1], looking only
 * at the cells it overlaps. */
static void
grid_foreach_in (ClMapCanvas *self, double x0, double y0, double x1, double y1,
                 void (*func) (ClMapCanvas *self, guint point, gpointer data), gpointer data)
{
  int cx0, cy0, cx1, cy1;

  if (self->grid == 0 || x1 < self->min_x || y1 < self->min_y
      || x0 > self->min_x + self->cell_w * self->grid || y0 > self->min_y + self->cell_h * self->grid)
    return;
  grid_cell_of (self, x0, y0, &cx0, &cy0);
  grid_cell_of (self, x1, y1, &cx1, &cy1);
  for (int cy = cy0; cy <= cy1; cy++)
    for (int cx = cx0; cx <= cx1; cx++)
      {
        guint c = (guint) cy * self->grid + (guint) cx;
        for (guint k = self->cell_start[c]; k < self->cell_start[c + 1]; k++)
          {
            guint i = self->cell_points[k];
            float px = self->xy[2 * i], py = self->xy[2 * i + 1];
            if (px >= x0 && px <= x1 && py >= y0 && py <= y1)
              func (self, i, data);
          }
      }
}

typedef struct {
  double x, y;                   /* map coordinates */
  double best;                   /* squared distance */
  int point;
} Nearest;

static void
nearest_visit (ClMapCanvas *self, guint i, gpointer data)
{
  Nearest *nearest = data;
  double dx = self->xy[2 * i] - nearest->x, dy = self->xy[2 * i + 1] - nearest->y;
  double d = dx * dx + dy * dy;

  if (d < nearest->best || (d == nearest->best && (int) i < nearest->point))
    {
      nearest->best = d;
      nearest->point = (int) i;
    }
}

static double
thumbnail_side (ClMapCanvas *self, guint n_visible)
{
  return CLAMP (THUMB_MIN_PX * sqrt ((double) THUMB_MAX / MAX (n_visible, 1)), THUMB_MIN_PX, THUMB_MAX_PX);
}

int
cl_map_canvas_point_at (ClMapCanvas *self, double x, double y)
{
  double radius = (g_hash_table_size (self->thumbs) > 0 ? thumbnail_side (self, g_hash_table_size (self->thumbs)) / 2
                                                         : HIT_RADIUS) / self->scale;
  Nearest nearest = { to_map_x (self, x), to_map_y (self, y), radius * radius, -1 };

  if (self->n == 0)
    return -1;
  grid_foreach_in (self, nearest.x - radius, nearest.y - radius, nearest.x + radius, nearest.y + radius,
                   nearest_visit, &nearest);
  return nearest.point;
}

/* ---------------------------------------------------------------- selection */

int
cl_map_canvas_get_selected (ClMapCanvas *self)
{
  return self->selected;
}

void
cl_map_canvas_set_selected (ClMapCanvas *self, int point)
{
  point = point >= 0 && (guint) point < self->n ? point : -1;
  if (point == self->selected)
    return;
  self->selected = point;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

GArray *
cl_map_canvas_get_selection (ClMapCanvas *self)
{
  GArray *copy = g_array_sized_new (FALSE, FALSE, sizeof (guint), self->selection->len);
  g_array_append_vals (copy, self->selection->data, self->selection->len);
  return copy;
}

static void
selection_clear (ClMapCanvas *self)
{
  for (guint k = 0; k < self->selection->len; k++)
    self->in_selection[g_array_index (self->selection, guint, k)] = FALSE;
  g_array_set_size (self->selection, 0);
}

static void
selection_visit (ClMapCanvas *self, guint i, gpointer data)
{
  self->in_selection[i] = TRUE;
  g_array_append_val (self->selection, i);
}

static int
compare_guint (gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *) a, y = *(const guint *) b;
  return x < y ? -1 : x > y;
}

void
cl_map_canvas_select_rect (ClMapCanvas *self, const graphene_rect_t *rect)
{
  graphene_rect_t r;

  graphene_rect_normalize_r (rect, &r);
  selection_clear (self);
  if (self->n > 0)
    grid_foreach_in (self, to_map_x (self, r.origin.x), to_map_y (self, r.origin.y),
                     to_map_x (self, r.origin.x + r.size.width), to_map_y (self, r.origin.y + r.size.height),
                     selection_visit, NULL);
  g_array_sort (self->selection, compare_guint);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_SELECTED]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Whether the map point (X, Y) lies inside the polygon POLYGON (map coordinates, closed by its
 * last edge), by the even-odd rule. */
static gboolean
polygon_contains (const graphene_point_t *polygon, guint n, double x, double y)
{
  gboolean inside = FALSE;

  for (guint i = 0, j = n - 1; i < n; j = i++)
    if ((polygon[i].y > y) != (polygon[j].y > y)
        && x < (polygon[j].x - polygon[i].x) * (y - polygon[i].y) / (polygon[j].y - polygon[i].y) + polygon[i].x)
      inside = !inside;
  return inside;
}

typedef struct {
  const graphene_point_t *polygon;
  guint n;
} Lasso;

static void
lasso_visit (ClMapCanvas *self, guint i, gpointer data)
{
  const Lasso *lasso = data;

  if (polygon_contains (lasso->polygon, lasso->n, self->xy[2 * i], self->xy[2 * i + 1]))
    selection_visit (self, i, NULL);
}

void
cl_map_canvas_select_lasso (ClMapCanvas *self, const graphene_point_t *path, guint n)
{
  g_autofree graphene_point_t *polygon = g_new (graphene_point_t, MAX (n, 1));
  double x0 = G_MAXDOUBLE, y0 = G_MAXDOUBLE, x1 = -G_MAXDOUBLE, y1 = -G_MAXDOUBLE;

  selection_clear (self);
  for (guint k = 0; k < n; k++)
    {
      polygon[k] = GRAPHENE_POINT_INIT (to_map_x (self, path[k].x), to_map_y (self, path[k].y));
      x0 = MIN (x0, polygon[k].x), y0 = MIN (y0, polygon[k].y);
      x1 = MAX (x1, polygon[k].x), y1 = MAX (y1, polygon[k].y);
    }
  /* The cells under the lasso's bounding box, then each of their points against the polygon. */
  if (self->n > 0 && n >= 3)
    grid_foreach_in (self, x0, y0, x1, y1, lasso_visit, &(Lasso) { polygon, n });
  g_array_sort (self->selection, compare_guint);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_SELECTED]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* ---------------------------------------------------------------- content */

static void
thumbs_release_all (ClMapCanvas *self)
{
  GHashTableIter iter;
  gpointer item;

  g_hash_table_iter_init (&iter, self->thumbs);
  while (g_hash_table_iter_next (&iter, &item, NULL))
    {
      g_signal_handlers_disconnect_by_data (item, self);
      if (self->thumbnailer != NULL)
        cl_thumbnailer_release (self->thumbnailer, item);
      g_hash_table_iter_remove (&iter);
    }
}

static void
clear_names (ClMapCanvas *self)
{
  for (guint i = 0; i < self->n_names; i++)
    g_object_unref (self->name_layouts[i]);
  g_clear_pointer (&self->name_layouts, g_free);
  g_clear_pointer (&self->name_xy, g_free);
  self->n_names = 0;
}

static void set_hovered (ClMapCanvas *self, int point);

static void
clear_points (ClMapCanvas *self)
{
  set_hovered (self, -1);
  thumbs_release_all (self);
  for (guint i = 0; i < self->n; i++)
    g_clear_object (&self->items[i]);
  g_clear_pointer (&self->items, g_free);
  g_clear_pointer (&self->xy, g_free);
  g_clear_pointer (&self->category, g_free);
  g_clear_pointer (&self->draw_order, g_free);
  g_clear_pointer (&self->highlight, g_free);
  g_clear_pointer (&self->hidden, g_free);
  g_clear_pointer (&self->cell_start, g_free);
  g_clear_pointer (&self->cell_points, g_free);
  g_clear_pointer (&self->in_selection, g_free);
  g_array_set_size (self->selection, 0);
  clear_names (self);
  self->n = 0;
  self->grid = 0;
}

void
cl_map_canvas_set_points (ClMapCanvas *self, guint n, const float *xy, GPtrArray *items)
{
  g_return_if_fail (items == NULL || items->len == n);

  clear_points (self);
  self->n = n;
  self->xy = g_memdup2 (xy, sizeof (float) * 2 * MAX (n, 1));
  self->items = g_new0 (ClImageItem *, MAX (n, 1));
  self->category = g_new (int, MAX (n, 1));
  self->draw_order = g_new (guint, MAX (n, 1));
  self->in_selection = g_new0 (gboolean, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      self->items[i] = items != NULL && items->pdata[i] != NULL ? g_object_ref (items->pdata[i]) : NULL;
      self->category[i] = -1;
      self->draw_order[i] = i;
    }
  grid_build (self);
  self->selected = -1;
  self->hovered = -1;
  zoom_fit (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_POINTS]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_SELECTED]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
cl_map_canvas_set_hidden (ClMapCanvas *self, const gboolean *hidden)
{
  guint kept = 0;

  g_clear_pointer (&self->hidden, g_free);
  if (hidden != NULL && self->n > 0)
    self->hidden = g_memdup2 (hidden, sizeof (gboolean) * self->n);
  g_clear_pointer (&self->cell_start, g_free);
  g_clear_pointer (&self->cell_points, g_free);
  grid_build (self);
  for (guint k = 0; k < self->selection->len; k++)
    {
      guint i = g_array_index (self->selection, guint, k);
      if (is_hidden (self, i))
        self->in_selection[i] = FALSE;
      else
        g_array_index (self->selection, guint, kept++) = i;
    }
  if (kept != self->selection->len)
    {
      g_array_set_size (self->selection, kept);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_SELECTED]);
    }
  if (self->hovered >= 0 && is_hidden (self, self->hovered))
    set_hovered (self, -1);
  if (self->selected >= 0 && is_hidden (self, self->selected))
    cl_map_canvas_set_selected (self, -1);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
cl_map_canvas_set_categories (ClMapCanvas *self, const int *category, const GdkRGBA *palette, guint n_colors)
{
  g_free (self->palette);
  self->palette = g_memdup2 (palette, sizeof (GdkRGBA) * MAX (n_colors, 1));
  self->n_colors = n_colors;
  /* Points of one category drawn together: one colour change per category, not per point. */
  guint n_categories = 0;
  for (guint i = 0; i < self->n; i++)
    {
      self->category[i] = category != NULL ? category[i] : -1;
      n_categories = MAX (n_categories, (guint) (self->category[i] + 1));
    }
  g_autofree guint *start = g_new0 (guint, n_categories + 2);
  for (guint i = 0; i < self->n; i++)
    start[self->category[i] + 2]++;
  for (guint c = 1; c <= n_categories + 1; c++)
    start[c] += start[c - 1];
  for (guint i = 0; i < self->n; i++)
    self->draw_order[start[self->category[i] + 1]++] = i;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
cl_map_canvas_set_names (ClMapCanvas *self, guint n, const float *xy, const char *const *texts)
{
  clear_names (self);
  self->n_names = n;
  self->name_xy = g_memdup2 (xy, sizeof (float) * 2 * MAX (n, 1));
  self->name_layouts = g_new0 (PangoLayout *, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    self->name_layouts[i] = gtk_widget_create_pango_layout (GTK_WIDGET (self), texts[i]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
cl_map_canvas_set_highlight (ClMapCanvas *self, const float *intensity)
{
  g_clear_pointer (&self->highlight, g_free);
  if (intensity != NULL && self->n > 0)
    self->highlight = g_memdup2 (intensity, sizeof (float) * self->n);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
cl_map_canvas_set_thumbnailer (ClMapCanvas *self, ClThumbnailer *thumbnailer)
{
  thumbs_release_all (self);
  g_set_object (&self->thumbnailer, thumbnailer);
}

/* ---------------------------------------------------------------- thumbnails */

static void
on_thumbnail (ClMapCanvas *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Requests the thumbnails of VISIBLE (guint points) and releases the others'. */
static void
thumbs_follow (ClMapCanvas *self, GArray *visible)
{
  g_autoptr (GHashTable) wanted = g_hash_table_new (NULL, NULL);
  GHashTableIter iter;
  gpointer item;

  if (self->thumbnailer == NULL)
    return;
  for (guint k = 0; k < visible->len; k++)
    {
      ClImageItem *visible_item = self->items[g_array_index (visible, guint, k)];
      if (visible_item != NULL)
        g_hash_table_add (wanted, visible_item);
    }
  g_hash_table_iter_init (&iter, self->thumbs);
  while (g_hash_table_iter_next (&iter, &item, NULL))
    if (!g_hash_table_contains (wanted, item))
      {
        g_signal_handlers_disconnect_by_data (item, self);
        cl_thumbnailer_release (self->thumbnailer, item);
        g_hash_table_iter_remove (&iter);
      }
  g_hash_table_iter_init (&iter, wanted);
  while (g_hash_table_iter_next (&iter, &item, NULL))
    if (g_hash_table_add (self->thumbs, item))
      {
        g_signal_connect_swapped (item, "notify::thumbnail", G_CALLBACK (on_thumbnail), self);
        cl_thumbnailer_request (self->thumbnailer, item);
      }
}

/* ---------------------------------------------------------------- drawing */

static GdkRGBA
category_color (ClMapCanvas *self, int category)
{
  static const GdkRGBA none = { 0.55, 0.55, 0.55, 1 };
  return category < 0 || self->n_colors == 0 ? none : self->palette[category % self->n_colors];
}

static void
draw_points (ClMapCanvas *self, cairo_t *cr, int width, int height)
{
  const double r = POINT_RADIUS, side = 2 * floor (r) + 1;
  const double alpha = self->highlight != NULL ? DIMMED_ALPHA : 1.0;
  int current = G_MININT;

  for (guint k = 0; k < self->n; k++)
    {
      guint i = self->draw_order[k];
      if (is_hidden (self, i))
        continue;
      if (self->category[i] != current)
        {
          cairo_fill (cr);
          current = self->category[i];
          GdkRGBA color = category_color (self, current);
          cairo_set_source_rgba (cr, color.red, color.green, color.blue, alpha);
        }
      double x = to_widget_x (self, self->xy[2 * i]), y = to_widget_y (self, self->xy[2 * i + 1]);
      /* Whole pixels: Cairo fills aligned rectangles without antialiasing, twice as fast. */
      if (x >= -r && y >= -r && x <= width + r && y <= height + r)
        cairo_rectangle (cr, round (x) - floor (r), round (y) - floor (r), side, side);
    }
  cairo_fill (cr);
}

/* The highlighted points above the others, larger and more opaque the higher their intensity. */
static void
draw_highlight (ClMapCanvas *self, cairo_t *cr)
{
  cairo_set_line_width (cr, 1);
  for (guint i = 0; self->highlight != NULL && i < self->n; i++)
    {
      double intensity = self->highlight[i];
      if (intensity <= 0 || is_hidden (self, i))
        continue;
      double r = POINT_RADIUS + 1 + 3 * intensity;
      double x = to_widget_x (self, self->xy[2 * i]), y = to_widget_y (self, self->xy[2 * i + 1]);
      GdkRGBA color = category_color (self, self->category[i]);
      cairo_arc (cr, x, y, r, 0, 2 * G_PI);
      cairo_set_source_rgba (cr, color.red, color.green, color.blue, 0.4 + 0.6 * intensity);
      cairo_fill_preserve (cr);
      cairo_set_source_rgba (cr, 0, 0, 0, 0.8);
      cairo_stroke (cr);
    }
}

static void
draw_marks (ClMapCanvas *self, cairo_t *cr)
{
  const double r = POINT_RADIUS + 1.5;

  cairo_set_line_width (cr, 1.5);
  cairo_set_source_rgba (cr, 0.1, 0.1, 0.1, 0.9);
  for (guint k = 0; k < self->selection->len; k++)
    {
      guint i = g_array_index (self->selection, guint, k);
      cairo_rectangle (cr, to_widget_x (self, self->xy[2 * i]) - r, to_widget_y (self, self->xy[2 * i + 1]) - r,
                       2 * r, 2 * r);
    }
  cairo_stroke (cr);
  for (int which = 0; which < 2; which++)
    {
      int i = which == 0 ? self->hovered : self->selected;
      if (i < 0)
        continue;
      double x = to_widget_x (self, self->xy[2 * i]), y = to_widget_y (self, self->xy[2 * i + 1]);
      cairo_arc (cr, x, y, POINT_RADIUS + 4, 0, 2 * G_PI);
      cairo_set_source_rgba (cr, 1, 1, 1, 0.9);
      cairo_set_line_width (cr, 4);
      cairo_stroke_preserve (cr);
      cairo_set_source_rgba (cr, 0.1, 0.1, 0.1, 1);
      cairo_set_line_width (cr, 2);
      cairo_stroke (cr);
    }
}

static void
visible_visit (ClMapCanvas *self, guint i, gpointer data)
{
  g_array_append_val ((GArray *) data, i);
}

/* The thumbnails of the visible points when few are: SIDE pixels, each over its point. */
static void
snapshot_thumbnails (ClMapCanvas *self, GtkSnapshot *snapshot, GArray *visible)
{
  double side = thumbnail_side (self, visible->len);

  for (guint k = 0; k < visible->len; k++)
    {
      guint i = g_array_index (visible, guint, k);
      GdkTexture *texture = self->items[i] != NULL ? cl_image_item_get_thumbnail (self->items[i]) : NULL;
      if (texture == NULL)
        continue;
      int tw = gdk_texture_get_width (texture), th = gdk_texture_get_height (texture);
      double fit = side / MAX (tw, th);
      double x = to_widget_x (self, self->xy[2 * i]), y = to_widget_y (self, self->xy[2 * i + 1]);
      graphene_rect_t bounds = GRAPHENE_RECT_INIT (x - tw * fit / 2, y - th * fit / 2, tw * fit, th * fit);
      /* A frame in the point's colour keeps the colouring visible under the thumbnails. */
      GdkRGBA color = category_color (self, self->category[i]);
      graphene_rect_t frame;
      graphene_rect_inset_r (&bounds, -2, -2, &frame);
      gtk_snapshot_append_color (snapshot, &color, &frame);
      gtk_snapshot_append_texture (snapshot, texture, &bounds);
    }
}

static void
snapshot_names (ClMapCanvas *self, GtkSnapshot *snapshot)
{
  static const GdkRGBA background = { 0.1, 0.1, 0.1, 0.72 }, text = { 1, 1, 1, 1 };

  for (guint i = 0; i < self->n_names; i++)
    {
      int w, h;
      pango_layout_get_pixel_size (self->name_layouts[i], &w, &h);
      double x = round (to_widget_x (self, self->name_xy[2 * i]) - w / 2.0);
      double y = round (to_widget_y (self, self->name_xy[2 * i + 1]) - h / 2.0);
      GskRoundedRect pill;
      gsk_rounded_rect_init_from_rect (&pill, &GRAPHENE_RECT_INIT (x - 6, y - 2, w + 12, h + 4), (h + 4) / 2.0);
      gtk_snapshot_push_rounded_clip (snapshot, &pill);
      gtk_snapshot_append_color (snapshot, &background, &pill.bounds);
      gtk_snapshot_pop (snapshot);
      gtk_snapshot_save (snapshot);
      gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (x, y));
      gtk_snapshot_append_layout (snapshot, self->name_layouts[i], &text);
      gtk_snapshot_restore (snapshot);
    }
}

static void
snapshot_rubber_band (ClMapCanvas *self, GtkSnapshot *snapshot)
{
  graphene_rect_t band;
  GdkRGBA fill = { 0.21, 0.52, 0.89, 0.2 }, border = { 0.21, 0.52, 0.89, 1 };

  graphene_rect_normalize_r (&GRAPHENE_RECT_INIT (self->drag_x, self->drag_y, self->drag_dx, self->drag_dy), &band);
  gtk_snapshot_append_color (snapshot, &fill, &band);
  GskRoundedRect outline;
  gsk_rounded_rect_init_from_rect (&outline, &band, 0);
  gtk_snapshot_append_border (snapshot, &outline, (const float[4]) { 1, 1, 1, 1 },
                              (const GdkRGBA[4]) { border, border, border, border });
}

static void
draw_lasso (ClMapCanvas *self, cairo_t *cr)
{
  for (guint k = 0; k < self->lasso->len; k++)
    {
      const graphene_point_t *p = &g_array_index (self->lasso, graphene_point_t, k);
      cairo_line_to (cr, p->x, p->y);
    }
  cairo_close_path (cr);
  cairo_set_source_rgba (cr, 0.21, 0.52, 0.89, 0.2);
  cairo_fill_preserve (cr);
  cairo_set_source_rgba (cr, 0.21, 0.52, 0.89, 1);
  cairo_set_line_width (cr, 1);
  cairo_stroke (cr);
}

static void
cl_map_canvas_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  ClMapCanvas *self = CL_MAP_CANVAS (widget);
  int width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);

  if (self->needs_fit)
    zoom_fit (self);
  if (self->n == 0 || width <= 0 || height <= 0)
    return;
  cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  draw_points (self, cr, width, height);
  draw_highlight (self, cr);
  cairo_destroy (cr);

  g_autoptr (GArray) visible = g_array_new (FALSE, FALSE, sizeof (guint));
  double margin = THUMB_MAX_PX / 2 / self->scale;
  grid_foreach_in (self, to_map_x (self, 0) - margin, to_map_y (self, 0) - margin, to_map_x (self, width) + margin,
                   to_map_y (self, height) + margin, visible_visit, visible);
  if (visible->len > THUMB_MAX)
    g_array_set_size (visible, 0);
  snapshot_thumbnails (self, snapshot, visible);
  thumbs_follow (self, visible);

  /* A second layer over the thumbnails only when it holds something: each costs a surface. */
  if (self->selection->len > 0 || self->hovered >= 0 || self->selected >= 0 || self->drag_mode == DRAG_LASSO)
    {
      cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
      draw_marks (self, cr);
      if (self->drag_mode == DRAG_LASSO)
        draw_lasso (self, cr);
      cairo_destroy (cr);
    }
  snapshot_names (self, snapshot);
  if (self->drag_mode == DRAG_RECT)
    snapshot_rubber_band (self, snapshot);
}

/* ---------------------------------------------------------------- pointer */

static void
set_hovered (ClMapCanvas *self, int point)
{
  if (point == self->hovered)
    return;
  if (self->hovered >= 0 && self->items[self->hovered] != NULL && self->thumbnailer != NULL)
    {
      g_signal_handlers_disconnect_by_func (self->items[self->hovered], gtk_widget_trigger_tooltip_query, self);
      cl_thumbnailer_release (self->thumbnailer, self->items[self->hovered]);
    }
  self->hovered = point;
  /* Its thumbnail for the tooltip, which shows it once decoded. */
  if (point >= 0 && self->items[point] != NULL && self->thumbnailer != NULL)
    {
      g_signal_connect_swapped (self->items[point], "notify::thumbnail", G_CALLBACK (gtk_widget_trigger_tooltip_query),
                                self);
      cl_thumbnailer_request (self->thumbnailer, self->items[point]);
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_motion (GtkEventControllerMotion *controller, double x, double y, ClMapCanvas *self)
{
  self->pointer_x = x;
  self->pointer_y = y;
  set_hovered (self, cl_map_canvas_point_at (self, x, y));
}

static void
on_leave (GtkEventControllerMotion *controller, ClMapCanvas *self)
{
  set_hovered (self, -1);
}

static gboolean
on_query_tooltip (GtkWidget *widget, int x, int y, gboolean keyboard, GtkTooltip *tooltip, gpointer data)
{
  ClMapCanvas *self = CL_MAP_CANVAS (widget);
  int point = keyboard ? self->selected : cl_map_canvas_point_at (self, x, y);
  ClImageItem *item = point >= 0 ? self->items[point] : NULL;

  if (item == NULL)
    return FALSE;
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  GdkTexture *texture = cl_image_item_get_thumbnail (item);
  if (texture != NULL)
    {
      GtkWidget *picture = gtk_picture_new_for_paintable (GDK_PAINTABLE (texture));
      gtk_widget_set_size_request (picture, 128, 128);
      gtk_box_append (GTK_BOX (box), picture);
    }
  GtkWidget *name = gtk_label_new (cl_image_item_get_name (item));
  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_max_width_chars (GTK_LABEL (name), 32);
  gtk_box_append (GTK_BOX (box), name);
  gtk_tooltip_set_custom (tooltip, box);
  double px, py;
  cl_map_canvas_get_point_position (self, (guint) point, &px, &py);
  gtk_tooltip_set_tip_area (tooltip, &(GdkRectangle) { (int) px - 4, (int) py - 4, 8, 8 });
  return TRUE;
}

static void
on_drag_begin (GtkGestureDrag *gesture, double x, double y, ClMapCanvas *self)
{
  GdkModifierType state = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (gesture));

  self->drag_mode = (state & GDK_SHIFT_MASK) ? DRAG_RECT : (state & GDK_CONTROL_MASK) ? DRAG_LASSO : DRAG_PAN;
  g_array_set_size (self->lasso, 0);
  g_array_append_val (self->lasso, GRAPHENE_POINT_INIT (x, y));
  self->drag_center_x = self->center_x;
  self->drag_center_y = self->center_y;
  self->drag_x = x;
  self->drag_y = y;
  self->drag_dx = self->drag_dy = 0;
  gtk_widget_grab_focus (GTK_WIDGET (self));
}

static void
on_drag_update (GtkGestureDrag *gesture, double dx, double dy, ClMapCanvas *self)
{
  self->drag_dx = dx;
  self->drag_dy = dy;
  if (self->drag_mode == DRAG_LASSO)
    g_array_append_val (self->lasso, GRAPHENE_POINT_INIT (self->drag_x + dx, self->drag_y + dy));
  else if (self->drag_mode == DRAG_PAN)
    {
      self->center_x = self->drag_center_x - dx / self->scale;
      self->center_y = self->drag_center_y - dy / self->scale;
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_drag_end (GtkGestureDrag *gesture, double dx, double dy, ClMapCanvas *self)
{
  DragMode mode = self->drag_mode;

  self->drag_mode = DRAG_PAN;
  if (mode == DRAG_RECT)
    cl_map_canvas_select_rect (self, &GRAPHENE_RECT_INIT (self->drag_x, self->drag_y, dx, dy));
  else if (mode == DRAG_LASSO)
    cl_map_canvas_select_lasso (self, (const graphene_point_t *) self->lasso->data, self->lasso->len);
}

static void
on_click_released (GtkGestureClick *gesture, int n_press, double x, double y, ClMapCanvas *self)
{
  cl_map_canvas_set_selected (self, cl_map_canvas_point_at (self, x, y));
}

/* A wheel zooms around the pointer; a touchpad's two-finger scroll pans, and zooms with Ctrl. */
static gboolean
on_scroll (GtkEventControllerScroll *controller, double dx, double dy, ClMapCanvas *self)
{
  GdkModifierType state = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (controller));

  if (gtk_event_controller_scroll_get_unit (controller) == GDK_SCROLL_UNIT_WHEEL)
    zoom_at (self, pow (ZOOM_STEP, -dy), self->pointer_x, self->pointer_y);
  else if (state & GDK_CONTROL_MASK)
    zoom_at (self, exp (-dy / 100.0), self->pointer_x, self->pointer_y);
  else
    pan_by (self, -dx, -dy);
  return TRUE;
}

static void
on_zoom_begin (GtkGesture *gesture, GdkEventSequence *sequence, ClMapCanvas *self)
{
  self->zoom_begin_scale = self->scale;
}

static void
on_zoom_scale_changed (GtkGestureZoom *gesture, double scale, ClMapCanvas *self)
{
  double x, y;

  if (!gtk_gesture_get_bounding_box_center (GTK_GESTURE (gesture), &x, &y))
    return;
  zoom_at (self, self->zoom_begin_scale * scale / self->scale, x, y);
}

static void
add_controllers (ClMapCanvas *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  GtkEventController *motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (widget, motion);

  GtkGesture *drag = gtk_gesture_drag_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (drag), GDK_BUTTON_PRIMARY);
  g_signal_connect (drag, "drag-begin", G_CALLBACK (on_drag_begin), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (on_drag_update), self);
  g_signal_connect (drag, "drag-end", G_CALLBACK (on_drag_end), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (drag));

  GtkGesture *click = gtk_gesture_click_new ();
  g_signal_connect (click, "released", G_CALLBACK (on_click_released), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (click));

  GtkEventController *scroll = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_BOTH_AXES);
  g_signal_connect (scroll, "scroll", G_CALLBACK (on_scroll), self);
  gtk_widget_add_controller (widget, scroll);

  GtkGesture *zoom = gtk_gesture_zoom_new ();
  g_signal_connect (zoom, "begin", G_CALLBACK (on_zoom_begin), self);
  g_signal_connect (zoom, "scale-changed", G_CALLBACK (on_zoom_scale_changed), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (zoom));

  gtk_widget_set_has_tooltip (widget, TRUE);
  g_signal_connect (widget, "query-tooltip", G_CALLBACK (on_query_tooltip), NULL);
}

/* ---------------------------------------------------------------- actions */

static void
action_zoom (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClMapCanvas *self = CL_MAP_CANVAS (widget);
  double factor = g_str_equal (action_name, "canvas.zoom-in") ? ZOOM_STEP : 1 / ZOOM_STEP;

  zoom_at (self, factor, gtk_widget_get_width (widget) / 2.0, gtk_widget_get_height (widget) / 2.0);
}

static void
action_zoom_fit (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  zoom_fit (CL_MAP_CANVAS (widget));
}

static void
action_pan (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  double dx, dy;

  g_variant_get (parameter, "(dd)", &dx, &dy);
  pan_by (CL_MAP_CANVAS (widget), dx, dy);
}

static void
action_select_rect (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  double x, y, width, height;

  g_variant_get (parameter, "(dddd)", &x, &y, &width, &height);
  cl_map_canvas_select_rect (CL_MAP_CANVAS (widget), &GRAPHENE_RECT_INIT (x, y, width, height));
}

static void
action_select_lasso (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  g_autoptr (GArray) path = g_array_new (FALSE, FALSE, sizeof (graphene_point_t));
  GVariantIter iter;
  double x, y;

  g_variant_iter_init (&iter, parameter);
  while (g_variant_iter_next (&iter, "(dd)", &x, &y))
    g_array_append_val (path, GRAPHENE_POINT_INIT (x, y));
  cl_map_canvas_select_lasso (CL_MAP_CANVAS (widget), (const graphene_point_t *) path->data, path->len);
}

static void
action_clear_selection (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClMapCanvas *self = CL_MAP_CANVAS (widget);

  selection_clear (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_SELECTED]);
  cl_map_canvas_set_selected (self, -1);
  gtk_widget_queue_draw (widget);
}

static void
add_bindings (GtkWidgetClass *widget_class)
{
  static const struct { guint key; double dx, dy; } pans[] = {
    { GDK_KEY_Left, PAN_STEP, 0 }, { GDK_KEY_Right, -PAN_STEP, 0 },
    { GDK_KEY_Up, 0, PAN_STEP }, { GDK_KEY_Down, 0, -PAN_STEP },
  };
  for (guint i = 0; i < G_N_ELEMENTS (pans); i++)
    gtk_widget_class_add_binding_action (widget_class, pans[i].key, 0, "canvas.pan", "(dd)", pans[i].dx, pans[i].dy);
  static const guint zoom_in[] = { GDK_KEY_plus, GDK_KEY_equal, GDK_KEY_KP_Add };
  static const guint zoom_out[] = { GDK_KEY_minus, GDK_KEY_KP_Subtract };
  for (guint i = 0; i < G_N_ELEMENTS (zoom_in); i++)
    gtk_widget_class_add_binding_action (widget_class, zoom_in[i], 0, "canvas.zoom-in", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (zoom_out); i++)
    gtk_widget_class_add_binding_action (widget_class, zoom_out[i], 0, "canvas.zoom-out", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_0, 0, "canvas.zoom-fit", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_0, 0, "canvas.zoom-fit", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "canvas.clear-selection", NULL);
}

/* ---------------------------------------------------------------- GObject */

static void
cl_map_canvas_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  ClMapCanvas *self = CL_MAP_CANVAS (widget);

  /* Still fitted: it stays fitted as the window is resized. */
  if (self->needs_fit || self->scale == self->fit_scale)
    zoom_fit (self);
}

static void
cl_map_canvas_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClMapCanvas *self = CL_MAP_CANVAS (object);

  switch (prop_id)
    {
    case PROP_SELECTED:
      g_value_set_int (value, self->selected);
      break;
    case PROP_N_SELECTED:
      g_value_set_uint (value, self->selection->len);
      break;
    case PROP_N_POINTS:
      g_value_set_uint (value, self->n);
      break;
    case PROP_SCALE:
      g_value_set_double (value, self->scale);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_map_canvas_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_SELECTED:
      cl_map_canvas_set_selected (CL_MAP_CANVAS (object), g_value_get_int (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_map_canvas_dispose (GObject *object)
{
  ClMapCanvas *self = CL_MAP_CANVAS (object);

  clear_points (self);
  g_clear_object (&self->thumbnailer);
  G_OBJECT_CLASS (cl_map_canvas_parent_class)->dispose (object);
}

static void
cl_map_canvas_finalize (GObject *object)
{
  ClMapCanvas *self = CL_MAP_CANVAS (object);

  g_array_unref (self->selection);
  g_array_unref (self->lasso);
  g_hash_table_unref (self->thumbs);
  g_free (self->palette);
  G_OBJECT_CLASS (cl_map_canvas_parent_class)->finalize (object);
}

static void
cl_map_canvas_class_init (ClMapCanvasClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cl_map_canvas_dispose;
  object_class->finalize = cl_map_canvas_finalize;
  object_class->get_property = cl_map_canvas_get_property;
  object_class->set_property = cl_map_canvas_set_property;
  widget_class->snapshot = cl_map_canvas_snapshot;
  widget_class->size_allocate = cl_map_canvas_size_allocate;
  const GParamFlags read_only = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  properties[PROP_SELECTED] = g_param_spec_int ("selected", NULL, NULL, -1, G_MAXINT, -1,
                                                G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_SELECTED] = g_param_spec_uint ("n-selected", NULL, NULL, 0, G_MAXUINT, 0, read_only);
  properties[PROP_N_POINTS] = g_param_spec_uint ("n-points", NULL, NULL, 0, G_MAXUINT, 0, read_only);
  properties[PROP_SCALE] = g_param_spec_double ("scale", NULL, NULL, 0, G_MAXDOUBLE, 1, read_only);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_install_action (widget_class, "canvas.zoom-in", NULL, action_zoom);
  gtk_widget_class_install_action (widget_class, "canvas.zoom-out", NULL, action_zoom);
  gtk_widget_class_install_action (widget_class, "canvas.zoom-fit", NULL, action_zoom_fit);
  gtk_widget_class_install_action (widget_class, "canvas.pan", "(dd)", action_pan);
  gtk_widget_class_install_action (widget_class, "canvas.select-rect", "(dddd)", action_select_rect);
  gtk_widget_class_install_action (widget_class, "canvas.select-lasso", "a(dd)", action_select_lasso);
  gtk_widget_class_install_action (widget_class, "canvas.clear-selection", NULL, action_clear_selection);
  add_bindings (widget_class);
  gtk_widget_class_set_css_name (widget_class, "mapcanvas");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
cl_map_canvas_init (ClMapCanvas *self)
{
  self->selection = g_array_new (FALSE, FALSE, sizeof (guint));
  self->lasso = g_array_new (FALSE, FALSE, sizeof (graphene_point_t));
  self->thumbs = g_hash_table_new (NULL, NULL);
  self->selected = self->hovered = -1;
  self->scale = self->fit_scale = 1;
  self->needs_fit = TRUE;
  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);
  add_controllers (self);
}

GtkWidget *
cl_map_canvas_new (void)
{
  return g_object_new (CL_TYPE_MAP_CANVAS, NULL);
}
