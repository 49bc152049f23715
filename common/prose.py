"""Real English prose that every machine with Python has: sentences from the docstrings of the standard library.

**Evaluation only, never training text or language-model text**: the project's outside held-out evaluation text
overlaps Python docstrings, so a model or LM that has seen them would be measured on its own training data. The
recipes train on ``recipes/english_text.py`` instead; this module remains for comparisons with earlier figures.

The standard library's docstrings hold tens of thousands of plain English sentences by many authors. :func:`docstring_sentences` extracts them (parsing the source files with :mod:`ast`, importing
nothing), keeps the ones that read as prose, and splits them deterministically into a ``train`` and a ``test`` part
(by a hash of the sentence) so that evaluation uses sentences training never saw.

Example:
>>> train = docstring_sentences("train")
>>> test = docstring_sentences("test")
>>> len(train) > 1000 and not set(train) & set(test)
True
"""

import ast
import functools
import hashlib
import re
import sysconfig
from pathlib import Path

from common.errors import ConfigError

__all__ = ["docstring_sentences"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_PROSE = re.compile(r"^[A-Z][A-Za-z0-9 ,;'\-]*[a-z][.!?]$")
_CODE_WORD = re.compile(r"[a-z][A-Z]|[A-Za-z]\d|\d[A-Za-z]")  # camelCase, x2, 3d


def _docstrings(path):
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError, OSError):
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            text = ast.get_docstring(node, clean=True)
            if text:
                yield text


def _sentences(text):
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in paragraph.splitlines()]
        if any(line.startswith((">>>", "...", "-", "*", ":", "|")) for line in lines):
            continue  # examples, lists, tables, fields
        for sentence in _SENTENCE_END.split(" ".join(lines)):
            yield " ".join(sentence.split())


@functools.lru_cache(maxsize=None)
def _all_sentences(min_words, max_words):
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    found = set()
    for path in sorted(stdlib.rglob("*.py")):
        parts = set(path.relative_to(stdlib).parts)
        if parts & {"test", "tests", "idlelib", "site-packages", "dist-packages", "lib2to3"}:
            continue
        for text in _docstrings(path):
            for sentence in _sentences(text):
                words = sentence.split()
                if (min_words <= len(words) <= max_words and _PROSE.match(sentence)
                        and not _CODE_WORD.search(sentence) and sum(w.isupper() and len(w) > 1 for w in words) < 2):
                    found.add(sentence)
    return tuple(sorted(found))


def docstring_sentences(split="train", *, min_words=4, max_words=24, test_fraction=0.1):
    """Prose sentences from the Python standard library's docstrings, sorted.

    Args:
        split: ``"train"``, ``"test"`` or ``"all"``; a sentence's part depends only on its text (a hash), so the
            parts never share a sentence on any machine.
        min_words, max_words: word-count bounds.
        test_fraction: share of sentences in the ``test`` part.

    Returns:
        tuple of str: sentences that start with a capital letter, end with ``.``, ``!`` or ``?`` and hold only
        letters, digits, spaces and ``,;'-`` (no code, no markup).
    """
    if split not in ("train", "test", "all"):
        raise ConfigError(f"split is 'train', 'test' or 'all'. Received: split={split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction is in (0, 1). Received: test_fraction={test_fraction!r}")
    sentences = _all_sentences(int(min_words), int(max_words))
    if split == "all":
        return sentences
    bucket = int(test_fraction * 1000)

    def is_test(sentence):
        return int(hashlib.sha1(sentence.encode("utf-8")).hexdigest()[:8], 16) % 1000 < bucket

    return tuple(s for s in sentences if is_test(s) == (split == "test"))
