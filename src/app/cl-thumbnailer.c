/* cl-thumbnailer.c — a GThreadPool of gdk-pixbuf decoders feeding item thumbnails. */
#include "cl-thumbnailer.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <glib/gi18n.h>
#include <unistd.h>

#include "cl-async.h"
#include "cl-thread-priority.h"
#include "clip.h"

#define DEFAULT_BUDGET_MB    96
#define APPLY_SLICE_USEC     (6 * 1000)   /* main-loop time spent applying finished thumbnails */
#define BURST_GAP_USEC       (100 * 1000) /* a pause between requests starts a new burst */

typedef struct {
  GWeakRef item;
  char *path;
  char *member;               /* in the shard PATH, or NULL */
  char *uri;
  gint64 mtime;
  int bucket;                 /* 128 (normal) or 256 (large) */
  gboolean exif;
  guint generation;
  guint burst;                /* requests less than BURST_GAP apart share a burst */
  guint64 seq;
  int cancelled;              /* atomic: released before it started */

  /* Results, written by the pool thread. */
  GdkTexture *texture;
  gboolean from_cache;
  gboolean skipped;
} ThumbJob;

/* Per-item bookkeeping, attached to the item as qdata (main thread). */
typedef struct {
  ThumbJob *pending;
  guint n_binds;
  GList *lru_link;            /* in self->lru when the item holds a texture */
  gsize bytes;
} ThumbEntry;

struct _ClThumbnailer {
  GObject parent_instance;

  int size;
  gboolean exif;
  guint generation;
  guint64 next_seq;
  guint burst;
  gint64 last_request;
  GThreadPool *pool;
  GMainContext *main_context;
  char *cache_dir;             /* $XDG_CACHE_HOME/thumbnails */

  GMutex done_lock;
  GQueue done;                 /* ThumbJob *, finished by the pool */
  guint apply_source;          /* under done_lock */

  GQueue lru;                  /* ClImageItem * (ref held), most recent first */
  gsize lru_bytes;
  gsize budget_bytes;
  guint n_pending;
  guint n_from_cache, n_decoded, n_failed;
};

G_DEFINE_FINAL_TYPE (ClThumbnailer, cl_thumbnailer, G_TYPE_OBJECT)

enum {
  PROP_0, PROP_SIZE, PROP_BUDGET_MB, PROP_N_PENDING, PROP_N_FROM_CACHE, PROP_N_DECODED, PROP_N_FAILED, N_PROPS
};
static GParamSpec *properties[N_PROPS];

static GQuark entry_quark;

/* Jobs are shared by the pool (until applied) and the item's entry (while pending). */
static void
thumb_job_clear (ThumbJob *job)
{
  g_weak_ref_clear (&job->item);
  g_free (job->path);
  g_free (job->member);
  g_free (job->uri);
  g_clear_object (&job->texture);
}

static void
thumb_job_unref (ThumbJob *job)
{
  g_atomic_rc_box_release_full (job, (GDestroyNotify) thumb_job_clear);
}

static void
thumb_entry_free (ThumbEntry *entry)
{
  g_clear_pointer (&entry->pending, thumb_job_unref);
  g_free (entry);
}

/* ---------------------------------------------------------------- pool thread */

/* A texture in GTK's native pixel format (premultiplied BGRA), converted here in the decoding
 * thread: the Cairo renderer converts other formats again every time it draws a texture, and the
 * GL renderer uploads this one as it is. */
