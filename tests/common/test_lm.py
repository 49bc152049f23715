"""Decoding with word knowledge (common.lm) and the n-gram builder (common.ngram)."""

import gzip
import json

import numpy as np
import pytest

from common.alphabet import Alphabet
from common.ctc import decode
from common.errors import ConfigError, ModelFileError
from common.limits import check_beam_width
from common.lm import BeamSearchDecoder, LanguageModel, make_decoder, parse_hotwords
from common.ngram import build_arpa, kneser_ney

kenlm = pytest.importorskip("kenlm")

ALPHABET = Alphabet("abcdefghijklmnopqrstuvwxyz' ")
SENTENCES = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the cat ate the rat"] * 3


def frames(spec):
    """Log-probabilities from a list of ``{char: prob}`` per frame (``_`` = blank; the rest of the mass on blank)."""
    rows = []
    for probs in spec:
        row = np.full(ALPHABET.num_classes, 1e-4)
        for char, p in probs.items():
            row[0 if char == "_" else ALPHABET.encode(char)[0]] = p
        row[0] += max(0.0, 1 - row.sum())
        rows.append(np.log(row / row.sum()))
    return np.array(rows, dtype=np.float32)


def spoken(text, ambiguous=None, sure=0.9):
    """Frames saying ``text``: each character (``sure``) then a blank; ``ambiguous``: {index: {char: prob}}."""
    spec = []
    for i, char in enumerate(text):
        spec += [(ambiguous or {}).get(i, {char: sure}), {"_": sure}]
    return frames(spec)


# "the cot sat" by the acoustics (o: 0.55, a: 0.45), "the cat sat" by the LM
AMBIGUOUS = spoken("the cat sat", {5: {"a": 0.45, "o": 0.55}})


@pytest.fixture(scope="module")
def arpa(tmp_path_factory):
    path = tmp_path_factory.mktemp("lm") / "toy.arpa"
    build_arpa([s.split() for s in SENTENCES], path, order=3)
    return path


def test_kneser_ney_distributions_sum_to_one(arpa):
    model = kenlm.Model(str(arpa))
    words = sorted({w for s in SENTENCES for w in s.split()}) + ["</s>", "<unk>"]
    for context in ([], ["the"], ["the", "cat"], ["on", "the"], ["zebra"]):
        state, out = kenlm.State(), kenlm.State()
        model.NullContextWrite(state)
        for word in context:
            model.BaseScore(state, word, out)
            state, out = out, state
        total = sum(10 ** model.BaseScore(state, w, kenlm.State()) for w in words)
        assert total == pytest.approx(1.0, abs=1e-4), context


def test_kneser_ney_prefers_seen_word_order(arpa):
    model = kenlm.Model(str(arpa))
    assert model.score("the cat sat on the mat") > model.score("mat the on sat cat the") + 3


def test_kneser_ney_rejects_bad_order_and_empty_text():
    with pytest.raises(ConfigError, match="order"):
        kneser_ney([["a"]], 0)
    with pytest.raises(ConfigError, match="no words"):
        kneser_ney([[], []], 3)


def test_sidecar_written_with_settings(arpa):
    data = json.loads(arpa.with_name(arpa.name + ".json").read_text())
    assert set(data["settings"]) >= {"alpha", "beta", "beam_width"} and data["ngrams"]["1"] == 11 + 3  # words, <s>, </s>, <unk>


def test_lm_corrects_a_misspelled_word(arpa):
    assert decode(AMBIGUOUS[None], [len(AMBIGUOUS)], ALPHABET)[0].text == "the cot sat"
    decoder = BeamSearchDecoder(ALPHABET, lm=LanguageModel.load(arpa), alpha=0.5, beta=1.0, beam_width=16)
    assert decoder.decode(AMBIGUOUS).text == "the cat sat"


def test_spans_match_greedy_for_the_same_text(arpa):
    clear = spoken("the cat sat")
    greedy = decode(clear[None], [len(clear)], ALPHABET)[0]
    fused = BeamSearchDecoder(ALPHABET, lm=LanguageModel.load(arpa)).decode(clear)
    assert fused.text == greedy.text == "the cat sat"
    assert [(c.char, c.start, c.end) for c in fused.characters] == [(c.char, c.start, c.end) for c in greedy.characters]
    assert fused.confidence == pytest.approx(greedy.confidence)


