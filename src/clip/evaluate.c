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

static const int recall_default_k[3] = { 1, 5, 10 };

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

/* Which candidates are correct for each query: query q's are INDEX[START[q] .. START[q + 1]). */
typedef struct {
  int *start;   /* [n_queries + 1] */
  int *index;
} Positives;

static void
positives_clear (Positives *positives)
{
  g_free (positives->start);
  g_free (positives->index);
}

/* Positives of the queries FROM[p] → candidates TO[p] for the N pairs (duplicates dropped). */
static void
positives_build (Positives *positives, const int *from, const int *to, int n, int n_queries)
{
  positives->start = g_new0 (int, n_queries + 1);
  positives->index = g_new (int, MAX (n, 1));
  for (int p = 0; p < n; p++)
    positives->start[from[p] + 1]++;
  for (int q = 0; q < n_queries; q++)
    positives->start[q + 1] += positives->start[q];
  g_autofree int *fill = g_memdup2 (positives->start, sizeof (int) * n_queries);
  for (int p = 0; p < n; p++)
    positives->index[fill[from[p]]++] = to[p];
}

typedef struct {
  const float     *queries;     /* [n_queries, dim] */
  int              n_queries;
  const double    *weights;     /* [n_queries] how many queries each row stands for */
  const float     *candidates;  /* [n_candidates, dim] */
  int              n_candidates;
  int              dim;
  const Positives *positives;
  const int       *ks;
  int              n_k;
} RecallTask;

/* Adds query Q's hit probabilities at each K to HITS; SCORES [n_candidates] are its scores, CORRECT a
 * scratch mask of n_candidates zeros (left zero). */
static void
recall_score_query (const RecallTask *task, int q, const float *scores, guint8 *correct, double *hits)
{
  const Positives *positives = task->positives;
  double best = -INFINITY;
  for (int p = positives->start[q]; p < positives->start[q + 1]; p++)
    {
      correct[positives->index[p]] = 1;
      best = fmax (best, scores[positives->index[p]]);
    }
  const double tolerance = RECALL_TIE_TOLERANCE * fmax (1.0, fabs (best));
  int64_t higher = 0, tied_wrong = 0, tied_right = 0;
  for (int j = 0; j < task->n_candidates; j++)
    {
      if (scores[j] > best + tolerance)
        higher++;
      else if (scores[j] >= best - tolerance)
        {
          if (correct[j])
            tied_right++;
          else
            tied_wrong++;
        }
    }
  for (int p = positives->start[q]; p < positives->start[q + 1]; p++)
    correct[positives->index[p]] = 0;
  for (int k = 0; k < task->n_k; k++)
    hits[k] += task->weights[q] * recall_hit_probability (higher, tied_wrong, tied_right, task->ks[k]);
}

/* RECALL[n_k]: the weighted share of the queries with a correct candidate among the K best; queries
 * without a correct candidate do not count. */
static void
recall_one_direction (const RecallTask *task, double *recall)
{
  const int n = task->n_candidates;
  int block = (int) MAX (1, MIN ((int64_t) task->n_queries, RECALL_BLOCK_SCORES / MAX (n, 1)));
  g_autofree float *scores = g_new (float, (size_t) block * n);
  g_autofree guint8 *correct = g_new0 (guint8, n);
  double hits[CLIP_MAX_RECALL_K] = { 0 };
  double total = 0;

  for (int q0 = 0; q0 < task->n_queries; q0 += block)
    {
      int rows = MIN (block, task->n_queries - q0);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, task->dim, 1.0f,
                   task->queries + (size_t) q0 * task->dim, task->dim, task->candidates, task->dim, 0.0f, scores, n);
      for (int r = 0; r < rows; r++)
        if (task->positives->start[q0 + r + 1] > task->positives->start[q0 + r])
          {
            recall_score_query (task, q0 + r, scores + (size_t) r * n, correct, hits);
            total += task->weights[q0 + r];
          }
    }
  for (int k = 0; k < task->n_k; k++)
    recall[k] = total > 0 ? hits[k] / total : 0;
}

