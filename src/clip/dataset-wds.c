/* dataset-wds.c — WebDataset shards as CLIP_benchmark stores its data sets:
 *
 *   ROOT/classnames.txt                          one class name a line (classification)
 *   ROOT/zeroshot_classification_templates.txt   one template a line, {c} where the class goes
 *   ROOT/SPLIT/nshards.txt                       the number N of shards
 *   ROOT/SPLIT/0.tar … ROOT/SPLIT/N-1.tar        samples: KEY.jpg|png|webp with KEY.cls or KEY.txt
 *
 * Shards may be compressed (N.tar.gz, N.tgz, N.tar.xz, N.tar.zst, N.tar.bz2: whatever libarchive's
 * filters read, still streaming), and instead of the split folder PATH may name the shards with a
 * brace pattern as WebDataset URLs do (ROOT/SPLIT/{0..N-1}.tar.gz, shard-{000..099}.tar).
 *
 * A sample's members share KEY, the member path up to the first dot of its file name (WebDataset's
 * rule).  The tars are read with libarchive, streaming: opening reads the small .cls and .txt members
 * and skips over the images; decoding streams each shard once more and decodes its images from
 * memory.  Nothing is unpacked to disk.
 *
 * libarchive is loaded when the first shard is read, not linked: Debian's brings libxml2 and ICU
 * (some 40 MB of mappings), which a process under a low address-space limit (ulimit -v) could not
 * even start with, whether or not it reads shards. */
#include "dataset-private.h"
#include "index-private.h"
#include "image-private.h"
#include "util-file.h"

#include <archive.h>
#include <archive_entry.h>
#include <gmodule.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WDS_MAX_SHARDS        100000
#define WDS_MAX_TEXT_BYTES    ((gsize) 1 << 20)     /* a .txt or .cls member, classnames.txt */
#define WDS_MAX_IMAGE_BYTES   ((int64_t) 256 << 20) /* an image member */
#define WDS_READ_BLOCK        65536
#define WDS_DEFAULT_SPLIT     "test"
#define WDS_TEMPLATES_FILE    "zeroshot_classification_templates.txt"

/* The libarchive calls used here, looked up in the library loaded at run time. */
static struct {
  __typeof__ (archive_read_new)                *read_new;
  __typeof__ (archive_read_support_format_tar) *read_support_format_tar;
  __typeof__ (archive_read_support_filter_all) *read_support_filter_all;
  __typeof__ (archive_read_open_fd)            *read_open_fd;
  __typeof__ (archive_read_next_header)        *read_next_header;
  __typeof__ (archive_read_data)               *read_data;
  __typeof__ (archive_read_data_skip)          *read_data_skip;
  __typeof__ (archive_read_free)               *read_free;
  __typeof__ (archive_error_string)            *error_string;
  __typeof__ (archive_entry_pathname)          *entry_pathname;
  __typeof__ (archive_entry_filetype)          *entry_filetype;
  __typeof__ (archive_read_header_position)    *read_header_position;
  __typeof__ (archive_filter_code)             *filter_code;
} la;

static char *la_load_error;  /* why loading failed, or NULL */

static gpointer
la_load (gpointer unused)
{
  GModule *module = g_module_open (CLIP_LIBARCHIVE_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  if (module == NULL)
    {
      la_load_error = g_strdup_printf ("WebDataset shards need libarchive (%s): %s", CLIP_LIBARCHIVE_SONAME,
                                       g_module_error ());
      return NULL;
    }
  const struct { const char *name; gpointer *slot; } symbols[] = {
    { "archive_read_new", (gpointer *) &la.read_new },
    { "archive_read_support_format_tar", (gpointer *) &la.read_support_format_tar },
    { "archive_read_support_filter_all", (gpointer *) &la.read_support_filter_all },
    { "archive_read_open_fd", (gpointer *) &la.read_open_fd },
    { "archive_read_next_header", (gpointer *) &la.read_next_header },
    { "archive_read_data", (gpointer *) &la.read_data },
    { "archive_read_data_skip", (gpointer *) &la.read_data_skip },
    { "archive_read_free", (gpointer *) &la.read_free },
    { "archive_error_string", (gpointer *) &la.error_string },
    { "archive_entry_pathname", (gpointer *) &la.entry_pathname },
    { "archive_entry_filetype", (gpointer *) &la.entry_filetype },
    { "archive_read_header_position", (gpointer *) &la.read_header_position },
    { "archive_filter_code", (gpointer *) &la.filter_code },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (symbols); i++)
    if (!g_module_symbol (module, symbols[i].name, symbols[i].slot))
      {
        la_load_error = g_strdup_printf ("%s: no %s", CLIP_LIBARCHIVE_SONAME, symbols[i].name);
        g_module_close (module);
        return NULL;
      }
  g_module_make_resident (module);  /* the table points into it for the rest of the process */
  return module;
}

/* Loads libarchive once; FALSE with ERROR when it cannot be. */
static gboolean
la_ready (GError **error)
{
  static GOnce once = G_ONCE_INIT;
  if (g_once (&once, la_load, NULL) != NULL)
    return TRUE;
  g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED, la_load_error);
  return FALSE;
}

