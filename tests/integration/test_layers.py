"""The real layers: `make layers` builds every kind for both architectures; complete, slim, checked, reproducible."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from support import REPO

from lambda_ml_bench.build import archive, elfcheck, wheels
from lambda_ml_bench.build.backends import BACKENDS
from lambda_ml_bench.build.build import NO_CACHE_ENV, build_layer
from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.build.pip import PipError
from lambda_ml_bench.build.platforms import ARCHITECTURES, FUNCTION_RESERVE, RUNTIMES, host_architecture
from lambda_ml_bench.handlers.model import APART_DIR
from lambda_ml_bench.lambda_facts import UNZIPPED_LIMIT
from lambda_ml_bench.paths import cache_dir

pytestmark = pytest.mark.integration
PY313 = RUNTIMES["3.13"]
MiB = 1024 * 1024


@pytest.mark.parametrize("kind", ["sklearn", "onnx"])
def test_make_layers_rebuilds_only_what_changed(kind: str) -> None:
    """The Makefile's layer rules depend on their real inputs: asked (`make -n`, nothing runs) about a layer that
    exists and is newer than every input, make has nothing to do; after an input changes, it rebuilds."""
    import sys

    build = REPO / "src" / "lambda_ml_bench" / "build"
    inputs = [build / "locks" / f"{kind}-py313-x86_64.txt", *sorted(build.glob("*.py"))]
    layer = REPO / "dist" / "layers" / f"{kind}-py313-x86_64.zip"
    args = ["make", "-n", f"PY={sys.executable}", "ARCH=x86_64", f"BACKEND={kind}", "layers"]
    if not layer.exists() or layer.stat().st_mtime < max(p.stat().st_mtime for p in inputs):
        pytest.skip(f"dist/ has no current x86_64 {kind} layer to ask about (make layers builds one)")
    assert "lambda_ml_bench layers" not in subprocess.run(args, cwd=REPO, capture_output=True, text=True).stdout
    # `make -W FILE` takes FILE as changed without touching it: the tree is left alone
    rerun = subprocess.run([*args, "-W", str(inputs[0].relative_to(REPO))], cwd=REPO, capture_output=True,
                           text=True).stdout
    assert f"lambda_ml_bench layers --backend {kind} --arch x86_64" in rerun


LAYERS = [(k, a) for k in BACKENDS for a in ARCHITECTURES]
TOPS = {"sklearn": {"numpy", "scipy", "sklearn", "joblib", "threadpoolctl"}, "onnx": {"numpy", "onnxruntime"},
        "xgboost": {"numpy", "scipy", "xgboost"}, "lightgbm": {"numpy", "scipy", "lightgbm"},
        "boosting": {"numpy", "scipy", "sklearn", "xgboost", "lightgbm"}}


@pytest.mark.parametrize(("kind", "arch"), LAYERS)
def test_manifest_describes_the_zip(built: dict, dist: Path, kind: str, arch: str) -> None:
    m = built[kind][arch]
    zip_path = dist / "layers" / m["zip"]["file"]
    assert (m["backend"], m["architecture"], m["runtime"]) == (kind, arch, "python3.13")
    assert m["layer"] == zip_path.stem == f"{kind}-py313-{arch}"
    assert archive.digest(zip_path) == (m["zip"]["sha256"], m["zip"]["sha256_base64"])
    assert m["zip"]["zipped_bytes"] == zip_path.stat().st_size
    assert m["zip"]["unzipped_bytes"] == archive.unzipped_size(zip_path)
    assert m["zip"]["fits_direct_upload"] == (zip_path.stat().st_size <= 52_428_800)
    locked = {p.name: p.version for p in wheels.read_lock(wheels.lock_path(ARCHITECTURES[arch], PY313, kind))}
    assert {k: v["version"] for k, v in m["packages"].items()} == locked
    assert (sum(p["unzipped_bytes"] for p in m["packages"].values())
            + sum(lib["unzipped_bytes"] for lib in m["libraries"].values())) == m["zip"]["unzipped_bytes"]
    with zipfile.ZipFile(zip_path) as zf:
        assert {n.split("/")[0] for n in zf.namelist()} == {"python", *(["lib"] if m["libraries"] else [])}
    assert m["bytecode"] == {"included": True, "interpreter": m["bytecode"]["interpreter"],
                             "invalidation_mode": "unchecked-hash"}
    assert m["bytecode"]["interpreter"].startswith("3.13.")
    assert tuple(map(int, m["glibc_max_needed"].split("."))) <= PY313.glibc
    steps = [s["unzipped_bytes"] for s in m["steps"]]
    assert steps[1] < steps[0] and steps[2] < steps[1] and steps[4] < steps[3]


@pytest.mark.parametrize(("kind", "arch"), LAYERS)
def test_layer_is_slim_and_within_lambda_limits(built: dict, unpacked: dict, kind: str, arch: str) -> None:
    site, m = unpacked[kind][arch], built[kind][arch]
    assert m["zip"]["unzipped_bytes"] + FUNCTION_RESERVE <= UNZIPPED_LIMIT
    tops = {p.name.removesuffix(".py") for p in site.iterdir()}
    assert TOPS[kind] <= tops
    if BACKENDS[kind].apart:  # held off sys.path, in their own folder, with their metadata
        apart = {p.name.removesuffix(".py") for p in (site / APART_DIR).iterdir()}
        assert set(BACKENDS[kind].apart) <= apart and not set(BACKENDS[kind].apart) & tops
        assert m["packages"]["pandas"]["unzipped_bytes"] > 20 * MiB
    assert not tops & {"boto3", "botocore", "bin", "pip"}
    assert not list(site.glob("*/**/tests/test_*.py"))
    assert not [p for p in site.rglob("*") if p.suffix in (".pyi", ".pyx", ".pxd", ".c", ".h")]
    pyc = next(site.glob("numpy/__pycache__/__init__.cpython-313.pyc")).read_bytes()
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # unchecked-hash


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_the_onnx_layer_fits_direct_upload_without_scikit_learn(built: dict, unpacked: dict, arch: str) -> None:
    """No scikit-learn, SciPy, skops or converter in it; the C API library and offline tools slimmed away; under its
    45 MiB budget, so Terraform uploads it in the API call."""
    m, site = built["onnx"][arch], unpacked["onnx"][arch]
    tops = {p.name.removesuffix(".py") for p in site.iterdir()}
    assert not tops & {"sklearn", "scipy", "skops", "skl2onnx", "onnx", "joblib"}
    assert not list(site.glob("onnxruntime/capi/libonnxruntime.so*"))
    assert not (site / "onnxruntime" / "transformers").exists()
    assert m["zip"]["zipped_bytes"] <= m["limits"]["zipped_budget_bytes"] == 45 * MiB
    assert m["zip"]["fits_direct_upload"]
    removed = next(s for s in m["steps"] if s["step"].startswith("onnx only"))
    before = m["steps"][m["steps"].index(removed) - 1]
    assert removed["zipped_bytes_estimate"] < before["zipped_bytes_estimate"] - 8 * MiB


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_a_booster_layer_fits_direct_upload_without_scikit_learn(built: dict, unpacked: dict, kind: str,
                                                                 arch: str) -> None:
    """Numpy, SciPy's sparse matrices and the booster: no scikit-learn or pandas, SciPy beyond sparse removed, under
    the 50 MB direct upload."""
    m, site = built[kind][arch], unpacked[kind][arch]
    tops = {p.name.removesuffix(".py") for p in site.iterdir()}
    assert not tops & {"sklearn", "pandas", "skops", "onnxruntime", APART_DIR}
    assert (site / "scipy" / "sparse").is_dir() and not (site / "scipy" / "stats").exists()
    assert m["zip"]["zipped_bytes"] <= m["limits"]["zipped_budget_bytes"] == 52_428_800
    assert m["zip"]["fits_direct_upload"]


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("kind", ["lightgbm", "boosting"])
def test_libgomp_comes_with_the_layer_that_needs_it(built: dict, unpacked: dict, kind: str, arch: str) -> None:
    """Lambda's runtime has no libgomp.so.1: the layer carries Debian's, for its own architecture and within the
    runtime's glibc, in lib/ (Lambda's /opt/lib); the import check found it loaded from there."""
    lib = unpacked[kind][arch].parent / "lib" / "libgomp.so.1"
    [info] = elfcheck.scan(lib.parent)
    assert info.machine == ARCHITECTURES[arch].elf_machine and info.glibc <= PY313.glibc
    entry = built[kind][arch]["libraries"]["lib/libgomp.so.1"]
    assert entry["debian_package"].startswith("libgomp1 ") and entry["unzipped_bytes"] == lib.stat().st_size
    assert hashlib.sha256((cache_dir() / "debs" / f"libgomp1_{entry['debian_package'].split()[1]}_"
                           f"{ARCHITECTURES[arch].debian_arch}.deb").read_bytes()).hexdigest() == entry["deb_sha256"]


@pytest.mark.parametrize(("kind", "arch"), LAYERS)
def test_every_elf_object_is_of_the_layers_architecture(unpacked: dict, kind: str, arch: str) -> None:
    infos = elfcheck.scan(unpacked[kind][arch])
    assert len(infos) > 5
    assert {i.machine for i in infos} == {ARCHITECTURES[arch].elf_machine}
    assert max(i.glibc for i in infos if i.glibc) <= PY313.glibc


@pytest.mark.parametrize(("kind", "arch"), LAYERS)
def test_every_layer_was_imported_and_checked_on_its_own_architecture(built: dict, kind: str, arch: str) -> None:
    """Natively on this machine's architecture, in the sandbox root under QEMU for the other one."""
    check = built[kind][arch]["import_check"]
    assert check["ran"] and check["machine"] == ARCHITECTURES[arch].uname and check["python"].startswith("3.13")
    assert check["how"] == ("native" if arch == host_architecture().name else "emulated")
    assert set(check["versions"]) == {i.split(".")[0] for i in BACKENDS[kind].imports}
    if kind == "onnx":
        assert check["max_abs_difference"] <= 1e-5
    else:
        assert check["accuracy"] >= 0.7


