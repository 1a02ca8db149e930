/* kernel-choice.c — which float32 kernel multiplies each weight shape on this machine: our panels
 * (clip_packed_linear_forward on weights repacked once) or OpenBLAS's sgemm on the weights as
 * stored.  Neither wins everywhere (the panels were ahead on an AMD Zen 5, OpenBLAS's products 1.35×
 * faster on a Sapphire Rapids Xeon), so both are timed once per machine on random data of the shape,
 * for one image's rows and for a batch's, and the faster over both (per image) is kept in
 * $XDG_CACHE_HOME/cliplab/kernels.ini, under a group naming the CPU model, OpenBLAS's build and
 * core, this library's version and the thread count.  A cache that cannot be read or written only
 * means measuring again.  CLIPLAB_F32_KERNEL=panels|openblas forces the choice. */
#include "clip-private.h"
#include "kernel-choice.h"
#include "ops.h"
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

/* The fastest of TIMED_RUNS of each kernel on N rows, in seconds, interleaved so that both see the
 * same moments of a busy machine. */
static void
time_kernels (const float *inp, const float *weight, const float *packed, float *out, int n, int in_dim,
              int out_dim, double *panels, double *blas)
{
  int n_panels = (out_dim + CLIP_PANEL - 1) / CLIP_PANEL;
  TimedPanelJob job = { out, inp, packed, n, in_dim, out_dim, n_panels, MIN (n_panels, 2 * clip_get_threads ()) };
  *panels = *blas = G_MAXDOUBLE;
  for (int run = 0; run < TIMED_RUNS; run++)
    {
      gint64 start = g_get_monotonic_time ();
      clip_parallel_for (job.parts, 1, timed_panel_parts, &job);
      gint64 middle = g_get_monotonic_time ();
      clip_matmul_forward (out, inp, weight, n, in_dim, out_dim, FALSE);
      gint64 end = g_get_monotonic_time ();
      *panels = MIN (*panels, (middle - start) / 1e6);
      *blas = MIN (*blas, (end - middle) / 1e6);
    }
}

static ClipF32Kernel
measure (int in_dim, int out_dim)
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
  double panels_one, blas_one, panels_batch, blas_batch;
  time_kernels (inp, weight, packed, out, ONE_IMAGE_ROWS, in_dim, out_dim, &panels_one, &blas_one);
  time_kernels (inp, weight, packed, out, rows, in_dim, out_dim, &panels_batch, &blas_batch);
  g_free (inp);
  g_free (weight);
  g_free (packed);
  g_free (out);
  g_rand_free (rng);
  double panels = panels_one + panels_batch / BATCH_IMAGES, blas = blas_one + blas_batch / BATCH_IMAGES;
  return blas < panels ? CLIP_F32_OPENBLAS : CLIP_F32_PANELS;
}

static void
choices_load (void)
{
  if (choices != NULL)
    return;
  choices = g_key_file_new ();
  g_autofree char *path = cache_path ();
  g_key_file_load_from_file (choices, path, G_KEY_FILE_KEEP_COMMENTS, NULL);
  choices_group = g_strdup_printf ("%s | %s | %s | cliplab %s | %d threads", clip_cpu_model_name (),
                                   openblas_get_config (), openblas_get_corename (), CLIPLAB_VERSION,
                                   clip_get_threads ());
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

ClipF32Kernel
clip_f32_kernel_choose (int in_dim, int out_dim)
{
  const char *forced = g_getenv ("CLIPLAB_F32_KERNEL");
  if (forced != NULL && (g_str_equal (forced, "panels") || g_str_equal (forced, "openblas")))
    return g_str_equal (forced, "openblas") ? CLIP_F32_OPENBLAS : CLIP_F32_PANELS;
  g_mutex_lock (&choice_lock);
  choices_load ();
  g_autofree char *key = g_strdup_printf ("%dx%d", in_dim, out_dim);
  g_autofree char *known = g_key_file_get_string (choices, choices_group, key, NULL);
  ClipF32Kernel kernel;
  if (known != NULL && (g_str_equal (known, "panels") || g_str_equal (known, "openblas")))
    kernel = g_str_equal (known, "openblas") ? CLIP_F32_OPENBLAS : CLIP_F32_PANELS;
  else
    {
      kernel = measure (in_dim, out_dim);
      g_key_file_set_string (choices, choices_group, key, kernel == CLIP_F32_OPENBLAS ? "openblas" : "panels");
      choices_save ();
    }
  g_mutex_unlock (&choice_lock);
  return kernel;
}
