"""The published study's workload: SVM fit and predict on synthetic data, timed per cycle."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.datasets import make_classification
from sklearn.svm import SVC

from .lambda_facts import vcpus
from .payload import Workload

SAFETY_MS = 1_000  # kept free before the timeout, for shaping and returning the response
# What a step costs at one full vCPU, twice what a 2-core x86_64 host measured (make_classification: 55-100 ns per
# cell; SVC fit + predict with the rbf kernel: 380-480 ps per (training row x all rows) x feature): the estimates that
# decide, before the first byte, whether the data and the first cycle fit the time left.
DATA_NS_PER_CELL = 200
CYCLE_PS_PER_PAIR_FEATURE = 1_000


@dataclass
class Timings:
    fit_ms: list[float] = field(default_factory=list)
    predict_ms: list[float] = field(default_factory=list)
    accuracy: float = float("nan")
    stopped_early: bool = False
    data_ms: float = 0.0
    stopped_because: str | None = None


def estimate_ms(w: Workload, memory_mb: int | None) -> tuple[float, float]:
    """(generating the data, one fit + predict cycle) in ms for this workload at this memory size's CPU share
    (libsvm and the generator use one core: shares above one vCPU do not speed them up)."""
    share = min(1.0, vcpus(memory_mb)) if memory_mb else 1.0
    data = (w.n_samples + w.n_test_samples) * w.n_features * DATA_NS_PER_CELL / 1e6 / share
    cycle = w.n_samples * (w.n_samples + w.n_test_samples) * w.n_features * CYCLE_PS_PER_PAIR_FEATURE / 1e9 / share
    return data, cycle


def make_data(w: Workload) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=w.n_samples + w.n_test_samples, n_features=w.n_features,
        n_informative=2, n_redundant=min(2, w.n_features - 2), random_state=w.seed,
    )
    return X[: w.n_samples], y[: w.n_samples], X[w.n_samples:], y[w.n_samples:]


def run(w: Workload, remaining_ms: Callable[[], int], memory_mb: int | None = None) -> Timings:
    """Fit and predict `w.cycles` times, honouring the deadline from the first byte: before the data is generated
    and before each cycle, the step's cost is estimated (from the workload's size at first, then from how fast this
    machine turned out to be) and the run stops early when it would not end `SAFETY_MS` before the deadline."""
    out = Timings()
    est_data, est_cycle = estimate_ms(w, memory_mb)
    if remaining_ms() < est_data + est_cycle + SAFETY_MS:
        out.stopped_early = True
        out.stopped_because = (f"the data ({est_data:,.0f} ms) and one cycle ({est_cycle:,.0f} ms) would not end "
                               f"{SAFETY_MS:,} ms before the deadline")
        return out
    start = time.perf_counter()
    X_train, y_train, X_test, y_test = make_data(w)
    out.data_ms = (time.perf_counter() - start) * 1e3
    next_cycle = est_cycle * max(0.5, out.data_ms / est_data if est_data > 0 else 1.0)  # this machine's speed
    for cycle in range(w.cycles):
        if remaining_ms() < next_cycle + SAFETY_MS:
            out.stopped_early = True
            out.stopped_because = f"cycle {cycle + 1} ({next_cycle:,.0f} ms) would not end before the deadline"
            break
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
        next_cycle = max(a + b for a, b in zip(out.fit_ms, out.predict_ms))
    return out


def summary(samples_ms: list[float]) -> dict | None:
    """Mean, spread and percentiles of the cycles run; None when none ran."""
    if not samples_ms:
        return None
    a = np.asarray(samples_ms)
    return {
        "mean_ms": float(a.mean()), "std_ms": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "min_ms": float(a.min()), "median_ms": float(np.median(a)), "p95_ms": float(np.percentile(a, 95)),
    }
