"""How long `lmb plan` takes to simulate a month of traffic under every mode, for the options of one workload of a
real sweep (tests/data), and how that grows with the traffic: targets 10 s for a steady 50/s, 30 s for a burst."""
from __future__ import annotations

from pathlib import Path

import pytest

from lambda_ml_bench.measure import plan, traffic

DATA = Path(__file__).parents[1] / "data" / "compare-local-lambda.jsonl"
SHAPES = {
    "steady:5/s": None,
    "steady:50/s": 10.0,
    "steady:500/s": None,
    "burst:base=2/s,peak=300/s,every=1h,for=2m": 30.0,
    "diurnal:peak=200/s,trough=5/s": None,
}


@pytest.mark.parametrize("spec", SHAPES)
def test_a_month_of_traffic_simulated_under_every_mode(benchmark, spec: str) -> None:
    ms = [m for m in plan.measurements(plan.read_records(DATA)) if m.workload == "10 features"]
    shape = traffic.parse(spec)
    opts, _ = benchmark.pedantic(plan.options_for, args=(ms, shape), kwargs={"restore_ms": 300.0}, rounds=1,
                                 iterations=1)
    benchmark.group = "plan: a month simulated"
    windows = shape.windows(600)
    benchmark.extra_info.update(
        traffic=spec, options=len(opts), requests_per_month=round(shape.requests_per_month()),
        played_requests=round(sum((w.length + w.warmup) * shape.mean_rate() for w in windows)),
        target_s=SHAPES[spec])
    assert {o.mode for o in opts} == set(plan.MODES)