void
clip_evaluate_retrieval_captions (const float *image, int n_images, const float *text, int n_texts, int dim,
                                  const int *caption_image, const int *caption_text, int n_captions,
                                  const int *ks, int n_k, ClipRetrievalMetrics *metrics)
{
  g_return_if_fail (metrics != NULL);
  memset (metrics, 0, sizeof *metrics);
  if (ks == NULL)
    {
      ks = recall_default_k;
      n_k = G_N_ELEMENTS (recall_default_k);
    }
  g_return_if_fail (n_k >= 1 && n_k <= CLIP_MAX_RECALL_K);
  for (int k = 0; k < n_k; k++)
    g_return_if_fail (ks[k] >= 1);
  metrics->n_k = n_k;
  memcpy (metrics->k, ks, sizeof (int) * n_k);
  g_return_if_fail (n_images >= 0 && n_texts >= 0 && n_captions >= 0 && dim > 0);
  if (n_images == 0 || n_texts == 0 || n_captions == 0)
    return;
  g_return_if_fail (image != NULL && text != NULL && caption_image != NULL && caption_text != NULL);
  for (int c = 0; c < n_captions; c++)
    g_return_if_fail (caption_image[c] >= 0 && caption_image[c] < n_images && caption_text[c] >= 0
                      && caption_text[c] < n_texts);

  /* Each distinct text is queried once and stands for all its captions. */
  g_autofree double *text_weight = g_new0 (double, n_texts);
  g_autofree double *image_weight = g_new (double, n_images);
  for (int c = 0; c < n_captions; c++)
    text_weight[caption_text[c]]++;
  for (int i = 0; i < n_images; i++)
    image_weight[i] = 1;

  Positives texts_of_image, images_of_text;
  positives_build (&texts_of_image, caption_image, caption_text, n_captions, n_images);
  positives_build (&images_of_text, caption_text, caption_image, n_captions, n_texts);
  RecallTask image_to_text = { image, n_images, image_weight, text, n_texts, dim, &texts_of_image, ks, n_k };
  RecallTask text_to_image = { text, n_texts, text_weight, image, n_images, dim, &images_of_text, ks, n_k };
  recall_one_direction (&image_to_text, metrics->image_to_text);
  recall_one_direction (&text_to_image, metrics->text_to_image);
  positives_clear (&texts_of_image);
  positives_clear (&images_of_text);
}

void
clip_evaluate_retrieval (const float *image, const float *text, int n, int dim, const int *group,
                         ClipRetrievalMetrics *metrics)
{
  g_return_if_fail (metrics != NULL && n >= 0 && dim > 0);
  if (n == 0)
    {
      clip_evaluate_retrieval_captions (NULL, 0, NULL, 0, dim, NULL, NULL, 0, NULL, 0, metrics);
      return;
    }
  g_return_if_fail (image != NULL && text != NULL);
  /* Row i is image i with caption i; a group's texts are equal, so its first row stands for it. */
  g_autofree int *rows = g_new (int, n);
  g_autofree int *texts = g_new (int, n);
  g_autofree float *distinct = g_new (float, (size_t) n * dim);
  g_autoptr (GHashTable) text_of_group = g_hash_table_new (g_direct_hash, g_direct_equal);
  int n_texts = 0;
  for (int i = 0; i < n; i++)
    {
      rows[i] = i;
      gpointer known;
      int g = group != NULL ? group[i] : i;
      if (g_hash_table_lookup_extended (text_of_group, GINT_TO_POINTER (g), NULL, &known))
        texts[i] = GPOINTER_TO_INT (known);
      else
        {
          texts[i] = n_texts++;
          g_hash_table_insert (text_of_group, GINT_TO_POINTER (g), GINT_TO_POINTER (texts[i]));
          memcpy (distinct + (size_t) texts[i] * dim, text + (size_t) i * dim, sizeof (float) * dim);
        }
    }
  clip_evaluate_retrieval_captions (image, n, distinct, n_texts, dim, rows, texts, n, NULL, 0, metrics);
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
  int present = 0;
  for (int c = 0; c < n_classes; c++)
    {
      metrics->per_class[c] = count[c] > 0 ? (double) correct[c] / count[c] : NAN;
      if (count[c] > 0)
        {
          metrics->mean_per_class_recall += metrics->per_class[c];
          present++;
        }
    }
  /* sklearn's balanced_accuracy_score, which CLIP_benchmark uses: classes without images left out. */
  metrics->mean_per_class_recall = present > 0 ? metrics->mean_per_class_recall / present : 0;
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
json_add_recalls (JsonBuilder *builder, const char *name, const ClipRetrievalMetrics *metrics,
                  const double *recall)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_object (builder);
  for (int k = 0; k < metrics->n_k; k++)
    {
      g_autofree char *key = g_strdup_printf ("R@%d", metrics->k[k]);
      json_builder_set_member_name (builder, key);
      json_builder_add_double_value (builder, recall[k]);
    }
  json_builder_end_object (builder);
}

