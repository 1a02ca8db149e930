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
} ClipStTensor;

typedef struct _ClipSafetensors ClipSafetensors;

/* Maps PATH and validates everything before returning: header length and JSON, known dtypes,
 * shapes (overflow-checked) × dtype size = byte ranges, ranges in the file with no overlap, gap or
 * trailing bytes, unique names, string-only metadata.  Errors name the file and the tensor. */
ClipSafetensors    *clip_safetensors_open (const char *path, GError **error);
/* The same checks on a buffer in memory (not copied; must outlive the result). */
ClipSafetensors    *clip_safetensors_open_bytes (const void *data, size_t size, const char *label, GError **error);
void                clip_safetensors_close (ClipSafetensors *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClipSafetensors, clip_safetensors_close)

const char         *clip_safetensors_path (const ClipSafetensors *st);
int                 clip_safetensors_n_tensors (const ClipSafetensors *st);
const ClipStTensor *clip_safetensors_tensor (const ClipSafetensors *st, int index); /* file order */
const ClipStTensor *clip_safetensors_find (const ClipSafetensors *st, const char *name);
const char         *clip_safetensors_metadata (const ClipSafetensors *st, const char *key);
size_t              clip_safetensors_file_size (const ClipSafetensors *st);
/* Gives the memory of the whole pages inside DATA … DATA + N_BYTES back to the kernel when they
 * are part of the file's contents that ST read (a copy has replaced them): those pages read as
 * zeros afterwards, until written again.  FALSE when nothing was given back. */
gboolean            clip_safetensors_release (const ClipSafetensors *st, const void *data, size_t n_bytes);

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
