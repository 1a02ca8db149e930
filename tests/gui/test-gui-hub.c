/* test-gui-hub.c — the model dialog's Get Models page in the real application (under Xvfb, driven
 * by gui-driver.c) against the hub-like server of tests/fakehub.c on 127.0.0.1: the catalogue, a
 * model another program put in the Hugging Face cache listed and used without a download, a download
 * cancelled half-way and resumed, the error for a repository that does not exist, and the
 * downloaded model then used: its probabilities in the Classify view are the library's; closing the
 * dialog mid-download stops it cleanly. */
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "clip.h"
#include "fakehub.h"
#include "gui-app.h"
#include "testutil.h"

#define COMMIT "4444444444444444444444444444444444444444"

static void
add_tiny (FakeHub *hub, const char *repo, FakeFileFlags weights_flags)
{
  g_autofree char *config = tu_shared_path ("golden/models/tiny_quickgelu/hf/config.json");
  g_autofree char *weights = tu_shared_path ("golden/models/tiny_quickgelu/hf/model.safetensors");
  fake_hub_add_repo (hub, repo, COMMIT, NULL);
  fake_hub_add_file_from (hub, repo, "config.json", config, 0);
  fake_hub_add_file_from (hub, repo, "model.safetensors", weights, FAKE_FILE_LFS | weights_flags);
}

