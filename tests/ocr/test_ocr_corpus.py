"""Tests of common.corpus (the text pool shared by OCR and speech synthesis): determinism, variety, filters."""

import string

import numpy as np
import pytest

from common.corpus import DEFAULT_KIND_WEIGHTS, KINDS, PRINTABLE_ASCII, WIDE_GAP, TextPool, filter_charset
from common.errors import ConfigError


@pytest.fixture(scope="module")
def pool():
    return TextPool(seed=0)


def test_lines_are_deterministic_for_a_seed(pool):
    assert pool.lines(50, seed=3) == TextPool(seed=7).lines(50, seed=3)
    assert pool.lines(50, seed=3) != pool.lines(50, seed=4)
    assert TextPool(seed=1).lines(20) == TextPool(seed=1).lines(20)


def test_lines_are_varied(pool):
    lines = pool.lines(200, seed=0)
    text = "".join(lines)
    assert any(c.isdigit() for c in text)
    assert any(c.isupper() for c in text) and any(c.islower() for c in text)
    assert len(set(text) & set(string.punctuation)) >= 20
    assert any(len(line) > 3 and line.isupper() for line in lines)  # ALL CAPS variant
    assert any("@" in line for line in lines) and any("$" in line for line in lines)
    assert len(set(lines)) > 190
    assert all(line == line.strip() and "  " not in line for line in lines)


@pytest.mark.parametrize("min_chars, max_chars", [(1, 60), (5, 20), (30, 30), (1, 3)])
def test_line_lengths(pool, min_chars, max_chars):
    lines = pool.lines(100, seed=1, min_chars=min_chars, max_chars=max_chars)
    assert all(min_chars <= len(line) <= max_chars for line in lines)


def test_charset_filter(pool):
    lines = pool.lines(300, seed=2, charset=PRINTABLE_ASCII)
    assert all(c in PRINTABLE_ASCII for line in lines for c in line)
    digits = pool.lines(20, seed=2, charset="0123456789 ")
    assert all(line and set(line) <= set("0123456789 ") for line in digits)


def test_filter_charset_transliterates():
    assert filter_charset("\u20ac5 \u2014 \u201cok\u201d caf\u00e9\u2026", PRINTABLE_ASCII) == 'EUR5 - "ok" cafe...'
    assert filter_charset("a\u65e5b  c", "abc ") == "ab c"


@pytest.mark.parametrize("kind", KINDS)
def test_line_of_each_kind(pool, kind):
    rng = np.random.default_rng(0)
    lines = [pool.line(rng, kind=kind, max_chars=40) for _ in range(5)]
    assert all(1 <= len(line) <= 40 for line in lines)


def test_sentences(pool):
    sentences = pool.sentences(200, seed=0)
    assert sentences == TextPool(seed=3).sentences(200, seed=0)
    counts = [len(s.split()) for s in sentences]
    assert min(counts) >= 3 and max(counts) <= 25 and max(counts) - min(counts) >= 15
    assert all(s[0].isupper() and s[-1] in ".?!" for s in sentences)
    assert any(any(c.isdigit() for c in s) for s in sentences)
    spelled = pool.sentences(50, seed=0, numbers=1.0, spell_numbers=True)
    assert not any(c.isdigit() for s in spelled for c in s)


def test_bad_settings(pool):
    with pytest.raises(ConfigError, match="min_chars"):
        pool.lines(3, seed=0, min_chars=10, max_chars=5)
    with pytest.raises(ConfigError, match="kind"):
        pool.line(kind="poetry")
    with pytest.raises(ConfigError, match="max_words"):
        pool.sentences(3, seed=0, max_words=2)
    with pytest.raises(ConfigError):
        pool.lines(-1, seed=0)


