"""The planner: traffic shapes, Lambda's scaling simulated exactly as an explicit pool of environments behaves, every
mode's bill against its closed form, and the answer within the user's constraints."""
from __future__ import annotations

import heapq
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from support import LMB

from lambda_ml_bench import lambda_facts as facts
from lambda_ml_bench.measure import plan, simulate, traffic

DATA = Path(__file__).parents[1] / "data" / "compare-local-lambda.jsonl"
PRICES = facts.PRICES[facts.DEFAULT_REGION]


# --- traffic shapes ------------------------------------------------------------------------------
def test_shapes_are_read_as_users_write_them() -> None:
    assert traffic.parse("steady:50/s").params == {"rate": 50.0}
    assert traffic.parse("steady:300/min").params == {"rate": 5.0}
    d = traffic.parse("diurnal:peak=200/s,trough=5/s")
    assert d.rate(np.array([0.0, 43200.0])).tolist() == [5.0, 200.0]  # trough at midnight, peak at noon
    b = traffic.parse("burst:base=2/s,peak=300/s,every=1h,for=2m")
    assert b.rate(np.array([0.0, 119.0, 120.0, 3600.0])).tolist() == [300.0, 300.0, 2.0, 300.0]
    assert b.mean_rate() == pytest.approx(2 + 298 * 120 / 3600)


@pytest.mark.parametrize("spec, message", [
    ("steady:fast", "is not a rate"),
    ("steady:5/fortnight", "is not a rate"),
    ("diurnal:peak=200/s", "takes exactly peak, trough"),
    ("burst:base=2/s,peak=300/s,every=1m,for=2m", "at most `every`"),
    ("burst:base=2/s,peak=300/s,every=1h,for=2", "is not a time"),
    ("no-such-file.csv", "not a shape"),
])
def test_a_shape_that_cannot_be_read_says_why(spec: str, message: str) -> None:
    with pytest.raises(traffic.TrafficError, match=message):
        traffic.parse(spec)


def test_files_of_request_times_and_of_per_minute_counts(tmp_path: Path) -> None:
    times = tmp_path / "times.txt"
    times.write_text("# one request per line\n100.5\n100.0\n\n160\n")
    t = traffic.parse(str(times))
    assert t.times.tolist() == [0.0, 0.5, 60.0] and t.span_s == 60.0
    times.write_text("2026-12-04T10:00:00+00:00\n2026-12-04T10:00:30+00:00\n2026-12-04T10:02:00+00:00\n")
    t = traffic.parse(str(times))
    assert t.times.tolist() == [0.0, 30.0, 120.0] and t.span_s == 120.0
    counts = tmp_path / "counts.csv"
    counts.write_text("0,60\n60,0\n120,30\n")
    c = traffic.parse(str(counts))
    assert len(c.times) == 90 and c.span_s == 180.0 and (np.diff(c.times) >= 0).all()
    assert ((c.times >= 120) & (c.times < 180)).sum() == 30
    bad = tmp_path / "bad.csv"
    bad.write_text("0,60\n60,lots\n")
    with pytest.raises(traffic.TrafficError, match="not a count"):
        traffic.parse(str(bad))
    bad.write_text("\n# nothing\n")
    with pytest.raises(traffic.TrafficError, match="no requests"):
        traffic.parse(str(bad))


def test_arrivals_follow_the_rate() -> None:
    rng = np.random.default_rng(3)
    t = traffic.parse("steady:50/s").arrivals(rng, 0, 3600)
    assert abs(len(t) - 180_000) < 5 * np.sqrt(180_000) and (np.diff(t) >= 0).all()
    b = traffic.parse("burst:base=1/s,peak=100/s,every=10m,for=1m").arrivals(rng, 0, 600)
    assert abs(((b < 60).sum()) - 6000) < 5 * np.sqrt(6000) and abs((b >= 60).sum() - 540) < 5 * np.sqrt(540)


