"""Terraform itself, offline, against the stand-in for hashicorp/aws: validate catches faults with its own
messages, plans show unknowns and rendered policies, the plan checks catch broken rules, nothing leaks."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lambda_ml_bench.aws import ACCOUNT
from lambda_ml_bench.tfcheck import plancheck, schema
from lambda_ml_bench.tfcheck.check import HANDLER_BACKENDS, SCENARIOS, expected_functions
from lambda_ml_bench.tfcheck.errors import PlanCheckError
from lambda_ml_bench.tfcheck.workspace import TERRAFORM_DIR, Workspace, engines

pytestmark = pytest.mark.integration
ENGINES = engines()
PROVIDER = ('terraform {\n  required_providers {\n    aws = {\n      source  = "hashicorp/aws"\n'
            '      version = "~> 6.0"\n    }\n  }\n}\n')


@pytest.fixture(scope="session")
def workspace(built, package, dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The stand-in installed with the first Terraform found (the binary where there is one); plans read
    this session's layer and package manifests."""
    for kind in {"sklearn", *package["model"]["backends"]}:  # the layers the package's functions run on
        built[kind]
    return Workspace(tmp_path_factory.mktemp("tfcheck"), ENGINES[0].command, dist).install()


@pytest.fixture(scope="session")
def root_plan(workspace: Workspace) -> dict:
    folder = workspace.copy("root-plan")
    workspace.init(folder)
    return workspace.plan(folder)[1]


def edited(ws: Workspace, name: str, path: str, old: str, new: str) -> Path:
    """A copy of terraform/ with one edit; the edit must apply exactly once."""
    copy = ws.copy(name)
    target = copy / path
    text = target.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    target.write_text(text.replace(old, new))
    return copy


def standalone(ws: Workspace, name: str, source: str) -> Path:
    folder = ws.root / name
    folder.mkdir(exist_ok=True)
    (folder / "main.tf").write_text(PROVIDER + source)
    ws.init(folder)
    return folder


MANAGED = ('-var=managed_instances_handlers={"predict-onnx"={instance_types={arm64=["m7g.large"]}}}',
           '-var=memory_sizes={"predict-onnx"=4096}', '-var=architectures=["arm64"]',
           '-var=managed_instances_vpc={subnet_ids=["subnet-0a1b2c3d4e5f60001"],security_group_ids=["sg-0a1b2c3d4e5f6"]}')


# --- faults: Terraform's own validate, with its own messages, on both Terraform versions --------
FN = "modules/function/main.tf"
FAULTS = {
    "unknown argument": (
        FN,
        "  memory_size                    = var.memory_size\n",
        "  memory_size                    = var.memory_size\n  memroy_size = 128\n",
        'An argument named "memroy_size" is not expected here.',
    ),
    "missing required argument": (
        FN,
        "  role                           = aws_iam_role.this.arn\n",
        "",
        'The argument "role" is required, but no definition was found.',
    ),
    "string where a number belongs": (
        FN,
        "memory_size                    = var.memory_size",
        'memory_size                    = "lots"',
        'Inappropriate value for attribute "memory_size": a number is required.',
    ),
    "block written as an attribute": (
        FN,
        "  tracing_config {\n    mode = var.tracing_mode\n  }\n",
        "  tracing_config = { mode = var.tracing_mode }\n",
        'Did you mean to define a block of type "tracing_config"?',
    ),
    "a second block where one is allowed": (
        FN,
        "  tracing_config {\n    mode = var.tracing_mode\n  }\n",
        "  tracing_config {\n    mode = var.tracing_mode\n  }\n" * 2,
        'No more than 1 "tracing_config" blocks are allowed',
    ),
    "a resource type that does not exist": (
        FN,
        'resource "aws_lambda_function_url" "this"',
        'resource "aws_lambda_function_uri" "this"',
        'The provider hashicorp/aws does not support resource type "aws_lambda_function_uri".',
    ),
    "a computed-only attribute set": (
        FN,
        "  handler                        = var.handler\n",
        '  handler                        = var.handler\n  qualified_arn = "x"\n',
        'Can\'t configure a value for "qualified_arn": its value will be decided automatically',
    ),
}


