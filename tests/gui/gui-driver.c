/* gui-driver.c — drives the real ClipLab application in its own process from a script of steps, for
 * the GUI tests and the GUI latency benchmark (gui-app.h runs it).
 *
 * `cliplab-gui-driver SCRIPT.json [APPLICATION ARGUMENTS…]` is the application's code (the
 * `cliplab-app` library) with this driver in place of its main (): it starts ClApplication with the
 * arguments and, once the window is shown, runs the steps of SCRIPT ({"output-dir": DIR, "steps":
 * [{"do": NAME, …}, …]}).  Each step is a row of `steps` below: its name, a start that acts on the
 * application as a user or an accessibility tool could (actions, properties, widgets found by their
 * template id, key presses delivered to shortcuts, the text of the real entries), a poll that returns
 * TRUE once what the step waits for is there (adding what is shown to the step's report), and how
 * long it may wait.  Each step prints one JSON object on standard output; the last line is {"done":
 * true, "status": 0|1, "error": …}.
 *
 * Every report holds "start_us" and "wall_us" (real time when the step started and ended) and
 * "latency": how long the main loop kept events waiting during the step (gui-latency-monitor.h).
 * Steps about what is on screen end at the frame that shows it: "wait-first-frame" reports
 * "first_frame_us", "view" ends once the view has been painted, "wait-grid" and
 * "wait-visible-thumbnails" at the frame in which the Browse grid shows items, and every visible
 * item's thumbnail.  "drag" is real pointer input: xdotool moves the X server's pointer (XTest), as
 * GTK 4 has no public way to make a GdkEvent. */
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <gdk/x11/gdkx.h>
#include <json-glib/json-glib.h>

#include "cl-application.h"
#include "cl-browse-view.h"
#include "cl-classify-view.h"
#include "cl-cleanup-model.h"
#include "cl-cleanup-view.h"
#include "cl-image-grid.h"
#include "cl-loss-chart.h"
#include "cl-map-canvas.h"
#include "cl-map-view.h"
#include "cl-model-chooser.h"
#include "cl-search-view.h"
#include "cl-thread-priority.h"
#include "cl-train-view.h"
#include "cl-window.h"
#include "gui-latency-monitor.h"

#define POLL_MS          20
#define DEFAULT_TIMEOUT  60      /* seconds a step may wait */
#define SCREENSHOT_DELAY 400     /* ms: transitions and thumbnails settle */
#define PROBE_MS         5       /* period of the latency probe */
#define COMPUTE_NICENESS 10      /* as the application's main () sets it */

typedef struct _Driver Driver;

/* Acts for the step (may add to its report); FALSE fails the run with *error set. */
typedef gboolean (*StepStart) (Driver *driver, JsonBuilder *report);
/* TRUE when the step is finished (its report is complete). */
typedef gboolean (*StepPoll) (Driver *driver, JsonBuilder *report);

typedef enum {
  STEP_WAIT_OPTIONAL = 1 << 0,   /* "wait": false in the script ends the step once started */
  STEP_ON_FRAME      = 1 << 1,   /* polled in the frame clock's after-paint too, where driver->painted
                                  * is TRUE: what the poll sees is on screen */
} StepFlags;

typedef struct {
  const char *name;              /* the script's "do" */
  StepStart start;               /* NULL: nothing to do */
  StepPoll poll;                 /* NULL: done once started */
  int delay_ms;                  /* before the first poll (the script's "delay" overrides it) */
  double timeout_s;              /* the longest wait after the delay (the script's "timeout" overrides it) */
  StepFlags flags;
} StepDef;

struct _Driver {
  ClApplication *application;
  ClWindow *window;
  ClSession *session;
  JsonNode *root;
  JsonArray *steps;
  char *output_dir;
  guint index;
  JsonObject *step;              /* the script's current step */
  const StepDef *def;            /* its row of the table; NULL between steps */
  JsonBuilder *report;
  gint64 deadline;
  gint64 not_before;
  char *target_path;             /* the folder an "open" step waits for */
  GtkWindow *dialog;             /* the model dialog a "load-model" step uses */
  guint source;
  GuiLatencyMonitor *latency;    /* reset at the start of every step */
  gint64 first_frame_us;         /* real time the window's first frame was painted; 0 before */
  GdkFrameClock *frame_clock;    /* the window's */
  gboolean painted;              /* in the frame clock's after-paint: what the grid shows is on screen */
  gulong paint_handler;
  gboolean finished;
  gboolean close_window;         /* the run ends by closing the window, as the user quits */
  int status;
  guint wheel_source;            /* a "wheel" step's clicks */
  gboolean pointer_busy;         /* a "drag" step's xdotool is still moving the pointer */
  int wheel_left;
  gint64 page_shown_us;          /* a "grid-pass" step: when the current page was scrolled to */
  guint pass_pages;
  guint pan_frames_left;         /* a "map-pan" step: frames still to pan */
  GArray *pan_frame_us;          /* gint64: the frame clock's time of each panned frame */
  GArray *pan_paint_us;          /* gint64: how long each of their paints took */
  GArray *pan_cpu_us;            /* gint64: the main thread's CPU time in each */
  gint64 paint_start_us;
  gint64 paint_start_cpu_us;
};

static void next_step (Driver *driver);

/* ---------------------------------------------------------------- reports */

static void
add_string (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

static void
add_double (JsonBuilder *b, const char *name, double value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_double_value (b, value);
}

static void
add_boolean (JsonBuilder *b, const char *name, gboolean value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_boolean_value (b, value);
}

static void
emit (JsonBuilder *builder)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) node = json_builder_get_root (builder);
  json_generator_set_root (generator, node);
  g_autofree char *text = json_generator_to_data (generator, NULL);
  fprintf (stdout, "%s\n", text);
  fflush (stdout);
}

/* Reports the end of the run and quits the application. */
static void
finish (Driver *driver, int status, const char *error)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  add_boolean (builder, "done", TRUE);
  add_int (builder, "status", status);
  if (error != NULL)
    add_string (builder, "error", error);
  json_builder_end_object (builder);
  emit (builder);

  driver->finished = TRUE;
  driver->status = status;
  driver->def = NULL;
  g_clear_handle_id (&driver->source, g_source_remove);
  g_clear_handle_id (&driver->wheel_source, g_source_remove);
  if (driver->frame_clock != NULL)
    g_clear_signal_handler (&driver->paint_handler, driver->frame_clock);
  g_clear_object (&driver->frame_clock);
  g_clear_object (&driver->report);
  /* Closing the window finalizes it and its views (where GTK warns about what is left over). */
  if (driver->close_window)
    gtk_window_destroy (GTK_WINDOW (driver->window));
  g_application_quit (G_APPLICATION (driver->application));
}

static const char *
step_string (Driver *driver, const char *member, const char *fallback)
{
  return json_object_has_member (driver->step, member) ? json_object_get_string_member (driver->step, member)
                                                       : fallback;
}

static gint64
step_int (Driver *driver, const char *member)
{
  return json_object_get_int_member (driver->step, member);
}

/* ---------------------------------------------------------------- finding widgets */

/* The widget under ROOT (ROOT included) whose template id or widget name is ID, or NULL. */
static GtkWidget *
find_widget (GtkWidget *root, const char *id)
{
  if (g_strcmp0 (gtk_buildable_get_buildable_id (GTK_BUILDABLE (root)), id) == 0
      || g_strcmp0 (gtk_widget_get_name (root), id) == 0)
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_widget (child, id);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* The first widget of TYPE under ROOT (ROOT included), depth first, or NULL. */
static GtkWidget *
find_type (GtkWidget *root, GType type)
{
  if (g_type_is_a (G_OBJECT_TYPE (root), type))
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_type (child, type);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* The first widget under ROOT (ROOT included) with the style class NAME, or NULL. */
static GtkWidget *
find_css_class (GtkWidget *root, const char *name)
{
  if (gtk_widget_has_css_class (root, name))
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_css_class (child, name);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* A widget ROOT's template names; one that is missing is a broken template. */
static GtkWidget *
named (gpointer root, const char *id)
{
  GtkWidget *widget = find_widget (GTK_WIDGET (root), id);
  if (widget == NULL)
    g_error ("%s has no widget “%s”", G_OBJECT_TYPE_NAME (root), id);
  return widget;
}

static GtkWidget *
window_widget (Driver *driver, const char *id)
{
  return named (driver->window, id);
}

/* The page a stack of ROOT's template shows. */
static const char *
stack_page (gpointer root, const char *id)
{
  return gtk_stack_get_visible_child_name (GTK_STACK (named (root, id)));
}

static gboolean
get_boolean (gpointer object, const char *property)
{
  gboolean value = FALSE;
  g_object_get (object, property, &value, NULL);
  return value;
}

static double
get_double (gpointer object, const char *property)
{
  double value = 0;
  g_object_get (object, property, &value, NULL);
  return value;
}

static const char *
label_text (GtkWidget *label)
{
  return gtk_label_get_label (GTK_LABEL (label));
}

/* ---------------------------------------------------------------- what the window shows */

static void
report_error_bar (Driver *driver, JsonBuilder *b)
{
  json_builder_set_member_name (b, "error_bar");
  if (!gtk_info_bar_get_revealed (GTK_INFO_BAR (window_widget (driver, "error_bar"))))
    {
      json_builder_add_null_value (b);
      return;
    }
  json_builder_begin_object (b);
  add_string (b, "title", label_text (window_widget (driver, "error_title")));
  add_string (b, "detail", label_text (window_widget (driver, "error_detail")));
  json_builder_end_object (b);
}

static void
report_model (Driver *driver, JsonBuilder *b)
{
  static const char *const states[] = { "none", "loading", "ready" };
  const ClModelInfo *info = cl_session_get_model_info (driver->session);
  gboolean notice = gtk_info_bar_get_revealed (GTK_INFO_BAR (window_widget (driver, "model_bar")));

  add_string (b, "model_state", states[cl_session_get_model_state (driver->session)]);
  add_string (b, "model_label", label_text (window_widget (driver, "model_label")));
  add_string (b, "model_path", info != NULL ? info->path : NULL);
  add_string (b, "model_precision", info != NULL ? clip_precision_name (info->precision) : NULL);
  add_string (b, "model_notice", notice ? label_text (window_widget (driver, "model_bar_label")) : NULL);
}

static ClBrowseView *
browse_view (Driver *driver)
{
  return CL_BROWSE_VIEW (cl_window_get_view (driver->window, "browse"));
}

static ClClassifyView *
classify_view (Driver *driver)
{
  return CL_CLASSIFY_VIEW (cl_window_get_view (driver->window, "classify"));
}

static ClSearchView *
search_view (Driver *driver)
{
  return CL_SEARCH_VIEW (cl_window_get_view (driver->window, "search"));
}

static ClTrainView *
train_view (Driver *driver)
{
  return CL_TRAIN_VIEW (cl_window_get_view (driver->window, "train"));
}

/* The grid view of the Browse view's image grid. */
static GtkWidget *
browse_grid (Driver *driver)
{
  return find_type (GTK_WIDGET (browse_view (driver)), GTK_TYPE_GRID_VIEW);
}

/* Selects the item at POSITION of a view's grid as a click would, and scrolls to it. */
static void
select_in_grid (gpointer view, guint position)
{
  GtkWidget *grid = find_type (GTK_WIDGET (view), GTK_TYPE_GRID_VIEW);

  gtk_widget_activate_action (grid, "list.select-item", "(ubb)", position, FALSE, FALSE);
  gtk_widget_activate_action (grid, "list.scroll-to-item", "u", position);
}

/* The cells of GRID on screen (in its scrolled window) now, and how many of them show their
 * thumbnail (or that it cannot be made). */
static void
count_visible_cells (GtkWidget *grid, GtkWidget *widget, guint *n_visible, guint *n_filled)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      ClImageItem *item = CL_IS_IMAGE_CELL (child) ? cl_image_cell_get_item (CL_IMAGE_CELL (child)) : NULL;
      GtkWidget *scroller = gtk_widget_get_ancestor (grid, GTK_TYPE_SCROLLED_WINDOW);
      graphene_rect_t bounds;
      if (item == NULL)
        {
          count_visible_cells (grid, child, n_visible, n_filled);
          continue;
        }
      if (!gtk_widget_get_mapped (child) || !gtk_widget_compute_bounds (child, scroller, &bounds)
          || !graphene_rect_intersection (&bounds, &GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (scroller),
                                                                         gtk_widget_get_height (scroller)), NULL))
        continue;
      (*n_visible)++;
      if (cl_image_item_get_thumbnail (item) != NULL || cl_image_item_get_thumbnail_failed (item))
        (*n_filled)++;
    }
}

static void
count_visible (Driver *driver, guint *n_visible, guint *n_filled)
{
  GtkWidget *grid = browse_grid (driver);

  *n_visible = *n_filled = 0;
  if (gtk_widget_get_mapped (grid))
    count_visible_cells (grid, grid, n_visible, n_filled);
}

/* The view named by the step's "view" (default: Browse). */
static GtkWidget *
step_view (Driver *driver)
{
  return cl_window_get_view (driver->window, step_string (driver, "view", "browse"));
}

/* Whether WIDGET is mapped and at least partly inside GRID's scrolled window. */
static gboolean
shown_in_scroller (GtkWidget *grid, GtkWidget *widget)
{
  GtkWidget *scroller = gtk_widget_get_ancestor (grid, GTK_TYPE_SCROLLED_WINDOW);
  graphene_rect_t bounds;

  return gtk_widget_get_mapped (widget) && gtk_widget_compute_bounds (widget, scroller, &bounds)
         && graphene_rect_intersection (&bounds, &GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (scroller),
                                                                       gtk_widget_get_height (scroller)), NULL);
}

/* The image cells under WIDGET that GRID shows on screen, in widget order. */
static void
collect_shown_cells (GtkWidget *grid, GtkWidget *widget, GPtrArray *cells)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      if (!CL_IS_IMAGE_CELL (child))
        collect_shown_cells (grid, child, cells);
      else if (cl_image_cell_get_item (CL_IMAGE_CELL (child)) != NULL && shown_in_scroller (grid, child))
        g_ptr_array_add (cells, child);
    }
}

/* The text LAYOUT shows: its first line, with "…" where Pango ellipsized it. */
static char *
layout_shown_text (PangoLayout *layout)
{
  const char *text = pango_layout_get_text (layout);
  PangoLayoutLine *line = pango_layout_get_line_readonly (layout, 0);
  GString *shown = g_string_new (NULL);

  for (GSList *l = line != NULL ? line->runs : NULL; l != NULL; l = l->next)
    {
      PangoGlyphItem *run = l->data;
      if (run->item->analysis.flags & PANGO_ANALYSIS_FLAG_IS_ELLIPSIS)
        g_string_append (shown, "…");
      else
        g_string_append_len (shown, text + run->item->offset, run->item->length);
    }
  return g_string_free (shown, FALSE);
}

/* What a GtkInscription draws: its text laid out in its width with its overflow mode. */
static char *
inscription_shown_text (GtkInscription *inscription)
{
  static const PangoEllipsizeMode modes[] = {
    [GTK_INSCRIPTION_OVERFLOW_CLIP] = PANGO_ELLIPSIZE_NONE,
    [GTK_INSCRIPTION_OVERFLOW_ELLIPSIZE_START] = PANGO_ELLIPSIZE_START,
    [GTK_INSCRIPTION_OVERFLOW_ELLIPSIZE_MIDDLE] = PANGO_ELLIPSIZE_MIDDLE,
    [GTK_INSCRIPTION_OVERFLOW_ELLIPSIZE_END] = PANGO_ELLIPSIZE_END,
  };
  const char *text = gtk_inscription_get_text (inscription);
  g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (GTK_WIDGET (inscription), text);

  pango_layout_set_width (layout, gtk_widget_get_width (GTK_WIDGET (inscription)) * PANGO_SCALE);
  pango_layout_set_ellipsize (layout, modes[gtk_inscription_get_text_overflow (inscription)]);
  return layout_shown_text (layout);
}

