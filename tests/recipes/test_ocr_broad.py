"""The OCR recipe's data plumbing: earlier stages' folders join the new lines through one manifest that the OCR
data reader loads, and the held-out prose source is refused as training text."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))

pytest.importorskip("cv2")
import ocr_broad  # noqa: E402
from ocr.data import load_line_dataset  # noqa: E402


def _line_folder(folder, texts):
    import cv2
    import numpy as np

    for i, text in enumerate(texts):
        shard = folder / f"shard{i % 2:02d}"
        shard.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(shard / f"{i:06d}.png"), np.full((32, 64), 255, np.uint8))
        (shard / f"{i:06d}.gt.txt").write_text(text, encoding="utf-8")


def test_the_training_manifest_joins_every_folder(tmp_path):
    _line_folder(tmp_path / "new", ["alpha beta", "f(x) = 1"])
    _line_folder(tmp_path / "old", ["gamma", "delta\t'quoted'", "0af21dcd"])
    out = tmp_path / "work" / "train_all.jsonl"
    out.parent.mkdir()

    assert ocr_broad.write_training_manifest([tmp_path / "new", tmp_path / "old"], out) == 5
    examples = load_line_dataset(out)
    assert sorted(e.text for e in examples) == sorted(["alpha beta", "f(x) = 1", "gamma", "delta\t'quoted'",
                                                       "0af21dcd"])
    assert all(e.image.is_absolute() and e.image.exists() for e in examples)
    assert not Path(f"{out}.partial").exists()


def test_the_held_out_prose_source_is_refused():
    with pytest.raises(ValueError, match="held-out"):
        ocr_broad.training_prose(("sotu", "moby_dick"))


def test_data_only_still_writes_the_manifest(tmp_path, monkeypatch):
    _line_folder(tmp_path / "work" / "train", ["alpha beta"])
    _line_folder(tmp_path / "old", ["gamma", "delta"])
    monkeypatch.setattr(ocr_broad, "render", lambda work, args: None)
    monkeypatch.setattr(sys, "argv", ["ocr_broad.py", "--work", str(tmp_path / "work"), "--data-only",
                                      "--extra-train", str(tmp_path / "old")])
    assert ocr_broad.main() == 0
    assert len(load_line_dataset(tmp_path / "work" / "train_all.jsonl")) == 3
