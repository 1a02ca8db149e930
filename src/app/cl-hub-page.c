/* cl-hub-page.c — Get Models: pretrained CLIP models from Hugging Face, downloaded on a worker. */
#include "cl-hub-page.h"

#include <glib/gi18n.h>

#include "clip.h"
#include "cl-config.h"

struct _ClHubPage {
  GtkWidget parent_instance;

  /* Template widgets (box is bound so that gtk_widget_dispose_template unparents it). */
  GtkWidget      *box;
  GtkListBox     *catalog_list;
  GtkListBox     *cached_list;
  GtkWidget      *cached_box;
  GtkEntry       *repo_entry;
  GtkWidget      *progress_box;
  GtkLabel       *error_label;

  struct _DownloadJob *job;   /* the running download, or NULL */
  double fraction;
  char  *status;
  char  *error;
  char  *snapshot_dir;
};

G_DEFINE_FINAL_TYPE (ClHubPage, cl_hub_page, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_DOWNLOADING, PROP_FRACTION, PROP_STATUS, PROP_ERROR, PROP_SNAPSHOT_DIR, N_PROPS };
static GParamSpec *properties[N_PROPS];

enum { SIGNAL_MODEL_CHOSEN, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---------------------------------------------------------------- the download job
 *
 * Shared by the page, the worker and the progress reports in flight: reference-counted, its page
 * held weakly, so a page closed mid-download only cancels it. */

typedef struct _DownloadJob {
  GWeakRef      page;
  GCancellable *cancellable;
  char         *repo_id;
} DownloadJob;

static void
download_job_clear (DownloadJob *job)
{
  g_weak_ref_clear (&job->page);
  g_clear_object (&job->cancellable);
  g_free (job->repo_id);
}

static DownloadJob *
download_job_ref (DownloadJob *job)
{
  return g_atomic_rc_box_acquire (job);
}

static void
download_job_unref (DownloadJob *job)
{
  g_atomic_rc_box_release_full (job, (GDestroyNotify) download_job_clear);
}

/* A copy of the download's state for the main thread. */
typedef struct {
  DownloadJob    *job;
  ClipHubProgress progress;
  char           *file;
} ProgressReport;

static void
progress_report_free (ProgressReport *report)
{
  download_job_unref (report->job);
  g_free (report->file);
  g_free (report);
}

/* ---------------------------------------------------------------- properties */

static void
set_string (ClHubPage *self, char **field, const char *value, int prop)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
set_error (ClHubPage *self, const char *message)
{
  set_string (self, &self->error, message, PROP_ERROR);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
}

static void
set_status (ClHubPage *self, const char *status, double fraction)
{
  set_string (self, &self->status, status, PROP_STATUS);
  if (self->fraction != fraction)
    {
      self->fraction = fraction;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FRACTION]);
    }
}

static void
set_job (ClHubPage *self, DownloadJob *job)
{
  gboolean was_downloading = self->job != NULL;
  if (self->job != NULL)
    download_job_unref (self->job);
  self->job = job;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "hub.cancel", job != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "hub.download", job == NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "hub.download-entry", job == NULL);
  /* The finished download loads its model: choosing another meanwhile would be overridden. */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "hub.use", job == NULL);
  gtk_widget_set_visible (self->progress_box, job != NULL || self->status != NULL);
  if (was_downloading != (job != NULL))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DOWNLOADING]);
}

/* ---------------------------------------------------------------- the lists */

static GtkWidget *
make_row (const char *title, const char *subtitle, const char *button_label, const char *action,
          const char *target)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *text = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *title_label = gtk_label_new (title);
  GtkWidget *subtitle_label = gtk_label_new (subtitle);
  GtkWidget *button = gtk_button_new_with_mnemonic (button_label);

  gtk_widget_set_margin_top (row, 10);
  gtk_widget_set_margin_bottom (row, 10);
  gtk_widget_set_margin_start (row, 12);
  gtk_widget_set_margin_end (row, 12);
  gtk_widget_set_hexpand (text, TRUE);
  gtk_label_set_xalign (GTK_LABEL (title_label), 0);
  gtk_label_set_selectable (GTK_LABEL (title_label), TRUE);
  gtk_label_set_xalign (GTK_LABEL (subtitle_label), 0);
  gtk_label_set_wrap (GTK_LABEL (subtitle_label), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (subtitle_label), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_width_chars (GTK_LABEL (subtitle_label), 10);
  gtk_widget_add_css_class (subtitle_label, "caption");
  gtk_widget_add_css_class (subtitle_label, "dim-label");
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), action);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (button), "s", target);
  gtk_box_append (GTK_BOX (text), title_label);
  gtk_box_append (GTK_BOX (text), subtitle_label);
  gtk_box_append (GTK_BOX (row), text);
  gtk_box_append (GTK_BOX (row), button);
  return row;
}

