"""The comparison report from recorded result files: the study's table shape and a real PNG chart."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bench import pricing
from bench.compare import CompareError, parse_report
from bench.report import load, render
from support import REPO

DATA = REPO / "tests" / "data"


def test_report_line_is_parsed_cold_and_warm() -> None:
    cold = ("START RequestId: a Version: $LATEST\nEND RequestId: a\nREPORT RequestId: a\tDuration: 86.01 ms\t"
            "Billed Duration: 18145 ms\tMemory Size: 1769 MB\tMax Memory Used: 257 MB\tInit Duration: 18058.47 ms\t\n")
    assert parse_report(cold) == {"request_id": "a", "duration_ms": 86.01, "billed_ms": 18145, "memory_mb": 1769,
                                  "max_memory_used_mb": 257, "init_ms": 18058.47, "restore_ms": None}
    warm = "REPORT RequestId: b\tDuration: 3.51 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\tMax Memory Used: 51 MB\t"
    assert parse_report(warm)["init_ms"] is None and parse_report(warm)["billed_ms"] == 4
    with pytest.raises(CompareError, match="no REPORT line"):
        parse_report("just output\n")


def test_the_report_line_the_local_lambda_writes_reads_back_the_same() -> None:
    from local_lambda import logs

    written = logs.report("c", 12.345, 1769, 90, init_ms=250.5)
    assert written.billed_ms == 263 and written.line().endswith("Init Duration: 250.50 ms\t")
    back = logs.parse_report("END RequestId: c\n" + written.line() + "\n")
    assert (back.duration_ms, back.billed_ms, back.max_memory_used_mb, back.init_ms) == (12.35, 263, 90, 250.5)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", ["compare-local-lambda.jsonl", "local-benchmarks.json"])
def test_report_renders_from_a_recorded_result(name: str, tmp_path: Path) -> None:
    md = render(DATA / name, tmp_path).read_text()
    assert "| features | architecture | environment | train ms | inference ms | USD per 1M |" in md
    assert f"as of {pricing.PRICES_AS_OF}" in md
    width, height = png_size(tmp_path / (name.split(".")[0] + ".png"))
    assert width > 800 and height > 300


def test_emulated_rows_get_no_ratio_and_no_cost() -> None:
    _, rows = load(DATA / "local-benchmarks.json")
    emulated = [r for r in rows if "emulated" in r["environment"]]
    assert emulated and all(r["cost_per_million"] is None for r in emulated)
    md = render(DATA / "local-benchmarks.json", DATA.parent.parent / "dist" / "report-test").read_text()
    for line in md.splitlines():
        if "emulated" in line and line.startswith("|"):
            assert line.rstrip().endswith("| — | — | — |")


def test_lambda_rows_cost_what_the_model_says() -> None:
    _, rows = load(DATA / "compare-local-lambda.jsonl")
    native = [r for r in rows if not r["environment"].startswith("emulated")]
    assert native and all(r["cost_per_million"] > 0.2 for r in native)  # never below the request fee alone
    assert all(r["cost_per_million"] is None for r in rows if r["environment"].startswith("emulated"))


def record(arch: str, fit: float, predict: float, billed: int) -> dict:
    return {"architecture": arch, "memory_mb": 10240, "n_features": 100, "cold": False, "environment": "Lambda",
            "emulated": False, "fit_median_ms": fit, "predict_median_ms": predict, "init_ms": None,
            "cost_usd": pricing.cost(pricing.Invocation(arch, 10240, billed))}


def test_ratios_of_arm64_to_x86_64_on_real_lambda(tmp_path: Path) -> None:
    result = tmp_path / "aws.jsonl"
    result.write_text("\n".join(__import__("json").dumps(r) for r in
                                [record("arm64", 30, 50, 900), record("x86_64", 20, 60, 1000)]))
    md = render(result, tmp_path).read_text()
    arm_line = next(line for line in md.splitlines() if "| arm64 |" in line)
    # time: (30 + 50) / (20 + 60) = 1.00; cost: (0.9 s x 10 GB x 0.0000133334 + 2e-7) / (1 s x 10 GB x 0.0000166667 + 2e-7)
    expected = (0.9 * 10 * 0.0000133334 + 2e-7) / (1.0 * 10 * 0.0000166667 + 2e-7)
    assert arm_line.endswith(f"| 1.00 | {expected:.2f} |")
    assert "deployed Lambda functions" in md
