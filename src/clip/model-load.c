/* model-load.c — finding, validating and mapping every checkpoint layout; saving our own. */
#include "clip-private.h"
#include "util-json.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define CONFIG_MAX_BYTES (16 * 1024 * 1024)
#define CLIPLAB_FORMAT_VERSION "1"

static const char *const tokenizer_files[] = {
  "tokenizer.json", "vocab.json", "merges.txt", "bpe_simple_vocab_16e6.txt.gz",
};

const char *const clip_open_clip_weight_files[] = {
  "open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "model.safetensors", NULL,
};

const char *
clip_layout_name (ClipLayout layout)
{
  switch (layout)
    {
    case CLIP_LAYOUT_HF_DIR:        return "Hugging Face directory";
    case CLIP_LAYOUT_OPEN_CLIP_DIR: return "open_clip directory";
    case CLIP_LAYOUT_HF_FILE:       return "safetensors file (Hugging Face names)";
    case CLIP_LAYOUT_OPENAI_FILE:   return "safetensors file (OpenAI/open_clip names)";
    case CLIP_LAYOUT_CLIPLAB:       return "ClipLab checkpoint";
    }
  return "unknown";
}

void
clip_load_options_init (ClipLoadOptions *options)
{
  memset (options, 0, sizeof *options);
}

/* ------------------------------------------------------------------ configurations */

static gboolean
parse_activation (const char *name, ClipActivation *act, const char *label, GError **error)
{
  if (name == NULL)
    return TRUE;
  if (g_str_equal (name, "quick_gelu"))
    *act = CLIP_ACTIVATION_QUICK_GELU;
  else if (g_str_equal (name, "gelu"))
    *act = CLIP_ACTIVATION_GELU;
  else
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED,
                   "%s: activation \"%s\" is not supported (quick_gelu or gelu)", label, name);
      return FALSE;
    }
  return TRUE;
}

static const char *
activation_name (ClipActivation act)
{
  return act == CLIP_ACTIVATION_GELU ? "gelu" : "quick_gelu";
}

/* One tower of HF's config.json ("text_config" / "vision_config"). */
static gboolean
apply_hf_tower (JsonObject *obj, ClipTowerConfig *t, const char *label, GError **error)
{
  const char *act = NULL;
  double eps = t->ln_eps;
  if (!clip_json_get_int (obj, "hidden_size", G_MININT32, G_MAXINT32, &t->width, label, error)
      || !clip_json_get_int (obj, "num_hidden_layers", G_MININT32, G_MAXINT32, &t->layers, label, error)
      || !clip_json_get_int (obj, "num_attention_heads", G_MININT32, G_MAXINT32, &t->heads, label, error)
      || !clip_json_get_int (obj, "intermediate_size", G_MININT32, G_MAXINT32, &t->mlp_width, label, error)
      || !clip_json_get_double (obj, "layer_norm_eps", &eps, label, error)
      || !clip_json_get_string (obj, "hidden_act", &act, label, error)
      || !parse_activation (act, &t->activation, label, error))
    return FALSE;
  t->ln_eps = (float) eps;
  return TRUE;
}

static gboolean
apply_hf_config (JsonObject *root, ClipConfig *c, const char *label, GError **error)
{
  JsonObject *text, *vision, *legacy;
  if (!clip_json_get_object (root, "text_config", &text, label, error)
      || !clip_json_get_object (root, "vision_config", &vision, label, error))
    return FALSE;
  /* Legacy *_dict keys override when present and not null. */
  if (!clip_json_get_object (root, "text_config_dict", &legacy, label, error))
    return FALSE;
  text = legacy != NULL ? legacy : text;
  if (!clip_json_get_object (root, "vision_config_dict", &legacy, label, error))
    return FALSE;
  vision = legacy != NULL ? legacy : vision;

  int eos = c->eot_id;
  if (!clip_json_get_int (root, "projection_dim", G_MININT32, G_MAXINT32, &c->embed_dim, label, error)
      || !apply_hf_tower (text, &c->text, label, error)
      || !apply_hf_tower (vision, &c->vision, label, error)
      || !clip_json_get_int (text, "max_position_embeddings", G_MININT32, G_MAXINT32, &c->context_length, label, error)
      || !clip_json_get_int (text, "vocab_size", G_MININT32, G_MAXINT32, &c->vocab_size, label, error)
      || !clip_json_get_int (text, "eos_token_id", G_MININT32, G_MAXINT32, &eos, label, error)
      || !clip_json_get_int (vision, "image_size", G_MININT32, G_MAXINT32, &c->image_size, label, error)
      || !clip_json_get_int (vision, "patch_size", G_MININT32, G_MAXINT32, &c->patch_size, label, error))
    return FALSE;
  int channels = 3;
  if (!clip_json_get_int (vision, "num_channels", 3, 3, &channels, label, error))
    return FALSE;
  /* Hub configs from 2021 carry the placeholder eos_token_id 2; transformers then pools at the
   * largest id, as OpenAI does. */
  c->eot_id = eos == 2 ? -1 : eos;
  return TRUE;
}

