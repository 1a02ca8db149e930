/* cl-map-view.c — the open folder's images on a 2-D map. */
#include "cl-map-view.h"

#include <string.h>

#include <glib/gi18n.h>

#include "cl-async.h"
#include "cl-map-canvas.h"
#include "cl-map-layout.h"
#include "cl-search-index.h"
#include "cl-search-query.h"
#include "cl-status-page.h"
#include "cl-window.h"

#define MAP_SEED         0        /* the layout's seed: the same folder gives the same map */
#define HIGHLIGHT_TOP_K  50       /* images a query or "find similar" lights up */
#define HIGHLIGHT_FLOOR  0.15     /* the intensity of the last of them */
#define PREVIEW_MAX_SIZE 384      /* pixels of the selected image's preview */

struct _ClMapView {
  GtkWidget parent_instance;

  /* Template widgets. */
  GtkStack *stack;
  ClStatusPage *error_page;
  GtkLabel *progress_label;
  ClMapCanvas *canvas;
  GtkListBox *legend;
  GtkWidget *label_toggle;
  GtkWidget *class_toggle;
  GtkSearchEntry *entry;
  GtkLabel *summary_label;
  GtkLabel *selection_label;
  GtkPicture *preview;
  GtkLabel *preview_name;

  ClSession *session;
  ClSearchIndex *index;           /* of the open collection's image folder, NULL without one or a model */
  guint generation;               /* changes with INDEX: older results are stale */
  GCancellable *cancellable;      /* the update or layout running */
  gboolean reading_cache;         /* the layout running only reads the cache */
  GCancellable *query_cancellable;
  GCancellable *preview_cancellable;
  ClMapLayout *layout;            /* shown, or NULL */
  GPtrArray *points;              /* ClImageItem of each point of LAYOUT */
  GHashTable *point_of_path;      /* absolute path → point + 1 */
  gboolean *trashed;              /* [n] the points whose images were moved to the trash: hidden */
  guint n_shown;                  /* the points not trashed */
  char *color_by;                 /* "cluster", "label" or "prediction" */
  int *category;                  /* each point's category after COLOR_BY, -1: none */
  guint n_categories;             /* the legend's rows for categories 0 …; a last row is for -1 */
  char *similar_path;             /* the image of "find similar", or NULL */
  gboolean syncing_selection;     /* the canvas follows the session's selection */

  /* What the properties report. */
  gboolean computing;
  double progress;
  guint n_highlighted;
};

G_DEFINE_FINAL_TYPE (ClMapView, cl_map_view, GTK_TYPE_WIDGET)

enum {
  PROP_0, PROP_COMPUTING, PROP_PROGRESS, PROP_N_POINTS, PROP_N_CLUSTERS, PROP_CLUSTER_NAMES, PROP_FROM_CACHE,
  PROP_N_HIGHLIGHTED, PROP_N_SELECTED, PROP_COLOR_BY, N_PROPS
};
static GParamSpec *properties[N_PROPS];


/* ---------------------------------------------------------------- state */

static void
set_computing (ClMapView *self, gboolean computing, double progress)
{
  if (computing != self->computing)
    {
      self->computing = computing;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COMPUTING]);
    }
  self->progress = progress;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "map.stop", computing);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "map.compute", !computing && self->index != NULL);
}

static void
show_error (ClMapView *self, const char *title, const char *message)
{
  cl_status_page_set_title (self->error_page, title);
  cl_status_page_set_description (self->error_page, message);
  gtk_stack_set_visible_child_name (self->stack, "error");
}

static void
notify_layout (ClMapView *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_POINTS]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CLUSTERS]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLUSTER_NAMES]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FROM_CACHE]);
}

/* ---------------------------------------------------------------- colours and the legend */

static void
legend_add (ClMapView *self, const GdkRGBA *color, const char *name, guint count)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  g_autofree char *markup = g_markup_printf_escaped ("<span foreground=\"#%02x%02x%02x\">●</span>",
                                                     (int) (color->red * 255), (int) (color->green * 255),
                                                     (int) (color->blue * 255));
  GtkWidget *dot = gtk_label_new (NULL);
  GtkWidget *label = gtk_label_new (name);
  g_autofree char *count_text = g_strdup_printf ("%u", count);
  GtkWidget *count_label = gtk_label_new (count_text);

  gtk_label_set_markup (GTK_LABEL (dot), markup);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (label, TRUE);
  gtk_widget_add_css_class (count_label, "dim-label");
  gtk_widget_add_css_class (count_label, "numeric");
  gtk_box_append (GTK_BOX (row), dot);
  gtk_box_append (GTK_BOX (row), label);
  gtk_box_append (GTK_BOX (row), count_label);
  gtk_list_box_append (self->legend, row);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return g_utf8_collate (*(char *const *) a, *(char *const *) b);
}

