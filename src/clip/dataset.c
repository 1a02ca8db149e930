/* dataset.c — captioned image data sets: a CSV (RFC 4180) of image paths, captions and optional
 * labels, checked row by row, and the images decoded once into 8-bit crops.
 *
 * Untrusted input throughout: every row is checked on its own and a bad row is skipped with its line
 * number and a reason; only a file that cannot be read, a header without the required columns, more
 * than CLIP_MAX_DATASET_ROWS rows, or no usable row at all fail the whole load.  Image paths are
 * contained in the image root twice: lexically ("../", absolute paths) and after resolving symbolic
 * links, and the resolved path is what is kept, so a link swapped later cannot lead outside. */
#include "clip-private.h"
#include "util-file.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

typedef struct {
  char *path;        /* resolved absolute path */
  char *written;     /* as written in the CSV */
  char *caption;
  char *label_text;  /* NULL without a label column */
  int   line;
  int   label;       /* index into label_names, or -1 */
  int   slot;        /* crop slot after prepare, or -1 */
} DatasetRow;

struct _ClipDataset {
  char        *csv_path;
  char        *root;          /* image root, absolute with "." and ".." removed */
  char        *resolved_root; /* the same with symbolic links resolved */
  GArray      *rows;          /* DatasetRow, usable rows in CSV order */
  gboolean     has_labels;
  GPtrArray   *label_names;   /* owned strings, sorted by bytes */
  int         *groups;        /* [rows->len] caption group ids */
  GPtrArray   *issues;        /* ClipDatasetIssue */
  int          crop_size;     /* 0 until prepared */
  size_t       crop_bytes;
  uint8_t     *crops;         /* crops in memory, or NULL */
  GMappedFile *cache;         /* or the map of the (already unlinked) cache file */
};

static void
dataset_row_clear (gpointer data)
{
  DatasetRow *row = data;
  g_free (row->path);
  g_free (row->written);
  g_free (row->caption);
  g_free (row->label_text);
}

static void
dataset_issue_free (gpointer data)
{
  ClipDatasetIssue *issue = data;
  g_free (issue->path);
  g_free (issue->reason);
  g_free (issue);
}

static void dataset_add_issue (ClipDataset *dataset, int line, const char *path, const char *format, ...)
  G_GNUC_PRINTF (4, 5);

static void
dataset_add_issue (ClipDataset *dataset, int line, const char *path, const char *format, ...)
{
  ClipDatasetIssue *issue = g_new0 (ClipDatasetIssue, 1);
  va_list args;
  va_start (args, format);
  issue->reason = g_strdup_vprintf (format, args);
  va_end (args);
  issue->line = line;
  issue->path = g_strdup (path);
  g_ptr_array_add (dataset->issues, issue);
}

static void
dataset_release_crops (ClipDataset *dataset)
{
  g_clear_pointer (&dataset->crops, g_free);
  g_clear_pointer (&dataset->cache, g_mapped_file_unref);
  dataset->crop_size = 0;
  dataset->crop_bytes = 0;
}

void
clip_dataset_free (ClipDataset *dataset)
{
  if (dataset == NULL)
    return;
  dataset_release_crops (dataset);
  g_free (dataset->csv_path);
  g_free (dataset->root);
  g_free (dataset->resolved_root);
  g_array_unref (dataset->rows);
  g_ptr_array_unref (dataset->label_names);
  g_free (dataset->groups);
  g_ptr_array_unref (dataset->issues);
  g_free (dataset);
}

/* ---------------------------------------------------------------- CSV records (RFC 4180) */

typedef struct {
  FILE       *file;
  const char *path;
  char        buffer[65536];
  size_t      length, position;
  int         line;          /* physical line of the next byte, 1-based */
} CsvReader;

typedef struct {
  GPtrArray *fields;         /* char* */
  int        line;           /* where the record starts */
  gboolean   too_long;       /* over CLIP_MAX_CSV_RECORD_BYTES: fields are incomplete */
  gboolean   unterminated;   /* a quoted field was still open at the end of the file */
  gboolean   has_nul;
} CsvRecord;

typedef enum { CSV_RECORD_READ, CSV_RECORD_END, CSV_RECORD_ERROR } CsvResult;

