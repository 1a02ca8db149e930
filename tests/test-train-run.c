/* Training runs on a small generated data set: bit-identical resume after a stop and after kill -9
 * of the CLI, also from a checkpoint written before the mirror augmentation existed, the mirror
 * augmentation itself, learning on the training set, keep-last-N pruning, skipped CSV rows, and a
 * checkpoint write that fails on a full disk leaving the previous checkpoint intact. */
#include "testutil.h"

#include "clip.h"

#include <errno.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define IMAGE 32
#define PER_CLASS 6

/* Eight colour classes; each image is the colour with a darker square at a random place and noise,
 * so images differ while their captions repeat (caption groups). */
static const struct { const char *name; guint8 rgb[3]; } colours[] = {
  { "red", { 220, 30, 30 } }, { "green", { 30, 200, 40 } }, { "blue", { 30, 40, 220 } },
  { "yellow", { 230, 220, 40 } }, { "cyan", { 40, 220, 220 } }, { "magenta", { 210, 40, 210 } },
  { "white", { 240, 240, 240 } }, { "black", { 15, 15, 15 } },
};

static char *data_dir;       /* images/ and train.csv */
static char *train_csv;

/* MIRRORED: the right half mirrors the left one, and the square becomes a band across the width,
 * so the image is its own left-right mirror (but not its top-bottom one). */
static void
write_png (const char *path, const guint8 rgb[3], gboolean mirrored, GRand *rand)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, IMAGE, IMAGE);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  int sx = mirrored ? 0 : g_rand_int_range (rand, 0, IMAGE / 2), sy = g_rand_int_range (rand, 0, IMAGE / 2);
  int square = mirrored ? IMAGE : IMAGE / 2;
  for (int y = 0; y < IMAGE; y++)
    for (int x = 0; x < (mirrored ? IMAGE / 2 : IMAGE); x++)
      for (int c = 0; c < 3; c++)
        {
          int v = rgb[c] + g_rand_int_range (rand, -20, 21);
          if (x >= sx && x < sx + square && y >= sy && y < sy + IMAGE / 2)
            v = v * 2 / 3;
          pixels[y * stride + x * 3 + c] = (guint8) CLAMP (v, 0, 255);
          if (mirrored)
            pixels[y * stride + (IMAGE - 1 - x) * 3 + c] = (guint8) CLAMP (v, 0, 255);
        }
  GError *error = NULL;
  g_assert_true (gdk_pixbuf_save (pixbuf, path, "png", &error, NULL));
  g_assert_no_error (error);
}

/* The colour classes in DIR (images/ and train.csv); returns the CSV's path. */
static char *
write_dataset (const char *dir, gboolean mirrored)
{
  g_autofree char *images = g_build_filename (dir, "images", NULL);
  g_assert_cmpint (g_mkdir_with_parents (images, 0755), ==, 0);
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  g_autoptr (GString) csv = g_string_new ("image_path,caption,label\n");
  for (int i = 0; i < PER_CLASS; i++)
    for (size_t c = 0; c < G_N_ELEMENTS (colours); c++)
      {
        g_autofree char *name = g_strdup_printf ("images/%s-%d.png", colours[c].name, i);
        g_autofree char *path = g_build_filename (dir, name, NULL);
        write_png (path, colours[c].rgb, mirrored, rand);
        g_string_append_printf (csv, "%s,a %s picture,%s\n", name, colours[c].name, colours[c].name);
      }
  char *csv_path = g_build_filename (dir, "train.csv", NULL);
  tu_write_file (csv_path, csv->str, csv->len);
  return csv_path;
}

static void
make_dataset (void)
{
  data_dir = g_build_filename (tu_tmpdir (), "data", NULL);
  train_csv = write_dataset (data_dir, FALSE);
}

