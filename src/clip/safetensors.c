/* safetensors.c — a validating safetensors reader (files read into private memory), element conversion and an
 * atomic, durable writer.  The checks follow the reference implementation (huggingface/safetensors
 * read_metadata) and close the holes it leaves: duplicate keys, nesting depth, reserved names. */
#include "safetensors.h"
#include "util-json.h"
#include "util-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tensor bytes are handed out as they lie in the file, which is little-endian. */
G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);

#define METADATA_KEY "__metadata__"
/* Longest tensor name quoted in full inside an error message. */
#define MAX_QUOTED_NAME 160

struct _ClipSafetensors
{
  char          *label;     /* path or caller's label: the prefix of every message */
  const uint8_t *bytes;
  size_t         size;
  void          *map;       /* the file read into private memory; NULL when the bytes belong to the caller */
  ClipStTensor  *tensors;   /* in data-offset order; names owned here */
  int            n_tensors;
  GHashTable    *by_name;   /* name → ClipStTensor * */
  GHashTable    *metadata;  /* key → value, both owned */
  GPtrArray     *shards;    /* of a sharded checkpoint: ClipSafetensors * holding the bytes; else NULL */
};

/* One tensor entry while the header is being checked. */
typedef struct
{
  const char *name;         /* owned by the JsonParser */
  ClipDType   dtype;
  int         n_dims;
  int64_t     shape[CLIP_MAX_DIMS];
  int64_t     n_elements;
  int64_t     n_bytes;
  int64_t     begin, end;
  int         header_index; /* position in the JSON, to keep the sort deterministic */
} StEntry;

static gboolean st_fail (const ClipSafetensors *st, GError **error, ClipErrorCode code,
                         const char *format, ...) G_GNUC_PRINTF (4, 5);

static gboolean
st_fail (const ClipSafetensors *st, GError **error, ClipErrorCode code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, CLIP_ERROR, code, "%s: %s", st->label, message);
  return FALSE;
}

/* Names come from untrusted files: cut absurdly long ones so messages stay readable. */
static char *
quote_name (const char *name)
{
  if (strlen (name) <= MAX_QUOTED_NAME)
    return g_strdup (name);
  const char *cut = g_utf8_find_prev_char (name, name + MAX_QUOTED_NAME);
  return g_strdup_printf ("%.*s…", (int) (cut != NULL ? cut - name : 0), name);
}

