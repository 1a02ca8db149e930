/* test-search-query.c — the search entry's syntax (cl-search-query.c): words, signs, lone
 * operators, quotes and weights become the weighted terms sent to the index. */
#include <glib.h>

#include "cl-search-query.h"

typedef struct {
  const char *text;
  double weight;
} Want;

static void
assert_terms (const char *query, const Want *want, guint n_want)
{
  g_autoptr (GPtrArray) terms = cl_search_query_parse (query);

  g_test_message ("query: %s", query);
  g_assert_cmpuint (terms->len, ==, n_want);
  for (guint i = 0; i < n_want; i++)
    {
      ClSearchTerm *term = terms->pdata[i];
      g_assert_cmpstr (term->text, ==, want[i].text);
      g_assert_cmpfloat (term->weight, ==, want[i].weight);
    }
}

#define TERMS(query, ...)                                                     \
  do {                                                                        \
    const Want want_[] = { __VA_ARGS__ };                                     \
    assert_terms (query, want_, G_N_ELEMENTS (want_));                        \
  } while (0)

static void
test_words_and_signs (void)
{
  TERMS ("dog beach -people", { "dog beach", 1 }, { "people", -1 });
  TERMS ("  a dog   on a beach  ", { "a dog on a beach", 1 });
  TERMS ("dog -people sunset", { "dog", 1 }, { "people", -1 }, { "sunset", 1 });
  TERMS ("+cat +dog", { "cat", 1 }, { "dog", 1 });
  TERMS ("t-shirt on a chair", { "t-shirt on a chair", 1 });
  TERMS ("고양이 -강아지", { "고양이", 1 }, { "강아지", -1 });
}

static void
test_lone_operators (void)
{
  TERMS ("horse + stripes", { "horse", 1 }, { "stripes", 1 });
  TERMS ("apple - fruit", { "apple", 1 }, { "fruit", -1 });
  TERMS ("red apple - green fruit + tree", { "red apple", 1 }, { "green fruit", -1 }, { "tree", 1 });
  /* Dangling operators change nothing. */
  TERMS ("cat -", { "cat", 1 });
  TERMS ("- + cat", { "cat", 1 });
}

static void
test_quotes (void)
{
  TERMS ("car -\"at night\"", { "car", 1 }, { "at night", -1 });
  TERMS ("\u201Cred car\u201D -\u201Cparking lot\u201D", { "red car", 1 }, { "parking lot", -1 });
  TERMS ("-\"unclosed phrase here", { "unclosed phrase here", -1 });
  TERMS ("\"\" cat", { "cat", 1 });
}

static void
test_weights (void)
{
  TERMS ("2:cat dog", { "cat", 2 }, { "dog", 1 });
  TERMS ("cat -0.5:night", { "cat", 1 }, { "night", -0.5 });
  TERMS ("1.5:\"red car\" street", { "red car", 1.5 }, { "street", 1 });
  /* Not a weight: nothing after the colon, or no number before it. */
  TERMS ("2: cat", { "2: cat", 1 });
  TERMS ("time:now", { "time:now", 1 });
}

static void
test_empty_and_positive (void)
{
  g_autoptr (GPtrArray) none = cl_search_query_parse ("   ");
  g_assert_cmpuint (none->len, ==, 0);
  g_assert_false (cl_search_query_has_positive (none));
  g_autoptr (GPtrArray) only_negative = cl_search_query_parse ("-people -cars");
  g_assert_cmpuint (only_negative->len, ==, 2);
  g_assert_false (cl_search_query_has_positive (only_negative));
  g_autoptr (GPtrArray) mixed = cl_search_query_parse ("-people beach");
  g_assert_true (cl_search_query_has_positive (mixed));
  g_autoptr (GPtrArray) null_query = cl_search_query_parse (NULL);
  g_assert_cmpuint (null_query->len, ==, 0);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/search-query/words-and-signs", test_words_and_signs);
  g_test_add_func ("/search-query/lone-operators", test_lone_operators);
  g_test_add_func ("/search-query/quotes", test_quotes);
  g_test_add_func ("/search-query/weights", test_weights);
  g_test_add_func ("/search-query/empty-and-positive", test_empty_and_positive);
  return g_test_run ();
}
