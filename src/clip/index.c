/* index.c — the public index API: opening an index, bringing it up to date, queries and search.
 *
 * An update scans the folder, keeps the entries whose path, size and modification time are
 * unchanged, and reads the rest on worker threads (index-decode.c) while the calling thread encodes
 * batches with the model: the workers run ahead by a bounded window, so decoding the next images
 * overlaps encoding the current batch.  Results are taken in scan order, which makes the counts and
 * the choice of which copy of a moved file counts as "moved" deterministic.  New entries are
 * appended to the file as a journal block at least every flush_interval images; at the end the file
 * is rewritten compacted (index-store.c). */
#include "clip-private.h"
#include "index-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <xxhash.h>

#define DEFAULT_FLUSH_INTERVAL 200
#define DEFAULT_BATCH_SIZE     8
#define DEFAULT_MAX_FILE_BYTES (G_GINT64_CONSTANT (512) * 1024 * 1024)
#define MAX_BATCH_SIZE         256
/* How long an update waits for readers that are looking for changes to let go of the lock. */
#define LOCK_WAIT_MS           5000
#define LOCK_RETRY_MS          10

struct _ClipIndex
{
  ClipModel       *model;          /* borrowed */
  ClipIndexOptions options;        /* exclude and cache_dir point at the copies below */
  char           **exclude;
  char            *cache_dir;
  char            *folder;
  char            *file;
  char            *lock_file;
  uint8_t          key[CLIP_INDEX_KEY_BYTES];
  int              dim;
  ClipIndexStore  *store;
  GPtrArray       *warnings;       /* char *, NULL-terminated */
  GHashTable      *by_path;        /* path → const ClipIndexEntry *, built when first needed */
  float           *scores;
  size_t           scores_len;
  ClipIndexProgress progress;      /* of the running (or last) update */
};

void
clip_index_options_init (ClipIndexOptions *options)
{
  g_return_if_fail (options != NULL);
  *options = (ClipIndexOptions) {
    .apply_exif_orientation = TRUE,
    .max_pixels = CLIP_MAX_IMAGE_PIXELS,
    .max_file_bytes = DEFAULT_MAX_FILE_BYTES,
    .flush_interval = DEFAULT_FLUSH_INTERVAL,
    .batch_size = DEFAULT_BATCH_SIZE,
  };
}

/* ---------------------------------------------------------------- identity */

void
clip_index_model_key (const ClipModel *model, gboolean apply_exif_orientation, gboolean exact_decode,
                      uint8_t key[CLIP_INDEX_KEY_BYTES])
{
  XXH3_state_t *state = XXH3_createState ();
  XXH3_128bits_reset (state);
  const uint32_t settings[3] = { CLIP_INDEX_PIPELINE_VERSION, apply_exif_orientation != FALSE,
                                 exact_decode != FALSE };
  XXH3_128bits_update (state, settings, sizeof settings);
  g_autofree char *config = clip_config_to_json (&model->config, &model->preprocess);
  XXH3_128bits_update (state, config, strlen (config) + 1);
  /* Embeddings at one precision are not mixed with another's (F32 keeps the keys it had). */
  if (model->precision != CLIP_PRECISION_F32)
    XXH3_128bits_update (state, clip_precision_name (model->precision), strlen (clip_precision_name (model->precision)) + 1);

  int n_tensors;
  ClipTensorInfo *table = clip_tensor_table_new (&model->config, (ClipWeights *) &model->w, &n_tensors);
  g_autofree float *scratch = NULL;  /* a weight the panels took over, one at a time */
  for (int i = 0; i < n_tensors; i++)
    {
      const ClipTensorInfo *t = &table[i];
      XXH3_128bits_update (state, t->hf_name, strlen (t->hf_name) + 1);
      XXH3_128bits_update (state, t->shape, sizeof (int64_t) * t->n_dims);
      const float *data = clip_model_original_data (model, t->slot, t->n_elements, &scratch);
      XXH3_128bits_update (state, data, sizeof (float) * (size_t) t->n_elements);
    }
  clip_tensor_table_free (table, n_tensors);

  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash (&canonical, XXH3_128bits_digest (state));
  memcpy (key, canonical.digest, CLIP_INDEX_KEY_BYTES);
  XXH3_freeState (state);
}

static guint
hash16_hash (gconstpointer data)
{
  guint h;
  memcpy (&h, data, sizeof h);  /* the bytes of a good hash are already uniform */
  return h;
}

static gboolean
hash16_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, 16) == 0;
}

/* ---------------------------------------------------------------- opening */

static void
index_take_warnings (ClipIndex *index)
{
  for (const char *const *w = clip_index_store_warnings (index->store); *w != NULL; w++)
    {
      gboolean seen = FALSE;
      for (guint i = 0; i + 1 < index->warnings->len && !seen; i++)
        seen = g_str_equal (g_ptr_array_index (index->warnings, i), *w);
      if (!seen)
        g_ptr_array_insert (index->warnings, index->warnings->len - 1, g_strdup (*w));
    }
}

static void
index_set_store (ClipIndex *index, ClipIndexStore *store)
{
  g_clear_pointer (&index->by_path, g_hash_table_unref);
  g_clear_pointer (&index->store, clip_index_store_free);
  index->store = store;
  index_take_warnings (index);
}

