"""Bringing your own model: refused until every type beyond skops' safe defaults is trusted by name, converted from
a pickle only when asked, checked against the layer's modules and scikit-learn version."""
from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import zipfile
from pathlib import Path

import joblib
import pytest
import skops.io
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_breast_cancer
from sklearn.svm import SVC
from support import LMB, REPO

from lambda_ml_bench.build.model import ModelImportError, import_model, layer_modules, normalised_zip
from lambda_ml_bench.build.platforms import DEFAULT_PYTHON, RUNTIMES
from lambda_ml_bench.handlers import model

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
    import matplotlib.colors
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = load_breast_cancer(return_X_y=True)
    piped = make_pipeline(FunctionTransformer(inverse_func=matplotlib.colors.to_hex, check_inverse=False),
                          SVC()).fit(X, y)
    path = tmp_path / "matplotlib.skops"
    path.write_bytes(normalised_zip(skops.io.dumps(piped)))
    trust = skops.io.get_untrusted_types(file=path)
    with pytest.raises(ModelImportError, match="needs modules the layer does not hold: matplotlib"):
        import_model(path, trust, "1", tmp_path / "out")


def test_the_command_line_refuses_with_the_list_and_exit_2(skops_file: Path, tmp_path: Path) -> None:
    proc = subprocess.run([*LMB, "model", "import", str(skops_file)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "name each you trust with --trust" in proc.stderr
    assert all(t in proc.stderr for t in CALIBRATION)


# --- the ONNX export: shipped only when proven faithful --------------------------------------------------------
def _import(estimator, tmp_path: Path, name: str, **kwargs) -> dict:
    path = tmp_path / f"{name}.skops"
    path.write_bytes(normalised_zip(skops.io.dumps(estimator)))
    return import_model(path, skops.io.get_untrusted_types(file=path), "1", tmp_path / name, **kwargs)


def test_an_export_is_proven_on_the_rows_given_and_recorded(calibrated, tmp_path: Path) -> None:
    X, _ = load_breast_cancer(return_X_y=True)
    rows = tmp_path / "held-out.csv"
    rows.write_text("f" + ",f".join(map(str, range(29))) + "\n" + "\n".join(",".join(map(str, r)) for r in X[::5]))
    manifest = _import(calibrated, tmp_path, "mine", check_data=rows)
    onnx = manifest["onnx"]
    assert onnx["exported"] and onnx["checked_rows"] == len(X[::5]) and onnx["checked_on"].endswith("held-out.csv")
    assert onnx["max_abs_difference"] <= onnx["tolerance"] == 1e-5 and onnx["compared"] == "probabilities"
    assert hashlib.sha256((tmp_path / "mine" / "model.onnx").read_bytes()).hexdigest() == onnx["sha256"]
    loaded = model.load_onnx(tmp_path / "mine")
    got = loaded.session.run(None, {loaded.input: X[:20]})[1]
    assert abs(got - calibrated.predict_proba(X[:20])).max() <= 1e-5


def test_isotonic_calibration_is_not_exported_and_says_why(tmp_path: Path) -> None:
    """skl2onnx converts it, but not faithfully: no model.onnx, a reason in model.json, and the onnx handler's INIT
    fails saying the scikit-learn handler serves it."""
    X, y = load_breast_cancer(return_X_y=True)
    isotonic = CalibratedClassifierCV(SVC(), method="isotonic", ensemble=False).fit(X[::2], y[::2])
    (tmp_path / "iso").mkdir()
    (tmp_path / "iso" / "model.onnx").write_bytes(b"a previous model's export")
    rows = tmp_path / "held-out.csv"
    rows.write_text("\n".join(",".join(map(str, r)) for r in X[1::2]))
    manifest = _import(isotonic, tmp_path, "iso", check_data=rows)
    assert manifest["onnx"]["exported"] is False
    assert re.search(r"labels differ|differ from scikit-learn's by up to", manifest["onnx"]["reason"])
    assert not (tmp_path / "iso" / "model.onnx").exists()
    with pytest.raises(model.ModelLoadError, match="has no ONNX export .*serve it with the scikit-learn predict"):
        model.load_onnx(tmp_path / "iso")
    assert model.load(tmp_path / "iso").estimator is not None  # the scikit-learn backend still serves it


def test_without_rows_or_a_scaler_nothing_is_exported_and_data_is_asked_for(calibrated, tmp_path: Path) -> None:
    manifest = _import(calibrated, tmp_path, "raw")
    assert manifest["onnx"]["exported"] is False and "--check-data" in manifest["onnx"]["reason"]


def test_a_type_skl2onnx_cannot_convert_gets_the_scikit_learn_backend_only(tmp_path: Path) -> None:
    from sklearn.neighbors import NearestCentroid

    X, y = load_breast_cancer(return_X_y=True)
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(",".join(map(str, r)) for r in X[:10]))
    manifest = _import(NearestCentroid().fit(X, y), tmp_path, "centroid", check_data=rows)
    assert manifest["onnx"]["exported"] is False
    assert "cannot convert it" in manifest["onnx"]["reason"] and "NearestCentroid" in manifest["onnx"]["reason"]


def test_a_regressor_is_exported_and_both_backends_answer_alike(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    manifest = _import(make_pipeline(StandardScaler(), Ridge()).fit(X, y), tmp_path, "ridge")
    assert manifest["onnx"]["exported"] and manifest["onnx"]["checked_on"].startswith("1000 synthetic rows from")
    assert manifest["onnx"]["compared"].startswith("predictions")
    loaded, onnx = model.load(tmp_path / "ridge"), model.load_onnx(tmp_path / "ridge")
    want = loaded.estimator.predict(X)
    got = onnx.session.run(None, {onnx.input: X})[0].reshape(-1)
    assert abs(got - want).max() <= 1e-5 * max(1.0, abs(want).max())


def test_a_swapped_onnx_file_fails_init(calibrated, tmp_path: Path) -> None:
    X, _ = load_breast_cancer(return_X_y=True)
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(",".join(map(str, r)) for r in X[:10]))
    assert _import(calibrated, tmp_path, "mine", check_data=rows)["onnx"]["exported"]
    (tmp_path / "mine" / "model.onnx").write_bytes(b"\x08\x07" + b"0" * 100)
    with pytest.raises(model.ModelLoadError, match="was altered or swapped"):
        model.load_onnx(tmp_path / "mine")


def test_a_manifest_that_calls_a_classifier_a_regressor_fails_init_on_the_onnx_backend_too(calibrated,
                                                                                          tmp_path: Path) -> None:
    X, _ = load_breast_cancer(return_X_y=True)
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(",".join(map(str, r)) for r in X[:10]))
    assert _import(calibrated, tmp_path, "mine", check_data=rows)["onnx"]["exported"]
    manifest_path = tmp_path / "mine" / "model.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "task": "regressor", "outputs": []}))
    with pytest.raises(model.ModelLoadError, match="says the model is a regressor, but the ONNX model answers class"):
        model.load_onnx(tmp_path / "mine")


