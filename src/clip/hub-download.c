/* hub-download.c — downloading a model from the Hugging Face hub with libsoup 3, as huggingface_hub does:
 * the API for the commit and the file list, HEAD on each file's resolve URL for its ETag, size and
 * storage location, then a GET that resumes with Range after a dropped connection, verified against
 * the ETag before it enters the cache (hub-private.h has the layout). */
#include "hub-private.h"
#include "clip-private.h"
#include "util-file.h"
#include "util-json.h"

#include <errno.h>
#include <fcntl.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define HUB_DEFAULT_ENDPOINT     "https://huggingface.co"
#define HUB_USER_AGENT           "cliplab/0.1 (huggingface_hub cache)"
#define HUB_CHUNK_BYTES          (256 * 1024)
#define HUB_MAX_REDIRECTS        5
#define HUB_MAX_API_BYTES        (16 * 1024 * 1024)
#define HUB_IO_TIMEOUT_S         60
#define HUB_PROGRESS_INTERVAL_US (100 * 1000)
#define HUB_WAIT_STEP_US         (50 * 1000)

typedef struct {
  char    *path;     /* in the repository */
  int64_t  size;     /* from the resolve headers, else the tree API; -1 unknown */
  char    *etag;     /* the blob's name: X-Linked-Etag for LFS files, else ETag */
  char    *url;      /* where the bytes are: the resolve URL or its redirect to the storage host */
  gboolean cached;   /* blobs/ETAG already exists */
} HubFile;

typedef struct {
  const ClipHubOptions *options;
  const ClipCallbacks  *callbacks;
  const char   *repo_id;
  const char   *revision;
  char         *cache_dir;
  char         *repo_dir;
  SoupSession  *session;
  GCancellable *cancellable;
  GUri         *endpoint;
  char         *endpoint_url;   /* without a trailing '/' */
  char         *token;
  char         *token_source;   /* where the token came from, for a 401/403 message */
  ClipHubProgress progress;
  int64_t       received;       /* bytes received in this call */
  gint64        start_us;
  gint64        last_report_us;
} Hub;

static void
hub_file_free (HubFile *file)
{
  g_free (file->path);
  g_free (file->etag);
  g_free (file->url);
  g_free (file);
}

void
clip_hub_options_init (ClipHubOptions *options)
{
  memset (options, 0, sizeof *options);
  options->max_retries = 5;
  options->retry_delay = 1.0;
}

void
clip_hub_result_clear (ClipHubResult *result)
{
  g_clear_pointer (&result->repo_id, g_free);
  g_clear_pointer (&result->revision, g_free);
  g_clear_pointer (&result->commit, g_free);
  g_clear_pointer (&result->snapshot_dir, g_free);
}

/* ---------------------------------------------------------------- errors */

static gboolean
hub_aborted (Hub *hub)
{
  const ClipCallbacks *cb = hub->callbacks;
  if (cb != NULL && cb->abort != NULL && cb->abort (cb->user_data))
    g_cancellable_cancel (hub->cancellable);
  return g_cancellable_is_cancelled (hub->cancellable);
}

static void
set_aborted (GError **error, const char *repo_id)
{
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED, "%s: download cancelled (a partial file is kept in "
               "the cache and the next download resumes it)", repo_id);
}

/* A failure to talk to the server: cancelled, unreachable or cut. */
static void
set_transport_error (Hub *hub, const char *url, GError *cause, GError **error)
{
  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CANCELLED) || g_cancellable_is_cancelled (hub->cancellable))
    set_aborted (error, hub->repo_id);
  else
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_NETWORK, "%s: cannot reach %s: %s (no network? with "
                 "HF_HUB_OFFLINE=1, models already in the cache are used without it)", hub->repo_id, url,
                 cause->message);
  g_error_free (cause);
}

/* Statuses worth a retry: the server or a proxy on the way failed for now. */
static gboolean
status_is_transient (guint status)
{
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

static gboolean
check_status (Hub *hub, SoupMessage *msg, const char *file, GError **error)
{
  guint status = soup_message_get_status (msg);
  if (status >= 200 && status < 400)
    return TRUE;
  SoupMessageHeaders *headers = soup_message_get_response_headers (msg);
  const char *code = soup_message_headers_get_one (headers, "X-Error-Code");
  const char *what = file != NULL ? file : "the repository";
  if (g_strcmp0 (code, "RepoNotFound") == 0 || (status == 404 && code == NULL && file == NULL))
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: no such model repository on %s (HTTP %u; a "
                 "private one needs a token in HF_TOKEN or the token file)", hub->repo_id, hub->endpoint_url, status);
  else if (status == 401 || status == 403)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_DENIED, "%s: access to %s denied (HTTP %u%s%s): %s%s%s", hub->repo_id,
                 what, status, code != NULL ? ", " : "", code != NULL ? code : "",
                 hub->token != NULL ? "the token from " : "the model is gated or private: accept its terms on its "
                                      "page and set HF_TOKEN to an access token or write it to ",
                 hub->token_source,
                 hub->token != NULL ? " has no access to it; a gated model's terms must be accepted on its page "
                                      "first" : "");
  else if (g_strcmp0 (code, "RevisionNotFound") == 0)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: no revision \"%s\" (HTTP %u)", hub->repo_id,
                 hub->revision, status);
  else if (status == 404)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: no file %s at revision \"%s\" (HTTP 404)",
                 hub->repo_id, what, hub->revision);
  else
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_NETWORK, "%s: %s: the server answered HTTP %u %s", hub->repo_id,
                 what, status, soup_status_get_phrase (status));
  return FALSE;
}

/* ---------------------------------------------------------------- requests */

