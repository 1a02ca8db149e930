/* cmd-bench.c — `cliplab-cli bench`: inference speed and memory of a model, as medians of repeated
 * runs, beside the time OpenBLAS takes for its matrix products alone (the "GEMM bound"). */
#include "cli-common.h"
#include "clip-testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BENCH_BATCH 16
#define BENCH_SHORT_PROMPT "a photo of a cat"
#define BENCH_CLASS_NAME "golden retriever"
#define BENCH_GOLDEN_IMAGES 3

typedef struct {
  ClipPrecision precision;
  /* Of one image's pass and of a batch's (float32 chooses one kernel per regime). */
  const char   *kernels[CLIP_N_PRODUCTS], *kernels_batch[CLIP_N_PRODUCTS];
  /* The embeddings of the golden images and the prompts (short one first) at this precision, the
   * prompts' token ids [n_prompts + 1, context], and their worst cosines to float32's. */
  float        *image_embeds, *text_embeds;
  int32_t      *ids;
  int           context;
  double        cosine_image, cosine_text;
  int     threads;
  double  load_ms, first_image_ms, image_b1_ms, image_b16_ms, gemm_b1_ms, gemm_b16_ms, text_short_ms, text_80_ms;
  double  peak_rss_mb, weight_mb;
  int     short_tokens, n_prompts;
  double  prompt_tokens_mean;
} BenchResults;

typedef gboolean (*BenchFunc) (ClipModel *model, gpointer data, GError **error);

static int
bench_compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* One figure: FUNC (MODEL, DATA) timed; *MS receives the median, divided by PER. */
typedef struct {
  BenchFunc func;
  gpointer  data;
  double    per;
  double   *ms;
} BenchFigure;

/* Times FIGURES in turn, RUNS times after one untimed round (which pages the weights in and sizes
 * the scratch buffers), and keeps the median wall time of each, in milliseconds.  The figures of one
 * call share the machine's ups and downs, which keeps their ratio meaningful on a busy machine (the
 * two GEMM bounds); separate calls repeat one workload back to back, as the peers' scripts do: a
 * single image, for one, runs markedly faster right after another single image than after other
 * work, whose memory traffic has evicted its weights' page tables from the caches. */
static gboolean
bench_figures (ClipModel *model, const BenchFigure *figures, int n_figures, int runs, GError **error)
{
  g_autofree double *times = g_new (double, (size_t) n_figures * runs);
  for (int round = -1; round < runs; round++)
    for (int f = 0; f < n_figures; f++)
      {
        gint64 start = g_get_monotonic_time ();
        if (!figures[f].func (model, figures[f].data, error))
          return FALSE;
        if (round >= 0)
          times[(size_t) f * runs + round] = (g_get_monotonic_time () - start) / 1000.0;
      }
  for (int f = 0; f < n_figures; f++)
    {
      double *t = times + (size_t) f * runs;
      qsort (t, runs, sizeof (double), bench_compare_doubles);
      *figures[f].ms = (runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2) / figures[f].per;
    }
  return TRUE;
}

typedef struct {
  const float *pixels;
  int          n;
  float       *embeds;
} BenchImages;

static gboolean
bench_encode_images (ClipModel *model, gpointer data, GError **error)
{
  BenchImages *b = data;
  return clip_model_encode_images (model, b->pixels, b->n, b->embeds, NULL, error);
}

static gboolean
bench_image_gemms (ClipModel *model, gpointer data, GError **error)
{
  return clip_model_run_image_gemms (model, ((BenchImages *) data)->n, error);
}

/* Token ids rather than texts: clip_model_encode_texts would answer repeats from its cache. */
typedef struct {
  const int32_t *ids;
  int            n, row_len;
  float         *embeds;
} BenchTexts;

static gboolean
bench_encode_token_ids (ClipModel *model, gpointer data, GError **error)
{
  BenchTexts *b = data;
  return clip_model_encode_token_ids (model, b->ids, b->n, b->row_len, b->embeds, NULL, error);
}

/* The median time of loading the model RUNS times; *MODEL receives the last one. */
static gboolean
bench_load (const CliModelOptions *options, int runs, ClipModel **model, double *ms, GError **error)
{
  g_autofree double *times = g_new (double, runs);
  for (int i = 0; i < runs; i++)
    {
      g_clear_pointer (model, clip_model_free);
      gint64 start = g_get_monotonic_time ();
      *model = cli_model_load (options, error);
      if (*model == NULL)
        return FALSE;
      times[i] = (g_get_monotonic_time () - start) / 1000.0;
    }
  qsort (times, runs, sizeof (double), bench_compare_doubles);
  *ms = times[runs / 2];
  return TRUE;
}

