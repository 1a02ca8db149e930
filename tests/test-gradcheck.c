/* Finite-difference checks of every backward op on tiny random shapes, and of a whole tiny model.
 *
 * The ops compute in float, so the numeric derivative is a central difference
 * (L(x + h) − L(x − h)) / 2h of a double-accumulated scalar L = Σ R ⊙ out (R random).  Its error is
 * the truncation term h²·L‴/6 plus the float rounding of the forward, about 6e-8·Σ|R ⊙ out| / h.
 * For single ops with O(1) values, h = 1e-3 keeps both near 1e-5–1e-4 of the gradients'
 * magnitude.  The whole model's loss carries more rounding (a dozen ops deep) and its error is
 * smallest at h = 3e-3 (measured worst case: 4e-3 at h = 1e-2, 4e-4 at 3e-3, 1e-3 at 1e-3, 3e-3 at
 * 3e-4: truncation above, noise below).  Errors are relative to the tensor's largest gradient; for
 * the model to at least 1, because some of its gradients are zero in exact arithmetic (the
 * attention key biases: softmax ignores a per-query constant) and there the numeric value is pure
 * noise.  TOL = 2e-3 leaves a margin of 5 over the worst measured case, while a wrong term in a
 * backward pass gives errors of order 1.  The measured maxima are printed. */
#include "golden.h"
#include "ops.h"

#include <math.h>
#include <string.h>

#define STEP 1e-3
#define MODEL_STEP 3e-3
#define MODEL_FLOOR 1.0
#define TOL 2e-3

static GRand *rng;

