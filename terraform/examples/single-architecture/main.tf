# Only the predict handler, only on Graviton: the two modules as a user calls them.
locals {
  repo    = "${path.module}/../../.."
  package = jsondecode(file("${local.repo}/dist/function/function-py313.json"))
}

module "layer" {
  source        = "../../modules/layer"
  name          = "sklearn-py313-arm64"
  zip_path      = "${local.repo}/dist/layers/sklearn-py313-arm64.zip"
  manifest_path = "${local.repo}/dist/layers/sklearn-py313-arm64.json"
  s3_bucket     = var.artifacts_bucket
}

module "predict" {
  source       = "../../modules/function"
  name         = "sklearn-predict-py313-arm64"
  architecture = module.layer.architecture
  runtime      = module.layer.runtime
  handler      = "handlers.predict.handler"
  package_path = "${local.repo}/dist/function/function-py313.zip"
  package_hash = local.package.zip.sha256_base64
  layer_arn    = module.layer.layer_version_arn
  memory_size  = 1769
  timeout      = 30
}
