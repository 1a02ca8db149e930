/* index-private.h — internal: the index file format, the folder scan and the per-file decoder that
 * index.c puts together.
 *
 * File layout (little-endian, native floats; every section starts at a multiple of 64 bytes, so the
 * embedding matrix of each block is aligned inside the memory map):
 *
 *   header   ClipIndexFileHeader, then the folder's absolute path, zero-padded to header_size;
 *            checksum = XXH3-64 of those header_size bytes with the checksum field zeroed
 *   block    ClipIndexBlockHeader (checksum = XXH3-64 of its first 56 bytes), then:
 *              chunk table  [n_chunks] ClipIndexChunk, zero-padded   (table_checksum covers it)
 *              embeddings   [n_entries, embed_dim] float32, zero-padded: one contiguous matrix, so a
 *                           search is one sgemv per block
 *              records      [n_entries] ClipIndexRecord
 *              strings      the paths, each NUL-terminated, in entry order, zero-padded
 *            Chunk k covers entries [k·CHUNK, (k+1)·CHUNK): its checksum is XXH3-64 of their
 *            embedding rows, then their records, then their strings, which end at strings_end.
 *            Damage in one chunk loses only its entries.
 *   block …
 *
 * The header's block_count blocks are the compacted content written with it (atomically, by
 * replacing the file: normally one block holding everything).  An update appends further blocks (a
 * journal, synced at every flush) whose entries supersede earlier ones of the same path; the next
 * update compacts them.  A block whose header is bad ends the file there (an interrupted append); a
 * block whose table or chunk is bad loses those entries; either is reported and never trusted. */
#pragma once

#include "clip.h"

#include <stdint.h>

#define CLIP_INDEX_FILE_VERSION   1
/* Bumped whenever decoding or preprocessing for the index changes, which changes every embedding. */
#define CLIP_INDEX_PIPELINE_VERSION 1
#define CLIP_INDEX_CHUNK_ENTRIES  8192     /* entries per checksummed chunk */
#define CLIP_INDEX_BLOCK_ENTRIES  (1 << 24) /* entries per block at most */
#define CLIP_INDEX_MAX_PATH       4096  /* bytes of a path relative to the folder */
#define CLIP_INDEX_KEY_BYTES      16

typedef struct {
  char     magic[8];          /* "CLIPIDX\n" */
  uint32_t version;
  uint32_t byte_order;        /* 0x01020304 as the writer stored it */
  uint32_t header_size;       /* this struct + folder path, padded to 64 */
  uint32_t embed_dim;
  uint8_t  model_key[CLIP_INDEX_KEY_BYTES];
  uint64_t entry_count;       /* entries in the compacted blocks */
  uint64_t block_count;       /* compacted blocks */
  int64_t  created;           /* Unix time of writing */
  uint32_t folder_len;        /* bytes of the folder path that follows */
  uint32_t reserved0;
  uint8_t  reserved[48];
  uint64_t checksum;
} ClipIndexFileHeader;

typedef struct {
  char     magic[8];          /* "CLIPBLK\n" */
  uint32_t n_entries;
  uint32_t embed_dim;
  uint64_t sequence;          /* 0, 1, … in file order */
  uint64_t payload_size;      /* bytes after this header */
  uint64_t strings_size;      /* bytes of the string section, before its padding */
  uint64_t table_checksum;    /* of the chunk table */
  uint64_t reserved;
  uint64_t checksum;          /* of the 56 bytes above */
} ClipIndexBlockHeader;

typedef struct {
  uint64_t checksum;          /* of the chunk's embeddings, records and strings */
  uint64_t strings_end;       /* where the chunk's strings end in the string section */
} ClipIndexChunk;

typedef struct {
  uint64_t size;              /* bytes of the file */
  int64_t  mtime_ns;          /* modification time, nanoseconds since the epoch */
  uint8_t  content_hash[16];  /* XXH3-128 of the file's bytes */
  uint32_t path_offset;       /* into the block's string section */
  uint32_t path_len;          /* bytes, without the NUL */
  uint64_t reserved;
} ClipIndexRecord;

