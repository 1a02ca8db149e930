/* util-file.h — internal: writing files so that a crash leaves either the old or the new version. */
#pragma once

#include "clip.h"

#include <stdint.h>

/* Writes LEN bytes at the file position, retrying short writes and EINTR; errors name PATH. */
gboolean clip_file_write_all (int fd, const void *data, size_t len, const char *path, GError **error);

/* fsync of the folder holding PATH, which makes a rename or a new file in it durable. */
gboolean clip_file_sync_directory_of (const char *path, GError **error);

/* Fills the temporary file FD; errors name PATH. */
typedef gboolean (*ClipFileWriteFunc) (int fd, const char *path, gpointer user_data, GError **error);

/* Replaces PATH: a temporary file beside it gets RESERVE bytes (0 = no reservation, so a full disk is
 * reported before anything is written), is filled by WRITE, synced, renamed over PATH, and the
 * folder is synced.  PATH is then either the old file or the complete new one; on failure the
 * temporary file is removed and PATH is untouched. */
gboolean clip_file_replace (const char *path, uint64_t reserve, ClipFileWriteFunc write,
                            gpointer user_data, GError **error);
