/* bench-gui-memory.c — what the ClipLab application keeps in memory while a user pages through a
 * large folder, pass after pass (issue 12).
 *
 * Runs the real application (under Xvfb: run it through bench-gui-memory.sh) under the GUI test
 * driver (tests/gui/gui-driver.c) on a folder drawn here: N scenes of 192 × 192 (thumbnails of 128 ×
 * 128) and 50 photos of 4000 × 3000, in a 1440 × 900 window with GTK's renderer of choice (GL by
 * default: Mesa's llvmpipe under Xvfb).  Each pass pages through the Browse grid from top to bottom,
 * every page staying until its thumbnails are shown (tests/gui/gui-driver.c, "grid-pass").  Prints,
 * per pass, the process's resident memory at its end, its duration and how long the main loop kept
 * events waiting (the largest and 99th-percentile lateness of a probe due every 5 ms).
 *
 * usage: bench-gui-memory [--images N] [--photos N] [--passes N] [--renderer gl|cairo]
 * Needs CLIPLAB_GUI_DRIVER, CLIPLAB_SCREENSHOT_DIR, GSETTINGS_SCHEMA_DIR and an X display. */
#include <stdio.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>

#include "generate.h"
#include "gui-app.h"
#include "testutil.h"

static int n_images = 10000;
static int n_photos = 50;
static int n_passes = 4;
static char *renderer;

/* N_PHOTOS JPEG photos of 4000 × 3000 in DIR (one drawn, the others copies under their own names). */
static void
draw_photos (const char *dir)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 4000, 3000);
  guchar *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  g_autoptr (GError) error = NULL;
  g_autofree char *first = g_build_filename (dir, "photo-00.jpg", NULL);

  for (int y = 0; y < 3000; y++)
    for (int x = 0; x < 4000; x++)
      {
        guchar *p = pixels + (gsize) y * stride + x * 3;
        p[0] = (guchar) (x * 255 / 4000);
        p[1] = (guchar) (y * 255 / 3000);
        p[2] = (guchar) ((x ^ y) & 255);
      }
  if (!gdk_pixbuf_save (pixbuf, first, "jpeg", &error, "quality", "85", NULL))
    g_error ("%s: %s", first, error->message);
  for (int i = 1; i < n_photos; i++)
    {
      g_autofree char *name = g_strdup_printf ("photo-%02d.jpg", i);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      copy_file (first, path);
    }
}

int
main (int argc, char *argv[])
{
  GOptionEntry entries[] = {
    { "images", 0, 0, G_OPTION_ARG_INT, &n_images, "Drawn scenes in the folder (10000)", "N" },
    { "photos", 0, 0, G_OPTION_ARG_INT, &n_photos, "4000 × 3000 photos in the folder (50)", "N" },
    { "passes", 0, 0, G_OPTION_ARG_INT, &n_passes, "Passes through the grid (4)", "N" },
    { "renderer", 0, 0, G_OPTION_ARG_STRING, &renderer, "GSK_RENDERER: gl (default) or cairo", "NAME" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("— ClipLab GUI memory benchmark");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (n_images < 1 || n_photos < 0 || n_photos > 100 || n_passes < 1)
    {
      g_printerr ("--images and --passes must be positive, --photos 0 to 100\n");
      return 2;
    }
  if (!app_run_setup ())
    {
      g_printerr ("needs CLIPLAB_GUI_DRIVER, CLIPLAB_SCREENSHOT_DIR and an X display (run bench-gui-memory.sh)\n");
      return 2;
    }
  app_run_set_logging (FALSE);

  /* Four fifths of the drawn scenes land in train/: that folder is the one used. */
  g_autofree char *drawn = g_build_filename (tu_tmpdir (), "scenes", NULL);
  g_autofree char *folder = g_build_filename (drawn, "train", NULL);
  gint64 start = g_get_monotonic_time ();
  if (!cli_generate_shapes (drawn, n_images + n_images / 4 + (n_images % 4 != 0), 1, 192, NULL, &error))
    g_error ("drawing %d images in %s: %s", n_images, drawn, error->message);
  draw_photos (folder);
  g_printerr ("drew the folder in %.1f s\n", (g_get_monotonic_time () - start) / 1e6);

  g_autofree char *folder_json = q (folder);
  GString *steps = g_string_new (NULL);
  g_string_append_printf (steps, "{\"do\": \"resize\", \"width\": 1440, \"height\": 900},"
                          "{\"do\": \"wait-model\"}, {\"do\": \"open\", \"path\": %s}, {\"do\": \"wait-grid\"}",
                          folder_json);
  for (int i = 0; i < n_passes; i++)
    g_string_append (steps, ", {\"do\": \"grid-pass\", \"timeout\": 3600}");
  g_autofree char *renderer_env = g_strconcat ("GSK_RENDERER=", renderer != NULL ? renderer : "gl", NULL);
  const char *const env[] = { renderer_env, NULL };
  g_autoptr (AppRun) run = app_run ("memory", NULL, steps->str, env);
  g_string_free (steps, TRUE);

  JsonObject *opened = step (run, 2);
  printf ("folder: %" G_GINT64_FORMAT " images; renderer %s\n", json_object_get_int_member (opened, "n_items"),
          member_string (step (run, 4), "renderer"));
  printf ("pass  resident MB  seconds  pages  main loop: max ms  p99 ms\n");
  for (int i = 0; i < n_passes; i++)
    {
      JsonObject *pass = step (run, 4 + i);
      JsonObject *latency = json_object_get_object_member (pass, "latency");
      printf ("%4d  %11.0f  %7.1f  %5" G_GINT64_FORMAT "  %17.1f  %6.1f\n", i + 1,
              json_object_get_int_member (pass, "rss_kb") / 1024.0,
              (json_object_get_int_member (pass, "wall_us") - json_object_get_int_member (pass, "start_us")) / 1e6,
              json_object_get_int_member (pass, "pages"), json_object_get_double_member (latency, "max_ms"),
              json_object_get_double_member (latency, "p99_ms"));
    }
  return 0;
}
