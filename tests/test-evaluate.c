/* test-evaluate.c — retrieval recall and zero-shot metrics on hand-built embeddings and
 * probabilities whose answers are worked out by hand, and clip_evaluate_dataset against the same
 * computation done from the public pieces on the tiny golden model. */
#include "clip.h"
#include "generate.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

#define EPS 1e-12

/* With the images the standard basis (image i = e_i), image i · text j = text_j[i], so the texts are
 * the columns of the score matrix S[image][text]. */
static void
texts_from_scores (const double *scores, int n, float *image, float *text)
{
  memset (image, 0, sizeof (float) * n * n);
  for (int i = 0; i < n; i++)
    image[i * n + i] = 1;
  for (int j = 0; j < n; j++)
    for (int i = 0; i < n; i++)
      text[j * n + i] = (float) scores[i * n + j];
}

static void
assert_recalls (const char *what, const double got[3], double r1, double r5, double r10)
{
  double want[3] = { r1, r5, r10 };
  for (int k = 0; k < 3; k++)
    if (fabs (got[k] - want[k]) > EPS)
      g_error ("%s: recall[%d] = %.15g, expected %.15g", what, k, got[k], want[k]);
}

/* Image i has exactly i wrong captions above its own (those of the images before it), so its
 * rank is i; caption j then has 11 - j wrong images above its own. */
static void
test_retrieval_known_ranks (void)
{
  enum { N = 12 };
  double scores[N * N];
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++)
      scores[i * N + j] = i == j ? 0.5 : j < i ? 0.9 : 0.1;
  float image[N * N], text[N * N];
  texts_from_scores (scores, N, image, text);

  ClipRetrievalMetrics m;
  clip_evaluate_retrieval (image, text, N, N, NULL, &m);
  assert_recalls ("image→text", m.image_to_text, 1.0 / N, 5.0 / N, 10.0 / N);
  assert_recalls ("text→image", m.text_to_image, 1.0 / N, 5.0 / N, 10.0 / N);

  /* Every row its own group is the same as no groups. */
  int groups[N];
  for (int i = 0; i < N; i++)
    groups[i] = 100 + i;
  ClipRetrievalMetrics g;
  clip_evaluate_retrieval (image, text, N, N, groups, &g);
  assert_recalls ("image→text, singleton groups", g.image_to_text, 1.0 / N, 5.0 / N, 10.0 / N);
}

/* Perfect pairs: every query's own item is the best. */
static void
test_retrieval_perfect (void)
{
  enum { N = 3, D = 5 };
  float image[N * D] = { 0 }, text[N * D] = { 0 };
  for (int i = 0; i < N; i++)
    {
      image[i * D + i] = 1;
      text[i * D + i] = 0.8f;
      text[i * D + 4] = 0.6f;  /* a shared component ties nothing: it only adds 0 to each score */
    }
  ClipRetrievalMetrics m;
  clip_evaluate_retrieval (image, text, N, D, NULL, &m);
  assert_recalls ("image→text", m.image_to_text, 1, 1, 1);
  assert_recalls ("text→image", m.text_to_image, 1, 1, 1);
}

/* A collapsed model (every embedding equal) ranks ties at random: a hit at K with probability
 * K / n, not a perfect score. */
static void
test_retrieval_all_tied (void)
{
  enum { N = 12, D = 4 };
  float image[N * D], text[N * D];
  for (int i = 0; i < N * D; i++)
    image[i] = text[i] = 0.5f;
  ClipRetrievalMetrics m;
  clip_evaluate_retrieval (image, text, N, D, NULL, &m);
  assert_recalls ("image→text", m.image_to_text, 1.0 / N, 5.0 / N, 10.0 / N);
  assert_recalls ("text→image", m.text_to_image, 1.0 / N, 5.0 / N, 10.0 / N);
}

/* Six pairs in three caption groups {0,1} {2,3} {4,5}; captions of a group are identical texts
 * with identical embeddings.  K = 10 exceeds n = 6. */
