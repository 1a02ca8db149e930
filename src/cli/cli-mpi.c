/* cli-mpi.c — the ClipCommunicator of a data-parallel `cliplab-cli train` over MPI: MPI_Allgather,
 * MPI_Reduce_scatter_block and MPI_Allreduce on a duplicate of MPI_COMM_WORLD whose errors are
 * returned (MPI_ERRORS_RETURN) and reported, and a watchdog thread that ends the job when a
 * collective waits too long (a rank died or hangs), so that a run never hangs. */
#include "cli-mpi.h"
#include "cli-common.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define WATCHDOG_POLL_US    (200 * 1000)
#define OTHER_RANKS_GRACE_S 5.0          /* rank 0's watchdog fires first: its message is the one to read */
#define SIGNAL_WAIT_S       0.5            /* waiting this long after SIGTERM: the job is being ended */

struct _CliMpi {
  MPI_Comm         comm;
  ClipCommunicator communicator;
  gboolean         failed;
  uint64_t         bytes_sent;
  gint64           collective_began;   /* monotonic µs */
  gint64           collective_us;      /* the time spent in collectives so far */
  double           timeout_s;
  gint64           started;         /* monotonic µs of cli_mpi_start */
  gint             waiting_since;   /* atomic: ms after STARTED when the current collective began + 1; 0 idle */
  gint             stop;            /* atomic: the watchdog ends */
  volatile sig_atomic_t *signalled;
  char            *out_dir;
  GThread         *watchdog;
};

/* Seconds the current collective has waited, or -1. */
static double
waited_s (CliMpi *mpi)
{
  gint since = g_atomic_int_get (&mpi->waiting_since);
  if (since == 0)
    return -1;
  return ((double) (g_get_monotonic_time () - mpi->started) / 1000 - (since - 1)) / 1000;
}

static gpointer
watchdog_main (gpointer data)
{
  CliMpi *mpi = data;
  double limit = mpi->timeout_s + (mpi->communicator.rank == 0 ? 0 : OTHER_RANKS_GRACE_S);
  gint64 signal_seen = 0;
  while (!g_atomic_int_get (&mpi->stop))
    {
      g_usleep (WATCHDOG_POLL_US);
      if (mpi->signalled != NULL && *mpi->signalled && signal_seen == 0)
        signal_seen = g_get_monotonic_time ();
      if (signal_seen != 0 && waited_s (mpi) >= 0
          && (double) (g_get_monotonic_time () - signal_seen) / G_USEC_PER_SEC >= SIGNAL_WAIT_S)
        {
          if (mpi->communicator.rank == 0)
            fprintf (stderr, "%s: rank 0 of %d: the job is being ended (a rank died or the job was interrupted) "
                     "while the ranks waited for one another.  The last checkpoint in %s is intact; continue "
                     "with '%s train --resume %s'.\n", CLI_PROGRAM_NAME, mpi->communicator.size, mpi->out_dir,
                     CLI_PROGRAM_NAME, mpi->out_dir);
          fflush (stderr);
          _exit (EXIT_FAILURE);
        }
      if (waited_s (mpi) > limit)
        {
          /* MPI may not be called from this thread; _exit makes mpirun end the other ranks. */
          fprintf (stderr, "%s: rank %d of %d: the other ranks have not answered for %.0f s: one of them died or "
                   "hangs (see --collective-timeout).  The run ends; its last checkpoint is intact and "
                   "'%s train --resume' continues from it.\n", CLI_PROGRAM_NAME, mpi->communicator.rank,
                   mpi->communicator.size, limit, CLI_PROGRAM_NAME);
          fflush (stderr);
          _exit (EXIT_FAILURE);
        }
    }
  return NULL;
}

static void
watch_begin (CliMpi *mpi)
{
  mpi->collective_began = g_get_monotonic_time ();
  g_atomic_int_set (&mpi->waiting_since, (gint) ((g_get_monotonic_time () - mpi->started) / 1000) + 1);
}

static void
watch_end (CliMpi *mpi)
{
  mpi->collective_us += g_get_monotonic_time () - mpi->collective_began;
  g_atomic_int_set (&mpi->waiting_since, 0);
}

static gboolean
check (CliMpi *mpi, int status, const char *what, GError **error)
{
  watch_end (mpi);
  if (status == MPI_SUCCESS)
    return TRUE;
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string (status, message, &length);
  mpi->failed = TRUE;
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "rank %d of %d: %s failed: %.*s", mpi->communicator.rank,
               mpi->communicator.size, what, length, message);
  return FALSE;
}

/* MPI counts are ints: larger payloads go in pieces. */
static gboolean
fits_int (CliMpi *mpi, size_t count, const char *what, GError **error)
{
  if (count <= G_MAXINT)
    return TRUE;
  mpi->failed = TRUE;
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s of %zu elements: more than MPI's int counts", what, count);
  return FALSE;
}

/* The bytes counted below are what ring algorithms send per rank for the payload: an all-gather and
 * a reduce-scatter (N − 1) blocks of it, an all-reduce both, 2 (N − 1) / N of the whole. */
