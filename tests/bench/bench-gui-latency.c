/* bench-gui-latency.c — how responsive the ClipLab application stays while it works.
 *
 * Runs the real application (under Xvfb: run it through bench-gui-latency.sh) under the GUI test
 * driver (tests/gui/gui-driver.c) on images drawn here in a temporary folder, and prints:
 *  - for whole-folder classification, indexing the folder for search and a training run: how long
 *    the main loop kept events waiting (the largest and 99th-percentile lateness of a probe due
 *    every 5 ms, and the longest stretch between two polls; tests/gui/gui-latency-monitor.h), and apart
 *    from that the longest wait while the job's view was built and drawn for the first time;
 *  - the time from process start to the main window's first frame;
 *  - for a folder of 10,000 images, given at launch and opened in the running application: the time
 *    until the grid shows its first items and until every visible thumbnail is filled.
 * With --stored, only this instead: the large folder classified (Classify All), then in a second
 * start of the application (same cache) the time until its stored predictions are shown without
 * Classify All, and until they are re-scored for new class names, with the longest wait for events.
 * With --map-pan, only this instead: the large folder's map in the Map view (indexed and laid out
 * first), panned one step a frame for --pan-frames frames as a drag does, fitted and then zoomed in
 * about 4×: the intervals between frames (16.7 ms at 60 frames a second), how long each frame
 * took from the pan to the end of its paint (layout, snapshot and rendering) and the main thread's
 * CPU time in it (what the frame itself costs on a machine busy with other work), median, 95th
 * percentile and worst.
 * The application uses its own default model (the built-in one unless --model is given) and as
 * many compute threads as cores, as it does for a user.
 *
 * usage: bench-gui-latency [--images N] [--folder-images N] [--train-steps N] [--model PATH]
 *                          [--tokenizer T] [--stored] [--map-pan [--pan-frames N]]
 * Needs CLIPLAB_GUI_DRIVER, CLIPLAB_SCREENSHOT_DIR, GSETTINGS_SCHEMA_DIR and an X display. */
#include <stdio.h>
#include <stdlib.h>

#include <glib/gstdio.h>

#include "clip.h"
#include "generate.h"
#include "gui-app.h"
#include "testutil.h"

#define STARTUP_RUNS 3
#define CLASSES "red circle, blue square, green triangle, yellow star, white circle, purple square"

static int n_images = 2000;            /* classified, indexed, trained on */
static int n_folder_images = 10000;    /* the large folder */
static int train_steps = 100;
static gboolean map_pan;
static gboolean stored;
static int pan_frames = 300;
static char *model_path;
static char *tokenizer;

/* ---------------------------------------------------------------- running */

static double
ms_between (gint64 from_us, gint64 to_us)
{
  return (to_us - from_us) / 1000.0;
}

/* The application's arguments: the model when one was given, then FOLDER (may be NULL). */
static GStrv
app_args (const char *folder)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  if (model_path != NULL)
    g_strv_builder_add_many (builder, "--model", model_path, NULL);
  if (tokenizer != NULL)
    g_strv_builder_add_many (builder, "--tokenizer", tokenizer, NULL);
  if (folder != NULL)
    g_strv_builder_add (builder, folder);
  return g_strv_builder_end (builder);
}

/* CACHE_HOME (may be NULL: the run's own) is shared between runs that keep an index. */
static AppRun *
run_with_cache (const char *name, const char *folder, const char *steps, const char *cache_home)
{
  g_auto (GStrv) args = app_args (folder);
  g_autofree char *threads = g_strdup_printf ("OPENBLAS_NUM_THREADS=%u", g_get_num_processors ());
  g_autofree char *cache = cache_home != NULL ? g_strconcat ("XDG_CACHE_HOME=", cache_home, NULL) : NULL;
  const char *env[] = { threads, cache, NULL };

  return app_run (name, (const char *const *) args, steps, env);
}

