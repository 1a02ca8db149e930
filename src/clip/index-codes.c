/* index-codes.c — searching many embeddings through a 4-bit copy of them.
 *
 * One query against 100,000 float32 embeddings reads 205 MB, and an int8 copy still 51 MB (512 MB
 * at 1,000,000, more than memory delivers in the 50 ms a query may take).  The copy here holds each
 * embedding in 4 bits per value with a scale (max |x| / 7; an eighth of the bytes), written into the
 * index file beside the embeddings (index-store.c) and made here at the first search for the blocks of
 * a file that lacks them.  A first pass scores every row approximately from the copy and keeps the
 * CANDIDATES best; only those are scored exactly from the float32 rows, and the TOP best of them are
 * the results.  This is not a proof (a worst-case error bound of 4-bit values prunes nothing), but the
 * approximation's error is small against the gap it has to bridge: for unit vectors its standard
 * deviation is about the row's step / √12 (≈ 0.007 for random 512-d rows), while the best
 * candidates left out score far below the TOP-th (random rows: the 10th best of 1,000,000 scores
 * about 0.22, the 256th about 0.15); tests/test-index-codes.c and bench-index-search compare the
 * results with an exact ranking of every row.
 *
 * Layout: each row is DIM / 2 bytes; byte j of each 64-byte block b holds value b·128 + j in its
 * low nibble and value b·128 + 64 + j in its high one, each as code + 8 (1 … 15). */
#include "index-private.h"
#include "ops-reduced.h"
#include "parallel.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Below this many rows, scoring every row exactly is about as fast as two passes. */
#define CODES_MIN_ROWS 20000
/* Rows per work item of the parallel passes. */
#define CODES_GRAIN 4096
/* Candidates scored exactly: this many per result asked for, and at least MIN_CANDIDATES. */
#define CANDIDATES_PER_RESULT 32
#define MIN_CANDIDATES 256
/* Values per 64-byte block of a row's codes. */
#define BLOCK_VALUES CLIP_INDEX_CODES_BLOCK

/* The store's blocks of rows with the codes of each: as stored, or made here (OWNED keeps those). */
struct _ClipIndexCodes {
  ClipIndexRowBlock *blocks;
  guint              n_blocks;
  GPtrArray         *owned;
  uint8_t           *live;     /* [n_rows] whether an entry refers to the row (a journal's older rows do not) */
  size_t             n_rows;
  int                dim;      /* a multiple of BLOCK_VALUES */
};

void
clip_index_codes_free (ClipIndexCodes *codes)
{
  if (codes == NULL)
    return;
  g_free (codes->blocks);
  g_ptr_array_unref (codes->owned);
  g_free (codes->live);
  g_free (codes);
}

typedef struct {
  const float *const *rows;
  int                 dim;
  uint8_t            *codes;
  float              *scales;
} EncodeJob;

/* Where value K of a row sits in its codes: the byte, and whether in the high nibble. */
static inline size_t
code_byte (int k, gboolean *high)
{
  int block = k / BLOCK_VALUES, within = k % BLOCK_VALUES;
  *high = within >= BLOCK_VALUES / 2;
  return (size_t) block * (BLOCK_VALUES / 2) + within % (BLOCK_VALUES / 2);
}

static void
encode_rows (int64_t start, int64_t end, gpointer data)
{
  const EncodeJob *j = data;
  int dim = j->dim;
  for (int64_t r = start; r < end; r++)
    {
      const float *x = j->rows[r];
      uint8_t *c = j->codes + (size_t) r * dim / 2;
      float max_abs = 0;
      for (int k = 0; k < dim; k++)
        max_abs = fmaxf (max_abs, fabsf (x[k]));
      float inverse = max_abs > 0 ? 7.0f / max_abs : 0.0f;
      memset (c, 0, dim / 2);
      for (int k = 0; k < dim; k++)
        {
          /* The byte first: in one expression, HIGH could be read before code_byte sets it (the
           * order of a compound assignment's operands is unspecified; an ASan build read it first). */
          gboolean high;
          size_t byte = code_byte (k, &high);
          uint8_t code = (uint8_t) (CLAMP (lrintf (x[k] * inverse), -7, 7) + 8);
          c[byte] |= high ? code << 4 : code;
        }
      j->scales[r] = max_abs / 7.0f;
    }
}

void
clip_index_codes_encode (const float *const *rows, size_t n, int dim, uint8_t *codes, float *scales)
{
  EncodeJob job = { rows, dim, codes, scales };
  clip_parallel_for ((int64_t) n, CODES_GRAIN, encode_rows, &job);
}

