/* kernel-choice.c — which float32 kernel runs the products of a forward pass on this machine: our
 * panels (clip_packed_linear_forward on weights repacked once) or OpenBLAS's sgemm on the weights as
 * stored.  Neither wins everywhere (the panels were ahead on an AMD Zen 5, OpenBLAS's products 1.35×
 * faster on a Sapphire Rapids Xeon), and the choice is one for the whole pass, not one per shape: on
 * that Xeon, mixing them per shape made a ViT-B/32 pass slower than either kernel alone (85–95 ms
 * for one image against 57 on the panels and 84 on OpenBLAS), as OpenBLAS's threads and our pool's
 * took turns and evicted each other's data.  So the model times a short real pass on each kernel,
 * for one image and for a batch, and the faster per regime is kept in
 * $XDG_CACHE_HOME/cliplab/kernels.ini, under a group naming the CPU model, the panel kernel's
 * build, OpenBLAS's build and core, this library's version and the thread count, and a key naming
 * the model's widths.  A cache that cannot be read or written only means measuring again.
 * CLIPLAB_F32_KERNEL=panels|openblas forces the choice.  The timed passes poll the caller's abort
 * as any pass does: a stopped measurement chooses and caches nothing, and the next pass measures
 * again.
 *
 * AUTO precision ranks float32, bf16 (where the CPU multiplies bfloat16 natively) and int8 (where
 * it has a vector kernel) by timing one product, ViT-B/32's largest (on one Sapphire Rapids
 * virtual machine, VDPBF16PS without AMX was about as fast as float32's panels); whether int8 is
 * accurate enough for a model is checked on the model (precision-auto.c). */
#include "clip-private.h"
#include "kernel-choice.h"
#include "ops.h"
#include "ops-reduced.h"
#include "parallel.h"

#include <cblas.h>
#include <string.h>

/* Not declared by every cblas.h (Debian's OpenBLAS has them in its own). */
char *openblas_get_config (void);
char *openblas_get_corename (void);

/* Rows timed: one ViT-B/32 image (50 tokens) and a batch of 16 of them, weighted per image. */
#define ONE_IMAGE_ROWS 50
#define BATCH_IMAGES 16
#define TIMED_RUNS 3

static GMutex choice_lock;
static GKeyFile *choices;     /* the cache, loaded at the first choice */
static char *choices_group;

static char *
cache_path (void)
{
  return g_build_filename (g_get_user_cache_dir (), "cliplab", "kernels.ini", NULL);
}

typedef struct {
  float       *out;
  const float *inp, *packed;
  int          n, in_dim, out_dim, n_panels, parts;
} TimedPanelJob;

static void
timed_panel_parts (int64_t start, int64_t end, gpointer data)
{
  const TimedPanelJob *j = data;
  for (int64_t part = start; part < end; part++)
    clip_packed_linear_forward (j->out, j->out_dim, j->inp, j->packed, NULL, j->n, j->in_dim, j->out_dim, FALSE,
                                CLIP_PACKED_LINEAR, (int) (j->n_panels * part / j->parts),
                                (int) (j->n_panels * (part + 1) / j->parts));
}

typedef struct {
  const ClipReducedMatrix *m;
  ClipReducedInput        *in;
  float                   *out;
  int                      n_panels, parts;
  const float             *inp;
  int                      in_dim;
} TimedReducedJob;

static void
timed_reduced_parts (int64_t start, int64_t end, gpointer data)
{
  const TimedReducedJob *j = data;
  for (int64_t part = start; part < end; part++)
    clip_reduced_linear_forward (clip_isa_best (j->m->format), &(ClipReducedOutput) { j->out, j->m->out_dim, NULL },
                                 j->in, j->m, NULL, FALSE,
                                 CLIP_PACKED_LINEAR, (int) (j->n_panels * part / j->parts),
                                 (int) (j->n_panels * (part + 1) / j->parts));
}

static void
timed_rounding_rows (int64_t start, int64_t end, gpointer data)
{
  const TimedReducedJob *j = data;
  clip_reduced_input_fill (j->in, j->inp, j->in_dim, (int) start, (int) end);
}

/* Seconds per image of each candidate of AUTO: the fastest of TIMED_RUNS on one image's rows plus
 * the fastest on a batch's over BATCH_IMAGES; the kernels interleaved, so that all see the same
 * moments of a busy machine.  float32 is the faster of our panels and (WITH_BLAS) OpenBLAS; each
 * reduced precision, when timed, runs on this CPU's best kernel, rounding the inputs included. */
typedef struct {
  double f32, reduced[2];   /* [CLIP_REDUCED_BF16], [CLIP_REDUCED_INT8]; G_MAXDOUBLE when not timed */
} Timings;

