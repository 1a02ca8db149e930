/* cl-model-chooser.h — the model dialog: the current model's details, and loading another one (the
 * built-in model, a Hugging Face or open_clip folder, a checkpoint or .safetensors file); its Get
 * Models page (cl-hub-page.h) downloads pretrained models from Hugging Face. */
#pragma once

#include <gtk/gtk.h>

#include "cl-session.h"

G_BEGIN_DECLS

#define CL_TYPE_MODEL_CHOOSER (cl_model_chooser_get_type ())
G_DECLARE_FINAL_TYPE (ClModelChooser, cl_model_chooser, CL, MODEL_CHOOSER, GtkWindow)

GtkWindow *cl_model_chooser_new (GtkWindow *parent, ClSession *session);

/* Property "busy" (read-only): a model is being loaded from the dialog.
 * Action "chooser.load" (s: a path) loads a model with the tokenizer and configuration typed in the
 * dialog: what choosing a file, the built-in model or a recent one does. */

/* "151.3 M" — parameter counts for people. */
char *cl_format_parameter_count (gint64 n);

G_END_DECLS