/* Whether another process holds the update lock of the index right now. */
static gboolean
index_is_being_updated (const ClipIndex *index)
{
  int fd = g_open (index->lock_file, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
  if (fd < 0)
    return FALSE;
  gboolean locked = flock (fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close (fd);
  return locked;
}

ClipIndex *
clip_index_open (const char *folder, ClipModel *model, const ClipIndexOptions *options, GError **error)
{
  g_return_val_if_fail (folder != NULL && model != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  ClipIndexOptions defaults;
  clip_index_options_init (&defaults);
  if (options == NULL)
    options = &defaults;
  g_autofree char *display = g_filename_display_name (folder);
  if (options->flush_interval < 1 || options->batch_size < 1 || options->batch_size > MAX_BATCH_SIZE
      || options->decode_threads < 0 || options->decode_threads > CLIP_MAX_THREADS || options->max_pixels < 1
      || options->max_file_bytes < 1)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                   "%s: invalid index options (flush interval %d, batch size %d (at most %d), %d decode "
                   "threads, %" G_GINT64_FORMAT " pixels, %" G_GINT64_FORMAT " bytes)", display,
                   options->flush_interval, options->batch_size, MAX_BATCH_SIZE, options->decode_threads,
                   options->max_pixels, options->max_file_bytes);
      return NULL;
    }

  g_autofree char *canonical = realpath (folder, NULL);
  if (canonical == NULL)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", display, g_strerror (saved));
      return NULL;
    }
  if (!g_file_test (canonical, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: not a folder", display);
      return NULL;
    }

  g_autoptr (ClipIndex) index = g_new0 (ClipIndex, 1);
  index->model = model;
  index->options = *options;
  index->exclude = g_strdupv ((char **) options->exclude);
  index->options.exclude = (const char *const *) index->exclude;
  index->cache_dir = options->cache_dir != NULL
                       ? g_strdup (options->cache_dir)
                       : g_build_filename (g_get_user_cache_dir (), "cliplab", "index", NULL);
  index->options.cache_dir = index->cache_dir;
  index->folder = g_steal_pointer (&canonical);
  index->dim = model->config.embed_dim;
  index->warnings = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (index->warnings, NULL);
  clip_index_model_key (model, options->apply_exif_orientation, options->exact_decode, index->key);
  index->file = clip_index_file_name (index->cache_dir, index->folder, index->key);
  index->lock_file = g_strconcat (index->file, ".lock", NULL);

  ClipIndexStore *store = clip_index_store_read (index->file, index->folder, index->key, index->dim,
                                                 index_is_being_updated (index), error);
  if (store == NULL)
    return NULL;
  index_set_store (index, store);
  return g_steal_pointer (&index);
}

void
clip_index_free (ClipIndex *index)
{
  if (index == NULL)
    return;
  g_clear_pointer (&index->by_path, g_hash_table_unref);
  g_clear_pointer (&index->store, clip_index_store_free);
  g_clear_pointer (&index->warnings, g_ptr_array_unref);
  g_strfreev (index->exclude);
  g_free (index->cache_dir);
  g_free (index->folder);
  g_free (index->file);
  g_free (index->lock_file);
  g_free (index->scores);
  g_free (index);
}

const char *
clip_index_get_folder (const ClipIndex *index)
{
  return index->folder;
}

const char *
clip_index_get_file (const ClipIndex *index)
{
  return index->file;
}

int64_t
clip_index_get_n_entries (const ClipIndex *index)
{
  size_t n;
  clip_index_store_entries (index->store, &n);
  return (int64_t) n;
}

const char *const *
clip_index_get_warnings (const ClipIndex *index)
{
  return (const char *const *) index->warnings->pdata;
}

void
clip_index_stats_clear (ClipIndexStats *stats)
{
  if (stats == NULL)
    return;
  g_clear_pointer (&stats->skipped, g_ptr_array_unref);
  memset (stats, 0, sizeof *stats);
}

/* ---------------------------------------------------------------- update */

/* One new or changed file on its way through the workers. */
typedef struct
{
  const ClipIndexScanFile *file;
  const ClipIndexEntry    *old;       /* the entry of the same path, or NULL */
  char                    *full_path;
  ClipIndexRead            read;
  gboolean                 done;      /* set by the calling thread once popped from the queue */
} UpdateJob;

/* An image decoded and waiting for its batch to be encoded. */
typedef struct
{
  ClipIndexEntry entry;
  float         *pixels;
} UpdatePending;

typedef struct
{
  ClipIndex                *index;
  const ClipCallbacks      *callbacks;
  ClipIndexDecoder          decoder;
  GHashTable               *known;       /* hash → embedding of every old entry: read-only for workers */
  GHashTable               *fresh;       /* hash → embedding encoded in this run */
  GHashTable               *vanished;    /* hash → count of old entries whose path is gone */
  GAsyncQueue              *results;     /* UpdateJob * from the workers */
  GArray                   *entries;     /* ClipIndexEntry: the index after the update */
  GArray                   *unflushed;   /* ClipIndexEntry: new entries not yet on disk */
  GArray                   *batch;       /* UpdatePending */
  GPtrArray                *owned;       /* embeddings and paths made in this run */
  GPtrArray                *skipped;     /* ClipIndexSkip * */
  float                    *batch_pixels;
  float                    *batch_embeds;
  int                       fd;          /* the index file, for appending */
  GError                   *out_of_resources;  /* a read failed for want of descriptors or memory */
  uint64_t                  end;         /* where the next block goes */
  uint64_t                  sequence;
  ClipIndexProgress        *progress;    /* the index's, read by clip_index_get_progress */
  gint64                    embed_start;
  int64_t                   added, updated, removed, moved;
} Updater;

static gboolean
updater_aborted (const Updater *u)
{
  return clip_callbacks_aborted (u->callbacks);
}

/* While scanning, the count found so far of an unknown total; then the files handled of those to do. */
static void
updater_report (Updater *u)
{
  const ClipIndexProgress *p = u->progress;
  if (p->phase == CLIP_INDEX_PHASE_SCAN)
    clip_callbacks_progress (u->callbacks, clip_index_phase_name (p->phase), p->found, -1);
  else
    clip_callbacks_progress (u->callbacks, clip_index_phase_name (p->phase), p->done, p->total);
}

static gboolean
updater_scan_progress (int64_t found, gpointer user_data)
{
  Updater *u = user_data;
  u->progress->found = found;
  updater_report (u);
  return updater_aborted (u);
}

static gboolean
updater_flush (Updater *u, GError **error)
{
  if (u->unflushed->len == 0)
    return TRUE;
  if (!clip_index_store_append (u->fd, u->index->file, &u->end, &u->sequence, u->index->dim,
                                (const ClipIndexEntry *) u->unflushed->data, u->unflushed->len, error))
    return FALSE;
  u->progress->flushed += u->unflushed->len;
  g_array_set_size (u->unflushed, 0);
  return TRUE;
}

static void
updater_add (Updater *u, const ClipIndexEntry *entry)
{
  g_array_append_val (u->entries, *entry);
  g_array_append_val (u->unflushed, *entry);
}

static gboolean
updater_encode_batch (Updater *u, GError **error)
{
  int n = (int) u->batch->len;
  if (n == 0)
    return TRUE;
  int s = u->index->model->config.image_size;
  size_t image_floats = (size_t) 3 * s * s;
  for (int i = 0; i < n; i++)
    memcpy (u->batch_pixels + i * image_floats, g_array_index (u->batch, UpdatePending, i).pixels,
            sizeof (float) * image_floats);
  gboolean ok = clip_model_encode_images (u->index->model, u->batch_pixels, n, u->batch_embeds, u->callbacks,
                                          error);
  for (int i = 0; i < n; i++)
    {
      UpdatePending *p = &g_array_index (u->batch, UpdatePending, i);
      g_clear_pointer (&p->pixels, g_free);
      if (!ok)
        continue;
      float *embedding = g_memdup2 (u->batch_embeds + (size_t) i * u->index->dim, sizeof (float) * u->index->dim);
      g_ptr_array_add (u->owned, embedding);
      p->entry.embedding = embedding;
      if (!g_hash_table_contains (u->fresh, p->entry.hash))
        g_hash_table_insert (u->fresh, g_memdup2 (p->entry.hash, 16), embedding);
      updater_add (u, &p->entry);
    }
  g_array_set_size (u->batch, 0);
  return ok;
}

/* Takes one finished job, in scan order: decides what it means for the index. */
static void
updater_take (Updater *u, UpdateJob *job)
{
  ClipIndexRead *read = &job->read;
  if (read->out_of_resources && u->out_of_resources == NULL)
    {
      /* Not the file's fault: skipping it (and every file after it) would drop good images. */
      g_autofree char *display = g_filename_display_name (job->full_path);
      g_set_error (&u->out_of_resources, CLIP_ERROR, CLIP_ERROR_RESOURCES, "%s: %s", display, read->reason);
      return;
    }
  if (read->out_of_resources)
    return;
  if (read->reason != NULL)
    {
      g_ptr_array_add (u->skipped, clip_index_skip_new (job->file->path, read->reason, NULL));
      if (job->old != NULL)
        u->removed++;  /* changed into something unreadable: the old embedding is stale */
      return;
    }

  ClipIndexEntry entry = {
    .path = job->file->path,
    .size = read->size,
    .mtime_ns = read->mtime_ns,
  };
  memcpy (entry.hash, read->hash, 16);
  if (job->old != NULL && memcmp (job->old->hash, read->hash, 16) == 0)
    entry.embedding = job->old->embedding;  /* touched, not changed */
  else
    {
      entry.embedding = g_hash_table_lookup (u->known, read->hash);
      if (entry.embedding == NULL)
        entry.embedding = g_hash_table_lookup (u->fresh, read->hash);
    }

  if (job->old != NULL)
    u->updated++;
  else
    {
      /* A new path with the content of a file that is gone: that file moved here. */
      gpointer key, count;
      if (g_hash_table_lookup_extended (u->vanished, read->hash, &key, &count))
        {
          u->moved++;
          if (GPOINTER_TO_SIZE (count) > 1)
            g_hash_table_insert (u->vanished, key, GSIZE_TO_POINTER (GPOINTER_TO_SIZE (count) - 1));
          else
            g_hash_table_remove (u->vanished, key);
        }
      else
        u->added++;
    }

  if (entry.embedding != NULL)
    updater_add (u, &entry);
  else
    {
      UpdatePending pending = { entry, g_steal_pointer (&read->pixels) };
      g_array_append_val (u->batch, pending);
    }
}

static void
update_job_free (UpdateJob *job)
{
  g_free (job->full_path);
  clip_index_read_clear (&job->read);
  g_free (job);
}

static void
update_worker (gpointer data, gpointer user_data)
{
  UpdateJob *job = data;
  Updater *u = user_data;
  clip_index_read_file (&u->decoder, job->full_path, u->known, &job->read);
  g_async_queue_push (u->results, job);
}

static int
automatic_decode_threads (void)
{
  /* One decoder per core, the encoder sharing them: the encoder waits for decoded batches, and with
   * one decoder fewer than cores a 2-core machine indexed 12-megapixel JPEGs at 13.2 photos/s
   * (float32) and 24.1 (bf16) instead of 17.5 and 31.3 (bench-index-throughput, 2026-12-07). */
  return MAX (1, (int) g_get_num_processors ());
}

/* Reads and encodes the JOBS, appending to the file as it goes. */
static gboolean
updater_embed (Updater *u, GPtrArray *jobs, GError **error)
{
  const ClipIndexOptions *o = &u->index->options;
  int threads = o->decode_threads > 0 ? o->decode_threads : automatic_decode_threads ();
  guint window = (guint) (2 * o->batch_size + threads);
  GThreadPool *pool = g_thread_pool_new (update_worker, u, threads, TRUE, NULL);

  u->progress->phase = CLIP_INDEX_PHASE_EMBED;
  u->progress->total = jobs->len;
  u->progress->eta = -1;
  u->embed_start = g_get_monotonic_time ();
  updater_report (u);

  gboolean ok = TRUE;
  guint submitted = 0, taken = 0;
  while (ok && taken < jobs->len)
    {
      for (; submitted < jobs->len && submitted - taken < window; submitted++)
        g_thread_pool_push (pool, g_ptr_array_index (jobs, submitted), NULL);

      UpdateJob *next = g_ptr_array_index (jobs, taken);
      while (!next->done)
        ((UpdateJob *) g_async_queue_pop (u->results))->done = TRUE;
      updater_take (u, next);
      clip_index_read_clear (&next->read);
      taken++;
      if (u->out_of_resources != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&u->out_of_resources));
          ok = FALSE;
          continue;
        }

      if ((int) u->batch->len >= o->batch_size || taken == jobs->len)
        ok = updater_encode_batch (u, error);
      if (ok && (int) u->unflushed->len >= o->flush_interval)
        ok = updater_flush (u, error);

      double elapsed = (g_get_monotonic_time () - u->embed_start) / (double) G_USEC_PER_SEC;
      u->progress->done = taken;
      u->progress->rate = elapsed > 0 ? taken / elapsed : 0;
      u->progress->eta = u->progress->rate > 0 ? (jobs->len - taken) / u->progress->rate : -1;
      updater_report (u);
      if (ok && updater_aborted (u))
        {
          g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_ABORTED, "Cancelled");
          ok = FALSE;
        }
    }

  /* Let the workers finish what they hold; queued jobs not started are dropped. */
  g_thread_pool_free (pool, TRUE, TRUE);
  UpdateJob *job;
  while ((job = g_async_queue_try_pop (u->results)) != NULL)
    job->done = TRUE;
  /* Whatever was embedded stays: an interrupted run resumes from here. */
  GError *flush_error = NULL;
  if (!updater_flush (u, ok ? error : &flush_error))
    ok = FALSE;
  g_clear_error (&flush_error);
  return ok;
}

