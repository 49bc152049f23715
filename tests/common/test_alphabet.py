import pytest

from common.alphabet import Alphabet
from common.errors import AlphabetError


def test_round_trip_and_blank_zero():
    alphabet = Alphabet("abc ")
    ids = alphabet.encode("cab a")
    assert ids.tolist() == [3, 1, 2, 4, 1]
    assert 0 not in ids
    assert alphabet.decode(ids) == "cab a"
    assert alphabet.num_classes == 5


def test_nfc_normalization():
    alphabet = Alphabet(["e", "\u00e9"])
    decomposed = "e\u0301"
    assert alphabet.encode(decomposed).tolist() == [2]


def test_unknown_error_names_character_and_place():
    alphabet = Alphabet("abc")
    with pytest.raises(AlphabetError) as info:
        alphabet.encode("abx", where="line_07.gt.txt")
    message = str(info.value)
    assert "'x'" in message and "position 2" in message and "line_07.gt.txt" in message


def test_unknown_drop_and_replace():
    assert Alphabet("ab", unknown="drop").encode("axb").tolist() == [1, 2]
    assert Alphabet("ab?", unknown="replace", replacement="?").encode("axb").tolist() == [1, 3, 2]
    with pytest.raises(AlphabetError):
        Alphabet("ab", unknown="replace", replacement="?")
    with pytest.raises(AlphabetError):
        Alphabet("ab", unknown="ignore")


def test_duplicates_and_empty_rejected():
    with pytest.raises(AlphabetError):
        Alphabet("aba")
    with pytest.raises(AlphabetError):
        Alphabet("")


def test_from_texts_json_and_union():
    alphabet = Alphabet.from_texts(["hello", "world"])
    assert alphabet.characters == "dehlorw"
    again = Alphabet.from_json(alphabet.to_json())
    assert again == alphabet
    bigger = alphabet.union("xyzd")
    assert bigger.characters.startswith(alphabet.characters)
    assert bigger.characters.endswith("xyz")