static GdkTexture *
texture_from_pixbuf (GdkPixbuf *pixbuf)
{
  if (gdk_pixbuf_get_bits_per_sample (pixbuf) != 8 || gdk_pixbuf_get_colorspace (pixbuf) != GDK_COLORSPACE_RGB)
    return NULL;
  gboolean alpha = gdk_pixbuf_get_has_alpha (pixbuf);
  const int width = gdk_pixbuf_get_width (pixbuf), height = gdk_pixbuf_get_height (pixbuf);
  g_autoptr (GBytes) pixels = g_bytes_new_with_free_func (gdk_pixbuf_read_pixels (pixbuf),
                                                          gdk_pixbuf_get_byte_length (pixbuf),
                                                          g_object_unref, g_object_ref (pixbuf));
  g_autoptr (GdkTexture) source = gdk_memory_texture_new (width, height,
                                                          alpha ? GDK_MEMORY_R8G8B8A8 : GDK_MEMORY_R8G8B8, pixels,
                                                          gdk_pixbuf_get_rowstride (pixbuf));
  const gsize stride = (gsize) width * 4;
  guchar *native = g_malloc (stride * height);
  gdk_texture_download (source, native, stride);
  g_autoptr (GBytes) bytes = g_bytes_new_take (native, stride * height);
  return gdk_memory_texture_new (width, height, GDK_MEMORY_DEFAULT, bytes, stride);
}

static const char *
bucket_dir_name (int bucket)
{
  return bucket <= 128 ? "normal" : "large";
}

static char *
cache_file_for (const char *cache_dir, const char *uri, int bucket)
{
  g_autofree char *md5 = g_compute_checksum_for_string (G_CHECKSUM_MD5, uri, -1);
  g_autofree char *name = g_strconcat (md5, ".png", NULL);
  return g_build_filename (cache_dir, bucket_dir_name (bucket), name, NULL);
}

/* A cached thumbnail is valid when it names this URI and this modification time. */
static GdkPixbuf *
cache_lookup (const char *cache_dir, const char *uri, gint64 mtime, int bucket)
{
  /* Small grids can use a large thumbnail; large grids cannot use a normal one. */
  const int buckets[] = { bucket, bucket <= 128 ? 256 : 0 };

  for (guint i = 0; i < G_N_ELEMENTS (buckets) && buckets[i] != 0; i++)
    {
      g_autofree char *file = cache_file_for (cache_dir, uri, buckets[i]);
      g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file (file, NULL);
      if (pixbuf == NULL)
        continue;
      const char *thumb_uri = gdk_pixbuf_get_option (pixbuf, "tEXt::Thumb::URI");
      const char *thumb_mtime = gdk_pixbuf_get_option (pixbuf, "tEXt::Thumb::MTime");
      if (thumb_uri == NULL || thumb_mtime == NULL || g_strcmp0 (thumb_uri, uri) != 0
          || g_ascii_strtoll (thumb_mtime, NULL, 10) != mtime)
        continue;
      if (buckets[i] == bucket)
        return g_steal_pointer (&pixbuf);
      int w = gdk_pixbuf_get_width (pixbuf), h = gdk_pixbuf_get_height (pixbuf);
      double scale = (double) bucket / MAX (w, h);
      if (scale >= 1)
        return g_steal_pointer (&pixbuf);
      return gdk_pixbuf_scale_simple (pixbuf, MAX (1, (int) (w * scale + 0.5)), MAX (1, (int) (h * scale + 0.5)),
                                      GDK_INTERP_BILINEAR);
    }
  return NULL;
}

/* Writes PIXBUF to the shared cache: 0600 temporary file in the same folder, then rename, as the
 * Thumbnail Managing Standard asks.  Failures only cost a later decode. */
static void
cache_store (const char *cache_dir, const char *uri, gint64 mtime, int bucket, GdkPixbuf *pixbuf)
{
  g_autofree char *file = cache_file_for (cache_dir, uri, bucket);
  g_autofree char *dir = g_path_get_dirname (file);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    return;

  g_autofree char *tmp = g_strconcat (file, ".XXXXXX", NULL);
  int fd = g_mkstemp_full (tmp, O_RDWR, 0600);
  if (fd < 0)
    return;
  close (fd);
  g_autofree char *mtime_text = g_strdup_printf ("%" G_GINT64_FORMAT, mtime);
  if (!gdk_pixbuf_save (pixbuf, tmp, "png", NULL, "tEXt::Thumb::URI", uri, "tEXt::Thumb::MTime",
                        mtime_text, "tEXt::Software", "ClipLab", NULL)
      || g_rename (tmp, file) != 0)
    g_unlink (tmp);
}

