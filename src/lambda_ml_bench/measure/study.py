"""The published study as a module: its workload, its sizes, and the typed record of one measurement.

An SVM classifier (scikit-learn's SVC) on synthetic binary data, 512 training and 1,024 test samples,
10 to 10,000 features, fitted and used for prediction 40 times per invocation of a 10,240 MB function.
The pytest-benchmark tests and the reports both use this module; neither reads the other.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

FEATURES = (10, 100, 1000, 10_000)
CYCLES = 40  # fit + predict cycles in one invocation, as deployed
TRAIN_SAMPLES, TEST_SAMPLES = 512, 1024
MEMORY_MB = 10_240  # the study's functions
EXTRA_INFO_KEY = "study"


def event(n_features: int, cycles: int = CYCLES) -> dict:
    """The benchmark handler's event for one invocation of the study."""
    return {"n_features": n_features, "cycles": cycles}


@dataclass(frozen=True)
class Measurement:
    """Median fit and predict times of one cycle, for one architecture and feature count."""

    architecture: str
    emulated: bool
    n_features: int
    fit_ms: float
    predict_ms: float
    source: str  # "in-process" (pytest-benchmark, this host) or "handler" (the benchmark handler's own medians)
    contended: float | None = None  # the fraction of a core (or its vCPU share) a busy host gave it, when it did not

    def invocation_ms(self, cycles: int = CYCLES) -> float:
        """The handler duration of one invocation as deployed: `cycles` fit + predict cycles."""
        return cycles * (self.fit_ms + self.predict_ms)

    def extra_info(self) -> dict:
        return {EXTRA_INFO_KEY: asdict(self)}

    @classmethod
    def from_extra_info(cls, info: dict) -> Measurement | None:
        data = info.get(EXTRA_INFO_KEY)
        fields = set(cls.__dataclass_fields__)
        required = {n for n, f in cls.__dataclass_fields__.items() if f.default is not None}
        return cls(**data) if isinstance(data, dict) and required <= set(data) <= fields else None


def phase_info(architecture: str, emulated: bool, n_features: int, phase: str,
               contended: float | None = None) -> dict:
    """extra_info of a benchmark that times one phase ("fit" or "predict") of a cycle in this process."""
    return {EXTRA_INFO_KEY + "_phase": {"architecture": architecture, "emulated": emulated, "n_features": n_features,
                                        "phase": phase, "contended": contended}}


def measurements(pytest_benchmark: dict) -> list[Measurement]:
    """The study's measurements in a pytest-benchmark JSON document: whole ones (the handler's own medians) and
    pairs of phase benchmarks (their medians) joined."""
    whole, phases = [], {}
    for b in pytest_benchmark["benchmarks"]:
        info = b.get("extra_info", {})
        m = Measurement.from_extra_info(info)
        if m is not None:
            whole.append(m)
        elif EXTRA_INFO_KEY + "_phase" in info:
            p = info[EXTRA_INFO_KEY + "_phase"]
            key = (p["architecture"], p["emulated"], p["n_features"])
            phases.setdefault(key, {})[p["phase"]] = b["stats"]["median"] * 1e3
            if p.get("contended") is not None:  # the worst of the two phases
                given = phases[key].get("contended")
                phases[key]["contended"] = p["contended"] if given is None else min(given, p["contended"])
    for (arch, emulated, n), p in phases.items():
        if {"fit", "predict"} <= set(p):
            whole.append(Measurement(arch, emulated, n, p["fit"], p["predict"], "in-process", p.get("contended")))
    return sorted(whole, key=lambda m: (m.n_features, m.architecture, m.emulated))
