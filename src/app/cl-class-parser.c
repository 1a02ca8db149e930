/* cl-class-parser.c — splitting what the user typed into class names and templates. */
#include "cl-class-parser.h"

#include "clip.h"

GStrv
cl_class_names_parse (const char *text)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_auto (GStrv) parts = g_strsplit_set (text != NULL ? text : "", ",\n", -1);

  for (char **part = parts; *part != NULL; part++)
    {
      char *name = g_strstrip (*part);
      if (*name == '\0' || g_hash_table_contains (seen, name))
        continue;
      g_hash_table_add (seen, name);
      g_strv_builder_add (builder, name);
    }
  return g_strv_builder_end (builder);
}

GStrv
cl_templates_parse (const char *text, guint *first_bad_line)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", -1);

  *first_bad_line = 0;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      if (*line == '\0')
        continue;
      if (!clip_template_is_valid (line))  /* "{}", or CLIP_benchmark's "{c}" */
        {
          if (*first_bad_line == 0)
            *first_bad_line = i + 1;
          continue;
        }
      g_strv_builder_add (builder, line);
    }
  return g_strv_builder_end (builder);
}

GStrv
cl_templates_for_preset (const char *preset, const char *custom_text, guint *first_bad_line)
{
  *first_bad_line = 0;
  if (g_strcmp0 (preset, "custom") == 0)
    return cl_templates_parse (custom_text, first_bad_line);

  int n = 0;
  const char *const *builtin = clip_templates_builtin (preset, &n);
  if (builtin == NULL)
    builtin = clip_templates_builtin ("simple", &n);
  return g_strdupv ((char **) builtin);
}

char *
cl_templates_key (const char *const *templates)
{
  /* U+001F cannot be typed into a template, so the join is unambiguous. */
  return g_strjoinv ("\x1f", (char **) templates);
}