typedef struct {
  char      *key;
  int        shard;
  char      *image_member;   /* or NULL */
  int        label;          /* from KEY.cls, or -1 */
  gboolean   has_label;
  GPtrArray *captions;       /* from KEY.txt, or NULL */
  gboolean   damaged;        /* a member could not be read: the sample is dropped */
} WdsSample;

static void
wds_sample_free (gpointer data)
{
  WdsSample *sample = data;
  g_free (sample->key);
  g_free (sample->image_member);
  if (sample->captions != NULL)
    g_ptr_array_unref (sample->captions);
  g_free (sample);
}

/* A brace pattern of shard names in the file name of PATH, "PREFIX{FIRST..LAST}SUFFIX" (inclusive, and
 * zero-padded to FIRST's width when FIRST has a leading zero, as braceexpand does); FALSE otherwise. */
typedef struct {
  char *prefix;   /* the folder and the name up to the brace */
  char *suffix;
  long  first;
  long  last;
  int   width;
} WdsPattern;

static void
wds_pattern_clear (WdsPattern *pattern)
{
  g_free (pattern->prefix);
  g_free (pattern->suffix);
}

static gboolean
wds_pattern_parse (const char *path, WdsPattern *pattern)
{
  const char *slash = strrchr (path, '/');
  const char *open = strchr (slash != NULL ? slash + 1 : path, '{');
  if (open == NULL || !g_ascii_isdigit (open[1]))
    return FALSE;
  char *dots, *end;
  long first = strtol (open + 1, &dots, 10);
  if (strncmp (dots, "..", 2) != 0 || !g_ascii_isdigit (dots[2]))
    return FALSE;
  long last = strtol (dots + 2, &end, 10);
  if (*end != '}' || strchr (end + 1, '{') != NULL || last < first || last - first >= WDS_MAX_SHARDS)
    return FALSE;
  pattern->prefix = g_strndup (path, (gsize) (open - path));
  pattern->suffix = g_strdup (end + 1);
  pattern->first = first;
  pattern->last = last;
  pattern->width = open[1] == '0' && dots - (open + 1) > 1 ? (int) (dots - (open + 1)) : 0;
  return TRUE;
}

gboolean
clip_dataset_is_webdataset (const char *path)
{
  WdsPattern pattern = { 0 };
  if (wds_pattern_parse (path, &pattern))
    {
      g_autofree char *split_dir = g_path_get_dirname (pattern.prefix);
      wds_pattern_clear (&pattern);
      return g_file_test (split_dir, G_FILE_TEST_IS_DIR);
    }
  g_autofree char *own = g_build_filename (path, "nshards.txt", NULL);
  if (g_file_test (own, G_FILE_TEST_IS_REGULAR))
    return TRUE;
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *nshards = g_build_filename (path, name, "nshards.txt", NULL);
      if (g_file_test (nshards, G_FILE_TEST_IS_REGULAR))
        return TRUE;
    }
  return FALSE;
}

static gboolean
wds_is_image_extension (const char *extension)
{
  return g_ascii_strcasecmp (extension, "jpg") == 0 || g_ascii_strcasecmp (extension, "jpeg") == 0
         || g_ascii_strcasecmp (extension, "png") == 0 || g_ascii_strcasecmp (extension, "webp") == 0;
}

/* Splits MEMBER into its sample key and extension (both owned by the caller); FALSE without a dot. */
static gboolean
wds_split_member (const char *member, char **key, char **extension)
{
  const char *slash = strrchr (member, '/');
  const char *base = slash != NULL ? slash + 1 : member;
  const char *dot = strchr (base, '.');
  if (dot == NULL || dot == base)
    return FALSE;
  *key = g_strndup (member, (gsize) (dot - member));
  *extension = g_strdup (dot + 1);
  return TRUE;
}

/* A shard open for streaming: the descriptor is opened once and checked to be a regular file (a
 * named pipe put in a shard's place cannot hang the reader), and libarchive reads it. */
typedef struct {
  struct archive *archive;
  int             fd;
} WdsShard;

/* Opens PATH for streaming from byte OFFSET (a member's header in a plain tar; 0: the start), with
 * the file's facts in INFO (may be NULL). */
