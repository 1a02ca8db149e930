/* dataset-folder.c — the image-folder format, as torchvision's ImageFolder reads it: one subfolder
 * per class, classes numbered in sorted order of their names, the images of a class found under its
 * folder (files in name order, then subfolders in name order), only files with an image extension.
 * Captions come from templates, one per image. */
#include "dataset-private.h"

#include <string.h>

/* Subfolders deeper than this are not looked into (a guard against link loops). */
#define FOLDER_MAX_DEPTH 16

/* torchvision's IMG_EXTENSIONS. */
static gboolean
folder_is_image_name (const char *name)
{
  static const char *const extensions[] = { ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff",
                                            ".webp" };
  g_autofree char *lower = g_ascii_strdown (name, -1);
  for (size_t i = 0; i < G_N_ELEMENTS (extensions); i++)
    if (g_str_has_suffix (lower, extensions[i]))
      return TRUE;
  return FALSE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The names in DIR, sorted by bytes (Python's order for UTF-8 names); NULL with ERROR set. */
static GPtrArray *
folder_list (const char *dir, GError **error)
{
  GError *local = NULL;
  g_autoptr (GDir) handle = g_dir_open (dir, 0, &local);
  if (handle == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s", local->message);
      g_error_free (local);
      return NULL;
    }
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (handle)) != NULL)
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  return names;
}

/* Adds the images under RELATIVE (a path below the root) with LABEL; FALSE only when the process ran
 * out of descriptors or memory. */
static gboolean
folder_add_images (ClipDataset *dataset, const char *relative, int label, int depth, GError **error)
{
  g_autofree char *dir = g_build_filename (dataset->root, relative, NULL);
  GError *local = NULL;
  g_autoptr (GPtrArray) names = folder_list (dir, &local);
  if (names == NULL)
    {
      dataset_add_issue (dataset, dir, 0, NULL, "%s", local->message);
      g_error_free (local);
      return TRUE;
    }
  g_autoptr (GPtrArray) subfolders = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autofree char *entry = g_build_filename (relative, name, NULL);
      g_autofree char *full = g_build_filename (dataset->root, entry, NULL);
      if (g_file_test (full, G_FILE_TEST_IS_DIR))
        {
          g_ptr_array_add (subfolders, g_steal_pointer (&entry));
          continue;
        }
      if (!folder_is_image_name (name))
        continue;
      char *reason = NULL;
      g_autofree char *path = dataset_resolve_image_path (dataset, entry, &reason, error);
      if (path == NULL && reason == NULL)
        return FALSE;
      if (path == NULL)
        {
          dataset_add_issue (dataset, dataset->source_path, 0, entry, "%s", reason);
          g_free (reason);
          continue;
        }
      dataset_add_image (dataset, path, entry, -1, 0, label);
    }
  for (guint i = 0; i < subfolders->len; i++)
    {
      const char *entry = g_ptr_array_index (subfolders, i);
      if (depth >= FOLDER_MAX_DEPTH)
        dataset_add_issue (dataset, dataset->source_path, 0, entry, "nested deeper than %d folders",
                           FOLDER_MAX_DEPTH);
      else if (!folder_add_images (dataset, entry, label, depth + 1, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
dataset_read_folder (ClipDataset *dataset, const char *path, const ClipDatasetOptions *options, GError **error)
{
  if (!dataset_set_image_root (dataset, path, error))
    return FALSE;
  g_autoptr (GPtrArray) names = folder_list (path, error);
  if (names == NULL)
    return FALSE;
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autofree char *full = g_build_filename (path, name, NULL);
      if (g_file_test (full, G_FILE_TEST_IS_DIR) && g_utf8_validate (name, -1, NULL))
        g_ptr_array_add (dataset->label_names, g_strdup (name));
    }
  if (dataset->label_names->len == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                   "%s: no class folders; an image folder holds one subfolder of images per class", path);
      return FALSE;
    }
  for (guint c = 0; c < dataset->label_names->len; c++)
    {
      guint before = dataset->images->len;
      const char *name = g_ptr_array_index (dataset->label_names, c);
      if (!folder_add_images (dataset, name, (int) c, 1, error))
        return FALSE;
      if (dataset->images->len == before)
        dataset_add_issue (dataset, path, 0, name, "the class folder has no images");
    }
  dataset_caption_from_templates (dataset, options->templates, options->n_templates);
  return TRUE;
}