static char *
format_shape (const int64_t *shape, int n_dims)
{
  GString *s = g_string_new ("[");
  for (int i = 0; i < n_dims; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i > 0 ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* What a JSON node holds, for messages about a value of the wrong kind. */
static char *
describe_node (JsonNode *node)
{
  if (JSON_NODE_HOLDS_VALUE (node))
    {
      GType type = json_node_get_value_type (node);
      if (type == G_TYPE_INT64)
        return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
      if (type == G_TYPE_DOUBLE)  /* "2.0" rather than "2", which would read as an integer */
        {
          double d = json_node_get_double (node);
          return g_strdup_printf (d == floor (d) && fabs (d) < 1e15 ? "%.1f" : "%g", d);
        }
      if (type == G_TYPE_BOOLEAN)
        return g_strdup (json_node_get_boolean (node) ? "true" : "false");
      if (type == G_TYPE_STRING)
        return g_strdup ("a string");
    }
  if (JSON_NODE_HOLDS_NULL (node))
    return g_strdup ("null");
  return g_strdup_printf ("an %s", JSON_NODE_HOLDS_ARRAY (node) ? "array" : "object");
}

static gboolean
node_get_count (JsonNode *node, int64_t *value)
{
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (node);
  return *value >= 0;
}

/* ---------------------------------------------------------------- duplicate keys */

/* json-glib keeps the last of repeated keys without a word; its signals let us see each one. */
typedef struct
{
  GPtrArray *open_objects;  /* a name set per object being parsed, innermost last */
  char      *duplicate;     /* the first repeated key */
  guint      duplicate_depth;
  char      *holder;        /* root member whose value holds a deeper duplicate */
} DuplicateTracker;

static void
on_object_start (JsonParser *parser, gpointer user_data)
{
  DuplicateTracker *t = user_data;
  g_ptr_array_add (t->open_objects, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL));
}

static void
on_object_member (JsonParser *parser, JsonObject *object, const char *name, gpointer user_data)
{
  DuplicateTracker *t = user_data;
  guint depth = t->open_objects->len;
  if (depth == 0)
    return;
  GHashTable *names = g_ptr_array_index (t->open_objects, depth - 1);
  if (!g_hash_table_add (names, g_strdup (name)) && t->duplicate == NULL)
    {
      t->duplicate = g_strdup (name);
      t->duplicate_depth = depth;
    }
  else if (t->duplicate != NULL && t->duplicate_depth > 1 && t->holder == NULL && depth == 1)
    t->holder = g_strdup (name);  /* the member is reported after its value is parsed */
}

static void
on_object_end (JsonParser *parser, JsonObject *object, gpointer user_data)
{
  DuplicateTracker *t = user_data;
  if (t->open_objects->len > 0)
    g_ptr_array_remove_index (t->open_objects, t->open_objects->len - 1);
}

static gboolean
duplicate_check (const ClipSafetensors *st, const DuplicateTracker *t, GError **error)
{
  if (t->duplicate == NULL)
    return TRUE;
  g_autofree char *dup = quote_name (t->duplicate);
  if (t->duplicate_depth == 1)
    return st_fail (st, error, CLIP_ERROR_FORMAT, "duplicate tensor name '%s'", dup);
  g_autofree char *holder = quote_name (t->holder != NULL ? t->holder : "?");
  if (t->duplicate_depth == 2 && strcmp (holder, METADATA_KEY) == 0)
    return st_fail (st, error, CLIP_ERROR_FORMAT, "duplicate " METADATA_KEY " key '%s'", dup);
  if (t->duplicate_depth == 2)
    return st_fail (st, error, CLIP_ERROR_FORMAT, "tensor '%s': duplicate field '%s'", holder, dup);
  return st_fail (st, error, CLIP_ERROR_FORMAT, "duplicate key '%s' inside '%s'", dup, holder);
}

/* ---------------------------------------------------------------- header entries */

static gboolean
dtype_is_other_safetensors_type (const char *name)
{
  static const char *const others[] = {
    "F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
    "U16", "U32", "U64", "C64",
  };
  for (unsigned i = 0; i < G_N_ELEMENTS (others); i++)
    if (strcmp (name, others[i]) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
entry_parse_dtype (const ClipSafetensors *st, const char *qname, JsonNode *node, StEntry *e,
                   GError **error)
{
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_autofree char *what = describe_node (node);
      return st_fail (st, error, CLIP_ERROR_FORMAT, "tensor '%s': dtype is %s, not a string", qname, what);
    }
  const char *name = json_node_get_string (node);
  if (clip_dtype_from_name (name, &e->dtype))
    return TRUE;
  g_autofree char *qdtype = quote_name (name);
  if (dtype_is_other_safetensors_type (name))
    return st_fail (st, error, CLIP_ERROR_UNSUPPORTED, "tensor '%s': dtype %s is not supported",
                    qname, qdtype);
  return st_fail (st, error, CLIP_ERROR_FORMAT, "tensor '%s': unknown dtype '%s'", qname, qdtype);
}

static gboolean
entry_parse_shape (const ClipSafetensors *st, const char *qname, JsonNode *node, StEntry *e,
                   GError **error)
{
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      g_autofree char *what = describe_node (node);
      return st_fail (st, error, CLIP_ERROR_FORMAT, "tensor '%s': shape is %s, not an array", qname, what);
    }
  JsonArray *array = json_node_get_array (node);
  guint n_dims = json_array_get_length (array);
  if (n_dims > CLIP_MAX_DIMS)
    return st_fail (st, error, CLIP_ERROR_LIMIT, "tensor '%s': shape has %u dimensions, more than %d",
                    qname, n_dims, CLIP_MAX_DIMS);
  e->n_dims = (int) n_dims;
  for (guint i = 0; i < n_dims; i++)
    {
      JsonNode *dim = json_array_get_element (array, i);
      if (!node_get_count (dim, &e->shape[i]))
        {
          g_autofree char *what = describe_node (dim);
          return st_fail (st, error, CLIP_ERROR_FORMAT,
                          "tensor '%s': shape[%u] is %s, not a non-negative integer", qname, i, what);
        }
    }
  return TRUE;
}

static gboolean
entry_parse_offsets (const ClipSafetensors *st, const char *qname, JsonNode *node, StEntry *e,
                     GError **error)
{
  JsonArray *array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  if (array == NULL || json_array_get_length (array) != 2)
    return st_fail (st, error, CLIP_ERROR_FORMAT, "tensor '%s': data_offsets is not an array [begin, end]", qname);
  int64_t *ends[2] = { &e->begin, &e->end };
  for (guint i = 0; i < 2; i++)
    {
      JsonNode *offset = json_array_get_element (array, i);
      if (!node_get_count (offset, ends[i]))
        {
          g_autofree char *what = describe_node (offset);
          return st_fail (st, error, CLIP_ERROR_FORMAT,
                          "tensor '%s': data_offsets[%u] is %s, not a non-negative integer", qname, i, what);
        }
    }
  if (e->end < e->begin)
    return st_fail (st, error, CLIP_ERROR_FORMAT,
                    "tensor '%s': data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] end before they begin",
                    qname, e->begin, e->end);
  return TRUE;
}

static gboolean
entry_parse (const ClipSafetensors *st, const char *name, JsonNode *node, StEntry *e, GError **error)
{
  static const char *const fields[] = { "dtype", "shape", "data_offsets", NULL };
  g_autofree char *qname = quote_name (name);
  e->name = name;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_autofree char *what = describe_node (node);
      return st_fail (st, error, CLIP_ERROR_FORMAT, "tensor '%s': entry is %s, not an object", qname, what);
    }
  JsonObject *object = json_node_get_object (node);
  g_autoptr (GList) members = json_object_get_members (object);
  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (fields, l->data))
      {
        g_autofree char *qfield = quote_name (l->data);
        return st_fail (st, error, CLIP_ERROR_FORMAT, "tensor '%s': unexpected field '%s'", qname, qfield);
      }
  for (unsigned i = 0; fields[i] != NULL; i++)
    if (!json_object_has_member (object, fields[i]))
      return st_fail (st, error, CLIP_ERROR_FORMAT, "tensor '%s': missing field '%s'", qname, fields[i]);

  if (!entry_parse_dtype (st, qname, json_object_get_member (object, "dtype"), e, error)
      || !entry_parse_shape (st, qname, json_object_get_member (object, "shape"), e, error)
      || !entry_parse_offsets (st, qname, json_object_get_member (object, "data_offsets"), e, error))
    return FALSE;

  g_autofree char *shape = format_shape (e->shape, e->n_dims);
  e->n_elements = 1;
  for (int i = 0; i < e->n_dims; i++)
    if (__builtin_mul_overflow (e->n_elements, e->shape[i], &e->n_elements))
      return st_fail (st, error, CLIP_ERROR_FORMAT,
                      "tensor '%s': shape %s has too many elements (64-bit overflow)", qname, shape);
  if (__builtin_mul_overflow (e->n_elements, (int64_t) clip_dtype_size (e->dtype), &e->n_bytes)
      || (uint64_t) e->n_bytes > SIZE_MAX)
    return st_fail (st, error, CLIP_ERROR_FORMAT, "tensor '%s': %s %s is too many bytes (overflow)",
                    qname, clip_dtype_name (e->dtype), shape);
  if (e->end - e->begin != e->n_bytes)
    return st_fail (st, error, CLIP_ERROR_FORMAT,
                    "tensor '%s': data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] hold %"
                    G_GINT64_FORMAT " bytes but %s %s needs %" G_GINT64_FORMAT,
                    qname, e->begin, e->end, e->end - e->begin, clip_dtype_name (e->dtype), shape, e->n_bytes);
  return TRUE;
}