@pytest.mark.parametrize("engine", ENGINES, ids=[e.label for e in ENGINES])
@pytest.mark.parametrize("fault", FAULTS)
def test_validate_fails_each_fault_with_terraforms_own_message(workspace: Workspace, engine, fault: str) -> None:
    path, old, new, message = FAULTS[fault]
    ws = Workspace(workspace.root, engine.command, workspace.dist)
    copy = edited(ws, f"fault-{list(FAULTS).index(fault)}-{engine.kind}", path, old, new)
    ws.init(copy)
    run = ws.validate(copy, check=False)
    assert run.returncode == 1, run.output
    assert " ".join(message.split()) in " ".join(run.output.split()), run.output  # Terraform wraps at 78 columns


@pytest.mark.parametrize("engine", ENGINES, ids=[e.label for e in ENGINES])
def test_the_unedited_configuration_validates(workspace: Workspace, engine) -> None:
    ws = Workspace(workspace.root, engine.command, workspace.dist)
    copy = ws.copy(f"clean-{engine.kind}")
    ws.init(copy)
    assert "Success! The configuration is valid." in ws.validate(copy).output


def test_types_this_project_does_not_use_validate_and_plan_too(workspace: Workspace) -> None:
    folder = standalone(
        workspace,
        "unused-types",
        """
provider "aws" {
  region = "eu-central-1"
  default_tags {
    tags = { team = "ml" }
  }
  assume_role {
    role_arn = "arn:aws:iam::123456789012:role/deploy"
  }
}

data "aws_availability_zones" "zones" {}

resource "aws_dynamodb_table" "t" {
  name         = "results"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "run"
  attribute {
    name = "run"
    type = "S"
  }
  point_in_time_recovery {
    enabled = true
  }
}

resource "aws_sqs_queue" "q" {
  name                      = "jobs"
  message_retention_seconds = 86400
}

resource "aws_ecr_repository" "r" {
  name = "models"
  image_scanning_configuration {
    scan_on_push = true
  }
}

resource "aws_lambda_function" "snap" {
  function_name = "snap"
  role          = "arn:aws:iam::123456789012:role/r"
  runtime       = "python3.13"
  handler       = "app.handler"
  filename      = "app.zip"
  snap_start {
    apply_on = "PublishedVersions"
  }
}
""",
    )
    assert "Success!" in workspace.validate(folder).output
    run, plan = workspace.plan(folder)
    changes = {rc["address"]: rc["change"] for rc in plan["resource_changes"]}
    assert set(changes) == {
        "aws_dynamodb_table.t",
        "aws_sqs_queue.q",
        "aws_ecr_repository.r",
        "aws_lambda_function.snap",
    }
    assert changes["aws_ecr_repository.r"]["after_unknown"]["repository_url"] is True
    assert changes["aws_sqs_queue.q"]["after"]["message_retention_seconds"] == 86400
    # computed attributes inside nested blocks are unknown too
    assert changes["aws_lambda_function.snap"]["after_unknown"]["snap_start"] == [{"optimization_status": True}]
    assert changes["aws_lambda_function.snap"]["after"]["snap_start"][0]["apply_on"] == "PublishedVersions"


def test_terraform_sees_the_whole_schema(workspace: Workspace) -> None:
    """`terraform providers schema -json`: what the stand-in serves, as Terraform read it."""
    folder = standalone(workspace, "whole-schema", "")
    served = json.loads(workspace.run(folder, "providers", "schema", "-json").stdout)["provider_schemas"][schema.SOURCE]
    whole = schema.provider_schemas()
    assert set(served["resource_schemas"]) == set(whole["resource_schemas"])
    assert set(served["data_source_schemas"]) == set(whole["data_source_schemas"])
    fn, source = served["resource_schemas"]["aws_lambda_function"], whole["resource_schemas"]["aws_lambda_function"]
    assert set(fn["block"]["attributes"]) == set(source["block"]["attributes"])
    assert fn["block"]["attributes"]["role"].get("required") is True
    assert fn["block"]["block_types"]["tracing_config"]["max_items"] == 1
    assert {"region", "profile", "assume_role", "default_tags"} <= (
        set(served["provider"]["block"]["attributes"]) | set(served["provider"]["block"]["block_types"])
    )


