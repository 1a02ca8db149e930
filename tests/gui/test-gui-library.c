/* test-gui-library.c — the photo library in the real application (under Xvfb, through the GUI test
 * driver): two photo folders added from the Search view, one holding a photo of each format people
 * have (JPEG with an EXIF orientation, PNG, WebP, HEIC, AVIF: made here, a format skipped with a
 * message when its gdk-pixbuf loader or encoder is missing), searched together with results ranked
 * as the library ranks them; thumbnails of every format, the JPEG upright; then a photo copied in,
 * renamed and deleted while the app watches, each reflected in the results (the delay is logged),
 * a folder removed, and a folder inside another added without its photos coming twice. */
#include <string.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "clip.h"
#include "gui-app.h"
#include "testutil.h"

#define PHOTO_WIDTH  96
#define PHOTO_HEIGHT 64
#define TOP_K        200

static char *model_dir;

#define TINY_MODEL_ARGS (const char *const[]) { "--model", model_dir, "--tokenizer", "bytes", NULL }

/* ---------------------------------------------------------------- photos */

/* A picture that differs with SEED: two gradients and a rectangle. */
static GdkPixbuf *
draw_photo (guint seed)
{
  GdkPixbuf *pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, PHOTO_WIDTH, PHOTO_HEIGHT);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  GRand *rand = g_rand_new_with_seed (seed);
  int a = g_rand_int_range (rand, 1, 7), b = g_rand_int_range (rand, 1, 7), c = g_rand_int_range (rand, 0, 256);
  int x0 = g_rand_int_range (rand, 0, PHOTO_WIDTH / 2), y0 = g_rand_int_range (rand, 0, PHOTO_HEIGHT / 2);
  guint8 fill[3] = { g_rand_int_range (rand, 0, 256), g_rand_int_range (rand, 0, 256), g_rand_int_range (rand, 0, 256) };

  for (int y = 0; y < PHOTO_HEIGHT; y++)
    for (int x = 0; x < PHOTO_WIDTH; x++)
      {
        guint8 *p = pixels + (size_t) y * stride + 3 * x;
        gboolean inside = x >= x0 && x < x0 + PHOTO_WIDTH / 3 && y >= y0 && y < y0 + PHOTO_HEIGHT / 3;
        p[0] = inside ? fill[0] : (guint8) ((a * x * 255 / PHOTO_WIDTH + c) & 255);
        p[1] = inside ? fill[1] : (guint8) ((b * y * 255 / PHOTO_HEIGHT) & 255);
        p[2] = inside ? fill[2] : (guint8) (((x + y) * (a + b) + c) & 255);
      }
  g_rand_free (rand);
  return pixbuf;
}

/* The name of a gdk-pixbuf format reading MIME_TYPE (a writable one when asked), or NULL. */
static char *
find_format (const char *mime_type, gboolean writable)
{
  g_autoptr (GSList) formats = gdk_pixbuf_get_formats ();
  for (GSList *l = formats; l != NULL; l = l->next)
    {
      g_auto (GStrv) types = gdk_pixbuf_format_get_mime_types (l->data);
      if (g_strv_contains ((const char *const *) types, mime_type) && (!writable || gdk_pixbuf_format_is_writable (l->data)))
        return gdk_pixbuf_format_get_name (l->data);
    }
  return NULL;
}

/* The JPEG's EXIF says "turn 90° clockwise to show" (orientation 6), as phones held upright write:
 * an APP1 segment right after the start-of-image marker. */
static void
add_exif_orientation (const char *path)
{
  static const guint8 app1[] = {
    0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
    'M', 'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,         /* big-endian TIFF, first IFD at 8 */
    0x00, 0x01,                                           /* one entry: */
    0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,       /* Orientation, SHORT, 1 value: */
    0x00, 0x06, 0x00, 0x00,                               /* 6 */
    0x00, 0x00, 0x00, 0x00,                               /* no next IFD */
  };
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_true (len > 2 && (guint8) data[0] == 0xFF && (guint8) data[1] == 0xD8);
  GString *out = g_string_new_len (data, 2);
  g_string_append_len (out, (const char *) app1, sizeof app1);
  g_string_append_len (out, data + 2, len - 2);
  tu_write_file (path, out->str, out->len);
  g_string_free (out, TRUE);
}

static gboolean
run_encoder (const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  int status = 0;
  g_autofree char *err = NULL;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                     &err, &status, &error))
    {
      g_test_message ("%s: %s", argv[0], error->message);
      return FALSE;
    }
  if (!g_spawn_check_wait_status (status, &error))
    {
      g_test_message ("%s: %s\n%s", argv[0], error->message, err);
      return FALSE;
    }
  return TRUE;
}

