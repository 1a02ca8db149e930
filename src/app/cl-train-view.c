/* cl-train-view.c — training runs from the GUI, with a live loss chart. */
#include "cl-train-view.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n.h>

#include "cl-async.h"
#include "cl-chart-math.h"
#include "cl-file-chooser.h"
#include "cl-status-page.h"
#include "cl-train-follow.h"
#include "cl-window.h"

#define MAX_NOTICES     3
#define EXPORT_WIDTH    1200
#define EXPORT_HEIGHT   720

typedef enum {
  STATE_IDLE,
  STATE_PREPARING,     /* creating the run, decoding images: no step yet */
  STATE_RUNNING,
  STATE_PAUSING,
  STATE_PAUSED,
  STATE_STOPPING,
  STATE_FINISHED,
  STATE_STOPPED,
  STATE_FAILED,
  STATE_FOLLOWING,     /* drawing a run that another process writes */
} TrainState;

static const char *const state_names[] = {
  "idle", "preparing", "running", "pausing", "paused", "stopping", "finished", "stopped", "failed", "following",
};

/* The model presets, in the order of the drop-down. */
typedef enum { PRESET_SMALL, PRESET_VIT_B_32, PRESET_FINE_TUNE } Preset;
static const char *const preset_nicks[] = { "small", "vit-b-32", "fine-tune" };

struct _ClTrainView {
  GtkWidget parent_instance;

  /* Template widgets. */
  GtkMenuButton *train_csv_button;
  GtkLabel *train_csv_label;
  GtkMenuButton *val_csv_button;
  GtkLabel *val_csv_label;
  GtkButton *val_clear_button;
  GtkDropDown *model_dropdown;
  GtkWidget *init_box;
  GtkLabel *init_label;
  GtkLabel *model_summary;
  GtkSpinButton *epochs_spin;
  GtkSpinButton *batch_spin;
  GtkEntry *lr_entry;
  GtkSpinButton *warmup_spin;
  GtkSpinButton *decay_spin;
  GtkSpinButton *clip_spin;
  GtkSpinButton *max_steps_spin;
  GtkSpinButton *seed_spin;
  GtkSwitch *augment_switch;
  GtkSpinButton *save_every_spin;
  GtkLabel *runs_folder_label;
  GtkButton *start_button;
  GtkButton *pause_button;
  GtkButton *resume_button;
  GtkButton *stop_button;
  GtkButton *use_button;
  GtkStack *chart_stack;
  GtkLabel *status_title;
  GtkLabel *status_detail;
  GtkProgressBar *progress_bar;
  GtkLabel *stats_label;
  GtkLabel *validation_label;
  GtkLabel *notice_label;
  GtkScale *smoothing_scale;
  GtkToggleButton *log_toggle;
  GtkToggleButton *lr_toggle;
  ClLossChart *chart;

  ClSession *session;
  TrainState state;
  ClTrainJob *job;
  ClTrainFollow *follow;        /* the run another process writes, in STATE_FOLLOWING */
  guint generation;             /* of JOB: reports of older jobs are ignored */
  GCancellable *cancellable;    /* of the running command */
  gboolean request_pending;     /* a run command is queued or running */
  gboolean inputs_ready;        /* the data (and the model to fine-tune) are chosen */
  char *out_dir;
  char *model_path;             /* final model or newest checkpoint */
  gint64 total_steps;
  gint64 steps_per_epoch;
  double best_smoothed;
  char *message;
  double progress;              /* of the run (or of preparing it), 0..1 */
  gboolean previous_shown;      /* the chart and figures are still the previous run's: they stay
                                 * until this run reports, so a start that fails loses nothing */
  GQueue notices;               /* char *, newest last */
};

G_DEFINE_FINAL_TYPE (ClTrainView, cl_train_view, GTK_TYPE_WIDGET)

enum {
  PROP_0, PROP_STATE, PROP_RUNNING, PROP_BUSY, PROP_MESSAGE, PROP_OUT_DIR, PROP_MODEL_PATH, PROP_PROGRESS, N_PROPS
};
static GParamSpec *properties[N_PROPS];

static void update_controls (ClTrainView *self);

static void
notify (ClTrainView *self, guint prop_id)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

/* Replaces *FIELD by a copy of VALUE, notifying PROP_ID when it changed. */
static void
set_string (ClTrainView *self, char **field, const char *value, guint prop_id)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  notify (self, prop_id);
}

static void
set_progress (ClTrainView *self, double progress)
{
  if (self->progress == progress)
    return;
  self->progress = progress;
  notify (self, PROP_PROGRESS);
}

static void
set_request_pending (ClTrainView *self, gboolean pending)
{
  if (self->request_pending == pending)
    return;
  self->request_pending = pending;
  notify (self, PROP_BUSY);
}

/* A run is under way (preparing, running, paused or on its way to one of those). */
static gboolean
is_running (ClTrainView *self)
{
  TrainState s = self->state;
  return s == STATE_PREPARING || s == STATE_RUNNING || s == STATE_PAUSING || s == STATE_PAUSED || s == STATE_STOPPING;
}

/* ---------------------------------------------------------------- reports of a job */

typedef struct {
  GWeakRef view;
  guint generation;
} JobRef;

static JobRef *
job_ref_new (ClTrainView *self)
{
  JobRef *ref = g_new0 (JobRef, 1);
  g_weak_ref_init (&ref->view, self);
  ref->generation = self->generation;
  return ref;
}

static void
job_ref_free (gpointer data)
{
  JobRef *ref = data;
  g_weak_ref_clear (&ref->view);
  g_free (ref);
}

/* The view, when REF's job is still its current one. */
static ClTrainView *
job_ref_get (JobRef *ref)
{
  ClTrainView *self = g_weak_ref_get (&ref->view);
  if (self != NULL && self->generation != ref->generation)
    g_clear_object (&self);
  return self;
}

static void
set_message (ClTrainView *self, const char *text)
{
  set_string (self, &self->message, text, PROP_MESSAGE);
  gtk_label_set_label (self->status_detail, text);
  gtk_widget_set_visible (GTK_WIDGET (self->status_detail), text != NULL && *text != '\0');
}

static void update_stats (ClTrainView *self);

static void
set_state (ClTrainView *self, TrainState state)
{
  gboolean was_running = is_running (self);

  if (self->state != state)
    {
      self->state = state;
      notify (self, PROP_STATE);
    }
  if (is_running (self) != was_running)
    notify (self, PROP_RUNNING);
  update_controls (self);
  update_stats (self);   /* the time left only shows while running */
}

