# --- where and what ----------------------------------------------------------------------------
variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
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

# --- sizing (defaults come from functions.json: the study's 10,240 MB and 300 s for benchmark) --
variable "memory_sizes" {
  description = "Memory in MB per handler (benchmark, predict), overriding functions.json."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for m in values(var.memory_sizes) : m >= 128 && m <= 10240 && floor(m) == m])
    error_message = "memory_sizes values must be whole MB from 128 to 10240."
  }
}

variable "timeouts" {
  description = "Timeout in seconds per handler (benchmark, predict), overriding functions.json."
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
  description = "Reserved concurrent executions per function; -1 leaves them unreserved."
  type        = number
  default     = -1
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