static gboolean
wds_shard_open_at (WdsShard *shard, const char *path, gint64 offset, struct stat *info, GError **error)
{
  if (!la_ready (error))
    return FALSE;
  shard->fd = clip_file_open_input (path, CLIP_INPUT_DEFAULT, info, error);
  if (shard->fd < 0)
    return FALSE;
  if (offset > 0 && lseek (shard->fd, offset, SEEK_SET) != offset)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot seek to %" G_GINT64_FORMAT ": %s", path, offset,
                   g_strerror (errno));
      close (shard->fd);
      return FALSE;
    }
  shard->archive = la.read_new ();
  la.read_support_format_tar (shard->archive);
  la.read_support_filter_all (shard->archive);  /* gzip, xz, zstd, bzip2 shards stream the same way */
  if (la.read_open_fd (shard->archive, shard->fd, WDS_READ_BLOCK) != ARCHIVE_OK)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: %s", path, la.error_string (shard->archive));
      la.read_free (shard->archive);
      close (shard->fd);
      return FALSE;
    }
  return TRUE;
}

static gboolean
wds_shard_open (WdsShard *shard, const char *path, GError **error)
{
  return wds_shard_open_at (shard, path, 0, NULL, error);
}

/* ERROR's message without the "PATH: " it starts with, for an issue that names PATH already. */
static const char *
wds_reason (const GError *error, const char *path)
{
  const char *message = error->message;
  size_t n = strlen (path);
  return strncmp (message, path, n) == 0 && strncmp (message + n, ": ", 2) == 0 ? message + n + 2 : message;
}

static void
wds_shard_close (WdsShard *shard)
{
  la.read_free (shard->archive);
  close (shard->fd);
}

/* Reads the current member's data (at most LIMIT bytes) into a new buffer; NULL with *REASON set,
 * and *BROKEN when the tar cannot be read further. */
static GByteArray *
wds_read_member (struct archive *archive, int64_t limit, char **reason, gboolean *broken)
{
  GByteArray *data = g_byte_array_new ();
  guint8 block[WDS_READ_BLOCK];
  for (;;)
    {
      la_ssize_t n = la.read_data (archive, block, sizeof block);
      if (n == 0)
        return data;
      if (n < 0)
        {
          *reason = g_strdup (la.error_string (archive));
          *broken = TRUE;
          break;
        }
      if ((int64_t) data->len + n > limit)
        {
          *reason = g_strdup_printf ("larger than the limit of %" G_GINT64_FORMAT " MiB", limit >> 20);
          break;
        }
      g_byte_array_append (data, block, (guint) n);
    }
  g_byte_array_unref (data);
  return NULL;
}

/* ---------------------------------------------------------------- opening: the index of samples */

typedef struct {
  ClipDataset *dataset;
  GPtrArray   *samples;    /* WdsSample, in the order of their first member */
  GHashTable  *by_key;     /* key → WdsSample, for the shard being read (keys repeat across shards) */
} WdsIndex;

static WdsSample *
wds_sample_for (WdsIndex *index, int shard, const char *key)
{
  WdsSample *sample = g_hash_table_lookup (index->by_key, key);
  if (sample == NULL)
    {
      sample = g_new0 (WdsSample, 1);
      sample->key = g_strdup (key);
      sample->shard = shard;
      sample->label = -1;
      g_ptr_array_add (index->samples, sample);
      g_hash_table_insert (index->by_key, sample->key, sample);
    }
  return sample;
}

/* Reads the text of a .cls or .txt member into SAMPLE; FALSE with *REASON set. */
static gboolean
wds_read_annotation (struct archive *archive, WdsSample *sample, const char *extension, char **reason,
                     gboolean *broken)
{
  g_autoptr (GByteArray) data = wds_read_member (archive, WDS_MAX_TEXT_BYTES, reason, broken);
  if (data == NULL)
    return FALSE;
  g_autofree char *text = g_strndup ((const char *) data->data, data->len);
  if (strlen (text) != data->len || !g_utf8_validate (text, -1, NULL))
    {
      *reason = g_strdup ("not UTF-8 text");
      return FALSE;
    }
  if (g_ascii_strcasecmp (extension, "cls") == 0)
    {
      char *end;
      errno = 0;
      long value = strtol (g_strstrip (text), &end, 10);
      if (*text == '\0' || *end != '\0' || errno != 0 || value < 0 || value > G_MAXINT)
        {
          *reason = g_strdup_printf ("the class index \"%s\" is not a number", text);
          return FALSE;
        }
      sample->label = (int) value;
      sample->has_label = TRUE;
      return TRUE;
    }
  sample->captions = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    if (*g_strstrip (*line) != '\0')
      g_ptr_array_add (sample->captions, g_strdup (*line));
  return TRUE;
}

