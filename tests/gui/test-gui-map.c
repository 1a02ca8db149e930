/* test-gui-map.c — runs the real ClipLab application (under Xvfb: see meson.build) in the Map view
 * on a folder of three clearly different kinds of images drawn here: the map is laid out and its
 * clusters named, the screenshot of the map is not blank, a rectangle and a lasso select exactly
 * the points drawn inside them and "Show in Grid" lists the rectangle's in Browse, a text query
 * lights up the best 50; a second start reads the same map from the cache, where the pointer over a
 * point finds it and a click makes it the selected image; an image added to the folder makes the
 * next start lay the map out again, as does a cache file cut short.  Stop while a folder of 600 is
 * indexed leaves no map and says so; Lay Out the Map then finishes it.  Screenshots go to
 * $CLIPLAB_SCREENSHOT_DIR. */
#include <string.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "gui-app.h"
#include "testutil.h"

#define PER_KIND 20               /* images of each kind */
#define N_KINDS  3
#define N_IMAGES (PER_KIND * N_KINDS)
#define SIDE     48
#define TOP_K    50               /* images a query lights up (cl-map-view.c) */
#define N_MANY   600              /* images of the folder stopped while it is indexed */

static char *model_dir;           /* the tiny golden model (byte tokenizer) */
static char *folder;              /* the drawn images */

#define TINY_MODEL_ARGS (const char *const[]) { "--model", model_dir, "--tokenizer", "bytes", NULL }

/* ---------------------------------------------------------------- the images */

/* Kind 0: red with light noise; 1: blue and black stripes; 2: a green and white checkerboard.  The
 * noise, the stripes' phase and the squares' size vary with I, so no two images are the same file. */
static void
draw_image (const char *path, int kind, int i)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, SIDE, SIDE);
  guchar *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  GRand *rand = g_rand_new_with_seed (kind * 1000 + i);

  for (int y = 0; y < SIDE; y++)
    for (int x = 0; x < SIDE; x++)
      {
        guchar *p = pixels + y * stride + 3 * x;
        int noise = g_rand_int_range (rand, 0, 24);
        gboolean on = kind == 1 ? ((x + i) / 4) % 2 == 0 : ((x / (4 + i % 4)) + (y / (4 + i % 4))) % 2 == 0;
        if (kind == 0)
          p[0] = 220 + noise / 2, p[1] = noise, p[2] = noise;
        else if (kind == 1)
          p[0] = noise, p[1] = noise, p[2] = on ? 230 : noise;
        else
          p[0] = on ? 250 : noise, p[1] = on ? 250 : 200, p[2] = on ? 250 : noise;
      }
  g_rand_free (rand);
  g_autoptr (GError) error = NULL;
  gdk_pixbuf_save (pixbuf, path, "png", &error, NULL);
  g_assert_no_error (error);
}

