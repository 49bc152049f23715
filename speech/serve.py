"""The speech task's part of the HTTP service (``speech serve``; ``ocr serve --with speech``).

``POST /speech/transcribe``: an audio file (WAV, FLAC, OGG, MP3) as the multipart field ``file`` or the raw body;
the options of ``speech transcribe`` as query parameters (``beam``, ``lm``, ``hotwords``, ``format``), read
through the CLI's own parser. Concurrent requests with the same options share one ``Transcriber.transcribe`` call
(the dynamic batcher: their chunks run in the same forward passes); the answer is written by
:func:`speech.formats.render` in ``txt``, ``json`` (segments and words with times), ``srt``, ``vtt`` or ``tsv``,
as ``speech transcribe`` writes it.
"""

import io

from common.serving.batcher import DynamicBatcher
from common.serving.options import QueryOptions
from common.serving.registry import DecoderVariants, ServeError, TaskService, named_after_upload
from speech import defaults

__all__ = ["SpeechService", "SERVICE", "OPTIONS"]

OPTIONS = {"beam": "--beam", "lm": "--lm", "hotwords": "--hotwords", "format": "--format"}
"""Query parameter -> ``speech transcribe`` option. ``--model``, ``--words`` and LM paths name server-side files:
left out (``lm`` is ``none`` or ``default`` only)."""

def _duration(data):
    """Seconds of audio the file's header announces, or ``None`` when soundfile does not recognise it."""
    import soundfile

    try:
        info = soundfile.info(io.BytesIO(data))
    except Exception:  # noqa: BLE001 (not a container libsndfile knows; the Transcriber may still decode it)
        return None
    return info.frames / info.samplerate if info.samplerate > 0 and info.frames >= 0 else None


class SpeechService(TaskService):
    """Serves ``Transcriber.transcribe`` (see the module's docstring)."""

    name = "speech"
    title = "Transcribe speech"
    accept = "audio/*,.wav,.flac,.ogg,.mp3"

    def __init__(self, settings):
        super().__init__(settings)
        from speech.cli import build_parser
        from speech.formats import FORMATS

        self.options = QueryOptions(build_parser(), "transcribe", OPTIONS,
                                    restrict={"lm": ("none", "default"), "format": FORMATS})
        self.transcriber = None
        self.transcribers = None

    def load(self):
        import numpy as np

        from speech.transcriber import Transcriber

        self.transcriber = Transcriber.load(self.settings.model_for("speech"), max_seconds=self.settings.max_seconds)
        self.transcriber.transcribe([np.zeros(8000, np.float32)], sample_rate=16000)  # first run: allocate
        base = self.transcriber
        self.transcribers = DecoderVariants(
            base, lambda **decoding: Transcriber(base.model, batch_size=base.predictor.batch_size,
                                                 max_chunk_seconds=base.max_chunk_seconds,
                                                 max_seconds=self.settings.max_seconds, **decoding),
            default_lm=defaults.LM)
        self.batcher = DynamicBatcher(self._process, window_ms=self.settings.window_ms,
                                      max_items=self.settings.max_batch, workers=self.settings.workers,
                                      name="speech-batcher")

    def describe(self):
        from speech.formats import FORMATS

        return dict(super().describe(), endpoints=[{
            "path": "/speech/transcribe", "options": self.options.describe(),
            "formats": {name: f".{name}" for name in FORMATS}}])

    def register(self, router):
        from common.serving.endpoints import add_upload_endpoint

        add_upload_endpoint(router, "/transcribe", service=self, options=self.options, handler=self.transcribe,
                            summary="Transcribe an audio file",
                            description="The options are `speech transcribe`'s. `format=json` gives segments and "
                                        "words with their start and end times in seconds.")

    def _process(self, key, payloads):
        _, beam, lm, hotwords = key
        return self.transcribers.get(lm, hotwords).transcribe(payloads, beam_width=beam)

    async def transcribe(self, upload, args):
        from common.serving.endpoints import document_response
        from speech.formats import render

        duration = _duration(upload.data)
        limit = self.settings.max_seconds
        if duration is not None and duration > limit:
            raise ServeError(422, f"{upload.filename}: the audio is {duration:.1f} s long, more than this server's "
                                  f"limit of {limit:g} s (serve --max-seconds); cut it into shorter files")
        result = await self.batcher.run(("transcribe", args.beam, args.lm, args.hotwords), upload.data)
        result = named_after_upload(result, upload.filename)
        if not result.ok:
            status = 415 if duration is None else 422
            prefix = "not an audio file this server reads: " if duration is None else ""
            raise ServeError(status, prefix + result.error)
        content = result.to_dict() if args.format == "json" else render(result, args.format)
        return document_response(content, f".{args.format}",
                                 filename=None if args.format == "json" else upload.filename)


SERVICE = SpeechService
"""What ``ctc_toolkit.services`` (setup.cfg) and ``--with speech`` resolve to."""

