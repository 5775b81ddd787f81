"""`make tf-check`: fmt, init, validate and plan of every configuration, offline, then the plan checks."""
from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lambda_ml_bench import spec
from lambda_ml_bench.paths import REPO
from lambda_ml_bench.tfcheck import plancheck
from lambda_ml_bench.tfcheck.errors import PlanCheckError, TerraformFailed
from lambda_ml_bench.tfcheck.workspace import TERRAFORM_DIR, Engine, Workspace, engines

SPEC = spec.load()
HANDLER_BACKENDS = {h.handler: h.backend for h in SPEC.handlers.values()}  # the backend (layer) each handler runs on


@dataclass(frozen=True)
class Scenario:
    """A configuration (folder inside terraform/) planned with some options."""

    label: str
    folder: str
    options: tuple[str, ...] = ()
    #: (handler, architecture) pairs it must create; None: functions.json's handlers x var.architectures
    expected: frozenset[tuple[str, str]] | None = None


SCENARIOS = (
    Scenario("root, defaults", "."),
    Scenario("root, terraform.tfvars.example", ".", ("-var-file=terraform.tfvars.example",)),
    Scenario(
        "root, every option on", ".", ("-var=function_url=true", "-var=snapstart=true", "-var=tracing_mode=Active")
    ),
    Scenario("root, arm64 only", ".", ('-var=architectures=["arm64"]',)),
    Scenario("root, every compute mode", ".", (
        "-var=provisioned_concurrency={predict=2}", '-var=snapstart_handlers=["benchmark"]',
        '-var=managed_instances_handlers={"predict-onnx"={instance_types={arm64=["m7g.large","c7g.xlarge"],'
        'x86_64=["m7i.large"]},memory_gib_per_vcpu=4}}', '-var=memory_sizes={"predict-onnx"=4096}',
        '-var=managed_instances_vpc={subnet_ids=["subnet-0a1b2c3d4e5f60001","subnet-0a1b2c3d4e5f60002"],'
        'security_group_ids=["sg-0a1b2c3d4e5f60001"]}')),
    Scenario("root, a plan's answer (handler_architectures, provisioned)", ".", (
        '-var=handler_architectures={predict=["arm64"],"predict-onnx"=["x86_64"]}',
        "-var=provisioned_concurrency={predict=3}", "-var=memory_sizes={predict=1024}")),
    Scenario("root, onnx backend only", ".", ('-var=backends=["onnx"]',)),
    Scenario("root, sklearn backend only, x86_64", ".", ('-var=backends=["sklearn"]', '-var=architectures=["x86_64"]')),
    Scenario("root, aws-cn partition (cn-north-1)", ".", ("-var=region=cn-north-1", "-var=function_url=true")),
    Scenario("root, aws-us-gov partition (us-gov-west-1)", ".", ("-var=region=us-gov-west-1",)),
    Scenario(
        "examples/single-architecture",
        "examples/single-architecture",
        ("-var=artifacts_bucket=offline-check-artifacts",),
        frozenset({("handlers.predict.handler", "arm64")}),
    ),
)


def expected_functions(plan: dict, scenario: Scenario, dist: Path = REPO / "dist") -> set[tuple[str, str]]:
    """(handler, architecture) of every function the plan must hold: the handlers serving the package in `dist` (the
    plan's own build output), on the planned backends and architectures."""
    if scenario.expected is not None:
        return set(scenario.expected)
    variables = plan["variables"]
    architectures, backends = variables["architectures"]["value"], variables["backends"]["value"] or SPEC.backends
    own = variables.get("handler_architectures", {}).get("value") or {}
    python = variables.get("python_version", {}).get("value") or SPEC.python_version
    package = dist / SPEC.package_path(python).relative_to(REPO / "dist")
    try:
        model_backends = json.loads(package.with_suffix(".json").read_text())["model"].get("backends")
    except (OSError, ValueError, KeyError):
        model_backends = None
    return {(h.handler, a) for h in SPEC.serving(model_backends).values() if h.backend in backends
            for a in own.get(h.key, architectures)}