# --- data sources and the rendered policy ------------------------------------------------------------
def test_data_sources_answer_from_the_providers_region(workspace: Workspace) -> None:
    folder = standalone(
        workspace,
        "data-sources",
        """
provider "aws" {
  region = "cn-north-1"
}
data "aws_region" "r" {}
data "aws_partition" "p" {}
data "aws_caller_identity" "me" {}
data "aws_iam_policy_document" "d" {
  statement {
    sid       = "Read"
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = ["arn:${data.aws_partition.p.partition}:s3:::b/*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws-cn:iam::${data.aws_caller_identity.me.account_id}:root"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalTag/team"
      values   = ["ml"]
    }
  }
  statement {
    effect    = "Deny"
    actions   = ["s3:DeleteObject"]
    resources = ["*"]
  }
}
output "region" { value = data.aws_region.r.region }
output "partition" { value = data.aws_partition.p.partition }
output "account" { value = data.aws_caller_identity.me.account_id }
output "policy" { value = data.aws_iam_policy_document.d.json }
""",
    )
    _, plan = workspace.plan(folder)
    out = {k: v["after"] for k, v in plan["output_changes"].items()}
    assert out["region"] == "cn-north-1" and out["partition"] == "aws-cn" and re.fullmatch(r"\d{12}", out["account"])
    assert json.loads(out["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Read",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetObject"],
                "Resource": "arn:aws-cn:s3:::b/*",
                "Principal": {"AWS": f"arn:aws-cn:iam::{out['account']}:root"},
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ml"}},
            },
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
        ],
    }


def test_a_policy_the_provider_would_reject_fails_validate(workspace: Workspace) -> None:
    folder = standalone(
        workspace,
        "bad-policy",
        """
data "aws_iam_policy_document" "d" {
  statement {
    effect  = "Perhaps"
    actions = ["s3:GetObject"]
  }
}
""",
    )
    run = workspace.validate(folder, check=False)
    assert run.returncode == 1 and 'expected effect to be one of ["Allow" "Deny"], got Perhaps' in run.output
    assert 'on main.tf line 12, in data "aws_iam_policy_document" "d"' in run.output, run.output


# --- refresh and apply ---------------------------------------------------------------------------------
def _state_for(attributes: dict, type_name: str, name: str) -> dict:
    """A state file as Terraform writes it, for one resource whose computed values are filled in."""
    block = schema.block_json("resource", type_name)
    placeholder = {"string": "offline", "bool": False, "number": 0}
    values = {}
    for attr, spec in block["attributes"].items():
        if attr in attributes:
            values[attr] = attributes[attr]
        elif spec.get("computed"):
            t = spec["type"]
            values[attr] = placeholder[t] if isinstance(t, str) else ({} if t[0] in ("map", "object") else [])
        else:
            values[attr] = None
    return {
        "version": 4,
        "terraform_version": "1.9.0",
        "serial": 1,
        "lineage": "0f9d1d42-5c2e-4d32-9d76-0c3c1d1a0001",
        "outputs": {},
        "check_results": None,
        "resources": [
            {
                "mode": "managed",
                "type": type_name,
                "name": name,
                "provider": f'provider["{schema.SOURCE}"]',
                "instances": [{"schema_version": 0, "attributes": values, "sensitive_attributes": []}],
            }
        ],
    }