def test_a_month_too_big_to_play_whole_is_played_as_windows_that_stand_for_it() -> None:
    for spec in ("steady:50/s", "diurnal:peak=200/s,trough=5/s", "burst:base=2/s,peak=300/s,every=1h,for=2m"):
        shape = traffic.parse(spec)
        windows = shape.windows(600)
        assert sum(w.length * w.weight for w in windows) == pytest.approx(facts.MONTH_S)
        assert all(w.start - w.warmup >= -86400 and 60 <= w.warmup <= 600 for w in windows)
    assert traffic.parse("steady:0.2/s").windows(600) == [traffic.Window(0.0, facts.MONTH_S, 1.0)]


# --- the simulation against an explicit pool of environments ------------------------------------
def explicit_pool(t, warm, cold, idle_s, provisioned=0):
    """Environments one by one: an idle one is reused, the most recently released first; one idle for idle_s is
    reclaimed (provisioned ones never); none free: a cold start."""
    idle, busy, colds = [], [], np.zeros(len(t), dtype=bool)
    spare = provisioned
    for i, now in enumerate(t):
        while busy and busy[0][0] <= now:
            released, was_provisioned = heapq.heappop(busy)
            if was_provisioned:
                spare += 1
            else:
                idle.append(released)
        idle = sorted(r for r in idle if now - r < idle_s)
        if spare:
            spare -= 1
            heapq.heappush(busy, (now + warm[i] / 1000, True))
        elif idle:
            idle.pop()
            heapq.heappush(busy, (now + warm[i] / 1000, False))
        else:
            colds[i] = True
            heapq.heappush(busy, (now + cold[i] / 1000, False))
    return colds


class InOrder:
    """Draws that hand request i the i-th measured figure, so both sides see the same durations."""

    def integers(self, low, high, n):
        return np.arange(n)


@pytest.mark.parametrize("seed", range(40))
def test_cold_starts_are_exactly_those_of_an_explicit_pool(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 300))
    t = np.sort(rng.uniform(0, n / rng.uniform(0.5, 30), n))
    warm = rng.uniform(50, 800, n)
    cold = warm + rng.uniform(300, 3000, n)
    idle_s = float(rng.uniform(1, 30))
    provisioned = int(rng.integers(0, 3))
    out = simulate.lambda_pool(t, 0, warm, cold, np.ceil(cold), InOrder(), idle_s, provisioned)
    expected = explicit_pool(t, warm, cold, idle_s, provisioned)
    assert out.cold == expected.sum()
    assert out.requests == n and out.throttled == 0


def test_an_environment_idle_past_the_idle_time_is_gone() -> None:
    warm, cold = np.full(3, 10.0), np.full(3, 500.0)
    spaced = simulate.lambda_pool(np.array([0.0, 100.0, 200.0]), 0, warm, cold, cold, InOrder(), idle_s=99)
    close = simulate.lambda_pool(np.array([0.0, 100.0, 200.0]), 0, warm, cold, cold, InOrder(), idle_s=101)
    assert (spaced.cold, close.cold) == (3, 1)


def test_requests_beyond_the_concurrency_limit_are_throttled() -> None:
    t = np.linspace(0, 1, 50)  # 50 requests of 2 s each within a second
    out = simulate.lambda_pool(t, 0, np.full(50, 2000.0), np.full(50, 2500.0), np.full(50, 2500.0), InOrder(),
                               limit=10)
    assert out.throttled == 40 and out.cold == 10 and out.peak_concurrency == 10


def test_no_more_than_1000_new_environments_every_10_seconds() -> None:
    t = np.linspace(0, 5, 1500)  # 1,500 long requests in 5 s: each needs an environment of its own
    out = simulate.lambda_pool(t, 0, np.full(1500, 60_000.0), np.full(1500, 61_000.0), np.full(1500, 61_000.0),
                               InOrder(), limit=3000)
    assert out.cold == facts.SCALE_STEP and out.throttled == 500


# --- the bill -------------------------------------------------------------------------------------
def measured(warm_ms: float = 100.0, init_ms: float = 1000.0, memory_mb: int = 1024, n: int = 5,
             architecture: str = "x86_64", emulated: bool = False, max_memory: int = 200) -> plan.Measured:
    return plan.Measured(architecture, memory_mb, "sklearn", "w", emulated, False, np.full(n, warm_ms),
                         np.full(n, warm_ms + init_ms), np.full(n, float(np.ceil(warm_ms + init_ms))),
                         np.array([]), np.array([]), max_memory)