/* The next byte, or -1 at the end of the file (or on a read error, which the caller checks). */
static int
csv_next_byte (CsvReader *reader)
{
  if (reader->position == reader->length)
    {
      reader->length = fread (reader->buffer, 1, sizeof reader->buffer, reader->file);
      reader->position = 0;
      if (reader->length == 0)
        return -1;
    }
  return (unsigned char) reader->buffer[reader->position++];
}

static int
csv_peek_byte (CsvReader *reader)
{
  int c = csv_next_byte (reader);
  if (c >= 0)
    reader->position--;
  return c;
}

typedef enum { FIELD_START, FIELD_UNQUOTED, FIELD_QUOTED, FIELD_QUOTE_IN_QUOTED } CsvFieldState;

/* Reads one record.  Quoted fields may hold commas, doubled quotes and newlines; a CR before a LF
 * outside quotes ends the line like the LF alone.  A record over the length limit is still read to
 * its end (so the next one starts in the right place), but its fields are not kept whole. */
static CsvResult
csv_read_record (CsvReader *reader, CsvRecord *record, GError **error)
{
  g_ptr_array_set_size (record->fields, 0);
  record->line = reader->line;
  record->too_long = record->unterminated = record->has_nul = FALSE;

  g_autoptr (GString) field = g_string_new (NULL);
  CsvFieldState state = FIELD_START;
  size_t record_bytes = 0;
  gboolean any = FALSE;

  for (;;)
    {
      int c = csv_next_byte (reader);
      if (c < 0)
        {
          if (ferror (reader->file))
            {
              g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: read error near line %d", reader->path,
                           reader->line);
              return CSV_RECORD_ERROR;
            }
          if (!any)
            return CSV_RECORD_END;
          record->unterminated = state == FIELD_QUOTED;
          break;
        }
      any = TRUE;
      if (++record_bytes > CLIP_MAX_CSV_RECORD_BYTES)
        record->too_long = TRUE;
      if (c == '\n')
        reader->line++;

      gboolean in_quotes = state == FIELD_QUOTED;
      if (!in_quotes && c == '\r' && csv_peek_byte (reader) == '\n')
        continue;
      if (!in_quotes && (c == ',' || c == '\n'))
        {
          g_ptr_array_add (record->fields, g_strndup (field->str, field->len));
          g_string_truncate (field, 0);
          state = FIELD_START;
          if (c == '\n')
            return CSV_RECORD_READ;
          continue;
        }
      if (c == '"')
        {
          if (state == FIELD_START)
            {
              state = FIELD_QUOTED;
              continue;
            }
          if (state == FIELD_QUOTED)
            {
              state = FIELD_QUOTE_IN_QUOTED;
              continue;
            }
          if (state == FIELD_QUOTE_IN_QUOTED)
            state = FIELD_QUOTED;  /* "" inside quotes is one quote */
        }
      else if (state == FIELD_QUOTE_IN_QUOTED || state == FIELD_START)
        state = FIELD_UNQUOTED;  /* text after a closing quote is kept, as Python's csv does */

      if (c == '\0')
        record->has_nul = TRUE;
      else if (!record->too_long)
        g_string_append_c (field, (char) c);
    }
  g_ptr_array_add (record->fields, g_strndup (field->str, field->len));
  return CSV_RECORD_READ;
}

/* ---------------------------------------------------------------- paths */

/* Whether PATH is ROOT or inside it; both absolute and canonical. */
static gboolean
path_is_within (const char *path, const char *root)
{
  size_t n = strlen (root);
  if (strncmp (path, root, n) != 0)
    return FALSE;
  return path[n] == '\0' || path[n] == '/' || (n > 0 && root[n - 1] == '/');
}

/* The resolved path of WRITTEN inside the data set's root, or NULL with *REASON set (the row is
 * skipped) or, when the process ran out of descriptors or memory, ERROR (the load fails). */
static char *
resolve_image_path (const ClipDataset *dataset, const char *written, char **reason, GError **error)
{
  /* Lexical first: "../" and absolute paths outside the root are refused whether or not they exist. */
  g_autofree char *lexical = g_canonicalize_filename (written, dataset->root);
  if (!path_is_within (lexical, dataset->root))
    {
      *reason = g_strdup ("the path leads outside the image root");
      return NULL;
    }

  char *resolved = realpath (lexical, NULL);
  if (resolved == NULL && clip_error_code_for_errno (errno, CLIP_ERROR_IO) == CLIP_ERROR_RESOURCES)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_RESOURCES, "%s: %s", written, g_strerror (saved));
      return NULL;
    }
  if (resolved == NULL)
    {
      int saved = errno;
      *reason = saved == ENOENT || saved == ENOTDIR ? g_strdup ("no such file")
                                                    : g_strdup (g_strerror (saved));
      return NULL;
    }
  if (!path_is_within (resolved, dataset->resolved_root))
    {
      *reason = g_strdup ("a symbolic link leads outside the image root");
      free (resolved);
      return NULL;
    }
  GStatBuf st;
  if (g_stat (resolved, &st) != 0 || !S_ISREG (st.st_mode))
    {
      *reason = g_strdup ("not a regular file");
      free (resolved);
      return NULL;
    }
  char *kept = g_strdup (resolved);
  free (resolved);
  return kept;
}