G_STATIC_ASSERT (sizeof (ClipIndexFileHeader) == 128);
G_STATIC_ASSERT (sizeof (ClipIndexBlockHeader) == 64);
G_STATIC_ASSERT (sizeof (ClipIndexRecord) == 48);
G_STATIC_ASSERT (sizeof (ClipIndexChunk) == 16);

/* ---------------------------------------------------------------- identity */

/* What the embeddings depend on: weights, configuration, preprocessing, the decode settings and
 * CLIP_INDEX_PIPELINE_VERSION, hashed with XXH3-128. */
void  clip_index_model_key (const ClipModel *model, gboolean apply_exif_orientation, gboolean exact_decode,
                            uint8_t key[CLIP_INDEX_KEY_BYTES]);
/* CACHE_DIR/<hash of FOLDER>-<KEY>.cliplab-index */
char *clip_index_file_name (const char *cache_dir, const char *folder, const uint8_t key[CLIP_INDEX_KEY_BYTES]);
void  clip_index_hash_content (const void *data, size_t len, uint8_t hash[16]);

/* ---------------------------------------------------------------- store */

typedef struct {
  const char  *path;          /* relative to the folder */
  uint64_t     size;
  int64_t      mtime_ns;
  uint8_t      hash[16];
  const float *embedding;     /* [embed_dim], unit length */
  uint64_t     row;           /* set by the reader: the entry's row in clip_index_store_scores */
} ClipIndexEntry;

typedef struct _ClipIndexStore ClipIndexStore;

/* Maps and verifies FILE for FOLDER, KEY and DIM.  A missing file gives an empty store; a file that
 * fails any check is not trusted: the unverifiable part is left out and described in the warnings.
 * GROWING says another process is appending right now, so an incomplete last block is expected and
 * not reported.  Fails only on I/O errors. */
ClipIndexStore *clip_index_store_read (const char *file, const char *folder,
                                       const uint8_t key[CLIP_INDEX_KEY_BYTES], int dim, gboolean growing,
                                       GError **error);
void            clip_index_store_free (ClipIndexStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipIndexStore, clip_index_store_free)

/* The live entries, each path once (later blocks win). */
const ClipIndexEntry *clip_index_store_entries (const ClipIndexStore *store, size_t *n);
/* Messages about what was left out; NULL-terminated. */
const char *const    *clip_index_store_warnings (const ClipIndexStore *store);
/* FALSE when the file is absent, damaged, or has journal blocks: an update rewrites it first. */
gboolean              clip_index_store_is_compact (const ClipIndexStore *store);
/* Where the next block goes and its sequence number (the end of the last valid block). */
uint64_t              clip_index_store_end (const ClipIndexStore *store, uint64_t *next_sequence);
/* SCORES [rows] = embeddings · QUERY for every row of every valid block (one sgemv per block). */
size_t                clip_index_store_n_rows (const ClipIndexStore *store);
int                   clip_index_store_dim (const ClipIndexStore *store);
void                  clip_index_store_scores (const ClipIndexStore *store, const float *query, float *scores);
/* Row R's embedding [dim]. */
const float          *clip_index_store_row (const ClipIndexStore *store, size_t r);

/* The 4-bit copy of a store's embeddings (index-codes.c), freed with the store. */
typedef struct _ClipIndexCodes ClipIndexCodes;
void             clip_index_codes_free (ClipIndexCodes *codes);
ClipIndexCodes **clip_index_store_codes (ClipIndexStore *store);
/* As clip_index_store_scores for the rows of the store's entries that may be among the TOP best
 * (the same exact scores up to float32 rounding), −∞ for the others: from 20,000 rows on, a first
 * pass over a 4-bit copy of the embeddings (made at the first call) keeps the 32 · TOP best
 * approximate scores (at least 256) and leaves out the rest. */
void clip_index_store_scores_top (ClipIndexStore *store, const float *query, int top, float *scores);

/* Replaces FILE atomically with a compacted index of ENTRIES.  Fails with CLIP_ERROR_INVALID, before
 * writing, on anything the reader would not take back: a path given twice, or one that is empty,
 * absolute, over CLIP_INDEX_MAX_PATH bytes or has an empty, "." or ".." component. */
