/* cl-classify-view.c — zero-shot classification of the selected image and of the whole folder. */
#include "cl-classify-view.h"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>

#include "cl-async.h"
#include "cl-class-parser.h"
#include "cl-confusion-matrix.h"
#include "cl-file-chooser.h"
#include "cl-image-grid.h"
#include "cl-status-page.h"

#define DEBOUNCE_MS        250   /* typing pause before the probabilities are recomputed */
#define REFILTER_MS        500   /* at most this often while whole-folder results stream in */
#define MAX_CLASSES        1000
#define PREVIEW_MAX_SIZE   512

static const char *const template_presets[] = { "simple", "openai7", "imagenet80", "custom" };

struct _ClClassifyView {
  GtkWidget parent_instance;

  /* Template widgets. */
  GtkStack *stack;
  GtkTextView *classes_view;
  GtkLabel *classes_hint;
  GtkDropDown *templates_dropdown;
  GtkRevealer *custom_revealer;
  GtkTextView *templates_view;
  GtkLabel *templates_hint;
  GtkStack *folder_stack;
  GtkProgressBar *folder_progress;
  GtkLabel *folder_summary;
  GtkWidget *dataset_section;
  GtkBox *grid_box;
  GtkDropDown *filter_dropdown;
  GtkDropDown *sort_dropdown;
  GtkSpinButton *min_confidence_spin;
  GtkSpinButton *max_confidence_spin;
  GtkCheckButton *disagree_check;
  GtkLabel *count_label;
  GtkStack *center_stack;
  GtkWidget *center_switcher;
  GtkLabel *metrics_title;
  GtkLabel *metrics_detail;
  ClConfusionMatrix *confusion;
  GtkPicture *selected_picture;
  GtkLabel *selected_name;
  GtkLabel *selected_label;
  GtkSpinner *probs_spinner;
  GtkStack *probs_stack;
  ClProbBars *prob_bars;
  GtkLabel *probs_hint;
  GtkButton *probs_action;

  ClSession *session;
  ClImageGrid *grid;
  GtkCustomFilter *filter;
  gboolean any_trashed;          /* images of the collection went to the trash: the filter hides them */
  GtkCustomSorter *sorter;
  GtkSortListModel *sort_model;
  GtkStringList *filter_classes;
  char *filter_class;
  double min_confidence;         /* percent: the range of confidence shown (0–100: every image) */
  double max_confidence;
  gboolean only_disagreeing;     /* only labelled images predicted as another class */
  guint *class_counts;           /* images predicted as each choice of the filter (0: all images) */
  guint n_class_counts;          /* the choices counted: the filter's list may have grown since */
  GPtrArray *count_rows;         /* GtkListItem * of the filter drop-down that show a count */
  gboolean sort_by_confidence;

  ClDebounce debounce;           /* typing pause, then refresh () */
  char **classes;
  char **templates;

  GCancellable *live_cancellable;
  GCancellable *preview_cancellable;

  gboolean folder_enabled;
  GCancellable *folder_cancellable;
  guint folder_done;
  guint folder_total;
  char **folder_classes;          /* the classes the folder results belong to */
  float *folder_probs;            /* [n_items × n_classes] */
  gboolean *folder_readable;
  gboolean folder_complete;
  gboolean folder_lookup;         /* the running job only shows what the index holds (no Classify All) */
  gint64 n_embedded;              /* images the last complete whole-folder run embedded anew */
  guint refilter_id;
  char *metrics_summary;

  /* What the properties last reported. */
  gboolean live_busy;
  gboolean folder_busy;
  gboolean grid_pending;
  gboolean scroll_to_top;        /* the order changed: the grid shows its start once sorted */
  guint scroll_source;
  double progress;               /* of whole-folder classification, 0..1 */
};

G_DEFINE_FINAL_TYPE (ClClassifyView, cl_classify_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_LIVE_BUSY,
  PROP_FOLDER_BUSY,
  PROP_GRID_PENDING,
  PROP_SHOWN_ITEMS,
  PROP_METRICS_SUMMARY,
  PROP_TEMPLATE_PRESET,
  PROP_FILTER_CLASS,
  PROP_MIN_CONFIDENCE,
  PROP_MAX_CONFIDENCE,
  PROP_ONLY_DISAGREEING,
  PROP_SORT_BY_CONFIDENCE,
  PROP_PROGRESS,
  PROP_EXPORT_FOLDER,
  PROP_EXPORT_TITLE,
  PROP_EXPORT_NAME,
  PROP_N_EMBEDDED,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

static void
set_boolean_property (ClClassifyView *self, gboolean *field, gboolean value, guint prop_id)
{
  if (*field == value)
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

static void
set_progress (ClClassifyView *self, double progress)
{
  if (self->progress == progress)
    return;
  self->progress = progress;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
}

static void update_state (ClClassifyView *self);

/* After the sort model's last change, where the grid has scrolled to the selected image (it follows
 * its item). */
static gboolean
scroll_grid_to_top (gpointer data)
{
  ClClassifyView *self = data;

  self->scroll_source = 0;
  self->scroll_to_top = FALSE;
  cl_image_grid_scroll_to_start (self->grid);
  update_state (self);
  return G_SOURCE_REMOVE;
}

/* The busy properties follow the timers, the jobs and the list models: called wherever one of
 * them changes. */
static void
update_state (ClClassifyView *self)
{
  GtkFilterListModel *filtered = self->sort_model != NULL
    ? GTK_FILTER_LIST_MODEL (gtk_sort_list_model_get_model (self->sort_model)) : NULL;
  gboolean model_loading = self->session != NULL
                           && cl_session_get_model_state (self->session) == CL_MODEL_STATE_LOADING;

  set_boolean_property (self, &self->live_busy, cl_debounce_is_pending (&self->debounce) || self->live_cancellable != NULL
                                                || model_loading, PROP_LIVE_BUSY);
  set_boolean_property (self, &self->folder_busy, cl_debounce_is_pending (&self->debounce) || self->folder_cancellable != NULL,
                        PROP_FOLDER_BUSY);
  gboolean sorting = self->refilter_id != 0 || (filtered != NULL && gtk_filter_list_model_get_pending (filtered) > 0)
                     || (self->sort_model != NULL && gtk_sort_list_model_get_pending (self->sort_model) > 0);

  /* Before the next frame, once the last change has reached the grid. */
  if (self->scroll_to_top && !sorting && self->scroll_source == 0)
    self->scroll_source = g_idle_add_full (G_PRIORITY_HIGH_IDLE, scroll_grid_to_top, self, NULL);
  set_boolean_property (self, &self->grid_pending, sorting || self->scroll_to_top, PROP_GRID_PENDING);
}

static void run_live (ClClassifyView *self);
static void run_folder (ClClassifyView *self);

static char *
buffer_text (GtkTextView *view)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (view);
  GtkTextIter start, end;
  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

static ClCollection *
collection (ClClassifyView *self)
{
  return cl_session_get_collection (self->session);
}

/* ---------------------------------------------------------------- probabilities of the selection */

static void
show_probs_hint (ClClassifyView *self, const char *hint, const char *action_name, const char *action_label)
{
  gtk_label_set_label (self->probs_hint, hint);
  gtk_widget_set_visible (GTK_WIDGET (self->probs_action), action_name != NULL);
  if (action_name != NULL)
    {
      gtk_actionable_set_action_name (GTK_ACTIONABLE (self->probs_action), action_name);
      gtk_button_set_label (self->probs_action, action_label);
    }
  gtk_stack_set_visible_child_name (self->probs_stack, "hint");
}

static void
set_live_busy (ClClassifyView *self, gboolean busy)
{
  gtk_spinner_set_spinning (self->probs_spinner, busy);
  gtk_widget_set_visible (GTK_WIDGET (self->probs_spinner), busy);
}

static void
live_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ClClassifyResult) classified = cl_model_worker_classify_finish (CL_MODEL_WORKER (source), result, &error);
  g_autoptr (ClClassifyView) self = g_weak_ref_get (user_data);

  cl_weak_ref_free (user_data);
  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->live_cancellable);
  set_live_busy (self, FALSE);
  update_state (self);
  if (classified == NULL)
    {
      g_autofree char *hint = g_strdup_printf (_("The classes could not be computed: %s"), error->message);
      show_probs_hint (self, hint, "win.choose-model", _("Choose Another Model…"));
      return;
    }
  if (!classified->readable[0])
    {
      g_autofree char *hint = g_strdup_printf (_("This image cannot be read: %s"),
                                               (const char *) classified->problems->pdata[0]);
      show_probs_hint (self, hint, NULL, NULL);
      return;
    }
  ClImageItem *item = cl_session_get_selected_item (self->session);
  cl_prob_bars_set_values (self->prob_bars, (const char *const *) self->classes, classified->probs,
                           classified->n_classes);
  cl_prob_bars_set_marked_label (self->prob_bars, item != NULL ? cl_image_item_get_label (item) : NULL);
  gtk_stack_set_visible_child_name (self->probs_stack, "bars");
}

