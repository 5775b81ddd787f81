"""The one renderer: every table and chart of a sweep's records and of the local benchmarks' records (both in the
shape of measure.records), and the recommendation."""
from __future__ import annotations

import json
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from lambda_ml_bench.measure import markdown, pricing, records, study
from lambda_ml_bench.measure.recommend import Option, Recommendation, options, recommend

CONTENDED_NOTE = ("Rows marked contended were measured while other processes kept this host's cores busy: the work "
                  "waited for a CPU, so those figures are slower than the host (let alone Lambda) would give; measure "
                  "again on an idle machine.")
EMULATED_NOTE = ("Emulated rows ran arm64 code under QEMU on an x86_64 host: they show that the code works, not how "
                 "fast Graviton is. No ratio or cost is given for them.")


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


# --- the local benchmarks (pytest-benchmark JSON) ----------------------------------------------
def local_rows(data: dict) -> list[dict]:
    """The study's local records as table rows (no cost for emulated figures: they are not Lambda's)."""
    rows = []
    for r in records.from_pytest_benchmark(data):
        (option,) = options([r])
        environment = "emulated (QEMU)" if r["emulated"] else "native, whole host"
        if r.get("contended") is not None:
            environment += f", contended ({r['contended']:.2f} of its CPU)"
        rows.append({"n_features": r["n_features"], "architecture": r["architecture"], "environment": environment,
                     "emulated": r["emulated"], "fit_ms": r["fit_median_ms"], "predict_ms": r["predict_median_ms"],
                     "invocation_ms": r["duration_ms"], "option": option,
                     "cost_per_million": None if r["emulated"] else option.cost_per_million})
    return rows


def local_table(rows: list[dict]) -> str:
    headers = ["features", "architecture", "environment", "train ms per cycle", "inference ms per cycle",
               f"invocation ms ({study.CYCLES} cycles)", "USD per 1M", "arm64/x86_64 time", "arm64/x86_64 cost"]
    ratios = records.arm_over_x86([r["option"] for r in rows])
    cells = []
    for r in rows:
        o = r["option"]
        time_ratio, cost_ratio = ratios.get((o.workload, o.memory_mb, o.backend), (None, None)) \
            if r["architecture"] == "arm64" else (None, None)
        cells.append([f"{r['n_features']:,}", r["architecture"], r["environment"], _fmt(r["fit_ms"]),
                      _fmt(r["predict_ms"]), _fmt(r["invocation_ms"]), _fmt(r["cost_per_million"], 2),
                      _fmt(time_ratio, 2), _fmt(cost_ratio, 2)])
    return markdown.table(headers, cells, right={0, 3, 4, 5, 6, 7, 8})


def backend_rows(data: dict) -> list[dict]:
    """Each model's own backend (scikit-learn, XGBoost, LightGBM) against ONNX Runtime: per measure and architecture,
    both medians, their ratio and its target."""
    rows = []
    for c in records.backend_comparisons(data):
        what = f"warm call, {c.rows:,} row{'s' if c.rows > 1 else ''}" if c.rows else "cold start"
        rows.append({"model": c.model or "built-in", "measure": what, "architecture": c.architecture,
                     "emulated": c.emulated, "backend": c.backend, "baseline": c.baseline, "ms": c.measured_ms,
                     "baseline_ms": c.baseline_ms, "ratio": c.ratio, "target": c.target, "verdict": c.verdict,
                     "layers": c.layers})
    return sorted(rows, key=lambda r: (r["model"], r["measure"] != "cold start", r["measure"], r["emulated"]))


def backend_table(rows: list[dict]) -> str:
    headers = ["model", "measure", "architecture", "onnx ms (median)", "own backend", "its ms (median)",
               "onnx / own", "target"]
    cells = [[r["model"], r["measure"], r["architecture"] + (" (emulated)" if r["emulated"] else ""),
              _fmt(r["ms"], 3), r["baseline"], _fmt(r["baseline_ms"], 3), f"{r['ratio']:.3f}", r["verdict"]]
             for r in rows]
    sizes: dict[str, dict] = {}
    for r in rows:
        sizes.setdefault(r["architecture"], {}).update(r["layers"] or {})
    size_cells = [[kind, arch, f"{s['zipped_mib']:.1f}", f"{s['unzipped_mib']:.1f}",
                   f"≤ {s['budget_mib']:g}: {'met' if s['zipped_mib'] <= s['budget_mib'] else 'NOT met'}"
                   if s.get("budget_mib") else "—"]
                  for arch, layers in sorted(sizes.items()) for kind, s in sorted(layers.items())]
    return (markdown.table(headers, cells, right={3, 5, 6}) + "\n\n"
            + markdown.table(["layer", "architecture", "zipped MiB", "unzipped MiB", "budget (zipped MiB)"],
                             size_cells, right={2, 3}))


