/* cl-session.c — shared state of a window's views. */
#include "cl-session.h"

#include <glib/gi18n.h>

#include "cl-config.h"
#include "cl-search-index.h"

#define MAX_RECENT 8

struct _ClSession {
  GObject parent_instance;

  GSettings *settings;
  ClModelWorker *worker;
  ClThumbnailer *thumbnailer;

  ClCollection *collection;
  GCancellable *open_cancellable;
  GFile *opening_root;           /* the image folder of the data set being opened, or NULL */
  ClImageItem *selected_item;

  ClModelState model_state;
  ClModelInfo *model_info;
  char *model_tokenizer, *model_config;   /* what the model in MODEL_INFO was loaded with */
  char *model_problem;
  guint model_generation;
  guint n_loads_pending;

  /* The search indexes of the open collection and the loaded model, by their folders and EXIF
   * choice (index_key): one per key, so that the views that read it share its updates. */
  GHashTable *indexes;

  GHashTable *trashed;           /* absolute paths this window moved to the trash and did not restore */
};

G_DEFINE_FINAL_TYPE (ClSession, cl_session, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_COLLECTION,
  PROP_COLLECTION_LOADING,
  PROP_SELECTED_ITEM,
  PROP_MODEL_STATE,
  PROP_MODEL_INFO,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

enum { SIGNAL_ERROR, SIGNAL_TOAST, SIGNAL_TRASHED_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---------------------------------------------------------------- settings helpers */

/* Puts PATH first in the string-list KEY, at most MAX_RECENT entries. */
static void
settings_push_recent (GSettings *settings, const char *key, const char *path)
{
  g_auto (GStrv) old = g_settings_get_strv (settings, key);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  guint n = 1;

  g_strv_builder_add (builder, path);
  for (char **p = old; *p != NULL && n < MAX_RECENT; p++)
    if (g_strcmp0 (*p, path) != 0)
      {
        g_strv_builder_add (builder, *p);
        n++;
      }
  g_auto (GStrv) updated = g_strv_builder_end (builder);
  g_settings_set_strv (settings, key, (const char *const *) updated);
}

static void
on_threads_changed (GSettings *settings, const char *key, ClSession *self)
{
  cl_model_worker_set_threads (self->worker, g_settings_get_int (settings, "threads"));
}

/* The model in use, loaded again at the new precision (its photo indexes are kept per precision). */
static void
on_precision_changed (GSettings *settings, const char *key, ClSession *self)
{
  if (self->model_info != NULL)
    cl_session_load_model (self, self->model_info->path, self->model_tokenizer, self->model_config, FALSE, NULL, NULL);
}

static void
on_exif_changed (GSettings *settings, const char *key, ClSession *self)
{
  cl_thumbnailer_set_apply_exif (self->thumbnailer, g_settings_get_boolean (settings, "exif-orientation"));
}

static void
on_thumbnail_size_changed (GSettings *settings, const char *key, ClSession *self)
{
  static const int sizes[] = { 96, 128, 192 };
  int which = CLAMP (g_settings_get_enum (settings, "thumbnail-size"), 0, 2);
  cl_thumbnailer_set_size (self->thumbnailer, sizes[which]);
}

/* ---------------------------------------------------------------- GObject */

static void
cl_session_dispose (GObject *object)
{
  ClSession *self = CL_SESSION (object);

  if (self->open_cancellable != NULL)
    g_cancellable_cancel (self->open_cancellable);
  g_clear_object (&self->open_cancellable);
  g_clear_object (&self->opening_root);
  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  g_clear_object (&self->selected_item);
  g_clear_object (&self->collection);
  g_hash_table_remove_all (self->indexes);
  G_OBJECT_CLASS (cl_session_parent_class)->dispose (object);
}

static void
cl_session_finalize (GObject *object)
{
  ClSession *self = CL_SESSION (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->worker);
  g_clear_object (&self->thumbnailer);
  cl_model_info_free (self->model_info);
  g_free (self->model_tokenizer);
  g_free (self->model_config);
  g_free (self->model_problem);
  g_hash_table_unref (self->indexes);
  g_hash_table_unref (self->trashed);
  G_OBJECT_CLASS (cl_session_parent_class)->finalize (object);
}

static void
cl_session_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClSession *self = CL_SESSION (object);

  switch (prop_id)
    {
    case PROP_COLLECTION:
      g_value_set_object (value, self->collection);
      break;
    case PROP_COLLECTION_LOADING:
      g_value_set_boolean (value, self->open_cancellable != NULL);
      break;
    case PROP_SELECTED_ITEM:
      g_value_set_object (value, self->selected_item);
      break;
    case PROP_MODEL_STATE:
      g_value_set_int (value, self->model_state);
      break;
    case PROP_MODEL_INFO:
      g_value_set_boxed (value, self->model_info);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_session_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  ClSession *self = CL_SESSION (object);

  switch (prop_id)
    {
    case PROP_SELECTED_ITEM:
      cl_session_set_selected_item (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_session_class_init (ClSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = cl_session_dispose;
  object_class->finalize = cl_session_finalize;
  object_class->get_property = cl_session_get_property;
  object_class->set_property = cl_session_set_property;

  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  properties[PROP_COLLECTION] = g_param_spec_object ("collection", NULL, NULL, CL_TYPE_COLLECTION, ro);
  properties[PROP_COLLECTION_LOADING] = g_param_spec_boolean ("collection-loading", NULL, NULL, FALSE, ro);
  properties[PROP_SELECTED_ITEM] = g_param_spec_object ("selected-item", NULL, NULL, CL_TYPE_IMAGE_ITEM,
                                                        G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
                                                        | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_MODEL_STATE] = g_param_spec_int ("model-state", NULL, NULL, CL_MODEL_STATE_NONE,
                                                   CL_MODEL_STATE_READY, CL_MODEL_STATE_NONE, ro);
  properties[PROP_MODEL_INFO] = g_param_spec_boxed ("model-info", NULL, NULL, CL_TYPE_MODEL_INFO, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_ERROR] = g_signal_new ("error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING,
                                        G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_TOAST] = g_signal_new ("toast", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_FILE);
  signals[SIGNAL_TRASHED_CHANGED] = g_signal_new ("trashed-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
cl_session_init (ClSession *self)
{
  self->indexes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) cl_search_index_unref);
  self->trashed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

ClSession *
cl_session_new (GSettings *settings, ClModelWorker *worker, ClThumbnailer *thumbnailer)
{
  ClSession *self = g_object_new (CL_TYPE_SESSION, NULL);

  self->settings = g_object_ref (settings);
  self->worker = g_object_ref (worker);
  self->thumbnailer = g_object_ref (thumbnailer);
  g_signal_connect (settings, "changed::threads", G_CALLBACK (on_threads_changed), self);
  g_signal_connect (settings, "changed::exif-orientation", G_CALLBACK (on_exif_changed), self);
  g_signal_connect (settings, "changed::precision", G_CALLBACK (on_precision_changed), self);
  g_signal_connect (settings, "changed::thumbnail-size", G_CALLBACK (on_thumbnail_size_changed), self);
  on_exif_changed (settings, NULL, self);
  on_thumbnail_size_changed (settings, NULL, self);
  return self;
}

GSettings *cl_session_get_settings (ClSession *self) { return self->settings; }
ClModelWorker *cl_session_get_worker (ClSession *self) { return self->worker; }
ClThumbnailer *cl_session_get_thumbnailer (ClSession *self) { return self->thumbnailer; }
ClCollection *cl_session_get_collection (ClSession *self) { return self->collection; }
gboolean cl_session_get_collection_loading (ClSession *self) { return self->open_cancellable != NULL; }
ClImageItem *cl_session_get_selected_item (ClSession *self) { return self->selected_item; }
ClModelState cl_session_get_model_state (ClSession *self) { return self->model_state; }
const char *cl_session_get_model_problem (ClSession *self) { return self->model_problem; }
guint cl_session_get_model_generation (ClSession *self) { return self->model_generation; }

const ClModelInfo *
cl_session_get_model_info (ClSession *self)
{
  return self->model_state == CL_MODEL_STATE_READY ? self->model_info : NULL;
}

gboolean
cl_session_get_apply_exif (ClSession *self)
{
  return g_settings_get_boolean (self->settings, "exif-orientation");
}

/* ---------------------------------------------------------------- search indexes */

static char *
index_key (const char *const *folders, gboolean apply_exif)
{
  g_autofree char *joined = g_strjoinv ("\n", (char **) folders);
  return g_strdup_printf ("%d\n%s", apply_exif ? 1 : 0, joined);
}

ClSearchIndex *
cl_session_get_index (ClSession *self, const char *const *folders)
{
  gboolean apply_exif = cl_session_get_apply_exif (self);
  g_autofree char *key = index_key (folders, apply_exif);
  ClSearchIndex *index = g_hash_table_lookup (self->indexes, key);

  if (index == NULL)
    {
      index = cl_search_index_new (self->worker, folders, apply_exif);
      g_hash_table_insert (self->indexes, g_steal_pointer (&key), index);
    }
  return cl_search_index_ref (index);
}

/* ---------------------------------------------------------------- errors */

void
cl_session_report_error (ClSession *self, const char *title, const char *detail,
                         const char *action_name, const char *action_label)
{
  g_signal_emit (self, signals[SIGNAL_ERROR], 0, title, detail, action_name, action_label);
}

void
cl_session_show_toast (ClSession *self, const char *message)
{
  g_signal_emit (self, signals[SIGNAL_TOAST], 0, message, NULL);
}

void
cl_session_show_file_toast (ClSession *self, const char *message, GFile *file)
{
  g_signal_emit (self, signals[SIGNAL_TOAST], 0, message, file);
}

/* Adds or removes FILE's path in the set of trashed paths; whether that changed it. */
static gboolean
update_trashed_path (ClSession *self, GFile *file, gboolean trashed)
{
  g_autofree char *path = g_file_get_path (file);

  if (path == NULL)
    return FALSE;
  return trashed ? g_hash_table_add (self->trashed, g_steal_pointer (&path)) : g_hash_table_remove (self->trashed, path);
}

void
cl_session_set_trashed (ClSession *self, GPtrArray *files, gboolean trashed)
{
  g_autoptr (GHashTable) wanted = g_hash_table_new (g_file_hash, (GEqualFunc) g_file_equal);
  guint n = self->collection != NULL ? cl_collection_get_n_items (self->collection) : 0;
  gboolean changed = FALSE;

  for (guint i = 0; i < files->len; i++)
    {
      g_hash_table_add (wanted, files->pdata[i]);
      changed |= update_trashed_path (self, files->pdata[i], trashed);
    }
  for (guint i = 0; i < n; i++)
    {
      ClImageItem *item = cl_collection_get_item (self->collection, i);
      if (cl_image_item_get_trashed (item) != trashed && g_hash_table_contains (wanted, cl_image_item_get_file (item)))
        {
          cl_image_item_set_trashed (item, trashed);
          changed = TRUE;
        }
    }
  if (!changed)
    return;
  g_signal_emit (self, signals[SIGNAL_TRASHED_CHANGED], 0);
  /* The preview moves on from a trashed image to the next one still there (or the one before). */
  if (self->selected_item != NULL && cl_image_item_get_trashed (self->selected_item))
    {
      guint at = cl_image_item_get_index (self->selected_item);
      ClImageItem *next = NULL;
      for (guint i = at; next == NULL && i < n; i++)
        if (!cl_image_item_get_trashed (cl_collection_get_item (self->collection, i)))
          next = cl_collection_get_item (self->collection, i);
      for (guint i = MIN (at, n); next == NULL && i-- > 0;)
        if (!cl_image_item_get_trashed (cl_collection_get_item (self->collection, i)))
          next = cl_collection_get_item (self->collection, i);
      cl_session_set_selected_item (self, next);
    }
}

gboolean
cl_session_is_trashed (ClSession *self, const char *path)
{
  /* A file put back by other means (a file manager's Restore) shows again wherever it is listed next. */
  return g_hash_table_contains (self->trashed, path) && !g_file_test (path, G_FILE_TEST_EXISTS);
}

/* ---------------------------------------------------------------- opening */

static void remember_image_root (ClSession *self, GFile *csv, GFile *root);

static void
open_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ClSession) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (ClCollection) collection = cl_collection_load_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->open_cancellable);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLLECTION_LOADING]);
  if (collection == NULL)
    {
      cl_session_report_error (self, _("Could not open the folder or data set"), error->message,
                               "win.open-folder", _("Open Another…"));
      return;
    }

  g_autofree char *path = g_file_get_path (cl_collection_get_file (collection));
  if (path != NULL)
    {
      g_settings_set_string (self->settings, "last-folder", path);
      settings_push_recent (self->settings, "recent-folders", path);
      if (cl_collection_get_kind (collection) == CL_COLLECTION_DATASET)
        remember_image_root (self, cl_collection_get_file (collection), self->opening_root);
    }

  cl_session_set_selected_item (self, NULL);
  cl_thumbnailer_clear (self->thumbnailer);
  /* The views take new indexes as they follow the collection. */
  g_hash_table_remove_all (self->indexes);
  g_set_object (&self->collection, collection);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLLECTION]);
  if (cl_collection_get_n_items (collection) > 0)
    cl_session_set_selected_item (self, cl_collection_get_item (collection, 0));
  if (cl_collection_get_warning (collection) != NULL)
    cl_session_report_error (self, _("Some rows of the data set were skipped"),
                             cl_collection_get_warning (collection), NULL, NULL);
}

