/* gui-app.c — spawning the application under the GUI test driver and parsing its reports. */
#include "gui-app.h"

#include <string.h>

#include <glib/gstdio.h>

#include "testutil.h"

static const char *app_path;
static const char *screenshot_dir;
static gboolean logging = TRUE;

gboolean
app_run_setup (void)
{
  app_path = g_getenv ("CLIPLAB_GUI_DRIVER");
  screenshot_dir = g_getenv ("CLIPLAB_SCREENSHOT_DIR");
  if (app_path == NULL || screenshot_dir == NULL || g_getenv ("DISPLAY") == NULL)
    return FALSE;
  g_mkdir_with_parents (screenshot_dir, 0755);
  return TRUE;
}

static void
test_skipped (void)
{
  g_test_skip ("needs CLIPLAB_GUI_DRIVER, CLIPLAB_SCREENSHOT_DIR and an X display (meson runs it under xvfb-run)");
}

void
app_run_add_skipped (const char *suite)
{
  g_autofree char *path = g_strconcat (suite, "/skipped", NULL);
  g_test_add_func (path, test_skipped);
}

const char *
app_run_screenshot_dir (void)
{
  return screenshot_dir;
}

void
app_run_set_logging (gboolean log)
{
  logging = log;
}

void
app_run_free (AppRun *run)
{
  g_ptr_array_unref (run->reports);
  g_free (run->stderr_text);
  g_free (run);
}

char *
q (const char *text)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_VALUE);
  json_node_set_string (node, text);
  return json_to_string (node, FALSE);
}

static char **
clean_environment (const char *name, const char *const *env)
{
  g_autofree char *home_name = g_strconcat (name, ".home", NULL);
  g_autofree char *home = g_build_filename (tu_tmpdir (), home_name, NULL);
  g_autofree char *config_home = g_build_filename (home, "config", NULL);
  g_autofree char *cache_home = g_build_filename (home, "cache", NULL);
  g_autofree char *data_home = g_build_filename (home, "data", NULL);
  char **envp = g_get_environ ();

  /* Made beforehand: libraries that keep caches (Mesa's shaders) complain about missing folders. */
  g_mkdir_with_parents (config_home, 0700);
  g_mkdir_with_parents (cache_home, 0700);
  g_mkdir_with_parents (data_home, 0700);

  envp = g_environ_setenv (envp, "GSETTINGS_BACKEND", "memory", TRUE);
  envp = g_environ_setenv (envp, "XDG_CONFIG_HOME", config_home, TRUE);
  envp = g_environ_setenv (envp, "XDG_CACHE_HOME", cache_home, TRUE);
  envp = g_environ_setenv (envp, "XDG_DATA_HOME", data_home, TRUE);
  envp = g_environ_setenv (envp, "GSK_RENDERER", "cairo", TRUE);
  envp = g_environ_setenv (envp, "GDK_BACKEND", "x11", TRUE);
  envp = g_environ_setenv (envp, "GTK_A11Y", "none", TRUE);
  envp = g_environ_setenv (envp, "NO_AT_BRIDGE", "1", TRUE);
  envp = g_environ_setenv (envp, "LC_ALL", "C.UTF-8", TRUE);
  envp = g_environ_setenv (envp, "LANGUAGE", "C", TRUE);
  envp = g_environ_setenv (envp, "G_DEBUG", "fatal-criticals", TRUE);
  envp = g_environ_setenv (envp, "OPENBLAS_NUM_THREADS", "1", TRUE);
  envp = g_environ_unsetenv (envp, "CLIPLAB_BUILTIN_MODEL");
  for (const char *const *e = env; e != NULL && *e != NULL; e++)
    {
      g_auto (GStrv) pair = g_strsplit (*e, "=", 2);
      envp = g_environ_setenv (envp, pair[0], pair[1], TRUE);
    }
  return envp;
}

