"""An environment's /tmp as Lambda's: `EphemeralStorage.Size` of disk (512 MB by default), full at that size with
ENOSPC, and not counted against the function's memory.

A tmpfs cannot be that: its pages are memory, charged to the function's group, so a full /tmp is an out-of-memory
kill. Each environment gets an ext4 file system of its size instead, in a sparse image file (only what is written
takes disk), loop-mounted where the sandbox binds it as /tmp and removed with the environment. Making one takes
about 20 ms, done while the environment's network is made. Mounting needs root; without it /tmp is a tmpfs of the
size (ENOSPC when full, but counted as memory), and the configuration says so.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from lambda_ml_bench.files import MiB
from lambda_ml_bench.sandbox.allotment import gone
from lambda_ml_bench.sandbox.roots import HOST_ENV

# One folder for the whole machine (not beside a sandbox, which a test session or a user may delete): whatever a
# service killed outright leaves mounted here, the next service on this machine finds and removes.
EPHEMERAL_ROOT = Path("/var/tmp/lambda-ml-bench-ephemeral")


def _image_mb(size_mb: int) -> int:
    """The image for `size_mb` of files: ext4's own metadata added (inode tables: 256 bytes per 64 KiB, bitmaps,
    extent blocks), so that what a function can write is the size it was given."""
    return size_mb + 16 + -(-size_mb // 128)



class StorageError(RuntimeError):
    """An environment's /tmp could not be made."""


@functools.cache
def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mkfs.ext4") is not None and Path("/dev/loop-control").exists()


class EphemeralStorage:
    """One environment's /tmp: `size_mb` of ext4 in `folder` (the image and its mount point)."""

    def __init__(self, folder: Path, size_mb: int) -> None:
        self.folder, self.size_mb = folder, size_mb
        self.image, self.mount_point = folder / "tmp.ext4", folder / "tmp"

    def make(self) -> None:
        EPHEMERAL_ROOT.mkdir(mode=0o700, exist_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.mount_point.mkdir(exist_ok=True)
        with open(self.image, "wb") as fh:
            fh.truncate(_image_mb(self.size_mb) * MiB)
        steps = [["mkfs.ext4", "-q", "-F", "-m", "0", "-i", "65536", "-O", "^has_journal",
                  "-E", "lazy_itable_init=1,nodiscard,root_owner=0:0", str(self.image)],
                 ["mount", "-o", "loop,nosuid,nodev", str(self.image), str(self.mount_point)]]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, env=HOST_ENV)
            if done.returncode != 0:
                self.remove()
                raise StorageError(f"cannot make a {self.size_mb} MB /tmp: {' '.join(step[:1])}: "
                                   f"{done.stderr.strip()[-300:]}")
        os.chmod(self.mount_point, 0o1777)
        lost = self.mount_point / "lost+found"
        if lost.is_dir():
            lost.rmdir()

    def remove(self) -> None:
        """Unmount (lazily: a process still dying may hold it) and delete the image."""
        unmount_under(self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)


def unmount_under(folder: Path) -> None:
    """Every mount at or below `folder`, detached (the loop device is freed with its last user)."""
    prefix = str(folder.resolve())
    with open("/proc/self/mounts") as fh:
        points = [line.split()[1].encode().decode("unicode_escape") for line in fh]
    for point in sorted((p for p in points if p == prefix or p.startswith(prefix + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, env=HOST_ENV)


def reclaim() -> None:
    """The /tmp folders of services that are gone (EPHEMERAL_ROOT/service-<its pid>): unmounted and deleted."""
    if not EPHEMERAL_ROOT.is_dir():
        return
    for service in EPHEMERAL_ROOT.iterdir():
        if gone(service.name):
            unmount_under(service)
            shutil.rmtree(service, ignore_errors=True)