/* OBJ's KEY, when present, as three finite float-sized numbers (positive when POSITIVE) into OUT. */
static gboolean
read_three_numbers (JsonObject *obj, const char *key, gboolean positive, float out[3], const char *label,
                    GError **error)
{
  JsonNode *node = json_object_get_member (obj, key);
  if (node == NULL)
    return TRUE;
  JsonArray *arr = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  double v[3];
  for (int k = 0; arr != NULL && json_array_get_length (arr) == 3 && k < 3; k++)
    {
      JsonNode *e = json_array_get_element (arr, k);
      GType type = JSON_NODE_HOLDS_VALUE (e) ? json_node_get_value_type (e) : G_TYPE_INVALID;
      v[k] = type == G_TYPE_DOUBLE || type == G_TYPE_INT64 ? json_node_get_double (e) : NAN;
      if (!(fabs (v[k]) <= FLT_MAX) || (positive && !(v[k] > 0)))
        arr = NULL;
    }
  if (arr == NULL || json_array_get_length (arr) != 3)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: \"%s\" must be an array of 3 %snumbers", label, key,
                   positive ? "positive " : "");
      return FALSE;
    }
  for (int k = 0; k < 3; k++)
    out[k] = (float) v[k];
  return TRUE;
}

/* WIDTH × RATIO as an MLP width; one too large to be an int is refused here, the other bad sizes
 * by clip_config_validate. */
static gboolean
mlp_width_from_ratio (int width, double ratio, int *mlp_width, const char *label, GError **error)
{
  double v = (double) width * ratio;
  if (!(fabs (v) <= CLIP_MAX_DIM_SIZE))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: width %d × mlp_ratio %g exceeds the limit of %d",
                   label, width, ratio, CLIP_MAX_DIM_SIZE);
      return FALSE;
    }
  *mlp_width = (int) v;
  return TRUE;
}

static gboolean
apply_open_clip_config (JsonObject *root, ClipConfig *c, ClipPreprocess *pre, const char *label, GError **error)
{
  JsonObject *model_cfg = root, *vision, *text, *pre_cfg = NULL;
  if (json_object_has_member (root, "model_cfg")
      && (!clip_json_get_object (root, "model_cfg", &model_cfg, label, error)
          || !clip_json_get_object (root, "preprocess_cfg", &pre_cfg, label, error)))
    return FALSE;
  if (!clip_json_get_object (model_cfg, "vision_cfg", &vision, label, error)
      || !clip_json_get_object (model_cfg, "text_cfg", &text, label, error))
    return FALSE;
  gboolean quick = c->vision.activation == CLIP_ACTIVATION_QUICK_GELU;
  int head_width = 64;
  double mlp_ratio = 4.0, text_mlp_ratio = 4.0;
  int vision_heads = 0, text_heads = 0;
  if (!clip_json_get_int (model_cfg, "embed_dim", G_MININT32, G_MAXINT32, &c->embed_dim, label, error)
      || !clip_json_get_bool (model_cfg, "quick_gelu", &quick, label, error)
      || !clip_json_get_int (vision, "image_size", G_MININT32, G_MAXINT32, &c->image_size, label, error)
      || !clip_json_get_int (vision, "layers", G_MININT32, G_MAXINT32, &c->vision.layers, label, error)
      || !clip_json_get_int (vision, "width", G_MININT32, G_MAXINT32, &c->vision.width, label, error)
      || !clip_json_get_int (vision, "patch_size", G_MININT32, G_MAXINT32, &c->patch_size, label, error)
      || !clip_json_get_int (vision, "head_width", 1, G_MAXINT32, &head_width, label, error)
      || !clip_json_get_double (vision, "mlp_ratio", &mlp_ratio, label, error)
      || !clip_json_get_int (vision, "heads", G_MININT32, G_MAXINT32, &vision_heads, label, error)
      || !clip_json_get_int (text, "context_length", G_MININT32, G_MAXINT32, &c->context_length, label, error)
      || !clip_json_get_int (text, "vocab_size", G_MININT32, G_MAXINT32, &c->vocab_size, label, error)
      || !clip_json_get_int (text, "width", G_MININT32, G_MAXINT32, &c->text.width, label, error)
      || !clip_json_get_int (text, "heads", G_MININT32, G_MAXINT32, &text_heads, label, error)
      || !clip_json_get_int (text, "layers", G_MININT32, G_MAXINT32, &c->text.layers, label, error)
      || !clip_json_get_double (text, "mlp_ratio", &text_mlp_ratio, label, error))
    return FALSE;
  c->vision.heads = vision_heads > 0 ? vision_heads : c->vision.width / head_width;
  c->text.heads = text_heads > 0 ? text_heads : c->text.heads;
  if (!mlp_width_from_ratio (c->vision.width, mlp_ratio, &c->vision.mlp_width, label, error)
      || !mlp_width_from_ratio (c->text.width, text_mlp_ratio, &c->text.mlp_width, label, error))
    return FALSE;
  c->vision.activation = c->text.activation = quick ? CLIP_ACTIVATION_QUICK_GELU : CLIP_ACTIVATION_GELU;
  c->eot_id = -1;

  if (pre_cfg != NULL && (!read_three_numbers (pre_cfg, "mean", FALSE, pre->mean, label, error)
                          || !read_three_numbers (pre_cfg, "std", TRUE, pre->std, label, error)))
    return FALSE;
  return TRUE;
}