static AppRun *
run (const char *name, const char *folder, const char *steps)
{
  return run_with_cache (name, folder, steps, NULL);
}

static gint64
member_int (JsonObject *object, const char *member)
{
  return json_object_get_int_member (object, member);
}

typedef struct {
  const char *what;
  double max_ms, p99_ms, block_ms, seconds;
  gint64 n_samples;
  double view_ms;              /* the longest wait while the job's view was shown the first time */
} JobFigures;

/* The job's figures from its REPORT; VIEW is the report of the step that showed its view. */
static JobFigures
job_figures (const char *what, JsonObject *report, JsonObject *view)
{
  JsonObject *latency = json_object_get_object_member (report, "latency");
  return (JobFigures) {
    .what = what,
    .view_ms = json_object_get_double_member (json_object_get_object_member (view, "latency"), "max_ms"),
    .max_ms = json_object_get_double_member (latency, "max_ms"),
    .p99_ms = json_object_get_double_member (latency, "p99_ms"),
    .block_ms = json_object_get_double_member (latency, "max_block_ms"),
    .n_samples = member_int (latency, "n_samples"),
    .seconds = ms_between (member_int (report, "start_us"), member_int (report, "wall_us")) / 1000.0,
  };
}

/* ---------------------------------------------------------------- scenarios */

static JobFigures
bench_classify (const char *folder)
{
  g_autofree char *path = q (folder);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-open\", \"path\": %s},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"set-classes\", \"text\": \"" CLASSES "\"},"
    "{\"do\": \"wait-probs\"},"                                    /* 5 */
    "{\"do\": \"classify-all\", \"timeout\": 1800}",
    path);
  g_autoptr (AppRun) r = run ("classify", folder, steps);
  g_autofree char *what = g_strdup_printf ("classify %d images", n_images);
  g_assert_cmpint (member_int (step (r, 1), "n_items"), ==, n_images);
  return job_figures (g_intern_string (what), step (r, 6), step (r, 3));
}

static JobFigures
bench_index (const char *folder)
{
  g_autofree char *path = q (folder);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-open\", \"path\": %s},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"search\"},"
    "{\"do\": \"index\", \"timeout\": 1800}",
    path);
  g_autoptr (AppRun) r = run ("index", folder, steps);
  g_autofree char *what = g_strdup_printf ("index %d images", n_images);
  g_assert_cmpint (member_int (step (r, 4), "n_indexed"), ==, n_images);
  return job_figures (g_intern_string (what), step (r, 4), step (r, 3));
}

static JobFigures
bench_train (const char *dataset)
{
  g_autofree char *train = g_build_filename (dataset, "train.csv", NULL);
  g_autofree char *val = g_build_filename (dataset, "test.csv", NULL);
  g_autofree char *train_json = q (train);
  g_autofree char *val_json = q (val);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"train\"},"
    "{\"do\": \"train-settings\", \"settings\": {\"train-csv\": %s, \"train-val-csv\": %s, "
    "  \"train-model\": \"small\", \"train-batch-size\": 32, \"train-max-steps\": %d, \"train-save-every\": 0}},"
    "{\"do\": \"train-start\", \"timeout\": 1800}",
    train_json, val_json, train_steps);
  g_autoptr (AppRun) r = run ("train", NULL, steps);
  JsonObject *trained = step (r, 4);
  g_assert_cmpstr (member_string (trained, "state"), ==, "finished");
  g_autofree char *what = g_strdup_printf ("train %" G_GINT64_FORMAT " steps", member_int (trained, "n_points"));
  return job_figures (g_intern_string (what), trained, step (r, 2));
}

static double
bench_startup (int attempt)
{
  g_autofree char *name = g_strdup_printf ("startup-%d", attempt);
  g_autoptr (AppRun) r = run (name, NULL, "{\"do\": \"wait-first-frame\"}");
  return ms_between (r->spawn_time, member_int (step (r, 0), "first_frame_us"));
}

