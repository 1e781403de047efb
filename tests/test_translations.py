"""The shipped translations are complete, consistent and compiled: every message of
Stylestore and of the demo shop translated in every language (no fuzzy guess), with the
same placeholders, and the committed ``.mo`` files carrying exactly what the ``.po``
files say, so a fresh clone needs no gettext tools."""
import ast
import gettext
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = sorted((ROOT / "stylestore" / "locale").glob("*/LC_MESSAGES/*.po")) + sorted(
    (ROOT / "shop" / "locale").glob("*/LC_MESSAGES/*.po")
)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sdif]")


def entries(path):
    """``(flags, msgctxt, msgid, msgid_plural, [msgstr...])`` of every live entry but the header."""
    found = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        if not any(line.startswith("msgid ") for line in lines):
            continue
        flags = {f.strip() for line in lines if line.startswith("#,") for f in line[2:].split(",")}
        fields, current = {}, None
        for line in lines:
            if line.startswith("#"):
                continue
            if line.startswith('"'):
                fields[current] += ast.literal_eval(line)
            else:
                current, _, value = line.partition(" ")
                fields[current] = ast.literal_eval(value)
        if fields["msgid"]:
            strings = [value for key, value in sorted(fields.items()) if key.startswith("msgstr")]
            found.append((flags, fields.get("msgctxt"), fields["msgid"], fields.get("msgid_plural"), strings))
    return found


def test_there_are_catalogues_for_both_languages_of_both_apps():
    names = {(p.parents[3].name, p.parents[1].name, p.name) for p in CATALOGUES}
    for app in ("stylestore", "shop"):
        for language in ("fr", "zh_Hans"):
            assert (app, language, "django.po") in names


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_message_is_translated_with_its_placeholders(path):
    problems = []
    for flags, _context, msgid, plural, strings in entries(path):
        if "fuzzy" in flags or not all(strings):
            problems.append(f"untranslated: {msgid!r}")
            continue
        expected = sorted(PLACEHOLDER.findall(msgid))
        for string in strings:
            # A language with one plural form may leave the count out of its only form.
            if sorted(PLACEHOLDER.findall(string)) != expected and not (
                plural and len(strings) == 1 and set(PLACEHOLDER.findall(string)) <= set(expected)
            ):
                problems.append(f"placeholders differ: {msgid!r} -> {string!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_committed_mo_file_is_compiled_from_the_po_file(path):
    mo = path.with_suffix(".mo")
    assert mo.exists(), f"{mo} is missing: run msgfmt (see the README's Languages section)"
    with mo.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)._catalog
    for _flags, context, msgid, plural, strings in entries(path):
        key = msgid if context is None else f"{context}\x04{msgid}"
        if plural:
            assert [catalogue.get((key, n)) for n in range(len(strings))] == strings, msgid
        else:
            assert catalogue.get(key) == strings[0], f"{mo.name} is older than {path.name}: {msgid!r}"
