/* index-scan.c — listing the files under a folder for the index.  Hidden names and excluded globs
 * are ignored; symbolic links are followed only when asked; folders and files are identified by
 * (device, inode), so a link loop, a second way into the same folder or a hard link is detected
 * instead of recursing forever or indexing a file twice; anything that is not a regular file is
 * reported, never opened. */
#include "index-private.h"

#include <dirent.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

/* The scan reports its progress every this many files. */
#define SCAN_PROGRESS_INTERVAL 256

typedef struct
{
  dev_t dev;
  ino_t ino;
} FileId;

static guint
file_id_hash (gconstpointer data)
{
  const FileId *id = data;
  return (guint) (id->ino ^ (id->ino >> 32) ^ ((guint64) id->dev * 0x9E3779B1u));
}

static gboolean
file_id_equal (gconstpointer a, gconstpointer b)
{
  const FileId *x = a, *y = b;
  return x->dev == y->dev && x->ino == y->ino;
}

static FileId *
file_id_new (const GStatBuf *st)
{
  FileId *id = g_new (FileId, 1);
  id->dev = st->st_dev;
  id->ino = st->st_ino;
  return id;
}

typedef struct
{
  guint    index;                       /* in the scan's files */
  gboolean via_link;
} SeenFile;

typedef struct
{
  const char             *folder;
  const ClipIndexOptions *options;
  GPtrArray              *patterns;   /* GPatternSpec * */
  GHashTable             *dirs;       /* FileId * → relative path of the first way in */
  GHashTable             *files;      /* FileId * → SeenFile * */
  gboolean                has_ignored;
  FileId                  ignored;    /* the index cache folder: never entered, never reported */
  ClipIndexScan          *scan;
} Walker;

ClipIndexSkip *
clip_index_skip_new (const char *path, const char *reason, const char *same_as)
{
  ClipIndexSkip *skip = g_new (ClipIndexSkip, 1);
  skip->path = g_strdup (path);
  skip->reason = g_strdup (reason);
  skip->same_as = g_strdup (same_as);
  return skip;
}

void
clip_index_skip_free (ClipIndexSkip *skip)
{
  if (skip == NULL)
    return;
  g_free (skip->path);
  g_free (skip->reason);
  g_free (skip->same_as);
  g_free (skip);
}