static void
clear_list (GtkListBox *list)
{
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (list))) != NULL)
    gtk_list_box_remove (list, child);
}

/* The snapshot "main" names for REPO_ID in the cache, else any of its snapshots, else NULL. */
static const ClipHubCachedModel *
find_cached (GPtrArray *cached, const char *repo_id)
{
  const ClipHubCachedModel *found = NULL;
  for (guint i = 0; i < cached->len; i++)
    {
      const ClipHubCachedModel *m = cached->pdata[i];
      if (g_str_equal (m->repo_id, repo_id) && (found == NULL || g_strcmp0 (m->refs, "main") == 0))
        found = m;
    }
  return found;
}

static void
fill_catalog (ClHubPage *self, GPtrArray *cached)
{
  int n;
  const ClipHubCatalogEntry *catalog = clip_hub_catalog (&n);
  clear_list (self->catalog_list);
  for (int i = 0; i < n; i++)
    {
      const ClipHubCatalogEntry *e = &catalog[i];
      const ClipHubCachedModel *have = find_cached (cached, e->repo_id);
      g_autofree char *size = g_format_size (e->download_bytes);
      /* Translators: a catalogue entry: architecture, download size, then what the model is good for */
      g_autofree char *subtitle = g_strdup_printf (_("%s · about %s · %s"), e->architecture, size,
                                                   _(e->description));
      gtk_list_box_append (self->catalog_list,
                           have != NULL ? make_row (e->repo_id, subtitle, _("_Use"), "hub.use", have->snapshot_dir)
                                        : make_row (e->repo_id, subtitle, _("_Download"), "hub.download",
                                                    e->repo_id));
    }
}

static void
fill_cached (ClHubPage *self, GPtrArray *cached)
{
  clear_list (self->cached_list);
  for (guint i = 0; i < cached->len; i++)
    {
      const ClipHubCachedModel *m = cached->pdata[i];
      g_autofree char *size = g_format_size (m->size);
      const char *layout = m->layout == CLIP_LAYOUT_OPEN_CLIP_DIR ? "open_clip" : "Hugging Face";
      /* Translators: a model in the cache: its revision (e.g. "main"), commit, size and file layout */
      g_autofree char *subtitle = g_strdup_printf (_("%s · commit %.7s · %s · %s layout"),
                                                   m->refs != NULL ? m->refs : _("no branch"), m->commit, size,
                                                   layout);
      gtk_list_box_append (self->cached_list, make_row (m->repo_id, subtitle, _("_Use"), "hub.use",
                                                        m->snapshot_dir));
    }
  gtk_widget_set_visible (self->cached_box, cached->len > 0);
}

/* Rebuilds both lists from the cache as it is now (Python may have added models meanwhile). */
static void
refresh (ClHubPage *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) cached = clip_hub_list_cached (NULL, &error);
  if (cached == NULL)
    {
      set_error (self, error->message);
      cached = g_ptr_array_new ();
    }
  fill_catalog (self, cached);
  fill_cached (self, cached);
}

/* ---------------------------------------------------------------- downloading */

static void
choose (ClHubPage *self, const char *snapshot_dir)
{
  set_string (self, &self->snapshot_dir, snapshot_dir, PROP_SNAPSHOT_DIR);
  g_signal_emit (self, signals[SIGNAL_MODEL_CHOSEN], 0, snapshot_dir);
}

static char *
describe_progress (const ClipHubProgress *p, const char *file)
{
  g_autofree char *done = g_format_size (p->done), *total = g_format_size (p->total);
  if (p->rate <= 0)
    /* Translators: download progress before its rate is known: bytes done, total, file */
    return g_strdup_printf (_("%s of %s · %s"), done, total, file);
  g_autofree char *rate = g_format_size ((guint64) p->rate);
  long eta = p->eta >= 0 ? (long) (p->eta + 0.5) : 0;
  /* Translators: download progress: bytes done, total, rate, minutes:seconds left, file */
  return g_strdup_printf (_("%s of %s · %s/s · %ld:%02ld left · %s"), done, total, rate, eta / 60, eta % 60, file);
}

