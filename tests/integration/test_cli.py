"""What a user sees for bad arguments, from make and from the build's own command line."""
from __future__ import annotations

import subprocess
import sys

import pytest
from support import REPO

pytestmark = pytest.mark.integration  # runs make


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def test_make_rejects_an_unknown_arch_listing_the_valid_ones() -> None:
    proc = run("make", "ARCH=amd64", "layers")
    assert proc.returncode != 0
    assert "unknown ARCH 'amd64'; valid values: arm64, x86_64" in proc.stderr


def test_make_rejects_an_unknown_python_version() -> None:
    proc = run("make", "PYTHON_VERSION=3.10", "layers")
    assert proc.returncode != 0
    assert "unknown PYTHON_VERSION '3.10'; valid values: 3.11, 3.12, 3.13, 3.14" in proc.stderr


def test_make_rejects_an_unknown_layer_kind() -> None:
    proc = run("make", "BACKEND=tensorflow", "layers")
    assert proc.returncode != 0
    assert "unknown BACKEND 'tensorflow'; valid values: sklearn, onnx" in proc.stderr


def test_make_layer_narrows_the_build_to_one_kind() -> None:
    """`make -n` (nothing runs): BACKEND=onnx ARCH=arm64 names that one zip, and the default names every backend."""
    one = run("make", "-n", "-B", f"PY={sys.executable}", "BACKEND=onnx", "ARCH=arm64", "layers").stdout
    assert "layers --backend onnx --arch arm64" in one and "--backend sklearn" not in one and "x86_64" not in one
    every = run("make", "-n", "-B", f"PY={sys.executable}", "layers").stdout
    assert all(f"layers --backend {k} --arch {a}" in every for k in ("sklearn", "onnx") for a in ("arm64", "x86_64"))


def test_build_cli_rejects_an_unknown_arch_before_doing_anything() -> None:
    proc = run(sys.executable, "-m", "lambda_ml_bench", "layers", "--arch", "sparc")
    assert proc.returncode == 2
    assert "unknown ARCH 'sparc'" in proc.stderr


def test_make_help_is_the_default_and_lists_every_target() -> None:
    proc = run("make")
    assert proc.returncode == 0
    for target in ("layers", "layers-report", "lock", "test", "system-deps", "clean"):
        assert f"  {target} " in proc.stdout


def test_without_python_313_make_says_what_is_missing_and_how_to_get_it(tmp_path) -> None:
    import os

    env = {**os.environ, "LAYER_PYTHON_SEARCH": str(tmp_path)}  # the interpreter search finds nothing
    proc = subprocess.run(["make", "venv", f"VENV={tmp_path}/.venv"], cwd=REPO, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and not (tmp_path / ".venv").exists()
    assert "error: no Python 3.13 found. It is needed because" in proc.stderr
    assert "apt-get install python3.13 python3.13-venv" in proc.stderr and "pyenv install 3.13" in proc.stderr
    assert "command not found" not in proc.stderr
