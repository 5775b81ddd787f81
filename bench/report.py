"""The comparison report: the study's table (features by architecture) and a chart, from a result file."""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

from bench import pricing

STUDY_MEMORY_MB = 10_240  # the study's functions; local timings are costed as if run at this size


def load(path: Path) -> tuple[str, list[dict]]:
    """Rows {architecture, environment, memory_mb, n_features, fit_ms, predict_ms, cost_per_million}
    from a `bench compare` JSONL file or a pytest-benchmark JSON file."""
    text = path.read_text()
    if path.suffix == ".jsonl":
        return "lambda", _from_compare(_records(path))
    return "local", _from_pytest_benchmark(json.loads(text))


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _from_compare(records: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if not r["cold"]:
            label = (f"{'emulated ' if r['emulated'] else ''}{r['environment']} {r['memory_mb']} MB"
                     + (", whole host (CPU not allotted)" if r.get("allotment") == "not allotted" else ""))
            groups[(r["architecture"], r["memory_mb"], r["n_features"], label, r["emulated"])].append(r)
    rows = []
    for (arch, memory, n, label, emulated), rs in sorted(groups.items()):
        rows.append({"architecture": arch, "environment": label, "memory_mb": memory, "n_features": n,
                     "fit_ms": statistics.median(r["fit_median_ms"] for r in rs),
                     "predict_ms": statistics.median(r["predict_median_ms"] for r in rs),
                     "cost_per_million": None if emulated else statistics.median(r["cost_usd"] for r in rs) * 1e6,
                     "samples": len(rs)})
    cold = [r for r in records if r["cold"]]
    for row in rows:
        inits = [r["init_ms"] for r in cold if (r["architecture"], r["memory_mb"], r["n_features"]) ==
                 (row["architecture"], row["memory_mb"], row["n_features"])]
        row["init_ms"] = statistics.median(inits) if inits else None
    return rows


def _from_pytest_benchmark(data: dict) -> list[dict]:
    phases: dict[tuple, dict] = defaultdict(dict)
    for b in data["benchmarks"]:
        info = b.get("extra_info", {})
        if not info.get("study"):
            continue
        key = (info["architecture"], bool(info["emulated"]), info["n_features"])
        if info["phase"] == "both":  # one invocation of the benchmark handler: its own medians
            phases[key].update(fit=info["handler_fit_ms"], predict=info["handler_predict_ms"])
        else:
            phases[key][info["phase"]] = b["stats"]["median"] * 1e3
    rows = []
    for (arch, emulated, n), p in sorted(phases.items()):
        if {"fit", "predict"} <= set(p):
            cost = None if emulated else pricing.per_million(pricing.Invocation(
                arch, STUDY_MEMORY_MB, pricing.billed_ms(p["fit"] + p["predict"])))
            rows.append({"architecture": arch, "environment": "emulated (QEMU)" if emulated else "native, whole host",
                         "memory_mb": None, "n_features": n, "fit_ms": p["fit"], "predict_ms": p["predict"],
                         "cost_per_million": cost, "init_ms": None, "samples": None})
    return rows


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def table(rows: list[dict]) -> str:
    """Features by architecture: train ms, inference ms, cost per million, and arm64/x86_64 ratios."""
    lines = ["| features | architecture | environment | train ms | inference ms | USD per 1M | arm64/x86_64 time | arm64/x86_64 cost |",
             "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    index = {(r["n_features"], r["architecture"], r["memory_mb"], r["environment"]): r for r in rows}
    for r in sorted(rows, key=lambda r: (r["n_features"], r["memory_mb"] or 0, r["environment"], r["architecture"])):
        time_ratio = cost_ratio = "—"
        other = index.get((r["n_features"], "x86_64", r["memory_mb"], r["environment"]))
        comparable = r["architecture"] == "arm64" and other and "emulated" not in r["environment"]
        if comparable:
            time_ratio = f"{(r['fit_ms'] + r['predict_ms']) / (other['fit_ms'] + other['predict_ms']):.2f}"
            if r["cost_per_million"] and other["cost_per_million"]:
                cost_ratio = f"{r['cost_per_million'] / other['cost_per_million']:.2f}"
        lines.append(f"| {r['n_features']:,} | {r['architecture']} | {r['environment']} | {_fmt(r['fit_ms'])} | "
                     f"{_fmt(r['predict_ms'])} | {_fmt(r['cost_per_million'], 2)} | {time_ratio} | {cost_ratio} |")
    return "\n".join(lines)


def chart(rows: list[dict], path: Path, title: str) -> None:
    """Time (train, inference) and cost per million against feature count, one line per architecture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    series: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        series[f"{r['architecture']} ({r['environment']})"].append(r)
    for label, rs in sorted(series.items()):
        rs.sort(key=lambda r: r["n_features"])
        x = [r["n_features"] for r in rs]
        style = "--" if "emulated" in label else "-"
        left.plot(x, [r["fit_ms"] for r in rs], style, marker="o", label=f"train, {label}")
        left.plot(x, [r["predict_ms"] for r in rs], style, marker="s", label=f"inference, {label}")
        costs = [(r["n_features"], r["cost_per_million"]) for r in rs if r["cost_per_million"] is not None]
        if costs:
            right.plot(*zip(*costs), style, marker="o", label=label)
    for ax, ylabel in ((left, "median ms (log)"), (right, "USD per million invocations (log)")):
        ax.set_xscale("log")
        ax.set_xlabel("features")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    left.set_yscale("log")
    right.set_yscale("log")
    left.set_title("SVM train (512 samples) and inference (1,024 samples)")
    right.set_title(f"cost ({pricing.REGION} prices of {pricing.PRICES_AS_OF})")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(result: Path, out_dir: Path) -> Path:
    """REPORT markdown and PNG chart beside each other in out_dir; returns the markdown path."""
    source, rows = load(result)
    if not rows:
        raise ValueError(f"{result} holds no study results")
    stem = result.name.split(".")[0]
    png = out_dir / f"{stem}.png"
    local_lambda = any("local Lambda" in r["environment"] for r in rows)
    title = "lambda-ml-bench: " + ("local benchmarks" if source == "local" else
                                   "the local Lambda" if local_lambda else "deployed Lambda functions")
    chart(rows, png, title)
    notes = []
    if any("emulated" in r["environment"] for r in rows):
        notes.append("Emulated rows ran arm64 code under QEMU on an x86_64 host: they show that the code works, "
                     "not how fast Graviton is. No ratio or cost is given for them.")
    if source == "lambda" and any(r["environment"].startswith(("local", "emulated local")) for r in rows):
        notes.append("This run targeted the local Lambda, not AWS: durations are this machine's.")
    if source == "local":
        notes.append(f"Local costs are modelled: the measured train + inference time billed at {STUDY_MEMORY_MB:,} MB "
                     "plus the request fee, as one invocation.")
    else:
        notes.append("Warm invocations only in the table (median per row); cold starts are in the result file "
                     "with their Init Duration.")
        retries = max((r.get("retries_so_far", 0) for r in _records(result)), default=0)
        notes.append(f"Calls retried after throttling or transient errors: {retries}.")
    notes.append(f"Prices: {pricing.REGION}, as of {pricing.PRICES_AS_OF} (bench/pricing.py).")
    md = out_dir / f"{stem}.md"
    md.write_text(f"# {title}\n\nSource: `{result.name}`\n\n{table(rows)}\n\n" + "\n".join(f"- {n}" for n in notes)
                  + f"\n\n![chart]({png.name})\n")
    return md
