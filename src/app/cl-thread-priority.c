/* cl-thread-priority.c — per-thread nice values. */
#include "cl-thread-priority.h"

#ifdef __linux__
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* On Linux, nice applies to one thread when given its thread id. */
static void
lower_thread (pid_t tid, int niceness)
{
  int current = getpriority (PRIO_PROCESS, tid);
  setpriority (PRIO_PROCESS, tid, MIN (current + niceness, 19));
}
#endif

void
cl_thread_lower_priority (int niceness)
{
#ifdef __linux__
  lower_thread (gettid (), niceness);
#endif
}

void
cl_thread_lower_priority_of_others (int niceness)
{
#ifdef __linux__
  g_autoptr (GDir) tasks = g_dir_open ("/proc/self/task", 0, NULL);
  const char *name;
  pid_t self = gettid ();

  while (tasks != NULL && (name = g_dir_read_name (tasks)) != NULL)
    {
      pid_t tid = (pid_t) strtol (name, NULL, 10);
      if (tid > 0 && tid != self)
        lower_thread (tid, niceness);
    }
#endif
}