static void
run_live (ClClassifyView *self)
{
  ClImageItem *item = cl_session_get_selected_item (self->session);
  ClModelState state = cl_session_get_model_state (self->session);

  cl_cancel_and_clear (&self->live_cancellable);
  set_live_busy (self, FALSE);
  update_state (self);
  if (state == CL_MODEL_STATE_LOADING)
    {
      show_probs_hint (self, _("Loading the model…"), NULL, NULL);
      set_live_busy (self, TRUE);
      return;
    }
  if (state != CL_MODEL_STATE_READY)
    {
      show_probs_hint (self, _("No model is loaded. Choose a model to classify images."),
                       "win.choose-model", _("Choose Model…"));
      return;
    }
  if (item == NULL)
    {
      show_probs_hint (self, _("Select an image to see the probability of each class."), NULL, NULL);
      return;
    }
  if (self->classes == NULL || self->classes[0] == NULL)
    {
      show_probs_hint (self, _("Type class names on the left, separated by commas or new lines, "
                               "to see how likely each one is for this image."), NULL, NULL);
      return;
    }
  if (self->templates == NULL || self->templates[0] == NULL)
    {
      show_probs_hint (self, _("Add at least one prompt template containing {}."), NULL, NULL);
      return;
    }

  const char *path = cl_image_item_get_path (item);
  const char *member = cl_image_item_get_member (item);
  gint64 mtime = cl_image_item_get_mtime (item);
  self->live_cancellable = g_cancellable_new ();
  set_live_busy (self, TRUE);
  cl_model_worker_classify_async (cl_session_get_worker (self->session), &path, &member, &mtime, 1,
                                  (const char *const *) self->classes, (const char *const *) self->templates,
                                  cl_session_get_apply_exif (self->session), CL_WORKER_PRIORITY_INTERACTIVE,
                                  NULL, NULL, NULL, self->live_cancellable, live_done, cl_weak_ref_new (self));
  update_state (self);
}

/* ---------------------------------------------------------------- whole folder */

static void
update_count (ClClassifyView *self)
{
  guint shown = g_list_model_get_n_items (G_LIST_MODEL (self->sort_model));
  guint total = collection (self) != NULL ? cl_collection_get_n_items (collection (self)) : 0;
  g_autofree char *count = shown == total
    ? g_strdup_printf (ngettext ("%u image", "%u images", total), total)
    : g_strdup_printf (ngettext ("%u of %u image", "%u of %u images", total), shown, total);
  gtk_label_set_label (self->count_label, count);
}

/* Whether the grid's filter or order depends on the predictions. */
static gboolean
confidence_range_active (ClClassifyView *self)
{
  return self->min_confidence > 0 || self->max_confidence < 100;
}

/* Whether the filter hides anything: the drop-down, the confidence range, the disagreeing images. */
static gboolean
filter_active (ClClassifyView *self)
{
  return self->filter_class != NULL || confidence_range_active (self) || self->only_disagreeing;
}

static gboolean
grid_follows_predictions (ClClassifyView *self)
{
  return filter_active (self) || self->sort_by_confidence;
}

/* The predictions changed: filter and sort again where they matter.  The filter runs at once (a
 * string comparison per item) so that it reports only the items that come and go, and the grid
 * keeps the cells of the others; the sort runs over several frames on large folders. */
static void
refilter (ClClassifyView *self)
{
  g_clear_handle_id (&self->refilter_id, g_source_remove);
  if (filter_active (self))
    gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  if (self->sort_by_confidence)
    gtk_sorter_changed (GTK_SORTER (self->sorter), GTK_SORTER_CHANGE_DIFFERENT);
  update_count (self);
  update_state (self);
}

static gboolean
refilter_cb (gpointer data)
{
  ClClassifyView *self = data;

  self->refilter_id = 0;
  refilter (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_refilter (ClClassifyView *self)
{
  /* Predictions change neither the order by name nor the unfiltered set. */
  if (!grid_follows_predictions (self))
    return;
  if (self->refilter_id == 0)
    self->refilter_id = g_timeout_add (REFILTER_MS, refilter_cb, self);
  update_state (self);
}

static void update_class_counts (ClClassifyView *self);

/* CLEAR_ITEMS: the collection's items show the results (not a new collection's fresh items). */
static void
clear_folder_results (ClClassifyView *self, gboolean clear_items)
{
  ClCollection *c = clear_items ? collection (self) : NULL;

  cl_cancel_and_clear (&self->folder_cancellable);
  self->folder_lookup = FALSE;
  g_clear_pointer (&self->folder_probs, g_free);
  g_clear_pointer (&self->folder_readable, g_free);
  g_clear_pointer (&self->folder_classes, g_strfreev);
  self->folder_complete = FALSE;
  self->folder_done = 0;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "classify.export", FALSE);
  for (guint i = 0; c != NULL && i < cl_collection_get_n_items (c); i++)
    cl_image_item_set_prediction (cl_collection_get_item (c, i), NULL, -1);
  if (self->count_rows != NULL)
    update_class_counts (self);
  update_state (self);
}

static void
set_folder_summary (ClClassifyView *self, const char *text)
{
  gtk_label_set_label (self->folder_summary, text);
  gtk_widget_set_visible (GTK_WIDGET (self->folder_summary), text != NULL && *text != '\0');
}

static void
update_folder_controls (ClClassifyView *self)
{
  gboolean running = self->folder_cancellable != NULL && !self->folder_lookup;
  gboolean ready = cl_session_get_model_state (self->session) == CL_MODEL_STATE_READY;

  gtk_stack_set_visible_child_name (self->folder_stack, running ? "running" : "idle");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "classify.classify-all",
                                 ready && collection (self) != NULL && self->classes != NULL && self->classes[0] != NULL
                                 && self->templates != NULL && self->templates[0] != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "classify.stop", running);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "classify.export", self->folder_complete);
  update_state (self);
}

static void
folder_progress (const ClClassifyProgress *progress, gpointer user_data)
{
  g_autoptr (ClClassifyView) self = g_weak_ref_get (user_data);
  ClCollection *c = self != NULL ? collection (self) : NULL;

  if (self == NULL || c == NULL || self->folder_probs == NULL)
    return;
  for (guint k = 0; k < progress->n; k++)
    {
      guint row = progress->first + k;
      const float *probs = progress->probs + (gsize) k * progress->n_classes;
      ClImageItem *item = cl_collection_get_item (c, row);
      memcpy (self->folder_probs + (gsize) row * progress->n_classes, probs, sizeof (float) * progress->n_classes);
      self->folder_readable[row] = progress->readable[k];
      if (!progress->readable[k])
        {
          cl_image_item_set_prediction (item, NULL, -1);
          continue;
        }
      guint best = 0;
      for (guint j = 1; j < progress->n_classes; j++)
        if (probs[j] > probs[best])
          best = j;
      cl_image_item_set_prediction (item, self->folder_classes[best], probs[best]);
    }
  self->folder_done = progress->first + progress->n;
  set_progress (self, (double) self->folder_done / MAX (self->folder_total, 1));
  update_class_counts (self);
  g_autofree char *text = g_strdup_printf (ngettext ("%u of %u image", "%u of %u images", self->folder_total),
                                           self->folder_done, self->folder_total);
  gtk_progress_bar_set_text (self->folder_progress, text);
  schedule_refilter (self);
}

