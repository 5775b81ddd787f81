"""The remote path for real, against the local Lambda: a sweep of versions and aliases on both architectures,
report figures, restore after an error and after SIGTERM, nothing left behind, and a new account's quota."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support import LMB, REPO, local_service, probe_definition

from lambda_ml_bench.measure.report import render
from lambda_ml_bench.measure.sweep import initializer
from lambda_ml_bench.measure.sweep.cells import CELL_VARIABLE, CompareError, Target, Workload, plan
from lambda_ml_bench.measure.sweep.cleaner import restore_from
from lambda_ml_bench.measure.sweep.driver import Sweep
from lambda_ml_bench.measure.targets import handler_for, targets_from_listing

pytestmark = pytest.mark.integration
TARGETS = [Target("arm64", "benchmark-arm64"), Target("x86_64", "benchmark-x86_64")]


def state(client, name: str) -> dict:
    """What a sweep must leave as it found it: $LATEST's settings, and no version or alias besides."""
    c = client.get_function_configuration(FunctionName=name)
    versions = [v["Version"] for v in client.list_versions_by_function(FunctionName=name)["Versions"]]
    aliases = [a["Name"] for a in client.list_aliases(FunctionName=name)["Aliases"]]
    return {"MemorySize": c["MemorySize"], "Timeout": c["Timeout"],
            "Variables": c.get("Environment", {}).get("Variables", {}), "versions": versions, "aliases": aliases}


def test_a_sweep_of_two_memory_sizes_two_rounds_both_architectures(sweep_client, lambda_client, tmp_path: Path) -> None:
    before = {t.name: state(lambda_client, t.name) for t in TARGETS}
    out = tmp_path / "compare.jsonl"
    cells = plan(TARGETS, [1769, 3538], [Workload("10 features", {"n_features": 10, "cycles": 2}, 10)], rounds=2)
    records = Sweep(sweep_client, out, say=lambda _: None, warm=1).run(cells)
    assert len(records) == 16 and [json.loads(line) for line in out.read_text().splitlines()] == records
    for cell, pair in zip(cells, [records[i:i + 2] for i in range(0, 16, 2)]):
        cold, warm = pair
        assert (cold["cold"], warm["cold"]) == (True, False)  # a fresh version: a real cold start
        assert cold["init_ms"] is not None and warm["init_ms"] is None
        assert {r["memory_mb"] for r in pair} == {cell.memory_mb} and {r["architecture"] for r in pair} == {
            cell.target.architecture}
        assert len({r["version"] for r in pair}) == 1 and pair[0]["version"] != "$LATEST"
    for r in records:
        assert r["cycles_done"] == 2 and r["machine"] == {"x86_64": "x86_64", "arm64": "aarch64"}[r["architecture"]]
        assert r["billed_ms"] >= r["duration_ms"] > 0 and 0 < r["max_memory_used_mb"] <= r["memory_mb"]
        assert r["environment"] == "local Lambda" and r["emulated"] == (r["architecture"] == "arm64")
        assert r["allotment"] == "allotted" and r["cost_usd"] > 2e-7
    assert len({(r["function"], r["version"]) for r in records}) == 8
    assert {t.name: state(lambda_client, t.name) for t in TARGETS} == before
    md = render(out, tmp_path).markdown.read_text()
    assert "10 features: cheapest x86_64" in md and "| 10 features | arm64 (emulated) | 1,769 |" in md


def test_an_error_puts_everything_back_and_leaves_no_version(sweep_client, lambda_client, tmp_path: Path) -> None:
    name = "benchmark-x86_64"
    before = state(lambda_client, name)
    cells = plan([Target("x86_64", name)], [2048, 3538], [Workload("1 feature", {"n_features": 1, "cycles": 1}, 1)], 1)
    with pytest.raises(CompareError, match="failed"):  # n_features=1 is refused by the handler
        Sweep(sweep_client, tmp_path / "c.jsonl", say=lambda _: None, warm=0).run(cells)
    assert state(lambda_client, name) == before
    assert not (tmp_path / "c.restore.json").exists()


