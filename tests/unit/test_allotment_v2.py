"""The cgroup v2 path of the allotment, on a folder laid out as a v2 hierarchy (this machine's cpu and memory
controllers are v1, which the integration tests use for real): the files written and read are v2's."""
from __future__ import annotations

from pathlib import Path

import pytest

from lambda_ml_bench.sandbox import allotment


@pytest.fixture
def v2_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    own = next(line.split(":", 2)[2] for line in Path("/proc/self/cgroup").read_text().splitlines()
               if line.split(":", 2)[1] == "")
    base = tmp_path / own.lstrip("/")
    base.mkdir(parents=True, exist_ok=True)
    (base / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    monkeypatch.setattr(allotment, "CGROUP_ROOT", tmp_path)
    return base


def test_groups_get_cpu_max_memory_max_pids_max_and_no_swap(v2_root: Path) -> None:
    hierarchy = allotment.Hierarchy("lambda-ml-bench-test")
    assert hierarchy.version == 2
    assert (v2_root / "lambda-ml-bench-test" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    a = hierarchy.new(885, "env-1")
    group = a.groups["unified"]
    quota, period = map(int, (group / "cpu.max").read_text().split())
    assert period == allotment.PERIOD_US == 40_000 and quota == round(885 / 1769 * 40_000)
    assert (group / "memory.max").read_text() == str(885 * 1024 * 1024)
    assert (group / "memory.swap.max").read_text() == "0"
    assert (group / "pids.max").read_text() == "1024"
    assert a.procs_files() == [str(group / "cgroup.procs")]
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n")
    (group / "memory.peak").write_text(str(300 * 1024 * 1024))
    assert a.oom_kills() == 1 and a.peak_bytes() == 300 * 1024 * 1024


def test_without_cpu_and_memory_delegated_the_service_is_told_why(v2_root: Path) -> None:
    (v2_root / "cgroup.controllers").write_text("pids\n")
    found, why = allotment.open_hierarchy("lambda-ml-bench-test")
    assert found is None and why == "cgroup v2 controllers ['cpu', 'memory'] are not delegated here"
