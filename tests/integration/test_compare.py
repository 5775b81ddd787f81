"""The remote path for real, against the local Lambda: invocations, REPORT parsing, a memory sweep."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.compare import COLD_TOKEN, CompareError, Driver, targets_from_listing
from bench.report import render

pytestmark = pytest.mark.integration


def configuration(client, name: str) -> dict:
    return client.get_function_configuration(FunctionName=name)


def test_memory_sweep_cold_and_warm_with_report_figures(lambda_client, tmp_path: Path) -> None:
    name = "benchmark-x86_64"
    before = configuration(lambda_client, name)
    out = tmp_path / "compare.jsonl"
    records = Driver(lambda_client, out, say=lambda _: None).run({"x86_64": name}, features=[10], memory_sizes=[1769, 3538],
                                                                 cycles=2, warm=1)
    assert [(r["memory_mb"], r["cold"]) for r in records] == [(1769, True), (1769, False), (3538, True), (3538, False)]
    for r in records:
        assert r["cycles_done"] == 2 and r["machine"] == "x86_64"
        assert r["billed_ms"] >= r["duration_ms"] > 0 and 0 < r["max_memory_used_mb"] < r["memory_mb"]
        assert (r["init_ms"] is not None) == r["cold"]
        assert r["cost_usd"] > 2e-7
    assert [json.loads(line) for line in out.read_text().splitlines()] == records  # written as they arrived
    after = configuration(lambda_client, name)
    assert after["MemorySize"] == before["MemorySize"] and COLD_TOKEN not in after["Environment"]["Variables"]
    md = render(out, tmp_path)
    assert "| 10 | x86_64 | local Lambda 1769 MB |" in md.read_text() and (tmp_path / "compare.png").exists()
    assert all(r["environment"] == "local Lambda" and r["emulated"] is False for r in records)


def test_configuration_is_restored_after_a_failure(lambda_client, tmp_path: Path) -> None:
    name = "benchmark-x86_64"
    before = configuration(lambda_client, name)
    with pytest.raises(CompareError, match="failed"):
        Driver(lambda_client, tmp_path / "c.jsonl", say=lambda _: None).run(
            {"x86_64": name}, features=[1], memory_sizes=[2048], cycles=1, warm=0)  # n_features=1 is refused
    after = configuration(lambda_client, name)
    assert after["MemorySize"] == before["MemorySize"] == 3538
    assert after["Environment"]["Variables"] == before["Environment"]["Variables"]


def test_targets_are_found_by_name_and_architecture(lambda_client) -> None:
    assert targets_from_listing(lambda_client) == {"x86_64": "benchmark-x86_64", "arm64": "benchmark-arm64"}


def test_localstack_client_reaches_any_endpoint_speaking_the_lambda_api(local_lambda: str, monkeypatch) -> None:
    import localstack_client.session

    monkeypatch.setenv("LOCALSTACK_HOST", local_lambda.removeprefix("http://"))
    client = localstack_client.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                               region_name="us-east-1").client("lambda")
    assert targets_from_listing(client, "predict") == {"x86_64": "predict-x86_64", "arm64": "predict-arm64"}


def test_a_new_accounts_memory_quota_ends_the_sweep_in_one_line(built: dict, tmp_path: Path) -> None:
    """A local Lambda with a new account's 3,008 MB quota refuses 3,538 MB as AWS does; `bench compare` says what
    to do in one line, exits 2 and leaves the function as it was."""
    import subprocess
    import sys
    import threading

    import boto3

    from local_lambda import functions
    from local_lambda.rie import free_port
    from local_lambda.sandbox import rie_binary
    from local_lambda.service import LocalLambda
    from support import REPO

    specs = functions.from_file(REPO / "tests" / "fixtures" / "local-functions.json")
    server = LocalLambda(free_port(), specs, rie_binary(lambda _: None), memory_quota=3008)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
        before = configuration(client, "benchmark-x86_64")
        with pytest.raises(client.exceptions.ClientError, match="less than or equal to 3008"):
            client.update_function_configuration(FunctionName="benchmark-x86_64", MemorySize=3009)
        proc = subprocess.run([sys.executable, "-m", "bench", "compare", "--endpoint-url", server.endpoint,
                               "--arch", "x86_64", "--memory", "4096", "--features", "10", "--out",
                               str(tmp_path / "c.jsonl")], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines()[-1] == (
            "error: benchmark-x86_64: this account allows functions of at most 3008 MB (new accounts start at 3,008 "
            "MB): set memory_sizes = { benchmark = 3008 } in terraform/terraform.tfvars (and sweep with --memory up "
            "to 3008), or ask AWS Support to raise the Lambda memory quota")
        assert configuration(client, "benchmark-x86_64") == before
    finally:
        server.shutdown_all()
        server.server_close()
