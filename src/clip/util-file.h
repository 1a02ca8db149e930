/* util-file.h — internal: opening inputs safely, and writing files so that a crash leaves either the
 * old or the new version. */
#pragma once

#include "clip.h"

#include <stdint.h>
#include <sys/stat.h>

/* The error code for ERRNO: CLIP_ERROR_RESOURCES when the process ran out of descriptors or memory,
 * else OTHERWISE. */
ClipErrorCode clip_error_code_for_errno (int errno_value, ClipErrorCode otherwise);

/* Whether the process cannot open one more file right now: a library that failed without saying
 * why (gdk-pixbuf loading its format module, say) may have failed for that. */
gboolean clip_file_descriptors_exhausted (void);

typedef enum {
  CLIP_INPUT_DEFAULT = 0,
  CLIP_INPUT_MISSING_CODE = 1 << 0,  /* a path that does not exist is CLIP_ERROR_MISSING, not CLIP_ERROR_IO */
} ClipInputFlags;

/* Opens PATH for reading, once: without blocking (a named pipe or a device put where a file is
 * expected cannot hang the reader), then checks the open descriptor, which must be a regular file.
 * Returns the descriptor in blocking mode, with close-on-exec, and fills INFO (may be NULL); -1 with
 * an error naming PATH otherwise.  Every file the library reads is opened through here. */
int clip_file_open_input (const char *path, ClipInputFlags flags, struct stat *info, GError **error);

/* Reads the regular file PATH whole into *CONTENTS (NUL-terminated, length in *LENGTH), refusing
 * more than MAX_BYTES (under 4 GiB) with CLIP_ERROR_LIMIT. */
gboolean clip_file_read_contents (const char *path, ClipInputFlags flags, size_t max_bytes, char **contents,
                                  size_t *length, GError **error);

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
