/* cl-trash.h — moving images to the trash, and taking them back out.
 *
 * Usage:
 *
 *   cl_trash_files_async (files, cancellable, trashed, self);       // on a worker
 *   …in trashed ():
 *   ClTrashRecord *record = cl_trash_files_finish (result, &error);  // NULL: nothing was trashed
 *   cl_trash_show_undo_toast (window, record);                       // "Moved 2 items to Trash — Undo"
 *
 * or, without the toast, cl_trash_restore_async (record, …) puts every file back at its original
 * path.  A file's place in the trash is found again by its original path and its deletion date
 * (the trash:/// location's trash::orig-path and trash::deletion-date), so a file trashed earlier
 * from the same path is left where it is.  Call these from the main thread; the work runs on a
 * worker thread. */
#pragma once

#include <gio/gio.h>

#include "cl-window.h"

G_BEGIN_DECLS

/* What one call moved to the trash: enough to restore it.  Immutable once returned. */
typedef struct _ClTrashRecord ClTrashRecord;

/* Moves FILES (a GPtrArray of GFile) to the trash with g_file_trash, one after the other, stopping
 * at the first that cannot be (the ones before it stay trashed and are in the record). */
void           cl_trash_files_async (GPtrArray *files, GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
/* The record of what was trashed, or NULL with ERROR when nothing was (the error names the file).
 * When only some were trashed, the record holds them and cl_trash_record_get_failure () says why
 * the rest were not. */
ClTrashRecord *cl_trash_files_finish (GAsyncResult *result, GError **error);

/* Puts each file of RECORD back at its original path, on a worker.  A file whose original path is
 * taken again is left in the trash, and the error names that path; the others are restored. */
void           cl_trash_restore_async (ClTrashRecord *record, GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data);
gboolean       cl_trash_restore_finish (GAsyncResult *result, GError **error);

/* The files trashed (at their original paths), in the order given; owned by RECORD. */
GPtrArray     *cl_trash_record_get_files (ClTrashRecord *record);
/* Why the files after these were not trashed, or NULL when all were. */
const GError  *cl_trash_record_get_failure (ClTrashRecord *record);
void           cl_trash_record_free (ClTrashRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClTrashRecord, cl_trash_record_free)

/* WINDOW's toast "Moved N items to Trash" with an Undo button that restores them; it takes
 * RECORD.  The session's views hide the trashed images, and show them again once restored
 * (cl_session_set_trashed).  A partial failure is shown as the window's error; so is a failed undo. */
void           cl_trash_show_undo_toast (ClWindow *window, ClTrashRecord *record);

G_END_DECLS