/* HF's preprocessor_config.json: mean, std, and sizes that must agree with the model's input. */
static gboolean
apply_preprocessor_config (const char *path, ClipPreprocess *pre, int image_size, GError **error)
{
  JsonObject *obj;
  g_autoptr (JsonNode) root = clip_json_parse_object_file (path, CONFIG_MAX_BYTES, &obj, error);
  if (root == NULL)
    return FALSE;
  const char *keys[2] = { "image_mean", "image_std" };
  float *dst[2] = { pre->mean, pre->std };
  for (int i = 0; i < 2; i++)
    {
      JsonNode *node = json_object_get_member (obj, keys[i]);
      if (node == NULL)
        continue;
      JsonArray *arr = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
      if (arr == NULL || json_array_get_length (arr) != 3)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: \"%s\" must be an array of 3 numbers", path, keys[i]);
          return FALSE;
        }
      for (int k = 0; k < 3; k++)
        {
          JsonNode *e = json_array_get_element (arr, k);
          GType type = JSON_NODE_HOLDS_VALUE (e) ? json_node_get_value_type (e) : G_TYPE_INVALID;
          double v = (type == G_TYPE_DOUBLE || type == G_TYPE_INT64) ? json_node_get_double (e) : NAN;
          if (!(fabs (v) <= FLT_MAX) || (i == 1 && v <= 0))
            {
              g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: \"%s\"[%d] is not a valid number", path, keys[i], k);
              return FALSE;
            }
          dst[i][k] = (float) v;
        }
    }
  /* "size" is an int or {"shortest_edge": n}; "crop_size" an int or {"height", "width"}. */
  int shortest = image_size, crop_h = image_size, crop_w = image_size;
  JsonObject *size_obj = NULL, *crop_obj = NULL;
  JsonNode *size = json_object_get_member (obj, "size");
  JsonNode *crop = json_object_get_member (obj, "crop_size");
  if (size != NULL && JSON_NODE_HOLDS_OBJECT (size))
    size_obj = json_node_get_object (size);
  else if (!clip_json_get_int (obj, "size", 1, 65536, &shortest, path, error))
    return FALSE;
  if (crop != NULL && JSON_NODE_HOLDS_OBJECT (crop))
    crop_obj = json_node_get_object (crop);
  else if (!clip_json_get_int (obj, "crop_size", 1, 65536, &crop_h, path, error))
    return FALSE;
  else
    crop_w = crop_h;
  if (!clip_json_get_int (size_obj, "shortest_edge", 1, 65536, &shortest, path, error)
      || !clip_json_get_int (crop_obj, "height", 1, 65536, &crop_h, path, error)
      || !clip_json_get_int (crop_obj, "width", 1, 65536, &crop_w, path, error))
    return FALSE;
  if (shortest != image_size || crop_h != image_size || crop_w != image_size)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED,
                   "%s: resizing to %d and cropping %d×%d differs from the model's %d×%d input; only "
                   "resize-to-input-size then centre crop is supported", path, shortest, crop_w, crop_h,
                   image_size, image_size);
      return FALSE;
    }
  return TRUE;
}

/* A config file: open_clip's (model_cfg, or a bare vision_cfg/text_cfg model config) or HF's. */
static gboolean
apply_config_file (const char *path, ClipConfig *c, ClipPreprocess *pre, GError **error)
{
  JsonObject *obj;
  g_autoptr (JsonNode) root = clip_json_parse_object_file (path, CONFIG_MAX_BYTES, &obj, error);
  if (root == NULL)
    return FALSE;
  if (json_object_has_member (obj, "model_cfg") || json_object_has_member (obj, "vision_cfg"))
    return apply_open_clip_config (obj, c, pre, path, error);
  return apply_hf_config (obj, c, path, error);
}

