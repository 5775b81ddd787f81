"""Running pip: one way, with its failure explained in one line and pip's own words after it."""
from __future__ import annotations

import re
import subprocess
import sys

from lambda_ml_bench.errors import ProjectError


class PipError(ProjectError):
    """pip failed; the message says why."""


def run_pip(args: list[str], what: str) -> None:
    # pip's progress goes to our stderr as it comes; its errors are kept to be explained
    proc = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise PipError(f"{what} failed: {explain_pip_error(proc.stderr)}")


def explain_pip_error(stderr: str) -> str:
    """The one line of pip's error output that says what went wrong, with pip's own words after it."""
    tail = "\n".join(line for line in stderr.splitlines() if line.strip())[-2000:]
    missing = re.search(r"Could not find a version that satisfies the requirement (\S+)", stderr)
    if missing:
        return f"no wheel of {missing.group(1)} for this platform and Python\n{tail}"
    if "DO NOT MATCH THE HASHES" in stderr:
        return f"a downloaded wheel does not match the hash in the lock file\n{tail}"
    if re.search(r"No space left on device", stderr):
        return f"disk full\n{tail}"
    if re.search(r"(ConnectionError|NewConnectionError|Max retries exceeded|Temporary failure)", stderr):
        return f"network failure while downloading\n{tail}"
    return tail