static gboolean
metadata_parse (ClipSafetensors *st, JsonNode *node, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_autofree char *what = describe_node (node);
      return st_fail (st, error, CLIP_ERROR_FORMAT, METADATA_KEY " is %s, not an object of strings", what);
    }
  JsonObject *object = json_node_get_object (node);
  g_autoptr (GList) keys = json_object_get_members (object);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      JsonNode *value = json_object_get_member (object, l->data);
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          g_autofree char *qkey = quote_name (l->data);
          g_autofree char *what = describe_node (value);
          return st_fail (st, error, CLIP_ERROR_FORMAT, METADATA_KEY " value of '%s' is %s, not a string",
                          qkey, what);
        }
      g_hash_table_insert (st->metadata, g_strdup (l->data), g_strdup (json_node_get_string (value)));
    }
  return TRUE;
}

static int
entry_compare (const void *a, const void *b)
{
  const StEntry *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return x->header_index - y->header_index;
}

/* The byte buffer must be covered exactly: sorted ranges start at 0, each begins where the
 * previous one ends, and the last ends at the end of the file (no holes, no polyglots). */
static gboolean
entries_check_layout (const ClipSafetensors *st, const StEntry *entries, int n, size_t data_size,
                      GError **error)
{
  int64_t end = 0;
  for (int i = 0; i < n; i++)
    {
      const StEntry *e = &entries[i];
      g_autofree char *qname = quote_name (e->name);
      if (e->begin > end)
        {
          if (i == 0)
            return st_fail (st, error, CLIP_ERROR_FORMAT,
                            "tensor '%s': data begins at %" G_GINT64_FORMAT ", not 0 (gap at the start of the data)",
                            qname, e->begin);
          g_autofree char *qprev = quote_name (entries[i - 1].name);
          return st_fail (st, error, CLIP_ERROR_FORMAT,
                          "gap before tensor '%s': it begins at %" G_GINT64_FORMAT " but tensor '%s' ends at %"
                          G_GINT64_FORMAT, qname, e->begin, qprev, end);
        }
      if (e->begin < end)
        {
          g_autofree char *qprev = quote_name (entries[i - 1].name);
          return st_fail (st, error, CLIP_ERROR_FORMAT,
                          "tensor '%s' [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] overlaps tensor '%s' [%"
                          G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                          qname, e->begin, e->end, qprev, entries[i - 1].begin, entries[i - 1].end);
        }
      end = e->end;
    }
  if ((uint64_t) end > data_size)
    {
      g_autofree char *qname = quote_name (entries[n - 1].name);
      return st_fail (st, error, CLIP_ERROR_FORMAT,
                      "tensor '%s' ends at data byte %" G_GINT64_FORMAT ", past the end of the file, "
                      "which holds %zu bytes of data (truncated?)", qname, end, data_size);
    }
  if ((uint64_t) end < data_size)
    return st_fail (st, error, CLIP_ERROR_FORMAT,
                    "%" G_GUINT64_FORMAT " trailing bytes after the data (which ends at %" G_GINT64_FORMAT ")",
                    (guint64) (data_size - (uint64_t) end), end);
  return TRUE;
}

/* ---------------------------------------------------------------- reader */

static gboolean
st_load_tensors (ClipSafetensors *st, JsonObject *root, const uint8_t *data, size_t data_size,
                 GError **error)
{
  guint n_members = json_object_get_size (root);
  JsonNode *metadata = json_object_get_member (root, METADATA_KEY);
  guint n = n_members - (metadata != NULL ? 1 : 0);
  if (n > CLIP_MAX_TENSORS)
    return st_fail (st, error, CLIP_ERROR_LIMIT, "%u tensors exceed the limit of %d", n, CLIP_MAX_TENSORS);
  if (metadata != NULL && !metadata_parse (st, metadata, error))
    return FALSE;

  g_autofree StEntry *entries = g_new0 (StEntry, MAX (n, 1));
  g_autoptr (GList) names = json_object_get_members (root);
  int count = 0;
  for (GList *l = names; l != NULL; l = l->next)
    {
      if (strcmp (l->data, METADATA_KEY) == 0)
        continue;
      entries[count].header_index = count;
      if (!entry_parse (st, l->data, json_object_get_member (root, l->data), &entries[count], error))
        return FALSE;
      count++;
    }
  qsort (entries, (size_t) count, sizeof *entries, entry_compare);
  if (!entries_check_layout (st, entries, count, data_size, error))
    return FALSE;

  st->tensors = g_new0 (ClipStTensor, MAX (count, 1));
  st->n_tensors = count;
  for (int i = 0; i < count; i++)
    {
      ClipStTensor *t = &st->tensors[i];
      t->name = g_strdup (entries[i].name);
      t->dtype = entries[i].dtype;
      t->n_dims = entries[i].n_dims;
      memcpy (t->shape, entries[i].shape, sizeof t->shape);
      t->n_elements = entries[i].n_elements;
      t->data = data + entries[i].begin;
      t->n_bytes = (size_t) entries[i].n_bytes;
      t->file = st->label;
      g_hash_table_insert (st->by_name, (gpointer) t->name, t);
    }
  return TRUE;
}