char *
clip_config_to_json (const ClipConfig *c, const ClipPreprocess *pre)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  const struct { const char *name; const ClipTowerConfig *t; } towers[] = {
    { "vision", &c->vision }, { "text", &c->text },
  };
  for (int i = 0; i < 2; i++)
    {
      json_builder_set_member_name (b, towers[i].name);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "width");
      json_builder_add_int_value (b, towers[i].t->width);
      json_builder_set_member_name (b, "layers");
      json_builder_add_int_value (b, towers[i].t->layers);
      json_builder_set_member_name (b, "heads");
      json_builder_add_int_value (b, towers[i].t->heads);
      json_builder_set_member_name (b, "mlp_width");
      json_builder_add_int_value (b, towers[i].t->mlp_width);
      json_builder_set_member_name (b, "ln_eps");
      json_builder_add_double_value (b, towers[i].t->ln_eps);
      json_builder_set_member_name (b, "activation");
      json_builder_add_string_value (b, activation_name (towers[i].t->activation));
      json_builder_end_object (b);
    }
  const struct { const char *name; int value; } ints[] = {
    { "image_size", c->image_size }, { "patch_size", c->patch_size },
    { "context_length", c->context_length }, { "vocab_size", c->vocab_size },
    { "embed_dim", c->embed_dim }, { "eot_id", c->eot_id },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (ints); i++)
    {
      json_builder_set_member_name (b, ints[i].name);
      json_builder_add_int_value (b, ints[i].value);
    }
  const struct { const char *name; const float *v; } vecs[] = { { "mean", pre->mean }, { "std", pre->std } };
  for (int i = 0; i < 2; i++)
    {
      json_builder_set_member_name (b, vecs[i].name);
      json_builder_begin_array (b);
      for (int k = 0; k < 3; k++)
        json_builder_add_double_value (b, vecs[i].v[k]);
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

gboolean
clip_config_from_json (const char *json, ClipConfig *c, ClipPreprocess *pre, const char *label, GError **error)
{
  g_autoptr (JsonNode) root = clip_json_parse (json, strlen (json), label, TRUE, error);
  if (root == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: the model configuration is not a JSON object", label);
      return FALSE;
    }
  JsonObject *obj = json_node_get_object (root);
  const struct { const char *name; ClipTowerConfig *t; } towers[] = {
    { "vision", &c->vision }, { "text", &c->text },
  };
  for (int i = 0; i < 2; i++)
    {
      JsonObject *t;
      const char *act = NULL;
      double eps = 0;
      if (!clip_json_get_object (obj, towers[i].name, &t, label, error))
        return FALSE;
      if (t == NULL)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: the configuration has no \"%s\" tower", label,
                       towers[i].name);
          return FALSE;
        }
      if (!clip_json_get_int (t, "width", G_MININT32, G_MAXINT32, &towers[i].t->width, label, error)
          || !clip_json_get_int (t, "layers", G_MININT32, G_MAXINT32, &towers[i].t->layers, label, error)
          || !clip_json_get_int (t, "heads", G_MININT32, G_MAXINT32, &towers[i].t->heads, label, error)
          || !clip_json_get_int (t, "mlp_width", G_MININT32, G_MAXINT32, &towers[i].t->mlp_width, label, error)
          || !clip_json_get_double (t, "ln_eps", &eps, label, error)
          || !clip_json_get_string (t, "activation", &act, label, error)
          || !parse_activation (act, &towers[i].t->activation, label, error))
        return FALSE;
      towers[i].t->ln_eps = (float) eps;
    }
  if (!clip_json_get_int (obj, "image_size", G_MININT32, G_MAXINT32, &c->image_size, label, error)
      || !clip_json_get_int (obj, "patch_size", G_MININT32, G_MAXINT32, &c->patch_size, label, error)
      || !clip_json_get_int (obj, "context_length", G_MININT32, G_MAXINT32, &c->context_length, label, error)
      || !clip_json_get_int (obj, "vocab_size", G_MININT32, G_MAXINT32, &c->vocab_size, label, error)
      || !clip_json_get_int (obj, "embed_dim", G_MININT32, G_MAXINT32, &c->embed_dim, label, error)
      || !clip_json_get_int (obj, "eot_id", -1, G_MAXINT32, &c->eot_id, label, error))
    return FALSE;
  const char *keys[2] = { "mean", "std" };
  float *dst[2] = { pre->mean, pre->std };
  for (int i = 0; i < 2; i++)
    {
      if (!json_object_has_member (obj, keys[i]))
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: \"%s\" must be an array of 3 numbers", label, keys[i]);
          return FALSE;
        }
      if (!read_three_numbers (obj, keys[i], i == 1, dst[i], label, error))
        return FALSE;
    }
  pre->image_size = c->image_size;
  return TRUE;
}

/* ------------------------------------------------------------------ architecture from shapes */

typedef enum { NAMES_HF, NAMES_OPENAI } Naming;

static const ClipStTensor *
find_named (const ClipSafetensors *st, const char *name)
{
  return clip_safetensors_find (st, name);
}

static int
count_layers (const ClipSafetensors *st, const char *prefix)
{
  int layers = 0;
  for (int i = 0; i < clip_safetensors_n_tensors (st); i++)
    {
      const char *name = clip_safetensors_tensor (st, i)->name;
      if (!g_str_has_prefix (name, prefix))
        continue;
      char *end;
      gint64 index = g_ascii_strtoll (name + strlen (prefix), &end, 10);
      if (end != name + strlen (prefix) && *end == '.' && index >= 0 && index < 1024)
        layers = MAX (layers, (int) index + 1);
    }
  return layers;
}

static gboolean
require_rank (const ClipStTensor *t, const char *name, int rank, const char *label, GError **error)
{
  if (t == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: tensor '%s' is missing", label, name);
      return FALSE;
    }
  if (t->n_dims != rank)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_SHAPE, "%s: tensor '%s' has %d dimensions, expected %d",
                   label, name, t->n_dims, rank);
      return FALSE;
    }
  for (int i = 0; i < rank; i++)
    if (t->shape[i] <= 0 || t->shape[i] > CLIP_MAX_DIM_SIZE)
      {
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_SHAPE, "%s: tensor '%s' has dimension %d of size %" G_GINT64_FORMAT,
                     label, name, i, t->shape[i]);
        return FALSE;
      }
  return TRUE;
}

/* OpenAI's build_model reads the architecture off the state dict; so do we, for either naming.
 * Heads are not in the shapes: width / 64 (every published CLIP), unless configured. */
