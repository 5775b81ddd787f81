locals {
  manifest = jsondecode(file(var.manifest_path))
  # The build knows Lambda's direct-upload limit (52,428,800 bytes in the API call itself); larger zips go
  # through S3.
  via_s3 = !local.manifest.zip.fits_direct_upload
}

resource "aws_s3_object" "this" {
  count = local.via_s3 ? 1 : 0

  bucket      = var.s3_bucket
  key         = "layers/${var.name}/${local.manifest.zip.sha256}.zip"
  source      = var.zip_path
  source_hash = local.manifest.zip.sha256

  lifecycle {
    precondition {
      condition     = var.s3_bucket != null
      error_message = "This layer zip is over 50 MB: pass s3_bucket so it can be uploaded through S3."
    }
  }
}

resource "aws_lambda_layer_version" "this" {
  layer_name               = var.name
  description              = "${local.manifest.backend} layer: ${join(", ", [for p, v in local.manifest.packages : "${p} ${v.version}"])} for ${local.manifest.runtime} on ${local.manifest.architecture}"
  compatible_architectures = [local.manifest.architecture]
  compatible_runtimes      = [local.manifest.runtime]
  source_code_hash         = local.manifest.zip.sha256_base64

  filename          = local.via_s3 ? null : var.zip_path
  s3_bucket         = local.via_s3 ? aws_s3_object.this[0].bucket : null
  s3_key            = local.via_s3 ? aws_s3_object.this[0].key : null
  s3_object_version = local.via_s3 ? aws_s3_object.this[0].version_id : null
}
