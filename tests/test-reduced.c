/* The bfloat16 and int8 products (ops-reduced.h), every kernel this CPU runs, against references
 * computed here:
 * - bf16: the same rounding (inputs and weights rounded to bf16, their products exact) summed in
 *   double; the kernels sum in float32 in their own orders, so they agree to a few float32
 *   roundings of the sum of |products|.  And against the float32 product, within bf16's rounding.
 * - int8: the int32 sums are exact, so every kernel equals the reference computed in int64 from the
 *   same quantised values (up to the last rounding of the scaling).  And against the float32 product, within int8's rounding.
 * A kernel this CPU cannot run is reported as a skip naming it (it is not tested here). */
#include "ops-reduced.h"

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

typedef struct {
  int n, in_dim, out_dim;
} Shape;

/* Partial panels, rows past a block of 8, 16 or 32, inputs not a multiple of 64, long sums, and
 * rows in several chunks that end inside a block of 16 (150 rows: chunks of 56 or 52). */
static const Shape shapes[] = {
  { 1, 5, 1 }, { 7, 37, 33 }, { 16, 64, 32 }, { 17, 96, 70 }, { 50, 200, 96 }, { 33, 768, 64 }, { 13, 3072, 40 },
  { 150, 300, 70 },
};

typedef struct {
  ClipReducedFormat format;
  ClipIsa           isa;
} Variant;

/* Element (k, column) of the packed weights and (row, k) of the prepared inputs, as float. */
static double
packed_weight (const ClipReducedMatrix *m, int k, int column)
{
  int p = column / CLIP_PANEL, lane = column % CLIP_PANEL, group = m->format == CLIP_REDUCED_BF16 ? 2 : 4;
  size_t at = ((size_t) p * (m->k_pad / group) + k / group) * CLIP_PANEL * group + (size_t) lane * group + k % group;
  if (m->format == CLIP_REDUCED_BF16)
    return clip_bf16_to_float (((const uint16_t *) m->panels)[at]);
  return ((const int8_t *) m->panels)[at];
}

static double
prepared_input (const ClipReducedInput *in, int row, int k)
{
  size_t at = (size_t) row * in->k_pad + k;
  if (in->format == CLIP_REDUCED_BF16)
    return clip_bf16_to_float (((const uint16_t *) in->rows)[at]);
  return ((const int8_t *) in->rows)[at];
}

/* The packed weights are the rounded originals: bf16 within half a unit in the last place, int8
 * within half a step of the column's scale. */
static void
check_packing (const ClipReducedMatrix *m, const float *weight, int out_dim)
{
  for (int c = 0; c < out_dim; c++)
    for (int k = 0; k < m->in_dim; k++)
      {
        double w = weight[(size_t) c * m->in_dim + k];
        double got = m->format == CLIP_REDUCED_BF16 ? packed_weight (m, k, c) : packed_weight (m, k, c) * m->scales[c];
        double bound = m->format == CLIP_REDUCED_BF16 ? fabs (w) / 256.0 : 0.5 * m->scales[c] * 1.0001;
        if (fabs (got - w) > bound)
          g_error ("weight (%d, %d): packed %.9g, original %.9g", k, c, got, w);
      }
}

/* The same product written rounded to bf16 into the input of a next product: each value is OUT's,
 * rounded, and the next input's padding columns are zero. */
static void
check_rounded_output (const Variant *v, const ClipReducedInput *in, const ClipReducedMatrix *m, const float *bias,
                      int activation, int parts, const float *out)
{
  int n = in->n, out_dim = m->out_dim, n_panels = (out_dim + CLIP_PANEL - 1) / CLIP_PANEL;
  ClipReducedInput next;
  size_t bytes = clip_reduced_input_bytes (CLIP_REDUCED_BF16, n, out_dim);
  void *next_memory = g_aligned_alloc (bytes, 1, 64);
  memset (next_memory, 0xff, bytes);
  clip_reduced_input_init (&next, CLIP_REDUCED_BF16, n, out_dim, next_memory);
  for (int part = 0; part < parts; part++)
    clip_reduced_linear_forward (v->isa, &(ClipReducedOutput) { NULL, 0, &next }, in, m, bias, FALSE, activation,
                                 n_panels * part / parts, n_panels * (part + 1) / parts);
  const uint16_t *rows = next.rows;
  for (int i = 0; i < next.n_pad; i++)
    for (int c = 0; c < next.k_pad; c++)
      {
        uint16_t want = i < n && c < out_dim ? clip_bf16_from_float (out[(size_t) i * out_dim + c]) : 0;
        if (rows[(size_t) i * next.k_pad + c] != want)
          g_error ("%s, %d×%d·%d×%d, activation %d, rounded output: (%d, %d) = 0x%04x, want 0x%04x",
                   clip_isa_kernel_name (v->format, v->isa), n, m->in_dim, m->in_dim, out_dim, activation, i, c,
                   rows[(size_t) i * next.k_pad + c], want);
      }
  g_aligned_free (next_memory);
}

