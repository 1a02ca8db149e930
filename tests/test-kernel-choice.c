/* The float32 kernel choice per shape (kernel-choice.c): measured once and cached in
 * $XDG_CACHE_HOME/cliplab/kernels.ini, read back instead of measuring again, forced by
 * CLIPLAB_F32_KERNEL, and a cache that cannot be written is not an error.  Each case runs in a fresh
 * process, since the cache is loaded once per process. */
#include "kernel-choice.h"
#include "ops-reduced.h"
#include "testutil.h"

#include <string.h>

/* Runs the current test's subprocess branch with XDG_CACHE_HOME at the folder NAME in the parent's
 * temporary folder (which outlives the child's); returns that folder. */
static char *
run_child (const char *name)
{
  char *home = g_build_filename (tu_tmpdir (), name, NULL);
  g_setenv ("XDG_CACHE_HOME", home, TRUE);
  g_unsetenv ("CLIPLAB_F32_KERNEL");
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  return home;
}

static const char *
kernel_name (ClipF32Kernel kernel)
{
  return kernel == CLIP_F32_OPENBLAS ? "openblas" : "panels";
}

/* The value cached for KEY in any group of the cache under HOME, or NULL. */
static char *
cached_choice (const char *home, const char *key)
{
  g_autofree char *path = g_build_filename (home, "cliplab", "kernels.ini", NULL);
  g_autoptr (GKeyFile) file = g_key_file_new ();
  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, NULL))
    return NULL;
  g_auto (GStrv) groups = g_key_file_get_groups (file, NULL);
  for (char **g = groups; *g != NULL; g++)
    {
      char *value = g_key_file_get_string (file, *g, key, NULL);
      if (value != NULL)
        return value;
    }
  return NULL;
}

static void
test_measured_and_cached (void)
{
  if (g_test_subprocess ())
    {
      ClipF32Kernel kernel = clip_f32_kernel_choose (512, 768);
      g_autofree char *cached = cached_choice (g_getenv ("XDG_CACHE_HOME"), "512x768");
      g_assert_cmpstr (cached, ==, kernel_name (kernel));
      g_assert_cmpint (clip_f32_kernel_choose (512, 768), ==, kernel);
      return;
    }
  g_autofree char *home = run_child ("measured");
}

/* A cache edited to the other kernel is followed: the choice is read, not measured again. */
static void
test_read_back (void)
{
  if (g_test_subprocess ())
    {
      g_print ("chose %s\n", kernel_name (clip_f32_kernel_choose (640, 512)));
      return;
    }
  g_autofree char *home = run_child ("read-back");
  g_autofree char *first = cached_choice (home, "640x512");
  g_assert_nonnull (first);
  g_autofree char *path = g_build_filename (home, "cliplab", "kernels.ini", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  const char *other = g_str_equal (first, "openblas") ? "panels" : "openblas";
  g_autofree char *from = g_strdup_printf ("640x512=%s", first);
  g_autofree char *to = g_strdup_printf ("640x512=%s", other);
  g_autoptr (GString) flipped = g_string_new (text);
  g_assert_cmpuint (g_string_replace (flipped, from, to, 1), ==, 1);
  g_assert_true (g_file_set_contents (path, flipped->str, -1, NULL));
  g_autofree char *again = run_child ("read-back");
  g_autofree char *expected = g_strdup_printf ("*chose %s*", other);
  g_test_trap_assert_stdout (expected);
}

/* Small matrices stay on the panels, untimed: OpenBLAS's repacking does not pay there. */
static void
test_small (void)
{
  if (g_test_subprocess ())
    {
      g_assert_cmpint (clip_f32_kernel_choose (64, 96), ==, CLIP_F32_PANELS);
      g_autofree char *cached = cached_choice (g_getenv ("XDG_CACHE_HOME"), "64x96");
      g_assert_null (cached);
      return;
    }
  g_autofree char *home = run_child ("small");
}

static void
test_forced (void)
{
  if (g_test_subprocess ())
    {
      g_setenv ("CLIPLAB_F32_KERNEL", "openblas", TRUE);
      g_assert_cmpint (clip_f32_kernel_choose (768, 768), ==, CLIP_F32_OPENBLAS);
      g_setenv ("CLIPLAB_F32_KERNEL", "panels", TRUE);
      g_assert_cmpint (clip_f32_kernel_choose (768, 768), ==, CLIP_F32_PANELS);
      g_autofree char *cached = cached_choice (g_getenv ("XDG_CACHE_HOME"), "768x768");
      g_assert_null (cached);
      return;
    }
  g_autofree char *home = run_child ("forced");
}

/* XDG_CACHE_HOME is a file: nothing can be written below it, and the choice is still made. */
static void
test_unwritable (void)
{
  if (g_test_subprocess ())
    {
      ClipF32Kernel kernel = clip_f32_kernel_choose (512, 768);
      g_assert_true (kernel == CLIP_F32_PANELS || kernel == CLIP_F32_OPENBLAS);
      g_assert_true (g_file_test (g_getenv ("XDG_CACHE_HOME"), G_FILE_TEST_IS_REGULAR));
      return;
    }
  g_autofree char *file = g_build_filename (tu_tmpdir (), "not-a-directory", NULL);
  g_assert_true (g_file_set_contents (file, "", 0, NULL));
  g_autofree char *home = run_child ("not-a-directory");
}

/* AUTO: F32 without native bf16 (nothing timed), else the faster of the two, timed once and
 * cached under the bf16 kernel's name. */
static void
test_auto (void)
{
  if (g_test_subprocess ())
    {
      const char *home = g_getenv ("XDG_CACHE_HOME");
      g_setenv ("CLIPLAB_KERNEL_ISA", "avx2", TRUE);
      g_assert_cmpint (clip_auto_precision (), ==, CLIP_PRECISION_F32);
      g_unsetenv ("CLIPLAB_KERNEL_ISA");
      ClipIsa isa = clip_isa_best (CLIP_REDUCED_BF16);
      ClipPrecision precision = clip_auto_precision ();
      g_autofree char *key = g_strdup_printf ("auto-%s", clip_isa_kernel_name (CLIP_REDUCED_BF16, isa));
      g_autofree char *cached = cached_choice (home, key);
      if (isa < CLIP_ISA_AVX512)
        {
          g_assert_cmpint (precision, ==, CLIP_PRECISION_F32);
          g_assert_null (cached);
        }
      else
        g_assert_cmpstr (cached, ==, clip_precision_name (precision));
      g_autofree char *avx2_key = g_strdup_printf ("auto-%s", clip_isa_kernel_name (CLIP_REDUCED_BF16, CLIP_ISA_AVX2));
      g_autofree char *avx2_cached = cached_choice (home, avx2_key);
      g_assert_null (avx2_cached);
      g_print ("auto on %s: %s\n", clip_isa_kernel_name (CLIP_REDUCED_BF16, isa), clip_precision_name (precision));
      return;
    }
  g_autofree char *home = run_child ("auto");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/kernel-choice/measured-and-cached", test_measured_and_cached);
  g_test_add_func ("/kernel-choice/read-back", test_read_back);
  g_test_add_func ("/kernel-choice/small", test_small);
  g_test_add_func ("/kernel-choice/forced", test_forced);
  g_test_add_func ("/kernel-choice/unwritable", test_unwritable);
  g_test_add_func ("/kernel-choice/auto", test_auto);
  return g_test_run ();
}