/* IDS [n, context] for TEXTS; returns the mean number of tokens per prompt (SOT and EOT included). */
static double
bench_tokenize (ClipTokenizer *tokenizer, const char *const *texts, int n, int context, int32_t *ids)
{
  double tokens = 0;
  for (int i = 0; i < n; i++)
    tokens += clip_tokenizer_encode (tokenizer, texts[i], context, ids + (size_t) i * context);
  return tokens / n;
}

/* The golden images (the first BENCH_GOLDEN_IMAGES of PIXELS) and the N_TEXTS prompts of IDS,
 * encoded into new arrays. */
static gboolean
bench_encode_golden (ClipModel *model, const float *pixels, const int32_t *ids, int n_texts, int context,
                     float **image_embeds, float **text_embeds, GError **error)
{
  int e = clip_model_get_config (model)->embed_dim;
  *image_embeds = g_new (float, (size_t) BENCH_GOLDEN_IMAGES * e);
  *text_embeds = g_new (float, (size_t) n_texts * e);
  return clip_model_encode_images (model, pixels, BENCH_GOLDEN_IMAGES, *image_embeds, NULL, error)
         && clip_model_encode_token_ids (model, ids, n_texts, context, *text_embeds, NULL, error);
}

static gboolean
bench_run (const CliModelOptions *options, int runs, BenchResults *r, GError **error)
{
  g_autoptr (ClipModel) model = NULL;
  if (!bench_load (options, 3, &model, &r->load_ms, error))
    return FALSE;
  const ClipConfig *c = clip_model_get_config (model);
  ClipTokenizer *tokenizer = clip_model_get_tokenizer (model);
  if (tokenizer == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING,
                   "%s: the model has no tokenizer; give one with --tokenizer (the text figures need "
                   "real prompt lengths)", options->model_path);
      return FALSE;
    }
  r->threads = clip_get_threads ();
  r->weight_mb = clip_model_get_n_params (model) * 4 / 1e6;

  /* The golden test images (3 of them, repeated as the peers repeat them). */
  size_t image_floats = (size_t) 3 * c->image_size * c->image_size;
  g_autofree float *pixels = g_new (float, image_floats * BENCH_BATCH);
  clip_detweights_fill ("input.pixel_values", pixels, 3 * image_floats);
  for (int i = 3; i < BENCH_BATCH; i++)
    memcpy (pixels + i * image_floats, pixels + (i % 3) * image_floats, image_floats * sizeof (float));

  int n_templates;
  const char *const *templates = clip_templates_builtin ("imagenet80", &n_templates);
  g_autoptr (GPtrArray) prompts = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < n_templates; i++)
    {
      g_auto (GStrv) parts = g_strsplit (templates[i], "{}", 2);
      g_ptr_array_add (prompts, g_strjoinv (BENCH_CLASS_NAME, parts));
    }
  r->n_prompts = prompts->len;
  int ctx = c->context_length;
  g_autofree int32_t *ids = g_new0 (int32_t, (size_t) (r->n_prompts + 1) * ctx);
  r->short_tokens = clip_tokenizer_encode (tokenizer, BENCH_SHORT_PROMPT, ctx, ids);
  r->prompt_tokens_mean = bench_tokenize (tokenizer, (const char *const *) prompts->pdata, r->n_prompts, ctx,
                                          ids + ctx);
  g_autofree float *embeds = g_new (float, (size_t) MAX (BENCH_BATCH, r->n_prompts) * c->embed_dim);

  BenchImages one = { pixels, 1, embeds }, batch = { pixels, BENCH_BATCH, embeds };
  /* The first image after loading also pays for repacking the weights for inference. */
  gint64 first_start = g_get_monotonic_time ();
  if (!bench_encode_images (model, &one, error))
    return FALSE;
  r->first_image_ms = (g_get_monotonic_time () - first_start) / 1000.0;
  BenchTexts short_text = { ids, 1, ctx, embeds }, prompt_texts = { ids + ctx, r->n_prompts, ctx, embeds };
  const BenchFigure b1[] = { { bench_encode_images, &one, 1, &r->image_b1_ms } };
  const BenchFigure b16[] = { { bench_encode_images, &batch, BENCH_BATCH, &r->image_b16_ms } };
  const BenchFigure text_short[] = { { bench_encode_token_ids, &short_text, 1, &r->text_short_ms } };
  const BenchFigure text_80[] = { { bench_encode_token_ids, &prompt_texts, r->n_prompts, &r->text_80_ms } };
  const BenchFigure gemms[] = {
    { bench_image_gemms, &one, 1, &r->gemm_b1_ms },
    { bench_image_gemms, &batch, BENCH_BATCH, &r->gemm_b16_ms },
  };
  if (!bench_figures (model, b1, G_N_ELEMENTS (b1), runs, error))
    return FALSE;
  for (int p = 0; p < CLIP_N_PRODUCTS; p++)
    r->kernels[p] = clip_model_get_kernel (model, p);
  if (!bench_figures (model, b16, G_N_ELEMENTS (b16), runs, error))
    return FALSE;
  for (int p = 0; p < CLIP_N_PRODUCTS; p++)
    r->kernels_batch[p] = clip_model_get_kernel (model, p);
  if (!bench_figures (model, text_short, G_N_ELEMENTS (text_short), runs, error)
      || !bench_figures (model, text_80, G_N_ELEMENTS (text_80), runs, error))
    return FALSE;

  /* Inference's peak, before the GEMM bound reads the file's original weights back in. */
  struct rusage usage;
  getrusage (RUSAGE_SELF, &usage);
  r->peak_rss_mb = usage.ru_maxrss * 1024.0 / 1e6;  /* ru_maxrss is in KiB */
  r->precision = clip_model_get_precision (model);
  r->context = ctx;
  r->ids = g_steal_pointer (&ids);
  if (!bench_encode_golden (model, pixels, r->ids, r->n_prompts + 1, ctx, &r->image_embeds, &r->text_embeds, error))
    return FALSE;
  return bench_figures (model, gemms, G_N_ELEMENTS (gemms), runs, error);
}

