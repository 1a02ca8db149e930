/* Data-parallel training against one process, run under mpirun (tests/mpi/run.sh): every rank
 * trains the tiny golden model with its share of a global batch of 8 over MPI (cliplab-cli's
 * transport) and also, alone, the whole batch as the single-process reference.  Losses at each of
 * 20 steps, every gradient of the first step and the parameters after 20 steps must agree; the
 * ranks must hold bit-identical parameters.  Rank 0's heartbeats while it works alone keep the
 * ranks in step.  Rank 0 prints the TAP. */
#include "golden.h"
#include "cli-mpi.h"
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#define TINY "golden/models/tiny_quickgelu/"
#define GLOBAL_BATCH 8
#define STEPS 20
#define TOL_LOSS 1e-5     /* relative, every step */
#define TOL_GRAD 1e-5     /* relative to each gradient tensor's max magnitude, first step */
#define TOL_PARAMS 1e-5   /* absolute, after STEPS steps */
#define COLLECTIVE_TIMEOUT_S 120

static CliMpi *mpi;
static const ClipCommunicator *comm;

/* The golden batch of 4 pairs and 4 more: the images mirrored, the captions' tokens remapped (EOT
 * and padding kept), so that no two pairs are equal. */
static void
make_batch (float **pixels_out, int32_t **ids_out, const ClipConfig *c)
{
  g_autoptr (ClipSafetensors) reference = golden_open (TINY "reference.safetensors");
  int64_t n_pix, n_ids;
  g_autofree float *golden_pixels = golden_floats (reference, "input.pixel_values", &n_pix);
  const int32_t *golden_ids = golden_i32 (reference, "input.input_ids", &n_ids);
  int s = c->image_size, ctx = c->context_length, half = GLOBAL_BATCH / 2;
  g_assert_cmpint (n_pix, ==, (int64_t) half * 3 * s * s);
  g_assert_cmpint (n_ids, ==, (int64_t) half * ctx);
  float *pixels = g_new (float, (size_t) GLOBAL_BATCH * 3 * s * s);
  int32_t *ids = g_new (int32_t, (size_t) GLOBAL_BATCH * ctx);
  memcpy (pixels, golden_pixels, sizeof (float) * n_pix);
  memcpy (ids, golden_ids, sizeof (int32_t) * n_ids);
  int eot = c->vocab_size - 1;
  for (int b = 0; b < half; b++)
    {
      for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < s; y++)
          for (int x = 0; x < s; x++)
            pixels[((size_t) ((half + b) * 3 + ch) * s + y) * s + x] = golden_pixels[((size_t) (b * 3 + ch) * s + y) * s
                                                                                      + (s - 1 - x)];
      for (int t = 0; t < ctx; t++)
        {
          int32_t id = golden_ids[b * ctx + t];
          ids[(half + b) * ctx + t] = id == 0 || id == eot ? id : (id * 7 + 3) % (eot - 1) + 1;
        }
    }
  *pixels_out = pixels;
  *ids_out = ids;
}

static ClipTrainer *
new_trainer (void)
{
  g_autofree char *path = tu_shared_path (TINY "hf");
  GError *error = NULL;
  g_autoptr (ClipModel) model = clip_model_load (path, NULL, &error);
  g_assert_no_error (error);
  ClipOptimConfig optim;
  clip_optim_config_init (&optim);
  optim.lr = 1e-3;
  optim.beta2 = 0.98;
  optim.eps = 1e-6;
  optim.warmup_steps = 2;
  optim.total_steps = STEPS;
  ClipTrainer *trainer = clip_trainer_new (model, &optim, &error);
  g_assert_no_error (error);
  return trainer;
}

typedef struct {
  double   loss[STEPS];
  float   *first_grads;   /* every gradient of step 1 */
  float   *params;        /* after STEPS steps */
  int64_t  n_params;
} Trace;

static void
trace_clear (Trace *trace)
{
  g_free (trace->first_grads);
  g_free (trace->params);
}

