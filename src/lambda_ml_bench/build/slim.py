"""The slimming rules: each a function of an installed tree, each measurable on its own."""
from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
from pathlib import Path

from lambda_ml_bench.build.errors import BuildError

TEST_DIRS = {"tests"}
# Files inside test folders that library code imports (numpy < 2.3 imports _natype from
# numpy.testing); they survive the test purge.
KEEP_IN_TESTS = ("numpy/_core/tests/__init__.py", "numpy/_core/tests/_natype.py")
SOURCE_SUFFIXES = (".pyi", ".pxd", ".pyx", ".pxi", ".c", ".h", ".cpp", ".hpp", ".cc")
EXTENSION_PATTERNS = ("*.cpython-3*.so", "*.abi3.so")
# auditwheel patches the bundled libraries' ELF headers; stripping them corrupts them.
VENDORED_LIBS = "*.libs"


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _is_dist_info(rel: str) -> bool:
    return rel.split("/", 1)[0].endswith(".dist-info")


def remove_bytecode(root: Path) -> int:
    """Drop every __pycache__ folder; returns how many were removed."""
    caches = sorted(root.rglob("__pycache__"))
    for cache in caches:
        shutil.rmtree(cache)
    return len(caches)


def remove_scripts(root: Path) -> None:
    """Console scripts (f2py, numpy-config) are useless under /opt/python; their RECORD lines go with them (each
    holds the hash of a script whose first line names the interpreter that ran pip: a layer built from another
    checkout would differ by it)."""
    shutil.rmtree(root / "bin", ignore_errors=True)
    for record in root.glob("*.dist-info/RECORD"):
        lines = record.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not _outside(line.split(",", 1)[0])]
        if kept != lines:
            record.write_text("".join(kept))


def _outside(path: str) -> bool:
    """A RECORD path that leaves the install folder (pip --target writes scripts to ../../bin/)."""
    return path.startswith("../") or path.startswith("/")


def remove_tests(root: Path, keep: tuple[str, ...] = KEEP_IN_TESTS) -> list[str]:
    """Delete test-suite folders except the files in `keep`; returns the removed folders."""
    removed = []
    for dirpath, dirnames, _ in os.walk(root):
        for name in list(dirnames):
            if name not in TEST_DIRS:
                continue
            folder = Path(dirpath) / name
            rel = _rel(folder, root)
            kept = [k for k in keep if k.startswith(rel + "/")]
            if kept:
                _remove_all_but(folder, root, set(kept))
            else:
                shutil.rmtree(folder)
                dirnames.remove(name)
            removed.append(rel)
    return removed


def _remove_all_but(folder: Path, root: Path, keep: set[str]) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        rel = _rel(path, root)
        if path.is_dir():
            if not any(path.iterdir()):
                path.rmdir()
        elif rel not in keep:
            path.unlink()


def remove_sources(root: Path) -> int:
    """Type stubs, Cython declarations and C/C++ sources: nothing imports them at run time."""
    count = 0
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in SOURCE_SUFFIXES and not _is_dist_info(_rel(path, root)):
            path.unlink()
            count += 1
    return count


def remove_paths(root: Path, patterns: list[str]) -> list[str]:
    """Delete what the globs (relative to root) match, files or folders; returns what was removed."""
    removed = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(_rel(path, root))
    return removed


def extension_modules(root: Path) -> list[Path]:
    """Python extension modules, never the auditwheel-bundled libraries in *.libs/."""
    found = []
    for path in root.rglob("*.so"):
        rel = _rel(path, root)
        if any(fnmatch.fnmatch(part, VENDORED_LIBS) for part in rel.split("/")[:-1]):
            continue
        if any(fnmatch.fnmatch(path.name, pat) for pat in EXTENSION_PATTERNS):
            found.append(path)
    return sorted(found)


def strip_extensions(root: Path, strip_tool: str) -> int:
    """Strip symbols from extension modules with the target architecture's strip."""
    modules = extension_modules(root)
    for start in range(0, len(modules), 200):
        batch = [str(p) for p in modules[start:start + 200]]
        proc = subprocess.run([strip_tool, "--strip-unneeded", *batch], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"{strip_tool} failed: {proc.stderr.strip()[-1000:]}")
    return len(modules)


def compile_bytecode(root: Path, python: str, mount: str, optimize: int = 0, legacy: bool = False) -> None:
    """Precompile with the runtime's exact interpreter; unchecked-hash .pyc survive zip timestamps.

    The embedded source paths name `mount` (where Lambda shows the layer), so tracebacks read
    right and two builds in different folders give identical bytes.
    """
    extra = ["-o", str(optimize)] + (["-b"] if legacy else [])
    proc = subprocess.run(
        [python, "-E", "-s", "-m", "compileall", "-q", "-r", "1000", *extra,
         "--invalidation-mode", "unchecked-hash", "-s", str(root), "-p", mount, str(root)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise BuildError(f"compileall with {python} failed:\n{(proc.stdout + proc.stderr)[-2000:]}")


def move_apart(root: Path, names: tuple[str, ...], folder: str) -> list[str]:
    """Move the distributions whose import names are `names` (their package or module and their dist-info) into
    root/folder: in the layer, off sys.path until something puts that folder on it. Returns what moved."""
    target = root / folder
    target.mkdir(exist_ok=True)
    moved = []
    for path in sorted(root.iterdir()):
        stem = path.name.removesuffix(".py")
        dist = path.name.endswith(".dist-info") and _dist_imports(path) & set(names)
        if (path.is_dir() and path.name in names) or (path.suffix == ".py" and stem in names) or dist:
            shutil.move(str(path), target / path.name)
            moved.append(path.name)
    missing = [n for n in names if not any(m == n or m == f"{n}.py" for m in moved)]
    if missing:
        raise ValueError(f"nothing to move apart for {', '.join(missing)}")
    return moved


def _dist_imports(dist_info: Path) -> set[str]:
    """The import names a dist-info's distribution provides (top_level.txt, else its RECORD's first path parts)."""
    top = dist_info / "top_level.txt"
    if top.exists():
        return set(top.read_text().split())
    record = dist_info / "RECORD"
    if not record.exists():
        return set()
    names = {line.split(",")[0].split("/")[0].removesuffix(".py") for line in record.read_text().splitlines()}
    return {n for n in names if n and not n.endswith(".dist-info") and not n.endswith(".libs")}
