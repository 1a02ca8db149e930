/* tokenizer-clean.c — OpenAI's caption cleaning (simple_tokenizer.py: basic_clean, whitespace_clean,
 * lower): ftfy.fix_text without mojibake repair, html.unescape twice, whitespace collapse and
 * Python's str.lower, rebuilt on GLib's Unicode functions.
 *
 * Not reproduced: ftfy's fix_encoding (mojibake detection is a heuristic over large tables and
 * fires only on text that already looks mis-decoded) and fix_surrogates (valid UTF-8 holds no
 * surrogates; invalid input is repaired with U+FFFD first).  Character properties come from
 * GLib 2.74 (Unicode 15); Python 3.11 has Unicode 14, so only characters new in 15 may differ. */
#include "tokenizer-private.h"

#include <string.h>

/* ftfy fixes segments of at most this many code points: a line, or a slice of a longer one. */
#define FTFY_MAX_SEGMENT 1000000
/* ftfy repeats its fixes until nothing changes.  Each round undoes one level of escaping
 * (&amp;amp;lt; needs three), so deeper nesting than this is left partly escaped, to bound the work. */
#define FTFY_MAX_ROUNDS 32
/* ftfy's entity pattern &#?[0-9A-Za-z]{1,24}; and html.unescape's name length limit. */
#define FTFY_MAX_ENTITY 24
#define HTML_MAX_NAME   32
/* Characters per g_utf8_normalize call, at least (see normalize_nfc). */
#define NFC_PIECE       256

typedef struct {
  const char *name;
  guint16     codepoint;
  guint8      legacy;      /* also recognised without the ';' (HTML5's legacy names) */
} Entity;

/* HTML 4's 252 named entities and &apos;, with the values of Python's html.entities.html5 (which
 * moved &lang; and &rang; to U+27E8/U+27E9), plus HTML5's upper-case aliases of & < > " © ®.
 * Sorted by strcmp.  HTML5-only names (&NewLine;, &bigstar;, …) stay as written. */
