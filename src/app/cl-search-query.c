/* cl-search-query.c — a small tokenizer and term builder for the search syntax. */
#include "cl-search-query.h"

#include <string.h>

void
cl_search_term_free (ClSearchTerm *term)
{
  g_free (term->text);
  g_free (term);
}

static gboolean
is_open_quote (gunichar c)
{
  return c == '"' || c == 0x201C /* “ */ || c == 0x201E /* „ */;
}

static gboolean
is_close_quote (gunichar c)
{
  return c == '"' || c == 0x201D /* ” */ || c == 0x201C;
}

/* Reads one word or quoted phrase at *P, after spaces; NULL at the end. */
static char *
read_word (const char **p)
{
  const char *s = *p;

  if (*s == '\0' || g_unichar_isspace (g_utf8_get_char (s)))
    return NULL;
  if (is_open_quote (g_utf8_get_char (s)))
    {
      const char *start = g_utf8_next_char (s);
      const char *end = start;
      while (*end != '\0' && !is_close_quote (g_utf8_get_char (end)))
        end = g_utf8_next_char (end);
      *p = *end != '\0' ? g_utf8_next_char (end) : end;
      return g_strstrip (g_strndup (start, end - start));
    }
  const char *end = s;
  while (*end != '\0' && !g_unichar_isspace (g_utf8_get_char (end)))
    end = g_utf8_next_char (end);
  *p = end;
  return g_strndup (s, end - s);
}

/* A "N:" weight at *P (N > 0, something after the colon): its value, with *P moved past the
 * colon; 0 when there is none. */
static double
read_weight (const char **p)
{
  char *end = NULL;
  double value = g_ascii_strtod (*p, &end);

  if (end == *p || *end != ':' || !(value > 0) || end[1] == '\0' || g_unichar_isspace (g_utf8_get_char (end + 1)))
    return 0;
  *p = end + 1;
  return value;
}

typedef struct {
  GPtrArray *terms;
  GString   *words;       /* of the open term */
  double     sign;        /* of the open term */
} Builder;

static void
builder_close (Builder *b)
{
  if (b->words->len > 0)
    {
      ClSearchTerm *term = g_new0 (ClSearchTerm, 1);
      term->text = g_strdup (b->words->str);
      term->weight = b->sign;
      g_ptr_array_add (b->terms, term);
    }
  g_string_truncate (b->words, 0);
  b->sign = 1;
}

static void
builder_add_single (Builder *b, const char *text, double weight)
{
  g_autofree char *stripped = g_strstrip (g_strdup (text));

  builder_close (b);
  if (*stripped == '\0' || weight == 0)
    return;
  ClSearchTerm *term = g_new0 (ClSearchTerm, 1);
  term->text = g_steal_pointer (&stripped);
  term->weight = weight;
  g_ptr_array_add (b->terms, term);
}

GPtrArray *
cl_search_query_parse (const char *query)
{
  Builder b = { g_ptr_array_new_with_free_func ((GDestroyNotify) cl_search_term_free), g_string_new (NULL), 1 };
  const char *p = query != NULL ? query : "";

  for (;;)
    {
      while (*p != '\0' && g_unichar_isspace (g_utf8_get_char (p)))
        p = g_utf8_next_char (p);
      if (*p == '\0')
        break;

      /* A sign: alone it opens a term, attached it makes a one-word term. */
      double sign = 0;
      if (*p == '-' || *p == '+')
        {
          sign = *p == '-' ? -1 : 1;
          p++;
          if (*p == '\0' || g_unichar_isspace (g_utf8_get_char (p)))
            {
              builder_close (&b);
              b.sign = sign;
              continue;
            }
        }

      double weight = read_weight (&p);
      g_autofree char *word = read_word (&p);
      if (word == NULL)
        continue;
      if (weight > 0)
        builder_add_single (&b, word, (sign != 0 ? sign : 1) * weight);
      else if (sign != 0)
        builder_add_single (&b, word, sign);
      else if (*word != '\0')
        {
          if (b.words->len > 0)
            g_string_append_c (b.words, ' ');
          g_string_append (b.words, word);
        }
    }
  builder_close (&b);
  g_string_free (b.words, TRUE);
  return b.terms;
}

gboolean
cl_search_query_has_positive (GPtrArray *terms)
{
  for (guint i = 0; i < terms->len; i++)
    if (((ClSearchTerm *) terms->pdata[i])->weight > 0)
      return TRUE;
  return FALSE;
}