/* Indexes one member; FALSE (with an issue naming it) when the tar cannot be read past it. */
static gboolean
wds_index_member (WdsIndex *index, struct archive *archive, struct archive_entry *entry, int shard,
                  const char *shard_path)
{
  const char *member = la.entry_pathname (entry);
  g_autofree char *key = NULL, *extension = NULL;
  char *reason = NULL;
  gboolean broken = FALSE;
  if (member == NULL || la.entry_filetype (entry) != AE_IFREG || !wds_split_member (member, &key, &extension))
    broken = la.read_data_skip (archive) != ARCHIVE_OK;
  else
    {
      WdsSample *sample = wds_sample_for (index, shard, key);
      if (g_ascii_strcasecmp (extension, "cls") == 0 || g_ascii_strcasecmp (extension, "txt") == 0)
        wds_read_annotation (archive, sample, extension, &reason, &broken);
      else
        {
          if (wds_is_image_extension (extension))
            {
              g_free (sample->image_member);
              sample->image_member = g_strdup (member);
            }
          broken = la.read_data_skip (archive) != ARCHIVE_OK;
        }
      sample->damaged |= reason != NULL || broken;
    }
  if (broken)
    dataset_add_issue (index->dataset, shard_path, 0, member,
                       "the tar is damaged or truncated in this member (%s); the samples before it are read",
                       la.error_string (archive));
  else if (reason != NULL)
    dataset_add_issue (index->dataset, shard_path, 0, member, "%s", reason);
  g_free (reason);
  return !broken;
}

/* Indexes the samples of one shard; FALSE only when the caller asked to stop. */
static gboolean
wds_index_shard (WdsIndex *index, int shard, const char *shard_path, const ClipCallbacks *callbacks)
{
  GError *error = NULL;
  WdsShard opened;
  if (!wds_shard_open (&opened, shard_path, &error))
    {
      dataset_add_issue (index->dataset, shard_path, 0, NULL, "%s", wds_reason (error, shard_path));
      g_error_free (error);
      return TRUE;
    }
  struct archive *archive = opened.archive;
  g_hash_table_remove_all (index->by_key);
  struct archive_entry *entry;
  g_autofree char *last = NULL;
  int status;
  while ((status = la.read_next_header (archive, &entry)) == ARCHIVE_OK || status == ARCHIVE_WARN)
    {
      g_free (last);
      last = g_strdup (la.entry_pathname (entry));
      if (!wds_index_member (index, archive, entry, shard, shard_path))
        break;
      if (clip_callbacks_aborted (callbacks))
        {
          wds_shard_close (&opened);
          return FALSE;
        }
    }
  if (status != ARCHIVE_EOF && status != ARCHIVE_OK && status != ARCHIVE_WARN)
    {
      dataset_add_issue (index->dataset, shard_path, 0, last,
                         "the tar is damaged or truncated in or after this member (%s); the samples before it "
                         "are read", la.error_string (archive));
      /* The last member's data may be cut short too: its sample is not trusted. */
      g_autofree char *key = NULL, *extension = NULL;
      WdsSample *sample = last != NULL && wds_split_member (last, &key, &extension)
                            ? g_hash_table_lookup (index->by_key, key) : NULL;
      if (sample != NULL)
        sample->damaged = TRUE;
    }
  wds_shard_close (&opened);
  return TRUE;
}

/* ---------------------------------------------------------------- opening: from samples to images */

static gboolean
wds_read_labels_and_templates (ClipDataset *dataset, const char *root, GError **error)
{
  g_autofree char *classnames = g_build_filename (root, "classnames.txt", NULL);
  if (g_file_test (classnames, G_FILE_TEST_EXISTS))
    {
      g_autoptr (GPtrArray) names = dataset_read_lines (classnames, WDS_MAX_TEXT_BYTES * 16, error);
      if (names == NULL)
        return FALSE;
      for (guint i = 0; i < names->len; i++)
        g_ptr_array_add (dataset->label_names, g_strdup (g_ptr_array_index (names, i)));
    }
  g_autofree char *templates_path = g_build_filename (root, WDS_TEMPLATES_FILE, NULL);
  if (g_file_test (templates_path, G_FILE_TEST_EXISTS))
    {
      g_autoptr (GPtrArray) templates = dataset_read_lines (templates_path, WDS_MAX_TEXT_BYTES, error);
      if (templates == NULL)
        return FALSE;
      for (guint i = 0; i < templates->len; i++)
        {
          const char *template = g_ptr_array_index (templates, i);
          if (clip_template_is_valid (template))
            g_ptr_array_add (dataset->templates, g_strdup (template));
          else
            dataset_add_issue (dataset, templates_path, 0, template, "no {c} or {} where the class name goes");
        }
    }
  return TRUE;
}

