"""A real account's refusals become one line: the texts AWS sends, through `make deploy` and `bench compare`."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from support import LMB, REPO

from lambda_ml_bench.deploy import explain
from lambda_ml_bench.measure.sweep.cells import CompareError
from lambda_ml_bench.measure.targets import region_of, targets_from_terraform

# As CloudFormation and the API pass them on (see aws-lambda-power-tuning#181 and #224, serverless-patterns#1382).
MEMORY_REFUSALS = [
    "'MemorySize' value failed to satisfy constraint: Member must have value less than or equal to 3008",
    "ValidationException: 1 validation error detected: Value '10240' at 'memorySize' failed to satisfy constraint: "
    "Member must have value less than or equal to 3008",
]


@pytest.mark.parametrize("message", MEMORY_REFUSALS)
def test_the_memory_quota_of_a_new_account_is_named_with_what_to_do(message: str) -> None:
    hint = explain(message)
    assert hint and "at most 3008 MB" in hint and "memory_sizes = { benchmark = 3008 }" in hint
    assert "\n" not in hint


def test_reserved_concurrency_below_the_accounts_minimum_is_named() -> None:
    hint = explain("InvalidParameterValueException: Specified ReservedConcurrentExecutions for function decreases "
                   "account's UnreservedConcurrentExecution below its minimum value of [100].")
    assert hint and "fewer than 100 unreserved" in hint and "reserved_concurrency = -1" in hint


def test_other_errors_are_left_as_they_are() -> None:
    assert explain("AccessDeniedException: User is not authorized to perform: lambda:CreateFunction") is None
    assert explain("MemorySize must be an integer from 128 to 10240") is None


def _fake_terraform(folder: Path, stderr: str, code: int) -> dict[str, str]:
    """A `terraform` first on PATH that prints `stderr` as Terraform frames errors and exits `code`: AWS is
    not reachable here, so this is how apply's output reaches `make deploy`."""
    script = folder / "terraform"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {folder}/calls\n[ \"$2\" = init ] && exit 0\n"
                      f"cat >&2 <<'EOF'\n{stderr}EOF\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}", "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x"}


def test_make_deploy_ends_a_memory_quota_refusal_in_one_line(tmp_path: Path) -> None:
    framed = (
        "╷\n│ Error: creating Lambda Function (lambda-ml-bench-benchmark-py313-arm64): operation error Lambda: "
        "CreateFunction, https response error StatusCode: 400, RequestID: 1, api error ValidationException: 'Memory\n"
        "│ Size' value failed to satisfy constraint: Member must have value less than or equal to 3008\n╵\n"
    )
    from lambda_ml_bench.deploy import AccountError, runtime_zips

    try:
        runtime_zips("3.13")
    except AccountError as err:
        pytest.skip(f"deploy refuses before Terraform here: {err}")
    env = _fake_terraform(tmp_path, framed, 1)
    proc = subprocess.run(
        [*LMB, "deploy", "--", "-auto-approve"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith("error: this account allows functions of at most 3008 MB")
    assert (tmp_path / "calls").read_text().splitlines()[-1] == (
        "-chdir=terraform apply -var=python_version=3.13 -auto-approve")


def test_a_deployment_for_a_runtime_whose_zips_are_not_built_is_refused_by_name(tmp_path: Path) -> None:
    env = _fake_terraform(tmp_path, "", 0)
    proc = subprocess.run([*LMB, "deploy", "--python", "3.14"], cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode == 0:
        pytest.skip("the 3.14 zips are built here")
    assert proc.returncode == 2 and not (tmp_path / "calls").exists()
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("error: no function-py314.zip") and "PYTHON_VERSION=3.14" in last


def test_deploy_stops_before_terraform_without_credentials(tmp_path: Path) -> None:
    env = {k: v for k, v in _fake_terraform(tmp_path, "", 0).items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    proc = subprocess.run([*LMB, "deploy"], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "no AWS credentials found" in proc.stderr
    assert not (tmp_path / "calls").exists()


def _outputs(regions: dict[str, str]) -> dict:
    """The shape of `terraform output -json benchmark_targets`."""
    return {
        arch: {
            "region": region,
            "functions": {
                "benchmark": {
                    "name": f"b-{arch}",
                    "region": region,
                    "arn": f"arn:aws:lambda:{region}:1:function:b-{arch}",
                }
            },
        }
        for arch, region in regions.items()
    }


def test_compare_takes_the_region_the_functions_are_in() -> None:
    outputs = _outputs({"arm64": "eu-central-1", "x86_64": "eu-central-1"})
    assert region_of(outputs) == "eu-central-1"
    assert targets_from_terraform(outputs) == {"arm64": "b-arm64", "x86_64": "b-x86_64"}
    with pytest.raises(CompareError, match="2 regions"):
        region_of(_outputs({"arm64": "eu-central-1", "x86_64": "us-east-1"}))
