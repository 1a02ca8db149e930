#include "testutil.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

char *
tu_shared_path (const char *rel)
{
  const char *root = g_getenv ("CLIPLAB_SHARED");
  if (root == NULL)
    root = CLIPLAB_SHARED_DIR;
  return g_build_filename (root, rel, NULL);
}

static char *tmpdir;

void
tu_remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  if (dir != NULL)
    {
      const char *name;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            tu_remove_tree (child);
          else
            g_unlink (child);
        }
      g_dir_close (dir);
    }
  g_rmdir (path);
}

static void
remove_tmpdir (void)
{
  if (tmpdir != NULL && g_getenv ("CLIPLAB_KEEP_TMP") == NULL)
    tu_remove_tree (tmpdir);
}

const char *
tu_tmpdir (void)
{
  if (tmpdir == NULL)
    {
      GError *error = NULL;
      tmpdir = g_dir_make_tmp ("cliplab-test-XXXXXX", &error);
      g_assert_no_error (error);
      atexit (remove_tmpdir);
    }
  return tmpdir;
}

static double
compare (const char *what, const float *got, const float *want, int64_t n, double tol, gboolean relative)
{
  double max_want = 0, max_diff = 0;
  int64_t worst = 0;
  for (int64_t i = 0; i < n; i++)
    {
      double d = fabs ((double) got[i] - (double) want[i]);
      if (!(d <= max_diff)) /* NaN counts as the worst */
        {
          max_diff = isnan (d) ? INFINITY : d;
          worst = i;
        }
      max_want = fmax (max_want, fabs ((double) want[i]));
    }
  double err = relative ? max_diff / fmax (max_want, 1e-30) : max_diff;
  g_test_message ("%-40s n=%-8" G_GINT64_FORMAT " max|diff|=%.3g %s=%.3g", what, n, max_diff,
                  relative ? "rel" : "abs", err);
  if (!(err <= tol))
    {
      g_test_fail_printf ("%s: max %s error %.3g > %.3g at index %" G_GINT64_FORMAT
                          " (got %.9g, want %.9g)", what, relative ? "relative" : "absolute",
                          err, tol, worst, got[worst], want[worst]);
    }
  return err;
}

double
tu_assert_close_rel (const char *what, const float *got, const float *want, int64_t n, double tol)
{
  return compare (what, got, want, n, tol, TRUE);
}

double
tu_assert_close_abs (const char *what, const float *got, const float *want, int64_t n, double tol)
{
  return compare (what, got, want, n, tol, FALSE);
}

void
tu_write_file (const char *path, const void *data, size_t len)
{
  GError *error = NULL;
  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
}

char *
tu_make_dir (const char *name)
{
  char *dir = g_build_filename (tu_tmpdir (), name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

void
tu_write_text (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  tu_write_file (path, text, strlen (text));
}
