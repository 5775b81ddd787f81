"""The answer per workload: the cheapest, the fastest and the balanced configuration (architecture + memory),
with the arm64/x86_64 ratios of time and cost at every memory size.

Each configuration is summarised from its warm invocations that ran the whole workload (early stops are
left out): the median duration with its spread, and the median cost per million. "Balanced" follows
aws-lambda-power-tuning's strategy: minimise weight x cost / max cost + (1 - weight) x duration / max
duration, so `--balance 1` is the cheapest and `--balance 0` the fastest.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from lambda_ml_bench.measure.records import arm_over_x86


@dataclass(frozen=True)
class Option:
    """One configuration of one workload, summarised."""

    workload: str
    architecture: str
    memory_mb: int
    backend: str
    duration_ms: float  # median of warm invocations
    duration_q1_ms: float
    duration_q3_ms: float
    cost_per_million: float  # median, USD
    init_ms: float | None  # median of the cold starts (INIT, or SnapStart's restore)
    samples: int
    early_stops: int  # invocations left out because they stopped early
    emulated: bool
    failures: int = 0  # invocations that failed (a timeout, out of memory, ...): left out, counted
    contended: int = 0  # of `samples`, those measured while the host could not give the environment its CPU share

    @property
    def distorted(self) -> bool:
        """Most of its figures were measured on a host that could not give the environment its share."""
        return self.contended * 2 > self.samples

    @property
    def label(self) -> str:
        backend = "" if self.backend == "sklearn" else f" {self.backend}"
        return f"{self.architecture}{backend} {self.memory_mb:,} MB"


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def options(records: list[dict]) -> list[Option]:
    """Every (workload, architecture, memory, backend) measured."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["workload"], r["architecture"], r["memory_mb"], r.get("backend", "sklearn"))].append(r)
    out = []
    for (workload, arch, memory, backend), rs in sorted(groups.items()):
        failures = sum(1 for r in rs if r.get("failed"))
        rs = [r for r in rs if not r.get("failed")]
        warm = [r for r in rs if not r["cold"]]
        complete = [r for r in warm if not r.get("stopped_early")]
        if not complete:
            continue
        q1, median, q3 = quartiles([r["duration_ms"] for r in complete])
        # a cold start's INIT, or its Restore Duration where the version runs with SnapStart
        inits = [
            r.get("restore_ms") or r["init_ms"] for r in rs if r["cold"] and (r.get("restore_ms") or r.get("init_ms"))
        ]
        out.append(
            Option(
                workload,
                arch,
                memory,
                backend,
                median,
                q1,
                q3,
                statistics.median(r["cost_usd"] for r in complete) * 1e6,
                statistics.median(inits) if inits else None,
                len(complete),
                len(warm) - len(complete),
                any(r.get("emulated") for r in rs),
                failures,
                sum(1 for r in complete if r.get("contended") is not None),
            )
        )
    return out


def cheapest(opts: list[Option]) -> Option:
    return min(opts, key=lambda o: (o.cost_per_million, o.duration_ms))


def fastest(opts: list[Option]) -> Option:
    return min(opts, key=lambda o: (o.duration_ms, o.cost_per_million))


def balanced(opts: list[Option], weight: float = 0.5) -> Option:
    if not 0 <= weight <= 1:
        raise ValueError(f"the balance weight must be from 0 (fastest) to 1 (cheapest), not {weight}")
    max_cost = max(o.cost_per_million for o in opts)
    max_duration = max(o.duration_ms for o in opts)
    return min(
        opts,
        key=lambda o: (
            weight * o.cost_per_million / max_cost + (1 - weight) * o.duration_ms / max_duration,
            o.cost_per_million,
        ),
    )


@dataclass
class Recommendation:
    workload: str
    cheapest: Option
    fastest: Option
    balanced: Option
    weight: float
    ratios: dict[int, tuple[float, float]] = field(default_factory=dict)  # memory -> (time, cost) arm64/x86_64

    def line(self) -> str:
        return (
            f"{self.workload}: cheapest {self.cheapest.label} (${self.cheapest.cost_per_million:,.2f} per 1M), "
            f"fastest {self.fastest.label} ({self.fastest.duration_ms:,.1f} ms), "
            f"balanced ({self.weight:g}) {self.balanced.label}"
        )


def ratios(opts: list[Option]) -> dict[int, tuple[float, float]]:
    """arm64 over x86_64 at every memory size measured on both: (time, cost); below 1 favours arm64."""
    return {memory: pair for (_, memory, _), pair in arm_over_x86(opts).items()}


def recommend(
    records: list[dict], weight: float = 0.5, allow_emulated: bool = False
) -> tuple[list[Recommendation], list[str]]:
    """One recommendation per workload, and notes on what was left out of them."""
    notes = []
    every = options(records)
    if not allow_emulated and any(o.emulated for o in every):
        notes.append(
            "Emulated arm64 figures are left out of the recommendation: they measure QEMU on this host, not "
            "Graviton (--allow-emulated takes them in)."
        )
    failed = [r for r in records if r.get("failed")]
    if failed:
        kinds = sorted({r["failed"] for r in failed})
        cells = sorted({f"{r['architecture']} {r['memory_mb']:,} MB {r['workload']}" for r in failed})
        notes.append(f"{len(failed)} invocations failed ({', '.join(kinds)}) and are left out of every figure: "
                     f"{'; '.join(cells[:10])}{' ...' if len(cells) > 10 else ''}.")
    early = sum(o.early_stops for o in every)
    if early:
        notes.append(f"{early} invocations stopped early (the timeout came first) and are left out of every figure.")
    distorted = [o for o in every if o.distorted]
    if distorted:
        notes.append(
            f"{len(distorted)} configurations ran mostly while this host could not give their environment its CPU "
            f"share (other processes took it): their figures are this busy host's, not Lambda's, and are left out of "
            f"the recommendation: {', '.join(o.label for o in distorted[:8])}{' ...' if len(distorted) > 8 else ''}."
        )
    by_workload: dict[str, list[Option]] = defaultdict(list)
    for o in every:
        if (allow_emulated or not o.emulated) and not o.distorted:
            by_workload[o.workload].append(o)
    out = []
    for workload, opts in by_workload.items():
        out.append(
            Recommendation(workload, cheapest(opts), fastest(opts), balanced(opts, weight), weight, ratios(opts))
        )
    return out, notes
