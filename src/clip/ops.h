/* ops.h — internal: the numeric building blocks (pure C11 + libm + cblas, no GLib).
 * Shapes are written [rows, cols] in row-major order; N is the number of token rows.
 *
 * Every forward has a backward beside it with mirrored arguments: the forward's outputs become
 * incoming gradients (d-prefixed), its inputs and parameters become gradients that the backward
 * ACCUMULATES into (+=), so a tensor used twice collects both contributions and callers zero the
 * gradient buffers once per pass.  A NULL gradient pointer skips that gradient. */
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>


/* out[N, OUT] = inp[N, IN] · weight[OUT, IN]ᵀ, or += with ACCUMULATE: the one cblas_sgemm of a
 * linear layer in training (weights as stored: x · Wᵀ, the operand order OpenBLAS ran fastest here). */
void clip_matmul_forward (float *out, const float *inp, const float *weight, int n, int in_dim, int out_dim,
                          int accumulate);
/* x[N, D] += bias[D] on every row: with clip_matmul_forward (…, accumulate), a linear layer added to a
 * residual stream in place.  Its backward is the bias part of clip_linear_backward. */
void clip_bias_add_forward (float *x, const float *bias, int n, int dim);

/* Inference products on weights repacked once: the output columns in panels of CLIP_PANEL, each
 * panel [IN][CLIP_PANEL] contiguous (the last one zero-padded), so that a pass streams the weights in
 * order and keeps a block of input rows in cache (OpenBLAS repacks the weights on every call, which
 * dominated one image's forward pass). */
#define CLIP_PANEL 32
/* Floats of a packed matrix with OUT output columns. */
int64_t clip_packed_floats (int in_dim, int out_dim);
/* Writes WEIGHT [OUT, IN] as columns COL0 … COL0 + OUT − 1 of the packed matrix PACKED (zeroed by
 * the caller), so that several weights can share one matrix (Q, K and V). */
void clip_pack_weight (float *packed, const float *weight, int in_dim, int out_dim, int col0);
/* The inverse: WEIGHT[OUT, IN] back from columns COL0.. of the panels, bit for bit. */
void clip_unpack_weight (float *weight, const float *packed, int in_dim, int out_dim, int col0);
/* What clip_packed_linear_forward applies to its results: nothing, or clip_activation_forward's. */
enum { CLIP_PACKED_LINEAR, CLIP_PACKED_QUICK_GELU, CLIP_PACKED_GELU };
/* For the output columns of panels P0 … P1 − 1: out[N, ·] (row stride LDO) = ACTIVATION ((out if
 * ADD, else 0) + bias + inp[N, IN] · weightᵀ), the weight packed by clip_pack_weight into OUT
 * columns; BIAS [OUT] may be NULL.  The sums are rounded as clip_matmul_forward's after the bias rows. */
void clip_packed_linear_forward (float *out, int ldo, const float *inp, const float *packed, const float *bias,
                                 int n, int in_dim, int out_dim, int add, int activation, int p0, int p1);
/* Which build of clip_packed_linear_forward this CPU runs: "f32-panels-avx512", "-avx2", "-baseline". */
const char *clip_packed_kernel_name (void);

/* out[N, OUT] = inp[N, IN] · weight[OUT, IN]ᵀ + bias[OUT] (bias may be NULL). */
void clip_linear_forward (float *out, const float *inp, const float *weight, const float *bias,
                          int n, int in_dim, int out_dim);
/* dinp[N, IN] += dout · weight; dweight[OUT, IN] += doutᵀ · inp; dbias[OUT] += Σ rows of dout. */
void clip_linear_backward (float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, int n, int in_dim, int out_dim);

/* out[N, D] = (inp − mean) · rstd · weight + bias over each row; MEAN and RSTD [N] receive the
 * statistics when not NULL (the backward pass needs them).  Statistics accumulate in double. */
void clip_layernorm_forward (float *out, float *mean, float *rstd, const float *inp,
                             const float *weight, const float *bias, int n, int dim, float eps);