/* STEPS steps on pairs FIRST … FIRST + COUNT − 1 of the batch. */
static void
train (ClipTrainer *trainer, const float *pixels, const int32_t *ids, int first, int count, Trace *trace)
{
  ClipModel *model = clip_trainer_get_model (trainer);
  const ClipConfig *c = &model->config;
  size_t image_floats = (size_t) 3 * c->image_size * c->image_size;
  trace->n_params = clip_weights_n_floats (c);
  for (int step = 0; step < STEPS; step++)
    {
      ClipStepStats stats;
      GError *error = NULL;
      g_assert_true (clip_trainer_step (trainer, pixels + first * image_floats, ids + (size_t) first * c->context_length,
                                        count, &stats, NULL, &error));
      g_assert_no_error (error);
      trace->loss[step] = stats.loss;
      if (step == 0)
        {
          trace->first_grads = g_new (float, trace->n_params);
          int n;
          ClipTensorInfo *table = clip_tensor_table_new (c, &model->w, &n);
          int64_t offset = 0;
          for (int i = 0; i < n; i++)
            {
              memcpy (trace->first_grads + offset, clip_trainer_get_gradient (trainer, table[i].hf_name),
                      sizeof (float) * table[i].n_elements);
              offset += table[i].n_elements;
            }
          g_assert_cmpint (offset, ==, trace->n_params);
          clip_tensor_table_free (table, n);
        }
    }
  trace->params = g_new (float, trace->n_params);
  int n;
  ClipTensorInfo *table = clip_tensor_table_new (c, &model->w, &n);
  int64_t offset = 0;
  for (int i = 0; i < n; i++)
    {
      memcpy (trace->params + offset, *table[i].slot, sizeof (float) * table[i].n_elements);
      offset += table[i].n_elements;
    }
  clip_tensor_table_free (table, n);
}

static void
test_equivalence (void)
{
  g_autoptr (ClipTrainer) single = new_trainer ();
  const ClipConfig *c = &clip_trainer_get_model (single)->config;
  g_autofree float *pixels = NULL;
  g_autofree int32_t *ids = NULL;
  make_batch (&pixels, &ids, c);
  Trace want = { 0 }, got = { 0 };
  train (single, pixels, ids, 0, GLOBAL_BATCH, &want);

  g_autoptr (ClipTrainer) parallel = new_trainer ();
  clip_trainer_set_communicator (parallel, comm);
  int share = GLOBAL_BATCH / comm->size;
  train (parallel, pixels, ids, comm->rank * share, share, &got);

  double worst_loss = 0;
  for (int step = 0; step < STEPS; step++)
    {
      double rel = fabs (got.loss[step] - want.loss[step]) / fabs (want.loss[step]);
      worst_loss = fmax (worst_loss, rel);
      if (rel > TOL_LOSS)
        g_error ("step %d: loss %.9g with %d ranks, %.9g alone", step + 1, got.loss[step], comm->size, want.loss[step]);
    }
  g_test_message ("%d ranks: losses of %d steps from %.6f to %.6f, worst relative difference %.2e", comm->size,
                  STEPS, want.loss[0], want.loss[STEPS - 1], worst_loss);
  g_assert_cmpfloat (want.loss[STEPS - 1], <, want.loss[0]);  /* it trains */

  ClipModel *model = clip_trainer_get_model (single);
  int n;
  ClipTensorInfo *table = clip_tensor_table_new (c, &model->w, &n);
  int64_t offset = 0;
  double worst_grad = 0, worst_param = 0;
  for (int i = 0; i < n; i++)
    {
      g_autofree char *grad_what = g_strconcat ("gradient of ", table[i].hf_name, " after one step", NULL);
      g_autofree char *param_what = g_strconcat (table[i].hf_name, " after 20 steps", NULL);
      if (g_str_has_suffix (table[i].hf_name, "k_proj.bias"))
        {
          /* Zero in exact arithmetic (softmax ignores a constant added to a query's scores): both
           * hold rounding on the scale of the key weight's gradient, the tensor before it. */
          int64_t d = table[i].n_elements;
          g_assert_true (g_str_has_suffix (table[i - 1].hf_name, "k_proj.weight"));
          double scale = 0, diff = 0;
          for (int64_t j = 0; j < d * d; j++)
            scale = fmax (scale, fabs (want.first_grads[offset - d * d + j]));
          for (int64_t j = 0; j < d; j++)
            diff = fmax (diff, fabs (got.first_grads[offset + j] - want.first_grads[offset + j]));
          g_test_message ("%-40s differs by %.2g of the key weight's gradient", grad_what, diff / scale);
          g_assert_cmpfloat (diff, <=, TOL_GRAD * scale);
        }
      else
        worst_grad = fmax (worst_grad, tu_assert_close_rel (grad_what, got.first_grads + offset,
                                                            want.first_grads + offset, table[i].n_elements,
                                                            TOL_GRAD));
      worst_param = fmax (worst_param, tu_assert_close_abs (param_what, got.params + offset, want.params + offset,
                                                            table[i].n_elements, TOL_PARAMS));
      offset += table[i].n_elements;
    }
  clip_tensor_table_free (table, n);
  g_test_message ("%d tensors: worst relative gradient difference %.2e, worst parameter difference %.2e", n,
                  worst_grad, worst_param);

  /* every rank takes the same step: the same bits everywhere */
  guint64 mine = 0;
  for (int64_t j = 0; j < got.n_params; j++)
    {
      uint32_t bits;
      memcpy (&bits, &got.params[j], sizeof bits);
      mine = mine * 1099511628211ull ^ bits;
    }
  g_autofree guint64 *all = g_new (guint64, comm->size);
  GError *error = NULL;
  g_assert_true (comm->allgather (&mine, all, sizeof mine, comm->user_data, &error));
  g_assert_no_error (error);
  for (int r = 1; r < comm->size; r++)
    g_assert_cmphex (all[r], ==, all[0]);
  trace_clear (&want);
  trace_clear (&got);
}

