output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function (built from the partition, region, account and name, so known at plan time)."
  value       = local.function_arn
}

output "invoke_qualifier" {
  description = "What to invoke: the alias `live` when a version is published (SnapStart, provisioned concurrency, Managed Instances), else $LATEST."
  value       = local.published ? aws_lambda_alias.live[0].name : "$LATEST"
}

output "function_url" {
  description = "The Function URL (AWS_IAM authentication), or null."
  value       = var.function_url ? aws_lambda_function_url.this[0].function_url : null
}

output "function_url_caller_policy" {
  description = "The identity policy a caller of the Function URL needs (lambda:InvokeFunctionUrl and lambda:InvokeFunction), or null."
  value       = var.function_url ? data.aws_iam_policy_document.url_caller[0].json : null
}

output "function_region" {
  description = "The region the function is deployed in."
  value       = data.aws_region.current.region
}

output "log_group_name" {
  description = "The function's own log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "role_arn" {
  description = "The function's role: writes to its own log group only."
  value       = aws_iam_role.this.arn
}
