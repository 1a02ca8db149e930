/* dataset.c — image data sets in memory: images and captions as two lists, the reader chosen from
 * what the path is (dataset-csv.c, dataset-folder.c, dataset-wds.c, dataset-coco.c,
 * dataset-karpathy.c), and the images decoded once into 8-bit crops.
 *
 * Untrusted input throughout: every entry is checked on its own and a bad one is skipped with where
 * it is and why.  Image paths are contained in the image root twice: lexically ("../", absolute
 * paths) and after resolving symbolic links, and the resolved path is what is kept, so a link
 * swapped later cannot lead outside. */
#include "dataset-private.h"
#include "image-private.h"
#include "util-file.h"
#include "util-json.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* The largest COCO or Karpathy JSON read (Karpathy's dataset_coco.json is about 150 MB). */
#define DATASET_MAX_JSON_BYTES ((gsize) 1 << 30)

static void
dataset_image_clear (gpointer data)
{
  DatasetImage *image = data;
  g_free (image->path);
  g_free (image->entry);
}

static void
dataset_caption_clear (gpointer data)
{
  g_free (((DatasetCaption *) data)->text);
}

static void
dataset_issue_free (gpointer data)
{
  ClipDatasetIssue *issue = data;
  g_free (issue->path);
  g_free (issue->reason);
  g_free (issue->file);
  g_free (issue);
}

void
dataset_add_issue (ClipDataset *dataset, const char *file, int line, const char *entry, const char *format, ...)
{
  ClipDatasetIssue *issue = g_new0 (ClipDatasetIssue, 1);
  va_list args;
  va_start (args, format);
  issue->reason = g_strdup_vprintf (format, args);
  va_end (args);
  issue->line = line;
  issue->path = g_strdup (entry);
  issue->file = g_strdup (file);
  g_ptr_array_add (dataset->issues, issue);
}

char *
clip_dataset_issue_describe (const ClipDatasetIssue *issue)
{
  g_return_val_if_fail (issue != NULL, NULL);
  GString *text = g_string_new (NULL);
  if (issue->file != NULL)
    {
      g_autofree char *shown = g_filename_display_name (issue->file);
      g_string_append (text, shown);
    }
  if (issue->line > 0)
    g_string_append_printf (text, ":%d", issue->line);
  g_string_append (text, text->len > 0 ? ": skipped" : "skipped");
  if (issue->path != NULL)
    g_string_append_printf (text, " %s", issue->path);
  g_string_append_printf (text, ": %s", issue->reason);
  return g_string_free (text, FALSE);
}

static void
dataset_release_crops (ClipDataset *dataset)
{
  g_clear_pointer (&dataset->crops, g_free);
  g_clear_pointer (&dataset->cache, g_mapped_file_unref);
  dataset->crop_size = 0;
  dataset->crop_bytes = 0;
}

static ClipDataset *
dataset_new (const char *path, const char *format_name)
{
  ClipDataset *dataset = g_new0 (ClipDataset, 1);
  dataset->source_path = g_strdup (path);
  dataset->format_name = format_name;
  dataset->images = g_array_new (FALSE, FALSE, sizeof (DatasetImage));
  g_array_set_clear_func (dataset->images, dataset_image_clear);
  dataset->captions = g_array_new (FALSE, FALSE, sizeof (DatasetCaption));
  g_array_set_clear_func (dataset->captions, dataset_caption_clear);
  dataset->label_names = g_ptr_array_new_with_free_func (g_free);
  dataset->templates = g_ptr_array_new_null_terminated (0, g_free, TRUE);
  dataset->shards = g_ptr_array_new_with_free_func (g_free);
  dataset->issues = g_ptr_array_new_with_free_func (dataset_issue_free);
  return dataset;
}

void
clip_dataset_free (ClipDataset *dataset)
{
  if (dataset == NULL)
    return;
  dataset_release_crops (dataset);
  g_free (dataset->source_path);
  g_free (dataset->root);
  g_free (dataset->resolved_root);
  g_array_unref (dataset->images);
  g_array_unref (dataset->captions);
  g_ptr_array_unref (dataset->label_names);
  g_ptr_array_unref (dataset->templates);
  g_ptr_array_unref (dataset->shards);
  g_free (dataset->groups);
  g_ptr_array_unref (dataset->issues);
  g_free (dataset);
}

/* ---------------------------------------------------------------- paths */

gboolean
dataset_set_image_root (ClipDataset *dataset, const char *root, GError **error)
{
  char *resolved_root = realpath (root, NULL);
  if (resolved_root == NULL)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "image root %s: %s", root, g_strerror (saved));
      return FALSE;
    }
  g_free (dataset->resolved_root);
  dataset->resolved_root = g_strdup (resolved_root);
  free (resolved_root);
  g_free (dataset->root);
  dataset->root = g_canonicalize_filename (root, NULL);
  if (!g_file_test (dataset->resolved_root, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "image root %s: not a folder", root);
      return FALSE;
    }
  return TRUE;
}