/* The text of the visible labels under WIDGET, as drawn, separated by spaces. */
static void
append_shown_labels (GString *shown, GtkWidget *widget)
{
  if (GTK_IS_LABEL (widget) && gtk_widget_get_visible (widget))
    {
      g_autofree char *text = layout_shown_text (gtk_label_get_layout (GTK_LABEL (widget)));
      g_string_append_printf (shown, "%s%s", shown->len > 0 ? " " : "", text);
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    append_shown_labels (shown, child);
}

/* The badge over a cell's thumbnail, as drawn ("" when it has none). */
static char *
badge_shown_text (GtkWidget *cell)
{
  GtkWidget *frame = find_type (cell, GTK_TYPE_OVERLAY);
  GString *shown = g_string_new (NULL);

  for (GtkWidget *child = gtk_widget_get_first_child (frame); child != NULL; child = gtk_widget_get_next_sibling (child))
    if (gtk_widget_has_css_class (child, "badge") && gtk_widget_get_visible (child))
      append_shown_labels (shown, child);
  return g_string_free (shown, FALSE);
}

/* Until a frame has been painted in which the grid of the step's view shows cells: what each
 * shows of its name and its badge. */
static gboolean
poll_cell_labels (Driver *driver, JsonBuilder *b)
{
  GtkWidget *grid = find_type (step_view (driver), GTK_TYPE_GRID_VIEW);
  g_autoptr (GPtrArray) cells = g_ptr_array_new ();

  if (!driver->painted)
    return FALSE;
  collect_shown_cells (grid, grid, cells);
  if (cells->len == 0)
    return FALSE;
  json_builder_set_member_name (b, "cells");
  json_builder_begin_array (b);
  for (guint i = 0; i < cells->len; i++)
    {
      GtkWidget *cell = cells->pdata[i];
      ClImageItem *item = cl_image_cell_get_item (CL_IMAGE_CELL (cell));
      g_autofree char *title = inscription_shown_text (GTK_INSCRIPTION (find_type (cell, GTK_TYPE_INSCRIPTION)));
      g_autofree char *badge = badge_shown_text (cell);
      json_builder_begin_object (b);
      add_string (b, "name", cl_image_item_get_name (item));
      add_string (b, "title_shown", title);
      add_string (b, "badge_shown", badge);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  return TRUE;
}

/* The context menu open in the image grid of the view shown, or NULL. */
static GtkPopoverMenu *
open_menu (Driver *driver)
{
  GtkWidget *page = gtk_stack_get_visible_child (GTK_STACK (window_widget (driver, "stack")));
  GtkWidget *grid = page != NULL ? find_type (page, CL_TYPE_IMAGE_GRID) : NULL;
  GtkWidget *menu = grid != NULL ? find_type (grid, GTK_TYPE_POPOVER_MENU) : NULL;
  return menu != NULL && gtk_widget_get_visible (menu) ? GTK_POPOVER_MENU (menu) : NULL;
}

/* The image cells under WIDGET, in the order of the widget tree. */
static void
collect_cells (GtkWidget *widget, GPtrArray *cells)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    if (CL_IS_IMAGE_CELL (child))
      g_ptr_array_add (cells, child);
    else
      collect_cells (child, cells);
}

static ClImageGrid *step_image_grid (Driver *driver);

/* ---------------------------------------------------------------- model and folder */

static gboolean
poll_model (Driver *driver, JsonBuilder *b)
{
  if (cl_session_get_model_state (driver->session) == CL_MODEL_STATE_LOADING)
    return FALSE;
  report_model (driver, b);
  report_error_bar (driver, b);
  return TRUE;
}

static gboolean
start_wait_open (Driver *driver, JsonBuilder *b)
{
  g_free (driver->target_path);
  driver->target_path = g_canonicalize_filename (step_string (driver, "path", ""), NULL);
  return TRUE;
}

/* Opens "path" as the Open dialogs do; a data set's relative paths start from "root" when given
 * (the image folder chosen in Open Data Set). */
static gboolean
start_open (Driver *driver, JsonBuilder *b)
{
  start_wait_open (driver, b);
  g_autoptr (GFile) file = g_file_new_for_path (driver->target_path);
  const char *root_path = step_string (driver, "root", NULL);
  g_autoptr (GFile) root = root_path != NULL ? g_file_new_for_path (root_path) : NULL;
  cl_session_open_with_image_root (driver->session, file, root);
  return TRUE;
}

static gboolean
poll_open (Driver *driver, JsonBuilder *b)
{
  gboolean failed = gtk_info_bar_get_revealed (GTK_INFO_BAR (window_widget (driver, "error_bar")));
  ClCollection *collection = cl_session_get_collection (driver->session);
  g_autofree char *path = collection != NULL ? g_file_get_path (cl_collection_get_file (collection)) : NULL;
  gboolean opened = g_strcmp0 (path, driver->target_path) == 0;

  if (cl_session_get_collection_loading (driver->session) || (!opened && !failed))
    return FALSE;
  add_int (b, "n_items", opened ? (gint64) cl_collection_get_n_items (collection) : -1);
  add_string (b, "page", stack_page (browse_view (driver), "stack"));
  report_error_bar (driver, b);
  return TRUE;
}

static gboolean
poll_first_frame (Driver *driver, JsonBuilder *b)
{
  if (driver->first_frame_us == 0)
    return FALSE;
  add_int (b, "first_frame_us", driver->first_frame_us);
  return TRUE;
}

/* The view named by the step, through the window's action (Alt+1 … Alt+5). */
static gboolean
start_view (Driver *driver, JsonBuilder *b)
{
  gtk_widget_activate_action (GTK_WIDGET (driver->window), "win.show-view", "s", step_string (driver, "name", "browse"));
  gtk_widget_queue_draw (GTK_WIDGET (driver->window));
  return TRUE;
}

/* Until a frame has been painted (STEP_ON_FRAME): what the step changed is on screen (and its cost is counted in
 * this step rather than the next one). */
static gboolean
poll_painted (Driver *driver, JsonBuilder *b)
{
  return driver->painted;
}

/* Selects the image at "index" of a view's grid once the grid is filtered and sorted. */
static gboolean
poll_select (Driver *driver, JsonBuilder *b)
{
  guint index = step_int (driver, "index");

  if (g_str_equal (step_string (driver, "view", "browse"), "classify")
      && get_boolean (classify_view (driver), "grid-pending"))
    return FALSE;
  select_in_grid (step_view (driver), index);
  return TRUE;
}

static gboolean
start_resize (Driver *driver, JsonBuilder *b)
{
  gtk_window_set_default_size (GTK_WINDOW (driver->window), step_int (driver, "width"), step_int (driver, "height"));
  return TRUE;
}

/* The run ends by closing the window rather than by quitting the application. */
static gboolean
start_close_window (Driver *driver, JsonBuilder *b)
{
  driver->close_window = TRUE;
  return TRUE;
}

static gboolean
start_set_style (Driver *driver, JsonBuilder *b)
{
  g_settings_set_string (cl_session_get_settings (driver->session), "style", step_string (driver, "style", "system"));
  return TRUE;
}

static gboolean
poll_error_bar (Driver *driver, JsonBuilder *b)
{
  report_error_bar (driver, b);
  report_model (driver, b);
  return TRUE;
}

/* ---------------------------------------------------------------- Browse */

static gboolean
poll_thumbnails (Driver *driver, JsonBuilder *b)
{
  ClThumbnailer *thumbnailer = cl_session_get_thumbnailer (driver->session);
  guint pending, from_cache, decoded, failed;

  g_object_get (thumbnailer, "n-pending", &pending, "n-from-cache", &from_cache, "n-decoded", &decoded,
                "n-failed", &failed, NULL);
  if (pending > 0 || get_boolean (browse_view (driver), "busy"))
    return FALSE;
  add_int (b, "from_cache", from_cache);
  add_int (b, "decoded", decoded);
  add_int (b, "failed", failed);
  return TRUE;
}

static gboolean
poll_browse (Driver *driver, JsonBuilder *b)
{
  ClBrowseView *view = browse_view (driver);

  if (get_boolean (view, "busy"))
    return FALSE;
  g_autoptr (GPtrArray) matches = cl_browse_view_get_caption_matches (view);
  add_string (b, "page", stack_page (view, "stack"));
  json_builder_set_member_name (b, "matches");
  json_builder_begin_array (b);
  for (guint i = 0; i < matches->len; i++)
    {
      ClCaptionMatch *match = matches->pdata[i];
      json_builder_begin_object (b);
      add_string (b, "caption", match->caption);
      add_double (b, "score", match->score);
      add_boolean (b, "own", match->own);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  ClImageItem *item = cl_session_get_selected_item (driver->session);
  add_string (b, "image", item != NULL ? cl_image_item_get_path (item) : NULL);
  return TRUE;
}

/* Until a frame of the Browse grid with items has been painted (STEP_ON_FRAME). */
static gboolean
poll_grid_shown (Driver *driver, JsonBuilder *b)
{
  guint n_visible, n_filled;

  if (!driver->painted)
    return FALSE;
  count_visible (driver, &n_visible, &n_filled);
  if (n_visible == 0)
    return FALSE;
  add_int (b, "n_visible", n_visible);
  add_int (b, "n_filled", n_filled);
  return TRUE;
}

/* Until a frame has been painted in which every cell the Browse grid shows has its thumbnail. */
static gboolean
poll_visible_thumbnails (Driver *driver, JsonBuilder *b)
{
  guint n_visible, n_filled;

  if (!driver->painted)
    return FALSE;
  count_visible (driver, &n_visible, &n_filled);
  if (n_visible == 0 || n_filled < n_visible)
    return FALSE;
  add_int (b, "n_visible", n_visible);
  add_int (b, "n_filled", n_filled);
  return TRUE;
}

/* ---------------------------------------------------------------- Classify */

static gboolean
poll_probs (Driver *driver, JsonBuilder *b)
{
  ClClassifyView *view = classify_view (driver);

  if (get_boolean (view, "live-busy"))
    return FALSE;
  ClProbBars *bars = CL_PROB_BARS (find_type (GTK_WIDGET (view), CL_TYPE_PROB_BARS));
  const char *hint = g_strcmp0 (stack_page (view, "probs_stack"), "bars") == 0 ? NULL
                     : label_text (named (view, "probs_hint"));
  guint n = hint == NULL ? cl_prob_bars_get_n_rows (bars) : 0;

  add_string (b, "hint", hint);
  json_builder_set_member_name (b, "rows");
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *shown = cl_prob_bars_format_value (cl_prob_bars_get_row_value (bars, i));
      json_builder_begin_object (b);
      add_string (b, "label", cl_prob_bars_get_row_label (bars, i));
      add_double (b, "value", cl_prob_bars_get_row_value (bars, i));
      add_string (b, "shown", shown);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  ClImageItem *item = cl_session_get_selected_item (driver->session);
  add_string (b, "image", item != NULL ? cl_image_item_get_path (item) : NULL);
  return TRUE;
}

static void
report_grid (JsonBuilder *b, GListModel *model)
{
  guint n = g_list_model_get_n_items (model);

  json_builder_set_member_name (b, "grid");
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (ClImageItem) item = g_list_model_get_item (model, i);
      json_builder_begin_object (b);
      add_string (b, "path", cl_image_item_get_path (item));
      add_string (b, "prediction", cl_image_item_get_prediction (item));
      add_double (b, "confidence", cl_image_item_get_confidence (item));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static void
report_shown_items (JsonBuilder *b, ClClassifyView *view)
{
  g_autoptr (GListModel) shown = NULL;

  g_object_get (view, "shown-items", &shown, NULL);
  report_grid (b, shown);
}

static gboolean
poll_folder (Driver *driver, JsonBuilder *b)
{
  ClClassifyView *view = classify_view (driver);
  g_autofree char *metrics = NULL;

  if (get_boolean (view, "folder-busy") || get_boolean (view, "grid-pending"))
    return FALSE;
  gint64 n_embedded = 0;
  g_object_get (view, "metrics-summary", &metrics, "n-embedded", &n_embedded, NULL);
  add_string (b, "summary", label_text (named (view, "folder_summary")));
  add_int (b, "n_embedded", n_embedded);
  add_string (b, "metrics", metrics);
  report_shown_items (b, view);
  report_error_bar (driver, b);
  return TRUE;
}

/* Until the Classify grid is filtered and sorted (and a frame shows it): its items, the selected
 * image and how far the grid is scrolled. */
static gboolean
poll_grid (Driver *driver, JsonBuilder *b)
{
  GtkWidget *grid = find_type (GTK_WIDGET (classify_view (driver)), GTK_TYPE_GRID_VIEW);
  ClImageItem *selected = cl_session_get_selected_item (driver->session);

  if (get_boolean (classify_view (driver), "grid-pending"))
    return FALSE;
  if (!driver->painted)
    {
      gtk_widget_queue_draw (GTK_WIDGET (driver->window));   /* the frame that shows it */
      return FALSE;
    }
  report_shown_items (b, classify_view (driver));
  add_string (b, "selected", selected != NULL ? cl_image_item_get_path (selected) : NULL);
  add_double (b, "scrolled", gtk_adjustment_get_value (gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (grid))));
  return TRUE;
}

/* The real text view's buffer: the same path as typing. */
static gboolean
start_set_classes (Driver *driver, JsonBuilder *b)
{
  GtkTextView *classes = GTK_TEXT_VIEW (named (classify_view (driver), "classes_view"));

  gtk_text_buffer_set_text (gtk_text_view_get_buffer (classes), step_string (driver, "text", ""), -1);
  return TRUE;
}

/* "Use the Labels as Class Names": the class names and the template preset it leaves. */
static gboolean
start_use_labels (Driver *driver, JsonBuilder *b)
{
  ClClassifyView *view = classify_view (driver);
  gtk_widget_activate_action (GTK_WIDGET (view), "classify.use-labels", NULL);
  GtkTextBuffer *classes = gtk_text_view_get_buffer (GTK_TEXT_VIEW (named (view, "classes_view")));
  GtkTextIter start, end;
  gtk_text_buffer_get_bounds (classes, &start, &end);
  g_autofree char *text = gtk_text_buffer_get_text (classes, &start, &end, FALSE);
  g_autofree char *preset = NULL;
  g_object_get (view, "template-preset", &preset, NULL);
  add_string (b, "classes", text);
  add_string (b, "template_preset", preset);
  return TRUE;
}

static gboolean
start_set_templates (Driver *driver, JsonBuilder *b)
{
  g_object_set (classify_view (driver), "template-preset", step_string (driver, "preset", "simple"), NULL);
  return TRUE;
}

/* The "Classify All Images" button's action (disabled, so doing nothing, while it cannot run: the
 * poll reports what is shown). */
static gboolean
start_classify_all (Driver *driver, JsonBuilder *b)
{
  gtk_widget_activate_action (GTK_WIDGET (classify_view (driver)), "classify.classify-all", NULL);
  return TRUE;
}

/* The Stop button's action (disabled, so doing nothing, when nothing runs). */
static gboolean
start_cancel_folder (Driver *driver, JsonBuilder *b)
{
  ClClassifyView *view = classify_view (driver);

  add_boolean (b, "was_running", get_boolean (view, "folder-busy"));
  gint64 start = g_get_monotonic_time ();
  gtk_widget_activate_action (GTK_WIDGET (view), "classify.stop", NULL);
  add_double (b, "cancel_ms", (g_get_monotonic_time () - start) / 1000.0);
  return TRUE;
}

static gboolean
start_filter (Driver *driver, JsonBuilder *b)
{
  g_object_set (classify_view (driver), "filter-class", step_string (driver, "class", NULL), NULL);
  return TRUE;
}

/* The Classify filter's confidence range ("min", "max", percent) and "only_disagreeing", where
 * the step gives them. */
static gboolean
start_classify_filters (Driver *driver, JsonBuilder *b)
{
  ClClassifyView *view = classify_view (driver);

  if (json_object_has_member (driver->step, "min"))
    g_object_set (view, "min-confidence", json_object_get_double_member (driver->step, "min"), NULL);
  if (json_object_has_member (driver->step, "max"))
    g_object_set (view, "max-confidence", json_object_get_double_member (driver->step, "max"), NULL);
  if (json_object_has_member (driver->step, "only_disagreeing"))
    g_object_set (view, "only-disagreeing", json_object_get_boolean_member (driver->step, "only_disagreeing"), NULL);
  return TRUE;
}

/* The counts the filter's drop-down holds for each choice, and the one its button shows. */
static gboolean
start_class_counts (Driver *driver, JsonBuilder *b)
{
  ClClassifyView *view = classify_view (driver);
  GtkDropDown *dropdown = GTK_DROP_DOWN (named (view, "filter_dropdown"));
  GListModel *choices = gtk_drop_down_get_model (dropdown);
  GtkWidget *shown = find_css_class (GTK_WIDGET (dropdown), "numeric");

  json_builder_set_member_name (b, "counts");
  json_builder_begin_object (b);
  for (guint i = 0; i < g_list_model_get_n_items (choices); i++)
    {
      const char *name = gtk_string_list_get_string (GTK_STRING_LIST (choices), i);
      add_int (b, name, cl_classify_view_get_class_count (view, i == 0 ? NULL : name));
    }
  json_builder_end_object (b);
  add_string (b, "button_count", shown != NULL ? label_text (shown) : NULL);
  return TRUE;
}

static gboolean
start_sort (Driver *driver, JsonBuilder *b)
{
  g_object_set (classify_view (driver), "sort-by-confidence",
                g_str_equal (step_string (driver, "by", "name"), "confidence"), NULL);
  return TRUE;
}

/* The switcher above the grid: the metrics page or the images. */
static gboolean
start_show_metrics (Driver *driver, JsonBuilder *b)
{
  gboolean show = json_object_get_boolean_member (driver->step, "show");
  gtk_stack_set_visible_child_name (GTK_STACK (named (classify_view (driver), "center_stack")),
                                    show ? "metrics" : "images");
  return TRUE;
}

static gboolean
start_export (Driver *driver, JsonBuilder *b)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GFile) file = g_file_new_for_path (step_string (driver, "path", ""));
  gboolean ok = cl_classify_view_export_to_file (classify_view (driver), file, &error);

  add_boolean (b, "ok", ok);
  add_string (b, "error", ok ? NULL : error->message);
  return TRUE;
}

