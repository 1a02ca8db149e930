/* The float32 kernel choice for whole forward passes (kernel-choice.c): one kernel per regime (one
 * image, a batch), timed once and cached in $XDG_CACHE_HOME/cliplab/kernels.ini, read back instead
 * of timed again, timed again when the cache was written by another library version, forced by
 * CLIPLAB_F32_KERNEL, a cache that cannot be written is not an error; and a model follows its
 * regime's kernel pass by pass, with the same embeddings whichever kernel runs; the caller's abort
 * stops the timing at once, with nothing chosen or cached, and the next pass times again.  AUTO
 * ranks the precisions by timing, once, and takes int8 only for a model whose int8 embeddings stay
 * close to its float32 ones.  Each case runs in a fresh process, since the cache is loaded once
 * per process. */
#include "clip-private.h"
#include "kernel-choice.h"
#include "ops-reduced.h"
#include "ops.h"
#include "testutil.h"

#include <string.h>

/* Runs the current test's subprocess branch with XDG_CACHE_HOME at the folder NAME in the parent's
 * temporary folder (which outlives the child's); returns that folder. */
static char *
run_child (const char *name)
{
  char *home = g_build_filename (tu_tmpdir (), name, NULL);
  g_setenv ("XDG_CACHE_HOME", home, TRUE);
  g_unsetenv ("CLIPLAB_F32_KERNEL");
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  return home;
}

/* The value cached for KEY in any group of the cache under HOME, or NULL. */
static char *
cached_choice (const char *home, const char *key)
{
  g_autofree char *path = g_build_filename (home, "cliplab", "kernels.ini", NULL);
  g_autoptr (GKeyFile) file = g_key_file_new ();
  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, NULL))
    return NULL;
  g_auto (GStrv) groups = g_key_file_get_groups (file, NULL);
  for (char **g = groups; *g != NULL; g++)
    {
      char *value = g_key_file_get_string (file, *g, key, NULL);
      if (value != NULL)
        return value;
    }
  return NULL;
}

/* A timer that makes the panels faster for one image and OpenBLAS for a batch, counting its calls
 * per kernel and regime. */
static int timer_calls[2][CLIP_N_PASS_REGIMES];

static gboolean
fake_timer (ClipF32Kernel kernel, ClipPassRegime regime, gpointer data, double *seconds)
{
  timer_calls[kernel][regime]++;
  gboolean faster = (regime == CLIP_PASS_ONE) == (kernel == CLIP_F32_PANELS);
  *seconds = faster ? 0.010 : 0.020;
  return TRUE;
}

static void
assert_kernels (const ClipF32Kernel *kernels, ClipF32Kernel one, ClipF32Kernel batch)
{
  g_assert_cmpstr (clip_f32_kernel_name (kernels[CLIP_PASS_ONE]), ==, clip_f32_kernel_name (one));
  g_assert_cmpstr (clip_f32_kernel_name (kernels[CLIP_PASS_BATCH]), ==, clip_f32_kernel_name (batch));
}

#define SHAPE "768x3072x12-512x2048x12"

/* Timed: both kernels in both regimes, the faster kept per regime, in the cache file and read back
 * by the next process without timing. */
static void
test_measured_and_cached (void)
{
  if (g_test_subprocess ())
    {
      ClipF32Kernel kernels[CLIP_N_PASS_REGIMES];
      if (g_getenv ("KERNEL_CHOICE_SECOND") == NULL)
        {
          g_assert_false (clip_f32_pass_kernels_known (SHAPE, kernels));
          g_assert_true (clip_f32_pass_kernels_measure (SHAPE, fake_timer, NULL, kernels));
          for (int k = 0; k < 2; k++)
            for (int r = 0; r < CLIP_N_PASS_REGIMES; r++)
              g_assert_cmpint (timer_calls[k][r], >=, 1);
        }
      else
        g_assert_true (clip_f32_pass_kernels_known (SHAPE, kernels));
      assert_kernels (kernels, CLIP_F32_PANELS, CLIP_F32_OPENBLAS);
      return;
    }
  g_autofree char *home = run_child ("measured");
  g_autofree char *one = cached_choice (home, "pass-" SHAPE "-one");
  g_autofree char *batch = cached_choice (home, "pass-" SHAPE "-batch");
  g_assert_cmpstr (one, ==, "panels");
  g_assert_cmpstr (batch, ==, "openblas");
  g_setenv ("KERNEL_CHOICE_SECOND", "1", TRUE);
  g_autofree char *again = run_child ("measured");
  g_unsetenv ("KERNEL_CHOICE_SECOND");
}