/* The category of each point and the categories' names, after "color-by". */
static GPtrArray *
point_categories (ClMapView *self, int *category)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const ClMapLayout *layout = self->layout;

  if (g_str_equal (self->color_by, "cluster"))
    {
      for (guint c = 0; c < layout->n_clusters; c++)
        g_ptr_array_add (names, g_strdup (layout->names[c]));
      memcpy (category, layout->cluster, sizeof (int) * layout->n);
      return names;
    }
  /* Labels or predicted classes, in the order of their names. */
  gboolean by_label = g_str_equal (self->color_by, "label");
  g_autoptr (GHashTable) id = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < layout->n; i++)
    {
      ClImageItem *item = self->points->pdata[i];
      const char *name = by_label ? cl_image_item_get_label (item) : cl_image_item_get_prediction (item);
      if (name != NULL && g_hash_table_add (id, (gpointer) name))
        g_ptr_array_add (names, g_strdup (name));
    }
  g_ptr_array_sort (names, compare_names);
  for (guint c = 0; c < names->len; c++)
    g_hash_table_insert (id, names->pdata[c], GUINT_TO_POINTER (c + 1));
  for (guint i = 0; i < layout->n; i++)
    {
      ClImageItem *item = self->points->pdata[i];
      const char *name = by_label ? cl_image_item_get_label (item) : cl_image_item_get_prediction (item);
      category[i] = name != NULL ? (int) GPOINTER_TO_UINT (g_hash_table_lookup (id, name)) - 1 : -1;
    }
  return names;
}

/* Label and Class are offered when some image has one. */
static void
update_color_choices (ClMapView *self)
{
  gboolean labels = FALSE, predictions = FALSE;

  for (guint i = 0; i < self->points->len; i++)
    {
      labels = labels || cl_image_item_get_label (self->points->pdata[i]) != NULL;
      predictions = predictions || cl_image_item_get_prediction (self->points->pdata[i]) != NULL;
    }
  gtk_widget_set_sensitive (self->label_toggle, labels);
  gtk_widget_set_sensitive (self->class_toggle, predictions);
}

static void
apply_colors (ClMapView *self)
{
  GtkWidget *row;
  const GdkRGBA *palette = cl_map_canvas_palette ();

  while ((row = gtk_widget_get_first_child (GTK_WIDGET (self->legend))) != NULL)
    gtk_list_box_remove (self->legend, row);
  update_color_choices (self);
  if (self->layout == NULL)
    return;
  g_free (self->category);
  int *category = self->category = g_new (int, MAX (self->layout->n, 1));
  g_autoptr (GPtrArray) names = point_categories (self, category);
  self->n_categories = names->len;
  cl_map_canvas_set_categories (self->canvas, category, palette, CL_MAP_PALETTE_SIZE);
  g_autofree guint *count = g_new0 (guint, names->len + 1);
  for (guint i = 0; i < self->layout->n; i++)
    if (!self->trashed[i])
      count[category[i] + 1]++;
  for (guint c = 0; c < names->len; c++)
    legend_add (self, &palette[c % CL_MAP_PALETTE_SIZE], names->pdata[c], count[c + 1]);
  if (count[0] > 0)
    legend_add (self, &(GdkRGBA) { 0.55, 0.55, 0.55, 1 },
                g_str_equal (self->color_by, "cluster") ? _("No cluster") : _("None"), count[0]);
}

static void
set_color_by (ClMapView *self, const char *color_by)
{
  if (g_strcmp0 (color_by, self->color_by) == 0)
    return;
  g_free (self->color_by);
  self->color_by = g_strdup (color_by);
  apply_colors (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLOR_BY]);
}

/* ---------------------------------------------------------------- showing a layout */