static gboolean
infer_config (const ClipSafetensors *st, Naming naming, ClipConfig *c, const char *label, GError **error)
{
  gboolean hf = naming == NAMES_HF;
  const char *n_patch = hf ? "vision_model.embeddings.patch_embedding.weight" : "visual.conv1.weight";
  const char *n_vpos = hf ? "vision_model.embeddings.position_embedding.weight" : "visual.positional_embedding";
  const char *n_tok = hf ? "text_model.embeddings.token_embedding.weight" : "token_embedding.weight";
  const char *n_tpos = hf ? "text_model.embeddings.position_embedding.weight" : "positional_embedding";
  const char *n_lnf = hf ? "text_model.final_layer_norm.weight" : "ln_final.weight";
  const char *n_tproj = hf ? "text_projection.weight" : "text_projection";
  const char *vprefix = hf ? CLIP_HF_VISION_LAYER_PREFIX : CLIP_OPENAI_VISION_LAYER_PREFIX;
  const char *tprefix = hf ? CLIP_HF_TEXT_LAYER_PREFIX : CLIP_OPENAI_TEXT_LAYER_PREFIX;
  g_autofree char *n_vfc = g_strconcat (vprefix, hf ? "0.mlp.fc1.weight" : "0.mlp.c_fc.weight", NULL);
  g_autofree char *n_tfc = g_strconcat (tprefix, hf ? "0.mlp.fc1.weight" : "0.mlp.c_fc.weight", NULL);

  const ClipStTensor *patch = find_named (st, n_patch), *vpos = find_named (st, n_vpos),
                     *tok = find_named (st, n_tok), *tpos = find_named (st, n_tpos),
                     *lnf = find_named (st, n_lnf), *tproj = find_named (st, n_tproj),
                     *vfc = find_named (st, n_vfc), *tfc = find_named (st, n_tfc);
  if (!require_rank (patch, n_patch, 4, label, error) || !require_rank (vpos, n_vpos, 2, label, error)
      || !require_rank (tok, n_tok, 2, label, error) || !require_rank (tpos, n_tpos, 2, label, error)
      || !require_rank (lnf, n_lnf, 1, label, error) || !require_rank (tproj, n_tproj, 2, label, error)
      || !require_rank (vfc, n_vfc, 2, label, error) || !require_rank (tfc, n_tfc, 2, label, error))
    return FALSE;

  c->vision.width = (int) patch->shape[0];
  c->patch_size = (int) patch->shape[3];
  int grid = (int) lround (sqrt ((double) (vpos->shape[0] - 1)));
  c->image_size = c->patch_size * grid;
  c->vision.layers = count_layers (st, vprefix);
  c->vision.mlp_width = (int) vfc->shape[0];
  c->text.width = (int) lnf->shape[0];
  c->text.layers = count_layers (st, tprefix);
  c->text.mlp_width = (int) tfc->shape[0];
  c->context_length = (int) tpos->shape[0];
  c->vocab_size = (int) tok->shape[0];
  c->embed_dim = (int) (hf ? tproj->shape[0] : tproj->shape[1]);
  c->vision.heads = MAX (1, c->vision.width / 64);
  c->text.heads = MAX (1, c->text.width / 64);
  c->vision.ln_eps = c->text.ln_eps = 1e-5f;
  c->vision.activation = c->text.activation = CLIP_ACTIVATION_QUICK_GELU;
  c->eot_id = -1;
  return TRUE;
}

/* ------------------------------------------------------------------ mapping the weights */

static gboolean
dtype_is_float (ClipDType dtype)
{
  return dtype == CLIP_DTYPE_F32 || dtype == CLIP_DTYPE_F16 || dtype == CLIP_DTYPE_BF16;
}

static char *
format_shape (const int64_t *shape, int n_dims)
{
  GString *s = g_string_new ("[");
  for (int i = 0; i < n_dims; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* Tensors a checkpoint may hold that the model does not use; a trainer checkpoint adds the
 * optimiser's moments. */
static gboolean
is_ignorable (const ClipSafetensors *st, const char *name)
{
  if (g_str_has_prefix (name, CLIP_TRAINER_TENSOR_PREFIX)
      && clip_safetensors_metadata (st, CLIP_TRAINER_METADATA_KEY) != NULL)
    return TRUE;
  return g_str_has_suffix (name, "position_ids") || g_str_equal (name, "input_resolution")
         || g_str_equal (name, "context_length") || g_str_equal (name, "vocab_size");
}

typedef struct {
  const ClipStTensor *src;
  int64_t offset;        /* elements into src: the Q/K/V slice */
  gboolean transpose;
} TensorSource;

/* Whether a tensor's data can be used where it lies in the map: F32, aligned, not transposed. */
static gboolean
source_in_place (const TensorSource *source)
{
  const char *data = (const char *) source->src->data + source->offset * sizeof (float);
  return source->src->dtype == CLIP_DTYPE_F32 && !source->transpose && ((uintptr_t) data % sizeof (float)) == 0;
}

/* Finds the file's tensor for INFO and checks its dtype and shape (stacked Q;K;V, [in, out]
 * projections and logit_scale [] or [1] under OpenAI's names). */
static gboolean
find_source (const ClipSafetensors *st, const ClipTensorInfo *info, Naming naming, TensorSource *source,
             GError **error)
{
  const char *label = clip_safetensors_path (st);
  gboolean openai = naming == NAMES_OPENAI;
  const char *name = openai ? info->openai_name : info->hf_name;
  const ClipStTensor *t = clip_safetensors_find (st, name);
  if (t == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: tensor '%s' is missing", label, name);
      return FALSE;
    }
  if (!dtype_is_float (t->dtype))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED, "%s: tensor '%s' has dtype %s; only F32, F16 "
                   "and BF16 weights are supported", t->file, name, clip_dtype_name (t->dtype));
      return FALSE;
    }
  int64_t expect[4];
  int expect_dims = info->n_dims;
  memcpy (expect, info->shape, sizeof expect);
  if (openai && info->qkv_slice >= 0)
    expect[0] *= 3;
  if (openai && info->openai_transposed)
    {
      expect[0] = info->shape[1];
      expect[1] = info->shape[0];
    }
  gboolean shape_ok = t->n_dims == expect_dims && memcmp (t->shape, expect, sizeof (int64_t) * expect_dims) == 0;
  if (info->n_dims == 0 && t->n_dims == 1 && t->shape[0] == 1)
    shape_ok = TRUE;
  if (!shape_ok)
    {
      g_autofree char *got = format_shape (t->shape, t->n_dims);
      g_autofree char *want = format_shape (expect, expect_dims);
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_SHAPE, "%s: tensor '%s' has shape %s, expected %s",
                   t->file, name, got, want);
      return FALSE;
    }
  *source = (TensorSource) {
    .src = t,
    .offset = info->qkv_slice >= 0 && openai ? info->qkv_slice * info->n_elements : 0,
    .transpose = openai && info->openai_transposed,
  };
  return TRUE;
}

