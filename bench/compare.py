"""`python -m bench compare`: the study against deployed (or local) functions, cold and warm, per memory size."""
from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench import pricing
from bench.account import explain
from local_lambda import logs

RETRYABLE = {"TooManyRequestsException", "ServiceException", "ThrottlingException", "ResourceConflictException",
             "EC2ThrottledException", "ResourceNotReadyException"}
COLD_TOKEN = "BENCH_COLD_START_TOKEN"  # changing an environment variable makes Lambda start new environments


class CompareError(RuntimeError):
    """The comparison cannot go on (bad target, a function error, retries exhausted)."""


def parse_report(log: str) -> dict:
    """The figures of Lambda's REPORT line (the last one in a LogType=Tail log)."""
    try:
        return logs.parse_report(log).as_dict()
    except logs.ReportLineError as err:
        raise CompareError(str(err)) from err


def terraform_targets(terraform_dir: Path) -> dict:
    """`terraform output -json benchmark_targets`: per architecture, the region and each handler's name and ARN."""
    proc = subprocess.run(["terraform", f"-chdir={terraform_dir}", "output", "-json", "benchmark_targets"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise CompareError(f"terraform output failed (deployed yet? `make deploy`): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def targets_from_terraform(outputs: dict) -> dict[str, str]:
    """{architecture: benchmark function name} from the `benchmark_targets` output."""
    return {arch: t["functions"]["benchmark"]["name"] for arch, t in outputs.items()}


def region_of(outputs: dict) -> str:
    """The one region the functions are deployed in (from the output, never a default)."""
    regions = {fn.get("region", t["region"]) for t in outputs.values() for fn in t["functions"].values()}
    if len(regions) != 1:
        raise CompareError(f"the functions are in {len(regions)} regions ({sorted(regions)}); compare one at a time")
    return regions.pop()


def targets_from_listing(client, pattern: str = "benchmark") -> dict[str, str]:
    """{architecture: name} of the functions whose name contains `pattern`, from ListFunctions."""
    found: dict[str, str] = {}
    for page in client.get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            if pattern in fn["FunctionName"]:
                found.setdefault(fn.get("Architectures", ["x86_64"])[0], fn["FunctionName"])
    if not found:
        raise CompareError(f"no function whose name contains {pattern!r} at this endpoint")
    return found


@dataclass
class Driver:
    client: object
    out: Path
    say: Callable[[str], None] = print
    max_attempts: int = 6
    retries: dict[str, int] = field(default_factory=dict)

    # --- calls with backoff -----------------------------------------------------------------
    def call(self, operation: str, **kwargs):
        from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError

        for attempt in range(1, self.max_attempts + 1):
            try:
                return getattr(self.client, operation)(**kwargs)
            except ClientError as err:
                code = err.response["Error"]["Code"]
                if code not in RETRYABLE or attempt == self.max_attempts:
                    raise
            except BotoConnectionError:
                code = "ConnectionError"
                if attempt == self.max_attempts:
                    raise
            self.retries[code] = self.retries.get(code, 0) + 1
            time.sleep(min(20.0, 0.5 * 2 ** (attempt - 1)))
        raise AssertionError("unreachable")

    def configure(self, name: str, **changes) -> None:
        from botocore.exceptions import ClientError

        try:
            self.call("update_function_configuration", FunctionName=name, **changes)
        except ClientError as err:
            hint = explain(err.response["Error"].get("Message", ""))
            if hint:
                raise CompareError(f"{name}: {hint}") from err
            raise
        waiter = self.client.get_waiter("function_updated")
        waiter.wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})

    def invoke(self, name: str, event: dict) -> tuple[dict, dict]:
        response = self.call("invoke", FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
        payload = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise CompareError(f"{name} failed: {payload}")
        return payload, parse_report(base64.b64decode(response["LogResult"]).decode("utf-8", "replace"))

    # --- the sweep --------------------------------------------------------------------------
    def run(self, targets: dict[str, str], features: list[int], memory_sizes: list[int] | None,
            cycles: int, warm: int) -> list[dict]:
        originals = {arch: self.call("get_function_configuration", FunctionName=name) for arch, name in targets.items()}
        records: list[dict] = []
        try:
            for arch, name in targets.items():
                for memory in memory_sizes or [originals[arch]["MemorySize"]]:
                    if memory != self.client.get_function_configuration(FunctionName=name)["MemorySize"]:
                        self.say(f"[{arch}] memory {memory} MB")
                        self.configure(name, MemorySize=memory)
                    for n in features:
                        records += self._measure(arch, name, memory, n, cycles, warm, originals[arch])
        finally:  # also after an error or Ctrl-C: leave the functions as they were
            for arch, name in targets.items():
                original = originals[arch]
                self.say(f"[{arch}] restoring {original['MemorySize']} MB and the environment")
                self.configure(name, MemorySize=original["MemorySize"],
                               Environment={"Variables": original.get("Environment", {}).get("Variables", {})})
        return records

    def _measure(self, arch: str, name: str, memory: int, n: int, cycles: int, warm: int, original: dict) -> list[dict]:
        variables = dict(original.get("Environment", {}).get("Variables", {}))
        description = original.get("Description", "")
        local = description.startswith("local Lambda")
        self.configure(name, Environment={"Variables": {**variables, COLD_TOKEN: uuid.uuid4().hex}})
        records = []
        for i in range(1 + warm):
            payload, report = self.invoke(name, {"n_features": n, "cycles": cycles})
            record = {
                "architecture": arch, "function": name, "memory_mb": memory, "n_features": n,
                "environment": "local Lambda" if local else "Lambda", "emulated": "emulated" in description,
                # a local figure says whether it ran with Lambda's CPU and memory allotment
                "allotment": "Lambda" if not local else ("not allotted" if "NOT allotted" in description else "allotted"),
                "cold": report["init_ms"] is not None, "cycles_done": payload["cycles_done"],
                "fit_median_ms": payload["fit"]["median_ms"], "predict_median_ms": payload["predict"]["median_ms"],
                "accuracy": payload["accuracy"], "machine": payload["environment"]["machine"], **report,
                "cost_usd": pricing.cost(pricing.Invocation(arch, report["memory_mb"], report["billed_ms"])),
                "retries_so_far": sum(self.retries.values()), "time": time.time(),
            }
            self._write(record)
            records.append(record)
            self.say(f"[{arch}] {memory} MB, {n} features, {'cold' if record['cold'] else 'warm'}: fit "
                     f"{record['fit_median_ms']:.1f} ms, predict {record['predict_median_ms']:.1f} ms, "
                     f"billed {record['billed_ms']} ms")
        return records

    def _write(self, record: dict) -> None:
        """Append at once: an interrupted run keeps everything it measured."""
        self.out.parent.mkdir(parents=True, exist_ok=True)
        with open(self.out, "a") as fh:
            fh.write(json.dumps(record) + "\n")
