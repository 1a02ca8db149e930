/* cl-self-test.c — drives the application from a JSON script and reports what it shows. */
#include "cl-self-test.h"

#include <stdio.h>

#include <json-glib/json-glib.h>

#include "cl-browse-view.h"
#include "cl-classify-view.h"
#include "cl-latency-monitor.h"
#include "cl-model-chooser.h"
#include "cl-search-view.h"
#include "cl-train-view.h"

#define POLL_MS          20
#define DEFAULT_TIMEOUT  60      /* seconds a step may wait */
#define SCREENSHOT_DELAY 400     /* ms: transitions and thumbnails settle */
#define PROBE_MS         5       /* period of the latency probe */

typedef struct _SelfTest SelfTest;
/* Returns TRUE when the step is finished (its report is complete). */
typedef gboolean (*StepPoll) (SelfTest *test, JsonBuilder *report);

struct _SelfTest {
  GtkApplication *application;
  ClWindow *window;
  ClSession *session;
  JsonNode *root;
  JsonArray *steps;
  char *output_dir;
  guint index;
  JsonObject *step;
  JsonBuilder *report;
  StepPoll poll;
  gint64 deadline;
  gint64 not_before;
  char *target_path;
  GtkWindow *dialog;
  guint source;
  ClLatencyMonitor *latency;   /* reset at the start of every step */
  gint64 first_frame_us;       /* real time the window's first frame was painted; 0 before */
  GdkFrameClock *frame_clock;  /* the window's */
  gboolean painted;            /* in the frame clock's after-paint: what the grid shows is on screen */
  gboolean *alive;             /* set to FALSE when the test is freed meanwhile */
  gulong paint_handler;
  ClSelfTestDone done;
  gpointer done_data;
};

static void next_step (SelfTest *test);

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

static void
finish (SelfTest *test, int status, const char *error)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  add_boolean (builder, "done", TRUE);
  add_int (builder, "status", status);
  if (error != NULL)
    {
      json_builder_set_member_name (builder, "error");
      json_builder_add_string_value (builder, error);
    }
  json_builder_end_object (builder);
  emit (builder);

  g_clear_handle_id (&test->source, g_source_remove);
  if (test->alive != NULL)
    *test->alive = FALSE;
  g_clear_pointer (&test->latency, cl_latency_monitor_free);
  if (test->frame_clock != NULL)
    g_clear_signal_handler (&test->paint_handler, test->frame_clock);
  g_clear_object (&test->frame_clock);
  test->done (status, test->done_data);
  g_clear_object (&test->report);
  json_node_unref (test->root);
  g_free (test->output_dir);
  g_free (test->target_path);
  g_clear_object (&test->window);
  g_free (test);
}

static const char *
step_string (SelfTest *test, const char *member, const char *fallback)
{
  return json_object_has_member (test->step, member) ? json_object_get_string_member (test->step, member) : fallback;
}

static void
report_error_bar (SelfTest *test, JsonBuilder *b)
{
  const char *title = NULL, *detail = NULL;

  json_builder_set_member_name (b, "error_bar");
  if (!cl_window_get_error (test->window, &title, &detail))
    {
      json_builder_add_null_value (b);
      return;
    }
  json_builder_begin_object (b);
  add_string (b, "title", title);
  add_string (b, "detail", detail);
  json_builder_end_object (b);
}

static void
report_model (SelfTest *test, JsonBuilder *b)
{
  static const char *const states[] = { "none", "loading", "ready" };
  const ClModelInfo *info = cl_session_get_model_info (test->session);

  add_string (b, "model_state", states[cl_session_get_model_state (test->session)]);
  add_string (b, "model_label", cl_window_get_model_label (test->window));
  add_string (b, "model_path", info != NULL ? info->path : NULL);
  add_string (b, "model_notice", cl_window_get_model_notice (test->window));
}

static ClBrowseView *
browse_view (SelfTest *test)
{
  return CL_BROWSE_VIEW (cl_window_get_view (test->window, "browse"));
}

static ClClassifyView *
classify_view (SelfTest *test)
{
  return CL_CLASSIFY_VIEW (cl_window_get_view (test->window, "classify"));
}

/* ---------------------------------------------------------------- polls */

static gboolean
poll_model (SelfTest *test, JsonBuilder *b)
{
  if (cl_session_get_model_state (test->session) == CL_MODEL_STATE_LOADING)
    return FALSE;
  report_model (test, b);
  report_error_bar (test, b);
  return TRUE;
}