gboolean clip_index_store_write (const char *file, const char *folder, const uint8_t key[CLIP_INDEX_KEY_BYTES],
                                 int dim, const ClipIndexEntry *entries, size_t n, GError **error);
/* Appends ENTRIES as a journal block at *OFFSET of FD (FILE names it in errors) and syncs it; advances
 * *OFFSET and *SEQUENCE.  Paths may repeat (the last entry of a path wins when read); invalid ones
 * are refused as by clip_index_store_write. */
gboolean clip_index_store_append (int fd, const char *file, uint64_t *offset, uint64_t *sequence, int dim,
                                  const ClipIndexEntry *entries, size_t n, GError **error);

/* ---------------------------------------------------------------- scan */

typedef struct {
  char    *path;              /* relative to the folder */
  uint64_t size;
  int64_t  mtime_ns;
} ClipIndexScanFile;

typedef struct {
  GArray    *files;           /* ClipIndexScanFile, sorted by path */
  GPtrArray *skipped;         /* ClipIndexSkip * */
} ClipIndexScan;

/* Called every few hundred files with the count found so far; returning TRUE aborts the scan. */
typedef gboolean (*ClipIndexScanFunc) (int64_t found, gpointer user_data);

/* Lists the regular files under FOLDER (absolute) as OPTIONS say, ignoring the folder IGNORE_DIR
 * (the index cache) when it lies inside.  Fails when FOLDER cannot be read or when aborted. */
gboolean clip_index_scan (const char *folder, const ClipIndexOptions *options, const char *ignore_dir,
                          ClipIndexScanFunc func, gpointer user_data, ClipIndexScan *scan, GError **error);
/* The same, limited to PATHS (NULL-terminated, relative to FOLDER, none inside another): each one a
 * file, a folder walked recursively, or gone (then it adds nothing).  PATHS = NULL scans FOLDER. */
gboolean clip_index_scan_paths (const char *folder, const ClipIndexOptions *options, const char *ignore_dir,
                                const char *const *paths, ClipIndexScanFunc func, gpointer user_data,
                                ClipIndexScan *scan, GError **error);
void     clip_index_scan_clear (ClipIndexScan *scan);
void     clip_index_skip_free (ClipIndexSkip *skip);
ClipIndexSkip *clip_index_skip_new (const char *path, const char *reason, const char *same_as);

/* ---------------------------------------------------------------- decoding */

typedef struct {
  int                   image_size;
  const ClipPreprocess *preprocess;
  gboolean              apply_exif_orientation;
  gboolean              exact_decode;
  gboolean              follow_symlinks;
  int64_t               max_pixels;
  int64_t               max_file_bytes;
} ClipIndexDecoder;

typedef struct {
  uint64_t size;              /* as read (fstat of the open file) */
  int64_t  mtime_ns;
  uint8_t  hash[16];          /* valid unless reason is set */
  gboolean known;             /* the hash was in KNOWN: nothing was decoded */
  char    *reason;            /* why the file is skipped, or NULL */
  gboolean out_of_resources;  /* the reason is the process's (descriptors, memory), not the file's */
  float   *pixels;            /* [3, S, S] normalised, unless known or skipped */
} ClipIndexRead;

/* Reads PATH, checks it, hashes it and, unless KNOWN (a set of 16-byte hashes; may be NULL)
 * contains the hash, decodes and preprocesses it.  Safe to call from several threads at once. */
void clip_index_read_file (const ClipIndexDecoder *decoder, const char *path, GHashTable *known,
                           ClipIndexRead *out);
void clip_index_read_clear (ClipIndexRead *read);

/* Decodes the image file held in DATA (LEN bytes; PATH names it) as the index does: at a reduced
 * size for large JPEGs unless DECODER->exact_decode, EXIF orientation as set.  NULL with a reason
 * in ERROR (without the path) when it cannot. */
ClipImage *clip_index_decode_image (const ClipIndexDecoder *decoder, const char *path, const uint8_t *data,
                                    size_t len, GError **error);