static GdkPixbuf *decode_scaled_opened (const char *path, const char *opened, int max_size, gboolean exif,
                                        int *width, int *height, char **format, GError **error);

typedef struct {
  int max_size;
  int width, height;
} MemberSize;

/* The image's own size, and the loader told to scale it to fit MAX_SIZE (never enlarged); an image
 * over the pixel limit is scaled to nothing and refused once read. */
static void
member_size_prepared (GdkPixbufLoader *loader, int width, int height, gpointer data)
{
  MemberSize *size = data;
  size->width = width;
  size->height = height;
  if ((gint64) width * height > CLIP_MAX_IMAGE_PIXELS)
    gdk_pixbuf_loader_set_size (loader, 1, 1);
  else if (width > size->max_size || height > size->max_size)
    {
      double scale = (double) size->max_size / MAX (width, height);
      gdk_pixbuf_loader_set_size (loader, MAX (1, (int) (width * scale + 0.5)), MAX (1, (int) (height * scale + 0.5)));
    }
}

/* decode_scaled for the image MEMBER of the WebDataset shard SHARD, read from the tar stream. */
static GdkPixbuf *
decode_scaled_member (const char *shard, const char *member, int max_size, gboolean exif, int *width, int *height,
                      char **format, GError **error)
{
  g_autoptr (GBytes) bytes = clip_dataset_read_shard_member (shard, member, error);
  if (bytes == NULL)
    return NULL;
  g_autoptr (GdkPixbufLoader) loader = gdk_pixbuf_loader_new ();
  MemberSize size = { max_size, 0, 0 };
  g_signal_connect (loader, "size-prepared", G_CALLBACK (member_size_prepared), &size);
  gboolean written = gdk_pixbuf_loader_write_bytes (loader, bytes, error);
  if (!gdk_pixbuf_loader_close (loader, written ? error : NULL) || !written)
    {
      g_prefix_error (error, "%s: ", member);
      return NULL;
    }
  if ((gint64) size.width * size.height > CLIP_MAX_IMAGE_PIXELS)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, _("%s: %d × %d pixels is more than the limit of %d million"),
                   member, size.width, size.height, CLIP_MAX_IMAGE_PIXELS / 1000000);
      return NULL;
    }
  GdkPixbuf *pixbuf = gdk_pixbuf_loader_get_pixbuf (loader);
  if (pixbuf == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, _("%s: not an image in a format this computer can read"),
                   member);
      return NULL;
    }
  if (width != NULL)
    *width = size.width;
  if (height != NULL)
    *height = size.height;
  if (format != NULL)
    {
      g_autofree char *name = gdk_pixbuf_format_get_name (gdk_pixbuf_loader_get_format (loader));
      *format = g_ascii_strup (name, -1);
    }
  GdkPixbuf *oriented = exif ? gdk_pixbuf_apply_embedded_orientation (pixbuf) : NULL;
  return oriented != NULL ? oriented : g_object_ref (pixbuf);
}

/* Decodes PATH scaled to fit MAX_SIZE (never enlarged); refuses images over the library's pixel
 * limit before decoding them.  *WIDTH, *HEIGHT and *FORMAT describe the file. */
static GdkPixbuf *
decode_scaled (const char *path, int max_size, gboolean exif, int *width, int *height,
               char **format, GError **error)
{
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *base = g_path_get_basename (path);
      g_autofree char *display = g_filename_display_name (base);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("%s: the file does not exist"), display);
      return NULL;
    }
  /* Opened once and checked to be a regular file (a file swapped for a named pipe cannot hang the
   * thread); gdk-pixbuf reads that open file through its /proc/self/fd link. */
  int fd = clip_open_input_file (path, error);
  if (fd < 0)
    return NULL;
  g_autofree char *opened = g_strdup_printf ("/proc/self/fd/%d", fd);
  GdkPixbuf *pixbuf = decode_scaled_opened (path, opened, max_size, exif, width, height, format, error);
  close (fd);
  return pixbuf;
}

