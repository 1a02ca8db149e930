/* bench-library-watch.c — how long a photo put into a watched photo folder takes to appear in the
 * results of a search on screen.
 *
 * Runs the real application (under Xvfb: run it through bench-library-watch.sh) under the GUI test
 * driver (tests/gui/gui-driver.c): a folder of drawn scenes is added as a photo folder and indexed,
 * a query is typed, then ROUNDS photos are copied in one at a time; each round is timed from the
 * copy to the frame of the search results holding the new photo (gathering the watch's events takes
 * 300 ms of it, cl-folder-watch.c).  The application uses its own default model (the built-in one
 * unless --model is given) and as many compute threads as cores, as it does for a user.
 *
 * usage: bench-library-watch [--images N] [--rounds N] [--image-size PX] [--model PATH] [--tokenizer T]
 * Needs CLIPLAB_GUI_DRIVER, CLIPLAB_SCREENSHOT_DIR, GSETTINGS_SCHEMA_DIR and an X display. */
#include <stdio.h>
#include <stdlib.h>

#include "clip.h"
#include "generate.h"
#include "gui-app.h"
#include "testutil.h"

static int n_images = 100;     /* in the watched folder: at most 200, so that every one is a result */
static int rounds = 5;
static int image_size = 512;
static char *model_path;
static char *tokenizer;

static void
draw_shapes (const char *dir, int count, guint64 seed)
{
  g_autoptr (GError) error = NULL;
  if (!cli_generate_shapes (dir, count, seed, image_size, NULL, &error))
    g_error ("%s", error->message);
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

int
main (int argc, char *argv[])
{
  GOptionEntry entries[] = {
    { "images", 0, 0, G_OPTION_ARG_INT, &n_images, "Scenes drawn for the watched folder (100, at most 200)", "N" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "Photos copied in, one at a time (5)", "N" },
    { "image-size", 0, 0, G_OPTION_ARG_INT, &image_size, "Side of the drawn images in pixels (512)", "PX" },
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path, "The model (default: the application's)", "PATH" },
    { "tokenizer", 0, 0, G_OPTION_ARG_STRING, &tokenizer, "The model's tokenizer, e.g. bytes", "T" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("— ClipLab watched-folder benchmark");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (n_images < 5 || n_images > 200 || rounds < 1 || image_size < 8)
    {
      g_printerr ("--images must be 5–200, --rounds positive, --image-size at least 8\n");
      return 2;
    }
  if (!app_run_setup ())
    {
      g_printerr ("needs CLIPLAB_GUI_DRIVER, CLIPLAB_SCREENSHOT_DIR and an X display (run bench-library-watch.sh)\n");
      return 2;
    }
  app_run_set_logging (FALSE);

  /* One set of scenes is the library; the images of another are copied in. */
  g_autofree char *library = g_build_filename (tu_tmpdir (), "library", NULL);
  g_autofree char *spare = g_build_filename (tu_tmpdir (), "spare", NULL);
  draw_shapes (library, n_images, 1);
  draw_shapes (spare, 5 * rounds, 2);

  g_autofree char *library_json = q (library);
  GString *steps = g_string_new (NULL);
  g_string_append_printf (steps,
    "{\"do\": \"wait-model\", \"timeout\": 600},"
    "{\"do\": \"view\", \"name\": \"search\"},"
    "{\"do\": \"add-folder\", \"path\": %s},"
    "{\"do\": \"wait-index\", \"timeout\": 1800},"
    "{\"do\": \"search\", \"text\": \"a red circle\"}", library_json);
  g_autofree char *spare_train = g_build_filename (spare, "train", NULL);
  g_autoptr (GDir) dir = g_dir_open (spare_train, 0, &error);
  g_assert_no_error (error);
  for (int i = 0; i < rounds; i++)
    {
      const char *name = g_dir_read_name (dir);
      g_assert_nonnull (name);
      g_autofree char *copy_name = g_strdup_printf ("new-%d.png", i);
      g_autofree char *from = g_build_filename (spare_train, name, NULL);
      g_autofree char *to = g_build_filename (library, copy_name, NULL);
      g_autofree char *from_json = q (from), *to_json = q (to);
      g_string_append_printf (steps, ",{\"do\": \"copy-file\", \"from\": %s, \"to\": %s},"
                              "{\"do\": \"wait-result\", \"path\": %s}", from_json, to_json, to_json);
    }
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  if (model_path != NULL)
    g_strv_builder_add_many (builder, "--model", model_path, NULL);
  if (tokenizer != NULL)
    g_strv_builder_add_many (builder, "--tokenizer", tokenizer, NULL);
  g_auto (GStrv) app_args = g_strv_builder_end (builder);
  g_autofree char *threads = g_strdup_printf ("OPENBLAS_NUM_THREADS=%u", g_get_num_processors ());
  const char *env[] = { threads, NULL };
  g_autoptr (AppRun) run = app_run ("library-watch", (const char *const *) app_args, steps->str, env);
  g_string_free (steps, TRUE);

  JsonObject *indexed = step (run, 3);
  printf ("Watched folder: %" G_GINT64_FORMAT " images indexed in %.1f s\n",
          json_object_get_int_member (indexed, "n_indexed"),
          (json_object_get_int_member (indexed, "wall_us") - json_object_get_int_member (indexed, "start_us")) / 1e6);
  g_autofree double *ms = g_new (double, rounds);
  for (int i = 0; i < rounds; i++)
    {
      JsonObject *copied = step (run, 5 + 2 * i), *shown = step (run, 6 + 2 * i);
      ms[i] = (json_object_get_int_member (shown, "wall_us") - json_object_get_int_member (copied, "start_us")) / 1000.0;
      printf ("  photo %d: in the results %.0f ms after the copy\n", i + 1, ms[i]);
    }
  qsort (ms, rounds, sizeof (double), compare_doubles);
  printf ("New photo to search result: median %.0f ms, worst %.0f ms over %d photos\n", ms[rounds / 2],
          ms[rounds - 1], rounds);
  return 0;
}