/* A tiny model and schedule: a step takes a few milliseconds. */
static void
tiny_config (ClipTrainRunConfig *c, const char *out_dir)
{
  clip_train_run_config_init (c);
  c->csv_path = g_strdup (train_csv);
  c->image_root = g_strdup (data_dir);
  c->out_dir = g_strdup (out_dir);
  c->tokenizer = g_strdup ("bytes");
  c->image_size = IMAGE;
  c->patch_size = 8;
  c->vision_width = 32;
  c->vision_layers = 1;
  c->vision_heads = 2;
  c->text_width = 32;
  c->text_layers = 1;
  c->text_heads = 2;
  c->context_length = 24;
  c->embed_dim = 32;
  c->batch_size = 8;
  c->lr = 3e-3;
  c->warmup_steps = 3;
  c->seed = 7;
  c->augment = TRUE;
  c->augment_flip = TRUE;
  c->save_every = 4;
}

static char *
out_path (const char *name)
{
  return g_build_filename (tu_tmpdir (), name, NULL);
}

/* What the callbacks saw. */
typedef struct {
  GArray    *losses;     /* double per step, in order */
  GPtrArray *notices;
  int64_t    stop_after; /* the abort callback stops the run once this step is done; 0 = never */
  int64_t    last_step;
  int64_t    fail_after_checkpoint;  /* in a child: limit file sizes after this checkpoint */
} Recorder;

static void
recorder_init (Recorder *r)
{
  *r = (Recorder) { .losses = g_array_new (FALSE, FALSE, sizeof (double)),
                    .notices = g_ptr_array_new_with_free_func (g_free) };
}

static void
recorder_clear (Recorder *r)
{
  g_array_unref (r->losses);
  g_ptr_array_unref (r->notices);
}

static void
on_notice (const char *message, gpointer user_data)
{
  Recorder *r = user_data;
  g_ptr_array_add (r->notices, g_strdup (message));
}

static void
on_step (const ClipTrainStepReport *report, gpointer user_data)
{
  Recorder *r = user_data;
  g_assert_cmpint (report->stats.step, ==, r->last_step + 1);
  r->last_step = report->stats.step;
  g_array_append_val (r->losses, report->stats.loss);
}

static gboolean
should_stop (gpointer user_data)
{
  Recorder *r = user_data;
  return r->stop_after > 0 && r->last_step >= r->stop_after;
}

static ClipTrainEvents
recorder_events (Recorder *r)
{
  return (ClipTrainEvents) { .callbacks = { .abort = should_stop, .user_data = r }, .notice = on_notice,
                             .step = on_step };
}

static ClipTrainRun *
new_run (const ClipTrainRunConfig *config, Recorder *r)
{
  GError *error = NULL;
  const ClipTrainEvents events = recorder_events (r);
  ClipTrainRun *run = clip_train_run_new (config, &events, &error);
  g_assert_no_error (error);
  return run;
}

static GBytes *
read_bytes (const char *path)
{
  g_autoptr (GMappedFile) file = g_mapped_file_new (path, FALSE, NULL);
  g_assert_nonnull (file);
  return g_mapped_file_get_bytes (file);
}

/* Steps and losses of a JSON-lines log, checking that steps run 1, 2, … without repeats. */
static GArray *
read_log_losses (const char *path)
{
  g_autofree char *contents = NULL;
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (contents, "\n", -1);
  GArray *losses = g_array_new (FALSE, FALSE, sizeof (double));
  for (int i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++)
    {
      GError *error = NULL;
      g_autoptr (JsonNode) node = json_from_string (lines[i], &error);
      g_assert_no_error (error);
      JsonObject *obj = json_node_get_object (node);
      if (json_object_has_member (obj, "validation"))
        continue;
      g_assert_cmpint (json_object_get_int_member (obj, "step"), ==, losses->len + 1);
      double loss = json_object_get_double_member (obj, "loss");
      g_array_append_val (losses, loss);
    }
  return losses;
}