static int
compare_entries_by_path (gconstpointer a, gconstpointer b)
{
  return strcmp (((const ClipIndexEntry *) a)->path, ((const ClipIndexEntry *) b)->path);
}

static int
compare_skips (gconstpointer a, gconstpointer b)
{
  const ClipIndexSkip *x = *(ClipIndexSkip *const *) a, *y = *(ClipIndexSkip *const *) b;
  return strcmp (x->path, y->path);
}

/* A run killed while compacting leaves its temporary file ("<index>.XXXXXX", see clip_file_replace)
 * behind; under the lock no other run can be writing one. */
static void
index_remove_stale_temporaries (const ClipIndex *index)
{
  g_autofree char *base = g_path_get_basename (index->file);
  g_autoptr (GDir) dir = g_dir_open (index->cache_dir, 0, NULL);
  const char *name;
  size_t base_len = strlen (base);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (strncmp (name, base, base_len) == 0 && name[base_len] == '.' && strlen (name + base_len + 1) == 6)
      {
        g_autofree char *path = g_build_filename (index->cache_dir, name, NULL);
        g_unlink (path);
      }
}

static void
set_lock_error (const ClipIndex *index, int saved, GError **error)
{
  g_autofree char *display = g_filename_display_name (index->folder);
  if (saved == EWOULDBLOCK)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: another process is updating this index", display);
  else
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot lock: %s", index->lock_file, g_strerror (saved));
}

