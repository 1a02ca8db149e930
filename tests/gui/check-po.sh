#!/usr/bin/env bash
# check-po.sh SOURCE_ROOT PO_FILE — fails when PO_FILE lacks a translation (or has a fuzzy one) for
# any string that xgettext finds in po/POTFILES.in, or when msgfmt rejects it.
set -euo pipefail
root=${1:?usage: check-po.sh SOURCE_ROOT PO_FILE}
po=${2:?usage: check-po.sh SOURCE_ROOT PO_FILE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

grep -v '^#' "$root/po/POTFILES.in" | grep -v '^$' > "$tmp/files"
# The keywords of meson's 'glib' gettext preset.
xgettext --directory="$root" --files-from="$tmp/files" --from-code=UTF-8 --add-comments=Translators \
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 --keyword=g_dcgettext:2 \
  --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3 --flag=N_:1:pass-c-format \
  --flag=C_:2:pass-c-format --flag=NC_:2:pass-c-format --flag=g_dngettext:2:pass-c-format \
  --flag=g_strdup_printf:1:c-format --flag=g_string_printf:2:c-format \
  --flag=g_string_append_printf:2:c-format --flag=g_error_new:3:c-format \
  --flag=g_set_error:4:c-format --package-name=cliplab -o "$tmp/cliplab.pot"
msgmerge --quiet --no-fuzzy-matching "$po" "$tmp/cliplab.pot" -o "$tmp/merged.po"
untranslated=$(msgattrib --untranslated --no-obsolete "$tmp/merged.po" | grep -c '^msgid ' || true)
fuzzy=$(msgattrib --only-fuzzy --no-obsolete "$tmp/merged.po" | grep -c '^msgid ' || true)
msgfmt --check --output-file=/dev/null "$po"
total=$(grep -c '^msgid ' "$tmp/cliplab.pot")
echo "$(basename "$po"): $((total - 1)) strings, untranslated entries: $untranslated, fuzzy: $fuzzy"
if [[ $untranslated -ne 0 || $fuzzy -ne 0 ]]; then
  msgattrib --untranslated --no-obsolete "$tmp/merged.po" | grep -A1 "^msgid " | head -40 || true
  exit 1
fi
