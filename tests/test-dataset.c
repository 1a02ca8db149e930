/* test-dataset.c — the CSV data set loader (RFC 4180 details, containment of paths, bad rows with
 * their line numbers), decoding into crops (in memory and through the cache file), and the two
 * data set generators. */
#include "clip.h"
#include "generate.h"
#include "testutil.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A WIDTH × HEIGHT PNG whose pixels depend on SEED. */
static void
write_png (const char *dir, const char *name, int width, int height, int seed)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      for (int c = 0; c < 3; c++)
        pixels[y * stride + x * 3 + c] = (guint8) (x * 7 + y * 13 + c * 50 + seed * 31);
  GError *error = NULL;
  g_assert_true (gdk_pixbuf_save (pixbuf, path, "png", &error, NULL));
  g_assert_no_error (error);
}

static char *
real_path (const char *path)
{
  char *resolved = realpath (path, NULL);
  g_assert_nonnull (resolved);
  char *copy = g_strdup (resolved);
  free (resolved);
  return copy;
}

static ClipDataset *
load (const char *dir, const char *csv_name, const char *root, GError **error)
{
  g_autofree char *csv = g_build_filename (dir, csv_name, NULL);
  return clip_dataset_load_csv (csv, root, error);
}

/* The issue reported for LINE, or a test failure. */
static const ClipDatasetIssue *
find_issue (const ClipDataset *dataset, int line)
{
  GPtrArray *issues = clip_dataset_get_issues (dataset);
  for (guint i = 0; i < issues->len; i++)
    {
      const ClipDatasetIssue *issue = g_ptr_array_index (issues, i);
      if (issue->line == line)
        return issue;
    }
  g_error ("no issue reported for line %d (%u issues)", line, issues->len);
  return NULL;
}

static void
assert_issue (const ClipDataset *dataset, int line, const char *path, const char *reason_part)
{
  const ClipDatasetIssue *issue = find_issue (dataset, line);
  g_assert_cmpstr (issue->path, ==, path);
  if (strstr (issue->reason, reason_part) == NULL)
    g_error ("line %d: reason \"%s\" does not mention \"%s\"", line, issue->reason, reason_part);
}

/* ---------------------------------------------------------------- CSV parsing */

/* A BOM, CRLF line ends, columns in another order with an extra one, a quoted comma, doubled
 * quotes and a quoted newline (after which line numbers still count physical lines). */
static void
test_csv_rfc4180 (void)
{
  g_autofree char *dir = tu_make_dir ("rfc4180");
  write_png (dir, "a.png", 8, 8, 1);
  write_png (dir, "b.png", 8, 8, 2);
  write_png (dir, "c.png", 8, 8, 3);
  write_png (dir, "sub/d.png", 8, 8, 4);
  tu_write_text (dir, "data.csv",
              "\xEF\xBB\xBF" "Caption,extra,image_path,label\r\n"    /* 1 */
              "\"a cat, sitting\",x,a.png,cat\r\n"                   /* 2 */
              "\"a \"\"quoted\"\" dog\",y,b.png,dog\r\n"             /* 3 */
              "\"two\r\nlines\",\"z,\r\n\",c.png,cat\r\n"           /* 4-6 */
              "\r\n"                                                 /* 7: blank */
              "  plain caption  ,w,sub/d.png, bird \r\n");          /* 8, no newline after */
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load (dir, "data.csv", dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 4);
  g_assert_cmpuint (clip_dataset_get_issues (dataset)->len, ==, 0);

  static const int lines[] = { 2, 3, 4, 8 };
  static const char *const captions[] = { "a cat, sitting", "a \"quoted\" dog", "two\r\nlines", "plain caption" };
  static const char *const files[] = { "a.png", "b.png", "c.png", "sub/d.png" };
  g_autofree char *root = real_path (dir);
  for (int i = 0; i < 4; i++)
    {
      g_assert_cmpint (clip_dataset_get_line (dataset, i), ==, lines[i]);
      g_assert_cmpstr (clip_dataset_get_caption (dataset, i), ==, captions[i]);
      g_autofree char *want = g_build_filename (root, files[i], NULL);
      g_assert_cmpstr (clip_dataset_get_image_path (dataset, i), ==, want);
    }

  /* Labels sorted by name, rows mapped onto them. */
  g_assert_cmpint (clip_dataset_get_n_labels (dataset), ==, 3);
  g_assert_cmpstr (clip_dataset_get_label_name (dataset, 0), ==, "bird");
  g_assert_cmpstr (clip_dataset_get_label_name (dataset, 1), ==, "cat");
  g_assert_cmpstr (clip_dataset_get_label_name (dataset, 2), ==, "dog");
  static const int labels[] = { 1, 2, 1, 0 };
  for (int i = 0; i < 4; i++)
    g_assert_cmpint (clip_dataset_get_label (dataset, i), ==, labels[i]);
}

