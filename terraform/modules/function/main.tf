locals {
  log_group_name = "/aws/lambda/${var.name}"
  # A published version behind the alias `live` serves whenever a mode needs one: SnapStart snapshots published
  # versions, provisioned concurrency is configured on an alias, Managed Instances run published versions.
  published = var.snapstart || var.provisioned_concurrency > 0 || var.managed_instances
}

resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_158: the logs hold timings and errors, no customer data; AWS-managed encryption applies
  # checkov:skip=CKV_AWS_338: a benchmark's logs are not kept for a year; retention is a variable
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_117: no VPC: the function calls nothing inside one
  # checkov:skip=CKV_AWS_116: a failed asynchronous invocation is dropped, not retried or queued (event_invoke_config below: no retries, events expire after 60 s); errors reach the caller of a synchronous invoke
  # checkov:skip=CKV_AWS_173: the environment holds no secrets; AWS-managed encryption applies
  # checkov:skip=CKV_AWS_272: no code signing (it needs an AWS Signer profile and signed zips in S3); source_code_hash only tells Terraform the local zip changed, it proves nothing about who built it
  # checkov:skip=CKV_AWS_115: unreserved by default: a reservation is taken from the account's pool, which must keep 100 unreserved (new accounts may have 10 in all); set reserved_concurrency to cap a function
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
  publish                        = local.published

  # No block at all without variables: an empty one never settles in a plan (provider issue #43763),
  # so every apply would publish a new version (and take a new SnapStart snapshot).
  dynamic "environment" {
    for_each = length(var.environment) > 0 ? [1] : []

    content {
      variables = var.environment
    }
  }

  tracing_config {
    mode = var.tracing_mode
  }

  # logging_config is refused outside the aws partition (provider issue #34810); there the function
  # writes to /aws/lambda/<name>, which is the same log group.
  dynamic "logging_config" {
    for_each = data.aws_partition.current.partition == "aws" ? [1] : []

    content {
      log_format = "Text"
      log_group  = aws_cloudwatch_log_group.this.name
    }
  }

  dynamic "snap_start" {
    for_each = var.snapstart ? [1] : []

    content {
      apply_on = "PublishedVersions"
    }
  }

  dynamic "capacity_provider_config" {
    for_each = var.managed_instances ? [1] : []

    content {
      lambda_managed_instances_capacity_provider_config {
        capacity_provider_arn                     = var.capacity_provider_arn
        execution_environment_memory_gib_per_vcpu = var.memory_gib_per_vcpu
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !var.snapstart || contains(["python3.12", "python3.13", "python3.14"], var.runtime)
      error_message = "SnapStart for Python needs python3.12 or newer."
    }

    precondition {
      condition     = !(var.snapstart && var.provisioned_concurrency > 0)
      error_message = "SnapStart does not support provisioned concurrency: choose one for ${var.name}."
    }

    precondition {
      condition     = var.managed_instances == (var.capacity_provider_arn != null)
      error_message = "managed_instances and capacity_provider_arn go together: ${var.name}."
    }

    precondition {
      condition     = !var.managed_instances || (!var.snapstart && var.provisioned_concurrency == 0)
      error_message = "A function on Managed Instances has neither SnapStart nor provisioned concurrency (it has no cold starts per request): ${var.name}."
    }

    precondition {
      condition     = !var.managed_instances || var.memory_size >= 2048
      error_message = "A function on Managed Instances needs at least 2,048 MB (one vCPU at 2 GiB per vCPU): ${var.name} has ${var.memory_size}."
    }
  }

  depends_on = [aws_iam_role_policy.logs]
}

resource "aws_lambda_alias" "live" {
  count = local.published ? 1 : 0

  name             = "live"
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version
}

# Lambda retries a failed asynchronous invocation twice by default: one Event invoke of a benchmark
# would then be billed up to three times. No retries, and an event older than a minute is dropped.
resource "aws_lambda_function_event_invoke_config" "this" {
  for_each = toset(local.published ? ["$LATEST", "live"] : ["$LATEST"])

  function_name                = aws_lambda_function.this.function_name
  qualifier                    = each.key
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60

  depends_on = [aws_lambda_alias.live]
}

# Environments kept initialised on `live`, billed whether used or not; requests beyond them run on-demand.
resource "aws_lambda_provisioned_concurrency_config" "live" {
  count = var.provisioned_concurrency > 0 ? 1 : 0

  function_name                     = aws_lambda_function.this.function_name
  qualifier                         = aws_lambda_alias.live[0].name
  provisioned_concurrent_executions = var.provisioned_concurrency
}

resource "aws_lambda_function_url" "this" {
  count = var.function_url ? 1 : 0

  function_name      = aws_lambda_function.this.function_name
  qualifier          = local.published ? aws_lambda_alias.live[0].name : null
  authorization_type = "AWS_IAM"
}