/* The names of the clusters at their centres: the mean of their points. */
static void
apply_names (ClMapView *self)
{
  const ClMapLayout *layout = self->layout;
  g_autofree float *center = g_new0 (float, 2 * MAX (layout->n_clusters, 1));
  g_autofree guint *size = g_new0 (guint, MAX (layout->n_clusters, 1));

  for (guint i = 0; i < layout->n; i++)
    if (layout->cluster[i] >= 0)
      {
        center[2 * layout->cluster[i]] += layout->xy[2 * i];
        center[2 * layout->cluster[i] + 1] += layout->xy[2 * i + 1];
        size[layout->cluster[i]]++;
      }
  for (guint c = 0; c < layout->n_clusters; c++)
    {
      center[2 * c] /= MAX (size[c], 1);
      center[2 * c + 1] /= MAX (size[c], 1);
    }
  cl_map_canvas_set_names (self->canvas, layout->n_clusters, center, (const char *const *) layout->names);
}

static void
update_summary (ClMapView *self)
{
  guint n_clusters = self->layout->n_clusters;
  g_autofree char *images = g_strdup_printf (ngettext ("%u image", "%u images", self->n_shown), self->n_shown);
  g_autofree char *clusters = g_strdup_printf (ngettext ("%u cluster", "%u clusters", n_clusters), n_clusters);
  /* Translators: the Map view's summary: "96 images, 3 clusters" */
  g_autofree char *summary = g_strdup_printf (_("%s, %s"), images, clusters);
  gtk_label_set_label (self->summary_label, summary);
}

/* The points of images moved to the trash leave the map (and its legend's counts); restored, they
 * are back.  The map keeps its zoom: the layout is not computed again. */
static void
hide_trashed (ClMapView *self)
{
  guint n = self->points->len;

  g_free (self->trashed);
  self->trashed = g_new0 (gboolean, MAX (n, 1));
  self->n_shown = 0;
  for (guint i = 0; i < n; i++)
    {
      self->trashed[i] = cl_session_is_trashed (self->session, cl_image_item_get_path (self->points->pdata[i]));
      self->n_shown += !self->trashed[i];
    }
  cl_map_canvas_set_hidden (self->canvas, self->trashed);
}

static void
on_trashed_changed (ClMapView *self)
{
  if (self->layout == NULL)
    return;
  hide_trashed (self);
  apply_colors (self);
  update_summary (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_POINTS]);
}

static void
apply_layout (ClMapView *self, ClMapLayout *layout)
{
  ClCollection *collection = cl_session_get_collection (self->session);

  g_clear_pointer (&self->layout, cl_map_layout_free);
  self->layout = layout;
  g_ptr_array_set_size (self->points, 0);
  g_hash_table_remove_all (self->point_of_path);
  for (guint i = 0; i < layout->n; i++)
    {
      ClImageItem *item = cl_collection_get_item (collection, layout->rows[i]);
      g_ptr_array_add (self->points, g_object_ref (item));
      g_hash_table_insert (self->point_of_path, g_strdup (cl_image_item_get_path (item)), GUINT_TO_POINTER (i + 1));
    }
  cl_map_canvas_set_points (self->canvas, layout->n, layout->xy, self->points);
  hide_trashed (self);
  apply_colors (self);
  apply_names (self);
  self->n_highlighted = 0;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_HIGHLIGHTED]);
  update_summary (self);
  gtk_stack_set_visible_child_name (self->stack, "content");
  notify_layout (self);
}

/* ---------------------------------------------------------------- computing */

static GStrv
collection_paths (ClCollection *collection)
{
  guint n = cl_collection_get_n_items (collection);
  char **paths = g_new0 (char *, n + 1);

  for (guint i = 0; i < n; i++)
    paths[i] = g_strdup (cl_image_item_get_path (cl_collection_get_item (collection, i)));
  return paths;
}

/* The words clusters are named after: the data set's labels, else the classes of the last
 * classification, else (NULL) the library's common nouns. */
static GStrv
naming_vocabulary (ClCollection *collection)
{
  if (cl_collection_has_labels (collection))
    return g_strdupv ((char **) cl_collection_get_labels (collection));
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  for (guint i = 0; i < cl_collection_get_n_items (collection); i++)
    {
      const char *prediction = cl_image_item_get_prediction (cl_collection_get_item (collection, i));
      if (prediction != NULL && g_hash_table_add (seen, (gpointer) prediction))
        g_strv_builder_add (builder, prediction);
    }
  return g_hash_table_size (seen) > 0 ? g_strv_builder_end (builder) : NULL;
}