static const Entity entities[] = {
  { "AElig", 0x00C6, 1 }, { "AMP", 0x0026, 1 }, { "Aacute", 0x00C1, 1 }, { "Acirc", 0x00C2, 1 },
  { "Agrave", 0x00C0, 1 }, { "Alpha", 0x0391, 0 }, { "Aring", 0x00C5, 1 }, { "Atilde", 0x00C3, 1 },
  { "Auml", 0x00C4, 1 }, { "Beta", 0x0392, 0 }, { "COPY", 0x00A9, 1 }, { "Ccedil", 0x00C7, 1 },
  { "Chi", 0x03A7, 0 }, { "Dagger", 0x2021, 0 }, { "Delta", 0x0394, 0 }, { "ETH", 0x00D0, 1 },
  { "Eacute", 0x00C9, 1 }, { "Ecirc", 0x00CA, 1 }, { "Egrave", 0x00C8, 1 }, { "Epsilon", 0x0395, 0 },
  { "Eta", 0x0397, 0 }, { "Euml", 0x00CB, 1 }, { "GT", 0x003E, 1 }, { "Gamma", 0x0393, 0 },
  { "Iacute", 0x00CD, 1 }, { "Icirc", 0x00CE, 1 }, { "Igrave", 0x00CC, 1 }, { "Iota", 0x0399, 0 },
  { "Iuml", 0x00CF, 1 }, { "Kappa", 0x039A, 0 }, { "LT", 0x003C, 1 }, { "Lambda", 0x039B, 0 },
  { "Mu", 0x039C, 0 }, { "Ntilde", 0x00D1, 1 }, { "Nu", 0x039D, 0 }, { "OElig", 0x0152, 0 },
  { "Oacute", 0x00D3, 1 }, { "Ocirc", 0x00D4, 1 }, { "Ograve", 0x00D2, 1 }, { "Omega", 0x03A9, 0 },
  { "Omicron", 0x039F, 0 }, { "Oslash", 0x00D8, 1 }, { "Otilde", 0x00D5, 1 }, { "Ouml", 0x00D6, 1 },
  { "Phi", 0x03A6, 0 }, { "Pi", 0x03A0, 0 }, { "Prime", 0x2033, 0 }, { "Psi", 0x03A8, 0 },
  { "QUOT", 0x0022, 1 }, { "REG", 0x00AE, 1 }, { "Rho", 0x03A1, 0 }, { "Scaron", 0x0160, 0 },
  { "Sigma", 0x03A3, 0 }, { "THORN", 0x00DE, 1 }, { "Tau", 0x03A4, 0 }, { "Theta", 0x0398, 0 },
  { "Uacute", 0x00DA, 1 }, { "Ucirc", 0x00DB, 1 }, { "Ugrave", 0x00D9, 1 }, { "Upsilon", 0x03A5, 0 },
  { "Uuml", 0x00DC, 1 }, { "Xi", 0x039E, 0 }, { "Yacute", 0x00DD, 1 }, { "Yuml", 0x0178, 0 },
  { "Zeta", 0x0396, 0 }, { "aacute", 0x00E1, 1 }, { "acirc", 0x00E2, 1 }, { "acute", 0x00B4, 1 },
  { "aelig", 0x00E6, 1 }, { "agrave", 0x00E0, 1 }, { "alefsym", 0x2135, 0 }, { "alpha", 0x03B1, 0 },
  { "amp", 0x0026, 1 }, { "and", 0x2227, 0 }, { "ang", 0x2220, 0 }, { "apos", 0x0027, 0 },
  { "aring", 0x00E5, 1 }, { "asymp", 0x2248, 0 }, { "atilde", 0x00E3, 1 }, { "auml", 0x00E4, 1 },
  { "bdquo", 0x201E, 0 }, { "beta", 0x03B2, 0 }, { "brvbar", 0x00A6, 1 }, { "bull", 0x2022, 0 },
  { "cap", 0x2229, 0 }, { "ccedil", 0x00E7, 1 }, { "cedil", 0x00B8, 1 }, { "cent", 0x00A2, 1 },
  { "chi", 0x03C7, 0 }, { "circ", 0x02C6, 0 }, { "clubs", 0x2663, 0 }, { "cong", 0x2245, 0 },
  { "copy", 0x00A9, 1 }, { "crarr", 0x21B5, 0 }, { "cup", 0x222A, 0 }, { "curren", 0x00A4, 1 },
  { "dArr", 0x21D3, 0 }, { "dagger", 0x2020, 0 }, { "darr", 0x2193, 0 }, { "deg", 0x00B0, 1 },
  { "delta", 0x03B4, 0 }, { "diams", 0x2666, 0 }, { "divide", 0x00F7, 1 }, { "eacute", 0x00E9, 1 },
  { "ecirc", 0x00EA, 1 }, { "egrave", 0x00E8, 1 }, { "empty", 0x2205, 0 }, { "emsp", 0x2003, 0 },
  { "ensp", 0x2002, 0 }, { "epsilon", 0x03B5, 0 }, { "equiv", 0x2261, 0 }, { "eta", 0x03B7, 0 },
  { "eth", 0x00F0, 1 }, { "euml", 0x00EB, 1 }, { "euro", 0x20AC, 0 }, { "exist", 0x2203, 0 },
  { "fnof", 0x0192, 0 }, { "forall", 0x2200, 0 }, { "frac12", 0x00BD, 1 }, { "frac14", 0x00BC, 1 },
  { "frac34", 0x00BE, 1 }, { "frasl", 0x2044, 0 }, { "gamma", 0x03B3, 0 }, { "ge", 0x2265, 0 },
  { "gt", 0x003E, 1 }, { "hArr", 0x21D4, 0 }, { "harr", 0x2194, 0 }, { "hearts", 0x2665, 0 },
  { "hellip", 0x2026, 0 }, { "iacute", 0x00ED, 1 }, { "icirc", 0x00EE, 1 }, { "iexcl", 0x00A1, 1 },
  { "igrave", 0x00EC, 1 }, { "image", 0x2111, 0 }, { "infin", 0x221E, 0 }, { "int", 0x222B, 0 },
  { "iota", 0x03B9, 0 }, { "iquest", 0x00BF, 1 }, { "isin", 0x2208, 0 }, { "iuml", 0x00EF, 1 },
  { "kappa", 0x03BA, 0 }, { "lArr", 0x21D0, 0 }, { "lambda", 0x03BB, 0 }, { "lang", 0x27E8, 0 },
  { "laquo", 0x00AB, 1 }, { "larr", 0x2190, 0 }, { "lceil", 0x2308, 0 }, { "ldquo", 0x201C, 0 },
  { "le", 0x2264, 0 }, { "lfloor", 0x230A, 0 }, { "lowast", 0x2217, 0 }, { "loz", 0x25CA, 0 },
  { "lrm", 0x200E, 0 }, { "lsaquo", 0x2039, 0 }, { "lsquo", 0x2018, 0 }, { "lt", 0x003C, 1 },
  { "macr", 0x00AF, 1 }, { "mdash", 0x2014, 0 }, { "micro", 0x00B5, 1 }, { "middot", 0x00B7, 1 },
  { "minus", 0x2212, 0 }, { "mu", 0x03BC, 0 }, { "nabla", 0x2207, 0 }, { "nbsp", 0x00A0, 1 },
  { "ndash", 0x2013, 0 }, { "ne", 0x2260, 0 }, { "ni", 0x220B, 0 }, { "not", 0x00AC, 1 },
  { "notin", 0x2209, 0 }, { "nsub", 0x2284, 0 }, { "ntilde", 0x00F1, 1 }, { "nu", 0x03BD, 0 },
  { "oacute", 0x00F3, 1 }, { "ocirc", 0x00F4, 1 }, { "oelig", 0x0153, 0 }, { "ograve", 0x00F2, 1 },
  { "oline", 0x203E, 0 }, { "omega", 0x03C9, 0 }, { "omicron", 0x03BF, 0 }, { "oplus", 0x2295, 0 },
  { "or", 0x2228, 0 }, { "ordf", 0x00AA, 1 }, { "ordm", 0x00BA, 1 }, { "oslash", 0x00F8, 1 },
  { "otilde", 0x00F5, 1 }, { "otimes", 0x2297, 0 }, { "ouml", 0x00F6, 1 }, { "para", 0x00B6, 1 },
  { "part", 0x2202, 0 }, { "permil", 0x2030, 0 }, { "perp", 0x22A5, 0 }, { "phi", 0x03C6, 0 },
  { "pi", 0x03C0, 0 }, { "piv", 0x03D6, 0 }, { "plusmn", 0x00B1, 1 }, { "pound", 0x00A3, 1 },
  { "prime", 0x2032, 0 }, { "prod", 0x220F, 0 }, { "prop", 0x221D, 0 }, { "psi", 0x03C8, 0 },
  { "quot", 0x0022, 1 }, { "rArr", 0x21D2, 0 }, { "radic", 0x221A, 0 }, { "rang", 0x27E9, 0 },
  { "raquo", 0x00BB, 1 }, { "rarr", 0x2192, 0 }, { "rceil", 0x2309, 0 }, { "rdquo", 0x201D, 0 },
  { "real", 0x211C, 0 }, { "reg", 0x00AE, 1 }, { "rfloor", 0x230B, 0 }, { "rho", 0x03C1, 0 },
  { "rlm", 0x200F, 0 }, { "rsaquo", 0x203A, 0 }, { "rsquo", 0x2019, 0 }, { "sbquo", 0x201A, 0 },
  { "scaron", 0x0161, 0 }, { "sdot", 0x22C5, 0 }, { "sect", 0x00A7, 1 }, { "shy", 0x00AD, 1 },
  { "sigma", 0x03C3, 0 }, { "sigmaf", 0x03C2, 0 }, { "sim", 0x223C, 0 }, { "spades", 0x2660, 0 },
  { "sub", 0x2282, 0 }, { "sube", 0x2286, 0 }, { "sum", 0x2211, 0 }, { "sup", 0x2283, 0 },
  { "sup1", 0x00B9, 1 }, { "sup2", 0x00B2, 1 }, { "sup3", 0x00B3, 1 }, { "supe", 0x2287, 0 },
  { "szlig", 0x00DF, 1 }, { "tau", 0x03C4, 0 }, { "there4", 0x2234, 0 }, { "theta", 0x03B8, 0 },
  { "thetasym", 0x03D1, 0 }, { "thinsp", 0x2009, 0 }, { "thorn", 0x00FE, 1 }, { "tilde", 0x02DC, 0 },
  { "times", 0x00D7, 1 }, { "trade", 0x2122, 0 }, { "uArr", 0x21D1, 0 }, { "uacute", 0x00FA, 1 },
  { "uarr", 0x2191, 0 }, { "ucirc", 0x00FB, 1 }, { "ugrave", 0x00F9, 1 }, { "uml", 0x00A8, 1 },
  { "upsih", 0x03D2, 0 }, { "upsilon", 0x03C5, 0 }, { "uuml", 0x00FC, 1 }, { "weierp", 0x2118, 0 },
  { "xi", 0x03BE, 0 }, { "yacute", 0x00FD, 1 }, { "yen", 0x00A5, 1 }, { "yuml", 0x00FF, 1 },
  { "zeta", 0x03B6, 0 }, { "zwj", 0x200D, 0 }, { "zwnj", 0x200C, 0 },
};

