"""Debian packages the build and the local Lambda need: installed when root, else the command."""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

from lambda_ml_bench.build.errors import BuildError


def ensure_debian_packages(tools: dict[str, str], say: Callable[[str], None] = print) -> None:
    """`tools` maps a command to the Debian package providing it; install the missing ones."""
    missing = sorted({package for tool, package in tools.items() if shutil.which(tool) is None})
    if not missing:
        return
    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise BuildError(f"missing Debian packages {', '.join(missing)}; run:\n  sudo apt-get update && "
                         f"sudo {' '.join(command)}")
    say(f"installing Debian packages: {', '.join(missing)}")
    for cmd in (["apt-get", "update", "-q"], command):
        if subprocess.run(cmd, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}).returncode:
            raise BuildError(f"`{' '.join(cmd)}` failed")