def test_n_best_lists_distinct_texts_best_first(arpa):
    decoded = BeamSearchDecoder(ALPHABET, lm=LanguageModel.load(arpa), beam_width=16).decode(AMBIGUOUS, num_best=3)
    texts = [t for t, _ in decoded.alternatives]
    scores = [s for _, s in decoded.alternatives]
    assert texts[0] == decoded.text and len(set(texts)) == 3 and scores == sorted(scores, reverse=True)


def test_open_vocabulary_keeps_unknown_words(arpa):
    decoder = BeamSearchDecoder(ALPHABET, lm=LanguageModel.load(arpa), unk_offset=-5)
    assert decoder.decode(spoken("the zyx", sure=0.995)).text == "the zyx"
    # a closed vocabulary cannot write it
    assert BeamSearchDecoder(ALPHABET, words=["the"]).decode(spoken("the zyx", sure=0.995)).text == "the"


def test_closed_word_list_allows_only_listed_words():
    assert BeamSearchDecoder(ALPHABET, words=["the", "cat", "sat"]).decode(AMBIGUOUS).text == "the cat sat"
    assert BeamSearchDecoder(ALPHABET, words=["the", "cot", "sat"]).decode(AMBIGUOUS).text == "the cot sat"
    # nothing fits: the empty text, not an error
    assert BeamSearchDecoder(ALPHABET, words=["dog"]).decode(spoken("cat")).text == ""


def test_hotword_flips_an_ambiguous_word():
    assert BeamSearchDecoder(ALPHABET).decode(AMBIGUOUS).text == "the cot sat"
    assert BeamSearchDecoder(ALPHABET, hotwords="cat:4").decode(AMBIGUOUS).text == "the cat sat"


def test_parse_hotwords():
    assert parse_hotwords("Kubernetes, nginx:2.5,new york:3") == {"Kubernetes": 5.0, "nginx": 2.5, "new": 3.0,
                                                                    "york": 3.0}
    with pytest.raises(ConfigError, match="hotword"):
        parse_hotwords("nginx:lots")


def test_beam_width_is_bounded():
    assert check_beam_width(None) is None and check_beam_width(8) == 8
    for bad in (0, -1, 10**6, 2.5, True, "8"):
        with pytest.raises(ConfigError, match="beam_width"):
            check_beam_width(bad)


@pytest.mark.parametrize("content, problem", [
    (None, "no such language model"),
    (b"hello world, not a model\n", "not a language model"),
    (b"\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\t<s>\n", "truncated"),
    (b"mmap lm http://kheafield.com/code format version 5\n\0\0\0garbage", "word list|truncated|corrupt"),
])
def test_bad_lm_files_are_one_clear_error(tmp_path, content, problem):
    path = tmp_path / "bad.lm"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=problem) as caught:
        LanguageModel.load(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_truncated_arpa_with_words_is_refused(arpa, tmp_path):
    path = tmp_path / "cut.arpa"
    path.write_bytes(arpa.read_bytes()[: len(arpa.read_bytes()) * 2 // 3])
    with pytest.raises(ModelFileError, match="cut.arpa: cannot load the language model"):
        LanguageModel.load(path)


def test_binary_lm_reads_words_from_its_sidecar(arpa, tmp_path):
    # a "binary" is faked by a gzipped ARPA plus a sidecar naming a gzipped word list
    path = tmp_path / "toy.lm"
    path.write_bytes(gzip.compress(arpa.read_bytes()))
    with gzip.open(tmp_path / "words.gz", "wt") as out:
        out.write("the\ncat\nzebra\n")
    (tmp_path / "toy.lm.json").write_text(json.dumps({"settings": {"alpha": 0.25, "beam_width": 7},
                                                      "words_file": "words.gz"}))
    lm = LanguageModel.load(path)
    assert "zebra" in lm.words and lm.settings.alpha == 0.25
    assert BeamSearchDecoder(ALPHABET, lm=lm).beam_width == 7


def test_default_lm_missing_warns_once_and_decodes_plainly(tmp_path, capsys):
    missing = tmp_path / "missing.lm"
    assert make_decoder(ALPHABET, lm="default", default_lm=missing) is None
    assert make_decoder(ALPHABET, lm="default", default_lm=missing) is None
    assert capsys.readouterr().err.count("decoding without a language model") == 1
    with pytest.raises(ModelFileError, match="no such language model"):
        make_decoder(ALPHABET, lm=str(missing), default_lm=missing)
