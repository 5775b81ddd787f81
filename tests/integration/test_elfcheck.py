"""ELF checks: wrong-architecture objects and too-new glibc symbol versions are rejected."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lambda_ml_bench.build import elfcheck
from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.build.platforms import ARCHITECTURES, host_architecture

pytestmark = pytest.mark.integration  # compiles a C object

HOST = host_architecture()
OTHER = next(a for a in ARCHITECTURES.values() if a != HOST)


def layer_with(tmp_path: Path, so: Path) -> Path:
    dest = tmp_path / "python" / "pkg"
    dest.mkdir(parents=True)
    shutil.copy(so, dest / so.name)
    (dest / "__init__.py").write_text("")
    return tmp_path / "python"


def retarget(path: Path, machine: int) -> None:
    """Rewrite e_machine, as a wheel for the other architecture would carry it."""
    data = bytearray(path.read_bytes())
    data[18:20] = machine.to_bytes(2, "little")
    path.write_bytes(bytes(data))


def test_reads_machine_and_glibc_of_a_real_object(compiled_so: Path) -> None:
    assert elfcheck.is_elf(compiled_so)
    assert elfcheck.elf_machine(compiled_so) == HOST.elf_machine
    needed = elfcheck.glibc_needed(compiled_so)
    assert needed is not None and needed >= (2, 2)


def test_objects_of_this_architecture_pass(tmp_path: Path, compiled_so: Path) -> None:
    site = layer_with(tmp_path, compiled_so)
    assert elfcheck.check(site, HOST.elf_machine, (2, 34)) == elfcheck.glibc_needed(compiled_so)


def test_wrong_architecture_is_rejected_naming_the_file(tmp_path: Path, compiled_so: Path) -> None:
    site = layer_with(tmp_path, compiled_so)
    with pytest.raises(BuildError, match=rf"pkg/{compiled_so.name}: ELF machine {HOST.elf_machine}, "
                                         rf"expected {OTHER.elf_machine}: wrong architecture"):
        elfcheck.check(site, OTHER.elf_machine, (2, 34))
    obj = site / "pkg" / compiled_so.name
    retarget(obj, OTHER.elf_machine)
    assert elfcheck.elf_machine(obj) == OTHER.elf_machine
    with pytest.raises(BuildError, match="wrong architecture"):
        elfcheck.check(site, HOST.elf_machine, (2, 34))


def test_too_new_glibc_is_rejected_naming_the_file_and_version(tmp_path: Path, compiled_so: Path) -> None:
    site = layer_with(tmp_path, compiled_so)
    major, minor = elfcheck.glibc_needed(compiled_so)
    with pytest.raises(BuildError, match=rf"pkg/{compiled_so.name}: needs GLIBC_{major}\.{minor}, "
                                         rf"the runtime has glibc 2\.1\b"):
        elfcheck.check(site, HOST.elf_machine, (2, 1))


def test_non_elf_files_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "libfake.so").write_text("INPUT(-lc)\n")  # a linker script named .so
    assert elfcheck.scan(tmp_path) == []