static void
check_variant (const Variant *v, const Shape *shape, int add, int activation, int parts)
{
  int n = shape->n, in_dim = shape->in_dim, out_dim = shape->out_dim;
  g_autofree float *inp = random_floats ((int64_t) n * in_dim);
  g_autofree float *weight = random_floats ((int64_t) out_dim * in_dim);
  g_autofree float *bias = random_floats (out_dim);
  g_autofree float *residual = random_floats ((int64_t) n * out_dim);

  ClipReducedMatrix m;
  void *matrix_memory = g_aligned_alloc0 (clip_reduced_matrix_bytes (v->format, in_dim, out_dim), 1, 64);
  clip_reduced_matrix_init (&m, v->format, in_dim, out_dim, matrix_memory);
  /* Packed in two parts side by side, as Q, K and V share one matrix. */
  int first = out_dim / 2;
  clip_reduced_pack (&m, weight, first, 0);
  clip_reduced_pack (&m, weight + (size_t) first * in_dim, out_dim - first, first);
  check_packing (&m, weight, out_dim);
  ClipReducedInput in;
  void *input_memory = g_aligned_alloc0 (clip_reduced_input_bytes (v->format, n, in_dim), 1, 64);
  clip_reduced_input_init (&in, v->format, n, in_dim, input_memory);
  clip_reduced_input_fill (&in, inp, in_dim, 0, n / 2);
  clip_reduced_input_fill (&in, inp, in_dim, n / 2, n);

  g_autofree float *out = g_memdup2 (residual, sizeof (float) * n * out_dim);
  int n_panels = (out_dim + CLIP_PANEL - 1) / CLIP_PANEL;
  for (int part = 0; part < parts; part++)
    clip_reduced_linear_forward (v->isa, &(ClipReducedOutput) { out, out_dim, NULL }, &in, &m, bias, add, activation,
                                 n_panels * part / parts, n_panels * (part + 1) / parts);
  if (!add)
    check_rounded_output (v, &in, &m, bias, activation, parts, out);

  for (int i = 0; i < n; i++)
    for (int c = 0; c < out_dim; c++)
      {
        double rounded = 0, exact = 0, scale = 0;
        for (int k = 0; k < in_dim; k++)
          {
            rounded += prepared_input (&in, i, k) * packed_weight (&m, k, c);
            exact += (double) inp[(size_t) i * in_dim + k] * weight[(size_t) c * in_dim + k];
            scale += fabs ((double) inp[(size_t) i * in_dim + k] * weight[(size_t) c * in_dim + k]);
          }
        float sum = v->format == CLIP_REDUCED_BF16 ? (float) rounded
                                                   : (float) (int64_t) rounded * in.scales[i] * m.scales[c];
        float base = (add ? residual[(size_t) i * out_dim + c] : 0.0f) + bias[c];
        float want = base + sum, want_exact = base + (float) exact;
        float got = out[(size_t) i * out_dim + c];
        if (activation != CLIP_PACKED_LINEAR)
          {
            clip_activation_forward (&want, &want, 1, activation == CLIP_PACKED_QUICK_GELU);
            clip_activation_forward (&want_exact, &want_exact, 1, activation == CLIP_PACKED_QUICK_GELU);
          }
        /* int8: the same sums, scaled (the library may fuse the scaling and the base into one
         * rounding); bf16: float32 sums in another order.  Against float32: bf16 rounds
         * each factor within 2^-9, int8 within half a step of max |row| / 127 and max |column| / 127. */
        double same_rounding = v->format == CLIP_REDUCED_BF16 ? 1e-5 * scale + 1e-6 : 1e-6 * (fabs (base) + fabs (sum)) + 1e-12;
        double rounding = v->format == CLIP_REDUCED_BF16 ? 2.0 / 256 * scale + 1e-6 : 0.02 * scale + 1e-6;
        if (fabs (got - want) > same_rounding || fabs (got - want_exact) > rounding + same_rounding)
          g_error ("%s, %d×%d·%d×%d, add %d, activation %d: (%d, %d) = %.9g, same rounding %.9g, float32 %.9g",
                   clip_isa_kernel_name (v->format, v->isa), n, in_dim, in_dim, out_dim, add, activation, i, c, got,
                   want, want_exact);
      }
  g_aligned_free (matrix_memory);
  g_aligned_free (input_memory);
}

