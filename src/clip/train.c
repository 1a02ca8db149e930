/* train.c — training CLIP: random initialisation, the towers' backward passes, the contrastive
 * loss, AdamW with global-norm clipping and the cosine schedule, and resumable trainer
 * checkpoints.  The forward passes are model.c's (with activations kept); the per-op maths is in
 * ops.c. */
#include "clip-private.h"
#include "util-json.h"
#include "ops.h"

#include <math.h>
#include <string.h>

#define TRAINER_FORMAT_VERSION 1
#define MAX_BATCH 65536
#define GRAD_CLIP_EPS 1e-6            /* torch's clip_grad_norm_: max_norm / (total_norm + 1e-6) */

/* ------------------------------------------------------------------ random initialisation */

/* xoshiro256** seeded through splitmix64, normals by Box-Muller in double: integer arithmetic and
 * correctly rounded-in-practice libm calls, so a seed gives the same weights on every machine. */
typedef struct {
  uint64_t s[4];
  gboolean has_spare;
  double   spare;
} Rng;

static uint64_t
splitmix64 (uint64_t *x)
{
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void
rng_seed (Rng *rng, uint64_t seed)
{
  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64 (&seed);
  rng->has_spare = FALSE;
}

static uint64_t
rotl (uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next (Rng *rng)
{
  uint64_t *s = rng->s;
  uint64_t result = rotl (s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double
rng_uniform (Rng *rng)
{
  return (double) (rng_next (rng) >> 11) * 0x1.0p-53;
}

static double
rng_normal (Rng *rng)
{
  if (rng->has_spare)
    {
      rng->has_spare = FALSE;
      return rng->spare;
    }
  double u1 = 1.0 - rng_uniform (rng), u2 = rng_uniform (rng);  /* u1 in (0, 1]: log is finite */
  double r = sqrt (-2.0 * log (u1)), theta = 2.0 * G_PI * u2;
  rng->spare = r * sin (theta);
  rng->has_spare = TRUE;
  return r * cos (theta);
}

typedef enum { INIT_CONSTANT, INIT_NORMAL, INIT_UNIFORM } InitKind;

typedef struct {
  InitKind kind;
  double   value;     /* the constant, the normal's std or the uniform's bound */
} Init;

static Init constant_init (double v) { return (Init) { INIT_CONSTANT, v }; }
static Init normal_init (double std) { return (Init) { INIT_NORMAL, std }; }
static Init uniform_init (double bound) { return (Init) { INIT_UNIFORM, bound }; }

/* clip-reference.md §1.6 for a residual block's tensor at SLOT, if it belongs to LW.  OpenAI's
 * initialize_parameters draws the text tower's matrices from normals; the vision tower keeps the
 * PyTorch module defaults (kaiming-uniform Linear weights and biases, xavier-uniform in_proj, zero
 * attention biases). */
static gboolean
layer_init (const ClipLayerWeights *lw, float *const *slot, const ClipTowerConfig *tc, gboolean text,
            int text_layers, Init *init)
{
  double d = tc->width, f = tc->mlp_width;
  double proj_std = 1.0 / sqrt (d) / sqrt (2.0 * text_layers);
  if (slot == &lw->ln1_w || slot == &lw->ln2_w)
    *init = constant_init (1.0);
  else if (slot == &lw->ln1_b || slot == &lw->ln2_b || slot == &lw->q_b || slot == &lw->k_b
           || slot == &lw->v_b || slot == &lw->o_b)
    *init = constant_init (0.0);
  else if (slot == &lw->q_w || slot == &lw->k_w || slot == &lw->v_w)
    *init = text ? normal_init (1.0 / sqrt (d)) : uniform_init (sqrt (6.0 / (d + 3.0 * d)));
  else if (slot == &lw->o_w)
    *init = text ? normal_init (proj_std) : uniform_init (1.0 / sqrt (d));
  else if (slot == &lw->fc1_w)
    *init = text ? normal_init (1.0 / sqrt (2.0 * d)) : uniform_init (1.0 / sqrt (d));
  else if (slot == &lw->fc1_b)
    *init = uniform_init (1.0 / sqrt (d));
  else if (slot == &lw->fc2_w)
    *init = text ? normal_init (proj_std) : uniform_init (1.0 / sqrt (f));
  else if (slot == &lw->fc2_b)
    *init = uniform_init (1.0 / sqrt (f));
  else
    return FALSE;
  return TRUE;
}

static Init
tensor_init (const ClipConfig *c, const ClipWeights *w, float *const *slot)
{
  double vw = c->vision.width, tw = c->text.width;
  Init init = constant_init (0.0);
  if (slot == &w->v_patch)
    return uniform_init (1.0 / sqrt (3.0 * c->patch_size * c->patch_size));
  if (slot == &w->v_class || slot == &w->v_pos || slot == &w->v_proj)
    return normal_init (1.0 / sqrt (vw));
  if (slot == &w->t_tok)
    return normal_init (0.02);
  if (slot == &w->t_pos)
    return normal_init (0.01);
  if (slot == &w->t_proj)
    return normal_init (1.0 / sqrt (tw));
  if (slot == &w->logit_scale)
    return constant_init (log (1.0 / 0.07));
  if (slot == &w->v_ln_pre_w || slot == &w->v_ln_post_w || slot == &w->t_ln_final_w)
    return constant_init (1.0);
  for (int l = 0; l < c->vision.layers; l++)
    if (layer_init (&w->vision_layers[l], slot, &c->vision, FALSE, c->text.layers, &init))
      return init;
  for (int l = 0; l < c->text.layers; l++)
    if (layer_init (&w->text_layers[l], slot, &c->text, TRUE, c->text.layers, &init))
      return init;
  return init;  /* the LayerNorm biases outside the blocks */
}

static gboolean
preprocess_validate (const ClipPreprocess *pre, GError **error)
{
  for (int k = 0; k < 3; k++)
    if (!isfinite (pre->mean[k]) || !(pre->std[k] > 0) || !isfinite (pre->std[k]))
      {
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID,
                     "random model: preprocessing channel %d has mean %g and std %g; the std must be positive",
                     k, pre->mean[k], pre->std[k]);
        return FALSE;
      }
  return TRUE;
}

ClipModel *
clip_model_new_random (const ClipConfig *config, const ClipPreprocess *pre, ClipTokenizer *tokenizer,
                       uint64_t seed, GError **error)
{
  if (!clip_config_validate (config, "random model", error) || !preprocess_validate (pre, error))
    return NULL;
  if (tokenizer != NULL && clip_tokenizer_get_vocab_size (tokenizer) > config->vocab_size)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_SHAPE,
                   "random model: the tokenizer (%s) produces ids up to %d but the vocabulary has %d",
                   clip_tokenizer_describe (tokenizer), clip_tokenizer_get_vocab_size (tokenizer) - 1,
                   config->vocab_size);
      return NULL;
    }
  int64_t n_floats = clip_weights_n_floats (config);
  float *block = g_try_new (float, n_floats);
  if (block == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "random model: cannot allocate %" G_GINT64_FORMAT
                   " MB for the weights", n_floats * 4 / 1000000);
      return NULL;
    }
  ClipPreprocess p = *pre;
  p.image_size = config->image_size;
  g_autofree char *path = g_strdup_printf ("random model (seed %" G_GUINT64_FORMAT ")", (guint64) seed);
  ClipModel *model = clip_model_new_from_block (config, &p, tokenizer, block, TRUE, path);
  /* As for loaded models: pooling at the largest id needs the EOT to be the largest id. */
  if (tokenizer != NULL && model->config.eot_id < 0
      && clip_tokenizer_get_eot_id (tokenizer) != clip_tokenizer_get_vocab_size (tokenizer) - 1)
    model->config.eot_id = clip_tokenizer_get_eot_id (tokenizer);

  /* Drawn in table order from one stream. */
  Rng rng;
  rng_seed (&rng, seed);
  int n;
  ClipTensorInfo *table = clip_tensor_table_new (&model->config, &model->w, &n);
  for (int i = 0; i < n; i++)
    {
      Init init = tensor_init (&model->config, &model->w, table[i].slot);
      float *x = *table[i].slot;
      for (int64_t j = 0; j < table[i].n_elements; j++)
        switch (init.kind)
          {
          case INIT_CONSTANT: x[j] = (float) init.value; break;
          case INIT_NORMAL:   x[j] = (float) (init.value * rng_normal (&rng)); break;
          case INIT_UNIFORM:  x[j] = (float) (init.value * (2.0 * rng_uniform (&rng) - 1.0)); break;
          }
    }
  clip_tensor_table_free (table, n);
  return model;
}