static void
test_csv_caption_groups (void)
{
  g_autofree char *dir = tu_make_dir ("groups");
  write_png (dir, "a.png", 8, 8, 1);
  tu_write_text (dir, "data.csv", "image_path,caption\na.png,a cat\na.png,a dog\na.png,a cat\na.png,a bird\na.png,a dog\n");
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load (dir, "data.csv", NULL, &error);  /* root: the CSV's folder */
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 5);
  static const int want[] = { 0, 1, 0, 2, 1 };
  g_assert_cmpmem (clip_dataset_get_caption_groups (dataset), sizeof want, want, sizeof want);
  g_assert_cmpint (clip_dataset_get_n_labels (dataset), ==, 0);
  g_assert_cmpint (clip_dataset_get_label (dataset, 0), ==, -1);
}

static void
test_csv_header_errors (void)
{
  g_autofree char *dir = tu_make_dir ("headers");
  write_png (dir, "a.png", 8, 8, 1);
  GError *error = NULL;

  tu_write_text (dir, "no-caption.csv", "image_path,label\na.png,cat\n");
  g_assert_null (load (dir, "no-caption.csv", dir, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "no-caption.csv"));
  g_assert_nonnull (strstr (error->message, "'caption'"));
  g_clear_error (&error);

  tu_write_text (dir, "no-path.csv", "file,caption\na.png,a cat\n");
  g_assert_null (load (dir, "no-path.csv", dir, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "'image_path'"));
  g_clear_error (&error);

  tu_write_text (dir, "twice.csv", "image_path,caption,caption\na.png,a,b\n");
  g_assert_null (load (dir, "twice.csv", dir, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "twice"));
  g_clear_error (&error);

  tu_write_text (dir, "empty.csv", "");
  g_assert_null (load (dir, "empty.csv", dir, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "empty.csv"));
  g_clear_error (&error);

  tu_write_text (dir, "header-only.csv", "image_path,caption\n");
  g_assert_null (load (dir, "header-only.csv", dir, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "no usable row"));
  g_clear_error (&error);

  g_assert_null (load (dir, "absent.csv", dir, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "absent.csv"));
  g_clear_error (&error);

  tu_write_text (dir, "ok.csv", "image_path,caption\na.png,a cat\n");
  g_autofree char *missing_root = g_build_filename (dir, "no-such-root", NULL);
  g_assert_null (load (dir, "ok.csv", missing_root, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "no-such-root"));
  g_clear_error (&error);
}

/* Every kind of bad row is skipped with its line and a reason; the good rows stay. */
static void
test_csv_bad_rows (void)
{
  g_autofree char *top = tu_make_dir ("badrows");
  g_autofree char *dir = tu_make_dir ("badrows/root");
  write_png (top, "outside.png", 8, 8, 1);
  write_png (dir, "good.png", 8, 8, 2);
  write_png (dir, "inner/target.png", 8, 8, 3);
  g_autofree char *outside = g_build_filename (top, "outside.png", NULL);
  g_autofree char *escape_link = g_build_filename (dir, "escape.png", NULL);
  g_autofree char *inner_link = g_build_filename (dir, "inner-link.png", NULL);
  g_assert_cmpint (symlink (outside, escape_link), ==, 0);
  g_assert_cmpint (symlink ("inner/target.png", inner_link), ==, 0);
  g_autofree char *good_absolute = g_build_filename (dir, "good.png", NULL);

  g_autofree char *csv = g_strdup_printf (
    "image_path,caption\n"                     /* 1 */
    "good.png,a good row\n"                    /* 2 */
    "../outside.png,escapes by ..\n"           /* 3 */
    "%s,absolute outside: fine\n"              /* 4: fine */
    "escape.png,a link out of the root\n"      /* 5 */
    "missing.png,no such file\n"               /* 6 */
    "good.png,   \n"                           /* 7: empty caption */
    "good.png,too,many\n"                      /* 8 */
    "inner,a folder\n"                         /* 9 */
    "inner-link.png,a link inside\n"           /* 10: fine */
    "%s,absolute inside\n"                     /* 11: fine */
    ",no path\n"                               /* 12 */
    "inner/../good.png,dot-dot staying inside\n"  /* 13: fine */
    "good.png,\"never closed\n"                /* 14 */
    "good.png,swallowed by the open quote\n",  /* 15 */
    outside, good_absolute);
  tu_write_text (dir, "data.csv", csv);
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load (dir, "data.csv", dir, &error);
  g_assert_no_error (error);

  /* An absolute path is no escape: data sets exported by other tools are written that way. */
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 5);
  static const int good_lines[] = { 2, 4, 10, 11, 13 };
  for (int i = 0; i < 5; i++)
    g_assert_cmpint (clip_dataset_get_line (dataset, i), ==, good_lines[i]);
  g_autofree char *root = real_path (dir);
  g_autofree char *real_outside = real_path (outside);
  g_autofree char *target = g_build_filename (root, "inner", "target.png", NULL);
  g_assert_cmpstr (clip_dataset_get_image_path (dataset, 1), ==, real_outside);
  g_assert_cmpstr (clip_dataset_get_image_path (dataset, 2), ==, target);  /* the resolved link */

  assert_issue (dataset, 3, "../outside.png", "relative path leads outside the image root");
  assert_issue (dataset, 5, "escape.png", "symbolic link");
  assert_issue (dataset, 6, "missing.png", "no such file");
  assert_issue (dataset, 7, "good.png", "empty caption");
  assert_issue (dataset, 8, NULL, "3 fields, the header has 2");
  assert_issue (dataset, 9, "inner", "not a regular file");
  assert_issue (dataset, 12, NULL, "empty image path");
  assert_issue (dataset, 14, NULL, "never closed");
  g_assert_cmpuint (clip_dataset_get_issues (dataset)->len, ==, 8);
}