static gboolean
same_origin (GUri *a, GUri *b)
{
  return g_ascii_strcasecmp (g_uri_get_scheme (a), g_uri_get_scheme (b)) == 0
         && g_ascii_strcasecmp (g_uri_get_host (a), g_uri_get_host (b)) == 0
         && g_uri_get_port (a) == g_uri_get_port (b);
}

/* METHOD URL, redirects not followed; the token only goes to the endpoint's own origin, and Range
 * asks for the bytes from FROM on when FROM > 0.  Returns the body stream and *MSG_OUT. */
static GInputStream *
hub_send (Hub *hub, const char *method, const char *url, int64_t from, SoupMessage **msg_out, GError **error)
{
  GError *local_error = NULL;
  g_autoptr (GUri) uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, &local_error);
  if (uri == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: cannot parse the URL %s: %s", hub->repo_id, url,
                   local_error->message);
      g_error_free (local_error);
      return NULL;
    }
  g_autoptr (SoupMessage) msg = soup_message_new_from_uri (method, uri);
  soup_message_set_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  SoupMessageHeaders *headers = soup_message_get_request_headers (msg);
  if (hub->token != NULL && same_origin (uri, hub->endpoint))
    {
      g_autofree char *bearer = g_strconcat ("Bearer ", hub->token, NULL);
      soup_message_headers_replace (headers, "Authorization", bearer);
    }
  /* Byte counts, offsets and hashes are those of the file itself. */
  soup_message_headers_replace (headers, "Accept-Encoding", "identity");
  if (from > 0)
    soup_message_headers_set_range (headers, from, -1);
  GInputStream *stream = soup_session_send (hub->session, msg, hub->cancellable, &local_error);
  if (stream == NULL)
    {
      set_transport_error (hub, url, local_error, error);
      return NULL;
    }
  *msg_out = g_steal_pointer (&msg);
  return stream;
}

/* Like hub_send, following redirects: all of them (FOLLOW_ALL), or only those to the endpoint's
 * origin that carry no X-Linked-Etag (a renamed repository, not a file's storage location). */
static GInputStream *
hub_open (Hub *hub, const char *method, const char *url, int64_t from, gboolean follow_all,
          SoupMessage **msg_out, GError **error)
{
  g_autofree char *current = g_strdup (url);
  for (int hop = 0; hop <= HUB_MAX_REDIRECTS; hop++)
    {
      SoupMessage *msg = NULL;
      GInputStream *stream = hub_send (hub, method, current, from, &msg, error);
      if (stream == NULL)
        return NULL;
      SoupMessageHeaders *headers = soup_message_get_response_headers (msg);
      const char *location = soup_message_headers_get_one (headers, "Location");
      char *next = NULL;
      if (SOUP_STATUS_IS_REDIRECTION (soup_message_get_status (msg)) && location != NULL)
        next = g_uri_resolve_relative (current, location, SOUP_HTTP_URI_FLAGS, NULL);
      gboolean follow = next != NULL && follow_all;
      if (next != NULL && !follow && soup_message_headers_get_one (headers, "X-Linked-Etag") == NULL)
        {
          g_autoptr (GUri) next_uri = g_uri_parse (next, SOUP_HTTP_URI_FLAGS, NULL);
          follow = next_uri != NULL && same_origin (next_uri, hub->endpoint);
        }
      if (!follow)
        {
          g_free (next);
          *msg_out = msg;
          return stream;
        }
      g_input_stream_close (stream, NULL, NULL);
      g_object_unref (stream);
      g_object_unref (msg);
      g_free (current);
      current = next;
    }
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_NETWORK, "%s: more than %d redirects from %s", hub->repo_id,
               HUB_MAX_REDIRECTS, url);
  return NULL;
}

static JsonNode *
hub_get_json (Hub *hub, const char *url, GError **error)
{
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) stream = hub_open (hub, "GET", url, 0, TRUE, &msg, error);
  if (stream == NULL || !check_status (hub, msg, NULL, error))
    return NULL;
  g_autoptr (GByteArray) body = g_byte_array_new ();
  guint8 buffer[16384];
  gssize n;
  GError *local_error = NULL;
  while ((n = g_input_stream_read (stream, buffer, sizeof buffer, hub->cancellable, &local_error)) > 0)
    {
      if (body->len + (gsize) n > HUB_MAX_API_BYTES)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: the answer is over %d MiB", url,
                       HUB_MAX_API_BYTES >> 20);
          return NULL;
        }
      g_byte_array_append (body, buffer, (guint) n);
    }
  if (n < 0)
    {
      set_transport_error (hub, url, local_error, error);
      return NULL;
    }
  return clip_json_parse ((const char *) body->data, body->len, url, FALSE, error);
}

/* ---------------------------------------------------------------- choosing the files */

/* What clip_model_load reads, weights last (a snapshot that holds its weights holds all the rest):
 * the Hugging Face layout when the repository has it, else open_clip's. */
