/* dataset-csv.c — the CSV format: RFC 4180 records of image_path,caption[,label], checked row by
 * row.  Rows naming the same file share one image (several captions); a bad row is skipped with its
 * line number and a reason, and only a file that cannot be read, a header without the required
 * columns, more than CLIP_MAX_DATASET_ROWS rows, or no usable row at all fail the whole load. */
#include "dataset-private.h"
#include "util-file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* ---------------------------------------------------------------- header and rows */

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

/* What a CSV load keeps beside the data set: which image each resolved file became, and the label
 * text of each image until the labels are numbered. */
typedef struct {
  ClipDataset *dataset;
  const char  *path;
  CsvColumns   columns;
  GHashTable  *image_of_file;   /* resolved path → image index + 1 */
  GPtrArray   *image_labels;    /* [images] label text, or NULL */
} CsvLoad;

static void csv_add_issue (CsvLoad *load, int line, const char *entry, const char *format, ...)
  G_GNUC_PRINTF (4, 5);

static void
csv_add_issue (CsvLoad *load, int line, const char *entry, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  dataset_add_issue (load->dataset, load->path, line, entry, "%s", reason);
}

/* Why RECORD cannot be a row as a whole (before its fields are looked at), or NULL. */
static char *
csv_record_problem (const CsvLoad *load, const CsvRecord *record)
{
  GPtrArray *fields = record->fields;
  if (record->too_long)
    return g_strdup_printf ("the row is longer than the limit of %d MiB", CLIP_MAX_CSV_RECORD_BYTES >> 20);
  if (record->unterminated)
    return g_strdup ("a quoted field is never closed");
  if (record->has_nul)
    return g_strdup ("the row contains a NUL byte");
  if ((int) fields->len != load->columns.n_fields)
    return g_strdup_printf ("the row has %u fields, the header has %d", fields->len, load->columns.n_fields);
  for (guint i = 0; i < fields->len; i++)
    if (!g_utf8_validate (g_ptr_array_index (fields, i), -1, NULL))
      return g_strdup_printf ("field %u is not valid UTF-8", i + 1);
  return NULL;
}

/* The image of PATH: the one an earlier row made, or a new one.  -1 (with an issue) when an earlier
 * row gave the file another label. */
static int
csv_image_for (CsvLoad *load, char *path, const char *written, const char *label, int line)
{
  gpointer known;
  if (g_hash_table_lookup_extended (load->image_of_file, path, NULL, &known))
    {
      int image = GPOINTER_TO_INT (known) - 1;
      const char *earlier = g_ptr_array_index (load->image_labels, image);
      g_free (path);
      if (g_strcmp0 (earlier, label) != 0)
        {
          csv_add_issue (load, line, written, "line %d gives the same image the label '%s'",
                         DATASET_IMAGE (load->dataset, image)->line, earlier);
          return -1;
        }
      return image;
    }
  int image = dataset_add_image (load->dataset, path, written, -1, line, -1);
  g_hash_table_insert (load->image_of_file, path, GINT_TO_POINTER (image + 1));  /* owns PATH */
  g_ptr_array_add (load->image_labels, g_strdup (label));
  return image;
}

/* Checks one data record and adds it as a row, or records why it is skipped; FALSE only when the
 * process ran out of descriptors or memory. */
static gboolean
add_record (CsvLoad *load, const CsvRecord *record, GError **error)
{
  GPtrArray *fields = record->fields;
  const CsvColumns *columns = &load->columns;
  /* An empty line (a trailing newline, a blank separator) is not a row. */
  if (fields->len == 1 && *(const char *) g_ptr_array_index (fields, 0) == '\0' && !record->has_nul)
    return TRUE;
  g_autofree char *problem = csv_record_problem (load, record);
  if (problem != NULL)
    {
      csv_add_issue (load, record->line, NULL, "%s", problem);
      return TRUE;
    }

  const char *written = g_ptr_array_index (fields, columns->path_column);
  g_autofree char *caption = g_strstrip (g_strdup (g_ptr_array_index (fields, columns->caption_column)));
  g_autofree char *label = columns->label_column < 0 ? NULL
                           : g_strstrip (g_strdup (g_ptr_array_index (fields, columns->label_column)));
  if (*written == '\0')
    {
      csv_add_issue (load, record->line, NULL, "empty image path");
      return TRUE;
    }
  if (*caption == '\0')
    {
      csv_add_issue (load, record->line, written, "empty caption");
      return TRUE;
    }
  if (label != NULL && *label == '\0')
    {
      csv_add_issue (load, record->line, written, "empty label");
      return TRUE;
    }
  char *reason = NULL;
  char *path = dataset_resolve_image_path (load->dataset, written, &reason, error);
  if (path == NULL && reason == NULL)
    return FALSE;
  if (path == NULL)
    {
      csv_add_issue (load, record->line, written, "%s", reason);
      g_free (reason);
      return TRUE;
    }
  int image = csv_image_for (load, path, written, label, record->line);
  if (image >= 0)
    dataset_add_caption (load->dataset, image, caption, record->line);
  return TRUE;
}

