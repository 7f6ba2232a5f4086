"""The page's words: one table in two files, Japanese and English of equal standing
(static/js/strings-ja.js and strings-en.js, and the parts loaded with a later view such as
strings-ja-lessons.js; i18n.js loads the language shown).

A key in one language and not the other, a parameter (``{name}``) that one language
fills and the other forgets, or an English sentence left untranslated in the Japanese
file is a defect a learner sees."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY = re.compile(r"^\s*'([^']+)':\s*('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"),?\s*$", re.M)
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


#: the parts fetched with a view loaded later (i18n.js ``need``): "" is the table itself
PARTS = ("", "-lessons", "-later")


def table(lang: str) -> dict[str, str]:
    """Every part of ``lang``'s table, in file order; a key in two parts is a defect."""
    entries: dict[str, str] = {}
    for part in PARTS:
        for key, text in part_table(lang, part).items():
            assert key not in entries, f"{key} in two parts of the {lang} table"
            entries[key] = text
    return entries


def part_table(lang: str, part: str) -> dict[str, str]:
    text = (ROOT / "static" / "js" / f"strings-{lang}{part}.js").read_text()
    entries: dict[str, str] = {}
    for key, literal in ENTRY.findall(text):
        if literal.startswith("'"):
            literal = '"' + literal[1:-1].replace('"', '\\"').replace("\\'", "'") + '"'
        assert key not in entries, f"{key} twice in strings-{lang}.js"
        entries[key] = json.loads(literal)
    # every key line was read (a line the pattern misses would hide a missing key)
    assert len(entries) == len(re.findall(r"^\s*'[^']+':", text, re.M)), lang
    return entries


def test_both_languages_have_the_same_keys_in_the_same_order() -> None:
    ja, en = table("ja"), table("en")
    assert len(en) > 500
    assert list(ja) == list(en), sorted(set(ja) ^ set(en))
    for part in PARTS:  # (each part the same in both: it is fetched as one)
        assert list(part_table("ja", part)) == list(part_table("en", part)), part
    assert len(part_table("en", "-lessons")) > 100 and len(part_table("en", "-later")) > 50


def test_both_languages_fill_the_same_parameters() -> None:
    ja, en = table("ja"), table("en")
    for key, text in en.items():
        assert set(re.findall(r"\{(\w+)\}", ja[key])) == set(re.findall(r"\{(\w+)\}", text)), key


def test_the_japanese_table_is_japanese() -> None:
    """Identical text is fine for names and symbols (tanh, Swish, Adam, ∂L/∂W), not for
    an English phrase left in the Japanese table."""
    ja, en = table("ja"), table("en")
    for key, text in ja.items():
        if JAPANESE.search(text):
            continue
        words = re.findall(r"[A-Za-z]{2,}", text)
        assert len(words) < 3, f"{key}: {text!r} reads as English in strings-ja.js"
    assert sum(bool(JAPANESE.search(t)) for t in ja.values()) > 0.9 * len(ja)
    assert not any(JAPANESE.search(t) for t in en.values())


def test_the_english_update_rules_are_the_catalogs() -> None:
    """The banner's update rules with words are in the page's table so that Japanese gives
    them in Japanese (phase-banner.js); the English ones are engine/catalog.py's, word for
    word, and every optimizer the catalog writes in words has one."""
    from engine import catalog

    en = table("en")
    # (a word stands alone: "decay" in Adagrad's "(t − 1)·decay" is a parameter's name)
    word = re.compile(r"(?:^|[\s(])[a-z]{2,}(?=[\s),;])")
    worded = {o.name for o in catalog.OPTIMIZERS if word.search(o.rule)}
    rules = {k.removeprefix("opt.rule."): v for k, v in en.items() if k.startswith("opt.rule.")}
    assert set(rules) == worded
    for o in catalog.OPTIMIZERS:
        if o.name in rules:
            assert rules[o.name] == o.rule, o.name