/* What the Save dialog of Export shows (its title, folder and proposed name), then what choosing
 * "path" there does: once saved, the toast. */
static gboolean
start_export_save (Driver *driver, JsonBuilder *b)
{
  g_autofree char *title = NULL, *name = NULL;
  g_autoptr (GFile) folder = NULL;
  g_autoptr (GFile) file = g_file_new_for_path (step_string (driver, "path", ""));

  g_object_get (classify_view (driver), "export-title", &title, "export-folder", &folder, "export-name", &name, NULL);
  g_autofree char *folder_path = g_file_get_path (folder);
  add_string (b, "dialog_title", title);
  add_string (b, "dialog_folder", folder_path);
  add_string (b, "dialog_name", name);
  gtk_revealer_set_reveal_child (GTK_REVEALER (window_widget (driver, "toast_revealer")), FALSE);
  cl_classify_view_export_to (classify_view (driver), file);
  return TRUE;
}

/* Until a frame shows the toast, its transition over: its message (how it is laid out) and buttons. */
static gboolean
poll_toast (Driver *driver, JsonBuilder *b)
{
  if (!driver->painted || !gtk_revealer_get_child_revealed (GTK_REVEALER (window_widget (driver, "toast_revealer"))))
    return FALSE;
  GtkWidget *label = window_widget (driver, "toast_label");
  add_string (b, "toast", label_text (label));
  add_boolean (b, "toast_ellipsized", pango_layout_is_ellipsized (gtk_label_get_layout (GTK_LABEL (label))));
  add_int (b, "toast_lines", pango_layout_get_line_count (gtk_label_get_layout (GTK_LABEL (label))));
  json_builder_set_member_name (b, "toast_buttons");
  json_builder_begin_array (b);
  for (GtkWidget *w = gtk_widget_get_next_sibling (label); w != NULL; w = gtk_widget_get_next_sibling (w))
    if (GTK_IS_BUTTON (w) && gtk_widget_get_visible (w) && gtk_button_get_label (GTK_BUTTON (w)) != NULL)
      json_builder_add_string_value (b, gtk_button_get_label (GTK_BUTTON (w)));
  json_builder_end_array (b);
  report_error_bar (driver, b);
  return TRUE;
}

/* A toast button, by its action ("open-toast-file", "show-toast-file"). */
static gboolean
start_toast_action (Driver *driver, JsonBuilder *b)
{
  g_autofree char *action = g_strconcat ("win.", step_string (driver, "action", ""), NULL);
  return gtk_widget_activate_action (GTK_WIDGET (driver->window), action, NULL);
}

/* ---------------------------------------------------------------- Clean Up */

static int
compare_name_pointers (const char *const *a, const char *const *b)
{
  return strcmp (*a, *b);
}

static ClCleanupView *
cleanup_view (Driver *driver)
{
  return CL_CLEANUP_VIEW (cl_window_get_view (driver->window, "cleanup"));
}

/* What the Clean Up view shows: its status, the groups (each member's path, size and dimensions),
 * the label issues and the corrected CSV. */
static void
report_cleanup (Driver *driver, JsonBuilder *b)
{
  ClCleanupView *view = cleanup_view (driver);
  g_autoptr (GListModel) groups = NULL;
  g_autoptr (GListModel) issues = NULL;
  g_autofree char *status = NULL;
  g_autofree char *corrected = NULL;

  g_object_get (view, "groups", &groups, "issues", &issues, "status", &status, "corrected-path", &corrected, NULL);
  double threshold = 0;
  g_object_get (view, "threshold", &threshold, NULL);
  add_double (b, "threshold", threshold);
  add_string (b, "status", status);
  add_string (b, "corrected_path", corrected);
  json_builder_set_member_name (b, "groups");
  json_builder_begin_array (b);
  for (guint g = 0; g < g_list_model_get_n_items (groups); g++)
    {
      g_autoptr (ClDuplicateGroup) group = g_list_model_get_item (groups, g);
      json_builder_begin_object (b);
      add_boolean (b, "exact", cl_duplicate_group_get_exact (group));
      json_builder_set_member_name (b, "members");
      json_builder_begin_array (b);
      for (guint m = 0; m < cl_duplicate_group_get_n_members (group); m++)
        {
          const ClDuplicateMember *member = cl_duplicate_group_get_member (group, m);
          if (cl_session_is_trashed (driver->session, member->path))
            continue;   /* the view shows the images left */
          json_builder_begin_object (b);
          add_string (b, "path", member->path);
          add_int (b, "size", member->size);
          add_int (b, "width", member->width);
          add_int (b, "height", member->height);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "issues");
  json_builder_begin_array (b);
  for (guint i = 0; i < g_list_model_get_n_items (issues); i++)
    {
      g_autoptr (ClLabelIssue) issue = g_list_model_get_item (issues, i);
      json_builder_begin_object (b);
      add_string (b, "path", cl_label_issue_get_path (issue));
      add_string (b, "label", cl_label_issue_get_label (issue));
      add_string (b, "suggested", cl_label_issue_get_suggested (issue));
      add_double (b, "score", cl_label_issue_get_score (issue));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  /* the run's own trash ($XDG_DATA_HOME/Trash), file names sorted */
  g_autofree char *trash = g_build_filename (g_get_user_data_dir (), "Trash", "files", NULL);
  g_autoptr (GDir) dir = g_dir_open (trash, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (const char *name; dir != NULL && (name = g_dir_read_name (dir)) != NULL;)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) compare_name_pointers);
  json_builder_set_member_name (b, "trash_files");
  json_builder_begin_array (b);
  for (guint i = 0; i < names->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (names, i));
  json_builder_end_array (b);
  report_error_bar (driver, b);
}

/* "name" (duplicates or labels): the panel shown. */
static gboolean
start_cleanup_panel (Driver *driver, JsonBuilder *b)
{
  gtk_stack_set_visible_child_name (GTK_STACK (named (cleanup_view (driver), "panels")),
                                    step_string (driver, "name", "duplicates"));
  return TRUE;
}

/* "threshold" and "corrected_target" (optional) set the view's, then "cleanup.find" recomputes both
 * panels. */
static gboolean
start_cleanup_find (Driver *driver, JsonBuilder *b)
{
  ClCleanupView *view = cleanup_view (driver);

  if (json_object_has_member (driver->step, "threshold"))
    g_object_set (view, "threshold", json_object_get_double_member (driver->step, "threshold"), NULL);
  /* what Save Corrected Copy As… sets once its dialog is answered */
  if (json_object_has_member (driver->step, "corrected_target"))
    g_object_set (view, "corrected-target", step_string (driver, "corrected_target", NULL), NULL);
  return gtk_widget_activate_action (GTK_WIDGET (view), "cleanup.find", NULL);
}

static gboolean
poll_cleanup (Driver *driver, JsonBuilder *b)
{
  if (get_boolean (cleanup_view (driver), "busy"))
    return FALSE;
  report_cleanup (driver, b);
  return TRUE;
}

/* A row's button: "action" is keep, accept or dismiss, "path" the image it names. */
static gboolean
start_cleanup_action (Driver *driver, JsonBuilder *b)
{
  g_autofree char *action = g_strconcat ("cleanup.", step_string (driver, "action", ""), NULL);
  return gtk_widget_activate_action (GTK_WIDGET (cleanup_view (driver)), action, "s", step_string (driver, "path", ""));
}

/* ---------------------------------------------------------------- layout */

static void
collect_pane_widgets (GtkWidget *widget, GPtrArray *panes)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      if (CL_IS_IMAGE_GRID (child) || gtk_widget_has_css_class (child, "sidebar-pane")
          || gtk_widget_has_css_class (child, "details-pane"))
        g_ptr_array_add (panes, child);
      else
        collect_pane_widgets (child, panes);
    }
}

/* WIDGET's bounds in the window, or null when it is not shown. */
static void
report_bounds (Driver *driver, JsonBuilder *b, const char *name, GtkWidget *widget)
{
  graphene_rect_t bounds;

  json_builder_set_member_name (b, name);
  if (widget == NULL || !gtk_widget_get_mapped (widget)
      || !gtk_widget_compute_bounds (widget, GTK_WIDGET (driver->window), &bounds))
    {
      json_builder_add_null_value (b);
      return;
    }
  int minimum = 0;
  gtk_widget_measure (widget, GTK_ORIENTATION_HORIZONTAL, -1, &minimum, NULL, NULL, NULL);
  json_builder_begin_object (b);
  add_double (b, "x", bounds.origin.x);
  add_double (b, "width", bounds.size.width);
  add_int (b, "min_width", minimum);
  json_builder_end_object (b);
}

/* Once a frame has been painted: the window's width and its smallest, and where the view's panes and
 * the probability bars are. */
static gboolean
poll_layout (Driver *driver, JsonBuilder *b)
{
  GtkWidget *view = gtk_stack_get_visible_child (GTK_STACK (window_widget (driver, "stack")));
  g_autoptr (GPtrArray) panes = g_ptr_array_new ();
  int minimum = 0;

  if (!driver->painted)
    return FALSE;
  gtk_widget_measure (GTK_WIDGET (driver->window), GTK_ORIENTATION_HORIZONTAL, -1, &minimum, NULL, NULL, NULL);
  add_int (b, "window_width", gtk_widget_get_width (GTK_WIDGET (driver->window)));
  add_int (b, "window_min_width", minimum);
  collect_pane_widgets (view, panes);
  json_builder_set_member_name (b, "panes");
  json_builder_begin_object (b);
  for (guint i = 0; i < panes->len; i++)
    {
      GtkWidget *pane = panes->pdata[i];
      report_bounds (driver, b, CL_IS_IMAGE_GRID (pane) ? "grid"
                                : gtk_widget_has_css_class (pane, "sidebar-pane") ? "sidebar" : "details", pane);
    }
  json_builder_end_object (b);
  report_bounds (driver, b, "prob_bars", find_type (view, CL_TYPE_PROB_BARS));
  return TRUE;
}

/* ---------------------------------------------------------------- dialogs */

static GtkWindow *
topmost_dialog (Driver *driver)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  GtkWindow *found = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr (GtkWindow) window = g_list_model_get_item (toplevels, i);
      if (window != GTK_WINDOW (driver->window) && gtk_widget_get_visible (GTK_WIDGET (window))
          && gtk_widget_get_mapped (GTK_WIDGET (window)))
        found = window;
    }
  return found;
}

/* The model dialog, opened with the window's action (Ctrl+M) unless it is open. */
static ClModelChooser *
model_chooser (Driver *driver)
{
  if (driver->dialog == NULL || !CL_IS_MODEL_CHOOSER (driver->dialog))
    {
      GListModel *toplevels = gtk_window_get_toplevels ();
      gtk_widget_activate_action (GTK_WIDGET (driver->window), "win.choose-model", NULL);
      driver->dialog = NULL;
      for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
        {
          g_autoptr (GtkWindow) window = g_list_model_get_item (toplevels, i);
          if (CL_IS_MODEL_CHOOSER (window) && gtk_widget_get_visible (GTK_WIDGET (window)))
            driver->dialog = window;
        }
      g_assert (driver->dialog != NULL);
    }
  return CL_MODEL_CHOOSER (driver->dialog);
}

/* Opens the dialog's options and types the tokenizer into its entry, then loads the model as
 * choosing its file does. */
static gboolean
start_load_model (Driver *driver, JsonBuilder *b)
{
  GtkWidget *chooser = GTK_WIDGET (model_chooser (driver));

  gtk_expander_set_expanded (GTK_EXPANDER (named (chooser, "options_expander")), TRUE);
  gtk_editable_set_text (GTK_EDITABLE (named (chooser, "tokenizer_entry")), step_string (driver, "tokenizer", ""));
  return gtk_widget_activate_action (chooser, "chooser.load", "s", step_string (driver, "path", ""));
}

static gboolean
poll_load_model (Driver *driver, JsonBuilder *b)
{
  GtkWidget *error = named (driver->dialog, "error_label");

  if (get_boolean (driver->dialog, "busy"))
    return FALSE;
  add_string (b, "chooser_error", gtk_widget_get_visible (error) ? label_text (error) : NULL);
  report_model (driver, b);
  report_error_bar (driver, b);
  return TRUE;
}

/* ---------------------------------------------------------------- Get Models */

/* The model dialog's Get Models page, shown. */
static GtkWidget *
hub_page (Driver *driver)
{
  GtkWidget *chooser = GTK_WIDGET (model_chooser (driver));
  gtk_stack_set_visible_child_name (GTK_STACK (named (chooser, "pages")), "get");
  return named (chooser, "hub_page");
}

/* The page's properties and its lists: "hub_titles" are the repository ids of the catalogue and
 * then of the cache, each with the label of its button. */
static void
report_hub (GtkWidget *page, JsonBuilder *b)
{
  g_autofree char *status = NULL, *error = NULL, *snapshot = NULL;
  gboolean downloading = FALSE;
  double fraction = 0;
  g_object_get (page, "status", &status, "error", &error, "snapshot-dir", &snapshot, "downloading", &downloading,
                "fraction", &fraction, NULL);
  add_string (b, "hub_status", status);
  add_string (b, "hub_error", error);
  add_string (b, "hub_snapshot", snapshot);
  add_boolean (b, "hub_downloading", downloading);
  add_double (b, "hub_fraction", fraction);
  GtkWidget *lists[] = { named (page, "catalog_list"), named (page, "cached_list") };
  const char *names[] = { "hub_catalog", "hub_cached" };
  for (int i = 0; i < 2; i++)
    {
      json_builder_set_member_name (b, names[i]);
      json_builder_begin_array (b);
      for (GtkWidget *row = gtk_widget_get_first_child (lists[i]); row != NULL; row = gtk_widget_get_next_sibling (row))
        {
          GtkWidget *title = find_type (row, GTK_TYPE_LABEL);
          GtkWidget *button = find_type (row, GTK_TYPE_BUTTON);
          g_autofree char *entry = g_strdup_printf ("%s: %s", label_text (title),
                                                    gtk_button_get_label (GTK_BUTTON (button)));
          json_builder_add_string_value (b, entry);
        }
      json_builder_end_array (b);
    }
}

static gboolean
start_hub_page (Driver *driver, JsonBuilder *b)
{
  report_hub (hub_page (driver), b);
  return TRUE;
}

/* Types "repo" into the page's field and presses Download; "tokenizer" (optional) goes into the
 * dialog's tokenizer field first, as for a model loaded from a file. */
static gboolean
start_hub_download (Driver *driver, JsonBuilder *b)
{
  GtkWidget *page = hub_page (driver);
  if (json_object_has_member (driver->step, "tokenizer"))
    {
      gtk_expander_set_expanded (GTK_EXPANDER (named (driver->dialog, "options_expander")), TRUE);
      gtk_editable_set_text (GTK_EDITABLE (named (driver->dialog, "tokenizer_entry")),
                             step_string (driver, "tokenizer", ""));
    }
  gtk_editable_set_text (GTK_EDITABLE (named (page, "repo_entry")), step_string (driver, "repo", ""));
  return gtk_widget_activate_action (page, "hub.download-entry", NULL);
}

/* Presses the button of the row of "repo" (in the catalogue or the cache list). */
static gboolean
start_hub_use (Driver *driver, JsonBuilder *b)
{
  GtkWidget *page = hub_page (driver);
  const char *repo = step_string (driver, "repo", "");
  const char *lists[] = { "catalog_list", "cached_list" };
  for (int i = 0; i < 2; i++)
    for (GtkWidget *row = gtk_widget_get_first_child (named (page, lists[i])); row != NULL;
         row = gtk_widget_get_next_sibling (row))
      if (g_str_equal (label_text (find_type (row, GTK_TYPE_LABEL)), repo))
        {
          /* What a click does (GtkButton's activate needs a realized button; the page was just shown). */
          GtkActionable *button = GTK_ACTIONABLE (find_type (row, GTK_TYPE_BUTTON));
          return gtk_widget_activate_action_variant (GTK_WIDGET (button), gtk_actionable_get_action_name (button),
                                                     gtk_actionable_get_action_target_value (button));
        }
  return FALSE;
}

/* Once "fraction" of the bytes have arrived. */
static gboolean
poll_hub_progress (Driver *driver, JsonBuilder *b)
{
  GtkWidget *page = named (driver->dialog, "hub_page");
  double fraction = 0;
  g_object_get (page, "fraction", &fraction, NULL);
  if (fraction < json_object_get_double_member (driver->step, "fraction"))
    return FALSE;
  report_hub (page, b);
  return TRUE;
}

static gboolean
start_hub_cancel (Driver *driver, JsonBuilder *b)
{
  return gtk_widget_activate_action (named (driver->dialog, "hub_page"), "hub.cancel", NULL);
}

/* The download has ended, and the model it chose has loaded (or failed to). */
static gboolean
poll_hub_done (Driver *driver, JsonBuilder *b)
{
  GtkWidget *page = named (driver->dialog, "hub_page");
  GtkWidget *error = named (driver->dialog, "error_label");
  if (get_boolean (page, "downloading") || get_boolean (driver->dialog, "busy"))
    return FALSE;
  report_hub (page, b);
  add_string (b, "chooser_page", stack_page (driver->dialog, "pages"));
  add_string (b, "chooser_error", gtk_widget_get_visible (error) ? label_text (error) : NULL);
  report_model (driver, b);
  return TRUE;
}

