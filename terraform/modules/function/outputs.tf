output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "invoke_qualifier" {
  description = "What to invoke: the alias `live` with SnapStart, else $LATEST."
  value       = var.snapstart ? aws_lambda_alias.live[0].name : "$LATEST"
}

output "function_url" {
  description = "The Function URL (AWS_IAM authentication), or null."
  value       = var.function_url ? aws_lambda_function_url.this[0].function_url : null
}

output "log_group_name" {
  description = "The function's own log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "role_arn" {
  description = "The function's role: writes to its own log group only."
  value       = aws_iam_role.this.arn
}