/* A cache written by another version of the library is not trusted: the kernels are timed again. */
static void
test_stale_version (void)
{
  if (g_test_subprocess ())
    {
      ClipF32Kernel kernels[CLIP_N_PASS_REGIMES];
      g_assert_false (clip_f32_pass_kernels_known (SHAPE, kernels));
      g_assert_true (clip_f32_pass_kernels_measure (SHAPE, fake_timer, NULL, kernels));
      return;
    }
  g_autofree char *home = run_child ("stale");
  g_autofree char *path = g_build_filename (home, "cliplab", "kernels.ini", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_autoptr (GRegex) version = g_regex_new ("\\| cliplab [^ |]+ \\|", 0, 0, NULL);
  g_assert_true (g_regex_match (version, text, 0, NULL));
  g_autofree char *old = g_regex_replace_literal (version, text, -1, 0, "| cliplab 0.0.0-old |", 0, NULL);
  g_assert_true (g_file_set_contents (path, old, -1, NULL));
  g_setenv ("KERNEL_CHOICE_SECOND", "1", TRUE);
  g_autofree char *again = run_child ("stale");
  g_unsetenv ("KERNEL_CHOICE_SECOND");
  /* Both groups now: the old version's and the current one's, timed again. */
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, NULL));
  gsize n_groups;
  g_auto (GStrv) groups = g_key_file_get_groups (file, &n_groups);
  g_assert_cmpuint (n_groups, ==, 2);
}

/* OpenBLAS 5 % faster for a batch, the panels twice as fast for one image: not worth a second copy
 * of the weights, the panels run both. */
static gboolean
close_timer (ClipF32Kernel kernel, ClipPassRegime regime, gpointer data, double *seconds)
{
  if (regime == CLIP_PASS_ONE)
    *seconds = kernel == CLIP_F32_PANELS ? 0.010 : 0.020;
  else
    *seconds = kernel == CLIP_F32_PANELS ? 0.0420 : 0.0400;
  return TRUE;
}

static void
test_one_copy (void)
{
  if (g_test_subprocess ())
    {
      ClipF32Kernel kernels[CLIP_N_PASS_REGIMES];
      g_assert_true (clip_f32_pass_kernels_measure (SHAPE, close_timer, NULL, kernels));
      assert_kernels (kernels, CLIP_F32_PANELS, CLIP_F32_PANELS);
      return;
    }
  g_autofree char *home = run_child ("one-copy");
  g_autofree char *batch = cached_choice (home, "pass-" SHAPE "-batch");
  g_assert_cmpstr (batch, ==, "panels");
}

/* CLIPLAB_F32_KERNEL decides both regimes, untimed and uncached. */
static void
test_forced (void)
{
  if (g_test_subprocess ())
    {
      ClipF32Kernel kernels[CLIP_N_PASS_REGIMES];
      g_setenv ("CLIPLAB_F32_KERNEL", "openblas", TRUE);
      g_assert_true (clip_f32_pass_kernels_known (SHAPE, kernels));
      assert_kernels (kernels, CLIP_F32_OPENBLAS, CLIP_F32_OPENBLAS);
      g_setenv ("CLIPLAB_F32_KERNEL", "panels", TRUE);
      g_assert_true (clip_f32_pass_kernels_known (SHAPE, kernels));
      assert_kernels (kernels, CLIP_F32_PANELS, CLIP_F32_PANELS);
      g_setenv ("CLIPLAB_F32_KERNEL", "neither", TRUE);
      g_assert_false (clip_f32_pass_kernels_known (SHAPE, kernels));
      return;
    }
  g_autofree char *home = run_child ("forced");
  g_autofree char *cached = cached_choice (home, "pass-" SHAPE "-one");
  g_assert_null (cached);
}

