"""Measuring one cell: a cold and `warm` warm invocations of its version, in order, each read from its REPORT line
and shaped into one record (with its cost); with SnapStart, `$LATEST` of the same configuration beside it."""
from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING

from lambda_ml_bench import lambda_facts
from lambda_ml_bench.local_lambda.functions import where_it_runs
from lambda_ml_bench.measure import pricing
from lambda_ml_bench.measure.sweep import cleaner, initializer
from lambda_ml_bench.measure.sweep.cells import Cell, CompareError

if TYPE_CHECKING:
    from lambda_ml_bench.measure.sweep.driver import Sweep


def parse_report(log: str) -> dict:
    """The figures of Lambda's REPORT line (the last one in a LogType=Tail log)."""
    try:
        return lambda_facts.parse_report(log).as_dict()
    except lambda_facts.ReportLineError as err:
        raise CompareError(str(err)) from err


def invoke(sweep: Sweep, name: str, qualifier: str, event: dict) -> tuple[dict, dict]:
    response = sweep.call("invoke", FunctionName=name, Qualifier=qualifier, Payload=json.dumps(event).encode(),
                          LogType="Tail")
    payload = json.loads(response["Payload"].read())
    if response.get("FunctionError"):
        raise CompareError(f"{name}:{qualifier} failed: {json.dumps(payload)[:500]}")
    return payload, parse_report(base64.b64decode(response["LogResult"]).decode("utf-8", "replace"))


def measure(sweep: Sweep, cell: Cell, original: dict) -> list[dict]:
    """Prepare, one cold and `warm` warm invocations in order, delete: the records of one cell."""
    version = initializer.prepare(sweep, cell, original)
    try:
        records = invocations(sweep, cell, cell.alias, version)
        if sweep.snapstart.get(cell.target.name):
            # the cell's version starts from a snapshot (Restore Duration); $LATEST of the same configuration starts
            # with a full INIT. Measured side by side, one function at a time ($LATEST is shared by its cells).
            with sweep.function_lock(cell.target.name):
                initializer.configure_latest(sweep, cell, original, f"{cell.alias}/latest")
                records += invocations(sweep, cell, "$LATEST", "$LATEST")
    finally:
        cleaner.delete_cell(sweep, cell.target.name, cell.alias, version)
    return records


def invocations(sweep: Sweep, cell: Cell, qualifier: str, version: str) -> list[dict]:
    """One cold and `warm` warm invocations of `qualifier`, in order, until the sweep is stopped."""
    records = []
    for _ in range(1 + sweep.warm):
        if sweep.stop.is_set():
            break
        payload, report = invoke(sweep, cell.target.name, qualifier, cell.workload.event)
        records.append(record(sweep, cell, version, payload, report))
    return records


def record(sweep: Sweep, cell: Cell, version: str, payload: dict, report: dict) -> dict:
    """One invocation as the reports read it."""
    arch = cell.target.architecture
    cold = bool(payload.get("cold", report["init_ms"] is not None or report["restore_ms"] is not None))
    variant = ""
    if sweep.snapstart.get(cell.target.name, False):
        variant = ", $LATEST without SnapStart" if version == "$LATEST" else ", SnapStart"
    out = {
        "sweep": sweep.sweep_id,
        "architecture": arch,
        "function": cell.target.name,
        "backend": cell.target.backend + variant,
        "memory_mb": cell.memory_mb,
        "workload": cell.workload.label,
        "n_features": cell.workload.n_features,
        "round": cell.round,
        "version": version,
        "cold": cold,
        **sweep.runs.get(cell.target.name, where_it_runs({})),
        "region": sweep.region,
        **report,
        "cost_usd": pricing.cost(pricing.Invocation(arch, report["memory_mb"], report["billed_ms"]), sweep.region),
        "time": time.time(),
        "retries_so_far": sweep.retries.total,
    }
    if "fit" in payload:  # the benchmark handler's own figures
        out.update(
            cycles_requested=cell.workload.event.get("cycles"),
            cycles_done=payload["cycles_done"],
            stopped_early=payload["stopped_early"],
            fit_median_ms=(payload["fit"] or {}).get("median_ms"),
            predict_median_ms=(payload["predict"] or {}).get("median_ms"),
            accuracy=payload["accuracy"],
            machine=payload["environment"]["machine"],
        )
    else:
        out.update(stopped_early=False)
    return out