/* ------------------------------------------------------------------ optimiser configuration */

void
clip_optim_config_init (ClipOptimConfig *optim)
{
  *optim = (ClipOptimConfig) {
    .lr = 1e-4, .beta1 = 0.9, .beta2 = 0.98, .eps = 1e-6, .weight_decay = 0.2,
    .warmup_steps = 100, .total_steps = 1000, .grad_clip = 1.0,
  };
}

/* Linear warmup, then cosine decay to 0 at total_steps (open_clip's cosine_lr); 0 after it. */
double
clip_optim_lr_at (const ClipOptimConfig *optim, int64_t step)
{
  if (step < optim->warmup_steps)
    return optim->lr * (double) (step + 1) / (double) optim->warmup_steps;
  int64_t e = step - optim->warmup_steps, total = optim->total_steps - optim->warmup_steps;
  if (e >= total)
    return 0.0;
  return 0.5 * (1.0 + cos (G_PI * (double) e / (double) total)) * optim->lr;
}

static gboolean
optim_validate (const ClipOptimConfig *o, const char *label, GError **error)
{
  const struct { const char *name; double value, min, max; gboolean max_open; } checks[] = {
    { "learning rate", o->lr, 0, 1e3, FALSE },
    { "beta1", o->beta1, 0, 1, TRUE },
    { "beta2", o->beta2, 0, 1, TRUE },
    { "eps", o->eps, 1e-30, 1, FALSE },
    { "weight decay", o->weight_decay, 0, 1e3, FALSE },
    { "gradient clip", o->grad_clip, 0, 1e30, FALSE },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (checks); i++)
    {
      double v = checks[i].value;
      if (!(v >= checks[i].min && (checks[i].max_open ? v < checks[i].max : v <= checks[i].max)))
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: the optimizer's %s is %g; it must be in "
                       "[%g, %g%s", label, checks[i].name, v, checks[i].min, checks[i].max,
                       checks[i].max_open ? ")" : "]");
          return FALSE;
        }
    }
  if (o->warmup_steps < 0 || o->total_steps < 1 || o->warmup_steps > o->total_steps)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: %" G_GINT64_FORMAT " warmup steps and %"
                   G_GINT64_FORMAT " total steps: need 0 ≤ warmup ≤ total and total ≥ 1",
                   label, o->warmup_steps, o->total_steps);
      return FALSE;
    }
  return TRUE;
}

gboolean
clip_tensor_decays (const ClipTensorInfo *info)
{
  return info->n_dims >= 2;
}

/* ------------------------------------------------------------------ the trainer */

struct _ClipTrainer {
  ClipOptimConfig optim;
  int64_t         step;
  int64_t         n_params;
  float          *params, *grads, *m, *v;   /* four blocks with the clip_weights_carve layout */
  ClipModel      *model;                    /* a view on params: the forward passes, clip_trainer_get_model */
  ClipWeights     gw;                       /* the gradient tensors, inside grads */
  ClipTensorInfo *table;                    /* slots in model->w */
  int             n_tensors;

