/* The panel products (clip_packed_linear_forward on weights packed by clip_pack_weight) against the
 * OpenBLAS linear layer they replace at inference, on shapes the golden models do not reach: output
 * widths that leave a partial last panel, row counts that leave partial register blocks and several
 * row chunks, weights packed side by side (Q, K, V), the residual and activation variants, and the
 * panel ranges the threads split the work into.  Both sum in float32 in different orders, so they
 * agree to a few float32 roundings of the sum of |products|.  Built once with the library and, on
 * x86-64, with ops.c alone for the baseline and AVX2 instruction sets (CLIP_NO_CLONES), which this
 * machine's CPU would otherwise never run. */
#include "ops.h"

#include <glib.h>
#include <math.h>
#include <string.h>

static GRand *rng;

static float *
random_floats (int64_t n)
{
  float *x = g_new (float, MAX (n, 1));
  for (int64_t i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (rng, -1.0, 1.0);
  return x;
}

/* |out − expected| ≤ 1e-6 · (Σ |inp · weight| + |bias| + |x|) + 1e-7, element by element. */
static void
assert_close (const float *out, const float *expected, const float *scale, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    if (fabsf (out[i] - expected[i]) > 1e-6f * scale[i] + 1e-7f)
      g_error ("element %" G_GINT64_FORMAT ": %.9g, expected %.9g (scale %.3g)", i, out[i], expected[i], scale[i]);
}

typedef struct {
  int n, in_dim, out_dim;
} Shape;

static const Shape shapes[] = {
  { 1, 5, 1 }, { 7, 37, 33 }, { 6, 64, 32 }, { 50, 96, 70 }, { 130, 200, 96 }, { 13, 3072, 40 },
};

/* Runs the product for SHAPE with ADD and ACTIVATION, over PARTS panel ranges, against
 * clip_linear_forward (+ the residual, + clip_activation_forward). */
static void
check_shape (const Shape *shape, int add, int activation, int parts)
{
  int n = shape->n, in_dim = shape->in_dim, out_dim = shape->out_dim;
  g_autofree float *inp = random_floats ((int64_t) n * in_dim);
  g_autofree float *weight = random_floats ((int64_t) out_dim * in_dim);
  g_autofree float *bias = random_floats (out_dim);
  g_autofree float *residual = random_floats ((int64_t) n * out_dim);
  g_autofree float *packed = g_new0 (float, clip_packed_floats (in_dim, out_dim));
  clip_pack_weight (packed, weight, in_dim, out_dim, 0);

  g_autofree float *expected = g_new (float, (int64_t) n * out_dim);
  clip_linear_forward (expected, inp, weight, bias, n, in_dim, out_dim);
  g_autofree float *scale = g_new (float, (int64_t) n * out_dim);
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out_dim; o++)
      {
        double s = fabsf (bias[o]) + (add ? fabsf (residual[(int64_t) i * out_dim + o]) : 0.0f);
        for (int k = 0; k < in_dim; k++)
          s += fabs ((double) inp[(int64_t) i * in_dim + k] * weight[(int64_t) o * in_dim + k]);
        scale[(int64_t) i * out_dim + o] = (float) s;
        if (add)
          expected[(int64_t) i * out_dim + o] += residual[(int64_t) i * out_dim + o];
      }
  if (activation != CLIP_PACKED_LINEAR)
    clip_activation_forward (expected, expected, (int64_t) n * out_dim, activation == CLIP_PACKED_QUICK_GELU);

  g_autofree float *out = g_memdup2 (residual, sizeof (float) * n * out_dim);
  int n_panels = (out_dim + CLIP_PANEL - 1) / CLIP_PANEL;
  for (int part = 0; part < parts; part++)
    clip_packed_linear_forward (out, out_dim, inp, packed, bias, n, in_dim, out_dim, add, activation,
                                n_panels * part / parts, n_panels * (part + 1) / parts);
  assert_close (out, expected, scale, (int64_t) n * out_dim);
}

static void
test_products (void)
{
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    for (int add = 0; add < 2; add++)
      for (int parts = 1; parts <= 3; parts++)
        check_shape (&shapes[s], add, CLIP_PACKED_LINEAR, parts);
}

static void
test_activations (void)
{
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      check_shape (&shapes[s], FALSE, CLIP_PACKED_QUICK_GELU, 2);
      check_shape (&shapes[s], FALSE, CLIP_PACKED_GELU, 1);
    }
}

/* Three weights of 40 columns packed side by side (the second starts inside a panel) give the same
 * columns as each weight alone, written with a row stride of the whole width. */
static void
test_side_by_side (void)
{
  int n = 9, in_dim = 24, d = 40;
  g_autofree float *inp = random_floats ((int64_t) n * in_dim);
  float *weights[3];
  g_autofree float *packed = g_new0 (float, clip_packed_floats (in_dim, 3 * d));
  for (int w = 0; w < 3; w++)
    {
      weights[w] = random_floats ((int64_t) d * in_dim);
      clip_pack_weight (packed, weights[w], in_dim, d, w * d);
    }
  g_autofree float *out = g_new (float, (int64_t) n * 3 * d);
  clip_packed_linear_forward (out, 3 * d, inp, packed, NULL, n, in_dim, 3 * d, FALSE, CLIP_PACKED_LINEAR, 0,
                              (3 * d + CLIP_PANEL - 1) / CLIP_PANEL);
  for (int w = 0; w < 3; w++)
    {
      g_autofree float *expected = g_new (float, (int64_t) n * d);
      clip_linear_forward (expected, inp, weights[w], NULL, n, in_dim, d);
      for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++)
          g_assert_cmpfloat_with_epsilon (out[(int64_t) i * 3 * d + w * d + c], expected[(int64_t) i * d + c], 1e-5);
      g_free (weights[w]);
    }
}

/* Unpacking gives each weight back bit for bit, also from columns that start inside a panel. */
static void
test_unpack (void)
{
  int in_dim = 24, d = 40;
  g_autofree float *packed = g_new0 (float, clip_packed_floats (in_dim, 3 * d));
  float *weights[3];
  for (int w = 0; w < 3; w++)
    {
      weights[w] = random_floats ((int64_t) d * in_dim);
      clip_pack_weight (packed, weights[w], in_dim, d, w * d);
    }
  g_autofree float *unpacked = g_new (float, (int64_t) d * in_dim);
  for (int w = 0; w < 3; w++)
    {
      clip_unpack_weight (unpacked, packed, in_dim, d, w * d);
      g_assert_cmpmem (unpacked, sizeof (float) * d * in_dim, weights[w], sizeof (float) * d * in_dim);
      g_free (weights[w]);
    }
}

int
main (int argc, char **argv)
{
#if defined(__x86_64__) && defined(__AVX2__)
  if (!__builtin_cpu_supports ("avx2") || !__builtin_cpu_supports ("fma"))
    {
      g_print ("1..0 # SKIP built for AVX2 and FMA, which this CPU lacks\n");
      return 0;
    }
#endif
  g_test_init (&argc, &argv, NULL);
  rng = g_rand_new_with_seed (20261127);
  g_test_add_func ("/panels/products", test_products);
  g_test_add_func ("/panels/activations", test_activations);
  g_test_add_func ("/panels/side-by-side", test_side_by_side);
  g_test_add_func ("/panels/unpack", test_unpack);
  int status = g_test_run ();
  g_rand_free (rng);
  return status;
}
