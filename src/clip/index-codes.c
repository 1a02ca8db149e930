/* index-codes.c — searching many embeddings through an int8 copy of them.
 *
 * One query against 100,000 float32 embeddings reads 205 MB.  The copy holds each embedding in int8
 * with a scale (max |x| / 127; a quarter of the bytes), made at the first search of a store.  A
 * first pass scores every row approximately from the copy, with a bound on its error; only the rows
 * whose score can still reach the TOP best are scored exactly from the float32 rows, so the results
 * are those of scoring every row exactly.
 *
 * The bound: with |x_j − s·c_j| ≤ s/2 (row scale s, codes c) and |q_j − t·p_j| ≤ t/2 (query scale
 * t, codes p), the score q·x differs from s·t·(p·c) by at most s/2 · ‖q‖₁ + t/2 · s‖c‖₁, plus the
 * float32 rounding of both scores, below (dim · 2⁻²³ + 10⁻⁶) · ‖q‖₁ · max |x|. */
#include "index-private.h"
#include "parallel.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Below this many rows, scoring every row exactly is about as fast as two passes. */
#define CODES_MIN_ROWS 20000
/* Rows per work item of the parallel passes. */
#define CODES_GRAIN 4096

struct _ClipIndexCodes {
  int8_t  *codes;    /* [n_rows, dim] */
  float   *scales;   /* [n_rows] */
  float   *norms1;   /* [n_rows] Σ |code| */
  uint8_t *live;     /* [n_rows] whether an entry refers to the row (a journal's older rows do not) */
  size_t   n_rows;
  int      dim;
};

void
clip_index_codes_free (ClipIndexCodes *codes)
{
  if (codes == NULL)
    return;
  g_free (codes->codes);
  g_free (codes->scales);
  g_free (codes->norms1);
  g_free (codes->live);
  g_free (codes);
}

typedef struct {
  ClipIndexCodes       *codes;
  const ClipIndexStore *store;
} BuildJob;

static void
build_rows (int64_t start, int64_t end, gpointer data)
{
  const BuildJob *j = data;
  int dim = j->codes->dim;
  for (int64_t r = start; r < end; r++)
    {
      const float *x = clip_index_store_row (j->store, r);
      int8_t *c = j->codes->codes + (size_t) r * dim;
      float max_abs = 0;
      for (int k = 0; k < dim; k++)
        max_abs = fmaxf (max_abs, fabsf (x[k]));
      float scale = max_abs / 127.0f, inverse = max_abs > 0 ? 127.0f / max_abs : 0.0f;
      int norm1 = 0;
      for (int k = 0; k < dim; k++)
        {
          c[k] = (int8_t) lrintf (x[k] * inverse);
          norm1 += abs (c[k]);
        }
      j->codes->scales[r] = scale;
      j->codes->norms1[r] = (float) norm1;
    }
}

/* The store's int8 copy, made at the first call; NULL when there is no memory for it. */
static const ClipIndexCodes *
codes_get (ClipIndexStore *store)
{
  ClipIndexCodes **slot = clip_index_store_codes (store);
  if (*slot != NULL)
    return *slot;
  size_t n = clip_index_store_n_rows (store);
  int dim = clip_index_store_dim (store);
  ClipIndexCodes *codes = g_new0 (ClipIndexCodes, 1);
  codes->n_rows = n;
  codes->dim = dim;
  codes->codes = g_try_malloc (n * dim);
  codes->scales = g_try_new (float, n);
  codes->norms1 = g_try_new (float, n);
  codes->live = g_try_new0 (uint8_t, n);
  if (codes->codes == NULL || codes->scales == NULL || codes->norms1 == NULL || codes->live == NULL)
    {
      clip_index_codes_free (codes);
      return NULL;
    }
  size_t n_entries;
  const ClipIndexEntry *entries = clip_index_store_entries (store, &n_entries);
  for (size_t i = 0; i < n_entries; i++)
    codes->live[entries[i].row] = 1;
  BuildJob job = { codes, store };
  clip_parallel_for ((int64_t) n, CODES_GRAIN, build_rows, &job);
  *slot = codes;
  return codes;
}