static void
assert_losses_identical (GArray *got, GArray *want)
{
  g_assert_cmpuint (got->len, ==, want->len);
  for (guint i = 0; i < got->len; i++)
    if (memcmp (&g_array_index (got, double, i), &g_array_index (want, double, i), sizeof (double)) != 0)
      g_error ("step %u: loss %.17g differs from the uninterrupted run's %.17g", i + 1,
               g_array_index (got, double, i), g_array_index (want, double, i));
}

/* The losses of a whole run of CONFIG. */
static GArray *
run_losses (const ClipTrainRunConfig *config)
{
  Recorder r;
  recorder_init (&r);
  g_autoptr (ClipTrainRun) run = new_run (config, &r);
  GError *error = NULL;
  g_assert_true (clip_train_run_run (run, &error));
  g_assert_no_error (error);
  GArray *losses = g_array_ref (r.losses);
  recorder_clear (&r);
  return losses;
}

/* The uninterrupted run of tiny_config (with the mirror augmentation or not) with MAX_STEPS steps:
 * its losses, model file in NAME. */
static GArray *
uninterrupted_run_losses (const char *name, int64_t max_steps, gboolean flip)
{
  g_autofree char *dir = out_path (name);
  ClipTrainRunConfig config;
  tiny_config (&config, dir);
  config.max_steps = max_steps;
  config.augment_flip = flip;
  GArray *losses = run_losses (&config);
  clip_train_run_config_clear (&config);
  return losses;
}

static GArray *
uninterrupted_losses (const char *name, int64_t max_steps)
{
  return uninterrupted_run_losses (name, max_steps, TRUE);
}

/* Stopped by the abort callback between two checkpoints, then resumed from a new object. */
static void
test_resume_after_stop (void)
{
  g_autoptr (GArray) want = uninterrupted_losses ("straight", 14);
  g_autofree char *dir = out_path ("stopped");
  g_autofree char *log = g_build_filename (dir, "log.jsonl", NULL);
  ClipTrainRunConfig config;
  tiny_config (&config, dir);
  config.max_steps = 14;
  config.log_json_path = g_strdup (log);
  Recorder r;
  recorder_init (&r);
  r.stop_after = 6;   /* not a multiple of save_every: the stop itself saves */
  GError *error = NULL;
  {
    g_autoptr (ClipTrainRun) run = new_run (&config, &r);
    g_assert_false (clip_train_run_run (run, &error));
    g_assert_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED);
    g_clear_error (&error);
    g_assert_cmpint (clip_train_run_get_step (run), ==, 6);
  }
  g_autofree char *saved = g_build_filename (dir, "checkpoint-000006.safetensors", NULL);
  g_assert_true (g_file_test (saved, G_FILE_TEST_EXISTS));
  g_autofree char *final = g_build_filename (dir, "model.safetensors", NULL);
  g_assert_false (g_file_test (final, G_FILE_TEST_EXISTS));

  r.stop_after = 0;
  const ClipTrainEvents events = recorder_events (&r);
  g_autoptr (ClipTrainRun) resumed = clip_train_run_resume (dir, &events, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_train_run_get_step (resumed), ==, 6);
  g_assert_true (clip_train_run_get_config (resumed)->augment);
  g_assert_true (clip_train_run_get_config (resumed)->augment_flip);
  g_assert_true (clip_train_run_run (resumed, &error));
  g_assert_no_error (error);
  assert_losses_identical (r.losses, want);
  g_autoptr (GArray) logged = read_log_losses (log);
  assert_losses_identical (logged, want);

  /* same weights: the final model files are byte for byte the same */
  g_autofree char *straight = g_build_filename (tu_tmpdir (), "straight", "model.safetensors", NULL);
  g_autoptr (GBytes) a = read_bytes (straight);
  g_autoptr (GBytes) b = read_bytes (final);
  g_assert_true (g_bytes_equal (a, b));
  recorder_clear (&r);
  clip_train_run_config_clear (&config);
}