AppRun *
app_run (const char *name, const char *const *args, const char *steps, const char *const *env)
{
  g_autofree char *script_path = g_build_filename (tu_tmpdir (), name, NULL);
  g_autofree char *script_name = g_strconcat (script_path, ".json", NULL);
  g_autofree char *out_dir = q (screenshot_dir);
  g_autofree char *script = g_strdup_printf ("{\"output-dir\": %s, \"steps\": [%s]}", out_dir, steps);

  g_assert_nonnull (app_path);
  tu_write_file (script_name, script, strlen (script));

  g_autoptr (GStrvBuilder) argv_builder = g_strv_builder_new ();
  g_strv_builder_add_many (argv_builder, app_path, script_name, NULL);
  for (const char *const *a = args; a != NULL && *a != NULL; a++)
    g_strv_builder_add (argv_builder, *a);
  g_auto (GStrv) argv = g_strv_builder_end (argv_builder);
  g_auto (GStrv) envp = clean_environment (name, env);

  AppRun *run = g_new0 (AppRun, 1);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  int wait_status = 0;
  run->reports = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  run->spawn_time = g_get_real_time ();
  g_spawn_sync (NULL, argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, &run->stderr_text, &wait_status, &error);
  g_assert_no_error (error);

  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    {
      if (**line != '{')
        continue;
      JsonNode *node = json_from_string (*line, &error);
      g_assert_no_error (error);
      g_ptr_array_add (run->reports, node);
      if (logging)
        g_test_message ("%s: %.600s", name, *line);
    }
  gboolean exited = g_spawn_check_wait_status (wait_status, NULL);
  if (!exited || run->reports->len == 0)
    g_printerr ("%s: stderr:\n%s\n", name, run->stderr_text);
  g_assert_true (g_spawn_check_wait_status (wait_status, &error));
  g_assert_cmpuint (run->reports->len, >, 0);

  JsonObject *last = json_node_get_object (run->reports->pdata[run->reports->len - 1]);
  g_assert_true (json_object_has_member (last, "done"));
  if (json_object_has_member (last, "error"))
    g_printerr ("%s: %s\n", name, json_object_get_string_member (last, "error"));
  g_assert_cmpint (json_object_get_int_member (last, "status"), ==, 0);

  /* GTK and GLib complain on stderr about broken templates, bad properties and misuse. */
  if (strstr (run->stderr_text, "-WARNING") != NULL || strstr (run->stderr_text, "-CRITICAL") != NULL)
    {
      g_printerr ("%s: stderr:\n%s\n", name, run->stderr_text);
      g_test_fail ();
    }
  return run;
}

JsonObject *
step (AppRun *run, int index)
{
  for (guint i = 0; i < run->reports->len; i++)
    {
      JsonObject *report = json_node_get_object (run->reports->pdata[i]);
      if (json_object_has_member (report, "step") && json_object_get_int_member (report, "step") == index)
        return report;
    }
  g_error ("step %d has no report", index);
}

const char *
member_string (JsonObject *object, const char *member)
{
  JsonNode *node = json_object_get_member (object, member);
  g_assert_nonnull (node);
  return JSON_NODE_HOLDS_NULL (node) ? NULL : json_node_get_string (node);
}

void
assert_responsive (JsonObject *report, const char *what)
{
  JsonObject *latency = json_object_get_object_member (report, "latency");
  g_assert_nonnull (latency);
  double max = json_object_get_double_member (latency, "max_ms");
  double p99 = json_object_get_double_member (latency, "p99_ms");

  g_test_message ("main loop while %s: events waited at most %.1f ms, 99 %% of the time %.1f ms; "
                  "longest stretch between polls %.1f ms (%" G_GINT64_FORMAT " samples)",
                  what, max, p99, json_object_get_double_member (latency, "max_block_ms"),
                  json_object_get_int_member (latency, "n_samples"));
  g_assert_cmpint (json_object_get_int_member (latency, "n_samples"), >, 0);
  /* Sanitizer builds run several times slower: build-aux/sanitize.sh widens the bounds. */
  const char *scale_text = g_getenv ("CLIPLAB_TEST_TIME_SCALE");
  double scale = scale_text != NULL ? MAX (g_ascii_strtod (scale_text, NULL), 1.0) : 1.0;
  g_assert_cmpfloat (p99, <, RESPONSIVE_P99_MS * scale);
  g_assert_cmpfloat (max, <, RESPONSIVE_MAX_MS * scale);
}

/* ---------------------------------------------------------------- fixtures */

void
copy_file (const char *from, const char *to)
{
  g_autoptr (GFile) src = g_file_new_for_path (from);
  g_autoptr (GFile) dst = g_file_new_for_path (to);
  g_autoptr (GError) error = NULL;
  g_file_copy (src, dst, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
}

const char *const golden_sample_images[GOLDEN_SAMPLE_IMAGES + 1] = {
  "exact_224x224.png", "gray_257x129.png", "noise_300x500.png", "odd_225x301.png", "palette_200x200.png",
  "photo_512x384.jpg", "rgba_333x222.png", "scene_640x480.png", "small_100x80.png", "wide_1000x150.png", NULL,
};

char *
make_sample_folder (void)
{
  g_autofree char *golden = tu_shared_path ("golden/images");
  char *folder = g_build_filename (tu_tmpdir (), "Sample Images", NULL);
  g_assert_cmpint (g_mkdir_with_parents (folder, 0755), ==, 0);
  for (const char *const *name = golden_sample_images; *name != NULL; name++)
    {
      g_autofree char *from = g_build_filename (golden, *name, NULL);
      g_autofree char *to = g_build_filename (folder, *name, NULL);
      copy_file (from, to);
    }
  g_autofree char *broken = g_build_filename (folder, "broken.png", NULL);
  tu_write_file (broken, "this is not a PNG", 17);
  return folder;
}
