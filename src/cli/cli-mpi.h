/* cli-mpi.h — cliplab-cli's MPI transport for data-parallel training (built with -Dmpi=enabled or
 * auto when Open MPI's development files are there).  The library only sees a ClipCommunicator. */
#pragma once

#include "clip.h"

#include <signal.h>

typedef struct _CliMpi CliMpi;

/* When the process was started by mpirun with two or more ranks: initialises MPI (errors returned,
 * not fatal) and a watchdog that ends the whole job when one collective has waited more than
 * TIMEOUT_S seconds (rank 0 first, so that its message is the one to read), and sets *MPI.  Started
 * otherwise, or with one rank, *MPI stays NULL and nothing is initialised.  FALSE when MPI fails. */
gboolean cli_mpi_start (double timeout_s, CliMpi **mpi, GError **error);
const ClipCommunicator *cli_mpi_get_communicator (CliMpi *mpi);
/* mpirun ends a job whose rank died (or that is interrupted) with SIGTERM, then SIGKILL a second
 * later: when *SIGNALLED becomes non-zero while this rank waits in a collective, rank 0 says what
 * happened and where the last checkpoint is (OUT_DIR) before the job ends. */
void cli_mpi_watch_signal (CliMpi *mpi, volatile sig_atomic_t *signalled, const char *out_dir);
/* TRUE once an MPI call has failed: the other ranks may then be waiting for this one, which must
 * end the job with cli_mpi_abort instead of returning. */
gboolean cli_mpi_transport_failed (CliMpi *mpi);
/* Ends every rank of the job (MPI_Abort) with STATUS. */
G_NORETURN void cli_mpi_abort (CliMpi *mpi, int status);
/* Bytes this rank has sent in collectives so far (what the algorithms of a ring or tree would send
 * for the payloads, counted by the formulas in cli-mpi.c). */
uint64_t cli_mpi_get_bytes_sent (CliMpi *mpi);
/* The time this rank has spent in collectives so far: waiting for the others included. */
double   cli_mpi_get_seconds_in_collectives (CliMpi *mpi);
/* MPI_Finalize. */
void cli_mpi_free (CliMpi *mpi);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CliMpi, cli_mpi_free)
