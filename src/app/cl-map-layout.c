/* cl-map-layout.c — see cl-map-layout.h. */
#include "cl-map-layout.h"

#include <string.h>

#include <glib/gi18n.h>

#include "cl-progress-sink.h"
#include "util-file.h"

#define PROGRESS_INTERVAL_US (G_USEC_PER_SEC / 10)
#define CACHE_MAGIC          "CLMAP001"
#define CACHE_SUFFIX         ".map"
#define KEY_BYTES            32        /* SHA-256 */
#define CACHE_MAX_BYTES      (1u << 30)

void
cl_map_layout_free (ClMapLayout *layout)
{
  if (layout == NULL)
    return;
  g_free (layout->rows);
  g_free (layout->xy);
  g_free (layout->cluster);
  g_strfreev (layout->names);
  g_free (layout);
}

static ClMapLayout *
layout_new (guint n)
{
  ClMapLayout *layout = g_new0 (ClMapLayout, 1);

  layout->n = n;
  layout->rows = g_new0 (guint, MAX (n, 1));
  layout->xy = g_new0 (float, 2 * (gsize) MAX (n, 1));
  layout->cluster = g_new0 (int, MAX (n, 1));
  return layout;
}

/* ---------------------------------------------------------------- the request */

typedef struct {
  ClSearchIndex *index;
  char **paths;
  guint n;
  char **vocabulary;             /* NULL: the built-in nouns */
  guint64 seed;
  gboolean cache_only;
  GMainContext *main_context;
  ClProgressSink *sink;
  GCancellable *cancellable;
  gint64 last_post;
  ClMapLayout *layout;           /* the result */
} MapRequest;

static void
map_request_clear (MapRequest *r)
{
  cl_search_index_unref (r->index);
  g_strfreev (r->paths);
  g_strfreev (r->vocabulary);
  cl_progress_sink_release_on (r->sink, r->main_context);
  g_main_context_unref (r->main_context);
  g_clear_object (&r->cancellable);
  cl_map_layout_free (r->layout);
}

/* Shared by the task (which returns the layout) and the worker's command (which fills it). */
static void
map_request_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, (GDestroyNotify) map_request_clear);
}

/* ---------------------------------------------------------------- progress to the main thread */

typedef struct {
  ClProgressSink *sink;
  char *what;
  double fraction;
} ProgressPost;

static gboolean
progress_post_dispatch (gpointer data)
{
  ProgressPost *post = data;

  if (cl_progress_sink_wants (post->sink))
    ((ClMapProgressFunc) post->sink->func) (post->what, post->fraction, post->sink->data);
  return G_SOURCE_REMOVE;
}

static void
progress_post_free (ProgressPost *post)
{
  cl_progress_sink_release (post->sink);
  g_free (post->what);
  g_free (post);
}

static void
map_progress_cb (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  MapRequest *r = user_data;
  gint64 now = g_get_monotonic_time ();

  if (done < total && now - r->last_post < PROGRESS_INTERVAL_US)
    return;
  r->last_post = now;
  ProgressPost *post = g_new0 (ProgressPost, 1);
  post->sink = cl_progress_sink_acquire (r->sink);
  post->what = g_strdup (what);
  post->fraction = total > 0 ? CLAMP ((double) done / (double) total, 0.0, 1.0) : 0.0;
  g_main_context_invoke_full (r->main_context, G_PRIORITY_DEFAULT, progress_post_dispatch, post,
                              (GDestroyNotify) progress_post_free);
}

/* ---------------------------------------------------------------- the mapped rows */

/* The indexed images among the request's paths: their embeddings, positions in the request and
 * the cache key of the whole. */
typedef struct {
  guint n;
  int dim;
  float *embeddings;             /* [n × dim] */
  guint *rows;                   /* [n] */
  guint8 key[KEY_BYTES];
  char *cache_path;              /* beside the first folder's index file */
} MapInput;

static void
map_input_clear (MapInput *input)
{
  g_free (input->embeddings);
  g_free (input->rows);
  g_free (input->cache_path);
}

static void
checksum_update_string (GChecksum *checksum, const char *text)
{
  g_checksum_update (checksum, (const guchar *) text, strlen (text) + 1);
}