static double
seconds_since (gint64 start)
{
  return (g_get_monotonic_time () - start) / 1e6;
}

static void
time_kernels (const float *inp, const float *weight, const float *packed, ClipReducedMatrix *const reduced[2],
              gboolean with_blas, float *out, int in_dim, int out_dim, Timings *t)
{
  int n_panels = (out_dim + CLIP_PANEL - 1) / CLIP_PANEL, parts = MIN (n_panels, 2 * clip_get_threads ());
  *t = (Timings) { 0 };
  for (int batch = 0; batch < 2; batch++)
    {
      int n = batch ? ONE_IMAGE_ROWS * BATCH_IMAGES : ONE_IMAGE_ROWS;
      double per = batch ? BATCH_IMAGES : 1, f32 = G_MAXDOUBLE, best[2] = { G_MAXDOUBLE, G_MAXDOUBLE };
      TimedPanelJob job = { out, inp, packed, n, in_dim, out_dim, n_panels, parts };
      ClipReducedInput in[2];
      void *memory[2] = { NULL, NULL };
      for (int f = 0; f < 2; f++)
        if (reduced[f] != NULL)
          memory[f] = g_aligned_alloc (clip_reduced_input_bytes (f, n, in_dim), 1, 64);
      for (int run = 0; run < TIMED_RUNS; run++)
        {
          gint64 start = g_get_monotonic_time ();
          clip_parallel_for (job.parts, 1, timed_panel_parts, &job);
          f32 = MIN (f32, seconds_since (start));
          if (with_blas)
            {
              start = g_get_monotonic_time ();
              clip_matmul_forward (out, inp, weight, n, in_dim, out_dim, FALSE);
              f32 = MIN (f32, seconds_since (start));
            }
          for (int f = 0; f < 2; f++)
            if (reduced[f] != NULL)
              {
                TimedReducedJob reduced_job = { reduced[f], &in[f], out, n_panels, parts, inp, in_dim };
                start = g_get_monotonic_time ();
                clip_reduced_input_init (&in[f], f, n, in_dim, memory[f]);
                clip_parallel_for (n, 64, timed_rounding_rows, &reduced_job);
                clip_parallel_for (parts, 1, timed_reduced_parts, &reduced_job);
                best[f] = MIN (best[f], seconds_since (start));
              }
        }
      for (int f = 0; f < 2; f++)
        g_aligned_free (memory[f]);
      t->f32 += f32 / per;
      for (int f = 0; f < 2; f++)
        t->reduced[f] = reduced[f] != NULL ? t->reduced[f] + best[f] / per : G_MAXDOUBLE;
    }
}

/* Times the kernels on random data of the shape [IN] → [OUT]: float32 (OpenBLAS only WITH_BLAS)
 * and each reduced format whose WITH entry is set. */
static void
measure (int in_dim, int out_dim, const gboolean with[2], gboolean with_blas, Timings *t)
{
  int rows = ONE_IMAGE_ROWS * BATCH_IMAGES;
  GRand *rng = g_rand_new_with_seed (1);
  float *inp = g_new (float, (size_t) rows * in_dim);
  float *weight = g_new (float, (size_t) out_dim * in_dim);
  float *packed = g_new0 (float, clip_packed_floats (in_dim, out_dim));
  float *out = g_new (float, (size_t) rows * out_dim);
  for (size_t i = 0; i < (size_t) rows * in_dim; i++)
    inp[i] = (float) g_rand_double_range (rng, -1, 1);
  for (size_t i = 0; i < (size_t) out_dim * in_dim; i++)
    weight[i] = (float) g_rand_double_range (rng, -1, 1);
  clip_pack_weight (packed, weight, in_dim, out_dim, 0);
  ClipReducedMatrix matrices[2], *reduced[2] = { NULL, NULL };
  void *memory[2] = { NULL, NULL };
  for (int f = 0; f < 2; f++)
    if (with[f])
      {
        memory[f] = g_aligned_alloc (clip_reduced_matrix_bytes (f, in_dim, out_dim), 1, 64);
        clip_reduced_matrix_init (&matrices[f], f, in_dim, out_dim, memory[f]);
        clip_reduced_pack (&matrices[f], weight, out_dim, 0);
        reduced[f] = &matrices[f];
      }
  time_kernels (inp, weight, packed, reduced, with_blas, out, in_dim, out_dim, t);
  for (int f = 0; f < 2; f++)
    g_aligned_free (memory[f]);
  g_free (inp);
  g_free (weight);
  g_free (packed);
  g_free (out);
  g_rand_free (rng);
}