/* Every tensor of the file is one the model uses (USED) or one it may ignore. */
static gboolean
check_unused_tensors (const ClipSafetensors *st, GHashTable *used, GError **error)
{
  for (int i = 0; i < clip_safetensors_n_tensors (st); i++)
    {
      const ClipStTensor *t = clip_safetensors_tensor (st, i);
      if (!g_hash_table_contains (used, t->name) && !is_ignorable (st, t->name))
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                       "%s: unexpected tensor '%s' (not part of a CLIP ViT model with this configuration)",
                       t->file, t->name);
          return FALSE;
        }
    }
  return TRUE;
}

/* Points each table slot at its data: in place in the map, or converted (and transposed) into the
 * model's owned block of OWNED_FLOATS. */
static gboolean
fill_slots (ClipModel *model, const ClipTensorInfo *table, const TensorSource *sources, int n,
            int64_t owned_floats, const char *label, GError **error)
{
  model->owned = owned_floats > 0 ? g_try_new (float, owned_floats) : NULL;
  if (owned_floats > 0 && model->owned == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: cannot allocate %" G_GINT64_FORMAT " MB for the weights",
                   label, owned_floats * 4 / 1000000);
      return FALSE;
    }
  float *next = model->owned;
  model->converted = g_new0 (struct ClipConverted, n);
  for (int i = 0; i < n; i++)
    {
      const TensorSource *s = &sources[i];
      const ClipTensorInfo *info = &table[i];
      const char *data = (const char *) s->src->data + s->offset * clip_dtype_size (s->src->dtype);
      if (source_in_place (s))
        {
          *info->slot = (float *) data;
          continue;
        }
      *info->slot = next;
      struct ClipConverted *c = &model->converted[model->n_converted++];
      *c = (struct ClipConverted) { next, data, s->src->dtype, info->n_elements, info->shape[1], info->shape[0],
                                    s->transpose };
      clip_converted_fill (c, data);
      /* The file's copy is read into private memory: once converted, its pages are given back. */
      clip_safetensors_release (model->file, data, (size_t) info->n_elements * clip_dtype_size (s->src->dtype));
      next += info->n_elements;
    }
  return TRUE;
}

void
clip_converted_fill (const struct ClipConverted *c, const void *src)
{
  clip_convert_to_f32 (c->dtype, src, c->n, c->dest);
  if (c->transpose)
    {
      /* The file holds [in, out]; the canonical layout is [out, in]. */
      g_autofree float *tmp = g_memdup2 (c->dest, sizeof (float) * c->n);
      for (int64_t r = 0; r < c->rows; r++)
        for (int64_t col = 0; col < c->cols; col++)
          c->dest[col * c->rows + r] = tmp[r * c->cols + col];
    }
}
/* Finds, checks and points every table tensor at its data: F32 in place in the map, anything that
 * needs converting or transposing into one owned block. */
static gboolean
map_weights (ClipModel *model, const ClipSafetensors *st, Naming naming, GError **error)
{
  int n;
  clip_weights_init (&model->w, &model->config);
  ClipTensorInfo *table = clip_tensor_table_new (&model->config, &model->w, &n);
  g_autofree TensorSource *sources = g_new0 (TensorSource, n);
  g_autoptr (GHashTable) used = g_hash_table_new (g_str_hash, g_str_equal);
  gboolean ok = TRUE;
  int64_t owned_floats = 0;
  for (int i = 0; i < n && ok; i++)
    {
      ok = find_source (st, &table[i], naming, &sources[i], error);
      if (ok)
        g_hash_table_add (used, (gpointer) sources[i].src->name);
      if (ok && !source_in_place (&sources[i]))
        owned_floats += table[i].n_elements;
    }
  ok = ok && check_unused_tensors (st, used, error)
       && fill_slots (model, table, sources, n, owned_floats, clip_safetensors_path (st), error);
  if (ok)
    model->dtype = sources[0].src->dtype;
  clip_tensor_table_free (table, n);
  return ok;
}

/* ------------------------------------------------------------------ loading */

static gboolean
file_exists (const char *dir, const char *name, char **path)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  if (!g_file_test (p, G_FILE_TEST_IS_REGULAR))
    return FALSE;
  if (path != NULL)
    *path = g_steal_pointer (&p);
  return TRUE;
}

static gboolean
dir_has_tokenizer (const char *dir)
{
  for (size_t i = 0; i < G_N_ELEMENTS (tokenizer_files); i++)
    if (file_exists (dir, tokenizer_files[i], NULL))
      return TRUE;
  return FALSE;
}

