"""Shared test helpers: the repository root, small compiled ELF objects."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAYERS = REPO / "dist" / "layers"
sys.path.insert(0, str(REPO))

from layer_build.platforms import ARCHITECTURES  # noqa: E402


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