/* The index of LABEL among CLASSES: exact, else ignoring case; -1 when absent. */
static int
class_index (char **classes, const char *label)
{
  for (int c = 0; classes[c] != NULL; c++)
    if (strcmp (classes[c], label) == 0)
      return c;
  g_autofree char *folded = g_utf8_casefold (label, -1);
  for (int c = 0; classes[c] != NULL; c++)
    {
      g_autofree char *candidate = g_utf8_casefold (classes[c], -1);
      if (strcmp (candidate, folded) == 0)
        return c;
    }
  return -1;
}

static void
show_metrics (ClClassifyView *self)
{
  ClCollection *c = collection (self);
  gboolean labelled = c != NULL && cl_collection_has_labels (c);

  gtk_widget_set_visible (self->center_switcher, labelled);
  gtk_widget_set_visible (self->dataset_section, labelled);
  if (!labelled)
    return;
  if (!self->folder_complete)
    {
      gtk_label_set_label (self->metrics_title, _("No Results Yet"));
      gtk_label_set_label (self->metrics_detail,
                           _("Classify all images to measure the accuracy of these classes against the labels of the data set."));
      cl_confusion_matrix_set (self->confusion, NULL, NULL, 0);
      return;
    }

  const guint n_items = cl_collection_get_n_items (c);
  const guint n_classes = g_strv_length (self->folder_classes);
  g_autofree float *probs = g_new (float, (gsize) MAX (n_items, 1) * n_classes);
  g_autofree int *labels = g_new (int, MAX (n_items, 1));
  guint n = 0, n_unknown = 0, n_unreadable = 0;

  for (guint i = 0; i < n_items; i++)
    {
      const char *label = cl_image_item_get_label (cl_collection_get_item (c, i));
      if (label == NULL)
        continue;
      if (!self->folder_readable[i])
        {
          n_unreadable++;
          continue;
        }
      int index = class_index (self->folder_classes, label);
      if (index < 0)
        {
          n_unknown++;
          continue;
        }
      memcpy (probs + (gsize) n * n_classes, self->folder_probs + (gsize) i * n_classes, sizeof (float) * n_classes);
      labels[n++] = index;
    }

  if (n == 0)
    {
      gtk_label_set_label (self->metrics_title, _("No Matching Labels"));
      gtk_label_set_label (self->metrics_detail,
                           _("None of the data set’s labels is among the class names. Use the labels as class names to measure the accuracy."));
      cl_confusion_matrix_set (self->confusion, NULL, NULL, 0);
      self->metrics_summary = g_strdup ("no-matching-labels");
      return;
    }

  ClipZeroShotMetrics metrics = { 0 };
  clip_evaluate_zero_shot (probs, labels, n, n_classes, &metrics);
  /* Translators: zero-shot accuracy, e.g. "Top-1 Accuracy 83.3 %" */
  g_autofree char *title = g_strdup_printf (_("Top-1 Accuracy %.1f %%"), 100.0 * metrics.top1);
  GString *detail = g_string_new (NULL);
  g_string_append_printf (detail, ngettext ("Top-5 accuracy %.1f %% on %u labelled image.",
                                               "Top-5 accuracy %.1f %% on %u labelled images.", n),
                          100.0 * metrics.top5, n);
  g_string_append_c (detail, ' ');
  /* Translators: CLIP_benchmark's mean_per_class_recall (balanced accuracy), e.g. "… 81.2 %." */
  g_string_append_printf (detail, _("Mean per-class recall %.1f %%."), 100.0 * metrics.mean_per_class_recall);
  if (n_unknown > 0)
    {
      g_string_append_c (detail, ' ');
      g_string_append_printf (detail, ngettext ("%u image has a label that is not among the classes.",
                                                   "%u images have labels that are not among the classes.", n_unknown),
                              n_unknown);
    }
  if (n_unreadable > 0)
    {
      g_string_append_c (detail, ' ');
      g_string_append_printf (detail, ngettext ("%u image could not be read.",
                                                   "%u images could not be read.", n_unreadable),
                              n_unreadable);
    }
  gtk_label_set_label (self->metrics_title, title);
  gtk_label_set_label (self->metrics_detail, detail->str);
  cl_confusion_matrix_set (self->confusion, (const char *const *) self->folder_classes, metrics.confusion, n_classes);
  self->metrics_summary = g_strdup_printf ("top1=%.6f top5=%.6f mean_per_class_recall=%.6f n=%u unknown=%u "
                                           "unreadable=%u", metrics.top1, metrics.top5, metrics.mean_per_class_recall, n,
                                           n_unknown, n_unreadable);
  g_string_free (detail, TRUE);
  clip_zero_shot_metrics_clear (&metrics);
}

/* The accuracy against the data set's labels, on the metrics page and in "metrics-summary". */
static void
update_metrics (ClClassifyView *self)
{
  g_autofree char *previous = g_steal_pointer (&self->metrics_summary);

  show_metrics (self);
  if (g_strcmp0 (previous, self->metrics_summary) != 0)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_METRICS_SUMMARY]);
}

static void
folder_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ClClassifyResult) classified = cl_model_worker_classify_finish (CL_MODEL_WORKER (source), result, &error);
  g_autoptr (ClClassifyView) self = g_weak_ref_get (user_data);

  cl_weak_ref_free (user_data);
  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->folder_cancellable);
  update_folder_controls (self);
  if (grid_follows_predictions (self))
    refilter (self);
  if (classified == NULL)
    {
      self->folder_enabled = FALSE;
      set_folder_summary (self, error->message);
      cl_session_report_error (self->session, _("Could not classify the images"), error->message, NULL, NULL);
      return;
    }

  self->folder_complete = TRUE;
  self->n_embedded = classified->n_embedded;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_EMBEDDED]);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "classify.export", TRUE);
  guint n_bad = classified->problems->len;
  g_autofree char *summary = n_bad == 0
    ? g_strdup_printf (ngettext ("%u image classified.", "%u images classified.", classified->n_images),
                       classified->n_images)
    : g_strdup_printf (ngettext ("%u image classified; %u could not be read.",
                                    "%u images classified; %u could not be read.", classified->n_images),
                       classified->n_images - n_bad, n_bad);
  set_folder_summary (self, summary);
  if (n_bad > 0)
    {
      /* Name the files: the first few problems, one per line. */
      GString *detail = g_string_new (NULL);
      for (guint i = 0; i < MIN (n_bad, 5); i++)
        g_string_append_printf (detail, "%s%s", i > 0 ? "\n" : "", (const char *) classified->problems->pdata[i]);
      if (n_bad > 5)
        g_string_append_printf (detail, "\n%s", _("…"));
      g_autofree char *title = g_strdup_printf (ngettext ("%u image could not be read",
                                                          "%u images could not be read", n_bad), n_bad);
      cl_session_report_error (self->session, title, detail->str, NULL, NULL);
      g_string_free (detail, TRUE);
    }
  update_metrics (self);
}

/* After a look at what the index holds: complete when it held every image, as after Classify All. */
static void
folder_lookup_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ClClassifyResult) classified = cl_model_worker_classify_finish (CL_MODEL_WORKER (source), result, &error);
  g_autoptr (ClClassifyView) self = g_weak_ref_get (user_data);

  cl_weak_ref_free (user_data);
  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->folder_cancellable);
  self->folder_lookup = FALSE;
  if (classified == NULL)
    {
      update_folder_controls (self);   /* the index could not be read: Classify All remains */
      return;
    }
  guint n_found = 0;
  for (guint i = 0; i < classified->n_images; i++)
    n_found += classified->readable[i] ? 1 : 0;
  self->folder_complete = n_found == classified->n_images;
  update_folder_controls (self);
  if (grid_follows_predictions (self))
    refilter (self);
  g_autofree char *summary = n_found == 0 || self->folder_complete ? NULL
    : g_strdup_printf (ngettext ("%u of %u image has stored predictions; Classify All Images does the rest.",
                                 "%u of %u images have stored predictions; Classify All Images does the rest.",
                                 classified->n_images),
                       n_found, classified->n_images);
  set_folder_summary (self, summary);
  update_metrics (self);
}