/* The dialogs through the actions of their menu items and shortcuts. */
static gboolean
start_open_dialog (Driver *driver, JsonBuilder *b)
{
  const char *name = step_string (driver, "name", "");

  if (g_str_equal (name, "model"))
    model_chooser (driver);
  else if (g_str_equal (name, "preferences") || g_str_equal (name, "about"))
    g_action_group_activate_action (G_ACTION_GROUP (driver->application), name, NULL);
  else if (g_str_equal (name, "shortcuts"))
    gtk_widget_activate_action (GTK_WIDGET (driver->window), "win.show-help-overlay", NULL);
  else
    return FALSE;
  return TRUE;
}

/* The dialog on top: which widget has the focus, and whether text is selected in it (typing would
 * replace it). */
static gboolean
poll_dialog_focus (Driver *driver, JsonBuilder *b)
{
  GtkWindow *dialog = topmost_dialog (driver);
  GtkWidget *focus = dialog != NULL ? gtk_root_get_focus (GTK_ROOT (dialog)) : NULL;
  int start = 0, end = 0;

  if (dialog == NULL)
    return FALSE;
  add_string (b, "dialog", G_OBJECT_TYPE_NAME (dialog));
  add_string (b, "dialog_focus", focus != NULL ? G_OBJECT_TYPE_NAME (focus) : NULL);
  if (GTK_IS_LABEL (focus))
    gtk_label_get_selection_bounds (GTK_LABEL (focus), &start, &end);
  for (GtkWidget *w = focus; w != NULL; w = gtk_widget_get_parent (w))
    if (GTK_IS_EDITABLE (w))
      {
        gtk_editable_get_selection_bounds (GTK_EDITABLE (w), &start, &end);
        break;
      }
  add_boolean (b, "dialog_focus_selected", end > start);
  return TRUE;
}

static gboolean
start_close_dialogs (Driver *driver, JsonBuilder *b)
{
  GtkWindow *dialog;

  while ((dialog = topmost_dialog (driver)) != NULL)
    gtk_window_destroy (dialog);
  driver->dialog = NULL;
  return TRUE;
}

/* ---------------------------------------------------------------- screenshots */

static gboolean
save_screenshot (GtkWidget *widget, const char *path, GError **error)
{
  int width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  GtkSnapshot *snapshot = gtk_snapshot_new ();

  gdk_paintable_snapshot (paintable, snapshot, width, height);
  g_autoptr (GskRenderNode) node = gtk_snapshot_free_to_node (snapshot);
  if (node == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "nothing was drawn");
      return FALSE;
    }
  GskRenderer *renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  g_autoptr (GdkTexture) texture = gsk_renderer_render_texture (renderer, node,
                                                                &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (!gdk_texture_save_to_png (texture, path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot write %s", path);
      return FALSE;
    }
  return TRUE;
}

static gboolean
poll_screenshot (Driver *driver, JsonBuilder *b)
{
  g_autoptr (GError) error = NULL;
  gboolean dialog = g_str_equal (step_string (driver, "window", "main"), "dialog");
  GtkWidget *widget = dialog ? GTK_WIDGET (topmost_dialog (driver)) : GTK_WIDGET (driver->window);

  if (widget == NULL)
    {
      add_string (b, "error", "no dialog is open");
      return TRUE;
    }
  g_mkdir_with_parents (driver->output_dir, 0755);
  g_autofree char *path = g_build_filename (driver->output_dir, step_string (driver, "file", "screenshot.png"), NULL);
  add_string (b, "file", path);
  if (!save_screenshot (widget, path, &error))
    add_string (b, "error", error->message);
  add_int (b, "width", gtk_widget_get_width (widget));
  add_int (b, "height", gtk_widget_get_height (widget));
  return TRUE;
}

/* ---------------------------------------------------------------- Search */

static void
report_search (Driver *driver, JsonBuilder *b)
{
  ClSearchView *view = search_view (driver);
  g_autoptr (GListModel) results = NULL;
  gint64 n_indexed = 0, n_embedded = 0;
  const char *page = g_strcmp0 (stack_page (view, "stack"), "empty") == 0 ? "empty"
                     : stack_page (view, "results_stack");

  g_object_get (view, "results", &results, "n-indexed", &n_indexed, "n-embedded", &n_embedded, NULL);
  add_string (b, "page", page);
  add_string (b, "summary", label_text (named (view, "summary_label")));
  add_string (b, "index_status", label_text (named (view, "index_label")));
  add_int (b, "n_indexed", n_indexed);
  add_int (b, "n_embedded", n_embedded);
  json_builder_set_member_name (b, "results");
  json_builder_begin_array (b);
  /* Only the results page shows the results. */
  guint n = g_str_equal (page, "results") ? g_list_model_get_n_items (results) : 0;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (ClImageItem) item = g_list_model_get_item (results, i);
      json_builder_begin_object (b);
      add_string (b, "path", cl_image_item_get_path (item));
      add_double (b, "score", cl_image_item_get_confidence (item));
      add_string (b, "shown", cl_image_item_get_prediction (item));
      /* The thumbnail as drawn (0 × 0 until loaded): upright photos are taller than wide. */
      GdkTexture *thumbnail = cl_image_item_get_thumbnail (item);
      add_int (b, "thumbnail_width", thumbnail != NULL ? gdk_texture_get_width (thumbnail) : 0);
      add_int (b, "thumbnail_height", thumbnail != NULL ? gdk_texture_get_height (thumbnail) : 0);
      add_boolean (b, "thumbnail_failed", cl_image_item_get_thumbnail_failed (item));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static gboolean
poll_search (Driver *driver, JsonBuilder *b)
{
  if (get_boolean (search_view (driver), "searching"))
    return FALSE;
  report_search (driver, b);
  report_error_bar (driver, b);
  add_boolean (b, "has_more", get_boolean (search_view (driver), "has-more"));
  return TRUE;
}

/* Scrolls the results to their end in the next frame (laid out with the results there are, as the
 * user sees them), then waits until they have grown (or there are no more to fetch). */
static gboolean
poll_more_results (Driver *driver, JsonBuilder *b)
{
  ClSearchView *view = search_view (driver);
  g_autoptr (GListModel) results = NULL;

  if (!json_object_has_member (driver->step, "scrolled"))
    {
      GtkWidget *grid = find_type (GTK_WIDGET (view), GTK_TYPE_GRID_VIEW);
      GtkAdjustment *scroll = gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (grid));
      if (!driver->painted)
        return FALSE;
      gtk_adjustment_set_value (scroll, gtk_adjustment_get_upper (scroll) - gtk_adjustment_get_page_size (scroll));
      json_object_set_boolean_member (driver->step, "scrolled", TRUE);
      return FALSE;
    }
  g_object_get (view, "results", &results, NULL);
  if (get_boolean (view, "searching")
      || (get_boolean (view, "has-more") && g_list_model_get_n_items (results) <= (guint) step_int (driver, "n_before")))
    return FALSE;
  return poll_search (driver, b);
}

static gboolean
poll_index (Driver *driver, JsonBuilder *b)
{
  if (get_boolean (search_view (driver), "indexing"))
    return FALSE;
  report_search (driver, b);
  report_error_bar (driver, b);
  return TRUE;
}

/* The real entry: its search delay, then the worker. */
static gboolean
start_search (Driver *driver, JsonBuilder *b)
{
  gtk_editable_set_text (GTK_EDITABLE (named (search_view (driver), "entry")), step_string (driver, "text", ""));
  return TRUE;
}

static gboolean
start_find_similar (Driver *driver, JsonBuilder *b)
{
  g_autofree char *path = g_canonicalize_filename (step_string (driver, "path", ""), NULL);
  gtk_widget_activate_action (GTK_WIDGET (driver->window), "win.find-similar", "s", path);
  return TRUE;
}

static gboolean
start_search_scroll_end (Driver *driver, JsonBuilder *b)
{
  g_autoptr (GListModel) results = NULL;

  g_object_get (search_view (driver), "results", &results, NULL);
  add_int (b, "n_before", g_list_model_get_n_items (results));
  json_object_set_int_member (driver->step, "n_before", g_list_model_get_n_items (results));
  return TRUE;
}

/* The "Continue Indexing" button's action (disabled, so doing nothing, while an update runs). */
static gboolean
start_index (Driver *driver, JsonBuilder *b)
{
  gtk_widget_activate_action (GTK_WIDGET (search_view (driver)), "search.update-index", NULL);
  return TRUE;
}

/* The Stop button's action (disabled, so doing nothing, when nothing runs). */
static gboolean
start_cancel_index (Driver *driver, JsonBuilder *b)
{
  ClSearchView *view = search_view (driver);

  add_boolean (b, "was_running", get_boolean (view, "indexing"));
  gint64 start = g_get_monotonic_time ();
  gtk_widget_activate_action (GTK_WIDGET (view), "search.stop-index", NULL);
  add_double (b, "cancel_ms", (g_get_monotonic_time () - start) / 1000.0);
  return TRUE;
}

/* Until the Search view's preview pane shows the selected result's picture: its labels. */
static gboolean
poll_search_preview (Driver *driver, JsonBuilder *b)
{
  ClSearchView *view = search_view (driver);
  GtkPicture *picture = GTK_PICTURE (named (view, "preview"));

  if (gtk_picture_get_paintable (picture) == NULL)
    return FALSE;
  add_string (b, "preview_name", label_text (named (view, "preview_name")));
  add_string (b, "preview_score", label_text (named (view, "preview_score")));
  add_boolean (b, "preview_shown", gtk_widget_get_mapped (GTK_WIDGET (picture)));
  report_search (driver, b);
  return TRUE;
}

/* ---------------------------------------------------------------- photo folders */

/* The "search.add-folder" action of the Photo Folders popover (what its chooser ends with). */
static gboolean
start_add_folder (Driver *driver, JsonBuilder *b)
{
  gtk_widget_activate_action (GTK_WIDGET (search_view (driver)), "search.add-folder", "s",
                              step_string (driver, "path", ""));
  return TRUE;
}

static gboolean
start_remove_folder (Driver *driver, JsonBuilder *b)
{
  gtk_widget_activate_action (GTK_WIDGET (search_view (driver)), "search.remove-folder", "s",
                              step_string (driver, "path", ""));
  return TRUE;
}

/* What another program does to a watched folder: a photo copied in, deleted, renamed. */
static gboolean
start_copy_file (Driver *driver, JsonBuilder *b)
{
  g_autoptr (GFile) from = g_file_new_for_path (step_string (driver, "from", ""));
  g_autoptr (GFile) to = g_file_new_for_path (step_string (driver, "to", ""));
  g_autoptr (GError) error = NULL;

  add_boolean (b, "done", g_file_copy (from, to, G_FILE_COPY_NONE, NULL, NULL, NULL, &error));
  if (error != NULL)
    add_string (b, "error", error->message);
  return TRUE;
}

static gboolean
start_remove_file (Driver *driver, JsonBuilder *b)
{
  add_boolean (b, "done", g_unlink (step_string (driver, "path", "")) == 0);
  return TRUE;
}

static gboolean
start_rename_file (Driver *driver, JsonBuilder *b)
{
  add_boolean (b, "done", g_rename (step_string (driver, "from", ""), step_string (driver, "to", "")) == 0);
  return TRUE;
}

/* Until the search results hold "path" (or, with "present": false, no longer hold it). */
static gboolean
poll_result (Driver *driver, JsonBuilder *b)
{
  ClSearchView *view = search_view (driver);
  g_autoptr (GListModel) results = NULL;
  const char *path = step_string (driver, "path", "");
  gboolean want = !json_object_has_member (driver->step, "present")
                  || json_object_get_boolean_member (driver->step, "present");
  gboolean found = FALSE;

  if (get_boolean (view, "searching"))
    return FALSE;
  g_object_get (view, "results", &results, NULL);
  for (guint i = 0; !found && i < g_list_model_get_n_items (results); i++)
    {
      g_autoptr (ClImageItem) item = g_list_model_get_item (results, i);
      found = g_str_equal (cl_image_item_get_path (item), path);
    }
  if (found != want)
    return FALSE;
  report_search (driver, b);
  return TRUE;
}

/* ---------------------------------------------------------------- Train */

static void
report_train_points (JsonBuilder *b, ClLossChart *chart)
{
  guint n = cl_loss_chart_get_n_points (chart), n_evals = cl_loss_chart_get_n_evals (chart);

  add_int (b, "n_points", n);
  json_builder_set_member_name (b, "points");
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    {
      const ClTrainPoint *point = cl_loss_chart_get_point (chart, i);
      json_builder_begin_object (b);
      add_int (b, "step", point->step);
      add_int (b, "epoch", point->epoch);
      add_double (b, "loss", point->loss);
      add_double (b, "smoothed", cl_loss_chart_get_smoothed (chart, i));
      add_double (b, "lr", point->lr);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "evals");
  json_builder_begin_array (b);
  for (guint i = 0; i < n_evals; i++)
    {
      const ClTrainEval *eval = cl_loss_chart_get_eval (chart, i);
      json_builder_begin_object (b);
      add_int (b, "step", eval->step);
      add_double (b, "image_to_text_r1", eval->image_to_text[0]);
      add_double (b, "text_to_image_r1", eval->text_to_image[0]);
      add_double (b, "zero_shot_top1", eval->has_zero_shot ? eval->zero_shot_top1 : -1);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static ClLossChart *
train_chart (Driver *driver)
{
  return CL_LOSS_CHART (find_type (GTK_WIDGET (train_view (driver)), CL_TYPE_LOSS_CHART));
}

/* The labels of the visible buttons under WIDGET styled as the suggested action (blue). */
static void
add_suggested_buttons (JsonBuilder *b, GtkWidget *widget)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      if (!gtk_widget_get_visible (child))
        continue;
      if (GTK_IS_BUTTON (child) && gtk_widget_has_css_class (child, "suggested-action"))
        {
          GtkWidget *label = find_type (child, GTK_TYPE_LABEL);
          json_builder_add_string_value (b, label != NULL ? label_text (label) : "");
        }
      add_suggested_buttons (b, child);
    }
}

static void
report_train (Driver *driver, JsonBuilder *b)
{
  g_autofree char *state = NULL, *message = NULL, *out_dir = NULL, *model_path = NULL;

  g_object_get (train_view (driver), "state", &state, "message", &message, "out-dir", &out_dir,
                "model-path", &model_path, NULL);
  add_string (b, "state", state);
  add_string (b, "message", message);
  add_string (b, "out_dir", out_dir);
  add_string (b, "model_path", model_path);
  json_builder_set_member_name (b, "suggested");
  json_builder_begin_array (b);
  add_suggested_buttons (b, GTK_WIDGET (train_view (driver)));
  json_builder_end_array (b);
  /* What the status area shows: its title, the bar's text (NULL when hidden), the notices, the
   * chart's page. */
  ClTrainView *view = train_view (driver);
  GtkWidget *bar = named (view, "progress_bar"), *notices = named (view, "notice_label");
  add_string (b, "status_title", label_text (named (view, "status_title")));
  add_string (b, "progress_text", gtk_widget_get_visible (bar) ? gtk_progress_bar_get_text (GTK_PROGRESS_BAR (bar)) : NULL);
  add_string (b, "notices", gtk_widget_get_visible (notices) ? label_text (notices) : NULL);
  add_string (b, "chart_page", stack_page (view, "chart_stack"));
  report_train_points (b, train_chart (driver));
}

static gboolean
poll_train (Driver *driver, JsonBuilder *b)
{
  if (get_boolean (train_view (driver), "busy"))
    return FALSE;
  report_train (driver, b);
  report_error_bar (driver, b);
  return TRUE;
}

/* Until the chart holds at least the step's "steps" points (or the run ended). */
static gboolean
poll_train_steps (Driver *driver, JsonBuilder *b)
{
  guint want = step_int (driver, "steps");
  guint n = cl_loss_chart_get_n_points (train_chart (driver));
  g_autofree char *state = NULL;

  if (n < want && get_boolean (train_view (driver), "busy"))
    return FALSE;
  g_object_get (train_view (driver), "state", &state, NULL);
  add_string (b, "state", state);
  add_int (b, "n_points", n);
  return TRUE;
}

/* The step's "settings" object written to GSettings, as the Train view's widgets or the Preferences
 * would. */
static gboolean
start_train_settings (Driver *driver, JsonBuilder *b)
{
  GSettings *settings = cl_session_get_settings (driver->session);
  JsonObject *values = json_object_get_object_member (driver->step, "settings");
  g_autoptr (GList) names = json_object_get_members (values);

  for (GList *l = names; l != NULL; l = l->next)
    {
      const char *key = l->data;
      JsonNode *node = json_object_get_member (values, key);
      g_autoptr (GVariant) current = g_settings_get_value (settings, key);
      if (g_variant_is_of_type (current, G_VARIANT_TYPE_STRING))
        g_settings_set_string (settings, key, json_node_get_string (node));
      else if (g_variant_is_of_type (current, G_VARIANT_TYPE_INT32))
        g_settings_set_int (settings, key, (int) json_node_get_int (node));
      else if (g_variant_is_of_type (current, G_VARIANT_TYPE_DOUBLE))
        g_settings_set_double (settings, key, json_node_get_double (node));
      else if (g_variant_is_of_type (current, G_VARIANT_TYPE_BOOLEAN))
        g_settings_set_boolean (settings, key, json_node_get_boolean (node));
    }
  return TRUE;
}

/* The Train view's buttons: their actions (disabled, so doing nothing, while they cannot run). */
static void
train_action (Driver *driver, const char *name, GVariant *parameter)
{
  gtk_widget_activate_action_variant (GTK_WIDGET (train_view (driver)), name, parameter);
}

static gboolean
start_train_start (Driver *driver, JsonBuilder *b)
{
  train_action (driver, "train.start", NULL);
  return TRUE;
}

static gboolean
start_train_pause (Driver *driver, JsonBuilder *b)
{
  train_action (driver, "train.pause", NULL);
  return TRUE;
}

static gboolean
start_train_resume (Driver *driver, JsonBuilder *b)
{
  train_action (driver, "train.resume", NULL);
  return TRUE;
}

static gboolean
start_train_stop (Driver *driver, JsonBuilder *b)
{
  g_autofree char *state = NULL;

  g_object_get (train_view (driver), "state", &state, NULL);
  add_string (b, "was", state);
  train_action (driver, "train.stop", NULL);
  return TRUE;
}

/* What choosing the run's folder after "Continue a Run…" does. */
static gboolean
start_train_continue (Driver *driver, JsonBuilder *b)
{
  train_action (driver, "train.continue-run", g_variant_new_string (step_string (driver, "path", "")));
  return TRUE;
}

static gboolean
start_train_follow (Driver *driver, JsonBuilder *b)
{
  train_action (driver, "train.follow", g_variant_new_string (step_string (driver, "path", "")));
  return TRUE;
}

/* Until the chart holds at least the step's "steps" points, whatever the view is doing (a run that
 * another process writes grows without the view being busy). */
static gboolean
poll_train_points (Driver *driver, JsonBuilder *b)
{
  if (cl_loss_chart_get_n_points (train_chart (driver)) < (guint) step_int (driver, "steps"))
    return FALSE;
  report_train (driver, b);
  return TRUE;
}

static gboolean
start_train_use_model (Driver *driver, JsonBuilder *b)
{
  train_action (driver, "train.use-model", NULL);
  return TRUE;
}

static gboolean
start_chart_hover (Driver *driver, JsonBuilder *b)
{
  ClLossChart *chart = train_chart (driver);

  cl_loss_chart_hover_step (chart, json_object_get_double_member (driver->step, "step"));
  g_autofree char *text = cl_loss_chart_get_hover_text (chart);
  add_string (b, "hover", text);
  return TRUE;
}

static gboolean
start_save_chart (Driver *driver, JsonBuilder *b)
{
  g_autoptr (GError) error = NULL;
  ClLossChart *chart = train_chart (driver);
  gboolean ok = cl_loss_chart_save (chart, step_string (driver, "path", ""), (int) step_int (driver, "width"),
                                    (int) step_int (driver, "height"), 1, &error);

  add_boolean (b, "ok", ok);
  add_string (b, "error", ok ? NULL : error->message);
  return TRUE;
}

/* ---------------------------------------------------------------- keys */

static gboolean
trigger_matches (GtkShortcutTrigger *trigger, guint keyval, GdkModifierType modifiers)
{
  if (GTK_IS_KEYVAL_TRIGGER (trigger))
    return gdk_keyval_to_lower (gtk_keyval_trigger_get_keyval (GTK_KEYVAL_TRIGGER (trigger))) == gdk_keyval_to_lower (keyval)
           && gtk_keyval_trigger_get_modifiers (GTK_KEYVAL_TRIGGER (trigger)) == modifiers;
  if (GTK_IS_ALTERNATIVE_TRIGGER (trigger))
    return trigger_matches (gtk_alternative_trigger_get_first (GTK_ALTERNATIVE_TRIGGER (trigger)), keyval, modifiers)
           || trigger_matches (gtk_alternative_trigger_get_second (GTK_ALTERNATIVE_TRIGGER (trigger)), keyval, modifiers);
  return FALSE;
}

/* Activates the first shortcut that KEYVAL + MODIFIERS trigger among WIDGET's shortcut controllers
 * of PHASE. */
static gboolean
activate_shortcut (GtkWidget *widget, GtkPropagationPhase phase, guint keyval, GdkModifierType modifiers)
{
  g_autoptr (GListModel) controllers = gtk_widget_observe_controllers (widget);

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr (GtkEventController) controller = g_list_model_get_item (controllers, i);
      if (!GTK_IS_SHORTCUT_CONTROLLER (controller) || gtk_event_controller_get_propagation_phase (controller) != phase)
        continue;
      GListModel *shortcuts = G_LIST_MODEL (controller);
      for (guint j = 0; j < g_list_model_get_n_items (shortcuts); j++)
        {
          g_autoptr (GtkShortcut) shortcut = g_list_model_get_item (shortcuts, j);
          if (trigger_matches (gtk_shortcut_get_trigger (shortcut), keyval, modifiers)
              && gtk_shortcut_action_activate (gtk_shortcut_get_action (shortcut), GTK_SHORTCUT_ACTION_EXCLUSIVE,
                                               widget, gtk_shortcut_get_arguments (shortcut)))
            return TRUE;
        }
    }
  return FALSE;
}

