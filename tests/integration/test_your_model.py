"""Your own model end to end: two models besides the built-in one, built here from data scikit-learn ships, each
packaged, served by the local Lambda on both architectures, answering exactly as the model does on this host."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skops.io
from support import local_service

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
            "diabetes-ridge": (regressor, Xd[:5].tolist(), Xd[:5])}


@pytest.fixture(scope="module")
def served(built: dict, dist: Path, local_lambda: str, tmp_path_factory: pytest.TempPathFactory):
    """Each model imported from a skops file and packaged, then served as predict functions on both architectures."""
    specs, expected = [], {}
    for name, (estimator, instances, X) in models().items():
        folder = tmp_path_factory.mktemp(name)
        skops.io.dump(estimator, folder / f"{name}.skops")
        trust = skops.io.get_untrusted_types(file=folder / f"{name}.skops")
        import_model(folder / f"{name}.skops", trust, "1", folder / "model", rt=RT)
        package = build_package(RT, folder / "model", out_dir=folder / "function", work_dir=folder / "work",
                                say=lambda _: None)
        for arch in ("x86_64", "arm64"):
            specs.append(functions.FunctionSpec(
                name=f"{name}-{arch}", handler="handlers.predict.handler", architecture=arch, memory_size=1769,
                timeout=180, code=folder / "function" / package["zip"]["file"],
                layers=(dist / "layers" / built["sklearn"][arch]["zip"]["file"],)))
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
