/* parallel.c — clip_parallel_for on helper threads of our own.
 *
 * Why not OpenMP: OpenBLAS (pthread build) runs the matrix products on threads of its own, and after
 * a parallel region libgomp's workers keep spinning (OMP_WAIT_POLICY is read once, when libgomp
 * starts, so a library cannot change it), which would take a core from the next BLAS call.  Our
 * helpers spin for a short while only (SPIN_US) and then sleep on a condition variable, and the caller
 * issues its next BLAS call only after every chunk has finished, so our threads and OpenBLAS's do not
 * compete for longer than that.  The short spin matters on virtual machines: waking a sleeping vCPU
 * took around 100 µs here, and one image's forward pass issues about 130 loops back to back.
 * Chunks are handed out from an atomic counter: a helper that starts late (the machine is busy)
 * simply takes fewer of them. */
#include "parallel.h"

#include "clip.h"

/* Chunks per thread: enough to even out a late start, few enough to keep each one long. */
#define CHUNKS_PER_THREAD 4

/* How long an idle helper watches for the next loop before it sleeps. */
#define SPIN_US 100

typedef struct {
  ClipRangeFunc func;
  gpointer      data;
  int64_t       n, chunk;
  int           n_chunks;
  int           helpers;    /* how many helpers may join */
  gint          joined;     /* helpers that joined (atomic) */
  gint          next;       /* the next chunk to take (atomic) */
  gint          refs;       /* the caller, the pool's current slot and each joined helper */
  GMutex        lock;       /* with COND: the caller's wait once its spin is over */
  GCond         cond;
  gint          finished;   /* chunks done (atomic) */
} Loop;

static struct {
  GMutex lock;              /* guards LOOP, the helper count and the sleep */
  GCond  wake;
  guint  generation;        /* bumped (atomically, under LOCK) for every loop offered */
  Loop  *loop;              /* the loop on offer, holding a reference, or NULL */
  int    n_helpers;
  GMutex submit;            /* one caller's loop at a time; others run theirs alone */
} pool;

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
      if (g_atomic_int_add (&loop->finished, 1) + 1 == loop->n_chunks)
        {
          g_mutex_lock (&loop->lock);
          g_cond_signal (&loop->cond);
          g_mutex_unlock (&loop->lock);
        }
    }
}

static gpointer
helper_main (gpointer data)
{
  guint seen = 0;
  for (;;)
    {
      gint64 spin_end = g_get_monotonic_time () + SPIN_US;
      while ((guint) g_atomic_int_get (&pool.generation) == seen && g_get_monotonic_time () < spin_end)
        ;
      g_mutex_lock (&pool.lock);
      while (pool.generation == seen)
        g_cond_wait (&pool.wake, &pool.lock);
      seen = pool.generation;
      Loop *loop = pool.loop;
      if (loop != NULL && g_atomic_int_add (&loop->joined, 1) < loop->helpers)
        g_atomic_int_inc (&loop->refs);
      else
        loop = NULL;
      g_mutex_unlock (&pool.lock);
      if (loop != NULL)
        {
          loop_run (loop);
          loop_unref (loop);
        }
    }
  return NULL;
}

static void
pool_offer (Loop *loop, int helpers)
{
  g_mutex_lock (&pool.lock);
  for (; pool.n_helpers < helpers; pool.n_helpers++)
    {
      /* Without another thread (a limit on processes or memory), the ones there are do the work. */
      GThread *helper = g_thread_try_new ("clip-helper", helper_main, NULL, NULL);
      if (helper == NULL)
        break;
      g_thread_unref (helper);
    }
  g_atomic_int_inc (&loop->refs);
  pool.loop = loop;
  g_atomic_int_inc (&pool.generation);
  g_cond_broadcast (&pool.wake);
  g_mutex_unlock (&pool.lock);
}

static void
pool_withdraw (Loop *loop)
{
  g_mutex_lock (&pool.lock);
  g_assert (pool.loop == loop);
  pool.loop = NULL;
  g_mutex_unlock (&pool.lock);
  loop_unref (loop);
}

void
clip_parallel_for (int64_t n, int64_t grain, ClipRangeFunc func, gpointer data)
{
  int threads = clip_get_threads ();
  grain = MAX (grain, 1);
  if (threads < 2 || n < 2 * grain || !g_mutex_trylock (&pool.submit))
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
  loop->helpers = MIN (threads - 1, loop->n_chunks - 1);
  loop->refs = 1;
  g_mutex_init (&loop->lock);
  g_cond_init (&loop->cond);
  pool_offer (loop, threads - 1);

  loop_run (loop);
  /* The helpers' last chunks usually end within microseconds: spin before sleeping, for the same
   * reason as they do. */
  gint64 spin_end = g_get_monotonic_time () + SPIN_US;
  while (g_atomic_int_get (&loop->finished) < loop->n_chunks && g_get_monotonic_time () < spin_end)
    ;
  g_mutex_lock (&loop->lock);
  while (g_atomic_int_get (&loop->finished) < loop->n_chunks)
    g_cond_wait (&loop->cond, &loop->lock);
  g_mutex_unlock (&loop->lock);
  pool_withdraw (loop);
  g_mutex_unlock (&pool.submit);
  loop_unref (loop);
}