static void
test_retrieval_caption_groups (void)
{
  enum { N = 6 };
  static const int groups[N] = { 0, 0, 1, 1, 2, 2 };
  /* Image i's score for each caption group. */
  static const double by_group[N][3] = {
    { 0.9, 0.5, 0.1 },   /* own group 0 first */
    { 0.6, 0.8, 0.1 },   /* both captions of group 1 above: 2 higher */
    { 0.2, 0.9, 0.3 },   /* own group 1 first */
    { 0.3, 0.5, 0.85 },  /* both captions of group 2 above: 2 higher */
    { 0.1, 0.2, 0.8 },   /* own group 2 first */
    { 0.7, 0.6, 0.4 },   /* four captions above */
  };
  double scores[N * N];
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++)
      scores[i * N + j] = by_group[i][groups[j]];
  float image[N * N], text[N * N];
  texts_from_scores (scores, N, image, text);

  ClipRetrievalMetrics m;
  clip_evaluate_retrieval (image, text, N, N, groups, &m);
  /* Images 0, 2, 4 hit at 1; the others have 2, 2 and 4 wrong captions above, all within 5. */
  assert_recalls ("image→text", m.image_to_text, 3.0 / 6, 1, 1);
  /* Captions of group 0 see images 0 (0.9) then 5, 1 (correct at 0.6): hit at 1.  Group 1: image 2
   * (0.9) first.  Group 2: image 3 (0.85, wrong) above image 4 (0.8): a miss at 1, a hit at 5. */
  assert_recalls ("text→image", m.text_to_image, 4.0 / 6, 1, 1);

  /* Without groups, a caption's identical twin is a wrong candidate tied with it: images 0, 2 and 4
   * then hit at 1 with probability 1/2, and image 5 (four captions above, its own tied with its
   * twin) hits at 5 with probability 1/2. */
  ClipRetrievalMetrics u;
  clip_evaluate_retrieval (image, text, N, N, NULL, &u);
  assert_recalls ("image→text without groups", u.image_to_text, 1.5 / 6, 5.5 / 6, 1);
}

/* Candidates a rounding error apart (1 float ulp at 0.5 is 6e-8) tie with the correct one. */
static void
test_retrieval_hit_probability (void)
{
  enum { N = 4 };
  /* Image 0: own caption 0.5, captions 1 and 2 tie with it, caption 3 above: h = 1, t = 2, m = 1.
   * At K = 1: 0.  At K = 5: sure.  The other images: own caption alone at the top. */
  double scores[N * N] = {
    0.5, 0.5 + 2e-7, 0.5 - 2e-7, 0.7,
    0.0, 0.9, 0.1, 0.1,
    0.0, 0.1, 0.9, 0.1,
    0.0, 0.1, 0.1, 0.9,
  };
  float image[N * N], text[N * N];
  texts_from_scores (scores, N, image, text);
  ClipRetrievalMetrics m;
  clip_evaluate_retrieval (image, text, N, N, NULL, &m);
  assert_recalls ("image→text", m.image_to_text, 3.0 / 4, 1, 1);

  /* h = 0, t = 2, m = 1: a hit at 1 with probability 1/3, at 5 surely. */
  scores[3] = 0.2;
  texts_from_scores (scores, N, image, text);
  clip_evaluate_retrieval (image, text, N, N, NULL, &m);
  assert_recalls ("image→text, three-way tie", m.image_to_text, (3 + 1.0 / 3) / 4, 1, 1);
}

/* ---------------------------------------------------------------- zero-shot */

