"""What a sweep measures: targets, workloads, and the cells they make, in a fair order."""
from __future__ import annotations

from dataclasses import dataclass, field

from lambda_ml_bench.errors import ProjectError

CELL_VARIABLE = "BENCH_SWEEP_CELL"  # set on each cell's version: a configuration change, so a version of its own
ALIAS_PREFIX = "bench-"


class CompareError(ProjectError):
    """The comparison cannot go on (bad target, a function error, retries exhausted)."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: stop starting cells, finish the running invocations, put everything back."""


@dataclass(frozen=True)
class Target:
    architecture: str
    name: str  # function name or ARN
    backend: str = "sklearn"


@dataclass(frozen=True)
class Workload:
    label: str  # "10 features", or a payload file's name
    event: dict = field(hash=False, compare=False)
    n_features: int | None = None


@dataclass(frozen=True)
class Cell:
    target: Target
    memory_mb: int
    workload: Workload
    workload_index: int
    round: int

    @property
    def alias(self) -> str:
        return f"{ALIAS_PREFIX}{self.memory_mb}-w{self.workload_index}-r{self.round}"


def plan(targets: list[Target], memory_sizes: list[int], workloads: list[Workload], rounds: int) -> list[Cell]:
    """Round by round, then memory, then workload, the architectures side by side in alternating order, so that no
    configuration is measured only early or only late."""
    cells = []
    step = 0
    for r in range(1, rounds + 1):
        for memory in memory_sizes:
            for wi, workload in enumerate(workloads):
                side_by_side = targets if step % 2 == 0 else list(reversed(targets))
                cells += [Cell(t, memory, workload, wi, r) for t in side_by_side]
                step += 1
    return cells


def settings(configuration: dict) -> dict:
    """What a sweep changes on $LATEST and puts back, from a GetFunctionConfiguration answer."""
    return {"MemorySize": configuration["MemorySize"], "Timeout": configuration["Timeout"],
            "Environment": {"Variables": configuration.get("Environment", {}).get("Variables", {})}}
