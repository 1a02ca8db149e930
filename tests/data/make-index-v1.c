/* make-index-v1.c — wrote tests/data/index-v1.cliplab-index, an index of format version 1 (before
 * the codes), for tests/test-index-codes.c: 64 entries of 128 values, entry i's value k
 * sin (i · 0.37 + k · 0.11) normalised, path "v1/IMG_%04d.jpg".  Built against that version's writer:
 *
 *   git show c4311a9:src/clip/index-store.c > index-store.c
 *   git show c4311a9:src/clip/index-private.h > index-private.h
 *   gcc -o make-index-v1 make-index-v1.c index-store.c ../../src/clip/util-file.c -I. -I../../src/clip \
 *       -I../../build $(pkg-config --cflags --libs glib-2.0 libxxhash) -lopenblas -lm
 *   ./make-index-v1 index-v1.cliplab-index
 */
#include "index-private.h"
#include <math.h>
#include <stdio.h>
/* What index-store.c links to besides util-file.c. */
GQuark
clip_error_quark (void)
{
  return g_quark_from_static_string ("clip-error");
}

void
clip_index_codes_free (ClipIndexCodes *codes)
{
  (void) codes;
}

int
main (int argc, char **argv)
{
  enum { N = 64, DIM = 128 };
  static float e[N * DIM];
  ClipIndexEntry list[N];
  for (int i = 0; i < N; i++)
    {
      double norm = 0;
      for (int k = 0; k < DIM; k++) { e[i * DIM + k] = (float) sin (i * 0.37 + k * 0.11); norm += (double) e[i*DIM+k] * e[i*DIM+k]; }
      for (int k = 0; k < DIM; k++) e[i * DIM + k] = (float) (e[i * DIM + k] / sqrt (norm));
      list[i] = (ClipIndexEntry) { .path = g_strdup_printf ("v1/IMG_%04d.jpg", i), .size = 1000 + i, .mtime_ns = 7, .embedding = e + i * DIM };
      for (int b = 0; b < 16; b++) list[i].hash[b] = (uint8_t) (i * 16 + b);
    }
  uint8_t key[CLIP_INDEX_KEY_BYTES] = { 1, 2, 3 };
  GError *error = NULL;
  if (!clip_index_store_write (argv[1], "/cliplab-test/v1", key, DIM, list, N, &error))
    { fprintf (stderr, "%s\n", error->message); return 1; }
  return 0;
}