  /* Buffers for batches of up to CAPACITY pairs. */
  int             capacity;
  ClipTowerActs   vision, text;
  float          *acts_block;
  float          *work;                     /* backward scratch */
  float          *img_f, *txt_f, *img_e, *txt_e, *dimg_f, *dtxt_f, *dimg_e, *dtxt_e;  /* [B, E] */

  /* Data-parallel training (clip_trainer_set_communicator): the whole batch's embeddings and their
   * gradients, [size · B, E] each, in one block. */
  gboolean        distributed;
  ClipCommunicator comm;
  float          *img_all, *txt_all, *dimg_all, *dtxt_all;
};

/* Carves buffers out of BASE, or only counts them when BASE is NULL.  Sizes are counted in double
 * (exact below 2^53), so configurations and batches too large to allocate are reported, never
 * wrapped around. */
typedef struct {
  float *base;
  double used;
} Carver;

#define MAX_ACTIVATION_FLOATS 0x1p50

static float *
take (Carver *carver, double n)
{
  float *p = carver->base != NULL ? carver->base + (size_t) carver->used : NULL;
  carver->used += n;
  return p;
}

/* Points A's buffers for BATCH sequences into the carver. */
static void
tower_acts_layout (ClipTowerActs *a, Carver *carver, const ClipConfig *c, gboolean vision, double batch)
{
  const ClipTowerConfig *tc = vision ? &c->vision : &c->text;
  double grid = c->image_size / c->patch_size;
  double t = vision ? grid * grid + 1 : c->context_length;
  double n = batch * t, d = tc->width, f = tc->mlp_width;
  if (vision)
    {
      a->patches = take (carver, batch * grid * grid * 3 * c->patch_size * c->patch_size);
      a->tokens = take (carver, n * d);
      a->ln_pre_mean = take (carver, n);
      a->ln_pre_rstd = take (carver, n);
    }
  for (int l = 0; l < tc->layers; l++)
    {
      ClipBlockActs *b = &a->blocks[l];
      b->x_in = take (carver, n * d);
      b->ln1 = take (carver, n * d);
      b->ln1_mean = take (carver, n);
      b->ln1_rstd = take (carver, n);
      b->q = take (carver, n * d);
      b->k = take (carver, n * d);
      b->v = take (carver, n * d);
      b->probs = take (carver, batch * tc->heads * t * t);
      b->attn = take (carver, n * d);
      b->x_mid = take (carver, n * d);
      b->ln2 = take (carver, n * d);
      b->ln2_mean = take (carver, n);
      b->ln2_rstd = take (carver, n);
      b->fc1 = take (carver, n * f);
      b->act = take (carver, n * f);
    }
  a->pool_in = take (carver, batch * d);
  a->pooled = take (carver, batch * d);
  a->pool_mean = take (carver, batch);
  a->pool_rstd = take (carver, batch);
}

/* Backward scratch of one tower: dx, then block_backward's six [N, D] and two [N, F] buffers. */
static double
tower_work_floats (const ClipConfig *c, gboolean vision, double batch)
{
  const ClipTowerConfig *tc = vision ? &c->vision : &c->text;
  double grid = c->image_size / c->patch_size;
  double n = batch * (vision ? grid * grid + 1 : c->context_length);
  return n * (7.0 * tc->width + 2.0 * tc->mlp_width);
}

static void
release_buffers (ClipTrainer *tr)
{
  g_clear_pointer (&tr->acts_block, g_free);
  g_clear_pointer (&tr->work, g_free);
  g_clear_pointer (&tr->img_f, g_free);
  g_clear_pointer (&tr->text.pool, g_free);
  g_clear_pointer (&tr->img_all, g_free);
  tr->capacity = 0;
}

static gboolean
ensure_capacity (ClipTrainer *tr, int batch, GError **error)
{
  if (batch <= tr->capacity)
    return TRUE;
  release_buffers (tr);
  const ClipConfig *c = &tr->model->config;
  Carver count = { NULL, 0 };
  tower_acts_layout (&tr->vision, &count, c, TRUE, batch);
  double vision = count.used;
  tower_acts_layout (&tr->text, &count, c, FALSE, batch);
  double work = MAX (tower_work_floats (c, TRUE, batch), tower_work_floats (c, FALSE, batch));
  double total = count.used + work;
  if (total <= MAX_ACTIVATION_FLOATS)
    {
      tr->acts_block = g_try_new (float, (size_t) count.used);
      tr->work = g_try_new (float, (size_t) work);
      tr->img_f = g_try_new0 (float, (size_t) 8 * batch * c->embed_dim);
      if (tr->distributed)
        tr->img_all = g_try_new0 (float, (size_t) 4 * tr->comm.size * batch * c->embed_dim);
    }
  if (tr->acts_block == NULL || tr->work == NULL || tr->img_f == NULL || (tr->distributed && tr->img_all == NULL))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "cannot allocate %.0f MB of activations for a batch "
                   "of %d", total * sizeof (float) / 1e6, batch);
      release_buffers (tr);
      return FALSE;
    }
  Carver vision_carver = { tr->acts_block, 0 }, text_carver = { tr->acts_block + (size_t) vision, 0 };
  tower_acts_layout (&tr->vision, &vision_carver, c, TRUE, batch);
  tower_acts_layout (&tr->text, &text_carver, c, FALSE, batch);
  tr->text.pool = g_new (int, batch);
  size_t be = (size_t) batch * c->embed_dim;
  tr->txt_f = tr->img_f + be;
  tr->img_e = tr->txt_f + be;
  tr->txt_e = tr->img_e + be;
  tr->dimg_f = tr->txt_e + be;
  tr->dtxt_f = tr->dimg_f + be;
  tr->dimg_e = tr->dtxt_f + be;
  tr->dtxt_e = tr->dimg_e + be;
  if (tr->distributed)
    {
      size_t all = be * tr->comm.size;
      tr->txt_all = tr->img_all + all;
      tr->dimg_all = tr->txt_all + all;
      tr->dtxt_all = tr->dimg_all + all;
    }
  tr->capacity = batch;
  return TRUE;
}

