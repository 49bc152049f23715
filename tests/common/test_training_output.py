"""What a training run prints, and how much it holds out for validation by default."""

import pytest

from common.errors import ConfigError
from common.train_callbacks import format_epoch
from common.train_config import MIN_VAL_ITEMS, TrainConfig, validation_count
from common.training import split_validation


def test_epoch_line_gives_rates_as_percentages():
    logs = {"loss": 464.41171, "val_loss": 223.6581, "val_cer": 0.9788, "val_wer": 1.0, "val_exact": 0.0,
            "learning_rate": 0.001}
    line = format_epoch(0, 100, logs, 12.4)
    assert line == ("epoch 1/100: loss 464.4, val_loss 223.7, val_cer 97.88%, val_wer 100.00%, val_exact 0.00%, "
                    "lr 0.001, 12 s")
    assert "e+00" not in line


@pytest.mark.parametrize("num_examples, expected", [(2, 1), (20, 4), (100, 20), (250, 50), (1000, 50),
                                                    (5000, 250), (100_000, 1000)])
def test_default_validation_share_fits_small_data_sets(num_examples, expected):
    assert validation_count(num_examples) == expected
    assert validation_count(num_examples) <= max(1, num_examples // 5) or num_examples * 0.05 > MIN_VAL_ITEMS


def test_an_explicit_fraction_is_taken_as_given():
    assert validation_count(100, 0.05) == 5
    train, val = split_validation(list(range(100)), None, seed=0)
    assert len(val) == 20 and sorted(train + val) == list(range(100))
    with pytest.raises(ConfigError, match="--val-fraction must be in"):
        TrainConfig(data="d", out="m.keras", val_fraction=0.7)
    assert TrainConfig(data="d", out="m.keras").val_fraction is None