static void
run_folder (ClClassifyView *self)
{
  ClCollection *c = collection (self);
  const char *image_folder = c != NULL ? cl_collection_get_image_folder (c) : NULL;
  /* Without Classify All, a folder's images show what its index holds already (kept from an earlier run). */
  gboolean from_index = c != NULL && cl_collection_get_kind (c) == CL_COLLECTION_FOLDER && image_folder != NULL;

  clear_folder_results (self, TRUE);
  if (!(self->folder_enabled || from_index) || c == NULL
      || cl_session_get_model_state (self->session) != CL_MODEL_STATE_READY
      || self->classes == NULL || self->classes[0] == NULL || self->templates == NULL || self->templates[0] == NULL)
    {
      update_folder_controls (self);
      update_metrics (self);
      return;
    }

  const guint n = cl_collection_get_n_items (c);
  const guint n_classes = g_strv_length (self->classes);
  g_autofree const char **paths = g_new (const char *, MAX (n, 1));
  g_autofree const char **members = g_new (const char *, MAX (n, 1));
  g_autofree gint64 *mtimes = g_new (gint64, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      ClImageItem *item = cl_collection_get_item (c, i);
      paths[i] = cl_image_item_get_path (item);
      members[i] = cl_image_item_get_member (item);
      mtimes[i] = cl_image_item_get_mtime (item);
    }
  self->folder_classes = g_strdupv (self->classes);
  self->folder_probs = g_new0 (float, (gsize) MAX (n, 1) * n_classes);
  self->folder_readable = g_new0 (gboolean, MAX (n, 1));
  self->folder_total = n;
  self->folder_cancellable = g_cancellable_new ();
  self->folder_lookup = !self->folder_enabled;
  set_progress (self, 0);
  set_folder_summary (self, NULL);
  update_folder_controls (self);
  update_metrics (self);
  if (from_index)
    {
      /* A folder's images from its index: kept across runs and shared with Search, Map and Clean Up. */
      g_autoptr (ClSearchIndex) index = cl_session_get_index (self->session, (const char *const[]) { image_folder, NULL });
      if (self->folder_lookup)
        cl_search_index_classify_stored_async (index, paths, n, (const char *const *) self->classes,
                                               (const char *const *) self->templates, folder_progress,
                                               cl_weak_ref_new (self), (GDestroyNotify) cl_weak_ref_free,
                                               self->folder_cancellable, folder_lookup_done, cl_weak_ref_new (self));
      else
        cl_search_index_classify_async (index, paths, mtimes, n, (const char *const *) self->classes,
                                        (const char *const *) self->templates, folder_progress, cl_weak_ref_new (self),
                                        (GDestroyNotify) cl_weak_ref_free, self->folder_cancellable, folder_done,
                                        cl_weak_ref_new (self));
      return;
    }
  cl_model_worker_classify_async (cl_session_get_worker (self->session), paths, members, mtimes, n,
                                  (const char *const *) self->classes, (const char *const *) self->templates,
                                  cl_session_get_apply_exif (self->session), CL_WORKER_PRIORITY_BACKGROUND,
                                  folder_progress, cl_weak_ref_new (self), (GDestroyNotify) cl_weak_ref_free,
                                  self->folder_cancellable, folder_done, cl_weak_ref_new (self));
}

static void
action_classify_all (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClClassifyView *self = CL_CLASSIFY_VIEW (widget);

  self->folder_enabled = TRUE;
  run_folder (self);
}

/* Stops whole-folder classification; the results so far stay. */
static void
action_stop (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClClassifyView *self = CL_CLASSIFY_VIEW (widget);

  if (self->folder_cancellable == NULL)
    return;
  g_autofree char *summary = g_strdup_printf (ngettext ("Stopped after %u of %u image.",
                                                           "Stopped after %u of %u images.", self->folder_total),
                                              self->folder_done, self->folder_total);
  self->folder_enabled = FALSE;
  cl_cancel_and_clear (&self->folder_cancellable);
  update_folder_controls (self);
  set_folder_summary (self, summary);
  if (grid_follows_predictions (self))
    refilter (self);
}

/* ---------------------------------------------------------------- class counts in the filter */

/* ROW's count, dimmed after its class name ("All Classes" counts every image shown unfiltered). */
static void
show_row_count (ClClassifyView *self, GtkListItem *row)
{
  GtkWidget *count = gtk_widget_get_last_child (gtk_list_item_get_child (row));
  guint position = gtk_list_item_get_position (row);
  g_autofree char *text = position < self->n_class_counts ? g_strdup_printf ("%u", self->class_counts[position]) : NULL;

  gtk_label_set_label (GTK_LABEL (count), text);
}

/* How many images of the collection (not trashed) each choice of the filter shows: the
 * predictions as they arrive, counted again with each batch. */
static void
update_class_counts (ClClassifyView *self)
{
  ClCollection *c = collection (self);
  guint n_choices = g_list_model_get_n_items (G_LIST_MODEL (self->filter_classes));
  g_autoptr (GHashTable) choice_of = g_hash_table_new (g_str_hash, g_str_equal);

  g_free (self->class_counts);
  self->class_counts = g_new0 (guint, MAX (n_choices, 1));
  self->n_class_counts = n_choices;
  for (guint i = 1; i < n_choices; i++)
    g_hash_table_insert (choice_of, (gpointer) gtk_string_list_get_string (self->filter_classes, i),
                         GUINT_TO_POINTER (i));
  for (guint i = 0; c != NULL && i < cl_collection_get_n_items (c); i++)
    {
      ClImageItem *item = cl_collection_get_item (c, i);
      const char *prediction = cl_image_item_get_prediction (item);
      if (cl_image_item_get_trashed (item))
        continue;
      self->class_counts[0]++;
      /* Predictions of classes no longer typed (0: not among the choices) count only in "All". */
      guint choice = prediction != NULL ? GPOINTER_TO_UINT (g_hash_table_lookup (choice_of, prediction)) : 0;
      if (choice > 0)
        self->class_counts[choice]++;
    }
  for (guint i = 0; i < self->count_rows->len; i++)
    show_row_count (self, self->count_rows->pdata[i]);
}

static void
count_row_setup (GtkSignalListItemFactory *factory, GtkListItem *row, ClClassifyView *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *name = gtk_label_new (NULL);
  GtkWidget *count = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (name), 0);
  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (name, TRUE);
  gtk_widget_add_css_class (count, "dim-label");
  gtk_widget_add_css_class (count, "numeric");
  gtk_box_append (GTK_BOX (box), name);
  gtk_box_append (GTK_BOX (box), count);
  gtk_list_item_set_child (row, box);
}

static void
count_row_bind (GtkSignalListItemFactory *factory, GtkListItem *row, ClClassifyView *self)
{
  GtkWidget *name = gtk_widget_get_first_child (gtk_list_item_get_child (row));

  gtk_label_set_label (GTK_LABEL (name), gtk_string_object_get_string (gtk_list_item_get_item (row)));
  g_ptr_array_add (self->count_rows, row);
  show_row_count (self, row);
}

static void
count_row_unbind (GtkSignalListItemFactory *factory, GtkListItem *row, ClClassifyView *self)
{
  g_ptr_array_remove_fast (self->count_rows, row);
}

/* The filter drop-down shows each class with its count. */
static void
setup_filter_counts (ClClassifyView *self)
{
  g_autoptr (GtkListItemFactory) factory = gtk_signal_list_item_factory_new ();

  self->count_rows = g_ptr_array_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (count_row_setup), self);
  g_signal_connect (factory, "bind", G_CALLBACK (count_row_bind), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (count_row_unbind), self);
  gtk_drop_down_set_factory (self->filter_dropdown, factory);
}

/* ---------------------------------------------------------------- inputs */

