"""Errors of the offline Terraform checks."""


class PolicyError(ValueError):
    """An `aws_iam_policy_document` configuration the real provider would reject too."""


class PlanCheckError(AssertionError):
    """The plan breaks one of the project's rules (architecture, IAM, Function URL, log retention)."""


class TerraformFailed(RuntimeError):
    """A terraform command exited non-zero; the message carries its output."""