def test_on_demand_cost_of_a_steady_shape_is_the_closed_form() -> None:
    m = measured()
    shape = traffic.parse("steady:50/s")
    (o,), _ = plan.options_for([m], shape, modes=("on-demand",))
    requests = 50 * facts.MONTH_S
    closed = requests * (0.100 * 1024 / 1024 * PRICES.gb_second["x86_64"] + PRICES.request)
    assert o.monthly_usd == pytest.approx(closed, rel=0.01)
    assert o.requests == pytest.approx(requests, rel=0.01) and o.p50_ms == 100.0


def test_provisioned_concurrency_is_billed_whether_used_or_not() -> None:
    m = measured()
    opts, _ = plan.options_for([m], traffic.parse("steady:1/s"), modes=("provisioned",))
    for o in opts:
        n = o.setting["provisioned"]
        assert o.parts["provisioned"] == pytest.approx(n * 1.0 * facts.MONTH_S * PRICES.provisioned_gb_second["x86_64"])
        # every request fits on the provisioned environments: none runs (or is billed) on-demand
        if n >= o.peak_concurrency:
            assert o.parts["duration"] == 0 and o.cold_fraction == 0


def test_snapstart_replaces_init_by_the_restore_and_adds_its_fees() -> None:
    m = measured(init_ms=3000.0)
    (od,), _ = plan.options_for([m], traffic.parse("steady:0.001/s"), modes=("on-demand",))
    (ss,), skipped = plan.options_for([m], traffic.parse("steady:0.001/s"), modes=("snapstart",), restore_ms=200.0)
    assert od.p99_ms == 3100.0 and ss.p99_ms == 300.0  # nearly every request is cold at this rate
    assert ss.parts["snapshot cache"] == pytest.approx(1.0 * facts.MONTH_S * PRICES.snapstart_cache_gb_second)
    assert ss.parts["restores"] > 0 and not skipped
    _, skipped = plan.options_for([m], traffic.parse("steady:1/s"), modes=("snapstart",))
    assert "no Restore Duration measured" in skipped[0]["reason"]


def test_managed_instances_cost_their_minimum_fleet_at_low_traffic() -> None:
    m = measured(memory_mb=1769)
    opts, _ = plan.options_for([m], traffic.parse("steady:1/s"), modes=("managed-instances",))
    assert {o.setting["instance_type"] for o in opts} == {
        t.name for t in facts.INSTANCE_TYPES.values() if t.architecture == "x86_64"}
    for o in opts:
        inst = facts.INSTANCE_TYPES[o.setting["instance_type"]]
        ec2 = facts.MANAGED_MIN_INSTANCES * inst.usd_per_hour * facts.MONTH_S / 3600
        assert o.parts["instances"] == pytest.approx(ec2, rel=0.001)
        assert o.parts["management fee"] == pytest.approx(ec2 * facts.MANAGED_FEE, rel=0.001)
        assert o.cold_fraction == 0 and o.throttle_fraction == 0 and o.p50_ms == 100.0


def test_managed_instances_scale_with_the_cpu_the_traffic_needs() -> None:
    m = measured(warm_ms=200.0, memory_mb=1769)
    low, _ = plan.options_for([m], traffic.parse("steady:1/s"), modes=("managed-instances",))
    high, _ = plan.options_for([m], traffic.parse("steady:200/s"), modes=("managed-instances",))
    for a, b in zip(low, high, strict=True):
        assert b.setting["mean_instances"] > a.setting["mean_instances"] == facts.MANAGED_MIN_INSTANCES
        inst = facts.INSTANCE_TYPES[b.setting["instance_type"]]
        assert b.setting["mean_instances"] * inst.vcpus * 0.6 >= 200 * 0.2 * 0.99  # 40 vCPUs of work at 60%


