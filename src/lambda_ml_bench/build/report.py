"""The layers report: sizes per step and package, cold-import times, and what was tried for 50 MB."""
from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from lambda_ml_bench.build import archive, importcheck, slim, tables
from lambda_ml_bench.build.backends import BACKENDS, Backend
from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.build.interpreters import find_python
from lambda_ml_bench.build.platforms import (
    Runtime,
    architecture,
    host_architecture,
    layer_name,
)
from lambda_ml_bench.files import MiB
from lambda_ml_bench.lambda_facts import DIRECT_UPLOAD_LIMIT, LAYER_MOUNT
from lambda_ml_bench.paths import DIST

DIST_LAYERS = DIST / "layers"
IMPORT_RATIO_TARGET = 0.4  # the scikit-learn layer's bar: bytecode import at most 0.4x the no-bytecode one


def unpack(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)
    return dest / "python"


def without_bytecode(site: Path, dest: Path) -> Path:
    """A hard-linked copy of the tree with every __pycache__ left out."""
    shutil.copytree(site, dest, copy_function=os.link, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def sourceless(site: Path, dest: Path, python_tag: str) -> Path:
    """A copy where each module is only its .pyc, placed where the .py was (legacy layout)."""
    shutil.copytree(site, dest, copy_function=os.link)
    suffix = f".{python_tag}.pyc"
    for pyc in list(dest.rglob(f"__pycache__/*{suffix}")):
        source = pyc.parent.parent / (pyc.name[: -len(suffix)] + ".py")
        if source.exists():
            source.unlink()
            pyc.rename(source.with_suffix(".pyc"))
    for cache in dest.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    return dest


def layers_report(rt: Runtime, arch_names: list[str], rounds: int, kind_names: list[str],
                  say: Callable[[str], None] = print) -> Path:
    sections = [f"# Layer report: {rt.name}\n"]
    host = host_architecture()
    python = find_python(rt.python)
    for kind, name in ((BACKENDS[k], a) for k in kind_names for a in arch_names):
        arch = architecture(name)
        base = layer_name(kind.name, arch, rt)
        manifest_path, zip_path = DIST_LAYERS / f"{base}.json", DIST_LAYERS / f"{base}.zip"
        if not zip_path.exists():
            raise BuildError(f"{zip_path.name} is not built; run `make layers`")
        manifest = json.loads(manifest_path.read_text())
        sections.append(f"## {base}\n")
        sections.append(tables.markdown(tables.STEP_HEADERS, tables.step_rows(manifest)) + "\n")
        sections.append(tables.markdown(tables.PACKAGE_HEADERS, tables.package_rows(manifest)) + "\n")
        bytecode = ("included" if manifest["bytecode"]["included"]
                    else "not included: " + manifest["bytecode"]["reason"])
        sections.append(
            f"Highest glibc needed: {manifest['glibc_max_needed']} (runtime has "
            f"{manifest['glibc_runtime']}). Bytecode: "
            f"{bytecode}.\n"
        )
        if arch != host or python is None:
            sections.append(
                "Cold import: not measured here (another architecture, or no "
                f"Python {rt.python}); the local Lambda sandbox runs it under emulation.\n"
            )
            continue
        with tempfile.TemporaryDirectory(prefix=f"report-{base}-") as tmp:
            site = unpack(zip_path, Path(tmp) / "layer")
            plain = without_bytecode(site, Path(tmp) / "plain" / "python")
            say(f"[{base}] timing cold imports, {rounds} rounds each, interleaved")
            times = importcheck.cold_imports(kind, python, {"bytecode": site, "plain": plain}, rounds)
            ratio = importcheck.median_ratio(times["bytecode"], times["plain"])
            sections.append(
                f"Cold import of {' + '.join(kind.imports)} in a fresh `python{rt.python} -S -B`, "
                f"median of {rounds} interleaved runs on {host.name if host else '?'}:\n\n"
                + tables.markdown(
                    ["layer", "median s", "min s", "max s"],
                    [
                        [k, f"{statistics.median(v):.3f}", f"{min(v):.3f}", f"{max(v):.3f}"]
                        for k, v in (("with .pyc (as built)", times["bytecode"]), ("without .pyc", times["plain"]))
                    ],
                )
                + f"\n\nRatio with/without bytecode: **{ratio:.2f}**"
                + (f" (target at most {IMPORT_RATIO_TARGET}: {'met' if ratio <= IMPORT_RATIO_TARGET else 'NOT met'})"
                   if kind.name == "sklearn" else " (the bar is set for the scikit-learn layer only)") + ".\n"
            )
            if not manifest["zip"]["fits_direct_upload"]:
                sections.append(_fifty_mb_attempts(kind, site, Path(tmp), rt, python, manifest))
    out = DIST_LAYERS / f"REPORT-{rt.tag}.md"
    out.write_text("\n".join(sections))
    return out


def _fifty_mb_attempts(kind: Backend, site: Path, tmp: Path, rt: Runtime, python: str, manifest: dict) -> str:
    """Each way tried to bring the zip under the 50 MB direct-upload limit, measured."""
    meter = archive.SizeMeter()
    rows = []
    stripped = manifest["steps"][-2] if manifest["bytecode"]["included"] else manifest["steps"][-1]
    rows.append(
        [
            "no .pyc at all (the step before bytecode)",
            _mib(stripped["zipped_bytes_estimate"]),
            _fits(stripped["zipped_bytes_estimate"]),
            "yes",
            "every cold start compiles (see above)",
        ]
    )
    rows.append(
        [
            "as built: .py + unchecked-hash .pyc",
            _mib(manifest["zip"]["zipped_bytes"]),
            _fits(manifest["zip"]["zipped_bytes"]),
            "yes",
            "-",
        ]
    )
    legacy = sourceless(site, tmp / "sourceless" / "python", rt.abi.replace("cp", "cpython-"))
    _, zipped = meter.measure(legacy)
    works, note = _imports(kind, python, legacy, "tracebacks lose their source lines")
    rows.append(["sourceless: .pyc in place of .py", _mib(zipped), _fits(zipped), works, note])
    # Sourceless again, compiled at optimize=2: docstrings and asserts gone from the code itself.
    stripped_docs = without_bytecode(site, tmp / "sourceless-oo" / "python")
    slim.compile_bytecode(stripped_docs, python, LAYER_MOUNT, optimize=2, legacy=True)
    for py in list(stripped_docs.rglob("*.py")):
        if py.with_suffix(".pyc").exists():
            py.unlink()
    _, zipped = meter.measure(stripped_docs)
    works, note = _imports(kind, python, stripped_docs, "changes behaviour: asserts removed, __doc__ is None")
    rows.append(["sourceless, optimize=2 (no docstrings/asserts)", _mib(zipped), _fits(zipped), works, note])
    return (
        "Attempts at the 50 MB direct-upload limit (zipped sizes at deflate level "
        f"{archive.COMPRESS_LEVEL}):\n\n"
        + tables.markdown(["variant", "zipped MiB", "under 50 MB", "imports work", "cost"], rows)
        + "\n"
    )


def _imports(kind: Backend, python: str, site: Path, cost: str) -> tuple[str, str]:
    try:
        importcheck.import_check(kind, [python], str(site))
    except BuildError as err:
        return "NO", str(err).splitlines()[-1][:120]
    return "yes", cost


def _mib(n: int) -> str:
    return f"{n / MiB:.1f}"


def _fits(n: int) -> str:
    return "yes" if n <= DIRECT_UPLOAD_LIMIT else "no"
