/* generate.c — data sets to train and evaluate on: Fashion-MNIST converted from its IDX files, and
 * "shapes", captioned scenes drawn with Cairo whose held-out colour × shape pairs measure zero-shot
 * generalisation.
 *
 * Everything random comes from GRand (Mersenne Twister) seeded with the caller's seed, one stream
 * per split, and the PNGs are encoded by gdk-pixbuf without timestamps, so the same arguments write
 * the same bytes. */
#include "generate.h"

#include <cairo.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <math.h>
#include <string.h>

/* Limits of the shapes generator: scenes per run, image side in pixels. */
#define SHAPES_MAX_COUNT  1000000
#define SHAPES_MIN_SIZE   16
#define SHAPES_MAX_SIZE   1024

/* ---------------------------------------------------------------- shared output */

typedef struct {
  const char      *out_dir;
  GString         *csv[2];      /* train, test */
  const ClipCallbacks *callbacks;
  int64_t          done, total;
} GenOutput;

static const char *const gen_split_names[2] = { "train", "test" };

static gboolean
gen_output_init (GenOutput *out, const char *out_dir, int64_t total, const ClipCallbacks *callbacks,
                 GError **error)
{
  *out = (GenOutput) { .out_dir = out_dir, .callbacks = callbacks, .total = total };
  for (int s = 0; s < 2; s++)
    {
      g_autofree char *dir = g_build_filename (out_dir, gen_split_names[s], NULL);
      if (g_mkdir_with_parents (dir, 0755) != 0)
        {
          int saved = errno;
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot create the folder: %s", dir,
                       g_strerror (saved));
          return FALSE;
        }
      out->csv[s] = g_string_new ("image_path,caption,label\n");
    }
  return TRUE;
}

static void
gen_output_clear (GenOutput *out)
{
  for (int s = 0; s < 2; s++)
    if (out->csv[s] != NULL)
      g_string_free (out->csv[s], TRUE);
}

/* One CSV field, quoted when RFC 4180 requires it. */
static void
csv_append_field (GString *csv, const char *text, char terminator)
{
  if (strpbrk (text, ",\"\r\n") == NULL)
    g_string_append (csv, text);
  else
    {
      g_string_append_c (csv, '"');
      for (const char *p = text; *p != '\0'; p++)
        {
          if (*p == '"')
            g_string_append_c (csv, '"');
          g_string_append_c (csv, *p);
        }
      g_string_append_c (csv, '"');
    }
  g_string_append_c (csv, terminator);
}

/* Writes RGB (WIDTH × HEIGHT, packed) as the PNG SPLIT/NNNNNN.png and its CSV row. */
static gboolean
gen_output_add (GenOutput *out, int split, int index, const uint8_t *rgb, int width, int height,
                const char *caption, const char *label, GError **error)
{
  g_autofree char *relative = g_strdup_printf ("%s/%06d.png", gen_split_names[split], index);
  g_autofree char *path = g_build_filename (out->out_dir, relative, NULL);
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new_from_data (rgb, GDK_COLORSPACE_RGB, FALSE, 8, width, height,
                                                           width * 3, NULL, NULL);
  GError *save_error = NULL;
  if (!gdk_pixbuf_save (pixbuf, path, "png", &save_error, NULL))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", path, save_error->message);
      g_error_free (save_error);
      return FALSE;
    }
  csv_append_field (out->csv[split], relative, ',');
  csv_append_field (out->csv[split], caption, ',');
  csv_append_field (out->csv[split], label, '\n');

  out->done++;
  const ClipCallbacks *cb = out->callbacks;
  if (cb != NULL && cb->progress != NULL)
    cb->progress ("Writing images", out->done, out->total, cb->user_data);
  if (cb != NULL && cb->abort != NULL && cb->abort (cb->user_data))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED, "%s: writing the data set was stopped", out->out_dir);
      return FALSE;
    }
  return TRUE;
}