def test_refresh_changes_nothing_and_apply_is_refused(workspace: Workspace) -> None:
    config = 'resource "aws_cloudwatch_log_group" "g" {\n  name = "/aws/lambda/x"\n  retention_in_days = %d\n}\n'
    folder = standalone(workspace, "refresh", config % 7)
    state = _state_for(
        {"name": "/aws/lambda/x", "retention_in_days": 7, "id": "/aws/lambda/x"}, "aws_cloudwatch_log_group", "g"
    )
    (folder / "terraform.tfstate").write_text(json.dumps(state))
    refresh, refreshed = workspace.plan(folder, "-refresh-only")
    assert "No changes" in refresh.output and refreshed.get("resource_drift", []) == [], refresh.output
    assert (
        refreshed["prior_state"]["values"]["root_module"]["resources"][0]["values"]
        == state["resources"][0]["instances"][0]["attributes"]
    )
    assert workspace.run(folder, "plan", "-detailed-exitcode", check=False).returncode == 0
    (folder / "main.tf").write_text(PROVIDER + config % 14)
    changed = workspace.run(folder, "plan", "-detailed-exitcode", check=False)
    assert changed.returncode == 2 and re.search(r"~ retention_in_days\s+= 7 -> 14", changed.output), changed.output
    apply = workspace.run(folder, "apply", "-auto-approve", check=False)
    assert apply.returncode == 1 and "Apply refused by the offline stand-in" in apply.output
    assert (
        json.loads((folder / "terraform.tfstate").read_text())["resources"][0]["instances"][0]["attributes"][
            "retention_in_days"
        ]
        == 7
    )


# --- the plan checks -----------------------------------------------------------------------------------
def test_the_root_plan_passes_every_rule(root_plan: dict, workspace: Workspace) -> None:
    expected = expected_functions(root_plan, SCENARIOS[0], workspace.dist)
    found = plancheck.check(root_plan, expected, HANDLER_BACKENDS)
    assert {(f.handler.split(".")[1], f.architecture) for f in found} == {
        (h, a) for h in ("benchmark", "predict", "predict_onnx") for a in ("arm64", "x86_64")
    }
    for f in found:
        kind = "onnx" if f.handler == "handlers.predict_onnx.handler" else "sklearn"
        assert f.layer == f'module.layer["{kind}-{f.architecture}"].aws_lambda_layer_version.this'
    policies = [
        json.loads(rc["change"]["after"]["policy"])
        for rc in root_plan["resource_changes"]
        if rc["type"] == "aws_iam_role_policy"
    ]
    assert len(policies) == 6 and all(
        p["Statement"][0]["Action"] == ["logs:PutLogEvents", "logs:CreateLogStream"] for p in policies
    )


def test_the_onnx_layers_are_uploaded_directly_and_the_sklearn_ones_through_s3(root_plan: dict, built: dict) -> None:
    """Each layer as its manifest says: the onnx zips fit Lambda's 50 MB direct upload, the scikit-learn ones do not."""
    layers = {rc["module_address"]: rc["change"]["after"] for rc in root_plan["resource_changes"]
              if rc["type"] == "aws_lambda_layer_version"}
    uploads = {rc["module_address"] for rc in root_plan["resource_changes"] if rc["type"] == "aws_s3_object"}
    assert len(layers) == 4
    for kind in ("sklearn", "onnx"):
        for arch in ("arm64", "x86_64"):
            address = f'module.layer["{kind}-{arch}"]'
            direct = built[kind][arch]["zip"]["fits_direct_upload"]
            assert (layers[address]["filename"] is not None) == direct and (address in uploads) == (not direct)
            assert layers[address]["layer_name"] == f"lambda-ml-bench-{kind}-py313-{arch}"
            assert layers[address]["description"].startswith(f"{kind} layer: ")
    assert all(built["onnx"][a]["zip"]["fits_direct_upload"] for a in ("arm64", "x86_64"))