static void
update_filter_choices (ClClassifyView *self)
{
  guint n_old = g_list_model_get_n_items (G_LIST_MODEL (self->filter_classes));
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  guint selected = 0;

  g_strv_builder_add (builder, _("All Classes"));
  for (guint i = 0; self->classes != NULL && self->classes[i] != NULL; i++)
    {
      g_strv_builder_add (builder, self->classes[i]);
      if (g_strcmp0 (self->filter_class, self->classes[i]) == 0)
        selected = i + 1;
    }
  g_auto (GStrv) choices = g_strv_builder_end (builder);
  g_autofree char *keep = g_strdup (self->filter_class);
  gtk_string_list_splice (self->filter_classes, 0, n_old, (const char *const *) choices);
  g_free (self->filter_class);
  self->filter_class = selected > 0 ? g_steal_pointer (&keep) : NULL;
  gtk_drop_down_set_selected (self->filter_dropdown, selected);
  update_class_counts (self);
}

static void
update_classes_hint (ClClassifyView *self, guint n_typed)
{
  g_autofree char *text = NULL;

  if (n_typed > MAX_CLASSES)
    text = g_strdup_printf (_("Only the first %u of %u class names are used."), MAX_CLASSES, n_typed);
  else
    text = g_strdup (_("Separate class names with commas or new lines."));
  gtk_label_set_label (self->classes_hint, text);
  if (n_typed > MAX_CLASSES)
    gtk_widget_add_css_class (GTK_WIDGET (self->classes_hint), "warning");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->classes_hint), "warning");
}

static void
update_templates_hint (ClClassifyView *self, guint bad_line)
{
  guint n = self->templates != NULL ? g_strv_length (self->templates) : 0;
  g_autofree char *text = NULL;

  if (bad_line > 0)
    text = g_strdup_printf (_("Line %u has no {} and is left out."), bad_line);
  else if (n == 0)
    text = g_strdup (_("Type one template per line, with {} where the class name goes."));
  else if (n == 1)
    text = g_strdup_printf (_("Each class becomes “%s”."), self->templates[0]);
  else
    text = g_strdup_printf (ngettext ("%u template averaged per class, e.g. “%s”.",
                                         "%u templates averaged per class, e.g. “%s”.", n),
                            n, self->templates[0]);
  gtk_label_set_label (self->templates_hint, text);
  if (bad_line > 0)
    gtk_widget_add_css_class (GTK_WIDGET (self->templates_hint), "warning");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->templates_hint), "warning");
}

static void
refresh (ClClassifyView *self)
{
  GSettings *settings = cl_session_get_settings (self->session);
  g_autofree char *classes_text = buffer_text (self->classes_view);
  g_autofree char *custom_text = buffer_text (self->templates_view);
  guint selected = gtk_drop_down_get_selected (self->templates_dropdown);
  const char *preset = template_presets[MIN (selected, G_N_ELEMENTS (template_presets) - 1)];
  guint bad_line = 0;

  g_strfreev (self->classes);
  self->classes = cl_class_names_parse (classes_text);
  guint n_classes = g_strv_length (self->classes);
  if (n_classes > MAX_CLASSES)
    {
      g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
      for (guint i = 0; i < MAX_CLASSES; i++)
        g_strv_builder_add (builder, self->classes[i]);
      g_strfreev (self->classes);
      self->classes = g_strv_builder_end (builder);
    }
  update_classes_hint (self, n_classes);
  g_strfreev (self->templates);
  self->templates = cl_templates_for_preset (preset, custom_text, &bad_line);

  g_settings_set_string (settings, "class-names", classes_text);
  g_settings_set_string (settings, "template-preset", preset);
  g_settings_set_string (settings, "custom-templates", custom_text);

  update_templates_hint (self, bad_line);
  update_filter_choices (self);
  run_live (self);
  run_folder (self);
}

static void
typing_paused (gpointer owner)
{
  ClClassifyView *self = owner;

  refresh (self);
  update_state (self);
}

static void
schedule_refresh (ClClassifyView *self)
{
  cl_debounce_schedule (&self->debounce);
  update_state (self);
}

static void
on_templates_selected (ClClassifyView *self)
{
  gboolean custom = gtk_drop_down_get_selected (self->templates_dropdown) == G_N_ELEMENTS (template_presets) - 1;
  gtk_revealer_set_reveal_child (self->custom_revealer, custom);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TEMPLATE_PRESET]);
  schedule_refresh (self);
}

/* Without a class to show or the order by confidence, the models pass the collection through
 * (it is in name order): a new folder of any size then costs nothing to filter or sort. */
static void
apply_filter_and_sorter (ClClassifyView *self)
{
  GtkFilterListModel *filtered = GTK_FILTER_LIST_MODEL (gtk_sort_list_model_get_model (self->sort_model));
  GtkFilter *filter = filter_active (self) || self->any_trashed ? GTK_FILTER (self->filter) : NULL;
  GtkSorter *sorter = self->sort_by_confidence ? GTK_SORTER (self->sorter) : NULL;

  if (gtk_filter_list_model_get_filter (filtered) != filter)
    gtk_filter_list_model_set_filter (filtered, filter);
  if (gtk_sort_list_model_get_sorter (self->sort_model) != sorter)
    gtk_sort_list_model_set_sorter (self->sort_model, sorter);
  update_count (self);
}

/* An image the filter hides leaves the preview: the first image shown takes its place (or none). */
static void
drop_hidden_selection (ClClassifyView *self)
{
  ClImageItem *item = cl_session_get_selected_item (self->session);
  GListModel *shown = G_LIST_MODEL (self->sort_model);

  if (!filter_active (self) || item == NULL || !gtk_widget_get_mapped (GTK_WIDGET (self))
      || gtk_filter_match (GTK_FILTER (self->filter), item))
    return;
  g_autoptr (ClImageItem) first = g_list_model_get_n_items (shown) > 0 ? g_list_model_get_item (shown, 0) : NULL;
  cl_session_set_selected_item (self->session, first);
}

static void
on_filter_selected (ClClassifyView *self)
{
  guint selected = gtk_drop_down_get_selected (self->filter_dropdown);
  const char *name = selected > 0 && selected != GTK_INVALID_LIST_POSITION
                     ? gtk_string_list_get_string (self->filter_classes, selected) : NULL;
  gboolean another = self->filter_class != NULL && name != NULL;

  if (g_strcmp0 (name, self->filter_class) == 0)
    return;
  g_free (self->filter_class);
  self->filter_class = g_strdup (name);
  if (another)
    gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  apply_filter_and_sorter (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILTER_CLASS]);
}

/* The confidence range or the disagreeing images changed (from the popover or the properties). */
static void
filters_changed (ClClassifyView *self, GParamSpec *pspec)
{
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  apply_filter_and_sorter (self);
  drop_hidden_selection (self);
  g_object_notify_by_pspec (G_OBJECT (self), pspec);
}

static void
set_confidence_bound (ClClassifyView *self, double *bound, double value, GParamSpec *pspec)
{
  if (*bound == value)
    return;
  *bound = value;
  filters_changed (self, pspec);
}

static void
on_trashed_changed (ClClassifyView *self)
{
  self->any_trashed = TRUE;
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  apply_filter_and_sorter (self);
  update_class_counts (self);
}

static void
on_sort_selected (ClClassifyView *self)
{
  gboolean by_confidence = gtk_drop_down_get_selected (self->sort_dropdown) == 1;

  if (by_confidence == self->sort_by_confidence)
    return;
  self->sort_by_confidence = by_confidence;
  /* A new order starts at its top: the most confident images, or the first names. */
  self->scroll_to_top = TRUE;
  apply_filter_and_sorter (self);
  update_state (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SORT_BY_CONFIDENCE]);
}

static void set_template_preset (ClClassifyView *self, const char *preset);

/* "classify.use-labels": the data set's labels as the class names and, when it has templates of its
 * own (WebDataset's zeroshot_classification_templates.txt), those as the custom templates: the
 * classifier CLIP_benchmark builds for it. */
