output "arn" {
  description = "The capacity provider's ARN, for a function's capacity_provider_arn."
  value       = aws_lambda_capacity_provider.this.arn
}

output "operator_role_arn" {
  description = "The role Lambda assumes to manage the provider's instances."
  value       = aws_iam_role.operator.arn
}