/* A pause: the same object continues after the abort. */
static void
test_pause_and_continue (void)
{
  g_autoptr (GArray) want = uninterrupted_losses ("straight-pause", 9);
  g_autofree char *dir = out_path ("paused");
  ClipTrainRunConfig config;
  tiny_config (&config, dir);
  config.max_steps = 9;
  Recorder r;
  recorder_init (&r);
  r.stop_after = 5;
  g_autoptr (ClipTrainRun) run = new_run (&config, &r);
  GError *error = NULL;
  g_assert_false (clip_train_run_run (run, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED);
  g_clear_error (&error);
  r.stop_after = 0;
  g_assert_true (clip_train_run_run (run, &error));
  g_assert_no_error (error);
  assert_losses_identical (r.losses, want);
  recorder_clear (&r);
  clip_train_run_config_clear (&config);
}

static void
evaluate (ClipModel *model, ClipDataset *dataset, ClipRetrievalMetrics *retrieval)
{
  GError *error = NULL;
  g_assert_true (clip_evaluate_dataset (model, dataset, NULL, 0, NULL, 0, 16, retrieval, NULL, NULL, &error));
  g_assert_no_error (error);
}

/* Ten epochs lower the loss and raise Recall@1 on the training pairs. */
static void
test_learns (void)
{
  g_autofree char *dir = out_path ("learn");
  ClipTrainRunConfig config;
  tiny_config (&config, dir);
  config.augment = FALSE;
  config.augment_flip = FALSE;
  config.epochs = 12;
  config.val_csv_path = g_strdup (train_csv);
  Recorder r;
  recorder_init (&r);
  g_autoptr (ClipTrainRun) run = new_run (&config, &r);

  GError *error = NULL;
  g_autoptr (ClipDataset) data = clip_dataset_load_csv (train_csv, data_dir, &error);
  g_assert_no_error (error);
  g_assert_true (clip_dataset_prepare_images (data, IMAGE, FALSE, 1 << 30, NULL, NULL, &error));
  g_assert_no_error (error);
  ClipRetrievalMetrics before, after;
  evaluate (clip_train_run_get_model (run), data, &before);

  g_assert_true (clip_train_run_run (run, &error));
  g_assert_no_error (error);
  g_autofree char *final = g_build_filename (dir, "model.safetensors", NULL);
  g_autoptr (ClipModel) model = clip_model_load (final, NULL, &error);
  g_assert_no_error (error);
  evaluate (model, data, &after);

  int spe = (int) clip_train_run_get_steps_per_epoch (run);
  g_assert_cmpint (spe, ==, PER_CLASS * G_N_ELEMENTS (colours) / 8);
  double first = 0, last = 0;
  for (int i = 0; i < spe; i++)
    {
      first += g_array_index (r.losses, double, i) / spe;
      last += g_array_index (r.losses, double, r.losses->len - 1 - i) / spe;
    }
  g_test_message ("loss %.3f → %.3f; image→text R@1 %.3f → %.3f, text→image R@1 %.3f → %.3f", first, last,
                  before.image_to_text[0], after.image_to_text[0], before.text_to_image[0], after.text_to_image[0]);
  g_assert_cmpfloat (last, <, 0.8 * first);
  g_assert_cmpfloat (after.image_to_text[0], >=, before.image_to_text[0] + 0.3);
  g_assert_cmpfloat (after.image_to_text[0], >=, 0.75);
  recorder_clear (&r);
  clip_train_run_config_clear (&config);
}

/* The mirror augmentation mirrors left-right and draws nothing else: on images that are their own
 * left-right mirror the losses are those of a run without it, bit for bit; on the others they
 * change. */
static void
test_flip (void)
{
  g_autofree char *mirrored_dir = out_path ("mirrored-data");
  g_autofree char *mirrored_csv = write_dataset (mirrored_dir, TRUE);
  const struct { const char *csv, *root; gboolean symmetric; } sets[] = {
    { mirrored_csv, mirrored_dir, TRUE }, { train_csv, data_dir, FALSE },
  };
  for (size_t s = 0; s < G_N_ELEMENTS (sets); s++)
    {
      GArray *losses[2];
      for (int flip = 0; flip < 2; flip++)
        {
          g_autofree char *name = g_strdup_printf ("flip-%zu-%d", s, flip);
          g_autofree char *dir = out_path (name);
          ClipTrainRunConfig config;
          tiny_config (&config, dir);
          g_free (config.csv_path);
          g_free (config.image_root);
          config.csv_path = g_strdup (sets[s].csv);
          config.image_root = g_strdup (sets[s].root);
          config.augment = FALSE;
          config.augment_flip = flip;
          config.max_steps = 8;
          losses[flip] = run_losses (&config);
          clip_train_run_config_clear (&config);
        }
      if (sets[s].symmetric)
        assert_losses_identical (losses[1], losses[0]);
      else
        {
          g_assert_cmpuint (losses[1]->len, ==, losses[0]->len);
          guint differ = 0;
          for (guint i = 0; i < losses[0]->len; i++)
            differ += g_array_index (losses[1], double, i) != g_array_index (losses[0], double, i);
          g_assert_cmpuint (differ, >, 0);
        }
      g_array_unref (losses[0]);
      g_array_unref (losses[1]);
    }
}

/* A checkpoint written before "augment_flip" was a configuration key resumes as a run without the
 * mirror augmentation: the key is blanked out of the checkpoint's metadata in place (the inner
 * JSON text keeps its length, so the header and the tensor offsets stay valid). */
static void
test_resume_without_flip_key (void)
{
  g_autoptr (GArray) want = uninterrupted_run_losses ("straight-noflip", 10, FALSE);
  g_autofree char *dir = out_path ("noflip-key");
  ClipTrainRunConfig config;
  tiny_config (&config, dir);
  config.augment_flip = FALSE;
  config.max_steps = 10;
  Recorder r;
  recorder_init (&r);
  r.stop_after = 4;
  GError *error = NULL;
  {
    g_autoptr (ClipTrainRun) run = new_run (&config, &r);
    g_assert_false (clip_train_run_run (run, &error));
    g_assert_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED);
    g_clear_error (&error);
  }
  g_autofree char *saved = g_build_filename (dir, "checkpoint-000004.safetensors", NULL);
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_assert_true (g_file_get_contents (saved, &contents, &length, NULL));
  /* the JSON header follows its 8-byte little-endian length */
  const char key[] = "\\\"augment_flip\\\":false,";
  g_assert_cmpuint (length, >, 8);
  char *at = g_strstr_len (contents + 8, (gssize) length - 8, key);
  g_assert_nonnull (at);
  memset (at, ' ', strlen (key));
  g_assert_null (g_strstr_len (contents + 8, (gssize) length - 8, "augment_flip"));
  g_assert_true (g_file_set_contents (saved, contents, (gssize) length, NULL));

  r.stop_after = 0;
  const ClipTrainEvents events = recorder_events (&r);
  g_autoptr (ClipTrainRun) resumed = clip_train_run_resume (dir, &events, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_train_run_get_step (resumed), ==, 4);
  g_assert_false (clip_train_run_get_config (resumed)->augment_flip);
  g_assert_true (clip_train_run_run (resumed, &error));
  g_assert_no_error (error);
  assert_losses_identical (r.losses, want);
  recorder_clear (&r);
  clip_train_run_config_clear (&config);
}