/* A data set's image folder, remembered for the next time it is opened when it is not the CSV's own
 * folder (forgotten when it is). */
static void
remember_image_root (ClSession *self, GFile *csv, GFile *root)
{
  g_autoptr (GFile) csv_folder = g_file_get_parent (csv);
  g_autofree char *csv_path = g_file_get_path (csv);
  g_autofree char *root_path = root != NULL && !g_file_equal (root, csv_folder) ? g_file_get_path (root) : NULL;
  g_autoptr (GVariant) roots = g_settings_get_value (self->settings, "dataset-image-roots");
  g_autoptr (GVariantBuilder) kept = g_variant_builder_new (G_VARIANT_TYPE ("a{ss}"));
  GVariantIter iter;
  const char *key, *value;

  g_variant_iter_init (&iter, roots);
  while (g_variant_iter_next (&iter, "{&s&s}", &key, &value))
    if (g_strcmp0 (key, csv_path) != 0)
      g_variant_builder_add (kept, "{ss}", key, value);
  if (root_path != NULL)
    g_variant_builder_add (kept, "{ss}", csv_path, root_path);
  g_settings_set_value (self->settings, "dataset-image-roots", g_variant_builder_end (kept));
}

/* The image folder remembered for the data set FILE, or NULL. */
static GFile *
remembered_image_root (ClSession *self, GFile *file)
{
  g_autofree char *path = g_file_get_path (file);
  g_autoptr (GVariant) roots = g_settings_get_value (self->settings, "dataset-image-roots");
  const char *root = NULL;

  if (path == NULL || !g_variant_lookup (roots, path, "&s", &root))
    return NULL;
  return g_file_new_for_path (root);
}

