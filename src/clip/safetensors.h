/* safetensors.h — internal: a validating, memory-mapped safetensors reader and an atomic writer. */
#pragma once

#include "clip.h"

typedef struct {
  const char *name;
  ClipDType   dtype;
  int         n_dims;
  int64_t     shape[CLIP_MAX_DIMS];
  int64_t     n_elements;
  const void *data;      /* into the memory map */
  size_t      n_bytes;
  const char *file;      /* the file that holds it (a shard's, for a sharded checkpoint): for errors */
} ClipStTensor;

typedef struct _ClipSafetensors ClipSafetensors;

/* Maps PATH and validates everything before returning: header length and JSON, known dtypes,
 * shapes (overflow-checked) × dtype size = byte ranges, ranges in the file with no overlap, gap or
 * trailing bytes, unique names, string-only metadata.  Errors name the file and the tensor. */
ClipSafetensors    *clip_safetensors_open (const char *path, GError **error);
/* A checkpoint split in several files: INDEX_PATH is Hugging Face's model.safetensors.index.json,
 * whose "weight_map" names the shard holding each tensor (file names in the index's folder).  Each
 * shard is opened and checked as above, and every tensor must be in the shard the index names for
 * it: errors name the shard.  The result reads as one file whose tensors are all the shards'
 * (ordered by shard, then data offset) and whose metadata is the shards' (the first one's wins). */
ClipSafetensors    *clip_safetensors_open_sharded (const char *index_path, GError **error);
/* The same checks on a buffer in memory (not copied; must outlive the result). */
ClipSafetensors    *clip_safetensors_open_bytes (const void *data, size_t size, const char *label, GError **error);
void                clip_safetensors_close (ClipSafetensors *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipSafetensors, clip_safetensors_close)

const char         *clip_safetensors_path (const ClipSafetensors *st);
int                 clip_safetensors_n_tensors (const ClipSafetensors *st);
const ClipStTensor *clip_safetensors_tensor (const ClipSafetensors *st, int index); /* file order */
const ClipStTensor *clip_safetensors_find (const ClipSafetensors *st, const char *name);
const char         *clip_safetensors_metadata (const ClipSafetensors *st, const char *key);
size_t              clip_safetensors_file_size (const ClipSafetensors *st);   /* all shards' */
/* Gives the memory of the whole pages inside DATA … DATA + N_BYTES back to the kernel when they
 * are part of the file's contents that ST read (a copy has replaced them): those pages read as
 * zeros afterwards, until written again.  FALSE when nothing was given back. */
gboolean            clip_safetensors_release (const ClipSafetensors *st, const void *data, size_t n_bytes);
/* Reads the N_BYTES of the file that DATA (inside the contents) held when loaded into INTO, from the
 * file again (after clip_safetensors_release); FALSE when DATA is not in the contents or the file
 * cannot be read that far.  Whether the file changed since is the caller's to check. */
gboolean            clip_safetensors_read_back (const ClipSafetensors *st, const void *data, size_t n_bytes,
                                                void *into);

/* Element conversion; DST holds n floats. */
void clip_convert_to_f32 (ClipDType dtype, const void *src, int64_t n, float *dst);
void clip_convert_from_f32 (ClipDType dtype, const float *src, int64_t n, void *dst); /* F32/F16/BF16, round to nearest even */

/* Writer: tensors are referenced, not copied, until clip_st_writer_write returns. */
typedef struct _ClipStWriter ClipStWriter;

ClipStWriter *clip_st_writer_new (void);
void          clip_st_writer_free (ClipStWriter *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipStWriter, clip_st_writer_free)
void          clip_st_writer_add (ClipStWriter *w, const char *name, ClipDType dtype,
                                  int n_dims, const int64_t *shape, const void *data);
void          clip_st_writer_set_metadata (ClipStWriter *w, const char *key, const char *value);
/* Temporary file beside PATH, fsync, rename, fsync of the directory: PATH is either the old file
 * or the complete new one, and a failure (disk full…) leaves the old file untouched. */
gboolean      clip_st_writer_write (ClipStWriter *w, const char *path, GError **error);
