/* Hugging Face hub downloads against a hub-like server on 127.0.0.1 (fakehub.c): the cache layout,
 * redirects to the storage path, a connection cut half-way, a cancelled download resumed later, a
 * wrong hash, 401, 404, no network, offline mode, and the tiny golden model loaded from the cache
 * encoding exactly as when loaded directly. */
#include "fakehub.h"
#include "testutil.h"

#include "clip-private.h"
#include "safetensors.h"

#include <glib/gstdio.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>
#include <utime.h>

#define TINY "golden/models/tiny_quickgelu/hf"
#define COMMIT_TINY  "1111111111111111111111111111111111111111"
#define COMMIT_OTHER "2222222222222222222222222222222222222222"

static FakeHub *hub;

/* The tiny golden model as a hub repository, with files ClipLab must not fetch beside it. */
static void
add_tiny_repo (const char *repo, const char *commit, const char *token, int cuts)
{
  g_autofree char *dir = tu_shared_path (TINY);
  g_autofree char *config = g_build_filename (dir, "config.json", NULL);
  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  fake_hub_add_repo (hub, repo, commit, token);
  fake_hub_add_file_from (hub, repo, "config.json", config, 0);
  const char *preprocessor = "{\"crop_size\": {\"height\": 64, \"width\": 64}, \"do_center_crop\": true, "
                             "\"image_mean\": [0.48145466, 0.4578275, 0.40821073], "
                             "\"image_std\": [0.26862954, 0.26130258, 0.27577711], \"resample\": 3, "
                             "\"size\": {\"shortest_edge\": 64}}";
  g_autoptr (GBytes) pre = g_bytes_new_static (preprocessor, strlen (preprocessor));
  fake_hub_add_file (hub, repo, "preprocessor_config.json", pre, 0, 0);
  char *data;
  gsize len;
  g_assert_true (g_file_get_contents (weights, &data, &len, NULL));
  g_autoptr (GBytes) content = g_bytes_new_take (data, len);
  fake_hub_add_file (hub, repo, "model.safetensors", content, FAKE_FILE_LFS, cuts);
  g_autoptr (GBytes) pickle = g_bytes_new_static ("not read", 8);
  fake_hub_add_file (hub, repo, "pytorch_model.bin", pickle, FAKE_FILE_LFS, 0);
  g_autoptr (GBytes) readme = g_bytes_new_static ("# tiny", 6);
  fake_hub_add_file (hub, repo, "README.md", readme, 0, 0);
}

