"""The paired table of ``benchmarks/ocr_vs_tesseract.py``: error counts and a bootstrap interval that can fail."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.ocr_vs_tesseract import paired_table  # noqa: E402


def _row(table, name):
    return next(line for line in table.splitlines() if line.startswith(f"| {name} "))


def test_paired_table_counts_errors_and_brackets_the_difference():
    refs = ["abcdefghij"] * 50
    worse = ["abcdefghiX"] * 25 + refs[25:]  # 25 wrong characters of 500
    slices = {("prose", "pillow", "clean"): ([None] * 50, refs), ("numbers", "pillow", "clean"): ([None] * 50, refs)}
    outputs = {"ours": {("prose", "pillow", "clean"): worse, ("numbers", "pillow", "clean"): refs},
               "Tesseract 5.3.0": {("prose", "pillow", "clean"): refs, ("numbers", "pillow", "clean"): refs}}
    table = paired_table(slices, outputs, ["ours"], "Tesseract 5.3.0", resamples=500)
    cells = [c.strip() for c in _row(table, "prose").split("|")[1:-1]]
    assert cells[3:5] == ["25", "0"]
    total, interval = cells[5].split(" (")
    low, high = (float(v) for v in interval.rstrip(")").split(" to "))
    assert float(total) == 5.0 and 0 < low < 5.0 < high  # 25 of 500 characters: +5 points, clearly above 0
    same = [c.strip() for c in _row(table, "numbers").split("|")[1:-1]]
    assert same[3:6] == ["0", "0", "+0.00 (+0.00 to +0.00)"]
