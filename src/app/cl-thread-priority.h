/* cl-thread-priority.h — background threads yield the CPU to the main thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Lowers the calling thread's CPU priority by NICENESS steps (Linux: per-thread nice); elsewhere
 * it does nothing.  The model worker and the thumbnail decoders call it, so that on a machine with
 * few cores the main loop keeps drawing while they compute. */
void cl_thread_lower_priority (int niceness);

/* Lowers every other thread that the process has now by NICENESS steps.  OpenBLAS starts its
 * compute threads before main () runs, as threads of the main thread's priority; while they wait
 * for the next matrix product they spin and yield, which on two cores takes CPU time from the main
 * loop.  main () calls this first, before any thread of its own exists. */
void cl_thread_lower_priority_of_others (int niceness);

G_END_DECLS
