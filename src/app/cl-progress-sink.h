/* cl-progress-sink.h — where a worker's progress reports go: the main thread's callback, its data
 * and the job's cancellable, shared by the model worker and the search index.  Reference-counted;
 * every release happens on the main thread (a worker hands its reference back through the main
 * context with cl_progress_sink_release_on), so DESTROY runs there. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  GCallback      func;          /* the owner's typed callback (may be NULL), cast back by the owner */
  gpointer       data;
  GDestroyNotify destroy;
  GCancellable  *cancellable;
} ClProgressSink;

ClProgressSink *cl_progress_sink_new (GCallback func, gpointer data, GDestroyNotify destroy,
                                      GCancellable *cancellable);
ClProgressSink *cl_progress_sink_acquire (ClProgressSink *sink);
/* Main thread only. */
void            cl_progress_sink_release (ClProgressSink *sink);
/* From any thread: releases SINK in CONTEXT. */
void            cl_progress_sink_release_on (ClProgressSink *sink, GMainContext *context);
/* Whether a report should still reach the callback: there is one and the job is not cancelled. */
gboolean        cl_progress_sink_wants (const ClProgressSink *sink);

G_END_DECLS