/* Σ a·b over N int8 values: plain C (GCC vectorises it through 16-bit products), and with the
 * dot-product instructions where the CPU has them. */
static int32_t
dot_int8_portable (const int8_t *a, const int8_t *b, int n)
{
  int32_t sum = 0;
  for (int k = 0; k < n; k++)
    sum += a[k] * b[k];
  return sum;
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>

/* VPDPBUSD multiplies unsigned by signed bytes: A goes in with 128 added (its top bit flipped) and
 * 128 · Σ b comes off. */
__attribute__ ((target ("avx512f,avx512bw,avx512vnni"))) static int32_t
dot_int8_avx512_vnni (const int8_t *a, const int8_t *b, int n)
{
  __m512i acc = _mm512_setzero_si512 (), sum_b = _mm512_setzero_si512 ();
  const __m512i flip = _mm512_set1_epi8 ((char) 0x80), ones = _mm512_set1_epi8 (1);
  int k = 0;
  for (; k + 64 <= n; k += 64)
    {
      __m512i va = _mm512_loadu_si512 (a + k), vb = _mm512_loadu_si512 (b + k);
      acc = _mm512_dpbusd_epi32 (acc, _mm512_xor_si512 (va, flip), vb);
      sum_b = _mm512_dpbusd_epi32 (sum_b, ones, vb);
    }
  int32_t sum = _mm512_reduce_add_epi32 (acc) - 128 * _mm512_reduce_add_epi32 (sum_b);
  return sum + dot_int8_portable (a + k, b + k, n - k);
}

/* VPMADDUBSW on |a| and b with a's sign: pairs of at most 2 · 127 · 127, no saturation. */
__attribute__ ((target ("avx2"))) static int32_t
dot_int8_avx2 (const int8_t *a, const int8_t *b, int n)
{
  __m256i acc = _mm256_setzero_si256 ();
  const __m256i ones = _mm256_set1_epi16 (1);
  int k = 0;
  for (; k + 32 <= n; k += 32)
    {
      __m256i va = _mm256_loadu_si256 ((const __m256i *) (a + k)), vb = _mm256_loadu_si256 ((const __m256i *) (b + k));
      __m256i pairs = _mm256_maddubs_epi16 (_mm256_abs_epi8 (va), _mm256_sign_epi8 (vb, va));
      acc = _mm256_add_epi32 (acc, _mm256_madd_epi16 (pairs, ones));
    }
  __m128i half = _mm_add_epi32 (_mm256_castsi256_si128 (acc), _mm256_extracti128_si256 (acc, 1));
  half = _mm_add_epi32 (half, _mm_shuffle_epi32 (half, 0x4e));
  half = _mm_add_epi32 (half, _mm_shuffle_epi32 (half, 0xb1));
  return _mm_cvtsi128_si32 (half) + dot_int8_portable (a + k, b + k, n - k);
}
#endif

typedef int32_t (*DotInt8) (const int8_t *a, const int8_t *b, int n);

static DotInt8
dot_int8_choose (void)
{
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx512vnni") && __builtin_cpu_supports ("avx512bw"))
    return dot_int8_avx512_vnni;
  if (__builtin_cpu_supports ("avx2"))
    return dot_int8_avx2;
#endif
  return dot_int8_portable;
}

/* The error bound of row R's approximate score (see the top of the file). */
static double
row_bound (const ClipIndexCodes *codes, size_t r, double query_norm1, double query_scale)
{
  double s = codes->scales[r];
  double rounding = (codes->dim * 0x1p-23 + 1e-6) * query_norm1 * 127 * s;
  return s / 2 * query_norm1 + query_scale / 2 * s * codes->norms1[r] + rounding;
}

/* The TOP largest of the lower bounds, in a min-heap LOWEST [TOP]: returns the smallest of them
 * once TOP were seen (−∞ before). */
static double
keep_largest (double *lowest, int top, int *n, double value)
{
  if (*n < top)
    {
      int i = (*n)++;
      lowest[i] = value;
      for (; i > 0 && lowest[(i - 1) / 2] > lowest[i]; i = (i - 1) / 2)
        {
          double t = lowest[i];
          lowest[i] = lowest[(i - 1) / 2];
          lowest[(i - 1) / 2] = t;
        }
    }
  else if (value > lowest[0])
    {
      lowest[0] = value;
      for (int i = 0;;)
        {
          int least = i, l = 2 * i + 1, r = l + 1;
          if (l < top && lowest[l] < lowest[least])
            least = l;
          if (r < top && lowest[r] < lowest[least])
            least = r;
          if (least == i)
            break;
          double t = lowest[i];
          lowest[i] = lowest[least];
          lowest[least] = t;
          i = least;
        }
    }
  return *n < top ? -INFINITY : lowest[0];
}

/* The first pass over rows START … END − 1: SCORES receives each live row's upper bound, and the
 * chunk's TOP largest lower bounds go to its own heap. */
typedef struct {
  const ClipIndexCodes *codes;
  const int8_t         *query;
  double                query_scale, query_norm1;
  float                *scores;
  DotInt8               dot;
  int                   top;
  double               *lowest;   /* [chunks][top] */
  int                  *n_lowest; /* [chunks] */
} FirstPassJob;

static void
first_pass_rows (int64_t start, int64_t end, gpointer data)
{
  const FirstPassJob *j = data;
  const ClipIndexCodes *codes = j->codes;
  int64_t chunk = start / CODES_GRAIN;
  double *lowest = j->lowest + chunk * j->top;
  for (int64_t r = start; r < end; r++)
    {
      if (!codes->live[r])
        continue;
      double approx = (double) j->dot (codes->codes + (size_t) r * codes->dim, j->query, codes->dim)
                      * j->query_scale * codes->scales[r];
      double bound = row_bound (codes, r, j->query_norm1, j->query_scale);
      j->scores[r] = (float) (approx + bound);
      keep_largest (lowest, j->top, &j->n_lowest[chunk], approx - bound);
    }
}

void
clip_index_store_scores_top (ClipIndexStore *store, const float *query, int top, float *scores)
{
  size_t n_rows = clip_index_store_n_rows (store), n_entries;
  clip_index_store_entries (store, &n_entries);
  const ClipIndexCodes *codes = NULL;
  if (n_rows >= CODES_MIN_ROWS && top > 0 && (size_t) top * 64 <= n_entries)
    codes = codes_get (store);
  if (codes == NULL)
    {
      clip_index_store_scores (store, query, scores);
      return;
    }
  guint dim = (guint) codes->dim;  /* unsigned: the allocation below is bounded for the compiler too */
  double query_norm1 = 0, max_abs = 0;
  for (guint k = 0; k < dim; k++)
    {
      query_norm1 += fabsf (query[k]);
      max_abs = fmax (max_abs, fabsf (query[k]));
    }
  g_autofree int8_t *query_codes = g_new (int8_t, dim);
  for (guint k = 0; k < dim; k++)
    query_codes[k] = (int8_t) (max_abs > 0 ? lrint (query[k] / max_abs * 127) : 0);
  int64_t n_chunks = ((int64_t) n_rows + CODES_GRAIN - 1) / CODES_GRAIN;
  g_autofree double *lowest = g_new (double, n_chunks * top);
  g_autofree int *n_lowest = g_new0 (int, n_chunks);
  FirstPassJob job = { codes, query_codes, max_abs / 127, query_norm1, scores, dot_int8_choose (), top, lowest,
                       n_lowest };
  clip_parallel_for ((int64_t) n_rows, CODES_GRAIN, first_pass_rows, &job);

  /* The TOP-th best lower bound over all rows: a row whose upper bound is below it cannot be among
   * the TOP best. */
  g_autofree double *merged = g_new (double, top);
  int n_merged = 0;
  double threshold = -INFINITY;
  for (int64_t c = 0; c < n_chunks; c++)
    for (int i = 0; i < n_lowest[c]; i++)
      threshold = keep_largest (merged, top, &n_merged, lowest[c * top + i]);
  for (size_t r = 0; r < n_rows; r++)
    scores[r] = codes->live[r] && scores[r] >= threshold
                ? cblas_sdot (dim, clip_index_store_row (store, r), 1, query, 1) : -INFINITY;
}
