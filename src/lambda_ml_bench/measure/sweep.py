"""`python -m bench compare`: architecture x memory x workload, measured fairly, in parallel, and put back.

Each cell (a target function, a memory size, a workload, a round) gets a version of its own: the
function's `$LATEST` is set to the cell's configuration, a version is published and an alias
`bench-<memory>-w<workload>-r<round>` points at it; the cell's invocations go to the alias, so its
first one is a real cold start, and the cell's alias and version are deleted when it is done. `$LATEST`
is put back as it was at the end, and also after an error, Ctrl-C or SIGTERM: the original
configuration of every target is written to a file before the first change, and
`python -m bench compare --restore FILE` puts it back and deletes leftover versions and aliases.

Cells are ordered round by round, memory size by memory size, workload by workload, with the
architectures side by side (alternating which goes first), so that no configuration is measured
only early or only late; `--parallel N` runs N cells at once (within a cell the cold and warm
invocations stay in order).
"""
from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from lambda_ml_bench import lambda_facts, spec
from lambda_ml_bench.deploy import explain
from lambda_ml_bench.errors import ProjectError
from lambda_ml_bench.files import atomic_write
from lambda_ml_bench.local_lambda.functions import where_it_runs
from lambda_ml_bench.measure import pricing

RETRYABLE = {"TooManyRequestsException", "ServiceException", "ThrottlingException", "ResourceConflictException",
             "EC2ThrottledException", "ResourceNotReadyException"}
CELL_VARIABLE = "BENCH_SWEEP_CELL"  # set on each cell's version: a configuration change, so a version of its own
ALIAS_PREFIX = "bench-"


class CompareError(ProjectError):
    """The comparison cannot go on (bad target, a function error, retries exhausted)."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: stop starting cells, finish the running invocations, put everything back."""


def parse_report(log: str) -> dict:
    """The figures of Lambda's REPORT line (the last one in a LogType=Tail log)."""
    try:
        return lambda_facts.parse_report(log).as_dict()
    except lambda_facts.ReportLineError as err:
        raise CompareError(str(err)) from err


# --- what is swept ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    architecture: str
    name: str  # function name or ARN
    backend: str = "sklearn"


@dataclass(frozen=True)
class Workload:
    label: str  # "10 features", or a payload file's name
    event: dict = field(hash=False, compare=False)
    n_features: int | None = None


@dataclass(frozen=True)
class Cell:
    target: Target
    memory_mb: int
    workload: Workload
    workload_index: int
    round: int

    @property
    def alias(self) -> str:
        return f"{ALIAS_PREFIX}{self.memory_mb}-w{self.workload_index}-r{self.round}"


def plan(targets: list[Target], memory_sizes: list[int], workloads: list[Workload], rounds: int) -> list[Cell]:
    """Round by round, then memory, then workload, the architectures side by side in alternating order."""
    cells = []
    step = 0
    for r in range(1, rounds + 1):
        for memory in memory_sizes:
            for wi, workload in enumerate(workloads):
                side_by_side = targets if step % 2 == 0 else list(reversed(targets))
                cells += [Cell(t, memory, workload, wi, r) for t in side_by_side]
                step += 1
    return cells