static gboolean
gen_write_text (const char *out_dir, const char *name, const char *text, GError **error)
{
  g_autofree char *path = g_build_filename (out_dir, name, NULL);
  GError *local = NULL;
  if (!g_file_set_contents (path, text, -1, &local))
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_IO, local->message);
      g_error_free (local);
      return FALSE;
    }
  return TRUE;
}

/* The CSVs, then CLASSES as classes.txt. */
static gboolean
gen_output_finish (GenOutput *out, const char *classes, GError **error)
{
  for (int s = 0; s < 2; s++)
    {
      g_autofree char *name = g_strdup_printf ("%s.csv", gen_split_names[s]);
      if (!gen_write_text (out->out_dir, name, out->csv[s]->str, error))
        return FALSE;
    }
  return gen_write_text (out->out_dir, "classes.txt", classes, error);
}

/* A generator for SPLIT's stream of SEED. */
static GRand *
gen_rand_new (uint64_t seed, int split)
{
  const guint32 words[3] = { (guint32) seed, (guint32) (seed >> 32), (guint32) split };
  return g_rand_new_with_seed_array (words, 3);
}

/* ---------------------------------------------------------------- Fashion-MNIST */

static const char *const fashion_classes[] = {
  "t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot",
  NULL,
};

/* {} is a phrase for the item: the class name or one of its words with its article ("a coat", "an
 * ankle boot"), or a plural ("sneakers"). */
static const char *const fashion_templates[] = {
  "a photo of {}", "a black and white picture of {}", "a small grey image of {}",
  "a low resolution photo of {}", "a product photo of {}", "a greyscale thumbnail of {}",
  "{} on a black background", "a blurry picture of {}", "a centred photo of {}", "a tiny picture of {}",
};

/* What people call each class's items, so the training split teaches plain words and not only
 * templates: synonyms that take an article, and plural or mass nouns that stand alone. */
static const struct {
  const char *const singular[6];
  const char *const plural[6];
} fashion_words[] = {
  { { "t-shirt", "top", "tee", "tank top", "short-sleeved top" }, { "t-shirts", "tops", "tees" } },
  { { "pair of trousers", "pair of jeans", "pair of pants" }, { "trousers", "pants", "jeans", "slacks" } },
  { { "sweater", "jumper", "sweatshirt", "long-sleeved pullover" }, { "pullovers", "sweaters", "jumpers" } },
  { { "gown", "frock", "summer dress", "long dress" }, { "dresses", "gowns" } },
  { { "jacket", "overcoat", "parka", "winter coat" }, { "coats", "jackets", "overcoats" } },
  { { "flip-flop", "pair of sandals", "summer shoe" }, { "sandals", "flip-flops" } },
  { { "blouse", "button-up shirt", "dress shirt", "shirt with a collar" }, { "shirts", "blouses" } },
  { { "trainer", "running shoe", "shoe", "pair of sneakers", "sports shoe" }, { "sneakers", "trainers", "shoes", "running shoes" } },
  { { "handbag", "purse", "tote bag", "shoulder bag" }, { "bags", "handbags", "purses" } },
  { { "boot", "bootie", "pair of boots", "leather boot" }, { "boots", "ankle boots", "booties" } },
};

#define FASHION_SIDE 28

const char *const *
cli_fashion_mnist_classes (void)
{
  return fashion_classes;
}

typedef struct {
  GInputStream *stream;
  char         *path;
  uint32_t      dims[3];     /* count, then rows and columns for images */
} IdxFile;

static void
idx_file_clear (IdxFile *idx)
{
  g_clear_object (&idx->stream);
  g_clear_pointer (&idx->path, g_free);
}

/* Reads exactly LENGTH bytes; WHAT names them in the error when the file ends first. */
static gboolean
idx_read (IdxFile *idx, void *buffer, size_t length, const char *what, GError **error)
{
  gsize got = 0;
  GError *local = NULL;
  if (!g_input_stream_read_all (idx->stream, buffer, length, &got, NULL, &local))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %s", idx->path, local->message);
      g_error_free (local);
      return FALSE;
    }
  if (got < length)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: the file ends before %s", idx->path, what);
      return FALSE;
    }
  return TRUE;
}

