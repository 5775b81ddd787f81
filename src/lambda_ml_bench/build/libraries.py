"""System libraries a layer carries in lib/ (backends.SystemLibrary): the .deb from Debian's archive, checked
against its pinned sha256 before anything of it is used, then the one shared object taken out of it."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from lambda_ml_bench.build.backends import SystemLibrary
from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.build.platforms import Architecture
from lambda_ml_bench.files import atomic_write, sha256_file
from lambda_ml_bench.paths import cache_dir

MIRROR = "https://deb.debian.org/debian/pool"


def fetch_deb(lib: SystemLibrary, arch: Architecture, say: Callable[[str], None] = print) -> Path:
    """The library's .deb for `arch`, from the download cache or the archive; its sha256 is the pinned one."""
    wanted = dict(lib.sha256).get(arch.debian_arch)
    if wanted is None:
        raise BuildError(f"{lib.package} {lib.version} has no pinned .deb for {arch.debian_arch}")
    name = lib.deb(arch.debian_arch)
    path = cache_dir() / "debs" / name
    if not (path.exists() and sha256_file(path) == wanted):
        url = f"{MIRROR}/{lib.pool}/{name.replace('+', '%2B')}"
        say(f"downloading {url}")
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                data = response.read()
        except OSError as err:
            raise BuildError(f"cannot download {url}: {err}") from err
        atomic_write(path, data)
    actual = sha256_file(path)
    if actual != wanted:
        path.unlink()
        raise BuildError(f"hash mismatch for {name}: pinned {wanted}, downloaded {actual}")
    return path


def install(lib: SystemLibrary, arch: Architecture, lib_dir: Path, say: Callable[[str], None] = print) -> Path:
    """lib_dir/<soname>: the shared object the .deb installs under that name (its symlink followed)."""
    deb = fetch_deb(lib, arch, say)
    with tempfile.TemporaryDirectory(prefix="deb-") as tmp:
        proc = subprocess.run(["dpkg-deb", "-x", str(deb), tmp], capture_output=True, text=True)
        if proc.returncode:
            raise BuildError(f"dpkg-deb -x {deb.name} failed: {proc.stderr.strip()}")
        found = sorted(Path(tmp).glob(f"usr/lib/*/{lib.soname}"))
        if len(found) != 1:
            raise BuildError(f"{deb.name} holds {len(found)} files named {lib.soname}, expected one")
        lib_dir.mkdir(parents=True, exist_ok=True)
        target = lib_dir / lib.soname
        shutil.copyfile(found[0].resolve(), target)
        target.chmod(0o755)
    return target