/* The first report of a new run: the previous run's chart and figures give way. */
static void
take_over_chart (ClTrainView *self)
{
  if (!self->previous_shown)
    return;
  self->previous_shown = FALSE;
  self->best_smoothed = INFINITY;
  cl_loss_chart_clear (self->chart);
  gtk_label_set_label (self->stats_label, "");
  gtk_widget_set_visible (GTK_WIDGET (self->validation_label), FALSE);
}

static void
on_job_started (const ClTrainStart *start, gpointer user_data)
{
  g_autoptr (ClTrainView) self = job_ref_get (user_data);

  if (self == NULL)
    return;
  take_over_chart (self);
  set_string (self, &self->out_dir, start->out_dir, PROP_OUT_DIR);
  self->total_steps = start->total_steps;
  self->steps_per_epoch = start->steps_per_epoch;
  cl_loss_chart_set_schedule (self->chart, start->total_steps, start->steps_per_epoch);
  cl_loss_chart_set_expect_validation (self->chart, start->config.val_csv_path != NULL);
  g_autofree char *folder = g_filename_display_name (start->out_dir);
  /* Translators: e.g. "52 pairs in batches of 8, 6 steps per epoch, 60 steps; saved in /home/me/runs/2025-…" */
  g_autofree char *text = g_strdup_printf (ngettext ("%d pair in batches of %d, %lld steps per epoch, %lld steps; saved in %s",
                                                     "%d pairs in batches of %d, %lld steps per epoch, %lld steps; saved in %s",
                                                     start->n_train),
                                           start->n_train, start->config.batch_size, (long long) start->steps_per_epoch,
                                           (long long) start->total_steps, folder);
  set_message (self, text);
  set_progress (self, (double) start->step / MAX (start->total_steps, 1));
}

static void
on_job_progress (const char *what, gint64 done, gint64 total, gpointer user_data)
{
  g_autoptr (ClTrainView) self = job_ref_get (user_data);

  if (self == NULL || self->state != STATE_PREPARING)
    return;
  /* Translators: preparation progress, e.g. "Decoding training images: 120 of 520" */
  g_autofree char *text = g_strdup_printf (_("%s: %lld of %lld"), what, (long long) done, (long long) total);
  gtk_progress_bar_set_text (self->progress_bar, text);
  set_progress (self, total > 0 ? (double) done / total : 0);
}

static void
update_stats (ClTrainView *self)
{
  guint n = cl_loss_chart_get_n_points (self->chart);
  if (n == 0)
    return;
  const ClTrainPoint *last = cl_loss_chart_get_point (self->chart, n - 1);
  double smoothed = cl_loss_chart_get_smoothed (self->chart, n - 1);
  GString *stats = g_string_new (NULL);

  /* Translators: training statistics, separated by " · " */
  g_string_append_printf (stats, _("Loss %.4f"), last->loss);
  g_string_append (stats, " · ");
  g_string_append_printf (stats, _("smoothed %.4f"), smoothed);
  g_string_append (stats, " · ");
  g_string_append_printf (stats, _("best %.4f"), self->best_smoothed);
  if (isfinite (last->images_per_s))
    {
      g_string_append (stats, " · ");
      g_string_append_printf (stats, _("%.0f images/s"), last->images_per_s);
    }
  if (self->state == STATE_RUNNING && isfinite (last->eta_s))
    {
      char eta[32];
      cl_chart_format_duration (last->eta_s, eta, sizeof eta);
      g_string_append (stats, " · ");
      g_string_append_printf (stats, _("%s left"), eta);
    }
  gtk_label_set_label (self->stats_label, stats->str);
  g_string_free (stats, TRUE);

  /* The schedule is known once the run has decoded its data. */
  if (self->total_steps == 0)
    return;
  gint64 epochs = self->steps_per_epoch > 0 ? (self->total_steps + self->steps_per_epoch - 1) / self->steps_per_epoch : 0;
  /* Translators: e.g. "Step 120 of 600 · epoch 2 of 10" */
  g_autofree char *progress = g_strdup_printf (_("Step %lld of %lld · epoch %lld of %lld"),
                                               (long long) last->step, (long long) self->total_steps,
                                               (long long) last->epoch, (long long) epochs);
  gtk_progress_bar_set_text (self->progress_bar, progress);
  set_progress (self, (double) last->step / MAX (self->total_steps, 1));
}

static void
show_points (ClTrainView *self, const ClTrainPoint *points, guint n)
{
  take_over_chart (self);
  guint before = cl_loss_chart_get_n_points (self->chart);
  gint64 last_step = before > 0 ? cl_loss_chart_get_point (self->chart, before - 1)->step : 0;
  cl_loss_chart_add_points (self->chart, points, n);
  /* The best smoothed loss over the new points, or over all when they replaced some (a run
   * continued from an older checkpoint). */
  guint first_new = points[0].step > last_step ? before : 0;
  if (first_new == 0)
    self->best_smoothed = INFINITY;
  for (guint i = first_new; i < cl_loss_chart_get_n_points (self->chart); i++)
    self->best_smoothed = fmin (self->best_smoothed, cl_loss_chart_get_smoothed (self->chart, i));
  if (self->state == STATE_PREPARING)
    set_state (self, STATE_RUNNING);
  update_stats (self);
}

static void
on_job_steps (const ClTrainPoint *points, guint n, gpointer user_data)
{
  g_autoptr (ClTrainView) self = job_ref_get (user_data);

  if (self != NULL)
    show_points (self, points, n);
}

/* Another smoothing weight: every smoothed value changes. */
static void
on_smoothing_changed (ClTrainView *self)
{
  self->best_smoothed = INFINITY;
  for (guint i = 0; i < cl_loss_chart_get_n_points (self->chart); i++)
    self->best_smoothed = fmin (self->best_smoothed, cl_loss_chart_get_smoothed (self->chart, i));
  update_stats (self);
}

static void
show_evals (ClTrainView *self, const ClTrainEval *evals, guint n)
{
  take_over_chart (self);
  cl_loss_chart_add_evals (self->chart, evals, n);
  const ClTrainEval *e = &evals[n - 1];
  g_autofree char *recall = g_strdup_printf (_("After epoch %lld (step %lld): "
                                               "Recall@1 image → text %.1f %%, text → image %.1f %%; "
                                               "Recall@5 %.1f %% and %.1f %%"),
                                             (long long) e->epoch, (long long) e->step, 100 * e->image_to_text[0],
                                             100 * e->text_to_image[0],
                                             100 * e->image_to_text[1], 100 * e->text_to_image[1]);
  g_autofree char *text = e->has_zero_shot
    ? g_strdup_printf (_("%s; zero-shot top-1 %.1f %%, top-5 %.1f %%"), recall, 100 * e->zero_shot_top1,
                       100 * e->zero_shot_top5)
    : g_strdup (recall);
  gtk_label_set_label (self->validation_label, text);
  gtk_widget_set_visible (GTK_WIDGET (self->validation_label), TRUE);
}

