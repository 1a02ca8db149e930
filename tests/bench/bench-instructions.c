/* bench-instructions — the throughput of the instructions the products are built on, on this CPU:
 * VFMADD231PS (float32), VDPBF16PS (AVX512-BF16) and VPDPBUSD (AVX512-VNNI), each as 12 independent
 * chains on 512-bit registers, so that latency does not count.  Whether a bf16 kernel on vector
 * registers can beat float32 depends on it: a VDPBF16PS does twice a VFMADD231PS's products, and is
 * worth it only when it issues at least half as often.
 *
 *   build/tests/bench/bench-instructions
 *
 * Prints nanoseconds per instruction; an instruction set this CPU lacks is named and skipped. */
#include <glib.h>
#include <stdio.h>

#define TWELVE(op)                                                                                             \
  op " %%zmm30, %%zmm31, %%zmm0\n" op " %%zmm30, %%zmm31, %%zmm1\n" op " %%zmm30, %%zmm31, %%zmm2\n"            \
  op " %%zmm30, %%zmm31, %%zmm3\n" op " %%zmm30, %%zmm31, %%zmm4\n" op " %%zmm30, %%zmm31, %%zmm5\n"            \
  op " %%zmm30, %%zmm31, %%zmm6\n" op " %%zmm30, %%zmm31, %%zmm7\n" op " %%zmm30, %%zmm31, %%zmm8\n"            \
  op " %%zmm30, %%zmm31, %%zmm9\n" op " %%zmm30, %%zmm31, %%zmm10\n" op " %%zmm30, %%zmm31, %%zmm11\n"
#define CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11"
#define ROUNDS 20000000L

/* Best of three timings of ROUNDS × 12 instructions, in nanoseconds per instruction. */
#define TIME(op)                                                                                               \
  ({                                                                                                           \
    double best = G_MAXDOUBLE;                                                                                 \
    for (int run = 0; run < 3; run++)                                                                          \
      {                                                                                                        \
        gint64 start = g_get_monotonic_time ();                                                                \
        for (long i = 0; i < ROUNDS; i++)                                                                      \
          __asm__ volatile (TWELVE (op) ::: CLOBBERS);                                                         \
        best = MIN (best, (g_get_monotonic_time () - start) * 1e3 / (ROUNDS * 12.0));                          \
      }                                                                                                        \
    best;                                                                                                      \
  })

__attribute__ ((target ("avx512f,avx512bf16,avx512vnni"))) static void
time_all (gboolean bf16, gboolean vnni)
{
  __asm__ volatile ("vpxord %%zmm30, %%zmm30, %%zmm30\n vpxord %%zmm31, %%zmm31, %%zmm31" ::: "xmm30", "xmm31");
  printf ("vfmadd231ps zmm: %.3f ns\n", TIME ("vfmadd231ps"));
  if (bf16)
    printf ("vdpbf16ps zmm:   %.3f ns\n", TIME ("vdpbf16ps"));
  else
    printf ("vdpbf16ps: skipped, this CPU lacks AVX512-BF16\n");
  if (vnni)
    printf ("vpdpbusd zmm:    %.3f ns\n", TIME ("vpdpbusd"));
  else
    printf ("vpdpbusd: skipped, this CPU lacks AVX512-VNNI\n");
}

int
main (void)
{
  __builtin_cpu_init ();
  if (!__builtin_cpu_supports ("avx512f"))
    {
      printf ("skipped: this CPU lacks AVX-512\n");
      return 0;
    }
  time_all (__builtin_cpu_supports ("avx512bf16"), __builtin_cpu_supports ("avx512vnni"));
  return 0;
}