/* Whether PATH is ROOT or inside it; both absolute and canonical. */
static gboolean
path_is_within (const char *path, const char *root)
{
  size_t n = strlen (root);
  if (strncmp (path, root, n) != 0)
    return FALSE;
  return path[n] == '\0' || path[n] == '/' || (n > 0 && root[n - 1] == '/');
}

char *
dataset_resolve_image_path (const ClipDataset *dataset, const char *written, char **reason, GError **error)
{
  gboolean absolute = g_path_is_absolute (written);
  /* Lexical first: "../" out of the root is refused whether or not the file exists. */
  g_autofree char *lexical = g_canonicalize_filename (written, dataset->root);
  if (!absolute && !path_is_within (lexical, dataset->root))
    {
      *reason = g_strdup ("the relative path leads outside the image root");
      return NULL;
    }

  char *resolved = realpath (lexical, NULL);
  if (resolved == NULL && clip_error_code_for_errno (errno, CLIP_ERROR_IO) == CLIP_ERROR_RESOURCES)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_RESOURCES, "%s: %s", written, g_strerror (saved));
      return NULL;
    }
  if (resolved == NULL)
    {
      int saved = errno;
      *reason = saved == ENOENT || saved == ENOTDIR ? g_strdup ("no such file")
                                                    : g_strdup (g_strerror (saved));
      return NULL;
    }
  if (!absolute && !path_is_within (resolved, dataset->resolved_root))
    {
      *reason = g_strdup ("a symbolic link leads outside the image root");
      free (resolved);
      return NULL;
    }
  GStatBuf st;
  if (g_stat (resolved, &st) != 0 || !S_ISREG (st.st_mode))
    {
      *reason = g_strdup ("not a regular file");
      free (resolved);
      return NULL;
    }
  char *kept = g_strdup (resolved);
  free (resolved);
  return kept;
}

/* ---------------------------------------------------------------- images, captions, templates */

int
dataset_add_image (ClipDataset *dataset, const char *path, const char *entry, int shard, int line, int label)
{
  DatasetImage image = {
    .path = g_strdup (path),
    .entry = g_strdup (entry),
    .shard = shard,
    .line = line,
    .label = label,
    .slot = -1,
  };
  g_array_append_val (dataset->images, image);
  return (int) dataset->images->len - 1;
}

void
dataset_add_caption (ClipDataset *dataset, int image, const char *text, int line)
{
  DatasetCaption caption = { .text = g_strdup (text), .image = image, .line = line };
  g_array_append_val (dataset->captions, caption);
}

void
dataset_caption_from_templates (ClipDataset *dataset, const char *const *templates, int n_templates)
{
  static const char *const fallback[] = { "a photo of a {}.", NULL };
  if (templates == NULL || n_templates < 1)
    {
      templates = dataset->templates->len > 0 ? (const char *const *) dataset->templates->pdata : fallback;
      n_templates = dataset->templates->len > 0 ? (int) dataset->templates->len : 1;
    }
  for (guint i = 0; i < dataset->images->len; i++)
    {
      const DatasetImage *image = DATASET_IMAGE (dataset, i);
      g_autofree char *text = clip_template_fill (templates[i % n_templates],
                                                     g_ptr_array_index (dataset->label_names, image->label));
      dataset_add_caption (dataset, (int) i, text, image->line);
    }
  dataset->has_captions = FALSE;
}

GPtrArray *
dataset_read_lines (const char *path, gsize max_bytes, GError **error)
{
  g_autofree char *text = NULL;
  size_t len;
  if (!clip_file_read_contents (path, CLIP_INPUT_DEFAULT, max_bytes, &text, &len, error))
    return NULL;
  if (!g_utf8_validate_len (text, len, NULL) || memchr (text, '\0', len) != NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: not UTF-8 text", path);
      return NULL;
    }
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) split = g_strsplit (text, "\n", -1);
  for (char **line = split; *line != NULL; line++)
    if (*g_strstrip (*line) != '\0')
      g_ptr_array_add (lines, g_strdup (*line));
  return lines;
}

