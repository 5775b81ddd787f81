"""The Terraform configuration as text: format, variables, names and paths, the bucket, checkov comments.

Terraform's own validate and plan, against the AWS provider schema, are in tests/integration/test_tfcheck.py."""
from __future__ import annotations

import re

import pytest
import tfschema
from support import REPO

from lambda_ml_bench import spec
from lambda_ml_bench.build.platforms import ARCHITECTURES, RUNTIMES
from lambda_ml_bench.local_lambda import functions
from lambda_ml_bench.paths import PACKAGE

TF = REPO / "terraform"
ROOT = tfschema.parse(TF / "main.tf")
SPEC = spec.load()


# --- structure -----------------------------------------------------------------------------------
def test_both_architectures_by_default_and_validated() -> None:
    variables = tfschema.parse(TF / "variables.tf")["variable"]
    arch = next(v["architectures"] for v in variables if "architectures" in v)
    assert arch["default"] == list(ARCHITECTURES) == list(SPEC.architectures)
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


def test_handlers_name_real_functions() -> None:
    for h in SPEC.handlers.values():
        module_name, attr = h.handler.rsplit(".", 1)
        source = PACKAGE / (module_name.replace(".", "/") + ".py")  # handlers/ is the package's zip root
        assert source.exists(), h.handler
        assert re.search(rf"^def {attr}\(event", source.read_text(), re.M), h.handler


def test_zip_paths_are_what_the_build_writes_for_every_runtime() -> None:
    from lambda_ml_bench.build.backends import BACKENDS
    from lambda_ml_bench.build.platforms import layer_name

    assert set(SPEC.backends) == set(BACKENDS)  # every backend the build makes a layer for, and no other
    assert {h.backend for h in SPEC.handlers.values()} == set(BACKENDS)
    for rt in RUNTIMES.values():
        assert SPEC.package_path(rt.python) == REPO / f"dist/function/function-{rt.tag}.zip"
        for kind in BACKENDS:
            for arch in ARCHITECTURES.values():
                expected = REPO / f"dist/layers/{layer_name(kind, arch, rt)}.zip"
                assert SPEC.layer_path(kind, arch.name, rt.python) == expected


def test_names_are_unique_and_spell_out_handler_runtime_and_architecture() -> None:
    for python in ("3.12", "3.13"):
        specs = functions.from_terraform(python)
        names = [s.name for s in specs]
        deployed = SPEC.deployed(python)  # the handlers serving the packaged model (benchmark and predict always)
        assert "benchmark" in deployed and any(h.function == "predict" for h in deployed.values())
        assert set(deployed) <= set(SPEC.handlers)
        assert len(set(names)) == len(names) == len(deployed) * len(SPEC.architectures)
        tag = spec.runtime_tag(python)
        keys = "|".join(deployed)
        for s in specs:
            assert re.fullmatch(rf"lambda-ml-bench-({keys})-{tag}-{s.architecture}", s.name)
            backend = next(h.backend for h in deployed.values() if h.handler == s.handler)
            assert s.layers == (REPO / f"dist/layers/{backend}-{tag}-{s.architecture}.zip",)
            assert s.runtime == f"python{python}" and s.code == REPO / f"dist/function/function-{tag}.zip"


def test_a_predict_handler_is_deployed_only_where_its_backend_serves_the_model() -> None:
    assert set(SPEC.serving(["sklearn", "onnx"])) == {"benchmark", "predict", "predict-onnx"}
    assert set(SPEC.serving(["sklearn"])) == {"benchmark", "predict"}
    assert set(SPEC.serving(["xgboost", "onnx"])) == {"benchmark", "predict-xgboost", "predict-onnx"}
    assert set(SPEC.serving(["lightgbm"])) == {"benchmark", "predict-lightgbm"}
    assert set(SPEC.serving(None)) == {"benchmark", "predict", "predict-onnx"}  # a package from before backends


def test_memory_timeout_and_runtime_are_within_lambdas_limits() -> None:
    assert SPEC.handlers["benchmark"].memory_size == 10240 and SPEC.handlers["benchmark"].timeout == 300
    for h in SPEC.handlers.values():
        assert 128 <= h.memory_size <= 10240 and 1 <= h.timeout <= 900
    assert SPEC.python_version in RUNTIMES


def test_a_function_on_a_backend_it_does_not_have_is_refused_by_name() -> None:
    assert SPEC.handler_for("predict", "onnx").key == "predict-onnx"
    with pytest.raises(spec.SpecError, match="no onnx backend for the benchmark handler.*it has sklearn"):
        SPEC.handler_for("benchmark", "onnx")


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


def test_make_tf_check_plans_every_example() -> None:
    from lambda_ml_bench.tfcheck.check import SCENARIOS

    examples = {str(p.parent.relative_to(TF)) for p in TF.glob("examples/*/main.tf")}
    assert examples and examples <= {s.folder for s in SCENARIOS}
    assert {".", "examples/single-architecture"} <= {s.folder for s in SCENARIOS}
    assert any("-var-file=terraform.tfvars.example" in s.options for s in SCENARIOS)
