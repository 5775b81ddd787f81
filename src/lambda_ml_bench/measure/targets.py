"""Where the functions to sweep are: Terraform's `benchmark_targets` output on AWS, or a listing at an endpoint (the
local Lambda, LocalStack), told apart by the handler each backend runs."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lambda_ml_bench import spec
from lambda_ml_bench.measure.sweep.cells import CompareError


def terraform_targets(terraform_dir: Path) -> dict:
    """`terraform output -json benchmark_targets`: per architecture, the region and each handler's name and ARN."""
    proc = subprocess.run(
        ["terraform", f"-chdir={terraform_dir}", "output", "-json", "benchmark_targets"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise CompareError(f"terraform output failed (deployed yet? `make deploy`): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def targets_from_terraform(outputs: dict, handler: str = "benchmark") -> dict[str, str]:
    """{architecture: function name} of one handler from the `benchmark_targets` output."""
    return {arch: t["functions"][handler]["name"] for arch, t in outputs.items()}


def region_of(outputs: dict) -> str:
    """The one region the functions are deployed in (from the output, never a default)."""
    regions = {fn.get("region", t["region"]) for t in outputs.values() for fn in t["functions"].values()}
    if len(regions) != 1:
        raise CompareError(f"the functions are in {len(regions)} regions ({sorted(regions)}); compare one at a time")
    return regions.pop()


def targets_from_listing(client, pattern: str = "benchmark", handler: str | None = None) -> dict[str, str]:
    """{architecture: name} of the functions whose name contains `pattern` (and, given one, that run `handler`:
    predict-onnx-arm64 contains "predict" too), from ListFunctions."""
    found: dict[str, str] = {}
    for page in client.get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            if pattern in fn["FunctionName"] and handler in (None, fn.get("Handler")):
                found.setdefault(fn.get("Architectures", ["x86_64"])[0], fn["FunctionName"])
    if not found:
        runs = f" that runs {handler}" if handler else ""
        raise CompareError(f"no function whose name contains {pattern!r}{runs} at this endpoint")
    return found


def handler_for(function: str, backend: str) -> tuple[str, str]:
    """(functions.json key, handler) of `function` (benchmark, predict) served by `backend`."""
    try:
        h = spec.load().handler_for(function, backend)
    except spec.SpecError as err:
        raise CompareError(str(err)) from None
    return h.key, h.handler


def default_parallel(client, cells: int, local: bool) -> int:
    """One cell at a time against the local Lambda (a 2-core machine timing parallel cells would measure its
    own contention); on AWS as many as there are cells, never above the account's unreserved concurrency."""
    if local:
        return 1
    try:
        unreserved = client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    except Exception:  # noqa: BLE001 - no permission to read it: stay modest
        unreserved = 10
    return max(1, min(cells, unreserved))
