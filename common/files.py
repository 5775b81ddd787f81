"""Files: their sha256, and writes that leave either the old file or the whole new one, never half of it."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from pathlib import Path

MiB = 1024 * 1024


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def sha256_file_base64(path: Path) -> str:
    """What Terraform's source_code_hash and Lambda's CodeSha256 hold."""
    with open(path, "rb") as fh:
        return base64.b64encode(hashlib.file_digest(fh, "sha256").digest()).decode()


def atomic_write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write beside the target under a private name, then rename over it in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=2) + "\n")
