/* train-dist.c — the data-parallel helpers of the trainer: agreeing on failures before a collective,
 * summing the loss and the gradients.  The transport is the caller's ClipCommunicator (MPI in
 * cliplab-cli); nothing here knows about MPI. */
#include "clip-private.h"

#include <string.h>

#define AGREE_MESSAGE_BYTES 1024   /* the first bytes of a failing rank's message: the code, then text */

typedef struct {
  int32_t failed;
  int32_t code;
  char    message[AGREE_MESSAGE_BYTES - 2 * sizeof (int32_t)];
} AgreeSlot;

gboolean
clip_communicator_agree (const ClipCommunicator *comm, const GError *local_failure, GError **error)
{
  AgreeSlot mine = { 0 };
  if (local_failure != NULL)
    {
      mine.failed = 1;
      mine.code = local_failure->domain == CLIP_ERROR ? local_failure->code : CLIP_ERROR_IO;
      g_strlcpy (mine.message, local_failure->message, sizeof mine.message);
    }
  g_autofree AgreeSlot *all = g_new (AgreeSlot, comm->size);
  if (!comm->allgather (&mine, all, sizeof mine, comm->user_data, error))
    return FALSE;
  for (int r = 0; r < comm->size; r++)
    if (all[r].failed)
      {
        all[r].message[sizeof all[r].message - 1] = '\0';
        /* an abort anywhere stops every rank as an abort, so that rank 0 saves a checkpoint */
        if (all[r].code == CLIP_ERROR_ABORTED)
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED, "%s", all[r].message);
        else
          g_set_error (error, CLIP_ERROR, all[r].code, "rank %d of %d: %s", r, comm->size, all[r].message);
        return FALSE;
      }
  return TRUE;
}

gboolean
clip_dist_sum_double (const ClipCommunicator *comm, double value, double *sum, GError **error)
{
  g_autofree double *all = g_new (double, comm->size);
  if (!comm->allgather (&value, all, sizeof value, comm->user_data, error))
    return FALSE;
  *sum = 0;
  for (int r = 0; r < comm->size; r++)
    *sum += all[r];
  return TRUE;
}

gboolean
clip_dist_sum_gradients (const ClipCommunicator *comm, float *grads, size_t n, GError **error)
{
  for (size_t start = 0; start < n; start += CLIP_DIST_BUCKET_FLOATS)
    if (!comm->allreduce_sum (grads + start, MIN (CLIP_DIST_BUCKET_FLOATS, n - start), comm->user_data, error))
      return FALSE;
  return TRUE;
}

gboolean
clip_dist_heartbeat (const ClipCommunicator *comm, gboolean busy, gboolean *root_busy, GError **error)
{
  int32_t mine = busy ? 1 : 0;
  g_autofree int32_t *all = g_new (int32_t, comm->size);
  if (!comm->allgather (&mine, all, sizeof mine, comm->user_data, error))
    return FALSE;
  *root_busy = all[0] != 0;
  return TRUE;
}

gboolean
clip_dist_check_same (const ClipCommunicator *comm, int64_t value, const char *what, GError **error)
{
  g_autofree int64_t *all = g_new (int64_t, comm->size);
  if (!comm->allgather (&value, all, sizeof value, comm->user_data, error))
    return FALSE;
  for (int r = 1; r < comm->size; r++)
    if (all[r] != all[0])
      {
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "the ranks disagree on %s: rank 0 has %" G_GINT64_FORMAT
                     ", rank %d %" G_GINT64_FORMAT, what, all[0], r, all[r]);
        return FALSE;
      }
  return TRUE;
}

/* ------------------------------------------------------------------ a rank's crops */

struct _ClipCropCache {
  ClipDataset *dataset;
  int          size;
  size_t       crop_bytes, budget;   /* budget: bytes still allowed in CROPS */
  GHashTable  *crops;                /* row index → its crop */
  uint8_t     *scratch;              /* a crop beyond the budget, valid until the next call */
};

ClipCropCache *
clip_crop_cache_new (ClipDataset *dataset, int size, size_t memory_limit)
{
  ClipCropCache *cache = g_new0 (ClipCropCache, 1);
  cache->dataset = dataset;
  cache->size = size;
  cache->crop_bytes = (size_t) size * size * 3;
  cache->budget = memory_limit;
  cache->crops = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  cache->scratch = g_malloc (cache->crop_bytes);
  return cache;
}

void
clip_crop_cache_free (ClipCropCache *cache)
{
  if (cache == NULL)
    return;
  g_hash_table_unref (cache->crops);
  g_free (cache->scratch);
  g_free (cache);
}

const uint8_t *
clip_crop_cache_get (ClipCropCache *cache, int index, GError **error)
{
  uint8_t *crop = g_hash_table_lookup (cache->crops, GINT_TO_POINTER (index));
  if (crop != NULL)
    return crop;
  /* the decoding of clip_dataset_prepare_images, so that the crops equal a single process's */
  g_autoptr (ClipImage) image = clip_image_load (clip_dataset_get_image_path (cache->dataset, index), FALSE, error);
  if (image == NULL)
    return NULL;
  if (cache->budget >= cache->crop_bytes)
    {
      crop = g_malloc (cache->crop_bytes);
      cache->budget -= cache->crop_bytes;
      g_hash_table_insert (cache->crops, GINT_TO_POINTER (index), crop);
    }
  else
    crop = cache->scratch;
  clip_image_resize_crop (image, cache->size, crop);
  return crop;
}
