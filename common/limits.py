"""Checks of size-like settings, in one place for the API and the command line.

Every count a user can set (beam width, batch sizes, group sizes, model sizes) goes through :func:`check_count`,
so a value like ``beam_width=10**6`` (which grew one process to 23.5 GB before the kernel killed it) or
``chunk_size=0`` ends in one clear :class:`~common.errors.ConfigError` instead of a memory blow-up or a raw
Python error. Only NumPy is imported, so the command line can use these as argparse types and ``--help`` stays
instant.
"""

import argparse
import math

import numpy as np

from common.errors import ConfigError

__all__ = ["MAX_BEAM_WIDTH", "is_real_number", "check_count", "check_beam_width", "count_arg"]

MAX_BEAM_WIDTH = 1024
"""Widest beam search accepted. TensorFlow's beam search holds ``beam_width`` hypotheses per sequence and frame;
width 10 already costs as much time as the network, and widths above a few hundred gain nothing measurable."""


def is_real_number(value):
    """Whether ``value`` is a finite int or float (NumPy's too), and not a bool: what a numeric setting must be."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)


def check_count(name, value, *, minimum=1, maximum=None, flag=None):
    """Return ``value`` as an int if it is an integer in ``[minimum, maximum]``, else raise ConfigError.

    Args:
        name: the setting's name in the API (``beam_width``).
        value: what was passed; an int or NumPy integer (not a bool, not a float such as 2.7).
        minimum: smallest value accepted.
        maximum: largest value accepted (``None``: no upper bound).
        flag: the command-line option that sets it (``--beam``), named in the message.
    """
    where = f"`{name}`" + (f" ({flag})" if flag else "")
    bounds = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum:,}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"Received an invalid value for {where}, expected {bounds}. Received: {name}={value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"Received an invalid value for {where}, expected {bounds}. Received: {name}={value!r}")
    return int(value)


def check_beam_width(value, *, flag="--beam"):
    """Validate a beam width: 1 (greedy decoding) to :data:`MAX_BEAM_WIDTH`."""
    return check_count("beam_width", value, minimum=1, maximum=MAX_BEAM_WIDTH, flag=flag)


def count_arg(name, *, minimum=1, maximum=None):
    """An argparse ``type`` that reads an integer and checks it with :func:`check_count` (one clear message)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        try:
            return check_count(name, value, minimum=minimum, maximum=maximum)
        except ConfigError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = "integer"
    return parse
