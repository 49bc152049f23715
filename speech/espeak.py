"""English text as espeak-ng's IPA phonemes: the front end of the neural voices of :mod:`speech.synth`
(:mod:`speech.kokoro`, :mod:`speech.piper`), which read phonemes, not letters.

>>> ipa_clauses("Hello there, friend.", "en-us")  # doctest: +SKIP
['həlˈoʊ ðˈɛɹ', 'fɹˈɛnd']
"""

import subprocess

from common.errors import ConfigError

__all__ = ["ipa_clauses"]

_INSTALL_HINT = "apt-get install espeak-ng"


def ipa_clauses(text, voice, *, tie=None):
    """espeak-ng's IPA for ``text``, one string per clause (espeak-ng splits at commas and sentence ends).

    Parameters
    ----------
    text : str
        English text, read as espeak-ng reads it (numbers and abbreviations expanded by espeak-ng itself).
    voice : str
        An espeak-ng voice that sets the accent: ``"en-us"``, ``"en-gb"``...
    tie : str, optional
        One character that joins the two halves of an affricate or diphthong (``"^"``: ``"t^ʃ"``); None: no tie.

    Returns
    -------
    clauses : list of str
        Stripped, non-empty clauses (``[]`` when nothing is pronounceable).

    Raises
    ------
    ConfigError
        espeak-ng is missing or failed.
    """
    command = ["espeak-ng", "-q", "--ipa", "-v", voice, "--stdin"]
    if tie:
        command.insert(3, f"--tie={tie}")
    try:
        done = subprocess.run(command, input=text, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise ConfigError(f"espeak-ng could not phonemize the text ({error}); {_INSTALL_HINT}") from error
    if done.returncode != 0:
        raise ConfigError(f"espeak-ng failed with voice {voice!r}: {' '.join(done.stderr.split())[-200:]}")
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]
