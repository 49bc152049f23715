"""One self-contained ``.keras`` file per model: weights, alphabet, preprocessing settings, task, format version.

Files are written atomically (a temporary file in the same folder, then ``os.replace``), so a crash mid-save
leaves the previous file intact. They are read with Keras' safe mode on: a file carrying a Lambda layer or other
arbitrary code is refused. Before Keras deserializes anything, the archive's ``config.json`` is checked so that a
file that is not one of ours, was made for the other task, or comes from a newer format fails with a clear message.
"""

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import common  # noqa: F401  (pins the Keras backend)
from common.alphabet import Alphabet
from common.errors import ConfigError, ModelFileError, OutputError
from common.preprocessor import preprocessor_from_metadata

__all__ = ["FORMAT_VERSION", "OLDEST_FORMAT_VERSION", "MODEL_CLASS", "save_model", "read_metadata", "load_model",
           "atomic_write", "remove_stale_temporaries", "check_task_and_alphabet", "check_preprocessor", "lock_folder",
           "write_error", "file_sha256"]

FORMAT_VERSION = 2
"""The model-file layout this toolkit writes. 1: preprocessing settings as a flat ``"preprocessing"`` dict
(read, and upgraded to 2 on load); 2: the task's serialized preprocessor under ``"preprocessor"``."""

OLDEST_FORMAT_VERSION = 1
MODEL_CLASS = "Recognizer"
REGISTERED_NAME = f"ctc_toolkit>{MODEL_CLASS}"


_TEMP_MARK = ".tmp-"  # atomic_write's temporary files: .NAME.tmp-PID.SUFFIX


def atomic_write(path, write):
    """Call ``write(tmp_path)`` and move the result over ``path`` only when it succeeded.

    The temporary file sits in the same folder and keeps the final suffix (Keras insists on ``.keras``).

    Raises:
        OutputError: the file could not be written (disk full, read-only folder, ...); ``path`` is unchanged.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}{_TEMP_MARK}{os.getpid()}{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        if isinstance(error, OutputError):
            raise
        raise write_error(path, error) from None
    finally:
        try:
            if tmp.exists():
                tmp.unlink()
        except OSError:
            pass
    return path


def write_error(path, error, *, what="file"):
    """The :class:`~common.errors.OutputError` for an ``OSError`` while writing the ``what`` (file or folder)
    ``path``: one line, the cause in words, and that the previous file (if any) is intact."""
    reason = error.strerror or str(error) or type(error).__name__
    kept = " (the previous file is intact)" if what == "file" and Path(path).is_file() else ""
    return OutputError(f"{path}: cannot write the {what}: {reason}{kept}. Free some space or choose a writable "
                       f"folder. Received: errno={error.errno}")


@contextlib.contextmanager
def lock_folder(folder, *, what="training run", option="--out"):
    """Create ``folder`` and hold an exclusive lock on it while the block runs.

    The lock is an ``flock`` on ``folder/.lock``, which holds the owner's PID for the message and is removed when
    the block ends; the kernel drops the lock when the process ends, killed or not, so a crashed run never leaves a
    stale lock (only an unlocked file, which the next run takes over).

    Raises:
        ConfigError: another process holds the lock (its PID is named).
        OutputError: the folder cannot be created or written.
    """
    folder = Path(folder)
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield
        return
    path = folder / ".lock"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise write_error(folder, error, what="folder") from None
    while True:
        try:
            handle = open(path, "a+", encoding="ascii")
        except OSError as error:
            raise write_error(path, error) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise ConfigError(
                f"{folder}: another {what} (PID {owner}) is writing into this folder; two runs into one folder "
                f"would overwrite each other's files. Wait for it to end, or pass another {option}. "
                f"Received: PID {owner} holds {path}") from None
        try:
            if os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino:
                break  # still the lock file: a finishing owner may have removed the one this handle opened
        except FileNotFoundError:
            pass
        handle.close()
    try:
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
        except OSError as error:
            raise write_error(path, error) from None
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still locked: the folder is left as it was; a killed run leaves the file, unlocked
        handle.close()  # releases the lock


def remove_stale_temporaries(folder, *, of=None):
    """Delete temporary files of :func:`atomic_write` (``.NAME.tmp-PID.SUFFIX``) in ``folder`` whose process is gone
    (killed); only those of the file ``of`` when given."""
    pattern = f".{Path(of).stem}{_TEMP_MARK}*{Path(of).suffix}" if of is not None else f".*{_TEMP_MARK}*"
    for path in Path(folder).glob(pattern):
        try:
            pid = int(path.name.rsplit(_TEMP_MARK, 1)[1].split(".", 1)[0])
            os.kill(pid, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except PermissionError:
            continue


def file_sha256(path):
    """Hex SHA-256 of a file's bytes (a shipped export records the one of the ``.keras`` file it came from)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model, path):
    """Save a :class:`~common.recognizer.Recognizer` (with its optimizer state, if compiled) atomically."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"Model files must end in '.keras'. Received: path={str(path)!r}")
    metadata = model.metadata
    if "preprocessing" not in metadata:  # the current layout (a format-1 file of a task not imported stays 1)
        metadata["format_version"] = FORMAT_VERSION
    metadata.setdefault("format_version", OLDEST_FORMAT_VERSION)
    return atomic_write(path, lambda tmp: model.save(tmp))


def read_metadata(path, *, task=None):
    """Check a model file without building it, and return its metadata dict.

    Raises:
        ModelFileError: the file is missing, not a ``.keras`` archive, not one of this toolkit's models, made for
            another task than ``task``, from a newer (or no) format, its alphabet does not match its output layer,
            or its preprocessing settings are missing, invalid or not what its network takes.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found. Pass an existing .keras file. Received: path={str(path)!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise ModelFileError(f"{path}: not a Keras model file (.keras archive with config.json): {error}") from None
    registered = config.get("registered_name") if isinstance(config, dict) else None
    if registered != REGISTERED_NAME:
        received = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise ModelFileError(
            f"{path}: this Keras file is not a model of this toolkit (expected a {MODEL_CLASS}). "
            f"Received: class_name={received!r}"
        )
    inner = config.get("config")
    inner = inner if isinstance(inner, dict) else {}
    metadata = inner.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    version = metadata.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{path}: the model file has no format version; it was not written by this toolkit. "
                             f"Received: format_version={version!r}")
    if version < OLDEST_FORMAT_VERSION:
        raise ModelFileError(f"{path}: the model file has format version {version}, which this toolkit never wrote "
                             f"(it reads {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}); the file is edited or damaged. "
                             f"Received: format_version={version}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: the model file has format version {version}, newer than this toolkit reads "
            f"({FORMAT_VERSION}). Upgrade the toolkit. Received: format_version={version}"
        )
    check_task_and_alphabet(path, metadata, inner.get("num_classes"), task)
    check_preprocessor(path, metadata, _frontend_features(inner))
    return metadata