def test_technical_text_has_what_people_scan(pool):
    rng = np.random.default_rng(5)
    lines = [pool.line(rng, kind="technical", min_chars=20, max_chars=70) for _ in range(400)]
    text = "\n".join(lines)
    import re

    assert re.search(r"\w\([^)]*\)", text)  # calls f(x)
    assert re.search(r"\w\[\w+\]", text)  # indexing a[i]
    assert re.search(r"(^|\s)(/\w+)+/\w+\.\w+", text, re.M)  # paths
    assert re.search(r"\b[0-9a-f]{8}\b", text)  # hex and hashes
    assert re.search(r"\bv?\d+\.\d+\.\d+", text)  # versions
    assert re.search(r"^(From|To|Subject|Date|Message-ID): ", text, re.M)  # e-mail headers
    assert "%s" in text or "{}" in text  # format strings
    assert re.search(r"^(\$|#) \w+", text, re.M)  # shell commands
    assert any(set(line) & set("lI1") and set(line) & set("O0") for line in lines)  # look-alikes in context
    assert len(set(lines)) > 380


def test_table_rows_have_wide_gaps_that_fold_to_one_space(pool):
    rng = np.random.default_rng(6)
    rows = [pool.line(rng, kind="table", min_chars=10, max_chars=60) for _ in range(50)]
    assert sum(WIDE_GAP in row for row in rows) >= 40
    assert all(any(c.isdigit() for c in row) for row in rows)
    folded = [filter_charset(row, PRINTABLE_ASCII) for row in rows]
    assert all(WIDE_GAP not in row and "  " not in row for row in folded)
    assert filter_charset(f"1.5{WIDE_GAP * 3}2", set(PRINTABLE_ASCII) | {WIDE_GAP}) == f"1.5{WIDE_GAP * 3}2"


def test_typographic_characters_fold_to_ascii():
    assert filter_charset("\u201cdon\u2019t\u201d \u2014 a\u00b9 \u2026", PRINTABLE_ASCII) == '"don\'t" - a1 ...'
    lines = TextPool(seed=0).lines(600, seed=9)
    assert any(set(line) & set("\u201c\u201d\u2018\u2019") for line in lines)  # curly quotes in some lines


def test_prose_from_given_sentences():
    sentences = ["Zebras quietly graze along the northern riverbank every morning.", "Quokkas smile."]
    pool = TextPool(seed=0, prose=sentences, kind_weights={"prose": 1})
    lines = pool.lines(60, seed=1, max_chars=60)
    words = {w.strip(".,").lower() for s in sentences for w in s.split()}
    borrowed = [line for line in lines if {w.strip(".,").lower() for w in line.split()} <= words]
    assert len(borrowed) >= 30  # about three lines in four are windows of the given prose
    assert len(borrowed) < 60  # and the rest grammar sentences
    assert all(len(line) <= 60 for line in lines)


def test_kind_weights(pool):
    only = TextPool(seed=0, kind_weights={"number": 1})
    assert sum(any(c.isdigit() for c in line) for line in only.lines(40, seed=0)) >= 36  # "No. 7" may lose its digits to the length cut
    with pytest.raises(ConfigError, match="kind_weights"):
        TextPool(seed=0, kind_weights={"poetry": 1})
    with pytest.raises(ConfigError, match="non-negative"):
        TextPool(seed=0, kind_weights={"prose": 0})
    with pytest.raises(ConfigError, match="prose"):
        TextPool(seed=0, prose=["", "  "])
    assert set(DEFAULT_KIND_WEIGHTS) == set(KINDS)


def test_lines_do_not_depend_on_the_clock(monkeypatch):
    """E-mail ``Date:`` headers come from a fixed range, so a seed gives the same lines in any year."""
    import datetime as dt

    import faker.providers.date_time as faker_dates

    def lines():
        pool = TextPool(seed=4, kind_weights={"technical": 1})
        return [pool.line(kind="technical", max_chars=80) for _ in range(400)]

    today = lines()
    assert sum(line.startswith("Date: ") for line in today) >= 3

    class FarFuture(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2090, 6, 1, tzinfo=tz)

    monkeypatch.setattr(faker_dates, "datetime", FarFuture)
    assert lines() == today