/* Windows-1252 for the C1 range 0x80–0x9F, undefined bytes kept as their C1 code point: both
 * ftfy's fix_c1_controls (sloppy-windows-1252) and html.unescape's numeric references use it. */
static const gunichar windows1252_c1[32] = {
  0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
  0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
  0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
  0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* ftfy's fix_latin_ligatures. */
static const struct {
  gunichar    ligature;
  const char *letters;
} ligatures[] = {
  { 0x0132, "IJ" }, { 0x0133, "ij" }, { 0x0149, "\xca\xbcn" /* ʼn */ },
  { 0x01C4, "D\xc5\xbd" /* DŽ */ }, { 0x01C5, "D\xc5\xbe" /* Dž */ }, { 0x01C6, "d\xc5\xbe" /* dž */ },
  { 0x01C7, "LJ" }, { 0x01C8, "Lj" }, { 0x01C9, "lj" }, { 0x01CA, "NJ" }, { 0x01CB, "Nj" }, { 0x01CC, "nj" },
  { 0x01F1, "DZ" }, { 0x01F2, "Dz" }, { 0x01F3, "dz" },
  { 0xFB00, "ff" }, { 0xFB01, "fi" }, { 0xFB02, "fl" }, { 0xFB03, "ffi" }, { 0xFB04, "ffl" },
  { 0xFB05, "\xc5\xbft" /* ſt */ }, { 0xFB06, "st" },
};

gboolean
clip_unichar_is_regex_space (gunichar c)
{
  return g_unichar_isspace (c) || c == 0x0B || c == 0x85;
}

/* ---------------------------------------------------------------- HTML entities */

static const Entity *
entity_find (const char *name, size_t len)
{
  size_t lo = 0, hi = G_N_ELEMENTS (entities);
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      int cmp = strncmp (name, entities[mid].name, len);
      if (cmp == 0 && entities[mid].name[len] != '\0')
        cmp = -1;  /* NAME is a proper prefix of this entry, so it sorts before it */
      if (cmp == 0)
        return &entities[mid];
      if (cmp < 0)
        hi = mid;
      else
        lo = mid + 1;
    }
  return NULL;
}

