"""The recipes' text sources: GCIDE definitions come out without headwords, pronunciations, etymologies or
citations, and the speech recipe's text mix refuses held-out and unknown sources."""

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))

from english_text import gcide_definitions, split_sentences  # noqa: E402

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