static void
on_job_validation (const ClTrainEval *evals, guint n, gpointer user_data)
{
  g_autoptr (ClTrainView) self = job_ref_get (user_data);

  if (self != NULL && n > 0)
    show_evals (self, evals, n);
}

static void
show_notices (ClTrainView *self)
{
  GString *text = g_string_new (NULL);
  for (GList *l = self->notices.head; l != NULL; l = l->next)
    g_string_append_printf (text, "%s%s", text->len > 0 ? "\n" : "", (const char *) l->data);
  gtk_label_set_label (self->notice_label, text->str);
  gtk_widget_set_visible (GTK_WIDGET (self->notice_label), text->len > 0);
  g_string_free (text, TRUE);
}

static void
on_job_notice (const char *message, gpointer user_data)
{
  g_autoptr (ClTrainView) self = job_ref_get (user_data);

  if (self == NULL)
    return;
  g_queue_push_tail (&self->notices, g_strdup (message));
  while (self->notices.length > MAX_NOTICES)
    g_free (g_queue_pop_head (&self->notices));
  show_notices (self);
}

static void
on_job_checkpoint (const char *path, gint64 step, gpointer user_data)
{
  g_autoptr (ClTrainView) self = job_ref_get (user_data);

  if (self == NULL)
    return;
  set_string (self, &self->model_path, path, PROP_MODEL_PATH);
  update_controls (self);
}

static const ClTrainJobCallbacks job_callbacks = {
  on_job_started, on_job_progress, on_job_steps, on_job_validation, on_job_notice, on_job_checkpoint,
};

/* ---------------------------------------------------------------- running */

static void
notify_finished (ClTrainView *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GApplication *app = g_application_get_default ();

  if (app == NULL || (GTK_IS_WINDOW (root) && gtk_window_is_active (GTK_WINDOW (root))))
    return;
  /* Only when the user looks elsewhere (HIG). */
  g_autoptr (GNotification) notification = g_notification_new (_("Training finished"));
  g_notification_set_body (notification, self->message);
  g_application_send_notification (app, "training-finished", notification);
}

static void
run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClTrainView) self = job_ref_get (user_data);
  g_autoptr (GError) error = NULL;
  ClTrainOutcome outcome = CL_TRAIN_OUTCOME_STOPPED;
  ClTrainJob *job = self != NULL ? self->job : NULL;
  gboolean ok = job != NULL && cl_train_job_run_finish (job, result, &outcome, &error);

  job_ref_free (user_data);
  if (self == NULL || job == NULL)
    return;
  /* The last steps before the outcome. */
  cl_train_job_flush (job);
  set_request_pending (self, FALSE);
  g_clear_object (&self->cancellable);

  if (!ok)
    {
      g_clear_pointer (&self->job, cl_train_job_unref);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          set_state (self, STATE_STOPPED);
          return;
        }
      /* Said once, here, where the run is shown (a banner would outlive the next run); a toast
       * tells a user who looks elsewhere. */
      set_message (self, error->message);
      set_state (self, STATE_FAILED);
      if (self->previous_shown && cl_loss_chart_get_n_points (self->chart) == 0)
        gtk_stack_set_visible_child_name (self->chart_stack, "empty");
      if (!gtk_widget_get_mapped (GTK_WIDGET (self)))
        cl_session_show_toast (self->session, _("Training failed"));
      return;
    }

  switch (outcome)
    {
    case CL_TRAIN_OUTCOME_FINISHED:
      {
        g_autofree char *model = clip_train_run_model_path (self->out_dir);
        set_string (self, &self->model_path, model, PROP_MODEL_PATH);
      }
      g_clear_pointer (&self->job, cl_train_job_unref);
      {
        g_autofree char *path = g_filename_display_name (self->model_path);
        g_autofree char *text = g_strdup_printf (_("The model is saved as %s."), path);
        set_message (self, text);
      }
      set_state (self, STATE_FINISHED);
      notify_finished (self);
      break;
    case CL_TRAIN_OUTCOME_PAUSED:
      set_message (self, _("Paused with a checkpoint saved. Classifying and searching work again until you resume."));
      set_state (self, STATE_PAUSED);
      break;
    case CL_TRAIN_OUTCOME_STOPPED:
    default:
      g_clear_pointer (&self->job, cl_train_job_unref);
      set_message (self, self->model_path != NULL
                           ? _("Stopped with a checkpoint saved. Continue the run later from its folder.")
                           : _("Stopped before the first step: nothing was saved."));
      set_state (self, STATE_STOPPED);
      break;
    }
}

static void
run_job (ClTrainView *self)
{
  self->cancellable = g_cancellable_new ();
  set_request_pending (self, TRUE);
  cl_train_job_run_async (self->job, self->cancellable, run_done, job_ref_new (self));
}

/* Forgets the run shown: its folder, model, notices, chart and statistics. */
static void
clear_run (ClTrainView *self)
{
  g_clear_pointer (&self->follow, cl_train_follow_free);
  set_string (self, &self->out_dir, NULL, PROP_OUT_DIR);
  set_string (self, &self->model_path, NULL, PROP_MODEL_PATH);
  g_queue_clear_full (&self->notices, g_free);
  show_notices (self);
  self->total_steps = 0;
  self->steps_per_epoch = 0;
  self->previous_shown = TRUE;
  set_progress (self, 0);
}

/* Starts JOB: a new run or a continued one. */
static void
begin (ClTrainView *self, ClTrainJob *job)
{
  g_clear_pointer (&self->job, cl_train_job_unref);
  self->job = job;
  clear_run (self);
  gtk_progress_bar_set_text (self->progress_bar, _("Preparing…"));
  set_message (self, _("Loading the data and building the model…"));
  gtk_stack_set_visible_child_name (self->chart_stack, "chart");
  set_state (self, STATE_PREPARING);
  run_job (self);
}

static char *
settings_path (ClTrainView *self, const char *key)
{
  g_autofree char *value = g_settings_get_string (cl_session_get_settings (self->session), key);
  return *value != '\0' ? g_steal_pointer (&value) : NULL;
}

static char *
runs_folder (ClTrainView *self)
{
  char *folder = settings_path (self, "train-runs-folder");
  return folder != NULL ? folder : g_build_filename (g_get_user_data_dir (), "cliplab", "runs", NULL);
}