static gboolean
load_tokenizer (ClipModel *model, const char *dir, const char *metadata, const ClipLoadOptions *options,
                GError **error)
{
  if (options->tokenizer_path != NULL)
    model->tokenizer = clip_tokenizer_load (options->tokenizer_path, error);
  else if (metadata != NULL)
    {
      model->tokenizer = clip_tokenizer_deserialize (metadata, error);
      if (model->tokenizer == NULL)
        g_prefix_error (error, "%s: embedded tokenizer: ", model->path);
    }
  else if (dir != NULL && dir_has_tokenizer (dir))
    model->tokenizer = clip_tokenizer_load (dir, error);
  else
    return TRUE;
  if (model->tokenizer == NULL)
    return FALSE;
  if (clip_tokenizer_get_vocab_size (model->tokenizer) > model->config.vocab_size)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_SHAPE,
                   "%s: the tokenizer (%s) produces ids up to %d but the model's vocabulary has %d",
                   model->path, clip_tokenizer_describe (model->tokenizer),
                   clip_tokenizer_get_vocab_size (model->tokenizer) - 1, model->config.vocab_size);
      return FALSE;
    }
  /* A model without a configured EOT id pools at the largest id, which is CLIP's EOT; a tokenizer
   * whose EOT is not its largest id needs its own. */
  if (model->config.eot_id < 0 && clip_tokenizer_get_eot_id (model->tokenizer)
                                   != clip_tokenizer_get_vocab_size (model->tokenizer) - 1)
    model->config.eot_id = clip_tokenizer_get_eot_id (model->tokenizer);
  return TRUE;
}

gboolean
clip_model_dir_files (const char *dir, ClipLayout *layout, char **config, char **weights)
{
  g_autofree char *config_path = NULL, *weights_path = NULL;
  ClipLayout found = CLIP_LAYOUT_HF_DIR;
  if (file_exists (dir, "open_clip_config.json", &config_path))
    {
      found = CLIP_LAYOUT_OPEN_CLIP_DIR;
      for (size_t i = 0; clip_open_clip_weight_files[i] != NULL && weights_path == NULL; i++)
        file_exists (dir, clip_open_clip_weight_files[i], &weights_path);
    }
  else if (file_exists (dir, "config.json", &config_path))
    {
      found = CLIP_LAYOUT_HF_DIR;
      if (!file_exists (dir, "model.safetensors", &weights_path))
        file_exists (dir, CLIP_SHARDED_INDEX_NAME, &weights_path);
    }
  if (config_path == NULL || weights_path == NULL)
    return FALSE;
  if (layout != NULL)
    *layout = found;
  if (config != NULL)
    *config = g_steal_pointer (&config_path);
  if (weights != NULL)
    *weights = g_steal_pointer (&weights_path);
  return TRUE;
}

static Naming
detect_naming (const ClipSafetensors *st)
{
  return clip_safetensors_find (st, "visual.conv1.weight") != NULL
             || clip_safetensors_find (st, "token_embedding.weight") != NULL
           ? NAMES_OPENAI : NAMES_HF;
}

/* Which files make up the model at PATH: a directory gives the layout, the weights file, its
 * configuration and itself (*DIR); a file is the weights alone. */
static gboolean
locate_files (ClipModel *model, const char *path, char **weights, char **config, char **dir, GError **error)
{
  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: no such file or directory", path);
          return FALSE;
        }
      *weights = g_strdup (path);
      return TRUE;
    }
  *dir = g_strdup (path);
  if (clip_model_dir_files (path, &model->layout, config, weights))
    return TRUE;
  gboolean pickle = file_exists (path, "pytorch_model.bin", NULL)
                    || file_exists (path, "open_clip_pytorch_model.bin", NULL);
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING,
               "%s: not a model directory: expected config.json + model.safetensors or its shards' "
               CLIP_SHARDED_INDEX_NAME " (Hugging Face) or "
               "open_clip_config.json + open_clip_model.safetensors (open_clip)%s", path,
               pickle ? "; PyTorch .bin files are not read: convert them to safetensors" : "");
  return FALSE;
}

/* Our own checkpoint (FORMAT is its cliplab.format): the architecture from its metadata. */
static gboolean
configure_cliplab (ClipModel *model, const ClipSafetensors *st, const char *format, GError **error)
{
  const char *label = clip_safetensors_path (st);
  if (!g_str_equal (format, CLIPLAB_FORMAT_VERSION))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED, "%s: ClipLab checkpoint format %s is newer than "
                   "this program reads (%s)", label, format, CLIPLAB_FORMAT_VERSION);
      return FALSE;
    }
  const char *json = clip_safetensors_metadata (st, "cliplab.config");
  if (json == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: metadata \"cliplab.config\" is missing", label);
      return FALSE;
    }
  model->layout = CLIP_LAYOUT_CLIPLAB;
  return clip_config_from_json (json, &model->config, &model->preprocess, label, error);
}

/* The architecture: from our checkpoint's metadata, else read off the tensor shapes and refined by
 * the directory's CONFIG or the caller's config file.  *NAMING and *CONFIG_LABEL (where the
 * architecture came from, for errors) are set. */