static char *
make_folder (void)
{
  char *dir = g_build_filename (tu_tmpdir (), "Kinds", NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  for (int kind = 0; kind < N_KINDS; kind++)
    for (int i = 0; i < PER_KIND; i++)
      {
        g_autofree char *name = g_strdup_printf ("kind%d-%02d.png", kind, i);
        g_autofree char *path = g_build_filename (dir, name, NULL);
        draw_image (path, kind, i);
      }
  return dir;
}

/* ---------------------------------------------------------------- checks */

static gint64
member_int (JsonObject *object, const char *member)
{
  return json_object_get_int_member (object, member);
}

/* The map is laid out with N points and named clusters. */
static void
check_layout (JsonObject *map, gint64 n)
{
  g_assert_cmpstr (member_string (map, "page"), ==, "content");
  g_assert_cmpint (member_int (map, "n_points"), ==, n);
  JsonArray *names = json_object_get_array_member (map, "cluster_names");
  g_assert_cmpint (member_int (map, "n_clusters"), >=, 2);
  g_assert_cmpint (json_array_get_length (names), ==, member_int (map, "n_clusters"));
  for (guint c = 0; c < json_array_get_length (names); c++)
    g_assert_cmpuint (strlen (json_array_get_string_element (names, c)), >, 0);
  g_assert_cmpint (json_array_get_length (json_object_get_array_member (map, "points")), ==, n);
}

/* The number of different colours in the PNG at PATH. */
static guint
count_colours (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file (path, &error);
  g_assert_no_error (error);
  g_autoptr (GHashTable) colours = g_hash_table_new (NULL, NULL);
  const guchar *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int channels = gdk_pixbuf_get_n_channels (pixbuf), stride = gdk_pixbuf_get_rowstride (pixbuf);

  for (int y = 0; y < gdk_pixbuf_get_height (pixbuf); y++)
    for (int x = 0; x < gdk_pixbuf_get_width (pixbuf); x++)
      {
        const guchar *p = pixels + y * stride + channels * x;
        g_hash_table_add (colours, GUINT_TO_POINTER ((p[0] << 16) | (p[1] << 8) | p[2]));
      }
  return g_hash_table_size (colours);
}

/* The points whose centre the rectangle holds, counted here one by one. */
static gint64
count_inside (JsonObject *map, double x, double y, double width, double height)
{
  JsonArray *points = json_object_get_array_member (map, "points");
  gint64 n = 0;

  for (guint i = 0; i < json_array_get_length (points); i++)
    {
      JsonArray *point = json_array_get_array_element (points, i);
      double px = json_array_get_double_element (point, 0), py = json_array_get_double_element (point, 1);
      n += px >= x && px <= x + width && py >= y && py <= y + height;
    }
  return n;
}

/* The points inside the triangle, counted here with the even-odd rule. */
static gint64
count_in_triangle (JsonObject *map, const double triangle[3][2])
{
  JsonArray *points = json_object_get_array_member (map, "points");
  gint64 n = 0;

  for (guint i = 0; i < json_array_get_length (points); i++)
    {
      JsonArray *point = json_array_get_array_element (points, i);
      double px = json_array_get_double_element (point, 0), py = json_array_get_double_element (point, 1);
      gboolean inside = FALSE;
      for (int a = 0, b = 2; a < 3; b = a++)
        if ((triangle[a][1] > py) != (triangle[b][1] > py)
            && px < (triangle[b][0] - triangle[a][0]) * (py - triangle[a][1]) / (triangle[b][1] - triangle[a][1])
                    + triangle[a][0])
          inside = !inside;
      n += inside;
    }
  return n;
}

/* The point nearest (X, Y), the first of equals, counted here one by one. */
static gint64
nearest_point (JsonObject *map, double x, double y)
{
  JsonArray *points = json_object_get_array_member (map, "points");
  double best = G_MAXDOUBLE;
  gint64 nearest = -1;

  for (guint i = 0; i < json_array_get_length (points); i++)
    {
      JsonArray *point = json_array_get_array_element (points, i);
      double dx = json_array_get_double_element (point, 0) - x, dy = json_array_get_double_element (point, 1) - y;
      if (dx * dx + dy * dy < best)
        {
          best = dx * dx + dy * dy;
          nearest = i;
        }
    }
  return nearest;
}

static void
assert_same_points (JsonObject *a, JsonObject *b)
{
  JsonArray *pa = json_object_get_array_member (a, "points"), *pb = json_object_get_array_member (b, "points");

  g_assert_cmpuint (json_array_get_length (pa), ==, json_array_get_length (pb));
  for (guint i = 0; i < json_array_get_length (pa); i++)
    for (guint k = 0; k < 2; k++)
      g_assert_cmpfloat (json_array_get_double_element (json_array_get_array_element (pa, i), k), ==,
                         json_array_get_double_element (json_array_get_array_element (pb, i), k));
}

/* The map cache of the runs named "map": the one *.map file beside their index. */
static char *
find_map_cache (void)
{
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "map.home", "cache", "cliplab", "index", NULL);
  g_autoptr (GDir) listing = g_dir_open (dir, 0, NULL);
  char *found = NULL;

  g_assert_nonnull (listing);
  for (const char *name; (name = g_dir_read_name (listing)) != NULL;)
    if (g_str_has_suffix (name, ".map"))
      {
        g_assert_null (found);
        found = g_build_filename (dir, name, NULL);
      }
  g_assert_nonnull (found);
  return found;
}

