import keras
import numpy as np
import pytest

from common.alphabet import Alphabet
from common.ctc import align, ctc_loss, decode

ALPHABET = Alphabet("ab")


def one_hot_logits(path, num_classes=3, high=8.0):
    logits = np.zeros((len(path), num_classes), dtype=np.float32)
    logits[np.arange(len(path)), path] = high
    return logits


def test_greedy_decode_merges_repeats_and_drops_blanks():
    # frames: a a _ a b b _  -> "aab"
    logits = one_hot_logits([1, 1, 0, 1, 2, 2, 0])[None]
    [result] = decode(logits, [7], ALPHABET)
    assert result.text == "aab"
    assert [(c.char, c.start, c.end) for c in result.characters] == [("a", 0, 1), ("a", 3, 3), ("b", 4, 5)]
    assert 0.9 < result.confidence <= 1.0



def reference_greedy(log_probs, alphabet):
    """Frame by frame: ``[(char, start, end, mean posterior)]`` of the best path."""
    spans, previous = [], 0
    for t, label in enumerate(log_probs.argmax(axis=-1)):
        if label and label == previous:
            spans[-1][2] = t
        elif label:
            spans.append([int(label), t, t])
        previous = label
    return [(alphabet.decode([k]), s, e, float(np.exp(log_probs[s:e + 1, k]).mean())) for k, s, e in spans]


@pytest.mark.parametrize("seed", range(5))
def test_greedy_decode_matches_a_frame_by_frame_reference(seed):
    from common.ctc import log_softmax

    rng = np.random.default_rng(seed)
    alphabet = Alphabet("abcde")
    logits = rng.normal(size=(8, 40, 6)).astype(np.float32) * rng.uniform(1, 5)
    logits[..., 0] += 1.5  # blanks between runs, as a trained model writes
    lengths = rng.integers(0, 41, size=8)
    for result, frames, length in zip(decode(logits, lengths, alphabet), log_softmax(logits), lengths):
        expected = reference_greedy(frames[:length], alphabet)
        assert result.text == "".join(c[0] for c in expected)
        assert [(c.char, c.start, c.end) for c in result.characters] == [c[:3] for c in expected]
        assert [c.confidence for c in result.characters] == pytest.approx([c[3] for c in expected], abs=1e-6)
        if expected:
            assert result.confidence == pytest.approx(np.mean([c[3] for c in expected]), abs=1e-6)


def test_lengths_cut_the_sequence():
    logits = one_hot_logits([1, 0, 2, 2])[None]
    assert decode(logits, [2], ALPHABET)[0].text == "a"
    assert decode(logits, [0], ALPHABET)[0].text == ""


def test_beam_search_finds_sum_over_paths():
    # Greedy picks blank at every frame, but "a" has more total probability over all paths.
    probs = np.array([[0.4, 0.35, 0.25], [0.4, 0.35, 0.25]], dtype=np.float32)
    logits = np.log(probs)[None]
    assert decode(logits, [2], ALPHABET)[0].text == ""
    beam = decode(logits, [2], ALPHABET, beam_width=8)[0]
    assert beam.text == "a"
    assert len(beam.characters) == 1


def test_align_gives_frame_spans():
    log_probs = np.log(np.full((6, 3), 1e-3) + one_hot_logits([1, 1, 0, 2, 0, 2], high=1.0))
    spans = align(log_probs, [1, 2, 2])
    assert [s[0] for s in spans] == [1, 2, 2]
    assert spans[0][1] == 0 and spans[1][1] == 3 and spans[2][1] == 5


def test_loss_finite_and_falls_on_toy_problem():
    rng = np.random.default_rng(0)
    labels = np.array([[1, 2, 1], [2, 2, 0]], dtype=np.int32)
    label_lengths = np.array([3, 2])
    logit_lengths = np.array([8, 6])
    logits = keras.Variable(rng.normal(size=(2, 8, 3)).astype("float32"))
    optimizer = keras.optimizers.Adam(0.1)
    import tensorflow as tf

    losses = []
    for _ in range(60):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(ctc_loss(labels, logits, label_lengths, logit_lengths))
        optimizer.apply_gradients([(tape.gradient(loss, logits.value), logits)])
        losses.append(float(loss))
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0] * 0.2
    decoded = decode(keras.ops.convert_to_numpy(logits), logit_lengths, ALPHABET)
    assert [d.text for d in decoded] == ["aba", "bb"]


