"""``speech batch``: the speech side of a batch run over a large collection (the machinery is
:mod:`common.scale`).

:func:`transcriber_worker` is what each worker runs: it loads the :class:`~speech.transcriber.Transcriber` once and
transcribes lists of audio paths into the records ``speech transcribe --format json`` prints (bad files included,
with their one-line error).
"""

from speech.data import AUDIO_KEYS
from speech.defaults import BEAM_WIDTH

__all__ = ["transcriber_worker", "AUDIO_SUFFIXES", "AUDIO_KEYS"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")
"""Audio file name endings a batch run picks up in a folder (any letter case)."""


def transcriber_worker(*, model=None, beam_width=BEAM_WIDTH, **transcriber_options):
    """Load a Transcriber (``Transcriber.load(model, **transcriber_options)``) and return ``process(paths)``: one
    ``Transcript.to_dict()`` per path, in order."""
    from speech.transcriber import Transcriber

    transcriber = Transcriber.load(model, **transcriber_options)

    def process(paths):
        return [result.to_dict() for result in transcriber.transcribe(paths, beam_width=beam_width)]

    return process