static void
on_progress (const char *what, double fraction, gpointer user_data)
{
  ClMapView *self = g_weak_ref_get (&((ClGenerationRef *) user_data)->object);

  if (self == NULL)
    return;
  /* Translators: the Map view's progress: a stage of the layout ("Neighbours", "Layout") and its share done */
  g_autofree char *text = g_strdup_printf (_("Laying out the map: %s, %.0f %%"), what, 100 * fraction);
  gtk_label_set_label (self->progress_label, text);
  set_computing (self, TRUE, fraction);
  g_object_unref (self);
}

/* Whether A shows what B shows (B may be NULL): a map read back after the update changed nothing. */
static gboolean
layout_equal (const ClMapLayout *a, const ClMapLayout *b)
{
  if (b == NULL || a->n != b->n || a->n_clusters != b->n_clusters
      || memcmp (a->rows, b->rows, sizeof (guint) * a->n) != 0 || memcmp (a->xy, b->xy, sizeof (float) * 2 * a->n) != 0
      || memcmp (a->cluster, b->cluster, sizeof (int) * a->n) != 0)
    return FALSE;
  for (guint c = 0; c < a->n_clusters; c++)
    if (!g_str_equal (a->names[c], b->names[c]))
      return FALSE;
  return TRUE;
}

static void layout_done (GObject *source, GAsyncResult *result, gpointer user_data);

static void
compute_layout (ClMapView *self, gboolean cache_only)
{
  ClCollection *collection = cl_session_get_collection (self->session);
  g_auto (GStrv) paths = collection_paths (collection);
  g_auto (GStrv) vocabulary = naming_vocabulary (collection);
  ClGenerationRef *ref = cl_generation_ref_new (self, &self->generation);

  self->reading_cache = cache_only;
  cl_map_layout_compute_async (self->index, (const char *const *) paths, g_strv_length (paths),
                               (const char *const *) vocabulary, MAP_SEED, cache_only, on_progress,
                               cl_generation_ref_new (self, &self->generation), cl_generation_ref_free, self->cancellable, layout_done, ref);
}

static void
index_progress (const ClIndexProgress *progress, gpointer user_data)
{
  ClMapView *self = g_weak_ref_get (&((ClGenerationRef *) user_data)->object);

  if (self == NULL)
    return;
  g_autofree char *text = progress->phase == CLIP_INDEX_PHASE_EMBED && progress->total > 0
    /* Translators: the Map view's progress while it indexes the folder first */
    ? g_strdup_printf (_("Indexing images: %lld of %lld"), (long long) progress->done, (long long) progress->total)
    : g_strdup (_("Looking for images…"));
  gtk_label_set_label (self->progress_label, text);
  set_computing (self, TRUE, progress->total > 0 ? (double) progress->done / progress->total : 0);
  g_object_unref (self);
}

static void
update_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClMapView) self = cl_generation_ref_take (user_data);
  g_autoptr (GError) error = NULL;

  if (self == NULL)
    return;
  g_autoptr (ClIndexSummary) summary = cl_search_index_update_finish (self->index, result, &error);
  if (summary == NULL)
    {
      g_clear_object (&self->cancellable);
      set_computing (self, FALSE, 0);
      gboolean stopped = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                         || g_error_matches (error, CLIP_ERROR, CLIP_ERROR_ABORTED);
      /* A cached map stays on screen; without one, the page says what happened. */
      if (self->layout != NULL && !stopped)
        cl_session_report_error (self->session, _("The Folder Could Not Be Indexed"), error->message, NULL, NULL);
      else if (self->layout == NULL)
        show_error (self, stopped ? _("Stopped") : _("The Folder Could Not Be Indexed"),
                    stopped ? _("The map was not laid out.") : error->message);
      return;
    }
  compute_layout (self, FALSE);
}

static void
update_index (ClMapView *self)
{
  cl_search_index_update_async (self->index, index_progress, cl_generation_ref_new (self, &self->generation), cl_generation_ref_free, self->cancellable,
                                update_done, cl_generation_ref_new (self, &self->generation));
}

