"""Character and word error rates, from RapidFuzz's Levenshtein distance.

Both are corpus-level rates: the summed edit distance over all pairs divided by the summed reference length, the
way speech and OCR evaluations report them (so long lines weigh more than short ones).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from rapidfuzz.distance import Levenshtein

from common.errors import ConfigError

__all__ = ["edit_distance", "cer", "wer", "exact_rate", "error_rates", "confusions", "worst_items"]


def edit_distance(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> int:
    """Levenshtein distance between two sequences (strings, or lists of words)."""
    return Levenshtein.distance(reference, hypothesis)


def _rate(pairs):
    errors = total = 0
    for ref, hyp in pairs:
        errors += edit_distance(ref, hyp)
        total += len(ref)
    if total == 0:
        return 0.0 if errors == 0 else 1.0
    return errors / total


def _check(references, hypotheses):
    if isinstance(references, str) or isinstance(hypotheses, str):
        raise TypeError("Pass lists of texts (one per item), not single strings. Received: a str")
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ConfigError(
            "references and hypotheses must pair up. "
            f"Received: len(references)={len(references)}, len(hypotheses)={len(hypotheses)}"
        )
    return references, hypotheses


def cer(references: Iterable[str], hypotheses: Iterable[str]) -> float:
    """Character error rate (0 = perfect; can exceed 1 when the hypotheses are much longer)."""
    references, hypotheses = _check(references, hypotheses)
    return _rate(zip(references, hypotheses))


def wer(references: Iterable[str], hypotheses: Iterable[str]) -> float:
    """Word error rate over whitespace-separated words."""
    references, hypotheses = _check(references, hypotheses)
    return _rate((r.split(), h.split()) for r, h in zip(references, hypotheses))


def exact_rate(references: Iterable[str], hypotheses: Iterable[str]) -> float:
    """Fraction of pairs whose hypothesis equals the reference exactly."""
    references, hypotheses = _check(references, hypotheses)
    if not references:
        return 0.0
    return sum(r == h for r, h in zip(references, hypotheses)) / len(references)


def error_rates(references: Iterable[str], hypotheses: Iterable[str]) -> dict[str, float]:
    """Return ``{"cer": ..., "wer": ..., "exact": ...}`` for the pairs."""
    return {
        "cer": cer(references, hypotheses),
        "wer": wer(references, hypotheses),
        "exact": exact_rate(references, hypotheses),
    }


def confusions(references: Iterable[str], hypotheses: Iterable[str], *,
               top: int = 10) -> list[tuple[tuple[str, str], int]]:
    """The most common character errors over all pairs, most frequent first.

    Returns:
        list of ``((expected, got), count)``: a substitution has both characters, a deletion ``got == ""`` and an
        insertion ``expected == ""``. Ties keep the order of first occurrence.
    """
    references, hypotheses = _check(references, hypotheses)
    counts = Counter()
    for ref, hyp in zip(references, hypotheses):
        for op in Levenshtein.editops(ref, hyp):
            if op.tag == "replace":
                counts[(ref[op.src_pos], hyp[op.dest_pos])] += 1
            elif op.tag == "delete":
                counts[(ref[op.src_pos], "")] += 1
            else:
                counts[("", hyp[op.dest_pos])] += 1
    return counts.most_common(top)


def worst_items(references: Iterable[str], hypotheses: Iterable[str], *,
                top: int = 10) -> list[tuple[int, float]]:
    """The pairs with the highest character error rate (edits / reference characters), worst first.

    Returns:
        list of ``(index, cer)`` for the ``top`` worst pairs with at least one error (ties: input order).
    """
    references, hypotheses = _check(references, hypotheses)
    rates = [(i, _rate([(r, h)])) for i, (r, h) in enumerate(zip(references, hypotheses))]
    rates = [(i, rate) for i, rate in rates if rate > 0]
    return sorted(rates, key=lambda pair: -pair[1])[:top]