@dataclass
class Outcome:
    engine: str
    scenario: Scenario
    validate_s: float = 0.0
    plan_s: float = 0.0
    resources: int = 0
    functions: list[plancheck.PlannedFunction] = field(default_factory=list)
    problem: str | None = None


def check_engine(ws: Workspace, engine: Engine, progress=lambda outcome: None) -> list[Outcome]:
    """Every scenario with one Terraform: init and validate once per folder, plan and check each;
    `progress` is called with each outcome as it is known."""
    copy = ws.copy(f"config-{engine.kind}")
    outcomes, validated = [], {}
    for scenario in SCENARIOS:
        folder = copy / scenario.folder
        out = Outcome(engine.label, scenario)
        outcomes.append(out)
        try:
            if scenario.folder not in validated:
                ws.init(folder)
                validated[scenario.folder] = ws.validate(folder).seconds
            out.validate_s = validated[scenario.folder]
            run, plan = ws.plan(folder, *scenario.options, out=f"{len(outcomes)}.tfplan")
            out.plan_s = run.seconds
            out.resources = sum(1 for rc in plan["resource_changes"] if rc["mode"] == "managed")
            out.functions = plancheck.check(plan, expected_functions(plan, scenario, ws.dist), HANDLER_BACKENDS)
        except (TerraformFailed, PlanCheckError) as exc:
            out.problem = str(exc)
        progress(out)
    return outcomes


def table(outcomes: list[Outcome]) -> Table:
    t = Table(title="Offline Terraform checks (stand-in hashicorp/aws 6.47.0, schema only)")
    for col in (
        "terraform",
        "configuration",
        "validate s",
        "plan s",
        "resources",
        "functions (handler@arch)",
        "result",
    ):
        t.add_column(col, justify="right" if col.endswith((" s", "resources")) else "left")
    for o in outcomes:
        fns = " ".join(sorted(f"{f.handler.split('.')[1]}@{f.architecture}" for f in o.functions))
        t.add_row(
            o.engine,
            o.scenario.label,
            f"{o.validate_s:.2f}",
            f"{o.plan_s:.2f}",
            str(o.resources),
            fns,
            "[green]ok[/]" if o.problem is None else "[red]FAILED[/]",
        )
    t.caption = (
        "ok: each function has the layer of its own architecture, a role that may only write to its own "
        "log group, no public URL (and a caller policy with both invoke actions), log retention set, no "
        "async retries, no empty environment block, logging_config only in the aws partition, a TLS-only "
        "bucket with lifecycle rules"
    )
    return t


def run_all(keep: Path | None = None) -> int:
    console = Console(width=None if sys.stdout.isatty() else 150)
    with tempfile.TemporaryDirectory(prefix="tfcheck-") as tmp:
        root = keep or Path(tmp)
        found = engines()
        fmt = Workspace(root, found[0].command).install().fmt_check(TERRAFORM_DIR)
        if fmt.returncode != 0:
            console.print(f"[red]terraform fmt -check failed:[/]\n{fmt.output}")
            return 1
        console.print("terraform fmt -check: ok")
        outcomes: list[Outcome] = []
        for engine in found:  # the mirror and CLI configuration installed above serve every engine
            console.print(f"checking with {engine.label} …")
            outcomes += check_engine(
                Workspace(root, engine.command),
                engine,
                lambda o: console.print(
                    f"  {'[green]ok[/]' if o.problem is None else '[red]FAILED[/]'} {o.scenario.label}: validate "
                    f"{o.validate_s:.2f} s, plan {o.plan_s:.2f} s, {o.resources} resources"
                ),
            )
    console.print(table(outcomes))
    failed = [o for o in outcomes if o.problem]
    for o in failed:
        console.print(f"[red]{o.engine} / {o.scenario.label}:[/] {o.problem}", markup=True, highlight=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_all())
