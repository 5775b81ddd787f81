"""Precompiled bytecode: unchecked-hash, Lambda's paths inside, identical across build folders."""
from __future__ import annotations

import sys
from pathlib import Path

from lambda_ml_bench.build import slim


def compiled_tree(root: Path) -> bytes:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("def f():\n    raise ValueError('x')\n")
    slim.compile_bytecode(root, sys.executable, "/opt/python")
    tag = sys.implementation.cache_tag
    return (root / "pkg" / "__pycache__" / f"__init__.{tag}.pyc").read_bytes()


def test_pyc_is_unchecked_hash_based_and_names_the_lambda_path(tmp_path: Path) -> None:
    pyc = compiled_tree(tmp_path / "a")
    flags = int.from_bytes(pyc[4:8], "little")
    assert flags == 0b01  # hash-based, check_source off: zip timestamps cannot make it stale
    assert b"/opt/python/pkg/__init__.py" in pyc
    assert str(tmp_path).encode() not in pyc


def test_same_source_gives_same_bytes_in_any_folder(tmp_path: Path) -> None:
    assert compiled_tree(tmp_path / "one") == compiled_tree(tmp_path / "two" / "deeper")
