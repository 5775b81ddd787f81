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
from lambda_ml_bench.sandbox.allotment import CONTENDED

if TYPE_CHECKING:
    from lambda_ml_bench.measure.sweep.driver import Sweep


def parse_report(log: str) -> dict:
    """The figures of Lambda's REPORT line (the last one in a LogType=Tail log)."""
    try:
        return lambda_facts.parse_report(log).as_dict()
    except lambda_facts.ReportLineError as err:
        raise CompareError(str(err)) from err


# The request's own fault: every cell would fail the same way, so the sweep ends. Any other function error (a
# timeout, out of memory, a crash) is what this configuration does, and is recorded as a failed invocation.
CALLER_FAULTS = {"PayloadError"}


class InvocationFailed(CompareError):
    """The function answered with an error that belongs to this configuration (Sandbox.Timedout, ...)."""

    def __init__(self, message: str, error_type: str, report: dict | None) -> None:
        super().__init__(message)
        self.error_type, self.report = error_type, report


def invoke(sweep: Sweep, name: str, qualifier: str, event: dict) -> tuple[dict, dict]:
    response = sweep.call("invoke", FunctionName=name, Qualifier=qualifier, Payload=json.dumps(event).encode(),
                          LogType="Tail")
    payload = json.loads(response["Payload"].read() or b"null")
    log = base64.b64decode(response.get("LogResult", "")).decode("utf-8", "replace")
    if response.get("FunctionError"):
        error_type = payload.get("errorType", "Unknown") if isinstance(payload, dict) else "Unknown"
        message = f"{name}:{qualifier} failed: {json.dumps(payload)[:500]}"
        if error_type in CALLER_FAULTS:
            raise CompareError(message)
        try:
            report = parse_report(log)
        except CompareError:
            report = None
        raise InvocationFailed(message, error_type, report)
    report = parse_report(log)
    if m := CONTENDED.search(log):  # the local Lambda's word that this host could not give the share
        report["contended"] = round(float(m[1]) / float(m[2]), 3)
    return payload, report


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
        try:
            payload, report = invoke(sweep, cell.target.name, qualifier, cell.workload.event)
        except InvocationFailed as err:  # recorded, and the sweep goes on with the next cell
            sweep.say(f"[{cell.target.architecture}] {cell.memory_mb} MB, {cell.workload.label}: {err.error_type}")
            records.append(failed(sweep, cell, version, err, cold=not records))
            break
        records.append(record(sweep, cell, version, payload, report))
    return records


def failed(sweep: Sweep, cell: Cell, version: str, err: InvocationFailed, cold: bool) -> dict:
    """A failed invocation as a record: what failed, and what Lambda billed for it when its REPORT line says."""
    report = err.report or {"request_id": None, "duration_ms": None, "billed_ms": None, "memory_mb": cell.memory_mb,
                            "max_memory_used_mb": None, "init_ms": None, "restore_ms": None}
    return {**_common(sweep, cell, version, cold, report), "backend": cell.target.backend,
            "failed": err.error_type, "error": str(err)[:500], "stopped_early": False}


def _common(sweep: Sweep, cell: Cell, version: str, cold: bool, report: dict) -> dict:
    """What every record says: the cell, where it ran, the REPORT line's figures and their cost."""
    arch = cell.target.architecture
    cost = (pricing.cost(pricing.Invocation(arch, report["memory_mb"], report["billed_ms"]), sweep.region)
            if report["billed_ms"] is not None else None)
    return {"sweep": sweep.sweep_id, "architecture": arch, "function": cell.target.name,
            "backend": cell.target.backend, "memory_mb": cell.memory_mb, "workload": cell.workload.label,
            "n_features": cell.workload.n_features, "round": cell.round, "version": version, "cold": cold,
            **sweep.runs.get(cell.target.name, where_it_runs({})), "region": sweep.region, **report,
            "cost_usd": cost, "time": time.time(), "retries_so_far": sweep.retries.total}


def record(sweep: Sweep, cell: Cell, version: str, payload: dict, report: dict) -> dict:
    """One invocation as the reports read it."""
    cold = bool(payload.get("cold", report["init_ms"] is not None or report["restore_ms"] is not None))
    out = _common(sweep, cell, version, cold, report)
    if sweep.snapstart.get(cell.target.name, False):
        out["backend"] += ", $LATEST without SnapStart" if version == "$LATEST" else ", SnapStart"
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
