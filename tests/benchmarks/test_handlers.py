"""The handlers warm, each beside the same scikit-learn call made directly, in one run."""
from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.svm import SVC
from support import lambda_context

from lambda_ml_bench.handlers import runtime
from lambda_ml_bench.handlers.payload import Workload
from lambda_ml_bench.handlers.workload import make_data


def rows(n: int) -> list[list[float]]:
    X, _ = load_breast_cancer(return_X_y=True)
    return np.resize(X, (n, X.shape[1])).tolist()


def info(benchmark, role: str, **extra) -> None:
    env = runtime.describe()
    benchmark.extra_info.update({"role": role, "architecture": env["machine"], "emulated": False,
                                 "versions": {k: env[k] for k in ("python", "numpy", "scipy", "sklearn")},
                                 "blas": env["blas"], **extra})


@pytest.fixture(scope="module")
def predict_module(handlers_env):
    """The scikit-learn predict handler (ONNX Runtime's is measured against it in test_backends.py)."""
    import importlib

    return importlib.import_module("lambda_ml_bench.handlers.predict")


@pytest.mark.parametrize("n_rows", [1, 1000])
def test_predict_handler_warm(benchmark, predict_module, n_rows: int) -> None:
    """Each timed handler call follows one predict_proba on the same input, timed the same way."""
    benchmark.group = f"predict-{n_rows}-rows"
    event, context = {"instances": rows(n_rows)}, lambda_context()
    predict_module.handler(event, context)  # warm: the model is loaded, caches are hot
    direct_ms: list[float] = []

    def setup():
        started = time.perf_counter()
        predict_module.MODEL.estimator.predict_proba(event["instances"])
        direct_ms.append((time.perf_counter() - started) * 1e3)

    info(benchmark, "measured", rows=n_rows, target_ratio=1.3 if n_rows == 1 else 1.05,
         baseline="predict_proba directly")
    rounds = 400 if n_rows == 1 else 60
    out = benchmark.pedantic(predict_module.handler, args=(event, context), setup=setup, rounds=rounds,
                             iterations=1, warmup_rounds=3)
    benchmark.extra_info["interleaved_baseline_ms"] = direct_ms
    assert len(out["predictions"]) == n_rows


STUDY_FEATURES = [10, 100]


@pytest.mark.parametrize("phase", ["fit", "predict"])
@pytest.mark.parametrize("n_features", STUDY_FEATURES)
def test_benchmark_handler_timings_beside_direct_timing(benchmark, benchmark_module, n_features: int,
                                                        phase: str) -> None:
    """The study's 40 cycles timed directly, beside the median the handler reports for them (the ratio is printed
    with the benchmarks, not asserted); the handler's own summary is consistent."""
    benchmark.group = f"study-{n_features}-features-{phase}"
    w = Workload(n_features=n_features)
    X_train, y_train, X_test, _ = make_data(w)
    fitted = SVC().fit(X_train, y_train)
    call = (lambda: SVC().fit(X_train, y_train)) if phase == "fit" else (lambda: fitted.predict(X_test))
    info(benchmark, "baseline", n_features=n_features, phase=phase)
    benchmark.pedantic(call, rounds=w.cycles, iterations=1, warmup_rounds=2)
    out = benchmark_module.handler({"n_features": n_features}, lambda_context())
    benchmark.extra_info.update({"reported_median_ms": out[phase]["median_ms"], "cycles_done": out["cycles_done"]})
    summary = out[phase]
    assert out["cycles_done"] == w.cycles and not out["stopped_early"]
    assert 0 < summary["min_ms"] <= summary["median_ms"] <= summary["p95_ms"] and summary["std_ms"] >= 0
