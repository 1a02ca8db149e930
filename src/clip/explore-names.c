/* explore-names.c — names for clusters, chosen by the model's text tower.
 *
 * Every word of a vocabulary (the data set's labels or caption words, or a built-in list of common
 * nouns) is embedded as "a photo of a WORD."; each cluster's mean image embedding is classified
 * zero-shot among them, with the model's logit scale.  The most probable word names the cluster,
 * with the runner-up when it is at least half as probable.  (Subtracting each word's mean score
 * over the clusters was tried, to push down words that fit everything: on Fashion-MNIST it named a
 * cluster of dresses "coat / trouser"; the plain zero-shot choice named all seven clusters right.) */
#include "explore-private.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NAME_TEMPLATE "a photo of a {}."
#define RUNNER_UP_SHARE 0.5   /* a second word joins the name when its probability is this share of the first's */
#define MIN_WORD_LENGTH 3

static const char *const builtin_nouns[] = {
  "person", "man", "woman", "child", "baby", "face", "crowd", "dog", "cat", "bird", "horse", "cow", "sheep",
  "fish", "insect", "butterfly", "flower", "tree", "plant", "grass", "leaf", "forest", "mountain", "beach",
  "sea", "lake", "river", "sky", "cloud", "sunset", "snow", "desert", "field", "garden", "park", "road",
  "street", "bridge", "building", "house", "church", "tower", "city", "village", "room", "kitchen",
  "bedroom", "office", "shop", "restaurant", "car", "bus", "truck", "bicycle", "motorcycle", "train",
  "boat", "ship", "airplane", "table", "chair", "sofa", "bed", "window", "door", "lamp", "book", "paper",
  "screen", "computer", "phone", "camera", "clock", "bottle", "cup", "glass", "plate", "bowl", "food",
  "fruit", "vegetable", "bread", "cake", "pizza", "meat", "drink", "coffee", "shirt", "dress", "trousers",
  "coat", "shoe", "boot", "sandal", "bag", "hat", "sweater", "jacket", "toy", "ball", "game", "sport",
  "music", "guitar", "piano", "painting", "drawing", "text", "sign", "logo", "diagram", "chart", "map",
  "screenshot", "document", "pattern", "texture", "circle", "square", "triangle", "star", "line", "dot",
  "red", "green", "blue", "yellow", "black", "white", "water", "fire", "light", "night", "rock", "stone",
  "wood", "metal", "machine", "tool", "weapon", "animal", "wildlife", "party", "wedding", "concert",
  "portrait", "selfie", "landscape", "interior", "vehicle", "furniture", "clothing", "jewellery", "box",
  NULL
};

static const char *const stop_words[] = {
  "the", "and", "for", "with", "from", "this", "that", "these", "those", "there", "here", "its", "his",
  "her", "their", "our", "your", "are", "was", "were", "has", "have", "had", "not", "but", "photo",
  "picture", "image", "shows", "showing", "some", "one", "two", "three", "very", "into", "onto", "over",
  "under", "near", "next", "left", "right", "above", "below", "small", "large", "big", "little", "who",
  "what", "which", "while", "can", "you", "all", "any", "out", "off", "about", NULL
};

const char *const *
clip_vocabulary_builtin (void)
{
  return builtin_nouns;
}

typedef struct {
  const char *word;
  int count;
} WordCount;

static int
compare_word_counts (const void *a, const void *b)
{
  const WordCount *x = a, *y = b;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  return strcmp (x->word, y->word);
}