static void
map_input_collect (MapRequest *r, ClipModel *model, ClipIndex *const *indexes, guint n_indexes, MapInput *input)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);

  input->dim = clip_model_get_config (model)->embed_dim;
  input->embeddings = g_new (float, (gsize) MAX (r->n, 1) * input->dim);
  input->rows = g_new (guint, MAX (r->n, 1));
  checksum_update_string (checksum, CACHE_MAGIC);
  g_checksum_update (checksum, (const guchar *) &r->seed, sizeof r->seed);
  for (guint i = 0; i < n_indexes; i++)
    if (indexes[i] != NULL)
      {
        checksum_update_string (checksum, clip_index_get_file (indexes[i]));
        if (input->cache_path == NULL)
          input->cache_path = g_strconcat (clip_index_get_file (indexes[i]), CACHE_SUFFIX, NULL);
      }
  for (char **word = r->vocabulary; word != NULL && *word != NULL; word++)
    checksum_update_string (checksum, *word);

  for (guint row = 0; row < r->n; row++)
    for (guint i = 0; i < n_indexes; i++)
      {
        ClipIndexItem item;
        if (indexes[i] == NULL || !clip_index_find_file (indexes[i], r->paths[row], &item))
          continue;
        memcpy (input->embeddings + (gsize) input->n * input->dim, item.embedding, sizeof (float) * input->dim);
        input->rows[input->n++] = row;
        checksum_update_string (checksum, r->paths[row]);
        g_checksum_update (checksum, item.content_hash, 16);
        break;
      }
  gsize length = KEY_BYTES;
  g_checksum_get_digest (checksum, input->key, &length);
}

/* ---------------------------------------------------------------- the cache file
 *
 * CACHE_MAGIC, the key [32], then n, n_clusters and the names' bytes (uint32 each), rows [n] (uint32),
 * xy [2n] (float), cluster [n] (int32), the names (each NUL-terminated), all in the machine's order:
 * the cache stays on the machine that wrote it. */

typedef struct {
  const MapInput *input;
  const ClMapLayout *layout;
} CacheWrite;

static gboolean
cache_write_cb (int fd, const char *path, gpointer user_data, GError **error)
{
  const CacheWrite *w = user_data;
  const ClMapLayout *layout = w->layout;
  g_autoptr (GString) names = g_string_new (NULL);

  for (guint c = 0; c < layout->n_clusters; c++)
    g_string_append_len (names, layout->names[c], (gssize) strlen (layout->names[c]) + 1);
  guint32 counts[3] = { layout->n, layout->n_clusters, (guint32) names->len };
  return clip_file_write_all (fd, CACHE_MAGIC, strlen (CACHE_MAGIC), path, error)
         && clip_file_write_all (fd, w->input->key, KEY_BYTES, path, error)
         && clip_file_write_all (fd, counts, sizeof counts, path, error)
         && clip_file_write_all (fd, layout->rows, sizeof (guint32) * layout->n, path, error)
         && clip_file_write_all (fd, layout->xy, sizeof (float) * 2 * layout->n, path, error)
         && clip_file_write_all (fd, layout->cluster, sizeof (gint32) * layout->n, path, error)
         && clip_file_write_all (fd, names->str, names->len, path, error);
}

static gboolean
cache_write (const MapInput *input, const ClMapLayout *layout, GError **error)
{
  CacheWrite w = { input, layout };
  G_STATIC_ASSERT (sizeof (guint) == sizeof (guint32) && sizeof (int) == sizeof (gint32));
  return clip_file_replace (input->cache_path, 0, cache_write_cb, &w, error);
}

/* The layout the cache holds for INPUT, or NULL: missing, another key, or not well formed. */
static ClMapLayout *
cache_read (const MapInput *input)
{
  g_autofree char *contents = NULL;
  size_t length = 0;

  if (!clip_file_read_contents (input->cache_path, CLIP_INPUT_MISSING_CODE, CACHE_MAX_BYTES, &contents, &length, NULL))
    return NULL;
  const size_t header = strlen (CACHE_MAGIC) + KEY_BYTES + 3 * sizeof (guint32);
  if (length < header || memcmp (contents, CACHE_MAGIC, strlen (CACHE_MAGIC)) != 0
      || memcmp (contents + strlen (CACHE_MAGIC), input->key, KEY_BYTES) != 0)
    return NULL;
  guint32 counts[3];
  memcpy (counts, contents + header - sizeof counts, sizeof counts);
  const guint32 n = counts[0], n_clusters = counts[1], names_bytes = counts[2];
  if (n != input->n || length != header + (size_t) n * 16 + names_bytes)
    return NULL;

  g_autoptr (ClMapLayout) layout = layout_new (n);
  const char *at = contents + header;
  memcpy (layout->rows, at, sizeof (guint32) * n);
  memcpy (layout->xy, at + 4 * (size_t) n, sizeof (float) * 2 * n);
  memcpy (layout->cluster, at + 12 * (size_t) n, sizeof (gint32) * n);
  const char *names = at + 16 * (size_t) n, *end = names + names_bytes;
  layout->n_clusters = n_clusters;
  layout->names = g_new0 (char *, n_clusters + 1);
  for (guint32 c = 0; c < n_clusters; c++)
    {
      const char *nul = names < end ? memchr (names, '\0', end - names) : NULL;
      if (nul == NULL)
        return NULL;
      layout->names[c] = g_strdup (names);
      names = nul + 1;
    }
  for (guint32 i = 0; i < n; i++)
    if (layout->rows[i] != input->rows[i] || layout->cluster[i] < -1 || layout->cluster[i] >= (int) n_clusters)
      return NULL;
  layout->from_cache = TRUE;
  return g_steal_pointer (&layout);
}

