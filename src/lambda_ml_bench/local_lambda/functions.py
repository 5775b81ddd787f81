"""Function definitions of the local Lambda: from terraform/functions.json, or a definition file."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from lambda_ml_bench import lambda_facts, spec
from lambda_ml_bench.aws import ACCOUNT, REGION
from lambda_ml_bench.build.platforms import RUNTIMES, SANDBOX_PYTHON, architecture
from lambda_ml_bench.errors import ProjectError
from lambda_ml_bench.files import sha256_file_base64

# How a client tells the local Lambda from Lambda, how it runs, and whether CPU and memory are allotted: as data in
# the function's Tags (GetFunction, ListTags), which AWS has too; the Description says the same for people.
TAG_ENVIRONMENT = "lambda-ml-bench:environment"  # local (absent on AWS: Lambda)
TAG_RUN = "lambda-ml-bench:run"  # native | emulated
TAG_ALLOTMENT = "lambda-ml-bench:allotment"  # allotted | not-allotted
TAG_IDLE = "lambda-ml-bench:idle-seconds"  # how long an idle environment lives here
TAG_NETWORK = "lambda-ml-bench:network"  # isolated (loopback of its own) | host-loopback (asked for by name)
LOCAL_DESCRIPTION = "local Lambda (lambda-ml-bench), runs {run}; {allotment}"


def _host() -> str | None:
    from lambda_ml_bench.build.platforms import host_architecture

    host = host_architecture()
    return host.name if host else None


class DefinitionError(ProjectError, ValueError):
    """A function definition the local Lambda cannot serve."""


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    architecture: str
    memory_size: int
    timeout: int
    code: Path  # a zip or a folder: what /var/task shows
    layers: tuple[Path, ...] = ()
    environment: dict = field(default_factory=dict)
    runtime: str = "python3.13"
    reserved_concurrency: int | None = None
    snapstart: bool = False  # SnapStart on published versions: configuration only here (no snapshot is taken)
    user_description: str | None = None  # a Description set through the API (else where the function runs)
    ephemeral_storage: int = lambda_facts.DEFAULT_EPHEMERAL_STORAGE_MB  # /tmp's size in MB
    host_loopback: bool = False  # the definition asks for the host's loopback (else a network of its own)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.name}"

    def configuration(self, description: str, revision_id: str, last_modified: str, listing: bool = False,
                      version: str = "$LATEST", qualifier: str | None = None) -> dict:
        """The function's configuration in the shape AWS records (LocalStack's test_lambda_api snapshot,
        TestLambdaFunction::test_function_lifecycle, get_function_response): `Environment` only when there
        are variables, `Layers` only with layers. Listings (ListFunctions, ListVersionsByFunction) leave out `State`,
        `LastUpdateStatus` and `RuntimeVersionConfig` (TestLambdaVersions::test_publish_version_on_create,
        list_versions_result). A qualified request answers with the qualified ARN (get_function_version_result)."""
        code_sha, code_size = _code_digest(self.code)
        config = {
            "Architectures": [self.architecture], "CodeSha256": code_sha, "CodeSize": code_size,
            "Description": description, "EphemeralStorage": {"Size": self.ephemeral_storage},
            "FunctionArn": self.arn + (f":{qualifier}" if qualifier else ""),
            "FunctionName": self.name, "Handler": self.handler, "LastModified": last_modified,
            "LastUpdateStatus": "Successful",
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.name}"},
            "MemorySize": self.memory_size, "PackageType": "Zip", "RevisionId": revision_id,
            "Role": f"arn:aws:iam::{ACCOUNT}:role/{self.name}", "Runtime": self.runtime,
            "RuntimeVersionConfig": {"RuntimeVersionArn": f"arn:aws:lambda:{REGION}::runtime:local-{self.runtime}"},
            "SnapStart": {"ApplyOn": "PublishedVersions" if self.snapstart else "None",
                          "OptimizationStatus": "On" if self.snapstart and version != "$LATEST" else "Off"},
            "State": "Active",
            "Timeout": self.timeout, "TracingConfig": {"Mode": "PassThrough"}, "Version": version,
        }
        if self.environment:
            config["Environment"] = {"Variables": dict(self.environment)}
        if self.layers:
            config["Layers"] = [{"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{p.stem}:1",
                                 "CodeSize": p.stat().st_size if p.exists() else 0} for p in self.layers]
        if listing:
            del config["State"], config["LastUpdateStatus"], config["RuntimeVersionConfig"]
        return dict(sorted(config.items()))

    def tags(self, allotted: bool) -> dict[str, str]:
        return {TAG_ENVIRONMENT: "local", TAG_RUN: "native" if self.architecture == _host() else "emulated",
                TAG_ALLOTMENT: "allotted" if allotted else "not-allotted",
                TAG_NETWORK: "host-loopback" if self.host_loopback else "isolated"}

    def description(self, allotment: str) -> str:
        if self.user_description is not None:
            return self.user_description
        return LOCAL_DESCRIPTION.format(run="natively" if self.architecture == _host() else "emulated under QEMU",
                                        allotment=allotment)


def where_it_runs(tags: dict[str, str]) -> dict:
    """What a function's Tags say about where it runs: Lambda itself, or the local Lambda (natively or emulated,
    with CPU and memory allotted or not)."""
    if tags.get(TAG_ENVIRONMENT) != "local":
        return {"environment": "Lambda", "emulated": False, "allotment": "Lambda"}
    return {"environment": "local Lambda", "emulated": tags.get(TAG_RUN) == "emulated",
            "allotment": "allotted" if tags.get(TAG_ALLOTMENT) == "allotted" else "not allotted"}


def _code_digest(code: Path) -> tuple[str, int]:
    if code.is_file():  # answered on every GetFunction and every poll of a sweep: hashed once per file version
        return sha256_file_base64(code), code.stat().st_size
    return "", 0


def from_terraform(python_version: str | None = None) -> list[FunctionSpec]:
    """One function per handler and architecture, as the Terraform configuration declares them for the packaged
    model (spec.Spec.serving), each on its backend's layer built for its architecture."""
    s = spec.load()
    python_version = python_version or s.python_version
    return [
        FunctionSpec(name=s.function_name(key, arch, python_version), handler=h.handler, architecture=arch,
                     memory_size=h.memory_size, timeout=h.timeout, code=s.package_path(python_version),
                     layers=(s.layer_path(h.backend, arch, python_version),), environment=dict(h.environment),
                     runtime=f"python{python_version}")
        for arch in s.architectures for key, h in s.deployed(python_version).items()
    ]


