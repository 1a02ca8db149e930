/* dataset-karpathy.c — the Karpathy split JSON used for Flickr30k and COCO retrieval
 * (dataset_flickr30k.json, dataset_coco.json): images[].{filename, split, sentences[].raw}, with
 * COCO's images also naming their folder in "filepath".  One split is read ("test" by default), or
 * several joined with "+" ("train+restval", as COCO training usually takes them). */
#include "dataset-private.h"

#include <stdlib.h>
#include <string.h>

#define KARPATHY_DEFAULT_SPLIT "test"

static const char *
karpathy_get_string (JsonObject *object, const char *name)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* The non-empty raw sentences of an image entry (borrowed strings, stripped copies owned). */
static GPtrArray *
karpathy_sentences (JsonObject *object)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  JsonNode *node = json_object_get_member (object, "sentences");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return out;
  JsonArray *sentences = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (sentences); i++)
    {
      JsonNode *sentence = json_array_get_element (sentences, i);
      const char *raw = JSON_NODE_HOLDS_OBJECT (sentence)
                          ? karpathy_get_string (json_node_get_object (sentence), "raw") : NULL;
      g_autofree char *stripped = raw != NULL ? g_strstrip (g_strdup (raw)) : NULL;
      if (stripped != NULL && *stripped != '\0')
        g_ptr_array_add (out, g_steal_pointer (&stripped));
    }
  return out;
}

/* Adds image entry I when its split is among WANTED; records the split names seen in SPLITS.  FALSE
 * only when the process ran out of descriptors or memory. */
static gboolean
karpathy_add_entry (ClipDataset *dataset, const char *path, JsonArray *images, guint i,
                    const char *const *wanted, GHashTable *splits, GError **error)
{
  JsonNode *node = json_array_get_element (images, i);
  JsonObject *object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  g_autofree char *entry = g_strdup_printf ("images[%u]", i);
  const char *filename = karpathy_get_string (object, "filename");
  const char *image_split = karpathy_get_string (object, "split");
  if (filename == NULL || *filename == '\0' || image_split == NULL)
    {
      dataset_add_issue (dataset, path, 0, entry, "no \"filename\" or no \"split\"");
      return TRUE;
    }
  g_hash_table_add (splits, (gpointer) image_split);
  if (!g_strv_contains (wanted, image_split))
    return TRUE;
  const char *folder = karpathy_get_string (object, "filepath");
  g_autofree char *written = folder != NULL ? g_build_filename (folder, filename, NULL) : g_strdup (filename);
  g_autoptr (GPtrArray) sentences = karpathy_sentences (object);
  if (sentences->len == 0)
    {
      dataset_add_issue (dataset, path, 0, written, "no sentences with a \"raw\" text");
      return TRUE;
    }
  char *reason = NULL;
  g_autofree char *resolved = dataset_resolve_image_path (dataset, written, &reason, error);
  if (resolved == NULL && reason == NULL)
    return FALSE;
  if (resolved == NULL)
    {
      dataset_add_issue (dataset, path, 0, written, "%s", reason);
      g_free (reason);
      return TRUE;
    }
  int image = dataset_add_image (dataset, resolved, written, -1, 0, -1);
  for (guint s = 0; s < sentences->len; s++)
    dataset_add_caption (dataset, image, g_ptr_array_index (sentences, s), 0);
  return TRUE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

gboolean
dataset_read_karpathy (ClipDataset *dataset, const char *path, JsonObject *root,
                       const ClipDatasetOptions *options, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  if (!dataset_set_image_root (dataset, options->image_root != NULL ? options->image_root : dir, error))
    return FALSE;
  JsonNode *node = json_object_get_member (root, "images");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: no \"images\" array", path);
      return FALSE;
    }
  const char *split = options->split != NULL ? options->split : KARPATHY_DEFAULT_SPLIT;
  g_auto (GStrv) wanted = g_strsplit (split, "+", -1);
  JsonArray *images = json_node_get_array (node);
  g_autoptr (GHashTable) splits = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < json_array_get_length (images); i++)
    if (!karpathy_add_entry (dataset, path, images, i, (const char *const *) wanted, splits, error))
      return FALSE;
  gboolean any = FALSE;
  for (char **w = wanted; *w != NULL; w++)
    any |= g_hash_table_contains (splits, *w);
  if (!any)
    {
      g_autofree const char **names = (const char **) g_hash_table_get_keys_as_array (splits, NULL);
      qsort (names, g_hash_table_size (splits), sizeof *names, compare_names);
      g_autofree char *list = g_strjoinv (", ", (char **) names);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: no images in the split '%s' (it has %s)", path,
                   split, *list != '\0' ? list : "no splits");
      return FALSE;
    }
  dataset->has_captions = TRUE;
  return TRUE;
}