void
clip_trainer_free (ClipTrainer *tr)
{
  if (tr == NULL)
    return;
  release_buffers (tr);
  g_free (tr->vision.blocks);
  g_free (tr->text.blocks);
  if (tr->table != NULL)
    clip_tensor_table_free (tr->table, tr->n_tensors);
  clip_weights_clear (&tr->gw);
  g_clear_pointer (&tr->model, clip_model_free);
  g_free (tr->params);
  g_free (tr->grads);
  g_free (tr->m);
  g_free (tr->v);
  g_free (tr);
}

ClipTrainer *
clip_trainer_new (const ClipModel *model, const ClipOptimConfig *optim, GError **error)
{
  const ClipConfig *c = &model->config;
  const char *label = model->path != NULL ? model->path : "model";
  if (!optim_validate (optim, label, error))
    return NULL;
  g_autoptr (ClipTrainer) tr = g_new0 (ClipTrainer, 1);
  tr->optim = *optim;
  tr->n_params = clip_weights_n_floats (c);
  tr->params = g_try_new (float, tr->n_params);
  tr->grads = g_try_new0 (float, tr->n_params);
  tr->m = g_try_new0 (float, tr->n_params);
  tr->v = g_try_new0 (float, tr->n_params);
  if (tr->params == NULL || tr->grads == NULL || tr->m == NULL || tr->v == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "%s: cannot allocate %" G_GINT64_FORMAT " MB for the "
                   "weights, gradients and AdamW moments", label, tr->n_params * 16 / 1000000);
      return NULL;
    }
  tr->model = clip_model_new_from_block (c, &model->preprocess, model->tokenizer, tr->params, FALSE, label);
  tr->table = clip_tensor_table_new (c, &tr->model->w, &tr->n_tensors);
  clip_weights_init (&tr->gw, c);
  clip_weights_carve (&tr->gw, c, tr->grads);
  tr->vision.blocks = g_new0 (ClipBlockActs, c->vision.layers);
  tr->text.blocks = g_new0 (ClipBlockActs, c->text.layers);

  clip_model_restore_originals ((ClipModel *) model);
  ClipWeights src = model->w;  /* the table only reads the pointers */
  int n;
  ClipTensorInfo *src_table = clip_tensor_table_new (c, &src, &n);
  gboolean finite = TRUE;
  for (int i = 0; i < n && finite; i++)
    {
      const float *from = *src_table[i].slot;
      for (int64_t j = 0; j < src_table[i].n_elements && finite; j++)
        finite = isfinite (from[j]);
      if (!finite)
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: tensor '%s' holds a value that is not finite; "
                     "training cannot start from it", label, src_table[i].hf_name);
      memcpy (*tr->table[i].slot, from, sizeof (float) * src_table[i].n_elements);
    }
  clip_tensor_table_free (src_table, n);
  return finite ? g_steal_pointer (&tr) : NULL;
}

ClipModel *
clip_trainer_get_model (ClipTrainer *tr)
{
  return tr->model;
}

int64_t
clip_trainer_get_step (const ClipTrainer *tr)
{
  return tr->step;
}

void
clip_trainer_set_communicator (ClipTrainer *tr, const ClipCommunicator *comm)
{
  release_buffers (tr);  /* the gathered buffers depend on the number of ranks */
  tr->distributed = comm != NULL;
  if (comm != NULL)
    tr->comm = *comm;
}

/* ------------------------------------------------------------------ backward passes */

static void
zero (float *x, size_t n)
{
  memset (x, 0, n * sizeof (float));
}

/* Differentiates block_forward (model.c).  DX [B·T, D] holds the gradient of the block's output
 * and receives that of its input; G receives the weight gradients; WORK holds 6·N·D + 2·N·F. */
static void
block_backward (float *dx, ClipLayerWeights *g, const ClipLayerWeights *lw, const ClipBlockActs *a,
                const ClipTowerConfig *tc, int b, int t, int causal, float *work)
{
  int n = b * t, d = tc->width, f = tc->mlp_width;
  size_t nd = (size_t) n * d, nf = (size_t) n * f;
  float *dbranch = work, *dln = dbranch + nd, *dq = dln + nd, *dk = dq + nd, *dv = dk + nd;
  float *dattn = dv + nd, *dfc = dattn + nd, *dact = dfc + nf;

  /* x += fc2 (act (fc1 (ln2 (x)))) */
  zero (dbranch, nd);
  clip_add_inplace_backward (dbranch, dx, nd);
  zero (dact, nf);
  clip_linear_backward (dact, g->fc2_w, g->fc2_b, dbranch, a->act, lw->fc2_w, n, f, d);
  zero (dfc, nf);
  clip_activation_backward (dfc, dact, a->fc1, nf, tc->activation == CLIP_ACTIVATION_QUICK_GELU);
  zero (dln, nd);
  clip_linear_backward (dln, g->fc1_w, g->fc1_b, dfc, a->ln2, lw->fc1_w, n, d, f);
  clip_layernorm_backward (dx, g->ln2_w, g->ln2_b, dln, a->x_mid, lw->ln2_w, a->ln2_mean, a->ln2_rstd, n, d);

  /* x += out_proj (attention (q, k, v of ln1 (x))) */
  zero (dbranch, nd);
  clip_add_inplace_backward (dbranch, dx, nd);
  zero (dattn, nd);
  clip_linear_backward (dattn, g->o_w, g->o_b, dbranch, a->attn, lw->o_w, n, d, d);
  zero (dq, 3 * nd);
  clip_attention_backward (dq, dk, dv, dattn, a->probs, a->q, a->k, a->v, b, t, d, d, tc->heads, causal, NULL);
  zero (dln, nd);
  clip_linear_backward (dln, g->q_w, g->q_b, dq, a->ln1, lw->q_w, n, d, d);
  clip_linear_backward (dln, g->k_w, g->k_b, dk, a->ln1, lw->k_w, n, d, d);
  clip_linear_backward (dln, g->v_w, g->v_b, dv, a->ln1, lw->v_w, n, d, d);
  clip_layernorm_backward (dx, g->ln1_w, g->ln1_b, dln, a->x_in, lw->ln1_w, a->ln1_mean, a->ln1_rstd, n, d);
}