def test_either_backend_or_both_can_be_deployed(workspace: Workspace, dist: Path) -> None:
    """var.backends picks the functions (and only their layers); an unknown backend, or onnx for a model without
    an ONNX export, is refused at plan with a message saying what to do; left unset, the model's own are deployed."""
    folder = workspace.copy("backends")
    workspace.init(folder)
    _, plan = workspace.plan(folder, '-var=backends=["onnx"]')
    assert {rc["change"]["after"]["handler"] for rc in plan["resource_changes"] if rc["type"] == "aws_lambda_function"
            } == {"handlers.predict_onnx.handler"}
    assert {rc["module_address"] for rc in plan["resource_changes"] if rc["type"] == "aws_lambda_layer_version"} == {
        'module.layer["onnx-arm64"]', 'module.layer["onnx-x86_64"]'}
    run, _ = workspace.plan(folder, '-var=backends=["tensorflow"]', check=False)
    assert run.returncode != 0 and "backends must be null or a non-empty list of values" in run.output
    # the same configuration over a package whose model has no ONNX export
    link = folder.parent / "dist"
    link.unlink()
    (link / "function").mkdir(parents=True)
    (link / "layers").symlink_to(dist / "layers")
    manifest = json.loads((dist / "function" / "function-py313.json").read_text())
    manifest["model"]["onnx_exported"] = False
    (link / "function" / "function-py313.json").write_text(json.dumps(manifest))
    (link / "function" / "function-py313.zip").symlink_to(dist / "function" / "function-py313.zip")
    run, _ = workspace.plan(folder, '-var=backends=["sklearn", "onnx"]', check=False)
    assert run.returncode != 0 and "has no ONNX export" in run.output and 'backends = ["sklearn"]' in run.output
    for options in ((), ('-var=backends=["sklearn"]',)):  # by default, the handlers that serve the model: no onnx
        _, plan = workspace.plan(folder, *options)
        functions = [rc["change"]["after"]["handler"] for rc in plan["resource_changes"]
                     if rc["type"] == "aws_lambda_function"]
        assert sorted(functions) == sorted(["handlers.benchmark.handler", "handlers.predict.handler"] * 2)


def test_expected_functions_come_from_the_planned_architectures(root_plan: dict) -> None:
    with pytest.raises(PlanCheckError, match="expected"):
        plancheck.check(root_plan, {("handlers.predict.handler", "arm64")}, HANDLER_BACKENDS)


