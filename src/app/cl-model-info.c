/* cl-model-info.c — model descriptions copied out of the worker thread. */
#include "cl-model-info.h"

#include <string.h>

#include <glib/gi18n.h>

G_DEFINE_BOXED_TYPE (ClModelInfo, cl_model_info, cl_model_info_copy, cl_model_info_free)

char *
cl_model_display_name (const char *path)
{
  static const char *const generic[] = {
    "hf", "hf_fp16", "open_clip", "openclip", "model", "open_clip_model", "checkpoint", "weights", NULL,
  };
  g_autofree char *base = g_path_get_basename (path);
  if (g_str_has_suffix (base, ".safetensors"))
    base[strlen (base) - strlen (".safetensors")] = '\0';
  if (!g_strv_contains (generic, base))
    return g_filename_display_name (base);

  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *parent = g_path_get_basename (dir);
  g_autofree char *joined = g_strdup_printf ("%s/%s", parent, base);
  return g_filename_display_name (joined);
}

/* The library names layouts and tokenizers in English, for logs and the command line; these are
 * for the user to read. */
static const char *
layout_display_name (ClipLayout layout)
{
  switch (layout)
    {
    case CLIP_LAYOUT_HF_DIR: return _("Hugging Face folder");
    case CLIP_LAYOUT_OPEN_CLIP_DIR: return _("OpenCLIP folder");
    case CLIP_LAYOUT_HF_FILE: return _("Safetensors file with Hugging Face names");
    case CLIP_LAYOUT_OPENAI_FILE: return _("Safetensors file with OpenAI names");
    case CLIP_LAYOUT_CLIPLAB: return _("ClipLab checkpoint");
    }
  return _("Unknown");
}

static char *
tokenizer_display_name (ClipTokenizer *tokenizer)
{
  int n_ids = clip_tokenizer_get_vocab_size (tokenizer);

  if (clip_tokenizer_get_kind (tokenizer) == CLIP_TOKENIZER_BYTES)
    /* Translators: the byte tokenizer and its vocabulary size, e.g. "bytes (258 ids)" */
    return g_strdup_printf (ngettext ("bytes (%d id)", "bytes (%d ids)", n_ids), n_ids);
  /* Translators: CLIP's byte-pair encoding and its vocabulary size, e.g. "CLIP BPE (49408 ids)" */
  return g_strdup_printf (ngettext ("CLIP BPE (%d id)", "CLIP BPE (%d ids)", n_ids), n_ids);
}

ClModelInfo *
cl_model_info_new (const ClipModel *model)
{
  ClModelInfo *info = g_new0 (ClModelInfo, 1);
  ClipTokenizer *tokenizer = clip_model_get_tokenizer (model);

  info->path = g_strdup (clip_model_get_path (model));
  info->name = cl_model_display_name (info->path);
  info->layout = g_strdup (layout_display_name (clip_model_get_layout (model)));
  info->dtype = g_strdup (clip_dtype_name (clip_model_get_dtype (model)));
  info->tokenizer = tokenizer != NULL ? tokenizer_display_name (tokenizer) : NULL;
  info->n_params = clip_model_get_n_params (model);
  info->config = *clip_model_get_config (model);
  info->preprocess = *clip_model_get_preprocess (model);
  info->logit_scale = clip_model_get_logit_scale (model);
  info->precision = clip_model_get_precision (model);
  return info;
}

ClModelInfo *
cl_model_info_copy (const ClModelInfo *info)
{
  ClModelInfo *copy = g_memdup2 (info, sizeof *info);

  copy->path = g_strdup (info->path);
  copy->name = g_strdup (info->name);
  copy->layout = g_strdup (info->layout);
  copy->dtype = g_strdup (info->dtype);
  copy->tokenizer = g_strdup (info->tokenizer);
  return copy;
}

void
cl_model_info_free (ClModelInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->path);
  g_free (info->name);
  g_free (info->layout);
  g_free (info->dtype);
  g_free (info->tokenizer);
  g_free (info);
}
