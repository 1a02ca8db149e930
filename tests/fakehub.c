/* fakehub.c — a hub-like SoupServer on 127.0.0.1 for the download tests (see fakehub.h). */
#include "fakehub.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

typedef struct {
  char         *path;
  GBytes       *content;
  FakeFileFlags flags;
  char         *etag;    /* announced */
  int           cuts;    /* storage GETs still to cut */
} FakeFile;

typedef struct {
  char      *name;
  char      *commit;
  char      *token;
  GPtrArray *files;      /* FakeFile */
  GPtrArray *tags;       /* other names of the commit than "main" */
} FakeRepo;

struct _FakeHub {
  GMutex        lock;    /* repos and requests: the test thread adds, the server thread reads */
  GPtrArray    *repos;
  GPtrArray    *requests;
  GMainContext *context;
  GMainLoop    *loop;
  GThread      *thread;
  SoupServer   *server;
  char         *url;
  char         *storage_url;  /* another port of the same server: another origin, like the hub's CDN */
};

static void
fake_file_free (FakeFile *file)
{
  g_free (file->path);
  g_bytes_unref (file->content);
  g_free (file->etag);
  g_free (file);
}

static void
fake_repo_free (FakeRepo *repo)
{
  g_free (repo->name);
  g_free (repo->commit);
  g_free (repo->token);
  g_ptr_array_unref (repo->files);
  g_ptr_array_unref (repo->tags);
  g_free (repo);
}

static FakeRepo *
find_repo (FakeHub *hub, const char *name)
{
  for (guint i = 0; i < hub->repos->len; i++)
    if (strcmp (((FakeRepo *) hub->repos->pdata[i])->name, name) == 0)
      return hub->repos->pdata[i];
  return NULL;
}

static FakeFile *
find_file (FakeRepo *repo, const char *path)
{
  for (guint i = 0; i < repo->files->len; i++)
    if (strcmp (((FakeFile *) repo->files->pdata[i])->path, path) == 0)
      return repo->files->pdata[i];
  return NULL;
}

void
fake_hub_add_repo (FakeHub *hub, const char *repo, const char *commit, const char *token)
{
  FakeRepo *r = g_new0 (FakeRepo, 1);
  r->name = g_strdup (repo);
  r->commit = g_strdup (commit);
  r->token = g_strdup (token);
  r->files = g_ptr_array_new_with_free_func ((GDestroyNotify) fake_file_free);
  r->tags = g_ptr_array_new_with_free_func (g_free);
  g_mutex_lock (&hub->lock);
  g_ptr_array_add (hub->repos, r);
  g_mutex_unlock (&hub->lock);
}

void
fake_hub_add_tag (FakeHub *hub, const char *repo, const char *tag)
{
  g_mutex_lock (&hub->lock);
  FakeRepo *r = find_repo (hub, repo);
  g_assert (r != NULL);
  g_ptr_array_add (r->tags, g_strdup (tag));
  g_mutex_unlock (&hub->lock);
}

/* REVISION names the repository's commit: "main", a tag, or the commit itself. */
static gboolean
names_commit (FakeRepo *repo, const char *revision)
{
  if (strcmp (revision, "main") == 0 || strcmp (revision, repo->commit) == 0)
    return TRUE;
  for (guint i = 0; i < repo->tags->len; i++)
    if (strcmp (repo->tags->pdata[i], revision) == 0)
      return TRUE;
  return FALSE;
}

