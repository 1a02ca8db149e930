/* util-json.c — json-glib with the guards untrusted files need. */
#include "util-json.h"
#include "clip.h"
#include "util-file.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

gboolean
clip_json_prescan (const char *data, gsize len, const char *label, GError **error)
{
  gboolean in_string = FALSE;
  int depth = 0;
  for (gsize i = 0; i < len; i++)
    {
      char c = data[i];
      if (in_string)
        {
          if (c == '\\' && i + 1 < len)
            {
              if (data[i + 1] == 'u' && len - i >= 6 && memcmp (data + i + 2, "0000", 4) == 0)
                {
                  g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT,
                               "%s: JSON contains an escaped NUL character (\\u0000) at byte %" G_GSIZE_FORMAT,
                               label, i);
                  return FALSE;
                }
              i++;
            }
          else if (c == '"')
            in_string = FALSE;
        }
      else if (c == '"')
        in_string = TRUE;
      else if (c == '[' || c == '{')
        {
          if (++depth > CLIP_MAX_JSON_DEPTH)
            {
              g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT,
                           "%s: JSON nests deeper than %d levels (at byte %" G_GSIZE_FORMAT ")",
                           label, CLIP_MAX_JSON_DEPTH, i);
              return FALSE;
            }
        }
      else if ((c == ']' || c == '}') && depth > 0)
        depth--;
    }
  return TRUE;
}

typedef struct {
  GHashTable *members_seen;   /* JsonObject → members parsed so far */
  char       *duplicate;      /* the first repeated key */
} DuplicateCheck;

/* json-glib emits "object-member" after storing the member, and a repeated key replaces the old
 * one: the object then holds fewer members than were parsed into it. */
static void
on_object_member (JsonParser *parser, JsonObject *object, const char *member, gpointer user_data)
{
  DuplicateCheck *check = user_data;
  guint seen = GPOINTER_TO_UINT (g_hash_table_lookup (check->members_seen, object)) + 1;
  g_hash_table_insert (check->members_seen, object, GUINT_TO_POINTER (seen));
  if (check->duplicate == NULL && json_object_get_size (object) < seen)
    check->duplicate = g_strdup (member);
}

JsonNode *
clip_json_parse (const char *data, gsize len, const char *label, gboolean reject_duplicates, GError **error)
{
  const char *end;
  if (!g_utf8_validate_len (data, len, &end))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: invalid UTF-8 at byte %" G_GSIZE_FORMAT,
                   label, (gsize) (end - data));
      return NULL;
    }
  if (!clip_json_prescan (data, len, label, error))
    return NULL;

  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GHashTable) members_seen = g_hash_table_new (NULL, NULL);
  DuplicateCheck check = { members_seen, NULL };
  if (reject_duplicates)
    g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &check);
  g_autoptr (GError) local = NULL;
  if (!json_parser_load_from_data (parser, data, (gssize) len, &local))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: invalid JSON: %s", label, local->message);
      g_free (check.duplicate);
      return NULL;
    }
  if (check.duplicate != NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: the key \"%s\" appears twice in one object",
                   label, check.duplicate);
      g_free (check.duplicate);
      return NULL;
    }
  JsonNode *root = json_parser_steal_root (parser);
  if (root == NULL)
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: empty JSON document", label);
  return root;
}

JsonNode *
clip_json_parse_file (const char *path, gsize max_bytes, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!clip_file_read_contents (path, CLIP_INPUT_DEFAULT, max_bytes, &data, &len, error))
    return NULL;
  return clip_json_parse (data, len, path, TRUE, error);
}

JsonNode *
clip_json_parse_object_file (const char *path, gsize max_bytes, JsonObject **object, GError **error)
{
  g_autoptr (JsonNode) root = clip_json_parse_file (path, max_bytes, error);
  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: not a JSON object", path);
      return NULL;
    }
  *object = json_node_get_object (root);
  return g_steal_pointer (&root);
}

static gboolean
wrong_type (const char *label, const char *key, const char *expected, GError **error)
{
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: \"%s\" must be %s", label, key, expected);
  return FALSE;
}

static JsonNode *
value_member (JsonObject *obj, const char *key)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, key) : NULL;
  return node != NULL && !JSON_NODE_HOLDS_NULL (node) ? node : NULL;
}

gboolean
clip_json_get_int (JsonObject *obj, const char *key, gint64 min, gint64 max, int *value,
                   const char *label, GError **error)
{
  JsonNode *node = value_member (obj, key);
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return wrong_type (label, key, "an integer", error);
  gint64 v = json_node_get_int (node);
  if (v < min || v > max)
    {
      g_set_error (error, CLIP_ERROR, v > max ? CLIP_ERROR_LIMIT : CLIP_ERROR_SHAPE,
                   "%s: \"%s\" is %" G_GINT64_FORMAT "; it must be between %" G_GINT64_FORMAT
                   " and %" G_GINT64_FORMAT, label, key, v, min, max);
      return FALSE;
    }
  *value = (int) v;
  return TRUE;
}

gboolean
clip_json_get_double (JsonObject *obj, const char *key, double *value, const char *label, GError **error)
{
  JsonNode *node = value_member (obj, key);
  if (node == NULL)
    return TRUE;
  GType type = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
  if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE)
    return wrong_type (label, key, "a number", error);
  double v = json_node_get_double (node);
  if (!isfinite (v))
    return wrong_type (label, key, "a finite number", error);
  *value = v;
  return TRUE;
}

gboolean
clip_json_get_bool (JsonObject *obj, const char *key, gboolean *value, const char *label, GError **error)
{
  JsonNode *node = value_member (obj, key);
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return wrong_type (label, key, "true or false", error);
  *value = json_node_get_boolean (node);
  return TRUE;
}

gboolean
clip_json_get_string (JsonObject *obj, const char *key, const char **value, const char *label, GError **error)
{
  JsonNode *node = value_member (obj, key);
  *value = NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return wrong_type (label, key, "a string", error);
  *value = json_node_get_string (node);
  return TRUE;
}

gboolean
clip_json_get_object (JsonObject *obj, const char *key, JsonObject **value, const char *label, GError **error)
{
  JsonNode *node = value_member (obj, key);
  *value = NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return wrong_type (label, key, "an object", error);
  *value = json_node_get_object (node);
  return TRUE;
}