static void
action_use_labels (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClClassifyView *self = CL_CLASSIFY_VIEW (widget);
  ClCollection *c = collection (self);
  if (c == NULL || !cl_collection_has_labels (c))
    return;
  g_autofree char *text = g_strjoinv (", ", (char **) cl_collection_get_labels (c));
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->classes_view), text, -1);
  const char *const *templates = cl_collection_get_templates (c);
  if (templates == NULL)
    return;
  g_autofree char *lines = g_strjoinv ("\n", (char **) templates);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->templates_view), lines, -1);
  set_template_preset (self, "custom");
}

/* ---------------------------------------------------------------- filter, sort, grid */

static gboolean
filter_func (gpointer item, gpointer user_data)
{
  ClClassifyView *self = user_data;

  const char *prediction = cl_image_item_get_prediction (item);

  if (cl_image_item_get_trashed (item))
    return FALSE;
  if (self->filter_class != NULL && g_strcmp0 (prediction, self->filter_class) != 0)
    return FALSE;
  if (confidence_range_active (self))
    {
      double percent = 100 * cl_image_item_get_confidence (item);
      if (prediction == NULL || percent < self->min_confidence || percent > self->max_confidence)
        return FALSE;
    }
  if (self->only_disagreeing)
    {
      const char *label = cl_image_item_get_label (item);
      return label != NULL && prediction != NULL && g_ascii_strcasecmp (label, prediction) != 0;
    }
  return TRUE;
}

static int
sort_func (gconstpointer a, gconstpointer b, gpointer user_data)
{
  ClClassifyView *self = user_data;
  ClImageItem *x = (ClImageItem *) a, *y = (ClImageItem *) b;

  if (self->sort_by_confidence)
    {
      double cx = cl_image_item_get_confidence (x), cy = cl_image_item_get_confidence (y);
      if (cx != cy)
        return cx > cy ? GTK_ORDERING_SMALLER : GTK_ORDERING_LARGER;
    }
  guint ix = cl_image_item_get_index (x), iy = cl_image_item_get_index (y);
  return ix < iy ? GTK_ORDERING_SMALLER : ix > iy ? GTK_ORDERING_LARGER : GTK_ORDERING_EQUAL;
}

static void
on_selected_item_changed (ClClassifyView *self)
{
  ClImageItem *item = cl_session_get_selected_item (self->session);

  cl_image_grid_select_item (self->grid, item);
  cl_thumbnailer_show_preview (cl_session_get_thumbnailer (self->session),
                               item != NULL && cl_image_item_get_exists (item) ? item : NULL, PREVIEW_MAX_SIZE,
                               self->selected_picture, &self->preview_cancellable);
  gtk_label_set_label (self->selected_name, item != NULL ? cl_image_item_get_name (item) : NULL);
  const char *label = item != NULL ? cl_image_item_get_label (item) : NULL;
  g_autofree char *label_text = label != NULL ? g_strdup_printf (_("Label: %s"), label) : NULL;
  gtk_label_set_label (self->selected_label, label_text);
  gtk_widget_set_visible (GTK_WIDGET (self->selected_label), label != NULL);
  run_live (self);
}

static void
on_grid_selection (ClClassifyView *self)
{
  ClImageItem *item = cl_image_grid_get_selected_item (self->grid);
  /* Only the grid the user sees chooses the selection; hidden ones follow it. */
  if (item != NULL && gtk_widget_get_mapped (GTK_WIDGET (self->grid)))
    cl_session_set_selected_item (self->session, item);
}

static void
on_collection_changed (ClClassifyView *self)
{
  ClCollection *c = collection (self);

  self->folder_enabled = FALSE;
  self->any_trashed = FALSE;
  gtk_widget_set_sensitive (GTK_WIDGET (self->disagree_check), c != NULL && cl_collection_has_labels (c));
  clear_folder_results (self, FALSE);
  set_folder_summary (self, NULL);
  gtk_filter_list_model_set_model (GTK_FILTER_LIST_MODEL (gtk_sort_list_model_get_model (self->sort_model)),
                                   c != NULL ? cl_collection_get_items (c) : NULL);
  gtk_stack_set_visible_child_name (self->stack, c != NULL && cl_collection_get_n_items (c) > 0 ? "content" : "empty");
  gtk_stack_set_visible_child_name (self->center_stack, "images");
  refilter (self);
  run_folder (self);   /* what the folder's index holds already */
  on_selected_item_changed (self);
}

static void
on_model_changed (ClClassifyView *self)
{
  update_folder_controls (self);
  run_live (self);
  if (cl_session_get_model_state (self->session) == CL_MODEL_STATE_READY)
    run_folder (self);
}

/* ---------------------------------------------------------------- export */

static void
csv_append_field (GString *out, const char *field)
{
  if (field == NULL)
    return;
  if (strpbrk (field, ",\"\r\n") == NULL)
    {
      g_string_append (out, field);
      return;
    }
  g_string_append_c (out, '"');
  for (const char *p = field; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static GBytes *
export_csv (ClClassifyView *self)
{
  ClCollection *c = collection (self);
  const guint n_classes = g_strv_length (self->folder_classes);
  const gboolean labelled = cl_collection_has_labels (c);
  GString *out = g_string_new ("image_path");

  if (labelled)
    g_string_append (out, ",label");
  g_string_append (out, ",prediction,confidence");
  for (guint j = 0; j < n_classes; j++)
    {
      g_string_append_c (out, ',');
      csv_append_field (out, self->folder_classes[j]);
    }
  g_string_append (out, "\r\n");

  /* The rows the grid shows (filtered by class), in its order. */
  GListModel *shown = G_LIST_MODEL (self->sort_model);
  for (guint position = 0; position < g_list_model_get_n_items (shown); position++)
    {
      g_autoptr (ClImageItem) item = g_list_model_get_item (shown, position);
      guint i = cl_image_item_get_index (item);
      g_autofree char *path = g_filename_display_name (cl_image_item_get_path (item));
      csv_append_field (out, path);
      if (labelled)
        {
          g_string_append_c (out, ',');
          csv_append_field (out, cl_image_item_get_label (item));
        }
      g_string_append_c (out, ',');
      if (self->folder_readable[i])
        {
          char number[G_ASCII_DTOSTR_BUF_SIZE];
          csv_append_field (out, cl_image_item_get_prediction (item));
          g_string_append_printf (out, ",%s", g_ascii_formatd (number, sizeof number, "%.6f",
                                                               cl_image_item_get_confidence (item)));
          for (guint j = 0; j < n_classes; j++)
            g_string_append_printf (out, ",%s", g_ascii_formatd (number, sizeof number, "%.6f",
                                                                 self->folder_probs[(gsize) i * n_classes + j]));
        }
      else
        for (guint j = 0; j < n_classes + 1; j++)
          g_string_append_c (out, ',');
      g_string_append (out, "\r\n");
    }
  return g_string_free_to_bytes (out);
}

gboolean
cl_classify_view_export_to_file (ClClassifyView *self, GFile *file, GError **error)
{
  if (!self->folder_complete)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Classify all images first"));
      return FALSE;
    }
  g_autoptr (GBytes) bytes = export_csv (self);
  return g_file_replace_contents (file, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), NULL, FALSE,
                                  G_FILE_CREATE_REPLACE_DESTINATION, NULL, NULL, error);
}

static void
export_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ClClassifyView) self = g_weak_ref_get (user_data);
  GFile *file = G_FILE (source);
  g_autofree char *name = g_file_get_basename (file);

  cl_weak_ref_free (user_data);
  if (!g_file_replace_contents_finish (file, result, NULL, &error))
    {
      if (self != NULL)
        cl_session_report_error (self->session, _("Could not save the results"), error->message,
                                 "win.export-results", _("Try Again…"));
      return;
    }
  if (self != NULL)
    {
      g_autofree char *message = g_strdup_printf (_("Results saved to %s"), name);
      cl_session_show_file_toast (self->session, message, file);
    }
}

static void
export_chosen (gpointer owner, GFile *file, gpointer data)
{
  cl_classify_view_export_to (CL_CLASSIFY_VIEW (owner), file);
}

void
cl_classify_view_export_to (ClClassifyView *self, GFile *file)
{
  if (!self->folder_complete)
    return;
  g_autoptr (GBytes) bytes = export_csv (self);
  g_file_replace_contents_bytes_async (file, bytes, NULL, FALSE, G_FILE_CREATE_REPLACE_DESTINATION, NULL,
                                       export_written, cl_weak_ref_new (self));
}

