# Lambda Managed Instances: a capacity provider of one architecture, and the operator role Lambda assumes to run
# EC2 instances for it in the given subnets.
data "aws_partition" "current" {}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "operator" {
  name               = "${var.name}-operator"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

# AWS's managed policy for this role and nothing else: instances, network interfaces and volumes only when the
# launch is made for Lambda's scaler (ec2:ManagedResourceOperator = scaler.lambda.amazonaws.com), plus read-only
# describes. AWS keeps it in step with what the service needs (lambda-managed-instances-operator-role).
resource "aws_iam_role_policy_attachment" "operator" {
  role       = aws_iam_role.operator.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator"
}

resource "aws_lambda_capacity_provider" "this" {
  name = var.name

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  permissions_config {
    capacity_provider_operator_role_arn = aws_iam_role.operator.arn
  }

  instance_requirements = [{
    architectures           = [var.architecture]
    allowed_instance_types  = var.instance_types
    excluded_instance_types = null
  }]

  capacity_provider_scaling_config = [{
    max_vcpu_count   = var.max_vcpus
    scaling_mode     = "Auto"
    scaling_policies = null
  }]

  depends_on = [aws_iam_role_policy_attachment.operator]
}