static gboolean
apply_progress (gpointer data)
{
  ProgressReport *report = data;
  g_autoptr (ClHubPage) self = g_weak_ref_get (&report->job->page);
  if (self == NULL || self->job != report->job || g_cancellable_is_cancelled (report->job->cancellable))
    return G_SOURCE_REMOVE;
  g_autofree char *status = describe_progress (&report->progress, report->file);
  set_status (self, status, report->progress.total > 0
                              ? (double) report->progress.done / (double) report->progress.total : 0.0);
  return G_SOURCE_REMOVE;
}

/* On the worker: a copy of the state goes to the main thread (the library reports ~10 times a second). */
static void
on_worker_progress (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  DownloadJob *job = user_data;
  ProgressReport *report = g_new0 (ProgressReport, 1);
  report->job = download_job_ref (job);
  report->progress = *clip_hub_get_progress ();
  report->file = g_strdup (what);
  report->progress.file = NULL;
  g_main_context_invoke_full (NULL, G_PRIORITY_DEFAULT, apply_progress, report,
                              (GDestroyNotify) progress_report_free);
}

static void
result_free (ClipHubResult *result)
{
  clip_hub_result_clear (result);
  g_free (result);
}

static void
download_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  DownloadJob *job = task_data;
  ClipHubOptions options;
  clip_hub_options_init (&options);
  options.cancellable = cancellable;
  ClipCallbacks callbacks = { on_worker_progress, NULL, job };
  ClipHubResult *result = g_new0 (ClipHubResult, 1);
  GError *error = NULL;
  if (clip_hub_download (job->repo_id, &options, result, &callbacks, &error))
    g_task_return_pointer (task, result, (GDestroyNotify) result_free);
  else
    {
      result_free (result);
      g_task_return_error (task, error);
    }
}

static void
on_download_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DownloadJob *job = user_data;
  g_autoptr (ClHubPage) self = g_weak_ref_get (&job->page);
  g_autoptr (GError) error = NULL;
  ClipHubResult *outcome = g_task_propagate_pointer (G_TASK (result), &error);
  if (self != NULL && self->job == job)
    {
      set_job (self, NULL);
      if (outcome != NULL)
        {
          g_autofree char *received = g_format_size (outcome->downloaded_bytes);
          /* Translators: a finished download: the repository id and the bytes received */
          g_autofree char *status = g_strdup_printf (_("%s downloaded (%s received)"), outcome->repo_id,
                                                     received);
          set_status (self, status, 1.0);
          refresh (self);
          choose (self, outcome->snapshot_dir);
        }
      else if (g_error_matches (error, CLIP_ERROR, CLIP_ERROR_ABORTED))
        set_status (self, _("Download cancelled: the next download of this model resumes where it stopped."),
                    self->fraction);
      else
        {
          set_status (self, NULL, 0.0);
          set_error (self, error->message);
        }
      gtk_widget_set_visible (self->progress_box, self->status != NULL);
    }
  if (outcome != NULL)
    result_free (outcome);
  download_job_unref (job);
}

static void
start_download (ClHubPage *self, const char *repo_id)
{
  g_autofree char *id = g_strstrip (g_strdup (repo_id));
  set_error (self, NULL);
  if (!clip_hub_parse_model_ref (id, NULL, NULL))
    {
      /* Translators: %s is what the user typed in place of a Hugging Face repository id */
      g_autofree char *message = g_strdup_printf (_("“%s” is not a Hugging Face model id: expected "
                                                    "organisation/name, e.g. openai/clip-vit-base-patch32, "
                                                    "or organisation/name@revision for a branch, tag or "
                                                    "commit."), id);
      set_error (self, message);
      return;
    }
  DownloadJob *job = g_atomic_rc_box_new0 (DownloadJob);
  g_weak_ref_init (&job->page, self);
  job->cancellable = g_cancellable_new ();
  job->repo_id = g_steal_pointer (&id);
  set_job (self, job);
  /* Translators: the download is starting: the repository id */
  g_autofree char *status = g_strdup_printf (_("Asking Hugging Face for %s…"), job->repo_id);
  set_status (self, status, 0.0);

  g_autoptr (GTask) task = g_task_new (NULL, job->cancellable, on_download_done, download_job_ref (job));
  g_task_set_task_data (task, download_job_ref (job), (GDestroyNotify) download_job_unref);
  /* The outcome is the library's: a download that completed just as Cancel was pressed is complete. */
  g_task_set_check_cancellable (task, FALSE);
  g_task_run_in_thread (task, download_thread);
}