/* decode_scaled on the file PATH, open as OPENED. */
static GdkPixbuf *
decode_scaled_opened (const char *path, const char *opened, int max_size, gboolean exif, int *width, int *height,
                      char **format, GError **error)
{
  int w = 0, h = 0;
  GdkPixbufFormat *info = gdk_pixbuf_get_file_info (opened, &w, &h);

  if (info == NULL || w <= 0 || h <= 0)
    {
      g_autofree char *base = g_path_get_basename (path);
      g_autofree char *display = g_filename_display_name (base);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                   _("%s: not an image in a format this computer can read"), display);
      return NULL;
    }
  if ((gint64) w * h > CLIP_MAX_IMAGE_PIXELS)
    {
      g_autofree char *base = g_path_get_basename (path);
      g_autofree char *display = g_filename_display_name (base);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT,
                   _("%s: %d × %d pixels is more than the limit of %d million"), display, w, h,
                   CLIP_MAX_IMAGE_PIXELS / 1000000);
      return NULL;
    }
  if (width != NULL)
    *width = w;
  if (height != NULL)
    *height = h;
  if (format != NULL)
    {
      g_autofree char *name = gdk_pixbuf_format_get_name (info);
      *format = g_ascii_strup (name, -1);
    }

  g_autoptr (GdkPixbuf) pixbuf = NULL;
  if (w <= max_size && h <= max_size)
    pixbuf = gdk_pixbuf_new_from_file (opened, error);
  else
    pixbuf = gdk_pixbuf_new_from_file_at_scale (opened, max_size, max_size, TRUE, error);
  if (pixbuf == NULL)
    {
      g_autofree char *base = g_path_get_basename (path);
      g_autofree char *display = g_filename_display_name (base);
      g_prefix_error (error, "%s: ", display);
      if (format != NULL)
        g_clear_pointer (format, g_free);
      return NULL;
    }
  if (exif)
    {
      GdkPixbuf *oriented = gdk_pixbuf_apply_embedded_orientation (pixbuf);
      if (oriented != NULL)
        {
          g_object_unref (pixbuf);
          pixbuf = oriented;
        }
    }
  return g_steal_pointer (&pixbuf);
}

static void
thumb_job_decode (ClThumbnailer *self, ThumbJob *job)
{
  /* The shared cache holds thumbnails rotated by EXIF orientation: use it only in that mode, and
   * never for files inside the cache itself.  It names files, not members of a shard. */
  gboolean use_cache = job->exif && job->path != NULL && job->member == NULL
                       && !g_str_has_prefix (job->path, self->cache_dir);
  g_autoptr (GdkPixbuf) pixbuf = NULL;
  int w = 0, h = 0;

  if (use_cache && (pixbuf = cache_lookup (self->cache_dir, job->uri, job->mtime, job->bucket)) != NULL)
    job->from_cache = TRUE;
  else if (job->member != NULL)
    pixbuf = decode_scaled_member (job->path, job->member, job->bucket, job->exif, NULL, NULL, NULL, NULL);
  else if (job->path != NULL)
    {
      pixbuf = decode_scaled (job->path, job->bucket, job->exif, &w, &h, NULL, NULL);
      if (pixbuf != NULL && use_cache && MAX (w, h) > job->bucket)
        cache_store (self->cache_dir, job->uri, job->mtime, job->bucket, pixbuf);
    }
  if (pixbuf != NULL)
    job->texture = texture_from_pixbuf (pixbuf);
}

static gboolean apply_done_cb (gpointer data);