static gboolean
poll_open (SelfTest *test, JsonBuilder *b)
{
  const char *title = NULL, *detail = NULL;
  gboolean failed = cl_window_get_error (test->window, &title, &detail);
  ClCollection *collection = cl_session_get_collection (test->session);
  g_autofree char *path = collection != NULL ? g_file_get_path (cl_collection_get_file (collection)) : NULL;

  if (cl_session_get_collection_loading (test->session))
    return FALSE;
  if (g_strcmp0 (path, test->target_path) != 0 && !failed)
    return FALSE;
  add_int (b, "n_items", collection != NULL && g_strcmp0 (path, test->target_path) == 0
                                   ? (gint64) cl_collection_get_n_items (collection) : -1);
  add_string (b, "page", cl_browse_view_get_page (browse_view (test)));
  report_error_bar (test, b);
  return TRUE;
}

static gboolean
poll_probs (SelfTest *test, JsonBuilder *b)
{
  ClClassifyView *view = classify_view (test);

  if (cl_classify_view_is_live_busy (view))
    return FALSE;
  ClProbBars *bars = cl_classify_view_get_prob_bars (view);
  const char *hint = cl_classify_view_get_probs_hint (view);
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
  ClImageItem *item = cl_session_get_selected_item (test->session);
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

static gboolean
poll_folder (SelfTest *test, JsonBuilder *b)
{
  ClClassifyView *view = classify_view (test);

  if (cl_classify_view_is_folder_busy (view) || cl_classify_view_is_grid_pending (view))
    return FALSE;
  add_string (b, "summary", cl_classify_view_get_folder_summary (view));
  add_string (b, "metrics", cl_classify_view_get_metrics_summary (view));
  report_grid (b, cl_classify_view_get_grid_model (view));
  report_error_bar (test, b);
  return TRUE;
}

static gboolean
poll_grid (SelfTest *test, JsonBuilder *b)
{
  if (cl_classify_view_is_grid_pending (classify_view (test)))
    return FALSE;
  report_grid (b, cl_classify_view_get_grid_model (classify_view (test)));
  return TRUE;
}

static gboolean
poll_thumbnails (SelfTest *test, JsonBuilder *b)
{
  ClThumbnailer *thumbnailer = cl_session_get_thumbnailer (test->session);
  guint from_cache, decoded, failed;

  if (cl_thumbnailer_get_n_pending (thumbnailer) > 0 || cl_browse_view_is_busy (browse_view (test)))
    return FALSE;
  cl_thumbnailer_get_stats (thumbnailer, &from_cache, &decoded, &failed);
  add_int (b, "from_cache", from_cache);
  add_int (b, "decoded", decoded);
  add_int (b, "failed", failed);
  return TRUE;
}

static gboolean
poll_browse (SelfTest *test, JsonBuilder *b)
{
  ClBrowseView *view = browse_view (test);

  if (cl_browse_view_is_busy (view))
    return FALSE;
  g_autoptr (GPtrArray) matches = cl_browse_view_get_caption_matches (view);
  add_string (b, "page", cl_browse_view_get_page (view));
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
  ClImageItem *item = cl_session_get_selected_item (test->session);
  add_string (b, "image", item != NULL ? cl_image_item_get_path (item) : NULL);
  return TRUE;
}

static gboolean
poll_load_model (SelfTest *test, JsonBuilder *b)
{
  ClModelChooser *chooser = CL_MODEL_CHOOSER (test->dialog);

  if (cl_model_chooser_is_busy (chooser))
    return FALSE;
  add_string (b, "chooser_error", cl_model_chooser_get_error (chooser));
  report_model (test, b);
  report_error_bar (test, b);
  return TRUE;
}

/* Selects the image at "index" of a view's grid once the grid is filtered and sorted. */
static gboolean
poll_select (SelfTest *test, JsonBuilder *b)
{
  guint index = json_object_get_int_member (test->step, "index");

  if (g_str_equal (step_string (test, "view", "browse"), "classify"))
    {
      if (cl_classify_view_is_grid_pending (classify_view (test)))
        return FALSE;
      cl_classify_view_select_position (classify_view (test), index);
    }
  else
    cl_browse_view_select_position (browse_view (test), index);
  return TRUE;
}

static gboolean
poll_first_frame (SelfTest *test, JsonBuilder *b)
{
  if (test->first_frame_us == 0)
    return FALSE;
  add_int (b, "first_frame_us", test->first_frame_us);
  return TRUE;
}

/* The Browse grid's cells on screen, and how many show their thumbnail. */
static void
count_visible (SelfTest *test, guint *n_visible, guint *n_filled)
{
  ClImageGrid *grid = cl_browse_view_get_grid (browse_view (test));
  cl_image_grid_count_visible (grid, n_visible, n_filled);
}

static void
report_visible (JsonBuilder *b, guint n_visible, guint n_filled)
{
  add_int (b, "n_visible", n_visible);
  add_int (b, "n_filled", n_filled);
}

/* Until a frame of the Browse grid with items has been painted. */
static gboolean
poll_grid_shown (SelfTest *test, JsonBuilder *b)
{
  guint n_visible, n_filled;

  if (!test->painted)
    return FALSE;
  count_visible (test, &n_visible, &n_filled);
  if (n_visible == 0)
    return FALSE;
  report_visible (b, n_visible, n_filled);
  return TRUE;
}

/* Until a frame has been painted in which every cell the Browse grid shows has its thumbnail. */
static gboolean
poll_visible_thumbnails (SelfTest *test, JsonBuilder *b)
{
  guint n_visible, n_filled;

  if (!test->painted)
    return FALSE;
  count_visible (test, &n_visible, &n_filled);
  if (n_visible == 0 || n_filled < n_visible)
    return FALSE;
  report_visible (b, n_visible, n_filled);
  return TRUE;
}

/* Until a frame has been painted: what the step changed is on screen (and its cost is counted in
 * this step rather than the next one). */
static gboolean
poll_painted (SelfTest *test, JsonBuilder *b)
{
  return test->painted;
}

static gboolean
poll_done (SelfTest *test, JsonBuilder *b)
{
  return TRUE;
}

static gboolean
poll_error_bar (SelfTest *test, JsonBuilder *b)
{
  report_error_bar (test, b);
  report_model (test, b);
  return TRUE;
}

/* ---------------------------------------------------------------- screenshots */

static GtkWindow *
topmost_dialog (SelfTest *test)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  GtkWindow *found = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr (GtkWindow) window = g_list_model_get_item (toplevels, i);
      if (window != GTK_WINDOW (test->window) && gtk_widget_get_visible (GTK_WIDGET (window))
          && gtk_widget_get_mapped (GTK_WIDGET (window)))
        found = window;
    }
  return found;
}

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
poll_screenshot (SelfTest *test, JsonBuilder *b)
{
  g_autoptr (GError) error = NULL;
  const char *which = step_string (test, "window", "main");
  GtkWidget *widget = g_str_equal (which, "dialog") ? GTK_WIDGET (topmost_dialog (test)) : GTK_WIDGET (test->window);

  if (widget == NULL)
    {
      add_string (b, "error", "no dialog is open");
      return TRUE;
    }
  g_mkdir_with_parents (test->output_dir, 0755);
  g_autofree char *path = g_build_filename (test->output_dir, step_string (test, "file", "screenshot.png"), NULL);
  add_string (b, "file", path);
  if (!save_screenshot (widget, path, &error))
    add_string (b, "error", error->message);
  add_int (b, "width", gtk_widget_get_width (widget));
  add_int (b, "height", gtk_widget_get_height (widget));
  return TRUE;
}

