/* cmd-info.c — `cliplab-cli info`: what a model is, as the library loaded it. */
#include "cli-common.h"

#include <math.h>
#include <stdio.h>

static const char *
info_activation_name (ClipActivation activation)
{
  return activation == CLIP_ACTIVATION_QUICK_GELU ? "quick_gelu" : "gelu";
}

static const char *
info_tokenizer_kind_name (ClipTokenizerKind kind)
{
  return kind == CLIP_TOKENIZER_BPE ? "bpe" : "bytes";
}

static void
info_json_add_tower (JsonBuilder *builder, const char *name, const ClipTowerConfig *tower)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_object (builder);
  cli_json_add_int (builder, "width", tower->width);
  cli_json_add_int (builder, "layers", tower->layers);
  cli_json_add_int (builder, "heads", tower->heads);
  cli_json_add_int (builder, "mlp_width", tower->mlp_width);
  cli_json_add_string (builder, "activation", info_activation_name (tower->activation));
  cli_json_add_double (builder, "ln_eps", tower->ln_eps);
  json_builder_end_object (builder);
}

static void
info_print_json (const ClipModel *model)
{
  const ClipConfig *config = clip_model_get_config (model);
  const ClipPreprocess *preprocess = clip_model_get_preprocess (model);
  const ClipTokenizer *tokenizer = clip_model_get_tokenizer (model);
  const float logit_scale = clip_model_get_logit_scale (model);
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  cli_json_add_path (builder, "path", clip_model_get_path (model));
  cli_json_add_string (builder, "layout", clip_layout_name (clip_model_get_layout (model)));

  json_builder_set_member_name (builder, "architecture");
  json_builder_begin_object (builder);
  info_json_add_tower (builder, "vision", &config->vision);
  info_json_add_tower (builder, "text", &config->text);
  cli_json_add_int (builder, "image_size", config->image_size);
  cli_json_add_int (builder, "patch_size", config->patch_size);
  cli_json_add_int (builder, "context_length", config->context_length);
  cli_json_add_int (builder, "vocab_size", config->vocab_size);
  cli_json_add_int (builder, "embed_dim", config->embed_dim);
  cli_json_add_int (builder, "eot_id", config->eot_id);
  json_builder_end_object (builder);

  cli_json_add_int (builder, "n_params", clip_model_get_n_params (model));
  cli_json_add_string (builder, "dtype", clip_dtype_name (clip_model_get_dtype (model)));

  json_builder_set_member_name (builder, "tokenizer");
  if (tokenizer == NULL)
    json_builder_add_null_value (builder);
  else
    {
      json_builder_begin_object (builder);
      cli_json_add_string (builder, "kind", info_tokenizer_kind_name (clip_tokenizer_get_kind (tokenizer)));
      cli_json_add_string (builder, "description", clip_tokenizer_describe (tokenizer));
      cli_json_add_int (builder, "vocab_size", clip_tokenizer_get_vocab_size (tokenizer));
      cli_json_add_int (builder, "sot_id", clip_tokenizer_get_sot_id (tokenizer));
      cli_json_add_int (builder, "eot_id", clip_tokenizer_get_eot_id (tokenizer));
      json_builder_end_object (builder);
    }

  json_builder_set_member_name (builder, "preprocess");
  json_builder_begin_object (builder);
  cli_json_add_int (builder, "image_size", preprocess->image_size);
  cli_json_add_float_array (builder, "mean", preprocess->mean, 3);
  cli_json_add_float_array (builder, "std", preprocess->std, 3);
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "logit_scale");
  json_builder_begin_object (builder);
  cli_json_add_double (builder, "raw", logit_scale);
  cli_json_add_double (builder, "exp", exp (logit_scale));
  json_builder_end_object (builder);

  json_builder_end_object (builder);
  cli_json_print_line (builder);
}

static void
info_print_tower (const char *label, const ClipTowerConfig *tower)
{
  printf ("%-15s width %d, %d layers, %d heads, MLP %d, %s, LayerNorm eps %g\n", label,
          tower->width, tower->layers, tower->heads, tower->mlp_width,
          info_activation_name (tower->activation), tower->ln_eps);
}

static void
info_print_text (const ClipModel *model)
{
  const ClipConfig *config = clip_model_get_config (model);
  const ClipPreprocess *preprocess = clip_model_get_preprocess (model);
  const ClipTokenizer *tokenizer = clip_model_get_tokenizer (model);
  const float logit_scale = clip_model_get_logit_scale (model);
  g_autofree char *path = cli_path_for_text (clip_model_get_path (model));

  printf ("%-15s %s\n", "path", path);
  printf ("%-15s %s\n", "layout", clip_layout_name (clip_model_get_layout (model)));
  printf ("%-15s %s\n", "dtype", clip_dtype_name (clip_model_get_dtype (model)));
  printf ("%-15s %" G_GINT64_FORMAT "\n", "parameters", clip_model_get_n_params (model));
  info_print_tower ("vision tower", &config->vision);
  info_print_tower ("text tower", &config->text);
  printf ("%-15s %d px, patch %d\n", "image", config->image_size, config->patch_size);
  printf ("%-15s context %d, vocabulary %d, EOT id %d\n", "text", config->context_length,
          config->vocab_size, config->eot_id);
  printf ("%-15s %d\n", "embedding dim", config->embed_dim);
  printf ("%-15s %s\n", "tokenizer",
          tokenizer != NULL ? clip_tokenizer_describe (tokenizer)
                            : "none (pass --tokenizer bytes|PATH to encode text)");
  printf ("%-15s %d px, mean %.8g %.8g %.8g, std %.8g %.8g %.8g\n", "preprocessing",
          preprocess->image_size, preprocess->mean[0], preprocess->mean[1], preprocess->mean[2],
          preprocess->std[0], preprocess->std[1], preprocess->std[2]);
  printf ("%-15s %.6g (exp %.6g)\n", "logit scale", logit_scale, exp (logit_scale));
}

int
cli_cmd_info (int argc, char **argv)
{
  g_auto (CliModelOptions) model_options;
  cli_model_options_init (&model_options);
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL },
    G_OPTION_ENTRY_NULL
  };

  g_autoptr (GOptionContext) context = cli_option_context_new (
    "info", "", "Describe a model: checkpoint layout, architecture of both towers, parameter count, "
    "weight dtype, tokenizer, preprocessing and logit scale.", entries, &model_options, NULL);
  if (!cli_option_context_parse (context, "info", &argc, &argv))
    return 1;

  GError *error = NULL;
  g_autoptr (ClipModel) model = cli_model_load (&model_options, &error);
  if (model == NULL)
    return cli_fail (error);

  if (json)
    info_print_json (model);
  else
    info_print_text (model);
  return 0;
}
