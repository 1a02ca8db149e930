/* index-store.c — the index file: verified, memory-mapped reading; atomic compacted writing; synced
 * appends between.  The layout is described in index-private.h.  Blocks are written in a streaming
 * way (two passes over the entries: checksums, then bytes), so compacting 100,000 entries needs no
 * second copy of their embeddings in memory. */
#include "index-private.h"
#include "util-file.h"

#include <cblas.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define FILE_MAGIC  "CLIPIDX\n"
#define BLOCK_MAGIC "CLIPBLK\n"
#define CODES_MAGIC "CLIPCOD\n"
#define BYTE_ORDER_MARK 0x01020304u
#define ALIGNMENT 64

struct _ClipIndexStore
{
  GMappedFile *map;
  GArray      *entries;      /* ClipIndexEntry */
  GPtrArray   *warnings;     /* char *, NULL-terminated */
  GArray      *blocks;       /* ClipIndexRowBlock */
  size_t       n_rows;
  int          dim;
  gboolean     compact;
  uint64_t     end;
  uint64_t     next_sequence;
  gboolean     lacks_codes;  /* a block has no stored codes: made at the first search instead */
  ClipIndexCodes *codes;     /* made by the first search that wants it (index-codes.c) */
};

static uint64_t
align_up (uint64_t n)
{
  return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
}

static uint64_t
n_chunks_of (uint64_t n)
{
  return (n + CLIP_INDEX_CHUNK_ENTRIES - 1) / CLIP_INDEX_CHUNK_ENTRIES;
}

/* Where the sections of a block of N entries of DIM floats start, relative to its payload. */
typedef struct
{
  uint64_t embeddings, records, strings;
} BlockLayout;

/* Payload bytes of a block of N entries with STRINGS bytes of paths; 0 on overflow. */
static uint64_t
block_layout (uint64_t n, uint64_t dim, uint64_t strings, BlockLayout *layout)
{
  uint64_t embeds, records, total;
  if (n > CLIP_INDEX_BLOCK_ENTRIES || dim > CLIP_MAX_DIM_SIZE || strings > G_MAXUINT32)
    return 0;
  embeds = n * dim * sizeof (float);
  records = n * sizeof (ClipIndexRecord);
  layout->embeddings = align_up (n_chunks_of (n) * sizeof (ClipIndexChunk));
  layout->records = layout->embeddings + align_up (embeds);
  layout->strings = layout->records + records;
  if (!g_uint64_checked_add (&total, layout->strings, strings) || total > G_MAXUINT64 - ALIGNMENT)
    return 0;
  return align_up (total);
}

static uint64_t
header_checksum (const ClipIndexFileHeader *header, const uint8_t *bytes, size_t size)
{
  XXH3_state_t *state = XXH3_createState ();
  ClipIndexFileHeader copy = *header;
  copy.checksum = 0;
  XXH3_64bits_reset (state);
  XXH3_64bits_update (state, &copy, sizeof copy);
  XXH3_64bits_update (state, bytes + sizeof copy, size - sizeof copy);
  uint64_t sum = XXH3_64bits_digest (state);
  XXH3_freeState (state);
  return sum;
}

static uint64_t
block_header_checksum (const ClipIndexBlockHeader *block)
{
  return XXH3_64bits (block, offsetof (ClipIndexBlockHeader, checksum));
}

static uint64_t
codes_header_checksum (const ClipIndexCodesHeader *codes)
{
  return XXH3_64bits (codes, offsetof (ClipIndexCodesHeader, checksum));
}

/* Whether rows of DIM values get codes. */
static gboolean
dim_takes_codes (int dim)
{
  return dim % CLIP_INDEX_CODES_BLOCK == 0;
}

/* Where the scales and the check of the codes of N rows of DIM values start, relative to their
 * payload; returns the payload's bytes (N ≤ CLIP_INDEX_BLOCK_ENTRIES and DIM ≤ CLIP_MAX_DIM_SIZE keep
 * it far from overflowing). */
typedef struct
{
  uint64_t scales, check;
} CodesLayout;

static uint64_t
codes_layout (uint64_t n, uint64_t dim, CodesLayout *layout)
{
  layout->scales = align_up (n * dim / 2);
  layout->check = layout->scales + align_up (n * sizeof (float));
  return layout->check + ALIGNMENT;
}

/* ---------------------------------------------------------------- reading */

