variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "artifacts_bucket" {
  description = "An existing private bucket for the layer zip (it is over the 50 MB direct-upload limit)."
  type        = string
}