/* A new folder name under the runs folder: the date and time, made unique. */
static char *
new_run_folder (ClTrainView *self, GError **error)
{
  g_autofree char *parent = runs_folder (self);
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%d-%H%M%S");

  if (g_mkdir_with_parents (parent, 0755) != 0)
    {
      int saved = errno;
      g_autofree char *display = g_filename_display_name (parent);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", display, g_strerror (saved));
      return NULL;
    }
  for (int n = 1;; n++)
    {
      g_autofree char *name = n == 1 ? g_strdup (stamp) : g_strdup_printf ("%s-%d", stamp, n);
      char *dir = g_build_filename (parent, name, NULL);
      if (!g_file_test (dir, G_FILE_TEST_EXISTS))
        return dir;
      g_free (dir);
    }
}

static void
apply_preset (ClipTrainRunConfig *config, Preset preset)
{
  if (preset != PRESET_SMALL)
    return;   /* the library's defaults are ViT-B/32's; fine-tuning takes the model's */
  /* Small enough to train in minutes on a CPU: 32 px images in 8 × 8 patches of 4 pixels. */
  config->image_size = 32;
  config->patch_size = 4;
  config->vision_width = 128;
  config->vision_layers = 4;
  config->vision_heads = 2;
  config->text_width = 128;
  config->text_layers = 4;
  config->text_heads = 2;
  config->context_length = 32;
  config->embed_dim = 128;
}

/* The configuration the inputs describe, or FALSE with a message saying what is missing. */
static gboolean
read_config (ClTrainView *self, ClipTrainRunConfig *config, GError **error)
{
  GSettings *settings = cl_session_get_settings (self->session);
  g_autofree char *csv = settings_path (self, "train-csv");
  g_autofree char *val_csv = settings_path (self, "train-val-csv");
  g_autofree char *init = settings_path (self, "train-init-model");
  Preset preset = (Preset) g_settings_get_enum (settings, "train-model");
  const char *lr_text = gtk_editable_get_text (GTK_EDITABLE (self->lr_entry));
  char *end = NULL;
  double lr = g_ascii_strtod (lr_text, &end);

  if (csv == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("Choose the training data first."));
      return FALSE;
    }
  if (end == lr_text || *end != '\0' || !(lr > 0) || !isfinite (lr))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("“%s” is not a learning rate: type a positive number such as 1e-4."), lr_text);
      return FALSE;
    }
  if (preset == PRESET_FINE_TUNE && init == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("Choose the model to fine-tune."));
      return FALSE;
    }
  g_autofree char *out_dir = new_run_folder (self, error);
  if (out_dir == NULL)
    return FALSE;

  clip_train_run_config_init (config);
  /* Any format the library reads; each data set's images where its format puts them (a CSV's
   * folder, ../NAME for COCO, the JSON's folder for a Karpathy split). */
  config->csv_path = g_strdup (csv);
  config->val_csv_path = g_strdup (val_csv);
  config->out_dir = g_steal_pointer (&out_dir);
  config->log_json_path = g_build_filename (config->out_dir, "log.jsonl", NULL);
  config->epochs = g_settings_get_int (settings, "train-epochs");
  config->batch_size = g_settings_get_int (settings, "train-batch-size");
  /* As the command line does: the default batch fits a small data set; one the user chose is used as
   * chosen (or refused with the largest that would do). */
  g_autoptr (GVariant) chosen_batch = g_settings_get_user_value (settings, "train-batch-size");
  config->fit_batch_size = chosen_batch == NULL;
  config->lr = lr;
  config->warmup_steps = g_settings_get_int (settings, "train-warmup-steps");
  config->weight_decay = g_settings_get_double (settings, "train-weight-decay");
  config->grad_clip = g_settings_get_double (settings, "train-grad-clip");
  config->max_steps = g_settings_get_int (settings, "train-max-steps");
  config->seed = (uint64_t) g_settings_get_int (settings, "train-seed");
  config->augment = g_settings_get_boolean (settings, "train-augment");
  config->save_every = g_settings_get_int (settings, "train-save-every");
  if (preset == PRESET_FINE_TUNE)
    config->init_model = g_steal_pointer (&init);
  apply_preset (config, preset);
  return TRUE;
}

static void
start_run (ClTrainView *self)
{
  g_autoptr (GError) error = NULL;
  ClipTrainRunConfig config;

  if (self->request_pending || self->state == STATE_PAUSED)
    return;
  if (!read_config (self, &config, &error))
    {
      set_message (self, error->message);
      gtk_stack_set_visible_child_name (self->chart_stack, self->job != NULL ? "chart" : "empty");
      cl_session_show_toast (self->session, error->message);
      return;
    }
  self->generation++;
  ClTrainJob *job = cl_train_job_new (cl_session_get_worker (self->session), &config, NULL, &job_callbacks,
                                      job_ref_new (self), job_ref_free);
  clip_train_run_config_clear (&config);
  begin (self, job);
}

static void
continue_run (ClTrainView *self, const char *dir)
{
  if (self->request_pending || self->state == STATE_PAUSED)
    return;
  self->generation++;
  begin (self, cl_train_job_new (cl_session_get_worker (self->session), NULL, dir, &job_callbacks,
                                 job_ref_new (self), job_ref_free));
}

static void
pause_run (ClTrainView *self)
{
  if (self->job == NULL || (self->state != STATE_RUNNING && self->state != STATE_PREPARING))
    return;
  cl_train_job_request_pause (self->job);
  set_state (self, STATE_PAUSING);
}

static void
resume_run (ClTrainView *self)
{
  if (self->job == NULL || self->state != STATE_PAUSED || self->request_pending)
    return;
  set_message (self, _("Training…"));
  set_state (self, STATE_RUNNING);
  run_job (self);
}

static void
stop_run (ClTrainView *self)
{
  if (self->job == NULL)
    return;
  cl_train_job_request_stop (self->job);
  if (self->state == STATE_PAUSED && !self->request_pending)
    run_job (self);   /* closes the paused run */
  set_state (self, STATE_STOPPING);
}

/* ---------------------------------------------------------------- following another process's run */

/* Its newest checkpoint (or final model) is what "Use This Model" loads. */
static void
follow_update_model (ClTrainView *self)
{
  g_autofree char *model = cl_train_follow_find_model (self->follow);
  if (g_strcmp0 (model, self->model_path) != 0)
    {
      set_string (self, &self->model_path, model, PROP_MODEL_PATH);
      update_controls (self);
    }
}

