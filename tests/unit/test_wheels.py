"""Lock files, pip options and the hash check of cached wheels."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lambda_ml_bench.build import wheels
from lambda_ml_bench.build.backends import BACKENDS
from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.build.platforms import ARCHITECTURES, RUNTIMES

ARM, PY313 = ARCHITECTURES["arm64"], RUNTIMES["3.13"]


def test_platform_args_pin_python_abi_and_every_tag() -> None:
    args = wheels.platform_args(ARM, PY313)
    assert args[:8] == ["--only-binary=:all:", "--python-version", "3.13", "--implementation", "cp",
                        "--abi", "cp313", "--platform"]
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert platforms[0] == "manylinux_2_34_aarch64" and "manylinux2014_aarch64" in platforms


LAYER_LOCKS = [(k, v) for k in BACKENDS for v in sorted(RUNTIMES) if not BACKENDS[k].available(RUNTIMES[v])]
WANTED = {"sklearn": {"scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"}, "onnx": {"onnxruntime", "numpy"},
          "xgboost": {"xgboost-cpu", "numpy", "scipy"}, "lightgbm": {"lightgbm", "numpy", "scipy"},
          "boosting": {"scikit-learn", "xgboost-cpu", "lightgbm", "numpy", "scipy"}}


@pytest.mark.parametrize(("kind", "version"), LAYER_LOCKS)
def test_committed_locks_pin_the_same_versions_on_both_architectures(kind: str, version: str) -> None:
    per_arch = {a: wheels.read_lock(wheels.lock_path(arch, RUNTIMES[version], kind))
                for a, arch in ARCHITECTURES.items()}
    versions = {a: {p.name: p.version for p in pins} for a, pins in per_arch.items()}
    assert versions["arm64"] == versions["x86_64"]
    names = set(versions["arm64"])
    assert WANTED[kind] <= names
    assert not names & {"boto3", "botocore", "scikit-learn", "scipy", "skl2onnx", "onnx"} - WANTED[kind]
    for arch, pins in per_arch.items():
        for pin in pins:
            assert pin.filename.endswith(".whl") and pin.version in pin.filename
            assert "-none-any" in pin.filename or ARCHITECTURES[arch].wheel_arch in pin.filename


@pytest.mark.parametrize(("kind", "version"), LAYER_LOCKS)
def test_every_locked_wheel_loads_on_its_runtimes_glibc(kind: str, version: str) -> None:
    """A wheel tagged for a newer glibc than the runtime's would not load there (python3.11 is glibc 2.26)."""
    import re

    from packaging.utils import parse_wheel_filename

    rt = RUNTIMES[version]
    for arch in ARCHITECTURES.values():
        for pin in wheels.read_lock(wheels.lock_path(arch, rt, kind)):
            tags = parse_wheel_filename(pin.filename)[3]
            needed = [
                tuple(map(int, m.groups())) for t in tags if (m := re.match(r"manylinux_(\d+)_(\d+)_", t.platform))
            ]
            needed += [(2, 17)] * any(t.platform.startswith("manylinux2014") for t in tags)
            assert not needed or min(needed) <= rt.glibc, f"{pin.filename} needs glibc {min(needed)} > {rt.glibc}"


def test_a_kind_a_runtime_cannot_load_has_no_lock_and_no_build() -> None:
    """onnxruntime publishes manylinux_2_28 wheels only: python3.11 (Amazon Linux 2, glibc 2.26) gets no onnx layer."""
    from lambda_ml_bench.build.build import build_layer
    from lambda_ml_bench.build.platforms import FUNCTION_RESERVE

    py311 = RUNTIMES["3.11"]
    assert "glibc 2.28" in BACKENDS["onnx"].available(py311) and BACKENDS["sklearn"].available(py311) is None
    assert not any(wheels.lock_path(a, py311, "onnx").exists() for a in ARCHITECTURES.values())
    with pytest.raises(BuildError, match="no onnx layer for python3.11"):
        build_layer(BACKENDS["onnx"], ARM, py311, FUNCTION_RESERVE)


def test_malformed_lock_line_is_named(tmp_path: Path) -> None:
    lock = tmp_path / "l.txt"
    lock.write_text("# x.whl\nnumpy>=2 --hash=sha256:abc\n")
    with pytest.raises(BuildError, match=r"l\.txt: malformed lock line 'numpy>=2 --hash=sha256:abc'"):
        wheels.read_lock(lock)


def test_a_cached_wheel_with_another_hash_is_refused_and_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAYER_CACHE_DIR", str(tmp_path / "cache"))
    good = b"the real wheel"
    pin = wheels.Pin("demo", "1.0", hashlib.sha256(good).hexdigest(), "demo-1.0-py3-none-any.whl")
    cached = tmp_path / "cache" / "wheels" / "lock" / pin.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"a swapped wheel")
    with pytest.raises(BuildError, match=r"hash mismatch for demo-1\.0-py3-none-any\.whl"):
        wheels.download(ARM, PY313, [pin], tmp_path / "lock.txt")
    assert not cached.exists()
    cached.write_bytes(good)
    assert wheels.download(ARM, PY313, [pin], tmp_path / "lock.txt") == {"demo": cached}


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            "ERROR: Could not find a version that satisfies the requirement numpy==9.9 (from versions: none)",
            "no wheel of numpy==9.9 for this platform",
        ),
        (
            "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.",
            "a downloaded wheel does not match the hash",
        ),
        ("OSError: [Errno 28] No space left on device", "disk full"),
        ("WARNING: Retrying ... NewConnectionError(...)", "network failure"),
    ],
)
def test_pip_errors_are_explained(stderr: str, expected: str) -> None:
    from lambda_ml_bench.build.pip import explain_pip_error

    assert explain_pip_error(stderr).startswith(expected)
