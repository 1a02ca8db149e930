/* bench-agreement — zero-shot top-1 agreement of bf16 and int8 inference with float32: how many
 * images of a labelled data set get the same predicted class at each reduced precision as at
 * float32 (the targets: ≥ 99 % for bf16, ≥ 97 % for int8), beside each precision's top-1
 * accuracy.  The images are decoded once; the model is loaded at each precision in turn.
 *
 *   cliplab-cli dataset fashion-mnist --out fmnist
 *   build/tests/bench/bench-agreement --model data/builtin/model.safetensors --csv fmnist/test.csv \
 *       [--template "a photo of a {}"] [--threads T]
 *
 * Prints one JSON line. */
#include "clip.h"

#include <stdio.h>
#include <string.h>

#define BATCH 64

/* The predicted class of every image of DATASET (prepared at the model's size) at PRECISION. */
static gboolean
predict (const char *model_path, ClipPrecision precision, ClipDataset *dataset, const char *const *templates,
         int n_templates, int *predicted, char **kernel, GError **error)
{
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.precision = precision;
  g_autoptr (ClipModel) model = clip_model_load (model_path, &options, error);
  if (model == NULL)
    return FALSE;
  const ClipConfig *c = clip_model_get_config (model);
  int n_classes = clip_dataset_get_n_labels (dataset), n = clip_dataset_get_n_images (dataset);
  g_autofree const char **classes = g_new (const char *, n_classes);
  for (int l = 0; l < n_classes; l++)
    classes[l] = clip_dataset_get_label_name (dataset, l);
  g_autofree float *weights = g_new (float, (size_t) n_classes * c->embed_dim);
  if (!clip_zero_shot_classifier (model, classes, n_classes, templates, n_templates, weights, NULL, error))
    return FALSE;
  size_t image_floats = (size_t) 3 * c->image_size * c->image_size;
  g_autofree float *pixels = g_new (float, BATCH * image_floats);
  g_autofree float *embeds = g_new (float, (size_t) BATCH * c->embed_dim);
  g_autofree float *probs = g_new (float, (size_t) BATCH * n_classes);
  for (int start = 0; start < n; start += BATCH)
    {
      int count = MIN (BATCH, n - start);
      for (int i = 0; i < count; i++)
        clip_image_normalize (clip_dataset_get_image_crop (dataset, start + i), clip_model_get_preprocess (model),
                              pixels + i * image_floats);
      if (!clip_model_encode_images (model, pixels, count, embeds, NULL, error))
        return FALSE;
      clip_zero_shot_probs (model, embeds, count, weights, n_classes, probs);
      for (int i = 0; i < count; i++)
        {
          int best = 0;
          for (int l = 1; l < n_classes; l++)
            if (probs[i * n_classes + l] > probs[i * n_classes + best])
              best = l;
          predicted[start + i] = best;
        }
    }
  *kernel = g_strdup (clip_model_get_kernel (model, CLIP_PRODUCT_VISION_MLP_UP));
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *csv = NULL, *template = NULL;
  int threads = 0;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "The model", "PATH" },
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &csv, "The labelled images (image_path,caption,label)", "FILE" },
    { "template", 0, 0, G_OPTION_ARG_STRING, &template, "Zero-shot template with {} (default: \"a photo of a {}\")", "T" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Compute threads (0 = all cores)", "N" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("");
  g_option_context_add_main_entries (context, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || model_path == NULL || csv == NULL)
    {
      fprintf (stderr, "bench-agreement: %s\n", error != NULL ? error->message : "--model and --csv are required");
      return 1;
    }
  clip_set_threads (threads);
  const char *templates[] = { template != NULL ? template : "a photo of a {}" };

  g_autoptr (ClipModel) probe = clip_model_load (model_path, NULL, &error);
  g_autoptr (ClipDataset) dataset = probe != NULL ? clip_dataset_load_csv (csv, NULL, &error) : NULL;
  if (dataset == NULL
      || !clip_dataset_prepare_images (dataset, clip_model_get_config (probe)->image_size, FALSE, (size_t) 1 << 30,
                                       NULL, NULL, &error))
    {
      fprintf (stderr, "bench-agreement: %s\n", error->message);
      return 1;
    }
  int n = clip_dataset_get_n_images (dataset);
  const ClipPrecision precisions[] = { CLIP_PRECISION_F32, CLIP_PRECISION_BF16, CLIP_PRECISION_INT8 };
  int *predicted[G_N_ELEMENTS (precisions)];
  printf ("{\"model\": \"%s\", \"images\": %d, \"cpu\": \"%s\"", model_path, n, clip_cpu_model_name ());
  for (guint p = 0; p < G_N_ELEMENTS (precisions); p++)
    {
      predicted[p] = g_new (int, n);
      g_autofree char *kernel = NULL;
      if (!predict (model_path, precisions[p], dataset, templates, 1, predicted[p], &kernel, &error))
        {
          fprintf (stderr, "bench-agreement: %s\n", error->message);
          return 1;
        }
      int correct = 0, agree = 0;
      for (int i = 0; i < n; i++)
        {
          correct += predicted[p][i] == clip_dataset_get_image_label (dataset, i);
          agree += predicted[p][i] == predicted[0][i];
        }
      printf (", \"%s\": {\"kernel\": \"%s\", \"top1\": %.4f, \"agreement_with_f32\": %.4f}",
              clip_precision_name (precisions[p]), kernel, (double) correct / n, (double) agree / n);
    }
  printf ("}\n");
  for (guint p = 0; p < G_N_ELEMENTS (precisions); p++)
    g_free (predicted[p]);
  return 0;
}
