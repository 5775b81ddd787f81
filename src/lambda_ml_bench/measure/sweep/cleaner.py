"""After measuring: a cell's alias and version deleted; every target put back as it was (only what differs is sent
again), leftovers of a sweep that was killed outright found by name and deleted."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from lambda_ml_bench.measure.sweep import initializer
from lambda_ml_bench.measure.sweep.cells import ALIAS_PREFIX, CELL_VARIABLE, settings

if TYPE_CHECKING:
    from lambda_ml_bench.measure.sweep.driver import Sweep


def _gone(err) -> bool:
    return err.response["Error"]["Code"] == "ResourceNotFoundException"


def delete_cell(sweep: Sweep, name: str, alias: str, version: str) -> None:
    from botocore.exceptions import ClientError

    for operation, kwargs in (("delete_alias", {"Name": alias}), ("delete_function", {"Qualifier": version})):
        try:
            sweep.call(operation, FunctionName=name, **kwargs)
        except ClientError as err:
            if not _gone(err):
                raise
    with sweep.lock:
        sweep.created.discard((name, alias, version))


def restore(sweep: Sweep, originals: dict) -> list[str]:
    """Each target back as it was and its sweep versions and aliases deleted, one by one: a failure with one target
    does not stop the others. Returns what could not be put back."""
    failed = []
    for function, alias, version in sorted(sweep.created):
        try:
            delete_cell(sweep, function, alias, version)
        except Exception as err:  # noqa: BLE001 - reported, and the next one is tried
            failed.append(f"{function}:{alias}: {err}")
    for name, original in originals.items():
        try:
            remove_leftovers(sweep, name)
            now = settings(sweep.call("get_function_configuration", FunctionName=name))
            changes = {k: v for k, v in original.items() if k in now and now[k] != v}
            if changes:  # only what differs: an unchanged value is not sent again
                sweep.say(f"[{name}] restoring {', '.join(sorted(changes))}")
                sweep.call("update_function_configuration", FunctionName=name, **changes)
                initializer.wait_updated(sweep, name)
        except Exception as err:  # noqa: BLE001 - reported, and the next one is tried
            failed.append(f"{name}: {err}")
    if not failed:
        sweep.restore_file.unlink(missing_ok=True)
    return failed


def remove_leftovers(sweep: Sweep, name: str) -> int:
    """Delete every alias named bench-* of a function and every version a sweep published (found by the cell
    variable in its configuration); returns how many were deleted."""
    from botocore.exceptions import ClientError

    removed = 0
    for alias in sweep.call("list_aliases", FunctionName=name).get("Aliases", []):
        if alias["Name"].startswith(ALIAS_PREFIX):
            sweep.call("delete_alias", FunctionName=name, Name=alias["Name"])
            removed += 1
    for version in sweep.call("list_versions_by_function", FunctionName=name).get("Versions", []):
        if version["Version"] != "$LATEST" and CELL_VARIABLE in version.get("Environment", {}).get("Variables", {}):
            try:
                sweep.call("delete_function", FunctionName=name, Qualifier=version["Version"])
                removed += 1
            except ClientError as err:
                if not _gone(err):
                    raise
    return removed


def restore_from(sweep: Sweep, path: Path) -> list[str]:
    """`--restore FILE`: the saved configurations back, leftover versions and aliases deleted."""
    saved = json.loads(path.read_text())
    sweep.restore_file = path
    return restore(sweep, saved["functions"])
