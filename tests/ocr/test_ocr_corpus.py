"""Tests of common.corpus (the text pool shared by OCR and speech synthesis): determinism, variety, filters."""

import string

import numpy as np
import pytest

from common.corpus import KINDS, PRINTABLE_ASCII, TextPool, filter_charset
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