static void
action_export (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  cl_classify_view_export (CL_CLASSIFY_VIEW (widget));
}

/* Where results are saved unless the user goes elsewhere: Documents, else the home folder (never
 * the working directory, which may be a source checkout or /). */
static GFile *
export_folder (void)
{
  const char *documents = g_get_user_special_dir (G_USER_DIRECTORY_DOCUMENTS);

  if (documents != NULL && g_file_test (documents, G_FILE_TEST_IS_DIR))
    return g_file_new_for_path (documents);
  return g_file_new_for_path (g_get_home_dir ());
}

/* The Save dialog's title: it says which rows are saved. */
static char *
export_title (ClClassifyView *self)
{
  guint shown = g_list_model_get_n_items (G_LIST_MODEL (self->sort_model));

  if (self->filter_class == NULL)
    return g_strdup_printf (ngettext ("Save the Results of %u Image", "Save the Results of %u Images", shown), shown);
  /* Translators: the Save dialog's title when the grid shows one class: "Save the 379 Results Shown (cat)" */
  return g_strdup_printf (ngettext ("Save the %u Result Shown (%s)", "Save the %u Results Shown (%s)", shown), shown,
                          self->filter_class);
}

static char *
export_name (ClClassifyView *self)
{
  const char *title = cl_collection_get_title (collection (self));

  if (self->filter_class == NULL)
    return g_strdup_printf ("%s-classes.csv", title);
  g_autofree char *safe_class = g_strdelimit (g_strdup (self->filter_class), G_DIR_SEPARATOR_S, '-');
  return g_strdup_printf ("%s-%s.csv", title, safe_class);
}

void
cl_classify_view_export (ClClassifyView *self)
{
  if (!self->folder_complete)
    return;
  g_autofree char *name = export_name (self);
  g_autofree char *title = export_title (self);
  g_autoptr (GFile) folder = export_folder ();
  ClFileChooserOptions options = {
    .title = title, .action = GTK_FILE_CHOOSER_ACTION_SAVE, .accept_label = _("_Save"), .name = name,
    .folder = folder,
  };

  cl_file_chooser_show (GTK_WIDGET (self), &options, export_chosen, NULL);
}

/* ---------------------------------------------------------------- properties */

static const char *
template_preset (ClClassifyView *self)
{
  guint selected = gtk_drop_down_get_selected (self->templates_dropdown);
  return template_presets[MIN (selected, G_N_ELEMENTS (template_presets) - 1)];
}

static void
set_template_preset (ClClassifyView *self, const char *preset)
{
  for (guint i = 0; i < G_N_ELEMENTS (template_presets); i++)
    if (g_strcmp0 (template_presets[i], preset) == 0)
      gtk_drop_down_set_selected (self->templates_dropdown, i);
}

/* Shows the images predicted as CLASS_NAME (NULL or a name not among the classes: all). */
static void
set_filter_class (ClClassifyView *self, const char *class_name)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->filter_classes));
  for (guint i = 1; i < n; i++)
    if (g_strcmp0 (gtk_string_list_get_string (self->filter_classes, i), class_name) == 0)
      {
        gtk_drop_down_set_selected (self->filter_dropdown, i);
        return;
      }
  gtk_drop_down_set_selected (self->filter_dropdown, 0);
}

gboolean cl_classify_view_has_results (ClClassifyView *self) { return self->folder_complete; }

guint
cl_classify_view_get_class_count (ClClassifyView *self, const char *class_name)
{
  for (guint i = 0; i < self->n_class_counts; i++)
    if ((i == 0 && class_name == NULL) || (i > 0 && g_strcmp0 (gtk_string_list_get_string (self->filter_classes, i), class_name) == 0))
      return self->class_counts[i];
  return 0;
}

