"""End to end: a tiny OCR model overfits ~20 rendered lines, then the Reader and `ocr read` use it."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.metrics import cer
from common.training import TrainConfig, train
from ocr.cli import main as ocr_main
from ocr.reader import Reader
from ocr.synth import render_line
from ocr.task import OcrTask

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
pytestmark = pytest.mark.skipif(not DEJAVU.exists(), reason="DejaVu Sans is not installed")

TEXTS = ["cab 12", "bad ace", "a1 b2 c3", "dead beef", "face 9", "bead 40", "cafe 7", "deed", "fad 31",
         "be a cab", "add 5", "ebb 86", "0 fee", "cede 2", "bab 64", "dab 77", "aced", "fed 13", "decaf", "bee 8"]


def write_lines(folder, texts, seed):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, text in enumerate(texts):
        Image.fromarray(render_line(text, DEJAVU, size=28, rng=rng, degrade=False)).save(folder / f"{i:03d}.png")
        (folder / f"{i:03d}.gt.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ocr_overfit")
    data = write_lines(root / "lines", TEXTS, seed=0)
    config = TrainConfig(
        data=str(data), val=str(data), out=str(root / "tiny.keras"), epochs=150, batch_size=5,
        learning_rate=3e-3, patience=150, augment=False, verbose=0,
        model={"units": 48, "num_layers": 1, "filters": (8, 16, 32), "projection_units": 48, "dropout": 0.0},
    )
    history = train(OcrTask(), config)
    return root, data, Path(config.out), history


def test_tiny_model_overfits_to_cer_zero(trained):
    _, data, model_path, history = trained
    assert min(history.history["val_cer"]) == 0.0
    reader = Reader.load(model_path)
    results = reader.read(sorted(data.glob("*.png")))
    assert cer(TEXTS, [r.text for r in results]) == 0.0
    assert all(r.ok and 0.5 < r.confidence <= 1.0 for r in results)
    # Characters come with positions inside the image, left to right.
    chars = results[0].characters
    assert "".join(c.char for c in chars) == TEXTS[0]
    assert all(a.x0 <= b.x0 for a, b in zip(chars, chars[1:]))
    width = Image.open(sorted(data.glob("*.png"))[0]).width
    assert all(0 <= c.x0 <= c.x1 <= width for c in chars)


def test_reader_takes_arrays_and_beam_search(trained):
    _, data, model_path, _ = trained
    reader = Reader.load(model_path)
    image = np.array(Image.open(data / "003.png"))
    [greedy] = reader.read(image)
    [beam] = reader.read([image], beam_width=8)
    assert greedy.text == beam.text == TEXTS[3]
    assert greedy.source == "array #0"


def test_training_resumes_from_checkpoint(trained):
    root, data, model_path, _ = trained
    run = model_path.with_name("tiny_run")
    state = json.loads((run / "state.json").read_text())
    config = TrainConfig(data=str(data), val=str(data), out=str(model_path), epochs=state["epoch"] + 2,
                         batch_size=5, resume=True, augment=False, verbose=0)
    history = train(OcrTask(), config)
    assert history.epoch == [state["epoch"] + 1]
    settings = json.loads((run / "settings.json").read_text())
    assert settings["training"]["resume"] is True and settings["task"] == "ocr"
    assert (run / "log.csv").read_text().count("\n") >= state["epoch"] + 2


def test_ocr_read_json_and_bad_inputs(trained, tmp_path, capsys):
    _, data, model_path, _ = trained
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text_file = tmp_path / "notes.png"
    text_file.write_text("this is not an image")
    good = [str(data / "000.png"), str(data / "001.png")]
    status = ocr_main(["read", "--model", str(model_path), "--json", good[0], str(empty),
                       str(tmp_path / "missing.png"), str(text_file), good[1]])
    out, err = capsys.readouterr()
    assert status == 3  # the number of images that failed
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in records if r["error"] is None] == TEXTS[:2]
    assert [r["path"] for r in records] == [good[0], str(empty), str(tmp_path / "missing.png"), str(text_file),
                                            good[1]]
    assert [r["path"] for r in records if r["error"]] == [str(empty), str(tmp_path / "missing.png"), str(text_file)]
    assert "missing.png" in records[2]["error"] and records[2]["text"] == ""
    assert set(records[0]) >= {"path", "text", "confidence", "lines"}
    assert records[0]["lines"][0]["characters"][0]["char"] == TEXTS[0][0]
    words = records[0]["lines"][0]["words"]
    assert [w["text"] for w in words] == TEXTS[0].split()
    line_box = records[0]["lines"][0]["box"]
    assert all(line_box[0] <= w["box"][0] < w["box"][2] <= line_box[2] for w in words)
    assert all(a["box"][2] <= b["box"][0] for a, b in zip(words, words[1:]))  # left to right, not overlapping
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert any("empty.png" in line for line in errors)
    assert any("missing.png" in line for line in errors)
    assert any("notes.png" in line for line in errors)


def test_ocr_read_plain_and_eval(trained, capsys):
    _, data, model_path, _ = trained
    assert ocr_main(["read", "--model", str(model_path), str(data / "002.png")]) == 0
    assert capsys.readouterr().out.strip() == TEXTS[2]
    assert ocr_main(["eval", "--model", str(model_path), "--data", str(data), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["cer"] == 0.0 and figures["count"] == len(TEXTS)


def test_page_is_read_line_by_line(trained, tmp_path):
    _, data, model_path, _ = trained
    lines = [np.array(Image.open(data / f"{i:03d}.png").convert("L")) for i in range(3)]
    width = max(line.shape[1] for line in lines)
    page = np.full((sum(line.shape[0] + 12 for line in lines) + 20, width + 40), 255, dtype=np.uint8)
    top = 10
    for line in lines:
        page[top:top + line.shape[0], 20:20 + line.shape[1]] = line
        top += line.shape[0] + 12
    [result] = Reader.load(model_path).read(page, layout="auto")
    assert result.text.split("\n") == TEXTS[:3]
    assert len(result.lines) == 3


def test_wrong_task_model_is_refused(tmp_path, capsys):
    from common.model_file import save_model
    from speech.task import build_speech_model

    path = save_model(build_speech_model(num_layers=1, units=8), tmp_path / "speech.keras")
    assert ocr_main(["read", "--model", str(path), "x.png"]) == 2
    assert "'speech' task" in capsys.readouterr().err



def test_prepared_images_read_as_the_images_do(trained, tmp_path):
    """``Reader.prepare`` does the work before the network (what the server does in its request threads): reading
    the prepared images gives the same results as reading the files, a bad one keeps its own error, and the
    prepared ones can be mixed with plain inputs in one call."""
    _, data, model_path, _ = trained
    reader = Reader.load(model_path)
    paths = sorted(data.glob("*.png"))[:4]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    prepared = [reader.prepare(path.read_bytes(), name=path.name) for path in paths]
    assert all(p.ok and len(p.lines) == 1 for p in prepared)
    bad = reader.prepare(broken)
    assert not bad.ok and bad.error.startswith(f"{broken}: ") and bad.lines == ()
    direct = reader.read(paths + [broken])
    mixed = reader.read(prepared[:2] + paths[2:] + [bad])
    assert [r.text for r in mixed] == [r.text for r in direct]
    assert [r.source for r in mixed[:2]] == [p.name for p in paths[:2]]
    assert mixed[-1].error == direct[-1].error
    assert [c.x0 for c in mixed[0].characters] == [c.x0 for c in direct[0].characters]
    assert reader.read(prepared[0])[0].text == direct[0].text
    with pytest.raises(Exception, match="layout must be one of"):
        reader.prepare(paths[0], layout="column")


@pytest.mark.parametrize("value", [1.0, 0.5, 5, True, "2"])
def test_reader_refuses_a_bad_dense_stretch(trained, value):
    from common.errors import ConfigError

    _, _, model_path, _ = trained
    with pytest.raises(ConfigError, match="dense_stretch"):
        Reader.load(model_path, dense_stretch=value)