typedef struct {
  double grid_ms, thumbnails_ms;
  gint64 n_visible;
  double max_ms;               /* the longest wait for events meanwhile */
} FolderFigures;

/* FOLDER given on the command line: times from the process start. */
static FolderFigures
bench_folder_at_launch (const char *folder)
{
  g_autoptr (AppRun) r = run ("folder-at-launch", folder,
                              "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
                              "{\"do\": \"wait-grid\", \"timeout\": 600},"
                              "{\"do\": \"wait-visible-thumbnails\", \"timeout\": 600}");
  JsonObject *grid = step (r, 1), *thumbnails = step (r, 2);
  return (FolderFigures) {
    .grid_ms = ms_between (r->spawn_time, member_int (grid, "wall_us")),
    .thumbnails_ms = ms_between (r->spawn_time, member_int (thumbnails, "wall_us")),
    .n_visible = member_int (thumbnails, "n_visible"),
    .max_ms = MAX (json_object_get_double_member (json_object_get_object_member (grid, "latency"), "max_ms"),
                   json_object_get_double_member (json_object_get_object_member (thumbnails, "latency"), "max_ms")),
  };
}

/* FOLDER opened while the application shows SMALL_FOLDER: times from the moment it is opened. */
static FolderFigures
bench_folder_switch (const char *small_folder, const char *folder)
{
  g_autofree char *small_json = q (small_folder);
  g_autofree char *folder_json = q (folder);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-open\", \"path\": %s},"
    "{\"do\": \"wait-visible-thumbnails\", \"timeout\": 600},"
    "{\"do\": \"open\", \"path\": %s, \"timeout\": 600},"
    "{\"do\": \"wait-grid\", \"timeout\": 600},"
    "{\"do\": \"wait-visible-thumbnails\", \"timeout\": 600}",
    small_json, folder_json);
  g_autoptr (AppRun) r = run ("folder-switch", small_folder, steps);
  JsonObject *opened = step (r, 3), *grid = step (r, 4), *thumbnails = step (r, 5);
  g_assert_cmpint (member_int (opened, "n_items"), ==, n_folder_images);
  gint64 start = member_int (opened, "start_us");
  double max_ms = 0;
  for (int i = 3; i <= 5; i++)
    max_ms = MAX (max_ms, json_object_get_double_member (json_object_get_object_member (step (r, i), "latency"),
                                                         "max_ms"));
  return (FolderFigures) {
    .grid_ms = ms_between (start, member_int (grid, "wall_us")),
    .thumbnails_ms = ms_between (start, member_int (thumbnails, "wall_us")),
    .n_visible = member_int (thumbnails, "n_visible"),
    .max_ms = max_ms,
  };
}

/* ---------------------------------------------------------------- stored predictions */

/* The longest wait for events during steps FIRST .. LAST of R. */
static double
steps_max_ms (AppRun *r, guint first, guint last)
{
  double max_ms = 0;
  for (guint i = first; i <= last; i++)
    max_ms = MAX (max_ms, json_object_get_double_member (json_object_get_object_member (step (r, i), "latency"),
                                                         "max_ms"));
  return max_ms;
}

/* FOLDER classified, then its stored predictions after a restart: before Classify All, and
 * re-scored for other class names. */
