"""XGBoost and LightGBM models from their own files, end to end: imported (no trust list: the files hold no code),
exported to ONNX where the proof holds, packaged, and served by the local Lambda on both architectures, on the
booster's own layer and on ONNX Runtime's, answering as the booster does in this process, gaps included."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import booster_files, local_service

from lambda_ml_bench import spec
from lambda_ml_bench.build.model import import_model
from lambda_ml_bench.build.package import build_package
from lambda_ml_bench.build.platforms import DEFAULT_PYTHON, RUNTIMES
from lambda_ml_bench.handlers.booster import answer_of
from lambda_ml_bench.handlers.contract import ModelSpec
from lambda_ml_bench.local_lambda import functions

pytestmark = pytest.mark.integration
RT = RUNTIMES[DEFAULT_PYTHON]
ARCHS = ("x86_64", "arm64")


@pytest.fixture(scope="module")
def served(built: dict, dist: Path, tmp_path_factory: pytest.TempPathFactory):
    """Each booster imported from its file with held-out rows, packaged, and served as the functions Terraform would
    deploy for it (spec.Spec.serving: its own backend's predict handler, and predict-onnx)."""
    folder = tmp_path_factory.mktemp("boosters")
    specs, expected = [], {}
    for name, (path, csv, booster, X) in booster_files(folder).items():
        manifest = import_model(path, [], "1", folder / name / "model", rt=RT, check_data=csv)
        package = build_package(RT, folder / name / "model", out_dir=folder / name / "function",
                                work_dir=folder / name / "work", say=lambda _: None)
        predict_handlers = {k: h for k, h in spec.load().serving(package["model"]["backends"]).items()
                            if h.function == "predict"}
        for arch in ARCHS:
            for h in predict_handlers.values():
                specs.append(functions.FunctionSpec(
                    name=f"{name}-{h.backend}-{arch}", handler=h.handler, architecture=arch, memory_size=1769,
                    timeout=180, code=folder / name / "function" / package["zip"]["file"],
                    layers=(dist / "layers" / built[h.backend][arch]["zip"]["file"],)))
        expected[name] = (manifest, package, booster, X)
    with local_service(specs) as (_, client):
        yield client, expected


def invoke(client, function: str, instances: list) -> tuple[dict, dict]:
    response = client.invoke(FunctionName=function, Payload=json.dumps({"instances": instances}))
    return response, json.loads(response["Payload"].read())


def requests(X: np.ndarray, names: list[str] | None) -> list:
    """The held-out rows as a request: null where a value is missing, named when the model names its features."""
    rows = [[None if np.isnan(v) else float(v) for v in row] for row in X]
    return [dict(zip(names, r)) for r in rows] if names else rows


def in_process(manifest: dict, booster, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the booster answers in this process, as the contract answers it."""
    model_spec = ModelSpec.from_manifest(manifest)
    if manifest["format"] == "xgboost":
        return answer_of(model_spec, booster.inplace_predict(X))
    return answer_of(model_spec, booster.predict(X))


@pytest.mark.parametrize("name", ["cancer-xgboost", "wine-lightgbm"])
def test_a_booster_file_is_imported_without_trust_and_exported_where_faithful(served, name: str) -> None:
    _, expected = served
    manifest, package, _, X = expected[name]
    backend = name.split("-")[1]
    assert manifest["format"] == backend and manifest["trusted_types"] == [] and manifest["sklearn"] is None
    assert manifest["task"] == "classifier" and manifest["outputs"] == ["predict_proba"]
    assert all(i["type"] == "number" and i["missing"] for i in manifest["inputs"])
    assert manifest["feature_names"] is not None and len(manifest["inputs"]) == X.shape[1]
    onnx = manifest["onnx"]
    assert onnx["exported"], onnx.get("reason")
    assert onnx["input"] == "float32" and onnx["max_abs_difference"] <= onnx["tolerance"] == 1e-5
    assert onnx["checked_rows"] > len(X)  # the held-out rows, and rows with each column missing
    assert package["model"]["backends"] == [backend, "onnx"]
    assert set(package["handlers"]) == {"benchmark", f"predict-{backend}", "predict-onnx"}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", ["cancer-xgboost", "wine-lightgbm"])
def test_the_booster_answers_through_the_local_lambda_as_in_process(served, name: str, arch: str) -> None:
    client, expected = served
    manifest, _, booster, X = expected[name]
    backend = manifest["format"]
    labels, probabilities = in_process(manifest, booster, X)
    response, out = invoke(client, f"{name}-{backend}-{arch}", requests(X, manifest["feature_names"]))
    assert "FunctionError" not in response, out
    assert out["predictions"] == labels.tolist()
    assert out["classes"] == manifest["classes"]
    # the same library and model on both: the last bits of float32 sums may differ between architectures
    assert np.allclose(out["probabilities"], probabilities, rtol=0, atol=1e-6)
    assert out["model"]["sha256"] == manifest["sha256"]

    response, onnx = invoke(client, f"{name}-onnx-{arch}", requests(X, manifest["feature_names"]))
    assert "FunctionError" not in response, onnx
    assert onnx["predictions"] == labels.tolist()
    assert np.max(np.abs(np.array(onnx["probabilities"]) - probabilities)) <= 1e-5


@pytest.mark.parametrize("name", ["cancer-xgboost", "wine-lightgbm"])
def test_a_value_the_schema_refuses_is_named_and_the_function_keeps_serving(served, name: str) -> None:
    client, expected = served
    manifest, _, _, X = expected[name]
    function = f"{name}-{manifest['format']}-x86_64"
    bad = requests(X[:2], manifest["feature_names"])
    first = manifest["feature_names"][0]
    bad[1][first] = "12.5"
    response, error = invoke(client, function, bad)
    assert response["FunctionError"] == "Unhandled" and error["errorType"] == "PayloadError"
    assert f"instances[1].{first}" in error["errorMessage"] and "a number or null" in error["errorMessage"]
    response, out = invoke(client, function, requests(X[:1], manifest["feature_names"]))
    assert "FunctionError" not in response and len(out["predictions"]) == 1