/* Takes the lock of the index shared, as every reader looking for changes does; -1 when an update
 * holds it. */
static int
index_lock_shared (ClipIndex *index, GError **error)
{
  if (g_mkdir_with_parents (index->cache_dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot create the folder: %s", index->cache_dir,
                   g_strerror (saved));
      return -1;
    }
  int fd = g_open (index->lock_file, O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", index->lock_file, g_strerror (saved));
      return -1;
    }
  if (flock (fd, LOCK_SH | LOCK_NB) != 0)
    {
      set_lock_error (index, errno, error);
      close (fd);
      return -1;
    }
  return fd;
}

/* Turns the shared lock FD into the exclusive one an update writes under.  Readers hold the shared
 * lock only while they look for changes, so they are waited for a moment; an update holds the lock
 * until it is done, so a second one is refused.  (Converting a flock lock drops the shared one
 * first: of two converting at once, one gets it.) */
static gboolean
index_lock_exclusive (ClipIndex *index, int fd, GError **error)
{
  for (int waited_ms = 0;; waited_ms += LOCK_RETRY_MS)
    {
      if (flock (fd, LOCK_EX | LOCK_NB) == 0)
        {
          index_remove_stale_temporaries (index);
          return TRUE;
        }
      int saved = errno;
      if (saved != EWOULDBLOCK || waited_ms >= LOCK_WAIT_MS)
        {
          set_lock_error (index, saved, error);
          return FALSE;
        }
      g_usleep (LOCK_RETRY_MS * 1000);
    }
}

/* Writes the entries of STORE compacted and reads the result back. */
static gboolean
index_compact (ClipIndex *index, GArray *entries, GError **error)
{
  g_array_sort (entries, compare_entries_by_path);
  if (!clip_index_store_write (index->file, index->folder, index->key, index->dim,
                               (const ClipIndexEntry *) entries->data, entries->len, error))
    return FALSE;
  ClipIndexStore *store = clip_index_store_read (index->file, index->folder, index->key, index->dim, FALSE, error);
  if (store == NULL)
    return FALSE;
  index_set_store (index, store);
  return TRUE;
}

static void
updater_clear (Updater *u)
{
  g_clear_pointer (&u->known, g_hash_table_unref);
  g_clear_pointer (&u->fresh, g_hash_table_unref);
  g_clear_pointer (&u->vanished, g_hash_table_unref);
  g_clear_pointer (&u->results, g_async_queue_unref);
  g_clear_pointer (&u->entries, g_array_unref);
  g_clear_pointer (&u->unflushed, g_array_unref);
  if (u->batch != NULL)
    for (guint i = 0; i < u->batch->len; i++)
      g_free (g_array_index (u->batch, UpdatePending, i).pixels);
  g_clear_pointer (&u->batch, g_array_unref);
  g_clear_pointer (&u->owned, g_ptr_array_unref);
  g_clear_pointer (&u->skipped, g_ptr_array_unref);
  g_clear_pointer (&u->batch_pixels, g_free);
  g_clear_pointer (&u->batch_embeds, g_free);
  if (u->fd >= 0)
    close (u->fd);
}