static gboolean
mpi_allgather (const void *send, void *recv, size_t bytes, gpointer user_data, GError **error)
{
  CliMpi *mpi = user_data;
  if (!fits_int (mpi, bytes, "MPI_Allgather", error))
    return FALSE;
  mpi->bytes_sent += (uint64_t) bytes * (mpi->communicator.size - 1);
  watch_begin (mpi);
  return check (mpi, MPI_Allgather (send, (int) bytes, MPI_BYTE, recv, (int) bytes, MPI_BYTE, mpi->comm),
                "MPI_Allgather", error);
}

static gboolean
mpi_reduce_scatter_sum (const float *send, float *recv, size_t count, gpointer user_data, GError **error)
{
  CliMpi *mpi = user_data;
  if (!fits_int (mpi, count, "MPI_Reduce_scatter_block", error))
    return FALSE;
  mpi->bytes_sent += (uint64_t) count * sizeof (float) * (mpi->communicator.size - 1);
  watch_begin (mpi);
  return check (mpi, MPI_Reduce_scatter_block (send, recv, (int) count, MPI_FLOAT, MPI_SUM, mpi->comm),
                "MPI_Reduce_scatter_block", error);
}

static gboolean
mpi_allreduce_sum (float *data, size_t count, gpointer user_data, GError **error)
{
  CliMpi *mpi = user_data;
  if (!fits_int (mpi, count, "MPI_Allreduce", error))
    return FALSE;
  int n = mpi->communicator.size;
  mpi->bytes_sent += (uint64_t) (2.0 * (n - 1) / n * count * sizeof (float));
  watch_begin (mpi);
  return check (mpi, MPI_Allreduce (MPI_IN_PLACE, data, (int) count, MPI_FLOAT, MPI_SUM, mpi->comm),
                "MPI_Allreduce", error);
}

/* Open MPI's launchers set OMPI_COMM_WORLD_SIZE; a process started otherwise trains alone. */
static int
launched_size (void)
{
  const char *size = g_getenv ("OMPI_COMM_WORLD_SIZE");
  return size != NULL ? atoi (size) : 1;
}

gboolean
cli_mpi_start (double timeout_s, CliMpi **out, GError **error)
{
  *out = NULL;
  if (launched_size () < 2)
    return TRUE;
  g_autoptr (CliMpi) mpi = g_new0 (CliMpi, 1);
  mpi->comm = MPI_COMM_NULL;
  mpi->timeout_s = timeout_s;
  mpi->started = g_get_monotonic_time ();
  int provided;
  if (MPI_Init_thread (NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_IO, "MPI_Init_thread failed");
      return FALSE;
    }
  if (MPI_Comm_dup (MPI_COMM_WORLD, &mpi->comm) != MPI_SUCCESS
      || MPI_Comm_set_errhandler (mpi->comm, MPI_ERRORS_RETURN) != MPI_SUCCESS
      || MPI_Comm_rank (mpi->comm, &mpi->communicator.rank) != MPI_SUCCESS
      || MPI_Comm_size (mpi->comm, &mpi->communicator.size) != MPI_SUCCESS)
    {
      g_set_error_literal (error, CLIP_ERROR, CLIP_ERROR_IO, "cannot set up MPI's communicator");
      return FALSE;
    }
  mpi->communicator.allgather = mpi_allgather;
  mpi->communicator.reduce_scatter_sum = mpi_reduce_scatter_sum;
  mpi->communicator.allreduce_sum = mpi_allreduce_sum;
  mpi->communicator.user_data = mpi;
  mpi->watchdog = g_thread_new ("mpi-watchdog", watchdog_main, mpi);
  *out = g_steal_pointer (&mpi);
  return TRUE;
}

const ClipCommunicator *
cli_mpi_get_communicator (CliMpi *mpi)
{
  return &mpi->communicator;
}

void
cli_mpi_watch_signal (CliMpi *mpi, volatile sig_atomic_t *signalled, const char *out_dir)
{
  mpi->out_dir = g_strdup (out_dir);
  mpi->signalled = signalled;
}

gboolean
cli_mpi_transport_failed (CliMpi *mpi)
{
  return mpi->failed;
}

uint64_t
cli_mpi_get_bytes_sent (CliMpi *mpi)
{
  return mpi->bytes_sent;
}

double
cli_mpi_get_seconds_in_collectives (CliMpi *mpi)
{
  return (double) mpi->collective_us / G_USEC_PER_SEC;
}

void
cli_mpi_abort (CliMpi *mpi, int status)
{
  fflush (stderr);
  MPI_Abort (MPI_COMM_WORLD, status);
  _exit (status);
}

void
cli_mpi_free (CliMpi *mpi)
{
  if (mpi == NULL)
    return;
  if (mpi->watchdog != NULL)
    {
      g_atomic_int_set (&mpi->stop, 1);
      g_thread_join (mpi->watchdog);
    }
  if (mpi->comm != MPI_COMM_NULL)
    MPI_Comm_free (&mpi->comm);
  g_free (mpi->out_dir);
  int initialized = 0, finalized = 0;
  MPI_Initialized (&initialized);
  MPI_Finalized (&finalized);
  if (initialized && !finalized)
    MPI_Finalize ();
  g_free (mpi);
}
