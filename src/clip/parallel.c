/* parallel.c — clip_parallel_for on a GThreadPool.
 *
 * Why not OpenMP: OpenBLAS (pthread build) runs the matrix products on threads of its own, and after
 * a parallel region libgomp's workers keep spinning (OMP_WAIT_POLICY is read once, when libgomp
 * starts, so a library cannot change it), which would take a core from the next BLAS call.  The
 * workers of an exclusive GThreadPool sleep on a futex as soon as there is no chunk left, and the
 * caller issues its next BLAS call only after every chunk has finished, so our threads and
 * OpenBLAS's never compete.  Chunks are handed out from an atomic counter: a worker that starts late
 * (the machine is busy) simply takes fewer of them. */
#include "parallel.h"

#include "clip.h"

/* Chunks per thread: enough to even out a late start, few enough to keep each one long. */
#define CHUNKS_PER_THREAD 4

typedef struct {
  ClipRangeFunc func;
  gpointer      data;
  int64_t       n, chunk;
  int           n_chunks;
  gint          next;       /* the next chunk to take (atomic) */
  gint          refs;       /* the caller and each queued worker task */
  GMutex        lock;
  GCond         cond;
  int           finished;   /* chunks done, under LOCK */
} Loop;

static void
loop_unref (Loop *loop)
{
  if (!g_atomic_int_dec_and_test (&loop->refs))
    return;
  g_mutex_clear (&loop->lock);
  g_cond_clear (&loop->cond);
  g_free (loop);
}

/* Takes chunks until none is left.  FUNC and DATA are only touched while a chunk is unfinished, so
 * the caller may return (and free DATA) once all chunks are reported done. */
static void
loop_run (Loop *loop)
{
  for (;;)
    {
      int c = g_atomic_int_add (&loop->next, 1);
      if (c >= loop->n_chunks)
        return;
      int64_t start = c * loop->chunk;
      loop->func (start, MIN (loop->n, start + loop->chunk), loop->data);
      g_mutex_lock (&loop->lock);
      if (++loop->finished == loop->n_chunks)
        g_cond_signal (&loop->cond);
      g_mutex_unlock (&loop->lock);
    }
}

static void
worker (gpointer task, gpointer user_data)
{
  loop_run (task);
  loop_unref (task);
}

static GThreadPool *
pool_get (int helpers)
{
  static GThreadPool *pool;
  static GMutex pool_lock;
  g_mutex_lock (&pool_lock);
  if (pool == NULL)
    pool = g_thread_pool_new (worker, NULL, helpers, TRUE, NULL);
  else if (g_thread_pool_get_max_threads (pool) < helpers)
    g_thread_pool_set_max_threads (pool, helpers, NULL);
  g_mutex_unlock (&pool_lock);
  return pool;
}

void
clip_parallel_for (int64_t n, int64_t grain, ClipRangeFunc func, gpointer data)
{
  int threads = clip_get_threads ();
  grain = MAX (grain, 1);
  GThreadPool *pool = threads > 1 && n >= 2 * grain ? pool_get (threads - 1) : NULL;
  if (pool == NULL)
    {
      if (n > 0)
        func (0, n, data);
      return;
    }

  Loop *loop = g_new0 (Loop, 1);
  loop->func = func;
  loop->data = data;
  loop->n = n;
  int64_t n_chunks = MIN (n / grain, (int64_t) threads * CHUNKS_PER_THREAD);
  loop->chunk = (n + n_chunks - 1) / n_chunks;
  loop->n_chunks = (int) ((n + loop->chunk - 1) / loop->chunk);
  g_mutex_init (&loop->lock);
  g_cond_init (&loop->cond);
  int helpers = MIN (threads - 1, loop->n_chunks - 1);
  loop->refs = 1 + helpers;
  for (int i = 0; i < helpers; i++)
    g_thread_pool_push (pool, loop, NULL);

  loop_run (loop);
  g_mutex_lock (&loop->lock);
  while (loop->finished < loop->n_chunks)
    g_cond_wait (&loop->cond, &loop->lock);
  g_mutex_unlock (&loop->lock);
  loop_unref (loop);
}