void
fake_hub_add_file (FakeHub *hub, const char *repo, const char *file, GBytes *content, FakeFileFlags flags, int cuts)
{
  FakeFile *f = g_new0 (FakeFile, 1);
  f->path = g_strdup (file);
  f->content = g_bytes_ref (content);
  f->flags = flags;
  f->cuts = cuts;
  gsize len;
  const guint8 *data = g_bytes_get_data (content, &len);
  if (flags & FAKE_FILE_LFS)
    {
      g_autoptr (GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
      g_checksum_update (sha, data, (gssize) len);
      if (flags & FAKE_FILE_WRONG_HASH)
        g_checksum_update (sha, (const guchar *) "x", 1);
      f->etag = g_strdup (g_checksum_get_string (sha));
    }
  else
    {
      g_autoptr (GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
      g_autofree char *header = g_strdup_printf ("blob %" G_GSIZE_FORMAT, len);
      g_checksum_update (sha1, (const guchar *) header, (gssize) strlen (header) + 1);
      g_checksum_update (sha1, data, (gssize) len);
      f->etag = g_strdup (g_checksum_get_string (sha1));
    }
  g_mutex_lock (&hub->lock);
  FakeRepo *r = find_repo (hub, repo);
  g_assert_nonnull (r);
  g_ptr_array_add (r->files, f);
  g_mutex_unlock (&hub->lock);
}

void
fake_hub_add_file_from (FakeHub *hub, const char *repo, const char *file, const char *path, FakeFileFlags flags)
{
  char *data;
  gsize len;
  g_autoptr (GError) error = NULL;
  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) content = g_bytes_new_take (data, len);
  fake_hub_add_file (hub, repo, file, content, flags, 0);
}

const char *
fake_hub_etag (FakeHub *hub, const char *repo, const char *file)
{
  g_mutex_lock (&hub->lock);
  FakeRepo *r = find_repo (hub, repo);
  FakeFile *f = r != NULL ? find_file (r, file) : NULL;
  g_mutex_unlock (&hub->lock);
  return f != NULL ? f->etag : NULL;
}

char **
fake_hub_requests (FakeHub *hub)
{
  g_mutex_lock (&hub->lock);
  GStrvBuilder *builder = g_strv_builder_new ();
  for (guint i = 0; i < hub->requests->len; i++)
    g_strv_builder_add (builder, hub->requests->pdata[i]);
  g_mutex_unlock (&hub->lock);
  char **lines = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return lines;
}

void
fake_hub_clear_requests (FakeHub *hub)
{
  g_mutex_lock (&hub->lock);
  g_ptr_array_set_size (hub->requests, 0);
  g_mutex_unlock (&hub->lock);
}

/* ---------------------------------------------------------------- answers */

static void
set_error (SoupServerMessage *msg, guint status, const char *code)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "X-Error-Code", code);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, code, strlen (code));
}

static gboolean
authorized (SoupServerMessage *msg, FakeRepo *repo)
{
  if (repo->token == NULL)
    return TRUE;
  const char *auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Authorization");
  g_autofree char *expected = g_strconcat ("Bearer ", repo->token, NULL);
  return g_strcmp0 (auth, expected) == 0;
}

static void
answer_revision (SoupServerMessage *msg, FakeRepo *repo)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, repo->name);
  json_builder_set_member_name (b, "sha");
  json_builder_add_string_value (b, repo->commit);
  json_builder_set_member_name (b, "siblings");
  json_builder_begin_array (b);
  for (guint i = 0; i < repo->files->len; i++)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "rfilename");
      json_builder_add_string_value (b, ((FakeFile *) repo->files->pdata[i])->path);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, FALSE);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, text, strlen (text));
}

static void
answer_resolve (FakeHub *hub, SoupServerMessage *msg, FakeRepo *repo, FakeFile *file)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (headers, "X-Repo-Commit", repo->commit);
  g_autofree char *quoted = g_strdup_printf ("\"%s\"", file->etag);
  if (file->flags & FAKE_FILE_LFS)
    {
      g_autofree char *size = g_strdup_printf ("%" G_GSIZE_FORMAT, g_bytes_get_size (file->content));
      g_autofree char *location = g_strdup_printf ("%s/storage/%s/%s", hub->storage_url, repo->name, file->etag);
      soup_message_headers_replace (headers, "ETag", "\"0123456789abcdef0123456789abcdef01234567\"");
      soup_message_headers_replace (headers, "X-Linked-Etag", quoted);
      soup_message_headers_replace (headers, "X-Linked-Size", size);
      soup_server_message_set_redirect (msg, SOUP_STATUS_FOUND, location);
      return;
    }
  soup_message_headers_replace (headers, "ETag", quoted);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                    g_bytes_get_data (file->content, NULL), g_bytes_get_size (file->content));
}

/* The answer for bytes FROM.. of FILE written on the raw connection: all of them, paced at about
 * 0.8 MB/s (SLOW), or only half and the connection closes (CUT). */
