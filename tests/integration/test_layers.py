"""The real layers: `make layers` builds both; they are complete, slim, checked and reproducible."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support import REPO

from common.pip import PipError
from layer_build import archive, elfcheck, wheels
from layer_build.build import build_layer
from layer_build.errors import BuildError
from layer_build.platforms import ARCHITECTURES, RUNTIMES, host_architecture

pytestmark = pytest.mark.integration
PY313 = RUNTIMES["3.13"]
MiB = 1024 * 1024


def test_make_layers_rebuilds_only_what_changed(tmp_path: Path) -> None:
    """The Makefile's layer rules depend on their real inputs: asked (`make -n`, nothing runs) about a layer that
    exists and is newer than every input, make has nothing to do; after an input changes, it rebuilds."""
    import os
    import sys

    inputs = [REPO / "layer_build" / "locks" / "sklearn-py313-x86_64.txt", *sorted((REPO / "layer_build").glob("*.py")),
              *sorted((REPO / "common").glob("*.py"))]
    layer = REPO / "dist" / "layers" / "sklearn-py313-x86_64.zip"
    args = ["make", "-n", f"PY={sys.executable}", "ARCH=x86_64", "layers"]
    if not layer.exists() or layer.stat().st_mtime < max(p.stat().st_mtime for p in inputs):
        pytest.skip("dist/ has no current x86_64 layer to ask about (make layers builds one)")
    assert "layer_build build" not in subprocess.run(args, cwd=REPO, capture_output=True, text=True).stdout
    newer = layer.stat().st_mtime + 10
    os.utime(inputs[0], (newer, newer))
    try:
        assert "layer_build build --arch x86_64" in subprocess.run(args, cwd=REPO, capture_output=True,
                                                                   text=True).stdout
    finally:
        os.utime(inputs[0], (layer.stat().st_mtime - 10,) * 2)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_manifest_describes_the_zip(built: dict, dist: Path, arch: str) -> None:
    m = built[arch]
    zip_path = dist / "layers" / m["zip"]["file"]
    assert (m["architecture"], m["runtime"]) == (arch, "python3.13")
    assert archive.digest(zip_path) == (m["zip"]["sha256"], m["zip"]["sha256_base64"])
    assert m["zip"]["zipped_bytes"] == zip_path.stat().st_size
    assert m["zip"]["unzipped_bytes"] == archive.unzipped_size(zip_path)
    assert m["zip"]["fits_direct_upload"] == (zip_path.stat().st_size <= 52_428_800)
    locked = {p.name: p.version for p in wheels.read_lock(wheels.lock_path(ARCHITECTURES[arch], PY313))}
    assert {k: v["version"] for k, v in m["packages"].items()} == locked
    assert sum(p["unzipped_bytes"] for p in m["packages"].values()) == m["zip"]["unzipped_bytes"]
    assert m["bytecode"] == {"included": True, "interpreter": m["bytecode"]["interpreter"],
                             "invalidation_mode": "unchecked-hash"}
    assert m["bytecode"]["interpreter"].startswith("3.13.")
    assert tuple(map(int, m["glibc_max_needed"].split("."))) <= PY313.glibc
    steps = [s["unzipped_bytes"] for s in m["steps"]]
    assert steps[1] < steps[0] and steps[2] < steps[1] and steps[4] < steps[3]


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_layer_is_slim_and_within_lambda_limits(built: dict, unpacked: dict, arch: str) -> None:
    site = unpacked[arch]
    assert built[arch]["zip"]["unzipped_bytes"] <= 200 * MiB
    tops = {p.name.removesuffix(".py") for p in site.iterdir()}
    assert {"numpy", "scipy", "sklearn", "joblib", "threadpoolctl"} <= tops
    assert not tops & {"boto3", "botocore", "bin", "pip"}
    assert any(t.startswith("scikit_learn-") and t.endswith(".dist-info") for t in tops)
    assert not list(site.glob("sklearn/**/tests/test_*.py"))
    assert not [p for p in site.rglob("*") if p.suffix in (".pyi", ".pyx", ".pxd", ".c", ".h")]
    pyc = next(site.glob("sklearn/svm/__pycache__/_classes.cpython-313.pyc")).read_bytes()
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # unchecked-hash


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_elf_object_is_of_the_layers_architecture(unpacked: dict, arch: str) -> None:
    infos = elfcheck.scan(unpacked[arch])
    assert len(infos) > 50
    assert {i.machine for i in infos} == {ARCHITECTURES[arch].elf_machine}
    assert max(i.glibc for i in infos if i.glibc) <= PY313.glibc


def test_native_layer_was_imported_and_fitted_by_python313(built: dict) -> None:
    host = host_architecture()
    check = built[host.name]["import_check"]
    assert check["ran"] and check["machine"] == host.uname and check["python"].startswith("3.13")
    assert check["accuracy"] >= 0.7
    other = next(a for a in ARCHITECTURES if a != host.name)
    assert built[other]["import_check"]["ran"] is False


def test_rebuild_elsewhere_gives_byte_identical_zip(built: dict, tmp_path: Path) -> None:
    arch = host_architecture()
    again = build_layer(arch, PY313, reserve_bytes=25_000_000, out_dir=tmp_path / "out",
                        work_dir=tmp_path / "work", say=lambda _: None)
    assert again["zip"]["sha256"] == built[arch.name]["zip"]["sha256"]


def test_a_lock_with_a_wrong_hash_stops_the_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYER_CACHE_DIR", str(tmp_path / "cache"))
    arch = ARCHITECTURES["arm64"]
    pins = [p for p in wheels.read_lock(wheels.lock_path(arch, PY313)) if p.name == "threadpoolctl"]
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
        build_layer(ARCHITECTURES["x86_64"], PY313, reserve_bytes=262_144_000, out_dir=out,
                    work_dir=tmp_path / "work", say=lambda _: None)
    assert list(out.iterdir()) == []
    shutil.rmtree(tmp_path / "work")
