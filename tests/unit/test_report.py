"""Figures with one meaning everywhere: the cost definition shared by both reports, the REPORT line, the sweep's
order, early stops, the recommendation's three strategies on hand-computed inputs, and real rendered reports."""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
from support import REPO

from lambda_ml_bench.measure import pricing, study
from lambda_ml_bench.measure.recommend import Option, balanced, cheapest, fastest, options, recommend
from lambda_ml_bench.measure.report import local_rows, render
from lambda_ml_bench.measure.sweep.cells import CompareError, Target, Workload, plan
from lambda_ml_bench.measure.sweep.executor import parse_report

DATA = REPO / "tests" / "data"


def test_report_line_is_parsed_cold_and_warm() -> None:
    cold = ("START RequestId: a Version: $LATEST\nEND RequestId: a\nREPORT RequestId: a\tDuration: 86.01 ms\t"
            "Billed Duration: 18145 ms\tMemory Size: 1769 MB\tMax Memory Used: 257 MB\tInit Duration: 18058.47 ms\t\n")
    assert parse_report(cold) == {"request_id": "a", "duration_ms": 86.01, "billed_ms": 18145, "memory_mb": 1769,
                                  "max_memory_used_mb": 257, "init_ms": 18058.47, "restore_ms": None}
    warm = (
        "REPORT RequestId: b\tDuration: 3.51 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\tMax Memory Used: 51 MB\t"
    )
    assert parse_report(warm)["init_ms"] is None and parse_report(warm)["billed_ms"] == 4
    with pytest.raises(CompareError, match="no REPORT line"):
        parse_report("just output\n")


def test_the_report_line_the_local_lambda_writes_reads_back_the_same() -> None:
    from lambda_ml_bench import lambda_facts as logs

    written = logs.report("c", 12.345, 1769, 90, init_ms=250.5)
    assert written.billed_ms == 263 and written.line().endswith("Init Duration: 250.50 ms\t")
    back = logs.parse_report("END RequestId: c\n" + written.line() + "\n")
    assert (back.duration_ms, back.billed_ms, back.max_memory_used_mb, back.init_ms) == (12.35, 263, 90, 250.5)


# --- one cost definition ---------------------------------------------------------------------
def record(arch: str, memory: int, duration: float, workload: str = "100 features", cold: bool = False, **kw) -> dict:
    billed = math.ceil(duration)
    return {
        "architecture": arch,
        "memory_mb": memory,
        "workload": workload,
        "n_features": 100,
        "cold": cold,
        "environment": "Lambda",
        "emulated": False,
        "backend": "sklearn",
        "duration_ms": duration,
        "billed_ms": billed,
        "init_ms": 400.0 if cold else None,
        "stopped_early": False,
        "cost_usd": pricing.cost(pricing.Invocation(arch, memory, billed)),
        **kw,
    }


def test_the_same_timings_cost_the_same_through_the_local_and_the_remote_path() -> None:
    """A local measurement (per-cycle medians) and a deployed invocation that ran the same 40 cycles cost the same."""
    fit, predict = 21.5, 39.6
    local = {
        "benchmarks": [
            {"extra_info": study.phase_info("x86_64", False, 100, "fit"), "stats": {"median": fit / 1e3}},
            {"extra_info": study.phase_info("x86_64", False, 100, "predict"), "stats": {"median": predict / 1e3}},
        ]
    }
    (row,) = local_rows(local)
    remote = record("x86_64", study.MEMORY_MB, study.CYCLES * (fit + predict))
    (option,) = options([remote])
    assert row["invocation_ms"] == pytest.approx(2444.0)
    assert row["cost_per_million"] == pytest.approx(option.cost_per_million, rel=1e-12)
    # by hand: 10 GB x 2.444 s = 24.44 GB-s x 0.0000166667 = 4.0733e-4, plus 2e-7 per request
    assert row["cost_per_million"] == pytest.approx((24.44 * 0.0000166667 + 2e-7) * 1e6, rel=1e-9)


