"""One manifest reader for both tasks, with one policy: every bad row is collected, then all of them are reported
in one :class:`~common.errors.DataError` with their line numbers.

A manifest lists ``(input file, transcript)`` rows: a TSV (tab-separated, no quoting, as Common Voice writes them),
a CSV (the delimiter ``,`` ``;`` ``|`` or TAB is taken from the header line; double quotes as in RFC 4180), or a
JSONL file (one object per line). Column and key names are parameters, matched case-insensitively.

>>> rows, problems = read_manifest("train.tsv", source_keys=("image",), text_keys=("text",))  # doctest: +SKIP
>>> problems.raise_if_any()                                                                      # doctest: +SKIP
"""

import csv
import dataclasses
import json
import os
import warnings
from pathlib import Path

from common.errors import DataError

__all__ = ["ManifestRow", "RowProblems", "read_manifest", "JSONL_SUFFIXES", "TABLE_SUFFIXES"]

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
TABLE_SUFFIXES = (".tsv", ".csv", ".txt")
_DELIMITERS = (",", "\t", ";", "|")


@dataclasses.dataclass(frozen=True)
class ManifestRow:
    """One usable row: its ``line`` number in the file (from 1, header included), the ``source`` file (resolved
    against the manifest's folder or ``base``), the ``text`` as written, and ``extras`` (the optional columns)."""

    line: int
    source: Path
    text: str
    extras: dict = dataclasses.field(default_factory=dict)


def _numbers(lines):
    """``3, 5-7, 9``: line numbers, runs compressed."""
    runs, start, previous = [], None, None
    for number in sorted(set(lines)):
        if start is None:
            start = previous = number
        elif number == previous + 1:
            previous = number
        else:
            runs.append((start, previous))
            start = previous = number
    if start is not None:
        runs.append((start, previous))
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


class RowProblems:
    """Collects the bad rows of one manifest (or corpus file) and reports all of them at once.

    Args:
        source: the file, named at the start of the error.
        files: what the rows' files are, in messages (``"image files"``, ``"audio files"``).
        missing_hint: how to fix rows naming missing files.
    """

    def __init__(self, source, *, files="files", missing_hint="relative paths are read from the manifest's folder"):
        self.source = source
        self.files = files
        self.missing_hint = missing_hint
        self.malformed = {}  # reason -> [line, ...]
        self.missing = []  # (line, path as written)

    def __len__(self):
        return sum(len(lines) for lines in self.malformed.values()) + len(self.missing)

    def bad(self, line, reason):
        """Row ``line`` (a number, or ``"file:number"``) cannot be used for ``reason``."""
        self.malformed.setdefault(reason, []).append(line)

    def check_file(self, line, path, written=None):
        """Note row ``line`` if ``path`` is not a file; returns whether it is."""
        if Path(path).is_file():
            return True
        self.missing.append((line, str(written if written is not None else path)))
        return False

    def message(self):
        """One line listing every problem with its line numbers, or ``None`` when there is none."""
        if not len(self):
            return None
        parts = []
        for reason, lines in self.malformed.items():
            numbers = [n for n in lines if isinstance(n, int)]
            others = [str(n) for n in lines if not isinstance(n, int)]
            where = ", ".join(([f"line {_numbers(numbers)}" if len(numbers) == 1 else f"lines {_numbers(numbers)}"]
                               if numbers else []) + others)
            parts.append(f"{reason} ({where})")
        if self.missing:
            listed = ", ".join(f"line {line}: {path}" for line, path in self.missing)
            parts.append(f"not found ({listed}; {self.missing_hint})")
        malformed = sum(len(lines) for lines in self.malformed.values())
        counts = ", ".join(([f"{malformed} malformed row(s)"] if malformed else [])
                           + ([f"{len(self.missing)} row(s) naming missing {self.files}"] if self.missing else []))
        return (f"{self.source}: {counts}: {'; '.join(parts)}. Fix or remove these rows. "
                f"Received: bad_rows={len(self)}")

    def raise_if_any(self):
        """Raise one :class:`~common.errors.DataError` listing every problem, if there is any."""
        message = self.message()
        if message is not None:
            raise DataError(message)


