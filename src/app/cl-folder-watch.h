/* cl-folder-watch.h — watches a folder and every folder under it, so that the search index follows
 * photos added, changed, removed or renamed without scanning the whole folder again.
 *
 * One GFileMonitor per folder (inotify watches one directory at a time), with
 * G_FILE_MONITOR_WATCH_MOVES so that a rename arrives as one event naming both paths.  The folders
 * are listed on a thread; folders created or moved in later are watched as they appear.  Events are
 * gathered and reported together once they settle (SETTLE_MS after the last one, at most MAX_WAIT_MS
 * after the first), as the "changed" signal with the paths relative to the folder.  Hidden names
 * are ignored, as the index ignores them.  Main thread only. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define CL_TYPE_FOLDER_WATCH (cl_folder_watch_get_type ())
G_DECLARE_FINAL_TYPE (ClFolderWatch, cl_folder_watch, CL, FOLDER_WATCH, GObject)

/* Starts watching FOLDER (absolute).  Signal "changed" (const char *const *paths): NULL-terminated,
 * sorted, each relative to FOLDER — a file or a folder that appeared, changed or disappeared. */
ClFolderWatch *cl_folder_watch_new (const char *folder);
const char    *cl_folder_watch_get_folder (ClFolderWatch *self);

G_END_DECLS
