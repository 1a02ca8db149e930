/* cl-async.h — small helpers for the views' asynchronous calls: a weak reference handed to a
 * callback as its user data (the view may be gone when the result arrives), and cancelling a job
 * the view no longer wants. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

GWeakRef *cl_weak_ref_new (gpointer object);
void      cl_weak_ref_free (GWeakRef *ref);
/* Cancels *CANCELLABLE when set and clears it. */
void      cl_cancel_and_clear (GCancellable **cancellable);

G_END_DECLS
