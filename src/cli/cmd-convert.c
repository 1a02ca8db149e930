/* cmd-convert.c — `cliplab-cli convert`: save a model as one self-contained ClipLab checkpoint. */
#include "cli-common.h"

#include <stdio.h>

/* "f32", "f16" or "bf16", in either case. */
static gboolean
convert_parse_dtype (const char *name, ClipDType *dtype, GError **error)
{
  g_autofree char *upper = g_ascii_strup (name, -1);
  if (!clip_dtype_from_name (upper, dtype)
      || (*dtype != CLIP_DTYPE_F32 && *dtype != CLIP_DTYPE_F16 && *dtype != CLIP_DTYPE_BF16))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                   "--dtype %s: expected f32, f16 or bf16", name);
      return FALSE;
    }
  return TRUE;
}

int
cli_cmd_convert (int argc, char **argv)
{
  g_auto (CliModelOptions) model_options;
  cli_model_options_init (&model_options);
  g_autofree char *out_path = NULL;
  g_autofree char *dtype_name = NULL;
  const GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_path,
      "Write the checkpoint here, replacing it atomically (required)", "FILE" },
    { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype_name,
      "Weight type: f32, f16 or bf16 (default: the model's, or f32 when that is another type)",
      "f32|f16|bf16" },
    G_OPTION_ENTRY_NULL
  };

  g_autoptr (GOptionContext) context = cli_option_context_new (
    "convert", "", "Save a model, with its architecture, preprocessing and tokenizer, as one "
    "self-contained .safetensors file that --model accepts.", entries, &model_options, NULL);
  if (!cli_option_context_parse (context, "convert", &argc, &argv))
    return 1;
  if (out_path == NULL)
    {
      cli_print_error ("convert: --out FILE is required");
      return 1;
    }

  GError *error = NULL;
  ClipDType dtype = CLIP_DTYPE_F32;
  if (dtype_name != NULL && !convert_parse_dtype (dtype_name, &dtype, &error))
    return cli_fail (error);

  g_autoptr (ClipModel) model = cli_model_load (&model_options, &error);
  if (model == NULL)
    return cli_fail (error);
  if (dtype_name == NULL)
    {
      ClipDType model_dtype = clip_model_get_dtype (model);
      if (model_dtype == CLIP_DTYPE_F16 || model_dtype == CLIP_DTYPE_BF16)
        dtype = model_dtype;
    }

  if (!clip_model_save (model, out_path, dtype, &error))
    {
      cli_error_name_file (&error, out_path);
      return cli_fail (error);
    }

  g_autofree char *display = cli_path_for_text (out_path);
  printf ("%s: %" G_GINT64_FORMAT " parameters as %s\n", display, clip_model_get_n_params (model),
          clip_dtype_name (dtype));
  return 0;
}
