"""Reading CSV/TSV manifests row by row with parse errors (bad quoting, oversized fields) as one-line DataErrors."""

import csv

from common.errors import DataError

__all__ = ["csv_error", "csv_records"]


def csv_error(path, reader, error, *, unit="line", pending=False):
    """A :class:`DataError` naming ``path`` and the ``unit`` ("line" or "row") number where ``reader`` failed.

    ``pending``: the failing line is the one after ``reader.line_num`` (a reader over a file handle counts the lines
    it parsed completely); otherwise ``line_num`` already counts it.
    """
    number = max(reader.line_num + (1 if pending else 0), 1)
    return DataError(f"{path}: {unit} {number} cannot be read as CSV ({error}); check its quotes, or split an "
                     f"oversized field. Received: {unit}={number}")


def csv_records(reader, path, *, unit="line", pending=False):
    """Yield the rows of a ``csv`` reader; a parse error becomes :func:`csv_error`."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise csv_error(path, reader, error, unit=unit, pending=pending) from None
        yield row