/* From the forward's MEAN and RSTD; DINP must not alias DOUT. */
void clip_layernorm_backward (float *dinp, float *dweight, float *dbias, const float *dout,
                              const float *inp, const float *weight, const float *mean, const float *rstd,
                              int n, int dim);

/* e^x for x in [−87, 88] (clamped outside, where the callers' results no longer change), within
 * 2 ulp: x = n·ln2 + r with |r| ≤ ln2/2, e^r by Cephes' expf polynomial, 2^n put into the exponent
 * bits.  Unlike libm's expf it has no branches, so loops calling it are vectorised. */
static inline float
clip_exp_fast (float x)
{
  float input = x;
  /* Written so that NaN lands on −87 (no float-to-int overflow below) and comes back as NaN. */
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
  float n = (x * 1.44269504088896341f + 0x1.8p23f) - 0x1.8p23f;   /* round to nearest */
  float r = x - n * 0.693359375f;                                  /* ln2 in two parts */
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t) n + 127) * (1 << 23);
  float scale;
  memcpy (&scale, &bits, sizeof scale);
  return input == input ? p * scale : input;
}

/* The activations of clip_activation_forward, one value at a time, for loops that apply them as
 * they write results. */
static inline float
clip_quick_gelu (float x)
{
  return x / (1.0f + clip_exp_fast (-1.702f * x));
}

static inline float
clip_gelu (float x)
{
  return 0.5f * x * (1.0f + erff (x * (float) M_SQRT1_2));
}

/* x·sigmoid(1.702·x) when QUICK, else exact GELU 0.5·x·(1 + erf(x/√2)); OUT may equal INP. */
void clip_activation_forward (float *out, const float *inp, int64_t n, int quick);
/* dinp += dout · act'(inp): needs the activation's input, so training keeps it. */
void clip_activation_backward (float *dinp, const float *dout, const float *inp, int64_t n, int quick);

/* Multi-head self-attention over B sequences of T tokens (width D = heads × head_dim).
 * Q, K, V are [B, T, D] with row stride LD (≥ D, so they may be interleaved); OUT is [B, T, D];
 * PROBS [B, heads, T, T] keeps the softmax for the backward pass when not NULL.
 * With CAUSAL, query i sees keys 0..i.  LENGTHS (or NULL for all T) gives per sequence the number
 * of query rows to compute; rows past it are left untouched. */
void clip_attention_forward (float *out, float *probs, const float *q, const float *k, const float *v,
                             int b, int t, int d, int ld, int heads, int causal, const int *lengths);
/* Where the sequences of a batch lie among the token rows: sequence s holds rows
 * START[s] .. START[s] + LEN[s] − 1, or, with START NULL, rows s·T .. s·T + T − 1 of which the first
 * LEN[s] (NULL: all T) are computed.  Packed sequences (START given) have no padding between them:
 * each attends only within its own LEN[s] rows, and T is the longest. */
typedef struct {
  int        b, t;
  const int *start;
  const int *len;
} ClipSeqLayout;

/* clip_attention_forward for the (sequence, head) pairs FIRST .. LAST − 1 (pair s·heads + h) of
 * SEQS, so that threads can share the work; PROBS stays [B, heads, T, T]. */
void clip_attention_forward_range (float *out, float *probs, const float *q, const float *k, const float *v,
                                   const ClipSeqLayout *seqs, int d, int ld, int heads, int causal,
                                   int64_t first, int64_t last);
/* DQ, DK, DV have row stride LD like Q, K, V; PROBS is the forward's (required).  Query rows past
 * LENGTHS receive and pass on no gradient. */
void clip_attention_backward (float *dq, float *dk, float *dv, const float *dout, const float *probs,
                              const float *q, const float *k, const float *v,
                              int b, int t, int d, int ld, int heads, int causal, const int *lengths);

/* x[i] += y[i]: the residual connection, in place. */
void clip_add_inplace (float *x, const float *y, int64_t n);
/* Its backward: the gradient of x passes through unchanged and flows into y as well, dy += dx. */
void clip_add_inplace_backward (float *dy, const float *dx, int64_t n);