/* Numbers the distinct caption texts (the groups retrieval ranks once each). */
static void
dataset_index_captions (ClipDataset *dataset)
{
  guint n = dataset->captions->len;
  g_free (dataset->groups);
  dataset->groups = g_new (int, MAX (n, 1));
  g_autoptr (GHashTable) groups = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < n; i++)
    {
      const char *text = DATASET_CAPTION (dataset, i)->text;
      gpointer id;
      if (!g_hash_table_lookup_extended (groups, text, NULL, &id))
        {
          id = GUINT_TO_POINTER (g_hash_table_size (groups));
          g_hash_table_insert (groups, (gpointer) text, id);
        }
      dataset->groups[i] = GPOINTER_TO_INT (id);
    }
}

/* ---------------------------------------------------------------- opening */

/* The first issues, for an error that leaves the caller no data set to ask. */
static char *
dataset_describe_issues (const ClipDataset *dataset)
{
  enum { SHOWN = 3 };
  GString *text = g_string_new (NULL);
  for (guint i = 0; i < MIN (dataset->issues->len, SHOWN); i++)
    {
      const ClipDatasetIssue *issue = g_ptr_array_index (dataset->issues, i);
      g_string_append_printf (text, "; ");
      /* a shard or class folder, not the file opened */
      if (issue->file != NULL && g_strcmp0 (issue->file, dataset->source_path) != 0)
        {
          g_autofree char *shown = g_filename_display_name (issue->file);
          g_string_append_printf (text, "%s%s", shown, issue->line > 0 || issue->path != NULL ? " " : "");
        }
      if (issue->line > 0)
        g_string_append_printf (text, "line %d ", issue->line);
      if (issue->path != NULL)
        g_string_append_printf (text, "(%s)", issue->path);
      g_string_append_printf (text, ": %s", issue->reason);
    }
  if (dataset->issues->len > SHOWN)
    g_string_append (text, "; …");
  return g_string_free (text, FALSE);
}

void
clip_dataset_options_init (ClipDatasetOptions *options)
{
  g_return_if_fail (options != NULL);
  *options = (ClipDatasetOptions) { .format = CLIP_DATASET_FORMAT_AUTO };
}

/* COCO has "annotations"; a Karpathy split has "sentences" in its images (in any of them: a damaged
 * first entry does not make it another format). */
static ClipDatasetFormat
dataset_json_format (JsonObject *root)
{
  if (json_object_has_member (root, "annotations"))
    return CLIP_DATASET_FORMAT_COCO;
  JsonNode *node = json_object_get_member (root, "images");
  JsonArray *images = node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  for (guint i = 0; images != NULL && i < json_array_get_length (images); i++)
    {
      JsonNode *image = json_array_get_element (images, i);
      if (JSON_NODE_HOLDS_OBJECT (image) && json_object_has_member (json_node_get_object (image), "sentences"))
        return CLIP_DATASET_FORMAT_KARPATHY;
    }
  return CLIP_DATASET_FORMAT_AUTO;
}

static ClipDatasetFormat
dataset_recognise (const char *path)
{
  if (clip_dataset_is_webdataset (path))  /* a folder, or a brace pattern of shard names */
    return CLIP_DATASET_FORMAT_WEBDATASET;
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    return CLIP_DATASET_FORMAT_FOLDER;
  g_autofree char *lower = g_ascii_strdown (path, -1);
  if (g_str_has_suffix (lower, ".json"))
    return CLIP_DATASET_FORMAT_COCO;  /* or Karpathy: told apart once the JSON is parsed */
  return CLIP_DATASET_FORMAT_CSV;
}

static const char *const dataset_format_names[] = {
  [CLIP_DATASET_FORMAT_CSV] = "csv",
  [CLIP_DATASET_FORMAT_FOLDER] = "folder",
  [CLIP_DATASET_FORMAT_WEBDATASET] = "webdataset",
  [CLIP_DATASET_FORMAT_COCO] = "coco",
  [CLIP_DATASET_FORMAT_KARPATHY] = "karpathy",
};

static gboolean
dataset_read_json (ClipDataset *dataset, const char *path, ClipDatasetFormat format,
                   const ClipDatasetOptions *options, GError **error)
{
  g_autoptr (JsonNode) node = clip_json_parse_file (path, DATASET_MAX_JSON_BYTES, error);
  if (node == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                   "%s: expected a JSON object with images (a COCO captions file or a Karpathy split)", path);
      return FALSE;
    }
  JsonObject *root = json_node_get_object (node);
  if (options->format == CLIP_DATASET_FORMAT_AUTO)
    format = dataset_json_format (root);
  if (format == CLIP_DATASET_FORMAT_COCO || format == CLIP_DATASET_FORMAT_KARPATHY)
    dataset->format_name = dataset_format_names[format];
  if (format == CLIP_DATASET_FORMAT_COCO)
    return dataset_read_coco (dataset, path, root, options, error);
  if (format == CLIP_DATASET_FORMAT_KARPATHY)
    return dataset_read_karpathy (dataset, path, root, options, error);
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
               "%s: neither a COCO captions file (images and annotations) nor a Karpathy split "
               "(images with sentences)", path);
  return FALSE;
}