static GPtrArray *
choose_files (Hub *hub, GHashTable *present, GError **error)
{
  GPtrArray *chosen = g_ptr_array_new ();
  const char *weights = NULL;
  gboolean sharded = g_hash_table_contains (present, CLIP_SHARDED_INDEX_NAME);
  if (g_hash_table_contains (present, "config.json")
      && (g_hash_table_contains (present, "model.safetensors") || sharded))
    {
      g_ptr_array_add (chosen, "config.json");
      if (g_hash_table_contains (present, "preprocessor_config.json"))
        g_ptr_array_add (chosen, "preprocessor_config.json");
      weights = g_hash_table_contains (present, "model.safetensors") ? "model.safetensors" : CLIP_SHARDED_INDEX_NAME;
    }
  else if (g_hash_table_contains (present, "open_clip_config.json"))
    {
      for (size_t i = 0; clip_open_clip_weight_files[i] != NULL && weights == NULL; i++)
        if (g_hash_table_contains (present, clip_open_clip_weight_files[i]))
          weights = clip_open_clip_weight_files[i];
      g_ptr_array_add (chosen, "open_clip_config.json");
    }
  if (weights == NULL)
    {
      gboolean pickle = g_hash_table_contains (present, "pytorch_model.bin")
                        || g_hash_table_contains (present, "open_clip_pytorch_model.bin");
      g_set_error (error, CLIP_ERROR, pickle ? CLIP_ERROR_UNSUPPORTED : CLIP_ERROR_MISSING,
                   "%s: %s", hub->repo_id,
                   pickle ? "it has only PyTorch .bin weights, which ClipLab does not read (it needs .safetensors)"
                   : "not a CLIP model ClipLab loads: it needs config.json + model.safetensors (or its shards' "
                     CLIP_SHARDED_INDEX_NAME ") or open_clip_config.json + open_clip_model.safetensors");
      g_ptr_array_unref (chosen);
      return NULL;
    }
  if (g_hash_table_contains (present, "vocab.json") && g_hash_table_contains (present, "merges.txt"))
    {
      g_ptr_array_add (chosen, "vocab.json");
      g_ptr_array_add (chosen, "merges.txt");
    }
  else if (g_hash_table_contains (present, "tokenizer.json"))
    g_ptr_array_add (chosen, "tokenizer.json");
  g_ptr_array_add (chosen, (gpointer) weights);
  return chosen;
}

/* The shards a sharded checkpoint's index (at COMMIT) names, inserted into CHOSEN before the index
 * itself, which stays last: a snapshot that holds the index holds every shard.  The strings are
 * borrowed from *INDEX. */
static gboolean
add_shards (Hub *hub, const char *commit, GHashTable *present, GPtrArray *chosen, JsonNode **index, GError **error)
{
  g_autofree char *url = g_strdup_printf ("%s/%s/resolve/%s/%s", hub->endpoint_url, hub->repo_id, commit,
                                          CLIP_SHARDED_INDEX_NAME);
  *index = hub_get_json (hub, url, error);
  if (*index == NULL)
    return FALSE;
  JsonObject *root = JSON_NODE_HOLDS_OBJECT (*index) ? json_node_get_object (*index) : NULL;
  JsonNode *map = root != NULL ? json_object_get_member (root, "weight_map") : NULL;
  if (map == NULL || !JSON_NODE_HOLDS_OBJECT (map) || json_object_get_size (json_node_get_object (map)) == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %s: no \"weight_map\" naming the shard of each "
                   "tensor", hub->repo_id, CLIP_SHARDED_INDEX_NAME);
      return FALSE;
    }
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GList) tensors = json_object_get_values (json_node_get_object (map));
  g_ptr_array_remove_index (chosen, chosen->len - 1);
  for (GList *l = tensors; l != NULL; l = l->next)
    {
      const char *shard = JSON_NODE_HOLDS_VALUE (l->data) ? json_node_get_string (l->data) : NULL;
      if (shard == NULL || !clip_hub_is_safe_name (shard) || !g_hash_table_contains (present, shard))
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: %s names the shard \"%s\", which is not a "
                       "file of the repository", hub->repo_id, CLIP_SHARDED_INDEX_NAME, shard != NULL ? shard : "");
          return FALSE;
        }
      if (g_hash_table_add (seen, (gpointer) shard))
        g_ptr_array_add (chosen, (gpointer) shard);
    }
  g_ptr_array_add (chosen, CLIP_SHARDED_INDEX_NAME);
  return TRUE;
}

/* The commit REVISION names and the needed files, with their sizes from the tree API. */
static GPtrArray *
hub_list_files (Hub *hub, char **commit, GError **error)
{
  g_autofree char *escaped_rev = g_uri_escape_string (hub->revision, NULL, FALSE);
  g_autofree char *info_url = g_strdup_printf ("%s/api/models/%s/revision/%s", hub->endpoint_url, hub->repo_id,
                                               escaped_rev);
  g_autoptr (JsonNode) info = hub_get_json (hub, info_url, error);
  if (info == NULL)
    return NULL;
  JsonObject *root = JSON_NODE_HOLDS_OBJECT (info) ? json_node_get_object (info) : NULL;
  const char *sha = root != NULL && json_object_has_member (root, "sha")
                      ? json_object_get_string_member_with_default (root, "sha", NULL) : NULL;
  JsonArray *siblings = root != NULL && json_object_has_member (root, "siblings")
                        && JSON_NODE_HOLDS_ARRAY (json_object_get_member (root, "siblings"))
                          ? json_object_get_array_member (root, "siblings") : NULL;
  if (!clip_hub_is_commit (sha) || siblings == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: the answer has no commit \"sha\" or no "
                   "\"siblings\" file list", info_url);
      return NULL;
    }
  g_autoptr (GHashTable) present = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < json_array_get_length (siblings); i++)
    {
      JsonNode *node = json_array_get_element (siblings, i);
      if (JSON_NODE_HOLDS_OBJECT (node))
        {
          const char *name = json_object_get_string_member_with_default (json_node_get_object (node),
                                                                          "rfilename", NULL);
          if (name != NULL)
            g_hash_table_add (present, (gpointer) name);
        }
    }
  g_autoptr (GPtrArray) chosen = choose_files (hub, present, error);
  g_autoptr (JsonNode) index = NULL;
  if (chosen == NULL
      || (g_str_equal (chosen->pdata[chosen->len - 1], CLIP_SHARDED_INDEX_NAME)
          && !add_shards (hub, sha, present, chosen, &index, error)))
    return NULL;

  GPtrArray *files = g_ptr_array_new_with_free_func ((GDestroyNotify) hub_file_free);
  for (guint i = 0; i < chosen->len; i++)
    {
      HubFile *file = g_new0 (HubFile, 1);
      file->path = g_strdup (chosen->pdata[i]);
      file->size = -1;
      g_ptr_array_add (files, file);
    }
  *commit = g_strdup (sha);
  return files;
}

