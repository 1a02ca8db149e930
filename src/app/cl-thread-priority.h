/* cl-thread-priority.h — background threads yield the CPU to the main thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Lowers the calling thread's CPU priority by NICENESS steps (Linux: per-thread nice); elsewhere
 * it does nothing.  The model worker and the thumbnail decoders call it, so that on a machine with
 * few cores the main loop keeps drawing while they compute. */
void cl_thread_lower_priority (int niceness);

G_END_DECLS
