"""Building one layer: install, slim step by step, check, zip, describe in a manifest."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lambda_ml_bench.build import archive, elfcheck, importcheck, libraries, slim
from lambda_ml_bench.build.backends import Backend, layer_sources
from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.build.interpreters import find_python
from lambda_ml_bench.build.platforms import (
    SANDBOX_PYTHON,
    Architecture,
    Runtime,
    host_architecture,
    layer_name,
    manylinux_tags,
)
from lambda_ml_bench.build.wheels import download, lock_path, pip_install, read_lock
from lambda_ml_bench.files import MiB, write_json
from lambda_ml_bench.handlers.model import APART_DIR
from lambda_ml_bench.lambda_facts import DIRECT_UPLOAD_LIMIT, LAYER_MOUNT, LIBRARY_PATH, UNZIPPED_LIMIT
from lambda_ml_bench.paths import DIST, cache_dir


@dataclass
class Step:
    name: str
    unzipped: int
    zipped: int


@dataclass
class LayerBuild:
    """Everything measured while building one layer; becomes its manifest."""

    kind: Backend
    arch: Architecture
    rt: Runtime
    steps: list[Step] = field(default_factory=list)
    packages: dict[str, dict] = field(default_factory=dict)
    bytecode: dict = field(default_factory=dict)
    import_check: dict = field(default_factory=dict)
    max_glibc: tuple[int, int] | None = None
    zip_info: dict = field(default_factory=dict)
    libraries: dict = field(default_factory=dict)  # lib/'s files: where each came from, its size

    @property
    def name(self) -> str:
        return layer_name(self.kind.name, self.arch, self.rt)


def _package_of(site: Path) -> dict[str, str]:
    """Top-level path component -> distribution name, from each dist-info's RECORD (a kind's folder off sys.path
    is looked into as if it were the site)."""
    owners: dict[str, str] = {}
    for record in [*site.glob("*.dist-info/RECORD"), *site.glob("*/*.dist-info/RECORD")]:
        dist = record.parent.name.split("-")[0].replace("_", "-").lower()
        for line in record.read_text().splitlines():
            top = line.split(",", 1)[0].split("/", 1)[0]
            if top and not top.startswith(".."):
                owners.setdefault(top, dist)
    return owners


def package_sizes(site: Path) -> dict[str, int]:
    owners = _package_of(site)
    sizes: dict[str, int] = {}
    for path in archive.files_of(site):
        parts = path.relative_to(site).parts
        owner = owners.get(parts[0]) or (owners.get(parts[1], "(other)") if len(parts) > 1 else "(other)")
        sizes[owner] = sizes.get(owner, 0) + path.stat().st_size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


NO_CACHE_ENV = "LMB_NO_BUILD_CACHE"  # set (to anything) to build every layer from its wheels


def build_key(kind: Backend, arch: Architecture, rt: Runtime, reserve_bytes: int) -> str:
    """What a layer is made of: its kind's data, architecture, runtime, reserve, lock file, the build's own sources
    and the interpreter that compiles its bytecode. Equal keys build byte-identical zips."""
    data = {f.name: getattr(kind, f.name) for f in dataclasses.fields(kind) if f.name != "requirements"}
    if kind.apart:
        data["apart_dir"] = APART_DIR
    digest = hashlib.sha256(repr((data, arch.name, rt.python, reserve_bytes, find_python(rt.python))).encode())
    sources = [kind.requirements, lock_path(arch, rt, kind.name), *layer_sources()]
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def build_layer(
    kind: Backend,
    arch: Architecture,
    rt: Runtime,
    reserve_bytes: int,
    out_dir: Path = DIST / "layers",
    work_dir: Path = DIST / "build",
    say: Callable[[str], None] = print,
) -> dict:
    """One layer of `kind` for `arch` into out_dir (zip and manifest); returns the manifest. A layer whose inputs
    (build_key) were built before on this machine is copied from the build cache, its zip checked against the
    manifest's sha256, so `make test` builds each layer once for Terraform's checks and the tests alike."""
    if kind.available(rt):
        raise BuildError(f"no {kind.name} layer for {rt.name}: {kind.available(rt)}")
    name = layer_name(kind.name, arch, rt)
    key = build_key(kind, arch, rt, reserve_bytes)
    cached = cache_dir() / "layers" / name
    if not os.environ.get(NO_CACHE_ENV) and (reused := _from_cache(cached, key, out_dir, say)) is not None:
        return reused
    data = _build(kind, arch, rt, reserve_bytes, out_dir, work_dir, say)
    _to_cache(cached, key, out_dir, data)
    return data


def _from_cache(cached: Path, key: str, out_dir: Path, say: Callable[[str], None]) -> dict | None:
    zip_path, manifest_path = cached / f"{key}.zip", cached / f"{key}.json"
    staged: Path | None = None
    try:
        data = json.loads(manifest_path.read_text())
        final_zip = out_dir / data["zip"]["file"]
        staged = out_dir / f".{final_zip.name}.{os.getpid()}.partial"
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(zip_path, staged)  # a copy of its own, then checked: another build may replace the cache
        if archive.digest(staged)[0] != data["zip"]["sha256"]:
            staged.unlink()
            say(f"[{data['layer']}] the cached build is damaged: building again")
            shutil.rmtree(cached, ignore_errors=True)
            return None
    except (OSError, ValueError, KeyError):  # nothing cached, or replaced while being read: build
        if staged is not None:
            staged.unlink(missing_ok=True)
        return None
    final_zip.unlink(missing_ok=True)
    write_json(out_dir / f"{data['layer']}.json", data)
    os.replace(staged, final_zip)  # the zip appears last, as after a build
    say(f"[{data['layer']}] inputs unchanged since a build on this machine: copied from {cached} "
        f"({NO_CACHE_ENV}=1 builds it again)")
    return data


def _to_cache(cached: Path, key: str, out_dir: Path, data: dict) -> None:
    """This build as the newest of its layer name, swapped in whole; builds running side by side (a user's `make
    layers` beside the tests) never see half of one, and a build that cannot cache still succeeds."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{cached.name}.", dir=cached.parent))
    retired = staging.with_name(staging.name + ".old")
    try:
        shutil.copyfile(out_dir / data["zip"]["file"], staging / f"{key}.zip")
        write_json(staging / f"{key}.json", data)
        try:
            os.rename(cached, retired)
        except FileNotFoundError:
            pass
        os.rename(staging, cached)
    except OSError:  # another build cached its own meanwhile: that one stands
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(retired, ignore_errors=True)


def _build(
    kind: Backend,
    arch: Architecture,
    rt: Runtime,
    reserve_bytes: int,
    out_dir: Path,
    work_dir: Path,
    say: Callable[[str], None],
) -> dict:
    if kind.available(rt):
        raise BuildError(f"no {kind.name} layer for {rt.name}: {kind.available(rt)}")
    result = LayerBuild(kind, arch, rt)
    name = result.name
    final_zip, final_manifest = out_dir / f"{name}.zip", out_dir / f"{name}.json"
    # A failed build must not leave the previous zip looking current.
    final_zip.unlink(missing_ok=True)
    final_manifest.unlink(missing_ok=True)

    lock = lock_path(arch, rt, kind.name)
    pins = read_lock(lock)
    say(f"[{name}] wheels: {', '.join(f'{p.name} {p.version}' for p in pins)}")
    wheels = download(arch, rt, pins, lock)
    wheel_dir = next(iter(wheels.values())).parent

    stage = work_dir / name
    shutil.rmtree(stage, ignore_errors=True)
    site = stage / "python"
    meter = archive.SizeMeter()

    def measure(step: str) -> None:
        unzipped, zipped = meter.measure(site)
        if (stage / "lib").is_dir():  # the kind's libraries, once they are in
            more = meter.measure(stage / "lib", "lib")
            unzipped, zipped = unzipped + more[0], zipped + more[1] - 22
        result.steps.append(Step(step, unzipped, zipped))
        say(f"[{name}] {step}: {unzipped / MiB:.0f} MiB unzipped, {zipped / MiB:.0f} MiB zipped")

    say(f"[{name}] installing with pip install --target")
    pip_install(site, arch, rt, wheel_dir, lock)
    measure("pip install --target (pip's default, host .pyc)")
    slim.remove_bytecode(site)
    slim.remove_scripts(site)
    measure("--no-compile, no console scripts")
    slim.remove_tests(site)
    measure("without test suites")
    slim.remove_sources(site)
    measure("without .pyi/.pxd/.pyx/.c/.h")
    slim.strip_extensions(site, arch.strip)
    measure(f"extension modules stripped ({arch.strip})")
    if kind.remove:
        slim.remove_paths(site, [pattern for pattern, _ in kind.remove])
        measure(f"{kind.name} only: without {', '.join(p.split('/')[-1] for p, _ in kind.remove)}")
    if kind.apart:
        moved = slim.move_apart(site, kind.apart, APART_DIR)
        say(f"[{name}] off sys.path, in python/{APART_DIR}: {', '.join(moved)}")

    for lib in kind.libraries:
        installed = libraries.install(lib, arch, stage / "lib", say)
        result.libraries[f"lib/{lib.soname}"] = {
            "debian_package": f"{lib.package} {lib.version}", "deb_sha256": dict(lib.sha256)[arch.debian_arch],
            "why": lib.why, "unzipped_bytes": installed.stat().st_size}
    if kind.libraries:
        measure("plus " + ", ".join(f"lib/{lib.soname} (Debian {lib.package} {lib.version})" for lib in kind.libraries))

    python = find_python(rt.python)
    if python:
        slim.compile_bytecode(site, python, LAYER_MOUNT)
        version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True).stdout.strip()
        result.bytecode = {"included": True, "interpreter": version,
                           "invalidation_mode": "unchecked-hash"}
        measure(f"plus .pyc (unchecked-hash, Python {version})")
    else:
        reason = f"no Python {rt.python} interpreter on the build machine"
        result.bytecode = {"included": False, "reason": reason}
        say(f"[{name}] WARNING: {reason}: the layer has no bytecode, so every cold start compiles "
            f"every imported module (set LAYER_PYTHON_{rt.python.replace('.', '')} to fix)")

    say(f"[{name}] checking ELF objects (architecture {arch.elf_machine}, glibc <= "
        f"{rt.glibc[0]}.{rt.glibc[1]})")
    result.max_glibc = elfcheck.check(stage, arch.elf_machine, rt.glibc)
    unzipped = result.steps[-1].unzipped
    if unzipped + reserve_bytes > UNZIPPED_LIMIT:
        raise BuildError(
            f"{name}: {unzipped:,} bytes unzipped plus the {reserve_bytes:,}-byte reserve for the "
            f"function code exceed Lambda's {UNZIPPED_LIMIT:,}-byte limit"
        )
    sizes = package_sizes(site)
    result.packages = {
        p.name: {"version": p.version, "wheel": p.filename, "wheel_sha256": p.sha256,
                 "unzipped_bytes": sizes.get(p.name, 0)}
        for p in pins
    }

    result.import_check = check_imports(kind, arch, rt, python, stage, say)

    staged_zip = stage / f"{name}.zip"
    say(f"[{name}] writing zip")
    archive.write_zip([(site, "python"), *([(stage / "lib", "lib")] if kind.libraries else [])], staged_zip)
    sha_hex, sha_b64 = archive.digest(staged_zip)
    zipped = staged_zip.stat().st_size
    result.zip_info = {
        "file": final_zip.name, "sha256": sha_hex, "sha256_base64": sha_b64,
        "zipped_bytes": zipped, "unzipped_bytes": unzipped,
        "fits_direct_upload": zipped <= DIRECT_UPLOAD_LIMIT,
    }
    if kind.zipped_budget and zipped > kind.zipped_budget:
        raise BuildError(f"{name}: {zipped:,} bytes zipped, over the {kind.name} layer's budget of "
                         f"{kind.zipped_budget:,} bytes ({kind.zipped_budget / MiB:.0f} MiB)")
    data = manifest(result, reserve_bytes)
    write_json(final_manifest, data)
    os.replace(staged_zip, final_zip)  # the zip appears last: its presence means a whole build
    say(f"[{name}] done: {os.path.relpath(final_zip)} ({zipped / MiB:.1f} MiB)")
    return data


def check_imports(kind: Backend, arch: Architecture, rt: Runtime, python: str | None, stage: Path,
                  say: Callable[[str], None]) -> dict:
    """The kind's import check on the layer's own architecture: natively on a machine of that architecture, else
    in the sandbox root of the local Lambda under QEMU (Debian's CPython 3.13, the same minor version as Lambda's).
    A layer that does not import or computes wrong fails here, before any zip is written."""
    site, name = stage / "python", layer_name(kind.name, arch, rt)
    if python and host_architecture() == arch:
        say(f"[{name}] import check with {python}")
        check = importcheck.import_check(kind, [python], str(site), env={"LD_LIBRARY_PATH": str(stage / "lib")})
        how = "native"
    elif rt.python == SANDBOX_PYTHON:
        from lambda_ml_bench.sandbox.roots import HOST_ENV, PYTHON, prepare, sandboxed

        root = prepare(arch, say)
        say(f"[{name}] import check in the {arch.name} sandbox root "
            f"({' '.join(arch.emulator) or 'native'})")
        command = sandboxed(arch, root, [PYTHON], binds={"/opt": stage},
                            environment={"PATH": "/usr/bin", "LANG": "C.UTF-8", "LD_LIBRARY_PATH": LIBRARY_PATH})
        check = importcheck.import_check(kind, command, LAYER_MOUNT, env=HOST_ENV)
        how = "emulated" if arch.emulator and host_architecture() != arch else "native"
    else:
        why = (f"no Python {rt.python} interpreter on the build machine" if host_architecture() == arch else
               f"the sandbox root has Python {SANDBOX_PYTHON}, not {rt.python}")
        say(f"[{name}] WARNING: no import check: {why}")
        return {"ran": False, "reason": why}
    return {"ran": True, "how": how, "machine": check["machine"], "python": check["python"],
            "import_s": round(check["import_s"], 3), "versions": check["versions"],
            **{k: check[k] for k in ("accuracy", "max_abs_difference") if k in check}}


def manifest(result: LayerBuild, reserve_bytes: int) -> dict:
    glibc = result.max_glibc
    return {
        "layer": result.name,
        "backend": result.kind.name,
        "architecture": result.arch.name,
        "runtime": result.rt.name,
        "python_version": result.rt.python,
        "glibc_runtime": f"{result.rt.glibc[0]}.{result.rt.glibc[1]}",
        "glibc_max_needed": f"{glibc[0]}.{glibc[1]}" if glibc else None,
        "platform_tags": manylinux_tags(result.arch, result.rt),
        "packages": result.packages,
        "libraries": result.libraries,
        "zip": result.zip_info,
        "bytecode": result.bytecode,
        "import_check": result.import_check,
        "limits": {
            "unzipped_limit_bytes": UNZIPPED_LIMIT,
            "direct_upload_limit_bytes": DIRECT_UPLOAD_LIMIT,
            "function_reserve_bytes": reserve_bytes,
            "zipped_budget_bytes": result.kind.zipped_budget,
        },
        "steps": [{"step": s.name, "unzipped_bytes": s.unzipped, "zipped_bytes_estimate": s.zipped}
                  for s in result.steps],
    }