static void
updater_init (Updater *u, ClipIndex *index, const ClipCallbacks *callbacks)
{
  const ClipIndexOptions *o = &index->options;
  ClipModel *model = index->model;
  int s = model->config.image_size;
  *u = (Updater) {
    .index = index,
    .callbacks = callbacks,
    .decoder = {
      .image_size = s,
      .preprocess = &model->preprocess,
      .apply_exif_orientation = o->apply_exif_orientation,
      .exact_decode = o->exact_decode,
      .follow_symlinks = o->follow_symlinks,
      .max_pixels = o->max_pixels,
      .max_file_bytes = o->max_file_bytes,
    },
    .known = g_hash_table_new (hash16_hash, hash16_equal),
    .fresh = g_hash_table_new_full (hash16_hash, hash16_equal, g_free, NULL),
    .vanished = g_hash_table_new (hash16_hash, hash16_equal),
    .results = g_async_queue_new (),
    .entries = g_array_new (FALSE, FALSE, sizeof (ClipIndexEntry)),
    .unflushed = g_array_new (FALSE, FALSE, sizeof (ClipIndexEntry)),
    .batch = g_array_new (FALSE, FALSE, sizeof (UpdatePending)),
    .owned = g_ptr_array_new_with_free_func (g_free),
    .batch_pixels = g_new (float, (size_t) o->batch_size * 3 * s * s),
    .batch_embeds = g_new (float, (size_t) o->batch_size * index->dim),
    .fd = -1,
    .progress = &index->progress,
  };
  index->progress = (ClipIndexProgress) { .phase = CLIP_INDEX_PHASE_SCAN, .eta = -1 };
}

/* Phase 1, under the lock: the file as it is now, rewritten compacted when it is missing, anything
 * in it is not verifiable or it lacks codes (an older version's file), or, with COMPACT, when it has
 * journal blocks; then opened for appending. */
static gboolean
updater_open_file (Updater *u, gboolean compact, GError **error)
{
  ClipIndex *index = u->index;
  ClipIndexStore *store = clip_index_store_read (index->file, index->folder, index->key, index->dim, FALSE, error);
  if (store == NULL)
    return FALSE;
  index_set_store (index, store);
  /* A missing file is written (empty) first, so that there is one to append to. */
  gboolean must = compact || clip_index_store_warnings (index->store)[0] != NULL
                  || !clip_index_store_has_codes (index->store) || !g_file_test (index->file, G_FILE_TEST_EXISTS);
  if (must && !clip_index_store_is_compact (index->store))
    {
      size_t n;
      const ClipIndexEntry *current = clip_index_store_entries (index->store, &n);
      g_autoptr (GArray) copy = g_array_sized_new (FALSE, FALSE, sizeof (ClipIndexEntry), n);
      g_array_append_vals (copy, current, n);
      if (!index_compact (index, copy, error))
        return FALSE;
    }
  u->fd = g_open (index->file, O_WRONLY | O_CLOEXEC, 0);
  if (u->fd < 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: %s", index->file, g_strerror (saved));
      return FALSE;
    }
  u->end = clip_index_store_end (index->store, &u->sequence);
  return TRUE;
}

/* Phase 2: the folder's files. */
static gboolean
updater_scan (Updater *u, ClipIndexScan *scan, GError **error)
{
  const ClipIndex *index = u->index;
  if (!clip_index_scan (index->folder, &index->options, index->cache_dir, updater_scan_progress, u, scan, error))
    return FALSE;
  u->skipped = g_steal_pointer (&scan->skipped);
  u->progress->found = scan->files->len;
  return TRUE;
}

/* Phase 3: unchanged files keep their entry; new and changed ones become JOBS; the old entries
 * whose path is gone are counted in u->vanished (by content, for recognising moves).  Returns how
 * many vanished. */
static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* PATH is one of ROOTS (NULL-terminated) or inside one. */
static gboolean
path_is_under (const char *path, const char *const *roots)
{
  for (const char *const *root = roots; *root != NULL; root++)
    {
      size_t n = strlen (*root);
      if (strncmp (path, *root, n) == 0 && (path[n] == '/' || path[n] == '\0'))
        return TRUE;
    }
  return FALSE;
}

/* PATH is in ROOTS (a set) or inside one of them: the path and each of its folders looked up, so
 * that checking every entry of the index against a few hundred named paths stays linear. */
static gboolean
path_is_under_set (const char *path, GHashTable *roots)
{
  char prefix[CLIP_INDEX_MAX_PATH + 1];
  g_strlcpy (prefix, path, sizeof prefix);
  for (;;)
    {
      if (g_hash_table_contains (roots, prefix))
        return TRUE;
      char *slash = strrchr (prefix, '/');
      if (slash == NULL)
        return FALSE;
      *slash = '\0';
    }
}

/* With ONLY (the paths a partial scan covered, or NULL for the whole folder), the entries outside
 * them stay as they are. */
static int64_t
updater_plan (Updater *u, const ClipIndexScan *scan, const char *const *only, GPtrArray *jobs)
{
  size_t n_old;
  const ClipIndexEntry *old = clip_index_store_entries (u->index->store, &n_old);
  g_autoptr (GHashTable) old_by_path = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) roots = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree gboolean *present = g_new0 (gboolean, n_old);
  for (const char *const *root = only; root != NULL && *root != NULL; root++)
    g_hash_table_add (roots, (gpointer) *root);
  for (size_t i = 0; i < n_old; i++)
    {
      g_hash_table_insert (u->known, (gpointer) old[i].hash, (gpointer) old[i].embedding);
      if (only != NULL && !path_is_under_set (old[i].path, roots))
        {
          present[i] = TRUE;
          g_array_append_val (u->entries, old[i]);
          continue;
        }
      g_hash_table_insert (old_by_path, (gpointer) old[i].path, (gpointer) &old[i]);
    }
  for (guint i = 0; i < scan->files->len; i++)
    {
      const ClipIndexScanFile *file = &g_array_index (scan->files, ClipIndexScanFile, i);
      const ClipIndexEntry *entry = g_hash_table_lookup (old_by_path, file->path);
      if (entry != NULL)
        present[entry - old] = TRUE;
      if (entry != NULL && entry->size == file->size && entry->mtime_ns == file->mtime_ns)
        {
          g_array_append_val (u->entries, *entry);
          continue;
        }
      UpdateJob *job = g_new0 (UpdateJob, 1);
      job->file = file;
      job->old = entry;
      job->full_path = g_build_filename (u->index->folder, file->path, NULL);
      g_ptr_array_add (jobs, job);
    }
  int64_t vanished = 0;
  for (size_t i = 0; i < n_old; i++)
    if (!present[i])
      {
        gpointer count = g_hash_table_lookup (u->vanished, old[i].hash);
        g_hash_table_insert (u->vanished, (gpointer) old[i].hash, GSIZE_TO_POINTER (GPOINTER_TO_SIZE (count) + 1));
        vanished++;
      }
  return vanished;
}

