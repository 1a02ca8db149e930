/* Training against transformers' float64 reference on the tiny golden model: the gradient of
 * every parameter, three clipped AdamW steps with the cosine schedule and their trace, bit-exact
 * resume from a trainer checkpoint, the schedule, the weight-decay rule and random initialisation. */
#include "golden.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define TINY "golden/models/tiny_quickgelu/"
#define TOL_GRAD 1e-4     /* relative to each gradient tensor's max magnitude (golden README) */
#define TOL_AFTER3 1e-5   /* absolute, parameters after three steps (golden README) */
#define TOL_TRACE 1e-5    /* relative, loss and gradient norm per step */
#define BATCH 4

static ClipSafetensors *reference;

static ClipModel *
load_tiny (void)
{
  g_autofree char *path = tu_shared_path (TINY "hf");
  GError *error = NULL;
  ClipModel *model = clip_model_load (path, NULL, &error);
  g_assert_no_error (error);
  return model;
}

/* The optimiser of the golden run. */
static void
golden_optim (ClipOptimConfig *o)
{
  clip_optim_config_init (o);
  o->lr = 1e-3;
  o->beta1 = 0.9;
  o->beta2 = 0.98;
  o->eps = 1e-6;
  o->weight_decay = 0.2;
  o->warmup_steps = 0;
  o->total_steps = 3;
  o->grad_clip = 1.0;
}

static ClipTrainer *
new_trainer (ClipModel *model)
{
  ClipOptimConfig optim;
  golden_optim (&optim);
  GError *error = NULL;
  ClipTrainer *trainer = clip_trainer_new (model, &optim, &error);
  g_assert_no_error (error);
  return trainer;
}

static void
run_steps (ClipTrainer *trainer, const float *pixels, const int32_t *ids, int steps, ClipStepStats *stats)
{
  for (int i = 0; i < steps; i++)
    {
      GError *error = NULL;
      g_assert_true (clip_trainer_step (trainer, pixels, ids, BATCH, &stats[i], NULL, &error));
      g_assert_no_error (error);
    }
}

static double
rel_diff (double got, double want)
{
  return fabs (got - want) / fabs (want);
}

static void
test_gradients (void)
{
  g_autoptr (ClipModel) model = load_tiny ();
  g_autoptr (ClipTrainer) trainer = new_trainer (model);
  int64_t n_pix, n_ids;
  g_autofree float *pixels = golden_floats (reference, "input.pixel_values", &n_pix);
  const int32_t *ids = golden_i32 (reference, "input.input_ids", &n_ids);
  double loss;
  GError *error = NULL;
  g_assert_true (clip_trainer_compute_gradients (trainer, pixels, ids, BATCH, &loss, NULL, &error));
  g_assert_no_error (error);
  g_autofree float *want_loss = golden_floats (reference, "loss", NULL);
  g_test_message ("loss %.9g, reference %.9g, relative error %.2e", loss, want_loss[0], rel_diff (loss, want_loss[0]));
  g_assert_cmpfloat (rel_diff (loss, want_loss[0]), <=, TOL_TRACE);

  ClipModel *view = clip_trainer_get_model (trainer);
  int n;
  ClipTensorInfo *table = clip_tensor_table_new (&view->config, &view->w, &n);
  double worst = 0;
  for (int i = 0; i < n; i++)
    {
      g_autofree char *key = g_strconcat ("grad.", table[i].hf_name, NULL);
      int64_t count;
      g_autofree float *want = golden_floats (reference, key, &count);
      g_assert_cmpint (count, ==, table[i].n_elements);
      const float *got = clip_trainer_get_gradient (trainer, table[i].hf_name);
      g_assert_nonnull (got);
      if (g_str_has_suffix (key, "k_proj.bias"))
        {
          /* Zero in exact arithmetic (softmax ignores a constant added to a query's scores): the
           * reference holds float64 rounding, ours the rounding of Σ_rows dk, whose terms are on
           * the scale of the key weight's gradient. */
          double want_max = 0, got_max = 0, scale = 0;
          for (int64_t j = 0; j < count; j++)
            want_max = fmax (want_max, fabs (want[j])), got_max = fmax (got_max, fabs (got[j]));
          g_autofree char *weight = g_strndup (table[i].hf_name, strlen (table[i].hf_name) - strlen ("bias"));
          g_autofree char *weight_name = g_strconcat (weight, "weight", NULL);
          const float *gw = clip_trainer_get_gradient (trainer, weight_name);
          for (int64_t j = 0; j < count * count; j++)
            scale = fmax (scale, fabs (gw[j]));
          g_test_message ("%-40s reference max %.2g, ours %.2g = %.2g of the key weight's gradient", key,
                          want_max, got_max, got_max / scale);
          g_assert_cmpfloat (want_max, <, 1e-12);
          g_assert_cmpfloat (got_max, <=, TOL_GRAD * scale);
          continue;
        }
      worst = fmax (worst, tu_assert_close_rel (key, got, want, count, TOL_GRAD));
    }
  g_test_message ("gradients: worst relative error %.2e over %d tensors", worst, n);
  g_assert_null (clip_trainer_get_gradient (trainer, "no.such.tensor"));
  clip_tensor_table_free (table, n);
}

