"""Fine-tuning: ``--alphabet union|new|keep`` (head surgery) and ``--freeze``, on the toy task."""

import sys
from pathlib import Path

import numpy as np
import pytest

from common.alphabet import Alphabet
from common.errors import AlphabetError, ConfigError
from common.fine_tuning import adapt_head, resize_head, widen_encoder
from common.model_file import load_model, save_model
from common.training import TrainConfig, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toy_task import ToyTask, write_dataset  # noqa: E402

TEXTS = ["abc", "dcb", "bad", "cab", "dab", "acd", "bda", "cca"]  # all of "abcd"


def base_model(characters, **settings):
    model = ToyTask().build_model(Alphabet(characters), **settings)
    rng = np.random.default_rng(0)  # a head whose rows all differ, so that moved rows would show
    model.head.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.head.get_weights()])
    return model


def head_rows(model):
    """``{character: (kernel column, bias)}`` of the output layer, the blank as ``""``."""
    kernel, bias = model.head.get_weights()
    characters = [""] + list(Alphabet.from_config(model.metadata["alphabet"]).characters)
    return {c: (kernel[:, i], bias[i]) for i, c in enumerate(characters)}


def fine_tune(tmp_path, base, **overrides):
    path = save_model(base, tmp_path / "base.keras")
    data = write_dataset(tmp_path / "data.txt", TEXTS)
    values = dict(data=data, val=data, out=str(tmp_path / "tuned.keras"), from_model=str(path), epochs=1,
                  batch_size=4, learning_rate=1e-2, augment=False, verbose=0, precision="float32")
    values.update(overrides)
    train(ToyTask(), TrainConfig(**values))
    return load_model(values["out"], task="toy")


def test_union_keeps_the_known_rows_exactly_and_adds_the_new_ones():
    base = base_model("cab")
    grown = resize_head(base, Alphabet("cab").union("d"))
    assert Alphabet.from_config(grown.metadata["alphabet"]).characters == "cabd"
    old, new = head_rows(base), head_rows(grown)
    for char in ("", "c", "a", "b"):
        np.testing.assert_array_equal(new[char][0], old[char][0])
        assert new[char][1] == old[char][1]
    # The new row starts from the mean of the known characters' rows, with a bias 2 lower.
    np.testing.assert_allclose(new["d"][0], np.mean([old[c][0] for c in "cab"], axis=0), rtol=1e-6)
    np.testing.assert_allclose(new["d"][1], np.mean([old[c][1] for c in "cab"]) - 2.0, rtol=1e-6)
    for target, source in zip(grown.frontend.get_weights() + grown.encoder.get_weights(),
                              base.frontend.get_weights() + base.encoder.get_weights()):
        np.testing.assert_array_equal(target, source)


def test_alphabet_new_builds_a_head_over_the_data_characters(capsys):
    base = base_model("dxcbya")
    tuned = adapt_head(base, "new", Alphabet("abcd"), TEXTS, TEXTS)
    assert Alphabet.from_config(tuned.metadata["alphabet"]).characters == "abcd"
    assert tuned.num_classes == 5
    old, new = head_rows(base), head_rows(tuned)
    assert set(new) == {"", "a", "b", "c", "d"}  # x and y are gone; the data's characters keep their rows
    for char in new:
        np.testing.assert_array_equal(new[char][0], old[char][0])
    assert "a new output layer over the data's 4 character(s)" in capsys.readouterr().err


def test_alphabet_policies_through_train(tmp_path):
    with pytest.raises(AlphabetError, match="not in the model's alphabet: 'd'"):
        fine_tune(tmp_path / "keep", base_model("abc"), alphabet="keep")
    tuned = fine_tune(tmp_path / "new", base_model("dxcbya"), alphabet="new")
    assert Alphabet.from_config(tuned.metadata["alphabet"]).characters == "abcd"
    assert tuned.head.get_weights()[0].shape[1] == 5


@pytest.mark.parametrize("freeze", ["frontend", "encoder"])
def test_freeze_trains_only_what_comes_after(tmp_path, freeze):
    base = base_model("abcd")
    tuned = fine_tune(tmp_path, base, freeze=freeze)

    def same(a, b):
        return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))

    assert same(tuned.frontend, base.frontend)  # (batch-norm statistics included)
    assert same(tuned.encoder, base.encoder) == (freeze == "encoder")
    assert not same(tuned.head, base.head)


def test_widen_keeps_what_the_model_computes():
    base = base_model("abcd", num_layers=2)
    rng = np.random.default_rng(1)  # biases away from their zero start, so that a misplaced gate block would show
    for layer in base.encoder.recurrent_layers:
        layer.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in layer.get_weights()])
    wide = widen_encoder(base, 24)
    assert wide.encoder.units == 24 and wide.head.get_weights()[0].shape == (48, 5)
    inputs = {"features": rng.uniform(0, 1, (3, 20, base.num_features)).astype("float32"),
              "lengths": np.array([20, 13, 7])}
    before, after = base(inputs)["logits"], wide(inputs)["logits"]
    np.testing.assert_allclose(np.asarray(after), np.asarray(before), atol=1e-5)
    # The new units compute something (their own weights are not zero), reaching the output through zero weights.
    new_kernel = wide.encoder.recurrent_layers[1].get_weights()[0][:, 16:24]
    assert np.abs(new_kernel).max() > 0
    assert widen_encoder(base, 16) is base
    with pytest.raises(ConfigError, match="can only grow the encoder: the model has 16 units"):
        widen_encoder(base, 8)


def test_widen_through_train(tmp_path):
    base = base_model("abcd")
    tuned = fine_tune(tmp_path, base, widen=20)
    assert tuned.encoder.units == 20
    kernel = tuned.head.get_weights()[0]
    assert kernel.shape == (40, 5) and np.abs(kernel[16:20]).max() > 0  # the new units' rows have learned
    with pytest.raises(ConfigError, match="--widen grows a model given with --from"):
        TrainConfig(data="d", out="m.keras", widen=20)
    with pytest.raises(ConfigError, match="--widen with --freeze encoder"):
        TrainConfig(data="d", out="m.keras", from_model="m0.keras", widen=20, freeze="encoder")
    for bad in (0, 2.5, True, "20"):
        with pytest.raises(ConfigError, match=r"\(--widen\), expected an integer >= 1"):
            TrainConfig(data="d", out="m.keras", from_model="m0.keras", widen=bad)


def test_average_weights_is_the_weighted_mean_and_refuses_other_shapes():
    from common.fine_tuning import average_weights

    a, b = base_model("abcd"), base_model("abcd")
    rng = np.random.default_rng(1)
    b.set_weights([w + rng.normal(size=w.shape).astype(w.dtype) for w in b.get_weights()])
    expected = [0.25 * x + 0.75 * y for x, y in zip(a.get_weights(), b.get_weights())]
    mixed = average_weights([a, b], weights=[1, 3])
    assert mixed is a
    for got, want in zip(mixed.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ConfigError, match="different alphabets"):
        average_weights([a, base_model("abcde")])
    with pytest.raises(ConfigError, match="differ in shape"):
        average_weights([a, base_model("abcd", units=12)])
    with pytest.raises(ConfigError, match="at least two"):
        average_weights([a])