static gboolean
configure (ClipModel *model, const ClipSafetensors *st, const char *config, const ClipLoadOptions *options,
           Naming *naming, const char **config_label, GError **error)
{
  const char *label = clip_safetensors_path (st);
  const char *format = clip_safetensors_metadata (st, "cliplab.format");
  *naming = detect_naming (st);
  *config_label = label;
  if (format != NULL)
    {
      *naming = NAMES_HF;
      return configure_cliplab (model, st, format, error);
    }
  if (config != NULL)
    {
      *config_label = config;
      return infer_config (st, *naming, &model->config, label, error)
             && apply_config_file (config, &model->config, &model->preprocess, error);
    }
  model->layout = *naming == NAMES_OPENAI ? CLIP_LAYOUT_OPENAI_FILE : CLIP_LAYOUT_HF_FILE;
  if (!infer_config (st, *naming, &model->config, label, error))
    return FALSE;
  if (options->config_path == NULL)
    return TRUE;
  *config_label = options->config_path;
  return apply_config_file (options->config_path, &model->config, &model->preprocess, error);
}

ClipModel *
clip_model_load (const char *path, const ClipLoadOptions *options, GError **error)
{
  ClipLoadOptions defaults;
  if (options == NULL)
    {
      clip_load_options_init (&defaults);
      options = &defaults;
    }
  /* A Hugging Face model id that is not a path: its snapshot in the hub cache (hub-cache.c). */
  g_autofree char *snapshot = NULL, *repo_id = NULL, *revision = NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS) && clip_hub_parse_model_ref (path, &repo_id, &revision))
    {
      snapshot = clip_hub_resolve (repo_id, revision, NULL, error);
      if (snapshot == NULL)
        return NULL;
      path = snapshot;
    }
  g_autoptr (ClipModel) model = g_new0 (ClipModel, 1);
  model->path = g_strdup (path);
  clip_config_init_vit_b32 (&model->config);
  clip_preprocess_init_default (&model->preprocess);

  g_autofree char *weights = NULL, *config = NULL, *dir = NULL;
  if (!locate_files (model, path, &weights, &config, &dir, error))
    return NULL;
  model->file = g_str_has_suffix (weights, ".index.json") ? clip_safetensors_open_sharded (weights, error)
                                                          : clip_safetensors_open (weights, error);
  if (model->file == NULL)
    return NULL;
  const ClipSafetensors *st = model->file;
  Naming naming;
  const char *config_label;
  if (!configure (model, st, config, options, &naming, &config_label, error))
    return NULL;
  if (options->vision_heads > 0)
    model->config.vision.heads = options->vision_heads;
  if (options->text_heads > 0)
    model->config.text.heads = options->text_heads;
  model->preprocess.image_size = model->config.image_size;

  if (!clip_config_validate (&model->config, config_label, error))
    return NULL;
  /* AUTO may load the model twice more to check int8 on it, so only once it looks loadable. */
  model->precision = options->precision;
  if (options->precision == CLIP_PRECISION_AUTO
      && !clip_auto_precision_for_model (path, options, weights, config, &model->precision, error))
    return NULL;
  g_autofree char *pre = NULL;
  if (model->layout == CLIP_LAYOUT_HF_DIR && file_exists (dir, "preprocessor_config.json", &pre)
      && !apply_preprocessor_config (pre, &model->preprocess, model->config.image_size, error))
    return NULL;
  const char *embedded_tokenizer = model->layout == CLIP_LAYOUT_CLIPLAB
                                     ? clip_safetensors_metadata (st, "cliplab.tokenizer") : NULL;
  if (!map_weights (model, st, naming, error) || !load_tokenizer (model, dir, embedded_tokenizer, options, error))
    return NULL;
  return g_steal_pointer (&model);
}

/* ------------------------------------------------------------------ saving */

void
clip_model_add_to_writer (const ClipModel *model, ClipStWriter *writer, ClipDType dtype, GPtrArray *keep)
{
  clip_model_restore_originals ((ClipModel *) model);
  ClipWeights w = model->w;  /* the table only reads the pointers */
  int n;
  ClipTensorInfo *table = clip_tensor_table_new (&model->config, &w, &n);
  for (int i = 0; i < n; i++)
    {
      const float *data = *table[i].slot;
      if (dtype != CLIP_DTYPE_F32)
        {
          void *converted = g_malloc (clip_dtype_size (dtype) * table[i].n_elements);
          clip_convert_from_f32 (dtype, data, table[i].n_elements, converted);
          g_ptr_array_add (keep, converted);
          data = converted;
        }
      clip_st_writer_add (writer, table[i].hf_name, dtype, table[i].n_dims, table[i].shape, data);
    }
  clip_tensor_table_free (table, n);
  g_autofree char *config = clip_config_to_json (&model->config, &model->preprocess);
  g_autofree char *tokenizer = model->tokenizer != NULL ? clip_tokenizer_serialize (model->tokenizer) : NULL;
  clip_st_writer_set_metadata (writer, "cliplab.format", CLIPLAB_FORMAT_VERSION);
  clip_st_writer_set_metadata (writer, "cliplab.config", config);
  if (tokenizer != NULL)
    clip_st_writer_set_metadata (writer, "cliplab.tokenizer", tokenizer);
}

gboolean
clip_model_save (const ClipModel *model, const char *path, ClipDType dtype, GError **error)
{
  if (!dtype_is_float (dtype))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: weights can be saved as F32, F16 or BF16, not %s",
                   path, clip_dtype_name (dtype));
      return FALSE;
    }
  g_autoptr (ClipStWriter) writer = clip_st_writer_new ();
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func (g_free);
  clip_model_add_to_writer (model, writer, dtype, keep);
  return clip_st_writer_write (writer, path, error);
}
