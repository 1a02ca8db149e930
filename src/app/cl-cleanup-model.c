/* cl-cleanup-model.c — duplicate groups and label issues for the Clean Up view, and the corrected CSV. */
#include "cl-cleanup-model.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "util-file.h"

#define AUDIT_NEIGHBORS  10
#define AUDIT_TEMPLATE   "a photo of a {}."
#define CSV_MAX_BYTES    ((size_t) 1 << 30)

/* ---------------------------------------------------------------- duplicate groups */

struct _ClDuplicateGroup {
  GObject parent_instance;
  GArray *members;           /* ClDuplicateMember */
  float max_distance;
  gboolean exact;
};

G_DEFINE_FINAL_TYPE (ClDuplicateGroup, cl_duplicate_group, G_TYPE_OBJECT)

static void
member_clear (gpointer data)
{
  g_free (((ClDuplicateMember *) data)->path);
}

static void
cl_duplicate_group_finalize (GObject *object)
{
  g_array_unref (CL_DUPLICATE_GROUP (object)->members);
  G_OBJECT_CLASS (cl_duplicate_group_parent_class)->finalize (object);
}

static void
cl_duplicate_group_class_init (ClDuplicateGroupClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = cl_duplicate_group_finalize;
}

static void
cl_duplicate_group_init (ClDuplicateGroup *self)
{
  self->members = g_array_new (FALSE, TRUE, sizeof (ClDuplicateMember));
  g_array_set_clear_func (self->members, member_clear);
}

guint
cl_duplicate_group_get_n_members (ClDuplicateGroup *self)
{
  return self->members->len;
}

const ClDuplicateMember *
cl_duplicate_group_get_member (ClDuplicateGroup *self, guint i)
{
  g_return_val_if_fail (i < self->members->len, NULL);
  return &g_array_index (self->members, ClDuplicateMember, i);
}

int
cl_duplicate_group_find (ClDuplicateGroup *self, const char *path)
{
  for (guint i = 0; i < self->members->len; i++)
    if (g_str_equal (g_array_index (self->members, ClDuplicateMember, i).path, path))
      return (int) i;
  return -1;
}

float
cl_duplicate_group_get_max_distance (ClDuplicateGroup *self)
{
  return self->max_distance;
}

gboolean
cl_duplicate_group_get_exact (ClDuplicateGroup *self)
{
  return self->exact;
}

/* A member with what the panel shows about its file, read here on the thread. */
static void
group_add_member (ClDuplicateGroup *group, const char *path)
{
  ClDuplicateMember member = { g_strdup (path), -1, 0, 0, 0 };
  GStatBuf st;
  if (g_stat (path, &st) == 0)
    {
      member.size = (gint64) st.st_size;
      member.mtime = (gint64) st.st_mtime;
      gdk_pixbuf_get_file_info (path, &member.width, &member.height);
    }
  g_array_append_val (group->members, member);
}

typedef struct {
  ClIndexSnapshot *snapshot;
  float threshold;
} DuplicatesJob;

static void
duplicates_job_free (DuplicatesJob *job)
{
  cl_index_snapshot_free (job->snapshot);
  g_free (job);
}