/* Opens DIR/NAME.gz (decompressed as it is read) or DIR/NAME and checks the header: unsigned bytes
 * in N_DIMS dimensions, a count of at least one item within CLIP_MAX_DATASET_ROWS, and for images
 * Fashion-MNIST's 28 × 28. */
static gboolean
idx_open (IdxFile *idx, const char *dir, const char *name, int n_dims, GError **error)
{
  g_autofree char *gz_name = g_strconcat (name, ".gz", NULL);
  g_autofree char *gz_path = g_build_filename (dir, gz_name, NULL);
  g_autofree char *plain_path = g_build_filename (dir, name, NULL);
  gboolean gzipped = g_file_test (gz_path, G_FILE_TEST_EXISTS);
  if (!gzipped && !g_file_test (plain_path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING,
                   "%s: neither %s nor %s is there (Debian's dataset-fashion-mnist package installs them "
                   "in /usr/share/datasets/fashion-mnist)", dir, gz_name, name);
      return FALSE;
    }
  idx->path = g_strdup (gzipped ? gz_path : plain_path);

  int fd = clip_open_input_file (idx->path, error);
  if (fd < 0)
    return FALSE;
  GInputStream *raw = g_unix_input_stream_new (fd, TRUE);
  if (gzipped)
    {
      g_autoptr (GZlibDecompressor) gunzip = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
      idx->stream = g_converter_input_stream_new (raw, G_CONVERTER (gunzip));
      g_object_unref (raw);
    }
  else
    idx->stream = raw;

  guint8 header[4 + 4 * 3];
  if (!idx_read (idx, header, 4 + 4 * (size_t) n_dims, "the end of its IDX header", error))
    return FALSE;
  uint32_t magic = (uint32_t) header[0] << 24 | (uint32_t) header[1] << 16 | header[2] << 8 | header[3];
  uint32_t expected = 0x0800u | (uint32_t) n_dims;
  if (magic != expected)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                   "%s: not an IDX file of unsigned bytes in %d dimensions (magic number 0x%08x, expected "
                   "0x%08x)", idx->path, n_dims, magic, expected);
      return FALSE;
    }
  for (int d = 0; d < n_dims; d++)
    {
      const guint8 *p = header + 4 + 4 * d;
      idx->dims[d] = (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
    }
  if (idx->dims[0] == 0 || idx->dims[0] > CLIP_MAX_DATASET_ROWS)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: the header declares %u items, expected 1 to %d",
                   idx->path, idx->dims[0], CLIP_MAX_DATASET_ROWS);
      return FALSE;
    }
  if (n_dims == 3 && (idx->dims[1] != FASHION_SIDE || idx->dims[2] != FASHION_SIDE))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                   "%s: the header declares %u×%u images; Fashion-MNIST's are %d×%d", idx->path,
                   idx->dims[1], idx->dims[2], FASHION_SIDE, FASHION_SIDE);
      return FALSE;
    }
  return TRUE;
}

/* "a coat", "an ankle boot" */
static char *
fashion_with_article (const char *name)
{
  return g_strdup_printf ("%s %s", strchr ("aeiou", name[0]) != NULL ? "an" : "a", name);
}

static char *
fashion_fill_template (GRand *rand, const char *phrase)
{
  const char *template = fashion_templates[g_rand_int_range (rand, 0, G_N_ELEMENTS (fashion_templates))];
  g_auto (GStrv) parts = g_strsplit (template, "{}", -1);
  return g_strjoinv (phrase, parts);
}

/* The test split's caption: a template around the class name ("a photo of an ankle boot"). */
static char *
fashion_caption (GRand *rand, int label)
{
  g_autofree char *name = fashion_with_article (fashion_classes[label]);
  return fashion_fill_template (rand, name);
}

/* A training caption drawn from many phrasings: the class name or a synonym, singular or plural,
 * alone ("sneakers"), with its article ("a shoe") or in a template ("a photo of a pair of jeans"),
 * now and then with the full stop zero-shot prompts end with. */