# --- the sweep's order -----------------------------------------------------------------------
def test_architectures_are_interleaved_within_each_step_and_rounds_spread_over_the_run() -> None:
    targets = [Target("arm64", "a"), Target("x86_64", "x")]
    workloads = [Workload("10 features", {}, 10), Workload("100 features", {}, 100)]
    cells = plan(targets, [1769, 3538], workloads, rounds=2)
    assert len(cells) == 16
    steps = [cells[i : i + 2] for i in range(0, 16, 2)]
    for step in steps:  # every step measures both architectures side by side
        assert {c.target.architecture for c in step} == {"arm64", "x86_64"}
        assert len({(c.memory_mb, c.workload, c.round) for c in step}) == 1
    firsts = [step[0].target.architecture for step in steps]
    assert firsts.count("arm64") == firsts.count("x86_64") == 4  # neither always goes first
    assert [c.round for c in cells[:8]] == [1] * 8 and [c.round for c in cells[8:]] == [2] * 8
    assert len({c.alias for c in cells if c.target.name == "a"}) == 8  # a version and alias per cell


def test_early_stops_are_left_out_and_counted() -> None:
    recs = [
        record("x86_64", 1769, 100.0),
        record("x86_64", 1769, 110.0),
        record("x86_64", 1769, 50.0, stopped_early=True),
        record("x86_64", 1769, 900.0, cold=True),
    ]
    (o,) = options(recs)
    assert (o.samples, o.early_stops, o.duration_ms, o.init_ms) == (2, 1, 105.0, 400.0)
    _, notes = recommend(recs)
    assert any("1 invocations stopped early" in n for n in notes)


def test_failed_invocations_are_left_out_counted_and_named_in_the_report(tmp_path: Path) -> None:
    timed_out = {**record("x86_64", 128, 3000.0, cold=True), "failed": "Sandbox.Timedout", "error": "timed out"}
    recs = [record("x86_64", 1769, 100.0, cold=True), record("x86_64", 1769, 100.0), timed_out]
    opts = options(recs)
    assert [(o.memory_mb, o.samples) for o in opts] == [(1769, 1)]  # the failed configuration has no figures
    _, notes = recommend(recs)
    assert any("1 invocations failed (Sandbox.Timedout)" in n and "x86_64 128 MB" in n for n in notes)
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert "invocations failed (Sandbox.Timedout)" in render(path, tmp_path).markdown.read_text()


# --- the recommendation, by hand -------------------------------------------------------------
def option(arch: str, memory: int, duration: float, cost: float, emulated: bool = False) -> Option:
    return Option("w", arch, memory, "sklearn", duration, duration, duration, cost, None, 3, 0, emulated)


def test_cheapest_fastest_and_balanced_on_hand_computed_inputs() -> None:
    opts = [option("arm64", 512, 400.0, 3.0), option("x86_64", 1024, 150.0, 4.0), option("arm64", 2048, 100.0, 8.0)]
    assert cheapest(opts).memory_mb == 512
    assert fastest(opts).memory_mb == 2048
    # by hand, normalised by the largest (cost 8, duration 400), weight 0.5:
    # 512: 0.5*3/8 + 0.5*400/400 = 0.6875; 1024: 0.5*4/8 + 0.5*150/400 = 0.4375; 2048: 0.5*8/8 + 0.5*100/400 = 0.625
    assert balanced(opts, 0.5).memory_mb == 1024
    assert balanced(opts, 1.0).memory_mb == 512 and balanced(opts, 0.0).memory_mb == 2048
    # weight 0.8: 512: 0.3+0.2=0.5; 1024: 0.4+0.075=0.475; 2048: 0.8+0.05=0.85
    assert balanced(opts, 0.8).memory_mb == 1024
    with pytest.raises(ValueError, match="from 0"):
        balanced(opts, 1.5)


def test_emulated_figures_stay_out_unless_allowed() -> None:
    recs = [record("x86_64", 1769, 100.0), record("arm64", 1769, 20.0, emulated=True)]
    (rec,), notes = recommend(recs)
    assert rec.fastest.architecture == "x86_64" and rec.ratios == {}
    assert any("Emulated arm64 figures are left out" in n for n in notes)
    (rec,), _ = recommend(recs, allow_emulated=True)
    assert rec.fastest.architecture == "arm64"


def test_ratios_at_every_memory_size() -> None:
    recs = [
        record("arm64", 1024, 90.0),
        record("x86_64", 1024, 100.0),
        record("arm64", 2048, 50.0),
        record("x86_64", 2048, 40.0),
    ]
    (rec,), _ = recommend(recs)
    time_1024, cost_1024 = rec.ratios[1024]
    assert time_1024 == pytest.approx(0.9)
    expected = (1 * 0.09 * 0.0000133334 + 2e-7) / (1 * 0.1 * 0.0000166667 + 2e-7)
    assert cost_1024 == pytest.approx(expected)
    assert rec.ratios[2048][0] == pytest.approx(1.25)