static void
duplicates_run (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  DuplicatesJob *job = data;
  const ClIndexSnapshot *s = job->snapshot;
  const ClipCallbacks callbacks = { NULL, (ClipAbortFunc) g_cancellable_is_cancelled, cancellable };
  GError *error = NULL;
  g_autoptr (ClipDuplicates) found = clip_duplicates_find (s->embeddings, (int) s->n, s->dim, s->hashes,
                                                           job->threshold, 0, &callbacks, &error);
  if (found == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  GListStore *groups = g_list_store_new (CL_TYPE_DUPLICATE_GROUP);
  for (int g = 0; g < clip_duplicates_get_n_groups (found) && !g_cancellable_is_cancelled (cancellable); g++)
    {
      int n_rows;
      g_autoptr (ClDuplicateGroup) group = g_object_new (CL_TYPE_DUPLICATE_GROUP, NULL);
      const int *rows = clip_duplicates_get_group (found, g, &n_rows, &group->max_distance, &group->exact);
      for (int r = 0; r < n_rows; r++)
        group_add_member (group, s->paths[rows[r]]);
      g_list_store_append (groups, group);
    }
  g_task_return_pointer (task, groups, g_object_unref);
}

void
cl_duplicates_find_async (ClIndexSnapshot *snapshot, float threshold, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  DuplicatesJob *job = g_new0 (DuplicatesJob, 1);

  job->snapshot = snapshot;
  job->threshold = threshold;
  g_task_set_source_tag (task, cl_duplicates_find_async);
  g_task_set_task_data (task, job, (GDestroyNotify) duplicates_job_free);
  g_task_run_in_thread (task, duplicates_run);
}

GListStore *
cl_duplicates_find_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---------------------------------------------------------------- label issues */

struct _ClLabelIssue {
  GObject parent_instance;
  guint item;
  char *path;
  char *label;
  char *suggested;
  double score;
};

G_DEFINE_FINAL_TYPE (ClLabelIssue, cl_label_issue, G_TYPE_OBJECT)

static void
cl_label_issue_finalize (GObject *object)
{
  ClLabelIssue *self = CL_LABEL_ISSUE (object);

  g_free (self->path);
  g_free (self->label);
  g_free (self->suggested);
  G_OBJECT_CLASS (cl_label_issue_parent_class)->finalize (object);
}

static void
cl_label_issue_class_init (ClLabelIssueClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = cl_label_issue_finalize;
}

static void
cl_label_issue_init (ClLabelIssue *self)
{
}

ClLabelIssue *
cl_label_issue_new (guint item, const char *path, const char *label, const char *suggested, double score)
{
  ClLabelIssue *self = g_object_new (CL_TYPE_LABEL_ISSUE, NULL);

  self->item = item;
  self->path = g_strdup (path);
  self->label = g_strdup (label);
  self->suggested = g_strdup (suggested);
  self->score = score;
  return self;
}

guint
cl_label_issue_get_item (ClLabelIssue *self)
{
  return self->item;
}

const char *
cl_label_issue_get_path (ClLabelIssue *self)
{
  return self->path;
}

const char *
cl_label_issue_get_label (ClLabelIssue *self)
{
  return self->label;
}

const char *
cl_label_issue_get_suggested (ClLabelIssue *self)
{
  return self->suggested;
}

double
cl_label_issue_get_score (ClLabelIssue *self)
{
  return self->score;
}

void
cl_audit_input_free (ClAuditInput *input)
{
  if (input == NULL)
    return;
  g_strfreev (input->paths);
  g_free (input->items);
  g_free (input->labels);
  g_strfreev (input->label_names);
  g_free (input);
}

typedef struct {
  ClIndexSnapshot *snapshot;
  ClAuditInput *input;
  guint n_outliers;
  GListStore *issues;        /* the result */
} AuditJob;

static void
audit_job_clear (AuditJob *job)
{
  cl_index_snapshot_free (job->snapshot);
  cl_audit_input_free (job->input);
  g_clear_object (&job->issues);
}

static void
audit_job_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, (GDestroyNotify) audit_job_clear);
}

/* The input images found in the snapshot (by resolved path): their rows in *FOUND, their
 * embeddings in the returned [n_found × dim] array. */
static float *
audit_gather (const AuditJob *job, GArray *found)
{
  const ClIndexSnapshot *s = job->snapshot;
  g_autoptr (GHashTable) row_of = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint r = 0; r < s->n; r++)
    g_hash_table_insert (row_of, s->paths[r], GUINT_TO_POINTER (r + 1));
  float *embeddings = g_new (float, (gsize) MAX (job->input->n, 1) * s->dim);
  for (guint i = 0; i < job->input->n; i++)
    {
      g_autofree char *resolved = realpath (job->input->paths[i], NULL);
      guint row = resolved != NULL ? GPOINTER_TO_UINT (g_hash_table_lookup (row_of, resolved)) : 0;
      if (row == 0)
        continue;
      memcpy (embeddings + (gsize) found->len * s->dim, s->embeddings + (gsize) (row - 1) * s->dim,
              sizeof (float) * s->dim);
      g_array_append_val (found, i);
    }
  return embeddings;
}