/* html.unescape's rules for &#N; (HTML5 "invalid character reference" handling). */
static void
append_numeric_reference (GString *out, guint32 value)
{
  if (value == 0)
    g_string_append_unichar (out, 0xFFFD);
  else if (value >= 0x80 && value <= 0x9F)
    g_string_append_unichar (out, windows1252_c1[value - 0x80]);
  else if ((value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF)
    g_string_append_unichar (out, 0xFFFD);
  else if (value == 0x0D)
    g_string_append_c (out, '\r');
  else if ((value >= 0x01 && value <= 0x08) || value == 0x0B || (value >= 0x0E && value <= 0x1F) || value == 0x7F
           || (value >= 0xFDD0 && value <= 0xFDEF) || (value & 0xFFFE) == 0xFFFE)
    return;  /* control characters and non-characters vanish */
  else
    g_string_append_unichar (out, value);
}

/* Decodes the reference starting at AMP (an '&') into OUT and returns where the text continues, or
 * returns NULL, appending nothing, when AMP does not start a reference. */
typedef const char *(*ReferenceDecoder) (GString *out, const char *amp);

/* TEXT with every reference DECODE recognises replaced; the rest copied as it is. */
static char *
replace_references (const char *text, ReferenceDecoder decode)
{
  if (strchr (text, '&') == NULL)
    return g_strdup (text);
  GString *out = g_string_sized_new (strlen (text));
  const char *p = text;
  while (*p != '\0')
    {
      const char *after = *p == '&' ? decode (out, p) : NULL;
      if (after != NULL)
        p = after;
      else
        g_string_append_c (out, *p++);
    }
  return g_string_free (out, FALSE);
}

/* One reference as Python's html.unescape reads it:
 * &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?). */
static const char *
html_decode_reference (GString *out, const char *p)
{
  const char *q = p + 1;
  if (*q == '#')
    {
      gboolean hex = q[1] == 'x' || q[1] == 'X';
      const char *digits = q + (hex ? 2 : 1), *d = digits;
      guint32 value = 0;  /* saturates just above the Unicode range */
      for (; hex ? g_ascii_isxdigit (*d) : g_ascii_isdigit (*d); d++)
        value = MIN (value * (hex ? 16 : 10) + (guint32) g_ascii_xdigit_value (*d), 0x110000);
      if (d == digits)
        return NULL;
      append_numeric_reference (out, value);
      return *d == ';' ? d + 1 : d;
    }

  const char *end = q;
  for (int n = 0; *end != '\0' && n < HTML_MAX_NAME && strchr ("\t\n\f <&#;", *end) == NULL; n++)
    end = g_utf8_next_char (end);
  if (end == q)
    return NULL;
  gboolean semicolon = *end == ';';
  const char *after = end + semicolon;
  size_t len = (size_t) (end - q);
  const Entity *e = entity_find (q, len);
  if (e != NULL && (semicolon || e->legacy))
    {
      g_string_append_unichar (out, e->codepoint);
      return after;
    }
  /* The longest legacy name (valid without ';') that starts the text, rest kept. */
  size_t prefix = len + semicolon - 1;
  for (; prefix >= 2; prefix--)
    if ((e = entity_find (q, prefix)) != NULL && e->legacy)
      break;
  if (prefix >= 2)
    {
      g_string_append_unichar (out, e->codepoint);
      g_string_append_len (out, q + prefix, after - (q + prefix));
    }
  else
    g_string_append_len (out, p, after - p);
  return after;
}

/* Python's html.unescape. */
char *
clip_text_html_unescape (const char *text)
{
  return replace_references (text, html_decode_reference);
}

/* Python's str.upper of an entity value: only ß, among HTML 4's lower-case entities, becomes two letters. */
static void
append_python_upper (GString *out, gunichar c)
{
  if (c == 0xDF)
    g_string_append (out, "SS");
  else
    g_string_append_unichar (out, g_unichar_toupper (c));
}

/* One reference as ftfy's unescape_html reads it: &#?[0-9A-Za-z]{1,24}; replaced when it is a named
 * entity (or the all-capitals spelling of a lower-case one, such as &EACUTE;, that html.unescape
 * leaves alone), or a numeric reference that html.unescape decodes completely. */
static const char *
ftfy_decode_reference (GString *out, const char *p)
{
  gboolean numeric = p[1] == '#';
  const char *name = p + 1 + numeric;
  size_t len = 0;
  while (len <= FTFY_MAX_ENTITY && g_ascii_isalnum (name[len]))
    len++;
  if (len == 0 || len > FTFY_MAX_ENTITY || name[len] != ';')
    return NULL;
  const char *after = name + len + 1;
  g_autofree char *entity = g_strndup (p, after - p);
  if (numeric)
    {
      g_autofree char *decoded = clip_text_html_unescape (entity);
      g_string_append (out, strchr (decoded, ';') != NULL ? entity : decoded);
      return after;
    }
  const Entity *e = entity_find (name, len);
  if (e != NULL)
    {
      g_string_append_unichar (out, e->codepoint);
      return after;
    }
  g_autofree char *lower = g_ascii_strdown (name, len);
  g_autofree char *upper = g_ascii_strup (name, len);
  g_autofree char *decoded = NULL;
  if (strncmp (upper, name, len) == 0 && (e = entity_find (lower, len)) != NULL
      && strcmp ((decoded = clip_text_html_unescape (entity)), entity) == 0)
    append_python_upper (out, e->codepoint);
  else
    g_string_append (out, entity);
  return after;
}

/* ftfy's unescape_html. */
static char *
ftfy_unescape_html (const char *text)
{
  return replace_references (text, ftfy_decode_reference);
}

/* ---------------------------------------------------------------- ftfy's other fixes */

/* uncurl_quotes */
static void
append_uncurled (GString *out, gunichar c)
{
  if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B))
    g_string_append_c (out, '\'');
  else if (c >= 0x201C && c <= 0x201F)
    g_string_append_c (out, '"');
  else
    g_string_append_unichar (out, c);
}