static float *
random_floats (int64_t n, double lo, double hi)
{
  float *x = g_new (float, MAX (n, 1));
  for (int64_t i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (rng, lo, hi);
  return x;
}

/* Σ R ⊙ OUT in double: the scalar whose gradient with respect to OUT is R. */
static double
project (const float *out, const float *r, int64_t n)
{
  double s = 0;
  for (int64_t i = 0; i < n; i++)
    s += (double) out[i] * r[i];
  return s;
}

typedef double (*LossFunc) (gpointer ctx);

/* Compares ANALYTIC [n] with central differences of LOSS over the entries of X (every entry, or
 * about MAX_SAMPLES spread over it), relative to the largest analytic magnitude. */
static double
check_grad_floor (const char *what, float *x, int64_t n, const float *analytic, LossFunc loss, gpointer ctx,
                  int max_samples, double step, double floor)
{
  double max_grad = 0, max_err = 0;
  for (int64_t i = 0; i < n; i++)
    max_grad = fmax (max_grad, fabs (analytic[i]));
  int64_t stride = max_samples > 0 && n > max_samples ? n / max_samples : 1;
  int64_t worst = 0;
  double worst_num = 0;
  for (int64_t i = 0; i < n; i += stride)
    {
      float saved = x[i];
      x[i] = saved + (float) step;
      double up = loss (ctx);
      double h_up = (double) x[i] - saved;
      x[i] = saved - (float) step;
      double down = loss (ctx);
      double h_down = saved - (double) x[i];
      x[i] = saved;
      double numeric = (up - down) / (h_up + h_down);  /* the steps actually taken in float */
      double err = fabs (numeric - analytic[i]);
      if (err > max_err)
        {
          max_err = err;
          worst = i;
          worst_num = numeric;
        }
    }
  double rel = max_err / fmax (max_grad, floor);
  g_test_message ("%-34s n=%-6" G_GINT64_FORMAT " max|grad|=%.3g max rel err=%.2e", what, n, max_grad, rel);
  if (!(rel <= TOL))
    g_test_fail_printf ("%s: relative error %.3g > %g at %" G_GINT64_FORMAT " (analytic %.9g, numeric %.9g)",
                        what, rel, TOL, worst, analytic[worst], worst_num);
  g_assert_cmpfloat (max_grad, >, 0);  /* a check of zeros proves nothing */
  return rel;
}

static double
check_grad (const char *what, float *x, int64_t n, const float *analytic, LossFunc loss, gpointer ctx,
            int max_samples)
{
  return check_grad_floor (what, x, n, analytic, loss, ctx, max_samples, STEP, 1e-12);
}

/* ------------------------------------------------------------------ linear */

typedef struct {
  int n, in, out;
  float *inp, *w, *b, *out_buf, *r;
} LinearCase;

static double
linear_loss (gpointer p)
{
  LinearCase *c = p;
  clip_linear_forward (c->out_buf, c->inp, c->w, c->b, c->n, c->in, c->out);
  return project (c->out_buf, c->r, (int64_t) c->n * c->out);
}

static void
test_linear (void)
{
  LinearCase c = { .n = 3, .in = 5, .out = 4 };
  c.inp = random_floats (c.n * c.in, -1, 1);
  c.w = random_floats (c.out * c.in, -1, 1);
  c.b = random_floats (c.out, -1, 1);
  c.out_buf = g_new (float, c.n * c.out);
  c.r = random_floats (c.n * c.out, -1, 1);
  g_autofree float *dinp = g_new0 (float, c.n * c.in);
  g_autofree float *dw = g_new0 (float, c.out * c.in);
  g_autofree float *db = g_new0 (float, c.out);
  clip_linear_backward (dinp, dw, db, c.r, c.inp, c.w, c.n, c.in, c.out);
  check_grad ("linear dinp", c.inp, c.n * c.in, dinp, linear_loss, &c, 0);
  check_grad ("linear dweight", c.w, c.out * c.in, dw, linear_loss, &c, 0);
  check_grad ("linear dbias", c.b, c.out, db, linear_loss, &c, 0);

  /* Backward accumulates: a second call adds the same gradient again. */
  g_autofree float *db2 = g_memdup2 (db, sizeof (float) * c.out);
  clip_linear_backward (NULL, NULL, db2, c.r, c.inp, c.w, c.n, c.in, c.out);
  for (int i = 0; i < c.out; i++)
    g_assert_cmpfloat_with_epsilon (db2[i], 2 * db[i], 1e-6);
  g_free (c.inp), g_free (c.w), g_free (c.b), g_free (c.out_buf), g_free (c.r);
}

/* ------------------------------------------------------------------ layernorm */

typedef struct {
  int n, d;
  float *inp, *w, *b, *out, *mean, *rstd, *r;
} LayerNormCase;

static double
layernorm_loss (gpointer p)
{
  LayerNormCase *c = p;
  clip_layernorm_forward (c->out, c->mean, c->rstd, c->inp, c->w, c->b, c->n, c->d, 1e-5f);
  return project (c->out, c->r, (int64_t) c->n * c->d);
}

static void
test_layernorm (void)
{
  LayerNormCase c = { .n = 3, .d = 7 };
  c.inp = random_floats (c.n * c.d, -1, 2);  /* a non-zero mean */
  c.w = random_floats (c.d, 0.5, 1.5);
  c.b = random_floats (c.d, -0.5, 0.5);
  c.out = g_new (float, c.n * c.d);
  c.mean = g_new (float, c.n);
  c.rstd = g_new (float, c.n);
  c.r = random_floats (c.n * c.d, -1, 1);
  layernorm_loss (&c);
  g_autofree float *dinp = g_new0 (float, c.n * c.d);
  g_autofree float *dw = g_new0 (float, c.d);
  g_autofree float *db = g_new0 (float, c.d);
  clip_layernorm_backward (dinp, dw, db, c.r, c.inp, c.w, c.mean, c.rstd, c.n, c.d);
  check_grad ("layernorm dinp", c.inp, c.n * c.d, dinp, layernorm_loss, &c, 0);
  check_grad ("layernorm dweight", c.w, c.d, dw, layernorm_loss, &c, 0);
  check_grad ("layernorm dbias", c.b, c.d, db, layernorm_loss, &c, 0);
  g_free (c.inp), g_free (c.w), g_free (c.b), g_free (c.out), g_free (c.mean), g_free (c.rstd), g_free (c.r);
}

/* ------------------------------------------------------------------ activations */

typedef struct {
  int n, quick;
  float *inp, *out, *r;
} ActivationCase;

static double
activation_loss (gpointer p)
{
  ActivationCase *c = p;
  clip_activation_forward (c->out, c->inp, c->n, c->quick);
  return project (c->out, c->r, c->n);
}

static void
check_activation (int quick)
{
  ActivationCase c = { .n = 41, .quick = quick };
  c.inp = g_new (float, c.n);
  for (int i = 0; i < c.n; i++)
    c.inp[i] = -4.0f + 0.2f * i + 0.01f;  /* both tails and the curved middle */
  c.out = g_new (float, c.n);
  c.r = random_floats (c.n, -1, 1);
  g_autofree float *dinp = g_new0 (float, c.n);
  clip_activation_backward (dinp, c.r, c.inp, c.n, quick);
  check_grad (quick ? "quick_gelu dinp" : "gelu dinp", c.inp, c.n, dinp, activation_loss, &c, 0);
  g_free (c.inp), g_free (c.out), g_free (c.r);
}

static void
test_quick_gelu (void)
{
  check_activation (1);
}

static void
test_gelu (void)
{
  check_activation (0);
}

/* ------------------------------------------------------------------ attention */

typedef struct {
  int b, t, d, heads, causal;
  const int *lengths;
  float *qkv, *out, *probs, *r;    /* q, k, v interleaved in qkv [b, t, 3d] */
} AttentionCase;

static double
attention_loss (gpointer p)
{
  AttentionCase *c = p;
  int d = c->d;
  memset (c->out, 0, sizeof (float) * c->b * c->t * d);
  clip_attention_forward (c->out, c->probs, c->qkv, c->qkv + d, c->qkv + 2 * d, c->b, c->t, d, 3 * d,
                          c->heads, c->causal, c->lengths);
  return project (c->out, c->r, (int64_t) c->b * c->t * d);
}

static void
check_attention (const char *what, int causal, const int *lengths)
{
  AttentionCase c = { .b = 2, .t = 5, .d = 8, .heads = 2, .causal = causal, .lengths = lengths };
  int n = c.b * c.t;
  c.qkv = random_floats (n * 3 * c.d, -1.5, 1.5);
  c.out = g_new (float, n * c.d);
  c.probs = g_new (float, c.b * c.heads * c.t * c.t);
  c.r = random_floats (n * c.d, -1, 1);
  /* Rows past a sequence's length are not computed, so they take no part in the loss. */
  for (int s = 0; lengths != NULL && s < c.b; s++)
    memset (c.r + ((size_t) s * c.t + lengths[s]) * c.d, 0, sizeof (float) * (c.t - lengths[s]) * c.d);
  attention_loss (&c);
  g_autofree float *dqkv = g_new0 (float, n * 3 * c.d);
  clip_attention_backward (dqkv, dqkv + c.d, dqkv + 2 * c.d, c.r, c.probs, c.qkv, c.qkv + c.d, c.qkv + 2 * c.d,
                           c.b, c.t, c.d, 3 * c.d, c.heads, causal, lengths);
  check_grad (what, c.qkv, n * 3 * c.d, dqkv, attention_loss, &c, 0);
  if (causal)
    {
      /* The mask: query 0 gives key 1 no weight. */
      g_assert_cmpfloat (c.probs[1], ==, 0.0f);
    }
  g_free (c.qkv), g_free (c.out), g_free (c.probs), g_free (c.r);
}

static void
test_attention_full (void)
{
  check_attention ("attention dqkv (full)", 0, NULL);
}

static void
test_attention_causal (void)
{
  check_attention ("attention dqkv (causal)", 1, NULL);
}

static void
test_attention_lengths (void)
{
  static const int lengths[2] = { 3, 5 };
  check_attention ("attention dqkv (causal, lengths)", 1, lengths);
  check_attention ("attention dqkv (full, lengths)", 0, lengths);
}

/* ------------------------------------------------------------------ residual */

typedef struct {
  int n;
  float *x0, *x, *y, *r;
} AddCase;

static double
add_loss (gpointer p)
{
  AddCase *c = p;
  memcpy (c->x, c->x0, sizeof (float) * c->n);
  clip_add_inplace (c->x, c->y, c->n);
  return project (c->x, c->r, c->n);
}

static void
test_residual (void)
{
  AddCase c = { .n = 9 };
  c.x0 = random_floats (c.n, -1, 1);
  c.x = g_new (float, c.n);
  c.y = random_floats (c.n, -1, 1);
  c.r = random_floats (c.n, -1, 1);
  g_autofree float *dy = g_new0 (float, c.n);
  clip_add_inplace_backward (dy, c.r, c.n);
  check_grad ("residual dy", c.y, c.n, dy, add_loss, &c, 0);
  check_grad ("residual dx", c.x0, c.n, dy, add_loss, &c, 0);  /* dx passes through: the same */
  g_free (c.x0), g_free (c.x), g_free (c.y), g_free (c.r);
}

/* ------------------------------------------------------------------ embeddings and pooling */

typedef struct {
  int b, t, stride, d, vocab;
  const int32_t *ids;
  float *tok, *pos, *out, *r;
} EmbeddingCase;

static double
embedding_loss (gpointer p)
{
  EmbeddingCase *c = p;
  clip_embedding_forward (c->out, c->ids, c->tok, c->pos, c->b, c->t, c->stride, c->d);
  return project (c->out, c->r, (int64_t) c->b * c->t * c->d);
}

static void
test_embedding (void)
{
  /* Rows of 6 ids of which the first 4 are used; id 2 repeats, id 4 is never used. */
  static const int32_t ids[2 * 6] = { 1, 2, 2, 0, 4, 4, 3, 2, 0, 1, 4, 4 };
  EmbeddingCase c = { .b = 2, .t = 4, .stride = 6, .d = 3, .vocab = 5, .ids = ids };
  c.tok = random_floats (c.vocab * c.d, -1, 1);
  c.pos = random_floats (c.stride * c.d, -1, 1);
  c.out = g_new (float, c.b * c.t * c.d);
  c.r = random_floats (c.b * c.t * c.d, -1, 1);
  g_autofree float *dtok = g_new0 (float, c.vocab * c.d);
  g_autofree float *dpos = g_new0 (float, c.stride * c.d);
  clip_embedding_backward (dtok, dpos, c.r, ids, c.b, c.t, c.stride, c.d);
  check_grad ("embedding dtoken", c.tok, c.vocab * c.d, dtok, embedding_loss, &c, 0);
  check_grad ("embedding dposition", c.pos, c.stride * c.d, dpos, embedding_loss, &c, 0);
  for (int j = 0; j < c.d; j++)
    g_assert_cmpfloat (dtok[4 * c.d + j], ==, 0.0f);
  g_free (c.tok), g_free (c.pos), g_free (c.out), g_free (c.r);
}

typedef struct {
  int b, t, d;
  float *patches, *cls, *pos, *out, *r;
} ClassCase;

static double
class_loss (gpointer p)
{
  ClassCase *c = p;
  clip_class_embedding_forward (c->out, c->patches, c->cls, c->pos, c->b, c->t, c->d);
  return project (c->out, c->r, (int64_t) c->b * c->t * c->d);
}

static void
test_class_embedding (void)
{
  ClassCase c = { .b = 2, .t = 5, .d = 3 };
  c.patches = random_floats (c.b * (c.t - 1) * c.d, -1, 1);
  c.cls = random_floats (c.d, -1, 1);
  c.pos = random_floats (c.t * c.d, -1, 1);
  c.out = g_new (float, c.b * c.t * c.d);
  c.r = random_floats (c.b * c.t * c.d, -1, 1);
  g_autofree float *dpatches = g_new0 (float, c.b * (c.t - 1) * c.d);
  g_autofree float *dcls = g_new0 (float, c.d);
  g_autofree float *dpos = g_new0 (float, c.t * c.d);
  clip_class_embedding_backward (dpatches, dcls, dpos, c.r, c.b, c.t, c.d);
  check_grad ("class embedding dpatches", c.patches, c.b * (c.t - 1) * c.d, dpatches, class_loss, &c, 0);
  check_grad ("class embedding dclass", c.cls, c.d, dcls, class_loss, &c, 0);
  check_grad ("class embedding dposition", c.pos, c.t * c.d, dpos, class_loss, &c, 0);
  g_free (c.patches), g_free (c.cls), g_free (c.pos), g_free (c.out), g_free (c.r);
}

typedef struct {
  int b, size, patch, d;
  float *pixels, *patches, *w, *out, *r;
} PatchCase;

static double
patch_loss (gpointer p)
{
  PatchCase *c = p;
  clip_patch_embed_forward (c->out, c->patches, c->pixels, c->w, c->b, c->size, c->patch, c->d);
  int grid = c->size / c->patch;
  return project (c->out, c->r, (int64_t) c->b * grid * grid * c->d);
}

static void
test_patch_embedding (void)
{
  PatchCase c = { .b = 2, .size = 8, .patch = 4, .d = 5 };
  int grid = c.size / c.patch, len = 3 * c.patch * c.patch, rows = c.b * grid * grid;
  c.pixels = random_floats (c.b * 3 * c.size * c.size, -2, 2);
  c.patches = g_new (float, rows * len);
  c.w = random_floats (c.d * len, -0.2, 0.2);
  c.out = g_new (float, rows * c.d);
  c.r = random_floats (rows * c.d, -1, 1);
  patch_loss (&c);
  g_autofree float *dw = g_new0 (float, c.d * len);
  clip_patch_embed_backward (dw, c.r, c.patches, c.b, c.size, c.patch, c.d);
  check_grad ("patch embedding dweight", c.w, c.d * len, dw, patch_loss, &c, 0);
  /* im2col order: patch (0, 1) of image 0, channel 2, row 3, column 1. */
  g_assert_cmpfloat (c.patches[1 * len + (2 * c.patch + 3) * c.patch + 1], ==,
                     c.pixels[(2 * c.size + 3) * c.size + 1 * c.patch + 1]);
  g_free (c.pixels), g_free (c.patches), g_free (c.w), g_free (c.out), g_free (c.r);
}

typedef struct {
  int b, t, d;
  const int *pos;
  float *inp, *out, *r;
} PoolCase;

static double
pool_loss (gpointer p)
{
  PoolCase *c = p;
  clip_pool_forward (c->out, c->inp, c->pos, c->b, c->t, c->d);
  return project (c->out, c->r, (int64_t) c->b * c->d);
}

static void
test_pool (void)
{
  static const int pos[2] = { 1, 3 };
  for (int text = 0; text < 2; text++)
    {
      PoolCase c = { .b = 2, .t = 4, .d = 3, .pos = text ? pos : NULL };
      c.inp = random_floats (c.b * c.t * c.d, -1, 1);
      c.out = g_new (float, c.b * c.d);
      c.r = random_floats (c.b * c.d, -1, 1);
      g_autofree float *dinp = g_new0 (float, c.b * c.t * c.d);
      clip_pool_backward (dinp, c.r, c.pos, c.b, c.t, c.d);
      check_grad (text ? "pool dinp (EOT rows)" : "pool dinp (class token)", c.inp, c.b * c.t * c.d, dinp,
                  pool_loss, &c, 0);
      g_free (c.inp), g_free (c.out), g_free (c.r);
    }
}

/* ------------------------------------------------------------------ normalisation and loss */

typedef struct {
  int n, d;
  float *inp, *out, *r;
} NormCase;

static double
l2norm_loss (gpointer p)
{
  NormCase *c = p;
  clip_l2norm_forward (c->out, c->inp, c->n, c->d);
  return project (c->out, c->r, (int64_t) c->n * c->d);
}

static void
test_l2norm (void)
{
  NormCase c = { .n = 3, .d = 6 };
  c.inp = random_floats (c.n * c.d, -1, 1);
  c.out = g_new (float, c.n * c.d);
  c.r = random_floats (c.n * c.d, -1, 1);
  g_autofree float *dinp = g_new0 (float, c.n * c.d);
  clip_l2norm_backward (dinp, c.r, c.inp, c.n, c.d);
  check_grad ("l2 normalisation dinp", c.inp, c.n * c.d, dinp, l2norm_loss, &c, 0);
  g_free (c.inp), g_free (c.out), g_free (c.r);
}

typedef struct {
  int b, e;
  float *img, *txt, logit_scale;
  double dloss;
} LossCase;

static double
contrastive_loss (gpointer p)
{
  LossCase *c = p;
  return c->dloss * clip_contrastive_loss_forward (NULL, c->img, c->txt, c->logit_scale, c->b, c->e);
}

static void
test_contrastive_loss (void)
{
  LossCase c = { .b = 4, .e = 6, .logit_scale = 1.3f, .dloss = 0.7 };
  c.img = random_floats (c.b * c.e, -1, 1);
  c.txt = random_floats (c.b * c.e, -1, 1);
  clip_l2norm_forward (c.img, c.img, c.b, c.e);
  clip_l2norm_forward (c.txt, c.txt, c.b, c.e);
  g_autofree float *dimg = g_new0 (float, c.b * c.e);
  g_autofree float *dtxt = g_new0 (float, c.b * c.e);
  float dscale = 0;
  clip_contrastive_loss_backward (dimg, dtxt, &dscale, c.dloss, c.img, c.txt, c.logit_scale, c.b, c.e);
  check_grad ("contrastive loss dimage", c.img, c.b * c.e, dimg, contrastive_loss, &c, 0);
  check_grad ("contrastive loss dtext", c.txt, c.b * c.e, dtxt, contrastive_loss, &c, 0);
  check_grad ("contrastive loss dlogit_scale", &c.logit_scale, 1, &dscale, contrastive_loss, &c, 0);

  /* The loss itself: with identical image and text rows and a large temperature it tends to 0;
   * with one row it is exactly 0. */
  float logits[16];
  double loss = clip_contrastive_loss_forward (logits, c.img, c.img, 4.6f, c.b, c.e);
  g_assert_cmpfloat (loss, <, contrastive_loss (&c) / c.dloss);
  g_assert_cmpfloat_with_epsilon (logits[5], expf (4.6f), 1e-3);
  g_assert_cmpfloat (clip_contrastive_loss_forward (NULL, c.img, c.txt, 2.0f, 1, c.e), ==, 0.0);
  g_free (c.img), g_free (c.txt);
}

/* ------------------------------------------------------------------ a whole tiny model */

typedef struct {
  ClipTrainer *trainer;
  const float *pixels;
  const int32_t *ids;
  int batch;
} ModelCase;

static double
model_loss (gpointer p)
{
  ModelCase *c = p;
  double loss;
  GError *error = NULL;
  g_assert_true (clip_trainer_compute_gradients (c->trainer, c->pixels, c->ids, c->batch, &loss, NULL, &error));
  g_assert_no_error (error);
  return loss;
}

static void
test_whole_model (void)
{
  ClipConfig config = {
    .vision = { .width = 8, .layers = 2, .heads = 2, .mlp_width = 16, .ln_eps = 1e-5f,
                .activation = CLIP_ACTIVATION_QUICK_GELU },
    .text = { .width = 8, .layers = 2, .heads = 2, .mlp_width = 16, .ln_eps = 1e-5f,
              .activation = CLIP_ACTIVATION_GELU },
    .image_size = 8, .patch_size = 4, .context_length = 5, .vocab_size = 11, .embed_dim = 4, .eot_id = 10,
  };
  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  GError *error = NULL;
  g_autoptr (ClipModel) model = clip_model_new_random (&config, &pre, NULL, 7, &error);
  g_assert_no_error (error);
  /* Random init leaves gains at 1 and some biases at 0: perturb everything so each term counts. */
  int n;
  ClipTensorInfo *table = clip_tensor_table_new (&config, &model->w, &n);
  for (int i = 0; i < n; i++)
    for (int64_t j = 0; j < table[i].n_elements; j++)
      (*table[i].slot)[j] += (float) g_rand_double_range (rng, -0.3, 0.3);
  clip_tensor_table_free (table, n);

  ClipOptimConfig optim;
  clip_optim_config_init (&optim);
  g_autoptr (ClipTrainer) trainer = clip_trainer_new (model, &optim, &error);
  g_assert_no_error (error);
  static const int32_t ids[3 * 5] = { 1, 3, 10, 0, 0, 2, 10, 0, 0, 0, 5, 6, 7, 8, 10 };
  g_autofree float *pixels = random_floats (3 * 3 * 8 * 8, -2, 2);
  ModelCase c = { trainer, pixels, ids, 3 };
  model_loss (&c);

  /* Every tensor, a dozen entries of each (unused token rows have zero gradients both ways). */
  ClipModel *view = clip_trainer_get_model (trainer);
  table = clip_tensor_table_new (&config, &view->w, &n);
  double worst = 0;
  for (int i = 0; i < n; i++)
    {
      model_loss (&c);  /* the gradients at the unperturbed point: each check perturbs */
      g_autofree float *analytic = g_memdup2 (clip_trainer_get_gradient (trainer, table[i].hf_name),
                                              sizeof (float) * table[i].n_elements);
      worst = fmax (worst, check_grad_floor (table[i].hf_name, *table[i].slot, table[i].n_elements, analytic,
                                             model_loss, &c, 12, MODEL_STEP, MODEL_FLOOR));
    }
  clip_tensor_table_free (table, n);
  g_test_message ("whole model: worst relative error %.2e", worst);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  rng = g_rand_new_with_seed (20240601);
  g_test_add_func ("/gradcheck/linear", test_linear);
  g_test_add_func ("/gradcheck/layernorm", test_layernorm);
  g_test_add_func ("/gradcheck/quick-gelu", test_quick_gelu);
  g_test_add_func ("/gradcheck/gelu", test_gelu);
  g_test_add_func ("/gradcheck/attention-full", test_attention_full);
  g_test_add_func ("/gradcheck/attention-causal", test_attention_causal);
  g_test_add_func ("/gradcheck/attention-lengths", test_attention_lengths);
  g_test_add_func ("/gradcheck/residual", test_residual);
  g_test_add_func ("/gradcheck/embedding", test_embedding);
  g_test_add_func ("/gradcheck/class-embedding", test_class_embedding);
  g_test_add_func ("/gradcheck/patch-embedding", test_patch_embedding);
  g_test_add_func ("/gradcheck/pool", test_pool);
  g_test_add_func ("/gradcheck/l2norm", test_l2norm);
  g_test_add_func ("/gradcheck/contrastive-loss", test_contrastive_loss);
  g_test_add_func ("/gradcheck/whole-model", test_whole_model);
  int status = g_test_run ();
  g_rand_free (rng);
  return status;
}
