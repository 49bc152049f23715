"""Run every notebook in notebooks/ top to bottom, as CI would, and fail on any error.

Each notebook reads ``NOTEBOOK_SMOKE=1`` in its parameters cell and shrinks its data and training to seconds;
``NOTEBOOK_WORK`` sends what it writes to a temporary folder. The kernel is the ``python3`` kernel spec installed
(by a fixture) into a temporary Jupyter path for the interpreter running the tests, so it runs in this virtual
environment whatever other kernels the machine has.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 240  # seconds per cell; a smoke run's slowest cell takes ~20 s on 2 busy cores
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _missing_requirement(name):
    """Why a notebook cannot run on this machine, or None."""
    if name in ("speech_quickstart", "fine_tune_speech"):
        if shutil.which("espeak-ng") is None:
            return "espeak-ng is not installed"
    if name == "ocr_quickstart" and not DEJAVU.exists():
        return "DejaVu Sans is not installed (ocr synth)"
    if name == "fine_tune_ocr":
        try:
            import captcha  # noqa: F401
        except ImportError:
            return "the captcha package is not installed (pip install -e '.[notebooks]')"
    return None


@pytest.fixture(scope="module")
def jupyter_path(tmp_path_factory):
    """A Jupyter data folder holding a ``python3`` kernel spec that runs ``sys.executable``."""
    prefix = tmp_path_factory.mktemp("jupyter")
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", "python3"],
                   check=True, capture_output=True)
    return prefix / "share" / "jupyter"


@pytest.fixture
def notebook_env(jupyter_path, tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))  # searched before the user's and the system's kernels
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("NOTEBOOK_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    assert spec.argv[0] == sys.executable, f"the python3 kernel would run {spec.argv[0]}, not {sys.executable}"
    return tmp_path / "work"


def test_notebooks_exist():
    names = {p.stem for p in NOTEBOOKS}
    assert {"ocr_quickstart", "speech_quickstart", "fine_tune_ocr", "fine_tune_speech"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: clear the outputs"
    assert "NOTEBOOK_SMOKE" in notebook.cells[2].source, f"{path.name}: the third cell should be the parameters"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, notebook_env):
    reason = _missing_requirement(path.stem)
    if reason:
        pytest.skip(reason)
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    start = time.monotonic()
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on the first failing cell
    print(f"{path.name}: {time.monotonic() - start:.1f} s")
    figures = sum(1 for cell in notebook.cells if cell.cell_type == "code"
                  for output in cell.get("outputs", []) if "image/png" in output.get("data", {}))
    assert figures >= 2, f"{path.name}: expected its plots in the outputs, found {figures}"
    assert (notebook_env / path.stem).is_dir(), f"{path.name}: expected its files under NOTEBOOK_WORK"
