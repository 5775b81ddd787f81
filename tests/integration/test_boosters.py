"""XGBoost and LightGBM models from their own files, end to end: imported (no trust list: the files hold no code),
exported to ONNX where the proof holds, packaged, and served by the local Lambda on both architectures, on the
booster's own layer and on ONNX Runtime's, answering as the booster does in this process, gaps included."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from support import booster_files, booster_pipelines, colours_lightgbm, local_service

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
    import skops.io

    folder = tmp_path_factory.mktemp("boosters")
    specs, expected = [], {}
    models = {**booster_files(folder), **booster_pipelines(folder), "colours-lightgbm": colours_lightgbm(folder)}
    for name, (path, csv, model, X) in models.items():
        trust = skops.io.get_untrusted_types(file=path) if path.suffix == ".skops" else []
        manifest = import_model(path, trust, "1", folder / name / "model", rt=RT, check_data=csv)
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
        expected[name] = (manifest, package, model, X)
    with local_service(specs) as (_, client):
        yield client, expected


def invoke(client, function: str, instances: list) -> tuple[dict, dict]:
    response = client.invoke(FunctionName=function, Payload=json.dumps({"instances": instances}))
    return response, json.loads(response["Payload"].read())


def requests(X, names: list[str] | None) -> list:
    """The held-out rows (an array, or a DataFrame with a string category) as a request: null where a value is
    missing, named when the model names its features."""
    if hasattr(X, "to_dict"):
        return [{k: None if isinstance(v, float) and np.isnan(v) else v for k, v in r.items()}
                for r in X.astype({"colour": object}).to_dict("records")]
    rows = [[None if np.isnan(v) else float(v) for v in row] for row in X]
    return [dict(zip(names, r)) for r in rows] if names else rows


def in_process(manifest: dict, model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the model answers in this process, as the contract answers it."""
    if manifest["format"] == "skops":
        with warnings.catch_warnings():  # LightGBM names its columns Column_N; the rows arrive as an array
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return model.predict(X), model.predict_proba(X)
    model_spec = ModelSpec.from_manifest(manifest)
    if manifest["format"] == "xgboost":
        return answer_of(model_spec, model.inplace_predict(X))
    return answer_of(model_spec, model.predict(X))


def backend_of(manifest: dict) -> str:
    return manifest.get("backend") or manifest["format"]


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


def test_a_lightgbm_model_of_string_categories_is_typed_and_exported(served) -> None:
    _, expected = served
    manifest, package, _, _ = expected["colours-lightgbm"]
    colour = manifest["inputs"][1]
    assert (colour["name"], colour["type"], colour["categories"]) == ("colour", "category",
                                                                      ["amber", "blue", "green", "red"])
    assert manifest["onnx"]["exported"] and manifest["onnx"]["input"] == "float32", manifest["onnx"]
    assert package["model"]["backends"] == ["lightgbm", "onnx"]


def test_a_pipeline_wrapping_a_booster_is_served_by_the_boosting_layer(served) -> None:
    _, expected = served
    for name in ("cancer-xgb-pipeline", "cancer-lgbm-pipeline"):
        manifest, package, _, _ = expected[name]
        assert manifest["format"] == "skops" and manifest["backend"] == "boosting"
        assert any(t.startswith(("xgboost.", "lightgbm.")) for t in manifest["trusted_types"])
        assert package["model"]["backends"][0] == "boosting" and "predict-boosting" in package["handlers"]
        assert "predict" not in package["handlers"]  # the scikit-learn layer holds no booster
        onnx = manifest["onnx"]
        assert onnx["exported"] or "differ from boosting's" in onnx["reason"], onnx  # the proof decides


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", ["cancer-xgboost", "wine-lightgbm", "cancer-xgb-pipeline", "cancer-lgbm-pipeline",
                                  "colours-lightgbm"])
def test_the_model_answers_through_the_local_lambda_as_in_process(served, name: str, arch: str) -> None:
    client, expected = served
    manifest, _, model, X = expected[name]
    backend = backend_of(manifest)
    labels, probabilities = in_process(manifest, model, X)
    response, out = invoke(client, f"{name}-{backend}-{arch}", requests(X, manifest["feature_names"]))
    assert "FunctionError" not in response, out
    assert out["predictions"] == labels.tolist()
    assert out["classes"] == manifest["classes"]
    # the same library and model on both: the last bits of float32 sums may differ between architectures
    assert np.allclose(out["probabilities"], probabilities, rtol=0, atol=1e-6)
    assert out["model"]["sha256"] == manifest["sha256"]

    if not manifest["onnx"]["exported"]:
        return
    response, onnx = invoke(client, f"{name}-onnx-{arch}", requests(X, manifest["feature_names"]))
    assert "FunctionError" not in response, onnx
    assert onnx["predictions"] == labels.tolist()
    assert np.max(np.abs(np.array(onnx["probabilities"]) - probabilities)) <= 1e-5


@pytest.mark.parametrize("name", ["cancer-xgboost", "wine-lightgbm", "cancer-xgb-pipeline"])
def test_a_value_the_schema_refuses_is_named_and_the_function_keeps_serving(served, name: str) -> None:
    client, expected = served
    manifest, _, _, X = expected[name]
    function = f"{name}-{backend_of(manifest)}-x86_64"
    bad = requests(X[:2], manifest["feature_names"])
    first = manifest["feature_names"][0] if manifest["feature_names"] else 0
    bad[1][first] = "12.5"
    response, error = invoke(client, function, bad)
    assert response["FunctionError"] == "Unhandled" and error["errorType"] == "PayloadError"
    field = f"instances[1].{first}" if manifest["feature_names"] else "instances[1][0]"
    assert field in error["errorMessage"] and "a number or null" in error["errorMessage"]
    response, out = invoke(client, function, requests(X[:1], manifest["feature_names"]))
    assert "FunctionError" not in response and len(out["predictions"]) == 1


@pytest.mark.parametrize("name", ["cancer-xgboost", "wine-lightgbm"])
def test_a_sweep_compares_the_booster_with_onnx_runtime_on_both_architectures(served, name: str,
                                                                              tmp_path: Path) -> None:
    """`compare --backend <booster> onnx --payload`'s machinery and report on the booster's four functions: each cell
    measured (a cold start, then warm calls) and put back as it was."""
    from lambda_ml_bench.measure.report import render
    from lambda_ml_bench.measure.sweep.cells import Target, Workload, plan
    from lambda_ml_bench.measure.sweep.driver import Sweep

    client, expected = served
    manifest, _, _, X = expected[name]
    backend = manifest["format"]
    targets = [Target(arch, f"{name}-{kind}-{arch}", kind) for arch in ARCHS for kind in (backend, "onnx")]
    before = {t.name: client.get_function_configuration(FunctionName=t.name)["MemorySize"] for t in targets}
    workload = Workload(f"{name}.json", {"instances": requests(X[:10], manifest["feature_names"])})
    out = tmp_path / "boosters.jsonl"
    records = Sweep(client, out, say=lambda _: None, warm=2).run(plan(targets, [1024], [workload], rounds=1))
    assert {(r["architecture"], r["backend"]) for r in records} == {(t.architecture, t.backend) for t in targets}
    assert sum(r["cold"] for r in records) == 4 and len(records) == 12
    report = render(out, tmp_path).markdown.read_text()
    assert f"x86_64 {backend}" in report and "arm64 (emulated) onnx" in report
    assert {t.name: client.get_function_configuration(FunctionName=t.name)["MemorySize"] for t in targets} == before
