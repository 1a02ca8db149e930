/* cmd-embed.c — `cliplab-cli embed`: one L2-normalised embedding per input, in command-line order. */
#include "cli-common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Inputs are encoded this many at a time, so memory stays bounded however many are given. */
#define EMBED_BATCH_SIZE 16
/* Values shown per embedding in the readable output. */
#define EMBED_PREVIEW_VALUES 4

typedef enum {
  EMBED_INPUT_IMAGE,
  EMBED_INPUT_TEXT,
  EMBED_INPUT_TOKEN_IDS,
} EmbedInputKind;

typedef struct {
  EmbedInputKind kind;
  char          *value;   /* file name, text, or the --token-ids argument as given */
  GArray        *ids;     /* int32_t: the token ids fed, before padding (texts and token ids) */
} EmbedInput;

static void
embed_input_clear (gpointer data)
{
  EmbedInput *input = data;
  g_free (input->value);
  g_clear_pointer (&input->ids, g_array_unref);
}

static void
embed_inputs_append (GArray *inputs, EmbedInputKind kind, const char *value)
{
  EmbedInput input = { kind, g_strdup (value), NULL };
  g_array_append_val (inputs, input);
}

static gboolean
embed_add_image (const char *option_name, const char *value, gpointer inputs, GError **error)
{
  embed_inputs_append (inputs, EMBED_INPUT_IMAGE, value);
  return TRUE;
}

static gboolean
embed_add_text (const char *option_name, const char *value, gpointer inputs, GError **error)
{
  embed_inputs_append (inputs, EMBED_INPUT_TEXT, value);
  return TRUE;
}

static gboolean
embed_add_token_ids (const char *option_name, const char *value, gpointer inputs, GError **error)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (int32_t));
  g_auto (GStrv) parts = g_strsplit (value, ",", -1);

  if (parts[0] == NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--token-ids: give at least one id");
      return FALSE;
    }
  for (int i = 0; parts[i] != NULL; i++)
    {
      gint64 id;
      g_autoptr (GError) parse_error = NULL;
      if (!g_ascii_string_to_signed (g_strstrip (parts[i]), 10, 0, G_MAXINT32, &id, &parse_error))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--token-ids %s: item %d: %s", value, i + 1, parse_error->message);
          return FALSE;
        }
      int32_t id32 = (int32_t) id;
      g_array_append_val (ids, id32);
    }

  GArray *array = inputs;
  embed_inputs_append (array, EMBED_INPUT_TOKEN_IDS, value);
  g_array_index (array, EmbedInput, array->len - 1).ids = g_steal_pointer (&ids);
  return TRUE;
}

/* Token ids must fit the model: at most context_length of them, each below vocab_size. */
static gboolean
embed_check_token_ids (const EmbedInput *input, const ClipConfig *config, GError **error)
{
  if (input->ids->len > (guint) config->context_length)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                   "--token-ids %s: %u ids, but the model's context length is %d", input->value,
                   input->ids->len, config->context_length);
      return FALSE;
    }
  for (guint i = 0; i < input->ids->len; i++)
    {
      int32_t id = g_array_index (input->ids, int32_t, i);
      if (id >= config->vocab_size)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                       "--token-ids %s: id %d is outside the model's vocabulary (0-%d)",
                       input->value, id, config->vocab_size - 1);
          return FALSE;
        }
    }
  return TRUE;
}

/* Encodes the inputs of KIND, EMBED_BATCH_SIZE at a time, into their rows of EMBEDS. */
static gboolean
embed_encode_kind (ClipModel *model, GArray *inputs, EmbedInputKind kind, float *embeds,
                   GError **error)
{
  const ClipConfig *config = clip_model_get_config (model);
  const int dim = config->embed_dim;
  const int context = config->context_length;
  guint batch_index[EMBED_BATCH_SIZE];
  const char *batch_values[EMBED_BATCH_SIZE];
  g_autofree int32_t *batch_ids = g_new0 (int32_t, (size_t) EMBED_BATCH_SIZE * context);
  g_autofree float *batch_embeds = g_new (float, (size_t) EMBED_BATCH_SIZE * dim);
  int n = 0;

  for (guint i = 0; i <= inputs->len; i++)
    {
      if (i < inputs->len)
        {
          EmbedInput *input = &g_array_index (inputs, EmbedInput, i);
          if (input->kind != kind)
            continue;
          batch_index[n] = i;
          batch_values[n] = input->value;
          if (kind == EMBED_INPUT_TOKEN_IDS)
            {
              /* Framed as given (no SOT/EOT added), zero-padded to the context length. */
              int32_t *row = batch_ids + (size_t) n * context;
              memset (row, 0, sizeof (int32_t) * context);
              memcpy (row, input->ids->data, sizeof (int32_t) * input->ids->len);
            }
          n++;
          if (n < EMBED_BATCH_SIZE)
            continue;
        }
      if (n == 0)
        continue;

      gboolean ok = FALSE;
      switch (kind)
        {
        case EMBED_INPUT_IMAGE:
          ok = clip_model_encode_image_files (model, batch_values, n, FALSE, batch_embeds, NULL, error);
          break;
        case EMBED_INPUT_TEXT:
          ok = clip_model_encode_texts (model, batch_values, n, batch_embeds, NULL, error);
          break;
        case EMBED_INPUT_TOKEN_IDS:
          ok = clip_model_encode_token_ids (model, batch_ids, n, context, batch_embeds, NULL, error);
          break;
        }
      if (!ok)
        return FALSE;
      for (int j = 0; j < n; j++)
        memcpy (embeds + (size_t) batch_index[j] * dim, batch_embeds + (size_t) j * dim,
                sizeof (float) * dim);
      n = 0;
    }
  return TRUE;
}

