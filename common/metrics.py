"""Character and word error rates, from RapidFuzz's Levenshtein distance.

Both are corpus-level rates: the summed edit distance over all pairs divided by the summed reference length, the
way speech and OCR evaluations report them (so long lines weigh more than short ones).
"""

from rapidfuzz.distance import Levenshtein

from common.errors import ConfigError

__all__ = ["edit_distance", "cer", "wer", "exact_rate", "error_rates"]


def edit_distance(reference, hypothesis):
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


def cer(references, hypotheses):
    """Character error rate (0 = perfect; can exceed 1 when the hypotheses are much longer)."""
    references, hypotheses = _check(references, hypotheses)
    return _rate(zip(references, hypotheses))


def wer(references, hypotheses):
    """Word error rate over whitespace-separated words."""
    references, hypotheses = _check(references, hypotheses)
    return _rate((r.split(), h.split()) for r, h in zip(references, hypotheses))


def exact_rate(references, hypotheses):
    """Fraction of pairs whose hypothesis equals the reference exactly."""
    references, hypotheses = _check(references, hypotheses)
    if not references:
        return 0.0
    return sum(r == h for r, h in zip(references, hypotheses)) / len(references)


def error_rates(references, hypotheses):
    """Return ``{"cer": ..., "wer": ..., "exact": ...}`` for the pairs."""
    return {
        "cer": cer(references, hypotheses),
        "wer": wer(references, hypotheses),
        "exact": exact_rate(references, hypotheses),
    }