ClipDataset *
clip_dataset_open (const char *path, const ClipDatasetOptions *options, const ClipCallbacks *callbacks,
                   GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  ClipDatasetOptions defaults;
  clip_dataset_options_init (&defaults);
  if (options == NULL)
    options = &defaults;
  g_return_val_if_fail (options->format >= CLIP_DATASET_FORMAT_AUTO
                        && options->format <= CLIP_DATASET_FORMAT_KARPATHY, NULL);

  /* A brace pattern of WebDataset shards names files, not itself: each shard is checked when read. */
  if (!g_file_test (path, G_FILE_TEST_EXISTS) && !clip_dataset_is_webdataset (path))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: no such file or folder", path);
      return NULL;
    }
  ClipDatasetFormat format = options->format != CLIP_DATASET_FORMAT_AUTO ? options->format : dataset_recognise (path);
  g_autoptr (ClipDataset) dataset = dataset_new (path, dataset_format_names[format]);
  gboolean ok;
  switch (format)
    {
    case CLIP_DATASET_FORMAT_FOLDER:
      ok = dataset_read_folder (dataset, path, options, error);
      break;
    case CLIP_DATASET_FORMAT_WEBDATASET:
      ok = dataset_read_webdataset (dataset, path, options, callbacks, error);
      break;
    case CLIP_DATASET_FORMAT_COCO:
    case CLIP_DATASET_FORMAT_KARPATHY:
      ok = dataset_read_json (dataset, path, format, options, error);
      break;
    default:
      ok = dataset_read_csv (dataset, path, options, error);
      break;
    }
  if (!ok)
    return NULL;
  if (dataset->captions->len == 0)
    {
      g_autofree char *examples = dataset_describe_issues (dataset);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: no usable %s (%u skipped%s)", path,
                   format == CLIP_DATASET_FORMAT_CSV ? "row" : "entry", dataset->issues->len, examples);
      return NULL;
    }
  dataset_index_captions (dataset);
  return g_steal_pointer (&dataset);
}

ClipDataset *
clip_dataset_load_csv (const char *csv_path, const char *image_root, GError **error)
{
  ClipDatasetOptions options;
  clip_dataset_options_init (&options);
  options.format = CLIP_DATASET_FORMAT_CSV;
  options.image_root = image_root;
  return clip_dataset_open (csv_path, &options, NULL, error);
}

/* ---------------------------------------------------------------- accessors */

#define ROW_IMAGE(dataset, index) DATASET_IMAGE ((dataset), DATASET_CAPTION ((dataset), (index))->image)
#define ROW_OK(dataset, index) ((dataset) != NULL && (index) >= 0 && (guint) (index) < (dataset)->captions->len)
#define IMAGE_OK(dataset, image) ((dataset) != NULL && (image) >= 0 && (guint) (image) < (dataset)->images->len)

const char *
clip_dataset_get_format_name (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, NULL);
  return dataset->format_name;
}

const char *
clip_dataset_get_path (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, NULL);
  return dataset->source_path;
}

const char *
clip_dataset_get_image_root (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, NULL);
  return dataset->root;
}

int
clip_dataset_get_size (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, 0);
  return (int) dataset->captions->len;
}

uint64_t
clip_dataset_get_cache_bytes (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, 0);
  return dataset->cache != NULL ? g_mapped_file_get_length (dataset->cache) : 0;
}

const char *
clip_dataset_get_image_path (const ClipDataset *dataset, int index)
{
  g_return_val_if_fail (ROW_OK (dataset, index), NULL);
  return ROW_IMAGE (dataset, index)->path;
}

const char *
clip_dataset_get_caption (const ClipDataset *dataset, int index)
{
  g_return_val_if_fail (ROW_OK (dataset, index), NULL);
  return DATASET_CAPTION (dataset, index)->text;
}

int
clip_dataset_get_line (const ClipDataset *dataset, int index)
{
  g_return_val_if_fail (ROW_OK (dataset, index), 0);
  return DATASET_CAPTION (dataset, index)->line;
}

int
clip_dataset_get_label (const ClipDataset *dataset, int index)
{
  g_return_val_if_fail (ROW_OK (dataset, index), -1);
  return ROW_IMAGE (dataset, index)->label;
}

int
clip_dataset_get_n_labels (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, 0);
  return (int) dataset->label_names->len;
}

const char *
clip_dataset_get_label_name (const ClipDataset *dataset, int label)
{
  g_return_val_if_fail (dataset != NULL && label >= 0 && (guint) label < dataset->label_names->len, NULL);
  return g_ptr_array_index (dataset->label_names, label);
}