/* XDG_CACHE_HOME is a file: nothing can be written below it, and the choice is still made. */
static void
test_unwritable (void)
{
  if (g_test_subprocess ())
    {
      ClipF32Kernel kernels[CLIP_N_PASS_REGIMES];
      g_assert_true (clip_f32_pass_kernels_measure (SHAPE, fake_timer, NULL, kernels));
      assert_kernels (kernels, CLIP_F32_PANELS, CLIP_F32_OPENBLAS);
      g_assert_true (g_file_test (g_getenv ("XDG_CACHE_HOME"), G_FILE_TEST_IS_REGULAR));
      return;
    }
  g_autofree char *file = g_build_filename (tu_tmpdir (), "not-a-directory", NULL);
  g_assert_true (g_file_set_contents (file, "", 0, NULL));
  g_autofree char *home = run_child ("not-a-directory");
}

/* A random model large enough to be timed (its vision MLP has 512² weights), saved as a file:
 * panels are made for models loaded from files only. */
static const ClipConfig model_config = {
  .vision = { .width = 256, .layers = 2, .heads = 4, .mlp_width = 1024, .ln_eps = 1e-5f,
              .activation = CLIP_ACTIVATION_QUICK_GELU },
  .text = { .width = 64, .layers = 1, .heads = 2, .mlp_width = 256, .ln_eps = 1e-5f,
            .activation = CLIP_ACTIVATION_QUICK_GELU },
  .image_size = 64, .patch_size = 16, .context_length = 16, .vocab_size = 300, .embed_dim = 64, .eot_id = -1,
};
#define MODEL_SHAPE "256x1024x2-64x256x1"
#define N_IMAGES 3
#define IMAGE_FLOATS (3 * 64 * 64)

static ClipModel *
random_model (void)
{
  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  pre.image_size = 64;
  GError *error = NULL;
  ClipModel *model = clip_model_new_random (&model_config, &pre, NULL, 3, &error);
  g_assert_no_error (error);
  return model;
}

/* MODEL saved as NAME in the temporary folder; its path. */
static char *
saved_model (ClipModel *model, const char *name)
{
  char *path = g_build_filename (tu_tmpdir (), name, NULL);
  GError *error = NULL;
  g_assert_true (clip_model_save (model, path, CLIP_DTYPE_F32, &error));
  g_assert_no_error (error);
  return path;
}

static char *
model_path (void)
{
  char *path = g_build_filename (tu_tmpdir (), "timed-model.safetensors", NULL);
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return path;
  g_free (path);
  g_autoptr (ClipModel) model = random_model ();
  return saved_model (model, "timed-model.safetensors");
}

/* The name clip_model_get_kernel gives KERNEL. */
static const char *
reported (ClipF32Kernel kernel)
{
  return kernel == CLIP_F32_OPENBLAS ? "openblas" : clip_packed_kernel_name ();
}

/* Encodes the images one by one (EACH) and as a batch (BATCH), checking that the model names ONE's
 * and BATCH_KERNEL's kernel after each. */
