"""Read OCR training data: folders of line images with ``.gt.txt`` transcripts, or manifests.

A folder follows the Calamari / kraken / tesstrain / OCRopus convention: ``name.png`` (or ``.jpg``, ``.jpeg``,
``.tif``, ``.tiff``, ``.bmp``, ``.webp``; OCRopus' ``name.bin.png`` and ``name.nrm.png`` too) beside
``name.gt.txt``, in any sub-folder. A manifest is one file that lists image paths and texts:

- ``.tsv``: ``image<TAB>text`` per line, with an optional header line ``image<TAB>text`` or ``path<TAB>text``;
- ``.csv``: a header naming an image column (``image``, ``path`` or ``file``) and a text column (``text`` or
  ``transcript``), with the ``csv`` module's quoting;
- ``.jsonl``: one JSON object per line with ``image`` (or ``path``) and ``text``.

Manifests are read by :func:`common.manifest.read_manifest` (the speech task's reader too): every bad row and every
row naming a missing image is collected, and all of them are reported in one error with their line numbers.
Relative image paths are resolved against the manifest's folder. Every text is NFC-normalized and loses its
trailing newline.
"""

import dataclasses
import os
import unicodedata
import warnings
from pathlib import Path

from common.errors import DataError
from common.manifest import read_manifest