static void
thumb_job_run (gpointer data, gpointer user_data)
{
  static GPrivate lowered;
  ThumbJob *job = data;
  ClThumbnailer *self = user_data;

  if (g_private_get (&lowered) == NULL)
    {
      cl_thread_lower_priority (5);
      g_private_set (&lowered, GINT_TO_POINTER (TRUE));
    }
  if (g_atomic_int_get (&job->cancelled))
    job->skipped = TRUE;
  else
    thumb_job_decode (self, job);

  /* Finished jobs are applied in batches by one idle source at a priority below redrawing. */
  g_mutex_lock (&self->done_lock);
  g_queue_push_tail (&self->done, job);
  if (self->apply_source == 0)
    {
      GSource *source = g_idle_source_new ();
      g_source_set_priority (source, G_PRIORITY_DEFAULT_IDLE);
      g_source_set_callback (source, apply_done_cb, g_object_ref (self), g_object_unref);
      g_source_set_static_name (source, "[cliplab] thumbnails");
      self->apply_source = g_source_attach (source, self->main_context);
      g_source_unref (source);
    }
  g_mutex_unlock (&self->done_lock);
}

static int
thumb_job_compare (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const ThumbJob *x = a, *y = b;

  /* The latest burst first: it is what the user scrolled to.  Within a burst, in request order:
   * the grid binds cells top to bottom, so what is on screen comes before the cells it keeps
   * ready below. */
  if (x->burst != y->burst)
    return x->burst > y->burst ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---------------------------------------------------------------- main thread */

static ThumbEntry *
entry_get (ClImageItem *item)
{
  ThumbEntry *entry = g_object_get_qdata (G_OBJECT (item), entry_quark);

  if (entry == NULL)
    {
      entry = g_new0 (ThumbEntry, 1);
      g_object_set_qdata_full (G_OBJECT (item), entry_quark, entry, (GDestroyNotify) thumb_entry_free);
    }
  return entry;
}

static void
lru_remove (ClThumbnailer *self, ClImageItem *item, ThumbEntry *entry)
{
  self->lru_bytes -= entry->bytes;
  entry->bytes = 0;
  g_queue_delete_link (&self->lru, entry->lru_link);
  entry->lru_link = NULL;
  cl_image_item_set_thumbnail (item, NULL);
  g_object_unref (item);
}

/* Drops the least recently shown textures that no cell shows until the budget holds. */
static void
lru_evict (ClThumbnailer *self)
{
  GList *link = self->lru.tail;

  while (self->lru_bytes > self->budget_bytes && link != NULL)
    {
      GList *prev = link->prev;
      ClImageItem *item = link->data;
      ThumbEntry *entry = entry_get (item);
      if (entry->n_binds == 0)
        lru_remove (self, item, entry);
      link = prev;
    }
}

/* The counters behind the properties "n-pending" (requests not finished yet), "n-from-cache",
 * "n-decoded" and "n-failed" (where the finished ones came from); main thread only. */
static void
count (ClThumbnailer *self, guint *counter, int change, guint prop_id)
{
  *counter += change;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

static void
thumb_job_queue (ClThumbnailer *self, ClImageItem *item, ThumbEntry *entry)
{
  ThumbJob *job = g_atomic_rc_box_new0 (ThumbJob);

  g_weak_ref_init (&job->item, item);
  job->path = g_strdup (cl_image_item_get_path (item));
  job->member = g_strdup (cl_image_item_get_member (item));
  job->uri = g_strdup (cl_image_item_get_uri (item));
  job->mtime = cl_image_item_get_mtime (item);
  job->bucket = self->size <= 128 ? 128 : 256;
  job->exif = self->exif;
  gint64 now = g_get_monotonic_time ();
  if (now - self->last_request > BURST_GAP_USEC)
    self->burst++;
  self->last_request = now;
  job->generation = self->generation;
  job->burst = self->burst;
  job->seq = self->next_seq++;
  entry->pending = g_atomic_rc_box_acquire (job);
  count (self, &self->n_pending, +1, PROP_N_PENDING);
  g_thread_pool_push (self->pool, job, NULL);
}

static void
thumb_job_apply (ClThumbnailer *self, ThumbJob *job)
{
  g_autoptr (ClImageItem) item = g_weak_ref_get (&job->item);

  count (self, &self->n_pending, -1, PROP_N_PENDING);
  if (item == NULL)
    return;
  ThumbEntry *entry = entry_get (item);
  if (entry->pending == job)
    g_clear_pointer (&entry->pending, thumb_job_unref);
  if (job->generation != self->generation || job->skipped)
    {
      /* Released and shown again meanwhile, or stale: ask again if a cell still shows it. */
      if (entry->n_binds > 0 && entry->pending == NULL && cl_image_item_get_thumbnail (item) == NULL)
        thumb_job_queue (self, item, entry);
      return;
    }
  if (job->texture == NULL)
    {
      count (self, &self->n_failed, +1, PROP_N_FAILED);
      cl_image_item_set_thumbnail_failed (item, TRUE);
      return;
    }
  if (job->from_cache)
    count (self, &self->n_from_cache, +1, PROP_N_FROM_CACHE);
  else
    count (self, &self->n_decoded, +1, PROP_N_DECODED);

  if (entry->lru_link != NULL)
    lru_remove (self, item, entry);
  cl_image_item_set_thumbnail (item, job->texture);
  entry->bytes = (gsize) gdk_texture_get_width (job->texture) * gdk_texture_get_height (job->texture) * 4;
  self->lru_bytes += entry->bytes;
  g_queue_push_head (&self->lru, g_object_ref (item));
  entry->lru_link = self->lru.head;
  lru_evict (self);
}

static gboolean
apply_done_cb (gpointer data)
{
  ClThumbnailer *self = data;
  gint64 deadline = g_get_monotonic_time () + APPLY_SLICE_USEC;

  for (;;)
    {
      g_mutex_lock (&self->done_lock);
      ThumbJob *job = g_queue_pop_head (&self->done);
      if (job == NULL)
        {
          self->apply_source = 0;
          g_mutex_unlock (&self->done_lock);
          return G_SOURCE_REMOVE;
        }
      g_mutex_unlock (&self->done_lock);

      thumb_job_apply (self, job);
      thumb_job_unref (job);
      if (g_get_monotonic_time () > deadline)
        return G_SOURCE_CONTINUE;
    }
}

void
cl_thumbnailer_request (ClThumbnailer *self, ClImageItem *item)
{
  ThumbEntry *entry = entry_get (item);

  entry->n_binds++;
  if (entry->lru_link != NULL)
    {
      /* Most recently shown goes to the front. */
      g_queue_unlink (&self->lru, entry->lru_link);
      g_queue_push_head_link (&self->lru, entry->lru_link);
      return;
    }
  if (cl_image_item_get_thumbnail_failed (item))
    return;
  if (entry->pending != NULL)
    {
      if (g_atomic_int_get (&entry->pending->cancelled))
        {
          /* It may be running already; if it was skipped, applying it queues a new request. */
          g_atomic_int_set (&entry->pending->cancelled, FALSE);
        }
      return;
    }
  thumb_job_queue (self, item, entry);
}

void
cl_thumbnailer_release (ClThumbnailer *self, ClImageItem *item)
{
  ThumbEntry *entry = entry_get (item);

  if (entry->n_binds > 0)
    entry->n_binds--;
  if (entry->n_binds == 0 && entry->pending != NULL)
    g_atomic_int_set (&entry->pending->cancelled, TRUE);
}

void
cl_thumbnailer_clear (ClThumbnailer *self)
{
  self->generation++;
  while (self->lru.head != NULL)
    {
      ClImageItem *item = self->lru.head->data;
      lru_remove (self, item, entry_get (item));
    }
  self->lru_bytes = 0;
}

int
cl_thumbnailer_get_size (ClThumbnailer *self)
{
  return self->size;
}

void
cl_thumbnailer_set_size (ClThumbnailer *self, int size)
{
  size = CLAMP (size, 48, 256);
  if (self->size == size)
    return;
  gboolean bucket_changed = (self->size <= 128) != (size <= 128);
  self->size = size;
  if (bucket_changed)
    cl_thumbnailer_clear (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SIZE]);
}

gboolean
cl_thumbnailer_get_apply_exif (ClThumbnailer *self)
{
  return self->exif;
}

void
cl_thumbnailer_set_apply_exif (ClThumbnailer *self, gboolean apply)
{
  if (self->exif == apply)
    return;
  self->exif = apply;
  cl_thumbnailer_clear (self);
}

/* ---------------------------------------------------------------- previews */

void
cl_image_preview_free (ClImagePreview *preview)
{
  if (preview == NULL)
    return;
  g_clear_object (&preview->texture);
  g_free (preview->format);
  g_free (preview);
}

typedef struct {
  GFile *file;
  char *member;
  int max_size;
  gboolean exif;
} PreviewRequest;

static void
preview_request_free (PreviewRequest *request)
{
  g_object_unref (request->file);
  g_free (request->member);
  g_free (request);
}

static void
preview_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  PreviewRequest *request = task_data;
  g_autofree char *path = g_file_get_path (request->file);
  g_autoptr (ClImagePreview) preview = g_new0 (ClImagePreview, 1);
  GError *error = NULL;

  if (path == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, _("Only local files can be shown"));
      return;
    }
  g_autoptr (GdkPixbuf) pixbuf = request->member != NULL
                                    ? decode_scaled_member (path, request->member, request->max_size, request->exif,
                                                            &preview->width, &preview->height, &preview->format, &error)
                                    : decode_scaled (path, request->max_size, request->exif, &preview->width,
                                                     &preview->height, &preview->format, &error);
  if (pixbuf == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  preview->texture = texture_from_pixbuf (pixbuf);
  if (preview->texture == NULL)
    {
      g_task_return_new_error (task, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED, _("Unsupported pixel format"));
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&preview), (GDestroyNotify) cl_image_preview_free);
}