/* The golden images and the prompts encoded again at float32, and the cosines to R's embeddings. */
static gboolean
bench_cosines_to_f32 (const CliModelOptions *options, BenchResults *r, GError **error)
{
  r->cosine_image = r->cosine_text = 1;
  if (r->precision == CLIP_PRECISION_F32)
    return TRUE;
  CliModelOptions f32_options = *options;
  f32_options.precision = (char *) "f32";
  g_autoptr (ClipModel) model = cli_model_load (&f32_options, error);
  if (model == NULL)
    return FALSE;
  const ClipConfig *c = clip_model_get_config (model);
  size_t image_floats = (size_t) 3 * c->image_size * c->image_size;
  g_autofree float *pixels = g_new (float, image_floats * BENCH_GOLDEN_IMAGES);
  clip_detweights_fill ("input.pixel_values", pixels, BENCH_GOLDEN_IMAGES * image_floats);
  g_autofree float *image_embeds = NULL, *text_embeds = NULL;
  if (!bench_encode_golden (model, pixels, r->ids, r->n_prompts + 1, r->context, &image_embeds, &text_embeds, error))
    return FALSE;
  r->cosine_image = clip_embeddings_worst_cosine (image_embeds, r->image_embeds, BENCH_GOLDEN_IMAGES, c->embed_dim);
  r->cosine_text = clip_embeddings_worst_cosine (text_embeds, r->text_embeds, r->n_prompts + 1, c->embed_dim);
  return TRUE;
}

static void
bench_results_clear (BenchResults *r)
{
  g_clear_pointer (&r->image_embeds, g_free);
  g_clear_pointer (&r->text_embeds, g_free);
  g_clear_pointer (&r->ids, g_free);
}

static void
bench_print_json (const BenchResults *r)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  cli_json_add_double (builder, "image_b1_ms", r->image_b1_ms);
  cli_json_add_double (builder, "image_b16_ms_per_image", r->image_b16_ms);
  cli_json_add_double (builder, "text_short_ms", r->text_short_ms);
  cli_json_add_double (builder, "text_80_ms_per_prompt", r->text_80_ms);
  cli_json_add_double (builder, "gemm_bound_b16_ms_per_image", r->gemm_b16_ms);
  cli_json_add_double (builder, "gemm_bound_b1_ms", r->gemm_b1_ms);
  cli_json_add_double (builder, "peak_rss_mb", r->peak_rss_mb);
  cli_json_add_double (builder, "load_ms", r->load_ms);
  cli_json_add_double (builder, "first_image_ms", r->first_image_ms);
  cli_json_add_int (builder, "threads", r->threads);
  cli_json_add_string (builder, "precision", clip_precision_name (r->precision));
  for (int regime = 0; regime < 2; regime++)
    {
      json_builder_set_member_name (builder, regime == 0 ? "kernels" : "kernels_batch");
      json_builder_begin_object (builder);
      for (int p = 0; p < CLIP_N_PRODUCTS; p++)
        cli_json_add_string (builder, clip_product_name (p), (regime == 0 ? r->kernels : r->kernels_batch)[p]);
      json_builder_end_object (builder);
    }
  cli_json_add_string (builder, "cpu", clip_cpu_model_name ());
  cli_json_add_double (builder, "cosine_image_vs_f32", r->cosine_image);
  cli_json_add_double (builder, "cosine_text_vs_f32", r->cosine_text);
  json_builder_end_object (builder);
  cli_json_print_line (builder);
}

