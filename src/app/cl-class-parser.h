/* cl-class-parser.h — class names and prompt templates as the user types them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Class names separated by commas or line breaks, trimmed; empty entries are dropped and a name
 * given twice is kept once (first place).  Never NULL. */
GStrv cl_class_names_parse (const char *text);

/* Custom templates, one per non-empty line, trimmed.  Lines without "{}" or "{c}" are left out; the
 * first such line number (1-based) goes to *FIRST_BAD_LINE (0 when none).  Never NULL. */
GStrv cl_templates_parse (const char *text, guint *first_bad_line);

/* The templates of a preset: "simple", "openai7", "imagenet80" (the library's sets), or "custom"
 * (CUSTOM_TEXT parsed as above).  Never NULL. */
GStrv cl_templates_for_preset (const char *preset, const char *custom_text, guint *first_bad_line);

/* One key for a template list, used to cache classifier rows per (templates, class). */
char *cl_templates_key (const char *const *templates);

G_END_DECLS
