/* cl-train-follow.c — following a run's log as another process appends to it. */
#include "cl-train-follow.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#define LOG_FILE           "log.jsonl"        /* what the Train view's own runs write */
#define MODEL_FILE         "model.safetensors"
#define CHECKPOINT_PREFIX  "checkpoint-"
#define CHECKPOINT_SUFFIX  ".safetensors"
#define READ_CHUNK         (1 << 16)

struct _ClTrainFollow {
  ClTrainFollowCallbacks callbacks;
  gpointer user_data;
  char *log_path;
  char *run_dir;
  GFileMonitor *monitor;
  guint poll_source;
  guint first_read;         /* the idle that reads what the log holds already */
  goffset offset;           /* bytes of the log read so far */
  GString *partial;         /* the start of a line not yet complete */
  JsonParser *parser;
};

/* ---------------------------------------------------------------- one log line */

static double
member_double (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) ? json_node_get_double (node) : NAN;
}

static void
read_recalls (JsonObject *validation, const char *name, double recall[3])
{
  static const char *const keys[] = { "R@1", "R@5", "R@10" };
  JsonNode *node = json_object_get_member (validation, name);
  JsonObject *object = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  for (int k = 0; k < 3; k++)
    recall[k] = object != NULL ? member_double (object, keys[k]) : NAN;
}

ClTrainLogLine
cl_train_log_parse_line (JsonParser *parser, const char *line, gssize length, ClTrainPoint *point, ClTrainEval *eval)
{
  if (length == 0 || line[0] != '{' || !json_parser_load_from_data (parser, line, length, NULL))
    return CL_TRAIN_LOG_OTHER;
  JsonNode *root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return CL_TRAIN_LOG_OTHER;
  JsonObject *object = json_node_get_object (root);
  gint64 step = json_object_get_int_member_with_default (object, "step", 0);
  gint64 epoch = json_object_get_int_member_with_default (object, "epoch", 0);
  JsonNode *validation = json_object_get_member (object, "validation");
  if (validation != NULL && JSON_NODE_HOLDS_OBJECT (validation))
    {
      JsonObject *v = json_node_get_object (validation);
      *eval = (ClTrainEval) { .step = step, .epoch = epoch };
      read_recalls (v, "image_to_text", eval->image_to_text);
      read_recalls (v, "text_to_image", eval->text_to_image);
      JsonNode *zero_shot = json_object_get_member (v, "zero_shot");
      if (zero_shot != NULL && JSON_NODE_HOLDS_OBJECT (zero_shot))
        {
          eval->has_zero_shot = TRUE;
          eval->zero_shot_top1 = member_double (json_node_get_object (zero_shot), "top1");
          eval->zero_shot_top5 = member_double (json_node_get_object (zero_shot), "top5");
        }
      return CL_TRAIN_LOG_VALIDATION;
    }
  if (!json_object_has_member (object, "loss"))
    return CL_TRAIN_LOG_OTHER;
  *point = (ClTrainPoint) {
    .step = step, .epoch = epoch, .loss = member_double (object, "loss"), .lr = member_double (object, "lr"),
    .grad_norm = member_double (object, "grad_norm"), .logit_scale = member_double (object, "logit_scale"),
    .images_per_s = member_double (object, "images_per_s"), .eta_s = NAN, .time_s = NAN,
  };
  return CL_TRAIN_LOG_STEP;
}

/* ---------------------------------------------------------------- reading what was appended */

/* Reports the complete lines of TEXT (LENGTH bytes after the kept partial line). */
static void
report_lines (ClTrainFollow *self, const char *text, gsize length)
{
  g_string_append_len (self->partial, text, length);
  g_autoptr (GArray) points = g_array_new (FALSE, FALSE, sizeof (ClTrainPoint));
  g_autoptr (GArray) evals = g_array_new (FALSE, FALSE, sizeof (ClTrainEval));
  char *line = self->partial->str, *end = line + self->partial->len, *newline;
  while ((newline = memchr (line, '\n', end - line)) != NULL)
    {
      ClTrainPoint point;
      ClTrainEval eval;
      switch (cl_train_log_parse_line (self->parser, line, newline - line, &point, &eval))
        {
        case CL_TRAIN_LOG_STEP:
          g_array_append_val (points, point);
          break;
        case CL_TRAIN_LOG_VALIDATION:
          g_array_append_val (evals, eval);
          break;
        case CL_TRAIN_LOG_OTHER:
          break;
        }
      line = newline + 1;
    }
  g_string_erase (self->partial, 0, line - self->partial->str);
  if (points->len > 0 && self->callbacks.steps != NULL)
    self->callbacks.steps ((const ClTrainPoint *) points->data, points->len, self->user_data);
  if (evals->len > 0 && self->callbacks.validation != NULL)
    self->callbacks.validation ((const ClTrainEval *) evals->data, evals->len, self->user_data);
}

/* Reads what was appended since the last call; a log shorter than what was read was cut back. */
static void
read_appended (ClTrainFollow *self)
{
  int fd = g_open (self->log_path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    return;   /* not written yet, or being replaced: the next poll tries again */
  struct stat st;
  if (fstat (fd, &st) == 0 && st.st_size < self->offset)
    {
      self->offset = 0;
      g_string_truncate (self->partial, 0);
      if (self->callbacks.reset != NULL)
        self->callbacks.reset (self->user_data);
    }
  g_autofree char *buffer = g_malloc (READ_CHUNK);
  ssize_t n;
  while ((n = pread (fd, buffer, READ_CHUNK, self->offset)) > 0)
    {
      self->offset += n;
      report_lines (self, buffer, (gsize) n);
    }
  close (fd);
}

static void
on_log_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event, gpointer user_data)
{
  if (event == G_FILE_MONITOR_EVENT_CHANGED || event == G_FILE_MONITOR_EVENT_CREATED)
    read_appended (user_data);
}