PLAN_FAULTS = {
    "a function gets the other architecture's layer": (
        "main.tf",
        'layer_arn               = module.layer["${each.value.backend}-${each.value.architecture}"].layer_version_arn',
        'layer_arn               = module.layer["sklearn-x86_64"].layer_version_arn',
        (),
        "runs on arm64 but gets",
    ),
    "a layer chosen without the function's architecture": (
        "main.tf",
        'layer_arn               = module.layer["${each.value.backend}-${each.value.architecture}"].layer_version_arn',
        'layer_arn               = module.layer["${each.value.backend}-x86_64"].layer_version_arn',
        (),
        "not by the value that sets the function's architecture",
    ),
    "the onnx handler gets the scikit-learn layer": (
        "main.tf",
        'layer_arn               = module.layer["${each.value.backend}-${each.value.architecture}"].layer_version_arn',
        'layer_arn               = module.layer["sklearn-arm64"].layer_version_arn',
        ('-var=architectures=["arm64"]',),
        "(the onnx backend) but gets",
    ),
    "a role may write to every log group": (
        "modules/function/iam.tf",
        'resources = ["${local.log_group_arn}:*"]',
        'resources = ["*"]',
        (),
        "grants more than writing to",
    ),
    "a role may do more than write logs": (
        "modules/function/iam.tf",
        'actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]',
        'actions   = ["logs:*"]',
        (),
        "grants more than writing to",
    ),
    "a managed policy on the role": (
        "modules/function/iam.tf",
        'resource "aws_iam_role_policy" "logs" {',
        'resource "aws_iam_role_policy_attachment" "basic" {\n  role       = aws_iam_role.this.name\n'
        '  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"\n}\n\n'
        'resource "aws_iam_role_policy" "logs" {',
        (),
        "a managed policy on",
    ),
    "a public Function URL": (
        "modules/function/main.tf",
        'authorization_type = "AWS_IAM"',
        'authorization_type = "NONE"',
        ("-var=function_url=true",),
        "a public Function URL",
    ),
    "no log retention": (
        "modules/function/main.tf",
        "  retention_in_days = var.log_retention_days\n",
        "",
        (),
        "no retention_in_days",
    ),
    # --- what a real account meets (the configuration before each fix) ---
    "an environment block with no variables (plan never settles, #43763)": (
        "modules/function/main.tf",
        'dynamic "environment" {\n    for_each = length(var.environment) > 0 ? [1] : []\n',
        'dynamic "environment" {\n    for_each = [1]\n',
        ("-var=snapstart=true",),
        "never settles",
    ),
    "asynchronous invocations retried": (
        "modules/function/main.tf",
        "  maximum_retry_attempts       = 0\n",
        "",
        (),
        "are retried",
    ),
    "the alias's asynchronous invocations retried": (
        "modules/function/main.tf",
        'toset(local.published ? ["$LATEST", "live"] : ["$LATEST"])',
        'toset(["$LATEST"])',
        ("-var=snapstart=true",),
        ":live are retried",
    ),
    "logging_config in the aws-cn partition (#34810)": (
        "modules/function/main.tf",
        'for_each = data.aws_partition.current.partition == "aws" ? [1] : []',
        "for_each = [1]",
        ("-var=region=cn-north-1",),
        "refused in the aws-cn partition",
    ),
    "the bucket takes plain HTTP": (
        "main.tf",
        'values   = ["false"]',
        'values   = ["true"]',
        (),
        "denies requests without TLS",
    ),
    "incomplete multipart uploads kept": (
        "main.tf",
        "    abort_incomplete_multipart_upload {\n      days_after_initiation = 1\n    }\n",
        "",
        (),
        "aborts incomplete multipart uploads",
    ),
    "noncurrent versions kept for ever": (
        "main.tf",
        "    noncurrent_version_expiration {\n      noncurrent_days = var.noncurrent_days\n    }\n",
        "",
        (),
        "expires noncurrent versions",
    ),
    "URL callers given InvokeFunctionUrl only": (
        "main.tf",
        'actions   = ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]\n    resources = flatten(',
        'actions   = ["lambda:InvokeFunctionUrl"]\n    resources = flatten(',
        ("-var=function_url=true",),
        "also needs ['lambda:InvokeFunction']",
    ),
    # --- compute modes ---
    "provisioned concurrency on $LATEST": (
        "modules/function/main.tf",
        "  qualifier                         = aws_lambda_alias.live[0].name\n",
        '  qualifier                         = "$LATEST"\n',
        ("-var=provisioned_concurrency={predict=2}",),
        "not on an alias of a published version",
    ),
    "an operator role with more than AWS's operator policy": (
        "modules/capacity_provider/main.tf",
        'policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSLambdaManagedEC2Resource'
        'Operator"',
        'policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AdministratorAccess"',
        MANAGED,
        "holds AWSLambdaManagedEC2ResourceOperator and nothing else",
    ),
    "an operator role anyone may assume": (
        "modules/capacity_provider/main.tf",
        'identifiers = ["lambda.amazonaws.com"]',
        'identifiers = ["ec2.amazonaws.com"]',
        MANAGED,
        "must trust lambda.amazonaws.com alone",
    ),
    "a Graviton provider declared x86_64": (
        "modules/capacity_provider/main.tf",
        "architectures           = [var.architecture]",
        'architectures           = ["x86_64"]',
        MANAGED,
        "allows instance types not of x86_64",
    ),
    "a Managed Instances function that publishes nothing": (
        "modules/function/main.tf",
        "  publish                        = local.published\n",
        "  publish                        = false\n",
        MANAGED,
        "runs on Managed Instances but publishes no version",
    ),
}


