"""`make model`: train the served model and write it as skops (no pickle) with a manifest."""
from __future__ import annotations

import hashlib
import io
import re
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
    """The same model as the same bytes.

    skops stamps the current time on its zip entries and names array files and object references
    after id() (memory addresses); entries get a fixed time, and names and references are
    numbered in order of first appearance in the schema.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        schema = src.read("schema.json").decode()
        names = dict.fromkeys(re.findall(r'"file": "([^"]+)"', schema))
        renamed = {old: f"{i:04d}{Path(old).suffix}" for i, old in enumerate(names)}
        schema = re.sub(r'"file": "([^"]+)"', lambda m: f'"file": "{renamed[m[1]]}"', schema)
        ids = {old: str(i) for i, old in enumerate(dict.fromkeys(re.findall(r'"__id__": (\d+)', schema)))}
        schema = re.sub(r'"__id__": (\d+)', lambda m: f'"__id__": {ids[m[1]]}', schema)
        entries = {"schema.json": schema.encode()}
        entries.update({renamed.get(i.filename, i.filename): src.read(i)
                        for i in src.infolist() if i.filename != "schema.json"})
        for name in sorted(entries):
            fixed = zipfile.ZipInfo(name, FIXED_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o100644 << 16
            dst.writestr(fixed, entries[name])
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