static gboolean
st_validate (ClipSafetensors *st, GError **error)
{
  if (st->size < 8)
    return st_fail (st, error, CLIP_ERROR_FORMAT,
                    "file is %zu bytes, too short for the 8-byte header length", st->size);
  guint64 header_len;
  memcpy (&header_len, st->bytes, 8);
  header_len = GUINT64_FROM_LE (header_len);
  if (header_len == 0)
    return st_fail (st, error, CLIP_ERROR_FORMAT, "header length is 0");
  if (header_len > CLIP_MAX_HEADER_BYTES)
    return st_fail (st, error, CLIP_ERROR_LIMIT,
                    "header length %" G_GUINT64_FORMAT " exceeds the limit of %d bytes",
                    header_len, CLIP_MAX_HEADER_BYTES);
  if (header_len > st->size - 8)
    return st_fail (st, error, CLIP_ERROR_FORMAT,
                    "header length %" G_GUINT64_FORMAT " exceeds the file size %zu", header_len, st->size);

  const char *header = (const char *) st->bytes + 8;
  const char *bad_utf8;
  if (!g_utf8_validate_len (header, (gsize) header_len, &bad_utf8))
    return st_fail (st, error, CLIP_ERROR_FORMAT, "header is not valid UTF-8 (byte %td of the header)",
                    bad_utf8 - header);
  if (!clip_json_prescan (header, (gsize) header_len, st->label, error))
    return FALSE;

  g_autoptr (JsonParser) parser = json_parser_new ();
  DuplicateTracker dups = { .open_objects = g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref) };
  g_signal_connect (parser, "object-start", G_CALLBACK (on_object_start), &dups);
  g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &dups);
  g_signal_connect (parser, "object-end", G_CALLBACK (on_object_end), &dups);
  g_autoptr (GError) json_error = NULL;
  gboolean parsed = json_parser_load_from_data (parser, header, (gssize) header_len, &json_error);
  gboolean unique = !parsed || duplicate_check (st, &dups, error);
  g_ptr_array_unref (dups.open_objects);
  g_free (dups.duplicate);
  g_free (dups.holder);
  if (!parsed)
    return st_fail (st, error, CLIP_ERROR_FORMAT, "header is not valid JSON: %s", json_error->message);
  if (!unique)
    return FALSE;

  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL)
    return st_fail (st, error, CLIP_ERROR_FORMAT, "header holds no JSON value");
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_autofree char *what = describe_node (root);
      return st_fail (st, error, CLIP_ERROR_FORMAT, "header JSON is %s, not an object", what);
    }
  return st_load_tensors (st, json_node_get_object (root), st->bytes + 8 + header_len,
                          st->size - 8 - (size_t) header_len, error);
}

/* Reads the file FD whole into private anonymous memory.  Not a mapping of the file: pages of a
 * mapped file that someone truncates or rewrites in place (`cp new.safetensors model.safetensors`)
 * fault (SIGBUS) or change under the model. */
static gboolean
st_read_private (ClipSafetensors *st, int fd, GError **error)
{
  void *memory = mmap (NULL, st->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED)
    {
      int saved = errno;
      return st_fail (st, error, CLIP_ERROR_LIMIT, "cannot allocate %zu bytes to read it: %s", st->size,
                      g_strerror (saved));
    }
  st->map = memory;
  st->bytes = memory;
  size_t done = 0;
  while (done < st->size)
    {
      ssize_t n = pread (fd, (uint8_t *) st->map + done, MIN (st->size - done, (size_t) 1 << 30), (off_t) done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          return st_fail (st, error, CLIP_ERROR_IO, "cannot read: %s", g_strerror (saved));
        }
      if (n == 0)
        return st_fail (st, error, CLIP_ERROR_IO, "the file shrank while it was read");
      done += (size_t) n;
    }
  return TRUE;
}

static ClipSafetensors *
st_new (const char *label)
{
  ClipSafetensors *st = g_new0 (ClipSafetensors, 1);
  st->label = g_strdup (label);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return st;
}

ClipSafetensors *
clip_safetensors_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_autoptr (ClipSafetensors) st = st_new (path);

  struct stat info;
  int fd = clip_file_open_input (path, CLIP_INPUT_MISSING_CODE, &info, error);
  if (fd < 0)
    return NULL;
  st->size = (size_t) info.st_size;
  if (st->size >= 8 && !st_read_private (st, fd, error))  /* a short file fails validation below */
    {
      close (fd);
      return NULL;
    }
  close (fd);
  if (!st_validate (st, error))
    return NULL;
  return g_steal_pointer (&st);
}

ClipSafetensors *
clip_safetensors_open_bytes (const void *data, size_t size, const char *label, GError **error)
{
  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_autoptr (ClipSafetensors) st = st_new (label != NULL ? label : "(memory)");
  st->bytes = data;
  st->size = size;
  if (!st_validate (st, error))
    return NULL;
  return g_steal_pointer (&st);
}

