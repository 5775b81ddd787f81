output "function_names" {
  description = "Function names by architecture, then handler: { arm64 = { benchmark = ..., predict = ..., predict-onnx = ... }, ... }."
  value       = { for a in local.architectures : a => { for h in keys(local.handlers) : h => module.function["${h}-${a}"].function_name if contains(local.handler_architectures[h], a) } }
}

output "function_arns" {
  description = "Function ARNs by architecture, then handler."
  value       = { for a in local.architectures : a => { for h in keys(local.handlers) : h => module.function["${h}-${a}"].function_arn if contains(local.handler_architectures[h], a) } }
}

output "layer_arns" {
  description = "Layer version ARNs by KIND-ARCHITECTURE (sklearn-arm64, onnx-x86_64, ...)."
  value       = { for key, layer in module.layer : key => layer.layer_version_arn }
}

output "benchmark_targets" {
  description = "What the benchmark driver needs, by architecture: region and, per handler, name, ARN, region, qualifier, memory, timeout, log group, URL."
  value = {
    for a in local.architectures : a => {
      region = var.region
      functions = {
        for h in keys(local.handlers) : h => {
          name        = module.function["${h}-${a}"].function_name
          arn         = module.function["${h}-${a}"].function_arn
          region      = module.function["${h}-${a}"].function_region
          qualifier   = module.function["${h}-${a}"].invoke_qualifier
          memory_size = local.functions["${h}-${a}"].memory_size
          timeout     = local.functions["${h}-${a}"].timeout
          backend     = local.functions["${h}-${a}"].backend
          log_group   = module.function["${h}-${a}"].log_group_name
          url         = module.function["${h}-${a}"].function_url
        } if contains(local.handler_architectures[h], a)
      }
    }
  }
}

output "artifacts_bucket" {
  description = "The private bucket large layer zips are uploaded through."
  value       = aws_s3_bucket.artifacts.id
}

output "function_url_caller_policy" {
  description = "With function_url: the identity policy (JSON) a caller needs to invoke every Function URL here (lambda:InvokeFunctionUrl and lambda:InvokeFunction); null otherwise."
  value       = var.function_url ? data.aws_iam_policy_document.url_caller[0].json : null
}

output "capacity_providers" {
  description = "Managed Instances capacity providers by architecture (ARN and operator role), empty without managed_instances_handlers."
  value       = { for a, p in module.capacity_provider : a => { arn = p.arn, operator_role_arn = p.operator_role_arn } }
}
