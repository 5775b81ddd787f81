"""The sweep's state and its run: every cell, `parallel` at a time (within a cell the cold and warm invocations stay
in order), results appended as they arrive, and every target put back whatever happens."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from lambda_ml_bench.deploy import explain
from lambda_ml_bench.measure import pricing
from lambda_ml_bench.measure.client import RetryCount
from lambda_ml_bench.measure.sweep import cleaner, executor, initializer
from lambda_ml_bench.measure.sweep.cells import Cell, CompareError, Interrupted


@dataclass
class Sweep:
    client: object  # a Lambda client that retries (measure.client.lambda_client)
    out: Path
    say: Callable[[str], None] = print
    warm: int = 3
    parallel: int = 1
    region: str = pricing.DEFAULT_REGION
    retries: RetryCount = field(default_factory=RetryCount)
    sweep_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        self.locks: dict[str, threading.Lock] = {}  # one per function: $LATEST is shared by its cells
        self.created: set[tuple[str, str, str]] = set()  # (function, alias, version) still to delete
        self.snapstart: dict[str, bool] = {}
        self.runs: dict[str, dict] = {}  # where each function runs, from its Tags
        self.lock = threading.Lock()
        self.restore_file = self.out.with_suffix(".restore.json")

    def call(self, operation: str, **kwargs):
        """One API call (the client retries throttles and transient errors); a refusal a real account meets
        becomes one line."""
        from botocore.exceptions import ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as err:
            hint = explain(err.response["Error"].get("Message", ""))
            if hint:
                raise CompareError(f"{kwargs.get('FunctionName', '')}: {hint}") from err
            raise

    def function_lock(self, name: str) -> threading.Lock:
        with self.lock:
            return self.locks.setdefault(name, threading.Lock())

    def run(self, cells: list[Cell]) -> list[dict]:
        """Every cell, `parallel` at a time; $LATEST put back whatever happens. Raises CompareError (after
        restoring) when a cell failed, Interrupted when stopped."""
        targets = list({c.target: None for c in cells})
        originals = initializer.save_originals(self, targets)
        records: list[dict] = []
        failure: BaseException | None = None
        started = time.monotonic()
        done = 0
        pending = list(cells)
        running: dict[Future, Cell] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, self.parallel), thread_name_prefix="cell")
        try:
            while pending or running:
                while pending and len(running) < self.parallel and not self.stop.is_set() and failure is None:
                    cell = pending.pop(0)
                    running[pool.submit(executor.measure, self, cell, originals[cell.target.name])] = cell
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
                    self.write(cell_records)
                    records += cell_records
                    done += 1
                    self.progress(cell, cell_records, done, len(cells), started)
        except (KeyboardInterrupt, Interrupted) as err:
            self.stop.set()
            failure = Interrupted(str(err) or "interrupted")
            for future in list(running):  # the running invocations finish, then everything is put back
                try:
                    self.write(future.result())
                except Exception:  # noqa: BLE001 - its records are lost, its version is deleted below
                    pass
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            failed = cleaner.restore(self, originals)
            if failed:
                self.say(f"could not put back: {failed}; run `lmb compare --restore {self.restore_file}`")
        if failure is not None:
            if isinstance(failure, (CompareError, Interrupted)):
                raise failure
            raise CompareError(str(failure)) from failure
        return records

    def write(self, records: list[dict]) -> None:
        """Append at once: an interrupted run keeps everything it measured."""
        with self.lock:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            with open(self.out, "a") as fh:
                for r in records:
                    fh.write(json.dumps(r) + "\n")

    def progress(self, cell: Cell, records: list[dict], done: int, total: int, started: float) -> None:
        for r in records:
            if r.get("failed"):
                continue  # said when it happened
            figures = (f"fit {r['fit_median_ms']:.1f} ms, predict {r['predict_median_ms']:.1f} ms, "
                       if r.get("fit_median_ms") is not None else "stopped before the first cycle, "
                       if r.get("stopped_early") else "")
            self.say(f"[{cell.target.architecture}] {cell.memory_mb} MB, {cell.workload.label}, round {cell.round}, "
                     f"{'cold' if r['cold'] else 'warm'}: {figures}duration {r['duration_ms']:.1f} ms, "
                     f"billed {r['billed_ms']} ms")
        elapsed = time.monotonic() - started
        left = elapsed / done * (total - done)
        self.say(f"cells done {done}/{total}, {elapsed:.0f} s so far, about {left:.0f} s left")