int
clip_dataset_get_row_image (const ClipDataset *dataset, int index)
{
  g_return_val_if_fail (ROW_OK (dataset, index), -1);
  return DATASET_CAPTION (dataset, index)->image;
}

int
clip_dataset_get_n_images (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, 0);
  return (int) dataset->images->len;
}

int
clip_dataset_get_image_label (const ClipDataset *dataset, int image)
{
  g_return_val_if_fail (IMAGE_OK (dataset, image), -1);
  return DATASET_IMAGE (dataset, image)->label;
}

const char *
clip_dataset_get_image_entry (const ClipDataset *dataset, int image)
{
  g_return_val_if_fail (IMAGE_OK (dataset, image), NULL);
  return DATASET_IMAGE (dataset, image)->entry;
}

const char *
clip_dataset_get_image_shard (const ClipDataset *dataset, int image)
{
  g_return_val_if_fail (IMAGE_OK (dataset, image), NULL);
  int shard = DATASET_IMAGE (dataset, image)->shard;
  return shard >= 0 ? g_ptr_array_index (dataset->shards, shard) : NULL;
}

gboolean
clip_dataset_has_captions (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, FALSE);
  return dataset->has_captions;
}

const char *const *
clip_dataset_get_templates (const ClipDataset *dataset, int *n_templates)
{
  g_return_val_if_fail (dataset != NULL, NULL);
  if (n_templates != NULL)
    *n_templates = (int) dataset->templates->len;
  if (dataset->templates->len == 0)
    return NULL;
  /* A NULL-terminated array (see dataset_new). */
  return (const char *const *) dataset->templates->pdata;
}

GPtrArray *
clip_dataset_get_issues (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, NULL);
  return dataset->issues;
}

const int *
clip_dataset_get_caption_groups (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, NULL);
  return dataset->groups;
}

int
clip_dataset_get_crop_size (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, 0);
  return dataset->crop_size;
}

const uint8_t *
clip_dataset_get_image_crop (ClipDataset *dataset, int image)
{
  g_return_val_if_fail (IMAGE_OK (dataset, image), NULL);
  g_return_val_if_fail (dataset->crop_size > 0, NULL);
  const uint8_t *base = dataset->crops != NULL ? dataset->crops
                                               : (const uint8_t *) g_mapped_file_get_contents (dataset->cache);
  return base + (size_t) DATASET_IMAGE (dataset, image)->slot * dataset->crop_bytes;
}

const uint8_t *
clip_dataset_get_image_content_hash (const ClipDataset *dataset, int image)
{
  g_return_val_if_fail (IMAGE_OK (dataset, image), NULL);
  const DatasetImage *found = DATASET_IMAGE (dataset, image);
  return found->hashed ? found->content_hash : NULL;
}

const uint8_t *
clip_dataset_get_crop (ClipDataset *dataset, int index)
{
  g_return_val_if_fail (ROW_OK (dataset, index), NULL);
  return clip_dataset_get_image_crop (dataset, DATASET_CAPTION (dataset, index)->image);
}

/* ---------------------------------------------------------------- decoding the images */

/* Shared by the decoding workers.  A task is one image file, or one shard whose images are decoded
 * while it streams past; either way every image finished pushes one entry to DONE. */
typedef struct {
  ClipDataset  *dataset;      /* the workers write only the hash of the image they decode */
  int           size;
  gboolean      exif;
  size_t        crop_bytes;
  uint8_t      *memory;       /* crops in memory, or NULL when writing to the cache file */
  int           fd;
  const char   *cache_path;
  GPtrArray    *shard_images; /* per shard, a GArray of the image indices in it */
  char        **slot_errors;  /* why an image could not be decoded, or NULL */
  gint          stop;         /* atomic: skip the work not started yet */
  GMutex        lock;
  GError       *fatal;        /* a cache write failed */
  GAsyncQueue  *done;         /* one entry per finished image */
} PrepareJob;

static gboolean
write_crop (PrepareJob *job, const uint8_t *crop, int slot, GError **error)
{
  size_t written = 0;
  off_t offset = (off_t) slot * (off_t) job->crop_bytes;
  while (written < job->crop_bytes)
    {
      ssize_t n = pwrite (job->fd, crop + written, job->crop_bytes - written, offset + (off_t) written);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = n < 0 ? errno : ENOSPC;
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", job->cache_path, g_strerror (saved));
          return FALSE;
        }
      written += (size_t) n;
    }
  return TRUE;
}
/* Out of descriptors or memory: every other image would fail too, for no fault of its own, so the
 * preparation stops with ERROR (taken). */
