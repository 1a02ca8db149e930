/* cl-model-info.h — an immutable description of a loaded model, safe to pass between threads. */
#pragma once

#include <glib-object.h>

#include "clip.h"

G_BEGIN_DECLS

typedef struct {
  char *path;
  char *name;         /* short display name derived from the path */
  char *layout;       /* translated, as the user reads it */
  char *dtype;        /* of the weights on disk */
  char *tokenizer;    /* translated kind and vocabulary size, NULL when the model has none */
  gint64 n_params;
  ClipConfig config;
  ClipPreprocess preprocess;
  float logit_scale;  /* the raw log value */
  ClipPrecision precision;  /* of its products, resolved (never AUTO) */
} ClModelInfo;

#define CL_TYPE_MODEL_INFO (cl_model_info_get_type ())
GType cl_model_info_get_type (void) G_GNUC_CONST;

/* A snapshot of MODEL (call on the thread that owns it). */
ClModelInfo *cl_model_info_new (const ClipModel *model);
ClModelInfo *cl_model_info_copy (const ClModelInfo *info);
void         cl_model_info_free (ClModelInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClModelInfo, cl_model_info_free)

/* The short name shown for a model at PATH: the file or folder name, with the parent folder added
 * when the name alone says little ("hf/", "model.safetensors"). */
char *cl_model_display_name (const char *path);

G_END_DECLS
