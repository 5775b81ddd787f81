"""Loading the packaged model: sha256 checked against its manifest, only trusted types rebuilt."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.errors import ModelLoadError

MODEL_FILE = "model.skops"
MANIFEST_FILE = "model.json"
# skops refuses any type outside its own safe defaults and this list, so an altered file cannot
# make the loader run code. Each entry is a scikit-learn class the pipeline is built from.
TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]


@dataclass(frozen=True)
class LoadedModel:
    estimator: Any
    name: str
    version: str
    sha256: str
    n_features: int
    classes: list

    def identity(self) -> dict:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


def load(model_dir: Path) -> LoadedModel:
    manifest_path, model_path = model_dir / MANIFEST_FILE, model_dir / MODEL_FILE
    try:
        manifest = json.loads(manifest_path.read_text())
        data = model_path.read_bytes()
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"cannot read the model in {model_dir}: {err}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != manifest.get("sha256"):
        raise ModelLoadError(
            f"{model_path} has sha256 {actual}, but {MANIFEST_FILE} says {manifest.get('sha256')}: "
            "the model file was altered or swapped; refusing to load it"
        )
    import skops.io

    try:
        estimator = skops.io.loads(data, trusted=TRUSTED_TYPES)
    except Exception as err:  # skops raises several types for untrusted or malformed content
        raise ModelLoadError(f"{model_path} could not be loaded safely: {err}") from None
    return LoadedModel(estimator, manifest["name"], manifest["version"], actual,
                       int(manifest["n_features"]), list(manifest["classes"]))