static char *
fashion_varied_caption (GRand *rand, int label)
{
  const char *const *singular = fashion_words[label].singular, *const *plural = fashion_words[label].plural;
  int n_singular = 0, n_plural = 0;
  while (n_singular < (int) G_N_ELEMENTS (fashion_words[label].singular) && singular[n_singular] != NULL)
    n_singular++;
  while (n_plural < (int) G_N_ELEMENTS (fashion_words[label].plural) && plural[n_plural] != NULL)
    n_plural++;

  /* A third of the captions keep the class name, which zero-shot prompts use. */
  double word_pick = g_rand_double (rand);
  gboolean is_plural = word_pick >= 0.33 && word_pick < 0.66;
  const char *word = word_pick < 0.33 ? fashion_classes[label]
                     : is_plural    ? plural[g_rand_int_range (rand, 0, n_plural)]
                                    : singular[g_rand_int_range (rand, 0, n_singular)];
  g_autofree char *phrase = is_plural ? g_strdup (word) : fashion_with_article (word);

  double form_pick = g_rand_double (rand);
  g_autofree char *caption = form_pick < 0.25 ? g_strdup (word)
                             : form_pick < 0.45 ? g_strdup (phrase)
                                                : fashion_fill_template (rand, phrase);
  return g_rand_int_range (rand, 0, 5) == 0 ? g_strconcat (caption, ".", NULL) : g_steal_pointer (&caption);
}

/* One split's two IDX files, opened and checked against each other. */
typedef struct {
  IdxFile images, labels;
  int     n;               /* items to convert */
} FashionSplit;

static gboolean
fashion_open_split (FashionSplit *split, const char *from_dir, const char *prefix, int limit, GError **error)
{
  g_autofree char *images_name = g_strdup_printf ("%s-images-idx3-ubyte", prefix);
  g_autofree char *labels_name = g_strdup_printf ("%s-labels-idx1-ubyte", prefix);
  if (!idx_open (&split->images, from_dir, images_name, 3, error)
      || !idx_open (&split->labels, from_dir, labels_name, 1, error))
    return FALSE;
  if (split->images.dims[0] != split->labels.dims[0])
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s has %u images but %s has %u labels",
                   split->images.path, split->images.dims[0], split->labels.path, split->labels.dims[0]);
      return FALSE;
    }
  split->n = limit > 0 ? (int) MIN ((uint32_t) limit, split->images.dims[0]) : (int) split->images.dims[0];
  return TRUE;
}

static gboolean
fashion_convert_split (GenOutput *out, FashionSplit *split, int index, uint64_t seed, GError **error)
{
  g_autoptr (GRand) rand = gen_rand_new (seed, index);
  guint8 grey[FASHION_SIDE * FASHION_SIDE], rgb[FASHION_SIDE * FASHION_SIDE * 3];
  for (int i = 0; i < split->n; i++)
    {
      g_autofree char *what = g_strdup_printf ("item %d of %u", i + 1, split->images.dims[0]);
      guint8 label;
      if (!idx_read (&split->labels, &label, 1, what, error)
          || !idx_read (&split->images, grey, sizeof grey, what, error))
        return FALSE;
      if (label >= G_N_ELEMENTS (fashion_classes) - 1)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: label %u of item %d is not a class (0 to 9)",
                       split->labels.path, label, i + 1);
          return FALSE;
        }
      for (size_t p = 0; p < sizeof grey; p++)
        memset (rgb + 3 * p, grey[p], 3);

      g_autofree char *caption = index == 0 ? fashion_varied_caption (rand, label) : fashion_caption (rand, label);
      if (!gen_output_add (out, index, i, rgb, FASHION_SIDE, FASHION_SIDE, caption, fashion_classes[label], error))
        return FALSE;
    }
  return TRUE;
}