static void
test_zero_shot_known_confusion (void)
{
  enum { N = 8, C = 7 };
  static const float probs[N][C] = {
    { .5, .1, .1, .1, .1, .1, 0 },      /* label 0: predicted 0, rank 0 */
    { .05, .05, .05, .7, .1, .05, 0 },  /* label 3: predicted 3, rank 0 */
    { .6, .3, .05, .02, .02, .01, 0 },  /* label 1: predicted 0, rank 1 */
    { .25, .05, .2, 0, .5, 0, 0 },      /* label 2: predicted 4, rank 2 */
    { .3, .25, .2, .15, .1, 0, 0 },     /* label 5: predicted 0, rank 5 (tied with 6, listed after) */
    { .1, .3, .25, .2, .05, 0, 0 },     /* label 4: predicted 1, rank 4 */
    { .1, .2, .1, .1, .1, .1, 0 },      /* label 0: predicted 1, rank 1 */
    { .2, .2, .2, .2, .2, 0, 0 },       /* label 2: all tied, predicted 0 (the first), rank 2 */
  };
  static const int labels[N] = { 0, 3, 1, 2, 5, 4, 0, 2 };

  ClipZeroShotMetrics m = { 0 };
  clip_evaluate_zero_shot (&probs[0][0], labels, N, C, &m);
  g_assert_cmpint (m.n_classes, ==, C);
  g_assert_cmpfloat_with_epsilon (m.top1, 2.0 / 8, EPS);
  g_assert_cmpfloat_with_epsilon (m.top5, 7.0 / 8, EPS);

  static const double per_class[C] = { 0.5, 0, 0, 1, 0, 0, NAN };
  for (int c = 0; c < C - 1; c++)
    g_assert_cmpfloat_with_epsilon (m.per_class[c], per_class[c], EPS);
  g_assert_true (isnan (m.per_class[C - 1]));  /* no image of class 6 */

  int want[C][C] = { { 0 } };
  want[0][0] = 1; want[3][3] = 1; want[1][0] = 1; want[2][4] = 1;
  want[5][0] = 1; want[4][1] = 1; want[0][1] = 1; want[2][0] = 1;
  for (int t = 0; t < C; t++)
    for (int p = 0; p < C; p++)
      if (m.confusion[t * C + p] != want[t][p])
        g_error ("confusion[%d][%d] = %d, expected %d", t, p, m.confusion[t * C + p], want[t][p]);

  clip_zero_shot_metrics_clear (&m);
  g_assert_null (m.per_class);
  g_assert_null (m.confusion);
  clip_zero_shot_metrics_clear (&m);  /* twice is harmless */
}

/* With fewer than five classes every label is in the top 5. */
static void
test_zero_shot_few_classes (void)
{
  static const float probs[2][3] = { { .2, .3, .5 }, { .6, .3, .1 } };
  static const int labels[2] = { 0, 2 };
  ClipZeroShotMetrics m = { 0 };
  clip_evaluate_zero_shot (&probs[0][0], labels, 2, 3, &m);
  g_assert_cmpfloat_with_epsilon (m.top1, 0, EPS);
  g_assert_cmpfloat_with_epsilon (m.top5, 1, EPS);
  g_assert_cmpint (m.confusion[0 * 3 + 2], ==, 1);
  g_assert_cmpint (m.confusion[2 * 3 + 0], ==, 1);
  clip_zero_shot_metrics_clear (&m);
}

/* ---------------------------------------------------------------- a model on a data set */

static ClipModel *
load_tiny_model (void)
{
  g_autofree char *path = tu_shared_path ("golden/models/tiny_quickgelu/hf");
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.tokenizer_path = "bytes";
  GError *error = NULL;
  ClipModel *model = clip_model_load (path, &options, &error);
  g_assert_no_error (error);
  return model;
}

static gboolean
abort_always (gpointer user_data)
{
  return TRUE;
}

/* clip_evaluate_dataset equals the computation done by hand from the public pieces: images encoded
 * from their files, captions encoded one by one, clip_evaluate_retrieval and the zero-shot classifier. */
