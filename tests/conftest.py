"""Shared test helpers: the repository root, small compiled ELF objects."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


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