/* ---------------------------------------------------------------- file metadata */

/* An ETag as huggingface_hub normalises it: without "W/" and quotes. */
static char *
normalize_etag (const char *etag)
{
  if (etag == NULL)
    return NULL;
  if (g_str_has_prefix (etag, "W/"))
    etag += 2;
  size_t len = strlen (etag);
  if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"')
    return g_strndup (etag + 1, len - 2);
  return g_strdup (etag);
}

/* HEAD on the file's resolve URL at COMMIT: its ETag, size and where its bytes are. */
static gboolean
hub_file_metadata (Hub *hub, const char *commit, HubFile *file, GError **error)
{
  g_autofree char *escaped = g_uri_escape_string (file->path, "/", FALSE);
  g_autofree char *url = g_strdup_printf ("%s/%s/resolve/%s/%s", hub->endpoint_url, hub->repo_id, commit, escaped);
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) stream = hub_open (hub, "HEAD", url, 0, FALSE, &msg, error);
  if (stream == NULL || !check_status (hub, msg, file->path, error))
    return FALSE;
  g_input_stream_close (stream, NULL, NULL);

  SoupMessageHeaders *headers = soup_message_get_response_headers (msg);
  const char *linked_etag = soup_message_headers_get_one (headers, "X-Linked-Etag");
  const char *linked_size = soup_message_headers_get_one (headers, "X-Linked-Size");
  const char *repo_commit = soup_message_headers_get_one (headers, "X-Repo-Commit");
  file->etag = normalize_etag (linked_etag != NULL ? linked_etag : soup_message_headers_get_one (headers, "ETag"));
  if (!clip_hub_is_safe_name (file->etag))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %s: the server gave no usable ETag, which names "
                   "the file in the cache", hub->repo_id, file->path);
      return FALSE;
    }
  if (repo_commit != NULL && strcmp (repo_commit, commit) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %s: asked for commit %s, the server answered "
                   "from %s", hub->repo_id, file->path, commit, repo_commit);
      return FALSE;
    }
  if (linked_size != NULL)
    file->size = g_ascii_strtoll (linked_size, NULL, 10);
  else if (!SOUP_STATUS_IS_REDIRECTION (soup_message_get_status (msg)))
    file->size = soup_message_headers_get_content_length (headers);
  if (file->size < 0 || (file->size == 0 && linked_size == NULL
                         && soup_message_headers_get_encoding (headers) != SOUP_ENCODING_CONTENT_LENGTH))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %s: the server gave no size", hub->repo_id,
                   file->path);
      return FALSE;
    }
  const char *location = soup_message_headers_get_one (headers, "Location");
  if (SOUP_STATUS_IS_REDIRECTION (soup_message_get_status (msg)) && location != NULL)
    file->url = g_uri_resolve_relative (url, location, SOUP_HTTP_URI_FLAGS, error);
  else
    file->url = g_strdup (url);
  return file->url != NULL;
}

/* ---------------------------------------------------------------- downloading a blob */

/* The running download's state, for clip_hub_get_progress inside its progress callback. */
static _Thread_local const ClipHubProgress *current_progress;

const ClipHubProgress *
clip_hub_get_progress (void)
{
  return current_progress;
}

static void
hub_report (Hub *hub, gboolean force)
{
  const ClipCallbacks *cb = hub->callbacks;
  if (cb == NULL || cb->progress == NULL)
    return;
  gint64 now = g_get_monotonic_time ();
  if (!force && now - hub->last_report_us < HUB_PROGRESS_INTERVAL_US)
    return;
  hub->last_report_us = now;
  double elapsed = (double) (now - hub->start_us) / G_USEC_PER_SEC;
  hub->progress.rate = elapsed >= 1.0 ? (double) hub->received / elapsed : 0.0;
  hub->progress.eta = hub->progress.rate > 0 ? (double) (hub->progress.total - hub->progress.done) / hub->progress.rate
                                             : -1.0;
  current_progress = &hub->progress;
  cb->progress (hub->progress.file, hub->progress.done, hub->progress.total, cb->user_data);
  current_progress = NULL;
}

/* The hash the ETag is: SHA-256 of the content for LFS files (64 hex digits), git's blob SHA-1
 * ("blob SIZE\0" + content) for the others (40); NULL when the ETag is neither (a mirror's own). */
static GChecksum *
hasher_new (const HubFile *file)
{
  size_t len = strlen (file->etag);
  for (size_t i = 0; i < len; i++)
    if (!g_ascii_isxdigit (file->etag[i]))
      return NULL;
  if (len == 64)
    return g_checksum_new (G_CHECKSUM_SHA256);
  if (len != 40)
    return NULL;
  GChecksum *checksum = g_checksum_new (G_CHECKSUM_SHA1);
  g_autofree char *header = g_strdup_printf ("blob %" G_GINT64_FORMAT, file->size);
  g_checksum_update (checksum, (const guchar *) header, (gssize) strlen (header) + 1);
  return checksum;
}