/* Phases 3 and 4: plan, then read and encode what changed (updater_embed). */
static gboolean
updater_apply_changes (Updater *u, const ClipIndexScan *scan, const char *const *only, GError **error)
{
  g_autoptr (GPtrArray) jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) update_job_free);
  int64_t vanished = updater_plan (u, scan, only, jobs);
  if (!updater_embed (u, jobs, error))
    return FALSE;
  u->removed += vanished - u->moved;
  return TRUE;
}

/* Phase 5: the index rewritten compacted, when anything changed. */
static gboolean
updater_write (Updater *u, GError **error)
{
  if (u->added + u->updated + u->removed + u->moved == 0)
    return TRUE;
  u->progress->phase = CLIP_INDEX_PHASE_WRITE;
  updater_report (u);
  return index_compact (u->index, u->entries, error);
}

/* After a partial update: new and changed files are in the journal already (appended as they were
 * embedded), which is all the file needs unless an entry has to go — the journal cannot drop one —
 * so the whole file is rewritten only then; else it is read back with its new blocks. */
static gboolean
updater_write_journal (Updater *u, GError **error)
{
  ClipIndex *index = u->index;
  if (u->removed + u->moved > 0)
    return updater_write (u, error);
  if (u->added + u->updated == 0)
    return TRUE;
  ClipIndexStore *store = clip_index_store_read (index->file, index->folder, index->key, index->dim, FALSE, error);
  if (store == NULL)
    return FALSE;
  index_set_store (index, store);
  return TRUE;
}

static void
updater_get_stats (Updater *u, ClipIndexStats *stats)
{
  g_ptr_array_sort (u->skipped, compare_skips);
  *stats = (ClipIndexStats) {
    .added = u->added,
    .updated = u->updated,
    .removed = u->removed,
    .moved = u->moved,
    .total = clip_index_get_n_entries (u->index),
    .skipped = g_steal_pointer (&u->skipped),
  };
}

/* Under the shared lock: whether the file or the folder changed, so that the index has something to
 * write (*NEEDS_WRITE); when not, STATS are those of an update that found nothing to do. */
static gboolean
index_check_for_changes (ClipIndex *index, ClipIndexStats *stats, const ClipCallbacks *callbacks,
                         gboolean *needs_write, GError **error)
{
  ClipIndexStore *store = clip_index_store_read (index->file, index->folder, index->key, index->dim, FALSE, error);
  if (store == NULL)
    return FALSE;
  index_set_store (index, store);
  *needs_write = !clip_index_store_is_compact (index->store);
  if (*needs_write)
    return TRUE;

  Updater u;
  updater_init (&u, index, callbacks);
  ClipIndexScan scan = { 0 };
  gboolean ok = updater_scan (&u, &scan, error);
  if (ok)
    {
      g_autoptr (GPtrArray) jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) update_job_free);
      *needs_write = updater_plan (&u, &scan, NULL, jobs) > 0 || jobs->len > 0;
      /* Nothing to read: the embedding phase is reported as an update's would be. */
      if (!*needs_write)
        ok = updater_embed (&u, jobs, error);
    }
  if (ok && !*needs_write && stats != NULL)
    updater_get_stats (&u, stats);
  updater_clear (&u);
  clip_index_scan_clear (&scan);
  return ok;
}

/* Under the exclusive lock: brings the index up to date from what is on disk now. */
static gboolean
index_update_locked (ClipIndex *index, ClipIndexStats *stats, const ClipCallbacks *callbacks, GError **error)
{
  Updater u;
  updater_init (&u, index, callbacks);
  ClipIndexScan scan = { 0 };
  gboolean ok = updater_open_file (&u, TRUE, error)
                && updater_scan (&u, &scan, error)
                && updater_apply_changes (&u, &scan, NULL, error)
                && updater_write (&u, error);
  if (ok && stats != NULL)
    updater_get_stats (&u, stats);
  /* The entries point into the scan and the store: freed last. */
  updater_clear (&u);
  clip_index_scan_clear (&scan);
  return ok;
}

gboolean
clip_index_update (ClipIndex *index, ClipIndexStats *stats, const ClipCallbacks *callbacks, GError **error)
{
  g_return_val_if_fail (index != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (stats != NULL)
    memset (stats, 0, sizeof *stats);

  /* Readers do not exclude each other: the check for changes runs under the shared lock, and only
   * an update with something to write takes it exclusively, then starts again from what is on
   * disk (another update may have written in between). */
  int lock = index_lock_shared (index, error);
  if (lock < 0)
    return FALSE;
  gboolean needs_write = FALSE;
  gboolean ok = index_check_for_changes (index, stats, callbacks, &needs_write, error);
  if (ok && needs_write)
    ok = index_lock_exclusive (index, lock, error) && index_update_locked (index, stats, callbacks, error);
  close (lock);
  return ok;
}

/* PATHS as one set: each valid and relative, duplicates and paths inside another given one dropped,
 * sorted.  NULL with CLIP_ERROR_INVALID naming the first bad one. */
static GPtrArray *
normalize_paths (const ClipIndex *index, const char *const *paths, GError **error)
{
  g_autoptr (GPtrArray) sorted = g_ptr_array_new_with_free_func (g_free);
  for (const char *const *p = paths; *p != NULL; p++)
    {
      g_autofree char *path = g_strdup (*p);
      size_t len = strlen (path);
      while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
      g_auto (GStrv) parts = g_strsplit (path, "/", -1);
      gboolean valid = len > 0 && len <= CLIP_INDEX_MAX_PATH && path[0] != '/';
      for (int i = 0; valid && parts[i] != NULL; i++)
        valid = parts[i][0] != '\0' && !g_str_equal (parts[i], ".") && !g_str_equal (parts[i], "..");
      if (!valid)
        {
          g_autofree char *display = g_filename_display_name (*p);
          g_autofree char *folder = g_filename_display_name (index->folder);
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                       "%s: '%s' is not a path relative to the folder, without '.' or '..'", folder, display);
          return NULL;
        }
      g_ptr_array_add (sorted, g_steal_pointer (&path));
    }
  g_ptr_array_sort (sorted, compare_strings);
  /* Kept NULL-terminated as it grows, for path_is_under. */
  GPtrArray *kept = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (kept, NULL);
  for (guint i = 0; i < sorted->len; i++)
    {
      const char *path = sorted->pdata[i];
      if (!path_is_under (path, (const char *const *) kept->pdata))
        g_ptr_array_insert (kept, (int) kept->len - 1, g_strdup (path));
    }
  return kept;
}

