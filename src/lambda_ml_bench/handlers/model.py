"""Loading the packaged model: model.json read and checked, sha256 compared, only the types it trusts rebuilt, the
loaded model checked against model.json. Any fault fails INIT with a message saying what is wrong."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import memory_mb
from .contract import ModelSpec
from .errors import ModelLoadError

MODEL_FILE = "model.skops"
MANIFEST_FILE = "model.json"
# The scikit-learn layer holds pandas in python/pandas-apart, off sys.path: scikit-learn imports pandas whenever it
# can, which would cost every model's cold start; a model fed a DataFrame puts it on (reach_apart). Not an import
# name, so nothing imports it by accident.
APART_DIR = "pandas-apart"
# The built-in model's types beyond skops' safe defaults. A user's model brings its own list in model.json
# (`lmb model import FILE --trust TYPE`); that list is the only one the loader trusts, and never beyond
# never_trusted().
BUILTIN_TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]


# Never loadable, whatever a trust list says: what executes code or reaches the system. A skops file names each
# type or function it rebuilds; one of these in a model file is an attack, not a model.
NEVER_TRUSTED_MODULES = {
    "os": "the operating system", "posix": "the operating system", "nt": "the operating system",
    "subprocess": "runs programs", "pty": "runs programs", "sys": "the interpreter itself",
    "importlib": "imports any code", "runpy": "runs any code", "code": "runs any code", "codeop": "compiles code",
    "ctypes": "calls native code", "cffi": "calls native code", "pickle": "runs code while unpickling",
    "_pickle": "runs code while unpickling", "marshal": "loads code objects", "dill": "runs code while unpickling",
    "cloudpickle": "runs code while unpickling", "joblib": "unpickles files", "shelve": "unpickles files",
    "shutil": "changes files", "pathlib": "reaches files", "io": "reaches files", "tempfile": "reaches files",
    "glob": "reaches files", "socket": "reaches the network", "ssl": "reaches the network",
    "urllib": "reaches the network", "http": "reaches the network", "ftplib": "reaches the network",
    "smtplib": "reaches the network", "webbrowser": "runs programs", "antigravity": "runs programs",
    "multiprocessing": "starts processes", "threading": "starts threads", "signal": "handles signals",
    "operator": "builds attribute and method gadgets", "functools": "builds call gadgets",
    "types": "builds functions and code", "inspect": "reaches frames and globals", "gc": "reaches every object",
    "builtins": None,  # decided per name below
}
NEVER_TRUSTED_BUILTINS = {"eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "open",
                          "input", "breakpoint", "globals", "locals", "vars", "help", "exit", "quit", "__build_class__",
                          "memoryview", "print"}
NEVER_TRUSTED_NAMES = {"numpy.load", "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.fromfile",
                       "numpy.memmap", "numpy.loadtxt", "numpy.genfromtxt", "numpy.ctypeslib", "numpy.f2py",
                       "numpy.testing", "scipy.io", "skops.io"}


def never_trusted(name: str) -> str | None:
    """Why a type or function named in a skops file may never be loaded, or None when a trust list may admit it."""
    parts = name.split(".")
    if any(p.startswith("__") and p.endswith("__") and p != "__init__" for p in parts[1:]):
        return "it reaches an object's internals (a dunder attribute)"
    if parts[0] == "builtins":
        return "it executes code or reaches the system" if parts[-1] in NEVER_TRUSTED_BUILTINS else None
    if why := NEVER_TRUSTED_MODULES.get(parts[0]):
        return f"{parts[0]} {why}"
    if any(name == n or name.startswith(n + ".") for n in NEVER_TRUSTED_NAMES):
        return "it reads or writes files, or loads code"
    return None


def refuse_never_trusted(names) -> str | None:
    """A message naming every never-loadable name among `names`, or None."""
    denied = [f"{n} ({why})" for n in names if (why := never_trusted(n))]
    if not denied:
        return None
    return ("the model names types that are never loadable, whatever --trust says: " + "; ".join(denied)
            + ". A model file holding them can run code on every machine that loads it")


# Caps checked before a skops file is loaded (at import and again at INIT): what it unpacks to, and how far it expands.
# A 0.3 MB file that unpacks to 300 MiB (x1,000) is a zip bomb, not a model; real models expand a few times at most.
MAX_UNPACKED_MB = 2048  # fits the largest function (10,240 MB) with room; INIT also caps it at half the memory size
MAX_EXPANSION = 100


class NotAnArchive(ValueError):
    """The bytes are not a zip archive at all (a pickle, say)."""


def inspect_archive(data: bytes, max_unpacked_mb: int = MAX_UNPACKED_MB, max_expansion: float = MAX_EXPANSION,
                    memory_mb: int | None = None) -> int:
    """Check a skops file before anything is unpacked: a zip, its total unpacked size and expansion within the
    caps (and within half of `memory_mb`), every array's declared shape matching its bytes. Returns the unpacked
    size; raises ValueError naming the part at fault."""
    import io
    import zipfile

    import numpy as np

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise NotAnArchive(f"not a skops file (a zip archive): {err}") from None
    unpacked = sum(m.file_size for m in members)
    mib = 1024 * 1024
    if unpacked > max_unpacked_mb * mib:
        raise ValueError(f"it unpacks to {unpacked / mib:,.0f} MiB, over the {max_unpacked_mb:,} MiB cap")
    if memory_mb is not None and unpacked > memory_mb * mib // 2:
        raise ValueError(f"it unpacks to {unpacked / mib:,.0f} MiB; a {memory_mb:,} MB function cannot load it "
                         "(half its memory at most): raise its memory size")
    if unpacked > 1 * mib and unpacked / max(1, len(data)) > max_expansion:
        raise ValueError(f"it expands {unpacked / len(data):,.0f} times ({len(data):,} bytes to {unpacked:,}), "
                         f"over the x{max_expansion:g} cap: a zip bomb, not a model")
    for m in members:
        if not m.filename.endswith(".npy"):
            continue
        try:
            with archive.open(m) as fh:
                version = np.lib.format.read_magic(fh)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read(fh)
                header = fh.tell()
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
            raise ValueError(f"its array {m.filename} has no readable header: {err}") from None
        if dtype.hasobject:
            raise ValueError(f"its array {m.filename} holds Python objects (pickled): never loadable")
        declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if declared != m.file_size - header:
            raise ValueError(f"its array {m.filename} declares shape {tuple(shape)} of {dtype} ({declared:,} bytes) "
                             f"but holds {m.file_size - header:,} bytes: truncated or forged")
    return unpacked


@dataclass(frozen=True)
class LoadedModel:
    estimator: Any
    spec: ModelSpec

    def identity(self) -> dict:
        return self.spec.identity()


def reach_apart(model_dir: Path) -> bool:
    """For a model that takes a DataFrame, put the layer's pandas-apart folder on sys.path (before scikit-learn is
    imported, which looks for pandas once). True when it did; a model.json that cannot be read is load()'s to
    report."""
    import sys

    try:
        if not read_spec(model_dir).schema.frame:
            return False
    except ModelLoadError:
        return False
    for k, entry in enumerate(sys.path):
        folder = Path(entry or ".") / APART_DIR
        if folder.is_dir():
            sys.path.insert(k + 1, str(folder))
            return True
    return False


def read_spec(model_dir: Path) -> ModelSpec:
    try:
        manifest = json.loads((model_dir / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"cannot read {model_dir / MANIFEST_FILE}: {err}") from None
    return ModelSpec.from_manifest(manifest)


def _read_checked(path: Path, sha256: str) -> bytes:
    """The file's bytes, only if they are the ones model.json names."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelLoadError(f"cannot read the model in {path.parent}: {err}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ModelLoadError(
            f"{path} has sha256 {actual}, but {MANIFEST_FILE} says {sha256}: "
            "the model file was altered or swapped; refusing to load it"
        )
    return data


