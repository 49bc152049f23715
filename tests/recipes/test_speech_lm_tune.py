"""The LM tuning recipe's beam choice: the narrowest beam near the best WER among those fast enough, never the
fastest beam just because the most accurate one is too slow."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))

from speech_lm_tune import choose_beam  # noqa: E402

# (beam, WER, CER, real-time factor), as the recipe measured them for the shipped acoustic model and a new LM
BEAMS = [(4, 0.5551, 0.2612, 0.0017), (8, 0.5094, 0.2381, 0.0023), (16, 0.4647, 0.2203, 0.0035),
         (32, 0.4430, 0.2101, 0.0054), (64, 0.4355, 0.2068, 0.0111)]


def test_the_best_beam_under_the_time_limit_is_chosen():
    assert choose_beam(BEAMS, greedy_cer=0.23, tolerance=0.005, max_rtf=0.01) == 32
    assert choose_beam(BEAMS, greedy_cer=0.23, tolerance=0.005, max_rtf=0.02) == 64


def test_a_wer_tolerance_prefers_the_narrower_beam():
    assert choose_beam(BEAMS, greedy_cer=0.23, tolerance=0.01, max_rtf=0.02) == 32


def test_beams_that_raise_cer_above_greedy_are_not_candidates():
    assert choose_beam(BEAMS, greedy_cer=0.215, tolerance=0.005, max_rtf=0.01) == 32
    assert choose_beam(BEAMS, greedy_cer=0.2205, tolerance=0.005, max_rtf=0.01) == 32
    assert choose_beam(BEAMS[:3], greedy_cer=0.2, tolerance=0.005, max_rtf=0.01) == 16  # none qualifies: all are


def test_when_no_beam_is_fast_enough_the_fastest_candidate_is_chosen():
    assert choose_beam(BEAMS, greedy_cer=0.24, tolerance=0.005, max_rtf=0.001) == 8  # beam 4 raises CER
    assert choose_beam(BEAMS, greedy_cer=0.3, tolerance=0.005, max_rtf=0.001) == 4