static int
count_files (const char *dir, const char *prefix)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  int n = 0;
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    n += g_str_has_prefix (name, prefix);
  return n;
}

static void
test_keep_last (void)
{
  g_autofree char *dir = out_path ("keep");
  ClipTrainRunConfig config;
  tiny_config (&config, dir);
  config.max_steps = 11;
  config.save_every = 2;
  config.keep = 2;
  Recorder r;
  recorder_init (&r);
  g_autoptr (ClipTrainRun) run = new_run (&config, &r);
  GError *error = NULL;
  g_assert_true (clip_train_run_run (run, &error));
  g_assert_no_error (error);
  g_assert_cmpint (count_files (dir, "checkpoint-"), ==, 2);
  const char *expected[] = { "checkpoint-000010.safetensors", "checkpoint-000011.safetensors", "model.safetensors" };
  for (size_t i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_autofree char *path = g_build_filename (dir, expected[i], NULL);
      g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
    }
  /* a second run into the same folder is refused, while the first is open and after it */
  g_assert_null (clip_train_run_new (&config, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "another training run is using this folder"));
  g_clear_error (&error);
  g_clear_pointer (&run, clip_train_run_free);
  g_assert_null (clip_train_run_new (&config, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "already holds a training run"));
  g_clear_error (&error);
  recorder_clear (&r);
  clip_train_run_config_clear (&config);
}