/* Turns the complete samples into images and captions, reporting the others. */
static void
wds_add_samples (ClipDataset *dataset, GPtrArray *samples, gboolean retrieval)
{
  const int n_classes = (int) dataset->label_names->len;
  for (guint i = 0; i < samples->len; i++)
    {
      const WdsSample *sample = g_ptr_array_index (samples, i);
      const char *shard_path = g_ptr_array_index (dataset->shards, sample->shard);
      if (sample->damaged)
        continue;  /* reported where the member was read */
      if (sample->image_member == NULL)
        {
          dataset_add_issue (dataset, shard_path, 0, sample->key, "no image member (.jpg, .png or .webp)");
          continue;
        }
      if (retrieval && (sample->captions == NULL || sample->captions->len == 0))
        {
          dataset_add_issue (dataset, shard_path, 0, sample->image_member, "no captions (%s.txt)", sample->key);
          continue;
        }
      if (!retrieval && !sample->has_label)
        {
          dataset_add_issue (dataset, shard_path, 0, sample->image_member, "no class index (%s.cls)",
                             sample->key);
          continue;
        }
      if (sample->has_label && sample->label >= n_classes)
        {
          dataset_add_issue (dataset, shard_path, 0, sample->image_member,
                             "class index %d, but classnames.txt names %d classes", sample->label, n_classes);
          continue;
        }
      int image = dataset_add_image (dataset, NULL, sample->image_member, sample->shard, 0,
                                     sample->has_label ? sample->label : -1);
      for (guint c = 0; retrieval && c < sample->captions->len; c++)
        dataset_add_caption (dataset, image, g_ptr_array_index (sample->captions, c), 0);
    }
}

/* The split folder (holding nshards.txt) and the folder beside it holding classnames.txt. */
static gboolean
wds_locate (const char *path, const char *split, char **split_dir, char **root, GError **error)
{
  WdsPattern pattern = { 0 };
  if (wds_pattern_parse (path, &pattern))
    {
      *split_dir = g_path_get_dirname (pattern.prefix);
      *root = g_path_get_dirname (*split_dir);
      wds_pattern_clear (&pattern);
      return TRUE;
    }
  g_autofree char *own = g_build_filename (path, "nshards.txt", NULL);
  if (g_file_test (own, G_FILE_TEST_IS_REGULAR))
    {
      *split_dir = g_strdup (path);
      *root = g_path_get_dirname (path);
      return TRUE;
    }
  *split_dir = g_build_filename (path, split, NULL);
  *root = g_strdup (path);
  g_autofree char *nshards = g_build_filename (*split_dir, "nshards.txt", NULL);
  if (g_file_test (nshards, G_FILE_TEST_IS_REGULAR))
    return TRUE;
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: no split '%s' (%s is missing)", path, split, nshards);
  g_clear_pointer (split_dir, g_free);
  g_clear_pointer (root, g_free);
  return FALSE;
}

static int
wds_read_nshards (const char *split_dir, GError **error)
{
  g_autofree char *path = g_build_filename (split_dir, "nshards.txt", NULL);
  g_autoptr (GPtrArray) lines = dataset_read_lines (path, 64, error);
  if (lines == NULL)
    return -1;
  char *end = NULL;
  long n = lines->len == 1 ? strtol (g_ptr_array_index (lines, 0), &end, 10) : 0;
  if (lines->len != 1 || *end != '\0' || n < 1 || n > WDS_MAX_SHARDS)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: expected the number of shards (1 to %d)", path,
                   WDS_MAX_SHARDS);
      return -1;
    }
  return (int) n;
}

/* Shard S of a split that nshards.txt counts: S.tar, or the first compressed S.tar.* that exists
 * (S.tar when none does: opening it reports it missing). */
