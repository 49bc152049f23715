"""Text <-> integer ids for CTC, with blank = 0.

An :class:`Alphabet` maps each character to an id in ``1..len(alphabet)``; id 0 is the CTC blank, so a model
over an alphabet of ``n`` characters has ``n + 1`` output classes. Text is Unicode NFC-normalized before it is
encoded, so composed and decomposed accents are the same character.
"""

import json
import unicodedata

import numpy as np

from common.errors import AlphabetError

__all__ = ["Alphabet", "normalize_text", "BLANK_ID", "UNKNOWN_POLICIES"]

BLANK_ID = 0
UNKNOWN_POLICIES = ("error", "drop", "replace")


def normalize_text(text):
    """Return ``text`` in Unicode NFC form (the form every alphabet and data set uses)."""
    return unicodedata.normalize("NFC", text)


class Alphabet:
    """The characters a model can write, and what to do with the others.

    Args:
        characters: the characters, in output order (a string or an iterable of one-character strings).
            Duplicates and control characters (Unicode category Cc: TAB, CR, NUL, ...) are an error.
        unknown: what ``encode`` does with a character not in the alphabet: ``"error"`` raises
            :class:`AlphabetError` naming the character and where it occurred, ``"drop"`` removes it,
            ``"replace"`` writes ``replacement`` instead.
        replacement: the character used by ``unknown="replace"``; it must be in the alphabet.

    Example:
    >>> alphabet = Alphabet("abc ")
    >>> alphabet.encode("cab")
    array([3, 1, 2], dtype=int32)
    >>> alphabet.decode([3, 1, 2])
    'cab'
    """

    def __init__(self, characters, *, unknown="error", replacement=None):
        chars = [normalize_text(c) for c in characters]
        if not chars:
            raise AlphabetError("An alphabet needs at least one character. Received: characters=''")
        for c in chars:
            if len(c) != 1:
                raise AlphabetError(
                    f"Each alphabet entry must be exactly one character after NFC normalization. Received: {c!r}"
                )
        controls = sorted({c for c in chars if unicodedata.category(c) == "Cc"})
        if controls:
            raise AlphabetError(
                "An alphabet cannot hold control characters (TAB, CR, NUL, ...): a model cannot write them, and "
                "they usually come from a transcript's line ends or a stray tab; replace them with spaces or remove "
                f"them. Received: {', '.join(f'U+{ord(c):04X}' for c in controls)}"
            )
        seen = set()
        duplicates = sorted({c for c in chars if c in seen or seen.add(c)})
        if duplicates:
            raise AlphabetError(f"An alphabet may list each character once. Received duplicates: {duplicates!r}")
        if unknown not in UNKNOWN_POLICIES:
            raise AlphabetError(f"`unknown` must be one of {UNKNOWN_POLICIES}. Received: unknown={unknown!r}")
        if unknown == "replace" and (replacement is None or replacement not in chars):
            raise AlphabetError(
                "unknown='replace' needs a `replacement` character that is in the alphabet. "
                f"Received: replacement={replacement!r}"
            )
        self.characters = "".join(chars)
        self.unknown = unknown
        self.replacement = replacement
        self._ids = {c: i + 1 for i, c in enumerate(chars)}

    def __len__(self):
        return len(self.characters)

    def __contains__(self, char):
        return char in self._ids

    def __eq__(self, other):
        return isinstance(other, Alphabet) and self.get_config() == other.get_config()

    def __repr__(self):
        return f"Alphabet({self.characters!r}, unknown={self.unknown!r})"

    @property
    def num_classes(self):
        """Number of model outputs: the characters plus the blank."""
        return len(self.characters) + 1

    def unknown_characters(self, text):
        """Return the set of characters of ``text`` (after NFC) that this alphabet lacks."""
        return {c for c in normalize_text(text) if c not in self._ids}

    def encode(self, text, *, where=None):
        """Encode ``text`` as ids.

        Args:
            text: a string; it is NFC-normalized first.
            where: a description of where the text came from (a file name), used in error messages.

        Returns:
            np.ndarray [shape=(len,), dtype=int32] of ids in ``1..len(self)``.
        """
        ids = []
        for position, char in enumerate(normalize_text(text)):
            i = self._ids.get(char)
            if i is None:
                if self.unknown == "drop":
                    continue
                if self.unknown == "replace":
                    i = self._ids[self.replacement]
                else:
                    place = f" in {where}" if where else ""
                    raise AlphabetError(
                        f"Character {char!r} (U+{ord(char):04X}) at position {position}{place} is not in the "
                        f"alphabet. Add it to the alphabet, or choose unknown='drop' or 'replace'. "
                        f"Received: text={text!r}"
                    )
            ids.append(i)
        return np.asarray(ids, dtype=np.int32)

    def decode(self, ids):
        """Turn ids back into text; the blank (0) and out-of-range ids are skipped."""
        n = len(self.characters)
        return "".join(self.characters[i - 1] for i in (int(v) for v in ids) if 0 < i <= n)

    @classmethod
    def from_texts(cls, texts, **kwargs):
        """Build the alphabet of every character in ``texts`` (sorted by code point)."""
        chars = set()
        for text in texts:
            chars.update(normalize_text(text))
        chars.discard("\n")
        if not chars:
            raise AlphabetError("Cannot build an alphabet from texts that hold no characters.")
        return cls(sorted(chars), **kwargs)

    def union(self, other_characters):
        """Return a new alphabet: these characters in order, then the new ones of ``other_characters``."""
        extra = sorted({normalize_text(c) for c in other_characters} - set(self.characters))
        return Alphabet(self.characters + "".join(extra), unknown=self.unknown, replacement=self.replacement)

    def get_config(self):
        return {"characters": self.characters, "unknown": self.unknown, "replacement": self.replacement}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(config.pop("characters"), **config)

    def to_json(self):
        return json.dumps(self.get_config(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text):
        return cls.from_config(json.loads(text))