void
cl_thumbnailer_load_preview_async (ClThumbnailer *self, GFile *file, const char *member, int max_size,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  PreviewRequest *request = g_new0 (PreviewRequest, 1);

  request->file = g_object_ref (file);
  request->member = g_strdup (member);
  request->max_size = max_size;
  request->exif = self->exif;
  g_task_set_source_tag (task, cl_thumbnailer_load_preview_async);
  g_task_set_task_data (task, request, (GDestroyNotify) preview_request_free);
  g_task_run_in_thread (task, preview_thread);
}

ClImagePreview *
cl_thumbnailer_load_preview_finish (ClThumbnailer *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---------------------------------------------------------------- GObject */

static void
cl_thumbnailer_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClThumbnailer *self = CL_THUMBNAILER (object);

  switch (prop_id)
    {
    case PROP_SIZE:
      g_value_set_int (value, self->size);
      break;
    case PROP_BUDGET_MB:
      g_value_set_uint (value, (guint) (self->budget_bytes / (1024 * 1024)));
      break;
    case PROP_N_PENDING:
      g_value_set_uint (value, self->n_pending);
      break;
    case PROP_N_FROM_CACHE:
      g_value_set_uint (value, self->n_from_cache);
      break;
    case PROP_N_DECODED:
      g_value_set_uint (value, self->n_decoded);
      break;
    case PROP_N_FAILED:
      g_value_set_uint (value, self->n_failed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_thumbnailer_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  ClThumbnailer *self = CL_THUMBNAILER (object);

  switch (prop_id)
    {
    case PROP_SIZE:
      cl_thumbnailer_set_size (self, g_value_get_int (value));
      break;
    case PROP_BUDGET_MB:
      self->budget_bytes = (gsize) g_value_get_uint (value) * 1024 * 1024;
      lru_evict (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_thumbnailer_dispose (GObject *object)
{
  ClThumbnailer *self = CL_THUMBNAILER (object);

  if (self->pool != NULL)
    {
      /* Let running decodes finish; queued ones are dropped. */
      g_thread_pool_free (self->pool, TRUE, TRUE);
      self->pool = NULL;
    }
  cl_thumbnailer_clear (self);
  G_OBJECT_CLASS (cl_thumbnailer_parent_class)->dispose (object);
}

static void
cl_thumbnailer_finalize (GObject *object)
{
  ClThumbnailer *self = CL_THUMBNAILER (object);

  g_queue_clear_full (&self->done, (GDestroyNotify) thumb_job_unref);
  g_mutex_clear (&self->done_lock);
  g_main_context_unref (self->main_context);
  g_free (self->cache_dir);
  G_OBJECT_CLASS (cl_thumbnailer_parent_class)->finalize (object);
}

static void
cl_thumbnailer_class_init (ClThumbnailerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = cl_thumbnailer_get_property;
  object_class->set_property = cl_thumbnailer_set_property;
  object_class->dispose = cl_thumbnailer_dispose;
  object_class->finalize = cl_thumbnailer_finalize;

  properties[PROP_SIZE] = g_param_spec_int ("size", NULL, NULL, 48, 256, 128,
                                            G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
                                            | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_BUDGET_MB] = g_param_spec_uint ("budget-mb", NULL, NULL, 1, G_MAXUINT / 2, DEFAULT_BUDGET_MB,
                                                 G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags counter = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  properties[PROP_N_PENDING] = g_param_spec_uint ("n-pending", NULL, NULL, 0, G_MAXUINT, 0, counter);
  properties[PROP_N_FROM_CACHE] = g_param_spec_uint ("n-from-cache", NULL, NULL, 0, G_MAXUINT, 0, counter);
  properties[PROP_N_DECODED] = g_param_spec_uint ("n-decoded", NULL, NULL, 0, G_MAXUINT, 0, counter);
  properties[PROP_N_FAILED] = g_param_spec_uint ("n-failed", NULL, NULL, 0, G_MAXUINT, 0, counter);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  entry_quark = g_quark_from_static_string ("cl-thumbnail-entry");
}

static void
cl_thumbnailer_init (ClThumbnailer *self)
{
  /* Decoding waits on the disk too: two threads even on two cores; at most half the cores beyond. */
  int n_threads = CLAMP ((int) g_get_num_processors () / 2, 2, 4);

  self->size = 128;
  self->budget_bytes = (gsize) DEFAULT_BUDGET_MB * 1024 * 1024;
  self->exif = TRUE;
  self->main_context = g_main_context_ref_thread_default ();
  self->cache_dir = g_build_filename (g_get_user_cache_dir (), "thumbnails", NULL);
  g_mutex_init (&self->done_lock);
  g_queue_init (&self->done);
  g_queue_init (&self->lru);
  self->pool = g_thread_pool_new_full (thumb_job_run, self, (GDestroyNotify) thumb_job_unref, n_threads,
                                       FALSE, NULL);
  g_thread_pool_set_sort_function (self->pool, thumb_job_compare, NULL);
}

ClThumbnailer *
cl_thumbnailer_new (void)
{
  return g_object_new (CL_TYPE_THUMBNAILER, NULL);
}

static void
preview_shown (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GtkPicture) picture = g_weak_ref_get (user_data);
  g_autoptr (ClImagePreview) preview = cl_thumbnailer_load_preview_finish (CL_THUMBNAILER (source), result, NULL);

  cl_weak_ref_free (user_data);
  if (picture != NULL && preview != NULL)
    gtk_picture_set_paintable (picture, GDK_PAINTABLE (preview->texture));
}

void
cl_thumbnailer_load_into_picture (ClThumbnailer *self, GFile *file, const char *member, int max_size,
                                  GtkPicture *picture, GCancellable *cancellable)
{
  cl_thumbnailer_load_preview_async (self, file, member, max_size, cancellable, preview_shown,
                                     cl_weak_ref_new (picture));
}

void
cl_thumbnailer_show_preview (ClThumbnailer *self, ClImageItem *item, int max_size, GtkPicture *picture,
                             GCancellable **cancellable)
{
  cl_cancel_and_clear (cancellable);
  gtk_picture_set_paintable (picture, NULL);
  if (item == NULL)
    return;
  *cancellable = g_cancellable_new ();
  cl_thumbnailer_load_into_picture (self, cl_image_item_get_file (item), cl_image_item_get_member (item), max_size,
                                    picture, *cancellable);
}