/* ---------------------------------------------------------------- sharded checkpoints */

/* An index holds one short line per tensor: a few hundred kB for the largest CLIP models. */
#define INDEX_MAX_BYTES (16 << 20)

/* g_ptr_array_sort's comparison: its arguments point at the elements. */
static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The distinct shard names of WEIGHT_MAP, sorted; each a plain file name (no folder), as
 * transformers writes them ("model-00001-of-00002.safetensors"). */
static GPtrArray *
index_shard_names (const char *index_path, JsonObject *weight_map, GError **error)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *names = g_ptr_array_new ();
  g_autoptr (GList) members = json_object_get_members (weight_map);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (weight_map, l->data);
      const char *shard = JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
                            ? json_node_get_string (node) : NULL;
      if (shard == NULL || *shard == '\0' || strchr (shard, '/') != NULL || strcmp (shard, ".") == 0
          || strcmp (shard, "..") == 0)
        {
          g_autofree char *quoted = quote_name (l->data);
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: weight_map: tensor '%s' is not mapped to a file "
                       "name in the index's folder", index_path, quoted);
          g_ptr_array_unref (names);
          return NULL;
        }
      if (g_hash_table_add (seen, (gpointer) shard))
        g_ptr_array_add (names, (gpointer) shard);
    }
  g_ptr_array_sort (names, compare_names);
  return names;
}

/* Adds SHARD's tensors to ST, each of which WEIGHT_MAP must place in SHARD_NAME. */
static gboolean
sharded_add_tensors (ClipSafetensors *st, const ClipSafetensors *shard, const char *shard_name,
                     JsonObject *weight_map, GError **error)
{
  for (int i = 0; i < shard->n_tensors; i++)
    {
      const ClipStTensor *t = &shard->tensors[i];
      JsonNode *node = json_object_get_member (weight_map, t->name);
      const char *listed = node != NULL ? json_node_get_string (node) : NULL;
      if (listed == NULL || strcmp (listed, shard_name) != 0)
        {
          g_autofree char *quoted = quote_name (t->name);
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: holds tensor '%s', which the index %s lists %s%s",
                       shard->label, quoted, st->label, listed != NULL ? "in " : "nowhere",
                       listed != NULL ? listed : "");
          return FALSE;
        }
      ClipStTensor *copy = &st->tensors[st->n_tensors++];
      *copy = *t;
      copy->name = g_strdup (t->name);
      g_hash_table_insert (st->by_name, (gpointer) copy->name, copy);
    }
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, shard->metadata);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_hash_table_contains (st->metadata, key))
      g_hash_table_insert (st->metadata, g_strdup (key), g_strdup (value));
  st->size += shard->size;
  return TRUE;
}

/* Every tensor WEIGHT_MAP lists is in ST (the shards' tensors, all placed as the index says). */
static gboolean
sharded_check_complete (const ClipSafetensors *st, const char *dir, JsonObject *weight_map, GError **error)
{
  g_autoptr (GList) members = json_object_get_members (weight_map);
  for (GList *l = members; l != NULL; l = l->next)
    if (!g_hash_table_contains (st->by_name, l->data))
      {
        g_autofree char *quoted = quote_name (l->data);
        g_autofree char *shard = g_build_filename (dir, json_object_get_string_member (weight_map, l->data), NULL);
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: tensor '%s' is missing (the index %s lists it "
                     "there)", shard, quoted, st->label);
        return FALSE;
      }
  return TRUE;
}

ClipSafetensors *
clip_safetensors_open_sharded (const char *index_path, GError **error)
{
  g_return_val_if_fail (index_path != NULL, NULL);
  JsonObject *root, *weight_map = NULL;
  g_autoptr (JsonNode) node = clip_json_parse_object_file (index_path, INDEX_MAX_BYTES, &root, error);
  if (node == NULL || !clip_json_get_object (root, "weight_map", &weight_map, index_path, error))
    return NULL;
  if (weight_map == NULL || json_object_get_size (weight_map) == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: no \"weight_map\" naming the shard of each tensor",
                   index_path);
      return NULL;
    }
  g_autoptr (GPtrArray) names = index_shard_names (index_path, weight_map, error);
  if (names == NULL)
    return NULL;

  g_autoptr (ClipSafetensors) st = st_new (index_path);
  st->shards = g_ptr_array_new_with_free_func ((GDestroyNotify) clip_safetensors_close);
  g_autofree char *dir = g_path_get_dirname (index_path);
  int64_t n_tensors = 0;
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
      ClipSafetensors *shard = clip_safetensors_open (path, error);
      if (shard == NULL)
        {
          g_prefix_error (error, "%s: shard %u of %u: ", index_path, i + 1, names->len);
          return NULL;
        }
      g_ptr_array_add (st->shards, shard);
      n_tensors += shard->n_tensors;
    }
  if (n_tensors > CLIP_MAX_TENSORS)
    {
      st_fail (st, error, CLIP_ERROR_LIMIT, "%" G_GINT64_FORMAT " tensors in %u shards exceed the limit of %d",
               n_tensors, names->len, CLIP_MAX_TENSORS);
      return NULL;
    }
  st->tensors = g_new0 (ClipStTensor, MAX (n_tensors, 1));
  for (guint i = 0; i < names->len; i++)
    if (!sharded_add_tensors (st, st->shards->pdata[i], names->pdata[i], weight_map, error))
      return NULL;
  if (!sharded_check_complete (st, dir, weight_map, error))
    return NULL;
  return g_steal_pointer (&st);
}