static void
bench_print_text (const BenchResults *r)
{
  printf ("%-18s %s\n", "CPU", clip_cpu_model_name ());
  printf ("%-18s %d\n", "threads", r->threads);
  printf ("%-18s %s (products on %s for one image, %s for a batch; worst cosine to f32: images %.6f, "
          "prompts %.6f)\n", "precision", clip_precision_name (r->precision), r->kernels[CLIP_PRODUCT_VISION_MLP_UP],
          r->kernels_batch[CLIP_PRODUCT_VISION_MLP_UP], r->cosine_image, r->cosine_text);
  printf ("%-18s %.1f ms\n", "load", r->load_ms);
  printf ("%-18s %.1f ms (repacks the weights for inference)\n", "first image", r->first_image_ms);
  printf ("%-18s %.1f ms\n", "image, batch 1", r->image_b1_ms);
  printf ("%-18s %.1f ms (the forward pass takes %.2f × that)\n", "GEMM bound, 1", r->gemm_b1_ms,
          r->image_b1_ms / r->gemm_b1_ms);
  printf ("%-18s %.1f ms per image\n", "image, batch 16", r->image_b16_ms);
  printf ("%-18s %.1f ms per image (the forward pass takes %.2f × that)\n", "GEMM bound, 16",
          r->gemm_b16_ms, r->image_b16_ms / r->gemm_b16_ms);
  printf ("%-18s %.2f ms (\"%s\", %d tokens)\n", "text, 1 prompt", r->text_short_ms, BENCH_SHORT_PROMPT,
          r->short_tokens);
  printf ("%-18s %.3f ms per prompt (ImageNet templates with \"%s\", %.1f tokens on average)\n",
          "text, 80 prompts", r->text_80_ms, BENCH_CLASS_NAME, r->prompt_tokens_mean);
  printf ("%-18s %.0f MB (%.2f × the %.0f MB of F32 weights)\n", "peak resident", r->peak_rss_mb,
          r->peak_rss_mb / r->weight_mb, r->weight_mb);
}

int
cli_cmd_bench (int argc, char **argv)
{
  g_auto (CliModelOptions) model_options;
  cli_model_options_init (&model_options);
  gboolean json = FALSE;
  int runs = 5;
  g_autofree char *detweights = NULL;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "Timed runs per figure; the median is reported (default 5)", "N" },
    { "detweights", 0, 0, G_OPTION_ARG_FILENAME, &detweights,
      "Write the deterministic ViT-B/32 weights of the golden tests to FILE (about 600 MB) and exit", "FILE" },
    G_OPTION_ENTRY_NULL
  };

  g_autoptr (GOptionContext) context = cli_option_context_new (
    "bench", "", "Time a model's inference: loading, the first image (which repacks the weights), one "
    "image, a batch of 16, one short prompt and 80 prompts of real length (token ids, so the text cache "
    "does not answer), and the peak resident memory; then OpenBLAS's time for the same matrix products on "
    "the weights as stored (the GEMM bound), for one image and for 16.  Each figure is the median of "
    "--runs runs after a warm-up run.  With --precision bf16, int8 or auto, also the worst cosine of the "
    "embeddings of the golden images and of the prompts to float32's.",
    entries, &model_options, NULL);
  cli_option_context_add_precision (context, &model_options);
  if (!cli_option_context_parse (context, "bench", &argc, &argv))
    return 1;

  GError *error = NULL;
  if (detweights != NULL)
    {
      if (!clip_detweights_write (detweights, &error))
        return cli_fail (error);
      return 0;
    }
  if (runs < 1)
    {
      cli_print_error ("bench: --runs %d: expected a positive count", runs);
      return 1;
    }

  BenchResults results = { 0 };
  gboolean ok = bench_run (&model_options, runs, &results, &error)
                && bench_cosines_to_f32 (&model_options, &results, &error);
  if (!ok)
    {
      bench_results_clear (&results);
      return cli_fail (error);
    }
  if (json)
    bench_print_json (&results);
  else
    bench_print_text (&results);
  bench_results_clear (&results);
  return 0;
}