void
clip_json_add_retrieval (JsonBuilder *builder, const ClipRetrievalMetrics *metrics)
{
  json_add_recalls (builder, "image_to_text", metrics, metrics->image_to_text);
  json_add_recalls (builder, "text_to_image", metrics, metrics->text_to_image);
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
  const int n = clip_dataset_get_n_images (dataset);
  const size_t image_floats = (size_t) 3 * pre->image_size * pre->image_size;
  g_autofree float *pixels = g_new (float, image_floats * MIN (batch_size, n));

  for (int start = 0; start < n; start += batch_size)
    {
      int count = MIN (batch_size, n - start);
      for (int i = 0; i < count; i++)
        clip_image_normalize (clip_dataset_get_image_crop (dataset, start + i), pre, pixels + image_floats * i);
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

/* What clip_evaluate_dataset needs before it starts: a batch size, chosen K within bounds, crops at
 * the model's size and, for zero-shot, labels. */
static gboolean
evaluate_check (ClipModel *model, ClipDataset *dataset, int batch_size, const int *ks, int n_ks, gboolean zero_shot,
                GError **error)
{
  const int image_size = clip_model_get_preprocess (model)->image_size;
  if (batch_size < 1)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "batch size %d: expected a positive count",
                   batch_size);
      return FALSE;
    }
  for (int k = 0; k < (ks != NULL ? n_ks : 0); k++)
    if (ks[k] < 1 || n_ks > CLIP_MAX_RECALL_K)
      {
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "recall at %d of %d values: expected at most %d "
                     "values of K, each at least 1", ks[k], n_ks, CLIP_MAX_RECALL_K);
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
                           "zero-shot classification needs labels (a label column, class folders or classnames.txt)");
      return FALSE;
    }
  return TRUE;
}

/* The number of distinct captions (caption groups). */
static int
evaluate_count_texts (ClipDataset *dataset)
{
  const int *groups = clip_dataset_get_caption_groups (dataset);
  int n_groups = 0;
  for (int i = 0; i < clip_dataset_get_size (dataset); i++)
    n_groups = MAX (n_groups, groups[i] + 1);
  return n_groups;
}

/* Encodes each distinct caption once and ranks images and captions both ways. */
static gboolean
evaluate_retrieval_captions (ClipModel *model, ClipDataset *dataset, const float *image_embeds, const int *ks,
                             int n_ks, int batch_size, ClipRetrievalMetrics *retrieval, EvaluateProgress *progress,
                             GError **error)
{
  const int dim = clip_model_get_config (model)->embed_dim;
  const int n = clip_dataset_get_size (dataset);
  const int *groups = clip_dataset_get_caption_groups (dataset);
  const int n_groups = evaluate_count_texts (dataset);
  g_autofree const char **group_texts = g_new (const char *, MAX (n_groups, 1));
  g_autofree int *caption_image = g_new (int, MAX (n, 1));
  for (int i = 0; i < n; i++)
    {
      group_texts[groups[i]] = clip_dataset_get_caption (dataset, i);
      caption_image[i] = clip_dataset_get_row_image (dataset, i);
    }
  g_autofree float *group_embeds = g_new (float, (size_t) MAX (n_groups, 1) * dim);
  if (!evaluate_encode_texts (model, group_texts, n_groups, batch_size, group_embeds, progress, error))
    return FALSE;
  clip_evaluate_retrieval_captions (image_embeds, clip_dataset_get_n_images (dataset), group_embeds, n_groups, dim,
                                    caption_image, groups, n, ks, n_ks, retrieval);
  return TRUE;
}