gboolean
cli_generate_fashion_mnist (const char *from_dir, const char *out_dir, int limit_train, int limit_test,
                            uint64_t seed, const ClipCallbacks *callbacks, GError **error)
{
  g_return_val_if_fail (from_dir != NULL && out_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (limit_train < 0 || limit_test < 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "limits %d and %d: expected counts (0 = all)",
                   limit_train, limit_test);
      return FALSE;
    }
  FashionSplit splits[2] = { 0 };
  GenOutput out = { 0 };
  gboolean ok = fashion_open_split (&splits[0], from_dir, "train", limit_train, error)
                && fashion_open_split (&splits[1], from_dir, "t10k", limit_test, error)
                && gen_output_init (&out, out_dir, (int64_t) splits[0].n + splits[1].n, callbacks, error)
                && fashion_convert_split (&out, &splits[0], 0, seed, error)
                && fashion_convert_split (&out, &splits[1], 1, seed, error);
  if (ok)
    {
      g_autoptr (GString) classes = g_string_new (
        "# Fashion-MNIST (Zalando Research, MIT licence): 28×28 grey images of clothing, converted to RGB PNG.\n"
        "# The label column holds these class names, one per line in label order:\n");
      for (int c = 0; fashion_classes[c] != NULL; c++)
        g_string_append_printf (classes, "%s\n", fashion_classes[c]);
      ok = gen_output_finish (&out, classes->str, error);
    }
  gen_output_clear (&out);
  for (int s = 0; s < 2; s++)
    {
      idx_file_clear (&splits[s].images);
      idx_file_clear (&splits[s].labels);
    }
  return ok;
}

/* ---------------------------------------------------------------- shapes */

static const struct {
  const char *name;
  double      r, g, b;
} shape_colours[] = {
  { "red",    0.90, 0.12, 0.12 },
  { "green",  0.15, 0.75, 0.20 },
  { "blue",   0.20, 0.35, 0.95 },
  { "yellow", 0.95, 0.85, 0.10 },
  { "purple", 0.60, 0.25, 0.80 },
  { "white",  0.95, 0.95, 0.95 },
};

typedef enum { SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE, SHAPE_STAR, N_SHAPE_KINDS } ShapeKind;
static const char *const shape_kind_names[N_SHAPE_KINDS] = { "circle", "square", "triangle", "star" };
static const char *const shape_size_names[2] = { "small", "large" };
static const double shape_radius[2] = { 0.11, 0.20 };  /* of the image side */

/* Colour × shape pairs that only the test split shows: each shape and each colour stays in training
 * with other partners. */
static const char *const shapes_held_out[] = { "red triangle", "green star", "blue circle", "yellow square", NULL };

const char *const *
cli_shapes_held_out (void)
{
  return shapes_held_out;
}

/* Where a shape goes: a box in fractions of the image.  A single shape's position, and for two
 * shapes the first one's box when the relation holds (the second takes the opposite box, index ^ 1). */
static const struct {
  double x0, y0, x1, y1;
  const char *alone;      /* "a small red circle on the left" */
  const char *relation;   /* "a small red circle left of a large blue square" */
} shape_boxes[4] = {
  { 0.00, 0.15, 0.50, 0.85, "on the left",   "left of" },
  { 0.50, 0.15, 1.00, 0.85, "on the right",  "right of" },
  { 0.15, 0.00, 0.85, 0.50, "at the top",    "above" },
  { 0.15, 0.50, 0.85, 1.00, "at the bottom", "below" },
};

typedef struct {
  int    colour, kind, size;
  double x, y, radius, angle;
} Shape;

static char *
shape_label (const Shape *shape)
{
  return g_strdup_printf ("%s %s", shape_colours[shape->colour].name, shape_kind_names[shape->kind]);
}

static gboolean
shape_is_held_out (int colour, int kind)
{
  g_autofree char *label = g_strdup_printf ("%s %s", shape_colours[colour].name, shape_kind_names[kind]);
  return g_strv_contains (shapes_held_out, label);
}