static void
prepare_fail (PrepareJob *job, GError *error)
{
  g_mutex_lock (&job->lock);
  if (job->fatal == NULL)
    job->fatal = g_steal_pointer (&error);
  g_mutex_unlock (&job->lock);
  g_clear_error (&error);
  g_atomic_int_set (&job->stop, 1);
}

/* Crops DECODED into its slot (or records REASON), then counts the image as done. */
static void
prepare_store (PrepareJob *job, int slot, ClipImage *decoded, const char *reason)
{
  GError *error = NULL;
  if (decoded == NULL)
    job->slot_errors[slot] = g_strdup (reason != NULL ? reason : "cannot be decoded");
  else if (job->memory != NULL)
    clip_image_resize_crop (decoded, job->size, job->memory + (size_t) slot * job->crop_bytes);
  else
    {
      g_autofree uint8_t *crop = g_malloc (job->crop_bytes);
      clip_image_resize_crop (decoded, job->size, crop);
      if (!write_crop (job, crop, slot, &error))
        prepare_fail (job, error);
    }
  g_async_queue_push (job->done, GINT_TO_POINTER (1));
}

static void
prepare_shard_image (int image, ClipImage *decoded, const char *reason, gboolean out_of_resources,
                     const uint8_t *content_hash, gpointer user_data)
{
  PrepareJob *job = user_data;
  if (content_hash != NULL)
    {
      DatasetImage *target = DATASET_IMAGE (job->dataset, image);
      memcpy (target->content_hash, content_hash, sizeof target->content_hash);
      target->hashed = TRUE;
    }
  if (!out_of_resources)
    {
      prepare_store (job, image, decoded, reason);
      return;
    }
  const DatasetImage *failed = DATASET_IMAGE (job->dataset, image);
  prepare_fail (job, g_error_new (CLIP_ERROR, CLIP_ERROR_RESOURCES, "%s: %s: %s",
                                  (const char *) g_ptr_array_index (job->dataset->shards, failed->shard),
                                  failed->entry, reason));
  g_async_queue_push (job->done, GINT_TO_POINTER (1));
}

/* TASK > 0 is image TASK - 1 read from its file, TASK < 0 shard -TASK - 1. */
static void
prepare_run_task (gpointer task, gpointer user_data)
{
  PrepareJob *job = user_data;
  int id = GPOINTER_TO_INT (task);
  if (id < 0)
    {
      GArray *images = g_ptr_array_index (job->shard_images, -id - 1);
      dataset_decode_shard (job->dataset, -id - 1, (const int *) images->data, (int) images->len, job->exif,
                            &job->stop, prepare_shard_image, job);
      return;
    }
  int slot = id - 1;
  if (g_atomic_int_get (&job->stop))
    {
      g_async_queue_push (job->done, GINT_TO_POINTER (1));
      return;
    }
  const char *path = DATASET_IMAGE (job->dataset, slot)->path;
  GError *error = NULL;
  g_autoptr (ClipImage) image = clip_image_load (path, job->exif, &error);
  if (image == NULL && g_error_matches (error, CLIP_ERROR, CLIP_ERROR_RESOURCES))
    {
      prepare_fail (job, g_steal_pointer (&error));
      g_async_queue_push (job->done, GINT_TO_POINTER (1));
      return;
    }
  /* The issue names the file already; keep only the reason. */
  const char *reason = error != NULL ? error->message : NULL;
  if (reason != NULL && g_str_has_prefix (reason, path) && g_str_has_prefix (reason + strlen (path), ": "))
    reason += strlen (path) + 2;
  prepare_store (job, slot, image, reason);
  g_clear_error (&error);
}

/* A temporary file in CACHE_DIR, unlinked at once so that nothing is left behind even after a crash,
 * with room for TOTAL bytes reserved so that a full disk is reported before decoding starts. */