/* Makes the codes of BLOCK, which the file lacks; FALSE when there is no memory for them. */
static gboolean
codes_make (ClipIndexCodes *codes, ClipIndexRowBlock *block)
{
  uint8_t *made = g_try_malloc (MAX (block->n, 1) * codes->dim / 2);
  float *scales = g_try_new (float, MAX (block->n, 1));
  const float **rows = g_try_new (const float *, MAX (block->n, 1));
  if (made != NULL)
    g_ptr_array_add (codes->owned, made);
  if (scales != NULL)
    g_ptr_array_add (codes->owned, scales);
  if (made == NULL || scales == NULL || rows == NULL)
    {
      g_free (rows);
      return FALSE;
    }
  for (size_t r = 0; r < block->n; r++)
    rows[r] = block->embeds + r * codes->dim;
  clip_index_codes_encode (rows, block->n, codes->dim, made, scales);
  g_free (rows);
  block->codes = made;
  block->scales = scales;
  return TRUE;
}

/* The store's 4-bit copy, completed at the first call; NULL when there is no memory for what the
 * file lacks or its dimension is not a multiple of BLOCK_VALUES. */
static const ClipIndexCodes *
codes_get (ClipIndexStore *store)
{
  ClipIndexCodes **slot = clip_index_store_codes (store);
  if (*slot != NULL)
    return *slot;
  size_t n = clip_index_store_n_rows (store);
  int dim = clip_index_store_dim (store);
  if (dim % BLOCK_VALUES != 0)
    return NULL;
  g_autoptr (ClipIndexCodes) codes = g_new0 (ClipIndexCodes, 1);
  codes->n_rows = n;
  codes->dim = dim;
  codes->owned = g_ptr_array_new_with_free_func (g_free);
  const ClipIndexRowBlock *blocks = clip_index_store_blocks (store, &codes->n_blocks);
  codes->blocks = g_memdup2 (blocks, sizeof *blocks * codes->n_blocks);
  codes->live = g_try_new0 (uint8_t, n);
  if (codes->live == NULL)
    return NULL;
  for (guint b = 0; b < codes->n_blocks; b++)
    if (codes->blocks[b].codes == NULL && !codes_make (codes, &codes->blocks[b]))
      return NULL;
  size_t n_entries;
  const ClipIndexEntry *entries = clip_index_store_entries (store, &n_entries);
  for (size_t i = 0; i < n_entries; i++)
    codes->live[entries[i].row] = 1;
  *slot = g_steal_pointer (&codes);
  return *slot;
}

/* Σ (code + 8) · query over a row of DIM values, the query int8 in the row's order of values: plain
 * C; AVX2's VPMADDUBSW (unsigned codes times signed query bytes, pairs summed into 16 bits: at most
 * 2 · 15 · 127, so never saturated) then VPMADDWD; and VPDPBUSD on 256-bit (AVX-VNNI) and 512-bit
 * (AVX512-VNNI) registers.  Every variant sums the same integers: their scores are identical. */