static void
store_warn (ClipIndexStore *store, const char *file, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
store_warn (ClipIndexStore *store, const char *file, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_autofree char *display = g_filename_display_name (file);
  /* Keep the array NULL-terminated. */
  g_ptr_array_remove_index (store->warnings, store->warnings->len - 1);
  g_ptr_array_add (store->warnings, g_strdup_printf ("%s: %s", display, message));
  g_ptr_array_add (store->warnings, NULL);
  store->compact = FALSE;
}

/* Why PATH (LEN bytes) cannot be stored, or NULL when it can: it must be relative, at most
 * CLIP_INDEX_MAX_PATH bytes, without empty, "." or ".." components.  The reader refuses such a path in
 * a crafted index (it must not make an update look outside the folder); the writer refuses it up
 * front, so that no index is written that cannot be read back. */
static const char *
path_problem (const char *path, size_t len)
{
  /* The caller checked that PATH + LEN lies inside the strings: look no further. */
  if (len == 0)
    return "the path is empty";
  if (len > CLIP_INDEX_MAX_PATH)
    return "the path is longer than " G_STRINGIFY (CLIP_INDEX_MAX_PATH) " bytes";
  if (memchr (path, '\0', len + 1) != path + len)
    return "the path holds a NUL byte";
  if (path[0] == '/')
    return "the path is absolute";
  const char *component = path;
  for (const char *p = path;; p++)
    if (*p == '/' || *p == '\0')
      {
        size_t n = (size_t) (p - component);
        if (n == 0 || (n == 1 && component[0] == '.') || (n == 2 && component[0] == '.' && component[1] == '.'))
          return "the path has an empty, '.' or '..' component";
        if (*p == '\0')
          return NULL;
        component = p + 1;
      }
}

/* Checks the file header; FALSE (with a warning) when nothing in the file can be trusted. */
static gboolean
read_header (ClipIndexStore *store, const char *file, const uint8_t *bytes, size_t size, const char *folder,
             const uint8_t *key, int dim, const ClipIndexFileHeader **out)
{
  const ClipIndexFileHeader *h = (const ClipIndexFileHeader *) bytes;
  if (size < sizeof *h || memcmp (h->magic, FILE_MAGIC, 8) != 0)
    {
      store_warn (store, file, "not a ClipLab index file; it will be rebuilt");
      return FALSE;
    }
  if (h->version < CLIP_INDEX_OLDEST_VERSION || h->version > CLIP_INDEX_FILE_VERSION)
    {
      store_warn (store, file, "index version %u, this program reads versions %d-%d; it will be rebuilt",
                  h->version, CLIP_INDEX_OLDEST_VERSION, CLIP_INDEX_FILE_VERSION);
      return FALSE;
    }
  if (h->byte_order != BYTE_ORDER_MARK)
    {
      store_warn (store, file, "written on a machine of another byte order; it will be rebuilt");
      return FALSE;
    }
  size_t folder_len = strlen (folder);
  if (h->header_size % ALIGNMENT != 0 || h->header_size > size || h->folder_len > CLIP_INDEX_MAX_PATH * 2
      || h->header_size < sizeof *h + (uint64_t) h->folder_len
      || h->header_size != align_up (sizeof *h + (uint64_t) h->folder_len)
      || header_checksum (h, bytes, h->header_size) != h->checksum)
    {
      store_warn (store, file, "the header is damaged (checksum mismatch); the index will be rebuilt");
      return FALSE;
    }
  if (h->embed_dim != (uint32_t) dim || memcmp (h->model_key, key, CLIP_INDEX_KEY_BYTES) != 0)
    {
      store_warn (store, file, "made with another model or other decode settings; it will be rebuilt");
      return FALSE;
    }
  if (h->folder_len != folder_len || memcmp (bytes + sizeof *h, folder, folder_len) != 0)
    {
      store_warn (store, file, "belongs to another folder; it will be rebuilt");
      return FALSE;
    }
  *out = h;
  return TRUE;
}

/* Checks the records of one chunk whose checksum matched: every path inside the chunk's strings,
 * NUL-terminated, relative and without "..". */
static gboolean
chunk_records_valid (const ClipIndexRecord *records, uint64_t count, const char *strings, uint64_t start,
                     uint64_t end)
{
  for (uint64_t i = 0; i < count; i++)
    {
      const ClipIndexRecord *r = &records[i];
      if (r->path_offset < start || (uint64_t) r->path_offset + r->path_len >= end
          || path_problem (strings + r->path_offset, r->path_len) != NULL)
        return FALSE;
    }
  return TRUE;
}

static uint64_t
chunk_checksum (const float *embeds, const ClipIndexRecord *records, const char *strings, uint64_t count,
                int dim, uint64_t start, uint64_t end)
{
  XXH3_state_t *state = XXH3_createState ();
  XXH3_64bits_reset (state);
  XXH3_64bits_update (state, embeds, count * dim * sizeof (float));
  XXH3_64bits_update (state, records, count * sizeof (ClipIndexRecord));
  XXH3_64bits_update (state, strings + start, end - start);
  uint64_t sum = XXH3_64bits_digest (state);
  XXH3_freeState (state);
  return sum;
}

/* Adds the entries of the block's intact chunks; an entry supersedes the earlier entry of the same
 * path (BY_PATH: path → its index in the entries), in place.  FALSE when its chunk table is damaged:
 * then none of its rows count. */
static gboolean
read_block (ClipIndexStore *store, const char *file, const ClipIndexBlockHeader *block, const uint8_t *payload,
            uint64_t offset, GHashTable *by_path)
{
  uint64_t n = block->n_entries, n_chunks = n_chunks_of (n);
  BlockLayout layout = { 0 };
  block_layout (n, store->dim, block->strings_size, &layout);
  const ClipIndexChunk *table = (const ClipIndexChunk *) payload;
  const float *embeds = (const float *) (payload + layout.embeddings);
  const ClipIndexRecord *records = (const ClipIndexRecord *) (payload + layout.records);
  const char *strings = (const char *) (payload + layout.strings);

  gboolean table_ok = XXH3_64bits (table, n_chunks * sizeof *table) == block->table_checksum;
  for (uint64_t k = 0; table_ok && k < n_chunks; k++)
    table_ok = table[k].strings_end >= (k > 0 ? table[k - 1].strings_end : 0)
               && table[k].strings_end <= block->strings_size
               && (k + 1 < n_chunks || table[k].strings_end == block->strings_size);
  if (!table_ok)
    {
      store_warn (store, file, "block %" G_GUINT64_FORMAT " at offset %" G_GUINT64_FORMAT " is damaged (its "
                  "chunk table); its %" G_GUINT64_FORMAT " entries are dropped and will be embedded again",
                  block->sequence, offset, n);
      return FALSE;
    }

  ClipIndexRowBlock sb = { .embeds = embeds, .first_row = store->n_rows, .n = block->n_entries };
  g_array_append_val (store->blocks, sb);
  guint first = store->entries->len;
  for (uint64_t k = 0; k < n_chunks; k++)
    {
      uint64_t start = k * CLIP_INDEX_CHUNK_ENTRIES, count = MIN (CLIP_INDEX_CHUNK_ENTRIES, n - start);
      uint64_t s0 = k > 0 ? table[k - 1].strings_end : 0, s1 = table[k].strings_end;
      const float *chunk_embeds = embeds + start * store->dim;
      if (chunk_checksum (chunk_embeds, records + start, strings, count, store->dim, s0, s1) != table[k].checksum)
        {
          store_warn (store, file, "block %" G_GUINT64_FORMAT " at offset %" G_GUINT64_FORMAT ": entries %"
                      G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT " are damaged (checksum mismatch); they are dropped "
                      "and will be embedded again", block->sequence, offset, start, start + count - 1);
          continue;
        }
      if (!chunk_records_valid (records + start, count, strings, s0, s1))
        {
          store_warn (store, file, "block %" G_GUINT64_FORMAT ": entries %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT
                      " hold an invalid path; they are dropped", block->sequence, start, start + count - 1);
          continue;
        }
      for (uint64_t i = start; i < start + count; i++)
        {
          const ClipIndexRecord *r = &records[i];
          ClipIndexEntry entry = {
            .path = strings + r->path_offset,
            .size = r->size,
            .mtime_ns = r->mtime_ns,
            .embedding = embeds + i * store->dim,
            .row = store->n_rows + i,
          };
          memcpy (entry.hash, r->content_hash, 16);
          g_array_append_val (store->entries, entry);
        }
    }
  store->n_rows += n;

  /* In entry order, so that the last of several entries of one path wins, however many there are:
   * each overwrites the slot of the path's first entry, and the entries kept close up behind. */
  guint kept = first;
  for (guint i = first; i < store->entries->len; i++)
    {
      const ClipIndexEntry *e = &g_array_index (store->entries, ClipIndexEntry, i);
      gpointer slot;
      if (g_hash_table_lookup_extended (by_path, e->path, NULL, &slot))
        g_array_index (store->entries, ClipIndexEntry, GPOINTER_TO_UINT (slot)) = *e;
      else
        {
          g_array_index (store->entries, ClipIndexEntry, kept) = *e;
          g_hash_table_insert (by_path, (gpointer) e->path, GUINT_TO_POINTER (kept));
          kept++;
        }
    }
  g_array_set_size (store->entries, kept);
  return TRUE;
}

/* Whether the codes and scales of N rows of DIM values at PAYLOAD match their check. */
static gboolean
codes_intact (const uint8_t *payload, uint64_t n, int dim, const CodesLayout *layout)
{
  XXH3_state_t *state = XXH3_createState ();
  XXH3_64bits_reset (state);
  XXH3_64bits_update (state, payload, n * dim / 2);
  XXH3_64bits_update (state, payload + layout->scales, n * sizeof (float));
  uint64_t sum = XXH3_64bits_digest (state), stored;
  XXH3_freeState (state);
  memcpy (&stored, payload + layout->check, sizeof stored);
  return sum == stored;
}

/* The codes at OFFSET, if there are any, for the block BLOCK just read (ROWS: its rows, NULL when
 * none of them count): sets ROWS' codes when they are intact and of the kind this program reads, else
 * leaves them to be made from the embeddings.  Returns the offset after them, or the same offset when
 * there are none; sets *STOP when the file cannot be followed past them (a damaged header, or codes
 * cut short, which the next append overwrites). */
static uint64_t
read_codes (ClipIndexStore *store, const char *file, const uint8_t *bytes, size_t size, uint64_t offset,
            const ClipIndexBlockHeader *block, ClipIndexRowBlock *rows, gboolean growing, gboolean *stop)
{
  const ClipIndexCodesHeader *c = (const ClipIndexCodesHeader *) (bytes + offset);
  uint64_t remaining = size - offset;
  if (remaining < sizeof *c || memcmp (c->magic, CODES_MAGIC, 8) != 0)
    return offset;
  if (codes_header_checksum (c) != c->checksum || c->sequence != block->sequence
      || c->n_entries != block->n_entries || c->embed_dim != block->embed_dim)
    {
      store_warn (store, file, "the codes of block %" G_GUINT64_FORMAT " at offset %" G_GUINT64_FORMAT " have a "
                  "damaged header; the rest of the file is ignored", block->sequence, offset);
      *stop = TRUE;
      return offset;
    }
  if (c->payload_size > remaining - sizeof *c)
    {
      if (!growing)
        store_warn (store, file, "the codes of block %" G_GUINT64_FORMAT " end with the file (an interrupted "
                    "write?); they are made again from the embeddings", block->sequence);
      *stop = TRUE;
      return offset;
    }
  CodesLayout layout;
  const uint8_t *payload = bytes + offset + sizeof *c;
  const char *problem = NULL;
  /* Codes of another kind, or of rows that do not count, are left to be made from the embeddings. */
  gboolean readable = rows != NULL && c->kind == CLIP_INDEX_CODES_4BIT && dim_takes_codes (store->dim);
  if (readable && c->payload_size != codes_layout (c->n_entries, store->dim, &layout))
    problem = "have the wrong size";
  else if (readable && !codes_intact (payload, c->n_entries, store->dim, &layout))
    problem = "are damaged (checksum mismatch)";
  else if (readable)
    {
      rows->codes = payload;
      rows->scales = (const float *) (payload + layout.scales);
    }
  if (problem != NULL)
    store_warn (store, file, "the codes of block %" G_GUINT64_FORMAT " at offset %" G_GUINT64_FORMAT " %s; they "
                "are made again from the embeddings", block->sequence, offset, problem);
  return offset + sizeof *c + c->payload_size;
}

static void
read_blocks (ClipIndexStore *store, const char *file, const uint8_t *bytes, size_t size,
             const ClipIndexFileHeader *h, gboolean growing)
{
  uint64_t offset = h->header_size;
  uint64_t sequence = 0;
  /* A later entry for a path replaces the earlier one: journal blocks repeat paths by design, and a
   * crafted compacted block must not bring in duplicates either. */
  g_autoptr (GHashTable) by_path = g_hash_table_new (g_str_hash, g_str_equal);

  while (offset < size)
    {
      const ClipIndexBlockHeader *block = (const ClipIndexBlockHeader *) (bytes + offset);
      uint64_t remaining = size - offset;
      uint64_t expected = 0;
      BlockLayout layout = { 0 };
      if (remaining < sizeof *block || memcmp (block->magic, BLOCK_MAGIC, 8) != 0
          || block_header_checksum (block) != block->checksum || block->sequence != sequence
          || block->embed_dim != (uint32_t) store->dim
          || (expected = block_layout (block->n_entries, store->dim, block->strings_size, &layout)) == 0
          || block->payload_size != expected || expected > remaining - sizeof *block)
        {
          if (!growing || sequence < h->block_count)
            store_warn (store, file, "%" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT " are not a "
                        "complete block (an interrupted write?); they are ignored", remaining, offset);
          break;
        }
      gboolean counted = read_block (store, file, block, bytes + offset + sizeof *block, offset, by_path);
      offset += sizeof *block + block->payload_size;
      sequence++;
      ClipIndexRowBlock *rows = counted ? &g_array_index (store->blocks, ClipIndexRowBlock, store->blocks->len - 1)
                                        : NULL;
      gboolean stop = FALSE;
      offset = read_codes (store, file, bytes, size, offset, block, rows, growing, &stop);
      if (stop)
        break;
    }
  for (guint b = 0; b < store->blocks->len && dim_takes_codes (store->dim); b++)
    if (g_array_index (store->blocks, ClipIndexRowBlock, b).codes == NULL)
      store->lacks_codes = TRUE;

  if (sequence < h->block_count)
    store_warn (store, file, "the file ends after %" G_GUINT64_FORMAT " of its %" G_GUINT64_FORMAT " blocks",
                sequence, h->block_count);
  if (sequence != h->block_count || store->lacks_codes)
    store->compact = FALSE;
  store->end = offset;
  store->next_sequence = sequence;
}

ClipIndexStore *
clip_index_store_read (const char *file, const char *folder, const uint8_t key[CLIP_INDEX_KEY_BYTES], int dim,
                       gboolean growing, GError **error)
{
  g_autoptr (ClipIndexStore) store = g_new0 (ClipIndexStore, 1);
  store->entries = g_array_new (FALSE, FALSE, sizeof (ClipIndexEntry));
  store->blocks = g_array_new (FALSE, FALSE, sizeof (ClipIndexRowBlock));
  store->warnings = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (store->warnings, NULL);
  store->dim = dim;
  store->compact = TRUE;

  GError *local = NULL;
  int fd = clip_file_open_input (file, CLIP_INPUT_MISSING_CODE, NULL, &local);
  if (fd < 0)
    {
      if (g_error_matches (local, CLIP_ERROR, CLIP_ERROR_MISSING))
        {
          g_error_free (local);
          store->compact = FALSE;  /* nothing on disk yet */
          return g_steal_pointer (&store);
        }
      g_propagate_error (error, local);
      return NULL;
    }
  store->map = g_mapped_file_new_from_fd (fd, FALSE, &local);
  close (fd);
  if (store->map == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", file, local->message);
      g_error_free (local);
      return NULL;
    }

  const uint8_t *bytes = (const uint8_t *) g_mapped_file_get_contents (store->map);
  size_t size = g_mapped_file_get_length (store->map);
  const ClipIndexFileHeader *header = NULL;
  if (read_header (store, file, bytes, size, folder, key, dim, &header))
    read_blocks (store, file, bytes, size, header, growing);
  return g_steal_pointer (&store);
}

void
clip_index_store_free (ClipIndexStore *store)
{
  if (store == NULL)
    return;
  g_clear_pointer (&store->map, g_mapped_file_unref);
  g_array_unref (store->entries);
  g_array_unref (store->blocks);
  g_ptr_array_unref (store->warnings);
  clip_index_codes_free (store->codes);
  g_free (store);
}

const ClipIndexEntry *
clip_index_store_entries (const ClipIndexStore *store, size_t *n)
{
  *n = store->entries->len;
  return (const ClipIndexEntry *) store->entries->data;
}

const char *const *
clip_index_store_warnings (const ClipIndexStore *store)
{
  return (const char *const *) store->warnings->pdata;
}

gboolean
clip_index_store_is_compact (const ClipIndexStore *store)
{
  return store->compact;
}

uint64_t
clip_index_store_end (const ClipIndexStore *store, uint64_t *next_sequence)
{
  *next_sequence = store->next_sequence;
  return store->end;
}

size_t
clip_index_store_n_rows (const ClipIndexStore *store)
{
  return store->n_rows;
}

int
clip_index_store_dim (const ClipIndexStore *store)
{
  return store->dim;
}

ClipIndexCodes **
clip_index_store_codes (ClipIndexStore *store)
{
  return &store->codes;
}

const ClipIndexRowBlock *
clip_index_store_blocks (const ClipIndexStore *store, guint *n_blocks)
{
  *n_blocks = store->blocks->len;
  return (const ClipIndexRowBlock *) store->blocks->data;
}

gboolean
clip_index_store_has_codes (const ClipIndexStore *store)
{
  return !store->lacks_codes;
}

/* The blocks are in row order: the last whose first row is at most R holds it. */
const float *
clip_index_store_row (const ClipIndexStore *store, size_t r)
{
  guint lo = 0, hi = store->blocks->len;
  while (hi - lo > 1)
    {
      guint mid = (lo + hi) / 2;
      if (g_array_index (store->blocks, ClipIndexRowBlock, mid).first_row <= r)
        lo = mid;
      else
        hi = mid;
    }
  const ClipIndexRowBlock *sb = &g_array_index (store->blocks, ClipIndexRowBlock, lo);
  return sb->embeds + (r - sb->first_row) * store->dim;
}

void
clip_index_store_scores (const ClipIndexStore *store, const float *query, float *scores)
{
  for (guint b = 0; b < store->blocks->len; b++)
    {
      const ClipIndexRowBlock *sb = &g_array_index (store->blocks, ClipIndexRowBlock, b);
      if (sb->n > 0)
        cblas_sgemv (CblasRowMajor, CblasNoTrans, (int) sb->n, store->dim, 1.0f, sb->embeds, store->dim,
                     query, 1, 0.0f, scores + sb->first_row, 1);
    }
}

/* ---------------------------------------------------------------- writing */

/* Writes through a buffer, so that rows, records and paths go out in large writes. */
typedef struct
{
  int         fd;
  const char *path;
  uint8_t    *buffer;
  size_t      used;
  uint64_t    written;
} BlockWriter;

#define WRITER_BUFFER (1 << 20)

static gboolean
writer_flush (BlockWriter *w, GError **error)
{
  gboolean ok = clip_file_write_all (w->fd, w->buffer, w->used, w->path, error);
  w->used = 0;
  return ok;
}

static gboolean
writer_put (BlockWriter *w, const void *data, size_t len, GError **error)
{
  const uint8_t *p = data;
  while (len > 0)
    {
      if (w->used == WRITER_BUFFER && !writer_flush (w, error))
        return FALSE;
      size_t n = MIN (len, WRITER_BUFFER - w->used);
      if (p != NULL)
        memcpy (w->buffer + w->used, p, n);
      else
        memset (w->buffer + w->used, 0, n);  /* padding */
      w->used += n;
      w->written += n;
      len -= n;
      if (p != NULL)
        p += n;
    }
  return TRUE;
}

static gboolean
writer_pad (BlockWriter *w, GError **error)
{
  return writer_put (w, NULL, align_up (w->written) - w->written, error);
}

static ClipIndexRecord
make_record (const ClipIndexEntry *entry, uint64_t path_offset)
{
  ClipIndexRecord record = {
    .size = entry->size,
    .mtime_ns = entry->mtime_ns,
    .path_offset = (uint32_t) path_offset,
    .path_len = (uint32_t) strlen (entry->path),
  };
  memcpy (record.content_hash, entry->hash, 16);
  return record;
}

/* How many of the N ENTRIES fit one block: at most CLIP_INDEX_BLOCK_ENTRIES, paths under 4 GiB. */
static size_t
block_count_fitting (const ClipIndexEntry *entries, size_t n)
{
  uint64_t strings = 0;
  size_t count = 0;
  while (count < n && count < CLIP_INDEX_BLOCK_ENTRIES)
    {
      uint64_t len = strlen (entries[count].path) + 1;
      if (strings + len > G_MAXUINT32)
        break;
      strings += len;
      count++;
    }
  return count;
}

/* One block of ENTRIES: checksums first, then the bytes, section by section. */
static gboolean
block_write (BlockWriter *w, uint64_t sequence, int dim, const ClipIndexEntry *entries, size_t n, GError **error)
{
  uint64_t n_chunks = n_chunks_of (n);
  g_autofree ClipIndexChunk *table = g_new0 (ClipIndexChunk, MAX (n_chunks, 1));
  XXH3_state_t *state = XXH3_createState ();
  uint64_t strings = 0;
  for (uint64_t k = 0; k < n_chunks; k++)
    {
      size_t start = k * CLIP_INDEX_CHUNK_ENTRIES, end = MIN (start + CLIP_INDEX_CHUNK_ENTRIES, n);
      XXH3_64bits_reset (state);
      for (size_t i = start; i < end; i++)
        XXH3_64bits_update (state, entries[i].embedding, sizeof (float) * dim);
      uint64_t offset = strings;
      for (size_t i = start; i < end; i++)
        {
          ClipIndexRecord record = make_record (&entries[i], offset);
          XXH3_64bits_update (state, &record, sizeof record);
          offset += record.path_len + 1;
        }
      for (size_t i = start; i < end; i++)
        XXH3_64bits_update (state, entries[i].path, strlen (entries[i].path) + 1);
      table[k] = (ClipIndexChunk) { XXH3_64bits_digest (state), offset };
      strings = offset;
    }
  XXH3_freeState (state);

  BlockLayout layout = { 0 };
  ClipIndexBlockHeader header = {
    .n_entries = (uint32_t) n,
    .embed_dim = (uint32_t) dim,
    .sequence = sequence,
    .payload_size = block_layout (n, dim, strings, &layout),
    .strings_size = strings,
    .table_checksum = XXH3_64bits (table, n_chunks * sizeof *table),
  };
  memcpy (header.magic, BLOCK_MAGIC, 8);
  header.checksum = block_header_checksum (&header);

  if (!writer_put (w, &header, sizeof header, error) || !writer_put (w, table, n_chunks * sizeof *table, error)
      || !writer_pad (w, error))
    return FALSE;
  for (size_t i = 0; i < n; i++)
    if (!writer_put (w, entries[i].embedding, sizeof (float) * dim, error))
      return FALSE;
  if (!writer_pad (w, error))
    return FALSE;
  uint64_t offset = 0;
  for (size_t i = 0; i < n; i++)
    {
      ClipIndexRecord record = make_record (&entries[i], offset);
      offset += record.path_len + 1;
      if (!writer_put (w, &record, sizeof record, error))
        return FALSE;
    }
  for (size_t i = 0; i < n; i++)
    if (!writer_put (w, entries[i].path, strlen (entries[i].path) + 1, error))
      return FALSE;
  return writer_pad (w, error);
}

/* The codes of the block SEQUENCE of ENTRIES, a chunk of rows at a time (the codes streamed, the
 * scales kept until they follow). */
static gboolean
codes_write (BlockWriter *w, uint64_t sequence, int dim, const ClipIndexEntry *entries, size_t n, GError **error)
{
  CodesLayout layout;
  ClipIndexCodesHeader header = {
    .kind = CLIP_INDEX_CODES_4BIT,
    .embed_dim = (uint32_t) dim,
    .sequence = sequence,
    .n_entries = n,
    .payload_size = codes_layout (n, dim, &layout),
  };
  memcpy (header.magic, CODES_MAGIC, 8);
  header.checksum = codes_header_checksum (&header);
  if (!writer_put (w, &header, sizeof header, error))
    return FALSE;

  g_autofree float *scales = g_new (float, MAX (n, 1));
  g_autofree const float **rows = g_new (const float *, CLIP_INDEX_CHUNK_ENTRIES);
  g_autofree uint8_t *codes = g_malloc ((size_t) CLIP_INDEX_CHUNK_ENTRIES * dim / 2);
  XXH3_state_t *state = XXH3_createState ();
  XXH3_64bits_reset (state);
  gboolean ok = TRUE;
  for (size_t start = 0; ok && start < n; start += CLIP_INDEX_CHUNK_ENTRIES)
    {
      size_t count = MIN (CLIP_INDEX_CHUNK_ENTRIES, n - start);
      for (size_t i = 0; i < count; i++)
        rows[i] = entries[start + i].embedding;
      clip_index_codes_encode (rows, count, dim, codes, scales + start);
      XXH3_64bits_update (state, codes, count * dim / 2);
      ok = writer_put (w, codes, count * dim / 2, error);
    }
  XXH3_64bits_update (state, scales, n * sizeof (float));
  uint64_t check[ALIGNMENT / sizeof (uint64_t)] = { XXH3_64bits_digest (state) };
  XXH3_freeState (state);
  return ok && writer_pad (w, error) && writer_put (w, scales, n * sizeof (float), error) && writer_pad (w, error)
         && writer_put (w, check, sizeof check, error);
}

/* ENTRIES as consecutive blocks numbered from *SEQUENCE, each followed by its codes when DIM takes
 * them. */
static gboolean
blocks_write (BlockWriter *w, uint64_t *sequence, int dim, const ClipIndexEntry *entries, size_t n,
              GError **error)
{
  for (size_t start = 0; start < n;)
    {
      size_t count = block_count_fitting (entries + start, n - start);
      if (!block_write (w, *sequence, dim, entries + start, count, error)
          || (dim_takes_codes (dim) && !codes_write (w, *sequence, dim, entries + start, count, error)))
        return FALSE;
      *sequence += 1;
      start += count;
    }
  return writer_flush (w, error);
}

typedef struct
{
  const char           *folder;
  const uint8_t        *key;
  int                   dim;
  const ClipIndexEntry *entries;
  size_t                n;
} StoreJob;

static gboolean
store_write_fd (int fd, const char *path, gpointer user_data, GError **error)
{
  const StoreJob *job = user_data;
  size_t folder_len = strlen (job->folder);
  uint64_t header_size = align_up (sizeof (ClipIndexFileHeader) + folder_len);
  g_autofree uint8_t *header_bytes = g_malloc0 (header_size);
  ClipIndexFileHeader *h = (ClipIndexFileHeader *) header_bytes;
  memcpy (h->magic, FILE_MAGIC, 8);
  h->version = CLIP_INDEX_FILE_VERSION;
  h->byte_order = BYTE_ORDER_MARK;
  h->header_size = (uint32_t) header_size;
  h->embed_dim = (uint32_t) job->dim;
  memcpy (h->model_key, job->key, CLIP_INDEX_KEY_BYTES);
  h->entry_count = job->n;
  for (size_t start = 0; start < job->n; h->block_count++)
    start += block_count_fitting (job->entries + start, job->n - start);
  h->created = g_get_real_time () / G_USEC_PER_SEC;
  h->folder_len = (uint32_t) folder_len;
  memcpy (header_bytes + sizeof *h, job->folder, folder_len);
  h->checksum = header_checksum (h, header_bytes, header_size);

  g_autofree uint8_t *buffer = g_malloc (WRITER_BUFFER);
  BlockWriter w = { fd, path, buffer, 0, 0 };
  uint64_t sequence = 0;
  return writer_put (&w, header_bytes, header_size, error)
         && blocks_write (&w, &sequence, job->dim, job->entries, job->n, error);
}

/* Refuses, before anything is written, what the reader would refuse: a dimension it cannot lay out,
 * a path it would drop (with the whole chunk around it) and, when UNIQUE (a compacted write), a
 * path given twice, which would read back as one entry. */
static gboolean
entries_check (const char *file, int dim, const ClipIndexEntry *entries, size_t n, gboolean unique,
               GError **error)
{
  g_autofree char *display = g_filename_display_name (file);
  if (dim < 1 || dim > CLIP_MAX_DIM_SIZE)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: embedding dimension %d is not within 1-%d",
                   display, dim, CLIP_MAX_DIM_SIZE);
      return FALSE;
    }
  g_autoptr (GHashTable) seen = unique ? g_hash_table_new (g_str_hash, g_str_equal) : NULL;
  for (size_t i = 0; i < n; i++)
    {
      const char *path = entries[i].path;
      const char *problem = path_problem (path, strlen (path));
      if (problem == NULL && seen != NULL && !g_hash_table_add (seen, (gpointer) path))
        problem = "the path is given more than once";
      if (problem != NULL)
        {
          g_autofree char *path_display = g_filename_display_name (path);
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: cannot store entry %zu ('%s'): %s", display, i,
                       path_display, problem);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
clip_index_store_write (const char *file, const char *folder, const uint8_t key[CLIP_INDEX_KEY_BYTES], int dim,
                        const ClipIndexEntry *entries, size_t n, GError **error)
{
  if (strlen (folder) > CLIP_INDEX_MAX_PATH * 2)
    {
      g_autofree char *display = g_filename_display_name (file);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: the folder's path is longer than %d bytes", display,
                   CLIP_INDEX_MAX_PATH * 2);
      return FALSE;
    }
  if (!entries_check (file, dim, entries, n, TRUE, error))
    return FALSE;
  StoreJob job = { folder, key, dim, entries, n };
  return clip_file_replace (file, 0, store_write_fd, &job, error);
}