char **
clip_vocabulary_from_texts (const char *const *texts, int n_texts, int max_words)
{
  g_autoptr (GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (int t = 0; t < n_texts; t++)
    {
      g_autofree char *lower = g_utf8_strdown (texts[t], -1);
      const char *p = lower;
      while (*p != '\0')
        {
          const char *start = p;
          while (*p != '\0' && g_unichar_isalpha (g_utf8_get_char (p)))
            p = g_utf8_next_char (p);
          char *word = g_strndup (start, p - start);
          if (g_utf8_strlen (word, -1) >= MIN_WORD_LENGTH && !g_strv_contains (stop_words, word))
            {
              int count = GPOINTER_TO_INT (g_hash_table_lookup (counts, word));
              g_hash_table_replace (counts, word, GINT_TO_POINTER (count + 1));
            }
          else
            g_free (word);
          while (*p != '\0' && !g_unichar_isalpha (g_utf8_get_char (p)))
            p = g_utf8_next_char (p);
        }
    }
  guint n = g_hash_table_size (counts);
  g_autofree WordCount *words = g_new (WordCount, MAX (n, 1));
  GHashTableIter iter;
  gpointer key, value;
  guint m = 0;
  g_hash_table_iter_init (&iter, counts);
  while (g_hash_table_iter_next (&iter, &key, &value))
    words[m++] = (WordCount) { key, GPOINTER_TO_INT (value) };
  qsort (words, m, sizeof *words, compare_word_counts);
  guint keep = MIN (m, (guint) MAX (max_words, 0));
  char **result = g_new0 (char *, keep + 1);
  for (guint i = 0; i < keep; i++)
    result[i] = g_strdup (words[i].word);
  return result;
}

/* MEANS [n_clusters, dim]: each cluster's mean row, normalised.  FALSE when a cluster is empty. */
static gboolean
cluster_means (const float *embeddings, int n, int dim, const int *cluster, int n_clusters, float *means)
{
  memset (means, 0, sizeof (float) * (size_t) n_clusters * dim);
  g_autofree int *size = g_new0 (int, n_clusters);
  for (int i = 0; i < n; i++)
    if (cluster[i] >= 0 && cluster[i] < n_clusters)
      {
        size[cluster[i]]++;
        for (int c = 0; c < dim; c++)
          means[(size_t) cluster[i] * dim + c] += embeddings[(size_t) i * dim + c];
      }
  for (int k = 0; k < n_clusters; k++)
    {
      double norm = 0;
      for (int c = 0; c < dim; c++)
        norm += means[(size_t) k * dim + c] * means[(size_t) k * dim + c];
      if (size[k] == 0 || norm == 0)
        return FALSE;
      for (int c = 0; c < dim; c++)
        means[(size_t) k * dim + c] /= (float) sqrt (norm);
    }
  return TRUE;
}

char **
clip_cluster_names (ClipModel *model, const float *embeddings, int n, const int *cluster, int n_clusters,
                    const char *const *vocabulary, int n_vocab, GError **error)
{
  if (n_vocab < 0)
    n_vocab = (int) g_strv_length ((char **) vocabulary);
  int dim = clip_model_get_config (model)->embed_dim;
  g_autofree float *means = g_new (float, (size_t) MAX (n_clusters, 1) * dim);
  if (n_vocab == 0 || !cluster_means (embeddings, n, dim, cluster, n_clusters, means))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                   "cluster names: %s", n_vocab == 0 ? "the vocabulary is empty" : "a cluster has no rows");
      return NULL;
    }
  g_autofree float *words = g_new (float, (size_t) n_vocab * dim);
  const char *templates[] = { NAME_TEMPLATE };
  if (!clip_zero_shot_classifier (model, vocabulary, n_vocab, templates, 1, words, NULL, error))
    {
      g_prefix_error (error, "cluster names: ");
      return NULL;
    }
  /* SCORE [n_clusters, n_vocab]: zero-shot logits of each cluster's mean over the words */
  g_autofree float *score = g_new (float, (size_t) MAX (n_clusters, 1) * n_vocab);
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n_clusters, n_vocab, dim,
               expf (clip_model_get_logit_scale (model)), means, dim, words, dim, 0.0f, score, n_vocab);
  char **names = g_new0 (char *, n_clusters + 1);
  for (int k = 0; k < n_clusters; k++)
    {
      const float *s = score + (size_t) k * n_vocab;
      int first = 0, second = -1;
      for (int w = 1; w < n_vocab; w++)
        if (s[w] > s[first])
          second = first, first = w;
        else if (second < 0 || s[w] > s[second])
          second = w;
      /* softmax probabilities relative to the best word: exp (logit − best logit) */
      gboolean both = second >= 0 && expf (s[second] - s[first]) >= RUNNER_UP_SHARE;
      names[k] = both ? g_strdup_printf ("%s / %s", vocabulary[first], vocabulary[second])
                      : g_strdup (vocabulary[first]);
    }
  return names;
}
