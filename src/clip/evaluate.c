/* evaluate.c — retrieval recall and zero-shot accuracy (CLIP_benchmark's definitions, anchors-notes.md §3.5),
 * and the whole evaluation of a model on a prepared data set.
 *
 * Recall@K: a query hits when at least one correct candidate is among the K best ("CLIP-paper"
 * recall, not tp / positives).  Candidates whose scores tie with the best correct one are ranked in
 * a uniformly random order and the hit counts with its probability, so the result is deterministic
 * and a collapsed model whose embeddings are all equal scores K / n, not 1. */
#include "clip-private.h"
#include "clip-json.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Scores closer than this (relative to the best correct score) tie: the same vector in two rows can
 * score a few ulps apart depending on where the matrix product's blocking puts it. */
#define RECALL_TIE_TOLERANCE 1e-6

/* Score rows computed at once: a block of queries × every candidate. */
#define RECALL_BLOCK_SCORES (1 << 22)

static const int recall_k[3] = { 1, 5, 10 };

/* The probability that a query hits in the top K when HIGHER wrong candidates score above the best
 * correct one and TIED_WRONG wrong and TIED_RIGHT (≥ 1) correct candidates tie with it. */
static double
recall_hit_probability (int64_t higher, int64_t tied_wrong, int64_t tied_right, int k)
{
  if (higher >= k)
    return 0;
  int64_t places = k - higher;  /* the first correct candidate must come within this many ties */
  if (places > tied_wrong)
    return 1;
  /* P(the first PLACES tied candidates are all wrong) */
  double all_wrong = 1;
  for (int64_t i = 0; i < places; i++)
    all_wrong *= (double) (tied_wrong - i) / (double) (tied_wrong + tied_right - i);
  return 1 - all_wrong;
}

/* RECALL[3] for QUERIES against CANDIDATES, both [n, dim]; candidate j is correct for query q when
 * their groups are equal (each row its own group when GROUP is NULL). */
static void
recall_one_direction (const float *queries, const float *candidates, int n, int dim, const int *group,
                      double recall[3])
{
  int block = (int) MAX (1, MIN ((int64_t) n, RECALL_BLOCK_SCORES / n));
  g_autofree float *scores = g_new (float, (size_t) block * n);
  double hits[3] = { 0, 0, 0 };

  for (int q0 = 0; q0 < n; q0 += block)
    {
      int rows = MIN (block, n - q0);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, dim, 1.0f, queries + (size_t) q0 * dim,
                   dim, candidates, dim, 0.0f, scores, n);
      for (int r = 0; r < rows; r++)
        {
          const int q = q0 + r;
          const float *row = scores + (size_t) r * n;
          const int g = group != NULL ? group[q] : q;

          double best = -INFINITY;
          for (int j = 0; j < n; j++)
            if ((group != NULL ? group[j] : j) == g)
              best = fmax (best, row[j]);
          const double tolerance = RECALL_TIE_TOLERANCE * fmax (1.0, fabs (best));

          int64_t higher = 0, tied_wrong = 0, tied_right = 0;
          for (int j = 0; j < n; j++)
            {
              gboolean correct = (group != NULL ? group[j] : j) == g;
              if (row[j] > best + tolerance)
                higher++;
              else if (row[j] >= best - tolerance)
                {
                  if (correct)
                    tied_right++;
                  else
                    tied_wrong++;
                }
            }
          for (int k = 0; k < 3; k++)
            hits[k] += recall_hit_probability (higher, tied_wrong, tied_right, recall_k[k]);
        }
    }
  for (int k = 0; k < 3; k++)
    recall[k] = n > 0 ? hits[k] / n : 0;
}

void
clip_evaluate_retrieval (const float *image, const float *text, int n, int dim, const int *group,
                     ClipRetrievalMetrics *metrics)
{
  g_return_if_fail (metrics != NULL);
  memset (metrics, 0, sizeof *metrics);
  g_return_if_fail (n >= 0 && dim > 0);
  if (n == 0)
    return;
  g_return_if_fail (image != NULL && text != NULL);
  recall_one_direction (image, text, n, dim, group, metrics->image_to_text);
  recall_one_direction (text, image, n, dim, group, metrics->text_to_image);
}

/* ---------------------------------------------------------------- zero-shot */

/* Where LABEL ranks in PROBS: the classes more probable, plus the equally probable ones listed
 * before it (the same order as the prediction's, which takes the first of equal maxima). */
static int
zero_shot_rank (const float *probs, int n_classes, int label)
{
  int rank = 0;
  for (int c = 0; c < n_classes; c++)
    if (probs[c] > probs[label] || (probs[c] == probs[label] && c < label))
      rank++;
  return rank;
}

static int
zero_shot_predict (const float *probs, int n_classes)
{
  int best = 0;
  for (int c = 1; c < n_classes; c++)
    if (probs[c] > probs[best])
      best = c;
  return best;
}

