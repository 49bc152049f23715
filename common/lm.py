"""Decoding with word knowledge: CTC prefix beam search fused with a word n-gram language model.

A hypothesis is scored as ``log P_ctc + alpha * log P_lm + beta * words`` (natural logarithms), the shallow fusion
of DeepSpeech, wav2letter and pyctcdecode. Words are scored by a KenLM model (``.arpa`` text or KenLM binary) when a
word ends, i.e. when a space is written or the sequence ends. A word still being written scores ``alpha`` times the
best unigram log-probability of the vocabulary words it begins (LM look-ahead: measured, it cut CER by a tenth
against scoring 0); if it begins none, it is out of vocabulary (OOV) and stays possible (open vocabulary, the
default) at a cost: ``unk_offset`` plus ``alpha`` times the log-probability of spelling it letter by letter (uniform
over the alphabet), and when it ends, the LM's ``<unk>`` probability. The spelling cost keeps the search from gluing
many words into one cheap OOV word. With a closed word list (``words=``) only listed words can be written. Hotwords
(``"kubernetes:5"``) get their weight added when written, and a share of it while being spelled, so that the beam
keeps them.

The result has the same form as :func:`common.ctc.decode`'s: text, a confidence and per-character frame spans (the
chosen text is Viterbi-aligned to the frames with :func:`common.ctc.align`), so word timestamps and character boxes
work unchanged; ``num_best`` > 1 adds the runners-up as ``alternatives``.

    lm = LanguageModel.load("my.lm")                 # settings (alpha, beta, beam) from my.lm.json if present
    decoder = BeamSearchDecoder(alphabet, lm=lm, hotwords="kubernetes:5,nginx")
    decoded = decoder.decode(log_probs)              # log_probs: (time, classes), log-softmax, blank = 0

An LM file comes with an optional JSON sidecar ``<file>.json`` (written by :func:`common.ngram.build_arpa` and the
recipes): the tuned ``alpha``, ``beta``, ``beam_width``, and the vocabulary (needed for a KenLM binary, which does
not list its words; an ARPA file's words are read from its unigram section).

The ``kenlm`` module is imported only when an LM is loaded; where it is missing, :func:`load_language_model` raises
:class:`~common.errors.ModelFileError` saying so, and the tasks fall back to greedy decoding with one warning.
"""

import bisect
import dataclasses
import gzip
import heapq
import json
import math
import os
import sys
import threading
from pathlib import Path

import numpy as np

from common.alphabet import BLANK_ID
from common.errors import ConfigError, ModelFileError
from common.limits import check_beam_width

__all__ = ["LanguageModel", "LMSettings", "BeamSearchDecoder", "parse_hotwords", "read_word_list",
           "load_language_model", "make_decoder", "warn_once"]

DEFAULT_HOTWORD_WEIGHT = 5.0
LN10 = math.log(10.0)
NEG_INF = float("-inf")


_warned = set()
_warn_lock = threading.Lock()


def warn_once(message):
    """Print ``warning: message`` on stderr, once per process and message."""
    with _warn_lock:
        if message in _warned:
            return
        _warned.add(message)
    print(f"warning: {message}", file=sys.stderr)


@dataclasses.dataclass(frozen=True)
class LMSettings:
    """Decoding settings stored beside an LM: LM weight ``alpha``, word bonus ``beta``, default ``beam_width``,
    ``unk_offset`` (log score added for a word the LM does not know).

    The defaults (used for an LM without settings, and written by ``lm build``) are those tuned for the shipped
    English LM and speech model (``recipes/speech_lm_tune.py``); re-tune for your own LM and data."""

    alpha: float = 0.6
    beta: float = 2.0
    beam_width: int = 32
    unk_offset: float = -5.0

    @classmethod
    def from_dict(cls, data):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _sidecar(path):
    return Path(str(path) + ".json")