void
clip_safetensors_close (ClipSafetensors *st)
{
  if (st == NULL)
    return;
  for (int i = 0; i < st->n_tensors; i++)
    g_free ((char *) st->tensors[i].name);
  g_free (st->tensors);
  g_hash_table_unref (st->by_name);
  g_hash_table_unref (st->metadata);
  if (st->shards != NULL)
    g_ptr_array_unref (st->shards);
  if (st->map != NULL)
    munmap (st->map, st->size);
  g_free (st->label);
  g_free (st);
}

const char *
clip_safetensors_path (const ClipSafetensors *st)
{
  return st->label;
}

int
clip_safetensors_n_tensors (const ClipSafetensors *st)
{
  return st->n_tensors;
}

const ClipStTensor *
clip_safetensors_tensor (const ClipSafetensors *st, int index)
{
  g_return_val_if_fail (index >= 0 && index < st->n_tensors, NULL);
  return &st->tensors[index];
}

const ClipStTensor *
clip_safetensors_find (const ClipSafetensors *st, const char *name)
{
  return g_hash_table_lookup (st->by_name, name);
}

const char *
clip_safetensors_metadata (const ClipSafetensors *st, const char *key)
{
  return g_hash_table_lookup (st->metadata, key);
}

size_t
clip_safetensors_file_size (const ClipSafetensors *st)
{
  return st->size;
}

gboolean
clip_safetensors_release (const ClipSafetensors *st, const void *data, size_t n_bytes)
{
  for (guint i = 0; st != NULL && st->shards != NULL && i < st->shards->len; i++)
    if (clip_safetensors_release (st->shards->pdata[i], data, n_bytes))
      return TRUE;
  if (st == NULL || st->map == NULL)
    return FALSE;
  uintptr_t base = (uintptr_t) st->map, start = (uintptr_t) data, end = start + n_bytes;
  if (start < base || end > base + st->size)
    return FALSE;
  uintptr_t page = (uintptr_t) sysconf (_SC_PAGESIZE);
  start = (start + page - 1) & ~(page - 1);
  end &= ~(page - 1);
  /* Anonymous private memory: the pages are freed, and come back as zeros if read again. */
  return end > start && madvise ((void *) start, end - start, MADV_DONTNEED) == 0;
}

