"""Benchmark summary: every side-by-side ratio of the run and its target, as measure.records computes them for the
reports too. Read through pytest-benchmark's public hook: the benchmarks it groups for its own table are kept here."""
from __future__ import annotations

import pytest

from lambda_ml_bench.measure.records import comparisons

_BENCHMARKS = pytest.StashKey[list]()


@pytest.hookimpl(hookwrapper=True)
def pytest_benchmark_group_stats(config, benchmarks, group_by):
    config.stash[_BENCHMARKS] = list(benchmarks)
    yield


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config) -> None:
    benchmarks = config.stash.get(_BENCHMARKS, [])
    rows = [f"  {c.line()}" for c in comparisons(benchmarks)]
    for bench in benchmarks:
        info = bench.get("extra_info", {})
        if info.get("layers") and "cold-start" in bench["group"]:
            for kind, size in sorted(info["layers"].items()):
                budget = size.get("budget_mib")
                verdict = f"  (target <= {budget:.0f} MiB: {'met' if size['zipped_mib'] <= budget else 'NOT met'})" \
                    if budget else ""
                rows.append(f"  layer {kind} on {info['architecture']}: {size['zipped_mib']} MiB zipped, "
                            f"{size['unzipped_mib']} MiB unzipped{verdict}")
        if "played_requests" in info:
            took = bench["stats"]["median"] if "stats" in bench else bench["median"]
            target = info.get("target_s")
            verdict = f"  (target <= {target:g} s: {'met' if took <= target else 'NOT met'})" if target else ""
            rows.append(f"  plan {info['traffic']}: {info['options']} options of {info['requests_per_month']:,} "
                        f"requests a month (played: {info['played_requests']:,}) in {took:.1f} s{verdict}")
        if info.get("ratio_to_1769"):
            shown = ", ".join(f"{m} MB {r:.2f}x" for m, r in info["ratio_to_1769"].items())
            targets = ", ".join(f"{m} MB {t:.2f}x" for m, t in info["target_ratio"].items())
            rows.append(f"  {bench['group']}: duration / duration at 1769 MB = {shown}  (targets {targets}, within "
                        f"15%: {'met' if all(info['within_15_percent'].values()) else 'NOT met'})")
    if rows:
        terminalreporter.write_sep("-", "side-by-side ratios")
        for row in rows:
            terminalreporter.write_line(row)
