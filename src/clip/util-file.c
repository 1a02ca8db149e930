/* util-file.c — atomic, durable file replacement shared by the checkpoint writer and the index. */
#include "util-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

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

gboolean
clip_file_replace (const char *path, uint64_t reserve, ClipFileWriteFunc write_func, gpointer user_data,
                   GError **error)
{
  g_return_val_if_fail (path != NULL && write_func != NULL, FALSE);

  g_autofree char *tmp_path = g_strconcat (path, ".XXXXXX", NULL);
  int fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot create a temporary file beside it: %s",
                   path, g_strerror (saved));
      return FALSE;
    }
  gboolean ok = fill_and_sync (fd, path, reserve, write_func, user_data, error);
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
      g_unlink (tmp_path);
      return FALSE;
    }
  return clip_file_sync_directory_of (path, error);
}