void
cl_session_open (ClSession *self, GFile *file)
{
  cl_session_open_with_image_root (self, file, NULL);
}

void
cl_session_open_with_default_root (ClSession *self, GFile *file)
{
  remember_image_root (self, file, NULL);
  cl_session_open_with_image_root (self, file, NULL);
}

void
cl_session_open_with_image_root (ClSession *self, GFile *file, GFile *image_root)
{
  if (self->open_cancellable != NULL)
    g_cancellable_cancel (self->open_cancellable);
  g_clear_object (&self->open_cancellable);
  self->open_cancellable = g_cancellable_new ();
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLLECTION_LOADING]);
  g_clear_object (&self->opening_root);
  self->opening_root = image_root != NULL ? g_object_ref (image_root) : remembered_image_root (self, file);
  cl_collection_load_async (file, self->opening_root, self->open_cancellable, open_done, g_object_ref (self));
}

void
cl_session_set_selected_item (ClSession *self, ClImageItem *item)
{
  if (g_set_object (&self->selected_item, item))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED_ITEM]);
}

/* ---------------------------------------------------------------- model */

char *
cl_session_find_builtin_model (void)
{
  /* CLIPLAB_BUILTIN_MODEL, when set, is the only place looked at (tests rely on it). */
  const char *override = g_getenv ("CLIPLAB_BUILTIN_MODEL");
  const char *candidates[] = { CLIPLAB_BUILTIN_MODEL, CLIPLAB_SOURCE_BUILTIN_MODEL };

  if (override != NULL)
    return g_file_test (override, G_FILE_TEST_EXISTS) ? g_strdup (override) : NULL;
  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    if (g_file_test (candidates[i], G_FILE_TEST_EXISTS))
      return g_strdup (candidates[i]);
  return NULL;
}