static void
choices_load (void)
{
  if (choices != NULL)
    return;
  choices = g_key_file_new ();
  g_autofree char *path = cache_path ();
  g_key_file_load_from_file (choices, path, G_KEY_FILE_KEEP_COMMENTS, NULL);
  choices_group = g_strdup_printf ("%s | %s | %s | %s | cliplab %s | %d threads", clip_cpu_model_name (),
                                   clip_packed_kernel_name (), openblas_get_config (), openblas_get_corename (),
                                   CLIPLAB_VERSION, clip_get_threads ());
}

/* Best effort: a cache that cannot be written is measured again next time. */
static void
choices_save (void)
{
  g_autofree char *path = cache_path ();
  g_autofree char *dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    return;
  g_key_file_save_to_file (choices, path, NULL);
}

char *
clip_choice_lookup (const char *key)
{
  g_mutex_lock (&choice_lock);
  choices_load ();
  char *value = g_key_file_get_string (choices, choices_group, key, NULL);
  g_mutex_unlock (&choice_lock);
  return value;
}

void
clip_choice_store (const char *key, const char *value)
{
  g_mutex_lock (&choice_lock);
  choices_load ();
  g_key_file_set_string (choices, choices_group, key, value);
  choices_save ();
  g_mutex_unlock (&choice_lock);
}

const char *
clip_f32_kernel_name (ClipF32Kernel kernel)
{
  return kernel == CLIP_F32_OPENBLAS ? "openblas" : "panels";
}

static gboolean
kernel_from_name (const char *name, ClipF32Kernel *kernel)
{
  if (name == NULL || !(g_str_equal (name, "panels") || g_str_equal (name, "openblas")))
    return FALSE;
  *kernel = g_str_equal (name, "openblas") ? CLIP_F32_OPENBLAS : CLIP_F32_PANELS;
  return TRUE;
}

static const char *const regime_names[CLIP_N_PASS_REGIMES] = { "one", "batch" };

static char *
pass_key (const char *shape, ClipPassRegime regime)
{
  return g_strdup_printf ("pass-%s-%s", shape, regime_names[regime]);
}

gboolean
clip_f32_pass_kernels_known (const char *shape, ClipF32Kernel kernels[CLIP_N_PASS_REGIMES])
{
  ClipF32Kernel forced = CLIP_F32_PANELS;
  /* Under an address-space limit too tight for OpenBLAS's buffers, it would retry forever. */
  if (!clip_blas_check_room (NULL) || kernel_from_name (g_getenv ("CLIPLAB_F32_KERNEL"), &forced))
    {
      for (int r = 0; r < CLIP_N_PASS_REGIMES; r++)
        kernels[r] = forced;
      return TRUE;
    }
  g_mutex_lock (&choice_lock);
  choices_load ();
  gboolean known = TRUE;
  for (int r = 0; r < CLIP_N_PASS_REGIMES && known; r++)
    {
      g_autofree char *key = pass_key (shape, r);
      g_autofree char *value = g_key_file_get_string (choices, choices_group, key, NULL);
      known = kernel_from_name (value, &kernels[r]);
    }
  g_mutex_unlock (&choice_lock);
  return known;
}

/* Timed passes per kernel and regime, interleaved, so that both kernels see the same moments of a
 * busy machine; the fastest counts. */
#define TIMED_PASSES 3

/* Regimes that prefer different kernels make the model keep both copies of its weights (twice the
 * memory): only when one kernel for both would cost either regime more than this share of its time. */
#define SECOND_COPY_GAIN 0.10

gboolean
clip_f32_pass_kernels_measure (const char *shape, ClipPassTimer timer, gpointer data,
                               ClipF32Kernel kernels[CLIP_N_PASS_REGIMES])
{
  double best[CLIP_N_PASS_REGIMES][2];
  for (int r = 0; r < CLIP_N_PASS_REGIMES; r++)
    {
      best[r][CLIP_F32_PANELS] = best[r][CLIP_F32_OPENBLAS] = G_MAXDOUBLE;
      for (int run = 0; run < TIMED_PASSES; run++)
        for (int k = 0; k < 2; k++)
          {
            double seconds;
            if (!timer (k, r, data, &seconds))
              return FALSE;   /* stopped: nothing half-measured is chosen or cached */
            best[r][k] = MIN (best[r][k], seconds);
          }
      kernels[r] = best[r][CLIP_F32_OPENBLAS] < best[r][CLIP_F32_PANELS] ? CLIP_F32_OPENBLAS : CLIP_F32_PANELS;
    }
  if (kernels[CLIP_PASS_ONE] != kernels[CLIP_PASS_BATCH])
    {
      /* The cost of running the other regime's kernel in each regime; the smaller one, if small. */
      double loss[CLIP_N_PASS_REGIMES];
      for (int r = 0; r < CLIP_N_PASS_REGIMES; r++)
        loss[r] = best[r][kernels[!r]] / best[r][kernels[r]] - 1;
      int yielding = loss[CLIP_PASS_ONE] < loss[CLIP_PASS_BATCH] ? CLIP_PASS_ONE : CLIP_PASS_BATCH;
      if (loss[yielding] < SECOND_COPY_GAIN)
        kernels[yielding] = kernels[!yielding];
    }
  g_mutex_lock (&choice_lock);
  choices_load ();
  for (int r = 0; r < CLIP_N_PASS_REGIMES; r++)
    {
      g_autofree char *key = pass_key (shape, r);
      g_key_file_set_string (choices, choices_group, key, clip_f32_kernel_name (kernels[r]));
    }
  choices_save ();
  g_mutex_unlock (&choice_lock);
  return TRUE;
}

