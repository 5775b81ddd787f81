"""Shared fixtures: the built layers, a compiled ELF object, the handlers with their model."""
from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from layer_build.platforms import ARCHITECTURES
from support import LAYERS, MODEL_DIR, REPO


@pytest.fixture(scope="session")
def built() -> dict[str, dict]:
    """Manifests of both python3.13 layers as `make layers` leaves them (built now if missing or stale)."""
    subprocess.run(["make", "-s", "layers"], cwd=REPO, check=True)
    return {a: json.loads((LAYERS / f"sklearn-py313-{a}.json").read_text()) for a in ARCHITECTURES}


@pytest.fixture(scope="session")
def unpacked(built: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each layer zip unpacked: {arch: .../python}, as Lambda shows it under /opt."""
    out = {}
    for arch in built:
        dest = tmp_path_factory.mktemp(arch)
        with zipfile.ZipFile(LAYERS / f"sklearn-py313-{arch}.zip") as zf:
            zf.extractall(dest)
        out[arch] = dest / "python"
    return out


@pytest.fixture(scope="session")
def compiled_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real shared object built for this machine, needing a known glibc symbol version."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    tmp = tmp_path_factory.mktemp("elf")
    src = tmp / "ext.c"
    # memcpy is versioned GLIBC_2.14 on x86_64 and GLIBC_2.17 on aarch64.
    src.write_text("#include <string.h>\nvoid copy(char *d, const char *s, size_t n) { memcpy(d, s, n); }\n"
                   "int answer(void) { return 42; }\n")
    out = tmp / "ext.cpython-313-x86_64-linux-gnu.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-g", "-O0", "-o", str(out), str(src)], check=True)
    return out


# --- handlers -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def handlers_env() -> Path:
    """The trained model (`make model`), and the environment the handlers read at import."""
    import os

    subprocess.run(["make", "-s", "model"], cwd=REPO, check=True)
    os.environ["MODEL_DIR"] = str(MODEL_DIR)
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3538")
    return MODEL_DIR


@pytest.fixture(scope="session")
def predict_module(handlers_env):
    import importlib

    return importlib.import_module("handlers.predict")


@pytest.fixture(scope="session")
def benchmark_module(handlers_env):
    import importlib

    return importlib.import_module("handlers.benchmark")
