"""The fixed AWS facts of everything that stands in for AWS here (the local Lambda, the offline Terraform checks,
the tests): one region and one account."""
from __future__ import annotations

REGION = "us-east-1"
ACCOUNT = "123456789012"