/* ---------------------------------------------------------------- the test */

#define OPEN_MAP_STEPS(folder_json) \
  "{\"do\": \"resize\", \"width\": 1280, \"height\": 800}," \
  "{\"do\": \"wait-model\"}," \
  "{\"do\": \"open\", \"path\": " folder_json "}," \
  "{\"do\": \"view\", \"name\": \"map\"}," \
  "{\"do\": \"map-wait\", \"points\": true}"       /* 4 */

static void
test_map (void)
{
  g_autofree char *folder_json = q (folder);
  /* The left half of the map, its full height: some of the points, not all. */
  g_autofree char *steps = g_strdup_printf (
    OPEN_MAP_STEPS ("%s") ","
    "{\"do\": \"map-screenshot\", \"file\": \"map.png\"},"
    "{\"do\": \"screenshot\", \"file\": \"map-window.png\"},"
    "{\"do\": \"map-select\", \"x\": 0, \"y\": 0, \"width\": 495, \"height\": 800},"
    "{\"do\": \"map-query\", \"text\": \"red\"},"
    "{\"do\": \"map-action\", \"action\": \"show-in-grid\"},"                       /* 9 */
    "{\"do\": \"screenshot\", \"file\": \"map-show-in-grid.png\"},"
    "{\"do\": \"map-lasso\", \"path\": [[0, 0], [990, 0], [0, 750]]},"
    "{\"do\": \"view\", \"name\": \"map\"},"                                     /* 12 */
    "{\"do\": \"map-focus\"},"
    "{\"do\": \"press-keys\", \"keys\": \"plus\"},"
    "{\"do\": \"map-state\"},"                                                  /* 15 */
    "{\"do\": \"press-keys\", \"keys\": \"0\"},"
    "{\"do\": \"map-state\", \"points\": true},"
    "{\"do\": \"press-keys\", \"keys\": \"Left\"},"
    "{\"do\": \"map-state\", \"points\": true},"
    "{\"do\": \"map-legend\", \"row\": 0}",
    folder_json);
  g_autoptr (AppRun) run = app_run ("map", TINY_MODEL_ARGS, steps, NULL);

  JsonObject *map = step (run, 4);
  check_layout (map, N_IMAGES);
  g_assert_false (json_object_get_boolean_member (map, "from_cache"));
  g_assert_false (json_object_has_member (step (run, 5), "error"));
  guint colours = count_colours (member_string (step (run, 5), "file"));
  g_test_message ("the map's screenshot has %u colours", colours);
  g_assert_cmpuint (colours, >, 2);

  JsonObject *selected = step (run, 7);
  gint64 inside = count_inside (map, 0, 0, 495, 800);
  g_test_message ("%" G_GINT64_FORMAT " of %d points in the rectangle", inside, N_IMAGES);
  g_assert_cmpint (member_int (selected, "n_selected"), ==, inside);
  g_autofree char *selection_text = g_strdup_printf (inside == 1 ? "%" G_GINT64_FORMAT " image selected"
                                                                 : "%" G_GINT64_FORMAT " images selected", inside);
  g_assert_cmpstr (member_string (selected, "selection_text"), ==, selection_text);
  g_assert_null (member_string (map, "selection_text"));
  g_assert_cmpint (inside, >, 0);
  g_assert_cmpint (inside, <, N_IMAGES);
  g_assert_cmpint (member_int (step (run, 8), "n_highlighted"), ==, TOP_K);

  JsonObject *grid = step (run, 9);
  g_autofree char *count = g_strdup_printf ("%" G_GINT64_FORMAT " of %d images: Images selected on the map", inside,
                                            N_IMAGES);
  g_assert_cmpstr (member_string (grid, "view"), ==, "browse");
  g_assert_cmpstr (member_string (grid, "browse_count"), ==, count);

  /* The lasso: the triangle over the top-left half of the canvas. */
  static const double triangle[3][2] = { { 0, 0 }, { 990, 0 }, { 0, 750 } };
  gint64 in_lasso = count_in_triangle (map, triangle);
  g_test_message ("%" G_GINT64_FORMAT " of %d points in the lasso", in_lasso, N_IMAGES);
  g_assert_cmpint (member_int (step (run, 11), "n_selected"), ==, in_lasso);
  g_assert_cmpint (in_lasso, >, 0);
  g_assert_cmpint (in_lasso, <, N_IMAGES);

  /* The keyboard: + zooms in a step, 0 shows the whole map again, ← moves it 48 pixels right. */
  double fitted = json_object_get_double_member (map, "scale");
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (step (run, 15), "scale"), fitted * 1.25, fitted * 1e-9);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (step (run, 17), "scale"), fitted, fitted * 1e-9);
  JsonArray *before = json_array_get_array_element (json_object_get_array_member (step (run, 17), "points"), 0);
  JsonArray *after = json_array_get_array_element (json_object_get_array_member (step (run, 19), "points"), 0);
  g_assert_cmpfloat_with_epsilon (json_array_get_double_element (after, 0), json_array_get_double_element (before, 0) + 48,
                                  1e-6);
  g_assert_cmpfloat_with_epsilon (json_array_get_double_element (after, 1), json_array_get_double_element (before, 1),
                                  1e-6);

  /* The legend counts every image once, and its first row lights up as many images as it counts. */
  JsonArray *legend = json_object_get_array_member (map, "legend");
  gint64 total = 0;
  for (guint r = 0; r < json_array_get_length (legend); r++)
    total += member_int (json_array_get_object_element (legend, r), "count");
  g_assert_cmpint (total, ==, N_IMAGES);
  g_assert_cmpint (member_int (step (run, 20), "n_highlighted"), ==,
                   member_int (json_array_get_object_element (legend, 0), "count"));
  g_assert_cmpstr (member_string (json_array_get_object_element (legend, 0), "name"), ==,
                   json_array_get_string_element (json_object_get_array_member (map, "cluster_names"), 0));

  /* Started again: the same map, read from the cache; the pointer over a point finds it (the grid
   * of cells against the nearest point found here), and a point clicked is the session's image. */
  static const guint probes[] = { 0, 21, 42, N_IMAGES - 1 };
  g_autoptr (GString) cached_steps = g_string_new (NULL);
  g_string_printf (cached_steps, OPEN_MAP_STEPS ("%s"), folder_json);
  for (guint k = 0; k < G_N_ELEMENTS (probes); k++)
    {
      JsonArray *point = json_array_get_array_element (json_object_get_array_member (map, "points"), probes[k]);
      char x[G_ASCII_DTOSTR_BUF_SIZE], y[G_ASCII_DTOSTR_BUF_SIZE];
      g_ascii_dtostr (x, sizeof x, json_array_get_double_element (point, 0) + 0.5);
      g_ascii_dtostr (y, sizeof y, json_array_get_double_element (point, 1) + 0.5);
      g_string_append_printf (cached_steps, ",{\"do\": \"map-point-at\", \"x\": %s, \"y\": %s}", x, y);
    }
  g_string_append (cached_steps, ",{\"do\": \"map-action\", \"action\": \"zoom-fit\", \"point\": 7}");
  g_autoptr (AppRun) again = app_run ("map", TINY_MODEL_ARGS, cached_steps->str, NULL);
  JsonObject *cached = step (again, 4);
  check_layout (cached, N_IMAGES);
  g_assert_true (json_object_get_boolean_member (cached, "from_cache"));
  assert_same_points (map, cached);
  for (guint k = 0; k < G_N_ELEMENTS (probes); k++)
    {
      JsonArray *point = json_array_get_array_element (json_object_get_array_member (map, "points"), probes[k]);
      gint64 want = nearest_point (map, json_array_get_double_element (point, 0) + 0.5,
                                   json_array_get_double_element (point, 1) + 0.5);
      g_assert_cmpint (member_int (step (again, 5 + k), "point_at"), ==, want);
    }
  g_autofree char *seventh = g_build_filename (folder, "kind0-07.png", NULL);
  g_assert_cmpstr (member_string (step (again, 5 + G_N_ELEMENTS (probes)), "selected_path"), ==, seventh);

  g_autofree char *again_steps = g_strdup_printf (OPEN_MAP_STEPS ("%s"), folder_json);

  /* An image more: the next start lays the map out again, with it. */
  g_autofree char *added = g_build_filename (folder, "kind0-extra.png", NULL);
  draw_image (added, 0, PER_KIND);
  g_autoptr (AppRun) changed = app_run ("map", TINY_MODEL_ARGS, again_steps, NULL);
  JsonObject *recomputed = step (changed, 4);
  check_layout (recomputed, N_IMAGES + 1);
  g_assert_false (json_object_get_boolean_member (recomputed, "from_cache"));

  /* A cache cut short (a torn write the atomic replace would prevent) is never trusted: the map is
   * laid out again, the same for the same seed. */
  g_autofree char *cache = find_map_cache ();
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_assert_true (g_file_get_contents (cache, &contents, &length, NULL));
  tu_write_file (cache, contents, length / 2);
  g_autoptr (AppRun) torn = app_run ("map", TINY_MODEL_ARGS, again_steps, NULL);
  JsonObject *repaired = step (torn, 4);
  check_layout (repaired, N_IMAGES + 1);
  g_assert_false (json_object_get_boolean_member (repaired, "from_cache"));
  assert_same_points (recomputed, repaired);
}

