/* cl-collection.c — reading folders and data sets in a thread. */
#include "cl-collection.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gdk-pixbuf/gdk-pixbuf.h>

#include "clip.h"

struct _ClCollection {
  GObject parent_instance;

  GFile *file;
  ClCollectionKind kind;
  char *title;
  GListStore *items;
  gboolean has_labels;
  char **labels;
  char **templates;     /* the data set's own zero-shot templates, or NULL */
  char *warning;
  char *image_folder;   /* where the images are: the folder, or a data set's image root */
};

G_DEFINE_FINAL_TYPE (ClCollection, cl_collection, G_TYPE_OBJECT)

static void
cl_collection_finalize (GObject *object)
{
  ClCollection *self = CL_COLLECTION (object);

  g_clear_object (&self->file);
  g_free (self->title);
  g_clear_object (&self->items);
  g_strfreev (self->labels);
  g_strfreev (self->templates);
  g_free (self->warning);
  g_free (self->image_folder);
  G_OBJECT_CLASS (cl_collection_parent_class)->finalize (object);
}

static void
cl_collection_class_init (ClCollectionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = cl_collection_finalize;
}

static void
cl_collection_init (ClCollection *self)
{
  self->items = g_list_store_new (CL_TYPE_IMAGE_ITEM);
}

GFile *cl_collection_get_file (ClCollection *self) { return self->file; }
ClCollectionKind cl_collection_get_kind (ClCollection *self) { return self->kind; }
const char *cl_collection_get_title (ClCollection *self) { return self->title; }
GListModel *cl_collection_get_items (ClCollection *self) { return G_LIST_MODEL (self->items); }
gboolean cl_collection_has_labels (ClCollection *self) { return self->has_labels; }
const char *const *cl_collection_get_labels (ClCollection *self) { return (const char *const *) self->labels; }
const char *const *cl_collection_get_templates (ClCollection *self) { return (const char *const *) self->templates; }
const char *cl_collection_get_warning (ClCollection *self) { return self->warning; }
const char *cl_collection_get_image_folder (ClCollection *self) { return self->image_folder; }

guint
cl_collection_get_n_items (ClCollection *self)
{
  return g_list_model_get_n_items (G_LIST_MODEL (self->items));
}

ClImageItem *
cl_collection_get_item (ClCollection *self, guint index)
{
  g_autoptr (ClImageItem) item = g_list_model_get_item (G_LIST_MODEL (self->items), index);
  return item;  /* the store keeps it alive */
}

/* ---------------------------------------------------------------- loading */

/* The MIME types gdk-pixbuf can decode here. */
static GHashTable *
readable_mime_types (void)
{
  GHashTable *types = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GSList *formats = gdk_pixbuf_get_formats ();

  for (GSList *l = formats; l != NULL; l = l->next)
    {
      g_auto (GStrv) mimes = gdk_pixbuf_format_get_mime_types (l->data);
      for (char **m = mimes; m != NULL && *m != NULL; m++)
        g_hash_table_add (types, g_strdup (*m));
    }
  g_slist_free (formats);
  return types;
}

static int
compare_items (gconstpointer a, gconstpointer b)
{
  ClImageItem *x = *(ClImageItem **) a, *y = *(ClImageItem **) b;
  return g_strcmp0 (cl_image_item_get_sort_key (x), cl_image_item_get_sort_key (y));
}

static void
collection_store_items (ClCollection *self, GPtrArray *items)
{
  for (guint i = 0; i < items->len; i++)
    cl_image_item_set_index (items->pdata[i], i);
  g_list_store_splice (self->items, 0, 0, items->pdata, items->len);
}

