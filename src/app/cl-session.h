/* cl-session.h — what the views of a window share: the open folder or data set, the selected image,
 * the model (through the worker), the thumbnailer and the settings.
 *
 * Views are separate classes that take a ClSession; they follow its properties ("collection",
 * "selected-item", "model-info", "model-state") and report problems with cl_session_report_error (),
 * which the window shows in its message bar. */
#pragma once

#include <gio/gio.h>

#include "cl-collection.h"
#include "cl-model-info.h"
#include "cl-model-worker.h"
#include "cl-search-index.h"
#include "cl-thumbnailer.h"

G_BEGIN_DECLS

typedef enum {
  CL_MODEL_STATE_NONE,     /* nothing loaded: see cl_session_get_model_problem () */
  CL_MODEL_STATE_LOADING,
  CL_MODEL_STATE_READY,
} ClModelState;

#define CL_TYPE_SESSION (cl_session_get_type ())
G_DECLARE_FINAL_TYPE (ClSession, cl_session, CL, SESSION, GObject)

ClSession     *cl_session_new (GSettings *settings, ClModelWorker *worker, ClThumbnailer *thumbnailer);

GSettings     *cl_session_get_settings (ClSession *self);
ClModelWorker *cl_session_get_worker (ClSession *self);
ClThumbnailer *cl_session_get_thumbnailer (ClSession *self);
gboolean       cl_session_get_apply_exif (ClSession *self);

/* ---------------------------------------------------------------- folder or data set */

/* Opens a folder or a CSV data set; remembered as the last and a recent one on success.  A data set's
 * relative image paths start from the folder it was last opened with (the "dataset-image-roots"
 * setting), else from the CSV's folder. */
void          cl_session_open (ClSession *self, GFile *file);
/* The same with IMAGE_ROOT as the start of a data set's relative image paths (NULL: as above); it is
 * remembered for the next time. */
void          cl_session_open_with_image_root (ClSession *self, GFile *file, GFile *image_root);
/* The same with the image paths where the data set's format puts them (a CSV's or Karpathy JSON's
 * folder, ../NAME beside COCO's annotations folder), forgetting a folder chosen for it before. */
void          cl_session_open_with_default_root (ClSession *self, GFile *file);
gboolean      cl_session_get_collection_loading (ClSession *self);
ClCollection *cl_session_get_collection (ClSession *self);
ClImageItem  *cl_session_get_selected_item (ClSession *self);
void          cl_session_set_selected_item (ClSession *self, ClImageItem *item);

/* ---------------------------------------------------------------- model */

/* Loads a model; on success it is remembered (unless REMEMBER is FALSE) and "model-info" changes;
 * on failure the previous model stays and the error is reported.  CALLBACK (may be NULL) gets the
 * outcome through cl_session_load_model_finish (). */
void      cl_session_load_model (ClSession *self, const char *path, const char *tokenizer,
                                 const char *config, gboolean remember, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean  cl_session_load_model_finish (ClSession *self, GAsyncResult *result, GError **error);

/* Marks that no model could be chosen at start-up, with a sentence saying why. */
void               cl_session_set_no_model (ClSession *self, const char *problem);
ClModelState       cl_session_get_model_state (ClSession *self);
const ClModelInfo *cl_session_get_model_info (ClSession *self);   /* NULL unless READY */
const char        *cl_session_get_model_problem (ClSession *self);
/* Changes with every model loaded: results computed under another generation are stale. */
guint              cl_session_get_model_generation (ClSession *self);

/* The built-in model's path when it is installed, else NULL. */
char *cl_session_find_builtin_model (void);

/* ---------------------------------------------------------------- search indexes */

/* The search index of FOLDERS (NULL-terminated, absolute) for the loaded model and the EXIF setting,
 * shared by every view that asks while the collection and the model stay (a new reference): its
 * updates are joined rather than run twice.  Free with cl_search_index_unref. */
ClSearchIndex *cl_session_get_index (ClSession *self, const char *const *folders);

/* ---------------------------------------------------------------- errors */

/* Emits "error" (title, detail, action name or NULL, action label or NULL): the window shows it. */
void cl_session_report_error (ClSession *self, const char *title, const char *detail,
                              const char *action_name, const char *action_label);
/* Emits "toast" (message): a short confirmation the window shows for a few seconds. */
void cl_session_show_toast (ClSession *self, const char *message);
/* The same about FILE, which the toast offers to open or show in the file manager: "toast" (message,
 * file) carries it (NULL for the others). */
void cl_session_show_file_toast (ClSession *self, const char *message, GFile *file);

/* FILES (GFile) were moved to the trash (TRASHED) or restored from it: their paths are remembered
 * (cl_session_is_trashed), the collection's images of these files are marked
 * (cl_image_item_set_trashed), and signal "trashed-changed" tells the views, each of which hides the
 * trashed images wherever it lists them (Browse, Classify, Search, the Map, Clean Up) and shows
 * them again once restored; a trashed selected image gives its place to the next one. */
void     cl_session_set_trashed (ClSession *self, GPtrArray *files, gboolean trashed);
/* Whether the image at PATH (absolute) was moved to the trash from this window and is not back. */
gboolean cl_session_is_trashed (ClSession *self, const char *path);

G_END_DECLS