static gboolean
audit_slice (ClipModel *model, guint serial, gpointer data, GCancellable *cancellable, GError **error)
{
  AuditJob *job = data;
  const ClAuditInput *input = job->input;
  const int dim = job->snapshot->dim, n_labels = (int) g_strv_length (input->label_names);
  g_autoptr (GArray) found = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autofree float *embeddings = audit_gather (job, found);
  const int n = (int) found->len;
  if (model == NULL || n <= AUDIT_NEIGHBORS || n_labels < 2)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                   _("Finding label issues needs a model and more than %d indexed images with labels of at least two classes"),
                   AUDIT_NEIGHBORS);
      return TRUE;
    }
  g_autofree int *labels = g_new (int, n);
  for (int i = 0; i < n; i++)
    labels[i] = input->labels[g_array_index (found, guint, i)];
  const ClipCallbacks callbacks = { NULL, (ClipAbortFunc) g_cancellable_is_cancelled, cancellable };
  g_autofree float *weights = g_new (float, (gsize) n_labels * dim);
  g_auto (ClipNeighbors) neighbors = { 0 };
  if (!clip_zero_shot_classifier (model, (const char *const *) input->label_names, n_labels,
                                  (const char *const[]) { AUDIT_TEMPLATE }, 1, weights, &callbacks, error)
      || !clip_knn_compute (embeddings, n, dim, AUDIT_NEIGHBORS, CLIP_KNN_AUTO, 0, &callbacks, &neighbors, error))
    return TRUE;
  int n_issues;
  g_autofree ClipLabelIssue *issues = clip_audit_labels (embeddings, n, dim, labels, n_labels, weights,
                                                         expf (clip_model_get_logit_scale (model)), &neighbors,
                                                         &n_issues);
  g_autofree ClipOutlier *outliers = clip_audit_outliers (&neighbors);
  job->issues = g_list_store_new (CL_TYPE_LABEL_ISSUE);
  for (int i = 0; i < n_issues; i++)
    {
      guint at = g_array_index (found, guint, issues[i].row);
      g_autoptr (ClLabelIssue) issue = cl_label_issue_new (input->items[at], input->paths[at],
                                                           input->label_names[issues[i].label],
                                                           input->label_names[issues[i].suggested],
                                                           issues[i].confidence);
      g_list_store_append (job->issues, issue);
    }
  for (int i = 0; i < MIN ((int) job->n_outliers, n); i++)
    {
      guint at = g_array_index (found, guint, outliers[i].row);
      g_autoptr (ClLabelIssue) outlier = cl_label_issue_new (input->items[at], input->paths[at],
                                                             input->label_names[input->labels[at]], NULL,
                                                             outliers[i].score);
      g_list_store_append (job->issues, outlier);
    }
  return TRUE;
}