/* fix_character_width, then uncurl_quotes */
static void
append_width_fixed (GString *out, gunichar c)
{
  if (c == 0x3000)
    g_string_append_c (out, ' ');
  else if (c >= 0xFF01 && c <= 0xFFEF)
    {
      char utf8[8];
      g_autofree char *nfkc = g_utf8_normalize (utf8, g_unichar_to_utf8 (c, utf8), G_NORMALIZE_NFKC);
      for (const char *p = nfkc; *p != '\0'; p = g_utf8_next_char (p))
        append_uncurled (out, g_utf8_get_char (p));
    }
  else
    append_uncurled (out, c);
}

/* fix_c1_controls, fix_latin_ligatures, fix_character_width and uncurl_quotes: each maps single
 * characters, so one pass that feeds every output character to the later steps is the same as
 * ftfy's four passes. */
static char *
ftfy_map_characters (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (c >= 0x80 && c <= 0x9F)
        c = windows1252_c1[c - 0x80];
      const char *letters = NULL;
      for (size_t i = 0; i < G_N_ELEMENTS (ligatures) && letters == NULL; i++)
        if (ligatures[i].ligature == c)
          letters = ligatures[i].letters;
      if (letters == NULL)
        append_width_fixed (out, c);
      else
        for (const char *l = letters; *l != '\0'; l = g_utf8_next_char (l))
          append_width_fixed (out, g_utf8_get_char (l));
    }
  return g_string_free (out, FALSE);
}

