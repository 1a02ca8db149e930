/* error.c — the CLIP_ERROR domain, the callback convention's helpers, dtype names and sizes, and the
 * BLAS thread count. */
#include "clip-private.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

G_DEFINE_QUARK (clip-error-quark, clip_error)

gboolean
clip_callbacks_aborted (const ClipCallbacks *callbacks)
{
  return callbacks != NULL && callbacks->abort != NULL && callbacks->abort (callbacks->user_data);
}

void
clip_callbacks_progress (const ClipCallbacks *callbacks, const char *what, int64_t done, int64_t total)
{
  if (callbacks != NULL && callbacks->progress != NULL)
    callbacks->progress (what, done, total, callbacks->user_data);
}

gboolean
clip_callbacks_check_abort (const ClipCallbacks *callbacks, GError **error)
{
  if (!clip_callbacks_aborted (callbacks))
    return TRUE;
  g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_ABORTED, "Cancelled");
  return FALSE;
}

/* Indexed by ClipDType; names are the safetensors spellings. */
static const struct {
  const char *name;
  size_t      size;
} dtype_table[] = {
  [CLIP_DTYPE_F32]  = { "F32", 4 },
  [CLIP_DTYPE_F16]  = { "F16", 2 },
  [CLIP_DTYPE_BF16] = { "BF16", 2 },
  [CLIP_DTYPE_F64]  = { "F64", 8 },
  [CLIP_DTYPE_I64]  = { "I64", 8 },
  [CLIP_DTYPE_I32]  = { "I32", 4 },
  [CLIP_DTYPE_I16]  = { "I16", 2 },
  [CLIP_DTYPE_I8]   = { "I8", 1 },
  [CLIP_DTYPE_U8]   = { "U8", 1 },
  [CLIP_DTYPE_BOOL] = { "BOOL", 1 },
};

const char *
clip_dtype_name (ClipDType dtype)
{
  g_return_val_if_fail ((unsigned) dtype < G_N_ELEMENTS (dtype_table), "?");
  return dtype_table[dtype].name;
}

gboolean
clip_dtype_from_name (const char *name, ClipDType *dtype)
{
  g_return_val_if_fail (name != NULL, FALSE);
  for (unsigned i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (strcmp (name, dtype_table[i].name) == 0)
      {
        if (dtype != NULL)
          *dtype = (ClipDType) i;
        return TRUE;
      }
  return FALSE;
}

size_t
clip_dtype_size (ClipDType dtype)
{
  g_return_val_if_fail ((unsigned) dtype < G_N_ELEMENTS (dtype_table), 0);
  return dtype_table[dtype].size;
}

/* 0 until clip_set_threads is called; OpenBLAS then follows OPENBLAS_NUM_THREADS or its own default. */
static gint n_threads_set;

void
clip_set_threads (int n_threads)
{
  g_return_if_fail (n_threads >= 0);
  if (n_threads == 0)
    n_threads = (int) g_get_num_processors ();
  n_threads = MIN (n_threads, CLIP_MAX_THREADS);
  g_atomic_int_set (&n_threads_set, n_threads);
  openblas_set_num_threads (n_threads);
}

int
clip_get_threads (void)
{
  /* OpenBLAS's default, kept at the first call: clip_blas_single_begin changes OpenBLAS's count. */
  g_atomic_int_compare_and_exchange (&n_threads_set, 0, openblas_get_num_threads ());
  return g_atomic_int_get (&n_threads_set);
}

static GMutex blas_single_lock;
static int blas_single_users;

void
clip_blas_single_begin (void)
{
  int threads = clip_get_threads ();
  g_mutex_lock (&blas_single_lock);
  if (blas_single_users++ == 0 && threads > 1)
    openblas_set_num_threads (1);
  g_mutex_unlock (&blas_single_lock);
}

void
clip_blas_single_end (void)
{
  int threads = clip_get_threads ();
  g_mutex_lock (&blas_single_lock);
  if (--blas_single_users == 0 && threads > 1)
    openblas_set_num_threads (threads);
  g_mutex_unlock (&blas_single_lock);
}

/* OpenBLAS (0.3.21, Debian 12) takes a work buffer of 128 MiB for each thread at its first product,
 * and when that memory cannot be had it retries forever: the process hangs, and hangs again at exit
 * joining the thread that retries. */
#define BLAS_BUFFER_BYTES ((uint64_t) 128 << 20)

/* Threads whose OpenBLAS buffer exists (the products ran with that many): atomic. */
static gint blas_threads_ready;

/* The bytes of address space the process may still map under RLIMIT_AS; G_MAXUINT64 without a limit. */
static uint64_t
address_space_left (void)
{
  struct rlimit limit;
  if (getrlimit (RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return G_MAXUINT64;
  unsigned long long pages = 0;
  FILE *statm = fopen ("/proc/self/statm", "re");
  if (statm == NULL || fscanf (statm, "%llu", &pages) != 1)
    pages = 0;
  if (statm != NULL)
    fclose (statm);
  uint64_t used = (uint64_t) pages * (uint64_t) sysconf (_SC_PAGESIZE);
  return used < limit.rlim_cur ? limit.rlim_cur - used : 0;
}

gboolean
clip_blas_check_room (GError **error)
{
  int threads = clip_get_threads ();
  if (threads <= g_atomic_int_get (&blas_threads_ready))
    return TRUE;
  uint64_t left = address_space_left ();
  int room = (int) MIN ((uint64_t) threads, left / (2 * BLAS_BUFFER_BYTES));  /* a buffer, and as much again */
  if (room < 1)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "the address-space limit (ulimit -v) leaves %" G_GUINT64_FORMAT
                   " MB, and the matrix products (OpenBLAS) need %" G_GUINT64_FORMAT " MB of work memory",
                   left >> 20, (2 * BLAS_BUFFER_BYTES) >> 20);
      return FALSE;
    }
  /* Room for fewer buffers than threads: the products run on as many threads as fit. */
  if (room < threads)
    {
      openblas_set_num_threads (room);
      g_atomic_int_set (&n_threads_set, room);
    }
  g_atomic_int_set (&blas_threads_ready, room);
  return TRUE;
}