def test_instance_types_know_their_architecture() -> None:
    assert all(facts.instance_architecture(t.name) == t.architecture for t in facts.INSTANCE_TYPES.values())
    assert [facts.instance_architecture(n) for n in ("c7gn.large", "r8gd.xlarge", "t4g.micro", "a1.large",
                                                      "m7i-flex.large", "c7a.xlarge", "g5.xlarge")] == \
        ["arm64"] * 4 + ["x86_64"] * 3


# --- the answer -----------------------------------------------------------------------------------
def test_the_answer_is_the_cheapest_option_within_the_constraints() -> None:
    fast = measured(warm_ms=20.0, memory_mb=3538)
    slow = measured(warm_ms=120.0, memory_mb=512)
    emulated = measured(warm_ms=5.0, memory_mb=512, architecture="arm64", emulated=True)
    opts, skipped = plan.options_for([fast, slow, emulated], traffic.parse("steady:10/s"), modes=("on-demand",))
    assert [s["architecture"] for s in skipped] == ["arm64"]  # emulated figures are not planned from
    cheapest = plan.answer(opts, plan.Constraints())
    assert cheapest.m is slow
    assert plan.answer(opts, plan.Constraints(p99_ms=100)).m is fast
    assert plan.answer(opts, plan.Constraints(p99_ms=100, budget_usd=1.0)) is None
    opts, _ = plan.options_for([fast, emulated], traffic.parse("steady:10/s"), modes=("on-demand",),
                               allow_emulated=True)
    assert plan.answer(opts, plan.Constraints(allow_emulated=True)).m is emulated
    assert plan.answer(opts, plan.Constraints()).m is fast


@pytest.mark.parametrize("text, unit, value", [("300ms", "ms", 300.0), ("0.3s", "ms", 300.0), ("250", "ms", 250.0),
                                               ("50/month", "usd", 50.0), ("$12.5", "usd", 12.5)])
def test_constraints_read_as_written(text: str, unit: str, value: float) -> None:
    assert plan.parse_constraint(text, unit) == value


def test_a_throttling_option_is_never_the_answer() -> None:
    m = measured()
    o = plan.Option("on-demand", m, {}, monthly_usd=1.0, p99_ms=10.0, throttle_fraction=0.01)
    assert "throttles 1.00%" in plan.eligible(o, plan.Constraints())


