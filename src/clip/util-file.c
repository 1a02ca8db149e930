/* util-file.c — the one way the library opens its inputs, and atomic, durable file replacement
 * shared by the checkpoint writer and the index. */
#include "util-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

ClipErrorCode
clip_error_code_for_errno (int errno_value, ClipErrorCode otherwise)
{
  return errno_value == EMFILE || errno_value == ENFILE || errno_value == ENOMEM ? CLIP_ERROR_RESOURCES : otherwise;
}

gboolean
clip_file_descriptors_exhausted (void)
{
  int probe = g_open ("/dev/null", O_RDONLY | O_CLOEXEC, 0);
  int saved = errno;
  if (probe >= 0)
    close (probe);
  return probe < 0 && (saved == EMFILE || saved == ENFILE);
}

static const char *
describe_file_type (mode_t mode)
{
  if (S_ISFIFO (mode))
    return "a named pipe";
  if (S_ISCHR (mode) || S_ISBLK (mode))
    return "a device";
  if (S_ISSOCK (mode))
    return "a socket";
  if (S_ISDIR (mode))
    return "a directory";
  return "a special file";
}

int
clip_file_open_input (const char *path, ClipInputFlags flags, struct stat *info, GError **error)
{
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0);
  if (fd < 0)
    {
      int saved = errno;
      gboolean missing = saved == ENOENT && (flags & CLIP_INPUT_MISSING_CODE);
      g_set_error (error, CLIP_ERROR, missing ? CLIP_ERROR_MISSING : clip_error_code_for_errno (saved, CLIP_ERROR_IO),
                   "%s: cannot open: %s", path, g_strerror (saved));
      return -1;
    }
  struct stat st;
  if (fstat (fd, &st) != 0)
    {
      int saved = errno;
      close (fd);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot stat: %s", path, g_strerror (saved));
      return -1;
    }
  if (!S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: not a regular file but %s", path,
                   describe_file_type (st.st_mode));
      return -1;
    }
  int status_flags = fcntl (fd, F_GETFL);
  if (status_flags < 0 || fcntl (fd, F_SETFL, status_flags & ~O_NONBLOCK) != 0)
    {
      int saved = errno;
      close (fd);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot read: %s", path, g_strerror (saved));
      return -1;
    }
  if (info != NULL)
    *info = st;
  return fd;
}

int
clip_open_input_file (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, -1);
  return clip_file_open_input (path, CLIP_INPUT_DEFAULT, NULL, error);
}

gboolean
clip_file_read_contents (const char *path, ClipInputFlags flags, size_t max_bytes, char **contents, size_t *length,
                         GError **error)
{
  struct stat st;
  int fd = clip_file_open_input (path, flags, &st, error);
  if (fd < 0)
    return FALSE;
  if ((uint64_t) st.st_size > max_bytes)
    {
      close (fd);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: %" G_GUINT64_FORMAT " bytes is more than the "
                   "%" G_GSIZE_FORMAT " (%.0f MiB) allowed for this file", path, (guint64) st.st_size, max_bytes,
                   max_bytes / 1048576.0);
      return FALSE;
    }
  /* The size may change while the file is read: read until the end, within the limit. */
  GByteArray *data = g_byte_array_sized_new ((guint) st.st_size + 1);
  uint8_t chunk[1 << 16];
  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 || (size_t) n > max_bytes - data->len)
        {
          int saved = errno;
          close (fd);
          g_byte_array_unref (data);
          if (n < 0)
            g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot read: %s", path, g_strerror (saved));
          else
            g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: more than the %" G_GSIZE_FORMAT
                         " (%.0f MiB) allowed for this file", path, max_bytes, max_bytes / 1048576.0);
          return FALSE;
        }
      if (n == 0)
        break;
      g_byte_array_append (data, chunk, (guint) n);
    }
  close (fd);
  *length = data->len;
  g_byte_array_append (data, (const guint8 *) "", 1);
  *contents = (char *) g_byte_array_free (data, FALSE);
  return TRUE;
}