static char *
wds_numbered_shard (const char *split_dir, int s)
{
  static const char *const extensions[] = { ".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".tar.bz2" };
  for (size_t i = 0; i < G_N_ELEMENTS (extensions); i++)
    {
      g_autofree char *name = g_strdup_printf ("%d%s", s, extensions[i]);
      char *path = g_build_filename (split_dir, name, NULL);
      if (g_file_test (path, G_FILE_TEST_EXISTS))
        return path;
      g_free (path);
    }
  g_autofree char *name = g_strdup_printf ("%d.tar", s);
  return g_build_filename (split_dir, name, NULL);
}

/* The shard paths, in order: PATH's brace pattern expanded, or those nshards.txt counts. */
static GPtrArray *
wds_list_shards (const char *path, const char *split_dir, GError **error)
{
  GPtrArray *shards = g_ptr_array_new_with_free_func (g_free);
  WdsPattern pattern = { 0 };
  if (wds_pattern_parse (path, &pattern))
    {
      for (long s = pattern.first; s <= pattern.last; s++)
        g_ptr_array_add (shards, g_strdup_printf ("%s%0*ld%s", pattern.prefix, pattern.width, s, pattern.suffix));
      wds_pattern_clear (&pattern);
      return shards;
    }
  int n_shards = wds_read_nshards (split_dir, error);
  if (n_shards < 0)
    {
      g_ptr_array_unref (shards);
      return NULL;
    }
  for (int s = 0; s < n_shards; s++)
    g_ptr_array_add (shards, wds_numbered_shard (split_dir, s));
  return shards;
}

gboolean
dataset_read_webdataset (ClipDataset *dataset, const char *path, const ClipDatasetOptions *options,
                         const ClipCallbacks *callbacks, GError **error)
{
  g_autofree char *split_dir = NULL, *root = NULL;
  if (!la_ready (error))
    return FALSE;
  if (!wds_locate (path, options->split != NULL ? options->split : WDS_DEFAULT_SPLIT, &split_dir, &root, error)
      || !wds_read_labels_and_templates (dataset, root, error))
    return FALSE;
  g_autoptr (GPtrArray) shard_paths = wds_list_shards (path, split_dir, error);
  if (shard_paths == NULL)
    return FALSE;
  const int n_shards = (int) shard_paths->len;

  WdsIndex index = {
    .dataset = dataset,
    .samples = g_ptr_array_new_with_free_func (wds_sample_free),
    .by_key = g_hash_table_new (g_str_hash, g_str_equal),
  };
  gboolean ok = TRUE;
  for (int s = 0; s < n_shards && ok; s++)
    {
      const char *shard_path = g_ptr_array_index (shard_paths, s);
      g_ptr_array_add (dataset->shards, g_strdup (shard_path));
      ok = wds_index_shard (&index, s, shard_path, callbacks);
      clip_callbacks_progress (callbacks, "Reading the shards", s + 1, n_shards);
    }
  if (!ok)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED, "%s: reading the shards was stopped", path);

  gboolean retrieval = FALSE;
  for (guint i = 0; i < index.samples->len; i++)
    retrieval |= ((WdsSample *) g_ptr_array_index (index.samples, i))->captions != NULL;
  if (ok && !retrieval && dataset->label_names->len == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: the samples have class indices (.cls) but "
                   "classnames.txt is missing beside the split folders", root);
      ok = FALSE;
    }
  if (ok)
    {
      wds_add_samples (dataset, index.samples, retrieval);
      if (retrieval)
        dataset->has_captions = TRUE;
      else
        dataset_caption_from_templates (dataset, options->templates, options->n_templates);
    }
  g_ptr_array_unref (index.samples);
  g_hash_table_unref (index.by_key);
  return ok;
}

/* ---------------------------------------------------------------- decoding */

/* Decodes the current member as image IMAGE and hands it to FUNC. */
static void
wds_decode_member (struct archive *archive, const char *member, int image, gboolean exif, const gint *stop,
                   DatasetShardImageFunc func, gpointer user_data)
{
  if (g_atomic_int_get (stop))
    {
      func (image, NULL, "stopped", FALSE, NULL, user_data);
      return;
    }
  char *reason = NULL;
  gboolean broken = FALSE;
  g_autoptr (GByteArray) data = wds_read_member (archive, WDS_MAX_IMAGE_BYTES, &reason, &broken);
  if (data == NULL)
    {
      func (image, NULL, reason, FALSE, NULL, user_data);
      g_free (reason);
      return;
    }
  /* hashed like the folder index hashes files, so that identical members are exact duplicates */
  uint8_t content_hash[16];
  clip_index_hash_content (data->data, data->len, content_hash);
  GError *error = NULL;
  g_autoptr (ClipImage) decoded = clip_image_load_bytes (member, data->data, data->len, exif, &error);
  /* The issue names the member already; keep only the reason. */
  const char *why = error != NULL ? error->message : NULL;
  if (why != NULL && g_str_has_prefix (why, member) && g_str_has_prefix (why + strlen (member), ": "))
    why += strlen (member) + 2;
  func (image, decoded, why, g_error_matches (error, CLIP_ERROR, CLIP_ERROR_RESOURCES), content_hash, user_data);
  g_clear_error (&error);
}

