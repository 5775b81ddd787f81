"""Zips unpacked once into folders named by their hash: safe across threads and processes, verified, mended.

Each extraction goes into a private temporary folder beside the cache, is checked against the zip's
own listing (every entry present with its size), gets a marker file, and is renamed into place in one
step. A folder without a valid marker (a crash, a hand edit) is rebuilt; two concurrent cold starts
of one zip each extract privately and the first rename wins.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from lambda_ml_bench.files import sha256_file_cached

MARKER = ".unpacked.json"


class CacheError(RuntimeError):
    """A zip could not be unpacked into a verified folder."""


def _listing(zf: zipfile.ZipFile) -> dict[str, int]:
    return {info.filename.rstrip("/"): info.file_size for info in zf.infolist() if not info.is_dir()}


def _verified(folder: Path, digest: str) -> bool:
    """The folder holds what its marker says, and the marker names this zip."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if marker.get("sha256") != digest:
        return False
    files = marker.get("files", {})
    return all((folder / name).is_file() and (folder / name).stat().st_size == size for name, size in files.items())


def _readable(folder: Path) -> None:
    """Everything readable (and folders enterable) by the sandbox's unprivileged user, whatever the umask."""
    for root, dirs, names in os.walk(folder):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for n in names:
            path = os.path.join(root, n)
            os.chmod(path, os.stat(path).st_mode & 0o777 | 0o444)


def unpacked(source: Path, cache: Path) -> Path:
    """`source` unpacked under `cache`; a folder is used as it is."""
    if source.is_dir():
        return source
    digest = sha256_file_cached(source)  # once per file version: hashing a layer on every cold start would count
    dest = cache / digest[:20]
    if _verified(dest, digest):
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=cache))
    try:
        with zipfile.ZipFile(source) as zf:
            files = _listing(zf)
            zf.extractall(private)
        _readable(private)
        (private / MARKER).write_text(json.dumps({"sha256": digest, "source": str(source), "files": files}))
        if not _verified(private, digest):
            raise CacheError(f"{source} unpacked incompletely into {private}")
        os.chmod(private, 0o755)  # mkdtemp's 0700 would hide the code from the sandbox's user
        if dest.exists() and not _verified(dest, digest):  # damaged: set aside, then replaced
            broken = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".broken", dir=cache))
            try:
                os.replace(dest, broken / "old")
            except FileNotFoundError:
                pass
            shutil.rmtree(broken, ignore_errors=True)
        try:
            os.rename(private, dest)
        except OSError:  # another thread or process put a folder there first
            if not _verified(dest, digest):
                raise
    except (OSError, zipfile.BadZipFile) as err:
        raise CacheError(f"cannot unpack {source}: {err}") from err
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return dest