void
clip_evaluate_zero_shot (const float *probs, const int *labels, int n, int n_classes,
                    ClipZeroShotMetrics *metrics)
{
  g_return_if_fail (metrics != NULL);
  memset (metrics, 0, sizeof *metrics);
  g_return_if_fail (n >= 0 && n_classes > 0 && (n == 0 || (probs != NULL && labels != NULL)));
  for (int i = 0; i < n; i++)
    g_return_if_fail (labels[i] >= 0 && labels[i] < n_classes);

  metrics->n_classes = n_classes;
  metrics->per_class = g_new (double, n_classes);
  metrics->confusion = g_new0 (int, (size_t) n_classes * n_classes);
  g_autofree int *count = g_new0 (int, n_classes);
  g_autofree int *correct = g_new0 (int, n_classes);
  int64_t top1 = 0, top5 = 0;

  for (int i = 0; i < n; i++)
    {
      const float *p = probs + (size_t) i * n_classes;
      int label = labels[i];
      int rank = zero_shot_rank (p, n_classes, label);
      top1 += rank == 0;
      top5 += rank < 5;
      count[label]++;
      correct[label] += rank == 0;
      metrics->confusion[(size_t) label * n_classes + zero_shot_predict (p, n_classes)]++;
    }
  metrics->top1 = n > 0 ? (double) top1 / n : 0;
  metrics->top5 = n > 0 ? (double) top5 / n : 0;
  for (int c = 0; c < n_classes; c++)
    metrics->per_class[c] = count[c] > 0 ? (double) correct[c] / count[c] : NAN;
}

void
clip_zero_shot_metrics_clear (ClipZeroShotMetrics *metrics)
{
  if (metrics == NULL)
    return;
  g_clear_pointer (&metrics->per_class, g_free);
  g_clear_pointer (&metrics->confusion, g_free);
  metrics->n_classes = 0;
}

/* ---------------------------------------------------------------- as JSON */

static void
json_add_recalls (JsonBuilder *builder, const char *name, const double recall[3])
{
  static const char *const keys[3] = { "R@1", "R@5", "R@10" };
  json_builder_set_member_name (builder, name);
  json_builder_begin_object (builder);
  for (int k = 0; k < 3; k++)
    {
      json_builder_set_member_name (builder, keys[k]);
      json_builder_add_double_value (builder, recall[k]);
    }
  json_builder_end_object (builder);
}

void
clip_json_add_retrieval (JsonBuilder *builder, const ClipRetrievalMetrics *metrics)
{
  json_add_recalls (builder, "image_to_text", metrics->image_to_text);
  json_add_recalls (builder, "text_to_image", metrics->text_to_image);
}

void
clip_json_begin_zero_shot (JsonBuilder *builder, double top1, double top5)
{
  json_builder_set_member_name (builder, "zero_shot");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "top1");
  json_builder_add_double_value (builder, top1);
  json_builder_set_member_name (builder, "top5");
  json_builder_add_double_value (builder, top5);
}

/* ---------------------------------------------------------------- a model on a data set */

typedef struct {
  const ClipCallbacks *callbacks;
  int64_t              done, total;
} EvaluateProgress;

/* Reports COUNT more items done; FALSE (with the error set) when the caller asks to stop. */
static gboolean
evaluate_advance (EvaluateProgress *progress, int count, GError **error)
{
  progress->done += count;
  clip_callbacks_progress (progress->callbacks, "Evaluating", progress->done, progress->total);
  if (clip_callbacks_aborted (progress->callbacks))
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_ABORTED, "the evaluation was stopped");
      return FALSE;
    }
  return TRUE;
}

static gboolean
evaluate_encode_images (ClipModel *model, ClipDataset *dataset, int batch_size, float *embeds,
                        EvaluateProgress *progress, GError **error)
{
  const ClipPreprocess *pre = clip_model_get_preprocess (model);
  const int dim = clip_model_get_config (model)->embed_dim;
  const int n = clip_dataset_get_size (dataset);
  const size_t image_floats = (size_t) 3 * pre->image_size * pre->image_size;
  g_autofree float *pixels = g_new (float, image_floats * MIN (batch_size, n));

  for (int start = 0; start < n; start += batch_size)
    {
      int count = MIN (batch_size, n - start);
      for (int i = 0; i < count; i++)
        clip_image_normalize (clip_dataset_get_crop (dataset, start + i), pre, pixels + image_floats * i);
      if (!clip_model_encode_images (model, pixels, count, embeds + (size_t) start * dim, progress->callbacks,
                                     error)
          || !evaluate_advance (progress, count, error))
        return FALSE;
    }
  return TRUE;
}

/* Encodes TEXTS[n] BATCH_SIZE at a time. */
static gboolean
evaluate_encode_texts (ClipModel *model, const char *const *texts, int n, int batch_size, float *embeds,
                       EvaluateProgress *progress, GError **error)
{
  const int dim = clip_model_get_config (model)->embed_dim;
  for (int start = 0; start < n; start += batch_size)
    {
      int count = MIN (batch_size, n - start);
      if (!clip_model_encode_texts (model, texts + start, count, embeds + (size_t) start * dim, progress->callbacks,
                                    error)
          || !evaluate_advance (progress, count, error))
        return FALSE;
    }
  return TRUE;
}

