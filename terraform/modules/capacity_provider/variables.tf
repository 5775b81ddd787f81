variable "name" {
  description = "Capacity provider name, e.g. lambda-ml-bench-arm64; its operator role is NAME-operator."
  type        = string
}

variable "architecture" {
  description = "The instances' architecture: arm64 (Graviton) or x86_64."
  type        = string

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be one of: arm64, x86_64."
  }
}

variable "instance_types" {
  description = "EC2 instance types the provider may launch, all of its architecture (Graviton families have a g after the generation: m7g, c8g)."
  type        = list(string)

  validation {
    condition     = length(var.instance_types) > 0
    error_message = "instance_types must name at least one instance type."
  }

  validation {
    condition     = alltrue([for t in var.instance_types : can(regex("^(a1|[a-z]+[0-9]+g[a-z-]*)[.]", t)) == (var.architecture == "arm64")])
    error_message = "instance_types must all be of the provider's architecture (Graviton families, for arm64, have a g after the generation: m7g, c7gn; x86_64 ones do not: m7i, c7a)."
  }
}

variable "subnet_ids" {
  description = "Subnets the instances run in (one per Availability Zone: Lambda launches three instances for zone resilience)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "security_group_ids" {
  description = "Security groups of the instances."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) > 0
    error_message = "security_group_ids must name at least one security group."
  }
}

variable "max_vcpus" {
  description = "The most vCPUs the provider may run at once (a cost ceiling)."
  type        = number
  default     = 64

  validation {
    condition     = var.max_vcpus >= 2 && floor(var.max_vcpus) == var.max_vcpus
    error_message = "max_vcpus must be a whole number, at least 2."
  }
}