static gboolean
load_folder (ClCollection *self, GCancellable *cancellable, GError **error)
{
  g_autoptr (GHashTable) mimes = readable_mime_types ();
  g_autoptr (GFileEnumerator) enumerator = g_file_enumerate_children (
    self->file,
    G_FILE_ATTRIBUTE_STANDARD_NAME "," G_FILE_ATTRIBUTE_STANDARD_DISPLAY_NAME ","
    G_FILE_ATTRIBUTE_STANDARD_FAST_CONTENT_TYPE "," G_FILE_ATTRIBUTE_STANDARD_TYPE ","
    G_FILE_ATTRIBUTE_STANDARD_IS_HIDDEN "," G_FILE_ATTRIBUTE_STANDARD_SIZE ","
    G_FILE_ATTRIBUTE_TIME_MODIFIED,
    G_FILE_QUERY_INFO_NONE, cancellable, error);
  if (enumerator == NULL)
    return FALSE;

  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
  for (;;)
    {
      GFileInfo *info = NULL;
      GFile *child = NULL;
      if (!g_file_enumerator_iterate (enumerator, &info, &child, cancellable, error))
        return FALSE;
      if (info == NULL)
        break;
      /* Regular files only: FIFOs, devices and dangling links named *.jpg are not images. */
      if (g_file_info_get_file_type (info) != G_FILE_TYPE_REGULAR || g_file_info_get_is_hidden (info))
        continue;
      const char *type = g_file_info_get_attribute_string (info, G_FILE_ATTRIBUTE_STANDARD_FAST_CONTENT_TYPE);
      g_autofree char *mime = type != NULL ? g_content_type_get_mime_type (type) : NULL;
      if (mime == NULL || !g_hash_table_contains (mimes, mime))
        continue;
      gint64 mtime = g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_TIME_MODIFIED);
      g_ptr_array_add (items, cl_image_item_new (child, g_file_info_get_display_name (info), type,
                                                 g_file_info_get_size (info), mtime));
    }
  g_ptr_array_sort (items, compare_items);
  collection_store_items (self, items);
  return TRUE;
}

/* The item of IMAGE, listed at its first caption ROW: a file, or a member of a WebDataset shard
 * (the shard's file and time, the member's name; thumbnails read it from the tar stream). */
static ClImageItem *
dataset_item (ClipDataset *dataset, int row, int image)
{
  const char *shard = clip_dataset_get_image_shard (dataset, image);
  const char *member = shard != NULL ? clip_dataset_get_image_entry (dataset, image) : NULL;
  const char *image_path = shard != NULL ? shard : clip_dataset_get_image_path (dataset, row);
  const char *named = member != NULL ? member : image_path;
  int label = clip_dataset_get_image_label (dataset, image);
  g_autoptr (GFile) file = g_file_new_for_path (image_path);
  g_autofree char *display = g_filename_display_basename (named);
  g_autofree char *type = g_content_type_guess (named, NULL, 0, NULL);
  GStatBuf st;
  gint64 size = -1, mtime = 0;

  if (g_stat (image_path, &st) == 0)
    {
      size = member != NULL ? 0 : st.st_size;  /* a member's size is not known before it is read */
      mtime = st.st_mtime;
    }
  ClImageItem *item = cl_image_item_new (file, display, type, size, mtime);
  cl_image_item_set_member (item, member);
  cl_image_item_set_dataset_row (item, clip_dataset_get_caption (dataset, row),
                                 label >= 0 ? clip_dataset_get_label_name (dataset, label) : NULL,
                                 clip_dataset_get_line (dataset, row));
  return item;
}

/* Any data set the library reads (a CSV, a folder of class folders, WebDataset shards, a COCO or
 * Karpathy JSON): one item per image, with its first caption and its label; relative image paths
 * start from IMAGE_ROOT (NULL: where the format puts them), absolute ones are used as they are; the
 * entries it skipped are summed up in the warning, naming the first. */
