"""Files: their sha256, and writes that leave either the old file or the whole new one, never half of it."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

MiB = 1024 * 1024


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


_digests: dict[tuple[Path, int, int], str] = {}
_digests_lock = threading.Lock()


def sha256_file_cached(path: Path) -> str:
    """sha256_file, computed once per file version (path, size, mtime): for files read on every request or
    cold start, such as a 57 MB layer zip."""
    st = path.stat()
    key = (path, st.st_size, st.st_mtime_ns)
    with _digests_lock:
        if key not in _digests:
            _digests[key] = sha256_file(path)
        return _digests[key]


def sha256_file_base64(path: Path) -> str:
    """What Terraform's source_code_hash and Lambda's CodeSha256 hold (cached like sha256_file_cached)."""
    return base64.b64encode(bytes.fromhex(sha256_file_cached(path))).decode()


def atomic_write(path: Path, data: bytes | str, mode: int = 0o644, sync: bool = False) -> None:
    """Write beside the target under a private name, then rename over it in one step (`sync`: on disk before the
    rename, so that even a machine's crash leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=2) + "\n")