/* A colour and kind: outside the held-out pairs for training, one of them when FORCE_HELD_OUT. */
static void
shape_pick (GRand *rand, gboolean allow_held_out, gboolean force_held_out, Shape *shape)
{
  if (force_held_out)
    {
      int pick = g_rand_int_range (rand, 0, (gint32) g_strv_length ((char **) shapes_held_out));
      for (int c = 0; c < (int) G_N_ELEMENTS (shape_colours); c++)
        for (int k = 0; k < N_SHAPE_KINDS; k++)
          if (shape_is_held_out (c, k) && pick-- == 0)
            {
              shape->colour = c;
              shape->kind = k;
            }
    }
  else
    do
      {
        shape->colour = g_rand_int_range (rand, 0, G_N_ELEMENTS (shape_colours));
        shape->kind = g_rand_int_range (rand, 0, N_SHAPE_KINDS);
      }
    while (!allow_held_out && shape_is_held_out (shape->colour, shape->kind));
  shape->size = g_rand_int_range (rand, 0, 2);
  shape->angle = shape->kind == SHAPE_CIRCLE ? 0 : g_rand_double_range (rand, -0.4, 0.4);
}

/* A centre inside box B with the whole shape (and a pixel of margin) in it. */
static void
shape_place (GRand *rand, int b, int side, Shape *shape)
{
  shape->radius = shape_radius[shape->size] * side;
  double lo_x = shape_boxes[b].x0 * side + shape->radius + 1, hi_x = shape_boxes[b].x1 * side - shape->radius - 1;
  double lo_y = shape_boxes[b].y0 * side + shape->radius + 1, hi_y = shape_boxes[b].y1 * side - shape->radius - 1;
  shape->x = hi_x > lo_x ? g_rand_double_range (rand, lo_x, hi_x) : (lo_x + hi_x) / 2;
  shape->y = hi_y > lo_y ? g_rand_double_range (rand, lo_y, hi_y) : (lo_y + hi_y) / 2;
}

static void
shape_draw (cairo_t *cr, const Shape *shape)
{
  cairo_save (cr);
  cairo_translate (cr, shape->x, shape->y);
  cairo_rotate (cr, shape->angle);
  double r = shape->radius;
  switch ((ShapeKind) shape->kind)
    {
    case SHAPE_CIRCLE:
      cairo_arc (cr, 0, 0, r, 0, 2 * G_PI);
      break;
    case SHAPE_SQUARE:
      cairo_rectangle (cr, -0.85 * r, -0.85 * r, 1.7 * r, 1.7 * r);
      break;
    case SHAPE_TRIANGLE:
      for (int i = 0; i < 3; i++)
        cairo_line_to (cr, r * cos (-G_PI / 2 + i * 2 * G_PI / 3), r * sin (-G_PI / 2 + i * 2 * G_PI / 3));
      cairo_close_path (cr);
      break;
    case SHAPE_STAR:
      for (int i = 0; i < 10; i++)
        {
          double radius = i % 2 == 0 ? r : 0.45 * r;
          cairo_line_to (cr, radius * cos (-G_PI / 2 + i * G_PI / 5), radius * sin (-G_PI / 2 + i * G_PI / 5));
        }
      cairo_close_path (cr);
      break;
    case N_SHAPE_KINDS:
      g_assert_not_reached ();
    }
  cairo_set_source_rgb (cr, shape_colours[shape->colour].r, shape_colours[shape->colour].g,
                        shape_colours[shape->colour].b);
  cairo_fill (cr);
  cairo_restore (cr);
}

/* One or two shapes; the first one in box BOX, the second one in the opposite box. */
typedef struct {
  Shape shapes[2];
  int   n_shapes, box;
} Scene;