gboolean
clip_index_update_paths (ClipIndex *index, const char *const *paths, ClipIndexStats *stats,
                         const ClipCallbacks *callbacks, GError **error)
{
  g_return_val_if_fail (index != NULL && paths != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (stats != NULL)
    memset (stats, 0, sizeof *stats);
  g_autoptr (GPtrArray) only = normalize_paths (index, paths, error);
  if (only == NULL)
    return FALSE;

  int lock = index_lock_shared (index, error);
  if (lock < 0)
    return FALSE;
  Updater u;
  updater_init (&u, index, callbacks);
  ClipIndexScan scan = { 0 };
  const char *const *roots = (const char *const *) only->pdata;
  gboolean ok = index_lock_exclusive (index, lock, error)
                && updater_open_file (&u, FALSE, error)
                && clip_index_scan_paths (index->folder, &index->options, index->cache_dir, roots,
                                          updater_scan_progress, &u, &scan, error);
  if (ok)
    {
      u.skipped = g_steal_pointer (&scan.skipped);
      u.progress->found = scan.files->len;
      ok = updater_apply_changes (&u, &scan, roots, error) && updater_write_journal (&u, error);
    }
  if (ok && stats != NULL)
    updater_get_stats (&u, stats);
  updater_clear (&u);
  clip_index_scan_clear (&scan);
  close (lock);
  return ok;
}

const char *
clip_index_phase_name (ClipIndexPhase phase)
{
  switch (phase)
    {
    case CLIP_INDEX_PHASE_SCAN:
      return "Scanning the folder";
    case CLIP_INDEX_PHASE_EMBED:
      return "Embedding new and changed images";
    case CLIP_INDEX_PHASE_WRITE:
      return "Writing the index";
    }
  return "?";
}

const ClipIndexProgress *
clip_index_get_progress (const ClipIndex *index)
{
  return &index->progress;
}

/* ---------------------------------------------------------------- queries */

static const ClipIndexEntry *
index_lookup (ClipIndex *index, const char *path)
{
  if (index->by_path == NULL)
    {
      size_t n;
      const ClipIndexEntry *entries = clip_index_store_entries (index->store, &n);
      index->by_path = g_hash_table_new (g_str_hash, g_str_equal);
      for (size_t i = 0; i < n; i++)
        g_hash_table_insert (index->by_path, (gpointer) entries[i].path, (gpointer) &entries[i]);
    }
  return g_hash_table_lookup (index->by_path, path);
}

/* The entry of the file CANONICAL (a real path) when it is inside the folder and indexed, and, when
 * CURRENT, unchanged since. */
static const ClipIndexEntry *
index_entry_of (ClipIndex *index, const char *canonical, gboolean current)
{
  if (canonical == NULL)
    return NULL;
  size_t n = strlen (index->folder);
  if (strncmp (canonical, index->folder, n) != 0 || canonical[n] != '/')
    return NULL;
  const ClipIndexEntry *entry = index_lookup (index, canonical + n + 1);
  GStatBuf st;
  if (entry == NULL || !current)
    return entry;
  if (g_stat (canonical, &st) != 0 || (uint64_t) st.st_size != entry->size
      || (int64_t) st.st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_mtim.tv_nsec != entry->mtime_ns)
    return NULL;
  return entry;
}

/* The stored embedding of IMAGE when it is an indexed file, unchanged since. */
static const float *
index_stored_embedding (ClipIndex *index, const char *image)
{
  g_autofree char *canonical = realpath (image, NULL);
  const ClipIndexEntry *entry = index_entry_of (index, canonical, TRUE);
  return entry != NULL ? entry->embedding : NULL;
}

gboolean
clip_index_preprocess_file (const ClipModel *model, const ClipIndexOptions *options, const char *path,
                            float *pixels, GError **error)
{
  g_return_val_if_fail (model != NULL && path != NULL && pixels != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  ClipIndexOptions defaults;
  clip_index_options_init (&defaults);
  const ClipIndexOptions *o = options != NULL ? options : &defaults;
  int s = model->config.image_size;
  ClipIndexDecoder decoder = {
    .image_size = s,
    .preprocess = &model->preprocess,
    .apply_exif_orientation = o->apply_exif_orientation,
    .exact_decode = o->exact_decode,
    .follow_symlinks = TRUE,  /* named by the caller */
    .max_pixels = o->max_pixels,
    .max_file_bytes = o->max_file_bytes,
  };
  ClipIndexRead read;
  clip_index_read_file (&decoder, path, NULL, &read);
  if (read.reason != NULL)
    {
      g_autofree char *display = g_filename_display_name (path);
      g_set_error (error, CLIP_ERROR, read.out_of_resources ? CLIP_ERROR_RESOURCES : CLIP_ERROR_FORMAT, "%s: %s",
                   display, read.reason);
      clip_index_read_clear (&read);
      return FALSE;
    }
  memcpy (pixels, read.pixels, sizeof (float) * 3 * s * s);
  clip_index_read_clear (&read);
  return TRUE;
}

static gboolean
index_embed_image (ClipIndex *index, const char *image, float *embedding, GError **error)
{
  const float *stored = index_stored_embedding (index, image);
  if (stored != NULL)
    {
      memcpy (embedding, stored, sizeof (float) * index->dim);
      return TRUE;
    }
  g_autofree float *pixels = g_new (float, (size_t) 3 * index->model->config.image_size * index->model->config.image_size);
  return clip_index_preprocess_file (index->model, &index->options, image, pixels, error)
         && clip_model_encode_images (index->model, pixels, 1, embedding, NULL, error);
}

gboolean
clip_index_embed_query (ClipIndex *index, const ClipQueryTerm *terms, int n_terms, float *query, GError **error)
{
  g_return_val_if_fail (index != NULL && query != NULL && (terms != NULL || n_terms == 0), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (n_terms < 1)
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_INVALID, "the query has no terms");
      return FALSE;
    }

  int dim = index->dim;
  g_autofree float *term = g_new (float, dim);
  memset (query, 0, sizeof (float) * dim);
  for (int i = 0; i < n_terms; i++)
    {
      const ClipQueryTerm *t = &terms[i];
      if ((t->text == NULL) == (t->image == NULL) || !isfinite (t->weight) || t->weight == 0)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                       "query term %d: give either a text or an image, with a non-zero weight", i + 1);
          return FALSE;
        }
      gboolean ok = t->text != NULL ? clip_model_encode_texts (index->model, &t->text, 1, term, NULL, error)
                                    : index_embed_image (index, t->image, term, error);
      if (!ok)
        return FALSE;
      for (int k = 0; k < dim; k++)
        query[k] += t->weight * term[k];
    }

  double norm = 0;
  for (int k = 0; k < dim; k++)
    norm += (double) query[k] * query[k];
  norm = sqrt (norm);
  if (!(norm > 1e-6))
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                           "the query terms cancel each other out: nothing is left to search for");
      return FALSE;
    }
  for (int k = 0; k < dim; k++)
    query[k] = (float) (query[k] / norm);
  return TRUE;
}