static void
test_evaluate_dataset (void)
{
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "shapes", NULL);
  GError *error = NULL;
  g_assert_true (cli_generate_shapes (dir, 60, 3, 64, NULL, &error));
  g_assert_no_error (error);
  g_autofree char *csv = g_build_filename (dir, "test.csv", NULL);
  g_autoptr (ClipDataset) dataset = clip_dataset_load_csv (csv, dir, &error);
  g_assert_no_error (error);
  g_autoptr (ClipModel) model = load_tiny_model ();

  ClipRetrievalMetrics retrieval;
  ClipZeroShotMetrics zero_shot = { 0 };
  /* Not prepared yet. */
  g_assert_false (clip_evaluate_dataset (model, dataset, NULL, 0, NULL, 0, 8, &retrieval, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (clip_dataset_prepare_images (dataset, 32, FALSE, 1 << 30, NULL, NULL, &error));
  g_assert_false (clip_evaluate_dataset (model, dataset, NULL, 0, NULL, 0, 8, &retrieval, NULL, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);  /* prepared at 32, the model needs 64 */
  g_clear_error (&error);
  g_assert_true (clip_dataset_prepare_images (dataset, 64, FALSE, 1 << 30, NULL, NULL, &error));
  g_assert_no_error (error);
  const ClipCallbacks abort_callbacks = { .abort = abort_always };
  g_assert_false (clip_evaluate_dataset (model, dataset, NULL, 0, NULL, 0, 8, &retrieval, NULL, &abort_callbacks, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED);
  g_clear_error (&error);

  const char *templates[] = { "a picture of a {}", "a {}" };
  g_assert_true (clip_evaluate_dataset (model, dataset, templates, 2, NULL, 0, 5, &retrieval, &zero_shot, NULL, &error));
  g_assert_no_error (error);

  const int n = clip_dataset_get_size (dataset), dim = clip_model_get_config (model)->embed_dim;
  const int n_labels = clip_dataset_get_n_labels (dataset);
  g_assert_cmpint (n, ==, 12);
  g_autofree const char **paths = g_new (const char *, n);
  g_autofree const char **captions = g_new (const char *, n);
  g_autofree const char **names = g_new (const char *, n_labels);
  g_autofree int *labels = g_new (int, n);
  for (int i = 0; i < n; i++)
    {
      paths[i] = clip_dataset_get_image_path (dataset, i);
      captions[i] = clip_dataset_get_caption (dataset, i);
      labels[i] = clip_dataset_get_label (dataset, i);
    }
  for (int c = 0; c < n_labels; c++)
    names[c] = clip_dataset_get_label_name (dataset, c);
  g_autofree float *image_embeds = g_new (float, n * dim);
  g_autofree float *text_embeds = g_new (float, n * dim);
  g_assert_true (clip_model_encode_image_files (model, paths, n, FALSE, image_embeds, NULL, &error));
  for (int i = 0; i < n; i++)
    g_assert_true (clip_model_encode_texts (model, &captions[i], 1, text_embeds + i * dim, NULL, &error));
  g_assert_no_error (error);

  ClipRetrievalMetrics want;
  clip_evaluate_retrieval (image_embeds, text_embeds, n, dim, clip_dataset_get_caption_groups (dataset), &want);
  for (int k = 0; k < 3; k++)
    {
      g_assert_cmpfloat_with_epsilon (retrieval.image_to_text[k], want.image_to_text[k], 1e-9);
      g_assert_cmpfloat_with_epsilon (retrieval.text_to_image[k], want.text_to_image[k], 1e-9);
    }
  g_test_message ("tiny model on 12 shapes: image→text R@1 %.3f R@5 %.3f, text→image R@1 %.3f",
                  retrieval.image_to_text[0], retrieval.image_to_text[1], retrieval.text_to_image[0]);

  g_autofree float *weights = g_new (float, n_labels * dim);
  g_autofree float *probs = g_new (float, n * n_labels);
  g_assert_true (clip_zero_shot_classifier (model, names, n_labels, templates, 2, weights, NULL, &error));
  clip_zero_shot_probs (model, image_embeds, n, weights, n_labels, probs);
  ClipZeroShotMetrics want_zs = { 0 };
  clip_evaluate_zero_shot (probs, labels, n, n_labels, &want_zs);
  g_assert_cmpint (zero_shot.n_classes, ==, n_labels);
  g_assert_cmpfloat_with_epsilon (zero_shot.top1, want_zs.top1, 1e-12);
  g_assert_cmpfloat_with_epsilon (zero_shot.top5, want_zs.top5, 1e-12);
  g_assert_cmpmem (zero_shot.confusion, sizeof (int) * n_labels * n_labels, want_zs.confusion,
                   sizeof (int) * n_labels * n_labels);
  int total = 0;
  for (int i = 0; i < n_labels * n_labels; i++)
    total += zero_shot.confusion[i];
  g_assert_cmpint (total, ==, n);
  clip_zero_shot_metrics_clear (&zero_shot);
  clip_zero_shot_metrics_clear (&want_zs);
}

/* Zero-shot needs labels. */
static void
test_evaluate_dataset_without_labels (void)
{
  g_autofree char *dir = g_build_filename (tu_tmpdir (), "nolabels", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_autofree char *image = tu_shared_path ("golden/images/small_100x80.png");
  g_autofree char *csv = g_build_filename (dir, "pairs.csv", NULL);
  g_autofree char *text = g_strdup_printf ("image_path,caption\n%s,a small picture\n%s,another caption\n",
                                           image, image);
  tu_write_file (csv, text, strlen (text));
  GError *error = NULL;
  g_autofree char *images_dir = tu_shared_path ("golden/images");
  g_autoptr (ClipDataset) dataset = clip_dataset_load_csv (csv, images_dir, &error);
  g_assert_no_error (error);
  g_assert_true (clip_dataset_prepare_images (dataset, 64, FALSE, 1 << 30, NULL, NULL, &error));
  g_autoptr (ClipModel) model = load_tiny_model ();
  ClipRetrievalMetrics retrieval;
  ClipZeroShotMetrics zero_shot = { 0 };
  g_assert_false (clip_evaluate_dataset (model, dataset, NULL, 0, NULL, 0, 4, &retrieval, &zero_shot, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_clear_error (&error);

  /* Both rows name one image: one retrieval item with two captions (CLIP_benchmark's protocol), so
   * the image query hits with either caption and each caption query finds the only image. */
  g_assert_cmpint (clip_dataset_get_n_images (dataset), ==, 1);
  g_assert_true (clip_evaluate_dataset (model, dataset, NULL, 0, NULL, 0, 1, &retrieval, NULL, NULL, &error));
  g_assert_no_error (error);
  assert_recalls ("image→text", retrieval.image_to_text, 1, 1, 1);
  assert_recalls ("text→image", retrieval.text_to_image, 1, 1, 1);
}

/* The worst cosine of paired unit rows: the smallest dot product, whichever row it is. */
static void
test_worst_cosine (void)
{
  const float a[] = { 1, 0, 0, 1, 0.6f, 0.8f };
  const float b[] = { 1, 0, 0.8f, 0.6f, 0.6f, 0.8f };
  g_assert_cmpfloat_with_epsilon (clip_embeddings_worst_cosine (a, b, 3, 2), 0.6, 1e-6);
  g_assert_cmpfloat_with_epsilon (clip_embeddings_worst_cosine (a, a, 3, 2), 1.0, 1e-6);
  const float opposite[] = { -1, 0 };
  g_assert_cmpfloat_with_epsilon (clip_embeddings_worst_cosine (a, opposite, 1, 2), -1.0, 1e-6);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/evaluate/retrieval/known-ranks", test_retrieval_known_ranks);
  g_test_add_func ("/evaluate/retrieval/perfect", test_retrieval_perfect);
  g_test_add_func ("/evaluate/retrieval/all-tied", test_retrieval_all_tied);
  g_test_add_func ("/evaluate/retrieval/caption-groups", test_retrieval_caption_groups);
  g_test_add_func ("/evaluate/retrieval/hit-probability", test_retrieval_hit_probability);
  g_test_add_func ("/evaluate/zero-shot/known-confusion", test_zero_shot_known_confusion);
  g_test_add_func ("/evaluate/zero-shot/few-classes", test_zero_shot_few_classes);
  g_test_add_func ("/evaluate/worst-cosine", test_worst_cosine);
  g_test_add_func ("/evaluate/dataset/matches-pieces", test_evaluate_dataset);
  g_test_add_func ("/evaluate/dataset/without-labels", test_evaluate_dataset_without_labels);
  return g_test_run ();
}
