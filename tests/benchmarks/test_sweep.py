"""Sweeps in parallel against sequential: 8 cells of a handler that sleeps a fixed time (so this machine's cores are
not the limit), `--parallel 8` against `--parallel 1`, interleaved. Target: 0.25x the wall time or less. And what a
sweep leaves behind: no version, no alias."""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
from support import REPO, local_service

from lambda_ml_bench.local_lambda import functions
from lambda_ml_bench.measure.sweep.cells import Target, Workload, plan
from lambda_ml_bench.measure.sweep.driver import Sweep

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def roomy(local_lambda: str):
    """A local Lambda whose probe may run 8 environments at once. Its 3 s timeout is the handler's alone: INIT has
    ten seconds of its own, so a busy machine's slow cold starts do not time the sweep's calls out."""
    specs = [s for s in functions.from_file(REPO / "tests" / "fixtures" / "local-functions.json")
             if s.name == "probe-events"]
    with local_service(specs, concurrency=8) as (_, client):
        yield client


def leftovers(client) -> tuple[list, list]:
    versions = [v["Version"] for v in client.list_versions_by_function(FunctionName="probe-events")["Versions"]]
    aliases = [a["Name"] for a in client.list_aliases(FunctionName="probe-events")["Aliases"]]
    return [v for v in versions if v != "$LATEST"], aliases


@pytest.mark.benchmark(group="sweep-parallel")
def test_eight_cells_in_parallel_against_one_at_a_time(benchmark, roomy, tmp_path: Path) -> None:
    cells = plan([Target("x86_64", "probe-events")], [1769, 2048],
                 [Workload("sleep 1 s", {"sleep": 1.0}), Workload("sleep 1 s again", {"sleep": 1.0})], rounds=2)
    assert len(cells) == 8
    walls: dict[int, list[float]] = {1: [], 8: []}

    def sweep_both() -> None:
        for parallel in (1, 8):  # interleaved, one after the other in each round
            started = time.perf_counter()
            records = Sweep(roomy, tmp_path / f"s{parallel}-{len(walls[parallel])}.jsonl", say=lambda _: None, warm=1,
                            parallel=parallel).run(cells)
            walls[parallel].append(time.perf_counter() - started)
            assert len(records) == 16 and leftovers(roomy) == ([], [])

    benchmark.pedantic(sweep_both, rounds=2, iterations=1)
    ratio = statistics.median(walls[8]) / statistics.median(walls[1])
    benchmark.extra_info.update({"cells": 8, "wall_s_parallel_1": walls[1], "wall_s_parallel_8": walls[8],
                                 "ratio_parallel_8_to_1": ratio, "target_ratio": 0.25,
                                 "left_after_sweep": {"versions": 0, "aliases": 0}})