/* Feeds the first HAVE bytes already in FD to a new hasher (a resumed download). */
static gboolean
hasher_start (const HubFile *file, int fd, int64_t have, const char *path, GChecksum **out, GError **error)
{
  *out = hasher_new (file);
  if (*out == NULL || have == 0)
    return TRUE;
  g_autofree guint8 *buffer = g_malloc (HUB_CHUNK_BYTES);
  for (int64_t at = 0; at < have;)
    {
      ssize_t n = pread (fd, buffer, (size_t) MIN (have - at, HUB_CHUNK_BYTES), (off_t) at);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot read the partial download: %s", path,
                       n < 0 ? g_strerror (errno) : "shorter than it was");
          return FALSE;
        }
      g_checksum_update (*out, buffer, n);
      at += n;
    }
  return TRUE;
}

typedef struct {
  HubFile    *file;
  const char *path;       /* blobs/ETAG.incomplete */
  int         fd;
  int64_t     have;       /* bytes in the file */
  GChecksum  *checksum;   /* NULL when the ETag is no hash we know */
} Transfer;

static gboolean
transfer_restart (Transfer *t, GError **error)
{
  if (ftruncate (t->fd, 0) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot truncate: %s", t->path, g_strerror (errno));
      return FALSE;
    }
  t->have = 0;
  g_clear_pointer (&t->checksum, g_checksum_free);
  t->checksum = hasher_new (t->file);
  return TRUE;
}

/* Whether the answer to a GET from T->have on fits: 206 from that offset, or 200 (the whole file:
 * start again).  *RETRYABLE tells a transient failure. */
static gboolean
transfer_accept (Hub *hub, Transfer *t, SoupMessage *msg, gboolean *retryable, GError **error)
{
  guint status = soup_message_get_status (msg);
  goffset start = 0, end = 0, total = 0;
  if (status == SOUP_STATUS_PARTIAL_CONTENT && t->have > 0
      && soup_message_headers_get_content_range (soup_message_get_response_headers (msg), &start, &end, &total)
      && start == t->have)
    return TRUE;
  if (status == SOUP_STATUS_OK || status == SOUP_STATUS_PARTIAL_CONTENT
      || status == SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE)
    {
      int64_t asked = t->have;
      hub->progress.done -= t->have;
      if (!transfer_restart (t, error))
        return FALSE;
      if (status == SOUP_STATUS_OK)
        return TRUE;
      *retryable = TRUE;  /* a range the server did not honour: ask again from the start */
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_NETWORK, "%s: %s: the server did not resume at byte %"
                   G_GINT64_FORMAT " (HTTP %u)", hub->repo_id, t->file->path, asked, status);
      return FALSE;
    }
  *retryable = status_is_transient (status);
  /* Anything else, a redirect without a Location included, is no answer with the file's bytes. */
  if (check_status (hub, msg, t->file->path, error))
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_NETWORK, "%s: %s: unexpected answer HTTP %u %s", hub->repo_id,
                 t->file->path, status, soup_status_get_phrase (status));
  return FALSE;
}

/* One GET of the rest of the file into T; *RETRYABLE tells a failure worth another attempt. */
static gboolean
transfer_once (Hub *hub, Transfer *t, gboolean *retryable, GError **error)
{
  *retryable = FALSE;
  g_autoptr (SoupMessage) msg = NULL;
  GError *local_error = NULL;
  g_autoptr (GInputStream) stream = hub_open (hub, "GET", t->file->url, t->have, TRUE, &msg, &local_error);
  if (stream == NULL)
    {
      *retryable = g_error_matches (local_error, CLIP_ERROR, CLIP_ERROR_NETWORK);
      g_propagate_error (error, local_error);
      return FALSE;
    }
  if (!transfer_accept (hub, t, msg, retryable, error))
    return FALSE;

  g_autofree guint8 *buffer = g_malloc (HUB_CHUNK_BYTES);
  for (;;)
    {
      gssize n = g_input_stream_read (stream, buffer, HUB_CHUNK_BYTES, hub->cancellable, &local_error);
      if (n < 0)
        {
          *retryable = !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                       && !g_cancellable_is_cancelled (hub->cancellable);
          if (*retryable)
            g_set_error (error, CLIP_ERROR, CLIP_ERROR_NETWORK, "%s: %s: the connection broke after %"
                         G_GINT64_FORMAT " of %" G_GINT64_FORMAT " bytes: %s", hub->repo_id, t->file->path, t->have,
                         t->file->size, local_error->message);
          else
            set_aborted (error, hub->repo_id);
          g_error_free (local_error);
          return FALSE;
        }
      if (n == 0)
        break;
      if (t->have + n > t->file->size)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %s: the server sent more than the %"
                       G_GINT64_FORMAT " bytes it announced", hub->repo_id, t->file->path, t->file->size);
          return FALSE;
        }
      if (!clip_file_write_all (t->fd, buffer, (size_t) n, t->path, error))
        return FALSE;
      if (t->checksum != NULL)
        g_checksum_update (t->checksum, buffer, n);
      t->have += n;
      hub->received += n;
      hub->progress.file_done = t->have;
      hub->progress.done += n;
      hub_report (hub, FALSE);
      if (hub_aborted (hub))
        {
          set_aborted (error, hub->repo_id);
          return FALSE;
        }
    }
  if (t->have < t->file->size)
    {
      *retryable = TRUE;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_NETWORK, "%s: %s: the connection closed after %" G_GINT64_FORMAT
                   " of %" G_GINT64_FORMAT " bytes", hub->repo_id, t->file->path, t->have, t->file->size);
      return FALSE;
    }
  return TRUE;
}

