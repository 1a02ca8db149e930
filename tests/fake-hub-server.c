/* fake-hub-server SHARED_DIR — the hub-like server of fakehub.c as a program, for the command-line
 * test: serves the tiny golden model as "test/tiny-clip" (its weights' first storage GET cut
 * half-way), as the gated "test/gated" (token "secret-token") and "test/slow" (2 MB of weights served
 * at about 0.8 MB/s, to interrupt), prints its URL on stdout, and
 * runs until stdin is closed or it is killed. */
#include "fakehub.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void
add_tiny (FakeHub *hub, const char *shared, const char *repo, const char *token, int cuts)
{
  g_autofree char *config = g_build_filename (shared, "golden/models/tiny_quickgelu/hf/config.json", NULL);
  g_autofree char *weights = g_build_filename (shared, "golden/models/tiny_quickgelu/hf/model.safetensors", NULL);
  fake_hub_add_repo (hub, repo, "1111111111111111111111111111111111111111", token);
  fake_hub_add_file_from (hub, repo, "config.json", config, 0);
  char *data;
  gsize len;
  if (!g_file_get_contents (weights, &data, &len, NULL))
    g_error ("cannot read %s", weights);
  g_autoptr (GBytes) content = g_bytes_new_take (data, len);
  fake_hub_add_file (hub, repo, "model.safetensors", content, FAKE_FILE_LFS, cuts);
  g_autoptr (GBytes) pickle = g_bytes_new_static ("not read", 8);
  fake_hub_add_file (hub, repo, "pytorch_model.bin", pickle, FAKE_FILE_LFS, 0);
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: fake-hub-server SHARED_DIR\n");
      return 2;
    }
  FakeHub *hub = fake_hub_start ();
  add_tiny (hub, argv[1], "test/tiny-clip", NULL, 1);
  add_tiny (hub, argv[1], "test/gated", "secret-token", 0);
  fake_hub_add_repo (hub, "test/slow", "3333333333333333333333333333333333333333", NULL);
  g_autoptr (GBytes) config = g_bytes_new_static ("{}", 2);
  fake_hub_add_file (hub, "test/slow", "config.json", config, 0, 0);
  g_autoptr (GBytes) weights = g_bytes_new_take (g_malloc0 (2 * 1000 * 1000), 2 * 1000 * 1000);
  fake_hub_add_file (hub, "test/slow", "model.safetensors", weights, FAKE_FILE_LFS | FAKE_FILE_SLOW, 0);
  printf ("%s\n", fake_hub_url (hub));
  fflush (stdout);
  char buffer[256];
  while (read (STDIN_FILENO, buffer, sizeof buffer) > 0)
    ;
  fake_hub_stop (hub);
  return 0;
}
