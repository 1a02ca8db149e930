/* test-app-units.c — the application's pure helpers: class names and prompt templates as typed. */
#include <glib.h>

#include "cl-class-parser.h"

static void
test_class_names (void)
{
  g_auto (GStrv) none = cl_class_names_parse ("  , ,\n\n");
  g_assert_cmpuint (g_strv_length (none), ==, 0);

  /* Commas and line breaks both separate; spaces are trimmed; a repeated name is kept once. */
  g_auto (GStrv) names = cl_class_names_parse (" cat, dog\nsports car ,\n cat,  a \"quoted\" one ");
  const char *want[] = { "cat", "dog", "sports car", "a \"quoted\" one", NULL };
  g_assert_cmpstrv (names, want);

  g_auto (GStrv) unicode = cl_class_names_parse ("고양이, 강아지");
  const char *want_unicode[] = { "고양이", "강아지", NULL };
  g_assert_cmpstrv (unicode, want_unicode);
}

static void
test_templates (void)
{
  guint bad = 99;
  g_auto (GStrv) custom = cl_templates_parse ("a photo of a {}.\n\nno placeholder here\n  a {} in the wild  \n", &bad);
  const char *want[] = { "a photo of a {}.", "a {} in the wild", NULL };
  g_assert_cmpstrv (custom, want);
  g_assert_cmpuint (bad, ==, 3);

  g_auto (GStrv) fine = cl_templates_parse ("{}", &bad);
  g_assert_cmpuint (bad, ==, 0);
  g_assert_cmpuint (g_strv_length (fine), ==, 1);

  /* CLIP_benchmark writes its templates with {c}. */
  g_auto (GStrv) benchmark = cl_templates_parse ("a photo of a {c}.\nc\n", &bad);
  const char *want_benchmark[] = { "a photo of a {c}.", NULL };
  g_assert_cmpstrv (benchmark, want_benchmark);
  g_assert_cmpuint (bad, ==, 2);

  /* Presets come from the library's template sets. */
  g_auto (GStrv) simple = cl_templates_for_preset ("simple", NULL, &bad);
  g_assert_cmpuint (g_strv_length (simple), ==, 1);
  g_assert_cmpstr (simple[0], ==, "a photo of a {}.");
  g_auto (GStrv) openai = cl_templates_for_preset ("openai7", NULL, &bad);
  g_assert_cmpuint (g_strv_length (openai), ==, 7);
  g_auto (GStrv) imagenet = cl_templates_for_preset ("imagenet80", NULL, &bad);
  g_assert_cmpuint (g_strv_length (imagenet), ==, 80);
  g_auto (GStrv) from_custom = cl_templates_for_preset ("custom", "itap of a {}.\nbroken", &bad);
  g_assert_cmpuint (g_strv_length (from_custom), ==, 1);
  g_assert_cmpuint (bad, ==, 2);

  /* Cache keys tell template lists apart. */
  const char *a[] = { "a {}", "b {}", NULL };
  const char *b[] = { "a {}b {}", NULL };
  g_autofree char *key_a = cl_templates_key (a);
  g_autofree char *key_b = cl_templates_key (b);
  g_assert_cmpstr (key_a, !=, key_b);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/class-names", test_class_names);
  g_test_add_func ("/app/templates", test_templates);
  return g_test_run ();
}