def _open_text(path):
    path = Path(path)
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8", errors="replace") if gzipped else \
        open(path, encoding="utf-8", errors="replace")


def _arpa_unigrams(path):
    """The words of an ARPA file's unigram section (without <s>, </s>, <unk>); raises ModelFileError if malformed."""
    words = []
    with _open_text(path) as handle:
        first = ""
        for line in handle:
            if line.strip():
                first = line.strip()
                break
        if first != "\\data\\":
            raise ModelFileError(f"{path}: not an ARPA language model (it does not start with \\data\\)")
        section = None
        for line in handle:
            line = line.strip()
            if line.startswith("\\"):
                if section == 1:
                    break
                section = 1 if line == "\\1-grams:" else section
                continue
            if section == 1 and line:
                parts = line.split("\t")
                if len(parts) >= 2 and parts[1] not in ("<s>", "</s>", "<unk>"):
                    words.append(parts[1])
    if not words:
        raise ModelFileError(f"{path}: the ARPA file has no unigram section with words; is it truncated?")
    return words


def read_word_list(source):
    """Words from a file (one or more per line, ``#`` comments) or an iterable of str; returns a sorted list."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: cannot read the word list ({error}). Received: words={str(path)!r}") from None
        items = [w for line in text.splitlines() if not line.lstrip().startswith("#") for w in line.split()]
    else:
        items = [w for item in source for w in str(item).split()]
    if not items:
        raise ConfigError(f"The word list is empty; give at least one word. Received: words={source!r}")
    return sorted(set(items))


def parse_hotwords(spec, *, default_weight=DEFAULT_HOTWORD_WEIGHT):
    """``"kubernetes,nginx:5"`` (or a list of such items, or a dict) -> ``{word: weight}``.

    A weight is a log-score bonus (natural log) added when the word is written; the default is 5. A phrase with
    spaces boosts each of its words.
    """
    if spec is None:
        return {}
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        parts = spec.split(",") if isinstance(spec, str) else list(spec)
        items = []
        for part in parts:
            part = str(part).strip()
            if not part:
                continue
            word, sep, weight = part.rpartition(":")
            if not sep:
                word, weight = part, default_weight
            items.append((word, weight))
    hotwords = {}
    for word, weight in items:
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            weight = float("nan")
        if not math.isfinite(weight) or not str(word).strip():
            raise ConfigError(f"Received an invalid hotword, expected WORD or WORD:WEIGHT with a finite number "
                              f"(e.g. \"kubernetes,nginx:5\"). Received: hotword={word!r}:{weight!r}")
        for w in str(word).split():
            hotwords[w] = weight
    return hotwords


class LanguageModel:
    """A word n-gram LM (KenLM) with its vocabulary and decoding settings.

    Args:
        model: a ``kenlm.Model``.
        words: the vocabulary (iterable of str).
        settings: :class:`LMSettings`.
        path: the file it came from (for messages).
    """

    def __init__(self, model, words, settings=None, path=None):
        self.model = model
        self.words = frozenset(words)
        self.settings = settings or LMSettings()
        self.path = path
        self.order = int(model.order)

    @classmethod
    def load(cls, path):
        """Load an ARPA or KenLM binary file (and ``<path>.json`` settings if present).

        Raises:
            ModelFileError: the file is missing, truncated or not an LM, or the ``kenlm`` module is missing.
        """
        path = Path(path).expanduser()
        if not path.is_file():
            raise ModelFileError(f"{path}: no such language model file; pass an ARPA or KenLM binary file, "
                                 f"'default' or 'none'. Received: lm={str(path)!r}")
        try:
            import kenlm
        except ImportError:
            raise ModelFileError(f"{path}: the `kenlm` module is not installed, so language models cannot be "
                                 f"loaded (pip install kenlm==0.3.0; it builds with g++ and cmake)") from None
        settings, words = LMSettings(), None
        sidecar = _sidecar(path)
        if sidecar.is_file():
            try:
                data = json.loads(sidecar.read_text(encoding="utf-8"))
                settings = LMSettings.from_dict(data.get("settings", {}))
            except (ValueError, TypeError, AttributeError) as error:
                raise ModelFileError(f"{sidecar}: not a valid LM settings file ({error})") from None
            if data.get("words_file"):
                words_path = sidecar.parent / data["words_file"]
                try:
                    with _open_text(words_path) as handle:
                        words = [w for w in handle.read().split()]
                except OSError as error:
                    raise ModelFileError(f"{words_path}: cannot read the LM's word list ({error})") from None
        with open(path, "rb") as handle:
            head = handle.read(64)
        is_binary = head.startswith(b"mmap lm http://kheafield.com/code")
        if not is_binary and b"\\data\\" not in head and not head.startswith(b"\x1f\x8b"):
            raise ModelFileError(f"{path}: not a language model (expected an ARPA text file starting with \\data\\ "
                                 f"or a KenLM binary)")
        if words is None:
            if is_binary:
                raise ModelFileError(f"{path}: a KenLM binary needs its word list; write one word per line in a "
                                     f"file and name it in {sidecar.name} as {{\"words_file\": \"FILE\"}}")
            words = _arpa_unigrams(path)
        try:
            config = kenlm.Config()
            config.show_progress = False
            config.arpa_complain = kenlm.ARPALoadComplain.NONE
            model = kenlm.Model(str(path), config)
        except (OSError, RuntimeError, ValueError, Exception) as error:  # kenlm raises OSError or its own types
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ModelFileError(f"{path}: cannot load the language model, it may be truncated or corrupt "
                                 f"({first})") from None
        return cls(model, words, settings, path)


def load_language_model(spec, *, default):
    """``"default"``/``None`` -> the shipped file ``default``; ``"none"``/``False`` -> None; a path or a
    :class:`LanguageModel` as given. Raises :class:`~common.errors.ModelFileError` when loading fails."""
    if spec is False or (isinstance(spec, str) and spec.lower() == "none"):
        return None
    if isinstance(spec, LanguageModel):
        return spec
    if spec is None or spec == "default":
        return LanguageModel.load(default)
    return LanguageModel.load(spec)


def _lse(a, b):
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


class BeamSearchDecoder:
    """CTC prefix beam search with optional word LM, closed word list and hotwords.

    Args:
        alphabet: the model's :class:`~common.alphabet.Alphabet` (must contain a space: it separates words).
        lm: a :class:`LanguageModel` or None (no LM: words score ``beta`` each, plus hotword bonuses).
        alpha, beta, beam_width, unk_offset: override the LM's stored :class:`LMSettings`.
        hotwords: ``"word:weight,..."``, a list or a dict (see :func:`parse_hotwords`).
        words: a closed vocabulary (iterable of str or a file path): nothing else can be written.
        word_key: maps a written token to the form the LM and the lists use (e.g. lowercase without punctuation
            for OCR); a token it maps to ``""`` (numbers, codes) is neither scored nor restricted.
        token_min_logp: characters less likely than this at a frame are not tried there (the most likely always is).
        prune_logp: hypotheses scoring this far below the best are dropped.

    A decoder is safe to share between threads (its caches only memoise pure functions).
    """

    def __init__(self, alphabet, *, lm=None, alpha=None, beta=None, beam_width=None, unk_offset=None,
                 hotwords=None, words=None, word_key=None, token_min_logp=-5.0, prune_logp=-12.0):
        if " " not in alphabet:
            raise ConfigError("Word-level decoding needs an alphabet with a space (it separates words). "
                              f"Received: alphabet={alphabet.characters!r}")
        settings = lm.settings if lm is not None else LMSettings(alpha=0.0)
        self.alphabet = alphabet
        self.lm = lm
        self.alpha = float(settings.alpha if alpha is None else alpha)
        self.beta = float(settings.beta if beta is None else beta)
        self.unk_offset = float(settings.unk_offset if unk_offset is None else unk_offset)
        for name, value in (("alpha", self.alpha), ("beta", self.beta), ("unk_offset", self.unk_offset)):
            if not math.isfinite(value):
                raise ConfigError(f"Received an invalid value for `{name}`, expected a finite number. "
                                  f"Received: {name}={value!r}")
        self.beam_width = check_beam_width(settings.beam_width if beam_width is None else beam_width,
                                           flag="beam_width")
        self.token_min_logp = float(token_min_logp)
        self.prune_logp = float(prune_logp)
        self.word_key = word_key or (lambda token: token)
        self.hotwords = {self.word_key(w): float(v) for w, v in parse_hotwords(hotwords).items()}
        self.hotwords.pop("", None)
        self.closed = words is not None
        vocabulary = set(read_word_list(words)) if self.closed else set(lm.words if lm is not None else ())
        if self.closed:
            vocabulary = {self.word_key(w) for w in vocabulary} - {""}
        vocabulary |= set(self.hotwords)
        self.vocabulary = frozenset(vocabulary)
        self._sorted_words = sorted(self.vocabulary)
        self._unigrams = np.full(len(self._sorted_words), np.nan)  # filled on demand (log, natural)
        self._lookahead_cache = {}
        self._partial_cache = {}  # partial word -> _partial_score (pure)
        self._hot_prefixes = {}
        for word, weight in self.hotwords.items():
            for i in range(1, len(word) + 1):
                bonus = weight * i / (len(word) + 1)
                self._hot_prefixes[word[:i]] = max(bonus, self._hot_prefixes.get(word[:i], NEG_INF))
        self.space_id = alphabet.encode(" ")[0]
        self._char_logp = -math.log(len(alphabet))  # an unknown word's spelling: uniform over the characters
        self._chars = [""] + list(alphabet.characters)
        self._word_cache = {}
        self._states = {}
        if lm is not None:
            import kenlm

            self._kenlm = kenlm
            start = kenlm.State()
            lm.model.BeginSentenceWrite(start)
            self._states[("<s>",)] = start

    # --- word scores -------------------------------------------------------------------------------------------
    def _lookahead(self, prefix):
        """None if no known word starts with ``prefix``; else the best unigram log-probability of those words
        (0 without an LM). Words are found by bisection in the sorted vocabulary; unigram scores are computed on
        first use and kept."""
        cached = self._lookahead_cache.get(prefix)
        if cached is not None or prefix in self._lookahead_cache:
            return cached
        words = self._sorted_words
        first = bisect.bisect_left(words, prefix)
        if first == len(words) or not words[first].startswith(prefix):
            value = None
        elif self.lm is None:
            value = 0.0
        else:
            last = bisect.bisect_left(words, prefix + "\U0010ffff", lo=first)
            scores = self._unigrams[first:last]
            missing = np.flatnonzero(np.isnan(scores))
            for index in missing.tolist():
                scores[index] = self.lm.model.score(words[first + index], bos=False, eos=False) * LN10
            value = float(scores.max())
        if len(self._lookahead_cache) > 1_000_000:
            self._lookahead_cache.clear()
            self._partial_cache.clear()
        self._lookahead_cache[prefix] = value
        return value

    def _partial_score(self, partial):
        """Score of a word being written (natural log): ``alpha`` times the best unigram log-probability of the
        known words it begins (LM look-ahead) plus any hotword share, or the OOV cost if no known word begins so."""
        key = self.word_key(partial)
        if not key:
            return 0.0
        hot = self._hot_prefixes.get(key, 0.0)
        lookahead = self._lookahead(key)
        if lookahead is not None:
            return self.alpha * lookahead + hot
        if self.closed:
            return NEG_INF
        return self.unk_offset + self.alpha * self._char_logp * len(key) if self.lm is not None else 0.0

    def _word_score(self, context, word):
        """``(score, new context)`` of a finished word after ``context`` (a tuple of the last words)."""
        cache_key = (context, word)
        cached = self._word_cache.get(cache_key)
        if cached is not None:
            return cached
        key = self.word_key(word)
        if not key:  # a number or code: neutral
            result = (0.0, context)
        elif self.closed and key not in self.vocabulary:
            result = (NEG_INF, context)
        else:
            score = self.beta + self.hotwords.get(key, 0.0)
            new_context = context
            if self.lm is not None:
                out = self._kenlm.State()
                log10 = self.lm.model.BaseScore(self._states[context], key, out)
                new_context = (context + (key,))[-(self.lm.order - 1):] if self.lm.order > 1 else ()
                self._states.setdefault(new_context, out)
                score += self.alpha * log10 * LN10
                if key not in self.vocabulary:  # P(<unk>) times the chance of spelling it out letter by letter
                    score += self.unk_offset + self.alpha * self._char_logp * (len(key) + 1)
            result = (score, new_context)
        if len(self._word_cache) > 2_000_000:
            self._word_cache.clear()
        self._word_cache[cache_key] = result
        return result

    def _end_score(self, context):
        if self.lm is None:
            return 0.0
        cache_key = (context, "</s>")
        cached = self._word_cache.get(cache_key)
        if cached is None:
            out = self._kenlm.State()
            cached = (self.alpha * self.lm.model.BaseScore(self._states[context], "</s>", out) * LN10, context)
            self._word_cache[cache_key] = cached
        return cached[0]

    # --- search ------------------------------------------------------------------------------------------------
    def search(self, log_probs, *, beam_width=None, num_best=1):
        """The best hypotheses: list of ``(text, score)``, best first (score: CTC + LM log score).

        Args:
            log_probs: np.ndarray ``(time, num_classes)`` of log-probabilities (log-softmax), blank = 0.
            beam_width: hypotheses kept per frame (default: the decoder's).
            num_best: how many to return.
        """
        beam_width = self.beam_width if beam_width is None else check_beam_width(beam_width, flag="beam_width")
        log_probs = np.asarray(log_probs, dtype=np.float32)
        start_context = ("<s>",) if self.lm is not None else ()
        # beam: text -> [p_blank, p_nonblank, last label, context, words score, partial word, partial score]
        beams = {"": [0.0, NEG_INF, BLANK_ID, start_context, 0.0, "", 0.0]}
        candidates = log_probs >= self.token_min_logp
        candidates[np.arange(log_probs.shape[0]), log_probs.argmax(axis=-1)] = True
        chars, space = self._chars, self.space_id
        partial_scores = self._partial_cache
        for t in range(log_probs.shape[0]):
            frame = log_probs[t].tolist()
            labels = np.flatnonzero(candidates[t]).tolist()
            blank = frame[BLANK_ID]
            labels = [label for label in labels if label != BLANK_ID]
            # Staying on the same text (a blank, or the last character repeated) first: every text is new here.
            new = {}
            for text, (pb, pnb, last, context, words_score, partial, partial_score) in beams.items():
                new[text] = [_lse(pb, pnb) + blank, pnb + frame[last] if last != BLANK_ID else NEG_INF, last,
                             context, words_score, partial, partial_score]
            if not labels:
                beams = new
                continue
            # Then one more character, merged into the texts already there.
            for text, (pb, pnb, last, context, words_score, partial, partial_score) in beams.items():
                total = _lse(pb, pnb)
                for label in labels:
                    p = (pb if label == last else total) + frame[label]
                    if label == space:
                        if not text or text[-1] == " ":
                            continue
                        new_text = text + " "
                        child = new.get(new_text)
                        if child is None:
                            score, new_context = self._word_score(context, partial)
                            if score == NEG_INF:
                                continue
                            child = new[new_text] = [NEG_INF, NEG_INF, label, new_context, words_score + score,
                                                     "", 0.0]
                    else:
                        new_text = text + chars[label]
                        child = new.get(new_text)
                        if child is None:
                            new_partial = partial + chars[label]
                            score = partial_scores.get(new_partial)
                            if score is None:
                                score = partial_scores[new_partial] = self._partial_score(new_partial)
                            if score == NEG_INF:
                                continue
                            child = new[new_text] = [NEG_INF, NEG_INF, label, context, words_score, new_partial,
                                                     score]
                    child[1] = _lse(child[1], p)
            if len(new) > beam_width or len(new) != len(beams):
                scored = heapq.nlargest(beam_width, ((_lse(e[0], e[1]) + e[4] + e[6], k) for k, e in new.items()))
                floor = scored[0][0] + self.prune_logp
                beams = {k: new[k] for s, k in scored if s >= floor}
            else:
                beams = new
        finals = []
        for text, (pb, pnb, last, context, words_score, partial, _) in beams.items():
            score = _lse(pb, pnb) + words_score
            if partial:
                word_score, context = self._word_score(context, partial)
                score += word_score
            score += self._end_score(context)
            if score > NEG_INF:
                finals.append((score, text.strip()))
        if not finals:  # a closed word list that nothing fits: the empty text
            finals = [(NEG_INF, "")]
        finals.sort(reverse=True)
        seen, best = set(), []
        for score, text in finals:
            if text not in seen:
                seen.add(text)
                best.append((text, float(score)))
            if len(best) == num_best:
                break
        return best

    def decode(self, log_probs, *, beam_width=None, num_best=1):
        """Decode one sequence into a :class:`~common.ctc.Decoded` (with ``alternatives`` when ``num_best`` > 1).

        Args:
            log_probs: np.ndarray ``(time, num_classes)`` of log-probabilities, blank = 0.
        """
        from common.ctc import decoded_from_labels

        log_probs = np.asarray(log_probs, dtype=np.float32)
        if log_probs.shape[0] == 0:
            from common.ctc import Decoded

            return Decoded("", 0.0, ())
        best = self.search(log_probs, beam_width=beam_width, num_best=num_best)
        decoded = decoded_from_labels(log_probs, self.alphabet.encode(best[0][0]) if best[0][0] else [],
                                      self.alphabet)
        if num_best > 1:
            decoded = dataclasses.replace(decoded, alternatives=tuple(best))
        return decoded


def make_decoder(alphabet, *, lm, default_lm, hotwords=None, words=None, word_key=None, alpha=None, beta=None):
    """The decoder a task uses: a :class:`BeamSearchDecoder`, or None for plain CTC decoding (no LM, no lists).

    Args:
        alphabet: the model's alphabet.
        lm: ``"default"`` (the shipped ``default_lm``), ``"none"``/``None``, a path, or a :class:`LanguageModel`.
        default_lm: path of the task's shipped LM.
        hotwords, words, word_key, alpha, beta: see :class:`BeamSearchDecoder`.

    The shipped LM is optional: if it (or the ``kenlm`` module) is missing, decoding goes on without it and says
    why once on stderr. An LM the caller names explicitly must load, else :class:`~common.errors.ModelFileError`.
    """
    model = None
    if lm is not None and lm is not False and not (isinstance(lm, str) and lm.lower() == "none"):
        if lm == "default" and default_lm is None:
            raise ConfigError("This task ships no default language model; pass --lm PATH (lm=PATH) or none. "
                              "Received: lm='default'")
        if lm == "default":
            try:
                model = load_language_model(lm, default=default_lm)
            except ModelFileError as error:
                warn_once(f"decoding without a language model: {error}")
        else:
            model = load_language_model(lm, default=default_lm)
    if model is None and not hotwords and words is None:
        return None
    return BeamSearchDecoder(alphabet, lm=model, hotwords=hotwords, words=words, word_key=word_key, alpha=alpha,
                             beta=beta)