void
dataset_decode_shard (const ClipDataset *dataset, int shard, const int *images, int n, gboolean exif,
                      const gint *stop, DatasetShardImageFunc func, gpointer user_data)
{
  const char *shard_path = g_ptr_array_index (dataset->shards, shard);
  g_autoptr (GHashTable) wanted = g_hash_table_new (g_str_hash, g_str_equal);
  for (int i = 0; i < n; i++)
    g_hash_table_insert (wanted, DATASET_IMAGE (dataset, images[i])->entry, GINT_TO_POINTER (images[i] + 1));

  GError *error = NULL;
  WdsShard opened = { NULL, -1 };
  g_autofree char *missing = NULL;
  if (!wds_shard_open (&opened, shard_path, &error))
    {
      missing = g_strdup (wds_reason (error, shard_path));
      g_error_free (error);
    }
  struct archive *archive = opened.archive;
  struct archive_entry *entry;
  int status = ARCHIVE_FATAL;
  while (archive != NULL && g_hash_table_size (wanted) > 0
         && ((status = la.read_next_header (archive, &entry)) == ARCHIVE_OK || status == ARCHIVE_WARN))
    {
      const char *member = la.entry_pathname (entry);
      gpointer found;
      if (member == NULL || !g_hash_table_lookup_extended (wanted, member, NULL, &found))
        {
          if (la.read_data_skip (archive) != ARCHIVE_OK)
            break;
          continue;
        }
      g_hash_table_remove (wanted, member);
      wds_decode_member (archive, member, GPOINTER_TO_INT (found) - 1, exif, stop, func, user_data);
    }
  if (missing == NULL)
    missing = g_strdup_printf ("not found in the shard when decoding (%s)",
                               archive != NULL && la.error_string (archive) != NULL
                                 ? la.error_string (archive) : "it changed since it was opened");
  /* Every image gets its call, also those the stream never reached. */
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, wanted);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    func (GPOINTER_TO_INT (value) - 1, NULL, missing, FALSE, NULL, user_data);
  if (archive != NULL)
    wds_shard_close (&opened);
}

/* ---------------------------------------------------------------- one member, for viewers */

/* Where the members of plain (uncompressed) shards start, learnt while viewers stream them, so that
 * the next member asked for is reached by seeking instead of reading the shard again from its start
 * (browsing or classifying a shard's images in turn reads it about once).  A compressed shard
 * cannot be entered in the middle: it is streamed from its start each time. */
typedef struct {
  gint64      size, mtime;  /* of the shard when learnt: a changed shard is learnt again */
  GHashTable *offsets;      /* member → its header's offset (gint64 in a pointer-sized slot) */
  gint64      frontier;     /* the last header learnt: streaming for an unknown member resumes there */
} WdsShardMap;

static GMutex      wds_maps_lock;
static GHashTable *wds_maps;   /* shard path → WdsShardMap */

static void
wds_shard_map_free (gpointer data)
{
  WdsShardMap *map = data;
  g_hash_table_unref (map->offsets);
  g_free (map);
}

/* Where to start streaming PATH (as INFO describes it now) to reach MEMBER: its header, or the
 * frontier of what is known, or 0. */
static gint64
wds_map_start (const char *path, const struct stat *info, const char *member)
{
  g_mutex_lock (&wds_maps_lock);
  WdsShardMap *map = wds_maps != NULL ? g_hash_table_lookup (wds_maps, path) : NULL;
  gint64 start = 0;
  gpointer offset;
  if (map != NULL && map->size == info->st_size && map->mtime == info->st_mtime)
    start = g_hash_table_lookup_extended (map->offsets, member, NULL, &offset) ? (gint64) GPOINTER_TO_SIZE (offset)
                                                                              : map->frontier;
  g_mutex_unlock (&wds_maps_lock);
  return start;
}

/* Records that MEMBER's header starts at OFFSET in the plain shard PATH (INFO as read). */
static void
wds_map_learn (const char *path, const struct stat *info, const char *member, gint64 offset)
{
  g_mutex_lock (&wds_maps_lock);
  if (wds_maps == NULL)
    wds_maps = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, wds_shard_map_free);
  WdsShardMap *map = g_hash_table_lookup (wds_maps, path);
  if (map == NULL || map->size != info->st_size || map->mtime != info->st_mtime)
    {
      map = g_new0 (WdsShardMap, 1);
      map->size = info->st_size;
      map->mtime = info->st_mtime;
      map->offsets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_replace (wds_maps, g_strdup (path), map);
    }
  g_hash_table_replace (map->offsets, g_strdup (member), GSIZE_TO_POINTER ((gsize) offset));
  map->frontier = MAX (map->frontier, offset);
  g_mutex_unlock (&wds_maps_lock);
}

/* The last compressed shard a viewer read a member from, left open after that member: a later member
 * asked for next continues the stream instead of decompressing the shard again from its start (a
 * compressed shard's members read in turn cost about one pass).  Under wds_maps_lock. */
static struct {
  char    *path;     /* NULL when no stream is parked */
  gint64   size, mtime;
  WdsShard shard;
} wds_parked;

/* Takes the parked stream of PATH (as INFO describes it now) into SHARD; FALSE when there is none. */
static gboolean
wds_parked_take (const char *path, const struct stat *info, WdsShard *shard)
{
  g_mutex_lock (&wds_maps_lock);
  gboolean taken = wds_parked.path != NULL && strcmp (wds_parked.path, path) == 0
                   && wds_parked.size == info->st_size && wds_parked.mtime == info->st_mtime;
  if (taken)
    {
      *shard = wds_parked.shard;
      g_clear_pointer (&wds_parked.path, g_free);
    }
  g_mutex_unlock (&wds_maps_lock);
  return taken;
}