def test_loss_equals_keras_ops_ctc_loss():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(3, 12, 5)).astype("float32")
    labels = np.array([[1, 2, 3, 4], [4, 4, 9, 9], [2, 0, 0, 0]], dtype=np.int32)  # padding values differ
    label_lengths = np.array([4, 2, 1])
    logit_lengths = np.array([12, 7, 3])
    ours = keras.ops.convert_to_numpy(ctc_loss(labels, logits, label_lengths, logit_lengths))
    reference = keras.ops.convert_to_numpy(
        keras.ops.ctc_loss(np.where(labels > 4, 0, labels), logits, label_lengths, logit_lengths, mask_index=0))
    np.testing.assert_allclose(ours, reference, rtol=1e-5)


def test_infeasible_sample_gets_zero_loss_instead_of_an_error():
    logits = np.zeros((2, 3, 3), dtype="float32")
    labels = np.array([[1, 2, 1, 2, 1], [1, 2, 0, 0, 0]], dtype=np.int32)
    loss = keras.ops.convert_to_numpy(ctc_loss(labels, logits, np.array([5, 2]), np.array([3, 3])))
    assert loss[0] == 0.0 and np.isfinite(loss[1]) and loss[1] > 0


def test_keras_path_of_the_loss_matches_tensorflow_kernel_and_zeroes_infeasible_samples():
    # The loss other backends use (CTC_TOOLKIT_BACKEND=jax) must agree with the TensorFlow kernel's.
    from common.ctc import _keras_ctc_loss

    rng = np.random.default_rng(5)
    logits = rng.normal(size=(4, 10, 5)).astype("float32")
    labels = np.array([[1, 2, 3, 4], [4, 4, 9, 9], [2, 2, 2, 0], [3, 3, 0, 0]], dtype=np.int32)
    label_lengths = np.array([4, 2, 3, 2])
    logit_lengths = np.array([10, 7, 4, 3])  # sample 2 needs 5 frames (2 blanks between the equal 2s): infeasible
    ours = keras.ops.convert_to_numpy(_keras_ctc_loss(labels, logits, label_lengths, logit_lengths))
    kernel = keras.ops.convert_to_numpy(ctc_loss(labels, logits, label_lengths, logit_lengths))
    feasible = [0, 1, 3]
    np.testing.assert_allclose(ours[feasible], kernel[feasible], rtol=1e-5)
    assert ours[2] == 0.0

    import tensorflow as tf

    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(_keras_ctc_loss(labels, variable, label_lengths, logit_lengths))
    gradient = tape.gradient(loss, variable).numpy()
    assert np.isfinite(gradient).all()
    assert not gradient[2].any()


def test_one_loss_mean_rule_counts_only_samples_whose_label_fits():
    # The rule training (Recognizer.compute_loss) and validation (val_loss) share: the mean over the samples whose
    # label fits their frames. Sample 0 is longer than its frames, sample 2 needs a blank between its equal 2s.
    from common.ctc import counted_ctc_loss, feasible
    from common.encoder import BiLSTMEncoder
    from common.frontend import ConvFrontend
    from common.recognizer import Recognizer

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 4, 4)).astype("float32")
    labels = np.array([[1, 2, 3, 1, 2], [1, 2, 0, 0, 0], [2, 2, 3, 0, 0], [3, 0, 0, 0, 0]], dtype=np.int32)
    label_lengths, logit_lengths = np.array([5, 2, 3, 1]), np.array([4, 4, 3, 4])
    assert keras.ops.convert_to_numpy(feasible(labels, label_lengths, logit_lengths)).tolist() == [
        False, True, False, True]
    loss, counts = (keras.ops.convert_to_numpy(t) for t in counted_ctc_loss(labels, logits, label_lengths,
                                                                            logit_lengths))
    assert counts.tolist() == [0.0, 1.0, 0.0, 1.0] and loss[0] == loss[2] == 0.0
    plain = keras.ops.convert_to_numpy(ctc_loss(labels, logits, label_lengths, logit_lengths))
    np.testing.assert_allclose(loss[[1, 3]], plain[[1, 3]], rtol=1e-6)
    mean = loss.sum() / counts.sum()
    assert mean == pytest.approx((plain[1] + plain[3]) / 2, rel=1e-6)  # not the mean over all four samples
    model = Recognizer(ConvFrontend(num_features=8, filters=(4,), time_strides=(1,), feature_strides=(2,),
                                    projection_units=8), BiLSTMEncoder(num_layers=1, units=4), 4)
    training_loss = model.compute_loss(y={"labels": labels, "label_lengths": label_lengths},
                                       y_pred={"logits": logits, "lengths": logit_lengths})
    assert float(keras.ops.convert_to_numpy(training_loss)) == pytest.approx(mean, rel=1e-6)