static void
test_bad_rows (void)
{
  g_autofree char *csv = g_build_filename (data_dir, "bad.csv", NULL);
  GString *text = g_string_new ("image_path,caption\n");
  for (int i = 0; i < PER_CLASS; i++)
    for (size_t c = 0; c < G_N_ELEMENTS (colours); c++)
      g_string_append_printf (text, "images/%s-%d.png,a %s picture\n", colours[c].name, i, colours[c].name);
  g_string_append (text, "images/missing.png,nothing\n");   /* line 50 */
  g_string_append (text, "images/red-0.png,\n");            /* line 51 */
  tu_write_file (csv, text->str, text->len);
  g_string_free (text, TRUE);

  g_autofree char *dir = out_path ("bad");
  ClipTrainRunConfig config;
  tiny_config (&config, dir);
  g_free (config.csv_path);
  config.csv_path = g_strdup (csv);
  config.max_steps = 4;
  Recorder r;
  recorder_init (&r);
  g_autoptr (ClipTrainRun) run = new_run (&config, &r);
  GError *error = NULL;
  gboolean ok = clip_train_run_run (run, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_cmpint (clip_train_run_get_n_train (run), ==, PER_CLASS * G_N_ELEMENTS (colours));
  g_assert_cmpuint (r.notices->len, ==, 2);
  g_assert_nonnull (strstr (g_ptr_array_index (r.notices, 0), "bad.csv:50:"));
  g_assert_nonnull (strstr (g_ptr_array_index (r.notices, 1), "bad.csv:51:"));
  recorder_clear (&r);
  clip_train_run_config_clear (&config);
}

/* A batch larger than the data set: fitted to the usable pairs when asked (a default), refused with
 * the largest batch that would do when given as such. */
static void
test_batch_larger_than_data (void)
{
  const int n_pairs = PER_CLASS * G_N_ELEMENTS (colours);
  g_autofree char *dir = out_path ("fit-batch");
  g_autofree char *refused_dir = out_path ("fit-batch-refused");
  ClipTrainRunConfig config;
  tiny_config (&config, refused_dir);
  config.batch_size = n_pairs + 8;
  config.epochs = 3;
  Recorder r;
  recorder_init (&r);
  g_autoptr (ClipTrainRun) refused = new_run (&config, &r);
  GError *error = NULL;
  g_assert_false (clip_train_run_run (refused, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_autofree char *hint = g_strdup_printf ("%d usable pairs do not fill one batch of %d: choose a batch size of "
                                           "at most %d", n_pairs, n_pairs + 8, n_pairs);
  g_assert_nonnull (strstr (error->message, hint));
  g_clear_error (&error);
  g_assert_cmpint (r.last_step, ==, 0);

  g_free (config.out_dir);
  config.out_dir = g_strdup (dir);
  config.fit_batch_size = TRUE;
  g_autoptr (ClipTrainRun) run = new_run (&config, &r);
  g_assert_true (clip_train_run_run (run, &error));
  g_assert_no_error (error);
  /* One step per epoch of all the pairs, said once, and the checkpoint holds the batch used. */
  g_assert_cmpint (clip_train_run_get_steps_per_epoch (run), ==, 1);
  g_assert_cmpint (r.last_step, ==, 3);
  g_assert_cmpint (clip_train_run_get_config (run)->batch_size, ==, n_pairs);
  g_assert_cmpuint (r.notices->len, ==, 1);
  g_autofree char *notice = g_strdup_printf ("batches of %d, all the usable pairs, instead of %d", n_pairs, n_pairs + 8);
  g_assert_nonnull (strstr (g_ptr_array_index (r.notices, 0), notice));
  recorder_clear (&r);
  clip_train_run_config_clear (&config);
}

/* ---------------------------------------------------------------- a full disk */

#define DISK_FULL_ENV "TRAINRUN_DISK_FULL_DIR"

static void
limit_file_size (const char *path, int64_t step, gpointer user_data)
{
  /* after the first checkpoint, any file may hold 64 KiB: the next checkpoint cannot be written */
  struct rlimit limit = { 65536, 65536 };
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limit), ==, 0);
}

static void
disk_full_child (void)
{
  const char *dir = g_getenv (DISK_FULL_ENV);
  signal (SIGXFSZ, SIG_IGN);   /* writes past the limit then fail with EFBIG */
  ClipTrainRunConfig config;
  tiny_config (&config, dir);
  config.max_steps = 6;
  config.save_every = 2;
  const ClipTrainEvents events = { .checkpoint = limit_file_size };
  GError *error = NULL;
  g_autoptr (ClipTrainRun) run = clip_train_run_new (&config, &events, &error);
  g_assert_no_error (error);
  g_assert_false (clip_train_run_run (run, &error));
  g_assert_nonnull (error);
  g_printerr ("%s\n", error->message);
  g_assert_cmpint (clip_train_run_get_step (run), ==, 4);
  g_clear_error (&error);
  clip_train_run_config_clear (&config);
}

static void
test_disk_full (void)
{
  if (g_test_subprocess ())
    {
      disk_full_child ();
      return;
    }
  const char *dir = g_getenv (DISK_FULL_ENV);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*checkpoint-000004.safetensors*");

  /* the checkpoint of step 2 is whole and loads; nothing of the failed write is left */
  g_assert_cmpint (count_files (dir, "checkpoint-"), ==, 1);
  GError *error = NULL;
  Recorder r;
  recorder_init (&r);
  const ClipTrainEvents events = recorder_events (&r);
  g_autoptr (ClipTrainRun) resumed = clip_train_run_resume (dir, &events, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_train_run_get_step (resumed), ==, 2);
  r.last_step = 2;
  g_assert_true (clip_train_run_run (resumed, &error));
  g_assert_no_error (error);
  g_assert_cmpint (clip_train_run_get_step (resumed), ==, 6);
  recorder_clear (&r);
}

/* ---------------------------------------------------------------- kill -9 of the CLI */

#define KILL_STEPS 240

static char **
cli_train_argv (const char *cli, const char *dir, const char *log)
{
  GPtrArray *args = g_ptr_array_new ();
  const char *fixed[] = {
    cli, "train", "--csv", train_csv, "--img-root", data_dir, "--out", dir, "--log-json", log,
    "--tokenizer", "bytes", "--image-size", "32", "--patch-size", "8", "--vision-width", "32",
    "--vision-layers", "1", "--vision-heads", "2", "--text-width", "32", "--text-layers", "1",
    "--text-heads", "2", "--context-length", "24", "--embed-dim", "32", "--batch-size", "8", "--lr", "3e-3",
    "--warmup", "3", "--seed", "7", "--augment", "--augment-flip", "--save-every", "4", "--max-steps", G_STRINGIFY (KILL_STEPS),
  };
  for (size_t i = 0; i < G_N_ELEMENTS (fixed); i++)
    g_ptr_array_add (args, g_strdup (fixed[i]));
  g_ptr_array_add (args, NULL);
  return (char **) g_ptr_array_free (args, FALSE);
}

/* The step of the log's last complete line. */
static int64_t
log_last_step (const char *log)
{
  g_autofree char *contents = NULL;
  if (!g_file_get_contents (log, &contents, NULL, NULL))
    return 0;
  char *end = strrchr (contents, '\n');
  if (end == NULL)
    return 0;
  *end = '\0';
  char *start = strrchr (contents, '\n');
  g_autoptr (JsonNode) node = json_from_string (start != NULL ? start + 1 : contents, NULL);
  return node != NULL ? json_object_get_int_member (json_node_get_object (node), "step") : 0;
}

static void
test_kill_and_resume_cli (void)
{
  const char *cli = g_getenv ("CLIPLAB_CLI");
  if (cli == NULL)
    {
      g_test_skip ("CLIPLAB_CLI (the built cliplab-cli) is not set");
      return;
    }
  g_autofree char *dir = out_path ("killed");
  g_autofree char *log = out_path ("killed.jsonl");
  g_auto (GStrv) argv = cli_train_argv (cli, dir, log);
  GError *error = NULL;
  GPid pid;
  g_assert_true (g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                                &pid, &error));
  g_assert_no_error (error);
  /* kill it between two checkpoints, well before the end */
  int64_t step = 0;
  for (int i = 0; i < 20000 && (step = log_last_step (log)) < 10; i++)
    g_usleep (1000);
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  g_assert_true (WIFSIGNALED (status));
  step = log_last_step (log);
  g_test_message ("killed after step %" G_GINT64_FORMAT, step);
  g_assert_cmpint (step, >=, 10);
  g_assert_cmpint (step, <, KILL_STEPS);

  char *resume_argv[] = { (char *) cli, "train", "--resume", dir, NULL };
  int wait_status;
  g_autofree char *err = NULL;
  g_assert_true (g_spawn_sync (NULL, resume_argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err,
                               &wait_status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (wait_status, NULL))
    g_error ("the resumed run failed: %s", err);

  /* every step logged once, with the losses of an uninterrupted run */
  g_autoptr (GArray) want = uninterrupted_losses ("straight-kill", KILL_STEPS);
  g_autoptr (GArray) got = read_log_losses (log);
  assert_losses_identical (got, want);
  g_autofree char *straight = g_build_filename (tu_tmpdir (), "straight-kill", "model.safetensors", NULL);
  g_autofree char *final = g_build_filename (dir, "model.safetensors", NULL);
  g_autoptr (GBytes) a = read_bytes (straight);
  g_autoptr (GBytes) b = read_bytes (final);
  g_assert_true (g_bytes_equal (a, b));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!g_test_subprocess ())
    {
      /* for the child of the disk-full test; set before any thread exists */
      g_autofree char *disk_full_dir = out_path ("disk-full");
      g_setenv (DISK_FULL_ENV, disk_full_dir, TRUE);
      make_dataset ();
    }
  else
    {
      /* the child re-uses the parent's data set */
      const char *dir = g_getenv (DISK_FULL_ENV);
      g_autofree char *parent = g_path_get_dirname (dir);
      data_dir = g_build_filename (parent, "data", NULL);
      train_csv = g_build_filename (data_dir, "train.csv", NULL);
    }
  g_test_add_func ("/trainrun/resume-after-stop", test_resume_after_stop);
  g_test_add_func ("/trainrun/pause-and-continue", test_pause_and_continue);
  g_test_add_func ("/trainrun/resume-without-flip-key", test_resume_without_flip_key);
  g_test_add_func ("/trainrun/flip", test_flip);
  g_test_add_func ("/trainrun/learns", test_learns);
  g_test_add_func ("/trainrun/keep-last", test_keep_last);
  g_test_add_func ("/trainrun/bad-rows", test_bad_rows);
  g_test_add_func ("/trainrun/batch-larger-than-data", test_batch_larger_than_data);
  g_test_add_func ("/trainrun/disk-full", test_disk_full);
  g_test_add_func ("/trainrun/kill-and-resume-cli", test_kill_and_resume_cli);
  int status = g_test_run ();
  g_free (data_dir);
  g_free (train_csv);
  return status;
}
