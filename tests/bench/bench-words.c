/* bench-words — whether a model understands plain words as search queries: for each Fashion-MNIST
 * class, the share of the 20 test images ranked best for its bare name ("trousers") and for a plural
 * or synonym ("pants") that belong to the class, and zero-shot top-1 as `cliplab-cli evaluate`
 * computes it (the "simple" template over the label names).
 *
 *   build/src/cli/cliplab-cli dataset fashion-mnist --from /usr/share/datasets/fashion-mnist \
 *     --out FM --limit-train 1 --limit-test 0
 *   build/tests/bench/bench-words --model MODEL --csv FM/test.csv [--top K] [--threads T]
 *
 * Prints one line per class and the averages, then the same figures as one JSON line. */
#include "clip.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each class's bare name and a plural or synonym, as a user would type them into Search. */
static const struct {
  const char *label, *bare, *other;
} queries[] = {
  { "t-shirt/top", "t-shirt",    "t-shirts" },
  { "trouser",     "trousers",   "pants" },
  { "pullover",    "pullover",   "sweaters" },
  { "dress",       "dress",      "dresses" },
  { "coat",        "coat",       "jackets" },
  { "sandal",      "sandal",     "sandals" },
  { "shirt",       "shirt",      "shirts" },
  { "sneaker",     "sneaker",    "sneakers" },
  { "bag",         "bag",        "handbags" },
  { "ankle boot",  "ankle boot", "boots" },
};
#define N_QUERIES ((int) G_N_ELEMENTS (queries))

#define BATCH 256

static void
die (const char *what, GError *error)
{
  fprintf (stderr, "bench-words: %s: %s\n", what, error->message);
  exit (1);
}

/* IMAGES [n, dim], L2-normalised, from the data set's prepared crops. */
static float *
encode_images (ClipModel *model, ClipDataset *dataset, int n, int dim)
{
  const ClipPreprocess *pre = clip_model_get_preprocess (model);
  const size_t image_floats = (size_t) 3 * pre->image_size * pre->image_size;
  float *embeds = g_new (float, (size_t) n * dim);
  g_autofree float *pixels = g_new (float, image_floats * BATCH);
  GError *error = NULL;
  for (int start = 0; start < n; start += BATCH)
    {
      int count = MIN (BATCH, n - start);
      for (int i = 0; i < count; i++)
        clip_image_normalize (clip_dataset_get_image_crop (dataset, start + i), pre, pixels + image_floats * i);
      if (!clip_model_encode_images (model, pixels, count, embeds + (size_t) start * dim, NULL, &error))
        die ("encoding the images", error);
    }
  return embeds;
}

/* The share of the TOP images most similar to QUERY [dim] whose label is LABEL. */
static double
top_k_precision (const float *images, const int *labels, int n, int dim, const float *query, int label, int top)
{
  g_autofree float *scores = g_new (float, n);
  g_autofree gboolean *taken = g_new0 (gboolean, n);
  for (int i = 0; i < n; i++)
    {
      double dot = 0;
      for (int d = 0; d < dim; d++)
        dot += (double) images[(size_t) i * dim + d] * query[d];
      scores[i] = (float) dot;
    }
  /* TOP is small: pick the best remaining image TOP times. */
  int hits = 0;
  for (int k = 0; k < top; k++)
    {
      int best = -1;
      for (int i = 0; i < n; i++)
        if (!taken[i] && (best < 0 || scores[i] > scores[best]))
          best = i;
      taken[best] = TRUE;
      hits += labels[best] == label;
    }
  return (double) hits / top;
}

/* Zero-shot top-1 over the data set's labels with the "simple" template, as `evaluate` does. */
static double
zero_shot_top1 (ClipModel *model, ClipDataset *dataset, const float *images, const int *labels, int n, int dim)
{
  const int n_labels = clip_dataset_get_n_labels (dataset);
  g_autofree const char **names = g_new (const char *, n_labels);
  for (int c = 0; c < n_labels; c++)
    names[c] = clip_dataset_get_label_name (dataset, c);
  int n_templates;
  const char *const *templates = clip_templates_builtin ("simple", &n_templates);
  g_autofree float *weights = g_new (float, (size_t) n_labels * dim);
  g_autofree float *probs = g_new (float, (size_t) n * n_labels);
  GError *error = NULL;
  if (!clip_zero_shot_classifier (model, names, n_labels, templates, n_templates, weights, NULL, &error))
    die ("the zero-shot classifier", error);
  clip_zero_shot_probs (model, images, n, weights, n_labels, probs);
  ClipZeroShotMetrics metrics = { 0 };
  clip_evaluate_zero_shot (probs, labels, n, n_labels, &metrics);
  double top1 = metrics.top1;
  clip_zero_shot_metrics_clear (&metrics);
  return top1;
}