static void
set_model_state (ClSession *self, ClModelState state)
{
  if (self->model_state == state)
    return;
  self->model_state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL_STATE]);
}

void
cl_session_set_no_model (ClSession *self, const char *problem)
{
  g_free (self->model_problem);
  self->model_problem = g_strdup (problem);
  if (self->model_info == NULL)
    {
      self->model_state = CL_MODEL_STATE_NONE;
      /* Even when the state stays NONE, the reason shown with it changed. */
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL_STATE]);
    }
}

typedef struct {
  gboolean remember;
  char *tokenizer;
  char *config;
} LoadRequest;

static void
load_request_free (LoadRequest *request)
{
  g_free (request->tokenizer);
  g_free (request->config);
  g_free (request);
}

static void
load_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  ClSession *self = g_task_get_source_object (task);
  LoadRequest *request = g_task_get_task_data (task);
  GError *error = NULL;
  ClModelInfo *info = cl_model_worker_load_finish (CL_MODEL_WORKER (source), result, &error);

  self->n_loads_pending--;
  if (info == NULL)
    {
      /* The worker kept the previous model, if any; without one, say why none is loaded. */
      if (self->model_info == NULL)
        {
          g_free (self->model_problem);
          self->model_problem = g_strdup (error->message);
        }
      set_model_state (self, self->model_info != NULL ? CL_MODEL_STATE_READY : CL_MODEL_STATE_NONE);
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        cl_session_report_error (self, _("Could not load the model"), error->message,
                                 "win.choose-model", _("Choose Another Model…"));
      g_task_return_error (task, error);
      return;
    }

  cl_model_info_free (self->model_info);
  self->model_info = info;
  g_free (self->model_tokenizer);
  g_free (self->model_config);
  self->model_tokenizer = g_strdup (request->tokenizer);
  self->model_config = g_strdup (request->config);
  self->model_generation++;
  g_hash_table_remove_all (self->indexes);
  g_clear_pointer (&self->model_problem, g_free);
  if (request->remember)
    {
      g_autofree char *builtin = cl_session_find_builtin_model ();
      gboolean is_builtin = builtin != NULL && g_strcmp0 (builtin, info->path) == 0;
      g_settings_set_string (self->settings, "model-path", is_builtin ? "" : info->path);
      g_settings_set_string (self->settings, "tokenizer-path", request->tokenizer != NULL ? request->tokenizer : "");
      g_settings_set_string (self->settings, "model-config-path", request->config != NULL ? request->config : "");
      if (!is_builtin)
        settings_push_recent (self->settings, "recent-models", info->path);
    }
  if (self->n_loads_pending == 0)
    set_model_state (self, CL_MODEL_STATE_READY);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL_INFO]);
  g_autofree char *builtin_path = cl_session_find_builtin_model ();
  if (g_strcmp0 (builtin_path, info->path) == 0)
    cl_session_show_toast (self, _("The built-in model knows coloured shapes and clothing only. For real photos, "
                                   "choose a pretrained CLIP with the model button."));
  g_task_return_boolean (task, TRUE);
}

void
cl_session_load_model (ClSession *self, const char *path, const char *tokenizer, const char *config,
                       gboolean remember, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  LoadRequest *request = g_new0 (LoadRequest, 1);

  request->remember = remember;
  request->tokenizer = (tokenizer != NULL && *tokenizer != '\0') ? g_strdup (tokenizer) : NULL;
  request->config = (config != NULL && *config != '\0') ? g_strdup (config) : NULL;
  g_task_set_task_data (task, request, (GDestroyNotify) load_request_free);
  self->n_loads_pending++;
  set_model_state (self, CL_MODEL_STATE_LOADING);
  ClipPrecision precision = CLIP_PRECISION_F32;
  g_autofree char *precision_name = g_settings_get_string (self->settings, "precision");
  clip_precision_from_name (precision_name, &precision);
  cl_model_worker_load_async (self->worker, path, request->tokenizer, request->config, precision, NULL, load_done,
                              task);
}

gboolean
cl_session_load_model_finish (ClSession *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
