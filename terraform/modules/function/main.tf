locals {
  log_group_name = "/aws/lambda/${var.name}"
}

resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_158: the logs hold timings and errors, no customer data; AWS-managed encryption applies
  # checkov:skip=CKV_AWS_338: a benchmark's logs are not kept for a year; retention is a variable
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_117: no VPC: the function calls nothing inside one
  # checkov:skip=CKV_AWS_116: synchronous invocations only; errors go back to the caller, no DLQ to drain
  # checkov:skip=CKV_AWS_173: the environment holds no secrets; AWS-managed encryption applies
  # checkov:skip=CKV_AWS_272: code signing needs a signing profile outside this project; zips are pinned by sha256
  # checkov:skip=CKV_AWS_115: reserved concurrency is a variable, unreserved by default so benchmarks are not throttled
  # checkov:skip=CKV_AWS_50: X-Ray tracing is a variable, off by default (it adds cost and latency to benchmarks)
  function_name                  = var.name
  role                           = aws_iam_role.this.arn
  handler                        = var.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  filename                       = var.package_path
  source_code_hash               = var.package_hash
  layers                         = [var.layer_arn]
  reserved_concurrent_executions = var.reserved_concurrency
  publish                        = var.snapstart

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = var.tracing_mode
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  dynamic "snap_start" {
    for_each = var.snapstart ? [1] : []

    content {
      apply_on = "PublishedVersions"
    }
  }

  lifecycle {
    precondition {
      condition     = !var.snapstart || contains(["python3.12", "python3.13", "python3.14"], var.runtime)
      error_message = "SnapStart for Python needs python3.12 or newer."
    }
  }

  depends_on = [aws_iam_role_policy.logs]
}

resource "aws_lambda_alias" "live" {
  count = var.snapstart ? 1 : 0

  name             = "live"
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version
}

resource "aws_lambda_function_url" "this" {
  count = var.function_url ? 1 : 0

  function_name      = aws_lambda_function.this.function_name
  qualifier          = var.snapstart ? aws_lambda_alias.live[0].name : null
  authorization_type = "AWS_IAM"
}
