/* test-fuzz-regressions.c — replays every input the fuzzers ever stopped on.
 *
 * tests/fuzz/regressions/<harness>/ holds the crash, leak, timeout and out-of-memory inputs that
 * tests/fuzz/run.sh found (one file each); this feeds each through the same harness body as
 * libFuzzer did (tests/fuzz/fuzz-targets.c), without libFuzzer, so a fixed bug stays fixed.  A
 * harness body aborts when the reader breaks its contract, which fails this test.  Each harness
 * also gets an empty input and a few bytes, so the bodies run even before any finding. */
#include "fuzz/fuzz-targets.h"
#include "testutil.h"

#include <glib.h>
#include <string.h>

typedef struct {
  const FuzzTarget *target;
  char *dir;
} Harness;

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
skip_without_shared (gconstpointer data)
{
  /* The config harnesses link to the tiny model; the encoder uses OpenAI's vocabulary. */
  g_test_skip ("the shared reference folder is missing");
}

static void
test_replay (gconstpointer data)
{
  const Harness *h = data;
  static const uint8_t small[][4] = { { 0 }, { 1, 2, 3, 4 }, { 0xFF, 0xFF, 0xFF, 0xFF } };
  h->target->run (small[0], 0);
  for (size_t i = 0; i < G_N_ELEMENTS (small); i++)
    h->target->run (small[i], sizeof small[i]);

  int n_files = 0;
  GDir *dir = g_dir_open (h->dir, 0, NULL);
  if (dir != NULL)
    {
      /* Sorted, so a failure names the same file every time. */
      g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
      const char *name;
      while ((name = g_dir_read_name (dir)) != NULL)
        if (name[0] != '.')
          g_ptr_array_add (names, g_strdup (name));
      g_dir_close (dir);
      g_ptr_array_sort (names, compare_names);
      for (guint i = 0; i < names->len; i++)
        {
          g_autofree char *path = g_build_filename (h->dir, names->pdata[i], NULL);
          g_autofree char *contents = NULL;
          gsize len;
          GError *error = NULL;
          g_assert_true (g_file_get_contents (path, &contents, &len, &error));
          g_assert_no_error (error);
          g_test_message ("%s: %s (%" G_GSIZE_FORMAT " bytes)", h->target->name, (char *) names->pdata[i], len);
          h->target->run ((const uint8_t *) contents, len);
          n_files++;
        }
    }
  g_test_message ("%s: %d regression inputs replayed", h->target->name, n_files);
}

static void
free_harness (gpointer data)
{
  Harness *h = data;
  g_free (h->dir);
  g_free (h);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autofree char *bpe = tu_shared_path ("data/clip-bpe/bpe_simple_vocab_16e6.txt.gz");
  g_autofree char *tiny = tu_shared_path ("golden/models/tiny_quickgelu/hf/model.safetensors");
  gboolean have_shared = g_file_test (bpe, G_FILE_TEST_IS_REGULAR) && g_file_test (tiny, G_FILE_TEST_IS_REGULAR);
  g_autoptr (GPtrArray) harnesses = g_ptr_array_new_with_free_func (free_harness);
  for (const FuzzTarget *t = fuzz_targets; t->name != NULL; t++)
    {
      g_autofree char *test_path = g_strdup_printf ("/fuzz-regressions/%s", t->name);
      if (!have_shared)
        {
          g_test_add_data_func (test_path, NULL, skip_without_shared);
          continue;
        }
      Harness *h = g_new0 (Harness, 1);
      h->target = t;
      h->dir = g_build_filename (FUZZ_REGRESSIONS_DIR, t->name, NULL);
      g_ptr_array_add (harnesses, h);
      g_test_add_data_func (test_path, h, test_replay);
    }
  return g_test_run ();
}