static void
walker_skip (Walker *w, const char *path, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
walker_skip (Walker *w, const char *path, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_ptr_array_add (w->scan->skipped, clip_index_skip_new (path, reason, NULL));
}

static gboolean
walker_excluded (const Walker *w, const char *path, const char *name)
{
  for (guint i = 0; i < w->patterns->len; i++)
    {
      GPatternSpec *spec = g_ptr_array_index (w->patterns, i);
      if (g_pattern_spec_match_string (spec, path) || g_pattern_spec_match_string (spec, name))
        return TRUE;
    }
  return FALSE;
}

static const char *
file_type_name (mode_t mode)
{
  if (S_ISFIFO (mode))
    return "a named pipe";
  if (S_ISSOCK (mode))
    return "a socket";
  if (S_ISCHR (mode) || S_ISBLK (mode))
    return "a device";
  return "not a regular file";
}

/* PREFIX is PATH itself or one of its ancestors ("" is the scanned folder). */
static gboolean
path_is_within (const char *path, const char *prefix)
{
  size_t n = strlen (prefix);
  return n == 0 || (strncmp (path, prefix, n) == 0 && (path[n] == '/' || path[n] == '\0'));
}

/* Looks at one directory entry; new folders go to SUBDIRS. */
static void
walker_visit (Walker *w, const char *path, const char *name, GPtrArray *subdirs)
{
  g_autofree char *full = g_build_filename (w->folder, path, NULL);
  GStatBuf st;
  if (g_lstat (full, &st) != 0)
    {
      int saved = errno;
      if (saved != ENOENT)  /* ENOENT: deleted since it was listed */
        walker_skip (w, path, "%s", g_strerror (saved));
      return;
    }
  gboolean is_link = S_ISLNK (st.st_mode);
  if (is_link)
    {
      if (!w->options->follow_symlinks)
        {
          walker_skip (w, path, "symbolic link, not followed");
          return;
        }
      if (g_stat (full, &st) != 0)
        {
          int saved = errno;
          if (saved == ELOOP)
            walker_skip (w, path, "symbolic link loop");
          else
            walker_skip (w, path, "broken symbolic link: %s", g_strerror (saved));
          return;
        }
    }

  FileId id = { st.st_dev, st.st_ino };
  if (S_ISDIR (st.st_mode))
    {
      if (w->has_ignored && file_id_equal (&id, &w->ignored))
        return;
      const char *first = g_hash_table_lookup (w->dirs, &id);
      if (first != NULL)
        {
          g_autofree char *display = g_filename_display_name (first[0] != '\0' ? first : ".");
          if (path_is_within (path, first))
            walker_skip (w, path, "symbolic link loop: leads back to '%s'", display);
          else
            walker_skip (w, path, "the same folder as '%s', already indexed", display);
          return;
        }
      g_hash_table_insert (w->dirs, file_id_new (&st), g_strdup (path));
      g_ptr_array_add (subdirs, g_strdup (path));
      return;
    }
  if (!S_ISREG (st.st_mode))
    {
      walker_skip (w, path, "%s", file_type_name (st.st_mode));
      return;
    }

  /* A file reached twice is indexed once, under its own name rather than a link's. */
  SeenFile *seen = g_hash_table_lookup (w->files, &id);
  if (seen != NULL)
    {
      ClipIndexScanFile *first = &g_array_index (w->scan->files, ClipIndexScanFile, seen->index);
      const char *skipped = path, *kept = first->path;
      gboolean skipped_is_link = is_link;
      if (seen->via_link && !is_link)
        {
          skipped = first->path;
          kept = path;
          skipped_is_link = TRUE;
        }
      g_autofree char *display = g_filename_display_name (kept);
      g_autofree char *reason = g_strdup_printf ("the same file as '%s' (%s)", display,
                                                 skipped_is_link ? "symbolic link" : "hard link");
      g_ptr_array_add (w->scan->skipped, clip_index_skip_new (skipped, reason, kept));
      if (kept == path)
        {
          g_free (first->path);
          first->path = g_strdup (path);
          seen->via_link = FALSE;
        }
      return;
    }
  seen = g_new (SeenFile, 1);
  seen->index = w->scan->files->len;
  seen->via_link = is_link;
  g_hash_table_insert (w->files, file_id_new (&st), seen);
  ClipIndexScanFile file = {
    .path = g_strdup (path),
    .size = (uint64_t) st.st_size,
    .mtime_ns = (int64_t) st.st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_mtim.tv_nsec,
  };
  g_array_append_val (w->scan->files, file);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static int
compare_scan_files (gconstpointer a, gconstpointer b)
{
  return strcmp (((const ClipIndexScanFile *) a)->path, ((const ClipIndexScanFile *) b)->path);
}

static void
scan_file_clear (gpointer data)
{
  g_free (((ClipIndexScanFile *) data)->path);
}

/* Lists the folder PATH ("" = the scanned folder) into the scan and its new subfolders onto STACK. */
static gboolean
walker_read_dir (Walker *w, const char *path, GPtrArray *stack, GError **error)
{
  g_autofree char *full = path[0] != '\0' ? g_build_filename (w->folder, path, NULL) : g_strdup (w->folder);
  DIR *dir = opendir (full);
  if (dir == NULL)
    {
      int saved = errno;
      if (path[0] == '\0')
        {
          g_autofree char *display = g_filename_display_name (w->folder);
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", display, g_strerror (saved));
          return FALSE;
        }
      walker_skip (w, path, "cannot open the folder: %s", g_strerror (saved));
      return TRUE;
    }

  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  struct dirent *item;
  while ((item = readdir (dir)) != NULL)
    {
      name = item->d_name;
      if (g_str_equal (name, ".") || g_str_equal (name, ".."))
        continue;
      if (w->options->include_hidden || name[0] != '.')
        g_ptr_array_add (names, g_strdup (name));
    }
  closedir (dir);
  g_ptr_array_sort (names, compare_strings);

  g_autoptr (GPtrArray) subdirs = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < names->len; i++)
    {
      name = g_ptr_array_index (names, i);
      g_autofree char *child = path[0] != '\0' ? g_strconcat (path, "/", name, NULL) : g_strdup (name);
      if (walker_excluded (w, child, name))
        continue;
      if (strlen (child) > CLIP_INDEX_MAX_PATH)
        {
          walker_skip (w, child, "path longer than %d bytes", CLIP_INDEX_MAX_PATH);
          continue;
        }
      walker_visit (w, child, name, subdirs);
    }
  /* Depth first, in name order: the last pushed is read first. */
  for (guint i = subdirs->len; i > 0; i--)
    g_ptr_array_add (stack, g_strdup (g_ptr_array_index (subdirs, i - 1)));
  return TRUE;
}

/* Whether PATH (relative) may be indexed at all: no hidden component unless asked, no excluded one. */
static gboolean
walker_path_allowed (const Walker *w, const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  GString *prefix = g_string_new (NULL);
  gboolean allowed = TRUE;
  for (int i = 0; allowed && parts[i] != NULL; i++)
    {
      g_string_append_printf (prefix, "%s%s", i > 0 ? "/" : "", parts[i]);
      allowed = (w->options->include_hidden || parts[i][0] != '.') && !walker_excluded (w, prefix->str, parts[i]);
    }
  g_string_free (prefix, TRUE);
  return allowed;
}

gboolean
clip_index_scan (const char *folder, const ClipIndexOptions *options, const char *ignore_dir,
                 ClipIndexScanFunc func, gpointer user_data, ClipIndexScan *scan, GError **error)
{
  return clip_index_scan_paths (folder, options, ignore_dir, NULL, func, user_data, scan, error);
}

gboolean
clip_index_scan_paths (const char *folder, const ClipIndexOptions *options, const char *ignore_dir,
                       const char *const *paths, ClipIndexScanFunc func, gpointer user_data, ClipIndexScan *scan,
                       GError **error)
{
  scan->files = g_array_new (FALSE, FALSE, sizeof (ClipIndexScanFile));
  g_array_set_clear_func (scan->files, scan_file_clear);
  scan->skipped = g_ptr_array_new_with_free_func ((GDestroyNotify) clip_index_skip_free);

  GStatBuf st;
  gboolean found = g_stat (folder, &st) == 0;
  int saved = errno;
  if (!found || !S_ISDIR (st.st_mode))
    {
      g_autofree char *display = g_filename_display_name (folder);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", display,
                   found ? "not a folder" : g_strerror (saved));
      return FALSE;
    }

  Walker w = {
    .folder = folder,
    .options = options,
    .patterns = g_ptr_array_new_with_free_func ((GDestroyNotify) g_pattern_spec_free),
    .dirs = g_hash_table_new_full (file_id_hash, file_id_equal, g_free, g_free),
    .files = g_hash_table_new_full (file_id_hash, file_id_equal, g_free, g_free),
    .scan = scan,
  };
  for (const char *const *p = options->exclude; p != NULL && *p != NULL; p++)
    g_ptr_array_add (w.patterns, g_pattern_spec_new (*p));
  g_hash_table_insert (w.dirs, file_id_new (&st), g_strdup (""));
  GStatBuf ignored;
  if (ignore_dir != NULL && g_stat (ignore_dir, &ignored) == 0)
    {
      w.has_ignored = TRUE;
      w.ignored = (FileId) { ignored.st_dev, ignored.st_ino };
    }

  g_autoptr (GPtrArray) stack = g_ptr_array_new_with_free_func (g_free);
  if (paths == NULL)
    g_ptr_array_add (stack, g_strdup (""));
  /* Only these: each a file (or nothing, when it is gone) or a folder walked as the whole one is. */
  g_autofree char *ignore_prefix = ignore_dir != NULL ? g_strconcat (ignore_dir, "/", NULL) : NULL;
  for (const char *const *p = paths; p != NULL && *p != NULL; p++)
    {
      /* The index's own files, when its cache lies inside the folder, are never looked at. */
      g_autofree char *full = g_build_filename (folder, *p, NULL);
      if (!walker_path_allowed (&w, *p) || (ignore_prefix != NULL && g_str_has_prefix (full, ignore_prefix)))
        continue;
      g_autofree char *name = g_path_get_basename (*p);
      g_autoptr (GPtrArray) subdirs = g_ptr_array_new_with_free_func (g_free);
      walker_visit (&w, *p, name, subdirs);
      for (guint i = 0; i < subdirs->len; i++)
        g_ptr_array_add (stack, g_strdup (g_ptr_array_index (subdirs, i)));
    }
  gboolean ok = TRUE;
  guint reported = 0;
  while (ok && stack->len > 0)
    {
      g_autofree char *path = g_ptr_array_steal_index (stack, stack->len - 1);
      ok = walker_read_dir (&w, path, stack, error);
      if (ok && func != NULL && scan->files->len / SCAN_PROGRESS_INTERVAL != reported)
        {
          reported = scan->files->len / SCAN_PROGRESS_INTERVAL;
          if (func (scan->files->len, user_data))
            {
              g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_ABORTED, "Cancelled");
              ok = FALSE;
            }
        }
    }

  g_ptr_array_unref (w.patterns);
  g_hash_table_unref (w.dirs);
  g_hash_table_unref (w.files);
  if (!ok)
    {
      clip_index_scan_clear (scan);
      return FALSE;
    }
  g_array_sort (scan->files, compare_scan_files);
  return TRUE;
}

void
clip_index_scan_clear (ClipIndexScan *scan)
{
  g_clear_pointer (&scan->files, g_array_unref);
  g_clear_pointer (&scan->skipped, g_ptr_array_unref);
}
