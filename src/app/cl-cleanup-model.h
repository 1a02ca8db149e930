/* cl-cleanup-model.h — what the Clean Up view lists, computed off the main thread from a snapshot of
 * the folder index (cl_search_index_snapshot_async): groups of duplicate images, and suspected label
 * errors and outliers of a labelled data set; and the corrected copy of a data set's CSV. */
#pragma once

#include <gio/gio.h>

#include "cl-search-index.h"

G_BEGIN_DECLS

/* ---------------------------------------------------------------- duplicates */

typedef struct {
  char  *path;               /* absolute */
  gint64 size;               /* bytes, -1 when the file is gone */
  gint64 mtime;              /* seconds since the epoch */
  int    width, height;      /* 0 when unknown */
} ClDuplicateMember;

#define CL_TYPE_DUPLICATE_GROUP (cl_duplicate_group_get_type ())
G_DECLARE_FINAL_TYPE (ClDuplicateGroup, cl_duplicate_group, CL, DUPLICATE_GROUP, GObject)

guint                    cl_duplicate_group_get_n_members (ClDuplicateGroup *self);
const ClDuplicateMember *cl_duplicate_group_get_member (ClDuplicateGroup *self, guint i);
/* The member whose path is PATH, or -1. */
int                      cl_duplicate_group_find (ClDuplicateGroup *self, const char *path);
float                    cl_duplicate_group_get_max_distance (ClDuplicateGroup *self);
gboolean                 cl_duplicate_group_get_exact (ClDuplicateGroup *self);

/* Groups of SNAPSHOT's images within THRESHOLD (cosine distance) of each other, or with the same
 * content, largest first (clip_duplicates_find), with each member's size, date and dimensions read
 * in a thread.  The result is a GListStore of ClDuplicateGroup. */
void        cl_duplicates_find_async (ClIndexSnapshot *snapshot, float threshold, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
GListStore *cl_duplicates_find_finish (GAsyncResult *result, GError **error);

/* ---------------------------------------------------------------- label issues */

#define CL_TYPE_LABEL_ISSUE (cl_label_issue_get_type ())
G_DECLARE_FINAL_TYPE (ClLabelIssue, cl_label_issue, CL, LABEL_ISSUE, GObject)

/* A suspected label error (SUGGESTED set) or an outlier (SUGGESTED NULL, SCORE its outlier score).
 * ITEM is the image's index in the collection. */
ClLabelIssue *cl_label_issue_new (guint item, const char *path, const char *label, const char *suggested,
                                  double score);
guint       cl_label_issue_get_item (ClLabelIssue *self);
const char *cl_label_issue_get_path (ClLabelIssue *self);
const char *cl_label_issue_get_label (ClLabelIssue *self);
const char *cl_label_issue_get_suggested (ClLabelIssue *self);   /* NULL for an outlier */
double      cl_label_issue_get_score (ClLabelIssue *self);       /* confidence, or outlier score */

/* The labelled images of a data set to audit: for each, its path, the collection index and its
 * label (an index into LABELS). */
typedef struct {
  guint n;
  char **paths;              /* NULL-terminated */
  guint *items;
  int *labels;
  char **label_names;        /* NULL-terminated */
} ClAuditInput;

void cl_audit_input_free (ClAuditInput *input);

/* On the model worker: the zero-shot classifier of the label names, the neighbours of the images'
 * embeddings (taken from SNAPSHOT, matched by resolved path), clip_audit_labels and
 * clip_audit_outliers (the N_OUTLIERS strongest).  Takes SNAPSHOT and INPUT.  The result is a
 * GListStore of ClLabelIssue: label errors, most confident first, then the outliers. */
void        cl_label_issues_find_async (ClModelWorker *worker, ClIndexSnapshot *snapshot, ClAuditInput *input,
                                        guint n_outliers, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
GListStore *cl_label_issues_find_finish (GAsyncResult *result, GError **error);

/* ---------------------------------------------------------------- corrected CSV */

/* TEXT, a data set CSV with a "label" column, with the label of each record starting at a line of
 * CORRECTIONS (line number → new label, as GINT_TO_POINTER and strings) replaced; the other records
 * are kept byte for byte.  NULL with ERROR when the header has no label column. */
char *cl_csv_replace_labels (const char *text, GHashTable *corrections, GError **error);

/* Writes cl_csv_replace_labels of the CSV at SOURCE to TARGET, crash-safe (the old TARGET or the
 * whole new one). */
gboolean cl_csv_write_corrected (const char *source, const char *target, GHashTable *corrections, GError **error);

G_END_DECLS
