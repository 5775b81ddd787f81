"""Benchmark summary: side-by-side ratios of each group's measured variant to its baseline, and the targets.

Read through pytest-benchmark's public hook: the benchmarks it groups for its own table are kept here."""
from __future__ import annotations

import statistics
from collections import defaultdict

import pytest

_BENCHMARKS = pytest.StashKey[list]()


@pytest.hookimpl(hookwrapper=True)
def pytest_benchmark_group_stats(config, benchmarks, group_by):
    config.stash[_BENCHMARKS] = list(benchmarks)
    yield


def _median_s(bench: dict) -> float:
    return bench["stats"]["median"] if "stats" in bench else bench["median"]


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config) -> None:
    benchmarks = config.stash.get(_BENCHMARKS, [])
    groups: dict[str, dict[str, dict]] = defaultdict(dict)
    rows = []
    for bench in benchmarks:
        info = bench.get("extra_info", {})
        if info.get("role"):
            groups[bench["group"]][info["role"]] = bench
        if info.get("interleaved_baseline_ms"):
            ratio = _median_s(bench) * 1e3 / statistics.median(info["interleaved_baseline_ms"])
            target = info.get("target_ratio")
            verdict = (
                "" if target is None else (f"  (target <= {target:.2f}: {'met' if ratio <= target else 'NOT met'})")
            )
            rows.append(
                f"  {bench['group']}: {bench['name']} / {info['baseline']}, interleaved = "
                f"{ratio:.3f} (medians){verdict}"
            )
        if info.get("baseline_per_call_ms"):
            ratio = statistics.median(info["per_call_ms"]) / statistics.median(info["baseline_per_call_ms"])
            target = info["target_ratio"]
            rows.append(
                f"  {bench['group']}: {info['backend']} / {info['baseline']} per call, interleaved = {ratio:.3f} "
                f"(medians {statistics.median(info['per_call_ms']):.3f} / "
                f"{statistics.median(info['baseline_per_call_ms']):.3f} ms)  "
                f"(target <= {target:.2f}: {'met' if ratio <= target else 'NOT met'})"
            )
        if info.get("layers") and "cold-start" in bench["group"]:
            for kind, size in sorted(info["layers"].items()):
                budget = size.get("budget_mib")
                verdict = f"  (target <= {budget:.0f} MiB: {'met' if size['zipped_mib'] <= budget else 'NOT met'})" \
                    if budget else ""
                rows.append(f"  layer {kind} on {info['architecture']}: {size['zipped_mib']} MiB zipped, "
                            f"{size['unzipped_mib']} MiB unzipped{verdict}")
        if info.get("ratio_to_1769"):
            shown = ", ".join(f"{m} MB {r:.2f}x" for m, r in info["ratio_to_1769"].items())
            targets = ", ".join(f"{m} MB {t:.2f}x" for m, t in info["target_ratio"].items())
            rows.append(
                f"  {bench['group']}: duration / duration at 1769 MB = {shown}  (targets {targets}, within "
                f"15%: {'met' if all(info['within_15_percent'].values()) else 'NOT met'})"
            )
        if info.get("ratio_parallel_8_to_1") is not None:
            parallel = info["ratio_parallel_8_to_1"]
            rows.append(
                f"  {bench['group']}: wall time, 8 cells --parallel 8 / --parallel 1 = {parallel:.3f} "
                f"(medians)  (target <= 0.25: {'met' if parallel <= 0.25 else 'NOT met'})"
            )
    for group, roles in sorted(groups.items()):
        baseline = roles.get("baseline")
        reported = baseline.get("extra_info", {}).get("reported_median_ms") if baseline else None
        if reported is not None:
            rows.append(
                f"  {group}: median the handler reports / median timed directly = "
                f"{reported / (_median_s(baseline) * 1e3):.3f}"
            )
        if {"measured", "baseline"} <= set(roles):
            measured, baseline = roles["measured"], roles["baseline"]
            ratio = _median_s(measured) / _median_s(baseline)
            target = measured.get("extra_info", {}).get("target_ratio")
            verdict = (
                "" if target is None else (f"  (target <= {target:.2f}: {'met' if ratio <= target else 'NOT met'})")
            )
            rows.append(f"  {group}: {measured['name']} / {baseline['name']} = {ratio:.3f} (medians){verdict}")
    if rows:
        terminalreporter.write_sep("-", "side-by-side ratios")
        for row in rows:
            terminalreporter.write_line(row)
