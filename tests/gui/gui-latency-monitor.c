/* gui-latency-monitor.c — a probe source and a timing poll function on the main context. */
#include "gui-latency-monitor.h"

#include <math.h>
#include <stdlib.h>

struct _GuiLatencyMonitor {
  GMainContext *context;
  GSource *probe;
  gint64 period_us;
  GArray *lateness;          /* gint64 µs, one per probe dispatch */
  GPollFunc previous_poll;
  gint64 poll_returned;      /* monotonic µs when the last poll returned; 0 before the first */
  gint64 max_block;          /* µs */
};

/* The poll function has no user data: the one monitor that installed it. */
static GuiLatencyMonitor *poll_owner;

static gint
timed_poll (GPollFD *fds, guint n_fds, gint timeout)
{
  GuiLatencyMonitor *self = poll_owner;
  gint64 entered = g_get_monotonic_time ();

  if (self->poll_returned != 0)
    self->max_block = MAX (self->max_block, entered - self->poll_returned);
  gint result = self->previous_poll (fds, n_fds, timeout);
  self->poll_returned = g_get_monotonic_time ();
  return result;
}

static gboolean
probe_dispatch (gpointer data)
{
  GuiLatencyMonitor *self = data;
  gint64 now = g_get_monotonic_time ();
  gint64 late = now - g_source_get_ready_time (self->probe);

  g_array_append_val (self->lateness, late);
  g_source_set_ready_time (self->probe, now + self->period_us);
  return G_SOURCE_CONTINUE;
}

static gboolean
probe_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  return callback (user_data);
}

static GSourceFuncs probe_funcs = { .dispatch = probe_source_dispatch };

GuiLatencyMonitor *
gui_latency_monitor_new (GMainContext *context, guint period_ms)
{
  g_return_val_if_fail (poll_owner == NULL, NULL);

  GuiLatencyMonitor *self = g_new0 (GuiLatencyMonitor, 1);
  self->context = context != NULL ? g_main_context_ref (context) : g_main_context_ref_thread_default ();
  self->period_us = (gint64) MAX (period_ms, 1) * 1000;
  self->lateness = g_array_new (FALSE, FALSE, sizeof (gint64));

  /* A source that is only ever ready at its ready time: dispatching it re-arms it. */
  self->probe = g_source_new (&probe_funcs, sizeof (GSource));
  g_source_set_priority (self->probe, G_PRIORITY_DEFAULT);
  g_source_set_callback (self->probe, probe_dispatch, self, NULL);
  g_source_set_static_name (self->probe, "[cliplab] latency probe");
  g_source_set_ready_time (self->probe, g_get_monotonic_time () + self->period_us);
  g_source_attach (self->probe, self->context);

  poll_owner = self;
  self->previous_poll = g_main_context_get_poll_func (self->context);
  g_main_context_set_poll_func (self->context, timed_poll);
  return self;
}

void
gui_latency_monitor_free (GuiLatencyMonitor *self)
{
  if (self == NULL)
    return;
  g_main_context_set_poll_func (self->context, self->previous_poll);
  poll_owner = NULL;
  g_source_destroy (self->probe);
  g_source_unref (self->probe);
  g_array_unref (self->lateness);
  g_main_context_unref (self->context);
  g_free (self);
}

void
gui_latency_monitor_reset (GuiLatencyMonitor *self)
{
  g_array_set_size (self->lateness, 0);
  self->max_block = 0;
}

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

void
gui_latency_monitor_get_stats (GuiLatencyMonitor *self, GuiLatencyStats *stats)
{
  guint n = self->lateness->len;
  g_autofree gint64 *sorted = g_memdup2 (self->lateness->data, sizeof (gint64) * MAX (n, 1));

  qsort (sorted, n, sizeof (gint64), compare_gint64);
  stats->n_samples = n;
  stats->max_ms = n > 0 ? sorted[n - 1] / 1000.0 : 0;
  /* Nearest rank: the smallest sample with at least 99 % of the samples at or below it. */
  stats->p99_ms = n > 0 ? sorted[(guint) ceil (0.99 * n) - 1] / 1000.0 : 0;
  stats->max_block_ms = self->max_block / 1000.0;
}
