"""The published study's workload: SVM fit and predict on synthetic data, timed per cycle."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.datasets import make_classification
from sklearn.svm import SVC

from .payload import Workload

SAFETY_MS = 1_000  # kept free before the timeout, for shaping and returning the response


@dataclass
class Timings:
    fit_ms: list[float] = field(default_factory=list)
    predict_ms: list[float] = field(default_factory=list)
    accuracy: float = float("nan")
    stopped_early: bool = False
    data_ms: float = 0.0


def make_data(w: Workload) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=w.n_samples + w.n_test_samples, n_features=w.n_features,
        n_informative=2, n_redundant=min(2, w.n_features - 2), random_state=w.seed,
    )
    return X[: w.n_samples], y[: w.n_samples], X[w.n_samples:], y[w.n_samples:]


def run(w: Workload, remaining_ms: Callable[[], int]) -> Timings:
    """Fit and predict `w.cycles` times; stop early when the next cycle would not fit the budget."""
    out = Timings()
    start = time.perf_counter()
    X_train, y_train, X_test, y_test = make_data(w)
    out.data_ms = (time.perf_counter() - start) * 1e3
    for cycle in range(w.cycles):
        model = SVC(kernel=w.kernel, C=w.C, gamma=w.gamma)
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        t1 = time.perf_counter()
        predicted = model.predict(X_test)
        t2 = time.perf_counter()
        out.fit_ms.append((t1 - t0) * 1e3)
        out.predict_ms.append((t2 - t1) * 1e3)
        if cycle == 0:
            out.accuracy = float((predicted == y_test).mean())
        cycle_ms = max(a + b for a, b in zip(out.fit_ms, out.predict_ms))
        if cycle + 1 < w.cycles and remaining_ms() < cycle_ms + SAFETY_MS:
            out.stopped_early = True
            break
    return out


def summary(samples_ms: list[float]) -> dict:
    a = np.asarray(samples_ms)
    return {
        "mean_ms": float(a.mean()), "std_ms": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "min_ms": float(a.min()), "median_ms": float(np.median(a)), "p95_ms": float(np.percentile(a, 95)),
    }