static void
encode_both_ways (const char *path, float *each, float *batch, ClipF32Kernel one, ClipF32Kernel batch_kernel)
{
  GError *error = NULL;
  g_autoptr (ClipModel) model = clip_model_load (path, NULL, &error);
  g_assert_no_error (error);
  g_autofree float *pixels = g_new (float, N_IMAGES * IMAGE_FLOATS);
  GRand *rng = g_rand_new_with_seed (5);
  for (int i = 0; i < N_IMAGES * IMAGE_FLOATS; i++)
    pixels[i] = (float) g_rand_double_range (rng, -2, 2);
  g_rand_free (rng);
  for (int i = 0; i < N_IMAGES; i++)
    {
      g_assert_true (clip_model_encode_images (model, pixels + i * IMAGE_FLOATS, 1, each + i * 64, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (clip_model_get_kernel (model, CLIP_PRODUCT_VISION_MLP_UP), ==, reported (one));
      g_assert_cmpstr (clip_model_get_kernel (model, CLIP_PRODUCT_VISION_QKV), ==, reported (one));
    }
  g_assert_true (clip_model_encode_images (model, pixels, N_IMAGES, batch, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (clip_model_get_kernel (model, CLIP_PRODUCT_VISION_MLP_DOWN), ==, reported (batch_kernel));
  g_assert_cmpstr (clip_model_get_kernel (model, CLIP_PRODUCT_TEXT_MLP_UP), ==, reported (batch_kernel));
}

/* A model times its kernels at its first pass (cached under its shape), then runs every pass on its
 * regime's kernel, and the embeddings agree whichever kernel runs: forced to either, or mixed
 * (OpenBLAS for one image, the panels for a batch, so that both copies of the weights are kept). */
static void
test_model_passes (void)
{
  if (!g_test_subprocess ())
    {
      g_autofree char *path = model_path ();
      g_setenv ("TIMED_MODEL", path, TRUE);
      g_autofree char *home = run_child ("model");
      g_autofree char *one = cached_choice (home, "pass-" MODEL_SHAPE "-one");
      g_autofree char *batch = cached_choice (home, "pass-" MODEL_SHAPE "-batch");
      g_assert_nonnull (one);
      g_assert_nonnull (batch);
      return;
    }
  const char *path = g_getenv ("TIMED_MODEL");
  float reference[N_IMAGES * 64], each[N_IMAGES * 64], batch[N_IMAGES * 64];
  ClipF32Kernel kernels[CLIP_N_PASS_REGIMES];
  /* Timed at the first pass; the kernels reported are those cached. */
  g_assert_false (clip_f32_pass_kernels_known (MODEL_SHAPE, kernels));
  {
    GError *error = NULL;
    g_autoptr (ClipModel) model = clip_model_load (path, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (clip_model_encode_images (model, (float[IMAGE_FLOATS]) { 0 }, 1, each, NULL, &error));
    g_assert_true (clip_f32_pass_kernels_known (MODEL_SHAPE, kernels));
    g_assert_cmpstr (clip_model_get_kernel (model, CLIP_PRODUCT_VISION_MLP_UP), ==, reported (kernels[CLIP_PASS_ONE]));
  }
  g_setenv ("CLIPLAB_F32_KERNEL", "panels", TRUE);
  encode_both_ways (path, reference, batch, CLIP_F32_PANELS, CLIP_F32_PANELS);
  tu_assert_close_rel ("panels, a batch against one by one", batch, reference, N_IMAGES * 64, 1e-5);
  g_setenv ("CLIPLAB_F32_KERNEL", "openblas", TRUE);
  encode_both_ways (path, each, batch, CLIP_F32_OPENBLAS, CLIP_F32_OPENBLAS);
  tu_assert_close_rel ("openblas, one by one", each, reference, N_IMAGES * 64, 1e-5);
  tu_assert_close_rel ("openblas, a batch", batch, reference, N_IMAGES * 64, 1e-5);
  g_unsetenv ("CLIPLAB_F32_KERNEL");
  /* The cache says the panels for one image and OpenBLAS for a batch (the fake timer decides so). */
  ClipF32Kernel mixed[CLIP_N_PASS_REGIMES];
  g_assert_true (clip_f32_pass_kernels_measure (MODEL_SHAPE, fake_timer, NULL, mixed));
  encode_both_ways (path, each, batch, CLIP_F32_PANELS, CLIP_F32_OPENBLAS);
  tu_assert_close_rel ("mixed, one by one", each, reference, N_IMAGES * 64, 1e-5);
  tu_assert_close_rel ("mixed, a batch", batch, reference, N_IMAGES * 64, 1e-5);
}

/* Counts the polls of an abort callback; stops at poll STOP_AT (never when 0). */
typedef struct {
  int polls, stop_at;
} AbortCount;

static gboolean
abort_count (gpointer data)
{
  AbortCount *a = data;
  a->polls++;
  return a->stop_at > 0 && a->polls >= a->stop_at;
}

/* A timer stopped at its third pass: the measurement ends there, with nothing chosen or cached. */
static gboolean
stopped_timer (ClipF32Kernel kernel, ClipPassRegime regime, gpointer data, double *seconds)
{
  AbortCount *a = data;
  *seconds = 0.010;
  return !abort_count (a);
}

/* The caller's abort stops the timing of a model's first pass: CLIP_ERROR_ABORTED at the first poll
 * that says so, no kernel cached; the next pass times the kernels and caches them. */
static void
test_abort_timing (void)
{
  if (!g_test_subprocess ())
    {
      g_autofree char *path = model_path ();
      g_setenv ("TIMED_MODEL", path, TRUE);
      g_autofree char *home = run_child ("abort");
      return;
    }
  const char *home = g_getenv ("XDG_CACHE_HOME");
  ClipF32Kernel kernels[CLIP_N_PASS_REGIMES];
  AbortCount stopped = { 0, 3 };
  g_assert_false (clip_f32_pass_kernels_measure (SHAPE, stopped_timer, &stopped, kernels));
  g_assert_cmpint (stopped.polls, ==, 3);
  g_assert_false (clip_f32_pass_kernels_known (SHAPE, kernels));

  const char *path = g_getenv ("TIMED_MODEL");
  GError *error = NULL;
  float pixels[IMAGE_FLOATS] = { 0 }, embedding[64];
  /* The polls of a pass that times nothing (the kernel forced): the next poll of a first pass that
   * times its kernels falls within the timing. */
  AbortCount untimed = { 0, 0 };
  {
    g_setenv ("CLIPLAB_F32_KERNEL", "panels", TRUE);
    g_autoptr (ClipModel) model = clip_model_load (path, NULL, &error);
    g_assert_no_error (error);
    ClipCallbacks callbacks = { NULL, abort_count, &untimed };
    g_assert_true (clip_model_encode_images (model, pixels, 1, embedding, &callbacks, &error));
    g_assert_no_error (error);
    g_unsetenv ("CLIPLAB_F32_KERNEL");
  }
  g_autoptr (ClipModel) model = clip_model_load (path, NULL, &error);
  g_assert_no_error (error);
  AbortCount during = { 0, untimed.polls + 1 };
  ClipCallbacks callbacks = { NULL, abort_count, &during };
  g_assert_false (clip_model_encode_images (model, pixels, 1, embedding, &callbacks, &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_ABORTED);
  g_clear_error (&error);
  g_assert_cmpint (during.polls, ==, untimed.polls + 1);
  g_assert_false (clip_f32_pass_kernels_known (MODEL_SHAPE, kernels));
  g_autofree char *cached = cached_choice (home, "pass-" MODEL_SHAPE "-one");
  g_assert_null (cached);

  /* The same model's next pass times the kernels, to the end, and caches them. */
  AbortCount counted = { 0, 0 };
  callbacks.user_data = &counted;
  g_assert_true (clip_model_encode_images (model, pixels, 1, embedding, &callbacks, &error));
  g_assert_no_error (error);
  g_assert_cmpint (counted.polls, >, untimed.polls + 1);
  g_assert_true (clip_f32_pass_kernels_known (MODEL_SHAPE, kernels));
  g_autofree char *now = cached_choice (home, "pass-" MODEL_SHAPE "-one");
  g_assert_nonnull (now);
}

/* The cache key of AUTO's ranking on this CPU. */
static char *
ranking_key (void)
{
  return g_strdup_printf ("auto-%s-%s", clip_isa_kernel_name (CLIP_REDUCED_BF16, clip_isa_best (CLIP_REDUCED_BF16)),
                          clip_isa_kernel_name (CLIP_REDUCED_INT8, clip_isa_best (CLIP_REDUCED_INT8)));
}

/* AUTO: F32 without bf16 or int8 vector kernels (nothing timed), else the fastest of the
 * candidates, timed once and cached fastest first under the kernels' names; int8 left out on
 * request. */
static void
test_auto (void)
{
  if (g_test_subprocess ())
    {
      const char *home = g_getenv ("XDG_CACHE_HOME");
      g_setenv ("CLIPLAB_KERNEL_ISA", "portable", TRUE);
      g_assert_cmpint (clip_auto_precision (TRUE), ==, CLIP_PRECISION_F32);
      g_autofree char *portable_key = ranking_key ();
      g_autofree char *portable_cached = cached_choice (home, portable_key);
      g_assert_null (portable_cached);
      g_unsetenv ("CLIPLAB_KERNEL_ISA");
      ClipPrecision precision = clip_auto_precision (TRUE), without_int8 = clip_auto_precision (FALSE);
      g_autofree char *key = ranking_key ();
      g_autofree char *cached = cached_choice (home, key);
      gboolean bf16 = clip_isa_best (CLIP_REDUCED_BF16) >= CLIP_ISA_AVX512;
      gboolean int8 = clip_isa_best (CLIP_REDUCED_INT8) >= CLIP_ISA_AVX2;
      g_assert_cmpint (without_int8, !=, CLIP_PRECISION_INT8);
      if (!bf16 && !int8)
        {
          g_assert_cmpint (precision, ==, CLIP_PRECISION_F32);
          g_assert_null (cached);
          return;
        }
      /* Every candidate once, the chosen one first. */
      g_auto (GStrv) ranking = g_strsplit (cached, ",", -1);
      g_assert_cmpuint (g_strv_length (ranking), ==, 1 + bf16 + int8);
      g_assert_true (g_strv_contains ((const char *const *) ranking, "f32"));
      g_assert_cmpint (g_strv_contains ((const char *const *) ranking, "bf16"), ==, bf16);
      g_assert_cmpint (g_strv_contains ((const char *const *) ranking, "int8"), ==, int8);
      g_assert_cmpstr (ranking[0], ==, clip_precision_name (precision));
      if (precision != CLIP_PRECISION_INT8)
        g_assert_cmpint (without_int8, ==, precision);
      else
        g_assert_cmpstr (ranking[1], ==, clip_precision_name (without_int8));
      g_printerr ("auto ranking on %s: %s\n", key, cached);
      return;
    }
  g_autofree char *home = run_child ("auto");
}

/* Scales column COLUMN of the [out, in] tensor NAME of TABLE by SCALE (of a vector, its element
 * COLUMN). */
static void
scale_column (ClipTensorInfo *table, int n, const char *name, int column, float scale)
{
  for (int i = 0; i < n; i++)
    if (g_str_equal (table[i].hf_name, name))
      {
        float *x = *table[i].slot;
        for (int64_t e = column; e < table[i].n_elements; e += table[i].shape[table[i].n_dims - 1])
          x[e] *= scale;
        return;
      }
  g_assert_not_reached ();
}

/* The random model of model_path with an outlier channel, as trained checkpoints can have: the
 * first input of every vision layer's Q, K, V and MLP products 1,000 times the others and its
 * weights a thousandth, so that float32 computes the same function and per-row int8 inputs lose
 * the other channels. */
static char *
outlier_model_path (void)
{
  g_autoptr (ClipModel) model = random_model ();
  int n;
  ClipTensorInfo *table = clip_tensor_table_new (&model->config, &model->w, &n);
  for (int l = 0; l < model_config.vision.layers; l++)
    {
      const char *norms[] = { "layer_norm1", "layer_norm2" };
      const char *const products[][3] = { { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj" },
                                          { "mlp.fc1", NULL, NULL } };
      for (int j = 0; j < 2; j++)
        {
          g_autofree char *weight = g_strdup_printf ("vision_model.encoder.layers.%d.%s.weight", l, norms[j]);
          g_autofree char *bias = g_strdup_printf ("vision_model.encoder.layers.%d.%s.bias", l, norms[j]);
          scale_column (table, n, weight, 0, 1000.0f);
          scale_column (table, n, bias, 0, 1000.0f);
          for (int k = 0; k < 3 && products[j][k] != NULL; k++)
            {
              g_autofree char *name = g_strdup_printf ("vision_model.encoder.layers.%d.%s.weight", l, products[j][k]);
              scale_column (table, n, name, 0, 0.001f);
            }
        }
    }
  clip_tensor_table_free (table, n);
  return saved_model (model, "outlier-model.safetensors");
}

/* The worst int8 cosine cached for a model (the only int8-cosine key of the cache under HOME that
 * is not in KNOWN), or a negative value. */
static double
new_int8_cosine (const char *home, GHashTable *known)
{
  g_autofree char *path = g_build_filename (home, "cliplab", "kernels.ini", NULL);
  g_autoptr (GKeyFile) file = g_key_file_new ();
  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, NULL))
    return -1;
  g_auto (GStrv) groups = g_key_file_get_groups (file, NULL);
  for (char **g = groups; *g != NULL; g++)
    {
      g_auto (GStrv) keys = g_key_file_get_keys (file, *g, NULL, NULL);
      for (char **k = keys; *k != NULL; k++)
        if (g_str_has_prefix (*k, "int8-cosine-") && !g_hash_table_contains (known, *k))
          {
            g_hash_table_add (known, g_strdup (*k));
            g_autofree char *value = g_key_file_get_string (file, *g, *k, NULL);
            return g_ascii_strtod (value, NULL);
          }
    }
  return -1;
}

static ClipPrecision
auto_load (const char *path)
{
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.precision = CLIP_PRECISION_AUTO;
  GError *error = NULL;
  g_autoptr (ClipModel) model = clip_model_load (path, &options, &error);
  g_assert_no_error (error);
  return clip_model_get_precision (model);
}

/* AUTO for a model where int8 ranks first: int8 when the model's int8 embeddings keep a cosine of
 * 0.995 to its float32 ones (checked once, the worst cosine cached per model), else the next in
 * the ranking; a model with an outlier channel falls back. */
static void
test_auto_model (void)
{
  if (clip_isa_best (CLIP_REDUCED_INT8) < CLIP_ISA_AVX2)
    {
      g_test_skip ("no vector int8 kernel on this CPU: AUTO never times int8");
      return;
    }
  if (g_test_subprocess ())
    {
      const char *home = g_getenv ("XDG_CACHE_HOME");
      g_autofree char *key = ranking_key ();
      gboolean bf16 = clip_isa_best (CLIP_REDUCED_BF16) >= CLIP_ISA_AVX512;
      ClipPrecision fallback = bf16 ? CLIP_PRECISION_BF16 : CLIP_PRECISION_F32;
      clip_choice_store (key, bf16 ? "int8,bf16,f32" : "int8,f32");
      g_autoptr (GHashTable) known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_autofree char *plain = model_path ();
      ClipPrecision precision = auto_load (plain);
      double cosine = new_int8_cosine (home, known);
      g_printerr ("random model: int8 cosine %.6f, auto %s\n", cosine, clip_precision_name (precision));
      g_assert_cmpfloat (cosine, >, 0.0);
      g_assert_cmpfloat (cosine, <=, 1.0 + 1e-6);
      g_assert_cmpint (precision, ==, cosine >= 0.995 ? CLIP_PRECISION_INT8 : fallback);
      /* Known now: loaded again, nothing is probed or cached anew. */
      g_assert_cmpint (auto_load (plain), ==, precision);
      g_assert_cmpfloat (new_int8_cosine (home, known), <, 0.0);

      g_autofree char *outliers = outlier_model_path ();
      ClipPrecision outlier_precision = auto_load (outliers);
      double outlier_cosine = new_int8_cosine (home, known);
      g_printerr ("outlier model: int8 cosine %.6f, auto %s\n", outlier_cosine, clip_precision_name (outlier_precision));
      g_assert_cmpfloat (outlier_cosine, >, -1.0);
      g_assert_cmpfloat (outlier_cosine, <, 0.995);
      g_assert_cmpfloat (outlier_cosine, <, cosine);
      g_assert_cmpint (outlier_precision, ==, fallback);
      return;
    }
  g_autofree char *home = run_child ("auto-model");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/kernel-choice/measured-and-cached", test_measured_and_cached);
  g_test_add_func ("/kernel-choice/stale-version", test_stale_version);
  g_test_add_func ("/kernel-choice/one-copy", test_one_copy);
  g_test_add_func ("/kernel-choice/forced", test_forced);
  g_test_add_func ("/kernel-choice/unwritable", test_unwritable);
  g_test_add_func ("/kernel-choice/model-passes", test_model_passes);
  g_test_add_func ("/kernel-choice/auto", test_auto);
  g_test_add_func ("/kernel-choice/auto-model", test_auto_model);
  g_test_add_func ("/kernel-choice/abort-timing", test_abort_timing);
  return g_test_run ();
}
