"""Benchmark summary: side-by-side ratios of each group's measured variant to its baseline."""
from __future__ import annotations

import statistics
from collections import defaultdict


def pytest_terminal_summary(terminalreporter, config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled:
        return
    groups: dict[str, dict[str, object]] = defaultdict(dict)
    for bench in session.benchmarks:
        role = bench.extra_info.get("role")
        if role and bench:
            groups[bench.group][role] = bench
    rows = []
    for bench in session.benchmarks:
        interleaved = bench.extra_info.get("interleaved_baseline_ms") if bench else None
        if interleaved:
            ratio = bench.stats.median * 1e3 / statistics.median(interleaved)
            target = bench.extra_info.get("target_ratio")
            verdict = "" if target is None else ("  (target <= %.2f: %s)" % (target, "met" if ratio <= target else "NOT met"))
            rows.append(f"  {bench.group}: {bench.name} / {bench.extra_info['baseline']}, interleaved = "
                        f"{ratio:.3f} (medians){verdict}")
    for bench in session.benchmarks:
        ratios = bench.extra_info.get("ratio_to_1769") if bench else None
        if ratios:
            shown = ", ".join(f"{m} MB {r:.2f}x" for m, r in ratios.items())
            targets = ", ".join(f"{m} MB {t:.2f}x" for m, t in bench.extra_info["target_ratio"].items())
            rows.append(f"  {bench.group}: duration / duration at 1769 MB = {shown}  (targets {targets}, within 15%: "
                        f"{'met' if all(bench.extra_info['within_15_percent'].values()) else 'NOT met'})")
    for bench in session.benchmarks:
        parallel = bench.extra_info.get("ratio_parallel_8_to_1") if bench else None
        if parallel is not None:
            rows.append(f"  {bench.group}: wall time, 8 cells --parallel 8 / --parallel 1 = {parallel:.3f} (medians)"
                        f"  (target <= 0.25: {'met' if parallel <= 0.25 else 'NOT met'})")
    for group, roles in sorted(groups.items()):
        baseline = roles.get("baseline")
        reported = baseline.extra_info.get("reported_median_ms") if baseline else None
        if reported is not None:
            ratio = reported / (baseline.stats.median * 1e3)
            rows.append(f"  {group}: median the handler reports / median timed directly = {ratio:.3f}")
        if {"measured", "baseline"} <= set(roles):
            measured, baseline = roles["measured"], roles["baseline"]
            ratio = measured.stats.median / baseline.stats.median
            target = measured.extra_info.get("target_ratio")
            verdict = "" if target is None else ("  (target <= %.2f: %s)" % (target, "met" if ratio <= target else "NOT met"))
            rows.append(f"  {group}: {measured.name} / {baseline.name} = {ratio:.3f} (medians){verdict}")
    if rows:
        terminalreporter.write_sep("-", "side-by-side ratios")
        for row in rows:
            terminalreporter.write_line(row)