/* Writes photo SEED as FORMAT into FOLDER; returns its path, or NULL (with a message naming the
 * format) when this machine cannot make or read that format. */
static char *
make_photo (const char *folder, const char *name, const char *format, guint seed)
{
  g_autoptr (GdkPixbuf) pixbuf = draw_photo (seed);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (folder, name, NULL);
  g_autofree char *mime_type = g_strconcat ("image/", format, NULL);
  g_autofree char *loader = find_format (mime_type, FALSE);
  g_autofree char *saver = find_format (mime_type, TRUE);

  if (loader == NULL)
    {
      g_test_message ("skipping %s: no gdk-pixbuf loader for it (install its Debian package, see setup.sh)", format);
      g_free (path);
      return NULL;
    }
  if (g_str_equal (format, "jpeg"))
    {
      g_assert_true (gdk_pixbuf_save (pixbuf, path, "jpeg", &error, "quality", "92", NULL));
      add_exif_orientation (path);
    }
  else if (saver != NULL)
    g_assert_true (gdk_pixbuf_save (pixbuf, path, saver, &error, NULL));
  else
    {
      /* No gdk-pixbuf saver: libheif's and libavif's encoders from a PNG. */
      g_autofree char *png = g_strconcat (path, ".png", NULL);
      g_assert_true (gdk_pixbuf_save (pixbuf, png, "png", &error, NULL));
      gboolean made = g_str_equal (format, "heic")
        ? run_encoder ((const char *const[]) { "heif-enc", "-q", "90", "-o", path, png, NULL })
        : run_encoder ((const char *const[]) { "avifenc", png, path, NULL });
      g_unlink (png);
      if (!made)
        {
          g_test_message ("skipping %s: its encoder is missing or failed (see setup.sh)", format);
          g_free (path);
          return NULL;
        }
    }
  g_assert_no_error (error);
  return path;
}

/* ---------------------------------------------------------------- expected ranking */

static ClipModel *
tiny_model (void)
{
  static ClipModel *model;
  if (model == NULL)
    {
      g_autoptr (GError) error = NULL;
      ClipLoadOptions options;
      clip_load_options_init (&options);
      options.tokenizer_path = "bytes";
      model = clip_model_load (model_dir, &options, &error);
      g_assert_no_error (error);
    }
  return model;
}

typedef struct {
  char *path;
  float score;
} Expected;

static int
compare_expected (gconstpointer a, gconstpointer b)
{
  const Expected *x = a, *y = b;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  return strcmp (x->path, y->path);
}

static void
expected_clear (gpointer data)
{
  g_free (((Expected *) data)->path);
}

/* What the library ranks for TEXT over FOLDERS, each indexed here in a cache of the test's own: the
 * folders' results merged by score. */
static GArray *
library_ranking (const char *const *folders, const char *text)
{
  GArray *all = g_array_new (FALSE, FALSE, sizeof (Expected));
  const int dim = clip_model_get_config (tiny_model ())->embed_dim;
  g_autofree char *cache = g_build_filename (tu_tmpdir (), "test-index", NULL);

  g_array_set_clear_func (all, expected_clear);
  for (const char *const *folder = folders; *folder != NULL; folder++)
    {
      g_autoptr (GError) error = NULL;
      ClipIndexOptions options;
      clip_index_options_init (&options);
      options.cache_dir = cache;
      g_autoptr (ClipIndex) index = clip_index_open (*folder, tiny_model (), &options, &error);
      g_assert_no_error (error);
      clip_index_update (index, NULL, NULL, &error);
      g_assert_no_error (error);
      g_autofree float *query = g_new (float, dim);
      ClipQueryTerm term = { .text = text, .weight = 1 };
      clip_index_embed_query (index, &term, 1, query, &error);
      g_assert_no_error (error);
      ClipSearchResult found[TOP_K];
      int n = clip_index_search (index, query, TOP_K, -1, found);
      for (int i = 0; i < n; i++)
        {
          Expected e = { g_build_filename (*folder, found[i].path, NULL), found[i].score };
          g_array_append_val (all, e);
        }
    }
  g_array_sort (all, compare_expected);
  return all;
}

static void
check_ranking (JsonObject *report, const char *const *folders, const char *text)
{
  g_autoptr (GArray) want = library_ranking (folders, text);
  JsonArray *shown = json_object_get_array_member (report, "results");

  g_assert_cmpstr (member_string (report, "page"), ==, "results");
  g_assert_cmpuint (json_array_get_length (shown), ==, want->len);
  for (guint i = 0; i < want->len; i++)
    {
      JsonObject *result = json_array_get_object_element (shown, i);
      const Expected *e = &g_array_index (want, Expected, i);
      g_assert_cmpstr (member_string (result, "path"), ==, e->path);
      g_assert_cmpfloat_with_epsilon (json_object_get_double_member (result, "score"), e->score, 1e-6);
    }
}

