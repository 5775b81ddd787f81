"""Loading the packaged model: model.json read and checked, sha256 compared, only the types it trusts rebuilt, the
loaded model checked against model.json. Any fault fails INIT with a message saying what is wrong."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.contract import ModelSpec
from handlers.errors import ModelLoadError

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


def load(model_dir: Path) -> LoadedModel:
    spec = read_spec(model_dir)
    model_path = model_dir / MODEL_FILE
    try:
        data = model_path.read_bytes()
    except OSError as err:
        raise ModelLoadError(f"cannot read the model in {model_dir}: {err}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise ModelLoadError(
            f"{model_path} has sha256 {actual}, but {MANIFEST_FILE} says {spec.sha256}: "
            "the model file was altered or swapped; refusing to load it"
        )
    import skops.io

    try:
        estimator = skops.io.loads(data, trusted=list(spec.trusted_types))
    except Exception as err:  # skops raises several types for untrusted or malformed content
        raise ModelLoadError(f"{model_path} could not be loaded safely: {err}") from None
    spec.check(estimator)
    return LoadedModel(estimator, spec)