static void
on_follow_reset (gpointer user_data)
{
  ClTrainView *self = user_data;
  cl_loss_chart_clear (self->chart);
  self->best_smoothed = INFINITY;
}

static void
on_follow_steps (const ClTrainPoint *points, guint n, gpointer user_data)
{
  ClTrainView *self = user_data;
  show_points (self, points, n);
  follow_update_model (self);
}

static void
on_follow_validation (const ClTrainEval *evals, guint n, gpointer user_data)
{
  show_evals (user_data, evals, n);
}

/* Follows the run whose folder or log is PATH, written by another process. */
static void
follow_run (ClTrainView *self, const char *path)
{
  static const ClTrainFollowCallbacks callbacks = { on_follow_reset, on_follow_steps, on_follow_validation };
  g_autoptr (GError) error = NULL;

  if (is_running (self) || self->request_pending)
    return;
  g_autoptr (ClTrainFollow) follow = cl_train_follow_new (path, &callbacks, self, &error);
  if (follow == NULL)
    {
      set_message (self, error->message);
      cl_session_show_toast (self->session, error->message);
      return;
    }
  self->generation++;   /* reports of the previous job are not this run's */
  g_clear_pointer (&self->job, cl_train_job_unref);
  clear_run (self);
  take_over_chart (self);   /* another run from now on */
  self->follow = g_steal_pointer (&follow);
  set_string (self, &self->out_dir, cl_train_follow_get_run_dir (self->follow), PROP_OUT_DIR);
  follow_update_model (self);
  g_autofree char *display = g_filename_display_name (cl_train_follow_get_log_path (self->follow));
  g_autofree char *message = g_strdup_printf (_("Following %s: the steps another process writes there are drawn "
                                                "as they come."), display);
  set_message (self, message);
  gtk_progress_bar_set_text (self->progress_bar, _("Following…"));
  gtk_stack_set_visible_child_name (self->chart_stack, "chart");
  set_state (self, STATE_FOLLOWING);
}

static void
use_model_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClTrainView) self = g_weak_ref_get (user_data);
  g_autoptr (GError) error = NULL;
  gboolean ok = cl_session_load_model_finish (CL_SESSION (source), result, &error);

  cl_weak_ref_free (user_data);
  if (self != NULL && ok)
    cl_session_show_toast (self->session, _("Now using the trained model"));
}

static void
use_model (ClTrainView *self)
{
  if (self->model_path == NULL)
    return;
  GWeakRef *ref = cl_weak_ref_new (self);
  cl_session_load_model (self->session, self->model_path, NULL, NULL, TRUE, use_model_done, ref);
}

/* ---------------------------------------------------------------- controls */

static void
update_controls (ClTrainView *self)
{
  TrainState s = self->state;
  gboolean active = is_running (self);
  const char *title;

  switch (s)
    {
    case STATE_PREPARING: title = _("Preparing"); break;
    case STATE_RUNNING: title = _("Training"); break;
    case STATE_PAUSING: title = _("Pausing…"); break;
    case STATE_PAUSED: title = _("Paused"); break;
    case STATE_STOPPING: title = _("Stopping…"); break;
    case STATE_FINISHED: title = _("Finished"); break;
    case STATE_STOPPED: title = _("Stopped"); break;
    case STATE_FAILED: title = _("Failed"); break;
    case STATE_FOLLOWING: title = _("Following a Run"); break;
    case STATE_IDLE:
    default: title = _("Ready to Train"); break;
    }
  gtk_label_set_label (self->status_title, title);

  gboolean usable = self->model_path != NULL
                    && (s == STATE_FINISHED || s == STATE_STOPPED || s == STATE_PAUSED || s == STATE_FOLLOWING);
  GtkWidget *widget = GTK_WIDGET (self);
  gtk_widget_action_set_enabled (widget, "train.start", !active && self->inputs_ready);
  gtk_widget_action_set_enabled (widget, "train.pause", s == STATE_PREPARING || s == STATE_RUNNING);
  gtk_widget_action_set_enabled (widget, "train.resume", s == STATE_PAUSED && !self->request_pending);
  gtk_widget_action_set_enabled (widget, "train.stop", active && s != STATE_STOPPING && s != STATE_PAUSING);
  gtk_widget_action_set_enabled (widget, "train.choose-run", !active);
  gtk_widget_action_set_enabled (widget, "train.continue-run", !active);
  gtk_widget_action_set_enabled (widget, "train.choose-follow", !active);
  gtk_widget_action_set_enabled (widget, "train.follow", !active);
  gtk_widget_action_set_enabled (widget, "train.use-model", usable);
  /* Which buttons are there; whether they can be pressed is their action's. */
  gtk_widget_set_visible (GTK_WIDGET (self->start_button), !active);
  gtk_widget_set_visible (GTK_WIDGET (self->pause_button), s == STATE_PREPARING || s == STATE_RUNNING || s == STATE_PAUSING);
  gtk_widget_set_visible (GTK_WIDGET (self->resume_button), s == STATE_PAUSED);
  gtk_widget_set_visible (GTK_WIDGET (self->stop_button), active);
  gtk_widget_set_visible (GTK_WIDGET (self->use_button), usable);
  /* One suggested action at a time: once a run has finished, using its model rather than starting
   * another. */
  GtkWidget *suggested = s == STATE_FINISHED ? GTK_WIDGET (self->use_button) : GTK_WIDGET (self->start_button);
  GtkWidget *other = s == STATE_FINISHED ? GTK_WIDGET (self->start_button) : GTK_WIDGET (self->use_button);
  gtk_widget_add_css_class (suggested, "suggested-action");
  gtk_widget_remove_css_class (other, "suggested-action");
  /* A failed run says why in the status; its bar would only repeat the last progress. */
  gtk_widget_set_visible (GTK_WIDGET (self->progress_bar), s != STATE_IDLE && s != STATE_FAILED);
}

static void
show_path_label (GtkLabel *label, const char *path, const char *none)
{
  if (path == NULL)
    {
      gtk_label_set_label (label, none);
      gtk_widget_set_tooltip_text (GTK_WIDGET (label), NULL);
      return;
    }
  g_autofree char *base = g_filename_display_basename (path);
  g_autofree char *full = g_filename_display_name (path);
  gtk_label_set_label (label, base);
  gtk_widget_set_tooltip_text (GTK_WIDGET (label), full);
}

