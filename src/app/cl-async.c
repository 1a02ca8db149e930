/* cl-async.c — see cl-async.h. */
#include "cl-async.h"

GWeakRef *
cl_weak_ref_new (gpointer object)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, object);
  return ref;
}

void
cl_weak_ref_free (GWeakRef *ref)
{
  g_weak_ref_clear (ref);
  g_free (ref);
}

ClGenerationRef *
cl_generation_ref_new (gpointer object, const guint *generation)
{
  ClGenerationRef *ref = g_new0 (ClGenerationRef, 1);
  g_weak_ref_init (&ref->object, object);
  ref->generation = generation;
  ref->made_at = *generation;
  return ref;
}

void
cl_generation_ref_free (gpointer ref)
{
  g_weak_ref_clear (&((ClGenerationRef *) ref)->object);
  g_free (ref);
}

gpointer
cl_generation_ref_get (ClGenerationRef *ref)
{
  gpointer object = g_weak_ref_get (&ref->object);
  if (object != NULL && *ref->generation != ref->made_at)
    g_clear_object (&object);
  return object;
}

gpointer
cl_generation_ref_take (ClGenerationRef *ref)
{
  gpointer object = cl_generation_ref_get (ref);
  cl_generation_ref_free (ref);
  return object;
}

void
cl_cancel_and_clear (GCancellable **cancellable)
{
  if (*cancellable != NULL)
    g_cancellable_cancel (*cancellable);
  g_clear_object (cancellable);
}

void
cl_debounce_init (ClDebounce *debounce, guint delay_ms, void (*func) (gpointer owner), gpointer owner)
{
  *debounce = (ClDebounce) { .delay_ms = delay_ms, .func = func, .owner = owner };
}

static gboolean
debounce_fire (gpointer data)
{
  ClDebounce *debounce = data;

  /* No longer pending while FUNC runs: it may schedule the next call. */
  debounce->source = 0;
  debounce->func (debounce->owner);
  return G_SOURCE_REMOVE;
}

void
cl_debounce_schedule (ClDebounce *debounce)
{
  g_clear_handle_id (&debounce->source, g_source_remove);
  debounce->source = g_timeout_add (debounce->delay_ms, debounce_fire, debounce);
}

gboolean
cl_debounce_is_pending (const ClDebounce *debounce)
{
  return debounce->source != 0;
}

void
cl_debounce_cancel (ClDebounce *debounce)
{
  g_clear_handle_id (&debounce->source, g_source_remove);
}
