locals {
  # The functions to deploy, shared with the local Lambda (src/lambda_ml_bench/spec.py), so the two cannot drift.
  spec           = jsondecode(file("${path.module}/functions.json"))
  repo           = "${path.module}/.."
  python_version = coalesce(var.python_version, local.spec.python_version)
  runtime        = "python${local.python_version}"
  runtime_tag    = "py${replace(local.python_version, ".", "")}"
  package_zip    = templatestring(local.spec.package, { runtime_tag = local.runtime_tag })
  package        = jsondecode(file("${local.repo}/${trimsuffix(local.package_zip, ".zip")}.json"))

  # The handlers of the chosen backends; a handler's backend is the layer it runs on. A predict handler runs only
  # where its backend serves the packaged model (its own format's, and onnx when exported): spec.py's serving().
  backends       = var.backends == null ? local.spec.backends : var.backends
  model_backends = [for b in try(local.package.model.backends, ["sklearn", "onnx"]) : b if b != "onnx" || local.package.model.onnx_exported]
  handlers = { for key, h in local.spec.handlers : key => h if contains(local.backends, h.backend) && (
  trimsuffix(key, "-${h.backend}") != "predict" || contains(local.model_backends, h.backend)) }

  # Each handler's architectures: its own in handler_architectures, else every one of `architectures`.
  handler_architectures = { for h in keys(local.handlers) : h => lookup(var.handler_architectures, h, var.architectures) }
  architectures         = distinct(flatten(values(local.handler_architectures)))

  functions = {
    for pair in flatten([for h in keys(local.handlers) : [for a in local.handler_architectures[h] : { handler = h, architecture = a }]]) : "${pair.handler}-${pair.architecture}" => {
      handler_key  = pair.handler
      architecture = pair.architecture
      backend      = local.handlers[pair.handler].backend
      name         = templatestring(local.spec.name_format, { project = local.spec.project, handler = pair.handler, runtime_tag = local.runtime_tag, architecture = pair.architecture })
      handler      = local.handlers[pair.handler].handler
      memory_size  = lookup(var.memory_sizes, pair.handler, local.handlers[pair.handler].memory_size)
      timeout      = lookup(var.timeouts, pair.handler, local.handlers[pair.handler].timeout)
      snapstart    = var.snapstart || contains(var.snapstart_handlers, pair.handler)
      provisioned  = lookup(var.provisioned_concurrency, pair.handler, 0)
      managed      = contains(keys(var.managed_instances_handlers), pair.handler)
    }
  }

  # One capacity provider per architecture some handler runs on Managed Instances with, allowing every instance type
  # the handlers name for it.
  capacity_providers = {
    for a in distinct(flatten([for h, m in var.managed_instances_handlers : keys(m.instance_types) if contains(keys(local.handlers), h)])) : a => distinct(flatten([
      for h, m in var.managed_instances_handlers : lookup(m.instance_types, a, []) if contains(keys(local.handlers), h)
    ]))
  }

  # One layer per backend and architecture the chosen functions run on, keyed BACKEND-ARCHITECTURE.
  layers = {
    for pair in distinct([for f in values(local.functions) : [f.backend, f.architecture]]) : "${pair[0]}-${pair[1]}" => {
      backend = pair[0]
      zip     = templatestring(local.spec.layer, { backend = pair[0], runtime_tag = local.runtime_tag, architecture = pair[1] })
      name    = "${local.spec.project}-${pair[0]}-${local.runtime_tag}-${pair[1]}"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  bucket_name = "${local.spec.project}-artifacts-${data.aws_caller_identity.current.account_id}-${var.region}"
  # The bucket's ARN from plan-time values, so the plan shows its rendered policy.
  bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${local.bucket_name}"
}

# --- the layers, one per kind and architecture; zips over 50 MB go through the artifacts bucket --
module "layer" {
  for_each = local.layers

  source        = "./modules/layer"
  name          = each.value.name
  zip_path      = "${local.repo}/${each.value.zip}"
  manifest_path = "${local.repo}/${trimsuffix(each.value.zip, ".zip")}.json"
  s3_bucket     = aws_s3_bucket.artifacts.id

  depends_on = [aws_s3_bucket_versioning.artifacts, aws_s3_bucket_public_access_block.artifacts]
}

# --- the functions, one per handler and architecture, each with its backend's layer for its own architecture
module "function" {
  for_each = local.functions

  source                  = "./modules/function"
  name                    = each.value.name
  architecture            = each.value.architecture
  runtime                 = local.runtime
  handler                 = each.value.handler
  package_path            = "${local.repo}/${local.package_zip}"
  package_hash            = local.package.zip.sha256_base64
  layer_arn               = module.layer["${each.value.backend}-${each.value.architecture}"].layer_version_arn
  memory_size             = each.value.memory_size
  timeout                 = each.value.timeout
  log_retention_days      = var.log_retention_days
  reserved_concurrency    = var.reserved_concurrency
  tracing_mode            = var.tracing_mode
  function_url            = var.function_url
  snapstart               = each.value.snapstart
  provisioned_concurrency = each.value.provisioned
  managed_instances       = each.value.managed
  capacity_provider_arn   = each.value.managed ? module.capacity_provider[each.value.architecture].arn : null
  memory_gib_per_vcpu     = each.value.managed ? var.managed_instances_handlers[each.value.handler_key].memory_gib_per_vcpu : null
}

# --- Lambda Managed Instances: a capacity provider per architecture in use, in the given VPC ---------
module "capacity_provider" {
  for_each = local.capacity_providers

  source             = "./modules/capacity_provider"
  name               = "${local.spec.project}-${each.key}"
  architecture       = each.key
  instance_types     = each.value
  subnet_ids         = var.managed_instances_vpc.subnet_ids
  security_group_ids = var.managed_instances_vpc.security_group_ids
  max_vcpus          = var.managed_instances_max_vcpus
}

# What a caller needs to invoke every Function URL here (an output; the modules give one per function).
data "aws_iam_policy_document" "url_caller" {
  count = var.function_url ? 1 : 0

  statement {
    sid       = "InvokeThroughFunctionUrl"
    actions   = ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]
    resources = flatten([for f in module.function : [f.function_arn, "${f.function_arn}:*"]])

    condition {
      test     = "StringEquals"
      variable = "lambda:FunctionUrlAuthType"
      values   = ["AWS_IAM"]
    }
  }
}

# --- the artifacts bucket: private, encrypted, versioned, TLS only, old versions expire -------
resource "aws_s3_bucket" "artifacts" {
  # checkov:skip=CKV_AWS_18: holds build artifacts only, each pinned by sha256; access logs would need another bucket
  # checkov:skip=CKV_AWS_144: artifacts are rebuilt from the lock files; no cross-region copy needed
  # checkov:skip=CKV_AWS_145: SSE-S3 encrypts at rest; the objects are builds of public packages (no secrets), and SSE-KMS, even with the free AWS-managed key, adds KMS request charges and a key policy every layer fetch must meet, protecting nothing more here
  # checkov:skip=CKV2_AWS_62: nothing reacts to new artifacts; no event notifications
  bucket = local.bucket_name
  # destroy empties the bucket, every noncurrent version included: it holds only rebuildable zips
  force_destroy = true
}

# Requests over plain HTTP are refused.
data "aws_iam_policy_document" "artifacts" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts.json

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

# A replaced layer zip stays as a noncurrent version until it expires; an interrupted multipart
# upload leaves parts that are billed until aborted.
resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-replaced-zips"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}
