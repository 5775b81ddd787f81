"""How long Terraform's offline validate and plan take against the stand-in provider, per Terraform version,
for a ten-resource configuration (every command starts the plugin and reads the whole AWS schema)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lambda_ml_bench.tfcheck.workspace import Workspace, engines

pytestmark = pytest.mark.integration
ENGINES = engines()
TEN_RESOURCES = '''
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

provider "aws" {
  region = "eu-west-1"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "r" {
  count              = 3
  name               = "bench-${count.index}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_cloudwatch_log_group" "g" {
  count             = 3
  name              = "/aws/lambda/bench-${count.index}"
  retention_in_days = 7
}

resource "aws_lambda_function" "f" {
  count         = 3
  function_name = "bench-${count.index}"
  role          = aws_iam_role.r[count.index].arn
  runtime       = "python3.13"
  handler       = "app.handler"
  filename      = "app.zip"
  architectures = [count.index == 0 ? "arm64" : "x86_64"]
  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.g[count.index].name
  }
}

resource "aws_sqs_queue" "q" {
  name = "bench"
}
'''


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Workspace, Path]]:
    out = {}
    for engine in ENGINES:
        ws = Workspace(tmp_path_factory.mktemp("tfbench"), engine.command).install()
        folder = ws.root / "ten"
        folder.mkdir()
        (folder / "main.tf").write_text(TEN_RESOURCES)
        ws.init(folder)
        out[engine.label] = (ws, folder)
    return out


@pytest.mark.benchmark(group="terraform-offline")
@pytest.mark.parametrize("command", ["validate", "plan"])
@pytest.mark.parametrize("engine", [e.label for e in ENGINES])
def test_offline_command(benchmark, folders, engine: str, command: str) -> None:
    ws, folder = folders[engine]
    benchmark.extra_info.update({"terraform": engine, "command": command, "resources": 10})
    args = ("validate",) if command == "validate" else ("plan", "-input=false", "-lock=false", "-refresh=false")
    run = benchmark.pedantic(ws.run, args=(folder, *args), rounds=5, iterations=1, warmup_rounds=1)
    assert ("Success!" in run.output) if command == "validate" else ("Plan: 10 to add" in run.output), run.output