static void
layout_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClMapView) self = cl_generation_ref_take (user_data);
  g_autoptr (GError) error = NULL;

  if (self == NULL)
    return;
  ClMapLayout *layout = cl_map_layout_compute_finish (self->index, result, &error);
  if (layout != NULL && !layout_equal (layout, self->layout))
    apply_layout (self, layout);
  else
    cl_map_layout_free (layout);
  /* The cached map is shown: the index is brought up to date behind it, and a folder that changed
   * meanwhile gets its new map. */
  if (self->reading_cache && error == NULL)
    {
      update_index (self);
      return;
    }
  g_clear_object (&self->cancellable);
  set_computing (self, FALSE, 1);
  if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      && !g_error_matches (error, CLIP_ERROR, CLIP_ERROR_ABORTED))
    show_error (self, _("No Map"), error->message);
  else if (error != NULL && self->layout == NULL)
    show_error (self, _("Stopped"), _("The map was not laid out."));
}

static void
start (ClMapView *self)
{
  if (self->index == NULL || self->cancellable != NULL)
    return;
  self->cancellable = g_cancellable_new ();
  gtk_label_set_label (self->progress_label, _("Reading the map…"));
  if (self->layout == NULL)
    gtk_stack_set_visible_child_name (self->stack, "computing");
  set_computing (self, TRUE, 0);
  compute_layout (self, TRUE);
}

void
cl_map_view_compute (ClMapView *self)
{
  start (self);
}

/* ---------------------------------------------------------------- folder and model */

/* A new index for the open collection's image folder and the loaded model; the map is laid out
 * when the view is on screen. */
static void
reset (ClMapView *self)
{
  ClCollection *collection = cl_session_get_collection (self->session);

  self->generation++;
  cl_cancel_and_clear (&self->cancellable);
  cl_cancel_and_clear (&self->query_cancellable);
  g_clear_pointer (&self->index, cl_search_index_unref);
  g_clear_pointer (&self->layout, cl_map_layout_free);
  g_ptr_array_set_size (self->points, 0);
  g_hash_table_remove_all (self->point_of_path);
  cl_map_canvas_set_points (self->canvas, 0, NULL, NULL);
  apply_colors (self);
  notify_layout (self);
  set_computing (self, FALSE, 0);

  const char *folder = collection != NULL ? cl_collection_get_image_folder (collection) : NULL;
  if (folder == NULL || cl_session_get_model_state (self->session) != CL_MODEL_STATE_READY)
    {
      gtk_stack_set_visible_child_name (self->stack, "empty");
      return;
    }
  const char *folders[] = { folder, NULL };
  self->index = cl_session_get_index (self->session, folders);
  gtk_stack_set_visible_child_name (self->stack, "computing");
  set_computing (self, FALSE, 0);
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    start (self);
}

static void
on_model_changed (ClMapView *self)
{
  ClModelState state = cl_session_get_model_state (self->session);

  /* While another model loads, the map of the previous one stays. */
  if (state != CL_MODEL_STATE_LOADING)
    reset (self);
}

static void
on_map (ClMapView *self)
{
  /* Classify may have given the images classes meanwhile. */
  update_color_choices (self);
  if (self->layout == NULL)
    start (self);
}

/* ---------------------------------------------------------------- selection and preview */

static void
show_preview (ClMapView *self, ClImageItem *item)
{
  cl_thumbnailer_show_preview (cl_session_get_thumbnailer (self->session), item, PREVIEW_MAX_SIZE, self->preview,
                               &self->preview_cancellable);
  gtk_label_set_label (self->preview_name, item != NULL ? cl_image_item_get_name (item) : "");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "map.find-similar", item != NULL);
}

static void
on_canvas_selected (ClMapView *self)
{
  int point = cl_map_canvas_get_selected (self->canvas);
  ClImageItem *item = point >= 0 ? self->points->pdata[point] : NULL;

  show_preview (self, item);
  if (item != NULL && !self->syncing_selection)
    cl_session_set_selected_item (self->session, item);
}

/* An image selected in another view is selected on the map too. */
static void
on_session_selection (ClMapView *self)
{
  ClImageItem *item = cl_session_get_selected_item (self->session);
  gpointer point = item != NULL ? g_hash_table_lookup (self->point_of_path, cl_image_item_get_path (item)) : NULL;

  self->syncing_selection = TRUE;
  cl_map_canvas_set_selected (self->canvas, point != NULL ? (int) GPOINTER_TO_UINT (point) - 1 : -1);
  self->syncing_selection = FALSE;
}

