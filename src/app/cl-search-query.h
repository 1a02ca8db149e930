/* cl-search-query.h — the search entry's query syntax, turned into weighted text terms.
 *
 *   dog beach -people        one term "dog beach" (+1) and "people" (−1)
 *   horse + stripes          "horse" and "stripes", each +1 (rclip's query arithmetic)
 *   apple - fruit            "apple" (+1), "fruit" (−1): after a lone + or −, the words up to the
 *                            next operator form one term of that sign
 *   "red car" -"at night"    quotes (straight or curly) keep a phrase together
 *   2:cat -0.5:dog           a number and a colon weigh one word or quoted phrase
 *
 * Words without an operator join the current term; a prefixed word (-word, +word, 2:word) is a
 * term of its own. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char  *text;
  double weight;    /* > 0 adds the term, < 0 subtracts it */
} ClSearchTerm;

void cl_search_term_free (ClSearchTerm *term);

/* The terms of QUERY in the order typed (ClSearchTerm *, freed with the array); empty when QUERY
 * holds no words.  Zero weights are left out. */
GPtrArray *cl_search_query_parse (const char *query);

/* Whether TERMS (from cl_search_query_parse) have at least one positive term. */
gboolean cl_search_query_has_positive (GPtrArray *terms);

G_END_DECLS