/* ---------------------------------------------------------------- labels and caption groups */

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Recomputes the sorted label names, each row's label index and the caption groups from the rows
 * that remain. */
static void
dataset_index_rows (ClipDataset *dataset)
{
  guint n = dataset->rows->len;

  g_ptr_array_set_size (dataset->label_names, 0);
  if (dataset->has_labels)
    {
      g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
      for (guint i = 0; i < n; i++)
        {
          const char *text = g_array_index (dataset->rows, DatasetRow, i).label_text;
          if (g_hash_table_add (seen, (gpointer) text))
            g_ptr_array_add (dataset->label_names, g_strdup (text));
        }
      g_ptr_array_sort (dataset->label_names, compare_strings);
      g_hash_table_remove_all (seen);
      for (guint c = 0; c < dataset->label_names->len; c++)
        g_hash_table_insert (seen, g_ptr_array_index (dataset->label_names, c), GUINT_TO_POINTER (c));
      for (guint i = 0; i < n; i++)
        {
          DatasetRow *row = &g_array_index (dataset->rows, DatasetRow, i);
          row->label = GPOINTER_TO_INT (g_hash_table_lookup (seen, row->label_text));
        }
    }

  g_free (dataset->groups);
  dataset->groups = g_new (int, MAX (n, 1));
  g_autoptr (GHashTable) groups = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < n; i++)
    {
      const char *caption = g_array_index (dataset->rows, DatasetRow, i).caption;
      gpointer id;
      if (!g_hash_table_lookup_extended (groups, caption, NULL, &id))
        {
          id = GUINT_TO_POINTER (g_hash_table_size (groups));
          g_hash_table_insert (groups, (gpointer) caption, id);
        }
      dataset->groups[i] = GPOINTER_TO_INT (id);
    }
}

/* ---------------------------------------------------------------- loading */

/* The first issues, for an error that leaves the caller no data set to ask: "; line 2 (a.png): …". */
static char *
dataset_describe_issues (const ClipDataset *dataset)
{
  enum { SHOWN = 3 };
  GString *text = g_string_new (NULL);
  for (guint i = 0; i < MIN (dataset->issues->len, SHOWN); i++)
    {
      const ClipDatasetIssue *issue = g_ptr_array_index (dataset->issues, i);
      g_string_append_printf (text, "; line %d", issue->line);
      if (issue->path != NULL)
        g_string_append_printf (text, " (%s)", issue->path);
      g_string_append_printf (text, ": %s", issue->reason);
    }
  if (dataset->issues->len > SHOWN)
    g_string_append (text, "; …");
  return g_string_free (text, FALSE);
}

typedef struct {
  int n_fields;
  int path_column, caption_column, label_column;  /* -1 when absent */
} CsvColumns;

