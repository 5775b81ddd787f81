"""Offline `terraform init`, `validate` and `plan` of terraform/, against the real AWS provider schema.

`provider` is a schema-only stand-in for `hashicorp/aws`, `workspace` installs it through a CLI
configuration of its own and runs Terraform, `plancheck` reads the plan for the project's rules.
"""
