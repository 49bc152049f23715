"""OCR decoding with word knowledge: how tokens meet the LM (word_key), and hotwords/word lists through a decoder."""

import numpy as np

from common.alphabet import Alphabet
from common.lm import BeamSearchDecoder
from ocr.reader import word_key

ALPHABET = Alphabet("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:-' ")


def test_word_key_strips_punctuation_and_leaves_codes_alone():
    assert word_key("Hello,") == "hello" and word_key('"Call') == "call" and word_key("don't") == "don't"
    assert word_key("NASA") == "nasa"
    for code in ("A4", "2026-11-30", "getValue", "x86_64", "$5", "...", "v1.2"):
        assert word_key(code) == "", code


def test_codes_are_not_restricted_by_a_closed_word_list():
    # "Call 555-0199 now": the word list knows "call" and "now"; the number must pass untouched
    text = "Call 555-0199 now"
    rows = []
    for char in text:
        row = np.full(ALPHABET.num_classes, 1e-4)
        row[ALPHABET.encode(char)[0]] = 0.99
        rows += [row, np.eye(ALPHABET.num_classes)[0] * 0.99 + 1e-4]
    log_probs = np.log(np.array(rows) / np.array(rows).sum(axis=1, keepdims=True)).astype(np.float32)
    decoder = BeamSearchDecoder(ALPHABET, words=["call", "now"], word_key=word_key)
    assert decoder.decode(log_probs).text == text
    closed = BeamSearchDecoder(ALPHABET, words=["call"], word_key=word_key).decode(log_probs).text
    assert closed.startswith("Call 555-0199") and "now" not in closed.split()