/* A key press delivered as GTK delivers it to shortcuts: the controllers of the focus widget and
 * its ancestors in the capture phase from the window down (the application's accelerators are
 * there), then in the bubble phase from the focus widget up (widgets' key bindings). */
static gboolean
press_keys (Driver *driver, const char *accelerator)
{
  guint keyval = 0;
  GdkModifierType modifiers = 0;
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (driver->window));
  g_autoptr (GPtrArray) chain = g_ptr_array_new ();

  if (!gtk_accelerator_parse (accelerator, &keyval, &modifiers))
    return FALSE;
  for (GtkWidget *w = focus != NULL ? focus : GTK_WIDGET (driver->window); w != NULL; w = gtk_widget_get_parent (w))
    g_ptr_array_add (chain, w);
  for (guint i = chain->len; i-- > 0;)
    if (activate_shortcut (chain->pdata[i], GTK_PHASE_CAPTURE, keyval, modifiers))
      return TRUE;
  for (guint i = 0; i < chain->len; i++)
    if (activate_shortcut (chain->pdata[i], GTK_PHASE_BUBBLE, keyval, modifiers))
      return TRUE;
  return FALSE;
}

static gboolean
start_press_keys (Driver *driver, JsonBuilder *b)
{
  add_boolean (b, "handled", press_keys (driver, step_string (driver, "keys", "")));
  return TRUE;
}

/* Focuses the cell of the selected image in the grid of the step's view (default: Browse), as the
 * arrow keys would. */
static gboolean
focus_selected_cell (Driver *driver, GtkWidget *widget)
{
  ClImageItem *selected = cl_session_get_selected_item (driver->session);

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      if (CL_IS_IMAGE_CELL (child) && selected != NULL && cl_image_cell_get_item (CL_IMAGE_CELL (child)) == selected)
        return gtk_widget_grab_focus (gtk_widget_get_parent (child));
      if (focus_selected_cell (driver, child))
        return TRUE;
    }
  return FALSE;
}

/* The paths a content provider (clipboard, drag and drop) offers as a file list. */
static void
report_content_files (JsonBuilder *b, const char *name, GdkContentProvider *content)
{
  GValue value = G_VALUE_INIT;

  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  g_value_init (&value, GDK_TYPE_FILE_LIST);
  if (content != NULL && gdk_content_provider_get_value (content, &value, NULL))
    {
      g_autoptr (GSList) files = gdk_file_list_get_files (g_value_get_boxed (&value));
      for (GSList *l = files; l != NULL; l = l->next)
        {
          g_autofree char *path = g_file_get_path (l->data);
          json_builder_add_string_value (b, path);
        }
    }
  g_value_unset (&value);
  json_builder_end_array (b);
}

/* What the window's clipboard holds (set within the application, so it is read at once). */
static gboolean
start_clipboard (Driver *driver, JsonBuilder *b)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (driver->window));
  g_autofree char *formats = gdk_content_formats_to_string (gdk_clipboard_get_formats (clipboard));

  add_string (b, "formats", formats);
  report_content_files (b, "files", gdk_clipboard_get_content (clipboard));
  return TRUE;
}

/* The cell of the selected image in the grid of the step's view, or NULL. */
static GtkWidget *
selected_cell (Driver *driver, GtkWidget *widget)
{
  ClImageItem *selected = cl_session_get_selected_item (driver->session);

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      if (CL_IS_IMAGE_CELL (child) && selected != NULL && cl_image_cell_get_item (CL_IMAGE_CELL (child)) == selected)
        return child;
      GtkWidget *found = selected_cell (driver, child);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* The content the first drag source under WIDGET (WIDGET included) prepares for a drag started
 * at its middle, or NULL. */
static GdkContentProvider *
prepare_drag (GtkWidget *widget)
{
  g_autoptr (GListModel) controllers = gtk_widget_observe_controllers (widget);
  GdkContentProvider *content = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (controllers) && content == NULL; i++)
    {
      g_autoptr (GtkEventController) controller = g_list_model_get_item (controllers, i);
      if (GTK_IS_DRAG_SOURCE (controller))
        g_signal_emit_by_name (controller, "prepare", gtk_widget_get_width (widget) / 2.0,
                               gtk_widget_get_height (widget) / 2.0, &content);
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL && content == NULL;
       child = gtk_widget_get_next_sibling (child))
    content = prepare_drag (child);
  return content;
}

/* What dragging the selected image's cell out of the grid carries: its drag source prepares it as
 * for a drag started at the thumbnail's middle. */
static gboolean
start_drag_content (Driver *driver, JsonBuilder *b)
{
  GtkWidget *cell = selected_cell (driver, find_type (step_view (driver), GTK_TYPE_GRID_VIEW));
  g_autoptr (GdkContentProvider) content = cell != NULL ? prepare_drag (cell) : NULL;

  /* What a drag offers: the provider's types and the MIME types GDK serializes them to. */
  GdkContentFormats *offered = content != NULL ? gdk_content_formats_union_serialize_mime_types (
                                                   gdk_content_provider_ref_formats (content)) : NULL;
  g_autofree char *formats = offered != NULL ? gdk_content_formats_to_string (offered) : NULL;
  g_clear_pointer (&offered, gdk_content_formats_unref);
  add_string (b, "formats", formats);
  report_content_files (b, "files", content);
  return TRUE;
}

/* The cell showing the item at POSITION of the step's grid, or NULL when none does. */
static GtkWidget *
cell_at_position (Driver *driver, guint position)
{
  ClImageGrid *grid = step_image_grid (driver);
  g_autoptr (ClImageItem) item = g_list_model_get_item (cl_image_grid_get_model (grid), position);
  g_autoptr (GPtrArray) cells = g_ptr_array_new ();

  collect_cells (GTK_WIDGET (grid), cells);
  for (guint i = 0; item != NULL && i < cells->len; i++)
    if (cl_image_cell_get_item (cells->pdata[i]) == item)
      return cells->pdata[i];
  return NULL;
}

/* The position of the step's image in its grid: "index", or where the image at "path" is (the order
 * of search results is the model's to choose); G_MAXUINT when the grid does not hold that image. */
static guint
step_position (Driver *driver)
{
  GListModel *model = cl_image_grid_get_model (step_image_grid (driver));
  const char *path = step_string (driver, "path", NULL);

  if (path == NULL)
    return step_int (driver, "index");
  for (guint i = 0; model != NULL && i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr (ClImageItem) item = g_list_model_get_item (model, i);
      if (g_str_equal (cl_image_item_get_path (item), path))
        return i;
    }
  return G_MAXUINT;
}

/* A click on the image at "index" (or "path") of the step's grid, with "ctrl" or "shift" held, as
 * GTK's list item handles it: the press focuses the item, the release selects (list.select-item). */
static gboolean
start_click_item (Driver *driver, JsonBuilder *b)
{
  guint position = step_position (driver);
  GtkWidget *cell = cell_at_position (driver, position);
  gboolean ctrl = json_object_has_member (driver->step, "ctrl") && json_object_get_boolean_member (driver->step, "ctrl");
  gboolean shift = json_object_has_member (driver->step, "shift") && json_object_get_boolean_member (driver->step, "shift");

  if (cell == NULL)
    {
      add_string (b, "error", "no cell shows that image");
      return TRUE;
    }
  GtkWidget *list_item = gtk_widget_get_parent (cell);
  gtk_widget_grab_focus (list_item);
  gtk_widget_activate_action (list_item, "list.select-item", "(ubb)", position, ctrl, shift);
  return TRUE;
}

/* The grid view's gesture that opens the context menu at the middle of the cell of the image at
 * "index" (or "path") of the step's grid is told of a press there: the secondary-button click
 * (LONG_PRESS FALSE) or the touchscreen's long press (TRUE).  Xvfb has no touch device, XTest
 * cannot make touch events and Debian's GTK has no GTK_DEBUG=touchscreen, so the long press is
 * delivered to its gesture as GTK delivers a recognised one; the report says it is touch-only. */
static gboolean
press_context_gesture (Driver *driver, JsonBuilder *b, gboolean long_press)
{
  GtkWidget *cell = cell_at_position (driver, step_position (driver));
  GtkWidget *grid_view = find_type (GTK_WIDGET (step_image_grid (driver)), GTK_TYPE_GRID_VIEW);
  g_autoptr (GListModel) controllers = gtk_widget_observe_controllers (grid_view);
  graphene_point_t at;
  gboolean pressed = FALSE;

  if (cell == NULL || !gtk_widget_compute_point (cell, grid_view, &GRAPHENE_POINT_INIT (gtk_widget_get_width (cell) / 2.0,
                                                                                     gtk_widget_get_height (cell) / 2.0), &at))
    {
      add_string (b, "error", "no cell shows that image");
      return TRUE;
    }
  for (guint i = 0; i < g_list_model_get_n_items (controllers) && !pressed; i++)
    {
      g_autoptr (GtkEventController) controller = g_list_model_get_item (controllers, i);
      if (long_press && GTK_IS_GESTURE_LONG_PRESS (controller))
        {
          add_boolean (b, "touch_only", gtk_gesture_single_get_touch_only (GTK_GESTURE_SINGLE (controller)));
          g_signal_emit_by_name (controller, "pressed", (double) at.x, (double) at.y);
          pressed = TRUE;
        }
      else if (!long_press && GTK_IS_GESTURE_CLICK (controller)
               && gtk_gesture_single_get_button (GTK_GESTURE_SINGLE (controller)) == GDK_BUTTON_SECONDARY)
        {
          g_signal_emit_by_name (controller, "pressed", 1, (double) at.x, (double) at.y);
          pressed = TRUE;
        }
    }
  add_boolean (b, "pressed", pressed);
  return TRUE;
}

static gboolean
start_right_click (Driver *driver, JsonBuilder *b)
{
  return press_context_gesture (driver, b, FALSE);
}

static gboolean
start_long_press (Driver *driver, JsonBuilder *b)
{
  return press_context_gesture (driver, b, TRUE);
}

/* ---------------------------------------------------------------- real pointer input */

static void
pointer_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Driver *driver = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  driver->pointer_busy = FALSE;
}

/* The point at the fractions (FX, FY) of WIDGET's size, in the window's X surface ("--window"
 * coordinates of xdotool), as text; NULL when it cannot be placed. */
static char *
surface_point (Driver *driver, GtkWidget *widget, JsonArray *fraction)
{
  graphene_point_t at;
  double dx, dy;

  if (!gtk_widget_compute_point (widget, GTK_WIDGET (driver->window),
                                 &GRAPHENE_POINT_INIT (gtk_widget_get_width (widget) * json_array_get_double_element (fraction, 0),
                                                       gtk_widget_get_height (widget) * json_array_get_double_element (fraction, 1)),
                                 &at))
    return NULL;
  gtk_native_get_surface_transform (GTK_NATIVE (driver->window), &dx, &dy);
  return g_strdup_printf ("%d %d", (int) round (at.x + dx), (int) round (at.y + dy));
}

/* A drag with the real pointer over the step's grid view, from "from" to "to" (fractions of its
 * width and height): xdotool presses the first button, moves in steps and releases it through the
 * X server (XTest), so GTK's own gestures see it as a user's drag.  The report says where. */
