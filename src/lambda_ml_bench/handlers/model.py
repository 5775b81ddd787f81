"""Loading the packaged model: model.json read and checked, sha256 compared, only the types it trusts rebuilt, the
loaded model checked against model.json. Any fault fails INIT with a message saying what is wrong."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .contract import ModelSpec
from .errors import ModelLoadError

MODEL_FILE = "model.skops"
MANIFEST_FILE = "model.json"
# The built-in model's types beyond skops' safe defaults. A user's model brings its own list in model.json
# (`python -m layer_build model import FILE --trust TYPE`); that list is the only one the loader trusts.
BUILTIN_TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]


@dataclass(frozen=True)
class LoadedModel:
    estimator: Any
    spec: ModelSpec

    def identity(self) -> dict:
        return self.spec.identity()


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
    model_path = model_dir / MODEL_FILE
    data = _read_checked(model_path, spec.sha256)
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
    try:
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types for models it cannot load
        raise ModelLoadError(f"ONNX Runtime cannot load {spec.onnx['file']}: {err}") from None
    spec.check_onnx(session)
    return OnnxModel(session, session.get_inputs()[0].name, spec)
