# --- the layer ---------------------------------------------------------------------------------
variable "name" {
  description = "Layer name in AWS; spells out runtime and architecture, e.g. lambda-ml-bench-sklearn-py313-arm64."
  type        = string
}

variable "zip_path" {
  description = "Path of the layer zip built by `make layers`."
  type        = string
}

variable "manifest_path" {
  description = "Path of the JSON manifest beside the zip (sha256, sizes, architecture, runtime)."
  type        = string
}

# --- upload ------------------------------------------------------------------------------------
variable "s3_bucket" {
  description = "Bucket for zips over Lambda's 50 MB direct-upload limit; null uploads directly (small zips only)."
  type        = string
  default     = null
}