/* Parks SHARD (of PATH, as INFO describes it), closing the stream parked before. */
static void
wds_parked_put (const char *path, const struct stat *info, WdsShard *shard)
{
  g_mutex_lock (&wds_maps_lock);
  WdsShard previous = wds_parked.shard;
  gboolean had = wds_parked.path != NULL;
  g_free (wds_parked.path);
  wds_parked.path = g_strdup (path);
  wds_parked.size = info->st_size;
  wds_parked.mtime = info->st_mtime;
  wds_parked.shard = *shard;
  g_mutex_unlock (&wds_maps_lock);
  if (had)
    wds_shard_close (&previous);
}

/* Streams OPENED (opened at byte START of the shard INFO describes) on to MEMBER and reads it; NULL
 * with *REASON (*ENDED when the shard ended without it). */
static GByteArray *
wds_stream_to_member (WdsShard *opened, const char *shard_path, const struct stat *info, gint64 start,
                      const char *member, char **reason, gboolean *ended)
{
  struct archive_entry *entry;
  int status;
  GByteArray *data = NULL;
  while ((status = la.read_next_header (opened->archive, &entry)) == ARCHIVE_OK || status == ARCHIVE_WARN)
    {
      const char *name = la.entry_pathname (entry);
      if (name != NULL && la.filter_code (opened->archive, 0) == ARCHIVE_FILTER_NONE)
        wds_map_learn (shard_path, info, name, start + la.read_header_position (opened->archive));
      if (g_strcmp0 (name, member) == 0)
        {
          gboolean broken = FALSE;
          data = wds_read_member (opened->archive, WDS_MAX_IMAGE_BYTES, reason, &broken);
          break;
        }
      if (la.read_data_skip (opened->archive) != ARCHIVE_OK)
        {
          status = ARCHIVE_FATAL;
          break;
        }
    }
  *ended = data == NULL && *reason == NULL && status == ARCHIVE_EOF;
  if (data == NULL && *reason == NULL)
    *reason = g_strdup (*ended ? "no such member in the shard" : la.error_string (opened->archive));
  return data;
}

/* Reaches MEMBER from where the shard's members are known to start, or from the parked stream, or
 * else from the start of the shard; NULL with *REASON or ERROR. */
static GByteArray *
wds_find_member (const char *shard_path, const struct stat *info, const char *member, char **reason,
                 gboolean *ended, GError **error)
{
  gint64 start = wds_map_start (shard_path, info, member);
  WdsShard opened;
  gboolean resumed = start == 0 && wds_parked_take (shard_path, info, &opened);
  if (!resumed && !wds_shard_open_at (&opened, shard_path, start, NULL, error))
    return NULL;
  GByteArray *data = wds_stream_to_member (&opened, shard_path, info, start, member, reason, ended);
  if (data == NULL && (start > 0 || resumed))
    {
      /* The member is before the parked stream, or what was learnt no longer holds: from the start. */
      wds_shard_close (&opened);
      g_clear_pointer (reason, g_free);
      start = 0;
      if (!wds_shard_open_at (&opened, shard_path, 0, NULL, error))
        return NULL;
      data = wds_stream_to_member (&opened, shard_path, info, 0, member, reason, ended);
    }
  if (data != NULL && la.filter_code (opened.archive, 0) != ARCHIVE_FILTER_NONE)
    wds_parked_put (shard_path, info, &opened);
  else
    wds_shard_close (&opened);
  return data;
}

GBytes *
clip_dataset_read_shard_member (const char *shard_path, const char *member, GError **error)
{
  g_return_val_if_fail (shard_path != NULL && member != NULL, NULL);
  if (!la_ready (error))
    return NULL;
  struct stat info;
  int fd = clip_file_open_input (shard_path, CLIP_INPUT_DEFAULT, &info, error);
  if (fd < 0)
    return NULL;
  close (fd);
  char *reason = NULL;
  gboolean ended = FALSE;
  GByteArray *data = wds_find_member (shard_path, &info, member, &reason, &ended, error);
  if (data == NULL && reason != NULL)
    g_set_error (error, CLIP_ERROR, ended ? CLIP_ERROR_MISSING : CLIP_ERROR_FORMAT, "%s: %s: %s", shard_path, member,
                 reason);
  g_free (reason);
  return data != NULL ? g_byte_array_free_to_bytes (data) : NULL;
}

ClipImage *
clip_image_load_shard_member (const char *shard_path, const char *member, gboolean apply_exif_orientation,
                              GError **error)
{
  g_autoptr (GBytes) bytes = clip_dataset_read_shard_member (shard_path, member, error);
  if (bytes == NULL)
    return NULL;
  gsize size;
  const void *data = g_bytes_get_data (bytes, &size);
  return clip_image_load_bytes (member, data, size, apply_exif_orientation, error);
}