static int
open_cache_file (const char *cache_dir, uint64_t total, char **path_out, GError **error)
{
  const char *dir = cache_dir != NULL ? cache_dir : g_get_tmp_dir ();
  char *path = g_build_filename (dir, "cliplab-crops-XXXXXX", NULL);
  int fd = g_mkstemp_full (path, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot create the image cache: %s", dir,
                   g_strerror (saved));
      g_free (path);
      return -1;
    }
  g_unlink (path);
  /* Said before anything is reserved: a large --image-size can ask for more disk than expected. */
  struct statvfs space;
  if (fstatvfs (fd, &space) == 0 && (uint64_t) space.f_bavail * space.f_frsize < total)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: the decoded images need %.1f GB on disk (more than "
                   "fits in memory), but only %.1f GB are free there", dir, total / 1e9,
                   (double) space.f_bavail * space.f_frsize / 1e9);
      close (fd);
      g_free (path);
      return -1;
    }
  int status = posix_fallocate (fd, 0, (off_t) total);
  if (status == EINVAL || status == EOPNOTSUPP)
    status = ftruncate (fd, (off_t) total) == 0 ? 0 : errno;
  if (status != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot reserve %" G_GUINT64_FORMAT " bytes: %s",
                   path, total, g_strerror (status));
      close (fd);
      g_free (path);
      return -1;
    }
  *path_out = path;
  return fd;
}
/* Labels no image has any more are dropped, the others keep their order. */
static void
dataset_prune_labels (ClipDataset *dataset)
{
  const guint n_labels = dataset->label_names->len;
  g_autofree int *new_label = g_new0 (int, MAX (n_labels, 1));
  for (guint i = 0; i < dataset->images->len; i++)
    if (DATASET_IMAGE (dataset, i)->label >= 0)
      new_label[DATASET_IMAGE (dataset, i)->label] = 1;
  GPtrArray *kept = g_ptr_array_new_with_free_func (g_free);
  for (guint c = 0; c < n_labels; c++)
    {
      new_label[c] = new_label[c] ? (int) kept->len : -1;
      if (new_label[c] >= 0)
        g_ptr_array_add (kept, g_strdup (g_ptr_array_index (dataset->label_names, c)));
    }
  for (guint i = 0; i < dataset->images->len; i++)
    if (DATASET_IMAGE (dataset, i)->label >= 0)
      DATASET_IMAGE (dataset, i)->label = new_label[DATASET_IMAGE (dataset, i)->label];
  g_ptr_array_unref (dataset->label_names);
  dataset->label_names = kept;
}

/* Drops the images that failed and their captions, reporting each image. */
static void
drop_failed_images (ClipDataset *dataset, char **slot_errors)
{
  g_autofree int *new_index = g_new (int, MAX (dataset->images->len, 1));
  GArray *kept = g_array_sized_new (FALSE, FALSE, sizeof (DatasetImage), dataset->images->len);
  g_array_set_clear_func (kept, dataset_image_clear);
  for (guint i = 0; i < dataset->images->len; i++)
    {
      DatasetImage *image = DATASET_IMAGE (dataset, i);
      const char *reason = slot_errors[image->slot];
      new_index[i] = reason == NULL ? (int) kept->len : -1;
      if (reason == NULL)
        {
          g_array_append_val (kept, *image);
          memset (image, 0, sizeof *image);  /* moved: the old array must not free it */
          continue;
        }
      const char *file = image->shard >= 0 ? g_ptr_array_index (dataset->shards, image->shard)
                                           : dataset->source_path;
      dataset_add_issue (dataset, file, image->line, image->entry, "%s", reason);
    }
  g_array_unref (dataset->images);
  dataset->images = kept;

  GArray *captions = g_array_sized_new (FALSE, FALSE, sizeof (DatasetCaption), dataset->captions->len);
  g_array_set_clear_func (captions, dataset_caption_clear);
  for (guint i = 0; i < dataset->captions->len; i++)
    {
      DatasetCaption *caption = DATASET_CAPTION (dataset, i);
      if (new_index[caption->image] < 0)
        continue;
      caption->image = new_index[caption->image];
      g_array_append_val (captions, *caption);
      memset (caption, 0, sizeof *caption);
    }
  g_array_unref (dataset->captions);
  dataset->captions = captions;
  dataset_index_captions (dataset);
  if (dataset->labels_from_images)
    dataset_prune_labels (dataset);
}

/* Where the crops go: memory when they fit in MEMORY_LIMIT, else a cache file. */
static gboolean
prepare_allocate (PrepareJob *job, ClipDataset *dataset, size_t memory_limit, const char *cache_dir,
                  char **cache_path, GError **error)
{
  const int n_slots = (int) dataset->images->len;
  size_t total;
  if (!g_size_checked_mul (&total, job->crop_bytes, (size_t) n_slots))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: %d images of %d×%d do not fit in memory",
                   dataset->source_path, n_slots, job->size, job->size);
      return FALSE;
    }
  if (total <= memory_limit)
    job->memory = g_try_malloc (total);
  if (job->memory == NULL)
    {
      job->fd = open_cache_file (cache_dir, total, cache_path, error);
      if (job->fd < 0)
        return FALSE;
      job->cache_path = *cache_path;
    }
  return TRUE;
}

/* Decoding is independent per image; each result lands in its own slot, so the order of completion
 * does not matter.  The calling thread reports progress and polls the abort callback.  FALSE when
 * aborted. */