/* Sleeps SECONDS, or less when the download is cancelled meanwhile. */
static gboolean
hub_wait (Hub *hub, double seconds)
{
  gint64 until = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);
  while (g_get_monotonic_time () < until)
    {
      if (hub_aborted (hub))
        return FALSE;
      g_usleep (MIN (HUB_WAIT_STEP_US, until - g_get_monotonic_time () + 1));
    }
  return !hub_aborted (hub);
}

/* Transfers with up to max_retries resumed attempts after transient failures. */
static gboolean
transfer_with_retries (Hub *hub, Transfer *t, GError **error)
{
  double delay = hub->options->retry_delay;
  for (int attempt = 0;; attempt++)
    {
      gboolean retryable = FALSE;
      GError *local_error = NULL;
      if (transfer_once (hub, t, &retryable, &local_error))
        return TRUE;
      if (!retryable || attempt >= hub->options->max_retries)
        {
          if (retryable)
            g_prefix_error (&local_error, "gave up after %d retries: ", attempt);
          g_propagate_error (error, local_error);
          return FALSE;
        }
      g_error_free (local_error);
      /* Bytes written by the failed attempt stay: the next one asks for the rest. */
      hub->progress.retries++;
      hub_report (hub, TRUE);
      if (!hub_wait (hub, delay))
        {
          set_aborted (error, hub->repo_id);
          return FALSE;
        }
      delay *= 2;
    }
}

static gboolean
transfer_verify (Hub *hub, Transfer *t, GError **error)
{
  if (t->have != t->file->size)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %s: %" G_GINT64_FORMAT " bytes instead of %"
                   G_GINT64_FORMAT, hub->repo_id, t->file->path, t->have, t->file->size);
      return FALSE;
    }
  if (t->checksum == NULL)
    return TRUE;
  const char *digest = g_checksum_get_string (t->checksum);
  if (g_ascii_strcasecmp (digest, t->file->etag) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %s: the download does not match its hash "
                   "(%s %s expected, %s received): it was deleted", hub->repo_id, t->file->path,
                   strlen (digest) == 64 ? "SHA-256" : "git SHA-1", t->file->etag, digest);
      return FALSE;
    }
  return TRUE;
}

static gboolean
transfer_open (Transfer *t, GError **error)
{
  t->fd = g_open (t->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (t->fd < 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot open: %s", t->path, g_strerror (errno));
      return FALSE;
    }
  GStatBuf st;
  if (fstat (t->fd, &st) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot stat: %s", t->path, g_strerror (errno));
      return FALSE;
    }
  t->have = st.st_size <= t->file->size ? st.st_size : 0;
  if (st.st_size > t->file->size && !transfer_restart (t, error))
    return FALSE;
  if (!hasher_start (t->file, t->fd, t->have, t->path, &t->checksum, error))
    return FALSE;
  /* Reserving the rest now reports a full disk before the download rather than in its middle. */
  if (t->file->size > t->have
      && fallocate (t->fd, FALLOC_FL_KEEP_SIZE, t->have, t->file->size - t->have) != 0
      && errno != EOPNOTSUPP && errno != ENOSYS)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot reserve %" G_GINT64_FORMAT " bytes: %s", t->path,
                   t->file->size - t->have, g_strerror (errno));
      return FALSE;
    }
  if (lseek (t->fd, t->have, SEEK_SET) < 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot seek: %s", t->path, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* blobs/ETAG from blobs/ETAG.incomplete, resumed, verified, synced and renamed.  A file that fails
 * its hash is deleted; any other failure keeps the partial file for the next attempt. */
static gboolean
hub_fetch_blob (Hub *hub, HubFile *file, const char *blob, GError **error)
{
  g_autofree char *incomplete = g_strconcat (blob, ".incomplete", NULL);
  Transfer t = { .file = file, .path = incomplete, .fd = -1 };
  gboolean ok = transfer_open (&t, error);
  if (ok)
    {
      hub->progress.file_done = t.have;
      hub->progress.done += t.have;
      hub_report (hub, TRUE);
      ok = transfer_with_retries (hub, &t, error);
    }
  gboolean verified = ok && transfer_verify (hub, &t, error);
  if (verified && fsync (t.fd) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot sync: %s", incomplete, g_strerror (errno));
      verified = FALSE;
    }
  if (t.fd >= 0)
    close (t.fd);
  g_clear_pointer (&t.checksum, g_checksum_free);
  if (ok && !verified)
    g_unlink (incomplete);
  if (!verified)
    return FALSE;
  if (g_rename (incomplete, blob) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot rename to %s: %s", incomplete, blob,
                   g_strerror (errno));
      return FALSE;
    }
  return clip_file_sync_directory_of (blob, error);
}

/* huggingface_hub's lock of a blob, CACHE/.locks/models--ORG--NAME/ETAG.lock, taken with flock as its
 * filelock does on Unix: two downloads of one file, ClipLab's or Python's, never write it at once.
 * Waits while another process holds it, polling the abort callback.  Returns the locked descriptor
 * (closing it unlocks), or -1 with ERROR set. */
static int
hub_lock_blob (Hub *hub, const HubFile *file, GError **error)
{
  g_autofree char *folder = g_path_get_basename (hub->repo_dir);
  g_autofree char *lock_dir = g_build_filename (hub->cache_dir, ".locks", folder, NULL);
  g_autofree char *name = g_strconcat (file->etag, ".lock", NULL);
  g_autofree char *path = g_build_filename (lock_dir, name, NULL);
  int fd = g_mkdir_with_parents (lock_dir, 0755) == 0 ? g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
  if (fd < 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot create: %s", path, g_strerror (errno));
      return -1;
    }
  while (flock (fd, LOCK_EX | LOCK_NB) != 0)
    {
      if (errno != EWOULDBLOCK && errno != EINTR)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot lock: %s", path, g_strerror (errno));
          close (fd);
          return -1;
        }
      if (!hub_wait (hub, 0.1))
        {
          set_aborted (error, hub->repo_id);
          close (fd);
          return -1;
        }
    }
  return fd;
}

