"""Helpers of the robustness suite: the one rule every case must obey, and the hypothesis settings.

The rule: an input ends in a valid result or in one of the toolkit's own errors (:class:`InputError`,
:class:`DataError`, ...) whose message is one line, names the input, and says what is wrong. Any other exception,
a multi-line message, or a warning escaping to the user fails the case.
"""

import os
import warnings

from hypothesis import HealthCheck, settings

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