static void
cl_classify_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClClassifyView *self = CL_CLASSIFY_VIEW (object);

  switch (prop_id)
    {
    case PROP_LIVE_BUSY:
      g_value_set_boolean (value, self->live_busy);
      break;
    case PROP_FOLDER_BUSY:
      g_value_set_boolean (value, self->folder_busy);
      break;
    case PROP_GRID_PENDING:
      g_value_set_boolean (value, self->grid_pending);
      break;
    case PROP_SHOWN_ITEMS:
      g_value_set_object (value, self->sort_model);
      break;
    case PROP_METRICS_SUMMARY:
      g_value_set_string (value, self->metrics_summary);
      break;
    case PROP_TEMPLATE_PRESET:
      g_value_set_string (value, template_preset (self));
      break;
    case PROP_FILTER_CLASS:
      g_value_set_string (value, self->filter_class);
      break;
    case PROP_MIN_CONFIDENCE:
      g_value_set_double (value, self->min_confidence);
      break;
    case PROP_MAX_CONFIDENCE:
      g_value_set_double (value, self->max_confidence);
      break;
    case PROP_ONLY_DISAGREEING:
      g_value_set_boolean (value, self->only_disagreeing);
      break;
    case PROP_SORT_BY_CONFIDENCE:
      g_value_set_boolean (value, self->sort_by_confidence);
      break;
    case PROP_PROGRESS:
      g_value_set_double (value, self->progress);
      break;
    case PROP_EXPORT_FOLDER:
      g_value_take_object (value, export_folder ());
      break;
    case PROP_EXPORT_TITLE:
      g_value_take_string (value, export_title (self));
      break;
    case PROP_EXPORT_NAME:
      g_value_take_string (value, collection (self) != NULL ? export_name (self) : NULL);
      break;
    case PROP_N_EMBEDDED:
      g_value_set_int64 (value, self->n_embedded);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* The writable properties set the view's own drop-downs: their handlers notify. */
static void
cl_classify_view_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  ClClassifyView *self = CL_CLASSIFY_VIEW (object);

  switch (prop_id)
    {
    case PROP_TEMPLATE_PRESET:
      set_template_preset (self, g_value_get_string (value));
      break;
    case PROP_FILTER_CLASS:
      set_filter_class (self, g_value_get_string (value));
      break;
    case PROP_MIN_CONFIDENCE:
      set_confidence_bound (self, &self->min_confidence, g_value_get_double (value), pspec);
      break;
    case PROP_MAX_CONFIDENCE:
      set_confidence_bound (self, &self->max_confidence, g_value_get_double (value), pspec);
      break;
    case PROP_ONLY_DISAGREEING:
      if (self->only_disagreeing != g_value_get_boolean (value))
        {
          self->only_disagreeing = g_value_get_boolean (value);
          filters_changed (self, pspec);
        }
      break;
    case PROP_SORT_BY_CONFIDENCE:
      gtk_drop_down_set_selected (self->sort_dropdown, g_value_get_boolean (value) ? 1 : 0);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
install_properties (GObjectClass *object_class)
{
  const GParamFlags read_only = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  const GParamFlags read_write = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = cl_classify_view_get_property;
  object_class->set_property = cl_classify_view_set_property;
  properties[PROP_LIVE_BUSY] = g_param_spec_boolean ("live-busy", NULL, NULL, FALSE, read_only);
  properties[PROP_FOLDER_BUSY] = g_param_spec_boolean ("folder-busy", NULL, NULL, FALSE, read_only);
  properties[PROP_GRID_PENDING] = g_param_spec_boolean ("grid-pending", NULL, NULL, FALSE, read_only);
  properties[PROP_SHOWN_ITEMS] = g_param_spec_object ("shown-items", NULL, NULL, G_TYPE_LIST_MODEL, read_only);
  properties[PROP_METRICS_SUMMARY] = g_param_spec_string ("metrics-summary", NULL, NULL, NULL, read_only);
  properties[PROP_TEMPLATE_PRESET] = g_param_spec_string ("template-preset", NULL, NULL, "simple", read_write);
  properties[PROP_FILTER_CLASS] = g_param_spec_string ("filter-class", NULL, NULL, NULL, read_write);
  properties[PROP_SORT_BY_CONFIDENCE] = g_param_spec_boolean ("sort-by-confidence", NULL, NULL, FALSE, read_write);
  /* The filter's confidence range, in percent, and the images predicted other than their label. */
  properties[PROP_MIN_CONFIDENCE] = g_param_spec_double ("min-confidence", NULL, NULL, 0, 100, 0, read_write);
  properties[PROP_MAX_CONFIDENCE] = g_param_spec_double ("max-confidence", NULL, NULL, 0, 100, 100, read_write);
  properties[PROP_ONLY_DISAGREEING] = g_param_spec_boolean ("only-disagreeing", NULL, NULL, FALSE, read_write);
  properties[PROP_PROGRESS] = g_param_spec_double ("progress", NULL, NULL, 0, 1, 0, read_only);
  properties[PROP_EXPORT_FOLDER] = g_param_spec_object ("export-folder", NULL, NULL, G_TYPE_FILE, read_only);
  properties[PROP_EXPORT_TITLE] = g_param_spec_string ("export-title", NULL, NULL, NULL, read_only);
  properties[PROP_EXPORT_NAME] = g_param_spec_string ("export-name", NULL, NULL, NULL, read_only);
  properties[PROP_N_EMBEDDED] = g_param_spec_int64 ("n-embedded", NULL, NULL, 0, G_MAXINT64, 0, read_only);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

/* ---------------------------------------------------------------- GObject */

static void
cl_classify_view_dispose (GObject *object)
{
  ClClassifyView *self = CL_CLASSIFY_VIEW (object);

  g_clear_handle_id (&self->scroll_source, g_source_remove);
  cl_debounce_cancel (&self->debounce);
  g_clear_handle_id (&self->refilter_id, g_source_remove);
  cl_cancel_and_clear (&self->live_cancellable);
  cl_cancel_and_clear (&self->preview_cancellable);
  cl_cancel_and_clear (&self->folder_cancellable);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->session);
  g_clear_object (&self->sort_model);
  gtk_widget_dispose_template (GTK_WIDGET (object), CL_TYPE_CLASSIFY_VIEW);
  G_OBJECT_CLASS (cl_classify_view_parent_class)->dispose (object);
}

static void
cl_classify_view_finalize (GObject *object)
{
  ClClassifyView *self = CL_CLASSIFY_VIEW (object);

  g_strfreev (self->classes);
  g_strfreev (self->templates);
  g_strfreev (self->folder_classes);
  g_free (self->folder_probs);
  g_free (self->folder_readable);
  g_free (self->filter_class);
  g_free (self->class_counts);
  g_ptr_array_unref (self->count_rows);
  g_free (self->metrics_summary);
  g_clear_object (&self->filter);
  g_clear_object (&self->sorter);
  G_OBJECT_CLASS (cl_classify_view_parent_class)->finalize (object);
}

static void
cl_classify_view_class_init (ClClassifyViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cl_classify_view_dispose;
  object_class->finalize = cl_classify_view_finalize;
  install_properties (object_class);
  gtk_widget_class_install_action (widget_class, "classify.classify-all", NULL, action_classify_all);
  gtk_widget_class_install_action (widget_class, "classify.stop", NULL, action_stop);
  gtk_widget_class_install_action (widget_class, "classify.export", NULL, action_export);
  gtk_widget_class_install_action (widget_class, "classify.use-labels", NULL, action_use_labels);

  g_type_ensure (CL_TYPE_STATUS_PAGE);
  g_type_ensure (CL_TYPE_PROB_BARS);
  g_type_ensure (CL_TYPE_CONFUSION_MATRIX);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-classify-view.ui");
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, stack);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, classes_view);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, classes_hint);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, templates_dropdown);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, custom_revealer);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, templates_view);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, templates_hint);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, folder_stack);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, folder_progress);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, folder_summary);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, dataset_section);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, grid_box);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, filter_dropdown);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, sort_dropdown);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, min_confidence_spin);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, max_confidence_spin);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, disagree_check);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, count_label);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, center_stack);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, center_switcher);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, metrics_title);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, metrics_detail);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, confusion);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, selected_picture);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, selected_name);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, selected_label);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, probs_spinner);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, probs_stack);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, prob_bars);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, probs_hint);
  gtk_widget_class_bind_template_child (widget_class, ClClassifyView, probs_action);
  gtk_widget_class_bind_template_callback (widget_class, on_templates_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_filter_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_sort_selected);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
cl_classify_view_init (ClClassifyView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  cl_debounce_init (&self->debounce, DEBOUNCE_MS, typing_paused, self);
  self->filter_classes = GTK_STRING_LIST (gtk_drop_down_get_model (self->filter_dropdown));
  self->max_confidence = 100;
  setup_filter_counts (self);
  const GBindingFlags both = G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE;
  g_object_bind_property (self, "min-confidence", self->min_confidence_spin, "value", both);
  g_object_bind_property (self, "max-confidence", self->max_confidence_spin, "value", both);
  g_object_bind_property (self, "only-disagreeing", self->disagree_check, "active", both);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "classify.classify-all", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "classify.stop", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "classify.export", FALSE);
}

GtkWidget *
cl_classify_view_new (ClSession *session)
{
  ClClassifyView *self = g_object_new (CL_TYPE_CLASSIFY_VIEW, NULL);
  GSettings *settings = cl_session_get_settings (session);

  self->session = g_object_ref (session);

  self->filter = gtk_custom_filter_new (filter_func, self, NULL);
  self->sorter = gtk_custom_sorter_new (sort_func, self, NULL);
  GtkFilterListModel *filtered = gtk_filter_list_model_new (NULL, NULL);
  self->sort_model = gtk_sort_list_model_new (G_LIST_MODEL (filtered), NULL);
  /* Large folders are sorted over several frames rather than in one long one.  The filter is cheap
   * and runs at once: filtering incrementally would first remove every item not yet looked at and
   * add it back later, which makes the grid destroy and rebuild its cells. */
  gtk_sort_list_model_set_incremental (self->sort_model, TRUE);
  g_signal_connect_swapped (self->sort_model, "items-changed", G_CALLBACK (update_count), self);
  g_signal_connect_swapped (self->sort_model, "items-changed", G_CALLBACK (drop_hidden_selection), self);
  g_signal_connect_swapped (self->sort_model, "notify::pending", G_CALLBACK (update_state), self);
  g_signal_connect_swapped (filtered, "notify::pending", G_CALLBACK (update_state), self);
  self->grid = CL_IMAGE_GRID (cl_image_grid_new (cl_session_get_thumbnailer (session), CL_IMAGE_CELL_PREDICTION));
  cl_image_grid_set_model (self->grid, G_LIST_MODEL (self->sort_model));
  gtk_box_prepend (self->grid_box, GTK_WIDGET (self->grid));
  g_signal_connect_swapped (self->grid, "notify::selected-item", G_CALLBACK (on_grid_selection), self);

  /* What the user typed last time. */
  g_autofree char *classes = g_settings_get_string (settings, "class-names");
  g_autofree char *preset = g_settings_get_string (settings, "template-preset");
  g_autofree char *custom = g_settings_get_string (settings, "custom-templates");
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->classes_view), classes, -1);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->templates_view), custom, -1);
  set_template_preset (self, preset);
  g_signal_connect_swapped (gtk_text_view_get_buffer (self->classes_view), "changed",
                            G_CALLBACK (schedule_refresh), self);
  g_signal_connect_swapped (gtk_text_view_get_buffer (self->templates_view), "changed",
                            G_CALLBACK (schedule_refresh), self);

  g_signal_connect_swapped (session, "notify::collection", G_CALLBACK (on_collection_changed), self);
  g_signal_connect_swapped (session, "notify::selected-item", G_CALLBACK (on_selected_item_changed), self);
  g_signal_connect_swapped (session, "trashed-changed", G_CALLBACK (on_trashed_changed), self);
  g_signal_connect_swapped (session, "notify::model-info", G_CALLBACK (on_model_changed), self);
  g_signal_connect_swapped (session, "notify::model-state", G_CALLBACK (on_model_changed), self);
  on_collection_changed (self);
  refresh (self);
  return GTK_WIDGET (self);
}