/* A row over the 1 MiB limit is skipped, and the next row keeps its line number. */
static void
test_csv_long_row (void)
{
  g_autofree char *dir = tu_make_dir ("longrow");
  write_png (dir, "a.png", 8, 8, 1);
  GString *text = g_string_new ("image_path,caption\na.png,\"");
  for (int i = 0; i < CLIP_MAX_CSV_RECORD_BYTES / 8 + 10; i++)
    g_string_append (text, "a cat\n, ");  /* 8 bytes, a quoted newline each */
  g_string_append (text, "\"\na.png,short\n");
  tu_write_text (dir, "data.csv", text->str);
  int long_lines = CLIP_MAX_CSV_RECORD_BYTES / 8 + 10;
  g_string_free (text, TRUE);

  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load (dir, "data.csv", dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 1);
  g_assert_cmpint (clip_dataset_get_line (dataset, 0), ==, 2 + long_lines + 1);
  assert_issue (dataset, 2, NULL, "1 MiB");
}

/* NUL bytes and invalid UTF-8 are row problems, not load failures. */
static void
test_csv_binary_rows (void)
{
  g_autofree char *dir = tu_make_dir ("binary");
  write_png (dir, "a.png", 8, 8, 1);
  static const char text[] = "image_path,caption\na.png,nul\0here\na.png,bad \xff utf-8\na.png,fine\n";
  g_autofree char *path = g_build_filename (dir, "data.csv", NULL);
  tu_write_file (path, text, sizeof text - 1);
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load (dir, "data.csv", dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 1);
  g_assert_cmpint (clip_dataset_get_line (dataset, 0), ==, 4);
  assert_issue (dataset, 2, NULL, "NUL");
  assert_issue (dataset, 3, NULL, "UTF-8");
}

static void
test_csv_all_bad (void)
{
  g_autofree char *dir = tu_make_dir ("allbad");
  tu_write_text (dir, "data.csv", "image_path,caption\nmissing.png,a\n../x.png,b\n");
  GError *error = NULL;
  g_assert_null (load (dir, "data.csv", dir, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "data.csv"));
  g_assert_nonnull (strstr (error->message, "2 skipped"));
  g_clear_error (&error);
}

/* ---------------------------------------------------------------- decoding */

static gboolean
abort_always (gpointer user_data)
{
  return TRUE;
}

static void
count_progress (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  int64_t *calls = user_data;
  g_assert_cmpint (done, >=, 1);
  g_assert_cmpint (done, <=, total);
  calls[0]++;
  calls[1] = total;
}

/* A data set of images of several sizes plus an undecodable PNG, a text file named .png and an
 * empty file; the label "bird" belongs only to a bad row. */
