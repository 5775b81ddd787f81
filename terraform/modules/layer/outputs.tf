output "layer_version_arn" {
  description = "ARN of the published layer version."
  value       = aws_lambda_layer_version.this.arn
}

output "architecture" {
  description = "The one architecture this layer was built for (from its manifest)."
  value       = local.manifest.architecture
}

output "runtime" {
  description = "The runtime this layer was built for (from its manifest)."
  value       = local.manifest.runtime
}

output "uploaded_via_s3" {
  description = "Whether the zip went through S3 (over the 50 MB direct-upload limit)."
  value       = local.via_s3
}