# --- the driver -------------------------------------------------------------------------------
@dataclass
class Sweep:
    client: object
    out: Path
    say: Callable[[str], None] = print
    warm: int = 3
    parallel: int = 1
    region: str = pricing.DEFAULT_REGION
    max_attempts: int = 6
    retries: dict[str, int] = field(default_factory=dict)
    sweep_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        self._locks: dict[str, threading.Lock] = {}
        self._created: set[tuple[str, str, str]] = set()  # (function, alias, version) still to delete
        self._snapstart: dict[str, bool] = {}
        self._runs: dict[str, dict] = {}  # where each function runs, from its Tags
        self._lock = threading.Lock()
        self.restore_file = self.out.with_suffix(".restore.json")

    # --- calls with backoff -----------------------------------------------------------------
    def call(self, operation: str, **kwargs):
        from botocore.exceptions import ClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        for attempt in range(1, self.max_attempts + 1):
            try:
                return getattr(self.client, operation)(**kwargs)
            except ClientError as err:
                code = err.response["Error"]["Code"]
                hint = explain(err.response["Error"].get("Message", ""))
                if hint:
                    raise CompareError(f"{kwargs.get('FunctionName', '')}: {hint}") from err
                if code not in RETRYABLE or attempt == self.max_attempts:
                    raise
            except BotoConnectionError:
                code = "ConnectionError"
                if attempt == self.max_attempts:
                    raise
            with self._lock:
                self.retries[code] = self.retries.get(code, 0) + 1
            time.sleep(min(20.0, 0.5 * 2 ** (attempt - 1)))
        raise AssertionError("unreachable")

    def _wait_updated(self, name: str, timeout_s: float = 300) -> None:
        """Until the last update is applied. Polled through `call`, so a throttled poll backs off and is counted
        (botocore's waiter would give up on the first throttle, its client having no retries)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.call("get_function_configuration", FunctionName=name).get("LastUpdateStatus", "Successful")
            if status == "Successful":
                return
            if status == "Failed" or time.monotonic() > deadline:
                raise CompareError(f"{name}: its configuration update is {status}")
            time.sleep(1)

    # --- before and after -------------------------------------------------------------------
    def save_originals(self, targets: list[Target]) -> dict:
        """Every target's configuration, on disk before the first change."""
        originals = {}
        for t in targets:
            c = self.call("get_function_configuration", FunctionName=t.name)
            originals[t.name] = {**settings(c), "Description": c.get("Description", "")}
            self._snapstart[t.name] = c.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions"
            self._runs[t.name] = where_it_runs(self.call("get_function", FunctionName=t.name).get("Tags", {}))
        atomic_write(self.restore_file, json.dumps({"sweep": self.sweep_id, "functions": originals}, indent=2))
        return originals

    def restore(self, originals: dict) -> list[str]:
        """Each target back as it was and its sweep versions and aliases deleted, one by one with retries:
        a failure with one target does not stop the others. Returns what could not be put back."""
        failed = []
        for function, alias, version in sorted(self._created):
            try:
                self._delete_cell(function, alias, version)
            except Exception as err:  # noqa: BLE001 - reported, and the next one is tried
                failed.append(f"{function}:{alias}: {err}")
        for name, original in originals.items():
            try:
                remove_leftovers(self, name)
                now = settings(self.call("get_function_configuration", FunctionName=name))
                changes = {k: v for k, v in original.items() if k in now and now[k] != v}
                if changes:  # only what differs: an unchanged value is not sent again
                    self.say(f"[{name}] restoring {', '.join(sorted(changes))}")
                    self.call("update_function_configuration", FunctionName=name, **changes)
                    self._wait_updated(name)
            except Exception as err:  # noqa: BLE001 - reported, and the next one is tried
                failed.append(f"{name}: {err}")
        if not failed:
            self.restore_file.unlink(missing_ok=True)
        return failed

    # --- one cell ---------------------------------------------------------------------------
    def _configure_latest(self, cell: Cell, original: dict, tag: str) -> None:
        """$LATEST set to the cell's configuration, marked by `tag` in CELL_VARIABLE so that it is a change of its
        own (a new version, new environments). Called under the function's lock."""
        name = cell.target.name
        variables = {**original["Environment"]["Variables"], CELL_VARIABLE: f"{self.sweep_id}/{tag}"}
        self.call("update_function_configuration", FunctionName=name, MemorySize=cell.memory_mb,
                  Environment={"Variables": variables})
        self._wait_updated(name)

    def _prepare(self, cell: Cell, original: dict) -> str:
        """A version of the cell's configuration behind the cell's alias (one function at a time)."""
        name = cell.target.name
        with self._locks.setdefault(name, threading.Lock()):
            self._configure_latest(cell, original, cell.alias)
            version = self.call(
                "publish_version", FunctionName=name, Description=f"lambda-ml-bench sweep {self.sweep_id} {cell.alias}"
            )["Version"]
            with self._lock:
                self._created.add((name, cell.alias, version))
            self.call("create_alias", FunctionName=name, Name=cell.alias, FunctionVersion=version)
        return version

    def _delete_cell(self, name: str, alias: str, version: str) -> None:
        from botocore.exceptions import ClientError

        for operation, kwargs in (("delete_alias", {"Name": alias}), ("delete_function", {"Qualifier": version})):
            try:
                self.call(operation, FunctionName=name, **kwargs)
            except ClientError as err:
                if err.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
        with self._lock:
            self._created.discard((name, alias, version))

    def invoke(self, name: str, qualifier: str, event: dict) -> tuple[dict, dict]:
        response = self.call(
            "invoke", FunctionName=name, Qualifier=qualifier, Payload=json.dumps(event).encode(), LogType="Tail"
        )
        payload = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise CompareError(f"{name}:{qualifier} failed: {json.dumps(payload)[:500]}")
        return payload, parse_report(base64.b64decode(response["LogResult"]).decode("utf-8", "replace"))

    def measure(self, cell: Cell, original: dict) -> list[dict]:
        """Prepare, one cold and `warm` warm invocations in order, delete: the records of one cell."""
        version = self._prepare(cell, original)
        try:
            records = self._invocations(cell, cell.alias, version)
            if self._snapstart.get(cell.target.name):
                records += self._measure_latest(cell, original)
        finally:
            self._delete_cell(cell.target.name, cell.alias, version)
        return records

    def _measure_latest(self, cell: Cell, original: dict) -> list[dict]:
        """With SnapStart on published versions, the cell's version starts from a snapshot (Restore Duration);
        `$LATEST` of the same configuration starts with a full INIT. Measured side by side, one function at a time
        ($LATEST is shared by the function's cells)."""
        with self._locks.setdefault(cell.target.name, threading.Lock()):
            self._configure_latest(cell, original, f"{cell.alias}/latest")
            return self._invocations(cell, "$LATEST", "$LATEST")

    def _invocations(self, cell: Cell, qualifier: str, version: str) -> list[dict]:
        """One cold and `warm` warm invocations of `qualifier`, in order, until the sweep is stopped."""
        records = []
        for _ in range(1 + self.warm):
            if self.stop.is_set():
                break
            payload, report = self.invoke(cell.target.name, qualifier, cell.workload.event)
            records.append(self._record(cell, version, payload, report))
        return records

    def _record(self, cell: Cell, version: str, payload: dict, report: dict) -> dict:
        arch = cell.target.architecture
        cold = bool(payload.get("cold", report["init_ms"] is not None or report["restore_ms"] is not None))
        snapstart = self._snapstart.get(cell.target.name, False)
        variant = ""
        if snapstart:
            variant = ", $LATEST without SnapStart" if version == "$LATEST" else ", SnapStart"
        record = {
            "sweep": self.sweep_id,
            "architecture": arch,
            "function": cell.target.name,
            "backend": cell.target.backend + variant,
            "memory_mb": cell.memory_mb,
            "workload": cell.workload.label,
            "n_features": cell.workload.n_features,
            "round": cell.round,
            "version": version,
            "cold": cold,
            **self._runs.get(cell.target.name, where_it_runs({})),
            "region": self.region,
            **report,
            "cost_usd": pricing.cost(pricing.Invocation(arch, report["memory_mb"], report["billed_ms"]), self.region),
            "time": time.time(),
            "retries_so_far": sum(self.retries.values()),
        }
        if "fit" in payload:  # the benchmark handler's own figures
            record.update(
                cycles_requested=cell.workload.event.get("cycles"),
                cycles_done=payload["cycles_done"],
                stopped_early=payload["stopped_early"],
                fit_median_ms=payload["fit"]["median_ms"],
                predict_median_ms=payload["predict"]["median_ms"],
                accuracy=payload["accuracy"],
                machine=payload["environment"]["machine"],
            )
        else:
            record.update(stopped_early=False)
        return record

    def _write(self, records: list[dict]) -> None:
        """Append at once: an interrupted run keeps everything it measured."""
        with self._lock:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            with open(self.out, "a") as fh:
                for r in records:
                    fh.write(json.dumps(r) + "\n")

    # --- the sweep --------------------------------------------------------------------------
    def run(self, cells: list[Cell]) -> list[dict]:
        """Every cell, `parallel` at a time; $LATEST put back whatever happens. Raises CompareError (after
        restoring) when a cell failed, Interrupted when stopped."""
        targets = list({c.target: None for c in cells})
        originals = self.save_originals(targets)
        records: list[dict] = []
        failure: BaseException | None = None
        started = time.monotonic()
        done = 0
        pending = list(cells)
        running: dict[Future, Cell] = {}
        executor = ThreadPoolExecutor(max_workers=max(1, self.parallel), thread_name_prefix="cell")
        try:
            while pending or running:
                while pending and len(running) < self.parallel and not self.stop.is_set() and failure is None:
                    cell = pending.pop(0)
                    running[executor.submit(self.measure, cell, originals[cell.target.name])] = cell
                if not running:
                    break
                finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    cell = running.pop(future)
                    try:
                        cell_records = future.result()
                    except Exception as err:  # noqa: BLE001 - the first failure ends the sweep, after the rest
                        failure = failure or err
                        self.stop.set()
                        continue
                    self._write(cell_records)
                    records += cell_records
                    done += 1
                    self._progress(cell, cell_records, done, len(cells), started)
        except (KeyboardInterrupt, Interrupted) as err:
            self.stop.set()
            failure = Interrupted(str(err) or "interrupted")
            for future in list(running):  # the running invocations finish, then everything is put back
                try:
                    self._write(future.result())
                except Exception:  # noqa: BLE001 - its records are lost, its version is deleted below
                    pass
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            failed = self.restore(originals)
            if failed:
                self.say(f"could not put back: {failed}; run `python -m bench compare --restore {self.restore_file}`")
        if failure is not None:
            if isinstance(failure, (CompareError, Interrupted)):
                raise failure
            raise CompareError(str(failure)) from failure
        return records

    def _progress(self, cell: Cell, records: list[dict], done: int, total: int, started: float) -> None:
        for r in records:
            figures = (
                f"fit {r['fit_median_ms']:.1f} ms, predict {r['predict_median_ms']:.1f} ms, "
                if "fit_median_ms" in r
                else ""
            )
            self.say(
                f"[{cell.target.architecture}] {cell.memory_mb} MB, {cell.workload.label}, round {cell.round}, "
                f"{'cold' if r['cold'] else 'warm'}: {figures}duration {r['duration_ms']:.1f} ms, "
                f"billed {r['billed_ms']} ms"
            )
        elapsed = time.monotonic() - started
        left = elapsed / done * (total - done)
        self.say(f"cells done {done}/{total}, {elapsed:.0f} s so far, about {left:.0f} s left")


def settings(configuration: dict) -> dict:
    """What a sweep changes on $LATEST and puts back, from a GetFunctionConfiguration answer."""
    return {"MemorySize": configuration["MemorySize"], "Timeout": configuration["Timeout"],
            "Environment": {"Variables": configuration.get("Environment", {}).get("Variables", {})}}


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
                if err.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
    return removed


def restore_from(sweep: Sweep, path: Path) -> list[str]:
    """`--restore FILE`: the saved configurations back, leftover versions and aliases deleted."""
    saved = json.loads(path.read_text())
    sweep.restore_file = path
    return sweep.restore(saved["functions"])


# --- where the functions are ------------------------------------------------------------------
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