static gboolean
start_drag (Driver *driver, JsonBuilder *b)
{
  GtkWidget *grid_view = find_type (GTK_WIDGET (step_image_grid (driver)), GTK_TYPE_GRID_VIEW);
  GdkSurface *surface = gtk_native_get_surface (GTK_NATIVE (driver->window));
  JsonArray *from = json_object_get_array_member (driver->step, "from");
  JsonArray *to = json_object_get_array_member (driver->step, "to");
  g_autofree char *start = surface_point (driver, grid_view, from);
  g_autofree char *end = surface_point (driver, grid_view, to);
  g_autoptr (GError) error = NULL;

  if (!GDK_IS_X11_SURFACE (surface) || start == NULL || end == NULL)
    {
      add_string (b, "error", "the drag needs the window on an X server");
      return TRUE;
    }
  /* Half-way first: GTK starts the drag once the pointer has moved past the threshold. */
  JsonArray *middle = json_array_new ();
  for (guint i = 0; i < 2; i++)
    json_array_add_double_element (middle, (json_array_get_double_element (from, i)
                                            + json_array_get_double_element (to, i)) / 2);
  g_autofree char *halfway = surface_point (driver, grid_view, middle);
  json_array_unref (middle);
  g_autofree char *window = g_strdup_printf ("%lu", (unsigned long) gdk_x11_surface_get_xid (surface));
  g_auto (GStrv) start_xy = g_strsplit (start, " ", 2), halfway_xy = g_strsplit (halfway, " ", 2),
                 end_xy = g_strsplit (end, " ", 2);
  const char *argv[] = {
    "xdotool", "mousemove", "--sync", "--window", window, start_xy[0], start_xy[1], "mousedown", "1", "sleep", "0.1",
    "mousemove", "--window", window, halfway_xy[0], halfway_xy[1], "sleep", "0.1",
    "mousemove", "--window", window, end_xy[0], end_xy[1], "sleep", "0.1", "mouseup", "1", NULL
  };
  GSubprocess *xdotool = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_NONE, &error);
  if (xdotool == NULL)
    {
      add_string (b, "error", error->message);
      return TRUE;
    }
  driver->pointer_busy = TRUE;
  g_subprocess_wait_async (xdotool, NULL, pointer_done, driver);
  g_object_unref (xdotool);
  add_string (b, "from_xy", start);
  add_string (b, "to_xy", end);
  return TRUE;
}

static void report_grid_selection (Driver *driver, JsonBuilder *b);

/* Once xdotool has released the button and a frame shows what it did: the grid's selection. */
static gboolean
poll_drag (Driver *driver, JsonBuilder *b)
{
  if (driver->pointer_busy)
    return FALSE;
  if (!driver->painted)
    {
      gtk_widget_queue_draw (GTK_WIDGET (step_image_grid (driver)));
      return FALSE;
    }
  report_grid_selection (driver, b);
  return TRUE;
}

/* The selection of the step's grid: the selected positions, the current one (the preview's;
 * -1: none) and the session's selected image. */
static void
report_grid_selection (Driver *driver, JsonBuilder *b)
{
  ClImageGrid *grid = step_image_grid (driver);
  GListModel *model = cl_image_grid_get_model (grid);
  g_autoptr (GPtrArray) selected = cl_image_grid_get_selected_items (grid);
  ClImageItem *current = cl_image_grid_get_selected_item (grid);
  ClImageItem *session_item = cl_session_get_selected_item (driver->session);
  guint n = model != NULL ? g_list_model_get_n_items (model) : 0;
  gint64 current_position = -1;

  json_builder_set_member_name (b, "selected");
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (ClImageItem) item = g_list_model_get_item (model, i);
      if (g_ptr_array_find (selected, item, NULL))
        json_builder_add_int_value (b, i);
      if (item == current)
        current_position = i;
    }
  json_builder_end_array (b);
  add_int (b, "n_items", n);
  add_int (b, "current", current_position);
  add_string (b, "session_selected", session_item != NULL ? cl_image_item_get_path (session_item) : NULL);
}

static gboolean
start_grid_selection (Driver *driver, JsonBuilder *b)
{
  report_grid_selection (driver, b);
  return TRUE;
}

/* Whether each of "paths" exists now. */
static gboolean
start_paths_exist (Driver *driver, JsonBuilder *b)
{
  JsonArray *paths = json_object_get_array_member (driver->step, "paths");

  json_builder_set_member_name (b, "exist");
  json_builder_begin_array (b);
  for (guint i = 0; i < json_array_get_length (paths); i++)
    json_builder_add_boolean_value (b, g_file_test (json_array_get_string_element (paths, i), G_FILE_TEST_EXISTS));
  json_builder_end_array (b);
  return TRUE;
}

static gboolean
start_focus_grid (Driver *driver, JsonBuilder *b)
{
  add_boolean (b, "focused", focus_selected_cell (driver, find_type (step_view (driver), GTK_TYPE_GRID_VIEW)));
  return TRUE;
}

/* Chooses the item "index" of the open context menu as a click does: the menu closes, then its
 * action is activated from where the menu is. */
static gboolean
start_activate_menu_item (Driver *driver, JsonBuilder *b)
{
  GtkPopoverMenu *popover = open_menu (driver);
  GMenuModel *menu = popover != NULL ? gtk_popover_menu_get_menu_model (popover) : NULL;
  int index = step_int (driver, "index");
  g_autofree char *action = NULL;
  gboolean activated = FALSE;

  if (menu != NULL && index < g_menu_model_get_n_items (menu)
      && g_menu_model_get_item_attribute (menu, index, G_MENU_ATTRIBUTE_ACTION, "s", &action))
    {
      g_autoptr (GVariant) target = g_menu_model_get_item_attribute_value (menu, index, G_MENU_ATTRIBUTE_TARGET, NULL);
      GtkWidget *cell = gtk_widget_get_parent (GTK_WIDGET (popover));
      gtk_popover_popdown (GTK_POPOVER (popover));
      activated = gtk_widget_activate_action_variant (cell, action, target);
    }
  add_boolean (b, "activated", activated);
  return TRUE;
}

static void
report_menu (JsonBuilder *b, GMenuModel *menu)
{
  json_builder_set_member_name (b, "menu");
  json_builder_begin_array (b);
  for (int i = 0; menu != NULL && i < g_menu_model_get_n_items (menu); i++)
    {
      g_autofree char *label = NULL, *action = NULL;
      g_autoptr (GVariant) target = g_menu_model_get_item_attribute_value (menu, i, G_MENU_ATTRIBUTE_TARGET, NULL);
      g_menu_model_get_item_attribute (menu, i, G_MENU_ATTRIBUTE_LABEL, "s", &label);
      g_menu_model_get_item_attribute (menu, i, G_MENU_ATTRIBUTE_ACTION, "s", &action);
      json_builder_begin_object (b);
      add_string (b, "label", label);
      add_string (b, "action", action);
      add_string (b, "target", target != NULL && g_variant_is_of_type (target, G_VARIANT_TYPE_STRING)
                               ? g_variant_get_string (target, NULL) : NULL);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

/* Where the focus is: "focus_pane", the pane of the view holding it ("sidebar", "grid", "details"
 * or null), and "focus_widget", its type. */
static void
report_focus_pane (Driver *driver, JsonBuilder *b, GtkWidget *focus)
{
  const char *pane = NULL;

  for (GtkWidget *w = focus; w != NULL && pane == NULL; w = gtk_widget_get_parent (w))
    pane = GTK_IS_GRID_VIEW (w) ? "grid"
           : gtk_widget_has_css_class (w, "sidebar-pane") ? "sidebar"
           : gtk_widget_has_css_class (w, "details-pane") ? "details" : NULL;
  add_string (b, "focus_pane", pane);
  add_string (b, "focus_widget", focus != NULL ? G_OBJECT_TYPE_NAME (focus) : NULL);
}

/* What the keyboard changed: the view, the focus, the Browse grid's open menu, the search. */
static gboolean
poll_keys (Driver *driver, JsonBuilder *b)
{
  ClSearchView *search = search_view (driver);
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (driver->window));
  GtkWidget *entry = named (search, "entry");

  if (get_boolean (search, "searching"))
    return FALSE;
  add_string (b, "view", gtk_stack_get_visible_child_name (GTK_STACK (window_widget (driver, "stack"))));
  add_boolean (b, "focus_in_search_entry", focus != NULL && (focus == entry || gtk_widget_is_ancestor (focus, entry)));
  report_focus_pane (driver, b, focus);
  GtkPopoverMenu *menu = open_menu (driver);
  report_menu (b, menu != NULL ? gtk_popover_menu_get_menu_model (menu) : NULL);
  report_search (driver, b);
  return TRUE;
}

static void
report_shortcuts_shown (JsonBuilder *b, GtkWidget *widget)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      if (GTK_IS_SHORTCUTS_SHORTCUT (child))
        {
          g_autofree char *accelerator = NULL, *title = NULL;
          g_object_get (child, "accelerator", &accelerator, "title", &title, NULL);
          json_builder_begin_object (b);
          add_string (b, "title", title);
          /* Alternatives are separated by spaces ("Menu <Shift>F10"); each in GTK's own spelling. */
          json_builder_set_member_name (b, "accelerators");
          json_builder_begin_array (b);
          g_auto (GStrv) alternatives = g_strsplit (accelerator != NULL ? accelerator : "", " ", -1);
          for (char **alternative = alternatives; *alternative != NULL; alternative++)
            {
              guint keyval = 0;
              GdkModifierType modifiers = 0;
              if (**alternative == '\0' || !gtk_accelerator_parse (*alternative, &keyval, &modifiers))
                continue;
              g_autofree char *name = gtk_accelerator_name (keyval, modifiers);
              json_builder_add_string_value (b, name);
            }
          json_builder_end_array (b);
          json_builder_end_object (b);
        }
      report_shortcuts_shown (b, child);
    }
}

/* The application's accelerators, and the shortcuts its shortcuts window shows. */
static gboolean
start_shortcuts (Driver *driver, JsonBuilder *b)
{
  GtkApplication *application = GTK_APPLICATION (driver->application);
  g_auto (GStrv) actions = gtk_application_list_action_descriptions (application);
  GtkShortcutsWindow *overlay = gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (driver->window));

  json_builder_set_member_name (b, "accels");
  json_builder_begin_array (b);
  for (char **action = actions; *action != NULL; action++)
    {
      g_auto (GStrv) accels = gtk_application_get_accels_for_action (application, *action);
      for (char **accel = accels; *accel != NULL; accel++)
        {
          guint keyval = 0;
          GdkModifierType modifiers = 0;
          gtk_accelerator_parse (*accel, &keyval, &modifiers);
          g_autofree char *name = gtk_accelerator_name (keyval, modifiers);
          json_builder_begin_object (b);
          add_string (b, "action", *action);
          add_string (b, "accelerator", name);
          json_builder_end_object (b);
        }
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "shown");
  json_builder_begin_array (b);
  if (overlay != NULL)
    report_shortcuts_shown (b, GTK_WIDGET (overlay));
  json_builder_end_array (b);
  return TRUE;
}

/* ---------------------------------------------------------------- what a user reads (issue 12) */

/* The Browse view's details of the selected image, once its preview is loaded. */
static gboolean
poll_browse_details (Driver *driver, JsonBuilder *b)
{
  ClBrowseView *view = browse_view (driver);

  if (get_boolean (view, "busy"))
    return FALSE;
  add_string (b, "size", label_text (named (view, "size_label")));
  add_string (b, "modified", label_text (named (view, "modified_label")));
  add_string (b, "dimensions", label_text (named (view, "dimensions_label")));
  add_string (b, "folder", label_text (named (view, "folder_label")));
  return TRUE;
}

/* The model dialog's description of the loaded model (the dialog opens as Ctrl+M opens it). */
static gboolean
start_model_details (Driver *driver, JsonBuilder *b)
{
  GtkWidget *chooser = GTK_WIDGET (model_chooser (driver));

  add_string (b, "format", label_text (named (chooser, "format_value")));
  add_string (b, "arithmetic", label_text (named (chooser, "arithmetic_value")));
  add_string (b, "tokenizer", label_text (named (chooser, "tokenizer_value")));
  add_string (b, "title", gtk_window_get_title (GTK_WINDOW (chooser)));
  return TRUE;
}

/* ---------------------------------------------------------------- a view's grid: what it shows, the wheel */

/* The image grid of the view the step names ("view", default browse). */
static ClImageGrid *
step_image_grid (Driver *driver)
{
  GtkWidget *view = cl_window_get_view (driver->window, step_string (driver, "view", "browse"));
  return CL_IMAGE_GRID (find_type (view, CL_TYPE_IMAGE_GRID));
}

/* The items of the cells under WIDGET that are on screen in SCROLLER. */
static void
collect_visible_items (GtkWidget *scroller, GtkWidget *widget, GPtrArray *items)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      ClImageItem *item = CL_IS_IMAGE_CELL (child) ? cl_image_cell_get_item (CL_IMAGE_CELL (child)) : NULL;
      graphene_rect_t bounds;
      if (item == NULL)
        collect_visible_items (scroller, child, items);
      else if (gtk_widget_get_mapped (child) && gtk_widget_compute_bounds (child, scroller, &bounds)
               && graphene_rect_intersection (&bounds, &GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (scroller),
                                                                             gtk_widget_get_height (scroller)), NULL))
        g_ptr_array_add (items, item);
    }
}

static int
compare_positions (gconstpointer a, gconstpointer b)
{
  return *(const gint64 *) a < *(const gint64 *) b ? -1 : *(const gint64 *) a > *(const gint64 *) b;
}

/* What the step's grid shows: the model positions of the cells on screen (ascending), the
 * selected position (-1: none), and the scroll position. */
static void
report_grid_cells (Driver *driver, JsonBuilder *b)
{
  ClImageGrid *grid = step_image_grid (driver);
  GtkWidget *scroller = find_type (GTK_WIDGET (grid), GTK_TYPE_SCROLLED_WINDOW);
  GListModel *model = cl_image_grid_get_model (grid);
  guint n = model != NULL ? g_list_model_get_n_items (model) : 0;
  g_autoptr (GPtrArray) items = g_ptr_array_new ();
  g_autoptr (GArray) positions = g_array_new (FALSE, FALSE, sizeof (gint64));
  ClImageItem *selected = cl_image_grid_get_selected_item (grid);
  gint64 selected_position = -1;

  if (gtk_widget_get_mapped (scroller))
    collect_visible_items (scroller, scroller, items);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (ClImageItem) item = g_list_model_get_item (model, i);
      gint64 position = i;
      if (g_ptr_array_find (items, item, NULL))
        g_array_append_val (positions, position);
      if (item == selected)
        selected_position = i;
    }
  g_array_sort (positions, compare_positions);
  add_int (b, "n_items", n);
  add_int (b, "selected", selected_position);
  json_builder_set_member_name (b, "visible");
  json_builder_begin_array (b);
  for (guint i = 0; i < positions->len; i++)
    json_builder_add_int_value (b, g_array_index (positions, gint64, i));
  json_builder_end_array (b);
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scroller));
  add_double (b, "scroll", gtk_adjustment_get_value (adjustment));
  add_double (b, "scroll_upper", gtk_adjustment_get_upper (adjustment));
}

/* Once a frame has been painted (STEP_ON_FRAME) after the step's delay. */
static gboolean
poll_grid_cells (Driver *driver, JsonBuilder *b)
{
  if (!driver->painted)
    {
      gtk_widget_queue_draw (GTK_WIDGET (step_image_grid (driver)));
      return FALSE;
    }
  report_grid_cells (driver, b);
  return TRUE;
}

/* One click of a mouse wheel on the grid's scrolled window, as its scroll controller receives it
 * from GDK: a discrete step of "dy" (-1 up, 1 down). */
static gboolean
wheel_click_cb (gpointer data)
{
  Driver *driver = data;
  GtkWidget *scroller = find_type (GTK_WIDGET (step_image_grid (driver)), GTK_TYPE_SCROLLED_WINDOW);
  g_autoptr (GListModel) controllers = gtk_widget_observe_controllers (scroller);
  double dy = json_object_has_member (driver->step, "dy") ? json_object_get_double_member (driver->step, "dy") : -1;
  gboolean handled = FALSE;

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr (GtkEventController) controller = g_list_model_get_item (controllers, i);
      if (GTK_IS_EVENT_CONTROLLER_SCROLL (controller))
        g_signal_emit_by_name (controller, "scroll", 0.0, dy, &handled);
    }
  if (--driver->wheel_left > 0)
    return G_SOURCE_CONTINUE;
  driver->wheel_source = 0;
  return G_SOURCE_REMOVE;
}

/* "clicks" wheel clicks, "interval" ms apart; the report says where the grid was before. */
static gboolean
start_wheel (Driver *driver, JsonBuilder *b)
{
  json_builder_set_member_name (b, "before");
  json_builder_begin_object (b);
  report_grid_cells (driver, b);
  json_builder_end_object (b);
  driver->wheel_left = step_int (driver, "clicks");
  driver->wheel_source = g_timeout_add (step_int (driver, "interval"), wheel_click_cb, driver);
  return driver->wheel_left > 0;
}

/* Once every click is delivered and a frame painted after the step's delay. */
static gboolean
poll_wheel (Driver *driver, JsonBuilder *b)
{
  if (driver->wheel_source != 0)
    return FALSE;
  if (!driver->painted)
    {
      gtk_widget_queue_draw (GTK_WIDGET (step_image_grid (driver)));
      return FALSE;
    }
  report_grid_cells (driver, b);
  return TRUE;
}

/* ---------------------------------------------------------------- memory: passes through the grid */

/* The resident set of this process, in kB (0 when /proc cannot tell). */
static gint64
resident_kb (void)
{
  g_autofree char *statm = NULL;
  gint64 pages = 0;

  if (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL))
    sscanf (statm, "%*d %" G_GINT64_FORMAT, &pages);
  return pages * (sysconf (_SC_PAGESIZE) / 1024);
}