__all__ = ["LineExample", "load_line_dataset", "IMAGE_SUFFIXES", "IMAGE_COLUMNS", "MANIFEST_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
"""Image file name endings recognized in a data folder (any letter case)."""

MANIFEST_SUFFIXES = (".tsv", ".csv", ".jsonl")
"""Manifest formats :func:`load_line_dataset` reads."""

_GT_SUFFIX = ".gt.txt"
_SECONDARY_SUFFIXES = (".bin", ".nrm")  # OCRopus: name.bin.png (binarized), name.nrm.png (normalized)
IMAGE_COLUMNS = ("image", "path", "file")
"""Names of a manifest's image column (any letter case), in order of preference."""
_TEXT_COLUMNS = ("text", "transcript")
_MAX_LISTED = 5


@dataclasses.dataclass(frozen=True)
class LineExample:
    """One training line: an image file and its transcript.

    Args:
        image: path of the line image.
        text: what it says (NFC-normalized, no trailing newline).
    """

    image: Path
    text: str


def _clean_text(text):
    if text.endswith("\n"):
        text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
    return unicodedata.normalize("NFC", text)


def _listing(items, total):
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {total - _MAX_LISTED} more" if total > _MAX_LISTED else "")


def _image_keys(name):
    """``[(base, preference), ...]`` under which an image file name pairs with ``base.gt.txt`` ([] if no image).

    ``a.png`` pairs with ``a.gt.txt``; ``a.bin.png`` pairs with ``a.bin.gt.txt`` or, second choice, ``a.gt.txt``.
    """
    lower = name.lower()
    for suffix in IMAGE_SUFFIXES:
        if lower.endswith(suffix):
            base = name[: -len(suffix)]
            keys = [(base, 0)]
            for rank, secondary in enumerate(_SECONDARY_SUFFIXES, start=1):
                if base.lower().endswith(secondary):
                    keys.append((base[: -len(secondary)], rank))
            return keys
    return []


def _read_folder(folder):
    transcripts, images, image_keys, candidates = {}, {}, {}, {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            if name.lower().endswith(_GT_SUFFIX):
                transcripts[(root, name[: -len(_GT_SUFFIX)])] = os.path.join(root, name)
                continue
            keys = _image_keys(name)
            if keys:
                image_keys[os.path.join(root, name)] = [(root, base) for base, _ in keys]
            for base, rank in keys:
                candidates.setdefault((root, base, rank), []).append(name)
                current = images.get((root, base))
                candidate = (rank, not name.lower().endswith(".png"), name)  # plain name first, then PNG
                if current is None or candidate < current[0]:
                    images[(root, base)] = (candidate, os.path.join(root, name))

    # Two images of equal standing (a.png and a.jpg) beside one a.gt.txt: which one the text belongs to is a guess.
    ambiguous = sorted(
        (os.path.relpath(os.path.join(key[0], key[1] + _GT_SUFFIX), folder), sorted(candidates[key[0], key[1], rank]))
        for key in transcripts if key in images
        for rank in [images[key][0][0]] if len(candidates[key[0], key[1], rank]) > 1)
    if ambiguous:
        raise DataError(
            f"{folder}: {len(ambiguous)} transcript(s) have more than one image beside them, so which image the text "
            f"belongs to is ambiguous "
            f"({_listing([f'{gt}: ' + ' and '.join(n) for gt, n in ambiguous], len(ambiguous))}); "
            f"keep one image per transcript (move or rename the others). Received: ambiguous={len(ambiguous)}")
    pairs = sorted((images[key][1], gt) for key, gt in transcripts.items() if key in images)
    unpaired_images = sorted(p for p, keys in image_keys.items() if not any(k in transcripts for k in keys))
    unpaired_gt = sorted(gt for key, gt in transcripts.items() if key not in images)
    relative = lambda paths: [os.path.relpath(p, folder) for p in paths]  # noqa: E731
    if not pairs:
        expected = (
            "expected line images with transcripts beside them, like NAME.png + NAME.gt.txt (images may also end in "
            + ", ".join(IMAGE_SUFFIXES[1:])
            + ")"
        )
        if unpaired_images:
            raise DataError(
                f"The folder holds {len(unpaired_images)} images but no .gt.txt transcripts for them ("
                f"{_listing(relative(unpaired_images), len(unpaired_images))}); {expected}. "
                f"Received: path={str(folder)!r}"
            )
        if unpaired_gt:
            raise DataError(
                f"The folder holds {len(unpaired_gt)} .gt.txt files but no images beside them ("
                f"{_listing(relative(unpaired_gt), len(unpaired_gt))}); {expected}. Received: path={str(folder)!r}"
            )
        raise DataError(f"No training lines found in the folder; {expected}. Received: path={str(folder)!r}")
    if unpaired_images:
        warnings.warn(
            f"{folder}: {len(unpaired_images)} images have no .gt.txt transcript and are skipped "
            f"({_listing(relative(unpaired_images), len(unpaired_images))}).",
            stacklevel=3,
        )
    if unpaired_gt:
        warnings.warn(
            f"{folder}: {len(unpaired_gt)} .gt.txt files have no image beside them and are skipped "
            f"({_listing(relative(unpaired_gt), len(unpaired_gt))}).",
            stacklevel=3,
        )
    examples = []
    for image, gt in pairs:
        try:
            with open(gt, encoding="utf-8-sig", newline="") as handle:
                text = handle.read()
        except UnicodeDecodeError as error:
            raise DataError(
                f"{gt}: the transcript is not valid UTF-8 ({error.reason} at byte {error.start}); save it as UTF-8. "
                f"Received: path={gt!r}"
            ) from None
        examples.append(LineExample(Path(image), _clean_text(text)))
    return examples


def _read_manifest(path):
    if path.suffix.lower() not in MANIFEST_SUFFIXES:
        raise DataError(
            f"Expected a data folder or a manifest ending in {', '.join(MANIFEST_SUFFIXES)}. "
            f"Received: path={str(path)!r}"
        )
    rows, problems = read_manifest(path, source_keys=IMAGE_COLUMNS, text_keys=_TEXT_COLUMNS, allow_empty_text=True,
                                   headerless=True, source_name="image")
    problems.raise_if_any()
    if not rows:
        raise DataError(f"{path}: the manifest lists no lines; expected one row per line image. Received: rows=0")
    return [LineExample(row.source, _clean_text(row.text)) for row in rows]


def load_line_dataset(path):
    """Read a line-level OCR data set from a folder of pairs or from a manifest.

    Parameters
    ----------
    path : str or os.PathLike
        A folder of ``name.<png|jpg|jpeg|tif|tiff|bmp|webp>`` + ``name.gt.txt`` pairs (searched recursively;
        hidden files and folders are skipped), or a ``.tsv``, ``.csv`` or ``.jsonl`` manifest.

    Returns
    -------
    examples : list of LineExample
        Sorted by image path for a folder; in row order for a manifest.

    Raises
    ------
    DataError
        When the path is missing; a folder holds no pairs (images without transcripts, or nothing at all); a
        manifest has malformed rows (the row number is given), rows naming missing files (up to 5 listed, with the
        count) or no rows. Images without a transcript in a folder that also holds pairs only give a warning.
    """
    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise DataError(
            f"The data path does not exist; expected a folder of line images + .gt.txt files or a manifest "
            f"({', '.join(MANIFEST_SUFFIXES)}). Received: path={str(path)!r}"
        )
    if path.is_dir():
        return _read_folder(path)
    return _read_manifest(path)