/* ---------------------------------------------------------------- steps */

static void
report_latency (JsonBuilder *b, const ClLatencyStats *stats)
{
  json_builder_set_member_name (b, "latency");
  json_builder_begin_object (b);
  add_double (b, "max_ms", stats->max_ms);
  add_double (b, "p99_ms", stats->p99_ms);
  add_double (b, "max_block_ms", stats->max_block_ms);
  add_int (b, "n_samples", stats->n_samples);
  json_builder_end_object (b);
}

static gboolean
tick (gpointer data)
{
  SelfTest *test = data;

  if (test->poll == NULL)
    return G_SOURCE_CONTINUE;
  if (g_get_monotonic_time () < test->not_before)
    return G_SOURCE_CONTINUE;
  /* The main loop's responsiveness during the step, read before the poll so that building this
   * report (which the application never does) is not counted. */
  ClLatencyStats stats;
  cl_latency_monitor_get_stats (test->latency, &stats);
  if (test->poll (test, test->report))
    {
      report_latency (test->report, &stats);
      json_builder_set_member_name (test->report, "wall_us");
      json_builder_add_int_value (test->report, g_get_real_time ());
      json_builder_end_object (test->report);
      emit (test->report);
      g_clear_object (&test->report);
      test->poll = NULL;
      test->index++;
      next_step (test);
      return G_SOURCE_CONTINUE;
    }
  if (g_get_monotonic_time () > test->deadline)
    {
      const char *action = step_string (test, "do", "?");
      g_autofree char *message = g_strdup_printf ("step %u (%s) timed out", test->index, action);
      test->poll = NULL;
      finish (test, 1, message);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/* Steps about what is on screen finish at the frame that shows it, not at the next tick. */
static void
on_after_paint (GdkFrameClock *clock, SelfTest *test)
{
  if (test->first_frame_us == 0)
    test->first_frame_us = g_get_real_time ();
  if (test->poll == poll_grid_shown || test->poll == poll_visible_thumbnails || test->poll == poll_first_frame
      || test->poll == poll_painted)
    {
      gboolean alive = TRUE;
      test->alive = &alive;
      test->painted = TRUE;
      tick (test);
      if (!alive)
        return;
      test->painted = FALSE;
      test->alive = NULL;
    }
}

static void
start_step (SelfTest *test, StepPoll poll, int delay_ms)
{
  double timeout = json_object_has_member (test->step, "timeout")
                   ? json_object_get_double_member (test->step, "timeout") : DEFAULT_TIMEOUT;
  test->poll = poll;
  cl_latency_monitor_reset (test->latency);
  test->not_before = g_get_monotonic_time () + (gint64) delay_ms * 1000;
  test->deadline = test->not_before + (gint64) (timeout * G_USEC_PER_SEC);
}

/* ---------------------------------------------------------------- Search and Train views */

static ClSearchView *
search_view (SelfTest *test)
{
  return CL_SEARCH_VIEW (cl_window_get_view (test->window, "search"));
}

static ClTrainView *
train_view (SelfTest *test)
{
  return CL_TRAIN_VIEW (cl_window_get_view (test->window, "train"));
}

static void
report_search (SelfTest *test, JsonBuilder *b)
{
  ClSearchView *view = search_view (test);
  GListModel *results = cl_search_view_get_results (view);

  add_string (b, "page", cl_search_view_get_page (view));
  add_string (b, "summary", cl_search_view_get_summary (view));
  add_string (b, "index_status", cl_search_view_get_index_status (view));
  add_int (b, "n_indexed", cl_search_view_get_n_indexed (view));
  json_builder_set_member_name (b, "results");
  json_builder_begin_array (b);
  /* Only the results page shows the results. */
  guint n = g_strcmp0 (cl_search_view_get_page (view), "results") == 0 ? g_list_model_get_n_items (results) : 0;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (ClImageItem) item = g_list_model_get_item (results, i);
      json_builder_begin_object (b);
      add_string (b, "path", cl_image_item_get_path (item));
      add_double (b, "score", cl_image_item_get_confidence (item));
      add_string (b, "shown", cl_image_item_get_prediction (item));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static gboolean
poll_search (SelfTest *test, JsonBuilder *b)
{
  if (cl_search_view_is_searching (search_view (test)))
    return FALSE;
  report_search (test, b);
  report_error_bar (test, b);
  return TRUE;
}

static gboolean
poll_index (SelfTest *test, JsonBuilder *b)
{
  if (cl_search_view_is_indexing (search_view (test)))
    return FALSE;
  report_search (test, b);
  report_error_bar (test, b);
  return TRUE;
}

static void
report_train (SelfTest *test, JsonBuilder *b)
{
  ClTrainView *view = train_view (test);
  ClLossChart *chart = cl_train_view_get_chart (view);
  guint n = cl_loss_chart_get_n_points (chart), n_evals = cl_loss_chart_get_n_evals (chart);

  add_string (b, "state", cl_train_view_get_state (view));
  add_string (b, "message", cl_train_view_get_message (view));
  add_string (b, "out_dir", cl_train_view_get_out_dir (view));
  add_string (b, "model_path", cl_train_view_get_model_path (view));
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

static gboolean
poll_train (SelfTest *test, JsonBuilder *b)
{
  if (cl_train_view_is_busy (train_view (test)))
    return FALSE;
  report_train (test, b);
  report_error_bar (test, b);
  return TRUE;
}

/* Until the chart holds at least the step's "steps" points (or the run ended). */
static gboolean
poll_train_steps (SelfTest *test, JsonBuilder *b)
{
  ClTrainView *view = train_view (test);
  guint want = json_object_get_int_member (test->step, "steps");

  if (cl_loss_chart_get_n_points (cl_train_view_get_chart (view)) < want && cl_train_view_is_busy (view))
    return FALSE;
  add_string (b, "state", cl_train_view_get_state (view));
  add_int (b, "n_points", cl_loss_chart_get_n_points (cl_train_view_get_chart (view)));
  return TRUE;
}

/* The step's "settings" object written to GSettings, as the Train view's widgets would. */
static void
apply_settings (SelfTest *test)
{
  GSettings *settings = cl_session_get_settings (test->session);
  JsonObject *values = json_object_get_object_member (test->step, "settings");
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
press_keys (SelfTest *test, const char *accelerator)
{
  guint keyval = 0;
  GdkModifierType modifiers = 0;
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (test->window));
  g_autoptr (GPtrArray) chain = g_ptr_array_new ();

  if (!gtk_accelerator_parse (accelerator, &keyval, &modifiers))
    return FALSE;
  for (GtkWidget *w = focus != NULL ? focus : GTK_WIDGET (test->window); w != NULL; w = gtk_widget_get_parent (w))
    g_ptr_array_add (chain, w);
  for (guint i = chain->len; i-- > 0;)
    if (activate_shortcut (chain->pdata[i], GTK_PHASE_CAPTURE, keyval, modifiers))
      return TRUE;
  for (guint i = 0; i < chain->len; i++)
    if (activate_shortcut (chain->pdata[i], GTK_PHASE_BUBBLE, keyval, modifiers))
      return TRUE;
  return FALSE;
}

static ClImageGrid *
browse_grid (SelfTest *test)
{
  return cl_browse_view_get_grid (browse_view (test));
}

/* What the keyboard changed: the view, the focus, the Browse grid's open menu, the search. */
static gboolean
poll_keys (SelfTest *test, JsonBuilder *b)
{
  ClSearchView *search = search_view (test);
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (test->window));
  GtkWidget *entry = GTK_WIDGET (cl_search_view_get_entry (search));
  GMenuModel *menu = cl_image_grid_get_open_menu (browse_grid (test));

  if (cl_search_view_is_searching (search))
    return FALSE;
  add_string (b, "view", cl_window_get_visible_view (test->window));
  add_boolean (b, "focus_in_search_entry", focus != NULL && (focus == entry || gtk_widget_is_ancestor (focus, entry)));
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
  report_search (test, b);
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
static void
report_shortcuts (SelfTest *test, JsonBuilder *b)
{
  g_auto (GStrv) actions = gtk_application_list_action_descriptions (test->application);
  GtkShortcutsWindow *overlay = gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (test->window));

  json_builder_set_member_name (b, "accels");
  json_builder_begin_array (b);
  for (char **action = actions; *action != NULL; action++)
    {
      g_auto (GStrv) accels = gtk_application_get_accels_for_action (test->application, *action);
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
}

static gboolean
step_wait (SelfTest *test)
{
  return !json_object_has_member (test->step, "wait") || json_object_get_boolean_member (test->step, "wait");
}

/* Starts ACTION when it belongs to the Search or Train view; FALSE when it does not. */
static gboolean
start_search_train_step (SelfTest *test, const char *action)
{
  if (g_str_equal (action, "press-keys"))
    {
      json_builder_set_member_name (test->report, "handled");
      json_builder_add_boolean_value (test->report, press_keys (test, step_string (test, "keys", "")));
      start_step (test, poll_keys, 50);
    }
  else if (g_str_equal (action, "shortcuts"))
    {
      report_shortcuts (test, test->report);
      start_step (test, poll_done, 0);
    }
  else if (g_str_equal (action, "focus-grid"))
    {
      json_builder_set_member_name (test->report, "focused");
      json_builder_add_boolean_value (test->report, cl_image_grid_focus_selected (browse_grid (test)));
      start_step (test, poll_done, 50);
    }
  else if (g_str_equal (action, "activate-menu-item"))
    {
      json_builder_set_member_name (test->report, "activated");
      json_builder_add_boolean_value (test->report, cl_image_grid_activate_menu_item (browse_grid (test),
                                                                                       json_object_get_int_member (test->step, "index")));
      start_step (test, poll_keys, 400);
    }
  else if (g_str_equal (action, "search"))
    {
      /* The real entry: its search delay, then the worker. */
      gtk_editable_set_text (cl_search_view_get_entry (search_view (test)), step_string (test, "text", ""));
      start_step (test, poll_search, 400);
    }
  else if (g_str_equal (action, "find-similar"))
    {
      g_autofree char *path = g_canonicalize_filename (step_string (test, "path", ""), NULL);
      gtk_widget_activate_action (GTK_WIDGET (test->window), "win.find-similar", "s", path);
      start_step (test, poll_search, 400);
    }
  else if (g_str_equal (action, "search-margin"))
    {
      cl_search_view_set_margin (search_view (test), json_object_get_double_member (test->step, "margin"));
      start_step (test, poll_search, 50);
    }
  else if (g_str_equal (action, "index"))
    {
      cl_search_view_update_index (search_view (test));
      start_step (test, step_wait (test) ? poll_index : poll_done, 0);
    }
  else if (g_str_equal (action, "wait-index"))
    start_step (test, poll_index, 0);
  else if (g_str_equal (action, "cancel-index"))
    {
      ClSearchView *view = search_view (test);
      json_builder_set_member_name (test->report, "was_running");
      json_builder_add_boolean_value (test->report, cl_search_view_is_indexing (view));
      gint64 start = g_get_monotonic_time ();
      cl_search_view_stop_index (view);
      json_builder_set_member_name (test->report, "cancel_ms");
      json_builder_add_double_value (test->report, (g_get_monotonic_time () - start) / 1000.0);
      start_step (test, poll_index, 0);
    }
  else if (g_str_equal (action, "train-settings"))
    {
      apply_settings (test);
      start_step (test, poll_done, 0);
    }
  else if (g_str_equal (action, "train-start"))
    {
      cl_train_view_start (train_view (test));
      start_step (test, step_wait (test) ? poll_train : poll_done, 0);
    }
  else if (g_str_equal (action, "train-wait"))
    start_step (test, poll_train, 0);
  else if (g_str_equal (action, "train-wait-steps"))
    start_step (test, poll_train_steps, 0);
  else if (g_str_equal (action, "train-pause"))
    {
      cl_train_view_pause (train_view (test));
      start_step (test, poll_train, 0);
    }
  else if (g_str_equal (action, "train-resume"))
    {
      cl_train_view_resume (train_view (test));
      start_step (test, step_wait (test) ? poll_train : poll_done, 0);
    }
  else if (g_str_equal (action, "train-stop"))
    {
      ClTrainView *view = train_view (test);
      add_string (test->report, "was", cl_train_view_get_state (view));
      cl_train_view_stop (view);
      start_step (test, poll_train, 0);
    }
  else if (g_str_equal (action, "train-continue"))
    {
      cl_train_view_continue_run (train_view (test), step_string (test, "path", ""));
      start_step (test, step_wait (test) ? poll_train : poll_done, 0);
    }
  else if (g_str_equal (action, "train-use-model"))
    {
      cl_train_view_use_model (train_view (test));
      start_step (test, poll_model, 0);
    }
  else if (g_str_equal (action, "chart-hover"))
    {
      ClLossChart *chart = cl_train_view_get_chart (train_view (test));
      cl_loss_chart_hover_step (chart, json_object_get_double_member (test->step, "step"));
      g_autofree char *text = cl_loss_chart_get_hover_text (chart);
      add_string (test->report, "hover", text);
      start_step (test, poll_done, 0);
    }
  else if (g_str_equal (action, "save-chart"))
    {
      g_autoptr (GError) error = NULL;
      ClLossChart *chart = cl_train_view_get_chart (train_view (test));
      gboolean ok = cl_loss_chart_save (chart, step_string (test, "path", ""),
                                        (int) json_object_get_int_member (test->step, "width"),
                                        (int) json_object_get_int_member (test->step, "height"), 1, &error);
      json_builder_set_member_name (test->report, "ok");
      json_builder_add_boolean_value (test->report, ok);
      add_string (test->report, "error", ok ? NULL : error->message);
      start_step (test, poll_done, 0);
    }
  else
    return FALSE;
  return TRUE;
}

static void
next_step (SelfTest *test)
{
  if (test->index >= json_array_get_length (test->steps))
    {
      finish (test, 0, NULL);
      return;
    }
  test->step = json_array_get_object_element (test->steps, test->index);
  const char *action = step_string (test, "do", "");
  test->report = json_builder_new ();
  json_builder_begin_object (test->report);
  json_builder_set_member_name (test->report, "step");
  json_builder_add_int_value (test->report, test->index);
  add_string (test->report, "do", action);
  json_builder_set_member_name (test->report, "start_us");
  json_builder_add_int_value (test->report, g_get_real_time ());

  if (g_str_equal (action, "wait-model"))
    start_step (test, poll_model, 0);
  else if (g_str_equal (action, "wait-first-frame"))
    start_step (test, poll_first_frame, 0);
  else if (g_str_equal (action, "wait-grid"))
    start_step (test, poll_grid_shown, 0);
  else if (g_str_equal (action, "wait-visible-thumbnails"))
    start_step (test, poll_visible_thumbnails, 0);
  else if (g_str_equal (action, "open"))
    {
      g_free (test->target_path);
      test->target_path = g_canonicalize_filename (step_string (test, "path", ""), NULL);
      g_autoptr (GFile) file = g_file_new_for_path (test->target_path);
      cl_session_open (test->session, file);
      start_step (test, poll_open, 50);
    }
  else if (g_str_equal (action, "wait-open"))
    {
      /* A folder given on the command line. */
      g_free (test->target_path);
      test->target_path = g_canonicalize_filename (step_string (test, "path", ""), NULL);
      start_step (test, poll_open, 0);
    }
  else if (g_str_equal (action, "view"))
    {
      cl_window_show_view (test->window, step_string (test, "name", "browse"));
      gtk_widget_queue_draw (GTK_WIDGET (test->window));
      start_step (test, poll_painted, 0);
    }
  else if (g_str_equal (action, "select"))
    start_step (test, poll_select, 0);
  else if (g_str_equal (action, "set-classes"))
    {
      /* The real text view's buffer: the same path as typing. */
      gtk_text_buffer_set_text (cl_classify_view_get_classes_buffer (classify_view (test)),
                                step_string (test, "text", ""), -1);
      start_step (test, poll_done, 0);
    }
  else if (g_str_equal (action, "set-templates"))
    {
      cl_classify_view_set_template_preset (classify_view (test), step_string (test, "preset", "simple"));
      start_step (test, poll_done, 0);
    }
  else if (g_str_equal (action, "wait-probs"))
    start_step (test, poll_probs, 0);
  else if (g_str_equal (action, "classify-all"))
    {
      gboolean wait = !json_object_has_member (test->step, "wait")
                      || json_object_get_boolean_member (test->step, "wait");
      cl_classify_view_classify_all (classify_view (test));
      start_step (test, wait ? poll_folder : poll_done, 0);
    }
  else if (g_str_equal (action, "cancel-folder"))
    {
      ClClassifyView *view = classify_view (test);
      json_builder_set_member_name (test->report, "was_running");
      json_builder_add_boolean_value (test->report, cl_classify_view_is_folder_busy (view));
      json_builder_set_member_name (test->report, "cancel_ms");
      gint64 start = g_get_monotonic_time ();
      cl_classify_view_cancel_all (view);
      json_builder_add_double_value (test->report, (g_get_monotonic_time () - start) / 1000.0);
      start_step (test, poll_folder, 0);
    }
  else if (g_str_equal (action, "filter"))
    {
      cl_classify_view_set_filter_class (classify_view (test), step_string (test, "class", NULL));
      start_step (test, poll_grid, 0);
    }
  else if (g_str_equal (action, "sort"))
    {
      cl_classify_view_set_sort_by_confidence (classify_view (test),
                                               g_str_equal (step_string (test, "by", "name"), "confidence"));
      start_step (test, poll_grid, 0);
    }
  else if (g_str_equal (action, "show-metrics"))
    {
      cl_classify_view_show_metrics (classify_view (test), json_object_get_boolean_member (test->step, "show"));
      start_step (test, poll_done, 0);
    }
  else if (g_str_equal (action, "export"))
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GFile) file = g_file_new_for_path (step_string (test, "path", ""));
      gboolean ok = cl_classify_view_export_to_file (classify_view (test), file, &error);
      json_builder_set_member_name (test->report, "ok");
      json_builder_add_boolean_value (test->report, ok);
      add_string (test->report, "error", ok ? NULL : error->message);
      start_step (test, poll_done, 0);
    }
  else if (g_str_equal (action, "wait-thumbnails"))
    start_step (test, poll_thumbnails, 100);
  else if (g_str_equal (action, "wait-browse"))
    start_step (test, poll_browse, 50);
  else if (g_str_equal (action, "load-model"))
    {
      if (test->dialog == NULL || !CL_IS_MODEL_CHOOSER (test->dialog))
        test->dialog = cl_window_open_model_chooser (test->window);
      cl_model_chooser_set_tokenizer (CL_MODEL_CHOOSER (test->dialog), step_string (test, "tokenizer", ""));
      cl_model_chooser_load (CL_MODEL_CHOOSER (test->dialog), step_string (test, "path", ""));
      start_step (test, poll_load_model, 0);
    }
  else if (g_str_equal (action, "open-dialog"))
    {
      const char *name = step_string (test, "name", "");
      if (g_str_equal (name, "model"))
        test->dialog = cl_window_open_model_chooser (test->window);
      else if (g_str_equal (name, "preferences"))
        g_action_group_activate_action (G_ACTION_GROUP (test->application), "preferences", NULL);
      else if (g_str_equal (name, "about"))
        g_action_group_activate_action (G_ACTION_GROUP (test->application), "about", NULL);
      else if (g_str_equal (name, "shortcuts"))
        gtk_widget_activate_action (GTK_WIDGET (test->window), "win.show-help-overlay", NULL);
      start_step (test, poll_done, 300);
    }
  else if (g_str_equal (action, "close-dialogs"))
    {
      GtkWindow *dialog;
      while ((dialog = topmost_dialog (test)) != NULL)
        gtk_window_destroy (dialog);
      test->dialog = NULL;
      start_step (test, poll_done, 100);
    }
  else if (g_str_equal (action, "set-style"))
    {
      g_settings_set_string (cl_session_get_settings (test->session), "style", step_string (test, "style", "system"));
      start_step (test, poll_done, 200);
    }
  else if (g_str_equal (action, "resize"))
    {
      gtk_window_set_default_size (GTK_WINDOW (test->window), json_object_get_int_member (test->step, "width"),
                                   json_object_get_int_member (test->step, "height"));
      start_step (test, poll_done, 300);
    }
  else if (g_str_equal (action, "error-bar"))
    start_step (test, poll_error_bar, 0);
  else if (g_str_equal (action, "screenshot"))
    start_step (test, poll_screenshot, json_object_has_member (test->step, "delay")
                                       ? json_object_get_int_member (test->step, "delay") : SCREENSHOT_DELAY);
  else if (g_str_equal (action, "wait"))
    start_step (test, poll_done, json_object_get_int_member (test->step, "ms"));
  else if (!start_search_train_step (test, action))
    {
      g_autofree char *message = g_strdup_printf ("step %u: unknown action “%s”", test->index, action);
      finish (test, 1, message);
    }
}

void
cl_self_test_run (GtkApplication *application, ClWindow *window, const char *script_path, ClSelfTestDone done,
                  gpointer user_data)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  SelfTest *test = g_new0 (SelfTest, 1);

  test->application = application;
  test->window = g_object_ref (window);
  test->session = cl_window_get_session (window);
  test->done = done;
  test->done_data = user_data;
  if (!json_parser_load_from_file (parser, script_path, &error)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      test->root = json_node_new (JSON_NODE_NULL);
      finish (test, 1, error != NULL ? error->message : "the script is not a JSON object");
      return;
    }
  test->root = json_node_ref (json_parser_get_root (parser));
  JsonObject *object = json_node_get_object (test->root);
  test->steps = json_object_get_array_member (object, "steps");
  test->output_dir = g_strdup (json_object_has_member (object, "output-dir")
                               ? json_object_get_string_member (object, "output-dir") : ".");
  test->latency = cl_latency_monitor_new (NULL, PROBE_MS);
  test->frame_clock = g_object_ref (gtk_widget_get_frame_clock (GTK_WIDGET (window)));
  test->paint_handler = g_signal_connect (test->frame_clock, "after-paint", G_CALLBACK (on_after_paint), test);
  test->source = g_timeout_add (POLL_MS, tick, test);
  next_step (test);
}