def _csv_records(reader, path):
    """The rows of a ``csv`` reader over a file; a parse error (an oversized field, say) becomes a DataError naming
    the line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            number = max(reader.line_num, 1)
            raise DataError(f"{path}: line {number} cannot be read as CSV ({error}); check its quotes, or split an "
                            f"oversized field. Received: line={number}") from None
        yield row


def _open(path):
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except OSError as error:
        raise DataError(f"{path}: cannot read it ({error.strerror or error}).") from None


def _pick(names, keys):
    """The first of ``keys`` among ``names`` (case-insensitively), as written in ``names``; ``None`` if absent."""
    lowered = {str(name).strip().lower(): name for name in names if name}
    return next((lowered[key] for key in keys if key in lowered), None)


def _resolve(base, value):
    path = Path(str(value).strip()).expanduser()
    return path if path.is_absolute() else base / path


def _jsonl_rows(handle, problems, source_keys, text_keys, extra_keys):
    """Yield ``(line, source, text, extras)``."""
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problems.bad(number, f"not JSON ({error.msg})")
            continue
        if not isinstance(record, dict):
            problems.bad(number, "not a JSON object")
            continue
        source_key, text_key = _pick(record, source_keys), _pick(record, text_keys)
        if source_key is None or text_key is None:
            problems.bad(number, f"no {'/'.join(source_keys)} key and {'/'.join(text_keys)} key")
            continue
        source, text = record[source_key], record[text_key]
        if not isinstance(source, str) or not isinstance(text, str):
            problems.bad(number, f"{source_key!r} and {text_key!r} must be strings")
            continue
        yield number, source, text, {key: record[found] for key in extra_keys
                                     if (found := _pick(record, (key,))) is not None}


def _table_rows(handle, path, problems, source_keys, text_keys, extra_keys, headerless, source_name):
    """Yield ``(line, source, text, extras)`` from a TSV or CSV with a header (or, ``headerless``, a TSV of
    ``SOURCE<TAB>TEXT`` lines)."""
    tsv = path.suffix.lower() == ".tsv"
    first = handle.readline()
    handle.seek(0)
    if tsv:
        delimiter = "\t"
    else:
        counts = {d: first.count(d) for d in _DELIMITERS}
        delimiter = max(counts, key=counts.get)
    reader = csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
    records = [(reader.line_num, row) for row in _csv_records(reader, path)
               if row and any(cell.strip() for cell in row)]
    if not records and not (headerless and tsv):
        raise DataError(f"{path}: the file is empty; expected a header line naming the {source_name} column (one of "
                        f"{', '.join(source_keys)}) and the text column, then one row per item.")
    header = records[0][1] if records else []
    source_key, text_key = _pick(header, source_keys), _pick(header, text_keys)
    if source_key is None and text_key is None and headerless and tsv:
        for number, row in records:
            if len(row) < 2:
                problems.bad(number, "expected SOURCE<TAB>TEXT")
                continue
            yield number, row[0], "\t".join(row[1:]), {}
        return
    if source_key is None or text_key is None:
        raise DataError(f"{path}: the header must name the {source_name} column (one of {', '.join(source_keys)}) "
                        f"and the text column (one of {', '.join(text_keys)}); add such a first line. "
                        f"Received: header={header!r}")
    names = [str(name).strip().lower() for name in header]
    column = {name: index for index, name in reversed(list(enumerate(names)))}
    source_at, text_at = column[source_key.strip().lower()], column[text_key.strip().lower()]
    extra_at = {key: column[key] for key in extra_keys if key in column}
    for number, row in records[1:]:
        if tsv and text_at == len(header) - 1 and len(row) > len(header):
            row = row[:text_at] + ["\t".join(row[text_at:])]  # TSV has no quoting: a last text column keeps its tabs
        if len(row) != len(header):
            problems.bad(number, f"expected {len(header)} fields as in the header, found {len(row)}")
            continue
        yield number, row[source_at], row[text_at], {key: row[index] for key, index in extra_at.items()}


def read_manifest(path, *, source_keys, text_keys, extra_keys=(), base=None, allow_empty_text=False,
                  headerless=False, source_name="input"):
    """Read a manifest; returns ``(rows, problems)`` so that the caller can add its own checks before reporting.

    Args:
        path: a ``.tsv``, ``.csv`` (``.txt``) or ``.jsonl`` (``.json``, ``.ndjson``) file.
        source_keys: names of the input-file column, in order of preference (e.g. ``("image", "path")``).
        text_keys: names of the transcript column.
        extra_keys: optional columns returned in :attr:`ManifestRow.extras` when present.
        base: folder that relative paths are read from (default: the manifest's).
        allow_empty_text: keep rows whose transcript is empty (otherwise they are bad rows).
        headerless: a TSV whose first line names no columns is ``SOURCE<TAB>TEXT`` lines.
        source_name: what the input files are, in messages (``"image"``, ``"audio"``).

    Returns:
        ``(rows, problems)``: the usable :class:`ManifestRow` s in file order, and a :class:`RowProblems` holding
        every bad row and every row naming a missing file (call ``problems.raise_if_any()``).

    Raises:
        DataError: the file cannot be read, is not UTF-8, has an unknown suffix, or its header names no source or
            text column (these stop at once: no row can be read).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in JSONL_SUFFIXES + TABLE_SUFFIXES:
        raise DataError(f"{path}: unknown manifest type {suffix or '(no extension)'!r}; expected "
                        f"{', '.join(TABLE_SUFFIXES + JSONL_SUFFIXES)}. Received: path={str(path)!r}")
    base = path.parent if base is None else Path(base)
    problems, rows = RowProblems(path, files=f"{source_name} files"), []
    try:
        with _open(path) as handle:
            if suffix in JSONL_SUFFIXES:
                raw = list(_jsonl_rows(handle, problems, source_keys, text_keys, extra_keys))
            else:
                raw = list(_table_rows(handle, path, problems, source_keys, text_keys, extra_keys, headerless,
                                       source_name))
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: the manifest is not valid UTF-8 ({error.reason} at byte {error.start}); save it "
                        f"as UTF-8. Received: path={str(path)!r}") from None
    for number, source, text, extras in raw:
        if not source.strip():
            problems.bad(number, f"empty {source_name} path")
            continue
        if not allow_empty_text and not text.strip():
            problems.bad(number, "empty transcript")
            continue
        resolved = _resolve(base, source)
        if problems.check_file(number, resolved, source.strip()):
            rows.append(ManifestRow(number, resolved, text, extras))
    return _without_repeats(path, rows, problems, source_name), problems


def _without_repeats(path, rows, problems, source_name):
    """Rows naming a file an earlier row named: with another text a bad row (which text is right is a guess),
    with the same text left out with one warning that lists them."""
    first, kept, repeats = {}, [], []
    for row in rows:
        key = os.path.normcase(os.path.normpath(os.path.abspath(row.source)))
        earlier = first.setdefault(key, row)
        if earlier is row:
            kept.append(row)
        elif earlier.text != row.text:
            problems.bad(row.line, f"the same {source_name} as line {earlier.line} with a different text (one "
                                   f"{source_name} has one transcript)")
        else:
            repeats.append(f"line {row.line} = line {earlier.line}")
    if repeats:
        shown = ", ".join(repeats[:5]) + (f" and {len(repeats) - 5} more" if len(repeats) > 5 else "")
        warnings.warn(f"{path}: {len(repeats)} row(s) repeat an earlier row ({shown}); each {source_name} is used "
                      f"once.", stacklevel=3)
    return kept
