/* tokenizer-private.h — internal: the text-cleaning steps behind clip_tokenizer_clean_text, exposed
 * one by one for the tokenizer and its tests.  All take and return UTF-8 (newly allocated). */
#pragma once

#include "clip.h"

/* The regex module's \s (Unicode White_Space): GLib's isspace plus U+000B and U+0085. */
gboolean clip_unichar_is_regex_space (gunichar c);

/* ftfy 6 fix_text with its default configuration, without mojibake repair (fix_encoding). */
char *clip_text_fix (const char *text);
/* Python's html.unescape (HTML 4 entity names plus &apos;, numeric references with HTML5's rules). */
char *clip_text_html_unescape (const char *text);
/* Every run of regex whitespace becomes one space; no space at either end. */
char *clip_text_collapse_whitespace (const char *text);
/* Python's str.lower: simple lower-case mapping, U+0130 → "i̇", and final sigma. */
char *clip_text_lower (const char *text);