/* fix_line_breaks: \r\n, \r, U+2028, U+2029 and U+0085 become \n. */
static char *
ftfy_fix_line_breaks (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (c == '\r' && p[1] == '\n')
        continue;  /* the \n that follows is kept */
      if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85)
        g_string_append_c (out, '\n');
      else
        g_string_append_unichar (out, c);
    }
  return g_string_free (out, FALSE);
}

/* remove_terminal_escapes: ESC [ (\d|;)* [a-zA-Z], where \d is any decimal digit (Nd). */
static char *
ftfy_remove_terminal_escapes (const char *text)
{
  if (strchr (text, '\033') == NULL)
    return g_strdup (text);
  GString *out = g_string_sized_new (strlen (text));
  const char *p = text;
  while (*p != '\0')
    {
      if (p[0] == '\033' && p[1] == '[')
        {
          const char *q = p + 2;
          while (*q == ';' || g_unichar_isdigit (g_utf8_get_char (q)))
            q = g_utf8_next_char (q);
          if (g_ascii_isalpha (*q))
            {
              p = q + 1;
              continue;
            }
        }
      g_string_append_c (out, *p++);
    }
  return g_string_free (out, FALSE);
}

/* remove_control_chars: C0 controls other than \t \n \f \r, DEL, the deprecated format
 * characters U+206A–206F, the BOM and the interlinear annotation characters U+FFF9–FFFC. */
static gboolean
is_removed_control (gunichar c)
{
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F)
         || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

static char *
ftfy_remove_control_chars (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (!is_removed_control (c))
        g_string_append_unichar (out, c);
    }
  return g_string_free (out, FALSE);
}

/* The second characters of GLib's canonical compositions (combining marks, Hangul vowels and
 * trailing consonants, a few vowel signs): the characters that can join what precedes them.
 * Found once, from g_unichar_decompose and g_unichar_compose, as a bitmap over all code points. */
static gboolean
is_composition_second (gunichar c)
{
  static gsize initialised;
  static guint8 *bits;
  if (g_once_init_enter (&initialised))
    {
      guint8 *found = g_malloc0 ((0x10FFFF + 1) / 8);
      for (gunichar composite = 0; composite <= 0x10FFFF; composite++)
        {
          gunichar first, second, recomposed;
          if (g_unichar_decompose (composite, &first, &second) && second != 0
              && g_unichar_compose (first, second, &recomposed) && recomposed == composite)
            found[second >> 3] |= (guint8) (1u << (second & 7));
        }
      bits = found;
      g_once_init_leave (&initialised, 1);
    }
  return c <= 0x10FFFF && (bits[c >> 3] >> (c & 7)) & 1;
}

