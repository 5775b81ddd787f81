"""One record shape from measurement to report, and the one reader of pytest-benchmark's JSON.

A record is one invocation as the reports read it, whether a sweep measured it (measure.sweep.executor writes them
to JSONL) or the local benchmarks did (pytest-benchmark JSON, adapted here):

    workload, n_features, architecture, memory_mb, backend, environment, emulated, allotment, cold,
    duration_ms, billed_ms, init_ms, restore_ms, cost_usd, stopped_early, [fit_median_ms, predict_median_ms]

"USD per 1M" everywhere is one million such invocations as deployed: billed as the REPORT line bills them (duration,
plus INIT when cold, rounded up to the millisecond) at the architecture's rate, plus the request fee
(lambda_facts.PRICES, dated). Every side-by-side ratio of a run (arm64 against x86_64, a backend against its
baseline, a measured variant against its baseline) is computed here, once.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from lambda_ml_bench.lambda_facts import billed_ms
from lambda_ml_bench.measure import pricing, study

USD_PER_MILLION = ("USD per 1M: one million invocations as deployed, each billed as its REPORT line says (duration, "
                   "plus INIT when cold, rounded up to the millisecond) at the architecture's rate, plus the request "
                   "fee")


def from_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def invocation(workload: str, architecture: str, memory_mb: int, duration_ms: float, *, backend: str = "sklearn",
               environment: str, emulated: bool, allotment: str, cold: bool = False, init_ms: float | None = None,
               n_features: int | None = None, region: str = pricing.DEFAULT_REGION, **extra) -> dict:
    """A record of one invocation, its bill and cost computed as Lambda computes them."""
    billed = billed_ms(duration_ms, init_ms)
    return {"workload": workload, "n_features": n_features, "architecture": architecture, "memory_mb": memory_mb,
            "backend": backend, "environment": environment, "emulated": emulated, "allotment": allotment,
            "cold": cold, "duration_ms": duration_ms, "billed_ms": billed, "init_ms": init_ms, "restore_ms": None,
            "cost_usd": pricing.cost(pricing.Invocation(architecture, memory_mb, billed), region),
            "stopped_early": False, "region": region, **extra}


# --- pytest-benchmark's JSON ------------------------------------------------------------------------
def median_ms(bench: dict) -> float:
    """A benchmark's median in ms, from the JSON file ("stats") or from pytest-benchmark's hooks (flat)."""
    return (bench["stats"]["median"] if "stats" in bench else bench["median"]) * 1e3


def from_pytest_benchmark(data: dict) -> list[dict]:
    """The study's local measurements as records: one warm invocation of the study's 40 cycles at its 10,240 MB,
    per architecture and feature count."""
    return [
        invocation(f"{m.n_features:,} features", m.architecture, study.MEMORY_MB, m.invocation_ms(),
                   environment="local Lambda" if m.emulated else "this machine", emulated=m.emulated,
                   allotment="not allotted", n_features=m.n_features, fit_median_ms=m.fit_ms,
                   predict_median_ms=m.predict_ms, source=m.source,
                   **({"contended": m.contended} if m.contended is not None else {}))
        for m in study.measurements(data)
    ]


@dataclass(frozen=True)
class Comparison:
    """A measured figure set beside its baseline in the same run: their ratio, and the target it is held to."""

    group: str
    what: str  # "onnx / sklearn per call", "8 cells --parallel 8 / --parallel 1", ...
    measured_ms: float
    baseline_ms: float
    target: float | None = None
    architecture: str | None = None
    emulated: bool = False
    backend: str | None = None
    baseline: str | None = None
    rows: int | None = None  # for a backend's warm call: rows per request
    layers: dict | None = None
    model: str | None = None  # for a backend's figures: the model served

    @property
    def ratio(self) -> float:
        return self.measured_ms / self.baseline_ms

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return f"≤ {self.target:g}: {'met' if self.ratio <= self.target else 'NOT met'}"

    def line(self) -> str:
        target = f"  ({self.verdict})" if self.target is not None else ""
        return (f"{self.group}: {self.what} = {self.ratio:.3f} (medians {self.measured_ms:.3f} / "
                f"{self.baseline_ms:.3f} ms){target}")


def comparisons(benchmarks: list[dict]) -> list[Comparison]:
    """Every side-by-side ratio a benchmark run holds, from the extra_info its benchmarks carry."""
    out: list[Comparison] = []
    roles: dict[str, dict[str, dict]] = {}
    for b in benchmarks:
        info = b.get("extra_info", {})
        common = {"architecture": info.get("architecture"), "emulated": bool(info.get("emulated")),
                  "backend": info.get("backend"), "baseline": info.get("baseline"), "layers": info.get("layers"),
                  "model": info.get("model")}
        if info.get("role"):
            roles.setdefault(b["group"], {})[info["role"]] = b
        if info.get("interleaved_baseline_ms"):
            out.append(Comparison(b["group"], f"{b['name']} / {info['baseline']}, interleaved", median_ms(b),
                                  statistics.median(info["interleaved_baseline_ms"]), info.get("target_ratio"),
                                  **common))
        if info.get("baseline_per_call_ms"):
            out.append(Comparison(b["group"], f"{info['backend']} / {info['baseline']} per call, interleaved",
                                  statistics.median(info["per_call_ms"]),
                                  statistics.median(info["baseline_per_call_ms"]), info["target_ratio"],
                                  rows=info.get("rows"), **common))
        if info.get("ratio_parallel_8_to_1") is not None:
            out.append(Comparison(b["group"], "wall time, 8 cells --parallel 8 / --parallel 1",
                                  statistics.median(info["wall_s_parallel_8"]) * 1e3,
                                  statistics.median(info["wall_s_parallel_1"]) * 1e3, info.get("target_ratio")))
    for group, pair in sorted(roles.items()):
        baseline = pair.get("baseline")
        reported = baseline.get("extra_info", {}).get("reported_median_ms") if baseline else None
        if reported is not None:
            out.append(Comparison(group, "median the handler reports / median timed directly", reported,
                                  median_ms(baseline)))
        if {"measured", "baseline"} <= set(pair):
            measured = pair["measured"]
            out.append(Comparison(group, f"{measured['name']} / {baseline['name']}", median_ms(measured),
                                  median_ms(baseline), measured.get("extra_info", {}).get("target_ratio")))
    return out


def backend_comparisons(data: dict) -> list[Comparison]:
    """scikit-learn against ONNX Runtime (tests/benchmarks/test_backends.py): cold starts and warm calls."""
    return [c for c in comparisons(data["benchmarks"]) if c.backend and c.baseline and c.group.startswith("backend-")]


# --- arm64 against x86_64 ------------------------------------------------------------------------------
def arm_over_x86(options: list) -> dict[tuple, tuple[float, float]]:
    """(time, cost) of arm64 over x86_64 for every (workload, memory, backend) measured natively on both; below 1
    favours arm64. The only place the ratio is computed."""
    by = {(o.workload, o.architecture, o.memory_mb, o.backend): o for o in options}
    out = {}
    for (workload, arch, memory, backend), arm in sorted(by.items()):
        x86 = by.get((workload, "x86_64", memory, backend))
        if arch == "arm64" and x86 is not None and not arm.emulated and not x86.emulated:
            out[(workload, memory, backend)] = (arm.duration_ms / x86.duration_ms,
                                                arm.cost_per_million / x86.cost_per_million)
    return out