static int
bench_stored (const char *folder)
{
  g_autofree char *folder_json = q (folder);
  g_autofree char *cache_home = g_build_filename (tu_tmpdir (), "stored-cache", NULL);
  g_autofree char *first_steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s, \"timeout\": 600},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"set-classes\", \"text\": \"" CLASSES "\"},"
    "{\"do\": \"classify-all\", \"timeout\": 1800}",
    folder_json);
  g_autofree char *second_steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"classify\"},"
    "{\"do\": \"set-classes\", \"text\": \"" CLASSES "\"},"
    "{\"do\": \"open\", \"path\": %s, \"timeout\": 600},"                      /* 4 */
    "{\"do\": \"wait-folder\", \"timeout\": 600},"
    "{\"do\": \"set-classes\", \"text\": \"red, blue, green, yellow, white, purple\"},"
    "{\"do\": \"wait-folder\", \"timeout\": 600}",                                  /* 7 */
    folder_json);
  g_autoptr (AppRun) first = run_with_cache ("stored-1", NULL, first_steps, cache_home);
  g_autoptr (AppRun) second = run_with_cache ("stored-2", NULL, second_steps, cache_home);
  JsonObject *classified = step (first, 5), *shown = step (second, 5), *rescored = step (second, 7);

  printf ("Classify All on %d images: %.1f s, %" G_GINT64_FORMAT " embedded (events waited at most %.1f ms)\n",
          n_folder_images,
          ms_between (member_int (classified, "start_us"), member_int (classified, "wall_us")) / 1000.0,
          member_int (classified, "n_embedded"), steps_max_ms (first, 5, 5));
  printf ("After a restart, before Classify All: stored predictions shown %.0f ms after the folder was opened "
          "(events waited at most %.1f ms while it opened, %.1f ms after), re-scored for new class names in %.0f ms "
          "(at most %.1f ms); %" G_GINT64_FORMAT " embedded\n",
          ms_between (member_int (step (second, 4), "start_us"), member_int (shown, "wall_us")),
          steps_max_ms (second, 4, 4), steps_max_ms (second, 5, 5),
          ms_between (member_int (step (second, 6), "start_us"), member_int (rescored, "wall_us")),
          steps_max_ms (second, 6, 7), member_int (rescored, "n_embedded"));
  printf ("  summaries: \"%s\" / \"%s\"\n", member_string (shown, "summary"), member_string (rescored, "summary"));
  return 0;
}

/* ---------------------------------------------------------------- the Map view */

static void
print_pan (const char *what, JsonObject *pan)
{
  JsonArray *interval = json_object_get_array_member (pan, "interval_ms");
  JsonArray *paint = json_object_get_array_member (pan, "paint_ms");
  JsonArray *cpu = json_object_get_array_member (pan, "paint_cpu_ms");

  printf ("  %-26s %4" G_GINT64_FORMAT " frames in %5.2f s: interval %5.1f / %5.1f / %5.1f ms, frame work %5.1f / "
          "%5.1f / %5.1f ms, its CPU time %5.1f / %5.1f / %5.1f ms (%s)\n", what, member_int (pan, "frames"),
          json_object_get_double_member (pan, "seconds"), json_array_get_double_element (interval, 0),
          json_array_get_double_element (interval, 1), json_array_get_double_element (interval, 2),
          json_array_get_double_element (paint, 0), json_array_get_double_element (paint, 1),
          json_array_get_double_element (paint, 2), json_array_get_double_element (cpu, 0),
          json_array_get_double_element (cpu, 1), json_array_get_double_element (cpu, 2),
          member_string (pan, "renderer"));
}

/* FOLDER's map, panned fitted and zoomed in. */
static int
bench_map_pan (const char *folder)
{
  g_autofree char *folder_json = q (folder);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s, \"timeout\": 600},"
    "{\"do\": \"view\", \"name\": \"map\"},"
    "{\"do\": \"map-wait\", \"timeout\": 3600},"                                 /* 4 */
    "{\"do\": \"map-pan\", \"frames\": %d},"
    "{\"do\": \"map-action\", \"action\": \"zoom-in\"},"
    "{\"do\": \"map-action\", \"action\": \"zoom-in\"},"
    "{\"do\": \"map-action\", \"action\": \"zoom-in\"},"
    "{\"do\": \"map-action\", \"action\": \"zoom-in\"},"
    "{\"do\": \"map-action\", \"action\": \"zoom-in\"},"
    "{\"do\": \"map-action\", \"action\": \"zoom-in\"},"
    "{\"do\": \"map-pan\", \"frames\": %d}",                                      /* 12 */
    folder_json, pan_frames, pan_frames);
  g_autoptr (AppRun) r = run ("map-pan", NULL, steps);
  JsonObject *map = step (r, 4);

  printf ("Map view, %" G_GINT64_FORMAT " points in %" G_GINT64_FORMAT " clusters, indexed and laid out in %.1f s; panning "
          "(median / 95th percentile / worst):\n", member_int (map, "n_points"), member_int (map, "n_clusters"),
          ms_between (member_int (map, "start_us"), member_int (map, "wall_us")) / 1000.0);
  print_pan ("fitted (all points)", step (r, 5));
  print_pan ("zoomed in 1.25^6 = 3.8×", step (r, 12));
  return 0;
}