static void
answer_raw (SoupServerMessage *msg, FakeFile *file, gsize from, gboolean cut, gsize *sent)
{
  gsize len = g_bytes_get_size (file->content);
  g_autofree char *head = from > 0
    ? g_strdup_printf ("HTTP/1.1 206 Partial Content\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n"
                       "Content-Range: bytes %" G_GSIZE_FORMAT "-%" G_GSIZE_FORMAT "/%" G_GSIZE_FORMAT "\r\n\r\n",
                       len - from, from, len - 1, len)
    : g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n\r\n", len);
  g_autoptr (GIOStream) connection = soup_server_message_steal_connection (msg);
  GOutputStream *out = g_io_stream_get_output_stream (connection);
  const guint8 *data = (const guint8 *) g_bytes_get_data (file->content, NULL) + from;
  gsize count = cut ? (len - from) / 2 : len - from;
  gsize piece = cut ? count : 16 * 1024;
  *sent = 0;
  gboolean ok = g_output_stream_write_all (out, head, strlen (head), NULL, NULL, NULL);
  while (ok && *sent < count)
    {
      gsize n = MIN (piece, count - *sent), written = 0;
      ok = g_output_stream_write_all (out, data + *sent, n, &written, NULL, NULL);
      *sent += written;
      if (!cut)
        g_usleep (20 * 1000);
    }
  g_io_stream_close (connection, NULL, NULL);
}

static void
answer_storage (SoupServerMessage *msg, FakeFile *file, gsize *sent)
{
  gsize len = g_bytes_get_size (file->content);
  const char *range = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Range");
  gsize from = 0;
  if (range != NULL && g_str_has_prefix (range, "bytes="))
    from = (gsize) g_ascii_strtoull (range + 6, NULL, 10);
  if (from >= len && len > 0)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE, NULL);
      return;
    }
  gboolean is_get = strcmp (soup_server_message_get_method (msg), "GET") == 0;
  if (is_get && (file->cuts > 0 || (file->flags & FAKE_FILE_SLOW)))
    {
      gboolean cut = file->cuts > 0;
      file->cuts -= cut;
      answer_raw (msg, file, from, cut, sent);
      return;
    }
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  if (from > 0)
    {
      soup_message_headers_set_content_range (headers, (goffset) from, (goffset) len - 1, (goffset) len);
      soup_server_message_set_status (msg, SOUP_STATUS_PARTIAL_CONTENT, NULL);
    }
  else
    soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                    (const char *) g_bytes_get_data (file->content, NULL) + from, len - from);
  *sent = is_get ? len - from : 0;
}

static FakeFile *
find_storage (FakeHub *hub, const char *org, const char *name, const char *key)
{
  g_autofree char *repo_name = g_strjoin ("/", org, name, NULL);
  FakeRepo *repo = find_repo (hub, repo_name);
  for (guint j = 0; repo != NULL && j < repo->files->len; j++)
    if (strcmp (((FakeFile *) repo->files->pdata[j])->etag, key) == 0)
      return repo->files->pdata[j];
  return NULL;
}

/* /api/models/ORG/NAME/revision/REV, /ORG/NAME/resolve/REV/FILE… and /storage/ORG/NAME/ETAG. */
static void
route (FakeHub *hub, SoupServerMessage *msg, char **parts, int n, gsize *sent)
{
  if (n == 4 && strcmp (parts[0], "storage") == 0)
    {
      FakeFile *file = find_storage (hub, parts[1], parts[2], parts[3]);
      if (file != NULL)
        answer_storage (msg, file, sent);
      else
        set_error (msg, SOUP_STATUS_NOT_FOUND, "EntryNotFound");
      return;
    }
  gboolean api = n == 6 && strcmp (parts[0], "api") == 0 && strcmp (parts[1], "models") == 0
                 && strcmp (parts[4], "revision") == 0;
  gboolean resolve = n >= 5 && strcmp (parts[2], "resolve") == 0;
  if (!api && !resolve)
    {
      set_error (msg, SOUP_STATUS_NOT_FOUND, "NotFound");
      return;
    }
  g_autofree char *name = api ? g_strjoin ("/", parts[2], parts[3], NULL) : g_strjoin ("/", parts[0], parts[1], NULL);
  const char *revision = api ? parts[5] : parts[3];
  FakeRepo *repo = find_repo (hub, name);
  if (repo == NULL)
    set_error (msg, SOUP_STATUS_NOT_FOUND, "RepoNotFound");
  else if (!authorized (msg, repo))
    set_error (msg, SOUP_STATUS_UNAUTHORIZED, "GatedRepo");
  else if (!names_commit (repo, revision))
    set_error (msg, SOUP_STATUS_NOT_FOUND, "RevisionNotFound");
  else if (api)
    answer_revision (msg, repo);
  else
    {
      g_autofree char *path = g_strjoinv ("/", parts + 4);
      FakeFile *file = find_file (repo, path);
      if (file == NULL)
        set_error (msg, SOUP_STATUS_NOT_FOUND, "EntryNotFound");
      else
        answer_resolve (hub, msg, repo, file);
    }
}