static gboolean
load_dataset (ClCollection *self, GFile *image_root, GCancellable *cancellable, GError **error)
{
  g_autofree char *path = g_file_get_path (self->file);
  if (path == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, _("%s: only local data sets can be opened"),
                   self->title);
      return FALSE;
    }
  g_autofree char *root = image_root != NULL ? g_file_get_path (image_root) : NULL;
  ClipDatasetOptions options;
  clip_dataset_options_init (&options);
  options.image_root = root;
  g_autoptr (ClipDataset) dataset = clip_dataset_open (path, &options, NULL, error);
  if (dataset == NULL)
    return FALSE;
  g_free (self->image_folder);
  self->image_folder = g_strdup (clip_dataset_get_image_root (dataset));

  const int n_images = clip_dataset_get_n_images (dataset);
  g_autoptr (GPtrArray) items = g_ptr_array_new_full (n_images, g_object_unref);
  for (int row = 0; row < clip_dataset_get_size (dataset); row++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      int image = clip_dataset_get_row_image (dataset, row);
      if (image < (int) items->len)
        continue;  /* a further caption of an image already listed */
      g_ptr_array_add (items, dataset_item (dataset, row, image));
    }

  int n_templates = 0;
  const char *const *templates = clip_dataset_get_templates (dataset, &n_templates);
  self->templates = n_templates > 0 ? g_strdupv ((char **) templates) : NULL;
  const int n_labels = clip_dataset_get_n_labels (dataset);
  self->has_labels = n_labels > 0;
  self->labels = g_new0 (char *, n_labels + 1);
  for (int l = 0; l < n_labels; l++)
    self->labels[l] = g_strdup (clip_dataset_get_label_name (dataset, l));

  GPtrArray *issues = clip_dataset_get_issues (dataset);
  if (issues->len > 0)
    {
      /* The file by its name only: the title already says where it is. */
      ClipDatasetIssue shown = *(ClipDatasetIssue *) issues->pdata[0];
      g_autofree char *file_name = shown.file != NULL ? g_path_get_basename (shown.file) : NULL;
      shown.file = file_name;
      g_autofree char *first = clip_dataset_issue_describe (&shown);
      self->warning = g_strdup_printf (ngettext ("%s: %u entry was skipped (%s)",
                                                 "%s: %u entries were skipped (first: %s)", issues->len),
                                       self->title, issues->len, first);
    }
  collection_store_items (self, items);
  return TRUE;
}

/* A folder holding nothing but folders is a data set of class folders (torchvision's ImageFolder);
 * any file of its own (a CSV, notes, an image) keeps it a plain folder. */
static gboolean
folder_is_dataset (ClCollection *self)
{
  g_autofree char *path = g_file_get_path (self->file);
  g_autoptr (GDir) dir = path != NULL ? g_dir_open (path, 0, NULL) : NULL;
  gboolean any_folder = FALSE;
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      if (name[0] == '.')
        continue;
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (!g_file_test (child, G_FILE_TEST_IS_DIR))
        return FALSE;
      any_folder = TRUE;
    }
  return any_folder;
}

typedef struct {
  GFile *file;
  GFile *image_root;             /* or NULL */
} LoadRequest;

static void
load_request_free (LoadRequest *request)
{
  g_clear_object (&request->file);
  g_clear_object (&request->image_root);
  g_free (request);
}

static void
load_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  LoadRequest *request = task_data;
  GFile *file = request->file;
  GError *error = NULL;
  g_autoptr (ClCollection) self = g_object_new (CL_TYPE_COLLECTION, NULL);
  g_autoptr (GFileInfo) info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_TYPE ","
                                                  G_FILE_ATTRIBUTE_STANDARD_DISPLAY_NAME ","
                                                  G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                                  G_FILE_QUERY_INFO_NONE, cancellable, &error);

  self->file = g_object_ref (file);
  if (info == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  self->title = g_strdup (g_file_info_get_display_name (info));

  gboolean ok;
  if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY)
    {
      self->image_folder = g_file_get_path (file);
      self->kind = folder_is_dataset (self) || (self->image_folder != NULL
                                                && clip_dataset_is_webdataset (self->image_folder))
                     ? CL_COLLECTION_DATASET : CL_COLLECTION_FOLDER;
      ok = self->kind == CL_COLLECTION_DATASET ? load_dataset (self, NULL, cancellable, &error)
                                               : load_folder (self, cancellable, &error);
    }
  else if (g_file_info_get_file_type (info) == G_FILE_TYPE_REGULAR)
    {
      self->kind = CL_COLLECTION_DATASET;
      ok = load_dataset (self, request->image_root, cancellable, &error);
    }
  else
    {
      g_set_error (&error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED,
                   _("%s is neither a folder nor a data set"), self->title);
      ok = FALSE;
    }
  if (!ok)
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&self), g_object_unref);
}

void
cl_collection_load_async (GFile *file, GFile *image_root, GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  LoadRequest *request = g_new0 (LoadRequest, 1);

  request->file = g_object_ref (file);
  request->image_root = image_root != NULL ? g_object_ref (image_root) : NULL;
  g_task_set_source_tag (task, cl_collection_load_async);
  g_task_set_task_data (task, request, (GDestroyNotify) load_request_free);
  g_task_run_in_thread (task, load_thread);
}

ClCollection *
cl_collection_load_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