static gboolean
parse_header (const char *csv_path, const CsvRecord *header, CsvColumns *columns, GError **error)
{
  if (header->too_long)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: the header line is longer than the limit of %d MiB",
                   csv_path, CLIP_MAX_CSV_RECORD_BYTES >> 20);
      return FALSE;
    }
  if (header->has_nul || header->unterminated)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: the header line is damaged (%s)", csv_path,
                   header->has_nul ? "it contains a NUL byte" : "a quoted field is never closed");
      return FALSE;
    }
  static const char *const names[] = { "image_path", "caption", "label" };
  int *slots[] = { &columns->path_column, &columns->caption_column, &columns->label_column };
  columns->n_fields = (int) header->fields->len;
  columns->path_column = columns->caption_column = columns->label_column = -1;

  for (int i = 0; i < columns->n_fields; i++)
    {
      g_autofree char *name = g_strstrip (g_strdup (g_ptr_array_index (header->fields, i)));
      for (int k = 0; k < 3; k++)
        if (g_ascii_strcasecmp (name, names[k]) == 0)
          {
            if (*slots[k] >= 0)
              {
                g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                             "%s: the header names the column '%s' twice (columns %d and %d)", csv_path,
                             names[k], *slots[k] + 1, i + 1);
                return FALSE;
              }
            *slots[k] = i;
          }
    }
  for (int k = 0; k < 2; k++)
    if (*slots[k] < 0)
      {
        g_autoptr (GString) found = g_string_new (NULL);
        for (int i = 0; i < columns->n_fields; i++)
          {
            g_autofree char *shown = g_utf8_make_valid (g_ptr_array_index (header->fields, i), -1);
            g_string_append_printf (found, "%s'%s'", i > 0 ? ", " : "", shown);
          }
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING,
                     "%s: the header has no '%s' column (it has %s); expected image_path and caption, "
                     "and optionally label", csv_path, names[k], found->str);
        return FALSE;
      }
  return TRUE;
}

/* Checks one data record and adds it as a row, or records why it is skipped; FALSE only when the
 * process ran out of descriptors or memory. */
static gboolean
add_record (ClipDataset *dataset, const CsvColumns *columns, const CsvRecord *record, GError **error)
{
  GPtrArray *fields = record->fields;
  /* An empty line (a trailing newline, a blank separator) is not a row. */
  if (fields->len == 1 && *(const char *) g_ptr_array_index (fields, 0) == '\0' && !record->has_nul)
    return TRUE;
  if (record->too_long)
    {
      dataset_add_issue (dataset, record->line, NULL, "the row is longer than the limit of %d MiB",
                         CLIP_MAX_CSV_RECORD_BYTES >> 20);
      return TRUE;
    }
  if (record->unterminated)
    {
      dataset_add_issue (dataset, record->line, NULL, "a quoted field is never closed");
      return TRUE;
    }
  if (record->has_nul)
    {
      dataset_add_issue (dataset, record->line, NULL, "the row contains a NUL byte");
      return TRUE;
    }
  if ((int) fields->len != columns->n_fields)
    {
      dataset_add_issue (dataset, record->line, NULL, "the row has %u fields, the header has %d",
                         fields->len, columns->n_fields);
      return TRUE;
    }
  for (guint i = 0; i < fields->len; i++)
    if (!g_utf8_validate (g_ptr_array_index (fields, i), -1, NULL))
      {
        dataset_add_issue (dataset, record->line, NULL, "field %u is not valid UTF-8", i + 1);
        return TRUE;
      }

  const char *written = g_ptr_array_index (fields, columns->path_column);
  g_autofree char *caption = g_strstrip (g_strdup (g_ptr_array_index (fields, columns->caption_column)));
  g_autofree char *label = columns->label_column < 0 ? NULL
                           : g_strstrip (g_strdup (g_ptr_array_index (fields, columns->label_column)));
  if (*written == '\0')
    {
      dataset_add_issue (dataset, record->line, NULL, "empty image path");
      return TRUE;
    }
  if (*caption == '\0')
    {
      dataset_add_issue (dataset, record->line, written, "empty caption");
      return TRUE;
    }
  if (label != NULL && *label == '\0')
    {
      dataset_add_issue (dataset, record->line, written, "empty label");
      return TRUE;
    }
  char *reason = NULL;
  char *path = resolve_image_path (dataset, written, &reason, error);
  if (path == NULL && reason == NULL)
    return FALSE;
  if (path == NULL)
    {
      dataset_add_issue (dataset, record->line, written, "%s", reason);
      g_free (reason);
      return TRUE;
    }

  DatasetRow row = {
    .path = path,
    .written = g_strdup (written),
    .caption = g_steal_pointer (&caption),
    .label_text = g_steal_pointer (&label),
    .line = record->line,
    .label = -1,
    .slot = -1,
  };
  g_array_append_val (dataset->rows, row);
  return TRUE;
}