/* Text input: out[B, T, D] row (b, t) = token[ids[b·stride + t]] + position[t]. */
void clip_embedding_forward (float *out, const int32_t *ids, const float *token, const float *position,
                             int b, int t, int stride, int d);
/* Scatter-add into the rows of DTOKEN that the ids used, and into DPOSITION[0..T). */
void clip_embedding_backward (float *dtoken, float *dposition, const float *dout, const int32_t *ids,
                              int b, int t, int stride, int d);

/* Vision tokens: out[B, T, D] row 0 = class + position[0], row t ≥ 1 = patches[b, t − 1] + position[t]
 * (PATCHES is [B, T − 1, D]). */
void clip_class_embedding_forward (float *out, const float *patches, const float *class_emb,
                                   const float *position, int b, int t, int d);
void clip_class_embedding_backward (float *dpatches, float *dclass_emb, float *dposition, const float *dout,
                                    int b, int t, int d);

/* PATCHES [B·G², 3·P·P] receives each patch of PIXELS [B, 3, S, S] flattened in (channel, row,
 * column) order (im2col, patches in row-major grid order). */
void clip_patch_gather (float *patches, const float *pixels, int b, int size, int patch);
/* Patch embedding, a convolution with stride = kernel = P and no bias: clip_patch_gather, then
 * out[B·G², D] = patches · weight[D, 3·P·P]ᵀ. */
void clip_patch_embed_forward (float *out, float *patches, const float *pixels, const float *weight,
                               int b, int size, int patch, int d);
/* The weight gradient only: pixels are inputs, not parameters. */
void clip_patch_embed_backward (float *dweight, const float *dout, const float *patches,
                                int b, int size, int patch, int d);

/* Pooling: out[B, D] = inp[b, pos[b]] of inp [B, T, D]; POS NULL picks row 0 (the class token). */
void clip_pool_forward (float *out, const float *inp, const int *pos, int b, int t, int d);
void clip_pool_backward (float *dinp, const float *dout, const int *pos, int b, int t, int d);

/* out[N, D] = inp / max(‖inp‖₂, 1e-12) per row, the norm in double; OUT may equal INP. */
void clip_l2norm_forward (float *out, const float *inp, int n, int d);
void clip_l2norm_backward (float *dinp, const float *dout, const float *inp, int n, int d);

/* CLIP's symmetric contrastive loss over B pairs of unit rows IMG, TXT [B, E] (row i of each
 * match): logits = exp(logit_scale)·img·txtᵀ, loss = ½(CE over rows + CE over columns) with the
 * labels on the diagonal, all in double.  LOGITS [B, B] receives logits_per_image when not NULL. */
double clip_contrastive_loss_forward (float *logits, const float *img, const float *txt, float logit_scale,
                                      int b, int e);
/* DLOSS is the incoming gradient of the loss (1 for training); DLOGIT_SCALE [1] is a gradient too. */
void clip_contrastive_loss_backward (float *dimg, float *dtxt, float *dlogit_scale, double dloss,
                                     const float *img, const float *txt, float logit_scale, int b, int e);
/* The same loss split over ranks (open_clip's local loss): IMG_ALL, TXT_ALL [N, E] hold the whole
 * batch, this rank owns pairs FIRST … FIRST + COUNT − 1 and computes the rows of its images and the
 * columns of its texts.  Returns its share of the loss (the shares sum to the loss of
 * clip_contrastive_loss_forward) and adds the share's gradients to DIMG_ALL, DTXT_ALL [N, E] (to be
 * summed over ranks) and DLOGIT_SCALE [1], in double GEMMs.  Memory: the COUNT × N logits of its rows and
 * columns and the [N, E] features, never an [N, N] matrix. */
double clip_contrastive_loss_shard (float *dimg_all, float *dtxt_all, float *dlogit_scale, const float *img_all,
                                    const float *txt_all, float logit_scale, int n, int first, int count, int e);
