# --- the function ------------------------------------------------------------------------------
variable "name" {
  description = "Function name; spells out handler, runtime and architecture, e.g. lambda-ml-bench-predict-py313-arm64."
  type        = string
}

variable "architecture" {
  description = "The one architecture of the function: arm64 (Graviton) or x86_64."
  type        = string

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be one of: arm64, x86_64."
  }
}

variable "runtime" {
  description = "Lambda Python runtime."
  type        = string
  default     = "python3.13"

  validation {
    condition     = contains(["python3.11", "python3.12", "python3.13", "python3.14"], var.runtime)
    error_message = "runtime must be one of: python3.11, python3.12, python3.13, python3.14."
  }
}

variable "handler" {
  description = "module.function entry point inside the package, e.g. handlers.predict.handler."
  type        = string
}

variable "package_path" {
  description = "Path of the function zip built by `make package`."
  type        = string
}

variable "package_hash" {
  description = "base64 sha256 of the function zip (its manifest's zip.sha256_base64)."
  type        = string
}

variable "layer_arn" {
  description = "ARN of the scikit-learn layer version built for the same architecture."
  type        = string
}

variable "memory_size" {
  description = "Memory in MB (128 to 10,240); CPU scales with it, one vCPU per 1,769 MB."
  type        = number
  default     = 1769

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "timeout" {
  description = "Timeout in seconds (1 to 900)."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds from 1 to 900."
  }
}

variable "environment" {
  description = "Environment variables of the function."
  type        = map(string)
  default     = {}
}

# --- options -----------------------------------------------------------------------------------
variable "log_retention_days" {
  description = "Days CloudWatch keeps the function's logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions: -1 leaves the function unreserved; 1 or more reserves (and caps) that many. 0 would throttle every call."
  type        = number
  default     = -1

  validation {
    condition     = var.reserved_concurrency == -1 || (var.reserved_concurrency >= 1 && floor(var.reserved_concurrency) == var.reserved_concurrency)
    error_message = "reserved_concurrency must be -1 (unreserved) or a whole number of at least 1: 0 throttles every invocation."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing: PassThrough (off) or Active."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing_mode)
    error_message = "tracing_mode must be one of: PassThrough, Active."
  }
}

variable "function_url" {
  description = "Create a Function URL (AWS_IAM authentication only: callers sign their requests)."
  type        = bool
  default     = false
}

variable "snapstart" {
  description = "SnapStart on a published version behind the alias `live` (python3.12 and newer)."
  type        = bool
  default     = false
}

# --- compute modes: provisioned concurrency, Lambda Managed Instances (SnapStart above) --------
variable "provisioned_concurrency" {
  description = "Environments kept initialised on the alias `live` (provisioned concurrency); 0 for none. Not with SnapStart or Managed Instances."
  type        = number
  default     = 0

  validation {
    condition     = var.provisioned_concurrency >= 0 && floor(var.provisioned_concurrency) == var.provisioned_concurrency
    error_message = "provisioned_concurrency must be a whole number, 0 or more."
  }
}

variable "managed_instances" {
  description = "Run on Lambda Managed Instances (a published version behind `live`), on the provider `capacity_provider_arn`."
  type        = bool
  default     = false
}

variable "capacity_provider_arn" {
  description = "With managed_instances: the capacity provider's ARN (it may be unknown until apply)."
  type        = string
  default     = null
}

variable "memory_gib_per_vcpu" {
  description = "On Managed Instances: memory per vCPU of each execution environment, 2 to 8 GiB (null: Lambda's default)."
  type        = number
  default     = null

  validation {
    condition     = var.memory_gib_per_vcpu == null || (coalesce(var.memory_gib_per_vcpu, 2) >= 2 && coalesce(var.memory_gib_per_vcpu, 2) <= 8)
    error_message = "memory_gib_per_vcpu must be from 2 to 8 (GiB per vCPU)."
  }
}
