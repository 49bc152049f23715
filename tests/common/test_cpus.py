"""Cores a process may use: affinity, capped by a cgroup CPU quota (v1 or v2), never below 1."""

import os

import pytest

from common import cpus


def test_cgroup_quotas_in_cores():
    assert cpus.cgroup_cpu_limit(v2_text="max 100000\n") is None
    assert cpus.cgroup_cpu_limit(v2_text="150000 100000\n") == 1.5
    assert cpus.cgroup_cpu_limit(v2_text="garbage") is None
    assert cpus.cgroup_cpu_limit(v1_quota="-1\n", v1_period="100000\n") is None
    assert cpus.cgroup_cpu_limit(v1_quota="200000\n", v1_period="100000\n") == 2.0


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this platform")
def test_usable_cpus_follow_affinity_and_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    for limit, expected in ((None, 4), (1.5, 2), (0.2, 1), (16.0, 4)):
        monkeypatch.setattr(cpus, "cgroup_cpu_limit", lambda limit=limit: limit)
        cpus.usable_cpus.cache_clear()
        assert cpus.usable_cpus() == expected
    cpus.usable_cpus.cache_clear()


def test_exported_sessions_use_the_usable_cores(monkeypatch, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    seen = []
    real = onnxruntime.InferenceSession

    def spy(path, options, **kwargs):
        seen.append(options.intra_op_num_threads)
        return real(path, options, **kwargs)

    from pathlib import Path

    import ocr.preprocessor  # noqa: F401  (the OCR model's preprocessor)
    from common.export import ExportedModel

    shipped = Path(__file__).resolve().parents[2] / "ocr" / "models" / "default.onnx"
    if not shipped.is_file():
        pytest.skip("no shipped ONNX model")
    monkeypatch.setattr(onnxruntime, "InferenceSession", spy)
    monkeypatch.setattr(cpus, "usable_cpus", lambda: 1)
    monkeypatch.delenv("CTC_TOOLKIT_ONNX_THREADS", raising=False)
    ExportedModel(shipped)
    ExportedModel(shipped, num_threads=3)
    assert seen == [1, 3]
