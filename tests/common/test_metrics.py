import pytest

from common.metrics import cer, error_rates, exact_rate, wer


def test_rates():
    assert cer(["abcd"], ["abcd"]) == 0
    assert cer(["abcd"], ["abxd"]) == pytest.approx(0.25)
    assert cer(["ab", "cdef"], ["", "cdef"]) == pytest.approx(2 / 6)
    assert wer(["the cat sat"], ["the hat sat"]) == pytest.approx(1 / 3)
    assert exact_rate(["a", "b"], ["a", "c"]) == 0.5
    assert error_rates([""], [""]) == {"cer": 0.0, "wer": 0.0, "exact": 1.0}


def test_mismatched_lengths():
    with pytest.raises(ValueError):
        cer(["a"], [])