static JsonObject *
find_result (JsonObject *report, const char *path)
{
  JsonArray *shown = json_object_get_array_member (report, "results");
  for (guint i = 0; i < json_array_get_length (shown); i++)
    {
      JsonObject *result = json_array_get_object_element (shown, i);
      if (g_str_equal (member_string (result, "path"), path))
        return result;
    }
  return NULL;
}

/* Milliseconds from the start of step FROM to the end of step TO. */
static double
elapsed_ms (AppRun *run, int from, int to)
{
  return (json_object_get_int_member (step (run, to), "wall_us")
          - json_object_get_int_member (step (run, from), "start_us")) / 1000.0;
}

/* ---------------------------------------------------------------- the test */

static void
test_library (void)
{
  g_autofree char *photos = g_build_filename (tu_tmpdir (), "Phone Photos", NULL);
  g_autofree char *camera = g_build_filename (tu_tmpdir (), "Camera", NULL);
  g_autofree char *spare = g_build_filename (tu_tmpdir (), "spare", NULL);
  g_assert_cmpint (g_mkdir_with_parents (photos, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (camera, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (spare, 0755), ==, 0);

  static const char *const formats[] = { "jpeg", "png", "webp", "heic", "avif" };
  g_autoptr (GPtrArray) made = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_autofree char *name = g_strdup_printf ("photo-%u.%s", i, g_str_equal (formats[i], "jpeg") ? "jpg" : formats[i]);
      char *path = make_photo (photos, name, formats[i], 10 + i);
      if (path != NULL)
        g_ptr_array_add (made, path);
    }
  g_autofree char *jpeg = g_build_filename (photos, "photo-0.jpg", NULL);
  /* A subfolder, later added as a photo folder of its own: its photo must still come once. */
  g_autofree char *holiday = g_build_filename (photos, "Holiday", NULL);
  g_assert_cmpint (g_mkdir_with_parents (holiday, 0755), ==, 0);
  g_free (make_photo (holiday, "beach.png", "png", 40));
  const int n_phone = made->len + 1;
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *name = g_strdup_printf ("camera-%u.png", i);
      g_free (make_photo (camera, name, "png", 20 + i));
    }
  g_autofree char *new_photo = make_photo (spare, "new.png", "png", 30);
  g_autofree char *added = g_build_filename (camera, "new.png", NULL);
  g_autofree char *renamed = g_build_filename (camera, "renamed.png", NULL);

  /* The fixture itself: the JPEG is landscape as stored, portrait as shown. */
  g_autoptr (GdkPixbuf) stored = gdk_pixbuf_new_from_file (jpeg, NULL);
  g_autoptr (GdkPixbuf) upright = gdk_pixbuf_apply_embedded_orientation (stored);
  g_assert_cmpint (gdk_pixbuf_get_width (stored), ==, PHOTO_WIDTH);
  g_assert_cmpint (gdk_pixbuf_get_width (upright), ==, PHOTO_HEIGHT);

  g_autofree char *photos_json = q (photos), *camera_json = q (camera), *new_json = q (new_photo);
  g_autofree char *added_json = q (added), *renamed_json = q (renamed), *holiday_json = q (holiday);
  g_autofree char *steps = g_strdup_printf (
    "{\"do\": \"resize\", \"width\": 1280, \"height\": 800},"
    "{\"do\": \"wait-model\"},"
    "{\"do\": \"view\", \"name\": \"search\"},"
    "{\"do\": \"add-folder\", \"path\": %s},"
    "{\"do\": \"add-folder\", \"path\": %s},"
    "{\"do\": \"wait-index\"},"                                                    /* 5 */
    "{\"do\": \"search\", \"text\": \"a photo\"},"
    "{\"do\": \"wait-thumbnails\"},"
    "{\"do\": \"search\", \"text\": \"a colourful photo\"},"
    "{\"do\": \"screenshot\", \"file\": \"search-library.png\"},"
    "{\"do\": \"copy-file\", \"from\": %s, \"to\": %s},"                      /* 10 */
    "{\"do\": \"wait-result\", \"path\": %s},"
    "{\"do\": \"rename-file\", \"from\": %s, \"to\": %s},"
    "{\"do\": \"wait-result\", \"path\": %s},"
    "{\"do\": \"wait-result\", \"path\": %s, \"present\": false},"
    "{\"do\": \"search\", \"text\": \"a photo\"},"                                      /* 15 */
    "{\"do\": \"remove-file\", \"path\": %s},"
    "{\"do\": \"wait-result\", \"path\": %s, \"present\": false},"
    "{\"do\": \"remove-folder\", \"path\": %s},"
    "{\"do\": \"search\", \"text\": \"a colourful photo\"},"
    "{\"do\": \"add-folder\", \"path\": %s},"                                 /* 20 */
    "{\"do\": \"search\", \"text\": \"a photo\"}",
    photos_json, camera_json,
    new_json, added_json, added_json,
    added_json, renamed_json, renamed_json, added_json,
    renamed_json, renamed_json,
    camera_json, holiday_json);
  g_autoptr (AppRun) run = app_run ("library", TINY_MODEL_ARGS, steps, NULL);

  /* Both folders indexed in the background, the app responsive meanwhile. */
  JsonObject *indexed = step (run, 5);
  assert_responsive (indexed, "indexing the photo folders");
  g_assert_cmpint (json_object_get_int_member (indexed, "n_indexed"), ==, n_phone + 2);

  /* One ranking over both folders, as the library computes it. */
  const char *both[] = { photos, camera, NULL };
  check_ranking (step (run, 6), both, "a photo");

  /* Every format has its thumbnail; the JPEG's is upright (taller than wide). */
  JsonObject *shown = step (run, 8);
  check_ranking (shown, both, "a colourful photo");
  for (guint i = 0; i < made->len; i++)
    {
      JsonObject *result = find_result (shown, made->pdata[i]);
      g_assert_nonnull (result);
      g_test_message ("%s: thumbnail %" G_GINT64_FORMAT "×%" G_GINT64_FORMAT, (char *) made->pdata[i],
                      json_object_get_int_member (result, "thumbnail_width"),
                      json_object_get_int_member (result, "thumbnail_height"));
      g_assert_false (json_object_get_boolean_member (result, "thumbnail_failed"));
      g_assert_cmpint (json_object_get_int_member (result, "thumbnail_width"), >, 0);
    }
  JsonObject *jpeg_result = find_result (shown, jpeg);
  g_assert_cmpint (json_object_get_int_member (jpeg_result, "thumbnail_height"), >,
                   json_object_get_int_member (jpeg_result, "thumbnail_width"));

  /* A photo copied in appears, a rename follows it, a deletion removes it: no full re-scan. */
  g_assert_true (json_object_get_boolean_member (step (run, 10), "done"));
  g_test_message ("a new photo appeared in the results %.0f ms after it was copied", elapsed_ms (run, 10, 11));
  g_test_message ("a renamed photo was found under its new name %.0f ms after the rename", elapsed_ms (run, 12, 13));
  g_test_message ("a deleted photo left the results %.0f ms after the deletion", elapsed_ms (run, 16, 17));
  /* "Within seconds"; sanitizer builds run several times slower (build-aux/sanitize.sh). */
  const char *scale_text = g_getenv ("CLIPLAB_TEST_TIME_SCALE");
  double scale = scale_text != NULL ? MAX (g_ascii_strtod (scale_text, NULL), 1.0) : 1.0;
  g_assert_cmpfloat (elapsed_ms (run, 10, 11), <, 5000 * scale);
  g_assert_cmpfloat (elapsed_ms (run, 12, 13), <, 5000 * scale);
  g_assert_cmpfloat (elapsed_ms (run, 16, 17), <, 5000 * scale);
  g_assert_null (find_result (step (run, 13), added));
  /* The folders are as at the start again: the library's ranking of them. */
  check_ranking (step (run, 17), both, "a photo");
  g_assert_cmpint (json_object_get_int_member (step (run, 17), "n_indexed"), ==, n_phone + 2);

  /* Without the camera folder, only the phone photos are searched. */
  const char *phone_only[] = { photos, NULL };
  check_ranking (step (run, 19), phone_only, "a colourful photo");
  g_assert_cmpint (json_object_get_int_member (step (run, 19), "n_indexed"), ==, n_phone);

  /* A photo folder inside another is searched once, through the outer one. */
  check_ranking (step (run, 21), phone_only, "a photo");
  g_assert_cmpint (json_object_get_int_member (step (run, 21), "n_indexed"), ==, n_phone);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  if (!app_run_setup ())
    {
      app_run_add_skipped ("/gui-library");
      return g_test_run ();
    }
  model_dir = tu_shared_path ("golden/models/tiny_quickgelu/hf");
  g_test_add_func ("/gui-library/library", test_library);
  return g_test_run ();
}