/* Stop while the folder is indexed: the page says so and no map is shown; Lay Out the Map then
 * finishes it, with the images indexed before the stop kept. */
static void
test_stop (void)
{
  g_autofree char *many = g_build_filename (tu_tmpdir (), "Many", NULL);
  g_assert_cmpint (g_mkdir_with_parents (many, 0755), ==, 0);
  for (int i = 0; i < N_MANY; i++)
    {
      g_autofree char *name = g_strdup_printf ("many-%04d.png", i);
      g_autofree char *path = g_build_filename (many, name, NULL);
      draw_image (path, i % N_KINDS, i);
    }
  g_autofree char *many_json = q (many);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"open\", \"path\": %s},"
    "{\"do\": \"view\", \"name\": \"map\"},"
    "{\"do\": \"map-wait-progress\"},"                                          /* 4 */
    "{\"do\": \"map-stop\", \"action\": \"stop\"},"
    "{\"do\": \"map-action\", \"action\": \"compute\"},"
    "{\"do\": \"map-wait\", \"timeout\": 300}",
    many_json);
  g_autoptr (AppRun) run = app_run ("map-stop", TINY_MODEL_ARGS, steps, NULL);

  JsonObject *progress = step (run, 4), *stopped = step (run, 5), *done = step (run, 7);
  g_test_message ("stopped at: %s", member_string (progress, "progress_text"));
  g_assert_cmpstr (member_string (progress, "page"), ==, "computing");
  g_assert_cmpstr (member_string (stopped, "page"), ==, "error");
  g_assert_cmpstr (member_string (stopped, "error_title"), ==, "Stopped");
  g_assert_cmpint (member_int (stopped, "n_points"), ==, 0);
  g_assert_cmpstr (member_string (done, "page"), ==, "content");
  g_assert_cmpint (member_int (done, "n_points"), ==, N_MANY);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  if (!app_run_setup ())
    {
      app_run_add_skipped ("/gui-map");
      return g_test_run ();
    }
  model_dir = tu_shared_path ("golden/models/tiny_quickgelu/hf");
  folder = make_folder ();
  g_test_add_func ("/gui-map/layout-select-cache", test_map);
  g_test_add_func ("/gui-map/stop", test_stop);
  return g_test_run ();
}