/* What clip_evaluate_dataset needs before it starts: a batch size, crops at the model's size and,
 * for zero-shot, labels. */
static gboolean
evaluate_check (ClipModel *model, ClipDataset *dataset, int batch_size, gboolean zero_shot, GError **error)
{
  const int image_size = clip_model_get_preprocess (model)->image_size;
  if (batch_size < 1)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "batch size %d: expected a positive count",
                   batch_size);
      return FALSE;
    }
  if (clip_dataset_get_crop_size (dataset) != image_size)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                   "the data set's images are prepared at %d pixels, the model needs %d",
                   clip_dataset_get_crop_size (dataset), image_size);
      return FALSE;
    }
  if (zero_shot && clip_dataset_get_n_labels (dataset) == 0)
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_MISSING,
                           "zero-shot classification needs a label column in the data set");
      return FALSE;
    }
  return TRUE;
}

/* Zero-shot classification of the data set's images (IMAGE_EMBEDS) over its labels. */
static gboolean
evaluate_zero_shot_labels (ClipModel *model, ClipDataset *dataset, const float *image_embeds,
                           const char *const *templates, int n_templates, ClipZeroShotMetrics *zero_shot,
                           EvaluateProgress *progress, GError **error)
{
  const int dim = clip_model_get_config (model)->embed_dim;
  const int n = clip_dataset_get_size (dataset);
  const int n_labels = clip_dataset_get_n_labels (dataset);
  g_autofree const char **names = g_new (const char *, n_labels);
  for (int c = 0; c < n_labels; c++)
    names[c] = clip_dataset_get_label_name (dataset, c);
  g_autofree float *weights = g_new (float, (size_t) n_labels * dim);
  if (!clip_zero_shot_classifier (model, names, n_labels, templates, n_templates, weights, progress->callbacks,
                                  error)
      || !evaluate_advance (progress, n_labels * n_templates, error))
    return FALSE;
  g_autofree float *probs = g_new (float, (size_t) n * n_labels);
  clip_zero_shot_probs (model, image_embeds, n, weights, n_labels, probs);
  g_autofree int *labels = g_new (int, n);
  for (int i = 0; i < n; i++)
    labels[i] = clip_dataset_get_label (dataset, i);
  clip_evaluate_zero_shot (probs, labels, n, n_labels, zero_shot);
  return TRUE;
}

gboolean
clip_evaluate_dataset (ClipModel *model, ClipDataset *dataset, const char *const *templates,
                       int n_templates, int batch_size, ClipRetrievalMetrics *retrieval,
                       ClipZeroShotMetrics *zero_shot, const ClipCallbacks *callbacks, GError **error)
{
  g_return_val_if_fail (model != NULL && dataset != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!evaluate_check (model, dataset, batch_size, zero_shot != NULL, error))
    return FALSE;
  const int dim = clip_model_get_config (model)->embed_dim;
  const int n = clip_dataset_get_size (dataset);
  if (templates == NULL)
    templates = clip_templates_builtin ("simple", &n_templates);

  /* Each distinct caption is encoded once; its rows share the embedding. */
  const int *groups = clip_dataset_get_caption_groups (dataset);
  int n_groups = 0;
  for (int i = 0; i < n; i++)
    n_groups = MAX (n_groups, groups[i] + 1);
  g_autofree const char **group_texts = g_new (const char *, MAX (n_groups, 1));
  for (int i = 0; i < n; i++)
    group_texts[groups[i]] = clip_dataset_get_caption (dataset, i);

  EvaluateProgress progress = {
    .callbacks = callbacks,
    .total = (retrieval != NULL ? n_groups : 0) + n
             + (zero_shot != NULL ? (int64_t) clip_dataset_get_n_labels (dataset) * n_templates : 0),
  };
  g_autofree float *image_embeds = g_new (float, (size_t) n * dim);
  if (!evaluate_encode_images (model, dataset, batch_size, image_embeds, &progress, error))
    return FALSE;
  if (retrieval != NULL)
    {
      g_autofree float *group_embeds = g_new (float, (size_t) MAX (n_groups, 1) * dim);
      if (!evaluate_encode_texts (model, group_texts, n_groups, batch_size, group_embeds, &progress, error))
        return FALSE;
      g_autofree float *text_embeds = g_new (float, (size_t) n * dim);
      for (int i = 0; i < n; i++)
        memcpy (text_embeds + (size_t) i * dim, group_embeds + (size_t) groups[i] * dim, sizeof (float) * dim);
      clip_evaluate_retrieval (image_embeds, text_embeds, n, dim, groups, retrieval);
    }
  return zero_shot == NULL
         || evaluate_zero_shot_labels (model, dataset, image_embeds, templates, n_templates, zero_shot, &progress,
                                       error);
}
