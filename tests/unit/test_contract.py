"""One contract for any model: model.json checked at INIT, instances as rows or named objects, answers per task, and
bad input that used to be a 500."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skops.io
from support import lambda_context, load_event

from lambda_ml_bench.build.model import describe, normalised_zip, package_model
from lambda_ml_bench.build.platforms import DEFAULT_PYTHON, RUNTIMES
from lambda_ml_bench.handlers import contract, model
from lambda_ml_bench.handlers.errors import ModelLoadError, PayloadError
from lambda_ml_bench.handlers.payload import http_body, max_cells, parse_workload

RT = RUNTIMES[DEFAULT_PYTHON]


def package(estimator, out: Path, trust: list[str] | None = None) -> Path:
    data = normalised_zip(skops.io.dumps(estimator))
    package_model(data, "m", "1", trust or sorted(skops.io.get_untrusted_types(data=data)), RT, out)
    return out


@pytest.fixture(scope="module")
def iris_frame():
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True, return_X_y=True)


@pytest.fixture(scope="module")
def named_dir(iris_frame, tmp_path_factory) -> Path:
    """A multi-class classifier fitted on a DataFrame with named columns, packaged."""
    from sklearn.linear_model import LogisticRegression

    X, y = iris_frame
    fitted = LogisticRegression(max_iter=1000).fit(X, y.map({0: "setosa", 1: "versicolor", 2: "virginica"}))
    return package(fitted, tmp_path_factory.mktemp("iris"))


@pytest.fixture(scope="module")
def named_classifier(named_dir: Path) -> model.LoadedModel:
    return model.load(named_dir)


def test_named_features_are_put_in_the_models_column_order(named_classifier, iris_frame) -> None:
    X, _ = iris_frame
    spec = named_classifier.spec
    assert spec.feature_names == tuple(X.columns) and spec.classes == ("setosa", "versicolor", "virginica")
    row = X.iloc[0].to_dict()
    shuffled = dict(reversed(list(row.items())))
    array = contract.parse_instances({"instances": [shuffled, row]}, spec)
    assert array.tolist() == [X.iloc[0].tolist()] * 2
    assert contract.parse_instances({"instances": [X.iloc[0].tolist()]}, spec).tolist() == [X.iloc[0].tolist()]


def test_missing_and_unknown_names_are_named(named_classifier, iris_frame) -> None:
    row = iris_frame[0].iloc[0].to_dict()
    del row["petal width (cm)"]
    row["colour"] = 3
    with pytest.raises(PayloadError, match=r"instances\[0\]: missing petal width \(cm\); unknown colour"):
        contract.parse_instances({"instances": [row]}, named_classifier.spec)


def test_answers_per_task(named_classifier, tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.svm import LinearSVC

    spec = named_classifier.spec
    probabilities = np.array([[0.9, 0.05, 0.05]])
    out = contract.answer(spec, np.array(["setosa"]), probabilities)
    assert out == {"predictions": ["setosa"], "probabilities": [[0.9, 0.05, 0.05]],
                   "classes": ["setosa", "versicolor", "virginica"], "model": spec.identity()}
    X, y = load_diabetes(return_X_y=True)
    regressor = model.load(package(Ridge().fit(X, y), tmp_path / "r")).spec
    assert regressor.task == "regressor" and regressor.classes is None and regressor.outputs == ()
    scorer = model.load(package(LinearSVC().fit(X, y > 140), tmp_path / "s")).spec
    assert scorer.outputs == ("decision_function",)
    assert set(contract.answer(scorer, np.array([True]), scores=np.array([0.3]))) == {"predictions", "scores", "model"}


@pytest.mark.parametrize("key", list(contract.MANIFEST_KEYS))
def test_a_manifest_without_a_key_fails_init_naming_it(named_dir: Path, key: str) -> None:
    manifest = json.loads((named_dir / "model.json").read_text())
    contract.ModelSpec.from_manifest(manifest)  # whole, it is fine
    del manifest[key]
    with pytest.raises(ModelLoadError, match=f"model.json has no '{key}'"):
        contract.ModelSpec.from_manifest(manifest)


@pytest.mark.parametrize("score_column", [2, -1, "1", True])
def test_an_onnx_score_column_other_than_0_or_1_fails_init(named_dir: Path, score_column) -> None:
    manifest = json.loads((named_dir / "model.json").read_text())
    manifest["onnx"] = {"exported": True, "file": "model.onnx", "sha256": "0" * 64, "score_column": 1}
    contract.ModelSpec.from_manifest(manifest)  # 0 or 1 is fine
    manifest["onnx"]["score_column"] = score_column
    with pytest.raises(ModelLoadError, match="'score_column' must be 0 or 1"):
        contract.ModelSpec.from_manifest(manifest)


def test_a_manifest_that_disagrees_with_the_model_fails_init(named_dir: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(named_dir, folder)
    manifest = json.loads((folder / "model.json").read_text())
    manifest["n_features"] = 5
    manifest["feature_names"] = None
    manifest["inputs"].append({"name": "extra", "type": "number", "missing": False})
    (folder / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"model.json says n_features is 5, but the model has 4"):
        model.load(folder)


# --- bad input that used to be a 500 ---------------------------------------------------------
def http(body: str, base64_encoded: bool = False) -> dict:
    return {**load_event("predict-function-url"), "body": body, "isBase64Encoded": base64_encoded}


@pytest.mark.parametrize("body, encoded, message", [
    ('{"instances": [[' + "9" * 5000 + "]]}", False, "is not usable JSON"),
    ("[" * 100_000 + "]" * 100_000, False, "nested too deeply"),
    ("eyJpbnN0YW5jZXMiOiBbXX0é", True, "is marked base64 but is not base64-encoded UTF-8"),
])
def test_hostile_bodies_are_payload_errors(predict_module, body: str, encoded: bool, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        http_body(http(body, encoded))
    out = predict_module.handler(http(body, encoded), lambda_context())
    assert out["statusCode"] == 400 and json.loads(out["body"])["error"]["type"] == "PayloadError"


def test_an_enormous_unknown_field_is_not_echoed_whole(predict_module) -> None:
    name = "x" * (5 * 1024 * 1024)
    out = predict_module.handler(http(json.dumps({name: 1, "instances": [[0] * 30]})), lambda_context())
    assert out["statusCode"] == 400 and len(out["body"]) < 2_000
    error = json.loads(out["body"])["error"]
    assert error["field"].endswith("(5,242,880 characters)") and error["message"].startswith("x" * 200)


def test_the_benchmark_cap_follows_the_functions_memory() -> None:
    # by hand, 2,000 training rows: ((1,769 - 100) x 1,048,576 - 2,000^2 x 4) / 40 = 43,351,833 cells
    assert max_cells(1769, 2000) == 43_351_833
    assert max_cells(10_240) == 50_000_000 and max_cells(100) == 0 and max_cells(256) == 4_063_232
    biggest = {"n_samples": 2000, "n_test_samples": 1024, "n_features": 43_351_833 // 3024}
    assert parse_workload(biggest, 1769).n_features == 14_335  # 14,335 x 3,024 = 43,349,040 cells
    with pytest.raises(PayloadError, match=r"at most 43,351,833 at 1,769 MB"):
        parse_workload({**biggest, "n_features": 14_336}, 1769)


def test_describe_records_what_the_model_is(iris_frame) -> None:
    from sklearn.ensemble import RandomForestRegressor

    X, y = iris_frame
    assert describe(RandomForestRegressor(n_estimators=3).fit(X, y)) == {
        "task": "regressor", "n_features": 4, "feature_names": list(X.columns), "classes": None, "outputs": []}
