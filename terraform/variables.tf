# --- where and what ----------------------------------------------------------------------------
variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "python_version" {
  description = "Python runtime of the functions and layers (3.12, 3.13, 3.14); null: functions.json's python_version. `make deploy PYTHON_VERSION=3.12` sets it and builds that runtime's zips."
  type        = string
  default     = null

  validation {
    condition     = var.python_version == null || contains(["3.12", "3.13", "3.14"], coalesce(var.python_version, "3.13"))
    error_message = "python_version must be one of: 3.12, 3.13, 3.14 (3.11 has no onnx layer)."
  }
}

variable "architectures" {
  description = "Architectures to deploy every handler on: arm64 (Graviton), x86_64, or both."
  type        = list(string)
  default     = ["arm64", "x86_64"]

  validation {
    condition     = length(var.architectures) > 0 && alltrue([for a in var.architectures : contains(["arm64", "x86_64"], a)]) && length(distinct(var.architectures)) == length(var.architectures)
    error_message = "architectures must be a non-empty list of distinct values from: arm64, x86_64."
  }
}

variable "backends" {
  description = "Serving backends to deploy, from functions.json's (sklearn: benchmark and predict; onnx: predict-onnx; xgboost: predict-xgboost; lightgbm: predict-lightgbm); null: all of them. A predict handler is deployed only where its backend serves the packaged model."
  type        = list(string)
  default     = null

  validation {
    condition     = var.backends == null ? true : length(var.backends) > 0 && alltrue([for b in var.backends : contains(local.spec.backends, b)])
    error_message = "backends must be null or a non-empty list of values from functions.json's backends (sklearn, onnx, xgboost, lightgbm, boosting)."
  }

  validation {
    condition     = var.backends == null ? true : !contains(var.backends, "onnx") || local.package.model.onnx_exported
    error_message = "The packaged model has no ONNX export (dist/model/model.json says why), so the onnx backend cannot serve it: deploy backends = [\"sklearn\"] (or its own format's backend), or leave backends unset."
  }
}

# --- sizing (defaults come from functions.json: the study's 10,240 MB and 300 s for benchmark) --
variable "memory_sizes" {
  description = "Memory in MB per handler (benchmark, predict, predict-onnx), overriding functions.json."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for m in values(var.memory_sizes) : m >= 128 && m <= 10240 && floor(m) == m])
    error_message = "memory_sizes values must be whole MB from 128 to 10240."
  }
}

variable "timeouts" {
  description = "Timeout in seconds per handler (benchmark, predict, predict-onnx), overriding functions.json."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for t in values(var.timeouts) : t >= 1 && t <= 900 && floor(t) == t])
    error_message = "timeouts values must be whole seconds from 1 to 900."
  }
}

# --- options -----------------------------------------------------------------------------------
variable "log_retention_days" {
  description = "Days CloudWatch keeps each function's logs."
  type        = number
  default     = 30
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions per function: -1 unreserved, or 1 or more (the account must keep 100 unreserved). 0 would throttle every call."
  type        = number
  default     = -1

  validation {
    condition     = var.reserved_concurrency == -1 || (var.reserved_concurrency >= 1 && floor(var.reserved_concurrency) == var.reserved_concurrency)
    error_message = "reserved_concurrency must be -1 (unreserved) or a whole number of at least 1: 0 throttles every invocation."
  }
}

variable "noncurrent_days" {
  description = "Days a replaced layer zip is kept in the artifacts bucket as a noncurrent version before it expires."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_days >= 1 && floor(var.noncurrent_days) == var.noncurrent_days
    error_message = "noncurrent_days must be a whole number of days, at least 1."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing for every function: PassThrough (off) or Active."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing_mode)
    error_message = "tracing_mode must be one of: PassThrough, Active."
  }
}

variable "function_url" {
  description = "Give each function a Function URL with AWS_IAM authentication."
  type        = bool
  default     = false
}

variable "snapstart" {
  description = "SnapStart on published versions behind the alias `live`."
  type        = bool
  default     = false
}

# --- compute modes per handler (`lmb plan --write-tfvars` writes these into plan.auto.tfvars.json) ---
variable "handler_architectures" {
  description = "Per handler, the architectures to deploy it on, overriding `architectures` (e.g. { predict = [\"arm64\"] })."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for h, archs in var.handler_architectures : contains(keys(local.spec.handlers), h) && length(archs) > 0 && alltrue([for a in archs : contains(["arm64", "x86_64"], a)])])
    error_message = "handler_architectures maps handlers of functions.json to non-empty lists of arm64 and x86_64."
  }
}

variable "provisioned_concurrency" {
  description = "Per handler, environments kept initialised on the alias `live` (e.g. { predict = 4 }); not with SnapStart."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for h, n in var.provisioned_concurrency : contains(keys(local.spec.handlers), h) && n >= 1 && floor(n) == n])
    error_message = "provisioned_concurrency maps handlers of functions.json to whole numbers of at least 1."
  }
}

variable "snapstart_handlers" {
  description = "Handlers with SnapStart (published versions behind `live`), beside `snapstart` which turns it on for all."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for h in var.snapstart_handlers : contains(keys(local.spec.handlers), h)])
    error_message = "snapstart_handlers must name handlers of functions.json."
  }
}

variable "managed_instances_handlers" {
  description = "Handlers on Lambda Managed Instances: per handler, the allowed instance types by architecture and optionally the memory per vCPU (e.g. { predict = { instance_types = { arm64 = [\"m7g.large\"] } } })."
  type = map(object({
    instance_types      = map(list(string))
    memory_gib_per_vcpu = optional(number)
  }))
  default = {}

  validation {
    condition     = alltrue([for h, m in var.managed_instances_handlers : contains(keys(local.spec.handlers), h) && length(m.instance_types) > 0 && alltrue([for a, types in m.instance_types : contains(["arm64", "x86_64"], a) && length(types) > 0])])
    error_message = "managed_instances_handlers maps handlers of functions.json to { instance_types = { ARCH = [types] } }, ARCH arm64 or x86_64."
  }
}

variable "managed_instances_vpc" {
  description = "Where Managed Instances run: your subnets (one per Availability Zone) and security groups. Needed with managed_instances_handlers."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null

  validation {
    condition     = length(var.managed_instances_handlers) == 0 || var.managed_instances_vpc != null
    error_message = "managed_instances_handlers needs managed_instances_vpc = { subnet_ids = [...], security_group_ids = [...] }: the instances run in your VPC."
  }
}

variable "managed_instances_max_vcpus" {
  description = "The most vCPUs each capacity provider may run at once (a cost ceiling)."
  type        = number
  default     = 64
}
