"""`make model`: train the served model and write it as skops (no pickle) with a manifest."""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from layer_build.archive import FIXED_TIME
from layer_build.build import DIST, write_json

MODEL_DIR = DIST / "model"
MODEL_NAME = "breast-cancer-svc"


def train():
    """Scaling plus an SVC with calibrated probabilities, on a dataset scikit-learn ships."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    # SVC(probability=True) is deprecated from scikit-learn 1.9; this is its documented replacement.
    model = make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(), ensemble=False))
    model.fit(X_train, y_train)
    return model, float(model.score(X_test, y_test)), X.shape[1]


def normalised_zip(data: bytes) -> bytes:
    """skops writes a zip with the current time in it; the same model must give the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            fixed = zipfile.ZipInfo(info.filename, FIXED_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o100644 << 16
            dst.writestr(fixed, src.read(info))
    return out.getvalue()


def write_model(version: str, out_dir: Path = MODEL_DIR) -> dict:
    import skops.io
    import sklearn

    from handlers.model import MANIFEST_FILE, MODEL_FILE, TRUSTED_TYPES

    model, accuracy, n_features = train()
    data = normalised_zip(skops.io.dumps(model))
    untrusted = skops.io.get_untrusted_types(data=data)
    if set(untrusted) - set(TRUSTED_TYPES):
        raise RuntimeError(f"the model holds types handlers/model.py does not trust: {untrusted}")
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / (MODEL_FILE + ".partial")
    partial.write_bytes(data)
    manifest = {
        "name": MODEL_NAME, "version": version, "sha256": hashlib.sha256(data).hexdigest(),
        "format": "skops", "trusted_types": sorted(untrusted),
        "n_features": n_features, "classes": model.classes_.tolist(),
        "test_accuracy": round(accuracy, 4), "sklearn": sklearn.__version__,
        "dataset": "sklearn.datasets.load_breast_cancer",
    }
    write_json(out_dir / MANIFEST_FILE, manifest)
    partial.replace(out_dir / MODEL_FILE)
    return manifest