def test_lmb_plan_writes_the_plan_and_the_tfvars(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    tfvars = tmp_path / "answer.auto.tfvars.json"
    run = subprocess.run([*LMB, "plan", "--from", str(DATA), "--traffic", "burst:base=1/s,peak=40/s,every=1h,for=5m",
                          "--out", str(out), "--workload", "10 features", "--p99", "200ms",
                          "--write-tfvars", str(tfvars)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    doc = json.loads((out / "plan.json").read_text())
    assert {o["mode"] for o in doc["options"]} == {"on-demand", "provisioned", "managed-instances"}
    for o in doc["options"]:
        assert {"mode", "architecture", "memory_mb", "backend", "workload", "monthly_usd", "p50_ms", "p95_ms",
                "p99_ms", "cold_fraction", "throttle_fraction", "peak_concurrency"} <= set(o)
        assert o["architecture"] == "x86_64"  # the arm64 figures of this sweep are emulated
    a = doc["answer"]
    assert a == min((o for o in doc["options"] if o["p99_ms"] <= 200 and o["throttle_fraction"] == 0),
                    key=lambda o: o["monthly_usd"])
    assert plan.answer_line(a, "10 features") in run.stdout
    assert (out / "plan.png").stat().st_size > 10_000 and "![cost against traffic" in (out / "plan.md").read_text()
    written = json.loads(tfvars.read_text())
    assert written["handler_architectures"] == {"benchmark": [a["architecture"]]}
    assert written["memory_sizes"]["benchmark"] == a["memory_mb"]


def test_lmb_plan_refuses_what_it_cannot_plan_from(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"architecture": "x86_64", "memory_mb": 128, "duration_ms": 5, "cold": False}) + "\n")
    for args, message in (((str(DATA), "steady:lots"), "is not a rate"),
                          ((str(empty), "steady:1/s"), "both a cold start and a warm invocation")):
        run = subprocess.run([*LMB, "plan", "--from", args[0], "--traffic", args[1], "--out", str(tmp_path / "o")],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("seed", range(10))
def test_chains_of_cold_starts_are_played_out_request_by_request(seed: int, monkeypatch) -> None:
    """Cold starts that keep environments busy for the next requests (a burst into an empty pool): the vectorised
    passes give up and the window is played request by request, still exactly as the explicit pool."""
    rng = np.random.default_rng(seed)
    n = 600
    t = np.sort(rng.uniform(0, 20, n))  # 30 requests a second
    warm = rng.uniform(20, 40, n)
    cold = warm + rng.uniform(1500, 4000, n)  # INIT far longer than the gaps between requests
    passes = []
    real = simulate._in_flight
    monkeypatch.setattr(simulate, "_in_flight", lambda *a: passes.append(1) or real(*a))
    out = simulate.lambda_pool(t, 0, warm, cold, np.ceil(cold), InOrder(), 60.0)
    assert len(passes) == simulate.ITERATIONS  # it did not settle vectorised
    assert out.cold == explicit_pool(t, warm, cold, 60.0).sum()


def test_your_own_prices_reprice_every_mode(tmp_path: Path) -> None:
    own = tmp_path / "prices.json"
    own.write_text(json.dumps({"gb_second": {"x86_64": 0.00001, "arm64": 0.000008}, "instances": {
        "m7i.large": {"usd_per_hour": 0.05}, "c7a.large": {"architecture": "x86_64", "vcpus": 2, "memory_gib": 4,
                                                          "usd_per_hour": 0.09}}}))
    prices, instances = plan.load_prices("us-east-1", own)
    assert prices.gb_second["x86_64"] == 0.00001 and prices.request == PRICES.request
    assert instances["m7i.large"].usd_per_hour == 0.05 and instances["m7i.large"].vcpus == 2
    opts, _ = plan.options_for([measured(memory_mb=1769)], traffic.parse("steady:1/s"), prices=prices,
                               instances=instances, modes=("on-demand", "managed-instances"))
    m7i = next(o for o in opts if o.setting.get("instance_type") == "m7i.large")
    assert m7i.parts["instances"] == pytest.approx(3 * 0.05 * facts.MONTH_S / 3600, rel=0.001)
    assert "c7a.large" in {o.setting.get("instance_type") for o in opts}
    od = next(o for o in opts if o.mode == "on-demand")
    assert od.parts["duration"] == pytest.approx(od.requests * 0.1 * 1769 / 1024 * 0.00001, rel=0.02)
    for bad, message in (({"gb_seconds": {}}, "fields among"),
                         ({"instances": {"m9g.large": {"architecture": "x86_64", "vcpus": 2, "memory_gib": 8,
                                                       "usd_per_hour": 0.1}}}, "is arm64, not x86_64"),
                         ({"instances": {"z1.large": {"usd_per_hour": 0.1}}}, "fields: architecture"),
                         ({"gb_second": {"x86_64": "cheap", "arm64": 0.1}}, "non-negative numbers"),
                         ({"gb_second": {"x86_64": 0.1}}, "shaped as lambda_facts'"),
                         ({"request": -1}, "non-negative numbers"),
                         ({"instances": {"m7i.large": {"usd_per_hour": "free"}}}, "non-negative numbers")):
        own.write_text(json.dumps(bad))
        with pytest.raises(plan.PlanError, match=message):
            plan.load_prices("us-east-1", own)


def test_traffic_that_serves_no_request_is_planned_without_failing() -> None:
    """A shape with no request at all: every option costs what it costs idle, and a p99 constraint says why none
    can be judged instead of failing on a missing figure."""
    opts, _ = plan.options_for([measured(memory_mb=1769)], traffic.parse("steady:0/s"))
    assert opts and all(o.requests == 0 and o.p99_ms is None for o in opts)
    assert all(plan.eligible(o, plan.Constraints(p99_ms=100)) == "no request served, so no p99" for o in opts)
    assert plan.answer(opts, plan.Constraints(p99_ms=100)) is None