def from_file(path: Path) -> list[FunctionSpec]:
    """A small definition file: {"functions": [{"name", "handler", "architecture", ...}]}."""
    base = path.resolve().parent
    specs = []
    for entry in json.loads(path.read_text())["functions"]:
        specs.append(FunctionSpec(
            name=entry["name"], handler=entry["handler"], architecture=entry["architecture"],
            memory_size=int(entry.get("memory_size", 128)), timeout=int(entry.get("timeout", 3)),
            code=(base / entry["code"]).resolve(), layers=tuple((base / p).resolve() for p in entry.get("layers", [])),
            environment=entry.get("environment", {}), runtime=entry.get("runtime", "python3.13"),
            reserved_concurrency=entry.get("reserved_concurrency"), snapstart=bool(entry.get("snapstart", False)),
            host_loopback=_host_loopback(entry),
            ephemeral_storage=int(entry.get("ephemeral_storage", lambda_facts.DEFAULT_EPHEMERAL_STORAGE_MB)),
        ))
    return specs


def _host_loopback(entry: dict) -> bool:
    """`"network": "host-loopback"` gives a function the host's loopback (a local database, say); the default,
    `"isolated"`, a network namespace with a loopback of its own."""
    value = entry.get("network", "isolated")
    if value not in ("isolated", "host-loopback"):
        raise DefinitionError(f"{entry.get('name')}: network is \"isolated\" or \"host-loopback\", not {value!r}")
    return value == "host-loopback"


def validate(specs: list[FunctionSpec]) -> None:
    from lambda_ml_bench.sandbox.network import can_isolate

    why = can_isolate()
    if why and any(not s.host_loopback for s in specs):
        raise DefinitionError(f"each environment gets a network of its own, and {why}: run the local Lambda as root "
                              "(as its CPU and memory allotment needs too)")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise DefinitionError(f"function names must be unique: {names}")
    for s in specs:
        architecture(s.architecture)
        if s.runtime != RUNTIMES[SANDBOX_PYTHON].name:
            raise DefinitionError(f"{s.name}: the local Lambda runs {RUNTIMES[SANDBOX_PYTHON].name} only")
        if len(s.layers) > 1:
            raise DefinitionError(f"{s.name}: the local Lambda mounts one layer at /opt, not {len(s.layers)}")
        (mem_low, mem_high), (t_low, t_high) = lambda_facts.MEMORY_MB, lambda_facts.TIMEOUT_S
        (tmp_low, tmp_high) = lambda_facts.EPHEMERAL_STORAGE_MB
        if not mem_low <= s.memory_size <= mem_high or not t_low <= s.timeout <= t_high or \
                not tmp_low <= s.ephemeral_storage <= tmp_high:
            raise DefinitionError(f"{s.name}: memory {mem_low}-{mem_high} MB, timeout {t_low}-{t_high} s and "
                                  f"ephemeral storage {tmp_low}-{tmp_high} MB")
        for p in (s.code, *s.layers):
            if not p.exists():
                raise DefinitionError(f"{s.name}: {os.path.relpath(p)} does not exist; build it first "
                                      "(make layers package)")
