/* fuzz-targets.h — the bodies of the fuzzing harnesses, one function per reader.
 *
 * Each takes arbitrary bytes and feeds them to one of the library's readers, checking the contract
 * every reader has: it either succeeds with a result that holds up (its sizes agree, its data can be
 * read in full) or fails with a GError in CLIP_ERROR's domain carrying a message; it never crashes,
 * never logs a critical warning, and never returns NULL without an error.  A broken contract aborts.
 *
 * The same functions run under libFuzzer (fuzz-main.c, clang -fsanitize=fuzzer) and without it in
 * the normal test suite (tests/test-fuzz-regressions.c replays every file of regressions/<name>/). */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef int (*FuzzTargetFunc) (const uint8_t *data, size_t size);

typedef struct {
  const char    *name;   /* as in fuzz-<name> and regressions/<name>/ */
  FuzzTargetFunc run;
} FuzzTarget;

/* Every harness, NULL-terminated. */
extern const FuzzTarget fuzz_targets[];

int fuzz_safetensors (const uint8_t *data, size_t size);         /* the safetensors reader, in memory */
int fuzz_model_weights (const uint8_t *data, size_t size);       /* a bare .safetensors loaded as a model */
int fuzz_config_hf (const uint8_t *data, size_t size);           /* config.json beside the tiny model */
int fuzz_config_open_clip (const uint8_t *data, size_t size);    /* open_clip_config.json beside it */
int fuzz_config_preprocessor (const uint8_t *data, size_t size); /* preprocessor_config.json */
int fuzz_metadata (const uint8_t *data, size_t size);            /* our checkpoint's config and tokenizer JSON */
int fuzz_tokenizer_vocab (const uint8_t *data, size_t size);     /* vocab.json with a valid merges.txt */
int fuzz_tokenizer_merges (const uint8_t *data, size_t size);    /* merges.txt, alone or with a vocab.json */
int fuzz_tokenizer_json (const uint8_t *data, size_t size);      /* tokenizer.json */
int fuzz_tokenizer_gz (const uint8_t *data, size_t size);        /* bpe_simple_vocab_16e6.txt.gz */
int fuzz_tokenizer_encode (const uint8_t *data, size_t size);    /* any bytes as text, CLIP BPE and bytes */
int fuzz_image_preprocess (const uint8_t *data, size_t size);    /* resize + crop + normalise, any size */
int fuzz_image_file (const uint8_t *data, size_t size);          /* decoding a file as an image */
int fuzz_csv (const uint8_t *data, size_t size);                 /* a data set's CSV */
int fuzz_webdataset (const uint8_t *data, size_t size);          /* a WebDataset shard (tar) */
int fuzz_coco (const uint8_t *data, size_t size);                /* a COCO captions JSON */
int fuzz_karpathy (const uint8_t *data, size_t size);            /* a Karpathy split JSON */
int fuzz_index (const uint8_t *data, size_t size);               /* the photo index file */