def local_chart(rows: list[dict], path: Path, title: str) -> None:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    series: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        series[f"{r['architecture']} ({r['environment']})"].append(r)
    for label, rs in sorted(series.items()):
        style = "--" if "emulated" in label else "-"
        x = [r["n_features"] for r in rs]
        left.plot(x, [r["fit_ms"] for r in rs], style, marker="o", label=f"train, {label}")
        left.plot(x, [r["predict_ms"] for r in rs], style, marker="s", label=f"inference, {label}")
        costs = [(r["n_features"], r["cost_per_million"]) for r in rs if r["cost_per_million"] is not None]
        if costs:
            right.plot(*zip(*costs), style, marker="o", label=label)
    for ax, ylabel in ((left, "median ms per cycle (log)"), (right, "USD per million invocations (log)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("features")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    left.set_title(f"SVM train ({study.TRAIN_SAMPLES} samples) and inference ({study.TEST_SAMPLES} samples)")
    right.set_title(f"one {study.CYCLES}-cycle invocation at {study.MEMORY_MB:,} MB")
    _save(fig, path, title)


# --- a sweep (bench compare JSONL) -------------------------------------------------------------
def sweep_table(opts: list[Option]) -> str:
    headers = ["workload", "architecture", "memory MB", "warm n", "duration ms, median (IQR)", "cold start: init ms",
               "USD per 1M", "arm64/x86_64 time", "arm64/x86_64 cost", "early stops left out"]
    ratios = records.arm_over_x86(opts)
    cells = []
    for o in sorted(opts, key=_order):
        time_ratio = cost_ratio = "—"
        if o.architecture == "arm64" and (o.workload, o.memory_mb, o.backend) in ratios:
            time_ratio, cost_ratio = (f"{x:.2f}" for x in ratios[(o.workload, o.memory_mb, o.backend)])
        backend = "" if o.backend == "sklearn" else f" {o.backend}"
        arch = o.architecture + (" (emulated)" if o.emulated else "") + backend + (
            f" (contended {o.contended}/{o.samples})" if o.contended else "")
        cells.append([o.workload, arch, f"{o.memory_mb:,}", str(o.samples),
                      f"{_fmt(o.duration_ms)} ({_fmt(o.duration_q1_ms)}–{_fmt(o.duration_q3_ms)})", _fmt(o.init_ms),
                      "—" if o.emulated else _fmt(o.cost_per_million, 2), time_ratio, cost_ratio, str(o.early_stops)])
    return markdown.table(headers, cells, right=set(range(2, 10)))


def _order(o: Option) -> tuple:
    try:
        workload_key = (0, int(o.workload.split()[0].replace(",", "")))
    except ValueError:
        workload_key = (1, o.workload)
    return workload_key, o.memory_mb, o.architecture, o.backend


def sweep_chart(opts: list[Option], path: Path, title: str, allow_emulated: bool) -> None:
    """Cost per million against duration, one curve per architecture over memory sizes, one panel per workload;
    error bars are the interquartile range of the duration."""
    plt = _pyplot()
    workloads = sorted({o.workload for o in opts}, key=lambda w: _order(next(o for o in opts if o.workload == w)))
    fig, axes = plt.subplots(1, len(workloads), figsize=(5.5 * len(workloads), 4.5), squeeze=False)
    for ax, workload in zip(axes[0], workloads):
        curves: dict[str, list[Option]] = defaultdict(list)
        for o in opts:
            if o.workload == workload and (allow_emulated or not o.emulated):
                curves[o.architecture + ("" if o.backend == "sklearn" else f" {o.backend}")].append(o)
        for label, os_ in sorted(curves.items()):
            os_.sort(key=lambda o: o.memory_mb)
            x = [o.duration_ms for o in os_]
            y = [o.cost_per_million for o in os_]
            xerr = [[o.duration_ms - o.duration_q1_ms for o in os_], [o.duration_q3_ms - o.duration_ms for o in os_]]
            ax.errorbar(x, y, xerr=xerr, marker="o", capsize=3, label=label)
            for o in os_:
                ax.annotate(
                    f"{o.memory_mb} MB",
                    (o.duration_ms, o.cost_per_million),
                    fontsize=7,
                    textcoords="offset points",
                    xytext=(4, 4),
                )
        ax.set_xlabel("warm duration, median ms (bars: IQR)")
        ax.set_ylabel("USD per million invocations")
        ax.set_title(workload)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    _save(fig, path, title)


# --- shared ------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, title: str) -> None:
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    fig.clf()
    _pyplot().close(fig)


@dataclass(frozen=True)
class Rendered:
    """What render() wrote, and the recommendations it printed there (as objects: nothing re-reads the Markdown)."""

    markdown: Path
    chart: Path
    recommendations: list[Recommendation]


def render(result: Path, out_dir: Path, balance: float = 0.5, allow_emulated: bool = False) -> Rendered:
    """The Markdown report and its PNG chart beside each other in out_dir."""
    stem = result.name.split(".")[0]
    png, md = out_dir / f"{stem}.png", out_dir / f"{stem}.md"
    recommendations: list[Recommendation] = []
    if result.suffix == ".jsonl":
        body, title, recommendations = _sweep_report(records.from_jsonl(result), png, balance, allow_emulated)
    else:
        body, title = _local_report(json.loads(result.read_text()), png)
    out_dir.mkdir(parents=True, exist_ok=True)
    md.write_text(f"# {title}\n\nSource: `{result.name}`\n\n{body}\n\n![chart]({png.name})\n")
    return Rendered(md, png, recommendations)


def _local_report(data: dict, png: Path) -> tuple[str, str]:
    rows, backends = local_rows(data), backend_rows(data)
    if not rows:
        raise ValueError("the result file holds no study results")
    title = "lambda-ml-bench: local benchmarks"
    local_chart(rows, png, title)
    _, p = pricing.prices()
    notes = [
        f"{records.USD_PER_MILLION}; here each is the study's {study.CYCLES} cycles (train + inference) at "
        f"{study.MEMORY_MB:,} MB, warm; {pricing.DEFAULT_REGION} prices as of {p.as_of} (lambda_facts.py).",
        "Native rows ran in this process on the whole host (no Lambda CPU share).",
        CONTENDED_NOTE if any(r["environment"].endswith(")") and "contended" in r["environment"] for r in rows) else "",
        EMULATED_NOTE if any(r["emulated"] for r in rows) else "",
    ]
    body = local_table(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes if n)
    if backends:
        body += ("\n\n## scikit-learn against ONNX Runtime\n\n" + backend_table(backends) + "\n\n- Each handler in a "
                 "fresh interpreter with only its layer and the function package; every onnx round follows a "
                 "scikit-learn round. Cold start: interpreter, import and model load (wall). Warm call: the handler's "
                 "whole work on a direct event, timed in its process." + ("\n- " + EMULATED_NOTE.split(":")[0] + "."
                                                                       if any(r["emulated"] for r in backends) else ""))
    return body, title


def _sweep_report(recs: list[dict], png: Path, balance: float,
                  allow_emulated: bool) -> tuple[str, str, list[Recommendation]]:
    opts = options(recs)
    if not opts:
        raise ValueError("the result file holds no complete warm invocation")
    local = any(r["environment"] == "local Lambda" for r in recs)
    title = "lambda-ml-bench: " + ("the local Lambda" if local else "deployed Lambda functions")
    sweep_chart(opts, png, title, allow_emulated)
    region = recs[0].get("region", pricing.DEFAULT_REGION)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        priced_region, p = pricing.prices(region)
    recommendations, notes = recommend(recs, balance, allow_emulated)
    lines = ["## Recommendation", ""]
    for r in recommendations:
        lines.append(f"- {r.line()}")
        if r.ratios:
            lines.append(
                "  - arm64/x86_64 (time, cost): "
                + "; ".join(f"{m:,} MB {t:.2f}, {c:.2f}" for m, (t, c) in sorted(r.ratios.items()))
            )
    if not recommendations:
        lines.append("- none: no configuration qualifies (see the notes)")
    lines += ["", "## Every configuration", "", sweep_table(opts), "", "## Notes", ""]
    retried = max((r.get("retries_so_far", 0) for r in recs), default=0)
    notes = [
        f"{records.USD_PER_MILLION}; here like the warm ones measured; {priced_region} prices as of {p.as_of} "
        "(lambda_facts.py)." + (f" {caught[0].message}." if caught else ""),
        "Duration: median of the warm invocations that ran the whole workload, with the interquartile range; cold "
        "starts (each cell's first invocation, on a fresh version) give the init column.",
        *notes,
        EMULATED_NOTE if any(o.emulated for o in opts) else "",
        (
            "This run targeted the local Lambda, not AWS: durations are this machine's"
            + (
                ", with CPU and memory allotted as Lambda allots them."
                if all(r.get("allotment") == "allotted" for r in recs)
                else "; some ran on the whole host (CPU not allotted)."
            )
        )
        if local
        else "",
        f"Calls retried after throttling or transient errors: {retried}.",
    ]
    return "\n".join(lines) + "\n" + "\n".join(f"- {n}" for n in notes if n), title, recommendations