static gboolean
on_poll (gpointer user_data)
{
  read_appended (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
read_first (gpointer user_data)
{
  ClTrainFollow *self = user_data;
  self->first_read = 0;
  read_appended (self);
  return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------- the run */

/* The log of the run folder DIR: log.jsonl, the --log-json file its checkpoints name, or its one
 * *.jsonl file. */
static char *
find_log (const char *dir, GError **error)
{
  g_autofree char *own = g_build_filename (dir, LOG_FILE, NULL);
  if (g_file_test (own, G_FILE_TEST_IS_REGULAR))
    return g_steal_pointer (&own);
  ClipTrainRunConfig config;
  if (clip_train_run_read_config (dir, &config, NULL))
    {
      g_autofree char *named = g_strdup (config.log_json_path);
      clip_train_run_config_clear (&config);
      if (named != NULL && g_file_test (named, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&named);
    }
  g_autoptr (GDir) listing = g_dir_open (dir, 0, error);
  if (listing == NULL)
    return NULL;
  char *found = NULL;
  int n_found = 0;
  for (const char *name; (name = g_dir_read_name (listing)) != NULL;)
    if (g_str_has_suffix (name, ".jsonl"))
      {
        n_found++;
        g_free (found);
        found = g_build_filename (dir, name, NULL);
      }
  if (n_found == 1)
    return found;
  g_free (found);
  g_autofree char *display = g_filename_display_name (dir);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
               n_found == 0 ? _("%s holds no training log (*.jsonl): open the file given to --log-json instead")
                            : _("%s holds several logs (*.jsonl): open the one to follow"),
               display);
  return NULL;
}

ClTrainFollow *
cl_train_follow_new (const char *path, const ClTrainFollowCallbacks *callbacks, gpointer user_data, GError **error)
{
  g_autofree char *absolute = g_canonicalize_filename (path, NULL);
  gboolean is_dir = g_file_test (absolute, G_FILE_TEST_IS_DIR);
  g_autofree char *log_path = is_dir ? find_log (absolute, error) : g_strdup (absolute);
  if (log_path == NULL)
    return NULL;
  if (!is_dir && !g_file_test (log_path, G_FILE_TEST_IS_REGULAR))
    {
      g_autofree char *display = g_filename_display_name (log_path);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("%s is neither a run folder nor a training log"),
                   display);
      return NULL;
    }
  ClTrainFollow *self = g_new0 (ClTrainFollow, 1);
  if (callbacks != NULL)
    self->callbacks = *callbacks;
  self->user_data = user_data;
  self->run_dir = is_dir ? g_steal_pointer (&absolute) : g_path_get_dirname (log_path);
  self->log_path = g_steal_pointer (&log_path);
  self->partial = g_string_new (NULL);
  self->parser = json_parser_new ();
  g_autoptr (GFile) file = g_file_new_for_path (self->log_path);
  self->monitor = g_file_monitor_file (file, G_FILE_MONITOR_NONE, NULL, NULL);
  if (self->monitor != NULL)
    g_signal_connect (self->monitor, "changed", G_CALLBACK (on_log_changed), self);
  self->poll_source = g_timeout_add (CL_TRAIN_FOLLOW_POLL_MS, on_poll, self);
  self->first_read = g_idle_add (read_first, self);
  return self;
}

void
cl_train_follow_free (ClTrainFollow *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->first_read, g_source_remove);
  g_clear_handle_id (&self->poll_source, g_source_remove);
  if (self->monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->monitor, self);
      g_file_monitor_cancel (self->monitor);
      g_object_unref (self->monitor);
    }
  g_string_free (self->partial, TRUE);
  g_object_unref (self->parser);
  g_free (self->log_path);
  g_free (self->run_dir);
  g_free (self);
}

const char *
cl_train_follow_get_log_path (ClTrainFollow *self)
{
  return self->log_path;
}

const char *
cl_train_follow_get_run_dir (ClTrainFollow *self)
{
  return self->run_dir;
}

char *
cl_train_follow_find_model (ClTrainFollow *self)
{
  g_autofree char *model = g_build_filename (self->run_dir, MODEL_FILE, NULL);
  if (g_file_test (model, G_FILE_TEST_IS_REGULAR))
    return g_steal_pointer (&model);
  g_autoptr (GDir) listing = g_dir_open (self->run_dir, 0, NULL);
  if (listing == NULL)
    return NULL;
  gint64 newest = -1;
  for (const char *name; (name = g_dir_read_name (listing)) != NULL;)
    {
      if (!g_str_has_prefix (name, CHECKPOINT_PREFIX) || !g_str_has_suffix (name, CHECKPOINT_SUFFIX))
        continue;
      g_autofree char *digits = g_strndup (name + strlen (CHECKPOINT_PREFIX),
                                           strlen (name) - strlen (CHECKPOINT_PREFIX) - strlen (CHECKPOINT_SUFFIX));
      guint64 step;
      if (g_ascii_string_to_unsigned (digits, 10, 0, G_MAXINT64, &step, NULL) && (gint64) step > newest)
        newest = (gint64) step;
    }
  return newest >= 0 ? clip_train_run_checkpoint_path (self->run_dir, newest) : NULL;
}