static void
on_canvas_n_selected (ClMapView *self)
{
  guint n;

  g_object_get (self->canvas, "n-selected", &n, NULL);
  g_autofree char *text = g_strdup_printf (ngettext ("%u image selected", "%u images selected", n), n);
  gtk_label_set_label (self->selection_label, text);
  gtk_widget_set_visible (GTK_WIDGET (self->selection_label), n > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "map.show-in-grid", n > 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_SELECTED]);
}

/* ---------------------------------------------------------------- highlight */

static void
set_highlight (ClMapView *self, const float *intensity, guint n_highlighted)
{
  cl_map_canvas_set_highlight (self->canvas, intensity);
  self->n_highlighted = n_highlighted;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "map.clear-highlight", intensity != NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_HIGHLIGHTED]);
}

/* A row of the legend lights up the points of its category. */
static void
on_legend_activated (ClMapView *self, GtkListBoxRow *row)
{
  int index = gtk_list_box_row_get_index (row);
  int wanted = (guint) index < self->n_categories ? index : -1;

  if (self->layout == NULL || self->category == NULL)
    return;
  cl_cancel_and_clear (&self->query_cancellable);
  g_autofree float *intensity = g_new0 (float, MAX (self->layout->n, 1));
  guint n = 0;
  for (guint i = 0; i < self->layout->n; i++)
    if (self->category[i] == wanted)
      {
        intensity[i] = 1;
        n++;
      }
  set_highlight (self, intensity, n);
}

static void
query_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClMapView) self = cl_generation_ref_take (user_data);
  g_autoptr (GError) error = NULL;

  if (self == NULL)
    return;
  g_autoptr (ClSearchResults) found = cl_search_index_search_finish (self->index, result, &error);
  if (found == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        cl_session_report_error (self->session, _("The search failed"), error->message, NULL, NULL);
      return;
    }
  g_clear_object (&self->query_cancellable);
  if (self->layout == NULL)
    return;
  /* Brighter the higher the score: the best at 1, the last of them at HIGHLIGHT_FLOOR. */
  g_autofree float *intensity = g_new0 (float, MAX (self->layout->n, 1));
  float best = found->n > 0 ? found->scores[0] : 0, last = found->n > 0 ? found->scores[found->n - 1] : 0;
  guint n = 0;
  for (guint k = 0; k < found->n; k++)
    {
      gpointer point = g_hash_table_lookup (self->point_of_path, found->paths[k]);
      if (point == NULL)
        continue;
      double t = best > last ? (found->scores[k] - last) / (best - last) : 1.0;
      intensity[GPOINTER_TO_UINT (point) - 1] = (float) (HIGHLIGHT_FLOOR + (1 - HIGHLIGHT_FLOOR) * t);
      n++;
    }
  set_highlight (self, intensity, n);
}

static void
run_query (ClMapView *self, const ClQueryTerm *terms, guint n_terms)
{
  cl_cancel_and_clear (&self->query_cancellable);
  if (self->index == NULL || n_terms == 0)
    {
      set_highlight (self, NULL, 0);
      return;
    }
  self->query_cancellable = g_cancellable_new ();
  cl_search_index_search_async (self->index, terms, n_terms, HIGHLIGHT_TOP_K, self->query_cancellable, query_done,
                                cl_generation_ref_new (self, &self->generation));
}

static void
on_search_changed (ClMapView *self)
{
  g_autoptr (GPtrArray) parsed = cl_search_query_parse (gtk_editable_get_text (GTK_EDITABLE (self->entry)));
  g_autofree ClQueryTerm *terms = g_new0 (ClQueryTerm, MAX (parsed->len, 1));

  g_clear_pointer (&self->similar_path, g_free);
  for (guint i = 0; i < parsed->len; i++)
    {
      ClSearchTerm *term = parsed->pdata[i];
      terms[i] = (ClQueryTerm) { .text = term->text, .weight = term->weight };
    }
  run_query (self, terms, cl_search_query_has_positive (parsed) ? parsed->len : 0);
}

void
cl_map_view_find_similar (ClMapView *self, const char *path)
{
  ClQueryTerm term = { .image = (char *) path, .weight = 1 };

  g_free (self->similar_path);
  self->similar_path = g_strdup (path);
  run_query (self, &term, 1);
}

/* ---------------------------------------------------------------- actions */

static void
action_compute (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  cl_map_view_compute (CL_MAP_VIEW (widget));
}

