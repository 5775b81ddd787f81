"""Bringing your own model: refused until every type beyond skops' safe defaults is trusted by name, converted from
a pickle only when asked, checked against the layer's modules and scikit-learn version."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import joblib
import pytest
import skops.io
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_breast_cancer
from sklearn.svm import SVC
from support import REPO

from handlers import model
from layer_build.model import ModelImportError, import_model, layer_modules, normalised_zip
from layer_build.platforms import DEFAULT_PYTHON, RUNTIMES

CALIBRATION = ["sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration"]


@pytest.fixture(scope="module")
def calibrated():
    X, y = load_breast_cancer(return_X_y=True)
    return CalibratedClassifierCV(SVC(), ensemble=False).fit(X, y)


@pytest.fixture
def skops_file(calibrated, tmp_path: Path) -> Path:
    path = tmp_path / "mine.skops"
    skops.io.dump(calibrated, path)
    return path


def test_untrusted_types_are_refused_with_their_list_until_trusted(skops_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelImportError, match=" ".join(CALIBRATION)):
        import_model(skops_file, [], "1", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ModelImportError, match=CALIBRATION[1]):
        import_model(skops_file, CALIBRATION[:1], "1", tmp_path / "out")
    manifest = import_model(skops_file, CALIBRATION, "3", tmp_path / "out")
    assert manifest["trusted_types"] == CALIBRATION and manifest["name"] == "mine" and manifest["version"] == "3"
    assert (manifest["task"], manifest["n_features"], manifest["classes"], manifest["outputs"]) == (
        "classifier", 30, [0, 1], ["predict_proba"])
    loaded = model.load(tmp_path / "out")
    assert loaded.spec.trusted_types == tuple(CALIBRATION)


def test_a_pickle_is_converted_only_when_asked(calibrated, tmp_path: Path) -> None:
    pickled = tmp_path / "mine.joblib"
    joblib.dump(calibrated, pickled)
    with pytest.raises(ModelImportError, match="is not a skops file .*--from-pickle"):
        import_model(pickled, CALIBRATION, "1", tmp_path / "out")
    manifest = import_model(pickled, CALIBRATION, "1", tmp_path / "out", from_pickle=True)
    data = (tmp_path / "out" / "model.skops").read_bytes()
    assert "schema.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()  # a skops file now
    X, _ = load_breast_cancer(return_X_y=True)
    assert (model.load(tmp_path / "out").estimator.predict_proba(X) == calibrated.predict_proba(X)).all()
    assert manifest["source"] == "mine.joblib"


def test_a_model_fitted_with_another_scikit_learn_is_refused_naming_both(skops_file: Path, tmp_path: Path) -> None:
    _, layer = layer_modules(RUNTIMES[DEFAULT_PYTHON])
    data = skops_file.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    entries["schema.json"] = entries["schema.json"].replace(json.dumps(json.dumps(layer)).encode(),
                                                            json.dumps(json.dumps("1.6.1")).encode())
    assert b"1.6.1" in entries["schema.json"]
    older = tmp_path / "older.skops"
    with zipfile.ZipFile(older, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    with pytest.raises(ModelImportError, match=f"fitted with scikit-learn 1.6.1; the layer has scikit-learn {layer}"):
        import_model(older, CALIBRATION, "1", tmp_path / "out")


def test_a_model_needing_a_module_the_layer_lacks_is_refused(tmp_path: Path) -> None:
    import pandas
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = load_breast_cancer(return_X_y=True)
    piped = make_pipeline(FunctionTransformer(pandas.isna), SVC()).fit(X, y)
    path = tmp_path / "pandas.skops"
    path.write_bytes(normalised_zip(skops.io.dumps(piped)))
    trust = skops.io.get_untrusted_types(file=path)
    with pytest.raises(ModelImportError, match="needs modules the layer does not hold: pandas"):
        import_model(path, trust, "1", tmp_path / "out")


def test_the_command_line_refuses_with_the_list_and_exit_2(skops_file: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "layer_build", "model", "import", str(skops_file)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "name each you trust with --trust" in proc.stderr
    assert all(t in proc.stderr for t in CALIBRATION)