gboolean
clip_index_store_append (int fd, const char *file, uint64_t *offset, uint64_t *sequence, int dim,
                         const ClipIndexEntry *entries, size_t n, GError **error)
{
  if (!entries_check (file, dim, entries, n, FALSE, error))
    return FALSE;
  if (lseek (fd, (off_t) *offset, SEEK_SET) < 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot seek: %s", file, g_strerror (saved));
      return FALSE;
    }
  g_autofree uint8_t *buffer = g_malloc (WRITER_BUFFER);
  BlockWriter w = { fd, file, buffer, 0, 0 };
  if (!blocks_write (&w, sequence, dim, entries, n, error))
    return FALSE;
  *offset += w.written;
  if (fdatasync (fd) != 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot sync: %s", file, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------- identity */

void
clip_index_hash_content (const void *data, size_t len, uint8_t hash[16])
{
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash (&canonical, XXH3_128bits (data, len));
  memcpy (hash, canonical.digest, 16);
}

char *
clip_index_file_name (const char *cache_dir, const char *folder, const uint8_t key[CLIP_INDEX_KEY_BYTES])
{
  uint64_t folder_hash = XXH3_64bits (folder, strlen (folder));
  g_autofree char *key_hex = g_malloc (2 * 8 + 1);
  for (int i = 0; i < 8; i++)
    g_snprintf (key_hex + 2 * i, 3, "%02x", key[i]);
  g_autofree char *name = g_strdup_printf ("%016" G_GINT64_MODIFIER "x-%s.cliplab-index",
                                           (guint64) folder_hash, key_hex);
  return g_build_filename (cache_dir, name, NULL);
}