/* Whether normalising the text before C and from C on separately gives the NFC of the whole: C
 * starts with a starter (combining class 0) that nothing before it can compose with or be
 * reordered around.  Everything below U+0300 qualifies. */
static gboolean
is_normalization_boundary (gunichar c)
{
  if (c < 0x300)
    return TRUE;
  if (g_unichar_combining_class (c) != 0)
    return FALSE;
  gunichar decomposed[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
  gsize n = g_unichar_fully_decompose (c, FALSE, decomposed, G_N_ELEMENTS (decomposed));
  return n > 0 && g_unichar_combining_class (decomposed[0]) == 0 && !is_composition_second (decomposed[0]);
}

/* NFC in pieces of about NFC_PIECE characters: g_utf8_normalize takes time quadratic in the length
 * it composes (a line of 40,000 'é' costs 80 ms, of 1,000,000 over a minute).  Long runs of
 * combining marks stay one piece: ordering them is quadratic in CPython too. */
static char *
normalize_nfc (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));
  const char *start = text;
  int n = 0;
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p), n++)
    if (n >= NFC_PIECE && is_normalization_boundary (g_utf8_get_char (p)))
      {
        g_autofree char *piece = g_utf8_normalize (start, p - start, G_NORMALIZE_NFC);
        g_string_append (out, piece);
        start = p;
        n = 0;
      }
  g_autofree char *rest = g_utf8_normalize (start, -1, G_NORMALIZE_NFC);
  g_string_append (out, rest);
  return g_string_free (out, FALSE);
}

/* ftfy's fix_and_explain on one segment: the fixes in ftfy's order, repeated until nothing changes. */
static char *
ftfy_fix_segment (const char *segment, gboolean unescape_html)
{
  char *text = g_strdup (segment);
  for (int round = 0; round < FTFY_MAX_ROUNDS; round++)
    {
      g_autofree char *unescaped = unescape_html ? ftfy_unescape_html (text) : g_strdup (text);
      g_autofree char *mapped = ftfy_map_characters (unescaped);
      g_autofree char *lines = ftfy_fix_line_breaks (mapped);
      g_autofree char *escapes = ftfy_remove_terminal_escapes (lines);
      g_autofree char *controls = ftfy_remove_control_chars (escapes);
      char *nfc = normalize_nfc (controls);
      gboolean unchanged = strcmp (nfc, text) == 0;
      g_free (text);
      text = nfc;
      if (unchanged)
        break;
    }
  return text;
}

/* ftfy.fix_text: fixes each line (or 1,000,000-character slice) separately; from the first segment
 * holding a '<' on, the text may be HTML and entities are no longer decoded. */
char *
clip_text_fix (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));
  gboolean unescape_html = TRUE;
  const char *p = text;
  while (*p != '\0')
    {
      const char *end = p;
      for (int n = 0; *end != '\0' && n < FTFY_MAX_SEGMENT; n++)
        {
          gboolean newline = *end == '\n';
          end = g_utf8_next_char (end);
          if (newline)
            break;
        }
      g_autofree char *segment = g_strndup (p, end - p);
      if (strchr (segment, '<') != NULL)
        unescape_html = FALSE;
      g_autofree char *fixed = ftfy_fix_segment (segment, unescape_html);
      g_string_append (out, fixed);
      p = end;
    }
  return g_string_free (out, FALSE);
}

/* ---------------------------------------------------------------- whitespace and case */

char *
clip_text_collapse_whitespace (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));
  gboolean pending_space = FALSE;
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (clip_unichar_is_regex_space (c))
        pending_space = out->len > 0;
      else
        {
          if (pending_space)
            g_string_append_c (out, ' ');
          pending_space = FALSE;
          g_string_append_unichar (out, c);
        }
    }
  return g_string_free (out, FALSE);
}

/* GLib maps case for letters only; Unicode also pairs the Roman numerals Ⅰ–Ⅿ (Nl) and the circled
 * letters Ⓐ–Ⓩ (So) with lower-case forms, and Python's str.lower uses them. */
static gboolean
is_upper_numeral_or_circled (gunichar c)
{
  return (c >= 0x2160 && c <= 0x216F) || (c >= 0x24B6 && c <= 0x24CF);
}

