"""What a real account's refusals mean: AWS's error texts turned into one line a user can act on."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from common.errors import ProjectError

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