/* Differentiates pool_project (model.c): DFEATURES [B, E] → gradient of the last block's output
 * in DX [B, T, D] (zeroed here). */
static void
pool_project_backward (float *dx, ClipTowerActs *a, const float *dfeatures, float *ln_dw, float *ln_db,
                       const float *ln_w, float *dproj, const float *proj, int d, int embed_dim, float *work)
{
  int n = a->n;
  float *dpooled = work, *dpool_in = work + (size_t) n * d;
  zero (dx, (size_t) n * a->t * d);
  zero (work, 2 * (size_t) n * d);
  clip_linear_backward (dpooled, dproj, NULL, dfeatures, a->pooled, proj, n, d, embed_dim);
  clip_layernorm_backward (dpool_in, ln_dw, ln_db, dpooled, a->pool_in, ln_w, a->pool_mean, a->pool_rstd, n, d);
  clip_pool_backward (dx, dpool_in, a->pool, n, a->t, d);
}

/* Differentiates vision_forward (model.c) from the image features' gradient. */
static gboolean
vision_backward (ClipTrainer *tr, const float *dfeatures, const ClipCallbacks *callbacks, GError **error)
{
  const ClipConfig *c = &tr->model->config;
  const ClipTowerConfig *tc = &c->vision;
  const ClipWeights *w = &tr->model->w;
  ClipWeights *g = &tr->gw;
  ClipTowerActs *a = &tr->vision;
  int n = a->n, t = a->t, d = tc->width;
  size_t ntd = (size_t) n * t * d;
  float *dx = tr->work, *work = dx + ntd;

  pool_project_backward (dx, a, dfeatures, g->v_ln_post_w, g->v_ln_post_b, w->v_ln_post_w, g->v_proj, w->v_proj,
                         d, c->embed_dim, work);
  for (int l = tc->layers - 1; l >= 0; l--)
    {
      if (!clip_callbacks_check_abort (callbacks, error))
        return FALSE;
      block_backward (dx, &g->vision_layers[l], &w->vision_layers[l], &a->blocks[l], tc, n, t, FALSE, work);
    }
  /* x = ln_pre (class_embedding (patch_embed (pixels))) */
  float *dtokens = work, *dembedded = work + ntd;
  zero (work, 2 * ntd);
  clip_layernorm_backward (dtokens, g->v_ln_pre_w, g->v_ln_pre_b, dx, a->tokens, w->v_ln_pre_w,
                           a->ln_pre_mean, a->ln_pre_rstd, n * t, d);
  clip_class_embedding_backward (dembedded, g->v_class, g->v_pos, dtokens, n, t, d);
  clip_patch_embed_backward (g->v_patch, dembedded, a->patches, n, c->image_size, c->patch_size, d);
  return TRUE;
}

/* Differentiates text_forward (model.c) from the text features' gradient. */
static gboolean
text_backward (ClipTrainer *tr, const float *dfeatures, const int32_t *ids, const ClipCallbacks *callbacks,
               GError **error)
{
  const ClipConfig *c = &tr->model->config;
  const ClipTowerConfig *tc = &c->text;
  const ClipWeights *w = &tr->model->w;
  ClipWeights *g = &tr->gw;
  ClipTowerActs *a = &tr->text;
  int n = a->n, t = a->t, d = tc->width;
  float *dx = tr->work, *work = dx + (size_t) n * t * d;

  pool_project_backward (dx, a, dfeatures, g->t_ln_final_w, g->t_ln_final_b, w->t_ln_final_w, g->t_proj,
                         w->t_proj, d, c->embed_dim, work);
  for (int l = tc->layers - 1; l >= 0; l--)
    {
      if (!clip_callbacks_check_abort (callbacks, error))
        return FALSE;
      block_backward (dx, &g->text_layers[l], &w->text_layers[l], &a->blocks[l], tc, n, t, TRUE, work);
    }
  clip_embedding_backward (g->t_tok, g->t_pos, dx, ids, n, t, c->context_length, d);
  return TRUE;
}

/* The loss and the embeddings' gradients of a data-parallel step (open_clip's local loss with
 * gathered features): every rank gathers the unit features, computes the loss rows of its images and
 * the columns of its texts, and the gathered features' gradients go back to their owners summed. */
static gboolean
distributed_loss (ClipTrainer *tr, int batch, float logit_scale, double *loss, GError **error)
{
  const ClipCommunicator *comm = &tr->comm;
  int e = tr->model->config.embed_dim;
  size_t be = (size_t) batch * e;
  if (!comm->allgather (tr->img_e, tr->img_all, be * sizeof (float), comm->user_data, error)
      || !comm->allgather (tr->txt_e, tr->txt_all, be * sizeof (float), comm->user_data, error))
    return FALSE;
  zero (tr->dimg_all, 2 * be * comm->size);  /* dimg_all, dtxt_all */
  double share = clip_contrastive_loss_shard (tr->dimg_all, tr->dtxt_all, tr->gw.logit_scale, tr->img_all,
                                              tr->txt_all, logit_scale, batch * comm->size, comm->rank * batch,
                                              batch, e);
  return clip_dist_sum_double (comm, share, loss, error)
         && comm->reduce_scatter_sum (tr->dimg_all, tr->dimg_e, be, comm->user_data, error)
         && comm->reduce_scatter_sum (tr->dtxt_all, tr->dtxt_e, be, comm->user_data, error);
}