/* The shares of the loss sum to the single-process loss, for every split of the batch. */
static void
test_loss_shares (void)
{
  int n = 6, e = 5;
  float img[30], txt[30];
  for (int i = 0; i < n * e; i++)
    {
      img[i] = (float) sin (0.7 * i + 0.1);
      txt[i] = (float) cos (1.3 * i);
    }
  clip_l2_normalize_rows (img, n, e);
  clip_l2_normalize_rows (txt, n, e);
  float want_dimg[30] = { 0 }, want_dtxt[30] = { 0 }, want_ds = 0;
  double want = clip_contrastive_loss_forward (NULL, img, txt, 2.0f, n, e);
  clip_contrastive_loss_backward (want_dimg, want_dtxt, &want_ds, 1.0, img, txt, 2.0f, n, e);
  for (int parts = 1; parts <= n; parts++)
    {
      if (n % parts != 0)
        continue;
      float dimg[30] = { 0 }, dtxt[30] = { 0 }, ds = 0;
      double loss = 0;
      for (int p = 0; p < parts; p++)
        loss += clip_contrastive_loss_shard (dimg, dtxt, &ds, img, txt, 2.0f, n, p * (n / parts), n / parts, e);
      g_assert_cmpfloat (fabs (loss - want), <=, 1e-12 * want);
      tu_assert_close_rel ("image gradient", dimg, want_dimg, n * e, 1e-6);
      tu_assert_close_rel ("text gradient", dtxt, want_dtxt, n * e, 1e-6);
      g_assert_cmpfloat (fabs (ds - want_ds), <=, 1e-6 * fabs (want_ds));
    }
}

/* Rank 0 working alone (validation) while the others wait: they wait through its heartbeats, one
 * collective for each it sends and one for its last, and the next collective lines up. */
static void
test_heartbeat (void)
{
  const int beats = 3;
  GError *error = NULL;
  gboolean root_busy = TRUE;
  int seen = 0;
  if (comm->rank == 0)
    for (int b = 0; b <= beats; b++)
      {
        g_usleep (20 * 1000);   /* working */
        g_assert_true (clip_dist_heartbeat (comm, b < beats, &root_busy, &error));
        g_assert_true (root_busy == (b < beats));
        seen++;
      }
  else
    do
      {
        g_assert_true (clip_dist_heartbeat (comm, FALSE, &root_busy, &error));
        seen++;
      }
    while (root_busy);
  g_assert_no_error (error);
  g_assert_cmpint (seen, ==, beats + 1);
  g_assert_true (clip_dist_check_same (comm, seen, "the heartbeats seen", &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  if (!cli_mpi_start (COLLECTIVE_TIMEOUT_S, &mpi, &error))
    g_error ("%s", error->message);
  if (mpi == NULL)
    {
      /* started without mpirun: nothing to compare */
      printf ("1..0 # SKIP not started by mpirun with two or more ranks (tests/mpi/run.sh starts it)\n");
      return 0;
    }
  comm = cli_mpi_get_communicator (mpi);
  if (comm->rank != 0 && freopen ("/dev/null", "w", stdout) == NULL)
    g_error ("rank %d: cannot silence its output", comm->rank);
  g_test_init (&argc, &argv, NULL);
  clip_set_threads (1);   /* ranks × threads = cores; the same count for both runs */
  g_test_add_func ("/dist/loss-shares", test_loss_shares);
  g_test_add_func ("/dist/equivalence", test_equivalence);
  g_test_add_func ("/dist/heartbeat", test_heartbeat);
  int status = g_test_run ();
  cli_mpi_free (mpi);
  return status;
}