gboolean
clip_safetensors_read_back (const ClipSafetensors *st, const void *data, size_t n_bytes, void *into)
{
  for (guint i = 0; st != NULL && st->shards != NULL && i < st->shards->len; i++)
    if (clip_safetensors_read_back (st->shards->pdata[i], data, n_bytes, into))
      return TRUE;
  if (st == NULL || st->map == NULL)
    return FALSE;
  uintptr_t base = (uintptr_t) st->map, start = (uintptr_t) data;
  if (start < base || start + n_bytes > base + st->size)
    return FALSE;
  int fd = g_open (st->label, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    return FALSE;
  size_t done = 0;
  while (done < n_bytes)
    {
      ssize_t got = pread (fd, (char *) into + done, n_bytes - done, (off_t) (start - base + done));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break;
      done += (size_t) got;
    }
  close (fd);
  return done == n_bytes;
}

/* ---------------------------------------------------------------- conversion */

static inline float
f32_from_bits (uint32_t bits)
{
  float f;
  memcpy (&f, &bits, 4);
  return f;
}

static inline uint32_t
f32_bits (float f)
{
  uint32_t bits;
  memcpy (&bits, &f, 4);
  return bits;
}

static float
f16_to_f32 (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  if (exponent == 0x1f)  /* inf, or NaN keeping its payload */
    return f32_from_bits (sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0)     /* zero or subnormal: mantissa × 2^-24, exact in float */
    return f32_from_bits (sign | f32_bits ((float) mantissa * 0x1p-24f));
  return f32_from_bits (sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

static uint16_t
f32_to_f16 (float f)
{
  uint32_t bits = f32_bits (f);
  uint16_t sign = (uint16_t) ((bits >> 16) & 0x8000);
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u)
    return sign | 0x7e00;                 /* quiet NaN */
  if (magnitude >= 0x477ff000u)           /* ≥ 65520 rounds (to even) past 65504: inf */
    return sign | 0x7c00;
  if (magnitude < 0x38800000u)            /* below 2^-14: subnormal steps of 2^-24 */
    {
      /* The scaling is exact and nearbyintf rounds half to even; 1024 is the smallest normal. */
      return sign | (uint16_t) nearbyintf (f32_from_bits (magnitude) * 0x1p24f);
    }
  /* Drop 13 mantissa bits rounding half to even; a carry moves into the exponent as it should. */
  magnitude += 0xfffu + ((magnitude >> 13) & 1);
  return sign | (uint16_t) ((magnitude - ((uint32_t) (127 - 15) << 23)) >> 13);
}

static uint16_t
f32_to_bf16 (float f)
{
  uint32_t bits = f32_bits (f);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((bits >> 16) | 0x0040);  /* quiet NaN, sign kept */
  bits += 0x7fffu + ((bits >> 16) & 1);
  return (uint16_t) (bits >> 16);
}

/* Elements may sit at any alignment inside a file: read each through memcpy. */
#define CONVERT_EACH(T, expr)                                               \
  for (int64_t i = 0; i < n; i++)                                           \
    {                                                                       \
      T v;                                                                  \
      memcpy (&v, (const uint8_t *) src + (size_t) i * sizeof (T), sizeof (T)); \
      dst[i] = (expr);                                                      \
    }

void
clip_convert_to_f32 (ClipDType dtype, const void *src, int64_t n, float *dst)
{
  if (n <= 0)
    return;
  switch (dtype)
    {
    case CLIP_DTYPE_F32:
      memcpy (dst, src, (size_t) n * sizeof (float));
      break;
    case CLIP_DTYPE_F16:
      CONVERT_EACH (uint16_t, f16_to_f32 (v));
      break;
    case CLIP_DTYPE_BF16:
      CONVERT_EACH (uint16_t, f32_from_bits ((uint32_t) v << 16));
      break;
    case CLIP_DTYPE_F64:
      CONVERT_EACH (double, (float) v);
      break;
    case CLIP_DTYPE_I64:
      CONVERT_EACH (int64_t, (float) v);
      break;
    case CLIP_DTYPE_I32:
      CONVERT_EACH (int32_t, (float) v);
      break;
    case CLIP_DTYPE_I16:
      CONVERT_EACH (int16_t, (float) v);
      break;
    case CLIP_DTYPE_I8:
      CONVERT_EACH (int8_t, (float) v);
      break;
    case CLIP_DTYPE_U8:
      CONVERT_EACH (uint8_t, (float) v);
      break;
    case CLIP_DTYPE_BOOL:
      CONVERT_EACH (uint8_t, v != 0 ? 1.0f : 0.0f);
      break;
    default:
      g_return_if_reached ();
    }
}

void
clip_convert_from_f32 (ClipDType dtype, const float *src, int64_t n, void *dst)
{
  g_return_if_fail (dtype == CLIP_DTYPE_F32 || dtype == CLIP_DTYPE_F16 || dtype == CLIP_DTYPE_BF16);
  if (n <= 0)
    return;
  if (dtype == CLIP_DTYPE_F32)
    {
      memcpy (dst, src, (size_t) n * sizeof (float));
      return;
    }
  uint8_t *out = dst;
  for (int64_t i = 0; i < n; i++)
    {
      uint16_t h = dtype == CLIP_DTYPE_F16 ? f32_to_f16 (src[i]) : f32_to_bf16 (src[i]);
      memcpy (out + (size_t) i * 2, &h, 2);
    }
}

/* ---------------------------------------------------------------- writer */

typedef struct
{
  char       *name;
  ClipDType   dtype;
  int         n_dims;
  int64_t     shape[CLIP_MAX_DIMS];
  const void *data;
  size_t      n_bytes;
} StWriterTensor;

struct _ClipStWriter
{
  GArray     *tensors;        /* StWriterTensor in the order added */
  GHashTable *names;          /* the names above */
  GPtrArray  *meta_keys;      /* in the order first set */
  GPtrArray  *meta_values;
  GError     *invalid;        /* first bad call, reported by clip_st_writer_write */
};

static void
writer_tensor_clear (gpointer data)
{
  g_free (((StWriterTensor *) data)->name);
}

ClipStWriter *
clip_st_writer_new (void)
{
  ClipStWriter *w = g_new0 (ClipStWriter, 1);
  w->tensors = g_array_new (FALSE, TRUE, sizeof (StWriterTensor));
  g_array_set_clear_func (w->tensors, writer_tensor_clear);
  w->names = g_hash_table_new (g_str_hash, g_str_equal);
  w->meta_keys = g_ptr_array_new_with_free_func (g_free);
  w->meta_values = g_ptr_array_new_with_free_func (g_free);
  return w;
}

void
clip_st_writer_free (ClipStWriter *w)
{
  if (w == NULL)
    return;
  g_hash_table_unref (w->names);
  g_array_unref (w->tensors);
  g_ptr_array_unref (w->meta_keys);
  g_ptr_array_unref (w->meta_values);
  g_clear_error (&w->invalid);
  g_free (w);
}

/* Checks one clip_st_writer_add call; the message becomes the write's error. */
static char *
writer_check_tensor (const ClipStWriter *w, const char *name, ClipDType dtype, int n_dims,
                     const int64_t *shape, const void *data, size_t *n_bytes)
{
  if (!g_utf8_validate (name, -1, NULL))
    return g_strdup ("tensor name is not valid UTF-8");
  g_autofree char *qname = quote_name (name);
  if (strcmp (name, METADATA_KEY) == 0)
    return g_strdup_printf ("tensor '%s': the name is reserved for the metadata", qname);
  if (g_hash_table_contains (w->names, name))
    return g_strdup_printf ("duplicate tensor name '%s'", qname);
  if ((unsigned) dtype > CLIP_DTYPE_BOOL)
    return g_strdup_printf ("tensor '%s': unknown dtype %d", qname, (int) dtype);
  if (n_dims < 0 || n_dims > CLIP_MAX_DIMS)
    return g_strdup_printf ("tensor '%s': %d dimensions, not 0 to %d", qname, n_dims, CLIP_MAX_DIMS);
  if (w->tensors->len >= CLIP_MAX_TENSORS)
    return g_strdup_printf ("more than %d tensors", CLIP_MAX_TENSORS);
  int64_t size = (int64_t) clip_dtype_size (dtype);
  for (int i = 0; i < n_dims; i++)
    {
      if (shape[i] < 0)
        return g_strdup_printf ("tensor '%s': negative dimension %" G_GINT64_FORMAT, qname, shape[i]);
      if (__builtin_mul_overflow (size, shape[i], &size) || (uint64_t) size > SIZE_MAX)
        return g_strdup_printf ("tensor '%s': byte size overflows", qname);
    }
  if (data == NULL && size > 0)
    return g_strdup_printf ("tensor '%s': no data for %" G_GINT64_FORMAT " bytes", qname, size);
  *n_bytes = (size_t) size;
  return NULL;
}

void
clip_st_writer_add (ClipStWriter *w, const char *name, ClipDType dtype, int n_dims,
                    const int64_t *shape, const void *data)
{
  g_return_if_fail (w != NULL && name != NULL);
  g_return_if_fail (n_dims == 0 || shape != NULL);

  StWriterTensor t = { .dtype = dtype, .n_dims = n_dims, .data = data };
  g_autofree char *problem = writer_check_tensor (w, name, dtype, n_dims, shape, data, &t.n_bytes);
  if (problem != NULL)
    {
      if (w->invalid == NULL)
        w->invalid = g_error_new_literal (CLIP_ERROR, CLIP_ERROR_INVALID, problem);
      return;
    }
  for (int i = 0; i < n_dims; i++)
    t.shape[i] = shape[i];
  t.name = g_strdup (name);
  g_array_append_val (w->tensors, t);
  g_hash_table_add (w->names, t.name);
}

void
clip_st_writer_set_metadata (ClipStWriter *w, const char *key, const char *value)
{
  g_return_if_fail (w != NULL && key != NULL && value != NULL);
  if (!g_utf8_validate (key, -1, NULL) || !g_utf8_validate (value, -1, NULL))
    {
      if (w->invalid == NULL)
        w->invalid = g_error_new_literal (CLIP_ERROR, CLIP_ERROR_INVALID,
                                          METADATA_KEY " key or value is not valid UTF-8");
      return;
    }
  for (guint i = 0; i < w->meta_keys->len; i++)
    if (strcmp (g_ptr_array_index (w->meta_keys, i), key) == 0)
      {
        g_free (g_ptr_array_index (w->meta_values, i));
        g_ptr_array_index (w->meta_values, i) = g_strdup (value);
        return;
      }
  g_ptr_array_add (w->meta_keys, g_strdup (key));
  g_ptr_array_add (w->meta_values, g_strdup (value));
}

/* The header JSON, padded with spaces so the data starts at a multiple of 8. */
static GString *
writer_header (const ClipStWriter *w, const char *path, GError **error)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  if (w->meta_keys->len > 0)
    {
      json_builder_set_member_name (builder, METADATA_KEY);
      json_builder_begin_object (builder);
      for (guint i = 0; i < w->meta_keys->len; i++)
        {
          json_builder_set_member_name (builder, g_ptr_array_index (w->meta_keys, i));
          json_builder_add_string_value (builder, g_ptr_array_index (w->meta_values, i));
        }
      json_builder_end_object (builder);
    }
  int64_t offset = 0;
  for (guint i = 0; i < w->tensors->len; i++)
    {
      const StWriterTensor *t = &g_array_index (w->tensors, StWriterTensor, i);
      int64_t end;
      if (__builtin_add_overflow (offset, (int64_t) t->n_bytes, &end))
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: tensor data exceeds 2^63 bytes", path);
          return NULL;
        }
      json_builder_set_member_name (builder, t->name);
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "dtype");
      json_builder_add_string_value (builder, clip_dtype_name (t->dtype));
      json_builder_set_member_name (builder, "shape");
      json_builder_begin_array (builder);
      for (int d = 0; d < t->n_dims; d++)
        json_builder_add_int_value (builder, t->shape[d]);
      json_builder_end_array (builder);
      json_builder_set_member_name (builder, "data_offsets");
      json_builder_begin_array (builder);
      json_builder_add_int_value (builder, offset);
      json_builder_add_int_value (builder, end);
      json_builder_end_array (builder);
      json_builder_end_object (builder);
      offset = end;
    }
  json_builder_end_object (builder);

  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  json_generator_set_root (generator, root);
  gsize len;
  g_autofree char *json = json_generator_to_data (generator, &len);
  if (len > CLIP_MAX_HEADER_BYTES - 8)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: header of %zu bytes exceeds the limit of %d",
                   path, len, CLIP_MAX_HEADER_BYTES);
      return NULL;
    }
  GString *header = g_string_new_len (json, (gssize) len);
  while ((8 + header->len) % 8 != 0)
    g_string_append_c (header, ' ');
  return header;
}