static void
update_inputs (ClTrainView *self)
{
  GSettings *settings = cl_session_get_settings (self->session);
  g_autofree char *csv = settings_path (self, "train-csv");
  g_autofree char *val_csv = settings_path (self, "train-val-csv");
  g_autofree char *init = settings_path (self, "train-init-model");
  g_autofree char *runs = runs_folder (self);
  g_autofree char *runs_display = g_filename_display_name (runs);
  Preset preset = (Preset) g_settings_get_enum (settings, "train-model");

  show_path_label (self->train_csv_label, csv, _("Choose…"));
  show_path_label (self->val_csv_label, val_csv, _("None"));
  show_path_label (self->init_label, init, _("Choose…"));
  gtk_widget_set_sensitive (GTK_WIDGET (self->val_clear_button), val_csv != NULL);
  gtk_widget_set_visible (self->init_box, preset == PRESET_FINE_TUNE);
  gtk_label_set_label (self->runs_folder_label, runs_display);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->runs_folder_label), runs_display);

  ClipTrainRunConfig config;
  clip_train_run_config_init (&config);
  apply_preset (&config, preset);
  g_autofree char *summary = NULL;
  if (preset == PRESET_FINE_TUNE)
    summary = g_strdup (_("Continues from the chosen model, with its architecture and tokenizer."));
  else
    /* Translators: a model architecture: widths × layers, sizes in pixels and tokens */
    summary = g_strdup_printf (_("Images %d px in %d px patches, vision %d × %d layers; text %d × %d layers, "
                                 "%d tokens; embeddings of %d; %s tokenizer."),
                               config.image_size, config.patch_size, config.vision_width, config.vision_layers,
                               config.text_width, config.text_layers, config.context_length, config.embed_dim,
                               _("byte"));
  gtk_label_set_label (self->model_summary, summary);

  self->inputs_ready = csv != NULL && (preset != PRESET_FINE_TUNE || init != NULL);
  update_controls (self);
}

static void
on_settings_changed (ClTrainView *self, const char *key)
{
  if (key == NULL || g_str_has_prefix (key, "train-"))
    update_inputs (self);
}

/* ---------------------------------------------------------------- file choosers */

/* Where a chooser for the setting CURRENT_KEY (may be NULL) starts: the folder of its path. */
static GFile *
chooser_start (ClTrainView *self, const char *current_key, GtkFileChooserAction action)
{
  g_autofree char *current = current_key != NULL ? settings_path (self, current_key) : NULL;
  g_autoptr (GFile) file = current != NULL ? g_file_new_for_path (current) : NULL;
  return file == NULL ? NULL
         : action == GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER ? g_object_ref (file) : g_file_get_parent (file);
}

/* A file chooser starting where the path in the setting CURRENT_KEY (may be NULL) is. */
static void
choose_file (ClTrainView *self, const char *title, GtkFileChooserAction action, const char *accept,
             const char *current_key, const char *filter_name, const char *suffix, ClFileChosenFunc chosen,
             gpointer data)
{
  g_autoptr (GFile) folder = chooser_start (self, current_key, action);
  ClFileChooserOptions options = {
    .title = title, .action = action, .accept_label = accept, .filter_name = filter_name, .filter_suffix = suffix,
    .folder = folder,
  };

  cl_file_chooser_show (GTK_WIDGET (self), &options, chosen, data);
}

static void
set_path_setting (gpointer owner, GFile *file, gpointer key)
{
  ClTrainView *self = owner;
  g_autofree char *path = g_file_get_path (file);
  if (path != NULL)
    g_settings_set_string (cl_session_get_settings (self->session), key, path);
}

/* The data set chooser for SHAPE into the setting KEY, starting where its current data set is. */
static void
choose_dataset (ClTrainView *self, ClDatasetShape shape, const char *title, const char *key)
{
  g_autoptr (GFile) start = chooser_start (self, key, GTK_FILE_CHOOSER_ACTION_OPEN);
  ClFileChooserOptions options = cl_file_chooser_dataset_options (shape, title, start);
  cl_file_chooser_show (GTK_WIDGET (self), &options, set_path_setting, (gpointer) key);
}

/* "train.choose-training-data" and "train.choose-validation-data", with the shape as target. */
static void
action_choose_data (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  ClDatasetShape shape;
  if (!cl_dataset_shape_from_string (g_variant_get_string (parameter, NULL), &shape))
    return;
  gboolean training = g_str_equal (action_name, "train.choose-training-data");
  choose_dataset (CL_TRAIN_VIEW (widget), shape, training ? _("Choose Training Data") : _("Choose Validation Data"),
                  training ? "train-csv" : "train-val-csv");
}

static void
on_clear_val_csv (ClTrainView *self)
{
  g_settings_set_string (cl_session_get_settings (self->session), "train-val-csv", "");
}

static void
on_choose_init (ClTrainView *self)
{
  choose_file (self, _("Choose a Model to Fine-Tune"), GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), "train-init-model",
               _("Models (.safetensors)"), "safetensors", set_path_setting, "train-init-model");
}

static void
on_choose_runs_folder (ClTrainView *self)
{
  choose_file (self, _("Choose Where Runs Are Saved"), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Select"),
               "train-runs-folder", NULL, NULL, set_path_setting, "train-runs-folder");
}

static void
continue_chosen (gpointer owner, GFile *file, gpointer data)
{
  g_autofree char *path = g_file_get_path (file);
  if (path != NULL)
    gtk_widget_activate_action (GTK_WIDGET (owner), "train.continue-run", "s", path);
}

/* "Continue a Run…": asks for the folder of the run. */
static void
choose_run_to_continue (ClTrainView *self)
{
  choose_file (self, _("Continue a Run"), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Continue"),
               "train-runs-folder", NULL, NULL, continue_chosen, NULL);
}

static void
follow_chosen (gpointer owner, GFile *file, gpointer data)
{
  g_autofree char *path = g_file_get_path (file);
  if (path != NULL)
    gtk_widget_activate_action (GTK_WIDGET (owner), "train.follow", "s", path);
}

/* "Follow a Run…": asks for the folder of a run that another process writes. */
static void
choose_run_to_follow (ClTrainView *self)
{
  choose_file (self, _("Follow a Run"), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Follow"),
               "train-runs-folder", NULL, NULL, follow_chosen, NULL);
}

static void
save_chart_chosen (gpointer owner, GFile *file, gpointer data)
{
  ClTrainView *self = owner;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_file_get_path (file);
  g_autofree char *with_suffix = path != NULL && !g_str_has_suffix (path, data) ? g_strconcat (path, data, NULL)
                                                                                : g_strdup (path);

  if (with_suffix == NULL)
    return;
  if (!cl_loss_chart_save (self->chart, with_suffix, EXPORT_WIDTH, EXPORT_HEIGHT, 2, &error))
    {
      cl_session_report_error (self->session, _("Could not save the chart"), error->message, NULL, NULL);
      return;
    }
  g_autofree char *display = g_filename_display_name (with_suffix);
  g_autofree char *message = g_strdup_printf (_("Chart saved to %s"), display);
  cl_session_show_toast (self->session, message);
}