@pytest.mark.parametrize("kind", list(BACKENDS))
def test_rebuild_elsewhere_gives_byte_identical_zip(built: dict, tmp_path: Path, kind: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NO_CACHE_ENV, "1")  # built from the wheels again, not copied
    arch = host_architecture()
    again = build_layer(BACKENDS[kind], arch, PY313, reserve_bytes=FUNCTION_RESERVE, out_dir=tmp_path / "out",
                        work_dir=tmp_path / "work", say=lambda _: None)
    assert again["zip"]["sha256"] == built[kind][arch.name]["zip"]["sha256"]


def test_unchanged_inputs_are_copied_from_the_build_cache_and_a_damaged_copy_is_rebuilt(
        built: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lambda_ml_bench.build import build as build_module

    kind, arch = BACKENDS["onnx"], ARCHITECTURES["arm64"]
    said: list[str] = []
    again = build_layer(kind, arch, PY313, reserve_bytes=FUNCTION_RESERVE, out_dir=tmp_path / "out",
                        work_dir=tmp_path / "work", say=said.append)
    assert again == built["onnx"]["arm64"] and "copied from" in said[-1]
    assert archive.digest(tmp_path / "out" / again["zip"]["file"])[0] == again["zip"]["sha256"]
    assert not (tmp_path / "work").exists()  # nothing was built
    # a cached zip that no longer matches its manifest is never handed out: the layer is built again
    cached = next((build_module.cache_dir() / "layers" / again["layer"]).glob("*.zip"))
    original = cached.read_bytes()
    monkeypatch.setattr(build_module, "_to_cache", lambda *args: None)
    monkeypatch.setattr(build_module, "_build", lambda *args: {"rebuilt": True})
    try:
        cached.write_bytes(b"damaged")
        assert build_layer(kind, arch, PY313, FUNCTION_RESERVE, tmp_path / "out2", tmp_path / "w2",
                           say=said.append) == {"rebuilt": True}
        assert "damaged" in said[-1]
    finally:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(original)
        (cached.with_suffix(".json")).write_text(json.dumps(again, indent=2) + "\n")


def test_a_broken_arm64_layer_fails_its_build(built: dict, tmp_path: Path) -> None:
    """A slimming rule that removes what numpy needs: the arm64 import check, under QEMU, stops the build before a
    zip exists (built depends on the sandbox root the check runs in)."""
    onnx = BACKENDS["onnx"]
    broken = replace(onnx, remove=(*onnx.remove, ("numpy/_core/_multiarray_umath*", "breaks it")))
    out = tmp_path / "out"
    with pytest.raises(BuildError, match=r"import check failed in /opt/python:(.|\n)*_multiarray_umath"):
        build_layer(broken, ARCHITECTURES["arm64"], PY313, reserve_bytes=FUNCTION_RESERVE, out_dir=out,
                    work_dir=tmp_path / "work", say=lambda _: None)
    assert not list(out.glob("*.zip"))


def test_a_lock_with_a_wrong_hash_stops_the_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYER_CACHE_DIR", str(tmp_path / "cache"))
    arch = ARCHITECTURES["arm64"]
    pins = [p for p in wheels.read_lock(wheels.lock_path(arch, PY313, "sklearn")) if p.name == "threadpoolctl"]
    lock = tmp_path / "lock.txt"
    lock.write_text(f"# {pins[0].filename}\nthreadpoolctl=={pins[0].version} --hash=sha256:{'0' * 64}\n")
    tampered = [wheels.Pin(p.name, p.version, "0" * 64, p.filename) for p in pins]
    with pytest.raises(PipError, match="does not match the hash in the lock file"):
        wheels.download(arch, PY313, tampered, lock)
    assert not list((tmp_path / "cache").rglob("*.whl"))


def test_a_failed_build_leaves_no_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "sklearn-py313-x86_64.zip").write_text("an older build")
    # a reserve larger than Lambda's whole limit must fail the size check after slimming
    with pytest.raises(BuildError, match="exceed Lambda's 262,144,000-byte limit"):
        build_layer(BACKENDS["sklearn"], ARCHITECTURES["x86_64"], PY313, reserve_bytes=262_144_000, out_dir=out,
                    work_dir=tmp_path / "work", say=lambda _: None)
    assert list(out.iterdir()) == []
    shutil.rmtree(tmp_path / "work")