gboolean
clip_file_write_all (int fd, const void *data, size_t len, const char *path, GError **error)
{
  const uint8_t *p = data;
  while (len > 0)
    {
      ssize_t n = write (fd, p, MIN (len, (size_t) 1 << 30));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = n < 0 ? errno : ENOSPC;  /* a regular file writing nothing is out of space */
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot write: %s", path, g_strerror (saved));
          return FALSE;
        }
      p += n;
      len -= (size_t) n;
    }
  return TRUE;
}

gboolean
clip_file_sync_directory_of (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot open the directory to sync it: %s",
                   path, g_strerror (saved));
      return FALSE;
    }
  /* Some file systems cannot sync a directory; there is nothing more to do on those. */
  int rc = fsync (fd);
  int saved = errno;
  close (fd);
  if (rc != 0 && saved != EINVAL && saved != ENOTSUP)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot sync the directory: %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
fill_and_sync (int fd, const char *path, uint64_t reserve, ClipFileWriteFunc write_func,
               gpointer user_data, GError **error)
{
  if (reserve > 0)
    {
      int rc = posix_fallocate (fd, 0, (off_t) reserve);
      if (rc != 0 && rc != EINVAL && rc != EOPNOTSUPP)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot reserve %" G_GUINT64_FORMAT " bytes: %s",
                       path, (guint64) reserve, g_strerror (rc));
          return FALSE;
        }
    }
  if (!write_func (fd, path, user_data, error))
    return FALSE;
  /* A failed fsync leaves the page cache in an unknown state: the file is never trusted then. */
  if (fsync (fd) != 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot sync: %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* An unnamed file in PATH's folder (O_TMPFILE): a process killed while it is written (a signal, a
 * file-size limit) leaves nothing behind.  -1 where the file system has no unnamed files. */
static int
open_unnamed_beside (const char *path)
{
#ifdef O_TMPFILE
  g_autofree char *dir = g_path_get_dirname (path);
  return g_open (dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
#else
  return -1;
#endif
}

/* Gives the unnamed file FD a temporary name beside PATH (the same "PATH.XXXXXX" form as mkstemp's),
 * returned in *TMP_PATH; only the rename that follows leaves it visible under that name. */
static gboolean
link_unnamed (int fd, const char *path, char **tmp_path, GError **error)
{
  g_autofree char *proc_path = g_strdup_printf ("/proc/self/fd/%d", fd);
  int saved = EEXIST;
  for (int attempt = 0; attempt < 100 && saved == EEXIST; attempt++)
    {
      g_autofree char *candidate = g_strdup_printf ("%s.%06" G_GINT32_MODIFIER "x", path,
                                                    g_random_int () & 0xffffff);
      if (linkat (AT_FDCWD, proc_path, AT_FDCWD, candidate, AT_SYMLINK_FOLLOW) == 0)
        {
          *tmp_path = g_steal_pointer (&candidate);
          return TRUE;
        }
      saved = errno;
    }
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot name the new file: %s", path, g_strerror (saved));
  return FALSE;
}

gboolean
clip_file_replace (const char *path, uint64_t reserve, ClipFileWriteFunc write_func, gpointer user_data,
                   GError **error)
{
  g_return_val_if_fail (path != NULL && write_func != NULL, FALSE);

  g_autofree char *tmp_path = NULL;
  int fd = open_unnamed_beside (path);
  gboolean unnamed = fd >= 0;
  if (!unnamed)
    {
      tmp_path = g_strconcat (path, ".XXXXXX", NULL);
      fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0666);
    }
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot create a temporary file beside it: %s",
                   path, g_strerror (saved));
      return FALSE;
    }
  gboolean ok = fill_and_sync (fd, path, reserve, write_func, user_data, error);
  if (ok && unnamed)
    ok = link_unnamed (fd, path, &tmp_path, error);
  if (close (fd) != 0 && ok)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot close: %s", path, g_strerror (saved));
      ok = FALSE;
    }
  if (ok && g_rename (tmp_path, path) != 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot replace: %s", path, g_strerror (saved));
      ok = FALSE;
    }
  if (!ok)
    {
      if (tmp_path != NULL)
        g_unlink (tmp_path);
      return FALSE;
    }
  return clip_file_sync_directory_of (path, error);
}
