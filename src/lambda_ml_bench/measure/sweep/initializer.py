"""Before measuring: every target's configuration saved to disk before the first change; per cell, $LATEST set to
the cell's configuration, a version published and the cell's alias pointed at it."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from lambda_ml_bench.files import atomic_write
from lambda_ml_bench.local_lambda.functions import where_it_runs
from lambda_ml_bench.measure.sweep.cells import CELL_VARIABLE, Cell, CompareError, Target, settings

if TYPE_CHECKING:
    from lambda_ml_bench.measure.sweep.driver import Sweep


def save_originals(sweep: Sweep, targets: list[Target]) -> dict:
    """Every target's configuration, on disk before the first change; what each one is (SnapStart, where it runs,
    from its Tags) noted on the sweep."""
    originals = {}
    for t in targets:
        c = sweep.call("get_function_configuration", FunctionName=t.name)
        originals[t.name] = {**settings(c), "Description": c.get("Description", "")}
        sweep.snapstart[t.name] = c.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions"
        sweep.runs[t.name] = where_it_runs(sweep.call("get_function", FunctionName=t.name).get("Tags", {}))
    atomic_write(sweep.restore_file, json.dumps({"sweep": sweep.sweep_id, "functions": originals}, indent=2))
    return originals


def wait_updated(sweep: Sweep, name: str, timeout_s: int = 300) -> None:
    """Until the last update is applied: botocore's own waiter, on a client that retries its polls."""
    from botocore.exceptions import WaiterError

    try:
        sweep.client.get_waiter("function_updated_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": timeout_s})
    except WaiterError as err:
        raise CompareError(f"{name}: its configuration update did not succeed: {err}") from err


def configure_latest(sweep: Sweep, cell: Cell, original: dict, tag: str) -> None:
    """$LATEST set to the cell's configuration, marked by `tag` in CELL_VARIABLE so that it is a change of its own
    (a new version, new environments). Called under the function's lock."""
    name = cell.target.name
    variables = {**original["Environment"]["Variables"], CELL_VARIABLE: f"{sweep.sweep_id}/{tag}"}
    sweep.call("update_function_configuration", FunctionName=name, MemorySize=cell.memory_mb,
               Environment={"Variables": variables})
    wait_updated(sweep, name)


def prepare(sweep: Sweep, cell: Cell, original: dict) -> str:
    """A version of the cell's configuration behind the cell's alias (one function at a time); its number."""
    name = cell.target.name
    with sweep.function_lock(name):
        configure_latest(sweep, cell, original, cell.alias)
        version = sweep.call("publish_version", FunctionName=name,
                             Description=f"lambda-ml-bench sweep {sweep.sweep_id} {cell.alias}")["Version"]
        with sweep.lock:
            sweep.created.add((name, cell.alias, version))
        sweep.call("create_alias", FunctionName=name, Name=cell.alias, FunctionVersion=version)
    return version