static void
action_stop (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClMapView *self = CL_MAP_VIEW (widget);

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
}

/* The zoom buttons over the map: the canvas's own actions, which only its descendants could name. */
static void
action_zoom (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClMapView *self = CL_MAP_VIEW (widget);
  g_autofree char *canvas_action = g_strconcat ("canvas.", action_name + strlen ("map."), NULL);

  gtk_widget_activate_action (GTK_WIDGET (self->canvas), canvas_action, NULL);
}

static void
action_find_similar (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClMapView *self = CL_MAP_VIEW (widget);
  int point = cl_map_canvas_get_selected (self->canvas);

  if (point >= 0)
    cl_map_view_find_similar (self, cl_image_item_get_path (self->points->pdata[point]));
}

static void
action_clear_highlight (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClMapView *self = CL_MAP_VIEW (widget);

  gtk_editable_set_text (GTK_EDITABLE (self->entry), "");
  g_clear_pointer (&self->similar_path, g_free);
  run_query (self, NULL, 0);
}

static void
action_show_in_grid (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClMapView *self = CL_MAP_VIEW (widget);
  GtkWidget *window = GTK_WIDGET (gtk_widget_get_root (widget));
  g_autoptr (GArray) selection = cl_map_canvas_get_selection (self->canvas);
  g_autoptr (GPtrArray) items = g_ptr_array_new ();

  if (!CL_IS_WINDOW (window) || selection->len == 0)
    return;
  for (guint k = 0; k < selection->len; k++)
    g_ptr_array_add (items, self->points->pdata[g_array_index (selection, guint, k)]);
  cl_window_show_items (CL_WINDOW (window), items,
                        /* Translators: Browse's note when it shows only the images selected on the map */
                        _("Images selected on the map"));
}

/* ---------------------------------------------------------------- GObject */