static int
find_label (ClipDataset *dataset, const char *name)
{
  for (int c = 0; c < clip_dataset_get_n_labels (dataset); c++)
    if (strcmp (clip_dataset_get_label_name (dataset, c), name) == 0)
      return c;
  fprintf (stderr, "bench-words: %s has no label \"%s\" (expected Fashion-MNIST's test.csv)\n",
           clip_dataset_get_path (dataset), name);
  exit (1);
}

int
main (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *csv_path = NULL;
  int top = 20, threads = 0;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path, "The model", "MODEL" },
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &csv_path, "Fashion-MNIST's test.csv from `cliplab-cli dataset fashion-mnist`", "FILE" },
    { "top", 0, 0, G_OPTION_ARG_INT, &top, "Images ranked per query (default 20)", "K" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default: all cores)", "T" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("— plain-word queries on Fashion-MNIST");
  g_option_context_add_main_entries (context, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    die ("the arguments", error);
  if (model_path == NULL || csv_path == NULL || top < 1)
    {
      fprintf (stderr, "bench-words: --model and --csv are required, --top at least 1\n");
      return 2;
    }
  if (threads > 0)
    clip_set_threads (threads);

  g_autoptr (ClipModel) model = clip_model_load (model_path, NULL, &error);
  if (model == NULL)
    die (model_path, error);
  g_autoptr (ClipDataset) dataset = clip_dataset_load_csv (csv_path, NULL, &error);
  if (dataset == NULL
      || !clip_dataset_prepare_images (dataset, clip_model_get_preprocess (model)->image_size, FALSE,
                                       (size_t) 1 << 30, NULL, NULL, &error))
    die (csv_path, error);
  const int n = clip_dataset_get_n_images (dataset);
  const int dim = clip_model_get_config (model)->embed_dim;
  if (top > n)
    {
      fprintf (stderr, "bench-words: --top %d: the data set has %d images\n", top, n);
      return 2;
    }
  g_autofree int *labels = g_new (int, n);
  for (int i = 0; i < n; i++)
    labels[i] = clip_dataset_get_image_label (dataset, i);
  g_autofree float *images = encode_images (model, dataset, n, dim);

  const char *texts[2 * N_QUERIES];
  for (int q = 0; q < N_QUERIES; q++)
    {
      texts[2 * q] = queries[q].bare;
      texts[2 * q + 1] = queries[q].other;
    }
  g_autofree float *text_embeds = g_new (float, (size_t) 2 * N_QUERIES * dim);
  if (!clip_model_encode_texts (model, texts, 2 * N_QUERIES, text_embeds, NULL, &error))
    die ("encoding the queries", error);

  g_autoptr (JsonBuilder) json = json_builder_new ();
  json_builder_begin_object (json);
  json_builder_set_member_name (json, "per_class");
  json_builder_begin_object (json);
  printf ("%d test images, the %d best for each query\n%-12s %-12s %6s   %-12s %6s\n", n, top, "class", "bare name",
          "share", "plural/syn.", "share");
  double bare_sum = 0, other_sum = 0;
  for (int q = 0; q < N_QUERIES; q++)
    {
      int label = find_label (dataset, queries[q].label);
      double bare = top_k_precision (images, labels, n, dim, text_embeds + (size_t) 2 * q * dim, label, top);
      double other = top_k_precision (images, labels, n, dim, text_embeds + (size_t) (2 * q + 1) * dim, label, top);
      bare_sum += bare;
      other_sum += other;
      printf ("%-12s %-12s %6.2f   %-12s %6.2f\n", queries[q].label, queries[q].bare, bare, queries[q].other, other);
      json_builder_set_member_name (json, queries[q].label);
      json_builder_begin_object (json);
      json_builder_set_member_name (json, queries[q].bare);
      json_builder_add_double_value (json, bare);
      json_builder_set_member_name (json, queries[q].other);
      json_builder_add_double_value (json, other);
      json_builder_end_object (json);
    }
  json_builder_end_object (json);
  double top1 = zero_shot_top1 (model, dataset, images, labels, n, dim);
  printf ("%-12s %-12s %6.3f   %-12s %6.3f\nzero-shot top-1 (\"a photo of a {}.\"): %.4f\n", "average", "",
          bare_sum / N_QUERIES, "", other_sum / N_QUERIES, top1);

  const struct { const char *name; double value; } totals[] = {
    { "bare_mean", bare_sum / N_QUERIES }, { "plural_synonym_mean", other_sum / N_QUERIES }, { "zero_shot_top1", top1 },
  };
  for (size_t t = 0; t < G_N_ELEMENTS (totals); t++)
    {
      json_builder_set_member_name (json, totals[t].name);
      json_builder_add_double_value (json, totals[t].value);
    }
  json_builder_end_object (json);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (json);
  json_generator_set_root (generator, root);
  g_autofree char *line = json_generator_to_data (generator, NULL);
  printf ("%s\n", line);
  return 0;
}
