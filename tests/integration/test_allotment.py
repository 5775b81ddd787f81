"""CPU and memory per execution environment as Lambda allots them: the control groups' settings, the kernel's
out-of-memory kill, and a service that says so plainly where groups cannot be written."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import REPO, local_service

from lambda_ml_bench.local_lambda import functions
from lambda_ml_bench.local_lambda.environment import Environment
from lambda_ml_bench.sandbox import allotment

pytestmark = pytest.mark.integration
SPECS = {s.name: s for s in functions.from_file(REPO / "tests" / "fixtures" / "local-functions.json")}


@pytest.fixture(scope="module")
def hierarchy():
    found, why = allotment.open_hierarchy(f"lambda-ml-bench-test-{os.getpid()}")
    if found is None:
        pytest.fail(f"control groups are needed for these tests (the local Lambda runs as root): {why}")
    yield found
    found.remove()


@pytest.mark.parametrize("memory_mb", [128, 1769, 3538, 10240])
def test_an_environments_group_has_lambdas_quota_and_limit(hierarchy, memory_mb: int) -> None:
    a = hierarchy.new(memory_mb, f"env-{memory_mb}")
    try:
        cores = os.cpu_count()
        expected = min(memory_mb / 1769, cores)
        if hierarchy.version == 1:
            quota = int((a.groups["cpu"] / "cpu.cfs_quota_us").read_text())
            period = int((a.groups["cpu"] / "cpu.cfs_period_us").read_text())
            limit = int((a.groups["memory"] / "memory.limit_in_bytes").read_text())
        else:
            quota, period = map(int, (a.groups["unified"] / "cpu.max").read_text().split())
            limit = int((a.groups["unified"] / "memory.max").read_text())
        assert quota / period == pytest.approx(expected, rel=0.01)
        assert limit == memory_mb * 1024 * 1024
        assert a.grant.capped == (memory_mb / 1769 > cores)
        assert ("this host has" in a.grant.describe()) == a.grant.capped
    finally:
        a.remove()
    assert not any(g.exists() for g in a.groups.values())


def test_the_runtime_joins_the_group_and_the_report_reads_its_peak(hierarchy, local_lambda: str) -> None:
    env = Environment(SPECS["probe-events"], hierarchy)
    env.start()
    try:
        result = env.invoke(json.dumps({"allocate_mb": 40}).encode())
        assert result.function_error is None
        members = {int(p) for f in env.allotment.procs_files() for p in Path(f).read_text().split()}
        assert members and all("python3.13" in Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace") or
                               "bwrap" in Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")
                               for p in members)
        assert 40 <= result.max_memory_mb <= 128 == env.spec.memory_size
        assert env.allotment.oom_kills() == 0
    finally:
        env.stop()
    assert not any(g.exists() for g in env.allotment.groups.values())


def test_without_writable_groups_the_service_runs_and_says_nothing_is_allotted(local_lambda: str, monkeypatch,
                                                                               tmp_path: Path) -> None:
    monkeypatch.setattr(allotment, "CGROUP_ROOT", tmp_path)  # an empty folder: no hierarchy to write
    with local_service(list(SPECS.values())) as (_, client):
        description = client.get_function_configuration(FunctionName="probe-events")["Description"]
        assert "CPU and memory NOT allotted" in description and "no cgroup v1" in description
        tags = client.get_function(FunctionName="probe-events")["Tags"]
        assert tags[functions.TAG_ALLOTMENT] == "not-allotted" and tags[functions.TAG_ENVIRONMENT] == "local"
        out = json.loads(client.invoke(FunctionName="probe-events", Payload=b"{}")["Payload"].read())
        assert out["echo"] == {}


def test_the_served_tags_and_description_say_where_it_runs_and_the_allotment(lambda_client) -> None:
    for fn in lambda_client.list_functions()["Functions"]:
        assert fn["Description"].endswith("CPU and memory allotted as Lambda allots them")
        tags = lambda_client.list_tags(Resource=fn["FunctionArn"])["Tags"]  # the same facts, as data
        assert tags == lambda_client.get_function(FunctionName=fn["FunctionName"])["Tags"]
        assert functions.where_it_runs(tags) == {"environment": "local Lambda", "allotment": "allotted",
                                                 "emulated": fn["Architectures"] != ["x86_64"]}
