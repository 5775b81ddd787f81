"""Your own model end to end: two models besides the built-in one, built here from data scikit-learn ships, each
packaged, served by the local Lambda on both architectures, answering exactly as the model does on this host."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skops.io
from support import NUMBERS, boosted_pipeline, categorical_pipeline, local_service, wine_frame

from lambda_ml_bench.build.model import import_model
from lambda_ml_bench.build.package import build_package
from lambda_ml_bench.build.platforms import DEFAULT_PYTHON, RUNTIMES
from lambda_ml_bench.local_lambda import functions

pytestmark = pytest.mark.integration
RT = RUNTIMES[DEFAULT_PYTHON]


def models():
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import Ridge

    X, y = load_iris(as_frame=True, return_X_y=True)
    species = y.map({0: "setosa", 1: "versicolor", 2: "virginica"})
    classifier = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, species)
    Xd, yd = load_diabetes(return_X_y=True)
    regressor = Ridge(alpha=0.5).fit(Xd, yd)
    return {"iris-forest": (classifier, [X.iloc[i].to_dict() for i in (0, 60, 120, 149)], X.iloc[[0, 60, 120, 149]]),
            "diabetes-ridge": (regressor, Xd[:5].tolist(), Xd[:5]),
            "wine-categorical": (categorical_pipeline(), TABULAR, frame(TABULAR)),
            "wine-boosted": (boosted_pipeline(), TABULAR, frame(TABULAR)),
            "wine-hgb": (hist_gradient_boosting(), [[None, 1.8, 1050], [13.2, None, None], [12.0, 4.1, 500]],
                         frame([dict(zip(NUMBERS, r)) for r in ([None, 1.8, 1050], [13.2, None, None],
                                                                  [12.0, 4.1, 500])]))}


# strings, a missing number, a missing category, a category the model never saw
TABULAR = [{"alcohol": 13.2, "malic_acid": 1.8, "proline": 1050, "colour": "medium", "hue_band": "high"},
           {"alcohol": None, "malic_acid": 3.1, "proline": 600, "colour": "deep", "hue_band": None},
           {"alcohol": 12.1, "malic_acid": 1.1, "proline": 450, "colour": "purple", "hue_band": "low"}]


def frame(records: list[dict]):
    """Records as a DataFrame, null as NaN: what the model is given in-process."""
    import pandas as pd

    return pd.DataFrame(records).replace({None: np.nan})


def hist_gradient_boosting():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = wine_frame()
    return HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X[NUMBERS], y)


@pytest.fixture(scope="module")
def served(built: dict, dist: Path, local_lambda: str, tmp_path_factory: pytest.TempPathFactory):
    """Each model imported from a skops file and packaged, then served as predict functions on both architectures."""
    specs, expected = [], {}
    for name, (estimator, instances, X) in models().items():
        folder = tmp_path_factory.mktemp(name)
        skops.io.dump(estimator, folder / f"{name}.skops")
        trust = skops.io.get_untrusted_types(file=folder / f"{name}.skops")
        check = None
        if name.startswith("wine-"):  # held-out rows as users have them: a CSV with a header, strings, gaps
            check = folder / "held-out.csv"
            wine_frame()[0].sample(60, random_state=1).to_csv(check, index=False)
        manifest = import_model(folder / f"{name}.skops", trust, "1", folder / "model", rt=RT, check_data=check)
        package = build_package(RT, folder / "model", out_dir=folder / "function", work_dir=folder / "work",
                                say=lambda _: None)
        for arch in ("x86_64", "arm64"):
            for kind, (suffix, handler) in {"sklearn": ("", "predict"), "onnx": ("-onnx", "predict_onnx")}.items():
                if kind == "onnx" and not manifest["onnx"]["exported"]:
                    continue
                specs.append(functions.FunctionSpec(
                    name=f"{name}{suffix}-{arch}", handler=f"handlers.{handler}.handler", architecture=arch,
                    memory_size=1769, timeout=180, code=folder / "function" / package["zip"]["file"],
                    layers=(dist / "layers" / built[kind][arch]["zip"]["file"],)))
        expected[name] = (estimator, instances, X)
    with local_service(specs) as (_, client):
        yield client, expected


def predict(client, name: str, instances: list) -> tuple[dict, dict]:
    """The predict function's response and its decoded payload."""
    response = client.invoke(FunctionName=name, Payload=json.dumps({"instances": instances}))
    return response, json.loads(response["Payload"].read())


