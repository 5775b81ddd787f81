"""The benchmark handler: the study's defaults, its statistics, the time budget, bad workloads."""
from __future__ import annotations

import json

import pytest
from support import lambda_context, load_event

from lambda_ml_bench import lambda_facts
from lambda_ml_bench.handlers import runtime
from lambda_ml_bench.handlers.errors import PayloadError
from lambda_ml_bench.handlers.payload import MAX_CELLS, Workload, parse_workload

STATS = {"mean_ms", "std_ms", "min_ms", "median_ms", "p95_ms"}


def test_defaults_are_the_published_study() -> None:
    assert parse_workload({}) == Workload(n_features=10, n_samples=512, n_test_samples=1024, cycles=40,
                                          kernel="rbf", C=1.0, gamma="scale", seed=42)
    assert parse_workload(load_event("benchmark-study")) == parse_workload({})


def test_direct_invocation_reports_each_phase_and_the_environment(benchmark_module) -> None:
    out = benchmark_module.handler(load_event("benchmark-direct"), lambda_context())
    assert out["cycles_done"] == 3 and out["stopped_early"] is False
    for phase in ("fit", "predict"):
        stats = out[phase]
        assert set(stats) == STATS
        assert 0 < stats["min_ms"] <= stats["median_ms"] <= stats["p95_ms"]
        assert stats["min_ms"] <= stats["mean_ms"]
    assert 0.5 < out["accuracy"] <= 1.0
    env = out["environment"]
    assert env["machine"] and env["python"].startswith("3.13") and env["sklearn"]
    assert env["memory_mb"] == 3538 and env["blas_threads_set"] == 2
    assert env["blas"] and {"internal_api", "num_threads", "architecture"} <= set(env["blas"][0])
    assert all(pool["num_threads"] == 2 for pool in env["blas"])
    assert out["workload"]["n_samples"] == 512 and out["workload"]["n_test_samples"] == 1024
    assert isinstance(out["cold"], bool)


def test_same_seed_same_accuracy(benchmark_module) -> None:
    one = benchmark_module.handler({"cycles": 1, "seed": 7}, lambda_context())
    two = benchmark_module.handler({"cycles": 1, "seed": 7}, lambda_context())
    assert one["accuracy"] == two["accuracy"]


def test_stops_early_rather_than_hitting_the_timeout(benchmark_module) -> None:
    # 6 s left: the first cycles run, then the budget (the slowest cycle + 1 s safety) stops it before the deadline
    context = lambda_context(remaining_ms=6_000)
    out = benchmark_module.handler({"n_features": 2000, "cycles": 40}, context)
    assert out["stopped_early"] is True and 1 <= out["cycles_done"] < 40
    assert context.get_remaining_time_in_millis() > 0 and "would not end before the deadline" in out["stopped_because"]


@pytest.mark.parametrize(("workload", "left_ms"), [
    ({"n_features": 2000, "cycles": 40}, 1_500),  # within the documented bounds: once returned 2.2-5.7 s late
    ({"n_features": 20_000, "cycles": 40}, 1_500),  # the largest admitted at this memory size
    ({"n_features": 20_000, "n_test_samples": 1024, "cycles": 1}, 20_000),  # 31 million cells: 20 s is not enough
])
def test_with_too_little_time_nothing_starts_and_the_answer_says_why(benchmark_module, workload, left_ms) -> None:
    """The data and the first cycle are estimated before the first byte is generated: a run that could not end
    before the deadline does not start, and answers at once (Lambda would kill it and bill the whole timeout)."""
    context = lambda_context(remaining_ms=left_ms)
    out = benchmark_module.handler(workload, context)
    assert out["stopped_early"] is True and out["cycles_done"] == 0 and out["fit"] is None
    assert out["accuracy"] is None and "would not end" in out["stopped_because"]
    assert context.get_remaining_time_in_millis() > left_ms - 1_000  # it did not start the work


def test_function_url_event(benchmark_module) -> None:
    out = benchmark_module.handler(load_event("benchmark-function-url"), lambda_context())
    assert out["statusCode"] == 200
    assert json.loads(out["body"])["cycles_done"] == 3


def test_cold_is_true_once_per_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_invocations", 0)
    assert [runtime.first_invocation() for _ in range(3)] == [True, False, False]


@pytest.mark.parametrize(("memory", "threads"), [(128, 1), (1769, 1), (1770, 2), (3008, 2), (5307, 3),
                                                 (10240, 6)])
def test_blas_threads_follow_the_memory_size(memory: int, threads: int) -> None:
    assert lambda_facts.whole_vcpus(memory) == threads


BAD_WORKLOADS = [
    ({"cycles": 0}, "cycles", "between 1 and 1,000, got 0"),
    ({"cycles": 10**9}, "cycles", "between 1 and 1,000"),
    ({"n_features": 1}, "n_features", "between 2 and 20,000"),
    ({"n_features": 50_000}, "n_features", "between 2 and 20,000"),
    ({"n_features": 20_000, "n_test_samples": 10_000}, "n_features", f"at most {MAX_CELLS:,}"),
    ({"cycles": True}, "cycles", "must be an integer, not a boolean"),
    ({"cycles": 4.0}, "cycles", "must be an integer, not a number"),
    ({"n_samples": "512"}, "n_samples", "must be an integer, not a string"),
    ({"kernel": "cubic"}, "kernel", "must be one of linear, poly, rbf, sigmoid"),
    ({"C": 0}, "C", "positive number up to"),
    ({"C": False}, "C", "not a boolean"),
    ({"gamma": "often"}, "gamma", "or one of scale, auto, not a string"),
    ({"gamma": -1}, "gamma", "positive number"),
    ({"seed": -1}, "seed", "between 0 and"),
    ({"n_feature": 10}, "n_feature", "is not a known field"),
]


@pytest.mark.parametrize(("event", "field", "rule"), BAD_WORKLOADS)
def test_bad_workloads_raise_the_documented_error(benchmark_module, event: dict, field: str, rule: str) -> None:
    with pytest.raises(PayloadError, match=rule) as info:
        benchmark_module.handler(event, lambda_context())
    assert info.value.field == field


def test_bad_workload_over_http_is_a_400(benchmark_module) -> None:
    event = load_event("benchmark-function-url")
    event["body"] = json.dumps({"cycles": 0})
    out = benchmark_module.handler(event, lambda_context())
    assert out["statusCode"] == 400
    assert json.loads(out["body"])["error"]["field"] == "cycles"


def test_the_benchmark_endpoint_serves_post_only() -> None:
    from lambda_ml_bench.handlers import benchmark

    event = load_event("benchmark-function-url")
    event["requestContext"]["http"]["method"] = "GET"
    out = benchmark.handler(event, lambda_context())
    assert out["statusCode"] == 405 and out["headers"]["allow"] == "POST"
