"""Command-line pieces both tasks share: the native-stderr filter, output planning, exit statuses."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from common.cli import MAX_FAILURE_STATUS, plan_outputs, report_failures
from common.errors import ConfigError
from common.quiet import is_native_noise

ROOT = Path(__file__).resolve().parents[2]

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796046163.338900    8064 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.",
    "E0000 00:00:1796046169.045643    8064 util.cc:131] oneDNN supports DT_BOOL only on platforms with AVX-512.",
    "W0000 00:00:1796046169.045643    8064 cpu_feature_guard.cc:210] This TensorFlow binary is optimized",
]


def test_native_noise_is_recognised_and_the_rest_is_not():
    assert all(is_native_noise(line) for line in NOISE)
    for line in ("error: a.png: no such file", "F0000 00:00:1796046169.045643    8064 util.cc:131] fatal",
                 "I like TensorFlow", "epoch 1: val_cer=12.5%", " 50%|#####     | 5/10"):
        assert not is_native_noise(line), line


def test_quiet_native_stderr_drops_only_the_notices_and_verbose_keeps_them():
    script = textwrap.dedent(f"""
        import os, sys
        from common.quiet import quiet_native_stderr
        noise = {NOISE!r}
        with quiet_native_stderr(enabled=sys.argv[1] == "quiet"):
            for line in noise[:2]:
                os.write(2, (line + "\\n").encode())
            print("progress 50%", end="\\r", file=sys.stderr, flush=True)
            os.write(2, b"native: a real problem\\n" + (noise[2] + "\\n").encode())
            print("python: done", file=sys.stderr)
        os.write(2, b"after the block\\n")
    """)
    quiet = subprocess.run([sys.executable, "-c", script, "quiet"], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
    assert quiet.returncode == 0, quiet.stderr
    lines = quiet.stderr.replace("\r", "\n").splitlines()
    assert not any(is_native_noise(line) for line in lines), quiet.stderr
    assert {"progress 50%", "native: a real problem", "python: done", "after the block"} <= set(lines)
    verbose = subprocess.run([sys.executable, "-c", script, "verbose"], cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
    assert sum(is_native_noise(line) for line in verbose.stderr.splitlines()) == 3


def test_plan_outputs_names_after_the_inputs_and_never_overwrites_silently(tmp_path):
    out = tmp_path / "out"
    plans = plan_outputs(["a/scan.png", "b/scan.png", "-", "c/talk.wav"], out, [".txt", ".json"])
    assert [[p.name for p in paths] for paths in plans] == [
        ["scan.txt", "scan.json"], ["scan-2.txt", "scan-2.json"], ["stdin.txt", "stdin.json"],
        ["talk.txt", "talk.json"]]
    out.mkdir()
    (out / "talk.json").write_text("kept")
    with pytest.raises(ConfigError, match=r"talk\.json: exists already; pass --overwrite"):
        plan_outputs(["c/talk.wav"], out, [".txt", ".json"])
    assert plan_outputs(["c/talk.wav"], out, [".json"], overwrite=True) == [[out / "talk.json"]]
    with pytest.raises(ConfigError, match="must be a folder"):
        plan_outputs(["x.png"], out / "talk.json", [".txt"])


def test_exit_status_counts_the_failed_inputs(capsys):
    assert report_failures([], total=3, what="images") == 0
    assert report_failures(["a: bad", "b: bad"], total=3, what="images") == 2
    assert "2 of 3 images failed" in capsys.readouterr().err
    assert report_failures(["x"] * 250, total=250, what="files") == MAX_FAILURE_STATUS