@pytest.mark.parametrize("fault", PLAN_FAULTS)
def test_the_plan_checks_catch_each_broken_rule(workspace: Workspace, fault: str) -> None:
    path, old, new, options, message = PLAN_FAULTS[fault]
    copy = edited(workspace, f"plan-fault-{list(PLAN_FAULTS).index(fault)}", path, old, new)
    workspace.init(copy)
    _, plan = workspace.plan(copy, *options)
    with pytest.raises(PlanCheckError, match=re.escape(message)):
        plancheck.check(plan, expected_functions(plan, SCENARIOS[0], workspace.dist), HANDLER_BACKENDS)


REFUSED_MODES = {
    "SnapStart beside provisioned concurrency": (
        ("-var=snapstart=true", "-var=provisioned_concurrency={predict=2}"),
        "SnapStart does not support provisioned concurrency"),
    "Managed Instances without a VPC": (MANAGED[:3], "needs managed_instances_vpc"),
    "Managed Instances under 2,048 MB": (MANAGED[:1] + MANAGED[2:], "needs at least 2,048 MB"),
    "x86 instance types for a Graviton provider": (
        ('-var=managed_instances_handlers={"predict-onnx"={instance_types={arm64=["m7i.large"]}}}', *MANAGED[1:]),
        "instance_types must all be of the provider's architecture"),
    "provisioned concurrency for a handler functions.json lacks": (
        ("-var=provisioned_concurrency={predictt=2}",), "maps handlers of functions.json"),
}


@pytest.mark.parametrize("case", REFUSED_MODES)
def test_terraform_refuses_compute_modes_that_cannot_work(workspace: Workspace, case: str) -> None:
    """Configurations AWS would refuse (or that cannot run) stop at plan with a message saying why."""
    options, message = REFUSED_MODES[case]
    folder = workspace.copy(f"refused-mode-{list(REFUSED_MODES).index(case)}")
    workspace.init(folder)
    run, _ = workspace.plan(folder, *options, check=False)
    assert run.returncode != 0 and message in re.sub(r"\s+", " ", run.output), run.output[-2000:]


@pytest.mark.parametrize("value", ["0", "-2", "1.5"])
def test_reserved_concurrency_must_be_unreserved_or_at_least_one(workspace: Workspace, value: str) -> None:
    """0 throttles every call: Terraform refuses it at plan, before AWS would accept it."""
    folder = workspace.copy(f"reserved-{value}")
    workspace.init(folder)
    run, _ = workspace.plan(folder, f"-var=reserved_concurrency={value}", check=False)
    assert run.returncode != 0 and "0 throttles every invocation" in run.output
    _, plan = workspace.plan(folder, "-var=reserved_concurrency=5")
    assert {
        rc["change"]["after"]["reserved_concurrent_executions"]
        for rc in plan["resource_changes"]
        if rc["type"] == "aws_lambda_function"
    } == {5}


def test_a_real_account_plan_in_every_partition(workspace: Workspace) -> None:
    """Per region: logging_config only in aws, ARNs in the region's partition, the targets output carries each
    function's region and ARN, and the URL caller policy names both actions on every function."""
    folder = workspace.copy("partitions")
    workspace.init(folder)
    for region, partition in (("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")):
        _, plan = workspace.plan(folder, f"-var=region={region}", "-var=function_url=true")
        plancheck.check(plan, expected_functions(plan, SCENARIOS[0], workspace.dist), HANDLER_BACKENDS)
        functions = [rc["change"]["after"] for rc in plan["resource_changes"] if rc["type"] == "aws_lambda_function"]
        assert all(bool(f["logging_config"]) == (partition == "aws") for f in functions), region
        assert all(f["environment"] == [] for f in functions)
        targets = plan["output_changes"]["benchmark_targets"]["after"]
        for arch, target in targets.items():
            for handler, fn in target["functions"].items():
                assert fn["region"] == region
                assert fn["arn"] == f"arn:{partition}:lambda:{region}:{ACCOUNT}:function:{fn['name']}"
        policy = json.loads(plan["planned_values"]["outputs"]["function_url_caller_policy"]["value"])
        (statement,) = policy["Statement"]
        assert set(statement["Action"]) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
        assert {f"{a}:*" for a in statement["Resource"] if not a.endswith(":*")} == {
            a for a in statement["Resource"] if a.endswith(":*")
        } and len(statement["Resource"]) == 2 * len(functions)