def served_answer(served, name: str, arch: str) -> tuple:
    """(the estimator, its instances, their rows, what the served function answered for them) for one model."""
    client, expected = served
    estimator, instances, X = expected[name]
    response, out = predict(client, f"{name}-{arch}", instances)
    assert "FunctionError" not in response, out
    return estimator, instances, X, out


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_a_multiclass_classifier_with_named_features(served, arch: str) -> None:
    estimator, instances, X, out = served_answer(served, "iris-forest", arch)
    client, _ = served
    assert out["predictions"] == estimator.predict(X).tolist() == ["setosa", "versicolor", "virginica", "virginica"]
    assert out["classes"] == ["setosa", "versicolor", "virginica"]
    assert np.allclose(out["probabilities"], estimator.predict_proba(X), rtol=0, atol=1e-12)
    missing = dict(instances[0])
    del missing["sepal width (cm)"]
    response, error = predict(client, f"iris-forest-{arch}", [missing])
    assert response["FunctionError"] == "Unhandled" and error["errorType"] == "PayloadError"
    assert "missing sepal width (cm)" in error["errorMessage"]


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_a_regressor(served, arch: str) -> None:
    estimator, _, X, out = served_answer(served, "diabetes-ridge", arch)
    assert set(out) == {"predictions", "model"}
    assert np.allclose(out["predictions"], estimator.predict(X), rtol=1e-12, atol=0)
    assert out["model"]["name"] == "diabetes-ridge"


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_a_pipeline_of_string_categories_and_missing_values(served, arch: str) -> None:
    estimator, _, X, out = served_answer(served, "wine-categorical", arch)
    assert out["predictions"] == estimator.predict(X).tolist()
    assert np.allclose(out["probabilities"], estimator.predict_proba(X), rtol=0, atol=1e-12)
    client, _ = served
    response, error = predict(client, f"wine-categorical-{arch}", [{**TABULAR[0], "proline": "high"}])
    assert response["FunctionError"] == "Unhandled" and error["errorType"] == "PayloadError"
    assert error["errorMessage"] == "instances[0].proline: must be a number or null, not a string"
    assert "FunctionError" not in predict(client, f"wine-categorical-{arch}", TABULAR[:1])[0]  # still serving


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_a_model_taking_missing_values_natively(served, arch: str) -> None:
    estimator, _, X, out = served_answer(served, "wine-hgb", arch)
    assert out["predictions"] == estimator.predict(X).tolist()
    assert np.allclose(out["probabilities"], estimator.predict_proba(X), rtol=0, atol=1e-12)


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_categories_and_gaps_through_onnx_runtime_as_through_scikit_learn(served, arch: str) -> None:
    """The boosted pipeline's typed ONNX export on the onnx layer (no scikit-learn, no pandas) answers the strings,
    nulls and unknown category as the model does in-process, labels equal and probabilities within 1e-5."""
    estimator, _, X, out = served_answer(served, "wine-boosted", arch)
    assert out["predictions"] == estimator.predict(X).tolist()
    assert np.allclose(out["probabilities"], estimator.predict_proba(X), rtol=0, atol=1e-12)
    client, _ = served
    response, onnx = predict(client, f"wine-boosted-onnx-{arch}", TABULAR)
    assert "FunctionError" not in response, onnx
    assert onnx["predictions"] == out["predictions"]
    assert np.abs(np.array(onnx["probabilities"]) - estimator.predict_proba(X)).max() <= 1e-5


def test_a_sweep_compares_the_tabular_model_on_both_backends_and_architectures(served, tmp_path: Path) -> None:
    """The sweep's machinery and report, on the tabular model's four functions, with its requests: each cell
    measured (a cold start, then warm calls) and put back as it was."""
    from lambda_ml_bench.measure.report import render
    from lambda_ml_bench.measure.sweep.cells import Target, Workload, plan
    from lambda_ml_bench.measure.sweep.driver import Sweep

    client, _ = served
    targets = [Target(arch, f"wine-boosted{suffix}-{arch}", backend)
               for arch in ("x86_64", "arm64") for suffix, backend in (("", "sklearn"), ("-onnx", "onnx"))]
    before = {t.name: client.get_function_configuration(FunctionName=t.name)["MemorySize"] for t in targets}
    cells = plan(targets, [1024], [Workload("tabular.json", {"instances": TABULAR})], rounds=1)
    out = tmp_path / "tabular.jsonl"
    records = Sweep(client, out, say=lambda _: None, warm=2).run(cells)
    assert {(r["architecture"], r["backend"]) for r in records} == {(t.architecture, t.backend) for t in targets}
    assert all(r["memory_mb"] == 1024 and r["workload"] == "tabular.json" for r in records)
    assert sum(r["cold"] for r in records) == 4 and len(records) == 12
    report = render(out, tmp_path).markdown.read_text()
    assert "x86_64 onnx" in report and "arm64 (emulated) onnx" in report
    assert {t.name: client.get_function_configuration(FunctionName=t.name)["MemorySize"] for t in targets} == before
