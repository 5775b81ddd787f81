"""Every architecture- and runtime-dependent fact of the build, in one table each."""
from __future__ import annotations

from dataclasses import dataclass

from lambda_ml_bench import spec
from lambda_ml_bench.errors import ProjectError

# bytes the layer leaves under the limit for the function package (handlers, skops, the model): 20 MB, so that the
# scikit-learn layer with pandas fits on arm64 (238.5 MB with its bytecode)
FUNCTION_RESERVE = 20_000_000


@dataclass(frozen=True)
class Architecture:
    """What depends on the CPU architecture of a Lambda function."""

    name: str  # Lambda's name: arm64 | x86_64
    wheel_arch: str  # the architecture part of a manylinux wheel tag
    elf_machine: int  # ELF e_machine of its shared objects
    strip: str  # strip that understands its objects
    strip_package: str  # Debian package providing that strip
    oldest_manylinux: tuple[int, int]  # oldest glibc any manylinux tag names for it
    legacy_tags: dict[tuple[int, int], str]  # PEP 513/571/599 aliases by glibc version
    debian_arch: str  # Debian's name, for the local Lambda's runtime root
    uname: str  # what platform.machine() says on it
    rie: str  # the Runtime Interface Emulator binary in aws-sam-cli for this architecture
    emulator: tuple[str, ...]  # command prefix that runs its binaries on an x86_64 host
    slowdown: int = 1  # how many times longer an import (INIT) takes here than on its own hardware


ARCHITECTURES: dict[str, Architecture] = {
    "arm64": Architecture(
        name="arm64",
        wheel_arch="aarch64",
        elf_machine=183,
        strip="aarch64-linux-gnu-strip",
        strip_package="binutils-aarch64-linux-gnu",
        oldest_manylinux=(2, 17),
        legacy_tags={(2, 17): "manylinux2014"},
        debian_arch="arm64",
        uname="aarch64",
        rie="aws-lambda-rie-arm64",
        # Graviton2's core: qemu's default CPU advertises SVE, and OpenBLAS then picks kernels
        # Graviton2 lacks.
        emulator=("qemu-aarch64-static", "-cpu", "neoverse-n1"),
        slowdown=10,  # imports under qemu take about ten times as long as natively (LAMBDA-FACTS, emulation)
    ),
    "x86_64": Architecture(
        name="x86_64",
        wheel_arch="x86_64",
        elf_machine=62,
        strip="x86_64-linux-gnu-strip",
        strip_package="binutils-x86-64-linux-gnu",
        oldest_manylinux=(2, 5),
        legacy_tags={(2, 5): "manylinux1", (2, 12): "manylinux2010", (2, 17): "manylinux2014"},
        debian_arch="amd64",
        uname="x86_64",
        rie="aws-lambda-rie-x86_64",
        emulator=(),
    ),
}


@dataclass(frozen=True)
class Runtime:
    """A Lambda Python runtime: its interpreter version and the glibc of its OS."""

    name: str  # Lambda's runtime identifier
    python: str  # major.minor
    os: str
    glibc: tuple[int, int]

    @property
    def tag(self) -> str:
        """Short form used in file names: py313."""
        return spec.runtime_tag(self.python)

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")


RUNTIMES: dict[str, Runtime] = {
    "3.11": Runtime("python3.11", "3.11", "Amazon Linux 2", (2, 26)),
    "3.12": Runtime("python3.12", "3.12", "Amazon Linux 2023", (2, 34)),
    "3.13": Runtime("python3.13", "3.13", "Amazon Linux 2023", (2, 34)),
    "3.14": Runtime("python3.14", "3.14", "Amazon Linux 2023", (2, 34)),
}
DEFAULT_PYTHON = spec.load().python_version  # terraform/functions.json says which runtime is the default
SANDBOX_PYTHON = "3.13"  # the local Lambda runs Debian trixie's CPython 3.13 (no suite has 3.12)


class UnknownChoice(ProjectError, ValueError):
    """An architecture or Python version that the build does not know."""


def architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise UnknownChoice(
            f"unknown ARCH {name!r}; valid values: {', '.join(ARCHITECTURES)}"
        ) from None


def runtime(python: str) -> Runtime:
    try:
        return RUNTIMES[python]
    except KeyError:
        raise UnknownChoice(
            f"unknown PYTHON_VERSION {python!r}; valid values: {', '.join(RUNTIMES)}"
        ) from None


def manylinux_tags(arch: Architecture, rt: Runtime) -> list[str]:
    """Every manylinux platform tag a wheel may carry and still load on `rt`, newest first.

    pip's --platform accepts exactly the tags it is given, so the whole range from the oldest
    manylinux glibc up to the runtime's own has to be spelled out, legacy aliases included.
    """
    major, newest = rt.glibc
    oldest = arch.oldest_manylinux[1]
    tags: list[str] = []
    for minor in range(newest, oldest - 1, -1):
        tags.append(f"manylinux_{major}_{minor}_{arch.wheel_arch}")
        legacy = arch.legacy_tags.get((major, minor))
        if legacy:
            tags.append(f"{legacy}_{arch.wheel_arch}")
    return tags


def layer_name(kind: str, arch: Architecture, rt: Runtime) -> str:
    """A layer's file and lock name: onnx-py313-arm64."""
    return f"{kind}-{rt.tag}-{arch.name}"


def host_architecture() -> Architecture | None:
    import platform

    machine = platform.machine()
    return next((a for a in ARCHITECTURES.values() if a.uname == machine), None)


if __name__ == "__main__":
    # `python3 -m layer_build.platforms VERSION ARCH...`: the Makefile's argument check (stdlib only).
    import sys

    try:
        runtime(sys.argv[1])
        for name in sys.argv[2:]:
            architecture(name)
    except UnknownChoice as err:
        sys.exit(str(err))