# --- isolation -----------------------------------------------------------------------------------------
def _snapshot(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*")}


def test_the_real_configuration_is_never_touched(workspace: Workspace) -> None:
    """Checks run on copies with their own TF_DATA_DIR: terraform/ gets no .terraform/ and no lock file
    with the stand-in's hashes, and the CLI configuration names only the mirror, for hashicorp/aws only."""
    before = _snapshot(TERRAFORM_DIR)
    copy = workspace.copy("isolation")
    workspace.init(copy)
    workspace.plan(copy)
    assert _snapshot(TERRAFORM_DIR) == before
    assert '"6.47.0"' in (copy / ".terraform.lock.hcl").read_text()
    assert (workspace.root / "data" / "isolation-terraform" / "providers").is_dir()
    assert not (copy / ".terraform").exists()
    rc = workspace.cli_config.read_text()
    assert "filesystem_mirror" in rc and f'include = ["{schema.SOURCE}"]' in rc
    assert "dev_overrides" not in rc and "direct" not in rc
    env = workspace.env("x")
    assert env["CHECKPOINT_DISABLE"] == "1" and env["TF_DATA_DIR"].startswith(str(workspace.root))


def test_a_plans_answer_deploys_as_written(workspace: Workspace) -> None:
    """What `lmb plan --write-tfvars` writes for each mode, picked up by Terraform as plan.auto.tfvars.json, plans the
    answer's architecture, memory and mode for its handler, and the plan passes every rule."""
    from lambda_ml_bench.measure import plan as planner
    from lambda_ml_bench.measure import traffic

    recs = planner.read_records(Path(__file__).parents[1] / "data" / "compare-local-lambda.jsonl")
    ms = [m for m in planner.measurements(recs) if m.workload == "10 features" and m.architecture == "x86_64"]
    opts, _ = planner.options_for(ms, traffic.parse("steady:5/s"), restore_ms=300.0)
    for mode in planner.MODES:
        best = min((o for o in opts if o.mode == mode), key=lambda o: o.monthly_usd)
        folder = workspace.copy(f"answer-{mode}")
        written = planner.tfvars(best, "predict")
        if mode == "managed-instances":
            written["managed_instances_vpc"] = {"subnet_ids": ["subnet-0a1b2c3d4e5f60001"],
                                                "security_group_ids": ["sg-0a1b2c3d4e5f6"]}
        (folder / "plan.auto.tfvars.json").write_text(json.dumps(written))
        workspace.init(folder)
        _, plan = workspace.plan(folder)
        plancheck.check(plan, expected_functions(plan, SCENARIOS[0], workspace.dist), HANDLER_BACKENDS)
        predict = [rc["change"]["after"] for rc in plan["resource_changes"] if rc["type"] == "aws_lambda_function"
                   and rc["change"]["after"]["handler"] == "handlers.predict.handler"]
        assert [p["architectures"] for p in predict] == [[best.m.architecture]], mode
        assert predict[0]["memory_size"] == written["memory_sizes"]["predict"]
        provisioned = [rc["change"]["after"]["provisioned_concurrent_executions"] for rc in plan["resource_changes"]
                       if rc["type"] == "aws_lambda_provisioned_concurrency_config"]
        assert provisioned == ([best.setting["provisioned"]] if mode == "provisioned" else [])
        assert bool(predict[0].get("snap_start")) == (mode == "snapstart")
        assert bool(predict[0].get("capacity_provider_config")) == (mode == "managed-instances")