static gboolean
read_rows (CsvLoad *load, FILE *file, GError **error)
{
  CsvReader *reader = g_new0 (CsvReader, 1);
  reader->file = file;
  reader->path = load->path;
  reader->line = 1;
  CsvRecord record = { .fields = g_ptr_array_new_with_free_func (g_free) };
  gboolean ok = FALSE;

  /* A UTF-8 byte order mark, as spreadsheet programs write, is not part of the first column name. */
  static const unsigned char bom[] = { 0xEF, 0xBB, 0xBF };
  reader->length = fread (reader->buffer, 1, sizeof reader->buffer, file);
  if (reader->length >= 3 && memcmp (reader->buffer, bom, 3) == 0)
    reader->position = 3;

  CsvResult result = csv_read_record (reader, &record, error);
  if (result == CSV_RECORD_END)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                 "%s: empty file; expected a header line with image_path and caption", load->path);
  if (result != CSV_RECORD_READ || !parse_header (load->path, &record, &load->columns, error))
    goto out;

  int64_t n_records = 0;
  while ((result = csv_read_record (reader, &record, error)) == CSV_RECORD_READ)
    {
      if (++n_records > CLIP_MAX_DATASET_ROWS)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: more than the limit of %d rows",
                       load->path, CLIP_MAX_DATASET_ROWS);
          goto out;
        }
      if (!add_record (load, &record, error))
        goto out;
    }
  ok = result == CSV_RECORD_END;

out:
  g_ptr_array_unref (record.fields);
  g_free (reader);
  return ok;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Labels are numbered in byte order of their texts. */
static void
number_labels (CsvLoad *load)
{
  ClipDataset *dataset = load->dataset;
  g_autoptr (GHashTable) index = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < load->image_labels->len; i++)
    {
      const char *text = g_ptr_array_index (load->image_labels, i);
      if (text != NULL && g_hash_table_add (index, (gpointer) text))
        g_ptr_array_add (dataset->label_names, g_strdup (text));
    }
  g_ptr_array_sort (dataset->label_names, compare_strings);
  g_hash_table_remove_all (index);
  for (guint c = 0; c < dataset->label_names->len; c++)
    g_hash_table_insert (index, g_ptr_array_index (dataset->label_names, c), GUINT_TO_POINTER (c));
  for (guint i = 0; i < load->image_labels->len; i++)
    {
      const char *text = g_ptr_array_index (load->image_labels, i);
      DATASET_IMAGE (dataset, i)->label = text == NULL ? -1 : GPOINTER_TO_INT (g_hash_table_lookup (index, text));
    }
}

gboolean
dataset_read_csv (ClipDataset *dataset, const char *path, const ClipDatasetOptions *options, GError **error)
{
  /* Without a root, paths are relative to the CSV's folder (not the working directory). */
  g_autofree char *csv_dir = g_path_get_dirname (path);
  if (!dataset_set_image_root (dataset, options->image_root != NULL ? options->image_root : csv_dir, error))
    return FALSE;

  int fd = clip_file_open_input (path, CLIP_INPUT_DEFAULT, NULL, error);
  if (fd < 0)
    return FALSE;
  FILE *file = fdopen (fd, "rb");
  if (file == NULL)
    {
      int saved = errno;
      close (fd);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", path, g_strerror (saved));
      return FALSE;
    }
  CsvLoad load = {
    .dataset = dataset,
    .path = path,
    .image_of_file = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
    .image_labels = g_ptr_array_new_with_free_func (g_free),
  };
  gboolean ok = read_rows (&load, file, error);
  fclose (file);
  dataset->has_captions = TRUE;
  dataset->labels_from_images = TRUE;
  if (ok)
    number_labels (&load);
  g_hash_table_unref (load.image_of_file);
  g_ptr_array_unref (load.image_labels);
  return ok;
}