static gboolean
start_grid_pass (Driver *driver, JsonBuilder *b)
{
  GtkWidget *scroller = find_type (GTK_WIDGET (step_image_grid (driver)), GTK_TYPE_SCROLLED_WINDOW);

  gtk_adjustment_set_value (gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scroller)), 0);
  driver->page_shown_us = g_get_monotonic_time ();
  driver->pass_pages = 1;
  return TRUE;
}

/* One pass through the Browse grid as a user paging down does: each page stays until every image on
 * it shows its thumbnail (at most "page_ms", 2 s by default), then the next; at the end, the
 * process's resident memory. */
static gboolean
poll_grid_pass (Driver *driver, JsonBuilder *b)
{
  GtkWidget *scroller = find_type (GTK_WIDGET (step_image_grid (driver)), GTK_TYPE_SCROLLED_WINDOW);
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scroller));
  gint64 page_us = (json_object_has_member (driver->step, "page_ms") ? step_int (driver, "page_ms") : 2000) * 1000;
  guint n_visible, n_filled;

  if (!driver->painted)
    {
      gtk_widget_queue_draw (scroller);
      return FALSE;
    }
  count_visible (driver, &n_visible, &n_filled);
  if (n_filled < n_visible && g_get_monotonic_time () - driver->page_shown_us < page_us)
    return FALSE;
  double value = gtk_adjustment_get_value (adjustment), page = gtk_adjustment_get_page_size (adjustment);
  double end = gtk_adjustment_get_upper (adjustment) - page;
  if (value >= end)
    {
      add_int (b, "pages", driver->pass_pages);
      add_int (b, "rss_kb", resident_kb ());
      add_string (b, "renderer", G_OBJECT_TYPE_NAME (gtk_native_get_renderer (GTK_NATIVE (driver->window))));
      return TRUE;
    }
  gtk_adjustment_set_value (adjustment, MIN (value + page, end));
  driver->page_shown_us = g_get_monotonic_time ();
  driver->pass_pages++;
  return FALSE;
}

/* The thumbnailer's memory budget ("budget_mb"), as a smaller machine would set it. */
static gboolean
start_thumbnail_budget (Driver *driver, JsonBuilder *b)
{
  g_object_set (cl_session_get_thumbnailer (driver->session), "budget-mb", (guint) step_int (driver, "budget_mb"), NULL);
  return TRUE;
}

/* ---------------------------------------------------------------- Map */

static ClMapView *
map_view (Driver *driver)
{
  return CL_MAP_VIEW (cl_window_get_view (driver->window, "map"));
}

static ClMapCanvas *
map_canvas (Driver *driver)
{
  return CL_MAP_CANVAS (named (map_view (driver), "canvas"));
}

/* The map's state; with "points": true in the step, where each point is drawn (canvas pixels). */
static void
report_map (Driver *driver, JsonBuilder *b)
{
  ClMapView *view = map_view (driver);
  ClMapCanvas *canvas = map_canvas (driver);
  guint n_points = 0, n_clusters = 0, n_selected = 0, n_highlighted = 0;
  gboolean from_cache = FALSE;
  g_auto (GStrv) names = NULL;

  g_object_get (view, "n-points", &n_points, "n-clusters", &n_clusters, "n-selected", &n_selected,
                "n-highlighted", &n_highlighted, "from-cache", &from_cache, "cluster-names", &names, NULL);
  add_string (b, "page", stack_page (view, "stack"));
  GtkWidget *selection_label = named (view, "selection_label");
  add_string (b, "selection_text", gtk_widget_get_visible (selection_label) ? label_text (selection_label) : NULL);
  add_int (b, "n_points", n_points);
  add_int (b, "n_clusters", n_clusters);
  add_int (b, "n_selected", n_selected);
  add_int (b, "n_highlighted", n_highlighted);
  add_boolean (b, "from_cache", from_cache);
  add_int (b, "selected", cl_map_canvas_get_selected (canvas));
  ClImageItem *item = cl_session_get_selected_item (driver->session);
  add_string (b, "selected_path", item != NULL ? cl_image_item_get_path (item) : NULL);
  add_double (b, "scale", get_double (canvas, "scale"));
  add_int (b, "canvas_width", gtk_widget_get_width (GTK_WIDGET (canvas)));
  add_int (b, "canvas_height", gtk_widget_get_height (GTK_WIDGET (canvas)));
  /* Where "Show in Grid" leads: the view shown and Browse's count of what its grid holds. */
  add_string (b, "view", gtk_stack_get_visible_child_name (GTK_STACK (window_widget (driver, "stack"))));
  add_string (b, "browse_count", label_text (named (browse_view (driver), "count_label")));
  /* The legend's rows: a dot, the name, the count. */
  json_builder_set_member_name (b, "legend");
  json_builder_begin_array (b);
  GtkWidget *legend = named (view, "legend");
  for (GtkWidget *row = gtk_widget_get_first_child (legend); row != NULL; row = gtk_widget_get_next_sibling (row))
    {
      GtkWidget *dot = gtk_widget_get_first_child (gtk_list_box_row_get_child (GTK_LIST_BOX_ROW (row)));
      GtkWidget *name = gtk_widget_get_next_sibling (dot);
      json_builder_begin_object (b);
      add_string (b, "name", label_text (name));
      add_int (b, "count", g_ascii_strtoll (label_text (gtk_widget_get_next_sibling (name)), NULL, 10));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "cluster_names");
  json_builder_begin_array (b);
  for (char **name = names; name != NULL && *name != NULL; name++)
    json_builder_add_string_value (b, *name);
  json_builder_end_array (b);
  if (!json_object_has_member (driver->step, "points") || !json_object_get_boolean_member (driver->step, "points"))
    return;
  json_builder_set_member_name (b, "points");
  json_builder_begin_array (b);
  for (guint i = 0; i < n_points; i++)
    {
      double x, y;
      cl_map_canvas_get_point_position (canvas, i, &x, &y);
      json_builder_begin_array (b);
      json_builder_add_double_value (b, x);
      json_builder_add_double_value (b, y);
      json_builder_end_array (b);
    }
  json_builder_end_array (b);
}

/* Until the map is laid out (or failed) and painted. */
static gboolean
poll_map (Driver *driver, JsonBuilder *b)
{
  ClMapView *view = map_view (driver);
  const char *page = stack_page (view, "stack");

  if (get_boolean (view, "computing") || !(g_str_equal (page, "content") || g_str_equal (page, "error")))
    return FALSE;
  if (!driver->painted)
    {
      gtk_widget_queue_draw (GTK_WIDGET (view));
      return FALSE;
    }
  report_map (driver, b);
  return TRUE;
}

/* Until the map is being computed and has reported progress. */
static gboolean
poll_map_progress (Driver *driver, JsonBuilder *b)
{
  ClMapView *view = map_view (driver);

  if (!get_boolean (view, "computing") || get_double (view, "progress") <= 0)
    return FALSE;
  add_double (b, "progress", get_double (view, "progress"));
  add_string (b, "progress_text", label_text (named (view, "progress_label")));
  report_map (driver, b);
  return TRUE;
}

/* Until the map is no longer computing (stopped, failed or laid out). */
static gboolean
poll_map_idle (Driver *driver, JsonBuilder *b)
{
  ClMapView *view = map_view (driver);

  if (get_boolean (view, "computing"))
    return FALSE;
  add_string (b, "error_title", label_text (named (named (view, "error_page"), "title_label")));
  report_map (driver, b);
  return TRUE;
}

static gboolean
poll_map_now (Driver *driver, JsonBuilder *b)
{
  report_map (driver, b);
  return TRUE;
}

static double
step_double (Driver *driver, const char *member)
{
  return json_object_get_double_member (driver->step, member);
}

/* A rectangle selection as Shift+drag makes it ("x", "y", "width", "height" in canvas pixels). */
static gboolean
start_map_select (Driver *driver, JsonBuilder *b)
{
  gtk_widget_activate_action (GTK_WIDGET (map_canvas (driver)), "canvas.select-rect", "(dddd)",
                              step_double (driver, "x"), step_double (driver, "y"), step_double (driver, "width"),
                              step_double (driver, "height"));
  return TRUE;
}

/* A click on the legend's row "row". */
static gboolean
start_map_legend (Driver *driver, JsonBuilder *b)
{
  GtkListBoxRow *row = gtk_list_box_get_row_at_index (GTK_LIST_BOX (named (map_view (driver), "legend")),
                                                      (int) step_int (driver, "row"));
  return row != NULL && gtk_widget_activate (GTK_WIDGET (row));
}

/* The keyboard's focus on the map, as a click on it gives. */
static gboolean
start_map_focus (Driver *driver, JsonBuilder *b)
{
  return gtk_widget_grab_focus (GTK_WIDGET (map_canvas (driver)));
}

/* The point a pointer at ("x", "y") in canvas pixels would hover or click. */
static gboolean
start_map_point_at (Driver *driver, JsonBuilder *b)
{
  add_int (b, "point_at", cl_map_canvas_point_at (map_canvas (driver), step_double (driver, "x"),
                                                  step_double (driver, "y")));
  return TRUE;
}

/* A lasso selection as Ctrl+drag makes it ("path": [[x, y], …] in canvas pixels). */
static gboolean
start_map_lasso (Driver *driver, JsonBuilder *b)
{
  JsonArray *path = json_object_get_array_member (driver->step, "path");
  g_autoptr (GVariantBuilder) points = g_variant_builder_new (G_VARIANT_TYPE ("a(dd)"));

  for (guint k = 0; k < json_array_get_length (path); k++)
    {
      JsonArray *point = json_array_get_array_element (path, k);
      g_variant_builder_add (points, "(dd)", json_array_get_double_element (point, 0),
                             json_array_get_double_element (point, 1));
    }
  g_autoptr (GVariant) parameter = g_variant_ref_sink (g_variant_builder_end (points));
  gtk_widget_activate_action_variant (GTK_WIDGET (map_canvas (driver)), "canvas.select-lasso", parameter);
  return TRUE;
}

/* A map action ("action": "show-in-grid", "find-similar", "zoom-in", …, with a string "target" for
 * "color-by"); "point" selects a point first. */
static gboolean
start_map_action (Driver *driver, JsonBuilder *b)
{
  g_autofree char *action = g_strconcat ("map.", step_string (driver, "action", ""), NULL);
  const char *target = step_string (driver, "target", NULL);

  if (json_object_has_member (driver->step, "point"))
    cl_map_canvas_set_selected (map_canvas (driver), (int) step_int (driver, "point"));
  g_autoptr (GVariant) parameter = target != NULL ? g_variant_ref_sink (g_variant_new_string (target)) : NULL;
  return gtk_widget_activate_action_variant (GTK_WIDGET (map_view (driver)), action, parameter);
}

static gboolean
start_map_query (Driver *driver, JsonBuilder *b)
{
  gtk_editable_set_text (GTK_EDITABLE (named (map_view (driver), "entry")), step_string (driver, "text", ""));
  return TRUE;
}

/* Until the query or "find similar" has lit points up. */
static gboolean
poll_map_highlight (Driver *driver, JsonBuilder *b)
{
  guint n_highlighted = 0;

  g_object_get (map_view (driver), "n-highlighted", &n_highlighted, NULL);
  if (n_highlighted == 0)
    return FALSE;
  report_map (driver, b);
  return TRUE;
}

/* The map alone as a PNG ("file" in the output folder). */
static gboolean
poll_map_screenshot (Driver *driver, JsonBuilder *b)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (driver->output_dir, step_string (driver, "file", "map.png"), NULL);

  g_mkdir_with_parents (driver->output_dir, 0755);
  add_string (b, "file", path);
  if (!save_screenshot (GTK_WIDGET (map_canvas (driver)), path, &error))
    add_string (b, "error", error->message);
  return TRUE;
}

/* ---------------------------------------------------------------- Map: frame times while panning */

/* The CPU time of the calling thread: the frame's own work, whatever else the machine runs. */
static gint64
thread_cpu_us (void)
{
  struct timespec now;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &now);
  return (gint64) now.tv_sec * G_USEC_PER_SEC + now.tv_nsec / 1000;
}

static gboolean
pan_tick (GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
  Driver *driver = data;
  gint64 frame_us = gdk_frame_clock_get_frame_time (clock);

  if (driver->pan_frames_left == 0)
    return G_SOURCE_REMOVE;
  g_array_append_val (driver->pan_frame_us, frame_us);
  driver->pan_frames_left--;
  driver->paint_start_us = g_get_monotonic_time ();
  driver->paint_start_cpu_us = thread_cpu_us ();
  /* Left and right in turn, a screen's width a second, as a hand drags. */
  double dx = (driver->pan_frame_us->len / 60) % 2 == 0 ? 16 : -16;
  gtk_widget_activate_action (widget, "canvas.pan", "(dd)", dx, 0.0);
  return G_SOURCE_CONTINUE;
}

static void
on_pan_after_paint (GdkFrameClock *clock, Driver *driver)
{
  gint64 paint_us = g_get_monotonic_time () - driver->paint_start_us;
  gint64 cpu_us = thread_cpu_us () - driver->paint_start_cpu_us;

  if (driver->pan_frame_us->len > driver->pan_paint_us->len)
    {
      g_array_append_val (driver->pan_paint_us, paint_us);
      g_array_append_val (driver->pan_cpu_us, cpu_us);
    }
}

/* Pans the map "frames" frames, one step a frame, as a drag does. */
static gboolean
start_map_pan (Driver *driver, JsonBuilder *b)
{
  GtkWidget *canvas = GTK_WIDGET (map_canvas (driver));

  driver->pan_frames_left = (guint) step_int (driver, "frames");
  g_array_set_size (driver->pan_frame_us, 0);
  g_array_set_size (driver->pan_paint_us, 0);
  g_array_set_size (driver->pan_cpu_us, 0);
  g_signal_connect (driver->frame_clock, "after-paint", G_CALLBACK (on_pan_after_paint), driver);
  gtk_widget_add_tick_callback (canvas, pan_tick, driver, NULL);
  return driver->pan_frames_left > 0;
}

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

/* "NAME": [median, 95th percentile, max] of VALUES (µs), in ms. */
static void
add_quantiles (JsonBuilder *b, const char *name, GArray *values)
{
  g_array_sort (values, compare_gint64);
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (guint q = 0; q < 3 && values->len > 0; q++)
    {
      static const double at[] = { 0.5, 0.95, 1.0 };
      guint k = MIN ((guint) (at[q] * values->len), values->len - 1);
      json_builder_add_double_value (b, g_array_index (values, gint64, k) / 1000.0);
    }
  json_builder_end_array (b);
}

/* Once every frame is painted: the intervals between frames, how long each took from the pan (the
 * frame clock's update phase) to the end of its paint (layout, snapshot and rendering), and the
 * main thread's CPU time in that span (the Cairo renderer draws on it). */
static gboolean
poll_map_pan (Driver *driver, JsonBuilder *b)
{
  if (driver->pan_frames_left > 0 || driver->pan_paint_us->len < driver->pan_frame_us->len)
    return FALSE;
  g_signal_handlers_disconnect_by_func (driver->frame_clock, on_pan_after_paint, driver);
  g_autoptr (GArray) intervals = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint i = 1; i < driver->pan_frame_us->len; i++)
    {
      gint64 interval = g_array_index (driver->pan_frame_us, gint64, i) - g_array_index (driver->pan_frame_us, gint64, i - 1);
      g_array_append_val (intervals, interval);
    }
  add_int (b, "frames", driver->pan_frame_us->len);
  add_double (b, "seconds", (g_array_index (driver->pan_frame_us, gint64, driver->pan_frame_us->len - 1)
                             - g_array_index (driver->pan_frame_us, gint64, 0)) / 1e6);
  add_quantiles (b, "interval_ms", intervals);
  add_quantiles (b, "paint_ms", driver->pan_paint_us);
  add_quantiles (b, "paint_cpu_ms", driver->pan_cpu_us);
  add_string (b, "renderer", G_OBJECT_TYPE_NAME (gtk_native_get_renderer (GTK_NATIVE (driver->window))));
  report_map (driver, b);
  return TRUE;
}

/* ---------------------------------------------------------------- the environment */

/* What `cp other.safetensors model.safetensors` does to a file the application uses: truncates it,
 * then writes other bytes (zeros) of the same size in place.  The report says whether that worked. */
static gboolean
start_overwrite_file (Driver *driver, JsonBuilder *b)
{
  const char *path = step_string (driver, "path", "");
  GStatBuf st;
  FILE *file = NULL;
  gboolean ok = g_stat (path, &st) == 0 && truncate (path, 0) == 0 && (file = g_fopen (path, "r+b")) != NULL;
  g_autofree char *zeros = ok ? g_malloc0 (st.st_size) : NULL;
  ok = ok && fwrite (zeros, 1, st.st_size, file) == (size_t) st.st_size;
  if (file != NULL)
    ok = fclose (file) == 0 && ok;
  json_builder_set_member_name (b, "overwritten");
  json_builder_add_boolean_value (b, ok);
  return TRUE;
}

/* ---------------------------------------------------------------- the steps */

