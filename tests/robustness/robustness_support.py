"""Helpers of the robustness suite: the one rule every case must obey, and the hypothesis settings.

The rule: an input ends in a valid result or in one of the toolkit's own errors (:class:`InputError`,
:class:`DataError`, ...) whose message is one line, names the input, and says what is wrong. Any other exception,
a multi-line message, or a warning escaping to the user fails the case.
"""

import os
import warnings

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from common.errors import ToolkitError

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
"""Few examples, no deadline, reproducible: the whole suite must stay under a minute on 2 busy cores."""


def outcome(call, *, source=None, errors=(ToolkitError,)):
    """Run ``call()``; return ``("ok", value)`` or ``("error", message)``, asserting the rule.

    Args:
        call: the entry point to exercise, without arguments.
        source: a path (or name) that an error message must mention.
        errors: the exception types that count as a clear error.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = call()
        except errors as error:
            message = str(error)
            assert message and "\n" not in message, f"not one line: {message!r}"
            assert "Traceback" not in message
            if source is not None:
                assert os.fspath(source) in message or os.path.basename(os.fspath(source)) in message, \
                    f"the error does not name {source}: {message}"
            result = ("error", message)
        else:
            result = ("ok", value)
    loud = [w for w in caught if issubclass(w.category, (RuntimeWarning, UserWarning))]
    assert not loud, f"warnings escaped: {[str(w.message) for w in loud]}"
    return result


def mutated_files(seeds, *, header_bytes, suffixes):
    """A strategy of ``(bytes, suffix)``: one of the valid ``seeds`` files (name -> bytes), mutated 1-4 times (bit
    flips, a header byte among the first ``header_bytes``, truncation, insertion, deletion), with a file suffix
    drawn from ``suffixes(name)`` (right ones and wrong ones)."""

    @st.composite
    def draw_file(draw):
        kind = draw(st.sampled_from(sorted(seeds)))
        data = bytearray(seeds[kind])
        for _ in range(draw(st.integers(1, 4))):
            action = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "header"]))
            position = draw(st.integers(0, max(0, len(data) - 1)))
            if action == "flip" and data:
                data[position] ^= draw(st.integers(1, 255))
            elif action == "header" and len(data) > header_bytes:
                data[draw(st.integers(0, header_bytes - 1))] = draw(st.integers(0, 255))
            elif action == "truncate":
                del data[position:]
            elif action == "insert":
                data[position:position] = draw(st.binary(min_size=1, max_size=16))
            elif action == "delete":
                del data[position:position + draw(st.integers(1, 64))]
        return bytes(data), draw(st.sampled_from(suffixes(kind)))

    return draw_file()