static void
test_variant (gconstpointer data)
{
  const Variant *v = data;
  const char *name = clip_isa_kernel_name (v->format, v->isa);
  if (!clip_isa_supported (v->format, v->isa))
    {
      g_autofree char *why = g_strdup_printf ("%s: this CPU (or its operating system) lacks the instruction set", name);
      g_test_skip (why);
      return;
    }
  for (size_t s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      check_variant (v, &shapes[s], FALSE, CLIP_PACKED_LINEAR, 1);
      check_variant (v, &shapes[s], TRUE, CLIP_PACKED_LINEAR, 3);
      check_variant (v, &shapes[s], FALSE, CLIP_PACKED_QUICK_GELU, 2);
      check_variant (v, &shapes[s], TRUE, CLIP_PACKED_GELU, 1);
    }
}

/* The choice follows the instruction sets: the best kernel is one the CPU runs, and none better. */
static void
test_best (void)
{
  for (int format = CLIP_REDUCED_BF16; format <= CLIP_REDUCED_INT8; format++)
    {
      ClipIsa best = clip_isa_best (format);
      g_assert_true (clip_isa_supported (format, best));
      for (int isa = best + 1; isa < CLIP_ISA_COUNT; isa++)
        g_assert_false (clip_isa_supported (format, isa));
      g_test_message ("%s products: %s", format == CLIP_REDUCED_BF16 ? "bf16" : "int8",
                      clip_isa_kernel_name (format, best));
    }
  /* CLIPLAB_KERNEL_ISA caps the choice. */
  g_setenv ("CLIPLAB_KERNEL_ISA", "portable", TRUE);
  g_assert_cmpint (clip_isa_best (CLIP_REDUCED_INT8), ==, CLIP_ISA_PORTABLE);
  g_setenv ("CLIPLAB_KERNEL_ISA", "avx512", TRUE);
  g_assert_cmpint (clip_isa_best (CLIP_REDUCED_BF16), <=, CLIP_ISA_AVX512);
  g_unsetenv ("CLIPLAB_KERNEL_ISA");
}

static void
test_bf16_rounding (void)
{
  g_assert_cmpuint (clip_bf16_from_float (1.0f), ==, 0x3f80);
  /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: to even (1); just above it rounds up. */
  g_assert_cmpuint (clip_bf16_from_float (1.00390625f), ==, 0x3f80);
  g_assert_cmpuint (clip_bf16_from_float (0x1.010002p0f), ==, 0x3f81);
  g_assert_cmpuint (clip_bf16_from_float (1.01171875f), ==, 0x3f82);   /* 1 + 3·2^-8: up to even */
  g_assert_cmpfloat (clip_bf16_to_float (clip_bf16_from_float (-2.5f)), ==, -2.5f);
  g_assert_true (isnan (clip_bf16_to_float (clip_bf16_from_float (NAN))));
  g_assert_true (isinf (clip_bf16_to_float (clip_bf16_from_float (INFINITY))));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_unsetenv ("CLIPLAB_KERNEL_ISA");
  rng = g_rand_new_with_seed (16);
  static Variant variants[2 * CLIP_ISA_COUNT];
  int n_variants = 0;
  for (int format = CLIP_REDUCED_BF16; format <= CLIP_REDUCED_INT8; format++)
    for (int isa = 0; isa < CLIP_ISA_COUNT; isa++)
      if (clip_isa_kernel_name (format, isa) != NULL)
        {
          variants[n_variants] = (Variant) { format, isa };
          g_autofree char *path = g_strdup_printf ("/reduced/%s", clip_isa_kernel_name (format, isa));
          g_test_add_data_func (path, &variants[n_variants++], test_variant);
        }
  g_test_add_func ("/reduced/best", test_best);
  g_test_add_func ("/reduced/bf16-rounding", test_bf16_rounding);
  int status = g_test_run ();
  g_rand_free (rng);
  return status;
}