@pytest.mark.parametrize("classifier", ["SVC", "SGDClassifier"])
def test_a_binary_decision_function_is_exported_with_the_column_its_proof_found(classifier: str,
                                                                                 tmp_path: Path) -> None:
    """skl2onnx gives a binary decision function as two columns, SVC's score first and SGDClassifier's second:
    the proof finds the column, model.json records it, and the onnx handler's mapping answers scikit-learn's
    scores with it."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lambda_ml_bench.handlers.contract import from_onnx

    X, y = load_breast_cancer(return_X_y=True)
    estimator = {"SVC": SVC(), "SGDClassifier": SGDClassifier(random_state=0)}[classifier]
    fitted = make_pipeline(StandardScaler(), estimator).fit(X, y)
    manifest = _import(fitted, tmp_path, classifier.lower())
    onnx = manifest["onnx"]
    assert onnx["exported"] and onnx["compared"] == "scores", onnx
    assert onnx["score_column"] == {"SVC": 0, "SGDClassifier": 1}[classifier]
    loaded = model.load_onnx(tmp_path / classifier.lower())
    labels, probabilities, scores = from_onnx("classifier", loaded.spec.outputs,
                                              loaded.session.run(None, {loaded.input: X[:40]}),
                                              loaded.spec.onnx["score_column"])
    assert probabilities is None and list(labels) == fitted.predict(X[:40]).tolist()
    assert abs(scores - fitted.decision_function(X[:40])).max() <= 1e-5


@pytest.mark.parametrize(("func", "name"), [("eval", "builtins.eval"), ("system", "posix.system"),
                                            ("getattr", "builtins.getattr")])
def test_what_runs_code_is_refused_whatever_trust_says(tmp_path: Path, func: str, name: str) -> None:
    """A model whose file would call eval (or os.system, or a getattr gadget) when loaded: listed, named by --trust
    as the refusal once asked, and still refused, the file never loaded."""
    import builtins
    import os

    from sklearn.preprocessing import FunctionTransformer

    target = getattr(builtins, func, None) or getattr(os, func)
    path = tmp_path / "evil.skops"
    skops.io.dump(FunctionTransformer(func=target).fit([[1.0]]), path)
    assert name in skops.io.get_untrusted_types(file=path)
    with pytest.raises(ModelImportError, match=rf"never loadable, whatever --trust says: {re.escape(name)} \("):
        import_model(path, [name], "1", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_never_trusted_name_in_an_edited_manifest_fails_init(skops_file: Path, tmp_path: Path) -> None:
    import_model(skops_file, CALIBRATION, "1", tmp_path / "out")
    manifest_path = tmp_path / "out" / "model.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["trusted_types"] = [*manifest["trusted_types"], "builtins.exec"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(model.ModelLoadError, match="never loadable.*builtins.exec"):
        model.load(tmp_path / "out")


def test_the_never_trusted_rule_keeps_what_models_are_made_of() -> None:
    for name in ("sklearn.svm._classes.SVC", "numpy.float64", "builtins.slice", "builtins.int",
                 "numpy.core.multiarray._reconstruct", "scipy.sparse._csr.csr_matrix", *CALIBRATION):
        assert model.never_trusted(name) is None, name
    for name in ("builtins.__import__", "subprocess.Popen", "importlib.import_module", "ctypes.CDLL", "pickle.loads",
                 "marshal.loads", "shutil.rmtree", "socket.socket", "builtins.open", "sys.modules",
                 "numpy.load", "sklearn.base.__init_subclass__"):
        assert model.never_trusted(name), name


def _rewritten(data: bytes, change) -> bytes:
    """The skops file with each member passed through change(name, bytes) -> bytes, deflated."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, change(info.filename, src.read(info)))
    return out.getvalue()


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path: Path) -> None:
    """A linear model whose coefficients are 40 million zeros: 300 MiB that deflate to 0.3 MB (x1,000)."""
    import numpy as np
    from sklearn.linear_model import LinearRegression

    bomb = LinearRegression().fit(np.zeros((2, 3)), [0.0, 0.0])
    bomb.coef_ = np.zeros(40_000_000)
    path = tmp_path / "bomb.skops"
    path.write_bytes(_rewritten(skops.io.dumps(bomb), lambda _, b: b))
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ModelImportError, match=r"bomb.skops is refused before loading: it expands [\d,]+ times"):
        import_model(path, [], "1", tmp_path / "out")
    with pytest.raises(ModelImportError, match=r"it unpacks to 305 MiB, over the 100 MiB cap"):
        import_model(path, [], "1", tmp_path / "out", limits=(100, 10_000))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("how", "message"), [
    (lambda b: b[:-8], r"declares shape \(\d+,\) of float64 \(\d+ bytes\) but holds \d+ bytes: truncated or forged"),
    (lambda b: b[:6], r"has no readable header"),
])
def test_a_truncated_array_is_an_import_error_naming_it(skops_file: Path, tmp_path: Path, how, message: str) -> None:
    data = skops_file.read_bytes()
    first = next(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith(".npy"))
    broken = tmp_path / "broken.skops"
    broken.write_bytes(_rewritten(data, lambda name, b: how(b) if name == first else b))
    with pytest.raises(ModelImportError, match=rf"its array {re.escape(first)} {message}"):
        import_model(broken, CALIBRATION, "1", tmp_path / "out")


def test_init_refuses_a_model_too_large_for_the_functions_memory() -> None:
    """Half the memory size at most: a model of 1.5 MiB of random coefficients is too large for a 2 MB function."""
    import numpy as np
    from sklearn.linear_model import LinearRegression

    big = LinearRegression().fit(np.zeros((2, 3)), [0.0, 0.0])
    big.coef_ = np.random.default_rng(0).random(200_000)  # 1.6 MB, incompressible
    data = skops.io.dumps(big)
    assert model.inspect_archive(data, memory_mb=128) > 1_500_000
    with pytest.raises(ValueError, match="a 2 MB function cannot load it .half its memory at most.: raise its memory"):
        model.inspect_archive(data, memory_mb=2)