/* Zero-shot classification of the data set's labelled images (IMAGE_EMBEDS) over its labels. */
static gboolean
evaluate_zero_shot_labels (ClipModel *model, ClipDataset *dataset, const float *image_embeds,
                           const char *const *templates, int n_templates, ClipZeroShotMetrics *zero_shot,
                           EvaluateProgress *progress, GError **error)
{
  const int dim = clip_model_get_config (model)->embed_dim;
  const int n_images = clip_dataset_get_n_images (dataset);
  const int n_labels = clip_dataset_get_n_labels (dataset);
  g_autofree const char **names = g_new (const char *, n_labels);
  for (int c = 0; c < n_labels; c++)
    names[c] = clip_dataset_get_label_name (dataset, c);
  g_autofree float *weights = g_new (float, (size_t) n_labels * dim);
  if (!clip_zero_shot_classifier (model, names, n_labels, templates, n_templates, weights, progress->callbacks,
                                  error)
      || !evaluate_advance (progress, n_labels * n_templates, error))
    return FALSE;
  g_autofree float *embeds = g_new (float, (size_t) MAX (n_images, 1) * dim);
  g_autofree int *labels = g_new (int, MAX (n_images, 1));
  int n = 0;
  for (int i = 0; i < n_images; i++)
    if (clip_dataset_get_image_label (dataset, i) >= 0)
      {
        labels[n] = clip_dataset_get_image_label (dataset, i);
        memcpy (embeds + (size_t) n++ * dim, image_embeds + (size_t) i * dim, sizeof (float) * dim);
      }
  g_autofree float *probs = g_new (float, (size_t) MAX (n, 1) * n_labels);
  clip_zero_shot_probs (model, embeds, n, weights, n_labels, probs);
  clip_evaluate_zero_shot (probs, labels, n, n_labels, zero_shot);
  return TRUE;
}

gboolean
clip_evaluate_dataset (ClipModel *model, ClipDataset *dataset, const char *const *templates,
                       int n_templates, const int *ks, int n_ks, int batch_size, ClipRetrievalMetrics *retrieval,
                       ClipZeroShotMetrics *zero_shot, const ClipCallbacks *callbacks, GError **error)
{
  g_return_val_if_fail (model != NULL && dataset != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!evaluate_check (model, dataset, batch_size, ks, n_ks, zero_shot != NULL, error))
    return FALSE;
  const int dim = clip_model_get_config (model)->embed_dim;
  const int n_images = clip_dataset_get_n_images (dataset);
  if (templates == NULL)
    templates = clip_dataset_get_templates (dataset, &n_templates);
  if (templates == NULL)
    templates = clip_templates_builtin ("simple", &n_templates);

  EvaluateProgress progress = {
    .callbacks = callbacks,
    .total = (retrieval != NULL ? evaluate_count_texts (dataset) : 0) + n_images
             + (zero_shot != NULL ? (int64_t) clip_dataset_get_n_labels (dataset) * n_templates : 0),
  };
  g_autofree float *image_embeds = g_new (float, (size_t) MAX (n_images, 1) * dim);
  return evaluate_encode_images (model, dataset, batch_size, image_embeds, &progress, error)
         && (retrieval == NULL
             || evaluate_retrieval_captions (model, dataset, image_embeds, ks, n_ks, batch_size, retrieval, &progress,
                                             error))
         && (zero_shot == NULL
             || evaluate_zero_shot_labels (model, dataset, image_embeds, templates, n_templates, zero_shot, &progress,
                                           error));
}
