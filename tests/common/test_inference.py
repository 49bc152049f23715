"""The pieces the Reader and the Transcriber share: the result base and the per-input guard."""

import dataclasses

import pytest

from common.errors import ConfigError, InputError
from common.inference import InputResult, guard_input, input_name


@dataclasses.dataclass(frozen=True)
class _Result(InputResult):
    score: float = 0.0
    error: str = None


def test_a_failed_result_has_empty_text_and_its_error():
    failed = _Result.failed("a.png", "a.png: broken")
    assert (failed.text, failed.error, failed.ok) == ("", "a.png: broken", False)
    assert _Result("b.png", "hi", 0.5).ok


def test_the_guard_turns_input_problems_into_one_line_and_lets_settings_errors_through():
    assert guard_input(lambda: 5, "x", memory_hint="") == (5, None)

    def bad_input():
        raise InputError("not an image", "a.png")

    assert guard_input(bad_input, "a.png", memory_hint="") == (None, "a.png: not an image")

    def no_memory():
        raise MemoryError

    value, error = guard_input(no_memory, "big.png", memory_hint="shrink it")
    assert value is None and error == "big.png: not enough memory to process it; shrink it"

    def surprise():
        raise KeyError("k")

    assert "unexpected KeyError" in guard_input(surprise, "odd.png", memory_hint="")[1]

    def bad_setting():
        raise ConfigError("beam_width must be >= 1")

    with pytest.raises(ConfigError, match="beam_width"):
        guard_input(bad_setting, "a.png", memory_hint="")


def test_input_names():
    assert input_name("a/b.png", 3) == "a/b.png" and input_name(object(), 3) == "array #3"