/* Draws one scene of SPLIT into RGB (side² × 3) and describes it in *SCENE. */
static void
shapes_draw_scene (GRand *rand, int split, int side, uint8_t *rgb, Scene *scene)
{
  Shape *shapes = scene->shapes;
  int n_shapes = scene->n_shapes = g_rand_int_range (rand, 1, 3);
  int box = scene->box = g_rand_int_range (rand, 0, 4);
  gboolean test = split == 1;
  gboolean force = test && g_rand_boolean (rand);
  shape_pick (rand, test, force, &shapes[0]);
  shape_place (rand, box, side, &shapes[0]);
  if (n_shapes == 2)
    {
      shape_pick (rand, test, FALSE, &shapes[1]);
      shape_place (rand, box ^ 1, side, &shapes[1]);
    }
  double background = g_rand_double_range (rand, 0.05, 0.2);

  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, side, side);
  cairo_t *cr = cairo_create (surface);
  cairo_set_source_rgb (cr, background, background, background);
  cairo_paint (cr);
  for (int i = 0; i < n_shapes; i++)
    shape_draw (cr, &shapes[i]);
  cairo_destroy (cr);
  cairo_surface_flush (surface);

  /* RGB24 keeps each pixel as a native-endian 0x00RRGGBB word. */
  const guint8 *data = cairo_image_surface_get_data (surface);
  int stride = cairo_image_surface_get_stride (surface);
  for (int y = 0; y < side; y++)
    {
      const guint32 *row = (const guint32 *) (data + (size_t) y * stride);
      for (int x = 0; x < side; x++)
        {
          uint8_t *out = rgb + ((size_t) y * side + x) * 3;
          out[0] = (row[x] >> 16) & 0xff;
          out[1] = (row[x] >> 8) & 0xff;
          out[2] = row[x] & 0xff;
        }
    }
  cairo_surface_destroy (surface);
}

/* The full description: "a small red circle on the left", "a small red circle left of a large blue
 * square". */
static char *
shapes_caption (const Scene *scene)
{
  const Shape *shapes = scene->shapes;
  g_autofree char *label = shape_label (&shapes[0]);
  g_autofree char *first = g_strdup_printf ("a %s %s", shape_size_names[shapes[0].size], label);
  if (scene->n_shapes == 1)
    return g_strdup_printf ("%s %s", first, shape_boxes[scene->box].alone);
  g_autofree char *second = shape_label (&shapes[1]);
  return g_strdup_printf ("%s %s a %s %s", first, shape_boxes[scene->box].relation,
                          shape_size_names[shapes[1].size], second);
}

/* "red circle", "a red circle", "a circle", "one red circle" */
static char *
shape_short_phrase (GRand *rand, const Shape *shape)
{
  const char *colour = shape_colours[shape->colour].name, *kind = shape_kind_names[shape->kind];
  switch (g_rand_int_range (rand, 0, 5))
    {
    case 0:
      return g_strdup_printf ("%s %s", colour, kind);
    case 1:
      return g_strdup_printf ("a %s", kind);
    case 2:
      return g_strdup_printf ("one %s %s", colour, kind);
    case 3:
      return g_strdup_printf ("a %s %s %s", shape_size_names[shape->size], colour, kind);
    default:
      return g_strdup_printf ("a %s %s", colour, kind);
    }
}

/* Two shapes in few words: a count when they are alike ("two squares", "two red squares"), else
 * both named ("a red circle and a blue square", "a circle and a square"). */
static char *
shapes_pair_phrase (GRand *rand, const Shape *first, const Shape *second)
{
  const char *kind = shape_kind_names[first->kind], *other_kind = shape_kind_names[second->kind];
  const char *colour = shape_colours[first->colour].name, *other_colour = shape_colours[second->colour].name;
  gboolean with_colours = g_rand_boolean (rand);
  if (first->kind == second->kind && first->colour == second->colour)
    return with_colours ? g_strdup_printf ("two %s %ss", colour, kind) : g_strdup_printf ("two %ss", kind);
  if (first->kind == second->kind)
    return with_colours ? g_strdup_printf ("a %s and a %s %s", colour, other_colour, kind)
                        : g_strdup_printf ("two %ss", kind);
  return with_colours ? g_strdup_printf ("a %s %s and a %s %s", colour, kind, other_colour, other_kind)
                      : g_strdup_printf ("a %s and a %s", kind, other_kind);
}

/* A training caption drawn from many phrasings: the full description for two scenes in five, else a
 * few words on the shapes, alone or after "a picture of". */
static char *
shapes_varied_caption (GRand *rand, const Scene *scene)
{
  if (g_rand_int_range (rand, 0, 5) < 2)
    return shapes_caption (scene);
  g_autofree char *phrase = scene->n_shapes == 1
                              ? shape_short_phrase (rand, &scene->shapes[0])
                              : shapes_pair_phrase (rand, &scene->shapes[0], &scene->shapes[1]);
  return g_rand_boolean (rand) ? g_steal_pointer (&phrase) : g_strdup_printf ("a picture of %s", phrase);
}