static char *
new_cache (void)
{
  static int counter;
  char *dir = g_strdup_printf ("%s/cache-%d", tu_tmpdir (), ++counter);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

static void
init_options (ClipHubOptions *options, const char *cache)
{
  clip_hub_options_init (options);
  options->endpoint = fake_hub_url (hub);
  options->cache_dir = cache;
  options->retry_delay = 0.05;
  options->token = "";   /* never the tester's own HF_TOKEN */
}

static int
count_matching (char **requests, const char *prefix)
{
  int n = 0;
  for (char **r = requests; *r != NULL; r++)
    n += g_str_has_prefix (*r, prefix);
  return n;
}

/* Embeddings of the reference images and token ids, which must be bit-identical between loads. */
static void
encode_reference (ClipModel *model, float *image, float *text)
{
  g_autoptr (GError) error = NULL;
  const ClipConfig *config = clip_model_get_config (model);
  int s = config->image_size, ctx = config->context_length;
  /* Deterministic inputs: the values need not be the golden ones to compare two loads. */
  g_autofree float *pixels = g_new (float, 2 * 3 * s * s);
  for (int i = 0; i < 2 * 3 * s * s; i++)
    pixels[i] = (float) ((i * 37) % 101 - 50) / 50.0f;
  g_autofree int32_t *ids = g_new0 (int32_t, 2 * ctx);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 6; j++)
      ids[i * ctx + j] = j == 5 ? config->vocab_size - 1 : 1 + (i * 7 + j * 13) % 900;
  g_assert_true (clip_model_encode_images (model, pixels, 2, image, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (clip_model_encode_token_ids (model, ids, 2, ctx, text, NULL, &error));
  g_assert_no_error (error);
}

/* ---------------------------------------------------------------- tests */

static void
test_repo_ids (void)
{
  g_assert_true (clip_hub_is_repo_id ("openai/clip-vit-base-patch32"));
  g_assert_true (clip_hub_is_repo_id ("laion/CLIP-ViT-B-32-laion2B-s34B-b79K"));
  g_assert_false (clip_hub_is_repo_id ("model.safetensors"));
  g_assert_false (clip_hub_is_repo_id ("a/b/c"));
  g_assert_false (clip_hub_is_repo_id ("../etc"));
  g_assert_false (clip_hub_is_repo_id ("org/na--me"));
  g_assert_false (clip_hub_is_repo_id ("/abs/path"));
  g_assert_false (clip_hub_is_repo_id ("org/-name"));
  g_assert_null (clip_hub_get_progress ());   /* no download running */

  g_setenv ("HF_HUB_CACHE", "/x/hub", TRUE);
  g_autofree char *a = clip_hub_cache_dir (NULL);
  g_assert_cmpstr (a, ==, "/x/hub");
  g_unsetenv ("HF_HUB_CACHE");
  g_setenv ("HF_HOME", "/y", TRUE);
  g_autofree char *b = clip_hub_cache_dir (NULL);
  g_assert_cmpstr (b, ==, "/y/hub");
  g_unsetenv ("HF_HOME");
  g_autofree char *c = clip_hub_cache_dir ("/z");
  g_assert_cmpstr (c, ==, "/z");

  int n;
  const ClipHubCatalogEntry *catalog = clip_hub_catalog (&n);
  g_assert_cmpint (n, >=, 4);
  const char *wanted[] = { "openai/clip-vit-base-patch32", "openai/clip-vit-base-patch16",
                           "openai/clip-vit-large-patch14", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" };
  for (size_t w = 0; w < G_N_ELEMENTS (wanted); w++)
    {
      gboolean found = FALSE;
      for (int i = 0; i < n; i++)
        if (strcmp (catalog[i].repo_id, wanted[w]) == 0)
          {
            found = TRUE;
            g_assert_cmpint (catalog[i].download_bytes, >, 500000000);
            g_assert_cmpuint (strlen (catalog[i].description), >, 20);
          }
      g_assert_true (found);
    }
}

static void
test_download_and_load (void)
{
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  fake_hub_clear_requests (hub);
  ClipHubResult result = { 0 };
  g_autoptr (GError) error = NULL;
  g_assert_true (clip_hub_download ("test/tiny-clip", &options, &result, NULL, &error));
  g_assert_no_error (error);

  g_autofree char *snapshot = g_build_filename (cache, "models--test--tiny-clip", "snapshots", COMMIT_TINY, NULL);
  g_assert_cmpstr (result.commit, ==, COMMIT_TINY);
  g_assert_cmpstr (result.snapshot_dir, ==, snapshot);
  g_assert_cmpstr (result.revision, ==, "main");
  g_assert_cmpint (result.n_files, ==, 3);
  g_assert_cmpint (result.cached_bytes, ==, 0);
  g_assert_cmpint (result.retries, ==, 0);

  /* huggingface_hub's layout: relative links to blobs named by ETag, refs/main holding the commit. */
  g_autofree char *link = g_build_filename (snapshot, "model.safetensors", NULL);
  g_autofree char *target = g_file_read_link (link, NULL);
  g_autofree char *want_target = g_strconcat ("../../blobs/", fake_hub_etag (hub, "test/tiny-clip",
                                                                               "model.safetensors"), NULL);
  g_assert_cmpstr (target, ==, want_target);
  g_autofree char *config_link = g_build_filename (snapshot, "config.json", NULL);
  g_autofree char *config_target = g_file_read_link (config_link, NULL);
  g_assert_true (g_str_has_suffix (config_target, fake_hub_etag (hub, "test/tiny-clip", "config.json")));
  g_autofree char *ref_path = g_build_filename (cache, "models--test--tiny-clip", "refs", "main", NULL);
  g_autofree char *ref = NULL;
  g_assert_true (g_file_get_contents (ref_path, &ref, NULL, NULL));
  g_assert_cmpstr (ref, ==, COMMIT_TINY);
  g_autofree char *pickle = g_build_filename (snapshot, "pytorch_model.bin", NULL);
  g_assert_false (g_file_test (pickle, G_FILE_TEST_EXISTS));

  /* Only the needed files were asked for; the storage path never saw the token (there is none here,
   * see test_gated) and got one GET for the weights. */
  g_auto (GStrv) requests = fake_hub_requests (hub);
  g_assert_cmpint (count_matching (requests, "GET /api/models/test/tiny-clip/revision/main"), ==, 1);
  g_assert_cmpint (count_matching (requests, "HEAD /test/tiny-clip/resolve/" COMMIT_TINY "/"), ==, 3);
  g_assert_cmpint (count_matching (requests, "GET /storage/"), ==, 1);
  for (char **r = requests; *r != NULL; r++)
    g_assert_null (strstr (*r, "pytorch_model.bin"));
  g_assert_cmpint (result.downloaded_bytes, >, 1000000);

  /* The model loads from the snapshot and by its id, and encodes exactly as the golden directory. */
  g_autofree char *golden = tu_shared_path (TINY);
  g_autoptr (ClipModel) direct = clip_model_load (golden, NULL, &error);
  g_assert_no_error (error);
  g_setenv ("HF_HUB_CACHE", cache, TRUE);
  g_autoptr (ClipModel) by_id = clip_model_load ("test/tiny-clip", NULL, &error);
  g_unsetenv ("HF_HUB_CACHE");
  g_assert_no_error (error);
  g_assert_cmpint (clip_model_get_layout (by_id), ==, CLIP_LAYOUT_HF_DIR);
  g_assert_cmpmem (clip_model_get_preprocess (by_id), sizeof (ClipPreprocess), clip_model_get_preprocess (direct),
                   sizeof (ClipPreprocess));
  int dim = clip_model_get_config (direct)->embed_dim;
  g_autofree float *image_a = g_new (float, 2 * dim), *text_a = g_new (float, 2 * dim);
  g_autofree float *image_b = g_new (float, 2 * dim), *text_b = g_new (float, 2 * dim);
  encode_reference (direct, image_a, text_a);
  encode_reference (by_id, image_b, text_b);
  g_assert_cmpmem (image_a, 2 * dim * sizeof (float), image_b, 2 * dim * sizeof (float));
  g_assert_cmpmem (text_a, 2 * dim * sizeof (float), text_b, 2 * dim * sizeof (float));

  /* A second download finds everything in the cache and transfers nothing. */
  fake_hub_clear_requests (hub);
  ClipHubResult again = { 0 };
  g_assert_true (clip_hub_download ("test/tiny-clip", &options, &again, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (again.downloaded_bytes, ==, 0);
  g_assert_cmpint (again.cached_bytes, ==, result.downloaded_bytes);
  g_auto (GStrv) requests2 = fake_hub_requests (hub);
  g_assert_cmpint (count_matching (requests2, "GET /storage/"), ==, 0);

  /* The cache lists it, and not a model of another kind transformers left beside it. */
  g_autofree char *bert = g_build_filename (cache, "models--google--bert-base", "snapshots", COMMIT_OTHER, NULL);
  g_assert_cmpint (g_mkdir_with_parents (bert, 0755), ==, 0);
  g_autofree char *bert_config = g_build_filename (bert, "config.json", NULL);
  g_autofree char *bert_weights = g_build_filename (bert, "model.safetensors", NULL);
  const char *bert_json = "{\"model_type\": \"bert\"}";
  tu_write_file (bert_config, bert_json, strlen (bert_json));
  tu_write_file (bert_weights, "weights", 7);
  g_autoptr (GPtrArray) cached = clip_hub_list_cached (cache, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cached->len, ==, 1);
  ClipHubCachedModel *m = cached->pdata[0];
  g_assert_cmpstr (m->repo_id, ==, "test/tiny-clip");
  g_assert_cmpstr (m->commit, ==, COMMIT_TINY);
  g_assert_cmpstr (m->refs, ==, "main");
  g_assert_cmpint (m->size, ==, result.downloaded_bytes);
  g_assert_cmpint (m->layout, ==, CLIP_LAYOUT_HF_DIR);
  clip_hub_result_clear (&result);
  clip_hub_result_clear (&again);
}

typedef struct {
  int     calls;
  int64_t last_done, total;
  int     max_retries;
  const char *partial;    /* abort once this file holds ABORT_AFTER bytes; NULL = never */
  int64_t abort_after;
} Watch;

static void
watch_progress (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  Watch *w = user_data;
  const ClipHubProgress *p = clip_hub_get_progress ();
  g_assert_nonnull (p);
  g_assert_cmpstr (what, ==, p->file);
  g_assert_cmpint (done, ==, p->done);
  g_assert_cmpint (total, ==, p->total);
  w->calls++;
  g_assert_cmpint (p->done, >=, 0);
  g_assert_cmpint (p->done, <=, p->total);
  g_assert_cmpint (p->file_done, <=, p->file_size);
  g_assert_cmpint (p->file_index, <, p->n_files);
  w->last_done = p->done;
  w->total = p->total;
  w->max_retries = MAX (w->max_retries, p->retries);
}

static gboolean
watch_abort (gpointer user_data)
{
  Watch *w = user_data;
  GStatBuf st;
  return w->partial != NULL && g_stat (w->partial, &st) == 0 && st.st_size >= w->abort_after;
}

/* The first storage GET of the weights is cut after half its bytes: the download resumes with a
 * Range request for the rest and the result verifies. */
static void
test_cut_connection (void)
{
  add_tiny_repo ("test/cut", COMMIT_TINY, NULL, 1);
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  Watch watch = { 0 };
  ClipCallbacks callbacks = { watch_progress, watch_abort, &watch };
  fake_hub_clear_requests (hub);
  ClipHubResult result = { 0 };
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_assert_true (clip_hub_download ("test/cut", &options, &result, &callbacks, &error));
  g_assert_no_error (error);
  double seconds = (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;
  g_assert_cmpint (result.retries, ==, 1);
  g_assert_cmpint (watch.max_retries, ==, 1);
  g_assert_cmpint (watch.last_done, ==, watch.total);

  g_autofree char *golden = tu_shared_path (TINY "/model.safetensors");
  GStatBuf st;
  g_assert_cmpint (g_stat (golden, &st), ==, 0);
  gsize size = (gsize) st.st_size, half = size / 2;
  g_auto (GStrv) requests = fake_hub_requests (hub);
  g_assert_cmpint (count_matching (requests, "GET /storage/"), ==, 2);
  g_autofree char *first = NULL, *second = NULL;
  for (char **r = requests; *r != NULL; r++)
    if (g_str_has_prefix (*r, "GET /storage/"))
      {
        if (first == NULL)
          first = g_strdup (*r);
        else
          second = g_strdup (*r);
      }
  g_autofree char *first_want = g_strdup_printf (" sent=%" G_GSIZE_FORMAT, half);
  g_autofree char *second_want = g_strdup_printf (" range=bytes=%" G_GSIZE_FORMAT "- sent=%" G_GSIZE_FORMAT, half,
                                                  size - half);
  g_assert_true (g_str_has_suffix (first, first_want));
  g_assert_null (strstr (first, "range="));
  g_assert_true (g_str_has_suffix (second, second_want));
  /* Every byte crossed the wire once: the resumed request asked only for the missing half. */
  g_assert_cmpint (result.downloaded_bytes, ==, watch.total);

  g_autofree char *blob = g_build_filename (result.snapshot_dir, "model.safetensors", NULL);
  g_autofree char *got = NULL, *want = NULL;
  gsize got_len, want_len;
  g_assert_true (g_file_get_contents (blob, &got, &got_len, NULL));
  g_assert_true (g_file_get_contents (golden, &want, &want_len, NULL));
  g_assert_cmpmem (got, got_len, want, want_len);
  g_test_message ("cut after %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes; resumed with Range bytes=%"
                  G_GSIZE_FORMAT "- for the other %" G_GSIZE_FORMAT "; SHA-256 verified; %d retry; %.2f s in all "
                  "(retry delay %.2f s)", half, size, half, size - half, result.retries, seconds, options.retry_delay);
  clip_hub_result_clear (&result);
}

/* A connection that breaks every time: max_retries resumed attempts, then a network error; the
 * bytes received so far stay in blobs/ETAG.incomplete (each attempt went further). */
static void
test_cut_every_time (void)
{
  add_tiny_repo ("test/flaky", COMMIT_TINY, NULL, 100);
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  options.max_retries = 2;
  fake_hub_clear_requests (hub);
  g_autoptr (GError) error = NULL;
  g_assert_false (clip_hub_download ("test/flaky", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, "gave up after 2 retries"));
  g_assert_nonnull (strstr (error->message, "the connection broke after"));
  g_auto (GStrv) requests = fake_hub_requests (hub);
  g_assert_cmpint (count_matching (requests, "GET /storage/"), ==, 3);
  /* Halves of what is left: 1/2, then 3/4, then 7/8 of the file. */
  g_autofree char *incomplete = g_strdup_printf ("%s/models--test--flaky/blobs/%s.incomplete", cache,
                                                 fake_hub_etag (hub, "test/flaky", "model.safetensors"));
  GStatBuf st;
  g_assert_cmpint (g_stat (incomplete, &st), ==, 0);
  gsize size = 1046676, half = size / 2, three_quarters = half + (size - half) / 2;
  g_assert_cmpint (st.st_size, ==, three_quarters + (size - three_quarters) / 2);
}

/* Cancelled half-way (Ctrl-C in the command): only blobs/ETAG.incomplete stays, nothing in the
 * snapshot or refs; the next download asks for the rest only. */
static void
test_abort_then_resume (void)
{
  g_autoptr (GBytes) big = NULL;
  {
    gsize len = 3 * 1024 * 1024;
    guint8 *data = g_malloc (len);
    for (gsize i = 0; i < len; i++)
      data[i] = (guint8) ((i * 2654435761u) >> 13);
    big = g_bytes_new_take (data, len);
  }
  fake_hub_add_repo (hub, "test/big", COMMIT_OTHER, NULL);
  g_autoptr (GBytes) config = g_bytes_new_static ("{}", 2);
  fake_hub_add_file (hub, "test/big", "config.json", config, 0, 0);
  fake_hub_add_file (hub, "test/big", "model.safetensors", big, FAKE_FILE_LFS, 0);
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  const char *etag = fake_hub_etag (hub, "test/big", "model.safetensors");
  g_autofree char *repo = g_build_filename (cache, "models--test--big", NULL);
  g_autofree char *incomplete = g_strdup_printf ("%s/blobs/%s.incomplete", repo, etag);
  Watch watch = { .partial = incomplete, .abort_after = 1024 * 1024 };
  ClipCallbacks callbacks = { watch_progress, watch_abort, &watch };
  g_autoptr (GError) error = NULL;
  g_assert_false (clip_hub_download ("test/big", &options, NULL, &callbacks, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED);
  g_clear_error (&error);
  g_autofree char *blob = g_strdup_printf ("%s/blobs/%s", repo, etag);
  g_autofree char *weights_link = g_strdup_printf ("%s/snapshots/%s/model.safetensors", repo, COMMIT_OTHER);
  g_autofree char *ref = g_strdup_printf ("%s/refs/main", repo);
  GStatBuf st;
  g_assert_cmpint (g_stat (incomplete, &st), ==, 0);
  gint64 kept = st.st_size;
  g_assert_cmpint (kept, >=, 1024 * 1024);
  g_assert_cmpint (kept, <, (gint64) g_bytes_get_size (big));
  g_assert_false (g_file_test (blob, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (weights_link, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (ref, G_FILE_TEST_EXISTS));
  g_autofree char *resolved = clip_hub_resolve ("test/big", NULL, cache, &error);
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_clear_error (&error);

  fake_hub_clear_requests (hub);
  ClipHubResult result = { 0 };
  g_assert_true (clip_hub_download ("test/big", &options, &result, NULL, &error));
  g_assert_no_error (error);
  g_auto (GStrv) requests = fake_hub_requests (hub);
  g_autofree char *want = g_strdup_printf ("GET /storage/test/big/%s range=bytes=%" G_GINT64_FORMAT "- sent=%" G_GINT64_FORMAT,
                                           etag, kept, (gint64) g_bytes_get_size (big) - kept);
  g_assert_cmpint (count_matching (requests, want), ==, 1);
  g_assert_true (g_file_test (blob, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (incomplete, G_FILE_TEST_EXISTS));
  g_assert_cmpint (result.downloaded_bytes, ==, (gint64) g_bytes_get_size (big) - kept);
  clip_hub_result_clear (&result);
}

/* Bytes that do not match the announced SHA-256: an error, and nothing kept anywhere. */
static void
test_wrong_hash (void)
{
  fake_hub_add_repo (hub, "test/bad-hash", COMMIT_OTHER, NULL);
  g_autoptr (GBytes) config = g_bytes_new_static ("{}", 2);
  g_autoptr (GBytes) weights = g_bytes_new_static ("these are not the announced bytes", 33);
  fake_hub_add_file (hub, "test/bad-hash", "config.json", config, 0, 0);
  fake_hub_add_file (hub, "test/bad-hash", "model.safetensors", weights, FAKE_FILE_LFS | FAKE_FILE_WRONG_HASH, 0);
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  g_autoptr (GError) error = NULL;
  g_assert_false (clip_hub_download ("test/bad-hash", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "does not match its hash"));
  g_assert_nonnull (strstr (error->message, "model.safetensors"));

  g_autofree char *blobs = g_build_filename (cache, "models--test--bad-hash", "blobs", NULL);
  g_autoptr (GDir) dir = g_dir_open (blobs, 0, NULL);
  const char *name;
  int n_blobs = 0;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_assert_false (g_str_has_prefix (name, fake_hub_etag (hub, "test/bad-hash", "model.safetensors")));
      n_blobs++;
    }
  g_assert_cmpint (n_blobs, ==, 1);  /* config.json only */
  g_autofree char *ref = g_build_filename (cache, "models--test--bad-hash", "refs", "main", NULL);
  g_assert_false (g_file_test (ref, G_FILE_TEST_EXISTS));
}

static void
test_gated (void)
{
  add_tiny_repo ("test/gated", COMMIT_TINY, "secret-token", 0);
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  g_autoptr (GError) error = NULL;
  g_assert_false (clip_hub_download ("test/gated", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_DENIED);
  g_assert_nonnull (strstr (error->message, "401"));
  g_assert_nonnull (strstr (error->message, "HF_TOKEN"));
  g_clear_error (&error);

  options.token = "wrong";
  g_assert_false (clip_hub_download ("test/gated", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_DENIED);
  g_assert_nonnull (strstr (error->message, "has no access"));
  g_clear_error (&error);

  /* With the token (here from HF_TOKEN): the hub gets it, the storage host never does. */
  options.token = NULL;
  g_setenv ("HF_TOKEN", "secret-token", TRUE);
  fake_hub_clear_requests (hub);
  g_assert_true (clip_hub_download ("test/gated", &options, NULL, NULL, &error));
  g_unsetenv ("HF_TOKEN");
  g_assert_no_error (error);
  g_auto (GStrv) requests = fake_hub_requests (hub);
  g_assert_cmpint (count_matching (requests, "GET /storage/"), ==, 1);
  for (char **r = requests; *r != NULL; r++)
    if (g_str_has_prefix (*r, "GET /storage/"))
      g_assert_null (strstr (*r, " auth"));
    else
      g_assert_nonnull (strstr (*r, " auth"));
}

static void
test_missing (void)
{
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  g_autoptr (GError) error = NULL;
  g_assert_false (clip_hub_download ("test/no-such-model", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "test/no-such-model"));
  g_assert_nonnull (strstr (error->message, "no such model repository"));
  g_clear_error (&error);

  options.revision = "v9";
  g_assert_false (clip_hub_download ("test/tiny-clip", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "no revision \"v9\""));
  g_clear_error (&error);

  /* A repository with only PyTorch weights is refused before any download. */
  fake_hub_add_repo (hub, "test/only-bin", COMMIT_OTHER, NULL);
  g_autoptr (GBytes) small = g_bytes_new_static ("{}", 2);
  fake_hub_add_file (hub, "test/only-bin", "config.json", small, 0, 0);
  fake_hub_add_file (hub, "test/only-bin", "pytorch_model.bin", small, FAKE_FILE_LFS, 0);
  options.revision = NULL;
  g_assert_false (clip_hub_download ("test/only-bin", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, ".safetensors"));
  g_clear_error (&error);

  g_assert_false (clip_hub_download ("not a repo", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
}

static void
test_no_network (void)
{
  /* A port nothing listens on: bound then closed. */
  g_autoptr (GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_assert_true (g_socket_bind (socket, any, TRUE, NULL));
  g_autoptr (GSocketAddress) bound = g_socket_get_local_address (socket, NULL);
  int port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_socket_close (socket, NULL);
  g_autofree char *endpoint = g_strdup_printf ("http://127.0.0.1:%d", port);

  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  options.endpoint = endpoint;
  g_autoptr (GError) error = NULL;
  g_assert_false (clip_hub_download ("test/tiny-clip", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, "cannot reach"));
}

/* HF_HUB_OFFLINE=1: the cache answers, the server is never asked; a model not in the cache fails. */
static void
test_offline (void)
{
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  g_autoptr (GError) error = NULL;
  g_assert_true (clip_hub_download ("test/tiny-clip", &options, NULL, NULL, &error));
  g_assert_no_error (error);

  fake_hub_clear_requests (hub);
  g_setenv ("HF_HUB_OFFLINE", "1", TRUE);
  g_setenv ("HF_HUB_CACHE", cache, TRUE);
  ClipHubResult result = { 0 };
  options.cache_dir = NULL;
  g_assert_true (clip_hub_download ("test/tiny-clip", &options, &result, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (result.commit, ==, COMMIT_TINY);
  g_assert_cmpint (result.n_files, ==, 3);
  g_assert_cmpint (result.downloaded_bytes, ==, 0);
  g_autoptr (ClipModel) model = clip_model_load ("test/tiny-clip", NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);

  g_assert_false (clip_hub_download ("test/gated", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "offline"));
  g_clear_error (&error);
  g_assert_null (clip_model_load ("test/gated", NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "model download test/gated"));
  g_unsetenv ("HF_HUB_OFFLINE");
  g_unsetenv ("HF_HUB_CACHE");

  g_auto (GStrv) requests = fake_hub_requests (hub);
  g_assert_cmpuint (g_strv_length (requests), ==, 0);
  clip_hub_result_clear (&result);
}


typedef struct {
  int  lock_fd;           /* held by "another process" until the download has waited a while */
  int  polls;
  int  storage_gets_at_release;
} LockWatch;

static gboolean
release_lock_later (gpointer user_data)
{
  LockWatch *w = user_data;
  if (w->lock_fd >= 0 && ++w->polls >= 5)
    {
      g_auto (GStrv) requests = fake_hub_requests (hub);
      w->storage_gets_at_release = count_matching (requests, "GET /storage/");
      close (w->lock_fd);
      w->lock_fd = -1;
    }
  return FALSE;
}

/* Another process (Python's filelock takes the same flock) downloading the weights: ClipLab waits
 * for its lock before touching the blob, then fetches it. */
static void
test_waits_for_lock (void)
{
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  g_autofree char *lock_dir = g_build_filename (cache, ".locks", "models--test--tiny-clip", NULL);
  g_assert_cmpint (g_mkdir_with_parents (lock_dir, 0755), ==, 0);
  g_autofree char *name = g_strconcat (fake_hub_etag (hub, "test/tiny-clip", "model.safetensors"), ".lock", NULL);
  g_autofree char *lock_path = g_build_filename (lock_dir, name, NULL);
  LockWatch watch = { .lock_fd = g_open (lock_path, O_RDWR | O_CREAT, 0644), .storage_gets_at_release = -1 };
  g_assert_cmpint (watch.lock_fd, >=, 0);
  g_assert_cmpint (flock (watch.lock_fd, LOCK_EX), ==, 0);

  fake_hub_clear_requests (hub);
  ClipCallbacks callbacks = { NULL, release_lock_later, &watch };
  g_autoptr (GError) error = NULL;
  g_assert_true (clip_hub_download ("test/tiny-clip", &options, NULL, &callbacks, &error));
  g_assert_no_error (error);
  g_assert_cmpint (watch.lock_fd, ==, -1);
  g_assert_cmpint (watch.storage_gets_at_release, ==, 0);
  g_auto (GStrv) requests = fake_hub_requests (hub);
  g_assert_cmpint (count_matching (requests, "GET /storage/"), ==, 1);
}

/* An open_clip repository: its config, safetensors weights and tokenizer.json, never the .bin. */
static void
test_open_clip_layout (void)
{
  fake_hub_add_repo (hub, "test/open-clip", COMMIT_OTHER, NULL);
  g_autoptr (GBytes) small = g_bytes_new_static ("{}", 2);
  g_autoptr (GBytes) weights = g_bytes_new_static ("weights", 7);
  fake_hub_add_file (hub, "test/open-clip", "open_clip_config.json", small, 0, 0);
  fake_hub_add_file (hub, "test/open-clip", "open_clip_pytorch_model.bin", weights, FAKE_FILE_LFS, 0);
  fake_hub_add_file (hub, "test/open-clip", "open_clip_model.safetensors", weights, FAKE_FILE_LFS, 0);
  fake_hub_add_file (hub, "test/open-clip", "tokenizer.json", small, 0, 0);
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  ClipHubResult result = { 0 };
  g_autoptr (GError) error = NULL;
  g_assert_true (clip_hub_download ("test/open-clip", &options, &result, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (result.n_files, ==, 3);
  const char *expected[] = { "open_clip_config.json", "open_clip_model.safetensors", "tokenizer.json" };
  for (size_t i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_autofree char *path = g_build_filename (result.snapshot_dir, expected[i], NULL);
      g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
    }
  g_autofree char *pickle = g_build_filename (result.snapshot_dir, "open_clip_pytorch_model.bin", NULL);
  g_assert_false (g_file_test (pickle, G_FILE_TEST_EXISTS));
  g_autoptr (GPtrArray) cached = clip_hub_list_cached (cache, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cached->len, ==, 1);
  g_assert_cmpint (((ClipHubCachedModel *) cached->pdata[0])->layout, ==, CLIP_LAYOUT_OPEN_CLIP_DIR);
  clip_hub_result_clear (&result);
}

/* A disk that refuses the weights (a file size limit stands in for a full disk): an error naming
 * the file, and no model where one is looked for. */
static void
test_disk_error (void)
{
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  struct rlimit saved, limit;
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  limit = saved;
  limit.rlim_cur = 100000;
  void (*previous) (int) = signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limit), ==, 0);
  g_autoptr (GError) error = NULL;
  gboolean ok = clip_hub_download ("test/tiny-clip", &options, NULL, NULL, &error);
  setrlimit (RLIMIT_FSIZE, &saved);
  signal (SIGXFSZ, previous);
  g_assert_false (ok);
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_IO);
  g_assert_true (g_str_has_prefix (error->message, "test/tiny-clip: model.safetensors: "));
  g_assert_nonnull (strstr (error->message, fake_hub_etag (hub, "test/tiny-clip", "model.safetensors")));
  g_test_message ("%s", error->message);
  g_autofree char *ref = g_build_filename (cache, "models--test--tiny-clip", "refs", "main", NULL);
  g_assert_false (g_file_test (ref, G_FILE_TEST_EXISTS));
  g_clear_error (&error);
  g_autofree char *resolved = clip_hub_resolve ("test/tiny-clip", COMMIT_TINY, cache, &error);
  g_assert_null (resolved);
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
}

/* The token file, as `huggingface-cli login` leaves it: used when HF_TOKEN is unset or empty, its
 * white space stripped; a wrong token names the file; a token of several lines is refused. */
static void
test_token_file (void)
{
  g_autofree char *home = g_build_filename (tu_tmpdir (), "hf-home", NULL);
  g_assert_cmpint (g_mkdir_with_parents (home, 0755), ==, 0);
  g_autofree char *token_path = g_build_filename (home, "token", NULL);
  g_setenv ("HF_HOME", home, TRUE);
  g_autofree char *where = clip_hub_token_path ();
  g_assert_cmpstr (where, ==, token_path);
  g_setenv ("HF_TOKEN_PATH", "/elsewhere/token", TRUE);
  g_autofree char *elsewhere = clip_hub_token_path ();
  g_assert_cmpstr (elsewhere, ==, "/elsewhere/token");
  g_unsetenv ("HF_TOKEN_PATH");

  add_tiny_repo ("test/gated-file", COMMIT_TINY, "secret-token", 0);
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  options.token = NULL;   /* from the environment: here the token file */
  g_autoptr (GError) error = NULL;

  /* No file: denied, and the message says where a token would go. */
  g_assert_false (clip_hub_download ("test/gated-file", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_DENIED);
  g_assert_nonnull (strstr (error->message, token_path));
  g_clear_error (&error);

  tu_write_file (token_path, "wrong-token\n", 12);
  g_assert_false (clip_hub_download ("test/gated-file", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_DENIED);
  g_assert_nonnull (strstr (error->message, "the token from"));
  g_assert_nonnull (strstr (error->message, token_path));
  g_clear_error (&error);

  tu_write_file (token_path, "secret\ntoken\n", 13);
  g_assert_false (clip_hub_download ("test/gated-file", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_true (g_str_has_prefix (error->message, token_path));
  g_clear_error (&error);

  /* The right token in the file, with an empty HF_TOKEN (which counts as unset). */
  tu_write_file (token_path, "  secret-token\n", 15);
  g_setenv ("HF_TOKEN", "", TRUE);
  fake_hub_clear_requests (hub);
  g_assert_true (clip_hub_download ("test/gated-file", &options, NULL, NULL, &error));
  g_assert_no_error (error);
  g_auto (GStrv) requests = fake_hub_requests (hub);
  g_assert_cmpint (count_matching (requests, "GET /api/models/test/gated-file/revision/main auth"), ==, 1);

  /* HF_TOKEN wins over the file. */
  tu_write_file (token_path, "wrong-token", 11);
  g_setenv ("HF_TOKEN", "secret-token", TRUE);
  g_autofree char *cache2 = new_cache ();
  options.cache_dir = cache2;
  g_assert_true (clip_hub_download ("test/gated-file", &options, NULL, NULL, &error));
  g_assert_no_error (error);
  g_unsetenv ("HF_TOKEN");
  g_unsetenv ("HF_HOME");
}

/* ORG/NAME@REVISION: downloads the tag's commit and keeps refs/TAG, and loads offline by the tag or
 * the commit; a revision the cache does not know fails naming it. */
static void
test_revision_refs (void)
{
  char *repo = NULL, *revision = NULL;
  g_assert_true (clip_hub_parse_model_ref ("org/name@refs/pr/1", &repo, &revision));
  g_assert_cmpstr (repo, ==, "org/name");
  g_assert_cmpstr (revision, ==, "refs/pr/1");
  g_clear_pointer (&repo, g_free);
  g_clear_pointer (&revision, g_free);
  g_assert_true (clip_hub_parse_model_ref ("org/name", &repo, &revision));
  g_assert_cmpstr (repo, ==, "org/name");
  g_assert_null (revision);
  g_free (repo);
  g_assert_false (clip_hub_parse_model_ref ("org/name@", NULL, NULL));
  g_assert_false (clip_hub_parse_model_ref ("org/name@../x", NULL, NULL));
  g_assert_false (clip_hub_parse_model_ref ("org/na--me@v1", NULL, NULL));
  g_assert_false (clip_hub_parse_model_ref ("@v1", NULL, NULL));

  add_tiny_repo ("test/tagged", COMMIT_TINY, NULL, 0);
  fake_hub_add_tag (hub, "test/tagged", "v1.0");
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  ClipHubResult result = { 0 };
  g_autoptr (GError) error = NULL;
  fake_hub_clear_requests (hub);
  g_assert_true (clip_hub_download ("test/tagged@v1.0", &options, &result, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (result.repo_id, ==, "test/tagged");
  g_assert_cmpstr (result.revision, ==, "v1.0");
  g_assert_cmpstr (result.commit, ==, COMMIT_TINY);
  g_auto (GStrv) requests = fake_hub_requests (hub);
  g_assert_cmpint (count_matching (requests, "GET /api/models/test/tagged/revision/v1.0"), ==, 1);
  g_autofree char *ref_path = g_build_filename (cache, "models--test--tagged", "refs", "v1.0", NULL);
  g_autofree char *ref = NULL;
  g_assert_true (g_file_get_contents (ref_path, &ref, NULL, NULL));
  g_assert_cmpstr (ref, ==, COMMIT_TINY);
  g_autofree char *main_ref = g_build_filename (cache, "models--test--tagged", "refs", "main", NULL);
  g_assert_false (g_file_test (main_ref, G_FILE_TEST_EXISTS));

  /* The same revision twice is fine; two different ones are an error. */
  options.revision = "main";
  g_assert_false (clip_hub_download ("test/tagged@v1.0", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_clear_error (&error);
  options.revision = "v1.0";
  g_assert_true (clip_hub_download ("test/tagged@v1.0", &options, NULL, NULL, &error));
  g_assert_no_error (error);

  /* Offline, through refs/v1.0 or the commit's snapshot. */
  g_setenv ("HF_HUB_CACHE", cache, TRUE);
  g_setenv ("HF_HUB_OFFLINE", "1", TRUE);
  g_autoptr (ClipModel) by_tag = clip_model_load ("test/tagged@v1.0", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (clip_model_get_path (by_tag), ==, result.snapshot_dir);
  g_autoptr (ClipModel) by_commit = clip_model_load ("test/tagged@" COMMIT_TINY, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (clip_model_get_path (by_commit), ==, result.snapshot_dir);
  g_assert_null (clip_model_load ("test/tagged@v2.0", NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "\"v2.0\""));
  g_clear_error (&error);
  /* No main was downloaded: the bare id does not resolve. */
  g_assert_null (clip_model_load ("test/tagged", NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_unsetenv ("HF_HUB_OFFLINE");
  g_unsetenv ("HF_HUB_CACHE");
  clip_hub_result_clear (&result);
}

/* ---------------------------------------------------------------- sharded checkpoints */

#define SHARD_1 "model-00001-of-00002.safetensors"
#define SHARD_2 "model-00002-of-00002.safetensors"

/* The tiny golden model split as transformers splits a large one: its tensors in two shards (the
 * first FIRST_COUNT of them in SHARD_1), an index whose weight_map names each tensor's shard, and the
 * config beside them in DIR.  MOVE_TO_WRONG, when not NULL, is listed in the other shard. */
static void
write_sharded_model (const char *dir, int first_count, const char *move_to_wrong)
{
  g_autofree char *golden = tu_shared_path (TINY);
  g_autofree char *weights = g_build_filename (golden, "model.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (ClipSafetensors) st = clip_safetensors_open (weights, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_autoptr (ClipStWriter) first_writer = clip_st_writer_new ();
  g_autoptr (ClipStWriter) second_writer = clip_st_writer_new ();
  ClipStWriter *writers[2] = { first_writer, second_writer };
  g_autoptr (GString) index = g_string_new ("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
  int n = clip_safetensors_n_tensors (st);
  for (int i = 0; i < n; i++)
    {
      const ClipStTensor *t = clip_safetensors_tensor (st, i);
      int shard = i < first_count ? 0 : 1;
      clip_st_writer_add (writers[shard], t->name, t->dtype, t->n_dims, t->shape, t->data);
      gboolean wrong = move_to_wrong != NULL && strcmp (t->name, move_to_wrong) == 0;
      g_string_append_printf (index, "%s\"%s\": \"%s\"", i > 0 ? ", " : "", t->name,
                              (shard == 0) != wrong ? SHARD_1 : SHARD_2);
    }
  g_string_append (index, "}}");
  const char *names[2] = { SHARD_1, SHARD_2 };
  for (int s = 0; s < 2; s++)
    {
      clip_st_writer_set_metadata (writers[s], "format", "pt");
      g_autofree char *path = g_build_filename (dir, names[s], NULL);
      g_assert_true (clip_st_writer_write (writers[s], path, &error));
      g_assert_no_error (error);
    }
  g_autofree char *index_path = g_build_filename (dir, "model.safetensors.index.json", NULL);
  tu_write_file (index_path, index->str, index->len);
  g_autofree char *config = g_build_filename (golden, "config.json", NULL);
  g_autofree char *config_copy = g_build_filename (dir, "config.json", NULL);
  char *text;
  gsize len;
  g_assert_true (g_file_get_contents (config, &text, &len, NULL));
  tu_write_file (config_copy, text, len);
  g_free (text);
}

/* MODEL encodes exactly as the golden model at REFERENCE (TINY or a file in it) does. */
static void
assert_encodes_as (ClipModel *model, const char *reference)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *golden = tu_shared_path (reference);
  g_autoptr (ClipModel) direct = clip_model_load (golden, NULL, &error);
  g_assert_no_error (error);
  int dim = clip_model_get_config (direct)->embed_dim;
  g_autofree float *image_a = g_new (float, 2 * dim), *text_a = g_new (float, 2 * dim);
  g_autofree float *image_b = g_new (float, 2 * dim), *text_b = g_new (float, 2 * dim);
  encode_reference (direct, image_a, text_a);
  encode_reference (model, image_b, text_b);
  g_assert_cmpmem (image_a, 2 * dim * sizeof (float), image_b, 2 * dim * sizeof (float));
  g_assert_cmpmem (text_a, 2 * dim * sizeof (float), text_b, 2 * dim * sizeof (float));
}

static void
test_sharded_load (void)
{
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "sharded", NULL);
  write_sharded_model (dir, 10, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (ClipModel) model = clip_model_load (dir, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_model_get_layout (model), ==, CLIP_LAYOUT_HF_DIR);
  assert_encodes_as (model, TINY);

  /* The index alone names the weights, as model.safetensors alone does (without config.json). */
  g_autofree char *index = g_build_filename (dir, "model.safetensors.index.json", NULL);
  g_autoptr (ClipModel) by_index = clip_model_load (index, NULL, &error);
  g_assert_no_error (error);
  assert_encodes_as (by_index, TINY "/model.safetensors");
}

/* AUTO's int8 check of a sharded checkpoint is cached under every shard: rewriting one (a new
 * modification time) makes a new key, while an unrelated file in the folder does not. */
static void
test_sharded_auto_key (void)
{
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "sharded-auto", NULL);
  write_sharded_model (dir, 10, NULL);
  g_autofree char *index = g_build_filename (dir, "model.safetensors.index.json", NULL);
  g_autofree char *config = g_build_filename (dir, "config.json", NULL);
  ClipLoadOptions options;
  clip_load_options_init (&options);
  g_autofree char *key = clip_int8_cosine_key (index, config, &options);
  g_autofree char *same = clip_int8_cosine_key (index, config, &options);
  g_assert_cmpstr (key, ==, same);
  g_assert_true (g_str_has_prefix (key, "int8-cosine-"));
  tu_write_text (dir, "README.md", "not a shard");
  g_autofree char *unrelated = clip_int8_cosine_key (index, config, &options);
  g_assert_cmpstr (unrelated, ==, key);
  g_autofree char *shard = g_build_filename (dir, SHARD_2, NULL);
  struct utimbuf later = { .actime = 2000000000, .modtime = 2000000000 };
  g_assert_cmpint (utime (shard, &later), ==, 0);
  g_autofree char *rewritten = clip_int8_cosine_key (index, config, &options);
  g_assert_cmpstr (rewritten, !=, key);
  options.vision_heads = 2;
  g_autofree char *other_heads = clip_int8_cosine_key (index, config, &options);
  g_assert_cmpstr (other_heads, !=, rewritten);
}

/* Broken sharded checkpoints: each error names the shard at fault. */
static void
test_sharded_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = g_build_filename (tu_tmpdir (), "sharded-missing", NULL);
  write_sharded_model (missing, 10, NULL);
  g_autofree char *second = g_build_filename (missing, SHARD_2, NULL);
  g_assert_cmpint (g_unlink (second), ==, 0);
  g_assert_null (clip_model_load (missing, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, second));
  g_assert_nonnull (strstr (error->message, "shard 2 of 2"));
  g_clear_error (&error);

  /* A tensor in the other shard than the index says. */
  g_autofree char *misplaced = g_build_filename (tu_tmpdir (), "sharded-misplaced", NULL);
  g_autofree char *golden = tu_shared_path (TINY);
  g_autofree char *weights = g_build_filename (golden, "model.safetensors", NULL);
  g_autoptr (ClipSafetensors) st = clip_safetensors_open (weights, &error);
  g_assert_no_error (error);
  const char *moved = clip_safetensors_tensor (st, 3)->name;
  write_sharded_model (misplaced, 10, moved);
  g_assert_null (clip_model_load (misplaced, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_autofree char *first = g_build_filename (misplaced, SHARD_1, NULL);
  g_assert_true (g_str_has_prefix (error->message, first));
  g_assert_nonnull (strstr (error->message, moved));
  g_clear_error (&error);

  /* An index without a weight map, or naming a file outside its folder. */
  g_autofree char *bad_index = g_build_filename (tu_tmpdir (), "sharded-bad-index", NULL);
  write_sharded_model (bad_index, 10, NULL);
  g_autofree char *index_path = g_build_filename (bad_index, "model.safetensors.index.json", NULL);
  tu_write_file (index_path, "{\"weight_map\": {}}", 18);
  g_assert_null (clip_model_load (bad_index, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "weight_map"));
  g_clear_error (&error);
  tu_write_file (index_path, "{\"weight_map\": {\"x\": \"../model.safetensors\"}}", 45);
  g_assert_null (clip_model_load (bad_index, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_true (g_str_has_prefix (error->message, index_path));
}

/* A sharded repository on the hub: every shard and the index come down (the index last, so a
 * snapshot holding it holds the shards), the second shard resumes after a cut connection, and the
 * model loads by its id. */
static void
test_sharded_download (void)
{
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "sharded-repo", NULL);
  write_sharded_model (dir, 10, NULL);
  fake_hub_add_repo (hub, "test/sharded", COMMIT_OTHER, NULL);
  const char *files[] = { "config.json", SHARD_1, SHARD_2, "model.safetensors.index.json" };
  for (size_t i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (dir, files[i], NULL);
      char *data;
      gsize len;
      g_assert_true (g_file_get_contents (path, &data, &len, NULL));
      g_autoptr (GBytes) content = g_bytes_new_take (data, len);
      gboolean lfs = g_str_has_prefix (files[i], "model-");
      fake_hub_add_file (hub, "test/sharded", files[i], content, lfs ? FAKE_FILE_LFS : 0,
                         strcmp (files[i], SHARD_2) == 0 ? 1 : 0);
    }
  g_autofree char *cache = new_cache ();
  ClipHubOptions options;
  init_options (&options, cache);
  ClipHubResult result = { 0 };
  g_autoptr (GError) error = NULL;
  g_assert_true (clip_hub_download ("test/sharded", &options, &result, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (result.n_files, ==, 4);
  g_assert_cmpint (result.retries, ==, 1);
  for (size_t i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (result.snapshot_dir, files[i], NULL);
      g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
    }
  g_setenv ("HF_HUB_CACHE", cache, TRUE);
  g_autoptr (ClipModel) model = clip_model_load ("test/sharded", NULL, &error);
  g_unsetenv ("HF_HUB_CACHE");
  g_assert_no_error (error);
  assert_encodes_as (model, TINY);
  clip_hub_result_clear (&result);

  /* An index naming a shard the repository does not have: an error naming it, nothing fetched. */
  fake_hub_add_repo (hub, "test/sharded-broken", COMMIT_OTHER, NULL);
  const char *broken = "{\"weight_map\": {\"logit_scale\": \"model-00009-of-00009.safetensors\"}}";
  g_autoptr (GBytes) index = g_bytes_new_static (broken, strlen (broken));
  g_autoptr (GBytes) config = g_bytes_new_static ("{}", 2);
  fake_hub_add_file (hub, "test/sharded-broken", "config.json", config, 0, 0);
  fake_hub_add_file (hub, "test/sharded-broken", "model.safetensors.index.json", index, 0, 0);
  g_assert_false (clip_hub_download ("test/sharded-broken", &options, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "model-00009-of-00009.safetensors"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_unsetenv ("HF_TOKEN");
  g_unsetenv ("HF_TOKEN_PATH");
  g_unsetenv ("HF_HUB_OFFLINE");
  g_unsetenv ("HF_ENDPOINT");
  hub = fake_hub_start ();
  add_tiny_repo ("test/tiny-clip", COMMIT_TINY, NULL, 0);

  g_test_add_func ("/hub/repo-ids", test_repo_ids);
  g_test_add_func ("/hub/download-and-load", test_download_and_load);
  g_test_add_func ("/hub/cut-connection", test_cut_connection);
  g_test_add_func ("/hub/cut-every-time", test_cut_every_time);
  g_test_add_func ("/hub/abort-then-resume", test_abort_then_resume);
  g_test_add_func ("/hub/wrong-hash", test_wrong_hash);
  g_test_add_func ("/hub/gated", test_gated);
  g_test_add_func ("/hub/missing", test_missing);
  g_test_add_func ("/hub/no-network", test_no_network);
  g_test_add_func ("/hub/offline", test_offline);
  g_test_add_func ("/hub/open-clip-layout", test_open_clip_layout);
  g_test_add_func ("/hub/waits-for-lock", test_waits_for_lock);
  g_test_add_func ("/hub/disk-error", test_disk_error);
  g_test_add_func ("/hub/token-file", test_token_file);
  g_test_add_func ("/hub/revision-refs", test_revision_refs);
  g_test_add_func ("/hub/sharded-load", test_sharded_load);
  g_test_add_func ("/hub/sharded-auto-key", test_sharded_auto_key);
  g_test_add_func ("/hub/sharded-errors", test_sharded_errors);
  g_test_add_func ("/hub/sharded-download", test_sharded_download);
  int status = g_test_run ();
  fake_hub_stop (hub);
  return status;
}
