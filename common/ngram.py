"""Build a word n-gram language model (interpolated modified Kneser-Ney) as an ARPA file, in pure Python.

This is what ``ocr lm build`` and ``speech lm build`` run, so that users need no compiled tools: it writes the
same kind of model KenLM's ``lmplz`` writes (interpolated modified Kneser-Ney with three discounts per order,
Chen & Goodman 1998), which :class:`common.lm.LanguageModel` loads. It holds every n-gram in memory (roughly
1 GB per 10 million words at order 4): for larger corpora build with ``lmplz`` (see ``recipes/speech_lm.py``).

    build_arpa([["hello", "world"], ["hello", "there"]], "my.lm", order=3)

Besides ``my.lm`` it writes ``my.lm.json``: the decoding settings (alpha, beta, beam width; defaults until a tuning
recipe replaces them) and how the model was built.
"""

import collections
import json
import math
import os
import tempfile
from pathlib import Path

from common.errors import ConfigError

__all__ = ["build_arpa", "kneser_ney", "write_sidecar"]

MAX_ORDER = 6


def _discounts(count_of_counts, order):
    """Modified Kneser-Ney discounts D1, D2, D3+ from counts of counts n1..n4 (with safe values for tiny data)."""
    n1, n2, n3, n4 = (count_of_counts.get(i, 0) for i in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:  # too little data to estimate: lmplz's usual values
        return (0.5, 1.0, 1.5)
    y = n1 / (n1 + 2 * n2)
    discounts = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    return tuple(min(max(d, 0.05), float(i + 1)) for i, d in enumerate(discounts))


def kneser_ney(sentences, order):
    """Interpolated modified Kneser-Ney estimates.

    Args:
        sentences: iterable of word lists (no ``<s>``/``</s>``).
        order: n-gram order (1..6).

    Returns:
        list over orders 1..N of dicts ``{ngram tuple: (log10 prob, log10 backoff or None)}``.
    """
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise ConfigError(f"Received an invalid value for `order` (--order), expected an integer from 1 to "
                          f"{MAX_ORDER}. Received: order={order!r}")
    raw = [collections.Counter() for _ in range(order)]
    num_sentences = 0
    for words in sentences:
        words = ["<s>"] + [w for w in words if w] + ["</s>"]
        if len(words) == 2:
            continue
        num_sentences += 1
        for n in range(1, order + 1):
            counter = raw[n - 1]
            for i in range(len(words) - n + 1):
                counter[tuple(words[i:i + n])] += 1
    if not num_sentences:
        raise ConfigError("The text has no words to build a language model from. Received: 0 sentences")
    # Adjusted counts: raw at the highest order and for n-grams starting with <s>, else continuation counts.
    adjusted = [None] * order
    adjusted[order - 1] = raw[order - 1]
    for n in range(order - 1, 0, -1):
        continuation = collections.Counter(gram[1:] for gram in raw[n])
        adjusted[n - 1] = {g: (c if g[0] == "<s>" else continuation.get(g, c)) for g, c in raw[n - 1].items()}
    adjusted[0].pop(("<s>",), None)
    adjusted[0].setdefault(("<unk>",), 0)
    probs = []
    for n in range(1, order + 1):
        counts = adjusted[n - 1]
        d1, d2, d3 = _discounts(collections.Counter(min(c, 4) for c in counts.values() if c), n)
        totals, types = collections.defaultdict(float), collections.defaultdict(lambda: [0, 0, 0])
        for gram, c in counts.items():
            if c <= 0:
                continue
            context = gram[:-1]
            totals[context] += c
            types[context][min(c, 3) - 1] += 1
        gamma = {h: (d1 * t[0] + d2 * t[1] + d3 * t[2]) / totals[h] for h, t in types.items()}
        level = {}
        lower = probs[-1] if probs else None
        vocabulary_size = len(adjusted[0])
        for gram, c in counts.items():
            context = gram[:-1]
            discount = (0.0, d1, d2, d3)[min(c, 3)]
            u = (c - discount) / totals[context] if c > 0 else 0.0
            if n == 1:
                p = u + gamma[context] / vocabulary_size
            else:
                p = u + gamma[context] * 10 ** lower[gram[1:]][0]
            level[gram] = [math.log10(p) if p > 0 else -99.0, None]
        probs.append(level)
        if n > 1:  # the contexts of this order get their backoff weights
            previous = probs[n - 2]
            for context, value in gamma.items():
                if context in previous:
                    previous[context][1] = math.log10(value) if value > 0 else -99.0
    probs[0][("<s>",)] = [-99.0, probs[0].get(("<s>",), [0, None])[1]]
    return probs


def _write_atomic(path, write):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            write(out)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_sidecar(path, *, settings=None, **info):
    """Write ``<path>.json`` beside an LM: ``{"settings": {...}, ...info}`` (atomically)."""
    data = {"settings": dict(settings or {}), **info}
    _write_atomic(str(path) + ".json", lambda out: out.write(json.dumps(data, indent=2) + "\n"))


def build_arpa(sentences, out, *, order=4, settings=None):
    """Estimate a modified Kneser-Ney LM from ``sentences`` (word lists) and write it to ``out`` (ARPA), with a
    ``<out>.json`` sidecar. Returns a dict with the n-gram counts per order."""
    probs = kneser_ney(sentences, order)

    def write(handle):
        handle.write("\\data\\\n")
        for n, level in enumerate(probs, start=1):
            handle.write(f"ngram {n}={len(level)}\n")
        for n, level in enumerate(probs, start=1):
            handle.write(f"\n\\{n}-grams:\n")
            for gram in sorted(level):
                logp, backoff = level[gram]
                line = f"{logp:.6f}\t{' '.join(gram)}"
                if backoff is not None and n < order:
                    line += f"\t{backoff:.6f}"
                handle.write(line + "\n")
        handle.write("\n\\end\\\n")

    _write_atomic(out, write)
    counts = {str(n): len(level) for n, level in enumerate(probs, start=1)}
    from common.lm import LMSettings
    import dataclasses

    write_sidecar(out, settings=dict(dataclasses.asdict(LMSettings()), **(settings or {})),
                  built_by="common.ngram.build_arpa (modified Kneser-Ney)", order=order, ngrams=counts)
    return counts