static char *
shapes_describe (int count, int n_train, int n_test, uint64_t seed, int side)
{
  GString *text = g_string_new (NULL);
  g_string_append_printf (text,
    "# ClipLab shapes: %d scenes of %d×%d pixels drawn with seed %" G_GUINT64_FORMAT " (%d in train.csv, %d in "
    "test.csv).\n", count, side, side, seed, n_train, n_test);
  g_string_append (text,
    "# A scene holds one shape (\"a small red circle on the left\") or two (\"a small red circle left of a\n"
    "# large blue square\"; relations: left of, right of, above, below).\n#\n# Shapes:");
  for (int k = 0; k < N_SHAPE_KINDS; k++)
    g_string_append_printf (text, " %s", shape_kind_names[k]);
  g_string_append (text, "\n# Colours:");
  for (size_t c = 0; c < G_N_ELEMENTS (shape_colours); c++)
    g_string_append_printf (text, " %s", shape_colours[c].name);
  g_string_append (text, "\n# Sizes: small, large\n#\n# Held out of train.csv, only in test.csv, where about half the "
                         "scenes start with one:");
  for (int i = 0; shapes_held_out[i] != NULL; i++)
    g_string_append_printf (text, "%s %s", i > 0 ? "," : "", shapes_held_out[i]);
  g_string_append (text, "\n#\n# The label column is the first shape's colour and shape; the labels, one per line:\n");
  for (size_t c = 0; c < G_N_ELEMENTS (shape_colours); c++)
    for (int k = 0; k < N_SHAPE_KINDS; k++)
      g_string_append_printf (text, "%s %s\n", shape_colours[c].name, shape_kind_names[k]);
  return g_string_free (text, FALSE);
}

gboolean
cli_generate_shapes (const char *out_dir, int count, uint64_t seed, int image_size,
                     const ClipCallbacks *callbacks, GError **error)
{
  g_return_val_if_fail (out_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (count < 2 || count > SHAPES_MAX_COUNT)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "scene count %d: expected 2 to %d", count,
                   SHAPES_MAX_COUNT);
      return FALSE;
    }
  if (image_size < SHAPES_MIN_SIZE || image_size > SHAPES_MAX_SIZE)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "image size %d: expected %d to %d pixels", image_size,
                   SHAPES_MIN_SIZE, SHAPES_MAX_SIZE);
      return FALSE;
    }
  const int n_test = count / 5 > 0 ? count / 5 : 1;
  const int n_split[2] = { count - n_test, n_test };

  GenOutput out;
  if (!gen_output_init (&out, out_dir, count, callbacks, error))
    {
      gen_output_clear (&out);
      return FALSE;
    }
  g_autofree uint8_t *rgb = g_malloc ((size_t) image_size * image_size * 3);
  gboolean ok = TRUE;
  for (int split = 0; split < 2 && ok; split++)
    {
      /* The captions' choice has its own stream, so the images do not depend on it. */
      g_autoptr (GRand) rand = gen_rand_new (seed, split);
      g_autoptr (GRand) caption_rand = gen_rand_new (seed, split + 2);
      for (int i = 0; i < n_split[split] && ok; i++)
        {
          Scene scene;
          shapes_draw_scene (rand, split, image_size, rgb, &scene);
          g_autofree char *label = shape_label (&scene.shapes[0]);
          g_autofree char *caption = split == 0 ? shapes_varied_caption (caption_rand, &scene) : shapes_caption (&scene);
          ok = gen_output_add (&out, split, i, rgb, image_size, image_size, caption, label, error);
        }
    }
  if (ok)
    {
      g_autofree char *classes = shapes_describe (count, n_split[0], n_split[1], seed, image_size);
      ok = gen_output_finish (&out, classes, error);
    }
  gen_output_clear (&out);
  return ok;
}