/* ---------------------------------------------------------------- main */

/* COUNT drawn scenes in DIR (DIR/train holds four fifths of them, with DIR/train.csv). */
static void
draw_shapes (const char *dir, int count)
{
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  if (!cli_generate_shapes (dir, count, 1, 64, NULL, &error))
    g_error ("drawing %d images in %s: %s", count, dir, error->message);
  g_printerr ("drew %d images in %.1f s\n", count, (g_get_monotonic_time () - start) / 1e6);
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

int
main (int argc, char *argv[])
{
  GOptionEntry entries[] = {
    { "images", 0, 0, G_OPTION_ARG_INT, &n_images, "Images classified, indexed and trained on (2000)", "N" },
    { "folder-images", 0, 0, G_OPTION_ARG_INT, &n_folder_images, "Images of the large folder (10000)", "N" },
    { "train-steps", 0, 0, G_OPTION_ARG_INT, &train_steps, "Steps of the training run (100)", "N" },
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path, "The model (default: the application's)", "PATH" },
    { "tokenizer", 0, 0, G_OPTION_ARG_STRING, &tokenizer, "The model's tokenizer, e.g. bytes", "T" },
    { "stored", 0, 0, G_OPTION_ARG_NONE, &stored, "Only the stored predictions of the large folder after a restart",
      NULL },
    { "map-pan", 0, 0, G_OPTION_ARG_NONE, &map_pan, "Only the frame times of panning the large folder's map", NULL },
    { "pan-frames", 0, 0, G_OPTION_ARG_INT, &pan_frames, "Frames of each pan (300)", "N" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("— ClipLab GUI latency benchmark");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (n_images < 1 || n_folder_images < 1 || train_steps < 1)
    {
      g_printerr ("the counts must be positive\n");
      return 2;
    }
  if (!app_run_setup ())
    {
      g_printerr ("needs CLIPLAB_GUI_DRIVER, CLIPLAB_SCREENSHOT_DIR and an X display (run bench-gui-latency.sh)\n");
      return 2;
    }
  app_run_set_logging (FALSE);
  if (stored)
    {
      g_autofree char *folder = g_build_filename (tu_tmpdir (), "folder", NULL);
      g_autofree char *folder_train = g_build_filename (folder, "train", NULL);
      draw_shapes (folder, n_folder_images + n_folder_images / 4 + (n_folder_images % 4 != 0));
      return bench_stored (folder_train);
    }
  if (map_pan)
    {
      g_autofree char *folder = g_build_filename (tu_tmpdir (), "folder", NULL);
      g_autofree char *folder_train = g_build_filename (folder, "train", NULL);
      draw_shapes (folder, n_folder_images + n_folder_images / 4 + (n_folder_images % 4 != 0));
      return bench_map_pan (folder_train);
    }

  /* Four fifths of the drawn scenes land in train/: that folder is the one used. */
  g_autofree char *small = g_build_filename (tu_tmpdir (), "scenes", NULL);
  g_autofree char *large = g_build_filename (tu_tmpdir (), "folder", NULL);
  draw_shapes (small, n_images + n_images / 4 + (n_images % 4 != 0));
  draw_shapes (large, n_folder_images + n_folder_images / 4 + (n_folder_images % 4 != 0));
  g_autofree char *small_train = g_build_filename (small, "train", NULL);
  g_autofree char *large_train = g_build_filename (large, "train", NULL);
  g_autoptr (GDir) check = g_dir_open (small_train, 0, NULL);
  int n_small = 0;
  while (check != NULL && g_dir_read_name (check) != NULL)
    n_small++;
  n_images = n_small;
  g_autoptr (GDir) check_large = g_dir_open (large_train, 0, NULL);
  int n_large = 0;
  while (check_large != NULL && g_dir_read_name (check_large) != NULL)
    n_large++;
  n_folder_images = n_large;

  double startup[STARTUP_RUNS];
  for (int i = 0; i < STARTUP_RUNS; i++)
    startup[i] = bench_startup (i);
  JobFigures jobs[] = { bench_classify (small_train), bench_index (small_train), bench_train (small) };
  FolderFigures at_launch = bench_folder_at_launch (large_train);
  FolderFigures switched = bench_folder_switch (small_train, large_train);

  printf ("Main loop while a job runs (lateness of a probe due every 5 ms):\n");
  printf ("  %-22s %9s %9s %12s %9s %9s %14s\n", "job", "max ms", "p99 ms", "block ms", "samples", "job s",
          "view shown ms");
  for (guint i = 0; i < G_N_ELEMENTS (jobs); i++)
    printf ("  %-22s %9.1f %9.1f %12.1f %9" G_GINT64_FORMAT " %9.1f %14.1f\n", jobs[i].what, jobs[i].max_ms,
            jobs[i].p99_ms, jobs[i].block_ms, jobs[i].n_samples, jobs[i].seconds, jobs[i].view_ms);
  printf ("  (view shown: the longest wait while the job's view was built and drawn the first time)\n");
  qsort (startup, STARTUP_RUNS, sizeof (double), compare_doubles);
  printf ("First frame of the main window after process start: %.0f ms (median of %d; %.0f–%.0f)\n",
          startup[STARTUP_RUNS / 2], STARTUP_RUNS, startup[0], startup[STARTUP_RUNS - 1]);
  printf ("Folder of %d images given at launch: grid shows items after %.0f ms, the %" G_GINT64_FORMAT
          " visible thumbnails after %.0f ms (from process start; events waited at most %.1f ms)\n",
          n_folder_images, at_launch.grid_ms, at_launch.n_visible, at_launch.thumbnails_ms, at_launch.max_ms);
  printf ("Folder of %d images opened in the running application: grid shows items after %.0f ms, the %"
          G_GINT64_FORMAT " visible thumbnails after %.0f ms (events waited at most %.1f ms)\n",
          n_folder_images, switched.grid_ms, switched.n_visible, switched.thumbnails_ms, switched.max_ms);

  /* One line for scripts. */
  printf ("{\"startup_first_frame_ms\": %.1f", startup[STARTUP_RUNS / 2]);
  const char *keys[] = { "classify", "index", "train" };
  for (guint i = 0; i < G_N_ELEMENTS (jobs); i++)
    printf (", \"%s\": {\"max_ms\": %.1f, \"p99_ms\": %.1f, \"max_block_ms\": %.1f, \"seconds\": %.1f, "
            "\"view_shown_max_ms\": %.1f}", keys[i], jobs[i].max_ms, jobs[i].p99_ms, jobs[i].block_ms, jobs[i].seconds,
            jobs[i].view_ms);
  printf (", \"folder_at_launch\": {\"images\": %d, \"grid_ms\": %.1f, \"thumbnails_ms\": %.1f}", n_folder_images,
          at_launch.grid_ms, at_launch.thumbnails_ms);
  printf (", \"folder_switch\": {\"images\": %d, \"grid_ms\": %.1f, \"thumbnails_ms\": %.1f}}\n", n_folder_images,
          switched.grid_ms, switched.thumbnails_ms);
  return 0;
}