static gboolean
is_lower_numeral_or_circled (gunichar c)
{
  return (c >= 0x2170 && c <= 0x217F) || (c >= 0x24D0 && c <= 0x24E9);
}

static gunichar
python_simple_lower (gunichar c)
{
  if (c >= 0x2160 && c <= 0x216F)
    return c + 0x10;
  if (c >= 0x24B6 && c <= 0x24CF)
    return c + 26;
  return g_unichar_tolower (c);
}

/* Unicode's Cased property: letters with case, the numerals and symbols above, and the ones
 * with no case mapping at all: ª º and the squared and negative circled Latin capitals 🄰 🅐 🅰. */
static gboolean
is_cased (gunichar c)
{
  GUnicodeType type = g_unichar_type (c);
  return type == G_UNICODE_UPPERCASE_LETTER || type == G_UNICODE_LOWERCASE_LETTER
         || type == G_UNICODE_TITLECASE_LETTER || g_unichar_tolower (c) != c || g_unichar_toupper (c) != c
         || is_upper_numeral_or_circled (c) || is_lower_numeral_or_circled (c) || c == 0xAA || c == 0xBA
         || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

/* Unicode's Case_Ignorable property: marks, format characters, modifiers, and the characters
 * that word breaking treats as inside a word (apostrophes, periods, colons, middle dots). */
static gboolean
is_case_ignorable (gunichar c)
{
  static const gunichar mid_word[] = {
    0x0027, 0x002E, 0x003A, 0x00B7, 0x0387, 0x055F, 0x05F4, 0x2018, 0x2019, 0x2024, 0x2027,
    0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A,
  };
  switch (g_unichar_type (c))
    {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
      return TRUE;
    default:
      for (size_t i = 0; i < G_N_ELEMENTS (mid_word); i++)
        if (mid_word[i] == c)
          return TRUE;
      return FALSE;
    }
}

/* Σ at P lower-cases to final ς when a cased letter precedes it and none follows it, looking
 * past case-ignorable characters (Python's handle_capital_sigma). */
static gboolean
is_final_sigma (const char *text, const char *p)
{
  gboolean cased_before = FALSE;
  for (const char *q = p; q > text;)
    {
      q = g_utf8_prev_char (q);
      gunichar c = g_utf8_get_char (q);
      if (!is_case_ignorable (c))
        {
          cased_before = is_cased (c);
          break;
        }
    }
  if (!cased_before)
    return FALSE;
  for (const char *q = g_utf8_next_char (p); *q != '\0'; q = g_utf8_next_char (q))
    {
      gunichar c = g_utf8_get_char (q);
      if (!is_case_ignorable (c))
        return !is_cased (c);
    }
  return TRUE;
}

/* Python's str.lower, independent of the locale (g_utf8_strdown follows it, e.g. Turkish I → ı). */
char *
clip_text_lower (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (c < 0x80)
        g_string_append_c (out, g_ascii_tolower ((char) c));
      else if (c == 0x0130)
        g_string_append (out, "i\xcc\x87");  /* i + COMBINING DOT ABOVE */
      else if (c == 0x03A3)
        g_string_append_unichar (out, is_final_sigma (text, p) ? 0x03C2 : 0x03C3);
      else
        g_string_append_unichar (out, python_simple_lower (c));
    }
  return g_string_free (out, FALSE);
}

/* ---------------------------------------------------------------- the whole cleaning */

/* Printable ASCII, tab, newline and form feed without '&': nothing for ftfy or html.unescape to do. */
static gboolean
needs_fixing (const char *text)
{
  for (const unsigned char *p = (const unsigned char *) text; *p != '\0'; p++)
    if (*p == '&' || *p > 0x7E || (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\f'))
      return TRUE;
  return FALSE;
}

char *
clip_tokenizer_clean_text (const char *text)
{
  g_return_val_if_fail (text != NULL, NULL);
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  g_autofree char *unescaped = NULL;
  if (needs_fixing (valid))
    {
      g_autofree char *fixed = clip_text_fix (valid);
      g_autofree char *once = clip_text_html_unescape (fixed);
      unescaped = clip_text_html_unescape (once);
    }
  g_autofree char *collapsed = clip_text_collapse_whitespace (unescaped != NULL ? unescaped : valid);
  return clip_text_lower (collapsed);
}