static gboolean
read_rows (ClipDataset *dataset, FILE *file, GError **error)
{
  CsvReader *reader = g_new0 (CsvReader, 1);
  reader->file = file;
  reader->path = dataset->csv_path;
  reader->line = 1;
  CsvRecord record = { .fields = g_ptr_array_new_with_free_func (g_free) };
  gboolean ok = FALSE;

  /* A UTF-8 byte order mark, as spreadsheet programs write, is not part of the first column name. */
  static const unsigned char bom[] = { 0xEF, 0xBB, 0xBF };
  reader->length = fread (reader->buffer, 1, sizeof reader->buffer, file);
  if (reader->length >= 3 && memcmp (reader->buffer, bom, 3) == 0)
    reader->position = 3;

  CsvColumns columns;
  CsvResult result = csv_read_record (reader, &record, error);
  if (result == CSV_RECORD_END)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                 "%s: empty file; expected a header line with image_path and caption", dataset->csv_path);
  if (result != CSV_RECORD_READ || !parse_header (dataset->csv_path, &record, &columns, error))
    goto out;
  dataset->has_labels = columns.label_column >= 0;

  int64_t n_records = 0;
  while ((result = csv_read_record (reader, &record, error)) == CSV_RECORD_READ)
    {
      if (++n_records > CLIP_MAX_DATASET_ROWS)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: more than the limit of %d rows",
                       dataset->csv_path, CLIP_MAX_DATASET_ROWS);
          goto out;
        }
      if (!add_record (dataset, &columns, &record, error))
        goto out;
    }
  ok = result == CSV_RECORD_END;

out:
  g_ptr_array_unref (record.fields);
  g_free (reader);
  return ok;
}

ClipDataset *
clip_dataset_load_csv (const char *csv_path, const char *image_root, GError **error)
{
  g_return_val_if_fail (csv_path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (ClipDataset) dataset = g_new0 (ClipDataset, 1);
  dataset->csv_path = g_strdup (csv_path);
  dataset->rows = g_array_new (FALSE, FALSE, sizeof (DatasetRow));
  g_array_set_clear_func (dataset->rows, dataset_row_clear);
  dataset->label_names = g_ptr_array_new_with_free_func (g_free);
  dataset->issues = g_ptr_array_new_with_free_func (dataset_issue_free);

  /* Without a root, paths are relative to the CSV's folder (not the working directory). */
  g_autofree char *csv_dir = g_path_get_dirname (csv_path);
  const char *root = image_root != NULL ? image_root : csv_dir;
  char *resolved_root = realpath (root, NULL);
  if (resolved_root == NULL)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "image root %s: %s", root, g_strerror (saved));
      return NULL;
    }
  dataset->resolved_root = g_strdup (resolved_root);
  free (resolved_root);
  dataset->root = g_canonicalize_filename (root, NULL);
  if (!g_file_test (dataset->resolved_root, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "image root %s: not a folder", root);
      return NULL;
    }

  int fd = clip_file_open_input (csv_path, CLIP_INPUT_DEFAULT, NULL, error);
  if (fd < 0)
    return NULL;
  FILE *file = fdopen (fd, "rb");
  if (file == NULL)
    {
      int saved = errno;
      close (fd);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", csv_path, g_strerror (saved));
      return NULL;
    }
  gboolean ok = read_rows (dataset, file, error);
  fclose (file);
  if (!ok)
    return NULL;

  if (dataset->rows->len == 0)
    {
      g_autofree char *examples = dataset_describe_issues (dataset);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: no usable row (%u skipped%s)", csv_path,
                   dataset->issues->len, examples);
      return NULL;
    }
  dataset_index_rows (dataset);
  return g_steal_pointer (&dataset);
}

/* ---------------------------------------------------------------- accessors */

#define ROW(dataset, index) (&g_array_index ((dataset)->rows, DatasetRow, (index)))

int
clip_dataset_get_size (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, 0);
  return (int) dataset->rows->len;
}

uint64_t
clip_dataset_get_cache_bytes (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, 0);
  return dataset->cache != NULL ? g_mapped_file_get_length (dataset->cache) : 0;
}

const char *
clip_dataset_get_image_path (const ClipDataset *dataset, int index)
{
  g_return_val_if_fail (dataset != NULL && index >= 0 && (guint) index < dataset->rows->len, NULL);
  return ROW (dataset, index)->path;
}

const char *
clip_dataset_get_caption (const ClipDataset *dataset, int index)
{
  g_return_val_if_fail (dataset != NULL && index >= 0 && (guint) index < dataset->rows->len, NULL);
  return ROW (dataset, index)->caption;
}

int
clip_dataset_get_line (const ClipDataset *dataset, int index)
{
  g_return_val_if_fail (dataset != NULL && index >= 0 && (guint) index < dataset->rows->len, 0);
  return ROW (dataset, index)->line;
}