gboolean
clip_trainer_compute_gradients (ClipTrainer *tr, const float *pixels, const int32_t *ids, int batch,
                                double *loss, const ClipCallbacks *callbacks, GError **error)
{
  ClipModel *model = tr->model;
  const ClipConfig *c = &model->config;
  int e = c->embed_dim;
  if (batch < 1 || batch > MAX_BATCH)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "a training batch of %d pairs: it must hold 1 to %d",
                   batch, MAX_BATCH);
      return FALSE;
    }
  if (!ensure_capacity (tr, batch, error))
    return FALSE;

  /* A data-parallel step cannot stop half-way on one rank: the others would wait for it. */
  if (tr->distributed)
    callbacks = NULL;
  if (!clip_vision_forward_train (model, pixels, batch, tr->img_f, &tr->vision, callbacks, error)
      || !clip_text_forward_train (model, ids, batch, c->context_length, tr->txt_f, &tr->text, callbacks, error))
    return FALSE;

  size_t be = (size_t) batch * e;
  clip_l2norm_forward (tr->img_e, tr->img_f, batch, e);
  clip_l2norm_forward (tr->txt_e, tr->txt_f, batch, e);
  float logit_scale = model->w.logit_scale[0];
  zero (tr->grads, tr->n_params);
  zero (tr->dimg_f, 4 * be);  /* dimg_f, dtxt_f, dimg_e, dtxt_e */
  if (tr->distributed)
    {
      if (!distributed_loss (tr, batch, logit_scale, loss, error))
        return FALSE;
    }
  else
    {
      *loss = clip_contrastive_loss_forward (NULL, tr->img_e, tr->txt_e, logit_scale, batch, e);
      clip_contrastive_loss_backward (tr->dimg_e, tr->dtxt_e, tr->gw.logit_scale, 1.0, tr->img_e, tr->txt_e,
                                      logit_scale, batch, e);
    }
  clip_l2norm_backward (tr->dimg_f, tr->dimg_e, tr->img_f, batch, e);
  clip_l2norm_backward (tr->dtxt_f, tr->dtxt_e, tr->txt_f, batch, e);
  if (!vision_backward (tr, tr->dimg_f, callbacks, error) || !text_backward (tr, tr->dtxt_f, ids, callbacks, error))
    return FALSE;
  /* each rank holds the gradient of its share of the loss: the global one is their sum */
  return !tr->distributed || clip_dist_sum_gradients (&tr->comm, tr->grads, tr->n_params, error);
}

const float *
clip_trainer_get_gradient (const ClipTrainer *tr, const char *name)
{
  for (int i = 0; i < tr->n_tensors; i++)
    if (g_str_equal (tr->table[i].hf_name, name))
      return tr->grads + (*tr->table[i].slot - tr->params);
  return NULL;
}

/* ------------------------------------------------------------------ the update */

/* torch.optim.AdamW, one flat loop over the blocks: decoupled decay p ← p·(1 − lr·wd) on tensors
 * with ≥ 2 dimensions, then m, v and the bias-corrected step.  GRAD_SCALE is the clipping factor. */
static void
adamw_update (ClipTrainer *tr, double lr, double grad_scale)
{
  const ClipOptimConfig *o = &tr->optim;
  double t = (double) (tr->step + 1);
  double step_size = lr / (1.0 - pow (o->beta1, t));
  double bc2_sqrt = sqrt (1.0 - pow (o->beta2, t));
  for (int i = 0; i < tr->n_tensors; i++)
    {
      const ClipTensorInfo *info = &tr->table[i];
      int64_t start = *info->slot - tr->params, end = start + info->n_elements;
      double decay = clip_tensor_decays (info) ? 1.0 - lr * o->weight_decay : 1.0;
      for (int64_t j = start; j < end; j++)
        {
          double g = tr->grads[j] * grad_scale;
          tr->m[j] = (float) (o->beta1 * tr->m[j] + (1.0 - o->beta1) * g);
          tr->v[j] = (float) (o->beta2 * tr->v[j] + (1.0 - o->beta2) * g * g);
          double denom = sqrt ((double) tr->v[j]) / bc2_sqrt + o->eps;
          tr->params[j] = (float) (tr->params[j] * decay - step_size * tr->m[j] / denom);
        }
    }
}

gboolean
clip_trainer_step (ClipTrainer *tr, const float *pixels, const int32_t *ids, int batch,
                   ClipStepStats *stats, const ClipCallbacks *callbacks, GError **error)
{
  double loss;
  if (!clip_blas_check_room (error))
    return FALSE;
  /* A non-finite pixel would only poison the loss; refuse it before any arithmetic on it. */
  int64_t n_pixels = (int64_t) batch * 3 * tr->model->config.image_size * tr->model->config.image_size;
  g_autoptr (GError) local_failure = NULL;
  for (int64_t i = 0; i < n_pixels && local_failure == NULL; i++)
    if (!isfinite (pixels[i]))
      g_set_error (&local_failure, CLIP_ERROR, CLIP_ERROR_INVALID, "step %" G_GINT64_FORMAT ": image %"
                   G_GINT64_FORMAT " of the batch has a non-finite pixel value; the weights were not updated",
                   tr->step + 1, i / (n_pixels / MAX (batch, 1)) + 1);
  if (tr->distributed && local_failure == NULL)
    clip_callbacks_check_abort (callbacks, &local_failure);
  if (tr->distributed)
    {
      if (!clip_communicator_agree (&tr->comm, local_failure, error))
        return FALSE;
    }
  else if (local_failure != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_failure));
      return FALSE;
    }
  if (!clip_trainer_compute_gradients (tr, pixels, ids, batch, &loss, callbacks, error))
    return FALSE;
  double sum_sq = 0;
  for (int64_t i = 0; i < tr->n_params; i++)
    sum_sq += (double) tr->grads[i] * tr->grads[i];
  double grad_norm = sqrt (sum_sq);
  if (!isfinite (loss) || !isfinite (grad_norm))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "step %" G_GINT64_FORMAT ": the loss (%g) or the "
                   "gradient norm (%g) is not finite; the weights were not updated", tr->step + 1, loss, grad_norm);
      return FALSE;
    }

  double lr = clip_optim_lr_at (&tr->optim, tr->step);
  double grad_scale = 1.0;
  if (tr->optim.grad_clip > 0)
    grad_scale = MIN (1.0, tr->optim.grad_clip / (grad_norm + GRAD_CLIP_EPS));
  adamw_update (tr, lr, grad_scale);
  /* open_clip clamps the temperature after every step. */
  float *logit_scale = tr->model->w.logit_scale;
  logit_scale[0] = CLAMP (logit_scale[0], 0.0f, (float) log (100.0));
  tr->step++;
  if (tr->model->text_cache != NULL)
    g_hash_table_remove_all (tr->model->text_cache);  /* its embeddings came from the old weights */

  if (stats != NULL)
    *stats = (ClipStepStats) { .step = tr->step, .loss = loss, .lr = lr, .grad_norm = grad_norm,
                               .logit_scale = logit_scale[0] };
  return TRUE;
}

