/* generate.h — the data sets `cliplab-cli dataset` writes (Fashion-MNIST converted, "shapes" drawn
 * with Cairo).  Part of the CLI, not of the library: only the CLI, the tests and the benchmarks use
 * them, and the library does not link Cairo.  Errors are in the CLIP_ERROR domain. */
#pragma once

#include "clip.h"

G_BEGIN_DECLS

/* Both write OUT_DIR/train.csv and OUT_DIR/test.csv (image_path,caption,label, paths relative to
 * OUT_DIR), the PNG files they name under OUT_DIR/train/ and OUT_DIR/test/, and OUT_DIR/classes.txt.
 * The same arguments give the same bytes. */

/* Fashion-MNIST's class names in label order: "t-shirt/top", "trouser", … "ankle boot"; static. */
const char *const *cli_fashion_mnist_classes (void);

/* Converts Fashion-MNIST's IDX files in FROM_DIR (train-images-idx3-ubyte and the three others,
 * gzipped or not) into 28 × 28 RGB PNGs; captions are a SEED-drawn choice among varied templates.
 * LIMIT_TRAIN / LIMIT_TEST keep the first N items of each split (0 = all). */
gboolean cli_generate_fashion_mnist (const char *from_dir, const char *out_dir, int limit_train,
                                     int limit_test, uint64_t seed, const ClipCallbacks *callbacks,
                                     GError **error);

/* COUNT procedurally drawn IMAGE_SIZE² scenes of one or two coloured shapes, captioned
 * ("a small red circle left of a large blue square"), a fifth of them in the test split.  The label
 * is the first shape's "colour shape".  Some colour × shape pairs (cli_shapes_held_out) never
 * appear in train.csv; about half the test scenes start with one of them. */
gboolean cli_generate_shapes (const char *out_dir, int count, uint64_t seed, int image_size,
                              const ClipCallbacks *callbacks, GError **error);
/* The held-out "colour shape" pairs, NULL-terminated, static. */
const char *const *cli_shapes_held_out (void);

G_END_DECLS