int
clip_dataset_get_label (const ClipDataset *dataset, int index)
{
  g_return_val_if_fail (dataset != NULL && index >= 0 && (guint) index < dataset->rows->len, -1);
  return ROW (dataset, index)->label;
}

int
clip_dataset_get_n_labels (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, 0);
  return (int) dataset->label_names->len;
}

const char *
clip_dataset_get_label_name (const ClipDataset *dataset, int label)
{
  g_return_val_if_fail (dataset != NULL && label >= 0 && (guint) label < dataset->label_names->len, NULL);
  return g_ptr_array_index (dataset->label_names, label);
}

GPtrArray *
clip_dataset_get_issues (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, NULL);
  return dataset->issues;
}

const int *
clip_dataset_get_caption_groups (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, NULL);
  return dataset->groups;
}

int
clip_dataset_get_crop_size (const ClipDataset *dataset)
{
  g_return_val_if_fail (dataset != NULL, 0);
  return dataset->crop_size;
}

const uint8_t *
clip_dataset_get_crop (ClipDataset *dataset, int index)
{
  g_return_val_if_fail (dataset != NULL && index >= 0 && (guint) index < dataset->rows->len, NULL);
  g_return_val_if_fail (dataset->crop_size > 0, NULL);
  const uint8_t *base = dataset->crops != NULL ? dataset->crops
                                               : (const uint8_t *) g_mapped_file_get_contents (dataset->cache);
  return base + (size_t) ROW (dataset, index)->slot * dataset->crop_bytes;
}

/* ---------------------------------------------------------------- decoding the images */

/* Shared by the decoding workers: each task is one slot (one distinct image file). */
typedef struct {
  const char  **slot_paths;
  int           size;
  gboolean      exif;
  size_t        crop_bytes;
  uint8_t      *memory;       /* crops in memory, or NULL when writing to the cache file */
  int           fd;
  const char   *cache_path;
  char        **slot_errors;  /* why a slot's image could not be decoded, or NULL */
  gint          stop;         /* atomic: skip the tasks not started yet */
  GMutex        lock;
  GError       *fatal;        /* a cache write failed */
  GAsyncQueue  *done;         /* one entry per finished task */
} PrepareJob;

static gboolean
write_crop (PrepareJob *job, const uint8_t *crop, int slot, GError **error)
{
  size_t written = 0;
  off_t offset = (off_t) slot * (off_t) job->crop_bytes;
  while (written < job->crop_bytes)
    {
      ssize_t n = pwrite (job->fd, crop + written, job->crop_bytes - written, offset + (off_t) written);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = n < 0 ? errno : ENOSPC;
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", job->cache_path, g_strerror (saved));
          return FALSE;
        }
      written += (size_t) n;
    }
  return TRUE;
}

static void
prepare_decode_slot (gpointer task, gpointer user_data)
{
  PrepareJob *job = user_data;
  int slot = GPOINTER_TO_INT (task) - 1;

  if (!g_atomic_int_get (&job->stop))
    {
      const char *path = job->slot_paths[slot];
      GError *error = NULL;
      ClipImage *image = clip_image_load (path, job->exif, &error);
      if (image == NULL && g_error_matches (error, CLIP_ERROR, CLIP_ERROR_RESOURCES))
        {
          /* Out of descriptors or memory: every other image would fail too, for no fault of its own. */
          g_mutex_lock (&job->lock);
          if (job->fatal == NULL)
            job->fatal = g_steal_pointer (&error);
          g_mutex_unlock (&job->lock);
          g_clear_error (&error);
          g_atomic_int_set (&job->stop, 1);
        }
      else if (image == NULL)
        {
          /* The issue names the file already; keep only the reason. */
          const char *reason = error->message;
          if (g_str_has_prefix (reason, path) && g_str_has_prefix (reason + strlen (path), ": "))
            reason += strlen (path) + 2;
          job->slot_errors[slot] = g_strdup (reason);
          g_error_free (error);
        }
      else if (job->memory != NULL)
        clip_image_resize_crop (image, job->size, job->memory + (size_t) slot * job->crop_bytes);
      else
        {
          g_autofree uint8_t *crop = g_malloc (job->crop_bytes);
          clip_image_resize_crop (image, job->size, crop);
          if (!write_crop (job, crop, slot, &error))
            {
              g_mutex_lock (&job->lock);
              if (job->fatal == NULL)
                job->fatal = g_steal_pointer (&error);
              g_mutex_unlock (&job->lock);
              g_clear_error (&error);
              g_atomic_int_set (&job->stop, 1);
            }
        }
      clip_image_free (image);
    }
  g_async_queue_push (job->done, GINT_TO_POINTER (1));
}