def load(model_dir: Path) -> LoadedModel:
    spec = read_spec(model_dir)
    if spec.format != "skops":
        raise ModelLoadError(f"{spec.name} is a {spec.format} model file: the predict-{spec.backend} handler serves "
                             "it, not the scikit-learn one")
    if refusal := refuse_never_trusted(spec.trusted_types):  # model.json could have been edited: checked again
        raise ModelLoadError(f"{model_dir / MANIFEST_FILE}: {refusal}")
    model_path = model_dir / MODEL_FILE
    data = _read_checked(model_path, spec.sha256)
    try:
        inspect_archive(data, memory_mb=memory_mb())
    except ValueError as err:
        raise ModelLoadError(f"{model_path} is refused before loading: {err}") from None
    import skops.io

    try:
        estimator = skops.io.loads(data, trusted=list(spec.trusted_types))
    except Exception as err:  # skops raises several types for untrusted or malformed content
        raise ModelLoadError(f"{model_path} could not be loaded safely: {err}") from None
    spec.check(estimator)
    return LoadedModel(estimator, spec)


@dataclass(frozen=True)
class OnnxModel:
    session: Any  # an onnxruntime.InferenceSession
    input: str  # its one input's name
    spec: ModelSpec


def load_onnx(model_dir: Path, threads: int | None = None) -> OnnxModel:
    """The model's ONNX export in an ONNX Runtime session (CPU), checked like the skops file; `threads`: the vCPUs
    Lambda gives (ONNX Runtime would otherwise start a thread per host core)."""
    spec = read_spec(model_dir)
    if not spec.onnx.get("exported"):
        raise ModelLoadError(f"{spec.name} has no ONNX export ({spec.onnx.get('reason', 'model.json says none')}); "
                             "serve it with the scikit-learn predict handler")
    data = _read_checked(model_dir / spec.onnx["file"], spec.onnx["sha256"])
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: a converter's declared output shapes are warned on every run
    try:
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types for models it cannot load
        raise ModelLoadError(f"ONNX Runtime cannot load {spec.onnx['file']}: {err}") from None
    spec.check_onnx(session)
    return OnnxModel(session, session.get_inputs()[0].name, spec)
