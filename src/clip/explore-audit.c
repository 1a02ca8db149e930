/* explore-audit.c — suspected label errors and outliers.
 *
 * Label errors follow confident learning (Northcutt, Jiang and Chuang, 2021; cleanlab): each row has
 * out-of-sample class probabilities, here the mean of two opinions that do not use the row's own
 * label: zero-shot classification with the class names, and the labels of its nearest neighbours.
 * Class j's threshold is the mean probability of j over the rows labelled j; a row labelled y is
 * suspect when some other class reaches its threshold and is more probable than y (an off-diagonal
 * entry of the confident joint).  Suspects are ranked by how much more probable the suggestion is.
 *
 * Outliers: a row whose neighbours are far, relative to how far neighbours usually are. */
#include "explore-private.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NEIGHBOR_PRIOR 0.5    /* pseudo-count of every class in a row's neighbour vote */

/* PROBS [n, n_classes]: the mean of the zero-shot softmax and the smoothed neighbour vote. */
static void
audit_probabilities (const float *x, int n, int dim, const int *labels, int n_classes, const float *weights,
                     float scale, const ClipNeighbors *nb, float *probs)
{
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, n_classes, dim, scale, x, dim, weights, dim, 0.0f,
               probs, n_classes);
  g_autofree double *vote = g_new (double, n_classes);
  for (int i = 0; i < n; i++)
    {
      float *p = probs + (size_t) i * n_classes;
      float top = p[0];
      for (int j = 1; j < n_classes; j++)
        top = MAX (top, p[j]);
      double sum = 0;
      for (int j = 0; j < n_classes; j++)
        sum += p[j] = expf (p[j] - top);
      for (int j = 0; j < n_classes; j++)
        vote[j] = NEIGHBOR_PRIOR;
      for (int j = 0; j < nb->k; j++)
        vote[labels[nb->index[(size_t) i * nb->k + j]]] += 1;
      double votes = nb->k + NEIGHBOR_PRIOR * n_classes;
      for (int j = 0; j < n_classes; j++)
        p[j] = (float) (0.5 * p[j] / sum + 0.5 * vote[j] / votes);
    }
}

static int
compare_issues (const void *a, const void *b)
{
  const ClipLabelIssue *x = a, *y = b;
  float mx = x->confidence - x->label_prob, my = y->confidence - y->label_prob;
  if (mx != my)
    return mx > my ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row);
}

ClipLabelIssue *
clip_audit_labels (const float *embeddings, int n, int dim, const int *labels, int n_classes,
                   const float *class_weights, float logit_scale_exp, const ClipNeighbors *neighbors, int *n_issues)
{
  g_return_val_if_fail (neighbors != NULL && neighbors->n == n && n_classes >= 2, NULL);
  g_autofree float *probs = g_new (float, (size_t) n * n_classes);
  audit_probabilities (embeddings, n, dim, labels, n_classes, class_weights, logit_scale_exp, neighbors, probs);
  g_autofree double *threshold = g_new0 (double, n_classes);
  g_autofree int *count = g_new0 (int, n_classes);
  for (int i = 0; i < n; i++)
    {
      threshold[labels[i]] += probs[(size_t) i * n_classes + labels[i]];
      count[labels[i]]++;
    }
  for (int j = 0; j < n_classes; j++)
    threshold[j] = count[j] > 0 ? threshold[j] / count[j] : 1.0;
  GArray *issues = g_array_new (FALSE, FALSE, sizeof (ClipLabelIssue));
  for (int i = 0; i < n; i++)
    {
      const float *p = probs + (size_t) i * n_classes;
      int y = labels[i], best = -1;
      for (int j = 0; j < n_classes; j++)
        if (j != y && p[j] >= threshold[j] && (best < 0 || p[j] > p[best]))
          best = j;
      if (best >= 0 && p[best] > p[y])
        g_array_append_val (issues, ((ClipLabelIssue) { i, y, best, p[best], p[y] }));
    }
  g_array_sort (issues, compare_issues);
  *n_issues = (int) issues->len;
  return (ClipLabelIssue *) g_array_free (issues, FALSE);
}

static int
compare_floats (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

static int
compare_outliers (const void *a, const void *b)
{
  const ClipOutlier *x = a, *y = b;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row);
}

ClipOutlier *
clip_audit_outliers (const ClipNeighbors *neighbors)
{
  int n = neighbors->n, k = neighbors->k;
  ClipOutlier *outliers = g_new (ClipOutlier, MAX (n, 1));
  g_autofree float *sorted = g_new (float, MAX (n, 1));
  for (int i = 0; i < n; i++)
    {
      double sum = 0;
      for (int j = 0; j < k; j++)
        sum += neighbors->distance[(size_t) i * k + j];
      outliers[i] = (ClipOutlier) { i, (float) (sum / k) };
      sorted[i] = outliers[i].score;
    }
  qsort (sorted, n, sizeof *sorted, compare_floats);
  float median = n > 0 ? sorted[n / 2] : 0;
  for (int i = 0; i < n; i++)
    outliers[i].score = median > 0 ? outliers[i].score / median : 0;
  qsort (outliers, n, sizeof *outliers, compare_outliers);
  return outliers;
}