static void
save_chart (ClTrainView *self, gboolean svg)
{
  choose_file (self, svg ? _("Save Chart as SVG") : _("Save Chart as PNG"), GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"),
               NULL, svg ? _("SVG images") : _("PNG images"), svg ? "svg" : "png", save_chart_chosen,
               svg ? ".svg" : ".png");
}

/* ---------------------------------------------------------------- actions */

static void
action_save_chart (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  save_chart (CL_TRAIN_VIEW (widget), g_str_equal (g_variant_get_string (parameter, NULL), "svg"));
}

/* The buttons' commands without a parameter, by action name. */
static const struct {
  const char *name;
  void (*run) (ClTrainView *self);
} commands[] = {
  { "train.start", start_run },
  { "train.pause", pause_run },
  { "train.resume", resume_run },
  { "train.stop", stop_run },
  { "train.choose-run", choose_run_to_continue },
  { "train.choose-follow", choose_run_to_follow },
  { "train.use-model", use_model },
};

static void
action_command (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, action_name))
      commands[i].run (CL_TRAIN_VIEW (widget));
}

/* Follows the run whose folder or log is the parameter. */
static void
action_follow (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  follow_run (CL_TRAIN_VIEW (widget), g_variant_get_string (parameter, NULL));
}

/* Continues the run whose output folder is the parameter. */
static void
action_continue_run (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  continue_run (CL_TRAIN_VIEW (widget), g_variant_get_string (parameter, NULL));
}

static void
install_actions (GtkWidgetClass *widget_class)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    gtk_widget_class_install_action (widget_class, commands[i].name, NULL, action_command);
  gtk_widget_class_install_action (widget_class, "train.continue-run", "s", action_continue_run);
  gtk_widget_class_install_action (widget_class, "train.follow", "s", action_follow);
  gtk_widget_class_install_action (widget_class, "train.choose-training-data", "s", action_choose_data);
  gtk_widget_class_install_action (widget_class, "train.choose-validation-data", "s", action_choose_data);
  gtk_widget_class_install_action (widget_class, "train.save-chart", "s", action_save_chart);
}

/* ---------------------------------------------------------------- settings bindings */

static gboolean
preset_get_mapping (GValue *value, GVariant *variant, gpointer user_data)
{
  const char *nick = g_variant_get_string (variant, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (preset_nicks); i++)
    if (g_str_equal (nick, preset_nicks[i]))
      {
        g_value_set_uint (value, i);
        return TRUE;
      }
  return FALSE;
}

static GVariant *
preset_set_mapping (const GValue *value, const GVariantType *type, gpointer user_data)
{
  guint index = g_value_get_uint (value);
  return index < G_N_ELEMENTS (preset_nicks) ? g_variant_new_string (preset_nicks[index]) : NULL;
}

static void
on_lr_changed (ClTrainView *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->lr_entry));
  char *end = NULL;
  double lr = g_ascii_strtod (text, &end);
  gboolean valid = end != text && *end == '\0' && lr > 0 && isfinite (lr);

  if (valid)
    g_settings_set_double (cl_session_get_settings (self->session), "train-learning-rate", lr);
  if (valid)
    gtk_widget_remove_css_class (GTK_WIDGET (self->lr_entry), "error");
  else
    gtk_widget_add_css_class (GTK_WIDGET (self->lr_entry), "error");
}

/* Spin buttons showing a word for their special value: "auto" warm-up, "all" steps, "off". */
static gboolean
on_spin_output (GtkSpinButton *spin, gpointer user_data)
{
  double value = gtk_spin_button_get_value (spin);
  double special = gtk_adjustment_get_lower (gtk_spin_button_get_adjustment (spin));
  if (value != special)
    return FALSE;
  gtk_editable_set_text (GTK_EDITABLE (spin), _(user_data));
  return TRUE;
}

static int
on_spin_input (GtkSpinButton *spin, double *new_value, gpointer user_data)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (spin));
  if (g_strcmp0 (text, _(user_data)) != 0)
    return FALSE;
  *new_value = gtk_adjustment_get_lower (gtk_spin_button_get_adjustment (spin));
  return TRUE;
}

/* A learning rate as people write it: "1e-4", "3e-5", "0.01". */
static char *
format_rate (double rate)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (rate >= 1e-3)
    return g_strdup (g_ascii_formatd (buf, sizeof buf, "%g", rate));
  g_ascii_formatd (buf, sizeof buf, "%.3e", rate);
  /* "1.000e-04" → mantissa "1", exponent "-4". */
  char *e = strchr (buf, 'e');
  *e = '\0';
  char *mantissa = buf, *end = e - 1;
  while (end > mantissa && *end == '0')
    *end-- = '\0';
  if (*end == '.')
    *end = '\0';
  int exponent = atoi (e + 1);
  return g_strdup_printf ("%se%d", mantissa, exponent);
}