def _frontend_features(inner):
    """The network's input features, from the archive's config (``None`` when it does not say)."""
    frontend = inner.get("frontend")
    config = frontend.get("config", frontend) if isinstance(frontend, dict) else None
    value = config.get("num_features") if isinstance(config, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_preprocessor(path, metadata, num_features):
    """Refuse a model (``.keras`` or exported) whose preprocessing settings are missing (for a task that needs
    them), invalid, or give another number of features than its network's ``num_features``; returns the task's
    :class:`~common.preprocessor.Preprocessor` (or ``None``)."""
    return preprocessor_from_metadata(metadata, source=path, num_features=num_features)


def load_model(path, *, task=None, compile=False):
    """Load a model file with Keras' safe mode after checking it with :func:`read_metadata`.

    Args:
        path: the ``.keras`` file.
        task: ``"ocr"`` or ``"speech"`` to refuse a model of the other task; ``None`` accepts either.
        compile: restore the optimizer state too (for resuming training).

    Returns:
        a :class:`~common.recognizer.Recognizer`.
    """
    path = Path(path)
    read_metadata(path, task=task)
    import common.recognizer  # noqa: F401  (registers the classes before deserializing)

    if path.suffix != ".keras":
        # Keras only opens names ending in ".keras"; the archive was checked above, so a file renamed to
        # "model.KERAS" or "model" loads through a link with the name Keras wants.
        with tempfile.TemporaryDirectory(prefix="ctc-toolkit-model-") as folder:
            link = Path(folder) / "model.keras"
            try:
                link.symlink_to(path.resolve())
            except OSError:
                shutil.copyfile(path, link)
            return _load_checked(link, path, compile)
    return _load_checked(path, path, compile)


def _load_checked(path, name, compile):
    import keras  # here, not at the top: checking a file or running an exported model needs no TensorFlow

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=compile)
    except Exception as error:  # noqa: BLE001 - Keras raises many types; the user needs one message
        raise ModelFileError(f"{name}: the model could not be loaded safely: {_keras_reason(error)}") from None


def _keras_reason(error):
    """One line out of Keras' deserialization errors (which repeat the whole config over several lines)."""
    import re

    text = str(error)
    cause = text.rsplit("Exception encountered:", 1)[-1]
    cause = " ".join(cause.split())
    if "Lambda" in text and "safe_mode" in text:
        return ("it holds a Lambda layer, i.e. arbitrary Python code, which safe mode refuses to run; "
                "only load such a file with plain Keras if you trust its source")
    missing = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
    if missing:
        return (f"it uses the custom object {missing.group(1)!r}, which this toolkit does not define (a file from "
                f"another program, or edited). Received: class_name={missing.group(1)!r}")
    return cause[:300] + ("..." if len(cause) > 300 else "")


def check_task_and_alphabet(path, metadata, num_classes, task=None):
    """Refuse a model (a ``.keras`` file or an exported one) made for another task than ``task`` (``None``: any), or
    whose alphabet is missing, malformed or does not match its ``num_classes`` outputs; returns the Alphabet."""
    if task is not None and (not isinstance(metadata.get("task"), str) or not metadata.get("task")):
        raise ModelFileError(
            f"{path}: the model file names no task (it was not written by 'ocr train' or 'speech train', or was "
            f"edited); expected a {task} model. Received: task={metadata.get('task')!r}"
        )
    if task is not None and metadata.get("task") != task:
        raise ModelFileError(
            f"{path}: this is a model for the {metadata.get('task')!r} task, not for {task!r}. "
            f"Use the '{metadata.get('task')}' command with it, or pass a {task} model. "
            f"Received: task={metadata.get('task')!r}"
        )
    try:
        alphabet = Alphabet.from_config(metadata["alphabet"])
    except Exception as error:  # noqa: BLE001 - any malformed alphabet is the same problem to the user
        raise ModelFileError(f"{path}: the model carries no valid alphabet: {error}") from None
    if alphabet.num_classes != num_classes:
        raise ModelFileError(
            f"{path}: the alphabet has {len(alphabet)} characters (+ blank = {alphabet.num_classes} classes) but the "
            f"output layer has {num_classes} classes; the file is inconsistent. Received: num_classes={num_classes}"
        )
    return alphabet