# --- rendered from real runs -----------------------------------------------------------------
def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_a_recorded_sweep_renders_with_a_recommendation_and_spread(tmp_path: Path) -> None:
    rendered = render(DATA / "compare-local-lambda.jsonl", tmp_path)
    md = rendered.markdown.read_text()
    assert "## Recommendation" in md and "cheapest" in md and "balanced (0.5)" in md
    # what was printed is returned as objects, and it is what the report says
    assert rendered.recommendations and all(f"- {r.line()}" in md for r in rendered.recommendations)
    assert all(not r.cheapest.emulated for r in rendered.recommendations)
    assert "| workload | architecture | memory MB | warm n | duration ms, median (IQR) |" in md
    assert "Emulated arm64 figures are left out of the recommendation" in md
    assert "as of 2026-11-01" in md
    width, height = png_size(tmp_path / "compare-local-lambda.png")
    assert width > 800 and height > 300


def test_the_recorded_local_benchmarks_render_with_the_same_cost_column(tmp_path: Path) -> None:
    md = render(DATA / "local-benchmarks.json", tmp_path).markdown.read_text()
    assert f"| invocation ms ({study.CYCLES} cycles) | USD per 1M |" in md
    for line in md.splitlines():
        if "emulated" in line and line.startswith("|"):
            assert line.rstrip().endswith("| — | — | — |")
    width, _ = png_size(tmp_path / "local-benchmarks.png")
    assert width > 800


def test_reports_need_results(tmp_path: Path) -> None:
    empty = tmp_path / "none.jsonl"
    empty.write_text(json.dumps(record("x86_64", 1769, 10.0, cold=True)) + "\n")
    with pytest.raises(ValueError, match="no complete warm invocation"):
        render(empty, tmp_path)


def test_the_local_report_shows_the_two_backends_side_by_side(tmp_path: Path) -> None:
    """One `make bench` JSON holding the study and the backend benchmarks (two recorded runs joined): the report's
    backend table gives each measure's medians and their ratio as computed from the raw figures."""
    import statistics

    study_run, backends_run = (json.loads((DATA / f).read_text()) for f in ("local-benchmarks.json",
                                                                             "local-backends.json"))
    joined = tmp_path / "local-joined.json"
    joined.write_text(json.dumps({**study_run, "benchmarks": study_run["benchmarks"] + backends_run["benchmarks"]}))
    md = render(joined, tmp_path).markdown.read_text()
    assert "## scikit-learn against ONNX Runtime" in md
    section = md.split("## scikit-learn against ONNX Runtime")[1]
    warm = next(b for b in backends_run["benchmarks"] if b["group"] == "backend-warm-1-rows-x86_64")["extra_info"]
    ratio = statistics.median(warm["per_call_ms"]) / statistics.median(warm["baseline_per_call_ms"])
    row = next(line for line in section.splitlines() if line.startswith("| built-in | warm call, 1 row | x86_64 |"))
    assert f"| {ratio:.3f} |" in row and row.rstrip().endswith(f"≤ 0.25: {'met' if ratio <= 0.25 else 'NOT met'} |")
    assert sum(line.startswith("| built-in | cold start |") for line in section.splitlines()) == 2
    onnx = next(b for b in backends_run["benchmarks"] if b["group"] == "backend-cold-start-x86_64")[
        "extra_info"]["layers"]["onnx"]
    verdict = "met" if onnx["zipped_mib"] <= 45 else "NOT met"
    assert f"| onnx | x86_64 | {onnx['zipped_mib']:.1f} | {onnx['unzipped_mib']:.1f} | ≤ 45: {verdict} |" in section
    assert "| sklearn | arm64 |" in section
    assert "| cold start | arm64 (emulated) |" in section


def test_one_reader_gives_the_benchmark_summary_and_the_report_the_same_ratios() -> None:
    from lambda_ml_bench.measure.records import backend_comparisons, comparisons
    from lambda_ml_bench.measure.report import backend_rows

    run = json.loads((DATA / "local-backends.json").read_text())
    summary = {(c.group, round(c.ratio, 9)) for c in comparisons(run["benchmarks"])}
    assert len(backend_comparisons(run)) == len(backend_rows(run)) == 6
    assert {round(r["ratio"], 9) for r in backend_rows(run)} == {ratio for _, ratio in summary}