typedef struct
{
  const ClipStWriter *writer;
  const GString      *header;
} StWriterJob;

static gboolean
writer_write_fd (int fd, const char *path, gpointer user_data, GError **error)
{
  const StWriterJob *job = user_data;
  guint64 header_len = GUINT64_TO_LE ((guint64) job->header->len);
  if (!clip_file_write_all (fd, &header_len, 8, path, error)
      || !clip_file_write_all (fd, job->header->str, job->header->len, path, error))
    return FALSE;
  for (guint i = 0; i < job->writer->tensors->len; i++)
    {
      const StWriterTensor *t = &g_array_index (job->writer->tensors, StWriterTensor, i);
      if (!clip_file_write_all (fd, t->data, t->n_bytes, path, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
clip_st_writer_write (ClipStWriter *w, const char *path, GError **error)
{
  g_return_val_if_fail (w != NULL && path != NULL, FALSE);
  if (w->invalid != NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: %s", path, w->invalid->message);
      return FALSE;
    }
  g_autoptr (GString) header = writer_header (w, path, error);
  if (header == NULL)
    return FALSE;

  uint64_t total = 8 + header->len;
  for (guint i = 0; i < w->tensors->len; i++)
    total += g_array_index (w->tensors, StWriterTensor, i).n_bytes;  /* bounded by writer_header */
  StWriterJob job = { w, header };
  return clip_file_replace (path, total, writer_write_fd, &job, error);
}
