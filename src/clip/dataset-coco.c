/* dataset-coco.c — COCO captions (annotations/captions_NAME.json): "images" with id and file_name,
 * "annotations" with image_id and caption, several captions per image.  Images are kept in the
 * file's order, each with its captions in the annotations' order; an image without a caption, an
 * annotation naming an unknown image, and entries missing their fields are skipped and reported. */
#include "dataset-private.h"

#include <string.h>

typedef struct {
  gint64     id;
  char      *file_name;
  GPtrArray *captions;   /* borrowed from the parsed JSON */
} CocoImage;

static void
coco_image_clear (gpointer data)
{
  CocoImage *image = data;
  g_free (image->file_name);
  g_ptr_array_unref (image->captions);
}

/* For annotations/captions_val2017.json: ../val2017 when it is a folder, else the JSON's folder. */
static char *
coco_default_root (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  if (g_str_has_prefix (base, "captions_") && g_str_has_suffix (base, ".json"))
    {
      g_autofree char *name = g_strndup (base + strlen ("captions_"), strlen (base) - strlen ("captions_.json"));
      g_autofree char *parent = g_path_get_dirname (dir);
      char *candidate = g_build_filename (parent, name, NULL);
      if (g_file_test (candidate, G_FILE_TEST_IS_DIR))
        return candidate;
      g_free (candidate);
    }
  return g_steal_pointer (&dir);
}

static JsonArray *
coco_get_array (JsonObject *root, const char *name, const char *path, GError **error)
{
  JsonNode *node = json_object_get_member (root, name);
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: no \"%s\" array (a COCO captions file has "
                   "\"images\" and \"annotations\")", path, name);
      return NULL;
    }
  return json_node_get_array (node);
}

/* The integer member NAME of OBJECT, or FALSE. */
static gboolean
coco_get_id (JsonObject *object, const char *name, gint64 *value)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (node);
  return TRUE;
}

static const char *
coco_get_string (JsonObject *object, const char *name)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* The images with an id and a file name, indexed by id in BY_ID (id → index + 1). */
static void
coco_read_images (ClipDataset *dataset, const char *path, JsonArray *images, GArray *out, GHashTable *by_id)
{
  for (guint i = 0; i < json_array_get_length (images); i++)
    {
      JsonNode *node = json_array_get_element (images, i);
      JsonObject *object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      g_autofree char *entry = g_strdup_printf ("images[%u]", i);
      gint64 id;
      const char *file_name = coco_get_string (object, "file_name");
      if (!coco_get_id (object, "id", &id) || file_name == NULL || *file_name == '\0')
        {
          dataset_add_issue (dataset, path, 0, entry, "no integer \"id\" or no \"file_name\"");
          continue;
        }
      if (g_hash_table_contains (by_id, &id))
        {
          dataset_add_issue (dataset, path, 0, entry, "image id %" G_GINT64_FORMAT " appears twice", id);
          continue;
        }
      CocoImage image = { .id = id, .file_name = g_strdup (file_name), .captions = g_ptr_array_new () };
      g_array_append_val (out, image);
      g_hash_table_insert (by_id, g_memdup2 (&id, sizeof id), GUINT_TO_POINTER (out->len));
    }
}

static void
coco_read_annotations (ClipDataset *dataset, const char *path, JsonArray *annotations, GArray *images,
                       GHashTable *by_id)
{
  for (guint i = 0; i < json_array_get_length (annotations); i++)
    {
      JsonNode *node = json_array_get_element (annotations, i);
      JsonObject *object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      gint64 id, image_id;
      g_autofree char *entry = coco_get_id (object, "id", &id)
                                 ? g_strdup_printf ("annotation %" G_GINT64_FORMAT, id)
                                 : g_strdup_printf ("annotations[%u]", i);
      const char *caption = coco_get_string (object, "caption");
      if (!coco_get_id (object, "image_id", &image_id))
        {
          dataset_add_issue (dataset, path, 0, entry, "no integer \"image_id\"");
          continue;
        }
      guint index = GPOINTER_TO_UINT (g_hash_table_lookup (by_id, &image_id));
      if (index == 0)
        {
          dataset_add_issue (dataset, path, 0, entry, "image_id %" G_GINT64_FORMAT " is not among the images",
                             image_id);
          continue;
        }
      g_autofree char *stripped = caption != NULL ? g_strstrip (g_strdup (caption)) : NULL;
      if (stripped == NULL || *stripped == '\0')
        {
          dataset_add_issue (dataset, path, 0, entry, "no caption");
          continue;
        }
      g_ptr_array_add (g_array_index (images, CocoImage, index - 1).captions, (gpointer) caption);
    }
}

gboolean
dataset_read_coco (ClipDataset *dataset, const char *path, JsonObject *root, const ClipDatasetOptions *options,
                   GError **error)
{
  g_autofree char *default_root = coco_default_root (path);
  if (!dataset_set_image_root (dataset, options->image_root != NULL ? options->image_root : default_root, error))
    return FALSE;
  JsonArray *images = coco_get_array (root, "images", path, error);
  JsonArray *annotations = images != NULL ? coco_get_array (root, "annotations", path, error) : NULL;
  if (annotations == NULL)
    return FALSE;

  g_autoptr (GArray) coco_images = g_array_sized_new (FALSE, FALSE, sizeof (CocoImage), json_array_get_length (images));
  g_array_set_clear_func (coco_images, coco_image_clear);
  g_autoptr (GHashTable) by_id = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  coco_read_images (dataset, path, images, coco_images, by_id);
  coco_read_annotations (dataset, path, annotations, coco_images, by_id);

  for (guint i = 0; i < coco_images->len; i++)
    {
      const CocoImage *coco = &g_array_index (coco_images, CocoImage, i);
      if (coco->captions->len == 0)
        {
          dataset_add_issue (dataset, path, 0, coco->file_name, "no annotation gives the image (id %" G_GINT64_FORMAT
                             ") a caption", coco->id);
          continue;
        }
      char *reason = NULL;
      g_autofree char *resolved = dataset_resolve_image_path (dataset, coco->file_name, &reason, error);
      if (resolved == NULL && reason == NULL)
        return FALSE;
      if (resolved == NULL)
        {
          dataset_add_issue (dataset, path, 0, coco->file_name, "%s", reason);
          g_free (reason);
          continue;
        }
      int image = dataset_add_image (dataset, resolved, coco->file_name, -1, 0, -1);
      for (guint c = 0; c < coco->captions->len; c++)
        {
          g_autofree char *text = g_strstrip (g_strdup (g_ptr_array_index (coco->captions, c)));
          dataset_add_caption (dataset, image, text, 0);
        }
    }
  dataset->has_captions = TRUE;
  return TRUE;
}
