"""Deterministic zips and the sizes a tree would have inside one."""
from __future__ import annotations

import base64
import hashlib
import os
import stat
import zipfile
import zlib
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time zip can store: no clock leaks in
COMPRESS_LEVEL = 9
_ENTRY_OVERHEAD = 30 + 46  # local header + central directory record, without the name twice


def files_of(root: Path) -> list[Path]:
    """Regular files under root, sorted by their archive path."""
    found = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _mode(path: Path) -> int:
    executable = os.stat(path).st_mode & stat.S_IXUSR
    return 0o100755 if executable else 0o100644


def write_zip(roots: list[tuple[Path, str]], dest: Path) -> None:
    """Zip each (folder, prefix) pair into dest: sorted entries, fixed times and modes.

    Written to a temporary name and renamed at the end, so an interrupted build leaves no zip.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    entries = sorted(
        (f"{prefix}/{path.relative_to(root).as_posix()}" if prefix else path.relative_to(root).as_posix(), path)
        for root, prefix in roots
        for path in files_of(root)
    )
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as zf:
            for arcname, path in entries:
                info = zipfile.ZipInfo(arcname, FIXED_TIME)
                info.create_system = 3  # Unix, so external_attr carries the mode
                info.external_attr = _mode(path) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(path, "rb") as fh:
                    zf.writestr(info, fh.read(), compresslevel=COMPRESS_LEVEL)
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)


def digest(path: Path) -> tuple[str, str]:
    """sha256 of a file as hex, and as base64 (what Terraform's source_code_hash expects)."""
    with open(path, "rb") as fh:
        h = hashlib.file_digest(fh, "sha256")
    return h.hexdigest(), base64.b64encode(h.digest()).decode()


def unzipped_size(path: Path) -> int:
    with zipfile.ZipFile(path) as zf:
        return sum(i.file_size for i in zf.infolist())


class SizeMeter:
    """Unzipped and zipped size of a tree, compressing only files changed since the last call."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, int, int], int] = {}

    def compressed(self, path: Path, rel: str) -> int:
        st = os.stat(path)
        key = (rel, st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in self._cache:
            comp = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15)
            with open(path, "rb") as fh:
                data = fh.read()
            self._cache[key] = min(len(comp.compress(data) + comp.flush()), len(data))
        return self._cache[key]

    def measure(self, root: Path, prefix: str = "python") -> tuple[int, int]:
        unzipped = zipped = 0
        for path in files_of(root):
            rel = f"{prefix}/{path.relative_to(root).as_posix()}"
            unzipped += path.stat().st_size
            zipped += self.compressed(path, rel) + _ENTRY_OVERHEAD + 2 * len(rel.encode())
        return unzipped, zipped + 22
