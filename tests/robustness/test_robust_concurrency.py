"""One Reader (and one Transcriber) shared between threads gives what sequential use gives; two processes can
load and use the same model file at once."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from speech.audio import SAMPLE_RATE

ROOT = Path(__file__).resolve().parents[2]


def _lines(seed, count):
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        width = int(rng.integers(40, 400))
        gray = np.full((32, width), 235, np.uint8)
        for x in range(4, width - 8, int(rng.integers(5, 12))):
            gray[8:24, x:x + int(rng.integers(1, 4))] = int(rng.integers(0, 60))
        images.append(gray)
    return images


def _clips(seed, count):
    rng = np.random.default_rng(seed)
    return [(0.2 * rng.standard_normal(int(rng.integers(1600, 24000)))).astype(np.float32) for _ in range(count)]


def _run_in_threads(work, jobs, *, repeats=3):
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(work, jobs * repeats))


@pytest.mark.time_limit(90)
def test_reader_shared_between_threads(reader):
    jobs = [_lines(seed, 12) for seed in range(4)]
    sequential = [[(r.text, r.confidence) for r in reader.read(job)] for job in jobs]
    threaded = _run_in_threads(lambda job: [(r.text, r.confidence) for r in reader.read(job, chunk_size=5)], jobs)
    for index, result in enumerate(threaded):
        expected = sequential[index % len(jobs)]
        assert [t for t, _ in result] == [t for t, _ in expected]
        np.testing.assert_allclose([c for _, c in result], [c for _, c in expected], atol=1e-5)


@pytest.mark.time_limit(90)
def test_transcriber_shared_between_threads(transcriber):
    jobs = [_clips(seed, 6) for seed in range(4)]
    sequential = [[r.to_dict() for r in transcriber.transcribe(job, sample_rate=SAMPLE_RATE)] for job in jobs]
    threaded = _run_in_threads(
        lambda job: [r.to_dict() for r in transcriber.transcribe(job, sample_rate=SAMPLE_RATE, files_per_group=2)],
        jobs)
    for index, result in enumerate(threaded):
        expected = sequential[index % len(jobs)]
        assert [r["text"] for r in result] == [r["text"] for r in expected]
        assert [len(r["segments"]) for r in result] == [len(r["segments"]) for r in expected]


_CHILD = """
import json, sys
import numpy as np
from ocr.reader import Reader
image = np.full((32, 200), 235, np.uint8); image[8:24, 10:190:7] = 0
result = Reader.load(sys.argv[1]).read(image)[0]
print(json.dumps([result.text, result.confidence]))
"""


@pytest.mark.time_limit(120)
def test_two_processes_use_the_same_model_file_at_once(tiny_models, reader):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, "-c", _CHILD, str(tiny_models["ocr"])]
    children = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=110)
        assert child.returncode == 0, err[-2000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    image = np.full((32, 200), 235, np.uint8)
    image[8:24, 10:190:7] = 0
    expected = reader.read(image)[0]
    for text, confidence in outputs:
        assert text == expected.text and abs(confidence - expected.confidence) < 1e-5