/* ------------------------------------------------------------------ checkpoints */

static const struct {
  const char *key;
  size_t offset;
} optim_doubles[] = {
  { "lr", G_STRUCT_OFFSET (ClipOptimConfig, lr) },
  { "beta1", G_STRUCT_OFFSET (ClipOptimConfig, beta1) },
  { "beta2", G_STRUCT_OFFSET (ClipOptimConfig, beta2) },
  { "eps", G_STRUCT_OFFSET (ClipOptimConfig, eps) },
  { "weight_decay", G_STRUCT_OFFSET (ClipOptimConfig, weight_decay) },
  { "grad_clip", G_STRUCT_OFFSET (ClipOptimConfig, grad_clip) },
};

static const struct {
  const char *key;
  size_t offset;
} optim_ints[] = {
  { "warmup_steps", G_STRUCT_OFFSET (ClipOptimConfig, warmup_steps) },
  { "total_steps", G_STRUCT_OFFSET (ClipOptimConfig, total_steps) },
};

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* {"version", "step", "optimizer": {...}, "metadata_keys": [the caller's keys]}; doubles are
 * written with 17 significant digits, so they read back bit for bit. */
static char *
trainer_json (const ClipTrainer *tr, GPtrArray *keys)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, TRAINER_FORMAT_VERSION);
  json_builder_set_member_name (b, "step");
  json_builder_add_int_value (b, tr->step);
  json_builder_set_member_name (b, "optimizer");
  json_builder_begin_object (b);
  for (size_t i = 0; i < G_N_ELEMENTS (optim_doubles); i++)
    {
      json_builder_set_member_name (b, optim_doubles[i].key);
      json_builder_add_double_value (b, G_STRUCT_MEMBER (double, &tr->optim, optim_doubles[i].offset));
    }
  for (size_t i = 0; i < G_N_ELEMENTS (optim_ints); i++)
    {
      json_builder_set_member_name (b, optim_ints[i].key);
      json_builder_add_int_value (b, G_STRUCT_MEMBER (int64_t, &tr->optim, optim_ints[i].offset));
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "metadata_keys");
  json_builder_begin_array (b);
  for (guint i = 0; i < keys->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (keys, i));
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

gboolean
clip_trainer_save (ClipTrainer *tr, const char *path, GHashTable *metadata, GError **error)
{
  g_autoptr (GPtrArray) keys = g_ptr_array_new ();
  if (metadata != NULL)
    {
      GHashTableIter iter;
      gpointer key;
      g_hash_table_iter_init (&iter, metadata);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          if (g_str_has_prefix (key, "cliplab.") || g_str_equal (key, "__metadata__"))
            {
              g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: metadata key \"%s\" is reserved "
                           "(keys starting with \"cliplab.\" belong to the checkpoint format)", path,
                           (const char *) key);
              return FALSE;
            }
          g_ptr_array_add (keys, key);
        }
      g_ptr_array_sort (keys, compare_strings);
    }

  g_autoptr (ClipStWriter) writer = clip_st_writer_new ();
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func (g_free);
  clip_model_add_to_writer (tr->model, writer, CLIP_DTYPE_F32, keep);
  const struct { const char *prefix; const float *block; } moments[] = {
    { CLIP_TRAINER_TENSOR_PREFIX "m.", tr->m }, { CLIP_TRAINER_TENSOR_PREFIX "v.", tr->v },
  };
  for (size_t k = 0; k < G_N_ELEMENTS (moments); k++)
    for (int i = 0; i < tr->n_tensors; i++)
      {
        const ClipTensorInfo *info = &tr->table[i];
        g_autofree char *name = g_strconcat (moments[k].prefix, info->hf_name, NULL);
        clip_st_writer_add (writer, name, CLIP_DTYPE_F32, info->n_dims, info->shape,
                            moments[k].block + (*info->slot - tr->params));
      }
  for (guint i = 0; i < keys->len; i++)
    clip_st_writer_set_metadata (writer, g_ptr_array_index (keys, i),
                                 g_hash_table_lookup (metadata, g_ptr_array_index (keys, i)));
  g_autofree char *json = trainer_json (tr, keys);
  clip_st_writer_set_metadata (writer, CLIP_TRAINER_METADATA_KEY, json);
  return clip_st_writer_write (writer, path, error);
}

/* A required integer member of at least MIN, as int64. */
static gboolean
json_require_int64 (JsonObject *obj, const char *key, int64_t min, int64_t *value, const char *label,
                    GError **error)
{
  JsonNode *node = json_object_get_member (obj, key);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64
      || json_node_get_int (node) < min)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: trainer metadata: \"%s\" must be an integer ≥ %"
                   G_GINT64_FORMAT, label, key, min);
      return FALSE;
    }
  *value = json_node_get_int (node);
  return TRUE;
}

