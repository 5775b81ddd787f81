output "function_name" {
  description = "Invoke it: aws lambda invoke --function-name $(terraform output -raw function_name) ..."
  value       = module.predict.function_name
}