/* A temporary file in CACHE_DIR, unlinked at once so that nothing is left behind even after a crash,
 * with room for TOTAL bytes reserved so that a full disk is reported before decoding starts. */
static int
open_cache_file (const char *cache_dir, uint64_t total, char **path_out, GError **error)
{
  const char *dir = cache_dir != NULL ? cache_dir : g_get_tmp_dir ();
  char *path = g_build_filename (dir, "cliplab-crops-XXXXXX", NULL);
  int fd = g_mkstemp_full (path, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot create the image cache: %s", dir,
                   g_strerror (saved));
      g_free (path);
      return -1;
    }
  g_unlink (path);
  /* Said before anything is reserved: a large --image-size can ask for more disk than expected. */
  struct statvfs space;
  if (fstatvfs (fd, &space) == 0 && (uint64_t) space.f_bavail * space.f_frsize < total)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: the decoded images need %.1f GB on disk (more than "
                   "fits in memory), but only %.1f GB are free there", dir, total / 1e9,
                   (double) space.f_bavail * space.f_frsize / 1e9);
      close (fd);
      g_free (path);
      return -1;
    }
  int status = posix_fallocate (fd, 0, (off_t) total);
  if (status == EINVAL || status == EOPNOTSUPP)
    status = ftruncate (fd, (off_t) total) == 0 ? 0 : errno;
  if (status != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot reserve %" G_GUINT64_FORMAT " bytes: %s",
                   path, total, g_strerror (status));
      close (fd);
      g_free (path);
      return -1;
    }
  *path_out = path;
  return fd;
}

/* Drops the rows whose image failed, reporting each. */
static void
drop_failed_rows (ClipDataset *dataset, char **slot_errors)
{
  GArray *kept = g_array_sized_new (FALSE, FALSE, sizeof (DatasetRow), dataset->rows->len);
  g_array_set_clear_func (kept, dataset_row_clear);
  for (guint i = 0; i < dataset->rows->len; i++)
    {
      DatasetRow *row = ROW (dataset, i);
      const char *reason = slot_errors[row->slot];
      if (reason == NULL)
        {
          g_array_append_val (kept, *row);
          memset (row, 0, sizeof *row);  /* moved: the old array must not free it */
          continue;
        }
      dataset_add_issue (dataset, row->line, row->written, "%s", reason);
    }
  g_array_unref (dataset->rows);
  dataset->rows = kept;
}

/* One slot per distinct file: rows sharing an image (several captions) share its crop.  SLOT_PATHS
 * receives each slot's path (borrowed from the rows). */
static void
assign_slots (ClipDataset *dataset, GPtrArray *slot_paths)
{
  g_autoptr (GHashTable) slots = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < dataset->rows->len; i++)
    {
      DatasetRow *row = ROW (dataset, i);
      gpointer slot;
      if (!g_hash_table_lookup_extended (slots, row->path, NULL, &slot))
        {
          slot = GUINT_TO_POINTER (slot_paths->len);
          g_hash_table_insert (slots, row->path, slot);
          g_ptr_array_add (slot_paths, row->path);
        }
      row->slot = GPOINTER_TO_INT (slot);
    }
}

/* Where the crops go: memory when TOTAL bytes fit MEMORY_LIMIT (and can be had), else a cache file. */
static gboolean
prepare_job_open_storage (PrepareJob *job, size_t total, size_t memory_limit, const char *cache_dir,
                          char **cache_path, GError **error)
{
  if (total <= memory_limit)
    job->memory = g_try_malloc (total);
  if (job->memory != NULL)
    return TRUE;
  job->fd = open_cache_file (cache_dir, total, cache_path, error);
  job->cache_path = *cache_path;
  return job->fd >= 0;
}

/* Decoding is independent per file; each result lands in its own slot, so the order of completion
 * does not matter.  The calling thread reports progress and polls the abort callback.  Returns
 * FALSE when the callbacks asked to stop. */
