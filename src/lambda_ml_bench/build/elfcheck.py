"""Checks on every ELF object of a layer: its architecture and the glibc it needs."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE
from elftools.elf.gnuversions import GNUVerNeedSection

from lambda_ml_bench.build.errors import BuildError

ELF_MAGIC = b"\x7fELF"
_GLIBC = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.\d+)?$")


@dataclass(frozen=True)
class ElfInfo:
    path: Path
    machine: int
    glibc: tuple[int, int] | None  # highest GLIBC_x.y symbol version it needs


def is_elf(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == ELF_MAGIC


def elf_machine(path: Path) -> int:
    """e_machine from the ELF header (pyelftools reads it in the file's own byte order)."""
    with open(path, "rb") as fh:
        return ENUM_E_MACHINE[ELFFile(fh)["e_machine"]]


def glibc_needed(path: Path) -> tuple[int, int] | None:
    highest = None
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        for section in elf.iter_sections():
            if not isinstance(section, GNUVerNeedSection):
                continue
            for _verneed, auxiliaries in section.iter_versions():
                for aux in auxiliaries:
                    match = _GLIBC.match(aux.name)
                    if match:
                        version = (int(match[1]), int(match[2]))
                        highest = max(highest or version, version)
    return highest


def scan(root: Path) -> list[ElfInfo]:
    return [
        ElfInfo(path, elf_machine(path), glibc_needed(path))
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink() and is_elf(path)
    ]


def check(root: Path, machine: int, glibc_cap: tuple[int, int]) -> tuple[int, int] | None:
    """Fail naming the first object of another architecture or needing a newer glibc.

    Returns the highest glibc version any object needs.
    """
    infos = scan(root)
    highest = None
    for info in infos:
        rel = info.path.relative_to(root)
        if info.machine != machine:
            raise BuildError(
                f"{rel}: ELF machine {info.machine}, expected {machine}: wrong architecture"
            )
        if info.glibc and info.glibc > glibc_cap:
            raise BuildError(
                f"{rel}: needs GLIBC_{info.glibc[0]}.{info.glibc[1]}, the runtime has "
                f"glibc {glibc_cap[0]}.{glibc_cap[1]}"
            )
        if info.glibc:
            highest = max(highest or info.glibc, info.glibc)
    return highest