static gboolean
parse_trainer_json (const char *json, const char *label, int64_t *step, ClipOptimConfig *optim,
                    GPtrArray *keys, GError **error)
{
  g_autoptr (JsonNode) root = clip_json_parse (json, strlen (json), label, TRUE, error);
  if (root == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: trainer metadata: not a JSON object", label);
      return FALSE;
    }
  JsonObject *obj = json_node_get_object (root), *opt;
  int64_t version = 0;
  if (!clip_json_get_object (obj, "optimizer", &opt, label, error))
    return FALSE;
  if (opt == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: trainer metadata: \"optimizer\" is missing", label);
      return FALSE;
    }
  if (!json_require_int64 (obj, "version", 1, &version, label, error))
    return FALSE;
  if (version != TRAINER_FORMAT_VERSION)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED, "%s: trainer checkpoint version %" G_GINT64_FORMAT
                   " is not one this program reads (%d)", label, version, TRAINER_FORMAT_VERSION);
      return FALSE;
    }
  if (!json_require_int64 (obj, "step", 0, step, label, error))
    return FALSE;
  for (size_t i = 0; i < G_N_ELEMENTS (optim_doubles); i++)
    {
      double *dst = &G_STRUCT_MEMBER (double, optim, optim_doubles[i].offset);
      *dst = NAN;
      if (!clip_json_get_double (opt, optim_doubles[i].key, dst, label, error))
        return FALSE;
      if (isnan (*dst))
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: trainer metadata: optimizer \"%s\" is missing",
                       label, optim_doubles[i].key);
          return FALSE;
        }
    }
  for (size_t i = 0; i < G_N_ELEMENTS (optim_ints); i++)
    if (!json_require_int64 (opt, optim_ints[i].key, G_MININT64, &G_STRUCT_MEMBER (int64_t, optim,
                                                                                  optim_ints[i].offset),
                             label, error))
      return FALSE;
  JsonNode *list = json_object_get_member (obj, "metadata_keys");
  JsonArray *arr = list != NULL && JSON_NODE_HOLDS_ARRAY (list) ? json_node_get_array (list) : NULL;
  if (arr == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: trainer metadata: \"metadata_keys\" must be an "
                   "array of strings", label);
      return FALSE;
    }
  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      JsonNode *e = json_array_get_element (arr, i);
      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: trainer metadata: \"metadata_keys\" must be "
                       "an array of strings", label);
          return FALSE;
        }
      g_ptr_array_add (keys, g_strdup (json_node_get_string (e)));
    }
  return TRUE;
}

/* Copies the moment tensor PREFIX + the canonical name of INFO into DST after checking it. */
static gboolean
load_moment (const ClipSafetensors *st, const char *prefix, const ClipTensorInfo *info, gboolean second,
             float *dst, GError **error)
{
  const char *label = clip_safetensors_path (st);
  g_autofree char *name = g_strconcat (prefix, info->hf_name, NULL);
  const ClipStTensor *t = clip_safetensors_find (st, name);
  if (t == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: tensor '%s' is missing", label, name);
      return FALSE;
    }
  if (t->dtype != CLIP_DTYPE_F32 || t->n_dims != info->n_dims
      || memcmp (t->shape, info->shape, sizeof (int64_t) * info->n_dims) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_SHAPE, "%s: tensor '%s' must be F32 with the shape of '%s'",
                   label, name, info->hf_name);
      return FALSE;
    }
  memcpy (dst, t->data, sizeof (float) * info->n_elements);
  for (int64_t j = 0; j < info->n_elements; j++)
    if (!isfinite (dst[j]) || (second && dst[j] < 0))
      {
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: tensor '%s' holds %g at index %" G_GINT64_FORMAT
                     " (moments are finite, second moments ≥ 0)", label, name, dst[j], j);
        return FALSE;
      }
  return TRUE;
}

ClipTrainer *
clip_trainer_load (const char *path, GHashTable **metadata, GError **error)
{
  g_autoptr (ClipModel) model = clip_model_load (path, NULL, error);
  if (model == NULL)
    return NULL;
  const ClipSafetensors *st = model->file;
  const char *json = st != NULL && model->layout == CLIP_LAYOUT_CLIPLAB
                       ? clip_safetensors_metadata (st, CLIP_TRAINER_METADATA_KEY) : NULL;
  if (json == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: not a trainer checkpoint (metadata \"%s\" is "
                   "missing); a model file starts a new run instead", path, CLIP_TRAINER_METADATA_KEY);
      return NULL;
    }
  const char *label = clip_safetensors_path (st);
  int64_t step;
  ClipOptimConfig optim;
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  if (!parse_trainer_json (json, label, &step, &optim, keys, error))
    return NULL;
  g_autoptr (ClipTrainer) tr = clip_trainer_new (model, &optim, error);
  if (tr == NULL)
    return NULL;
  tr->step = step;
  for (int i = 0; i < tr->n_tensors; i++)
    {
      int64_t offset = *tr->table[i].slot - tr->params;
      if (!load_moment (st, CLIP_TRAINER_TENSOR_PREFIX "m.", &tr->table[i], FALSE, tr->m + offset, error)
          || !load_moment (st, CLIP_TRAINER_TENSOR_PREFIX "v.", &tr->table[i], TRUE, tr->v + offset, error))
        return NULL;
    }
  g_autoptr (GHashTable) pairs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 0; i < keys->len; i++)
    {
      const char *key = g_ptr_array_index (keys, i);
      const char *value = clip_safetensors_metadata (st, key);
      if (value == NULL)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: metadata \"%s\" listed by the trainer "
                       "metadata is missing", label, key);
          return NULL;
        }
      g_hash_table_insert (pairs, g_strdup (key), g_strdup (value));
    }
  if (metadata != NULL)
    *metadata = g_steal_pointer (&pairs);
  return g_steal_pointer (&tr);
}
