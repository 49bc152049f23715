"""Checks and helpers for the files both tasks read as input (images, audio), in one place.

:func:`check_input_file` looks at a path with ``os.stat`` before anything opens it, so a FIFO (which would block
``open`` until a writer comes), a device such as ``/dev/urandom`` (endless), a folder, a symbolic-link loop or a
name too long for the file system each get their own one-line message instead of a hang or a misleading "empty"
or "No such file". :func:`describe_content` says what a file that is not decodable looks like without quoting it
(a message must never print a piece of a file the user did not mean to show, such as ``/etc/passwd`` named by a
manifest). :func:`bytes_as_file` lets the file decoders read a file's content passed as ``bytes``.
"""

import contextlib
import errno
import os
import stat
import tempfile

from common.errors import InputError

__all__ = ["check_input_file", "describe_content", "bytes_as_file", "reraise_for_bytes",
           "is_pil_image"]

_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _stat_reason(path, error):
    """The message for an ``os.stat`` failure: what happened and how to fix it."""
    code = error.errno
    if code == errno.ENOENT:
        if os.path.islink(path):
            return f"This is a symbolic link to a file that does not exist; fix the link. Received: source={path!r}"
        return f"No such file (file not found); check the path. Received: source={path!r}"
    if code == errno.ELOOP:
        return (f"The path is a loop of symbolic links (a link that points back to itself); fix the links. "
                f"Received: source={path!r}")
    if code == errno.ENAMETOOLONG:
        return (f"The path is too long for the file system ({len(os.fsencode(path)):,} bytes); use a shorter name. "
                f"Received: name={os.path.basename(path)[:40]!r}...")
    if code == errno.ENOTDIR:
        return f"A part of the path is a file, not a folder; check the path. Received: source={path!r}"
    if code in (errno.EACCES, errno.EPERM):
        return f"Permission denied; check the file's (and its folders') permissions. Received: source={path!r}"
    return f"The file cannot be read ({error.strerror or error}). Received: source={path!r}"


def is_pil_image(value):
    """Whether ``value`` is a ``PIL.Image.Image`` (checked without importing Pillow)."""
    return any(cls.__module__.startswith("PIL.") and cls.__name__ == "Image" for cls in type(value).__mro__)


def check_input_file(path, *, expected):
    """Raise :class:`~common.errors.InputError` unless ``path`` is a readable, non-empty regular file.

    Args:
        path: the file (``str`` or ``os.PathLike``).
        expected: what the file should be, for the messages (``"an image file"``).

    Returns:
        the file's size in bytes.
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the name
        reason = _stat_reason(path, error) if isinstance(error, OSError) else \
            f"The path is not a valid file name ({error}). Received: source={path!r}"
        raise InputError(reason, path) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"This is a folder; expected {expected}. Received: source={path!r}", path)
    for test, kind in _NOT_REGULAR:
        if test(info.st_mode):
            raise InputError(f"This is {kind}, not a regular file; expected {expected}. Save the data to a file "
                             f"first. Received: source={path!r}", path)
    if info.st_size == 0:
        raise InputError(f"This is an empty file (0 bytes); expected {expected}. Re-export or re-download it. "
                         f"Received: size=0", path)
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise InputError(_stat_reason(path, error), path) from None
    return info.st_size


def describe_content(head):
    """What the first bytes of an undecodable file look like, in words (never the bytes themselves)."""
    if not head:
        return "no data"
    stripped = head.lstrip()
    if stripped[:1] == b"<":
        return "text (HTML or XML)"
    if stripped[:1] in (b"{", b"["):
        return "text (JSON?)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = head[:-3].decode("utf-8")  # the cut may fall inside a character
        except UnicodeDecodeError:
            return "binary data of an unknown format"
    if text and all(c.isprintable() or c in "\t\r\n" for c in text):
        return "plain text"
    return "binary data of an unknown format"


@contextlib.contextmanager
def bytes_as_file(data, *, suffix=""):
    """Write a file's content (``bytes``, ``bytearray`` or ``memoryview``) to a private temporary file and yield its
    path; the file is removed afterwards. The decoders then read it exactly as they read a file on disk."""
    handle, path = tempfile.mkstemp(prefix="ctc-toolkit-input-", suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(bytes(data))
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def reraise_for_bytes(error, path, name):
    """An :class:`~common.errors.InputError` of a decoder that read ``path`` (from :func:`bytes_as_file`), retold
    for the in-memory input ``name``: the temporary file's name is replaced by it."""
    return InputError(error.reason.replace(repr(path), repr(name)).replace(path, name), name)