static gboolean
blob_is_complete (const char *blob, int64_t size)
{
  GStatBuf st;
  return g_stat (blob, &st) == 0 && S_ISREG (st.st_mode) && st.st_size == size;
}

/* blobs/ETAG under its lock; another process may have completed it meanwhile. */
static gboolean
hub_fetch_blob_locked (Hub *hub, HubFile *file, const char *blob, GError **error)
{
  int lock = hub_lock_blob (hub, file, error);
  if (lock < 0)
    return FALSE;
  gboolean ok;
  if (blob_is_complete (blob, file->size))
    {
      hub->progress.file_done = file->size;
      hub->progress.done += file->size;
      ok = TRUE;
    }
  else
    ok = hub_fetch_blob (hub, file, blob, error);
  close (lock);
  return ok;
}

/* ---------------------------------------------------------------- the snapshot */

/* snapshots/COMMIT/PATH → ../../blobs/ETAG (one more "../" per folder in PATH), replaced atomically. */
static gboolean
link_snapshot (Hub *hub, const char *commit, const HubFile *file, GError **error)
{
  g_autofree char *link = g_build_filename (hub->repo_dir, "snapshots", commit, file->path, NULL);
  g_autofree char *link_dir = g_path_get_dirname (link);
  GString *target = g_string_new ("../../");
  for (const char *p = file->path; *p != '\0'; p++)
    if (*p == '/')
      g_string_append (target, "../");
  g_string_append_printf (target, "blobs/%s", file->etag);
  g_autofree char *target_str = g_string_free (target, FALSE);

  g_autofree char *existing = g_file_read_link (link, NULL);
  if (g_strcmp0 (existing, target_str) == 0)
    return TRUE;
  g_autofree char *tmp = g_strconcat (link, ".link-tmp", NULL);
  g_unlink (tmp);
  if (g_mkdir_with_parents (link_dir, 0755) != 0 || symlink (target_str, tmp) != 0 || g_rename (tmp, link) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot link to %s: %s", link, target_str,
                   g_strerror (errno));
      g_unlink (tmp);
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------- the download */

static void
hub_clear (Hub *hub)
{
  g_clear_object (&hub->session);
  g_clear_object (&hub->cancellable);
  g_clear_pointer (&hub->endpoint, g_uri_unref);
  g_clear_pointer (&hub->endpoint_url, g_free);
  g_clear_pointer (&hub->token, g_free);
  g_clear_pointer (&hub->token_source, g_free);
  g_clear_pointer (&hub->cache_dir, g_free);
  g_clear_pointer (&hub->repo_dir, g_free);
}

static gboolean
hub_connect (Hub *hub, GError **error)
{
  const char *endpoint = hub->options->endpoint;
  if (endpoint == NULL)
    endpoint = g_getenv ("HF_ENDPOINT");
  if (endpoint == NULL || *endpoint == '\0')
    endpoint = HUB_DEFAULT_ENDPOINT;
  hub->endpoint_url = g_strdup (endpoint);
  while (g_str_has_suffix (hub->endpoint_url, "/"))
    hub->endpoint_url[strlen (hub->endpoint_url) - 1] = '\0';
  GError *local_error = NULL;
  hub->endpoint = g_uri_parse (hub->endpoint_url, SOUP_HTTP_URI_FLAGS, &local_error);
  if (hub->endpoint == NULL || g_uri_get_host (hub->endpoint) == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "HF_ENDPOINT \"%s\" is not an http(s) URL%s%s",
                   endpoint, local_error != NULL ? ": " : "", local_error != NULL ? local_error->message : "");
      g_clear_error (&local_error);
      return FALSE;
    }
  const char *given = hub->options->token;
  if (given != NULL)
    {
      hub->token = *given != '\0' ? g_strstrip (g_strdup (given)) : NULL;
      hub->token_source = g_strdup ("the options");
    }
  else if (!clip_hub_read_token (&hub->token, &hub->token_source, error))
    return FALSE;
  hub->cancellable = hub->options->cancellable != NULL ? g_object_ref (hub->options->cancellable)
                                                        : g_cancellable_new ();
  hub->session = soup_session_new_with_options ("user-agent", HUB_USER_AGENT, "timeout", HUB_IO_TIMEOUT_S, NULL);
  /* No transparent gzip: offsets, sizes and hashes must be those of the bytes on the wire. */
  soup_session_remove_feature_by_type (hub->session, SOUP_TYPE_CONTENT_DECODER);
  return TRUE;
}

static gboolean
make_dirs (const char *repo_dir, const char *commit, GError **error)
{
  const char *const subdirs[] = { "blobs", "refs", "snapshots" };
  for (size_t i = 0; i <= G_N_ELEMENTS (subdirs); i++)
    {
      g_autofree char *dir = i < G_N_ELEMENTS (subdirs) ? g_build_filename (repo_dir, subdirs[i], NULL)
                                                        : g_build_filename (repo_dir, "snapshots", commit, NULL);
      if (g_mkdir_with_parents (dir, 0755) != 0)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot create: %s", dir, g_strerror (errno));
          return FALSE;
        }
    }
  return TRUE;
}

