"""Deterministic zips: same tree, same bytes, whatever the clock, folder or file order."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from lambda_ml_bench.build import archive


def make_tree(root: Path, mtime: int) -> Path:
    files = {"b/mod.py": "x = 1\n", "a/__init__.py": "", "a/data.bin": "\0" * 1000, "z.so": "ELF"}
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        os.utime(path, (mtime, mtime))
    os.chmod(root / "z.so", 0o775)
    os.chmod(root / "a/data.bin", 0o600)
    return root


def test_two_builds_give_identical_bytes(tmp_path: Path) -> None:
    one = make_tree(tmp_path / "one" / "python", 1_000_000_000)
    two = make_tree(tmp_path / "elsewhere" / "deeper" / "python", 1_700_000_000)
    archive.write_zip([(one, "python")], tmp_path / "one.zip")
    archive.write_zip([(two, "python")], tmp_path / "two.zip")
    assert archive.digest(tmp_path / "one.zip") == archive.digest(tmp_path / "two.zip")


def test_entries_sorted_with_fixed_times_and_normalised_modes(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "python", 1_234_567_890)
    archive.write_zip([(tree, "python")], tmp_path / "l.zip")
    with zipfile.ZipFile(tmp_path / "l.zip") as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) == ["python/a/__init__.py", "python/a/data.bin", "python/b/mod.py", "python/z.so"]
    assert {i.date_time for i in infos} == {archive.FIXED_TIME}
    modes = {i.filename: (i.external_attr >> 16) for i in infos}
    assert modes["python/a/data.bin"] == 0o100644  # readable by Lambda's sandbox user
    assert modes["python/z.so"] == 0o100755


def test_digest_gives_hex_and_terraform_base64(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    hex_digest, b64 = archive.digest(path)
    assert hex_digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert b64 == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="


def test_a_failed_write_leaves_no_zip_and_no_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = make_tree(tmp_path / "python", 1)
    dest = tmp_path / "out" / "layer.zip"
    real_writestr = zipfile.ZipFile.writestr
    calls = []

    def failing_writestr(self, info, data, *a, **kw):
        calls.append(info)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_writestr(self, info, data, *a, **kw)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_writestr)
    with pytest.raises(OSError, match="No space left"):
        archive.write_zip([(tree, "python")], dest)
    assert list(dest.parent.iterdir()) == []


def test_size_meter_is_close_to_the_real_zip(tmp_path: Path) -> None:
    tree = tmp_path / "python"
    tree.mkdir()
    for i in range(20):
        (tree / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n" * (50 * i + 1))
    unzipped, estimate = archive.SizeMeter().measure(tree)
    archive.write_zip([(tree, "python")], tmp_path / "t.zip")
    assert unzipped == archive.unzipped_size(tmp_path / "t.zip")
    assert abs(estimate - (tmp_path / "t.zip").stat().st_size) <= 0.02 * estimate