def test_sigterm_in_the_middle_of_a_sweep_puts_every_function_back(local_lambda: str, lambda_client,
                                                                     tmp_path: Path) -> None:
    names = ["benchmark-x86_64", "benchmark-arm64"]
    before = {n: state(lambda_client, n) for n in names}
    out = tmp_path / "sweep.jsonl"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    proc = subprocess.Popen([*LMB, "compare", "--endpoint-url", local_lambda, "--memory",
                             "1769", "3538", "--features", "10", "--cycles", "2", "--rounds", "2", "--warm", "1",
                             "--out", str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 300
    while not (out.exists() and out.read_text().count("\n") >= 2):  # a cell or more measured
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr
    assert stderr.strip().splitlines()[-1].startswith("error: stopped: SIGTERM; every function is back as it was")
    assert {n: state(lambda_client, n) for n in names} == before
    assert out.with_suffix(".restore.json").exists() is False
    assert "## Recommendation" in (tmp_path / "sweep.md").read_text()  # the report of what was measured


def test_a_cell_that_times_out_is_recorded_and_the_sweep_goes_on(sweep_client, lambda_client, tmp_path: Path) -> None:
    """A configuration that times out is a result, not the end of the run: the failed invocation is recorded (with
    what Lambda billed for it), the next cell is measured, and everything is put back."""
    name = "probe-events"  # its timeout is 3 s
    before = state(lambda_client, name)
    cells = plan([Target("x86_64", name)], [256], [Workload("too slow", {"sleep": 5}), Workload("echo", {})], 1)
    records = Sweep(sweep_client, tmp_path / "f.jsonl", say=lambda _: None, warm=1).run(cells)
    failed = [r for r in records if r.get("failed")]
    assert [(r["failed"], r["workload"]) for r in failed] == [("Sandbox.Timedout", "too slow")]
    assert [r["workload"] for r in records if not r.get("failed")] == ["echo", "echo"]
    md = render(tmp_path / "f.jsonl", tmp_path).markdown.read_text()
    assert "1 invocations failed (Sandbox.Timedout)" in md and "x86_64 256 MB too slow" in md
    assert state(lambda_client, name) == before


def test_restore_from_a_saved_file_deletes_leftovers(sweep_client, lambda_client, tmp_path: Path) -> None:
    """A sweep killed outright (no cleanup) leaves a version and an alias: --restore finds them by name."""
    name = "probe-events"
    before = state(lambda_client, name)
    sweep = Sweep(sweep_client, tmp_path / "k.jsonl", say=lambda _: None)
    initializer.save_originals(sweep, [Target("x86_64", name)])
    lambda_client.update_function_configuration(FunctionName=name, MemorySize=256,
                                                Environment={"Variables": {CELL_VARIABLE: "killed"}})
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    lambda_client.create_alias(FunctionName=name, Name="bench-256-w0-r1", FunctionVersion=version)
    assert state(lambda_client, name) != before
    assert restore_from(Sweep(sweep_client, tmp_path / "other.jsonl", say=lambda _: None),
                        tmp_path / "k.restore.json") == []
    assert state(lambda_client, name) == before


def test_parallel_cells_and_a_cell_at_a_time_leave_nothing(sweep_client, lambda_client, tmp_path: Path) -> None:
    name = "probe-events"
    before = state(lambda_client, name)
    cells = plan([Target("x86_64", name)], [128, 256], [Workload("sleep", {"sleep": 0.2}), Workload("echo", {})], 2)
    records = Sweep(sweep_client, tmp_path / "p.jsonl", say=lambda _: None, warm=1, parallel=2).run(cells)
    assert len(records) == 16 and {r["workload"] for r in records} == {"sleep", "echo"}
    assert state(lambda_client, name) == before


def test_targets_are_found_by_name_and_architecture(lambda_client) -> None:
    assert targets_from_listing(lambda_client) == {"x86_64": "benchmark-x86_64", "arm64": "benchmark-arm64"}
    # "predict" is in predict-onnx-x86_64 too: the handler each backend runs tells them apart
    assert targets_from_listing(lambda_client, "predict", handler_for("predict", "sklearn")[1]) == {
        "x86_64": "predict-x86_64", "arm64": "predict-arm64"}
    assert targets_from_listing(lambda_client, "predict-onnx", handler_for("predict", "onnx")[1]) == {
        "x86_64": "predict-onnx-x86_64", "arm64": "predict-onnx-arm64"}
    with pytest.raises(CompareError, match="no onnx backend for the benchmark handler"):
        handler_for("benchmark", "onnx")


def test_localstack_client_reaches_any_endpoint_speaking_the_lambda_api(local_lambda: str, monkeypatch) -> None:
    import localstack_client.session

    monkeypatch.setenv("LOCALSTACK_HOST", local_lambda.removeprefix("http://"))
    client = localstack_client.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                               region_name="us-east-1").client("lambda")
    assert targets_from_listing(client, "predict", "handlers.predict.handler") == {
        "x86_64": "predict-x86_64", "arm64": "predict-arm64"}


def test_a_new_accounts_memory_quota_ends_the_sweep_in_one_line(definitions: Path, local_lambda: str,
                                                                tmp_path: Path) -> None:
    """A local Lambda with a new account's 3,008 MB quota refuses 4,096 MB as AWS does; `bench compare` says what
    to do in one line, exits 2 and leaves the function as it was."""
    from lambda_ml_bench.local_lambda import functions

    with local_service(functions.from_file(definitions), memory_quota=3008) as (server, client):
        before = state(client, "benchmark-x86_64")
        with pytest.raises(client.exceptions.ClientError, match="less than or equal to 3008"):
            client.update_function_configuration(FunctionName="benchmark-x86_64", MemorySize=3009)
        proc = subprocess.run([*LMB, "compare", "--endpoint-url", server.endpoint,
                               "--arch", "x86_64", "--memory", "4096", "--features", "10", "--out",
                               str(tmp_path / "c.jsonl")], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines()[-1] == (
            "error: failed: benchmark-x86_64: this account allows functions of at most 3008 MB (new accounts start at "
            "3,008 MB): set memory_sizes = { benchmark = 3008 } in terraform/terraform.tfvars (and sweep with --memory "
            "up to 3008), or ask AWS Support to raise the Lambda memory quota; every function is back as it was")
        assert state(client, "benchmark-x86_64") == before


def test_your_requests_compared_through_the_command_line(local_lambda: str, lambda_client, tmp_path: Path) -> None:
    """`bench compare --function predict --backend sklearn onnx --payload FILE`: each request file is a workload of
    its own, each backend one more dimension, with the same machinery and report as the study."""
    names = ["predict-x86_64", "predict-arm64", "predict-onnx-x86_64", "predict-onnx-arm64"]
    before = {n: state(lambda_client, n) for n in names}
    request = tmp_path / "two-rows.json"
    request.write_text((REPO / "tests" / "events" / "predict-direct.json").read_text())
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    proc = subprocess.run([*LMB, "compare", "--endpoint-url", local_lambda, "--function",
                           "predict", "--backend", "sklearn", "onnx", "--payload", str(request), "--memory", "1769",
                           "--rounds", "1", "--warm", "2",
                           "--out", str(tmp_path / "mine.jsonl")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in (tmp_path / "mine.jsonl").read_text().splitlines()]
    assert {(r["architecture"], r["backend"], r["workload"]) for r in records} == {
        (a, b, "two-rows.json") for a in ("x86_64", "arm64") for b in ("sklearn", "onnx")}
    assert len(records) == 12 and sum(r["cold"] for r in records) == 4
    assert proc.stdout.startswith("two-rows.json: cheapest x86_64"), proc.stdout  # emulated arm64 is left out
    report = next(tmp_path.glob("*.md")).read_text()
    assert "x86_64 onnx" in report and "arm64 (emulated) onnx" in report
    assert {n: state(lambda_client, n) for n in names} == before


def test_with_snapstart_each_cell_measures_its_version_beside_latest(sandbox: Path, tmp_path: Path) -> None:
    """A function with SnapStart on published versions: each cell's version (restored from a snapshot on Lambda)
    and $LATEST of the same configuration (a full INIT) are measured side by side, and both are put back. The local
    Lambda keeps SnapStart as configuration only, so here both start with an ordinary INIT."""
    from lambda_ml_bench.local_lambda import functions

    specs = functions.from_file(probe_definition(tmp_path, memory_size=512, timeout=10, snapstart=True))
    with local_service(specs) as (_, client):
        before = state(client, "p")
        config = client.get_function_configuration(FunctionName="p")["SnapStart"]
        assert config == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
        cells = plan([Target("x86_64", "p")], [512, 1024], [Workload("echo", {})], rounds=1)
        records = Sweep(client, tmp_path / "s.jsonl", say=lambda _: None, warm=1).run(cells)
        assert [(r["memory_mb"], r["version"] == "$LATEST", r["cold"]) for r in records] == [
            (512, False, True), (512, False, False), (512, True, True), (512, True, False),
            (1024, False, True), (1024, False, False), (1024, True, True), (1024, True, False)]
        assert {r["backend"] for r in records} == {"sklearn, SnapStart", "sklearn, $LATEST without SnapStart"}
        assert state(client, "p") == before
        md = render(tmp_path / "s.jsonl", tmp_path).markdown.read_text()
        assert "x86_64 sklearn, SnapStart" in md and "x86_64 sklearn, $LATEST without SnapStart" in md