static int32_t
dot_codes_portable (const uint8_t *row, const int8_t *query, int dim)
{
  int32_t sum = 0;
  for (int b = 0; b < dim / BLOCK_VALUES; b++, row += BLOCK_VALUES / 2, query += BLOCK_VALUES)
    for (int j = 0; j < BLOCK_VALUES / 2; j++)
      sum += (row[j] & 15) * query[j] + (row[j] >> 4) * query[BLOCK_VALUES / 2 + j];
  return sum;
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CODES_X86_KERNELS 1
#include <immintrin.h>

/* The eight 32-bit sums of ACC added up. */
__attribute__ ((target ("avx2"))) static inline int32_t
sum_epi32_avx2 (__m256i acc)
{
  __m128i s = _mm_add_epi32 (_mm256_castsi256_si128 (acc), _mm256_extracti128_si256 (acc, 1));
  s = _mm_add_epi32 (s, _mm_shuffle_epi32 (s, _MM_SHUFFLE (1, 0, 3, 2)));
  s = _mm_add_epi32 (s, _mm_shuffle_epi32 (s, _MM_SHUFFLE (2, 3, 0, 1)));
  return _mm_cvtsi128_si32 (s);
}

/* Each 64-byte block of a row in two 32-byte halves: bytes j and 32 + j hold values j, 64 + j
 * and 32 + j, 96 + j of the block. */
__attribute__ ((target ("avx2"))) static int32_t
dot_codes_avx2 (const uint8_t *row, const int8_t *query, int dim)
{
  __m256i acc = _mm256_setzero_si256 ();
  const __m256i low = _mm256_set1_epi8 (15), ones = _mm256_set1_epi16 (1);
  for (int b = 0; b < dim / BLOCK_VALUES; b++, row += BLOCK_VALUES / 2, query += BLOCK_VALUES)
    for (int half = 0; half < 2; half++)
      {
        __m256i codes = _mm256_loadu_si256 ((const __m256i *) (row + 32 * half));
        const int8_t *q = query + 32 * half;
        __m256i pairs = _mm256_add_epi16 (
          _mm256_maddubs_epi16 (_mm256_and_si256 (codes, low), _mm256_loadu_si256 ((const __m256i *) q)),
          _mm256_maddubs_epi16 (_mm256_and_si256 (_mm256_srli_epi16 (codes, 4), low),
                                _mm256_loadu_si256 ((const __m256i *) (q + BLOCK_VALUES / 2))));
        acc = _mm256_add_epi32 (acc, _mm256_madd_epi16 (pairs, ones));
      }
  return sum_epi32_avx2 (acc);
}

__attribute__ ((target ("avx2,avxvnni"))) static int32_t
dot_codes_avx_vnni (const uint8_t *row, const int8_t *query, int dim)
{
  __m256i acc = _mm256_setzero_si256 ();
  const __m256i low = _mm256_set1_epi8 (15);
  for (int b = 0; b < dim / BLOCK_VALUES; b++, row += BLOCK_VALUES / 2, query += BLOCK_VALUES)
    for (int half = 0; half < 2; half++)
      {
        __m256i codes = _mm256_loadu_si256 ((const __m256i *) (row + 32 * half));
        const int8_t *q = query + 32 * half;
        acc = _mm256_dpbusd_avx_epi32 (acc, _mm256_and_si256 (codes, low), _mm256_loadu_si256 ((const __m256i *) q));
        acc = _mm256_dpbusd_avx_epi32 (acc, _mm256_and_si256 (_mm256_srli_epi16 (codes, 4), low),
                                       _mm256_loadu_si256 ((const __m256i *) (q + BLOCK_VALUES / 2)));
      }
  return sum_epi32_avx2 (acc);
}

__attribute__ ((target ("avx512f,avx512bw,avx512vnni"))) static int32_t
dot_codes_avx512_vnni (const uint8_t *row, const int8_t *query, int dim)
{
  __m512i acc = _mm512_setzero_si512 ();
  const __m512i low = _mm512_set1_epi8 (15);
  for (int b = 0; b < dim / BLOCK_VALUES; b++, row += BLOCK_VALUES / 2, query += BLOCK_VALUES)
    {
      __m512i codes = _mm512_loadu_si512 (row);
      acc = _mm512_dpbusd_epi32 (acc, _mm512_and_si512 (codes, low), _mm512_loadu_si512 (query));
      acc = _mm512_dpbusd_epi32 (acc, _mm512_and_si512 (_mm512_srli_epi16 (codes, 4), low),
                                 _mm512_loadu_si512 (query + BLOCK_VALUES / 2));
    }
  return _mm512_reduce_add_epi32 (acc);
}
#endif

typedef int32_t (*DotCodes) (const uint8_t *row, const int8_t *query, int dim);

typedef struct {
  const char *name;
  DotCodes    dot;
} CodesKernel;

/* Per instruction set of the int8 products (AMX has no kernel here: its tiles gain nothing on one
 * query row). */
static const CodesKernel codes_kernels[CLIP_ISA_COUNT] = {
  [CLIP_ISA_PORTABLE] = { "portable", dot_codes_portable },
#ifdef CODES_X86_KERNELS
  [CLIP_ISA_AVX2] = { "avx2", dot_codes_avx2 },
  [CLIP_ISA_AVX_VNNI] = { "avx-vnni", dot_codes_avx_vnni },
  [CLIP_ISA_AVX512] = { "avx512-vnni", dot_codes_avx512_vnni },
#endif
};

/* As the int8 products choose (which CLIPLAB_KERNEL_ISA caps): the best kernel up to theirs that the
 * CPU runs. */
static const CodesKernel *
codes_kernel_choose (void)
{
  for (int isa = clip_isa_best (CLIP_REDUCED_INT8); isa > CLIP_ISA_PORTABLE; isa--)
    if (codes_kernels[isa].dot != NULL && clip_isa_supported (CLIP_REDUCED_INT8, isa))
      return &codes_kernels[isa];
  return &codes_kernels[CLIP_ISA_PORTABLE];
}

const char *
clip_index_codes_kernel_name (void)
{
  return codes_kernel_choose ()->name;
}

/* The TOP largest values, in a min-heap LOWEST [TOP]: returns the smallest of them once TOP were
 * seen (−∞ before). */
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

/* The first pass over rows START … END − 1: SCORES receives each live row's approximate score, and
 * the chunk's CANDIDATES largest go to its own heap. */
typedef struct {
  const ClipIndexCodes *codes;
  const int8_t         *query;
  double                query_scale, query_sum;
  float                *scores;
  DotCodes              dot;
  int                   candidates;
  double               *lowest;   /* [chunks][candidates] */
  int                  *n_lowest; /* [chunks] */
} FirstPassJob;

static void
first_pass_rows (int64_t start, int64_t end, gpointer data)
{
  const FirstPassJob *j = data;
  const ClipIndexCodes *codes = j->codes;
  int64_t chunk = start / CODES_GRAIN;
  double *lowest = j->lowest + chunk * j->candidates;
  /* The block holding START; the rows of a chunk may run on into the next ones. */
  guint b = 0;
  while (b + 1 < codes->n_blocks && codes->blocks[b + 1].first_row <= (size_t) start)
    b++;
  for (int64_t r = start; r < end; r++)
    {
      while ((size_t) r >= codes->blocks[b].first_row + codes->blocks[b].n)
        b++;
      if (!codes->live[r])
        continue;
      const ClipIndexRowBlock *block = &codes->blocks[b];
      size_t within = (size_t) r - block->first_row;
      /* The codes carry + 8: 8 · Σ query comes off. */
      double dot = j->dot (block->codes + within * codes->dim / 2, j->query, codes->dim) - 8 * j->query_sum;
      double approx = dot * j->query_scale * block->scales[within];
      j->scores[r] = (float) approx;
      keep_largest (lowest, j->candidates, &j->n_lowest[chunk], approx);
    }
}

void
clip_index_store_scores_top (ClipIndexStore *store, const float *query, int top, float *scores)
{
  size_t n_rows = clip_index_store_n_rows (store), n_entries;
  clip_index_store_entries (store, &n_entries);
  int candidates = MAX (top * CANDIDATES_PER_RESULT, MIN_CANDIDATES);
  const ClipIndexCodes *codes = NULL;
  if (n_rows >= CODES_MIN_ROWS && top > 0 && (size_t) candidates * 8 <= n_entries)
    codes = codes_get (store);
  if (codes == NULL)
    {
      clip_index_store_scores (store, query, scores);
      return;
    }
  guint dim = (guint) codes->dim;  /* unsigned: the allocation below is bounded for the compiler too */
  double max_abs = 0, query_sum = 0;
  for (guint k = 0; k < dim; k++)
    max_abs = fmax (max_abs, fabsf (query[k]));
  g_autofree int8_t *query_codes = g_new (int8_t, dim);
  for (guint k = 0; k < dim; k++)
    {
      query_codes[k] = (int8_t) (max_abs > 0 ? lrint (query[k] / max_abs * 127) : 0);
      query_sum += query_codes[k];
    }
  int64_t n_chunks = ((int64_t) n_rows + CODES_GRAIN - 1) / CODES_GRAIN;
  g_autofree double *lowest = g_new (double, n_chunks * candidates);
  g_autofree int *n_lowest = g_new0 (int, n_chunks);
  FirstPassJob job = { codes, query_codes, max_abs / 127, query_sum, scores, codes_kernel_choose ()->dot, candidates,
                       lowest, n_lowest };
  clip_parallel_for ((int64_t) n_rows, CODES_GRAIN, first_pass_rows, &job);

  /* The CANDIDATES-th best approximate score over all rows: the rows at or above it are scored
   * exactly, the others are left out. */
  g_autofree double *merged = g_new (double, candidates);
  int n_merged = 0;
  double threshold = -INFINITY;
  for (int64_t c = 0; c < n_chunks; c++)
    for (int i = 0; i < n_lowest[c]; i++)
      threshold = keep_largest (merged, candidates, &n_merged, lowest[c * candidates + i]);
  for (size_t r = 0; r < n_rows; r++)
    scores[r] = codes->live[r] && scores[r] >= (float) threshold
                ? cblas_sdot (dim, clip_index_store_row (store, r), 1, query, 1) : -INFINITY;
}
