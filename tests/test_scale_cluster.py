"""``ocr batch`` and ``speech batch`` on a real two-node Ray cluster started on this machine (slow; needs the
``scale`` extra): the same text as the plain command line for every file, work on both nodes, and a resume that
redoes nothing."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'ctc-toolkit[scale]'")
    from common.scale import local_cluster

    with local_cluster(2, cpus_per_node=1, temp_dir=tmp_path_factory.mktemp("ray")) as address:
        yield address


def _images(folder):
    from PIL import Image

    folder.mkdir()
    line = Image.open(ROOT / "ocr/samples/line.png")
    line.save(folder / "line.png")
    Image.open(ROOT / "ocr/samples/paragraph.png").save(folder / "paragraph.png")
    width, height = line.size
    for index, (left, right) in enumerate([(0, 0.5), (0.3, 1.0), (0.1, 0.7), (0.5, 1.0)]):
        line.crop((int(left * width), 0, int(right * width), height)).save(folder / f"crop{index}.png")
    (folder / "broken.png").write_bytes(b"<html>not an image</html>")
    return sorted(str(p) for p in folder.iterdir())


def _audio(folder):
    import soundfile

    folder.mkdir()
    samples, rate = soundfile.read(ROOT / "speech/samples/hello.wav")
    soundfile.write(folder / "hello.wav", samples, rate)
    soundfile.write(folder / "start.wav", samples[: int(2.2 * rate)], rate)
    soundfile.write(folder / "end.wav", samples[int(2.0 * rate):], rate)
    soundfile.write(folder / "quiet.wav", (0.5 * np.asarray(samples)), rate)
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    return sorted(str(p) for p in folder.iterdir())


def _run(*arguments):
    done = subprocess.run([sys.executable, "-m", *arguments], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ))
    return done


@pytest.mark.parametrize("task", ["ocr", "speech"])
def test_a_two_node_run_gives_the_command_lines_text_on_both_nodes(cluster, task, tmp_path):
    files = _images(tmp_path / "in") if task == "ocr" else _audio(tmp_path / "in")
    plain = _run(task, "read" if task == "ocr" else "transcribe", *files,
                 *(["--json"] if task == "ocr" else ["--format", "json"]))
    assert plain.returncode == 1, plain.stderr  # one broken file
    expected = {r["path"]: r for r in map(json.loads, plain.stdout.splitlines())}
    assert sorted(expected) == files

    out = tmp_path / "out"
    batch = _run(task, "batch", str(tmp_path / "in"), "--output-dir", str(out), "--address", cluster,
                 "--workers", "2", "--files-per-shard", "1")
    assert batch.returncode == 1, batch.stderr
    nodes = set(re.findall(r" on node (\w+)$", batch.stderr, flags=re.M))
    assert len(nodes) == 2, batch.stderr  # both nodes wrote shards
    assert f"{len(files)} of {len(files)}" in batch.stderr and "on 2 node(s)" in batch.stderr

    from common.scale import load_results

    results = load_results(out)
    assert sorted(results) == files
    for path in files:
        assert results[path]["text"] == expected[path]["text"], path
        assert results[path]["error"] == expected[path]["error"], path
    assert results == expected  # boxes, times and confidences too
    broken = next(path for path in files if "broken" in path)
    assert f"error: {expected[broken]['error']}" in batch.stderr.splitlines()

    again = _run(task, "batch", str(tmp_path / "in"), "--output-dir", str(out), "--address", cluster)
    assert again.returncode == 0, again.stderr
    assert f"0 of {len(files)}" in again.stderr and f"{len(files)} done before, skipped" in again.stderr


def test_without_an_address_a_ray_instance_is_started_for_the_run(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'ctc-toolkit[scale]'")
    import secrets

    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    # Ray's own token for the instance it starts (without one, Ray writes ~/.ray/auth_token)
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16), RAY_USAGE_STATS_ENABLED="0",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    out = tmp_path / "out"
    # Run from another folder, with a relative --output-dir: the workers must write where the driver means.
    done = subprocess.run([sys.executable, "-m", "ocr", "batch", str(ROOT / "ocr/samples"), "--output-dir", "out",
                           "--workers", "1", "--shard-format", "parquet"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    assert "2 of 2 images processed" in done.stderr and "on 1 node(s)" in done.stderr

    from common.scale import load_results
    from ocr.reader import Reader

    expected = {r.source: r.to_dict() for r in Reader.load().read([str(ROOT / "ocr/samples/line.png"),
                                                                    str(ROOT / "ocr/samples/paragraph.png")])}
    assert load_results(out) == expected
