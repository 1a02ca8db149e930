/* bench-train — training speed of ClipTrainer: optimizer steps per second on random data for a
 * given architecture and batch.  tests/bench/bench_train_torch.py is its PyTorch twin (same
 * architecture, loss, AdamW, clipping and data shapes); tests/bench/bench-train.sh runs both and
 * prints the ratio.  Prints one JSON line. */
#include "clip.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
  int image_size, patch_size, vision_width, vision_layers, vision_heads;
  int text_width, text_layers, text_heads, context_length, embed_dim;
  int batch, caption_len, steps, warmup, threads;
} BenchOptions;

static double
now_s (void)
{
  return (double) g_get_monotonic_time () / G_USEC_PER_SEC;
}

/* CPU seconds of the whole process, all threads: less sensitive than wall time to other jobs on a
 * shared machine. */
static double
cpu_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

int
main (int argc, char **argv)
{
  BenchOptions o = {
    /* the Fashion-MNIST configuration of README.md */
    .image_size = 28, .patch_size = 7, .vision_width = 64, .vision_layers = 3, .vision_heads = 2,
    .text_width = 64, .text_layers = 1, .text_heads = 2, .context_length = 48, .embed_dim = 64,
    .batch = 256, .caption_len = 30, .steps = 20, .warmup = 3, .threads = 2,
  };
  const GOptionEntry entries[] = {
    { "image-size", 0, 0, G_OPTION_ARG_INT, &o.image_size, "Input image size", "N" },
    { "patch-size", 0, 0, G_OPTION_ARG_INT, &o.patch_size, "Patch size", "N" },
    { "vision-width", 0, 0, G_OPTION_ARG_INT, &o.vision_width, "Image tower width", "N" },
    { "vision-layers", 0, 0, G_OPTION_ARG_INT, &o.vision_layers, "Image tower layers", "N" },
    { "vision-heads", 0, 0, G_OPTION_ARG_INT, &o.vision_heads, "Image tower heads", "N" },
    { "text-width", 0, 0, G_OPTION_ARG_INT, &o.text_width, "Text tower width", "N" },
    { "text-layers", 0, 0, G_OPTION_ARG_INT, &o.text_layers, "Text tower layers", "N" },
    { "text-heads", 0, 0, G_OPTION_ARG_INT, &o.text_heads, "Text tower heads", "N" },
    { "context-length", 0, 0, G_OPTION_ARG_INT, &o.context_length, "Tokens per caption", "N" },
    { "embed-dim", 0, 0, G_OPTION_ARG_INT, &o.embed_dim, "Joint embedding size", "N" },
    { "batch-size", 0, 0, G_OPTION_ARG_INT, &o.batch, "Pairs per step", "N" },
    { "caption-len", 0, 0, G_OPTION_ARG_INT, &o.caption_len, "Bytes per random caption (SOT and EOT added)", "N" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &o.steps, "Timed steps", "N" },
    { "warmup-steps", 0, 0, G_OPTION_ARG_INT, &o.warmup, "Untimed steps first", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &o.threads, "Compute threads", "N" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("— ClipTrainer steps per second");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "bench-train: %s\n", error->message);
      return 1;
    }
  if (o.caption_len < 0 || o.caption_len + 2 > o.context_length || o.batch < 2 || o.steps < 1)
    {
      fprintf (stderr, "bench-train: need 0 ≤ caption-len ≤ context-length − 2, batch ≥ 2, steps ≥ 1\n");
      return 1;
    }
  clip_set_threads (o.threads);

  /* The architecture `cliplab-cli train` builds: byte tokenizer, MLPs 4 × width. */
  g_autoptr (ClipTokenizer) tokenizer = clip_tokenizer_new_bytes ();
  ClipConfig config = {
    .vision = { o.vision_width, o.vision_layers, o.vision_heads, 4 * o.vision_width, 1e-5f, CLIP_ACTIVATION_QUICK_GELU },
    .text = { o.text_width, o.text_layers, o.text_heads, 4 * o.text_width, 1e-5f, CLIP_ACTIVATION_QUICK_GELU },
    .image_size = o.image_size, .patch_size = o.patch_size, .context_length = o.context_length,
    .vocab_size = clip_tokenizer_get_vocab_size (tokenizer), .embed_dim = o.embed_dim,
    .eot_id = clip_tokenizer_get_eot_id (tokenizer),
  };
  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  g_autoptr (ClipModel) model = clip_model_new_random (&config, &pre, tokenizer, 1, &error);
  if (model == NULL)
    {
      fprintf (stderr, "bench-train: %s\n", error->message);
      return 1;
    }
  ClipOptimConfig optim;
  clip_optim_config_init (&optim);
  optim.lr = 1e-3;
  optim.warmup_steps = 0;
  optim.total_steps = o.warmup + o.steps;
  g_autoptr (ClipTrainer) trainer = clip_trainer_new (model, &optim, &error);
  if (trainer == NULL)
    {
      fprintf (stderr, "bench-train: %s\n", error->message);
      return 1;
    }

  /* Random pixels and captions of CAPTION_LEN random bytes: the same shapes as the twin's. */
  size_t image_floats = (size_t) 3 * o.image_size * o.image_size;
  g_autofree float *pixels = g_new (float, image_floats * o.batch);
  g_autofree int32_t *ids = g_new0 (int32_t, (size_t) o.context_length * o.batch);
  g_autoptr (GRand) rand = g_rand_new_with_seed (1);
  for (size_t i = 0; i < image_floats * o.batch; i++)
    pixels[i] = (float) g_rand_double_range (rand, -2, 2);
  for (int b = 0; b < o.batch; b++)
    {
      int32_t *row = ids + (size_t) b * o.context_length;
      row[0] = clip_tokenizer_get_sot_id (tokenizer);
      for (int t = 1; t <= o.caption_len; t++)
        row[t] = g_rand_int_range (rand, 97, 123);
      row[o.caption_len + 1] = clip_tokenizer_get_eot_id (tokenizer);
    }

  g_autofree double *times = g_new (double, o.steps);
  double total = 0, loss = 0, cpu_start = 0;
  for (int s = 0; s < o.warmup + o.steps; s++)
    {
      ClipStepStats stats;
      if (s == o.warmup)
        cpu_start = cpu_s ();
      double start = now_s ();
      if (!clip_trainer_step (trainer, pixels, ids, o.batch, &stats, NULL, &error))
        {
          fprintf (stderr, "bench-train: %s\n", error->message);
          return 1;
        }
      double elapsed = now_s () - start;
      if (s >= o.warmup)
        {
          times[s - o.warmup] = elapsed;
          total += elapsed;
        }
      loss = stats.loss;
    }
  double cpu_per_step = (cpu_s () - cpu_start) / o.steps;
  qsort (times, o.steps, sizeof (double), compare_doubles);

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "impl");
  json_builder_add_string_value (b, "cliplab");
  json_builder_set_member_name (b, "threads");
  json_builder_add_int_value (b, clip_get_threads ());
  json_builder_set_member_name (b, "batch");
  json_builder_add_int_value (b, o.batch);
  json_builder_set_member_name (b, "params");
  json_builder_add_int_value (b, clip_model_get_n_params (model));
  json_builder_set_member_name (b, "steps_per_s");
  json_builder_add_double_value (b, o.steps / total);
  json_builder_set_member_name (b, "median_ms_per_step");
  json_builder_add_double_value (b, 1000 * times[o.steps / 2]);
  json_builder_set_member_name (b, "cpu_s_per_step");
  json_builder_add_double_value (b, cpu_per_step);
  json_builder_set_member_name (b, "images_per_s");
  json_builder_add_double_value (b, o.batch * o.steps / total);
  json_builder_set_member_name (b, "last_loss");
  json_builder_add_double_value (b, loss);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *line = json_to_string (root, FALSE);
  printf ("%s\n", line);
  return 0;
}