static gboolean
prepare_decode_all (PrepareJob *job, ClipDataset *dataset, const ClipCallbacks *callbacks)
{
  const int n_slots = (int) dataset->images->len;
  g_autoptr (GArray) tasks = g_array_new (FALSE, FALSE, sizeof (int));
  for (int i = 0; i < n_slots; i++)
    {
      const DatasetImage *image = DATASET_IMAGE (dataset, i);
      if (image->shard < 0)
        {
          int task = i + 1;
          g_array_append_val (tasks, task);
        }
      else
        g_array_append_val (g_ptr_array_index (job->shard_images, image->shard), i);
    }
  for (guint s = 0; s < job->shard_images->len; s++)
    if (((GArray *) g_ptr_array_index (job->shard_images, s))->len > 0)
      {
        int task = -(int) s - 1;
        g_array_append_val (tasks, task);
      }

  int n_threads = CLAMP ((int) tasks->len, 1, (int) g_get_num_processors ());
  GThreadPool *pool = g_thread_pool_new (prepare_run_task, job, n_threads, FALSE, NULL);
  for (guint t = 0; t < tasks->len; t++)
    g_thread_pool_push (pool, GINT_TO_POINTER (g_array_index (tasks, int, t)), NULL);
  gboolean aborted = FALSE;
  for (int s = 0; s < n_slots && !aborted && !g_atomic_int_get (&job->stop); s++)
    {
      g_async_queue_pop (job->done);
      clip_callbacks_progress (callbacks, "Decoding images", s + 1, n_slots);
      aborted = clip_callbacks_aborted (callbacks);
    }
  g_atomic_int_set (&job->stop, 1);
  g_thread_pool_free (pool, TRUE, TRUE);
  return !aborted;
}

static void
shard_images_free (gpointer data)
{
  g_array_unref (data);
}

gboolean
clip_dataset_prepare_images (ClipDataset *dataset, int size, gboolean apply_exif_orientation,
                             size_t memory_limit, const char *cache_dir, const ClipCallbacks *callbacks,
                             GError **error)
{
  g_return_val_if_fail (dataset != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (size < 1 || (int64_t) size * size > CLIP_MAX_IMAGE_PIXELS)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                   "crop size %d: expected a positive size of at most %d pixels in all", size,
                   CLIP_MAX_IMAGE_PIXELS);
      return FALSE;
    }
  dataset_release_crops (dataset);

  /* One slot per image: captions of the same image share its crop. */
  const int n_slots = (int) dataset->images->len;
  for (int i = 0; i < n_slots; i++)
    DATASET_IMAGE (dataset, i)->slot = i;
  PrepareJob job = {
    .dataset = dataset,
    .size = size,
    .exif = apply_exif_orientation,
    .crop_bytes = (size_t) size * (size_t) size * 3,
    .fd = -1,
    .shard_images = g_ptr_array_new_with_free_func (shard_images_free),
    .slot_errors = g_new0 (char *, MAX (n_slots, 1)),
    .done = g_async_queue_new (),
  };
  for (guint s = 0; s < dataset->shards->len; s++)
    g_ptr_array_add (job.shard_images, g_array_new (FALSE, FALSE, sizeof (int)));
  g_mutex_init (&job.lock);
  g_autofree char *cache_path = NULL;
  gboolean ok = FALSE;

  if (!prepare_allocate (&job, dataset, memory_limit, cache_dir, &cache_path, error))
    goto out;
  gboolean finished = prepare_decode_all (&job, dataset, callbacks);
  if (job.fatal != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&job.fatal));
      goto out;
    }
  if (!finished)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED, "%s: preparing the images was stopped",
                   dataset->source_path);
      goto out;
    }

  drop_failed_images (dataset, job.slot_errors);
  if (dataset->captions->len == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: none of the %d images is readable",
                   dataset->source_path, n_slots);
      goto out;
    }

  if (job.memory != NULL)
    dataset->crops = g_steal_pointer (&job.memory);
  else
    {
      GError *map_error = NULL;
      dataset->cache = g_mapped_file_new_from_fd (job.fd, FALSE, &map_error);
      if (dataset->cache == NULL)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", cache_path, map_error->message);
          g_error_free (map_error);
          goto out;
        }
    }
  dataset->crop_size = size;
  dataset->crop_bytes = job.crop_bytes;
  ok = TRUE;

out:
  if (job.fd >= 0)
    close (job.fd);  /* the map, if any, stays valid */
  g_free (job.memory);
  for (int s = 0; s < n_slots; s++)
    g_free (job.slot_errors[s]);
  g_free (job.slot_errors);
  g_ptr_array_unref (job.shard_images);
  g_clear_error (&job.fatal);
  g_mutex_clear (&job.lock);
  g_async_queue_unref (job.done);
  return ok;
}
