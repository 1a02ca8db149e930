/* cl-progress-sink.c — see cl-progress-sink.h. */
#include "cl-progress-sink.h"

static void
progress_sink_clear (ClProgressSink *sink)
{
  if (sink->destroy != NULL)
    sink->destroy (sink->data);
  g_clear_object (&sink->cancellable);
}

ClProgressSink *
cl_progress_sink_new (GCallback func, gpointer data, GDestroyNotify destroy, GCancellable *cancellable)
{
  ClProgressSink *sink = g_atomic_rc_box_new0 (ClProgressSink);
  sink->func = func;
  sink->data = data;
  sink->destroy = destroy;
  sink->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  return sink;
}

ClProgressSink *
cl_progress_sink_acquire (ClProgressSink *sink)
{
  return g_atomic_rc_box_acquire (sink);
}

void
cl_progress_sink_release (ClProgressSink *sink)
{
  g_atomic_rc_box_release_full (sink, (GDestroyNotify) progress_sink_clear);
}

static gboolean
release_cb (gpointer sink)
{
  cl_progress_sink_release (sink);
  return G_SOURCE_REMOVE;
}

void
cl_progress_sink_release_on (ClProgressSink *sink, GMainContext *context)
{
  g_main_context_invoke (context, release_cb, sink);
}

gboolean
cl_progress_sink_wants (const ClProgressSink *sink)
{
  return sink->func != NULL && (sink->cancellable == NULL || !g_cancellable_is_cancelled (sink->cancellable));
}
