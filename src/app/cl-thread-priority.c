/* cl-thread-priority.c — per-thread nice values. */
#include "cl-thread-priority.h"

#ifdef __linux__
#include <sys/resource.h>
#include <unistd.h>
#endif

void
cl_thread_lower_priority (int niceness)
{
#ifdef __linux__
  /* On Linux, nice applies to one thread when given its thread id. */
  pid_t tid = gettid ();
  int current = getpriority (PRIO_PROCESS, tid);
  setpriority (PRIO_PROCESS, tid, MIN (current + niceness, 19));
#endif
}