/* The ids a text is fed as: SOT + words + EOT, truncated to the context, before padding. */
static GArray *
embed_tokenize (const ClipTokenizer *tokenizer, const char *text, int context_length)
{
  GArray *ids = g_array_sized_new (FALSE, TRUE, sizeof (int32_t), context_length);
  g_array_set_size (ids, context_length);
  int n = clip_tokenizer_encode (tokenizer, text, context_length, (int32_t *) ids->data);
  g_array_set_size (ids, n);
  return ids;
}

static const char *
embed_input_type (EmbedInputKind kind)
{
  return kind == EMBED_INPUT_IMAGE ? "image" : "text";
}

static void
embed_print_json (const EmbedInput *input, const float *embedding, int dim)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  cli_json_add_string (builder, "type", embed_input_type (input->kind));
  json_builder_set_member_name (builder, "input");
  if (input->kind == EMBED_INPUT_IMAGE)
    cli_json_add_path_value (builder, input->value);
  else
    json_builder_add_string_value (builder, input->value);
  if (input->ids != NULL)
    cli_json_add_int_array (builder, "tokens", (const int32_t *) input->ids->data, input->ids->len);
  cli_json_add_float_array (builder, "embedding", embedding, dim);
  json_builder_end_object (builder);
  cli_json_print_line (builder);
}

static void
embed_print_text (const EmbedInput *input, const float *embedding, int dim)
{
  g_autoptr (GString) line = g_string_new (embed_input_type (input->kind));
  g_string_append (line, "  ");
  switch (input->kind)
    {
    case EMBED_INPUT_IMAGE:
      {
        g_autofree char *display = cli_path_for_text (input->value);
        g_string_append (line, display);
      }
      break;
    case EMBED_INPUT_TEXT:
      g_string_append_printf (line, "\"%s\"", input->value);
      break;
    case EMBED_INPUT_TOKEN_IDS:
      g_string_append_printf (line, "ids %s", input->value);
      break;
    }

  double sum_squares = 0;
  for (int i = 0; i < dim; i++)
    sum_squares += (double) embedding[i] * embedding[i];

  g_string_append (line, "  [");
  for (int i = 0; i < MIN (dim, EMBED_PREVIEW_VALUES); i++)
    g_string_append_printf (line, "%s%+.4f", i > 0 ? ", " : "", embedding[i]);
  g_string_append_printf (line, "%s]  dim %d, norm %.6f", dim > EMBED_PREVIEW_VALUES ? ", …" : "",
                          dim, sqrt (sum_squares));
  puts (line->str);
}

int
cli_cmd_embed (int argc, char **argv)
{
  g_auto (CliModelOptions) model_options;
  cli_model_options_init (&model_options);
  gboolean json = FALSE;
  g_autoptr (GArray) inputs = g_array_new (FALSE, FALSE, sizeof (EmbedInput));
  g_array_set_clear_func (inputs, embed_input_clear);

  const GOptionEntry entries[] = {
    { "image", 'i', G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, embed_add_image,
      "Embed this image file (repeatable)", "FILE" },
    { "text", 's', 0, G_OPTION_ARG_CALLBACK, embed_add_text,
      "Embed this text (repeatable; needs a tokenizer)", "STR" },
    { "token-ids", 0, 0, G_OPTION_ARG_CALLBACK, embed_add_token_ids,
      "Embed these comma-separated token ids, framed as given and zero-padded (repeatable)",
      "1,2,3" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object per line", NULL },
    G_OPTION_ENTRY_NULL
  };

  g_autoptr (GOptionContext) context = cli_option_context_new (
    "embed", "", "Print one L2-normalised embedding per --image, --text and --token-ids, in the "
    "order given.", entries, &model_options, inputs);
  if (!cli_option_context_parse (context, "embed", &argc, &argv))
    return 1;
  if (inputs->len == 0)
    {
      cli_print_error ("embed: nothing to embed: give --image, --text or --token-ids");
      return 1;
    }

  GError *error = NULL;
  g_autoptr (ClipModel) model = cli_model_load (&model_options, &error);
  if (model == NULL)
    return cli_fail (error);
  const ClipConfig *config = clip_model_get_config (model);
  ClipTokenizer *tokenizer = clip_model_get_tokenizer (model);

  for (guint i = 0; i < inputs->len; i++)
    {
      EmbedInput *input = &g_array_index (inputs, EmbedInput, i);
      if (input->kind == EMBED_INPUT_TOKEN_IDS && !embed_check_token_ids (input, config, &error))
        return cli_fail (error);
      if (input->kind == EMBED_INPUT_TEXT)
        {
          if (tokenizer == NULL)
            {
              cli_print_error ("%s has no tokenizer: pass --tokenizer bytes|PATH, or --token-ids",
                               clip_model_get_path (model));
              return 1;
            }
          input->ids = embed_tokenize (tokenizer, input->value, config->context_length);
        }
    }

  g_autofree float *embeds = g_new (float, (size_t) inputs->len * config->embed_dim);
  const EmbedInputKind kinds[] = { EMBED_INPUT_IMAGE, EMBED_INPUT_TEXT, EMBED_INPUT_TOKEN_IDS };
  for (size_t k = 0; k < G_N_ELEMENTS (kinds); k++)
    if (!embed_encode_kind (model, inputs, kinds[k], embeds, &error))
      return cli_fail (error);

  for (guint i = 0; i < inputs->len; i++)
    {
      const EmbedInput *input = &g_array_index (inputs, EmbedInput, i);
      const float *embedding = embeds + (size_t) i * config->embed_dim;
      if (json)
        embed_print_json (input, embedding, config->embed_dim);
      else
        embed_print_text (input, embedding, config->embed_dim);
    }
  return 0;
}