static void
bind_settings (ClTrainView *self)
{
  GSettings *s = cl_session_get_settings (self->session);
  const struct { const char *key; gpointer widget; const char *property; } bindings[] = {
    { "train-epochs", self->epochs_spin, "value" },
    { "train-batch-size", self->batch_spin, "value" },
    { "train-warmup-steps", self->warmup_spin, "value" },
    { "train-weight-decay", self->decay_spin, "value" },
    { "train-grad-clip", self->clip_spin, "value" },
    { "train-max-steps", self->max_steps_spin, "value" },
    { "train-seed", self->seed_spin, "value" },
    { "train-augment", self->augment_switch, "active" },
    { "train-save-every", self->save_every_spin, "value" },
    { "train-smoothing", gtk_range_get_adjustment (GTK_RANGE (self->smoothing_scale)), "value" },
    { "train-log-scale", self->log_toggle, "active" },
    { "train-show-learning-rate", self->lr_toggle, "active" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bindings); i++)
    g_settings_bind (s, bindings[i].key, bindings[i].widget, bindings[i].property, G_SETTINGS_BIND_DEFAULT);
  g_settings_bind_with_mapping (s, "train-model", self->model_dropdown, "selected", G_SETTINGS_BIND_DEFAULT,
                                preset_get_mapping, preset_set_mapping, NULL, NULL);
  g_object_bind_property (gtk_range_get_adjustment (GTK_RANGE (self->smoothing_scale)), "value", self->chart,
                          "smoothing", G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->log_toggle, "active", self->chart, "log-scale", G_BINDING_SYNC_CREATE);
  g_signal_connect_swapped (self->chart, "notify::smoothing", G_CALLBACK (on_smoothing_changed), self);
  g_object_bind_property (self->lr_toggle, "active", self->chart, "show-learning-rate", G_BINDING_SYNC_CREATE);

  g_autofree char *lr = format_rate (g_settings_get_double (s, "train-learning-rate"));
  gtk_editable_set_text (GTK_EDITABLE (self->lr_entry), lr);
  g_signal_connect_swapped (self->lr_entry, "changed", G_CALLBACK (on_lr_changed), self);

  g_signal_connect (self->warmup_spin, "output", G_CALLBACK (on_spin_output), (gpointer) N_("auto"));
  g_signal_connect (self->warmup_spin, "input", G_CALLBACK (on_spin_input), (gpointer) N_("auto"));
  g_signal_connect (self->max_steps_spin, "output", G_CALLBACK (on_spin_output), (gpointer) N_("all"));
  g_signal_connect (self->max_steps_spin, "input", G_CALLBACK (on_spin_input), (gpointer) N_("all"));
  g_signal_connect (self->clip_spin, "output", G_CALLBACK (on_spin_output), (gpointer) N_("off"));
  g_signal_connect (self->clip_spin, "input", G_CALLBACK (on_spin_input), (gpointer) N_("off"));
  g_signal_connect (self->save_every_spin, "output", G_CALLBACK (on_spin_output), (gpointer) N_("at the end"));
  g_signal_connect (self->save_every_spin, "input", G_CALLBACK (on_spin_input), (gpointer) N_("at the end"));
  gtk_spin_button_update (self->warmup_spin);
  gtk_spin_button_update (self->max_steps_spin);
  gtk_spin_button_update (self->clip_spin);
  gtk_spin_button_update (self->save_every_spin);
  g_signal_connect_swapped (s, "changed", G_CALLBACK (on_settings_changed), self);
}

/* ---------------------------------------------------------------- properties */

static void
cl_train_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClTrainView *self = CL_TRAIN_VIEW (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_string (value, state_names[self->state]);
      break;
    case PROP_RUNNING:
      g_value_set_boolean (value, is_running (self));
      break;
    case PROP_BUSY:
      g_value_set_boolean (value, self->request_pending);
      break;
    case PROP_MESSAGE:
      g_value_set_string (value, self->message);
      break;
    case PROP_OUT_DIR:
      g_value_set_string (value, self->out_dir);
      break;
    case PROP_MODEL_PATH:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_PROGRESS:
      g_value_set_double (value, self->progress);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
install_properties (GObjectClass *object_class)
{
  const GParamFlags read_only = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = cl_train_view_get_property;
  properties[PROP_STATE] = g_param_spec_string ("state", NULL, NULL, "idle", read_only);
  properties[PROP_RUNNING] = g_param_spec_boolean ("running", NULL, NULL, FALSE, read_only);
  properties[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE, read_only);
  properties[PROP_MESSAGE] = g_param_spec_string ("message", NULL, NULL, NULL, read_only);
  properties[PROP_OUT_DIR] = g_param_spec_string ("out-dir", NULL, NULL, NULL, read_only);
  properties[PROP_MODEL_PATH] = g_param_spec_string ("model-path", NULL, NULL, NULL, read_only);
  properties[PROP_PROGRESS] = g_param_spec_double ("progress", NULL, NULL, 0, 1, 0, read_only);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

/* ---------------------------------------------------------------- GObject */

static void
cl_train_view_dispose (GObject *object)
{
  ClTrainView *self = CL_TRAIN_VIEW (object);

  /* A running run stops at its next step and saves a checkpoint. */
  cl_cancel_and_clear (&self->cancellable);
  g_clear_pointer (&self->job, cl_train_job_unref);
  g_clear_pointer (&self->follow, cl_train_follow_free);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (cl_session_get_settings (self->session), self);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (object), CL_TYPE_TRAIN_VIEW);
  /* The template's top widget has no id, so disposing the template leaves it in place. */
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (object))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (cl_train_view_parent_class)->dispose (object);
}

static void
cl_train_view_finalize (GObject *object)
{
  ClTrainView *self = CL_TRAIN_VIEW (object);

  g_free (self->out_dir);
  g_free (self->model_path);
  g_free (self->message);
  g_queue_clear_full (&self->notices, g_free);
  G_OBJECT_CLASS (cl_train_view_parent_class)->finalize (object);
}

static void
cl_train_view_class_init (ClTrainViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cl_train_view_dispose;
  object_class->finalize = cl_train_view_finalize;
  install_properties (object_class);
  install_actions (widget_class);

  g_type_ensure (CL_TYPE_STATUS_PAGE);
  g_type_ensure (CL_TYPE_LOSS_CHART);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-train-view.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, ClTrainView, name)
  BIND (train_csv_button);
  BIND (train_csv_label);
  BIND (val_csv_button);
  BIND (val_csv_label);
  BIND (val_clear_button);
  BIND (model_dropdown);
  BIND (init_box);
  BIND (init_label);
  BIND (model_summary);
  BIND (epochs_spin);
  BIND (batch_spin);
  BIND (lr_entry);
  BIND (warmup_spin);
  BIND (decay_spin);
  BIND (clip_spin);
  BIND (max_steps_spin);
  BIND (seed_spin);
  BIND (augment_switch);
  BIND (save_every_spin);
  BIND (runs_folder_label);
  BIND (start_button);
  BIND (pause_button);
  BIND (resume_button);
  BIND (stop_button);
  BIND (use_button);
  BIND (chart_stack);
  BIND (status_title);
  BIND (status_detail);
  BIND (progress_bar);
  BIND (stats_label);
  BIND (validation_label);
  BIND (notice_label);
  BIND (smoothing_scale);
  BIND (log_toggle);
  BIND (lr_toggle);
  BIND (chart);
#undef BIND
  gtk_widget_class_bind_template_callback (widget_class, on_clear_val_csv);
  gtk_widget_class_bind_template_callback (widget_class, on_choose_init);
  gtk_widget_class_bind_template_callback (widget_class, on_choose_runs_folder);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
cl_train_view_init (ClTrainView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  g_queue_init (&self->notices);
  self->best_smoothed = INFINITY;
}

GtkWidget *
cl_train_view_new (ClSession *session)
{
  ClTrainView *self = g_object_new (CL_TYPE_TRAIN_VIEW, NULL);

  self->session = g_object_ref (session);
  bind_settings (self);
  update_inputs (self);
  update_controls (self);
  return GTK_WIDGET (self);
}