static const StepDef steps[] = {
  /* name                       start                     poll                      delay  timeout flags */
  { "wait-model",               NULL,                     poll_model,                   0, 60, 0 },
  { "wait-first-frame",         NULL,                     poll_first_frame,             0, 60, STEP_ON_FRAME },
  { "wait-grid",                NULL,                     poll_grid_shown,              0, 60, STEP_ON_FRAME },
  { "wait-visible-thumbnails",  NULL,                     poll_visible_thumbnails,      0, 60, STEP_ON_FRAME },
  { "open",                     start_open,               poll_open,                   50, 60, 0 },
  { "wait-open",                start_wait_open,          poll_open,                    0, 60, 0 },
  { "view",                     start_view,               poll_painted,                 0, 60, STEP_ON_FRAME },
  { "select",                   NULL,                     poll_select,                  0, 60, 0 },
  { "resize",                   start_resize,             NULL,                       300, 60, 0 },
  { "set-style",                start_set_style,          NULL,                       200, 60, 0 },
  { "close-window",             start_close_window,       NULL,                         0, 60, 0 },
  { "error-bar",                NULL,                     poll_error_bar,               0, 60, 0 },
  { "screenshot",               NULL,                     poll_screenshot,  SCREENSHOT_DELAY, 60, 0 },
  { "wait",                     NULL,                     NULL,                         0, 60, 0 },
  { "overwrite-file",           start_overwrite_file,     NULL,                         0, 60, 0 },
  /* Browse */
  { "wait-thumbnails",          NULL,                     poll_thumbnails,            100, 60, 0 },
  { "wait-browse",              NULL,                     poll_browse,                 50, 60, 0 },
  { "focus-grid",               start_focus_grid,         NULL,                        50, 60, 0 },
  { "activate-menu-item",       start_activate_menu_item, poll_keys,                  400, 60, 0 },
  { "press-keys",               start_press_keys,         poll_keys,                   50, 60, 0 },
  { "shortcuts",                start_shortcuts,          NULL,                         0, 60, 0 },
  { "clipboard",                start_clipboard,          NULL,                         0, 60, 0 },
  { "drag-content",             start_drag_content,       NULL,                         0, 60, 0 },
  { "click-item",               start_click_item,         NULL,                        50, 60, 0 },
  { "right-click",              start_right_click,        poll_keys,                  400, 60, 0 },
  { "long-press",               start_long_press,         poll_keys,                  400, 60, 0 },
  { "drag",                     start_drag,               poll_drag,                  100, 60, STEP_ON_FRAME },
  { "grid-selection",           start_grid_selection,     NULL,                         0, 60, 0 },
  { "classify-filters",         start_classify_filters,   poll_grid,                    0, 60, STEP_ON_FRAME },
  { "class-counts",             start_class_counts,       NULL,                         0, 60, 0 },
  { "paths-exist",              start_paths_exist,        NULL,                         0, 60, 0 },
  /* Classify */
  { "set-classes",              start_set_classes,        NULL,                         0, 60, 0 },
  { "set-templates",            start_set_templates,      NULL,                         0, 60, 0 },
  { "use-labels",               start_use_labels,         NULL,                         0, 60, 0 },
  { "wait-probs",               NULL,                     poll_probs,                   0, 60, 0 },
  { "classify-all",             start_classify_all,       poll_folder,                  0, 60, STEP_WAIT_OPTIONAL },
  { "wait-folder",              NULL,                     poll_folder,                  0, 60, 0 },
  { "cancel-folder",            start_cancel_folder,      poll_folder,                  0, 60, 0 },
  { "filter",                   start_filter,             poll_grid,                    0, 60, STEP_ON_FRAME },
  { "sort",                     start_sort,               poll_grid,                    0, 60, STEP_ON_FRAME },
  { "show-metrics",             start_show_metrics,       NULL,                         0, 60, 0 },
  { "export",                   start_export,             NULL,                         0, 60, 0 },
  { "export-save",              start_export_save,        poll_toast,                   0, 60, STEP_ON_FRAME },
  { "wait-toast",               NULL,                     poll_toast,                   0, 60, STEP_ON_FRAME },
  { "toast-action",             start_toast_action,       poll_error_bar,            1000, 60, 0 },
  { "layout",                   NULL,                     poll_layout,                300, 60, STEP_ON_FRAME },
  { "cell-labels",              NULL,                     poll_cell_labels,           200, 60, STEP_ON_FRAME },
  /* dialogs */
  { "load-model",               start_load_model,         poll_load_model,              0, 60, 0 },
  { "open-dialog",              start_open_dialog,        poll_dialog_focus,          300, 60, 0 },
  { "wait-dialog",              NULL,                     poll_dialog_focus,          300, 60, 0 },
  { "hub-page",                 start_hub_page,           NULL,                         0, 60, 0 },
  { "hub-download",             start_hub_download,       poll_hub_done,                0, 60, STEP_WAIT_OPTIONAL },
  { "hub-wait-progress",        NULL,                     poll_hub_progress,            0, 60, 0 },
  { "hub-cancel",               start_hub_cancel,         poll_hub_done,                0, 60, 0 },
  { "hub-use",                  start_hub_use,            poll_hub_done,                0, 60, 0 },
  { "close-dialogs",            start_close_dialogs,      NULL,                       100, 60, 0 },
  /* Search */
  { "search",                   start_search,             poll_search,                400, 60, 0 },
  { "find-similar",             start_find_similar,       poll_search,                400, 60, 0 },
  { "search-preview",           NULL,                     poll_search_preview,          0, 60, 0 },
  { "search-scroll-end",        start_search_scroll_end,  poll_more_results,            0, 60, STEP_ON_FRAME },
  { "index",                    start_index,              poll_index,                   0, 60, STEP_WAIT_OPTIONAL },
  { "wait-index",               NULL,                     poll_index,                   0, 60, 0 },
  { "cancel-index",             start_cancel_index,       poll_index,                   0, 60, 0 },
  { "add-folder",               start_add_folder,         NULL,                         0, 60, 0 },
  { "remove-folder",            start_remove_folder,      NULL,                         0, 60, 0 },
  { "copy-file",                start_copy_file,          NULL,                         0, 60, 0 },
  { "remove-file",              start_remove_file,        NULL,                         0, 60, 0 },
  { "rename-file",              start_rename_file,        NULL,                         0, 60, 0 },
  { "wait-result",              NULL,                     poll_result,                  0, 30, 0 },
  /* Clean Up */
  { "cleanup-find",             start_cleanup_find,       poll_cleanup,               100, 60, 0 },
  { "cleanup-action",           start_cleanup_action,     poll_cleanup,               300, 60, 0 },
  { "cleanup-state",            NULL,                     poll_cleanup,               100, 60, 0 },
  { "cleanup-panel",            start_cleanup_panel,      NULL,                       100, 60, STEP_ON_FRAME },
  /* Train */
  { "train-settings",           start_train_settings,     NULL,                         0, 60, 0 },
  { "settings",                 start_train_settings,     NULL,                         0, 60, 0 },
  { "train-start",              start_train_start,        poll_train,                   0, 60, STEP_WAIT_OPTIONAL },
  { "train-wait",               NULL,                     poll_train,                   0, 60, 0 },
  { "train-wait-steps",         NULL,                     poll_train_steps,             0, 60, 0 },
  { "train-pause",              start_train_pause,        poll_train,                   0, 60, 0 },
  { "train-resume",             start_train_resume,       poll_train,                   0, 60, STEP_WAIT_OPTIONAL },
  { "train-stop",               start_train_stop,         poll_train,                   0, 60, 0 },
  { "train-continue",           start_train_continue,     poll_train,                   0, 60, STEP_WAIT_OPTIONAL },
  { "train-use-model",          start_train_use_model,    poll_model,                   0, 60, 0 },
  { "train-follow",             start_train_follow,       poll_train_points,            0, 60, 0 },
  { "train-wait-points",        NULL,                     poll_train_points,            0, 60, 0 },
  { "chart-hover",              start_chart_hover,        NULL,                         0, 60, 0 },
  { "save-chart",               start_save_chart,         NULL,                         0, 60, 0 },
  /* what a user reads */
  { "browse-details",           NULL,                     poll_browse_details,         50, 60, 0 },
  { "model-details",            start_model_details,      NULL,                         0, 60, 0 },
  { "grid-cells",               NULL,                     poll_grid_cells,            300, 60, STEP_ON_FRAME },
  { "wheel",                    start_wheel,              poll_wheel,                 300, 60, STEP_ON_FRAME },
  { "grid-pass",                start_grid_pass,          poll_grid_pass,               0, 600, STEP_ON_FRAME },
  { "thumbnail-budget",         start_thumbnail_budget,   NULL,                         0, 60, 0 },
  /* Map */
  { "map-wait",                 NULL,                     poll_map,                     0, 60, STEP_ON_FRAME },
  { "map-state",                NULL,                     poll_map_now,                 0, 60, 0 },
  { "map-wait-progress",        NULL,                     poll_map_progress,            0, 60, 0 },
  { "map-stop",                 start_map_action,         poll_map_idle,                0, 60, 0 },
  { "map-select",               start_map_select,         poll_map_now,                 0, 60, 0 },
  { "map-lasso",                start_map_lasso,          poll_map_now,                 0, 60, 0 },
  { "map-point-at",             start_map_point_at,       NULL,                         0, 60, 0 },
  { "map-focus",                start_map_focus,          NULL,                         0, 60, 0 },
  { "map-legend",               start_map_legend,         poll_map_now,                 0, 60, 0 },
  { "map-action",               start_map_action,         poll_map_now,                 0, 60, 0 },
  { "map-query",                start_map_query,          poll_map_highlight,           0, 60, 0 },
  { "map-wait-highlight",       NULL,                     poll_map_highlight,           0, 60, 0 },
  { "map-screenshot",           NULL,                     poll_map_screenshot, SCREENSHOT_DELAY, 60, 0 },
  { "map-pan",                  start_map_pan,            poll_map_pan,                 0, 120, 0 },
};

static const StepDef *
find_step (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    if (g_str_equal (steps[i].name, name))
      return &steps[i];
  return NULL;
}

/* ---------------------------------------------------------------- running */

static void
report_latency (JsonBuilder *b, const GuiLatencyStats *stats)
{
  json_builder_set_member_name (b, "latency");
  json_builder_begin_object (b);
  add_double (b, "max_ms", stats->max_ms);
  add_double (b, "p99_ms", stats->p99_ms);
  add_double (b, "max_block_ms", stats->max_block_ms);
  add_int (b, "n_samples", stats->n_samples);
  json_builder_end_object (b);
}

/* Polls the current step: ends it (and starts the next) when it is done, fails the run when it
 * waited too long. */
static void
poll_step (Driver *driver)
{
  if (driver->def == NULL || g_get_monotonic_time () < driver->not_before)
    return;
  /* The main loop's responsiveness during the step, read before the poll so that building this
   * report (which the application never does) is not counted. */
  GuiLatencyStats stats;
  gui_latency_monitor_get_stats (driver->latency, &stats);
  gboolean wait = !(driver->def->flags & STEP_WAIT_OPTIONAL) || !json_object_has_member (driver->step, "wait")
                  || json_object_get_boolean_member (driver->step, "wait");
  if (driver->def->poll == NULL || !wait || driver->def->poll (driver, driver->report))
    {
      report_latency (driver->report, &stats);
      add_int (driver->report, "wall_us", g_get_real_time ());
      json_builder_end_object (driver->report);
      emit (driver->report);
      g_clear_object (&driver->report);
      driver->def = NULL;
      driver->index++;
      next_step (driver);
      return;
    }
  if (g_get_monotonic_time () > driver->deadline)
    {
      g_autofree char *message = g_strdup_printf ("step %u (%s) timed out", driver->index, driver->def->name);
      finish (driver, 1, message);
    }
}

static gboolean
tick (gpointer data)
{
  Driver *driver = data;

  poll_step (driver);
  return G_SOURCE_CONTINUE;
}

static void
on_after_paint (GdkFrameClock *clock, Driver *driver)
{
  if (driver->first_frame_us == 0)
    driver->first_frame_us = g_get_real_time ();
  if (driver->def != NULL && (driver->def->flags & STEP_ON_FRAME))
    {
      driver->painted = TRUE;
      poll_step (driver);
      driver->painted = FALSE;
    }
}

static void
next_step (Driver *driver)
{
  if (driver->index >= json_array_get_length (driver->steps))
    {
      finish (driver, 0, NULL);
      return;
    }
  driver->step = json_array_get_object_element (driver->steps, driver->index);
  const char *name = step_string (driver, "do", "");
  const StepDef *def = find_step (name);
  if (def == NULL)
    {
      g_autofree char *message = g_strdup_printf ("step %u: unknown action “%s”", driver->index, name);
      finish (driver, 1, message);
      return;
    }

  driver->report = json_builder_new ();
  json_builder_begin_object (driver->report);
  add_int (driver->report, "step", driver->index);
  add_string (driver->report, "do", name);
  add_int (driver->report, "start_us", g_get_real_time ());
  if (def->start != NULL && !def->start (driver, driver->report))
    {
      g_autofree char *message = g_strdup_printf ("step %u (%s): cannot start it", driver->index, name);
      finish (driver, 1, message);
      return;
    }
  int delay_ms = json_object_has_member (driver->step, "delay") ? step_int (driver, "delay")
                 : g_str_equal (name, "wait") ? step_int (driver, "ms") : def->delay_ms;
  double timeout = json_object_has_member (driver->step, "timeout")
                   ? json_object_get_double_member (driver->step, "timeout") : def->timeout_s;
  gui_latency_monitor_reset (driver->latency);
  driver->def = def;
  driver->not_before = g_get_monotonic_time () + (gint64) delay_ms * 1000;
  driver->deadline = driver->not_before + (gint64) (timeout * G_USEC_PER_SEC);
}

/* Starts the script once the window has been shown and the application has started its model. */
static gboolean
start_script (gpointer data)
{
  Driver *driver = data;

  driver->session = cl_window_get_session (driver->window);
  driver->frame_clock = g_object_ref (gtk_widget_get_frame_clock (GTK_WIDGET (driver->window)));
  driver->paint_handler = g_signal_connect (driver->frame_clock, "after-paint", G_CALLBACK (on_after_paint), driver);
  driver->source = g_timeout_add (POLL_MS, tick, driver);
  next_step (driver);
  return G_SOURCE_REMOVE;
}

static void
on_window_added (GtkApplication *application, GtkWindow *window, Driver *driver)
{
  if (driver->window != NULL || !CL_IS_WINDOW (window))
    return;
  driver->window = CL_WINDOW (window);
  /* After the application's activate or open has presented the window and started its model. */
  g_idle_add (start_script, driver);
}

static gboolean
load_script (Driver *driver, const char *path, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();

  if (!json_parser_load_from_file (parser, path, error))
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: the script is not a JSON object", path);
      return FALSE;
    }
  driver->root = json_node_ref (json_parser_get_root (parser));
  JsonObject *object = json_node_get_object (driver->root);
  driver->steps = json_object_get_array_member (object, "steps");
  driver->output_dir = g_strdup (json_object_has_member (object, "output-dir")
                                 ? json_object_get_string_member (object, "output-dir") : ".");
  return TRUE;
}

int
main (int argc, char *argv[])
{
  g_autoptr (GError) error = NULL;
  Driver driver = { 0 };

  if (argc < 2)
    {
      g_printerr ("usage: cliplab-gui-driver SCRIPT.json [APPLICATION ARGUMENTS…]\n");
      return 2;
    }
  cl_application_tune_allocator ();
  cl_thread_lower_priority_of_others (COMPUTE_NICENESS);
  setlocale (LC_ALL, "");
  cl_application_bind_translations ();
  if (!load_script (&driver, argv[1], &error))
    {
      g_printerr ("cliplab-gui-driver: %s\n", error->message);
      return 2;
    }

  /* The application's arguments, with the script's path taken out. */
  argv[1] = argv[0];
  driver.application = cl_application_new ();
  /* A run of its own, never one in an instance the user has open. */
  g_application_set_flags (G_APPLICATION (driver.application),
                           g_application_get_flags (G_APPLICATION (driver.application)) | G_APPLICATION_NON_UNIQUE);
  driver.latency = gui_latency_monitor_new (NULL, PROBE_MS);
  driver.pan_frame_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  driver.pan_paint_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  driver.pan_cpu_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_signal_connect (driver.application, "window-added", G_CALLBACK (on_window_added), &driver);
  int status = g_application_run (G_APPLICATION (driver.application), argc - 1, argv + 1);

  if (!driver.finished)
    {
      g_printerr ("cliplab-gui-driver: the application quit before the script ended\n");
      status = 1;
    }
  g_clear_pointer (&driver.latency, gui_latency_monitor_free);
  g_clear_pointer (&driver.pan_frame_us, g_array_unref);
  g_clear_pointer (&driver.pan_paint_us, g_array_unref);
  g_clear_pointer (&driver.pan_cpu_us, g_array_unref);
  g_clear_object (&driver.application);
  g_clear_pointer (&driver.root, json_node_unref);
  g_free (driver.output_dir);
  g_free (driver.target_path);
  return status != 0 ? status : driver.status;
}