static void
handle (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  FakeHub *hub = user_data;
  g_auto (GStrv) raw = g_strsplit (path + 1, "/", -1);
  int n = (int) g_strv_length (raw);
  for (int i = 0; i < n; i++)
    {
      char *unescaped = g_uri_unescape_string (raw[i], NULL);
      g_free (raw[i]);
      raw[i] = unescaped != NULL ? unescaped : g_strdup ("");
    }
  SoupMessageHeaders *request = soup_server_message_get_request_headers (msg);
  const char *range = soup_message_headers_get_one (request, "Range");
  gboolean auth = soup_message_headers_get_one (request, "Authorization") != NULL;

  g_mutex_lock (&hub->lock);
  gsize sent = 0;
  route (hub, msg, raw, n, &sent);
  GString *line = g_string_new (NULL);
  g_string_printf (line, "%s %s", soup_server_message_get_method (msg), path);
  if (range != NULL)
    g_string_append_printf (line, " range=%s", range);
  if (auth)
    g_string_append (line, " auth");
  if (n == 4 && strcmp (raw[0], "storage") == 0 && strcmp (soup_server_message_get_method (msg), "GET") == 0)
    g_string_append_printf (line, " sent=%" G_GSIZE_FORMAT, sent);
  g_ptr_array_add (hub->requests, g_string_free (line, FALSE));
  g_mutex_unlock (&hub->lock);
}

/* ---------------------------------------------------------------- the server */

/* Runs the server until fake_hub_stop, then closes it and its connections in its own context, which
 * is iterated until their sources are gone. */
static gpointer
serve (gpointer data)
{
  FakeHub *hub = data;
  g_main_context_push_thread_default (hub->context);
  g_main_loop_run (hub->loop);
  soup_server_disconnect (hub->server);
  g_clear_object (&hub->server);
  while (g_main_context_iteration (hub->context, FALSE))
    ;
  g_main_context_pop_thread_default (hub->context);
  return NULL;
}

FakeHub *
fake_hub_start (void)
{
  FakeHub *hub = g_new0 (FakeHub, 1);
  g_mutex_init (&hub->lock);
  hub->repos = g_ptr_array_new_with_free_func ((GDestroyNotify) fake_repo_free);
  hub->requests = g_ptr_array_new_with_free_func (g_free);
  hub->context = g_main_context_new ();
  hub->loop = g_main_loop_new (hub->context, FALSE);

  /* The listening socket's sources attach to the context that is thread-default when it listens. */
  g_main_context_push_thread_default (hub->context);
  hub->server = soup_server_new ("server-header", "fakehub", NULL);
  soup_server_add_handler (hub->server, NULL, handle, hub, NULL);
  g_autoptr (GError) error = NULL;
  for (int i = 0; i < 2; i++)
    {
      soup_server_listen_local (hub->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
      g_assert_no_error (error);
    }
  g_main_context_pop_thread_default (hub->context);

  GSList *uris = soup_server_get_uris (hub->server);
  g_assert_cmpuint (g_slist_length (uris), ==, 2);
  hub->url = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (uris->data));
  hub->storage_url = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (uris->next->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  hub->thread = g_thread_new ("fakehub", serve, hub);
  return hub;
}

const char *
fake_hub_url (FakeHub *hub)
{
  return hub->url;
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

void
fake_hub_stop (FakeHub *hub)
{
  g_main_context_invoke (hub->context, quit_loop, hub->loop);
  g_thread_join (hub->thread);
  g_main_loop_unref (hub->loop);
  g_main_context_unref (hub->context);
  g_ptr_array_unref (hub->repos);
  g_ptr_array_unref (hub->requests);
  g_mutex_clear (&hub->lock);
  g_free (hub->url);
  g_free (hub->storage_url);
  g_free (hub);
}