/* ---------------------------------------------------------------- actions */

static void
download_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  start_download (CL_HUB_PAGE (widget), g_variant_get_string (parameter, NULL));
}

static void
download_entry_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClHubPage *self = CL_HUB_PAGE (widget);
  start_download (self, gtk_editable_get_text (GTK_EDITABLE (self->repo_entry)));
}

static void
cancel_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClHubPage *self = CL_HUB_PAGE (widget);
  if (self->job != NULL)
    g_cancellable_cancel (self->job->cancellable);
}

static void
on_entry_activate (ClHubPage *self)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "hub.download-entry", NULL);
}

static void
use_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClHubPage *self = CL_HUB_PAGE (widget);
  set_error (self, NULL);
  choose (self, g_variant_get_string (parameter, NULL));
}

/* ---------------------------------------------------------------- the class */

static void
cl_hub_page_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClHubPage *self = CL_HUB_PAGE (object);

  switch (prop_id)
    {
    case PROP_DOWNLOADING:
      g_value_set_boolean (value, self->job != NULL);
      break;
    case PROP_FRACTION:
      g_value_set_double (value, self->fraction);
      break;
    case PROP_STATUS:
      g_value_set_string (value, self->status);
      break;
    case PROP_ERROR:
      g_value_set_string (value, self->error);
      break;
    case PROP_SNAPSHOT_DIR:
      g_value_set_string (value, self->snapshot_dir);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_hub_page_dispose (GObject *object)
{
  ClHubPage *self = CL_HUB_PAGE (object);
  /* A closed page stops its download; the worker ends on its own and finds no page to report to. */
  if (self->job != NULL)
    {
      g_cancellable_cancel (self->job->cancellable);
      g_clear_pointer (&self->job, download_job_unref);
    }
  gtk_widget_dispose_template (GTK_WIDGET (object), CL_TYPE_HUB_PAGE);
  G_OBJECT_CLASS (cl_hub_page_parent_class)->dispose (object);
}

static void
cl_hub_page_finalize (GObject *object)
{
  ClHubPage *self = CL_HUB_PAGE (object);
  g_free (self->status);
  g_free (self->error);
  g_free (self->snapshot_dir);
  G_OBJECT_CLASS (cl_hub_page_parent_class)->finalize (object);
}

static void
cl_hub_page_class_init (ClHubPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = cl_hub_page_get_property;
  object_class->dispose = cl_hub_page_dispose;
  object_class->finalize = cl_hub_page_finalize;

  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  properties[PROP_DOWNLOADING] = g_param_spec_boolean ("downloading", NULL, NULL, FALSE, ro);
  properties[PROP_FRACTION] = g_param_spec_double ("fraction", NULL, NULL, 0.0, 1.0, 0.0, ro);
  properties[PROP_STATUS] = g_param_spec_string ("status", NULL, NULL, NULL, ro);
  properties[PROP_ERROR] = g_param_spec_string ("error", NULL, NULL, NULL, ro);
  properties[PROP_SNAPSHOT_DIR] = g_param_spec_string ("snapshot-dir", NULL, NULL, NULL, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_MODEL_CHOSEN] = g_signal_new ("model-chosen", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                               NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  gtk_widget_class_install_action (widget_class, "hub.download", "s", download_action);
  gtk_widget_class_install_action (widget_class, "hub.download-entry", NULL, download_entry_action);
  gtk_widget_class_install_action (widget_class, "hub.cancel", NULL, cancel_action);
  gtk_widget_class_install_action (widget_class, "hub.use", "s", use_action);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-hub-page.ui");
  gtk_widget_class_bind_template_child (widget_class, ClHubPage, box);
  gtk_widget_class_bind_template_child (widget_class, ClHubPage, catalog_list);
  gtk_widget_class_bind_template_child (widget_class, ClHubPage, cached_list);
  gtk_widget_class_bind_template_child (widget_class, ClHubPage, cached_box);
  gtk_widget_class_bind_template_child (widget_class, ClHubPage, repo_entry);
  gtk_widget_class_bind_template_child (widget_class, ClHubPage, progress_box);
  gtk_widget_class_bind_template_child (widget_class, ClHubPage, error_label);
  gtk_widget_class_bind_template_callback (widget_class, on_entry_activate);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
cl_hub_page_init (ClHubPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  set_job (self, NULL);
  refresh (self);
}

GtkWidget *
cl_hub_page_new (void)
{
  return g_object_new (CL_TYPE_HUB_PAGE, NULL);
}