static void
audit_run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  if (!cl_model_worker_run_finish (CL_MODEL_WORKER (source), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  AuditJob *job = g_task_get_task_data (task);
  g_task_return_pointer (task, g_steal_pointer (&job->issues), g_object_unref);
}

void
cl_label_issues_find_async (ClModelWorker *worker, ClIndexSnapshot *snapshot, ClAuditInput *input,
                            guint n_outliers, GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  AuditJob *job = g_atomic_rc_box_new0 (AuditJob);

  g_task_set_source_tag (task, cl_label_issues_find_async);
  job->snapshot = snapshot;
  job->input = input;
  job->n_outliers = n_outliers;
  g_task_set_task_data (task, g_atomic_rc_box_acquire (job), audit_job_release);
  cl_model_worker_run_async (worker, CL_WORKER_PRIORITY_BACKGROUND, audit_slice, job, audit_job_release,
                             cancellable, audit_run_done, task);
}

GListStore *
cl_label_issues_find_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---------------------------------------------------------------- corrected CSV */

/* The end of the record starting at TEXT (after its line break, quoted line breaks inside), and
 * its fields' bounds in FIELDS (pairs of offsets, quotes included). */
static const char *
csv_record (const char *text, GArray *fields)
{
  gboolean quoted = FALSE;
  const char *p = text, *field = text;
  g_array_set_size (fields, 0);
  for (; *p != '\0'; p++)
    {
      if (*p == '"')
        quoted = !quoted;
      else if (!quoted && (*p == ',' || *p == '\n'))
        {
          int bounds[2] = { (int) (field - text), (int) (p - text) };
          if (*p == '\n' && bounds[1] > bounds[0] && text[bounds[1] - 1] == '\r')
            bounds[1]--;
          g_array_append_vals (fields, bounds, 2);
          field = p + 1;
          if (*p == '\n')
            return p + 1;
        }
    }
  int bounds[2] = { (int) (field - text), (int) (p - text) };
  g_array_append_vals (fields, bounds, 2);
  return p;
}

static char *
csv_field_value (const char *record, const GArray *fields, guint i)
{
  const char *start = record + g_array_index (fields, int, 2 * i);
  int length = g_array_index (fields, int, 2 * i + 1) - g_array_index (fields, int, 2 * i);
  g_autofree char *raw = g_strndup (start, length);
  g_strstrip (raw);
  if (raw[0] != '"')
    return g_steal_pointer (&raw);
  GString *value = g_string_new (NULL);
  for (const char *c = raw + 1; *c != '\0'; c++)
    if (*c != '"' || (c[1] == '"' && c++))
      g_string_append_c (value, *c);
  return g_string_free (value, FALSE);
}

static void
csv_append_value (GString *out, const char *value)
{
  if (strpbrk (value, ",\"\r\n") == NULL)
    {
      g_string_append (out, value);
      return;
    }
  g_string_append_c (out, '"');
  for (const char *c = value; *c != '\0'; c++)
    {
      if (*c == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *c);
    }
  g_string_append_c (out, '"');
}

static int
csv_label_column (const char *header, GArray *fields)
{
  for (guint i = 0; i < fields->len / 2; i++)
    {
      g_autofree char *name = csv_field_value (header, fields, i);
      if (g_ascii_strcasecmp (name, "label") == 0)
        return (int) i;
    }
  return -1;
}

char *
cl_csv_replace_labels (const char *text, GHashTable *corrections, GError **error)
{
  if (g_str_has_prefix (text, "\xEF\xBB\xBF"))
    text += 3;
  g_autoptr (GArray) fields = g_array_new (FALSE, FALSE, sizeof (int));
  const char *record = text, *next = csv_record (record, fields);
  int column = csv_label_column (record, fields);
  if (column < 0)
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_FORMAT, _("the CSV has no label column"));
      return NULL;
    }
  GString *out = g_string_new_len (text, next - text);
  int line = 1;   /* of the record NEXT starts */
  for (const char *c = text; c < next; c++)
    line += *c == '\n';
  while (*next != '\0')
    {
      record = next;
      next = csv_record (record, fields);
      const char *label = g_hash_table_lookup (corrections, GINT_TO_POINTER (line));
      if (label == NULL || (int) fields->len / 2 <= column)
        g_string_append_len (out, record, next - record);
      else
        {
          int start = g_array_index (fields, int, 2 * column), end = g_array_index (fields, int, 2 * column + 1);
          g_string_append_len (out, record, start);
          csv_append_value (out, label);
          g_string_append_len (out, record + end, next - record - end);
        }
      for (const char *c = record; c < next; c++)
        line += *c == '\n';
    }
  return g_string_free (out, FALSE);
}

static gboolean
write_text (int fd, const char *path, gpointer user_data, GError **error)
{
  const char *text = user_data;
  return clip_file_write_all (fd, text, strlen (text), path, error);
}

gboolean
cl_csv_write_corrected (const char *source, const char *target, GHashTable *corrections, GError **error)
{
  g_autofree char *contents = NULL;
  size_t length;
  if (!clip_file_read_contents (source, CLIP_INPUT_DEFAULT, CSV_MAX_BYTES, &contents, &length, error))
    return FALSE;
  GError *local_error = NULL;
  g_autofree char *corrected = cl_csv_replace_labels (contents, corrections, &local_error);
  if (corrected == NULL)
    {
      g_autofree char *display = g_filename_display_name (source);
      g_set_error (error, local_error->domain, local_error->code, "%s: %s", display, local_error->message);
      g_error_free (local_error);
      return FALSE;
    }
  return clip_file_replace (target, 0, write_text, corrected, error);
}