static char *
make_prepare_set (void)
{
  char *dir = tu_make_dir ("prepare");
  write_png (dir, "wide.png", 40, 20, 1);
  write_png (dir, "tall.png", 15, 33, 2);
  write_png (dir, "small.png", 5, 4, 3);
  write_png (dir, "real.png", 24, 24, 4);
  /* A PNG signature and then garbage. */
  tu_write_text (dir, "broken.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR garbage garbage garbage");
  tu_write_text (dir, "notes.png", "these are notes, not a picture\n");
  tu_write_text (dir, "empty.png", "");
  tu_write_text (dir, "data.csv",
              "image_path,caption,label\n"          /* 1 */
              "wide.png,a wide picture,cat\n"       /* 2 */
              "broken.png,a broken one,bird\n"      /* 3 */
              "tall.png,a tall picture,dog\n"       /* 4 */
              "notes.png,some notes,cat\n"          /* 5 */
              "small.png,a wide picture,dog\n"      /* 6: caption shared with line 2 */
              "empty.png,nothing,cat\n"             /* 7 */
              "real.png,a real one,cat\n"           /* 8 */
              "wide.png,the wide one again,cat\n"   /* 9: image shared with line 2 */
              "tall.png,tall again,cat\n");         /* 10: line 4 gave it another label */
  return dir;
}

static void
test_prepare_drops_bad_images (void)
{
  g_autofree char *dir = make_prepare_set ();
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load (dir, "data.csv", dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 8);
  g_assert_cmpint (clip_dataset_get_n_images (dataset), ==, 7);
  g_assert_cmpint (clip_dataset_get_n_labels (dataset), ==, 3);
  g_assert_cmpint (clip_dataset_get_crop_size (dataset), ==, 0);
  assert_issue (dataset, 10, "tall.png", "line 4 gives the same image the label 'dog'");

  int64_t progress[2] = { 0, 0 };
  const ClipCallbacks callbacks = { .progress = count_progress, .user_data = progress };
  g_assert_true (clip_dataset_prepare_images (dataset, 16, FALSE, 1 << 20, NULL, &callbacks, &error));
  g_assert_no_error (error);
  g_assert_cmpint (progress[1], ==, 7);  /* distinct files */
  g_assert_cmpint (progress[0], ==, 7);
  g_assert_cmpint (clip_dataset_get_crop_size (dataset), ==, 16);

  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 5);
  static const int lines[] = { 2, 4, 6, 8, 9 };
  for (int i = 0; i < 5; i++)
    g_assert_cmpint (clip_dataset_get_line (dataset, i), ==, lines[i]);
  assert_issue (dataset, 3, "broken.png", "");
  assert_issue (dataset, 5, "notes.png", "not an image");
  assert_issue (dataset, 7, "empty.png", "empty file");
  g_assert_cmpuint (clip_dataset_get_issues (dataset)->len, ==, 4);
  /* The reason does not repeat the path. */
  g_assert_null (strstr (find_issue (dataset, 5)->reason, "notes.png"));

  /* "bird" is gone with its only row; groups renumbered over the remaining rows. */
  g_assert_cmpint (clip_dataset_get_n_labels (dataset), ==, 2);
  g_assert_cmpstr (clip_dataset_get_label_name (dataset, 0), ==, "cat");
  g_assert_cmpstr (clip_dataset_get_label_name (dataset, 1), ==, "dog");
  static const int labels[] = { 0, 1, 1, 0, 0 };
  static const int groups[] = { 0, 1, 0, 2, 3 };
  for (int i = 0; i < 5; i++)
    g_assert_cmpint (clip_dataset_get_label (dataset, i), ==, labels[i]);
  g_assert_cmpmem (clip_dataset_get_caption_groups (dataset), sizeof groups, groups, sizeof groups);

  /* Each crop is the spec preprocessing of its file. */
  uint8_t want[16 * 16 * 3];
  for (int i = 0; i < 5; i++)
    {
      g_autoptr (ClipImage) image = clip_image_load (clip_dataset_get_image_path (dataset, i), FALSE, &error);
      g_assert_no_error (error);
      clip_image_resize_crop (image, 16, want);
      g_assert_cmpmem (clip_dataset_get_crop (dataset, i), sizeof want, want, sizeof want);
    }
  /* Rows of one file share its crop. */
  g_assert_true (clip_dataset_get_crop (dataset, 0) == clip_dataset_get_crop (dataset, 4));
}

static int
count_entries (const char *dir)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (handle);
  int n = 0;
  while (g_dir_read_name (handle) != NULL)
    n++;
  return n;
}

