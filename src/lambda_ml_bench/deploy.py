"""lmb deploy | destroy: Terraform on a real account, whose refusals become one line a user can act on."""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from lambda_ml_bench.build.platforms import DEFAULT_PYTHON
from lambda_ml_bench.errors import ProjectError
from lambda_ml_bench.terminal import say

# AWS's own wording (CreateFunction / UpdateFunctionConfiguration / PutFunctionConcurrency).
_MEMORY_QUOTA = re.compile(r"[Mm]emorySize.{0,40}failed to satisfy constraint: Member must have value less than "
                           r"or equal to (\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_UNRESERVED_MINIMUM = re.compile(r"UnreservedConcurrentExecution below its minimum value of \[(\d+)\]")


class AccountError(ProjectError):
    """The account cannot be used as it is (no credentials, a quota)."""


def explain(message: str) -> str | None:
    """One line for a refusal a new or small account meets, or None for any other error."""
    if m := _MEMORY_QUOTA.search(message):
        return (f"this account allows functions of at most {m[1]} MB (new accounts start at 3,008 MB): set "
                f"memory_sizes = {{ benchmark = {m[1]} }} in terraform/terraform.tfvars (and sweep with "
                f"--memory up to {m[1]}), or ask AWS Support to raise the Lambda memory quota")
    if m := _UNRESERVED_MINIMUM.search(message):
        return (f"reserved concurrency would leave the account fewer than {m[1]} unreserved executions: set "
                f"reserved_concurrency = -1 in terraform/terraform.tfvars, or ask for a higher concurrency quota")
    return None


def apply(terraform_dir: Path, *args: str) -> int:
    """`terraform init` and `terraform apply` in `terraform_dir`, interactive as usual; a refusal that
    `explain` knows ends with its one line."""
    for command in (["init", "-input=false"], ["apply", *args]):
        proc = subprocess.Popen(["terraform", f"-chdir={terraform_dir}", *command], stderr=subprocess.PIPE,
                                text=True, errors="replace")
        captured = []
        for line in proc.stderr:  # shown as it comes, kept to be read afterwards
            sys.stderr.write(line)
            captured.append(line)
        if proc.wait() != 0:
            # Terraform frames messages with "│ " and may wrap them mid-word at the terminal's width.
            lines = [_ANSI.sub("", ln).strip().lstrip("│").strip() for ln in captured]
            hint = explain(" ".join(lines)) or explain("".join(lines))
            if hint:
                print(f"error: {hint}", file=sys.stderr)
            return proc.returncode
    return 0


def check_credentials() -> None:
    """Stop before Terraform when no AWS credentials can be found (no network call is made)."""
    import boto3

    if boto3.Session().get_credentials() is None:
        raise AccountError(
            "no AWS credentials found: set AWS_PROFILE (after `aws configure` or `aws sso login`) "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then run `make deploy` again"
        )
    say("AWS credentials found")


def runtime_zips(python_version: str) -> list[Path]:
    """The zips a deployment of this runtime ships: refused by name when one is missing, so that Terraform never
    ships another runtime's build."""
    from lambda_ml_bench import spec

    s = spec.load()
    wanted = [s.package_path(python_version), *s.deployed_layers(python_version)]
    missing = [p for p in wanted if not p.exists()]
    if missing:
        names = ", ".join(p.name for p in missing)
        raise AccountError(f"no {names} for Python {python_version}: build them first "
                           f"(make layers package PYTHON_VERSION={python_version})")
    return wanted


def cmd_deploy(args: argparse.Namespace) -> None:
    check_credentials()
    runtime_zips(args.python)
    if apply(Path(args.terraform_dir), f"-var=python_version={args.python}", *args.terraform_args) != 0:
        raise SystemExit(1)


def cmd_destroy(args: argparse.Namespace) -> None:
    check_credentials()
    raise SystemExit(subprocess.call(["terraform", f"-chdir={args.terraform_dir}", "destroy",
                                      f"-var=python_version={args.python}", *args.terraform_args]))


def register(sub) -> None:
    """Add deploy and destroy to the command line."""
    for name, func, what in (("deploy", cmd_deploy, "terraform init and apply (interactive); a quota refusal ends "
                                                    "in one line"),
                             ("destroy", cmd_destroy, "terraform destroy: remove everything deploy made")):
        p = sub.add_parser(name, help=what)
        p.add_argument("--terraform-dir", default="terraform")
        p.add_argument("--python", default=DEFAULT_PYTHON, help="the runtime to deploy (its zips must be built)")
        p.add_argument("terraform_args", nargs="*", help="passed to terraform (after --)")
        p.set_defaults(func=func)
    p = sub.add_parser("credentials", help="check that AWS credentials are configured (before deploying)")
    p.set_defaults(func=lambda args: check_credentials())
