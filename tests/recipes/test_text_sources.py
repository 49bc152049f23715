"""The recipes' text sources: GCIDE definitions come out without headwords, pronunciations, etymologies or
citations; man pages give the prose of their prose sections only, and technical text keeps plain English sentences,
never code or license talk; the speech recipe's text mix refuses held-out and unknown sources."""

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))

from english_text import _english_sentence, gcide_definitions, manpage_prose, split_sentences  # noqa: E402

GCIDE_SAMPLE = '''Abdomen \\Ab*do"men\\, n. [L. abdomen (a word of uncertain
   etymol.): cf. F. abdomen.]
   1. (Anat.) The belly, or that part of the body between the
      thorax and the pelvis.
      [1913 Webster]

   2. (Zool.) The posterior section of the body, behind the
      thorax, in insects. --Owen.
      [1913 Webster]

Abditive \\Ab"di*tive\\, a. [L. abditivus, fr. abdere to hide.]
   Having the quality of hiding. [R.] --Bailey.
   [1913 Webster]

Abdominal \\Ab*dom"i*nal\\, a.
   Of or pertaining to the {abdomen}; ventral.
   [1913 Webster]
'''


def test_gcide_definitions_keep_only_the_definitions():
    texts = gcide_definitions(GCIDE_SAMPLE)
    assert texts == ["The belly, or that part of the body between the thorax and the pelvis.",
                     "The posterior section of the body, behind the thorax, in insects.",
                     "Having the quality of hiding.",
                     "Of or pertaining to the abdomen; ventral."]
    assert split_sentences(texts[0]) == [texts[0]]


def test_the_text_mix_refuses_held_out_and_unknown_sources():
    pytest.importorskip("numpy")
    import speech_broad

    assert speech_broad.parse_text_mix("sotu=0.3, gcide=0.7") == {"sotu": 0.3, "gcide": 0.7}
    for bad in ("moby_dick=1", "wikipedia=1", "gcide", "gcide=-1", "gcide=0"):
        with pytest.raises(argparse.ArgumentTypeError):
            speech_broad.parse_text_mix(bad)


RENDERED_MANPAGE = """open(2)                System Calls Manual                open(2)

NAME
       open, openat, creat - open and possibly create a file

SYNOPSIS
       int open(const char *pathname, int flags);

DESCRIPTION
       The open() system call opens the file specified by pathname.  See read(2) and fcntl(2) for more.

   Flags
       A call to open() creates a new open file description.

COPYRIGHT
       This page is free software; you can redistribute it.

RETURN VALUE
       On success, a file descriptor is returned.
"""


def test_manpage_prose_keeps_the_prose_sections_with_bare_names():
    assert manpage_prose(RENDERED_MANPAGE) == [
        "The open system call opens the file specified by pathname. See read and fcntl for more.",
        "A call to open creates a new open file description.",
        "On success, a file descriptor is returned."]


def test_technical_text_keeps_plain_english_sentences_only():
    words = {"the", "file", "is", "opened", "for", "reading", "only", "this", "page", "under", "a", "license",
             "flag", "set", "when"}
    assert _english_sentence("The file is opened for reading only.", words)
    assert not _english_sentence("The O_RDONLY flag is set when reading.", words)  # code
    assert not _english_sentence("The file is /etc/passwd for reading.", words)  # a path
    assert not _english_sentence("This page is under a license.", words)  # license talk
    assert not _english_sentence("The file is frobnicated by zorbs for reading.", words)  # 2 of 8 words unknown
    assert not _english_sentence("the file is opened.", words)  # no capital: a fragment
