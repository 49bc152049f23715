import re

import pytest

from common.errors import ConfigError
from common.prose import docstring_sentences


def test_parts_are_disjoint_prose_and_cover_all():
    train, test, every = (docstring_sentences(s) for s in ("train", "test", "all"))
    assert len(train) > 1000 and len(test) > 50
    assert not set(train) & set(test) and set(train) | set(test) == set(every)
    assert 0.05 < len(test) / len(every) < 0.15  # test_fraction=0.1, by hash
    for sentence in test:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9 ,;'\-]*[.!?]", sentence), sentence
        assert 4 <= len(sentence.split()) <= 24


def test_deterministic_and_bounds():
    assert docstring_sentences("test") == docstring_sentences("test")
    short = docstring_sentences("all", min_words=4, max_words=6)
    assert short and all(4 <= len(s.split()) <= 6 for s in short)


@pytest.mark.parametrize("kwargs", [{"split": "dev"}, {"test_fraction": 0}, {"test_fraction": 1.5}])
def test_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        docstring_sentences(**kwargs)
