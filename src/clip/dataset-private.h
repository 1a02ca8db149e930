/* dataset-private.h — internal: the in-memory shape of a data set and what the format readers
 * (dataset-csv.c, dataset-folder.c, dataset-wds.c, dataset-coco.c, dataset-karpathy.c) fill in.
 *
 * Images and captions are two lists: every caption names its image, an image may have any number
 * of captions (COCO and Flickr30k have five).  A training pair and a row of the public API is one
 * caption with its image; classification-only formats (image folders, WebDataset .cls) get one
 * caption per image drawn from templates, so that they can be trained on too. */
#pragma once

#include "clip-private.h"

#include <json-glib/json-glib.h>

typedef struct {
  char *path;        /* resolved absolute file, or NULL for a member of a shard */
  char *entry;       /* as the source names it: CSV path, folder-relative path, tar member, file_name */
  int   shard;       /* index into the data set's shards, or -1 */
  int   line;        /* CSV line, or 0 */
  int   label;       /* index into label_names, or -1 */
  int   slot;        /* crop slot after prepare, or -1 */
  gboolean hashed;   /* content_hash holds the bytes' hash (shard members, after prepare) */
  uint8_t  content_hash[16];
} DatasetImage;

typedef struct {
  char *text;
  int   image;       /* index into images */
  int   line;        /* CSV line, or 0 */
} DatasetCaption;

struct _ClipDataset {
  char        *source_path;   /* what was opened: the CSV, the folder, the JSON */
  const char  *format_name;   /* "csv", "folder", "webdataset", "coco", "karpathy" */
  char        *root;          /* image root, absolute with "." and ".." removed; NULL for shards */
  char        *resolved_root; /* the same with symbolic links resolved */
  GArray      *images;        /* DatasetImage */
  GArray      *captions;      /* DatasetCaption, the rows */
  gboolean     has_captions;  /* captions come from the data, not from templates */
  gboolean     labels_from_images; /* the labels are those the images have (CSV), not a class list */
  GPtrArray   *label_names;   /* owned strings; label i is label_names[i] */
  GPtrArray   *templates;     /* owned strings from the data set's template file, NULL-terminated */
  GPtrArray   *shards;        /* owned paths of the WebDataset shards */
  int         *groups;        /* [captions->len] ids of the distinct caption texts */
  GPtrArray   *issues;        /* ClipDatasetIssue */
  int          crop_size;     /* 0 until prepared */
  size_t       crop_bytes;
  uint8_t     *crops;         /* crops in memory, or NULL */
  GMappedFile *cache;         /* or the map of the (already unlinked) cache file */
};

#define DATASET_IMAGE(dataset, index)   (&g_array_index ((dataset)->images, DatasetImage, (index)))
#define DATASET_CAPTION(dataset, index) (&g_array_index ((dataset)->captions, DatasetCaption, (index)))

/* Records a skipped entry: FILE is where it is (the CSV, the shard, the JSON), LINE its line or 0,
 * ENTRY what the source calls it (or NULL). */
void dataset_add_issue (ClipDataset *dataset, const char *file, int line, const char *entry,
                        const char *format, ...) G_GNUC_PRINTF (5, 6);

/* Sets the folder image paths are relative to and contained in. */
gboolean dataset_set_image_root (ClipDataset *dataset, const char *root, GError **error);
/* The resolved path of WRITTEN, or NULL with *REASON set (owned by the caller; the entry is
 * skipped): a relative path must stay inside the image root ("../" and symbolic links leading out are
 * refused); an absolute one names its file wherever it is.  NULL with ERROR set instead when the process ran out of descriptors or memory (the
 * load fails). */
char *dataset_resolve_image_path (const ClipDataset *dataset, const char *written, char **reason,
                                  GError **error);

/* Appends an image (PATH resolved, or NULL with SHARD ≥ 0) and returns its index. */
int  dataset_add_image (ClipDataset *dataset, const char *path, const char *entry, int shard, int line,
                        int label);
void dataset_add_caption (ClipDataset *dataset, int image, const char *text, int line);
/* One caption per image from TEMPLATES (cycling through them in image order), for data sets that
 * have labels but no captions. */
void dataset_caption_from_templates (ClipDataset *dataset, const char *const *templates, int n_templates);

/* Reads a text file of at most MAX_BYTES as UTF-8 lines, stripped, empty ones dropped. */
GPtrArray *dataset_read_lines (const char *path, gsize max_bytes, GError **error);

/* The format readers: fill DATASET from PATH (the root is set by the reader). */
gboolean dataset_read_csv (ClipDataset *dataset, const char *path, const ClipDatasetOptions *options,
                           GError **error);
gboolean dataset_read_folder (ClipDataset *dataset, const char *path, const ClipDatasetOptions *options,
                              GError **error);
gboolean dataset_read_webdataset (ClipDataset *dataset, const char *path, const ClipDatasetOptions *options,
                                  const ClipCallbacks *callbacks, GError **error);
/* ROOT is the parsed JSON file PATH. */
gboolean dataset_read_coco (ClipDataset *dataset, const char *path, JsonObject *root,
                            const ClipDatasetOptions *options, GError **error);
gboolean dataset_read_karpathy (ClipDataset *dataset, const char *path, JsonObject *root,
                                const ClipDatasetOptions *options, GError **error);

/* Called from a decoding thread for every image of a shard: the decoded image or why it failed,
 * whether it failed because the process ran out of descriptors or memory, and the content hash of
 * the member's bytes (clip_index_hash_content; NULL when they could not be read). */
typedef void (*DatasetShardImageFunc) (int image, ClipImage *decoded, const char *reason, gboolean out_of_resources,
                                       const uint8_t *content_hash, gpointer user_data);

/* Streams shard SHARD once and decodes the images of IMAGES[n] (indices into the data set, all in that
 * shard) from memory; calls FUNC exactly once for each of them, in any order.  STOP (atomic) set
 * skips the decoding but not the calls. */
void dataset_decode_shard (const ClipDataset *dataset, int shard, const int *images, int n,
                           gboolean apply_exif_orientation, const gint *stop, DatasetShardImageFunc func,
                           gpointer user_data);