static void
cl_map_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClMapView *self = CL_MAP_VIEW (object);
  const ClMapLayout *layout = self->layout;

  switch (prop_id)
    {
    case PROP_COMPUTING:
      g_value_set_boolean (value, self->computing);
      break;
    case PROP_PROGRESS:
      g_value_set_double (value, self->progress);
      break;
    case PROP_N_POINTS:
      g_value_set_uint (value, layout != NULL ? self->n_shown : 0);
      break;
    case PROP_N_CLUSTERS:
      g_value_set_uint (value, layout != NULL ? layout->n_clusters : 0);
      break;
    case PROP_CLUSTER_NAMES:
      g_value_set_boxed (value, layout != NULL ? layout->names : NULL);
      break;
    case PROP_FROM_CACHE:
      g_value_set_boolean (value, layout != NULL && layout->from_cache);
      break;
    case PROP_N_HIGHLIGHTED:
      g_value_set_uint (value, self->n_highlighted);
      break;
    case PROP_N_SELECTED:
      g_object_get_property (G_OBJECT (self->canvas), "n-selected", value);
      break;
    case PROP_COLOR_BY:
      g_value_set_string (value, self->color_by);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_map_view_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_COLOR_BY:
      set_color_by (CL_MAP_VIEW (object), g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_map_view_dispose (GObject *object)
{
  ClMapView *self = CL_MAP_VIEW (object);

  cl_cancel_and_clear (&self->cancellable);
  cl_cancel_and_clear (&self->query_cancellable);
  cl_cancel_and_clear (&self->preview_cancellable);
  g_clear_pointer (&self->index, cl_search_index_unref);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (object), CL_TYPE_MAP_VIEW);
  G_OBJECT_CLASS (cl_map_view_parent_class)->dispose (object);
}

static void
cl_map_view_finalize (GObject *object)
{
  ClMapView *self = CL_MAP_VIEW (object);

  cl_map_layout_free (self->layout);
  g_ptr_array_unref (self->points);
  g_hash_table_unref (self->point_of_path);
  g_free (self->color_by);
  g_free (self->category);
  g_free (self->similar_path);
  g_free (self->trashed);
  G_OBJECT_CLASS (cl_map_view_parent_class)->finalize (object);
}

static void
install_properties (GObjectClass *object_class)
{
  const GParamFlags read_only = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  properties[PROP_COMPUTING] = g_param_spec_boolean ("computing", NULL, NULL, FALSE, read_only);
  properties[PROP_PROGRESS] = g_param_spec_double ("progress", NULL, NULL, 0, 1, 0, read_only);
  properties[PROP_N_POINTS] = g_param_spec_uint ("n-points", NULL, NULL, 0, G_MAXUINT, 0, read_only);
  properties[PROP_N_CLUSTERS] = g_param_spec_uint ("n-clusters", NULL, NULL, 0, G_MAXUINT, 0, read_only);
  properties[PROP_CLUSTER_NAMES] = g_param_spec_boxed ("cluster-names", NULL, NULL, G_TYPE_STRV, read_only);
  properties[PROP_FROM_CACHE] = g_param_spec_boolean ("from-cache", NULL, NULL, FALSE, read_only);
  properties[PROP_N_HIGHLIGHTED] = g_param_spec_uint ("n-highlighted", NULL, NULL, 0, G_MAXUINT, 0, read_only);
  properties[PROP_N_SELECTED] = g_param_spec_uint ("n-selected", NULL, NULL, 0, G_MAXUINT, 0, read_only);
  properties[PROP_COLOR_BY] = g_param_spec_string ("color-by", NULL, NULL, "cluster",
                                                   G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
cl_map_view_class_init (ClMapViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cl_map_view_dispose;
  object_class->finalize = cl_map_view_finalize;
  object_class->get_property = cl_map_view_get_property;
  object_class->set_property = cl_map_view_set_property;
  install_properties (object_class);
  gtk_widget_class_install_action (widget_class, "map.compute", NULL, action_compute);
  gtk_widget_class_install_action (widget_class, "map.stop", NULL, action_stop);
  gtk_widget_class_install_action (widget_class, "map.find-similar", NULL, action_find_similar);
  gtk_widget_class_install_action (widget_class, "map.clear-highlight", NULL, action_clear_highlight);
  gtk_widget_class_install_action (widget_class, "map.show-in-grid", NULL, action_show_in_grid);
  gtk_widget_class_install_action (widget_class, "map.zoom-in", NULL, action_zoom);
  gtk_widget_class_install_action (widget_class, "map.zoom-out", NULL, action_zoom);
  gtk_widget_class_install_action (widget_class, "map.zoom-fit", NULL, action_zoom);
  gtk_widget_class_install_property_action (widget_class, "map.color-by", "color-by");

  g_type_ensure (CL_TYPE_STATUS_PAGE);
  g_type_ensure (CL_TYPE_MAP_CANVAS);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-map-view.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, ClMapView, name)
  BIND (stack);
  BIND (error_page);
  BIND (progress_label);
  BIND (canvas);
  BIND (legend);
  BIND (label_toggle);
  BIND (class_toggle);
  BIND (entry);
  BIND (summary_label);
  BIND (selection_label);
  BIND (preview);
  BIND (preview_name);
#undef BIND
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_legend_activated);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
cl_map_view_init (ClMapView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->points = g_ptr_array_new_with_free_func (g_object_unref);
  self->point_of_path = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->color_by = g_strdup ("cluster");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "map.stop", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "map.compute", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "map.find-similar", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "map.clear-highlight", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "map.show-in-grid", FALSE);
  g_signal_connect_swapped (self->canvas, "notify::selected", G_CALLBACK (on_canvas_selected), self);
  g_signal_connect_swapped (self->canvas, "notify::n-selected", G_CALLBACK (on_canvas_n_selected), self);
}

GtkWidget *
cl_map_view_new (ClSession *session)
{
  ClMapView *self = g_object_new (CL_TYPE_MAP_VIEW, NULL);

  self->session = g_object_ref (session);
  cl_map_canvas_set_thumbnailer (self->canvas, cl_session_get_thumbnailer (session));
  g_signal_connect_swapped (self, "map", G_CALLBACK (on_map), self);
  g_signal_connect_swapped (session, "notify::collection", G_CALLBACK (reset), self);
  g_signal_connect_swapped (session, "notify::model-info", G_CALLBACK (on_model_changed), self);
  g_signal_connect_swapped (session, "notify::model-state", G_CALLBACK (on_model_changed), self);
  g_signal_connect_swapped (session, "notify::selected-item", G_CALLBACK (on_session_selection), self);
  g_signal_connect_swapped (session, "trashed-changed", G_CALLBACK (on_trashed_changed), self);
  reset (self);
  return GTK_WIDGET (self);
}