/* The shape timed for AUTO: ViT-B/32's MLP, the largest share of its products. */
#define AUTO_IN 768
#define AUTO_OUT 3072

/* RANKING ("int8,bf16,f32") as precisions, fastest first; FALSE unless it names one to three of
 * f32, bf16 and int8. */
static gboolean
ranking_parse (const char *ranking, ClipPrecision precisions[3], int *n)
{
  g_auto (GStrv) names = g_strsplit (ranking != NULL ? ranking : "", ",", -1);
  *n = 0;
  for (int i = 0; names[i] != NULL; i++)
    if (*n == 3 || !clip_precision_from_name (names[i], &precisions[(*n)++])
        || precisions[*n - 1] == CLIP_PRECISION_AUTO)
      return FALSE;
  return *n > 0;
}

/* The precisions AUTO can choose on this CPU, fastest first: timed once, cached under the names of
 * the bf16 and int8 kernels.  bf16 is a candidate where the CPU multiplies it natively (AMX or
 * AVX512-BF16: widened on AVX2 alone it saves memory traffic but not arithmetic), int8 wherever it
 * has a vector kernel. */
static void
auto_ranking (ClipPrecision precisions[3], int *n)
{
  ClipIsa isa[2] = { clip_isa_best (CLIP_REDUCED_BF16), clip_isa_best (CLIP_REDUCED_INT8) };
  gboolean with[2] = { isa[CLIP_REDUCED_BF16] >= CLIP_ISA_AVX512, isa[CLIP_REDUCED_INT8] >= CLIP_ISA_AVX2 };
  precisions[0] = CLIP_PRECISION_F32;
  *n = 1;
  if (!with[CLIP_REDUCED_BF16] && !with[CLIP_REDUCED_INT8])
    return;
  g_mutex_lock (&choice_lock);
  choices_load ();
  g_autofree char *key = g_strdup_printf ("auto-%s-%s", clip_isa_kernel_name (CLIP_REDUCED_BF16, isa[0]),
                                          clip_isa_kernel_name (CLIP_REDUCED_INT8, isa[1]));
  g_autofree char *cached = g_key_file_get_string (choices, choices_group, key, NULL);
  if (!ranking_parse (cached, precisions, n))
    {
      Timings t;
      measure (AUTO_IN, AUTO_OUT, with, clip_blas_check_room (NULL), &t);
      double seconds[3] = { [CLIP_PRECISION_F32] = t.f32, [CLIP_PRECISION_BF16] = t.reduced[CLIP_REDUCED_BF16],
                            [CLIP_PRECISION_INT8] = t.reduced[CLIP_REDUCED_INT8] };
      GString *ranking = g_string_new (NULL);
      for (*n = 0; *n < 3; (*n)++)
        {
          int fastest = CLIP_PRECISION_F32;
          for (int p = 0; p < 3; p++)
            fastest = seconds[p] < seconds[fastest] ? p : fastest;
          if (seconds[fastest] == G_MAXDOUBLE)
            break;
          precisions[*n] = fastest;
          g_string_append_printf (ranking, "%s%s", *n > 0 ? "," : "", clip_precision_name (fastest));
          seconds[fastest] = G_MAXDOUBLE;
        }
      g_key_file_set_string (choices, choices_group, key, ranking->str);
      g_string_free (ranking, TRUE);
      choices_save ();
    }
  g_mutex_unlock (&choice_lock);
}

ClipPrecision
clip_auto_precision (gboolean with_int8)
{
  ClipPrecision precisions[3];
  int n;
  auto_ranking (precisions, &n);
  for (int i = 0; i < n; i++)
    if (precisions[i] != CLIP_PRECISION_INT8 || with_int8)
      return precisions[i];
  return CLIP_PRECISION_F32;
}
