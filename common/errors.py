"""The project's exception types, in one place.

Every error a user can cause (a bad file, a wrong model, an unknown character) is one of these, so the command
line can print one clear line for it instead of a traceback. Messages say what happened, what was expected and
how to fix it, and end with ``Received: name=value`` where a value is involved.
"""

__all__ = [
    "ToolkitError",
    "InputError",
    "AlphabetError",
    "ModelFileError",
    "DataError",
    "ConfigError",
    "OutputError",
]


class ToolkitError(Exception):
    """Base class of every error this toolkit raises on purpose."""


class InputError(ToolkitError, ValueError):
    """An input (image, audio file, array) cannot be used.

    Args:
        message: what is wrong with the input.
        source: the file path or a description such as ``"array #3"``; when given, the message starts with it.
    """

    def __init__(self, message, source=None):
        self.source = None if source is None else str(source)
        self.reason = message
        super().__init__(message if source is None else f"{source}: {message}")


class AlphabetError(ToolkitError, ValueError):
    """Text holds characters the alphabet does not know, or an alphabet is malformed."""


class ModelFileError(ToolkitError, ValueError):
    """A model file is missing, not one of ours, for the other task, or from a newer format."""


class DataError(ToolkitError, ValueError):
    """Training or evaluation data cannot be used (empty folder, missing files, bad manifest)."""


class ConfigError(ToolkitError, ValueError):
    """A setting is invalid or unknown."""


class OutputError(ToolkitError, OSError):
    """A result cannot be written: a full disk, a read-only folder, a closed or full output stream.

    Also an :class:`OSError`, so code that caught the operating system's error keeps working.
    """

    def __init__(self, message):
        super().__init__(message)

    def __str__(self):
        return self.args[0]
