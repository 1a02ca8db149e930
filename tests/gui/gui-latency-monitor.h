/* gui-latency-monitor.h — how long the main loop keeps events waiting, for the GUI test driver.
 *
 * Two measures, both reset together:
 *  - lateness: a probe source at G_PRIORITY_DEFAULT (the priority of input events) is due every
 *    period; each dispatch records how late it ran.  The samples are spread evenly over time, so
 *    their percentiles say how long an event arriving at a random moment waits;
 *  - blocks: the main context's poll function records every stretch between two polls, that is
 *    every span in which the loop did work without looking at new events; the longest is the worst
 *    stall, whatever ran during it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _GuiLatencyMonitor GuiLatencyMonitor;

typedef struct {
  guint n_samples;        /* probe dispatches */
  double max_ms;          /* largest lateness of the probe */
  double p99_ms;          /* 99th percentile of the lateness */
  double max_block_ms;    /* longest stretch between two polls */
} GuiLatencyStats;

/* Watches CONTEXT (the thread-default one when NULL); the probe is due every PERIOD_MS. */
GuiLatencyMonitor *gui_latency_monitor_new (GMainContext *context, guint period_ms);
void              gui_latency_monitor_free (GuiLatencyMonitor *self);
void              gui_latency_monitor_reset (GuiLatencyMonitor *self);
void              gui_latency_monitor_get_stats (GuiLatencyMonitor *self, GuiLatencyStats *stats);

G_END_DECLS