/* What transformers leaves in the cache: blobs, a snapshot of relative links, refs/main. */
static void
put_in_cache_as_python_does (const char *cache, const char *folder)
{
  g_autofree char *repo = g_build_filename (cache, folder, NULL);
  g_autofree char *blobs = g_build_filename (repo, "blobs", NULL);
  g_autofree char *snapshot = g_build_filename (repo, "snapshots", COMMIT, NULL);
  g_autofree char *refs = g_build_filename (repo, "refs", NULL);
  g_assert_cmpint (g_mkdir_with_parents (blobs, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (snapshot, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (refs, 0755), ==, 0);
  const char *files[][2] = { { "config.json", "0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ff" },
                             { "model.safetensors", "5afe5afe5afe5afe5afe5afe5afe5afe5afe5afe5afe5afe5afe5afe5afe5afe" } };
  for (size_t i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *rel = g_strconcat ("golden/models/tiny_quickgelu/hf/", files[i][0], NULL);
      g_autofree char *source = tu_shared_path (rel);
      g_autofree char *blob = g_build_filename (blobs, files[i][1], NULL);
      copy_file (source, blob);
      g_autofree char *link = g_build_filename (snapshot, files[i][0], NULL);
      g_autofree char *target = g_strconcat ("../../blobs/", files[i][1], NULL);
      g_assert_cmpint (symlink (target, link), ==, 0);
    }
  g_autofree char *main_ref = g_build_filename (refs, "main", NULL);
  tu_write_file (main_ref, COMMIT, strlen (COMMIT));
}

/* Zero-shot probabilities of IMAGE for CLASSES ("simple" template) by the model at MODEL_PATH. */
static float *
expected_probs (const char *model_path, const char *image, const char *const *classes, int n)
{
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.tokenizer_path = "bytes";
  g_autoptr (GError) error = NULL;
  g_autoptr (ClipModel) model = clip_model_load (model_path, &options, &error);
  g_assert_no_error (error);
  const int dim = clip_model_get_config (model)->embed_dim;
  int n_templates = 0;
  const char *const *templates = clip_templates_builtin ("simple", &n_templates);
  g_autofree float *weights = g_new (float, n * dim);
  g_autofree float *embed = g_new (float, dim);
  float *probs = g_new (float, n);
  clip_zero_shot_classifier (model, classes, n, templates, n_templates, weights, NULL, &error);
  g_assert_no_error (error);
  /* Read as the app reads a file: as its folder's search index does (a large JPEG at reduced size). */
  const int size = clip_model_get_config (model)->image_size;
  g_autofree float *pixels = g_new (float, (gsize) 3 * size * size);
  clip_index_preprocess_file (model, NULL, image, pixels, &error);
  g_assert_no_error (error);
  clip_model_encode_images (model, pixels, 1, embed, NULL, &error);
  g_assert_no_error (error);
  clip_zero_shot_probs (model, embed, 1, weights, n, probs);
  return probs;
}

static gboolean
array_has (JsonObject *report, const char *member, const char *text)
{
  JsonArray *array = json_object_get_array_member (report, member);
  for (guint i = 0; i < json_array_get_length (array); i++)
    if (g_str_equal (json_array_get_string_element (array, i), text))
      return TRUE;
  return FALSE;
}

static void
test_get_models (void)
{
  FakeHub *hub = fake_hub_start ();
  add_tiny (hub, "test/tiny-clip", 0);
  add_tiny (hub, "test/slow-clip", FAKE_FILE_SLOW);
  add_tiny (hub, "test/closed-clip", FAKE_FILE_SLOW);
  g_autofree char *cache = g_build_filename (tu_tmpdir (), "hf-cache", NULL);
  put_in_cache_as_python_does (cache, "models--python--tiny-clip");

  g_autofree char *folder = make_sample_folder ();
  g_autofree char *folder_json = q (folder);
  g_autofree char *env_endpoint = g_strconcat ("HF_ENDPOINT=", fake_hub_url (hub), NULL);
  g_autofree char *env_cache = g_strconcat ("HF_HUB_CACHE=", cache, NULL);
  const char *env[] = { env_endpoint, env_cache, "HF_TOKEN=", "HF_HUB_OFFLINE=0", NULL };
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"hub-page\"},"
    "{\"do\": \"screenshot\", \"file\": \"get-models.png\", \"window\": \"dialog\"},"
    "{\"do\": \"hub-download\", \"repo\": \"test/slow-clip\", \"wait\": false},"
    "{\"do\": \"hub-wait-progress\", \"fraction\": 0.2},"
    "{\"do\": \"hub-cancel\"},"                                                            /* 5 */
    "{\"do\": \"screenshot\", \"file\": \"get-models-cancelled.png\", \"window\": \"dialog\"},"
    "{\"do\": \"hub-download\", \"repo\": \"test/slow-clip\"},"
    "{\"do\": \"hub-download\", \"repo\": \"test/no-such-model\"},"
    "{\"do\": \"screenshot\", \"file\": \"get-models-error.png\", \"window\": \"dialog\"},"
    "{\"do\": \"hub-download\", \"repo\": \"test/tiny-clip\", \"tokenizer\": \"bytes\"},"           /* 10 */
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"select\", \"view\": \"classify\", \"index\": 8},"
    "{\"do\": \"set-classes\", \"text\": \"noise, photo\"},"
    "{\"do\": \"wait-probs\"},"                                                                   /* 15 */
    "{\"do\": \"hub-use\", \"repo\": \"python/tiny-clip\"},"
    "{\"do\": \"hub-download\", \"repo\": \"test/closed-clip\", \"wait\": false},"
    "{\"do\": \"hub-wait-progress\", \"fraction\": 0.2},"
    "{\"do\": \"close-dialogs\"},"
    "{\"do\": \"wait\", \"delay\": 300}",                                                     /* 20 */
    folder_json);
  g_autoptr (AppRun) run = app_run ("get-models", NULL, steps, env);

  /* The catalogue and the model Python left in the cache, usable without a download. */
  JsonObject *page = step (run, 1);
  g_assert_true (array_has (page, "hub_catalog", "openai/clip-vit-base-patch32: _Download"));
  g_assert_true (array_has (page, "hub_catalog", "openai/clip-vit-large-patch14: _Download"));
  g_assert_true (array_has (page, "hub_catalog", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K: _Download"));
  g_assert_true (array_has (page, "hub_cached", "python/tiny-clip: _Use"));

  /* Cancelled half-way: only the partial blob is kept. */
  JsonObject *progress = step (run, 4);
  g_assert_true (json_object_get_boolean_member (progress, "hub_downloading"));
  g_assert_cmpfloat (json_object_get_double_member (progress, "hub_fraction"), >=, 0.2);
  assert_responsive (progress, "a model downloading");
  JsonObject *cancelled = step (run, 5);
  g_assert_false (json_object_get_boolean_member (cancelled, "hub_downloading"));
  g_assert_nonnull (strstr (member_string (cancelled, "hub_status"), "cancelled"));
  g_assert_null (member_string (cancelled, "hub_error"));

  /* Resumed with a Range request, then used: the dialog loads it and shows its details. */
  g_autofree char *slow_snapshot = g_build_filename (cache, "models--test--slow-clip", "snapshots", COMMIT, NULL);
  JsonObject *resumed = step (run, 7);
  g_assert_null (member_string (resumed, "hub_error"));
  g_assert_cmpstr (member_string (resumed, "hub_snapshot"), ==, slow_snapshot);
  g_assert_cmpstr (member_string (resumed, "model_state"), ==, "ready");
  g_assert_cmpstr (member_string (resumed, "model_path"), ==, slow_snapshot);
  g_assert_cmpstr (member_string (resumed, "chooser_page"), ==, "choose");
  g_assert_null (member_string (resumed, "chooser_error"));
  g_auto (GStrv) requests = fake_hub_requests (hub);
  int slow_gets = 0, ranged = 0;
  for (char **r = requests; *r != NULL; r++)
    if (g_str_has_prefix (*r, "GET /storage/test/slow-clip/"))
      {
        slow_gets++;
        ranged += strstr (*r, " range=bytes=") != NULL;
      }
  g_assert_cmpint (slow_gets, ==, 2);
  g_assert_cmpint (ranged, ==, 1);

  /* A repository that does not exist: the error is shown, the loaded model stays. */
  JsonObject *missing = step (run, 8);
  g_assert_nonnull (strstr (member_string (missing, "hub_error"), "no such model repository"));
  g_assert_cmpstr (member_string (missing, "model_path"), ==, slow_snapshot);

  JsonObject *tiny = step (run, 10);
  g_autofree char *tiny_snapshot = g_build_filename (cache, "models--test--tiny-clip", "snapshots", COMMIT, NULL);
  g_assert_cmpstr (member_string (tiny, "model_path"), ==, tiny_snapshot);
  g_assert_cmpstr (member_string (tiny, "model_state"), ==, "ready");
  g_assert_true (array_has (tiny, "hub_cached", "test/tiny-clip: _Use"));
  g_assert_true (array_has (tiny, "hub_cached", "test/slow-clip: _Use"));

  /* The downloaded model classifies as the library computes with it. */
  JsonObject *probs = step (run, 15);
  g_assert_null (member_string (probs, "hint"));
  const char *classes[] = { "noise", "photo" };
  g_autofree float *want = expected_probs (tiny_snapshot, member_string (probs, "image"), classes, 2);
  JsonArray *rows = json_object_get_array_member (probs, "rows");
  g_assert_cmpuint (json_array_get_length (rows), ==, 2);
  for (guint r = 0; r < 2; r++)
    {
      JsonObject *row = json_array_get_object_element (rows, r);
      int c = g_str_equal (member_string (row, "label"), classes[0]) ? 0 : 1;
      g_assert_cmpstr (member_string (row, "label"), ==, classes[c]);
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (row, "value"), want[c], 1e-5);
    }

  /* The model Python left in the cache is used as it is, without a download. */
  g_autofree char *python_snapshot = g_build_filename (cache, "models--python--tiny-clip", "snapshots", COMMIT, NULL);
  JsonObject *used = step (run, 16);
  g_assert_cmpstr (member_string (used, "model_state"), ==, "ready");
  g_assert_cmpstr (member_string (used, "model_path"), ==, python_snapshot);
  g_assert_null (member_string (used, "chooser_error"));

  /* The dialog closed mid-download (without a warning: app_run checks) stops it: the partial blob
   * waits for the next download, and nothing is in the snapshot or refs. */
  g_autofree char *closed = g_build_filename (cache, "models--test--closed-clip", NULL);
  g_autofree char *closed_ref = g_build_filename (closed, "refs", "main", NULL);
  g_autofree char *closed_weights = g_build_filename (closed, "snapshots", COMMIT, "model.safetensors", NULL);
  g_autofree char *incomplete = g_strdup_printf ("%s/blobs/%s.incomplete", closed,
                                                 fake_hub_etag (hub, "test/closed-clip", "model.safetensors"));
  GStatBuf st;
  g_assert_cmpint (g_stat (incomplete, &st), ==, 0);
  g_assert_cmpint (st.st_size, >, 0);
  g_assert_false (g_file_test (closed_ref, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (closed_weights, G_FILE_TEST_EXISTS));
  fake_hub_stop (hub);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  if (!app_run_setup ())
    {
      app_run_add_skipped ("/gui-hub");
      return g_test_run ();
    }
  g_test_add_func ("/gui-hub/get-models", test_get_models);
  return g_test_run ();
}