static JsonArray *
reference_trace (JsonParser *parser)
{
  g_autofree char *path = tu_shared_path (TINY "reference.json");
  GError *error = NULL;
  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "train_trace");
}

static void
test_three_steps (void)
{
  g_autoptr (ClipModel) model = load_tiny ();
  g_autoptr (ClipTrainer) trainer = new_trainer (model);
  int64_t n_pix, n_ids;
  g_autofree float *pixels = golden_floats (reference, "input.pixel_values", &n_pix);
  const int32_t *ids = golden_i32 (reference, "input.input_ids", &n_ids);
  ClipStepStats stats[3];
  run_steps (trainer, pixels, ids, 3, stats);
  g_assert_cmpint (clip_trainer_get_step (trainer), ==, 3);

  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonArray *trace = reference_trace (parser);
  g_assert_cmpint (json_array_get_length (trace), ==, 3);
  for (int i = 0; i < 3; i++)
    {
      JsonObject *want = json_array_get_object_element (trace, i);
      double loss = json_object_get_double_member (want, "loss");
      double lr = json_object_get_double_member (want, "lr");
      double norm = json_object_get_double_member (want, "grad_norm_before_clip");
      g_test_message ("step %d: loss %.9g (rel err %.2e), lr %.6g, grad norm %.9g (rel err %.2e)", i,
                      stats[i].loss, rel_diff (stats[i].loss, loss), stats[i].lr, stats[i].grad_norm,
                      rel_diff (stats[i].grad_norm, norm));
      g_assert_cmpint (stats[i].step, ==, i + 1);
      g_assert_cmpfloat (rel_diff (stats[i].loss, loss), <=, TOL_TRACE);
      g_assert_cmpfloat (rel_diff (stats[i].lr, lr), <=, 1e-12);
      g_assert_cmpfloat (rel_diff (stats[i].grad_norm, norm), <=, TOL_TRACE);
    }
  g_assert_cmpfloat (stats[2].logit_scale, ==, clip_model_get_logit_scale (clip_trainer_get_model (trainer)));

  ClipModel *view = clip_trainer_get_model (trainer);
  int n;
  ClipTensorInfo *table = clip_tensor_table_new (&view->config, &view->w, &n);
  double worst = 0;
  for (int i = 0; i < n; i++)
    {
      g_autofree char *key = g_strconcat ("after3.", table[i].hf_name, NULL);
      int64_t count;
      g_autofree float *want = golden_floats (reference, key, &count);
      g_assert_cmpint (count, ==, table[i].n_elements);
      worst = fmax (worst, tu_assert_close_abs (key, *table[i].slot, want, count, TOL_AFTER3));
    }
  g_test_message ("after three steps: worst absolute error %.2e", worst);
  clip_tensor_table_free (table, n);

  /* The trained view works like any model: its embeddings follow the new weights. */
  float before[BATCH * 32], after[BATCH * 32];
  GError *error = NULL;
  g_autoptr (ClipModel) original = load_tiny ();
  g_assert_true (clip_model_encode_images (original, pixels, BATCH, before, NULL, &error));
  g_assert_true (clip_model_encode_images (view, pixels, BATCH, after, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (fabs (after[0] - before[0]) + fabs (after[1] - before[1]), >, 1e-6);
}

static void
weights_equal (ClipModel *a, ClipModel *b)
{
  int n;
  ClipTensorInfo *ta = clip_tensor_table_new (&a->config, &a->w, &n);
  ClipTensorInfo *tb = clip_tensor_table_new (&b->config, &b->w, &n);
  for (int i = 0; i < n; i++)
    if (memcmp (*ta[i].slot, *tb[i].slot, sizeof (float) * ta[i].n_elements) != 0)
      g_test_fail_printf ("tensor %s differs", ta[i].hf_name);
  clip_tensor_table_free (ta, n);
  clip_tensor_table_free (tb, n);
}

/* One step, save, load, two more steps: the same bits as three uninterrupted steps. */
static void
test_resume (void)
{
  g_autoptr (ClipModel) model = load_tiny ();
  int64_t n_pix, n_ids;
  g_autofree float *pixels = golden_floats (reference, "input.pixel_values", &n_pix);
  const int32_t *ids = golden_i32 (reference, "input.input_ids", &n_ids);
  ClipStepStats straight[3], resumed[3];
  g_autoptr (ClipTrainer) a = new_trainer (model);
  run_steps (a, pixels, ids, 3, straight);

  g_autoptr (ClipTrainer) b = new_trainer (model);
  run_steps (b, pixels, ids, 1, resumed);
  g_autofree char *path = g_build_filename (tu_tmpdir (), "trainer.safetensors", NULL);
  g_autoptr (GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "epoch", "0");
  g_hash_table_insert (meta, "loader.position", "4");
  GError *error = NULL;
  g_assert_true (clip_trainer_save (b, path, meta, &error));
  g_assert_no_error (error);

  g_autoptr (GHashTable) loaded_meta = NULL;
  g_autoptr (ClipTrainer) c = clip_trainer_load (path, &loaded_meta, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_trainer_get_step (c), ==, 1);
  g_assert_cmpuint (g_hash_table_size (loaded_meta), ==, 2);
  g_assert_cmpstr (g_hash_table_lookup (loaded_meta, "epoch"), ==, "0");
  g_assert_cmpstr (g_hash_table_lookup (loaded_meta, "loader.position"), ==, "4");
  weights_equal (clip_trainer_get_model (b), clip_trainer_get_model (c));
  run_steps (c, pixels, ids, 2, resumed + 1);
  for (int i = 0; i < 3; i++)
    {
      g_assert_true (memcmp (&straight[i].loss, &resumed[i].loss, sizeof (double)) == 0);
      g_assert_true (memcmp (&straight[i].grad_norm, &resumed[i].grad_norm, sizeof (double)) == 0);
      g_assert_cmpint (straight[i].step, ==, resumed[i].step);
    }
  weights_equal (clip_trainer_get_model (a), clip_trainer_get_model (c));

  /* The checkpoint is also a plain ClipLab model with the trainer's weights. */
  g_autoptr (ClipModel) plain = clip_model_load (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_model_get_layout (plain), ==, CLIP_LAYOUT_CLIPLAB);
  weights_equal (clip_trainer_get_model (b), plain);
  float from_trainer[BATCH * 32], from_file[BATCH * 32];
  g_assert_true (clip_model_encode_token_ids (clip_trainer_get_model (b), ids, BATCH, 16, from_trainer, NULL, &error));
  g_assert_true (clip_model_encode_token_ids (plain, ids, BATCH, 16, from_file, NULL, &error));
  g_assert_no_error (error);
  /* Not bit for bit: a model loaded from a file runs its products on panel copies of the weights,
   * a trainer's view on OpenBLAS; both sum in float32. */
  for (guint i = 0; i < G_N_ELEMENTS (from_file); i++)
    g_assert_cmpfloat_with_epsilon (from_trainer[i], from_file[i], 2e-6);

  /* clip_model_save of the trainer's view gives the same model file without the moments. */
  g_autofree char *model_path = g_build_filename (tu_tmpdir (), "model.safetensors", NULL);
  g_assert_true (clip_model_save (clip_trainer_get_model (b), model_path, CLIP_DTYPE_F32, &error));
  g_assert_no_error (error);
  g_autoptr (ClipModel) saved = clip_model_load (model_path, NULL, &error);
  g_assert_no_error (error);
  weights_equal (clip_trainer_get_model (b), saved);

  /* A model file is not a trainer checkpoint; reserved metadata keys are refused. */
  g_assert_null (clip_trainer_load (model_path, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_hash_table_insert (meta, "cliplab.config", "{}");
  g_assert_false (clip_trainer_save (b, path, meta, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_clear_error (&error);
}

static void
test_schedule (void)
{
  ClipOptimConfig o;
  clip_optim_config_init (&o);
  o.lr = 2.0;
  o.warmup_steps = 10;
  o.total_steps = 110;
  g_assert_cmpfloat_with_epsilon (clip_optim_lr_at (&o, 0), 0.2, 1e-12);
  g_assert_cmpfloat_with_epsilon (clip_optim_lr_at (&o, 4), 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (clip_optim_lr_at (&o, 9), 2.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (clip_optim_lr_at (&o, 10), 2.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (clip_optim_lr_at (&o, 35), 1.0 + cos (G_PI / 4), 1e-12);
  g_assert_cmpfloat_with_epsilon (clip_optim_lr_at (&o, 60), 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (clip_optim_lr_at (&o, 109), 1.0 + cos (G_PI * 99 / 100), 1e-12);
  g_assert_cmpfloat (clip_optim_lr_at (&o, 110), ==, 0.0);
  g_assert_cmpfloat (clip_optim_lr_at (&o, 1000), ==, 0.0);
  /* The golden run: no warmup, three steps. */
  o.lr = 1e-3;
  o.warmup_steps = 0;
  o.total_steps = 3;
  g_assert_cmpfloat_with_epsilon (clip_optim_lr_at (&o, 0), 1e-3, 1e-15);
  g_assert_cmpfloat_with_epsilon (clip_optim_lr_at (&o, 1), 7.5e-4, 1e-15);
  g_assert_cmpfloat_with_epsilon (clip_optim_lr_at (&o, 2), 2.5e-4, 1e-15);

  /* Invalid settings are refused by the trainer. */
  g_autoptr (ClipModel) model = load_tiny ();
  GError *error = NULL;
  o.warmup_steps = 5;
  g_assert_null (clip_trainer_new (model, &o, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_clear_error (&error);
  o.warmup_steps = 0;
  o.beta2 = 1.0;
  g_assert_null (clip_trainer_new (model, &o, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
}

/* Decay on matrices, embeddings and the patch conv; not on biases, gains, the class embedding and
 * logit_scale (the rule stated by name here, independently of the shape rule the code uses). */
static void
test_decay_flags (void)
{
  g_autoptr (ClipModel) model = load_tiny ();
  int n, decayed = 0;
  ClipTensorInfo *table = clip_tensor_table_new (&model->config, &model->w, &n);
  for (int i = 0; i < n; i++)
    {
      const char *name = table[i].hf_name;
      gboolean expect = g_str_has_suffix (name, ".weight") && strstr (name, "norm") == NULL
                        && strstr (name, "layrnorm") == NULL;
      if (clip_tensor_decays (&table[i]) != expect)
        g_test_fail_printf ("%s: decay %d, expected %d", name, clip_tensor_decays (&table[i]), expect);
      decayed += expect;
    }
  /* patch, 2 positions, token, 2 projections; q, k, v, out, fc1, fc2 in 4 blocks. */
  g_assert_cmpint (decayed, ==, 6 + 6 * 4);
  clip_tensor_table_free (table, n);
}

static void
tensor_stats (const float *x, int64_t n, double *mean, double *std, double *max_abs)
{
  double s = 0, ss = 0, m = 0;
  for (int64_t i = 0; i < n; i++)
    {
      s += x[i];
      ss += (double) x[i] * x[i];
      m = fmax (m, fabs (x[i]));
    }
  *mean = s / n;
  *std = sqrt (ss / n - *mean * *mean);
  *max_abs = m;
}

static const float *
tensor (ClipModel *model, const char *name, int64_t *count)
{
  int n;
  const float *found = NULL;
  ClipTensorInfo *table = clip_tensor_table_new (&model->config, &model->w, &n);
  for (int i = 0; i < n; i++)
    if (g_str_equal (table[i].hf_name, name))
      {
        found = *table[i].slot;
        *count = table[i].n_elements;
      }
  clip_tensor_table_free (table, n);
  g_assert_nonnull (found);
  return found;
}

/* clip-reference.md §1.6: normals with the stated std, uniforms within their bound (std = bound/√3). */
static void
check_init (ClipModel *model, const char *name, gboolean uniform, double scale)
{
  int64_t n;
  const float *x = tensor (model, name, &n);
  double mean, std, max_abs;
  tensor_stats (x, n, &mean, &std, &max_abs);
  double want_std = uniform ? scale / sqrt (3.0) : scale;
  g_test_message ("%-50s n=%-8" G_GINT64_FORMAT " mean %+.2e std %.5g (want %.5g)", name, n, mean, std, want_std);
  /* 6 standard errors of the mean and of the std estimate. */
  g_assert_cmpfloat (fabs (mean), <=, 6 * want_std / sqrt ((double) n));
  g_assert_cmpfloat (fabs (std - want_std), <=, 6 * want_std / sqrt (2.0 * n) + 1e-9);
  if (uniform)
    g_assert_cmpfloat (max_abs, <=, scale);
}

static void
check_constant (ClipModel *model, const char *name, float value)
{
  int64_t n;
  const float *x = tensor (model, name, &n);
  for (int64_t i = 0; i < n; i++)
    g_assert_cmpfloat (x[i], ==, value);
}

static void
test_random_init (void)
{
  ClipConfig config = {
    .vision = { .width = 256, .layers = 1, .heads = 4, .mlp_width = 1024, .ln_eps = 1e-5f,
                .activation = CLIP_ACTIVATION_QUICK_GELU },
    .text = { .width = 512, .layers = 3, .heads = 8, .mlp_width = 2048, .ln_eps = 1e-5f,
              .activation = CLIP_ACTIVATION_QUICK_GELU },
    .image_size = 64, .patch_size = 16, .context_length = 77, .vocab_size = 8192, .embed_dim = 256,
    .eot_id = -1,
  };
  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  GError *error = NULL;
  g_autoptr (ClipModel) model = clip_model_new_random (&config, &pre, NULL, 42, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_model_get_layout (model), ==, CLIP_LAYOUT_CLIPLAB);
  g_assert_cmpint (clip_model_get_preprocess (model)->image_size, ==, 64);

  double w = 512, l = 3, vw = 256;
  check_init (model, "text_model.embeddings.token_embedding.weight", FALSE, 0.02);
  check_init (model, "text_model.embeddings.position_embedding.weight", FALSE, 0.01);
  check_init (model, "text_model.encoder.layers.1.self_attn.k_proj.weight", FALSE, 1 / sqrt (w));
  check_init (model, "text_model.encoder.layers.1.self_attn.out_proj.weight", FALSE, 1 / sqrt (w) / sqrt (2 * l));
  check_init (model, "text_model.encoder.layers.2.mlp.fc1.weight", FALSE, 1 / sqrt (2 * w));
  check_init (model, "text_model.encoder.layers.0.mlp.fc2.weight", FALSE, 1 / sqrt (w) / sqrt (2 * l));
  check_init (model, "text_projection.weight", FALSE, 1 / sqrt (w));
  check_init (model, "text_model.encoder.layers.0.mlp.fc1.bias", TRUE, 1 / sqrt (w));
  check_init (model, "vision_model.embeddings.patch_embedding.weight", TRUE, 1 / sqrt (3.0 * 16 * 16));
  check_init (model, "vision_model.embeddings.position_embedding.weight", FALSE, 1 / sqrt (vw));
  check_init (model, "vision_model.embeddings.class_embedding", FALSE, 1 / sqrt (vw));
  check_init (model, "visual_projection.weight", FALSE, 1 / sqrt (vw));
  check_init (model, "vision_model.encoder.layers.0.self_attn.q_proj.weight", TRUE, sqrt (6 / (4 * vw)));
  check_init (model, "vision_model.encoder.layers.0.self_attn.out_proj.weight", TRUE, 1 / sqrt (vw));
  check_init (model, "vision_model.encoder.layers.0.mlp.fc2.weight", TRUE, 1 / sqrt (4 * vw));
  check_init (model, "vision_model.encoder.layers.0.mlp.fc2.bias", TRUE, 1 / sqrt (4 * vw));
  check_constant (model, "vision_model.encoder.layers.0.self_attn.q_proj.bias", 0.0f);
  check_constant (model, "text_model.encoder.layers.2.self_attn.out_proj.bias", 0.0f);
  check_constant (model, "text_model.encoder.layers.2.layer_norm1.weight", 1.0f);
  check_constant (model, "vision_model.pre_layrnorm.bias", 0.0f);
  check_constant (model, "text_model.final_layer_norm.weight", 1.0f);
  check_constant (model, "logit_scale", (float) log (1 / 0.07));

  /* Deterministic for a seed, different for another. */
  g_autoptr (ClipModel) again = clip_model_new_random (&config, &pre, NULL, 42, &error);
  g_autoptr (ClipModel) other = clip_model_new_random (&config, &pre, NULL, 43, &error);
  g_assert_no_error (error);
  weights_equal (model, again);
  int64_t n;
  const float *a = tensor (model, "text_projection.weight", &n);
  const float *b = tensor (other, "text_projection.weight", &n);
  g_assert_true (memcmp (a, b, sizeof (float) * n) != 0);
  /* Pinned values: the generator is integer arithmetic plus Box-Muller, so these hold on every
   * machine; a change here means checkpoints initialised from a seed change too. */
  const float *tok = tensor (model, "text_model.embeddings.token_embedding.weight", &n);
  g_test_message ("token_embedding[0..1] = %.9g %.9g", tok[0], tok[1]);
  g_assert_cmpfloat (tok[0], ==, 0.00564220361f);
  g_assert_cmpfloat (tok[1], ==, -0.0194494668f);

  /* Invalid configurations are refused. */
  config.text.heads = 7;
  g_assert_null (clip_model_new_random (&config, &pre, NULL, 1, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_SHAPE);
  g_clear_error (&error);
}

/* A random model trains: the loss of a repeated batch falls, logit_scale stays in its clamp. */
static void
test_random_model_trains (void)
{
  ClipConfig config = {
    .vision = { .width = 32, .layers = 1, .heads = 2, .mlp_width = 64, .ln_eps = 1e-5f,
                .activation = CLIP_ACTIVATION_QUICK_GELU },
    .text = { .width = 32, .layers = 1, .heads = 2, .mlp_width = 64, .ln_eps = 1e-5f,
              .activation = CLIP_ACTIVATION_GELU },
    .image_size = 16, .patch_size = 8, .context_length = 8, .vocab_size = 50, .embed_dim = 16, .eot_id = 49,
  };
  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  GError *error = NULL;
  g_autoptr (ClipModel) model = clip_model_new_random (&config, &pre, NULL, 5, &error);
  g_assert_no_error (error);
  ClipOptimConfig optim;
  clip_optim_config_init (&optim);
  optim.lr = 3e-3;
  optim.warmup_steps = 2;
  optim.total_steps = 30;
  g_autoptr (ClipTrainer) trainer = clip_trainer_new (model, &optim, &error);
  g_assert_no_error (error);
  GRand *rand = g_rand_new_with_seed (3);
  float pixels[4 * 3 * 16 * 16];
  for (size_t i = 0; i < G_N_ELEMENTS (pixels); i++)
    pixels[i] = (float) g_rand_double_range (rand, -2, 2);
  int32_t ids[4 * 8] = { 0 };
  for (int s = 0; s < 4; s++)
    {
      for (int p = 0; p < 2 + s; p++)
        ids[s * 8 + p] = g_rand_int_range (rand, 1, 49);
      ids[s * 8 + 2 + s] = 49;
    }
  g_rand_free (rand);
  ClipStepStats first = { 0 }, stats = { 0 };
  for (int i = 0; i < 30; i++)
    {
      g_assert_true (clip_trainer_step (trainer, pixels, ids, 4, &stats, NULL, &error));
      g_assert_no_error (error);
      if (i == 0)
        first = stats;
      g_assert_cmpfloat (stats.logit_scale, >=, 0);
      g_assert_cmpfloat (stats.logit_scale, <=, (float) log (100.0));
    }
  g_test_message ("random model: loss %.4f -> %.4f", first.loss, stats.loss);
  g_assert_cmpfloat (stats.loss, <, 0.5 * first.loss);

  /* Bad batches are refused without touching the weights. */
  ids[3] = 50;
  g_assert_false (clip_trainer_step (trainer, pixels, ids, 4, &stats, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_clear_error (&error);
  ids[3] = 0;
  pixels[0] = NAN;
  g_assert_false (clip_trainer_step (trainer, pixels, ids, 4, &stats, NULL, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpint (clip_trainer_get_step (trainer), ==, 30);
  g_assert_true (isfinite (clip_model_get_logit_scale (clip_trainer_get_model (trainer))));
}

static gboolean
abort_now (gpointer data)
{
  return TRUE;
}

static void
test_abort (void)
{
  g_autoptr (ClipModel) model = load_tiny ();
  g_autoptr (ClipTrainer) trainer = new_trainer (model);
  int64_t n_pix, n_ids;
  g_autofree float *pixels = golden_floats (reference, "input.pixel_values", &n_pix);
  const int32_t *ids = golden_i32 (reference, "input.input_ids", &n_ids);
  const ClipCallbacks callbacks = { .abort = abort_now };
  GError *error = NULL;
  g_assert_false (clip_trainer_step (trainer, pixels, ids, BATCH, NULL, &callbacks, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED);
  g_clear_error (&error);
  g_assert_cmpint (clip_trainer_get_step (trainer), ==, 0);
  weights_equal (model, clip_trainer_get_model (trainer));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  reference = golden_open (TINY "reference.safetensors");
  g_test_add_func ("/train/gradients", test_gradients);
  g_test_add_func ("/train/three-steps", test_three_steps);
  g_test_add_func ("/train/resume", test_resume);
  g_test_add_func ("/train/schedule", test_schedule);
  g_test_add_func ("/train/decay-flags", test_decay_flags);
  g_test_add_func ("/train/random-init", test_random_init);
  g_test_add_func ("/train/random-model-trains", test_random_model_trains);
  g_test_add_func ("/train/abort", test_abort);
  int status = g_test_run ();
  clip_safetensors_close (reference);
  return status;
}