/* Every file's metadata, the totals for the progress, and which blobs are already there. */
static gboolean
hub_prepare (Hub *hub, const char *commit, GPtrArray *files, ClipHubResult *result, GError **error)
{
  hub->progress.n_files = (int) files->len;
  for (guint i = 0; i < files->len; i++)
    {
      HubFile *file = files->pdata[i];
      if (!hub_file_metadata (hub, commit, file, error))
        return FALSE;
      g_autofree char *blob = g_build_filename (hub->repo_dir, "blobs", file->etag, NULL);
      file->cached = blob_is_complete (blob, file->size);
      hub->progress.total += file->size;
      if (file->cached)
        result->cached_bytes += file->size;
    }
  return make_dirs (hub->repo_dir, commit, error);
}

static gboolean
hub_fetch_all (Hub *hub, const char *commit, GPtrArray *files, GError **error)
{
  hub->start_us = g_get_monotonic_time ();
  for (guint i = 0; i < files->len; i++)
    {
      HubFile *file = files->pdata[i];
      hub->progress.file = file->path;
      hub->progress.file_index = (int) i;
      hub->progress.file_size = file->size;
      hub->progress.file_done = 0;
      g_autofree char *blob = g_build_filename (hub->repo_dir, "blobs", file->etag, NULL);
      GError *local_error = NULL;
      if (file->cached)
        {
          hub->progress.file_done = file->size;
          hub->progress.done += file->size;
          hub_report (hub, TRUE);
        }
      else if (!hub_fetch_blob_locked (hub, file, blob, &local_error))
        {
          /* Disk errors name the blob; say which file of which model it was. */
          if (local_error->code == CLIP_ERROR_IO)
            g_prefix_error (&local_error, "%s: %s: ", hub->repo_id, file->path);
          g_propagate_error (error, local_error);
          return FALSE;
        }
      if (!link_snapshot (hub, commit, file, error))
        return FALSE;
    }
  hub_report (hub, TRUE);
  if (strcmp (hub->revision, commit) == 0)
    return TRUE;
  g_autofree char *ref = g_build_filename (hub->repo_dir, "refs", hub->revision, NULL);
  g_autofree char *ref_dir = g_path_get_dirname (ref);
  if (g_mkdir_with_parents (ref_dir, 0755) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot create: %s", ref_dir, g_strerror (errno));
      return FALSE;
    }
  return clip_hub_write_text (ref, commit, error);
}

static gboolean
hub_resolve_offline (Hub *hub, const char *cache, ClipHubResult *result, GError **error)
{
  GError *local_error = NULL;
  char *snapshot = clip_hub_resolve (hub->repo_id, hub->revision, cache, &local_error);
  if (snapshot == NULL)
    {
      g_propagate_prefixed_error (error, local_error, "offline (HF_HUB_OFFLINE), the cache only: ");
      return FALSE;
    }
  result->snapshot_dir = snapshot;
  result->commit = g_path_get_basename (snapshot);
  g_autoptr (GDir) listing = g_dir_open (snapshot, 0, NULL);
  const char *name;
  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (snapshot, name, NULL);
      GStatBuf st;
      if (g_stat (path, &st) == 0 && S_ISREG (st.st_mode))
        {
          result->n_files++;
          result->cached_bytes += st.st_size;
        }
    }
  return TRUE;
}

gboolean
clip_hub_download (const char *repo_id, const ClipHubOptions *options, ClipHubResult *result,
                   const ClipCallbacks *callbacks, GError **error)
{
  g_return_val_if_fail (repo_id != NULL, FALSE);
  ClipHubOptions defaults;
  if (options == NULL)
    {
      clip_hub_options_init (&defaults);
      options = &defaults;
    }
  g_autofree char *repo = NULL, *ref_revision = NULL;
  const char *revision = options->revision != NULL ? options->revision : "main";
  if (!clip_hub_parse_model_ref (repo_id, &repo, &ref_revision) || !clip_hub_is_safe_revision (revision))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "\"%s\" at \"%s\" is not a Hugging Face model id and "
                   "revision (expected ORG/NAME or ORG/NAME@REVISION)", repo_id, revision);
      return FALSE;
    }
  if (ref_revision != NULL && options->revision != NULL && strcmp (ref_revision, options->revision) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s names revision \"%s\" but \"%s\" is asked for too",
                   repo_id, ref_revision, options->revision);
      return FALSE;
    }
  if (ref_revision != NULL)
    revision = ref_revision;
  repo_id = repo;
  ClipHubResult local_result = { 0 };
  Hub hub = { .options = options, .callbacks = callbacks, .repo_id = repo_id, .revision = revision };
  hub.cache_dir = clip_hub_cache_dir (options->cache_dir);
  hub.repo_dir = clip_hub_repo_dir (hub.cache_dir, repo_id);

  gboolean ok;
  if (options->offline || clip_hub_env_offline ())
    ok = hub_resolve_offline (&hub, hub.cache_dir, &local_result, error);
  else
    {
      g_autofree char *commit = NULL;
      g_autoptr (GPtrArray) files = NULL;
      ok = hub_connect (&hub, error) && (files = hub_list_files (&hub, &commit, error)) != NULL
           && hub_prepare (&hub, commit, files, &local_result, error) && hub_fetch_all (&hub, commit, files, error);
      if (ok)
        {
          local_result.commit = g_steal_pointer (&commit);
          local_result.snapshot_dir = g_build_filename (hub.repo_dir, "snapshots", local_result.commit, NULL);
          local_result.n_files = (int) files->len;
          local_result.downloaded_bytes = hub.received;
          local_result.retries = hub.progress.retries;
        }
    }
  hub_clear (&hub);
  local_result.repo_id = g_strdup (repo_id);
  local_result.revision = g_strdup (revision);
  if (ok && result != NULL)
    *result = local_result;
  else
    clip_hub_result_clear (&local_result);
  return ok;
}