/* ---------------------------------------------------------------- search */

/* A ranks before B: higher score, then path order. */
static gboolean
result_before (const ClipSearchResult *a, const ClipSearchResult *b)
{
  return a->score > b->score || (a->score == b->score && strcmp (a->path, b->path) < 0);
}

/* HEAP[0] is the worst of the N kept: sift the new root down. */
static void
heap_sift_down (ClipSearchResult *heap, int n, int i)
{
  for (;;)
    {
      int worst = i, l = 2 * i + 1, r = l + 1;
      if (l < n && result_before (&heap[worst], &heap[l]))
        worst = l;
      if (r < n && result_before (&heap[worst], &heap[r]))
        worst = r;
      if (worst == i)
        return;
      ClipSearchResult t = heap[i];
      heap[i] = heap[worst];
      heap[worst] = t;
      i = worst;
    }
}

static void
heap_sift_up (ClipSearchResult *heap, int i)
{
  while (i > 0)
    {
      int parent = (i - 1) / 2;
      if (!result_before (&heap[parent], &heap[i]))
        return;
      ClipSearchResult t = heap[i];
      heap[i] = heap[parent];
      heap[parent] = t;
      i = parent;
    }
}

static int
compare_results (gconstpointer a, gconstpointer b)
{
  const ClipSearchResult *x = a, *y = b;
  return result_before (x, y) ? -1 : result_before (y, x) ? 1 : 0;
}

int
clip_index_search (ClipIndex *index, const float *query, int top_k, float margin, ClipSearchResult *results)
{
  g_return_val_if_fail (index != NULL && query != NULL && top_k >= 0 && (results != NULL || top_k == 0), 0);

  size_t n_rows = clip_index_store_n_rows (index->store);
  if (index->scores_len < n_rows)
    {
      g_free (index->scores);
      index->scores = g_new (float, n_rows);
      index->scores_len = n_rows;
    }
  clip_index_store_scores_top (index->store, query, top_k, index->scores);

  size_t n_entries;
  const ClipIndexEntry *entries = clip_index_store_entries (index->store, &n_entries);
  int n = 0;
  for (size_t i = 0; i < n_entries; i++)
    {
      ClipSearchResult candidate = { entries[i].path, index->scores[entries[i].row] };
      if (n < top_k)
        {
          results[n] = candidate;
          heap_sift_up (results, n++);
        }
      else if (top_k > 0 && result_before (&candidate, &results[0]))
        {
          results[0] = candidate;
          heap_sift_down (results, n, 0);
        }
    }
  qsort (results, n, sizeof *results, compare_results);
  if (margin >= 0)
    for (int i = 1; i < n; i++)
      if (results[i].score < results[0].score - margin)
        {
          n = i;
          break;
        }
  return n;
}

/* ---------------------------------------------------------------- entries */

static void
item_from_entry (const ClipIndexEntry *entry, ClipIndexItem *item)
{
  *item = (ClipIndexItem) { entry->path, entry->embedding, entry->hash };
}

void
clip_index_get_item (ClipIndex *index, int64_t i, ClipIndexItem *item)
{
  size_t n;
  const ClipIndexEntry *entries = clip_index_store_entries (index->store, &n);
  g_return_if_fail (i >= 0 && (size_t) i < n);
  item_from_entry (&entries[i], item);
}

static gboolean
index_find (ClipIndex *index, const char *file, gboolean current, ClipIndexItem *item)
{
  g_autofree char *canonical = realpath (file, NULL);
  const ClipIndexEntry *entry = index_entry_of (index, canonical, current);
  if (entry != NULL)
    item_from_entry (entry, item);
  return entry != NULL;
}

gboolean
clip_index_find_file (ClipIndex *index, const char *file, ClipIndexItem *item)
{
  return index_find (index, file, FALSE, item);
}

gboolean
clip_index_find_current_file (ClipIndex *index, const char *file, ClipIndexItem *item)
{
  return index_find (index, file, TRUE, item);
}
