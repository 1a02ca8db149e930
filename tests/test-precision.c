/* Reduced precision on the ViT-B/32 golden weights: the embeddings of the golden images and prompts
 * at bf16 and int8 against float32's, by cosine (bf16 ≥ 0.999, int8 ≥ 0.995; the worst and the mean
 * are printed), on every kernel this CPU runs (each named as skipped otherwise; test-reduced checks
 * the kernels against their references on small shapes).  And the plumbing: F32 matches the golden
 * reference on both float32 kernels, names parse, AUTO resolves. */
#include "golden.h"
#include "clip-testing.h"
#include "index-private.h"
#include "ops-reduced.h"
#include "ops.h"

#include <math.h>

#define DET "golden/models/vitb32_detweights/"
#define N_IMAGES 3
#define N_TEXTS 3
#define EMBED 512

static char *weights_path;

typedef struct {
  float image[N_IMAGES * EMBED], text[N_TEXTS * EMBED];
} Embeddings;

/* Loads the model at PRECISION and encodes the golden images and prompts into E. */
static ClipModel *
encode (ClipPrecision precision, Embeddings *e)
{
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.precision = precision;
  GError *error = NULL;
  ClipModel *model = clip_model_load (weights_path, &options, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_model_get_precision (model), ==, precision);
  g_assert_null (clip_model_get_kernel (model, CLIP_PRODUCT_VISION_MLP_UP));

  g_autofree float *pixels = g_new (float, N_IMAGES * 3 * 224 * 224);
  clip_detweights_fill ("input.pixel_values", pixels, N_IMAGES * 3 * 224 * 224);
  g_autoptr (ClipSafetensors) ref = golden_open (DET "reference.safetensors");
  int64_t n_ids;
  const int32_t *ids = golden_i32 (ref, "input.input_ids", &n_ids);
  g_assert_cmpint (n_ids, ==, N_TEXTS * 77);
  g_assert_true (clip_model_encode_images (model, pixels, N_IMAGES, e->image, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (clip_model_encode_token_ids (model, ids, N_TEXTS, 77, e->text, NULL, &error));
  g_assert_no_error (error);
  for (ClipProduct p = 0; p < CLIP_N_PRODUCTS; p++)
    g_assert_nonnull (clip_model_get_kernel (model, p));
  g_test_message ("%s on %s: kernel %s", clip_precision_name (precision), clip_cpu_model_name (),
                  clip_model_get_kernel (model, CLIP_PRODUCT_VISION_MLP_UP));
  return model;
}

/* Cosines of the rows of GOT and WANT (unit rows): the worst must reach BOUND. */
static void
check_cosines (const char *what, const float *got, const float *want, int n, double bound)
{
  double worst = 1, sum = 0;
  for (int i = 0; i < n; i++)
    {
      double dot = 0;
      for (int j = 0; j < EMBED; j++)
        dot += (double) got[i * EMBED + j] * want[i * EMBED + j];
      worst = MIN (worst, dot);
      sum += dot;
    }
  g_test_message ("%s: cosine to f32 worst %.6f, mean %.6f over %d", what, worst, sum / n, n);
  if (!(worst >= bound))
    g_error ("%s: worst cosine to f32 %.6f is below %.4f", what, worst, bound);
}

static Embeddings f32;

typedef struct {
  ClipPrecision precision;
  ClipIsa       isa;
} Variant;

/* The whole model at PRECISION on one kernel (CLIPLAB_KERNEL_ISA caps the choice at it). */
static void
test_variant (gconstpointer data)
{
  const Variant *v = data;
  ClipReducedFormat format = v->precision == CLIP_PRECISION_BF16 ? CLIP_REDUCED_BF16 : CLIP_REDUCED_INT8;
  const char *kernel = clip_isa_kernel_name (format, v->isa);
  if (!clip_isa_supported (format, v->isa))
    {
      g_autofree char *why = g_strdup_printf ("%s: this CPU (or its operating system) lacks the instruction set", kernel);
      g_test_skip (why);
      return;
    }
  static const char *const limits[CLIP_ISA_COUNT] = { "portable", "avx2", "avx-vnni", "avx512", "amx" };
  g_setenv ("CLIPLAB_KERNEL_ISA", limits[v->isa], TRUE);
  Embeddings *e = g_new (Embeddings, 1);
  ClipModel *model = encode (v->precision, e);
  g_assert_cmpstr (clip_model_get_kernel (model, CLIP_PRODUCT_VISION_MLP_UP), ==, kernel);
  g_assert_cmpstr (clip_model_get_kernel (model, CLIP_PRODUCT_TEXT_QKV), ==, kernel);
  clip_model_free (model);
  g_unsetenv ("CLIPLAB_KERNEL_ISA");
  double bound = v->precision == CLIP_PRECISION_BF16 ? 0.999 : 0.995;
  g_autofree char *images = g_strdup_printf ("%s images", kernel);
  g_autofree char *texts = g_strdup_printf ("%s prompts", kernel);
  check_cosines (images, e->image, f32.image, N_IMAGES, bound);
  check_cosines (texts, e->text, f32.text, N_TEXTS, bound);
  /* Not float32 in disguise: rounding moved the embeddings. */
  g_assert_cmpint (memcmp (e->image, f32.image, sizeof f32.image), !=, 0);
  /* int8's sums are exact int32s, so every kernel gives the same embeddings, bit for bit (a store
   * past the rows of a chunk once moved one kernel's image cosines from 0.99987 to 0.9973, still
   * above the bound). */
  static Embeddings *int8_first;
  static const char *int8_first_kernel;
  if (v->precision == CLIP_PRECISION_INT8 && int8_first == NULL)
    {
      int8_first = g_steal_pointer (&e);
      int8_first_kernel = kernel;
    }
  else if (v->precision == CLIP_PRECISION_INT8
           && (memcmp (e->image, int8_first->image, sizeof f32.image) != 0
               || memcmp (e->text, int8_first->text, sizeof f32.text) != 0))
    g_error ("%s: the int8 embeddings differ from %s's", kernel, int8_first_kernel);
  g_free (e);
}

/* F32 on either kernel kernel-choice.c may pick matches the golden reference. */
static void
test_f32_kernels (void)
{
  static const char *const kernels[] = { "panels", "openblas" };
  g_autoptr (ClipSafetensors) ref = golden_open (DET "reference.safetensors");
  int64_t n;
  g_autofree float *want_image = golden_floats (ref, "image_embeds", &n);
  g_assert_cmpint (n, ==, N_IMAGES * EMBED);
  g_autofree float *want_text = golden_floats (ref, "text_embeds", &n);
  for (guint i = 0; i < G_N_ELEMENTS (kernels); i++)
    {
      g_setenv ("CLIPLAB_F32_KERNEL", kernels[i], TRUE);
      Embeddings *e = g_new (Embeddings, 1);
      ClipModel *model = encode (CLIP_PRECISION_F32, e);
      g_assert_cmpstr (clip_model_get_kernel (model, CLIP_PRODUCT_VISION_MLP_UP), ==,
                       i == 0 ? clip_packed_kernel_name () : "openblas");
      clip_model_free (model);
      g_unsetenv ("CLIPLAB_F32_KERNEL");
      tu_assert_close_rel (kernels[i], e->image, want_image, N_IMAGES * EMBED, 1e-5);
      tu_assert_close_rel (kernels[i], e->text, want_text, N_TEXTS * EMBED, 1e-5);
      g_free (e);
    }
}

/* Resident memory of this process in MB (VmRSS). */
static double
resident_mb (void)
{
  g_autofree char *status = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  const char *line = strstr (status, "VmRSS:");
  g_assert_nonnull (line);
  return g_ascii_strtod (line + strlen ("VmRSS:"), NULL) / 1024.0;
}

/* At PRECISION, the model at PATH keeps one copy of its matrices (the panels): the pages of the
 * float32 originals go once they are packed (resident memory drops by at least DROP_MB), and come
 * back, the same, for whatever reads the weights as floats (the index key), read again from the
 * file.  Returns the model, its originals back. */
static ClipModel *
check_one_copy (const char *path, ClipPrecision precision, double drop_mb)
{
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.precision = precision;
  GError *error = NULL;
  ClipModel *model = clip_model_load (path, &options, &error);
  g_assert_no_error (error);
  uint8_t key_before[CLIP_INDEX_KEY_BYTES], key_after[CLIP_INDEX_KEY_BYTES];
  clip_index_model_key (model, FALSE, FALSE, key_before);
  double loaded = resident_mb ();

  g_autofree float *pixels = g_new (float, 3 * 224 * 224);
  clip_detweights_fill ("input.pixel_values", pixels, 3 * 224 * 224);
  float first[EMBED], second[EMBED];
  g_assert_true (clip_model_encode_images (model, pixels, 1, first, NULL, &error));
  g_assert_no_error (error);
  double packed = resident_mb ();
  g_test_message ("%s at %s: %.0f MB resident after loading, %.0f MB after packing", path,
                  clip_precision_name (precision), loaded, packed);
  g_assert_true (model->originals_released);
  g_assert_cmpfloat (packed, <, loaded - drop_mb);

  clip_index_model_key (model, FALSE, FALSE, key_after);
  g_assert_false (model->originals_released);
  g_assert_cmpmem (key_before, sizeof key_before, key_after, sizeof key_after);
  g_assert_true (clip_model_encode_images (model, pixels, 1, second, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (first, sizeof first, second, sizeof second);
  return model;
}

/* An F16 checkpoint converted to float32 at loading and packed at bf16: the matrices' 123 M
 * parameters as floats (490 MB) go, as bf16 panels (245 MB) they come.  And an F32 file at int8
 * (490 MB go, 125 MB come); when the file has changed since loading, the weights come back rounded
 * from the panels instead of from the file. */
static void
test_one_copy (void)
{
  g_autofree char *f16_path = g_build_filename (tu_tmpdir (), "vitb32_f16.safetensors", NULL);
  g_autofree char *f32_path = g_build_filename (tu_tmpdir (), "vitb32_copy.safetensors", NULL);
  GError *error = NULL;
  {
    g_autoptr (ClipModel) f32_model = clip_model_load (weights_path, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (clip_model_save (f32_model, f16_path, CLIP_DTYPE_F16, &error));
    g_assert_true (clip_model_save (f32_model, f32_path, CLIP_DTYPE_F32, &error));
    g_assert_no_error (error);
  }
  clip_model_free (check_one_copy (f16_path, CLIP_PRECISION_BF16, 200));
  clip_model_free (check_one_copy (f32_path, CLIP_PRECISION_INT8, 300));

  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.precision = CLIP_PRECISION_INT8;
  g_autoptr (ClipModel) model = clip_model_load (f32_path, &options, &error);
  g_assert_no_error (error);
  int d = clip_model_get_config (model)->vision.width;
  g_autofree float *original = g_memdup2 (model->w.vision_layers[0].fc1_w, sizeof (float) * d);
  g_autofree float *pixels = g_new0 (float, 3 * 224 * 224);
  float embed[EMBED];
  g_assert_true (clip_model_encode_images (model, pixels, 1, embed, NULL, &error));
  g_assert_true (model->originals_released);
  gsize size = 0;
  g_autofree char *bytes = NULL;
  g_assert_true (g_file_get_contents (f32_path, &bytes, &size, NULL));
  g_autofree char *zeros = g_malloc0 (size);
  g_assert_true (g_file_set_contents (f32_path, zeros, (gssize) size, NULL));
  clip_model_restore_originals (model);
  /* The first output column of fc1: int8 steps of max |w| / 127. */
  const float *rounded = model->w.vision_layers[0].fc1_w;
  float max_abs = 0;
  int nonzero = 0;
  for (int k = 0; k < d; k++)
    max_abs = MAX (max_abs, fabsf (original[k]));
  for (int k = 0; k < d; k++)
    {
      g_assert_cmpfloat (fabsf (rounded[k] - original[k]), <=, max_abs / 254 * 1.001f);
      nonzero += rounded[k] != 0;
    }
  g_assert_cmpint (nonzero, >, d / 2);
}

/* int8 rounds each product's input row to steps of max |x| / 127: a row whose largest value stands
 * far above the rest (the outlier channels of LLM.int8() and SmoothQuant) would lose the rest to
 * that step.  Measured here on the inputs of the vision tower's Q, K, V products (LayerNorm of each
 * block's input): the worst max |x| / rms of a row, layer by layer. */
static void
test_outliers (void)
{
  GError *error = NULL;
  g_autoptr (ClipModel) model = clip_model_load (weights_path, NULL, &error);
  g_assert_no_error (error);
  const ClipConfig *c = clip_model_get_config (model);
  int layers = c->vision.layers, d = c->vision.width, t = 50;
  g_autofree float *pixels = g_new (float, N_IMAGES * 3 * 224 * 224);
  clip_detweights_fill ("input.pixel_values", pixels, N_IMAGES * 3 * 224 * 224);
  g_autofree float **hidden = g_new0 (float *, layers + 1);
  for (int l = 0; l < layers; l++)
    hidden[l] = g_new (float, (size_t) N_IMAGES * t * d);
  ClipTowerTrace trace = { .hidden = hidden };
  float features[N_IMAGES * EMBED];
  g_assert_true (clip_vision_forward (model, pixels, N_IMAGES, features, &trace, NULL, &error));
  g_assert_no_error (error);
  g_autofree float *ln = g_new (float, (size_t) N_IMAGES * t * d);
  g_autoptr (GString) ratios = g_string_new (NULL);
  double worst = 0;
  for (int l = 0; l < layers; l++)
    {
      const ClipLayerWeights *lw = &model->w.vision_layers[l];
      clip_layernorm_forward (ln, NULL, NULL, hidden[l], lw->ln1_w, lw->ln1_b, N_IMAGES * t, d, c->vision.ln_eps);
      double layer_worst = 0;
      for (int r = 0; r < N_IMAGES * t; r++)
        {
          double max_abs = 0, squares = 0;
          for (int j = 0; j < d; j++)
            {
              double x = ln[(size_t) r * d + j];
              max_abs = MAX (max_abs, fabs (x));
              squares += x * x;
            }
          layer_worst = MAX (layer_worst, max_abs / sqrt (squares / d));
        }
      g_string_append_printf (ratios, " %.1f", layer_worst);
      worst = MAX (worst, layer_worst);
      g_free (hidden[l]);
    }
  g_test_message ("vision Q/K/V inputs, worst max|x|/rms per layer:%s", ratios->str);
  /* Gaussian-like rows of 768 reach about 3.5; outlier channels reach 20 and more (LLM.int8()). */
  g_assert_cmpfloat (worst, >, 1.0);
  g_assert_cmpfloat (worst, <, 20.0);
}

static void
test_names (void)
{
  ClipPrecision p;
  for (ClipPrecision q = CLIP_PRECISION_F32; q <= CLIP_PRECISION_AUTO; q++)
    {
      g_assert_true (clip_precision_from_name (clip_precision_name (q), &p));
      g_assert_cmpint (p, ==, q);
    }
  g_assert_false (clip_precision_from_name ("fp8", &p));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  weights_path = g_build_filename (tu_tmpdir (), "vitb32_detweights.safetensors", NULL);
  GError *error = NULL;
  g_assert_true (clip_detweights_write (weights_path, &error));
  g_assert_no_error (error);
  g_unsetenv ("CLIPLAB_KERNEL_ISA");
  clip_model_free (encode (CLIP_PRECISION_F32, &f32));
  g_test_add_func ("/precision/names", test_names);
  g_test_add_func ("/precision/f32-kernels", test_f32_kernels);
  g_test_add_func ("/precision/one-copy", test_one_copy);
  g_test_add_func ("/precision/outliers", test_outliers);
  static Variant variants[2 * CLIP_ISA_COUNT];
  int n_variants = 0;
  for (int isa = CLIP_ISA_COUNT - 1; isa >= 0; isa--)
    for (ClipPrecision p = CLIP_PRECISION_BF16; p <= CLIP_PRECISION_INT8; p++)
      {
        ClipReducedFormat format = p == CLIP_PRECISION_BF16 ? CLIP_REDUCED_BF16 : CLIP_REDUCED_INT8;
        if (clip_isa_kernel_name (format, isa) == NULL)
          continue;
        variants[n_variants] = (Variant) { p, isa };
        g_autofree char *path = g_strdup_printf ("/precision/%s", clip_isa_kernel_name (format, isa));
        g_test_add_data_func (path, &variants[n_variants++], test_variant);
      }
  int status = g_test_run ();
  g_free (weights_path);
  return status;
}