/* ---------------------------------------------------------------- computing */

static gboolean
map_abort_cb (gpointer user_data)
{
  MapRequest *r = user_data;
  return g_cancellable_is_cancelled (r->cancellable);
}

static ClMapLayout *
map_compute (MapRequest *r, ClipModel *model, const MapInput *input, GError **error)
{
  g_autoptr (ClMapLayout) layout = layout_new (input->n);
  ClipMapOptions options;
  const ClipCallbacks callbacks = { map_progress_cb, map_abort_cb, r };

  clip_map_options_init (&options);
  options.seed = r->seed;
  memcpy (layout->rows, input->rows, sizeof (guint) * input->n);
  if (!clip_map_compute (input->embeddings, (int) input->n, input->dim, &options, &callbacks, layout->xy, error))
    return NULL;
  int n_clusters = clip_map_cluster (layout->xy, (int) input->n, NULL, layout->cluster);
  layout->n_clusters = (guint) MAX (n_clusters, 0);
  const char *const *vocabulary = r->vocabulary != NULL ? (const char *const *) r->vocabulary
                                                        : clip_vocabulary_builtin ();
  layout->names = n_clusters > 0 ? clip_cluster_names (model, input->embeddings, (int) input->n, layout->cluster,
                                                       n_clusters, vocabulary, -1, error)
                                 : g_new0 (char *, 1);
  if (layout->names == NULL)
    return NULL;
  return g_steal_pointer (&layout);
}

static gboolean
map_run (ClipModel *model, ClipIndex *const *indexes, guint n_indexes, gpointer data, GCancellable *cancellable,
         GError **error)
{
  MapRequest *r = data;
  MapInput input = { 0 };
  gboolean ok = TRUE;

  map_input_collect (r, model, indexes, n_indexes, &input);
  if (input.cache_path == NULL)
    g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_IO, _("The folder’s index cannot be read"));
  else if ((r->layout = cache_read (&input)) != NULL || r->cache_only)
    ;
  else if (input.n < 3)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                 ngettext ("%u image is indexed: a map needs at least 3", "%u images are indexed: a map needs at least 3",
                           input.n), input.n);
  else if ((r->layout = map_compute (r, model, &input, error)) != NULL)
    {
      /* A cache that cannot be written costs the next open a computation, nothing else. */
      g_autoptr (GError) cache_error = NULL;
      if (!cache_write (&input, r->layout, &cache_error))
        g_debug ("map cache: %s", cache_error->message);
    }
  ok = error == NULL || *error == NULL;
  map_input_clear (&input);
  return ok;
}

static void
map_run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  MapRequest *r = g_task_get_task_data (task);
  GError *error = NULL;

  if (!cl_search_index_run_finish (r->index, result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, g_steal_pointer (&r->layout), (GDestroyNotify) cl_map_layout_free);
}

void
cl_map_layout_compute_async (ClSearchIndex *index, const char *const *paths, guint n,
                             const char *const *vocabulary, guint64 seed, gboolean cache_only,
                             ClMapProgressFunc progress, gpointer progress_data, GDestroyNotify progress_destroy,
                             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  MapRequest *r = g_atomic_rc_box_new0 (MapRequest);

  g_task_set_source_tag (task, cl_map_layout_compute_async);
  r->index = cl_search_index_ref (index);
  r->paths = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    r->paths[i] = g_strdup (paths[i]);
  r->n = n;
  r->vocabulary = vocabulary != NULL ? g_strdupv ((char **) vocabulary) : NULL;
  r->seed = seed;
  r->cache_only = cache_only;
  r->main_context = g_main_context_ref_thread_default ();
  r->sink = cl_progress_sink_new (G_CALLBACK (progress), progress_data, progress_destroy, cancellable);
  r->cancellable = cancellable != NULL ? g_object_ref (cancellable) : g_cancellable_new ();
  g_task_set_task_data (task, g_atomic_rc_box_acquire (r), map_request_release);
  cl_search_index_run_async (index, CL_WORKER_PRIORITY_BACKGROUND, map_run, r, map_request_release, cancellable,
                             map_run_done, task);
}

ClMapLayout *
cl_map_layout_compute_finish (ClSearchIndex *index, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
