"""The build's own error type: its message is all a user needs to see."""
from __future__ import annotations

from lambda_ml_bench.errors import ProjectError


class BuildError(ProjectError):
    """A build step failed; the message names the file, package or platform at fault."""
