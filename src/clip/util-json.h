/* util-json.h — internal: parsing JSON from untrusted files with json-glib, safely. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* json-glib 1.6 recurses without a limit, so "[[[[…" would overflow the stack: refuses nesting
 * deeper than CLIP_MAX_JSON_DEPTH before parsing.  Also refuses "\u0000", which json-glib would
 * silently turn into a shorter C string (two different names could then read as one). */
gboolean clip_json_prescan (const char *data, gsize len, const char *label, GError **error);

/* Parses DATA (LEN bytes, need not be NUL-terminated) after checking it is UTF-8 and nested at
 * most CLIP_MAX_JSON_DEPTH deep (json-glib 1.6 recurses without a limit).  LABEL names the source in
 * errors.  With REJECT_DUPLICATES, an object holding the same key twice is an error (json-glib
 * would keep the last silently).  Returns the root node. */
JsonNode *clip_json_parse (const char *data, gsize len, const char *label, gboolean reject_duplicates,
                           GError **error);
/* Reads and parses a file of at most MAX_BYTES. */
JsonNode *clip_json_parse_file (const char *path, gsize max_bytes, GError **error);
/* The same for a file whose root must be an object ("PATH: not a JSON object" otherwise): returns the
 * root node, which owns *OBJECT. */
JsonNode *clip_json_parse_object_file (const char *path, gsize max_bytes, JsonObject **object, GError **error);

/* Typed member access with range checks.  A missing member leaves *value unchanged and succeeds;
 * a member of the wrong type or out of range is an error naming LABEL and KEY. */
gboolean clip_json_get_int (JsonObject *obj, const char *key, gint64 min, gint64 max, int *value,
                            const char *label, GError **error);
gboolean clip_json_get_double (JsonObject *obj, const char *key, double *value, const char *label,
                               GError **error);
gboolean clip_json_get_bool (JsonObject *obj, const char *key, gboolean *value, const char *label,
                             GError **error);
/* NULL when missing; an error when present but not a string. */
gboolean clip_json_get_string (JsonObject *obj, const char *key, const char **value, const char *label,
                               GError **error);
/* NULL when missing or null; an error when present but not an object. */
gboolean clip_json_get_object (JsonObject *obj, const char *key, JsonObject **value, const char *label,
                               GError **error);
