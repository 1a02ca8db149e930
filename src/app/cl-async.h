/* cl-async.h — small helpers for the views' asynchronous calls: a weak reference handed to a
 * callback as its user data (the view may be gone when the result arrives), and cancelling a job
 * the view no longer wants. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

GWeakRef *cl_weak_ref_new (gpointer object);
void      cl_weak_ref_free (GWeakRef *ref);
/* A weak reference that also remembers its object's generation counter (a guint member, bumped when
 * the object moves on to another folder or model): a result that arrives after that is stale. */
typedef struct {
  GWeakRef object;
  const guint *generation;   /* inside the object: read only while a reference is held */
  guint made_at;
} ClGenerationRef;

ClGenerationRef *cl_generation_ref_new (gpointer object, const guint *generation);
void             cl_generation_ref_free (gpointer ref);
/* The object (a new reference) while it lives and its generation is unchanged, else NULL. */
gpointer         cl_generation_ref_get (ClGenerationRef *ref);
/* The same, freeing REF. */
gpointer         cl_generation_ref_take (ClGenerationRef *ref);

/* Cancels *CANCELLABLE when set and clears it. */
void      cl_cancel_and_clear (GCancellable **cancellable);

/* A call made once changes pause: every cl_debounce_schedule () restarts the wait of DELAY_MS, and
 * FUNC (OWNER) runs when it ends.  Embedded in its owner, which cancels it when it goes. */
typedef struct {
  guint source;
  guint delay_ms;
  void (*func) (gpointer owner);
  gpointer owner;
} ClDebounce;

void     cl_debounce_init (ClDebounce *debounce, guint delay_ms, void (*func) (gpointer owner), gpointer owner);
void     cl_debounce_schedule (ClDebounce *debounce);
gboolean cl_debounce_is_pending (const ClDebounce *debounce);
void     cl_debounce_cancel (ClDebounce *debounce);

G_END_DECLS