/* A memory limit too small for the crops sends them to an (unlinked) cache file: same bytes. */
static void
test_prepare_cache_file (void)
{
  g_autofree char *dir = make_prepare_set ();
  g_autofree char *cache = tu_make_dir ("prepare-cache");
  GError *error = NULL;
  g_autoptr (ClipDataset) in_memory = load (dir, "data.csv", dir, &error);
  g_autoptr (ClipDataset) cached = load (dir, "data.csv", dir, &error);
  g_assert_no_error (error);
  g_assert_true (clip_dataset_prepare_images (in_memory, 20, FALSE, 1 << 20, NULL, NULL, &error));
  g_assert_true (clip_dataset_prepare_images (cached, 20, FALSE, 100, cache, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (count_entries (cache), ==, 0);  /* unlinked at once */

  g_assert_cmpint (clip_dataset_get_size (cached), ==, clip_dataset_get_size (in_memory));
  for (int i = 0; i < clip_dataset_get_size (cached); i++)
    g_assert_cmpmem (clip_dataset_get_crop (cached, i), 20 * 20 * 3, clip_dataset_get_crop (in_memory, i),
                     20 * 20 * 3);
  g_assert_cmpuint (clip_dataset_get_issues (cached)->len, ==, 4);

  /* A cache folder that does not exist is a clear error. */
  g_autoptr (ClipDataset) third = load (dir, "data.csv", dir, &error);
  g_autofree char *missing = g_build_filename (cache, "missing", NULL);
  g_assert_false (clip_dataset_prepare_images (third, 20, FALSE, 100, missing, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "missing"));
  g_clear_error (&error);
}

static void
test_prepare_all_bad (void)
{
  g_autofree char *dir = tu_make_dir ("prepare-allbad");
  tu_write_text (dir, "a.png", "not a picture");
  tu_write_text (dir, "b.png", "");
  tu_write_text (dir, "data.csv", "image_path,caption\na.png,one\nb.png,two\n");
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load (dir, "data.csv", dir, &error);
  g_assert_no_error (error);
  g_assert_false (clip_dataset_prepare_images (dataset, 8, FALSE, 1 << 20, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "data.csv"));
  g_clear_error (&error);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 0);
  g_assert_cmpuint (clip_dataset_get_issues (dataset)->len, ==, 2);
}

static void
test_prepare_abort_and_size (void)
{
  g_autofree char *dir = make_prepare_set ();
  GError *error = NULL;
  g_autoptr (ClipDataset) dataset = load (dir, "data.csv", dir, &error);
  const ClipCallbacks abort_callbacks = { .abort = abort_always };
  g_assert_false (clip_dataset_prepare_images (dataset, 16, FALSE, 1 << 20, NULL, &abort_callbacks, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED);
  g_clear_error (&error);
  g_assert_cmpint (clip_dataset_get_crop_size (dataset), ==, 0);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 8);  /* nothing dropped */

  g_assert_false (clip_dataset_prepare_images (dataset, 0, FALSE, 1 << 20, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (clip_dataset_prepare_images (dataset, 100000, FALSE, 1 << 20, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_clear_error (&error);

  /* Preparing again at another size replaces the crops. */
  g_assert_true (clip_dataset_prepare_images (dataset, 8, FALSE, 1 << 20, NULL, NULL, &error));
  g_assert_true (clip_dataset_prepare_images (dataset, 12, FALSE, 1 << 20, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_crop_size (dataset), ==, 12);
  g_assert_cmpuint (clip_dataset_get_issues (dataset)->len, ==, 4);  /* each bad row reported once (line 10 at the load) */
}

/* ---------------------------------------------------------------- generators */

static GBytes *
read_bytes (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *data = NULL;
  gsize length;
  GError *error = NULL;
  g_assert_true (g_file_get_contents (path, &data, &length, &error));
  g_assert_no_error (error);
  return g_bytes_new_take (g_steal_pointer (&data), length);
}

static void
assert_same_file (const char *a, const char *b, const char *name)
{
  g_autoptr (GBytes) x = read_bytes (a, name);
  g_autoptr (GBytes) y = read_bytes (b, name);
  if (!g_bytes_equal (x, y))
    g_error ("%s differs between two runs with the same seed", name);
}

static void
test_generate_shapes (void)
{
  g_autofree char *a = g_build_filename (tu_tmpdir (), "shapes-a", NULL);
  g_autofree char *b = g_build_filename (tu_tmpdir (), "shapes-b", NULL);
  g_autofree char *c = g_build_filename (tu_tmpdir (), "shapes-c", NULL);
  GError *error = NULL;
  int64_t progress[2] = { 0, 0 };
  const ClipCallbacks callbacks = { .progress = count_progress, .user_data = progress };
  g_assert_true (cli_generate_shapes (a, 50, 7, 48, &callbacks, &error));
  g_assert_no_error (error);
  g_assert_cmpint (progress[0], ==, 50);
  g_assert_true (cli_generate_shapes (b, 50, 7, 48, NULL, &error));
  g_assert_true (cli_generate_shapes (c, 50, 8, 48, NULL, &error));
  g_assert_no_error (error);

  /* Same seed, same bytes: every CSV, the description and every image. */
  assert_same_file (a, b, "train.csv");
  assert_same_file (a, b, "test.csv");
  assert_same_file (a, b, "classes.txt");
  for (int i = 0; i < 40; i++)
    {
      g_autofree char *name = g_strdup_printf ("train/%06d.png", i);
      assert_same_file (a, b, name);
    }
  for (int i = 0; i < 10; i++)
    {
      g_autofree char *name = g_strdup_printf ("test/%06d.png", i);
      assert_same_file (a, b, name);
    }
  g_autoptr (GBytes) other_seed = read_bytes (c, "train.csv");
  g_autoptr (GBytes) same_seed = read_bytes (a, "train.csv");
  g_assert_false (g_bytes_equal (other_seed, same_seed));

  g_autofree char *train_csv = g_build_filename (a, "train.csv", NULL);
  g_autofree char *test_csv = g_build_filename (a, "test.csv", NULL);
  g_autoptr (ClipDataset) train = clip_dataset_load_csv (train_csv, a, &error);
  g_autoptr (ClipDataset) test = clip_dataset_load_csv (test_csv, a, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_size (train), ==, 40);
  g_assert_cmpint (clip_dataset_get_size (test), ==, 10);
  g_assert_cmpuint (clip_dataset_get_issues (train)->len, ==, 0);

  /* The held-out pairs never appear in training, in captions or labels; test shows some. */
  const char *const *held_out = cli_shapes_held_out ();
  g_assert_cmpint (g_strv_length ((char **) held_out), >=, 2);
  for (int i = 0; i < clip_dataset_get_size (train); i++)
    for (int h = 0; held_out[h] != NULL; h++)
      if (strstr (clip_dataset_get_caption (train, i), held_out[h]) != NULL)
        g_error ("train.csv line %d: \"%s\" shows the held-out \"%s\"", clip_dataset_get_line (train, i),
                 clip_dataset_get_caption (train, i), held_out[h]);
  for (int label = 0; label < clip_dataset_get_n_labels (train); label++)
    g_assert_false (g_strv_contains (held_out, clip_dataset_get_label_name (train, label)));
  int held_out_tests = 0;
  for (int i = 0; i < clip_dataset_get_size (test); i++)
    {
      const char *label = clip_dataset_get_label_name (test, clip_dataset_get_label (test, i));
      held_out_tests += g_strv_contains (held_out, label);
      /* The label is the first shape named in the caption. */
      g_assert_true (strstr (clip_dataset_get_caption (test, i), label) != NULL);
    }
  g_assert_cmpint (held_out_tests, >, 0);

  /* classes.txt names the held-out pairs. */
  g_autoptr (GBytes) classes = read_bytes (a, "classes.txt");
  for (int h = 0; held_out[h] != NULL; h++)
    g_assert_nonnull (strstr (g_bytes_get_data (classes, NULL), held_out[h]));

  /* The images are IMAGE_SIZE² and not blank. */
  g_autoptr (ClipImage) image = clip_image_load (clip_dataset_get_image_path (train, 0), FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->width, ==, 48);
  g_assert_cmpint (image->height, ==, 48);
  int distinct = 0;
  for (int p = 1; p < 48 * 48; p++)
    distinct += memcmp (image->pixels + 3 * p, image->pixels, 3) != 0;
  g_assert_cmpint (distinct, >, 20);

  g_assert_false (cli_generate_shapes (a, 1, 7, 48, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (cli_generate_shapes (a, 10, 7, 8, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_clear_error (&error);
}

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* The first N bytes after SKIP of a gzipped file, read independently of the generator. */
static guint8 *
read_gzip_bytes (const char *path, size_t skip, size_t n)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  GError *error = NULL;
  g_autoptr (GFileInputStream) raw = g_file_read (file, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GZlibDecompressor) gunzip = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr (GInputStream) stream = g_converter_input_stream_new (G_INPUT_STREAM (raw), G_CONVERTER (gunzip));
  guint8 *data = g_malloc (skip + n);
  gsize got = 0;
  g_assert_true (g_input_stream_read_all (stream, data, skip + n, &got, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (got, ==, skip + n);
  memmove (data, data + skip, n);
  return data;
}

static void
test_generate_fashion_mnist (void)
{
  if (!g_file_test (FASHION_DIR "/train-images-idx3-ubyte.gz", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("Debian's dataset-fashion-mnist is not installed (bash build-aux/setup.sh deps)");
      return;
    }
  enum { N_TRAIN = 300, N_TEST = 40 };
  g_autofree char *out = g_build_filename (tu_tmpdir (), "fashion", NULL);
  GError *error = NULL;
  g_assert_true (cli_generate_fashion_mnist (FASHION_DIR, out, N_TRAIN, N_TEST, 5, NULL, &error));
  g_assert_no_error (error);

  const char *const *classes = cli_fashion_mnist_classes ();
  g_assert_cmpint (g_strv_length ((char **) classes), ==, 10);
  g_assert_cmpstr (classes[0], ==, "t-shirt/top");
  g_assert_cmpstr (classes[9], ==, "ankle boot");

  static const struct { const char *csv, *labels, *images; int n; } splits[] = {
    { "train.csv", "train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", N_TRAIN },
    { "test.csv", "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", N_TEST },
  };
  for (int s = 0; s < 2; s++)
    {
      g_autofree char *csv = g_build_filename (out, splits[s].csv, NULL);
      g_autoptr (ClipDataset) dataset = clip_dataset_load_csv (csv, out, &error);
      g_assert_no_error (error);
      const int n = splits[s].n;
      g_assert_cmpint (clip_dataset_get_size (dataset), ==, n);

      /* Row i carries IDX label i: the same label distribution, in the same order. */
      g_autofree char *labels_path = g_build_filename (FASHION_DIR, splits[s].labels, NULL);
      g_autofree guint8 *labels = read_gzip_bytes (labels_path, 8, n);
      int want_count[10] = { 0 }, got_count[10] = { 0 };
      for (int i = 0; i < n; i++)
        {
          want_count[labels[i]]++;
          const char *name = clip_dataset_get_label_name (dataset, clip_dataset_get_label (dataset, i));
          g_assert_cmpstr (name, ==, classes[labels[i]]);
          /* Test captions are templates around the class name; training captions vary their words
           * (synonyms, plurals: test-cli-data.sh checks the mix). */
          if (s == 1)
            g_assert_nonnull (strstr (clip_dataset_get_caption (dataset, i), name));
          else
            g_assert_cmpuint (strlen (clip_dataset_get_caption (dataset, i)), >, 1);
          for (int c = 0; c < 10; c++)
            got_count[c] += strcmp (name, classes[c]) == 0;
        }
      g_assert_cmpmem (got_count, sizeof got_count, want_count, sizeof want_count);

      /* Every pixel of a few PNGs equals its IDX byte, in all three channels. */
      g_autofree char *images_path = g_build_filename (FASHION_DIR, splits[s].images, NULL);
      g_autofree guint8 *pixels = read_gzip_bytes (images_path, 16, (size_t) n * 28 * 28);
      for (int i = 0; i < n; i += n / 4)
        {
          g_autoptr (ClipImage) image = clip_image_load (clip_dataset_get_image_path (dataset, i), FALSE, &error);
          g_assert_no_error (error);
          g_assert_cmpint (image->width, ==, 28);
          g_assert_cmpint (image->height, ==, 28);
          for (int p = 0; p < 28 * 28; p++)
            for (int c = 0; c < 3; c++)
              if (image->pixels[3 * p + c] != pixels[(size_t) i * 784 + p])
                g_error ("%s row %d: pixel %d channel %d is %u, the IDX byte is %u", splits[s].csv, i, p, c,
                         image->pixels[3 * p + c], pixels[(size_t) i * 784 + p]);
        }
    }

  /* The test split's templates vary (distinct prefixes before the class name), and the training
   * split's captions far more: words, synonyms, plurals and templates. */
  g_autofree char *test_csv = g_build_filename (out, "test.csv", NULL);
  g_autoptr (ClipDataset) test = clip_dataset_load_csv (test_csv, out, &error);
  g_assert_no_error (error);
  g_autoptr (GHashTable) prefixes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (int i = 0; i < clip_dataset_get_size (test); i++)
    {
      const char *caption = clip_dataset_get_caption (test, i);
      const char *name = clip_dataset_get_label_name (test, clip_dataset_get_label (test, i));
      g_hash_table_add (prefixes, g_strndup (caption, strstr (caption, name) - caption));
    }
  g_assert_cmpuint (g_hash_table_size (prefixes), >=, 8);
  g_autofree char *train_csv = g_build_filename (out, "train.csv", NULL);
  g_autoptr (ClipDataset) train = clip_dataset_load_csv (train_csv, out, &error);
  g_assert_no_error (error);
  g_autoptr (GHashTable) captions = g_hash_table_new (g_str_hash, g_str_equal);
  for (int i = 0; i < clip_dataset_get_size (train); i++)
    g_hash_table_add (captions, (gpointer) clip_dataset_get_caption (train, i));
  g_assert_cmpuint (g_hash_table_size (captions), >=, 150);
}

/* Damaged IDX files are clear errors naming the file. */
static void
test_generate_fashion_errors (void)
{
  g_autofree char *from = tu_make_dir ("fashion-bad");
  g_autofree char *out = g_build_filename (tu_tmpdir (), "fashion-bad-out", NULL);
  GError *error = NULL;

  g_assert_false (cli_generate_fashion_mnist (from, out, 1, 1, 0, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "train-images-idx3-ubyte"));
  g_clear_error (&error);

  /* A bad magic number (uncompressed files are read too). */
  static const guint8 bad_magic[] = { 0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28 };
  g_autofree char *images = g_build_filename (from, "train-images-idx3-ubyte", NULL);
  tu_write_file (images, bad_magic, sizeof bad_magic);
  g_assert_false (cli_generate_fashion_mnist (from, out, 1, 1, 0, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "train-images-idx3-ubyte"));
  g_assert_nonnull (strstr (error->message, "magic"));
  g_clear_error (&error);

  /* Wrong image size. */
  static const guint8 wrong_size[] = { 0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 32, 0, 0, 0, 28 };
  tu_write_file (images, wrong_size, sizeof wrong_size);
  g_assert_false (cli_generate_fashion_mnist (from, out, 1, 1, 0, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "32×28"));
  g_clear_error (&error);

  /* Counts that disagree, then a truncated image file. */
  static const guint8 two_images[] = { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3 };
  static const guint8 one_label[] = { 0, 0, 8, 1, 0, 0, 0, 1, 4 };
  static const guint8 two_labels[] = { 0, 0, 8, 1, 0, 0, 0, 2, 4, 5 };
  g_autofree char *labels = g_build_filename (from, "train-labels-idx1-ubyte", NULL);
  tu_write_file (images, two_images, sizeof two_images);
  tu_write_file (labels, one_label, sizeof one_label);
  g_assert_false (cli_generate_fashion_mnist (from, out, 1, 1, 0, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "2 images"));
  g_clear_error (&error);
  tu_write_file (labels, two_labels, sizeof two_labels);
  g_assert_false (cli_generate_fashion_mnist (from, out, 1, 1, 0, NULL, &error));
  /* The test split is missing: found before anything is converted. */
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "t10k"));
  g_clear_error (&error);
  g_autofree char *test_images = g_build_filename (from, "t10k-images-idx3-ubyte", NULL);
  g_autofree char *test_labels = g_build_filename (from, "t10k-labels-idx1-ubyte", NULL);
  tu_write_file (test_images, two_images, sizeof two_images);
  tu_write_file (test_labels, two_labels, sizeof two_labels);
  g_assert_false (cli_generate_fashion_mnist (from, out, 1, 1, 0, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "ends before item 1"));
  g_clear_error (&error);

  /* A gzip file that is not gzip. */
  g_assert_cmpint (g_unlink (images), ==, 0);
  g_autofree char *gz = g_build_filename (from, "train-images-idx3-ubyte.gz", NULL);
  tu_write_file (gz, "not gzip at all", 15);
  g_assert_false (cli_generate_fashion_mnist (from, out, 1, 1, 0, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "train-images-idx3-ubyte.gz"));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dataset/csv/rfc4180", test_csv_rfc4180);
  g_test_add_func ("/dataset/csv/caption-groups", test_csv_caption_groups);
  g_test_add_func ("/dataset/csv/header-errors", test_csv_header_errors);
  g_test_add_func ("/dataset/csv/bad-rows", test_csv_bad_rows);
  g_test_add_func ("/dataset/csv/long-row", test_csv_long_row);
  g_test_add_func ("/dataset/csv/binary-rows", test_csv_binary_rows);
  g_test_add_func ("/dataset/csv/all-bad", test_csv_all_bad);
  g_test_add_func ("/dataset/prepare/drops-bad-images", test_prepare_drops_bad_images);
  g_test_add_func ("/dataset/prepare/cache-file", test_prepare_cache_file);
  g_test_add_func ("/dataset/prepare/all-bad", test_prepare_all_bad);
  g_test_add_func ("/dataset/prepare/abort-and-size", test_prepare_abort_and_size);
  g_test_add_func ("/dataset/generate/shapes", test_generate_shapes);
  g_test_add_func ("/dataset/generate/fashion-mnist", test_generate_fashion_mnist);
  g_test_add_func ("/dataset/generate/fashion-errors", test_generate_fashion_errors);
  return g_test_run ();
}
