/* fuzz-main.c — libFuzzer's entry point for one harness: FUZZ_TARGET names its body in
 * fuzz-targets.c (fuzz_safetensors, …); tests/fuzz/meson.build builds one fuzz-<name> per body. */
#include "fuzz-targets.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  return FUZZ_TARGET (data, size);
}