static gboolean
prepare_job_decode (PrepareJob *job, int n_slots, const ClipCallbacks *callbacks)
{
  GThreadPool *pool = g_thread_pool_new (prepare_decode_slot, job,
                                         MIN ((int) g_get_num_processors (), n_slots), FALSE, NULL);
  for (int s = 0; s < n_slots; s++)
    g_thread_pool_push (pool, GINT_TO_POINTER (s + 1), NULL);
  gboolean aborted = FALSE;
  for (int s = 0; s < n_slots && !aborted && !g_atomic_int_get (&job->stop); s++)
    {
      g_async_queue_pop (job->done);
      clip_callbacks_progress (callbacks, "Decoding images", s + 1, n_slots);
      aborted = clip_callbacks_aborted (callbacks);
    }
  g_atomic_int_set (&job->stop, 1);
  g_thread_pool_free (pool, TRUE, TRUE);
  return !aborted;
}

/* The decoded crops become the data set's: the memory block, or a map of the cache file. */
static gboolean
dataset_take_crops (ClipDataset *dataset, PrepareJob *job, int size, GError **error)
{
  if (job->memory != NULL)
    dataset->crops = g_steal_pointer (&job->memory);
  else
    {
      GError *map_error = NULL;
      dataset->cache = g_mapped_file_new_from_fd (job->fd, FALSE, &map_error);
      if (dataset->cache == NULL)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", job->cache_path, map_error->message);
          g_error_free (map_error);
          return FALSE;
        }
    }
  dataset->crop_size = size;
  dataset->crop_bytes = job->crop_bytes;
  return TRUE;
}

static void
prepare_job_clear (PrepareJob *job, int n_slots)
{
  if (job->fd >= 0)
    close (job->fd);  /* the map, if any, stays valid */
  g_free (job->memory);
  for (int s = 0; s < n_slots; s++)
    g_free (job->slot_errors[s]);
  g_free (job->slot_errors);
  g_clear_error (&job->fatal);
  g_mutex_clear (&job->lock);
  g_async_queue_unref (job->done);
}

/* After decoding: the rows whose image failed are dropped (and reported); fails when none is left. */
static gboolean
keep_decoded_rows (ClipDataset *dataset, PrepareJob *job, GError **error)
{
  int n_before = (int) dataset->rows->len;
  drop_failed_rows (dataset, job->slot_errors);
  dataset_index_rows (dataset);
  if (dataset->rows->len > 0)
    return TRUE;
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: none of the %d rows has a readable image",
               dataset->csv_path, n_before);
  return FALSE;
}

gboolean
clip_dataset_prepare_images (ClipDataset *dataset, int size, gboolean apply_exif_orientation,
                             size_t memory_limit, const char *cache_dir, const ClipCallbacks *callbacks,
                             GError **error)
{
  g_return_val_if_fail (dataset != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (size < 1 || (int64_t) size * size > CLIP_MAX_IMAGE_PIXELS)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                   "crop size %d: expected a positive size of at most %d pixels in all", size,
                   CLIP_MAX_IMAGE_PIXELS);
      return FALSE;
    }
  dataset_release_crops (dataset);

  g_autoptr (GPtrArray) slot_paths = g_ptr_array_new ();
  assign_slots (dataset, slot_paths);
  const int n_slots = (int) slot_paths->len;
  const size_t crop_bytes = (size_t) size * (size_t) size * 3;
  size_t total;
  if (!g_size_checked_mul (&total, crop_bytes, (size_t) n_slots))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: %d images of %d×%d do not fit in memory",
                   dataset->csv_path, n_slots, size, size);
      return FALSE;
    }

  PrepareJob job = {
    .slot_paths = (const char **) slot_paths->pdata,
    .size = size,
    .exif = apply_exif_orientation,
    .crop_bytes = crop_bytes,
    .fd = -1,
    .slot_errors = g_new0 (char *, n_slots),
    .done = g_async_queue_new (),
  };
  g_mutex_init (&job.lock);
  g_autofree char *cache_path = NULL;
  gboolean ok = prepare_job_open_storage (&job, total, memory_limit, cache_dir, &cache_path, error);
  if (ok && !prepare_job_decode (&job, n_slots, callbacks) && job.fatal == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED, "%s: preparing the images was stopped",
                   dataset->csv_path);
      ok = FALSE;
    }
  if (ok && job.fatal != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&job.fatal));
      ok = FALSE;
    }
  ok = ok && keep_decoded_rows (dataset, &job, error) && dataset_take_crops (dataset, &job, size, error);
  prepare_job_clear (&job, n_slots);
  return ok;
}
